/*
 * The pass is a small state machine: PREMAKE, then (with keep_days) DROP repeated until no
 * partition is old enough, then DELETE repeated until a batch comes back short, then COUNT
 * (the partitions, also when another writer did the work), then IDLE.
 * Each step is one simple query (one implicit transaction) with SET LOCAL lock_timeout:
 * DETACH PARTITION needs an ACCESS EXCLUSIVE lock on hookpipe.events, so behind a long
 * query it would make every COPY queue behind it; instead it gives up after the timeout
 * and is retried with backoff, a few times, then at the next pass.
 */
#include "maint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "log.h"
#include "pgconn.h"
#include "stats.h"
#include "timeutil.h"

#define MAINT_LOCK_TIMEOUT "SET LOCAL lock_timeout = '500ms'; "
#define MAINT_DELETE_BATCH 1000 /* rows per retention DELETE transaction */
#define MAINT_RETRIES 8         /* attempts of one step that fails (e.g. lock_timeout) */
#define MAINT_RETRY_MIN_MS 250
#define MAINT_RETRY_MAX_MS 5000

enum maint_step {
    MAINT_IDLE,    /* between passes */
    MAINT_PREMAKE, /* partitions of now and the next `premake` intervals */
    MAINT_DROP,    /* one expired partition per transaction */
    MAINT_DELETE,  /* one batch of old dead letters / undated events per transaction */
    MAINT_COUNT,   /* the partitions of hookpipe.events, for hookpipe_writer_partitions */
};

static const char *const maint_step_names[] = {"idle", "premake", "drop", "delete", "count"};

/* From the catalog only: no lock on any partition. */
#define MAINT_COUNT_SQL                                                                            \
    "SELECT count(*) FROM pg_catalog.pg_inherits WHERE inhparent = 'hookpipe.events'::regclass"

struct maint {
    const struct config *cfg;
    struct pgconn *pg;
    bool once;
    maint_done_fn done;
    void *done_arg;
    enum maint_step step;
    bool inflight;        /* a statement awaits its outcome */
    bool pending;         /* a pass is due (waiting for the connection) */
    bool running;         /* a pass has started and not finished */
    int attempts;         /* failures of the current step */
    double started;       /* monotonic_s() at the start of the pass */
    long created;         /* this pass: partitions created */
    long dropped;         /* partitions dropped */
    long deleted;         /* rows deleted */
    struct backoff retry; /* delays between attempts of a failed step */
    struct event *timer;  /* next pass, or next attempt */
};

static void maint_run(struct maint *m);

static void maint_arm(struct maint *m, long ms)
{
    struct timeval tv = timeval_ms(ms);

    evtimer_add(m->timer, &tv);
}

static void maint_finish(struct maint *m, bool ok, const char *why)
{
    m->running = false;
    m->step = MAINT_IDLE;
    m->attempts = 0;
    backoff_reset(&m->retry);
    if (ok) {
        writer_stats.maintenance_passes++;
        log_msg(LOG_INFO, "maintenance done",
                "partitions_created=%ld partitions_dropped=%ld rows_deleted=%ld seconds=%.3f",
                m->created, m->dropped, m->deleted, monotonic_s() - m->started);
    } else {
        writer_stats.maintenance_failures++;
        log_msg(LOG_WARN, "maintenance given up", "error=%s", log_value(why));
    }
    if (!m->once)
        maint_arm(m, m->cfg->storage.maintenance_interval_s * 1000);
    if (m->done != NULL)
        m->done(m->done_arg, ok);
}

/*
 * Another writer holds the maintenance lock. The daemon leaves this pass's work to it; a
 * --maintain pass (once) waits for the lock and does the step itself, so that its exit
 * status 0 means the storage is as configured (main.c bounds the wait).
 */
static void maint_next(struct maint *m, enum maint_step step);

static void maint_busy(struct maint *m)
{
    if (!m->once) {
        log_msg(LOG_INFO, "maintenance skipped, another writer is doing it", "step=%s",
                maint_step_names[m->step]);
        maint_next(m, MAINT_COUNT); /* every writer's gauge stays current */
        return;
    }
    long ms = backoff_next(&m->retry);
    log_msg(LOG_INFO, "maintenance waiting, another writer holds the lock", "step=%s retry_ms=%ld",
            maint_step_names[m->step], ms);
    maint_arm(m, ms);
}

static void maint_next(struct maint *m, enum maint_step step)
{
    m->step = step;
    m->attempts = 0;
    backoff_reset(&m->retry);
    maint_run(m);
}

