/*
 * The process-wide buffer budget: every byte held for a client connection (input read
 * and answers unsent; never what a header only promises) is counted in stats
 * buffered_bytes, and the total is capped: past it, conn.c sheds the largest requests
 * that proved nothing and stops the others reading, so max_connections clients cannot
 * add up to more memory than this. Lock-free (one atomic add per change of a share).
 */
#ifndef HOOKPIPE_BUDGET_H
#define HOOKPIPE_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUDGET_BYTES ((int64_t)256 << 20)
/*
 * Once over the budget, reading stays stopped until the total is this far under it:
 * answers still being written and input still being parsed move the total by a few kB
 * either way, and without the margin every such dip let paused and new connections in.
 */
#define BUDGET_RESUME_SLACK ((int64_t)4 << 20)

/* Publishes the budget (stats buffer_budget_bytes). */
void budget_init(void);

/*
 * True from when the connections together hold more than BUDGET_BYTES until they hold
 * BUDGET_RESUME_SLACK less than it.
 */
bool budget_exceeded(void);

/* Sets a holder's share to held bytes; *share is what it counted so far. */
void budget_charge(size_t *share, size_t held);

#endif
