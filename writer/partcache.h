/*
 * The writer's memory of which event_time ranges have a partition of hookpipe.events, so
 * that a batch needs a round trip to create partitions only when one of its rows falls
 * outside every known range. Pure logic, unit-tested directly. A stale entry (a partition
 * dropped by retention since) costs one failed COPY: the store then forgets everything and
 * asks again.
 */
#ifndef HOOKPIPE_PARTCACHE_H
#define HOOKPIPE_PARTCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PARTCACHE_MAX 4096 /* ranges remembered; beyond it the oldest learned are forgotten */

struct partcache_range {
    int64_t lo_ms, hi_ms; /* [lo, hi) in ms since the epoch */
};

struct partcache {
    struct partcache_range r[PARTCACHE_MAX];
    size_t n;    /* entries of r[] */
    size_t next; /* slot overwritten when full */
    size_t last; /* entry of the last hit (rows of a batch mostly share a partition) */
};

void partcache_clear(struct partcache *c);

/* True when t_ms lies in a known range. */
bool partcache_covers(struct partcache *c, int64_t t_ms);

/*
 * Learns the ranges in text "lo hi lo hi ..." (decimal ms, as hookpipe.ensure_partitions
 * returns them). Returns how many it learned, or -1 when text is malformed (nothing after
 * the bad token is learned).
 */
int partcache_learn(struct partcache *c, const char *text);

#endif
