/*
 * One queue item on its way into PostgreSQL: decoded (envelope v1 or v2), scanned (json_scan
 * for Zoom, facts.c for the other providers), classified as a row for hookpipe.events, a gap of a
 * WebSocket subscription (a gap item, for hookpipe.gaps) or a dead letter, and written as one line
 * of a text-format COPY. Pure logic, no I/O, so it is unit-tested directly.
 */
#ifndef HOOKPIPE_ROW_H
#define HOOKPIPE_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "event_key.h"
#include "gap.h"
#include "strbuf.h"

/*
 * Where a row goes (docs/design.md "Storage contract"): dated (event_time = event_ts) or
 * undated (event_time = 1970-01-01, hookpipe.events_undated), and why it is undated.
 */
enum row_place {
    ROW_DATED,         /* event_ts inside the window and a partition for it */
    ROW_NO_EVENT_TS,   /* the body has no usable event_ts (not counted) */
    ROW_OUT_OF_WINDOW, /* event_ts outside the window around the receive time */
    ROW_NO_PARTITION,  /* no partition may be made for event_ts (outside the horizon) */
};

struct row {
    const char *item;      /* the raw queue item (not owned) */
    size_t item_len;       /* its length */
    bool has_envelope;     /* env is valid */
    struct envelope env;   /* decoded envelope; env.body points into item */
    bool is_gap;           /* a valid gap item: goes to hookpipe.gaps, never to events */
    struct gap gap;        /* it, decoded */
    bool dead;             /* goes to hookpipe.dead_letters */
    bool dead_minimal;     /* its dead letter is stored without envelope fields (they failed) */
    char *reason;          /* why it is dead (owned), NULL for a good row */
    char *event;           /* body "event" (owned); another provider's event, NULL if none */
    char *account_id;      /* body payload.account_id (owned), NULL when absent; or the account */
    bool has_event_ts;     /* body "event_ts" was an integer in range (or the provider's time) */
    int64_t event_ts_ms;   /* its value in ms */
    bool other_provider;   /* not Zoom: facts.c's facts, key and retry margin */
    bool time_of_delivery; /* event_ts is the delivery's time, not the event's: never dated */
    char *headers;         /* the carried header fields as JSON text (owned), NULL for Zoom */
    enum row_place place;  /* dated or why undated (row_place_window) */
    bool check_other;      /* skip the row when its event_key is already stored at other_ms */
    int64_t other_ms;      /* the other event_time a retry of it may have got */
    unsigned char key[EVENT_KEY_LEN];      /* event_key */
    unsigned char item_key[EVENT_KEY_LEN]; /* SHA-256 of the whole item (dead letters) */
};

/*
 * A retry is the same body received later, so near an edge of the window its first
 * delivery may have been placed the other way. Within this margin of an edge a row is
 * stored only when its event_key is in neither place. Zoom's retries arrive up to ~85
 * minutes after the first delivery; a day is the margin with generous room.
 */
#define ROW_RETRY_MARGIN_MS 86400000LL

/*
 * The margin at the window's past edge for the other providers, whose automatic retries go
 * on longer: Stripe's for up to three days, Standard Webhooks' (Svix) about 28 hours. A
 * redelivery comes later than its original, so only the past edge sees such gaps; the future
 * edge keeps ROW_RETRY_MARGIN_MS (an event claiming to lie days ahead is no real one).
 */
#define ROW_PROVIDER_RETRY_MARGIN_MS (3 * 86400000LL)

/* The plausible window of event_ts around the receive time, from [storage]. */
struct row_window {
    int64_t past_ms;   /* event_time_past_days */
    int64_t future_ms; /* event_time_future_s */
};

/* event_time, the partition key of hookpipe.events, in ms since the epoch (0 = undated). */
static inline int64_t row_event_time_ms(const struct row *r)
{
    return r->place == ROW_DATED ? r->event_ts_ms : 0;
}

