/*
 * Defines and renders the writer's metrics. Everything runs on the one event loop,
 * so the counters are plain integers; histograms use the shared atomic helpers.
 */
#include "stats.h"

#include <string.h>
#include <time.h>

#include "envelope.h"
#include "gap.h"

struct writer_stats writer_stats;

static const double stats_batch_bounds[] = {1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
static const double stats_copy_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                           0.1,   0.25,   0.5,   1,    2.5,   5};

void writer_stats_init(void)
{
    memset(&writer_stats, 0, sizeof(writer_stats));
    histogram_init(&writer_stats.batch_size, stats_batch_bounds,
                   sizeof(stats_batch_bounds) / sizeof(stats_batch_bounds[0]));
    histogram_init(&writer_stats.copy_seconds, stats_copy_bounds,
                   sizeof(stats_copy_bounds) / sizeof(stats_copy_bounds[0]));
    writer_stats.queue_length = -1;
    writer_stats.queue_oldest_age = -1;
    writer_stats.partitions = -1;
}

static double stats_wall_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void writer_stats_oldest(const char *item, size_t len)
{
    struct envelope env;
    struct gap gap;
    const char *why;
    int64_t queued_us;
    double age;

    if (item == NULL) {
        writer_stats.queue_oldest_age = 0;
        return;
    }
    if (envelope_decode(item, len, &env, &why) == 0)
        queued_us = env.received_us;
    else if (gap_decode(item, len, &gap, &why) == 0)
        queued_us = gap.ended_us; /* a gap item is queued when its gap ends */
    else {
        writer_stats.queue_oldest_age = -1;
        return;
    }
    age = stats_wall_s() - (double)queued_us / 1e6;
    writer_stats.queue_oldest_age = age > 0 ? age : 0; /* clocks of two hosts may disagree */
}

void writer_stats_batch_committed(void)
{
    writer_stats.last_batch_time = stats_wall_s();
}

void writer_stats_render(struct strbuf *sb, void *arg)
{
#define WRITER_STATS_RENDER(name, help)                                                            \
    metrics_header(sb, "hookpipe_writer_" #name "_total", "counter", help);                        \
    strbuf_printf(sb, "hookpipe_writer_" #name "_total %llu\n",                                    \
                  (unsigned long long)writer_stats.name);
    WRITER_COUNTERS(WRITER_STATS_RENDER)
#undef WRITER_STATS_RENDER
    metrics_header(sb, "hookpipe_writer_rows_undated_total", "counter",
                   "Rows stored undated (event_time 1970) although their body had an event_ts: "
                   "outside the window around their receipt, or no partition allowed for it");
    strbuf_printf(sb,
                  "hookpipe_writer_rows_undated_total{reason=\"event_ts_out_of_window\"} %llu\n",
                  (unsigned long long)writer_stats.rows_undated_out_of_window);
    strbuf_printf(sb, "hookpipe_writer_rows_undated_total{reason=\"no_partition\"} %llu\n",
                  (unsigned long long)writer_stats.rows_undated_no_partition);
    histogram_render(sb, "hookpipe_writer_batch_size", "Rows per committed batch", "",
                     &writer_stats.batch_size);
    histogram_render(sb, "hookpipe_writer_copy_seconds",
                     "Seconds from COPY start to commit, per attempt that committed", "",
                     &writer_stats.copy_seconds);
    metrics_header(sb, "hookpipe_writer_queue_length", "gauge",
                   "Items waiting in the queue (last sample; -1 unknown)");
    strbuf_printf(sb, "hookpipe_writer_queue_length %lld\n", (long long)writer_stats.queue_length);
    metrics_header(sb, "hookpipe_writer_queue_oldest_age_seconds", "gauge",
                   "Seconds since the oldest queued item (rightmost envelope) was received; 0 "
                   "when the queue is empty, -1 unknown");
    strbuf_printf(sb, "hookpipe_writer_queue_oldest_age_seconds %.3f\n",
                  writer_stats.queue_oldest_age);
    metrics_header(sb, "hookpipe_writer_last_batch_timestamp_seconds", "gauge",
                   "Unix time this writer last committed a batch; 0 none since start");
    strbuf_printf(sb, "hookpipe_writer_last_batch_timestamp_seconds %.3f\n",
                  writer_stats.last_batch_time);
    metrics_header(sb, "hookpipe_writer_partitions", "gauge",
                   "Partitions of hookpipe.events, counted at this writer's last maintenance "
                   "pass; -1 before the first");
    strbuf_printf(sb, "hookpipe_writer_partitions %lld\n", (long long)writer_stats.partitions);
    metrics_header(sb, "hookpipe_writer_redis_connected", "gauge",
                   "1 when the writer's Redis connection was up at the last heartbeat, else 0");
    strbuf_printf(sb, "hookpipe_writer_redis_connected %d\n", writer_stats.redis_connected);
    metrics_header(sb, "hookpipe_writer_processing_length", "gauge",
                   "Items in each registered writer's processing list (last sample)");
    for (int i = 0; i < writer_stats.nprocessing; i++)
        strbuf_printf(sb, "hookpipe_writer_processing_length{writer=\"%s\"} %lld\n",
                      writer_stats.processing[i].name,
                      (long long)writer_stats.processing[i].length);
}
