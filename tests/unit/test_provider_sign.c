/*
 * Unit tests for common/provider_sign.c: each provider's signature of its published vector
 * (tests/fixtures/providers/, Zoom's from tests/fixtures/zoom/README.md) byte for byte, every
 * signature accepted by the gateway's own verifier (gateway/provider_sig.c, common/zoom.c) and
 * refused after one body byte changes, and the secrets that cannot sign.
 */
#include "check.h"
#include "provider_sig.h"
#include "provider_sign.h"
#include "provider_vectors.h"
#include "zoom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value of header name in h, or NULL. */
static const char *header(const struct provider_sign_headers *h, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < h->n; i++) {
        if (strncmp(h->line[i], name, n) == 0 && strncmp(h->line[i] + n, ": ", 2) == 0)
            return h->line[i] + n + 2;
    }
    return NULL;
}

static enum provider_sig_provider sig_provider(enum provider_id p)
{
    switch (p) {
    case PROVIDER_STANDARD:
        return PROVIDER_SIG_STANDARD;
    case PROVIDER_GITHUB:
        return PROVIDER_SIG_GITHUB;
    case PROVIDER_STRIPE:
        return PROVIDER_SIG_STRIPE;
    case PROVIDER_SLACK:
        return PROVIDER_SIG_SLACK;
    default:
        return PROVIDER_SIG_SHOPIFY;
    }
}

/* The gateway's verdict on h as the request's headers, at now. */
static enum provider_sig_verdict verify(enum provider_id p, const char *secret,
                                        const struct provider_sign_headers *h, const char *body,
                                        size_t len, long long now)
{
    static const char *const sig_names[] = {NULL,
                                            "webhook-signature",
                                            "X-Hub-Signature-256",
                                            "Stripe-Signature",
                                            "X-Slack-Signature",
                                            "X-Shopify-Hmac-Sha256"};
    struct provider_sig_secret s = {secret, strlen(secret)};
    struct provider_sig_request r = {0};
    const char *id = header(h, "webhook-id");
    const char *ts = p == PROVIDER_SLACK ? header(h, "X-Slack-Request-Timestamp")
                                         : header(h, "webhook-timestamp");
    const char *sig = header(h, sig_names[p]);

    r.id = id;
    r.id_len = id ? strlen(id) : 0;
    r.timestamp = ts;
    r.timestamp_len = ts ? strlen(ts) : 0;
    r.signature = sig;
    r.signature_len = sig ? strlen(sig) : 0;
    r.body = body;
    r.body_len = len;
    r.now = (time_t)now;
    r.tolerance_s = 300;
    return provider_sig_verify(sig_provider(p), &s, 1, &r);
}

/* Signs fixture name's body at its timestamp; checks the header value and the round trip. */
static void test_vector(const char *name, const char *sig_header, size_t compare_len)
{
    struct provider_sign_key key;
    struct provider_sign_headers h;
    struct vec v;
    const char *why = NULL, *got;
    long long now;
    int p;

    vec_load(name, &v);
    p = provider_find(v.provider, strlen(v.provider));
    CHECKF(p > 0, "%s: provider %s", name, v.provider);
    if (p <= 0)
        return;
    now = v.timestamp[0] ? atoll(v.timestamp) : 1700000000;
    CHECKF(provider_sign_key_init(&key, (enum provider_id)p, v.secret, strlen(v.secret), &why) == 0,
           "%s: %s", name, why);
    CHECKF(provider_sign(&key, v.id, strlen(v.id), now, v.body, strlen(v.body), &h, &why) == 0,
           "%s: %s", name, why);
    got = header(&h, sig_header);
    CHECKF(got != NULL && strncmp(got, v.signature, compare_len ? compare_len : VEC_LINE) == 0,
           "%s: %s: got \"%s\", want \"%s\"", name, sig_header, got ? got : "(none)", v.signature);
    if (v.id[0])
        CHECK_STR_EQ(header(&h, "webhook-id"), v.id);
    CHECKF(verify((enum provider_id)p, v.secret, &h, v.body, strlen(v.body), now) ==
               PROVIDER_SIG_OK,
           "%s: the gateway refuses what was signed", name);
    /* one body byte changed: refused */
    v.body[0] ^= 1;
    CHECKF(verify((enum provider_id)p, v.secret, &h, v.body, strlen(v.body), now) ==
               PROVIDER_SIG_BAD_SIGNATURE,
           "%s: a tampered body verifies", name);
    provider_sign_key_wipe(&key);
}

