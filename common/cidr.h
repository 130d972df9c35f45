/*
 * Address lists written as CIDR blocks ("10.0.0.0/8, 2001:db8::/32, 192.0.2.7"): the
 * [source.*] allow_from and [gateway] trusted_proxies keys. IPv4 addresses are kept as
 * IPv4-mapped IPv6 (::ffff:a.b.c.d), so one list holds both families and an IPv4 client
 * on a dual-stack socket matches an IPv4 block. Pure; unit-tested in tests/unit/test_cidr.c.
 */
#ifndef HOOKPIPE_CIDR_H
#define HOOKPIPE_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

#define CIDR_LIST_MAX 256 /* blocks in one list */
#define CIDR_TEXT_MAX 64  /* an address (as inet_ntop writes it, with a /len) */

/* An address as 16 bytes, IPv4 mapped into IPv6. */
struct cidr_addr {
    uint8_t b[16];
};

struct cidr_block {
    struct cidr_addr net; /* the bits past len are zero */
    unsigned len;         /* prefix length over the 128 bits (IPv4 /n is 96 + n) */
};

struct cidr_list {
    struct cidr_block *blocks;
    size_t n;
};

/*
 * Parses a comma- or space-separated list of blocks into list (which the caller frees with
 * cidr_list_free; an empty text gives an empty list). Returns 0, or -1 with a reason that
 * names the first bad entry in err (host bits set, a prefix out of range, not an address).
 */
int cidr_list_parse(const char *text, struct cidr_list *list, char *err, size_t errlen)
    __attribute__((warn_unused_result));

void cidr_list_free(struct cidr_list *list);

/* A deep copy of src into dst; 0, or -1 when out of memory. */
int cidr_list_copy(struct cidr_list *dst, const struct cidr_list *src)
    __attribute__((warn_unused_result));

/* True when addr lies in one of the list's blocks. */
bool cidr_list_match(const struct cidr_list *list, const struct cidr_addr *addr);

/* The address of a socket address (AF_INET or AF_INET6); -1 for any other family. */
int cidr_addr_from_sockaddr(const struct sockaddr *sa, struct cidr_addr *out);

/* Parses one address (no prefix) such as an X-Forwarded-For entry; 0 or -1. */
int cidr_addr_parse(const char *s, size_t len, struct cidr_addr *out);

/* Writes addr as text ("192.0.2.7" or "2001:db8::1") into buf of at least CIDR_TEXT_MAX. */
void cidr_addr_format(const struct cidr_addr *addr, char *buf, size_t len);

#endif
