/*
 * The gateway's HTTP/1.1 connection state machine (see conn.h). A request moves
 * HEAD -> BODY -> DELIVER -> (answer) -> IDLE -> HEAD ..., and an answer that ends
 * the connection moves it to FLUSH -> (LINGER) -> CLOSED. One timer per connection
 * serves, by state, as idle timeout, request read deadline, push deadline, flush
 * deadline and linger deadline. Routing, verification, body inspection, admission,
 * answers and pushes are other modules' jobs; this file only sequences them.
 */
#include "conn.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "admission.h"
#include "budget.h"
#include "guard.h"
#include "hook.h"
#include "http_parser.h"
#include "keyring.h"
#include "log.h"
#include "oauth.h"
#include "peer.h"
#include "push.h"
#include "request.h"
#include "response.h"
#include "route.h"
#include "stats.h"
#include "timeutil.h"
#include "transport.h"
#include "verify.h"

#define CONN_MAX_HEAD 16384         /* larger heads: 431; input cap outside a body */
#define CONN_MAX_OUTPUT 65536       /* stop reading while this much is unsent */
#define CONN_LINGER_MS 2000         /* after a final answer, input is drained this long */
#define CONN_MAX_REQUESTS_PER_CB 32 /* pipelined requests handled per callback */
#define CONN_FLUSH_TIMEOUT_S 5      /* time to write a final answer */
#define CONN_ANSWER_MAX 1024        /* answers up to this size go out in one write */

enum conn_state {
    CONN_IDLE,    /* kept alive between requests: idle timeout */
    CONN_HEAD,    /* a request began (or the connection is new): read deadline */
    CONN_BODY,    /* head accepted, reading body_len bytes: the same deadline */
    CONN_DELIVER, /* LPUSH sent, waiting for Redis: push deadline */
    CONN_FLUSH,   /* an answer that ends the connection is queued: close once written */
    CONN_LINGER,  /* answered, our side shut: discard input until EOF or a deadline */
    CONN_CLOSED,  /* finished: freed when the outermost callback returns */
};

struct conn {
    TAILQ_ENTRY(conn) link;
    struct conn_env *env;
    struct transport *t;
    struct event *timer;
    enum conn_state state;
    int depth;               /* callbacks of this connection on the stack */
    bool eof;                /* the client shut down its sending side */
    bool budget_paused;      /* reading stopped by the buffer budget: the tick resumes it */
    bool proven;             /* a request on it passed verification: never evicted nor shed */
    bool vouched;            /* the request being read: its head alone proved the sender */
    bool peer_tracked;       /* counted in the per-address table: peer_disconnect when freed */
    size_t charged;          /* its share of the buffer budget */
    struct cidr_addr peer;   /* the socket's remote address */
    struct cidr_addr client; /* the address the request being read speaks for */
    uint64_t id;             /* for log lines */
    struct request req;      /* the request being served */
    struct push *push;       /* DELIVER: the pending push */
};

static void conn_process(struct conn *c);
static void conn_shed(struct conn_env *env);

/* ---- lifetime: a connection closed inside its own callback is freed on the way out */

static void conn_destroy(struct conn *c)
{
    struct conn_env *env = c->env;

    if (c->push != NULL)
        push_cancel(c->push);
    TAILQ_REMOVE(&env->conns, c, link);
    env->nconns--;
    if (c->peer_tracked)
        peer_disconnect(&c->peer);
    STAT_ADD(connections, -1);
    budget_charge(&c->charged, 0);
    event_free(c->timer);
    transport_free(c->t);
    free(c);
    env->closed(env->arg);
}

static void conn_enter(struct conn *c)
{
    c->depth++;
}

static void conn_leave(struct conn *c)
{
    if (--c->depth == 0 && c->state == CONN_CLOSED)
        conn_destroy(c);
}

/* ---- reading and the buffer budget ------------------------------------------------ */

/*
 * How much input may wait in the buffer: a request whose body is being read fits
 * whole (up to max_body_bytes); otherwise no more than a head's worth, so a client
 * that pipelines requests without reading the answers cannot make us buffer more.
 */
