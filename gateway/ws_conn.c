/* A client WebSocket link over TLS on libevent, framed by wslay (see ws_conn.h). */
#include "ws_conn.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <wslay/wslay.h>

#include "base64.h"
#include "hostport.h"
#include "timeutil.h"

#define WS_HEAD_MAX 16384          /* the server's upgrade answer */
#define WS_INPUT_HIGH (256 * 1024) /* read no further while this much is unparsed */
#define WS_CLOSE_LINGER_MS 1000    /* after our close frame: the answer within this of a byte */
#define WS_CLOSE_MAX_MS 10000      /* and within this of the close frame, whatever comes */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_HOST_MAX 256

enum ws_state {
    WS_CONNECTING, /* TCP + TLS */
    WS_UPGRADING,  /* the upgrade request sent, its answer awaited */
    WS_OPEN,       /* frames */
    WS_CLOSING,    /* our close frame is leaving */
    WS_DEAD,       /* down() is scheduled */
};

struct ws_conn {
    struct event_base *base;
    struct bufferevent *bev;
    wslay_event_context_ptr ws;
    enum ws_state state;
    struct ws_conn_cbs cbs;
    void *arg;
    char *request; /* the upgrade request (holds the token: wiped) */
    char key[25];  /* Sec-WebSocket-Key */
    size_t max_message;
    char *msg; /* the message being assembled */
    size_t msg_len, msg_cap;
    bool msg_binary;          /* its first frame's opcode */
    bool msg_too_large;       /* it outgrew max_message: skipped to its end */
    bool in_data_frame;       /* the frame being read is a data frame (not control) */
    bool paused;              /* the owner stopped reading */
    bool eof;                 /* the socket's input ended */
    double closing_since;     /* monotonic time our close frame was queued */
    struct event *timer_ev;   /* handshake deadline, then the close linger */
    struct event *process_ev; /* parse input already read (after a resume) */
    struct event *dead_ev;    /* runs down() outside any other callback */
    enum ws_down why;
    char detail[160];
};

void ws_conn_accept_for(const char *key, char out[29])
{
    unsigned char md[SHA_DIGEST_LENGTH];
    char buf[64];

    snprintf(buf, sizeof(buf), "%s%s", key, WS_GUID);
    SHA1((const unsigned char *)buf, strlen(buf), md);
    base64_encode(md, sizeof(md), out, false);
}

/* Schedules down(why) (the first reason wins) and stops all I/O. */
static void ws_conn_die(struct ws_conn *c, enum ws_down why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ws_conn_die(struct ws_conn *c, enum ws_down why, const char *fmt, ...)
{
    va_list ap;

    if (c->state == WS_DEAD)
        return;
    c->state = WS_DEAD;
    c->why = why;
    if (fmt != NULL) { /* NULL: the reason ws_conn_close stored */
        va_start(ap, fmt);
        vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
        va_end(ap);
    }
    if (c->bev != NULL)
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    evtimer_del(c->timer_ev);
    event_active(c->dead_ev, 0, 0);
}

static void ws_conn_dead_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ws_conn *c = arg;

    c->cbs.down(c->arg, c->why, c->detail);
}

/* The OpenSSL errors queued on this thread, as one line (consumed). */
static void ws_conn_ssl_errors(struct ws_conn *c, char *out, size_t cap)
{
    unsigned long e;
    size_t n = 0;

    out[0] = '\0';
    while ((e = bufferevent_get_openssl_error(c->bev)) != 0) {
        char one[200];
        ERR_error_string_n(e, one, sizeof(one));
        if (n + 2 < cap)
            n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "; " : "", one);
    }
}

/* ---- wslay's I/O: the bufferevent's buffers ------------------------------------------- */

