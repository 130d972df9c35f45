/*
 * Item classification and COPY text encoding. The checks here are the cheap ones
 * that catch most poison before PostgreSQL sees it (jansson rejects invalid UTF-8
 * and \u0000, which jsonb and text columns cannot hold); whatever still fails in
 * PostgreSQL is isolated by the batch bisection in batch.c.
 */
#include "row.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static bool row_event_ts(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > ROW_EVENT_TS_MAX)
            return false;
        *out = (int64_t)i;
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0 && d <= (double)ROW_EVENT_TS_MAX) || (double)(int64_t)d != d)
            return false;
        *out = (int64_t)d;
        return true;
    }
    return false;
}

int row_classify(struct row *r, const char *item, size_t item_len)
{
    const char *why = NULL;
    json_error_t jerr;
    json_t *body = NULL;
    json_t *v;
    char reason[256];
    int rc = -1;

    memset(r, 0, sizeof(*r));
    r->item = item;
    r->item_len = item_len;
    SHA256((const unsigned char *)item, item_len, r->item_key);
    if (envelope_decode(item, item_len, &r->env, &why) != 0) {
        rc = row_mark_dead(r, why);
        goto done;
    }
    r->has_envelope = true;
    body = json_loadb(r->env.body, r->env.body_len, 0, &jerr);
    if (body == NULL) {
        snprintf(reason, sizeof(reason), "body is not valid JSON: %s (position %d)", jerr.text,
                 jerr.position);
        rc = row_mark_dead(r, reason);
        goto done;
    }
    if (!json_is_object(body)) {
        rc = row_mark_dead(r, "body is not a JSON object");
        goto done;
    }
    v = json_object_get(body, "event");
    if (!json_is_string(v)) {
        rc = row_mark_dead(r, "body has no string \"event\"");
        goto done;
    }
    r->event = strdup(json_string_value(v));
    if (r->event == NULL)
        goto done;
    r->has_event_ts = row_event_ts(json_object_get(body, "event_ts"), &r->event_ts_ms);
    v = json_object_get(json_object_get(body, "payload"), "account_id");
    if (json_is_string(v)) {
        r->account_id = strdup(json_string_value(v));
        if (r->account_id == NULL)
            goto done;
    }
    rc = event_key_compute(r->env.source, body, r->key);
done:
    json_decref(body);
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

void row_copy_line(struct copybuf *buf, const struct row *r, long ord)
{
    static const char hex[] = "0123456789abcdef";
    char num[64];
    char keyhex[4 + 2 * EVENT_KEY_LEN];
    char reqid[3 * ENVELOPE_REQUEST_ID_MAX + 1];
    int n;

    n = snprintf(num, sizeof(num), "%ld\t", ord);
    copybuf_append(buf, num, (size_t)n);
    copybuf_escaped(buf, r->env.source, strlen(r->env.source));
    copybuf_append(buf, "\t", 1);
    copybuf_escaped(buf, r->event, strlen(r->event));
    if (r->has_event_ts)
        n = snprintf(num, sizeof(num), "\t%lld\t", (long long)r->event_ts_ms);
    else
        n = snprintf(num, sizeof(num), "\t\\N\t");
    copybuf_append(buf, num, (size_t)n);
    if (r->account_id != NULL)
        copybuf_escaped(buf, r->account_id, strlen(r->account_id));
    else
        copybuf_append(buf, "\\N", 2);
    n = snprintf(num, sizeof(num), "\t%lld\t", (long long)r->env.received_us);
    copybuf_append(buf, num, (size_t)n);
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
        copybuf_append(buf, reqid, strlen(reqid));
    } else {
        copybuf_append(buf, "\\N", 2);
    }
    copybuf_append(buf, "\n", 1);
}
