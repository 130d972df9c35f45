/*
 * A small blocking HTTP/1.1 client for replay: one keep-alive connection (plain or TLS)
 * per thread, reconnected after any error, every read and write bounded by a timeout.
 */
#ifndef HOOKPIPE_CTL_HTTP_CLIENT_H
#define HOOKPIPE_CTL_HTTP_CLIENT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "http_msg.h"

struct http_client;

/*
 * A TLS client context verifying the server against cacert (a PEM file), or the system's
 * CAs when cacert is NULL, or nothing when insecure. NULL with one line in err.
 */
SSL_CTX *http_tls_ctx_new(const char *cacert, bool insecure, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* A client for url (not copied: it must outlive the client); tls NULL for http://. */
struct http_client *http_client_new(const struct http_url *url, SSL_CTX *tls, int timeout_s)
    __attribute__((warn_unused_result));
void http_client_free(struct http_client *c);

/*
 * POSTs body with the extra header lines headers ("Name: value\r\n" each) and reads the
 * whole answer. Returns the status code (and the answer's Retry-After seconds in
 * *retry_after_s, -1 when none), or -1 with one line in err when the connection failed
 * (the next call reconnects). A keep-alive connection the server closed meanwhile is
 * reopened and the request sent again once, silently.
 */
int http_client_post(struct http_client *c, const char *headers, const char *body, size_t len,
                     int *retry_after_s, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