static size_t conn_input_cap(const struct conn *c)
{
    size_t want = c->req.head_len + c->req.body_len;

    return c->state == CONN_BODY && want > CONN_MAX_HEAD ? want : CONN_MAX_HEAD;
}

/* Whether the budget may not take this connection's bytes from it: proof was given. */
static bool conn_exempt(const struct conn *c)
{
    return c->proven || (c->state == CONN_BODY && c->vouched);
}

/*
 * Whether to read more now. Not after EOF or once the answer is final, not while the
 * input or the unsent output is over its cap (conn_process resumes), nor while the
 * buffer budget is exceeded: first the largest unproven requests are shed (conn_shed),
 * and if that was not enough, only connections that proved their sender read on (the
 * worker's tick resumes the others).
 */
static bool conn_want_input(struct conn *c)
{
    if (c->eof || c->state >= CONN_FLUSH)
        return false;
    if (evbuffer_get_length(c->t->in) > conn_input_cap(c) ||
        evbuffer_get_length(c->t->out) > CONN_MAX_OUTPUT)
        return false;
    if (budget_exceeded()) {
        c->depth++; /* busy, so never shed itself: the caller goes on using it */
        conn_shed(c->env);
        c->depth--;
        if (budget_exceeded() && !conn_exempt(c)) {
            c->budget_paused = true;
            c->env->budget_waiters = true;
            return false;
        }
    }
    return true;
}

static void conn_update_reading(struct conn *c)
{
    if (c->state == CONN_LINGER)
        transport_set_reading(c->t, true, TRANSPORT_READ_CHUNK);
    else
        transport_set_reading(c->t, conn_want_input(c), conn_input_cap(c));
}

/*
 * This connection's share of the buffer budget: the bytes it holds, input read and
 * answers unsent; never what a header promises, which costs an attacker nothing.
 * Settled at the end of a callback, so a request read, answered and sent in one pass
 * costs no atomic add.
 */
static void conn_account(struct conn *c)
{
    budget_charge(&c->charged, evbuffer_get_length(c->t->in) + evbuffer_get_length(c->t->out));
}

/* ---- states ----------------------------------------------------------------------- */

static void conn_arm_timer(struct conn *c, long ms)
{
    struct timeval tv = timeval_ms(ms);

    evtimer_add(c->timer, &tv);
}

/* The single place a connection changes state: it arms the state's timer and reading. */
static void conn_set_state(struct conn *c, enum conn_state state)
{
    const struct conn_settings *s = &c->env->settings;

    c->state = state;
    switch (state) {
    case CONN_IDLE:
        request_reset(&c->req);
        conn_arm_timer(c, s->idle_timeout_s * 1000);
        break;
    case CONN_HEAD:
        conn_arm_timer(c, s->read_timeout_s * 1000);
        break;
    case CONN_BODY:
        break; /* the request's read deadline goes on */
    case CONN_DELIVER:
        conn_arm_timer(c, pusher_deadline_ms(c->env->pusher, s->push_timeout_ms));
        break;
    case CONN_FLUSH:
        conn_arm_timer(c, CONN_FLUSH_TIMEOUT_S * 1000);
        break;
    case CONN_LINGER:
        /*
         * The answer went out before the request was read: closing now could make the
         * kernel reset the connection and the client lose the answer. Shut our side,
         * drain what still arrives, and close at EOF or after a while.
         */
        transport_shutdown_write(c->t);
        evbuffer_drain(c->t->in, evbuffer_get_length(c->t->in));
        conn_account(c);
        conn_arm_timer(c, CONN_LINGER_MS);
        break;
    case CONN_CLOSED:
        evtimer_del(c->timer);
        transport_set_reading(c->t, false, CONN_MAX_HEAD);
        if (c->depth == 0)
            conn_destroy(c);
        return;
    }
    conn_update_reading(c);
}

/* The client sent its last byte: close once what is owed to it is written. */
static void conn_finish(struct conn *c)
{
    conn_set_state(c, evbuffer_get_length(c->t->out) > 0 ? CONN_FLUSH : CONN_CLOSED);
}

/* ---- answers ---------------------------------------------------------------------- */

