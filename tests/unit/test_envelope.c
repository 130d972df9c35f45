/*
 * Unit tests for common/envelope.c: encode/decode round trips (request ids with spaces, '%',
 * non-ASCII, a lone "-", none; bodies with NUL bytes, empty), the exact v1 header text, and
 * rejection of every malformed header field, other versions and length mismatches.
 */
#include "check.h"
#include "envelope.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char buf[ENVELOPE_HEADER_MAX + 4096];

/* Encodes header + body into buf; returns the total length, or -1. */
static int build(const char *source, int64_t us, const char *id, const char *rid, size_t ridlen,
                 const char *body, size_t len)
{
    int n = envelope_encode_header(buf, source, us, id, rid, ridlen, len);

    if (n < 0)
        return -1;
    if (n > ENVELOPE_HEADER_MAX || (size_t)n + len > sizeof(buf)) {
        fprintf(stderr, "header of %d bytes over ENVELOPE_HEADER_MAX\n", n);
        exit(1);
    }
    memcpy(buf + n, body, len);
    return n + (int)len;
}

static void roundtrip(int at, const char *rid, size_t ridlen, const char *body, size_t len)
{
    struct envelope env;
    const char *why = "";
    int n = build("acme", 1700000000123456, "d-1_x", rid, ridlen, body, len);

    CHECKF(n > 0, "line %d: encode failed", at);
    if (n <= 0)
        return;
    CHECKF(envelope_decode(buf, (size_t)n, &env, &why) == 0, "line %d: decode: %s", at, why);
    CHECKF(strcmp(env.source, "acme") == 0, "line %d: source %s", at, env.source);
    CHECKF(env.received_us == 1700000000123456, "line %d", at);
    CHECKF(strcmp(env.delivery_id, "d-1_x") == 0, "line %d: id %s", at, env.delivery_id);
    CHECKF(env.request_id_len == (rid == NULL ? 0 : ridlen), "line %d: rid len %zu", at,
           env.request_id_len);
    CHECKF(rid == NULL || memcmp(env.request_id, rid, ridlen) == 0, "line %d: request id", at);
    CHECKF(env.request_id[env.request_id_len] == '\0', "line %d: request id not terminated", at);
    CHECKF(env.body_len == len && env.body == buf + n - len && memcmp(env.body, body, len) == 0,
           "line %d: body", at);
}

#define ROUNDTRIP_S(rid, body) roundtrip(__LINE__, rid, strlen(rid), body, strlen(body))

static void test_roundtrip(void)
{
    static const char binary[] = {'{', '\0', '}', '\n', '\r', ' ', (char)0xff, '\0'};
    char longid[400];

    ROUNDTRIP_S("abc-123", "{\"event\":\"meeting.started\"}");
    roundtrip(__LINE__, NULL, 0, "{}", 2);
    ROUNDTRIP_S("with space and\ttab", "{}");
    ROUNDTRIP_S("100%", "{}");
    ROUNDTRIP_S("%41%", "{}");
    ROUNDTRIP_S("caf\xc3\xa9-\xe2\x98\x95", "{\"t\":\"caf\xc3\xa9\"}");
    ROUNDTRIP_S("-", "{}");   /* a real "-" must not read back as "absent" */
    ROUNDTRIP_S("--", "{}");  /* only a lone dash is special */
    ROUNDTRIP_S("- x", "{}"); /* dash then space */
    roundtrip(__LINE__, "a\0b", 3, "{}", 2);
    roundtrip(__LINE__, "x", 1, binary, sizeof(binary));
    roundtrip(__LINE__, "x", 1, "", 0);
    roundtrip(__LINE__, NULL, 0, "", 0);
    roundtrip(__LINE__, "x", 1, "HP1 a 1 d - 0\n", 14); /* an envelope as a body */

    /* every byte value in a request id survives */
    for (int i = 0; i < 256; i++)
        longid[i] = (char)i;
    roundtrip(__LINE__, longid, ENVELOPE_REQUEST_ID_MAX, "{}", 2);

    /* an over-long request id is truncated to ENVELOPE_REQUEST_ID_MAX bytes */
    memset(longid, 'r', sizeof(longid));
    {
        struct envelope env;
        const char *why = "";
        int n = build("s", 1, "d", longid, sizeof(longid), "{}", 2);
        CHECK(n > 0 && envelope_decode(buf, (size_t)n, &env, &why) == 0);
        CHECK_LONG_EQ(env.request_id_len, ENVELOPE_REQUEST_ID_MAX);
    }
    /* the longest header of all (every byte escaped) fits ENVELOPE_HEADER_MAX */
    {
        char src[65], id[ENVELOPE_ID_MAX + 1], rid[ENVELOPE_REQUEST_ID_MAX];
        memset(src, 's', 64);
        src[64] = '\0';
        memset(id, 'i', ENVELOPE_ID_MAX);
        id[ENVELOPE_ID_MAX] = '\0';
        memset(rid, ' ', sizeof(rid));
        int n = envelope_encode_header(buf, src, INT64_MAX, id, rid, sizeof(rid), SIZE_MAX);
        CHECK(n > 0 && n <= ENVELOPE_HEADER_MAX);
    }
}

