/*
 * Unit tests for writer/event_key.c: equal keys for Zoom's retries and for its duplicate
 * recording.completed deliveries, distinct keys for distinct notifications, independence
 * from member order and whitespace, and no change to the caller's JSON.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "event_key.h"

static int key_of(const char *source, const char *json, unsigned char out[EVENT_KEY_LEN])
{
    json_error_t err;
    json_t *v = json_loads(json, 0, &err);
    int rc;

    if (v == NULL) {
        fprintf(stderr, "bad test JSON: %s\n", err.text);
        return -1;
    }
    rc = event_key_compute(source, v, out);
    json_decref(v);
    return rc;
}

static int same(const char *a, const char *b)
{
    unsigned char ka[EVENT_KEY_LEN], kb[EVENT_KEY_LEN];
    if (key_of("acme", a, ka) != 0 || key_of("acme", b, kb) != 0)
        return -1;
    return memcmp(ka, kb, EVENT_KEY_LEN) == 0;
}

#define RECORDING(token, url)                                                                      \
    "{\"event\":\"recording.completed\",\"event_ts\":1700000000123,\"payload\":{\"account_id\":"   \
    "\"acc\",\"object\":{\"uuid\":\"u==\",\"id\":684,\"recording_files\":[{\"id\":\"f1\","         \
    "\"file_type\":\"MP4\",\"play_url\":\"https://z/rec/play/" url "1\",\"download_url\":"         \
    "\"https://z/rec/download/" url "1\"},{\"id\":\"f2\",\"file_type\":\"M4A\",\"play_url\":"      \
    "\"https://z/rec/play/" url "2\",\"download_url\":\"https://z/rec/download/" url "2\"}]}},"    \
    "\"download_token\":\"" token "\"}"

static void test_retry_same_bytes(void)
{
    const char *b = "{\"event\":\"meeting.started\",\"event_ts\":1,\"payload\":{\"account_id\":"
                    "\"a\",\"object\":{\"id\":\"1\"}}}";
    CHECK(same(b, b) == 1);
}

static void test_recording_duplicates(void)
{
    CHECK(same(RECORDING("tokA", "AAA"), RECORDING("tokB", "BBB")) == 1);
    /* a different recording file list is a different notification */
    CHECK(same(RECORDING("tokA", "AAA"),
               "{\"event\":\"recording.completed\",\"event_ts\":1700000000123,\"payload\":{"
               "\"account_id\":\"acc\",\"object\":{\"uuid\":\"u==\",\"id\":684,"
               "\"recording_files\":[{\"id\":\"f1\",\"file_type\":\"MP4\"}]}},"
               "\"download_token\":\"tokA\"}") == 0);
}

static void test_distinct_notifications(void)
{
    /* two participants joining in the same ms */
    CHECK(same("{\"event\":\"meeting.participant_joined\",\"event_ts\":5,\"payload\":{\"object\":"
               "{\"id\":\"1\",\"participant\":{\"user_id\":\"u1\"}}}}",
               "{\"event\":\"meeting.participant_joined\",\"event_ts\":5,\"payload\":{\"object\":"
               "{\"id\":\"1\",\"participant\":{\"user_id\":\"u2\"}}}}") == 0);
    /* meeting.ended vs webinar.ended at one event_ts */
    CHECK(
        same("{\"event\":\"meeting.ended\",\"event_ts\":5,\"payload\":{\"object\":{\"id\":1}}}",
             "{\"event\":\"webinar.ended\",\"event_ts\":5,\"payload\":{\"object\":{\"id\":1}}}") ==
        0);
    /* same event and object, another event_ts */
    CHECK(same("{\"event\":\"meeting.ended\",\"event_ts\":5,\"payload\":{}}",
               "{\"event\":\"meeting.ended\",\"event_ts\":6,\"payload\":{}}") == 0);
    /* a value that only looks like a token but is not one of the volatile members */
    CHECK(same("{\"event\":\"e\",\"payload\":{\"token\":\"a\"}}",
               "{\"event\":\"e\",\"payload\":{\"token\":\"b\"}}") == 0);
}

static void test_canonical_form(void)
{
    /* member order and whitespace do not matter; the volatile members vanish at any depth */
    CHECK(same("{\"event\":\"e\",\"event_ts\":1,\"payload\":{\"b\":1,\"a\":[1,{\"y\":2,\"x\":1}]}}",
               "{ \"payload\" : { \"a\" : [ 1 , { \"x\" : 1 , \"y\" : 2 } ] , \"b\" : 1 } ,"
               " \"event_ts\" : 1 , \"event\" : \"e\" }") == 1);
    CHECK(same("{\"event\":\"e\",\"a\":[[{\"play_url\":\"x\",\"k\":1}]]}",
               "{\"event\":\"e\",\"a\":[[{\"k\":1}]]}") == 1);
    /* array order does matter */
    CHECK(same("{\"event\":\"e\",\"a\":[1,2]}", "{\"event\":\"e\",\"a\":[2,1]}") == 0);
}

static void test_source_is_part_of_the_key(void)
{
    unsigned char a[EVENT_KEY_LEN], b[EVENT_KEY_LEN];
    const char *body = "{\"event\":\"e\"}";

    CHECK(key_of("appone", body, a) == 0);
    CHECK(key_of("apptwo", body, b) == 0);
    CHECK(memcmp(a, b, EVENT_KEY_LEN) != 0);
}

static void test_input_untouched_and_stable(void)
{
    json_t *v = json_loads(RECORDING("tok", "U"), 0, NULL);
    unsigned char k1[EVENT_KEY_LEN], k2[EVENT_KEY_LEN];
    char *before = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);
    char *after;

    CHECK(event_key_compute("acme", v, k1) == 0);
    after = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);
    CHECK_STR_EQ(before, after);
    CHECK(event_key_compute("acme", v, k2) == 0);
    CHECK(memcmp(k1, k2, EVENT_KEY_LEN) == 0);
    free(before);
    free(after);
    json_decref(v);
}

static void test_known_vector(void)
{
    /* pins the rule: SHA-256("hookpipe-event-key-v1\0" "acme\0" '{"event":"e"}') */
    static const unsigned char want[EVENT_KEY_LEN] = {
        0x9b, 0xab, 0x96, 0x74, 0x2e, 0xe6, 0x37, 0x7c, 0xe6, 0xa9, 0xaf,
        0xc9, 0xb6, 0xc2, 0x75, 0x1e, 0x7f, 0xfd, 0xb8, 0xce, 0xfe, 0x9c,
        0xe8, 0xc9, 0x14, 0x06, 0x8a, 0xcd, 0x8d, 0x9b, 0x21, 0x19};
    unsigned char got[EVENT_KEY_LEN];

    CHECK(key_of("acme", "{ \"event\" : \"e\" , \"download_token\" : \"t\" }", got) == 0);
    CHECK(memcmp(got, want, EVENT_KEY_LEN) == 0);
}

int main(void)
{
    test_retry_same_bytes();
    test_recording_duplicates();
    test_distinct_notifications();
    test_canonical_form();
    test_source_is_part_of_the_key();
    test_input_untouched_and_stable();
    test_known_vector();
    return check_summary("test_event_key");
}
