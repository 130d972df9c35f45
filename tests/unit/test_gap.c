/*
 * Unit tests for common/gap.c: the exact text of an encoded gap item, round trips at the
 * edges of every field, and rejection of each malformed field, of an interval that does not
 * move forward, of a missing or doubled LF and of any byte after the line.
 */
#include "check.h"
#include "gap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct gap make(const char *source, int64_t started, int64_t ended, const char *reason,
                       const char *holder)
{
    struct gap g;

    memset(&g, 0, sizeof(g));
    snprintf(g.source, sizeof(g.source), "%s", source);
    g.started_us = started;
    g.ended_us = ended;
    snprintf(g.reason, sizeof(g.reason), "%s", reason);
    snprintf(g.holder, sizeof(g.holder), "%s", holder);
    return g;
}

/* decode(s) succeeds with the fields of want. */
static void accepts(int at, const char *s, const struct gap *want)
{
    struct gap g;
    const char *why = "";
    /* an exact-size copy: no NUL after the item to lean on */
    size_t n = strlen(s);
    char *copy = malloc(n ? n : 1);

    memcpy(copy, s, n);
    CHECKF(gap_decode(copy, n, &g, &why) == 0, "line %d: %s", at, why);
    CHECKF(strcmp(g.source, want->source) == 0, "line %d: source %s", at, g.source);
    CHECKF(g.started_us == want->started_us && g.ended_us == want->ended_us, "line %d: times", at);
    CHECKF(strcmp(g.reason, want->reason) == 0, "line %d: reason %s", at, g.reason);
    CHECKF(strcmp(g.holder, want->holder) == 0, "line %d: holder %s", at, g.holder);
    free(copy);
}

/* decode(s[0..n)) fails with a reason containing needle. */
static void rejects(int at, const char *s, size_t n, const char *needle)
{
    struct gap g;
    const char *why = NULL;
    char *copy = malloc(n ? n : 1);

    memcpy(copy, s, n);
    CHECKF(gap_decode(copy, n, &g, &why) == -1, "line %d: accepted %.*s", at, (int)n, s);
    CHECKF(why != NULL && strstr(why, needle) != NULL, "line %d: why \"%s\", want \"%s\"", at,
           why ? why : "(null)", needle);
    free(copy);
}

#define REJECTS(s, needle) rejects(__LINE__, s, strlen(s), needle)

static void test_encode_exact(void)
{
    char out[GAP_ITEM_MAX + 1];
    struct gap g = make("zoomws", 1767225600000000, 1767225605250000, "connection_lost",
                        "gw-1.example:4242:w0");
    int n = gap_encode(out, &g);

    CHECK(n > 0);
    CHECK_STR_EQ(out, "HPG1 zoomws 1767225600000000 1767225605250000 connection_lost "
                      "gw-1.example:4242:w0\n");
    CHECK(n == (int)strlen(out));
    accepts(__LINE__, out, &g);
    CHECK(gap_is_item(out, (size_t)n));
    CHECK(!gap_is_item("HP1 acme 1 d - 0\n", 17));
    CHECK(!gap_is_item("HPG1", 4));
    CHECK(!gap_is_item("HPG2 a 1 2 r h\n", 15));
}

static void test_roundtrip_edges(void)
{
    char out[GAP_ITEM_MAX + 1];
    char source[NAME_MAX_LEN + 1], reason[GAP_REASON_MAX + 1], holder[GAP_HOLDER_MAX + 1];
    struct gap g;
    int n;

    memset(source, 'S', NAME_MAX_LEN);
    source[NAME_MAX_LEN] = '\0';
    memset(reason, 'r', GAP_REASON_MAX);
    reason[GAP_REASON_MAX] = '\0';
    memset(holder, 'h', GAP_HOLDER_MAX);
    holder[GAP_HOLDER_MAX] = '\0';
    /* every field at its longest: the item is exactly GAP_ITEM_MAX bytes */
    g = make(source, INT64_MAX - 1, INT64_MAX, reason, holder);
    n = gap_encode(out, &g);
    CHECK_LONG_EQ(n, GAP_ITEM_MAX);
    accepts(__LINE__, out, &g);
    /* and at their shortest */
    g = make("a", 0, 1, "x", "h");
    CHECK(gap_encode(out, &g) == 15);
    CHECK_STR_EQ(out, "HPG1 a 0 1 x h\n");
    accepts(__LINE__, out, &g);
    /* every character class of each field */
    g = make("Az09_-", 5, 6, "holder_lost", "AZaz09_.:-");
    CHECK(gap_encode(out, &g) > 0);
    accepts(__LINE__, out, &g);
    /* the reasons the gateway uses */
    {
        static const char *const reasons[] = {
            "closed_by_zoom", "connection_lost", "heartbeat_timeout", "handshake_failed",
            "token_refused",  "lease_lost",      "redis_unreachable", "gateway_stopped",
            "source_removed", "holder_lost"};
        for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
            g = make("src", 1, 2, reasons[i], "h:1:w0");
            CHECK(gap_encode(out, &g) > 0);
            accepts(__LINE__, out, &g);
        }
    }
}

