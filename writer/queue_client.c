/*
 * Requests of the queue client: each carries what its reply needs (where items go,
 * whom to tell) in a small heap record handed to hiredis, which runs the callback once
 * with the reply, or with NULL when the link drops or is freed.
 */
#include "queue_client.h"

#include <hiredis/async.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum queue_request_kind {
    QUEUE_REQ_ITEMS,   /* claim: items appended */
    QUEUE_REQ_REPLACE, /* read-back, writers, oldest: items replace into's */
    QUEUE_REQ_INTEGER, /* release, bye, recover */
    QUEUE_REQ_GAUGES,  /* gauges: {LLEN Q, N1, len1, …} */
};

struct queue_request {
    enum queue_request_kind kind;
    struct queue_items *into; /* ITEMS, REPLACE; NULL for a heartbeat */
    queue_done_fn done;
    void *arg;
    struct redis_link *link; /* told of error replies (READONLY: find the master again) */
};

void queue_items_clear(struct queue_items *items)
{
    for (size_t i = 0; i < items->n; i++)
        free(items->v[i].data);
    items->n = 0;
}

void queue_items_free(struct queue_items *items)
{
    queue_items_clear(items);
    free(items->v);
    memset(items, 0, sizeof(*items));
}

/*
 * Appends the bulk strings of reply (an array, one string, or nil for none) to items,
 * each NUL-terminated; -1 on allocation failure or another reply (items unchanged).
 */
static int queue_items_append(struct queue_items *items, const redisReply *reply)
{
    const redisReply *const *elems = (const redisReply *const *)reply->element;
    size_t count = reply->elements, n = items->n;

    if (reply->type == REDIS_REPLY_STRING) {
        elems = &reply;
        count = 1;
    } else if (reply->type == REDIS_REPLY_NIL) {
        count = 0;
    } else if (reply->type != REDIS_REPLY_ARRAY) {
        return -1;
    }
    if (n + count > items->cap) {
        struct queue_item *p = realloc(items->v, (n + count) * sizeof(*p));
        if (p == NULL)
            return -1;
        items->v = p;
        items->cap = n + count;
    }
    for (size_t i = 0; i < count; i++) {
        const redisReply *e = elems[i];
        char *data = malloc(e->len + 1);
        if (data == NULL || e->type != REDIS_REPLY_STRING) {
            free(data);
            while (items->n > n)
                free(items->v[--items->n].data);
            return -1;
        }
        memcpy(data, e->str, e->len);
        data[e->len] = '\0';
        items->v[items->n].data = data;
        items->v[items->n].len = e->len;
        items->n++;
    }
    return 0;
}

/* Reads the gauges script's reply into out, its lists into g (QUEUE_GAUGES_MAX entries). */
static void queue_gauges_reply(const redisReply *reply, struct queue_reply *out,
                               struct queue_gauge *g)
{
    size_t n = 0;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER) {
        out->outcome = QUEUE_ERROR;
        out->error = "unexpected reply";
        return;
    }
    for (size_t i = 1; i + 1 < reply->elements && n < QUEUE_GAUGES_MAX; i += 2) {
        if (reply->element[i]->type != REDIS_REPLY_STRING)
            continue;
        g[n].name = reply->element[i]->str;
        g[n].length = reply->element[i + 1]->integer;
        n++;
    }
    out->outcome = QUEUE_OK;
    out->value = reply->element[0]->integer;
    out->count = n;
    out->gauges = g;
}

