/*
 * hookpipe-openloop: an open-loop, constant-rate HTTP/1.1 load generator (bench part o).
 * Requests go out on ONE evenly spaced schedule (--rate per second for --duration) shared by
 * several keep-alive connections, or on a new connection (TLS handshake included) each. Each
 * request's latency runs from its SCHEDULED send time, so a server that stalls shows in the
 * tail instead of slowing the sender down (coordinated omission), and the generator's own
 * lateness (when it handed the request to a connection minus when it was due) is reported
 * beside it. Our own because Debian has no wrk2 and h2load --rps / hey -q do not correct for
 * coordinated omission; docs/benchmarks.md describes the method.
 *
 * Usage: hookpipe-openloop --port N --rate R --duration S --requests FILE [--host H] [--tls]
 *          [--connections K] [--new-connection-per-request] [--tls-resume] [--timeout S]
 *          [--json]
 * FILE: pre-built raw requests, each an 8-digit decimal length then that many bytes (bench/
 * zoomgen.py `requests`), sent in order and cycled.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define NS_PER_S 1000000000LL
#define OL_READ_CHUNK 16384        /* bytes asked of one read */
#define OL_MAX_HEAD 65536          /* a response head larger than this is an error */
#define OL_WRITE_CHUNK 65536       /* bytes handed to one write (SSL_write retries: >=) */
#define OL_RECONNECT_NS 10000000LL /* a lost keep-alive connection is reopened after 10 ms */
#define OL_NEWCONN_MAX_DEFAULT 512 /* concurrent connections with a new one per request */
#define OL_CONNECT_TIMEOUT_NS (10 * NS_PER_S) /* keep-alive connections must be up by then */

/* One growable byte buffer: bytes [pos, len) are the ones still to use. */
struct buf {
    unsigned char *data; /* malloc'd */
    size_t len;          /* bytes filled */
    size_t pos;          /* bytes already consumed */
    size_t cap;          /* bytes allocated */
};

/* A FIFO of request indices: the requests sent on a connection and not yet answered. */
struct ring {
    uint32_t *v;  /* malloc'd, cap entries */
    size_t cap;   /* a power of two */
    size_t head;  /* oldest entry */
    size_t count; /* entries held */
};

enum conn_state {
    CONN_CLOSED,     /* no socket (keep-alive: reopened at retry_at) */
    CONN_CONNECTING, /* non-blocking connect() under way */
    CONN_HANDSHAKE,  /* TLS handshake under way */
    CONN_OPEN,       /* requests can be written */
    CONN_DRAINING,   /* new connection mode: answered, waiting for the server's close */
};

struct conn {
    int fd;                /* -1 when closed */
    SSL *ssl;              /* NULL for plain HTTP */
    enum conn_state state; /* see enum conn_state */
    uint32_t events;       /* the epoll interest registered */
    bool write_blocked;    /* the last write could not take everything */
    bool tls_want_write;   /* TLS needs the socket writable to go on (handshake or read) */
    bool server_close;     /* the last answer said Connection: close */
    bool dirty;            /* requests appended since the last flush */
    int64_t retry_at;      /* CONN_CLOSED keep-alive: when to reopen */
    struct buf out;        /* request bytes not yet written */
    struct buf in;         /* answer bytes not yet parsed */
    struct ring pending;   /* requests written (or queued to write), not answered */
    struct conn *next;     /* new connection mode: the free list */
};

/* Per request: when it was handed to a connection and when its answer (or failure) came. */
struct req {
    int64_t sent_ns; /* 0: never handed to a connection */
    int64_t done_ns; /* 0: not answered, not failed */
    int status;      /* HTTP status, 0 when it failed (connection error) */
};

struct opts {
    const char *host;     /* --host */
    const char *port;     /* --port */
    bool tls;             /* --tls: HTTPS, certificate not verified */
    bool tls_resume;      /* --tls-resume: resume the last session on a new connection */
    double rate;          /* --rate: requests per second */
    double duration;      /* --duration: seconds of schedule */
    double timeout;       /* --timeout: seconds to wait for answers after the schedule */
    int connections;      /* --connections: keep-alive connections (or the cap with -n) */
    bool new_conn;        /* --new-connection-per-request */
    const char *requests; /* --requests FILE */
    bool json;            /* --json */
};

