/*
 * Unit tests for writer/row.c: classification of queue items (good rows, and the dead
 * letters jansson can spot: bad envelopes, invalid UTF-8, \u0000, not JSON, not an
 * object, no string event), gap items (valid, malformed, out of timestamptz range), column
 * extraction, and COPY text escaping of every byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "row.h"

static char item_buf[65536];

/* An envelope v1 around body (len bytes). Returns the item length. */
static size_t make_item(const char *body, size_t len, const char *request_id)
{
    int n = envelope_encode_header(item_buf, "acme", 1700000000123456, "dlv1", request_id,
                                   request_id ? strlen(request_id) : 0, len);
    if (n < 0)
        return 0;
    memcpy(item_buf + n, body, len);
    return (size_t)n + len;
}

static void classify(struct row *r, const char *body, size_t len)
{
    size_t n = make_item(body, len, NULL);
    CHECK(row_classify(r, item_buf, n) == 0);
}

static void test_good_row(void)
{
    const char *b = "{\"event\":\"meeting.started\",\"event_ts\":1626230691572,\"payload\":"
                    "{\"account_id\":\"AAAA\",\"object\":{\"id\":\"1\"}}}";
    struct row r;

    classify(&r, b, strlen(b));
    CHECK(!r.dead);
    CHECK_STR_EQ(r.event, "meeting.started");
    CHECK_STR_EQ(r.account_id, "AAAA");
    CHECK(r.has_event_ts && r.event_ts_ms == 1626230691572LL);
    CHECK_STR_EQ(r.env.source, "acme");
    CHECK(r.env.body_len == strlen(b));
    row_free(&r);
}

static void test_optional_fields(void)
{
    struct row r;
    const char *b = "{\"event\":\"x\",\"event_ts\":\"soon\",\"payload\":{\"account_id\":7}}";

    classify(&r, b, strlen(b));
    CHECK(!r.dead);
    CHECK(!r.has_event_ts);
    CHECK(r.account_id == NULL);
    row_free(&r);
    b = "{\"event\":\"x\",\"event_ts\":-1}";
    classify(&r, b, strlen(b));
    CHECK(!r.dead && !r.has_event_ts);
    row_free(&r);
    b = "{\"event\":\"x\",\"event_ts\":99999999999999999}"; /* beyond year 9999 */
    classify(&r, b, strlen(b));
    CHECK(!r.dead && !r.has_event_ts);
    row_free(&r);
    b = "{\"event\":\"x\",\"event_ts\":1.5e12}";
    classify(&r, b, strlen(b));
    CHECK(!r.dead && r.has_event_ts && r.event_ts_ms == 1500000000000LL);
    row_free(&r);
}

static void expect_dead(const char *body, size_t len, const char *why)
{
    struct row r;

    classify(&r, body, len);
    CHECKF(r.dead, "body %.*s should be dead", (int)len, body);
    if (r.dead)
        CHECK_CONTAINS(r.reason, why);
    row_free(&r);
}

static void test_dead_bodies(void)
{
    expect_dead("{\"event\":\"e\",\"x\":\"a\\u0000b\"}", 26, "\\u0000");
    expect_dead("{\"event\":\"e\",\"x\":\"\\ud800\"}", 25, "surrogate");
    expect_dead("{\"event\":\"e\",\"x\":\"\xff\xfe\"}", 20, "not valid JSON");
    expect_dead("{\"event\":\"e\",\"x\":\"a\0b\"}", 21, "not valid JSON");
    expect_dead("not json", 8, "not a JSON object"); /* 'n' could start null */
    expect_dead("<html>", 6, "not valid JSON");
    expect_dead("", 0, "not valid JSON");
    expect_dead("[1,2]", 5, "not a JSON object");
    expect_dead("{\"payload\":{}}", 14, "no string \"event\"");
    expect_dead("{\"event\":5}", 11, "no string \"event\"");
}

static void test_bad_envelopes(void)
{
    struct row r;
    const char *items[] = {"HP9 acme 1 d - 2\n{}", "garbage", "HP1 acme 1 d - 5\n{}", ""};

    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        CHECK(row_classify(&r, items[i], strlen(items[i])) == 0);
        CHECK(r.dead && !r.has_envelope);
        CHECK(r.reason != NULL && strstr(r.reason, "envelope") != NULL);
        row_free(&r);
    }
}

