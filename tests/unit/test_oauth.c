/*
 * Unit tests for gateway/oauth.c: the client-credentials grant's every answer — a token
 * (by Basic or by form credentials of the body, the grant type from body or query, under the
 * current or previous pair) that the bearer check then accepts, invalid_client,
 * unsupported_grant_type and invalid_request (credentials in the query among its causes) —
 * and the headers each carries.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "oauth.h"

#define NOW 1700000000L

static struct verify_keys keys;

static void answer(const char *query, const char *authorization, const char *body,
                   struct oauth_answer *out)
{
    struct oauth_request r = {
        .query = query ? query : "",
        .query_len = query ? strlen(query) : 0,
        .authorization = authorization,
        .authorization_len = authorization ? strlen(authorization) : 0,
        .body = body ? body : "",
        .body_len = body ? strlen(body) : 0,
        .now = NOW,
    };

    oauth_token(&keys, &r, out);
}

/* The access_token of a 200 answer, checked by the bearer mode as a delivery would be. */
static bool token_works(const struct oauth_answer *a)
{
    const struct verify_check *checks[VERIFY_CHECKS_MAX];
    char hdr[TOKEN_MAX + 16];
    const char *p = strstr(a->body, "\"access_token\":\"");
    struct verify_request req = {.now = NOW + 10};
    struct verify_result res;
    const char *end;

    if (p == NULL)
        return false;
    p += 16;
    end = strchr(p, '"');
    snprintf(hdr, sizeof(hdr), "Bearer %.*s", (int)(end - p), p);
    req.authorization = hdr;
    req.authorization_len = strlen(hdr);
    return verify_build("zoom", CONFIG_AUTH_BEARER, checks) == 0 &&
           verify_run(checks, &keys, &req, &res);
}

