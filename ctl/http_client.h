/*
 * replay's HTTP client: one libcurl easy handle per sender thread, so each thread keeps its
 * own keep-alive connection (plain or TLS). Every POST is bounded as a whole exchange —
 * connect, TLS, request, answer — by one deadline; libcurl does the HTTP.
 */
#ifndef HOOKPIPE_CTL_HTTP_CLIENT_H
#define HOOKPIPE_CTL_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct http_client;

/* Once per process, before any thread starts (curl_global_init). 0, or -1 with err. */
int http_client_global_init(char *err, size_t errlen) __attribute__((warn_unused_result));
void http_client_global_cleanup(void);

/*
 * Checks a --to URL: http:// or https://, a host, no user:password@, no #fragment. Sets
 * *tls for https://. 0, or -1 with a static reason in *why.
 */
int http_client_url_check(const char *url, bool *tls, const char **why)
    __attribute__((warn_unused_result));

/* Checks that cacert holds PEM certificates OpenSSL can load. 0, or -1 with one line in err. */
int http_client_cacert_check(const char *cacert, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * A client POSTing to url (checked with http_client_url_check; copied). https:// is verified
 * against cacert (a PEM file) or the system's CAs when cacert is NULL, or not at all when
 * insecure. timeout_ms bounds each whole exchange. NULL when out of memory.
 */
struct http_client *http_client_new(const char *url, const char *cacert, bool insecure,
                                    long timeout_ms) __attribute__((warn_unused_result));
void http_client_free(struct http_client *c);

/*
 * POSTs exactly body[0..len) as application/json, with the extra header lines headers
 * ("Name: value" each, NULL-terminated; not logged), and reads the whole answer (discarded).
 * Returns the status code (and the answer's Retry-After seconds, capped at 3600, in
 * *retry_after_s; -1 when none or an HTTP date), or -1 with one line in err when the
 * exchange failed or missed its deadline.
 */
int http_client_post(struct http_client *c, const char *const *headers, const char *body,
                     size_t len, int *retry_after_s, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
