/*
 * libFuzzer target for gateway/zoom_token.c's zoom_token_parse (the token endpoint's answer,
 * bytes from the network), with the first byte choosing the HTTP status. Besides memory
 * safety: success gives a printable, non-empty token and an expires_in within 1..86400; a
 * refusal gives a one-line, NUL-terminated why that never holds the token of the answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zoom_token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 400, 401, 429, 500};
    char why[512];
    char *token = NULL;
    long ttl = 0;
    long status;

    if (size == 0)
        return 0;
    status = statuses[data[0] % 5];
    if (zoom_token_parse(status, (const char *)data + 1, size - 1, &token, &ttl, why,
                         sizeof(why)) == 0) {
        size_t n = token != NULL ? strlen(token) : 0;
        if (n == 0 || ttl < 1 || ttl > 86400 || status != 200)
            __builtin_trap();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)token[i] <= ' ' || (unsigned char)token[i] >= 0x7f)
                __builtin_trap();
        free(token);
    } else if (memchr(why, '\0', sizeof(why)) == NULL || strchr(why, '\n') != NULL ||
               token != NULL) {
        __builtin_trap();
    }
    return 0;
}
