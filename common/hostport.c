/* The host:port parser (see hostport.h). */
#include "hostport.h"

#include <ctype.h>
#include <string.h>

/* A decimal port s[0..n) into *port: 0, or -1 when not 1 to 5 digits up to 65535. */
static int hostport_port(const char *s, size_t n, int *port)
{
    long v = 0;

    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

int hostport_split(const char *s, size_t n, char *host, size_t hostlen, int *port, int default_port,
                   const char **why)
{
    const char *h = s, *rest;
    size_t hl;

    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL) {
            *why = "bad IPv6 host";
            return -1;
        }
        h = s + 1;
        hl = (size_t)(close - h);
        rest = close + 1;
    } else {
        rest = memchr(s, ':', n); /* a bare IPv6 address must be bracketed: its 2nd ':' fails */
        if (rest == NULL)
            rest = s + n;
        hl = (size_t)(rest - s);
    }
    if (hl >= hostlen) {
        *why = "host too long";
        return -1;
    }
    for (size_t i = 0; i < hl; i++) {
        if (isspace((unsigned char)h[i])) {
            *why = "white space in host";
            return -1;
        }
    }
    size_t left = n - (size_t)(rest - s);
    if (left == 0 && default_port >= 0) {
        *port = default_port;
    } else if (left == 0 || *rest != ':' || hostport_port(rest + 1, left - 1, port) < 0) {
        *why = "bad port";
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    return 0;
}
