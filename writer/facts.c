/*
 * Facts of the providers beside Zoom, one function per provider as the table
 * gives them. A body is parsed whole with jansson (the Zoom path's one-pass json_scan
 * wants an object with "event"; these bodies may be any document and are far rarer), and
 * a fact that is absent or of the wrong type is NULL: a verified JSON body is stored
 * whatever it holds. Header facts are kept only when they are UTF-8 without NUL, so no
 * header can make PostgreSQL refuse the row.
 */
#include "facts.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"

/* A decoded envelope field (value at most ENVELOPE_FIELD_VALUE_MAX bytes). */
struct facts_field {
    char v[ENVELOPE_FIELD_VALUE_MAX + 1];
    long len; /* -1: absent, or not text a PostgreSQL text column takes */
};

/* True when p[0..n) is UTF-8 without NUL (json_stringn checks the UTF-8). */
static bool facts_text_ok(const char *p, size_t n)
{
    json_t *s;

    if (memchr(p, '\0', n) != NULL)
        return false;
    s = json_stringn(p, n);
    json_decref(s);
    return s != NULL;
}

static void facts_field(const struct envelope *env, const char *name, struct facts_field *f)
{
    f->len = envelope_field(env, name, f->v, sizeof(f->v));
    if (f->len >= 0 && (f->len == 0 || !facts_text_ok(f->v, (size_t)f->len)))
        f->len = -1;
}

/* A member's string value, or NULL (absent, not a string, or root not an object). */
static const char *facts_str(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);

    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

/* An integral JSON number (an integer, or a real holding one after INT_AS_REAL). */
static bool facts_int(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= -9.0e15 && d <= 9.0e15 && (double)(int64_t)d == d) {
            *out = (int64_t)d;
            return true;
        }
    }
    return false;
}

