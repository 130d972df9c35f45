/*
 * The writer's drain loop: claim a batch from Redis into this writer's processing
 * list, store it in PostgreSQL (COPY into a staging table, INSERT … ON CONFLICT
 * (event_key) DO NOTHING, bisecting around rows PostgreSQL rejects, dead letters),
 * then release it. Also keeps the heartbeat and recovers expired writers' lists.
 */
#ifndef HOOKPIPE_BATCH_H
#define HOOKPIPE_BATCH_H

#include <event2/event.h>

#include "config.h"

struct batch;

/*
 * Starts draining on base with cfg (which must outlive it) as writer name. Returns
 * NULL with a reason in err on failure.
 */
struct batch *batch_start(struct event_base *base, const struct config *cfg, const char *name,
                          char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Graceful stop: stores the batch in flight (flushing a partial one at once), releases
 * it, then breaks the event loop. A second call breaks the loop at once, leaving the
 * processing list for this writer's next start or another writer's recovery.
 */
void batch_stop(struct batch *b);

void batch_free(struct batch *b);

#endif
