/*
 * Unit tests for gateway/verify.c: the Zoom checks in order (timestamp window, then
 * the v0 signature under the current or previous secret), the key that verified (under
 * auth without signature too: only a signed request gets one, for url_validation), and
 * the answer each refusal gets.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "verify.h"

#define NOW 1700000000L

struct signed_req {
    char ts[32];
    char sig[ZOOM_HEX_LEN + 4];
    struct verify_request req;
};

/* A request for body, timestamped ts and signed with secret. */
static void make(struct signed_req *s, const char *secret, long ts, const char *body)
{
    struct zoom_key *k = zoom_key_new(secret, strlen(secret));

    snprintf(s->ts, sizeof(s->ts), "%ld", ts);
    memcpy(s->sig, "v0=", 3);
    CHECK(k != NULL && zoom_sign(k, s->ts, strlen(s->ts), body, strlen(body), s->sig + 3) == 0);
    zoom_key_free(k);
    s->req = (struct verify_request){
        .timestamp = s->ts,
        .timestamp_len = strlen(s->ts),
        .signature = s->sig,
        .signature_len = strlen(s->sig),
        .body = body,
        .body_len = strlen(body),
        .now = NOW,
        .tolerance_s = 300,
    };
}

static void digests(struct verify_digest d[2], const char *cur, const char *prev)
{
    memset(d, 0, 2 * sizeof(*d));
    CHECK(verify_digest_set(&d[0], cur, strlen(cur)) == 0);
    if (prev != NULL)
        CHECK(verify_digest_set(&d[1], prev, strlen(prev)) == 0);
}

/* Runs the checks of auth with the given Authorization and custom header values. */
static bool run_auth(unsigned auth, const struct verify_keys *keys, struct signed_req *s,
                     const char *authorization, const char *custom, struct verify_result *res)
{
    const struct verify_check *checks[VERIFY_CHECKS_MAX];

    CHECK(verify_build("zoom", auth, checks) == 0);
    s->req.authorization = authorization;
    s->req.authorization_len = authorization ? strlen(authorization) : 0;
    s->req.custom = custom;
    s->req.custom_len = custom ? strlen(custom) : 0;
    return verify_run(checks, keys, &s->req, res);
}

