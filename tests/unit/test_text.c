/*
 * Unit tests for common/text.c: hex digits, hex encoding, percent-encoding both ways.
 */
#include "check.h"
#include "text.h"

#include <string.h>

static void test_hex(void)
{
    const unsigned char in[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[9];

    CHECK(hex_value('0') == 0 && hex_value('9') == 9);
    CHECK(hex_value('a') == 10 && hex_value('F') == 15);
    CHECK(hex_value('g') == -1 && hex_value(' ') == -1 && hex_value('\0') == -1);
    hex_encode(in, sizeof(in), out);
    CHECK_STR_EQ(out, "000fa5ff");
    hex_encode(in, 0, out);
    CHECK_STR_EQ(out, "");
    CHECK(hex_upper_digit(0xb) == 'B' && hex_upper_digit(0x1f) == 'F');
}

static void test_percent_decode(void)
{
    char out[16];

    CHECK(percent_decode("p%40ss%3A", 9, out, sizeof(out), 0) == 5);
    CHECK_STR_EQ(out, "p@ss:");
    CHECK(percent_decode("plain", 5, out, sizeof(out), 0) == 5);
    CHECK_STR_EQ(out, "plain");
    CHECK(percent_decode("%zz", 3, out, sizeof(out), 0) == -1);
    CHECK(percent_decode("ab%4", 4, out, sizeof(out), 0) == -1); /* cut escape */
    CHECK(percent_decode("%", 1, out, sizeof(out), 0) == -1);
    CHECK(percent_decode("a%00b", 5, out, sizeof(out), 0) == -1); /* NUL refused ... */
    CHECK(percent_decode("a%00b", 5, out, sizeof(out), 1) == 3);  /* ... unless allowed */
    CHECK(out[1] == '\0' && out[2] == 'b');
    CHECK(percent_decode("0123456789abcdef", 16, out, sizeof(out), 0) == -1); /* no room */
    CHECK(percent_decode("0123456789abcde", 15, out, sizeof(out), 0) == 15);
    CHECK(percent_decode_one("%41", 3) == 'A');
    CHECK(percent_decode_one("%4", 2) == -1);
}

static void test_percent_encode(void)
{
    char out[64];
    char back[64];
    const char raw[] = "a b%c\t\x7f\xff~!";

    CHECK(percent_encode(raw, sizeof(raw) - 1, out) == strlen(out));
    CHECK_STR_EQ(out, "a%20b%25c%09%7F%FF~!");
    CHECK(percent_decode(out, strlen(out), back, sizeof(back), 0) == (long)(sizeof(raw) - 1));
    CHECK(memcmp(back, raw, sizeof(raw) - 1) == 0);
    CHECK(percent_encode("", 0, out) == 0 && out[0] == '\0');
}

int main(void)
{
    test_hex();
    test_percent_decode();
    test_percent_encode();
    return check_summary("test_text");
}
