/*
 * Unit tests for common/ev_curl.c against a real HTTP/1.1 server on 127.0.0.1 (a thread of
 * this test, port 0, plain http): the request it sees (POST, Basic credentials, form body),
 * answers of any status, the whole-transfer timeout, the max_response cap (announced by
 * Content-Length or not), a refused connection, cancel and free with transfers in flight
 * (no done runs; ASan finds any leak), and done callbacks that cancel, start or free.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ev_curl.h"

#define SRV_WAIT_MS 3000 /* bound on every wait of the server thread */
#define SRV_REQ_MAX 8192

enum srv_mode {
    SRV_ANSWER,    /* answers status + body, Content-Length, Connection: close */
    SRV_SILENT,    /* reads the request, never answers, waits for the client to hang up */
    SRV_BIG_CL,    /* 200 with big_len bytes announced by Content-Length */
    SRV_BIG_CLOSE, /* 200 with big_len bytes ended by closing the connection */
};

struct srv {
    enum srv_mode mode;
    int nconn;          /* connections to serve, one after the other */
    const char *status; /* "200 OK" */
    const char *body;   /* SRV_ANSWER */
    size_t big_len;     /* SRV_BIG_* */
    int lfd;
    int port;
    pthread_t th;
    /* written by the thread: read after srv_join, or got atomically */
    atomic_int got; /* requests read whole */
    int eofs;       /* connections the client closed while the server waited (SRV_SILENT) */
    char req[SRV_REQ_MAX + 1]; /* the first request: head and body */
    size_t req_len;
};

static struct event_base *base;

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static bool wait_fd(int fd, short ev)
{
    struct pollfd p = {.fd = fd, .events = ev};

    return poll(&p, 1, SRV_WAIT_MS) == 1;
}

/* Reads a request (head, then Content-Length bytes of body) into buf; its length or -1. */
static long srv_read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0;

    for (;;) {
        const char *end, *cl;
        ssize_t n;

        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end != NULL) {
            size_t head = (size_t)(end + 4 - buf);
            size_t body = 0;

            cl = strcasestr(buf, "\r\nContent-Length:");
            if (cl != NULL && cl < end)
                body = strtoul(cl + 17, NULL, 10);
            if (len >= head + body)
                return (long)len;
        }
        if (len == cap || !wait_fd(fd, POLLIN))
            return -1;
        n = recv(fd, buf + len, cap - len, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
    }
}

static void srv_send(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w;

        if (!wait_fd(fd, POLLOUT))
            return;
        w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the client gave up (max_response): fine */
        p += w;
        n -= (size_t)w;
    }
}

static void srv_serve(struct srv *s, int fd, bool first)
{
    char req[SRV_REQ_MAX + 1], head[256], *big;
    long n = srv_read_request(fd, req, SRV_REQ_MAX);

    if (n < 0)
        return;
    if (first) {
        memcpy(s->req, req, (size_t)n + 1);
        s->req_len = (size_t)n;
    }
    atomic_fetch_add(&s->got, 1);
    switch (s->mode) {
    case SRV_ANSWER:
        snprintf(head, sizeof(head),
                 "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n",
                 s->status, strlen(s->body));
        srv_send(fd, head, strlen(head));
        srv_send(fd, s->body, strlen(s->body));
        break;
    case SRV_SILENT:
        if (wait_fd(fd, POLLIN) && recv(fd, req, sizeof(req), 0) <= 0)
            s->eofs++;
        break;
    case SRV_BIG_CL:
    case SRV_BIG_CLOSE:
        if (s->mode == SRV_BIG_CL)
            snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
                     s->big_len);
        else
            snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        big = malloc(s->big_len);
        memset(big, 'x', s->big_len);
        srv_send(fd, head, strlen(head));
        srv_send(fd, big, s->big_len);
        free(big);
        break;
    }
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;

    for (int i = 0; i < s->nconn; i++) {
        int fd;

        if (!wait_fd(s->lfd, POLLIN))
            break;
        fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            break;
        srv_serve(s, fd, i == 0);
        close(fd);
    }
    return NULL;
}

/* Listens on 127.0.0.1 port 0 and serves from a thread. */
static void srv_start(struct srv *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);

    if (s->nconn == 0)
        s->nconn = 1;
    atomic_init(&s->got, 0);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(s->lfd, 8) != 0 || getsockname(s->lfd, (struct sockaddr *)&a, &alen) != 0) {
        perror("test server");
        exit(1);
    }
    s->port = ntohs(a.sin_port);
    if (pthread_create(&s->th, NULL, srv_main, s) != 0) {
        perror("pthread_create");
        exit(1);
    }
}

