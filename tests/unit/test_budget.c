/*
 * Unit tests for gateway/budget.c: shares added and given back, bytes counted even over
 * the cap, and the margin under the cap before an exceeded budget counts as free again.
 */
#include "budget.h"
#include "check.h"
#include "stats.h"

int main(void)
{
    size_t a = 0, b = 0;

    budget_init();
    CHECK(STAT_GET(buffer_budget_bytes) == BUDGET_BYTES);
    budget_charge(&a, 1000);
    budget_charge(&b, 24);
    CHECK(STAT_GET(buffered_bytes) == 1024 && a == 1000 && b == 24);
    budget_charge(&a, 10);
    CHECK(STAT_GET(buffered_bytes) == 34);
    CHECK(!budget_exceeded());
    /* exactly at the budget is not over it */
    budget_charge(&b, (size_t)BUDGET_BYTES - 10);
    CHECK(STAT_GET(buffered_bytes) == BUDGET_BYTES && !budget_exceeded());
    budget_charge(&a, 11); /* actual bytes are counted even over the budget */
    CHECK(budget_exceeded());
    /* back under the cap, but not by the slack: still exceeded */
    budget_charge(&a, 0);
    CHECK(budget_exceeded());
    budget_charge(&b, (size_t)(BUDGET_BYTES - BUDGET_RESUME_SLACK) + 1);
    CHECK(budget_exceeded());
    budget_charge(&b, (size_t)(BUDGET_BYTES - BUDGET_RESUME_SLACK));
    CHECK(!budget_exceeded());
    budget_charge(&b, (size_t)BUDGET_BYTES); /* at the cap again, from under: not exceeded */
    CHECK(!budget_exceeded());
    budget_charge(&a, 0);
    budget_charge(&b, 0);
    CHECK(STAT_GET(buffered_bytes) == 0 && a == 0 && b == 0);
    return check_summary("test_budget");
}
