/*
 * The connection is a small state machine (DOWN → CONNECTING → SETUP → IDLE ⇄ BUSY)
 * with every transition in pgconn_set_state(). One socket event is re-armed for
 * whatever libpq waits for; no libpq call here ever blocks. pgconn_exec only hands the
 * statement to libpq and activates that event, so every callback runs from the loop.
 */
#include "pgconn.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "log.h"
#include "timeutil.h"

#define PGCONN_BACKOFF_MIN_MS 100
#define PGCONN_BACKOFF_MAX_MS 5000
#define PGCONN_CONNECT_TIMEOUT_S 10
#define PGCONN_STATEMENT_TIMEOUT_S 300 /* no socket progress for this long: drop it */
#define PGCONN_COPY_CHUNK 65536

enum pgconn_state {
    PGCONN_DOWN,       /* waiting for the retry timer */
    PGCONN_CONNECTING, /* PQconnectPoll in progress */
    PGCONN_SETUP,      /* running setup_sql */
    PGCONN_IDLE,       /* ready for pgconn_exec */
    PGCONN_BUSY,       /* a statement is in flight */
};

struct pgconn {
    struct event_base *base;
    char *conninfo;
    char *setup_sql;
    PGconn *pg;
    enum pgconn_state state;
    struct event *io;       /* socket readiness, re-assigned on every wait; activated by exec */
    struct event *retry;    /* reconnect timer */
    struct backoff backoff; /* reconnect delays */
    pgconn_state_fn state_fn;
    void *arg;
    /* the statement in flight */
    const char *copy;          /* COPY data, NULL when none */
    size_t copy_len, copy_off; /* bytes of it, bytes handed to libpq */
    bool copying;              /* libpq is in COPY_IN */
    pgconn_done_fn done;
    void *done_arg;
    struct pgconn_result res;
};

static void pgconn_connect(struct pgconn *c);
static void pgconn_drive(struct pgconn *c);

static const char *pgconn_state_name(enum pgconn_state s)
{
    static const char *const names[] = {"down", "connecting", "setup", "idle", "busy"};
    return names[s];
}

static void pgconn_set_state(struct pgconn *c, enum pgconn_state s)
{
    log_msg(LOG_DEBUG, "pg state", "from=%s to=%s", pgconn_state_name(c->state),
            pgconn_state_name(s));
    c->state = s;
}

static void pgconn_io_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pgconn *c = arg;

    if (what & EV_TIMEOUT) {
        snprintf(c->res.message, sizeof(c->res.message), "%s",
                 c->state == PGCONN_CONNECTING ? "connect timeout" : "statement timeout");
        log_msg(LOG_WARN, "postgres timeout", "state=%s", pgconn_state_name(c->state));
        PQfinish(c->pg);
        c->pg = NULL;
    }
    if (c->state == PGCONN_CONNECTING)
        pgconn_connect(c);
    else
        pgconn_drive(c);
}

static void pgconn_wait(struct pgconn *c, short what, int timeout_s)
{
    struct timeval tv = {timeout_s, 0};

    event_del(c->io);
    event_assign(c->io, c->base, PQsocket(c->pg), what, pgconn_io_cb, c);
    event_add(c->io, &tv);
}

/* Drops the connection; reports the statement in flight as lost, then "down". */
static void pgconn_fail(struct pgconn *c, const char *why)
{
    int delay_ms = backoff_next(&c->backoff);
    struct timeval tv = timeval_ms(delay_ms);
    enum pgconn_state was = c->state;
    pgconn_done_fn done = c->done;
    char msg[512];

    snprintf(msg, sizeof(msg), "%s", why);
    msg[strcspn(msg, "\n")] = '\0';
    log_msg(LOG_WARN, "postgres connection failed", "state=%s error=%s retry_ms=%d",
            pgconn_state_name(was), log_value(msg), delay_ms);
    event_del(c->io);
    if (c->pg != NULL) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    pgconn_set_state(c, PGCONN_DOWN);
    evtimer_add(c->retry, &tv);
    c->done = NULL;
    c->copy = NULL;
    c->copying = false;
    if (was == PGCONN_BUSY && done != NULL) {
        struct pgconn_result res = c->res;
        res.ok = false;
        res.conn_lost = true;
        if (res.message[0] == '\0')
            snprintf(res.message, sizeof(res.message), "%s", msg);
        done(c, &res, c->done_arg);
    }
    if (was == PGCONN_IDLE || was == PGCONN_BUSY)
        c->state_fn(c, false, c->arg);
}

static void pgconn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pgconn *c = arg;

    c->pg = NULL;
    pgconn_connect(c);
}

