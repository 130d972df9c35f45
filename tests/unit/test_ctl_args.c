/*
 * Unit tests for ctl/args.c: option tables (values, flags, =, --, repeats, unknowns),
 * numbers, the --since/--until time forms and the --event glob to LIKE conversion; and the
 * options of gaps (ctl/gaps.c) with its window rule and duration text.
 */
#include "args.h"
#include "check.h"
#include "gaps.h"

#include <stdint.h>

#define NOW_US 1764583200000000LL /* 2025-12-01T10:00:00Z */

static int parse(int argc, char **argv, const char **limit, bool *json, char **pos, size_t *npos,
                 char *err)
{
    struct args_opt opts[] = {{"--limit", limit, NULL}, {"--json", NULL, json}};
    *limit = NULL;
    *json = false;
    err[0] = '\0';
    return args_parse(argc, argv, opts, 2, pos, 2, npos, err, ARGS_ERR_LEN);
}

static void test_parse(void)
{
    const char *limit;
    bool json;
    char *pos[2];
    size_t npos;
    char err[ARGS_ERR_LEN];

    {
        char *argv[] = {"--limit", "5", "a", "--json", "b"};
        CHECK(parse(5, argv, &limit, &json, pos, &npos, err) == 0);
        CHECK_STR_EQ(limit, "5");
        CHECK(json);
        CHECK(npos == 2);
        CHECK_STR_EQ(pos[0], "a");
        CHECK_STR_EQ(pos[1], "b");
    }
    {
        char *argv[] = {"--limit=7"};
        CHECK(parse(1, argv, &limit, &json, pos, &npos, err) == 0);
        CHECK_STR_EQ(limit, "7");
        CHECK(!json && npos == 0);
    }
    {
        char *argv[] = {"--", "--json"};
        CHECK(parse(2, argv, &limit, &json, pos, &npos, err) == 0);
        CHECK(!json && npos == 1);
        CHECK_STR_EQ(pos[0], "--json");
    }
    {
        char *argv[] = {"--nope"};
        CHECK(parse(1, argv, &limit, &json, pos, &npos, err) < 0);
        CHECK_STR_EQ(err, "unknown option --nope");
    }
    {
        char *argv[] = {"--nope=3"};
        CHECK(parse(1, argv, &limit, &json, pos, &npos, err) < 0);
        CHECK_STR_EQ(err, "unknown option --nope");
    }
    {
        char *argv[] = {"-j"};
        CHECK(parse(1, argv, &limit, &json, pos, &npos, err) < 0);
        CHECK_CONTAINS(err, "unknown option");
    }
    {
        char *argv[] = {"--limit"};
        CHECK(parse(1, argv, &limit, &json, pos, &npos, err) < 0);
        CHECK_STR_EQ(err, "--limit needs a value");
    }
    {
        char *argv[] = {"--json=1"};
        CHECK(parse(1, argv, &limit, &json, pos, &npos, err) < 0);
        CHECK_STR_EQ(err, "--json takes no value");
    }
    {
        char *argv[] = {"--json", "--json"};
        CHECK(parse(2, argv, &limit, &json, pos, &npos, err) < 0);
        CHECK_STR_EQ(err, "--json given twice");
    }
    {
        char *argv[] = {"--limit", "1", "--limit=2"};
        CHECK(parse(3, argv, &limit, &json, pos, &npos, err) < 0);
        CHECK_STR_EQ(err, "--limit given twice");
    }
    {
        char *argv[] = {"a", "b", "c"};
        CHECK(parse(3, argv, &limit, &json, pos, &npos, err) < 0);
        CHECK_STR_EQ(err, "unexpected argument \"c\"");
    }
    {
        char *argv[] = {"-"}; /* a lone dash is a word */
        CHECK(parse(1, argv, &limit, &json, pos, &npos, err) == 0);
        CHECK(npos == 1);
    }
}

