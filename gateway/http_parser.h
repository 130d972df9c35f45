/*
 * HTTP/1.x request-head parser for the gateway. Pure logic: it reads one complete
 * head (request line + headers, ending in CRLF CRLF) from a buffer and records where
 * the few headers the gateway needs are; any other header can be looked up by name.
 * No allocation; fuzzed in tests/fuzz.
 */
#ifndef HOOKPIPE_HTTP_PARSER_H
#define HOOKPIPE_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http_method {
    HTTP_METHOD_OTHER,
    HTTP_METHOD_GET,
    HTTP_METHOD_HEAD,
    HTTP_METHOD_POST,
};

struct http_str {
    const char *p; /* points into the parsed buffer; NULL when absent */
    size_t len;
};

struct http_head {
    enum http_method method;
    struct http_str path;        /* request target without the query string */
    struct http_str query;       /* what follows '?' in the target (p NULL when no '?') */
    int minor_version;           /* HTTP/1.<minor> */
    bool keep_alive;             /* connection persists after this request */
    bool connection_close;       /* a Connection header listed close */
    bool expect_continue;        /* Expect: 100-continue */
    bool chunked;                /* a Transfer-Encoding header was present */
    int64_t content_length;      /* -1 when absent */
    struct http_str signature;   /* x-zm-signature */
    struct http_str timestamp;   /* x-zm-request-timestamp */
    struct http_str request_id;  /* x-zm-request-id */
    struct http_str tracking_id; /* x-zm-trackingid */
    struct http_str fields;      /* the header lines (from the first to the final CRLF) */
    const char *start;           /* the buffer parsed: every pointer above is into it */
};

#define HTTP_MAX_HEADERS 100

/*
 * Parses buf[0..len), which must hold exactly one head ending in "\r\n\r\n".
 * Returns 0, or the HTTP status to answer for a malformed head: 400 (bad syntax,
 * conflicting Content-Length, too many headers), 505 (not HTTP/1.x).
 */
int http_parse_head(const char *buf, size_t len, struct http_head *head)
    __attribute__((warn_unused_result));

/*
 * Looks up header name[0..nlen) (case-insensitive) in a head http_parse_head accepted,
 * without allocating: *out is the first occurrence's trimmed value. Returns how many
 * times the header occurs (0, 1, or 2 for two or more), so a caller can refuse a
 * duplicated credential.
 */
int http_find_header(const struct http_head *head, const char *name, size_t nlen,
                     struct http_str *out);

#endif
