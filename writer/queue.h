/*
 * The writer's side of the queue contract (docs/design.md "Queue contract"): key names and
 * the Lua scripts that claim, recover and measure atomically inside Redis. Pure data,
 * no I/O. Every script works on a Redis full to maxmemory under noeviction: the claim
 * and the recovery start with a write that is no deny-oom command (see queue.c), and
 * release, bye and gauges use none.
 *
 * Keys, for queue Q and writer name N:
 *   Q                   the queue; the gateway LPUSHes, writers take from the right
 *   Q:processing:N      N's claimed items, oldest at the left (FIFO order kept)
 *   Q:writer:N          N's heartbeat (SET … EX heartbeat_ttl_s)
 *   Q:writers           set of writer names that may own a processing list
 */
#ifndef HOOKPIPE_QUEUE_H
#define HOOKPIPE_QUEUE_H

#include <stddef.h>

#define QUEUE_KEY_MAX 640

struct queue_keys {
    char queue[QUEUE_KEY_MAX];      /* Q */
    char processing[QUEUE_KEY_MAX]; /* Q:processing:N */
    char heartbeat[QUEUE_KEY_MAX];  /* Q:writer:N */
    char writers[QUEUE_KEY_MAX];    /* Q:writers */
};

/* Fills keys for queue and writer name (another writer's name for recovery). */
void queue_keys_init(struct queue_keys *keys, const char *queue, const char *name);

/*
 * KEYS: Q, Q:processing:N, Q:writer:N, Q:writers; ARGV: count, N, ttl.
 * Moves up to count items from the right end of Q to the right end of the processing
 * list (oldest first) and returns them in that order; refreshes N's heartbeat and
 * registration. A count of 0 is the heartbeat alone. Works with Redis at maxmemory
 * (noeviction), so a full queue can drain.
 */
extern const char queue_script_claim[];

/*
 * KEYS: Q:writer:M, Q:processing:M, Q, Q:writers; ARGV: M.
 * If M's heartbeat has expired, moves M's processing list back to the RIGHT end of Q
 * so its oldest item is taken first again, forgets M and returns the count; returns -1
 * when M is alive. Works with Redis at maxmemory (noeviction).
 */
extern const char queue_script_recover[];

/*
 * KEYS: Q:processing:N; ARGV: count, first item, last item.
 * Removes the count items at the front of N's processing list (a stored batch; a
 * prefetched one may follow) if the list still starts with that batch, and returns
 * count; returns -1, touching nothing, when it does not (another writer recovered it).
 */
extern const char queue_script_release[];

/*
 * KEYS: Q:processing:N, Q:writer:N, Q:writers; ARGV: N.
 * A stopping writer forgets itself (heartbeat, registration) only when its processing
 * list is empty; otherwise the list stays findable and is recovered once the heartbeat
 * expires. Returns the list's length.
 */
extern const char queue_script_bye[];

/*
 * KEYS: Q, Q:processing:N1, Q:processing:N2, …; ARGV: N1, N2, …. Returns {LLEN Q, N1,
 * len1, N2, len2, …}. The caller reads the names first (SRANDMEMBER Q:writers 64): every
 * key a script touches is declared, so a queue named with a hash tag ({app}:events) keeps
 * the whole queue in one Redis Cluster slot.
 */
#define QUEUE_GAUGES_MAX 64
extern const char queue_script_gauges[];

#endif
