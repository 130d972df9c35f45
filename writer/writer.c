/*
 * Lifecycle: start-up of the parts (the drain, the janitor, storage maintenance), the Redis
 * link's "up" fanned out to the janitor and the drain, and the stop — graceful, bounded by
 * shutdown_timeout_s, or immediate on a second signal.
 */
#include "writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drain.h"
#include "ev_redis.h"
#include "janitor.h"
#include "log.h"
#include "maint.h"
#include "queue_client.h"
#include "timeutil.h"

struct writer {
    struct event_base *base;
    const struct config *cfg;
    struct redis_link *redis;
    struct queue_client qc;
    struct drain *drain;
    struct janitor *janitor;
    struct maint *maint;      /* storage maintenance, on its own PostgreSQL connection */
    bool stopping;            /* writer_stop was called */
    struct event *stop_timer; /* shutdown_timeout_s after writer_stop */
};

static void writer_redis_state(struct redis_link *link, bool up, void *arg)
{
    struct writer *w = arg;

    if (!up)
        return;
    janitor_redis_up(w->janitor);
    drain_redis_up(w->drain);
}

static void writer_bye_cb(void *arg, const struct queue_reply *reply)
{
    struct writer *w = arg;

    event_base_loopexit(w->base, NULL);
}

/* The drain holds nothing any more: forget this writer, then exit. */
static void writer_drained(void *arg)
{
    struct writer *w = arg;

    janitor_stop(w->janitor);
    log_msg(LOG_INFO, "writer stopped", "writer=%s", w->qc.name);
    /* a non-empty list (e.g. claimed while Redis answered late) stays findable for recovery */
    if (queue_client_bye(&w->qc, writer_bye_cb, w) != 0)
        event_base_loopexit(w->base, NULL); /* the heartbeat expires by itself */
}

/*
 * A graceful stop waits for PostgreSQL (and Redis) to take the batch in flight, but not
 * for ever: past shutdown_timeout_s the writer exits, and what it holds stays in its
 * processing list, recovered at its next start or by another writer once the heartbeat
 * expires. Nothing is lost; re-processing is deduplicated by event_key.
 */
static void writer_stop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct writer *w = arg;

    log_msg(LOG_WARN, "shutdown timeout, leaving the processing list for recovery",
            "writer=%s state=%s items=%zu timeout_s=%ld", w->qc.name, drain_state_name(w->drain),
            drain_held(w->drain), w->cfg->writer.shutdown_timeout_s);
    event_base_loopexit(w->base, NULL);
}

struct writer *writer_start(struct event_base *base, const struct config *cfg, const char *name,
                            char *err, size_t errlen)
{
    struct writer *w = calloc(1, sizeof(*w));
    struct redis_target target;
    const char *why = NULL;

    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->base = base;
    w->cfg = cfg;
    if (redis_target_parse(cfg->redis.url, cfg->redis.sentinels, cfg->redis.master_name, &target,
                           &why) != 0) {
        snprintf(err, errlen, "redis settings: %s", why);
        goto fail;
    }
    w->stop_timer = evtimer_new(base, writer_stop_timer_cb, w);
    w->redis = redis_link_new(base, &target, "queue", writer_redis_state, w);
    explicit_bzero(target.url.password, sizeof(target.url.password));
    if (w->stop_timer == NULL || w->redis == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    queue_client_init(&w->qc, w->redis, cfg->redis.queue, name, cfg->writer.heartbeat_ttl_s);
    w->janitor = janitor_new(base, cfg, &w->qc);
    w->drain = drain_new(base, cfg, &w->qc, writer_drained, w);
    w->maint = maint_new(base, cfg, false, NULL, NULL);
    if (w->janitor == NULL || w->drain == NULL || w->maint == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return w;
fail:
    writer_free(w);
    return NULL;
}

void writer_stop(struct writer *w)
{
    struct timeval tv = timeval_ms(w->cfg->writer.shutdown_timeout_s * 1000);

    if (w->stopping) {
        log_msg(LOG_WARN, "second stop signal, exiting now", "writer=%s state=%s", w->qc.name,
                drain_state_name(w->drain));
        event_base_loopbreak(w->base);
        return;
    }
    w->stopping = true;
    evtimer_add(w->stop_timer, &tv);
    drain_stop(w->drain);
}

void writer_free(struct writer *w)
{
    if (w == NULL)
        return;
    redis_link_free(w->redis); /* pending replies come back lost while all else still exists */
    drain_free(w->drain);
    maint_free(w->maint);
    janitor_free(w->janitor);
    if (w->stop_timer != NULL)
        event_free(w->stop_timer);
    free(w);
}
