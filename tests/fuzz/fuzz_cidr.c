/*
 * libFuzzer target for the CIDR lists of allow_from and trusted_proxies (common/cidr.h)
 * and the single addresses read from X-Forwarded-For: any bytes as a list and as an
 * address. A list that parses holds at most CIDR_LIST_MAX blocks, each with no bits set
 * past its prefix, and every block's own network address matches the list; an address
 * that parses formats to text that parses back to the same address.
 */
#include "cidr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    struct cidr_list list;
    struct cidr_addr a, b;
    char err[160], out[CIDR_TEXT_MAX];

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (cidr_list_parse(text, &list, err, sizeof(err)) == 0) {
        if (list.n > CIDR_LIST_MAX)
            abort();
        for (size_t i = 0; i < list.n; i++) {
            if (list.blocks[i].len > 128 || !cidr_list_match(&list, &list.blocks[i].net))
                abort();
        }
        cidr_list_free(&list);
    } else if (strlen(err) == 0) {
        abort(); /* a refusal always says why */
    }
    if (cidr_addr_parse((const char *)data, size, &a) == 0) {
        cidr_addr_format(&a, out, sizeof(out));
        if (cidr_addr_parse(out, strlen(out), &b) != 0 || memcmp(&a, &b, sizeof(a)) != 0)
            abort();
    }
    free(text);
    return 0;
}
