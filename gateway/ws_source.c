/*
 * Zoom WebSocket subscriptions of one worker (see ws_source.h): per source, the lease, the
 * token, the link and the events waiting for their push.
 */
#include "ws_source.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <hiredis/async.h>
#include <inttypes.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <unistd.h>

#include "admission.h"
#include "backoff.h"
#include "config.h"
#include "conn.h"
#include "ev_curl.h"
#include "ev_redis.h"
#include "log.h"
#include "push.h"
#include "queue.h"
#include "stats.h"
#include "text.h"
#include "timeutil.h"
#include "ws_conn.h"
#include "ws_message.h"
#include "zoom_token.h"

#define WS_TAKE_INTERVAL_MS 1000 /* a free lease is tried about this often */
#define WS_RETRY_MIN_MS 500      /* reconnect backoff */
#define WS_RETRY_MAX_MS 30000
#define WS_TOKEN_RETRY_MIN_MS 1000 /* token request backoff */
#define WS_TOKEN_RETRY_MAX_MS 60000
#define WS_TOKEN_TIMEOUT_MS 10000   /* one token request */
#define WS_TOKEN_MAX_RESPONSE 65536 /* a token answer longer than this is refused */
#define WS_TOKEN_REFRESH 0.6        /* refresh at this fraction of expires_in */
#define WS_TOKEN_USABLE 0.75        /* a new link needs a token younger than this fraction */
#define WS_HANDSHAKE_MAX_MS 10000   /* connect + TLS + upgrade, at most (2 x heartbeat_s less) */
#define WS_FRAME_SLACK 65536        /* a message's frame may exceed max_body_bytes by escaping */
#define WS_HOLDER_MAX 160

struct ws_source;

/* One received event waiting for its push. */
struct ws_event {
    TAILQ_ENTRY(ws_event) link;
    struct ws_source *src;
    struct push *push; /* while its push is in flight */
    int64_t received_us;
    size_t len;
    char body[];
};

TAILQ_HEAD(ws_event_list, ws_event);

/* What a source's config says (copied: the config is freed on reload). */
struct ws_settings {
    char *subscription_id, *client_id, *client_secret, *account_id, *oauth_grant, *oauth_url,
        *ws_url, *ca_file;
    long heartbeat_s, lease_ms;
};

struct ws_source {
    TAILQ_ENTRY(ws_source) link;
    struct ws_set *set; /* NULL once a zombie */
    char *name;
    struct ws_settings cfg;
    struct stats_source *stats;
    SSL_CTX *ssl;
    char lease_key[QUEUE_KEY_MAX], state_key[QUEUE_KEY_MAX];
    /* the lease */
    bool holding;      /* this worker holds it (as last confirmed) */
    double renewed_at; /* monotonic: the last confirmation */
    bool lease_inflight;
    struct event *lease_ev; /* take attempts, or renewals while holding */
    /* the token */
    char *token;
    double token_at; /* monotonic: when it was issued */
    long token_ttl_s;
    struct ev_curl_xfer *token_xfer;
    struct backoff token_backoff;
    struct event *token_ev; /* the next token request (refresh or retry) */
    /* the link */
    struct ws_conn *conn;
    bool upgraded;          /* frames flow */
    bool connected;         /* its first heartbeat was answered */
    bool recorded;          /* the connect script ran: the state hash knows this link */
    bool recording;         /* ... it is running */
    int64_t connected_us;   /* when its first heartbeat was answered */
    int64_t last_rx_us;     /* the last frame read */
    double last_rx_at;      /* the same, monotonic (silence is measured from it) */
    int64_t heartbeat_us;   /* the last heartbeat answer */
    int64_t paused_at_us;   /* reading stopped at (0: reading) */
    struct event *hb_ev;    /* heartbeats and the silence check */
    struct event *retry_ev; /* the next connect attempt */
    struct backoff backoff;
    /* events */
    struct ws_event_list events;
    int nevents; /* received, push not confirmed */
    int nunsent; /* of those, waiting for admission or a retry */
    /* stopping */
    bool stopping;
    enum ws_down stop_why;
    bool releasing;    /* the down script with release was sent */
    bool finished;     /* stopped: nothing left to do */
    bool removed;      /* freed from the set once finished */
    int redis_pending; /* commands whose callbacks will still run */
};

TAILQ_HEAD(ws_source_list, ws_source);

struct ws_set {
    struct ws_env env;
    struct ev_curl *curl;
    struct evdns_base *dns;
    struct ws_source_list sources;
    bool stopping;
    char holder[WS_HOLDER_MAX]; /* HOST:PID:wN */
};

static void ws_source_connect(struct ws_source *s);
static void ws_source_flow(struct ws_source *s);
static void ws_source_maybe_finish(struct ws_source *s);
static void ws_source_lease_schedule(struct ws_source *s);

static int64_t ws_now_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void ws_settings_free(struct ws_settings *c)
{
    if (c->client_secret != NULL)
        explicit_bzero(c->client_secret, strlen(c->client_secret));
    free(c->subscription_id);
    free(c->client_id);
    free(c->client_secret);
    free(c->account_id);
    free(c->oauth_grant);
    free(c->oauth_url);
    free(c->ws_url);
    free(c->ca_file);
    memset(c, 0, sizeof(*c));
}

