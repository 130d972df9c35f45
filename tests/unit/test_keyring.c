/*
 * Unit tests for gateway/keyring.c: every configured source is found by its exact name
 * (also with many sources, where the hash table wraps), nothing else is, and each entry's
 * keys are keyed with that source's own secrets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "keyring.h"

#define NSOURCES 300

static struct config *make_config(void)
{
    struct config *cfg = calloc(1, sizeof(*cfg));

    cfg->sources = calloc(NSOURCES, sizeof(*cfg->sources));
    cfg->nsources = NSOURCES;
    for (size_t i = 0; i < NSOURCES; i++) {
        char name[32], secret[32];
        snprintf(name, sizeof(name), "src-%zu", i);
        snprintf(secret, sizeof(secret), "secret-%zu", i);
        cfg->sources[i].name = strdup(name);
        cfg->sources[i].provider = strdup("zoom");
        cfg->sources[i].secret = strdup(secret);
        if (i % 3 == 0)
            cfg->sources[i].secret_previous = strdup("old-secret");
    }
    return cfg;
}

/* True when key verifies a signature made with secret (fresh key as the reference). */
static int key_is(struct zoom_key *key, const char *secret)
{
    struct zoom_key *ref = zoom_key_new(secret, strlen(secret));
    char sig[ZOOM_HEX_LEN + 4] = "v0=";
    int ok = ref != NULL && zoom_sign(ref, "1", 1, "{}", 2, sig + 3) == 0 &&
             zoom_verify(key, "1", 1, "{}", 2, sig, strlen(sig));

    zoom_key_free(ref);
    return ok;
}

int main(void)
{
    struct config *cfg = make_config();
    struct keyring *kr;

    stats_init();
    kr = keyring_new(cfg);
    CHECK(kr != NULL);
    for (size_t i = 0; i < NSOURCES; i++) {
        char name[32], secret[32];
        snprintf(name, sizeof(name), "src-%zu", i);
        snprintf(secret, sizeof(secret), "secret-%zu", i);
        struct keyring_entry *e = keyring_find(kr, name, strlen(name));
        CHECKF(e != NULL && strcmp(e->name, name) == 0, "%s not found", name);
        if (e == NULL)
            continue;
        CHECKF(key_is(e->keys.current, secret), "%s has the wrong key", name);
        CHECK(!key_is(e->keys.current, "old-secret"));
        if (i % 3 == 0)
            CHECK(e->keys.previous != NULL && key_is(e->keys.previous, "old-secret"));
        else
            CHECK(e->keys.previous == NULL);
        CHECK(e->stats != NULL && strcmp(e->stats->name, name) == 0);
    }
    /* prefixes, extensions and near misses are not found; lookups use the length given */
    CHECK(keyring_find(kr, "src-1", 4) == NULL);
    CHECK(keyring_find(kr, "src-10x", 7) == NULL);
    CHECK(keyring_find(kr, "src-", 4) == NULL);
    CHECK(keyring_find(kr, "", 0) == NULL);
    CHECK(keyring_find(kr, "src-299/extra", 7) != NULL);
    keyring_free(kr);
    config_free(cfg);
    return check_summary("test_keyring");
}
