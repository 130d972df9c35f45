/*
 * Unit tests for gateway/peer.c: the per-address connection cap (IPv6 counted per /64),
 * the failure throttle (a penalty at the limit-th failure within the window, its length,
 * forgetting old failures, other addresses unaffected), and a table that runs full.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "peer.h"

static struct cidr_addr addr(const char *s)
{
    struct cidr_addr a;

    memset(&a, 0, sizeof(a));
    CHECK(cidr_addr_parse(s, strlen(s), &a) == 0);
    return a;
}

int main(void)
{
    struct peer_limits lim = {.max_connections = 2, .failure_limit = 3, .penalty_s = 60};
    struct cidr_addr a = addr("192.0.2.1"), b = addr("192.0.2.2");
    struct cidr_addr v6a = addr("2001:db8:1:2::1"), v6b = addr("2001:db8:1:2:ffff::9");
    struct cidr_addr v6c = addr("2001:db8:1:3::1");
    bool tracked;

    CHECK(peer_init(4, &lim) == 0);
    /* the cap per address */
    CHECK(peer_connect(&a, 1, &tracked) && tracked);
    CHECK(peer_connect(&a, 1, &tracked) && tracked);
    CHECK(!peer_connect(&a, 1, &tracked) && !tracked);
    CHECK(peer_connect(&b, 1, &tracked) && tracked); /* another address has its own */
    peer_disconnect(&a);
    CHECK(peer_connect(&a, 1, &tracked) && tracked); /* a slot given back is free again */
    /* IPv6 hosts of one /64 share a count; another /64 does not */
    CHECK(peer_connect(&v6a, 1, &tracked) && peer_connect(&v6b, 1, &tracked));
    CHECK(!peer_connect(&v6b, 1, &tracked));
    CHECK(peer_connect(&v6c, 1, &tracked));

    /* the throttle: the 3rd failure within 60 s starts a 60 s penalty */
    CHECK_LONG_EQ(peer_penalty(&a, 100), 0);
    CHECK_LONG_EQ(peer_failed(&a, 100), 0);
    CHECK_LONG_EQ(peer_failed(&a, 110), 0);
    CHECK_LONG_EQ(peer_failed(&a, 120), 60);
    CHECK_LONG_EQ(peer_penalty(&a, 120), 61); /* whole seconds, rounded up */
    CHECK_LONG_EQ(peer_penalty(&a, 179.5), 1);
    CHECK_LONG_EQ(peer_penalty(&a, 180), 0); /* at most the penalty's length */
    CHECK_LONG_EQ(peer_penalty(&b, 150), 0); /* another address is unaffected */
    /* failures further apart than the window are forgotten */
    CHECK_LONG_EQ(peer_failed(&b, 200), 0);
    CHECK_LONG_EQ(peer_failed(&b, 240), 0);
    CHECK_LONG_EQ(peer_failed(&b, 301), 0); /* 61 s after the last: counting starts again */
    CHECK_LONG_EQ(peer_failed(&b, 302), 0);
    CHECK_LONG_EQ(peer_failed(&b, 303), 60);
    peer_free();

    /* a table with no room left: connections are let in untracked, the throttle is off */
    struct peer_limits off = {.max_connections = 0, .failure_limit = 0, .penalty_s = 60};
    CHECK(peer_init(0, &off) == 0);
    CHECK(peer_connect(&a, 1, &tracked) && tracked); /* no cap */
    CHECK_LONG_EQ(peer_failed(&a, 1), 0);            /* limit 0: never throttled */
    CHECK_LONG_EQ(peer_penalty(&a, 1), 0);
    peer_free();
    CHECK(peer_init(0, &lim) == 0);
    char buf[32];
    int i;
    for (i = 0; i < PEER_FAILURE_SLOTS + 10; i++) {
        snprintf(buf, sizeof(buf), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        struct cidr_addr x;
        if (cidr_addr_parse(buf, strlen(buf), &x) < 0 || !peer_connect(&x, 1, &tracked) || !tracked)
            break;
    }
    CHECK_LONG_EQ(i, PEER_FAILURE_SLOTS); /* then full */
    struct cidr_addr late = addr("198.51.100.1");
    CHECK(peer_connect(&late, 1, &tracked) && !tracked); /* let in, not tracked */
    peer_free();
    return check_summary("test_peer");
}
