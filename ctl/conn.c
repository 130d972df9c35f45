/*
 * Reaching Redis and PostgreSQL for hookpipe-ctl with the synchronous hiredis and libpq
 * APIs, from the same [redis] and [postgres] keys the daemons read.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "ctl.h"
#include "redis_url.h"

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

redisContext *ctl_redis_connect(const struct ctl *ctl)
{
    struct redis_url url;
    const char *why;
    struct timeval tv = {5, 0};
    redisContext *rc = NULL;
    redisReply *reply;
    char where[300];

    if (redis_url_parse(ctl->cfg->redis.url, &url, &why) < 0) {
        ctl_err("redis: bad [redis] url: %s", why);
        goto fail;
    }
    if (url.is_unix) {
        snprintf(where, sizeof(where), "%s", url.path);
        rc = redisConnectUnixWithTimeout(url.path, tv);
    } else {
        snprintf(where, sizeof(where), "%s:%d", url.host, url.port);
        rc = redisConnectWithTimeout(url.host, url.port, tv);
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
    if (url.password[0] != '\0') {
        if (url.user[0] != '\0')
            reply = redisCommand(rc, "AUTH %s %s", url.user, url.password);
        else
            reply = redisCommand(rc, "AUTH %s", url.password);
        if (!ctl_redis_ok(rc, reply, "AUTH"))
            goto fail;
        freeReplyObject(reply);
    }
    if (url.db != 0) {
        reply = redisCommand(rc, "SELECT %d", url.db);
        if (!ctl_redis_ok(rc, reply, "SELECT"))
            goto fail;
        freeReplyObject(reply);
    }
    explicit_bzero(url.password, sizeof(url.password));
    return rc;
fail:
    explicit_bzero(url.password, sizeof(url.password));
    if (rc != NULL)
        redisFree(rc);
    return NULL;
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
