/*
 * One client WebSocket link (RFC 6455) over TLS, on a worker's libevent loop: TCP connect
 * (names through evdns), TLS verified with SNI, the upgrade request and its checked answer
 * (status 101, Upgrade, Connection, Sec-WebSocket-Accept), then frames through wslay (which
 * leaves I/O to us: it reads the bufferevent's input and writes its output). Pings are
 * answered by wslay; whole text messages reach the owner, assembled here from fragments up
 * to a cap (a larger one is reported as too large and skipped, the link kept). The owner
 * may pause reading (the socket is then not read: TCP backpressure) and resume it.
 *
 * The end of a link always reaches the owner through down(), from an event of its own,
 * never from inside another callback; the owner then frees it with ws_conn_free.
 */
#ifndef HOOKPIPE_WS_CONN_H
#define HOOKPIPE_WS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ws_message.h"

struct event_base;
struct evdns_base;
struct ssl_ctx_st;
struct ws_conn;

struct ws_conn_cbs {
    void (*up)(void *arg); /* the upgrade was accepted: frames may flow */
    /* a whole message: text (or binary), or too_large with msg NULL */
    void (*message)(void *arg, const char *msg, size_t len, bool binary, bool too_large);
    /* the link is over (detail: a printable line for the log, never a secret) */
    void (*down)(void *arg, enum ws_down why, const char *detail);
};

struct ws_conn_opts {
    const char *url;            /* ws:// or wss:// URL, query included (it holds the token) */
    struct ssl_ctx_st *ssl_ctx; /* for wss: verifies the peer (the caller's settings) */
    struct evdns_base *dns;     /* resolves a host name; NULL: only IP literals */
    size_t max_message;         /* larger messages are reported too_large */
    long handshake_timeout_ms;  /* connect + TLS + upgrade must finish within this */
};

/*
 * Starts connecting. NULL (and *why set to a static reason) when the URL cannot be used
 * or memory runs out; the callbacks never run then.
 */
struct ws_conn *ws_conn_open(struct event_base *base, const struct ws_conn_opts *opts,
                             const struct ws_conn_cbs *cbs, void *arg, const char **why)
    __attribute__((warn_unused_result));

/* Queues a text message and sends it. -1 when the link cannot take it (it is going down). */
int ws_conn_send_text(struct ws_conn *c, const char *text, size_t len);

/*
 * Stops reading the socket / reads again (and what was already read). ws_conn_close reads
 * again to get the answer; a closing link may still be paused and resumed (backpressure).
 */
void ws_conn_pause(struct ws_conn *c);
void ws_conn_resume(struct ws_conn *c);
bool ws_conn_paused(const struct ws_conn *c);

/* True once ws_conn_close has sent the close frame and the link waits for the answer. */
bool ws_conn_closing(const struct ws_conn *c);

/*
 * Ends the link: a close frame (code 1000) when the upgrade was done, then the socket is
 * closed when the peer's close answer arrives, then down(why). Messages that arrive before
 * the answer are still delivered; the answer must come within 1 s of the last byte read
 * (10 s in all), else the link is dropped. Idempotent.
 */
void ws_conn_close(struct ws_conn *c, enum ws_down why, const char *detail);

/* Frees the link at once (no callback runs after). NULL is ignored. */
void ws_conn_free(struct ws_conn *c);

/* base64(SHA-1(key + the RFC 6455 GUID)): the Sec-WebSocket-Accept a server must answer. */
void ws_conn_accept_for(const char *key, char out[29]);

#endif
