/*
 * What common/config.c and common/config_source.c share while one file is parsed: the
 * parse state, the error helper, and the [source.NAME] entry points. Private to the
 * config module; nothing else includes it.
 */
#ifndef HOOKPIPE_CONFIG_PARSE_H
#define HOOKPIPE_CONFIG_PARSE_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"

#define CONFIG_KEYS_MAX 64 /* [section] keys in the key table (checked at compile time) */

struct source_draft; /* config_source.c: where each key of one source was set */

struct config_parse {
    struct config *cfg;
    const char *path;
    FILE *fp;
    int line;                      /* line most recently read */
    char err[CONFIG_ERR_LEN];      /* first error, "" while none */
    bool seen[CONFIG_KEYS_MAX];    /* key given in the file (index into the key table) */
    int key_line[CONFIG_KEYS_MAX]; /* line where it was given, for validation errors */
    int read_errno;                /* errno of a failed read (e.g. a directory), 0 = none */
    int section_line;              /* line of the most recent [section] header */
    struct source_draft *drafts;   /* parallel to cfg->sources */
    bool no_secrets;               /* CONFIG_LOAD_NO_SECRETS: secret keys noted, never read */
};

/*
 * Every error goes through here: records the first one as "PATH:LINE: key: why" (key may be
 * NULL; a line of 0 or less leaves it out: "PATH: key: why"); later ones are dropped.
 */
void config_error_at(struct config_parse *p, int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* config_error_at at the line most recently read. */
void config_error(struct config_parse *p, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses a whole number within min..max into *out; else config_error and -1. */
int config_long(struct config_parse *p, const char *key, const char *value, long min, long max,
                long *out) __attribute__((warn_unused_result));

/* A key of a [source.NAME] section: stores it in its source (created on first use). 1 or 0. */
int config_source_key(struct config_parse *p, const char *section, const char *name,
                      const char *value);

/* Validates source i once the whole file is read (provider, secret, the auth rules). 0 or -1. */
int config_source_validate(struct config_parse *p, size_t i);

/* Frees what a source holds (secrets wiped first), not the struct itself. */
void config_source_free(struct config_source *src);

/* Number of [source.NAME] keys; config_source_key_describe(i) below it fills info. */
size_t config_source_key_count(void);
void config_source_key_describe(size_t i, struct config_key_info *info);

/* True for a valid source name (the name rule). */
bool config_source_name_ok(const char *name);

#endif
