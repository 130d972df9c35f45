/*
 * application/x-www-form-urlencoded (the OAuth token request's body and query string):
 * name=value pairs separated by '&', '+' for space and %XX escapes. The caller names the
 * parameters it wants; their decoded values land in its buffers. Pure, no allocation;
 * unit-tested in tests/unit/test_form.c and fuzzed by tests/fuzz/fuzz_form.c.
 */
#ifndef HOOKPIPE_FORM_H
#define HOOKPIPE_FORM_H

#include <stdbool.h>
#include <stddef.h>

struct form_field {
    const char *name; /* parameter wanted */
    char *out;        /* its decoded value, NUL-terminated */
    size_t cap;       /* bytes of out */
    size_t len;       /* decoded length */
    bool seen;        /* present (in this or an earlier form_parse call) */
};

/*
 * Parses s[0..len) and fills the fields named in it; other parameters are ignored.
 * Call it again with the same fields for a second source (query, then body): a
 * parameter present twice, in one source or across them, is an error (RFC 6749 3.2).
 * Returns 0, or -1 for a bad escape, a NUL, a value longer than its cap, or a repeat.
 */
int form_parse(const char *s, size_t len, struct form_field *fields, size_t nfields)
    __attribute__((warn_unused_result));

#endif
