/*
 * The writer daemon's parts wired together on one event loop: the Redis link and the
 * queue client, the drain (with its store) and the janitor; and the way it stops.
 */
#ifndef HOOKPIPE_WRITER_H
#define HOOKPIPE_WRITER_H

#include <event2/event.h>
#include <stddef.h>

#include "config.h"

struct writer;

/*
 * Starts draining on base with cfg (which must outlive it) as writer name. Returns
 * NULL with a reason in err on failure.
 */
struct writer *writer_start(struct event_base *base, const struct config *cfg, const char *name,
                            char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Graceful stop: stores the batch in flight (flushing a partial one at once), releases
 * it, says goodbye, then ends the event loop — or, past shutdown_timeout_s, ends it
 * anyway, leaving the processing list for recovery. A second call ends the loop at once.
 */
void writer_stop(struct writer *w);

void writer_free(struct writer *w);

#endif
