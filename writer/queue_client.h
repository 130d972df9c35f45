/*
 * The writer's client of the reliable queue (docs/design.md "Queue contract"): claim
 * items into this writer's processing list (a claim of none is the heartbeat), read the
 * list back, release a stored batch off its front and say goodbye; for the janitor, read
 * the registered writers, the oldest item and the gauges, and recover an expired writer.
 * Each is one command or script of common/queue.c on the Redis link, its reply handed to
 * a callback; nothing else in the writer sends to the queue's keys. No policy: when to
 * claim, release or retry is the drain's (and the janitor's) business.
 */
#ifndef HOOKPIPE_QUEUE_CLIENT_H
#define HOOKPIPE_QUEUE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "ev_redis.h"
#include "queue.h"

struct queue_item {
    char *data; /* the item as stored in Redis, NUL after its len bytes (owned) */
    size_t len;
};

/* A growable array of items; starts zeroed. */
struct queue_items {
    struct queue_item *v;
    size_t n, cap;
};

/* Frees the items' data; keeps the array for reuse. */
void queue_items_clear(struct queue_items *items);
void queue_items_free(struct queue_items *items);

enum queue_outcome {
    QUEUE_OK,    /* Redis answered as expected */
    QUEUE_ERROR, /* Redis answered an error or something unexpected, or out of memory */
    QUEUE_LOST,  /* no answer: the link dropped, so whether it ran is unknown */
};

/* One writer's processing list length, as the gauges script counted it. */
struct queue_gauge {
    const char *name; /* the writer, NUL-terminated, valid during the callback only */
    long long length; /* its processing list's length */
};

/* What a request came to; count, value and gauges as each request's comment says. */
struct queue_reply {
    enum queue_outcome outcome;
    size_t count;                     /* OK: items added, or (gauges) entries in gauges */
    long long value;                  /* OK: the script's integer, or (gauges) LLEN Q */
    const struct queue_gauge *gauges; /* OK gauges, valid during the callback only */
    const char *error;                /* ERROR: why, valid during the callback only */
};

/* Called once per request that was sent. */
typedef void (*queue_done_fn)(void *arg, const struct queue_reply *reply);

struct queue_client {
    struct redis_link *link;
    struct queue_keys keys;
    char name[128]; /* this writer's name */
    long heartbeat_ttl_s;
};

/* Sets up qc for writer name on queue; link must outlive it. */
void queue_client_init(struct queue_client *qc, struct redis_link *link, const char *queue,
                       const char *name, long heartbeat_ttl_s);

/* True when the link is up, so a request can be sent. */
bool queue_client_up(const struct queue_client *qc);

/*
 * Claims up to count items (moved into the processing list, then appended to into,
 * which must stay valid until done runs) and refreshes the heartbeat. count 0 is the
 * heartbeat alone (into may then be NULL). Returns 0, or -1 when nothing was sent (link
 * down, out of memory): done is then not called.
 */
int queue_client_claim(struct queue_client *qc, long count, struct queue_items *into,
                       queue_done_fn done, void *arg) __attribute__((warn_unused_result));

/* Reads the whole processing list; on OK it replaces into's items. Returns as the claim. */
int queue_client_read_back(struct queue_client *qc, struct queue_items *into, queue_done_fn done,
                           void *arg) __attribute__((warn_unused_result));

/*
 * Removes batch (the first batch->n items of the processing list) if the list still
 * starts with it: value batch->n, or -1 when it does not (another writer recovered it).
 * batch may change once this returns. Returns as the claim.
 */
int queue_client_release(struct queue_client *qc, const struct queue_items *batch,
                         queue_done_fn done, void *arg) __attribute__((warn_unused_result));

/* Forgets this writer if its processing list is empty; value = the list's length. */
int queue_client_bye(struct queue_client *qc, queue_done_fn done, void *arg)
    __attribute__((warn_unused_result));

/*
 * Reads the registered writer names (Q:writers): all of them with sample 0, else at most
 * sample picked at random. On OK they replace into's items. Returns as the claim.
 */
int queue_client_writers(struct queue_client *qc, long sample, struct queue_items *into,
                         queue_done_fn done, void *arg) __attribute__((warn_unused_result));

/* Reads the queue's oldest (rightmost) item: on OK into holds it, or nothing when Q is empty. */
int queue_client_oldest(struct queue_client *qc, struct queue_items *into, queue_done_fn done,
                        void *arg) __attribute__((warn_unused_result));

/*
 * Measures the queue and the processing lists of names (at most QUEUE_GAUGES_MAX, the
 * rest ignored): on OK value is the queue's length and gauges the lists'. names may
 * change once this returns. Returns as the claim.
 */
int queue_client_gauges(struct queue_client *qc, const struct queue_items *names,
                        queue_done_fn done, void *arg) __attribute__((warn_unused_result));

/*
 * Recovers writer name's processing list if its heartbeat has expired: value = the items
 * moved back to the queue, or -1 while name lives. Returns as the claim.
 */
int queue_client_recover(struct queue_client *qc, const char *name, queue_done_fn done, void *arg)
    __attribute__((warn_unused_result));

#endif
