/*
 * Sentinel client rules without sockets (see sentinel.h): parsing [redis] sentinels and
 * the replies a discovery reads, so ev_redis.c only sequences the commands.
 */
#include "sentinel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hostport.h"

/* Parses one "host:port" of the list (n bytes at s). */
static int sentinel_addr_parse(const char *s, size_t n, struct sentinel_addr *out)
{
    const char *why;

    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (hostport_split(s, n, out->host, sizeof(out->host), &out->port, -1, &why) < 0)
        return -1;
    return out->host[0] == '\0' || out->port == 0 ? -1 : 0;
}

/* A failed parse: key is the [redis] key at fault. Returns -1. */
static int redis_target_fail(struct redis_target *out, const char *key, const char **why,
                             const char *reason)
{
    out->bad_key = key;
    if (reason != NULL)
        *why = reason;
    return -1;
}

int redis_target_parse(const char *url, const char *sentinels, const char *master_name,
                       struct redis_target *out, const char **why)
{
    const char *p = sentinels;

    memset(out, 0, sizeof(*out));
    if (redis_url_parse(url, &out->url, why) < 0)
        return redis_target_fail(out, "url", why, NULL);
    if (sentinels[0] == '\0') {
        if (master_name[0] != '\0')
            return redis_target_fail(out, "master_name", why, "master_name needs sentinels");
        return 0;
    }
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (out->nsentinels == SENTINEL_MAX)
            return redis_target_fail(out, "sentinels", why, "too many sentinels (at most 16)");
        if (sentinel_addr_parse(p, n, &out->sentinels[out->nsentinels]) < 0)
            return redis_target_fail(out, "sentinels", why,
                                     "bad sentinel address (want host:port[,host:port...])");
        out->nsentinels++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (master_name[0] == '\0')
        return redis_target_fail(out, "sentinels", why, "sentinels need master_name");
    if (strlen(master_name) >= sizeof(out->master_name) || strpbrk(master_name, " \t\r\n"))
        return redis_target_fail(out, "master_name", why,
                                 "bad master_name (no spaces, at most 127 bytes)");
    if (out->url.is_unix)
        return redis_target_fail(out, "url", why,
                                 "with sentinels, url gives credentials and db only and must be "
                                 "redis://");
    strcpy(out->master_name, master_name);
    return 0;
}

/* A port as Redis writes one: 1..65535 in decimal, n bytes at s. */
static bool sentinel_port_parse(const char *s, size_t n, int *port)
{
    char buf[8];
    char *end;
    long v;

    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    v = strtol(buf, &end, 10);
    if (*end != '\0' || errno != 0 || v < 1 || v > 65535 || buf[0] < '0' || buf[0] > '9')
        return false;
    *port = (int)v;
    return true;
}

/* Copies a host (n bytes at s) into host[hostlen]; false when empty, too long or with a NUL. */
static bool sentinel_host_copy(const char *s, size_t n, char *host, size_t hostlen)
{
    if (n == 0 || n >= hostlen || memchr(s, '\0', n) != NULL)
        return false;
    memcpy(host, s, n);
    host[n] = '\0';
    return true;
}

enum sentinel_answer sentinel_parse_master(const redisReply *r, char *host, size_t hostlen,
                                           int *port)
{
    int v;

    if (r == NULL)
        return SENTINEL_ANSWER_BAD;
    if (r->type == REDIS_REPLY_NIL)
        return SENTINEL_ANSWER_UNKNOWN;
    if (r->type == REDIS_REPLY_ERROR)
        return SENTINEL_ANSWER_ERROR;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        return SENTINEL_ANSWER_BAD;
    for (size_t i = 0; i < 2; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING)
            return SENTINEL_ANSWER_BAD;
    }
    if (!sentinel_port_parse(r->element[1]->str, r->element[1]->len, &v) ||
        !sentinel_host_copy(r->element[0]->str, r->element[0]->len, host, hostlen))
        return SENTINEL_ANSWER_BAD;
    *port = v;
    return SENTINEL_ANSWER_ADDR;
}

