/*
 * libFuzzer target for gap_decode(), the parser of the gap items writers pop from Redis next
 * to the envelopes. Beyond not crashing: a rejection says why; whatever decodes re-encodes
 * to exactly the input bytes (the format has one form per value) and has started < ended.
 */
#include "gap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy so any read past the end is caught by ASan */
    char *buf = malloc(size ? size : 1);
    char again[GAP_ITEM_MAX + 1];
    struct gap g;
    const char *why = NULL;
    int n;

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    if (gap_decode(buf, size, &g, &why) != 0) {
        if (why == NULL)
            __builtin_trap(); /* a rejection always says why */
        free(buf);
        return 0;
    }
    if (!gap_is_item(buf, size) || g.started_us >= g.ended_us || g.started_us < 0)
        __builtin_trap();
    n = gap_encode(again, &g);
    if (n < 0 || (size_t)n != size || memcmp(again, buf, size) != 0)
        __builtin_trap();
    free(buf);
    return 0;
}
