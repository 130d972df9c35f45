/*
 * The Authorization request header (RFC 9110 11.6.2): its scheme (Basic, Bearer, or
 * anything else, compared case-insensitively) and credentials, and the user:password
 * pair of a Basic credential (RFC 7617). Pure, no allocation; unit-tested in
 * tests/unit/test_authz.c and fuzzed by tests/fuzz/fuzz_authz.c.
 */
#ifndef HOOKPIPE_AUTHZ_H
#define HOOKPIPE_AUTHZ_H

#include <stddef.h>

enum authz_scheme {
    AUTHZ_NONE,   /* no header (or an empty one) */
    AUTHZ_BASIC,  /* "Basic" SP token68 */
    AUTHZ_BEARER, /* "Bearer" SP token68 */
    AUTHZ_OTHER,  /* any other shape, e.g. a bare legacy verification token */
};

struct authz {
    enum authz_scheme scheme;
    const char *cred; /* BASIC/BEARER: the token68 after the scheme (points into the value) */
    size_t cred_len;
};

/* Splits value[0..len) (already trimmed of outer whitespace by the head parser). */
void authz_parse(const char *value, size_t len, struct authz *out);

#define AUTHZ_BASIC_MAX 384 /* decoded user:password bytes kept; longer ones are refused */

/*
 * Decodes a Basic credential into out (AUTHZ_BASIC_MAX bytes, not NUL-terminated):
 * user is out[0..*user_len), the password out[*user_len + 1 .. *out_len). Returns 0, or
 * -1 when it is not base64, too long, or has no ':'.
 */
int authz_basic_decode(const struct authz *a, char out[AUTHZ_BASIC_MAX], size_t *out_len,
                       size_t *user_len) __attribute__((warn_unused_result));

#endif
