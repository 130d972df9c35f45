/*
 * The drain state machine. One batch at a time; every transition goes through
 * batch_set_state():
 *
 *   RESYNC ──▶ FILLING ──▶ FLUSHING ──▶ RELEASING ──▶ FILLING …
 *
 * RESYNC reads this writer's processing list (its leftovers after a restart, or the
 * truth after a lost claim reply) before anything new is claimed. While PostgreSQL
 * stores a full batch, the next one is claimed and classified (the prefetch), so the
 * writer's own work overlaps the database's; the processing list then holds both, and
 * a release trims exactly the stored batch off its front. The in-memory
 * batch always equals the processing list, which is deleted only after PostgreSQL
 * committed every row and dead letter of it; a crash at any point leaves the list for
 * re-processing, and event_key / item_key uniqueness makes that re-processing free of
 * duplicates.
 */
#include "batch.h"

#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ev_redis.h"
#include "log.h"
#include "pgconn.h"
#include "queue.h"
#include "row.h"
#include "stats.h"

#define BATCH_IDLE_POLL_MS 50  /* queue empty, nothing claimed: next look */
#define BATCH_TOPUP_POLL_MS 10 /* partial batch: next look for more before the deadline */
#define BATCH_RETRY_MIN_MS 250 /* PostgreSQL error that is not the row's fault */
#define BATCH_RETRY_MAX_MS 5000
#define BATCH_REDIS_RETRY_MS 1000 /* Redis answered a script with an error */

#define BATCH_STAGE_SETUP_SQL                                                                      \
    "CREATE TEMP TABLE IF NOT EXISTS hookpipe_stage (ord bigint, source text, event text, "        \
    "event_ts_ms bigint, account_id text, received_us bigint, event_key bytea, payload jsonb, "    \
    "delivery_id text, request_id text) ON COMMIT DELETE ROWS"

/*
 * One simple query, hence one implicit transaction: COPY into the session's staging
 * table, then insert what is new. It commits only if both statements succeed.
 */
#define BATCH_COPY_SQL                                                                             \
    "COPY pg_temp.hookpipe_stage (" ROW_COPY_COLUMNS ") FROM STDIN; "                              \
    "INSERT INTO hookpipe.events (source, event, event_ts, account_id, received_at, event_key, "   \
    "payload, delivery_id, request_id) SELECT source, event, "                                     \
    "timestamptz 'epoch' + event_ts_ms * interval '1 millisecond', account_id, "                   \
    "timestamptz 'epoch' + received_us * interval '1 microsecond', event_key, payload, "           \
    "delivery_id, request_id FROM pg_temp.hookpipe_stage ORDER BY ord "                            \
    "ON CONFLICT (event_key) DO NOTHING"

/*
 * The optimistic path: COPY the whole batch straight into the table. Zoom retries
 * and re-processed batches are the exception, so most batches need no staging pass;
 * a batch holding any duplicate (unique violation) or bad row fails as a whole and is
 * redone through the staging table, where duplicates are skipped and bad rows found.
 */
#define BATCH_DIRECT_SQL "COPY hookpipe.events (" ROW_EVENTS_COLUMNS ") FROM STDIN"

#define BATCH_DEAD_SQL                                                                             \
    "INSERT INTO hookpipe.dead_letters (source, received_at, reason, body, delivery_id, "          \
    "item_key) "                                                                                   \
    "VALUES ($1, COALESCE(timestamptz 'epoch' + $2::bigint * interval '1 microsecond', now()), "   \
    "$3, $4, $5, $6) ON CONFLICT (item_key) DO NOTHING"

enum batch_state {
    BATCH_RESYNC,    /* reading the processing list into memory */
    BATCH_FILLING,   /* claiming until full or flush_interval_ms passed */
    BATCH_FLUSHING,  /* storing rows and dead letters in PostgreSQL */
    BATCH_RELEASING, /* deleting the processing list */
    BATCH_STOPPED,   /* graceful stop finished */
};

struct batch_item {
    char *data; /* the queue item, as stored in Redis */
    size_t len;
};

struct batch_range {
    size_t lo, hi; /* indices into good[] */
};

