/*
 * libFuzzer target for hookpipe-ctl's http_response_head_parse(), which reads the bytes a
 * replay target answers, and http_url_parse() (--to). Beyond not crashing: a rejection
 * says why, an accepted head has a status of 100..999 and a keep-alive connection only
 * with a framing that ends.
 */
#include "http_msg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1); /* exact size: reads past the end are caught */
    char *url = malloc(size + 1);
    struct http_response_head h;
    struct http_url u;
    const char *why = NULL;

    if (buf == NULL || url == NULL)
        goto done;
    memcpy(buf, data, size);
    if (http_response_head_parse(buf, size, &h, &why) != 0) {
        if (why == NULL)
            __builtin_trap();
    } else if (h.status < 100 || h.status > 999 ||
               (h.keep_alive && h.framing == HTTP_FRAME_CLOSE)) {
        __builtin_trap();
    }
    memcpy(url, data, size);
    url[size] = '\0';
    why = NULL;
    if (http_url_parse(url, &u, &why) != 0) {
        if (why == NULL)
            __builtin_trap();
    } else if (u.port < 1 || u.port > 65535 || u.path[0] != '/' || u.host[0] == '\0') {
        __builtin_trap();
    }
done:
    free(url);
    free(buf);
    return 0;
}
