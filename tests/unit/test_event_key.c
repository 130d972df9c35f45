/*
 * Unit tests for writer/event_key.c: equal keys for Zoom's retries and for its duplicate
 * recording.completed deliveries, distinct keys for distinct notifications, the exact
 * bytes hashed (a pinned vector), and refusal of bodies PostgreSQL cannot store.
 */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "event_key.h"

static int key_of(const char *source, const char *json, unsigned char out[EVENT_KEY_LEN])
{
    struct json_scan_result res;
    const char *why = NULL;
    size_t n = strlen(json);
    char *copy = malloc(n); /* exact size: ASan catches overreads */
    int rc;

    memcpy(copy, json, n);
    rc = event_key_scan(source, copy, n, &res, out, &why);
    if (rc != 0)
        fprintf(stderr, "event_key_scan(%s): %s\n", json, why ? why : "openssl");
    free(copy);
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

static void test_volatile_values(void)
{
    /* the volatile string values vanish at any depth; nothing else does */
    CHECK(same("{\"event\":\"e\",\"a\":[[{\"play_url\":\"x\",\"k\":1}]]}",
               "{\"event\":\"e\",\"a\":[[{\"play_url\":\"yyy\",\"k\":1}]]}") == 1);
    CHECK(same("{\"event\":\"e\",\"download_url\":\"a\"}",
               "{\"event\":\"e\",\"download_url\":\"b\"}") == 1);
    /* but the member itself stays: with and without it are different bodies */
    CHECK(same("{\"event\":\"e\",\"download_token\":\"t\"}", "{\"event\":\"e\"}") == 0);
    /* array order matters, and so do the body's bytes: the key is of the body as sent */
    CHECK(same("{\"event\":\"e\",\"a\":[1,2]}", "{\"event\":\"e\",\"a\":[2,1]}") == 0);
    CHECK(same("{\"event\":\"e\",\"a\":1}", "{\"a\":1,\"event\":\"e\"}") == 0);
}

static void test_refuses_what_postgres_cannot_store(void)
{
    unsigned char k[EVENT_KEY_LEN];

    CHECK(key_of("acme", "{\"event\":\"e\",\"x\":\"\\u0000\"}", k) == -1);
    CHECK(key_of("acme", "{\"event\":\"e\",\"x\":\"\xff\"}", k) == -1);
    CHECK(key_of("acme", "[1]", k) == -1);
}

static void test_source_is_part_of_the_key(void)
{
    unsigned char a[EVENT_KEY_LEN], b[EVENT_KEY_LEN];
    const char *body = "{\"event\":\"e\"}";

    CHECK(key_of("appone", body, a) == 0);
    CHECK(key_of("apptwo", body, b) == 0);
    CHECK(memcmp(a, b, EVENT_KEY_LEN) != 0);
}

static void test_known_vector(void)
{
    /* pins the rule: SHA-256("hookpipe-event-key-v2\0" "acme\0" body less the token value) */
    static const char body[] = "{ \"event\" : \"e\" , \"download_token\" : \"t\" }";
    static const char hashed[] = "hookpipe-event-key-v2\0acme\0{ \"event\" : \"e\" , "
                                 "\"download_token\" :  }";
    unsigned char want[EVENT_KEY_LEN], got[EVENT_KEY_LEN];

    SHA256((const unsigned char *)hashed, sizeof(hashed) - 1, want);
    CHECK(key_of("acme", body, got) == 0);
    CHECK(memcmp(got, want, EVENT_KEY_LEN) == 0);
}

int main(void)
{
    test_retry_same_bytes();
    test_recording_duplicates();
    test_distinct_notifications();
    test_volatile_values();
    test_refuses_what_postgres_cannot_store();
    test_source_is_part_of_the_key();
    test_known_vector();
    return check_summary("test_event_key");
}
