/*
 * Item classification and COPY text encoding. The checks here are the cheap ones
 * that catch most poison before PostgreSQL sees it (jansson rejects invalid UTF-8
 * and \u0000, which jsonb and text columns cannot hold); whatever still fails in
 * PostgreSQL is isolated by the batch bisection in batch.c.
 */
#include "row.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* event_ts outside [0, 9999-12-31] is stored as NULL rather than failing the row. */
#define ROW_EVENT_TS_MAX 253402300799999LL

void copybuf_append(struct copybuf *buf, const char *s, size_t len)
{
    if (buf->failed)
        return;
    if (buf->len + len > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 4096;
        char *p;
        while (cap < buf->len + len)
            cap *= 2;
        p = realloc(buf->data, cap);
        if (p == NULL) {
            buf->failed = true;
            return;
        }
        buf->data = p;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, s, len);
    buf->len += len;
}

void copybuf_escaped(struct copybuf *buf, const char *s, size_t len)
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
        copybuf_append(buf, s + start, i - start);
        copybuf_append(buf, esc, 2);
        start = i + 1;
    }
    copybuf_append(buf, s + start, len - start);
}

void copybuf_reset(struct copybuf *buf)
{
    buf->len = 0;
    buf->failed = false;
}

void copybuf_free(struct copybuf *buf)
{
    free(buf->data);
    memset(buf, 0, sizeof(*buf));
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
    r->reason = r->event = r->account_id = NULL;
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

/* A NUL-terminated copy of a scanned string, its escapes decoded. NULL on failure. */
static char *row_string(const struct json_scan_str *s)
{
    char *copy;

    if (!s->escaped)
        return strndup(s->p, s->len);
    /* rare: let jansson decode the quoted token (json_scan already checked it) */
    json_t *v = json_loadb(s->p - 1, s->len + 2, JSON_DECODE_ANY, NULL);
    copy = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    json_decref(v);
    return copy;
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
        rc = row_mark_dead(r, why);
        goto done;
    }
    r->has_envelope = true;
    if (r->env.received_us > ROW_RECEIVED_US_MAX) {
        rc = row_mark_dead(r, "receive time in envelope out of range");
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
    r->event = row_string(&scan.event);
    if (r->event == NULL)
        goto done;
    r->has_event_ts = row_event_ts(&scan.event_ts, &r->event_ts_ms);
    if (scan.account_id.p != NULL) {
        r->account_id = row_string(&scan.account_id);
        if (r->account_id == NULL)
            goto done;
    }
    rc = 0;
done:
    if (rc != 0)
        row_free(r);
    return rc;
}

void row_request_id_text(const struct envelope *env, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    char *p = out;

    for (size_t i = 0; i < env->request_id_len; i++) {
        unsigned char c = (unsigned char)env->request_id[i];
        if (c > ' ' && c < 0x7f && c != '%') {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
        }
    }
    *p = '\0';
}

/* Appends t (microseconds since the epoch, >= 0) as UTC timestamptz text. */
static void row_timestamp(struct copybuf *buf, int64_t us, bool micro)
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    char text[48];
    int n;

    gmtime_r(&secs, &tm);
    if (micro)
        n = snprintf(text, sizeof(text), "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(us % 1000000));
    else
        n = snprintf(text, sizeof(text), "%04d-%02d-%02d %02d:%02d:%02d.%03d+00", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(us / 1000 % 1000));
    copybuf_append(buf, text, (size_t)n);
}

/*
 * One COPY text line of r. The staging form starts with the ordinal and carries the
 * times as integers (converted in SQL); the events form carries them as text.
 */
static void row_line(struct copybuf *buf, const struct row *r, bool staging, long ord)
{
    static const char hex[] = "0123456789abcdef";
    char num[64];
    char keyhex[4 + 2 * EVENT_KEY_LEN];
    char reqid[3 * ENVELOPE_REQUEST_ID_MAX + 1];
    int n;

    if (staging) {
        n = snprintf(num, sizeof(num), "%ld\t", ord);
        copybuf_append(buf, num, (size_t)n);
    }
    copybuf_escaped(buf, r->env.source, strlen(r->env.source));
    copybuf_append(buf, "\t", 1);
    copybuf_escaped(buf, r->event, strlen(r->event));
    copybuf_append(buf, "\t", 1);
    if (!r->has_event_ts) {
        copybuf_append(buf, "\\N", 2);
    } else if (staging) {
        n = snprintf(num, sizeof(num), "%lld", (long long)r->event_ts_ms);
        copybuf_append(buf, num, (size_t)n);
    } else {
        row_timestamp(buf, r->event_ts_ms * 1000, false);
    }
    copybuf_append(buf, "\t", 1);
    if (r->account_id != NULL)
        copybuf_escaped(buf, r->account_id, strlen(r->account_id));
    else
        copybuf_append(buf, "\\N", 2);
    copybuf_append(buf, "\t", 1);
    if (staging) {
        n = snprintf(num, sizeof(num), "%lld", (long long)r->env.received_us);
        copybuf_append(buf, num, (size_t)n);
    } else {
        row_timestamp(buf, r->env.received_us, true);
    }
    copybuf_append(buf, "\t", 1);
    /* bytea hex input "\x…"; the backslash itself is escaped for COPY text. */
    memcpy(keyhex, "\\\\x", 3);
    for (int i = 0; i < EVENT_KEY_LEN; i++) {
        keyhex[3 + 2 * i] = hex[r->key[i] >> 4];
        keyhex[4 + 2 * i] = hex[r->key[i] & 0xf];
    }
    copybuf_append(buf, keyhex, 3 + 2 * EVENT_KEY_LEN);
    copybuf_append(buf, "\t", 1);
    copybuf_escaped(buf, r->env.body, r->env.body_len);
    copybuf_append(buf, "\t", 1);
    copybuf_escaped(buf, r->env.delivery_id, strlen(r->env.delivery_id));
    copybuf_append(buf, "\t", 1);
    if (r->env.request_id_len > 0) {
        row_request_id_text(&r->env, reqid);
        copybuf_escaped(buf, reqid, strlen(reqid)); /* a '\\' in it is COPY's escape */
    } else {
        copybuf_append(buf, "\\N", 2);
    }
    copybuf_append(buf, "\n", 1);
}

void row_copy_line(struct copybuf *buf, const struct row *r, long ord)
{
    row_line(buf, r, true, ord);
}

void row_copy_events_line(struct copybuf *buf, const struct row *r)
{
    row_line(buf, r, false, 0);
}
