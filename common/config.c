/*
 * INI parsing with libinih into struct config. Keys are declared once in a typed table
 * (section, key, type, offset, default, bounds); sources are the dynamic [source.NAME]
 * sections. A custom line reader counts lines so every error can name its line.
 */
#include "config.h"
#include "log.h"
#include "name.h"
#include "sentinel.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum config_type {
    CONFIG_STRING,
    CONFIG_LONG,
    CONFIG_BOOL,
    CONFIG_HOSTPORT,     /* string that must parse as host:port */
    CONFIG_HOSTPORT_OPT, /* same, or empty for "off" */
};

struct config_key {
    const char *section;
    const char *key;
    enum config_type type;
    size_t offset;
    const char *def;
    long min, max; /* bounds for CONFIG_LONG */
    bool reload;   /* a gateway SIGHUP applies a change (else: restart; the writer never reloads) */
};

/* rl: RELOAD when a gateway SIGHUP applies a change, RESTART otherwise */
#define RELOAD true
#define RESTART false
#define CK_STR(sec, field, key, def, rl)                                                           \
    {                                                                                              \
        sec, key, CONFIG_STRING, offsetof(struct config, field), def, 0, 0, rl                     \
    }
#define CK_LONG(sec, field, key, def, lo, hi, rl)                                                  \
    {                                                                                              \
        sec, key, CONFIG_LONG, offsetof(struct config, field), def, lo, hi, rl                     \
    }
#define CK_TYPED(sec, field, key, type, def, rl)                                                   \
    {                                                                                              \
        sec, key, type, offsetof(struct config, field), def, 0, 0, rl                              \
    }

static const struct config_key config_keys[] = {
    CK_STR("log", log_level, "level", "info", RELOAD),
    CK_TYPED("gateway", gateway.listen, "listen", CONFIG_HOSTPORT, "0.0.0.0:8080", RESTART),
    CK_TYPED("gateway", gateway.admin_listen, "admin_listen", CONFIG_HOSTPORT_OPT, "127.0.0.1:9101",
             RESTART),
    CK_LONG("gateway", gateway.max_body_bytes, "max_body_bytes", "1048576", 64, 1L << 30, RELOAD),
    CK_LONG("gateway", gateway.timestamp_tolerance_s, "timestamp_tolerance_s", "300", 1, 86400,
            RELOAD),
    CK_LONG("gateway", gateway.max_queue_length, "max_queue_length", "1000000", 1, LONG_MAX,
            RELOAD),
    CK_LONG("gateway", gateway.workers, "workers", "0", 0, 256, RESTART),
    CK_LONG("gateway", gateway.max_connections, "max_connections", "10000", 1, 1000000, RESTART),
    CK_LONG("gateway", gateway.read_timeout_s, "read_timeout_s", "10", 1, 3600, RELOAD),
    CK_LONG("gateway", gateway.idle_timeout_s, "idle_timeout_s", "60", 1, 3600, RELOAD),
    CK_LONG("gateway", gateway.push_timeout_ms, "push_timeout_ms", "1000", 10, 60000, RELOAD),
    CK_LONG("gateway", gateway.max_pushes_in_flight, "max_pushes_in_flight", "10000", 1, 10000000,
            RELOAD),
    CK_STR("gateway", gateway.tls_cert, "tls_cert", "", RESTART),
    CK_STR("gateway", gateway.tls_key, "tls_key", "", RESTART),
    CK_STR("redis", redis.url, "url", "redis://127.0.0.1:6379/0", RESTART),
    CK_STR("redis", redis.queue, "queue", "hookpipe:events", RESTART),
    CK_STR("redis", redis.sentinels, "sentinels", "", RESTART),
    CK_STR("redis", redis.master_name, "master_name", "", RESTART),
    CK_LONG("redis", redis.ack_replicas, "ack_replicas", "0", 0, 64, RESTART),
    CK_LONG("redis", redis.ack_timeout_ms, "ack_timeout_ms", "500", 1, 60000, RESTART),
    CK_STR("postgres", postgres.conninfo, "conninfo",
           "postgresql://hookpipe@127.0.0.1:5432/hookpipe", RESTART),
    CK_LONG("writer", writer.batch_size, "batch_size", "1000", 1, 100000, RESTART),
    CK_LONG("writer", writer.flush_interval_ms, "flush_interval_ms", "100", 1, 60000, RESTART),
    CK_TYPED("writer", writer.admin_listen, "admin_listen", CONFIG_HOSTPORT_OPT, "127.0.0.1:9102",
             RESTART),
    CK_STR("writer", writer.name, "name", "", RESTART),
    CK_LONG("writer", writer.heartbeat_ttl_s, "heartbeat_ttl_s", "10", 2, 3600, RESTART),
    CK_LONG("writer", writer.recover_interval_s, "recover_interval_s", "5", 1, 3600, RESTART),
    CK_TYPED("writer", writer.synchronous_commit, "synchronous_commit", CONFIG_BOOL, "on", RESTART),
    CK_LONG("writer", writer.shutdown_timeout_s, "shutdown_timeout_s", "30", 0, 3600, RESTART),
    CK_LONG("writer", writer.migrate_wait_s, "migrate_wait_s", "60", 0, 3600, RESTART),
    CK_STR("storage", storage.partition_interval, "partition_interval", "month", RESTART),
    CK_LONG("storage", storage.premake, "premake", "2", 0, 366, RESTART),
    CK_LONG("storage", storage.keep_days, "keep_days", "0", 0, 36500, RESTART),
    CK_LONG("storage", storage.maintenance_interval_s, "maintenance_interval_s", "3600", 1, 604800,
            RESTART),
};

