/*
 * Gateway worker threads (see worker.h): listener with a connection cap, the Redis
 * link and its state, the periodic queue-length probe, reload and graceful stop.
 */
#include "worker.h"

#include <errno.h>
#include <hiredis/async.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "log.h"
#include "peer.h"
#include "sentinel.h"
#include "stats.h"
#include "timeutil.h"

#define WORKER_TICK_MS 250
#define WORKER_STOP_GRACE_MS 2000        /* beyond push_timeout_ms */
#define WORKER_MAX_CALLBACKS_PER_PASS 64 /* then the loop polls for ready sockets again */

struct gateway gateway = {.cfg_lock = PTHREAD_MUTEX_INITIALIZER};

static void worker_copy_settings(struct worker *w, const struct config *cfg)
{
    struct conn_settings *s = &w->env.settings;

    s->max_body_bytes = cfg->gateway.max_body_bytes;
    s->timestamp_tolerance_s = cfg->gateway.timestamp_tolerance_s;
    s->max_queue_length = cfg->gateway.max_queue_length;
    s->read_timeout_s = cfg->gateway.read_timeout_s;
    s->idle_timeout_s = cfg->gateway.idle_timeout_s;
    s->push_timeout_ms = cfg->gateway.push_timeout_ms;
    s->max_pushes_in_flight = cfg->gateway.max_pushes_in_flight;
}

#define WORKER_EVICT_MIN_AGE_S 0.1 /* a connection another worker's request may close */

/* Connection slots (max_connections, across workers) are taken and given back here only. */
static bool worker_take_slot(void)
{
    if (atomic_fetch_add(&gateway.nconns, 1) + 1 > gateway.max_connections) {
        atomic_fetch_sub(&gateway.nconns, 1);
        return false;
    }
    return true;
}

static void worker_give_slot(void)
{
    atomic_fetch_sub(&gateway.nconns, 1);
}

static void worker_resume_listener(struct worker *w, bool may_ask);
static void worker_maybe_exit(struct worker *w);
static void worker_conn_closed(void *arg);

/* Serves an accepted socket, holding a slot already; gives it back on failure. */
static void worker_serve(struct worker *w, evutil_socket_t fd, const struct cidr_addr *peer,
                         bool peer_tracked)
{
    int one = 1;

    /*
     * Every answer is written whole, so Nagle can only hold one back: behind a TLS 1.3
     * session ticket (a write of its own after the handshake) the first answer on a new
     * connection would wait for the client's delayed ACK, 40 ms. Not TCP: nothing to do.
     */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (conn_accept(&w->env, fd, peer, peer_tracked) < 0)
        worker_conn_closed(w);
}

/* conn.c's closed callback: a connection was freed, so its slot is free. */
static void worker_conn_closed(void *arg)
{
    struct worker *w = arg;

    worker_give_slot();
    worker_resume_listener(w, false);
    worker_maybe_exit(w);
}

/* The pusher's idle callback: a push completed, which may end a graceful stop. */
static void worker_push_done(void *arg)
{
    worker_maybe_exit(arg);
}