static void maint_result(struct pgconn *c, const struct pgconn_result *res, void *arg)
{
    struct maint *m = arg;
    long n;

    m->inflight = false;
    if (!res->ok) {
        char why[600];
        if (res->conn_lost)
            return; /* the step is sent again when the connection is back */
        writer_stats.pg_errors++;
        snprintf(why, sizeof(why), "%s: %s (SQLSTATE %s)", maint_step_names[m->step], res->message,
                 res->sqlstate);
        if (++m->attempts >= MAINT_RETRIES) {
            maint_finish(m, false, why);
            return;
        }
        long ms = backoff_next(&m->retry);
        log_msg(LOG_WARN, "maintenance step failed, will retry", "error=%s retry_ms=%ld",
                log_value(why), ms);
        maint_arm(m, ms);
        return;
    }
    if (res->value_null) {
        maint_busy(m);
        return;
    }
    switch (m->step) {
    case MAINT_PREMAKE:
        n = atol(res->value);
        m->created += n;
        writer_stats.partitions_created += (uint64_t)n;
        maint_next(m, m->cfg->storage.keep_days > 0 ? MAINT_DROP : MAINT_COUNT);
        return;
    case MAINT_DROP:
        if (res->value[0] == '\0') {
            maint_next(m, MAINT_DELETE);
            return;
        }
        m->dropped++;
        writer_stats.partitions_dropped++;
        log_msg(LOG_INFO, "partition dropped", "partition=%s keep_days=%ld", res->value,
                m->cfg->storage.keep_days);
        maint_next(m, MAINT_DROP);
        return;
    case MAINT_DELETE:
        n = atol(res->value);
        m->deleted += n;
        writer_stats.retention_rows_deleted += (uint64_t)n;
        maint_next(m, n >= MAINT_DELETE_BATCH ? MAINT_DELETE : MAINT_COUNT);
        return;
    case MAINT_COUNT:
        writer_stats.partitions = atol(res->value);
        maint_next(m, MAINT_IDLE);
        return;
    case MAINT_IDLE:
        return;
    }
}

/* Sends the current step, or finishes the pass when it is IDLE. */
static void maint_run(struct maint *m)
{
    char sql[256];

    if (m->inflight || !pgconn_ready(m->pg))
        return;
    switch (m->step) {
    case MAINT_IDLE:
        if (m->pending) {
            m->pending = false;
            m->running = true;
            m->started = monotonic_s();
            m->created = m->dropped = m->deleted = 0;
            maint_next(m, MAINT_PREMAKE);
        } else if (m->running) {
            maint_finish(m, true, NULL);
        }
        return;
    case MAINT_PREMAKE:
        snprintf(sql, sizeof(sql), MAINT_LOCK_TIMEOUT "SELECT hookpipe.maintain_premake('%s', %ld)",
                 m->cfg->storage.partition_interval, m->cfg->storage.premake);
        break;
    case MAINT_DROP:
        snprintf(sql, sizeof(sql), MAINT_LOCK_TIMEOUT "SELECT hookpipe.maintain_drop_one(%ld)",
                 m->cfg->storage.keep_days);
        break;
    case MAINT_DELETE:
        snprintf(sql, sizeof(sql),
                 MAINT_LOCK_TIMEOUT "SELECT hookpipe.maintain_delete_batch(%ld, %d)",
                 m->cfg->storage.keep_days, MAINT_DELETE_BATCH);
        break;
    case MAINT_COUNT:
        snprintf(sql, sizeof(sql), "%s", MAINT_COUNT_SQL);
        break;
    }
    const struct pgconn_stmt st = {.sql = sql};
    m->inflight = pgconn_exec(m->pg, &st, maint_result, m) == 0;
}

static void maint_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct maint *m = arg;

    if (m->step == MAINT_IDLE)
        m->pending = true; /* the interval passed: a new pass */
    maint_run(m);
}

static void maint_pg_state(struct pgconn *c, bool up, void *arg)
{
    if (up)
        maint_run(arg);
}

struct maint *maint_new(struct event_base *base, const struct config *cfg, bool once,
                        maint_done_fn done, void *arg)
{
    struct maint *m = calloc(1, sizeof(*m));

    if (m == NULL)
        return NULL;
    m->cfg = cfg;
    m->once = once;
    m->done = done;
    m->done_arg = arg;
    m->step = MAINT_IDLE;
    m->pending = true; /* the first pass runs as soon as the connection is up */
    backoff_init(&m->retry, MAINT_RETRY_MIN_MS, MAINT_RETRY_MAX_MS);
    m->timer = evtimer_new(base, maint_timer_cb, m);
    m->pg = pgconn_new(base, cfg->postgres.conninfo, NULL, maint_pg_state, m);
    if (m->timer == NULL || m->pg == NULL) {
        maint_free(m);
        return NULL;
    }
    return m;
}

void maint_free(struct maint *m)
{
    if (m == NULL)
        return;
    pgconn_free(m->pg);
    if (m->timer != NULL)
        event_free(m->timer);
    free(m);
}
