/*
 * A one-pass, allocation-free JSON scanner for webhook bodies. It checks that a body
 * is one JSON object (RFC 8259 grammar, bounded depth, no recursion) and picks out
 * the members hookpipe needs, in a fraction of a full parse. Optionally it also
 * refuses text PostgreSQL cannot store, and streams the body's bytes, less the
 * values Zoom varies between duplicate deliveries, to a hash for the event key.
 */
#ifndef HOOKPIPE_JSON_SCAN_H
#define HOOKPIPE_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_SCAN_MAX_DEPTH 512

enum json_scan_flags {
    /*
     * Also refuse what PostgreSQL's json/jsonb cannot hold: invalid UTF-8 (overlong,
     * surrogate or out-of-range sequences), the escape \u0000, and \u escapes of
     * unpaired UTF-16 surrogates.
     */
    JSON_SCAN_TEXT = 1,
};

struct json_scan_str {
    const char *p; /* raw bytes between the quotes (escapes not decoded); NULL = absent */
    size_t len;
    bool escaped; /* the raw bytes contain backslash escapes */
};

struct json_scan_result {
    struct json_scan_str event;      /* top-level "event" when it is a string (the last one) */
    struct json_scan_str event_ts;   /* top-level "event_ts" number token, p NULL if none */
    struct json_scan_str account_id; /* "payload"."account_id" when it is a string */
};

/* Receives consecutive pieces of the body (see json_scan_opts.emit). */
typedef void (*json_scan_emit_fn)(void *arg, const char *p, size_t len);

struct json_scan_opts {
    int flags;              /* enum json_scan_flags */
    json_scan_emit_fn emit; /* NULL, or: called with the body's bytes in order, leaving out
                               the string values (quotes included) of members named
                               download_token, download_url and play_url, at any depth */
    void *emit_arg;
};

/*
 * Scans body[0..len). Returns 0 when it is a valid JSON object (whether or not it has
 * the members of interest), -1 with a static reason in *why otherwise. opts may be
 * NULL (no flags, no emit).
 */
int json_scan(const char *body, size_t len, const struct json_scan_opts *opts,
              struct json_scan_result *res, const char **why) __attribute__((warn_unused_result));

/*
 * The value of a string json_scan picked out, its escapes decoded (UTF-16 surrogate
 * pairs to UTF-8), as a new NUL-terminated string the caller frees. NULL when out of
 * memory, or when the value holds \u0000 or an unpaired surrogate escape.
 */
char *json_scan_str_decode(const struct json_scan_str *s) __attribute__((warn_unused_result));

#endif
