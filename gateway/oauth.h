/*
 * The token endpoint of a bearer-mode source, POST /hooks/NAME/token: an OAuth 2.0
 * client-credentials grant (RFC 6749 4.4). grant_type comes from the form body or the
 * query string; the client authenticates with HTTP Basic or client_id/client_secret
 * parameters of the body (2.3.1: never in the query, 400 invalid_request), never both. Pure
 * (answers are formatted, nothing is sent); unit-tested in tests/unit/test_oauth.c.
 */
#ifndef HOOKPIPE_OAUTH_H
#define HOOKPIPE_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "verify.h"

#define OAUTH_BODY_MAX 320     /* an answer body with its NUL */
#define OAUTH_REQUEST_MAX 4096 /* larger token request bodies: 413 */

struct oauth_request {
    const char *query; /* the query string, "" when none */
    size_t query_len;
    bool query_too_long;       /* the query did not fit the request buffer: invalid_request */
    const char *authorization; /* the Authorization value, NULL when absent or repeated */
    size_t authorization_len;
    const char *body; /* the form body */
    size_t body_len;
    time_t now;
};

struct oauth_answer {
    int status;                /* 200, 400 or 401 (503 if a token cannot be made) */
    char body[OAUTH_BODY_MAX]; /* JSON: the token, or {"error":...} */
    const char *extra;         /* static header lines for the answer */
    enum verify_reason reason; /* VERIFY_REASON_CLIENT_CREDENTIALS for a 401, else NONE */
};

/* Answers one token request for the source whose credentials are keys. */
void oauth_token(const struct verify_keys *keys, const struct oauth_request *req,
                 struct oauth_answer *out);

#endif
