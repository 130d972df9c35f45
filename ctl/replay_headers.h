/*
 * replay's carried headers: the request headers a provider's delivery brought (the events
 * headers column, a JSON object written by the writer from the envelope's fields) as the
 * header lines replay sends again, and the id a scheme signs (Standard Webhooks' webhook-id:
 * the stored one, never a new one). Pure (jansson), no I/O.
 */
#ifndef HOOKPIPE_CTL_REPLAY_HEADERS_H
#define HOOKPIPE_CTL_REPLAY_HEADERS_H

#include <stddef.h>

#include "provider.h"

#define REPLAY_HEADER_VALUE_MAX 1000 /* a longer stored value is not sent */

struct replay_headers {
    size_t n;
    char *line[PROVIDER_HEADERS_MAX]; /* "name: value", owned */
    char *sign_id;                    /* the id provider_sign() signs (standard), or NULL */
};

/*
 * Fills out from json[0..len) (the headers column as text; NULL or len 0 for SQL NULL): each
 * header of provider's table (common/provider.c) found under its name or alias, sent under
 * its name, when its value is a string of 1..REPLAY_HEADER_VALUE_MAX bytes without control
 * characters; anything else in the object is left out. Text that is not a JSON object gives
 * no headers. 0, or -1 when out of memory (out then holds nothing). Caller frees with
 * replay_headers_free().
 */
int replay_headers_parse(enum provider_id provider, const char *json, size_t len,
                         struct replay_headers *out) __attribute__((warn_unused_result));

void replay_headers_free(struct replay_headers *h);

#endif
