/*
 * purge --account ID [--dry-run]: deletes every stored event and dead letter of one Zoom
 * account (Zoom's Marketplace rules after an app is deauthorised); the derived views follow
 * the events. The events go PURGE_CHUNK partitions at a time, each chunk one transaction
 * whose DELETE is bounded by the chunk's event_time range (literals: PostgreSQL plans and
 * locks only those partitions — one DELETE over 2,000 partitions would need more locks
 * than a default PostgreSQL has); the dead letters go in the last one. Dead letters have
 * no account column: every one whose raw body holds the ID's bytes is read and deleted
 * when its payload.account_id is ID, or when it is no JSON object at all but contains "ID"
 * (it cannot be attributed otherwise).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "ctl.h"
#include "json_scan.h"

#define PURGE_ACCOUNT_MAX 256
#define PURGE_CHUNK 50 /* partitions per transaction: ~300 locks with their indexes */
#define PURGE_CHUNK_TEXT "50"

/*
 * The event_time ranges to delete in, one per transaction, as "lo\thi" literals: the
 * partitions in chunks of PURGE_CHUNK (from the catalog, which locks none of them), or one
 * unbounded range for a table that is not partitioned (schema v1). NULL after one line.
 */
static PGresult *purge_ranges(PGconn *pg)
{
    PGresult *res = NULL;
    bool partitioned;

    if (!ctl_pg_query(pg, &res, "reading the schema",
                      "SELECT to_regclass('hookpipe.event_partitions') IS NOT NULL", 0, NULL, 0))
        goto fail;
    partitioned = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    if (!ctl_pg_query(pg, &res, "reading the partitions",
                      partitioned ? "SELECT min(lo)::text, max(hi)::text FROM (SELECT lo, hi,"
                                    " (row_number() OVER (ORDER BY lo) - 1) / " PURGE_CHUNK_TEXT
                                    " AS chunk FROM hookpipe.event_partitions) p"
                                    " GROUP BY chunk ORDER BY chunk"
                                  : "SELECT NULL::text, NULL::text",
                      0, NULL, 0))
        goto fail;
    return res;
fail:
    PQclear(res);
    return NULL;
}

/* True when the dead letter body[0..len) belongs to account (see the file comment). */
static bool purge_dead_letter_matches(const char *body, size_t len, const char *account,
                                      bool *unparsed)
{
    struct json_scan_result res;
    const char *why;
    size_t alen = strlen(account);

    *unparsed = false;
    if (json_scan(body, len, NULL, &res, &why) == 0) {
        char *v;
        bool match;
        if (res.account_id.p == NULL)
            return false;
        if (!res.account_id.escaped)
            return res.account_id.len == alen && memcmp(res.account_id.p, account, alen) == 0;
        v = json_scan_str_decode(&res.account_id);
        match = v != NULL && strcmp(v, account) == 0;
        free(v);
        return match;
    }
    for (size_t i = 0; i + alen + 2 <= len; i++) {
        if (body[i] == '"' && memcmp(body + i + 1, account, alen) == 0 &&
            body[i + alen + 1] == '"') {
            *unparsed = true;
            return true;
        }
    }
    return false;
}

