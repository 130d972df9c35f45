/*
 * Unit tests for gateway/http_parser.c: the request line, the headers the gateway acts
 * on, keep-alive rules, and every malformed shape it must refuse with 400 or 505.
 */
#include <string.h>

#include "check.h"
#include "http_parser.h"

static int parse(const char *s, struct http_head *h)
{
    return http_parse_head(s, strlen(s), h);
}

static int str_is(struct http_str s, const char *want)
{
    return s.p != NULL && s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

static void test_zoom_post(void)
{
    struct http_head h;
    const char *req = "POST /hooks/acme?x=1 HTTP/1.1\r\n"
                      "Host: example.com\r\n"
                      "Content-Type: application/json\r\n"
                      "Content-Length:  123 \r\n"
                      "X-Zm-Signature: v0=abc\r\n"
                      "x-zm-request-timestamp: 1658940994\r\n"
                      "X-ZM-REQUEST-ID: rid-1\r\n"
                      "x-zm-trackingid: trk\r\n"
                      "\r\n";

    CHECK_LONG_EQ(parse(req, &h), 0);
    CHECK(h.method == HTTP_METHOD_POST);
    CHECK(str_is(h.path, "/hooks/acme"));
    CHECK_LONG_EQ(h.content_length, 123);
    CHECK(str_is(h.signature, "v0=abc"));
    CHECK(str_is(h.timestamp, "1658940994"));
    CHECK(str_is(h.request_id, "rid-1"));
    CHECK(str_is(h.tracking_id, "trk"));
    CHECK(h.keep_alive);
    CHECK(!h.chunked);
    CHECK(!h.expect_continue);
    CHECK_LONG_EQ(h.minor_version, 1);
}

static void test_methods_and_versions(void)
{
    struct http_head h;

    CHECK_LONG_EQ(parse("GET /healthz HTTP/1.1\r\n\r\n", &h), 0);
    CHECK(h.method == HTTP_METHOD_GET);
    CHECK_LONG_EQ(h.content_length, -1);
    CHECK_LONG_EQ(parse("HEAD / HTTP/1.1\r\n\r\n", &h), 0);
    CHECK(h.method == HTTP_METHOD_HEAD);
    CHECK_LONG_EQ(parse("DELETE /hooks/a HTTP/1.1\r\n\r\n", &h), 0);
    CHECK(h.method == HTTP_METHOD_OTHER);
    CHECK_LONG_EQ(parse("post /hooks/a HTTP/1.1\r\n\r\n", &h), 0);
    CHECK(h.method == HTTP_METHOD_OTHER); /* methods are case-sensitive */
    CHECK_LONG_EQ(parse("GET / HTTP/1.0\r\n\r\n", &h), 0);
    CHECK(!h.keep_alive);
    CHECK_LONG_EQ(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &h), 0);
    CHECK(h.keep_alive);
    CHECK_LONG_EQ(parse("GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n", &h), 0);
    CHECK(!h.keep_alive);
    CHECK_LONG_EQ(parse("GET / HTTP/2.0\r\n\r\n", &h), 505);
    CHECK_LONG_EQ(parse("GET / HTTP/0.9\r\n\r\n", &h), 505);
    CHECK_LONG_EQ(parse("\r\nGET / HTTP/1.1\r\n\r\n", &h), 0); /* leading empty line */
}

static void test_body_headers(void)
{
    struct http_head h;

    CHECK_LONG_EQ(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &h), 0);
    CHECK(h.chunked);
    CHECK_LONG_EQ(parse("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", &h),
                  0);
    CHECK(h.expect_continue);
    CHECK_LONG_EQ(h.content_length, 5);
    CHECK_LONG_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &h),
                  0);
    CHECK_LONG_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", &h),
                  400);
    CHECK_LONG_EQ(parse("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &h), 400);
    CHECK_LONG_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", &h), 400);
    CHECK_LONG_EQ(parse("POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", &h), 400);
    CHECK_LONG_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", &h),
                  400);
    CHECK_LONG_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &h), 0);
    CHECK_LONG_EQ(h.content_length, 0);
}