/* The requests file, loaded whole. */
struct pool {
    unsigned char *data; /* the file */
    size_t *off;         /* offset of each request in data */
    size_t *len;         /* its length */
    size_t count;        /* requests */
};

static struct opts opt = {.host = "127.0.0.1", .timeout = 5.0, .connections = -1};
static struct pool pool;
static struct sockaddr_storage peer;
static socklen_t peer_len;
static SSL_CTX *ssl_ctx;
static SSL_SESSION *resume_session;
static int epfd = -1;

static struct conn *conns; /* opt.connections of them */
static struct conn *free_conns;
static int conns_open;   /* sockets open (any state but CONN_CLOSED) */
static int conns_usable; /* keep-alive: CONN_OPEN */
static size_t rr_next;   /* keep-alive: where the next search for a connection starts */

static struct req *reqs;
static uint64_t nreq;        /* requests in the schedule */
static uint64_t next_req;    /* the next one to hand to a connection */
static uint64_t finished;    /* answered or failed */
static int64_t t0;           /* scheduled time of request 0 */
static double interval_ns;   /* between two scheduled times */
static uint64_t connects;    /* connections opened (connect() calls) */
static uint64_t conn_errors; /* connections that failed or closed with requests pending */
static uint64_t tls_resumed; /* TLS handshakes that resumed a session (--tls-resume) */
static char last_error[160]; /* the last connection error, for the report */

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t sched_ns(uint64_t i)
{
    return t0 + (int64_t)((double)i * interval_ns);
}

static void die(const char *what)
{
    fprintf(stderr, "hookpipe-openloop: %s\n", what);
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);

    if (q == NULL)
        die("out of memory");
    return q;
}

/* ---- buffers ------------------------------------------------------------------------ */

