/*
 * Item classification and COPY text encoding. The checks here are the cheap ones
 * that catch most poison before PostgreSQL sees it (json_scan's text mode rejects
 * invalid UTF-8 and \u0000, which jsonb and text columns cannot hold); whatever still
 * fails in PostgreSQL is isolated by the bisection in store.c.
 */
#include "row.h"

#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "facts.h"
#include "provider.h"
#include "text.h"

/* event_ts outside [0, 9999-12-31] is stored as NULL rather than failing the row. */
#define ROW_EVENT_TS_MAX 253402300799999LL

void row_copy_escaped(struct strbuf *buf, const char *s, size_t len)
{
    size_t start = 0;

    for (size_t i = 0; i < len; i++) {
        const char *esc;
        switch (s[i]) {
        case '\\':
            esc = "\\\\";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            continue;
        }
        strbuf_append(buf, s + start, i - start);
        strbuf_append(buf, esc, 2);
        start = i + 1;
    }
    strbuf_append(buf, s + start, len - start);
}

int row_mark_dead(struct row *r, const char *reason)
{
    char *copy = strdup(reason);

    if (copy == NULL)
        return -1;
    /* only dead letters need the item's own key (their dedup on re-delivery) */
    SHA256((const unsigned char *)r->item, r->item_len, r->item_key);
    free(r->reason);
    r->reason = copy;
    r->dead = true;
    return 0;
}

void row_free(struct row *r)
{
    free(r->reason);
    free(r->event);
    free(r->account_id);
    free(r->headers);
    r->reason = r->event = r->account_id = r->headers = NULL;
}

/* event_ts as integer milliseconds in range, from its raw number token. */
static bool row_event_ts(const struct json_scan_str *tok, int64_t *out)
{
    char buf[64];
    char *end;

    if (tok->p == NULL || tok->len == 0 || tok->len >= sizeof(buf))
        return false;
    memcpy(buf, tok->p, tok->len);
    buf[tok->len] = '\0';
    if (strpbrk(buf, ".eE") == NULL) {
        long long v;
        errno = 0;
        v = strtoll(buf, &end, 10);
        if (errno != 0 || *end != '\0' || v < 0 || v > ROW_EVENT_TS_MAX)
            return false;
        *out = (int64_t)v;
        return true;
    }
    double d = strtod(buf, &end);
    if (*end != '\0' || !(d >= 0 && d <= (double)ROW_EVENT_TS_MAX) || (double)(int64_t)d != d)
        return false;
    *out = (int64_t)d;
    return true;
}

/* A gap item (docs/envelope.md "Gap items"): valid, or dead with the decoder's reason. */
static int row_classify_gap(struct row *r)
{
    const char *why = NULL;

    if (gap_decode(r->item, r->item_len, &r->gap, &why) != 0)
        return row_mark_dead(r, why);
    if (r->gap.ended_us > ROW_RECEIVED_US_MAX)
        return row_mark_dead(r, "gap time out of range");
    r->is_gap = true;
    return 0;
}

/*
 * A delivery of another provider than Zoom (envelope v2): its facts, headers and key from
 * facts.c. Dead only when the body is not JSON or the provider is unknown to this writer
 * (a newer gateway's: kept whole as a dead letter, to requeue after the upgrade).
 */
static int row_classify_provider(struct row *r)
{
    int id = provider_find(r->env.provider, strlen(r->env.provider));
    struct facts f;
    char reason[320];

    if (id < 0 || id == PROVIDER_ZOOM) {
        snprintf(reason, sizeof(reason), "unknown provider \"%s\"", r->env.provider);
        return row_mark_dead(r, reason);
    }
    switch (facts_extract(&r->env, id, &f, reason, sizeof(reason))) {
    case 0:
        break;
    case -1:
        return row_mark_dead(r, reason);
    default:
        return -1;
    }
    r->other_provider = true;
    r->event = f.event;
    r->account_id = f.account;
    r->headers = f.headers;
    r->has_event_ts = f.has_time;
    r->event_ts_ms = f.time_ms;
    r->time_of_delivery = f.time_of_delivery;
    r->place = f.has_time && !f.time_of_delivery ? ROW_DATED : ROW_NO_EVENT_TS;
    memcpy(r->key, f.key, EVENT_KEY_LEN);
    return 0;
}

