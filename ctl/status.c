/*
 * status: one look at the whole pipeline — queue length and the age of its oldest item,
 * every writer known (heartbeat, processing list), dead letters, the newest stored event, the
 * configured sources with their provider, each WebSocket subscription's link (its state hash and
 * lease in Redis) — and a verdict: exit 1 when a writer expired holding items, items wait and no
 * writer is alive, or a subscription has no live connection (its events are being lost).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "ctl.h"
#include "envelope.h"
#include "gap.h"
#include "gaps.h"
#include "queue.h"

struct status_writer {
    char *name;
    bool alive;
    long long ttl_s;      /* heartbeat seconds left, -2 when gone */
    long long processing; /* processing list length */
};

/*
 * A [source.NAME] with transport = websocket, from Q:ws:S and Q:ws:S:lease (the fields are
 * the gateway's, docs/websocket.md): times are µs since the epoch, 0 when the field is absent.
 */
struct status_sub {
    const char *source;                    /* the config's name */
    char holder[GAP_HOLDER_MAX + 1];       /* holder field of the hash, "" when none */
    char lease_holder[GAP_HOLDER_MAX + 1]; /* value of the lease key, "" when none */
    long long lease_ttl_ms;                /* its PTTL: -2 no lease, -1 no expiry */
    int64_t connected_us;                  /* connected since (first heartbeat answered) */
    int64_t alive_us;                      /* last moment known alive */
    int64_t heartbeat_us;                  /* last heartbeat answer */
    char down_reason[GAP_REASON_MAX + 1];  /* why it last went down, "" when none */
    bool connected;                        /* connected_us set and a lease held: a live link */
};

struct status {
    long long queue_length;
    double oldest_age_s; /* NAN when the queue is empty or its oldest item unreadable */
    bool oldest_unreadable;
    struct status_writer *writers;
    size_t nwriters;
    long long dead_letters;
    char newest[64];         /* newest received_at as text, "" when no event */
    double newest_age_s;     /* NAN when none */
    struct status_sub *subs; /* the websocket sources, in config order */
    size_t nsubs;
    int64_t now_us; /* when Redis was read, for the ages */
};

static int status_add_writer(struct status *st, const char *name, size_t len)
{
    struct status_writer *w;

    for (size_t i = 0; i < st->nwriters; i++) {
        if (strlen(st->writers[i].name) == len && memcmp(st->writers[i].name, name, len) == 0)
            return 0;
    }
    w = realloc(st->writers, (st->nwriters + 1) * sizeof(*w));
    if (w == NULL)
        return -1;
    st->writers = w;
    w = &st->writers[st->nwriters];
    memset(w, 0, sizeof(*w));
    w->name = strndup(name, len);
    if (w->name == NULL)
        return -1;
    st->nwriters++;
    return 0;
}

static int status_writer_cmp(const void *a, const void *b)
{
    return strcmp(((const struct status_writer *)a)->name, ((const struct status_writer *)b)->name);
}

/* Redis glob pattern matching prefix literally, then "*". */
static void status_glob(const char *prefix, char *out, size_t cap)
{
    size_t n = 0;

    for (const char *p = prefix; *p != '\0' && n + 3 < cap; p++) {
        if (strchr("*?[]\\", *p) != NULL)
            out[n++] = '\\';
        out[n++] = *p;
    }
    out[n++] = '*';
    out[n] = '\0';
}