#define NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/*
 * The secret-bearing keys of a [source.NAME] section: each is given as KEY, KEY_file or
 * KEY_env, and again as KEY_previous (with _file/_env) for the value accepted while
 * rotating. mode is the auth mode that uses it (0: always required, the signing secret).
 */
struct source_secret_key {
    const char *base;
    size_t current, previous; /* offsets of the char * fields in struct config_source */
    unsigned mode;
};

#define SRC_FIELD(f) offsetof(struct config_source, f)

/* indices into source_secrets */
enum { SECRET_SIGNING, SECRET_BASIC, SECRET_HEADER, SECRET_VTOKEN, SECRET_OAUTH, NSECRETS };

static const struct source_secret_key source_secrets[NSECRETS] = {
    [SECRET_SIGNING] = {"secret", SRC_FIELD(secret), SRC_FIELD(secret_previous), 0},
    [SECRET_BASIC] = {"basic_password", SRC_FIELD(basic_password),
                      SRC_FIELD(basic_password_previous), CONFIG_AUTH_BASIC},
    [SECRET_HEADER] = {"header_value", SRC_FIELD(header_value), SRC_FIELD(header_value_previous),
                       CONFIG_AUTH_HEADER},
    [SECRET_VTOKEN] = {"verification_token", SRC_FIELD(verification_token),
                       SRC_FIELD(verification_token_previous), CONFIG_AUTH_TOKEN},
    [SECRET_OAUTH] = {"oauth_client_secret", SRC_FIELD(oauth_client_secret),
                      SRC_FIELD(oauth_client_secret_previous), CONFIG_AUTH_BEARER},
};

/* The plain (non-secret) string keys of a source section and the mode each belongs to. */
struct source_plain_key {
    const char *key;
    size_t offset;
    unsigned mode;
};

/* indices into source_plains */
enum { PLAIN_USER, PLAIN_USER_PREVIOUS, PLAIN_HEADER_NAME, PLAIN_ID, PLAIN_ID_PREVIOUS, NPLAINS };

static const struct source_plain_key source_plains[NPLAINS] = {
    [PLAIN_USER] = {"basic_user", SRC_FIELD(basic_user), CONFIG_AUTH_BASIC},
    [PLAIN_USER_PREVIOUS] = {"basic_user_previous", SRC_FIELD(basic_user_previous),
                             CONFIG_AUTH_BASIC},
    [PLAIN_HEADER_NAME] = {"header_name", SRC_FIELD(header_name), CONFIG_AUTH_HEADER},
    [PLAIN_ID] = {"oauth_client_id", SRC_FIELD(oauth_client_id), CONFIG_AUTH_BEARER},
    [PLAIN_ID_PREVIOUS] = {"oauth_client_id_previous", SRC_FIELD(oauth_client_id_previous),
                           CONFIG_AUTH_BEARER},
};

static const struct {
    const char *name;
    unsigned bit;
} config_auth_modes[] = {
    {"signature", CONFIG_AUTH_SIGNATURE}, {"basic", CONFIG_AUTH_BASIC},
    {"header", CONFIG_AUTH_HEADER},       {"bearer", CONFIG_AUTH_BEARER},
    {"token", CONFIG_AUTH_TOKEN},
};

#define NMODES (sizeof(config_auth_modes) / sizeof(config_auth_modes[0]))

enum secret_slot { SLOT_CURRENT, SLOT_PREVIOUS };

/* Where each source key was set (0 = unset), so validation can name the line. */
struct source_draft {
    int secret_line[NSECRETS][2];
    int plain_line[NPLAINS];
    int auth_line;
    int ttl_line;
};

struct config_parse {
    struct config *cfg;
    const char *path;
    FILE *fp;
    int line;                    /* line most recently read */
    char err[CONFIG_ERR_LEN];    /* first error, "" while none */
    bool seen[NKEYS];            /* key given in the file */
    int key_line[NKEYS];         /* line where it was given, for validation errors */
    int read_errno;              /* errno of a failed read (e.g. a directory), 0 = none */
    int section_line;            /* line of the most recent [section] header */
    struct source_draft *drafts; /* parallel to cfg->sources */
    bool no_secrets;             /* CONFIG_LOAD_NO_SECRETS: secret keys noted, never read */
};

