/*
 * The event_key rule: which deliveries are the same Zoom notification. Pure logic
 * (jansson + OpenSSL SHA-256, no I/O) so it is unit-tested directly. The rule is
 * documented in README.md, section "writer".
 */
#ifndef HOOKPIPE_EVENT_KEY_H
#define HOOKPIPE_EVENT_KEY_H

#include <jansson.h>
#include <stddef.h>

#define EVENT_KEY_LEN 32 /* SHA-256 */

/*
 * Computes the key of body (a parsed JSON object) received on source:
 * SHA-256("hookpipe-event-key-v1\0" source "\0" canonical(body')) where body' is the
 * body with every member named download_token, download_url or play_url removed at
 * any depth, and canonical() is jansson's compact dump with sorted keys. body is not
 * modified. Returns 0, or -1 on allocation failure.
 */
int event_key_compute(const char *source, const json_t *body, unsigned char out[EVENT_KEY_LEN])
    __attribute__((warn_unused_result));

#endif