static void srv_join(struct srv *s)
{
    pthread_join(s->th, NULL);
    close(s->lfd);
}

static void srv_url(const struct srv *s, const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "http://127.0.0.1:%d%s", s->port, path);
}

/* What one transfer's done saw. */
struct outcome {
    int calls;
    bool ok;
    long status;
    char body[8192];
    size_t body_len;
    bool nul_terminated;
    char error[512];
    long at_ms;
    /* actions taken inside done */
    struct ev_curl_xfer *self;  /* cancelled inside its own done (a no-op) when set */
    struct ev_curl_xfer *other; /* cancelled inside done when set */
    struct ev_curl *free_ec;    /* freed inside done when set */
    struct ev_curl *post_ec;    /* ... started on, with post_req / post_out, when set */
    const struct ev_curl_post *post_req;
    struct outcome *post_out;
};

static void done_cb(void *arg, const struct ev_curl_result *res)
{
    struct outcome *o = arg;

    o->calls++;
    o->ok = res->ok;
    o->status = res->status;
    o->body_len = res->body_len;
    o->nul_terminated = res->body != NULL && res->body[res->body_len] == '\0';
    if (res->body != NULL && res->body_len < sizeof(o->body))
        memcpy(o->body, res->body, res->body_len + 1);
    snprintf(o->error, sizeof(o->error), "%s", res->error != NULL ? res->error : "");
    o->at_ms = now_ms();
    if (o->self != NULL)
        ev_curl_cancel(o->self);
    if (o->other != NULL)
        ev_curl_cancel(o->other);
    if (o->post_ec != NULL)
        o->post_out->self = ev_curl_post(o->post_ec, o->post_req, done_cb, o->post_out);
    if (o->free_ec != NULL)
        ev_curl_free(o->free_ec);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until *calls reaches want, or (also) got reaches want_got, or ms pass. */
static void run_until(const int *calls, int want, atomic_int *got, int want_got, long ms)
{
    struct timeval tv = {0, 5000};
    struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
    long end = now_ms() + ms;

    event_add(tick, &tv);
    while (now_ms() < end) {
        if (calls != NULL && *calls >= want)
            break;
        if (got != NULL && atomic_load(got) >= want_got)
            break;
        event_base_loop(base, EVLOOP_ONCE);
    }
    event_free(tick);
}

static const char *find_header(const char *req, const char *name)
{
    static char val[512];
    char pat[64];
    const char *p, *e;

    snprintf(pat, sizeof(pat), "\r\n%s:", name);
    p = strcasestr(req, pat);
    if (p == NULL)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    e = strstr(p, "\r\n");
    snprintf(val, sizeof(val), "%.*s", (int)(e - p), p);
    return val;
}

static const char *req_body(const struct srv *s)
{
    const char *p = strstr(s->req, "\r\n\r\n");

    return p != NULL ? p + 4 : "";
}

static void test_post_answer(struct ev_curl *ec)
{
    static const char json[] =
        "{\"access_token\":\"tok\",\"token_type\":\"bearer\",\"expires_in\":3599}";
    struct srv s = {.mode = SRV_ANSWER, .status = "200 OK", .body = json};
    struct outcome o = {0};
    struct ev_curl_xfer *x;
    char url[128];

    srv_start(&s);
    srv_url(&s, "/oauth/token?x=1", url, sizeof(url));
    x = ev_curl_post(
        ec,
        &(struct ev_curl_post){.url = url,
                               .user = "cid",
                               .password = "c:s\xc3\xa9"
                                           "c",
                               .body = "grant_type=account_credentials&account_id=a%2Bb",
                               .timeout_ms = 2000,
                               .max_response = 4096},
        done_cb, &o);
    CHECK(x != NULL);
    CHECK_LONG_EQ(o.calls, 0); /* never from inside ev_curl_post */
    o.self = x;                /* cancelling itself inside its done: ignored */
    run_until(&o.calls, 1, NULL, 0, 2000);
    srv_join(&s);
    CHECK_LONG_EQ(o.calls, 1);
    CHECK(o.ok);
    CHECK_LONG_EQ(o.status, 200);
    CHECK_STR_EQ(o.body, json);
    CHECK_LONG_EQ(o.body_len, strlen(json));
    CHECK(o.nul_terminated);
    CHECK_STR_EQ(o.error, "");
    /* what the server saw */
    CHECK(strncmp(s.req, "POST /oauth/token?x=1 HTTP/1.1\r\n", 32) == 0);
    CHECK_STR_EQ(find_header(s.req, "Authorization"), "Basic Y2lkOmM6c8OpYw==");
    CHECK_STR_EQ(find_header(s.req, "Content-Type"), "application/x-www-form-urlencoded");
    CHECK_STR_EQ(find_header(s.req, "Content-Length"), "47");
    CHECK_STR_EQ(find_header(s.req, "Accept"), "application/json");
    CHECK(find_header(s.req, "Expect") == NULL);
    CHECK_STR_EQ(req_body(&s), "grant_type=account_credentials&account_id=a%2Bb");
    /* run on: done ran once only */
    run_until(NULL, 0, NULL, 0, 30);
    CHECK_LONG_EQ(o.calls, 1);
}

/* Any status is an answer; no credentials, no Authorization header. */
static void test_error_status(struct ev_curl *ec)
{
    static const char json[] = "{\"reason\":\"Invalid client_id or client_secret\","
                               "\"error\":\"invalid_client\"}";
    struct srv s = {.mode = SRV_ANSWER, .status = "401 Unauthorized", .body = json};
    struct outcome o = {0};
    char url[128];

    srv_start(&s);
    srv_url(&s, "/oauth/token", url, sizeof(url));
    CHECK(ev_curl_post(ec,
                       &(struct ev_curl_post){.url = url,
                                              .body = "grant_type=client_credentials",
                                              .timeout_ms = 2000,
                                              .max_response = 4096},
                       done_cb, &o) != NULL);
    run_until(&o.calls, 1, NULL, 0, 2000);
    srv_join(&s);
    CHECK_LONG_EQ(o.calls, 1);
    CHECK(o.ok);
    CHECK_LONG_EQ(o.status, 401);
    CHECK_STR_EQ(o.body, json);
    CHECK(find_header(s.req, "Authorization") == NULL);
    CHECK_STR_EQ(req_body(&s), "grant_type=client_credentials");
}

/* No answer: timeout_ms ends the transfer, and the connection is closed. */
static void test_timeout(struct ev_curl *ec)
{
    struct srv s = {.mode = SRV_SILENT};
    struct outcome o = {0};
    char url[128];
    long t0 = now_ms();

    srv_start(&s);
    srv_url(&s, "/", url, sizeof(url));
    CHECK(ev_curl_post(ec,
                       &(struct ev_curl_post){
                           .url = url, .body = "a=b", .timeout_ms = 300, .max_response = 4096},
                       done_cb, &o) != NULL);
    run_until(&o.calls, 1, NULL, 0, 2000);
    srv_join(&s);
    CHECK_LONG_EQ(o.calls, 1);
    CHECK(!o.ok);
    CHECK_CONTAINS(o.error, "timed out");
    CHECKF(o.at_ms - t0 >= 290 && o.at_ms - t0 < 1500, "done after %ld ms", o.at_ms - t0);
    CHECK_LONG_EQ(s.eofs, 1);
}

/* An answer longer than max_response fails, announced or not; exactly max_response is fine. */
static void test_max_response(struct ev_curl *ec, enum srv_mode mode, size_t len, size_t max,
                              bool want_ok)
{
    struct srv s = {.mode = mode, .big_len = len};
    struct outcome o = {0};
    char url[128], want[64];

    srv_start(&s);
    srv_url(&s, "/", url, sizeof(url));
    CHECK(ev_curl_post(ec,
                       &(struct ev_curl_post){
                           .url = url, .body = "a=b", .timeout_ms = 2000, .max_response = max},
                       done_cb, &o) != NULL);
    run_until(&o.calls, 1, NULL, 0, 2000);
    srv_join(&s);
    CHECK_LONG_EQ(o.calls, 1);
    CHECKF(o.ok == want_ok, "mode %d len %zu max %zu: %s", mode, len, max, o.error);
    if (want_ok) {
        CHECK_LONG_EQ(o.body_len, len);
        CHECK(o.nul_terminated);
    } else {
        snprintf(want, sizeof(want), "answer longer than %zu bytes", max);
        CHECK_STR_EQ(o.error, want);
    }
}

static void test_refused(struct ev_curl *ec)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    struct outcome o = {0};
    char url[128];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    /* a port nobody listens on: bound, then closed */
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
          getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(a.sin_port));
    CHECK(ev_curl_post(ec,
                       &(struct ev_curl_post){
                           .url = url, .body = "a=b", .timeout_ms = 2000, .max_response = 4096},
                       done_cb, &o) != NULL);
    run_until(&o.calls, 1, NULL, 0, 2000);
    CHECK_LONG_EQ(o.calls, 1);
    CHECK(!o.ok);
    CHECKF(strstr(o.error, "onnect") != NULL, "%s", o.error);
}