static void test_malformed(void)
{
    struct http_head h;
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\n",                        /* no blank line */
        "GET /  HTTP/1.1\r\n\r\n",                   /* double space */
        "GET HTTP/1.1\r\n\r\n",                      /* no target */
        " GET / HTTP/1.1\r\n\r\n",                   /* leading space */
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",        /* space before colon */
        "GET / HTTP/1.1\r\nNoColon\r\n\r\n",         /* no colon */
        "GET / HTTP/1.1\r\n: empty\r\n\r\n",         /* empty name */
        "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", /* obsolete folding */
        "GET / HTTP/1.1\r\nA: b\nc\r\n\r\n",         /* bare LF in a value */
        "GET / HTTP/1.1\r\nA: \x01\r\n\r\n",         /* control byte */
        "GET /a\x7f HTTP/1.1\r\n\r\n",               /* DEL in target */
        "GET / HTTP/1.1\r\nA: b\r\n\r\n\r\n",        /* bytes after the head */
        "GET / XTTP/1.1\r\n\r\n",                    /* bad protocol */
        "GET / HTTP/1.12\r\n\r\n",                   /* bad version */
        "G(T / HTTP/1.1\r\n\r\n",                    /* bad method token */
        "",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECKF(parse(bad[i], &h) == 400, "case %zu was accepted", i);
}

static void test_too_many_headers(void)
{
    char buf[8192];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n");
    struct http_head h;

    for (int i = 0; i < HTTP_MAX_HEADERS; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "A%d: b\r\n", i);
    memcpy(buf + n, "\r\n", 3);
    CHECK_LONG_EQ(http_parse_head(buf, n + 2, &h), 0);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "Z: z\r\n\r\n");
    CHECK_LONG_EQ(http_parse_head(buf, n, &h), 400);
}

/* Once a Connection header lists close, no later header makes the connection persist. */
static void test_connection_close_is_final(void)
{
    struct http_head h;

    CHECK_LONG_EQ(parse("GET / HTTP/1.1\r\nConnection: close\r\n"
                        "Connection: keep-alive\r\n\r\n",
                        &h),
                  0);
    CHECK(!h.keep_alive);
    CHECK_LONG_EQ(parse("GET / HTTP/1.0\r\nConnection: close\r\n"
                        "Connection: keep-alive\r\n\r\n",
                        &h),
                  0);
    CHECK(!h.keep_alive);
    CHECK_LONG_EQ(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n"
                        "Connection: close\r\n\r\n",
                        &h),
                  0);
    CHECK(!h.keep_alive);
    CHECK_LONG_EQ(parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &h), 0);
    CHECK(!h.keep_alive);
}

/* http_find_header: any header by name, case-insensitive, trimmed, counted; the query. */
static void test_find_header(void)
{
    struct http_head h;
    struct http_str v;

    CHECK(parse("POST /hooks/a/token?grant_type=x&y HTTP/1.1\r\nAuthorization:  Basic abc \r\n"
                "X-Hook-Key: k1\r\nx-hook-keys: no\r\nX-HOOK-KEY:\tk2\r\n\r\n",
                &h) == 0);
    CHECK(str_is(h.path, "/hooks/a/token"));
    CHECK(str_is(h.query, "grant_type=x&y"));
    CHECK(http_find_header(&h, "authorization", 13, &v) == 1 && str_is(v, "Basic abc"));
    CHECK(http_find_header(&h, "x-hook-key", 10, &v) == 2 && str_is(v, "k1"));
    CHECK(http_find_header(&h, "x-hook", 6, &v) == 0 && v.p == NULL);
    CHECK(http_find_header(&h, "host", 4, &v) == 0);
    CHECK(parse("GET / HTTP/1.1\r\n\r\n", &h) == 0);
    CHECK(h.query.p == NULL && h.fields.len == 0);
    CHECK(http_find_header(&h, "authorization", 13, &v) == 0);
    CHECK(parse("GET /? HTTP/1.1\r\nA:\r\n\r\n", &h) == 0);
    CHECK(h.query.p != NULL && h.query.len == 0);
    CHECK(http_find_header(&h, "a", 1, &v) == 1 && v.len == 0);
}

int main(void)
{
    test_zoom_post();
    test_methods_and_versions();
    test_body_headers();
    test_malformed();
    test_too_many_headers();
    test_connection_close_is_final();
    test_find_header();
    return check_summary("test_http_parser");
}
