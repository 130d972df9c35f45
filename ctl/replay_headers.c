/*
 * The carried headers of a stored row (see replay_headers.h). The names come from the
 * provider table, never from the row, so a row can add no header of its own choosing; the
 * values are checked to be one header line each.
 */
#include "replay_headers.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The header a Standard Webhooks signature covers (provider_sign.h). */
#define REPLAY_STANDARD_ID "webhook-id"

static bool replay_header_value_ok(const char *v, size_t n)
{
    if (n == 0 || n > REPLAY_HEADER_VALUE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* The stored value of h (under its name, else its alias) when it can be sent, or NULL. */
static json_t *replay_header_find(json_t *obj, const struct provider_header *h, size_t *n)
{
    json_t *v = json_object_get(obj, h->name);

    if (v == NULL && h->alias != NULL)
        v = json_object_get(obj, h->alias);
    if (!json_is_string(v))
        return NULL;
    *n = json_string_length(v);
    return replay_header_value_ok(json_string_value(v), *n) ? v : NULL;
}

int replay_headers_parse(enum provider_id provider, const char *json, size_t len,
                         struct replay_headers *out)
{
    const struct provider *p = provider_get(provider);
    json_t *obj = NULL;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (json == NULL || len == 0)
        return 0;
    obj = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return 0;
    }
    for (size_t i = 0; i < PROVIDER_HEADERS_MAX && p->headers[i].name != NULL; i++) {
        size_t n = 0, cap;
        json_t *v = replay_header_find(obj, &p->headers[i], &n);
        if (v == NULL)
            continue;
        cap = strlen(p->headers[i].name) + 2 + n + 1;
        out->line[out->n] = malloc(cap);
        if (out->line[out->n] == NULL)
            goto done;
        snprintf(out->line[out->n++], cap, "%s: %s", p->headers[i].name, json_string_value(v));
        if (provider == PROVIDER_STANDARD && strcmp(p->headers[i].name, REPLAY_STANDARD_ID) == 0 &&
            (out->sign_id = strdup(json_string_value(v))) == NULL)
            goto done;
    }
    ret = 0;
done:
    json_decref(obj);
    if (ret < 0)
        replay_headers_free(out);
    return ret;
}

void replay_headers_free(struct replay_headers *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->line[i]);
    free(h->sign_id);
    memset(h, 0, sizeof(*h));
}
