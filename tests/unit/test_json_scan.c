/*
 * Unit tests for common/json_scan.c: it must accept exactly the JSON objects, pick out
 * "event", "event_ts" and "payload"."account_id", refuse with JSON_SCAN_TEXT what
 * PostgreSQL cannot store, and emit the body less the volatile Zoom values.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "json_scan.h"

struct collect {
    char buf[4096];
    size_t len;
};

static void collect_emit(void *arg, const char *p, size_t len)
{
    struct collect *c = arg;

    memcpy(c->buf + c->len, p, len);
    c->len += len;
    c->buf[c->len] = '\0';
}

/* Scans an exact-size heap copy of s, so ASan catches any read past the end. */
static int scan_flags(const char *s, int flags, struct json_scan_result *res, struct collect *out)
{
    const char *why = NULL;
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    struct json_scan_opts opts = {flags, out ? collect_emit : NULL, out};
    int rc;

    memcpy(copy, s, n);
    if (out != NULL)
        out->len = 0;
    rc = json_scan(copy, n, &opts, res, &why);
    /* re-point results into s, since copy is freed */
    if (res->event.p)
        res->event.p = s + (res->event.p - copy);
    if (res->event_ts.p)
        res->event_ts.p = s + (res->event_ts.p - copy);
    if (res->account_id.p)
        res->account_id.p = s + (res->account_id.p - copy);
    free(copy);
    CHECK(rc == 0 || why != NULL);
    return rc;
}

static int scan(const char *s, struct json_scan_result *res)
{
    return scan_flags(s, 0, res, NULL);
}

static int str_is(const struct json_scan_str *v, const char *want)
{
    return v->p != NULL && v->len == strlen(want) && memcmp(v->p, want, v->len) == 0;
}

static void test_accepts(void)
{
    struct json_scan_result r;

    CHECK(scan("{\"event\":\"meeting.started\"}", &r) == 0 && str_is(&r.event, "meeting.started"));
    CHECK(scan(" \n{ \"a\" : [1, -2.5e+3, true, false, null, {\"event\":\"inner\"}],\r\n"
               "\t\"event\" : \"x\\\"y\" , \"z\": {} } \n",
               &r) == 0 &&
          str_is(&r.event, "x\\\"y") && r.event.escaped);
    CHECK(scan("{\"payload\":{\"event\":\"nested\"},\"event\":\"top\"}", &r) == 0 &&
          str_is(&r.event, "top"));
    CHECK(scan("{\"event\":\"\"}", &r) == 0 && str_is(&r.event, ""));
    CHECK(scan("{\"event\":\"a\",\"event\":\"b\"}", &r) == 0 && str_is(&r.event, "b"));
    CHECK(scan("{\"event\":\"\xc3\xa9t\xc3\xa9\"}", &r) == 0);
    CHECK(scan("{\"n\":0,\"m\":-0.0,\"e\":1E9,\"u\":\"\\u00e9\",\"event\":\"e\"}", &r) == 0);
    CHECK(scan("{}", &r) == 0 && r.event.p == NULL); /* valid object, no event */
    CHECK(scan("{\"big\":123456789012345678901234567890}", &r) == 0);
}

static void test_members(void)
{
    struct json_scan_result r;

    CHECK(scan("{\"event\":\"e\",\"event_ts\":1626230691572,\"payload\":{\"account_id\":\"AB\","
               "\"object\":{\"account_id\":\"inner\"}}}",
               &r) == 0);
    CHECK(str_is(&r.event_ts, "1626230691572"));
    CHECK(str_is(&r.account_id, "AB"));
    CHECK(scan("{\"account_id\":\"top\",\"payload\":{\"object\":{\"account_id\":\"x\"}}}", &r) ==
              0 &&
          r.account_id.p == NULL);
    CHECK(scan("{\"payload\":{\"account_id\":7}}", &r) == 0 && r.account_id.p == NULL);
    CHECK(scan("{\"payload\":[{\"account_id\":\"x\"}]}", &r) == 0 && r.account_id.p == NULL);
    CHECK(scan("{\"event_ts\":\"1\"}", &r) == 0 && r.event_ts.p == NULL);
    CHECK(scan("{\"event_ts\":-1.5e3}", &r) == 0 && str_is(&r.event_ts, "-1.5e3"));
    CHECK(scan("{\"event_ts\":1,\"event_ts\":null}", &r) == 0 && r.event_ts.p == NULL);
    CHECK(scan("{\"x\":{\"event_ts\":5}}", &r) == 0 && r.event_ts.p == NULL);
}

