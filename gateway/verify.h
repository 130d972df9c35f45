/*
 * Request verification: is this request really from the source it addresses? Each
 * provider has an ordered list of checks (Zoom: the timestamp window, then the v0
 * signature under the current or the previous secret); the first check that fails
 * decides the answer. Further authentication modes plug in as more checks or more
 * lists. Pure (OpenSSL through zoom.h); unit-tested in tests/unit/test_verify.c.
 */
#ifndef HOOKPIPE_VERIFY_H
#define HOOKPIPE_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "zoom.h"

/* What a check may look at: the request's authentication headers and raw body. */
struct verify_request {
    const char *timestamp; /* x-zm-request-timestamp */
    size_t timestamp_len;  /* 0 when absent */
    const char *signature; /* x-zm-signature */
    size_t signature_len;  /* 0 when absent */
    const char *body;      /* the body bytes exactly as received */
    size_t body_len;
    time_t now;       /* wall clock, seconds */
    long tolerance_s; /* timestamp_tolerance_s */
};

/* The source's secrets (not owned). */
struct verify_keys {
    struct zoom_key *current;  /* secret */
    struct zoom_key *previous; /* secret_previous, or NULL */
};

struct verify_result {
    int status;           /* 0 when verified, else the status to answer (401) */
    const char *message;  /* static: why, for the error body */
    struct zoom_key *key; /* the key the signature verified under (signs url_validation) */
};

struct verify_check {
    const char *name; /* for tests and logs */
    /* true to go on; false with res->status and res->message set to refuse */
    bool (*run)(const struct verify_keys *keys, const struct verify_request *req,
                struct verify_result *res);
};

/* The ordered, NULL-terminated checks of provider (e.g. "zoom"), or NULL if unknown. */
const struct verify_check *const *verify_checks(const char *provider);

/* Runs checks in order. True when all pass (res->key set); else res says why. */
bool verify_run(const struct verify_check *const *checks, const struct verify_keys *keys,
                const struct verify_request *req, struct verify_result *res);

#endif
