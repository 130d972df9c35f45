/*
 * HMAC-SHA256 with OpenSSL 3's EVP_MAC. The context is keyed once in zoom_key_new();
 * EVP_MAC_init(ctx, NULL, 0, NULL) then restarts it with the same key, which is the
 * cheapest way to MAC many messages under one secret (no per-call key schedule).
 */
#include "zoom.h"

#include "text.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct zoom_key {
    EVP_MAC_CTX *ctx; /* keyed HMAC-SHA256 context */
};

static EVP_MAC *zoom_mac;
static pthread_once_t zoom_mac_once = PTHREAD_ONCE_INIT;

static void zoom_mac_fetch(void)
{
    zoom_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

struct zoom_key *zoom_key_new(const char *secret, size_t len)
{
    struct zoom_key *key;
    OSSL_PARAM params[2];

    pthread_once(&zoom_mac_once, zoom_mac_fetch);
    if (zoom_mac == NULL)
        return NULL;
    key = calloc(1, sizeof(*key));
    if (key == NULL)
        return NULL;
    key->ctx = EVP_MAC_CTX_new(zoom_mac);
    if (key->ctx == NULL)
        goto fail;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(key->ctx, (const unsigned char *)secret, len, params) != 1)
        goto fail;
    return key;
fail:
    zoom_key_free(key);
    return NULL;
}

void zoom_key_free(struct zoom_key *key)
{
    if (key == NULL)
        return;
    EVP_MAC_CTX_free(key->ctx);
    free(key);
}

struct iovec_part {
    const void *p;
    size_t len;
};

static int zoom_mac_parts(struct zoom_key *key, const struct iovec_part *parts, int n,
                          unsigned char mac[32])
{
    size_t outlen = 0;

    if (EVP_MAC_init(key->ctx, NULL, 0, NULL) != 1)
        return -1;
    for (int i = 0; i < n; i++) {
        if (parts[i].len > 0 && EVP_MAC_update(key->ctx, parts[i].p, parts[i].len) != 1)
            return -1;
    }
    if (EVP_MAC_final(key->ctx, mac, &outlen, 32) != 1 || outlen != 32)
        return -1;
    return 0;
}

int zoom_sign(struct zoom_key *key, const char *ts, size_t tslen, const char *body, size_t len,
              char out[ZOOM_HEX_LEN + 1])
{
    unsigned char mac[32];
    const struct iovec_part parts[] = {
        {"v0:", 3},
        {ts, tslen},
        {":", 1},
        {body, len},
    };

    if (zoom_mac_parts(key, parts, 4, mac) < 0)
        return -1;
    hex_encode(mac, 32, out);
    return 0;
}

bool zoom_verify(struct zoom_key *key, const char *ts, size_t tslen, const char *body, size_t len,
                 const char *header, size_t headerlen)
{
    char expect[ZOOM_HEX_LEN + 1];

    if (headerlen != 3 + ZOOM_HEX_LEN || memcmp(header, "v0=", 3) != 0)
        return false;
    if (zoom_sign(key, ts, tslen, body, len, expect) < 0)
        return false;
    /* Zoom sends lowercase hex; an uppercase copy would not match, as at Zoom. */
    return CRYPTO_memcmp(expect, header + 3, ZOOM_HEX_LEN) == 0;
}

int zoom_hmac_hex(struct zoom_key *key, const char *data, size_t len, char out[ZOOM_HEX_LEN + 1])
{
    unsigned char mac[32];
    const struct iovec_part parts[] = {{data, len}};

    if (zoom_mac_parts(key, parts, 1, mac) < 0)
        return -1;
    hex_encode(mac, 32, out);
    return 0;
}
