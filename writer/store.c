/*
 * The store runs one statement at a time; store_step() picks the next one from where
 * the batch stands: the partitions its rows need (once per batch, and again after a COPY
 * found none for a row), the ranges of good rows still to COPY (a stack: a rejected range
 * is split in two, a rejected single row becomes a dead letter), then the gaps of WebSocket
 * subscriptions the batch holds (rare: a batch without one sends nothing more), then the dead
 * letters, then done. Every statement's outcome comes back to
 * ensure_done/copy_done/gap_done/dead_done, which record it and call store_step() again.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "log.h"
#include "partcache.h"
#include "pgconn.h"
#include "stats.h"
#include "strbuf.h"
#include "timeutil.h"

#define STORE_RETRY_MIN_MS 250 /* PostgreSQL error that is not the row's fault */
#define STORE_RETRY_MAX_MS 5000
#define STORE_STACK_MAX (2 + 2 * 64) /* bisection depth <= log2(n) + 1 */

/*
 * Every statement is one simple query, hence one implicit transaction, and leaves nothing
 * behind in the session (no SET, no temp table past the commit): a PgBouncer in
 * transaction pooling may hand the next one to another server connection. SET LOCAL
 * applies synchronous_commit = off ([writer]) to that one transaction.
 */
#define STORE_ASYNC_COMMIT "SET LOCAL synchronous_commit = off; "

/*
 * The staging path: a temp table that lives only as long as the transaction, COPY into
 * it, then insert what is new. It commits only if every statement succeeds.
 */
#define STORE_STAGE_SQL                                                                            \
    "CREATE TEMP TABLE hookpipe_stage (ord bigint, source text, event text, event_ts_ms bigint, "  \
    "account_id text, received_us bigint, event_key bytea, payload jsonb, delivery_id text, "      \
    "request_id text, body text, event_time_ms bigint, other_ms bigint, provider text, "           \
    "headers jsonb) ON COMMIT DROP; "                                                              \
    "COPY pg_temp.hookpipe_stage (" ROW_COPY_COLUMNS ") FROM STDIN; "                              \
    "INSERT INTO hookpipe.events (source, event, event_ts, account_id, received_at, event_key, "   \
    "payload, delivery_id, request_id, body, event_time, provider, headers) SELECT source, "       \
    "event, "                                                                                      \
    "timestamptz 'epoch' + event_ts_ms * interval '1 millisecond', account_id, "                   \
    "timestamptz 'epoch' + received_us * interval '1 microsecond', event_key, payload, "           \
    "delivery_id, request_id, body, "                                                              \
    "timestamptz 'epoch' + event_time_ms * interval '1 millisecond', provider, headers "           \
    "FROM pg_temp.hookpipe_stage s "
#define STORE_STAGE_END "ORDER BY ord ON CONFLICT (event_key, event_time) DO NOTHING"
#define STORE_STAGED_SQL STORE_STAGE_SQL STORE_STAGE_END

/*
 * The retry rule (row.h, ROW_RETRY_MARGIN_MS): a row near an edge of the window is inserted
 * only when its event_key is stored neither at other_ms nor, earlier in the range, at that
 * time in the staging table (the INSERT's snapshot does not see its own rows). The other
 * times are also given as constants (%s: quoted timestamptz literals) so that PostgreSQL
 * plans the lookup on their partitions only, never on all of hookpipe.events. Writers
 * storing such rows take turns (a transaction-level advisory lock, taken before the INSERT's
 * snapshot), so two deliveries of one event in flight at once still make one row.
 */
#define STORE_OTHER_LOCK "SELECT pg_advisory_xact_lock(7525356009597530216); "
#define STORE_OTHER_WHERE                                                                          \
    "WHERE s.other_ms IS NULL OR (NOT EXISTS (SELECT 1 FROM hookpipe.events e "                    \
    "WHERE e.event_key = s.event_key AND e.event_time = ANY ('{%s}'::timestamptz[]) "              \
    "AND e.event_time = timestamptz 'epoch' + s.other_ms * interval '1 millisecond') "             \
    "AND NOT EXISTS (SELECT 1 FROM pg_temp.hookpipe_stage p WHERE p.event_key = s.event_key "      \
    "AND p.event_time_ms = s.other_ms AND p.ord < s.ord)) "

