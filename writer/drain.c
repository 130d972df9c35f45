/*
 * The drain state machine. Every callback (a Redis reply, the store's "done", a timer,
 * the Redis link coming up, a stop) records its outcome in an event and hands it to
 * drain_dispatch(), the one place that decides what happens next; every state change
 * goes through drain_set_state():
 *
 *   RESYNC ──▶ FILLING ──▶ FLUSHING ──▶ RELEASING ──▶ FILLING … ──▶ STOPPED
 *
 * RESYNC reads this writer's processing list (its leftovers after a restart, or the
 * truth after a lost claim reply) before anything new is claimed. While PostgreSQL
 * stores a full batch, the next one is claimed and classified (the prefetch), so the
 * writer's own work overlaps the database's; the processing list then holds both, and
 * a release trims exactly the stored batch off its front. The in-memory batch always
 * equals the front of the processing list, which loses it only after PostgreSQL
 * committed every row and dead letter of it; a crash at any point leaves the list for
 * re-processing, and event_key / item_key uniqueness makes that free of duplicates.
 */
#include "drain.h"

#include <stdlib.h>

#include "log.h"
#include "row.h"
#include "stats.h"
#include "store.h"
#include "timeutil.h"

#define DRAIN_IDLE_POLL_MS 50     /* queue empty, nothing claimed: next look */
#define DRAIN_TOPUP_POLL_MS 10    /* partial batch: next look for more before the deadline */
#define DRAIN_REDIS_RETRY_MS 1000 /* Redis answered with an error */
#define DRAIN_OOM_RETRY_MS 5000   /* out of memory classifying a batch */

enum drain_state {
    DRAIN_RESYNC,    /* reading the processing list into memory */
    DRAIN_FILLING,   /* claiming until full or flush_interval_ms passed */
    DRAIN_FLUSHING,  /* the store is storing the batch */
    DRAIN_RELEASING, /* trimming the stored batch off the processing list */
    DRAIN_STOPPED,   /* graceful stop finished */
};

enum drain_event {
    DRAIN_EV_REDIS_UP,   /* the Redis link (re)connected */
    DRAIN_EV_TIMER,      /* the wake-up timer fired */
    DRAIN_EV_REPLY,      /* the claim, read-back or release in flight was answered */
    DRAIN_EV_PREFETCHED, /* the prefetch claim was answered */
    DRAIN_EV_STORED,     /* the store committed the batch */
    DRAIN_EV_STOP,       /* graceful stop requested */
};

/* Queue items and, once classified, their rows. */
struct drain_batch {
    struct queue_items items;
    struct row *rows; /* items.n entries, NULL until classified */
};

struct drain {
    const struct config *cfg;
    struct queue_client *qc;
    struct store *store;
    drain_stopped_fn stopped;
    void *stopped_arg;
    enum drain_state state;
    uint64_t id;               /* batch number, for log lines */
    struct drain_batch batch;  /* the batch == the front of the processing list */
    struct drain_batch next;   /* the prefetched batch, right after it in the list */
    bool inflight;             /* a claim, read-back or release awaits its reply */
    bool prefetch_inflight;    /* a prefetch claim awaits its reply */
    bool resync_after_release; /* the list may hold items not in memory: re-read it */
    bool leftover;             /* the batch came from a previous run: flush at once */
    bool stopping;             /* drain_stop was called */
    double deadline;           /* monotonic_s() at which a partial batch is flushed */
    struct event *timer;       /* DRAIN_EV_TIMER */
};

static void drain_dispatch(struct drain *d, enum drain_event ev, const struct queue_reply *r);

static const char *const drain_state_names[] = {"resync", "filling", "flushing", "releasing",
                                                "stopped"};

const char *drain_state_name(const struct drain *d)
{
    return drain_state_names[d->state];
}

static void drain_set_state(struct drain *d, enum drain_state s)
{
    log_msg(LOG_DEBUG, "batch state", "batch=%llu from=%s to=%s", (unsigned long long)d->id,
            drain_state_names[d->state], drain_state_names[s]);
    d->state = s;
}

static void drain_wake_in(struct drain *d, long ms)
{
    struct timeval tv = timeval_ms(ms);

    evtimer_add(d->timer, &tv);
}

/* ---- batches ---- */

static void drain_batch_clear_rows(struct drain_batch *b)
{
    if (b->rows != NULL) {
        for (size_t i = 0; i < b->items.n; i++)
            row_free(&b->rows[i]);
    }
    free(b->rows);
    b->rows = NULL;
}

