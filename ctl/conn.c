/*
 * Reaching Redis and PostgreSQL for hookpipe-ctl with the synchronous hiredis and libpq
 * APIs, from the same [redis] and [postgres] keys the daemons read: Redis at url's host or
 * socket, or the master the [redis] sentinels name (asked in order, ROLE checked there).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "args.h"
#include "ctl.h"
#include "redis_url.h"
#include "sentinel.h"

#define CTL_REDIS_TIMEOUT_S 5    /* connect and every command */
#define CTL_SENTINEL_TIMEOUT_S 1 /* per sentinel: connect and answer */

void ctl_err(const char *fmt, ...)
{
    va_list ap;

    fputs(CTL_PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int64_t ctl_now_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

void ctl_event_time_where(const struct ctl *ctl, int64_t since_us, int64_t until_us, char *out,
                          size_t cap)
{
    const int64_t day_us = 86400LL * 1000000;
    char lo[48], hi[48];

    args_time_format(since_us - ctl->cfg->storage.event_time_past_days * day_us - day_us, lo,
                     sizeof(lo));
    args_time_format(until_us + ctl->cfg->storage.event_time_future_s * 1000000LL + day_us, hi,
                     sizeof(hi));
    snprintf(out, cap,
             "(event_time >= '%s' AND event_time < '%s' OR event_time < '1971-01-01 00:00:00+00')",
             lo, hi);
}

bool ctl_redis_ok(redisContext *rc, redisReply *reply, const char *what)
{
    if (reply == NULL) {
        ctl_err("redis: %s: %s", what, rc->errstr[0] ? rc->errstr : "connection lost");
        return false;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        ctl_err("redis: %s: %s", what, reply->str);
        freeReplyObject(reply);
        return false;
    }
    return true;
}

/*
 * Connects to one server (url's socket when host is NULL, else host:port), sends AUTH and
 * SELECT from url. NULL after one line naming the server.
 */
static redisContext *ctl_redis_open(const struct redis_url *url, const char *host, int port)
{
    struct timeval tv = {CTL_REDIS_TIMEOUT_S, 0};
    redisContext *rc;
    redisReply *reply;
    char where[SENTINEL_HOST_MAX + 16];

    if (host == NULL) {
        snprintf(where, sizeof(where), "%s", url->path);
        rc = redisConnectUnixWithTimeout(url->path, tv);
    } else {
        snprintf(where, sizeof(where), "%s:%d", host, port);
        rc = redisConnectWithTimeout(host, port, tv);
    }
    if (rc == NULL || rc->err) {
        ctl_err("redis: cannot connect to %s: %s", where,
                rc != NULL ? rc->errstr : "out of memory");
        goto fail;
    }
    if (redisSetTimeout(rc, tv) != REDIS_OK) {
        ctl_err("redis: cannot set a timeout on %s", where);
        goto fail;
    }
    if (url->password[0] != '\0') {
        if (url->user[0] != '\0')
            reply = redisCommand(rc, "AUTH %s %s", url->user, url->password);
        else
            reply = redisCommand(rc, "AUTH %s", url->password);
        if (!ctl_redis_ok(rc, reply, "AUTH"))
            goto fail;
        freeReplyObject(reply);
    }
    if (url->db != 0) {
        reply = redisCommand(rc, "SELECT %d", url->db);
        if (!ctl_redis_ok(rc, reply, "SELECT"))
            goto fail;
        freeReplyObject(reply);
    }
    return rc;
fail:
    if (rc != NULL)
        redisFree(rc);
    return NULL;
}

/*
 * Asks sentinel s for the master; on an address, connects there and checks with ROLE that
 * it is the master (the Sentinel client rules). NULL after one line: ask the next one.
 */
static redisContext *ctl_redis_via_sentinel(const struct redis_target *t,
                                            const struct sentinel_addr *s)
{
    struct timeval tv = {CTL_SENTINEL_TIMEOUT_S, 0};
    redisContext *sc = redisConnectWithTimeout(s->host, s->port, tv);
    redisContext *rc = NULL;
    redisReply *reply = NULL;
    char host[SENTINEL_HOST_MAX];
    int port = 0;
    enum sentinel_answer answer;

    if (sc == NULL || sc->err) {
        ctl_err("redis: sentinel %s:%d unreachable: %s", s->host, s->port,
                sc != NULL ? sc->errstr : "out of memory");
        goto done;
    }
    if (redisSetTimeout(sc, tv) != REDIS_OK) {
        ctl_err("redis: cannot set a timeout on sentinel %s:%d", s->host, s->port);
        goto done;
    }
    reply = redisCommand(sc, "SENTINEL get-master-addr-by-name %s", t->master_name);
    if (reply == NULL) {
        ctl_err("redis: sentinel %s:%d did not answer: %s", s->host, s->port,
                sc->errstr[0] ? sc->errstr : "connection lost");
        goto done;
    }
    answer = sentinel_parse_master(reply, host, sizeof(host), &port);
    if (answer != SENTINEL_ANSWER_ADDR) {
        ctl_err("redis: sentinel %s:%d names no master \"%s\"%s%s", s->host, s->port,
                t->master_name, reply->type == REDIS_REPLY_ERROR ? ": " : "",
                reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        goto done;
    }
    rc = ctl_redis_open(&t->url, host, port);
    if (rc == NULL)
        goto done;
    freeReplyObject(reply);
    reply = redisCommand(rc, "ROLE");
    if (reply == NULL || sentinel_parse_role(reply) != REDIS_ROLE_MASTER) {
        ctl_err("redis: sentinel %s:%d named %s:%d, which is %s, not the master", s->host, s->port,
                host, port,
                reply != NULL ? sentinel_role_name(sentinel_parse_role(reply)) : "unreachable");
        redisFree(rc);
        rc = NULL;
    }
done:
    if (reply != NULL)
        freeReplyObject(reply);
    if (sc != NULL)
        redisFree(sc);
    return rc;
}

redisContext *ctl_redis_connect(const struct ctl *ctl)
{
    const struct config_redis *r = &ctl->cfg->redis;
    struct redis_target t;
    const char *why;
    redisContext *rc = NULL;

    if (redis_target_parse(r->url, r->sentinels, r->master_name, &t, &why) < 0) {
        ctl_err("redis: bad [redis] settings: %s", why);
        goto done;
    }
    if (t.nsentinels == 0) {
        rc = ctl_redis_open(&t.url, t.url.is_unix ? NULL : t.url.host, t.url.port);
        goto done;
    }
    for (size_t i = 0; i < t.nsentinels && rc == NULL; i++)
        rc = ctl_redis_via_sentinel(&t, &t.sentinels[i]);
    if (rc == NULL)
        ctl_err("redis: master \"%s\" not found: none of the %zu sentinels named a usable "
                "master",
                t.master_name, t.nsentinels);
done:
    explicit_bzero(&t.url, sizeof(t.url));
    return rc;
}

PGconn *ctl_pg_connect(const struct ctl *ctl)
{
    /* keywords before dbname are defaults the expanded conninfo overrides */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {"10", CTL_PROG, ctl->cfg->postgres.conninfo, NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);

    if (pg == NULL) {
        ctl_err("postgres: out of memory");
        return NULL;
    }
    if (PQstatus(pg) != CONNECTION_OK) {
        char *msg = PQerrorMessage(pg);
        size_t n = strlen(msg);
        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            msg[--n] = '\0';
        for (char *c = msg; *c != '\0'; c++) {
            if (*c == '\n')
                *c = ' ';
        }
        ctl_err("postgres: cannot connect: %s", msg);
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

bool ctl_pg_ok(PGconn *pg, PGresult *res, const char *what)
{
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    const char *msg;
    size_t n;

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return true;
    msg = res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(pg);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    {
        const char *nl = memchr(msg, '\n', n);
        if (nl != NULL)
            n = (size_t)(nl - msg);
    }
    ctl_err("postgres: %s: %.*s", what, (int)n, msg);
    return false;
}

bool ctl_pg_query(PGconn *pg, PGresult **res, const char *what, const char *sql, int nparams,
                  const char *const *params, int binary)
{
    PQclear(*res);
    *res = PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, binary);
    return ctl_pg_ok(pg, *res, what);
}
