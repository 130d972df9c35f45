/*
 * The provider signature vectors of tests/fixtures/providers/ (its README: key=value lines,
 * the value to the end of the line, '#' lines comments), read by the unit tests of the
 * verifiers (test_provider_sig.c) and of the signers (test_provider_sign.c).
 */
#ifndef HOOKPIPE_TEST_PROVIDER_VECTORS_H
#define HOOKPIPE_TEST_PROVIDER_VECTORS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VEC_LINE 2048

struct vec {
    char provider[32];
    char secret[VEC_LINE];
    char id[VEC_LINE];
    char timestamp[64];
    char signature[VEC_LINE];
    char body[VEC_LINE];
};

static void vec_set(char *dst, size_t cap, const char *v)
{
    snprintf(dst, cap, "%s", v);
}

/* Reads FIXTURE_DIR/providers/name; exits on failure (the test cannot run without it). */
static void vec_load(const char *name, struct vec *v)
{
    char path[1024], line[VEC_LINE];
    FILE *f;

    memset(v, 0, sizeof(*v));
    snprintf(path, sizeof(path), "%s/providers/%s", FIXTURE_DIR, name);
    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *eq, *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        if (line[0] == '#' || (eq = strchr(line, '=')) == NULL)
            continue;
        *eq = '\0';
        if (strcmp(line, "provider") == 0)
            vec_set(v->provider, sizeof(v->provider), eq + 1);
        else if (strcmp(line, "secret") == 0)
            vec_set(v->secret, sizeof(v->secret), eq + 1);
        else if (strcmp(line, "id") == 0)
            vec_set(v->id, sizeof(v->id), eq + 1);
        else if (strcmp(line, "timestamp") == 0)
            vec_set(v->timestamp, sizeof(v->timestamp), eq + 1);
        else if (strcmp(line, "signature") == 0)
            vec_set(v->signature, sizeof(v->signature), eq + 1);
        else if (strcmp(line, "body") == 0)
            vec_set(v->body, sizeof(v->body), eq + 1);
    }
    fclose(f);
}

#endif