static void drain_batch_clear(struct drain_batch *b)
{
    drain_batch_clear_rows(b);
    queue_items_clear(&b->items);
}

/* Classifies the items into rows; -1 on allocation failure (rows stay NULL). */
static int drain_batch_classify(struct drain_batch *b)
{
    size_t n = b->items.n;
    struct row *rows = calloc(n ? n : 1, sizeof(*rows));

    if (rows == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (row_classify(&rows[i], b->items.v[i].data, b->items.v[i].len) != 0) {
            for (size_t j = 0; j < i; j++)
                row_free(&rows[j]);
            free(rows);
            return -1;
        }
    }
    b->rows = rows;
    return 0;
}

/* ---- callbacks: record, then dispatch ---- */

static void drain_reply_cb(void *arg, const struct queue_reply *reply)
{
    struct drain *d = arg;

    d->inflight = false;
    drain_dispatch(d, DRAIN_EV_REPLY, reply);
}

static void drain_prefetch_cb(void *arg, const struct queue_reply *reply)
{
    struct drain *d = arg;

    d->prefetch_inflight = false;
    drain_dispatch(d, DRAIN_EV_PREFETCHED, reply);
}

static void drain_stored_cb(void *arg)
{
    drain_dispatch(arg, DRAIN_EV_STORED, NULL);
}

static void drain_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    drain_dispatch(arg, DRAIN_EV_TIMER, NULL);
}

/* ---- actions ---- */

/*
 * Replies come from the loop, never from within the call that sends the request (hiredis),
 * so each flag is simply what that call returned.
 */
static void drain_read_back(struct drain *d)
{
    /* not sent (link down): redone when it is up */
    if (!d->inflight)
        d->inflight = queue_client_read_back(d->qc, &d->batch.items, drain_reply_cb, d) == 0;
}

static void drain_claim(struct drain *d)
{
    long room = d->cfg->writer.batch_size - (long)d->batch.items.n;

    if (d->inflight)
        return;
    d->inflight = queue_client_claim(d->qc, room, &d->batch.items, drain_reply_cb, d) == 0;
    if (!d->inflight && queue_client_up(d->qc))
        drain_wake_in(d, DRAIN_REDIS_RETRY_MS); /* could not send: try again */
}

static void drain_release(struct drain *d)
{
    if (d->inflight)
        return;
    d->inflight = queue_client_release(d->qc, &d->batch.items, drain_reply_cb, d) == 0;
    if (!d->inflight && queue_client_up(d->qc))
        drain_wake_in(d, DRAIN_REDIS_RETRY_MS);
}

/*
 * Claims the next batch while the store works on a full one: there is a backlog to keep
 * up with. drain_flush calls it right after store_batch, whose done comes later from the
 * loop, so this claim always goes out before the batch's release.
 */
static void drain_prefetch(struct drain *d)
{
    if (d->stopping || d->prefetch_inflight || d->next.items.n > 0 || d->resync_after_release ||
        d->batch.items.n < (size_t)d->cfg->writer.batch_size)
        return;
    d->prefetch_inflight = queue_client_claim(d->qc, d->cfg->writer.batch_size, &d->next.items,
                                              drain_prefetch_cb, d) == 0;
}

static void drain_finish(struct drain *d)
{
    drain_set_state(d, DRAIN_STOPPED);
    evtimer_del(d->timer);
    d->stopped(d->stopped_arg);
}

/* FILLING -> FLUSHING: hands the batch to the store and prefetches the next one. */
static void drain_flush(struct drain *d)
{
    evtimer_del(d->timer);
    d->id++;
    drain_set_state(d, DRAIN_FLUSHING);
    if ((d->batch.rows == NULL && drain_batch_classify(&d->batch) != 0) ||
        store_batch(d->store, d->batch.rows, d->batch.items.n, d->id) != 0) {
        drain_batch_clear_rows(&d->batch);
        log_msg(LOG_ERROR, "out of memory classifying batch", "batch=%llu",
                (unsigned long long)d->id);
        drain_set_state(d, DRAIN_FILLING);
        d->leftover = true; /* flush again on the next timer */
        drain_wake_in(d, DRAIN_OOM_RETRY_MS);
        return;
    }
    drain_prefetch(d);
}