static void worker_pause_listener(struct worker *w)
{
    if (!w->listener_paused && w->listener != NULL) {
        double now = monotonic_s();
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
 * The cap is global, but each worker has its own listening socket. At the cap the new
 * socket is parked unserved (as if still in the backlog) and the worker stops accepting;
 * once the callbacks already due in this pass have run (reads that may prove a connection
 * among them), the oldest connection of this worker that has proven nothing is closed for
 * it (worker_resume_listener). When there is none, it waits until a slot frees. An address
 * that holds max_connections_per_address (unless a trusted proxy) is closed at once.
 */
static void worker_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                             int salen, void *arg)
{
    struct worker *w = arg;
    struct cidr_addr peer;
    bool tracked = false;

    (void)salen;
    if (cidr_addr_from_sockaddr(sa, &peer) < 0)
        memset(&peer, 0, sizeof(peer)); /* not IP (a test's socketpair): no address */
    else if (!cidr_list_match(&gateway.trusted_proxies, &peer) &&
             !peer_connect(&peer, monotonic_s(), &tracked)) {
        STAT_ADD(connections_refused_per_address_total, 1);
        evutil_closesocket(fd);
        return;
    }
    if (!worker_take_slot()) {
        w->parked_fd = fd;
        w->parked_peer = peer;
        w->parked_tracked = tracked;
        worker_pause_listener(w);
        event_active(w->evict_ev, 0, 0);
        return;
    }
    worker_serve(w, fd, &peer, tracked);
    /*
     * A new connection costs a handshake (a TLS one 0.3-0.6 ms of CPU), and evconnlistener
     * accepts until the backlog is empty: a burst of new connections would put all their
     * handshakes in one pass ahead of the requests already in flight (their reads, the
     * Redis replies that answer them). So one per pass, as nginx's multi_accept off (8
     * per pass measured no better than all); the rest wait in the backlog and are taken
     * in the next passes. The disable and the re-enable land in one pass: libevent's
     * changelist folds them, no epoll_ctl.
     */
    if (!w->accepted_this_pass) {
        w->accepted_this_pass = true;
        evconnlistener_disable(w->listener);
        event_active(w->next_pass_ev, 0, 0);
    }
}

/* Runs after the callbacks already due in this pass: new connections may come again. */
static void worker_next_pass_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    w->accepted_this_pass = false;
    if (w->listener != NULL && !w->listener_paused)
        evconnlistener_enable(w->listener);
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

/* Activates the evict event of every other worker (thread-safe: evthread_use_pthreads). */
static void worker_wake_others(struct worker *w, bool ask_evict)
{
    for (int i = 0; i < gateway.nworkers; i++) {
        struct worker *o = &gateway.workers[i];
        if (o == w)
            continue;
        if (ask_evict)
            atomic_store(&o->evict_asked, true);
        event_active(o->evict_ev, 0, 0);
    }
}

/*
 * Serves the parked socket, if any, in a free slot or in one an unproven connection gives
 * up, and accepts again; at the cap it still accepts, so the next new connection can take
 * an unproven one's slot too. Not re-entered: an eviction's closed() calls it again. When
 * this worker holds no unproven connection and may_ask, the other workers are asked to give
 * one up (SO_REUSEPORT's hash, not us, spread the connections over them); an asked worker
 * does not ask back, so two parked workers cannot keep waking each other.
 */
static void worker_resume_listener(struct worker *w, bool may_ask)
{
    if (!w->listener_paused || w->env.stopping || w->resuming)
        return;
    w->resuming = true;
    if (w->parked_fd >= 0) {
        bool room = worker_take_slot();
        if (!room && conn_evict_one(&w->env, 0))
            room = worker_take_slot();
        else if (!room && may_ask)
            worker_wake_others(w, true);
        if (room) {
            evutil_socket_t fd = w->parked_fd;
            w->parked_fd = -1;
            worker_serve(w, fd, &w->parked_peer, w->parked_tracked);
        }
    }
    if (w->parked_fd < 0 && w->listener != NULL) {
        w->listener_paused = false;
        if (!w->accepted_this_pass) /* else the next pass enables it */
            evconnlistener_enable(w->listener);
    }
    w->resuming = false;
}

/*
 * Activated when a socket was parked (runs after the reads already due in this pass), when
 * another worker parked asks for room, and when another worker made room.
 */
static void worker_evict_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    bool asked = atomic_exchange(&w->evict_asked, false);

    (void)fd;
    (void)what;
    /*
     * The slot an unproven connection gives up here is for the worker that asked. This
     * activation may run before the reads of a connection accepted in this pass (it was not
     * deferred behind them as the asking worker's own was), so only one older than
     * WORKER_EVICT_MIN_AGE_S goes; if all are younger, the asker asks again at its tick.
     */
    if (asked && !w->env.stopping && conn_evict_one(&w->env, WORKER_EVICT_MIN_AGE_S))
        worker_wake_others(w, false);
    worker_resume_listener(w, !asked);
}

static void worker_maybe_exit(struct worker *w)
{
    if (w->env.stopping && w->env.nconns == 0 && w->pusher.in_flight == 0 && !ws_set_busy(w->ws))
        event_base_loopexit(w->base, NULL);
}

