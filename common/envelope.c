/*
 * Envelope v1 and v2 encode/decode (format in envelope.h and docs/envelope.md). Pure logic:
 * no allocation, no I/O, so it is unit-tested and fuzzed directly.
 */
#include "envelope.h"

#include "name.h"
#include "text.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* "HPn source received_us delivery_id request_id " into out: its end, or NULL when invalid. */
static char *envelope_encode_common(char *out, const char *magic, const char *source,
                                    int64_t received_us, const char *delivery_id,
                                    const char *request_id, size_t request_id_len)
{
    size_t slen = strlen(source);
    size_t dlen = strlen(delivery_id);
    char *p = out;

    if (!name_valid(source, slen) || !name_valid(delivery_id, dlen) || received_us < 0)
        return NULL;
    memcpy(p, magic, 4);
    p += 4;
    memcpy(p, source, slen);
    p += slen;
    p += sprintf(p, " %" PRId64 " ", received_us);
    memcpy(p, delivery_id, dlen);
    p += dlen;
    *p++ = ' ';
    if (request_id == NULL || request_id_len == 0) {
        *p++ = '-';
    } else if (request_id_len == 1 && request_id[0] == '-') {
        memcpy(p, "%2D", 3); /* a lone '-' would read as "no request id" */
        p += 3;
    } else {
        if (request_id_len > ENVELOPE_REQUEST_ID_MAX)
            request_id_len = ENVELOPE_REQUEST_ID_MAX;
        p += percent_encode(request_id, request_id_len, p);
    }
    *p++ = ' ';
    return p;
}

int envelope_encode_header(char *out, const char *source, int64_t received_us,
                           const char *delivery_id, const char *request_id, size_t request_id_len,
                           size_t body_len)
{
    char *p = envelope_encode_common(out, "HP1 ", source, received_us, delivery_id, request_id,
                                     request_id_len);

    if (p == NULL)
        return -1;
    p += sprintf(p, "%zu\n", body_len);
    return (int)(p - out);
}

static bool envelope_provider_valid(const char *s, size_t n)
{
    if (n == 0 || n > ENVELOPE_PROVIDER_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 'a' || s[i] > 'z')
            return false;
    }
    return true;
}

static bool envelope_field_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static bool envelope_field_name_valid(const char *s, size_t n)
{
    if (n == 0 || n > ENVELOPE_FIELD_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!envelope_field_name_char(s[i]))
            return false;
    }
    return true;
}

int envelope_encode_header_v2(char *out, const char *source, int64_t received_us,
                              const char *delivery_id, const char *request_id,
                              size_t request_id_len, const char *provider,
                              const struct envelope_field *fields, size_t nfields, size_t body_len)
{
    size_t plen = strlen(provider), written = 0;
    char *p = envelope_encode_common(out, "HP2 ", source, received_us, delivery_id, request_id,
                                     request_id_len);

    if (p == NULL || !envelope_provider_valid(provider, plen) || nfields > ENVELOPE_FIELDS_N_MAX)
        return -1;
    memcpy(p, provider, plen);
    p += plen;
    *p++ = ' ';
    for (size_t i = 0; i < nfields; i++) {
        const struct envelope_field *f = &fields[i];
        size_t nlen = strlen(f->name);
        if (!envelope_field_name_valid(f->name, nlen) || f->value_len > ENVELOPE_FIELD_VALUE_MAX)
            return -1;
        if (f->value_len == 0)
            continue;
        if (written++ > 0)
            *p++ = '&';
        memcpy(p, f->name, nlen);
        p += nlen;
        *p++ = '=';
        for (size_t j = 0; j < f->value_len; j++) {
            unsigned char c = (unsigned char)f->value[j];
            if (c <= ' ' || c >= 0x7f || c == '%' || c == '&') {
                *p++ = '%';
                *p++ = hex_upper_digit(c >> 4);
                *p++ = hex_upper_digit(c & 15);
            } else {
                *p++ = (char)c;
            }
        }
    }
    if (written == 0)
        *p++ = '-';
    p += sprintf(p, " %zu\n", body_len);
    return (int)(p - out);
}

/*
 * Checks an HP2 fields token at [p, end) up to its ' ': "-" or name=value pairs of the
 * encoder's form. Its length, or -1.
 */
static long envelope_fields_span(const char *p, const char *end)
{
    const char *start = p;
    size_t nfields = 0;

    if (end - p >= 2 && p[0] == '-' && p[1] == ' ')
        return 1;
    while (p < end && *p != ' ') {
        const char *name = p;
        size_t vlen = 0;
        while (p < end && envelope_field_name_char(*p))
            p++;
        if (!envelope_field_name_valid(name, (size_t)(p - name)) || p >= end || *p != '=' ||
            ++nfields > ENVELOPE_FIELDS_N_MAX)
            return -1;
        p++;
        while (p < end && *p != '&' && *p != ' ') {
            unsigned char c = (unsigned char)*p;
            if (c < '!' || c > '~')
                return -1;
            if (c == '%') {
                if (percent_decode_one(p, (size_t)(end - p)) < 0)
                    return -1;
                p += 2;
            }
            p++;
            vlen++;
        }
        if (vlen == 0 || vlen > ENVELOPE_FIELD_VALUE_MAX)
            return -1;
        if (p < end && *p == '&')
            p++;
    }
    if (p >= end || p == start || p[-1] == '&')
        return -1;
    return (long)(p - start);
}

