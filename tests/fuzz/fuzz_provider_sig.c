/*
 * libFuzzer target for the providers' signature header parsers (common/provider_sig.h):
 * the input as a webhook-signature list and as a Stripe-Signature value, then through every
 * provider's verifier as its signature header. Parsed entries must lie inside the input and
 * be at most PROVIDER_SIG_ENTRIES_MAX; no fuzzed header verifies under the fixed secrets.
 */
#include "provider_sig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_list(const char *buf, size_t size, const struct provider_sig_list *l)
{
    if (l->n == 0 || l->n > PROVIDER_SIG_ENTRIES_MAX)
        __builtin_trap();
    for (size_t i = 0; i < l->n; i++) {
        const struct provider_sig_entry *e = &l->e[i];
        if (e->version < buf || e->version + e->version_len > buf + size || e->value < buf ||
            e->value + e->value_len > buf + size || e->value < e->version + e->version_len)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct provider_sig_secret secrets[2] = {
        {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 38},
        {"whpk_iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=", 49},
    };
    static const struct provider_sig_secret plain[1] = {{"hookpipe-fuzz-secret", 20}};
    char *buf = malloc(size ? size : 1); /* exact size: overreads are caught */
    struct provider_sig_list l;
    struct provider_sig_request r = {0};
    long long ts;

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);

    if (provider_sig_parse_standard(buf, size, &l) == 0)
        check_list(buf, size, &l);
    if (provider_sig_parse_stripe(buf, size, &l) == 0)
        check_list(buf, size, &l);
    if (provider_sig_parse_timestamp(buf, size, &ts) == 0 && (ts < 0 || size > 12))
        __builtin_trap();

    r.id = "msg_fuzz";
    r.id_len = 8;
    r.timestamp = "1614265330";
    r.timestamp_len = 10;
    r.signature = buf;
    r.signature_len = size;
    r.body = "{}";
    r.body_len = 2;
    r.now = 1614265330;
    r.tolerance_s = 300;
    /* a fuzzed header must never verify: it would be a forged signature */
    if (provider_sig_standard(secrets, 2, &r) == PROVIDER_SIG_OK)
        __builtin_trap();
    for (int p = PROVIDER_SIG_GITHUB; p < PROVIDER_SIG_PROVIDER_COUNT; p++) {
        if (provider_sig_verify((enum provider_sig_provider)p, plain, 1, &r) == PROVIDER_SIG_OK)
            __builtin_trap();
        (void)provider_sig_head((enum provider_sig_provider)p, &r);
    }
    free(buf);
    return 0;
}