static void buf_reserve(struct buf *b, size_t more)
{
    if (b->pos > 0 && (b->pos == b->len || b->pos > b->cap / 2)) {
        memmove(b->data, b->data + b->pos, b->len - b->pos);
        b->len -= b->pos;
        b->pos = 0;
    }
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

static void buf_append(struct buf *b, const unsigned char *p, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void buf_clear(struct buf *b)
{
    b->len = b->pos = 0;
}

static void ring_push(struct ring *r, uint32_t v)
{
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        uint32_t *nv = xrealloc(NULL, cap * sizeof(*nv));

        for (size_t i = 0; i < r->count; i++)
            nv[i] = r->v[(r->head + i) & (r->cap - 1)];
        free(r->v);
        r->v = nv;
        r->cap = cap;
        r->head = 0;
    }
    r->v[(r->head + r->count) & (r->cap - 1)] = v;
    r->count++;
}

static uint32_t ring_pop(struct ring *r)
{
    uint32_t v = r->v[r->head];

    r->head = (r->head + 1) & (r->cap - 1);
    r->count--;
    return v;
}

/* ---- the requests file -------------------------------------------------------------- */

static void pool_load(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;

    if (f == NULL || fstat(fileno(f), &st) != 0)
        die("cannot open the requests file");
    pool.data = xrealloc(NULL, (size_t)st.st_size + 1);
    if (fread(pool.data, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
        die("cannot read the requests file");
    fclose(f);
    size_t size = (size_t)st.st_size, at = 0, cap = 0;
    while (at < size) {
        char digits[9];
        char *end;

        if (size - at < 8)
            die("requests file: truncated length");
        memcpy(digits, pool.data + at, 8);
        digits[8] = '\0';
        unsigned long n = strtoul(digits, &end, 10);
        if (*end != '\0' || n == 0 || n > size - at - 8)
            die("requests file: bad length (want 8 digits, then that many bytes)");
        if (pool.count == cap) {
            cap = cap ? cap * 2 : 1024;
            pool.off = xrealloc(pool.off, cap * sizeof(*pool.off));
            pool.len = xrealloc(pool.len, cap * sizeof(*pool.len));
        }
        pool.off[pool.count] = at + 8;
        pool.len[pool.count] = n;
        pool.count++;
        at += 8 + n;
    }
    if (pool.count == 0)
        die("requests file: no requests");
}

/* ---- connections -------------------------------------------------------------------- */

static void conn_interest(struct conn *c)
{
    uint32_t want = 0;

    if (c->state == CONN_CONNECTING)
        want = EPOLLOUT;
    else if (c->state != CONN_CLOSED) {
        want = EPOLLIN;
        if (c->tls_want_write || (c->write_blocked && c->out.len > c->out.pos))
            want |= EPOLLOUT;
    }
    if (want == c->events)
        return;
    struct epoll_event ev = {.events = want, .data.ptr = c};
    if (epoll_ctl(epfd, c->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev) != 0)
        die("epoll_ctl");
    c->events = want;
}

/* Ends a request: its answer (status > 0) or its failure (status 0) came at t. */
static void req_finish(uint32_t i, int status, int64_t t)
{
    reqs[i].status = status;
    reqs[i].done_ns = t;
    finished++;
}

/*
 * Closes the socket (a clean close; conn_fail for a failure). Requests still waiting for an answer
 * on it fail now (their latency ends here); a keep-alive connection is reopened after
 * OL_RECONNECT_NS, a new-connection one goes back to the free list.
 */
static void conn_close(struct conn *c)
{
    int64_t t = now_ns();
    bool clean = c->pending.count == 0;

    while (c->pending.count > 0)
        req_finish(ring_pop(&c->pending), 0, t);
    if (c->ssl != NULL) {
        /* a close_notify first: SSL_free without one marks the session not resumable */
        if (clean && SSL_is_init_finished(c->ssl))
            SSL_shutdown(c->ssl);
        ERR_clear_error();
        if (opt.tls_resume && SSL_get_session(c->ssl) != NULL &&
            SSL_SESSION_is_resumable(SSL_get_session(c->ssl))) {
            SSL_SESSION_free(resume_session);
            resume_session = SSL_get1_session(c->ssl);
        }
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd); /* also leaves the epoll set */
        c->fd = -1;
        conns_open--;
    }
    if (c->state == CONN_OPEN && !opt.new_conn)
        conns_usable--;
    c->state = CONN_CLOSED;
    c->events = 0;
    c->write_blocked = c->tls_want_write = c->server_close = c->dirty = false;
    buf_clear(&c->out);
    buf_clear(&c->in);
    if (opt.new_conn) {
        c->next = free_conns;
        free_conns = c;
    } else {
        c->retry_at = t + OL_RECONNECT_NS;
    }
}

/* A connection that failed (not a clean close): counted, its reason kept, closed. */
static void conn_fail(struct conn *c, const char *what, const char *detail)
{
    conn_errors++;
    snprintf(last_error, sizeof(last_error), "%s: %s", what, detail);
    conn_close(c);
}

/* Opens c's socket and starts a non-blocking connect(); false (c closed) on failure. */
static bool conn_open(struct conn *c)
{
    int one = 1;

    c->fd = socket(peer.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (c->fd < 0) {
        conn_fail(c, "socket", strerror(errno));
        return false;
    }
    conns_open++;
    connects++;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&peer, peer_len) != 0 && errno != EINPROGRESS) {
        conn_fail(c, "connect", strerror(errno));
        return false;
    }
    c->state = CONN_CONNECTING;
    conn_interest(c);
    return true;
}

static void tls_error(struct conn *c, const char *what)
{
    unsigned long e = ERR_get_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    conn_fail(c, what, why ? why : "closed");
}

static void conn_became_open(struct conn *c)
{
    c->state = CONN_OPEN;
    if (!opt.new_conn)
        conns_usable++;
}

/* Connect finished (writable): TLS starts its handshake, plain HTTP is open. */
static bool conn_connected(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        conn_fail(c, "connect", strerror(err ? err : errno));
        return false;
    }
    if (ssl_ctx == NULL) {
        conn_became_open(c);
        return true;
    }
    c->ssl = SSL_new(ssl_ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        tls_error(c, "SSL_new");
        return false;
    }
    if (opt.tls_resume && resume_session != NULL)
        SSL_set_session(c->ssl, resume_session);
    SSL_set_connect_state(c->ssl);
    c->state = CONN_HANDSHAKE;
    return true;
}

