/*
 * Unit tests for ctl/http_msg.c: replay's --to URL and response heads (status, framing,
 * keep-alive), including malformed ones.
 */
#include "check.h"
#include "http_msg.h"

static int head(const char *s, struct http_response_head *h)
{
    const char *why;
    return http_response_head_parse(s, strlen(s), h, &why);
}

int main(void)
{
    struct http_url u;
    struct http_response_head h;
    const char *why;

    CHECK(http_url_parse("http://127.0.0.1:8080/hooks/acme", &u, &why) == 0);
    CHECK(!u.tls && u.port == 8080);
    CHECK_STR_EQ(u.host, "127.0.0.1");
    CHECK_STR_EQ(u.hostport, "127.0.0.1:8080");
    CHECK_STR_EQ(u.path, "/hooks/acme");
    CHECK(http_url_parse("https://example.com", &u, &why) == 0);
    CHECK(u.tls && u.port == 443);
    CHECK_STR_EQ(u.path, "/");
    CHECK_STR_EQ(u.hostport, "example.com");
    CHECK(http_url_parse("HTTPS://[::1]:8443/x?y=1", &u, &why) == 0);
    CHECK_STR_EQ(u.host, "::1");
    CHECK_STR_EQ(u.hostport, "[::1]:8443");
    CHECK_STR_EQ(u.path, "/x?y=1");
    CHECK(http_url_parse("http://h?q", &u, &why) == 0);
    CHECK_STR_EQ(u.path, "/?q");
    const char *bad[] = {"ftp://h/",      "h:80/x",         "http://",        "http:///x",
                         "http://h:0/",   "http://h:65536", "http://h:x/",    "http://u:p@h/",
                         "http://[::1/",  "http://h/a b",   "http://h/#frag", "http://h:80x",
                         "http://[::1]x/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECKF(http_url_parse(bad[i], &u, &why) < 0, "%s accepted", bad[i]);

    CHECK(head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", &h) == 0);
    CHECK(h.status == 200 && h.framing == HTTP_FRAME_LENGTH && h.length == 12 && h.keep_alive);
    CHECK(head("HTTP/1.1 503 Busy\r\ncontent-length:0\r\nConnection: close\r\n\r\n", &h) == 0);
    CHECK(h.status == 503 && h.length == 0 && !h.keep_alive);
    CHECK(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &h) == 0);
    CHECK(h.framing == HTTP_FRAME_CHUNKED && h.keep_alive);
    CHECK(head("HTTP/1.1 200 OK\r\nX: y\r\n\r\n", &h) == 0);
    CHECK(h.framing == HTTP_FRAME_CLOSE && !h.keep_alive);
    CHECK(head("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", &h) == 0);
    CHECK(!h.keep_alive);
    CHECK(head("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: Keep-Alive\r\n\r\n", &h) == 0);
    CHECK(h.keep_alive);
    CHECK(head("HTTP/1.1 204 No Content\r\n\r\n", &h) == 0);
    CHECK(h.framing == HTTP_FRAME_LENGTH && h.length == 0 && h.keep_alive);
    CHECK(head("HTTP/1.1 100 Continue\r\n\r\n", &h) == 0 && h.status == 100);
    CHECK(head("HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n", &h) == 0 && h.status == 200);
    CHECK(head("HTTP/1.1 200 OK\nContent-Length: 3\n\n", &h) == 0 && h.length == 3);
    CHECK(h.retry_after_s == -1);
    CHECK(head("HTTP/1.1 503 Busy\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n", &h) == 0);
    CHECK(h.retry_after_s == 5);
    CHECK(head("HTTP/1.1 503 Busy\r\nretry-after:99999999999999\r\n\r\n", &h) == 0);
    CHECK(h.retry_after_s == 3600);
    CHECK(head("HTTP/1.1 503 Busy\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n", &h) == 0);
    CHECK(h.retry_after_s == -1);
    CHECK(head("HTTP/1.1 503 Busy\r\nRetry-After: \r\n\r\n", &h) == 0 && h.retry_after_s == -1);
    const char *badh[] = {"HTTP/2 200 OK\r\n\r\n",
                          "HTTP/1.1 20 OK\r\n\r\n",
                          "HTTP/1.1 2000 OK\r\n\r\n",
                          "HTTP/1.1 099 X\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
                          "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nX: y\r\n",
                          "garbage"};
    for (size_t i = 0; i < sizeof(badh) / sizeof(badh[0]); i++)
        CHECKF(head(badh[i], &h) < 0, "%s accepted", badh[i]);
    return check_summary("test_ctl_http_msg");
}