static ssize_t ws_conn_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                               void *user_data)
{
    struct ws_conn *c = user_data;
    int n;

    (void)flags;
    if (c->paused || c->state == WS_DEAD ||
        (n = evbuffer_remove(bufferevent_get_input(c->bev), buf, len)) <= 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    return n;
}

static ssize_t ws_conn_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                               int flags, void *user_data)
{
    struct ws_conn *c = user_data;

    (void)flags;
    if (evbuffer_add(bufferevent_get_output(c->bev), data, len) < 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static int ws_conn_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                              void *user_data)
{
    (void)ctx;
    (void)user_data;
    return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static bool ws_opcode_is_control(uint8_t op)
{
    return (op & 0x08) != 0;
}

static void ws_conn_frame_start_cb(wslay_event_context_ptr ctx,
                                   const struct wslay_event_on_frame_recv_start_arg *arg,
                                   void *user_data)
{
    struct ws_conn *c = user_data;

    (void)ctx;
    c->in_data_frame = !ws_opcode_is_control(arg->opcode);
    if (c->in_data_frame && arg->opcode != WSLAY_CONTINUATION_FRAME) {
        c->msg_len = 0;
        c->msg_too_large = false;
        c->msg_binary = arg->opcode == WSLAY_BINARY_FRAME;
    }
}

static void ws_conn_frame_chunk_cb(wslay_event_context_ptr ctx,
                                   const struct wslay_event_on_frame_recv_chunk_arg *arg,
                                   void *user_data)
{
    struct ws_conn *c = user_data;
    size_t need;

    (void)ctx;
    if (!c->in_data_frame || c->msg_too_large)
        return;
    need = c->msg_len + arg->data_length;
    if (need > c->max_message) {
        c->msg_too_large = true; /* skipped to its end; the link stays */
        free(c->msg);
        c->msg = NULL;
        c->msg_cap = c->msg_len = 0;
        return;
    }
    if (need > c->msg_cap) {
        size_t cap = c->msg_cap ? c->msg_cap : 4096;
        char *p;
        while (cap < need)
            cap *= 2;
        if (cap > c->max_message)
            cap = c->max_message;
        p = realloc(c->msg, cap);
        if (p == NULL) {
            ws_conn_die(c, WS_DOWN_CONNECTION_LOST, "out of memory");
            return;
        }
        c->msg = p;
        c->msg_cap = cap;
    }
    memcpy(c->msg + c->msg_len, arg->data, arg->data_length);
    c->msg_len = need;
}

static void ws_conn_msg_cb(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_msg_recv_arg *arg, void *user_data)
{
    struct ws_conn *c = user_data;

    (void)ctx;
    if (ws_opcode_is_control(arg->opcode) || c->state == WS_DEAD)
        return; /* ping: wslay queued the pong; close: seen in ws_conn_pump */
    c->cbs.message(c->arg, c->msg_too_large ? NULL : (c->msg != NULL ? c->msg : ""),
                   c->msg_too_large ? 0 : c->msg_len, c->msg_binary, c->msg_too_large);
    c->msg_len = 0;
    c->msg_too_large = false;
    if (c->msg_cap > 65536) { /* give a large message's buffer back */
        free(c->msg);
        c->msg = NULL;
        c->msg_cap = 0;
    }
}

/* Reads what wslay can parse, sends what it queued (pongs, the close reply), sees the end. */
static void ws_conn_pump(struct ws_conn *c)
{
    if (c->state != WS_OPEN && c->state != WS_CLOSING)
        return;
    if (!c->paused && wslay_event_recv(c->ws) != 0) {
        ws_conn_die(c, WS_DOWN_PROTOCOL_ERROR, "frame refused");
        return;
    }
    if (c->state == WS_DEAD)
        return;
    if (wslay_event_send(c->ws) != 0) {
        ws_conn_die(c, WS_DOWN_CONNECTION_LOST, "cannot queue output");
        return;
    }
    if (wslay_event_get_close_received(c->ws) && !wslay_event_want_write(c->ws)) {
        if (c->state == WS_CLOSING) /* the answer to our close */
            ws_conn_die(c, c->why, NULL);
        else
            ws_conn_die(c, WS_DOWN_CLOSED_BY_ZOOM, "close frame, status %u",
                        (unsigned)wslay_event_get_status_code_received(c->ws));
        return;
    }
    if (c->eof && !c->paused && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
        ws_conn_die(c, WS_DOWN_CONNECTION_LOST, "connection closed without a close frame");
}

/* ---- the upgrade ------------------------------------------------------------------------ */

/* The value of header name in head (CRLF lines), into out; false when absent. */
static bool ws_head_value(const char *head, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    const char *line = strstr(head, "\r\n");

    while (line != NULL && line[2] != '\0') {
        const char *s = line + 2;
        const char *end = strstr(s, "\r\n");
        if (end == NULL)
            break;
        if ((size_t)(end - s) > n && strncasecmp(s, name, n) == 0 && s[n] == ':') {
            const char *v = s + n + 1;
            size_t len;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            len = (size_t)(end - v);
            while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                len--;
            if (len >= cap)
                len = cap - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return true;
        }
        line = end;
    }
    return false;
}

/* Whether the comma-separated list holds token (case-insensitive). */
static bool ws_list_has(const char *list, const char *token)
{
    size_t n = strlen(token);

    for (const char *s = list; *s != '\0';) {
        size_t len;
        while (*s == ' ' || *s == ',' || *s == '\t')
            s++;
        len = strcspn(s, ", \t");
        if (len == n && strncasecmp(s, token, n) == 0)
            return true;
        s += len;
    }
    return false;
}

static const struct wslay_event_callbacks ws_conn_callbacks = {
    .recv_callback = ws_conn_recv_cb,
    .send_callback = ws_conn_send_cb,
    .genmask_callback = ws_conn_genmask_cb,
    .on_frame_recv_start_callback = ws_conn_frame_start_cb,
    .on_frame_recv_chunk_callback = ws_conn_frame_chunk_cb,
    .on_msg_recv_callback = ws_conn_msg_cb,
};

/* The answer to the upgrade request, once whole: checked, consumed, then frames. */
static void ws_conn_upgrade_answer(struct ws_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    char head[WS_HEAD_MAX + 1], value[128], expect[29];
    size_t len;
    int status = 0;

    if (end.pos < 0) {
        if (evbuffer_get_length(in) > WS_HEAD_MAX)
            ws_conn_die(c, WS_DOWN_HANDSHAKE_FAILED, "upgrade answer longer than %d bytes",
                        WS_HEAD_MAX);
        return;
    }
    len = (size_t)end.pos + 4;
    if (len > WS_HEAD_MAX) {
        ws_conn_die(c, WS_DOWN_HANDSHAKE_FAILED, "upgrade answer longer than %d bytes",
                    WS_HEAD_MAX);
        return;
    }
    evbuffer_remove(in, head, len);
    head[len] = '\0';
    if (sscanf(head, "HTTP/1.1 %3d", &status) != 1 || status != 101) {
        size_t n = strcspn(head, "\r\n");
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)head[i] < ' ' || (unsigned char)head[i] >= 0x7f)
                head[i] = '?';
        ws_conn_die(c, WS_DOWN_HANDSHAKE_FAILED, "upgrade refused: %.*s", (int)(n > 100 ? 100 : n),
                    head);
        return;
    }
    ws_conn_accept_for(c->key, expect);
    if (!ws_head_value(head, "upgrade", value, sizeof(value)) ||
        strcasecmp(value, "websocket") != 0) {
        ws_conn_die(c, WS_DOWN_HANDSHAKE_FAILED, "upgrade answer without Upgrade: websocket");
        return;
    }
    if (!ws_head_value(head, "connection", value, sizeof(value)) ||
        !ws_list_has(value, "upgrade")) {
        ws_conn_die(c, WS_DOWN_HANDSHAKE_FAILED, "upgrade answer without Connection: upgrade");
        return;
    }
    if (!ws_head_value(head, "sec-websocket-accept", value, sizeof(value)) ||
        strcmp(value, expect) != 0) {
        ws_conn_die(c, WS_DOWN_HANDSHAKE_FAILED, "wrong Sec-WebSocket-Accept");
        return;
    }
    if (wslay_event_context_client_init(&c->ws, &ws_conn_callbacks, c) != 0) {
        ws_conn_die(c, WS_DOWN_CONNECTION_LOST, "out of memory");
        return;
    }
    wslay_event_config_set_no_buffering(c->ws, 1);
    /* frames are capped by max_message (msg_too_large), not by wslay closing the link */
    wslay_event_config_set_max_recv_msg_length(c->ws, UINT64_MAX >> 1);
    evtimer_del(c->timer_ev);
    c->state = WS_OPEN;
    c->cbs.up(c->arg);
    ws_conn_pump(c);
}

/*
 * Bytes arrived on a closing link: what the peer sent before our close frame is still
 * coming, so the wait for its answer counts from now (up to WS_CLOSE_MAX_MS in all).
 */
static void ws_conn_closing_progress(struct ws_conn *c)
{
    double left_ms = WS_CLOSE_MAX_MS - (monotonic_s() - c->closing_since) * 1000;
    struct timeval tv;

    if (left_ms <= 0)
        return;
    tv = timeval_ms(left_ms < WS_CLOSE_LINGER_MS ? (long)left_ms : WS_CLOSE_LINGER_MS);
    evtimer_del(c->timer_ev);
    evtimer_add(c->timer_ev, &tv);
}

static void ws_conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct ws_conn *c = arg;

    (void)bev;
    if (c->state == WS_CLOSING)
        ws_conn_closing_progress(c);
    if (c->state == WS_UPGRADING)
        ws_conn_upgrade_answer(c);
    else
        ws_conn_pump(c);
}

