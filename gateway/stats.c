/*
 * Gateway statistics: definition and Prometheus rendering of the X-macro block, plus
 * the append-only per-source table (a mutex guards only creation; counting is atomic).
 */
#include "stats.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#define STATS_MAX_SOURCES 4096

struct gateway_stats gateway_stats;

static const double stats_enqueue_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                              0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   2.5};

static struct stats_source stats_sources[STATS_MAX_SOURCES];
static _Atomic size_t stats_nsources;
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;

static const int stats_status_codes[] = {
#define STATS_STATUS_CODE(code) code,
    STATS_STATUSES(STATS_STATUS_CODE)
#undef STATS_STATUS_CODE
};

struct stats_source *stats_unknown;

/* the reason labels, from the same X-macro as verify.c's (stats.c links without it) */
static const char *const stats_reason_labels[] = {"",
#define STATS_REASON_LABEL(id, label) label,
                                                  VERIFY_REASONS(STATS_REASON_LABEL)
#undef STATS_REASON_LABEL
};

void stats_init(void)
{
    histogram_init(&gateway_stats.enqueue_seconds, stats_enqueue_bounds,
                   sizeof(stats_enqueue_bounds) / sizeof(stats_enqueue_bounds[0]));
    stats_unknown = stats_source("_unknown");
}

struct stats_source *stats_source(const char *name)
{
    struct stats_source *found = NULL;
    size_t n;

    pthread_mutex_lock(&stats_lock);
    n = atomic_load(&stats_nsources);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(stats_sources[i].name, name) == 0) {
            found = &stats_sources[i];
            break;
        }
    }
    if (found == NULL) {
        if (n == STATS_MAX_SOURCES - 1)
            name = "_other";
        if (n < STATS_MAX_SOURCES) {
            found = &stats_sources[n];
            strncpy(found->name, name, sizeof(found->name) - 1);
            atomic_store(&stats_nsources, n + 1);
        } else {
            found = &stats_sources[STATS_MAX_SOURCES - 1];
        }
    }
    pthread_mutex_unlock(&stats_lock);
    return found;
}

void stats_count_status(struct stats_source *src, int status)
{
    enum stats_status idx = STATS_STATUS_OTHER;

    for (size_t i = 0; i < STATS_STATUS_OTHER; i++) {
        if (stats_status_codes[i] == status) {
            idx = (enum stats_status)i;
            break;
        }
    }
    atomic_fetch_add_explicit(&src->by_status[idx], 1, memory_order_relaxed);
    if (status == 200) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        atomic_store_explicit(&src->last_accepted_ms,
                              (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
                              memory_order_relaxed);
    }
}

void stats_count_auth_failure(struct stats_source *src, enum verify_reason reason)
{
    if (reason > VERIFY_REASON_NONE && reason < VERIFY_REASON_COUNT)
        atomic_fetch_add_explicit(&src->auth_failures[reason], 1, memory_order_relaxed);
}

#define WS_GET(i, field) atomic_load_explicit(&stats_sources[i].field, memory_order_relaxed)

/* The series of websocket sources (each shown, at 0 too, once configured in this process). */
static void stats_render_ws(struct strbuf *sb, size_t n)
{
    metrics_header(sb, "hookpipe_gateway_ws_connected", "gauge",
                   "1 while this gateway holds the subscription's live link, by source.");
    for (size_t i = 0; i < n; i++)
        if (WS_GET(i, ws))
            strbuf_printf(sb, "hookpipe_gateway_ws_connected{source=\"%s\"} %lld\n",
                          stats_sources[i].name, (long long)WS_GET(i, ws_connected));
    metrics_header(sb, "hookpipe_gateway_ws_messages_total", "counter",
                   "Events received on a WebSocket subscription and queued, by source.");
    for (size_t i = 0; i < n; i++)
        if (WS_GET(i, ws))
            strbuf_printf(sb, "hookpipe_gateway_ws_messages_total{source=\"%s\"} %llu\n",
                          stats_sources[i].name, (unsigned long long)WS_GET(i, ws_messages));
    metrics_header(sb, "hookpipe_gateway_ws_rejected_total", "counter",
                   "WebSocket messages not queued, by source and reason.");
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < WS_REJECT_COUNT && WS_GET(i, ws); r++)
            strbuf_printf(sb,
                          "hookpipe_gateway_ws_rejected_total{source=\"%s\",reason=\"%s\"} %llu\n",
                          stats_sources[i].name, ws_reject_label((enum ws_reject)r),
                          (unsigned long long)WS_GET(i, ws_rejected[r]));
    metrics_header(sb, "hookpipe_gateway_ws_reconnects_total", "counter",
                   "WebSocket links lost (and reconnected), by source and reason.");
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < WS_DOWN_COUNT && WS_GET(i, ws); r++)
            strbuf_printf(
                sb, "hookpipe_gateway_ws_reconnects_total{source=\"%s\",reason=\"%s\"} %llu\n",
                stats_sources[i].name, ws_down_label((enum ws_down)r),
                (unsigned long long)WS_GET(i, ws_reconnects[r]));
    metrics_header(sb, "hookpipe_gateway_ws_gap_seconds_total", "counter",
                   "Seconds without a live link that this gateway recorded as gaps, by source.");
    for (size_t i = 0; i < n; i++) {
        uint64_t us = WS_GET(i, ws_gap_us);
        if (WS_GET(i, ws))
            strbuf_printf(sb, "hookpipe_gateway_ws_gap_seconds_total{source=\"%s\"} %llu.%06llu\n",
                          stats_sources[i].name, (unsigned long long)(us / 1000000),
                          (unsigned long long)(us % 1000000));
    }
    metrics_header(sb, "hookpipe_gateway_ws_token_refreshes_total", "counter",
                   "OAuth token requests of WebSocket subscriptions, by source and result.");
    for (size_t i = 0; i < n; i++)
        if (WS_GET(i, ws))
            strbuf_printf(sb,
                          "hookpipe_gateway_ws_token_refreshes_total{source=\"%s\",result=\"ok\"} "
                          "%llu\nhookpipe_gateway_ws_token_refreshes_total{source=\"%s\","
                          "result=\"failed\"} %llu\n",
                          stats_sources[i].name, (unsigned long long)WS_GET(i, ws_tokens_ok),
                          stats_sources[i].name, (unsigned long long)WS_GET(i, ws_tokens_failed));
}

