/*
 * What a connection knows of the request it serves: how the connection goes on after
 * it, where its head and body lie in the input, and the header values verification
 * and the envelope need, copied out of the input buffer (which is drained before the
 * push is answered). Pure; unit-tested in tests/unit/test_request.c.
 */
#ifndef HOOKPIPE_REQUEST_H
#define HOOKPIPE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/time.h>
#include <time.h>

#include "envelope.h"
#include "http_parser.h"
#include "name.h"
#include "provider.h"
#include "push.h"
#include "verify.h"

#define REQUEST_SIGNATURE_MAX 80 /* longer x-zm-signature values are dropped (they fail) */
#define REQUEST_TIMESTAMP_MAX 24
#define REQUEST_AUTHORIZATION_MAX 512 /* longer Authorization values are ignored (they fail) */
#define REQUEST_CUSTOM_MAX 512        /* the same for the source's header_name value */
#define REQUEST_QUERY_MAX 512         /* the token endpoint's query string; longer: 400 */
#define REQUEST_P_SIGNATURE_MAX 1024  /* another provider's signature header (lists of several) */

struct stats_source;

/*
 * Where a header value lies in the head, as an offset from its first byte: the head
 * stays at the start of the input until the request is answered, so credentials are
 * read in place, never copied. Set only when the header occurs once and fits its cap.
 */
struct request_span {
    size_t off;
    size_t len;
    bool set;
};

struct request {
    bool keep_alive;               /* the connection persists after the answer */
    bool head_only;                /* HEAD: answer without the body */
    bool unread;                   /* answered before its input was read: linger before close */
    size_t scanned;                /* head bytes already searched for CRLFCRLF */
    size_t head_len;               /* bytes of the head in the input */
    size_t body_len;               /* content length */
    struct stats_source *stats;    /* counters of the addressed source, or NULL */
    struct timeval done;           /* when the last body byte was read */
    char source[NAME_MAX_LEN + 1]; /* addressed source */
    char signature[REQUEST_SIGNATURE_MAX + 1]; /* x-zm-signature, "" if absent or too long */
    size_t signature_len;
    char timestamp[REQUEST_TIMESTAMP_MAX + 1]; /* x-zm-request-timestamp, "" if absent */
    size_t timestamp_len;
    char request_id[ENVELOPE_REQUEST_ID_MAX + 1]; /* x-zm-request-id, else x-zm-trackingid */
    size_t request_id_len;                        /* cut to ENVELOPE_REQUEST_ID_MAX */
    char delivery_id[PUSH_ID_MAX];                /* id of the delivery being pushed */
    bool token_endpoint;               /* POST /hooks/NAME/token rather than a delivery */
    struct request_span authorization; /* the Authorization value */
    struct request_span custom;        /* the source's header_name value */
    struct request_span query;         /* the token endpoint's query string */
    bool query_too_long;               /* the query did not fit: the token request is refused */
    enum provider_id provider;         /* the addressed source's */
    struct request_span p_signature;   /* another provider's signature headers (provider.h) */
    struct request_span p_timestamp;
    struct request_span p_id;
    struct request_span carried[PROVIDER_HEADERS_MAX]; /* the headers its envelope carries */
};

/* Forgets the request served last (the strings are rewritten before they are used). */
void request_reset(struct request *r);

/* Starts a request from its parsed head: keep_alive and head_only. */
void request_begin(struct request *r, const struct http_head *h);

/* What request_keep captures beyond the Zoom headers, by the source's auth modes. */
struct request_capture {
    bool authorization;        /* the Authorization header */
    const char *custom_name;   /* this header (header mode), or NULL */
    bool token_endpoint;       /* a token request: the query string too */
    enum provider_id provider; /* another provider's: its signature and carried headers */
};

/*
 * A delivery or token request: keeps its source name, its header values (each copied
 * only when it occurs once and fits), and where its body lies.
 */
void request_keep(struct request *r, const struct http_head *h, const char *source,
                  size_t source_len, size_t head_len, size_t body_len,
                  const struct request_capture *cap);

/* The value span points at in the request whose head starts at head, or NULL if unset. */
const char *request_span_at(const struct request_span *span, const char *head);

/* The verification input for body (which follows the head), at now with tolerance_s. */
void request_verify_input(const struct request *r, const char *body, time_t now, long tolerance_s,
                          struct verify_request *out);

/* The push of body (received at r->done). */
void request_push_input(const struct request *r, const char *body, struct push_request *out);

#endif
