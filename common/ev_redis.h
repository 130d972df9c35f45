/*
 * A reconnecting hiredis async connection on a libevent base. It connects, sends
 * AUTH/SELECT/PING, reports "up" once PING answered, and on any failure reports
 * "down" and reconnects with capped exponential backoff (50 ms .. 1 s).
 */
#ifndef HOOKPIPE_EV_REDIS_H
#define HOOKPIPE_EV_REDIS_H

#include <event2/event.h>
#include <hiredis/async.h>
#include <stdbool.h>

#include "redis_url.h"

struct redis_link;

/* Called on each transition; up = true once the connection is usable. */
typedef void (*redis_link_state_fn)(struct redis_link *link, bool up, void *arg);

/* Starts connecting at once. url is copied. Returns NULL on allocation failure. */
struct redis_link *redis_link_new(struct event_base *base, const struct redis_url *url,
                                  const char *name, redis_link_state_fn fn, void *arg)
    __attribute__((warn_unused_result));

/* The live context when up, else NULL. Commands sent on it get a NULL reply if it drops. */
redisAsyncContext *redis_link_ctx(struct redis_link *link);

/* Drops the connection now (pending callbacks get NULL replies) and reconnects later. */
void redis_link_reset(struct redis_link *link, const char *why);

/* Disconnects (pending callbacks get NULL replies) and frees. No callbacks after this. */
void redis_link_free(struct redis_link *link);

#endif