/* Cancelled mid-request: done never runs, the connection is closed. */
static void test_cancel(struct ev_curl *ec)
{
    struct srv s = {.mode = SRV_SILENT};
    struct outcome o = {0};
    struct ev_curl_xfer *x;
    char url[128];

    srv_start(&s);
    srv_url(&s, "/", url, sizeof(url));
    x = ev_curl_post(
        ec,
        &(struct ev_curl_post){.url = url, .body = "a=b", .timeout_ms = 300, .max_response = 4096},
        done_cb, &o);
    CHECK(x != NULL);
    run_until(NULL, 0, &s.got, 1, 2000);
    CHECK_LONG_EQ(atomic_load(&s.got), 1);
    ev_curl_cancel(x);
    run_until(&o.calls, 1, NULL, 0, 400); /* past its timeout */
    srv_join(&s);
    CHECK_LONG_EQ(o.calls, 0);
    CHECK_LONG_EQ(s.eofs, 1);

    /* and cancelled before it even started */
    x = ev_curl_post(
        ec,
        &(struct ev_curl_post){.url = url, .body = "a=b", .timeout_ms = 300, .max_response = 4096},
        done_cb, &o);
    CHECK(x != NULL);
    ev_curl_cancel(x);
    run_until(&o.calls, 1, NULL, 0, 50);
    CHECK_LONG_EQ(o.calls, 0);
}

