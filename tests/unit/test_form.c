/*
 * Unit tests for gateway/form.c: decoding ('+', %XX), wanted and unwanted parameters,
 * repeats within one source and across query and body, caps, and malformed escapes.
 */
#include <string.h>

#include "check.h"
#include "form.h"

struct fields {
    char grant[32], id[16];
    struct form_field f[2];
};

static void init(struct fields *x)
{
    memset(x, 0, sizeof(*x));
    x->f[0] = (struct form_field){"grant_type", x->grant, sizeof(x->grant), 0, false};
    x->f[1] = (struct form_field){"client_id", x->id, sizeof(x->id), 0, false};
}

static int parse(struct fields *x, const char *s)
{
    return form_parse(s, strlen(s), x->f, 2);
}

int main(void)
{
    struct fields x;

    init(&x);
    CHECK(parse(&x, "grant_type=client_credentials&client_id=a%2Bb+c") == 0);
    CHECK(x.f[0].seen && x.f[1].seen);
    CHECK_STR_EQ(x.grant, "client_credentials");
    CHECK_STR_EQ(x.id, "a+b c");
    CHECK_LONG_EQ(x.f[1].len, 5);

    init(&x);
    CHECK(parse(&x, "") == 0 && !x.f[0].seen && !x.f[1].seen);
    CHECK(parse(&x, "&&scope=x&other&=v&grant%5Ftype=y") == 0);
    CHECK(x.f[0].seen && !x.f[1].seen); /* names are decoded before they are compared */
    CHECK_STR_EQ(x.grant, "y");

    init(&x);
    CHECK(parse(&x, "client_id") == 0 && x.f[1].seen && x.id[0] == '\0');

    /* repeats: in one source, and across two calls (query, then body) */
    init(&x);
    CHECK(parse(&x, "grant_type=a&grant_type=a") < 0);
    init(&x);
    CHECK(parse(&x, "grant_type=client_credentials") == 0);
    CHECK(parse(&x, "client_id=z") == 0);
    CHECK(parse(&x, "grant_type=client_credentials") < 0);
    /* an unwanted parameter may repeat */
    init(&x);
    CHECK(parse(&x, "scope=a&scope=b") == 0);

    /* malformed: bad escapes anywhere, a NUL in a wanted value, a value over its cap */
    init(&x);
    CHECK(parse(&x, "grant_type=%zz") < 0);
    init(&x);
    CHECK(parse(&x, "scope=%4") < 0);
    init(&x);
    CHECK(parse(&x, "sc%ope=1") < 0);
    init(&x);
    CHECK(parse(&x, "client_id=a%00b") < 0);
    init(&x);
    CHECK(parse(&x, "client_id=0123456789abcdef") < 0); /* 15 bytes + NUL fit, 16 do not */
    init(&x);
    CHECK(parse(&x, "client_id=0123456789abcde") == 0 && x.f[1].len == 15);
    /* a very long unwanted name is skipped */
    init(&x);
    {
        char big[600];
        memset(big, 'n', sizeof(big));
        memcpy(big + 590, "=1&client", 9);
        big[599] = '\0';
        CHECK(parse(&x, big) == 0);
    }
    return check_summary("test_form");
}
