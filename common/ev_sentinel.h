/*
 * Hears the sentinels move a master while a redis_link is connected through them: one
 * connection SUBSCRIBEd to +switch-master, and, independent of it, SENTINEL
 * get-master-addr-by-name asked once a second (a missed message, a subscription being
 * remade). Either way the owner is told the address the sentinels name now.
 */
#ifndef HOOKPIPE_EV_SENTINEL_H
#define HOOKPIPE_EV_SENTINEL_H

#include <event2/event.h>

#include "sentinel.h"

struct sentinel_watch;

/*
 * The sentinels name host:port as master_name's master ("via": "+switch-master" or "poll",
 * for log lines). Called from the loop, for every poll answer too, so mostly with the address
 * the owner is already on: comparing is the owner's job.
 */
typedef void (*sentinel_watch_fn)(void *arg, const char *host, int port, const char *via);

/*
 * Idle until sentinel_watch_follow. target is not copied: it must outlive the watch (the
 * owner's, whose sentinel order the owner updates). name is copied, for log lines. NULL on
 * allocation failure.
 */
struct sentinel_watch *sentinel_watch_new(struct event_base *base,
                                          const struct redis_target *target, const char *name,
                                          sentinel_watch_fn fn, void *arg)
    __attribute__((warn_unused_result));

/*
 * Watches through target->sentinels[0], the sentinel that named the master just connected
 * to (so a sentinel that disagrees with it cannot make the owner flap); one that fails
 * passes the watch to the next. Keeps connections already on that sentinel.
 */
void sentinel_watch_follow(struct sentinel_watch *w);

/* Closes its connections (their callbacks never reach fn) and frees. NULL is a no-op. */
void sentinel_watch_free(struct sentinel_watch *w);

#endif
