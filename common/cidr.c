/* CIDR address lists (see cidr.h). */
#include "cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const uint8_t cidr_v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool cidr_is_v4(const struct cidr_addr *a)
{
    return memcmp(a->b, cidr_v4_prefix, sizeof(cidr_v4_prefix)) == 0;
}

int cidr_addr_parse(const char *s, size_t len, struct cidr_addr *out)
{
    char buf[INET6_ADDRSTRLEN];
    struct in_addr v4;

    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, &v4) == 1) {
        memcpy(out->b, cidr_v4_prefix, sizeof(cidr_v4_prefix));
        memcpy(out->b + 12, &v4, 4);
        return 0;
    }
    return inet_pton(AF_INET6, buf, out->b) == 1 ? 0 : -1;
}

int cidr_addr_from_sockaddr(const struct sockaddr *sa, struct cidr_addr *out)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        memcpy(out->b, cidr_v4_prefix, sizeof(cidr_v4_prefix));
        memcpy(out->b + 12, &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(out->b, &in6->sin6_addr, 16);
        return 0;
    }
    return -1;
}

void cidr_addr_format(const struct cidr_addr *addr, char *buf, size_t len)
{
    bool v4 = cidr_is_v4(addr);

    if (inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? addr->b + 12 : addr->b, buf, (socklen_t)len) ==
        NULL)
        snprintf(buf, len, "?");
}

/* True when the bits of a past the first len are all zero. */
static bool cidr_host_bits_clear(const struct cidr_addr *a, unsigned len)
{
    for (unsigned i = len; i < 128; i++)
        if (a->b[i / 8] & (0x80u >> (i % 8)))
            return false;
    return true;
}

/* One entry "ADDR" or "ADDR/LEN" into b; 0, or -1 with err. */
static int cidr_block_parse(const char *s, size_t n, struct cidr_block *b, char *err, size_t errlen)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash != NULL ? (size_t)(slash - s) : n;
    long len;

    if (cidr_addr_parse(s, alen, &b->net) < 0) {
        snprintf(err, errlen, "\"%.*s\" is not an IPv4 or IPv6 address", (int)alen, s);
        return -1;
    }
    bool v4 = memchr(s, ':', alen) == NULL; /* written as IPv4: its prefix counts 32 bits */
    len = v4 ? 32 : 128;
    if (slash != NULL) {
        char digits[4];
        size_t dlen = n - alen - 1;
        char *end;
        if (dlen == 0 || dlen >= sizeof(digits)) {
            snprintf(err, errlen, "\"%.*s\": bad prefix length", (int)n, s);
            return -1;
        }
        memcpy(digits, slash + 1, dlen);
        digits[dlen] = '\0';
        len = strtol(digits, &end, 10);
        if (*end != '\0' || len < 0 || len > (v4 ? 32 : 128)) {
            snprintf(err, errlen, "\"%.*s\": prefix length out of range (0 to %d)", (int)n, s,
                     v4 ? 32 : 128);
            return -1;
        }
    }
    b->len = (unsigned)len + (v4 ? 96u : 0u);
    if (!cidr_host_bits_clear(&b->net, b->len)) {
        snprintf(err, errlen, "\"%.*s\": address has bits set past the prefix", (int)n, s);
        return -1;
    }
    return 0;
}

int cidr_list_parse(const char *text, struct cidr_list *list, char *err, size_t errlen)
{
    struct cidr_block blocks[CIDR_LIST_MAX];
    size_t n = 0;
    const char *p = text;

    list->blocks = NULL;
    list->n = 0;
    for (;;) {
        p += strspn(p, ", \t");
        if (*p == '\0')
            break;
        size_t len = strcspn(p, ", \t");
        if (n == CIDR_LIST_MAX) {
            snprintf(err, errlen, "more than %d entries", CIDR_LIST_MAX);
            return -1;
        }
        if (cidr_block_parse(p, len, &blocks[n], err, errlen) < 0)
            return -1;
        n++;
        p += len;
    }
    if (n == 0)
        return 0;
    list->blocks = malloc(n * sizeof(blocks[0]));
    if (list->blocks == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(list->blocks, blocks, n * sizeof(blocks[0]));
    list->n = n;
    return 0;
}

void cidr_list_free(struct cidr_list *list)
{
    free(list->blocks);
    list->blocks = NULL;
    list->n = 0;
}

int cidr_list_copy(struct cidr_list *dst, const struct cidr_list *src)
{
    dst->blocks = NULL;
    dst->n = 0;
    if (src->n == 0)
        return 0;
    dst->blocks = malloc(src->n * sizeof(src->blocks[0]));
    if (dst->blocks == NULL)
        return -1;
    memcpy(dst->blocks, src->blocks, src->n * sizeof(src->blocks[0]));
    dst->n = src->n;
    return 0;
}

static bool cidr_block_match(const struct cidr_block *b, const struct cidr_addr *a)
{
    unsigned full = b->len / 8, rest = b->len % 8;

    if (memcmp(b->net.b, a->b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (a->b[full] & mask) == b->net.b[full];
}

bool cidr_list_match(const struct cidr_list *list, const struct cidr_addr *addr)
{
    for (size_t i = 0; i < list->n; i++)
        if (cidr_block_match(&list->blocks[i], addr))
            return true;
    return false;
}
