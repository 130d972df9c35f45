/* Request handling (see serve.h): heads, whole requests and push results to verdicts. */
#include "serve.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "admission.h"
#include "conn.h"
#include "guard.h"
#include "hook.h"
#include "http_parser.h"
#include "keyring.h"
#include "log.h"
#include "peer.h"
#include "route.h"
#include "stats.h"
#include "timeutil.h"
#include "verify.h"

static void serve_answer(struct serve_answer *a, int status, const char *extra, const char *body)
{
    a->status = status;
    a->extra = extra;
    a->body = body;
}

void serve_error(struct serve_answer *a, int status, const char *extra, const char *msg)
{
    _Static_assert(RESPONSE_ERROR_MAX <= SERVE_TEXT_MAX, "an error body fits the answer's text");
    response_error_body(a->text, msg);
    serve_answer(a, status, extra, a->text);
}

void serve_unavailable(struct serve_answer *a, const char *msg)
{
    serve_error(a, 503, "Retry-After: 1\r\n", msg);
}

void serve_reject(struct serve_answer *a, int status, const char *extra, const char *msg)
{
    a->unread = true; /* the client may still be sending what will not be read */
    serve_error(a, status, extra, msg);
}

void serve_answer_done(struct serve_answer *a)
{
    free(a->heap);
    a->heap = NULL;
    explicit_bzero(a->text, sizeof(a->text));
}

/* An answer given without reading the request's declared body ends the connection. */
static void serve_skip_body(struct serve_answer *a, const struct http_head *h)
{
    if (h->content_length > 0 || h->chunked)
        a->ends = true;
}

static enum admission serve_admission(const struct serve_ctx *x, bool redis_up)
{
    struct admission_load load = {
        .redis_up = redis_up,
        .queue_length = (long)STAT_GET(queue_length),
        .max_queue_length = x->settings->max_queue_length,
        .pushes_in_flight = x->pusher->in_flight,
        .max_pushes_in_flight = x->settings->max_pushes_in_flight,
    };

    return admission_check(&load);
}

void serve_readyz(const struct serve_ctx *x, struct serve_answer *a)
{
    enum admission ad = serve_admission(x, STAT_GET(redis_links_up) >= STAT_GET(redis_links));

    if (ad == ADMISSION_OK)
        serve_answer(a, 200, NULL, "{\"status\":\"ready\"}");
    else
        serve_error(a, 503, admission_retry_after(ad), admission_reason(ad, false));
}

/* The routes that are not a source's: health, readiness, 404 and 405. */
static void serve_other(const struct serve_ctx *x, const struct route *r, struct serve_answer *a)
{
    if (r->target == ROUTE_NOT_FOUND)
        serve_error(a, 404, NULL, "not found");
    else if (r->allow != NULL)
        serve_error(a, 405, r->allow, "method not allowed");
    else if (r->target == ROUTE_HEALTHZ)
        serve_answer(a, 200, NULL, "{\"status\":\"ok\"}");
    else
        serve_readyz(x, a);
}

/*
 * Decides on a delivery's head before its body is read (guard.h): false with a refusal,
 * which ends the connection when a body was declared.
 */
static bool serve_guard(const struct serve_ctx *x, struct request *req, struct serve_proof *p,
                        struct keyring_entry *e, const struct http_head *h, const char *body,
                        struct serve_answer *a)
{
    struct verify_request vreq;
    struct guard_outcome g;

    request_verify_input(req, body, time(NULL), x->settings->timestamp_tolerance_s, &vreq);
    guard_head(e, req->token_endpoint, &p->client, &vreq, monotonic_s(), &g);
    p->vouched = g.vouched;
    if (g.status == 0)
        return true;
    stats_count_auth_failure(e->stats, g.reason);
    if (g.status == 429)
        STAT_ADD(auth_throttled_total, 1);
    log_msg(LOG_DEBUG, "delivery refused at its head",
            "worker=%d conn=%" PRIu64 " source=%s reason=%s", x->worker_id, x->conn_id, e->name,
            verify_reason_label(g.reason));
    if (g.extra == g.retry_after) { /* the line lives in g: keep a copy with the answer */
        snprintf(a->extra_text, sizeof(a->extra_text), "%s", g.retry_after);
        g.extra = a->extra_text;
    }
    if (h->content_length > 0)
        serve_reject(a, g.status, g.extra, g.message);
    else
        serve_error(a, g.status, g.extra, g.message);
    return false;
}

