/*
 * libFuzzer target for common/json_scan.h, which sees every request body (gateway) and
 * every queued body (writer). Besides memory safety it is checked against jansson, in
 * both modes: an object jansson parses must be accepted, with the same "event" bytes
 * when they hold no escapes; and with JSON_SCAN_TEXT the emitted pieces must lie in
 * order inside the body.
 */
#include "json_scan.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_emit {
    const char *buf, *next; /* body, and where the next piece may start */
    size_t size;
};

static void fuzz_emit(void *arg, const char *p, size_t len)
{
    struct fuzz_emit *e = arg;

    if (p < e->next || p + len > e->buf + e->size)
        __builtin_trap(); /* pieces must be in order and inside the body */
    e->next = p + len;
}

static void fuzz_check_within(const struct json_scan_str *s, const char *buf, size_t size)
{
    if (s->p != NULL && (s->p < buf || s->p + s->len > buf + size))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_scan_result plain, text;
    const char *why = NULL, *why_text = NULL;
    char *buf = malloc(size ? size : 1); /* exact size: overreads are caught */
    struct fuzz_emit e;
    struct json_scan_opts opts = {JSON_SCAN_TEXT, fuzz_emit, &e};
    int rc, rc_text;

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    e.buf = e.next = buf;
    e.size = size;
    rc = json_scan(buf, size, NULL, &plain, &why);
    rc_text = json_scan(buf, size, &opts, &text, &why_text);
    if ((rc != 0 && why == NULL) || (rc_text != 0 && why_text == NULL))
        __builtin_trap();
    if (rc_text == 0 && rc != 0)
        __builtin_trap(); /* the text checks only ever add refusals */
    fuzz_check_within(&plain.event, buf, size);
    fuzz_check_within(&plain.account_id, buf, size);
    fuzz_check_within(&plain.event_ts, buf, size);
    /*
     * Differential check, only where nesting cannot reach either parser's depth limit, and
     * without NUL bytes: jansson's lexer skips a raw NUL between tokens, which RFC 8259 (and
     * json_scan) rejects.
     */
    if (size < JSON_SCAN_MAX_DEPTH && memchr(buf, '\0', size) == NULL) {
        json_error_t jerr;
        json_t *root = json_loadb(buf, size, 0, &jerr);
        if (root != NULL && json_is_object(root)) {
            json_t *event = json_object_get(root, "event");
            if (rc != 0 || rc_text != 0)
                __builtin_trap(); /* an object jansson (UTF-8, no \u0000) accepts */
            /* escaped keys ("ev\u0065nt") are not recognised by design */
            if (event != NULL && json_is_string(event) && plain.event.p != NULL &&
                !plain.event.escaped && memchr(buf, '\\', size) == NULL &&
                (plain.event.len != json_string_length(event) ||
                 memcmp(plain.event.p, json_string_value(event), plain.event.len) != 0))
                __builtin_trap();
        }
        json_decref(root);
    }
    free(buf);
    return 0;
}