void stats_render(struct strbuf *sb)
{
    size_t n = atomic_load(&stats_nsources);
    int64_t up = STAT_GET(redis_links_up), links = STAT_GET(redis_links);

    metrics_header(sb, "hookpipe_gateway_requests_total", "counter",
                   "Webhook requests answered, by source and HTTP status.");
    for (size_t i = 0; i < n; i++) {
        for (size_t s = 0; s < STATS_STATUS_COUNT; s++) {
            uint64_t v = atomic_load_explicit(&stats_sources[i].by_status[s], memory_order_relaxed);
            if (v == 0)
                continue;
            if (s == STATS_STATUS_OTHER)
                strbuf_printf(
                    sb, "hookpipe_gateway_requests_total{source=\"%s\",status=\"other\"} %llu\n",
                    stats_sources[i].name, (unsigned long long)v);
            else
                strbuf_printf(sb,
                              "hookpipe_gateway_requests_total{source=\"%s\",status=\"%d\"} %llu\n",
                              stats_sources[i].name, stats_status_codes[s], (unsigned long long)v);
        }
    }
    metrics_header(sb, "hookpipe_gateway_auth_failures_total", "counter",
                   "Requests refused by authentication, by source and reason.");
    for (size_t i = 0; i < n; i++) {
        for (size_t r = VERIFY_REASON_NONE + 1; r < VERIFY_REASON_COUNT; r++) {
            uint64_t v =
                atomic_load_explicit(&stats_sources[i].auth_failures[r], memory_order_relaxed);
            if (v != 0)
                strbuf_printf(
                    sb, "hookpipe_gateway_auth_failures_total{source=\"%s\",reason=\"%s\"} %llu\n",
                    stats_sources[i].name, stats_reason_labels[r], (unsigned long long)v);
        }
    }
    metrics_header(sb, "hookpipe_gateway_last_accepted_timestamp_seconds", "gauge",
                   "Unix time of the last request answered 200, by source (sources never "
                   "answered 200 are absent).");
    for (size_t i = 0; i < n; i++) {
        int64_t ms = atomic_load_explicit(&stats_sources[i].last_accepted_ms, memory_order_relaxed);
        if (ms > 0)
            strbuf_printf(
                sb, "hookpipe_gateway_last_accepted_timestamp_seconds{source=\"%s\"} %lld.%03lld\n",
                stats_sources[i].name, (long long)(ms / 1000), (long long)(ms % 1000));
    }
    stats_render_ws(sb, n);
    histogram_render(sb, "hookpipe_gateway_enqueue_seconds",
                     "Time from a request's last byte to Redis confirming its LPUSH.", "",
                     &gateway_stats.enqueue_seconds);
    metrics_header(sb, "hookpipe_gateway_redis_connected", "gauge",
                   "1 when every worker's Redis connection is up, else 0.");
    strbuf_printf(sb, "hookpipe_gateway_redis_connected %d\n", links > 0 && up == links ? 1 : 0);
#define STATS_RENDER(name, type, help)                                                             \
    metrics_header(sb, "hookpipe_gateway_" #name, #type, help);                                    \
    strbuf_printf(sb, "hookpipe_gateway_" #name " %lld\n", (long long)STAT_GET(name));
    GATEWAY_STATS(STATS_RENDER)
#undef STATS_RENDER
}