static void ws_conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct ws_conn *c = arg;

    (void)bev;
    if (c->state == WS_CLOSING && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
        wslay_event_get_close_received(c->ws))
        ws_conn_die(c, c->why, NULL);
}

static void ws_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct ws_conn *c = arg;
    char errs[400];

    if (what & BEV_EVENT_CONNECTED) {
        evutil_socket_t fd = bufferevent_getfd(bev);
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        c->state = WS_UPGRADING;
        if (bufferevent_write(bev, c->request, strlen(c->request)) < 0)
            ws_conn_die(c, WS_DOWN_CONNECTION_LOST, "out of memory");
        explicit_bzero(c->request, strlen(c->request));
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        int err = EVUTIL_SOCKET_ERROR();
        int dns = bufferevent_socket_get_dns_error(bev);
        ws_conn_ssl_errors(c, errs, sizeof(errs));
        if (dns != 0)
            snprintf(errs, sizeof(errs), "cannot resolve host: %s", evutil_gai_strerror(dns));
        else if (errs[0] == '\0')
            snprintf(errs, sizeof(errs), "%s", err ? evutil_socket_error_to_string(err) : "error");
        ws_conn_die(c,
                    c->state == WS_OPEN || c->state == WS_CLOSING ? WS_DOWN_CONNECTION_LOST
                                                                  : WS_DOWN_HANDSHAKE_FAILED,
                    "%s", errs);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        c->eof = true;
        if (c->state == WS_OPEN || c->state == WS_CLOSING)
            ws_conn_pump(c); /* what is still buffered, then the end */
        else
            ws_conn_die(c, WS_DOWN_HANDSHAKE_FAILED, "connection closed during the handshake");
    }
}