/*
 * The optimistic path: COPY the whole batch straight into the table. Zoom retries
 * and re-processed batches are the exception, so most batches need no staging pass;
 * a batch holding any duplicate (unique violation) or bad row fails as a whole and is
 * redone through the staging table, where duplicates are skipped and bad rows found.
 */
#define STORE_DIRECT_SQL "COPY hookpipe.events (" ROW_EVENTS_COLUMNS ") FROM STDIN"

/*
 * Creates the partitions the batch's rows need (before its COPY), only inside the horizon
 * (sql/005_partition_horizon.sql); lock_timeout keeps a long query on hookpipe.events from
 * making it, and every COPY behind it, wait: on a timeout it is retried with backoff.
 * %s: the event times as "{ms,ms,...}", the interval; then keep_days, premake and
 * event_time_future_s.
 */
#define STORE_ENSURE_SQL                                                                           \
    "SET LOCAL lock_timeout = '2s'; "                                                              \
    "SELECT hookpipe.ensure_partitions_within(ARRAY(SELECT timestamptz 'epoch' + x * interval "    \
    "'1 millisecond' FROM unnest('%s'::bigint[]) x), '%s', %ld, %ld, '%ld seconds')"

/*
 * At most this many distinct event times go into one STORE_ENSURE_SQL, so that the bounds
 * it returns fit pgconn_result.value; a batch needing more asks again (the known ones are
 * then skipped).
 */
#define STORE_ENSURE_MAX 32
#define STORE_DAY_MS 86400000LL
#define STORE_UNDATED_END_MS 31536000000LL /* 1971-01-01: the undated partition ends there */

#define STORE_DEAD_SQL                                                                             \
    "INSERT INTO hookpipe.dead_letters (source, received_at, reason, body, delivery_id, "          \
    "item_key) "                                                                                   \
    "VALUES ($1, COALESCE(timestamptz 'epoch' + $2::bigint * interval '1 microsecond', now()), "   \
    "$3, $4, $5, $6) ON CONFLICT (item_key) DO NOTHING"

/*
 * One gap of a WebSocket subscription (sql/006_gaps.sql). Like every statement it is its own
 * transaction, committed before the batch is released: a batch stored again after a crash
 * (or a gap item queued twice) finds its row and inserts nothing. Times are UTC text
 * (row_timestamp_text), exact to the microsecond.
 */
#define STORE_GAP_SQL                                                                              \
    "INSERT INTO hookpipe.gaps (source, started_at, ended_at, reason, recorded_by) "               \
    "VALUES ($1, $2::timestamptz, $3::timestamptz, $4, $5) "                                       \
    "ON CONFLICT (source, started_at) DO NOTHING"

/* PostgreSQL's message when a row's event_time has no partition (SQLSTATE 23514). */
#define STORE_NO_PARTITION "no partition of relation"

struct store_range {
    size_t lo, hi; /* indices into good[] */
};

struct store {
    char name[128]; /* the writer's, for log lines */
    struct pgconn *pg;
    store_done_fn done;
    void *done_arg;
    uint64_t id;                               /* batch number, for log lines */
    struct row *rows;                          /* the batch (borrowed), NULL when none */
    size_t nrows;                              /* its length */
    size_t *good;                              /* indices of rows that are not dead */
    size_t ngood;                              /* entries of good[] */
    struct store_range stack[STORE_STACK_MAX]; /* ranges of good[] still to store */
    size_t nstack;                             /* entries of stack[] */
    size_t gap_next;                           /* next row to look at for gaps */
    size_t dead_next;                          /* next row to look at for dead letters */
    bool direct;           /* the next COPY is the whole batch straight into events */
    bool check_partitions; /* the batch's event times are not yet known to have partitions */
    bool exact_times;      /* ask for each distinct event time, not one per day */
    bool ensure_more;      /* the last request was full: some times may not be in it */
    int64_t sent[STORE_ENSURE_MAX]; /* the times of that request */
    size_t nsent;                   /* entries of sent[] */
    int partition_misses;           /* COPYs in a row that found no partition */
    struct partcache parts;         /* event_time ranges known to have a partition */
    const struct config *cfg;       /* [writer] synchronous_commit, [storage] */
    struct row_window window;       /* [storage] event_time_past_days, event_time_future_s */
    const char *direct_sql;         /* STORE_DIRECT_SQL, with synchronous_commit as configured */
    const char *staged_sql;         /* STORE_STAGED_SQL, likewise */
    bool inflight;                  /* a statement awaits its outcome */
    struct strbuf copy;             /* COPY data of the range in flight */
    struct strbuf sql;         /* its statement, when built for the range (STORE_OTHER_WHERE) */
    double attempt_start;      /* monotonic_s() when that COPY was sent */
    struct backoff retry;      /* delays for errors that are not the data's fault */
    struct event *retry_timer; /* next attempt */
};