enum serve_verdict serve_head(const struct serve_ctx *x, struct request *req, struct serve_proof *p,
                              const char *buf, size_t len, size_t buffered, struct serve_answer *a,
                              bool *send_continue)
{
    struct keyring_entry *e;
    struct http_head h;
    struct route r;
    int rc = http_parse_head(buf, len, &h);

    memset(a, 0, sizeof(*a));
    *send_continue = false;
    p->vouched = false;
    if (rc != 0) {
        serve_reject(a, rc, NULL, rc == 505 ? "HTTP version not supported" : "malformed request");
        return SERVE_ANSWER;
    }
    request_begin(req, &h);
    route_match(&h, &r);
    if (r.target != ROUTE_HOOK && r.target != ROUTE_TOKEN) {
        serve_skip_body(a, &h);
        serve_other(x, &r, a);
        return SERVE_ANSWER;
    }
    e = keyring_find(x->keyring, r.source, r.source_len);
    if (e == NULL) {
        req->stats = stats_unknown;
        serve_skip_body(a, &h);
        serve_error(a, 404, NULL, "unknown source");
        return SERVE_ANSWER;
    }
    req->stats = e->stats;
    guard_client(x->trusted_proxies, x->peer, &h, &p->client);
    bool token = r.target == ROUTE_TOKEN;
    if (token && !(e->auth & CONFIG_AUTH_BEARER)) {
        serve_skip_body(a, &h);
        serve_error(a, 404, NULL, "no token endpoint for this source");
        return SERVE_ANSWER;
    }
    if (r.allow != NULL) {
        serve_skip_body(a, &h);
        serve_error(a, 405, r.allow, "method not allowed");
        return SERVE_ANSWER;
    }
    if (h.chunked) {
        serve_reject(a, 411, NULL, "chunked bodies are not supported; send Content-Length");
        return SERVE_ANSWER;
    }
    if (h.content_length > (token ? OAUTH_REQUEST_MAX : x->settings->max_body_bytes)) {
        serve_reject(a, 413, NULL, "body too large");
        return SERVE_ANSWER;
    }
    size_t body_len = h.content_length > 0 ? (size_t)h.content_length : 0;
    struct request_capture cap = {
        .authorization = token || e->wants_authorization,
        .custom_name = token ? NULL : e->header_name,
        .token_endpoint = token,
        .provider = e->provider,
    };
    request_keep(req, &h, r.source, r.source_len, len, body_len, &cap);
    if (!serve_guard(x, req, p, e, &h, buf + len, a))
        return SERVE_ANSWER;
    *send_continue = h.expect_continue && buffered < len + body_len; /* the body is to come */
    return SERVE_READ_BODY;
}

/* A refused credential: counted, and against its address for the failure throttle. */
static void serve_refused(const struct serve_ctx *x, const struct serve_proof *p,
                          const struct keyring_entry *e, enum verify_reason reason,
                          const char *what)
{
    stats_count_auth_failure(e->stats, reason);
    if (guard_guessable(reason))
        peer_failed(&p->client, monotonic_s());
    log_msg(LOG_DEBUG, what, "worker=%d conn=%" PRIu64 " source=%s reason=%s", x->worker_id,
            x->conn_id, e->name, verify_reason_label(reason));
}

/* A token request for source e: answered at once, nothing is queued. */
static void serve_token(const struct serve_ctx *x, const struct request *req, struct serve_proof *p,
                        struct keyring_entry *e, const char *body, struct serve_answer *a)
{
    const char *head = body - req->head_len;
    const char *query = request_span_at(&req->query, head);
    struct oauth_request oreq = {
        .query = query != NULL ? query : "",
        .query_len = req->query.len,
        .query_too_long = req->query_too_long,
        .authorization = request_span_at(&req->authorization, head),
        .authorization_len = req->authorization.len,
        .body = body,
        .body_len = req->body_len,
        .now = time(NULL),
    };
    struct oauth_answer ans;