struct batch {
    struct event_base *base;
    const struct config *cfg;
    char name[128];
    struct queue_keys keys;
    struct redis_link *redis;
    struct pgconn *pg;
    enum batch_state state;
    uint64_t id;              /* batch number, for log lines */
    struct batch_item *items; /* the batch == the processing list */
    size_t nitems, capitems;
    struct row *rows; /* classified items while FLUSHING */
    size_t *good;     /* indices of rows that are not dead */
    size_t ngood;
    struct batch_range *stack; /* ranges of good[] still to store */
    size_t nstack;
    size_t dead_next;        /* next row to look at for dead letters */
    struct copybuf copy;     /* COPY data of the range in flight */
    bool leftover;           /* items came from a previous run: flush at once */
    bool direct;             /* the next attempt is the whole batch straight into events */
    bool redis_inflight;     /* a claim/LRANGE/release awaits its reply */
    struct batch_item *next; /* prefetched items, after the batch in the processing list */
    size_t nnext, capnext;
    struct row *next_rows;     /* next[], classified */
    bool prefetch_inflight;    /* a prefetch claim awaits its reply */
    bool resync_after_release; /* the list may hold items not in memory: re-read it */
    bool pg_inflight;          /* a statement awaits its outcome */
    bool stopping;             /* batch_stop was called */
    int retry_ms;              /* backoff for PostgreSQL errors */
    struct timespec deadline;  /* flush a partial batch at this time */
    struct timespec attempt_start;
    struct event *fill_timer;    /* next claim */
    struct event *retry_timer;   /* next PostgreSQL attempt */
    struct event *hb_timer;      /* heartbeat + gauges */
    struct event *recover_timer; /* look for expired writers */
    struct event *stop_timer;    /* shutdown_timeout_s after batch_stop */
};

static void batch_claim(struct batch *b);
static void batch_flush(struct batch *b);
static void batch_step(struct batch *b);
static void batch_release(struct batch *b);
static void batch_resync(struct batch *b);

static const char *batch_state_name(enum batch_state s)
{
    static const char *const names[] = {"resync", "filling", "flushing", "releasing", "stopped"};
    return names[s];
}

static void batch_set_state(struct batch *b, enum batch_state s)
{
    log_msg(LOG_DEBUG, "batch state", "batch=%llu from=%s to=%s", (unsigned long long)b->id,
            batch_state_name(b->state), batch_state_name(s));
    b->state = s;
}

static double batch_now(struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

static double batch_since(const struct timespec *start)
{
    struct timespec now;
    return batch_now(&now) - ((double)start->tv_sec + (double)start->tv_nsec / 1e9);
}

static void batch_timer(struct event *ev, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

static void batch_clear_items(struct batch *b)
{
    for (size_t i = 0; i < b->nitems; i++)
        free(b->items[i].data);
    b->nitems = 0;
}

static void batch_clear_rows(struct batch *b)
{
    if (b->rows != NULL) {
        for (size_t i = 0; i < b->nitems; i++)
            row_free(&b->rows[i]);
    }
    free(b->rows);
    free(b->good);
    free(b->stack);
    b->rows = NULL;
    b->good = NULL;
    b->stack = NULL;
    b->ngood = b->nstack = b->dead_next = 0;
}

/* Appends the bulk strings of reply to items; -1 on allocation failure. */
static int batch_append_items(struct batch_item **items, size_t *n, size_t *cap,
                              const redisReply *reply)
{
    if (*n + reply->elements > *cap) {
        size_t ncap = *n + reply->elements;
        struct batch_item *p = realloc(*items, ncap * sizeof(*p));
        if (p == NULL)
            return -1;
        *items = p;
        *cap = ncap;
    }
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        char *data = malloc(e->len ? e->len : 1);
        if (data == NULL)
            return -1;
        memcpy(data, e->str, e->len);
        (*items)[*n].data = data;
        (*items)[*n].len = e->len;
        (*n)++;
    }
    return 0;
}

static int batch_take_items(struct batch *b, const redisReply *reply)
{
    return batch_append_items(&b->items, &b->nitems, &b->capitems, reply);
}

/* Classifies items[0..n) into a new rows array; -1 on allocation failure. */
static int batch_classify(struct row **rowsp, const struct batch_item *items, size_t n)
{
    struct row *rows = calloc(n ? n : 1, sizeof(*rows));

    if (rows == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (row_classify(&rows[i], items[i].data, items[i].len) != 0) {
            for (size_t j = 0; j < i; j++)
                row_free(&rows[j]);
            free(rows);
            return -1;
        }
    }
    *rowsp = rows;
    return 0;
}

/* Forgets the prefetched batch (it is still in the processing list). */
static void batch_drop_next(struct batch *b)
{
    for (size_t i = 0; i < b->nnext; i++) {
        if (b->next_rows != NULL)
            row_free(&b->next_rows[i]);
        free(b->next[i].data);
    }
    free(b->next_rows);
    b->next_rows = NULL;
    b->nnext = 0;
}

/* Graceful stop completes once nothing is claimed: forget this writer, then exit. */
static void batch_bye_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct batch *b = privdata;
    event_base_loopexit(b->base, NULL);
}