/* In FILLING, once a claim or read-back answered: flush, wait for more, or stop. */
static void drain_fill(struct drain *d, size_t claimed)
{
    size_t n = d->batch.items.n;
    long interval = d->cfg->writer.flush_interval_ms;
    long ms;

    if (n == 0) {
        if (d->stopping)
            drain_finish(d);
        else
            drain_wake_in(d, interval < DRAIN_IDLE_POLL_MS ? interval : DRAIN_IDLE_POLL_MS);
        return;
    }
    if (n >= (size_t)d->cfg->writer.batch_size || d->leftover || d->stopping) {
        drain_flush(d);
        return;
    }
    if (n == claimed) /* first items of this batch: the flush interval starts now */
        d->deadline = monotonic_s() + (double)interval / 1000;
    ms = (long)((d->deadline - monotonic_s()) * 1000);
    if (ms <= 0)
        drain_flush(d);
    else
        drain_wake_in(d, ms < DRAIN_TOPUP_POLL_MS ? ms : DRAIN_TOPUP_POLL_MS);
}

/* RELEASING -> FILLING: goes on with the prefetched batch, claims, or stops. */
static void drain_released(struct drain *d)
{
    log_msg(LOG_DEBUG, "batch released", "batch=%llu items=%zu", (unsigned long long)d->id,
            d->batch.items.n);
    writer_stats.batches++;
    writer_stats_batch_committed();
    drain_batch_clear(&d->batch);
    d->leftover = false;
    if (d->resync_after_release) {
        d->resync_after_release = false;
        drain_batch_clear(&d->next);
        drain_set_state(d, DRAIN_RESYNC);
        drain_read_back(d);
        return;
    }
    drain_set_state(d, DRAIN_FILLING);
    if (d->next.items.n > 0) {
        /* the prefetched batch becomes the batch, already classified */
        struct drain_batch done = d->batch;
        d->batch = d->next;
        d->next = done;
        drain_flush(d);
    } else if (d->stopping) {
        drain_finish(d);
    } else {
        drain_claim(d);
    }
}

/* ---- the dispatcher ---- */

static void drain_on_prefetched(struct drain *d, const struct queue_reply *r)
{
    if (r->outcome == QUEUE_OK) {
        writer_stats.items_claimed += r->count;
        if (d->next.items.n == 0 || drain_batch_classify(&d->next) == 0)
            return;
        log_msg(LOG_ERROR, "out of memory classifying the next batch", "writer=%s", d->qc->name);
    } else if (r->outcome == QUEUE_ERROR) {
        log_msg(LOG_ERROR, "prefetch claim failed", "writer=%s error=%s", d->qc->name,
                log_value(r->error));
    }
    /* it may have claimed items that are not in memory: re-read the list after release */
    d->resync_after_release = true;
    drain_batch_clear(&d->next);
}

static void drain_on_resync(struct drain *d, enum drain_event ev, const struct queue_reply *r)
{
    switch (ev) {
    case DRAIN_EV_REPLY:
        if (r->outcome == QUEUE_LOST)
            return;                  /* redone when Redis is back */
        drain_batch_clear(&d->next); /* anything prefetched is in the list, read here again */
        if (r->outcome == QUEUE_ERROR) {
            queue_items_clear(&d->batch.items);
            log_msg(LOG_ERROR, "reading processing list failed", "writer=%s error=%s", d->qc->name,
                    log_value(r->error));
            drain_wake_in(d, DRAIN_REDIS_RETRY_MS);
            return;
        }
        if (d->batch.items.n > 0) {
            log_msg(LOG_INFO, "processing list found", "writer=%s items=%zu", d->qc->name,
                    d->batch.items.n);
            writer_stats.leftover_items += d->batch.items.n;
            d->leftover = true;
        }
        drain_set_state(d, DRAIN_FILLING);
        drain_fill(d, d->batch.items.n);
        return;
    case DRAIN_EV_REDIS_UP:
    case DRAIN_EV_TIMER:
        drain_read_back(d);
        return;
    case DRAIN_EV_STOP:
        if (!d->inflight)
            drain_finish(d); /* the processing list (if any) waits for the next start */
        return;
    default:
        return;
    }
}

