/*
 * dead-letters list | show | requeue. A requeue pushes the stored raw body back onto the
 * queue as a new delivery (original source, new delivery id, receive time now) — or, for a
 * gap item a writer older than schema 6 dead-lettered, the item itself — inside a
 * transaction that holds the dead letter's row lock, and deletes the dead letter only
 * after Redis confirmed the push: a failure before the push leaves it untouched, a
 * failure after it leaves it queued and still listed, never lost.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "args.h"
#include "ctl.h"
#include "envelope.h"
#include "gap.h"
#include "queue.h"
#include "strbuf.h"
#include "text.h"

#define DL_LIST_DEFAULT 50

/* Parses a dead letter id (a positive integer). */
static int dl_id(const char *s, long *id)
{
    if (args_long(s, 1, 9223372036854775807L, id) < 0) {
        ctl_err("dead-letters: bad id \"%s\" (want a positive integer)", s);
        return -1;
    }
    return 0;
}

static void dl_one_line(const char *s, char *out, size_t cap)
{
    size_t n = 0;

    for (; *s != '\0' && n + 1 < cap; s++)
        out[n++] = (*s == '\n' || *s == '\r' || *s == '\t') ? ' ' : *s;
    out[n] = '\0';
}

static int dl_list(const struct ctl *ctl, int argc, char **argv)
{
    const char *limit_s = NULL, *reason = NULL;
    bool json = false;
    struct args_opt opts[] = {
        {"--limit", &limit_s, NULL}, {"--reason", &reason, NULL}, {"--json", NULL, &json}};
    char err[ARGS_ERR_LEN], limit_txt[24];
    size_t npos;
    long limit = DL_LIST_DEFAULT;
    const char *params[2];
    PGconn *pg = NULL;
    PGresult *res = NULL;
    json_t *arr = NULL;
    int ret = CTL_FAIL;

    if (args_parse(argc, argv, opts, 3, NULL, 0, &npos, err, sizeof(err)) < 0) {
        ctl_err("dead-letters list: %s", err);
        return CTL_USAGE;
    }
    if (limit_s != NULL && args_long(limit_s, 1, 1000000, &limit) < 0) {
        ctl_err("dead-letters list: bad --limit \"%s\" (1 to 1000000)", limit_s);
        return CTL_USAGE;
    }
    snprintf(limit_txt, sizeof(limit_txt), "%ld", limit);
    params[0] = reason != NULL ? reason : "";
    params[1] = limit_txt;
    pg = ctl_pg_connect(ctl);
    if (pg == NULL)
        return CTL_FAIL;
    res = PQexecParams(pg,
                       "SELECT id, coalesce(source, ''), source IS NULL,"
                       " to_char(received_at AT TIME ZONE 'UTC',"
                       " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
                       " octet_length(body), coalesce(delivery_id, ''), reason,"
                       " count(*) OVER ()"
                       " FROM hookpipe.dead_letters WHERE strpos(reason, $1) > 0 OR $1 = ''"
                       " ORDER BY id LIMIT $2::bigint",
                       2, NULL, params, NULL, NULL, 0);
    if (!ctl_pg_ok(pg, res, "listing dead letters"))
        goto done;
    if (json) {
        char *text;
        arr = json_array();
        for (int i = 0; arr != NULL && i < PQntuples(res); i++) {
            json_t *o = json_pack(
                "{s:I, s:o, s:s, s:I, s:o, s:s}", "id",
                (json_int_t)strtoll(PQgetvalue(res, i, 0), NULL, 10), "source",
                PQgetvalue(res, i, 2)[0] == 't' ? json_null() : json_string(PQgetvalue(res, i, 1)),
                "received_at", PQgetvalue(res, i, 3), "bytes",
                (json_int_t)strtoll(PQgetvalue(res, i, 4), NULL, 10), "delivery_id",
                PQgetvalue(res, i, 5)[0] ? json_string(PQgetvalue(res, i, 5)) : json_null(),
                "reason", PQgetvalue(res, i, 6));
            if (o == NULL || json_array_append_new(arr, o) < 0) {
                ctl_err("out of memory");
                goto done;
            }
        }
        text = arr != NULL ? json_dumps(arr, JSON_COMPACT) : NULL;
        if (text == NULL) {
            ctl_err("out of memory");
            goto done;
        }
        printf("%s\n", text);
        free(text);
    } else {
        long long total = PQntuples(res) > 0 ? strtoll(PQgetvalue(res, 0, 7), NULL, 10) : 0;
        printf("%-8s %-27s %-16s %8s  %s\n", "ID", "RECEIVED", "SOURCE", "BYTES", "REASON");
        for (int i = 0; i < PQntuples(res); i++) {
            char why[512];
            dl_one_line(PQgetvalue(res, i, 6), why, sizeof(why));
            printf("%-8s %-27s %-16s %8s  %s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 3),
                   PQgetvalue(res, i, 2)[0] == 't' ? "-" : PQgetvalue(res, i, 1),
                   PQgetvalue(res, i, 4), why);
        }
        printf("%d of %lld dead letter%s%s%s%s\n", PQntuples(res), total, total == 1 ? "" : "s",
               reason != NULL ? " whose reason contains \"" : "", reason != NULL ? reason : "",
               reason != NULL ? "\"" : "");
    }
    ret = CTL_OK;
done:
    json_decref(arr);
    PQclear(res);
    PQfinish(pg);
    return ret;
}