static void store_step(struct store *s);

static bool store_row_error(const char *sqlstate)
{
    /* data exception, integrity violation, program limit (e.g. a value too large) */
    return strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0 ||
           strncmp(sqlstate, "54", 2) == 0;
}

static void store_retry_later(struct store *s, const struct pgconn_result *res)
{
    int ms = backoff_next(&s->retry);
    struct timeval tv = timeval_ms(ms);

    log_msg(LOG_WARN, "postgres statement failed, will retry",
            "batch=%llu sqlstate=%s error=%s retry_ms=%d", (unsigned long long)s->id, res->sqlstate,
            log_value(res->message), ms);
    evtimer_add(s->retry_timer, &tv);
}

/*
 * Counts the rows of a committed range whose event_time was already past keep_days when
 * they arrived: they are stored, and go at the next maintenance pass. Undated rows are
 * not counted (their retention goes by received_at).
 */
static void store_count_expired(struct store *s, struct store_range range)
{
    int64_t cutoff;

    if (s->cfg->storage.keep_days <= 0)
        return;
    cutoff = (int64_t)time(NULL) * 1000 - (int64_t)s->cfg->storage.keep_days * STORE_DAY_MS;
    for (size_t i = range.lo; i < range.hi; i++) {
        int64_t t = row_event_time_ms(&s->rows[s->good[i]]);
        if (t >= STORE_UNDATED_END_MS && t < cutoff)
            writer_stats.expired_on_arrival++;
    }
}

/* Counts the rows of a committed range stored undated although their body had an event_ts. */
static void store_count_undated(struct store *s, struct store_range range)
{
    for (size_t i = range.lo; i < range.hi; i++) {
        enum row_place p = s->rows[s->good[i]].place;
        if (p == ROW_OUT_OF_WINDOW)
            writer_stats.rows_undated_out_of_window++;
        else if (p == ROW_NO_PARTITION)
            writer_stats.rows_undated_no_partition++;
    }
}

/* The time a row asks a partition for: its day, or itself after a COPY found none. */
static int64_t store_row_time(const struct store *s, const struct row *r)
{
    int64_t t = row_event_time_ms(r);

    return s->exact_times ? t : t - t % STORE_DAY_MS;
}

/*
 * After hookpipe.ensure_partitions_within answered: a dated row whose time was asked for
 * and still has no partition lies outside the horizon; it is stored undated (row.h).
 */
static void store_place_unpartitioned(struct store *s)
{
    for (size_t i = 0; i < s->ngood; i++) {
        struct row *r = &s->rows[s->good[i]];
        int64_t t;
        bool asked = false;
        if (r->place != ROW_DATED)
            continue;
        t = store_row_time(s, r);
        for (size_t j = 0; j < s->nsent && !asked; j++)
            asked = s->sent[j] == t;
        if (asked && !partcache_covers(&s->parts, t)) {
            row_place_no_partition(r);
            s->direct = false; /* it checks the other place: the staging path */
        }
    }
}

static void store_ensure_done(struct pgconn *c, const struct pgconn_result *res, void *arg)
{
    struct store *s = arg;

    s->inflight = false;
    if (res->ok) {
        writer_stats.partition_ensures++;
        if (partcache_learn(&s->parts, res->value) < 0)
            log_msg(LOG_WARN, "unexpected partition bounds from postgres", "batch=%llu value=%s",
                    (unsigned long long)s->id, log_value(res->value));
        else
            store_place_unpartitioned(s);
        s->check_partitions = s->ensure_more;
        backoff_reset(&s->retry);
        store_step(s);
        return;
    }
    writer_stats.pg_errors++;
    if (res->conn_lost)
        return;
    store_retry_later(s, res); /* lock_timeout (55P03) or anything else: try again later */
}

