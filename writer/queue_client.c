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
    QUEUE_REQ_REPLACE, /* read-back: items replace into's */
    QUEUE_REQ_INTEGER, /* release, bye */
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

/* Appends the bulk strings of reply to items; -1 on allocation failure (items unchanged). */
static int queue_items_append(struct queue_items *items, const redisReply *reply)
{
    size_t n = items->n;

    if (n + reply->elements > items->cap) {
        struct queue_item *p = realloc(items->v, (n + reply->elements) * sizeof(*p));
        if (p == NULL)
            return -1;
        items->v = p;
        items->cap = n + reply->elements;
    }
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        char *data = malloc(e->len ? e->len : 1);
        if (data == NULL || e->type != REDIS_REPLY_STRING) {
            free(data);
            while (items->n > n)
                free(items->v[--items->n].data);
            return -1;
        }
        memcpy(data, e->str, e->len);
        items->v[items->n].data = data;
        items->v[items->n].len = e->len;
        items->n++;
    }
    return 0;
}

static void queue_client_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct queue_request *req = privdata;
    redisReply *reply = r;
    struct queue_reply out = {QUEUE_LOST, 0, 0, NULL};

    if (reply == NULL) {
        /* lost with the link */
    } else if (reply->type == REDIS_REPLY_ERROR) {
        out.outcome = QUEUE_ERROR;
        out.error = reply->str;
    } else if (req->kind == QUEUE_REQ_INTEGER) {
        out.outcome = reply->type == REDIS_REPLY_INTEGER ? QUEUE_OK : QUEUE_ERROR;
        out.value = reply->integer;
        out.error = "unexpected reply";
    } else if (reply->type != REDIS_REPLY_ARRAY) {
        out.outcome = QUEUE_ERROR;
        out.error = "unexpected reply";
    } else {
        struct queue_items fresh = {NULL, 0, 0};
        struct queue_items *into = req->kind == QUEUE_REQ_REPLACE ? &fresh : req->into;
        out.outcome = QUEUE_OK;
        out.count = reply->elements;
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

/* Sends one command (printf-style for hiredis) carrying a request record. */
static int queue_client_send(struct queue_client *qc, enum queue_request_kind kind,
                             struct queue_items *into, queue_done_fn done, void *arg,
                             const char *fmt, ...)
{
    redisAsyncContext *ac = redis_link_ctx(qc->link);
    struct queue_request *req;
    va_list ap;
    int rc;

    if (ac == NULL || (req = malloc(sizeof(*req))) == NULL)
        return -1;
    *req = (struct queue_request){kind, into, done, arg, qc->link};
    va_start(ap, fmt);
    rc = redisvAsyncCommand(ac, queue_client_cb, req, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        free(req);
        return -1;
    }
    return 0;
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
