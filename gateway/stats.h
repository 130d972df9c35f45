/*
 * The gateway's statistics block: counters and gauges declared once in an X-macro,
 * per-source request counters by status, and the enqueue-latency histogram. All
 * atomics, updated from any worker thread, rendered as Prometheus text by stats_render.
 */
#ifndef HOOKPIPE_GATEWAY_STATS_H
#define HOOKPIPE_GATEWAY_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "metrics.h"
#include "verify.h"
#include "ws_message.h"

/* X(name, type, help) — counters end in _total */
#define GATEWAY_STATS(X)                                                                           \
    X(connections, gauge, "Open client connections.")                                              \
    X(connections_accepted_total, counter, "Client connections accepted.")                         \
    X(connections_timed_out_total, counter,                                                        \
      "Connections closed because a request did not arrive within read_timeout_s.")                \
    X(requests_in_flight, gauge, "Requests received and not yet answered (pushes pending).")       \
    X(queue_length, gauge, "Length of the Redis queue as last seen (LPUSH reply or LLEN).")        \
    X(redis_links_up, gauge, "Worker Redis connections that are up.")                              \
    X(redis_links, gauge, "Worker Redis connections configured (one per worker).")                 \
    X(redis_pushes_total, counter,                                                                 \
      "LPUSH commands sent; each carries the deliveries of one loop turn (at most 256).")          \
    X(push_timeouts_total, counter, "Pushes not confirmed within push_timeout_ms (503).")          \
    X(push_errors_total, counter, "Pushes Redis answered with an error or dropped (503).")         \
    X(ack_failures_total, counter,                                                                 \
      "Pushes answered 503 because WAIT counted fewer than ack_replicas replicas.")                \
    X(overload_rejections_total, counter,                                                          \
      "Requests answered 503 because max_pushes_in_flight was reached.")                           \
    X(queue_full_rejections_total, counter,                                                        \
      "Requests answered 503 because the queue was at max_queue_length.")                          \
    X(out_of_memory_total, counter, "Requests answered 503 for lack of memory.")                   \
    X(buffered_bytes, gauge,                                                                       \
      "Bytes held for client connections: input read and answers not yet sent.")                   \
    X(buffer_budget_bytes, gauge, "Cap on buffered_bytes across all connections of the process.")  \
    X(buffer_budget_exceeded, gauge,                                                               \
      "1 while reading is stopped by the budget: from over it until 4 MiB under it.")              \
    X(buffer_full_rejections_total, counter,                                                       \
      "Unproven requests answered 503 and closed, largest first, to bring the buffer budget "      \
      "back.")                                                                                     \
    X(connections_evicted_total, counter,                                                          \
      "Connections closed at max_connections to free a slot: the oldest that had proven nothing.") \
    X(connections_refused_per_address_total, counter,                                              \
      "Connections closed at accept: their address held max_connections_per_address.")             \
    X(auth_throttled_total, counter,                                                               \
      "Requests answered 429: their address is serving an auth_failure_penalty_s penalty.")        \
    X(tls_handshake_failures_total, counter, "TLS connections that failed.")                       \
    X(config_reloads_total, counter, "Successful SIGHUP reloads.")                                 \
    X(config_reload_failures_total, counter, "SIGHUP reloads rejected (old config kept).")

struct gateway_stats {
#define GATEWAY_STATS_FIELD(name, type, help) _Atomic int64_t name;
    GATEWAY_STATS(GATEWAY_STATS_FIELD)
#undef GATEWAY_STATS_FIELD
    struct histogram enqueue_seconds; /* request complete -> Redis confirmed the push */
};

extern struct gateway_stats gateway_stats;

#define STAT_ADD(name, n) atomic_fetch_add_explicit(&gateway_stats.name, (n), memory_order_relaxed)
#define STAT_SET(name, v) atomic_store_explicit(&gateway_stats.name, (v), memory_order_relaxed)
#define STAT_GET(name) atomic_load_explicit(&gateway_stats.name, memory_order_relaxed)

/* HTTP statuses counted per source; any other status is counted as "other". */
#define STATS_STATUSES(X)                                                                          \
    X(200) X(400) X(401) X(403) X(404) X(405) X(408) X(411) X(413) X(429) X(431) X(503) X(505)

enum stats_status {
#define STATS_STATUS_ENUM(code) STATS_STATUS_##code,
    STATS_STATUSES(STATS_STATUS_ENUM)
#undef STATS_STATUS_ENUM
        STATS_STATUS_OTHER,
    STATS_STATUS_COUNT
};

/* Counters of one source name; never freed, so pointers stay valid across reloads. */
struct stats_source {
    char name[65];                                       /* source name, "" for unknown sources */
    _Atomic uint64_t by_status[STATS_STATUS_COUNT];      /* requests answered, by status */
    _Atomic uint64_t auth_failures[VERIFY_REASON_COUNT]; /* refusals, by verify_reason */
    _Atomic int64_t last_accepted_ms;                    /* wall clock of the last 200, 0 never */
    /* a websocket source (ws set: configured in this process, so its series are shown) */
    _Atomic bool ws;
    _Atomic int64_t ws_connected;                    /* links up in this process (0 or 1) */
    _Atomic uint64_t ws_messages;                    /* events queued */
    _Atomic uint64_t ws_rejected[WS_REJECT_COUNT];   /* messages not queued, by reason */
    _Atomic uint64_t ws_reconnects[WS_DOWN_COUNT];   /* links lost, by reason */
    _Atomic uint64_t ws_gap_us;                      /* gaps this process recorded */
    _Atomic uint64_t ws_tokens_ok, ws_tokens_failed; /* token requests */
};

/* Counters for requests to unknown sources (404), created by stats_init. */
extern struct stats_source *stats_unknown;

void stats_init(void);

/*
 * The counters of source name, created on first use (at most 4096 names; beyond that
 * all further names share the "_other" entry). Thread-safe.
 */
struct stats_source *stats_source(const char *name);

/* Counts one answer; a 200 also stamps src->last_accepted_ms with the wall clock. */
void stats_count_status(struct stats_source *src, int status);

/* Counts one authentication refusal of src (VERIFY_REASON_NONE is not counted). */
void stats_count_auth_failure(struct stats_source *src, enum verify_reason reason);

/* Appends every gateway metric to sb. */
void stats_render(struct strbuf *sb);

#endif
