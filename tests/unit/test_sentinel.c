/*
 * Unit tests for common/sentinel.c: [redis] sentinels/master_name parsing and its
 * rejections, the replies of SENTINEL get-master-addr-by-name and ROLE (built by hand as
 * hiredis would), +switch-master messages and the pub/sub replies that carry them,
 * READONLY detection, and the ask-next/promote rules.
 */
#include "check.h"
#include "sentinel.h"

#include <stdio.h>
#include <string.h>

static redisReply str_reply(const char *s)
{
    redisReply r;

    memset(&r, 0, sizeof(r));
    r.type = REDIS_REPLY_STRING;
    r.str = (char *)s;
    r.len = strlen(s);
    return r;
}

static void test_target_parse(void)
{
    struct redis_target t;
    const char *why = NULL;

    CHECK(redis_target_parse("redis://h:7000/3", "", "", &t, &why) == 0);
    CHECK(t.nsentinels == 0 && t.url.port == 7000 && t.url.db == 3);

    CHECK(redis_target_parse("redis://u:pw@ignored/2", "127.0.0.1:26379, [::1]:26380,s3:1",
                             "mymaster", &t, &why) == 0);
    CHECK(t.nsentinels == 3);
    CHECK_STR_EQ(t.sentinels[0].host, "127.0.0.1");
    CHECK(t.sentinels[0].port == 26379);
    CHECK_STR_EQ(t.sentinels[1].host, "::1");
    CHECK(t.sentinels[1].port == 26380);
    CHECK_STR_EQ(t.sentinels[2].host, "s3");
    CHECK_STR_EQ(t.master_name, "mymaster");
    CHECK_STR_EQ(t.url.password, "pw");
    CHECK(t.url.db == 2);

    struct {
        const char *url, *sentinels, *name, *why, *key;
    } bad[] = {
        {"redis://h/0", "h:1", "", "sentinels need master_name", "sentinels"},
        {"redis://h/0", "", "m", "master_name needs sentinels", "master_name"},
        {"redis://h/0", "h", "m", "bad sentinel address", "sentinels"},
        {"redis://h/0", "h:1,", "m", "bad sentinel address", "sentinels"},
        {"redis://h/0", ":1", "m", "bad sentinel address", "sentinels"},
        {"redis://h/0", "h:0", "m", "bad sentinel address", "sentinels"},
        {"redis://h/0", "h:99999", "m", "bad sentinel address", "sentinels"},
        {"redis://h/0", "h:1", "a b", "bad master_name", "master_name"},
        {"unix:///tmp/r.sock", "h:1", "m", "must be redis://", "url"},
        {"http://h", "h:1", "m", "must start with", "url"},
        {"redis://h/0", "a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1", "m",
         "too many", "sentinels"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        CHECKF(redis_target_parse(bad[i].url, bad[i].sentinels, bad[i].name, &t, &why) < 0,
               "case %zu accepted", i);
        CHECKF(why != NULL && strstr(why, bad[i].why) != NULL, "case %zu: reason \"%s\"", i,
               why ? why : "(null)");
        CHECKF(t.bad_key != NULL && strcmp(t.bad_key, bad[i].key) == 0, "case %zu: key %s", i,
               t.bad_key ? t.bad_key : "(null)");
    }
}

static void test_parse_master(void)
{
    redisReply h = str_reply("10.0.0.7"), p = str_reply("6380"), bad_port = str_reply("0x1");
    redisReply *el[2] = {&h, &p};
    redisReply arr, nil, err, one;
    char host[64];
    int port = 0;

    memset(&arr, 0, sizeof(arr));
    arr.type = REDIS_REPLY_ARRAY;
    arr.elements = 2;
    arr.element = el;
    CHECK(sentinel_parse_master(&arr, host, sizeof(host), &port) == SENTINEL_ANSWER_ADDR);
    CHECK_STR_EQ(host, "10.0.0.7");
    CHECK(port == 6380);

    CHECK(sentinel_parse_master(&arr, host, 4, &port) == SENTINEL_ANSWER_BAD); /* too long */
    el[1] = &bad_port;
    CHECK(sentinel_parse_master(&arr, host, sizeof(host), &port) == SENTINEL_ANSWER_BAD);
    el[1] = &p;
    one = arr;
    one.elements = 1;
    CHECK(sentinel_parse_master(&one, host, sizeof(host), &port) == SENTINEL_ANSWER_BAD);

    memset(&nil, 0, sizeof(nil));
    nil.type = REDIS_REPLY_NIL;
    CHECK(sentinel_parse_master(&nil, host, sizeof(host), &port) == SENTINEL_ANSWER_UNKNOWN);
    memset(&err, 0, sizeof(err));
    err.type = REDIS_REPLY_ERROR;
    err.str = (char *)"ERR unknown command 'SENTINEL'";
    CHECK(sentinel_parse_master(&err, host, sizeof(host), &port) == SENTINEL_ANSWER_ERROR);
    CHECK(sentinel_parse_master(&h, host, sizeof(host), &port) == SENTINEL_ANSWER_BAD);
    CHECK(sentinel_parse_master(NULL, host, sizeof(host), &port) == SENTINEL_ANSWER_BAD);
}

static void test_parse_role(void)
{
    redisReply m = str_reply("master"), s = str_reply("slave"), sen = str_reply("sentinel"),
               x = str_reply("mast");
    redisReply *el[1] = {&m};
    redisReply arr;

    memset(&arr, 0, sizeof(arr));
    arr.type = REDIS_REPLY_ARRAY;
    arr.elements = 1;
    arr.element = el;
    CHECK(sentinel_parse_role(&arr) == REDIS_ROLE_MASTER);
    el[0] = &s;
    CHECK(sentinel_parse_role(&arr) == REDIS_ROLE_REPLICA);
    el[0] = &sen;
    CHECK(sentinel_parse_role(&arr) == REDIS_ROLE_SENTINEL);
    el[0] = &x;
    CHECK(sentinel_parse_role(&arr) == REDIS_ROLE_UNKNOWN);
    arr.elements = 0;
    CHECK(sentinel_parse_role(&arr) == REDIS_ROLE_UNKNOWN);
    CHECK(sentinel_parse_role(&m) == REDIS_ROLE_UNKNOWN);
    CHECK(sentinel_parse_role(NULL) == REDIS_ROLE_UNKNOWN);
    CHECK_STR_EQ(sentinel_role_name(REDIS_ROLE_REPLICA), "replica");
}

/* sentinel_parse_switch on a NUL-terminated message. */
static enum sentinel_switch parse_switch(const char *msg, char *host, size_t hostlen, int *port)
{
    return sentinel_parse_switch(msg, strlen(msg), "hpm", host, hostlen, port);
}

static void test_parse_switch(void)
{
    char host[64];
    int port = 0;

    CHECK(parse_switch("hpm 10.0.0.1 6379 10.0.0.2 6380", host, sizeof(host), &port) ==
          SENTINEL_SWITCH_OURS);
    CHECK_STR_EQ(host, "10.0.0.2");
    CHECK(port == 6380);
    CHECK(parse_switch("hpm ::1 6379 fe80::2:3 7000", host, sizeof(host), &port) ==
          SENTINEL_SWITCH_OURS);
    CHECK_STR_EQ(host, "fe80::2:3");
    CHECK(port == 7000);
    /* only the given length counts: what follows is not part of the message */
    CHECK(sentinel_parse_switch("hpm a 1 b 2 trailing", 11, "hpm", host, sizeof(host), &port) ==
          SENTINEL_SWITCH_OURS);
    CHECK_STR_EQ(host, "b");
    CHECK(port == 2);

    port = 0;
    CHECK(parse_switch("other 10.0.0.1 6379 10.0.0.2 6380", host, sizeof(host), &port) ==
          SENTINEL_SWITCH_OTHER);
    CHECK(parse_switch("hp 10.0.0.1 6379 10.0.0.2 6380", host, sizeof(host), &port) ==
          SENTINEL_SWITCH_OTHER);
    CHECK(parse_switch("hpmx 10.0.0.1 6379 10.0.0.2 6380", host, sizeof(host), &port) ==
          SENTINEL_SWITCH_OTHER);
    CHECK(port == 0);

    const char *bad[] = {
        "",
        "hpm",
        "hpm 10.0.0.1 6379 10.0.0.2",
        "hpm 10.0.0.1 6379 10.0.0.2 6380 extra",
        "hpm 10.0.0.1 6379 10.0.0.2 6380 ",
        "hpm  10.0.0.1 6379 10.0.0.2 6380",
        "hpm 10.0.0.1 6379 10.0.0.2 0",
        "hpm 10.0.0.1 6379 10.0.0.2 65536",
        "hpm 10.0.0.1 6379 10.0.0.2 63x",
        "hpm 10.0.0.1 6379 10.0.0.2 +6380",
        "hpm 10.0.0.1 port 10.0.0.2 6380",
        "hpm 10.0.0.1 6379 "
        "a-host-name-longer-than-the-64-bytes-of-buffer-given-for-it-in-this-test 6380",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECKF(parse_switch(bad[i], host, sizeof(host), &port) == SENTINEL_SWITCH_BAD,
               "case %zu accepted", i);
    CHECK(port == 0);
}

static void test_parse_pubsub(void)
{
    redisReply sub = str_reply("subscribe"), msg = str_reply("message"),
               ch = str_reply("+switch-master"), body = str_reply("hpm a 1 b 2"), count;
    redisReply *el[3] = {&sub, &ch, &count};
    redisReply arr;
    const redisReply *payload = NULL;

    memset(&count, 0, sizeof(count));
    count.type = REDIS_REPLY_INTEGER;
    count.integer = 1;
    memset(&arr, 0, sizeof(arr));
    arr.type = REDIS_REPLY_ARRAY;
    arr.elements = 3;
    arr.element = el;
    CHECK(sentinel_parse_pubsub(&arr, &payload) == SENTINEL_PUBSUB_SUBSCRIBED);
    CHECK(payload == NULL);
    el[0] = &msg;
    el[2] = &body;
    CHECK(sentinel_parse_pubsub(&arr, &payload) == SENTINEL_PUBSUB_MESSAGE);
    CHECK(payload == &body);
    el[2] = &count; /* a message whose payload is not a string */
    CHECK(sentinel_parse_pubsub(&arr, &payload) == SENTINEL_PUBSUB_OTHER);
    el[0] = &ch;
    CHECK(sentinel_parse_pubsub(&arr, &payload) == SENTINEL_PUBSUB_OTHER);
    arr.elements = 2;
    CHECK(sentinel_parse_pubsub(&arr, &payload) == SENTINEL_PUBSUB_OTHER);
    CHECK(sentinel_parse_pubsub(&msg, &payload) == SENTINEL_PUBSUB_OTHER);
    CHECK(sentinel_parse_pubsub(NULL, &payload) == SENTINEL_PUBSUB_OTHER);
}

static void test_rules(void)
{
    struct redis_target t;
    const char *why;

    CHECK(sentinel_is_readonly("READONLY You can't write against a read only replica."));
    CHECK(!sentinel_is_readonly("ERR wrong number of arguments"));
    CHECK(!sentinel_is_readonly(NULL));
    CHECK(sentinel_next(0, 3) == 1);
    CHECK(sentinel_next(2, 3) == 0);
    CHECK(sentinel_next(0, 1) == 0);
    CHECK(redis_target_parse("redis://h/0", "a:1,b:2,c:3", "m", &t, &why) == 0);
    sentinel_promote(&t, 2);
    CHECK_STR_EQ(t.sentinels[0].host, "c");
    CHECK_STR_EQ(t.sentinels[1].host, "a");
    CHECK_STR_EQ(t.sentinels[2].host, "b");
    sentinel_promote(&t, 0);
    CHECK_STR_EQ(t.sentinels[0].host, "c");
    sentinel_promote(&t, 7); /* out of range: unchanged */
    CHECK_STR_EQ(t.sentinels[2].host, "b");
}

int main(void)
{
    test_target_parse();
    test_parse_master();
    test_parse_role();
    test_parse_switch();
    test_parse_pubsub();
    test_rules();
    return check_summary("test_sentinel");
}
