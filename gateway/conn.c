/*
 * The gateway's connection state machine (see conn.h). A request moves
 * READ_HEAD -> READ_BODY -> PUSHING -> (answer) -> READ_HEAD, or to CLOSING when the
 * connection must end after the answer. One timer per connection serves, by state,
 * as idle timeout, request read deadline, push confirmation deadline and close deadline.
 */
#include "conn.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <hiredis/async.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"
#include "http_parser.h"
#include "json_scan.h"
#include "log.h"
#include "stats.h"
#include "worker.h"
#include "zoom.h"

#define CONN_MAX_HEAD 16384         /* larger heads: 431; input cap outside a body */
#define CONN_MAX_OUTPUT 65536       /* stop reading while this much is unsent */
#define CONN_READ_CHUNK 16384       /* bytes asked of one recv(2) */
#define CONN_LINGER_MS 2000         /* after a final answer, input is drained this long */
#define CONN_MAX_REQUESTS_PER_CB 32 /* pipelined requests handled per callback */
#define CONN_CLOSE_TIMEOUT_S 5      /* time to flush a final answer */
#define CONN_SIGNATURE_MAX 80
#define CONN_TIMESTAMP_MAX 24

enum conn_state {
    CONN_READ_HEAD, /* waiting for a complete request head (or idle between requests) */
    CONN_READ_BODY, /* head accepted, waiting for content_length body bytes */
    CONN_PUSHING,   /* LPUSH sent, waiting for Redis to confirm */
    CONN_CLOSING,   /* final answer queued; close once it is flushed */
};

struct push;

struct conn {
    TAILQ_ENTRY(conn) link;
    struct worker *w;
    evutil_socket_t fd;        /* plain: the socket; TLS: -1 (the bufferevent owns it) */
    struct bufferevent *bev;   /* TLS only: an OpenSSL bufferevent */
    struct event *rev, *wev;   /* plain only: readable / writable events on fd */
    struct evbuffer *in, *out; /* input and unsent output (the bufferevent's for TLS) */
    bool read_paused;          /* reading stopped (a cap reached, closing, or EOF) */
    bool budget_paused;        /* reading stopped by the buffer budget: the tick resumes it */
    bool peer_closed;          /* the client shut down its sending side (EOF) */
    bool head_only;            /* this request was HEAD: answer without the body */
    bool linger_wanted;        /* answered without reading the request: drain before close */
    bool lingering;            /* our side shut down, discarding input until EOF */
    struct event *timer;
    enum conn_state state;
    uint64_t id;                             /* for log lines */
    bool tls;                                /* served through bev (OpenSSL) */
    bool reading_request;                    /* bytes of a request arrived; read deadline armed */
    bool keep_alive;                         /* this request's connection disposition */
    bool handshake_done;                     /* TLS: handshake finished (failure stats) */
    size_t scanned;                          /* head bytes already searched for CRLFCRLF */
    size_t head_len;                         /* READ_BODY: bytes of the head in input */
    size_t body_len;                         /* READ_BODY: content length */
    size_t charged;                          /* bytes counted in stats buffered_bytes */
    struct stats_source *stats;              /* counters of the addressed source, or NULL */
    struct push *push;                       /* PUSHING: the pending push */
    char source[CONFIG_SOURCE_NAME_MAX + 1]; /* addressed source */
    char signature[CONN_SIGNATURE_MAX + 1];  /* x-zm-signature, "" if absent or too long */
    size_t signature_len;
    char timestamp[CONN_TIMESTAMP_MAX + 1]; /* x-zm-request-timestamp, "" if absent */
    size_t timestamp_len;
    char request_id[ENVELOPE_REQUEST_ID_MAX + 1]; /* x-zm-request-id or x-zm-trackingid */
    size_t request_id_len;
    char delivery_id[32];        /* id of the delivery being pushed */
    struct timeval request_done; /* when the last body byte was read */
};

/* A pending LPUSH. It outlives its connection when the client goes away first. */
struct push {
    struct conn *conn; /* NULL once the connection no longer waits for it */
    struct worker *w;
};

static void conn_process(struct conn *c);
static void conn_free(struct conn *c);
static void conn_release_io(struct conn *c);

static const char *conn_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

static void conn_arm_timer(struct conn *c, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    evtimer_add(c->timer, &tv);
}

static void conn_want_write(struct conn *c)
{
    if (c->tls)
        bufferevent_enable(c->bev, EV_WRITE);
    else
        event_add(c->wev, NULL);
}

/*
 * How much input may wait in the buffer: a request whose body is being read fits
 * whole (up to max_body_bytes); otherwise no more than a head's worth, so a client
 * that pipelines requests without reading the answers cannot make us buffer more.
 */
static size_t conn_input_cap(const struct conn *c)
{
    size_t want = c->head_len + c->body_len;

    return c->state == CONN_READ_BODY && want > CONN_MAX_HEAD ? want : CONN_MAX_HEAD;
}

