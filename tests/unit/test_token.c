/*
 * Unit tests for gateway/token.c: a minted token verifies for its source until it
 * expires, under the current or the previous key; forged, altered, truncated, extended,
 * other-source and expired tokens are each refused with their own verdict; a token expiring
 * further ahead than the TTL allowed now is refused as expired.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "token.h"

#define NOW 1700000000LL
#define TTL 3660 /* oauth_token_ttl_s 3600 and the skew verify.c allows */

int main(void)
{
    unsigned char k1[TOKEN_KEY_LEN], k2[TOKEN_KEY_LEN], k3[TOKEN_KEY_LEN];
    char tok[TOKEN_MAX + 1], other[TOKEN_MAX + 1], alt[TOKEN_MAX + 2];
    const unsigned char *both[2] = {k1, k2}, *cur[2] = {k1, NULL}, *old[2] = {k2, NULL};
    int n;

    CHECK(token_key_derive("secret-one", 10, k1) == 0);
    CHECK(token_key_derive("secret-two", 10, k2) == 0);
    CHECK(token_key_derive("secret-one", 9, k3) == 0);
    CHECK(memcmp(k1, k2, TOKEN_KEY_LEN) != 0 && memcmp(k1, k3, TOKEN_KEY_LEN) != 0);

    n = token_mint(k1, "acme", NOW + 3600, tok);
    CHECK(n > 0 && (size_t)n == strlen(tok) && n <= TOKEN_MAX);
    CHECK(strncmp(tok, "hp1.acme.1700003600.", 20) == 0);
    CHECK_LONG_EQ(strlen(tok) - 20, TOKEN_MAC_B64_LEN);
    CHECK(token_verify(cur, 2, "acme", tok, (size_t)n, NOW, TTL) == TOKEN_VALID);
    CHECK(token_verify(both, 2, "acme", tok, (size_t)n, NOW + 3599, TTL) == TOKEN_VALID);
    /* expiry: genuine but late */
    CHECK(token_verify(cur, 2, "acme", tok, (size_t)n, NOW + 3600, TTL) == TOKEN_EXPIRED);
    CHECK(token_verify(cur, 2, "acme", tok, (size_t)n, NOW + 99999, TTL) == TOKEN_EXPIRED);
    /* issued under a longer TTL than today's: refused as expired, until it is within it */
    CHECK(token_verify(cur, 2, "acme", tok, (size_t)n, NOW, 3599) == TOKEN_EXPIRED);
    CHECK(token_verify(cur, 2, "acme", tok, (size_t)n, NOW + 1, 3599) == TOKEN_VALID);
    CHECK(token_verify(cur, 2, "acme", tok, (size_t)n, NOW, 3600) == TOKEN_VALID);
    CHECK(token_verify(cur, 2, "acme", tok, (size_t)n, NOW - 100000, TTL) == TOKEN_EXPIRED);
    /* rotation: minted under k1, accepted while k1 is the previous key, refused after */
    const unsigned char *rotating[2] = {k2, k1};
    CHECK(token_verify(rotating, 2, "acme", tok, (size_t)n, NOW, TTL) == TOKEN_VALID);
    CHECK(token_verify(old, 2, "acme", tok, (size_t)n, NOW, TTL) == TOKEN_FORGED);
    CHECK(token_verify(old, 1, "acme", tok, (size_t)n, NOW, TTL) == TOKEN_FORGED);
    /* another source's token, even one signed with the same key */
    CHECK(token_mint(k1, "bravo", NOW + 3600, other) > 0);
    CHECK(token_verify(cur, 2, "acme", other, strlen(other), NOW, TTL) == TOKEN_OTHER_SOURCE);
    CHECK(token_verify(cur, 2, "acm", tok, (size_t)n, NOW, TTL) == TOKEN_OTHER_SOURCE);
    /* altered: each byte of the MAC, the expiry pushed later, the source renamed */
    for (int i = 0; i < n; i++) {
        enum token_verdict v;
        memcpy(alt, tok, (size_t)n + 1);
        alt[i] = alt[i] == 'A' ? 'B' : 'A';
        v = token_verify(cur, 2, "acme", alt, (size_t)n, NOW, TTL);
        CHECKF(v != TOKEN_VALID, "byte %d altered still valid", i);
    }
    memcpy(alt, tok, (size_t)n + 1);
    alt[9] = '9'; /* 1700003600 -> 1700093600 */
    CHECK(token_verify(cur, 2, "acme", alt, (size_t)n, NOW, TTL) == TOKEN_FORGED);
    /* a key that never minted it */
    CHECK(token_verify(old, 2, "acme", tok, (size_t)n, NOW, TTL) == TOKEN_FORGED);
    const unsigned char *none[2] = {NULL, NULL};
    CHECK(token_verify(none, 2, "acme", tok, (size_t)n, NOW, TTL) == TOKEN_FORGED);
    /* truncated or extended: malformed, never valid */
    for (int len = 0; len < n; len++)
        CHECKF(token_verify(cur, 2, "acme", tok, (size_t)len, NOW, TTL) != TOKEN_VALID, "len %d",
               len);
    CHECK(token_verify(cur, 2, "acme", tok, (size_t)n - 1, NOW, TTL) == TOKEN_MALFORMED);
    memcpy(alt, tok, (size_t)n);
    alt[n] = 'A';
    CHECK(token_verify(cur, 2, "acme", alt, (size_t)n + 1, NOW, TTL) == TOKEN_MALFORMED);
    CHECK(token_verify(cur, 2, "acme", "hp1.", 4, NOW, TTL) == TOKEN_MALFORMED);
    CHECK(token_verify(cur, 2, "acme", "hp2.acme.1.x", 12, NOW, TTL) == TOKEN_MALFORMED);
    CHECK(token_verify(cur, 2, "acme", "hp1.acme..AAAA", 14, NOW, TTL) == TOKEN_MALFORMED);
    CHECK(token_verify(cur, 2, "acme", "hp1.ac/me.1.AAAA", 16, NOW, TTL) == TOKEN_MALFORMED);
    /* a non-digit expiry */
    snprintf(alt, sizeof(alt), "hp1.acme.17x0003600.%s", tok + 20);
    CHECK(token_verify(cur, 2, "acme", alt, strlen(alt), NOW, TTL) == TOKEN_MALFORMED);
    /* bad source names are not minted */
    CHECK(token_mint(k1, "a.b", NOW, alt) < 0);
    CHECK(token_mint(k1, "", NOW, alt) < 0);
    return check_summary("test_token");
}
