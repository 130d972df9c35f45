/*
 * Storage maintenance (docs/storage.md, "Retention"): create partitions of hookpipe.events ahead,
 * detach and drop those wholly older than [storage] keep_days, delete old dead letters and
 * undated events in small batches. A pass is a sequence of short transactions on its own
 * PostgreSQL connection, so the writer's COPY path never waits for it; each step takes the
 * maintenance advisory lock with pg_try_advisory_xact_lock, so one writer at a time does
 * the work; a daemon's pass skips it when the lock is busy, a --maintain pass waits for
 * it, so --maintain exiting 0 means the work is done. The daemon runs a pass at start and every
 * maintenance_interval_s; hookpipe-writer --maintain runs one and exits.
 */
#ifndef HOOKPIPE_MAINT_H
#define HOOKPIPE_MAINT_H

#include <event2/event.h>
#include <stdbool.h>

#include "config.h"

struct maint;

/* A pass ended: ok false when it was given up (the reason is logged). */
typedef void (*maint_done_fn)(void *arg, bool ok);

/*
 * Connects to cfg's PostgreSQL (cfg must outlive it) and starts a pass as soon as it is
 * up. With once, done runs after that pass and nothing more happens; otherwise a pass
 * runs every maintenance_interval_s and done (may be NULL) after each. NULL on allocation
 * failure.
 */
struct maint *maint_new(struct event_base *base, const struct config *cfg, bool once,
                        maint_done_fn done, void *arg) __attribute__((warn_unused_result));

void maint_free(struct maint *m);

#endif