static void batch_finish_stop(struct batch *b)
{
    redisAsyncContext *ac = redis_link_ctx(b->redis);

    batch_set_state(b, BATCH_STOPPED);
    log_msg(LOG_INFO, "writer stopped", "writer=%s", b->name);
    if (ac == NULL) {
        event_base_loopexit(b->base, NULL);
        return;
    }
    /* a non-empty list (e.g. claimed while Redis answered late) stays findable for recovery */
    if (redisAsyncCommand(ac, batch_bye_cb, b, "EVAL %s 3 %s %s %s %s", queue_script_bye,
                          b->keys.processing, b->keys.heartbeat, b->keys.writers,
                          b->name) != REDIS_OK)
        event_base_loopexit(b->base, NULL); /* the heartbeat expires by itself */
}

/* ---- Redis: claim, resync, release ---- */

/* Decides what FILLING does next, after a claim or resync answered. */
static void batch_after_fill(struct batch *b, size_t claimed)
{
    size_t full = (size_t)b->cfg->writer.batch_size;

    if (b->nitems == 0) {
        if (b->stopping) {
            batch_finish_stop(b);
            return;
        }
        batch_timer(b->fill_timer, b->cfg->writer.flush_interval_ms < BATCH_IDLE_POLL_MS
                                       ? b->cfg->writer.flush_interval_ms
                                       : BATCH_IDLE_POLL_MS);
        return;
    }
    if (b->nitems >= full || b->leftover || b->stopping) {
        batch_flush(b);
        return;
    }
    if (b->nitems == claimed) {
        /* first items of this batch: the flush interval starts now */
        struct timespec now;
        long ms = b->cfg->writer.flush_interval_ms;
        batch_now(&now);
        b->deadline.tv_sec = now.tv_sec + ms / 1000;
        b->deadline.tv_nsec = now.tv_nsec + (ms % 1000) * 1000000L;
        if (b->deadline.tv_nsec >= 1000000000L) {
            b->deadline.tv_sec++;
            b->deadline.tv_nsec -= 1000000000L;
        }
    }
    {
        double left = -batch_since(&b->deadline);
        long ms = (long)(left * 1000);
        if (left <= 0) {
            batch_flush(b);
            return;
        }
        batch_timer(b->fill_timer,
                    ms < BATCH_TOPUP_POLL_MS ? (ms > 0 ? ms : 1) : BATCH_TOPUP_POLL_MS);
    }
}

static void batch_claim_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct batch *b = privdata;
    redisReply *reply = r;

    b->redis_inflight = false;
    if (reply == NULL) {
        /* the claim may or may not have run: re-read the processing list when back */
        batch_set_state(b, BATCH_RESYNC);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || batch_take_items(b, reply) != 0) {
        log_msg(LOG_ERROR, "claim failed", "writer=%s error=%s", b->name,
                log_value(reply->type == REDIS_REPLY_ERROR ? reply->str
                                                           : "unexpected reply or no memory"));
        if (reply->type == REDIS_REPLY_ERROR)
            redis_link_saw_error(b->redis, reply->str); /* READONLY: find the master again */
        batch_set_state(b, BATCH_RESYNC);
        batch_timer(b->fill_timer, BATCH_REDIS_RETRY_MS);
        return;
    }
    writer_stats.items_claimed += reply->elements;
    batch_after_fill(b, reply->elements);
}

static void batch_claim(struct batch *b)
{
    redisAsyncContext *ac = redis_link_ctx(b->redis);
    long room = b->cfg->writer.batch_size - (long)b->nitems;

    if (ac == NULL || b->redis_inflight || b->state != BATCH_FILLING)
        return;
    b->redis_inflight = true;
    if (redisAsyncCommand(ac, batch_claim_cb, b, "EVAL %s 4 %s %s %s %s %ld %s %ld",
                          queue_script_claim, b->keys.queue, b->keys.processing, b->keys.heartbeat,
                          b->keys.writers, room, b->name,
                          b->cfg->writer.heartbeat_ttl_s) != REDIS_OK) {
        b->redis_inflight = false;
        batch_set_state(b, BATCH_RESYNC);
    }
}

static void batch_resync_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct batch *b = privdata;
    redisReply *reply = r;

    b->redis_inflight = false;
    if (reply == NULL)
        return;         /* still RESYNC; redone when Redis is back */
    batch_drop_next(b); /* anything prefetched is in the list, read here again */
    batch_clear_items(b);
    if (reply->type != REDIS_REPLY_ARRAY || batch_take_items(b, reply) != 0) {
        batch_clear_items(b);
        log_msg(LOG_ERROR, "reading processing list failed", "writer=%s", b->name);
        batch_timer(b->fill_timer, BATCH_REDIS_RETRY_MS);
        return;
    }
    if (b->nitems > 0) {
        log_msg(LOG_INFO, "processing list found", "writer=%s items=%zu", b->name, b->nitems);
        writer_stats.leftover_items += b->nitems;
        b->leftover = true;
    }
    batch_set_state(b, BATCH_FILLING);
    batch_after_fill(b, b->nitems);
}

