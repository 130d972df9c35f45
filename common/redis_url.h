/*
 * Redis addresses as written in [redis] url: redis://[[user]:password@]host[:port][/db]
 * or unix:///path/to/redis.sock[?db=N]. Pure parsing, used by both daemons.
 */
#ifndef HOOKPIPE_REDIS_URL_H
#define HOOKPIPE_REDIS_URL_H

#include <stdbool.h>

struct redis_url {
    bool is_unix;       /* unix socket (path) rather than TCP (host, port) */
    char host[256];     /* TCP host */
    int port;           /* TCP port, default 6379 */
    char path[256];     /* unix socket path */
    char user[128];     /* ACL user, "" = default */
    char password[256]; /* "" = no AUTH */
    int db;             /* SELECT db, default 0 */
};

/* Parses url into out. Returns 0, or -1 with a static reason in *why. */
int redis_url_parse(const char *url, struct redis_url *out, const char **why)
    __attribute__((warn_unused_result));

#endif