/*
 * Sends an answer and ends the request: the connection goes IDLE, or FLUSH when it
 * must close (the client asked, or the request was not read, or the gateway stops).
 * body is a JSON text; extra is more header lines, each ending in CRLF.
 */
static void conn_respond(struct conn *c, int status, const char *extra, const char *body)
{
    char buf[CONN_ANSWER_MAX];
    size_t blen = strlen(body);
    bool ends = !c->req.keep_alive || c->env->stopping;
    int n;

    if (c->req.stats != NULL)
        stats_count_status(c->req.stats, status);
    n = response_head(buf, sizeof(buf), status, extra, blen, ends);
    if (n < 0) { /* cannot happen with the gateway's own header lines */
        conn_set_state(c, CONN_CLOSED);
        return;
    }
    if (c->req.head_only)
        blen = 0; /* Content-Length says what a GET would carry; no body follows */
    if ((size_t)n + blen <= sizeof(buf)) {
        memcpy(buf + n, body, blen);
        transport_send(c->t, buf, (size_t)n + blen, !ends);
    } else { /* a long url_validation answer */
        transport_send(c->t, buf, (size_t)n, false);
        transport_send(c->t, body, blen, false);
    }
    conn_set_state(c, ends ? CONN_FLUSH : CONN_IDLE);
}

static void conn_error(struct conn *c, int status, const char *extra, const char *msg)
{
    char body[RESPONSE_ERROR_MAX];

    response_error_body(body, msg);
    conn_respond(c, status, extra, body);
}

/* Answers and ends the connection: for requests whose input will not be read. */
static void conn_reject(struct conn *c, int status, const char *extra, const char *msg)
{
    c->req.keep_alive = false;
    c->req.unread = true; /* the client may still be sending what will not be read */
    conn_error(c, status, extra, msg);
}

/* An answer given without reading the request's declared body ends the connection. */
static void conn_skip_body(struct conn *c, const struct http_head *h)
{
    if (h->content_length > 0 || h->chunked)
        c->req.keep_alive = false;
}

/*
 * Decides on a delivery's head before its body is read (guard.h): a refusal is answered
 * at once, and a connection whose body will not be read is closed after the answer.
 * True to read the body.
 */
static bool conn_guard(struct conn *c, struct keyring_entry *e, const struct http_head *h,
                       const char *head, size_t len)
{
    struct verify_request vreq;
    struct guard_outcome g;

    request_verify_input(&c->req, head + len, time(NULL), c->env->settings.timestamp_tolerance_s,
                         &vreq);
    guard_head(e, c->req.token_endpoint, &c->client, &vreq, monotonic_s(), &g);
    c->vouched = g.vouched;
    if (g.status == 0)
        return true;
    stats_count_auth_failure(e->stats, g.reason);
    if (g.status == 429)
        STAT_ADD(auth_throttled_total, 1);
    log_msg(LOG_DEBUG, "delivery refused at its head",
            "worker=%d conn=%" PRIu64 " source=%s reason=%s", c->env->worker_id, c->id, e->name,
            verify_reason_label(g.reason));
    if (h->content_length > 0)
        conn_reject(c, g.status, g.extra, g.message);
    else
        conn_error(c, g.status, g.extra, g.message);
    return false;
}

static enum admission conn_admission(struct conn *c, bool redis_up)
{
    const struct conn_settings *s = &c->env->settings;
    struct admission_load load = {
        .redis_up = redis_up,
        .queue_length = (long)STAT_GET(queue_length),
        .max_queue_length = s->max_queue_length,
        .pushes_in_flight = c->env->pusher->in_flight,
        .max_pushes_in_flight = s->max_pushes_in_flight,
    };

    return admission_check(&load);
}

static void conn_readyz(struct conn *c)
{
    enum admission a = conn_admission(c, STAT_GET(redis_links_up) >= STAT_GET(redis_links));

    if (a == ADMISSION_OK)
        conn_respond(c, 200, NULL, "{\"status\":\"ready\"}");
    else
        conn_error(c, 503, admission_retry_after(a), admission_reason(a, false));
}

/* ---- requests --------------------------------------------------------------------- */

