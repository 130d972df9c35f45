/*
 * Unit tests for gateway/hook.c: what a verified body gets — delivered, 400 for what is
 * not a JSON object with a string event, and the url_validation challenge answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hook.h"

static struct hook_result inspect(struct zoom_key *key, const char *body)
{
    struct hook_result r;

    hook_inspect(body, strlen(body), key, &r);
    return r;
}

int main(void)
{
    struct zoom_key *key = zoom_key_new("secret", 6);
    char want[ZOOM_HEX_LEN + 1], expect[256];
    struct hook_result r;

    r = inspect(key, "{\"event\":\"meeting.started\",\"payload\":{}}");
    CHECK(r.action == HOOK_DELIVER && r.body == NULL);
    r = inspect(key, "[1,2]");
    CHECK(r.action == HOOK_ANSWER && r.status == 400 && r.message != NULL);
    r = inspect(key, "{\"event\":1}");
    CHECK(r.action == HOOK_ANSWER && r.status == 400);
    CHECK_STR_EQ(r.message, "JSON object has no string \"event\"");
    r = inspect(key, "{\"event\":\"x\"");
    CHECK(r.action == HOOK_ANSWER && r.status == 400 && !r.out_of_memory);

    CHECK(zoom_hmac_hex(key, "tok-1", 5, want) == 0);
    snprintf(expect, sizeof(expect), "{\"plainToken\":\"tok-1\",\"encryptedToken\":\"%s\"}", want);
    r = inspect(key,
                "{\"event\":\"endpoint.url_validation\",\"payload\":{\"plainToken\":\"tok-1\"}}");
    CHECK(r.action == HOOK_ANSWER && r.status == 200);
    CHECK_STR_EQ(r.body, expect);
    free(r.body);
    /* an escaped event name is the same event */
    r = inspect(key, "{\"event\":\"endpoint.url\\u005fvalidation\",\"payload\":{\"plainToken\":"
                     "\"tok-1\"}}");
    CHECK(r.action == HOOK_ANSWER && r.status == 200);
    CHECK_STR_EQ(r.body, expect);
    free(r.body);
    r = inspect(key, "{\"event\":\"endpoint.url_validation\",\"payload\":{}}");
    CHECK(r.action == HOOK_ANSWER && r.status == 400 && r.body == NULL);
    CHECK_STR_EQ(r.message, "url_validation without payload.plainToken");
    r = inspect(key, "{\"event\":\"endpoint.url_validation\",\"payload\":{\"plainToken\":\"\"}}");
    CHECK(r.action == HOOK_ANSWER && r.status == 400);
    zoom_key_free(key);
    return check_summary("test_hook");
}
