/*
 * libFuzzer target for what the writer reads of another provider's delivery (issue 22):
 * an item is decoded as an envelope, and an HP2 one of a provider beside Zoom goes through
 * facts_extract (its body, its carried headers, the RFC 3339 time of a header); the input
 * is also given to facts_parse_time whole. Beyond not crashing or leaking: a refusal says
 * why, an event time lies in the stored range, and the headers are a JSON object.
 */
#include "envelope.h"
#include "facts.h"
#include "provider.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy so any read past the end is caught by ASan */
    char *buf = malloc(size ? size : 1);
    struct envelope env;
    struct facts f;
    const char *why = NULL;
    char reason[256];
    int64_t ms = -1;
    int provider, rc;

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    if (facts_parse_time(buf, size, &ms) && (ms < 0 || ms > FACTS_TIME_MAX_MS))
        __builtin_trap();
    if (envelope_decode(buf, size, &env, &why) != 0 ||
        (provider = provider_find(env.provider, strlen(env.provider))) <= PROVIDER_ZOOM) {
        free(buf);
        return 0;
    }
    reason[0] = '\0';
    rc = facts_extract(&env, provider, &f, reason, sizeof(reason));
    if (rc == -1 && reason[0] == '\0')
        __builtin_trap(); /* a refusal always says why */
    if (rc == 0) {
        if (f.has_time && (f.time_ms < 0 || f.time_ms > FACTS_TIME_MAX_MS))
            __builtin_trap();
        if (f.headers == NULL || f.headers[0] != '{')
            __builtin_trap();
        facts_free(&f);
    }
    free(buf);
    return 0;
}