/*
 * Before the batch's first COPY: are all its event times inside known partitions? If so
 * returns false (nothing to do). Else sends hookpipe.ensure_partitions for the times not
 * covered — one per UTC day, every partition being whole days, or each distinct time after
 * a COPY found no partition — and returns true.
 */
static bool store_send_ensure(struct store *s)
{
    int64_t *sent = s->sent;
    size_t nsent = 0;
    char sql[256 + STORE_ENSURE_MAX * 24];
    struct strbuf list = {0};

    for (size_t i = 0; i < s->ngood && nsent < STORE_ENSURE_MAX; i++) {
        const struct row *r = &s->rows[s->good[i]];
        int64_t t = store_row_time(s, r);
        bool dup = false;
        if (r->place != ROW_DATED || partcache_covers(&s->parts, t))
            continue;
        for (size_t j = 0; j < nsent && !dup; j++)
            dup = sent[j] == t;
        if (!dup)
            sent[nsent++] = t;
    }
    s->nsent = nsent;
    if (nsent == 0) {
        s->check_partitions = false;
        return false;
    }
    s->ensure_more = nsent == STORE_ENSURE_MAX;
    strbuf_append(&list, "{", 1);
    for (size_t j = 0; j < nsent; j++)
        strbuf_printf(&list, "%s%lld", j ? "," : "", (long long)sent[j]);
    strbuf_append(&list, "}", 1);
    if (list.failed) {
        strbuf_free(&list);
        struct timeval tv = timeval_ms(STORE_RETRY_MAX_MS);
        log_msg(LOG_ERROR, "out of memory building partition request", "batch=%llu",
                (unsigned long long)s->id);
        evtimer_add(s->retry_timer, &tv);
        return true;
    }
    snprintf(sql, sizeof(sql), STORE_ENSURE_SQL, list.data, s->cfg->storage.partition_interval,
             s->cfg->storage.keep_days, s->cfg->storage.premake,
             s->cfg->storage.event_time_future_s);
    strbuf_free(&list);
    log_msg(LOG_DEBUG, "ensuring partitions", "batch=%llu times=%zu", (unsigned long long)s->id,
            nsent);
    const struct pgconn_stmt st = {.sql = sql};
    s->inflight = pgconn_exec(s->pg, &st, store_ensure_done, s) == 0;
    return true;
}

/* The range on top of the stack was stored, or rejected: split it or give up on its row. */
static void store_copy_done(struct pgconn *c, const struct pgconn_result *res, void *arg)
{
    struct store *s = arg;
    struct store_range top = s->stack[s->nstack - 1];
    size_t n = top.hi - top.lo;

    s->inflight = false;
    if (res->ok) {
        store_count_expired(s, top);
        store_count_undated(s, top);
        s->partition_misses = 0;
        writer_stats.rows_inserted += (uint64_t)res->tuples;
        writer_stats.duplicates += n - (size_t)res->tuples;
        histogram_observe(&writer_stats.batch_size, (double)n);
        histogram_observe(&writer_stats.copy_seconds, monotonic_s() - s->attempt_start);
        backoff_reset(&s->retry);
        s->nstack--;
        store_step(s);
        return;
    }
    writer_stats.pg_errors++;
    if (res->conn_lost)
        return; /* the range stays on the stack; store_step runs again when reconnected */
    if (strcmp(res->sqlstate, "23514") == 0 && strstr(res->message, STORE_NO_PARTITION) != NULL) {
        /*
         * A partition this writer believed in is gone (retention dropped it) or another
         * writer's is not visible yet: forget what it knew and create what the batch
         * needs, then COPY again. Never a dead letter for this.
         */
        writer_stats.partition_misses++;
        partcache_clear(&s->parts);
        s->check_partitions = true;
        s->exact_times = true;
        if (++s->partition_misses > 1)
            store_retry_later(s, res);
        else
            store_step(s);
        return;
    }
    if (!store_row_error(res->sqlstate)) {
        store_retry_later(s, res);
        return;
    }
    if (s->direct) {
        /* a duplicate or a bad row: redo the batch through the staging table */
        s->direct = false;
        writer_stats.direct_fallbacks++;
        log_msg(LOG_DEBUG, "direct copy failed, using staging", "batch=%llu sqlstate=%s",
                (unsigned long long)s->id, res->sqlstate);
    } else if (n == 1) {
        struct row *r = &s->rows[s->good[top.lo]];
        char reason[600];
        snprintf(reason, sizeof(reason), "postgres: %s (SQLSTATE %s)", res->message, res->sqlstate);
        if (row_mark_dead(r, reason) != 0) {
            store_retry_later(s, res);
            return;
        }
        log_msg(LOG_WARN, "delivery rejected by postgres", "batch=%llu delivery=%s sqlstate=%s",
                (unsigned long long)s->id, r->env.delivery_id, res->sqlstate);
        s->nstack--;
    } else {
        size_t mid = top.lo + n / 2;
        writer_stats.bisect_splits++;
        s->stack[s->nstack - 1] = (struct store_range){mid, top.hi};
        s->stack[s->nstack++] = (struct store_range){top.lo, mid};
    }
    store_step(s);
}

