/*
 * The signature schemes of the webhook providers beside Zoom (issue 22): Standard Webhooks
 * (v1 HMAC and v1a ed25519), GitHub, Stripe, Slack and Shopify, each built to its provider's
 * published documentation (cited in provider_sig.c and tests/fixtures/providers/README.md).
 * Pure (OpenSSL + common/), no I/O, never logs; every comparison in constant time. A request
 * is checked against up to PROVIDER_SIG_SECRETS_MAX secrets (current, previous, ...): any one
 * that verifies passes. Unit-tested in tests/unit/test_provider_sig.c.
 */
#ifndef HOOKPIPE_PROVIDER_SIG_H
#define HOOKPIPE_PROVIDER_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define PROVIDER_SIG_SECRETS_MAX 4  /* secrets a request is tried against */
#define PROVIDER_SIG_ENTRIES_MAX 8  /* entries of a webhook-signature / Stripe-Signature header */
#define PROVIDER_SIG_SECRET_MAX 512 /* longest secret accepted, in characters */

enum provider_sig_provider {
    PROVIDER_SIG_STANDARD, /* Standard Webhooks v1 (and Svix) */
    PROVIDER_SIG_GITHUB,
    PROVIDER_SIG_STRIPE,
    PROVIDER_SIG_SLACK,
    PROVIDER_SIG_SHOPIFY,
    PROVIDER_SIG_PROVIDER_COUNT
};

/* X(id, label): the verdict of a check; the label fits the failure counter's reason label */
#define PROVIDER_SIG_VERDICTS(X)                                                                   \
    X(OK, "")                                                                                      \
    X(MISSING_HEADER, "missing_header")                                                            \
    X(MALFORMED_HEADER, "malformed_header")                                                        \
    X(BAD_SIGNATURE, "signature")                                                                  \
    X(TIMESTAMP, "timestamp")                                                                      \
    X(BAD_SECRET, "bad_secret")                                                                    \
    X(ERROR, "error")

enum provider_sig_verdict {
#define PROVIDER_SIG_VERDICT_ENUM(id, label) PROVIDER_SIG_##id,
    PROVIDER_SIG_VERDICTS(PROVIDER_SIG_VERDICT_ENUM)
#undef PROVIDER_SIG_VERDICT_ENUM
        PROVIDER_SIG_VERDICT_COUNT
};
/*
 * OK: verified. MISSING_HEADER: a header the scheme needs is absent or empty.
 * MALFORMED_HEADER: present but not of the scheme's form (bad hex/base64, no comma, no t=,
 * more than PROVIDER_SIG_ENTRIES_MAX entries, no signature of a known version).
 * BAD_SIGNATURE: well-formed, but no signature matches under any secret.
 * TIMESTAMP: the signed timestamp is more than tolerance_s from now (either way).
 * BAD_SECRET: no secret given, or one cannot be used (empty, too long, bad base64, a whpk_
 * key not 32 bytes): a configuration fault, decided before the request is looked at.
 * ERROR: out of memory or an OpenSSL failure (answer 503, not 401).
 */

/* One piece of a MAC's input. */
struct provider_sig_part {
    const void *p;
    size_t n;
};

/*
 * HMAC-SHA256 under key[0..keylen) of the concatenated parts into out (32 bytes): the
 * verifiers' and the signers' (common/provider_sign.c). 0, or -1 when OpenSSL fails.
 */
int provider_sig_hmac(const unsigned char *key, size_t keylen,
                      const struct provider_sig_part *parts, size_t nparts, unsigned char out[32])
    __attribute__((warn_unused_result));

/* The label of verdict ("" for OK, "error" for ERROR). */
const char *provider_sig_verdict_label(enum provider_sig_verdict verdict);

/* The provider named name ("standard", "github", "stripe", "slack", "shopify"); -1 if none. */
int provider_sig_provider_parse(const char *name);

/* A secret exactly as the provider hands it out (whsec_..., whpk_..., GitHub's text, ...). */
struct provider_sig_secret {
    const char *s; /* not owned; NULL for an unset slot (skipped) */
    size_t len;
};

/* What a scheme looks at. A header is absent when its pointer is NULL (or its length 0). */
struct provider_sig_request {
    const char *id; /* webhook-id (standard only) */
    size_t id_len;
    const char *timestamp; /* webhook-timestamp (standard), X-Slack-Request-Timestamp (slack) */
    size_t timestamp_len;
    const char *signature; /* webhook-signature, X-Hub-Signature-256, Stripe-Signature,
                              X-Slack-Signature or X-Shopify-Hmac-Sha256 */
    size_t signature_len;
    const char *body; /* the raw body exactly as received (may be NULL when body_len is 0) */
    size_t body_len;
    time_t now;       /* wall clock, seconds */
    long tolerance_s; /* timestamp_tolerance_s: |now - timestamp| must not exceed it */
};