/* Acts on a complete head. Returns true when its body is to be read next. */
static bool conn_on_head(struct conn *c, const char *buf, size_t len)
{
    const struct conn_settings *s = &c->env->settings;
    size_t buffered = evbuffer_get_length(c->t->in);
    struct keyring_entry *e;
    struct http_head h;
    struct route r;
    int rc = http_parse_head(buf, len, &h);

    if (rc != 0) {
        conn_reject(c, rc, NULL, rc == 505 ? "HTTP version not supported" : "malformed request");
        return false;
    }
    request_begin(&c->req, &h);
    c->vouched = false;
    route_match(&h, &r);
    if (r.target != ROUTE_HOOK && r.target != ROUTE_TOKEN) {
        conn_skip_body(c, &h);
        if (r.target == ROUTE_NOT_FOUND)
            conn_error(c, 404, NULL, "not found");
        else if (r.allow != NULL)
            conn_error(c, 405, r.allow, "method not allowed");
        else if (r.target == ROUTE_HEALTHZ)
            conn_respond(c, 200, NULL, "{\"status\":\"ok\"}");
        else
            conn_readyz(c);
        return false;
    }
    e = keyring_find(c->env->keyring, r.source, r.source_len);
    if (e == NULL) {
        c->req.stats = stats_unknown;
        conn_skip_body(c, &h);
        conn_error(c, 404, NULL, "unknown source");
        return false;
    }
    c->req.stats = e->stats;
    guard_client(c->env->trusted_proxies, &c->peer, &h, &c->client);
    bool token = r.target == ROUTE_TOKEN;
    if (token && !(e->auth & CONFIG_AUTH_BEARER)) {
        conn_skip_body(c, &h);
        conn_error(c, 404, NULL, "no token endpoint for this source");
        return false;
    }
    if (r.allow != NULL) {
        conn_skip_body(c, &h);
        conn_error(c, 405, r.allow, "method not allowed");
        return false;
    }
    if (h.chunked) {
        conn_reject(c, 411, NULL, "chunked bodies are not supported; send Content-Length");
        return false;
    }
    if (h.content_length > (token ? OAUTH_REQUEST_MAX : s->max_body_bytes)) {
        conn_reject(c, 413, NULL, "body too large");
        return false;
    }
    size_t body_len = h.content_length > 0 ? (size_t)h.content_length : 0;
    bool pending = buffered < len + body_len; /* the body is still to come */
    struct request_capture cap = {
        .authorization = token || e->wants_authorization,
        .custom_name = token ? NULL : e->header_name,
        .token_endpoint = token,
    };
    request_keep(&c->req, &h, r.source, r.source_len, len, body_len, &cap);
    if (!conn_guard(c, e, &h, buf, len))
        return false;
    conn_set_state(c, CONN_BODY);
    if (h.expect_continue && pending)
        transport_send(c->t, RESPONSE_CONTINUE, sizeof(RESPONSE_CONTINUE) - 1, true);
    return true;
}

static void conn_push_done(void *arg, enum push_result result, const char *error)
{
    struct conn *c = arg;

    conn_enter(c);
    c->push = NULL;
    if (result == PUSH_QUEUED) {
        struct timeval now, d;
        char body[RESPONSE_QUEUED_MAX];
        gettimeofday(&now, NULL);
        timersub(&now, &c->req.done, &d);
        histogram_observe(&gateway_stats.enqueue_seconds,
                          (double)d.tv_sec + (double)d.tv_usec / 1e6);
        response_queued_body(body, c->req.delivery_id);
        conn_respond(c, 200, NULL, body);
    } else if (result == PUSH_UNREPLICATED) {
        /* in the master, not yet on enough replicas: a failover could lose it */
        conn_error(c, 503, "Retry-After: 1\r\n", "queue did not replicate in time");
    } else {
        STAT_ADD(push_errors_total, 1);
        if (error != NULL)
            log_msg(LOG_WARN, "push failed", "worker=%d conn=%" PRIu64 " error=%s",
                    c->env->worker_id, c->id, log_value(error));
        conn_error(c, 503, "Retry-After: 1\r\n", "queue unavailable");
    }
    conn_process(c);
    conn_leave(c);
}