static bool conn_handshake(struct conn *c)
{
    int r = SSL_do_handshake(c->ssl);

    c->tls_want_write = false;
    if (r == 1) {
        if (SSL_session_reused(c->ssl))
            tls_resumed++;
        conn_became_open(c);
        return true;
    }
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return true;
    case SSL_ERROR_WANT_WRITE:
        c->tls_want_write = true;
        return true;
    default:
        tls_error(c, "TLS handshake");
        return false;
    }
}

/* Writes what it can of c->out; false when the connection failed (and was closed). */
static bool conn_flush(struct conn *c)
{
    c->dirty = false;
    while (c->out.len > c->out.pos) {
        size_t n = c->out.len - c->out.pos;
        if (n > OL_WRITE_CHUNK)
            n = OL_WRITE_CHUNK;
        if (c->ssl == NULL) {
            ssize_t w = send(c->fd, c->out.data + c->out.pos, n, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EAGAIN || errno == EINTR) {
                    c->write_blocked = true;
                    return true;
                }
                conn_fail(c, "send", strerror(errno));
                return false;
            }
            c->out.pos += (size_t)w;
        } else {
            int w = SSL_write(c->ssl, c->out.data + c->out.pos, (int)n);
            if (w <= 0) {
                int e = SSL_get_error(c->ssl, w);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                    c->write_blocked = true;
                    return true;
                }
                tls_error(c, "SSL_write");
                return false;
            }
            c->out.pos += (size_t)w;
        }
    }
    c->write_blocked = false;
    buf_clear(&c->out);
    return true;
}

/* The value of header name (lower case) in head, or NULL; *vlen its length. */
static const char *head_value(const char *head, size_t len, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *p = memchr(head, '\n', len);

    while (p != NULL && (size_t)(p + 1 - head) < len) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', len - (size_t)(line - head));
        if (eol == NULL)
            break;
        if ((size_t)(eol - line) > nlen && line[nlen] == ':' &&
            strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *e = eol;
            while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *vlen = (size_t)(e - v);
            return v;
        }
        p = eol;
    }
    return NULL;
}

/*
 * Parses the complete answers in c->in, each ending the oldest request pending on c.
 * Returns false when the connection failed (closed).
 */
static bool conn_parse(struct conn *c, int64_t t)
{
    for (;;) {
        const char *base = (const char *)c->in.data + c->in.pos;
        size_t avail = c->in.len - c->in.pos;
        const char *end = avail >= 4 ? memmem(base, avail, "\r\n\r\n", 4) : NULL;

        if (end == NULL) {
            if (avail > OL_MAX_HEAD) {
                conn_fail(c, "answer", "head too large");
                return false;
            }
            return true;
        }
        size_t head_len = (size_t)(end - base) + 4;
        if (head_len < 12 || memcmp(base, "HTTP/1.", 7) != 0 || base[8] != ' ') {
            conn_fail(c, "answer", "not HTTP/1.x");
            return false;
        }
        int status = atoi(base + 9);
        size_t vlen = 0, body = 0;
        const char *v = head_value(base, head_len, "content-length", &vlen);
        if (v != NULL)
            body = strtoul(v, NULL, 10);
        else if (head_value(base, head_len, "transfer-encoding", &vlen) != NULL) {
            conn_fail(c, "answer", "chunked (not supported)");
            return false;
        }
        if (avail < head_len + body)
            return true;
        v = head_value(base, head_len, "connection", &vlen);
        if (v != NULL && vlen == 5 && strncasecmp(v, "close", 5) == 0)
            c->server_close = true;
        c->in.pos += head_len + body;
        if (status == 100)
            continue;
        if (c->pending.count == 0) {
            conn_fail(c, "answer", "nobody asked for it");
            return false;
        }
        req_finish(ring_pop(&c->pending), status, t);
        if (c->server_close) {
            if (c->pending.count > 0) {
                conn_fail(c, "Connection: close", "requests pending");
                return false;
            }
            c->state = CONN_DRAINING; /* wait for its close: no TIME_WAIT on our ports */
            if (!opt.new_conn)
                conns_usable--;
            return true;
        }
        if (opt.new_conn && c->pending.count == 0) {
            conn_close(c);
            return false;
        }
    }
}