int ctl_purge(const struct ctl *ctl, int argc, char **argv)
{
    const char *account = NULL;
    bool dry = false;
    struct args_opt opts[] = {{"--account", &account, NULL}, {"--dry-run", NULL, &dry}};
    char err[ARGS_ERR_LEN] = "";
    size_t npos = 0, dl_deleted = 0, dl_unparsed = 0;
    const char *params[1];
    char *del_ids = NULL;
    size_t del_len = 0;
    long long events = 0;
    PGconn *pg = NULL;
    PGresult *res = NULL, *ranges = NULL;
    int ret = CTL_FAIL, nchunks;
    bool in_tx = false;

    if (args_parse(argc, argv, opts, 2, NULL, 0, &npos, err, sizeof(err)) < 0) {
        ctl_err("purge: %s", err);
        return CTL_USAGE;
    }
    if (account == NULL || account[0] == '\0' || strlen(account) > PURGE_ACCOUNT_MAX) {
        ctl_err("purge: needs --account ID (1 to %d bytes)", PURGE_ACCOUNT_MAX);
        return CTL_USAGE;
    }
    for (const char *c = account; *c != '\0'; c++) {
        if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\' || *c == 0x7f) {
            ctl_err("purge: bad account ID (control characters, quotes and backslashes are "
                    "never part of one)");
            return CTL_USAGE;
        }
    }
    params[0] = account;
    pg = ctl_pg_connect(ctl);
    if (pg == NULL)
        return CTL_FAIL;
    ranges = purge_ranges(pg);
    if (ranges == NULL)
        goto done;
    nchunks = PQntuples(ranges) > 0 ? PQntuples(ranges) : 1;
    for (int c = 0; c < nchunks; c++) {
        char sql[256];
        if (c < PQntuples(ranges) && !PQgetisnull(ranges, c, 0))
            snprintf(sql, sizeof(sql),
                     "DELETE FROM hookpipe.events WHERE account_id = $1"
                     " AND event_time >= '%s' AND event_time < '%s'",
                     PQgetvalue(ranges, c, 0), PQgetvalue(ranges, c, 1));
        else
            snprintf(sql, sizeof(sql), "DELETE FROM hookpipe.events WHERE account_id = $1");
        if (!ctl_pg_query(pg, &res, "BEGIN", "BEGIN", 0, NULL, 0))
            goto done;
        in_tx = true;
        if (!ctl_pg_query(pg, &res, "deleting events", sql, 1, params, 0))
            goto done;
        events += strtoll(PQcmdTuples(res), NULL, 10);
        if (c + 1 == nchunks)
            break; /* the last transaction also takes the dead letters */
        in_tx = false;
        if (!ctl_pg_query(pg, &res, dry ? "ROLLBACK" : "COMMIT", dry ? "ROLLBACK" : "COMMIT", 0,
                          NULL, 0))
            goto done;
    }
    /* the candidates: bodies holding the ID's bytes at all, locked until the commit */
    if (!ctl_pg_query(pg, &res, "reading dead letters",
                      "SELECT id::text, body FROM hookpipe.dead_letters"
                      " WHERE position(convert_to($1, 'UTF8') IN body) > 0 FOR UPDATE",
                      1, params, 1))
        goto done;
    del_ids = malloc((size_t)PQntuples(res) * 21 + 3);
    if (del_ids == NULL) {
        ctl_err("out of memory");
        goto done;
    }
    del_len = (size_t)sprintf(del_ids, "{");
    for (int i = 0; i < PQntuples(res); i++) {
        bool unparsed;
        if (!purge_dead_letter_matches(PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1),
                                       account, &unparsed))
            continue;
        /* binary result: id::text arrives as its text bytes */
        del_len += (size_t)sprintf(del_ids + del_len, "%s%.*s", dl_deleted ? "," : "",
                                   PQgetlength(res, i, 0) > 20 ? 20 : PQgetlength(res, i, 0),
                                   PQgetvalue(res, i, 0));
        dl_deleted++;
        dl_unparsed += unparsed;
    }
    sprintf(del_ids + del_len, "}");
    params[0] = del_ids;
    if (!ctl_pg_query(pg, &res, "deleting dead letters",
                      "DELETE FROM hookpipe.dead_letters WHERE id = ANY($1::bigint[])", 1, params,
                      0))
        goto done;
    in_tx = false;
    if (!ctl_pg_query(pg, &res, dry ? "ROLLBACK" : "COMMIT", dry ? "ROLLBACK" : "COMMIT", 0, NULL,
                      0))
        goto done;
    printf("purge%s: account %s: %s %lld event%s and %zu dead letter%s", dry ? " (dry run)" : "",
           account, dry ? "would delete" : "deleted", events, events == 1 ? "" : "s", dl_deleted,
           dl_deleted == 1 ? "" : "s");
    if (dl_unparsed > 0)
        printf(" (%zu of them not JSON but containing the account ID)", dl_unparsed);
    printf("\n");
    ret = CTL_OK;
done:
    PQclear(res);
    PQclear(ranges);
    if (in_tx)
        PQclear(PQexec(pg, "ROLLBACK"));
    free(del_ids);
    PQfinish(pg);
    return ret;
}