int row_classify(struct row *r, const char *item, size_t item_len)
{
    const char *why = NULL;
    struct json_scan_result scan;
    char reason[256];
    int rc = -1;

    memset(r, 0, sizeof(*r));
    r->item = item;
    r->item_len = item_len;
    if (envelope_decode(item, item_len, &r->env, &why) != 0) {
        if (gap_is_item(item, item_len))
            rc = row_classify_gap(r);
        else
            rc = row_mark_dead(r, why);
        goto done;
    }
    r->has_envelope = true;
    if (r->env.received_us > ROW_RECEIVED_US_MAX) {
        rc = row_mark_dead(r, "receive time in envelope out of range");
        goto done;
    }
    if (r->env.version != 1 && strcmp(r->env.provider, "zoom") != 0) {
        rc = row_classify_provider(r);
        goto done;
    }
    switch (event_key_scan(r->env.source, r->env.body, r->env.body_len, &scan, r->key, &why)) {
    case 0:
        break;
    case -1:
        if (strcmp(why, "body is not a JSON object") == 0)
            snprintf(reason, sizeof(reason), "%s", why);
        else
            snprintf(reason, sizeof(reason), "body is not valid JSON: %s", why);
        rc = row_mark_dead(r, reason);
        goto done;
    default:
        goto done;
    }
    if (scan.event.p == NULL) {
        rc = row_mark_dead(r, "body has no string \"event\"");
        goto done;
    }
    r->event = json_scan_str_decode(&scan.event);
    if (r->event == NULL)
        goto done;
    r->has_event_ts = row_event_ts(&scan.event_ts, &r->event_ts_ms);
    r->place = r->has_event_ts ? ROW_DATED : ROW_NO_EVENT_TS;
    if (scan.account_id.p != NULL) {
        r->account_id = json_scan_str_decode(&scan.account_id);
        if (r->account_id == NULL)
            goto done;
    }
    rc = 0;
done:
    if (rc != 0)
        row_free(r);
    return rc;
}

void row_place_window(struct row *r, const struct row_window *w)
{
    int64_t d, past_margin = r->other_provider ? ROW_PROVIDER_RETRY_MARGIN_MS : ROW_RETRY_MARGIN_MS;
    bool in;

    r->check_other = false;
    if (r->dead || !r->has_event_ts || r->time_of_delivery) {
        r->place = ROW_NO_EVENT_TS;
        return;
    }
    d = r->event_ts_ms - r->env.received_us / 1000; /* how far ahead of its receipt */
    in = d >= -w->past_ms && d <= w->future_ms;
    r->place = in ? ROW_DATED : ROW_OUT_OF_WINDOW;
    if (in) /* inside, near an edge: a first delivery may be undated */
        r->check_other = d < -w->past_ms + past_margin || d > w->future_ms - ROW_RETRY_MARGIN_MS;
    else /* outside, near an edge: a first delivery may be dated */
        r->check_other = d >= -w->past_ms - past_margin && d <= w->future_ms + ROW_RETRY_MARGIN_MS;
    r->other_ms = in ? 0 : r->event_ts_ms;
}

void row_place_no_partition(struct row *r)
{
    r->place = ROW_NO_PARTITION;
    r->check_other = true; /* a partition may exist by the time a retry comes */
    r->other_ms = r->event_ts_ms;
}

size_t row_timestamp_text(char out[ROW_TIMESTAMP_MAX], int64_t us, bool micro)
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    int n;

    gmtime_r(&secs, &tm);
    if (micro)
        n = snprintf(out, ROW_TIMESTAMP_MAX, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(us % 1000000));
    else
        n = snprintf(out, ROW_TIMESTAMP_MAX, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(us / 1000 % 1000));
    return (size_t)n;
}

void row_timestamp(struct strbuf *buf, int64_t us, bool micro)
{
    char text[ROW_TIMESTAMP_MAX];

    strbuf_append(buf, text, row_timestamp_text(text, us, micro));
}

/*
 * One COPY text line of r. The staging form starts with the ordinal and carries the
 * times as integers (converted in SQL); the events form carries them as text.
 */
