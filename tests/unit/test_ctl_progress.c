/*
 * Unit tests for ctl/progress.c: durations and the progress bar (fill, percent, rate, ETA).
 */
#include "check.h"
#include "progress.h"

int main(void)
{
    char b[256];

    progress_duration(0, b, sizeof(b));
    CHECK_STR_EQ(b, "0s");
    progress_duration(59.4, b, sizeof(b));
    CHECK_STR_EQ(b, "59s");
    progress_duration(187, b, sizeof(b));
    CHECK_STR_EQ(b, "3m07s");
    progress_duration(7500, b, sizeof(b));
    CHECK_STR_EQ(b, "2h05m");
    progress_duration(-1, b, sizeof(b));
    CHECK_STR_EQ(b, "--");
    progress_duration(1e300, b, sizeof(b));
    CHECK_STR_EQ(b, "--");

    progress_bar(450, 1000, 4.5, 10, b, sizeof(b));
    CHECK_STR_EQ(b, "[####......]  45%  450/1000  100.0/s  ETA 6s");
    progress_bar(0, 1000, 0, 4, b, sizeof(b));
    CHECK_STR_EQ(b, "[....]   0%  0/1000  0.0/s  ETA --");
    progress_bar(1000, 1000, 10, 4, b, sizeof(b));
    CHECK_STR_EQ(b, "[####] 100%  1000/1000  100.0/s  ETA done");
    progress_bar(0, 0, 1, 4, b, sizeof(b));
    CHECK_STR_EQ(b, "[####] 100%  0/0  0.0/s  ETA done");
    progress_bar(5, 3, 1, 4, b, sizeof(b)); /* more done than counted: capped */
    CHECK_STR_EQ(b, "[####] 100%  5/3  5.0/s  ETA done");
    progress_bar(1, 2, 1, 0, b, sizeof(b)); /* width clamped */
    CHECK_STR_EQ(b, "[.]  50%  1/2  1.0/s  ETA 1s");
    progress_bar(1, 2, 1, 1000, b, 20); /* small output buffer: truncated, terminated */
    CHECK(strlen(b) == 19);
    return check_summary("test_ctl_progress");
}
