/*
 * The two transports (see transport.h). Plain TCP reads with recv(2) straight into
 * the input buffer (a bufferevent would ask the kernel for the readable byte count
 * with an ioctl before every read: a third syscall per request) and writes an answer
 * with one send(2) when nothing is queued. TLS is an OpenSSL bufferevent.
 */
#include "transport.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stats.h"

#define TRANSPORT_DISCARD_CHUNK 4096

/* ---- plain TCP ------------------------------------------------------------------ */

struct transport_plain {
    struct transport t;
    evutil_socket_t fd;
    struct event *rev; /* readable (persistent while reading) */
    struct event *wev; /* writable (added while output is queued) */
};

static bool transport_retry(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

static void plain_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct transport *t = arg;

    t->cbs->readable(t->arg);
}

static void plain_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct transport_plain *p = arg;

    if (evbuffer_write(p->t.out, fd) < 0 && !transport_retry()) {
        p->t.cbs->error(p->t.arg);
        return;
    }
    if (evbuffer_get_length(p->t.out) > 0) {
        event_add(p->wev, NULL);
        return;
    }
    p->t.cbs->drained(p->t.arg);
}

static int plain_fill(struct transport *t)
{
    struct transport_plain *p = (struct transport_plain *)t;
    struct evbuffer_iovec v;
    ssize_t n;

    if (evbuffer_reserve_space(t->in, TRANSPORT_READ_CHUNK, &v, 1) < 1) {
        STAT_ADD(out_of_memory_total, 1);
        return -1;
    }
    n = recv(p->fd, v.iov_base, v.iov_len, 0);
    if (n < 0)
        return transport_retry() ? 1 : -1;
    if (n == 0)
        return 0;
    v.iov_len = (size_t)n;
    evbuffer_commit_space(t->in, &v, 1);
    return 1;
}

static int plain_discard(struct transport *t)
{
    struct transport_plain *p = (struct transport_plain *)t;
    char scratch[TRANSPORT_DISCARD_CHUNK];
    ssize_t n = recv(p->fd, scratch, sizeof(scratch), 0);

    return n == 0 || (n < 0 && !transport_retry()) ? 0 : 1;
}

static void plain_send(struct transport *t, const void *data, size_t len, bool direct)
{
    struct transport_plain *p = (struct transport_plain *)t;
    ssize_t n = 0;

    if (direct && evbuffer_get_length(t->out) == 0) {
        n = send(p->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == (ssize_t)len)
            return;
        if (n < 0)
            n = 0; /* EAGAIN, or an error the write event will report */
    }
    evbuffer_add(t->out, (const char *)data + n, len - (size_t)n);
    event_add(p->wev, NULL);
}

static void plain_set_reading(struct transport *t, bool on, size_t cap)
{
    struct transport_plain *p = (struct transport_plain *)t;

    if (on == t->reading)
        return;
    t->reading = on;
    if (on)
        event_add(p->rev, NULL);
    else
        event_del(p->rev);
}

static void plain_again(struct transport *t)
{
    event_active(((struct transport_plain *)t)->rev, EV_READ, 0);
}

static void plain_shutdown_write(struct transport *t)
{
    shutdown(((struct transport_plain *)t)->fd, SHUT_WR);
}

static void plain_free(struct transport *t)
{
    struct transport_plain *p = (struct transport_plain *)t;

    if (p->rev != NULL)
        event_free(p->rev);
    if (p->wev != NULL)
        event_free(p->wev);
    if (t->in != NULL)
        evbuffer_free(t->in);
    if (t->out != NULL)
        evbuffer_free(t->out);
    if (p->fd >= 0)
        close(p->fd);
    free(p);
}

/* An ops table from the functions named prefix_fill, prefix_discard, ... */
#define TRANSPORT_OPS(prefix)                                                                      \
    {                                                                                              \
        .fill = prefix##_fill, .discard = prefix##_discard, .send = prefix##_send,                 \
        .set_reading = prefix##_set_reading, .again = prefix##_again,                              \
        .shutdown_write = prefix##_shutdown_write, .free = prefix##_free,                          \
    }

static const struct transport_ops transport_plain_ops = TRANSPORT_OPS(plain);

