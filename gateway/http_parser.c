/*
 * A strict, small HTTP/1.x head parser (RFC 9112 syntax, CRLF line ends only).
 * It keeps pointers into the caller's buffer instead of copying, and recognises only
 * the headers the gateway acts on; everything else is checked for syntax and skipped.
 */
#include "http_parser.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 tchar */
static bool http_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool http_name_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* True when the comma-separated list value contains token (case-insensitive). */
static bool http_list_has(const char *v, size_t len, const char *token)
{
    size_t tlen = strlen(token);
    size_t i = 0;

    while (i < len) {
        size_t start, end;
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        start = i;
        while (i < len && v[i] != ',')
            i++;
        end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - start == tlen && strncasecmp(v + start, token, tlen) == 0)
            return true;
    }
    return false;
}

static int http_parse_request_line(const char *p, const char *eol, struct http_head *head)
{
    const char *sp1, *sp2, *q;

    sp1 = memchr(p, ' ', (size_t)(eol - p));
    if (sp1 == NULL || sp1 == p)
        return 400;
    for (q = p; q < sp1; q++) {
        if (!http_tchar((unsigned char)*q))
            return 400;
    }
    if (sp1 - p == 4 && memcmp(p, "POST", 4) == 0)
        head->method = HTTP_METHOD_POST;
    else if (sp1 - p == 3 && memcmp(p, "GET", 3) == 0)
        head->method = HTTP_METHOD_GET;
    else if (sp1 - p == 4 && memcmp(p, "HEAD", 4) == 0)
        head->method = HTTP_METHOD_HEAD;
    else
        head->method = HTTP_METHOD_OTHER;
    sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
    if (sp2 == NULL || sp2 == sp1 + 1)
        return 400;
    for (q = sp1 + 1; q < sp2; q++) {
        unsigned char c = (unsigned char)*q;
        if (c <= ' ' || c >= 0x7f)
            return 400;
    }
    head->path.p = sp1 + 1;
    q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
    head->path.len = (size_t)((q ? q : sp2) - (sp1 + 1));
    if (q != NULL) {
        head->query.p = q + 1;
        head->query.len = (size_t)(sp2 - q - 1);
    }
    if (eol - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/", 5) != 0 || sp2[7] != '.' || sp2[6] < '0' ||
        sp2[6] > '9' || sp2[8] < '0' || sp2[8] > '9')
        return 400;
    if (sp2[6] != '1')
        return 505;
    head->minor_version = sp2[8] - '0';
    head->keep_alive = head->minor_version >= 1;
    return 0;
}

static int http_parse_content_length(const char *v, size_t len, struct http_head *head)
{
    int64_t n = 0;

    if (len == 0)
        return 400;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9' || n > (INT64_MAX - 9) / 10)
            return 400;
        n = n * 10 + (v[i] - '0');
    }
    if (head->content_length >= 0 && head->content_length != n)
        return 400; /* conflicting duplicates: a request-smuggling shape */
    head->content_length = n;
    return 0;
}

static int http_parse_header(const char *p, const char *eol, struct http_head *head)
{
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    const char *v, *vend;
    size_t nlen;

    if (colon == NULL || colon == p)
        return 400;
    for (const char *q = p; q < colon; q++) {
        if (!http_tchar((unsigned char)*q))
            return 400; /* includes whitespace before the colon */
    }
    nlen = (size_t)(colon - p);
    v = colon + 1;
    vend = eol;
    while (v < vend && (*v == ' ' || *v == '\t'))
        v++;
    while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
        vend--;
    for (const char *q = v; q < vend; q++) {
        unsigned char c = (unsigned char)*q;
        if ((c < ' ' && c != '\t') || c == 0x7f)
            return 400;
    }
    struct http_str val = {v, (size_t)(vend - v)};
    switch (nlen) {
    case 6:
        if (http_name_is(p, nlen, "expect") && http_list_has(v, val.len, "100-continue"))
            head->expect_continue = true;
        break;
    case 10:
        if (http_name_is(p, nlen, "connection")) {
            if (http_list_has(v, val.len, "close")) {
                head->connection_close = true; /* final, whatever a later header says */
                head->keep_alive = false;
            } else if (!head->connection_close && http_list_has(v, val.len, "keep-alive")) {
                head->keep_alive = true;
            }
        }
        break;
    case 14:
        if (http_name_is(p, nlen, "content-length"))
            return http_parse_content_length(v, val.len, head);
        if (http_name_is(p, nlen, "x-zm-signature"))
            head->signature = val;
        break;
    case 15:
        if (http_name_is(p, nlen, "x-zm-request-id"))
            head->request_id = val;
        else if (http_name_is(p, nlen, "x-zm-trackingid"))
            head->tracking_id = val;
        break;
    case 17:
        if (http_name_is(p, nlen, "transfer-encoding"))
            head->chunked = true;
        break;
    case 22:
        if (http_name_is(p, nlen, "x-zm-request-timestamp"))
            head->timestamp = val;
        break;
    default:
        break;
    }
    return 0;
}

int http_parse_head(const char *buf, size_t len, struct http_head *head)
{
    const char *p = buf;
    const char *end = buf + len;
    const char *eol;
    int rc, nheaders = 0;

    memset(head, 0, sizeof(*head));
    head->start = buf;
    head->content_length = -1;
    if (len < 4 || memcmp(end - 4, "\r\n\r\n", 4) != 0)
        return 400;
    /* RFC 9112 2.2: ignore at least one empty line before the request line */
    while (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
        p += 2;
    eol = memchr(p, '\r', (size_t)(end - p));
    if (eol == NULL || eol + 1 >= end || eol[1] != '\n')
        return 400;
    rc = http_parse_request_line(p, eol, head);
    if (rc != 0)
        return rc;
    p = eol + 2;
    head->fields.p = p;
    head->fields.len = (size_t)(end - 2 - p);
    while (p < end) {
        eol = memchr(p, '\r', (size_t)(end - p));
        if (eol == NULL || eol + 1 >= end || eol[1] != '\n')
            return 400;
        if (eol == p)
            return p + 2 == end ? 0 : 400;
        if (*p == ' ' || *p == '\t')
            return 400; /* obsolete line folding */
        if (++nheaders > HTTP_MAX_HEADERS)
            return 400;
        rc = http_parse_header(p, eol, head);
        if (rc != 0)
            return rc;
        p = eol + 2;
    }
    return 400;
}

int http_find_header(const struct http_head *head, const char *name, size_t nlen,
                     struct http_str *out)
{
    const char *p = head->fields.p;
    const char *end = p != NULL ? p + head->fields.len : NULL;
    int found = 0;

    out->p = NULL;
    out->len = 0;
    /* the head was validated: every line ends in CRLF and has a colon after a token */
    while (p != NULL && p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        const char *colon, *v, *vend;
        if (eol == NULL)
            eol = end;
        colon = memchr(p, ':', (size_t)(eol - p));
        if (colon != NULL && (size_t)(colon - p) == nlen && strncasecmp(p, name, nlen) == 0) {
            v = colon + 1;
            vend = eol;
            while (v < vend && (*v == ' ' || *v == '\t'))
                v++;
            while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
                vend--;
            if (found++ == 0) {
                out->p = v;
                out->len = (size_t)(vend - v);
            }
            if (found == 2)
                break;
        }
        p = eol + 2;
    }
    return found;
}
