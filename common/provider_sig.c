/*
 * The providers' signature schemes (see provider_sig.h). Each verifier checks the secrets,
 * then the head (presence, form, timestamp window: provider_sig_head), then computes one
 * HMAC per secret (or one ed25519 verification per public key and entry) and compares every
 * candidate with CRYPTO_memcmp, without stopping at the first match, so the timing shows
 * neither which secret nor which entry matched. Where a provider's libraries are laxer than
 * its document (Stripe's only refuse old timestamps), the document and the stricter reading
 * are followed and the function's comment says so.
 */
#include "provider_sig.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "text.h"

#define PS_MAC_LEN 32    /* HMAC-SHA256 */
#define PS_HEX_LEN 64    /* hex digits of a MAC */
#define PS_ED_KEY_LEN 32 /* ed25519 public key */
#define PS_ED_SIG_LEN 64 /* ed25519 signature */
#define PS_TS_DIGITS_MAX 12

static const char *const provider_sig_labels[] = {
#define PROVIDER_SIG_VERDICT_LABEL(id, label) label,
    PROVIDER_SIG_VERDICTS(PROVIDER_SIG_VERDICT_LABEL)
#undef PROVIDER_SIG_VERDICT_LABEL
};

static const char *const provider_sig_names[PROVIDER_SIG_PROVIDER_COUNT] = {
    "standard", "github", "stripe", "slack", "shopify"};

const char *provider_sig_verdict_label(enum provider_sig_verdict verdict)
{
    return verdict < PROVIDER_SIG_VERDICT_COUNT ? provider_sig_labels[verdict] : "error";
}

int provider_sig_provider_parse(const char *name)
{
    for (int i = 0; name != NULL && i < PROVIDER_SIG_PROVIDER_COUNT; i++) {
        if (strcmp(name, provider_sig_names[i]) == 0)
            return i;
    }
    return -1;
}

/* ---- primitives ---- */

static EVP_MAC *ps_mac;
static pthread_once_t ps_mac_once = PTHREAD_ONCE_INIT;

static void ps_mac_fetch(void)
{
    ps_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

int provider_sig_hmac(const unsigned char *key, size_t keylen,
                      const struct provider_sig_part *parts, size_t nparts,
                      unsigned char out[PS_MAC_LEN])
{
    EVP_MAC_CTX *ctx = NULL;
    OSSL_PARAM params[2];
    size_t outlen = 0;
    int rc = -1;

    pthread_once(&ps_mac_once, ps_mac_fetch);
    if (ps_mac == NULL)
        return -1;
    ctx = EVP_MAC_CTX_new(ps_mac);
    if (ctx == NULL)
        return -1;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(ctx, key, keylen, params) != 1)
        goto out;
    for (size_t i = 0; i < nparts; i++) {
        if (parts[i].n > 0 && EVP_MAC_update(ctx, parts[i].p, parts[i].n) != 1)
            goto out;
    }
    if (EVP_MAC_final(ctx, out, &outlen, PS_MAC_LEN) != 1 || outlen != PS_MAC_LEN)
        goto out;
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    return rc;
}