long envelope_field(const struct envelope *env, const char *name, char *out, size_t cap)
{
    const char *p = env->fields, *end = env->fields + env->fields_len;
    size_t nlen = strlen(name);

    while (p < end) {
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *amp;
        if (eq == NULL)
            return -1;
        amp = memchr(eq, '&', (size_t)(end - eq));
        if (amp == NULL)
            amp = end;
        if ((size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0)
            return percent_decode(eq + 1, (size_t)(amp - eq - 1), out, cap, 0);
        p = amp + 1;
    }
    return -1;
}

/* Parses a decimal number of at most 19 digits from [p, end) up to the byte stop. */
static const char *envelope_number(const char *p, const char *end, char stop, uint64_t *out)
{
    uint64_t v = 0;
    int digits = 0;

    while (p < end && *p >= '0' && *p <= '9') {
        if (++digits > 19)
            return NULL;
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
    }
    if (digits == 0 || p >= end || *p != stop)
        return NULL;
    *out = v;
    return p + 1;
}

int envelope_decode(const char *buf, size_t len, struct envelope *env, const char **why)
{
    const char *p = buf;
    const char *end = buf + len;
    const char *tok;
    uint64_t v;
    size_t n = 0;

    if (len < 4 || (memcmp(buf, "HP1 ", 4) != 0 && memcmp(buf, "HP2 ", 4) != 0)) {
        *why = len >= 2 && buf[0] == 'H' && buf[1] == 'P' ? "unsupported envelope version"
                                                          : "not an envelope";
        return -1;
    }
    env->version = buf[2] - '0';
    memcpy(env->provider, "zoom", 5);
    env->fields = "";
    env->fields_len = 0;
    p += 4;
    tok = p;
    p += name_span(p, (size_t)(end - p));
    if (p == tok || p - tok > NAME_MAX_LEN || p >= end || *p != ' ') {
        *why = "bad source in envelope";
        return -1;
    }
    memcpy(env->source, tok, (size_t)(p - tok));
    env->source[p - tok] = '\0';
    p = envelope_number(p + 1, end, ' ', &v);
    if (p == NULL || v > INT64_MAX) {
        *why = "bad receive time in envelope";
        return -1;
    }
    env->received_us = (int64_t)v;
    tok = p;
    p += name_span(p, (size_t)(end - p));
    if (p == tok || p - tok > ENVELOPE_ID_MAX || p >= end || *p != ' ') {
        *why = "bad delivery id in envelope";
        return -1;
    }
    memcpy(env->delivery_id, tok, (size_t)(p - tok));
    env->delivery_id[p - tok] = '\0';
    p++;
    if (p + 1 < end && p[0] == '-' && p[1] == ' ') {
        p += 2;
    } else {
        while (p < end && *p != ' ') {
            unsigned char c = (unsigned char)*p;
            if (n >= ENVELOPE_REQUEST_ID_MAX || c <= ' ' || c >= 0x7f) {
                *why = "bad request id in envelope";
                return -1;
            }
            if (c == '%') {
                int b = percent_decode_one(p, (size_t)(end - p));
                if (b < 0) {
                    *why = "bad request id in envelope";
                    return -1;
                }
                c = (unsigned char)b;
                p += 2;
            }
            env->request_id[n++] = (char)c;
            p++;
        }
        if (n == 0 || p >= end) {
            *why = "bad request id in envelope";
            return -1;
        }
        p++;
    }
    env->request_id[n] = '\0';
    env->request_id_len = n;
    if (env->version == 2) {
        long flen;
        tok = p;
        while (p < end && *p >= 'a' && *p <= 'z')
            p++;
        if (!envelope_provider_valid(tok, (size_t)(p - tok)) || p >= end || *p != ' ') {
            *why = "bad provider in envelope";
            return -1;
        }
        memcpy(env->provider, tok, (size_t)(p - tok));
        env->provider[p - tok] = '\0';
        p++;
        flen = envelope_fields_span(p, end);
        if (flen < 0) {
            *why = "bad header fields in envelope";
            return -1;
        }
        if (!(flen == 1 && p[0] == '-')) {
            env->fields = p;
            env->fields_len = (size_t)flen;
        }
        p += flen + 1;
    }
    p = envelope_number(p, end, '\n', &v);
    if (p == NULL) {
        *why = "bad body length in envelope";
        return -1;
    }
    if (v != (uint64_t)(end - p)) {
        *why = "envelope body length does not match";
        return -1;
    }
    env->body = p;
    env->body_len = (size_t)v;
    return 0;
}
