/*
 * hookpipe-ctl gaps: the pure parts — its options, a gap's lost time within the window asked
 * for, and durations as text — so tests/unit/test_ctl_args.c checks them without a database.
 * The command itself is ctl_gaps (ctl.h).
 */
#ifndef HOOKPIPE_CTL_GAPS_H
#define HOOKPIPE_CTL_GAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gaps_args {
    const char *source; /* --source: one [source.NAME] (a valid name), NULL for every source */
    const char *since;  /* --since as given, NULL when absent */
    int64_t since_us;   /* its time (args_time), µs since the epoch; 0 when absent */
    bool json;          /* --json */
};

/*
 * Parses gaps' options (argv after the command word) at now_us (for ages like 2h). Returns
 * 0, or -1 with one line in err: an unknown or repeated option, an argument, a --source that
 * is no name, a --since that is no time.
 */
int gaps_args_parse(int argc, char **argv, int64_t now_us, struct gaps_args *a, char *err,
                    size_t errlen) __attribute__((warn_unused_result));

/*
 * The part of the gap [started_us, ended_us) after since_us (the whole gap when since_us is
 * 0 or earlier): what a total "since T" counts. Never negative.
 */
int64_t gaps_lost_us(int64_t started_us, int64_t ended_us, int64_t since_us);

/*
 * us (>= 0) as text to the millisecond into out (at least 32 bytes): "5.250s",
 * "2m 03.250s", "1h 02m 03.250s", "3d 04h 05m 06.250s".
 */
void gaps_duration_format(int64_t us, char *out, size_t cap);

#endif
