/*
 * Exponential backoff (see backoff.h).
 */
#include "backoff.h"

void backoff_init(struct backoff *b, int min_ms, int max_ms)
{
    b->min_ms = min_ms > 0 ? min_ms : 1;
    b->max_ms = max_ms > b->min_ms ? max_ms : b->min_ms;
    b->next_ms = b->min_ms;
}

int backoff_next(struct backoff *b)
{
    int ms = b->next_ms;

    b->next_ms = ms > b->max_ms / 2 ? b->max_ms : ms * 2;
    return ms;
}

void backoff_reset(struct backoff *b)
{
    b->next_ms = b->min_ms;
}