static char *ws_strdup(const char *s, bool *fail)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *fail = true;
    return d;
}

static int ws_settings_copy(struct ws_settings *c, const struct config_source *src)
{
    bool fail = false;

    memset(c, 0, sizeof(*c));
    c->subscription_id = ws_strdup(src->subscription_id, &fail);
    c->client_id = ws_strdup(src->client_id, &fail);
    c->client_secret = ws_strdup(src->client_secret, &fail);
    c->account_id = ws_strdup(src->account_id, &fail);
    c->oauth_grant = ws_strdup(src->oauth_grant, &fail);
    c->oauth_url = ws_strdup(src->oauth_url, &fail);
    c->ws_url = ws_strdup(src->ws_url, &fail);
    c->ca_file = ws_strdup(src->ca_file, &fail);
    c->heartbeat_s = src->heartbeat_s;
    c->lease_ms = src->lease_ms;
    if (fail || c->client_secret == NULL) {
        ws_settings_free(c);
        return -1;
    }
    return 0;
}

static bool ws_str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool ws_settings_same(const struct ws_settings *c, const struct config_source *src)
{
    return ws_str_eq(c->subscription_id, src->subscription_id) &&
           ws_str_eq(c->client_id, src->client_id) &&
           ws_str_eq(c->client_secret, src->client_secret) &&
           ws_str_eq(c->account_id, src->account_id) &&
           ws_str_eq(c->oauth_grant, src->oauth_grant) && ws_str_eq(c->oauth_url, src->oauth_url) &&
           ws_str_eq(c->ws_url, src->ws_url) && ws_str_eq(c->ca_file, src->ca_file) &&
           c->heartbeat_s == src->heartbeat_s && c->lease_ms == src->lease_ms;
}

/* The TLS settings of both peers (token endpoint and WebSocket): verified, ca_file or the system's.
 */
static SSL_CTX *ws_ssl_new(const char *name, const char *ca_file)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1
                        : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        log_msg(LOG_ERROR, "websocket source cannot load its CAs", "source=%s ca_file=%s", name,
                log_value(ca_file != NULL ? ca_file : "(system)"));
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* ---- Redis ------------------------------------------------------------------------------ */

/* Sends argv on the worker's link with s as privdata. -1 when the link is down. */
static int ws_redis(struct ws_source *s, redisCallbackFn *fn, int argc, const char **argv)
{
    redisAsyncContext *ac = redis_link_ctx(s->set->env.redis);

    if (ac == NULL || redisAsyncCommandArgv(ac, fn, s, argc, argv, NULL) != REDIS_OK)
        return -1;
    s->redis_pending++;
    return 0;
}

/*
 * Every Redis callback starts here: false when s was freed while commands were pending (a
 * zombie: its memory alone is left), which the last callback frees.
 */
static bool ws_redis_back(struct ws_source *s)
{
    s->redis_pending--;
    if (s->set != NULL)
        return true;
    if (s->redis_pending == 0)
        free(s);
    return false;
}

static void ws_fmt_i64(char *out, size_t cap, int64_t v)
{
    snprintf(out, cap, "%" PRId64, v);
}

/*
 * The moment the link was last known to deliver: the last frame read, or when reading was
 * stopped if later (a closing link reads again after a stop: its frames count).
 */
static int64_t ws_source_alive_us(const struct ws_source *s)
{
    return s->paused_at_us > s->last_rx_us ? s->paused_at_us : s->last_rx_us;
}

static void ws_source_lost_lease(struct ws_source *s, enum ws_down why)
{
    if (!s->holding)
        return;
    s->holding = false;
    log_msg(LOG_WARN, "websocket lease lost", "source=%s reason=%s", s->name, ws_down_label(why));
    if (s->conn != NULL)
        ws_conn_close(s->conn, why,
                      why == WS_DOWN_LEASE_LOST ? "another gateway holds the lease"
                                                : "cannot renew the lease");
    ws_source_lease_schedule(s);
}

static void ws_source_connected_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct ws_source *s = privdata;
    redisReply *reply = r;

    (void)ac;
    if (!ws_redis_back(s))
        return;
    s->recording = false;
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        log_msg(LOG_WARN, "websocket connection not recorded yet, will retry", "source=%s error=%s",
                s->name,
                log_value(reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "no reply"));
        return;
    }
    if (reply->integer < 0) {
        ws_source_lost_lease(s, WS_DOWN_LEASE_LOST);
        return;
    }
    s->renewed_at = monotonic_s();
    if (!s->connected) /* went down while the script ran: the state says alive at connected_us */
        return;
    s->recorded = true;
    if (reply->integer > 0) {
        atomic_fetch_add(&s->stats->ws_gap_us, (uint64_t)reply->integer);
        log_msg(LOG_WARN, "websocket gap recorded", "source=%s seconds=%.3f", s->name,
                (double)reply->integer / 1e6);
    }
}

