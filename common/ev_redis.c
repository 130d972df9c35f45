/*
 * Reconnecting Redis link over hiredis' async API and its libevent adapter.
 * hiredis frees the context itself after a failed connect or a disconnect, so the
 * link only forgets its pointer there and schedules a reconnect on a timer. With
 * Sentinel, each connect is a discovery round: ask the sentinels in turn, connect to the
 * master the first one names, check ROLE there; a sentinel that gives no master, or
 * names a server that is not one, passes the turn to the next (Redis' "Sentinel clients"
 * guidelines). Once up, a sentinel watch (ev_sentinel.c) reports the master the sentinels
 * name; another address than ours drops the link and starts a discovery at once, within a
 * second of their decision rather than when the old master is demoted. Pure rules are in
 * sentinel.c.
 */
#include "ev_redis.h"

#include <hiredis/sds.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "backoff.h"
#include "ev_hiredis.h"
#include "ev_sentinel.h"
#include "log.h"
#include "timeutil.h"

#define REDIS_BACKOFF_MIN_MS 50
#define REDIS_BACKOFF_MAX_MS 1000
#define REDIS_CONNECT_TIMEOUT_MS 2000
#define REDIS_SENTINEL_TIMEOUT_MS 1000 /* per sentinel: connect and answer */
#define REDIS_ROLE_CHECK_MS 1000       /* with Sentinel: ROLE asked this often while up */

struct redis_link {
    struct event_base *base;
    struct redis_target target;       /* url (credentials, db) and the sentinels */
    char name[64];                    /* for log lines */
    redisAsyncContext *ac;            /* current context, NULL while waiting to reconnect */
    redisAsyncContext *sac;           /* the sentinel being asked, NULL when none */
    size_t sentinel_i;                /* index of the sentinel asked (or that named the master) */
    size_t sentinel_tried;            /* sentinels asked in this discovery round */
    char addr[SENTINEL_HOST_MAX + 8]; /* "host:port" of the server, for log lines */
    char host[SENTINEL_HOST_MAX];     /* the server a sentinel named ("" = url's) */
    int port;                         /* and its port */
    bool up;                          /* handshake done */
    bool freeing;                     /* redis_link_free in progress: no reconnect, no callbacks */
    bool role_inflight;               /* the periodic ROLE awaits its reply */
    struct backoff backoff;           /* reconnect delays */
    struct event *retry;              /* reconnect timer */
    struct event *deadline;           /* connect + handshake (or sentinel answer) timeout */
    struct event *role_ev;            /* periodic ROLE check (Sentinel only) */
    struct sentinel_watch *watch;     /* hears the sentinels move the master (Sentinel only) */
    redis_link_state_fn fn;
    void *arg;
};

static void redis_link_connect(struct redis_link *link);
static void redis_link_ask_sentinel(struct redis_link *link);

static bool redis_link_sentinel_mode(const struct redis_link *link)
{
    return link->target.nsentinels > 0;
}

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

/* Frees the current server context, if any, without scheduling anything. */
static void redis_link_close(struct redis_link *link)
{
    redisAsyncContext *ac = link->ac;

    link->ac = NULL;
    link->role_inflight = false;
    evtimer_del(link->deadline);
    evtimer_del(link->role_ev);
    redis_link_set_up(link, false);
    if (ac != NULL) {
        ac->data = NULL;
        /* redisAsyncFree runs pending callbacks with NULL replies; ours check ac->data. */
        redisAsyncFree(ac);
    }
}

/* Frees the sentinel context, if any (inside its own callback hiredis defers the free). */
static void redis_link_drop_sentinel(struct redis_link *link)
{
    redisAsyncContext *sac = link->sac;

    if (sac == NULL)
        return;
    link->sac = NULL;
    sac->data = NULL;
    redisAsyncFree(sac);
}

static const char *redis_link_sentinel_addr(const struct redis_link *link, char *buf, size_t len)
{
    const struct sentinel_addr *s = &link->target.sentinels[link->sentinel_i];

    snprintf(buf, len, "%s:%d", s->host, s->port);
    return buf;
}

/*
 * The sentinel asked (link->sentinel_i) gave no usable master: ask the next one, or after
 * a full round wait for the backoff and start again.
 */
