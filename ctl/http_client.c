/*
 * Blocking HTTP/1.1 over TCP or OpenSSL for replay (see http_client.h). Timeouts come from
 * SO_RCVTIMEO/SO_SNDTIMEO (connect honours the send timeout on Linux), so no call blocks
 * for longer than timeout_s.
 */
#include "http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTP_BUF 16384

struct http_client {
    const struct http_url *url;
    SSL_CTX *tls_ctx; /* NULL: plain */
    int timeout_s;
    int fd;   /* -1 while disconnected */
    SSL *ssl; /* NULL unless connected over TLS */
    char rbuf[HTTP_BUF];
    size_t rpos, rlen; /* unread bytes are rbuf[rpos..rlen) */
};

static void http_tls_error(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256];

    ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(err, errlen, "%s: %s", what, e != 0 ? buf : "failed");
    ERR_clear_error();
}

SSL_CTX *http_tls_ctx_new(const char *cacert, bool insecure, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        http_tls_error(err, errlen, "TLS");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return ctx;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (cacert != NULL ? SSL_CTX_load_verify_locations(ctx, cacert, NULL) != 1
                       : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        char what[300];
        snprintf(what, sizeof(what), "cannot load CA certificates%s%s", cacert ? " from " : "",
                 cacert ? cacert : "");
        http_tls_error(err, errlen, what);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

struct http_client *http_client_new(const struct http_url *url, SSL_CTX *tls, int timeout_s)
{
    struct http_client *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->url = url;
    c->tls_ctx = tls;
    c->timeout_s = timeout_s;
    c->fd = -1;
    return c;
}

static void http_close(struct http_client *c)
{
    if (c->ssl != NULL) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->rpos = c->rlen = 0;
}

void http_client_free(struct http_client *c)
{
    if (c == NULL)
        return;
    http_close(c);
    free(c);
}

static int http_connect(struct http_client *c, char *err, size_t errlen)
{
    struct addrinfo hints, *ai = NULL, *a;
    struct timeval tv = {c->timeout_s, 0};
    char port[8];
    int gai, one = 1, last_errno = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", c->url->port);
    gai = getaddrinfo(c->url->host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", c->url->host, gai_strerror(gai));
        return -1;
    }
    for (a = ai; a != NULL; a = a->ai_next) {
        c->fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (c->fd < 0) {
            last_errno = errno;
            continue;
        }
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(c->fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        last_errno = errno;
        close(c->fd);
        c->fd = -1;
    }
    freeaddrinfo(ai);
    if (c->fd < 0) {
        snprintf(
            err, errlen, "cannot connect to %s: %s", c->url->hostport,
            strerror(last_errno == EINPROGRESS || last_errno == EAGAIN ? ETIMEDOUT : last_errno));
        return -1;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (c->tls_ctx != NULL) {
        unsigned char addr[16];
        bool is_ip = inet_pton(AF_INET, c->url->host, addr) == 1 ||
                     inet_pton(AF_INET6, c->url->host, addr) == 1;
        c->ssl = SSL_new(c->tls_ctx);
        if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
            http_tls_error(err, errlen, "TLS");
            http_close(c);
            return -1;
        }
        if (is_ip) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->url->host);
        } else {
            SSL_set_tlsext_host_name(c->ssl, c->url->host);
            SSL_set1_host(c->ssl, c->url->host);
        }
        if (SSL_connect(c->ssl) != 1) {
            long v = SSL_get_verify_result(c->ssl);
            if (v != X509_V_OK)
                snprintf(err, errlen, "TLS handshake with %s: certificate verify failed: %s",
                         c->url->hostport, X509_verify_cert_error_string(v));
            else
                http_tls_error(err, errlen, "TLS handshake");
            http_close(c);
            return -1;
        }
    }
    return 0;
}

static int http_write_all(struct http_client *c, const char *p, size_t n, char *err, size_t errlen)
{
    while (n > 0) {
        ssize_t w;
        if (c->ssl != NULL) {
            size_t done = 0;
            if (SSL_write_ex(c->ssl, p, n, &done) != 1) {
                http_tls_error(err, errlen, "TLS write");
                return -1;
            }
            w = (ssize_t)done;
        } else {
            w = send(c->fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                snprintf(err, errlen, "send: %s", strerror(errno == EAGAIN ? ETIMEDOUT : errno));
                return -1;
            }
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads more bytes into rbuf. Returns the count, 0 at EOF, -1 on error (err set). */
static ssize_t http_fill(struct http_client *c, char *err, size_t errlen)
{
    ssize_t r;

    if (c->rpos > 0) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    if (c->rlen == sizeof(c->rbuf)) {
        snprintf(err, errlen, "response line or head too long");
        return -1;
    }
    for (;;) {
        if (c->ssl != NULL) {
            size_t got = 0;
            int rc = SSL_read_ex(c->ssl, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, &got);
            if (rc == 1) {
                r = (ssize_t)got;
            } else {
                int e = SSL_get_error(c->ssl, rc);
                if (e == SSL_ERROR_ZERO_RETURN ||
                    (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0))
                    return 0;
                if (e == SSL_ERROR_SSL &&
                    ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
                    ERR_clear_error();
                    return 0;
                }
                if (e == SSL_ERROR_SYSCALL && errno != 0) {
                    snprintf(err, errlen, "TLS read: %s",
                             strerror(errno == EAGAIN ? ETIMEDOUT : errno));
                    return -1;
                }
                http_tls_error(err, errlen, "TLS read");
                return -1;
            }
        } else {
            r = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                snprintf(err, errlen, "recv: %s", strerror(errno == EAGAIN ? ETIMEDOUT : errno));
                return -1;
            }
        }
        c->rlen += (size_t)r;
        return r;
    }
}

/* Discards n body bytes. */
static int http_skip(struct http_client *c, unsigned long long n, char *err, size_t errlen)
{
    while (n > 0) {
        size_t have = c->rlen - c->rpos;
        if (have == 0) {
            ssize_t r = http_fill(c, err, errlen);
            if (r <= 0) {
                if (r == 0)
                    snprintf(err, errlen, "connection closed inside the response body");
                return -1;
            }
            continue;
        }
        if (have > n)
            have = (size_t)n;
        c->rpos += have;
        n -= have;
    }
    return 0;
}

/* Reads one CRLF-terminated line into line (NUL-terminated, CRLF removed). */
static int http_line(struct http_client *c, char *line, size_t cap, char *err, size_t errlen)
{
    for (;;) {
        char *nl = memchr(c->rbuf + c->rpos, '\n', c->rlen - c->rpos);
        if (nl != NULL) {
            size_t n = (size_t)(nl - (c->rbuf + c->rpos));
            size_t keep = n > 0 && nl[-1] == '\r' ? n - 1 : n;
            if (keep >= cap) {
                snprintf(err, errlen, "chunk line too long");
                return -1;
            }
            memcpy(line, c->rbuf + c->rpos, keep);
            line[keep] = '\0';
            c->rpos += n + 1;
            return 0;
        }
        ssize_t r = http_fill(c, err, errlen);
        if (r <= 0) {
            if (r == 0)
                snprintf(err, errlen, "connection closed inside a chunked body");
            return -1;
        }
    }
}

static int http_skip_chunked(struct http_client *c, char *err, size_t errlen)
{
    char line[1024];

    for (;;) {
        char *end;
        unsigned long long n;
        if (http_line(c, line, sizeof(line), err, errlen) < 0)
            return -1;
        n = strtoull(line, &end, 16);
        if (end == line || (*end != '\0' && *end != ';' && *end != ' ')) {
            snprintf(err, errlen, "bad chunk size");
            return -1;
        }
        if (n == 0)
            break;
        if (http_skip(c, n, err, errlen) < 0 || http_line(c, line, sizeof(line), err, errlen) < 0)
            return -1;
    }
    do { /* trailers, up to the empty line */
        if (http_line(c, line, sizeof(line), err, errlen) < 0)
            return -1;
    } while (line[0] != '\0');
    return 0;
}

/*
 * Reads one whole response. Returns the status, or -1; *nothing is set when the
 * connection ended before the first byte of it (a keep-alive connection closed by the peer).
 */
static int http_read_response(struct http_client *c, bool *nothing, int *retry_after_s, char *err,
                              size_t errlen)
{
    struct http_response_head head;
    const char *why;

    *nothing = true;
    for (;;) {
        char *end = memmem(c->rbuf + c->rpos, c->rlen - c->rpos, "\r\n\r\n", 4);
        size_t hlen;
        if (end == NULL) {
            ssize_t r = http_fill(c, err, errlen);
            if (r <= 0) {
                if (r == 0)
                    snprintf(err, errlen, "connection closed before a response");
                return -1;
            }
            *nothing = false;
            continue;
        }
        *nothing = false;
        hlen = (size_t)(end + 4 - (c->rbuf + c->rpos));
        if (http_response_head_parse(c->rbuf + c->rpos, hlen, &head, &why) < 0) {
            snprintf(err, errlen, "bad response: %s", why);
            return -1;
        }
        c->rpos += hlen;
        if (head.status / 100 != 1)
            break; /* an interim 1xx answer is skipped */
    }
    if (head.framing == HTTP_FRAME_LENGTH) {
        if (http_skip(c, head.length, err, errlen) < 0)
            return -1;
    } else if (head.framing == HTTP_FRAME_CHUNKED) {
        if (http_skip_chunked(c, err, errlen) < 0)
            return -1;
    } else {
        for (;;) {
            ssize_t r;
            c->rpos = c->rlen = 0;
            r = http_fill(c, err, errlen);
            if (r < 0)
                return -1;
            if (r == 0)
                break;
        }
    }
    if (!head.keep_alive)
        http_close(c);
    *retry_after_s = head.retry_after_s;
    return head.status;
}

int http_client_post(struct http_client *c, const char *headers, const char *body, size_t len,
                     int *retry_after_s, char *err, size_t errlen)
{
    char head[4096 + 1024];
    int hlen, status = -1;

    *retry_after_s = -1;
    hlen = snprintf(head, sizeof(head),
                    "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hookpipe-ctl/%s\r\n"
                    "Content-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
                    c->url->path, c->url->hostport, HOOKPIPE_VERSION, len, headers);
    if (hlen < 0 || (size_t)hlen >= sizeof(head)) {
        snprintf(err, errlen, "request head too long");
        return -1;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        bool reused = c->fd >= 0, nothing = false;
        if (c->fd < 0 && http_connect(c, err, errlen) < 0)
            return -1;
        if (http_write_all(c, head, (size_t)hlen, err, errlen) == 0 &&
            http_write_all(c, body, len, err, errlen) == 0) {
            status = http_read_response(c, &nothing, retry_after_s, err, errlen);
            if (status >= 0)
                return status;
        } else {
            nothing = true;
        }
        http_close(c);
        if (!(reused && nothing))
            break; /* a fresh connection failed: report it */
    }
    return -1;
}
