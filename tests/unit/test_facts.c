/*
 * Unit tests for writer/facts.c: the facts of each provider beside Zoom (Standard Webhooks,
 * GitHub, Stripe, Slack, Shopify) from bodies and headers shaped as each provider's documents
 * show them, missing or malformed facts as NULL, any JSON document accepted, bodies that are
 * not JSON refused, the delivery-id event_key, and the RFC 3339 time parser.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "facts.h"
#include "provider.h"

#define RECEIVED_US 1700000000123456LL

static char item_buf[65536];

/* An HP2 envelope of provider on source around body with the given fields; decoded into env. */
static int make_env(struct envelope *env, const char *source, const char *provider,
                    const struct envelope_field *fields, size_t nfields, const char *body,
                    size_t len)
{
    const char *why = NULL;
    int n = envelope_encode_header_v2(item_buf, source, RECEIVED_US, "dlv1", NULL, 0, provider,
                                      fields, nfields, len);

    if (n < 0)
        return -1;
    memcpy(item_buf + n, body, len);
    return envelope_decode(item_buf, (size_t)n + len, env, &why);
}

/* facts_extract of body (a C string) with fields; returns facts_extract's result. */
static int extract(struct facts *f, const char *source, int provider,
                   const struct envelope_field *fields, size_t nfields, const char *body, char *why,
                   size_t whylen)
{
    struct envelope env;

    if (make_env(&env, source, provider_get(provider)->name, fields, nfields, body, strlen(body)) !=
        0) {
        CHECKF(0, "envelope for %s did not decode", body);
        return -3;
    }
    return facts_extract(&env, provider, f, why, whylen);
}

#define F(name, value)                                                                             \
    {                                                                                              \
        name, value, sizeof(value) - 1                                                             \
    }
#define NF(a) (sizeof(a) / sizeof((a)[0]))

