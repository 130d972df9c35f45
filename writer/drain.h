/*
 * The drain: claim a batch from the queue into this writer's processing list, store it
 * in PostgreSQL (store.c), release it from the list, again — with the next batch
 * claimed while PostgreSQL stores this one. One state machine (drain.c).
 */
#ifndef HOOKPIPE_DRAIN_H
#define HOOKPIPE_DRAIN_H

#include <event2/event.h>
#include <stddef.h>

#include "config.h"
#include "queue_client.h"

struct drain;

/* Called once, when a graceful stop has nothing claimed left to store. */
typedef void (*drain_stopped_fn)(void *arg);

/*
 * Creates the drain (and its store, which connects to PostgreSQL at once) on base; cfg
 * and qc must outlive it. It starts by reading the processing list back once Redis is
 * up (drain_redis_up). NULL on allocation failure.
 */
struct drain *drain_new(struct event_base *base, const struct config *cfg, struct queue_client *qc,
                        drain_stopped_fn stopped, void *arg) __attribute__((warn_unused_result));

/* The Redis link is (back) up. */
void drain_redis_up(struct drain *d);

/*
 * Graceful stop: claims nothing new, stores and releases what it holds (a partial batch
 * at once), then calls stopped.
 */
void drain_stop(struct drain *d);

/* Items this writer holds in its processing list (the batch and a prefetched one). */
size_t drain_held(const struct drain *d);

/* The state's name, for log lines. */
const char *drain_state_name(const struct drain *d);

void drain_free(struct drain *d);

#endif
