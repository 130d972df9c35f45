/*
 * Prometheus text exposition helpers (into a strbuf): counters/gauges
 * rendered from atomics, and fixed-bucket histograms safe to observe from any thread.
 * Each daemon declares its own counters (an X-macro in its stats.h) and renders them
 * with these helpers.
 */
#ifndef HOOKPIPE_METRICS_H
#define HOOKPIPE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

#define HISTOGRAM_MAX_BUCKETS 24

struct histogram {
    const double *bounds; /* upper bounds, ascending */
    size_t nbounds;       /* at most HISTOGRAM_MAX_BUCKETS */
    _Atomic uint64_t
        buckets[HISTOGRAM_MAX_BUCKETS + 1]; /* per bucket (not cumulative); last = +Inf */
    _Atomic uint64_t count;                 /* observations */
    _Atomic uint64_t sum_micro;             /* sum of values, in millionths */
};

/* Sets the bucket bounds (a static array) and zeroes the counts. */
void histogram_init(struct histogram *h, const double *bounds, size_t nbounds);
void histogram_observe(struct histogram *h, double value);

/* Appends # HELP, # TYPE and the _bucket/_sum/_count lines. labels may be "" or "k=\"v\"". */
void histogram_render(struct strbuf *sb, const char *name, const char *help, const char *labels,
                      struct histogram *h);

/* Appends # HELP and # TYPE for a metric family; type is "counter" or "gauge". */
void metrics_header(struct strbuf *sb, const char *name, const char *type, const char *help);

#endif