static void batch_resync(struct batch *b)
{
    redisAsyncContext *ac = redis_link_ctx(b->redis);

    if (ac == NULL || b->redis_inflight || b->state != BATCH_RESYNC)
        return;
    b->redis_inflight = true;
    if (redisAsyncCommand(ac, batch_resync_cb, b, "LRANGE %s 0 -1", b->keys.processing) != REDIS_OK)
        b->redis_inflight = false;
}

/* The stored batch is off the processing list: go on with the prefetched one, or claim. */
static void batch_after_release(struct batch *b)
{
    log_msg(LOG_DEBUG, "batch released", "batch=%llu items=%zu", (unsigned long long)b->id,
            b->nitems);
    writer_stats.batches++;
    batch_clear_rows(b);
    batch_clear_items(b);
    b->leftover = false;
    if (b->resync_after_release) {
        b->resync_after_release = false;
        batch_drop_next(b);
        batch_set_state(b, BATCH_RESYNC);
        batch_resync(b);
        return;
    }
    if (b->nnext > 0) {
        /* the prefetched batch becomes the batch, already classified */
        struct batch_item *items = b->items;
        size_t cap = b->capitems;
        b->items = b->next;
        b->nitems = b->nnext;
        b->capitems = b->capnext;
        b->rows = b->next_rows;
        b->next = items;
        b->capnext = cap;
        b->nnext = 0;
        b->next_rows = NULL;
        batch_set_state(b, BATCH_FILLING);
        batch_flush(b);
        return;
    }
    batch_set_state(b, BATCH_FILLING);
    if (b->stopping)
        batch_finish_stop(b);
    else
        batch_claim(b);
}

static void batch_release_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct batch *b = privdata;
    redisReply *reply = r;

    b->redis_inflight = false;
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        /* committed already; release again when Redis is back (re-processing is harmless) */
        if (reply != NULL)
            batch_timer(b->fill_timer, BATCH_REDIS_RETRY_MS);
        return;
    }
    if (reply->integer < 0) {
        /* the list no longer starts with this batch: it was recovered by another writer */
        log_msg(LOG_WARN, "processing list changed under this writer, re-reading it",
                "batch=%llu items=%zu", (unsigned long long)b->id, b->nitems);
        b->resync_after_release = true;
    }
    batch_after_release(b);
}

static void batch_release(struct batch *b)
{
    redisAsyncContext *ac = redis_link_ctx(b->redis);
    const struct batch_item *first, *last;

    batch_set_state(b, BATCH_RELEASING);
    if (b->nitems == 0) {
        batch_after_release(b);
        return;
    }
    if (ac == NULL || b->redis_inflight)
        return;
    first = &b->items[0];
    last = &b->items[b->nitems - 1];
    b->redis_inflight = true;
    /* hiredis 0.14's formatter knows no %zu: pass the count as long */
    if (redisAsyncCommand(ac, batch_release_cb, b, "EVAL %s 1 %s %ld %b %b", queue_script_release,
                          b->keys.processing, (long)b->nitems, first->data, first->len, last->data,
                          last->len) != REDIS_OK) {
        b->redis_inflight = false;
        batch_timer(b->fill_timer, BATCH_REDIS_RETRY_MS);
    }
}

/* ---- prefetch: the next batch, claimed and classified while PostgreSQL works ---- */

static void batch_prefetch_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct batch *b = privdata;
    redisReply *reply = r;

    b->prefetch_inflight = false;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        batch_append_items(&b->next, &b->nnext, &b->capnext, reply) != 0) {
        /* it may have claimed items that are not in memory: re-read the list later */
        if (reply != NULL)
            log_msg(LOG_ERROR, "prefetch claim failed", "writer=%s error=%s", b->name,
                    log_value(reply->type == REDIS_REPLY_ERROR ? reply->str
                                                               : "unexpected reply or no memory"));
        b->resync_after_release = true;
        batch_drop_next(b);
        return;
    }
    writer_stats.items_claimed += reply->elements;
    if (b->nnext > 0 && batch_classify(&b->next_rows, b->next, b->nnext) != 0) {
        log_msg(LOG_ERROR, "out of memory classifying the next batch", "writer=%s", b->name);
        b->resync_after_release = true;
        batch_drop_next(b);
    }
}

