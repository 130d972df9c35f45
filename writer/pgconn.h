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

/*
 * One statement. sql and the parameters are read only during pgconn_exec (libpq copies
 * them); copy is read while the statement runs and must stay valid until done runs (or
 * pgconn_free).
 */
struct pgconn_stmt {
    const char *sql;           /* a simple query (possibly several statements), or one with $n */
    const char *copy;          /* data for its one COPY … FROM STDIN, NULL when none */
    size_t copy_len;           /* bytes of copy */
    int nparams;               /* > 0: sql is one statement with $1..$nparams */
    const char *const *values; /* as PQsendQueryParams: paramValues */
    const int *lengths;        /* paramLengths (binary parameters only; may be NULL) */
    const int *formats;        /* paramFormats (NULL: all text) */
};

/*
 * Called when the connection becomes usable (up) or is lost (down). Like done, it runs
 * from the event loop, never from within a pgconn call; neither may free c.
 */
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
 * Sends st (see struct pgconn_stmt for what must stay valid). done runs once (unless
 * pgconn_free comes first), always from the event loop after this call has returned —
 * also when the outcome is known at once (the send failed, the connection was lost): a
 * caller sets its state after the call. Returns 0, or -1 when not ready (done is then not
 * called).
 */
int pgconn_exec(struct pgconn *c, const struct pgconn_stmt *st, pgconn_done_fn done, void *arg)
    __attribute__((warn_unused_result));

/* Closes the connection; a statement in flight is abandoned and its done never runs. */
void pgconn_free(struct pgconn *c);

#endif
