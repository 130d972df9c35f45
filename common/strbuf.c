/*
 * The growable buffer (see strbuf.h). Capacity doubles, from 4 KiB.
 */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int strbuf_reserve(struct strbuf *sb, size_t n)
{
    size_t need, ncap;
    char *d;

    if (sb->failed)
        return -1;
    if (n > ((size_t)-1) / 2 - sb->len) {
        sb->failed = true;
        return -1;
    }
    need = sb->len + n + 1;
    if (sb->data != NULL && need <= sb->cap)
        return 0;
    ncap = sb->cap ? sb->cap : 4096;
    while (ncap < need)
        ncap *= 2;
    d = realloc(sb->data, ncap);
    if (d == NULL) {
        sb->failed = true;
        return -1;
    }
    if (sb->data == NULL)
        d[0] = '\0';
    sb->data = d;
    sb->cap = ncap;
    return 0;
}

void strbuf_append(struct strbuf *sb, const char *s, size_t len)
{
    if (strbuf_reserve(sb, len) < 0)
        return;
    memcpy(sb->data + sb->len, s, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

void strbuf_append_copy(struct strbuf *sb, size_t off, size_t len)
{
    if (off > sb->len || len > sb->len - off || strbuf_reserve(sb, len) < 0)
        return; /* reserve may move data: the offset stays valid, a pointer would not */
    memcpy(sb->data + sb->len, sb->data + off, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    int n = 0;

    /* the first pass formats into what is free; a second one, after growing, fits */
    for (int pass = 0; pass < 2; pass++) {
        if (strbuf_reserve(sb, (size_t)n) < 0)
            return;
        va_start(ap, fmt);
        n = vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            sb->failed = true;
            return;
        }
        if ((size_t)n < sb->cap - sb->len) {
            sb->len += (size_t)n;
            return;
        }
    }
    sb->failed = true; /* not reached: the second pass had room for n bytes */
}

void strbuf_reset(struct strbuf *sb)
{
    sb->len = 0;
    sb->failed = false;
    if (sb->data != NULL)
        sb->data[0] = '\0';
}

void strbuf_free(struct strbuf *sb)
{
    free(sb->data);
    memset(sb, 0, sizeof(*sb));
}