/* Claims the next batch when this one was full: there is a backlog to keep up with. */
static void batch_prefetch(struct batch *b)
{
    redisAsyncContext *ac = redis_link_ctx(b->redis);

    if (ac == NULL || b->stopping || b->state != BATCH_FLUSHING || b->prefetch_inflight ||
        b->nnext > 0 || b->resync_after_release || b->nitems < (size_t)b->cfg->writer.batch_size)
        return;
    b->prefetch_inflight = true;
    if (redisAsyncCommand(ac, batch_prefetch_cb, b, "EVAL %s 4 %s %s %s %s %ld %s %ld",
                          queue_script_claim, b->keys.queue, b->keys.processing, b->keys.heartbeat,
                          b->keys.writers, b->cfg->writer.batch_size, b->name,
                          b->cfg->writer.heartbeat_ttl_s) != REDIS_OK)
        b->prefetch_inflight = false;
}

static void batch_fill_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct batch *b = arg;

    switch (b->state) {
    case BATCH_RESYNC:
        batch_resync(b);
        break;
    case BATCH_FILLING:
        if (b->nitems > 0 && batch_since(&b->deadline) >= 0)
            batch_flush(b);
        else
            batch_claim(b);
        break;
    case BATCH_RELEASING:
        batch_release(b);
        break;
    default:
        break;
    }
}

/* ---- PostgreSQL: rows (with bisection), then dead letters ---- */

static bool batch_row_error(const char *sqlstate)
{
    /* data exception, integrity violation, program limit (e.g. a value too large) */
    return strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0 ||
           strncmp(sqlstate, "54", 2) == 0;
}

static void batch_retry_later(struct batch *b, const struct pgconn_result *res)
{
    log_msg(LOG_WARN, "postgres statement failed, will retry",
            "batch=%llu sqlstate=%s "
            "error=%s retry_ms=%d",
            (unsigned long long)b->id, res->sqlstate, log_value(res->message), b->retry_ms);
    batch_timer(b->retry_timer, b->retry_ms);
    b->retry_ms = b->retry_ms * 2 > BATCH_RETRY_MAX_MS ? BATCH_RETRY_MAX_MS : b->retry_ms * 2;
}

static void batch_copy_done(struct pgconn *c, const struct pgconn_result *res, void *arg)
{
    struct batch *b = arg;
    struct batch_range top = b->stack[b->nstack - 1];
    size_t n = top.hi - top.lo;

    b->pg_inflight = false;
    if (res->ok) {
        writer_stats.rows_inserted += (uint64_t)res->tuples;
        writer_stats.duplicates += n - (size_t)res->tuples;
        histogram_observe(&writer_stats.batch_size, (double)n);
        histogram_observe(&writer_stats.copy_seconds, batch_since(&b->attempt_start));
        b->retry_ms = BATCH_RETRY_MIN_MS;
        b->nstack--;
        batch_step(b);
        return;
    }
    writer_stats.pg_errors++;
    if (res->conn_lost)
        return; /* the range stays on the stack; batch_step runs again when reconnected */
    if (!batch_row_error(res->sqlstate)) {
        batch_retry_later(b, res);
        return;
    }
    if (b->direct) {
        /* a duplicate or a bad row: redo the batch through the staging table */
        b->direct = false;
        writer_stats.direct_fallbacks++;
        log_msg(LOG_DEBUG, "direct copy failed, using staging", "batch=%llu sqlstate=%s",
                (unsigned long long)b->id, res->sqlstate);
        batch_step(b);
        return;
    }
    if (n == 1) {
        struct row *r = &b->rows[b->good[top.lo]];
        char reason[600];
        snprintf(reason, sizeof(reason), "postgres: %s (SQLSTATE %s)", res->message, res->sqlstate);
        if (row_mark_dead(r, reason) != 0) {
            batch_retry_later(b, res);
            return;
        }
        log_msg(LOG_WARN, "delivery rejected by postgres", "batch=%llu delivery=%s sqlstate=%s",
                (unsigned long long)b->id, r->env.delivery_id, res->sqlstate);
        b->nstack--;
    } else {
        size_t mid = top.lo + n / 2;
        writer_stats.bisect_splits++;
        b->stack[b->nstack - 1] = (struct batch_range){mid, top.hi};
        b->stack[b->nstack++] = (struct batch_range){top.lo, mid};
    }
    batch_step(b);
}

static void batch_dead_done(struct pgconn *c, const struct pgconn_result *res, void *arg)
{
    struct batch *b = arg;
    struct row *r = &b->rows[b->dead_next];

    b->pg_inflight = false;
    if (res->ok) {
        writer_stats.dead_letters += (uint64_t)res->tuples;
        log_msg(LOG_WARN, "dead letter stored", "batch=%llu delivery=%s reason=%s",
                (unsigned long long)b->id, r->has_envelope ? r->env.delivery_id : "-",
                log_value(r->reason));
        b->dead_next++;
        b->retry_ms = BATCH_RETRY_MIN_MS;
        batch_step(b);
        return;
    }
    writer_stats.pg_errors++;
    if (res->conn_lost)
        return;
    if (batch_row_error(res->sqlstate) && !r->dead_minimal) {
        /*
         * Only the envelope's fields can be at fault (the body is bytea): store the dead
         * letter again with just reason, raw item and key. Nothing is ever dropped; if
         * even that fails, it is retried like any other error.
         */
        log_msg(LOG_ERROR, "dead letter rejected, storing it without envelope fields",
                "batch=%llu sqlstate=%s error=%s", (unsigned long long)b->id, res->sqlstate,
                log_value(res->message));
        r->dead_minimal = true;
        batch_step(b);
        return;
    }
    batch_retry_later(b, res);
}

