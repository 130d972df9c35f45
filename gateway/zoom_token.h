/*
 * Zoom's server-to-server OAuth token request, less the HTTP: the form body to POST to
 * oauth_url (with the client id and secret as HTTP Basic), and the reading of Zoom's answer
 * (developers.zoom.us/docs/internal-apps/s2s-oauth/). Pure (jansson); the transfer is
 * ev_curl's. Unit-tested in tests/unit/test_zoom_token.c.
 */
#ifndef HOOKPIPE_ZOOM_TOKEN_H
#define HOOKPIPE_ZOOM_TOKEN_H

#include <stddef.h>

#define ZOOM_TOKEN_EXPIRES_MAX 86400L /* a longer expires_in is taken as this */
#define ZOOM_TOKEN_WHY_VALUE_MAX 200  /* bytes of Zoom's error or reason kept in why */

/*
 * The form body of the token request into out (cap bytes, NUL included):
 *   grant "account_credentials": grant_type=account_credentials&account_id=<account_id>,
 *     account_id percent-encoded (all but A-Z a-z 0-9 - . _ ~ as %XX);
 *   grant "client_credentials":  grant_type=client_credentials (account_id ignored).
 * 0, or -1 when it does not fit, the grant is another, or account_credentials has no
 * (or an empty) account_id.
 */
int zoom_token_form(const char *grant, const char *account_id, char *out, size_t cap)
    __attribute__((warn_unused_result));

/*
 * Reads Zoom's answer: status 200 with a JSON object whose access_token is a non-empty
 * string of printable ASCII (it goes into the WebSocket URL) and whose expires_in is a
 * positive integer gives 0, *token (a copy the caller wipes and frees), *expires_in_s
 * (capped at ZOOM_TOKEN_EXPIRES_MAX) and an empty why. Anything else gives -1, *token NULL,
 * and why (whylen bytes, NUL included) one printable line such as
 *   status=401 error=invalid_client reason="Invalid client_id or client_secret"
 * from Zoom's "error" and "reason" string members when there are (each cut to
 * ZOOM_TOKEN_WHY_VALUE_MAX bytes, in double quotes unless plain [A-Za-z0-9_.:/-], '"', '\\'
 * and bytes outside printable ASCII as '?'), then, when the answer itself is at fault,
 * problem="..." (not a JSON object, no access_token string, expires_in not a positive
 * integer...). The token never appears in why: a member holding it is shown as (redacted).
 * jansson's copy of the token is wiped before it is freed; the caller wipes body.
 */
int zoom_token_parse(long status, const char *body, size_t len, char **token, long *expires_in_s,
                     char *why, size_t whylen) __attribute__((warn_unused_result));

#endif
