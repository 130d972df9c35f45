/*
 * A worker's view of the configured sources: name -> keyed HMAC contexts (current
 * and previous secret), the digests and token keys of its other auth modes, its checks
 * and stats slot. Each worker builds its own keyring from a
 * config (OpenSSL MAC contexts are not shared between threads) and swaps it on reload.
 */
#ifndef HOOKPIPE_KEYRING_H
#define HOOKPIPE_KEYRING_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "stats.h"
#include "verify.h"

struct keyring_entry {
    char *name;              /* source name (owned) */
    struct verify_keys keys; /* its secrets: zoom keys, digests and bearer token keys */
    const struct verify_check *checks[VERIFY_CHECKS_MAX]; /* its auth modes, in order */
    unsigned auth;                                        /* CONFIG_AUTH_* bits */
    bool wants_authorization;    /* a check reads the Authorization header */
    char *header_name;           /* header mode: the header to capture (owned), else NULL */
    struct stats_source *stats;  /* this source's counters */
    struct cidr_list allow_from; /* allow_from: client addresses it accepts; empty = any */
    bool head_proves;            /* its checks all run on the head: a passed head is proof */
    enum provider_id provider;   /* whose webhooks it receives */
    char *psecret[3]; /* another provider's secret, secret_previous, public_key (owned) */
};

struct keyring;

/* Builds a keyring holding copies of everything it needs from cfg. NULL on failure. */
struct keyring *keyring_new(const struct config *cfg) __attribute__((warn_unused_result));
void keyring_free(struct keyring *kr);

/* The entry for name[0..len), or NULL. */
struct keyring_entry *keyring_find(struct keyring *kr, const char *name, size_t len);

#endif