static bool conn_over_budget(void)
{
    return STAT_GET(buffered_bytes) > CONN_BUFFER_BUDGET;
}

/*
 * Whether to read more now. Not while the input or the unsent output is over its cap
 * (conn_process resumes), nor, outside a body, while the connections of the process
 * together hold more than CONN_BUFFER_BUDGET (the worker's tick resumes): a body being
 * read had its bytes admitted against the budget when its head came, so it goes on.
 */
static bool conn_want_input(struct conn *c)
{
    if (c->peer_closed || c->state == CONN_CLOSING)
        return false;
    if (evbuffer_get_length(c->in) > conn_input_cap(c) ||
        evbuffer_get_length(c->out) > CONN_MAX_OUTPUT)
        return false;
    if (c->state != CONN_READ_BODY && conn_over_budget()) {
        c->budget_paused = true;
        c->w->budget_waiters = true;
        return false;
    }
    return true;
}

/* Starts or stops reading according to conn_want_input (TLS: also the read watermark). */
static void conn_update_reading(struct conn *c)
{
    bool want;

    if (c->lingering)
        return;
    want = conn_want_input(c);
    if (c->tls)
        bufferevent_setwatermark(c->bev, EV_READ, 0, conn_input_cap(c));
    if (want == !c->read_paused)
        return;
    c->read_paused = !want;
    if (c->tls) {
        if (want)
            bufferevent_enable(c->bev, EV_READ);
        else
            bufferevent_disable(c->bev, EV_READ);
    } else if (want) {
        event_add(c->rev, NULL);
    } else {
        event_del(c->rev);
    }
}

/*
 * Updates this connection's share of stats buffered_bytes: its input (or, while a body
 * is read, the whole request it admitted) and its unsent output. Called at the end of
 * a callback, so a request read, answered and sent in one pass costs no atomic add.
 */
static void conn_account(struct conn *c)
{
    size_t in = evbuffer_get_length(c->in);
    size_t request = c->state == CONN_READ_BODY ? c->head_len + c->body_len : 0;
    size_t held = evbuffer_get_length(c->out) + (request > in ? request : in);

    if (held != c->charged) {
        STAT_ADD(buffered_bytes, (int64_t)held - (int64_t)c->charged);
        c->charged = held;
    }
}

/*
 * Admits a request whose body is still to come against the buffer budget: charges its
 * full size now, or returns false when that does not fit what the other connections
 * hold (a lone request is always admitted, so max_body_bytes may exceed the budget).
 */
static bool conn_admit_body(struct conn *c, size_t request)
{
    int64_t held = (int64_t)(evbuffer_get_length(c->out) + request);
    int64_t delta = held - (int64_t)c->charged;
    int64_t before = STAT_ADD(buffered_bytes, delta);

    if (before + delta > CONN_BUFFER_BUDGET && before - (int64_t)c->charged > 0) {
        STAT_ADD(buffered_bytes, -delta);
        return false;
    }
    c->charged = (size_t)held;
    return true;
}

/* The single place a connection changes state; it also arms the state's timer. */
static void conn_set_state(struct conn *c, enum conn_state state)
{
    c->state = state;
    switch (state) {
    case CONN_READ_HEAD:
        c->reading_request = false;
        c->scanned = 0;
        c->stats = NULL;
        c->head_len = c->body_len = 0;
        conn_update_reading(c);
        conn_arm_timer(c, c->w->settings.idle_timeout_s * 1000);
        break;
    case CONN_READ_BODY:
        conn_update_reading(c); /* keeps the read deadline armed when the request started */
        break;
    case CONN_PUSHING:
        conn_arm_timer(c, c->w->settings.push_timeout_ms);
        break;
    case CONN_CLOSING:
        conn_update_reading(c);
        conn_arm_timer(c, CONN_CLOSE_TIMEOUT_S * 1000);
        break;
    }
}

/*
 * Sends bytes to the client. A plain connection with nothing queued writes at once
 * with send(2): an answer almost always fits the socket buffer, which saves two
 * epoll_ctl calls and a loop pass per request. What is left over, TLS, and the final
 * answer before a close (whose write event frees the connection) wait for the
 * socket to be writable.
 */
static void conn_send(struct conn *c, const char *data, size_t len)
{
    ssize_t n = 0;

    if (!c->tls && c->state != CONN_CLOSING && evbuffer_get_length(c->out) == 0) {
        n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == (ssize_t)len)
            return;
        if (n < 0)
            n = 0; /* EAGAIN, or an error the write event will report */
    }
    evbuffer_add(c->out, data + n, len - (size_t)n);
    conn_want_write(c);
}

/*
 * Sends an answer. body is a JSON text (or NULL); extra is more header lines, each
 * ending in CRLF. A request whose body was not read, or a client that asked for it,
 * gets Connection: close.
 */
