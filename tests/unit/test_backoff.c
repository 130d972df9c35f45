/*
 * Unit tests for common/backoff.c: doubling from min to max, reset, odd bounds.
 */
#include "backoff.h"
#include "check.h"

int main(void)
{
    struct backoff b;

    backoff_init(&b, 250, 5000);
    CHECK(backoff_next(&b) == 250);
    CHECK(backoff_next(&b) == 500);
    CHECK(backoff_next(&b) == 1000);
    CHECK(backoff_next(&b) == 2000);
    CHECK(backoff_next(&b) == 4000);
    CHECK(backoff_next(&b) == 5000);
    CHECK(backoff_next(&b) == 5000);
    backoff_reset(&b);
    CHECK(backoff_next(&b) == 250);

    backoff_init(&b, 0, 0); /* nonsense bounds still give a positive, bounded delay */
    CHECK(backoff_next(&b) == 1);
    CHECK(backoff_next(&b) == 1);

    backoff_init(&b, 100, 2147483647); /* no overflow near INT_MAX */
    for (int i = 0; i < 40; i++)
        CHECK(backoff_next(&b) > 0);
    CHECK(backoff_next(&b) == 2147483647);
    return check_summary("test_backoff");
}
