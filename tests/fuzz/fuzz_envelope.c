/*
 * libFuzzer target for envelope_decode(), the parser of every byte string a writer pops
 * from Redis. Beyond not crashing: whatever decodes must re-encode and decode again to
 * the same fields (the encoder and decoder agree on the format).
 */
#include "envelope.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy so any read past the end is caught by ASan */
    char *buf = malloc(size ? size : 1);
    struct envelope a, b;
    const char *why = NULL;
    char *again;
    int n;

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    if (envelope_decode(buf, size, &a, &why) != 0) {
        if (why == NULL)
            __builtin_trap(); /* a rejection always says why */
        free(buf);
        return 0;
    }
    if (a.body < buf || a.body + a.body_len != buf + size)
        __builtin_trap();
    again = malloc(ENVELOPE_HEADER_MAX + a.body_len + 1);
    if (again == NULL) {
        free(buf);
        return 0;
    }
    n = envelope_encode_header(again, a.source, a.received_us, a.delivery_id,
                               a.request_id_len ? a.request_id : NULL, a.request_id_len,
                               a.body_len);
    if (n < 0 || n > ENVELOPE_HEADER_MAX)
        __builtin_trap();
    memcpy(again + n, a.body, a.body_len);
    if (envelope_decode(again, (size_t)n + a.body_len, &b, &why) != 0)
        __builtin_trap();
    if (strcmp(a.source, b.source) != 0 || a.received_us != b.received_us ||
        strcmp(a.delivery_id, b.delivery_id) != 0 || a.request_id_len != b.request_id_len ||
        memcmp(a.request_id, b.request_id, a.request_id_len) != 0 || a.body_len != b.body_len ||
        memcmp(a.body, b.body, a.body_len) != 0)
        __builtin_trap();
    free(again);
    free(buf);
    return 0;
}