/* Exactly PS_HEX_LEN hex digits (either case) into out. 0 or -1. */
static int ps_hex_mac(const char *s, size_t n, unsigned char out[PS_MAC_LEN])
{
    if (n != PS_HEX_LEN)
        return -1;
    for (size_t i = 0; i < PS_MAC_LEN; i++) {
        int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* Padded standard base64 of exactly want bytes into out. 0 or -1. */
static int ps_b64_exact(const char *s, size_t n, unsigned char *out, size_t want)
{
    return n == BASE64_LEN(want) && base64_decode(s, n, out, want, false) == (long)want ? 0 : -1;
}

static bool ps_prefix(const char *s, size_t n, const char *prefix)
{
    size_t p = strlen(prefix);
    return n >= p && memcmp(s, prefix, p) == 0;
}

static bool ps_eq(const char *s, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

static bool ps_present(const char *s, size_t n)
{
    return s != NULL && n > 0;
}

int provider_sig_parse_timestamp(const char *s, size_t n, long long *out)
{
    long long v = 0;

    /* no sign, no space, no leading zero: the text signed is then the number's only form */
    if (s == NULL || n == 0 || n > PS_TS_DIGITS_MAX || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static enum provider_sig_verdict ps_window(const struct provider_sig_request *req, long long ts)
{
    long long d = (long long)req->now - ts;

    if (d < 0)
        d = -d;
    return req->tolerance_s >= 0 && d <= req->tolerance_s ? PROVIDER_SIG_OK
                                                          : PROVIDER_SIG_TIMESTAMP;
}

/* ---- header lists ---- */

int provider_sig_parse_standard(const char *s, size_t n, struct provider_sig_list *out)
{
    size_t i = 0;

    out->n = 0;
    if (s == NULL)
        return -1;
    while (i < n) {
        size_t start, comma = 0;
        bool has_comma = false;

        while (i < n && s[i] == ' ')
            i++;
        if (i == n)
            break;
        start = i;
        while (i < n && s[i] != ' ') {
            if (s[i] == ',' && !has_comma) {
                has_comma = true;
                comma = i;
            }
            i++;
        }
        if (!has_comma || out->n == PROVIDER_SIG_ENTRIES_MAX)
            return -1;
        out->e[out->n].version = s + start;
        out->e[out->n].version_len = comma - start;
        out->e[out->n].value = s + comma + 1;
        out->e[out->n].value_len = i - comma - 1;
        out->n++;
    }
    return out->n > 0 ? 0 : -1;
}

int provider_sig_parse_stripe(const char *s, size_t n, struct provider_sig_list *out)
{
    size_t i = 0;

    out->n = 0;
    if (s == NULL || n == 0)
        return -1;
    for (;;) {
        size_t start = i, eq = 0;
        bool has_eq = false;

        while (i < n && s[i] != ',') {
            if (s[i] == '=' && !has_eq) {
                has_eq = true;
                eq = i;
            }
            i++;
        }
        if (i == start || !has_eq || out->n == PROVIDER_SIG_ENTRIES_MAX)
            return -1;
        out->e[out->n].version = s + start;
        out->e[out->n].version_len = eq - start;
        out->e[out->n].value = s + eq + 1;
        out->e[out->n].value_len = i - eq - 1;
        out->n++;
        if (i == n)
            return 0;
        i++; /* the ',' */
    }
}

/* ---- secrets ---- */

enum ps_key_kind { PS_KEY_UNSET, PS_KEY_HMAC, PS_KEY_ED25519 };

struct ps_key {
    enum ps_key_kind kind;
    const unsigned char *k; /* HMAC key: the secret itself or buf */
    size_t len;
    unsigned char buf[PROVIDER_SIG_SECRET_MAX]; /* a decoded standard key */
};

/* Base64 (standard alphabet) with its padding optional, as the reference libraries accept. */
static long ps_b64_lenient(const char *s, size_t n, unsigned char *out, size_t cap)
{
    char tmp[PROVIDER_SIG_SECRET_MAX + 3];
    size_t m = n;

    if (n == 0 || n > PROVIDER_SIG_SECRET_MAX)
        return -1;
    memcpy(tmp, s, n);
    while (m % 4 != 0)
        tmp[m++] = '=';
    return base64_decode(tmp, m, out, cap, false);
}

/*
 * Standard Webhooks secrets: "whpk_" + base64 of a 32-byte ed25519 public key (v1a), or
 * "whsec_" + base64 (prefix optional, as the spec's libraries take it) of an HMAC key (v1).
 * A "whsk_" private key is refused: a receiver is given the public key.
 */
static int ps_key_standard(const char *s, size_t n, struct ps_key *key)
{
    long len;

    if (ps_prefix(s, n, "whpk_")) {
        len = ps_b64_lenient(s + 5, n - 5, key->buf, sizeof(key->buf));
        if (len != PS_ED_KEY_LEN)
            return -1;
        key->kind = PS_KEY_ED25519;
    } else if (ps_prefix(s, n, "whsk_")) {
        return -1;
    } else {
        if (ps_prefix(s, n, "whsec_")) {
            s += 6;
            n -= 6;
        }
        len = ps_b64_lenient(s, n, key->buf, sizeof(key->buf));
        if (len <= 0)
            return -1;
        key->kind = PS_KEY_HMAC;
    }
    key->k = key->buf;
    key->len = (size_t)len;
    return 0;
}

static int ps_key_load(enum provider_sig_provider provider, const char *s, size_t n,
                       struct ps_key *key)
{
    key->kind = PS_KEY_UNSET;
    if (s == NULL || n == 0 || n > PROVIDER_SIG_SECRET_MAX)
        return -1;
    if (provider == PROVIDER_SIG_STANDARD)
        return ps_key_standard(s, n, key);
    /* GitHub, Stripe (the whole whsec_... string), Slack, Shopify: the text is the key */
    key->kind = PS_KEY_HMAC;
    key->k = (const unsigned char *)s;
    key->len = n;
    return 0;
}

enum provider_sig_verdict provider_sig_secret_check(enum provider_sig_provider provider,
                                                    const char *secret, size_t len)
{
    struct ps_key key;
    enum provider_sig_verdict v = PROVIDER_SIG_OK;

    if ((unsigned)provider >= PROVIDER_SIG_PROVIDER_COUNT ||
        ps_key_load(provider, secret, len, &key) < 0)
        v = PROVIDER_SIG_BAD_SECRET;
    OPENSSL_cleanse(&key, sizeof(key));
    return v;
}

/* Loads the set secrets into keys. OK, or BAD_SECRET when none is set or one is unusable. */
static enum provider_sig_verdict ps_keys(enum provider_sig_provider provider,
                                         const struct provider_sig_secret *secrets, size_t n,
                                         struct ps_key keys[PROVIDER_SIG_SECRETS_MAX])
{
    size_t set = 0;

    if (secrets == NULL || n > PROVIDER_SIG_SECRETS_MAX)
        return PROVIDER_SIG_BAD_SECRET;
    for (size_t i = 0; i < PROVIDER_SIG_SECRETS_MAX; i++)
        keys[i].kind = PS_KEY_UNSET;
    for (size_t i = 0; i < n; i++) {
        if (secrets[i].s == NULL)
            continue;
        if (ps_key_load(provider, secrets[i].s, secrets[i].len, &keys[i]) < 0)
            return PROVIDER_SIG_BAD_SECRET;
        set++;
    }
    return set > 0 ? PROVIDER_SIG_OK : PROVIDER_SIG_BAD_SECRET;
}

/*
 * True when some HMAC key's MAC of parts equals one of the got[0..ngot) MACs. Every key and
 * every candidate is compared (constant time, no early exit). *err set on OpenSSL failure.
 */
static bool ps_hmac_match(const struct ps_key *keys, const struct provider_sig_part *parts,
                          size_t nparts, const unsigned char (*got)[PS_MAC_LEN], size_t ngot,
                          bool *err)
{
    unsigned char mac[PS_MAC_LEN];
    bool ok = false;

    for (size_t i = 0; i < PROVIDER_SIG_SECRETS_MAX; i++) {
        if (keys[i].kind != PS_KEY_HMAC)
            continue;
        if (provider_sig_hmac(keys[i].k, keys[i].len, parts, nparts, mac) < 0) {
            *err = true;
            break;
        }
        for (size_t j = 0; j < ngot; j++)
            ok |= CRYPTO_memcmp(mac, got[j], PS_MAC_LEN) == 0;
    }
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok;
}

static enum provider_sig_verdict ps_result(bool ok, bool err)
{
    if (err)
        return PROVIDER_SIG_ERROR;
    return ok ? PROVIDER_SIG_OK : PROVIDER_SIG_BAD_SIGNATURE;
}

/* ---- Standard Webhooks ---- */

struct ps_standard {
    struct provider_sig_list list;
    long long ts;
};

static enum provider_sig_verdict ps_standard_head(const struct provider_sig_request *req,
                                                  struct ps_standard *h)
{
    unsigned char sig[PS_ED_SIG_LEN];
    size_t known = 0;

    if (!ps_present(req->id, req->id_len) || !ps_present(req->timestamp, req->timestamp_len) ||
        !ps_present(req->signature, req->signature_len))
        return PROVIDER_SIG_MISSING_HEADER;
    if (provider_sig_parse_timestamp(req->timestamp, req->timestamp_len, &h->ts) < 0 ||
        provider_sig_parse_standard(req->signature, req->signature_len, &h->list) < 0)
        return PROVIDER_SIG_MALFORMED_HEADER;
    /* every v1/v1a entry must be a signature of its length; other versions are ignored */
    for (size_t i = 0; i < h->list.n; i++) {
        const struct provider_sig_entry *e = &h->list.e[i];
        size_t want = ps_eq(e->version, e->version_len, "v1")    ? PS_MAC_LEN
                      : ps_eq(e->version, e->version_len, "v1a") ? PS_ED_SIG_LEN
                                                                 : 0;
        if (want == 0)
            continue;
        if (ps_b64_exact(e->value, e->value_len, sig, want) < 0)
            return PROVIDER_SIG_MALFORMED_HEADER;
        known++;
    }
    if (known == 0)
        return PROVIDER_SIG_MALFORMED_HEADER;
    return ps_window(req, h->ts);
}

/* One ed25519 public key against every v1a entry. *err set on OpenSSL failure. */
static bool ps_ed25519_match(const unsigned char key[PS_ED_KEY_LEN],
                             const struct provider_sig_list *list, const unsigned char *msg,
                             size_t len, bool *err)
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, PS_ED_KEY_LEN);
    unsigned char sig[PS_ED_SIG_LEN];
    bool ok = false;

    if (pk == NULL) {
        *err = true;
        return false;
    }
    for (size_t i = 0; i < list->n; i++) {
        const struct provider_sig_entry *e = &list->e[i];
        EVP_MD_CTX *md;

        if (!ps_eq(e->version, e->version_len, "v1a") ||
            ps_b64_exact(e->value, e->value_len, sig, PS_ED_SIG_LEN) < 0)
            continue;
        md = EVP_MD_CTX_new();
        if (md == NULL || EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) != 1) {
            EVP_MD_CTX_free(md);
            *err = true;
            break;
        }
        ok |= EVP_DigestVerify(md, sig, PS_ED_SIG_LEN, msg, len) == 1;
        EVP_MD_CTX_free(md);
    }
    EVP_PKEY_free(pk);
    return ok;
}

/*
 * Standard Webhooks v1 — spec:
 * https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
 * (www.standardwebhooks.com), "Signature scheme", "Webhook headers", "Verifying signatures".
 * Secrets as the reference libraries (libraries/python standardwebhooks/webhooks.py,
 * libraries/javascript/src/index.ts) take them: "whsec_" optional, base64 padding optional.
 * v1a (ed25519, "whpk_" keys) as the spec's table defines it; the window is 5 minutes either
 * way in the libraries, tolerance_s here.
 */
enum provider_sig_verdict provider_sig_standard(const struct provider_sig_secret *secrets, size_t n,
                                                const struct provider_sig_request *req)
{
    struct ps_key keys[PROVIDER_SIG_SECRETS_MAX];
    unsigned char got[PROVIDER_SIG_ENTRIES_MAX][PS_MAC_LEN];
    struct ps_standard h;
    enum provider_sig_verdict v;
    size_t ngot = 0;
    bool ok = false, err = false, any_ed = false;
    char *msg = NULL;

    v = ps_keys(PROVIDER_SIG_STANDARD, secrets, n, keys);
    if (v == PROVIDER_SIG_OK)
        v = ps_standard_head(req, &h);
    if (v != PROVIDER_SIG_OK)
        goto out;
    for (size_t i = 0; i < h.list.n; i++) {
        const struct provider_sig_entry *e = &h.list.e[i];
        if (ps_eq(e->version, e->version_len, "v1") &&
            ps_b64_exact(e->value, e->value_len, got[ngot], PS_MAC_LEN) == 0)
            ngot++;
    }
    {
        const struct provider_sig_part parts[] = {{req->id, req->id_len},
                                                  {".", 1},
                                                  {req->timestamp, req->timestamp_len},
                                                  {".", 1},
                                                  {req->body, req->body_len}};
        if (ngot > 0)
            ok = ps_hmac_match(keys, parts, 5, (const unsigned char(*)[PS_MAC_LEN])got, ngot, &err);
    }
    for (size_t i = 0; i < PROVIDER_SIG_SECRETS_MAX; i++)
        any_ed |= keys[i].kind == PS_KEY_ED25519;
    if (any_ed && !err) {
        /* ed25519 signs a whole message: "id.timestamp.body" in one buffer */
        size_t len = req->id_len + 1 + req->timestamp_len + 1 + req->body_len, o = 0;
        msg = malloc(len ? len : 1);
        if (msg == NULL) {
            err = true;
        } else {
            memcpy(msg + o, req->id, req->id_len);
            o += req->id_len;
            msg[o++] = '.';
            memcpy(msg + o, req->timestamp, req->timestamp_len);
            o += req->timestamp_len;
            msg[o++] = '.';
            if (req->body_len > 0)
                memcpy(msg + o, req->body, req->body_len);
            for (size_t i = 0; i < PROVIDER_SIG_SECRETS_MAX && !err; i++) {
                if (keys[i].kind == PS_KEY_ED25519)
                    ok |= ps_ed25519_match(keys[i].buf, &h.list, (const unsigned char *)msg, len,
                                           &err);
            }
        }
    }
    v = ps_result(ok, err);
out:
    free(msg);
    OPENSSL_cleanse(keys, sizeof(keys));
    return v;
}

/* ---- GitHub ---- */

/*
 * The schemes whose MAC covers the body alone (GitHub, Shopify): the keys, the header through
 * head (which decodes the one MAC it carries), then HMAC-SHA256 of the body under each key.
 */
static enum provider_sig_verdict
ps_body_mac(enum provider_sig_provider provider, const struct provider_sig_secret *secrets,
            size_t n, const struct provider_sig_request *req,
            enum provider_sig_verdict (*head)(const struct provider_sig_request *,
                                              unsigned char[PS_MAC_LEN]))
{
    struct ps_key keys[PROVIDER_SIG_SECRETS_MAX];
    unsigned char got[1][PS_MAC_LEN];
    enum provider_sig_verdict v;
    bool ok, err = false;

    v = ps_keys(provider, secrets, n, keys);
    if (v == PROVIDER_SIG_OK)
        v = head(req, got[0]);
    if (v == PROVIDER_SIG_OK) {
        const struct provider_sig_part parts[] = {{req->body, req->body_len}};
        ok = ps_hmac_match(keys, parts, 1, (const unsigned char(*)[PS_MAC_LEN])got, 1, &err);
        v = ps_result(ok, err);
    }
    OPENSSL_cleanse(keys, sizeof(keys));
    return v;
}

static enum provider_sig_verdict ps_github_head(const struct provider_sig_request *req,
                                                unsigned char got[PS_MAC_LEN])
{
    if (!ps_present(req->signature, req->signature_len))
        return PROVIDER_SIG_MISSING_HEADER;
    if (!ps_prefix(req->signature, req->signature_len, "sha256=") ||
        ps_hex_mac(req->signature + 7, req->signature_len - 7, got) < 0)
        return PROVIDER_SIG_MALFORMED_HEADER;
    return PROVIDER_SIG_OK;
}

/*
 * GitHub — https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
 * X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256 of the payload under the webhook secret.
 * The legacy SHA-1 X-Hub-Signature is not accepted (GitHub's document recommends -256).
 */
enum provider_sig_verdict provider_sig_github(const struct provider_sig_secret *secrets, size_t n,
                                              const struct provider_sig_request *req)
{
    return ps_body_mac(PROVIDER_SIG_GITHUB, secrets, n, req, ps_github_head);
}

/* ---- Stripe ---- */

struct ps_stripe {
    struct provider_sig_list list;
    const char *t; /* the t= value */
    size_t t_len;
    unsigned char v1[PROVIDER_SIG_ENTRIES_MAX][PS_MAC_LEN];
    size_t nv1;
};

static enum provider_sig_verdict ps_stripe_head(const struct provider_sig_request *req,
                                                struct ps_stripe *h)
{
    long long ts;
    size_t nt = 0;

    if (!ps_present(req->signature, req->signature_len))
        return PROVIDER_SIG_MISSING_HEADER;
    if (provider_sig_parse_stripe(req->signature, req->signature_len, &h->list) < 0)
        return PROVIDER_SIG_MALFORMED_HEADER;
    h->nv1 = 0;
    for (size_t i = 0; i < h->list.n; i++) {
        const struct provider_sig_entry *e = &h->list.e[i];
        if (ps_eq(e->version, e->version_len, "t")) {
            h->t = e->value;
            h->t_len = e->value_len;
            nt++;
        } else if (ps_eq(e->version, e->version_len, "v1")) {
            if (ps_hex_mac(e->value, e->value_len, h->v1[h->nv1]) < 0)
                return PROVIDER_SIG_MALFORMED_HEADER;
            h->nv1++;
        } /* v0 (test-mode scheme) and any other scheme: ignored, as Stripe says */
    }
    if (nt != 1 || h->nv1 == 0 || provider_sig_parse_timestamp(h->t, h->t_len, &ts) < 0)
        return PROVIDER_SIG_MALFORMED_HEADER;
    return ps_window(req, ts);
}

/*
 * Stripe — https://docs.stripe.com/webhooks#verify-manually ("Check the webhook signatures",
 * also https://docs.stripe.com/webhooks/signature): split Stripe-Signature at ',' and each
 * item at '='; ignore every scheme but v1; signed_payload = t + "." + raw body; HMAC-SHA256
 * keyed with the endpoint's signing secret, which Stripe's libraries use as the whole
 * "whsec_..." string (stripe-node src/Webhooks.ts computeHMACSignature(payload, secret);
 * stripe-python stripe/_webhook.py secret.encode("utf-8")) — not base64-decoded. Any v1 may
 * match (Stripe sends one per active secret while one rolls). The window is |now - t| <=
 * tolerance_s: the document compares the difference; the libraries refuse only old
 * timestamps, and a timestamp far in the future is refused here too (stricter).
 */
enum provider_sig_verdict provider_sig_stripe(const struct provider_sig_secret *secrets, size_t n,
                                              const struct provider_sig_request *req)
{
    struct ps_key keys[PROVIDER_SIG_SECRETS_MAX];
    struct ps_stripe h;
    enum provider_sig_verdict v;
    bool ok, err = false;

    v = ps_keys(PROVIDER_SIG_STRIPE, secrets, n, keys);
    if (v == PROVIDER_SIG_OK)
        v = ps_stripe_head(req, &h);
    if (v == PROVIDER_SIG_OK) {
        const struct provider_sig_part parts[] = {
            {h.t, h.t_len}, {".", 1}, {req->body, req->body_len}};
        ok = ps_hmac_match(keys, parts, 3, (const unsigned char(*)[PS_MAC_LEN])h.v1, h.nv1, &err);
        v = ps_result(ok, err);
    }
    OPENSSL_cleanse(keys, sizeof(keys));
    return v;
}

/* ---- Slack ---- */

static enum provider_sig_verdict ps_slack_head(const struct provider_sig_request *req,
                                               unsigned char got[PS_MAC_LEN])
{
    long long ts;

    if (!ps_present(req->timestamp, req->timestamp_len) ||
        !ps_present(req->signature, req->signature_len))
        return PROVIDER_SIG_MISSING_HEADER;
    if (provider_sig_parse_timestamp(req->timestamp, req->timestamp_len, &ts) < 0 ||
        !ps_prefix(req->signature, req->signature_len, "v0=") ||
        ps_hex_mac(req->signature + 3, req->signature_len - 3, got) < 0)
        return PROVIDER_SIG_MALFORMED_HEADER;
    return ps_window(req, ts);
}

/*
 * Slack — https://api.slack.com/authentication/verifying-requests-from-slack (now also
 * https://docs.slack.dev/authentication/verifying-requests-from-slack): basestring
 * "v0:" + X-Slack-Request-Timestamp + ":" + raw body, HMAC-SHA256 under the signing secret,
 * "v0=" + hex in X-Slack-Signature; the document refuses |now - timestamp| > 5 minutes.
 */
enum provider_sig_verdict provider_sig_slack(const struct provider_sig_secret *secrets, size_t n,
                                             const struct provider_sig_request *req)
{
    struct ps_key keys[PROVIDER_SIG_SECRETS_MAX];
    unsigned char got[1][PS_MAC_LEN];
    enum provider_sig_verdict v;
    bool ok, err = false;

    v = ps_keys(PROVIDER_SIG_SLACK, secrets, n, keys);
    if (v == PROVIDER_SIG_OK)
        v = ps_slack_head(req, got[0]);
    if (v == PROVIDER_SIG_OK) {
        const struct provider_sig_part parts[] = {
            {"v0:", 3}, {req->timestamp, req->timestamp_len}, {":", 1}, {req->body, req->body_len}};
        ok = ps_hmac_match(keys, parts, 4, (const unsigned char(*)[PS_MAC_LEN])got, 1, &err);
        v = ps_result(ok, err);
    }
    OPENSSL_cleanse(keys, sizeof(keys));
    return v;
}

/* ---- Shopify ---- */

static enum provider_sig_verdict ps_shopify_head(const struct provider_sig_request *req,
                                                 unsigned char got[PS_MAC_LEN])
{
    if (!ps_present(req->signature, req->signature_len))
        return PROVIDER_SIG_MISSING_HEADER;
    if (ps_b64_exact(req->signature, req->signature_len, got, PS_MAC_LEN) < 0)
        return PROVIDER_SIG_MALFORMED_HEADER;
    return PROVIDER_SIG_OK;
}

/*
 * Shopify — https://shopify.dev/docs/apps/build/webhooks/subscribe/https ("Verify the
 * webhook" / validate the origin): X-Shopify-Hmac-Sha256 is the base64 HMAC-SHA256 of the
 * raw body under the app's client secret. No timestamp is signed.
 */
enum provider_sig_verdict provider_sig_shopify(const struct provider_sig_secret *secrets, size_t n,
                                               const struct provider_sig_request *req)
{
    return ps_body_mac(PROVIDER_SIG_SHOPIFY, secrets, n, req, ps_shopify_head);
}

/* ---- dispatch ---- */

enum provider_sig_verdict provider_sig_head(enum provider_sig_provider provider,
                                            const struct provider_sig_request *req)
{
    unsigned char got[PS_MAC_LEN];

    switch (provider) {
    case PROVIDER_SIG_STANDARD: {
        struct ps_standard h;
        return ps_standard_head(req, &h);
    }
    case PROVIDER_SIG_GITHUB:
        return ps_github_head(req, got);
    case PROVIDER_SIG_STRIPE: {
        struct ps_stripe h;
        return ps_stripe_head(req, &h);
    }
    case PROVIDER_SIG_SLACK:
        return ps_slack_head(req, got);
    case PROVIDER_SIG_SHOPIFY:
        return ps_shopify_head(req, got);
    case PROVIDER_SIG_PROVIDER_COUNT:
        break;
    }
    return PROVIDER_SIG_ERROR;
}

enum provider_sig_verdict provider_sig_verify(enum provider_sig_provider provider,
                                              const struct provider_sig_secret *secrets, size_t n,
                                              const struct provider_sig_request *req)
{
    switch (provider) {
    case PROVIDER_SIG_STANDARD:
        return provider_sig_standard(secrets, n, req);
    case PROVIDER_SIG_GITHUB:
        return provider_sig_github(secrets, n, req);
    case PROVIDER_SIG_STRIPE:
        return provider_sig_stripe(secrets, n, req);
    case PROVIDER_SIG_SLACK:
        return provider_sig_slack(secrets, n, req);
    case PROVIDER_SIG_SHOPIFY:
        return provider_sig_shopify(secrets, n, req);
    case PROVIDER_SIG_PROVIDER_COUNT:
        break;
    }
    return PROVIDER_SIG_ERROR;
}