static void conn_respond(struct conn *c, int status, const char *extra, const char *body)
{
    char buf[1024];
    size_t blen = body ? strlen(body) : 0;
    bool close_after = !c->keep_alive || c->w->stopping;
    int n;

    if (c->stats != NULL)
        stats_count_status(c->stats, status);
    n = snprintf(buf, sizeof(buf),
                 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n%s%s\r\n",
                 status, conn_reason(status), blen, extra ? extra : "",
                 close_after ? "Connection: close\r\n" : "");
    if (close_after)
        conn_set_state(c, CONN_CLOSING);
    else
        conn_set_state(c, CONN_READ_HEAD);
    if (c->head_only)
        blen = 0; /* Content-Length says what a GET would carry; no body follows */
    if (n > 0 && (size_t)n + blen <= sizeof(buf)) {
        memcpy(buf + n, body, blen);
        conn_send(c, buf, (size_t)n + blen);
    } else { /* a long url_validation answer */
        evbuffer_add(c->out, buf, n > 0 ? (size_t)n : 0);
        evbuffer_add(c->out, body, blen);
        conn_want_write(c);
    }
}

static void conn_error(struct conn *c, int status, const char *extra, const char *msg)
{
    char body[256];
    size_t n = 0;

    n += (size_t)snprintf(body, sizeof(body), "{\"error\":\"");
    for (const char *m = msg; *m != '\0' && n < sizeof(body) - 4; m++) {
        if (*m == '"' || *m == '\\')
            body[n++] = '\\';
        body[n++] = *m;
    }
    memcpy(body + n, "\"}", 3);
    conn_respond(c, status, extra, body);
}

/* Answers and ends the connection: for requests whose body will not be read. */
static void conn_reject(struct conn *c, int status, const char *extra, const char *msg)
{
    c->keep_alive = false;
    c->linger_wanted = true; /* the client may still be sending what will not be read */
    conn_error(c, status, extra, msg);
}

static void conn_copy_header(const struct http_str *s, char *dst, size_t cap, size_t *len)
{
    if (s->p == NULL || s->len >= cap) {
        dst[0] = '\0';
        *len = 0;
        return;
    }
    memcpy(dst, s->p, s->len);
    dst[s->len] = '\0';
    *len = s->len;
}

/* Routes a complete head. Returns true when the body should be read next. */
static bool conn_on_head(struct conn *c, const char *buf, size_t len)
{
    struct worker *w = c->w;
    struct http_head h;
    int rc = http_parse_head(buf, len, &h);
    const struct http_str *rid;

    if (rc != 0) {
        conn_reject(c, rc, NULL, rc == 505 ? "HTTP version not supported" : "malformed request");
        return false;
    }
    c->keep_alive = h.keep_alive;
    c->head_only = h.method == HTTP_METHOD_HEAD;
    if (h.path.len == 8 && memcmp(h.path.p, "/healthz", 8) == 0) {
        if (h.content_length > 0 || h.chunked)
            c->keep_alive = false;
        if (h.method != HTTP_METHOD_GET && h.method != HTTP_METHOD_HEAD)
            conn_error(c, 405, "Allow: GET, HEAD\r\n", "method not allowed");
        else
            conn_respond(c, 200, NULL, "{\"status\":\"ok\"}");
        return false;
    }
    if (h.path.len == 7 && memcmp(h.path.p, "/readyz", 7) == 0) {
        long qlen = (long)STAT_GET(queue_length);
        if (h.content_length > 0 || h.chunked)
            c->keep_alive = false;
        if (h.method != HTTP_METHOD_GET && h.method != HTTP_METHOD_HEAD)
            conn_error(c, 405, "Allow: GET, HEAD\r\n", "method not allowed");
        else if (STAT_GET(redis_links_up) < STAT_GET(redis_links))
            conn_error(c, 503, "Retry-After: 1\r\n", "redis not connected");
        else if (qlen >= w->settings.max_queue_length)
            conn_error(c, 503, "Retry-After: 5\r\n", "queue full");
        else if (w->pushes_in_flight >= w->settings.max_pushes_in_flight)
            conn_error(c, 503, "Retry-After: 1\r\n", "overloaded");
        else
            conn_respond(c, 200, NULL, "{\"status\":\"ready\"}");
        return false;
    }
    if (h.path.len <= 7 || memcmp(h.path.p, "/hooks/", 7) != 0 ||
        h.path.len - 7 > CONFIG_SOURCE_NAME_MAX || memchr(h.path.p + 7, '/', h.path.len - 7)) {
        c->keep_alive = c->keep_alive && h.content_length <= 0 && !h.chunked;
        conn_error(c, 404, NULL, "not found");
        return false;
    }
    struct keyring_entry *e = keyring_find(w->keyring, h.path.p + 7, h.path.len - 7);
    if (e == NULL) {
        c->stats = stats_unknown;
        c->keep_alive = c->keep_alive && h.content_length <= 0 && !h.chunked;
        conn_error(c, 404, NULL, "unknown source");
        return false;
    }
    c->stats = e->stats;
    memcpy(c->source, h.path.p + 7, h.path.len - 7);
    c->source[h.path.len - 7] = '\0';
    if (h.method != HTTP_METHOD_POST) {
        c->keep_alive = c->keep_alive && h.content_length <= 0 && !h.chunked;
        conn_error(c, 405, "Allow: POST\r\n", "method not allowed");
        return false;
    }
    if (h.chunked) {
        conn_reject(c, 411, NULL, "chunked bodies are not supported; send Content-Length");
        return false;
    }
    if (h.content_length > w->settings.max_body_bytes) {
        conn_reject(c, 413, NULL, "body too large");
        return false;
    }
    if (h.content_length > 0 && evbuffer_get_length(c->in) < len + (size_t)h.content_length &&
        !conn_admit_body(c, len + (size_t)h.content_length)) {
        STAT_ADD(buffer_full_rejections_total, 1);
        conn_reject(c, 503, "Retry-After: 1\r\n", "overloaded");
        return false;
    }
    conn_copy_header(&h.signature, c->signature, sizeof(c->signature), &c->signature_len);
    conn_copy_header(&h.timestamp, c->timestamp, sizeof(c->timestamp), &c->timestamp_len);
    rid = h.request_id.p != NULL ? &h.request_id : &h.tracking_id;
    c->request_id_len = rid->len < ENVELOPE_REQUEST_ID_MAX ? rid->len : ENVELOPE_REQUEST_ID_MAX;
    if (rid->p != NULL)
        memcpy(c->request_id, rid->p, c->request_id_len);
    c->head_len = len;
    c->body_len = h.content_length > 0 ? (size_t)h.content_length : 0;
    if (h.expect_continue && c->body_len > 0 && evbuffer_get_length(c->in) < len + c->body_len) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        conn_set_state(c, CONN_READ_BODY);
        conn_send(c, cont, sizeof(cont) - 1);
        return true;
    }
    conn_set_state(c, CONN_READ_BODY);
    return true;
}

