/*
 * One queue item on its way into PostgreSQL: decoded (envelope v1), scanned (json_scan),
 * classified as a row for hookpipe.events or a dead letter, and written as one line
 * of a text-format COPY. Pure logic, no I/O, so it is unit-tested directly.
 */
#ifndef HOOKPIPE_ROW_H
#define HOOKPIPE_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "event_key.h"
#include "strbuf.h"

struct row {
    const char *item;    /* the raw queue item (not owned) */
    size_t item_len;     /* its length */
    bool has_envelope;   /* env is valid */
    struct envelope env; /* decoded envelope; env.body points into item */
    bool dead;           /* goes to hookpipe.dead_letters */
    bool dead_minimal;   /* its dead letter is stored without envelope fields (they failed) */
    char *reason;        /* why it is dead (owned), NULL for a good row */
    char *event;         /* body "event" (owned) */
    char *account_id;    /* body payload.account_id (owned), NULL when absent */
    bool has_event_ts;   /* body "event_ts" was an integer in range */
    int64_t event_ts_ms; /* its value in ms */
    unsigned char key[EVENT_KEY_LEN];      /* event_key */
    unsigned char item_key[EVENT_KEY_LEN]; /* SHA-256 of the whole item (dead letters) */
};

/*
 * event_time, the partition key of hookpipe.events, in ms since the epoch: event_ts when
 * the body has a usable one, else 0 (1970-01-01 UTC, the undated partition) — a function of
 * the body bytes alone, so every retry of a notification gets the same one.
 */
static inline int64_t row_event_time_ms(const struct row *r)
{
    return r->has_event_ts ? r->event_ts_ms : 0;
}

/* Latest receive time a row may carry: 9999-12-31, PostgreSQL's timestamptz range. */
#define ROW_RECEIVED_US_MAX 253402300799999999LL

/*
 * Fills r from item (which must outlive r). Never fails on bad input: a bad item is
 * marked dead with a reason. Returns -1 only on allocation failure (r is then freed).
 */
int row_classify(struct row *r, const char *item, size_t item_len)
    __attribute__((warn_unused_result));

/* Marks r dead with reason (copied) — e.g. PostgreSQL's message for it. Returns 0 or -1 (OOM). */
int row_mark_dead(struct row *r, const char *reason) __attribute__((warn_unused_result));

void row_free(struct row *r);

/*
 * Column list of the staging table, in the order row_copy_line writes them:
 * ord, source, event, event_ts_ms, account_id, received_us, event_key, payload,
 * delivery_id, request_id, body (the same bytes as payload; NULL without keep_body).
 */
#define ROW_COPY_COLUMNS                                                                           \
    "ord, source, event, event_ts_ms, account_id, received_us, event_key, payload, delivery_id, "  \
    "request_id, body"

/* Appends r (a good row) as one COPY text line with ordinal ord. Errors set buf->failed. */
void row_copy_line(struct strbuf *buf, const struct row *r, long ord, bool keep_body);

/*
 * Columns of hookpipe.events that row_copy_events_line writes, in order: the batch's
 * optimistic COPY straight into the table (see store.c).
 */
#define ROW_EVENTS_COLUMNS                                                                         \
    "source, event, event_ts, account_id, received_at, event_key, payload, delivery_id, "          \
    "request_id, event_time, body"

/* Appends r as one COPY text line for ROW_EVENTS_COLUMNS (timestamps as UTC text). */
void row_copy_events_line(struct strbuf *buf, const struct row *r, bool keep_body);

/* Appends len bytes escaped for a COPY text field (backslash, tab, newline, CR). */
void row_copy_escaped(struct strbuf *buf, const char *s, size_t len);

#endif
