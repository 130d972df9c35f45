/*
 * The writer's upkeep, beside the drain: the heartbeat (every heartbeat_ttl_s / 3, a
 * claim of no items) with the queue gauges for /metrics, and, at start and every
 * recover_interval_s, the recovery of expired writers' processing lists.
 */
#ifndef HOOKPIPE_JANITOR_H
#define HOOKPIPE_JANITOR_H

#include <event2/event.h>

#include "config.h"
#include "queue_client.h"

struct janitor;

/* Starts the timers; qc (and cfg) must outlive the janitor. NULL on allocation failure. */
struct janitor *janitor_new(struct event_base *base, const struct config *cfg,
                            struct queue_client *qc) __attribute__((warn_unused_result));

/* The Redis link is (back) up: beat and look for expired writers now. */
void janitor_redis_up(struct janitor *j);

/* The writer has said goodbye: no more heartbeats or recoveries. */
void janitor_stop(struct janitor *j);

void janitor_free(struct janitor *j);

#endif
