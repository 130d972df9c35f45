/*
 * The event_key rule: which deliveries are the same notification (Zoom's body rule; the
 * other providers' delivery-id rule). Pure logic
 * (json_scan + OpenSSL SHA-256, no I/O) so it is unit-tested directly. The rule is
 * documented in docs/storage.md, "The event_key rule".
 */
#ifndef HOOKPIPE_EVENT_KEY_H
#define HOOKPIPE_EVENT_KEY_H

#include <stddef.h>

#include "json_scan.h"

#define EVENT_KEY_LEN 32 /* SHA-256 */

/*
 * Scans body (JSON_SCAN_TEXT: it must be a JSON object PostgreSQL can store) and
 * computes, in the same pass, the key of that body received on source:
 *
 *   SHA-256("hookpipe-event-key-v2\0" source "\0" body')
 *
 * where body' is the body's bytes as received, less the string values (quotes
 * included) of every member named download_token, download_url or play_url, at any
 * depth: the only bytes Zoom changes between duplicate deliveries of one notification.
 * Returns 0 with the scan result in res; -1 with a static reason in *why when the
 * body is not such an object; -2 when OpenSSL fails.
 */
int event_key_scan(const char *source, const char *body, size_t len, struct json_scan_result *res,
                   unsigned char out[EVENT_KEY_LEN], const char **why)
    __attribute__((warn_unused_result));

/*
 * The key of a delivery of a provider other than Zoom that names its delivery (Standard
 * Webhooks' webhook-id, GitHub's X-GitHub-Delivery, Stripe's event id, Slack's event_id,
 * Shopify's X-Shopify-Event-Id), id[0..idlen) on source:
 *
 *   SHA-256("hookpipe-event-key-provider-v1\0" source "\0" provider "\0" id)
 *
 * so every redelivery of one id is one key whatever else changed. Returns 0, or -1 when
 * OpenSSL fails.
 */
int event_key_provider_id(const char *source, const char *provider, const char *id, size_t idlen,
                          unsigned char out[EVENT_KEY_LEN]) __attribute__((warn_unused_result));

/*
 * The key of such a delivery without an id: the body exactly as received,
 *
 *   SHA-256("hookpipe-event-key-provider-body-v1\0" source "\0" provider "\0" body)
 *
 * Returns 0, or -1 when OpenSSL fails.
 */
int event_key_provider_body(const char *source, const char *provider, const char *body, size_t len,
                            unsigned char out[EVENT_KEY_LEN]) __attribute__((warn_unused_result));

#endif
