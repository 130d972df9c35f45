/*
 * Unit tests for common/sentinel.c: [redis] sentinels/master_name parsing and its
 * rejections, the replies of SENTINEL get-master-addr-by-name and ROLE (built by hand as
 * hiredis would), READONLY detection, and the ask-next/promote rules.
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
    test_rules();
    return check_summary("test_sentinel");
}
