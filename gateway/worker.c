/*
 * Gateway worker threads (see worker.h): listener with a connection cap, the Redis
 * link and its state, the periodic queue-length probe, reload and graceful stop.
 */
#include "worker.h"

#include <errno.h>
#include <hiredis/async.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "redis_url.h"
#include "stats.h"

#define WORKER_TICK_MS 250
#define WORKER_STOP_GRACE_MS 2000 /* beyond push_timeout_ms */

struct gateway gateway = {.cfg_lock = PTHREAD_MUTEX_INITIALIZER};

static void worker_copy_settings(struct worker *w, const struct config *cfg)
{
    w->settings.max_body_bytes = cfg->gateway.max_body_bytes;
    w->settings.timestamp_tolerance_s = cfg->gateway.timestamp_tolerance_s;
    w->settings.max_queue_length = cfg->gateway.max_queue_length;
    w->settings.read_timeout_s = cfg->gateway.read_timeout_s;
    w->settings.idle_timeout_s = cfg->gateway.idle_timeout_s;
    w->settings.push_timeout_ms = cfg->gateway.push_timeout_ms;
    w->settings.max_pushes_in_flight = cfg->gateway.max_pushes_in_flight;
}

/* Takes a connection slot; false when max_connections are open already. */
static bool worker_take_slot(void)
{
    if (atomic_fetch_add(&gateway.nconns, 1) + 1 > gateway.max_connections) {
        atomic_fetch_sub(&gateway.nconns, 1);
        return false;
    }
    return true;
}

static double worker_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void worker_pause_listener(struct worker *w)
{
    if (!w->listener_paused && w->listener != NULL) {
        double now = worker_now();
        evconnlistener_disable(w->listener);
        w->listener_paused = true;
        if (now - w->cap_logged_at >= 10) { /* at the cap, pauses come and go quickly */
            w->cap_logged_at = now;
            log_msg(LOG_WARN, "max_connections reached, not accepting", "worker=%d max=%ld", w->id,
                    gateway.max_connections);
        }
    }
}

/*
 * The cap is global, but each worker has its own listening socket. A worker that
 * accepts when the other workers hold every slot parks that one socket unserved (as
 * if still in the backlog) and stops accepting; it is served as soon as a slot frees.
 */
static void worker_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                             int salen, void *arg)
{
    struct worker *w = arg;

    if (!worker_take_slot()) {
        w->parked_fd = fd;
        worker_pause_listener(w);
        return;
    }
    if (atomic_load(&gateway.nconns) >= gateway.max_connections)
        worker_pause_listener(w);
    conn_accept(w, fd);
}

static void worker_accept_error_cb(struct evconnlistener *l, void *arg)
{
    struct worker *w = arg;
    int err = EVUTIL_SOCKET_ERROR();

    /* EMFILE and friends: back off until a connection closes or the next tick */
    log_msg(LOG_WARN, "accept failed", "worker=%d error=%s", w->id, log_value(strerror(err)));
    evconnlistener_disable(l);
    w->listener_paused = true;
}

static void worker_resume_listener(struct worker *w)
{
    if (!w->listener_paused || w->stopping)
        return;
    if (w->parked_fd >= 0) {
        if (!worker_take_slot())
            return;
        evutil_socket_t fd = w->parked_fd;
        w->parked_fd = -1;
        conn_accept(w, fd);
    }
    if (w->listener != NULL && atomic_load(&gateway.nconns) < gateway.max_connections) {
        w->listener_paused = false;
        evconnlistener_enable(w->listener);
    }
}

void worker_maybe_exit(struct worker *w)
{
    if (w->stopping && w->nconns == 0 && w->pushes_in_flight == 0)
        event_base_loopexit(w->base, NULL);
}

void worker_conn_closed(struct worker *w)
{
    worker_resume_listener(w);
    worker_maybe_exit(w);
}

static void worker_redis_state(struct redis_link *link, bool up, void *arg)
{
    struct worker *w = arg;

    w->redis_up = up;
    w->last_reply = worker_now();
    w->llen_inflight = false;
    STAT_ADD(redis_links_up, up ? 1 : -1);
}

static void worker_llen_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct worker *w = privdata;
    redisReply *reply = r;

    w->llen_inflight = false;
    if (reply != NULL)
        w->last_reply = worker_now();
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        STAT_SET(queue_length, reply->integer);
}

void worker_saw_reply(struct worker *w)
{
    w->last_reply = worker_now();
}

/*
 * A push went unanswered for push_timeout_ms. If nothing at all has come back from
 * Redis for that long, the connection is stalled (a paused server, a lost host with no
 * reset): drop it, which fails every pending push at once, and reconnect. Otherwise
 * pushes would pile up to max_pushes_in_flight and /readyz would keep saying ready.
 */
void worker_push_timed_out(struct worker *w)
{
    if (w->redis_up && worker_now() - w->last_reply >= w->settings.push_timeout_ms / 1000.0)
        redis_link_reset(w->redis, "no reply from redis within push_timeout_ms");
}

static void worker_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    redisAsyncContext *ac = redis_link_ctx(w->redis);

    if (ac != NULL && !w->llen_inflight &&
        redisAsyncCommand(ac, worker_llen_cb, w, "LLEN %s", w->queue) == REDIS_OK)
        w->llen_inflight = true;
    worker_resume_listener(w);
    conn_resume_reading(w);
}

