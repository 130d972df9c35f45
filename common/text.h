/*
 * Small text encodings shared by the parsers and encoders: hex digits (signatures,
 * keys, %XX and \uXXXX escapes) and percent-decoding (URL passwords, envelope
 * request ids). Pure functions, no allocation.
 */
#ifndef HOOKPIPE_TEXT_H
#define HOOKPIPE_TEXT_H

#include <stddef.h>

/* The value of hex digit c (either case), or -1. Inline: the JSON and URL scanners call it per
 * byte. */
static inline int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Writes 2 * n lower-case hex digits of in[0..n) to out, then a NUL (out holds 2n + 1). */
void hex_encode(const unsigned char *in, size_t n, char *out);

/* Upper-case hex digit of the low 4 bits of v (for %XX escapes). */
char hex_upper_digit(unsigned v);

/*
 * Decodes one %XX escape at s[0..n) (s[0] == '%'). Returns the byte (0..255), or -1 when
 * the two hex digits are not there.
 */
int percent_decode_one(const char *s, size_t n);

/*
 * Decodes s[0..n), turning each %XX into its byte, into out (outcap bytes, NUL-terminated).
 * Returns the decoded length, or -1 for a bad escape, a %00 when nul_ok is 0, or no room.
 */
long percent_decode(const char *s, size_t n, char *out, size_t outcap, int nul_ok);

/*
 * Writes s[0..n) to out with every byte outside '!'..'~', and '%' itself, as %XX
 * (upper-case), then a NUL; out holds 3n + 1 bytes. Returns the length written.
 */
size_t percent_encode(const char *s, size_t n, char *out);

#endif
