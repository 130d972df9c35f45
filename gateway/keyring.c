/*
 * Open-addressing hash of source names, sized to at most half full, so a lookup on
 * the request path is one hash and usually one compare however many sources exist.
 */
#include "keyring.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct keyring {
    struct keyring_entry *entries; /* nentries, in config order */
    size_t nentries;
    struct keyring_entry **slots; /* hash table of pointers into entries */
    size_t nslots;                /* a power of two */
};

static uint64_t keyring_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

struct keyring *keyring_new(const struct config *cfg)
{
    struct keyring *kr = calloc(1, sizeof(*kr));

    if (kr == NULL)
        return NULL;
    kr->nslots = 8;
    while (kr->nslots < cfg->nsources * 2)
        kr->nslots *= 2;
    kr->entries = calloc(cfg->nsources ? cfg->nsources : 1, sizeof(*kr->entries));
    kr->slots = calloc(kr->nslots, sizeof(*kr->slots));
    if (kr->entries == NULL || kr->slots == NULL)
        goto fail;
    for (size_t i = 0; i < cfg->nsources; i++) {
        const struct config_source *src = &cfg->sources[i];
        struct keyring_entry *e = &kr->entries[i];
        size_t slot;
        kr->nentries++;
        e->name = strdup(src->name);
        e->keys.current = zoom_key_new(src->secret, strlen(src->secret));
        if (src->secret_previous != NULL)
            e->keys.previous = zoom_key_new(src->secret_previous, strlen(src->secret_previous));
        e->checks = verify_checks(src->provider);
        e->stats = stats_source(src->name);
        if (e->name == NULL || e->keys.current == NULL ||
            (src->secret_previous != NULL && e->keys.previous == NULL) || e->checks == NULL)
            goto fail;
        slot = keyring_hash(e->name, strlen(e->name)) & (kr->nslots - 1);
        while (kr->slots[slot] != NULL)
            slot = (slot + 1) & (kr->nslots - 1);
        kr->slots[slot] = e;
    }
    return kr;
fail:
    keyring_free(kr);
    return NULL;
}

void keyring_free(struct keyring *kr)
{
    if (kr == NULL)
        return;
    for (size_t i = 0; i < kr->nentries; i++) {
        free(kr->entries[i].name);
        zoom_key_free(kr->entries[i].keys.current);
        zoom_key_free(kr->entries[i].keys.previous);
    }
    free(kr->entries);
    free(kr->slots);
    free(kr);
}

struct keyring_entry *keyring_find(struct keyring *kr, const char *name, size_t len)
{
    size_t slot = keyring_hash(name, len) & (kr->nslots - 1);

    while (kr->slots[slot] != NULL) {
        struct keyring_entry *e = kr->slots[slot];
        if (strncmp(e->name, name, len) == 0 && e->name[len] == '\0')
            return e;
        slot = (slot + 1) & (kr->nslots - 1);
    }
    return NULL;
}