/* Gap items: a valid one is a gap (no event row), a malformed one a dead letter with why. */
static void test_gap_items(void)
{
    struct row r;
    const char *good = "HPG1 zoomws 1767225600000000 1767225605250000 connection_lost gw:1:w0\n";
    const struct {
        const char *item, *why;
    } bad[] = {
        {"HPG1 zoomws 5 4 connection_lost gw:1:w0\n", "ends before it starts"},
        {"HPG1 zoomws 1 2 Lost gw:1:w0\n", "bad reason in gap item"},
        {"HPG1 zoomws 1 2 lost gw:1:w0\ntrailing", "bytes after"},
        {"HPG1 zoomws 1 253402300800000000 lost gw:1:w0\n", "gap time out of range"},
        {"HPG1 ", "bad source in gap item"},
    };

    CHECK(row_classify(&r, good, strlen(good)) == 0);
    CHECK(r.is_gap && !r.dead && !r.has_envelope);
    CHECK_STR_EQ(r.gap.source, "zoomws");
    CHECK(r.gap.started_us == 1767225600000000 && r.gap.ended_us == 1767225605250000);
    CHECK_STR_EQ(r.gap.reason, "connection_lost");
    CHECK_STR_EQ(r.gap.holder, "gw:1:w0");
    row_free(&r);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(row_classify(&r, bad[i].item, strlen(bad[i].item)) == 0);
        CHECK(r.dead && !r.is_gap && !r.has_envelope);
        CHECK_CONTAINS(r.reason, bad[i].why);
        row_free(&r);
    }
    /* the last moment PostgreSQL's timestamptz holds is still a gap */
    {
        const char *edge = "HPG1 s 1 253402300799999999 lost h\n";
        char text[ROW_TIMESTAMP_MAX];
        CHECK(row_classify(&r, edge, strlen(edge)) == 0);
        CHECK(r.is_gap && !r.dead);
        row_free(&r);
        CHECK(row_timestamp_text(text, 253402300799999999LL, true) == 29);
        CHECK_STR_EQ(text, "9999-12-31 23:59:59.999999+00");
    }
}

static void test_item_key_distinguishes_items(void)
{
    struct row a, b;
    char copy[256];
    size_t n = make_item("x", 1, NULL);

    memcpy(copy, item_buf, n);
    CHECK(row_classify(&a, copy, n) == 0);
    copy[n - 1] = 'y';
    CHECK(row_classify(&b, copy, n) == 0);
    CHECK(memcmp(a.item_key, b.item_key, EVENT_KEY_LEN) != 0);
    row_free(&a);
    row_free(&b);
}