/* Reads all there is; false when the connection closed. */
static bool conn_read(struct conn *c)
{
    for (;;) {
        buf_reserve(&c->in, OL_READ_CHUNK);
        unsigned char *to = c->in.data + c->in.len;
        ssize_t n;

        if (c->ssl == NULL) {
            n = recv(c->fd, to, OL_READ_CHUNK, 0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return true;
            if (n < 0) {
                conn_fail(c, "recv", strerror(errno));
                return false;
            }
        } else {
            c->tls_want_write = false;
            int r = SSL_read(c->ssl, to, OL_READ_CHUNK);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ)
                    return true;
                if (e == SSL_ERROR_WANT_WRITE) {
                    c->tls_want_write = true;
                    return true;
                }
                if (e != SSL_ERROR_ZERO_RETURN && c->pending.count > 0) {
                    tls_error(c, "SSL_read");
                    return false;
                }
                ERR_clear_error(); /* a close (notified or not) with nothing pending */
                n = 0;
            } else {
                n = r;
            }
        }
        if (n == 0) {
            if (c->pending.count > 0)
                conn_fail(c, "closed by the server", "requests pending");
            else
                conn_close(c);
            return false;
        }
        c->in.len += (size_t)n;
        if (!conn_parse(c, now_ns()))
            return false;
    }
}

/* Moves c as far as it goes: connect, handshake, write, read. */
static void conn_drive(struct conn *c, uint32_t events)
{
    if (c->state == CONN_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) || !conn_connected(c))
            return;
    }
    if (c->state == CONN_HANDSHAKE) {
        if (!conn_handshake(c))
            return;
    }
    if (c->state == CONN_OPEN && c->out.len > c->out.pos && !conn_flush(c))
        return;
    if ((c->state == CONN_OPEN || c->state == CONN_DRAINING) && !conn_read(c))
        return;
    if (c->state != CONN_CLOSED)
        conn_interest(c);
}

/* ---- the schedule ------------------------------------------------------------------- */

/* Keep-alive: the usable connection with the fewest requests pending, round robin on ties. */
static struct conn *pick_conn(void)
{
    struct conn *best = NULL;
    int n = opt.connections;

    for (int k = 0; k < n; k++) {
        struct conn *c = &conns[(rr_next + (size_t)k) % (size_t)n];
        if (c->state != CONN_OPEN)
            continue;
        if (best == NULL || c->pending.count < best->pending.count) {
            best = c;
            if (c->pending.count == 0)
                break;
        }
    }
    if (best != NULL)
        rr_next = (size_t)(best - conns) + 1;
    return best;
}

static void hand_over(struct conn *c, uint64_t i)
{
    size_t p = (size_t)(i % pool.count);

    reqs[i].sent_ns = now_ns();
    buf_append(&c->out, pool.data + pool.off[p], pool.len[p]);
    ring_push(&c->pending, (uint32_t)i);
    c->dirty = true;
}

/* Hands every request that is due to a connection (or a new one); then writes them. */
static void dispatch(void)
{
    int64_t t = now_ns();

    while (next_req < nreq && sched_ns(next_req) <= t) {
        struct conn *c;

        if (opt.new_conn) {
            c = free_conns;
            if (c == NULL)
                break; /* at the cap: it waits (and is late) */
            free_conns = c->next;
            if (!conn_open(c)) {
                reqs[next_req].sent_ns = now_ns();
                req_finish((uint32_t)next_req, 0, reqs[next_req].sent_ns);
                next_req++;
                continue;
            }
            hand_over(c, next_req++);
            c->dirty = false; /* written once connected */
        } else {
            c = pick_conn();
            if (c == NULL)
                break; /* no connection up: it waits (and is late) */
            hand_over(c, next_req++);
        }
        t = now_ns();
    }
    if (!opt.new_conn) {
        for (int k = 0; k < opt.connections; k++) {
            struct conn *c = &conns[k];
            if (c->dirty && conn_flush(c))
                conn_interest(c);
        }
    }
}