/* The gap row at gap_next was inserted (or was there already), or PostgreSQL refused it. */
static void store_gap_done(struct pgconn *c, const struct pgconn_result *res, void *arg)
{
    struct store *s = arg;
    struct row *r = &s->rows[s->gap_next];

    s->inflight = false;
    if (res->ok) {
        writer_stats.gaps += (uint64_t)res->tuples;
        log_msg(res->tuples > 0 ? LOG_INFO : LOG_DEBUG,
                res->tuples > 0 ? "subscription gap stored" : "subscription gap already stored",
                "batch=%llu source=%s started_us=%lld duration_ms=%lld reason=%s holder=%s",
                (unsigned long long)s->id, r->gap.source, (long long)r->gap.started_us,
                (long long)((r->gap.ended_us - r->gap.started_us) / 1000), r->gap.reason,
                r->gap.holder);
        s->gap_next++;
        backoff_reset(&s->retry);
        store_step(s);
        return;
    }
    writer_stats.pg_errors++;
    if (res->conn_lost)
        return; /* sent again once reconnected */
    if (store_row_error(res->sqlstate)) {
        /* the row's own fault (e.g. a CHECK): kept whole as a dead letter, never dropped */
        char reason[600];
        snprintf(reason, sizeof(reason), "postgres: %s (SQLSTATE %s)", res->message, res->sqlstate);
        if (row_mark_dead(r, reason) == 0) {
            log_msg(LOG_WARN, "subscription gap rejected by postgres",
                    "batch=%llu source=%s sqlstate=%s", (unsigned long long)s->id, r->gap.source,
                    res->sqlstate);
            s->gap_next++;
            store_step(s);
            return;
        }
    }
    store_retry_later(s, res);
}

static void store_send_gap(struct store *s, const struct row *r)
{
    char started[ROW_TIMESTAMP_MAX], ended[ROW_TIMESTAMP_MAX];
    const char *values[5] = {r->gap.source, started, ended, r->gap.reason, r->gap.holder};

    row_timestamp_text(started, r->gap.started_us, true);
    row_timestamp_text(ended, r->gap.ended_us, true);
    const struct pgconn_stmt st = {.sql = STORE_GAP_SQL, .nparams = 5, .values = values};
    s->inflight = pgconn_exec(s->pg, &st, store_gap_done, s) == 0;
}

static void store_dead_done(struct pgconn *c, const struct pgconn_result *res, void *arg)
{
    struct store *s = arg;
    struct row *r = &s->rows[s->dead_next];

    s->inflight = false;
    if (res->ok) {
        writer_stats.dead_letters += (uint64_t)res->tuples;
        log_msg(LOG_WARN, "dead letter stored", "batch=%llu delivery=%s reason=%s",
                (unsigned long long)s->id, r->has_envelope ? r->env.delivery_id : "-",
                log_value(r->reason));
        s->dead_next++;
        backoff_reset(&s->retry);
        store_step(s);
        return;
    }
    writer_stats.pg_errors++;
    if (res->conn_lost)
        return;
    if (!store_row_error(res->sqlstate) || r->dead_minimal) {
        store_retry_later(s, res);
        return;
    }
    /*
     * Only the envelope's fields can be at fault (the body is bytea): store the dead
     * letter again with just reason, raw item and key. Nothing is ever dropped; if even
     * that fails, it is retried like any other error.
     */
    log_msg(LOG_ERROR, "dead letter rejected, storing it without envelope fields",
            "batch=%llu sqlstate=%s error=%s", (unsigned long long)s->id, res->sqlstate,
            log_value(res->message));
    r->dead_minimal = true;
    store_step(s);
}

