/*
 * event_key: SHA-256 over the body as received, less the values Zoom changes between
 * its duplicate deliveries (download tokens and the URLs that embed them). Retries
 * carry the same bytes, so they get the same key; the hash is fed by json_scan's emit
 * callback, so validating a body and keying it is one pass with no allocation.
 */
#include "event_key.h"

#include <openssl/evp.h>
#include <string.h>

#define EVENT_KEY_DOMAIN "hookpipe-event-key-v2"
#define EVENT_KEY_PROVIDER_ID "hookpipe-event-key-provider-v1"
#define EVENT_KEY_PROVIDER_BODY "hookpipe-event-key-provider-body-v1"

struct event_key_hash {
    EVP_MD_CTX *md;
    int failed; /* an update failed */
};

static void event_key_emit(void *arg, const char *p, size_t len)
{
    struct event_key_hash *h = arg;

    if (len > 0 && EVP_DigestUpdate(h->md, p, len) != 1)
        h->failed = 1;
}

int event_key_scan(const char *source, const char *body, size_t len, struct json_scan_result *res,
                   unsigned char out[EVENT_KEY_LEN], const char **why)
{
    static EVP_MD *sha256;
    struct event_key_hash h = {EVP_MD_CTX_new(), 0};
    struct json_scan_opts opts = {JSON_SCAN_TEXT, event_key_emit, &h};
    unsigned int outlen = 0;
    int rc = -2;

    /* writers are single-threaded: one fetched implementation serves every row */
    if (sha256 == NULL)
        sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (h.md == NULL || sha256 == NULL || EVP_DigestInit_ex(h.md, sha256, NULL) != 1 ||
        EVP_DigestUpdate(h.md, EVENT_KEY_DOMAIN, sizeof(EVENT_KEY_DOMAIN)) != 1 ||
        EVP_DigestUpdate(h.md, source, strlen(source) + 1) != 1)
        goto done;
    if (json_scan(body, len, &opts, res, why) != 0) {
        rc = -1;
        goto done;
    }
    if (!h.failed && EVP_DigestFinal_ex(h.md, out, &outlen) == 1 && outlen == EVENT_KEY_LEN)
        rc = 0;
done:
    EVP_MD_CTX_free(h.md);
    return rc;
}

/* SHA-256 of domain (its NUL included), source NUL, provider NUL, then data[0..len). */
static int event_key_provider(const char *domain, size_t domain_size, const char *source,
                              const char *provider, const char *data, size_t len,
                              unsigned char out[EVENT_KEY_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int outlen = 0;
    int rc = -1;

    if (md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(md, domain, domain_size) == 1 &&
        EVP_DigestUpdate(md, source, strlen(source) + 1) == 1 &&
        EVP_DigestUpdate(md, provider, strlen(provider) + 1) == 1 &&
        (len == 0 || EVP_DigestUpdate(md, data, len) == 1) &&
        EVP_DigestFinal_ex(md, out, &outlen) == 1 && outlen == EVENT_KEY_LEN)
        rc = 0;
    EVP_MD_CTX_free(md);
    return rc;
}

int event_key_provider_id(const char *source, const char *provider, const char *id, size_t idlen,
                          unsigned char out[EVENT_KEY_LEN])
{
    return event_key_provider(EVENT_KEY_PROVIDER_ID, sizeof(EVENT_KEY_PROVIDER_ID), source,
                              provider, id, idlen, out);
}

int event_key_provider_body(const char *source, const char *provider, const char *body, size_t len,
                            unsigned char out[EVENT_KEY_LEN])
{
    return event_key_provider(EVENT_KEY_PROVIDER_BODY, sizeof(EVENT_KEY_PROVIDER_BODY), source,
                              provider, body, len, out);
}
