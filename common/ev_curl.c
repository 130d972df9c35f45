/*
 * libcurl's multi interface on a libevent base (the hiper.c pattern): libcurl tells us, via
 * CURLMOPT_SOCKETFUNCTION, which sockets to watch for what, and via CURLMOPT_TIMERFUNCTION
 * when to call it back; each libevent callback hands the event to curl_multi_socket_action,
 * then reaps finished transfers with curl_multi_info_read and runs their done callbacks. Done
 * callbacks run only from there, never from inside a libcurl callback or ev_curl_post.
 */
#include "ev_curl.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EV_CURL_BUF_MIN 1024 /* first allocation of an answer's buffer */

struct ev_curl_sock { /* a socket libcurl asked us to watch */
    struct ev_curl *ec;
    struct event *ev;                 /* EV_PERSIST, READ and/or WRITE as libcurl wants */
    struct ev_curl_sock *prev, *next; /* ec->socks */
};

struct ev_curl_xfer {
    struct ev_curl *ec;
    CURL *easy;
    ev_curl_done_fn done;
    void *arg;
    char *buf;                        /* the answer so far, NUL-terminated; wiped before free */
    size_t len, cap;                  /* bytes in buf (less the NUL); its size */
    size_t max;                       /* max_response */
    bool too_large;                   /* the write callback refused more than max */
    bool no_memory;                   /* the buffer or a socket's event could not be allocated */
    bool in_done;                     /* done is running: cancel does nothing */
    char errbuf[CURL_ERROR_SIZE];     /* CURLOPT_ERRORBUFFER */
    struct ev_curl_xfer *prev, *next; /* ec->xfers */
};

struct ev_curl {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;        /* CURLMOPT_TIMERFUNCTION's one timer */
    struct curl_slist *headers; /* shared by every transfer */
    struct ev_curl_xfer *xfers; /* in flight */
    struct ev_curl_sock *socks; /* watched */
    size_t nfailed;             /* xfers with no_memory set: failed at the next reap */
    int depth;                  /* reaps running (a done callback may call ev_curl_free) */
    bool dying;                 /* ev_curl_free called inside a done: free when the reap ends */
};

int ev_curl_global_init(char *err, size_t errlen)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    CURLcode rc;

    /* CURLOPT_PROTOCOLS_STR came in 7.85 */
    if (v->version_num < 0x075500) {
        snprintf(err, errlen, "libcurl %s is too old: 7.85 or later is needed", v->version);
        return -1;
    }
    if (!(v->features & CURL_VERSION_SSL)) {
        snprintf(err, errlen, "libcurl %s has no TLS support", v->version);
        return -1;
    }
    if (!(v->features & CURL_VERSION_ASYNCHDNS)) {
        snprintf(err, errlen,
                 "libcurl %s resolves names synchronously, which would stall the event loop",
                 v->version);
        return -1;
    }
    rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl: %s", curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

void ev_curl_global_cleanup(void)
{
    curl_global_cleanup();
}

static void ev_curl_sock_free(struct ev_curl_sock *s)
{
    struct ev_curl *ec = s->ec;

    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        ec->socks = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    event_free(s->ev);
    free(s);
}

static void ev_curl_reap(struct ev_curl *ec);

/* A watched socket is ready: tell libcurl, then run what finished. */
static void ev_curl_event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ev_curl *ec = arg;
    int action =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;

    curl_multi_socket_action(ec->multi, fd, action, &running);
    ev_curl_reap(ec);
}

static void ev_curl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ev_curl *ec = arg;
    int running;

    curl_multi_socket_action(ec->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    ev_curl_reap(ec);
}

/* The transfer of an easy handle (CURLOPT_PRIVATE). */
static struct ev_curl_xfer *ev_curl_xfer_of(CURL *easy)
{
    char *p = NULL;

    if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p) != CURLE_OK)
        return NULL;
    return (struct ev_curl_xfer *)(void *)p;
}

static void ev_curl_mark_failed(struct ev_curl *ec, CURL *easy)
{
    struct ev_curl_xfer *x = ev_curl_xfer_of(easy);

    if (x != NULL && !x->no_memory) {
        x->no_memory = true;
        ec->nfailed++;
    }
}

/*
 * CURLMOPT_SOCKETFUNCTION: watch fd for what (or stop). It never returns -1: in 7.88 that
 * marks the whole multi handle dead, failing every transfer, and stops the timer callback
 * too, so nothing would reap them. Out of memory fails only the transfer concerned, at the
 * next reap.
 */
static int ev_curl_socket_fn(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct ev_curl *ec = userp;
    struct ev_curl_sock *s = socketp;
    short flags = EV_PERSIST;

    if (what == CURL_POLL_REMOVE) {
        if (s != NULL)
            ev_curl_sock_free(s); /* libcurl forgets socketp itself */
        return 0;
    }
    if (what & CURL_POLL_IN)
        flags |= EV_READ;
    if (what & CURL_POLL_OUT)
        flags |= EV_WRITE;
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL || (s->ev = event_new(ec->base, fd, flags, ev_curl_event_cb, ec)) == NULL ||
            curl_multi_assign(ec->multi, fd, s) != CURLM_OK) {
            if (s != NULL && s->ev != NULL)
                event_free(s->ev);
            free(s);
            ev_curl_mark_failed(ec, easy);
            return 0;
        }
        s->ec = ec;
        s->next = ec->socks;
        if (ec->socks != NULL)
            ec->socks->prev = s;
        ec->socks = s;
    } else {
        event_del(s->ev);
        event_assign(s->ev, ec->base, fd, flags, ev_curl_event_cb, ec);
    }
    if (flags & (EV_READ | EV_WRITE))
        event_add(s->ev, NULL);
    return 0;
}

