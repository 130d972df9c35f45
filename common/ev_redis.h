/*
 * A reconnecting hiredis async connection on a libevent base. It finds the server (url's
 * host, or the master named by Redis Sentinels), connects, sends AUTH/SELECT (and ROLE
 * with Sentinel), PING, reports "up" once PING answered, and on any failure reports
 * "down" and reconnects with capped exponential backoff (50 ms .. 1 s); when the sentinels
 * move the master, it reports "down" and reconnects at once.
 */
#ifndef HOOKPIPE_EV_REDIS_H
#define HOOKPIPE_EV_REDIS_H

#include <event2/event.h>
#include <hiredis/async.h>
#include <stdbool.h>

#include "sentinel.h"

struct redis_link;

/* Called on each transition; up = true once the connection is usable. */
typedef void (*redis_link_state_fn)(struct redis_link *link, bool up, void *arg);

/*
 * Starts connecting at once. target is copied. With sentinels, every (re)connect first
 * asks them for the master, in turn, and checks with ROLE that it is one; while up, ROLE
 * is asked again every second, so a demoted master is left, and the sentinels are heard
 * (+switch-master, and their answer asked every second: ev_sentinel.h), so the link moves
 * within a second or two of their decision. NULL on allocation failure.
 */
struct redis_link *redis_link_new(struct event_base *base, const struct redis_target *target,
                                  const char *name, redis_link_state_fn fn, void *arg)
    __attribute__((warn_unused_result));

/* The live context when up, else NULL. Commands sent on it get a NULL reply if it drops. */
redisAsyncContext *redis_link_ctx(struct redis_link *link);

/*
 * An error reply seen by a user of the link: a READONLY error means the server is a
 * replica now (a failover happened), so the link is reset and the master found again.
 */
void redis_link_saw_error(struct redis_link *link, const char *error);

/*
 * True when the link holds work this process has not done yet: a command not yet written
 * to the socket, or bytes from the server not yet read. A deadline that runs out while this
 * holds measured this process's own delay (a stopped or descheduled process, a long loop
 * turn), not the server's: the answer is there, or the server has not been asked yet.
 */
bool redis_link_behind(struct redis_link *link);

/* Drops the connection now (pending callbacks get NULL replies) and reconnects later. */
void redis_link_reset(struct redis_link *link, const char *why);

/* Disconnects (pending callbacks get NULL replies) and frees. No callbacks after this. */
void redis_link_free(struct redis_link *link);

#endif
