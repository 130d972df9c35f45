/*
 * Unit tests for gateway/request.c: a request's disposition from its head, the header
 * values a delivery keeps (request id preference and cut-off, oversized signatures
 * dropped), the inputs built for verification and the push, and what a reset forgets.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "request.h"

static void parse(const char *s, struct http_head *h)
{
    CHECK_LONG_EQ(http_parse_head(s, strlen(s), h), 0);
}

static void test_disposition(void)
{
    struct request r;
    struct http_head h;

    memset(&r, 0x55, sizeof(r));
    request_reset(&r);
    CHECK(!r.keep_alive && !r.head_only && !r.unread && r.stats == NULL);
    CHECK(r.scanned == 0 && r.head_len == 0 && r.body_len == 0);
    parse("HEAD /healthz HTTP/1.1\r\n\r\n", &h);
    request_begin(&r, &h);
    CHECK(r.keep_alive && r.head_only);
    parse("GET /healthz HTTP/1.0\r\n\r\n", &h);
    request_begin(&r, &h);
    CHECK(!r.keep_alive && !r.head_only);
}

static const struct request_capture cap = {false, NULL, false, PROVIDER_ZOOM};

static void test_delivery(void)
{
    static char head[2048];
    struct request r;
    struct http_head h;
    struct verify_request v;
    struct push_request p;
    char long_id[400];

    parse("POST /hooks/acme HTTP/1.1\r\nx-zm-signature: v0=ab\r\n"
          "x-zm-request-timestamp: 17\r\nx-zm-trackingid: trk\r\nx-zm-request-id: rid\r\n\r\n",
          &h);
    request_reset(&r);
    request_keep(&r, &h, "acme", 4, 100, 5, &cap);
    CHECK_STR_EQ(r.source, "acme");
    CHECK_STR_EQ(r.signature, "v0=ab");
    CHECK_STR_EQ(r.timestamp, "17");
    CHECK(r.request_id_len == 3 && memcmp(r.request_id, "rid", 3) == 0); /* preferred */
    CHECK(r.head_len == 100 && r.body_len == 5);
    request_verify_input(&r, "hello", 1000, 300, &v);
    CHECK(v.timestamp_len == 2 && memcmp(v.timestamp, "17", 2) == 0);
    CHECK(v.signature_len == 5 && v.body_len == 5 && v.now == 1000 && v.tolerance_s == 300);
    r.done.tv_sec = 2;
    r.done.tv_usec = 5;
    request_push_input(&r, "hello", &p);
    CHECK(p.received_us == 2000005 && p.body_len == 5 && strcmp(p.source, "acme") == 0);
    CHECK(p.request_id_len == 3);

    memset(long_id, 'i', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    snprintf(head, sizeof(head),
             "POST /hooks/acme HTTP/1.1\r\nx-zm-signature: v0=%0100d\r\n"
             "x-zm-trackingid: %s\r\n\r\n",
             0, long_id);
    parse(head, &h);
    request_keep(&r, &h, "acme", 4, 0, 0, &cap);
    CHECK(r.signature_len == 0 && r.signature[0] == '\0');    /* too long: dropped, fails */
    CHECK(r.timestamp_len == 0 && r.timestamp[0] == '\0');    /* absent */
    CHECK_LONG_EQ(r.request_id_len, ENVELOPE_REQUEST_ID_MAX); /* tracking id, cut */
    CHECK(r.request_id[0] == 'i');
    parse("POST /hooks/acme HTTP/1.1\r\n\r\n", &h);
    request_keep(&r, &h, "acme", 4, 0, 0, &cap);
    CHECK(r.request_id_len == 0);
}

/* Keeps the request in head (parsed into h) and builds its verification input. */
static void keep(struct request *r, const char *head, struct http_head *h,
                 const struct request_capture *want, struct verify_request *v)
{
    size_t n = strlen(head);

    parse(head, h);
    request_reset(r);
    request_keep(r, h, "acme", 4, n, 0, want);
    request_verify_input(r, head + n, 0, 300, v); /* the body follows the head */
}

/* The Authorization and custom headers are located only when asked, once, and short. */
static void test_capture(void)
{
    static char head[2048];
    struct request_capture want = {true, "X-Key", false, PROVIDER_ZOOM};
    const char *two = "POST /hooks/acme HTTP/1.1\r\nAuthorization: a\r\nAuthorization: a\r\n"
                      "X-Key: 1\r\nX-Key: 1\r\n\r\n";
    const char *one = "POST /hooks/acme HTTP/1.1\r\nAuthorization: Basic abc\r\nx-key: kv\r\n\r\n";
    struct request r;
    struct http_head h;
    struct verify_request v;

    keep(&r, one, &h, &want, &v);
    CHECK(v.authorization == one + 42 && v.authorization_len == 9 &&
          memcmp(v.authorization, "Basic abc", 9) == 0);
    CHECK(v.custom != NULL && v.custom_len == 2 && memcmp(v.custom, "kv", 2) == 0);
    keep(&r, one, &h, &cap, &v); /* not asked for */
    CHECK(v.authorization == NULL && v.custom == NULL);
    keep(&r, two, &h, &want, &v); /* twice: neither is used */
    CHECK(v.authorization == NULL && v.custom == NULL);
    /* the longest kept, and one byte more */
    memset(head, 0, sizeof(head));
    strcpy(head, "POST /hooks/acme HTTP/1.1\r\nAuthorization: ");
    memset(head + strlen(head), 'a', REQUEST_AUTHORIZATION_MAX);
    strcat(head, "\r\n\r\n");
    keep(&r, head, &h, &want, &v);
    CHECK(v.authorization != NULL && v.authorization_len == REQUEST_AUTHORIZATION_MAX);
    memset(head, 0, sizeof(head));
    strcpy(head, "POST /hooks/acme HTTP/1.1\r\nAuthorization: ");
    memset(head + strlen(head), 'a', REQUEST_AUTHORIZATION_MAX + 1);
    strcat(head, "\r\n\r\n");
    keep(&r, head, &h, &want, &v);
    CHECK(v.authorization == NULL);
    /* the token endpoint locates its query, and says when it is too long */
    want.token_endpoint = true;
    keep(&r, "POST /hooks/acme/token?grant_type=client_credentials HTTP/1.1\r\n\r\n", &h, &want,
         &v);
    CHECK(r.token_endpoint && !r.query_too_long && r.query.set && r.query.len == 29);
    CHECK(r.query.off == 23);
    memset(head, 0, sizeof(head));
    strcpy(head, "POST /hooks/acme/token?");
    memset(head + strlen(head), 'q', REQUEST_QUERY_MAX + 1);
    strcat(head, " HTTP/1.1\r\n\r\n");
    keep(&r, head, &h, &want, &v);
    CHECK(r.query_too_long && !r.query.set);
    keep(&r, "POST /hooks/acme/token HTTP/1.1\r\n\r\n", &h, &want, &v);
    CHECK(!r.query_too_long && !r.query.set);
}

int main(void)
{
    test_disposition();
    test_delivery();
    test_capture();
    return check_summary("test_request");
}