static void batch_send_dead(struct batch *b, struct row *r)
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
    b->pg_inflight = true;
    if (pgconn_exec(b->pg, BATCH_DEAD_SQL, NULL, 0, 6, values, lengths, formats, batch_dead_done,
                    b) != 0)
        b->pg_inflight = false;
}

/* Runs the next PostgreSQL statement of the batch, or releases it when all are done. */
static void batch_step(struct batch *b)
{
    if (b->state != BATCH_FLUSHING || b->pg_inflight || evtimer_pending(b->retry_timer, NULL) ||
        !pgconn_ready(b->pg))
        return;
    if (b->nstack > 0) {
        struct batch_range top = b->stack[b->nstack - 1];
        bool direct = b->direct && b->nstack == 1 && top.lo == 0 && top.hi == b->ngood;
        copybuf_reset(&b->copy);
        for (size_t i = top.lo; i < top.hi; i++) {
            if (direct)
                row_copy_events_line(&b->copy, &b->rows[b->good[i]]);
            else
                row_copy_line(&b->copy, &b->rows[b->good[i]], (long)i);
        }
        if (b->copy.failed) {
            log_msg(LOG_ERROR, "out of memory building COPY data", "batch=%llu",
                    (unsigned long long)b->id);
            batch_timer(b->retry_timer, BATCH_RETRY_MAX_MS);
            return;
        }
        batch_now(&b->attempt_start);
        b->pg_inflight = true;
        if (pgconn_exec(b->pg, direct ? BATCH_DIRECT_SQL : BATCH_COPY_SQL, b->copy.data,
                        b->copy.len, 0, NULL, NULL, NULL, batch_copy_done, b) != 0)
            b->pg_inflight = false;
        return;
    }
    while (b->dead_next < b->nitems && !b->rows[b->dead_next].dead)
        b->dead_next++;
    if (b->dead_next < b->nitems) {
        batch_send_dead(b, &b->rows[b->dead_next]);
        return;
    }
    log_msg(LOG_DEBUG, "batch stored", "batch=%llu items=%zu", (unsigned long long)b->id,
            b->nitems);
    batch_release(b);
}

static void batch_flush(struct batch *b)
{
    evtimer_del(b->fill_timer);
    b->id++;
    b->direct = true;
    batch_set_state(b, BATCH_FLUSHING);
    if (b->rows == NULL && batch_classify(&b->rows, b->items, b->nitems) != 0)
        goto oom;
    b->good = calloc(b->nitems ? b->nitems : 1, sizeof(*b->good));
    b->stack = calloc(2 + 2 * 64, sizeof(*b->stack)); /* bisection depth <= log2(n) + 1 */
    if (b->good == NULL || b->stack == NULL)
        goto oom;
    for (size_t i = 0; i < b->nitems; i++) {
        if (!b->rows[i].dead)
            b->good[b->ngood++] = i;
    }
    if (b->ngood > 0)
        b->stack[b->nstack++] = (struct batch_range){0, b->ngood};
    log_msg(LOG_DEBUG, "batch flush", "batch=%llu items=%zu rows=%zu", (unsigned long long)b->id,
            b->nitems, b->ngood);
    batch_step(b);
    batch_prefetch(b);
    return;
oom:
    batch_clear_rows(b);
    log_msg(LOG_ERROR, "out of memory classifying batch", "batch=%llu", (unsigned long long)b->id);
    batch_set_state(b, BATCH_FILLING);
    b->leftover = true; /* flush again on the next timer */
    batch_timer(b->fill_timer, BATCH_RETRY_MAX_MS);
}

static void batch_retry_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    batch_step(arg);
}

static void batch_pg_state(struct pgconn *c, bool up, void *arg)
{
    struct batch *b = arg;

    if (up) {
        writer_stats.pg_reconnects++;
        log_msg(LOG_INFO, "postgres connected", "writer=%s", b->name);
        batch_step(b);
    }
}

/* ---- heartbeat, gauges, recovery ---- */

