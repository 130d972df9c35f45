/*
 * Progress text for hookpipe-ctl (see progress.h); unit-tested in tests/unit/test_ctl_progress.c.
 */
#include "progress.h"

#include <stdio.h>

void progress_duration(double seconds, char *out, size_t cap)
{
    long s;

    if (!(seconds >= 0) || seconds > 1e7) {
        snprintf(out, cap, "--");
        return;
    }
    s = (long)(seconds + 0.5);
    if (s < 60)
        snprintf(out, cap, "%lds", s);
    else if (s < 3600)
        snprintf(out, cap, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(out, cap, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
}

void progress_bar(uint64_t done, uint64_t total, double elapsed_s, int bar_width, char *out,
                  size_t cap)
{
    char bar[128];
    char eta[32];
    double frac = total == 0 ? 1.0 : (double)done / (double)total;
    double rate = elapsed_s > 0 ? (double)done / elapsed_s : 0;
    int fill;

    if (frac > 1)
        frac = 1;
    if (bar_width < 1)
        bar_width = 1;
    if (bar_width > (int)sizeof(bar) - 1)
        bar_width = (int)sizeof(bar) - 1;
    fill = (int)(frac * bar_width);
    for (int i = 0; i < bar_width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[bar_width] = '\0';
    if (done >= total)
        snprintf(eta, sizeof(eta), "done");
    else if (rate > 0)
        progress_duration((double)(total - done) / rate, eta, sizeof(eta));
    else
        snprintf(eta, sizeof(eta), "--");
    snprintf(out, cap, "[%s] %3d%%  %llu/%llu  %.1f/s  ETA %s", bar, (int)(frac * 100),
             (unsigned long long)done, (unsigned long long)total, rate, eta);
}
