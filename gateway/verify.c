/*
 * The verification checks (see verify.h) and the list each provider uses. Zoom signs
 * "v0:<timestamp>:<body>", so the timestamp window is what bounds a replay.
 */
#include "verify.h"

#include <stdlib.h>
#include <string.h>

#define VERIFY_TIMESTAMP_DIGITS_MAX 12

static bool verify_refuse(struct verify_result *res, int status, const char *message)
{
    res->status = status;
    res->message = message;
    return false;
}

/* x-zm-request-timestamp: decimal seconds within tolerance_s of now. */
static bool verify_zoom_timestamp(const struct verify_keys *keys, const struct verify_request *req,
                                  struct verify_result *res)
{
    long long ts = 0;

    (void)keys;
    if (req->timestamp_len == 0 || req->timestamp_len > VERIFY_TIMESTAMP_DIGITS_MAX)
        return verify_refuse(res, 401, "timestamp missing or outside tolerance");
    for (size_t i = 0; i < req->timestamp_len; i++) {
        if (req->timestamp[i] < '0' || req->timestamp[i] > '9')
            return verify_refuse(res, 401, "timestamp missing or outside tolerance");
        ts = ts * 10 + (req->timestamp[i] - '0');
    }
    if (llabs((long long)req->now - ts) > req->tolerance_s)
        return verify_refuse(res, 401, "timestamp missing or outside tolerance");
    return true;
}

/* x-zm-signature under the current secret, else (while rotating) the previous one. */
static bool verify_zoom_signature(const struct verify_keys *keys, const struct verify_request *req,
                                  struct verify_result *res)
{
    struct zoom_key *try[2] = {keys->current, keys->previous};

    for (size_t i = 0; i < 2; i++) {
        if (try[i] != NULL && zoom_verify(try[i], req->timestamp, req->timestamp_len, req->body,
                                          req->body_len, req->signature, req->signature_len)) {
            res->key = try[i];
            return true;
        }
    }
    return verify_refuse(res, 401, "bad signature");
}

static const struct verify_check verify_check_zoom_timestamp = {"zoom_timestamp",
                                                                verify_zoom_timestamp};
static const struct verify_check verify_check_zoom_signature = {"zoom_signature",
                                                                verify_zoom_signature};

static const struct verify_check *const verify_zoom[] = {
    &verify_check_zoom_timestamp,
    &verify_check_zoom_signature,
    NULL,
};

const struct verify_check *const *verify_checks(const char *provider)
{
    if (provider != NULL && strcmp(provider, "zoom") == 0)
        return verify_zoom;
    return NULL;
}

bool verify_run(const struct verify_check *const *checks, const struct verify_keys *keys,
                const struct verify_request *req, struct verify_result *res)
{
    memset(res, 0, sizeof(*res));
    if (checks == NULL)
        return verify_refuse(res, 401, "no verification for this source");
    for (size_t i = 0; checks[i] != NULL; i++) {
        if (!checks[i]->run(keys, req, res))
            return false;
    }
    return true;
}
