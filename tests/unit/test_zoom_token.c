/*
 * Unit tests for gateway/zoom_token.c: the token request's form body for both grants
 * (account_id percent-encoded, a missing one or a short buffer refused), and Zoom's answers:
 * a token, 401 and 400 with Zoom's error and reason, non-JSON, no token, a bad expires_in,
 * sanitised and cut values, and the token kept out of why whatever the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "zoom_token.h"

#define TOKEN "eyJzdiI6IjAwMDAwMSIsImFsZyI6IkhTNTEyIn0.eyJhdWQiOiJodHRwczovL29hdXRoIn0.sig-_x"

static char why[512];

static int parse(long status, const char *body, char **tok, long *exp)
{
    return zoom_token_parse(status, body, strlen(body), tok, exp, why, sizeof(why));
}

static void test_form(void)
{
    char out[256];

    CHECK(zoom_token_form("account_credentials", "AbC-12_x.y~z", out, sizeof(out)) == 0);
    CHECK_STR_EQ(out, "grant_type=account_credentials&account_id=AbC-12_x.y~z");
    CHECK(zoom_token_form("account_credentials", "a b&c=d/%+\xc3\xa9", out, sizeof(out)) == 0);
    CHECK_STR_EQ(out, "grant_type=account_credentials&account_id=a%20b%26c%3Dd%2F%25%2B%C3%A9");
    CHECK(zoom_token_form("client_credentials", NULL, out, sizeof(out)) == 0);
    CHECK_STR_EQ(out, "grant_type=client_credentials");
    CHECK(zoom_token_form("client_credentials", "ignored", out, sizeof(out)) == 0);
    CHECK_STR_EQ(out, "grant_type=client_credentials");

    CHECK(zoom_token_form("account_credentials", NULL, out, sizeof(out)) == -1);
    CHECK(zoom_token_form("account_credentials", "", out, sizeof(out)) == -1);
    CHECK(zoom_token_form("authorization_code", "x", out, sizeof(out)) == -1);
    CHECK(zoom_token_form(NULL, "x", out, sizeof(out)) == -1);

    /* exactly fitting, and one byte short, for both grants */
    CHECK(zoom_token_form("account_credentials", "a&", out, 47) == 0);
    CHECK_STR_EQ(out, "grant_type=account_credentials&account_id=a%26");
    CHECK(zoom_token_form("account_credentials", "a&", out, 46) == -1);
    CHECK(zoom_token_form("account_credentials", "a&", out, 44) == -1);
    CHECK(zoom_token_form("client_credentials", NULL, out, 30) == 0);
    CHECK(zoom_token_form("client_credentials", NULL, out, 29) == -1);
    CHECK(zoom_token_form("account_credentials", "x", out, 10) == -1);
}

static void test_ok(void)
{
    char *tok = NULL;
    long exp = -1;

    CHECK(parse(200,
                "{\"access_token\":\"" TOKEN "\",\"token_type\":\"bearer\",\"expires_in\":3599,"
                "\"scope\":\"user:read:admin\",\"api_url\":\"https://api.zoom.us\"}",
                &tok, &exp) == 0);
    CHECK_STR_EQ(tok, TOKEN);
    CHECK_LONG_EQ(exp, 3599);
    CHECK_STR_EQ(why, "");
    free(tok);

    /* capped at a day */
    CHECK(parse(200, "{\"access_token\":\"t.1\",\"expires_in\":9999999999}", &tok, &exp) == 0);
    CHECK_LONG_EQ(exp, 86400);
    free(tok);
}