/* Reverses COPY text escaping for one field, for the round-trip check. */
static size_t unescape(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len) {
            char c = s[++i];
            out[o++] = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

static void test_copy_escaping_every_byte(void)
{
    char all[255];
    char back[1024];
    struct strbuf buf = {0};
    bool bad = false;
    size_t n;

    for (int i = 1; i < 256; i++)
        all[i - 1] = (char)i;
    row_copy_escaped(&buf, all, sizeof(all));
    CHECK(!buf.failed);
    for (size_t i = 0; i < buf.len; i++) {
        /* no raw delimiter, newline or CR may survive; every backslash starts an escape */
        if (buf.data[i] == '\t' || buf.data[i] == '\n' || buf.data[i] == '\r')
            bad = true;
        if (buf.data[i] == '\\') {
            char c = buf.data[i + 1];
            if (c != '\\' && c != 't' && c != 'n' && c != 'r')
                bad = true;
            i++;
        }
    }
    CHECK(!bad);
    n = unescape(buf.data, buf.len, back);
    CHECK(n == sizeof(all) && memcmp(back, all, n) == 0);
    strbuf_free(&buf);
}

static void test_copy_line(void)
{
    const char *b = "{\"event\":\"a\\tb\",\"event_ts\":7,\"payload\":{\"account_id\":\"x\\\\y\"},"
                    "\"t\":\"\\\\N\"}\n";
    struct row r;
    struct strbuf buf = {0};
    char *line;
    size_t n = make_item(b, strlen(b), "r i%d");

    CHECK(row_classify(&r, item_buf, n) == 0);
    CHECK(!r.dead);
    row_copy_line(&buf, &r, 42, true);
    CHECK(!buf.failed);
    line = strndup(buf.data, buf.len);
    /* ord, source, event (a real tab inside), event_ts_ms, account_id, received_us */
    {
        const char *want = "42\tacme\ta\\tb\t7\tx\\\\y\t1700000000123456\t\\\\x";
        CHECK(strncmp(line, want, strlen(want)) == 0);
    }
    /* payload: raw body with its backslashes doubled and its newline escaped */
    CHECK_CONTAINS(line, "\t{\"event\":\"a\\\\tb\",\"event_ts\":7,");
    CHECK_CONTAINS(line, "\"t\":\"\\\\\\\\N\"}\\n\tdlv1\tr%20i%25d\t");
    CHECK(line[buf.len - 1] == '\n' && strchr(line, '\n') == line + buf.len - 1);
    /* exactly 13 columns: body (the same escaped bytes as payload), event_time_ms, other_ms */
    {
        int tabs = 0;
        const char *tail = "\t7\t\\N\n";
        for (size_t i = 0; i < buf.len; i++)
            tabs += line[i] == '\t';
        CHECK_LONG_EQ(tabs, 12);
        CHECK(strcmp(line + buf.len - strlen(tail), tail) == 0);
        line[buf.len - strlen(tail)] = '\0';
        const char *payload = strstr(line, "\t{\"event\"");
        const char *body = strrchr(line, '\t');
        size_t plen = (size_t)(strchr(payload + 1, '\t') - payload);
        CHECK(payload != NULL && body > payload);
        CHECK_LONG_EQ((long)strlen(body), (long)plen);
        CHECK(strncmp(payload, body, plen) == 0);
    }
    free(line);
    strbuf_free(&buf);
    row_free(&r);
}

static void test_copy_line_nulls(void)
{
    const char *b = "{\"event\":\"e\"}";
    struct row r;
    struct strbuf buf = {0};
    char *line;

    classify(&r, b, strlen(b));
    row_copy_line(&buf, &r, 0, false);
    line = strndup(buf.data, buf.len);
    CHECK(strncmp(line, "0\tacme\te\t\\N\t\\N\t", strlen("0\tacme\te\t\\N\t\\N\t")) == 0);
    /* no request id; keep_body off: body NULL */
    /* then event_time_ms 0 (undated) and other_ms NULL */
    CHECK(buf.len > 12 && strcmp(line + buf.len - 12, "\t\\N\t\\N\t0\t\\N\n") == 0);
    free(line);
    strbuf_free(&buf);
    row_free(&r);
}

/* The direct form: no ordinal, times as UTC timestamptz text, the same columns otherwise. */
static void test_copy_events_line(void)
{
    const char *b = "{\"event\":\"a\\tb\",\"event_ts\":1626230691572,\"payload\":"
                    "{\"account_id\":\"x\\\\y\"}}\n";
    struct row r;
    struct strbuf buf = {0};
    char want[512];
    char key[2 * EVENT_KEY_LEN + 1];
    size_t n = make_item(b, strlen(b), "r i%d");

    CHECK(row_classify(&r, item_buf, n) == 0);
    CHECK(!r.dead);
    for (int i = 0; i < EVENT_KEY_LEN; i++)
        snprintf(key + 2 * i, 3, "%02x", r.key[i]);
    row_copy_events_line(&buf, &r, true);
    CHECK(!buf.failed);
    snprintf(want, sizeof(want),
             "acme\ta\\tb\t2021-07-14 02:44:51.572+00\tx\\\\y\t2023-11-14 22:13:20.123456+00\t"
             "\\\\x%s\t{\"event\":\"a\\\\tb\",\"event_ts\":1626230691572,\"payload\":"
             "{\"account_id\":\"x\\\\\\\\y\"}}\\n\tdlv1\tr%%20i%%25d\t2021-07-14 02:44:51.572+00\t"
             "{\"event\":\"a\\\\tb\",\"event_ts\":1626230691572,\"payload\":"
             "{\"account_id\":\"x\\\\\\\\y\"}}\\n\n",
             key);
    CHECK_STR_EQ(buf.data, want);
    strbuf_free(&buf);
    row_free(&r);

    /* no event_ts, no account_id, no request id: NULLs */
    b = "{\"event\":\"e\"}";
    classify(&r, b, strlen(b));
    row_copy_events_line(&buf, &r, false);
    CHECK(strncmp(buf.data, "acme\te\t\\N\t\\N\t2023-11-14 22:13:20.123456+00\t",
                  strlen("acme\te\t\\N\t\\N\t2023-11-14 22:13:20.123456+00\t")) == 0);
    /* no request id, and event_time 1970-01-01 (the undated partition) */
    CHECK(buf.len > 34 &&
          strcmp(buf.data + buf.len - 34, "\t\\N\t1970-01-01 00:00:00.000+00\t\\N\n") == 0);
    strbuf_free(&buf);
    row_free(&r);
}

static void test_mark_dead(void)
{
    struct row r;
    const char *b = "{\"event\":\"e\"}";

    classify(&r, b, strlen(b));
    CHECK(row_mark_dead(&r, "postgres: nope") == 0);
    CHECK(r.dead);
    CHECK_STR_EQ(r.reason, "postgres: nope");
    row_free(&r);
}

/* A row received at 1700000000123 ms whose event_ts is d ms ahead of that, placed by w. */
static void place(struct row *r, long long d, const struct row_window *w)
{
    char b[128];
    int n = snprintf(b, sizeof(b), "{\"event\":\"e\",\"event_ts\":%lld}", 1700000000123LL + d);

    classify(r, b, (size_t)n);
    row_place_window(r, w);
}

/*
 * The window: dated inside [received - past, received + future] (edges included), undated
 * outside; within ROW_RETRY_MARGIN_MS of an edge, on either side, the other place is checked.
 */
static void test_place_window(void)
{
    const long long day = 86400000LL, m = ROW_RETRY_MARGIN_MS;
    const struct row_window w = {7 * day, 2 * day};
    const struct {
        long long d;
        enum row_place place;
        bool check;
    } cases[] = {
        {0, ROW_DATED, false},                   /* the usual delivery */
        {-85 * 60000LL, ROW_DATED, false},       /* Zoom's last retry */
        {-7 * day, ROW_DATED, true},             /* the past edge, inside */
        {-7 * day + m - 1, ROW_DATED, true},     /* within the margin inside */
        {-7 * day + m, ROW_DATED, false},        /* just beyond it */
        {-7 * day - 1, ROW_OUT_OF_WINDOW, true}, /* just outside */
        {-7 * day - m, ROW_OUT_OF_WINDOW, true}, /* the margin's far end */
        {-7 * day - m - 1, ROW_OUT_OF_WINDOW, false},
        {-1700000000000LL, ROW_OUT_OF_WINDOW, false}, /* 1970 */
        {2 * day, ROW_DATED, true},                   /* the future edge, inside */
        {2 * day - m, ROW_DATED, false},
        {2 * day - m + 1, ROW_DATED, true},
        {2 * day + 1, ROW_OUT_OF_WINDOW, true},
        {2 * day + m, ROW_OUT_OF_WINDOW, true},
        {2 * day + m + 1, ROW_OUT_OF_WINDOW, false},
        {3000 * day, ROW_OUT_OF_WINDOW, false},
    };
    struct row r;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        place(&r, cases[i].d, &w);
        CHECK_LONG_EQ((long)r.place, (long)cases[i].place);
        CHECK(r.check_other == cases[i].check);
        if (cases[i].place == ROW_DATED) {
            CHECK(row_event_time_ms(&r) == r.event_ts_ms);
            CHECK(!r.check_other || r.other_ms == 0); /* the other place: undated */
        } else {
            CHECK(row_event_time_ms(&r) == 0);
            CHECK(!r.check_other || r.other_ms == r.event_ts_ms);
        }
        row_free(&r);
    }
    /* a retry received later can flip the decision; the pair always checks each other */
    {
        struct row first;
        char b[128];
        long long ts = 1700000000123LL + 2 * day + 60000; /* a minute past the first's window */
        int n = snprintf(b, sizeof(b), "{\"event\":\"e\",\"event_ts\":%lld}", ts);
        classify(&first, b, (size_t)n);
        row_place_window(&first, &w);
        CHECK(first.place == ROW_OUT_OF_WINDOW && first.check_other);
        first.env.received_us += 85 * 60000000LL; /* the same body, 85 minutes later */
        row_place_window(&first, &w);
        CHECK(first.place == ROW_DATED && first.check_other && first.other_ms == 0);
        row_free(&first);
    }
    /* no event_ts: undated, nothing to check; no partition: undated, checks the dated place */
    {
        const char *b = "{\"event\":\"e\"}";
        classify(&r, b, strlen(b));
        row_place_window(&r, &w);
        CHECK(r.place == ROW_NO_EVENT_TS && !r.check_other && row_event_time_ms(&r) == 0);
        row_free(&r);
        place(&r, 0, &w);
        row_place_no_partition(&r);
        CHECK(r.place == ROW_NO_PARTITION && r.check_other && r.other_ms == r.event_ts_ms);
        CHECK(row_event_time_ms(&r) == 0);
        row_free(&r);
    }
}

int main(void)
{
    test_good_row();
    test_optional_fields();
    test_dead_bodies();
    test_bad_envelopes();
    test_gap_items();
    test_item_key_distinguishes_items();
    test_copy_escaping_every_byte();
    test_copy_line();
    test_copy_line_nulls();
    test_copy_events_line();
    test_mark_dead();
    test_place_window();
    return check_summary("test_row");
}