/* Adds the names of every key matching prefix* (SCAN, so a big keyspace is not blocked). */
static int status_scan(redisContext *rc, struct status *st, const char *prefix)
{
    char pattern[2 * QUEUE_KEY_MAX + 2];
    char cursor[32] = "0";
    size_t plen = strlen(prefix);

    status_glob(prefix, pattern, sizeof(pattern));
    do {
        redisReply *r = redisCommand(rc, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!ctl_redis_ok(rc, r, "SCAN"))
            return -1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING) {
            ctl_err("redis: SCAN: unexpected reply");
            freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            redisReply *k = r->element[1]->element[i];
            if (k->type == REDIS_REPLY_STRING && k->len > plen &&
                status_add_writer(st, k->str + plen, k->len - plen) < 0) {
                freeReplyObject(r);
                ctl_err("out of memory");
                return -1;
            }
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* A µs field of the state hash: its value, or 0 when absent or not a number. */
static int64_t status_us(const redisReply *r)
{
    char *end;
    long long v;

    if (r->type != REDIS_REPLY_STRING || r->len == 0)
        return 0;
    v = strtoll(r->str, &end, 10);
    return *end == '\0' && v > 0 ? (int64_t)v : 0;
}

/* A text field (holder, reason) copied when it has the form valid(), else "". */
static void status_text(const redisReply *r, bool (*valid)(const char *, size_t), char *out,
                        size_t cap)
{
    out[0] = '\0';
    if (r->type == REDIS_REPLY_STRING && r->len < cap && valid(r->str, r->len))
        snprintf(out, cap, "%s", r->str);
}

/* Reads one subscription's state hash and lease. -1 after one line (Redis failed). */
static int status_sub_read(redisContext *rc, const char *queue, struct status_sub *sub)
{
    char state[QUEUE_KEY_MAX], lease[QUEUE_KEY_MAX];
    redisReply *r;

    queue_key(state, sizeof(state), queue, QUEUE_KEY_WS_STATE, sub->source);
    queue_key(lease, sizeof(lease), queue, QUEUE_KEY_WS_LEASE, sub->source);
    r = redisCommand(rc, "HMGET %s holder connected_us alive_us heartbeat_us down_reason", state);
    if (!ctl_redis_ok(rc, r, "HMGET"))
        return -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 5) {
        status_text(r->element[0], gap_holder_valid, sub->holder, sizeof(sub->holder));
        sub->connected_us = status_us(r->element[1]);
        sub->alive_us = status_us(r->element[2]);
        sub->heartbeat_us = status_us(r->element[3]);
        status_text(r->element[4], gap_reason_valid, sub->down_reason, sizeof(sub->down_reason));
    }
    freeReplyObject(r);
    r = redisCommand(rc, "GET %s", lease);
    if (!ctl_redis_ok(rc, r, "GET"))
        return -1;
    status_text(r, gap_holder_valid, sub->lease_holder, sizeof(sub->lease_holder));
    freeReplyObject(r);
    r = redisCommand(rc, "PTTL %s", lease);
    if (!ctl_redis_ok(rc, r, "PTTL"))
        return -1;
    sub->lease_ttl_ms = r->type == REDIS_REPLY_INTEGER ? r->integer : -2;
    freeReplyObject(r);
    /* a connection stamped by a holder whose lease is gone died with its holder */
    sub->connected = sub->connected_us > 0 && sub->lease_ttl_ms != -2;
    return 0;
}

/* The websocket sources of the config, each read from Redis. */
static int status_subs(const struct ctl *ctl, redisContext *rc, struct status *st)
{
    size_t n = 0;

    for (size_t i = 0; i < ctl->cfg->nsources; i++)
        n += ctl->cfg->sources[i].transport == CONFIG_TRANSPORT_WEBSOCKET;
    if (n == 0)
        return 0;
    st->subs = calloc(n, sizeof(*st->subs));
    if (st->subs == NULL) {
        ctl_err("out of memory");
        return -1;
    }
    for (size_t i = 0; i < ctl->cfg->nsources; i++) {
        const struct config_source *src = &ctl->cfg->sources[i];
        if (src->transport != CONFIG_TRANSPORT_WEBSOCKET)
            continue;
        st->subs[st->nsubs].source = src->name;
        if (status_sub_read(rc, ctl->cfg->redis.queue, &st->subs[st->nsubs++]) < 0)
            return -1;
    }
    return 0;
}

static int status_redis(const struct ctl *ctl, struct status *st)
{
    redisContext *rc = ctl_redis_connect(ctl);
    struct queue_keys keys;
    redisReply *r;
    int ret = -1;

    if (rc == NULL)
        return -1;
    queue_keys_init(&keys, ctl->cfg->redis.queue, "");
    r = redisCommand(rc, "LLEN %s", keys.queue);
    if (!ctl_redis_ok(rc, r, "LLEN"))
        goto done;
    st->queue_length = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    st->oldest_age_s = NAN;
    if (st->queue_length > 0) {
        struct envelope env;
        const char *why;
        r = redisCommand(rc, "LINDEX %s -1", keys.queue); /* the right end is the oldest */
        if (!ctl_redis_ok(rc, r, "LINDEX"))
            goto done;
        if (r->type == REDIS_REPLY_STRING && envelope_decode(r->str, r->len, &env, &why) == 0)
            st->oldest_age_s = (double)(ctl_now_us() - env.received_us) / 1e6;
        else if (r->type == REDIS_REPLY_STRING)
            st->oldest_unreadable = true;
        freeReplyObject(r);
    }
    r = redisCommand(rc, "SMEMBERS %s", keys.writers);
    if (!ctl_redis_ok(rc, r, "SMEMBERS"))
        goto done;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            status_add_writer(st, r->element[i]->str, r->element[i]->len) < 0) {
            freeReplyObject(r);
            ctl_err("out of memory");
            goto done;
        }
    }
    freeReplyObject(r);
    /* keys for the writer "": the prefixes of every processing list and heartbeat */
    if (status_scan(rc, st, keys.processing) < 0 || status_scan(rc, st, keys.heartbeat) < 0)
        goto done;
    if (st->nwriters > 1)
        qsort(st->writers, st->nwriters, sizeof(*st->writers), status_writer_cmp);
    for (size_t i = 0; i < st->nwriters; i++) {
        struct status_writer *w = &st->writers[i];
        queue_keys_init(&keys, ctl->cfg->redis.queue, w->name);
        r = redisCommand(rc, "TTL %s", keys.heartbeat);
        if (!ctl_redis_ok(rc, r, "TTL"))
            goto done;
        w->ttl_s = r->type == REDIS_REPLY_INTEGER ? r->integer : -2;
        w->alive = w->ttl_s != -2; /* -1 (no TTL) still exists: alive */
        freeReplyObject(r);
        r = redisCommand(rc, "LLEN %s", keys.processing);
        if (!ctl_redis_ok(rc, r, "LLEN"))
            goto done;
        w->processing = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
        freeReplyObject(r);
    }
    st->now_us = ctl_now_us();
    if (status_subs(ctl, rc, st) < 0)
        goto done;
    ret = 0;
