/*
 * What the gateway decides about a request from its head alone, before it reads a byte of
 * the body: which address it speaks for (the peer, or the last X-Forwarded-For entry when
 * the peer is a trusted proxy), whether that address is serving a penalty for wrong
 * credentials (429), whether the source accepts it (allow_from, 403), and every check of
 * the source's auth modes that needs no body (401). A request none of these refuse is
 * "vouched for" when its head alone proves the sender (a header-based mode), and may then
 * hold buffer space under load; one whose proof is in the body (a signature) is not.
 * Unit-tested in tests/unit/test_guard.c.
 */
#ifndef HOOKPIPE_GUARD_H
#define HOOKPIPE_GUARD_H

#include <stdbool.h>

#include "cidr.h"
#include "http_parser.h"
#include "keyring.h"
#include "verify.h"

#define GUARD_EXTRA_MAX 64

struct guard_outcome {
    int status;                        /* 0 to go on and read the body, else the answer */
    const char *message;               /* why, for the error body */
    const char *extra;                 /* header lines (CRLF-terminated) for the answer, or NULL */
    enum verify_reason reason;         /* what it is counted under, VERIFY_REASON_NONE if passed */
    bool vouched;                      /* passed, and the head alone proves the sender */
    char retry_after[GUARD_EXTRA_MAX]; /* a 429's Retry-After line (extra points here) */
};

/*
 * The address a request speaks for: peer, unless peer is in trusted_proxies and the head
 * has an X-Forwarded-For whose last entry is an address, which the proxy wrote.
 */
void guard_client(const struct cidr_list *trusted_proxies, const struct cidr_addr *peer,
                  const struct http_head *h, struct cidr_addr *client);

/*
 * Decides on the head of a delivery (or, with token_endpoint, of a token request, whose
 * credentials are checked with its body) for source e from client, at now (monotonic
 * seconds, for the penalty), vreq holding its headers (vreq->body unused). A refused
 * credential is counted against client's address for the failure throttle.
 */
void guard_head(const struct keyring_entry *e, bool token_endpoint, const struct cidr_addr *client,
                const struct verify_request *vreq, double now, struct guard_outcome *out);

/* True for refusals an attacker could be guessing behind (every credential but a MAC's). */
bool guard_guessable(enum verify_reason reason);

#endif
