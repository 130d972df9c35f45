/*
 * Push bookkeeping (see push.h). The envelopes of one loop turn are coalesced: each push
 * appends its element to the open batch, and the batch goes out as one multi-element
 * LPUSH when the loop has run every callback that was ready (an event activated by the
 * first push of the batch), or at once when it is full. The command is pre-formatted RESP,
 * so hiredis copies it once and parses no format string; its integer reply confirms every
 * push of the batch (LPUSH is atomic), any other outcome fails every one. A cancelled push
 * still takes its reply, which only updates the counters. With ack_replicas one WAIT is in
 * flight at a time: it covers every batch sent before it, and the pushes sent while it
 * blocks form the group the next WAIT covers, so WAITs never queue up behind each other.
 */
#include "push.h"

#include <hiredis/async.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "ev_redis.h"
#include "stats.h"
#include "strbuf.h"
#include "timeutil.h"

#define PUSH_BATCH_MAX 256             /* envelopes per LPUSH, then it goes out at once */
#define PUSH_BATCH_BYTES (1024 * 1024) /* ... or this many bytes of them */
#define PUSH_BATCH_HEAD 24             /* room before the elements for "*N\r\n" */

/* A push is freed when its last reference goes: its LPUSH reply, and its group's WAIT. */
struct push {
    struct pusher *pusher;
    push_done_fn done; /* NULL once cancelled */
    void *arg;
    int refs;                /* 1, or 2 while it also belongs to a WAIT group */
    bool pushed;             /* the LPUSH reply was an integer */
    bool reported;           /* the outcome is known (done called unless cancelled) */
    struct push *next;       /* in its group */
    struct push *batch_next; /* in its batch */
};

struct push_group {
    struct pusher *pusher;
    struct push *head, *tail;
};

/* The pushes one LPUSH carries, and (until it is sent) the command being built. */
struct push_batch {
    struct pusher *pusher;
    struct push *head, *tail;
    size_t n;
    struct push_batch *next_failed; /* in pusher->failed */
    struct strbuf cmd; /* PUSH_BATCH_HEAD bytes of room, "$5 LPUSH $len queue", the elements */
};

static void pusher_flush_cb(evutil_socket_t fd, short what, void *arg);

int pusher_init(struct pusher *p, struct event_base *base, struct redis_link *link,
                const char *queue, int worker_id, uint64_t id_prefix, long ack_replicas,
                long ack_timeout_ms, void (*idle)(void *arg), void *idle_arg)
{
    memset(p, 0, sizeof(*p));
    p->flush_ev = event_new(base, -1, 0, pusher_flush_cb, p);
    if (p->flush_ev == NULL)
        return -1;
    p->link = link;
    p->queue = queue;
    p->worker_id = worker_id;
    p->id_prefix = id_prefix;
    p->ack_replicas = ack_replicas;
    p->ack_timeout_ms = ack_timeout_ms;
    p->idle = idle;
    p->idle_arg = idle_arg;
    p->last_reply = monotonic_s();
    return 0;
}

bool pusher_ready(const struct pusher *p)
{
    return redis_link_ctx(p->link) != NULL; /* NULL unless the link is up */
}

long pusher_deadline_ms(const struct pusher *p, long push_timeout_ms)
{
    return push_timeout_ms + (p->ack_replicas > 0 ? 2 * p->ack_timeout_ms : 0);
}

void pusher_saw_reply(struct pusher *p)
{
    p->last_reply = monotonic_s();
}

bool pusher_behind(struct pusher *p)
{
    return p->batch != NULL || p->failed != NULL || redis_link_behind(p->link);
}

void pusher_timed_out(struct pusher *p, long push_timeout_ms)
{
    long quiet_ms = push_timeout_ms + (p->wait_inflight ? p->ack_timeout_ms : 0);

    if (pusher_ready(p) && monotonic_s() - p->last_reply >= quiet_ms / 1000.0)
        redis_link_reset(p->link, "no reply from redis within push_timeout_ms");
}

/* The outcome of push is known: tell its requester once and count it out of flight. */
static void push_report(struct push *push, enum push_result result, const char *error)
{
    struct pusher *p = push->pusher;

    if (push->reported)
        return;
    push->reported = true;
    p->in_flight--;
    STAT_ADD(requests_in_flight, -1);
    if (result == PUSH_UNREPLICATED)
        STAT_ADD(ack_failures_total, 1);
    if (push->done != NULL)
        push->done(push->arg, result, error);
    if (p->idle != NULL)
        p->idle(p->idle_arg);
}

static void push_unref(struct push *push)
{
    if (--push->refs == 0)
        free(push);
}