static void ws_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ws_conn *c = arg;
    char was[sizeof(c->detail)];

    if (c->state == WS_CLOSING) {
        snprintf(was, sizeof(was), "%s", c->detail);
        ws_conn_die(c, c->why, "%s; no close answer (%d ms without a byte, or %d ms in all)", was,
                    WS_CLOSE_LINGER_MS, WS_CLOSE_MAX_MS);
    } else {
        ws_conn_die(c, WS_DOWN_HANDSHAKE_FAILED, "handshake not done in time");
    }
}

static void ws_conn_process_cb(evutil_socket_t fd, short what, void *arg)
{
    ws_conn_pump(arg);
}

/* ---- opening ----------------------------------------------------------------------------- */

struct ws_url {
    bool tls;
    char host[WS_HOST_MAX];
    int port;
    const char *target; /* path and query, from the first '/' (or "/" when none) */
    const char *hostport;
    size_t hostport_len;
};

static int ws_url_parse(const char *url, struct ws_url *u, const char **why)
{
    const char *rest;
    size_t n;

    if (strncmp(url, "wss://", 6) == 0) {
        u->tls = true;
        rest = url + 6;
    } else if (strncmp(url, "ws://", 5) == 0) {
        u->tls = false;
        rest = url + 5;
    } else {
        *why = "not a ws:// or wss:// URL";
        return -1;
    }
    n = strcspn(rest, "/?#");
    u->hostport = rest;
    u->hostport_len = n;
    u->target = rest[n] == '/' ? rest + n : NULL;
    if (rest[n] == '#' ||
        hostport_split(rest, n, u->host, sizeof(u->host), &u->port, u->tls ? 443 : 80, why) < 0 ||
        u->host[0] == '\0' || u->port == 0) {
        if (*why == NULL || rest[n] == '#')
            *why = "bad host in URL";
        return -1;
    }
    if (rest[n] == '?') /* "wss://host?query": the path is "/" */
        u->target = rest + n;
    return 0;
}

