/* See partcache.h. A linear search: a writer sees tens of partitions, rarely hundreds. */
#include "partcache.h"

#include <errno.h>
#include <stdlib.h>

void partcache_clear(struct partcache *c)
{
    c->n = c->next = c->last = 0;
}

bool partcache_covers(struct partcache *c, int64_t t_ms)
{
    if (c->last < c->n && c->r[c->last].lo_ms <= t_ms && t_ms < c->r[c->last].hi_ms)
        return true;
    for (size_t i = 0; i < c->n; i++) {
        if (c->r[i].lo_ms <= t_ms && t_ms < c->r[i].hi_ms) {
            c->last = i;
            return true;
        }
    }
    return false;
}

/* Parses one decimal integer at *p, moving *p past it; -1 when there is none. */
static int partcache_number(const char **p, int64_t *out)
{
    char *end;
    long long v;

    while (**p == ' ')
        (*p)++;
    errno = 0;
    v = strtoll(*p, &end, 10);
    if (end == *p || errno != 0 || (*end != ' ' && *end != '\0'))
        return -1;
    *p = end;
    *out = (int64_t)v;
    return 0;
}

int partcache_learn(struct partcache *c, const char *text)
{
    const char *p = text;
    int learned = 0;

    for (;;) {
        struct partcache_range r;
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return learned;
        if (partcache_number(&p, &r.lo_ms) != 0 || partcache_number(&p, &r.hi_ms) != 0 ||
            r.hi_ms <= r.lo_ms)
            return -1;
        if (c->n < PARTCACHE_MAX) {
            c->r[c->n++] = r;
        } else {
            c->r[c->next] = r;
            c->next = (c->next + 1) % PARTCACHE_MAX;
        }
        learned++;
    }
}
