/*
 * Delivery pushes of one worker: a delivery id, the envelope, and the RESP LPUSH built by
 * hand (no format parsing) and sent on the worker's Redis link — the envelopes of one loop
 * turn coalesced into one multi-element LPUSH — and the reply handed back to each asker. With
 * ack_replicas, a WAIT follows the LPUSHes and the push is confirmed only once enough replicas have
 * it. Counts pushes in flight and remembers when Redis last answered, so a stalled link can be told
 * from a slow one.
 */
#ifndef HOOKPIPE_PUSH_H
#define HOOKPIPE_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

#define PUSH_ID_MAX 32 /* a delivery id and its NUL */

struct event;
struct event_base;
struct redis_link;
struct push;       /* one pending delivery; it outlives its requester when cancelled */
struct push_batch; /* the deliveries one LPUSH will carry */

enum push_result {
    PUSH_QUEUED,       /* Redis confirmed the LPUSH (and WAIT counted ack_replicas replicas) */
    PUSH_FAILED,       /* an error reply, or the link dropped */
    PUSH_UNREPLICATED, /* the LPUSH is in the master, but WAIT counted too few replicas */
};

/* The outcome of a push; error is Redis' error text, or NULL. Not called once cancelled. */
typedef void (*push_done_fn)(void *arg, enum push_result result, const char *error);

struct push_group; /* the pushes one WAIT covers */

struct pusher {
    struct redis_link *link;   /* the worker's Redis link (not owned) */
    long ack_replicas;         /* WAIT for this many replicas; 0 = no WAIT */
    long ack_timeout_ms;       /* WAIT's timeout */
    struct push_group *open;   /* pushes sent since the last WAIT went out; NULL = none */
    struct push_batch *batch;  /* pushes of this loop turn, not sent yet; NULL = none */
    struct push_batch *failed; /* batches that could not be sent: failed from flush_ev */
    struct event *flush_ev;    /* sends batch once the loop has run what was ready */
    bool wait_inflight;        /* a WAIT awaits its reply (at most one at a time) */
    const char *queue;         /* Redis list name (not owned) */
    uint64_t id_prefix;        /* random 48 bits per process */
    int worker_id;             /* part of delivery ids */
    uint64_t seq;              /* delivery id counter */
    long in_flight;            /* pushes batched or sent, outcome not yet known */
    double last_reply;         /* monotonic time Redis last answered anything */
    void (*idle)(void *arg);   /* called after each push completes (shutdown may end) */
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
    const char *provider; /* NULL: Zoom (HP1); else an HP2 envelope with fields */
    struct envelope_field fields[ENVELOPE_FIELDS_N_MAX];
    size_t nfields;
};

/* ack_replicas 0 sends no WAIT. -1 when out of memory. */
int pusher_init(struct pusher *p, struct event_base *base, struct redis_link *link,
                const char *queue, int worker_id, uint64_t id_prefix, long ack_replicas,
                long ack_timeout_ms, void (*idle)(void *arg), void *idle_arg)
    __attribute__((warn_unused_result));

/* Fails the pushes of a batch not sent yet (their requesters are gone) and frees it all. */
void pusher_free(struct pusher *p);

/*
 * How long a requester should wait for done: push_timeout_ms, plus with ack_replicas two
 * WAIT timeouts (the WAIT before its own, which blocks the link, and its own).
 */
long pusher_deadline_ms(const struct pusher *p, long push_timeout_ms);

/* True while the link is up (a push can be sent). */
bool pusher_ready(const struct pusher *p);

/*
 * Adds req to this loop turn's LPUSH. On success writes the delivery id into id, sets *out
 * to the pending push and returns 0; done(arg, ...) follows once, never from inside this
 * call. -1 when out of memory or the link is down (nothing queued, done never called).
 */
int pusher_send(struct pusher *p, const struct push_request *req, char id[PUSH_ID_MAX],
                push_done_fn done, void *arg, struct push **out)
    __attribute__((warn_unused_result));

/* The requester is gone: its done callback will not be called. */
void push_cancel(struct push *push);

/* Redis answered something (a push reply, the LLEN probe, the link coming up). */
void pusher_saw_reply(struct pusher *p);

/*
 * True when what a push waits for is held up in this process, not in Redis: a batch not
 * sent yet, a command not written, or a reply not read (redis_link_behind). A push whose
 * deadline runs out then is not Redis's failure (the process was stopped or descheduled
 * past the deadline): its deadline is extended a little (conn.c).
 */
bool pusher_behind(struct pusher *p);

/*
 * A push went unanswered until its deadline. If nothing at all has come back from Redis
 * for push_timeout_ms (plus ack_timeout_ms while a WAIT, which legitimately blocks the
 * link that long, is pending), the link is stalled: reset it, which fails every pending
 * push. A slow replica therefore never resets a healthy link to the master.
 */
void pusher_timed_out(struct pusher *p, long push_timeout_ms);

#endif
