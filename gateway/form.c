/* Form decoding (see form.h). Names are compared after decoding, as the format defines. */
#include "form.h"

#include <string.h>

#include "text.h"

#define FORM_NAME_MAX 64 /* longer names cannot be one of ours: skipped undecoded */

/* Decodes s[0..n) ('+' is a space) into out (cap bytes, NUL added). Length, or -1. */
static long form_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            c = percent_decode_one(s + i, n - i);
            if (c < 0)
                return -1;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == 0 || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (long)o;
}

/* Whether every '%' in s[0..n) starts a well-formed escape. */
static bool form_escapes_ok(const char *s, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (s[k] == '%' && percent_decode_one(s + k, n - k) < 0)
            return false;
    }
    return true;
}

int form_parse(const char *s, size_t len, struct form_field *fields, size_t nfields)
{
    size_t i = 0;

    while (i < len) {
        const char *pair = s + i;
        const char *amp = memchr(pair, '&', len - i);
        size_t plen = amp != NULL ? (size_t)(amp - pair) : len - i;
        const char *eq = memchr(pair, '=', plen);
        size_t nlen = eq != NULL ? (size_t)(eq - pair) : plen;
        const char *val = eq != NULL ? eq + 1 : pair + plen;
        size_t vlen = plen - nlen - (eq != NULL);
        char name[FORM_NAME_MAX + 1];
        struct form_field *f = NULL;

        i += plen + (amp != NULL);
        if (plen == 0)
            continue; /* "a=1&&b=2" */
        if (!form_escapes_ok(pair, plen))
            return -1;
        /* a name that does not decode within FORM_NAME_MAX bytes is not one of ours */
        if (form_decode(pair, nlen, name, sizeof(name)) < 0)
            continue;
        for (size_t k = 0; k < nfields && f == NULL; k++) {
            if (strcmp(fields[k].name, name) == 0)
                f = &fields[k];
        }
        if (f == NULL)
            continue;
        if (f->seen)
            return -1; /* a repeated parameter */
        long n = form_decode(val, vlen, f->out, f->cap);
        if (n < 0)
            return -1;
        f->len = (size_t)n;
        f->seen = true;
    }
    return 0;
}