done:
    redisFree(rc);
    return ret;
}

/*
 * The newest received_at. On the v1 table max(received_at) is one index probe. A table
 * range-partitioned on event_time has a received_at index only on its undated partition, so
 * the newest is sought where new deliveries land — the partitions of the last two days
 * (Zoom's retries carry their first event_ts, at most ~2 h old) and the undated one — then,
 * when neither holds a row, among the rows received in the last STATUS_NEWEST_DAYS days
 * (ctl_event_time_where). Every bound is a literal, so PostgreSQL plans (and locks) only
 * those partitions, however many there are; an older newest row is reported as none.
 */
#define STATUS_NEWEST_DAYS 7
static const char status_newest_v1[] = "SELECT max(received_at) FROM hookpipe.events";
static const char status_newest_partitioned[] =
    "SELECT coalesce(greatest((SELECT max(received_at) FROM hookpipe.events"
    " WHERE event_time >= '%s' AND event_time < '%s'),"
    " (SELECT max(received_at) FROM hookpipe.events WHERE event_time < '1971-01-01+00')),"
    " (SELECT max(received_at) FROM hookpipe.events WHERE %s))";

static int status_pg(const struct ctl *ctl, struct status *st)
{
    PGconn *pg = ctl_pg_connect(ctl);
    PGresult *res;
    char sql[1024], newest[640];
    bool partitioned;
    int ret = -1;

    if (pg == NULL)
        return -1;
    /* a health check answers promptly, also when a table is locked */
    PQclear(PQexec(pg, "SET statement_timeout = '10s'"));
    res =
        PQexec(pg, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'hookpipe.events'::regclass"
                   " AND attname = 'event_time' AND NOT attisdropped");
    if (!ctl_pg_ok(pg, res, "reading the schema"))
        goto done;
    partitioned = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
    PQclear(res);
    if (partitioned) {
        int64_t now = ctl_now_us(), day = 86400LL * 1000000;
        char lo[48], hi[48], span[CTL_EVENT_TIME_WHERE_LEN];
        args_time_format(now - 2 * day, lo, sizeof(lo));
        args_time_format(now + ctl->cfg->storage.event_time_future_s * 1000000LL + day, hi,
                         sizeof(hi));
        ctl_event_time_where(ctl, now - STATUS_NEWEST_DAYS * day, now, span, sizeof(span));
        snprintf(newest, sizeof(newest), status_newest_partitioned, lo, hi, span);
    }
    snprintf(sql, sizeof(sql),
             "SELECT (SELECT count(*) FROM hookpipe.dead_letters),"
             " to_char(m AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
             " extract(epoch FROM clock_timestamp() - m) FROM (%s) e(m)",
             partitioned ? newest : status_newest_v1);
    res = PQexec(pg, sql);
    if (ctl_pg_ok(pg, res, "reading dead letters and events") && PQntuples(res) == 1) {
        st->dead_letters = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        st->newest_age_s = NAN;
        if (!PQgetisnull(res, 0, 1)) {
            snprintf(st->newest, sizeof(st->newest), "%s", PQgetvalue(res, 0, 1));
            st->newest_age_s = strtod(PQgetvalue(res, 0, 2), NULL);
        }
        ret = 0;
    }
done:
    PQclear(res);
    PQfinish(pg);
    return ret;
}