static void config_error(struct config_parse *p, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void config_error(struct config_parse *p, const char *key, const char *fmt, ...)
{
    char why[CONFIG_ERR_LEN];
    va_list ap;

    if (p->err[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (key != NULL)
        snprintf(p->err, sizeof(p->err), "%s:%d: %s: %s", p->path, p->line, key, why);
    else
        snprintf(p->err, sizeof(p->err), "%s:%d: %s", p->path, p->line, why);
}

static bool config_source_name_ok(const char *name);

static char *config_reader(char *str, int num, void *stream)
{
    struct config_parse *p = stream;
    char *r = fgets(str, num, p->fp);

    if (r == NULL && ferror(p->fp))
        p->read_errno = errno != 0 ? errno : EIO;
    if (r != NULL) {
        const char *s = str;
        p->line++;
        while (isspace((unsigned char)*s))
            s++;
        /*
         * libinih only reports keys, so a section header is noted here: it lets an
         * unknown or empty section be reported with its own line.
         */
        if (*s == '[') {
            p->section_line = p->line;
            const char *end = strchr(s, ']');
            if (end != NULL && p->err[0] == '\0') {
                char name[128];
                size_t n = (size_t)(end - s - 1);
                if (n >= sizeof(name))
                    n = sizeof(name) - 1;
                memcpy(name, s + 1, n);
                name[n] = '\0';
                if (strncmp(name, "source.", 7) != 0 && strcmp(name, "gateway") != 0 &&
                    strcmp(name, "redis") != 0 && strcmp(name, "postgres") != 0 &&
                    strcmp(name, "writer") != 0 && strcmp(name, "storage") != 0 &&
                    strcmp(name, "log") != 0)
                    config_error(p, NULL, "unknown section [%s]", name);
                else if (strncmp(name, "source.", 7) == 0 && !config_source_name_ok(name + 7))
                    config_error(p, NULL,
                                 "bad source name \"%s\" (letters, digits, _ and -, at most %d)",
                                 name + 7, NAME_MAX_LEN);
            }
        }
    }
    return r;
}

int config_split_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon;
    const char *h = s;
    size_t hl;
    char *end;
    long v;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
        hl = (size_t)(colon - s);
        if (memchr(s, ':', hl) != NULL)
            return -1; /* bare IPv6 must be bracketed */
    }
    if (hl >= hostlen)
        return -1;
    errno = 0;
    v = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 65535)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    for (size_t i = 0; i < hl; i++) {
        if (isspace((unsigned char)host[i]))
            return -1;
    }
    *port = (int)v;
    return 0;
}

static int config_set_value(struct config_parse *p, const struct config_key *k, const char *value)
{
    char *field = (char *)p->cfg + k->offset;
    char host[256];
    int port;

    switch (k->type) {
    case CONFIG_HOSTPORT:
    case CONFIG_HOSTPORT_OPT:
        if (value[0] == '\0' && k->type == CONFIG_HOSTPORT_OPT)
            break;
        if (config_split_hostport(value, host, sizeof(host), &port) < 0) {
            config_error(p, k->key, "bad listen address \"%s\" (want host:port)", value);
            return -1;
        }
        break;
    case CONFIG_STRING:
        break;
    case CONFIG_LONG: {
        char *end;
        long v;
        errno = 0;
        v = strtol(value, &end, 10);
        if (value[0] == '\0' || *end != '\0' || errno != 0) {
            config_error(p, k->key, "not a whole number: \"%s\"", value);
            return -1;
        }
        if (v < k->min || v > k->max) {
            config_error(p, k->key, "%ld is out of range (%ld to %ld)", v, k->min, k->max);
            return -1;
        }
        *(long *)field = v;
        return 0;
    }
    case CONFIG_BOOL:
        if (strcmp(value, "on") == 0 || strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 ||
            strcmp(value, "1") == 0) {
            *(bool *)field = true;
        } else if (strcmp(value, "off") == 0 || strcmp(value, "false") == 0 ||
                   strcmp(value, "no") == 0 || strcmp(value, "0") == 0) {
            *(bool *)field = false;
        } else {
            config_error(p, k->key, "not a boolean: \"%s\" (on/off)", value);
            return -1;
        }
        return 0;
    }
    char *copy = strdup(value);
    if (copy == NULL) {
        config_error(p, k->key, "out of memory");
        return -1;
    }
    free(*(char **)field);
    *(char **)field = copy;
    return 0;
}

static bool config_source_name_ok(const char *name)
{
    return name_valid(name, strlen(name));
}

static struct config_source *config_source_get(struct config_parse *p, const char *name)
{
    struct config *cfg = p->cfg;
    struct config_source *src;
    struct source_draft *drafts;

    for (size_t i = 0; i < cfg->nsources; i++) {
        if (strcmp(cfg->sources[i].name, name) == 0)
            return &cfg->sources[i];
    }
    src = realloc(cfg->sources, (cfg->nsources + 1) * sizeof(*src));
    if (src == NULL)
        return NULL;
    cfg->sources = src;
    drafts = realloc(p->drafts, (cfg->nsources + 1) * sizeof(*drafts));
    if (drafts == NULL)
        return NULL;
    p->drafts = drafts;
    memset(&p->drafts[cfg->nsources], 0, sizeof(*drafts));
    src = &cfg->sources[cfg->nsources];
    memset(src, 0, sizeof(*src));
    src->name = strdup(name);
    src->line = p->section_line;
    if (src->name == NULL)
        return NULL;
    cfg->nsources++;
    return src;
}

