/*
 * The writer's client of the reliable queue (docs/design.md "Queue contract"): claim
 * items into this writer's processing list (a claim of none is the heartbeat), read the
 * list back, release a stored batch off its front and say goodbye. Each is one command
 * or script of queue.c on the Redis link, its reply handed to a callback. No policy:
 * when to claim, release or retry is the drain's business.
 */
#ifndef HOOKPIPE_QUEUE_CLIENT_H
#define HOOKPIPE_QUEUE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "ev_redis.h"
#include "queue.h"

struct queue_item {
    char *data; /* the item as stored in Redis (owned) */
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

struct queue_reply {
    enum queue_outcome outcome;
    size_t count;      /* OK claim or read-back: items added */
    long long value;   /* OK release or bye: the script's integer */
    const char *error; /* ERROR: why, valid during the callback only */
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

#endif