static void worker_reload_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct keyring *kr;

    pthread_mutex_lock(&gateway.cfg_lock);
    kr = keyring_new(gateway.cfg);
    if (kr != NULL)
        worker_copy_settings(w, gateway.cfg);
    pthread_mutex_unlock(&gateway.cfg_lock);
    if (kr == NULL) {
        log_msg(LOG_ERROR, "reload failed in worker, keeping old sources",
                "worker=%d error=\"out of memory\"", w->id);
        return;
    }
    keyring_free(w->keyring);
    w->keyring = kr;
}

static void worker_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    log_msg(LOG_WARN, "stop deadline reached, closing remaining connections",
            "worker=%d connections=%ld pushes=%ld", w->id, w->nconns, w->pushes_in_flight);
    event_base_loopexit(w->base, NULL);
}

static void worker_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    long ms = w->settings.push_timeout_ms + WORKER_STOP_GRACE_MS;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    if (w->stopping)
        return;
    w->stopping = true;
    if (w->listener != NULL) {
        evconnlistener_free(w->listener); /* closes the socket: no new connections */
        w->listener = NULL;
    }
    if (w->parked_fd >= 0) {
        close(w->parked_fd); /* never served: nothing was promised to it */
        w->parked_fd = -1;
    }
    evtimer_add(w->deadline_ev, &tv);
    conn_close_idle(w);
    worker_maybe_exit(w);
}

int worker_init(struct worker *w, int id, int listen_fd, SSL_CTX *ssl_ctx)
{
    struct redis_url url;
    const char *why;
    char name[32];

    memset(w, 0, sizeof(*w));
    w->id = id;
    w->listen_fd = listen_fd;
    w->parked_fd = -1;
    w->ssl_ctx = ssl_ctx;
    TAILQ_INIT(&w->conns);
    /*
     * The changelist folds an event's add and delete within one loop pass into at most
     * one epoll_ctl: hiredis' adapter re-arms its write event on every command.
     */
    struct event_config *ecfg = event_config_new();
    if (ecfg == NULL)
        return -1;
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    w->base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    if (w->base == NULL)
        return -1;
    pthread_mutex_lock(&gateway.cfg_lock);
    w->keyring = keyring_new(gateway.cfg);
    w->queue = strdup(gateway.cfg->redis.queue);
    worker_copy_settings(w, gateway.cfg);
    if (redis_url_parse(gateway.cfg->redis.url, &url, &why) < 0) {
        pthread_mutex_unlock(&gateway.cfg_lock);
        log_msg(LOG_ERROR, "bad redis url", "error=%s", log_value(why));
        return -1;
    }
    pthread_mutex_unlock(&gateway.cfg_lock);
    if (w->keyring == NULL || w->queue == NULL)
        return -1;
    w->reload_ev = event_new(w->base, -1, 0, worker_reload_cb, w);
    w->stop_ev = event_new(w->base, -1, 0, worker_stop_cb, w);
    w->tick_ev = event_new(w->base, -1, EV_PERSIST, worker_tick_cb, w);
    w->deadline_ev = evtimer_new(w->base, worker_deadline_cb, w);
    if (w->reload_ev == NULL || w->stop_ev == NULL || w->tick_ev == NULL || w->deadline_ev == NULL)
        return -1;
    w->listener = evconnlistener_new(w->base, worker_accept_cb, w,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, listen_fd);
    if (w->listener == NULL)
        return -1;
    w->listen_fd = -1; /* owned by the listener */
    evconnlistener_set_error_cb(w->listener, worker_accept_error_cb);
    snprintf(name, sizeof(name), "gateway-%d", id);
    w->redis = redis_link_new(w->base, &url, name, worker_redis_state, w);
    if (w->redis == NULL)
        return -1;
    STAT_ADD(redis_links, 1);
    STAT_SET(buffer_budget_bytes, CONN_BUFFER_BUDGET);
    return 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct timeval tick = {0, WORKER_TICK_MS * 1000};

    evtimer_add(w->tick_ev, &tick);
    event_base_dispatch(w->base);
    conn_free_all(w);
    return NULL;
}

int worker_start(struct worker *w)
{
    return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : -1;
}

void worker_request_reload(struct worker *w)
{
    event_active(w->reload_ev, 0, 0);
}

void worker_request_stop(struct worker *w)
{
    event_active(w->stop_ev, 0, 0);
}

void worker_join(struct worker *w)
{
    pthread_join(w->thread, NULL);
}

void worker_destroy(struct worker *w)
{
    if (w->listener != NULL)
        evconnlistener_free(w->listener);
    if (w->listen_fd >= 0)
        close(w->listen_fd);
    if (w->parked_fd >= 0)
        close(w->parked_fd);
    /* frees the context: pending push callbacks run with NULL replies and free themselves */
    if (w->redis != NULL) {
        redis_link_free(w->redis);
        STAT_ADD(redis_links, -1);
        if (w->redis_up)
            STAT_ADD(redis_links_up, -1);
    }
    if (w->reload_ev != NULL)
        event_free(w->reload_ev);
    if (w->stop_ev != NULL)
        event_free(w->stop_ev);
    if (w->tick_ev != NULL)
        event_free(w->tick_ev);
    if (w->deadline_ev != NULL)
        event_free(w->deadline_ev);
    keyring_free(w->keyring);
    free(w->queue);
    if (w->base != NULL)
        event_base_free(w->base);
}
