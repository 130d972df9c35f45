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

#include "budget.h"
#include "log.h"
#include "peer.h"
#include "push.h"
#include "request.h"
#include "response.h"
#include "serve.h"
#include "stats.h"
#include "timeutil.h"
#include "transport.h"

#define CONN_MAX_HEAD 16384         /* larger heads: 431; input cap outside a body */
#define CONN_MAX_OUTPUT 65536       /* stop reading while this much is unsent */
#define CONN_LINGER_MS 2000         /* after a final answer, input is drained this long */
#define CONN_MAX_REQUESTS_PER_CB 32 /* pipelined requests handled per callback */
#define CONN_FLUSH_TIMEOUT_S 5      /* time to write a final answer */
#define CONN_ANSWER_MAX 1024        /* answers up to this size go out in one write */
#define CONN_BEHIND_RECHECK_MS 20   /* a push deadline held up in this process: look again */

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
    int depth;                /* callbacks of this connection on the stack */
    bool eof;                 /* the client shut down its sending side */
    bool budget_paused;       /* reading stopped by the buffer budget: the tick resumes it */
    bool peer_tracked;        /* counted in the per-address table: peer_disconnect when freed */
    size_t charged;           /* its share of the buffer budget */
    struct cidr_addr peer;    /* the socket's remote address */
    struct serve_proof proof; /* what its requests proved: once proven, never evicted nor shed */
    uint64_t id;              /* for log lines */
    double accepted_at;       /* monotonic_s() at accept */
    struct request req;       /* the request being served */
    struct push *push;        /* DELIVER: the pending push */
    long extended_ms;         /* DELIVER: deadline extensions while the pusher was behind */
    double deliver_due;       /* DELIVER: monotonic_s() its timer was armed to fire at */
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
    return c->proof.proven || (c->state == CONN_BODY && c->proof.vouched);
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