/* Runs the connect script for the link that had its first heartbeat answered. */
static void ws_source_record(struct ws_source *s)
{
    char now[24], lease_ms[24];
    const char *argv[] = {"EVAL",
                          queue_script_ws_connected,
                          "3",
                          s->set->env.queue,
                          s->state_key,
                          s->lease_key,
                          s->set->holder,
                          now,
                          s->name,
                          lease_ms};

    if (s->recording || s->recorded || !s->connected)
        return;
    ws_fmt_i64(now, sizeof(now), s->connected_us);
    ws_fmt_i64(lease_ms, sizeof(lease_ms), s->cfg.lease_ms);
    if (ws_redis(s, ws_source_connected_cb, 10, argv) == 0)
        s->recording = true;
}

static void ws_source_down_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct ws_source *s = privdata;

    (void)ac;
    (void)r;
    if (!ws_redis_back(s))
        return;
    if (s->releasing) {
        s->releasing = false;
        s->holding = false;
        ws_source_maybe_finish(s);
    }
}

/* Tells the state hash the link went down (when it knew the link), releasing the lease too. */
static void ws_source_note_down(struct ws_source *s, bool recorded, enum ws_down why, bool release)
{
    char alive[24];
    const char *argv[] = {"EVAL",       queue_script_ws_down, "2",
                          s->state_key, s->lease_key,         s->set->holder,
                          alive,        ws_down_label(why),   release ? "1" : "0"};

    alive[0] = '\0';
    if (recorded)
        ws_fmt_i64(alive, sizeof(alive), ws_source_alive_us(s));
    if ((recorded || release) && ws_redis(s, ws_source_down_cb, 9, argv) == 0 && release)
        s->releasing = true;
    else if (release)
        s->holding = false; /* Redis is down: the lease expires by itself */
}

static void ws_source_lease_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct ws_source *s = privdata;
    redisReply *reply = r;
    bool took;

    (void)ac;
    if (!ws_redis_back(s))
        return;
    s->lease_inflight = false;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
        return; /* the check in ws_source_lease_tick gives up in time */
    if (!s->holding) {
        took = reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0;
        if (!took || s->stopping)
            return;
        s->holding = true;
        s->renewed_at = monotonic_s();
        log_msg(LOG_INFO, "websocket lease taken", "source=%s holder=%s", s->name, s->set->holder);
        ws_source_lease_schedule(s);
        ws_source_connect(s);
        return;
    }
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)
        s->renewed_at = monotonic_s();
    else if (reply->type == REDIS_REPLY_INTEGER)
        ws_source_lost_lease(s, WS_DOWN_LEASE_LOST);
}

/* Not holding: SET NX PX. Holding: renew (or record the link, which renews too). */
static void ws_source_lease_tick(evutil_socket_t fd, short what, void *arg)
{
    struct ws_source *s = arg;
    char lease_ms[24], alive[24], hb[24];

    (void)fd;
    (void)what;
    ws_fmt_i64(lease_ms, sizeof(lease_ms), s->cfg.lease_ms);
    if (s->holding && monotonic_s() - s->renewed_at > (double)s->cfg.lease_ms * 2 / 3 / 1000) {
        /* give the link up before the lease can expire and another gateway connect */
        ws_source_lost_lease(s, WS_DOWN_REDIS_UNREACHABLE);
    } else if (s->holding && s->connected && !s->recorded) {
        ws_source_record(s);
    } else if (s->holding && !s->lease_inflight) {
        const char *argv[] = {"EVAL",
                              queue_script_ws_renew,
                              "2",
                              s->lease_key,
                              s->state_key,
                              s->set->holder,
                              lease_ms,
                              alive,
                              hb};
        alive[0] = hb[0] = '\0';
        if (s->recorded) {
            ws_fmt_i64(alive, sizeof(alive), ws_source_alive_us(s));
            ws_fmt_i64(hb, sizeof(hb), s->heartbeat_us);
        }
        if (ws_redis(s, ws_source_lease_cb, 9, argv) == 0)
            s->lease_inflight = true;
    } else if (!s->holding && !s->stopping && !s->lease_inflight) {
        const char *argv[] = {"SET", s->lease_key, s->set->holder, "NX", "PX", lease_ms};
        if (ws_redis(s, ws_source_lease_cb, 6, argv) == 0)
            s->lease_inflight = true;
    }
    ws_source_lease_schedule(s);
}

/* The next lease tick: a renewal at a third of the lease, or a try about once a second. */
static void ws_source_lease_schedule(struct ws_source *s)
{
    long ms = s->holding ? s->cfg.lease_ms / 3 : WS_TAKE_INTERVAL_MS + (long)(random() % 200);
    struct timeval tv = timeval_ms(ms);

    if (s->stopping && !s->holding)
        return;
    evtimer_del(s->lease_ev);
    evtimer_add(s->lease_ev, &tv);
}

/* ---- the token --------------------------------------------------------------------------- */

static bool ws_source_token_usable(const struct ws_source *s)
{
    return s->token != NULL &&
           monotonic_s() - s->token_at < (double)s->token_ttl_s * WS_TOKEN_USABLE;
}

