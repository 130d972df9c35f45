/*
 * Request handling, apart from the connection's life (conn.c), as memcached keeps its
 * protocol apart from its state machine: what a head, a whole request and a push result
 * come to. Each call returns a verdict — an answer to send, a body to read, or a push to
 * make — and conn.c carries it out; nothing here touches a socket, a buffer or a timer.
 */
#ifndef HOOKPIPE_SERVE_H
#define HOOKPIPE_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "oauth.h"
#include "push.h"
#include "request.h"
#include "response.h"

struct conn_settings;
struct keyring;

/* What the connection does next. */
enum serve_verdict {
    SERVE_ANSWER,    /* send the answer: the request is over */
    SERVE_READ_BODY, /* head accepted: read the body, then serve_request */
    SERVE_PUSH,      /* a verified, admitted delivery: push it, then serve_pushed */
};

#define SERVE_TEXT_MAX OAUTH_BODY_MAX /* the largest answer body made here (a token) */

/* An answer, and how the connection goes on after it. */
struct serve_answer {
    int status;
    const char *extra;         /* header lines, each ending in CRLF, or NULL */
    const char *body;          /* JSON text: a static string, text, or heap */
    bool unread;               /* the request's input will not be read: close and linger */
    bool ends;                 /* the connection ends after it (its declared body is unread) */
    char text[SERVE_TEXT_MAX]; /* storage for a body made here; wiped by serve_answer_done */
    char *heap;                /* a larger body to free once sent (url_validation), or NULL */
    char extra_text[64];       /* storage for a header line made here (Retry-After: N) */
};

/* What serving needs from the connection and its worker (all borrowed). */
struct serve_ctx {
    const struct conn_settings *settings;
    struct keyring *keyring;
    const struct pusher *pusher;
    const struct cidr_list *trusted_proxies;
    const struct cidr_addr *peer; /* the socket's remote address */
    int worker_id;                /* for log lines */
    uint64_t conn_id;
};

/* What a request on a connection has shown so far. */
struct serve_proof {
    struct cidr_addr client; /* the address its request speaks for */
    bool vouched;            /* its head alone proved the sender */
    bool proven;             /* a request on the connection passed verification (sticky) */
};

/*
 * A complete head buf[0..len), with buffered bytes of input from its first byte: parses,
 * routes and guards it (guard.h), filling req. SERVE_READ_BODY with *send_continue set
 * when the client waits for "100 Continue"; else SERVE_ANSWER.
 */
enum serve_verdict serve_head(const struct serve_ctx *x, struct request *req, struct serve_proof *p,
                              const char *buf, size_t len, size_t buffered, struct serve_answer *a,
                              bool *send_continue);

/*
 * The whole request, body following its head: verifies it and answers it (a token, a
 * url_validation, a refusal), or admits it for a push (SERVE_PUSH; the caller pushes
 * body and, on a failure to send, answers serve_unavailable(a, "out of memory")).
 */
enum serve_verdict serve_request(const struct serve_ctx *x, struct request *req,
                                 struct serve_proof *p, const char *body, struct serve_answer *a);

/* GET /readyz, by the admission rule. */
void serve_readyz(const struct serve_ctx *x, struct serve_answer *a);

/* The answer to a push's result (its delivery id in req). */
void serve_pushed(const struct serve_ctx *x, const struct request *req, enum push_result result,
                  const char *error, struct serve_answer *a);

/* An error answer {"error":msg} with extra header lines. */
void serve_error(struct serve_answer *a, int status, const char *extra, const char *msg);

/* The one 503 with Retry-After: 1 (out of memory, queue unavailable, not confirmed, …). */
void serve_unavailable(struct serve_answer *a, const char *msg);

/* An answer to a request whose input will not be read (the connection ends after it). */
void serve_reject(struct serve_answer *a, int status, const char *extra, const char *msg);

/* Frees and wipes what the answer holds, once it is sent (a token body is a credential). */
void serve_answer_done(struct serve_answer *a);

#endif
