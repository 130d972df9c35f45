/*
 * Unit tests for common/cidr.c: lists of IPv4 and IPv6 blocks, what matches them (IPv4
 * also as IPv4-mapped IPv6), the entries refused with a reason, and address text.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "check.h"
#include "cidr.h"

static bool in_list(const struct cidr_list *l, const char *addr)
{
    struct cidr_addr a;

    CHECK(cidr_addr_parse(addr, strlen(addr), &a) == 0);
    return cidr_list_match(l, &a);
}

static void check_refused(const char *text, const char *why)
{
    struct cidr_list l;
    char err[160] = "";

    CHECKF(cidr_list_parse(text, &l, err, sizeof(err)) < 0, "\"%s\" accepted", text);
    CHECK_CONTAINS(err, why);
    CHECK(l.n == 0 && l.blocks == NULL);
}

int main(void)
{
    struct cidr_list l, copy;
    struct cidr_addr a;
    char err[160], text[CIDR_TEXT_MAX];

    CHECK(cidr_list_parse("", &l, err, sizeof(err)) == 0 && l.n == 0);
    CHECK(!in_list(&l, "192.0.2.1")); /* an empty list matches nothing */
    cidr_list_free(&l);

    CHECK(cidr_list_parse(" 10.0.0.0/8,192.0.2.7 2001:db8::/32,\t::ffff:198.51.100.0/120 ", &l, err,
                          sizeof(err)) == 0);
    CHECK_LONG_EQ(l.n, 4);
    CHECK(in_list(&l, "10.255.1.2"));
    CHECK(!in_list(&l, "11.0.0.1"));
    CHECK(in_list(&l, "192.0.2.7"));
    CHECK(!in_list(&l, "192.0.2.8")); /* a bare address is a /32 */
    CHECK(in_list(&l, "2001:db8:ffff::1"));
    CHECK(!in_list(&l, "2001:db9::1"));
    CHECK(in_list(&l, "::ffff:10.1.2.3")); /* IPv4-mapped, as a dual-stack socket reports it */
    CHECK(in_list(&l, "198.51.100.77"));   /* and the other way round */
    CHECK(!in_list(&l, "198.51.101.1"));
    CHECK(cidr_list_copy(&copy, &l) == 0 && copy.n == 4 && copy.blocks != l.blocks);
    CHECK(in_list(&copy, "10.0.0.1"));
    cidr_list_free(&copy);
    cidr_list_free(&l);

    /* prefixes not on a byte boundary, and the extremes */
    CHECK(cidr_list_parse("172.16.0.0/12 0.0.0.0/0", &l, err, sizeof(err)) == 0);
    CHECK(in_list(&l, "8.8.8.8")); /* /0 matches every IPv4 address */
    CHECK(!in_list(&l, "2001:db8::1"));
    cidr_list_free(&l);
    CHECK(cidr_list_parse("172.16.0.0/12", &l, err, sizeof(err)) == 0);
    CHECK(in_list(&l, "172.31.255.255") && !in_list(&l, "172.32.0.0") &&
          !in_list(&l, "172.15.255.255"));
    cidr_list_free(&l);
    CHECK(cidr_list_parse("::/0", &l, err, sizeof(err)) == 0);
    CHECK(in_list(&l, "2001:db8::1") && in_list(&l, "192.0.2.1"));
    cidr_list_free(&l);

    check_refused("10.0.0.1/8", "bits set past the prefix");
    check_refused("10.0.0.0/33", "out of range");
    check_refused("2001:db8::/129", "out of range");
    check_refused("10.0.0.0/", "bad prefix length");
    check_refused("10.0.0.0/x", "out of range");
    check_refused("192.0.2.0/24, example.com", "\"example.com\" is not an IPv4 or IPv6 address");
    check_refused("300.1.1.1", "is not an IPv4 or IPv6 address");

    /* socket addresses */
    struct sockaddr_in sin = {.sin_family = AF_INET};
    inet_pton(AF_INET, "192.0.2.9", &sin.sin_addr);
    CHECK(cidr_addr_from_sockaddr((struct sockaddr *)&sin, &a) == 0);
    cidr_addr_format(&a, text, sizeof(text));
    CHECK_STR_EQ(text, "192.0.2.9");
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "2001:db8::5", &sin6.sin6_addr);
    CHECK(cidr_addr_from_sockaddr((struct sockaddr *)&sin6, &a) == 0);
    cidr_addr_format(&a, text, sizeof(text));
    CHECK_STR_EQ(text, "2001:db8::5");
    struct sockaddr other = {.sa_family = AF_UNIX};
    CHECK(cidr_addr_from_sockaddr(&other, &a) < 0);
    CHECK(cidr_addr_parse("", 0, &a) < 0);
    CHECK(cidr_addr_parse("1.2.3.4 ", 8, &a) < 0);
    return check_summary("test_cidr");
}