static void ws_source_token_drop(struct ws_source *s)
{
    if (s->token != NULL) {
        explicit_bzero(s->token, strlen(s->token));
        free(s->token);
        s->token = NULL;
    }
}

static void ws_source_token_later(struct ws_source *s, long ms)
{
    struct timeval tv = timeval_ms(ms);

    evtimer_del(s->token_ev);
    evtimer_add(s->token_ev, &tv);
}

static void ws_source_token_done(void *arg, const struct ev_curl_result *res)
{
    struct ws_source *s = arg;
    char why[512];
    char *token = NULL;
    long ttl = 0;

    s->token_xfer = NULL;
    if (!res->ok)
        snprintf(why, sizeof(why), "%s", res->error != NULL ? res->error : "request failed");
    if (!res->ok || zoom_token_parse(res->status, res->body, res->body_len, &token, &ttl, why,
                                     sizeof(why)) < 0) {
        long ms = backoff_next(&s->token_backoff);
        atomic_fetch_add(&s->stats->ws_tokens_failed, 1);
        log_msg(LOG_WARN, "websocket token request failed", "source=%s error=%s retry_ms=%ld",
                s->name, log_value(why), ms);
        ws_source_token_later(s, ms);
        return;
    }
    atomic_fetch_add(&s->stats->ws_tokens_ok, 1);
    backoff_reset(&s->token_backoff);
    ws_source_token_drop(s);
    s->token = token;
    s->token_at = monotonic_s();
    s->token_ttl_s = ttl;
    log_msg(LOG_INFO, "websocket token issued", "source=%s expires_in_s=%ld", s->name, ttl);
    ws_source_token_later(s, (long)((double)ttl * 1000 * WS_TOKEN_REFRESH));
    ws_source_connect(s);
}

static void ws_source_token_fetch(struct ws_source *s)
{
    char form[512];
    struct ev_curl_post req = {
        .url = s->cfg.oauth_url,
        .user = s->cfg.client_id,
        .password = s->cfg.client_secret,
        .body = form,
        .ca_file = s->cfg.ca_file,
        .timeout_ms = WS_TOKEN_TIMEOUT_MS,
        .max_response = WS_TOKEN_MAX_RESPONSE,
    };

    if (s->token_xfer != NULL || s->stopping || !s->holding)
        return;
    if (zoom_token_form(s->cfg.oauth_grant, s->cfg.account_id, form, sizeof(form)) < 0) {
        log_msg(LOG_ERROR, "websocket token request cannot be made", "source=%s", s->name);
        return;
    }
    s->token_xfer = ev_curl_post(s->set->curl, &req, ws_source_token_done, s);
    if (s->token_xfer == NULL)
        ws_source_token_later(s, backoff_next(&s->token_backoff));
}

static void ws_source_token_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ws_source *s = arg;

    (void)fd;
    (void)what;
    if (s->holding)
        ws_source_token_fetch(s); /* a refresh while holding; else fetched when taken */
}

/* ---- events -------------------------------------------------------------------------------- */

static void ws_source_send(struct ws_source *s);

static void ws_event_pushed(void *arg, enum push_result result, const char *error)
{
    struct ws_event *e = arg;
    struct ws_source *s = e->src;

    e->push = NULL;
    if (result == PUSH_QUEUED) {
        TAILQ_REMOVE(&s->events, e, link);
        s->nevents--;
        atomic_fetch_add(&s->stats->ws_messages, 1);
        free(e);
    } else {
        s->nunsent++;
        log_msg(LOG_WARN, "websocket event push failed, will retry", "source=%s error=%s", s->name,
                log_value(error != NULL ? error : "link down or too few replicas"));
    }
    ws_source_flow(s);
    ws_source_maybe_finish(s);
}

static enum admission ws_source_admission(const struct ws_source *s)
{
    const struct ws_env *env = &s->set->env;
    struct admission_load load = {
        .redis_up = pusher_ready(env->pusher),
        .queue_length = (long)STAT_GET(queue_length),
        .max_queue_length = env->settings->max_queue_length,
        .pushes_in_flight = env->pusher->in_flight,
        .max_pushes_in_flight = env->settings->max_pushes_in_flight,
    };

    return admission_check(&load);
}

/* Pushes the events not in flight, as long as admission allows. */
static void ws_source_send(struct ws_source *s)
{
    struct ws_event *e;
    char id[PUSH_ID_MAX];

    TAILQ_FOREACH(e, &s->events, link)
    {
        struct push_request req = {
            .source = s->name,
            .received_us = e->received_us,
            .body = e->body,
            .body_len = e->len,
        };
        if (e->push != NULL)
            continue;
        if (s->nunsent == 0 || ws_source_admission(s) != ADMISSION_OK ||
            pusher_send(s->set->env.pusher, &req, id, ws_event_pushed, e, &e->push) < 0)
            break;
        s->nunsent--;
    }
}