static void queue_client_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct queue_request *req = privdata;
    redisReply *reply = r;
    struct queue_gauge gauges[QUEUE_GAUGES_MAX];
    struct queue_reply out = {QUEUE_LOST, 0, 0, NULL, NULL};

    if (reply == NULL) {
        /* lost with the link */
    } else if (reply->type == REDIS_REPLY_ERROR) {
        out.outcome = QUEUE_ERROR;
        out.error = reply->str;
    } else if (req->kind == QUEUE_REQ_INTEGER) {
        out.outcome = reply->type == REDIS_REPLY_INTEGER ? QUEUE_OK : QUEUE_ERROR;
        out.value = reply->integer;
        out.error = "unexpected reply";
    } else if (req->kind == QUEUE_REQ_GAUGES) {
        queue_gauges_reply(reply, &out, gauges);
    } else if (reply->type != REDIS_REPLY_ARRAY &&
               (req->kind != QUEUE_REQ_REPLACE ||
                (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL))) {
        out.outcome = QUEUE_ERROR;
        out.error = "unexpected reply";
    } else {
        struct queue_items fresh = {NULL, 0, 0};
        struct queue_items *into = req->kind == QUEUE_REQ_REPLACE ? &fresh : req->into;
        out.outcome = QUEUE_OK;
        out.count = reply->type == REDIS_REPLY_ARRAY    ? reply->elements
                    : reply->type == REDIS_REPLY_STRING ? 1
                                                        : 0;
        if (into != NULL && queue_items_append(into, reply) != 0) {
            out.outcome = QUEUE_ERROR;
            out.error = "out of memory";
        } else if (req->kind == QUEUE_REQ_REPLACE) {
            queue_items_free(req->into);
            *req->into = fresh;
        }
        if (out.outcome != QUEUE_OK)
            queue_items_free(&fresh);
    }
    req->done(req->arg, &out);
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        redis_link_saw_error(req->link, reply->str);
    free(req);
}

/* A request record for a command about to be sent; NULL when the link is down or no memory. */
static struct queue_request *queue_request_new(struct queue_client *qc,
                                               enum queue_request_kind kind,
                                               struct queue_items *into, queue_done_fn done,
                                               void *arg)
{
    struct queue_request *req;

    if (redis_link_ctx(qc->link) == NULL || (req = malloc(sizeof(*req))) == NULL)
        return NULL;
    *req = (struct queue_request){kind, into, done, arg, qc->link};
    return req;
}

/* What hiredis said of sending req: 0, or -1 with req freed (its callback will not run). */
static int queue_request_sent(struct queue_request *req, int rc)
{
    if (rc != REDIS_OK) {
        free(req);
        return -1;
    }
    return 0;
}

/* Sends one command (printf-style for hiredis) carrying a request record. */
static int queue_client_send(struct queue_client *qc, enum queue_request_kind kind,
                             struct queue_items *into, queue_done_fn done, void *arg,
                             const char *fmt, ...)
{
    struct queue_request *req = queue_request_new(qc, kind, into, done, arg);
    va_list ap;
    int rc;

    if (req == NULL)
        return -1;
    va_start(ap, fmt);
    rc = redisvAsyncCommand(redis_link_ctx(qc->link), queue_client_cb, req, fmt, ap);
    va_end(ap);
    return queue_request_sent(req, rc);
}

/* Sends one command as a vector (lens NULL: NUL-terminated); hiredis copies the arguments. */
static int queue_client_send_argv(struct queue_client *qc, enum queue_request_kind kind,
                                  struct queue_items *into, queue_done_fn done, void *arg, int argc,
                                  const char **argv, const size_t *lens)
{
    struct queue_request *req = queue_request_new(qc, kind, into, done, arg);

    if (req == NULL)
        return -1;
    return queue_request_sent(req, redisAsyncCommandArgv(redis_link_ctx(qc->link), queue_client_cb,
                                                         req, argc, argv, lens));
}

void queue_client_init(struct queue_client *qc, struct redis_link *link, const char *queue,
                       const char *name, long heartbeat_ttl_s)
{
    qc->link = link;
    queue_keys_init(&qc->keys, queue, name);
    snprintf(qc->name, sizeof(qc->name), "%s", name);
    qc->heartbeat_ttl_s = heartbeat_ttl_s;
}

bool queue_client_up(const struct queue_client *qc)
{
    return redis_link_ctx(qc->link) != NULL;
}

