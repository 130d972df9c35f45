/*
 * event_key: SHA-256 over a canonical form of the body without the members Zoom
 * changes between its duplicate deliveries (download tokens and the URLs that embed
 * them). Retries carry the same body bytes, so they get the same key too.
 */
#include "event_key.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_KEY_DOMAIN "hookpipe-event-key-v1"

/* Members that differ between Zoom's duplicate deliveries of one notification. */
static const char *const event_key_volatile[] = {"download_token", "download_url", "play_url"};

static int event_key_is_volatile(const char *name)
{
    for (size_t i = 0; i < sizeof(event_key_volatile) / sizeof(event_key_volatile[0]); i++) {
        if (strcmp(name, event_key_volatile[i]) == 0)
            return 1;
    }
    return 0;
}

/* Removes the volatile members from v (a private deep copy) at any depth. */
static void event_key_strip(json_t *v)
{
    if (json_is_object(v)) {
        const char *name;
        json_t *member;
        void *tmp;
        json_object_foreach_safe(v, tmp, name, member)
        {
            if (event_key_is_volatile(name))
                json_object_del(v, name);
            else
                event_key_strip(member);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) event_key_strip(item);
    }
}

int event_key_compute(const char *source, const json_t *body, unsigned char out[EVENT_KEY_LEN])
{
    json_t *copy = json_deep_copy(body);
    char *canon = NULL;
    EVP_MD_CTX *md = NULL;
    unsigned int outlen = 0;
    int rc = -1;

    if (copy == NULL)
        goto done;
    event_key_strip(copy);
    canon = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (canon == NULL)
        goto done;
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(md, EVENT_KEY_DOMAIN, sizeof(EVENT_KEY_DOMAIN)) != 1 ||
        EVP_DigestUpdate(md, source, strlen(source) + 1) != 1 ||
        EVP_DigestUpdate(md, canon, strlen(canon)) != 1 ||
        EVP_DigestFinal_ex(md, out, &outlen) != 1)
        goto done;
    rc = outlen == EVENT_KEY_LEN ? 0 : -1;
done:
    EVP_MD_CTX_free(md);
    free(canon);
    json_decref(copy);
    return rc;
}
