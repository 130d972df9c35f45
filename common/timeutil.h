/*
 * Time helpers used by every event loop: libevent timeouts from milliseconds, and a
 * monotonic clock in seconds for deadlines and ages.
 */
#ifndef HOOKPIPE_TIMEUTIL_H
#define HOOKPIPE_TIMEUTIL_H

#include <sys/time.h>
#include <time.h>

/* ms milliseconds as a struct timeval (for evtimer_add and friends). */
static inline struct timeval timeval_ms(long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    return tv;
}

/* CLOCK_MONOTONIC in seconds. */
static inline double monotonic_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
