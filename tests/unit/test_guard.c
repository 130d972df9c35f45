/*
 * Unit tests for gateway/guard.c and the head-time half of gateway/verify.c: which address
 * a request speaks for (X-Forwarded-For believed only from a trusted proxy, its last
 * entry), what is refused from the head alone (penalty 429, allow_from 403, a stale
 * timestamp, a malformed signature, a wrong Basic credential 401), what is then
 * "vouched for", and that a refused credential counts towards the address's penalty.
 */
#include <string.h>
#include <time.h>

#include "check.h"
#include "config.h"
#include "guard.h"
#include "peer.h"

static void parse(const char *text, struct http_head *h)
{
    CHECK(http_parse_head(text, strlen(text), h) == 0);
}

static struct cidr_addr addr(const char *s)
{
    struct cidr_addr a;

    memset(&a, 0, sizeof(a));
    CHECK(cidr_addr_parse(s, strlen(s), &a) == 0);
    return a;
}

static void check_client(const struct cidr_list *proxies, const char *peer, const char *head,
                         const char *want)
{
    struct http_head h;
    struct cidr_addr p = addr(peer), c, w = addr(want);

    parse(head, &h);
    guard_client(proxies, &p, &h, &c);
    CHECKF(memcmp(&c, &w, sizeof(c)) == 0, "peer %s, head %s: not %s", peer, head, want);
}

static void entry(struct keyring_entry *e, unsigned auth, const char *allow)
{
    char err[128];

    memset(e, 0, sizeof(*e));
    CHECK(verify_build("zoom", auth, e->checks) == 0);
    CHECK(verify_digest_set(&e->keys.basic[0], "u:p", 3) == 0);
    CHECK(cidr_list_parse(allow, &e->allow_from, err, sizeof(err)) == 0);
    e->head_proves = verify_head_proves(e->checks);
}

static struct verify_request request(const char *ts, const char *sig, const char *authz)
{
    return (struct verify_request){
        .timestamp = ts,
        .timestamp_len = strlen(ts),
        .signature = sig,
        .signature_len = strlen(sig),
        .authorization = authz,
        .authorization_len = authz != NULL ? strlen(authz) : 0,
        .now = time(NULL),
        .tolerance_s = 300,
    };
}

int main(void)
{
    struct peer_limits lim = {.max_connections = 0, .failure_limit = 2, .penalty_s = 60};
    struct cidr_list proxies;
    char err[128], now[24];
    struct keyring_entry sig, basic, allowed;
    struct guard_outcome g;
    const char *good_form = "v0=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    CHECK(peer_init(16, &lim) == 0);
    CHECK(cidr_list_parse("10.0.0.0/8", &proxies, err, sizeof(err)) == 0);
    /* X-Forwarded-For: only from a trusted proxy, its last entry, trimmed */
    check_client(&proxies, "192.0.2.1", "GET / HTTP/1.1\r\nX-Forwarded-For: 198.51.100.1\r\n\r\n",
                 "192.0.2.1");
    check_client(&proxies, "10.0.0.5",
                 "GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.9 ,  198.51.100.1 \r\n\r\n",
                 "198.51.100.1");
    check_client(&proxies, "10.0.0.5", "GET / HTTP/1.1\r\nX-Forwarded-For: 2001:db8::7\r\n\r\n",
                 "2001:db8::7");
    check_client(&proxies, "10.0.0.5", "GET / HTTP/1.1\r\nX-Forwarded-For: unknown\r\n\r\n",
                 "10.0.0.5"); /* not an address: the peer */
    check_client(&proxies, "10.0.0.5", "GET / HTTP/1.1\r\n\r\n", "10.0.0.5");
    check_client(&proxies, "10.0.0.5",
                 "GET / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n\r\n",
                 "10.0.0.5"); /* two headers: which one the proxy wrote cannot be told */

    /* signature mode: the timestamp window and the header's form at head time */
    entry(&sig, CONFIG_AUTH_SIGNATURE, "");
    CHECK(!sig.head_proves); /* its proof is the MAC over the body */
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    struct cidr_addr a = addr("192.0.2.1"), b = addr("192.0.2.2");
    struct verify_request r = request(now, good_form, NULL);
    guard_head(&sig, false, &a, &r, 100, &g);
    CHECK(g.status == 0 && !g.vouched);
    r = request("1000000000", good_form, NULL);
    guard_head(&sig, false, &a, &r, 100, &g);
    CHECK(g.status == 401 && g.reason == VERIFY_REASON_TIMESTAMP);
    r = request(now, "v0=0123", NULL);
    guard_head(&sig, false, &a, &r, 100, &g);
    CHECK(g.status == 401 && g.reason == VERIFY_REASON_SIGNATURE);
    r = request(now, "v0=0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", NULL);
    guard_head(&sig, false, &a, &r, 100, &g); /* Zoom sends lowercase hex */
    CHECK(g.status == 401 && g.reason == VERIFY_REASON_SIGNATURE);
    CHECK_LONG_EQ(peer_penalty(&a, 100), 0); /* a MAC cannot be guessed: not counted */

    /* basic: proven by the head alone; a wrong one counts towards a penalty */
    entry(&basic, CONFIG_AUTH_BASIC, "");
    CHECK(basic.head_proves);
    r = request("", "", "Basic dTpw"); /* u:p */
    guard_head(&basic, false, &a, &r, 100, &g);
    CHECK(g.status == 0 && g.vouched);
    r = request("", "", "Basic dTp4"); /* u:x */
    guard_head(&basic, false, &a, &r, 100, &g);
    CHECK(g.status == 401 && g.reason == VERIFY_REASON_BASIC && g.extra != NULL);
    guard_head(&basic, false, &a, &r, 101, &g);
    CHECK(g.status == 401);
    r = request("", "", "Basic dTpw");
    guard_head(&basic, false, &a, &r, 102, &g); /* penalty: even the right credential waits */
    CHECK(g.status == 429 && g.reason == VERIFY_REASON_THROTTLED);
    CHECK_CONTAINS(g.extra, "Retry-After: 60\r\n");
    guard_head(&basic, false, &b, &r, 102, &g); /* another address is unaffected */
    CHECK(g.status == 0 && g.vouched);
    guard_head(&basic, true, &b, &r, 102, &g); /* the token endpoint: credentials in the body */
    CHECK(g.status == 0 && !g.vouched);

    /* allow_from */
    entry(&allowed, CONFIG_AUTH_BASIC, "192.0.2.2/32");
    guard_head(&allowed, false, &b, &r, 103, &g);
    CHECK(g.status == 0);
    struct cidr_addr c = addr("192.0.2.3");
    guard_head(&allowed, false, &c, &r, 103, &g);
    CHECK(g.status == 403 && g.reason == VERIFY_REASON_ADDRESS);

    CHECK(guard_guessable(VERIFY_REASON_BEARER_INVALID) &&
          guard_guessable(VERIFY_REASON_CLIENT_CREDENTIALS) &&
          !guard_guessable(VERIFY_REASON_SIGNATURE) && !guard_guessable(VERIFY_REASON_TIMESTAMP));
    cidr_list_free(&proxies);
    cidr_list_free(&sig.allow_from);
    cidr_list_free(&basic.allow_from);
    cidr_list_free(&allowed.allow_from);
    peer_free();
    return check_summary("test_guard");
}
