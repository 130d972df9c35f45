/*
 * Prometheus text helpers. Histograms keep per-bucket atomic counts and render them
 * cumulatively, so observing is one relaxed increment and rendering needs no lock.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void histogram_init(struct histogram *h, const double *bounds, size_t nbounds)
{
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
    h->nbounds = nbounds < HISTOGRAM_MAX_BUCKETS ? nbounds : HISTOGRAM_MAX_BUCKETS;
}

void histogram_observe(struct histogram *h, double value)
{
    size_t i = 0;

    while (i < h->nbounds && value > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    if (value > 0)
        atomic_fetch_add_explicit(&h->sum_micro, (uint64_t)(value * 1e6), memory_order_relaxed);
}

void metrics_header(struct strbuf *sb, const char *name, const char *type, const char *help)
{
    strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void histogram_render(struct strbuf *sb, const char *name, const char *help, const char *labels,
                      struct histogram *h)
{
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;

    metrics_header(sb, name, "histogram", help);
    for (size_t i = 0; i <= h->nbounds; i++) {
        cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < h->nbounds)
            strbuf_printf(sb, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, h->bounds[i],
                          (unsigned long long)cum);
        else
            strbuf_printf(sb, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                          (unsigned long long)cum);
    }
    strbuf_printf(sb, "%s_sum%s%s%s %.6f\n", name, labels[0] ? "{" : "", labels,
                  labels[0] ? "}" : "",
                  (double)atomic_load_explicit(&h->sum_micro, memory_order_relaxed) / 1e6);
    strbuf_printf(sb, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
                  labels[0] ? "}" : "",
                  (unsigned long long)atomic_load_explicit(&h->count, memory_order_relaxed));
}
