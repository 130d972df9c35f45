/*
 * Unit tests for gateway/json_scan.c: it must accept exactly the JSON objects with a
 * top-level string "event" and refuse everything else without reading past the end.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "json_scan.h"

static int scan(const char *s, struct json_event *ev)
{
    const char *why = NULL;
    int rc;
    /* an exact-size heap copy, so ASan catches any read past the end */
    char *copy = malloc(strlen(s) + 1);

    memcpy(copy, s, strlen(s));
    rc = json_scan_event(copy, strlen(s), ev, &why);
    if (rc == 0 && ev->p != NULL)
        ev->p = s + (ev->p - copy);
    free(copy);
    CHECK(rc == 0 || why != NULL);
    return rc;
}

static int event_is(const struct json_event *ev, const char *want)
{
    return ev->p != NULL && ev->len == strlen(want) && memcmp(ev->p, want, ev->len) == 0;
}

static void test_accepts(void)
{
    struct json_event ev;

    CHECK(scan("{\"event\":\"meeting.started\"}", &ev) == 0 && event_is(&ev, "meeting.started"));
    CHECK(scan(" \n{ \"a\" : [1, -2.5e+3, true, false, null, {\"event\":\"inner\"}],\r\n"
               "\t\"event\" : \"x\\\"y\" , \"z\": {} } \n",
               &ev) == 0 &&
          event_is(&ev, "x\\\"y") && ev.has_escapes);
    CHECK(scan("{\"payload\":{\"event\":\"nested\"},\"event\":\"top\"}", &ev) == 0 &&
          event_is(&ev, "top"));
    CHECK(scan("{\"event\":\"\"}", &ev) == 0 && event_is(&ev, ""));
    CHECK(scan("{\"event\":\"a\",\"event\":\"b\"}", &ev) == 0 && event_is(&ev, "b"));
    CHECK(scan("{\"event\":\"\xc3\xa9t\xc3\xa9\"}", &ev) == 0); /* UTF-8 passes through */
    CHECK(scan("{\"n\":0,\"m\":-0.0,\"e\":1E9,\"u\":\"\\u00e9\",\"event\":\"e\"}", &ev) == 0);
}

static void test_rejects(void)
{
    struct json_event ev;
    static const char *const bad[] = {
        "",
        "[]",
        "\"event\"",
        "{}",
        "{\"event\":1}",
        "{\"event\":null}",
        "{\"event\":{\"a\":1}}",
        "{\"event\":[\"a\"]}",
        "{\"event\":\"a\",\"event\":2}",
        "{\"event\":\"a\",\"event\":[]}",
        "{\"payload\":{\"event\":\"nested only\"}}",
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
        "{\"ev\\u0065nt\":\"escaped key is not the event key\"}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECKF(scan(bad[i], &ev) != 0, "case %zu accepted: %s", i, bad[i]);
}

static void test_depth(void)
{
    struct json_event ev;
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
    CHECK(scan(deep, &ev) != 0); /* refused, not a stack overflow */
    free(deep);
}

int main(void)
{
    test_accepts();
    test_rejects();
    test_depth();
    return check_summary("test_json_scan");
}
