/*
 * Unit tests for writer/row.c: classification of queue items (good rows, and the dead
 * letters jansson can spot: bad envelopes, invalid UTF-8, \u0000, not JSON, not an
 * object, no string event), gap items (valid, malformed, out of timestamptz range), column
 * extraction, COPY text escaping of every byte, and the rows of the other providers (HP2
 * envelopes: provider and headers columns, undated GitHub rows, the longer past-edge margin).
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
    /*
     * exactly 15 columns: body (the same escaped bytes as payload), event_time_ms, other_ms,
     * provider (zoom) and headers (NULL for Zoom)
     */
    {
        int tabs = 0;
        const char *tail = "\t7\t\\N\tzoom\t\\N\n";
        for (size_t i = 0; i < buf.len; i++)
            tabs += line[i] == '\t';
        CHECK_LONG_EQ(tabs, 14);
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
    /* then event_time_ms 0 (undated), other_ms NULL, provider zoom, headers NULL */
    {
        const char *tail = "\t\\N\t\\N\t0\t\\N\tzoom\t\\N\n";
        CHECK(buf.len > strlen(tail) && strcmp(line + buf.len - strlen(tail), tail) == 0);
    }
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
             "{\"account_id\":\"x\\\\\\\\y\"}}\\n\tzoom\t\\N\n",
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
    /* no request id, and event_time 1970-01-01 (the undated partition); zoom, no headers */
    {
        const char *tail = "\t\\N\t1970-01-01 00:00:00.000+00\t\\N\tzoom\t\\N\n";
        CHECK(buf.len > strlen(tail) && strcmp(buf.data + buf.len - strlen(tail), tail) == 0);
    }
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

/* An HP2 envelope of provider around body (a C string) with fields. Returns the item length. */
static size_t make_item_v2(const char *provider, const struct envelope_field *fields,
                           size_t nfields, const char *body)
{
    size_t len = strlen(body);
    int n = envelope_encode_header_v2(item_buf, "acme", 1700000000123456, "dlv1", NULL, 0, provider,
                                      fields, nfields, len);
    if (n < 0)
        return 0;
    memcpy(item_buf + n, body, len);
    return (size_t)n + len;
}

/* Rows of the other providers: facts.c's facts, the provider and headers columns. */
static void test_provider_rows(void)
{
    const char *stripe = "{\"id\":\"evt_1\",\"created\":1700000000,\"type\":\"invoice.paid\","
                         "\"account\":\"acct_1\"}";
    const struct envelope_field gh[] = {{"x-github-delivery", "d-1", 3},
                                        {"x-github-event", "ping", 4}};
    const struct row_window w = {7 * 86400000LL, 2 * 86400000LL};
    struct row r, r2;
    struct strbuf buf = {0};
    char key[2 * EVENT_KEY_LEN + 1];
    char want[512];

    CHECK(row_classify(&r, item_buf, make_item_v2("stripe", NULL, 0, stripe)) == 0);
    CHECK(!r.dead && r.other_provider);
    CHECK_STR_EQ(r.event, "invoice.paid");
    CHECK_STR_EQ(r.account_id, "acct_1");
    CHECK(r.has_event_ts && r.event_ts_ms == 1700000000000LL && !r.time_of_delivery);
    row_place_window(&r, &w);
    CHECK(r.place == ROW_DATED && !r.check_other && row_event_time_ms(&r) == 1700000000000LL);
    for (int i = 0; i < EVENT_KEY_LEN; i++)
        snprintf(key + 2 * i, 3, "%02x", r.key[i]);
    row_copy_events_line(&buf, &r, false);
    snprintf(want, sizeof(want),
             "acme\tinvoice.paid\t2023-11-14 22:13:20.000+00\tacct_1\t"
             "2023-11-14 22:13:20.123456+00\t\\\\x%s\t%s\tdlv1\t\\N\t"
             "2023-11-14 22:13:20.000+00\t\\N\tstripe\t{}\n",
             key, stripe);
    CHECK_STR_EQ(buf.data, want);
    strbuf_free(&buf);
    /* a redelivery (same id, later, other bytes): the same key */
    CHECK(row_classify(
              &r2, item_buf,
              make_item_v2("stripe", NULL, 0, "{\"id\":\"evt_1\",\"pending_webhooks\":2}")) == 0);
    CHECK(memcmp(r.key, r2.key, EVENT_KEY_LEN) == 0);
    row_free(&r2);
    row_free(&r);

    /* GitHub: the time is the receipt's, so the row is undated and a redelivery finds it */
    CHECK(row_classify(&r, item_buf, make_item_v2("github", gh, 2, "[1,\"\\t\"]")) == 0);
    CHECK(!r.dead && r.has_event_ts && r.time_of_delivery);
    CHECK(r.event_ts_ms == 1700000000123LL);
    CHECK_STR_EQ(r.event, "ping");
    CHECK(r.account_id == NULL);
    row_place_window(&r, &w);
    CHECK(r.place == ROW_NO_EVENT_TS && !r.check_other && row_event_time_ms(&r) == 0);
    row_copy_line(&buf, &r, 3, true);
    {
        const char *head = "3\tacme\tping\t1700000000123\t\\N\t1700000000123456\t";
        const char *tail = "\t[1,\"\\\\t\"]\t0\t\\N\tgithub\t"
                           "{\"x-github-delivery\":\"d-1\",\"x-github-event\":\"ping\"}\n";
        CHECK(strncmp(buf.data, head, strlen(head)) == 0);
        CHECK(buf.len > strlen(tail) && strcmp(buf.data + buf.len - strlen(tail), tail) == 0);
    }
    strbuf_free(&buf);
    row_free(&r);

    /* a missing event is NULL in COPY */
    CHECK(row_classify(&r, item_buf, make_item_v2("slack", NULL, 0, "{}")) == 0);
    CHECK(!r.dead && r.event == NULL && !r.has_event_ts && r.place == ROW_NO_EVENT_TS);
    row_copy_events_line(&buf, &r, false);
    CHECK(strncmp(buf.data, "acme\t\\N\t\\N\t\\N\t", 14) == 0);
    strbuf_free(&buf);
    row_free(&r);

    /* dead: a body that is not JSON; a provider this writer does not know */
    CHECK(row_classify(&r, item_buf, make_item_v2("github", gh, 2, "Hello, World!")) == 0);
    CHECK(r.dead && strncmp(r.reason, "body is not valid JSON: ", 24) == 0);
    row_free(&r);
    CHECK(row_classify(&r, item_buf, make_item_v2("gitlab", NULL, 0, "{}")) == 0);
    CHECK(r.dead);
    CHECK_STR_EQ(r.reason, "unknown provider \"gitlab\"");
    row_free(&r);

    /* an HP2 envelope of provider zoom takes the Zoom path */
    CHECK(row_classify(&r, item_buf, make_item_v2("zoom", NULL, 0, "[]")) == 0);
    CHECK(r.dead);
    CHECK_STR_EQ(r.reason, "body is not a JSON object");
    row_free(&r);
    CHECK(row_classify(&r, item_buf, make_item_v2("zoom", NULL, 0, "{\"event\":\"e\"}")) == 0);
    CHECK(!r.dead && !r.other_provider && r.headers == NULL);
    row_free(&r);
}

/* The other providers' longer margin at the window's past edge; the future edge as Zoom's. */
static void test_provider_margin(void)
{
    const long long day = 86400000LL, m = ROW_RETRY_MARGIN_MS, pm = ROW_PROVIDER_RETRY_MARGIN_MS;
    const struct row_window w = {7 * day, 2 * day};
    const struct {
        long long d;
        bool zoom, other; /* check_other for a Zoom row, for a Stripe row */
    } cases[] = {
        {0, false, false},
        {-7 * day + m - 1, true, true},
        {-7 * day + m, false, true},
        {-7 * day + pm - 1, false, true},
        {-7 * day + pm, false, false},
        {-7 * day - m - 1, false, true},
        {-7 * day - pm, false, true},
        {-7 * day - pm - 1, false, false},
        {2 * day - m, false, false},
        {2 * day - m + 1, true, true},
        {2 * day + m, true, true},
        {2 * day + m + 1, false, false},
    };
    struct row r;
    char b[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long long ts = 1700000000123LL + cases[i].d;
        place(&r, cases[i].d, &w);
        CHECK(r.check_other == cases[i].zoom);
        row_free(&r);
        /* a Stripe event at the same ms (created is in s: the receive time is moved instead) */
        snprintf(b, sizeof(b), "{\"id\":\"evt\",\"created\":%lld}", ts / 1000);
        CHECK(row_classify(&r, item_buf, make_item_v2("stripe", NULL, 0, b)) == 0);
        r.env.received_us = (ts / 1000 * 1000 - cases[i].d) * 1000;
        row_place_window(&r, &w);
        CHECKF(r.check_other == cases[i].other, "d=%lld", cases[i].d);
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
    test_provider_rows();
    test_provider_margin();
    test_copy_events_line();
    test_mark_dead();
    test_place_window();
    return check_summary("test_row");
}
