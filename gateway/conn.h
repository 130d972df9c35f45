/*
 * One client connection of the gateway: an explicit HTTP/1.1 state machine over a
 * transport (plain or TLS). It reads a request head, then its body, has it verified,
 * pushes it and answers. Every state change goes through conn_set_state(). What it
 * needs from its worker comes in a struct conn_env, so it knows no worker.
 */
#ifndef HOOKPIPE_CONN_H
#define HOOKPIPE_CONN_H

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "cidr.h"

struct keyring;
struct pusher;

/* The reloadable settings a connection applies (the worker copies them from the config). */
struct conn_settings {
    long max_body_bytes;
    long timestamp_tolerance_s;
    long max_queue_length;
    long read_timeout_s;
    long idle_timeout_s;
    long push_timeout_ms;
    long max_pushes_in_flight;
};

struct conn;
TAILQ_HEAD(conn_list, conn);

/* A worker's side of its connections: what they use, and what they report. */
struct conn_env {
    struct event_base *base;
    SSL_CTX *ssl_ctx;                        /* NULL for plain HTTP */
    int worker_id;                           /* for log lines */
    struct conn_settings settings;           /* replaced on reload */
    struct keyring *keyring;                 /* replaced on reload */
    struct pusher *pusher;                   /* queues deliveries on the worker's Redis link */
    const struct cidr_list *trusted_proxies; /* peers whose X-Forwarded-For is believed */
    bool stopping;                           /* answers end their connection (graceful stop) */
    void (*closed)(void *arg);               /* a connection was freed: its slot is free */
    void *arg;                               /* for closed */
    /* kept by conn.c */
    struct conn_list conns; /* open connections, in order of arrival */
    long nconns;
    uint64_t next_id;    /* for log lines */
    bool budget_waiters; /* connections wait for the buffer budget (conn_resume_reading) */
};

/* Sets up env's connection list; the caller fills in the rest. */
void conn_env_init(struct conn_env *env);

/*
 * Takes ownership of fd (an accepted socket from peer) and starts serving it; with
 * peer_tracked, peer_disconnect(peer) is called when it closes. -1 when out of memory
 * (fd closed, peer released, closed() not called: the caller still holds the slot).
 */
int conn_accept(struct conn_env *env, evutil_socket_t fd, const struct cidr_addr *peer,
                bool peer_tracked) __attribute__((warn_unused_result));

/*
 * Every slot is taken: closes the oldest connection that has proven nothing (no request
 * on it passed verification) and is not answering one, so connections without
 * credentials cannot hold every slot against one that has them. Only connections accepted
 * at least min_age_s ago count (another worker's request: this worker's reads of a
 * connection just accepted may not have run yet). closed() is called for it. False when
 * there is none to close.
 */
bool conn_evict_one(struct conn_env *env, double min_age_s);

/* Graceful stop: closes connections with no answer pending; the others close after it. */
void conn_close_idle(struct conn_env *env);

/*
 * The worker's tick: sheds unproven requests while the buffer budget is exceeded, and
 * resumes reading on connections it paused once it is not.
 */
void conn_resume_reading(struct conn_env *env);

/* Frees every connection left (end of the worker's loop). */
void conn_free_all(struct conn_env *env);

#endif
