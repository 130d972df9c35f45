/*
 * A worker's view of the configured sources: name -> keyed HMAC contexts (current
 * and previous secret) and stats slot. Each worker builds its own keyring from a
 * config (OpenSSL MAC contexts are not shared between threads) and swaps it on reload.
 */
#ifndef HOOKPIPE_KEYRING_H
#define HOOKPIPE_KEYRING_H

#include <stddef.h>

#include "config.h"
#include "stats.h"
#include "verify.h"

struct keyring_entry {
    char *name;                               /* source name (owned) */
    struct verify_keys keys;                  /* keyed with secret and secret_previous (or NULL) */
    const struct verify_check *const *checks; /* how its requests are verified, in order */
    struct stats_source *stats;               /* this source's counters */
};

struct keyring;

/* Builds a keyring holding copies of everything it needs from cfg. NULL on failure. */
struct keyring *keyring_new(const struct config *cfg) __attribute__((warn_unused_result));
void keyring_free(struct keyring *kr);

/* The entry for name[0..len), or NULL. */
struct keyring_entry *keyring_find(struct keyring *kr, const char *name, size_t len);

#endif