/* The upgrade request (malloc'd): GET target, Host, the RFC 6455 headers. */
static char *ws_conn_request(const struct ws_url *u, const char *key)
{
    const char *target = u->target != NULL ? u->target : "/";
    bool slash = target[0] != '/';
    size_t cap = strlen(target) + u->hostport_len + 256;
    char *req = malloc(cap);

    if (req != NULL)
        snprintf(req, cap,
                 "GET %s%s HTTP/1.1\r\nHost: %.*s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                 "User-Agent: hookpipe/" HOOKPIPE_VERSION "\r\n\r\n",
                 slash ? "/" : "", target, (int)u->hostport_len, u->hostport, key);
    return req;
}

/* A TLS session for host: SNI (names only) and the name or address the certificate must bear. */
static SSL *ws_conn_ssl(struct ssl_ctx_st *ctx, const char *host)
{
    SSL *ssl = SSL_new(ctx);
    unsigned char addr[16];
    bool ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;

    if (ssl == NULL)
        return NULL;
    if (ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1
           : SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

struct ws_conn *ws_conn_open(struct event_base *base, const struct ws_conn_opts *opts,
                             const struct ws_conn_cbs *cbs, void *arg, const char **why)
{
    struct ws_conn *c;
    struct ws_url u;
    unsigned char raw[16];
    struct timeval tv = timeval_ms(opts->handshake_timeout_ms);

    *why = NULL;
    if (ws_url_parse(opts->url, &u, why) < 0)
        return NULL;
    if (u.tls && opts->ssl_ctx == NULL) {
        *why = "no TLS context";
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL || RAND_bytes(raw, sizeof(raw)) != 1)
        goto fail;
    c->base = base;
    c->cbs = *cbs;
    c->arg = arg;
    c->max_message = opts->max_message;
    base64_encode(raw, sizeof(raw), c->key, false);
    c->request = ws_conn_request(&u, c->key);
    c->timer_ev = evtimer_new(base, ws_conn_timer_cb, c);
    c->process_ev = event_new(base, -1, 0, ws_conn_process_cb, c);
    c->dead_ev = event_new(base, -1, 0, ws_conn_dead_cb, c);
    if (c->request == NULL || c->timer_ev == NULL || c->process_ev == NULL || c->dead_ev == NULL)
        goto fail;
    if (u.tls) {
        SSL *ssl = ws_conn_ssl(opts->ssl_ctx, u.host);
        if (ssl == NULL)
            goto fail;
        c->bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                BEV_OPT_CLOSE_ON_FREE);
        if (c->bev == NULL) {
            SSL_free(ssl);
            goto fail;
        }
        bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    } else {
        c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (c->bev == NULL)
            goto fail;
    }
    bufferevent_setcb(c->bev, ws_conn_read_cb, ws_conn_write_cb, ws_conn_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, WS_INPUT_HIGH);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->state = WS_CONNECTING;
    evtimer_add(c->timer_ev, &tv);
    /* errors (a refused connection, a failed lookup) come back through ws_conn_event_cb */
    if (bufferevent_socket_connect_hostname(c->bev, opts->dns, AF_UNSPEC, u.host, u.port) < 0)
        ws_conn_die(c, WS_DOWN_HANDSHAKE_FAILED, "cannot connect to %s", u.host);
    return c;
fail:
    ws_conn_free(c);
    *why = "out of memory";
    return NULL;
}

int ws_conn_send_text(struct ws_conn *c, const char *text, size_t len)
{
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};

    if (c->state != WS_OPEN || wslay_event_queue_msg(c->ws, &m) != 0)
        return -1;
    if (wslay_event_send(c->ws) != 0) {
        ws_conn_die(c, WS_DOWN_CONNECTION_LOST, "cannot queue output");
        return -1;
    }
    return 0;
}