/* Keep-alive: reopens the connections whose retry time came; the earliest still to come. */
static int64_t reconnect_due(int64_t t)
{
    int64_t next = INT64_MAX;

    if (opt.new_conn)
        return next;
    for (int k = 0; k < opt.connections; k++) {
        struct conn *c = &conns[k];
        if (c->state != CONN_CLOSED)
            continue;
        if (c->retry_at <= t)
            conn_open(c);
        else if (c->retry_at < next)
            next = c->retry_at;
    }
    return next;
}

/* One pass of the loop: waits until deadline at the latest (or an event), handles events. */
static void loop_once(int64_t deadline)
{
    struct epoll_event evs[256];
    int64_t left = deadline - now_ns();
    struct timespec ts = {0, 0};

    if (left > 0) {
        ts.tv_sec = left / NS_PER_S;
        ts.tv_nsec = left % NS_PER_S;
    }
    int n = epoll_pwait2(epfd, evs, 256, &ts, NULL);
    if (n < 0 && errno != EINTR)
        die("epoll_pwait2");
    for (int i = 0; i < n; i++)
        conn_drive(evs[i].data.ptr, evs[i].events);
}

/* ---- the report ----------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* Nearest-rank percentile p (0-100) of the sorted v[n], in ms. */
static double pct_ms(const int64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1e6;
}

struct dist {
    double p50, p90, p99, p999, max, mean; /* ms */
};

static struct dist dist_of(int64_t *v, size_t n)
{
    struct dist d = {0};
    double sum = 0;

    qsort(v, n, sizeof(*v), cmp_i64);
    for (size_t i = 0; i < n; i++)
        sum += (double)v[i];
    d.p50 = pct_ms(v, n, 50);
    d.p90 = pct_ms(v, n, 90);
    d.p99 = pct_ms(v, n, 99);
    d.p999 = pct_ms(v, n, 99.9);
    d.max = n ? (double)v[n - 1] / 1e6 : 0;
    d.mean = n ? sum / (double)n / 1e6 : 0;
    return d;
}

static void print_dist_json(const char *name, const struct dist *d)
{
    printf("\"%s\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p99.9\":%.3f,\"max\":%.3f,"
           "\"mean\":%.3f}",
           name, d->p50, d->p90, d->p99, d->p999, d->max, d->mean);
}

