/*
 * Unit tests for common/strbuf.c: appends, printf growth past the first block, copies of
 * its own bytes across a reallocation, reset.
 */
#include "check.h"
#include "strbuf.h"

#include <string.h>

int main(void)
{
    struct strbuf sb = {0};
    char big[10000];

    strbuf_append(&sb, "ab", 2);
    strbuf_printf(&sb, "-%d-", 42);
    CHECK(sb.len == 6);
    CHECK_STR_EQ(sb.data, "ab-42-");
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    strbuf_printf(&sb, "%s", big); /* grows past the 4 KiB first block in one call */
    CHECK(sb.len == 6 + sizeof(big) - 1);
    CHECK(sb.data[sb.len] == '\0' && sb.data[sb.len - 1] == 'x');
    CHECK(!sb.failed);
    strbuf_append(&sb, "\0z", 2); /* binary data is kept as is */
    CHECK(sb.len == 6 + sizeof(big) + 1 && sb.data[sb.len - 1] == 'z');
    strbuf_reset(&sb);
    strbuf_append(&sb, "0123456789", 10);
    strbuf_append_copy(&sb, 2, 3); /* "234" */
    CHECK(sb.len == 13 && strcmp(sb.data, "0123456789234") == 0);
    strbuf_append_copy(&sb, 12, 2); /* out of range: nothing */
    CHECK(sb.len == 13 && !sb.failed);
    for (int i = 0; i < 12; i++) /* doubles each time: reallocates, the offset still holds */
        strbuf_append_copy(&sb, 0, sb.len);
    CHECK(sb.len == 13u << 12 && sb.data[sb.len] == '\0');
    CHECK(memcmp(sb.data + sb.len - 13, "0123456789234", 13) == 0);
    strbuf_reset(&sb);
    CHECK(sb.len == 0 && sb.data != NULL && sb.data[0] == '\0');
    CHECK(strbuf_reserve(&sb, 100) == 0 && sb.cap >= 101);
    CHECK(strbuf_reserve(&sb, (size_t)-1) == -1 && sb.failed); /* impossible size */
    strbuf_append(&sb, "q", 1);                                /* ignored once failed */
    CHECK(sb.len == 0);
    strbuf_free(&sb);
    CHECK(sb.data == NULL && sb.len == 0 && !sb.failed);
    return check_summary("test_strbuf");
}
