/*
 * What every hookpipe-ctl command shares: the loaded config, the one way to reach Redis
 * and PostgreSQL as the daemons do, and the exit-code rule (0 ok, 1 runtime failure,
 * 2 usage or config). Each command group lives in its own file and is called from main.c.
 */
#ifndef HOOKPIPE_CTL_H
#define HOOKPIPE_CTL_H

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

#define CTL_PROG "hookpipe-ctl"

enum ctl_exit { CTL_OK = 0, CTL_FAIL = 1, CTL_USAGE = 2 };

struct ctl {
    const struct config *cfg; /* the daemons' INI, loaded without source secrets */
};

/* One line "hookpipe-ctl: ..." on stderr. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Connects to Redis the way the daemons do ([redis] url: TCP or unix socket, or the master
 * the [redis] sentinels name, checked with ROLE; then AUTH, SELECT) with a 5 s connect and
 * command timeout (1 s per sentinel). NULL after printing one line per server tried
 * (callers exit 1).
 */
redisContext *ctl_redis_connect(const struct ctl *ctl) __attribute__((warn_unused_result));

/*
 * Checks a reply: NULL (I/O error) or an error reply prints one line naming what and
 * returns false (the reply, if any, is freed).
 */
bool ctl_redis_ok(redisContext *rc, redisReply *reply, const char *what);

/* Connects to [postgres] conninfo (connect_timeout 10 s unless it sets one). NULL after one line.
 */
PGconn *ctl_pg_connect(const struct ctl *ctl) __attribute__((warn_unused_result));

/* True for PGRES_COMMAND_OK / TUPLES_OK; otherwise prints what + the server's message. */
bool ctl_pg_ok(PGconn *pg, PGresult *res, const char *what);

/*
 * Runs one statement (nparams text parameters; binary: binary results) into *res, which
 * it clears first, and checks it as ctl_pg_ok does. A command keeps one PGresult *res =
 * NULL through all its statements and clears it once at the end, so no result is freed
 * twice or leaked on an early exit.
 */
bool ctl_pg_query(PGconn *pg, PGresult **res, const char *what, const char *sql, int nparams,
                  const char *const *params, int binary);

/* Wall clock, µs since the epoch. */
int64_t ctl_now_us(void);

/*
 * A WHERE condition (into out, at least CTL_EVENT_TIME_WHERE_LEN bytes) holding every row
 * received in [since_us, until_us): a dated row's event_time lies at most [storage]
 * event_time_past_days before and event_time_future_s after its receipt (docs/design.md
 * "Storage contract"; a day more either side for clocks), the rest is in the undated
 * partition. The bounds are literals, so PostgreSQL prunes the partitions when it plans
 * (a parameter or now() would make it plan, and lock, every partition of hookpipe.events).
 */
#define CTL_EVENT_TIME_WHERE_LEN 160
void ctl_event_time_where(const struct ctl *ctl, int64_t since_us, int64_t until_us, char *out,
                          size_t cap);

/* The command groups: argv[0] is the command's first word after its name. */
int ctl_status(const struct ctl *ctl, int argc, char **argv);
int ctl_dead_letters(const struct ctl *ctl, int argc, char **argv);
int ctl_replay(const struct ctl *ctl, int argc, char **argv);
int ctl_recover(const struct ctl *ctl, int argc, char **argv);
int ctl_purge(const struct ctl *ctl, int argc, char **argv);
int ctl_gaps(const struct ctl *ctl, int argc, char **argv);

#endif
