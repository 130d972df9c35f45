/*
 * Unit tests for gateway/hook.c: what a verified body gets — delivered, 400 for what is
 * not a JSON object with a string event, and the url_validation challenge answer: only
 * with a verified signing key (401 without) and for a plainToken of Zoom's shape (400).
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

/* Another provider's body: any JSON document; Slack's url_verification answered. */
static void test_provider(void)
{
    static const char challenge[] =
        "{\"token\":\"Jhj5dZrVaK7ZwHHjRyZWjbDl\",\"challenge\":\"3eZbrw1a\\/Bm2\","
        "\"type\":\"url_verification\"}";
    static const char *const deliver[] = {"[1,2]", "{\"action\":\"opened\"}", "\"ping\"", "0"};
    struct hook_result r;

    for (size_t i = 0; i < sizeof(deliver) / sizeof(deliver[0]); i++) {
        hook_inspect_provider(PROVIDER_GITHUB, deliver[i], strlen(deliver[i]), &r);
        CHECKF(r.action == HOOK_DELIVER && r.body == NULL, "%s", deliver[i]);
    }
    hook_inspect_provider(PROVIDER_SHOPIFY, "{\"id\": ", 7, &r);
    CHECK(r.action == HOOK_ANSWER && r.status == 400);
    hook_inspect_provider(PROVIDER_STRIPE, "{\"a\":\"\\u0000\"}", 12, &r); /* jsonb cannot */
    CHECK(r.action == HOOK_ANSWER && r.status == 400);
    hook_inspect_provider(PROVIDER_SLACK, challenge, strlen(challenge), &r);
    CHECK(r.action == HOOK_ANSWER && r.status == 200 && r.body != NULL);
    CHECK_STR_EQ(r.body != NULL ? r.body : "", "{\"challenge\":\"3eZbrw1a/Bm2\"}");
    free(r.body);
    /* only Slack answers it; a url_verification without a string challenge is an event */
    hook_inspect_provider(PROVIDER_STANDARD, challenge, strlen(challenge), &r);
    CHECK(r.action == HOOK_DELIVER);
    static const char no_string[] = "{\"type\":\"url_verification\",\"challenge\":1}";
    hook_inspect_provider(PROVIDER_SLACK, no_string, strlen(no_string), &r);
    CHECK(r.action == HOOK_DELIVER);
}

int main(void)
{
    test_provider();
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

    /* not a signing oracle: no answer without a verified Zoom signature (key NULL) */
    r = inspect(NULL,
                "{\"event\":\"endpoint.url_validation\",\"payload\":{\"plainToken\":\"tok-1\"}}");
    CHECK(r.action == HOOK_ANSWER && r.status == 401 && r.body == NULL && !r.out_of_memory);
    CHECK_STR_EQ(r.message, "url_validation needs a valid x-zm-signature");
    r = inspect(NULL, "{\"event\":\"meeting.started\",\"payload\":{}}");
    CHECK(r.action == HOOK_DELIVER); /* other events do not need the key */
    /* ... and only for a plainToken of Zoom's shape: never a "v0:TS:BODY" signing input */
    r = inspect(key, "{\"event\":\"endpoint.url_validation\",\"payload\":{\"plainToken\":"
                     "\"v0:1700000000:{\\\"event\\\":\\\"meeting.started\\\"}\"}}");
    CHECK(r.action == HOOK_ANSWER && r.status == 400 && r.body == NULL);
    CHECK_STR_EQ(r.message,
                 "payload.plainToken is not 1-128 characters of A-Z a-z 0-9 - _ + / = .");
    r = inspect(key, "{\"event\":\"endpoint.url_validation\",\"payload\":{\"plainToken\":"
                     "\"v0\\u003a1:x\"}}");
    CHECK(r.status == 400); /* an escaped ':' is a ':' */
    r = inspect(key, "{\"event\":\"endpoint.url_validation\",\"payload\":{\"plainToken\":"
                     "\"tok\\u0000x\"}}");
    CHECK(r.status == 400);
    r = inspect(key, "{\"event\":\"endpoint.url_validation\",\"payload\":{\"plainToken\":"
                     "\"tok-\xc3\xa9\"}}");
    CHECK(r.status == 400);
    r = inspect(key, "{\"event\":\"endpoint.url_validation\",\"payload\":{\"plainToken\":7}}");
    CHECK(r.status == 400);
    CHECK_STR_EQ(r.message, "url_validation without payload.plainToken");
    {
        char body[512], tok[130];
        memset(tok, 'a', sizeof(tok));
        for (size_t n = 127; n <= 129; n++) {
            snprintf(body, sizeof(body),
                     "{\"event\":\"endpoint.url_validation\",\"payload\":{\"plainToken\":"
                     "\"%.*s\"}}",
                     (int)n, tok);
            r = inspect(key, body);
            CHECKF(r.status == (n <= 128 ? 200 : 400), "length %zu: %d", n, r.status);
            free(r.body);
        }
    }
    r = inspect(key, "{\"event\":\"endpoint.url_validation\",\"payload\":{\"plainToken\":"
                     "\"qgg8vlvZRS6UYooatFL8Aw\"}}");
    CHECK(r.status == 200); /* Zoom's documented example, and base64 of either alphabet */
    free(r.body);
    r = inspect(key, "{\"event\":\"endpoint.url_validation\",\"payload\":{\"plainToken\":"
                     "\"a+b/c=d-e_f.g\"}}");
    CHECK(r.status == 200);
    free(r.body);
    zoom_key_free(key);
    return check_summary("test_hook");
}
