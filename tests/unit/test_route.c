/*
 * Unit tests for gateway/route.c: each path and method of the public listener, the
 * Allow line of a 405, and the /hooks/ paths that cannot name a source.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "route.h"

static struct route route_of(const char *method, const char *target)
{
    static char req[512]; /* r.source points into it */
    struct http_head h;
    struct route r;
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\n\r\n", method, target);

    memset(&r, 0xff, sizeof(r));
    CHECK_LONG_EQ(http_parse_head(req, (size_t)n, &h), 0);
    route_match(&h, &r);
    return r;
}

static void test_health(void)
{
    struct route r = route_of("GET", "/healthz");

    CHECK(r.target == ROUTE_HEALTHZ && r.allow == NULL);
    r = route_of("HEAD", "/healthz?probe=1");
    CHECK(r.target == ROUTE_HEALTHZ && r.allow == NULL);
    r = route_of("POST", "/healthz");
    CHECK(r.target == ROUTE_HEALTHZ);
    CHECK(r.allow != NULL && strcmp(r.allow, "Allow: GET, HEAD\r\n") == 0);
    r = route_of("GET", "/readyz");
    CHECK(r.target == ROUTE_READYZ && r.allow == NULL);
    r = route_of("DELETE", "/readyz");
    CHECK(r.target == ROUTE_READYZ && r.allow != NULL);
    CHECK(route_of("GET", "/healthz/").target == ROUTE_NOT_FOUND);
    CHECK(route_of("GET", "/readyzz").target == ROUTE_NOT_FOUND);
    CHECK(route_of("GET", "/").target == ROUTE_NOT_FOUND);
}

static void test_hooks(void)
{
    char long_name[128];
    struct route r = route_of("POST", "/hooks/acme-1?x=y");

    CHECK(r.target == ROUTE_HOOK && r.allow == NULL);
    CHECK(r.source_len == 6 && memcmp(r.source, "acme-1", 6) == 0);
    r = route_of("GET", "/hooks/acme");
    CHECK(r.target == ROUTE_HOOK);
    CHECK(r.allow != NULL && strcmp(r.allow, "Allow: POST\r\n") == 0);
    CHECK(route_of("POST", "/hooks/").target == ROUTE_NOT_FOUND);
    CHECK(route_of("POST", "/hooks/a/b").target == ROUTE_NOT_FOUND);
    CHECK(route_of("POST", "/hooks").target == ROUTE_NOT_FOUND);
    CHECK(route_of("POST", "/hook/acme").target == ROUTE_NOT_FOUND);
    strcpy(long_name, "/hooks/");
    memset(long_name + 7, 'a', 64); /* NAME_MAX_LEN */
    long_name[7 + 64] = '\0';
    r = route_of("POST", long_name);
    CHECK(r.target == ROUTE_HOOK && r.source_len == 64);
    strcat(long_name, "a");
    CHECK(route_of("POST", long_name).target == ROUTE_NOT_FOUND);
}

static void test_token_endpoint(void)
{
    struct route r = route_of("POST", "/hooks/acme-1/token?grant_type=client_credentials");

    CHECK(r.target == ROUTE_TOKEN && r.allow == NULL);
    CHECK(r.source_len == 6 && memcmp(r.source, "acme-1", 6) == 0);
    r = route_of("GET", "/hooks/acme/token");
    CHECK(r.target == ROUTE_TOKEN && r.allow != NULL && strstr(r.allow, "POST") != NULL);
    CHECK(route_of("POST", "/hooks//token").target == ROUTE_NOT_FOUND);
    CHECK(route_of("POST", "/hooks/acme/token/").target == ROUTE_NOT_FOUND);
    CHECK(route_of("POST", "/hooks/acme/tokens").target == ROUTE_NOT_FOUND);
    CHECK(route_of("POST", "/hooks/acme/toke").target == ROUTE_NOT_FOUND);
    CHECK(route_of("POST", "/hooks/a/b/token").target == ROUTE_NOT_FOUND);
    CHECK(route_of("POST", "/hooks/token").target == ROUTE_HOOK); /* a source named token */
}

int main(void)
{
    test_health();
    test_hooks();
    test_token_endpoint();
    return check_summary("test_route");
}
