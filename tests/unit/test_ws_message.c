/*
 * Unit tests for gateway/ws_message.c: a Zoom WebSocket message is an event (its content, a
 * string, decoded to the webhook body and held to the webhook rule and max_body), a
 * heartbeat or build_connection answer, or refused with the reason its metric counts; and
 * gateway/ws_conn.c's Sec-WebSocket-Accept (RFC 6455 section 1.3's worked example).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ws_conn.h"
#include "ws_message.h"

static struct ws_message parse(const char *msg, size_t max_body)
{
    struct ws_message m;

    CHECK(ws_message_parse(msg, strlen(msg), max_body, &m) == 0);
    return m;
}

static void check_rejected(const char *msg, size_t max_body, enum ws_reject why)
{
    struct ws_message m = parse(msg, max_body);

    CHECKF(m.kind == WS_MESSAGE_REJECTED && m.reject == why && m.body == NULL,
           "%s: kind %d reject %s, want %s", msg, (int)m.kind, ws_reject_label(m.reject),
           ws_reject_label(why));
}

int main(void)
{
    struct ws_message m;
    char accept[29];
    char big[512];

    /* an event: content decoded (escapes undone), the bytes Zoom signed are what it holds */
    m = parse("{\"module\":\"message\",\"content\":\"{\\\"event\\\":\\\"meeting.started\\\","
              "\\\"event_ts\\\":1,\\\"payload\\\":{\\\"n\\\":\\\"a\\\\u00e9\\\"}}\"}",
              1024);
    CHECK(m.kind == WS_MESSAGE_EVENT);
    CHECK_STR_EQ(m.body,
                 "{\"event\":\"meeting.started\",\"event_ts\":1,\"payload\":{\"n\":\"a\\u00e9\"}}");
    CHECK(m.body_len == strlen(m.body));
    free(m.body);

    /* max_body: content of exactly max_body bytes passes, one more is too large */
    m = parse("{\"module\":\"message\",\"content\":\"{\\\"event\\\":\\\"x\\\"}\"}", 13);
    CHECK(m.kind == WS_MESSAGE_EVENT && m.body_len == 13);
    free(m.body);
    check_rejected("{\"module\":\"message\",\"content\":\"{\\\"event\\\":\\\"x\\\"}\"}", 12,
                   WS_REJECT_TOO_LARGE);

    /* refusals, each with its own reason */
    check_rejected("not json", 1024, WS_REJECT_BAD_JSON);
    check_rejected("{\"module\":\"message\"", 1024, WS_REJECT_BAD_JSON);
    check_rejected("[1,2]", 1024, WS_REJECT_NOT_OBJECT);
    check_rejected("\"message\"", 1024, WS_REJECT_NOT_OBJECT);
    check_rejected("{\"module\":\"message\"}", 1024, WS_REJECT_BAD_CONTENT);
    check_rejected("{\"module\":\"message\",\"content\":{\"event\":\"x\"}}", 1024,
                   WS_REJECT_BAD_CONTENT);
    check_rejected("{\"module\":\"message\",\"content\":\"{not json\"}", 1024,
                   WS_REJECT_BAD_CONTENT);
    check_rejected("{\"module\":\"message\",\"content\":\"[1]\"}", 1024, WS_REJECT_NOT_OBJECT);
    check_rejected("{\"module\":\"message\",\"content\":\"{\\\"event\\\":1}\"}", 1024,
                   WS_REJECT_NO_EVENT);
    check_rejected("{\"module\":\"message\",\"content\":\"{}\"}", 1024, WS_REJECT_NO_EVENT);
    check_rejected("{\"module\":\"presence\",\"content\":\"x\"}", 1024, WS_REJECT_UNKNOWN_MODULE);
    check_rejected("{\"content\":\"x\"}", 1024, WS_REJECT_UNKNOWN_MODULE);
    check_rejected("{\"module\":7}", 1024, WS_REJECT_UNKNOWN_MODULE);

    /* Zoom's answers */
    m = parse("{\"module\":\"heartbeat\",\"success\":true,\"content\":\"live\",\"version\":1}", 16);
    CHECK(m.kind == WS_MESSAGE_HEARTBEAT && m.success);
    m = parse("{\"module\":\"build_connection\",\"success\":false,\"content\":\"token is empty\"}",
              16);
    CHECK(m.kind == WS_MESSAGE_BUILD && !m.success);
    CHECK_STR_EQ(m.text, "token is empty");
    /* Zoom's text is made printable and cut for the log line */
    snprintf(big, sizeof(big),
             "{\"module\":\"build_connection\",\"success\":false,\"content\":\"%s", "a\\\"b\\nc");
    memset(big + strlen(big), 'z', 300);
    big[sizeof(big) - 3] = '\0';
    strcat(big, "\"}");
    m = parse(big, 16);
    CHECK(m.kind == WS_MESSAGE_BUILD && strncmp(m.text, "a?b?c", 5) == 0 &&
          strlen(m.text) == sizeof(m.text) - 1);

    /* labels: one per reason, the metric's */
    CHECK_STR_EQ(ws_reject_label(WS_REJECT_TOO_LARGE), "too_large");
    CHECK_STR_EQ(ws_down_label(WS_DOWN_HEARTBEAT_TIMEOUT), "heartbeat_timeout");
    CHECK_STR_EQ(ws_down_label(WS_DOWN_COUNT), "unknown");

    /* RFC 6455 1.3: key dGhlIHNhbXBsZSBub25jZQ== gives s3pPLMBiTxaQ9kYGzzhZRbK+xOo= */
    ws_conn_accept_for("dGhlIHNhbXBsZSBub25jZQ==", accept);
    CHECK_STR_EQ(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    return check_summary("test_ws_message");
}
