/*
 * Body inspection after verification (see hook.h): one pass of json_scan decides, and
 * only the rare url_validation body is parsed in full (jansson) to build its answer.
 */
#include "hook.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"

#define HOOK_PLAIN_TOKEN_MAX 1024

/* True when the raw "event" string is endpoint.url_validation (escaped or not). */
static bool hook_is_url_validation(const struct json_scan_str *ev)
{
    static const char name[] = "endpoint.url_validation";
    bool yes;

    if (!ev->escaped)
        return ev->len == sizeof(name) - 1 && memcmp(ev->p, name, ev->len) == 0;
    /* escapes are rare: decode the value, then compare */
    char *s = json_scan_str_decode(ev);
    yes = s != NULL && strcmp(s, name) == 0;
    free(s);
    return yes;
}

static void hook_answer(struct hook_result *res, int status, const char *message)
{
    res->action = HOOK_ANSWER;
    res->status = status;
    res->message = message;
    res->out_of_memory = status == 503;
}

/* endpoint.url_validation: {"plainToken","encryptedToken"} with the token signed by key. */
static void hook_url_validation(const char *body, size_t len, struct zoom_key *key,
                                struct hook_result *res)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    json_t *token = json_object_get(json_object_get(root, "payload"), "plainToken");
    char hex[ZOOM_HEX_LEN + 1];
    json_t *obj = NULL;

    if (!json_is_string(token) || json_string_length(token) == 0 ||
        json_string_length(token) > HOOK_PLAIN_TOKEN_MAX) {
        hook_answer(res, 400, "url_validation without payload.plainToken");
        goto done;
    }
    if (zoom_hmac_hex(key, json_string_value(token), json_string_length(token), hex) < 0) {
        hook_answer(res, 503, "out of memory");
        goto done;
    }
    obj = json_pack("{s:O,s:s}", "plainToken", token, "encryptedToken", hex);
    res->body = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    hook_answer(res, res->body != NULL ? 200 : 503, res->body != NULL ? NULL : "out of memory");
done:
    json_decref(obj);
    json_decref(root);
}

void hook_inspect(const char *body, size_t len, struct zoom_key *key, struct hook_result *res)
{
    struct json_scan_result scan;
    const char *why;

    memset(res, 0, sizeof(*res));
    if (json_scan(body, len, NULL, &scan, &why) < 0) {
        hook_answer(res, 400, why);
        return;
    }
    if (scan.event.p == NULL) {
        hook_answer(res, 400, "JSON object has no string \"event\"");
        return;
    }
    if (hook_is_url_validation(&scan.event)) {
        hook_url_validation(body, len, key, res);
        return;
    }
    res->action = HOOK_DELIVER;
}