static struct transport *transport_plain_new(struct event_base *base, evutil_socket_t fd)
{
    struct transport_plain *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return NULL;
    p->t.ops = &transport_plain_ops;
    p->fd = -1; /* taken only once everything exists */
    p->t.in = evbuffer_new();
    p->t.out = evbuffer_new();
    p->rev = event_new(base, fd, EV_READ | EV_PERSIST, plain_read_cb, p);
    p->wev = event_new(base, fd, EV_WRITE, plain_write_cb, p);
    if (p->t.in == NULL || p->t.out == NULL || p->rev == NULL || p->wev == NULL ||
        event_add(p->rev, NULL) < 0) {
        plain_free(&p->t);
        return NULL;
    }
    p->fd = fd;
    p->t.reading = true;
    return &p->t;
}

/* ---- TLS (OpenSSL bufferevent) ----------------------------------------------------- */

struct transport_tls {
    struct transport t;
    struct bufferevent *bev;
    bool handshake_done; /* for the handshake failure count */
};

static void tls_read_cb(struct bufferevent *bev, void *arg)
{
    struct transport *t = arg;

    t->cbs->readable(t->arg);
}

static void tls_write_cb(struct bufferevent *bev, void *arg)
{
    struct transport *t = arg;

    t->cbs->drained(t->arg);
}

static void tls_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct transport_tls *s = arg;

    if (what & BEV_EVENT_CONNECTED) {
        s->handshake_done = true;
        return;
    }
    if (!s->handshake_done) {
        STAT_ADD(tls_handshake_failures_total, 1);
        s->t.cbs->error(s->t.arg);
    } else if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
        s->t.cbs->eof(s->t.arg);
    } else {
        s->t.cbs->error(s->t.arg);
    }
}

static int tls_fill(struct transport *t)
{
    return 1; /* the bufferevent has read already; its end comes as an event */
}

static int tls_discard(struct transport *t)
{
    evbuffer_drain(t->in, evbuffer_get_length(t->in));
    return 1;
}

static void tls_send(struct transport *t, const void *data, size_t len, bool direct)
{
    evbuffer_add(t->out, data, len);
    bufferevent_enable(((struct transport_tls *)t)->bev, EV_WRITE);
}

static void tls_set_reading(struct transport *t, bool on, size_t cap)
{
    struct transport_tls *s = (struct transport_tls *)t;

    bufferevent_setwatermark(s->bev, EV_READ, 0, cap);
    if (on == t->reading)
        return;
    t->reading = on;
    if (on)
        bufferevent_enable(s->bev, EV_READ);
    else
        bufferevent_disable(s->bev, EV_READ);
}

static void tls_again(struct transport *t)
{
    bufferevent_trigger(((struct transport_tls *)t)->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

static void tls_shutdown_write(struct transport *t)
{
    struct transport_tls *s = (struct transport_tls *)t;
    SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

    if (ssl != NULL)
        (void)SSL_shutdown(ssl); /* 0: the client's close_notify has not come (yet) */
    shutdown(bufferevent_getfd(s->bev), SHUT_WR);
}

static void tls_free(struct transport *t)
{
    struct transport_tls *s = (struct transport_tls *)t;

    bufferevent_free(s->bev); /* frees the SSL, the buffers, and closes the socket */
    free(s);
}

static const struct transport_ops transport_tls_ops = TRANSPORT_OPS(tls);

static struct transport *transport_tls_new(struct event_base *base, evutil_socket_t fd,
                                           SSL_CTX *ssl_ctx)
{
    struct transport_tls *s = calloc(1, sizeof(*s));
    SSL *ssl = SSL_new(ssl_ctx);

    if (s == NULL || ssl == NULL)
        goto fail;
    s->t.ops = &transport_tls_ops;
    /* created without the socket, so a failure leaves fd and ssl plainly ours */
    s->bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (s->bev == NULL)
        goto fail;
    ssl = NULL; /* owned by the bufferevent now */
    if (bufferevent_setfd(s->bev, fd) < 0)
        goto fail;
    bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
    bufferevent_setcb(s->bev, tls_read_cb, tls_write_cb, tls_event_cb, s);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    s->t.in = bufferevent_get_input(s->bev);
    s->t.out = bufferevent_get_output(s->bev);
    s->t.reading = true;
    return &s->t;
fail:
    if (ssl != NULL)
        SSL_free(ssl);
    if (s != NULL && s->bev != NULL)
        bufferevent_free(s->bev);
    free(s);
    return NULL;
}

struct transport *transport_new(struct event_base *base, evutil_socket_t fd, SSL_CTX *ssl_ctx,
                                const struct transport_cbs *cbs, void *arg)
{
    struct transport *t =
        ssl_ctx != NULL ? transport_tls_new(base, fd, ssl_ctx) : transport_plain_new(base, fd);

    if (t != NULL) {
        t->cbs = cbs;
        t->arg = arg;
    }
    return t;
}
