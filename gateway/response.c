/*
 * Answer formatting (see response.h): one table of reason phrases and the few header
 * and body shapes every answer of the gateway is made of.
 */
#include "response.h"

#include <stdio.h>
#include <string.h>

const char *response_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

int response_head(char *buf, size_t cap, int status, const char *extra, size_t body_len,
                  bool close_after)
{
    int n = snprintf(buf, cap,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s%s\r\n",
                     status, response_reason(status), body_len, extra ? extra : "",
                     close_after ? "Connection: close\r\n" : "");

    return n < 0 || (size_t)n >= cap ? -1 : n;
}

size_t response_error_body(char out[RESPONSE_ERROR_MAX], const char *msg)
{
    static const char open[] = "{\"error\":\"";
    size_t n = sizeof(open) - 1;

    memcpy(out, open, n);
    for (const char *m = msg; *m != '\0' && n < RESPONSE_ERROR_MAX - 4; m++) {
        if (*m == '"' || *m == '\\')
            out[n++] = '\\';
        out[n++] = *m;
    }
    memcpy(out + n, "\"}", 3);
    return n + 2;
}

size_t response_queued_body(char out[RESPONSE_QUEUED_MAX], const char *id)
{
    int n = snprintf(out, RESPONSE_QUEUED_MAX, "{\"status\":\"queued\",\"id\":\"%s\"}", id);

    return n < 0 ? 0 : (size_t)n < RESPONSE_QUEUED_MAX ? (size_t)n : RESPONSE_QUEUED_MAX - 1;
}
