/*
 * The verification checks (see verify.h) and how a source's list is made. Zoom signs
 * "v0:<timestamp>:<body>", so the timestamp window is what bounds a replay. The other
 * modes compare a presented value with the configured one through SHA-256 digests and
 * CRYPTO_memcmp, so neither the content nor the length of a secret shows in the timing.
 */
#include "verify.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "config.h"

#define VERIFY_TIMESTAMP_DIGITS_MAX 12
#define VERIFY_BEARER_SKEW_S 60 /* a bearer token may expire this far past now + token_ttl_s */

static const char verify_basic_challenge[] = "WWW-Authenticate: Basic realm=\"hookpipe\"\r\n";
static const char verify_bearer_challenge[] = "WWW-Authenticate: Bearer realm=\"hookpipe\"\r\n";
static const char verify_bearer_invalid[] =
    "WWW-Authenticate: Bearer realm=\"hookpipe\", error=\"invalid_token\"\r\n";

static const char *const verify_reason_labels[] = {"",
#define VERIFY_REASON_LABEL(id, label) label,
                                                   VERIFY_REASONS(VERIFY_REASON_LABEL)
#undef VERIFY_REASON_LABEL
};

const char *verify_reason_label(enum verify_reason reason)
{
    return reason < VERIFY_REASON_COUNT ? verify_reason_labels[reason] : "";
}

int verify_digest_set(struct verify_digest *d, const char *s, size_t n)
{
    unsigned int len = 0;

    d->set = EVP_Digest(s, n, d->d, &len, EVP_sha256(), NULL) == 1 && len == sizeof(d->d);
    return d->set ? 0 : -1;
}

bool verify_digest_match(const struct verify_digest d[2], const char *s, size_t n)
{
    struct verify_digest got;
    bool ok = false;

    if (verify_digest_set(&got, s, n) < 0)
        return false;
    for (int i = 0; i < 2; i++) {
        /* both compared, whichever matches, so the timing does not tell which */
        bool eq = CRYPTO_memcmp(got.d, d[i].d, sizeof(got.d)) == 0;
        ok |= d[i].set & eq;
    }
    OPENSSL_cleanse(&got, sizeof(got));
    return ok;
}

static bool verify_refuse(struct verify_result *res, enum verify_reason reason, const char *message,
                          const char *extra)
{
    res->status = 401;
    res->reason = reason;
    res->message = message;
    res->extra = extra;
    return false;
}

/* x-zm-request-timestamp: decimal seconds within tolerance_s of now. */
static bool verify_zoom_timestamp(const struct verify_keys *keys, const struct verify_request *req,
                                  struct verify_result *res)
{
    static const char why[] = "timestamp missing or outside tolerance";
    long long ts = 0;

    (void)keys;
    if (req->timestamp_len == 0 || req->timestamp_len > VERIFY_TIMESTAMP_DIGITS_MAX)
        return verify_refuse(res, VERIFY_REASON_TIMESTAMP, why, NULL);
    for (size_t i = 0; i < req->timestamp_len; i++) {
        if (req->timestamp[i] < '0' || req->timestamp[i] > '9')
            return verify_refuse(res, VERIFY_REASON_TIMESTAMP, why, NULL);
        ts = ts * 10 + (req->timestamp[i] - '0');
    }
    if (llabs((long long)req->now - ts) > req->tolerance_s)
        return verify_refuse(res, VERIFY_REASON_TIMESTAMP, why, NULL);
    return true;
}

/* x-zm-signature under the current secret, else (while rotating) the previous one. */
/* The header's form, "v0=" and 64 lowercase hex digits, before any MAC is computed. */
static bool verify_zoom_signature_form(const struct verify_keys *keys,
                                       const struct verify_request *req, struct verify_result *res)
{
    (void)keys;
    bool ok = req->signature_len == 3 + ZOOM_HEX_LEN && memcmp(req->signature, "v0=", 3) == 0;
    for (size_t i = 3; ok && i < req->signature_len; i++)
        ok = (req->signature[i] >= '0' && req->signature[i] <= '9') ||
             (req->signature[i] >= 'a' && req->signature[i] <= 'f');
    return ok ? true : verify_refuse(res, VERIFY_REASON_SIGNATURE, "bad signature", NULL);
}

static bool verify_zoom_signature(const struct verify_keys *keys, const struct verify_request *req,
                                  struct verify_result *res)
{
    struct zoom_key *try[2] = {keys->current, keys->previous};

    for (size_t i = 0; i < 2; i++) {
        if (try[i] != NULL && zoom_verify(try[i], req->timestamp, req->timestamp_len, req->body,
                                          req->body_len, req->signature, req->signature_len)) {
            res->key = try[i];
            return true;
        }
    }
    return verify_refuse(res, VERIFY_REASON_SIGNATURE, "bad signature", NULL);
}

