/*
 * Reconnecting Redis link over hiredis' async API and its libevent adapter.
 * hiredis frees the context itself after a failed connect or a disconnect, so the
 * link only forgets its pointer there and schedules a reconnect on a timer.
 */
#include "ev_redis.h"

#include <hiredis/adapters/libevent.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "log.h"
#include "timeutil.h"

#define REDIS_BACKOFF_MIN_MS 50
#define REDIS_BACKOFF_MAX_MS 1000
#define REDIS_CONNECT_TIMEOUT_MS 2000

struct redis_link {
    struct event_base *base;
    struct redis_url url;
    char name[64];          /* for log lines */
    redisAsyncContext *ac;  /* current context, NULL while waiting to reconnect */
    bool up;                /* handshake done */
    bool freeing;           /* redis_link_free in progress: no reconnect, no callbacks */
    struct backoff backoff; /* reconnect delays */
    struct event *retry;    /* reconnect timer */
    struct event *deadline; /* connect + handshake timeout */
    redis_link_state_fn fn;
    void *arg;
};

static void redis_link_connect(struct redis_link *link);

static void redis_link_set_up(struct redis_link *link, bool up)
{
    if (link->up == up)
        return;
    link->up = up;
    if (!link->freeing && link->fn != NULL)
        link->fn(link, up, link->arg);
}

static void redis_link_schedule(struct redis_link *link)
{
    struct timeval tv = timeval_ms(backoff_next(&link->backoff));

    if (link->freeing)
        return;
    evtimer_add(link->retry, &tv);
}

static void redis_link_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    redis_link_connect(arg);
}

static void redis_link_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct redis_link *link = arg;

    if (link->ac != NULL && !link->up)
        redis_link_reset(link, "connect timeout");
}

static void redis_link_handshake_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct redis_link *link = ac->data;
    redisReply *reply = r;
    const char *step = privdata;

    if (link == NULL || link->ac != ac)
        return;
    if (reply == NULL)
        return; /* disconnecting; the disconnect callback handles it */
    if (reply->type == REDIS_REPLY_ERROR) {
        log_msg(LOG_ERROR, "redis handshake failed", "link=%s step=%s error=%s", link->name, step,
                log_value(reply->str));
        redis_link_reset(link, "handshake failed");
        return;
    }
    if (strcmp(step, "ping") == 0) {
        evtimer_del(link->deadline);
        backoff_reset(&link->backoff);
        log_msg(LOG_INFO, "redis connected", "link=%s", link->name);
        redis_link_set_up(link, true);
    }
}

static void redis_link_connect_cb(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct redis_link *link = ac->data;

    if (link == NULL)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees ac after this callback */
        log_msg(LOG_WARN, "redis connect failed", "link=%s error=%s", link->name,
                log_value(ac->errstr[0] ? ac->errstr : "unknown"));
        link->ac = NULL;
        evtimer_del(link->deadline);
        redis_link_schedule(link);
        return;
    }
    if (!link->url.is_unix)
        redisEnableKeepAlive(&ac->c); /* notice a vanished host even when idle */
    if (link->url.password[0] != '\0') {
        if (link->url.user[0] != '\0')
            redisAsyncCommand(ac, redis_link_handshake_cb, "auth", "AUTH %s %s", link->url.user,
                              link->url.password);
        else
            redisAsyncCommand(ac, redis_link_handshake_cb, "auth", "AUTH %s", link->url.password);
    }
    if (link->url.db != 0)
        redisAsyncCommand(ac, redis_link_handshake_cb, "select", "SELECT %d", link->url.db);
    redisAsyncCommand(ac, redis_link_handshake_cb, "ping", "PING");
}

static void redis_link_disconnect_cb(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct redis_link *link = ac->data;

    if (link == NULL || link->ac != ac)
        return;
    /* hiredis frees ac after this callback */
    link->ac = NULL;
    evtimer_del(link->deadline);
    if (!link->freeing)
        log_msg(LOG_WARN, "redis disconnected", "link=%s error=%s", link->name,
                log_value(status == REDIS_OK ? "closed" : ac->errstr));
    redis_link_set_up(link, false);
    redis_link_schedule(link);
}

static void redis_link_connect(struct redis_link *link)
{
    struct timeval tv = timeval_ms(REDIS_CONNECT_TIMEOUT_MS);
    redisAsyncContext *ac;

    if (link->url.is_unix)
        ac = redisAsyncConnectUnix(link->url.path);
    else
        ac = redisAsyncConnect(link->url.host, link->url.port);
    if (ac == NULL || ac->err) {
        log_msg(LOG_WARN, "redis connect failed", "link=%s error=%s", link->name,
                log_value(ac ? ac->errstr : "out of memory"));
        if (ac != NULL)
            redisAsyncFree(ac);
        redis_link_schedule(link);
        return;
    }
    ac->data = link;
    if (redisLibeventAttach(ac, link->base) != REDIS_OK) {
        redisAsyncFree(ac);
        redis_link_schedule(link);
        return;
    }
    link->ac = ac;
    redisAsyncSetConnectCallback(ac, redis_link_connect_cb);
    redisAsyncSetDisconnectCallback(ac, redis_link_disconnect_cb);
    evtimer_add(link->deadline, &tv);
}

struct redis_link *redis_link_new(struct event_base *base, const struct redis_url *url,
                                  const char *name, redis_link_state_fn fn, void *arg)
{
    struct redis_link *link = calloc(1, sizeof(*link));

    if (link == NULL)
        return NULL;
    link->base = base;
    link->url = *url;
    snprintf(link->name, sizeof(link->name), "%s", name);
    link->fn = fn;
    link->arg = arg;
    backoff_init(&link->backoff, REDIS_BACKOFF_MIN_MS, REDIS_BACKOFF_MAX_MS);
    link->retry = evtimer_new(base, redis_link_retry_cb, link);
    link->deadline = evtimer_new(base, redis_link_deadline_cb, link);
    if (link->retry == NULL || link->deadline == NULL) {
        redis_link_free(link);
        return NULL;
    }
    redis_link_connect(link);
    return link;
}

redisAsyncContext *redis_link_ctx(struct redis_link *link)
{
    return link->up ? link->ac : NULL;
}

void redis_link_reset(struct redis_link *link, const char *why)
{
    redisAsyncContext *ac = link->ac;

    if (ac == NULL)
        return;
    log_msg(LOG_WARN, "redis link reset", "link=%s why=%s", link->name, log_value(why));
    link->ac = NULL;
    ac->data = NULL;
    evtimer_del(link->deadline);
    redis_link_set_up(link, false);
    /* redisAsyncFree runs pending callbacks with NULL replies; ours check ac->data. */
    redisAsyncFree(ac);
    redis_link_schedule(link);
}

void redis_link_free(struct redis_link *link)
{
    if (link == NULL)
        return;
    link->freeing = true;
    if (link->ac != NULL) {
        redisAsyncContext *ac = link->ac;
        link->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    if (link->retry != NULL)
        event_free(link->retry);
    if (link->deadline != NULL)
        event_free(link->deadline);
    free(link);
}
