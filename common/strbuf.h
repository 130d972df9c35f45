/*
 * A growable byte buffer: Prometheus text, COPY data, anything appended piece by
 * piece. An allocation failure is remembered (failed) instead of reported at every
 * append, so a caller checks once, at the end.
 */
#ifndef HOOKPIPE_STRBUF_H
#define HOOKPIPE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
    char *data;  /* bytes, always NUL-terminated once non-NULL; NULL until the first append */
    size_t len;  /* bytes used, excluding the NUL */
    size_t cap;  /* bytes allocated */
    bool failed; /* an allocation failed; the contents are incomplete */
};

/* Makes room for n more bytes (and the NUL). 0, or -1 (and failed set) when out of memory. */
int strbuf_reserve(struct strbuf *sb, size_t n) __attribute__((warn_unused_result));
void strbuf_append(struct strbuf *sb, const char *s, size_t len);
/* Appends a copy of the len bytes already in sb at offset off (nothing if out of range). */
void strbuf_append_copy(struct strbuf *sb, size_t off, size_t len);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Empties the buffer, keeping its memory, and clears failed. */
void strbuf_reset(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);

#endif