/* Reads a secret file: its content less one trailing newline. */
static char *config_read_secret_file(struct config_parse *p, const char *key, const char *path)
{
    FILE *fp = fopen(path, "rb");
    char buf[4097];
    size_t n;

    if (fp == NULL) {
        config_error(p, key, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    if (n == sizeof(buf)) {
        config_error(p, key, "%s is larger than 4096 bytes", path);
        return NULL;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    if (strlen(buf) != n) {
        config_error(p, key, "%s contains a NUL byte", path);
        return NULL;
    }
    return strdup(buf);
}

static char **config_source_str(struct config_source *src, size_t offset)
{
    return (char **)(void *)((char *)src + offset);
}

static const char *config_auth_name(unsigned bit)
{
    for (size_t i = 0; i < NMODES; i++) {
        if (config_auth_modes[i].bit == bit)
            return config_auth_modes[i].name;
    }
    return "?";
}

/* auth = one or more mode names, separated by spaces or commas. */
static int config_source_auth(struct config_parse *p, struct config_source *src,
                              struct source_draft *d, const char *name, const char *value)
{
    unsigned bits = 0;
    const char *s = value;

    if (d->auth_line != 0) {
        config_error(p, name, "already set on line %d", d->auth_line);
        return 0;
    }
    while (*s != '\0') {
        size_t n;
        bool known = false;
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        n = strcspn(s, " \t,");
        if (n == 0)
            break;
        for (size_t i = 0; i < NMODES; i++) {
            if (strlen(config_auth_modes[i].name) == n &&
                strncmp(s, config_auth_modes[i].name, n) == 0) {
                bits |= config_auth_modes[i].bit;
                known = true;
            }
        }
        if (!known) {
            config_error(p, name,
                         "unknown auth mode \"%.*s\" (signature, basic, header, bearer, token)",
                         (int)(n > 64 ? 64 : n), s);
            return 0;
        }
        s += n;
    }
    if (bits == 0) {
        config_error(p, name, "lists no mode (signature, basic, header, bearer, token)");
        return 0;
    }
    src->auth = bits;
    d->auth_line = p->line;
    return 1;
}

/* Resolves a secret-bearing value as given by KEY ("" how), KEY_file or KEY_env. */
static char *config_secret_value(struct config_parse *p, const char *name, const char *how,
                                 const char *value)
{
    char *secret = NULL;

    if (strcmp(how, "") == 0) {
        secret = strdup(value);
    } else if (strcmp(how, "_file") == 0) {
        return config_read_secret_file(p, name, value);
    } else if (strcmp(how, "_env") == 0) {
        const char *env = getenv(value);
        if (env == NULL) {
            config_error(p, name, "environment variable %s is not set", value);
            return NULL;
        }
        secret = strdup(env);
    }
    if (secret == NULL)
        config_error(p, name, "out of memory");
    return secret;
}

static int config_source_key(struct config_parse *p, const char *section, const char *name,
                             const char *value)
{
    const char *sname = section + strlen("source.");
    struct config_source *src;
    struct source_draft *d;

    if (!config_source_name_ok(sname)) {
        config_error(p, NULL, "bad source name \"%s\" (letters, digits, _ and -, at most %d)",
                     sname, NAME_MAX_LEN);
        return 0;
    }
    src = config_source_get(p, sname);
    if (src == NULL) {
        config_error(p, name, "out of memory");
        return 0;
    }
    d = &p->drafts[src - p->cfg->sources];
    if (strcmp(name, "provider") == 0) {
        if (strcmp(value, "zoom") != 0) {
            config_error(p, name, "unknown provider \"%s\" (supported: zoom)", value);
            return 0;
        }
        free(src->provider);
        src->provider = strdup(value);
        return src->provider != NULL;
    }
    if (strcmp(name, "auth") == 0)
        return config_source_auth(p, src, d, name, value);
    if (strcmp(name, "oauth_token_ttl_s") == 0) {
        char *end;
        long v;
        if (d->ttl_line != 0) {
            config_error(p, name, "already set on line %d", d->ttl_line);
            return 0;
        }
        errno = 0;
        v = strtol(value, &end, 10);
        if (value[0] == '\0' || *end != '\0' || errno != 0) {
            config_error(p, name, "not a whole number: \"%s\"", value);
            return 0;
        }
        if (v < 60 || v > 86400) {
            config_error(p, name, "%ld is out of range (60 to 86400)", v);
            return 0;
        }
        src->oauth_token_ttl_s = v;
        d->ttl_line = p->line;
        return 1;
    }
    for (size_t i = 0; i < NPLAINS; i++) {
        char **field = config_source_str(src, source_plains[i].offset);
        if (strcmp(name, source_plains[i].key) != 0)
            continue;
        if (d->plain_line[i] != 0) {
            config_error(p, name, "already set on line %d", d->plain_line[i]);
            return 0;
        }
        if (value[0] == '\0') {
            config_error(p, name, "must not be empty");
            return 0;
        }
        *field = strdup(value);
        if (*field == NULL) {
            config_error(p, name, "out of memory");
            return 0;
        }
        d->plain_line[i] = p->line;
        return 1;
    }
    for (size_t i = 0; i < NSECRETS; i++) {
        const struct source_secret_key *k = &source_secrets[i];
        size_t blen = strlen(k->base);
        enum secret_slot slot = SLOT_CURRENT;
        const char *how = name + blen;
        char *secret;
        char **field;
        if (strncmp(name, k->base, blen) != 0)
            continue;
        if (strncmp(how, "_previous", 9) == 0) {
            slot = SLOT_PREVIOUS;
            how += 9;
        }
        if (strcmp(how, "") != 0 && strcmp(how, "_file") != 0 && strcmp(how, "_env") != 0)
            break; /* unknown key */
        field = config_source_str(src, slot == SLOT_CURRENT ? k->current : k->previous);
        if (d->secret_line[i][slot] != 0) {
            const char *b = slot == SLOT_CURRENT ? "" : "_previous";
            config_error(p, name,
                         "%s%s already set on line %d (use one of %s%s, %s%s_file, %s%s_env)",
                         k->base, b, d->secret_line[i][slot], k->base, b, k->base, b, k->base, b);
            return 0;
        }
        if (p->no_secrets) { /* a tool that needs no secret needs no access to one either */
            d->secret_line[i][slot] = p->line;
            return 1;
        }
        secret = config_secret_value(p, name, how, value);
        if (secret == NULL)
            return 0;
        if (secret[0] == '\0') {
            free(secret);
            config_error(p, name, "%s is empty", i == SECRET_SIGNING ? "secret" : "value");
            return 0;
        }
        *field = secret;
        d->secret_line[i][slot] = p->line;
        return 1;
    }
    config_error(p, name, "unknown key in [%s]", section);
    return 0;
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
    struct config_parse *p = user;

    if (p->err[0] != '\0')
        return 0;
    if (strncmp(section, "source.", 7) == 0)
        return config_source_key(p, section, name, value);
    for (size_t i = 0; i < NKEYS; i++) {
        const struct config_key *k = &config_keys[i];
        if (strcmp(k->section, section) != 0 || strcmp(k->key, name) != 0)
            continue;
        if (p->seen[i]) {
            config_error(p, name, "set twice in [%s]", section);
            return 0;
        }
        p->seen[i] = true;
        p->key_line[i] = p->line;
        return config_set_value(p, k, value) == 0;
    }
    if (section[0] == '\0')
        config_error(p, name, "key outside any section");
    else
        config_error(p, name, "unknown key in [%s]", section);
    return 0;
}

/*
 * Points p->line at the line that set section.key, so errors found after parsing still
 * name the right line; returns the key name for config_error().
 */
static const char *config_at_key(struct config_parse *p, const char *section, const char *key)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(config_keys[i].section, section) == 0 && strcmp(config_keys[i].key, key) == 0)
            p->line = p->key_line[i];
    }
    return key;
}