static int dl_show(const struct ctl *ctl, int argc, char **argv)
{
    char err[ARGS_ERR_LEN] = "";
    char *pos[1];
    size_t npos;
    long id;
    const char *params[1];
    PGconn *pg;
    PGresult *res;
    int ret = CTL_FAIL;

    if (args_parse(argc, argv, NULL, 0, pos, 1, &npos, err, sizeof(err)) < 0 || npos != 1) {
        ctl_err("dead-letters show: %s", npos != 1 && err[0] == '\0' ? "needs one ID" : err);
        return CTL_USAGE;
    }
    if (dl_id(pos[0], &id) < 0)
        return CTL_USAGE;
    params[0] = pos[0];
    pg = ctl_pg_connect(ctl);
    if (pg == NULL)
        return CTL_FAIL;
    /* binary result: the bytes exactly as stored */
    res = PQexecParams(pg, "SELECT body FROM hookpipe.dead_letters WHERE id = $1::bigint", 1, NULL,
                       params, NULL, NULL, 1);
    if (!ctl_pg_ok(pg, res, "reading the dead letter"))
        goto done;
    if (PQntuples(res) != 1) {
        ctl_err("dead-letters show: no dead letter %ld", id);
        goto done;
    }
    if (fwrite(PQgetvalue(res, 0, 0), 1, (size_t)PQgetlength(res, 0, 0), stdout) !=
            (size_t)PQgetlength(res, 0, 0) ||
        fflush(stdout) != 0) {
        ctl_err("dead-letters show: cannot write to stdout: %s", strerror(errno));
        goto done;
    }
    ret = CTL_OK;
done:
    PQclear(res);
    PQfinish(pg);
    return ret;
}

/* A fresh delivery id: 32 random hex digits. */
static int dl_new_delivery_id(char out[ENVELOPE_ID_MAX + 1])
{
    unsigned char raw[16];

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return -1;
    hex_encode(raw, sizeof(raw), out);
    return 0;
}

enum dl_outcome { DL_DONE, DL_SKIPPED, DL_FATAL };

/*
 * Requeues dead letter id (text) all or nothing: row lock, LPUSH, then DELETE and COMMIT.
 * DL_SKIPPED for an item that cannot be requeued (gone, no source), DL_FATAL when Redis or
 * PostgreSQL failed (the item is untouched, or queued and still listed).
 */
static enum dl_outcome dl_requeue_one(const struct ctl *ctl, PGconn *pg, redisContext *rc,
                                      const char *id)
{
    const char *params[1] = {id};
    char header[ENVELOPE_HEADER_MAX];
    char delivery[ENVELOPE_ID_MAX + 1];
    char queue[QUEUE_KEY_MAX];
    struct strbuf item = {0};
    PGresult *res = NULL;
    redisReply *r;
    enum dl_outcome out = DL_FATAL;
    int hlen;
    bool in_tx = false;

    if (!ctl_pg_query(pg, &res, "BEGIN", "BEGIN", 0, NULL, 0))
        goto done;
    in_tx = true;
    if (!ctl_pg_query(pg, &res, "reading the dead letter",
                      "SELECT source, body FROM hookpipe.dead_letters WHERE id = $1::bigint"
                      " FOR UPDATE",
                      1, params, 1))
        goto done;
    if (PQntuples(res) != 1) {
        ctl_err("dead-letters requeue: no dead letter %s", id);
        out = DL_SKIPPED;
        goto done;
    }
    if (PQgetisnull(res, 0, 0)) {
        struct gap gap;
        const char *why;
        if (gap_decode(PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1), &gap, &why) == 0) {
            /* a gap item a writer before schema 6 could not read: queued again as it was */
            strbuf_append(&item, PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1));
            snprintf(delivery, sizeof(delivery), "-");
            goto push;
        }
        ctl_err("dead-letters requeue: dead letter %s has no source (its queue item was no "
                "envelope); not requeued",
                id);
        out = DL_SKIPPED;
        goto done;
    }
    if (dl_new_delivery_id(delivery) < 0) {
        ctl_err("dead-letters requeue: no randomness for a delivery id: %s", strerror(errno));
        goto done;
    }
    {
        char source[NAME_MAX_LEN + 1];
        snprintf(source, sizeof(source), "%.*s", PQgetlength(res, 0, 0), PQgetvalue(res, 0, 0));
        hlen = envelope_encode_header(header, source, ctl_now_us(), delivery, NULL, 0,
                                      (size_t)PQgetlength(res, 0, 1));
        if (hlen < 0 || (size_t)PQgetlength(res, 0, 0) != strlen(source)) {
            ctl_err("dead-letters requeue: dead letter %s: source \"%s\" is no valid name; not "
                    "requeued",
                    id, source);
            out = DL_SKIPPED;
            goto done;
        }
    }
    strbuf_append(&item, header, (size_t)hlen);
    strbuf_append(&item, PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1));
