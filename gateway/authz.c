/*
 * Authorization header parsing (see authz.h). A scheme is recognised only when followed
 * by exactly one space and a non-empty token68 (RFC 9110 11.2), so "Bearer" alone or
 * "Bearer  x" is AUTHZ_OTHER and fails any check that wants a Bearer token.
 */
#include "authz.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "base64.h"

/* RFC 9110 token68: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static bool authz_token68(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && s[i] != '=') {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'))
            return false;
        i++;
    }
    if (i == 0)
        return false;
    while (i < n && s[i] == '=')
        i++;
    return i == n;
}

static bool authz_scheme_is(const char *v, size_t len, const char *scheme, struct authz *out)
{
    size_t n = strlen(scheme);

    if (len <= n + 1 || strncasecmp(v, scheme, n) != 0 || v[n] != ' ')
        return false;
    if (!authz_token68(v + n + 1, len - n - 1))
        return false;
    out->cred = v + n + 1;
    out->cred_len = len - n - 1;
    return true;
}

void authz_parse(const char *value, size_t len, struct authz *out)
{
    memset(out, 0, sizeof(*out));
    if (value == NULL || len == 0) {
        out->scheme = AUTHZ_NONE;
        return;
    }
    if (authz_scheme_is(value, len, "Basic", out))
        out->scheme = AUTHZ_BASIC;
    else if (authz_scheme_is(value, len, "Bearer", out))
        out->scheme = AUTHZ_BEARER;
    else
        out->scheme = AUTHZ_OTHER;
}

int authz_basic_decode(const struct authz *a, char out[AUTHZ_BASIC_MAX], size_t *out_len,
                       size_t *user_len)
{
    long n;
    const char *colon;

    if (a->scheme != AUTHZ_BASIC || a->cred_len > BASE64_LEN(AUTHZ_BASIC_MAX))
        return -1;
    n = base64_decode(a->cred, a->cred_len, (unsigned char *)out, AUTHZ_BASIC_MAX, false);
    if (n < 0)
        return -1;
    colon = memchr(out, ':', (size_t)n);
    if (colon == NULL)
        return -1;
    *out_len = (size_t)n;
    *user_len = (size_t)(colon - out);
    return 0;
}