/* Whether s is an HTTP field name (RFC 9110 token). */
static bool config_header_name_ok(const char *s)
{
    if (s[0] == '\0' || strlen(s) > CONFIG_HEADER_NAME_MAX)
        return false;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (!isalnum(c) && strchr("!#$%&'*+-.^_`|~", c) == NULL)
            return false;
    }
    return true;
}

/* Whether s holds only visible ASCII and inner spaces (what a header value can carry). */
static bool config_header_value_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || s[0] == ' ' || s[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < ' ' || (unsigned char)s[i] >= 0x7f)
            return false;
    }
    return true;
}

static int config_source_fail(struct config_parse *p, int line, const char *key,
                              const struct config_source *src, const char *why)
{
    snprintf(p->err, sizeof(p->err), "%s:%d: %s: [source.%s] %s", p->path, line, key, src->name,
             why);
    return -1;
}

/*
 * The auth rules of one source: each listed mode has its keys, no key is given for a mode
 * not listed, a _previous has its current counterpart, and the values fit what a request
 * can carry (the gateway keeps at most 512 bytes of a header value).
 */
static int config_validate_auth(struct config_parse *p, struct config_source *src,
                                const struct source_draft *d)
{
    static const struct {
        unsigned mode;
        const char *key;
    } required[] = {
        {CONFIG_AUTH_BASIC, "basic_user"},           {CONFIG_AUTH_BASIC, "basic_password"},
        {CONFIG_AUTH_HEADER, "header_name"},         {CONFIG_AUTH_HEADER, "header_value"},
        {CONFIG_AUTH_TOKEN, "verification_token"},   {CONFIG_AUTH_BEARER, "oauth_client_id"},
        {CONFIG_AUTH_BEARER, "oauth_client_secret"},
    };
    char why[CONFIG_ERR_LEN];
    unsigned authz;

    if (src->auth == 0)
        src->auth = CONFIG_AUTH_SIGNATURE;
    if (d->ttl_line == 0)
        src->oauth_token_ttl_s = 3600;
    /* keys of a mode that is not listed */
    for (size_t i = 0; i < NPLAINS; i++) {
        if (d->plain_line[i] != 0 && !(src->auth & source_plains[i].mode)) {
            snprintf(why, sizeof(why), "is set but auth does not list %s",
                     config_auth_name(source_plains[i].mode));
            return config_source_fail(p, d->plain_line[i], source_plains[i].key, src, why);
        }
    }
    for (size_t i = SECRET_SIGNING + 1; i < NSECRETS; i++) {
        for (int slot = 0; slot < 2; slot++) {
            if (d->secret_line[i][slot] != 0 && !(src->auth & source_secrets[i].mode)) {
                snprintf(why, sizeof(why), "%s%s is set but auth does not list %s",
                         source_secrets[i].base, slot ? "_previous" : "",
                         config_auth_name(source_secrets[i].mode));
                return config_source_fail(p, d->secret_line[i][slot], source_secrets[i].base, src,
                                          why);
            }
        }
    }
    if (d->ttl_line != 0 && !(src->auth & CONFIG_AUTH_BEARER))
        return config_source_fail(p, d->ttl_line, "oauth_token_ttl_s", src,
                                  "is set but auth does not list bearer");
    /* a _previous without the current value */
    for (size_t i = SECRET_SIGNING + 1; i < NSECRETS; i++) {
        if (d->secret_line[i][SLOT_PREVIOUS] != 0 && d->secret_line[i][SLOT_CURRENT] == 0) {
            snprintf(why, sizeof(why), "%s_previous is set without %s", source_secrets[i].base,
                     source_secrets[i].base);
            return config_source_fail(p, d->secret_line[i][SLOT_PREVIOUS], source_secrets[i].base,
                                      src, why);
        }
    }
    /* a listed mode without its keys */
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        bool set = false;
        for (size_t j = 0; j < NPLAINS; j++)
            set |= strcmp(source_plains[j].key, required[i].key) == 0 && d->plain_line[j] != 0;
        for (size_t j = 0; j < NSECRETS; j++)
            set |= strcmp(source_secrets[j].base, required[i].key) == 0 &&
                   (d->secret_line[j][SLOT_CURRENT] != 0 || p->no_secrets);
        if ((src->auth & required[i].mode) && !set) {
            snprintf(why, sizeof(why), "auth lists %s but %s is not set",
                     config_auth_name(required[i].mode), required[i].key);
            return config_source_fail(p, d->auth_line ? d->auth_line : src->line, required[i].key,
                                      src, why);
        }
    }
    if (src->basic_user_previous != NULL && src->basic_password_previous == NULL && !p->no_secrets)
        return config_source_fail(p, d->plain_line[PLAIN_USER_PREVIOUS], "basic_user_previous", src,
                                  "needs basic_password_previous (the pair accepted while "
                                  "rotating)");
    if (src->oauth_client_id_previous != NULL && src->oauth_client_secret_previous == NULL &&
        !p->no_secrets)
        return config_source_fail(p, d->plain_line[PLAIN_ID_PREVIOUS], "oauth_client_id_previous",
                                  src,
                                  "needs oauth_client_secret_previous (the pair accepted while "
                                  "rotating)");
    authz = src->auth & (CONFIG_AUTH_BASIC | CONFIG_AUTH_BEARER | CONFIG_AUTH_TOKEN);
    if (authz & (authz - 1))
        return config_source_fail(p, d->auth_line, "auth", src,
                                  "basic, bearer and token all use the Authorization header: list "
                                  "at most one of them");
    /* values a request can carry */
    for (int slot = 0; slot < 2 && (src->auth & CONFIG_AUTH_BASIC); slot++) {
        const char *user = slot == 0 || src->basic_user_previous == NULL ? src->basic_user
                                                                         : src->basic_user_previous;
        const char *pass = slot == 0 ? src->basic_password : src->basic_password_previous;
        int line = slot == 0 ? d->plain_line[PLAIN_USER] : d->plain_line[PLAIN_USER_PREVIOUS];
        if (pass == NULL)
            continue;
        if (strchr(user, ':') != NULL)
            return config_source_fail(p, line ? line : d->plain_line[PLAIN_USER], "basic_user", src,
                                      "must not contain ':' (RFC 7617)");
        if (strlen(user) + 1 + strlen(pass) > CONFIG_CREDENTIAL_MAX)
            return config_source_fail(p, d->secret_line[SECRET_BASIC][slot], "basic_password", src,
                                      "user and password are longer than 256 bytes together");
    }
    for (int slot = 0; slot < 2 && (src->auth & CONFIG_AUTH_BEARER); slot++) {
        const char *id = slot == 0 || src->oauth_client_id_previous == NULL
                             ? src->oauth_client_id
                             : src->oauth_client_id_previous;
        const char *secret =
            slot == 0 ? src->oauth_client_secret : src->oauth_client_secret_previous;
        if (secret == NULL)
            continue;
        if (strchr(id, ':') != NULL)
            return config_source_fail(p, d->plain_line[slot == 0 ? PLAIN_ID : PLAIN_ID_PREVIOUS],
                                      "oauth_client_id", src, "must not contain ':'");
        if (strlen(id) + 1 + strlen(secret) > CONFIG_CREDENTIAL_MAX)
            return config_source_fail(p, d->secret_line[SECRET_OAUTH][slot], "oauth_client_secret",
                                      src,
                                      "client id and secret are longer than 256 bytes together");
    }
    if (src->auth & CONFIG_AUTH_HEADER) {
        /* framing headers; Authorization too when another listed mode reads it */
        static const char *const reserved[] = {"content-length", "transfer-encoding", "host",
                                               "connection", "expect"};
        bool clash = authz != 0 && strcasecmp(src->header_name, "authorization") == 0;
        if (!config_header_name_ok(src->header_name))
            return config_source_fail(p, d->plain_line[PLAIN_HEADER_NAME], "header_name", src,
                                      "is not an HTTP header name (token characters, at most 64)");
        for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
            clash |= strcasecmp(src->header_name, reserved[i]) == 0;
        if (clash)
            return config_source_fail(p, d->plain_line[PLAIN_HEADER_NAME], "header_name", src,
                                      "names a header the gateway reads for another purpose");
        for (int slot = 0; slot < 2; slot++) {
            const char *v = slot == 0 ? src->header_value : src->header_value_previous;
            if (v != NULL && (!config_header_value_ok(v) || strlen(v) > CONFIG_HEADER_VALUE_MAX))
                return config_source_fail(p, d->secret_line[SECRET_HEADER][slot], "header_value",
                                          src,
                                          "must be visible ASCII, no outer spaces, at most 480 "
                                          "bytes");
        }
    }
    for (int slot = 0; slot < 2 && (src->auth & CONFIG_AUTH_TOKEN); slot++) {
        const char *v = slot == 0 ? src->verification_token : src->verification_token_previous;
        if (v != NULL && (!config_header_value_ok(v) || strlen(v) > CONFIG_HEADER_VALUE_MAX))
            return config_source_fail(p, d->secret_line[SECRET_VTOKEN][slot], "verification_token",
                                      src,
                                      "must be visible ASCII, no outer spaces, at most 480 bytes");
    }
    return 0;
}