push:
    if (item.failed) {
        ctl_err("out of memory");
        goto done;
    }
    PQclear(res);
    res = NULL;
    queue_key(queue, sizeof(queue), ctl->cfg->redis.queue, QUEUE_KEY_QUEUE, "");
    r = redisCommand(rc, "LPUSH %s %b", queue, item.data, item.len);
    if (!ctl_redis_ok(rc, r, "LPUSH"))
        goto done; /* not pushed (or unknown: the dead letter stays, nothing is lost) */
    if (r->type != REDIS_REPLY_INTEGER) {
        ctl_err("redis: LPUSH: unexpected reply");
        freeReplyObject(r);
        goto done;
    }
    freeReplyObject(r);
    /* pushed: from here on a failure leaves a queued copy and the dead letter, never neither */
    if (!ctl_pg_query(pg, &res, "deleting the requeued dead letter (it was queued again)",
                      "DELETE FROM hookpipe.dead_letters WHERE id = $1::bigint", 1, params, 0))
        goto done;
    in_tx = false;
    if (!ctl_pg_query(pg, &res, "deleting the requeued dead letter (it was queued again)", "COMMIT",
                      0, NULL, 0))
        goto done;
    if (strcmp(delivery, "-") == 0)
        printf("requeued dead letter %s as the gap item it was\n", id);
    else
        printf("requeued dead letter %s as delivery %s\n", id, delivery);
    out = DL_DONE;
done:
    PQclear(res);
    if (in_tx)
        PQclear(PQexec(pg, "ROLLBACK"));
    strbuf_free(&item);
    return out;
}

static int dl_requeue(const struct ctl *ctl, int argc, char **argv)
{
    const char *reason = NULL;
    bool all = false;
    struct args_opt opts[] = {{"--all", NULL, &all}, {"--reason", &reason, NULL}};
    char err[ARGS_ERR_LEN];
    char **pos = NULL;
    size_t npos = 0, done = 0, skipped = 0, total;
    PGconn *pg = NULL;
    PGresult *ids = NULL;
    redisContext *rc = NULL;
    int ret = CTL_USAGE;

    pos = calloc((size_t)argc + 1, sizeof(*pos));
    if (pos == NULL) {
        ctl_err("out of memory");
        return CTL_FAIL;
    }
    if (args_parse(argc, argv, opts, 2, pos, (size_t)argc, &npos, err, sizeof(err)) < 0) {
        ctl_err("dead-letters requeue: %s", err);
        goto done;
    }
    if (all == (npos > 0)) {
        ctl_err("dead-letters requeue: give IDs or --all");
        goto done;
    }
    if (reason != NULL && !all) {
        ctl_err("dead-letters requeue: --reason needs --all");
        goto done;
    }
    for (size_t i = 0; i < npos; i++) {
        long id;
        if (dl_id(pos[i], &id) < 0)
            goto done;
    }
    ret = CTL_FAIL;
    pg = ctl_pg_connect(ctl);
    if (pg == NULL)
        goto done;
    rc = ctl_redis_connect(ctl);
    if (rc == NULL)
        goto done;
    if (all) {
        const char *params[1] = {reason != NULL ? reason : ""};
        ids = PQexecParams(pg,
                           "SELECT id::text FROM hookpipe.dead_letters"
                           " WHERE strpos(reason, $1) > 0 OR $1 = '' ORDER BY id",
                           1, NULL, params, NULL, NULL, 0);
        if (!ctl_pg_ok(pg, ids, "listing dead letters"))
            goto done;
        total = (size_t)PQntuples(ids);
    } else {
        total = npos;
    }
    for (size_t i = 0; i < total; i++) {
        const char *id = all ? PQgetvalue(ids, (int)i, 0) : pos[i];
        enum dl_outcome o = dl_requeue_one(ctl, pg, rc, id);
        if (o == DL_DONE)
            done++;
        else if (o == DL_SKIPPED)
            skipped++;
        else
            break; /* Redis or PostgreSQL failed: stop rather than fail every item alike */
    }
    printf("requeued %zu of %zu dead letter%s\n", done, total, total == 1 ? "" : "s");
    ret = done == total ? CTL_OK : CTL_FAIL;
done:
    PQclear(ids);
    if (rc != NULL)
        redisFree(rc);
    PQfinish(pg);
    free(pos);
    return ret;
}

int ctl_dead_letters(const struct ctl *ctl, int argc, char **argv)
{
    if (argc < 1) {
        ctl_err("dead-letters: needs list, show or requeue");
        return CTL_USAGE;
    }
    if (strcmp(argv[0], "list") == 0)
        return dl_list(ctl, argc - 1, argv + 1);
    if (strcmp(argv[0], "show") == 0)
        return dl_show(ctl, argc - 1, argv + 1);
    if (strcmp(argv[0], "requeue") == 0)
        return dl_requeue(ctl, argc - 1, argv + 1);
    ctl_err("dead-letters: unknown subcommand \"%s\" (list, show, requeue)", argv[0]);
    return CTL_USAGE;
}
