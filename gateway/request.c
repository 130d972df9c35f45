/* Per-request state of a connection (see request.h). */
#include "request.h"

#include <string.h>

_Static_assert(PROVIDER_HEADERS_MAX <= ENVELOPE_FIELDS_N_MAX, "an envelope carries them all");

void request_reset(struct request *r)
{
    r->keep_alive = false;
    r->head_only = false;
    r->unread = false;
    r->scanned = r->head_len = r->body_len = 0;
    r->stats = NULL;
}

void request_begin(struct request *r, const struct http_head *h)
{
    r->keep_alive = h->keep_alive;
    r->head_only = h->method == HTTP_METHOD_HEAD;
}

static void request_copy(const struct http_str *s, char *dst, size_t cap, size_t *len)
{
    if (s->p == NULL || s->len >= cap) {
        dst[0] = '\0';
        *len = 0;
        return;
    }
    memcpy(dst, s->p, s->len);
    dst[s->len] = '\0';
    *len = s->len;
}

/* Locates the header name's value when it occurs exactly once and is at most cap bytes. */
static void request_locate(const struct http_head *h, const char *name, size_t cap,
                           struct request_span *span)
{
    struct http_str v;

    span->set = http_find_header(h, name, strlen(name), &v) == 1 && v.len <= cap;
    span->off = span->set ? (size_t)(v.p - h->start) : 0;
    span->len = span->set ? v.len : 0;
}

/* The header h of a provider: under its name, else its alias (Svix's). */
static void request_locate_either(const struct http_head *hd, const struct provider_header *h,
                                  size_t cap, struct request_span *span)
{
    memset(span, 0, sizeof(*span));
    if (h->name == NULL)
        return;
    request_locate(hd, h->name, cap, span);
    if (!span->set && h->alias != NULL)
        request_locate(hd, h->alias, cap, span);
}

/* Another provider's signature headers and the headers its envelope carries. */
static void request_keep_provider(struct request *r, const struct http_head *h)
{
    const struct provider *pv = provider_get(r->provider);

    request_locate_either(h, &pv->signature, REQUEST_P_SIGNATURE_MAX, &r->p_signature);
    request_locate_either(h, &pv->timestamp, REQUEST_TIMESTAMP_MAX, &r->p_timestamp);
    request_locate_either(h, &pv->id, ENVELOPE_FIELD_VALUE_MAX, &r->p_id);
    for (size_t i = 0; i < PROVIDER_HEADERS_MAX; i++)
        request_locate_either(h, &pv->headers[i], ENVELOPE_FIELD_VALUE_MAX, &r->carried[i]);
}

const char *request_span_at(const struct request_span *span, const char *head)
{
    return span->set ? head + span->off : NULL;
}

void request_keep(struct request *r, const struct http_head *h, const char *source,
                  size_t source_len, size_t head_len, size_t body_len,
                  const struct request_capture *cap)
{
    const struct http_str *rid = h->request_id.p != NULL ? &h->request_id : &h->tracking_id;

    if (source_len > NAME_MAX_LEN)
        source_len = NAME_MAX_LEN; /* routing never passes more */
    memcpy(r->source, source, source_len);
    r->source[source_len] = '\0';
    request_copy(&h->signature, r->signature, sizeof(r->signature), &r->signature_len);
    request_copy(&h->timestamp, r->timestamp, sizeof(r->timestamp), &r->timestamp_len);
    r->request_id_len = rid->len < ENVELOPE_REQUEST_ID_MAX ? rid->len : ENVELOPE_REQUEST_ID_MAX;
    if (rid->p != NULL)
        memcpy(r->request_id, rid->p, r->request_id_len);
    r->head_len = head_len;
    r->body_len = body_len;
    r->token_endpoint = cap->token_endpoint;
    memset(&r->authorization, 0, sizeof(r->authorization));
    memset(&r->custom, 0, sizeof(r->custom));
    memset(&r->query, 0, sizeof(r->query));
    if (cap->authorization)
        request_locate(h, "authorization", REQUEST_AUTHORIZATION_MAX, &r->authorization);
    if (cap->custom_name != NULL)
        request_locate(h, cap->custom_name, REQUEST_CUSTOM_MAX, &r->custom);
    r->provider = cap->provider;
    if (cap->provider != PROVIDER_ZOOM && !cap->token_endpoint)
        request_keep_provider(r, h);
    r->query_too_long = cap->token_endpoint && h->query.len > REQUEST_QUERY_MAX;
    if (cap->token_endpoint && h->query.p != NULL && !r->query_too_long)
        r->query = (struct request_span){(size_t)(h->query.p - h->start), h->query.len, true};
}

void request_verify_input(const struct request *r, const char *body, time_t now, long tolerance_s,
                          struct verify_request *out)
{
    const char *head = body - r->head_len;

    *out = (struct verify_request){
        .timestamp = r->timestamp,
        .timestamp_len = r->timestamp_len,
        .signature = r->signature,
        .signature_len = r->signature_len,
        .authorization = request_span_at(&r->authorization, head),
        .authorization_len = r->authorization.len,
        .custom = request_span_at(&r->custom, head),
        .custom_len = r->custom.len,
        .body = body,
        .body_len = r->body_len,
        .now = now,
        .tolerance_s = tolerance_s,
    };
    if (r->provider == PROVIDER_ZOOM)
        return;
    out->p_signature = request_span_at(&r->p_signature, head);
    out->p_signature_len = r->p_signature.len;
    out->p_timestamp = request_span_at(&r->p_timestamp, head);
    out->p_timestamp_len = r->p_timestamp.len;
    out->p_id = request_span_at(&r->p_id, head);
    out->p_id_len = r->p_id.len;
}

void request_push_input(const struct request *r, const char *body, struct push_request *out)
{
    const char *head = body - r->head_len;
    const struct provider *pv = provider_get(r->provider);

    *out = (struct push_request){
        .source = r->source,
        .received_us = (int64_t)r->done.tv_sec * 1000000 + r->done.tv_usec,
        .request_id = r->request_id,
        .request_id_len = r->request_id_len,
        .body = body,
        .body_len = r->body_len,
    };
    if (r->provider == PROVIDER_ZOOM)
        return;
    out->provider = pv->name;
    for (size_t i = 0; i < PROVIDER_HEADERS_MAX && pv->headers[i].name != NULL; i++) {
        if (!r->carried[i].set || r->carried[i].len == 0)
            continue;
        out->fields[out->nfields++] = (struct envelope_field){
            pv->headers[i].name, request_span_at(&r->carried[i], head), r->carried[i].len};
    }
}