enum sentinel_switch sentinel_parse_switch(const char *msg, size_t len, const char *master_name,
                                           char *host, size_t hostlen, int *port)
{
    const char *field[5];
    size_t flen[5];
    size_t n = 0;
    const char *p = msg, *end = msg + len;
    int old_port, new_port;

    /* five fields, one space apart; IPv6 addresses have colons, never spaces */
    while (n < 5) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        field[n] = p;
        flen[n] = (size_t)((sp != NULL ? sp : end) - p);
        if (flen[n] == 0)
            return SENTINEL_SWITCH_BAD;
        n++;
        if (sp == NULL)
            break;
        p = sp + 1;
    }
    if (n != 5 || field[4] + flen[4] != end)
        return SENTINEL_SWITCH_BAD;
    if (!sentinel_port_parse(field[2], flen[2], &old_port) ||
        !sentinel_port_parse(field[4], flen[4], &new_port))
        return SENTINEL_SWITCH_BAD;
    if (flen[0] != strlen(master_name) || memcmp(field[0], master_name, flen[0]) != 0)
        return SENTINEL_SWITCH_OTHER;
    if (!sentinel_host_copy(field[3], flen[3], host, hostlen))
        return SENTINEL_SWITCH_BAD;
    *port = new_port;
    return SENTINEL_SWITCH_OURS;
}

/* True when r is a string reply equal to the NUL-terminated s. */
static bool sentinel_reply_is(const redisReply *r, const char *s)
{
    return r->type == REDIS_REPLY_STRING && r->len == strlen(s) && memcmp(r->str, s, r->len) == 0;
}

enum sentinel_pubsub sentinel_parse_pubsub(const redisReply *r, const redisReply **payload)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
        return SENTINEL_PUBSUB_OTHER;
    if (sentinel_reply_is(r->element[0], "subscribe"))
        return SENTINEL_PUBSUB_SUBSCRIBED;
    if (sentinel_reply_is(r->element[0], "message") && r->element[2]->type == REDIS_REPLY_STRING) {
        *payload = r->element[2];
        return SENTINEL_PUBSUB_MESSAGE;
    }
    return SENTINEL_PUBSUB_OTHER;
}

enum redis_role sentinel_parse_role(const redisReply *r)
{
    const redisReply *e;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        return REDIS_ROLE_UNKNOWN;
    e = r->element[0];
    if (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS)
        return REDIS_ROLE_UNKNOWN;
    if (e->len == 6 && memcmp(e->str, "master", 6) == 0)
        return REDIS_ROLE_MASTER;
    if (e->len == 5 && memcmp(e->str, "slave", 5) == 0)
        return REDIS_ROLE_REPLICA;
    if (e->len == 8 && memcmp(e->str, "sentinel", 8) == 0)
        return REDIS_ROLE_SENTINEL;
    return REDIS_ROLE_UNKNOWN;
}

const char *sentinel_role_name(enum redis_role role)
{
    switch (role) {
    case REDIS_ROLE_MASTER:
        return "master";
    case REDIS_ROLE_REPLICA:
        return "replica";
    case REDIS_ROLE_SENTINEL:
        return "sentinel";
    case REDIS_ROLE_UNKNOWN:
        break;
    }
    return "unknown";
}

bool sentinel_is_readonly(const char *error)
{
    return error != NULL && strncmp(error, "READONLY", 8) == 0;
}

size_t sentinel_next(size_t i, size_t n)
{
    return n == 0 ? 0 : (i + 1) % n;
}

void sentinel_promote(struct redis_target *t, size_t i)
{
    struct sentinel_addr a;

    if (i == 0 || i >= t->nsentinels)
        return;
    a = t->sentinels[i];
    memmove(&t->sentinels[1], &t->sentinels[0], i * sizeof(a));
    t->sentinels[0] = a;
}