static void test_rejects(void)
{
    struct json_scan_result r;
    static const char *const bad[] = {
        "",
        "[]",
        "\"event\"",
        "{\"event\":\"a\"",
        "{\"event\":\"a}",
        "{\"event\":\"a\"}}",
        "{\"event\":\"a\"} x",
        "{\"event\":\"a\",}",
        "{,\"event\":\"a\"}",
        "{\"event\" \"a\"}",
        "{event:\"a\"}",
        "{'event':'a'}",
        "{\"event\":\"a\",\"b\":01}",
        "{\"event\":\"a\",\"b\":1.}",
        "{\"event\":\"a\",\"b\":.5}",
        "{\"event\":\"a\",\"b\":1e}",
        "{\"event\":\"a\",\"b\":-}",
        "{\"event\":\"a\",\"b\":tru}",
        "{\"event\":\"a\",\"b\":nul}",
        "{\"event\":\"a\",\"b\":[1,]}",
        "{\"event\":\"a\",\"b\":[1 2]}",
        "{\"event\":\"a\\x\"}",
        "{\"event\":\"a\\u12\"}",
        "{\"event\":\"tab\there\"}",
        "{\"event\":\"a\",\"b\":\"\\",
        "{\"a\":[}",
        "{\"a\":{]}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECKF(scan(bad[i], &r) != 0, "case %zu accepted: %s", i, bad[i]);
    /* non-string "event" values leave event unset, the last one counting */
    static const char *const no_event[] = {
        "{\"event\":1}",
        "{\"event\":null}",
        "{\"event\":{\"a\":1}}",
        "{\"event\":[\"a\"]}",
        "{\"event\":\"a\",\"event\":2}",
        "{\"event\":\"a\",\"event\":[]}",
        "{\"payload\":{\"event\":\"nested only\"}}",
        "{\"ev\\u0065nt\":\"an escaped key is not picked out\"}",
    };
    for (size_t i = 0; i < sizeof(no_event) / sizeof(no_event[0]); i++)
        CHECKF(scan(no_event[i], &r) == 0 && r.event.p == NULL, "case %zu: %s", i, no_event[i]);
}

static void test_text_mode(void)
{
    struct json_scan_result r;
    static const char *const ok[] = {
        "{\"e\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}", /* 2, 3 and 4 byte sequences */
        "{\"e\":\"\\ud83d\\ude00\"}",                       /* a surrogate pair */
        "{\"e\":\"\\u0001\"}",
    };
    static const char *const bad[] = {
        "{\"e\":\"\\u0000\"}",
        "{\"e\":\"a\\u0000b\"}",
        "{\"e\":\"\\ud800\"}",
        "{\"e\":\"\\udc00\"}",
        "{\"e\":\"\\ud800\\u0041\"}",
        "{\"e\":\"\xff\"}",
        "{\"e\":\"\xc3\"}",
        "{\"e\":\"\xc0\xaf\"}",         /* overlong */
        "{\"e\":\"\xed\xa0\x80\"}",     /* encoded surrogate */
        "{\"e\":\"\xf4\x90\x80\x80\"}", /* beyond U+10FFFF */
        "{\"e\":\"\xe2\x82\"}",         /* truncated */
        "{\"\xff\":1}",                 /* keys too */
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        CHECKF(scan_flags(ok[i], JSON_SCAN_TEXT, &r, NULL) == 0, "ok case %zu refused", i);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECKF(scan_flags(bad[i], JSON_SCAN_TEXT, &r, NULL) != 0, "bad case %zu accepted", i);
        CHECKF(scan_flags(bad[i], 0, &r, NULL) == 0, "bad case %zu refused without TEXT", i);
    }
}

static void test_emit(void)
{
    struct json_scan_result r;
    struct collect c;

    CHECK(scan_flags("{\"event\":\"e\",\"a\":1}", 0, &r, &c) == 0);
    CHECK_STR_EQ(c.buf, "{\"event\":\"e\",\"a\":1}");
    CHECK(scan_flags("{\"download_token\":\"T1\",\"payload\":{\"object\":{\"recording_files\":[{"
                     "\"download_url\":\"https://x/1?t=a\",\"play_url\":\"p\",\"id\":\"f\"}]}}}",
                     0, &r, &c) == 0);
    CHECK_STR_EQ(c.buf, "{\"download_token\":,\"payload\":{\"object\":{\"recording_files\":[{"
                        "\"download_url\":,\"play_url\":,\"id\":\"f\"}]}}}");
    /* only string values are left out */
    CHECK(scan_flags("{\"download_url\":5,\"play_url\":null}", 0, &r, &c) == 0);
    CHECK_STR_EQ(c.buf, "{\"download_url\":5,\"play_url\":null}");
    /* a volatile name as a value is not a member name */
    CHECK(scan_flags("{\"k\":\"download_token\"}", 0, &r, &c) == 0);
    CHECK_STR_EQ(c.buf, "{\"k\":\"download_token\"}");
}

static void test_depth(void)
{
    struct json_scan_result r;
    size_t n = JSON_SCAN_MAX_DEPTH + 10;
    char *deep = malloc(2 * n + 64);
    size_t len = 0;

    len += (size_t)sprintf(deep, "{\"event\":\"x\",\"d\":");
    for (size_t i = 0; i < n; i++)
        deep[len++] = '[';
    for (size_t i = 0; i < n; i++)
        deep[len++] = ']';
    deep[len++] = '}';
    deep[len] = '\0';
    CHECK(scan(deep, &r) != 0); /* refused, not a stack overflow */
    free(deep);
}

/* Decodes the "event" member of body; NULL when json_scan_str_decode refuses it. */
static char *decode_event(const char *body)
{
    struct json_scan_result r;

    CHECK(scan(body, &r) == 0);
    CHECK(r.event.p != NULL);
    return r.event.p ? json_scan_str_decode(&r.event) : NULL;
}

static void test_str_decode(void)
{
    static const struct {
        const char *body, *want; /* want NULL: refused */
    } cases[] = {
        {"{\"event\":\"plain.event\"}", "plain.event"},
        {"{\"event\":\"\"}", ""},
        {"{\"event\":\"a\\\"b\\\\c\\/d\"}", "a\"b\\c/d"},
        {"{\"event\":\"\\b\\f\\n\\r\\t\"}", "\b\f\n\r\t"},
        {"{\"event\":\"ev\\u0065nt \\u00e9 \\u20AC\"}", "event \xc3\xa9 \xe2\x82\xac"},
        {"{\"event\":\"\\ud83d\\ude00!\"}", "\xf0\x9f\x98\x80!"},
        {"{\"event\":\"raw \xc3\xa9\"}", "raw \xc3\xa9"},
        {"{\"event\":\"a\\u0000b\"}", NULL},
        {"{\"event\":\"\\ude00\"}", NULL},
        {"{\"event\":\"\\ud83dx\"}", NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = decode_event(cases[i].body);
        if (cases[i].want == NULL)
            CHECK(got == NULL);
        else
            CHECK_STR_EQ(got ? got : "(null)", cases[i].want);
        free(got);
    }
}

int main(void)
{
    test_accepts();
    test_members();
    test_rejects();
    test_text_mode();
    test_emit();
    test_depth();
    test_str_decode();
    return check_summary("test_json_scan");
}
