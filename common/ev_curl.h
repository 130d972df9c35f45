/*
 * HTTP POSTs of a form over libcurl's multi interface, driven by a libevent base: one CURLM
 * per event_base (so per gateway worker), its sockets and timer watched by that base, so a
 * transfer never blocks the loop and needs no thread of ours. Used for the gateway's OAuth
 * token requests; a transfer's answer comes back whole, capped, to a done callback.
 */
#ifndef HOOKPIPE_EV_CURL_H
#define HOOKPIPE_EV_CURL_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

struct ev_curl;      /* one CURLM on one event_base */
struct ev_curl_xfer; /* one transfer */

struct ev_curl_post {            /* an HTTP POST of a form (every string copied by ev_curl_post) */
    const char *url;             /* https:// (http:// allowed, for tests and local proxies) */
    const char *user, *password; /* HTTP Basic (CURLAUTH_BASIC only); both or neither */
    const char *body;            /* application/x-www-form-urlencoded */
    const char *ca_file;         /* PEM bundle to verify with; NULL = the system's CAs */
    long timeout_ms;             /* whole transfer, > 0 */
    size_t max_response;         /* a longer answer fails the transfer, > 0 */
};

struct ev_curl_result {
    bool ok;           /* an HTTP answer arrived whole (any status) */
    long status;       /* its status */
    const char *body;  /* its body, NUL-terminated ("" when none; valid during the callback only,
                          then wiped: it may hold a token) */
    size_t body_len;   /* bytes of body, less the NUL */
    const char *error; /* !ok: libcurl's detail (its error buffer or curl_easy_strerror), or
                          "answer longer than N bytes"; NULL when ok */
};

/* Runs once per transfer, from the base's loop. The transfer is freed when it returns. */
typedef void (*ev_curl_done_fn)(void *arg, const struct ev_curl_result *res);

/*
 * Once per process, before any thread starts (curl_global_init); also refuses a libcurl
 * older than 7.85, or without TLS or asynchronous DNS (a blocking resolve would stall the
 * worker's loop). 0, or -1 with err. ctl's http_client_global_init is the same call; libcurl
 * counts them, so a process may make both.
 */
int ev_curl_global_init(char *err, size_t errlen) __attribute__((warn_unused_result));

/* At exit, after every ev_curl is freed and every thread joined (curl_global_cleanup). */
void ev_curl_global_cleanup(void);

/* A multi handle on base, used only from the thread that runs base. NULL on failure. */
struct ev_curl *ev_curl_new(struct event_base *base) __attribute__((warn_unused_result));

/*
 * Cancels every transfer (no callback runs) and frees. Called from inside a done callback,
 * the free happens when that callback returns, and no other done runs. NULL is ignored.
 */
void ev_curl_free(struct ev_curl *ec);

/*
 * Starts a POST. NULL on failure (out of memory, a missing url or body, user without
 * password or the reverse, timeout_ms or max_response not positive, an option libcurl
 * refuses). Otherwise done runs exactly once, from the loop, never from inside this call —
 * unless the transfer is cancelled or its ev_curl freed first. No redirect is followed.
 */
struct ev_curl_xfer *ev_curl_post(struct ev_curl *ec, const struct ev_curl_post *req,
                                  ev_curl_done_fn done, void *arg)
    __attribute__((warn_unused_result));

/*
 * Stops a transfer and frees it; its done never runs. Not for a transfer whose done has
 * begun (inside its own done callback it does nothing: the transfer is freed on return).
 */
void ev_curl_cancel(struct ev_curl_xfer *x);

#endif