static void test_refused(void)
{
    char *tok = (char *)"x";
    long exp = 5;

    /* Zoom's answer to a wrong secret */
    CHECK(parse(401,
                "{\"reason\":\"Invalid client_id or client_secret\",\"error\":\"invalid_client\"}",
                &tok, &exp) == -1);
    CHECK(tok == NULL);
    CHECK_LONG_EQ(exp, 0);
    CHECK_STR_EQ(why,
                 "status=401 error=invalid_client reason=\"Invalid client_id or client_secret\"");

    /* and to a bad account_id / grant */
    CHECK(parse(400,
                "{\"reason\":\"Invalid request : Bad account_id\",\"error\":\"invalid_request\"}",
                &tok, &exp) == -1);
    CHECK_STR_EQ(why,
                 "status=400 error=invalid_request reason=\"Invalid request : Bad account_id\"");
    CHECK(parse(400, "{\"reason\":\"unsupported grant type\",\"error\":\"unsupported_grant_type\"}",
                &tok, &exp) == -1);
    CHECK_STR_EQ(why, "status=400 error=unsupported_grant_type reason=\"unsupported grant type\"");

    /* an error answer without those members, or with other types */
    CHECK(parse(503, "{}", &tok, &exp) == -1);
    CHECK_STR_EQ(why, "status=503");
    CHECK(parse(429, "{\"error\":42,\"reason\":null}", &tok, &exp) == -1);
    CHECK_STR_EQ(why, "status=429");

    /* even a token in an error answer is refused */
    CHECK(parse(401, "{\"access_token\":\"t\",\"expires_in\":3599}", &tok, &exp) == -1);
    CHECK(tok == NULL);
    CHECK_STR_EQ(why, "status=401");
}

static void test_bad_answers(void)
{
    char *tok = NULL;
    long exp = 0;

    CHECK(parse(200, "<html>502 Bad Gateway</html>", &tok, &exp) == -1);
    CHECK_STR_EQ(why, "status=200 problem=\"answer is not JSON\"");
    CHECK(parse(502, "<html>502 Bad Gateway</html>", &tok, &exp) == -1);
    CHECK_STR_EQ(why, "status=502 problem=\"answer is not JSON\"");
    CHECK(zoom_token_parse(200, "", 0, &tok, &exp, why, sizeof(why)) == -1);
    CHECK_STR_EQ(why, "status=200 problem=\"answer is not JSON\"");
    CHECK(parse(200, "[\"access_token\"]", &tok, &exp) == -1);
    CHECK_STR_EQ(why, "status=200 problem=\"answer is not a JSON object\"");
    CHECK(parse(200, "{\"access_token\":\"a\"} trailing", &tok, &exp) == -1);
    CHECK_CONTAINS(why, "not JSON");
    /* two access_tokens: which one? */
    CHECK(parse(200, "{\"access_token\":\"a\",\"access_token\":\"b\",\"expires_in\":1}", &tok,
                &exp) == -1);
    CHECK_CONTAINS(why, "not JSON");

    /* missing or non-string token */
    CHECK(parse(200, "{\"token_type\":\"bearer\",\"expires_in\":3599}", &tok, &exp) == -1);
    CHECK_STR_EQ(why, "status=200 problem=\"no access_token string in the answer\"");
    CHECK(parse(200, "{\"access_token\":12345,\"expires_in\":3599}", &tok, &exp) == -1);
    CHECK_STR_EQ(why, "status=200 problem=\"no access_token string in the answer\"");
    CHECK(parse(200, "{\"access_token\":\"\",\"expires_in\":3599}", &tok, &exp) == -1);
    CHECK_STR_EQ(why, "status=200 problem=\"access_token is empty or not printable ASCII\"");
    CHECK(parse(200, "{\"access_token\":\"a b\",\"expires_in\":3599}", &tok, &exp) == -1);
    CHECK_CONTAINS(why, "not printable");
    CHECK(parse(200, "{\"access_token\":\"a\\nb\",\"expires_in\":3599}", &tok, &exp) == -1);
    CHECK_CONTAINS(why, "not printable");
    CHECK(tok == NULL);

    /* expires_in: missing, zero, negative, a string, a fraction */
    static const char *const bad_exp[] = {
        "{\"access_token\":\"" TOKEN "\"}",
        "{\"access_token\":\"" TOKEN "\",\"expires_in\":0}",
        "{\"access_token\":\"" TOKEN "\",\"expires_in\":-5}",
        "{\"access_token\":\"" TOKEN "\",\"expires_in\":\"3599\"}",
        "{\"access_token\":\"" TOKEN "\",\"expires_in\":3599.5}",
        "{\"access_token\":\"" TOKEN "\",\"expires_in\":null}",
    };
    for (size_t i = 0; i < sizeof(bad_exp) / sizeof(bad_exp[0]); i++) {
        CHECKF(parse(200, bad_exp[i], &tok, &exp) == -1, "%s", bad_exp[i]);
        CHECK_STR_EQ(why, "status=200 problem=\"expires_in is not a positive integer\"");
        CHECK(tok == NULL);
        CHECK(strstr(why, TOKEN) == NULL);
    }
}