static void drain_on_filling(struct drain *d, enum drain_event ev, const struct queue_reply *r)
{
    switch (ev) {
    case DRAIN_EV_REPLY:
        if (r->outcome == QUEUE_OK) {
            writer_stats.items_claimed += r->count;
            drain_fill(d, r->count);
            return;
        }
        /* the claim may or may not have run: re-read the processing list */
        drain_set_state(d, DRAIN_RESYNC);
        if (r->outcome == QUEUE_ERROR) {
            log_msg(LOG_ERROR, "claim failed", "writer=%s error=%s", d->qc->name,
                    log_value(r->error));
            drain_wake_in(d, DRAIN_REDIS_RETRY_MS);
        }
        return;
    case DRAIN_EV_TIMER:
        if (d->batch.items.n > 0 && monotonic_s() >= d->deadline)
            drain_flush(d);
        else
            drain_claim(d);
        return;
    case DRAIN_EV_REDIS_UP:
        /* a claim reply may have been lost with the old connection */
        if (!d->inflight) {
            drain_set_state(d, DRAIN_RESYNC);
            drain_read_back(d);
        }
        return;
    case DRAIN_EV_STOP:
        if (!d->inflight) {
            evtimer_del(d->timer);
            drain_fill(d, 0);
        }
        return;
    default:
        return;
    }
}

static void drain_on_releasing(struct drain *d, enum drain_event ev, const struct queue_reply *r)
{
    switch (ev) {
    case DRAIN_EV_REPLY:
        if (r->outcome == QUEUE_LOST)
            return; /* committed already; released again when Redis is back */
        if (r->outcome == QUEUE_ERROR) {
            drain_wake_in(d, DRAIN_REDIS_RETRY_MS);
            return;
        }
        if (r->value < 0) {
            /* the list no longer starts with this batch: another writer recovered it */
            log_msg(LOG_WARN, "processing list changed under this writer, re-reading it",
                    "batch=%llu items=%zu", (unsigned long long)d->id, d->batch.items.n);
            d->resync_after_release = true;
        }
        drain_released(d);
        return;
    case DRAIN_EV_TIMER:
    case DRAIN_EV_REDIS_UP:
        drain_release(d);
        return;
    default:
        return;
    }
}

/*
 * The one place that moves the drain on. A prefetch reply is the same in any state; a
 * stop is remembered, then handled as the state allows; the rest depends on the state.
 */
static void drain_dispatch(struct drain *d, enum drain_event ev, const struct queue_reply *r)
{
    if (ev == DRAIN_EV_PREFETCHED) {
        drain_on_prefetched(d, r);
        return;
    }
    if (ev == DRAIN_EV_STOP)
        d->stopping = true;
    switch (d->state) {
    case DRAIN_RESYNC:
        drain_on_resync(d, ev, r);
        break;
    case DRAIN_FILLING:
        drain_on_filling(d, ev, r);
        break;
    case DRAIN_FLUSHING:
        if (ev == DRAIN_EV_STORED) {
            drain_set_state(d, DRAIN_RELEASING);
            drain_release(d);
        }
        break;
    case DRAIN_RELEASING:
        drain_on_releasing(d, ev, r);
        break;
    case DRAIN_STOPPED:
        break;
    }
}

/* ---- lifecycle ---- */

struct drain *drain_new(struct event_base *base, const struct config *cfg, struct queue_client *qc,
                        drain_stopped_fn stopped, void *arg)
{
    struct drain *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return NULL;
    d->cfg = cfg;
    d->qc = qc;
    d->stopped = stopped;
    d->stopped_arg = arg;
    d->state = DRAIN_RESYNC;
    d->timer = evtimer_new(base, drain_timer_cb, d);
    d->store = store_new(base, cfg, qc->name, drain_stored_cb, d);
    if (d->timer == NULL || d->store == NULL) {
        drain_free(d);
        return NULL;
    }
    return d;
}

void drain_redis_up(struct drain *d)
{
    drain_dispatch(d, DRAIN_EV_REDIS_UP, NULL);
}

void drain_stop(struct drain *d)
{
    log_msg(LOG_INFO, "stopping after the batch in flight", "writer=%s state=%s items=%zu",
            d->qc->name, drain_state_names[d->state], d->batch.items.n);
    drain_dispatch(d, DRAIN_EV_STOP, NULL);
}

size_t drain_held(const struct drain *d)
{
    return d->state == DRAIN_STOPPED ? 0 : d->batch.items.n + d->next.items.n;
}

void drain_free(struct drain *d)
{
    if (d == NULL)
        return;
    store_free(d->store);
    if (d->timer != NULL)
        event_free(d->timer);
    drain_batch_clear(&d->batch);
    queue_items_free(&d->batch.items);
    drain_batch_clear(&d->next);
    queue_items_free(&d->next.items);
    free(d);
}