/* Each auth mode's check, alone and combined, with the answer and reason of a refusal. */
static void test_modes(void)
{
    const struct verify_check *checks[VERIFY_CHECKS_MAX];
    const char *body = "{\"event\":\"meeting.started\"}";
    struct verify_keys k = {
        .current = zoom_key_new("sec", 3), .source = "acme", .token_ttl_s = 3600};
    struct verify_result res;
    struct signed_req s;
    char tok[TOKEN_MAX + 1], hdr[TOKEN_MAX + 16], other[TOKEN_MAX + 1];

    /* "zoom:pw" and "zoom-old:pw-old" */
    digests(k.basic, "zoom:pw", "zoom-old:pw-old");
    digests(k.header, "hv", "hv-old");
    digests(k.token, "vtok", NULL);
    CHECK(token_key_derive("csec", 4, k.bearer_key[0]) == 0);
    CHECK(token_key_derive("csec-old", 8, k.bearer_key[1]) == 0);
    k.bearer_set[0] = k.bearer_set[1] = true;

    /* the lists */
    CHECK(verify_build("zoom", CONFIG_AUTH_SIGNATURE, checks) == 0);
    CHECK(checks[0] && checks[1] && checks[2] && !checks[3]);
    CHECK_STR_EQ(checks[2]->name, "zoom_signature");
    CHECK(!verify_head_proves(checks)); /* the MAC needs the body */
    CHECK(verify_build("zoom", CONFIG_AUTH_BASIC | CONFIG_AUTH_HEADER, checks) == 0);
    CHECK_STR_EQ(checks[0]->name, "basic");
    CHECK_STR_EQ(checks[1]->name, "header");
    CHECK(checks[2] == NULL);
    CHECK(verify_head_proves(checks)); /* both read headers only */
    CHECK(verify_build("zoom", 0x1f, checks) == 0);
    CHECK(checks[0] && checks[1] && checks[2] && checks[3] && checks[4] && checks[5] && checks[6] &&
          !checks[7]);
    CHECK(verify_build("gitlab", CONFIG_AUTH_BASIC, checks) < 0);
    CHECK(verify_build("github", CONFIG_AUTH_SIGNATURE | CONFIG_AUTH_BASIC, checks) == 0);
    CHECK_STR_EQ(checks[0]->name, "provider_head"); /* headers before the body's MAC */
    CHECK_STR_EQ(checks[1]->name, "provider_signature");
    CHECK_STR_EQ(checks[2]->name, "basic");
    CHECK(checks[3] == NULL && !verify_head_proves(checks));

    /* basic: either pair, the challenge on a refusal, no signature needed */
    make(&s, "other", 1, body); /* a bad signature and stale timestamp: not looked at */
    CHECK(run_auth(CONFIG_AUTH_BASIC, &k, &s, "Basic em9vbTpwdw==", NULL, &res));
    CHECK(res.key == NULL); /* no signing key: no url_validation answer */
    k.signature = verify_checks("zoom");
    CHECK(run_auth(CONFIG_AUTH_BASIC, &k, &s, "Basic em9vbTpwdw==", NULL, &res));
    CHECK(res.key == NULL); /* the signature, tried for url_validation, does not verify */
    make(&s, "sec", 1, body);
    CHECK(run_auth(CONFIG_AUTH_BASIC, &k, &s, "Basic em9vbTpwdw==", NULL, &res));
    CHECK(res.key == NULL); /* signed, but outside the timestamp window */
    make(&s, "sec", NOW, body);
    CHECK(run_auth(CONFIG_AUTH_BASIC, &k, &s, "Basic em9vbTpwdw==", NULL, &res));
    CHECK(res.key == k.current); /* url_validation is signed with the verified secret */
    CHECK(!run_auth(CONFIG_AUTH_BASIC, &k, &s, "Basic em9vbTpwdzI=", NULL, &res));
    CHECK(res.key == NULL); /* a refused request gets no key, signed or not */
    s.req.signature_len = 0;
    CHECK(run_auth(CONFIG_AUTH_BASIC, &k, &s, "Basic em9vbTpwdw==", NULL, &res));
    CHECK(res.key == NULL);
    make(&s, "other", 1, body);
    CHECK(run_auth(CONFIG_AUTH_BASIC, &k, &s, "basic em9vbS1vbGQ6cHctb2xk", NULL, &res));
    CHECK(!run_auth(CONFIG_AUTH_BASIC, &k, &s, "Basic em9vbTpwdzI=", NULL, &res)); /* zoom:pw2 */
    CHECK_LONG_EQ(res.status, 401);
    CHECK(res.reason == VERIFY_REASON_BASIC);
    CHECK_STR_EQ(res.extra, "WWW-Authenticate: Basic realm=\"hookpipe\"\r\n");
    CHECK(res.key == NULL);
    CHECK(!run_auth(CONFIG_AUTH_BASIC, &k, &s, "Basic em9vbTpwZHc=", NULL, &res));
    /* zoom-old with the current password: pairs do not mix */
    CHECK(!run_auth(CONFIG_AUTH_BASIC, &k, &s, "Basic em9vbS1vbGQ6cHc=", NULL, &res));
    CHECK(!run_auth(CONFIG_AUTH_BASIC, &k, &s, NULL, NULL, &res));
    CHECK_STR_EQ(res.message, "missing or wrong basic credentials");
    CHECK(!run_auth(CONFIG_AUTH_BASIC, &k, &s, "Bearer em9vbTpwdw==", NULL, &res));
    CHECK(!run_auth(CONFIG_AUTH_BASIC, &k, &s, "Basic !!!!", NULL, &res));

    /* header */
    CHECK(run_auth(CONFIG_AUTH_HEADER, &k, &s, NULL, "hv", &res));
    CHECK(run_auth(CONFIG_AUTH_HEADER, &k, &s, NULL, "hv-old", &res));
    CHECK(!run_auth(CONFIG_AUTH_HEADER, &k, &s, NULL, "hv2", &res));
    CHECK(res.reason == VERIFY_REASON_HEADER && res.extra == NULL);
    CHECK(!run_auth(CONFIG_AUTH_HEADER, &k, &s, NULL, "h", &res));
    CHECK(!run_auth(CONFIG_AUTH_HEADER, &k, &s, NULL, "", &res));
    CHECK(!run_auth(CONFIG_AUTH_HEADER, &k, &s, NULL, NULL, &res));

    /* token (legacy): the whole Authorization value, no previous configured */
    CHECK(run_auth(CONFIG_AUTH_TOKEN, &k, &s, "vtok", NULL, &res));
    CHECK(!run_auth(CONFIG_AUTH_TOKEN, &k, &s, "vtok ", NULL, &res));
    CHECK(res.reason == VERIFY_REASON_VERIFICATION_TOKEN);
    CHECK(!run_auth(CONFIG_AUTH_TOKEN, &k, &s, "", NULL, &res)); /* the unset previous */
    CHECK(!run_auth(CONFIG_AUTH_TOKEN, &k, &s, NULL, NULL, &res));

    /* bearer: a token minted under either key, for this source, not expired */
    strcpy(hdr, "Bearer ");
    CHECK(token_mint(k.bearer_key[0], "acme", NOW + 60, tok) > 0);
    strcat(hdr, tok);
    CHECK(run_auth(CONFIG_AUTH_BEARER, &k, &s, hdr, NULL, &res));
    CHECK(token_mint(k.bearer_key[1], "acme", NOW + 60, tok) > 0);
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    CHECK(run_auth(CONFIG_AUTH_BEARER, &k, &s, hdr, NULL, &res));
    CHECK(token_mint(k.bearer_key[0], "acme", NOW, tok) > 0);
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    CHECK(!run_auth(CONFIG_AUTH_BEARER, &k, &s, hdr, NULL, &res));
    CHECK(res.reason == VERIFY_REASON_BEARER_EXPIRED);
    CHECK_STR_EQ(res.extra,
                 "WWW-Authenticate: Bearer realm=\"hookpipe\", error=\"invalid_token\"\r\n");
    CHECK(token_mint(k.bearer_key[0], "bravo", NOW + 60, other) > 0);
    snprintf(hdr, sizeof(hdr), "Bearer %s", other);
    CHECK(!run_auth(CONFIG_AUTH_BEARER, &k, &s, hdr, NULL, &res));
    CHECK(res.reason == VERIFY_REASON_BEARER_OTHER_SOURCE);
    CHECK(token_mint(k.bearer_key[0], "acme", NOW + 60, tok) > 0);
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    hdr[strlen(hdr) - 2] ^= 1; /* altered */
    CHECK(!run_auth(CONFIG_AUTH_BEARER, &k, &s, hdr, NULL, &res));
    CHECK(res.reason == VERIFY_REASON_BEARER_INVALID ||
          res.reason == VERIFY_REASON_BEARER_MALFORMED);
    snprintf(hdr, sizeof(hdr), "Bearer %.*s", 30, tok); /* truncated */
    CHECK(!run_auth(CONFIG_AUTH_BEARER, &k, &s, hdr, NULL, &res));
    CHECK(res.reason == VERIFY_REASON_BEARER_MALFORMED);
    CHECK(!run_auth(CONFIG_AUTH_BEARER, &k, &s, tok, NULL, &res)); /* no scheme */
    CHECK(res.reason == VERIFY_REASON_BEARER_MISSING);
    CHECK_STR_EQ(res.extra, "WWW-Authenticate: Bearer realm=\"hookpipe\"\r\n");
    CHECK(!run_auth(CONFIG_AUTH_BEARER, &k, &s, NULL, NULL, &res));
    /* a token expiring further ahead than token_ttl_s + 60 s allows (issued before a reload
       lowered the TTL, or by another configuration) is refused as expired */
    CHECK(token_mint(k.bearer_key[0], "acme", NOW + 3660, tok) > 0);
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    CHECK(run_auth(CONFIG_AUTH_BEARER, &k, &s, hdr, NULL, &res));
    CHECK(token_mint(k.bearer_key[0], "acme", NOW + 3661, tok) > 0);
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    CHECK(!run_auth(CONFIG_AUTH_BEARER, &k, &s, hdr, NULL, &res));
    CHECK(res.reason == VERIFY_REASON_BEARER_EXPIRED);
    k.token_ttl_s = 600; /* a reload lowered the TTL */
    CHECK(token_mint(k.bearer_key[0], "acme", NOW + 3600, tok) > 0);
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    CHECK(!run_auth(CONFIG_AUTH_BEARER, &k, &s, hdr, NULL, &res));
    CHECK(res.reason == VERIFY_REASON_BEARER_EXPIRED);
    s.req.now = NOW + 3000; /* until what is left of it fits the new TTL */
    CHECK(run_auth(CONFIG_AUTH_BEARER, &k, &s, hdr, NULL, &res));
    s.req.now = NOW;
    k.token_ttl_s = 3600;
    k.bearer_set[1] = false; /* rotation over: the old key's tokens are refused */
    CHECK(token_mint(k.bearer_key[1], "acme", NOW + 60, tok) > 0);
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    CHECK(!run_auth(CONFIG_AUTH_BEARER, &k, &s, hdr, NULL, &res));
    CHECK(res.reason == VERIFY_REASON_BEARER_INVALID);

    /* combinations: every listed check must pass, the first failure decides */
    make(&s, "sec", NOW, body);
    CHECK(run_auth(CONFIG_AUTH_SIGNATURE | CONFIG_AUTH_BASIC, &k, &s, "Basic em9vbTpwdw==", NULL,
                   &res));
    CHECK(!run_auth(CONFIG_AUTH_SIGNATURE | CONFIG_AUTH_BASIC, &k, &s, NULL, NULL, &res));
    CHECK(res.reason == VERIFY_REASON_BASIC);
    make(&s, "other", NOW, body);
    CHECK(!run_auth(CONFIG_AUTH_SIGNATURE | CONFIG_AUTH_BASIC, &k, &s, "Basic em9vbTpwdw==", NULL,
                    &res));
    CHECK(res.reason == VERIFY_REASON_SIGNATURE && res.extra == NULL);
    make(&s, "sec", NOW, body);
    CHECK(run_auth(CONFIG_AUTH_SIGNATURE | CONFIG_AUTH_HEADER | CONFIG_AUTH_TOKEN, &k, &s, "vtok",
                   "hv", &res));
    CHECK(!run_auth(CONFIG_AUTH_SIGNATURE | CONFIG_AUTH_HEADER | CONFIG_AUTH_TOKEN, &k, &s, "vtok",
                    "nope", &res));
    CHECK(res.reason == VERIFY_REASON_HEADER);
    CHECK(!run_auth(CONFIG_AUTH_HEADER | CONFIG_AUTH_TOKEN, &k, &s, "nope", "hv", &res));
    CHECK(res.reason == VERIFY_REASON_VERIFICATION_TOKEN);
    CHECK_STR_EQ(verify_reason_label(VERIFY_REASON_BEARER_EXPIRED), "bearer_expired");
    CHECK_STR_EQ(verify_reason_label(VERIFY_REASON_NONE), "");
    zoom_key_free(k.current);
}

