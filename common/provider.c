/* The provider table (see provider.h). */
#include "provider.h"

#include <string.h>

#define NONE                                                                                       \
    {                                                                                              \
        NULL, NULL                                                                                 \
    }

static const struct provider provider_table[PROVIDER_COUNT] = {
    [PROVIDER_ZOOM] = {"zoom", {NONE}, NONE, NONE, NONE},
    [PROVIDER_STANDARD] = {"standard",
                           {{"webhook-id", "svix-id"}, {"webhook-timestamp", "svix-timestamp"}},
                           {"webhook-signature", "svix-signature"},
                           {"webhook-timestamp", "svix-timestamp"},
                           {"webhook-id", "svix-id"}},
    [PROVIDER_GITHUB] = {"github",
                         {{"x-github-delivery", NULL},
                          {"x-github-event", NULL},
                          {"x-github-hook-id", NULL}},
                         {"x-hub-signature-256", NULL},
                         NONE,
                         NONE},
    [PROVIDER_STRIPE] = {"stripe", {NONE}, {"stripe-signature", NULL}, NONE, NONE},
    [PROVIDER_SLACK] =
        {"slack", {NONE}, {"x-slack-signature", NULL}, {"x-slack-request-timestamp", NULL}, NONE},
    [PROVIDER_SHOPIFY] = {"shopify",
                          {{"x-shopify-event-id", NULL},
                           {"x-shopify-webhook-id", NULL},
                           {"x-shopify-topic", NULL},
                           {"x-shopify-triggered-at", NULL},
                           {"x-shopify-shop-domain", NULL},
                           {"x-shopify-api-version", NULL}},
                          {"x-shopify-hmac-sha256", NULL},
                          NONE,
                          NONE},
};

const struct provider *provider_get(enum provider_id id)
{
    return &provider_table[id];
}

int provider_find(const char *name, size_t n)
{
    for (int i = 0; i < PROVIDER_COUNT; i++) {
        if (strlen(provider_table[i].name) == n && memcmp(provider_table[i].name, name, n) == 0)
            return i;
    }
    return -1;
}
