/*
 * Gap item encode/decode (format in gap.h and docs/envelope.md). Pure logic: no allocation,
 * no I/O, so it is unit-tested and fuzzed directly (tests/fuzz/fuzz_gap.c).
 */
#include "gap.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

bool gap_is_item(const char *item, size_t len)
{
    return len >= 5 && memcmp(item, GAP_MAGIC, 5) == 0;
}

static bool gap_reason_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || c == '_';
}

static bool gap_holder_char(unsigned char c)
{
    return name_char(c) || c == '.' || c == ':';
}

bool gap_reason_valid(const char *s, size_t len)
{
    if (len == 0 || len > GAP_REASON_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!gap_reason_char((unsigned char)s[i]))
            return false;
    }
    return true;
}

bool gap_holder_valid(const char *s, size_t len)
{
    if (len == 0 || len > GAP_HOLDER_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!gap_holder_char((unsigned char)s[i]))
            return false;
    }
    return true;
}

int gap_encode(char *out, const struct gap *g)
{
    size_t slen = strnlen(g->source, sizeof(g->source));
    size_t rlen = strnlen(g->reason, sizeof(g->reason));
    size_t hlen = strnlen(g->holder, sizeof(g->holder));
    int n;

    if (!name_valid(g->source, slen) || !gap_reason_valid(g->reason, rlen) ||
        !gap_holder_valid(g->holder, hlen) || g->started_us < 0 || g->started_us >= g->ended_us)
        return -1;
    n = snprintf(out, GAP_ITEM_MAX + 1, GAP_MAGIC "%s %" PRId64 " %" PRId64 " %s %s\n", g->source,
                 g->started_us, g->ended_us, g->reason, g->holder);
    return n > 0 && n <= GAP_ITEM_MAX ? n : -1;
}

/*
 * The field at *p up to the byte stop: its span of bytes for which ok() holds, 1 to max of
 * them, followed by stop. Copies it NUL-terminated into out and moves *p past stop.
 */
static bool gap_field(const char **p, const char *end, bool (*ok)(unsigned char), size_t max,
                      char stop, char *out)
{
    const char *q = *p;

    while (q < end && (size_t)(q - *p) <= max && ok((unsigned char)*q))
        q++;
    if (q == *p || (size_t)(q - *p) > max || q >= end || *q != stop)
        return false;
    memcpy(out, *p, (size_t)(q - *p));
    out[q - *p] = '\0';
    *p = q + 1;
    return true;
}

static bool gap_name_char(unsigned char c)
{
    return name_char(c);
}

/* A decimal of 1 to 19 digits, no leading zero (one form per value), <= INT64_MAX, then ' '. */
static bool gap_number(const char **p, const char *end, int64_t *out)
{
    const char *q = *p;
    uint64_t v = 0;

    while (q < end && *q >= '0' && *q <= '9') {
        if (q - *p >= 19)
            return false;
        v = v * 10 + (uint64_t)(*q - '0');
        q++;
    }
    if (q == *p || (q - *p > 1 && **p == '0') || q >= end || *q != ' ' || v > INT64_MAX)
        return false;
    *out = (int64_t)v;
    *p = q + 1;
    return true;
}

int gap_decode(const char *buf, size_t len, struct gap *g, const char **why)
{
    const char *end = buf + len;
    const char *p;

    if (!gap_is_item(buf, len)) {
        *why = "not a gap item";
        return -1;
    }
    p = buf + 5;
    if (!gap_field(&p, end, gap_name_char, NAME_MAX_LEN, ' ', g->source)) {
        *why = "bad source in gap item";
        return -1;
    }
    if (!gap_number(&p, end, &g->started_us)) {
        *why = "bad start time in gap item";
        return -1;
    }
    if (!gap_number(&p, end, &g->ended_us)) {
        *why = "bad end time in gap item";
        return -1;
    }
    if (g->started_us >= g->ended_us) {
        *why = "gap item ends before it starts";
        return -1;
    }
    if (!gap_field(&p, end, gap_reason_char, GAP_REASON_MAX, ' ', g->reason)) {
        *why = "bad reason in gap item";
        return -1;
    }
    if (!gap_field(&p, end, gap_holder_char, GAP_HOLDER_MAX, '\n', g->holder)) {
        *why = "bad holder in gap item";
        return -1;
    }
    if (p != end) {
        *why = "bytes after the gap item's line";
        return -1;
    }
    return 0;
}
