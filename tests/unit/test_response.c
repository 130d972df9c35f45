/*
 * Unit tests for gateway/response.c: reason phrases, answer heads (with and without
 * extra lines and Connection: close), and the JSON bodies, escaping and cut-off included.
 */
#include <string.h>

#include "check.h"
#include "response.h"

static void test_reasons(void)
{
    CHECK_STR_EQ(response_reason(200), "OK");
    CHECK_STR_EQ(response_reason(401), "Unauthorized");
    CHECK_STR_EQ(response_reason(413), "Content Too Large");
    CHECK_STR_EQ(response_reason(431), "Request Header Fields Too Large");
    CHECK_STR_EQ(response_reason(503), "Service Unavailable");
    CHECK_STR_EQ(response_reason(505), "HTTP Version Not Supported");
    CHECK_STR_EQ(response_reason(418), "Error");
}

static void test_heads(void)
{
    char buf[256];
    int n = response_head(buf, sizeof(buf), 200, NULL, 15, false);

    CHECK_STR_EQ(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      "Content-Length: 15\r\n\r\n");
    CHECK_LONG_EQ(n, (long)strlen(buf));
    n = response_head(buf, sizeof(buf), 503, "Retry-After: 5\r\n", 22, true);
    CHECK_STR_EQ(buf, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                      "Content-Length: 22\r\nRetry-After: 5\r\nConnection: close\r\n\r\n");
    CHECK_LONG_EQ(n, (long)strlen(buf));
    CHECK_LONG_EQ(response_head(buf, 20, 200, NULL, 1, false), -1); /* does not fit */
}

static void test_bodies(void)
{
    char body[RESPONSE_ERROR_MAX], q[RESPONSE_QUEUED_MAX], longmsg[600];
    size_t n = response_error_body(body, "body has no string \"event\" \\ here");

    CHECK_STR_EQ(body, "{\"error\":\"body has no string \\\"event\\\" \\\\ here\"}");
    CHECK_LONG_EQ((long)n, (long)strlen(body));
    memset(longmsg, 'x', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = '\0';
    n = response_error_body(body, longmsg);
    CHECK(n < RESPONSE_ERROR_MAX);
    CHECK_LONG_EQ((long)n, (long)strlen(body));
    CHECK(memcmp(body + n - 2, "\"}", 2) == 0);
    longmsg[0] = '"'; /* an escape at the cut-off still leaves valid JSON */
    memset(longmsg, '"', sizeof(longmsg) - 1);
    n = response_error_body(body, longmsg);
    CHECK(n < RESPONSE_ERROR_MAX);
    CHECK(body[n - 3] == '"' && body[n - 4] == '\\');
    n = response_queued_body(q, "0123456789ab01000000002a");
    CHECK_STR_EQ(q, "{\"status\":\"queued\",\"id\":\"0123456789ab01000000002a\"}");
    CHECK_LONG_EQ((long)n, (long)strlen(q));
}

int main(void)
{
    test_reasons();
    test_heads();
    test_bodies();
    return check_summary("test_response");
}
