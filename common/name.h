/*
 * The one name rule: source names, writer names and delivery ids are 1 to
 * NAME_MAX_LEN letters, digits, '_' or '-', so they are safe in URLs, Redis keys,
 * envelopes and log lines without escaping.
 */
#ifndef HOOKPIPE_NAME_H
#define HOOKPIPE_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define NAME_MAX_LEN 64

/* True for a byte a name may contain. */
bool name_char(unsigned char c);

/* True when s[0..len) is a valid name. */
bool name_valid(const char *s, size_t len);

/* The span of name characters at the start of s[0..len) (may exceed NAME_MAX_LEN). */
size_t name_span(const char *s, size_t len);

#endif