/*
 * CURLMOPT_TIMERFUNCTION: (re)arm or delete the one timer. A 0 ms timeout (every
 * curl_multi_add_handle asks for one) fires from the next loop turn: libcurl must not be
 * called back from inside its own callback, and this is what keeps done out of
 * ev_curl_post.
 */
static int ev_curl_timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
    struct ev_curl *ec = userp;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};

    if (timeout_ms < 0)
        evtimer_del(ec->timer);
    else
        evtimer_add(ec->timer, &tv);
    return 0;
}

static void ev_curl_unlink(struct ev_curl_xfer *x)
{
    struct ev_curl *ec = x->ec;

    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        ec->xfers = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    if (x->no_memory)
        ec->nfailed--;
}

/* Frees a transfer already unlinked and out of the multi handle. */
static void ev_curl_xfer_free(struct ev_curl_xfer *x)
{
    if (x->easy != NULL)
        curl_easy_cleanup(x->easy);
    if (x->buf != NULL) {
        explicit_bzero(x->buf, x->cap); /* a token answer is a credential */
        free(x->buf);
    }
    free(x);
}

/* Stops and frees a transfer of ec->xfers; no callback. */
static void ev_curl_xfer_abort(struct ev_curl_xfer *x)
{
    ev_curl_unlink(x);
    curl_multi_remove_handle(x->ec->multi, x->easy);
    ev_curl_xfer_free(x);
}

/* Ends x (unlinked from ec->xfers) with libcurl's result rc: runs done, frees x. */
static void ev_curl_complete(struct ev_curl_xfer *x, CURLcode rc)
{
    struct ev_curl_result res = {.body = "", .body_len = 0};
    char msg[CURL_ERROR_SIZE + 64];

    curl_multi_remove_handle(x->ec->multi, x->easy);
    if (rc == CURLE_OK && !x->no_memory) {
        res.ok = true;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &res.status);
        if (x->buf != NULL) {
            res.body = x->buf;
            res.body_len = x->len;
        }
    } else if (x->no_memory) {
        res.error = "out of memory";
    } else if (x->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(msg, sizeof(msg), "answer longer than %zu bytes", x->max);
        res.error = msg;
    } else {
        res.error = x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(rc);
    }
    x->in_done = true;
    x->done(x->arg, &res);
    ev_curl_xfer_free(x);
}

/* The next finished transfer, unlinked, with its result; NULL when none. */
static struct ev_curl_xfer *ev_curl_next_done(struct ev_curl *ec, CURLcode *rc)
{
    struct ev_curl_xfer *x;
    CURLMsg *m;
    int left;

