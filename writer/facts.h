/*
 * The facts the writer takes from a delivery of a provider other than Zoom (issue 22;
 * docs/storage.md, "Other providers"): event, event time, account and the delivery id its
 * event_key comes from, read from the body (any JSON document, parsed with jansson) and
 * from the headers the gateway carried in the HP2 envelope. Pure logic, no I/O.
 */
#ifndef HOOKPIPE_FACTS_H
#define HOOKPIPE_FACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "event_key.h"

/* Latest event time stored (ms): 9999-12-31, the range of event_ts as for Zoom. */
#define FACTS_TIME_MAX_MS 253402300799999LL

struct facts {
    char *event;           /* the provider's event name (owned), NULL when missing */
    char *account;         /* the account it concerns (owned), NULL when missing */
    bool has_time;         /* time_ms holds the event time */
    int64_t time_ms;       /* ms since the epoch, 0 .. FACTS_TIME_MAX_MS */
    bool time_of_delivery; /* time_ms is the delivery's own (receipt, a per-attempt header),
                              not the event's: it differs between redeliveries */
    bool has_id;           /* key comes from the provider's delivery id */
    char *headers;         /* the carried header fields as a JSON object (owned), "{}" if none */
    unsigned char key[EVENT_KEY_LEN]; /* event_key (event_key_provider_id/_body) */
};

/*
 * Reads the facts of env, a delivery of provider (enum provider_id, not PROVIDER_ZOOM),
 * into f. A missing or malformed fact is left NULL/false, never an error: only a body that
 * is not JSON PostgreSQL can store (jansson: invalid JSON, invalid UTF-8, \u0000, unpaired
 * surrogate escapes) fails, with -1 and "body is not valid JSON: ..." in why (whylen bytes).
 * A JSON body whose numbers overflow jansson (jsonb takes them) is kept without body facts.
 * -2 when out of memory or OpenSSL fails. On success the caller frees f (facts_free).
 */
int facts_extract(const struct envelope *env, int provider, struct facts *f, char *why,
                  size_t whylen) __attribute__((warn_unused_result));

void facts_free(struct facts *f);

/*
 * An RFC 3339 / ISO 8601 date-time, s[0..len): YYYY-MM-DD, 'T' (or 't' or a space),
 * hh:mm:ss, an optional fraction of any number of digits (truncated to the ms), then 'Z'
 * (or 'z') or an offset +hh:mm, +hhmm or +hh. Into *ms since the epoch; false when it is
 * anything else or outside 1970 .. 9999.
 */
bool facts_parse_time(const char *s, size_t len, int64_t *ms);

#endif
