/*
 * Stateless bearer tokens for a source's OAuth mode: "hp1.<source>.<expires>.<mac>",
 * where expires is Unix seconds and mac the unpadded base64url HMAC-SHA256 of
 * "hp1.<source>.<expires>" under a key derived from the source's oauth_client_secret.
 * Any worker or gateway instance with the same configuration accepts a token without
 * shared state. Pure (OpenSSL); unit-tested in tests/unit/test_token.c.
 */
#ifndef HOOKPIPE_TOKEN_H
#define HOOKPIPE_TOKEN_H

#include <stddef.h>
#include <time.h>

#include "name.h"

#define TOKEN_KEY_LEN 32
#define TOKEN_MAC_B64_LEN 43                                          /* base64url of 32 bytes */
#define TOKEN_MAX (4 + NAME_MAX_LEN + 1 + 20 + 1 + TOKEN_MAC_B64_LEN) /* without the NUL */

enum token_verdict {
    TOKEN_VALID,
    TOKEN_MALFORMED,    /* not the hp1 shape (truncated, extra bytes, bad characters) */
    TOKEN_OTHER_SOURCE, /* well formed, issued for another source */
    TOKEN_FORGED,       /* the MAC matches no key: altered, or its key was rotated out */
    TOKEN_EXPIRED,      /* genuine, past its expiry or expiring later than today's TTL allows */
};

/* The token key of a client secret: HMAC-SHA256(secret, "hookpipe bearer token v1"). 0/-1. */
int token_key_derive(const char *secret, size_t len, unsigned char key[TOKEN_KEY_LEN])
    __attribute__((warn_unused_result));

/* Writes the token of source expiring at expires (and a NUL) into out. Length, or -1. */
int token_mint(const unsigned char key[TOKEN_KEY_LEN], const char *source, long long expires,
               char out[TOKEN_MAX + 1]) __attribute__((warn_unused_result));

/*
 * Checks tok[0..len) for source at now against keys[0..nkeys) (NULL entries skipped: the
 * current and, while rotating, the previous key). The MAC is compared in constant time.
 * A genuine token expiring more than max_ahead_s after now is TOKEN_EXPIRED too: it was
 * issued under a longer TTL than today's, which a reload lowering the TTL then shortens.
 */
enum token_verdict token_verify(const unsigned char *const keys[], size_t nkeys, const char *source,
                                const char *tok, size_t len, time_t now, long max_ahead_s);

#endif