/* us as "YYYY-MM-DDTHH:MM:SSZ" (to the second, UTC). */
static void status_time(int64_t us, char *out, size_t cap)
{
    char text[48];

    args_time_format(us, text, sizeof(text)); /* "YYYY-MM-DD HH:MM:SS.uuuuuu+00" */
    snprintf(out, cap, "%.10sT%.8sZ", text, text + 11);
}

/* Why a subscription that is not connected is down, as best known. */
static const char *status_down_reason(const struct status_sub *sub)
{
    if (sub->down_reason[0] != '\0')
        return sub->down_reason;
    if (sub->connected_us > 0)
        return "holder_lost"; /* stamped connected, and its lease is gone */
    return "unknown";
}

/* The verdict: 0 healthy, or 1 with the first problem in why. */
static int status_verdict(const struct status *st, char *why, size_t cap)
{
    size_t alive = 0;

    for (size_t i = 0; i < st->nwriters; i++) {
        const struct status_writer *w = &st->writers[i];
        if (w->alive)
            alive++;
        else if (w->processing > 0) {
            snprintf(why, cap, "writer %s expired with %lld items in its processing list", w->name,
                     w->processing);
            return 1;
        }
    }
    if (st->queue_length > 0 && alive == 0) {
        snprintf(why, cap, "%lld items queued and no writer alive", st->queue_length);
        return 1;
    }
    for (size_t i = 0; i < st->nsubs; i++) {
        const struct status_sub *sub = &st->subs[i];
        char since[48];
        if (sub->connected)
            continue;
        if (sub->alive_us == 0) {
            snprintf(why, cap, "subscription %s is not connected (never since its state began)",
                     sub->source);
        } else {
            status_time(sub->alive_us, since, sizeof(since));
            snprintf(why, cap, "subscription %s is down since %s (%s): its events are being lost",
                     sub->source, since, status_down_reason(sub));
        }
        return 1;
    }
    snprintf(why, cap, "healthy");
    return 0;
}

/* A source's provider as configured ("zoom" when the config leaves it unset). */
static const char *status_provider(const struct config_source *src)
{
    return src->provider != NULL ? src->provider : "zoom";
}

