/*
 * Request routing of the public listener: path and method of a parsed head to what
 * serves it (GET|HEAD /healthz, GET|HEAD /readyz, POST /hooks/NAME, POST
 * /hooks/NAME/token), a 405 with its
 * Allow line, or a 404. Pure; unit-tested in tests/unit/test_route.c.
 */
#ifndef HOOKPIPE_ROUTE_H
#define HOOKPIPE_ROUTE_H

#include <stddef.h>

#include "http_parser.h"

enum route_target {
    ROUTE_NOT_FOUND, /* no such path (or a /hooks/ path that cannot name a source) */
    ROUTE_HEALTHZ,
    ROUTE_READYZ,
    ROUTE_HOOK,  /* /hooks/NAME: NAME is in source (it may still be unknown) */
    ROUTE_TOKEN, /* /hooks/NAME/token: the OAuth token endpoint of source NAME */
};

struct route {
    enum route_target target;
    const char *allow;  /* non-NULL: the method is not allowed, answer 405 with this line */
    const char *source; /* ROUTE_HOOK/TOKEN: the name after /hooks/ (points into the head) */
    size_t source_len;  /* 1 .. NAME_MAX_LEN */
};

void route_match(const struct http_head *h, struct route *r);

#endif
