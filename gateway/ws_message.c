/* Zoom WebSocket messages to events, answers and refusals (see ws_message.h). */
#include "ws_message.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"

const char *ws_reject_label(enum ws_reject r)
{
    static const char *const labels[] = {
#define WS_REJECT_LABEL(name, label) label,
        WS_REJECTS(WS_REJECT_LABEL)
#undef WS_REJECT_LABEL
    };

    return (unsigned)r < WS_REJECT_COUNT ? labels[r] : "unknown";
}

const char *ws_down_label(enum ws_down d)
{
    static const char *const labels[] = {
#define WS_DOWN_LABEL(name, label) label,
        WS_DOWNS(WS_DOWN_LABEL)
#undef WS_DOWN_LABEL
    };

    return (unsigned)d < WS_DOWN_COUNT ? labels[d] : "unknown";
}

static void ws_message_reject(struct ws_message *out, enum ws_reject why)
{
    out->kind = WS_MESSAGE_REJECTED;
    out->reject = why;
}

/* Zoom's text for a log line: printable ASCII, cut to fit. */
static void ws_message_text(struct ws_message *out, const char *s, size_t n)
{
    size_t j = 0;

    for (size_t i = 0; i < n && j + 1 < sizeof(out->text); i++) {
        unsigned char c = (unsigned char)s[i];
        out->text[j++] = c >= ' ' && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
    }
    out->text[j] = '\0';
}

/* module "message": content must be a string holding a webhook body. 0, or -1 (memory). */
static int ws_message_event(json_t *root, size_t max_body, struct ws_message *out)
{
    json_t *content = json_object_get(root, "content");
    struct json_scan_result scan;
    const char *why;
    const char *s;
    size_t n;

    if (!json_is_string(content)) {
        ws_message_reject(out, WS_REJECT_BAD_CONTENT);
        return 0;
    }
    s = json_string_value(content);
    n = json_string_length(content);
    if (n > max_body) {
        ws_message_reject(out, WS_REJECT_TOO_LARGE);
        return 0;
    }
    if (json_scan(s, n, NULL, &scan, &why) < 0) {
        /* json_scan refuses any top level but an object: say which it was */
        json_t *v = json_loadb(s, n, JSON_DECODE_ANY, NULL);
        ws_message_reject(out, v != NULL ? WS_REJECT_NOT_OBJECT : WS_REJECT_BAD_CONTENT);
        json_decref(v);
        return 0;
    }
    if (scan.event.p == NULL) {
        ws_message_reject(out, WS_REJECT_NO_EVENT);
        return 0;
    }
    out->body = malloc(n + 1);
    if (out->body == NULL)
        return -1;
    memcpy(out->body, s, n);
    out->body[n] = '\0';
    out->body_len = n;
    out->kind = WS_MESSAGE_EVENT;
    return 0;
}

int ws_message_parse(const char *msg, size_t len, size_t max_body, struct ws_message *out)
{
    json_error_t err;
    json_t *root;
    const char *module;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    root = json_loadb(msg, len, JSON_DECODE_ANY, &err);
    if (root == NULL) {
        ws_message_reject(out, WS_REJECT_BAD_JSON);
        return 0;
    }
    module = json_string_value(json_object_get(root, "module"));
    if (!json_is_object(root))
        ws_message_reject(out, WS_REJECT_NOT_OBJECT);
    else if (module == NULL)
        ws_message_reject(out, WS_REJECT_UNKNOWN_MODULE);
    else if (strcmp(module, "message") == 0)
        rc = ws_message_event(root, max_body, out);
    else if (strcmp(module, "heartbeat") == 0 || strcmp(module, "build_connection") == 0) {
        json_t *content = json_object_get(root, "content");
        out->kind = module[0] == 'h' ? WS_MESSAGE_HEARTBEAT : WS_MESSAGE_BUILD;
        out->success = json_is_true(json_object_get(root, "success"));
        if (json_is_string(content))
            ws_message_text(out, json_string_value(content), json_string_length(content));
    } else
        ws_message_reject(out, WS_REJECT_UNKNOWN_MODULE);
    json_decref(root);
    return rc;
}
