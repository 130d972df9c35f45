/*
 * gaps [--source S] [--since TIME] [--json]: the intervals in which a WebSocket subscription
 * had no live connection (hookpipe.gaps, sql/006_gaps.sql), newest first, then the time lost
 * per source. Zoom does not resend what it sent meanwhile: each row is events never received.
 * With --since, the gaps that ended after TIME, and the totals count only the time after it.
 */
#include "gaps.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "ctl.h"
#include "name.h"

int gaps_args_parse(int argc, char **argv, int64_t now_us, struct gaps_args *a, char *err,
                    size_t errlen)
{
    struct args_opt opts[] = {
        {"--source", &a->source, NULL}, {"--since", &a->since, NULL}, {"--json", NULL, &a->json}};
    const char *why;
    size_t npos;

    memset(a, 0, sizeof(*a));
    if (args_parse(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), NULL, 0, &npos, err, errlen) <
        0)
        return -1;
    if (a->source != NULL && !name_valid(a->source, strlen(a->source))) {
        snprintf(err, errlen, "bad --source \"%s\" (a [source.NAME]: 1 to %d of A-Z a-z 0-9 _ -)",
                 a->source, NAME_MAX_LEN);
        return -1;
    }
    if (a->since != NULL && args_time(a->since, now_us, &a->since_us, &why) < 0) {
        snprintf(err, errlen, "bad --since \"%s\": %s", a->since, why);
        return -1;
    }
    return 0;
}

int64_t gaps_lost_us(int64_t started_us, int64_t ended_us, int64_t since_us)
{
    int64_t from = started_us > since_us ? started_us : since_us;

    return ended_us > from ? ended_us - from : 0;
}

void gaps_duration_format(int64_t us, char *out, size_t cap)
{
    int64_t ms = (us < 0 ? 0 : us) / 1000;
    long long d = ms / 86400000, h = ms / 3600000 % 24, m = ms / 60000 % 60;
    long long s = ms / 1000 % 60, frac = ms % 1000;

    if (d > 0)
        snprintf(out, cap, "%lldd %02lldh %02lldm %02lld.%03llds", d, h, m, s, frac);
    else if (h > 0)
        snprintf(out, cap, "%lldh %02lldm %02lld.%03llds", h, m, s, frac);
    else if (m > 0)
        snprintf(out, cap, "%lldm %02lld.%03llds", m, s, frac);
    else
        snprintf(out, cap, "%lld.%03llds", s, frac);
}

/* Per source: how many gaps and how much time they lost (in the window). */
struct gaps_total {
    const char *source; /* points into the result */
    long long count;
    int64_t lost_us;
};

/* Column numbers of gaps_sql's result. */
enum {
    GAPS_SOURCE,
    GAPS_STARTED,
    GAPS_ENDED,
    GAPS_STARTED_US,
    GAPS_ENDED_US,
    GAPS_REASON,
    GAPS_BY
};

/*
 * $1 the source or NULL, $2 the --since time or NULL (so an absent filter is no cast of '').
 * The times also as µs for the totals: exact, extract gives numeric (PostgreSQL >= 14).
 */
static const char gaps_sql[] =
    "SELECT source,"
    " to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " to_char(ended_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " (extract(epoch FROM started_at) * 1000000)::bigint,"
    " (extract(epoch FROM ended_at) * 1000000)::bigint, reason, recorded_by"
    " FROM hookpipe.gaps WHERE ($1::text IS NULL OR source = $1::text)"
    " AND ($2::timestamptz IS NULL OR ended_at > $2::timestamptz)"
    " ORDER BY started_at DESC, source";

/* Adds row i to its source's total (totals has room for every row). */
static void gaps_add(struct gaps_total *totals, size_t *ntotals, const PGresult *res, int i,
                     int64_t since_us)
{
    const char *source = PQgetvalue(res, i, GAPS_SOURCE);
    int64_t started = strtoll(PQgetvalue(res, i, GAPS_STARTED_US), NULL, 10);
    int64_t ended = strtoll(PQgetvalue(res, i, GAPS_ENDED_US), NULL, 10);
    size_t k = 0;

    while (k < *ntotals && strcmp(totals[k].source, source) != 0)
        k++;
    if (k == *ntotals) {
        totals[k] = (struct gaps_total){.source = source};
        (*ntotals)++;
    }
    totals[k].count++;
    totals[k].lost_us += gaps_lost_us(started, ended, since_us);
}

static int gaps_total_cmp(const void *a, const void *b)
{
    return strcmp(((const struct gaps_total *)a)->source, ((const struct gaps_total *)b)->source);
}

static int gaps_print_json(const struct gaps_args *a, const PGresult *res,
                           const struct gaps_total *totals, size_t ntotals)
{
    json_t *o = json_object(), *list = json_array(), *sums = json_array();
    char *text = NULL;
    int ret = -1;

    if (o == NULL || list == NULL || sums == NULL)
        goto done;
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t started = strtoll(PQgetvalue(res, i, GAPS_STARTED_US), NULL, 10);
        int64_t ended = strtoll(PQgetvalue(res, i, GAPS_ENDED_US), NULL, 10);
        json_t *g = json_pack(
            "{s:s, s:s, s:s, s:f, s:s, s:s}", "source", PQgetvalue(res, i, GAPS_SOURCE),
            "started_at", PQgetvalue(res, i, GAPS_STARTED), "ended_at",
            PQgetvalue(res, i, GAPS_ENDED), "duration_s", (double)(ended - started) / 1e6, "reason",
            PQgetvalue(res, i, GAPS_REASON), "recorded_by", PQgetvalue(res, i, GAPS_BY));
        if (g == NULL || json_array_append_new(list, g) < 0)
            goto done;
    }
    for (size_t k = 0; k < ntotals; k++) {
        json_t *t =
            json_pack("{s:s, s:I, s:f}", "source", totals[k].source, "gaps",
                      (json_int_t)totals[k].count, "lost_s", (double)totals[k].lost_us / 1e6);
        if (t == NULL || json_array_append_new(sums, t) < 0)
            goto done;
    }
    if (a->since != NULL) {
        char since[48];
        args_time_format(a->since_us, since, sizeof(since)); /* "YYYY-MM-DD HH:MM:SS.uuuuuu+00" */
        since[10] = 'T';
        memcpy(since + 26, "Z", 2);
        if (json_object_set_new(o, "since", json_string(since)) < 0)
            goto done;
    } else if (json_object_set_new(o, "since", json_null()) < 0) {
        goto done;
    }
    if (json_object_set(o, "gaps", list) < 0 || json_object_set(o, "totals", sums) < 0)
        goto done;
    text = json_dumps(o, JSON_COMPACT);
    if (text == NULL)
        goto done;
    printf("%s\n", text);
    ret = 0;
done:
    free(text);
    json_decref(sums);
    json_decref(list);
    json_decref(o);
    if (ret < 0)
        ctl_err("out of memory");
    return ret;
}

