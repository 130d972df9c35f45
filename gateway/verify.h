/*
 * Request verification: is this request really from the source it addresses? A source's
 * auth modes make an ordered list of checks, and every check must pass; the first that
 * fails decides the answer and the reason it is counted under. Zoom's signature mode is
 * the timestamp window, then the v0 signature under the current or the previous secret;
 * basic, header, token (legacy verification token) and bearer (a token from the
 * gateway's own /hooks/NAME/token) are one check each. A further mode is one more
 * check. Pure (OpenSSL); unit-tested in tests/unit/test_verify.c.
 */
#ifndef HOOKPIPE_VERIFY_H
#define HOOKPIPE_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "provider_sig.h"
#include "token.h"
#include "zoom.h"

/* X(id, label): why a request was refused, the reason label of the failure counter */
#define VERIFY_REASONS(X)                                                                          \
    X(TIMESTAMP, "timestamp")                                                                      \
    X(SIGNATURE, "signature")                                                                      \
    X(BASIC, "basic")                                                                              \
    X(HEADER, "header")                                                                            \
    X(VERIFICATION_TOKEN, "verification_token")                                                    \
    X(BEARER_MISSING, "bearer_missing")                                                            \
    X(BEARER_MALFORMED, "bearer_malformed")                                                        \
    X(BEARER_OTHER_SOURCE, "bearer_other_source")                                                  \
    X(BEARER_INVALID, "bearer_invalid")                                                            \
    X(BEARER_EXPIRED, "bearer_expired")                                                            \
    X(CLIENT_CREDENTIALS, "client_credentials")                                                    \
    X(ADDRESS, "address")                                                                          \
    X(THROTTLED, "throttled")

enum verify_reason {
    VERIFY_REASON_NONE, /* not refused */
#define VERIFY_REASON_ENUM(id, label) VERIFY_REASON_##id,
    VERIFY_REASONS(VERIFY_REASON_ENUM)
#undef VERIFY_REASON_ENUM
        VERIFY_REASON_COUNT
};

/* The counter label of reason ("" for VERIFY_REASON_NONE). */
const char *verify_reason_label(enum verify_reason reason);

/* What a check may look at: the request's authentication headers and raw body. */
struct verify_request {
    const char *timestamp;     /* x-zm-request-timestamp */
    size_t timestamp_len;      /* 0 when absent */
    const char *signature;     /* x-zm-signature */
    size_t signature_len;      /* 0 when absent */
    const char *authorization; /* Authorization, NULL when absent (or present twice) */
    size_t authorization_len;
    const char *custom; /* the source's header_name, NULL when absent (or present twice) */
    size_t custom_len;
    const char *body; /* the body bytes exactly as received */
    size_t body_len;
    /* another provider's signature headers (common/provider.h), NULL when absent */
    const char *p_signature; /* webhook-signature, X-Hub-Signature-256, Stripe-Signature, ... */
    size_t p_signature_len;
    const char *p_timestamp; /* webhook-timestamp, X-Slack-Request-Timestamp */
    size_t p_timestamp_len;
    const char *p_id; /* webhook-id */
    size_t p_id_len;
    time_t now;       /* wall clock, seconds */
    long tolerance_s; /* timestamp_tolerance_s */
};

/* A SHA-256 digest of an expected value: compared in constant time, length not leaked. */
struct verify_digest {
    unsigned char d[32];
    bool set;
};

/* Fills d with the digest of s[0..n). 0, or -1 when OpenSSL fails. */
int verify_digest_set(struct verify_digest *d, const char *s, size_t n)
    __attribute__((warn_unused_result));

/* True when s[0..n) is the value of either set digest of d[0..2). Constant time. */
bool verify_digest_match(const struct verify_digest d[2], const char *s, size_t n);

/* The source's credentials, current [0] and previous [1] (not owned). */
struct verify_keys {
    struct zoom_key *current;       /* secret */
    struct zoom_key *previous;      /* secret_previous, or NULL */
    const char *source;             /* the source name (bearer tokens carry it) */
    struct verify_digest basic[2];  /* "user:password" */
    struct verify_digest header[2]; /* header_value */
    struct verify_digest token[2];  /* verification_token */
    struct verify_digest client[2]; /* "client_id:client_secret" at the token endpoint */
    unsigned char bearer_key[2][TOKEN_KEY_LEN]; /* derived from oauth_client_secret[_previous] */
    bool bearer_set[2];
    long token_ttl_s; /* oauth_token_ttl_s: also the furthest ahead a bearer token may expire */
    const struct verify_check *const *signature; /* the provider's signature checks (see
                                                    verify_run), or NULL */
    int sig_provider; /* another provider's scheme (enum provider_sig_provider), -1 for Zoom */
    struct provider_sig_secret psecrets[3]; /* its secret, secret_previous, public_key */
};

struct verify_result {
    int status;                /* 0 when verified, else the status to answer (401) */
    const char *message;       /* static: why, for the error body */
    const char *extra;         /* static header lines for the answer (WWW-Authenticate), or NULL */
    enum verify_reason reason; /* what failed, VERIFY_REASON_NONE when verified */
    struct zoom_key *key;      /* the key the request's Zoom signature verified under (it signs
                                  the url_validation answer), NULL when none did */
};

struct verify_check {
    const char *name; /* for tests and logs */
    /* true to go on; false with res->status, message and reason set to refuse */
    bool (*run)(const struct verify_keys *keys, const struct verify_request *req,
                struct verify_result *res);
    bool needs_body; /* false: it reads headers only, so it can run as soon as the head is in */
};

#define VERIFY_CHECKS_MAX 8 /* a list's checks with its NULL */

/*
 * The ordered, NULL-terminated signature checks of provider (e.g. "zoom", "github"), or
 * NULL. Another provider's are its header checks (head), then its signature (body).
 */
const struct verify_check *const *verify_checks(const char *provider);

/*
 * Fills out (VERIFY_CHECKS_MAX entries, NULL-terminated) with the checks of the
 * CONFIG_AUTH_* modes in auth for provider: signature first (cheap timestamp, then the
 * MAC), then basic, header, token, bearer. Returns 0, or -1 for an unknown provider.
 */
int verify_build(const char *provider, unsigned auth, const struct verify_check *out[])
    __attribute__((warn_unused_result));

/*
 * Runs, in order, the checks that need no body (req->body may be NULL): everything a
 * header-based mode checks, and the timestamp window and header form of a signature.
 * True when they pass; else res says why. The gateway runs it when a head is in, so a
 * request that cannot pass is refused before its body is read.
 */
bool verify_run_head(const struct verify_check *const *checks, const struct verify_keys *keys,
                     const struct verify_request *req, struct verify_result *res);

/* True when no check of the list needs the body: a passed verify_run_head proves the sender. */
bool verify_head_proves(const struct verify_check *const *checks);

/*
 * Runs checks in order. True when all pass; else res says why. res->key is the key a Zoom
 * signature verified under: the signature check's own when checks hold it, else (auth
 * without signature) keys->signature is tried too when the request carries a signature —
 * without deciding anything but res->key — because a url_validation answer is an HMAC under
 * the signing secret and is given only for a request that secret signed (hook.h).
 */
bool verify_run(const struct verify_check *const *checks, const struct verify_keys *keys,
                const struct verify_request *req, struct verify_result *res);

#endif
