/*
 * The configuration tables of docs/configuration.md against the config key tables: every
 * key is documented under its section with its real default, nothing documented is
 * unknown, and the "reload" column says exactly what a gateway SIGHUP applies. The
 * [source.NAME] table likewise: each key (a secret's KEY_file and KEY_env too) and its default.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"

#define MAX_ROWS 256

struct doc_row {
    char section[32]; /* "source.NAME" for the source table */
    char key[64];
    char def[256]; /* a source key: its meaning cell */
    int reload;    /* 1 yes, 0 restart, -1 no reload column */
    bool forms;    /* the key cell adds (`_file`, `_env`) */
    bool matched;
};

static struct doc_row rows[MAX_ROWS];
static size_t nrows;

/* Copies the text between the first pair of backticks of cell into out ("" if none). */
static void doc_backticked(const char *cell, char *out, size_t cap)
{
    const char *a = strchr(cell, '`');
    const char *b = a != NULL ? strchr(a + 1, '`') : NULL;
    size_t n;

    out[0] = '\0';
    if (a == NULL || b == NULL)
        return;
    n = (size_t)(b - a - 1) < cap - 1 ? (size_t)(b - a - 1) : cap - 1;
    memcpy(out, a + 1, n);
    out[n] = '\0';
}

/* Splits a markdown table row into cells (on '|' not preceded by '\'). */
static size_t doc_cells(char *line, char **cells, size_t max)
{
    size_t n = 0;
    char *p = line;

    if (*p == '|')
        p++;
    while (*p != '\0' && n < max) {
        char *start = p;
        while (*p != '\0' && !(*p == '|' && (p == line || p[-1] != '\\')))
            p++;
        if (*p == '\0')
            break; /* text after the last '|' is not a cell */
        *p++ = '\0';
        while (*start == ' ')
            start++;
        cells[n++] = start;
    }
    return n;
}

static void doc_read(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096], section[32] = "";
    bool has_reload = false;

    CHECKF(f != NULL, "cannot open %s", path);
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *cells[8];
        size_t n;
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "**`[", 4) == 0) {
            const char *end = strchr(line + 4, ']');
            size_t len = end ? (size_t)(end - line - 4) : 0;
            section[0] = '\0';
            if (len > 0 && len < sizeof(section)) {
                memcpy(section, line + 4, len);
                section[len] = '\0';
            }
            continue;
        }
        if (section[0] == '\0' || line[0] != '|')
            continue;
        n = doc_cells(line, cells, 8);
        if (n >= 2 && strcmp(cells[0], "key ") == 0) {
            has_reload = n >= 4 && strncmp(cells[3], "reload", 6) == 0;
            continue;
        }
        if (n < 2 || cells[0][0] != '`' || nrows >= MAX_ROWS)
            continue;
        struct doc_row *r = &rows[nrows++];
        snprintf(r->section, sizeof(r->section), "%s", section);
        doc_backticked(cells[0], r->key, sizeof(r->key));
        r->forms = strstr(cells[0], "(`_file`, `_env`)") != NULL;
        if (strncmp(section, "source.", 7) == 0)
            snprintf(r->def, sizeof(r->def), "%s", cells[1]); /* the meaning, with any default */
        else if (n < 3)
            CHECKF(false, "[%s] %s: no default column", section, r->key);
        else if (strncmp(cells[1], "empty", 5) == 0)
            r->def[0] = '\0';
        else
            doc_backticked(cells[1], r->def, sizeof(r->def));
        r->reload = !has_reload ? -1 : strncmp(cells[3], "yes", 3) == 0 ? 1 : 0;
        CHECKF(
            !has_reload || strncmp(cells[3], "yes", 3) == 0 || strncmp(cells[3], "restart", 7) == 0,
            "[%s] %s: reload column says \"%s\" (want yes or restart)", section, r->key, cells[3]);
    }
    fclose(f);
}

/*
 * The row of [section] KEY+suffix, or NULL: a secret's KEY_file and KEY_env are rows of their
 * own or the (`_file`, `_env`) of KEY's row.
 */
static struct doc_row *doc_find(const char *section, const char *key, const char *suffix)
{
    char name[96];

    snprintf(name, sizeof(name), "%s%s", key, suffix);
    for (size_t j = 0; j < nrows; j++) {
        struct doc_row *r = &rows[j];
        if (strcmp(r->section, section) != 0)
            continue;
        if (strcmp(r->key, name) == 0 ||
            (suffix[0] != '\0' && r->forms && strcmp(r->key, key) == 0))
            return r;
    }
    return NULL;
}

/* A [section] key's documented default and reload column. */
static void doc_check_fixed(const struct config_key_info *k, const struct doc_row *r)
{
    CHECKF(strcmp(r->def, k->def) == 0, "[%s] %s: documented default \"%s\", code \"%s\"",
           k->section, k->key, r->def, k->def);
    if (strcmp(k->section, "writer") == 0 || strcmp(k->section, "postgres") == 0 ||
        strcmp(k->section, "storage") == 0)
        CHECKF(r->reload == -1 && !k->reload,
               "[%s] %s: the writer never reloads; its table has no reload column", k->section,
               k->key);
    else
        CHECKF(r->reload == (k->reload ? 1 : 0), "[%s] %s: docs say reload %s, code %s", k->section,
               k->key, r->reload == 1 ? "yes" : "restart", k->reload ? "yes" : "restart");
}

/* A [source.NAME] key: _file and _env only for a secret; its default named in its meaning. */
static void doc_check_source(const struct config_key_info *k, const struct doc_row *r)
{
    char want[96];

    CHECKF(k->forms || !r->forms,
           "[%s] %s: documented with _file and _env, which only a secret "
           "takes",
           k->section, k->key);
    if (k->def == NULL)
        return;
    snprintf(want, sizeof(want), "`%s`", k->def);
    CHECKF(strstr(r->def, want) != NULL && strstr(r->def, "default") != NULL,
           "[%s] %s: the default %s is not documented", k->section, k->key, want);
}

int main(void)
{
    static const char *const suffixes[] = {"", "_file", "_env"};
    size_t nkeys = config_key_count(), nsource = 0;

    doc_read(SOURCE_DIR "/docs/configuration.md");
    CHECK(nrows > 10);
    for (size_t i = 0; i < nkeys; i++) {
        struct config_key_info k;
        config_key_describe(i, &k);
        for (size_t s = 0; s < (k.forms ? 3 : 1); s++) {
            struct doc_row *r = doc_find(k.section, k.key, suffixes[s]);
            CHECKF(r != NULL, "[%s] %s%s is not in docs/configuration.md's key tables", k.section,
                   k.key, suffixes[s]);
            if (r == NULL)
                continue;
            r->matched = true;
            if (s > 0)
                continue;
            if (strncmp(k.section, "source.", 7) == 0) {
                nsource++;
                doc_check_source(&k, r);
            } else {
                doc_check_fixed(&k, r);
            }
        }
    }
    CHECK(nsource > 10);
    for (size_t j = 0; j < nrows; j++)
        CHECKF(rows[j].matched,
               "docs/configuration.md documents [%s] %s, which the config does not know",
               rows[j].section, rows[j].key);
    return check_summary("test_config_doc");
}