/* Every provider's signature at the current time verifies at that time (both directions). */
static void test_round_trips(void)
{
    static const struct {
        enum provider_id p;
        const char *secret;
    } cases[] = {
        {PROVIDER_STANDARD, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
        {PROVIDER_STANDARD, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, /* no prefix */
        {PROVIDER_STANDARD, "whsec_c2VjcmV0LWtleS0xMjM0NQ"},     /* no padding */
        {PROVIDER_GITHUB, "gh secret"},
        {PROVIDER_STRIPE, "whsec_stripe0secret"},
        {PROVIDER_SLACK, "8f742231b10e8888abcd99yyyzzz85a5"},
        {PROVIDER_SHOPIFY, "shpss_0123456789"},
    };
    const char body[] = "{\"type\":\"x.y\",\"id\":\"evt_1\",\"n\":[1,2,3]}";
    long long now = 1750000000;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct provider_sign_key key;
        struct provider_sign_headers h;
        const char *why = NULL;
        CHECKF(provider_sign_key_init(&key, cases[i].p, cases[i].secret, strlen(cases[i].secret),
                                      &why) == 0,
               "case %zu: %s", i, why);
        CHECKF(provider_sign(&key, "msg_2abc", 8, now, body, strlen(body), &h, &why) == 0,
               "case %zu: %s", i, why);
        CHECKF(verify(cases[i].p, cases[i].secret, &h, body, strlen(body), now) == PROVIDER_SIG_OK,
               "case %zu (%s) does not verify", i, provider_get(cases[i].p)->name);
        CHECKF(verify(cases[i].p, "whsec_b3RoZXI=", &h, body, strlen(body), now) ==
                   PROVIDER_SIG_BAD_SIGNATURE,
               "case %zu verifies under another secret", i);
        if (cases[i].p == PROVIDER_STANDARD || cases[i].p == PROVIDER_STRIPE ||
            cases[i].p == PROVIDER_SLACK) /* the window: signed long ago */
            CHECK(verify(cases[i].p, cases[i].secret, &h, body, strlen(body), now + 301) ==
                  PROVIDER_SIG_TIMESTAMP);
        provider_sign_key_wipe(&key);
    }
}

/* Zoom: the vector of tests/fixtures/zoom/README.md, and zoom_verify agrees. */
static void test_zoom(void)
{
    const char secret[] = "secretValueTest";
    const char body[] =
        "{\"event\":\"session.started\",\"payload\":{\"account_id\":\"{ACCOUNT_ID}\","
        "\"object\":{\"start_time\":\"2022-07-27T16:56:34Z\",\"id\":\"{SESSION_"
        "ID}\"}},\"event_ts\":1658940994914}";
    struct provider_sign_key key;
    struct provider_sign_headers h;
    struct zoom_key *zk = zoom_key_new(secret, strlen(secret));
    const char *why = NULL, *sig;

    CHECK(provider_sign_key_init(&key, PROVIDER_ZOOM, secret, strlen(secret), &why) == 0);
    CHECK(provider_sign(&key, NULL, 0, 1658940994, body, strlen(body), &h, &why) == 0);
    CHECK_LONG_EQ(h.n, 2);
    CHECK_STR_EQ(header(&h, "x-zm-request-timestamp"), "1658940994");
    sig = header(&h, "x-zm-signature");
    CHECK_STR_EQ(sig, "v0=96e8a131e9983d4bc96627eee7c67f9506d0aeb8f767260a822fb3f2abe703d5");
    CHECK(zk != NULL && sig != NULL &&
          zoom_verify(zk, "1658940994", 10, body, strlen(body), sig, strlen(sig)));
    CHECK(provider_sign_sets(&h, "X-ZM-Signature"));
    CHECK(!provider_sign_sets(&h, "x-zm-request-id"));
    zoom_key_free(zk);
    provider_sign_key_wipe(&key);
}

static void test_key_refusals(void)
{
    struct provider_sign_key key;
    struct provider_sign_headers h;
    const char *why = NULL;
    char long_secret[PROVIDER_SIGN_KEY_MAX + 2];

    CHECK(provider_sign_key_init(&key, PROVIDER_STANDARD,
                                 "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=", 49,
                                 &why) < 0);
    CHECK_CONTAINS(why, "whpk_ public key");
    CHECK(provider_sign_key_init(&key, PROVIDER_STANDARD, "whsk_AAAA", 9, &why) < 0);
    CHECK_CONTAINS(why, "whsk_");
    CHECK(provider_sign_key_init(&key, PROVIDER_STANDARD, "whsec_not*base64", 16, &why) < 0);
    CHECK_CONTAINS(why, "base64");
    CHECK(provider_sign_key_init(&key, PROVIDER_STANDARD, "whsec_", 6, &why) < 0);
    CHECK(provider_sign_key_init(&key, PROVIDER_GITHUB, "", 0, &why) < 0);
    CHECK_CONTAINS(why, "empty");
    memset(long_secret, 'a', sizeof(long_secret));
    CHECK(provider_sign_key_init(&key, PROVIDER_SLACK, long_secret, sizeof(long_secret), &why) < 0);
    /* stripe keeps the whole whsec_ string, standard decodes it */
    CHECK(provider_sign_key_init(&key, PROVIDER_STRIPE, "whsec_abc", 9, &why) == 0);
    CHECK(key.len == 9 && memcmp(key.k, "whsec_abc", 9) == 0);
    CHECK(provider_sign_key_init(&key, PROVIDER_STANDARD, "whsec_YWJj", 10, &why) == 0);
    CHECK(key.len == 3 && memcmp(key.k, "abc", 3) == 0);
    /* standard signs the delivery's own id: none, or one not fit for a header, is refused */
    CHECK(provider_sign(&key, NULL, 0, 1, "{}", 2, &h, &why) < 0);
    CHECK_CONTAINS(why, "webhook-id");
    CHECK(provider_sign(&key, "a\nb", 3, 1, "{}", 2, &h, &why) < 0);
    CHECK(provider_sign(&key, "msg_1", 5, 1, "{}", 2, &h, &why) == 0 && h.n == 3);
    CHECK(provider_sign_sets(&h, "Webhook-Timestamp") && provider_sign_sets(&h, "webhook-id"));
    provider_sign_key_wipe(&key);
}

int main(void)
{
    test_vector("standard-v1.txt", "webhook-signature", 0);
    test_vector("github.txt", "X-Hub-Signature-256", 0);
    test_vector("slack.txt", "X-Slack-Signature", 0);
    /* the fixture's header also carries a v0= entry, which hookpipe does not send */
    test_vector("stripe.txt", "Stripe-Signature", strlen("t=1492774577,v1=") + 64);
    test_vector("shopify.txt", "X-Shopify-Hmac-Sha256", 0);
    test_round_trips();
    test_zoom();
    test_key_refusals();
    return check_summary("test_provider_sign");
}
