/*
 * The one host:port parser: listen addresses ([gateway] listen, admin_listen,
 * HOOKPIPE_WRITER_ADMIN_LISTEN), Redis Sentinel addresses and the host part of a
 * redis:// URL. Pure; unit-tested in tests/unit/test_hostport.c.
 */
#ifndef HOOKPIPE_HOSTPORT_H
#define HOOKPIPE_HOSTPORT_H

#include <stddef.h>

/*
 * Splits s[0..n) — "host:port", "[v6addr]:port" or ":port" (host "": any address), or,
 * when default_port >= 0, also "host" or "[v6addr]" alone (port default_port) — into host
 * (NUL-terminated, at most hostlen - 1 bytes, no white space) and port (0 to 65535; the
 * caller refuses 0 where it means nothing). Returns 0, or -1 with *why a static reason:
 * "bad IPv6 host", "host too long", "white space in host" or "bad port".
 */
int hostport_split(const char *s, size_t n, char *host, size_t hostlen, int *port, int default_port,
                   const char **why) __attribute__((warn_unused_result));

#endif
