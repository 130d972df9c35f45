/*
 * The writer's metrics: counters declared once in an X-macro (defined, rendered and
 * tested from the same list), two histograms and the queue gauges, rendered as
 * Prometheus text for the admin listener.
 */
#ifndef HOOKPIPE_WRITER_STATS_H
#define HOOKPIPE_WRITER_STATS_H

#include <stdint.h>

#include "metrics.h"

/* X(name, help): each becomes hookpipe_writer_<name>_total. */
#define WRITER_COUNTERS(X)                                                                         \
    X(rows_inserted, "Rows inserted into hookpipe.events")                                         \
    X(duplicates, "Deliveries skipped because their event_key was already stored")                 \
    X(dead_letters, "Deliveries stored in hookpipe.dead_letters")                                  \
    X(gaps, "Gaps of WebSocket subscriptions inserted into hookpipe.gaps (not counting one "       \
            "stored already)")                                                                     \
    X(batches, "Batches committed and released")                                                   \
    X(items_claimed, "Queue items claimed into the processing list")                               \
    X(leftover_items, "Items found in this writer's own processing list at start")                 \
    X(recovered_items, "Items moved back to the queue from expired writers")                       \
    X(bisect_splits, "Batches split in two after PostgreSQL rejected a row")                       \
    X(direct_fallbacks,                                                                            \
      "Batches whose COPY straight into hookpipe.events failed (e.g. a duplicate) and went "       \
      "through the staging table")                                                                 \
    X(pg_errors, "PostgreSQL statements that failed (any reason)")                                 \
    X(pg_reconnects, "PostgreSQL connections established")                                         \
    X(partition_ensures, "Batches that had to create (or look up) partitions before their COPY")   \
    X(partition_misses, "COPYs that found no partition for a row (created, then COPY again)")      \
    X(expired_on_arrival,                                                                          \
      "Rows stored with an event_time already older than [storage] keep_days (they go at the "     \
      "next maintenance pass)")                                                                    \
    X(maintenance_passes, "Maintenance passes finished")                                           \
    X(maintenance_failures, "Maintenance passes given up (logged; retried at the next interval)")  \
    X(partitions_created, "Partitions created ahead by maintenance")                               \
    X(partitions_dropped, "Partitions detached and dropped by retention")                          \
    X(retention_rows_deleted, "Dead letters and undated events deleted by retention")

struct writer_stats {
#define WRITER_STATS_FIELD(name, help) uint64_t name;
    WRITER_COUNTERS(WRITER_STATS_FIELD)
#undef WRITER_STATS_FIELD
    uint64_t rows_undated_out_of_window; /* rows_undated_total{reason="event_ts_out_of_window"} */
    uint64_t rows_undated_no_partition;  /* rows_undated_total{reason="no_partition"} */
    int64_t partitions;            /* partitions of hookpipe.events at the last count, -1 none */
    struct histogram batch_size;   /* rows per committed COPY */
    struct histogram copy_seconds; /* COPY + INSERT + commit latency */
    int64_t queue_length;          /* last LLEN of the queue, -1 unknown */
    double queue_oldest_age;       /* seconds since the oldest queued item arrived, -1 unknown */
    double last_batch_time;        /* Unix time the last batch was committed, 0 none yet */
    int redis_connected;           /* 1 when the Redis link was up at the last heartbeat */
    int nprocessing;               /* entries used in processing[] */
    struct {
        char name[128]; /* writer name */
        int64_t length; /* its processing list length */
    } processing[64];
};

extern struct writer_stats writer_stats;

void writer_stats_init(void);

/*
 * Sets queue_oldest_age from the queue's rightmost (oldest) envelope, item of len bytes (a gap
 * item: from its end), or to 0 when item is NULL (empty queue); -1 when it is neither.
 */
void writer_stats_oldest(const char *item, size_t len);

/* Stamps last_batch_time with the wall clock (a batch was committed). */
void writer_stats_batch_committed(void);

/* Appends the Prometheus text of all writer metrics to sb (admin_render_fn). */
void writer_stats_render(struct strbuf *sb, void *arg);

#endif
