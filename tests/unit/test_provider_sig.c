/*
 * Unit tests for common/provider_sig.c: each provider's published vector (read from
 * tests/fixtures/providers/), then tampered body, wrong secret, previous secret accepted,
 * old and future timestamps, missing and malformed headers and bad secrets, each with its
 * verdict; and the two header list parsers.
 */
#include "check.h"
#include "provider_sig.h"
#include "provider_vectors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VEC_FIELDS 8

/* A request of v's headers (empty strings absent) at now, tolerance 300 s. */
static struct provider_sig_request vec_req(const struct vec *v, time_t now)
{
    struct provider_sig_request r = {0};

    r.id = v->id[0] ? v->id : NULL;
    r.id_len = strlen(v->id);
    r.timestamp = v->timestamp[0] ? v->timestamp : NULL;
    r.timestamp_len = strlen(v->timestamp);
    r.signature = v->signature[0] ? v->signature : NULL;
    r.signature_len = strlen(v->signature);
    r.body = v->body;
    r.body_len = strlen(v->body);
    r.now = now;
    r.tolerance_s = 300;
    return r;
}

static time_t vec_now(const struct vec *v)
{
    return v->timestamp[0] ? (time_t)strtoll(v->timestamp, NULL, 10) : 1700000000;
}

static enum provider_sig_verdict run2(const struct vec *v, const char *cur, const char *prev,
                                      const struct provider_sig_request *r)
{
    struct provider_sig_secret s[2] = {{cur, cur ? strlen(cur) : 0},
                                       {prev, prev ? strlen(prev) : 0}};
    int p = provider_sig_provider_parse(v->provider);

    if (p < 0)
        return PROVIDER_SIG_ERROR;
    return provider_sig_verify((enum provider_sig_provider)p, s, 2, r);
}

static enum provider_sig_verdict run(const struct vec *v, const struct provider_sig_request *r)
{
    return run2(v, v->secret, NULL, r);
}

#define CHECK_VERDICT(got, want)                                                                   \
    do {                                                                                           \
        enum provider_sig_verdict g_ = (got), w_ = (want);                                         \
        CHECKF(g_ == w_, "verdict %s (%d), want %s (%d)", provider_sig_verdict_label(g_), g_,      \
               provider_sig_verdict_label(w_), w_);                                                \
    } while (0)

