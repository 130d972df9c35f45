/*
 * replay's HTTP client over libcurl's easy interface (see http_client.h). libcurl replaced
 * a hand-written HTTP/1.1 client whose timeout bounded each recv, so a target that trickled
 * a byte a second held a sender for ever; here CURLOPT_TIMEOUT_MS bounds the exchange.
 */
#include "http_client.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_CONNECT_TIMEOUT_MS 10000L /* at most; never past the exchange's deadline */
#define HTTP_RETRY_AFTER_MAX 3600

struct http_client {
    CURL *curl;                   /* one per thread: keeps its connection alive */
    char errbuf[CURL_ERROR_SIZE]; /* libcurl's detail of the last failure */
    char hostport[300];           /* for messages */
    long timeout_ms;              /* the whole exchange */
};

int http_client_global_init(char *err, size_t errlen)
{
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);

    if (rc != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl: %s", curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

void http_client_global_cleanup(void)
{
    curl_global_cleanup();
}

int http_client_url_check(const char *url, bool *tls, const char **why)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *part = NULL;
    int ret = -1;

    *why = "out of memory";
    if (u == NULL)
        return -1;
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        *why = "the URL must start with http:// or https://";
        goto done;
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        *why = "not a valid URL (a space or control character, or a bad host or port)";
        goto done;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
        *why = "the URL must start with http:// or https://";
        goto done;
    }
    *tls = strcmp(scheme, "https") == 0;
    if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK) {
        *why = "user:password@ in the URL is not supported";
        goto done;
    }
    if (curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK) {
        *why = "a #fragment in the URL is not supported";
        goto done;
    }
    if (curl_url_get(u, CURLUPART_HOST, &part, 0) != CURLUE_OK || part[0] == '\0') {
        *why = "the URL has no host";
        goto done;
    }
    ret = 0;
done:
    curl_free(part);
    curl_free(scheme);
    curl_url_cleanup(u);
    return ret;
}

int http_client_cacert_check(const char *cacert, char *err, size_t errlen)
{
    X509_STORE *st = X509_STORE_new();
    int ret = -1;

    if (st != NULL && X509_STORE_load_locations(st, cacert, NULL) == 1) {
        ret = 0;
    } else {
        char buf[256] = "failed";
        unsigned long e = ERR_get_error();
        if (e != 0)
            ERR_error_string_n(e, buf, sizeof(buf));
        snprintf(err, errlen, "cannot load CA certificates from %s: %s", cacert, buf);
    }
    ERR_clear_error();
    X509_STORE_free(st);
    return ret;
}

/* The answer's body is not wanted: counted as read, dropped. */
static size_t http_discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

struct http_client *http_client_new(const char *url, const char *cacert, bool insecure,
                                    long timeout_ms)
{
    struct http_client *c = calloc(1, sizeof(*c));
    CURLU *u = NULL;
    char *host = NULL, *port = NULL;
    bool ok;

    if (c == NULL)
        return NULL;
    c->timeout_ms = timeout_ms;
    c->curl = curl_easy_init();
    u = curl_url();
    if (c->curl == NULL || u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        curl_free(host);
        curl_url_cleanup(u);
        http_client_free(c);
        return NULL;
    }
    snprintf(c->hostport, sizeof(c->hostport), "%s:%s", host, port); /* IPv6 in brackets */
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    /* any failing option is out of memory (the values are fixed and valid for 7.88) */
    ok = curl_easy_setopt(c->curl, CURLOPT_URL, url) == CURLE_OK &&
         curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
         curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
         curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf) == CURLE_OK &&
         curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK &&
         curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
                          timeout_ms < HTTP_CONNECT_TIMEOUT_MS
                              ? timeout_ms
                              : HTTP_CONNECT_TIMEOUT_MS) == CURLE_OK &&
         curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "hookpipe-ctl/" HOOKPIPE_VERSION) ==
             CURLE_OK &&
         curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, http_discard) == CURLE_OK &&
         curl_easy_setopt(c->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK &&
         curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, insecure ? 0L : 1L) == CURLE_OK &&
         curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, insecure ? 0L : 2L) == CURLE_OK &&
         (cacert == NULL || curl_easy_setopt(c->curl, CURLOPT_CAINFO, cacert) == CURLE_OK);
    if (!ok) {
        http_client_free(c);
        return NULL;
    }
    return c;
}

void http_client_free(struct http_client *c)
{
    if (c == NULL)
        return;
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    free(c);
}

/* Retry-After as delta-seconds (capped), or -1: absent, or an HTTP date (not followed). */
static int http_retry_after(CURL *curl)
{
    struct curl_header *h = NULL;
    long n = 0;
    const char *q;

    if (curl_easy_header(curl, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return -1;
    for (q = h->value; isdigit((unsigned char)*q); q++)
        n = n < HTTP_RETRY_AFTER_MAX ? n * 10 + (*q - '0') : HTTP_RETRY_AFTER_MAX;
    if (*q != '\0' || q == h->value)
        return -1;
    return n < HTTP_RETRY_AFTER_MAX ? (int)n : HTTP_RETRY_AFTER_MAX;
}

int http_client_post(struct http_client *c, const char *const *headers, const char *body,
                     size_t len, int *retry_after_s, char *err, size_t errlen)
{
    struct curl_slist *list = NULL, *l;
    CURLcode rc;
    long status = 0;
    int ret = -1;

    *retry_after_s = -1;
    c->errbuf[0] = '\0';
    /* an empty Expect: keeps libcurl from waiting for 100-continue before the body */
    list = curl_slist_append(NULL, "Content-Type: application/json");
    l = list != NULL ? curl_slist_append(list, "Expect:") : NULL;
    for (size_t i = 0; l != NULL && headers[i] != NULL; i++)
        l = curl_slist_append(list, headers[i]);
    if (l == NULL) { /* a failed append leaves list as it was */
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, list) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body) != CURLE_OK) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    rc = curl_easy_perform(c->curl);
    switch (rc) {
    case CURLE_OK:
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
        *retry_after_s = http_retry_after(c->curl);
        ret = (int)status;
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(err, errlen, "cannot resolve %s: %s", c->hostport, c->errbuf);
        break;
    case CURLE_COULDNT_CONNECT:
        snprintf(err, errlen, "cannot connect to %s: %s", c->hostport, c->errbuf);
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
        snprintf(err, errlen, "TLS handshake with %s: certificate verify failed: %s", c->hostport,
                 c->errbuf);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(err, errlen, "no complete answer from %s within --timeout %ld s: %s", c->hostport,
                 c->timeout_ms / 1000, c->errbuf);
        break;
    default:
        snprintf(err, errlen, "%s: %s", c->hostport,
                 c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc));
        break;
    }
done:
    /* the list and body are the caller's only for this call: unhook them */
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(list);
    return ret;
}