/* Freed with one transfer mid-request and one not started: no done, nothing leaks. */
static void test_free_in_flight(void)
{
    struct ev_curl *ec = ev_curl_new(base);
    struct srv s = {.mode = SRV_SILENT};
    struct outcome o1 = {0}, o2 = {0};
    struct ev_curl_post req = {.body = "a=b", .timeout_ms = 300, .max_response = 4096};
    char url[128];

    CHECK(ec != NULL);
    srv_start(&s);
    srv_url(&s, "/", url, sizeof(url));
    req.url = url;
    CHECK(ev_curl_post(ec, &req, done_cb, &o1) != NULL);
    run_until(NULL, 0, &s.got, 1, 2000);
    CHECK(ev_curl_post(ec, &req, done_cb, &o2) != NULL);
    ev_curl_free(ec);
    run_until(&o1.calls, 1, NULL, 0, 400);
    srv_join(&s);
    CHECK_LONG_EQ(o1.calls + o2.calls, 0);
    CHECK_LONG_EQ(s.eofs, 1);
}

/*
 * Inside a done: cancelling another transfer (its done never runs) and starting a new one
 * (its done runs later); then, in that one's done, freeing the ev_curl with a third
 * transfer in flight (its done never runs either).
 */
static void test_reentry(void)
{
    struct ev_curl *ec = ev_curl_new(base);
    struct srv sa = {.mode = SRV_ANSWER, .nconn = 2, .status = "200 OK", .body = "{}"};
    struct srv sb = {.mode = SRV_SILENT}, sd = {.mode = SRV_SILENT};
    struct outcome a = {0}, b = {0}, c = {0}, d = {0};
    char aurl[128], burl[128], durl[128];
    struct ev_curl_post to_a = {.url = aurl, .body = "a=b", .timeout_ms = 2000, .max_response = 64};
    struct ev_curl_post to_b = to_a, to_d = to_a;
    struct ev_curl_xfer *xb;

    CHECK(ec != NULL);
    srv_start(&sa);
    srv_start(&sb);
    srv_start(&sd);
    srv_url(&sa, "/", aurl, sizeof(aurl));
    srv_url(&sb, "/", burl, sizeof(burl));
    srv_url(&sd, "/", durl, sizeof(durl));
    to_b.url = burl;
    to_d.url = durl;

    xb = ev_curl_post(ec, &to_b, done_cb, &b);
    CHECK(xb != NULL);
    CHECK(ev_curl_post(ec, &to_d, done_cb, &d) != NULL);
    run_until(NULL, 0, &sb.got, 1, 2000);
    run_until(NULL, 0, &sd.got, 1, 2000);
    CHECK_LONG_EQ(atomic_load(&sb.got) + atomic_load(&sd.got), 2);

    a.other = xb; /* a's done cancels b and starts c */
    a.post_ec = ec;
    a.post_req = &to_a;
    a.post_out = &c;
    c.free_ec = ec; /* c's done cancels itself (a no-op) and frees ec, d in flight */
    CHECK(ev_curl_post(ec, &to_a, done_cb, &a) != NULL);
    run_until(&c.calls, 1, NULL, 0, 2000);
    CHECK_LONG_EQ(a.calls, 1);
    CHECK(a.ok);
    CHECK(c.self != NULL);
    CHECK_LONG_EQ(c.calls, 1);
    CHECK(c.ok);
    CHECK_STR_EQ(c.body, "{}");
    CHECK(c.at_ms >= a.at_ms);
    run_until(&d.calls, 1, NULL, 0, 50);
    srv_join(&sa);
    srv_join(&sb);
    srv_join(&sd);
    CHECK_LONG_EQ(atomic_load(&sa.got), 2);
    CHECK_LONG_EQ(b.calls, 0);
    CHECK_LONG_EQ(d.calls, 0);
    CHECK_LONG_EQ(sb.eofs, 1);
    CHECK_LONG_EQ(sd.eofs, 1);
}

