/*
 * libFuzzer target for the gateway's HTTP head parser (gateway/http_parser.h), which sees
 * raw network bytes, and the routing of what it parses (gateway/route.h). The input is cut
 * after its first CRLF CRLF, as the gateway does before calling http_parse_head(); every
 * string the parser or the router returns must lie inside the buffer.
 */
#include "http_parser.h"
#include "route.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_str(const struct http_str *s, const char *buf, size_t len)
{
    if (s->p == NULL)
        return;
    if (s->p < buf || s->len > len || s->p + s->len > buf + len)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *end = NULL;
    struct http_head head;
    size_t len;
    char *buf;
    int rc;

    for (size_t i = 0; i + 4 <= size; i++) {
        if (memcmp(data + i, "\r\n\r\n", 4) == 0) {
            end = data + i + 4;
            break;
        }
    }
    if (end == NULL)
        return 0;
    len = (size_t)(end - data);
    buf = malloc(len); /* exact size: overreads are caught */
    if (buf == NULL)
        return 0;
    memcpy(buf, data, len);
    memset(&head, 0xa5, sizeof(head)); /* garbage in: the parser must set what it reports */
    rc = http_parse_head(buf, len, &head);
    if (rc == 0) {
        fuzz_check_str(&head.path, buf, len);
        fuzz_check_str(&head.signature, buf, len);
        fuzz_check_str(&head.timestamp, buf, len);
        fuzz_check_str(&head.request_id, buf, len);
        fuzz_check_str(&head.tracking_id, buf, len);
        fuzz_check_str(&head.query, buf, len);
        fuzz_check_str(&head.fields, buf, len);
        /* any header by name: the lookup stays in the head and agrees on presence */
        struct http_str v;
        int n = http_find_header(&head, "authorization", 13, &v);
        if (n < 0 || n > 2 || (n > 0) != (v.p != NULL))
            __builtin_trap();
        fuzz_check_str(&v, buf, len);
        n = http_find_header(&head, "content-length", 14, &v);
        if ((n > 0) != (head.content_length >= 0))
            __builtin_trap();
        if (head.content_length < -1 || head.minor_version < 0 || head.minor_version > 9)
            __builtin_trap();
        if (head.method != HTTP_METHOD_OTHER && head.method != HTTP_METHOD_GET &&
            head.method != HTTP_METHOD_HEAD && head.method != HTTP_METHOD_POST)
            __builtin_trap();
        struct route r;
        route_match(&head, &r);
        if (r.target == ROUTE_HOOK || r.target == ROUTE_TOKEN) {
            struct http_str src = {r.source, r.source_len};
            fuzz_check_str(&src, buf, len);
            if (r.source_len == 0 || r.source_len > 64 || memchr(r.source, '/', r.source_len))
                __builtin_trap();
        }
    } else if (rc != 400 && rc != 505) {
        __builtin_trap();
    }
    free(buf);
    return 0;
}