static bool conn_timestamp_fresh(struct conn *c)
{
    long long ts = 0;
    time_t now = time(NULL);

    if (c->timestamp_len == 0 || c->timestamp_len > 12)
        return false;
    for (size_t i = 0; i < c->timestamp_len; i++) {
        if (c->timestamp[i] < '0' || c->timestamp[i] > '9')
            return false;
        ts = ts * 10 + (c->timestamp[i] - '0');
    }
    return llabs((long long)now - ts) <= c->w->settings.timestamp_tolerance_s;
}

/* endpoint.url_validation: answer {"plainToken","encryptedToken"} signed with key. */
static void conn_url_validation(struct conn *c, struct zoom_key *key, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    json_t *token = json_object_get(json_object_get(root, "payload"), "plainToken");
    char hex[ZOOM_HEX_LEN + 1];
    char *answer = NULL;
    json_t *obj = NULL;

    if (!json_is_string(token) || json_string_length(token) == 0 ||
        json_string_length(token) > 1024) {
        conn_error(c, 400, NULL, "url_validation without payload.plainToken");
        goto done;
    }
    if (zoom_hmac_hex(key, json_string_value(token), json_string_length(token), hex) < 0)
        goto oom;
    obj = json_pack("{s:O,s:s}", "plainToken", token, "encryptedToken", hex);
    answer = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    if (answer == NULL)
        goto oom;
    conn_respond(c, 200, NULL, answer);
    goto done;
oom:
    STAT_ADD(out_of_memory_total, 1);
    conn_error(c, 503, "Retry-After: 1\r\n", "out of memory");
done:
    free(answer);
    json_decref(obj);
    json_decref(root);
}

static void conn_push_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct push *p = privdata;
    struct worker *w = p->w;
    struct conn *c = p->conn;
    redisReply *reply = r;

    w->pushes_in_flight--;
    STAT_ADD(requests_in_flight, -1);
    if (reply != NULL)
        worker_saw_reply(w);
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        STAT_SET(queue_length, reply->integer);
    if (c != NULL) {
        c->push = NULL;
        if (reply != NULL && reply->type == REDIS_REPLY_INTEGER) {
            struct timeval now, d;
            char body[96];
            gettimeofday(&now, NULL);
            timersub(&now, &c->request_done, &d);
            histogram_observe(&gateway_stats.enqueue_seconds,
                              (double)d.tv_sec + (double)d.tv_usec / 1e6);
            snprintf(body, sizeof(body), "{\"status\":\"queued\",\"id\":\"%s\"}", c->delivery_id);
            conn_respond(c, 200, NULL, body);
        } else {
            STAT_ADD(push_errors_total, 1);
            if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
                log_msg(LOG_WARN, "push failed", "worker=%d conn=%" PRIu64 " error=%s", w->id,
                        c->id, log_value(reply->str));
            conn_error(c, 503, "Retry-After: 1\r\n", "queue unavailable");
        }
        conn_process(c);
    }
    free(p);
    worker_maybe_exit(w);
}