    if (ec->nfailed > 0) {
        for (x = ec->xfers; x != NULL; x = x->next) {
            if (x->no_memory) {
                ev_curl_unlink(x);
                *rc = CURLE_OUT_OF_MEMORY;
                return x;
            }
        }
    }
    while ((m = curl_multi_info_read(ec->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        *rc = m->data.result; /* m is only valid until the next call into the multi handle */
        x = ev_curl_xfer_of(m->easy_handle);
        if (x == NULL)
            continue;
        ev_curl_unlink(x);
        return x;
    }
    return NULL;
}

static void ev_curl_destroy(struct ev_curl *ec)
{
    while (ec->xfers != NULL)
        ev_curl_xfer_abort(ec->xfers);
    /* may still report sockets (CURL_POLL_REMOVE) as it closes cached connections */
    curl_multi_cleanup(ec->multi);
    while (ec->socks != NULL)
        ev_curl_sock_free(ec->socks);
    event_free(ec->timer);
    curl_slist_free_all(ec->headers);
    free(ec);
}

/*
 * Runs the done callbacks of what finished. A callback may cancel or start transfers, or
 * free ec: then the free waits for the outermost reap to end, and no other done runs.
 */
static void ev_curl_reap(struct ev_curl *ec)
{
    struct ev_curl_xfer *x;
    CURLcode rc;

    ec->depth++;
    while (!ec->dying && (x = ev_curl_next_done(ec, &rc)) != NULL)
        ev_curl_complete(x, rc);
    if (--ec->depth == 0 && ec->dying)
        ev_curl_destroy(ec);
}

struct ev_curl *ev_curl_new(struct event_base *base)
{
    struct ev_curl *ec = calloc(1, sizeof(*ec));
    struct curl_slist *l;

    if (ec == NULL)
        return NULL;
    ec->base = base;
    ec->timer = evtimer_new(base, ev_curl_timer_cb, ec);
    ec->multi = curl_multi_init();
    /* an empty Expect: keeps libcurl from waiting for 100-continue before a large body */
    ec->headers = curl_slist_append(NULL, "Accept: application/json");
    l = ec->headers != NULL ? curl_slist_append(ec->headers, "Expect:") : NULL;
    if (ec->timer == NULL || ec->multi == NULL || l == NULL ||
        curl_multi_setopt(ec->multi, CURLMOPT_SOCKETFUNCTION, ev_curl_socket_fn) != CURLM_OK ||
        curl_multi_setopt(ec->multi, CURLMOPT_SOCKETDATA, ec) != CURLM_OK ||
        curl_multi_setopt(ec->multi, CURLMOPT_TIMERFUNCTION, ev_curl_timer_fn) != CURLM_OK ||
        curl_multi_setopt(ec->multi, CURLMOPT_TIMERDATA, ec) != CURLM_OK) {
        if (ec->multi != NULL)
            curl_multi_cleanup(ec->multi);
        if (ec->timer != NULL)
            event_free(ec->timer);
        curl_slist_free_all(ec->headers);
        free(ec);
        return NULL;
    }
    return ec;
}

void ev_curl_free(struct ev_curl *ec)
{
    if (ec == NULL)
        return;
    if (ec->depth > 0)
        ec->dying = true; /* inside a done callback: ev_curl_reap frees */
    else
        ev_curl_destroy(ec);
}

/*
 * CURLOPT_WRITEFUNCTION: appends to x->buf, refusing (so failing the transfer with
 * CURLE_WRITE_ERROR) past max_response. The buffer grows by copying and wiping, not realloc,
 * so no freed block keeps a piece of a token.
 */
static size_t ev_curl_write_cb(char *p, size_t size, size_t n, void *arg)
{
    struct ev_curl_xfer *x = arg;
    size_t len = size * n; /* size is always 1 */

    if (len > x->max - x->len) {
        x->too_large = true;
        return 0;
    }
    if (x->len + len + 1 > x->cap) {
        size_t cap = x->cap < EV_CURL_BUF_MIN ? EV_CURL_BUF_MIN : x->cap;
        char *nbuf;

        while (cap < x->len + len + 1 && cap <= x->max)
            cap *= 2;
        if (cap > x->max + 1)
            cap = x->max + 1;
        if (cap < x->len + len + 1)
            cap = x->len + len + 1;
        nbuf = malloc(cap);
        if (nbuf == NULL) {
            if (!x->no_memory) {
                x->no_memory = true;
                x->ec->nfailed++;
            }
            return 0;
        }
        if (x->buf != NULL) {
            memcpy(nbuf, x->buf, x->len);
            explicit_bzero(x->buf, x->cap);
            free(x->buf);
        }
        x->buf = nbuf;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, p, len);
    x->len += len;
    x->buf[x->len] = '\0';
    return len;
}

struct ev_curl_xfer *ev_curl_post(struct ev_curl *ec, const struct ev_curl_post *req,
                                  ev_curl_done_fn done, void *arg)
{
    struct ev_curl_xfer *x;
    CURL *e;
    bool ok;

    if (ec->dying || req->url == NULL || req->body == NULL ||
        (req->user == NULL) != (req->password == NULL) || req->timeout_ms <= 0 ||
        req->max_response == 0 || req->max_response >= SIZE_MAX / 4 || done == NULL)
        return NULL;
    x = calloc(1, sizeof(*x));
    if (x == NULL)
        return NULL;
    x->ec = ec;
    x->done = done;
    x->arg = arg;
    x->max = req->max_response;
    x->easy = e = curl_easy_init();
    if (e == NULL) {
        free(x);
        return NULL;
    }
    /* libcurl copies every string option (COPYPOSTFIELDS for the body) */
    ok =
        curl_easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_PRIVATE, x) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http") == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https,http") == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
        (req->ca_file == NULL || curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file) == CURLE_OK) &&
        (req->user == NULL ||
         (curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) == CURLE_OK &&
          curl_easy_setopt(e, CURLOPT_USERNAME, req->user) == CURLE_OK &&
          curl_easy_setopt(e, CURLOPT_PASSWORD, req->password) == CURLE_OK)) &&
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, ec->headers) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_USERAGENT, "hookpipe/" HOOKPIPE_VERSION) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_response) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ev_curl_write_cb) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_WRITEDATA, x) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) == CURLE_OK;
    /*
     * Without QUICK_EXIT (7.87+), a transfer that times out or is cancelled while the
     * threaded resolver is still in getaddrinfo() joins that thread, blocking the loop for as
     * long as the lookup takes; with it the thread is detached and frees itself when done.
     */
    if (ok)
        (void)curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
    if (!ok || curl_multi_add_handle(ec->multi, e) != CURLM_OK) {
        ev_curl_xfer_free(x);
        return NULL;
    }
    x->next = ec->xfers;
    if (ec->xfers != NULL)
        ec->xfers->prev = x;
    ec->xfers = x;
    return x;
}

void ev_curl_cancel(struct ev_curl_xfer *x)
{
    if (x == NULL || x->in_done)
        return;
    ev_curl_xfer_abort(x);
}