/* Reading stops while events wait for admission, while too many wait, and when stopping. */
static void ws_source_flow(struct ws_source *s)
{
    bool stop;

    if (s->conn == NULL || !s->upgraded)
        return;
    /* stopping: no more reading, except up to the answer to our close (what Zoom sent first) */
    stop = (s->stopping && !ws_conn_closing(s->conn)) || s->nevents >= WS_PENDING_MAX ||
           s->nunsent > 0;
    if (stop && !ws_conn_paused(s->conn)) {
        ws_conn_pause(s->conn);
        s->paused_at_us = ws_now_us();
    } else if (!stop && ws_conn_paused(s->conn)) {
        ws_conn_resume(s->conn);
        s->paused_at_us = 0;
        s->last_rx_at = monotonic_s(); /* silence counts from now */
    }
}

static void ws_source_event(struct ws_source *s, const char *body, size_t len)
{
    struct ws_event *e = malloc(sizeof(*e) + len + 1);

    if (e == NULL) {
        log_msg(LOG_ERROR, "websocket event dropped: out of memory", "source=%s", s->name);
        ws_conn_close(s->conn, WS_DOWN_CONNECTION_LOST, "out of memory");
        return;
    }
    e->src = s;
    e->push = NULL;
    e->received_us = ws_now_us();
    e->len = len;
    memcpy(e->body, body, len);
    e->body[len] = '\0';
    TAILQ_INSERT_TAIL(&s->events, e, link);
    s->nevents++;
    s->nunsent++;
    ws_source_send(s);
    ws_source_flow(s);
}

/* ---- the link ------------------------------------------------------------------------------ */

static void ws_source_reject(struct ws_source *s, enum ws_reject why)
{
    atomic_fetch_add(&s->stats->ws_rejected[why], 1);
    log_msg(LOG_WARN, "websocket message not queued", "source=%s reason=%s", s->name,
            ws_reject_label(why));
}

static void ws_source_heartbeat_answered(struct ws_source *s)
{
    s->heartbeat_us = s->last_rx_us;
    if (s->connected) {
        /* the state learns the link is alive at each heartbeat (and each renewal) */
        if (s->recorded && !s->lease_inflight)
            ws_source_lease_tick(-1, 0, s);
        return;
    }
    s->connected = true;
    s->connected_us = s->last_rx_us;
    backoff_reset(&s->backoff);
    atomic_store(&s->stats->ws_connected, 1);
    log_msg(LOG_INFO, "websocket connected", "source=%s holder=%s", s->name, s->set->holder);
    ws_source_record(s);
}

static void ws_link_message(void *arg, const char *msg, size_t len, bool binary, bool too_large)
{
    struct ws_source *s = arg;
    struct ws_message m;
    size_t max_body = (size_t)s->set->env.settings->max_body_bytes;

    s->last_rx_us = ws_now_us();
    s->last_rx_at = monotonic_s();
    if (too_large || binary) {
        ws_source_reject(s, too_large ? WS_REJECT_TOO_LARGE : WS_REJECT_BINARY);
        return;
    }
    if (ws_message_parse(msg, len, max_body, &m) < 0) {
        log_msg(LOG_ERROR, "websocket event dropped: out of memory", "source=%s", s->name);
        ws_conn_close(s->conn, WS_DOWN_CONNECTION_LOST, "out of memory");
        return;
    }
    switch (m.kind) {
    case WS_MESSAGE_EVENT:
        ws_source_event(s, m.body, m.body_len);
        free(m.body);
        break;
    case WS_MESSAGE_HEARTBEAT:
        ws_source_heartbeat_answered(s);
        break;
    case WS_MESSAGE_BUILD:
        if (m.success)
            break;
        log_msg(LOG_WARN, "websocket connection refused by Zoom", "source=%s content=%s", s->name,
                log_value(m.text));
        ws_source_token_drop(s); /* the next attempt asks for a new one */
        ws_conn_close(s->conn, WS_DOWN_TOKEN_REFUSED, m.text);
        break;
    case WS_MESSAGE_REJECTED:
        ws_source_reject(s, m.reject);
        break;
    }
}

static void ws_source_send_heartbeat(struct ws_source *s)
{
    if (ws_conn_send_text(s->conn, WS_HEARTBEAT_TEXT, strlen(WS_HEARTBEAT_TEXT)) < 0)
        log_msg(LOG_DEBUG, "websocket heartbeat not sent", "source=%s", s->name);
}

static void ws_link_up(void *arg)
{
    struct ws_source *s = arg;
    struct timeval tv = timeval_ms(s->cfg.heartbeat_s * 1000);

    s->upgraded = true;
    s->last_rx_us = ws_now_us();
    s->last_rx_at = monotonic_s();
    ws_source_send_heartbeat(s); /* its answer makes the link connected */
    evtimer_add(s->hb_ev, &tv);
    ws_source_flow(s);
}

static void ws_source_hb_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ws_source *s = arg;
    double silent;

    (void)fd;
    (void)what;
    if (s->conn == NULL || !s->upgraded)
        return;
    silent = monotonic_s() - s->last_rx_at;
    if (!ws_conn_paused(s->conn) && silent >= (double)s->cfg.heartbeat_s * 2) {
        char detail[64];
        snprintf(detail, sizeof(detail), "nothing read for %.1f s", silent);
        ws_conn_close(s->conn, WS_DOWN_HEARTBEAT_TIMEOUT, detail);
        return;
    }
    ws_source_send_heartbeat(s);
}

