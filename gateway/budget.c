/* The buffer budget (see budget.h), kept in the stats block's buffered_bytes gauge. */
#include "budget.h"

#include <stdatomic.h>

#include "stats.h"

/* Set once the total went over BUDGET_BYTES, cleared once it is back under the slack. */
static atomic_bool budget_over;

void budget_init(void)
{
    STAT_SET(buffer_budget_bytes, BUDGET_BYTES);
}

bool budget_exceeded(void)
{
    int64_t held = STAT_GET(buffered_bytes);
    bool over = atomic_load(&budget_over);

    if (over != (held > BUDGET_BYTES) && (!over || held <= BUDGET_BYTES - BUDGET_RESUME_SLACK)) {
        over = !over;
        atomic_store(&budget_over, over);
        STAT_SET(buffer_budget_exceeded, over ? 1 : 0);
    }
    return over;
}

void budget_charge(size_t *share, size_t held)
{
    if (held != *share) {
        STAT_ADD(buffered_bytes, (int64_t)held - (int64_t)*share);
        *share = held;
    }
}
