/*
 * What a verified webhook body gets: 400 when it is not one JSON object with a string
 * "event"; for Zoom's endpoint.url_validation, the challenge answer signed with the key
 * the request's Zoom signature verified under; anything else is delivered (queued). Pure
 * (jansson, no I/O); unit-tested in tests/unit/test_hook.c.
 */
#ifndef HOOKPIPE_HOOK_H
#define HOOKPIPE_HOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "provider.h"
#include "zoom.h"

enum hook_action {
    HOOK_DELIVER, /* queue the body */
    HOOK_ANSWER,  /* answer status now (body or message), queue nothing */
};

struct hook_result {
    enum hook_action action;
    int status;          /* HOOK_ANSWER: 200 with body, 400, 401, or 503 when out of memory */
    const char *message; /* status != 200: why (static, or pointing into scanner text) */
    char *body;          /* status 200: the url_validation answer (JSON; caller frees) */
    bool out_of_memory;  /* the 503 was for lack of memory */
};

/*
 * Inspects body[0..len) of a request that passed its source's checks; key is the key its
 * Zoom signature verified under, or NULL when it had none that verified. Fills res. The
 * url_validation answer is HMAC(secret, plainToken), the very MAC x-zm-signature is made
 * of, so it is given only when key is set (else 401: whatever the source's auth, Zoom
 * signs its validation requests) and only for a plainToken of Zoom's shape, which cannot
 * be a "v0:TS:BODY" signing input (else 400).
 */
void hook_inspect(const char *body, size_t len, struct zoom_key *key, struct hook_result *res);

/*
 * The same for a provider other than Zoom: 400 when body is not one JSON document (any:
 * object, array, ...); Slack's url_verification is answered {"challenge": its challenge}
 * and not queued (Slack signs it like any event, so it has passed the source's checks).
 */
void hook_inspect_provider(enum provider_id provider, const char *body, size_t len,
                           struct hook_result *res);

#endif
