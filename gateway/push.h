/*
 * Delivery pushes of one worker: a delivery id, the envelope, the RESP LPUSH built by
 * hand (one allocation, no format parsing) and sent on the worker's Redis link, and
 * the reply handed back to whoever asked. With ack_replicas, a WAIT follows the LPUSHes
 * and the push is confirmed only once enough replicas have it. Counts pushes in flight
 * and remembers when Redis last answered, so a stalled link can be told from a slow one.
 */
#ifndef HOOKPIPE_PUSH_H
#define HOOKPIPE_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PUSH_ID_MAX 32 /* a delivery id and its NUL */

struct redis_link;
struct push; /* one pending LPUSH; it outlives its requester when cancelled */

enum push_result {
    PUSH_QUEUED,       /* Redis confirmed the LPUSH (and WAIT counted ack_replicas replicas) */
    PUSH_FAILED,       /* an error reply, or the link dropped */
    PUSH_UNREPLICATED, /* the LPUSH is in the master, but WAIT counted too few replicas */
};

/* The outcome of a push; error is Redis' error text, or NULL. Not called once cancelled. */
typedef void (*push_done_fn)(void *arg, enum push_result result, const char *error);

struct push_group; /* the pushes one WAIT covers */

struct pusher {
    struct redis_link *link; /* the worker's Redis link (not owned) */
    long ack_replicas;       /* WAIT for this many replicas; 0 = no WAIT */
    long ack_timeout_ms;     /* WAIT's timeout */
    struct push_group *open; /* pushes sent since the last WAIT went out; NULL = none */
    bool wait_inflight;      /* a WAIT awaits its reply (at most one at a time) */
    const char *queue;       /* Redis list name (not owned) */
    uint64_t id_prefix;      /* random 48 bits per process */
    int worker_id;           /* part of delivery ids */
    uint64_t seq;            /* delivery id counter */
    long in_flight;          /* LPUSHes sent, reply not yet seen */
    double last_reply;       /* monotonic time Redis last answered anything */
    void (*idle)(void *arg); /* called after each push completes (shutdown may end) */
    void *idle_arg;
};

/* What to queue: the envelope fields and the body (copied into the command). */
struct push_request {
    const char *source;
    int64_t received_us;
    const char *request_id; /* may be NULL */
    size_t request_id_len;
    const char *body;
    size_t body_len;
};

/* ack_replicas 0 sends no WAIT. */
void pusher_init(struct pusher *p, struct redis_link *link, const char *queue, int worker_id,
                 uint64_t id_prefix, long ack_replicas, long ack_timeout_ms,
                 void (*idle)(void *arg), void *idle_arg);

/*
 * How long a requester should wait for done: push_timeout_ms, plus with ack_replicas two
 * WAIT timeouts (the WAIT before its own, which blocks the link, and its own).
 */
long pusher_deadline_ms(const struct pusher *p, long push_timeout_ms);

/* True while the link is up (a push can be sent). */
bool pusher_ready(const struct pusher *p);

/*
 * Sends the LPUSH of req. On success writes the delivery id into id, sets *out to the
 * pending push and returns 0; done(arg, ...) follows once. -1 when out of memory or the
 * link is down (nothing sent, done never called).
 */
int pusher_send(struct pusher *p, const struct push_request *req, char id[PUSH_ID_MAX],
                push_done_fn done, void *arg, struct push **out)
    __attribute__((warn_unused_result));

/* The requester is gone: its done callback will not be called. */
void push_cancel(struct push *push);

/* Redis answered something (a push reply, the LLEN probe, the link coming up). */
void pusher_saw_reply(struct pusher *p);

/*
 * A push went unanswered until its deadline. If nothing at all has come back from Redis
 * for push_timeout_ms (plus ack_timeout_ms while a WAIT, which legitimately blocks the
 * link that long, is pending), the link is stalled: reset it, which fails every pending
 * push. A slow replica therefore never resets a healthy link to the master.
 */
void pusher_timed_out(struct pusher *p, long push_timeout_ms);

#endif