static int config_validate(struct config_parse *p)
{
    struct config *cfg = p->cfg;

    if (log_level_parse(cfg->log_level) < 0) {
        config_error(p, config_at_key(p, "log", "level"),
                     "unknown log level \"%s\" (debug, info, warn, error)", cfg->log_level);
        return -1;
    }
    if ((cfg->gateway.tls_cert[0] == '\0') != (cfg->gateway.tls_key[0] == '\0')) {
        const char *set = cfg->gateway.tls_cert[0] != '\0' ? "tls_cert" : "tls_key";
        config_error(p, config_at_key(p, "gateway", set),
                     "tls_cert and tls_key must be set together");
        return -1;
    }
    {
        struct redis_target t;
        const char *why;
        /* the reason is static text: the URL itself may carry a password */
        if (redis_target_parse(cfg->redis.url, cfg->redis.sentinels, cfg->redis.master_name, &t,
                               &why) < 0) {
            const char *key = "url";
            if (strncmp(why, "bad sentinel", 12) == 0 || strncmp(why, "too many", 8) == 0 ||
                strncmp(why, "sentinels need", 14) == 0)
                key = "sentinels";
            else if (strstr(why, "master_name") == why || strstr(why, "bad master_name") == why)
                key = "master_name";
            config_error(p, config_at_key(p, "redis", key), "bad Redis %s: %s",
                         strcmp(key, "url") == 0 ? "URL" : "setting", why);
            explicit_bzero(t.url.password, sizeof(t.url.password));
            return -1;
        }
        explicit_bzero(t.url.password, sizeof(t.url.password));
    }
    if (strcmp(cfg->storage.partition_interval, "day") != 0 &&
        strcmp(cfg->storage.partition_interval, "week") != 0 &&
        strcmp(cfg->storage.partition_interval, "month") != 0) {
        config_error(p, config_at_key(p, "storage", "partition_interval"),
                     "must be day, week or month, not \"%s\"", cfg->storage.partition_interval);
        return -1;
    }
    if (cfg->writer.name[0] != '\0' && !name_valid(cfg->writer.name, strlen(cfg->writer.name))) {
        config_error(p, config_at_key(p, "writer", "name"),
                     "bad writer name (must be 1-%d of A-Z a-z 0-9 _ -)", NAME_MAX_LEN);
        return -1;
    }
    if (cfg->redis.queue[0] == '\0') {
        config_error(p, config_at_key(p, "redis", "queue"), "must not be empty");
        return -1;
    }
    for (size_t i = 0; i < cfg->nsources; i++) {
        struct config_source *src = &cfg->sources[i];
        if (src->provider == NULL) {
            snprintf(p->err, sizeof(p->err), "%s:%d: provider: [source.%s] needs provider = zoom",
                     p->path, src->line, src->name);
            return -1;
        }
        if (src->secret == NULL && !p->no_secrets) {
            snprintf(p->err, sizeof(p->err),
                     "%s:%d: secret: [source.%s] has no secret (set secret, secret_file or "
                     "secret_env)",
                     p->path, src->line, src->name);
            return -1;
        }
        if (config_validate_auth(p, src, &p->drafts[i]) < 0)
            return -1;
    }
    return 0;
}

