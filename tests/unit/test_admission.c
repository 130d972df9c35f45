/* Unit tests for gateway/admission.c: each limit, their order, and the Retry-After lines. */
#include <string.h>

#include "admission.h"
#include "check.h"

int main(void)
{
    struct admission_load l = {
        .redis_up = true,
        .queue_length = 9,
        .max_queue_length = 10,
        .pushes_in_flight = 4,
        .max_pushes_in_flight = 5,
    };

    CHECK(admission_check(&l) == ADMISSION_OK);
    CHECK(admission_retry_after(ADMISSION_OK) == NULL);
    l.pushes_in_flight = 5;
    CHECK(admission_check(&l) == ADMISSION_OVERLOADED);
    l.queue_length = 10; /* at the limit is full */
    CHECK(admission_check(&l) == ADMISSION_QUEUE_FULL);
    l.redis_up = false; /* first in order */
    CHECK(admission_check(&l) == ADMISSION_NO_REDIS);
    l.redis_up = true;
    l.queue_length = 11;
    l.pushes_in_flight = 0;
    CHECK(admission_check(&l) == ADMISSION_QUEUE_FULL);
    CHECK_STR_EQ(admission_retry_after(ADMISSION_NO_REDIS), "Retry-After: 1\r\n");
    CHECK_STR_EQ(admission_retry_after(ADMISSION_QUEUE_FULL), "Retry-After: 5\r\n");
    CHECK_STR_EQ(admission_retry_after(ADMISSION_OVERLOADED), "Retry-After: 1\r\n");
    CHECK_STR_EQ(admission_reason(ADMISSION_NO_REDIS, true), "queue unavailable");
    CHECK_STR_EQ(admission_reason(ADMISSION_NO_REDIS, false), "redis not connected");
    CHECK_STR_EQ(admission_reason(ADMISSION_QUEUE_FULL, true), "queue full");
    CHECK_STR_EQ(admission_reason(ADMISSION_OVERLOADED, false), "overloaded");
    return check_summary("test_admission");
}