/* The published vector verifies; and what every scheme must refuse, with its reason. */
static void test_vector(const char *file)
{
    struct vec v, t;
    struct provider_sig_request r;
    time_t now;
    int p;

    vec_load(file, &v);
    now = vec_now(&v);
    p = provider_sig_provider_parse(v.provider);
    CHECKF(p >= 0, "%s: provider %s", file, v.provider);
    r = vec_req(&v, now);
    CHECKF(run(&v, &r) == PROVIDER_SIG_OK, "%s: published vector", file);
    CHECK_VERDICT(provider_sig_head((enum provider_sig_provider)p, &r), PROVIDER_SIG_OK);
    CHECK_VERDICT(
        provider_sig_secret_check((enum provider_sig_provider)p, v.secret, strlen(v.secret)),
        PROVIDER_SIG_OK);

    /* rotation: the vector's secret as the previous one still passes, either order (another
       usable secret of the scheme beside it) */
    const char *other =
        p == PROVIDER_SIG_STANDARD ? "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" : "some-other-secret";
    CHECK_VERDICT(run2(&v, other, v.secret, &r), PROVIDER_SIG_OK);
    CHECK_VERDICT(run2(&v, v.secret, other, &r), PROVIDER_SIG_OK);
    /* an unusable secret beside a good one is a configuration fault, not a pass */
    if (p == PROVIDER_SIG_STANDARD)
        CHECK_VERDICT(run2(&v, v.secret, "whsec_!", &r), PROVIDER_SIG_BAD_SECRET);
    /* a NULL current with a set previous slot */
    CHECK_VERDICT(run2(&v, NULL, v.secret, &r), PROVIDER_SIG_OK);

    /* tampered body: one byte more, one byte changed */
    t = v;
    strcat(t.body, " ");
    r = vec_req(&t, now);
    CHECK_VERDICT(run(&t, &r), PROVIDER_SIG_BAD_SIGNATURE);
    t = v;
    t.body[0] ^= 1;
    r = vec_req(&t, now);
    CHECK_VERDICT(run(&t, &r), PROVIDER_SIG_BAD_SIGNATURE);

    /* wrong secret (of the same form for standard) */
    r = vec_req(&v, now);
    if (strcmp(v.provider, "standard") == 0) {
        /* another valid key of the same kind: the other v1a vector's public key */
        if (strcmp(v.secret, "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=") == 0)
            CHECK_VERDICT(run2(&v, "whpk_iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=", NULL, &r),
                          PROVIDER_SIG_BAD_SIGNATURE);
        else if (strncmp(v.secret, "whpk_", 5) == 0)
            CHECK_VERDICT(run2(&v, "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=", NULL, &r),
                          PROVIDER_SIG_BAD_SIGNATURE);
        else
            CHECK_VERDICT(run2(&v, "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, &r),
                          PROVIDER_SIG_BAD_SIGNATURE);
    } else {
        CHECK_VERDICT(run2(&v, "wrong secret", NULL, &r), PROVIDER_SIG_BAD_SIGNATURE);
    }
    /* two wrong secrets */
    if (strcmp(v.provider, "standard") != 0)
        CHECK_VERDICT(run2(&v, "wrong-a", "wrong-b", &r), PROVIDER_SIG_BAD_SIGNATURE);

    /* no secret at all */
    CHECK_VERDICT(run2(&v, NULL, NULL, &r), PROVIDER_SIG_BAD_SECRET);
    CHECK_VERDICT(run2(&v, "", NULL, &r), PROVIDER_SIG_BAD_SECRET);

    /* missing signature header */
    t = v;
    t.signature[0] = '\0';
    r = vec_req(&t, now);
    CHECK_VERDICT(run(&t, &r), PROVIDER_SIG_MISSING_HEADER);

    /* timestamps: edges of the window, then outside either way */
    if (strcmp(v.provider, "github") != 0 && strcmp(v.provider, "shopify") != 0) {
        r = vec_req(&v, now + 300);
        CHECK_VERDICT(run(&v, &r), PROVIDER_SIG_OK);
        r = vec_req(&v, now - 300);
        CHECK_VERDICT(run(&v, &r), PROVIDER_SIG_OK);
        r = vec_req(&v, now + 301); /* the delivery is old */
        CHECK_VERDICT(run(&v, &r), PROVIDER_SIG_TIMESTAMP);
        CHECK_VERDICT(provider_sig_head((enum provider_sig_provider)p, &r), PROVIDER_SIG_TIMESTAMP);
        r = vec_req(&v, now - 301); /* the delivery claims the future */
        CHECK_VERDICT(run(&v, &r), PROVIDER_SIG_TIMESTAMP);
    } else {
        /* no timestamp is signed: any clock passes */
        r = vec_req(&v, 0);
        CHECK_VERDICT(run(&v, &r), PROVIDER_SIG_OK);
    }
}

static struct provider_sig_request req_of(const char *id, const char *ts, const char *sig,
                                          const char *body, time_t now)
{
    struct provider_sig_request r = {0};

    r.id = id;
    r.id_len = id ? strlen(id) : 0;
    r.timestamp = ts;
    r.timestamp_len = ts ? strlen(ts) : 0;
    r.signature = sig;
    r.signature_len = sig ? strlen(sig) : 0;
    r.body = body;
    r.body_len = body ? strlen(body) : 0;
    r.now = now;
    r.tolerance_s = 300;
    return r;
}

#define STD_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define STD_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define STD_TS "1614265330"
#define STD_BODY "{\"test\": 2432232314}"
#define STD_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define STD_PK "whpk_iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w="
#define STD_V1A                                                                                    \
    "v1a,Ykcu7AtGZGmZxFEH1Gaa2Nd7feY/CTuruoL4fqgnKwfbHU4DhemoVHZdvGfIvKvn4BIgwktLGGPGIr/"          \
    "i9nK7AA=="
#define STD_OTHER "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="

static enum provider_sig_verdict std_run(const char *secret, const char *id, const char *ts,
                                         const char *sig, const char *body)
{
    struct provider_sig_secret s[1] = {{secret, secret ? strlen(secret) : 0}};
    struct provider_sig_request r = req_of(id, ts, sig, body, 1614265330);
    return provider_sig_standard(s, 1, &r);
}

static void test_standard(void)
{
    /* the prefix is optional, as in the spec's libraries; padding too */
    CHECK_VERDICT(std_run(STD_SECRET + 6, STD_ID, STD_TS, STD_SIG, STD_BODY), PROVIDER_SIG_OK);
    /* multi-signature header (the Go library's "valid multi sig" case): any match passes,
       unknown versions ignored, runs of spaces tolerated */
    CHECK_VERDICT(std_run(STD_SECRET, STD_ID, STD_TS,
                          STD_OTHER " v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=  " STD_SIG
                                    " " STD_OTHER,
                          STD_BODY),
                  PROVIDER_SIG_OK);
    /* v1 and v1a mixed; a v1a checked by a whpk_ key, a v1 by a whsec_ one */
    CHECK_VERDICT(std_run(STD_PK, STD_ID, STD_TS, STD_OTHER " " STD_V1A, STD_BODY),
                  PROVIDER_SIG_OK);
    CHECK_VERDICT(std_run(STD_PK, STD_ID, STD_TS, STD_SIG, STD_BODY), PROVIDER_SIG_BAD_SIGNATURE);
    CHECK_VERDICT(std_run(STD_SECRET, STD_ID, STD_TS, STD_V1A, STD_BODY),
                  PROVIDER_SIG_BAD_SIGNATURE);
    {
        /* a whsec_ current and a whpk_ previous: either kind of signature passes */
        struct provider_sig_secret s[2] = {{STD_SECRET, strlen(STD_SECRET)},
                                           {STD_PK, strlen(STD_PK)}};
        struct provider_sig_request r = req_of(STD_ID, STD_TS, STD_V1A, STD_BODY, 1614265330);
        CHECK_VERDICT(provider_sig_standard(s, 2, &r), PROVIDER_SIG_OK);
        r = req_of(STD_ID, STD_TS, STD_SIG, STD_BODY, 1614265330);
        CHECK_VERDICT(provider_sig_standard(s, 2, &r), PROVIDER_SIG_OK);
    }
    /* the id and timestamp are signed */
    CHECK_VERDICT(std_run(STD_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJeK", STD_TS, STD_SIG, STD_BODY),
                  PROVIDER_SIG_BAD_SIGNATURE);
    CHECK_VERDICT(std_run(STD_SECRET, STD_ID, "1614265331", STD_SIG, STD_BODY),
                  PROVIDER_SIG_BAD_SIGNATURE);
    /* the Go library's "invalid signature" */
    CHECK_VERDICT(std_run(STD_SECRET, STD_ID, STD_TS, STD_OTHER, STD_BODY),
                  PROVIDER_SIG_BAD_SIGNATURE);

    /* missing headers */
    CHECK_VERDICT(std_run(STD_SECRET, NULL, STD_TS, STD_SIG, STD_BODY),
                  PROVIDER_SIG_MISSING_HEADER);
    CHECK_VERDICT(std_run(STD_SECRET, STD_ID, NULL, STD_SIG, STD_BODY),
                  PROVIDER_SIG_MISSING_HEADER);
    CHECK_VERDICT(std_run(STD_SECRET, STD_ID, STD_TS, "", STD_BODY), PROVIDER_SIG_MISSING_HEADER);

    /* malformed headers */
    static const char *const bad_sigs[] = {
        " ",                                                /* only spaces */
        "v1",                                               /* no comma */
        "v1g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",   /* no comma */
        "v1,",                                              /* the Go library's partial signature */
        "v1,dawfeoifkpqwoekfpqoekf",                        /* base64, but not 32 bytes */
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",   /* padding missing */
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1O!=",  /* not base64 */
        "v1,g0hM9SsE-OTPJTGt_tmIKtSyZlE3uFJELVlNIOLJ1OE=",  /* URL-safe alphabet */
        "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", /* v1a of 32 bytes */
        "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",  /* no known version */
        STD_SIG " v1",                                      /* a good one and one without comma */
        STD_SIG " v1,AAAA",                                 /* a good one and a short one */
    };
    for (size_t i = 0; i < sizeof(bad_sigs) / sizeof(bad_sigs[0]); i++)
        CHECKF(std_run(STD_SECRET, STD_ID, STD_TS, bad_sigs[i], STD_BODY) ==
                   PROVIDER_SIG_MALFORMED_HEADER,
               "malformed #%zu", i);
    /* too many entries: PROVIDER_SIG_ENTRIES_MAX pass, one more is malformed */
    {
        char many[4096] = "";
        for (int i = 0; i < PROVIDER_SIG_ENTRIES_MAX - 1; i++)
            strcat(many, STD_OTHER " ");
        strcat(many, STD_SIG);
        CHECK_VERDICT(std_run(STD_SECRET, STD_ID, STD_TS, many, STD_BODY), PROVIDER_SIG_OK);
        strcat(many, " " STD_OTHER);
        CHECK_VERDICT(std_run(STD_SECRET, STD_ID, STD_TS, many, STD_BODY),
                      PROVIDER_SIG_MALFORMED_HEADER);
    }
    /* malformed timestamps */
    static const char *const bad_ts[] = {"hello",           "-1614265330",  "+1614265330",
                                         "01614265330",     "1614265330.5", " 1614265330",
                                         "1614265330000000"};
    for (size_t i = 0; i < sizeof(bad_ts) / sizeof(bad_ts[0]); i++)
        CHECKF(std_run(STD_SECRET, STD_ID, bad_ts[i], STD_SIG, STD_BODY) ==
                   PROVIDER_SIG_MALFORMED_HEADER,
               "bad timestamp #%zu", i);

    /* bad secrets, decided before the request */
    static const char *const bad_secrets[] = {
        "whsec_",                                            /* empty (the Python library's test) */
        "whpk_",                                             /* empty */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",             /* 4n+1 characters */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa!w",            /* not base64 */
        "whpk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",             /* 24 bytes, not an ed25519 key */
        "whsk_iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=", /* a private key */
    };
    for (size_t i = 0; i < sizeof(bad_secrets) / sizeof(bad_secrets[0]); i++) {
        CHECKF(std_run(bad_secrets[i], STD_ID, STD_TS, STD_SIG, STD_BODY) ==
                   PROVIDER_SIG_BAD_SECRET,
               "bad secret #%zu", i);
        CHECKF(provider_sig_secret_check(PROVIDER_SIG_STANDARD, bad_secrets[i],
                                         strlen(bad_secrets[i])) == PROVIDER_SIG_BAD_SECRET,
               "secret_check #%zu", i);
    }
    /* a bad secret is reported even for a request that would otherwise be missing headers */
    CHECK_VERDICT(std_run("whsec_", NULL, NULL, NULL, STD_BODY), PROVIDER_SIG_BAD_SECRET);
    /* an empty body is signed as such */
    CHECK_VERDICT(std_run(STD_SECRET, STD_ID, STD_TS, STD_SIG, ""), PROVIDER_SIG_BAD_SIGNATURE);
}

#define GH_SECRET "It's a Secret to Everybody"
#define GH_SIG "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

static enum provider_sig_verdict gh_run(const char *sig)
{
    struct provider_sig_secret s[1] = {{GH_SECRET, strlen(GH_SECRET)}};
    struct provider_sig_request r = req_of(NULL, NULL, sig, "Hello, World!", 0);
    return provider_sig_github(s, 1, &r);
}

static void test_github(void)
{
    CHECK_VERDICT(gh_run(GH_SIG), PROVIDER_SIG_OK);
    /* upper-case hex is the same MAC */
    CHECK_VERDICT(gh_run("sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17"),
                  PROVIDER_SIG_OK);
    static const char *const bad[] = {
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", /* no sha256= */
        "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",   /* short */
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e177", /* long */
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1g",  /* not hex */
        "sha256=",
        "sha256 =757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECKF(gh_run(bad[i]) == PROVIDER_SIG_MALFORMED_HEADER, "github malformed #%zu", i);
    CHECK_VERDICT(gh_run(NULL), PROVIDER_SIG_MISSING_HEADER);
}

#define ST_SECRET "whsec_hookpipe0test0stripe0signing0secret"
#define ST_V1 "v1=88e38a23aec8b0282290f6b7901857ce93fcaf08ce30fd23fff2d993b7902f67"
#define ST_V1_OTHER "v1=0000000000000000000000000000000000000000000000000000000000000000"
#define ST_V0 "v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
#define ST_BODY                                                                                    \
    "{\"id\":\"evt_1NG8Du2eZvKYlo2CUI79vXWy\",\"object\":\"event\",\"type\":\"payment_intent."     \
    "succeeded\"}"

static enum provider_sig_verdict st_run(const char *secret, const char *sig, time_t now)
{
    struct provider_sig_secret s[1] = {{secret, strlen(secret)}};
    struct provider_sig_request r = req_of(NULL, NULL, sig, ST_BODY, now);
    return provider_sig_stripe(s, 1, &r);
}

static void test_stripe(void)
{
    const time_t now = 1492774577;

    /* the whole whsec_ string is the key: the base64-decoded remainder is not */
    CHECK_VERDICT(st_run(ST_SECRET + 6, "t=1492774577," ST_V1, now), PROVIDER_SIG_BAD_SIGNATURE);
    /* order free; several v1 (rolling secret): any match; v0 and unknown schemes ignored */
    CHECK_VERDICT(st_run(ST_SECRET, ST_V1 ",t=1492774577", now), PROVIDER_SIG_OK);
    CHECK_VERDICT(st_run(ST_SECRET, "t=1492774577," ST_V1_OTHER "," ST_V1 "," ST_V0, now),
                  PROVIDER_SIG_OK);
    CHECK_VERDICT(st_run(ST_SECRET, "t=1492774577,v2=zzz," ST_V1 ",foo=bar", now), PROVIDER_SIG_OK);
    CHECK_VERDICT(st_run(ST_SECRET, "t=1492774577," ST_V1_OTHER, now), PROVIDER_SIG_BAD_SIGNATURE);
    /* t is signed */
    CHECK_VERDICT(st_run(ST_SECRET, "t=1492774578," ST_V1, now), PROVIDER_SIG_BAD_SIGNATURE);

    static const char *const bad[] = {
        "",                                 /* empty: missing, below */
        "t=1492774577",                     /* no v1 */
        "t=1492774577," ST_V0,              /* only v0: downgrade refused */
        ST_V1,                              /* no t */
        "t=1492774577;" ST_V1,              /* no comma */
        "t=1492774577,," ST_V1,             /* empty item */
        "t=1492774577," ST_V1 ",",          /* trailing comma */
        "t1492774577," ST_V1,               /* no = */
        "t=," ST_V1,                        /* empty t */
        "t=abc," ST_V1,                     /* t not a number */
        "t=1492774577,t=1492774577," ST_V1, /* t twice */
        "t=1492774577,v1=88e38a23",         /* v1 not 64 hex */
        "t=1492774577,v1=zz8e38a23aec8b0282290f6b7901857ce93fcaf08ce30fd23fff2d993b7902f67",
    };
    CHECK_VERDICT(st_run(ST_SECRET, bad[0], now), PROVIDER_SIG_MISSING_HEADER);
    for (size_t i = 1; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECKF(st_run(ST_SECRET, bad[i], now) == PROVIDER_SIG_MALFORMED_HEADER,
               "stripe malformed #%zu", i);
    /* too many items */
    {
        char many[2048] = "t=1492774577";
        for (int i = 0; i < PROVIDER_SIG_ENTRIES_MAX - 2; i++)
            strcat(many, "," ST_V1_OTHER);
        strcat(many, "," ST_V1);
        CHECK_VERDICT(st_run(ST_SECRET, many, now), PROVIDER_SIG_OK);
        strcat(many, "," ST_V0);
        CHECK_VERDICT(st_run(ST_SECRET, many, now), PROVIDER_SIG_MALFORMED_HEADER);
    }
}

#define SL_SECRET "8f742231b10e8888abcd99yyyzzz85a5"

static void test_slack(void)
{
    struct vec v;
    struct provider_sig_secret s[1] = {{SL_SECRET, strlen(SL_SECRET)}};
    struct provider_sig_request r;

    vec_load("slack.txt", &v);
    /* the timestamp header is needed and signed */
    r = req_of(NULL, NULL, v.signature, v.body, 1531420618);
    CHECK_VERDICT(provider_sig_slack(s, 1, &r), PROVIDER_SIG_MISSING_HEADER);
    r = req_of(NULL, "1531420619", v.signature, v.body, 1531420618);
    CHECK_VERDICT(provider_sig_slack(s, 1, &r), PROVIDER_SIG_BAD_SIGNATURE);
    r = req_of(NULL, "15314206l8", v.signature, v.body, 1531420618);
    CHECK_VERDICT(provider_sig_slack(s, 1, &r), PROVIDER_SIG_MALFORMED_HEADER);
    static const char *const bad[] = {
        "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b50",
        "v0=",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = req_of(NULL, "1531420618", bad[i], v.body, 1531420618);
        CHECKF(provider_sig_slack(s, 1, &r) == PROVIDER_SIG_MALFORMED_HEADER,
               "slack malformed #%zu", i);
    }
}

#define SH_SECRET "hookpipe_shopify_test_client_secret"

static void test_shopify(void)
{
    struct vec v;
    struct provider_sig_secret s[1] = {{SH_SECRET, strlen(SH_SECRET)}};
    struct provider_sig_request r;

    vec_load("shopify.txt", &v);
    static const char *const bad[] = {
        "uouqQLTBwxwNt2nb3SwvWNv2RYVUPU+k+GbizkIlHx4",   /* padding missing */
        "uouqQLTBwxwNt2nb3SwvWNv2RYVUPU+k+GbizkIlHx==",  /* 31 bytes */
        "uouqQLTBwxwNt2nb3SwvWNv2RYVUPU-k-GbizkIlHx4=",  /* URL-safe */
        "uouqQLTBwxwNt2nb3SwvWNv2RYVUPU+k+GbizkIlHx4= ", /* trailing space */
        "sha256=uouqQLTBwxwNt2nb3SwvWNv2RYVUPU+k+GbizkIlHx4=", "bae5a3a0...",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = req_of(NULL, NULL, bad[i], v.body, 0);
        CHECKF(provider_sig_shopify(s, 1, &r) == PROVIDER_SIG_MALFORMED_HEADER,
               "shopify malformed #%zu", i);
    }
}

static void test_parsers(void)
{
    struct provider_sig_list l;

    CHECK(provider_sig_parse_standard("v1,a v1a,b=", 11, &l) == 0);
    CHECK_LONG_EQ(l.n, 2);
    CHECK(l.e[1].version_len == 3 && memcmp(l.e[1].version, "v1a", 3) == 0);
    CHECK(l.e[1].value_len == 2 && memcmp(l.e[1].value, "b=", 2) == 0);
    CHECK(provider_sig_parse_standard("v1,a,b", 6, &l) == 0); /* split at the first comma */
    CHECK(l.e[0].value_len == 3);
    CHECK(provider_sig_parse_standard("", 0, &l) < 0);
    CHECK(provider_sig_parse_standard("   ", 3, &l) < 0);
    CHECK(provider_sig_parse_standard("a", 1, &l) < 0);

    CHECK(provider_sig_parse_stripe("t=1,v1=a=b", 10, &l) == 0);
    CHECK_LONG_EQ(l.n, 2);
    CHECK(l.e[1].value_len == 3 && memcmp(l.e[1].value, "a=b", 3) == 0);
    CHECK(provider_sig_parse_stripe("=", 1, &l) == 0); /* empty key, empty value: parsed */
    CHECK(provider_sig_parse_stripe(",", 1, &l) < 0);

    long long ts;
    CHECK(provider_sig_parse_timestamp("0", 1, &ts) == 0 && ts == 0);
    CHECK(provider_sig_parse_timestamp("999999999999", 12, &ts) == 0 && ts == 999999999999LL);
    CHECK(provider_sig_parse_timestamp("1000000000000", 13, &ts) < 0);

    CHECK_LONG_EQ(provider_sig_provider_parse("stripe"), PROVIDER_SIG_STRIPE);
    CHECK_LONG_EQ(provider_sig_provider_parse("zoom"), -1);
    CHECK_LONG_EQ(provider_sig_provider_parse(NULL), -1);
    CHECK_STR_EQ(provider_sig_verdict_label(PROVIDER_SIG_TIMESTAMP), "timestamp");
    CHECK_STR_EQ(provider_sig_verdict_label(PROVIDER_SIG_OK), "");
}

int main(void)
{
    static const char *const files[] = {
        "standard-v1.txt",     "standard-v1a-seed01.txt",
        "standard-v1a-go.txt", "github.txt",
        "slack.txt",           "stripe.txt",
        "shopify.txt",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        test_vector(files[i]);
    test_standard();
    test_github();
    test_stripe();
    test_slack();
    test_shopify();
    test_parsers();
    return check_summary("test_provider_sig");
}