static void ws_source_retry_later(struct ws_source *s, long ms)
{
    struct timeval tv = timeval_ms(ms);

    evtimer_del(s->retry_ev);
    evtimer_add(s->retry_ev, &tv);
}

static void ws_link_down(void *arg, enum ws_down why, const char *detail)
{
    struct ws_source *s = arg;
    bool was_connected = s->connected, recorded = s->recorded;

    evtimer_del(s->hb_ev);
    if (was_connected)
        atomic_store(&s->stats->ws_connected, 0);
    atomic_fetch_add(&s->stats->ws_reconnects[why], 1);
    log_msg(s->stopping ? LOG_INFO : LOG_WARN, "websocket link down",
            "source=%s reason=%s detail=%s was_connected=%d", s->name, ws_down_label(why),
            log_value(detail), was_connected ? 1 : 0);
    ws_conn_free(s->conn); /* detail is the link's: freed only now */
    s->conn = NULL;
    if (s->holding)
        ws_source_note_down(s, recorded, why, s->stopping);
    s->upgraded = s->connected = s->recorded = false;
    s->paused_at_us = 0;
    if (s->stopping) {
        ws_source_maybe_finish(s);
        return;
    }
    if (!s->holding)
        return;
    if (was_connected && why != WS_DOWN_TOKEN_REFUSED)
        ws_source_retry_later(s, 0); /* at once, then with backoff */
    else
        ws_source_retry_later(s, backoff_next(&s->backoff));
}

static const struct ws_conn_cbs ws_link_cbs = {
    .up = ws_link_up,
    .message = ws_link_message,
    .down = ws_link_down,
};

/* Appends "name=" and value percent-encoded (RFC 3986 unreserved kept) to out. */
static size_t ws_query_add(char *out, size_t cap, size_t n, const char *name, const char *value)
{
    n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s=", name);
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0' && n + 4 < cap; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p) != NULL) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex_upper_digit(*p >> 4);
            out[n++] = hex_upper_digit(*p);
        }
    }
    if (n < cap)
        out[n] = '\0';
    return n;
}

static void ws_source_connect(struct ws_source *s)
{
    struct ws_conn_opts opts = {0};
    size_t cap, n;
    char *url;
    const char *why;
    long hs = s->cfg.heartbeat_s * 2000;

    if (s->stopping || !s->holding || s->conn != NULL || evtimer_pending(s->retry_ev, NULL))
        return;
    if (!ws_source_token_usable(s)) {
        ws_source_token_fetch(s); /* connects when it arrives */
        return;
    }
    if (s->ssl == NULL && strncmp(s->cfg.ws_url, "wss:", 4) == 0)
        s->ssl = ws_ssl_new(s->name, s->cfg.ca_file);
    cap = strlen(s->cfg.ws_url) + 3 * (strlen(s->cfg.subscription_id) + strlen(s->token)) + 64;
    url = malloc(cap);
    if (url == NULL) {
        ws_source_retry_later(s, backoff_next(&s->backoff));
        return;
    }
    n = (size_t)snprintf(url, cap, "%s%c", s->cfg.ws_url,
                         strchr(s->cfg.ws_url, '?') != NULL ? '&' : '?');
    n = ws_query_add(url, cap, n, "subscriptionId", s->cfg.subscription_id);
    n += (size_t)snprintf(url + n, cap - n, "&");
    ws_query_add(url, cap, n, "access_token", s->token);
    opts.url = url;
    opts.ssl_ctx = s->ssl;
    opts.dns = s->set->dns;
    opts.max_message = (size_t)s->set->env.settings->max_body_bytes * 2 + WS_FRAME_SLACK;
    opts.handshake_timeout_ms = hs < WS_HANDSHAKE_MAX_MS ? hs : WS_HANDSHAKE_MAX_MS;
    s->conn = ws_conn_open(s->set->env.base, &opts, &ws_link_cbs, s, &why);
    explicit_bzero(url, cap);
    free(url);
    if (s->conn == NULL) {
        log_msg(LOG_WARN, "websocket link cannot start", "source=%s error=%s", s->name,
                log_value(why));
        ws_source_retry_later(s, backoff_next(&s->backoff));
    }
}

static void ws_source_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ws_source_connect(arg);
}

/* ---- life -------------------------------------------------------------------------------- */