static void redis_link_sentinel_failed(struct redis_link *link, const char *what, const char *why)
{
    char sa[SENTINEL_HOST_MAX + 8];

    log_msg(LOG_WARN, what, "link=%s sentinel=%s master_name=%s error=%s", link->name,
            redis_link_sentinel_addr(link, sa, sizeof(sa)), log_value(link->target.master_name),
            log_value(why));
    evtimer_del(link->deadline);
    if (++link->sentinel_tried >= link->target.nsentinels) {
        log_msg(LOG_ERROR, "redis master not found: no sentinel named a usable master",
                "link=%s master_name=%s sentinels=%zu", link->name,
                log_value(link->target.master_name), link->target.nsentinels);
        redis_link_schedule(link);
        return;
    }
    link->sentinel_i = sentinel_next(link->sentinel_i, link->target.nsentinels);
    redis_link_ask_sentinel(link);
}

static void redis_link_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct redis_link *link = arg;

    if (link->sac != NULL) {
        redis_link_drop_sentinel(link);
        redis_link_sentinel_failed(link, "redis sentinel did not answer", "timeout");
    } else if (link->ac != NULL && !link->up) {
        redis_link_reset(link, "connect timeout");
    }
}

static void redis_link_role_check_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct redis_link *link = ac->data;
    redisReply *reply = r;
    enum redis_role role;

    if (link == NULL || link->ac != ac || reply == NULL)
        return;
    link->role_inflight = false;
    role = sentinel_parse_role(reply);
    if (role != REDIS_ROLE_MASTER) {
        log_msg(LOG_WARN, "redis server is no longer the master", "link=%s addr=%s role=%s",
                link->name, log_value(link->addr), sentinel_role_name(role));
        redis_link_reset(link, "not the master any more");
    }
}

static void redis_link_role_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct redis_link *link = arg;

    if (!link->up || link->ac == NULL || link->role_inflight)
        return;
    if (redisAsyncCommand(link->ac, redis_link_role_check_cb, NULL, "ROLE") == REDIS_OK)
        link->role_inflight = true;
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
        log_msg(LOG_ERROR, "redis handshake failed", "link=%s addr=%s step=%s error=%s", link->name,
                log_value(link->addr), step, log_value(reply->str));
        redis_link_reset(link, "handshake failed");
        return;
    }
    if (strcmp(step, "role") == 0) {
        enum redis_role role = sentinel_parse_role(reply);
        if (role != REDIS_ROLE_MASTER) {
            char why[SENTINEL_HOST_MAX + 64];
            snprintf(why, sizeof(why), "it named %s, whose ROLE is %s", link->addr,
                     sentinel_role_name(role));
            redis_link_close(link);
            redis_link_sentinel_failed(link, "redis sentinel named a server that is not the master",
                                       why);
        }
        return;
    }
    if (strcmp(step, "ping") == 0) {
        struct timeval tv = timeval_ms(REDIS_ROLE_CHECK_MS);
        evtimer_del(link->deadline);
        backoff_reset(&link->backoff);
        if (redis_link_sentinel_mode(link)) {
            char sa[SENTINEL_HOST_MAX + 8];
            log_msg(LOG_INFO, "redis connected", "link=%s addr=%s master_name=%s sentinel=%s",
                    link->name, log_value(link->addr), log_value(link->target.master_name),
                    redis_link_sentinel_addr(link, sa, sizeof(sa)));
            sentinel_promote(&link->target, link->sentinel_i);
            link->sentinel_i = 0;
            evtimer_add(link->role_ev, &tv);
            sentinel_watch_follow(link->watch); /* through the sentinel that named it */
        } else {
            log_msg(LOG_INFO, "redis connected", "link=%s", link->name);
        }
        redis_link_set_up(link, true);
    }
}

static void redis_link_connect_cb(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct redis_link *link = ac->data;
    const struct redis_url *url;

    if (link == NULL)
        return;
    url = &link->target.url;
    if (status != REDIS_OK) {
        /* hiredis frees ac after this callback */
        log_msg(LOG_WARN, "redis connect failed", "link=%s addr=%s error=%s", link->name,
                log_value(link->addr), log_value(ac->errstr[0] ? ac->errstr : "unknown"));
        link->ac = NULL;
        evtimer_del(link->deadline);
        redis_link_schedule(link);
        return;
    }
    if (!url->is_unix)
        redisEnableKeepAlive(&ac->c); /* notice a vanished host even when idle */
    if (url->password[0] != '\0') {
        if (url->user[0] != '\0')
            redisAsyncCommand(ac, redis_link_handshake_cb, "auth", "AUTH %s %s", url->user,
                              url->password);
        else
            redisAsyncCommand(ac, redis_link_handshake_cb, "auth", "AUTH %s", url->password);
    }
    if (url->db != 0)
        redisAsyncCommand(ac, redis_link_handshake_cb, "select", "SELECT %d", url->db);
    if (redis_link_sentinel_mode(link))
        redisAsyncCommand(ac, redis_link_handshake_cb, "role", "ROLE");
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
    link->role_inflight = false;
    evtimer_del(link->deadline);
    evtimer_del(link->role_ev);
    if (!link->freeing)
        log_msg(LOG_WARN, "redis disconnected", "link=%s addr=%s error=%s", link->name,
                log_value(link->addr), log_value(status == REDIS_OK ? "closed" : ac->errstr));
    redis_link_set_up(link, false);
    redis_link_schedule(link);
}

