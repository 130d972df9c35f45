/*
 * Unit tests for common/zoom.c: the two published Zoom test vectors (signature and
 * url_validation encryptedToken), key reuse across many messages, every malformed
 * x-zm-signature header, and a non-ASCII UTF-8 body.
 */
#include "check.h"
#include "zoom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "secretValueTest"
#define VECTOR_TS "1658940994"
#define VECTOR_BODY                                                                                \
    "{\"event\":\"session.started\",\"payload\":{\"account_id\":\"{ACCOUNT_ID}\",\"object\":{"     \
    "\"start_time\":\"2022-07-27T16:56:34Z\",\"id\":\"{SESSION_ID}\"}},\"event_ts\":"              \
    "1658940994914}"
#define VECTOR_SIG "v0=96e8a131e9983d4bc96627eee7c67f9506d0aeb8f767260a822fb3f2abe703d5"
#define VECTOR_PLAIN "qgg8vlvZRS6UYooatFL8Aw"
#define VECTOR_TOKEN "70c1f2e2e6ca2d39297490d1f9142c7d701415ea8e6151f6562a08fa657a40ff"

static struct zoom_key *new_key(const char *secret)
{
    struct zoom_key *key = zoom_key_new(secret, strlen(secret));
    if (key == NULL) {
        fprintf(stderr, "zoom_key_new failed\n");
        exit(1);
    }
    return key;
}

static bool verify(struct zoom_key *key, const char *ts, const char *body, const char *header)
{
    return zoom_verify(key, ts, strlen(ts), body, strlen(body), header, strlen(header));
}

static void test_vectors(void)
{
    struct zoom_key *key = new_key(SECRET);
    char out[ZOOM_HEX_LEN + 1];

    CHECK(zoom_hmac_hex(key, VECTOR_PLAIN, strlen(VECTOR_PLAIN), out) == 0);
    CHECK_STR_EQ(out, VECTOR_TOKEN);
    CHECK(zoom_sign(key, VECTOR_TS, strlen(VECTOR_TS), VECTOR_BODY, strlen(VECTOR_BODY), out) == 0);
    CHECK_STR_EQ(out, VECTOR_SIG + 3);
    CHECK(verify(key, VECTOR_TS, VECTOR_BODY, VECTOR_SIG));
    zoom_key_free(key);
}

/* One key used for many messages must answer exactly like a fresh key for each. */
static void test_key_reuse(void)
{
    struct zoom_key *shared = new_key(SECRET);
    char body[64], ts[32], a[ZOOM_HEX_LEN + 1], b[ZOOM_HEX_LEN + 1];
    int mismatches = 0;

    for (int i = 0; i < 200; i++) {
        struct zoom_key *fresh = new_key(SECRET);
        snprintf(body, sizeof(body), "{\"event\":\"e%d\",\"n\":%d}", i, i * 7);
        snprintf(ts, sizeof(ts), "%d", 1700000000 + i);
        if (i % 2 == 0) {
            if (zoom_sign(shared, ts, strlen(ts), body, strlen(body), a) < 0 ||
                zoom_sign(fresh, ts, strlen(ts), body, strlen(body), b) < 0)
                mismatches++;
        } else {
            if (zoom_hmac_hex(shared, body, strlen(body), a) < 0 ||
                zoom_hmac_hex(fresh, body, strlen(body), b) < 0)
                mismatches++;
        }
        if (strcmp(a, b) != 0)
            mismatches++;
        zoom_key_free(fresh);
    }
    CHECK_LONG_EQ(mismatches, 0);
    /* after all that the shared key still reproduces the published vectors */
    CHECK(zoom_hmac_hex(shared, VECTOR_PLAIN, strlen(VECTOR_PLAIN), a) == 0);
    CHECK_STR_EQ(a, VECTOR_TOKEN);
    CHECK(verify(shared, VECTOR_TS, VECTOR_BODY, VECTOR_SIG));
    /* a failed verification must not disturb the next one */
    CHECK(!verify(shared, VECTOR_TS, "{}", VECTOR_SIG));
    CHECK(verify(shared, VECTOR_TS, VECTOR_BODY, VECTOR_SIG));
    zoom_key_free(shared);
}