/* Authorization: Basic base64(user:password), either configured pair. */
static bool verify_basic(const struct verify_keys *keys, const struct verify_request *req,
                         struct verify_result *res)
{
    char cred[AUTHZ_BASIC_MAX];
    size_t n = 0, user_len;
    struct authz a;
    bool ok;

    authz_parse(req->authorization, req->authorization_len, &a);
    ok = authz_basic_decode(&a, cred, &n, &user_len) == 0 &&
         verify_digest_match(keys->basic, cred, n);
    OPENSSL_cleanse(cred, sizeof(cred));
    if (!ok)
        return verify_refuse(res, VERIFY_REASON_BASIC, "missing or wrong basic credentials",
                             verify_basic_challenge);
    return true;
}

/* header_name: header_value, the current or the previous value. */
static bool verify_header(const struct verify_keys *keys, const struct verify_request *req,
                          struct verify_result *res)
{
    if (req->custom == NULL || !verify_digest_match(keys->header, req->custom, req->custom_len))
        return verify_refuse(res, VERIFY_REASON_HEADER, "missing or wrong authentication header",
                             NULL);
    return true;
}

/* The legacy verification token: the whole Authorization value. */
static bool verify_token(const struct verify_keys *keys, const struct verify_request *req,
                         struct verify_result *res)
{
    if (req->authorization == NULL ||
        !verify_digest_match(keys->token, req->authorization, req->authorization_len))
        return verify_refuse(res, VERIFY_REASON_VERIFICATION_TOKEN,
                             "missing or wrong verification token", NULL);
    return true;
}

/* Authorization: Bearer <a token this source's token endpoint issued, not expired>. */
static bool verify_bearer(const struct verify_keys *keys, const struct verify_request *req,
                          struct verify_result *res)
{
    const unsigned char *tk[2] = {keys->bearer_set[0] ? keys->bearer_key[0] : NULL,
                                  keys->bearer_set[1] ? keys->bearer_key[1] : NULL};
    struct authz a;

    authz_parse(req->authorization, req->authorization_len, &a);
    if (a.scheme != AUTHZ_BEARER)
        return verify_refuse(res, VERIFY_REASON_BEARER_MISSING, "missing bearer token",
                             verify_bearer_challenge);
    switch (token_verify(tk, 2, keys->source, a.cred, a.cred_len, req->now,
                         keys->token_ttl_s + VERIFY_BEARER_SKEW_S)) {
    case TOKEN_VALID:
        return true;
    case TOKEN_MALFORMED:
        return verify_refuse(res, VERIFY_REASON_BEARER_MALFORMED, "invalid bearer token",
                             verify_bearer_invalid);
    case TOKEN_OTHER_SOURCE:
        return verify_refuse(res, VERIFY_REASON_BEARER_OTHER_SOURCE,
                             "bearer token of another source", verify_bearer_invalid);
    case TOKEN_EXPIRED:
        return verify_refuse(res, VERIFY_REASON_BEARER_EXPIRED, "bearer token expired",
                             verify_bearer_invalid);
    case TOKEN_FORGED:
        break;
    }
    return verify_refuse(res, VERIFY_REASON_BEARER_INVALID, "invalid bearer token",
                         verify_bearer_invalid);
}

static const struct verify_check verify_check_zoom_timestamp = {"zoom_timestamp",
                                                                verify_zoom_timestamp, false};
static const struct verify_check verify_check_zoom_signature_form = {
    "zoom_signature_form", verify_zoom_signature_form, false};
static const struct verify_check verify_check_zoom_signature = {"zoom_signature",
                                                                verify_zoom_signature, true};
static const struct verify_check verify_check_basic = {"basic", verify_basic, false};
static const struct verify_check verify_check_header = {"header", verify_header, false};
static const struct verify_check verify_check_token = {"verification_token", verify_token, false};
static const struct verify_check verify_check_bearer = {"bearer", verify_bearer, false};

/* Another provider's verdict as a check's answer. */
static bool verify_provider_verdict(enum provider_sig_verdict v, struct verify_result *res)
{
    switch (v) {
    case PROVIDER_SIG_OK:
        return true;
    case PROVIDER_SIG_TIMESTAMP:
        return verify_refuse(res, VERIFY_REASON_TIMESTAMP, "timestamp missing or outside tolerance",
                             NULL);
    case PROVIDER_SIG_MISSING_HEADER:
        return verify_refuse(res, VERIFY_REASON_SIGNATURE, "signature header missing", NULL);
    default:
        return verify_refuse(res, VERIFY_REASON_SIGNATURE, "bad signature", NULL);
    }
}

