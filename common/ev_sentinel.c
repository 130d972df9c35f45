/*
 * The sentinel watch of a redis_link (see ev_sentinel.h). Redis' Sentinel client guidelines
 * (https://redis.io/docs/latest/develop/reference/sentinel-clients/) suggest subscribing to
 * +switch-master to reconfigure fast, but not relying on it, since a message can be missed:
 * hence the subscription plus a question every second. A demoted master stays a master for
 * 8-10 s after the sentinels' decision (they convert it later), so its ROLE alone is too late.
 */
#include "ev_sentinel.h"

#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "ev_hiredis.h"
#include "log.h"
#include "timeutil.h"

#define WATCH_POLL_MS 1000 /* get-master-addr-by-name this often; unanswered by the next: lost */
#define WATCH_SUBSCRIBE_MS 1000  /* a subscription not confirmed within this is lost */
#define WATCH_BACKOFF_MIN_MS 100 /* resubscribe delays, each to the next sentinel */
#define WATCH_BACKOFF_MAX_MS 2000

/* One connection to a sentinel. */
struct watch_conn {
    redisAsyncContext *ac;   /* NULL when not connected */
    size_t i;                /* index in target->sentinels of the sentinel used (or next) */
    struct sentinel_addr at; /* the sentinel ac was opened to */
    bool waiting;            /* subscription: not confirmed yet; poll: a question unanswered */
    const char *what;        /* "subscription" or "poll", for log lines */
};

struct sentinel_watch {
    struct event_base *base;
    const struct redis_target *target; /* the owner's: sentinels (in its order), master_name */
    char name[64];                     /* the owner's link name, for log lines */
    sentinel_watch_fn fn;
    void *arg;
    struct watch_conn sub;      /* SUBSCRIBE +switch-master */
    struct watch_conn poll;     /* SENTINEL get-master-addr-by-name each WATCH_POLL_MS */
    struct backoff backoff;     /* resubscribe delays */
    struct event *sub_retry;    /* resubscribe timer */
    struct event *sub_deadline; /* the subscription is confirmed by then */
    struct event *tick;         /* persistent: the poll */
};

static void sentinel_watch_subscribe(struct sentinel_watch *w);

static const char *watch_conn_addr(const struct watch_conn *c, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%d", c->at.host, c->at.port);
    return buf;
}

/* Closes c's connection, if any; its callbacks see no watch (inside one, hiredis defers). */
static void watch_conn_drop(struct watch_conn *c)
{
    redisAsyncContext *ac = c->ac;

    c->ac = NULL;
    c->waiting = false;
    if (ac == NULL)
        return;
    ac->data = NULL;
    redisAsyncFree(ac);
}

/* The connection c of w, or NULL for a context that is no longer either. */
static struct watch_conn *watch_conn_of(struct sentinel_watch *w, const redisAsyncContext *ac)
{
    if (w == NULL)
        return NULL;
    if (ac == w->sub.ac)
        return &w->sub;
    if (ac == w->poll.ac)
        return &w->poll;
    return NULL;
}

/*
 * c's sentinel failed (c->ac already gone or dropped): the next one takes over, the
 * subscription after a backoff, the poll at its next tick.
 */
static void sentinel_watch_lost(struct sentinel_watch *w, struct watch_conn *c, const char *why)
{
    char sa[SENTINEL_HOST_MAX + 8];
    struct timeval tv;

    watch_conn_drop(c);
    log_msg(LOG_WARN, "redis sentinel watch lost", "link=%s sentinel=%s via=%s error=%s", w->name,
            watch_conn_addr(c, sa, sizeof(sa)), c->what, log_value(why));
    c->i = sentinel_next(c->i, w->target->nsentinels);
    if (c != &w->sub)
        return;
    evtimer_del(w->sub_deadline);
    tv = timeval_ms(backoff_next(&w->backoff));
    evtimer_add(w->sub_retry, &tv);
}

static void sentinel_watch_connect_cb(const redisAsyncContext *ac, int status)
{
    struct sentinel_watch *w = ac->data;
    struct watch_conn *c = watch_conn_of(w, ac);

    if (c == NULL || status == REDIS_OK)
        return;
    c->ac = NULL; /* hiredis frees ac after this callback */
    sentinel_watch_lost(w, c, ac->errstr[0] ? ac->errstr : "connect failed");
}

static void sentinel_watch_disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct sentinel_watch *w = ac->data;
    struct watch_conn *c = watch_conn_of(w, ac);

    if (c == NULL)
        return;
    c->ac = NULL; /* hiredis frees ac after this callback */
    sentinel_watch_lost(w, c, status == REDIS_OK ? "closed" : ac->errstr);
}

/* Connects c to sentinel c->i. false (and c lost) when it cannot even start. */
static bool watch_conn_open(struct sentinel_watch *w, struct watch_conn *c)
{
    char err[128];

    c->at = w->target->sentinels[c->i];
    c->ac = ev_hiredis_connect(w->base, c->at.host, c->at.port, NULL, w, sentinel_watch_connect_cb,
                               sentinel_watch_disconnect_cb, err, sizeof(err));
    if (c->ac == NULL)
        sentinel_watch_lost(w, c, err);
    return c->ac != NULL;
}

