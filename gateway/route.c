/*
 * The routing table (see route.h). A /hooks/ path names a source when what follows is
 * 1 to NAME_MAX_LEN bytes without a '/' (then, for the token endpoint, "/token"); whether that
 * source exists is the keyring's answer, asked by the caller before the method is checked (an
 * unknown source is 404).
 */
#include "route.h"

#include <string.h>

#include "name.h"

#define ROUTE_HOOKS "/hooks/"
#define ROUTE_HOOKS_LEN (sizeof(ROUTE_HOOKS) - 1)
#define ROUTE_TOKEN_SUFFIX "/token"
#define ROUTE_TOKEN_LEN (sizeof(ROUTE_TOKEN_SUFFIX) - 1)

static const char route_allow_get[] = "Allow: GET, HEAD\r\n";
static const char route_allow_post[] = "Allow: POST\r\n";

static int route_path_is(const struct http_str *path, const char *want)
{
    size_t n = strlen(want);

    return path->len == n && memcmp(path->p, want, n) == 0;
}

void route_match(const struct http_head *h, struct route *r)
{
    const struct http_str *path = &h->path;
    bool get = h->method == HTTP_METHOD_GET || h->method == HTTP_METHOD_HEAD;

    memset(r, 0, sizeof(*r));
    if (route_path_is(path, "/healthz") || route_path_is(path, "/readyz")) {
        r->target = path->len == 8 ? ROUTE_HEALTHZ : ROUTE_READYZ;
        r->allow = get ? NULL : route_allow_get;
        return;
    }
    if (path->len <= ROUTE_HOOKS_LEN || memcmp(path->p, ROUTE_HOOKS, ROUTE_HOOKS_LEN) != 0) {
        r->target = ROUTE_NOT_FOUND;
        return;
    }
    const char *name = path->p + ROUTE_HOOKS_LEN;
    size_t rest = path->len - ROUTE_HOOKS_LEN;
    const char *slash = memchr(name, '/', rest);
    size_t nlen = slash != NULL ? (size_t)(slash - name) : rest;
    if (nlen == 0 || nlen > NAME_MAX_LEN ||
        (slash != NULL && (rest - nlen != ROUTE_TOKEN_LEN ||
                           memcmp(slash, ROUTE_TOKEN_SUFFIX, ROUTE_TOKEN_LEN) != 0))) {
        r->target = ROUTE_NOT_FOUND;
        return;
    }
    r->target = slash != NULL ? ROUTE_TOKEN : ROUTE_HOOK;
    r->source = name;
    r->source_len = nlen;
    r->allow = h->method == HTTP_METHOD_POST ? NULL : route_allow_post;
}