/* Builds the RESP LPUSH of one envelope and sends it. 0, or -1 when out of memory. */
static int conn_push(struct conn *c, const char *body, size_t len)
{
    struct worker *w = c->w;
    char header[ENVELOPE_HEADER_MAX];
    size_t qlen = strlen(w->queue);
    int64_t received_us = (int64_t)c->request_done.tv_sec * 1000000 + c->request_done.tv_usec;
    int hlen;
    char *cmd;
    size_t cap, n;
    struct push *p;

    snprintf(c->delivery_id, sizeof(c->delivery_id), "%012" PRIx64 "%02x%010" PRIx64,
             gateway.id_prefix, (unsigned)w->id & 0xff, ++w->seq);
    hlen = envelope_encode_header(header, c->source, received_us, c->delivery_id, c->request_id,
                                  c->request_id_len, len);
    if (hlen < 0)
        return -1;
    cap = 64 + qlen + (size_t)hlen + len + 1; /* + NUL: hiredis 0.14 strchr()s the command */
    cmd = malloc(cap);
    p = malloc(sizeof(*p));
    if (cmd == NULL || p == NULL) {
        free(cmd);
        free(p);
        return -1;
    }
    n = (size_t)snprintf(cmd, cap, "*3\r\n$5\r\nLPUSH\r\n$%zu\r\n%s\r\n$%zu\r\n", qlen, w->queue,
                         (size_t)hlen + len);
    memcpy(cmd + n, header, (size_t)hlen);
    n += (size_t)hlen;
    memcpy(cmd + n, body, len);
    n += len;
    memcpy(cmd + n, "\r\n", 2);
    n += 2;
    cmd[n] = '\0';
    p->conn = c;
    p->w = w;
    if (redisAsyncFormattedCommand(redis_link_ctx(w->redis), conn_push_cb, p, cmd, n) != REDIS_OK) {
        free(cmd);
        free(p);
        return -1;
    }
    free(cmd);
    c->push = p;
    w->pushes_in_flight++;
    STAT_ADD(requests_in_flight, 1);
    conn_set_state(c, CONN_PUSHING);
    return 0;
}

/* True when the raw "event" string is endpoint.url_validation (escaped or not). */
static bool conn_is_url_validation(const struct json_scan_str *ev)
{
    static const char name[] = "endpoint.url_validation";
    bool yes;

    if (!ev->escaped)
        return ev->len == sizeof(name) - 1 && memcmp(ev->p, name, ev->len) == 0;
    /* decode the quoted token itself: escapes are rare enough to pay for jansson */
    json_t *s = json_loadb(ev->p - 1, ev->len + 2, JSON_DECODE_ANY, NULL);
    yes = json_is_string(s) && strcmp(json_string_value(s), name) == 0;
    json_decref(s);
    return yes;
}

/* A whole request is in the input buffer: verify it, then answer or push it. */
static void conn_on_request(struct conn *c)
{
    struct worker *w = c->w;
    struct evbuffer *in = c->in;
    size_t total = c->head_len + c->body_len;
    const unsigned char *all = evbuffer_pullup(in, (ev_ssize_t)total);
    const char *body;
    struct keyring_entry *e;
    struct zoom_key *key = NULL;
    struct json_scan_result scan;
    const char *why;

    gettimeofday(&c->request_done, NULL);
    evtimer_del(c->timer);
    if (all == NULL) {
        STAT_ADD(out_of_memory_total, 1);
        conn_reject(c, 503, "Retry-After: 1\r\n", "out of memory");
        return;
    }
    body = (const char *)all + c->head_len;
    e = keyring_find(w->keyring, c->source, strlen(c->source));
    if (e == NULL) { /* removed by a reload while the body arrived */
        conn_error(c, 404, NULL, "unknown source");
        goto drain;
    }
    if (!conn_timestamp_fresh(c)) {
        conn_error(c, 401, NULL, "timestamp missing or outside tolerance");
        goto drain;
    }
    if (zoom_verify(e->current, c->timestamp, c->timestamp_len, body, c->body_len, c->signature,
                    c->signature_len))
        key = e->current;
    else if (e->previous != NULL && zoom_verify(e->previous, c->timestamp, c->timestamp_len, body,
                                                c->body_len, c->signature, c->signature_len))
        key = e->previous;
    if (key == NULL) {
        conn_error(c, 401, NULL, "bad signature");
        goto drain;
    }
    if (json_scan(body, c->body_len, NULL, &scan, &why) < 0) {
        conn_error(c, 400, NULL, why);
        goto drain;
    }
    if (scan.event.p == NULL) {
        conn_error(c, 400, NULL, "JSON object has no string \"event\"");
        goto drain;
    }
    if (conn_is_url_validation(&scan.event)) {
        conn_url_validation(c, key, body, c->body_len);
        goto drain;
    }
    if (redis_link_ctx(w->redis) == NULL) { /* NULL unless the link is up */
        conn_error(c, 503, "Retry-After: 1\r\n", "queue unavailable");
        goto drain;
    }
    if ((long)STAT_GET(queue_length) >= w->settings.max_queue_length) {
        STAT_ADD(queue_full_rejections_total, 1);
        conn_error(c, 503, "Retry-After: 5\r\n", "queue full");
        goto drain;
    }
    if (w->pushes_in_flight >= w->settings.max_pushes_in_flight) {
        STAT_ADD(overload_rejections_total, 1);
        conn_error(c, 503, "Retry-After: 1\r\n", "overloaded");
        goto drain;
    }
    if (conn_push(c, body, c->body_len) < 0) {
        STAT_ADD(out_of_memory_total, 1);
        conn_error(c, 503, "Retry-After: 1\r\n", "out of memory");
    }
drain:
    evbuffer_drain(in, total);
}