static void test_standard(void)
{
    /* the shape of the Standard Webhooks spec's payload example */
    const char *body = "{\"type\":\"user.created\",\"timestamp\":\"2022-11-03T20:26:10.344522Z\","
                       "\"data\":{\"id\":\"1f81eb52-5198-4599-803e-771906343485\","
                       "\"type\":\"user\"}}";
    const struct envelope_field fields[] = {F("webhook-id", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"),
                                            F("webhook-timestamp", "1674087231")};
    struct facts f, g;
    char why[256];

    CHECK(extract(&f, "acme", PROVIDER_STANDARD, fields, NF(fields), body, why, sizeof(why)) == 0);
    CHECK_STR_EQ(f.event, "user.created");
    CHECK(f.account == NULL);
    CHECK(f.has_time && f.time_ms == 1667507170344LL && !f.time_of_delivery);
    CHECK(f.has_id);
    CHECK_STR_EQ(f.headers, "{\"webhook-id\":\"msg_2KWPBgLlAfxdpx2AI54pPJ85f4W\","
                            "\"webhook-timestamp\":\"1674087231\"}");

    /* no body timestamp: the attempt's webhook-timestamp, marked as the delivery's */
    CHECK(extract(&g, "acme", PROVIDER_STANDARD, fields, NF(fields), "{\"type\":\"user.created\"}",
                  why, sizeof(why)) == 0);
    CHECK(g.has_time && g.time_ms == 1674087231000LL && g.time_of_delivery);
    /* same webhook-id, other bytes: the same key */
    CHECK(memcmp(f.key, g.key, EVENT_KEY_LEN) == 0);
    facts_free(&g);

    /* a malformed body timestamp (Feb 30) falls back to the header too */
    CHECK(extract(&g, "acme", PROVIDER_STANDARD, fields, NF(fields),
                  "{\"type\":7,\"timestamp\":\"2023-02-30T00:00:00Z\"}", why, sizeof(why)) == 0);
    CHECK(g.event == NULL); /* type not a string */
    CHECK(g.has_time && g.time_ms == 1674087231000LL && g.time_of_delivery);
    facts_free(&g);

    /* neither: no time, no id (body key), headers {} */
    CHECK(extract(&g, "acme", PROVIDER_STANDARD, NULL, 0, "{\"type\":\"a\"}", why, sizeof(why)) ==
          0);
    CHECK(!g.has_time && !g.has_id);
    CHECK_STR_EQ(g.headers, "{}");
    facts_free(&g);
    facts_free(&f);
}

static void test_github(void)
{
    const char *push =
        "{\"ref\":\"refs/heads/main\",\"before\":\"6113728f\",\"after\":\"59b20b8d\","
        "\"repository\":{\"id\":186853002,\"full_name\":\"octo-org/hello-world\","
        "\"private\":false},\"pusher\":{\"name\":\"octocat\"}}";
    const char *issues = "{\"action\":\"opened\",\"issue\":{\"number\":1347},\"repository\":"
                         "{\"full_name\":\"octocat/Hello-World\"},\"installation\":{\"id\":"
                         "2311213,\"node_id\":\"MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMjMxMTIxMw==\"}"
                         "}";
    const struct envelope_field pf[] = {
        F("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"), F("x-github-event", "push"),
        F("x-github-hook-id", "292430182")};
    const struct envelope_field isf[] = {
        F("x-github-delivery", "8a1e1e6e-0000-11ee-8000-000000000001"),
        F("x-github-event", "issues")};
    struct facts f;
    char why[256];

    CHECK(extract(&f, "gh", PROVIDER_GITHUB, pf, NF(pf), push, why, sizeof(why)) == 0);
    CHECK_STR_EQ(f.event, "push");
    CHECK_STR_EQ(f.account, "octo-org/hello-world");
    /* the receipt time, which a redelivery does not share */
    CHECK(f.has_time && f.time_ms == RECEIVED_US / 1000 && f.time_of_delivery);
    CHECK(f.has_id);
    CHECK_STR_EQ(f.headers, "{\"x-github-delivery\":\"72d3162e-cc78-11e3-81ab-4c9367dc0958\","
                            "\"x-github-event\":\"push\",\"x-github-hook-id\":\"292430182\"}");
    facts_free(&f);

    CHECK(extract(&f, "gh", PROVIDER_GITHUB, isf, NF(isf), issues, why, sizeof(why)) == 0);
    CHECK_STR_EQ(f.event, "issues.opened");
    CHECK_STR_EQ(f.account, "2311213"); /* installation.id before repository.full_name */
    facts_free(&f);

    /* action not a string: the header's event alone; no header event: NULL */
    CHECK(extract(&f, "gh", PROVIDER_GITHUB, isf, NF(isf), "{\"action\":5}", why, sizeof(why)) ==
          0);
    CHECK_STR_EQ(f.event, "issues");
    CHECK(f.account == NULL);
    facts_free(&f);
    CHECK(extract(&f, "gh", PROVIDER_GITHUB, isf, 1, "{\"action\":\"opened\"}", why, sizeof(why)) ==
          0);
    CHECK(f.event == NULL);
    facts_free(&f);

    /* GitHub's validation example body is no JSON: not stored as a row */
    CHECK(extract(&f, "gh", PROVIDER_GITHUB, pf, NF(pf), "Hello, World!", why, sizeof(why)) == -1);
    CHECK(strncmp(why, "body is not valid JSON: ", 24) == 0);
}

static void test_stripe(void)
{
    const char *body =
        "{\"id\":\"evt_1NG8Du2eZvKYlo2CUI79vXWy\",\"object\":\"event\","
        "\"api_version\":\"2022-11-15\",\"created\":1686089970,\"data\":{\"object\":"
        "{\"id\":\"pi_3NG8Du2eZvKYlo2C0ZJ5nW5P\",\"amount\":2000}},"
        "\"livemode\":false,\"pending_webhooks\":1,\"request\":{\"id\":null},"
        "\"type\":\"payment_intent.succeeded\",\"account\":\"acct_1032D82eZvKYlo2C\"}";
    struct facts f, g;
    char why[256];

    CHECK(extract(&f, "pay", PROVIDER_STRIPE, NULL, 0, body, why, sizeof(why)) == 0);
    CHECK_STR_EQ(f.event, "payment_intent.succeeded");
    CHECK_STR_EQ(f.account, "acct_1032D82eZvKYlo2C");
    CHECK(f.has_time && f.time_ms == 1686089970000LL && !f.time_of_delivery);
    CHECK(f.has_id);
    CHECK_STR_EQ(f.headers, "{}");
    /* the same event id with another body (pending_webhooks changes between attempts) */
    CHECK(extract(&g, "pay", PROVIDER_STRIPE, NULL, 0,
                  "{\"id\":\"evt_1NG8Du2eZvKYlo2CUI79vXWy\",\"pending_webhooks\":0}", why,
                  sizeof(why)) == 0);
    CHECK(memcmp(f.key, g.key, EVENT_KEY_LEN) == 0);
    CHECK(g.event == NULL && g.account == NULL && !g.has_time);
    facts_free(&g);
    /* another id: another key; the same id on another source: another key */
    CHECK(extract(&g, "pay", PROVIDER_STRIPE, NULL, 0, "{\"id\":\"evt_2\"}", why, sizeof(why)) ==
          0);
    CHECK(memcmp(f.key, g.key, EVENT_KEY_LEN) != 0);
    facts_free(&g);
    CHECK(extract(&g, "pay2", PROVIDER_STRIPE, NULL, 0, "{\"id\":\"evt_1NG8Du2eZvKYlo2CUI79vXWy\"}",
                  why, sizeof(why)) == 0);
    CHECK(memcmp(f.key, g.key, EVENT_KEY_LEN) != 0);
    facts_free(&g);
    /* created not an integer, or before 1970: no time */
    CHECK(extract(&g, "pay", PROVIDER_STRIPE, NULL, 0, "{\"created\":\"1686089970\"}", why,
                  sizeof(why)) == 0);
    CHECK(!g.has_time && !g.has_id);
    facts_free(&g);
    CHECK(extract(&g, "pay", PROVIDER_STRIPE, NULL, 0, "{\"created\":-5}", why, sizeof(why)) == 0);
    CHECK(!g.has_time);
    facts_free(&g);
    facts_free(&f);
}

static void test_slack(void)
{
    const char *body = "{\"token\":\"XXYYZZ\",\"team_id\":\"T123ABC456\",\"api_app_id\":"
                       "\"A123ABC456\",\"event\":{\"type\":\"app_mention\",\"user\":\"U123ABC456\","
                       "\"text\":\"<@U0LAN0Z89> is it everything a river should be?\",\"ts\":"
                       "\"1515449522.000016\",\"channel\":\"C123ABC456\",\"event_ts\":"
                       "\"1515449522000016\"},\"type\":\"event_callback\",\"event_id\":"
                       "\"Ev123ABC456\",\"event_time\":1515449522,\"authed_users\":"
                       "[\"U0LAN0Z89\"]}";
    struct facts f;
    char why[256];

    CHECK(extract(&f, "chat", PROVIDER_SLACK, NULL, 0, body, why, sizeof(why)) == 0);
    CHECK_STR_EQ(f.event, "app_mention");
    CHECK_STR_EQ(f.account, "T123ABC456");
    CHECK(f.has_id);
    CHECK(f.has_time && f.time_ms == 1515449522000LL && !f.time_of_delivery);
    facts_free(&f);

    /* no event.type: the top-level type; an event_time past year 9999 (in µs): no time */
    CHECK(extract(&f, "chat", PROVIDER_SLACK, NULL, 0,
                  "{\"team_id\":\"T1\",\"type\":\"event_callback\",\"event_id\":\"Ev1\","
                  "\"event_time\":1515449522000016}",
                  why, sizeof(why)) == 0);
    CHECK_STR_EQ(f.event, "event_callback");
    CHECK(!f.has_time && f.has_id);
    facts_free(&f);
}

static void test_shopify(void)
{
    const struct envelope_field fields[] = {
        F("x-shopify-topic", "orders/create"),
        F("x-shopify-webhook-id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
        F("x-shopify-event-id", "98880550-7158-44d4-b7cd-2c97c8a091b5"),
        F("x-shopify-triggered-at", "2023-03-29T18:00:27.877041743Z"),
        F("x-shopify-shop-domain", "shop.myshopify.com"),
        F("x-shopify-api-version", "2024-01"),
    };
    const char *body = "{\"id\":820982911946154508,\"email\":\"jon@example.com\","
                       "\"topic\":\"orders/create\"}";
    struct facts f, g;
    char why[256];

    CHECK(extract(&f, "shop", PROVIDER_SHOPIFY, fields, NF(fields), body, why, sizeof(why)) == 0);
    CHECK_STR_EQ(f.event, "orders/create");
    CHECK_STR_EQ(f.account, "shop.myshopify.com");
    CHECK(f.has_time && f.time_ms == 1680112827877LL && !f.time_of_delivery);
    CHECK(f.has_id);
    CHECK_CONTAINS(f.headers, "\"x-shopify-topic\":\"orders/create\"");
    CHECK_CONTAINS(f.headers, "\"x-shopify-api-version\":\"2024-01\"");
    /* an array body is a document like any other */
    CHECK(extract(&g, "shop", PROVIDER_SHOPIFY, fields, NF(fields), "[{\"id\":1},{\"id\":2}]", why,
                  sizeof(why)) == 0);
    CHECK_STR_EQ(g.event, "orders/create");
    CHECK(memcmp(f.key, g.key, EVENT_KEY_LEN) == 0); /* the same event id */
    facts_free(&g);
    /* without the event id: the webhook id keys it (a different key from the event id's) */
    CHECK(extract(&g, "shop", PROVIDER_SHOPIFY, fields, 2, body, why, sizeof(why)) == 0);
    CHECK(g.has_id && !g.has_time && g.account == NULL);
    CHECK(memcmp(f.key, g.key, EVENT_KEY_LEN) != 0);
    {
        unsigned char k[EVENT_KEY_LEN];
        const char *id = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043";
        CHECK(event_key_provider_id("shop", "shopify", id, strlen(id), k) == 0);
        CHECK(memcmp(k, g.key, EVENT_KEY_LEN) == 0);
    }
    facts_free(&g);
    facts_free(&f);
}

/* A header that is no UTF-8 is left out (a text column would refuse it), the row is kept. */
static void test_bad_header(void)
{
    const struct envelope_field fields[] = {F("x-shopify-topic", "orders/\xff"),
                                            F("x-shopify-event-id", "e1")};
    struct facts f;
    char why[256];

    CHECK(extract(&f, "shop", PROVIDER_SHOPIFY, fields, NF(fields), "{}", why, sizeof(why)) == 0);
    CHECK(f.event == NULL);
    CHECK_STR_EQ(f.headers, "{\"x-shopify-event-id\":\"e1\"}");
    facts_free(&f);
}

/* Any JSON document; nothing else, and nothing jsonb cannot hold. */
static void test_documents(void)
{
    const char *good[] = {"[]",
                          "42",
                          "\"s\"",
                          "null",
                          "true",
                          " {\"a\":[1,2,{}]} \n",
                          "{\"n\":123456789012345678901234567890,\"id\":\"evt_x\"}",
                          "{\"n\":1e400,\"id\":\"evt_y\"}"};
    const char *bad[] = {
        "",         "Hello, World!", "{\"a\":1",    "[1,]",         "{} {}",
        "\"\xff\"", "\"\\u0000\"",   "\"\\ud800\"", "\"\\udc00x\"", "{\"a\":\"\x01\"}"};
    struct facts f;
    char why[256];

    for (size_t i = 0; i < NF(good); i++) {
        int rc = extract(&f, "s", PROVIDER_STRIPE, NULL, 0, good[i], why, sizeof(why));
        CHECKF(rc == 0, "%s: %d %s", good[i], rc, rc == -1 ? why : "");
        if (rc == 0)
            facts_free(&f);
    }
    /* integers beyond 64 bits are read as reals: the facts are still there */
    CHECK(extract(&f, "s", PROVIDER_STRIPE, NULL, 0, good[6], why, sizeof(why)) == 0);
    CHECK(f.has_id);
    facts_free(&f);
    /* a real beyond a double: kept, without body facts (PostgreSQL judges it) */
    CHECK(extract(&f, "s", PROVIDER_STRIPE, NULL, 0, good[7], why, sizeof(why)) == 0);
    CHECK(!f.has_id);
    facts_free(&f);
    for (size_t i = 0; i < NF(bad); i++) {
        int rc = extract(&f, "s", PROVIDER_STRIPE, NULL, 0, bad[i], why, sizeof(why));
        CHECKF(rc == -1, "%s: %d", bad[i], rc);
        if (rc == -1)
            CHECK(strncmp(why, "body is not valid JSON: ", 24) == 0);
        else if (rc == 0)
            facts_free(&f);
    }
}

/* Without an id: the body as received is the key (same bytes, same key; other bytes, other). */
static void test_body_key(void)
{
    struct facts a, b, c;
    char why[256];

    CHECK(extract(&a, "s", PROVIDER_SLACK, NULL, 0, "{\"type\":\"x\"}", why, sizeof(why)) == 0);
    CHECK(extract(&b, "s", PROVIDER_SLACK, NULL, 0, "{\"type\":\"x\"}", why, sizeof(why)) == 0);
    CHECK(extract(&c, "s", PROVIDER_SLACK, NULL, 0, "{\"type\": \"x\"}", why, sizeof(why)) == 0);
    CHECK(!a.has_id && memcmp(a.key, b.key, EVENT_KEY_LEN) == 0);
    CHECK(memcmp(a.key, c.key, EVENT_KEY_LEN) != 0);
    {
        unsigned char k[EVENT_KEY_LEN];
        CHECK(event_key_provider_body("s", "slack", "{\"type\":\"x\"}", 12, k) == 0);
        CHECK(memcmp(k, a.key, EVENT_KEY_LEN) == 0);
        /* an id equal to the body is still another key (distinct domains) */
        CHECK(event_key_provider_id("s", "slack", "{\"type\":\"x\"}", 12, k) == 0);
        CHECK(memcmp(k, a.key, EVENT_KEY_LEN) != 0);
    }
    facts_free(&a);
    facts_free(&b);
    facts_free(&c);
}

static void test_parse_time(void)
{
    const struct {
        const char *s;
        long long ms; /* -1: refused */
    } cases[] = {
        {"2022-11-03T20:26:10.344522Z", 1667507170344LL},
        {"2023-03-29T18:00:27.877041743Z", 1680112827877LL},
        {"2022-11-03t20:26:10.344522z", 1667507170344LL},
        {"2022-11-03 20:26:10.3445Z", 1667507170344LL},
        {"2022-11-03T20:26:10.3Z", 1667507170300LL},
        {"2024-02-29T23:59:59+01:00", 1709247599000LL},
        {"2024-02-29T23:59:59+0100", 1709247599000LL},
        {"2024-02-29T23:59:59+01", 1709247599000LL},
        {"2021-07-13T21:44:51-05:30", 1626232491000LL},
        {"1970-01-01T00:00:00Z", 0},
        {"9999-12-31T23:59:59.999Z", 253402300799999LL},
        {"1969-12-31T23:59:59Z", -1},
        {"1970-01-01T00:00:00+01:00", -1},
        {"2023-02-29T00:00:00Z", -1},
        {"2022-04-31T00:00:00Z", -1},
        {"2022-11-03T24:00:00Z", -1},
        {"2022-11-03T20:26:10", -1},
        {"2022-11-03T20:26:10.Z", -1},
        {"2022-11-03T20:26:10.123", -1},
        {"2022-11-03T20:26:10Zx", -1},
        {"2022-11-03T20:26:10+1:00", -1},
        {"2022-11-03T20:26:10+24:00", -1},
        {"2022-11-03", -1},
        {"1667507170", -1},
        {"2022-1a-03T20:26:10Z", -1},
    };

    for (size_t i = 0; i < NF(cases); i++) {
        int64_t ms = -7;
        bool ok = facts_parse_time(cases[i].s, strlen(cases[i].s), &ms);
        if (cases[i].ms < 0)
            CHECKF(!ok, "%s parsed as %lld", cases[i].s, (long long)ms);
        else
            CHECKF(ok && ms == cases[i].ms, "%s: %d %lld", cases[i].s, ok, (long long)ms);
    }
}

int main(void)
{
    test_standard();
    test_github();
    test_stripe();
    test_slack();
    test_shopify();
    test_bad_header();
    test_documents();
    test_body_key();
    test_parse_time();
    return check_summary("test_facts");
}