/*
 * The staging statement of a range holding rows near an edge of the window (row.h): the
 * lock, then STORE_OTHER_WHERE with their other times. NULL when the range has none (the
 * fixed statement serves) or out of memory (buf->failed).
 */
static const char *store_staged_sql(struct store *s, struct store_range range)
{
    struct strbuf times = {0};
    size_t nother = 0;

    for (size_t i = range.lo; i < range.hi; i++) {
        const struct row *r = &s->rows[s->good[i]];
        if (!r->check_other)
            continue;
        if (nother++ > 0)
            strbuf_append(&times, ",", 1);
        strbuf_append(&times, "\"", 1);
        row_timestamp(&times, r->other_ms * 1000, false);
        strbuf_append(&times, "\"", 1);
    }
    if (nother == 0 || times.failed) {
        s->sql.failed = times.failed;
        strbuf_free(&times);
        return NULL;
    }
    strbuf_reset(&s->sql);
    if (!s->cfg->writer.synchronous_commit)
        strbuf_printf(&s->sql, "%s", STORE_ASYNC_COMMIT);
    strbuf_printf(&s->sql, STORE_OTHER_LOCK STORE_STAGE_SQL STORE_OTHER_WHERE STORE_STAGE_END,
                  times.data);
    strbuf_free(&times);
    return s->sql.failed ? NULL : s->sql.data;
}

static void store_send_copy(struct store *s)
{
    struct store_range top = s->stack[s->nstack - 1];
    bool direct = s->direct && s->nstack == 1 && top.lo == 0 && top.hi == s->ngood;
    const char *staged = NULL;

    strbuf_reset(&s->copy);
    for (size_t i = top.lo; i < top.hi; i++) {
        if (direct)
            row_copy_events_line(&s->copy, &s->rows[s->good[i]], s->cfg->storage.keep_body);
        else
            row_copy_line(&s->copy, &s->rows[s->good[i]], (long)i, s->cfg->storage.keep_body);
    }
    s->sql.failed = false;
    if (!direct) {
        staged = store_staged_sql(s, top);
        if (staged == NULL)
            staged = s->staged_sql;
    }
    if (s->copy.failed || s->sql.failed) {
        struct timeval tv = timeval_ms(STORE_RETRY_MAX_MS);
        log_msg(LOG_ERROR, "out of memory building COPY data", "batch=%llu",
                (unsigned long long)s->id);
        evtimer_add(s->retry_timer, &tv);
        return;
    }
    s->attempt_start = monotonic_s();
    const struct pgconn_stmt st = {
        .sql = direct ? s->direct_sql : staged, .copy = s->copy.data, .copy_len = s->copy.len};
    s->inflight = pgconn_exec(s->pg, &st, store_copy_done, s) == 0;
}

static void store_send_dead(struct store *s, struct row *r)
{
    char received[32];
    const char *values[6];
    int lengths[6] = {0, 0, 0, 0, 0, EVENT_KEY_LEN};
    int formats[6] = {0, 0, 0, 1, 0, 1};
    bool env = r->has_envelope && !r->dead_minimal;

    snprintf(received, sizeof(received), "%lld", (long long)r->env.received_us);
    values[0] = env ? r->env.source : NULL;
    values[1] = env && r->env.received_us <= ROW_RECEIVED_US_MAX ? received : NULL; /* now() */
    values[2] = r->reason;
    values[3] = env ? r->env.body : r->item;
    lengths[3] = (int)(env ? r->env.body_len : r->item_len);
    values[4] = env ? r->env.delivery_id : NULL;
    values[5] = (const char *)r->item_key;
    const struct pgconn_stmt st = {.sql = STORE_DEAD_SQL,
                                   .nparams = 6,
                                   .values = values,
                                   .lengths = lengths,
                                   .formats = formats};
    s->inflight = pgconn_exec(s->pg, &st, store_dead_done, s) == 0;
}

