/*
 * Unit tests for common/redis_url.c: every accepted form of [redis] url (TCP with and
 * without credentials, port, db, IPv6; unix sockets with ?db=) and the rejections, each with
 * its reason.
 */
#include "check.h"
#include "redis_url.h"

#include <stdio.h>
#include <string.h>

static void accepts(int at, const char *url, bool is_unix, const char *host_or_path, int port,
                    const char *user, const char *password, int db)
{
    struct redis_url u;
    const char *why = "";

    CHECKF(redis_url_parse(url, &u, &why) == 0, "line %d: %s rejected: %s", at, url, why);
    CHECKF(u.is_unix == is_unix, "line %d: %s is_unix", at, url);
    if (is_unix) {
        CHECKF(strcmp(u.path, host_or_path) == 0, "line %d: path \"%s\"", at, u.path);
    } else {
        CHECKF(strcmp(u.host, host_or_path) == 0, "line %d: host \"%s\"", at, u.host);
        CHECKF(u.port == port, "line %d: port %d", at, u.port);
    }
    CHECKF(strcmp(u.user, user) == 0, "line %d: user \"%s\"", at, u.user);
    CHECKF(strcmp(u.password, password) == 0, "line %d: password \"%s\"", at, u.password);
    CHECKF(u.db == db, "line %d: db %d", at, u.db);
}

static void rejects(int at, const char *url, const char *why_part)
{
    struct redis_url u;
    const char *why = NULL;

    CHECKF(redis_url_parse(url, &u, &why) < 0, "line %d: %s accepted", at, url);
    CHECKF(why != NULL && strstr(why, why_part) != NULL, "line %d: %s: reason \"%s\", want \"%s\"",
           at, url, why ? why : "(null)", why_part);
}

#define ACCEPTS(url, unix_, host, port, user, pw, db)                                              \
    accepts(__LINE__, url, unix_, host, port, user, pw, db)
#define REJECTS(url, why) rejects(__LINE__, url, why)

int main(void)
{
    char longhost[400];

    ACCEPTS("redis://127.0.0.1:6379/0", false, "127.0.0.1", 6379, "", "", 0);
    ACCEPTS("redis://localhost", false, "localhost", 6379, "", "", 0);
    ACCEPTS("redis://localhost/", false, "localhost", 6379, "", "", 0);
    ACCEPTS("redis://redis.example:1234", false, "redis.example", 1234, "", "", 0);
    ACCEPTS("redis://h:1/", false, "h", 1, "", "", 0);
    ACCEPTS("redis://h:65535/15", false, "h", 65535, "", "", 15);
    ACCEPTS("redis://h/7", false, "h", 6379, "", "", 7);
    ACCEPTS("redis://:secret@h:6380/2", false, "h", 6380, "", "secret", 2);
    ACCEPTS("redis://alice:secret@h", false, "h", 6379, "alice", "secret", 0);
    ACCEPTS("redis://:p%40ss%3Aw%2Fd@h", false, "h", 6379, "", "p@ss:w/d", 0);
    ACCEPTS("redis://:p%c3%a9@h", false, "h", 6379, "", "p\xc3\xa9", 0);
    ACCEPTS("redis://:@h", false, "h", 6379, "", "", 0);
    ACCEPTS("redis://[::1]:6380/3", false, "::1", 6380, "", "", 3);
    ACCEPTS("redis://[::1]", false, "::1", 6379, "", "", 0);
    ACCEPTS("redis://:pw@[fe80::1]:7000", false, "fe80::1", 7000, "", "pw", 0);
    ACCEPTS("unix:///run/redis/redis.sock", true, "/run/redis/redis.sock", 0, "", "", 0);
    ACCEPTS("unix:///tmp/r.sock?db=3", true, "/tmp/r.sock", 0, "", "", 3);
    ACCEPTS("redis://h/100000", false, "h", 6379, "", "", 100000);

    REJECTS("", "must start with redis:// or unix://");
    REJECTS("http://h:6379", "must start with redis:// or unix://");
    REJECTS("rediss://h", "must start with redis:// or unix://");
    REJECTS("REDIS://h", "must start with redis:// or unix://");
    REJECTS("127.0.0.1:6379", "must start with redis:// or unix://");
    REJECTS("redis://", "no host");
    REJECTS("redis:///0", "no host");
    REJECTS("redis://:6379", "no host");
    REJECTS("redis://:pw@:6379", "no host");
    REJECTS("redis://[]:6379", "no host");
    REJECTS("redis://h:0", "bad port");
    REJECTS("redis://h:65536", "bad port");
    REJECTS("redis://h:", "bad port");
    REJECTS("redis://h:abc", "bad port");
    REJECTS("redis://h:-1", "bad port");
    REJECTS("redis://h:12:34", "bad port");
    REJECTS("redis://[::1]x:1", "bad port");
    REJECTS("redis://[::1:6379", "bad IPv6 host");
    REJECTS("redis://h/abc", "bad database number");
    REJECTS("redis://h/-1", "bad database number");
    REJECTS("redis://h/100001", "bad database number");
    REJECTS("redis://h/0/1", "bad database number");
    REJECTS("redis://h/1 ", "bad database number");
    REJECTS("redis://user@h", "credentials must be [user]:password@");
    REJECTS("redis://:p%zz@h", "bad user or password");
    REJECTS("redis://:p%4@h", "bad user or password");
    REJECTS("redis://:p%00w@h", "bad user or password");
    REJECTS("redis://u%@h:pw", "credentials");
    REJECTS("unix://", "absolute path");
    REJECTS("unix://relative.sock", "absolute path");
    REJECTS("unix://?db=1", "absolute path");
    REJECTS("unix:///tmp/r.sock?db=x", "bad ?db=");
    REJECTS("unix:///tmp/r.sock?db=", "bad ?db=");
    REJECTS("unix:///tmp/r.sock?foo=1", "bad ?db=");
    REJECTS("unix:///tmp/r.sock?db=100001", "bad ?db=");

    memcpy(longhost, "redis://", 8);
    memset(longhost + 8, 'h', 300);
    longhost[308] = '\0';
    REJECTS(longhost, "host too long");
    memcpy(longhost, "unix:///", 8);
    REJECTS(longhost, "absolute path"); /* path too long for sun_path-sized buffer */

    return check_summary("test_redis_url");
}