static void test_encode_refuses(void)
{
    char out[GAP_ITEM_MAX + 1];
    struct gap g;

    g = make("a", 1, 2, "r", "h");
    memset(g.source, 'a', sizeof(g.source)); /* no NUL: 65 name characters */
    CHECK(gap_encode(out, &g) == -1);
    g = make("", 1, 2, "r", "h");
    CHECK(gap_encode(out, &g) == -1);
    g = make("a b", 1, 2, "r", "h");
    CHECK(gap_encode(out, &g) == -1);
    g = make("a", 2, 2, "r", "h"); /* an empty interval is no gap */
    CHECK(gap_encode(out, &g) == -1);
    g = make("a", 3, 2, "r", "h");
    CHECK(gap_encode(out, &g) == -1);
    g = make("a", -1, 2, "r", "h");
    CHECK(gap_encode(out, &g) == -1);
    g = make("a", 1, 2, "Reason", "h");
    CHECK(gap_encode(out, &g) == -1);
    g = make("a", 1, 2, "", "h");
    CHECK(gap_encode(out, &g) == -1);
    g = make("a", 1, 2, "r", "");
    CHECK(gap_encode(out, &g) == -1);
    g = make("a", 1, 2, "r", "h/1");
    CHECK(gap_encode(out, &g) == -1);
    CHECK(!gap_reason_valid("abcdefghijklmnopqrstuvwxyz_abcdef", 33));
    CHECK(gap_reason_valid("abcdefghijklmnopqrstuvwxyz_abcde", 32));
    CHECK(!gap_holder_valid("h h", 3));
    CHECK(gap_holder_valid("host.example:12:w3", 18));
}

static void test_rejects(void)
{
    char big[GAP_ITEM_MAX + 64];
    char nineteen_nines[] = "9999999999999999999"; /* 19 digits, over INT64_MAX */

    REJECTS("", "not a gap item");
    REJECTS("HPG1", "not a gap item");
    REJECTS("HP1 a 1 d - 0\n", "not a gap item");
    REJECTS("hpg1 a 1 2 r h\n", "not a gap item");
    REJECTS("HPG1  a 1 2 r h\n", "bad source");
    REJECTS("HPG1 a/b 1 2 r h\n", "bad source");
    REJECTS("HPG1 a", "bad source");
    REJECTS("HPG1 a 1 2 r h", "bad holder"); /* no LF */
    /* a source one over the name rule's length */
    snprintf(big, sizeof(big), "HPG1 %065d 1 2 r h\n", 0);
    REJECTS(big, "bad source");
    REJECTS("HPG1 a x 2 r h\n", "bad start time");
    REJECTS("HPG1 a -1 2 r h\n", "bad start time");
    REJECTS("HPG1 a +1 2 r h\n", "bad start time");
    REJECTS("HPG1 a 01 2 r h\n", "bad start time"); /* one form per value */
    REJECTS("HPG1 a 1.5 2 r h\n", "bad start time");
    REJECTS("HPG1 a  1 2 r h\n", "bad start time");
    REJECTS("HPG1 a 12345678901234567890 2 r h\n", "bad start time"); /* 20 digits */
    snprintf(big, sizeof(big), "HPG1 a 1 %s r h\n", nineteen_nines);
    REJECTS(big, "bad end time");
    REJECTS("HPG1 a 1 x r h\n", "bad end time");
    REJECTS("HPG1 a 1 02 r h\n", "bad end time");
    REJECTS("HPG1 a 1 2\n", "bad end time");
    REJECTS("HPG1 a 2 2 r h\n", "ends before it starts");
    REJECTS("HPG1 a 3 2 r h\n", "ends before it starts");
    REJECTS("HPG1 a 1 2 R h\n", "bad reason");
    REJECTS("HPG1 a 1 2 r-x h\n", "bad reason");
    REJECTS("HPG1 a 1 2  h\n", "bad reason");
    REJECTS("HPG1 a 1 2 abcdefghijklmnopqrstuvwxyz_abcdef h\n", "bad reason");
    REJECTS("HPG1 a 1 2 r\n", "bad reason");
    REJECTS("HPG1 a 1 2 r h h\n", "bad holder");
    REJECTS("HPG1 a 1 2 r h/1\n", "bad holder");
    REJECTS("HPG1 a 1 2 r h\r\n", "bad holder");
    REJECTS("HPG1 a 1 2 r \n", "bad holder");
    memset(big, 'h', sizeof(big));
    memcpy(big, "HPG1 a 1 2 r ", 13);
    big[13 + GAP_HOLDER_MAX + 1] = '\n';
    rejects(__LINE__, big, 13 + GAP_HOLDER_MAX + 2, "bad holder");
    REJECTS("HPG1 a 1 2 r h\n\n", "bytes after");
    REJECTS("HPG1 a 1 2 r h\nx", "bytes after");
    REJECTS("HPG1 a 1 2 r h\nHPG1 a 3 4 r h\n", "bytes after");
    /* a NUL is no field character, wherever it is */
    rejects(__LINE__, "HPG1 a\0 1 2 r h\n", 16, "bad source");
    rejects(__LINE__, "HPG1 a 1 2 r h\n\0", 16, "bytes after");
}

int main(void)
{
    test_encode_exact();
    test_roundtrip_edges();
    test_encode_refuses();
    test_rejects();
    return check_summary("test_gap");
}
