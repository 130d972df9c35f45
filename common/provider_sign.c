/*
 * The providers' signature schemes from the sender's side (see provider_sign.h): one
 * HMAC-SHA256 over the scheme's message, then the header lines. Each scheme's message and
 * header form is the one its verifier in gateway/provider_sig.c (or common/zoom.c) checks,
 * with the documents cited there; tests/unit/test_provider_sign.c holds the two together.
 */
#include "provider_sign.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "provider_sig.h"
#include "text.h"

#define PSN_MAC_LEN 32 /* HMAC-SHA256 */

/* HMAC-SHA256 under key of the concatenated parts into out. 0, or -1 when OpenSSL fails. */
static int psn_hmac(const struct provider_sign_key *key, const struct provider_sig_part *parts,
                    size_t nparts, unsigned char out[PSN_MAC_LEN])
{
    return provider_sig_hmac(key->k, key->len, parts, nparts, out);
}

static bool psn_prefix(const char *s, size_t n, const char *prefix)
{
    size_t p = strlen(prefix);
    return n >= p && memcmp(s, prefix, p) == 0;
}

/* A standard secret: "whsec_" (optional) + base64, its padding optional. 0 or -1. */
static int psn_key_standard(struct provider_sign_key *key, const char *s, size_t n,
                            const char **why)
{
    char tmp[PROVIDER_SIGN_KEY_MAX + 3];
    size_t m;
    long len;

    if (psn_prefix(s, n, "whpk_")) {
        *why = "a whpk_ public key verifies (v1a) but cannot sign: give the target's whsec_ "
               "secret";
        return -1;
    }
    if (psn_prefix(s, n, "whsk_")) {
        *why = "a whsk_ private key (v1a) is not supported for signing: give the target's whsec_ "
               "secret";
        return -1;
    }
    if (psn_prefix(s, n, "whsec_")) {
        s += 6;
        n -= 6;
    }
    memcpy(tmp, s, n);
    for (m = n; m % 4 != 0;)
        tmp[m++] = '=';
    len = n == 0 ? -1 : base64_decode(tmp, m, key->k, sizeof(key->k), false);
    OPENSSL_cleanse(tmp, sizeof(tmp));
    if (len <= 0) {
        *why = "a standard secret is whsec_ followed by base64";
        return -1;
    }
    key->len = (size_t)len;
    return 0;
}

int provider_sign_key_init(struct provider_sign_key *key, enum provider_id provider,
                           const char *secret, size_t len, const char **why)
{
    memset(key, 0, sizeof(*key));
    key->provider = provider;
    if ((unsigned)provider >= PROVIDER_COUNT) {
        *why = "unknown provider";
        return -1;
    }
    if (secret == NULL || len == 0) {
        *why = "the secret is empty";
        return -1;
    }
    if (len > PROVIDER_SIGN_KEY_MAX) {
        *why = "the secret is longer than 512 characters";
        return -1;
    }
    if (provider == PROVIDER_STANDARD)
        return psn_key_standard(key, secret, len, why);
    memcpy(key->k, secret, len); /* the text is the key (Stripe: the whole whsec_ string) */
    key->len = len;
    return 0;
}

void provider_sign_key_wipe(struct provider_sign_key *key)
{
    OPENSSL_cleanse(key, sizeof(*key));
}

/* Appends the line "name: value" to out. */
static void psn_line(struct provider_sign_headers *out, const char *name, const char *value)
{
    snprintf(out->line[out->n++], PROVIDER_SIGN_LINE_MAX, "%s: %s", name, value);
}

