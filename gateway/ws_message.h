/*
 * What one text message of a Zoom WebSocket subscription is (docs/websocket.md): an event
 * (module "message", its content a string holding the webhook body), a heartbeat answer,
 * Zoom's build_connection verdict, or something refused with a reason. Pure (jansson and
 * json_scan, no I/O): unit-tested in tests/unit/test_ws_message.c and fuzzed by
 * tests/fuzz/fuzz_ws_message.c. Also the reason labels of the subscription's metrics.
 */
#ifndef HOOKPIPE_WS_MESSAGE_H
#define HOOKPIPE_WS_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>

/* Why a message was not queued: hookpipe_gateway_ws_rejected_total{reason}. */
#define WS_REJECTS(X)                                                                              \
    X(BAD_JSON, "bad_json")             /* the message is not JSON */                              \
    X(NOT_OBJECT, "not_object")         /* the message, or its content, is not a JSON object */    \
    X(BAD_CONTENT, "bad_content")       /* content missing, not a string, or not JSON */           \
    X(NO_EVENT, "no_event")             /* content has no string "event" (the webhook rule) */     \
    X(UNKNOWN_MODULE, "unknown_module") /* a module we do not know, or none */                     \
    X(TOO_LARGE, "too_large") /* content over max_body_bytes, or the frame over its cap */         \
    X(BINARY, "binary")       /* a binary message (Zoom sends text) */

enum ws_reject {
#define WS_REJECT_ENUM(name, label) WS_REJECT_##name,
    WS_REJECTS(WS_REJECT_ENUM)
#undef WS_REJECT_ENUM
        WS_REJECT_COUNT
};

/* Why a link went down: the gap's reason and hookpipe_gateway_ws_reconnects_total{reason}. */
#define WS_DOWNS(X)                                                                                \
    X(CLOSED_BY_ZOOM, "closed_by_zoom")       /* a close frame, or EOF after a clean TLS close */  \
    X(CONNECTION_LOST, "connection_lost")     /* reset, TLS error, EOF without close */            \
    X(HEARTBEAT_TIMEOUT, "heartbeat_timeout") /* silent for 2 x heartbeat_s */                     \
    X(HANDSHAKE_FAILED, "handshake_failed")   /* connect, TLS or the RFC 6455 upgrade failed */    \
    X(TOKEN_REFUSED, "token_refused")         /* build_connection success:false, or no token */    \
    X(LEASE_LOST, "lease_lost")               /* another gateway holds the lease now */            \
    X(REDIS_UNREACHABLE, "redis_unreachable") /* the lease could not be renewed in time */         \
    X(GATEWAY_STOPPED, "gateway_stopped")     /* SIGTERM or SIGINT */                              \
    X(SOURCE_REMOVED, "source_removed")       /* a reload removed the source */                    \
    X(SOURCE_CHANGED, "source_changed")       /* a reload changed it: a new token, a new link */   \
    X(PROTOCOL_ERROR, "protocol_error")       /* a frame wslay refused */

enum ws_down {
#define WS_DOWN_ENUM(name, label) WS_DOWN_##name,
    WS_DOWNS(WS_DOWN_ENUM)
#undef WS_DOWN_ENUM
        WS_DOWN_COUNT
};

const char *ws_reject_label(enum ws_reject r);
const char *ws_down_label(enum ws_down d);

enum ws_message_kind {
    WS_MESSAGE_EVENT,     /* body: the webhook body to queue */
    WS_MESSAGE_HEARTBEAT, /* Zoom answered a heartbeat (success) */
    WS_MESSAGE_BUILD,     /* build_connection: success, and content as text (may be NULL) */
    WS_MESSAGE_REJECTED,  /* reject says why */
};

struct ws_message {
    enum ws_message_kind kind;
    enum ws_reject reject;
    bool success;
    char *body;      /* EVENT: the decoded content (malloc'd, NUL-terminated; caller frees) */
    size_t body_len; /* its length */
    char text[128];  /* BUILD: Zoom's content, printable, cut (for a log line) */
};

/*
 * Classifies msg[0..len): an event whose content is at most max_body bytes and passes the
 * webhook rule (a JSON object with a string "event"), a heartbeat or build_connection
 * answer, or a refusal. -1 only when out of memory.
 */
int ws_message_parse(const char *msg, size_t len, size_t max_body, struct ws_message *out)
    __attribute__((warn_unused_result));

/* The heartbeat Zoom asks for every 30 s. */
#define WS_HEARTBEAT_TEXT "{\"module\":\"heartbeat\"}"

#endif
