/*
 * The webhook providers a source may be (its [source.NAME] provider): what the gateway,
 * the writer and hookpipe-ctl need to know of each beyond its signature scheme
 * (common/provider_sig.h). A further provider is one more entry here, its verifier in
 * provider_sig.c and its facts in writer/facts.c (docs/design.md, "Where a provider plugs
 * in").
 */
#ifndef HOOKPIPE_PROVIDER_H
#define HOOKPIPE_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>

enum provider_id {
    PROVIDER_ZOOM,
    PROVIDER_STANDARD, /* Standard Webhooks v1 (and Svix) */
    PROVIDER_GITHUB,
    PROVIDER_STRIPE,
    PROVIDER_SLACK,
    PROVIDER_SHOPIFY,
    PROVIDER_COUNT
};

#define PROVIDER_HEADERS_MAX 6 /* headers a provider's envelope carries */

/* One request header the envelope carries to the writer (and replay sends again). */
struct provider_header {
    const char *name;  /* as carried: lower case */
    const char *alias; /* also accepted under this name (Svix's svix-id, ...), or NULL */
};

struct provider {
    const char *name; /* the config value and the events.provider column */
    struct provider_header headers[PROVIDER_HEADERS_MAX]; /* {NULL} after the last */
    /* the headers its signature scheme reads (name NULL: none; Zoom's are the gateway's own) */
    struct provider_header signature; /* webhook-signature, X-Hub-Signature-256, ... */
    struct provider_header timestamp; /* webhook-timestamp, X-Slack-Request-Timestamp */
    struct provider_header id;        /* webhook-id (it is signed) */
};

/* The provider of id (id < PROVIDER_COUNT). */
const struct provider *provider_get(enum provider_id id);

/* The id of the provider named name[0..n), or -1. */
int provider_find(const char *name, size_t n);

#endif
