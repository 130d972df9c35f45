/*
 * The little HTTP/1.1 that replay speaks, as pure functions: the --to URL, and the head of
 * a response (status, framing, keep-alive). No sockets here (see http_client.c).
 */
#ifndef HOOKPIPE_CTL_HTTP_MSG_H
#define HOOKPIPE_CTL_HTTP_MSG_H

#include <stdbool.h>
#include <stddef.h>

struct http_url {
    bool tls;           /* https:// */
    char host[256];     /* name or address, without brackets */
    int port;           /* explicit, else 80 / 443 */
    char hostport[272]; /* the Host header: host[:port], IPv6 in brackets */
    char path[2048];    /* path and query, "/" when absent */
};

/* Parses http[s]://host[:port][/path]. 0, or -1 with a static reason in *why. */
int http_url_parse(const char *url, struct http_url *out, const char **why)
    __attribute__((warn_unused_result));

enum http_framing {
    HTTP_FRAME_LENGTH,  /* Content-Length bytes follow */
    HTTP_FRAME_CHUNKED, /* Transfer-Encoding: chunked */
    HTTP_FRAME_CLOSE,   /* the body ends when the server closes */
};

struct http_response_head {
    int status;                /* 100..999 */
    enum http_framing framing; /* how the body ends */
    unsigned long long length; /* HTTP_FRAME_LENGTH: body bytes */
    bool keep_alive;           /* the connection may carry the next request */
    int retry_after_s;         /* Retry-After in seconds (capped at 3600), -1 when absent */
};

/*
 * Parses a response head (status line and headers, up to and including the blank line)
 * in buf[0..len). Returns 0, or -1 with a static reason in *why.
 */
int http_response_head_parse(const char *buf, size_t len, struct http_response_head *out,
                             const char **why) __attribute__((warn_unused_result));

#endif