/* Connects to the server: url's host or socket, or host:port as a sentinel named it. */
static void redis_link_connect_server(struct redis_link *link, const char *host, int port)
{
    struct timeval tv = timeval_ms(REDIS_CONNECT_TIMEOUT_MS);
    const struct redis_url *url = &link->target.url;
    char err[128];

    if (host == NULL)
        snprintf(link->addr, sizeof(link->addr), "%s", url->path);
    else
        snprintf(link->addr, sizeof(link->addr), "%s:%d", host, port);
    snprintf(link->host, sizeof(link->host), "%s", host != NULL ? host : "");
    link->port = port;
    link->ac = ev_hiredis_connect(link->base, host, port, url->path, link, redis_link_connect_cb,
                                  redis_link_disconnect_cb, err, sizeof(err));
    if (link->ac == NULL) {
        log_msg(LOG_WARN, "redis connect failed", "link=%s addr=%s error=%s", link->name,
                log_value(link->addr), log_value(err));
        redis_link_schedule(link);
        return;
    }
    evtimer_add(link->deadline, &tv);
}

static void redis_link_sentinel_reply_cb(redisAsyncContext *sac, void *r, void *privdata)
{
    struct redis_link *link = sac->data;
    char host[SENTINEL_HOST_MAX];
    int port = 0;
    enum sentinel_answer answer;

    if (link == NULL || link->sac != sac || r == NULL)
        return; /* a NULL reply: the disconnect callback handles it */
    answer = sentinel_parse_master(r, host, sizeof(host), &port);
    if (answer == SENTINEL_ANSWER_ERROR) {
        /* copy before the free: the reply goes with the context */
        char err[128];
        snprintf(err, sizeof(err), "%s", ((redisReply *)r)->str);
        redis_link_drop_sentinel(link);
        redis_link_sentinel_failed(link, "redis sentinel refused the question", err);
        return;
    }
    redis_link_drop_sentinel(link);
    if (answer == SENTINEL_ANSWER_UNKNOWN) {
        redis_link_sentinel_failed(link, "redis sentinel does not know the master",
                                   "no master of that name (check master_name)");
        return;
    }
    if (answer != SENTINEL_ANSWER_ADDR) {
        redis_link_sentinel_failed(link, "redis sentinel gave a malformed answer",
                                   "not a host and port");
        return;
    }
    evtimer_del(link->deadline);
    redis_link_connect_server(link, host, port);
}

static void redis_link_sentinel_connect_cb(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *sac = (redisAsyncContext *)cac;
    struct redis_link *link = sac->data;

    if (link == NULL || link->sac != sac || status == REDIS_OK)
        return;
    /* hiredis frees sac after this callback */
    link->sac = NULL;
    redis_link_sentinel_failed(link, "redis sentinel unreachable",
                               sac->errstr[0] ? sac->errstr : "connect failed");
}

static void redis_link_sentinel_disconnect_cb(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *sac = (redisAsyncContext *)cac;
    struct redis_link *link = sac->data;

    if (link == NULL || link->sac != sac)
        return;
    link->sac = NULL;
    redis_link_sentinel_failed(link, "redis sentinel closed the connection",
                               status == REDIS_OK ? "closed" : sac->errstr);
}

/* Asks sentinel link->sentinel_i for the master's address. */
static void redis_link_ask_sentinel(struct redis_link *link)
{
    const struct sentinel_addr *s = &link->target.sentinels[link->sentinel_i];
    struct timeval tv = timeval_ms(REDIS_SENTINEL_TIMEOUT_MS);
    char err[128];

    link->sac =
        ev_hiredis_connect(link->base, s->host, s->port, NULL, link, redis_link_sentinel_connect_cb,
                           redis_link_sentinel_disconnect_cb, err, sizeof(err));
    if (link->sac == NULL) {
        redis_link_sentinel_failed(link, "redis sentinel unreachable", err);
        return;
    }
    /* queued until the connection is up */
    if (redisAsyncCommand(link->sac, redis_link_sentinel_reply_cb, NULL,
                          "SENTINEL get-master-addr-by-name %s",
                          link->target.master_name) != REDIS_OK) {
        redis_link_drop_sentinel(link);
        redis_link_sentinel_failed(link, "redis sentinel unreachable", "cannot send");
        return;
    }
    evtimer_add(link->deadline, &tv);
}

