/*
 * Native HTTPS for the webhook listener: one server SSL_CTX (TLS >= 1.2) built from
 * tls_cert/tls_key at start, shared read-only by every worker.
 */
#ifndef HOOKPIPE_TLS_H
#define HOOKPIPE_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

/* A server context for cert (PEM chain) and key, or NULL with a reason in err. */
SSL_CTX *tls_server_ctx(const char *cert, const char *key, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