struct config *config_load(const char *path, char *err, size_t errlen)
{
    return config_load_flags(path, 0, err, errlen);
}

struct config *config_load_flags(const char *path, int flags, char *err, size_t errlen)
{
    struct config_parse p;
    struct config *cfg = NULL;
    int rc;

    memset(&p, 0, sizeof(p));
    p.path = path;
    p.no_secrets = (flags & CONFIG_LOAD_NO_SECRETS) != 0;
    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    p.cfg = cfg;
    cfg->path = strdup(path);
    for (size_t i = 0; i < NKEYS && cfg->path != NULL; i++) {
        if (config_set_value(&p, &config_keys[i], config_keys[i].def) < 0)
            break;
    }
    if (cfg->path == NULL || p.err[0] != '\0') {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    p.fp = fopen(path, "r");
    if (p.fp == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    ini_use_stack = false;
    ini_allow_realloc = true;
    ini_max_line = 16384;
    ini_allow_multiline = false;
    ini_stop_on_first_error = true;
    rc = ini_parse_stream(config_reader, &p, config_handler, &p);
    fclose(p.fp);
    p.fp = NULL;
    if (p.read_errno != 0 && p.err[0] == '\0') {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(p.read_errno));
        goto fail;
    }
    if (p.err[0] == '\0' && rc > 0) {
        p.line = rc;
        config_error(&p, NULL, "syntax error (want [section] or key = value)");
    } else if (p.err[0] == '\0' && rc < 0) {
        config_error(&p, NULL, "cannot parse (out of memory)");
    }
    if (p.err[0] == '\0')
        config_validate(&p);
    if (p.err[0] != '\0') {
        snprintf(err, errlen, "%s", p.err);
        goto fail;
    }
    free(p.drafts);
    return cfg;
fail:
    free(p.drafts);
    config_free(cfg);
    return NULL;
}

void config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < NKEYS; i++) {
        const struct config_key *k = &config_keys[i];
        if (k->type != CONFIG_LONG && k->type != CONFIG_BOOL)
            free(*(char **)((char *)cfg + k->offset));
    }
    for (size_t i = 0; i < cfg->nsources; i++) {
        struct config_source *src = &cfg->sources[i];
        free(src->name);
        free(src->provider);
        for (size_t k = 0; k < NSECRETS; k++) {
            char **f[2] = {config_source_str(src, source_secrets[k].current),
                           config_source_str(src, source_secrets[k].previous)};
            for (int slot = 0; slot < 2; slot++) {
                if (*f[slot] != NULL)
                    explicit_bzero(*f[slot], strlen(*f[slot]));
                free(*f[slot]);
            }
        }
        for (size_t k = 0; k < NPLAINS; k++)
            free(*config_source_str(src, source_plains[k].offset));
    }
    free(cfg->sources);
    free(cfg->path);
    free(cfg);
}

