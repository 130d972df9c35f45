/*
 * One non-blocking PostgreSQL connection driven by libevent: PQconnectStartParams /
 * PQconnectPoll, then one statement (optionally with COPY FROM STDIN data, or with
 * parameters) at a time via PQsendQuery*, PQputCopyData, PQflush, PQconsumeInput and
 * PQisBusy on socket events. It reconnects with capped backoff on any failure.
 */
#ifndef HOOKPIPE_PGCONN_H
#define HOOKPIPE_PGCONN_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

struct pgconn;

struct pgconn_result {
    bool ok;           /* every statement succeeded */
    bool conn_lost;    /* the connection failed: outcome unknown, it is reconnecting */
    char sqlstate[6];  /* of the first error, "" when none */
    char message[512]; /* of the first error (primary message), "" when none */
    long tuples;       /* rows affected by the last command that reported a count */
    bool value_null;   /* the first field of the last row-returning command was NULL (or none) */
    char value[1024];  /* else its text (cut to fit) */
};

/* Called when the connection becomes usable (up) or is lost (down). */
typedef void (*pgconn_state_fn)(struct pgconn *c, bool up, void *arg);
/* Called once per pgconn_exec with its outcome; may start the next pgconn_exec. */
typedef void (*pgconn_done_fn)(struct pgconn *c, const struct pgconn_result *res, void *arg);

/*
 * Starts connecting at once. setup_sql (copied; may be NULL) runs on every new
 * connection before it is reported up. Returns NULL on allocation failure.
 */
struct pgconn *pgconn_new(struct event_base *base, const char *conninfo, const char *setup_sql,
                          pgconn_state_fn state_fn, void *arg) __attribute__((warn_unused_result));

/* True when connected and no statement is in flight. */
bool pgconn_ready(const struct pgconn *c);

/*
 * Sends sql (a simple query, possibly several statements). When copy is not NULL the
 * query must contain one COPY … FROM STDIN, which receives the copy_len bytes (the
 * buffer must stay valid until done runs). With nparams > 0 sql is one statement with
 * $n parameters (values/lengths/formats as PQsendQueryParams; copied by libpq).
 * Returns 0, or -1 when not ready (done is then not called).
 */
int pgconn_exec(struct pgconn *c, const char *sql, const char *copy, size_t copy_len, int nparams,
                const char *const *values, const int *lengths, const int *formats,
                pgconn_done_fn done, void *arg) __attribute__((warn_unused_result));

void pgconn_free(struct pgconn *c);

#endif