static void test_rejections(void)
{
    struct zoom_key *key = new_key(SECRET);
    struct zoom_key *other = new_key("secretValueTesT");
    char buf[128];

    /* one hex digit changed */
    snprintf(buf, sizeof(buf), "%s", VECTOR_SIG);
    buf[10] = buf[10] == '0' ? '1' : '0';
    CHECK(!verify(key, VECTOR_TS, VECTOR_BODY, buf));
    /* truncated by one digit, and one digit too many */
    snprintf(buf, sizeof(buf), "%.*s", (int)strlen(VECTOR_SIG) - 1, VECTOR_SIG);
    CHECK(!verify(key, VECTOR_TS, VECTOR_BODY, buf));
    snprintf(buf, sizeof(buf), "%s0", VECTOR_SIG);
    CHECK(!verify(key, VECTOR_TS, VECTOR_BODY, buf));
    /* length passed explicitly shorter than the string */
    CHECK(!zoom_verify(key, VECTOR_TS, strlen(VECTOR_TS), VECTOR_BODY, strlen(VECTOR_BODY),
                       VECTOR_SIG, strlen(VECTOR_SIG) - 2));
    /* uppercase hex (Zoom sends lowercase) */
    snprintf(buf, sizeof(buf), "v0=%s", VECTOR_SIG + 3);
    for (char *p = buf + 3; *p; p++) {
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    }
    CHECK(!verify(key, VECTOR_TS, VECTOR_BODY, buf));
    /* missing or wrong version prefix */
    CHECK(!verify(key, VECTOR_TS, VECTOR_BODY, VECTOR_SIG + 3));
    snprintf(buf, sizeof(buf), "v1=%s", VECTOR_SIG + 3);
    CHECK(!verify(key, VECTOR_TS, VECTOR_BODY, buf));
    snprintf(buf, sizeof(buf), "V0=%s", VECTOR_SIG + 3);
    CHECK(!verify(key, VECTOR_TS, VECTOR_BODY, buf));
    snprintf(buf, sizeof(buf), "v0:%s", VECTOR_SIG + 3);
    CHECK(!verify(key, VECTOR_TS, VECTOR_BODY, buf));
    snprintf(buf, sizeof(buf), "xx%s", VECTOR_SIG + 3);
    CHECK(!verify(key, VECTOR_TS, VECTOR_BODY, buf)); /* right length, wrong prefix */
    /* empty header */
    CHECK(!verify(key, VECTOR_TS, VECTOR_BODY, ""));
    CHECK(!verify(key, VECTOR_TS, VECTOR_BODY, "v0="));
    /* right signature, wrong timestamp / body / secret */
    CHECK(!verify(key, "1658940995", VECTOR_BODY, VECTOR_SIG));
    CHECK(!verify(key, "", VECTOR_BODY, VECTOR_SIG));
    CHECK(!zoom_verify(key, VECTOR_TS, strlen(VECTOR_TS), VECTOR_BODY, strlen(VECTOR_BODY) - 1,
                       VECTOR_SIG, strlen(VECTOR_SIG)));
    CHECK(!verify(other, VECTOR_TS, VECTOR_BODY, VECTOR_SIG));
    zoom_key_free(key);
    zoom_key_free(other);
}

/*
 * The expected value was computed once with the OpenSSL command line and pasted here:
 *   printf 'v0:1700000000:{"event":"meeting.started","payload":{"topic":"Café ☕ 会議"}}' \
 *     | openssl dgst -sha256 -hmac 'secretValueTest'
 *   SHA2-256(stdin)= 0f64ab01888e39b2c053cb8cec4aa13dafc60dfb5c26f869ba6c1c9cb72388a3
 */
static void test_utf8_body(void)
{
    static const char body[] =
        "{\"event\":\"meeting.started\",\"payload\":{\"topic\":\"Caf\xc3\xa9 "
        "\xe2\x98\x95 \xe4\xbc\x9a\xe8\xad\xb0\"}}";
    static const char sig[] = "v0=0f64ab01888e39b2c053cb8cec4aa13dafc60dfb5c26f869ba6c1c9cb72388a3";
    struct zoom_key *key = new_key(SECRET);
    char out[ZOOM_HEX_LEN + 1];

    CHECK(zoom_sign(key, "1700000000", 10, body, strlen(body), out) == 0);
    CHECK_STR_EQ(out, sig + 3);
    CHECK(verify(key, "1700000000", body, sig));
    zoom_key_free(key);
}

/* Bodies with NUL bytes are signed over their full length, not up to the first NUL. */
static void test_binary_body(void)
{
    static const char body[] = {'{', '}', '\0', 'x'};
    struct zoom_key *key = new_key(SECRET);
    char full[ZOOM_HEX_LEN + 1], cut[ZOOM_HEX_LEN + 1];

    CHECK(zoom_sign(key, "1", 1, body, sizeof(body), full) == 0);
    CHECK(zoom_sign(key, "1", 1, body, 2, cut) == 0);
    CHECK(strcmp(full, cut) != 0);
    zoom_key_free(key);
}

int main(void)
{
    test_vectors();
    test_key_reuse();
    test_rejections();
    test_utf8_body();
    test_binary_body();
    return check_summary("test_zoom");
}
