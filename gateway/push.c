/*
 * Push bookkeeping (see push.h). The LPUSH goes out as pre-formatted RESP, so hiredis
 * copies it once and parses no format string; a cancelled push still takes its reply,
 * which only updates the counters. With ack_replicas one WAIT is in flight at a time: it
 * covers every push sent before it, and the pushes sent while it blocks form the group
 * the next WAIT covers, so WAITs never queue up behind each other on the link.
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
#include "timeutil.h"

/* A push is freed when its last reference goes: its LPUSH reply, and its group's WAIT. */
struct push {
    struct pusher *pusher;
    push_done_fn done; /* NULL once cancelled */
    void *arg;
    int refs;          /* 1, or 2 while it also belongs to a WAIT group */
    bool pushed;       /* the LPUSH reply was an integer */
    bool reported;     /* the outcome is known (done called unless cancelled) */
    struct push *next; /* in its group */
};

struct push_group {
    struct pusher *pusher;
    struct push *head, *tail;
};

void pusher_init(struct pusher *p, struct redis_link *link, const char *queue, int worker_id,
                 uint64_t id_prefix, long ack_replicas, long ack_timeout_ms,
                 void (*idle)(void *arg), void *idle_arg)
{
    memset(p, 0, sizeof(*p));
    p->link = link;
    p->queue = queue;
    p->worker_id = worker_id;
    p->id_prefix = id_prefix;
    p->ack_replicas = ack_replicas;
    p->ack_timeout_ms = ack_timeout_ms;
    p->idle = idle;
    p->idle_arg = idle_arg;
    p->last_reply = monotonic_s();
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

static void push_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct push *push = privdata;
    struct pusher *p = push->pusher;
    redisReply *reply = r;
    bool queued = reply != NULL && reply->type == REDIS_REPLY_INTEGER;
    const char *error = reply != NULL && reply->type == REDIS_REPLY_ERROR ? reply->str : NULL;

    if (reply != NULL)
        pusher_saw_reply(p);
    if (queued)
        STAT_SET(queue_length, reply->integer);
    push->pushed = queued;
    if (!queued)
        push_report(push, PUSH_FAILED, error);
    else if (p->ack_replicas == 0)
        push_report(push, PUSH_QUEUED, NULL);
    /* else the group's WAIT decides */
    if (error != NULL)
        redis_link_saw_error(p->link, error); /* READONLY: the master moved */
    push_unref(push);
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

/* Adds push to the open group (the next WAIT's). -1 when out of memory. */
static int pusher_group_add(struct pusher *p, struct push *push)
{
    if (p->open == NULL) {
        p->open = calloc(1, sizeof(*p->open));
        if (p->open == NULL)
            return -1;
        p->open->pusher = p;
    }
    if (p->open->tail != NULL)
        p->open->tail->next = push;
    else
        p->open->head = push;
    p->open->tail = push;
    push->refs++;
    return 0;
}

int pusher_send(struct pusher *p, const struct push_request *req, char id[PUSH_ID_MAX],
                push_done_fn done, void *arg, struct push **out)
{
    redisAsyncContext *ac = redis_link_ctx(p->link);
    char header[ENVELOPE_HEADER_MAX];
    size_t qlen = strlen(p->queue);
    int hlen;
    char *cmd;
    size_t cap, n;
    struct push *push;

    if (ac == NULL)
        return -1;
    snprintf(id, PUSH_ID_MAX, "%012" PRIx64 "%02x%010" PRIx64, p->id_prefix,
             (unsigned)p->worker_id & 0xff, ++p->seq);
    hlen = envelope_encode_header(header, req->source, req->received_us, id, req->request_id,
                                  req->request_id_len, req->body_len);
    if (hlen < 0)
        return -1;
    cap = 64 + qlen + (size_t)hlen + req->body_len + 1; /* + NUL: hiredis 0.14 strchr()s it */
    cmd = malloc(cap);
    push = calloc(1, sizeof(*push));
    if (cmd == NULL || push == NULL) {
        free(cmd);
        free(push);
        return -1;
    }
    n = (size_t)snprintf(cmd, cap, "*3\r\n$5\r\nLPUSH\r\n$%zu\r\n%s\r\n$%zu\r\n", qlen, p->queue,
                         (size_t)hlen + req->body_len);
    memcpy(cmd + n, header, (size_t)hlen);
    n += (size_t)hlen;
    memcpy(cmd + n, req->body, req->body_len);
    n += req->body_len;
    memcpy(cmd + n, "\r\n", 2);
    n += 2;
    cmd[n] = '\0';
    push->pusher = p;
    push->done = done;
    push->arg = arg;
    push->refs = 1;
    if (p->ack_replicas > 0 && pusher_group_add(p, push) < 0) {
        free(cmd);
        free(push);
        return -1;
    }
    if (redisAsyncFormattedCommand(ac, push_reply_cb, push, cmd, n) != REDIS_OK) {
        /* only the link going down fails this; the open group stays for the next WAIT */
        free(cmd);
        if (p->ack_replicas > 0) {
            /* nothing sent: the requester gets -1 and never done; freed with its group */
            push->reported = true;
            push->done = NULL;
            push->refs--;
            pusher_send_wait(p); /* fails the group now if no WAIT is in flight to take it */
            return -1;
        }
        free(push);
        return -1;
    }
    free(cmd);
    p->in_flight++;
    STAT_ADD(requests_in_flight, 1);
    if (p->ack_replicas > 0)
        pusher_send_wait(p);
    *out = push;
    return 0;
}

void push_cancel(struct push *push)
{
    push->done = NULL;
    push->arg = NULL;
}
