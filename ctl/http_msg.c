/*
 * URL and response-head parsing for replay's HTTP client (see http_msg.h); unit-tested in
 * tests/unit/test_ctl_http_msg.c.
 */
#include "http_msg.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int http_url_parse(const char *url, struct http_url *out, const char **why)
{
    const char *p, *host, *host_end, *port_s = NULL;
    size_t hlen;

    memset(out, 0, sizeof(*out));
    if (strncasecmp(url, "http://", 7) == 0) {
        p = url + 7;
        out->port = 80;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        p = url + 8;
        out->tls = true;
        out->port = 443;
    } else {
        *why = "the URL must start with http:// or https://";
        return -1;
    }
    for (const char *q = url; *q != '\0'; q++) {
        if ((unsigned char)*q <= ' ' || *q == 0x7f) {
            *why = "the URL contains a space or control character";
            return -1;
        }
    }
    if (*p == '[') {
        host = p + 1;
        host_end = strchr(host, ']');
        if (host_end == NULL) {
            *why = "unclosed [ in the URL's host";
            return -1;
        }
        p = host_end + 1;
    } else {
        host = p;
        while (*p != '\0' && *p != ':' && *p != '/' && *p != '?' && *p != '#' && *p != '@')
            p++;
        host_end = p;
    }
    if (*p == '@' || memchr(host, '@', (size_t)(host_end - host)) != NULL) {
        *why = "user:password@ in the URL is not supported";
        return -1;
    }
    hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen >= sizeof(out->host)) {
        *why = "the URL has no host (or an overlong one)";
        return -1;
    }
    memcpy(out->host, host, hlen);
    if (*p == ':') {
        char *end;
        long port;
        port_s = ++p;
        port = strtol(port_s, &end, 10);
        if (end == port_s || !isdigit((unsigned char)*port_s) || port < 1 || port > 65535 ||
            (*end != '\0' && *end != '/' && *end != '?')) {
            *why = "bad port in the URL";
            return -1;
        }
        out->port = (int)port;
        p = end;
    }
    if (*p != '\0' && *p != '/' && *p != '?') {
        *why = "bad URL after the host";
        return -1;
    }
    if (strchr(p, '#') != NULL) {
        *why = "a #fragment in the URL is not supported";
        return -1;
    }
    if (strlen(p) + 2 > sizeof(out->path)) {
        *why = "the URL's path is too long";
        return -1;
    }
    snprintf(out->path, sizeof(out->path), "%s%s", *p == '/' ? "" : "/", p);
    if (strchr(out->host, ':') != NULL)
        snprintf(out->hostport, sizeof(out->hostport), "[%s]", out->host);
    else
        snprintf(out->hostport, sizeof(out->hostport), "%s", out->host);
    if (port_s != NULL) {
        size_t n = strlen(out->hostport);
        snprintf(out->hostport + n, sizeof(out->hostport) - n, ":%d", out->port);
    }
    return 0;
}

/* True when the comma-separated header value v[0..n) holds token tok (case-insensitive). */
static bool http_has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    size_t i = 0;

    while (i < n) {
        size_t start, end;
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        start = i;
        while (i < n && v[i] != ',')
            i++;
        end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - start == tl && strncasecmp(v + start, tok, tl) == 0)
            return true;
    }
    return false;
}

int http_response_head_parse(const char *buf, size_t len, struct http_response_head *out,
                             const char **why)
{
    const char *p = buf, *end = buf + len, *eol;
    bool http10, have_length = false, chunked = false, close = false, keep = false;

    memset(out, 0, sizeof(*out));
    out->retry_after_s = -1;
    eol = memchr(p, '\n', len);
    if (eol == NULL || len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
        p[8] != ' ' || !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
        !isdigit((unsigned char)p[11]) || (p + 12 < eol && p[12] != ' ' && p[12] != '\r')) {
        *why = "not an HTTP/1.x status line";
        return -1;
    }
    http10 = p[7] == '0';
    out->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (out->status < 100) {
        *why = "bad status code";
        return -1;
    }
    p = eol + 1;
    for (;;) {
        const char *colon, *v, *ve;
        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL) {
            *why = "unterminated response head";
            return -1;
        }
        if (eol == p || (eol == p + 1 && p[0] == '\r'))
            break;
        colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL || colon == p) {
            *why = "bad header line";
            return -1;
        }
        v = colon + 1;
        ve = eol;
        if (ve > v && ve[-1] == '\r')
            ve--;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        if ((size_t)(colon - p) == 14 && strncasecmp(p, "Content-Length", 14) == 0) {
            unsigned long long n = 0;
            if (v == ve || have_length) {
                *why = "bad or repeated Content-Length";
                return -1;
            }
            for (const char *q = v; q < ve; q++) {
                if (!isdigit((unsigned char)*q) || n > 1000000000000ULL) {
                    *why = "bad Content-Length";
                    return -1;
                }
                n = n * 10 + (unsigned long long)(*q - '0');
            }
            out->length = n;
            have_length = true;
        } else if ((size_t)(colon - p) == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0) {
            chunked = http_has_token(v, (size_t)(ve - v), "chunked");
        } else if ((size_t)(colon - p) == 11 && strncasecmp(p, "Retry-After", 11) == 0) {
            long n = 0;
            const char *q = v;
            for (; q < ve && isdigit((unsigned char)*q); q++)
                n = n < 3600 ? n * 10 + (*q - '0') : 3600;
            if (q == ve && q > v) /* delta-seconds; an HTTP date is ignored */
                out->retry_after_s = n < 3600 ? (int)n : 3600;
        } else if ((size_t)(colon - p) == 10 && strncasecmp(p, "Connection", 10) == 0) {
            close = close || http_has_token(v, (size_t)(ve - v), "close");
            keep = keep || http_has_token(v, (size_t)(ve - v), "keep-alive");
        }
        p = eol + 1;
    }
    if (chunked)
        out->framing = HTTP_FRAME_CHUNKED;
    else if (have_length)
        out->framing = HTTP_FRAME_LENGTH;
    else if (out->status == 204 || out->status == 304 || out->status / 100 == 1)
        out->framing = HTTP_FRAME_LENGTH; /* no body */
    else
        out->framing = HTTP_FRAME_CLOSE;
    out->keep_alive = out->framing != HTTP_FRAME_CLOSE && !close && (!http10 || keep);
    return 0;
}