static void row_line(struct strbuf *buf, const struct row *r, bool staging, long ord,
                     bool keep_body)
{
    size_t payload_at, payload_len;
    char num[64];
    char keyhex[4 + 2 * EVENT_KEY_LEN];
    char reqid[3 * ENVELOPE_REQUEST_ID_MAX + 1];
    int n;

    if (staging) {
        n = snprintf(num, sizeof(num), "%ld\t", ord);
        strbuf_append(buf, num, (size_t)n);
    }
    row_copy_escaped(buf, r->env.source, strlen(r->env.source));
    strbuf_append(buf, "\t", 1);
    if (r->event != NULL)
        row_copy_escaped(buf, r->event, strlen(r->event));
    else
        strbuf_append(buf, "\\N", 2);
    strbuf_append(buf, "\t", 1);
    if (!r->has_event_ts) {
        strbuf_append(buf, "\\N", 2);
    } else if (staging) {
        n = snprintf(num, sizeof(num), "%lld", (long long)r->event_ts_ms);
        strbuf_append(buf, num, (size_t)n);
    } else {
        row_timestamp(buf, r->event_ts_ms * 1000, false);
    }
    strbuf_append(buf, "\t", 1);
    if (r->account_id != NULL)
        row_copy_escaped(buf, r->account_id, strlen(r->account_id));
    else
        strbuf_append(buf, "\\N", 2);
    strbuf_append(buf, "\t", 1);
    if (staging) {
        n = snprintf(num, sizeof(num), "%lld", (long long)r->env.received_us);
        strbuf_append(buf, num, (size_t)n);
    } else {
        row_timestamp(buf, r->env.received_us, true);
    }
    strbuf_append(buf, "\t", 1);
    /* bytea hex input "\x…"; the backslash itself is escaped for COPY text. */
    memcpy(keyhex, "\\\\x", 3);
    hex_encode(r->key, EVENT_KEY_LEN, keyhex + 3);
    strbuf_append(buf, keyhex, 3 + 2 * EVENT_KEY_LEN);
    strbuf_append(buf, "\t", 1);
    payload_at = buf->len;
    row_copy_escaped(buf, r->env.body, r->env.body_len);
    payload_len = buf->len - payload_at;
    strbuf_append(buf, "\t", 1);
    row_copy_escaped(buf, r->env.delivery_id, strlen(r->env.delivery_id));
    strbuf_append(buf, "\t", 1);
    if (r->env.request_id_len > 0) {
        size_t len = percent_encode(r->env.request_id, r->env.request_id_len, reqid);
        row_copy_escaped(buf, reqid, len); /* a '\\' in it is COPY's escape */
    } else {
        strbuf_append(buf, "\\N", 2);
    }
    if (!staging) {
        strbuf_append(buf, "\t", 1);
        row_timestamp(buf, row_event_time_ms(r) * 1000, false);
    }
    /* body: the same escaped bytes as payload (a text column keeps them as they are) */
    strbuf_append(buf, "\t", 1);
    if (keep_body)
        strbuf_append_copy(buf, payload_at, payload_len);
    else
        strbuf_append(buf, "\\N", 2);
    if (staging) {
        n = snprintf(num, sizeof(num), "\t%lld\t", (long long)row_event_time_ms(r));
        strbuf_append(buf, num, (size_t)n);
        if (r->check_other) {
            n = snprintf(num, sizeof(num), "%lld", (long long)r->other_ms);
            strbuf_append(buf, num, (size_t)n);
        } else {
            strbuf_append(buf, "\\N", 2);
        }
    }
    /* provider, headers (NULL for Zoom) */
    strbuf_append(buf, "\t", 1);
    row_copy_escaped(buf, r->env.provider, strlen(r->env.provider));
    strbuf_append(buf, "\t", 1);
    if (r->headers != NULL)
        row_copy_escaped(buf, r->headers, strlen(r->headers));
    else
        strbuf_append(buf, "\\N", 2);
    strbuf_append(buf, "\n", 1);
}

void row_copy_line(struct strbuf *buf, const struct row *r, long ord, bool keep_body)
{
    row_line(buf, r, true, ord, keep_body);
}

void row_copy_events_line(struct strbuf *buf, const struct row *r, bool keep_body)
{
    row_line(buf, r, false, 0, keep_body);
}