/*
 * The client sent its last byte: close once what is owed to it is written. Returns
 * false when it freed the connection.
 */
static bool conn_finish(struct conn *c)
{
    if (evbuffer_get_length(c->out) == 0) {
        conn_free(c);
        return false;
    }
    conn_set_state(c, CONN_CLOSING);
    conn_want_write(c);
    return true;
}

/* The first byte of a new request arrived: its read deadline starts, nothing is kept. */
static void conn_begin_request(struct conn *c)
{
    c->reading_request = true;
    c->head_only = false;
    c->linger_wanted = false;
    conn_arm_timer(c, c->w->settings.read_timeout_s * 1000);
}

/*
 * Advances the state machine over whatever input is buffered. Bounded per call so a
 * client pipelining many requests cannot starve the others on this loop. Returns
 * false when it freed the connection.
 */
static bool conn_advance(struct conn *c)
{
    struct evbuffer *in = c->in;

    for (int n = 0; n < CONN_MAX_REQUESTS_PER_CB; n++) {
        size_t avail = evbuffer_get_length(in);
        if (evbuffer_get_length(c->out) > CONN_MAX_OUTPUT)
            return true; /* resumed by the write callback */
        switch (c->state) {
        case CONN_READ_HEAD: {
            struct evbuffer_ptr start, found;
            size_t from = c->scanned > 3 ? c->scanned - 3 : 0;
            if (avail == 0)
                return c->peer_closed ? conn_finish(c) : true;
            if (!c->reading_request)
                conn_begin_request(c);
            evbuffer_ptr_set(in, &start, from, EVBUFFER_PTR_SET);
            found = evbuffer_search(in, "\r\n\r\n", 4, &start);
            if (found.pos < 0) {
                c->scanned = avail;
                if (avail > CONN_MAX_HEAD)
                    conn_reject(c, 431, NULL, "request head too large");
                else if (c->peer_closed)
                    return conn_finish(c); /* a head that can no longer complete */
                return true;
            }
            size_t hlen = (size_t)found.pos + 4;
            if (hlen > CONN_MAX_HEAD) {
                conn_reject(c, 431, NULL, "request head too large");
                return true;
            }
            const char *head = (const char *)evbuffer_pullup(in, (ev_ssize_t)hlen);
            if (head == NULL) {
                STAT_ADD(out_of_memory_total, 1);
                conn_reject(c, 503, "Retry-After: 1\r\n", "out of memory");
                return true;
            }
            if (!conn_on_head(c, head, hlen)) {
                if (c->state == CONN_CLOSING)
                    return true;
                evbuffer_drain(in, hlen);
            }
            break;
        }
        case CONN_READ_BODY:
            if (avail < c->head_len + c->body_len)
                return c->peer_closed ? conn_finish(c) : true; /* finish: it cannot complete */
            conn_on_request(c);
            break;
        case CONN_PUSHING:
        case CONN_CLOSING:
            return true;
        }
    }
    /* more may be buffered: continue on a later loop pass */
    if (c->tls)
        bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
    else
        event_active(c->rev, EV_READ, 0);
    return true;
}

/* Runs the state machine, then settles the connection's reading and its accounting. */
static void conn_process(struct conn *c)
{
    if (!conn_advance(c))
        return;
    conn_account(c);
    conn_update_reading(c);
}

/*
 * TLS counterpart of the plain listener's lingering close: the answer is out, so send
 * close_notify and shut our side, then discard what the client still sends until it
 * closes or CONN_LINGER_MS pass. Freeing now, with its input unread, would make the
 * kernel reset the connection and the client could lose the answer.
 */