/* Out of the set, everything freed; its memory too, or by its last Redis callback. */
static void ws_source_free(struct ws_source *s)
{
    struct ws_event *e;

    while ((e = TAILQ_FIRST(&s->events)) != NULL) {
        TAILQ_REMOVE(&s->events, e, link);
        if (e->push != NULL)
            push_cancel(e->push);
        free(e);
    }
    if (s->nevents > 0)
        log_msg(LOG_ERROR, "websocket events lost: their push was never confirmed",
                "source=%s events=%d", s->name, s->nevents);
    ws_conn_free(s->conn);
    if (s->token_xfer != NULL)
        ev_curl_cancel(s->token_xfer);
    ws_source_token_drop(s);
    if (s->lease_ev != NULL)
        event_free(s->lease_ev);
    if (s->token_ev != NULL)
        event_free(s->token_ev);
    if (s->hb_ev != NULL)
        event_free(s->hb_ev);
    if (s->retry_ev != NULL)
        event_free(s->retry_ev);
    if (s->ssl != NULL)
        SSL_CTX_free(s->ssl);
    ws_settings_free(&s->cfg);
    free(s->name);
    if (s->set != NULL)
        TAILQ_REMOVE(&s->set->sources, s, link);
    s->set = NULL;
    if (s->redis_pending == 0)
        free(s);
}

/* A stopping source is finished when no event waits, no link is open and the lease is given up. */
static void ws_source_maybe_finish(struct ws_source *s)
{
    struct ws_set *set = s->set;

    if (!s->stopping || s->finished)
        return;
    if (s->nevents > 0)
        return;
    if (s->conn != NULL) {
        ws_conn_close(s->conn, s->stop_why, "stopping");
        return;
    }
    if (s->holding && !s->releasing)
        ws_source_note_down(s, false, s->stop_why, true);
    if (s->releasing || s->holding)
        return;
    s->finished = true;
    evtimer_del(s->lease_ev);
    evtimer_del(s->token_ev);
    evtimer_del(s->retry_ev);
    if (s->token_xfer != NULL) {
        ev_curl_cancel(s->token_xfer);
        s->token_xfer = NULL;
    }
    log_msg(LOG_INFO, "websocket source stopped", "source=%s reason=%s", s->name,
            ws_down_label(s->stop_why));
    if (s->removed) {
        atomic_store(&s->stats->ws, false);
        ws_source_free(s);
    }
    if (set->stopping && !ws_set_busy(set) && set->env.idle != NULL)
        set->env.idle(set->env.idle_arg);
}

/* Stops reading, lets every received event's push be confirmed, closes, releases. */
static void ws_source_stop(struct ws_source *s, enum ws_down why)
{
    if (s->stopping)
        return;
    s->stopping = true;
    s->stop_why = why;
    evtimer_del(s->retry_ev);
    ws_source_flow(s); /* pauses the link */
    if (s->conn != NULL && !s->upgraded)
        ws_conn_close(s->conn, why, "stopping"); /* nothing was read on it */
    ws_source_maybe_finish(s);
}

static struct ws_source *ws_source_new(struct ws_set *set, const struct config_source *src)
{
    struct ws_source *s = calloc(1, sizeof(*s));
    struct event_base *base = set->env.base;

    if (s == NULL)
        return NULL;
    TAILQ_INIT(&s->events);
    s->set = set;
    TAILQ_INSERT_TAIL(&set->sources, s, link);
    s->name = strdup(src->name);
    s->stats = stats_source(src->name);
    s->lease_ev = evtimer_new(base, ws_source_lease_tick, s);
    s->token_ev = evtimer_new(base, ws_source_token_cb, s);
    s->hb_ev = event_new(base, -1, EV_PERSIST, ws_source_hb_cb, s);
    s->retry_ev = evtimer_new(base, ws_source_retry_cb, s);
    if (s->name == NULL || s->lease_ev == NULL || s->token_ev == NULL || s->hb_ev == NULL ||
        s->retry_ev == NULL || ws_settings_copy(&s->cfg, src) < 0) {
        ws_source_free(s);
        return NULL;
    }
    queue_key(s->lease_key, sizeof(s->lease_key), set->env.queue, QUEUE_KEY_WS_LEASE, s->name);
    queue_key(s->state_key, sizeof(s->state_key), set->env.queue, QUEUE_KEY_WS_STATE, s->name);
    backoff_init(&s->backoff, WS_RETRY_MIN_MS, WS_RETRY_MAX_MS);
    backoff_init(&s->token_backoff, WS_TOKEN_RETRY_MIN_MS, WS_TOKEN_RETRY_MAX_MS);
    atomic_store(&s->stats->ws, true);
    atomic_store(&s->stats->ws_connected, 0);
    log_msg(LOG_INFO, "websocket source started",
            "source=%s worker=%d lease_ms=%ld heartbeat_s=%ld", s->name, set->env.worker_id,
            s->cfg.lease_ms, s->cfg.heartbeat_s);
    ws_source_lease_tick(-1, 0, s); /* try the lease now */
    return s;
}

/* A reload changed the source: new settings, a new token, a new link; the lease is kept. */
static void ws_source_reconfigure(struct ws_source *s, const struct config_source *src)
{
    struct ws_settings fresh;

    if (ws_settings_copy(&fresh, src) < 0) {
        log_msg(LOG_ERROR, "websocket source not changed: out of memory", "source=%s", s->name);
        return;
    }
    ws_settings_free(&s->cfg);
    s->cfg = fresh;
    if (s->ssl != NULL)
        SSL_CTX_free(s->ssl);
    s->ssl = NULL;
    ws_source_token_drop(s);
    if (s->token_xfer != NULL) {
        ev_curl_cancel(s->token_xfer);
        s->token_xfer = NULL;
    }
    evtimer_del(s->token_ev);
    backoff_reset(&s->backoff);
    log_msg(LOG_INFO, "websocket source changed", "source=%s", s->name);
    if (s->conn != NULL)
        ws_conn_close(s->conn, WS_DOWN_SOURCE_CHANGED, "configuration changed");
    else
        ws_source_connect(s);
    ws_source_lease_schedule(s);
}

