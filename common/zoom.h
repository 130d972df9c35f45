/*
 * Zoom webhook signatures: x-zm-signature = "v0=" + hex(HMAC-SHA256(secret,
 * "v0:" + timestamp + ":" + raw body)), and the url_validation encryptedToken =
 * hex(HMAC-SHA256(secret, plainToken)). A zoom_key holds an HMAC context keyed once;
 * each use re-initialises it without re-keying. A key is used by one thread at a time.
 */
#ifndef HOOKPIPE_ZOOM_H
#define HOOKPIPE_ZOOM_H

#include <stdbool.h>
#include <stddef.h>

#define ZOOM_HEX_LEN 64 /* hex digits of a SHA-256 MAC */

struct zoom_key;

/* A new key for secret (copied into OpenSSL), or NULL on allocation failure. Caller frees. */
struct zoom_key *zoom_key_new(const char *secret, size_t len) __attribute__((warn_unused_result));
void zoom_key_free(struct zoom_key *key);

/* Writes the 64 lowercase hex digits (and a NUL) of the v0 signature into out. 0 or -1. */
int zoom_sign(struct zoom_key *key, const char *ts, size_t tslen, const char *body, size_t len,
              char out[ZOOM_HEX_LEN + 1]) __attribute__((warn_unused_result));

/*
 * True when header (the x-zm-signature value, "v0=<64 hex>") is the signature of
 * ts and body under key. Compared in constant time; a header of the wrong length or
 * version is false.
 */
bool zoom_verify(struct zoom_key *key, const char *ts, size_t tslen, const char *body, size_t len,
                 const char *header, size_t headerlen);

/* hex(HMAC-SHA256(secret, data)) into out, for the url_validation encryptedToken. 0 or -1. */
int zoom_hmac_hex(struct zoom_key *key, const char *data, size_t len, char out[ZOOM_HEX_LEN + 1])
    __attribute__((warn_unused_result));

#endif