/* The configured sources as a JSON array of {name, provider, transport}; NULL when OOM. */
static json_t *status_sources_json(const struct ctl *ctl)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < ctl->cfg->nsources; i++) {
        const struct config_source *src = &ctl->cfg->sources[i];
        json_t *j = json_pack(
            "{s:s, s:s, s:s}", "name", src->name, "provider", status_provider(src), "transport",
            src->transport == CONFIG_TRANSPORT_WEBSOCKET ? "websocket" : "webhook");
        if (j == NULL || json_array_append_new(arr, j) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* A time for JSON, or null when unknown. */
static json_t *status_time_json(int64_t us)
{
    char text[48];

    if (us <= 0)
        return json_null();
    status_time(us, text, sizeof(text));
    return json_string(text);
}

/* The subscriptions as a JSON array; NULL when out of memory. */
static json_t *status_subs_json(const struct status *st)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < st->nsubs; i++) {
        const struct status_sub *sub = &st->subs[i];
        json_t *j = json_pack(
            "{s:s, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "source", sub->source, "connected",
            sub->connected, "holder", sub->holder[0] ? json_string(sub->holder) : json_null(),
            "lease_holder", sub->lease_holder[0] ? json_string(sub->lease_holder) : json_null(),
            "lease_ttl_ms", sub->lease_ttl_ms >= 0 ? json_integer(sub->lease_ttl_ms) : json_null(),
            "connected_since", status_time_json(sub->connected ? sub->connected_us : 0),
            "down_since", status_time_json(sub->connected ? 0 : sub->alive_us), "down_reason",
            sub->connected ? json_null() : json_string(status_down_reason(sub)), "heartbeat_age_s",
            sub->heartbeat_us > 0 ? json_real((double)(st->now_us - sub->heartbeat_us) / 1e6)
                                  : json_null());
        if (j == NULL || json_array_append_new(arr, j) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static int status_print_json(const struct ctl *ctl, const struct status *st, int verdict,
                             const char *why)
{
    json_t *o = json_object(), *ws = json_array();
    char *text;

    if (o == NULL || ws == NULL)
        goto oom;
    for (size_t i = 0; i < st->nwriters; i++) {
        const struct status_writer *w = &st->writers[i];
        json_t *j = json_pack("{s:s, s:b, s:I, s:I}", "name", w->name, "alive", w->alive,
                              "processing_length", (json_int_t)w->processing, "heartbeat_ttl_s",
                              (json_int_t)(w->alive ? w->ttl_s : 0));
        if (j == NULL || json_array_append_new(ws, j) < 0)
            goto oom;
    }
    json_object_set_new(o, "queue", json_string(ctl->cfg->redis.queue));
    json_object_set_new(o, "queue_length", json_integer(st->queue_length));
    json_object_set_new(o, "oldest_queued_age_s",
                        isnan(st->oldest_age_s) ? json_null() : json_real(st->oldest_age_s));
    json_object_set_new(o, "writers", ws);
    ws = NULL;
    json_object_set_new(o, "dead_letters", json_integer(st->dead_letters));
    json_object_set_new(o, "newest_received_at",
                        st->newest[0] ? json_string(st->newest) : json_null());
    json_object_set_new(o, "newest_received_age_s",
                        isnan(st->newest_age_s) ? json_null() : json_real(st->newest_age_s));
    {
        json_t *sources = status_sources_json(ctl);
        if (sources == NULL)
            goto oom;
        json_object_set_new(o, "sources", sources);
    }
    if (st->nsubs > 0) {
        json_t *subs = status_subs_json(st);
        if (subs == NULL)
            goto oom;
        json_object_set_new(o, "subscriptions", subs);
    }
    json_object_set_new(o, "healthy", json_boolean(verdict == 0));
    json_object_set_new(o, "problem", verdict == 0 ? json_null() : json_string(why));
    text = json_dumps(o, JSON_COMPACT);
    if (text == NULL)
        goto oom;
    printf("%s\n", text);
    free(text);
    json_decref(o);
    return 0;
oom:
    json_decref(ws);
    json_decref(o);
    ctl_err("out of memory");
    return -1;
}

/* One line per websocket source: its link, its holder, its heartbeat and lease. */
static void status_print_subs(const struct status *st)
{
    size_t up = 0;

    if (st->nsubs == 0)
        return;
    for (size_t i = 0; i < st->nsubs; i++)
        up += st->subs[i].connected;
    printf("subscriptions: %zu websocket, %zu connected\n", st->nsubs, up);
    for (size_t i = 0; i < st->nsubs; i++) {
        const struct status_sub *sub = &st->subs[i];
        char when[48], dur[48];
        printf("  %-24s ", sub->source);
        if (sub->connected) {
            status_time(sub->connected_us, when, sizeof(when));
            gaps_duration_format(st->now_us - sub->connected_us, dur, sizeof(dur));
            printf("connected since %s (%s)", when, dur);
        } else if (sub->alive_us > 0) {
            status_time(sub->alive_us, when, sizeof(when));
            gaps_duration_format(st->now_us - sub->alive_us, dur, sizeof(dur));
            printf("down since %s (%s), reason %s", when, dur, status_down_reason(sub));
        } else {
            printf("not connected, never alive");
        }
        printf(", holder %s", sub->holder[0] ? sub->holder : "none");
        if (sub->lease_holder[0] && strcmp(sub->lease_holder, sub->holder) != 0)
            printf(" (lease held by %s)", sub->lease_holder);
        if (sub->heartbeat_us > 0)
            printf(", heartbeat %.1f s ago", (double)(st->now_us - sub->heartbeat_us) / 1e6);
        else
            printf(", no heartbeat");
        if (sub->lease_ttl_ms >= 0)
            printf(", lease %.1f s left\n", (double)sub->lease_ttl_ms / 1000);
        else if (sub->lease_ttl_ms == -1)
            printf(", lease without expiry\n");
        else
            printf(", no lease\n");
    }
}

static void status_print_text(const struct ctl *ctl, const struct status *st, const char *why)
{
    size_t alive = 0;

    for (size_t i = 0; i < st->nwriters; i++)
        alive += st->writers[i].alive;
    printf("queue %s: %lld item%s", ctl->cfg->redis.queue, st->queue_length,
           st->queue_length == 1 ? "" : "s");
    if (!isnan(st->oldest_age_s))
        printf(", oldest %.1f s old", st->oldest_age_s);
    else if (st->oldest_unreadable)
        printf(", oldest unreadable (not an envelope)");
    printf("\nwriters: %zu known, %zu alive\n", st->nwriters, alive);
    for (size_t i = 0; i < st->nwriters; i++) {
        const struct status_writer *w = &st->writers[i];
        printf("  %-24s %-8s processing %lld", w->name, w->alive ? "alive" : "expired",
               w->processing);
        if (w->alive && w->ttl_s >= 0)
            printf("  (heartbeat %lld s left)", w->ttl_s);
        printf("\n");
    }
    printf("dead letters: %lld\n", st->dead_letters);
    if (st->newest[0])
        printf("newest event received: %s (%.1f s ago)\n", st->newest, st->newest_age_s);
    else
        printf("newest event received: none in the last %d days\n", STATUS_NEWEST_DAYS);
    printf("sources:");
    for (size_t i = 0; i < ctl->cfg->nsources; i++)
        printf("%s %s (%s)", i ? "," : "", ctl->cfg->sources[i].name,
               status_provider(&ctl->cfg->sources[i]));
    printf("%s\n", ctl->cfg->nsources == 0 ? " none" : "");
    status_print_subs(st);
    printf("health: %s\n", why);
}

int ctl_status(const struct ctl *ctl, int argc, char **argv)
{
    bool json = false;
    struct args_opt opts[] = {{"--json", NULL, &json}};
    char err[ARGS_ERR_LEN];
    char why[256];
    size_t npos;
    struct status st;
    int ret = CTL_FAIL, verdict;

    memset(&st, 0, sizeof(st));
    if (args_parse(argc, argv, opts, 1, NULL, 0, &npos, err, sizeof(err)) < 0) {
        ctl_err("status: %s", err);
        return CTL_USAGE;
    }
    if (status_redis(ctl, &st) < 0 || status_pg(ctl, &st) < 0)
        goto done;
    verdict = status_verdict(&st, why, sizeof(why));
    if (json) {
        if (status_print_json(ctl, &st, verdict, why) < 0)
            goto done;
    } else {
        status_print_text(ctl, &st, why);
    }
    ret = verdict == 0 ? CTL_OK : CTL_FAIL;
done:
    for (size_t i = 0; i < st.nwriters; i++)
        free(st.writers[i].name);
    free(st.writers);
    free(st.subs);
    return ret;
}
