/*
 * Unit tests for gateway/verify.c: the Zoom checks in order (timestamp window, then
 * the v0 signature under the current or previous secret), the key that verified, and
 * the answer each refusal gets.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
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

int main(void)
{
    const struct verify_check *const *zoom = verify_checks("zoom");
    struct verify_keys keys = {.current = zoom_key_new("new", 3),
                               .previous = zoom_key_new("old", 3)};
    struct verify_keys only = {.current = keys.current};
    const char *body = "{\"event\":\"meeting.started\"}";
    struct verify_result res;
    struct signed_req s;

    CHECK(zoom != NULL && zoom[0] != NULL && zoom[1] != NULL && zoom[2] == NULL);
    CHECK_STR_EQ(zoom[0]->name, "zoom_timestamp"); /* the cheap check first */
    CHECK_STR_EQ(zoom[1]->name, "zoom_signature");
    CHECK(verify_checks("github") == NULL);
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
    return check_summary("test_verify");
}
