/* The admission rule (see admission.h). */
#include "admission.h"

#include <stddef.h>

enum admission admission_check(const struct admission_load *load)
{
    if (!load->redis_up)
        return ADMISSION_NO_REDIS;
    if (load->queue_length >= load->max_queue_length)
        return ADMISSION_QUEUE_FULL;
    if (load->pushes_in_flight >= load->max_pushes_in_flight)
        return ADMISSION_OVERLOADED;
    return ADMISSION_OK;
}

const char *admission_retry_after(enum admission a)
{
    switch (a) {
    case ADMISSION_OK:
        break;
    case ADMISSION_QUEUE_FULL:
        return "Retry-After: 5\r\n"; /* the queue drains at the writers' pace */
    case ADMISSION_NO_REDIS:
    case ADMISSION_OVERLOADED:
        return "Retry-After: 1\r\n";
    }
    return NULL;
}

const char *admission_reason(enum admission a, bool delivery)
{
    switch (a) {
    case ADMISSION_OK:
        break;
    case ADMISSION_NO_REDIS:
        return delivery ? "queue unavailable" : "redis not connected";
    case ADMISSION_QUEUE_FULL:
        return "queue full";
    case ADMISSION_OVERLOADED:
        return "overloaded";
    }
    return "ok";
}