void ws_conn_pause(struct ws_conn *c)
{
    if (c->paused || c->state == WS_DEAD)
        return;
    c->paused = true;
    bufferevent_disable(c->bev, EV_READ);
}

void ws_conn_resume(struct ws_conn *c)
{
    if (!c->paused || c->state == WS_DEAD)
        return;
    c->paused = false;
    bufferevent_enable(c->bev, EV_READ);
    event_active(c->process_ev, 0, 0); /* what is already in the input buffer */
}

bool ws_conn_paused(const struct ws_conn *c)
{
    return c->paused;
}

void ws_conn_close(struct ws_conn *c, enum ws_down why, const char *detail)
{
    struct timeval tv = timeval_ms(WS_CLOSE_LINGER_MS);

    if (c->state == WS_DEAD || c->state == WS_CLOSING)
        return;
    if (c->state != WS_OPEN ||
        wslay_event_queue_close(c->ws, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0) != 0 ||
        wslay_event_send(c->ws) != 0) {
        ws_conn_die(c, why, "%s", detail);
        return;
    }
    c->state = WS_CLOSING;
    c->why = why;
    snprintf(c->detail, sizeof(c->detail), "%s", detail);
    c->closing_since = monotonic_s();
    c->paused = false; /* read up to the answer: what comes before it is still delivered */
    bufferevent_enable(c->bev, EV_READ);
    event_active(c->process_ev, 0, 0); /* what a pause left in the input buffer */
    evtimer_del(c->timer_ev);
    evtimer_add(c->timer_ev, &tv);
}

bool ws_conn_closing(const struct ws_conn *c)
{
    return c->state == WS_CLOSING;
}

void ws_conn_free(struct ws_conn *c)
{
    if (c == NULL)
        return;
    if (c->bev != NULL)
        bufferevent_free(c->bev);
    if (c->ws != NULL)
        wslay_event_context_free(c->ws);
    if (c->timer_ev != NULL)
        event_free(c->timer_ev);
    if (c->process_ev != NULL)
        event_free(c->process_ev);
    if (c->dead_ev != NULL)
        event_free(c->dead_ev);
    if (c->request != NULL) {
        explicit_bzero(c->request, strlen(c->request));
        free(c->request);
    }
    free(c->msg);
    free(c);
}