int queue_client_claim(struct queue_client *qc, long count, struct queue_items *into,
                       queue_done_fn done, void *arg)
{
    const struct queue_keys *k = &qc->keys;

    return queue_client_send(qc, QUEUE_REQ_ITEMS, count > 0 ? into : NULL, done, arg,
                             "EVAL %s 4 %s %s %s %s %ld %s %ld", queue_script_claim, k->queue,
                             k->processing, k->heartbeat, k->writers, count, qc->name,
                             qc->heartbeat_ttl_s);
}

int queue_client_read_back(struct queue_client *qc, struct queue_items *into, queue_done_fn done,
                           void *arg)
{
    return queue_client_send(qc, QUEUE_REQ_REPLACE, into, done, arg, "LRANGE %s 0 -1",
                             qc->keys.processing);
}

int queue_client_release(struct queue_client *qc, const struct queue_items *batch,
                         queue_done_fn done, void *arg)
{
    const struct queue_item *first = &batch->v[0], *last = &batch->v[batch->n - 1];

    /* hiredis 0.14's formatter knows no %zu: pass the count as long */
    return queue_client_send(qc, QUEUE_REQ_INTEGER, NULL, done, arg, "EVAL %s 1 %s %ld %b %b",
                             queue_script_release, qc->keys.processing, (long)batch->n, first->data,
                             first->len, last->data, last->len);
}

int queue_client_bye(struct queue_client *qc, queue_done_fn done, void *arg)
{
    const struct queue_keys *k = &qc->keys;

    return queue_client_send(qc, QUEUE_REQ_INTEGER, NULL, done, arg, "EVAL %s 3 %s %s %s %s",
                             queue_script_bye, k->processing, k->heartbeat, k->writers, qc->name);
}

int queue_client_writers(struct queue_client *qc, long sample, struct queue_items *into,
                         queue_done_fn done, void *arg)
{
    if (sample > 0)
        return queue_client_send(qc, QUEUE_REQ_REPLACE, into, done, arg, "SRANDMEMBER %s %ld",
                                 qc->keys.writers, sample);
    return queue_client_send(qc, QUEUE_REQ_REPLACE, into, done, arg, "SMEMBERS %s",
                             qc->keys.writers);
}

int queue_client_oldest(struct queue_client *qc, struct queue_items *into, queue_done_fn done,
                        void *arg)
{
    return queue_client_send(qc, QUEUE_REQ_REPLACE, into, done, arg, "LINDEX %s -1",
                             qc->keys.queue);
}

int queue_client_gauges(struct queue_client *qc, const struct queue_items *names,
                        queue_done_fn done, void *arg)
{
    const char *argv[4 + 2 * QUEUE_GAUGES_MAX];
    char keys[QUEUE_GAUGES_MAX][QUEUE_KEY_MAX];
    size_t n = names->n < QUEUE_GAUGES_MAX ? names->n : QUEUE_GAUGES_MAX;
    char nkeys[16];
    int argc = 0;

    snprintf(nkeys, sizeof(nkeys), "%zu", n + 1);
    argv[argc++] = "EVAL";
    argv[argc++] = queue_script_gauges;
    argv[argc++] = nkeys;
    argv[argc++] = qc->keys.queue;
    for (size_t i = 0; i < n; i++) {
        queue_key(keys[i], sizeof(keys[i]), qc->keys.queue, QUEUE_KEY_PROCESSING, names->v[i].data);
        argv[argc++] = keys[i];
    }
    for (size_t i = 0; i < n; i++)
        argv[argc++] = names->v[i].data;
    return queue_client_send_argv(qc, QUEUE_REQ_GAUGES, NULL, done, arg, argc, argv, NULL);
}

int queue_client_recover(struct queue_client *qc, const char *name, queue_done_fn done, void *arg)
{
    const char *argv[QUEUE_RECOVER_ARGC];
    struct queue_keys k;
    int argc;

    queue_keys_init(&k, qc->keys.queue, name);
    argc = queue_recover_argv(&k, name, false, argv);
    return queue_client_send_argv(qc, QUEUE_REQ_INTEGER, NULL, done, arg, argc, argv, NULL);
}