static void worker_redis_state(struct redis_link *link, bool up, void *arg)
{
    struct worker *w = arg;

    w->redis_up = up;
    pusher_saw_reply(&w->pusher);
    w->llen_inflight = false;
    STAT_ADD(redis_links_up, up ? 1 : -1);
    if (up && w->ws != NULL)
        ws_set_redis_up(w->ws);
}

static void worker_llen_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct worker *w = privdata;
    redisReply *reply = r;

    w->llen_inflight = false;
    if (reply != NULL)
        pusher_saw_reply(&w->pusher);
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        STAT_SET(queue_length, reply->integer);
}

static void worker_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    redisAsyncContext *ac = redis_link_ctx(w->redis);

    if (ac != NULL && !w->llen_inflight &&
        redisAsyncCommand(ac, worker_llen_cb, w, "LLEN %s", w->queue) == REDIS_OK)
        w->llen_inflight = true;
    worker_resume_listener(w, true);
    conn_resume_reading(&w->env);
    ws_set_tick(w->ws);
}

static void worker_reload_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct keyring *kr;

    pthread_mutex_lock(&gateway.cfg_lock);
    kr = keyring_new(gateway.cfg);
    if (kr != NULL) {
        worker_copy_settings(w, gateway.cfg);
        ws_set_apply(w->ws, gateway.cfg, gateway.nworkers); /* copies what it keeps */
    }
    pthread_mutex_unlock(&gateway.cfg_lock);
    if (kr == NULL) {
        log_msg(LOG_ERROR, "reload failed in worker, keeping old sources",
                "worker=%d error=\"out of memory\"", w->id);
        return;
    }
    keyring_free(w->env.keyring);
    w->env.keyring = kr;
}

static void worker_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    log_msg(LOG_WARN, "stop deadline reached, closing remaining connections",
            "worker=%d connections=%ld pushes=%ld subscriptions_busy=%d", w->id, w->env.nconns,
            w->pusher.in_flight, ws_set_busy(w->ws) ? 1 : 0);
    event_base_loopexit(w->base, NULL);
}

static void worker_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct timeval tv = timeval_ms(pusher_deadline_ms(&w->pusher, w->env.settings.push_timeout_ms) +
                                   WORKER_STOP_GRACE_MS);

    if (w->env.stopping)
        return;
    w->env.stopping = true;
    if (w->listener != NULL) {
        evconnlistener_free(w->listener); /* closes the socket: no new connections */
        w->listener = NULL;
    }
    if (w->parked_fd >= 0) {
        close(w->parked_fd); /* never served: nothing was promised to it */
        w->parked_fd = -1;
        if (w->parked_tracked)
            peer_disconnect(&w->parked_peer);
    }
    evtimer_add(w->deadline_ev, &tv);
    conn_close_idle(&w->env);
    ws_set_stop(w->ws);
    worker_maybe_exit(w);
}

