/*
 * Unit tests for gateway/authz.c and common/base64.c: schemes (case-insensitive, one
 * space, a token68), Basic user:password decoding, and base64 in both alphabets.
 */
#include <string.h>

#include "authz.h"
#include "base64.h"
#include "check.h"

static enum authz_scheme scheme_of(const char *v)
{
    struct authz a;

    authz_parse(v, v ? strlen(v) : 0, &a);
    return a.scheme;
}

static void test_schemes(void)
{
    struct authz a;

    CHECK(scheme_of(NULL) == AUTHZ_NONE);
    CHECK(scheme_of("") == AUTHZ_NONE);
    CHECK(scheme_of("Basic dTpw") == AUTHZ_BASIC);
    CHECK(scheme_of("basic dTpw") == AUTHZ_BASIC);
    CHECK(scheme_of("BEARER abc.def") == AUTHZ_BEARER);
    CHECK(scheme_of("Bearer") == AUTHZ_OTHER);
    CHECK(scheme_of("Bearer ") == AUTHZ_OTHER);
    CHECK(scheme_of("Bearer  abc") == AUTHZ_OTHER);
    CHECK(scheme_of("Bearer a b") == AUTHZ_OTHER);
    CHECK(scheme_of("Bearer ==") == AUTHZ_OTHER);
    CHECK(scheme_of("Bearer a=b") == AUTHZ_OTHER);
    CHECK(scheme_of("Bearerabc") == AUTHZ_OTHER);
    CHECK(scheme_of("Digest x") == AUTHZ_OTHER);
    CHECK(scheme_of("vErIfIcAtIoN-token-123") == AUTHZ_OTHER);
    authz_parse("Bearer hp1.a.1.x-_~+/==", 23, &a);
    CHECK(a.scheme == AUTHZ_BEARER && a.cred_len == 16 &&
          memcmp(a.cred, "hp1.a.1.x-_~+/==", 16) == 0);
}

static void test_basic(void)
{
    char out[AUTHZ_BASIC_MAX], b64[1024];
    unsigned char raw[AUTHZ_BASIC_MAX + 8];
    size_t n = 0, user = 0;
    struct authz a;

    authz_parse("Basic em9vbTpwYTpzcw==", 22, &a); /* zoom:pa:ss */
    CHECK(authz_basic_decode(&a, out, &n, &user) == 0);
    CHECK(n == 10 && user == 4 && memcmp(out, "zoom:pa:ss", 10) == 0);
    authz_parse("Basic Og==", 10, &a); /* ":" */
    CHECK(authz_basic_decode(&a, out, &n, &user) == 0 && n == 1 && user == 0);
    authz_parse("Basic em9vbQ==", 14, &a); /* "zoom": no colon */
    CHECK(authz_basic_decode(&a, out, &n, &user) < 0);
    authz_parse("Basic em9vbTpw", 14, &a); /* "zoom:p", unpadded length 14 is ok: 12+2? */
    CHECK(authz_basic_decode(&a, out, &n, &user) == 0 && n == 6);
    authz_parse("Basic em9vbTp", 13, &a); /* 13 chars: not base64 */
    CHECK(authz_basic_decode(&a, out, &n, &user) < 0);
    authz_parse("Bearer em9vbTpw", 15, &a);
    CHECK(authz_basic_decode(&a, out, &n, &user) < 0);
    /* the largest credential kept, and one byte more */
    memset(raw, 'x', sizeof(raw));
    raw[0] = ':';
    strcpy(b64, "Basic ");
    base64_encode(raw, AUTHZ_BASIC_MAX, b64 + 6, false);
    authz_parse(b64, strlen(b64), &a);
    CHECK(authz_basic_decode(&a, out, &n, &user) == 0 && n == AUTHZ_BASIC_MAX);
    base64_encode(raw, AUTHZ_BASIC_MAX + 1, b64 + 6, false);
    authz_parse(b64, strlen(b64), &a);
    CHECK(authz_basic_decode(&a, out, &n, &user) < 0);
}

static void test_base64(void)
{
    unsigned char out[16];
    char enc[32];

    CHECK(base64_encode((const unsigned char *)"", 0, enc, false) == 0 && enc[0] == '\0');
    base64_encode((const unsigned char *)"f", 1, enc, false);
    CHECK_STR_EQ(enc, "Zg==");
    base64_encode((const unsigned char *)"fo", 2, enc, false);
    CHECK_STR_EQ(enc, "Zm8=");
    base64_encode((const unsigned char *)"foo", 3, enc, false);
    CHECK_STR_EQ(enc, "Zm9v");
    base64_encode((const unsigned char *)"\xfb\xff", 2, enc, true);
    CHECK_STR_EQ(enc, "-_8");
    base64_encode((const unsigned char *)"\xfb\xff", 2, enc, false);
    CHECK_STR_EQ(enc, "+/8=");
    CHECK(base64_decode("Zm9vYg==", 8, out, sizeof(out), false) == 4 &&
          memcmp(out, "foob", 4) == 0);
    CHECK(base64_decode("Zm9vYg", 6, out, sizeof(out), false) < 0); /* padding wanted */
    CHECK(base64_decode("Zm9vYg", 6, out, sizeof(out), true) == 4);
    CHECK(base64_decode("-_8", 3, out, sizeof(out), true) == 2 && out[0] == 0xfb);
    CHECK(base64_decode("-_8=", 4, out, sizeof(out), false) < 0);
    CHECK(base64_decode("Zm9=", 4, out, sizeof(out), false) < 0); /* non-zero spare bits */
    CHECK(base64_decode("Zm 9v", 5, out, sizeof(out), false) < 0);
    CHECK(base64_decode("Z===", 4, out, sizeof(out), false) < 0);
    CHECK(base64_decode("Zm9vYmFy", 8, out, 5, false) < 0); /* no room */
    CHECK(base64_decode("", 0, out, sizeof(out), false) == 0);
}

int main(void)
{
    test_schemes();
    test_basic();
    test_base64();
    return check_summary("test_authz");
}