/* Settles one push of a batch the LPUSH reply (queued or not) is known for. */
static void push_lpush_outcome(struct push *push, bool queued, const char *error)
{
    push->pushed = queued;
    if (!queued)
        push_report(push, PUSH_FAILED, error);
    else if (push->pusher->ack_replicas == 0)
        push_report(push, PUSH_QUEUED, NULL);
    /* else the group's WAIT decides */
}

/* Settles every push of b and frees it; the batch's command is already gone. */
static void push_batch_finish(struct push_batch *b, bool queued, const char *error)
{
    struct push *push = b->head;

    while (push != NULL) {
        struct push *next = push->batch_next;
        push_lpush_outcome(push, queued, error);
        push_unref(push);
        push = next;
    }
    strbuf_free(&b->cmd);
    free(b);
}

static void push_batch_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct push_batch *b = privdata;
    struct pusher *p = b->pusher;
    redisReply *reply = r;
    bool queued = reply != NULL && reply->type == REDIS_REPLY_INTEGER;
    const char *error = reply != NULL && reply->type == REDIS_REPLY_ERROR ? reply->str : NULL;

    if (reply != NULL)
        pusher_saw_reply(p);
    if (queued)
        STAT_SET(queue_length, reply->integer);
    push_batch_finish(b, queued, error);
    if (error != NULL)
        redis_link_saw_error(p->link, error); /* READONLY: the master moved */
}

static void pusher_send_wait(struct pusher *p);

/* Settles every push of g (result for those Redis took) and frees g. */
static void push_group_finish(struct push_group *g, enum push_result result)
{
    struct push *push = g->head;

    while (push != NULL) {
        struct push *next = push->next;
        push_report(push, push->pushed ? result : PUSH_FAILED, NULL);
        push_unref(push);
        push = next;
    }
    free(g);
}

static void push_wait_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct push_group *g = privdata;
    struct pusher *p = g->pusher;
    redisReply *reply = r;

    p->wait_inflight = false;
    if (reply != NULL)
        pusher_saw_reply(p);
    if (reply == NULL)
        push_group_finish(g, PUSH_FAILED);
    else if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= p->ack_replicas)
        push_group_finish(g, PUSH_QUEUED);
    else if (reply->type == REDIS_REPLY_INTEGER)
        push_group_finish(g, PUSH_UNREPLICATED);
    else
        push_group_finish(g, PUSH_FAILED);
    /* the pushes sent while this WAIT blocked; when the link went, this fails them */
    pusher_send_wait(p);
}

/* Sends the WAIT covering the open group, unless one is in flight already. */
static void pusher_send_wait(struct pusher *p)
{
    redisAsyncContext *ac = redis_link_ctx(p->link);
    struct push_group *g = p->open;

    if (g == NULL || p->wait_inflight)
        return;
    p->open = NULL;
    if (ac == NULL || redisAsyncCommand(ac, push_wait_cb, g, "WAIT %ld %ld", p->ack_replicas,
                                        p->ack_timeout_ms) != REDIS_OK) {
        push_group_finish(g, PUSH_FAILED); /* the link is going: nothing confirmed */
        return;
    }
    p->wait_inflight = true;
}

/* Makes sure there is an open group (the next WAIT's). -1 when out of memory. */
static int pusher_group_open(struct pusher *p)
{
    if (p->open == NULL) {
        p->open = calloc(1, sizeof(*p->open));
        if (p->open == NULL)
            return -1;
        p->open->pusher = p;
    }
    return 0;
}

/* Adds push to the open group, which pusher_group_open made. */
static void pusher_group_add(struct pusher *p, struct push *push)
{
    if (p->open->tail != NULL)
        p->open->tail->next = push;
    else
        p->open->head = push;
    p->open->tail = push;
    push->refs++;
}

/*
 * A batch that could not be sent fails each of its pushes, but never inside pusher_send
 * (its caller is not ready for an answer yet): from the flush event.
 */
static void pusher_batch_failed(struct pusher *p, struct push_batch *b)
{
    b->next_failed = p->failed;
    p->failed = b;
    event_active(p->flush_ev, EV_TIMEOUT, 1);
}

/* Settles every push of the batches that could not be sent. */
static void pusher_fail_batches(struct pusher *p)
{
    while (p->failed != NULL) {
        struct push_batch *b = p->failed;
        p->failed = b->next_failed;
        push_batch_finish(b, false, NULL);
    }
}

/*
 * Sends the open batch as one LPUSH. When it cannot be sent (the link is going, or out of
 * memory) every push of it fails; nothing of it reached Redis.
 */
