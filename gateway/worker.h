/*
 * A gateway worker: one thread, one event_base, its own SO_REUSEPORT listening socket,
 * its own Redis connection and keyring. Workers share only the stats block, the
 * connection count and the published config (guarded by gateway.cfg_lock).
 */
#ifndef HOOKPIPE_WORKER_H
#define HOOKPIPE_WORKER_H

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "config.h"
#include "conn.h"
#include "ev_redis.h"
#include "keyring.h"
#include "push.h"
#include "ws_source.h"

struct worker {
    int id; /* 0..nworkers-1, part of delivery ids */
    pthread_t thread;
    struct event_base *base;
    int listen_fd; /* SO_REUSEPORT socket, owned until the listener takes it */
    struct evconnlistener *listener;
    bool listener_paused;         /* disabled at max_connections */
    evutil_socket_t parked_fd;    /* accepted while every slot was taken; -1 = none */
    struct cidr_addr parked_peer; /* its address */
    bool parked_tracked;          /* counted in the per-address table */
    bool accepted_this_pass;      /* listener disabled until the next pass (worker_accept_cb) */
    struct event *next_pass_ev;   /* re-enables the listener once this pass's callbacks ran */
    struct event *evict_ev;       /* a socket was parked: make room for it after this pass */
    bool resuming;                /* in worker_resume_listener (an eviction calls it again) */
    _Atomic bool evict_asked;     /* a worker parked at the cap asks this one to make room */
    struct redis_link *redis;
    bool redis_up;             /* as last reported by the link */
    char *queue;               /* Redis list name (owned) */
    struct pusher pusher;      /* deliveries pushed on redis */
    struct conn_env env;       /* what its connections use: settings, keyring (owned), pusher */
    struct ws_set *ws;         /* the Zoom WebSocket subscriptions this worker runs */
    bool llen_inflight;        /* the periodic LLEN awaits its reply */
    double cap_logged_at;      /* last "max_connections reached" log line */
    struct event *reload_ev;   /* activated by the main thread after SIGHUP */
    struct event *stop_ev;     /* activated by the main thread on SIGTERM/SIGINT */
    struct event *tick_ev;     /* periodic LLEN and listener re-enable */
    struct event *deadline_ev; /* hard stop after SIGTERM */
};

/* State shared by all workers and the main thread. */
struct gateway {
    pthread_mutex_t cfg_lock;         /* guards cfg while workers copy from it */
    struct config *cfg;               /* current config; replaced on reload under cfg_lock */
    long max_connections;             /* fixed at start */
    struct cidr_list trusted_proxies; /* [gateway] trusted_proxies, fixed at start */
    _Atomic long nconns;              /* open connections across workers */
    uint64_t id_prefix;               /* random 48 bits per process, for delivery ids */
    struct worker *workers;           /* all of them, set before any starts */
    int nworkers;
};

extern struct gateway gateway;

/* Creates the worker's loop, Redis link and keyring (from gateway.cfg). 0 or -1. */
int worker_init(struct worker *w, int id, int listen_fd, SSL_CTX *ssl_ctx)
    __attribute__((warn_unused_result));
int worker_start(struct worker *w) __attribute__((warn_unused_result));
/* Thread-safe: ask the worker to adopt gateway.cfg / to stop. */
void worker_request_reload(struct worker *w);
void worker_request_stop(struct worker *w);
void worker_join(struct worker *w);
/* Frees what worker_init made (after join, or after a failed init). */
void worker_destroy(struct worker *w);

#endif