/* Admits and queues a verified delivery; answers when it cannot be queued. */
static void conn_deliver(struct conn *c, const char *body)
{
    enum admission a = conn_admission(c, pusher_ready(c->env->pusher));
    struct push_request pr;

    if (a == ADMISSION_QUEUE_FULL)
        STAT_ADD(queue_full_rejections_total, 1);
    else if (a == ADMISSION_OVERLOADED)
        STAT_ADD(overload_rejections_total, 1);
    if (a != ADMISSION_OK) {
        conn_error(c, 503, admission_retry_after(a), admission_reason(a, true));
        return;
    }
    request_push_input(&c->req, body, &pr);
    if (pusher_send(c->env->pusher, &pr, c->req.delivery_id, conn_push_done, c, &c->push) < 0) {
        STAT_ADD(out_of_memory_total, 1);
        conn_error(c, 503, "Retry-After: 1\r\n", "out of memory");
        return;
    }
    conn_set_state(c, CONN_DELIVER);
}

/* A request on c passed verification: c is no longer a candidate for eviction or shedding. */
static void conn_prove(struct conn *c)
{
    c->proven = true;
}

/* A token request for source e: answered at once, nothing is queued. */
static void conn_token(struct conn *c, struct keyring_entry *e, const char *body)
{
    const char *head = body - c->req.head_len;
    const char *query = request_span_at(&c->req.query, head);
    struct oauth_request oreq = {
        .query = query != NULL ? query : "",
        .query_len = c->req.query.len,
        .query_too_long = c->req.query_too_long,
        .authorization = request_span_at(&c->req.authorization, head),
        .authorization_len = c->req.authorization.len,
        .body = body,
        .body_len = c->req.body_len,
        .now = time(NULL),
    };
    struct oauth_answer ans;

    oauth_token(&e->keys, &oreq, &ans);
    if (ans.status == 200)
        conn_prove(c);
    if (ans.reason != VERIFY_REASON_NONE) {
        stats_count_auth_failure(e->stats, ans.reason);
        if (guard_guessable(ans.reason))
            peer_failed(&c->client, monotonic_s());
        log_msg(LOG_DEBUG, "token request refused",
                "worker=%d conn=%" PRIu64 " source=%s reason=%s", c->env->worker_id, c->id, e->name,
                verify_reason_label(ans.reason));
    }
    conn_respond(c, ans.status, ans.extra, ans.body);
    explicit_bzero(&ans, sizeof(ans));
}

/* A whole request is in the input buffer: verify it, then answer or queue it. */
static void conn_on_request(struct conn *c)
{
    struct evbuffer *in = c->t->in;
    size_t total = c->req.head_len + c->req.body_len;
    const unsigned char *all = evbuffer_pullup(in, (ev_ssize_t)total);
    struct keyring_entry *e;
    struct verify_result vr;
    struct hook_result hr;

    gettimeofday(&c->req.done, NULL);
    evtimer_del(c->timer);
    if (all == NULL) {
        STAT_ADD(out_of_memory_total, 1);
        conn_reject(c, 503, "Retry-After: 1\r\n", "out of memory");
        return;
    }
    const char *body = (const char *)all + c->req.head_len;
    struct verify_request vreq;
    request_verify_input(&c->req, body, time(NULL), c->env->settings.timestamp_tolerance_s, &vreq);
    e = keyring_find(c->env->keyring, c->req.source, strlen(c->req.source));
    if (e == NULL) { /* removed by a reload while the body arrived */
        conn_error(c, 404, NULL, "unknown source");
    } else if (c->req.token_endpoint) {
        if (e->auth & CONFIG_AUTH_BEARER)
            conn_token(c, e, body);
        else /* bearer mode removed by a reload while the body arrived */
            conn_error(c, 404, NULL, "no token endpoint for this source");
    } else if (!verify_run(e->checks, &e->keys, &vreq, &vr)) {
        stats_count_auth_failure(e->stats, vr.reason);
        if (guard_guessable(vr.reason))
            peer_failed(&c->client, monotonic_s());
        log_msg(LOG_DEBUG, "delivery refused", "worker=%d conn=%" PRIu64 " source=%s reason=%s",
                c->env->worker_id, c->id, e->name, verify_reason_label(vr.reason));
        conn_error(c, vr.status, vr.extra, vr.message);
    } else {
        conn_prove(c);
        hook_inspect(body, c->req.body_len, vr.key, &hr);
        if (hr.action == HOOK_DELIVER) {
            conn_deliver(c, body);
        } else if (hr.out_of_memory) {
            STAT_ADD(out_of_memory_total, 1);
            conn_error(c, 503, "Retry-After: 1\r\n", hr.message);
        } else if (hr.status == 200) {
            conn_respond(c, 200, NULL, hr.body);
        } else {
            conn_error(c, hr.status, NULL, hr.message);
        }
        free(hr.body);
    }
    /* the credentials this request presented do not outlive it in freed buffer memory */
    if (c->req.authorization.set)
        explicit_bzero((unsigned char *)all + c->req.authorization.off, c->req.authorization.len);
    if (c->req.custom.set)
        explicit_bzero((unsigned char *)all + c->req.custom.off, c->req.custom.len);
    evbuffer_drain(in, total);
}