/* A standard webhook-id that can go in a header: 1..PROVIDER_SIGN_ID_MAX visible bytes. */
static bool psn_id_ok(const char *id, size_t n)
{
    if (id == NULL || n == 0 || n > PROVIDER_SIGN_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

int provider_sign(const struct provider_sign_key *key, const char *id, size_t id_len, long long now,
                  const char *body, size_t len, struct provider_sign_headers *out, const char **why)
{
    unsigned char mac[PSN_MAC_LEN];
    char ts[24], enc[2 * PSN_MAC_LEN + 1], val[PROVIDER_SIGN_LINE_MAX];
    char idtxt[PROVIDER_SIGN_ID_MAX + 1];
    size_t tslen;
    int rc = -1;

    out->n = 0;
    tslen = (size_t)snprintf(ts, sizeof(ts), "%lld", now);
    *why = "cannot compute the HMAC (OpenSSL failed)";
    switch (key->provider) {
    case PROVIDER_ZOOM:
    case PROVIDER_SLACK: {
        /* both sign "v0:TS:body" and send "v0=" + hex; only the header names differ */
        const struct provider_sig_part parts[] = {{"v0:", 3}, {ts, tslen}, {":", 1}, {body, len}};
        bool zoom = key->provider == PROVIDER_ZOOM;
        if (psn_hmac(key, parts, 4, mac) < 0)
            goto done;
        hex_encode(mac, PSN_MAC_LEN, enc);
        snprintf(val, sizeof(val), "v0=%s", enc);
        psn_line(out, zoom ? "x-zm-request-timestamp" : "X-Slack-Request-Timestamp", ts);
        psn_line(out, zoom ? "x-zm-signature" : "X-Slack-Signature", val);
        break;
    }
    case PROVIDER_STANDARD: {
        const struct provider_sig_part parts[] = {
            {id, id_len}, {".", 1}, {ts, tslen}, {".", 1}, {body, len}};
        char b64[BASE64_LEN(PSN_MAC_LEN) + 1];
        if (!psn_id_ok(id, id_len)) {
            *why = id == NULL || id_len == 0 ? "no webhook-id to sign (standard signs the "
                                               "delivery's own id)"
                                             : "the webhook-id is too long or not printable";
            goto done;
        }
        if (psn_hmac(key, parts, 5, mac) < 0)
            goto done;
        base64_encode(mac, PSN_MAC_LEN, b64, false);
        memcpy(idtxt, id, id_len);
        idtxt[id_len] = '\0';
        snprintf(val, sizeof(val), "v1,%s", b64);
        psn_line(out, "webhook-id", idtxt);
        psn_line(out, "webhook-timestamp", ts);
        psn_line(out, "webhook-signature", val);
        break;
    }
    case PROVIDER_GITHUB:
    case PROVIDER_SHOPIFY: {
        const struct provider_sig_part parts[] = {{body, len}};
        if (psn_hmac(key, parts, 1, mac) < 0)
            goto done;
        if (key->provider == PROVIDER_GITHUB) {
            hex_encode(mac, PSN_MAC_LEN, enc);
            snprintf(val, sizeof(val), "sha256=%s", enc);
            psn_line(out, "X-Hub-Signature-256", val);
        } else {
            char b64[BASE64_LEN(PSN_MAC_LEN) + 1];
            base64_encode(mac, PSN_MAC_LEN, b64, false);
            psn_line(out, "X-Shopify-Hmac-Sha256", b64);
        }
        break;
    }
    case PROVIDER_STRIPE: {
        const struct provider_sig_part parts[] = {{ts, tslen}, {".", 1}, {body, len}};
        if (psn_hmac(key, parts, 3, mac) < 0)
            goto done;
        hex_encode(mac, PSN_MAC_LEN, enc);
        snprintf(val, sizeof(val), "t=%s,v1=%s", ts, enc);
        psn_line(out, "Stripe-Signature", val);
        break;
    }
    case PROVIDER_COUNT:
        *why = "unknown provider";
        goto done;
    }
    *why = NULL;
    rc = 0;
done:
    OPENSSL_cleanse(mac, sizeof(mac));
    return rc;
}

bool provider_sign_sets(const struct provider_sign_headers *h, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < h->n; i++) {
        if (strncasecmp(h->line[i], name, n) == 0 && h->line[i][n] == ':')
            return true;
    }
    return false;
}
