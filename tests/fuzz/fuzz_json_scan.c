/*
 * libFuzzer target for the gateway's JSON validator (gateway/json_scan.h), which sees every
 * request body. Besides memory safety it is checked against jansson: a small body that
 * jansson parses as an object with a string "event" must be accepted by json_scan_event
 * too, with the same event bytes when they hold no escapes.
 */
#include "json_scan.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_event ev;
    const char *why = NULL;
    char *buf = malloc(size ? size : 1); /* exact size: overreads are caught */
    int rc;

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    memset(&ev, 0, sizeof(ev));
    rc = json_scan_event(buf, size, &ev, &why);
    if (rc == 0) {
        if (ev.p < buf || ev.p + ev.len > buf + size)
            __builtin_trap();
    } else if (why == NULL) {
        __builtin_trap();
    }
    /*
     * Differential check, only where nesting cannot reach either parser's depth limit, and
     * without NUL bytes: jansson's lexer skips a raw NUL between tokens, which RFC 8259 (and
     * json_scan) rejects.
     */
    if (size < JSON_SCAN_MAX_DEPTH && memchr(buf, '\0', size) == NULL) {
        json_error_t jerr;
        json_t *root = json_loadb(buf, size, 0, &jerr);
        json_t *event =
            root != NULL && json_is_object(root) ? json_object_get(root, "event") : NULL;
        if (event != NULL && json_is_string(event)) {
            if (rc != 0)
                __builtin_trap(); /* valid JSON rejected */
            if (!ev.has_escapes && (ev.len != json_string_length(event) ||
                                    memcmp(ev.p, json_string_value(event), ev.len) != 0))
                __builtin_trap();
        }
        json_decref(root);
    }
    free(buf);
    return 0;
}