static void report(int64_t end)
{
    int64_t *lat = xrealloc(NULL, (nreq ? nreq : 1) * sizeof(*lat));
    int64_t *late = xrealloc(NULL, (nreq ? nreq : 1) * sizeof(*late));
    uint64_t ok = 0, other = 0, errors = 0, unanswered = 0, unsent = 0;
    uint64_t by_status[600] = {0}; /* answers other than 200, by status */
    int64_t last_done = t0;

    for (uint64_t i = 0; i < nreq; i++) {
        int64_t s = sched_ns(i);
        struct req *r = &reqs[i];
        if (r->sent_ns == 0)
            unsent++;
        late[i] = (r->sent_ns ? r->sent_ns : end) - s;
        if (late[i] < 0)
            late[i] = 0;
        if (r->done_ns == 0) {
            unanswered++;
            lat[i] = end - s;
            continue;
        }
        lat[i] = r->done_ns - s;
        if (r->done_ns > last_done)
            last_done = r->done_ns;
        if (r->status == 200)
            ok++;
        else if (r->status == 0)
            errors++;
        else {
            other++;
            by_status[r->status > 0 && r->status < 600 ? r->status : 599]++;
        }
    }
    struct dist dl = dist_of(lat, (size_t)nreq), dn = dist_of(late, (size_t)nreq);
    double span = (double)(last_done - t0) / 1e9;
    struct rusage ru;
    double cpu_s = 0; /* the generator's own CPU time, user + system */

    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu_s = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    const char *mode = opt.new_conn ? "new-connection" : "keep-alive";

    if (opt.json) {
        printf("{\"rate\":%.3f,\"duration_s\":%.3f,\"connections\":%d,\"mode\":\"%s\","
               "\"tls\":%s,\"count\":%" PRIu64 ",\"answered\":%" PRIu64 ",\"status_200\":%" PRIu64
               ",\"non_200\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"unanswered\":%" PRIu64
               ",\"unsent\":%" PRIu64 ",\"connects\":%" PRIu64 ",\"tls_resumed\":%" PRIu64
               ",\"connection_errors\":%" PRIu64 ",\"answer_rate\":%.1f,\"elapsed_s\":%.3f,"
               "\"cpu_s\":%.3f,",
               opt.rate, opt.duration, opt.connections, mode, opt.tls ? "true" : "false", nreq,
               ok + other, ok, other, errors, unanswered, unsent, connects, tls_resumed,
               conn_errors, span > 0 ? (double)(ok + other) / span : 0.0, (double)(end - t0) / 1e9,
               cpu_s);
        print_dist_json("latency_ms", &dl);
        putchar(',');
        print_dist_json("lateness_ms", &dn);
        printf(",\"other_statuses\":{");
        for (int st = 0, first = 1; st < 600; st++)
            if (by_status[st]) {
                printf("%s\"%d\":%" PRIu64, first ? "" : ",", st, by_status[st]);
                first = 0;
            }
        printf("},\"last_error\":\"");
        for (const char *p = last_error; *p; p++)
            if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
                putchar(*p);
        printf("\"}\n");
    } else {
        printf("%" PRIu64 " requests at %.0f/s over %.1f s, %s%s, %d connection%s%s\n", nreq,
               opt.rate, opt.duration, opt.tls ? "HTTPS " : "", mode, opt.connections,
               opt.connections == 1 ? "" : "s", opt.new_conn ? " at most" : "");
        printf("answered %" PRIu64 " (200: %" PRIu64 ", other: %" PRIu64 "), errors %" PRIu64
               ", unanswered %" PRIu64 " (never sent %" PRIu64 "), connections opened %" PRIu64
               "\n",
               ok + other, ok, other, errors, unanswered, unsent, connects);
        for (int st = 0; st < 600; st++)
            if (by_status[st])
                printf("  answered %d: %" PRIu64 "\n", st, by_status[st]);
        printf("%-28s %9s %9s %9s %9s %9s\n", "ms", "p50", "p90", "p99", "p99.9", "max");
        printf("%-28s %9.3f %9.3f %9.3f %9.3f %9.3f\n", "latency (from scheduled)", dl.p50, dl.p90,
               dl.p99, dl.p999, dl.max);
        printf("%-28s %9.3f %9.3f %9.3f %9.3f %9.3f\n", "lateness (sent - scheduled)", dn.p50,
               dn.p90, dn.p99, dn.p999, dn.max);
        printf("generator CPU %.2f s over %.2f s\n", cpu_s, (double)(end - t0) / 1e9);
        if (last_error[0])
            printf("last connection error: %s\n", last_error);
    }
    free(lat);
    free(late);
}

/* ---- set-up ------------------------------------------------------------------------- */

static void usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: hookpipe-openloop --port N --rate R --duration S --requests FILE\n"
            "         [--host H] [--tls] [--tls-resume] [--connections K]\n"
            "         [--new-connection-per-request] [--timeout S] [--json]\n"
            "Sends FILE's requests (8-digit length, then the bytes; cycled) on one evenly\n"
            "spaced schedule of R per second for S seconds over K keep-alive connections\n"
            "(default 8; with --new-connection-per-request a new connection each, at most K\n"
            "at once, default %d), and reports latency from each request's scheduled time and\n"
            "its own lateness (handed to a connection - scheduled). Answers are awaited up to\n"
            "--timeout s (default 5) after the schedule; one still missing then counts with\n"
            "latency = that end - its scheduled time.\n",
            OL_NEWCONN_MAX_DEFAULT);
    exit(rc);
}

