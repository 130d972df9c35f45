/*
 * Push bookkeeping (see push.h). The LPUSH goes out as pre-formatted RESP, so hiredis
 * copies it once and parses no format string; a cancelled push still takes its reply,
 * which only updates the counters.
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

struct push {
    struct pusher *pusher;
    push_done_fn done; /* NULL once cancelled */
    void *arg;
};

void pusher_init(struct pusher *p, struct redis_link *link, const char *queue, int worker_id,
                 uint64_t id_prefix, void (*idle)(void *arg), void *idle_arg)
{
    memset(p, 0, sizeof(*p));
    p->link = link;
    p->queue = queue;
    p->worker_id = worker_id;
    p->id_prefix = id_prefix;
    p->idle = idle;
    p->idle_arg = idle_arg;
    p->last_reply = monotonic_s();
}

bool pusher_ready(const struct pusher *p)
{
    return redis_link_ctx(p->link) != NULL; /* NULL unless the link is up */
}

void pusher_saw_reply(struct pusher *p)
{
    p->last_reply = monotonic_s();
}

void pusher_timed_out(struct pusher *p, long push_timeout_ms)
{
    if (pusher_ready(p) && monotonic_s() - p->last_reply >= push_timeout_ms / 1000.0)
        redis_link_reset(p->link, "no reply from redis within push_timeout_ms");
}

static void push_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct push *push = privdata;
    struct pusher *p = push->pusher;
    redisReply *reply = r;
    bool queued = reply != NULL && reply->type == REDIS_REPLY_INTEGER;

    p->in_flight--;
    STAT_ADD(requests_in_flight, -1);
    if (reply != NULL)
        pusher_saw_reply(p);
    if (queued)
        STAT_SET(queue_length, reply->integer);
    if (push->done != NULL)
        push->done(push->arg, queued ? PUSH_QUEUED : PUSH_FAILED,
                   reply != NULL && reply->type == REDIS_REPLY_ERROR ? reply->str : NULL);
    free(push);
    if (p->idle != NULL)
        p->idle(p->idle_arg);
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
    push = malloc(sizeof(*push));
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
    if (redisAsyncFormattedCommand(ac, push_reply_cb, push, cmd, n) != REDIS_OK) {
        free(cmd);
        free(push);
        return -1;
    }
    free(cmd);
    p->in_flight++;
    STAT_ADD(requests_in_flight, 1);
    *out = push;
    return 0;
}

void push_cancel(struct push *push)
{
    push->done = NULL;
    push->arg = NULL;
}
