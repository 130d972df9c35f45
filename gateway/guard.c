/* Head-time decisions about a request (see guard.h). */
#include "guard.h"

#include <stdio.h>
#include <string.h>

#include "peer.h"

void guard_client(const struct cidr_list *trusted_proxies, const struct cidr_addr *peer,
                  const struct http_head *h, struct cidr_addr *client)
{
    struct http_str xff;

    *client = *peer;
    if (trusted_proxies->n == 0 || !cidr_list_match(trusted_proxies, peer))
        return;
    if (http_find_header(h, "x-forwarded-for", 15, &xff) != 1 || xff.len == 0)
        return; /* none, or two headers: the proxy's own cannot be told apart */
    size_t start = xff.len;
    while (start > 0 && xff.p[start - 1] != ',')
        start--;
    const char *p = xff.p + start;
    size_t n = xff.len - start;
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    struct cidr_addr a;
    if (cidr_addr_parse(p, n, &a) == 0)
        *client = a;
}

bool guard_guessable(enum verify_reason reason)
{
    switch (reason) {
    case VERIFY_REASON_NONE:
    case VERIFY_REASON_TIMESTAMP:
    case VERIFY_REASON_SIGNATURE:
    case VERIFY_REASON_ADDRESS:
    case VERIFY_REASON_THROTTLED:
    case VERIFY_REASON_COUNT:
        return false;
    default:
        return true;
    }
}

static void guard_refuse(struct guard_outcome *out, int status, enum verify_reason reason,
                         const char *message, const char *extra)
{
    out->status = status;
    out->reason = reason;
    out->message = message;
    out->extra = extra;
}

void guard_head(const struct keyring_entry *e, bool token_endpoint, const struct cidr_addr *client,
                const struct verify_request *vreq, double now, struct guard_outcome *out)
{
    struct verify_result vr;
    long wait = peer_penalty(client, now);

    memset(out, 0, sizeof(*out));
    if (wait > 0) {
        snprintf(out->retry_after, sizeof(out->retry_after), "Retry-After: %ld\r\n", wait);
        guard_refuse(out, 429, VERIFY_REASON_THROTTLED,
                     "too many failed authentication attempts from this address", out->retry_after);
        return;
    }
    if (e->allow_from.n > 0 && !cidr_list_match(&e->allow_from, client)) {
        guard_refuse(out, 403, VERIFY_REASON_ADDRESS, "address not allowed for this source", NULL);
        return;
    }
    if (token_endpoint)
        return;
    if (!verify_run_head(e->checks, &e->keys, vreq, &vr)) {
        guard_refuse(out, vr.status, vr.reason, vr.message, vr.extra);
        if (guard_guessable(vr.reason))
            peer_failed(client, now);
        return;
    }
    out->vouched = e->head_proves;
}