/* Looks for a complete head in the input and acts on it. True to go on with the input. */
static bool conn_read_head(struct conn *c, size_t avail)
{
    struct evbuffer *in = c->t->in;
    struct evbuffer_ptr start, found;
    size_t from = c->req.scanned > 3 ? c->req.scanned - 3 : 0;

    if (avail == 0) {
        if (c->eof)
            conn_finish(c);
        return false;
    }
    evbuffer_ptr_set(in, &start, from, EVBUFFER_PTR_SET);
    found = evbuffer_search(in, "\r\n\r\n", 4, &start);
    if (found.pos < 0) {
        c->req.scanned = avail;
        if (avail > CONN_MAX_HEAD)
            conn_reject(c, 431, NULL, "request head too large");
        else if (c->eof)
            conn_finish(c); /* a head that can no longer complete */
        return false;
    }
    size_t hlen = (size_t)found.pos + 4;
    if (hlen > CONN_MAX_HEAD) {
        conn_reject(c, 431, NULL, "request head too large");
        return false;
    }
    const char *head = (const char *)evbuffer_pullup(in, (ev_ssize_t)hlen);
    if (head == NULL) {
        STAT_ADD(out_of_memory_total, 1);
        conn_reject(c, 503, "Retry-After: 1\r\n", "out of memory");
        return false;
    }
    if (!conn_on_head(c, head, hlen)) {
        if (c->state == CONN_FLUSH)
            return false;
        evbuffer_drain(in, hlen);
    }
    return true;
}

/*
 * Advances the state machine over whatever input is buffered. Bounded per call so a
 * client pipelining many requests cannot starve the others on this loop.
 */
static void conn_advance(struct conn *c)
{
    for (int n = 0; n < CONN_MAX_REQUESTS_PER_CB; n++) {
        size_t avail = evbuffer_get_length(c->t->in);
        if (evbuffer_get_length(c->t->out) > CONN_MAX_OUTPUT)
            return; /* resumed once the output drains */
        switch (c->state) {
        case CONN_IDLE:
            if (avail == 0) {
                if (c->eof)
                    conn_finish(c);
                return;
            }
            conn_set_state(c, CONN_HEAD); /* the first byte of a request */
            /* fall through */
        case CONN_HEAD:
            if (!conn_read_head(c, avail))
                return;
            break;
        case CONN_BODY:
            if (avail < c->req.head_len + c->req.body_len) {
                if (c->eof)
                    conn_finish(c); /* a body that can no longer complete */
                return;
            }
            conn_on_request(c);
            break;
        case CONN_DELIVER:
        case CONN_FLUSH:
        case CONN_LINGER:
        case CONN_CLOSED:
            return;
        }
    }
    transport_again(c->t); /* more may be buffered: continue on a later loop pass */
}

/* Runs the state machine, then settles the connection's reading and its accounting. */
static void conn_process(struct conn *c)
{
    conn_advance(c);
    if (c->state == CONN_CLOSED)
        return;
    conn_account(c);
    conn_update_reading(c);
}

/* ---- events: the transport's, and the timer -------------------------------------- */