/* Unix seconds as event time, when in 1970 .. 9999. */
static void facts_seconds(struct facts *f, int64_t s, bool of_delivery)
{
    if (s < 0 || s > FACTS_TIME_MAX_MS / 1000)
        return;
    f->has_time = true;
    f->time_ms = s * 1000;
    f->time_of_delivery = of_delivery;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's days_from_civil). */
static int64_t facts_days(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* n decimal digits at s as a number, or -1. */
static int facts_digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

bool facts_parse_time(const char *s, size_t len, int64_t *ms)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, frac = 0, fdigits = 0, off = 0;
    size_t i = 19;
    int64_t t;

    if (len < 20 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
        return false;
    y = facts_digits(s, 4);
    mo = facts_digits(s + 5, 2);
    d = facts_digits(s + 8, 2);
    h = facts_digits(s + 11, 2);
    mi = facts_digits(s + 14, 2);
    sec = facts_digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 ||
        sec > 60)
        return false;
    if (d > mdays[mo - 1] + (mo == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return false;
    if (s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, fdigits++) {
            if (fdigits < 3)
                frac = frac * 10 + (s[i] - '0');
        }
        if (fdigits == 0)
            return false;
        for (int k = fdigits; k < 3; k++)
            frac *= 10;
    }
    if (i >= len)
        return false;
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
        off = 0;
    } else if (s[i] == '+' || s[i] == '-') {
        size_t rest = len - i - 1;
        const char *z = s + i + 1;
        int oh = rest >= 2 ? facts_digits(z, 2) : -1, om = 0;
        if (rest == 5 && z[2] == ':')
            om = facts_digits(z + 3, 2);
        else if (rest == 4)
            om = facts_digits(z + 2, 2);
        else if (rest != 2)
            return false;
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return false;
        off = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
    } else {
        return false;
    }
    t = ((facts_days(y, mo, d) * 24 + h) * 60 + mi) * 60 + sec - (int64_t)off * 60;
    t = t * 1000 + frac;
    if (t < 0 || t > FACTS_TIME_MAX_MS)
        return false;
    *ms = t;
    return true;
}

/* An RFC 3339 time as event time (of the event: the same in every redelivery). */
static void facts_time_text(struct facts *f, const char *s, size_t len)
{
    int64_t ms;

    if (s != NULL && facts_parse_time(s, len, &ms)) {
        f->has_time = true;
        f->time_ms = ms;
        f->time_of_delivery = false;
    }
}

/* Unix seconds as 1-12 decimal digits (the form of Standard Webhooks' webhook-timestamp). */
static void facts_seconds_text(struct facts *f, const char *s, long len, bool of_delivery)
{
    int64_t v = 0;

    if (len < 1 || len > 12)
        return;
    for (long i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return;
        v = v * 10 + (s[i] - '0');
    }
    facts_seconds(f, v, of_delivery);
}

/* Copies s (NULL stays NULL); -1 when out of memory. */
static int facts_dup(char **out, const char *s)
{
    if (s == NULL)
        return 0;
    *out = strdup(s);
    return *out == NULL ? -1 : 0;
}

/* The carried fields of provider as a JSON object text, into f->headers. */
static int facts_headers(const struct envelope *env, const struct provider *p, struct facts *f)
{
    json_t *obj = json_object();
    struct facts_field fld;
    int rc = -1;

    if (obj == NULL)
        return -1;
    for (int i = 0; i < PROVIDER_HEADERS_MAX && p->headers[i].name != NULL; i++) {
        facts_field(env, p->headers[i].name, &fld);
        if (fld.len < 0)
            continue;
        if (json_object_set_new(obj, p->headers[i].name, json_stringn(fld.v, (size_t)fld.len)) != 0)
            goto done;
    }
    f->headers = json_dumps(obj, JSON_COMPACT);
    rc = f->headers == NULL ? -1 : 0;
done:
    json_decref(obj);
    return rc;
}

/* A delivery id found in the body (id[0..len), inside jansson's tree); p NULL when none. */
struct facts_id {
    const char *p;
    size_t len;
};

static int facts_standard(const struct envelope *env, const json_t *body, struct facts *f,
                          struct facts_field *id)
{
    const char *ts = facts_str(body, "timestamp");
    struct facts_field t;

    facts_field(env, "webhook-id", id);
    if (ts != NULL)
        facts_time_text(f, ts, strlen(ts));
    if (!f->has_time) {
        /* the attempt's time: Standard Webhooks signs a fresh one on every retry */
        facts_field(env, "webhook-timestamp", &t);
        facts_seconds_text(f, t.v, t.len, true);
    }
    return facts_dup(&f->event, facts_str(body, "type"));
}

static int facts_github(const struct envelope *env, const json_t *body, struct facts *f,
                        struct facts_field *id)
{
    struct facts_field ev;
    const char *action = facts_str(body, "action");
    int64_t inst;

    facts_field(env, "x-github-delivery", id);
    /* GitHub gives no event time: the receipt, which a redelivery does not share */
    if (env->received_us >= 0 && env->received_us / 1000 <= FACTS_TIME_MAX_MS) {
        f->has_time = true;
        f->time_ms = env->received_us / 1000;
        f->time_of_delivery = true;
    }
    facts_field(env, "x-github-event", &ev);
    if (ev.len >= 0) {
        size_t n = (size_t)ev.len + (action != NULL ? 1 + strlen(action) : 0) + 1;
        f->event = malloc(n);
        if (f->event == NULL)
            return -1;
        snprintf(f->event, n, "%s%s%s", ev.v, action != NULL ? "." : "",
                 action != NULL ? action : "");
    }
    if (facts_int(json_object_get(json_object_get(body, "installation"), "id"), &inst)) {
        char num[24];
        snprintf(num, sizeof(num), "%lld", (long long)inst);
        return facts_dup(&f->account, num);
    }
    return facts_dup(&f->account, facts_str(json_object_get(body, "repository"), "full_name"));
}

static int facts_stripe(const json_t *body, struct facts *f, struct facts_id *id)
{
    int64_t created;

    id->p = facts_str(body, "id");
    id->len = id->p != NULL ? strlen(id->p) : 0;
    if (facts_int(json_object_get(body, "created"), &created))
        facts_seconds(f, created, false);
    if (facts_dup(&f->event, facts_str(body, "type")) != 0)
        return -1;
    return facts_dup(&f->account, facts_str(body, "account"));
}

static int facts_slack(const json_t *body, struct facts *f, struct facts_id *id)
{
    const char *type = facts_str(json_object_get(body, "event"), "type");
    int64_t t;

    id->p = facts_str(body, "event_id");
    id->len = id->p != NULL ? strlen(id->p) : 0;
    if (facts_int(json_object_get(body, "event_time"), &t))
        facts_seconds(f, t, false);
    if (facts_dup(&f->event, type != NULL ? type : facts_str(body, "type")) != 0)
        return -1;
    return facts_dup(&f->account, facts_str(body, "team_id"));
}

static int facts_shopify(const struct envelope *env, struct facts *f, struct facts_field *id)
{
    struct facts_field fld;

    facts_field(env, "x-shopify-event-id", id);
    if (id->len < 0)
        facts_field(env, "x-shopify-webhook-id", id);
    /* when Shopify triggered it: a retry carries the original's (its changelog, 2024-09) */
    facts_field(env, "x-shopify-triggered-at", &fld);
    if (fld.len >= 0)
        facts_time_text(f, fld.v, (size_t)fld.len);
    facts_field(env, "x-shopify-topic", &fld);
    if (facts_dup(&f->event, fld.len >= 0 ? fld.v : NULL) != 0)
        return -1;
    facts_field(env, "x-shopify-shop-domain", &fld);
    return facts_dup(&f->account, fld.len >= 0 ? fld.v : NULL);
}

/*
 * The body as jansson sees it: any JSON document. A number jansson cannot hold (an integer
 * beyond 64 bits, then a real beyond a double) is no reason to refuse a body jsonb takes:
 * integers are read as reals then, and past that the body is kept without body facts
 * (*root NULL, PostgreSQL judges it). -1 with why for anything else jansson refuses.
 */
static int facts_parse(const struct envelope *env, json_t **root, char *why, size_t whylen)
{
    json_error_t err;

    *root = json_loadb(env->body, env->body_len, JSON_DECODE_ANY, &err);
    if (*root == NULL && json_error_code(&err) == json_error_numeric_overflow)
        *root =
            json_loadb(env->body, env->body_len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &err);
    if (*root != NULL || json_error_code(&err) == json_error_numeric_overflow)
        return 0;
    if (json_error_code(&err) == json_error_out_of_memory)
        return -2;
    snprintf(why, whylen, "body is not valid JSON: %s", err.text);
    return -1;
}

int facts_extract(const struct envelope *env, int provider, struct facts *f, char *why,
                  size_t whylen)
{
    const struct provider *p = provider_get((enum provider_id)provider);
    struct facts_field field = {.len = -1};
    struct facts_id id = {NULL, 0};
    json_t *body = NULL;
    int rc;

    memset(f, 0, sizeof(*f));
    rc = facts_parse(env, &body, why, whylen);
    if (rc != 0)
        return rc;
    rc = -2;
    switch (provider) {
    case PROVIDER_STANDARD:
        if (facts_standard(env, body, f, &field) != 0)
            goto done;
        break;
    case PROVIDER_GITHUB:
        if (facts_github(env, body, f, &field) != 0)
            goto done;
        break;
    case PROVIDER_STRIPE:
        if (facts_stripe(body, f, &id) != 0)
            goto done;
        break;
    case PROVIDER_SLACK:
        if (facts_slack(body, f, &id) != 0)
            goto done;
        break;
    case PROVIDER_SHOPIFY:
        if (facts_shopify(env, f, &field) != 0)
            goto done;
        break;
    default:
        break;
    }
    if (field.len > 0) {
        id.p = field.v;
        id.len = (size_t)field.len;
    }
    f->has_id = id.p != NULL && id.len > 0;
    if (facts_headers(env, p, f) != 0)
        goto done;
    if (f->has_id ? event_key_provider_id(env->source, p->name, id.p, id.len, f->key)
                  : event_key_provider_body(env->source, p->name, env->body, env->body_len, f->key))
        goto done;
    rc = 0;
done:
    json_decref(body);
    if (rc != 0)
        facts_free(f);
    return rc;
}

void facts_free(struct facts *f)
{
    free(f->event);
    free(f->account);
    free(f->headers);
    f->event = f->account = f->headers = NULL;
}