/*
 * Places a good row by the window around its receive time: dated when event_ts lies in
 * [received - past, received + future], else undated (ROW_OUT_OF_WINDOW). Sets
 * check_other/other_ms when the row lies within ROW_RETRY_MARGIN_MS of an edge (its
 * first delivery may be in the other place; ROW_PROVIDER_RETRY_MARGIN_MS at the past edge for
 * the other providers). A row whose time is the delivery's (time_of_delivery) stays undated,
 * ROW_NO_EVENT_TS. Pure; the store may then make it ROW_NO_PARTITION.
 */
void row_place_window(struct row *r, const struct row_window *w);

/* Makes a dated row undated because no partition may hold its event_ts (checks the other). */
void row_place_no_partition(struct row *r);

/* Latest receive time a row may carry: 9999-12-31, PostgreSQL's timestamptz range. */
#define ROW_RECEIVED_US_MAX 253402300799999999LL

/*
 * Fills r from item (which must outlive r). Never fails on bad input: a bad item is
 * marked dead with a reason. An item that starts with "HPG1 " is a gap item: is_gap when it
 * decodes (gap_decode) and its times fit a timestamptz, else dead like a bad envelope. The
 * envelope is tried first, so an events batch pays nothing for gaps. An envelope of another
 * provider than Zoom takes facts.c's rules (any JSON document; an unknown provider is dead).
 * Returns -1 only on
 * allocation failure (r is then freed).
 */
int row_classify(struct row *r, const char *item, size_t item_len)
    __attribute__((warn_unused_result));

/* Marks r dead with reason (copied) — e.g. PostgreSQL's message for it. Returns 0 or -1 (OOM). */
int row_mark_dead(struct row *r, const char *reason) __attribute__((warn_unused_result));

void row_free(struct row *r);

/*
 * Column list of the staging table, in the order row_copy_line writes them:
 * ord, source, event, event_ts_ms, account_id, received_us, event_key, payload,
 * delivery_id, request_id, body (the same bytes as payload; NULL without keep_body),
 * event_time_ms, other_ms (NULL unless check_other), provider, headers (NULL for Zoom).
 */
#define ROW_COPY_COLUMNS                                                                           \
    "ord, source, event, event_ts_ms, account_id, received_us, event_key, payload, delivery_id, "  \
    "request_id, body, event_time_ms, other_ms, provider, headers"

/* Appends r (a good row) as one COPY text line with ordinal ord. Errors set buf->failed. */
void row_copy_line(struct strbuf *buf, const struct row *r, long ord, bool keep_body);

/*
 * Columns of hookpipe.events that row_copy_events_line writes, in order: the batch's
 * optimistic COPY straight into the table (see store.c).
 */
#define ROW_EVENTS_COLUMNS                                                                         \
    "source, event, event_ts, account_id, received_at, event_key, payload, delivery_id, "          \
    "request_id, event_time, body, provider, headers"

/* Appends r as one COPY text line for ROW_EVENTS_COLUMNS (timestamps as UTC text). */
void row_copy_events_line(struct strbuf *buf, const struct row *r, bool keep_body);

/*
 * Appends us (microseconds since the epoch, >= 0) as UTC timestamptz text, to the
 * microsecond or (micro false) the millisecond: a literal PostgreSQL reads the same
 * whatever its TimeZone.
 */
void row_timestamp(struct strbuf *buf, int64_t us, bool micro);

/* row_timestamp's text into out (ROW_TIMESTAMP_MAX bytes, NUL-terminated); returns its length. */
#define ROW_TIMESTAMP_MAX 48
size_t row_timestamp_text(char out[ROW_TIMESTAMP_MAX], int64_t us, bool micro);

/* Appends len bytes escaped for a COPY text field (backslash, tab, newline, CR). */
void row_copy_escaped(struct strbuf *buf, const char *s, size_t len);

#endif
