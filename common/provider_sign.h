/*
 * Signing a delivery as each provider does (common/provider.h), for hookpipe-ctl replay: the
 * signature headers of one request under a provider's secret, the counterpart of the
 * gateway's verifiers (gateway/provider_sig.c, common/zoom.c). Pure (OpenSSL), no I/O, never
 * logs; a key is read-only once loaded, so threads may share it. Unit-tested in
 * tests/unit/test_provider_sign.c against the published vectors and those verifiers.
 */
#ifndef HOOKPIPE_PROVIDER_SIGN_H
#define HOOKPIPE_PROVIDER_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#include "provider.h"

#define PROVIDER_SIGN_KEY_MAX 512  /* longest secret, in characters (as the gateway's) */
#define PROVIDER_SIGN_ID_MAX 255   /* longest webhook-id signed */
#define PROVIDER_SIGN_HEADERS 3    /* headers a scheme sets */
#define PROVIDER_SIGN_LINE_MAX 320 /* one "Name: value" line */

/* A provider's signing key, decoded from the secret as the provider hands it out. */
struct provider_sign_key {
    enum provider_id provider;
    unsigned char k[PROVIDER_SIGN_KEY_MAX]; /* the HMAC key */
    size_t len;
};

/* The headers that sign one request, each a "Name: value" line for an HTTP client. */
struct provider_sign_headers {
    size_t n;
    char line[PROVIDER_SIGN_HEADERS][PROVIDER_SIGN_LINE_MAX];
};

/*
 * Loads secret[0..len) for provider into key: the text itself as the HMAC key (zoom, github,
 * slack, shopify; stripe: the whole "whsec_..." string, as Stripe's libraries use it), or for
 * standard the base64 after an optional "whsec_" (padding optional, as the reference libraries
 * and the gateway take it). 0, or -1 with a static reason in *why: empty or too long, a
 * standard secret that is not base64, or a "whpk_" public key / "whsk_" private key (v1a
 * keys: a public key cannot sign, and hookpipe signs v1 only). Wipe the key with
 * provider_sign_key_wipe().
 */
int provider_sign_key_init(struct provider_sign_key *key, enum provider_id provider,
                           const char *secret, size_t len, const char **why)
    __attribute__((warn_unused_result));

void provider_sign_key_wipe(struct provider_sign_key *key);

/*
 * The signature headers of body signed at time now (seconds) under key into out:
 *   zoom      x-zm-request-timestamp: NOW, x-zm-signature: v0=HEX(HMAC("v0:NOW:body"))
 *   standard  webhook-id: ID, webhook-timestamp: NOW,
 *             webhook-signature: v1,BASE64(HMAC("ID.NOW.body"))
 *   github    X-Hub-Signature-256: sha256=HEX(HMAC(body))
 *   stripe    Stripe-Signature: t=NOW,v1=HEX(HMAC("NOW.body"))
 *   slack     X-Slack-Request-Timestamp: NOW, X-Slack-Signature: v0=HEX(HMAC("v0:NOW:body"))
 *   shopify   X-Shopify-Hmac-Sha256: BASE64(HMAC(body))
 * id[0..id_len) is the delivery's own id, needed by standard only (the stored webhook-id:
 * never a new one). 0, or -1 with a static reason in *why (standard without an id, an id
 * longer than PROVIDER_SIGN_ID_MAX or with a control character, an OpenSSL failure).
 */
int provider_sign(const struct provider_sign_key *key, const char *id, size_t id_len, long long now,
                  const char *body, size_t len, struct provider_sign_headers *out, const char **why)
    __attribute__((warn_unused_result));

/* True when the lines of h set header name (case-insensitive): replay sends no other copy. */
bool provider_sign_sets(const struct provider_sign_headers *h, const char *name);

#endif
