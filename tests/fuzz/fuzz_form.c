/*
 * libFuzzer target for the form-body parser (gateway/form.h) the token endpoint runs on
 * request bytes, and the token check (gateway/token.h) on what it decodes: any bytes as
 * a body. Decoded values must fit their buffers and be NUL-terminated at their length;
 * no fuzzed client_secret-shaped token may verify.
 */
#include "form.h"
#include "token.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char key[TOKEN_KEY_LEN] = {1, 2, 3};
    const unsigned char *keys[2] = {key, NULL};
    char *buf = malloc(size ? size : 1);
    char grant[32], id[257], secret[257];
    struct form_field f[] = {
        {"grant_type", grant, sizeof(grant), 0, false},
        {"client_id", id, sizeof(id), 0, false},
        {"client_secret", secret, sizeof(secret), 0, false},
    };

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    if (form_parse(buf, size, f, 3) == 0) {
        for (size_t i = 0; i < 3; i++) {
            if (f[i].seen && (f[i].len >= f[i].cap || f[i].out[f[i].len] != '\0' ||
                              strlen(f[i].out) != f[i].len))
                __builtin_trap();
        }
        if (f[2].seen && token_verify(keys, 2, "acme", secret, f[2].len, 0, 3600) == TOKEN_VALID)
            __builtin_trap(); /* a forgery */
    }
    free(buf);
    return 0;
}