static double positive(const char *s, const char *what)
{
    char *end;
    double v = strtod(s, &end);

    if (*end != '\0' || !(v > 0) || !isfinite(v)) {
        fprintf(stderr, "hookpipe-openloop: %s must be a positive number\n", what);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"tls", no_argument, NULL, 's'},
        {"tls-resume", no_argument, NULL, 'R'},
        {"rate", required_argument, NULL, 'r'},
        {"duration", required_argument, NULL, 'd'},
        {"timeout", required_argument, NULL, 't'},
        {"connections", required_argument, NULL, 'c'},
        {"new-connection-per-request", no_argument, NULL, 'n'},
        {"requests", required_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    while ((ch = getopt_long(argc, argv, "H:p:sRr:d:t:c:nf:jh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'H':
            opt.host = optarg;
            break;
        case 'p':
            opt.port = optarg;
            break;
        case 's':
            opt.tls = true;
            break;
        case 'R':
            opt.tls_resume = true;
            break;
        case 'r':
            opt.rate = positive(optarg, "--rate");
            break;
        case 'd':
            opt.duration = positive(optarg, "--duration");
            break;
        case 't':
            opt.timeout = positive(optarg, "--timeout");
            break;
        case 'c':
            opt.connections = (int)positive(optarg, "--connections");
            break;
        case 'n':
            opt.new_conn = true;
            break;
        case 'f':
            opt.requests = optarg;
            break;
        case 'j':
            opt.json = true;
            break;
        case 'h':
            usage(0);
            break;
        default:
            usage(2);
        }
    }
    if (optind != argc || opt.port == NULL || opt.rate == 0 || opt.duration == 0 ||
        opt.requests == NULL)
        usage(2);
    if (opt.connections < 1)
        opt.connections = opt.new_conn ? OL_NEWCONN_MAX_DEFAULT : 8;
    if (opt.rate * opt.duration > 4e9)
        die("--rate x --duration: too many requests");
}

static void setup(void)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    struct rlimit rl;

    if (getaddrinfo(opt.host, opt.port, &hints, &ai) != 0 || ai == NULL)
        die("cannot resolve --host/--port");
    memcpy(&peer, ai->ai_addr, ai->ai_addrlen);
    peer_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1UL); /* wake-ups on time, not up to 50 us late */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (opt.tls) {
        ssl_ctx = SSL_CTX_new(TLS_client_method());
        if (ssl_ctx == NULL)
            die("SSL_CTX_new");
        SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_mode(ssl_ctx,
                         SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_CTX_set_options(ssl_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
        SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");
    conns = xrealloc(NULL, (size_t)opt.connections * sizeof(*conns));
    memset(conns, 0, (size_t)opt.connections * sizeof(*conns));
    for (int k = opt.connections - 1; k >= 0; k--) {
        conns[k].fd = -1;
        conns[k].next = free_conns;
        free_conns = &conns[k];
    }
    nreq = (uint64_t)llround(opt.rate * opt.duration);
    reqs = xrealloc(NULL, (nreq ? nreq : 1) * sizeof(*reqs));
    memset(reqs, 0, (nreq ? nreq : 1) * sizeof(*reqs));
    interval_ns = 1e9 / opt.rate;
}

/* Keep-alive: opens every connection (and its TLS) before the clock starts. */
static void open_keepalive(void)
{
    int64_t give_up = now_ns() + OL_CONNECT_TIMEOUT_NS;

    free_conns = NULL;
    for (int k = 0; k < opt.connections; k++)
        conn_open(&conns[k]);
    while (conns_usable < opt.connections) {
        int64_t t = now_ns();
        if (t > give_up) {
            fprintf(stderr, "hookpipe-openloop: only %d of %d connections up after %lld s%s%s\n",
                    conns_usable, opt.connections, OL_CONNECT_TIMEOUT_NS / NS_PER_S,
                    last_error[0] ? ": " : "", last_error);
            exit(1);
        }
        int64_t next = reconnect_due(t);
        loop_once(next < t + 10000000 ? next : t + 10000000);
    }
    conn_errors = 0;
    last_error[0] = '\0';
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    pool_load(opt.requests);
    setup();
    if (!opt.new_conn)
        open_keepalive();

    t0 = now_ns() + 1000000; /* the first request is due 1 ms from now */
    int64_t sched_end = sched_ns(nreq);
    int64_t give_up = sched_end + (int64_t)(opt.timeout * 1e9);
    int64_t end;

    for (;;) {
        dispatch();
        int64_t t = now_ns();
        if ((next_req == nreq && finished == nreq) || t >= give_up) {
            end = t;
            break;
        }
        int64_t wake = give_up;
        if (next_req < nreq) {
            int64_t due = sched_ns(next_req);
            /* due already but no connection free: look again shortly */
            wake = due > t ? due : t + 100000;
        }
        int64_t reconnect = reconnect_due(t);
        if (reconnect < wake)
            wake = reconnect;
        loop_once(wake);
    }
    report(end);
    return 0;
}