static void test_numbers(void)
{
    long v;
    double d;

    CHECK(args_long("42", 1, 100, &v) == 0 && v == 42);
    CHECK(args_long("0", 1, 100, &v) < 0);
    CHECK(args_long("101", 1, 100, &v) < 0);
    CHECK(args_long("4x", 1, 100, &v) < 0);
    CHECK(args_long("", 1, 100, &v) < 0);
    CHECK(args_long(" 4", 1, 100, &v) < 0);
    CHECK(args_long("+4", 1, 100, &v) < 0);
    CHECK(args_long("99999999999999999999999", 1, 100, &v) < 0);
    CHECK(args_double("2.5", 100, &d) == 0 && d == 2.5);
    CHECK(args_double("0", 100, &d) < 0);
    CHECK(args_double("-1", 100, &d) < 0);
    CHECK(args_double("nan", 100, &d) < 0);
    CHECK(args_double("inf", 100, &d) < 0);
    CHECK(args_double("1e9", 100, &d) < 0);
    CHECK(args_double("5/s", 100, &d) < 0);
}

static void test_time(void)
{
    int64_t t;
    const char *why;
    char buf[48];

    CHECK(args_time("2025-12-01", NOW_US, &t, &why) == 0 && t == 1764547200000000LL);
    CHECK(args_time("2025-12-01T10:00:00Z", NOW_US, &t, &why) == 0 && t == NOW_US);
    CHECK(args_time("2025-12-01 10:00:00", NOW_US, &t, &why) == 0 && t == NOW_US);
    CHECK(args_time("2025-12-01T10:00", NOW_US, &t, &why) == 0 && t == NOW_US);
    CHECK(args_time("2025-12-01T12:00:00+02:00", NOW_US, &t, &why) == 0 && t == NOW_US);
    CHECK(args_time("2025-12-01T05:00:00-0500", NOW_US, &t, &why) == 0 && t == NOW_US);
    CHECK(args_time("2025-12-01T10:00:00.25Z", NOW_US, &t, &why) == 0 && t == NOW_US + 250000);
    CHECK(args_time("2025-12-01T10:00:00.123456Z", NOW_US, &t, &why) == 0 && t == NOW_US + 123456);
    CHECK(args_time("@1764583200", NOW_US, &t, &why) == 0 && t == NOW_US);
    CHECK(args_time("90s", NOW_US, &t, &why) == 0 && t == NOW_US - 90000000LL);
    CHECK(args_time("15m", NOW_US, &t, &why) == 0 && t == NOW_US - 900000000LL);
    CHECK(args_time("2h", NOW_US, &t, &why) == 0 && t == NOW_US - 7200000000LL);
    CHECK(args_time("1.5h", NOW_US, &t, &why) == 0 && t == NOW_US - 5400000000LL);
    CHECK(args_time("7d", NOW_US, &t, &why) == 0 && t == NOW_US - 604800000000LL);
    /* bad ones */
    const char *bad[] = {"",
                         "yesterday",
                         "2h ago",
                         "5",
                         "-2h",
                         "2025-13-01",
                         "2025-02-30",
                         "2025-12-01T25:00",
                         "2025-12-01T10:00:00+",
                         "2025-12-01T10:00:00+2",
                         "2025-12-01T10:00:00Zjunk",
                         "2025-12-01T10:00:00.",
                         "2025-12-1",
                         "@",
                         "@12x",
                         "@-5",
                         "999999999d",
                         "2025-12-01T10"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        CHECKF(args_time(bad[i], NOW_US, &t, &why) < 0 && why != NULL, "\"%s\" accepted", bad[i]);
    }
    args_time_format(NOW_US + 5, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "2025-12-01 10:00:00.000005+00");
    args_time_format(0, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "1970-01-01 00:00:00.000000+00");
}

static void test_glob(void)
{
    char out[64];

    CHECK(args_glob_to_like("meeting.*", out, sizeof(out)) == 0);
    CHECK_STR_EQ(out, "meeting.%");
    CHECK(args_glob_to_like("a?c", out, sizeof(out)) == 0);
    CHECK_STR_EQ(out, "a_c");
    CHECK(args_glob_to_like("100%_x", out, sizeof(out)) == 0);
    CHECK_STR_EQ(out, "100\\%\\_x");
    CHECK(args_glob_to_like("a\\*b", out, sizeof(out)) == 0);
    CHECK_STR_EQ(out, "a*b");
    CHECK(args_glob_to_like("a\\\\b", out, sizeof(out)) == 0);
    CHECK_STR_EQ(out, "a\\\\b");
    CHECK(args_glob_to_like("a\\", out, sizeof(out)) < 0);
    CHECK(args_glob_to_like("abcdef", out, 4) < 0);
    CHECK(args_glob_to_like("", out, sizeof(out)) == 0);
    CHECK_STR_EQ(out, "");
}