/* The header text is the documented v1 format, byte for byte. */
static void test_exact_header(void)
{
    int n = envelope_encode_header(buf, "acme", 42, "abc", "r 1%", 4, 17);

    CHECK(n > 0);
    buf[n > 0 ? n : 0] = '\0';
    CHECK_STR_EQ(buf, "HP1 acme 42 abc r%201%25 17\n");
    n = envelope_encode_header(buf, "a", 0, "d", NULL, 0, 0);
    buf[n > 0 ? n : 0] = '\0';
    CHECK_STR_EQ(buf, "HP1 a 0 d - 0\n");
    n = envelope_encode_header(buf, "a", 0, "d", "-", 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    CHECK_STR_EQ(buf, "HP1 a 0 d %2D 0\n");
}

static void test_encode_rejects(void)
{
    char name65[66];

    memset(name65, 'a', 65);
    name65[65] = '\0';
    CHECK(envelope_encode_header(buf, "", 1, "d", NULL, 0, 0) < 0);
    CHECK(envelope_encode_header(buf, "a b", 1, "d", NULL, 0, 0) < 0);
    CHECK(envelope_encode_header(buf, "a.b", 1, "d", NULL, 0, 0) < 0);
    CHECK(envelope_encode_header(buf, name65, 1, "d", NULL, 0, 0) < 0);
    CHECK(envelope_encode_header(buf, "a", 1, "", NULL, 0, 0) < 0);
    CHECK(envelope_encode_header(buf, "a", 1, "d/1", NULL, 0, 0) < 0);
    CHECK(envelope_encode_header(buf, "a", 1, name65, NULL, 0, 0) < 0);
    CHECK(envelope_encode_header(buf, "a", -1, "d", NULL, 0, 0) < 0);
    name65[64] = '\0';
    CHECK(envelope_encode_header(buf, name65, 1, name65, NULL, 0, 0) > 0); /* 64 is fine */
}

/* decode(text) must fail with a reason containing why. */
static void rejects(int at, const char *text, size_t len, const char *why_part)
{
    struct envelope env;
    const char *why = NULL;

    CHECKF(envelope_decode(text, len, &env, &why) < 0, "line %d: accepted", at);
    CHECKF(why != NULL && strstr(why, why_part) != NULL, "line %d: reason \"%s\", want \"%s\"", at,
           why ? why : "(null)", why_part);
}

#define REJECTS(text, why) rejects(__LINE__, text, sizeof(text) - 1, why)

static void test_decode_rejects(void)
{
    static const char src65[] =
        "HP1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 d - 2\n{}";
    static const char id65[] =
        "HP1 a 1 ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd - 2\n{}";
    char longrid[600];

    /* version and magic */
    REJECTS("", "not an envelope");
    REJECTS("HP1", "envelope"); /* too short to tell */
    REJECTS("{\"event\":\"x\"}", "not an envelope");
    REJECTS("HP3 a 1 d - 2\n{}", "unsupported envelope version");
    REJECTS("HP2 a 1 d - 2\n{}", "bad provider"); /* HP2 has provider and fields */
    REJECTS("HP0 a 1 d - 2\n{}", "unsupported envelope version");
    REJECTS("hp1 a 1 d - 2\n{}", "not an envelope");
    REJECTS("HP1\ta 1 d - 2\n{}", "unsupported envelope version");
    /* source */
    REJECTS("HP1  1 d - 2\n{}", "bad source");
    REJECTS("HP1 a.b 1 d - 2\n{}", "bad source");
    REJECTS("HP1 a", "bad source");
    rejects(__LINE__, src65, sizeof(src65) - 1, "bad source");
    /* receive time */
    REJECTS("HP1 a x d - 2\n{}", "bad receive time");
    REJECTS("HP1 a  d - 2\n{}", "bad receive time");
    REJECTS("HP1 a -1 d - 2\n{}", "bad receive time");
    REJECTS("HP1 a +1 d - 2\n{}", "bad receive time");
    REJECTS("HP1 a 1x d - 2\n{}", "bad receive time");
    REJECTS("HP1 a 9223372036854775808 d - 2\n{}", "bad receive time");
    REJECTS("HP1 a 12345678901234567890 d - 2\n{}", "bad receive time");
    REJECTS("HP1 a 1", "bad receive time");
    /* delivery id */
    REJECTS("HP1 a 1  - 2\n{}", "bad delivery id");
    REJECTS("HP1 a 1 d.1 - 2\n{}", "bad delivery id");
    REJECTS("HP1 a 1 d", "bad delivery id");
    rejects(__LINE__, id65, sizeof(id65) - 1, "bad delivery id");
    /* request id */
    REJECTS("HP1 a 1 d  2\n{}", "bad request id"); /* empty */
    REJECTS("HP1 a 1 d %G1 2\n{}", "bad request id");
    REJECTS("HP1 a 1 d %4 2\n{}", "bad request id");
    REJECTS("HP1 a 1 d ab%", "bad request id");
    REJECTS("HP1 a 1 d r\x01 2\n{}", "bad request id");
    REJECTS("HP1 a 1 d r\x7f 2\n{}", "bad request id");
    REJECTS("HP1 a 1 d r\xc3\xa9 2\n{}", "bad request id"); /* raw non-ASCII must be escaped */
    REJECTS("HP1 a 1 d r\n2\n{}", "bad request id");
    REJECTS("HP1 a 1 d abc", "bad request id");
    memcpy(longrid, "HP1 a 1 d ", 10);
    memset(longrid + 10, 'r', ENVELOPE_REQUEST_ID_MAX + 1);
    memcpy(longrid + 11 + ENVELOPE_REQUEST_ID_MAX, " 2\n{}", 5);
    rejects(__LINE__, longrid, 16 + ENVELOPE_REQUEST_ID_MAX, "bad request id");
    memset(longrid + 10, 'r', ENVELOPE_REQUEST_ID_MAX); /* exactly the maximum is fine */
    memcpy(longrid + 10 + ENVELOPE_REQUEST_ID_MAX, " 2\n{}", 5);
    {
        struct envelope env;
        const char *why = "";
        CHECK(envelope_decode(longrid, 15 + ENVELOPE_REQUEST_ID_MAX, &env, &why) == 0);
    }
    /* body length */
    REJECTS("HP1 a 1 d - x\n{}", "bad body length");
    REJECTS("HP1 a 1 d - \n{}", "bad body length");
    REJECTS("HP1 a 1 d - 2 \n{}", "bad body length");
    REJECTS("HP1 a 1 d - -2\n{}", "bad body length");
    REJECTS("HP1 a 1 d - 2\r\n{}", "bad body length");
    REJECTS("HP1 a 1 d - 2", "bad body length");
    REJECTS("HP1 a 1 d - 12345678901234567890\n{}", "bad body length");
    REJECTS("HP1 a 1 d -\n{}", "bad request id"); /* the length field is missing */
    /* length mismatch */
    REJECTS("HP1 a 1 d - 3\n{}", "does not match");
    REJECTS("HP1 a 1 d - 1\n{}", "does not match");
    REJECTS("HP1 a 1 d - 0\n{}", "does not match");
    REJECTS("HP1 a 1 d - 2\n", "does not match");
    /* the decoder never reads past len: a valid envelope cut short is rejected */
    {
        int n = build("acme", 5, "d", "rid", 3, "{\"a\":1}", 7);
        struct envelope env;
        const char *why;
        int accepted = 0;
        for (int cut = 0; cut < n; cut++) {
            char *copy = malloc((size_t)cut + 1);
            memcpy(copy, buf, (size_t)cut);
            if (envelope_decode(copy, (size_t)cut, &env, &why) == 0)
                accepted++;
            free(copy);
        }
        CHECK_LONG_EQ(accepted, 0);
    }
}

/* HP2: a provider's envelope, its fields percent-encoded, read back by name. */
static void test_v2(void)
{
    static char b2[ENVELOPE_V2_HEADER_MAX + 64];
    char long_value[ENVELOPE_FIELD_VALUE_MAX + 1], out[ENVELOPE_FIELD_VALUE_MAX + 1];
    struct envelope_field f[] = {
        {"x-github-event", "issues", 6},
        {"x-github-delivery", "a b&c%d=e\xc3\xa9", 11},
        {"x-empty", "", 0}, /* left out */
    };
    struct envelope env;
    const char *why = "";
    const char body[] = "[1,2]";
    int n = envelope_encode_header_v2(b2, "gh", 1700000000123456, "d1", NULL, 0, "github", f, 3, 5);

    CHECK(n > 0);
    if (n <= 0)
        return;
    CHECK(memcmp(b2,
                 "HP2 gh 1700000000123456 d1 - github "
                 "x-github-event=issues&x-github-delivery=a%20b%26c%25d=e%C3%A9 5\n",
                 (size_t)n) == 0);
    memcpy(b2 + n, body, 5);
    CHECK(envelope_decode(b2, (size_t)n + 5, &env, &why) == 0);
    CHECK(env.version == 2);
    CHECK_STR_EQ(env.provider, "github");
    CHECK(env.body_len == 5 && memcmp(env.body, body, 5) == 0);
    CHECK_LONG_EQ(envelope_field(&env, "x-github-event", out, sizeof(out)), 6);
    CHECK_STR_EQ(out, "issues");
    CHECK_LONG_EQ(envelope_field(&env, "x-github-delivery", out, sizeof(out)), 11);
    CHECK(memcmp(out, "a b&c%d=e\xc3\xa9", 11) == 0);
    CHECK(envelope_field(&env, "x-github", out, sizeof(out)) < 0); /* a prefix is not a name */
    CHECK(envelope_field(&env, "x-empty", out, sizeof(out)) < 0);

    /* no fields: "-"; an HP1 envelope reads as zoom with none */
    n = envelope_encode_header_v2(b2, "st", 1, "d1", NULL, 0, "stripe", NULL, 0, 2);
    CHECK(n > 0 && memcmp(b2, "HP2 st 1 d1 - stripe - 2\n", (size_t)n) == 0);
    memcpy(b2 + n, "{}", 2);
    CHECK(envelope_decode(b2, (size_t)n + 2, &env, &why) == 0 && env.fields_len == 0);
    CHECK(build("z", 1, "d", NULL, 0, "{}", 2) > 0 && envelope_decode(buf, 23, &env, &why) != 0);
    n = build("z", 1, "d", NULL, 0, "{}", 2);
    CHECK(envelope_decode(buf, (size_t)n, &env, &why) == 0 && env.version == 1);
    CHECK_STR_EQ(env.provider, "zoom");

    /* encoder refusals: a bad provider or field name, a value too long, too many fields */
    memset(long_value, 'v', sizeof(long_value));
    struct envelope_field bad_name = {"X-Up", "v", 1};
    struct envelope_field too_long = {"x", long_value, sizeof(long_value)};
    struct envelope_field many[ENVELOPE_FIELDS_N_MAX + 1];
    for (size_t i = 0; i < ENVELOPE_FIELDS_N_MAX + 1; i++)
        many[i] = (struct envelope_field){"x", "v", 1};
    CHECK(envelope_encode_header_v2(b2, "a", 1, "d", NULL, 0, "Git", NULL, 0, 0) < 0);
    CHECK(envelope_encode_header_v2(b2, "a", 1, "d", NULL, 0, "", NULL, 0, 0) < 0);
    CHECK(envelope_encode_header_v2(b2, "a", 1, "d", NULL, 0, "g", &bad_name, 1, 0) < 0);
    CHECK(envelope_encode_header_v2(b2, "a", 1, "d", NULL, 0, "g", &too_long, 1, 0) < 0);
    CHECK(envelope_encode_header_v2(b2, "a", 1, "d", NULL, 0, "g", many, 9, 0) < 0);

    /* decoder refusals */
    static const struct {
        const char *item, *why;
    } rej[] = {
        {"HP2 a 1 d - GitHub - 2\n{}", "bad provider"},
        {"HP2 a 1 d - github 2\n{}", "bad header fields"},
        {"HP2 a 1 d - github x= 2\n{}", "bad header fields"},
        {"HP2 a 1 d - github =v 2\n{}", "bad header fields"},
        {"HP2 a 1 d - github x=v& 2\n{}", "bad header fields"},
        {"HP2 a 1 d - github X=v 2\n{}", "bad header fields"},
        {"HP2 a 1 d - github x=%G1 2\n{}", "bad header fields"},
        {"HP2 a 1 d - github x=v&&y=w 2\n{}", "bad header fields"},
        {"HP2 a 1 d - github x=v 3\n{}", "length does not match"},
        {"HP2 a 1 d - abcdefghijklmnopq - 2\n{}", "bad provider"},
    };
    for (size_t i = 0; i < sizeof(rej) / sizeof(rej[0]); i++) {
        why = NULL;
        CHECKF(envelope_decode(rej[i].item, strlen(rej[i].item), &env, &why) != 0 && why &&
                   strstr(why, rej[i].why) != NULL,
               "%s: %s", rej[i].item, why ? why : "accepted");
    }
}

int main(void)
{
    test_v2();
    test_roundtrip();
    test_exact_header();
    test_encode_rejects();
    test_decode_rejects();
    return check_summary("test_envelope");
}
