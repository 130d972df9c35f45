/*
 * Unit tests for writer/partcache.c: learning ranges from ensure_partitions' text, lookups
 * at the bounds, malformed text, forgetting, and a full cache.
 */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "partcache.h"

int main(void)
{
    struct partcache *c = calloc(1, sizeof(*c));

    CHECK(c != NULL);
    if (c == NULL)
        return 1;
    CHECK(!partcache_covers(c, 0));
    CHECK(partcache_learn(c, "") == 0);
    CHECK(partcache_learn(c, "0 31536000000 1796428800000 1796515200000") == 2);
    CHECK(partcache_covers(c, 0));             /* the undated partition from 0 */
    CHECK(partcache_covers(c, 31535999999));   /* last ms of 1970 */
    CHECK(!partcache_covers(c, 31536000000));  /* hi is exclusive */
    CHECK(partcache_covers(c, 1796428800000)); /* lo is inclusive */
    CHECK(partcache_covers(c, 1796515199999));
    CHECK(!partcache_covers(c, 1796515200000));
    CHECK(!partcache_covers(c, -1));

    /* malformed: what came before the bad token is learned, the rest is not */
    CHECK(partcache_learn(c, "100 200 300") == -1);
    CHECK(partcache_covers(c, 150));
    CHECK(partcache_learn(c, "5x 10") == -1);
    CHECK(partcache_learn(c, "20 10") == -1); /* empty range */
    CHECK(partcache_learn(c, "99999999999999999999 1") == -1);

    partcache_clear(c);
    CHECK(!partcache_covers(c, 0));

    /* full: the oldest learned are overwritten, lookups stay right for what is kept */
    for (long i = 0; i < PARTCACHE_MAX + 10; i++) {
        char text[64];
        snprintf(text, sizeof(text), "%ld %ld", i * 10, i * 10 + 10);
        CHECK(partcache_learn(c, text) == 1);
    }
    CHECK(c->n == PARTCACHE_MAX);
    CHECK(!partcache_covers(c, 5));                            /* overwritten */
    CHECK(partcache_covers(c, (PARTCACHE_MAX + 9) * 10L + 5)); /* newest */
    CHECK(partcache_covers(c, 10 * 10L + 5));                  /* kept */
    free(c);
    return check_summary("test_partcache");
}