static void test_why_sanitised(void)
{
    char body[2048], small[40];
    char *tok = NULL;
    long exp = 0;
    int n;

    /* quotes, backslashes, control bytes and UTF-8 replaced; error quoted when not plain */
    CHECK(parse(400, "{\"error\":\"bad client\",\"reason\":\"a\\\"b\\\\c\\n\\u0007d\\u00e9\"}",
                &tok, &exp) == -1);
    CHECK_STR_EQ(why, "status=400 error=\"bad client\" reason=\"a?b?c??d??\"");
    CHECK(parse(400, "{\"error\":\"\"}", &tok, &exp) == -1);
    CHECK_STR_EQ(why, "status=400 error=\"\"");

    /* values cut to 200 bytes */
    n = snprintf(body, sizeof(body), "{\"error\":\"");
    for (int i = 0; i < 300; i++)
        body[n++] = 'e';
    n += snprintf(body + n, sizeof(body) - n, "\",\"reason\":\"");
    for (int i = 0; i < 300; i++)
        body[n++] = 'r';
    snprintf(body + n, sizeof(body) - n, "\"}");
    CHECK(parse(401, body, &tok, &exp) == -1);
    CHECK_LONG_EQ(strlen(why), strlen("status=401 error= reason=") + 400);
    CHECK(strstr(why, "eeeeee reason=rrrr") != NULL);

    /* a short why buffer is cut, still NUL-terminated */
    CHECK(zoom_token_parse(401, body, strlen(body), &tok, &exp, small, sizeof(small)) == -1);
    CHECK_LONG_EQ(strlen(small), sizeof(small) - 1);
    CHECK(strncmp(small, "status=401 error=eee", 20) == 0);
    CHECK(zoom_token_parse(401, body, strlen(body), &tok, &exp, small, 0) == -1);
}

/* The token never shows in why, whichever member echoes it. */
static void test_token_not_in_why(void)
{
    char *tok = NULL;
    long exp = 0;

    CHECK(parse(401,
                "{\"access_token\":\"" TOKEN "\",\"error\":\"" TOKEN "\",\"reason\":\"token " TOKEN
                " refused\"}",
                &tok, &exp) == -1);
    CHECK_STR_EQ(why, "status=401 error=(redacted) reason=(redacted)");
    CHECK(parse(200,
                "{\"access_token\":\"" TOKEN "\",\"expires_in\":\"soon\",\"reason\":\"" TOKEN "\"}",
                &tok, &exp) == -1);
    CHECK(strstr(why, TOKEN) == NULL);
    CHECK(strstr(why, "eyJ") == NULL);
    CHECK_CONTAINS(why, "reason=(redacted)");
    CHECK(tok == NULL);
    /* and a good answer leaves why empty */
    CHECK(parse(200, "{\"access_token\":\"" TOKEN "\",\"expires_in\":60,\"reason\":\"" TOKEN "\"}",
                &tok, &exp) == 0);
    CHECK_STR_EQ(why, "");
    CHECK_STR_EQ(tok, TOKEN);
    free(tok);
}

int main(void)
{
    test_form();
    test_ok();
    test_refused();
    test_bad_answers();
    test_why_sanitised();
    test_token_not_in_why();
    return check_summary("test_zoom_token");
}
