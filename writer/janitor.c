/*
 * Heartbeat, gauges and recovery. A recovery moves an expired writer's processing list
 * back onto the queue in one script (queue.c), so it cannot interleave with that
 * writer's own claim; a writer that was only slow finds out at its next release.
 */
#include "janitor.h"

#include <hiredis/async.h>
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
};

static void janitor_heartbeat_cb(void *arg, const struct queue_reply *reply)
{
    struct janitor *j = arg;

    if (reply->outcome == QUEUE_ERROR)
        log_msg(LOG_WARN, "heartbeat failed", "writer=%s error=%s", j->qc->name,
                log_value(reply->error));
}

static void janitor_gauges_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r;
    int n = 0;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1)
        return;
    writer_stats.queue_length = reply->element[0]->integer;
    for (size_t i = 1; i + 1 < reply->elements && n < 64; i += 2) {
        if (reply->element[i]->type != REDIS_REPLY_STRING)
            continue;
        snprintf(writer_stats.processing[n].name, sizeof(writer_stats.processing[n].name), "%s",
                 reply->element[i]->str);
        writer_stats.processing[n].length = reply->element[i + 1]->integer;
        n++;
    }
    writer_stats.nprocessing = n;
}

static void janitor_oldest_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r;

    if (reply != NULL && reply->type == REDIS_REPLY_STRING)
        writer_stats_oldest(reply->str, reply->len);
    else if (reply != NULL && reply->type == REDIS_REPLY_NIL)
        writer_stats_oldest(NULL, 0);
}

/* The registered writer names: now measure the queue and their lists, keys declared. */
static void janitor_gauge_names_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct janitor *j = privdata;
    redisReply *reply = r;
    const char *argv[4 + 2 * QUEUE_GAUGES_MAX];
    size_t lens[4 + 2 * QUEUE_GAUGES_MAX];
    char keys[QUEUE_GAUGES_MAX][QUEUE_KEY_MAX];
    const char *names[QUEUE_GAUGES_MAX];
    char nkeys[16];
    size_t n = 0, argc = 0;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < reply->elements && n < QUEUE_GAUGES_MAX; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING)
            continue;
        snprintf(keys[n], sizeof(keys[n]), "%s:processing:%s", j->qc->keys.queue,
                 reply->element[i]->str);
        names[n++] = reply->element[i]->str;
    }
    snprintf(nkeys, sizeof(nkeys), "%zu", n + 1);
    argv[argc++] = "EVAL";
    argv[argc++] = queue_script_gauges;
    argv[argc++] = nkeys;
    argv[argc++] = j->qc->keys.queue;
    for (size_t i = 0; i < n; i++)
        argv[argc++] = keys[i];
    for (size_t i = 0; i < n; i++)
        argv[argc++] = names[i];
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    /* hiredis copies the arguments: the reply they point into may go after this */
    redisAsyncCommandArgv(ac, janitor_gauges_cb, NULL, (int)argc, argv, lens);
}

static void janitor_heartbeat(struct janitor *j)
{
    redisAsyncContext *ac = redis_link_ctx(j->qc->link);

    writer_stats.redis_connected = ac != NULL;
    if (ac == NULL || j->stopped)
        return;
    (void)!queue_client_claim(j->qc, 0, NULL, janitor_heartbeat_cb, j);
    redisAsyncCommand(ac, janitor_gauge_names_cb, j, "SRANDMEMBER %s %d", j->qc->keys.writers,
                      QUEUE_GAUGES_MAX);
    redisAsyncCommand(ac, janitor_oldest_cb, NULL, "LINDEX %s -1", j->qc->keys.queue);
}

static void janitor_hb_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    janitor_heartbeat(arg);
}

static void janitor_recovered_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r;
    char *name = privdata;

    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0) {
        log_msg(LOG_WARN, "expired writer recovered", "dead_writer=%s items=%lld", name,
                reply->integer);
        writer_stats.recovered_items += (uint64_t)reply->integer;
    }
    free(name);
}

static void janitor_members_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct janitor *j = privdata;
    redisReply *reply = r;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < reply->elements; i++) {
        const char *other = reply->element[i]->str;
        struct queue_keys k;
        char *name;
        if (reply->element[i]->type != REDIS_REPLY_STRING || strcmp(other, j->qc->name) == 0)
            continue;
        name = strdup(other);
        if (name == NULL)
            continue;
        queue_keys_init(&k, j->qc->keys.queue, other);
        if (redisAsyncCommand(ac, janitor_recovered_cb, name, "EVAL %s 4 %s %s %s %s %s",
                              queue_script_recover, k.heartbeat, k.processing, k.queue, k.writers,
                              other) != REDIS_OK)
            free(name);
    }
}

static void janitor_recover(struct janitor *j)
{
    redisAsyncContext *ac = redis_link_ctx(j->qc->link);

    if (ac != NULL && !j->stopped)
        redisAsyncCommand(ac, janitor_members_cb, j, "SMEMBERS %s", j->qc->keys.writers);
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
    free(j);
}
