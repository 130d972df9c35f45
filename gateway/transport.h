/*
 * The byte stream under a gateway connection, plain TCP or TLS, behind one ops table
 * (PgBouncer's sbuf is the model), so the connection state machine never asks which
 * one it has. A transport owns the socket and the input and output buffers, and calls
 * back when input may be there, when all output is written, and when the stream ends.
 */
#ifndef HOOKPIPE_TRANSPORT_H
#define HOOKPIPE_TRANSPORT_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#define TRANSPORT_READ_CHUNK 16384 /* bytes asked of one recv(2) */

/* What a transport reports to its connection (arg). */
struct transport_cbs {
    void (*readable)(void *arg); /* input may be waiting: call transport_fill */
    void (*drained)(void *arg);  /* everything sent so far is written */
    void (*eof)(void *arg);      /* the client ended the stream cleanly (TLS close_notify) */
    void (*error)(void *arg);    /* reset or TLS failure: nobody is left to answer */
};

struct transport;

struct transport_ops {
    /* Moves what the socket has into in: 1 (data or nothing yet), 0 EOF, -1 error. */
    int (*fill)(struct transport *t);
    /* Discards input (lingering close): 1 go on waiting, 0 the client is gone. */
    int (*discard)(struct transport *t);
    /* Queues len bytes; direct allows writing them at once when nothing is queued. */
    void (*send)(struct transport *t, const void *data, size_t len, bool direct);
    /* Reading on or off; cap is how much input may wait unread (TLS read watermark). */
    void (*set_reading)(struct transport *t, bool on, size_t cap);
    /* Calls readable again on a later loop pass (more buffered input to work through). */
    void (*again)(struct transport *t);
    /* Our side is done: TLS close_notify, then the TCP write side shut (FIN). */
    void (*shutdown_write)(struct transport *t);
    void (*free)(struct transport *t);
};

struct transport {
    const struct transport_ops *ops;
    struct evbuffer *in;  /* bytes received, not yet consumed */
    struct evbuffer *out; /* bytes queued, not yet written */
    bool reading;         /* reading is on */
    const struct transport_cbs *cbs;
    void *arg;
};

/*
 * A transport over the accepted socket fd: plain, or TLS (server side) when ssl_ctx is
 * not NULL. Takes ownership of fd on success; NULL on failure (fd is still the caller's).
 */
struct transport *transport_new(struct event_base *base, evutil_socket_t fd, SSL_CTX *ssl_ctx,
                                const struct transport_cbs *cbs, void *arg)
    __attribute__((warn_unused_result));

static inline int transport_fill(struct transport *t)
{
    return t->ops->fill(t);
}

static inline int transport_discard(struct transport *t)
{
    return t->ops->discard(t);
}

static inline void transport_send(struct transport *t, const void *data, size_t len, bool direct)
{
    t->ops->send(t, data, len, direct);
}

static inline void transport_set_reading(struct transport *t, bool on, size_t cap)
{
    t->ops->set_reading(t, on, cap);
}

static inline void transport_again(struct transport *t)
{
    t->ops->again(t);
}

static inline void transport_shutdown_write(struct transport *t)
{
    t->ops->shutdown_write(t);
}

/* Closes the socket and frees everything; no callback after this. */
static inline void transport_free(struct transport *t)
{
    t->ops->free(t);
}

#endif