static void conn_on_readable(void *arg)
{
    struct conn *c = arg;

    conn_enter(c);
    if (c->state == CONN_LINGER) {
        if (transport_discard(c->t) == 0)
            conn_set_state(c, CONN_CLOSED); /* the client has read our answer and closed */
    } else if (c->state != CONN_CLOSED) {
        int r = conn_want_input(c) ? transport_fill(c->t) : 1;
        if (r < 0)
            conn_set_state(c, CONN_CLOSED); /* reset: nobody is left to answer */
        else if (r == 0)
            c->eof = true; /* a half-close: what was sent is still answered, then the end */
        if (r >= 0)
            conn_process(c);
    }
    conn_leave(c);
}

static void conn_on_drained(void *arg)
{
    struct conn *c = arg;

    conn_enter(c);
    if (c->state == CONN_FLUSH) {
        if ((c->req.unread || evbuffer_get_length(c->t->in) > 0) && !c->eof)
            conn_set_state(c, CONN_LINGER);
        else
            conn_set_state(c, CONN_CLOSED);
    } else if (c->state != CONN_LINGER && c->state != CONN_CLOSED) {
        conn_process(c); /* reading may resume now that the output is written */
    }
    conn_leave(c);
}

static void conn_on_eof(void *arg)
{
    struct conn *c = arg;

    conn_enter(c);
    if (c->state == CONN_FLUSH || c->state == CONN_LINGER) {
        conn_set_state(c, CONN_CLOSED);
    } else if (c->state != CONN_CLOSED) {
        c->eof = true; /* a clean close_notify: still answer what was sent */
        conn_process(c);
    }
    conn_leave(c);
}

static void conn_on_error(void *arg)
{
    struct conn *c = arg;

    conn_enter(c);
    conn_set_state(c, CONN_CLOSED);
    conn_leave(c);
}

static const struct transport_cbs conn_transport_cbs = {
    .readable = conn_on_readable,
    .drained = conn_on_drained,
    .eof = conn_on_eof,
    .error = conn_on_error,
};

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    struct conn_env *env = c->env;

    conn_enter(c);
    switch (c->state) {
    case CONN_IDLE:
        conn_set_state(c, CONN_CLOSED); /* idle keep-alive connection */
        break;
    case CONN_HEAD:
    case CONN_BODY:
        STAT_ADD(connections_timed_out_total, 1);
        log_msg(LOG_INFO, "request read timeout", "worker=%d conn=%" PRIu64, env->worker_id, c->id);
        conn_reject(c, 408, NULL, "request not received in time");
        break;
    case CONN_DELIVER:
        STAT_ADD(push_timeouts_total, 1);
        log_msg(LOG_WARN, "push not confirmed in time", "worker=%d conn=%" PRIu64 " delivery=%s",
                env->worker_id, c->id, c->req.delivery_id);
        push_cancel(c->push); /* its reply, if any, only updates the counters */
        c->push = NULL;
        conn_error(c, 503, "Retry-After: 1\r\n", "queue did not confirm in time");
        conn_process(c);
        pusher_timed_out(env->pusher, env->settings.push_timeout_ms);
        break;
    case CONN_FLUSH:
    case CONN_LINGER:
        conn_set_state(c, CONN_CLOSED);
        break;
    case CONN_CLOSED:
        break;
    }
    conn_leave(c);
}

/* ---- the connection list ---------------------------------------------------------- */

void conn_env_init(struct conn_env *env)
{
    TAILQ_INIT(&env->conns);
    env->nconns = 0;
}

int conn_accept(struct conn_env *env, evutil_socket_t fd, const struct cidr_addr *peer,
                bool peer_tracked)
{
    struct conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        goto fail;
    c->env = env;
    c->peer = *peer;
    c->client = *peer;
    c->id = ++env->next_id;
    c->timer = evtimer_new(env->base, conn_timer_cb, c);
    if (c->timer == NULL)
        goto fail;
    c->t = transport_new(env->base, fd, env->ssl_ctx, &conn_transport_cbs, c);
    if (c->t == NULL)
        goto fail;
    TAILQ_INSERT_TAIL(&env->conns, c, link);
    env->nconns++;
    c->peer_tracked = peer_tracked;
    STAT_ADD(connections, 1);
    STAT_ADD(connections_accepted_total, 1);
    /* an accepted connection is a request about to start: hold it to the read deadline */
    conn_set_state(c, CONN_HEAD);
    return 0;
fail:
    STAT_ADD(out_of_memory_total, 1);
    if (peer_tracked)
        peer_disconnect(peer);
    if (c != NULL && c->timer != NULL)
        event_free(c->timer);
    free(c);
    evutil_closesocket(fd);
    return -1;
}

