/*
 * The queue contract (docs/design.md "Queue contract"): Redis key names and the Lua
 * scripts that claim, recover and measure atomically inside Redis, shared by the writer
 * and hookpipe-ctl. Pure data, no I/O. Every script works on a Redis full to maxmemory
 * under noeviction: the claim and the recovery start with a write that is no deny-oom
 * command (see queue.c), and release, bye and gauges use none.
 *
 * Keys, for queue Q and writer name N, all made by queue_key():
 *   Q                   the queue; the gateway LPUSHes, writers take from the right
 *   Q:processing:N      N's claimed items, oldest at the left (FIFO order kept)
 *   Q:writer:N          N's heartbeat (SET … EX heartbeat_ttl_s)
 *   Q:writers           set of writer names that may own a processing list
 *   Q:ws:S              hash: WebSocket subscription S's state, written by its holder
 *   Q:ws:S:lease        string with PX: the holder id of S's lease
 */
#ifndef HOOKPIPE_QUEUE_H
#define HOOKPIPE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#define QUEUE_KEY_MAX 640

enum queue_key_kind {
    QUEUE_KEY_QUEUE,      /* Q */
    QUEUE_KEY_PROCESSING, /* Q:processing:N */
    QUEUE_KEY_HEARTBEAT,  /* Q:writer:N */
    QUEUE_KEY_WRITERS,    /* Q:writers */
    QUEUE_KEY_WS_STATE,   /* Q:ws:S (name: the source S) */
    QUEUE_KEY_WS_LEASE,   /* Q:ws:S:lease (name: the source S) */
};

/*
 * Writes the key of kind for queue and writer name (ignored by QUEUE_KEY_QUEUE and
 * QUEUE_KEY_WRITERS; the source name for the QUEUE_KEY_WS_ kinds) into out, cut to cap - 1
 * bytes. With name "" a per-writer kind gives the prefix its keys share ("Q:processing:"),
 * for a SCAN. The one place a key name is made: these names are a contract with running
 * writers and gateways of other versions. The WebSocket keys' fields are in
 * docs/websocket.md; a hash-tagged Q keeps them in the queue's cluster slot.
 */
void queue_key(char *out, size_t cap, const char *queue, enum queue_key_kind kind,
               const char *name);

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
 * queue_script_recover without the heartbeat check (same KEYS and ARGV; KEYS[1] unused):
 * moves M's list even while M lives (hookpipe-ctl recover --force). Never returns -1.
 */
extern const char queue_script_recover_force[];

/*
 * The recovery of writer name (keys made for it by queue_keys_init) as a command vector:
 * EVAL, the script (force: queue_script_recover_force), 4, the KEYS, name. Fills argv
 * (pointers into keys, name and the scripts) and returns its count, QUEUE_RECOVER_ARGC.
 */
#define QUEUE_RECOVER_ARGC 8
int queue_recover_argv(const struct queue_keys *keys, const char *name, bool force,
                       const char *argv[QUEUE_RECOVER_ARGC]);

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

/*
 * The scripts of a Zoom WebSocket subscription (docs/websocket.md "Gaps on record"): the
 * lease QUEUE_KEY_WS_LEASE that makes one gateway worker its holder, and the state hash
 * QUEUE_KEY_WS_STATE in which the holder keeps when a link was last known alive. Named from
 * the queue's name, so a hash-tagged queue keeps them in its slot, which the connect script
 * needs: it LPUSHes the gap item (common/gap.h) onto the queue.
 */
/*
 * KEYS: lease, state; ARGV: holder, lease_ms, alive_us ("" = leave), heartbeat_us ("" =
 * leave). Extends the lease and notes the times when holder still holds it: 1; else 0.
 */
extern const char queue_script_ws_renew[];

/*
 * KEYS: queue, state, lease; ARGV: holder, now_us, source, lease_ms.
 * A connection of holder had its first heartbeat answered at now_us: when the state knows
 * an earlier alive_us, LPUSHes the gap item "HPG1 source alive_us now_us reason holder\n"
 * (reason: the down_reason the last holder left, else holder_lost) onto the queue; then
 * marks the link connected and alive at now_us. Returns the gap in µs (0: none, the first
 * connection of the source), or -1, touching nothing, when holder does not hold the lease.
 */
extern const char queue_script_ws_connected[];

/*
 * KEYS: state, lease; ARGV: holder, alive_us ("" = the link was never recorded connected:
 * leave the state), reason, release ("1": give the lease up).
 * The holder's link went down: notes the last moment it was alive and why. Returns 1, or 0
 * when holder no longer holds the lease (nothing changed).
 */
extern const char queue_script_ws_down[];

/* Every script above with its name, for tests that check them all; ends with {NULL, NULL}. */
struct queue_script {
    const char *name;
    const char *text;
};
extern const struct queue_script queue_scripts[];

#endif
