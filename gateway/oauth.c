/*
 * The client-credentials grant (see oauth.h). Client authentication is judged before
 * the grant type, so a caller without valid credentials learns nothing but
 * invalid_client; a malformed request (bad escapes, a repeated parameter, two client
 * authentication methods, client_id or client_secret in the query string) is
 * invalid_request before anything else.
 */
#include "oauth.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "authz.h"
#include "config.h"
#include "form.h"

static const char oauth_no_store[] = "Cache-Control: no-store\r\nPragma: no-cache\r\n";
static const char oauth_challenge[] = "Cache-Control: no-store\r\nPragma: no-cache\r\n"
                                      "WWW-Authenticate: Basic realm=\"hookpipe\"\r\n";

static void oauth_error(struct oauth_answer *out, int status, const char *error)
{
    out->status = status;
    out->extra = status == 401 ? oauth_challenge : oauth_no_store;
    out->reason = status == 401 ? VERIFY_REASON_CLIENT_CREDENTIALS : VERIFY_REASON_NONE;
    snprintf(out->body, sizeof(out->body), "{\"error\":\"%s\"}", error);
}

void oauth_token(const struct verify_keys *keys, const struct oauth_request *req,
                 struct oauth_answer *out)
{
    char grant[32], id[CONFIG_CREDENTIAL_MAX + 1], secret[CONFIG_CREDENTIAL_MAX + 1];
    char pair[AUTHZ_BASIC_MAX > 2 * CONFIG_CREDENTIAL_MAX + 2 ? AUTHZ_BASIC_MAX
                                                              : 2 * CONFIG_CREDENTIAL_MAX + 2];
    struct form_field f[] = {
        {"grant_type", grant, sizeof(grant), 0, false},
        {"client_id", id, sizeof(id), 0, false},
        {"client_secret", secret, sizeof(secret), 0, false},
    };
    char token[TOKEN_MAX + 1];
    size_t pair_len = 0, user_len;
    struct authz a;
    bool ok;
    int n;

    memset(out, 0, sizeof(*out));
    /* credentials in the query would end in proxy and access logs: only grant_type (2.3.1) */
    if (req->query_too_long || form_parse(req->query, req->query_len, f, 3) < 0 || f[1].seen ||
        f[2].seen || form_parse(req->body, req->body_len, f, 3) < 0) {
        oauth_error(out, 400, "invalid_request");
        goto done;
    }
    authz_parse(req->authorization, req->authorization_len, &a);
    if (a.scheme != AUTHZ_NONE && f[2].seen) {
        oauth_error(out, 400, "invalid_request"); /* two authentication methods (2.3) */
        goto done;
    }
    if (a.scheme == AUTHZ_BASIC) {
        ok = authz_basic_decode(&a, pair, &pair_len, &user_len) == 0;
    } else if (a.scheme == AUTHZ_NONE && f[1].seen && f[2].seen) {
        n = snprintf(pair, sizeof(pair), "%s:%s", id, secret);
        ok = n > 0 && (size_t)n < sizeof(pair);
        pair_len = ok ? (size_t)n : 0;
    } else {
        ok = false;
    }
    if (!ok || !verify_digest_match(keys->client, pair, pair_len)) {
        oauth_error(out, 401, "invalid_client");
        goto done;
    }
    if (!f[0].seen) {
        oauth_error(out, 400, "invalid_request");
        goto done;
    }
    if (strcmp(grant, "client_credentials") != 0) {
        oauth_error(out, 400, "unsupported_grant_type");
        goto done;
    }
    if (!keys->bearer_set[0] || token_mint(keys->bearer_key[0], keys->source,
                                           (long long)req->now + keys->token_ttl_s, token) < 0) {
        oauth_error(out, 503, "temporarily_unavailable");
        goto done;
    }
    out->status = 200;
    out->extra = oauth_no_store;
    snprintf(out->body, sizeof(out->body),
             "{\"access_token\":\"%s\",\"token_type\":\"Bearer\",\"expires_in\":%ld}", token,
             keys->token_ttl_s);
done:
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(pair, sizeof(pair));
    OPENSSL_cleanse(token, sizeof(token));
}
