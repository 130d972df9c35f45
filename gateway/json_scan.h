/*
 * A one-pass, allocation-free JSON validator for request bodies: checks that the body
 * is one JSON object (RFC 8259 grammar) and finds its top-level "event" string. It
 * costs a fraction of a full parse, which only the rare url_validation case needs.
 */
#ifndef HOOKPIPE_JSON_SCAN_H
#define HOOKPIPE_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_SCAN_MAX_DEPTH 512

struct json_event {
    const char *p;    /* raw bytes of the "event" string, between the quotes */
    size_t len;       /* their length */
    bool has_escapes; /* the raw bytes contain backslash escapes */
};

/*
 * Returns 0 when body is a valid JSON object whose top-level "event" member is a
 * string (the last one, if repeated), filling ev. Returns -1 with a static reason in
 * *why otherwise. UTF-8 validity is not checked here (the writer dead-letters it).
 */
int json_scan_event(const char *body, size_t len, struct json_event *ev, const char **why)
    __attribute__((warn_unused_result));

#endif
