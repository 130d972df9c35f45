/*
 * Body inspection after verification (see hook.h): one pass of json_scan decides, and
 * only the rare url_validation body is parsed in full (jansson) to build its answer.
 */
#include "hook.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"

/*
 * Zoom's plainToken is a short random string: 22 base64url characters in its documentation
 * ("qgg8vlvZRS6UYooatFL8Aw", tests/fixtures/zoom/). Accepted: 1..128 characters of the
 * base64 and base64url alphabets and '.', so never a ':' (no "v0:TS:BODY" to sign).
 */
#define HOOK_PLAIN_TOKEN_MAX 128

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

/* True when s[0..n) is a plainToken of Zoom's shape (see HOOK_PLAIN_TOKEN_MAX). */
static bool hook_plain_token_ok(const char *s, size_t n)
{
    if (n == 0 || n > HOOK_PLAIN_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  (c != '\0' && strchr("-_+/=.", c) != NULL);
        if (!ok)
            return false;
    }
    return true;
}

/* endpoint.url_validation: {"plainToken","encryptedToken"} with the token signed by key. */
static void hook_url_validation(const char *body, size_t len, struct zoom_key *key,
                                struct hook_result *res)
{
    json_error_t jerr;
    json_t *root = NULL;
    json_t *token;
    char hex[ZOOM_HEX_LEN + 1];
    json_t *obj = NULL;

    if (key == NULL) {
        hook_answer(res, 401, "url_validation needs a valid x-zm-signature");
        return;
    }
    root = json_loadb(body, len, 0, &jerr);
    token = json_object_get(json_object_get(root, "payload"), "plainToken");
    if (!json_is_string(token)) {
        hook_answer(res, 400, "url_validation without payload.plainToken");
        goto done;
    }
    if (!hook_plain_token_ok(json_string_value(token), json_string_length(token))) {
        hook_answer(res, 400,
                    "payload.plainToken is not 1-128 characters of A-Z a-z 0-9 - _ + / = .");
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

/* Slack's url_verification: {"type":"url_verification","challenge":...}; NULL otherwise. */
static json_t *hook_slack_challenge(json_t *root)
{
    json_t *type = json_object_get(root, "type");
    json_t *challenge = json_object_get(root, "challenge");

    if (!json_is_string(type) || strcmp(json_string_value(type), "url_verification") != 0)
        return NULL;
    return json_is_string(challenge) ? challenge : NULL;
}

void hook_inspect_provider(enum provider_id provider, const char *body, size_t len,
                           struct hook_result *res)
{
    json_error_t jerr;
    json_t *root, *challenge, *obj;

    memset(res, 0, sizeof(*res));
    root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        hook_answer(res, json_error_code(&jerr) == json_error_out_of_memory ? 503 : 400,
                    json_error_code(&jerr) == json_error_out_of_memory ? "out of memory"
                                                                       : "body is not JSON");
        return;
    }
    challenge = provider == PROVIDER_SLACK ? hook_slack_challenge(root) : NULL;
    if (challenge == NULL) {
        json_decref(root);
        res->action = HOOK_DELIVER;
        return;
    }
    obj = json_pack("{s:O}", "challenge", challenge);
    res->body = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    hook_answer(res, res->body != NULL ? 200 : 503, res->body != NULL ? NULL : "out of memory");
    json_decref(obj);
    json_decref(root);
}
