/*
 * The one admission rule, used by GET /readyz and by every delivery: Redis must be
 * connected, the queue under max_queue_length and the pushes in flight under
 * max_pushes_in_flight. Pure; unit-tested in tests/unit/test_admission.c.
 */
#ifndef HOOKPIPE_ADMISSION_H
#define HOOKPIPE_ADMISSION_H

#include <stdbool.h>

enum admission {
    ADMISSION_OK,
    ADMISSION_NO_REDIS,   /* 503, Retry-After: 1 */
    ADMISSION_QUEUE_FULL, /* 503, Retry-After: 5 */
    ADMISSION_OVERLOADED, /* 503, Retry-After: 1 */
};

struct admission_load {
    bool redis_up;             /* /readyz: every worker's link; a delivery: its worker's */
    long queue_length;         /* as last seen */
    long max_queue_length;     /* settings */
    long pushes_in_flight;     /* of this worker */
    long max_pushes_in_flight; /* settings */
};

/* The first limit the load is at, in the order above, or ADMISSION_OK. */
enum admission admission_check(const struct admission_load *load);

/* Why a refusal, for its error body: of a delivery, or of GET /readyz. */
const char *admission_reason(enum admission a, bool delivery);

/* The Retry-After header line (CRLF-terminated) of a refusal; NULL for ADMISSION_OK. */
const char *admission_retry_after(enum admission a);

#endif