static void conn_tls_linger(struct conn *c)
{
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

    if (ssl != NULL)
        (void)SSL_shutdown(ssl); /* 0: the client's close_notify has not come (yet) */
    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    c->lingering = true;
    evbuffer_drain(c->in, evbuffer_get_length(c->in));
    bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_READ_CHUNK);
    bufferevent_enable(c->bev, EV_READ);
    c->read_paused = false;
    conn_arm_timer(c, CONN_LINGER_MS);
}

/* TLS connections: the OpenSSL bufferevent reads, writes and reports. */
static void conn_tls_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    if (c->lingering) {
        evbuffer_drain(c->in, evbuffer_get_length(c->in));
        return;
    }
    conn_process(c);
}

static void conn_tls_write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    if (c->state == CONN_CLOSING) {
        if (c->lingering)
            return;
        if ((c->linger_wanted || evbuffer_get_length(c->in) > 0) && !c->peer_closed) {
            conn_account(c);
            conn_tls_linger(c);
            return;
        }
        conn_free(c);
        return;
    }
    conn_process(c);
}

static void conn_tls_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    if (what & BEV_EVENT_CONNECTED) {
        c->handshake_done = true;
        return;
    }
    if (!c->handshake_done) {
        STAT_ADD(tls_handshake_failures_total, 1);
    } else if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && c->state != CONN_CLOSING) {
        /* a clean close_notify: still answer what was sent */
        c->peer_closed = true;
        conn_process(c); /* stops reading */
        return;
    }
    conn_free(c);
}

/*
 * Plain connections: reads go straight into the input buffer with recv(2). (A
 * bufferevent asks the kernel for the readable byte count with an ioctl before every
 * read: a third syscall per request.)
 */
static void conn_plain_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    struct evbuffer_iovec v;
    ssize_t n;

    if (c->lingering) {
        char scratch[4096];
        n = recv(fd, scratch, sizeof(scratch), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            conn_free(c); /* the client has read our answer and closed */
        return;
    }
    if (!conn_want_input(c)) { /* a cap was reached since reading was last allowed */
        conn_process(c);
        return;
    }
    if (evbuffer_reserve_space(c->in, CONN_READ_CHUNK, &v, 1) < 1) {
        STAT_ADD(out_of_memory_total, 1);
        conn_free(c);
        return;
    }
    n = recv(fd, v.iov_base, v.iov_len, 0);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
        conn_free(c); /* reset: nobody is left to answer */
        return;
    }
    if (n == 0)
        c->peer_closed = true; /* a half-close: what was sent is still answered, then the end */
    if (n > 0) {
        v.iov_len = (size_t)n;
        evbuffer_commit_space(c->in, &v, 1);
    }
    conn_process(c);
}

static void conn_plain_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    if (evbuffer_write(c->out, fd) < 0 && errno != EAGAIN && errno != EINTR) {
        conn_free(c);
        return;
    }
    if (evbuffer_get_length(c->out) > 0) {
        conn_account(c);
        event_add(c->wev, NULL);
        return;
    }
    if (c->state == CONN_CLOSING) {
        if ((c->linger_wanted || evbuffer_get_length(c->in) > 0) && !c->peer_closed &&
            !c->lingering) {
            /*
             * The answer went out before the request was read: closing now could make
             * the kernel reset the connection and the client lose the answer. Shut
             * our side, drain what still arrives, and close at EOF or after a while.
             */
            shutdown(fd, SHUT_WR);
            c->lingering = true;
            evbuffer_drain(c->in, evbuffer_get_length(c->in));
            conn_account(c);
            event_add(c->rev, NULL);
            c->read_paused = false;
            conn_arm_timer(c, CONN_LINGER_MS);
            return;
        }
        conn_free(c);
        return;
    }
    conn_process(c);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    struct worker *w;

    switch (c->state) {
    case CONN_READ_HEAD:
        if (!c->reading_request) {
            conn_free(c); /* idle keep-alive connection */
            return;
        }
        /* fall through */
    case CONN_READ_BODY:
        STAT_ADD(connections_timed_out_total, 1);
        log_msg(LOG_INFO, "request read timeout", "worker=%d conn=%" PRIu64, c->w->id, c->id);
        conn_reject(c, 408, NULL, "request not received in time");
        return;
    case CONN_PUSHING:
        STAT_ADD(push_timeouts_total, 1);
        log_msg(LOG_WARN, "push not confirmed in time", "worker=%d conn=%" PRIu64 " delivery=%s",
                c->w->id, c->id, c->delivery_id);
        c->push->conn = NULL; /* its reply, if any, is ignored */
        c->push = NULL;
        conn_error(c, 503, "Retry-After: 1\r\n", "queue did not confirm in time");
        w = c->w;
        conn_process(c); /* may free c */
        worker_push_timed_out(w);
        return;
    case CONN_CLOSING:
        conn_free(c);
        return;
    }
}