static void redis_link_connect(struct redis_link *link)
{
    const struct redis_url *url = &link->target.url;

    if (!redis_link_sentinel_mode(link)) {
        redis_link_connect_server(link, url->is_unix ? NULL : url->host, url->port);
        return;
    }
    link->sentinel_i = 0;
    link->sentinel_tried = 0;
    redis_link_ask_sentinel(link);
}

/*
 * The sentinel watch names the master. While the link has a server (up, or in its
 * handshake) and that is another one, the link is dropped and a discovery starts on the
 * next loop turn, without the backoff: pending commands get NULL replies (their senders
 * fail them as for any reset), and the discovery still checks ROLE on what it is told.
 * Without a server the link is discovering or waiting to, and will ask the sentinels anyway.
 */
static void redis_link_master_named(void *arg, const char *host, int port, const char *via)
{
    struct redis_link *link = arg;
    static const struct timeval now = {0, 0};
    char named[SENTINEL_HOST_MAX + 8];

    if (link->ac == NULL || (port == link->port && strcmp(host, link->host) == 0))
        return;
    snprintf(named, sizeof(named), "%s:%d", host, port);
    log_msg(LOG_WARN, "redis master moved", "link=%s addr=%s new=%s via=%s", link->name,
            log_value(link->addr), log_value(named), via);
    redis_link_close(link);
    evtimer_add(link->retry, &now);
}

struct redis_link *redis_link_new(struct event_base *base, const struct redis_target *target,
                                  const char *name, redis_link_state_fn fn, void *arg)
{
    struct redis_link *link = calloc(1, sizeof(*link));

    if (link == NULL)
        return NULL;
    link->base = base;
    link->target = *target;
    snprintf(link->name, sizeof(link->name), "%s", name);
    link->fn = fn;
    link->arg = arg;
    backoff_init(&link->backoff, REDIS_BACKOFF_MIN_MS, REDIS_BACKOFF_MAX_MS);
    link->retry = evtimer_new(base, redis_link_retry_cb, link);
    link->deadline = evtimer_new(base, redis_link_deadline_cb, link);
    link->role_ev = event_new(base, -1, EV_PERSIST, redis_link_role_timer_cb, link);
    if (redis_link_sentinel_mode(link))
        link->watch =
            sentinel_watch_new(base, &link->target, link->name, redis_link_master_named, link);
    if (link->retry == NULL || link->deadline == NULL || link->role_ev == NULL ||
        (redis_link_sentinel_mode(link) && link->watch == NULL)) {
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

bool redis_link_behind(struct redis_link *link)
{
    redisAsyncContext *ac = redis_link_ctx(link);
    struct pollfd pfd;
    int unread = 0;

    if (ac == NULL || ac->c.fd < 0)
        return false;
    pfd.fd = ac->c.fd;
    pfd.events = POLLOUT;
    pfd.revents = 0;
    /* unsent while the socket would take it (a full socket is the server not reading) */
    if (ac->c.obuf != NULL && sdslen(ac->c.obuf) > 0 && poll(&pfd, 1, 0) == 1 &&
        (pfd.revents & POLLOUT))
        return true;
    return ioctl(ac->c.fd, FIONREAD, &unread) == 0 && unread > 0;
}

void redis_link_saw_error(struct redis_link *link, const char *error)
{
    if (sentinel_is_readonly(error) && link->ac != NULL)
        redis_link_reset(link, "READONLY reply: the server is a replica now");
}

void redis_link_reset(struct redis_link *link, const char *why)
{
    if (link->ac == NULL)
        return;
    log_msg(LOG_WARN, "redis link reset", "link=%s addr=%s why=%s", link->name,
            log_value(link->addr), log_value(why));
    redis_link_close(link);
    redis_link_schedule(link);
}

void redis_link_free(struct redis_link *link)
{
    if (link == NULL)
        return;
    link->freeing = true;
    sentinel_watch_free(link->watch);
    redis_link_drop_sentinel(link);
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
    if (link->role_ev != NULL)
        event_free(link->role_ev);
    free(link);
}
