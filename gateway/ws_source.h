/*
 * The Zoom WebSocket subscriptions a gateway worker runs (docs/websocket.md). Each
 * websocket source belongs to one worker of each gateway (its name's hash modulo the
 * workers); that worker competes with the other gateways for the source's Redis lease, and
 * the holder fetches a token (ev_curl), keeps one link (ws_conn) up with heartbeats, pushes
 * each event through the worker's pusher exactly as a verified webhook body, and records in
 * Redis when the link was last known alive, so that the next connection, in any gateway,
 * queues the gap (an HPG1 item) atomically with its own start.
 *
 * Bounded memory: at most WS_PENDING_MAX received events wait for their push (plus what
 * wslay had already read, at most one input buffer); then the socket is not read.
 */
#ifndef HOOKPIPE_WS_SOURCE_H
#define HOOKPIPE_WS_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#define WS_PENDING_MAX 256 /* received events awaiting their push, per source */

struct config;
struct conn_settings;
struct ev_curl;
struct event_base;
struct evdns_base;
struct pusher;
struct redis_link;
struct ws_set;

/* What a worker lends its subscriptions (all borrowed, outliving the set). */
struct ws_env {
    struct event_base *base;
    struct redis_link *redis;
    struct pusher *pusher;
    const struct conn_settings *settings; /* max_body_bytes and the admission limits */
    const char *queue;                    /* [redis] queue */
    int worker_id;
    void (*idle)(void *arg); /* a stopping set finished (ws_set_busy turned false) */
    void *idle_arg;
};

/* NULL when out of memory. The ev_curl and evdns bases are made here, on env->base. */
struct ws_set *ws_set_new(const struct ws_env *env) __attribute__((warn_unused_result));

/*
 * Adopts cfg's websocket sources that belong to this worker (of nworkers): new ones start, removed
 * ones stop (their link closed, their lease released), changed ones restart; unchanged ones keep
 * their link. Call with cfg valid for the duration of the call only (everything is copied).
 */
void ws_set_apply(struct ws_set *set, const struct config *cfg, int nworkers);

/* Periodic (the worker's tick): retries pushes that waited for admission. */
void ws_set_tick(struct ws_set *set);

/* The worker's Redis link is up (again): each source tries its lease at once. */
void ws_set_redis_up(struct ws_set *set);

/* Graceful stop: stop reading, wait for every received event's push, close, release. */
void ws_set_stop(struct ws_set *set);

/* True while a stopping set still has events to confirm or links to close. */
bool ws_set_busy(const struct ws_set *set);

/* Frees everything at once (pending pushes are cancelled). NULL is ignored. */
void ws_set_free(struct ws_set *set);

#endif