/* Starts (pg == NULL) or continues a connection attempt. */
static void pgconn_connect(struct pgconn *c)
{
    const char *keys[] = {"dbname", "client_encoding", "application_name", NULL};
    const char *vals[] = {c->conninfo, "UTF8", "hookpipe-writer", NULL};
    PostgresPollingStatusType st;

    if (c->pg == NULL) {
        if (c->state == PGCONN_CONNECTING) {
            pgconn_fail(c, c->res.message[0] ? c->res.message : "connect failed");
            return;
        }
        memset(&c->res, 0, sizeof(c->res));
        c->pg = PQconnectStartParams(keys, vals, 1);
        if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
            pgconn_fail(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
            return;
        }
        pgconn_set_state(c, PGCONN_CONNECTING);
        pgconn_wait(c, EV_WRITE, PGCONN_CONNECT_TIMEOUT_S);
        return;
    }
    st = PQconnectPoll(c->pg);
    switch (st) {
    case PGRES_POLLING_READING:
        pgconn_wait(c, EV_READ, PGCONN_CONNECT_TIMEOUT_S);
        return;
    case PGRES_POLLING_WRITING:
        pgconn_wait(c, EV_WRITE, PGCONN_CONNECT_TIMEOUT_S);
        return;
    case PGRES_POLLING_OK:
        break;
    default:
        pgconn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    if (PQsetnonblocking(c->pg, 1) != 0) {
        pgconn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    if (c->setup_sql == NULL || c->setup_sql[0] == '\0') {
        backoff_reset(&c->backoff);
        pgconn_set_state(c, PGCONN_IDLE);
        c->state_fn(c, true, c->arg);
        return;
    }
    if (!PQsendQuery(c->pg, c->setup_sql)) {
        pgconn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    memset(&c->res, 0, sizeof(c->res));
    pgconn_set_state(c, PGCONN_SETUP);
    pgconn_drive(c);
}

static void pgconn_record_error(struct pgconn *c, const PGresult *r)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

    if (c->res.sqlstate[0] != '\0' || c->res.message[0] != '\0')
        return;
    snprintf(c->res.sqlstate, sizeof(c->res.sqlstate), "%s", state ? state : "");
    snprintf(c->res.message, sizeof(c->res.message), "%s", msg ? msg : PQresultErrorMessage(r));
    c->res.message[strcspn(c->res.message, "\n")] = '\0';
}

/* The statement in flight finished (every result read). */
static void pgconn_complete(struct pgconn *c)
{
    struct pgconn_result res = c->res;
    pgconn_done_fn done = c->done;

    event_del(c->io);
    res.ok = res.sqlstate[0] == '\0' && res.message[0] == '\0';
    if (c->state == PGCONN_SETUP) {
        if (!res.ok) {
            pgconn_fail(c, res.message);
            return;
        }
        backoff_reset(&c->backoff);
        pgconn_set_state(c, PGCONN_IDLE);
        c->state_fn(c, true, c->arg);
        return;
    }
    c->done = NULL;
    c->copy = NULL;
    c->copying = false;
    pgconn_set_state(c, PGCONN_IDLE);
    if (done != NULL)
        done(c, &res, c->done_arg);
}

/* Pushes COPY data and the end-of-copy; returns 1 when done, 0 to wait, -1 on error. */
static int pgconn_push_copy(struct pgconn *c)
{
    while (c->copy_off < c->copy_len) {
        size_t n = c->copy_len - c->copy_off;
        int r;
        if (n > PGCONN_COPY_CHUNK)
            n = PGCONN_COPY_CHUNK;
        r = PQputCopyData(c->pg, c->copy + c->copy_off, (int)n);
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        c->copy_off += n;
    }
    switch (PQputCopyEnd(c->pg, NULL)) {
    case 1:
        c->copying = false;
        return 1;
    case 0:
        return 0;
    default:
        return -1;
    }
}

static void pgconn_drive(struct pgconn *c)
{
    if (c->pg == NULL) {
        pgconn_fail(c, c->res.message[0] ? c->res.message : "connection lost");
        return;
    }
    for (;;) {
        int f;
        if (c->copying) {
            int r = pgconn_push_copy(c);
            if (r < 0) {
                pgconn_fail(c, PQerrorMessage(c->pg));
                return;
            }
            if (r == 0) {
                if (PQflush(c->pg) < 0) {
                    pgconn_fail(c, PQerrorMessage(c->pg));
                    return;
                }
                pgconn_wait(c, EV_READ | EV_WRITE, PGCONN_STATEMENT_TIMEOUT_S);
                return;
            }
        }
        f = PQflush(c->pg);
        if (f < 0) {
            pgconn_fail(c, PQerrorMessage(c->pg));
            return;
        }
        if (f == 1) {
            /* libpq asks to wait for write, but also to read so the server cannot stall us */
            if (!PQconsumeInput(c->pg)) {
                pgconn_fail(c, PQerrorMessage(c->pg));
                return;
            }
            pgconn_wait(c, EV_READ | EV_WRITE, PGCONN_STATEMENT_TIMEOUT_S);
            return;
        }
        if (!PQconsumeInput(c->pg)) {
            pgconn_fail(c, PQerrorMessage(c->pg));
            return;
        }
        while (!c->copying && !PQisBusy(c->pg)) {
            PGresult *r = PQgetResult(c->pg);
            if (r == NULL) {
                if (PQstatus(c->pg) == CONNECTION_BAD) {
                    pgconn_fail(c, PQerrorMessage(c->pg));
                    return;
                }
                pgconn_complete(c);
                return;
            }
            switch (PQresultStatus(r)) {
            case PGRES_COPY_IN:
                if (c->copy == NULL) {
                    /* a COPY we have no data for: end it with an error, keep the session */
                    PQputCopyEnd(c->pg, "no data");
                } else {
                    c->copying = true;
                }
                break;
            case PGRES_COMMAND_OK:
            case PGRES_TUPLES_OK:
                if (PQresultStatus(r) == PGRES_TUPLES_OK) {
                    c->res.value_null =
                        PQntuples(r) < 1 || PQnfields(r) < 1 || PQgetisnull(r, 0, 0);
                    snprintf(c->res.value, sizeof(c->res.value), "%s",
                             c->res.value_null ? "" : PQgetvalue(r, 0, 0));
                }
                if (PQcmdTuples(r)[0] != '\0')
                    c->res.tuples = atol(PQcmdTuples(r));
                break;
            default:
                pgconn_record_error(c, r);
                break;
            }
            PQclear(r);
        }
        if (!c->copying) {
            pgconn_wait(c, EV_READ, PGCONN_STATEMENT_TIMEOUT_S);
            return;
        }
    }
}

struct pgconn *pgconn_new(struct event_base *base, const char *conninfo, const char *setup_sql,
                          pgconn_state_fn state_fn, void *arg)
{
    struct pgconn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->base = base;
    c->state_fn = state_fn;
    c->arg = arg;
    backoff_init(&c->backoff, PGCONN_BACKOFF_MIN_MS, PGCONN_BACKOFF_MAX_MS);
    c->conninfo = strdup(conninfo);
    c->setup_sql = setup_sql ? strdup(setup_sql) : NULL;
    c->io = event_new(base, -1, 0, pgconn_io_cb, c);
    c->retry = evtimer_new(base, pgconn_retry_cb, c);
    if (c->conninfo == NULL || (setup_sql && c->setup_sql == NULL) || c->io == NULL ||
        c->retry == NULL) {
        pgconn_free(c);
        return NULL;
    }
    c->state = PGCONN_DOWN;
    pgconn_connect(c);
    return c;
}

bool pgconn_ready(const struct pgconn *c)
{
    return c->state == PGCONN_IDLE;
}

int pgconn_exec(struct pgconn *c, const struct pgconn_stmt *st, pgconn_done_fn done, void *arg)
{
    int sent;

    if (c->state != PGCONN_IDLE)
        return -1;
    memset(&c->res, 0, sizeof(c->res));
    c->copy = st->copy;
    c->copy_len = st->copy_len;
    c->copy_off = 0;
    c->copying = false;
    c->done = done;
    c->done_arg = arg;
    if (st->nparams > 0)
        sent = PQsendQueryParams(c->pg, st->sql, st->nparams, NULL, st->values, st->lengths,
                                 st->formats, 0);
    else
        sent = PQsendQuery(c->pg, st->sql);
    pgconn_set_state(c, PGCONN_BUSY);
    if (!sent) {
        /* dropped as on a timeout: pgconn_drive reports the statement lost, then "down" */
        snprintf(c->res.message, sizeof(c->res.message), "%s", PQerrorMessage(c->pg));
        c->res.message[strcspn(c->res.message, "\n")] = '\0';
        PQfinish(c->pg);
        c->pg = NULL;
    }
    /* the rest (COPY data, results, done) from the loop, as if the socket were writable */
    event_active(c->io, EV_WRITE, 0);
    return 0;
}

void pgconn_free(struct pgconn *c)
{
    if (c == NULL)
        return;
    /* also cancels an activation by pgconn_exec: no done runs after this */
    if (c->io != NULL)
        event_free(c->io);
    if (c->retry != NULL)
        event_free(c->retry);
    if (c->pg != NULL)
        PQfinish(c->pg);
    free(c->conninfo);
    free(c->setup_sql);
    free(c);
}