void conn_accept(struct worker *w, evutil_socket_t fd)
{
    struct conn *c = calloc(1, sizeof(*c));
    SSL *ssl = NULL;

    if (c == NULL)
        goto fail;
    c->w = w;
    c->fd = fd;
    c->id = ++w->next_conn_id;
    c->timer = evtimer_new(w->base, conn_timer_cb, c);
    if (c->timer == NULL)
        goto fail;
    if (w->ssl_ctx != NULL) {
        ssl = SSL_new(w->ssl_ctx);
        if (ssl == NULL)
            goto fail;
        /* created without the socket, so a failure leaves fd and ssl plainly ours */
        c->bev = bufferevent_openssl_socket_new(w->base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                BEV_OPT_CLOSE_ON_FREE);
        if (c->bev == NULL)
            goto fail;
        ssl = NULL; /* owned by the bufferevent now */
        c->tls = true;
        if (bufferevent_setfd(c->bev, fd) < 0)
            goto fail;
        c->fd = -1; /* owned by the bufferevent */
        bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        bufferevent_setcb(c->bev, conn_tls_read_cb, conn_tls_write_cb, conn_tls_event_cb, c);
        bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_MAX_HEAD);
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
        c->in = bufferevent_get_input(c->bev);
        c->out = bufferevent_get_output(c->bev);
    } else {
        c->in = evbuffer_new();
        c->out = evbuffer_new();
        c->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, conn_plain_read_cb, c);
        c->wev = event_new(w->base, fd, EV_WRITE, conn_plain_write_cb, c);
        if (c->in == NULL || c->out == NULL || c->rev == NULL || c->wev == NULL ||
            event_add(c->rev, NULL) < 0)
            goto fail;
    }
    TAILQ_INSERT_TAIL(&w->conns, c, link);
    w->nconns++;
    STAT_ADD(connections, 1);
    STAT_ADD(connections_accepted_total, 1);
    conn_set_state(c, CONN_READ_HEAD);
    /* an accepted connection is a request about to start: hold it to the read deadline */
    c->reading_request = true;
    conn_arm_timer(c, w->settings.read_timeout_s * 1000);
    return;
fail:
    STAT_ADD(out_of_memory_total, 1);
    if (ssl != NULL)
        SSL_free(ssl);
    if (c != NULL) {
        conn_release_io(c);
        if (c->timer != NULL)
            event_free(c->timer);
        free(c);
    } else {
        close(fd);
    }
    atomic_fetch_sub(&gateway.nconns, 1);
    worker_conn_closed(w);
}

/* Frees the connection's socket, events and buffers (whichever exist). */
static void conn_release_io(struct conn *c)
{
    if (c->bev != NULL) {
        bufferevent_free(c->bev); /* frees ssl, its buffers, and the socket once it had it */
        if (c->fd >= 0)
            close(c->fd);
        return;
    }
    if (c->rev != NULL)
        event_free(c->rev);
    if (c->wev != NULL)
        event_free(c->wev);
    if (c->in != NULL)
        evbuffer_free(c->in);
    if (c->out != NULL)
        evbuffer_free(c->out);
    if (c->fd >= 0)
        close(c->fd);
}

static void conn_free(struct conn *c)
{
    struct worker *w = c->w;

    if (c->push != NULL)
        c->push->conn = NULL;
    TAILQ_REMOVE(&w->conns, c, link);
    w->nconns--;
    STAT_ADD(connections, -1);
    if (c->charged > 0)
        STAT_ADD(buffered_bytes, -(int64_t)c->charged);
    event_free(c->timer);
    conn_release_io(c);
    free(c);
    atomic_fetch_sub(&gateway.nconns, 1);
    worker_conn_closed(w);
}

void conn_close_idle(struct worker *w)
{
    struct conn *c, *next;

    for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
        next = TAILQ_NEXT(c, link);
        if (c->state != CONN_READ_HEAD && c->state != CONN_READ_BODY)
            continue;
        if (evbuffer_get_length(c->out) > 0) {
            conn_set_state(c, CONN_CLOSING); /* an answer is still owed: send it first */
            c->linger_wanted = true;         /* and the client may still be sending */
            conn_want_write(c);
        } else {
            conn_free(c);
        }
    }
}

void conn_resume_reading(struct worker *w)
{
    struct conn *c;

    if (!w->budget_waiters || conn_over_budget())
        return;
    w->budget_waiters = false;
    TAILQ_FOREACH(c, &w->conns, link)
    {
        if (c->budget_paused) {
            c->budget_paused = false;
            conn_update_reading(c); /* may pause it again, and set budget_waiters */
        }
    }
}

void conn_free_all(struct worker *w)
{
    while (!TAILQ_EMPTY(&w->conns))
        conn_free(TAILQ_FIRST(&w->conns));
}
