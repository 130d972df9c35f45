/*
 * Parser for the [redis] url forms (see redis_url.h). Percent-escapes in the password
 * are decoded so passwords with '@' or ':' can be written.
 */
#include "redis_url.h"

#include "hostport.h"
#include "text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Percent-decodes a user or password; %00 is refused (it would cut the C string). */
static int redis_url_unescape(const char *s, size_t n, char *out, size_t outlen)
{
    return percent_decode(s, n, out, outlen, 0) < 0 ? -1 : 0;
}

static int redis_url_int(const char *s, size_t n, int lo, int hi, int *out)
{
    char buf[16];
    char *end;
    long v;

    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    v = strtol(buf, &end, 10);
    if (*end != '\0' || errno != 0 || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int redis_url_parse(const char *url, struct redis_url *out, const char **why)
{
    const char *p, *at, *slash, *hp_why;

    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (strncmp(url, "unix://", 7) == 0) {
        const char *q = strchr(url + 7, '?');
        size_t n = q ? (size_t)(q - url - 7) : strlen(url + 7);
        out->is_unix = true;
        if (n == 0 || url[7] != '/' || n >= sizeof(out->path)) {
            *why = "unix socket URL needs an absolute path (unix:///path/to/redis.sock)";
            return -1;
        }
        memcpy(out->path, url + 7, n);
        out->path[n] = '\0';
        if (q != NULL) {
            if (strncmp(q, "?db=", 4) != 0 ||
                redis_url_int(q + 4, strlen(q + 4), 0, 100000, &out->db) < 0) {
                *why = "bad ?db= in unix socket URL";
                return -1;
            }
        }
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        *why = "URL must start with redis:// or unix://";
        return -1;
    }
    p = url + 8;
    slash = strchr(p, '/');
    if (slash == NULL)
        slash = p + strlen(p);
    at = memchr(p, '@', (size_t)(slash - p));
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon == NULL) {
            *why = "credentials must be [user]:password@";
            return -1;
        }
        if (redis_url_unescape(p, (size_t)(colon - p), out->user, sizeof(out->user)) < 0 ||
            redis_url_unescape(colon + 1, (size_t)(at - colon - 1), out->password,
                               sizeof(out->password)) < 0) {
            *why = "bad user or password in URL";
            return -1;
        }
        p = at + 1;
    }
    if (hostport_split(p, (size_t)(slash - p), out->host, sizeof(out->host), &out->port, 6379,
                       &hp_why) < 0) {
        *why = strcmp(hp_why, "bad port") == 0        ? "bad port in URL"
               : strcmp(hp_why, "bad IPv6 host") == 0 ? "bad IPv6 host in URL"
               : strcmp(hp_why, "host too long") == 0 ? "host too long in URL"
                                                      : "white space in the host of the URL";
        return -1;
    }
    if (out->host[0] == '\0') {
        *why = "URL has no host";
        return -1;
    }
    if (out->port == 0) {
        *why = "bad port in URL";
        return -1;
    }
    if (*slash == '/' && slash[1] != '\0') {
        if (redis_url_int(slash + 1, strlen(slash + 1), 0, 100000, &out->db) < 0) {
            *why = "bad database number in URL";
            return -1;
        }
    }
    return 0;
}
