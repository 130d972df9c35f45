/*
 * Bearer token minting and checking (see token.h). The MAC is checked before the expiry
 * so that "expired" is only ever said of a token this gateway really issued.
 */
#include "token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base64.h"

#define TOKEN_PREFIX "hp1."
#define TOKEN_PREFIX_LEN 4
#define TOKEN_EXPIRES_DIGITS_MAX 12

static const char token_key_label[] = "hookpipe bearer token v1";

int token_key_derive(const char *secret, size_t len, unsigned char key[TOKEN_KEY_LEN])
{
    unsigned int n = 0;

    if (HMAC(EVP_sha256(), secret, (int)len, (const unsigned char *)token_key_label,
             sizeof(token_key_label) - 1, key, &n) == NULL ||
        n != TOKEN_KEY_LEN)
        return -1;
    return 0;
}

static int token_mac(const unsigned char key[TOKEN_KEY_LEN], const char *msg, size_t len,
                     unsigned char mac[TOKEN_KEY_LEN])
{
    unsigned int n = 0;

    if (HMAC(EVP_sha256(), key, TOKEN_KEY_LEN, (const unsigned char *)msg, len, mac, &n) == NULL ||
        n != TOKEN_KEY_LEN)
        return -1;
    return 0;
}

int token_mint(const unsigned char key[TOKEN_KEY_LEN], const char *source, long long expires,
               char out[TOKEN_MAX + 1])
{
    unsigned char mac[TOKEN_KEY_LEN];
    size_t slen = strlen(source);
    int n;

    if (!name_valid(source, slen) || expires < 0)
        return -1;
    n = snprintf(out, TOKEN_MAX + 1, TOKEN_PREFIX "%s.%lld", source, expires);
    if (n < 0 || (size_t)n + 1 + TOKEN_MAC_B64_LEN > TOKEN_MAX)
        return -1;
    if (token_mac(key, out, (size_t)n, mac) < 0)
        return -1;
    out[n++] = '.';
    n += (int)base64_encode(mac, sizeof(mac), out + n, true);
    OPENSSL_cleanse(mac, sizeof(mac));
    return n;
}

enum token_verdict token_verify(const unsigned char *const keys[], size_t nkeys, const char *source,
                                const char *tok, size_t len, time_t now, long max_ahead_s)
{
    unsigned char want[TOKEN_KEY_LEN], got[TOKEN_KEY_LEN + 2];
    const char *name, *dot1, *dot2;
    size_t signed_len;
    long long expires = 0;
    bool genuine = false;

    if (len <= TOKEN_PREFIX_LEN || len > TOKEN_MAX || memcmp(tok, TOKEN_PREFIX, TOKEN_PREFIX_LEN))
        return TOKEN_MALFORMED;
    name = tok + TOKEN_PREFIX_LEN;
    dot1 = memchr(name, '.', len - TOKEN_PREFIX_LEN);
    if (dot1 == NULL || !name_valid(name, (size_t)(dot1 - name)))
        return TOKEN_MALFORMED;
    dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - tok));
    if (dot2 == NULL || dot2 == dot1 + 1 || dot2 - dot1 - 1 > TOKEN_EXPIRES_DIGITS_MAX)
        return TOKEN_MALFORMED;
    for (const char *p = dot1 + 1; p < dot2; p++) {
        if (*p < '0' || *p > '9')
            return TOKEN_MALFORMED;
        expires = expires * 10 + (*p - '0');
    }
    signed_len = (size_t)(dot2 - tok);
    if (len - signed_len - 1 != TOKEN_MAC_B64_LEN ||
        base64_decode(dot2 + 1, TOKEN_MAC_B64_LEN, got, sizeof(got), true) != TOKEN_KEY_LEN)
        return TOKEN_MALFORMED;
    if (strlen(source) != (size_t)(dot1 - name) || memcmp(source, name, (size_t)(dot1 - name)))
        return TOKEN_OTHER_SOURCE;
    for (size_t i = 0; i < nkeys; i++) {
        if (keys[i] == NULL || token_mac(keys[i], tok, signed_len, want) < 0)
            continue;
        if (CRYPTO_memcmp(want, got, TOKEN_KEY_LEN) == 0)
            genuine = true;
    }
    OPENSSL_cleanse(want, sizeof(want));
    if (!genuine)
        return TOKEN_FORGED;
    if (expires <= (long long)now || expires - (long long)now > max_ahead_s)
        return TOKEN_EXPIRED;
    return TOKEN_VALID;
}
