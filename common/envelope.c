/*
 * Envelope v1 encode/decode (format in envelope.h and docs/envelope.md). Pure logic:
 * no allocation, no I/O, so it is unit-tested and fuzzed directly.
 */
#include "envelope.h"

#include "name.h"
#include "text.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int envelope_encode_header(char *out, const char *source, int64_t received_us,
                           const char *delivery_id, const char *request_id, size_t request_id_len,
                           size_t body_len)
{
    size_t slen = strlen(source);
    size_t dlen = strlen(delivery_id);
    char *p = out;

    if (!name_valid(source, slen) || !name_valid(delivery_id, dlen) || received_us < 0)
        return -1;
    memcpy(p, "HP1 ", 4);
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
    p += sprintf(p, " %zu\n", body_len);
    return (int)(p - out);
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

    if (len < 4 || memcmp(buf, "HP1 ", 4) != 0) {
        *why = len >= 2 && buf[0] == 'H' && buf[1] == 'P' ? "unsupported envelope version"
                                                          : "not an envelope";
        return -1;
    }
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