static void test_bad_requests(struct ev_curl *ec)
{
    struct outcome o = {0};
    struct ev_curl_post ok = {
        .url = "http://127.0.0.1:9/", .body = "a=b", .timeout_ms = 100, .max_response = 10};
    struct ev_curl_post r;

    r = ok, r.url = NULL;
    CHECK(ev_curl_post(ec, &r, done_cb, &o) == NULL);
    r = ok, r.body = NULL;
    CHECK(ev_curl_post(ec, &r, done_cb, &o) == NULL);
    r = ok, r.user = "u";
    CHECK(ev_curl_post(ec, &r, done_cb, &o) == NULL);
    r = ok, r.password = "p";
    CHECK(ev_curl_post(ec, &r, done_cb, &o) == NULL);
    r = ok, r.timeout_ms = 0;
    CHECK(ev_curl_post(ec, &r, done_cb, &o) == NULL);
    r = ok, r.max_response = 0;
    CHECK(ev_curl_post(ec, &r, done_cb, &o) == NULL);
    /* another scheme: refused by CURLOPT_PROTOCOLS_STR when the transfer starts, so it ends
       through done like any failure */
    r = ok, r.url = "ftp://127.0.0.1/x";
    CHECK(ev_curl_post(ec, &r, done_cb, &o) != NULL);
    CHECK_LONG_EQ(o.calls, 0);
    run_until(&o.calls, 1, NULL, 0, 1000);
    CHECK_LONG_EQ(o.calls, 1);
    CHECK(!o.ok);
    CHECK_CONTAINS(o.error, "ftp");
    ev_curl_cancel(NULL);
    ev_curl_free(NULL);
}

int main(void)
{
    char err[256];
    struct ev_curl *ec;

    /* the environment's proxies are not for this test */
    static const char *const proxies[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy",
                                          "ALL_PROXY",  "no_proxy",    "NO_PROXY"};
    for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
        unsetenv(proxies[i]);

    if (ev_curl_global_init(err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    base = event_base_new();
    ec = ev_curl_new(base);
    CHECK(ec != NULL);

    test_post_answer(ec);
    test_error_status(ec);
    test_timeout(ec);
    test_max_response(ec, SRV_BIG_CL, 5000, 1024, false);
    test_max_response(ec, SRV_BIG_CLOSE, 5000, 1024, false);
    test_max_response(ec, SRV_BIG_CLOSE, 70000, 70000, true);
    test_max_response(ec, SRV_BIG_CL, 70000, 70000, true);
    test_max_response(ec, SRV_BIG_CLOSE, 70001, 70000, false);
    test_refused(ec);
    test_cancel(ec);
    test_free_in_flight();
    test_reentry();
    test_bad_requests(ec);

    ev_curl_free(ec);
    event_base_free(base);
    ev_curl_global_cleanup();
    return check_summary("test_ev_curl");
}
