/*
 * Progress and summary text for long hookpipe-ctl runs (replay): a bar with count, rate
 * and ETA for a terminal, one summary line otherwise. Pure formatting, no I/O.
 */
#ifndef HOOKPIPE_CTL_PROGRESS_H
#define HOOKPIPE_CTL_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

/* out = seconds as "45s", "3m07s", "2h05m" (or "--" for a negative or absurd value). */
void progress_duration(double seconds, char *out, size_t cap);

/*
 * out = "[#########.........]  45%  450/1000  123.4/s  ETA 4s" for done of total after
 * elapsed_s; bar_width cells of bar. A total of 0 shows 100%; an unknown rate shows no ETA.
 */
void progress_bar(uint64_t done, uint64_t total, double elapsed_s, int bar_width, char *out,
                  size_t cap);

#endif
