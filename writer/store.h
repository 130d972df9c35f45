/*
 * Storing one batch in PostgreSQL (docs/storage.md, "How a batch flows"): first each
 * row's event_time (the window around its receipt, row.h) and the partitions those need (created
 * when missing, inside the horizon only), then one COPY straight into hookpipe.events; when
 * PostgreSQL rejects that (a duplicate, a bad row), COPY into a staging table made inside the same
 * transaction and INSERT … ON CONFLICT (event_key, event_time) DO NOTHING, bisecting around the
 * rows it rejects, which become dead letters; then the gap items of the batch into hookpipe.gaps
 * (ON CONFLICT DO NOTHING); then the dead letters. Every statement is its own
 * transaction and leaves no session state (PgBouncer-safe). Owns the PostgreSQL connection and
 * every SQL text of the drain.
 */
#ifndef HOOKPIPE_STORE_H
#define HOOKPIPE_STORE_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "row.h"

struct store;

/* The batch is committed: every row inserted or skipped as a duplicate, every dead letter. */
typedef void (*store_done_fn)(void *arg);

/*
 * Connects to cfg's PostgreSQL (cfg must outlive the store) for writer name (for log
 * lines); done is called once per store_batch. Returns NULL on allocation failure.
 */
struct store *store_new(struct event_base *base, const struct config *cfg, const char *name,
                        store_done_fn done, void *arg) __attribute__((warn_unused_result));

/*
 * Starts storing rows[0..n) (n > 0, classified; borrowed until done runs, and rows that
 * PostgreSQL rejects are marked dead here) as batch number id, for log lines. Errors
 * that are not the data's fault are retried with backoff, a lost connection once it is
 * back: done runs only when all is committed, from the event loop, never from within this
 * call. Returns 0, or -1 when out of memory (nothing started).
 */
int store_batch(struct store *s, struct row *rows, size_t n, uint64_t id)
    __attribute__((warn_unused_result));

void store_free(struct store *s);

#endif