/* gaps [--source S] [--since TIME] [--json] (ctl/gaps.c), its window and its durations. */
static void test_gaps(void)
{
    struct gaps_args a;
    char err[ARGS_ERR_LEN], buf[48];

    {
        char *argv[] = {"--source", "zoom_ws-1", "--since=2h", "--json"};
        CHECK(gaps_args_parse(4, argv, NOW_US, &a, err, sizeof(err)) == 0);
        CHECK_STR_EQ(a.source, "zoom_ws-1");
        CHECK_STR_EQ(a.since, "2h");
        CHECK(a.since_us == NOW_US - 7200000000LL);
        CHECK(a.json);
    }
    {
        CHECK(gaps_args_parse(0, NULL, NOW_US, &a, err, sizeof(err)) == 0);
        CHECK(a.source == NULL && a.since == NULL && a.since_us == 0 && !a.json);
    }
    {
        char *argv[] = {"--since", "2025-12-01T09:00:00+01:00"}; /* the forms replay takes */
        CHECK(gaps_args_parse(2, argv, NOW_US, &a, err, sizeof(err)) == 0);
        CHECK(a.since_us == NOW_US - 7200000000LL);
    }
    {
        char *argv[] = {"--since", "@1764583200"};
        CHECK(gaps_args_parse(2, argv, NOW_US, &a, err, sizeof(err)) == 0);
        CHECK(a.since_us == NOW_US);
    }
    {
        char *argv[] = {"--since", "yesterday"};
        CHECK(gaps_args_parse(2, argv, NOW_US, &a, err, sizeof(err)) < 0);
        CHECK_CONTAINS(err, "bad --since \"yesterday\": not a time");
    }
    {
        char *argv[] = {"--source", "a:b"};
        CHECK(gaps_args_parse(2, argv, NOW_US, &a, err, sizeof(err)) < 0);
        CHECK_CONTAINS(err, "bad --source \"a:b\"");
    }
    {
        char *argv[] = {"--source", ""};
        CHECK(gaps_args_parse(2, argv, NOW_US, &a, err, sizeof(err)) < 0);
        CHECK_CONTAINS(err, "bad --source");
    }
    {
        char *argv[] = {"--source"};
        CHECK(gaps_args_parse(1, argv, NOW_US, &a, err, sizeof(err)) < 0);
        CHECK_STR_EQ(err, "--source needs a value");
    }
    {
        char *argv[] = {"--source", "a", "--source", "b"};
        CHECK(gaps_args_parse(4, argv, NOW_US, &a, err, sizeof(err)) < 0);
        CHECK_STR_EQ(err, "--source given twice");
    }
    {
        char *argv[] = {"--until", "1h"};
        CHECK(gaps_args_parse(2, argv, NOW_US, &a, err, sizeof(err)) < 0);
        CHECK_STR_EQ(err, "unknown option --until");
    }
    {
        char *argv[] = {"zoomws"};
        CHECK(gaps_args_parse(1, argv, NOW_US, &a, err, sizeof(err)) < 0);
        CHECK_STR_EQ(err, "unexpected argument \"zoomws\"");
    }
    /* the time a gap lost after --since */
    CHECK(gaps_lost_us(100, 250, 0) == 150);
    CHECK(gaps_lost_us(100, 250, 200) == 50); /* began before the window: counted from it */
    CHECK(gaps_lost_us(100, 250, 250) == 0);
    CHECK(gaps_lost_us(100, 250, 300) == 0);
    CHECK(gaps_lost_us(100, 250, 50) == 150);
    /* durations */
    gaps_duration_format(0, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "0.000s");
    gaps_duration_format(5250000, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "5.250s");
    gaps_duration_format(999, buf, sizeof(buf)); /* to the millisecond, rounded down */
    CHECK_STR_EQ(buf, "0.000s");
    gaps_duration_format(123250000, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "2m 03.250s");
    gaps_duration_format(3723250000LL, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "1h 02m 03.250s");
    gaps_duration_format(273906007000LL, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "3d 04h 05m 06.007s");
    gaps_duration_format(-5, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "0.000s");
}

int main(void)
{
    test_parse();
    test_numbers();
    test_time();
    test_glob();
    test_gaps();
    return check_summary("test_ctl_args");
}
