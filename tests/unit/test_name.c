/*
 * Unit tests for common/name.c: the one name rule for sources, writers and delivery ids.
 */
#include "check.h"
#include "name.h"

#include <string.h>

int main(void)
{
    char longest[NAME_MAX_LEN + 2];

    CHECK(name_valid("acme", 4));
    CHECK(name_valid("A-b_9", 5));
    CHECK(!name_valid("", 0));
    CHECK(!name_valid("a b", 3));
    CHECK(!name_valid("a/b", 3));
    CHECK(!name_valid("a.b", 3));
    CHECK(!name_valid("caf\xc3\xa9", 5));
    CHECK(!name_valid("a\0b", 3)); /* a NUL inside the given length is not a name */
    memset(longest, 'x', sizeof(longest));
    CHECK(name_valid(longest, NAME_MAX_LEN));
    CHECK(!name_valid(longest, NAME_MAX_LEN + 1));
    CHECK(name_span("ab-c d", 6) == 4);
    CHECK(name_span(" x", 2) == 0);
    CHECK(name_span("abc", 2) == 2); /* never reads past len */
    CHECK(name_char('_') && name_char('-') && !name_char(':') && !name_char(0x80));
    return check_summary("test_name");
}