static void sentinel_watch_message_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct sentinel_watch *w = ac->data;
    const redisReply *payload = NULL;
    char host[SENTINEL_HOST_MAX];
    char sa[SENTINEL_HOST_MAX + 8];
    int port = 0;

    if (w == NULL || ac != w->sub.ac || r == NULL)
        return; /* a NULL reply: the disconnect callback handles it */
    switch (sentinel_parse_pubsub(r, &payload)) {
    case SENTINEL_PUBSUB_SUBSCRIBED:
        w->sub.waiting = false;
        evtimer_del(w->sub_deadline);
        backoff_reset(&w->backoff);
        log_msg(LOG_INFO, "redis sentinel watch subscribed", "link=%s sentinel=%s", w->name,
                watch_conn_addr(&w->sub, sa, sizeof(sa)));
        return;
    case SENTINEL_PUBSUB_MESSAGE:
        break;
    case SENTINEL_PUBSUB_OTHER:
        return;
    }
    switch (sentinel_parse_switch(payload->str, payload->len, w->target->master_name, host,
                                  sizeof(host), &port)) {
    case SENTINEL_SWITCH_OURS:
        w->fn(w->arg, host, port, "+switch-master");
        break;
    case SENTINEL_SWITCH_OTHER:
        break;
    case SENTINEL_SWITCH_BAD:
        log_msg(LOG_WARN, "redis sentinel sent a malformed +switch-master", "link=%s sentinel=%s",
                w->name, watch_conn_addr(&w->sub, sa, sizeof(sa)));
        break;
    }
}

static void sentinel_watch_subscribe(struct sentinel_watch *w)
{
    struct timeval tv = timeval_ms(WATCH_SUBSCRIBE_MS);

    if (!watch_conn_open(w, &w->sub))
        return;
    /* queued until the connection is up; every message comes to the same callback */
    if (redisAsyncCommand(w->sub.ac, sentinel_watch_message_cb, NULL, "SUBSCRIBE +switch-master") !=
        REDIS_OK) {
        sentinel_watch_lost(w, &w->sub, "cannot send");
        return;
    }
    w->sub.waiting = true;
    evtimer_add(w->sub_deadline, &tv);
}

static void sentinel_watch_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    sentinel_watch_subscribe(arg);
}

static void sentinel_watch_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sentinel_watch *w = arg;

    if (w->sub.ac != NULL && w->sub.waiting)
        sentinel_watch_lost(w, &w->sub, "not subscribed within 1 s");
}

static void sentinel_watch_answer_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct sentinel_watch *w = ac->data;
    char host[SENTINEL_HOST_MAX];
    int port = 0;

    if (w == NULL || ac != w->poll.ac || r == NULL)
        return; /* a NULL reply: the disconnect callback handles it */
    if (sentinel_parse_master(r, host, sizeof(host), &port) != SENTINEL_ANSWER_ADDR) {
        /* an error, nil (it forgot the master) or nonsense: ask another */
        sentinel_watch_lost(w, &w->poll, "no master address in its answer");
        return;
    }
    w->poll.waiting = false;
    w->fn(w->arg, host, port, "poll");
}

static void sentinel_watch_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sentinel_watch *w = arg;

    if (w->poll.ac != NULL && w->poll.waiting)
        sentinel_watch_lost(w, &w->poll, "no answer within 1 s");
    if (w->poll.ac == NULL && !watch_conn_open(w, &w->poll))
        return;
    if (redisAsyncCommand(w->poll.ac, sentinel_watch_answer_cb, NULL,
                          "SENTINEL get-master-addr-by-name %s",
                          w->target->master_name) != REDIS_OK) {
        sentinel_watch_lost(w, &w->poll, "cannot send");
        return;
    }
    w->poll.waiting = true;
}

struct sentinel_watch *sentinel_watch_new(struct event_base *base,
                                          const struct redis_target *target, const char *name,
                                          sentinel_watch_fn fn, void *arg)
{
    struct sentinel_watch *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->base = base;
    w->target = target;
    snprintf(w->name, sizeof(w->name), "%s", name);
    w->fn = fn;
    w->arg = arg;
    w->sub.what = "subscription";
    w->poll.what = "poll";
    backoff_init(&w->backoff, WATCH_BACKOFF_MIN_MS, WATCH_BACKOFF_MAX_MS);
    w->sub_retry = evtimer_new(base, sentinel_watch_retry_cb, w);
    w->sub_deadline = evtimer_new(base, sentinel_watch_deadline_cb, w);
    w->tick = event_new(base, -1, EV_PERSIST, sentinel_watch_tick_cb, w);
    if (w->sub_retry == NULL || w->sub_deadline == NULL || w->tick == NULL) {
        sentinel_watch_free(w);
        return NULL;
    }
    return w;
}

static bool sentinel_addr_same(const struct sentinel_addr *a, const struct sentinel_addr *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

void sentinel_watch_follow(struct sentinel_watch *w)
{
    const struct sentinel_addr *first = &w->target->sentinels[0];
    struct timeval tv = timeval_ms(WATCH_POLL_MS);

    if (!evtimer_pending(w->tick, NULL))
        event_add(w->tick, &tv);
    if (w->poll.ac == NULL || !sentinel_addr_same(&w->poll.at, first)) {
        watch_conn_drop(&w->poll);
        w->poll.i = 0; /* opened at the next tick */
    }
    if (w->sub.ac != NULL && sentinel_addr_same(&w->sub.at, first))
        return;
    watch_conn_drop(&w->sub);
    evtimer_del(w->sub_retry);
    evtimer_del(w->sub_deadline);
    backoff_reset(&w->backoff);
    w->sub.i = 0;
    sentinel_watch_subscribe(w);
}

void sentinel_watch_free(struct sentinel_watch *w)
{
    if (w == NULL)
        return;
    watch_conn_drop(&w->sub);
    watch_conn_drop(&w->poll);
    if (w->sub_retry != NULL)
        event_free(w->sub_retry);
    if (w->sub_deadline != NULL)
        event_free(w->sub_deadline);
    if (w->tick != NULL)
        event_free(w->tick);
    free(w);
}