static void verify_provider_request(const struct verify_request *req,
                                    struct provider_sig_request *out)
{
    *out = (struct provider_sig_request){
        .id = req->p_id,
        .id_len = req->p_id_len,
        .timestamp = req->p_timestamp,
        .timestamp_len = req->p_timestamp_len,
        .signature = req->p_signature,
        .signature_len = req->p_signature_len,
        .body = req->body,
        .body_len = req->body_len,
        .now = req->now,
        .tolerance_s = req->tolerance_s,
    };
}

/* Another provider's headers: present, of its form, the timestamp inside the window. */
static bool verify_provider_head(const struct verify_keys *keys, const struct verify_request *req,
                                 struct verify_result *res)
{
    struct provider_sig_request preq;

    verify_provider_request(req, &preq);
    return verify_provider_verdict(provider_sig_head(keys->sig_provider, &preq), res);
}

/* Another provider's signature over the body under any of the source's secrets. */
static bool verify_provider_signature(const struct verify_keys *keys,
                                      const struct verify_request *req, struct verify_result *res)
{
    struct provider_sig_request preq;

    verify_provider_request(req, &preq);
    return verify_provider_verdict(
        provider_sig_verify(keys->sig_provider, keys->psecrets, 3, &preq), res);
}

static const struct verify_check verify_check_provider_head = {"provider_head",
                                                               verify_provider_head, false};
static const struct verify_check verify_check_provider_signature = {
    "provider_signature", verify_provider_signature, true};

static const struct verify_check *const verify_provider[] = {
    &verify_check_provider_head,
    &verify_check_provider_signature,
    NULL,
};

static const struct verify_check *const verify_zoom[] = {
    &verify_check_zoom_timestamp,
    &verify_check_zoom_signature_form,
    &verify_check_zoom_signature,
    NULL,
};

const struct verify_check *const *verify_checks(const char *provider)
{
    if (provider != NULL && strcmp(provider, "zoom") == 0)
        return verify_zoom;
    if (provider_sig_provider_parse(provider) >= 0)
        return verify_provider;
    return NULL;
}

int verify_build(const char *provider, unsigned auth, const struct verify_check *out[])
{
    const struct verify_check *const *sig = verify_checks(provider);
    static const struct {
        unsigned bit;
        const struct verify_check *check;
    } modes[] = {
        {CONFIG_AUTH_BASIC, &verify_check_basic},
        {CONFIG_AUTH_HEADER, &verify_check_header},
        {CONFIG_AUTH_TOKEN, &verify_check_token},
        {CONFIG_AUTH_BEARER, &verify_check_bearer},
    };
    size_t n = 0;

    if (sig == NULL)
        return -1;
    if (auth & CONFIG_AUTH_SIGNATURE) {
        for (size_t i = 0; sig[i] != NULL && n < VERIFY_CHECKS_MAX - 1; i++)
            out[n++] = sig[i];
    }
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]) && n < VERIFY_CHECKS_MAX - 1; i++) {
        if (auth & modes[i].bit)
            out[n++] = modes[i].check;
    }
    out[n] = NULL;
    return 0;
}

/* Runs checks in order until one refuses (res says why, res->key NULL). True when all pass. */
static bool verify_all(const struct verify_check *const *checks, const struct verify_keys *keys,
                       const struct verify_request *req, struct verify_result *res)
{
    for (size_t i = 0; checks[i] != NULL; i++) {
        if (!checks[i]->run(keys, req, res)) {
            res->key = NULL;
            return false;
        }
    }
    return true;
}

bool verify_run_head(const struct verify_check *const *checks, const struct verify_keys *keys,
                     const struct verify_request *req, struct verify_result *res)
{
    memset(res, 0, sizeof(*res));
    for (size_t i = 0; checks != NULL && checks[i] != NULL; i++) {
        if (!checks[i]->needs_body && !checks[i]->run(keys, req, res))
            return false;
    }
    return true;
}

bool verify_head_proves(const struct verify_check *const *checks)
{
    bool any = false;

    for (size_t i = 0; checks != NULL && checks[i] != NULL; i++) {
        if (checks[i]->needs_body)
            return false;
        any = true;
    }
    return any;
}

bool verify_run(const struct verify_check *const *checks, const struct verify_keys *keys,
                const struct verify_request *req, struct verify_result *res)
{
    memset(res, 0, sizeof(*res));
    if (checks == NULL || checks[0] == NULL) {
        res->status = 401;
        res->message = "no verification for this source";
        return false;
    }
    if (!verify_all(checks, keys, req, res))
        return false;
    if (res->key == NULL && keys->signature != NULL && req->signature_len > 0) {
        struct verify_result sig;
        memset(&sig, 0, sizeof(sig));
        res->key = verify_all(keys->signature, keys, req, &sig) ? sig.key : NULL;
    }
    return true;
}
