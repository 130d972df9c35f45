/*
 * libFuzzer target for config_load(): the fuzz input is written to a temp file and
 * loaded. Checks that nothing crashes or leaks and that every rejection is one line that
 * starts with the file name (the contract of config.h).
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_path[64];

static void fuzz_config_cleanup(void)
{
    unlink(fuzz_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CONFIG_ERR_LEN];
    struct config *cfg;
    FILE *fp;

    if (fuzz_path[0] == '\0') {
        int fd;
        snprintf(fuzz_path, sizeof(fuzz_path), "/tmp/hookpipe-fuzz-config.XXXXXX");
        fd = mkstemp(fuzz_path);
        if (fd < 0)
            abort();
        close(fd);
        atexit(fuzz_config_cleanup);
    }
    fp = fopen(fuzz_path, "wb");
    if (fp == NULL)
        abort();
    if (size > 0 && fwrite(data, 1, size, fp) != size)
        abort();
    fclose(fp);
    err[0] = '\0';
    cfg = config_load(fuzz_path, err, sizeof(err));
    if (cfg == NULL) {
        if (strncmp(err, fuzz_path, strlen(fuzz_path)) != 0 || strchr(err, '\n') != NULL)
            __builtin_trap();
    } else {
        for (size_t i = 0; i < cfg->nsources; i++) {
            const struct config_source *s = &cfg->sources[i];
            bool ws = s->transport == CONFIG_TRANSPORT_WEBSOCKET;
            /* a webhook source has its secret; a websocket one what its link needs, no secret */
            if ((ws ? s->client_secret == NULL || s->subscription_id == NULL || s->secret != NULL
                    : s->secret == NULL || s->subscription_id != NULL) ||
                s->provider == NULL || config_find_source(cfg, s->name) != s)
                __builtin_trap();
        }
    }
    config_free(cfg);
    return 0;
}
