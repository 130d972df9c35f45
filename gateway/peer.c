/* The per-address table (see peer.h): chained hash buckets over a fixed pool of entries. */
#include "peer.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct peer {
    struct cidr_addr key; /* the address, an IPv6 one cut to its /64 */
    struct peer *next;    /* in its bucket, or in the free list */
    long conns;           /* open connections */
    long failures;        /* failed credentials since failed_at - penalty_s */
    double failed_at;     /* last failure (monotonic s) */
    double penalty_until; /* requests needing credentials get 429 until then */
};

static pthread_mutex_t peer_lock = PTHREAD_MUTEX_INITIALIZER;
static struct peer **peer_buckets;
static size_t peer_nbuckets; /* a power of two */
static struct peer *peer_pool;
static struct peer *peer_free_list;
static struct peer_limits peer_limits;
static double peer_swept_at;

static const uint8_t peer_v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void peer_key(const struct cidr_addr *addr, struct cidr_addr *key)
{
    *key = *addr;
    if (memcmp(addr->b, peer_v4_prefix, sizeof(peer_v4_prefix)) != 0)
        memset(key->b + 8, 0, 8); /* an IPv6 host: its /64 */
}

static size_t peer_hash(const struct cidr_addr *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (size_t i = 0; i < sizeof(key->b); i++)
        h = (h ^ key->b[i]) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 29)) & (peer_nbuckets - 1);
}

int peer_init(long max_connections, const struct peer_limits *limits)
{
    size_t n = (size_t)max_connections + PEER_FAILURE_SLOTS;

    peer_nbuckets = 1;
    while (peer_nbuckets < n)
        peer_nbuckets <<= 1;
    peer_buckets = calloc(peer_nbuckets, sizeof(*peer_buckets));
    peer_pool = calloc(n, sizeof(*peer_pool));
    if (peer_buckets == NULL || peer_pool == NULL) {
        peer_free();
        return -1;
    }
    peer_free_list = NULL;
    for (size_t i = n; i-- > 0;) {
        peer_pool[i].next = peer_free_list;
        peer_free_list = &peer_pool[i];
    }
    peer_limits = *limits;
    peer_swept_at = 0;
    return 0;
}

void peer_free(void)
{
    free(peer_buckets);
    free(peer_pool);
    peer_buckets = NULL;
    peer_pool = NULL;
    peer_free_list = NULL;
    peer_nbuckets = 0;
}

/* An entry that holds no connection and whose failures and penalty are over is forgettable. */
static bool peer_stale(const struct peer *p, double now)
{
    return p->conns == 0 && now >= p->penalty_until &&
           (p->failures == 0 || now - p->failed_at > (double)peer_limits.penalty_s);
}

/* Returns every stale entry to the free list (when it ran dry; at most once a second). */
static void peer_sweep(double now)
{
    if (now - peer_swept_at < 1.0)
        return;
    peer_swept_at = now;
    for (size_t b = 0; b < peer_nbuckets; b++) {
        for (struct peer **pp = &peer_buckets[b]; *pp != NULL;) {
            struct peer *p = *pp;
            if (peer_stale(p, now)) {
                *pp = p->next;
                p->next = peer_free_list;
                peer_free_list = p;
            } else {
                pp = &p->next;
            }
        }
    }
}

/* addr's entry; created when create (NULL when the table is full). Under peer_lock. */
static struct peer *peer_find(const struct cidr_addr *addr, bool create, double now)
{
    struct cidr_addr key;
    struct peer *p;
    size_t h;

    if (peer_buckets == NULL)
        return NULL;
    peer_key(addr, &key);
    h = peer_hash(&key);
    for (p = peer_buckets[h]; p != NULL; p = p->next)
        if (memcmp(&p->key, &key, sizeof(key)) == 0)
            return p;
    if (!create)
        return NULL;
    if (peer_free_list == NULL)
        peer_sweep(now);
    p = peer_free_list;
    if (p == NULL)
        return NULL;
    peer_free_list = p->next;
    memset(p, 0, sizeof(*p));
    p->key = key;
    p->next = peer_buckets[h];
    peer_buckets[h] = p;
    return p;
}

bool peer_connect(const struct cidr_addr *addr, double now, bool *tracked)
{
    bool ok = true;

    *tracked = false;
    pthread_mutex_lock(&peer_lock);
    struct peer *p = peer_find(addr, true, now);
    if (p != NULL) {
        if (peer_limits.max_connections > 0 && p->conns >= peer_limits.max_connections) {
            ok = false;
        } else {
            p->conns++;
            *tracked = true;
        }
    }
    pthread_mutex_unlock(&peer_lock);
    return ok;
}

void peer_disconnect(const struct cidr_addr *addr)
{
    pthread_mutex_lock(&peer_lock);
    struct peer *p = peer_find(addr, false, 0);
    if (p != NULL && p->conns > 0)
        p->conns--;
    pthread_mutex_unlock(&peer_lock);
}

long peer_penalty(const struct cidr_addr *addr, double now)
{
    long left = 0;

    if (peer_limits.failure_limit == 0)
        return 0;
    pthread_mutex_lock(&peer_lock);
    struct peer *p = peer_find(addr, false, now);
    if (p != NULL && now < p->penalty_until)
        left = (long)(p->penalty_until - now) + 1; /* whole seconds, rounded up */
    pthread_mutex_unlock(&peer_lock);
    return left;
}

long peer_failed(const struct cidr_addr *addr, double now)
{
    long penalty = 0;

    if (peer_limits.failure_limit == 0)
        return 0;
    pthread_mutex_lock(&peer_lock);
    struct peer *p = peer_find(addr, true, now);
    if (p != NULL) {
        if (now - p->failed_at > (double)peer_limits.penalty_s)
            p->failures = 0; /* the earlier ones are forgotten */
        p->failed_at = now;
        if (++p->failures >= peer_limits.failure_limit) {
            p->failures = 0;
            p->penalty_until = now + (double)peer_limits.penalty_s;
            penalty = peer_limits.penalty_s;
        }
    }
    pthread_mutex_unlock(&peer_lock);
    return penalty;
}
