/*
 * hookpipe-ctl's pure argument helpers: one option table per command (--flag, --flag VALUE,
 * --flag=VALUE, positionals), numbers, the times --since/--until accept and the --event
 * glob turned into a LIKE pattern. No I/O; every error is one line in err.
 */
#ifndef HOOKPIPE_CTL_ARGS_H
#define HOOKPIPE_CTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARGS_ERR_LEN 256

struct args_opt {
    const char *name;   /* "--limit" */
    const char **value; /* receives the value (option takes one), or NULL for a flag */
    bool *set;          /* set true when given (may be NULL for valued options) */
};

/*
 * Parses argv[0..argc) against opts (nopts entries). Non-option words go to pos (at most
 * maxpos; *npos receives the count); "--" ends the options. Returns 0, or -1 with one line
 * in err: an unknown option, a missing value, a repeated option, too many arguments.
 */
int args_parse(int argc, char **argv, const struct args_opt *opts, size_t nopts, char **pos,
               size_t maxpos, size_t *npos, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* A decimal integer in [min, max] with nothing after it. 0, or -1. */
int args_long(const char *s, long min, long max, long *out) __attribute__((warn_unused_result));

/* A positive decimal number (e.g. a rate: "50", "2.5") in (0, max]. 0, or -1. */
int args_double(const char *s, double max, double *out) __attribute__((warn_unused_result));

/*
 * A point in time, as microseconds since the epoch, from:
 *   2026-12-01                   midnight UTC
 *   2026-12-01T10:00[:05[.123]]  (T or a space) UTC unless a zone follows: Z, +02:00, -0500
 *   @1764583200                  Unix seconds
 *   90s, 15m, 2h, 7d             that long before now_us
 * Returns 0, or -1 with a static reason in *why.
 */
int args_time(const char *s, int64_t now_us, int64_t *out_us, const char **why)
    __attribute__((warn_unused_result));

/* out (at least 40 bytes) = us as "YYYY-MM-DD HH:MM:SS.uuuuuu+00" (UTC, for PostgreSQL). */
void args_time_format(int64_t us, char *out, size_t cap);

/*
 * The glob PATTERN (* any run, ? one character, \ quotes the next) as a LIKE pattern with
 * backslash escapes, into out (at least 2 * strlen(pattern) + 1). Returns 0, or -1 for a
 * trailing backslash or no room.
 */
int args_glob_to_like(const char *pattern, char *out, size_t cap)
    __attribute__((warn_unused_result));

#endif