/* The push deadline's timer, and when it is due (to tell a late timer: conn_timer_cb). */
static void conn_arm_deliver_timer(struct conn *c, long ms)
{
    c->deliver_due = monotonic_s() + (double)ms / 1000;
    conn_arm_timer(c, ms);
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
        c->extended_ms = 0;
        conn_arm_deliver_timer(c, pusher_deadline_ms(c->env->pusher, s->push_timeout_ms));
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
 * Returns true when the connection goes on to its next request.
 */
static bool conn_answer(struct conn *c, struct serve_answer *a)
{
    char buf[CONN_ANSWER_MAX];
    size_t blen = strlen(a->body);
    int n;

    if (a->unread) {
        c->req.keep_alive = false;
        c->req.unread = true; /* the client may still be sending what will not be read */
    }
    if (a->ends)
        c->req.keep_alive = false;
    bool ends = !c->req.keep_alive || c->env->stopping;
    if (c->req.stats != NULL)
        stats_count_status(c->req.stats, a->status);
    n = response_head(buf, sizeof(buf), a->status, a->extra, blen, ends);
    if (n < 0) { /* cannot happen with the gateway's own header lines */
        serve_answer_done(a);
        conn_set_state(c, CONN_CLOSED);
        return false;
    }
    if (c->req.head_only)
        blen = 0; /* Content-Length says what a GET would carry; no body follows */
    if ((size_t)n + blen <= sizeof(buf)) {
        memcpy(buf + n, a->body, blen);
        transport_send(c->t, buf, (size_t)n + blen, !ends);
        explicit_bzero(buf, sizeof(buf)); /* a token answer is a credential */
    } else {                              /* a long url_validation answer */
        transport_send(c->t, buf, (size_t)n, false);
        transport_send(c->t, a->body, blen, false);
    }
    serve_answer_done(a);
    conn_set_state(c, ends ? CONN_FLUSH : CONN_IDLE);
    return !ends;
}

/* Answers a request whose input will not be read, made by conn.c itself (408, 431, 503). */
static void conn_reject(struct conn *c, int status, const char *msg)
{
    struct serve_answer a = {0};

    if (status == 503)
        serve_unavailable(&a, msg);
    else
        serve_error(&a, status, NULL, msg);
    a.unread = true;
    conn_answer(c, &a);
}

/* What request handling needs of this connection and its worker. */
static void conn_ctx(const struct conn *c, struct serve_ctx *x)
{
    *x = (struct serve_ctx){
        .settings = &c->env->settings,
        .keyring = c->env->keyring,
        .pusher = c->env->pusher,
        .trusted_proxies = c->env->trusted_proxies,
        .peer = &c->peer,
        .worker_id = c->env->worker_id,
        .conn_id = c->id,
    };
}

/* ---- requests --------------------------------------------------------------------- */

/* What came of a head: its body is read next, or it was answered and the input goes on, or
 * the connection ends. */
enum conn_head_outcome { CONN_HEAD_BODY, CONN_HEAD_ANSWERED, CONN_HEAD_ENDS };

/* Acts on a complete head buf[0..len). */
static enum conn_head_outcome conn_on_head(struct conn *c, const char *buf, size_t len)
{
    struct serve_ctx x;
    struct serve_answer a;
    bool send_continue;

    conn_ctx(c, &x);
    if (serve_head(&x, &c->req, &c->proof, buf, len, evbuffer_get_length(c->t->in), &a,
                   &send_continue) == SERVE_ANSWER)
        return conn_answer(c, &a) ? CONN_HEAD_ANSWERED : CONN_HEAD_ENDS;
    conn_set_state(c, CONN_BODY);
    if (send_continue)
        transport_send(c->t, RESPONSE_CONTINUE, sizeof(RESPONSE_CONTINUE) - 1, true);
    return CONN_HEAD_BODY;
}

static void conn_push_done(void *arg, enum push_result result, const char *error)
{
    struct conn *c = arg;
    struct serve_ctx x;
    struct serve_answer a;

    conn_enter(c);
    c->push = NULL;
    conn_ctx(c, &x);
    serve_pushed(&x, &c->req, result, error, &a);
    conn_answer(c, &a);
    conn_process(c);
    conn_leave(c);
}

/* Queues a verified, admitted delivery: the connection waits for Redis in DELIVER. */
static void conn_push(struct conn *c, const char *body)
{
    struct push_request pr;

    request_push_input(&c->req, body, &pr);
    if (pusher_send(c->env->pusher, &pr, c->req.delivery_id, conn_push_done, c, &c->push) < 0) {
        struct serve_answer a = {0};
        STAT_ADD(out_of_memory_total, 1);
        serve_unavailable(&a, "out of memory");
        conn_answer(c, &a);
        return;
    }
    conn_set_state(c, CONN_DELIVER);
}

/* A whole request is in the input buffer: verify it, then answer or queue it. */
static void conn_on_request(struct conn *c)
{
    struct evbuffer *in = c->t->in;
    size_t total = c->req.head_len + c->req.body_len;
    const unsigned char *all = evbuffer_pullup(in, (ev_ssize_t)total);
    struct serve_ctx x;
    struct serve_answer a;

    gettimeofday(&c->req.done, NULL);
    evtimer_del(c->timer);
    if (all == NULL) {
        STAT_ADD(out_of_memory_total, 1);
        conn_reject(c, 503, "out of memory");
        return;
    }
    const char *body = (const char *)all + c->req.head_len;
    conn_ctx(c, &x);
    if (serve_request(&x, &c->req, &c->proof, body, &a) == SERVE_PUSH)
        conn_push(c, body);
    else
        conn_answer(c, &a);
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
            conn_reject(c, 431, "request head too large");
        else if (c->eof)
            conn_finish(c); /* a head that can no longer complete */
        return false;
    }
    size_t hlen = (size_t)found.pos + 4;
    if (hlen > CONN_MAX_HEAD) {
        conn_reject(c, 431, "request head too large");
        return false;
    }
    const char *head = (const char *)evbuffer_pullup(in, (ev_ssize_t)hlen);
    if (head == NULL) {
        STAT_ADD(out_of_memory_total, 1);
        conn_reject(c, 503, "out of memory");
        return false;
    }
    switch (conn_on_head(c, head, hlen)) {
    case CONN_HEAD_BODY:
        return true;
    case CONN_HEAD_ANSWERED:
        evbuffer_drain(in, hlen);
        return true;
    case CONN_HEAD_ENDS:
        break;
    }
    return false;
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
        conn_reject(c, 408, "request not received in time");
        break;
    case CONN_DELIVER:
        /*
         * The deadline ran out while the push's batch, command or reply still waits in this
         * process, or the timer itself fires late (the loop did not run at the deadline: the
         * process was stopped or descheduled, and a command written in this same pass has
         * had no time to be answered): Redis has not failed. Look again shortly, for at most
         * one more deadline.
         */
        if ((pusher_behind(env->pusher) ||
             monotonic_s() - c->deliver_due > CONN_BEHIND_RECHECK_MS / 1000.0) &&
            c->extended_ms < pusher_deadline_ms(env->pusher, env->settings.push_timeout_ms)) {
            c->extended_ms += CONN_BEHIND_RECHECK_MS;
            conn_arm_deliver_timer(c, CONN_BEHIND_RECHECK_MS);
            break;
        }
        STAT_ADD(push_timeouts_total, 1);
        log_msg(LOG_WARN, "push not confirmed in time", "worker=%d conn=%" PRIu64 " delivery=%s",
                env->worker_id, c->id, c->req.delivery_id);
        push_cancel(c->push); /* its reply, if any, only updates the counters */
        c->push = NULL;
        {
            struct serve_answer a = {0};
            serve_unavailable(&a, "queue did not confirm in time");
            conn_answer(c, &a);
        }
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
    c->accepted_at = monotonic_s();
    c->proof.client = *peer;
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

bool conn_evict_one(struct conn_env *env, double min_age_s)
{
    struct conn *c;
    double born_before = monotonic_s() - min_age_s;

    /* the list is in order of arrival: the oldest first */
    TAILQ_FOREACH(c, &env->conns, link)
    {
        if (c->accepted_at > born_before)
            break; /* this one and every later one are too young */
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
        conn_reject(c, 503, "overloaded");
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