int worker_init(struct worker *w, int id, int listen_fd, SSL_CTX *ssl_ctx)
{
    struct redis_target target;
    const char *why;
    char name[32];
    long ack_replicas, ack_timeout_ms;

    memset(w, 0, sizeof(*w));
    w->id = id;
    w->listen_fd = listen_fd;
    w->parked_fd = -1;
    conn_env_init(&w->env);
    w->env.ssl_ctx = ssl_ctx;
    w->env.worker_id = id;
    w->env.pusher = &w->pusher;
    w->env.closed = worker_conn_closed;
    w->env.trusted_proxies = &gateway.trusted_proxies;
    w->env.arg = w;
    /*
     * The changelist folds an event's add and delete within one loop pass into at most
     * one epoll_ctl: hiredis' adapter re-arms its write event on every command.
     */
    struct event_config *ecfg = event_config_new();
    if (ecfg == NULL)
        return -1;
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    /*
     * A connection with more pipelined requests than it may handle per callback activates
     * itself again; libevent runs such re-activations in the same pass, before it polls
     * again, so a few pipelining clients could keep every other socket (new requests,
     * Redis replies) waiting for seconds. After WORKER_MAX_CALLBACKS_PER_PASS callbacks
     * the loop polls again: every ready socket gets its turn.
     */
    event_config_set_max_dispatch_interval(ecfg, NULL, WORKER_MAX_CALLBACKS_PER_PASS, 0);
    w->base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    if (w->base == NULL)
        return -1;
    w->env.base = w->base;
    pthread_mutex_lock(&gateway.cfg_lock);
    w->env.keyring = keyring_new(gateway.cfg);
    w->queue = strdup(gateway.cfg->redis.queue);
    worker_copy_settings(w, gateway.cfg);
    ack_replicas = gateway.cfg->redis.ack_replicas;
    ack_timeout_ms = gateway.cfg->redis.ack_timeout_ms;
    if (redis_target_parse(gateway.cfg->redis.url, gateway.cfg->redis.sentinels,
                           gateway.cfg->redis.master_name, &target, &why) < 0) {
        pthread_mutex_unlock(&gateway.cfg_lock);
        log_msg(LOG_ERROR, "bad redis settings", "error=%s", log_value(why));
        return -1;
    }
    pthread_mutex_unlock(&gateway.cfg_lock);
    if (w->env.keyring == NULL || w->queue == NULL)
        return -1;
    w->reload_ev = event_new(w->base, -1, 0, worker_reload_cb, w);
    w->stop_ev = event_new(w->base, -1, 0, worker_stop_cb, w);
    w->tick_ev = event_new(w->base, -1, EV_PERSIST, worker_tick_cb, w);
    w->deadline_ev = evtimer_new(w->base, worker_deadline_cb, w);
    w->next_pass_ev = event_new(w->base, -1, 0, worker_next_pass_cb, w);
    w->evict_ev = event_new(w->base, -1, 0, worker_evict_cb, w);
    if (w->reload_ev == NULL || w->stop_ev == NULL || w->tick_ev == NULL ||
        w->deadline_ev == NULL || w->next_pass_ev == NULL || w->evict_ev == NULL)
        return -1;
    /* backlog 0: already listening with GATEWAY_BACKLOG (-1 would re-listen() with 128) */
    w->listener = evconnlistener_new(w->base, worker_accept_cb, w,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, listen_fd);
    if (w->listener == NULL)
        return -1;
    w->listen_fd = -1; /* owned by the listener */
    evconnlistener_set_error_cb(w->listener, worker_accept_error_cb);
    snprintf(name, sizeof(name), "gateway-%d", id);
    w->redis = redis_link_new(w->base, &target, name, worker_redis_state, w);
    explicit_bzero(target.url.password, sizeof(target.url.password));
    if (w->redis == NULL)
        return -1;
    if (pusher_init(&w->pusher, w->base, w->redis, w->queue, id, gateway.id_prefix, ack_replicas,
                    ack_timeout_ms, worker_push_done, w) < 0)
        return -1;
    STAT_ADD(redis_links, 1);
    budget_init();
    {
        struct ws_env env = {
            .base = w->base,
            .redis = w->redis,
            .pusher = &w->pusher,
            .settings = &w->env.settings,
            .queue = w->queue,
            .worker_id = id,
            .idle = worker_push_done,
            .idle_arg = w,
        };
        w->ws = ws_set_new(&env);
        if (w->ws == NULL)
            return -1;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct timeval tick = timeval_ms(WORKER_TICK_MS);

    pthread_mutex_lock(&gateway.cfg_lock);
    ws_set_apply(w->ws, gateway.cfg, gateway.nworkers); /* known once threads start */
    pthread_mutex_unlock(&gateway.cfg_lock);
    evtimer_add(w->tick_ev, &tick);
    event_base_dispatch(w->base);
    conn_free_all(&w->env);
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
    if (w->parked_fd >= 0) {
        close(w->parked_fd);
        if (w->parked_tracked)
            peer_disconnect(&w->parked_peer);
    }
    ws_set_free(w->ws); /* cancels its pushes; a source with Redis replies due waits for them */
    pusher_free(&w->pusher);
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
    if (w->next_pass_ev != NULL)
        event_free(w->next_pass_ev);
    if (w->evict_ev != NULL)
        event_free(w->evict_ev);
    keyring_free(w->env.keyring);
    free(w->queue);
    if (w->base != NULL)
        event_base_free(w->base);
}
