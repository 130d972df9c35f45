/*
 * Exponential backoff for reconnects and retries: each delay doubles the one before,
 * from min_ms up to max_ms, until a success resets it.
 */
#ifndef HOOKPIPE_BACKOFF_H
#define HOOKPIPE_BACKOFF_H

struct backoff {
    int min_ms;  /* first delay after a success */
    int max_ms;  /* delays never grow past this */
    int next_ms; /* the delay backoff_next() returns next */
};

void backoff_init(struct backoff *b, int min_ms, int max_ms);

/* The delay to wait now; the one after it is twice as long (at most max_ms). */
int backoff_next(struct backoff *b);

/* After a success: the next delay is min_ms again. */
void backoff_reset(struct backoff *b);

#endif