static void batch_gauges_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r;
    int n = 0;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1)
        return;
    writer_stats.queue_length = reply->element[0]->integer;
    for (size_t i = 1; i + 1 < reply->elements && n < 64; i += 2) {
        if (reply->element[i]->type != REDIS_REPLY_STRING)
            continue;
        snprintf(writer_stats.processing[n].name, sizeof(writer_stats.processing[n].name), "%s",
                 reply->element[i]->str);
        writer_stats.processing[n].length = reply->element[i + 1]->integer;
        n++;
    }
    writer_stats.nprocessing = n;
}

/* The registered writer names: now measure the queue and their lists, keys declared. */
static void batch_gauge_names_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct batch *b = privdata;
    redisReply *reply = r;
    const char *argv[3 + 2 * QUEUE_GAUGES_MAX];
    size_t lens[3 + 2 * QUEUE_GAUGES_MAX];
    char keys[QUEUE_GAUGES_MAX][QUEUE_KEY_MAX];
    char nkeys[16];
    size_t n = 0, argc = 0;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < reply->elements && n < QUEUE_GAUGES_MAX; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING)
            continue;
        snprintf(keys[n], sizeof(keys[n]), "%s:processing:%s", b->keys.queue,
                 reply->element[i]->str);
        n++;
    }
    snprintf(nkeys, sizeof(nkeys), "%zu", n + 1);
    argv[argc++] = "EVAL";
    argv[argc++] = queue_script_gauges;
    argv[argc++] = nkeys;
    argv[argc++] = b->keys.queue;
    for (size_t i = 0; i < n; i++)
        argv[argc++] = keys[i];
    for (size_t i = 0, j = 0; i < reply->elements && j < n; i++) {
        if (reply->element[i]->type == REDIS_REPLY_STRING) {
            argv[argc++] = reply->element[i]->str;
            j++;
        }
    }
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    redisAsyncCommandArgv(ac, batch_gauges_cb, b, (int)argc, argv, lens);
}

static void batch_heartbeat_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct batch *b = privdata;
    redisReply *reply = r;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_msg(LOG_WARN, "heartbeat failed", "writer=%s error=%s", b->name, log_value(reply->str));
}

static void batch_heartbeat(struct batch *b)
{
    redisAsyncContext *ac = redis_link_ctx(b->redis);

    if (ac == NULL || b->state == BATCH_STOPPED)
        return;
    /* a claim of 0 items is the heartbeat alone */
    redisAsyncCommand(ac, batch_heartbeat_cb, b, "EVAL %s 4 %s %s %s %s 0 %s %ld",
                      queue_script_claim, b->keys.queue, b->keys.processing, b->keys.heartbeat,
                      b->keys.writers, b->name, b->cfg->writer.heartbeat_ttl_s);
    redisAsyncCommand(ac, batch_gauge_names_cb, b, "SRANDMEMBER %s %d", b->keys.writers,
                      QUEUE_GAUGES_MAX);
}

static void batch_hb_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    batch_heartbeat(arg);
}

static void batch_recover_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r;
    char *name = privdata;

    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0) {
        log_msg(LOG_WARN, "expired writer recovered", "dead_writer=%s items=%lld", name,
                reply->integer);
        writer_stats.recovered_items += (uint64_t)reply->integer;
    }
    free(name);
}

static void batch_members_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct batch *b = privdata;
    redisReply *reply = r;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < reply->elements; i++) {
        const char *other = reply->element[i]->str;
        struct queue_keys k;
        char *name;
        if (reply->element[i]->type != REDIS_REPLY_STRING || strcmp(other, b->name) == 0)
            continue;
        name = strdup(other);
        if (name == NULL)
            continue;
        queue_keys_init(&k, b->keys.queue, other);
        if (redisAsyncCommand(ac, batch_recover_cb, name, "EVAL %s 4 %s %s %s %s %s",
                              queue_script_recover, k.heartbeat, k.processing, k.queue, k.writers,
                              other) != REDIS_OK)
            free(name);
    }
}

static void batch_recover(struct batch *b)
{
    redisAsyncContext *ac = redis_link_ctx(b->redis);

    if (ac != NULL && b->state != BATCH_STOPPED)
        redisAsyncCommand(ac, batch_members_cb, b, "SMEMBERS %s", b->keys.writers);
}

static void batch_recover_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    batch_recover(arg);
}

static void batch_redis_state(struct redis_link *link, bool up, void *arg)
{
    struct batch *b = arg;

    if (!up)
        return;
    batch_heartbeat(b);
    batch_recover(b);
    switch (b->state) {
    case BATCH_RESYNC:
        batch_resync(b);
        break;
    case BATCH_FILLING:
        /* a claim reply may have been lost with the old connection */
        if (!b->redis_inflight) {
            batch_set_state(b, BATCH_RESYNC);
            batch_resync(b);
        }
        break;
    case BATCH_RELEASING:
        batch_release(b);
        break;
    default:
        break;
    }
}

