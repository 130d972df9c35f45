/*
 * Unit tests for common/hostport.c, the one host:port parser: listen addresses, sentinel
 * addresses and the host part of a redis:// URL (bracketed IPv6, ":port" for any address,
 * an optional port with a default), and every malformed form with its reason.
 */
#include <string.h>

#include "check.h"
#include "hostport.h"

static void ok(const char *s, int def, const char *want_host, int want_port)
{
    char host[64];
    int port = -2;
    const char *why = "";

    CHECKF(hostport_split(s, strlen(s), host, sizeof(host), &port, def, &why) == 0,
           "\"%s\" refused: %s", s, why);
    CHECK_STR_EQ(host, want_host);
    CHECK_LONG_EQ(port, want_port);
}

static void bad(const char *s, int def, size_t hostlen, const char *want_why)
{
    char host[64];
    int port = -2;
    const char *why = NULL;

    CHECKF(hostport_split(s, strlen(s), host, hostlen, &port, def, &why) < 0, "\"%s\" accepted", s);
    CHECK_STR_EQ(why, want_why);
    CHECK_LONG_EQ(port, -2); /* nothing written */
}

int main(void)
{
    ok("127.0.0.1:80", -1, "127.0.0.1", 80);
    ok("[::1]:0", -1, "::1", 0);
    ok(":65535", -1, "", 65535);
    ok("redis.example:6380", 6379, "redis.example", 6380);
    ok("redis.example", 6379, "redis.example", 6379); /* the default port */
    ok("[2001:db8::1]", 6379, "2001:db8::1", 6379);
    ok("[]:1", -1, "", 1);
    bad("h", -1, 64, "bad port"); /* no default: a port is required */
    bad("h:", -1, 64, "bad port");
    bad("h:-1", -1, 64, "bad port");
    bad("h:1x", -1, 64, "bad port");
    bad("h:65536", -1, 64, "bad port");
    bad("h:000001", -1, 64, "bad port");
    bad("h:12:34", 6379, 64, "bad port");
    bad("::1:80", -1, 64, "bad port"); /* a bare IPv6 address */
    bad("[::1]x:1", 6379, 64, "bad port");
    bad("[::1:80", -1, 64, "bad IPv6 host");
    bad("a b:80", -1, 64, "white space in host");
    bad("averyveryverylonghostname:80", -1, 8, "host too long");
    /* a span, not a string: what follows n is not read */
    char host[16];
    int port = 0;
    const char *why = "";
    CHECK(hostport_split("h:81/0", 4, host, sizeof(host), &port, 6379, &why) == 0 && port == 81);
    return check_summary("test_hostport");
}