int main(void)
{
    struct oauth_answer a;

    keys.source = "acme";
    keys.token_ttl_s = 600;
    CHECK(verify_digest_set(&keys.client[0], "cid:csec", 8) == 0);
    CHECK(verify_digest_set(&keys.client[1], "cid:csec-old", 12) == 0);
    CHECK(token_key_derive("csec", 4, keys.bearer_key[0]) == 0);
    keys.bearer_set[0] = true;

    /* Basic client authentication (Y2lkOmNzZWM= is cid:csec), grant in the query (as Zoom's
       own token endpoint takes it) or in the body */
    answer("grant_type=client_credentials", "Basic Y2lkOmNzZWM=", NULL, &a);
    CHECK_LONG_EQ(a.status, 200);
    CHECK_CONTAINS(a.body, "\"token_type\":\"Bearer\",\"expires_in\":600}");
    CHECK(strncmp(a.body, "{\"access_token\":\"hp1.acme.1700000600.", 37) == 0);
    CHECK_CONTAINS(a.extra, "Cache-Control: no-store\r\n");
    CHECK(a.reason == VERIFY_REASON_NONE);
    CHECK(token_works(&a));
    answer(NULL, "Basic Y2lkOmNzZWM=", "grant_type=client_credentials&scope=x", &a);
    CHECK_LONG_EQ(a.status, 200);
    /* form credentials; the previous pair while rotating (tokens still signed with the
       current key) */
    answer(NULL, NULL, "grant_type=client_credentials&client_id=cid&client_secret=csec", &a);
    CHECK_LONG_EQ(a.status, 200);
    CHECK(token_works(&a));
    answer(NULL, NULL, "grant_type=client_credentials&client_id=cid&client_secret=csec-old", &a);
    CHECK_LONG_EQ(a.status, 200);
    CHECK(token_works(&a));

    /* invalid_client: wrong secret, wrong id, none, another scheme; with the challenge */
    answer(NULL, NULL, "grant_type=client_credentials&client_id=cid&client_secret=nope", &a);
    CHECK_LONG_EQ(a.status, 401);
    CHECK_STR_EQ(a.body, "{\"error\":\"invalid_client\"}");
    CHECK(a.reason == VERIFY_REASON_CLIENT_CREDENTIALS);
    CHECK_CONTAINS(a.extra, "WWW-Authenticate: Basic realm=\"hookpipe\"\r\n");
    answer(NULL, NULL, "grant_type=client_credentials&client_id=cix&client_secret=csec", &a);
    CHECK_LONG_EQ(a.status, 401);
    answer(NULL, NULL, "grant_type=client_credentials&client_id=cid", &a);
    CHECK_LONG_EQ(a.status, 401);
    answer(NULL, NULL, "grant_type=client_credentials", &a);
    CHECK_LONG_EQ(a.status, 401);
    answer(NULL, "Bearer Y2lkOmNzZWM=", "grant_type=client_credentials", &a);
    CHECK_LONG_EQ(a.status, 401);
    answer(NULL, "Basic Y2lkOm5vcGU=", "grant_type=client_credentials", &a); /* cid:nope */
    CHECK_LONG_EQ(a.status, 401);
    /* old id with the current secret: pairs do not mix (cid is both here, so use form) */
    answer(NULL, NULL, "grant_type=password&client_id=cid&client_secret=bad", &a);
    CHECK_LONG_EQ(a.status, 401); /* credentials are judged before the grant */

    /* unsupported_grant_type and invalid_request */
    answer(NULL, "Basic Y2lkOmNzZWM=", "grant_type=authorization_code", &a);
    CHECK_LONG_EQ(a.status, 400);
    CHECK_STR_EQ(a.body, "{\"error\":\"unsupported_grant_type\"}");
    CHECK(a.reason == VERIFY_REASON_NONE);
    answer(NULL, "Basic Y2lkOmNzZWM=", NULL, &a);
    CHECK_LONG_EQ(a.status, 400);
    CHECK_STR_EQ(a.body, "{\"error\":\"invalid_request\"}");
    answer("grant_type=client_credentials", "Basic Y2lkOmNzZWM=", "grant_type=client_credentials",
           &a);
    CHECK_STR_EQ(a.body, "{\"error\":\"invalid_request\"}"); /* repeated */
    answer(NULL, "Basic Y2lkOmNzZWM=", "grant_type=client_credentials&client_secret=csec", &a);
    CHECK_STR_EQ(a.body, "{\"error\":\"invalid_request\"}"); /* two methods */
    /* credentials in the query string (RFC 6749 2.3.1), even good ones, even one of them */
    answer("client_id=cid&client_secret=csec", NULL, "grant_type=client_credentials", &a);
    CHECK_LONG_EQ(a.status, 400);
    CHECK_STR_EQ(a.body, "{\"error\":\"invalid_request\"}");
    CHECK(a.reason == VERIFY_REASON_NONE);
    answer("grant_type=client_credentials&client_id=cid", NULL, "client_secret=csec", &a);
    CHECK_STR_EQ(a.body, "{\"error\":\"invalid_request\"}");
    answer("client_secret=csec", "Basic Y2lkOmNzZWM=", "grant_type=client_credentials", &a);
    CHECK_STR_EQ(a.body, "{\"error\":\"invalid_request\"}");
    answer("grant_type=client_credentials&client%5Fid=cid", "Basic Y2lkOmNzZWM=", NULL, &a);
    CHECK_STR_EQ(a.body, "{\"error\":\"invalid_request\"}"); /* names are decoded first */
    answer(NULL, "Basic Y2lkOmNzZWM=", "grant_type=%zz", &a);
    CHECK_STR_EQ(a.body, "{\"error\":\"invalid_request\"}");
    {
        struct oauth_request r = {.query = "", .body = "", .now = NOW, .query_too_long = true};
        oauth_token(&keys, &r, &a);
        CHECK_LONG_EQ(a.status, 400);
    }
    return check_summary("test_oauth");
}
