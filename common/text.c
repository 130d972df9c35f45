/*
 * Hex and percent encodings (see text.h).
 */
#include "text.h"

void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * n] = '\0';
}

char hex_upper_digit(unsigned v)
{
    return "0123456789ABCDEF"[v & 0xf];
}

int percent_decode_one(const char *s, size_t n)
{
    int hi = n >= 3 ? hex_value(s[1]) : -1;
    int lo = n >= 3 ? hex_value(s[2]) : -1;

    if (hi < 0 || lo < 0)
        return -1;
    return hi << 4 | lo;
}

long percent_decode(const char *s, size_t n, char *out, size_t outcap, int nul_ok)
{
    size_t j = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            c = percent_decode_one(s + i, n - i);
            if (c < 0 || (c == 0 && !nul_ok))
                return -1;
            i += 2;
        }
        if (j + 1 >= outcap)
            return -1;
        out[j++] = (char)c;
    }
    if (outcap == 0)
        return -1;
    out[j] = '\0';
    return (long)j;
}

size_t percent_encode(const char *s, size_t n, char *out)
{
    size_t j = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c > ' ' && c < 0x7f && c != '%') {
            out[j++] = (char)c;
        } else {
            out[j++] = '%';
            out[j++] = hex_upper_digit(c >> 4);
            out[j++] = hex_upper_digit(c);
        }
    }
    out[j] = '\0';
    return j;
}