/* ---- the set ------------------------------------------------------------------------------ */

/* The worker of each gateway that runs source name (FNV-1a of the name). */
static int ws_owner(const char *name, int nworkers)
{
    uint32_t h = 2166136261u;

    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
        h = (h ^ *p) * 16777619u;
    return nworkers > 0 ? (int)(h % (uint32_t)nworkers) : 0;
}

struct ws_set *ws_set_new(const struct ws_env *env)
{
    struct ws_set *set = calloc(1, sizeof(*set));
    char host[64];

    if (set == NULL)
        return NULL;
    set->env = *env;
    TAILQ_INIT(&set->sources);
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    for (char *p = host; *p != '\0'; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.' || *p == '_'))
            *p = '_';
    snprintf(set->holder, sizeof(set->holder), "%s:%ld:w%d", host, (long)getpid(), env->worker_id);
    return set;
}

/* The event-loop helpers, made when the first websocket source arrives. 0 or -1. */
static int ws_set_loop_helpers(struct ws_set *set)
{
    if (set->curl == NULL)
        set->curl = ev_curl_new(set->env.base);
    if (set->dns == NULL)
        set->dns = evdns_base_new(set->env.base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (set->dns == NULL) /* no resolv.conf: IP literals and /etc/hosts still work */
        set->dns = evdns_base_new(set->env.base, 0);
    return set->curl != NULL && set->dns != NULL ? 0 : -1;
}

static struct ws_source *ws_set_find(struct ws_set *set, const char *name)
{
    struct ws_source *s;

    TAILQ_FOREACH(s, &set->sources, link)
    {
        if (!s->removed && strcmp(s->name, name) == 0)
            return s;
    }
    return NULL;
}

void ws_set_apply(struct ws_set *set, const struct config *cfg, int nworkers)
{
    struct ws_source *s, *next;

    if (set->stopping)
        return;
    for (s = TAILQ_FIRST(&set->sources); s != NULL; s = next) {
        const struct config_source *src = config_find_source(cfg, s->name);
        next = TAILQ_NEXT(s, link);
        if (s->removed)
            continue;
        if (src == NULL || src->transport != CONFIG_TRANSPORT_WEBSOCKET) {
            s->removed = true;
            ws_source_stop(s, WS_DOWN_SOURCE_REMOVED);
        } else if (!ws_settings_same(&s->cfg, src)) {
            ws_source_reconfigure(s, src);
        }
    }
    for (size_t i = 0; i < cfg->nsources; i++) {
        const struct config_source *src = &cfg->sources[i];
        if (src->transport != CONFIG_TRANSPORT_WEBSOCKET ||
            ws_owner(src->name, nworkers) != set->env.worker_id ||
            ws_set_find(set, src->name) != NULL)
            continue;
        if (ws_set_loop_helpers(set) < 0 || ws_source_new(set, src) == NULL)
            log_msg(LOG_ERROR, "websocket source not started: out of memory", "source=%s",
                    src->name);
    }
}

void ws_set_tick(struct ws_set *set)
{
    struct ws_source *s;

    TAILQ_FOREACH(s, &set->sources, link)
    {
        if (s->nunsent > 0) {
            ws_source_send(s);
            ws_source_flow(s);
        }
    }
}

void ws_set_redis_up(struct ws_set *set)
{
    struct ws_source *s;

    TAILQ_FOREACH(s, &set->sources, link)
    {
        if (!s->stopping && !s->lease_inflight)
            ws_source_lease_tick(-1, 0, s); /* take (or renew, record) now, not at the next tick */
    }
}

void ws_set_stop(struct ws_set *set)
{
    struct ws_source *s, *next;

    set->stopping = true;
    for (s = TAILQ_FIRST(&set->sources); s != NULL; s = next) {
        next = TAILQ_NEXT(s, link); /* a stop may free s */
        ws_source_stop(s, WS_DOWN_GATEWAY_STOPPED);
    }
}

bool ws_set_busy(const struct ws_set *set)
{
    const struct ws_source *s;

    if (set == NULL)
        return false;
    TAILQ_FOREACH(s, &set->sources, link)
    {
        if (!s->finished)
            return true;
    }
    return false;
}

void ws_set_free(struct ws_set *set)
{
    struct ws_source *s;

    if (set == NULL)
        return;
    while ((s = TAILQ_FIRST(&set->sources)) != NULL) {
        atomic_store(&s->stats->ws_connected, 0);
        ws_source_free(s);
    }
    if (set->curl != NULL)
        ev_curl_free(set->curl);
    if (set->dns != NULL)
        evdns_base_free(set->dns, 0);
    free(set);
}