int main(void)
{
    const struct verify_check *const *zoom = verify_checks("zoom");
    struct verify_keys keys = {.current = zoom_key_new("new", 3),
                               .previous = zoom_key_new("old", 3)};
    struct verify_keys only = {.current = keys.current};
    const char *body = "{\"event\":\"meeting.started\"}";
    struct verify_result res;
    struct signed_req s;

    CHECK(zoom != NULL && zoom[0] != NULL && zoom[1] != NULL && zoom[2] != NULL && zoom[3] == NULL);
    CHECK_STR_EQ(zoom[0]->name, "zoom_timestamp"); /* the cheap checks first */
    CHECK_STR_EQ(zoom[1]->name, "zoom_signature_form");
    CHECK_STR_EQ(zoom[2]->name, "zoom_signature");
    CHECK(!zoom[0]->needs_body && !zoom[1]->needs_body && zoom[2]->needs_body);
    CHECK(verify_checks("gitlab") == NULL);
    CHECK(verify_checks(NULL) == NULL);

    make(&s, "new", NOW - 300, body);
    CHECK(verify_run(zoom, &keys, &s.req, &res));
    CHECK(res.status == 0 && res.key == keys.current);
    make(&s, "old", NOW + 300, body); /* while rotating */
    CHECK(verify_run(zoom, &keys, &s.req, &res));
    CHECK(res.key == keys.previous);
    CHECK(!verify_run(zoom, &only, &s.req, &res)); /* rotation over */
    CHECK_LONG_EQ(res.status, 401);
    CHECK_STR_EQ(res.message, "bad signature");
    CHECK(res.key == NULL);

    make(&s, "other", NOW, body);
    CHECK(!verify_run(zoom, &keys, &s.req, &res));
    CHECK_STR_EQ(res.message, "bad signature");
    make(&s, "new", NOW, body);
    s.req.body_len--; /* the body as received is what is signed */
    CHECK(!verify_run(zoom, &keys, &s.req, &res));
    s.req.body_len++;
    s.req.signature_len = 0;
    CHECK(!verify_run(zoom, &keys, &s.req, &res));
    CHECK_STR_EQ(res.message, "bad signature");

    /* the window, checked before the signature */
    make(&s, "new", NOW - 301, body);
    CHECK(!verify_run(zoom, &keys, &s.req, &res));
    CHECK_LONG_EQ(res.status, 401);
    CHECK_STR_EQ(res.message, "timestamp missing or outside tolerance");
    make(&s, "new", NOW + 301, body);
    CHECK(!verify_run(zoom, &keys, &s.req, &res));
    make(&s, "new", NOW, body);
    s.req.timestamp_len = 0;
    CHECK(!verify_run(zoom, &keys, &s.req, &res));
    CHECK_STR_EQ(res.message, "timestamp missing or outside tolerance");
    s.req.timestamp = "17000000x0";
    s.req.timestamp_len = 10;
    CHECK(!verify_run(zoom, &keys, &s.req, &res));
    s.req.timestamp = "0001700000000"; /* 13 digits: refused however it reads */
    s.req.timestamp_len = 13;
    CHECK(!verify_run(zoom, &keys, &s.req, &res));

    CHECK(!verify_run(NULL, &keys, &s.req, &res)); /* a source without checks is refused */
    CHECK_LONG_EQ(res.status, 401);
    zoom_key_free(keys.current);
    zoom_key_free(keys.previous);
    test_modes();
    return check_summary("test_verify");
}