size_t config_key_count(void)
{
    return NKEYS;
}

void config_key_describe(size_t i, struct config_key_info *info)
{
    const struct config_key *k = &config_keys[i < NKEYS ? i : 0];

    info->section = k->section;
    info->key = k->key;
    info->def = k->def;
    info->reload = k->reload;
}

static bool config_key_equal(const struct config_key *k, const struct config *a,
                             const struct config *b)
{
    const char *fa = (const char *)a + k->offset;
    const char *fb = (const char *)b + k->offset;

    switch (k->type) {
    case CONFIG_LONG:
        return *(const long *)(const void *)fa == *(const long *)(const void *)fb;
    case CONFIG_BOOL:
        return *(const bool *)(const void *)fa == *(const bool *)(const void *)fb;
    default:
        return strcmp(*(char *const *)(const void *)fa, *(char *const *)(const void *)fb) == 0;
    }
}

size_t config_restart_changes(const struct config *a, const struct config *b,
                              void (*fn)(const char *section, const char *key, void *arg),
                              void *arg)
{
    size_t n = 0;

    for (size_t i = 0; i < NKEYS; i++) {
        const struct config_key *k = &config_keys[i];
        if (k->reload || config_key_equal(k, a, b))
            continue;
        n++;
        if (fn != NULL)
            fn(k->section, k->key, arg);
    }
    return n;
}

const struct config_source *config_find_source(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nsources; i++) {
        if (strcmp(cfg->sources[i].name, name) == 0)
            return &cfg->sources[i];
    }
    return NULL;
}
