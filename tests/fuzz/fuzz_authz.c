/*
 * libFuzzer target for the Authorization header parser (gateway/authz.h) and the base64
 * decoder under it (common/base64.h): any bytes as the header value. A Basic credential
 * that decodes must lie within the output and split at a ':'; a re-encoding of what was
 * decoded must decode back to the same bytes.
 */
#include "authz.h"
#include "base64.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1); /* exact size: overreads are caught */
    char out[AUTHZ_BASIC_MAX];
    char enc[BASE64_LEN(AUTHZ_BASIC_MAX) + 1];
    unsigned char back[AUTHZ_BASIC_MAX];
    size_t n = 0, user = 0;
    struct authz a;

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    authz_parse(buf, size, &a);
    if (a.scheme == AUTHZ_BASIC || a.scheme == AUTHZ_BEARER) {
        if (a.cred < buf || a.cred_len == 0 || a.cred + a.cred_len != buf + size)
            __builtin_trap();
    }
    if (authz_basic_decode(&a, out, &n, &user) == 0) {
        if (n > AUTHZ_BASIC_MAX || user >= n || out[user] != ':')
            __builtin_trap();
        base64_encode((const unsigned char *)out, n, enc, false);
        if (base64_decode(enc, strlen(enc), back, sizeof(back), false) != (long)n ||
            memcmp(back, out, n) != 0)
            __builtin_trap();
    }
    /* the URL-safe alphabet as bearer tokens use it */
    long m = base64_decode(buf, size, back, sizeof(back), true);
    if (m > (long)sizeof(back))
        __builtin_trap();
    free(buf);
    return 0;
}