static void gaps_print_text(const struct gaps_args *a, const PGresult *res,
                            const struct gaps_total *totals, size_t ntotals)
{
    int n = PQntuples(res);
    char dur[48], since[48] = "";

    if (a->since != NULL) {
        args_time_format(a->since_us, since, sizeof(since));
        since[19] = '\0'; /* to the second: "YYYY-MM-DD HH:MM:SS" */
    }
    if (n == 0) {
        printf("no gaps%s%s%s%s%s\n", a->source != NULL ? " of source " : "",
               a->source != NULL ? a->source : "", a->since != NULL ? " ending after " : "",
               a->since != NULL ? since : "", a->since != NULL ? " UTC" : "");
        return;
    }
    printf("%-16s %-27s %-27s %-18s %-18s %s\n", "SOURCE", "STARTED", "ENDED", "DURATION", "REASON",
           "RECORDED BY");
    for (int i = 0; i < n; i++) {
        int64_t started = strtoll(PQgetvalue(res, i, GAPS_STARTED_US), NULL, 10);
        int64_t ended = strtoll(PQgetvalue(res, i, GAPS_ENDED_US), NULL, 10);
        gaps_duration_format(ended - started, dur, sizeof(dur));
        printf("%-16s %-27s %-27s %-18s %-18s %s\n", PQgetvalue(res, i, GAPS_SOURCE),
               PQgetvalue(res, i, GAPS_STARTED), PQgetvalue(res, i, GAPS_ENDED), dur,
               PQgetvalue(res, i, GAPS_REASON), PQgetvalue(res, i, GAPS_BY));
    }
    printf("lost time by source%s%s%s:\n", a->since != NULL ? " since " : "",
           a->since != NULL ? since : "", a->since != NULL ? " UTC" : "");
    for (size_t k = 0; k < ntotals; k++) {
        gaps_duration_format(totals[k].lost_us, dur, sizeof(dur));
        printf("  %-16s %s in %lld gap%s\n", totals[k].source, dur, totals[k].count,
               totals[k].count == 1 ? "" : "s");
    }
}

int ctl_gaps(const struct ctl *ctl, int argc, char **argv)
{
    struct gaps_args a;
    char err[ARGS_ERR_LEN], since_txt[48];
    const char *params[2];
    struct gaps_total *totals = NULL;
    size_t ntotals = 0;
    PGconn *pg = NULL;
    PGresult *res = NULL;
    int ret = CTL_FAIL;

    if (gaps_args_parse(argc, argv, ctl_now_us(), &a, err, sizeof(err)) < 0) {
        ctl_err("gaps: %s", err);
        return CTL_USAGE;
    }
    pg = ctl_pg_connect(ctl);
    if (pg == NULL)
        return CTL_FAIL;
    if (!ctl_pg_query(pg, &res, "reading the schema",
                      "SELECT to_regclass('hookpipe.gaps') IS NOT NULL", 0, NULL, 0))
        goto done;
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        ctl_err("gaps: the database has no hookpipe.gaps (schema 6): run hookpipe-writer "
                "--migrate, or upgrade the writers");
        goto done;
    }
    params[0] = a.source;
    params[1] = NULL;
    if (a.since != NULL) {
        args_time_format(a.since_us, since_txt, sizeof(since_txt));
        params[1] = since_txt;
    }
    if (!ctl_pg_query(pg, &res, "listing gaps", gaps_sql, 2, params, 0))
        goto done;
    totals = calloc((size_t)PQntuples(res) + 1, sizeof(*totals));
    if (totals == NULL) {
        ctl_err("out of memory");
        goto done;
    }
    for (int i = 0; i < PQntuples(res); i++)
        gaps_add(totals, &ntotals, res, i, a.since != NULL ? a.since_us : 0);
    if (ntotals > 1)
        qsort(totals, ntotals, sizeof(*totals), gaps_total_cmp);
    if (a.json) {
        if (gaps_print_json(&a, res, totals, ntotals) < 0)
            goto done;
    } else {
        gaps_print_text(&a, res, totals, ntotals);
    }
    ret = CTL_OK;
done:
    free(totals);
    PQclear(res);
    PQfinish(pg);
    return ret;
}
