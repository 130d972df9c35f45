/*
 * Open-addressing hash of source names, sized to at most half full, so a lookup on
 * the request path is one hash and usually one compare however many sources exist.
 */
#include "keyring.h"

#include <stdint.h>
#include <stdio.h>
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

/* The digests of value and previous (either may be NULL) into d[0..2). 0 or -1. */
static int keyring_digests(struct verify_digest d[2], const char *value, const char *previous)
{
    const char *v[2] = {value, previous};

    for (int i = 0; i < 2; i++) {
        if (v[i] != NULL && verify_digest_set(&d[i], v[i], strlen(v[i])) < 0)
            return -1;
    }
    return 0;
}

/* The digests of "a:b" for the current and the previous pair (a_prev defaults to a). */
static int keyring_pairs(struct verify_digest d[2], const char *a, const char *a_prev,
                         const char *b, const char *b_prev)
{
    char buf[2 * CONFIG_CREDENTIAL_MAX + 2];
    const char *first[2] = {a, a_prev != NULL ? a_prev : a};
    const char *second[2] = {b, b_prev};
    int rc = 0;

    for (int i = 0; i < 2 && rc == 0; i++) {
        if (first[i] == NULL || second[i] == NULL)
            continue;
        int n = snprintf(buf, sizeof(buf), "%s:%s", first[i], second[i]);
        if (n < 0 || (size_t)n >= sizeof(buf) || verify_digest_set(&d[i], buf, (size_t)n) < 0)
            rc = -1;
    }
    explicit_bzero(buf, sizeof(buf));
    return rc;
}

/* Another provider's secrets, copied (wiped and freed with the entry). 0 or -1. */
static int keyring_provider_secrets(struct keyring_entry *e, const struct config_source *src)
{
    const char *v[3] = {src->secret, src->secret_previous, src->public_key};
    struct verify_keys *k = &e->keys;

    k->sig_provider = provider_sig_provider_parse(src->provider);
    for (int i = 0; i < 3; i++) {
        if (v[i] == NULL)
            continue;
        e->psecret[i] = strdup(v[i]);
        if (e->psecret[i] == NULL)
            return -1;
        k->psecrets[i] = (struct provider_sig_secret){e->psecret[i], strlen(v[i])};
    }
    return k->sig_provider >= 0 ? 0 : -1;
}

/* Fills e from src. 0, or -1 on allocation (or OpenSSL) failure. */
static int keyring_entry_init(struct keyring_entry *e, const struct config_source *src)
{
    struct verify_keys *k = &e->keys;
    const char *bearer[2] = {src->oauth_client_secret, src->oauth_client_secret_previous};

    e->name = strdup(src->name);
    e->provider = src->provider_id;
    e->auth = src->auth != 0 ? src->auth : CONFIG_AUTH_SIGNATURE;
    e->wants_authorization =
        (e->auth & (CONFIG_AUTH_BASIC | CONFIG_AUTH_BEARER | CONFIG_AUTH_TOKEN)) != 0;
    e->stats = stats_source(src->name);
    k->sig_provider = -1;
    if (e->name == NULL || verify_build(src->provider, e->auth, e->checks) < 0)
        return -1;
    if (e->provider != PROVIDER_ZOOM) {
        if (keyring_provider_secrets(e, src) < 0)
            return -1;
    } else {
        k->current = zoom_key_new(src->secret, strlen(src->secret));
        if (src->secret_previous != NULL)
            k->previous = zoom_key_new(src->secret_previous, strlen(src->secret_previous));
        if (k->current == NULL || (src->secret_previous != NULL && k->previous == NULL))
            return -1;
        k->signature = verify_checks(src->provider); /* url_validation needs it, whatever auth */
    }
    k->source = e->name;
    k->token_ttl_s = src->oauth_token_ttl_s > 0 ? src->oauth_token_ttl_s : 3600;
    if (cidr_list_copy(&e->allow_from, &src->allow_from) < 0)
        return -1;
    e->head_proves = verify_head_proves(e->checks);
    if ((e->auth & CONFIG_AUTH_HEADER) && src->header_name != NULL) {
        e->header_name = strdup(src->header_name);
        if (e->header_name == NULL)
            return -1;
    }
    if (keyring_digests(k->header, src->header_value, src->header_value_previous) < 0 ||
        keyring_digests(k->token, src->verification_token, src->verification_token_previous) < 0)
        return -1;
    if (src->basic_user != NULL &&
        keyring_pairs(k->basic, src->basic_user, src->basic_user_previous, src->basic_password,
                      src->basic_password_previous) < 0)
        return -1;
    if (src->oauth_client_id != NULL &&
        keyring_pairs(k->client, src->oauth_client_id, src->oauth_client_id_previous,
                      src->oauth_client_secret, src->oauth_client_secret_previous) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        if (bearer[i] == NULL)
            continue;
        if (token_key_derive(bearer[i], strlen(bearer[i]), k->bearer_key[i]) < 0)
            return -1;
        k->bearer_set[i] = true;
    }
    return 0;
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
        struct keyring_entry *e = &kr->entries[kr->nentries];
        size_t slot;
        if (cfg->sources[i].transport != CONFIG_TRANSPORT_WEBHOOK)
            continue; /* no /hooks/NAME: its events arrive on the gateway's own link */
        kr->nentries++;
        if (keyring_entry_init(e, &cfg->sources[i]) < 0)
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

/* Frees what an entry holds and wipes it whole (its keys: digests and token keys). */
static void keyring_entry_free(struct keyring_entry *e)
{
    free(e->name);
    free(e->header_name);
    for (int i = 0; i < 3; i++) {
        if (e->psecret[i] != NULL)
            explicit_bzero(e->psecret[i], strlen(e->psecret[i]));
        free(e->psecret[i]);
    }
    cidr_list_free(&e->allow_from);
    zoom_key_free(e->keys.current);
    zoom_key_free(e->keys.previous);
    explicit_bzero(e, sizeof(*e));
}

void keyring_free(struct keyring *kr)
{
    if (kr == NULL)
        return;
    for (size_t i = 0; i < kr->nentries; i++)
        keyring_entry_free(&kr->entries[i]);
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