/*
 * The checks that need neither body nor secret: the headers are there, of the scheme's form,
 * and (timestamped schemes) the timestamp is inside the window. PROVIDER_SIG_OK when they
 * pass. The gateway can run it as soon as a head is in.
 */
enum provider_sig_verdict provider_sig_head(enum provider_sig_provider provider,
                                            const struct provider_sig_request *req);

/*
 * Whether secret can be used by provider's scheme: PROVIDER_SIG_OK or PROVIDER_SIG_BAD_SECRET
 * (for --check-config; the verifiers check again and refuse a request under a bad secret).
 */
enum provider_sig_verdict provider_sig_secret_check(enum provider_sig_provider provider,
                                                    const char *secret, size_t len);

/*
 * Verifies req under provider's scheme with secrets[0..n) (n <= PROVIDER_SIG_SECRETS_MAX;
 * unset slots skipped; at least one must be set). Order: secrets usable, headers present,
 * form, timestamp window, then the signature. Each provider's function is also callable.
 */
enum provider_sig_verdict provider_sig_verify(enum provider_sig_provider provider,
                                              const struct provider_sig_secret *secrets, size_t n,
                                              const struct provider_sig_request *req);

/*
 * Standard Webhooks: webhook-signature is a space-separated list of "v1,BASE64" (HMAC-SHA256
 * under a whsec_ secret, base64-decoded; the prefix optional and padding optional, as the
 * reference libraries take it) and "v1a,BASE64" (ed25519 under a whpk_ public key) over
 * "id.timestamp.body". Any match passes; other versions are ignored.
 */
enum provider_sig_verdict provider_sig_standard(const struct provider_sig_secret *secrets, size_t n,
                                                const struct provider_sig_request *req);

/* GitHub: X-Hub-Signature-256 = "sha256=" + hex(HMAC-SHA256(secret, body)). No timestamp. */
enum provider_sig_verdict provider_sig_github(const struct provider_sig_secret *secrets, size_t n,
                                              const struct provider_sig_request *req);

/*
 * Stripe: Stripe-Signature = "t=TS,v1=HEX[,v1=HEX...][,v0=...]", v1 = hex(HMAC-SHA256(the
 * whole whsec_... string, "TS.body")). Any v1 matches; other schemes are ignored.
 */
enum provider_sig_verdict provider_sig_stripe(const struct provider_sig_secret *secrets, size_t n,
                                              const struct provider_sig_request *req);

/* Slack: X-Slack-Signature = "v0=" + hex(HMAC-SHA256(secret, "v0:TS:body")), TS from
 * X-Slack-Request-Timestamp. */
enum provider_sig_verdict provider_sig_slack(const struct provider_sig_secret *secrets, size_t n,
                                             const struct provider_sig_request *req);

/* Shopify: X-Shopify-Hmac-Sha256 = base64(HMAC-SHA256(secret, body)). No timestamp. */
enum provider_sig_verdict provider_sig_shopify(const struct provider_sig_secret *secrets, size_t n,
                                               const struct provider_sig_request *req);

/*
 * The parsed form of a signature list header, for the verifiers and the fuzz target.
 * Entries point into the header (not owned, not NUL-terminated).
 */
struct provider_sig_entry {
    const char *version; /* "v1", "v1a", "t", "v0", ... */
    size_t version_len;
    const char *value; /* after the ',' (standard) or '=' (stripe) */
    size_t value_len;
};

struct provider_sig_list {
    struct provider_sig_entry e[PROVIDER_SIG_ENTRIES_MAX];
    size_t n;
};

/*
 * Splits a webhook-signature value at spaces (runs of spaces and ends allowed) into
 * "version,value" entries. 0, or -1 when an entry has no ',' or there are more than
 * PROVIDER_SIG_ENTRIES_MAX entries or none.
 */
int provider_sig_parse_standard(const char *s, size_t n, struct provider_sig_list *out)
    __attribute__((warn_unused_result));

/*
 * Splits a Stripe-Signature value at ',' into "key=value" items (split at the first '=').
 * 0, or -1 when an item is empty or has no '=', or there are more than
 * PROVIDER_SIG_ENTRIES_MAX items.
 */
int provider_sig_parse_stripe(const char *s, size_t n, struct provider_sig_list *out)
    __attribute__((warn_unused_result));

/* Parses decimal seconds s[0..n) (1-12 digits, nothing else) into *out. 0 or -1. */
int provider_sig_parse_timestamp(const char *s, size_t n, long long *out)
    __attribute__((warn_unused_result));

#endif