static void pusher_flush(struct pusher *p)
{
    struct push_batch *b = p->batch;
    redisAsyncContext *ac = redis_link_ctx(p->link);
    char head[PUSH_BATCH_HEAD];
    int hlen;

    if (b == NULL)
        return;
    p->batch = NULL;
    hlen = snprintf(head, sizeof(head), "*%zu\r\n", b->n + 2);
    if (b->cmd.failed || ac == NULL || (p->ack_replicas > 0 && pusher_group_open(p) < 0)) {
        pusher_batch_failed(p, b);
        return;
    }
    /* "*N" right before "$5 LPUSH", in the room left at the start */
    memcpy(b->cmd.data + PUSH_BATCH_HEAD - hlen, head, (size_t)hlen);
    if (redisAsyncFormattedCommand(ac, push_batch_reply_cb, b, b->cmd.data + PUSH_BATCH_HEAD - hlen,
                                   b->cmd.len - PUSH_BATCH_HEAD + (size_t)hlen) != REDIS_OK) {
        pusher_batch_failed(p, b);
        return;
    }
    strbuf_free(&b->cmd); /* hiredis has its copy */
    STAT_ADD(redis_pushes_total, 1);
    if (p->ack_replicas > 0) {
        for (struct push *push = b->head; push != NULL; push = push->batch_next)
            pusher_group_add(p, push);
        pusher_send_wait(p);
    }
}

static void pusher_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pusher *p = arg;

    pusher_flush(p);
    pusher_fail_batches(p);
}

/* The open batch, made (and its flush at the end of this loop turn arranged) if none. */
static struct push_batch *pusher_batch(struct pusher *p)
{
    struct push_batch *b = p->batch;
    size_t qlen = strlen(p->queue);

    if (b != NULL)
        return b;
    b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->pusher = p;
    if (strbuf_reserve(&b->cmd, PUSH_BATCH_HEAD + 64 + qlen) < 0) {
        free(b);
        return NULL;
    }
    b->cmd.len = PUSH_BATCH_HEAD;
    strbuf_printf(&b->cmd, "$5\r\nLPUSH\r\n$%zu\r\n%s\r\n", qlen, p->queue);
    p->batch = b;
    event_active(p->flush_ev, EV_TIMEOUT, 1);
    return b;
}

int pusher_send(struct pusher *p, const struct push_request *req, char id[PUSH_ID_MAX],
                push_done_fn done, void *arg, struct push **out)
{
    char header[ENVELOPE_V2_HEADER_MAX];
    int hlen;
    struct push_batch *b;
    struct push *push;

    if (!pusher_ready(p))
        return -1;
    snprintf(id, PUSH_ID_MAX, "%012" PRIx64 "%02x%010" PRIx64, p->id_prefix,
             (unsigned)p->worker_id & 0xff, ++p->seq);
    if (req->provider == NULL)
        hlen = envelope_encode_header(header, req->source, req->received_us, id, req->request_id,
                                      req->request_id_len, req->body_len);
    else
        hlen = envelope_encode_header_v2(header, req->source, req->received_us, id, req->request_id,
                                         req->request_id_len, req->provider, req->fields,
                                         req->nfields, req->body_len);
    if (hlen < 0)
        return -1;
    push = calloc(1, sizeof(*push));
    b = push != NULL ? pusher_batch(p) : NULL;
    if (b == NULL) {
        free(push);
        return -1;
    }
    /* "$len\r\n" header body "\r\n"; the strbuf's NUL ends the command (hiredis 0.14 needs it) */
    strbuf_printf(&b->cmd, "$%zu\r\n", (size_t)hlen + req->body_len);
    strbuf_append(&b->cmd, header, (size_t)hlen);
    strbuf_append(&b->cmd, req->body, req->body_len);
    strbuf_append(&b->cmd, "\r\n", 2);
    push->pusher = p;
    push->done = done;
    push->arg = arg;
    push->refs = 1;
    if (b->tail != NULL)
        b->tail->batch_next = push;
    else
        b->head = push;
    b->tail = push;
    b->n++;
    p->in_flight++;
    STAT_ADD(requests_in_flight, 1);
    *out = push;
    if (b->n >= PUSH_BATCH_MAX || b->cmd.len >= PUSH_BATCH_BYTES)
        pusher_flush(p);
    return 0;
}

void push_cancel(struct push *push)
{
    push->done = NULL;
    push->arg = NULL;
}

void pusher_free(struct pusher *p)
{
    /* the loop stopped before its turn ended: nothing of these was sent */
    if (p->batch != NULL) {
        pusher_batch_failed(p, p->batch);
        p->batch = NULL;
    }
    pusher_fail_batches(p);
    if (p->flush_ev != NULL)
        event_free(p->flush_ev);
    p->flush_ev = NULL;
}
