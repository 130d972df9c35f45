/*
 * The gap queue item: an interval in which a WebSocket subscription had no live connection,
 * so Zoom's events of that time were never received. The gateway worker holding the
 * subscription LPUSHes one onto the same list as the envelopes; writers store it in
 * hookpipe.gaps. One ASCII line, nothing after its LF (docs/envelope.md "Gap items"):
 *
 *   "HPG1 " source " " started_us " " ended_us " " reason " " holder "\n"
 *
 * source is a [source.NAME] (the name rule), started_us < ended_us µs since the epoch
 * (decimal, at most 19 digits, no leading zero), reason [a-z_]{1,32} and holder, the gateway
 * worker that recorded it, [A-Za-z0-9_.:-]{1,128}. Decoders reject anything else.
 */
#ifndef HOOKPIPE_GAP_H
#define HOOKPIPE_GAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "name.h"

#define GAP_MAGIC "HPG1 "
#define GAP_REASON_MAX 32
#define GAP_HOLDER_MAX 128
/* The longest item: magic, the fields at their longest, four spaces and the LF. */
#define GAP_ITEM_MAX                                                                               \
    (5 + NAME_MAX_LEN + 1 + 19 + 1 + 19 + 1 + GAP_REASON_MAX + 1 + GAP_HOLDER_MAX + 1)

struct gap {
    char source[NAME_MAX_LEN + 1];   /* NUL-terminated source name */
    int64_t started_us;              /* last moment the connection was known alive */
    int64_t ended_us;                /* the next connection's first answered heartbeat */
    char reason[GAP_REASON_MAX + 1]; /* why the connection went down, e.g. connection_lost */
    char holder[GAP_HOLDER_MAX + 1]; /* gateway worker that recorded it, "HOST:PID:wN" */
};

/* True when item starts with the gap magic (so it is a gap item, well-formed or not). */
bool gap_is_item(const char *item, size_t len);

/* True when s[0..len) is a valid reason ([a-z_]{1,32}). */
bool gap_reason_valid(const char *s, size_t len);

/* True when s[0..len) is a valid holder id ([A-Za-z0-9_.:-]{1,128}). */
bool gap_holder_valid(const char *s, size_t len);

/*
 * Writes g as a gap item into out (at least GAP_ITEM_MAX + 1 bytes; NUL-terminated) and
 * returns its length, or -1 when a field is out of its form (then out is unspecified).
 */
int gap_encode(char *out, const struct gap *g) __attribute__((warn_unused_result));

/*
 * Parses buf[0..len) (a queue item) into g. Returns 0, or -1 with a static reason in *why
 * when buf is not exactly one valid gap item.
 */
int gap_decode(const char *buf, size_t len, struct gap *g, const char **why)
    __attribute__((warn_unused_result));

#endif
