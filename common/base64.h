/*
 * Base64 (RFC 4648): the standard alphabet with padding for HTTP Basic credentials, and
 * the URL-safe alphabet without padding for bearer tokens. Pure, no allocation; the
 * decoder is strict (no whitespace, no stray characters) and is fuzzed with its callers.
 */
#ifndef HOOKPIPE_BASE64_H
#define HOOKPIPE_BASE64_H

#include <stdbool.h>
#include <stddef.h>

/* Encoded length of n bytes: padded standard, or unpadded URL-safe. */
#define BASE64_LEN(n) ((((n) + 2) / 3) * 4)
#define BASE64URL_LEN(n) (((n)*4 + 2) / 3)

/* Writes the encoding of in[0..n) and a NUL to out (BASE64[URL]_LEN(n) + 1 bytes). */
size_t base64_encode(const unsigned char *in, size_t n, char *out, bool url);

/*
 * Decodes s[0..n) into out (cap bytes). url selects the URL-safe alphabet (padding then
 * optional); the standard one wants its padding. Returns the decoded length, or -1 for
 * malformed input or no room.
 */
long base64_decode(const char *s, size_t n, unsigned char *out, size_t cap, bool url)
    __attribute__((warn_unused_result));

#endif