void conn_close_idle(struct conn_env *env)
{
    struct conn *c, *next;

    for (c = TAILQ_FIRST(&env->conns); c != NULL; c = next) {
        next = TAILQ_NEXT(c, link);
        if (c->state != CONN_IDLE && c->state != CONN_HEAD && c->state != CONN_BODY)
            continue;
        conn_enter(c);
        if (evbuffer_get_length(c->t->out) > 0) {
            c->req.unread = true; /* an answer is still owed, and the client may be sending */
            conn_set_state(c, CONN_FLUSH);
        } else {
            conn_set_state(c, CONN_CLOSED);
        }
        conn_leave(c);
    }
}

/*
 * Whether c may be closed to make room for others: it has proven nothing, no callback of
 * it is running, and it is not past reading (an answer on its way, or a push pending).
 */
static bool conn_expendable(const struct conn *c)
{
    return !conn_exempt(c) && c->depth == 0 &&
           (c->state == CONN_IDLE || c->state == CONN_HEAD || c->state == CONN_BODY ||
            c->state == CONN_LINGER);
}

bool conn_evict_one(struct conn_env *env)
{
    struct conn *c;

    /* the list is in order of arrival: the oldest first */
    TAILQ_FOREACH(c, &env->conns, link)
    {
        if (conn_expendable(c)) {
            STAT_ADD(connections_evicted_total, 1);
            conn_set_state(c, CONN_CLOSED);
            return true;
        }
    }
    return false;
}

/* Larger share first. */
static int conn_cmp_charged(const void *a, const void *b)
{
    size_t x = (*(struct conn *const *)a)->charged, y = (*(struct conn *const *)b)->charged;

    return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * The buffer budget is exceeded: answer 503 to the unproven requests holding the most,
 * largest first, and drop what they hold, until the total is back under the budget's
 * resume mark or none is left. A legitimate delivery is a few kB that arrives at once;
 * what fills the budget without credentials is large partial bodies, so those go first.
 * Each worker sheds its own connections (the others shed theirs on their tick).
 */
static void conn_shed(struct conn_env *env)
{
    struct conn **v = malloc((size_t)(env->nconns > 0 ? env->nconns : 1) * sizeof(*v));
    size_t n = 0;
    struct conn *c;

    if (v == NULL)
        return;
    TAILQ_FOREACH(c, &env->conns, link)
    {
        if (c->charged > 0 && conn_expendable(c) && c->state != CONN_LINGER &&
            c->state != CONN_IDLE)
            v[n++] = c;
    }
    qsort(v, n, sizeof(*v), conn_cmp_charged);
    for (size_t i = 0; i < n && STAT_GET(buffered_bytes) > BUDGET_BYTES - BUDGET_RESUME_SLACK;
         i++) {
        c = v[i];
        conn_enter(c);
        evbuffer_drain(c->t->in, evbuffer_get_length(c->t->in));
        STAT_ADD(buffer_full_rejections_total, 1);
        conn_reject(c, 503, "Retry-After: 1\r\n", "overloaded");
        conn_account(c);
        conn_leave(c);
    }
    free(v);
}

void conn_resume_reading(struct conn_env *env)
{
    struct conn *c;

    if (budget_exceeded())
        conn_shed(env);
    if (!env->budget_waiters || budget_exceeded())
        return;
    env->budget_waiters = false;
    TAILQ_FOREACH(c, &env->conns, link)
    {
        if (c->budget_paused) {
            c->budget_paused = false;
            conn_update_reading(c); /* may pause it again, and set budget_waiters */
        }
    }
}

void conn_free_all(struct conn_env *env)
{
    while (!TAILQ_EMPTY(&env->conns))
        conn_destroy(TAILQ_FIRST(&env->conns));
}
