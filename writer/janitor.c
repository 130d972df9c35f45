/*
 * Heartbeat, gauges and recovery. A recovery moves an expired writer's processing list
 * back onto the queue in one script (common/queue.c), so it cannot interleave with that
 * writer's own claim; a writer that was only slow finds out at its next release. Every
 * request goes through queue_client.
 */
#include "janitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stats.h"
#include "timeutil.h"

struct janitor {
    struct queue_client *qc;
    bool stopped;                /* janitor_stop was called */
    struct event *hb_timer;      /* heartbeat + gauges */
    struct event *recover_timer; /* look for expired writers */
    struct queue_items names;    /* writers sampled for the gauges */
    struct queue_items oldest;   /* the queue's oldest item, or none */
    struct queue_items members;  /* writers looked at for recovery */
};

static void janitor_heartbeat_cb(void *arg, const struct queue_reply *reply)
{
    struct janitor *j = arg;

    if (reply->outcome == QUEUE_ERROR)
        log_msg(LOG_WARN, "heartbeat failed", "writer=%s error=%s", j->qc->name,
                log_value(reply->error));
}

static void janitor_gauges_cb(void *arg, const struct queue_reply *reply)
{
    int n = 0;

    if (reply->outcome != QUEUE_OK)
        return;
    writer_stats.queue_length = reply->value;
    for (size_t i = 0; i < reply->count && n < 64; i++) {
        snprintf(writer_stats.processing[n].name, sizeof(writer_stats.processing[n].name), "%s",
                 reply->gauges[i].name);
        writer_stats.processing[n].length = reply->gauges[i].length;
        n++;
    }
    writer_stats.nprocessing = n;
}

static void janitor_oldest_cb(void *arg, const struct queue_reply *reply)
{
    struct janitor *j = arg;

    if (reply->outcome != QUEUE_OK)
        return;
    if (j->oldest.n > 0)
        writer_stats_oldest(j->oldest.v[0].data, j->oldest.v[0].len);
    else
        writer_stats_oldest(NULL, 0);
}

/* The registered writer names: now measure the queue and their lists, keys declared. */
static void janitor_gauge_names_cb(void *arg, const struct queue_reply *reply)
{
    struct janitor *j = arg;

    if (reply->outcome == QUEUE_OK)
        (void)!queue_client_gauges(j->qc, &j->names, janitor_gauges_cb, NULL);
}

static void janitor_heartbeat(struct janitor *j)
{
    writer_stats.redis_connected = queue_client_up(j->qc);
    if (!queue_client_up(j->qc) || j->stopped)
        return;
    (void)!queue_client_claim(j->qc, 0, NULL, janitor_heartbeat_cb, j);
    (void)!queue_client_writers(j->qc, QUEUE_GAUGES_MAX, &j->names, janitor_gauge_names_cb, j);
    (void)!queue_client_oldest(j->qc, &j->oldest, janitor_oldest_cb, j);
}

static void janitor_hb_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    janitor_heartbeat(arg);
}

static void janitor_recovered_cb(void *arg, const struct queue_reply *reply)
{
    char *name = arg;

    if (reply->outcome == QUEUE_OK && reply->value >= 0) {
        log_msg(LOG_WARN, "expired writer recovered", "dead_writer=%s items=%lld", name,
                reply->value);
        writer_stats.recovered_items += (uint64_t)reply->value;
    }
    free(name);
}

static void janitor_members_cb(void *arg, const struct queue_reply *reply)
{
    struct janitor *j = arg;

    if (reply->outcome != QUEUE_OK)
        return;
    for (size_t i = 0; i < j->members.n; i++) {
        const char *other = j->members.v[i].data;
        char *name;
        if (strcmp(other, j->qc->name) == 0 || (name = strdup(other)) == NULL)
            continue;
        if (queue_client_recover(j->qc, other, janitor_recovered_cb, name) != 0)
            free(name);
    }
}

static void janitor_recover(struct janitor *j)
{
    if (queue_client_up(j->qc) && !j->stopped)
        (void)!queue_client_writers(j->qc, 0, &j->members, janitor_members_cb, j);
}

static void janitor_recover_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    janitor_recover(arg);
}

struct janitor *janitor_new(struct event_base *base, const struct config *cfg,
                            struct queue_client *qc)
{
    struct janitor *j = calloc(1, sizeof(*j));
    struct timeval hb = timeval_ms(cfg->writer.heartbeat_ttl_s * 1000 / 3);
    struct timeval rec = timeval_ms(cfg->writer.recover_interval_s * 1000);

    if (j == NULL)
        return NULL;
    j->qc = qc;
    j->hb_timer = event_new(base, -1, EV_PERSIST, janitor_hb_timer_cb, j);
    j->recover_timer = event_new(base, -1, EV_PERSIST, janitor_recover_timer_cb, j);
    if (j->hb_timer == NULL || j->recover_timer == NULL) {
        janitor_free(j);
        return NULL;
    }
    evtimer_add(j->hb_timer, &hb);
    evtimer_add(j->recover_timer, &rec);
    return j;
}

void janitor_redis_up(struct janitor *j)
{
    janitor_heartbeat(j);
    janitor_recover(j);
}

void janitor_stop(struct janitor *j)
{
    j->stopped = true;
}

void janitor_free(struct janitor *j)
{
    if (j == NULL)
        return;
    if (j->hb_timer != NULL)
        event_free(j->hb_timer);
    if (j->recover_timer != NULL)
        event_free(j->recover_timer);
    queue_items_free(&j->names);
    queue_items_free(&j->oldest);
    queue_items_free(&j->members);
    free(j);
}