/* Sends the batch's next statement, or reports it stored when none is left. */
static void store_step(struct store *s)
{
    store_done_fn done = s->done;

    if (s->rows == NULL || s->inflight || evtimer_pending(s->retry_timer, NULL) ||
        !pgconn_ready(s->pg))
        return;
    if (s->nstack > 0) {
        if (s->check_partitions && store_send_ensure(s))
            return;
        store_send_copy(s);
        return;
    }
    while (s->gap_next < s->nrows && !(s->rows[s->gap_next].is_gap && !s->rows[s->gap_next].dead))
        s->gap_next++;
    if (s->gap_next < s->nrows) {
        store_send_gap(s, &s->rows[s->gap_next]);
        return;
    }
    while (s->dead_next < s->nrows && !s->rows[s->dead_next].dead)
        s->dead_next++;
    if (s->dead_next < s->nrows) {
        store_send_dead(s, &s->rows[s->dead_next]);
        return;
    }
    log_msg(LOG_DEBUG, "batch stored", "batch=%llu items=%zu", (unsigned long long)s->id, s->nrows);
    free(s->good);
    s->good = NULL;
    s->rows = NULL;
    done(s->done_arg);
}

static void store_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    store_step(arg);
}

static void store_pg_state(struct pgconn *c, bool up, void *arg)
{
    struct store *s = arg;

    if (up) {
        writer_stats.pg_reconnects++;
        log_msg(LOG_INFO, "postgres connected", "writer=%s", s->name);
        store_step(s);
    }
}

int store_batch(struct store *s, struct row *rows, size_t n, uint64_t id)
{
    s->good = calloc(n ? n : 1, sizeof(*s->good));
    if (s->good == NULL)
        return -1;
    s->rows = rows;
    s->nrows = n;
    s->id = id;
    s->direct = true;
    s->check_partitions = true;
    s->exact_times = false;
    s->partition_misses = 0;
    s->ngood = s->nstack = s->gap_next = s->dead_next = 0;
    for (size_t i = 0; i < n; i++) {
        if (rows[i].dead || rows[i].is_gap)
            continue;
        row_place_window(&rows[i], &s->window);
        if (rows[i].check_other)
            s->direct = false; /* the retry rule needs the staging path */
        s->good[s->ngood++] = i;
    }
    if (s->ngood > 0)
        s->stack[s->nstack++] = (struct store_range){0, s->ngood};
    log_msg(LOG_DEBUG, "batch flush", "batch=%llu items=%zu rows=%zu", (unsigned long long)id, n,
            s->ngood);
    store_step(s);
    return 0;
}

struct store *store_new(struct event_base *base, const struct config *cfg, const char *name,
                        store_done_fn done, void *arg)
{
    struct store *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->done = done;
    s->done_arg = arg;
    backoff_init(&s->retry, STORE_RETRY_MIN_MS, STORE_RETRY_MAX_MS);
    s->retry_timer = evtimer_new(base, store_retry_cb, s);
    s->cfg = cfg;
    s->window.past_ms = cfg->storage.event_time_past_days * STORE_DAY_MS;
    s->window.future_ms = cfg->storage.event_time_future_s * 1000;
    s->direct_sql =
        cfg->writer.synchronous_commit ? STORE_DIRECT_SQL : STORE_ASYNC_COMMIT STORE_DIRECT_SQL;
    s->staged_sql =
        cfg->writer.synchronous_commit ? STORE_STAGED_SQL : STORE_ASYNC_COMMIT STORE_STAGED_SQL;
    s->pg = pgconn_new(base, cfg->postgres.conninfo, NULL, store_pg_state, s);
    if (s->retry_timer == NULL || s->pg == NULL) {
        store_free(s);
        return NULL;
    }
    return s;
}

void store_free(struct store *s)
{
    if (s == NULL)
        return;
    pgconn_free(s->pg);
    if (s->retry_timer != NULL)
        event_free(s->retry_timer);
    free(s->good);
    strbuf_free(&s->copy);
    strbuf_free(&s->sql);
    free(s);
}