/* ---- lifecycle ---- */

/*
 * A graceful stop waits for PostgreSQL (and Redis) to take the batch in flight, but not
 * for ever: past shutdown_timeout_s the writer exits, and what it holds stays in its
 * processing list, recovered at its next start or by another writer once the heartbeat
 * expires. Nothing is lost; re-processing is deduplicated by event_key.
 */
static void batch_stop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct batch *b = arg;

    log_msg(LOG_WARN, "shutdown timeout, leaving the processing list for recovery",
            "writer=%s state=%s items=%zu timeout_s=%ld", b->name, batch_state_name(b->state),
            b->state == BATCH_STOPPED ? (size_t)0 : b->nitems + b->nnext,
            b->cfg->writer.shutdown_timeout_s);
    event_base_loopexit(b->base, NULL);
}

struct batch *batch_start(struct event_base *base, const struct config *cfg, const char *name,
                          char *err, size_t errlen)
{
    struct batch *b = calloc(1, sizeof(*b));
    struct redis_target target;
    const char *why = NULL;
    struct timeval hb = {0, 0}, rec = {cfg->writer.recover_interval_s, 0};
    long hb_ms = cfg->writer.heartbeat_ttl_s * 1000 / 3;

    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->base = base;
    b->cfg = cfg;
    b->retry_ms = BATCH_RETRY_MIN_MS;
    snprintf(b->name, sizeof(b->name), "%s", name);
    queue_keys_init(&b->keys, cfg->redis.queue, name);
    b->state = BATCH_RESYNC;
    if (redis_target_parse(cfg->redis.url, cfg->redis.sentinels, cfg->redis.master_name, &target,
                           &why) != 0) {
        snprintf(err, errlen, "redis settings: %s", why);
        goto fail;
    }
    b->fill_timer = evtimer_new(base, batch_fill_timer_cb, b);
    b->retry_timer = evtimer_new(base, batch_retry_timer_cb, b);
    b->hb_timer = event_new(base, -1, EV_PERSIST, batch_hb_timer_cb, b);
    b->recover_timer = event_new(base, -1, EV_PERSIST, batch_recover_timer_cb, b);
    b->stop_timer = evtimer_new(base, batch_stop_timer_cb, b);
    if (b->fill_timer == NULL || b->retry_timer == NULL || b->hb_timer == NULL ||
        b->recover_timer == NULL || b->stop_timer == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    hb.tv_sec = hb_ms / 1000;
    hb.tv_usec = (hb_ms % 1000) * 1000;
    evtimer_add(b->hb_timer, &hb);
    evtimer_add(b->recover_timer, &rec);
    b->pg = pgconn_new(base, cfg->postgres.conninfo,
                       cfg->writer.synchronous_commit
                           ? BATCH_STAGE_SETUP_SQL
                           : "SET synchronous_commit = off; " BATCH_STAGE_SETUP_SQL,
                       batch_pg_state, b);
    b->redis = redis_link_new(base, &target, "queue", batch_redis_state, b);
    if (b->pg == NULL || b->redis == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return b;
fail:
    batch_free(b);
    return NULL;
}

void batch_stop(struct batch *b)
{
    if (b->stopping) {
        log_msg(LOG_WARN, "second stop signal, exiting now", "writer=%s state=%s", b->name,
                batch_state_name(b->state));
        event_base_loopbreak(b->base);
        return;
    }
    b->stopping = true;
    log_msg(LOG_INFO, "stopping after the batch in flight", "writer=%s state=%s items=%zu", b->name,
            batch_state_name(b->state), b->nitems);
    batch_timer(b->stop_timer, b->cfg->writer.shutdown_timeout_s * 1000);
    if (b->state == BATCH_FILLING && !b->redis_inflight) {
        evtimer_del(b->fill_timer);
        batch_after_fill(b, 0);
    } else if (b->state == BATCH_RESYNC && !b->redis_inflight) {
        /* nothing in memory; the processing list (if any) waits for the next start */
        batch_finish_stop(b);
    }
}

void batch_free(struct batch *b)
{
    if (b == NULL)
        return;
    redis_link_free(b->redis);
    pgconn_free(b->pg);
    if (b->fill_timer)
        event_free(b->fill_timer);
    if (b->retry_timer)
        event_free(b->retry_timer);
    if (b->hb_timer)
        event_free(b->hb_timer);
    if (b->recover_timer)
        event_free(b->recover_timer);
    if (b->stop_timer)
        event_free(b->stop_timer);
    batch_clear_rows(b);
    batch_clear_items(b);
    free(b->items);
    batch_drop_next(b);
    free(b->next);
    copybuf_free(&b->copy);
    free(b);
}