    oauth_token(&e->keys, &oreq, &ans);
    if (ans.status == 200)
        p->proven = true;
    if (ans.reason != VERIFY_REASON_NONE)
        serve_refused(x, p, e, ans.reason, "token request refused");
    _Static_assert(sizeof(ans.body) <= SERVE_TEXT_MAX, "a token answer fits the answer's text");
    memcpy(a->text, ans.body, sizeof(ans.body));
    serve_answer(a, ans.status, ans.extra, a->text);
    explicit_bzero(&ans, sizeof(ans));
}

/* A verified delivery or url_validation: inspected, then answered or admitted. */
static enum serve_verdict serve_hook(const struct serve_ctx *x, const struct request *req,
                                     const char *body, struct zoom_key *key, struct serve_answer *a)
{
    struct hook_result hr;
    enum admission ad;

    if (req->provider == PROVIDER_ZOOM)
        hook_inspect(body, req->body_len, key, &hr);
    else
        hook_inspect_provider(req->provider, body, req->body_len, &hr);
    if (hr.action != HOOK_DELIVER) {
        if (hr.out_of_memory) {
            STAT_ADD(out_of_memory_total, 1);
            serve_unavailable(a, hr.message);
        } else if (hr.status == 200) {
            a->heap = hr.body; /* freed by serve_answer_done */
            hr.body = NULL;
            serve_answer(a, 200, NULL, a->heap);
        } else {
            serve_error(a, hr.status, NULL, hr.message);
        }
        free(hr.body);
        return SERVE_ANSWER;
    }
    free(hr.body);
    ad = serve_admission(x, pusher_ready(x->pusher));
    if (ad == ADMISSION_QUEUE_FULL)
        STAT_ADD(queue_full_rejections_total, 1);
    else if (ad == ADMISSION_OVERLOADED)
        STAT_ADD(overload_rejections_total, 1);
    if (ad != ADMISSION_OK) {
        serve_error(a, 503, admission_retry_after(ad), admission_reason(ad, true));
        return SERVE_ANSWER;
    }
    return SERVE_PUSH;
}

enum serve_verdict serve_request(const struct serve_ctx *x, struct request *req,
                                 struct serve_proof *p, const char *body, struct serve_answer *a)
{
    struct keyring_entry *e = keyring_find(x->keyring, req->source, strlen(req->source));
    struct verify_request vreq;
    struct verify_result vr;

    memset(a, 0, sizeof(*a));
    if (e == NULL) { /* removed by a reload while the body arrived */
        serve_error(a, 404, NULL, "unknown source");
        return SERVE_ANSWER;
    }
    if (req->token_endpoint) {
        if (e->auth & CONFIG_AUTH_BEARER)
            serve_token(x, req, p, e, body, a);
        else /* bearer mode removed by a reload while the body arrived */
            serve_error(a, 404, NULL, "no token endpoint for this source");
        return SERVE_ANSWER;
    }
    request_verify_input(req, body, time(NULL), x->settings->timestamp_tolerance_s, &vreq);
    if (!verify_run(e->checks, &e->keys, &vreq, &vr)) {
        serve_refused(x, p, e, vr.reason, "delivery refused");
        serve_error(a, vr.status, vr.extra, vr.message);
        return SERVE_ANSWER;
    }
    p->proven = true;
    return serve_hook(x, req, body, vr.key, a);
}

void serve_pushed(const struct serve_ctx *x, const struct request *req, enum push_result result,
                  const char *error, struct serve_answer *a)
{
    memset(a, 0, sizeof(*a));
    if (result == PUSH_QUEUED) {
        struct timeval now, d;
        _Static_assert(RESPONSE_QUEUED_MAX <= SERVE_TEXT_MAX, "a queued body fits");
        gettimeofday(&now, NULL);
        timersub(&now, &req->done, &d);
        histogram_observe(&gateway_stats.enqueue_seconds,
                          (double)d.tv_sec + (double)d.tv_usec / 1e6);
        response_queued_body(a->text, req->delivery_id);
        serve_answer(a, 200, NULL, a->text);
    } else if (result == PUSH_UNREPLICATED) {
        /* in the master, not yet on enough replicas: a failover could lose it */
        serve_unavailable(a, "queue did not replicate in time");
    } else {
        STAT_ADD(push_errors_total, 1);
        if (error != NULL)
            log_msg(LOG_WARN, "push failed", "worker=%d conn=%" PRIu64 " error=%s", x->worker_id,
                    x->conn_id, log_value(error));
        serve_unavailable(a, "queue unavailable");
    }
}
