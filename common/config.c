/*
 * INI parsing with libinih into struct config. Keys are declared once in a typed table
 * (section, key, type, offset, default, bounds, reload); sources, the dynamic [source.NAME]
 * sections, are parsed by config_source.c. A custom line reader counts lines so every error
 * can name its line.
 */
#include "config.h"
#include "config_parse.h"
#include "hostport.h"
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
    CK_LONG("gateway", gateway.max_connections_per_address, "max_connections_per_address", "1000",
            0, 1000000, RESTART),
    CK_LONG("gateway", gateway.auth_failure_limit, "auth_failure_limit", "20", 0, 1000000, RESTART),
    CK_LONG("gateway", gateway.auth_failure_penalty_s, "auth_failure_penalty_s", "60", 1, 86400,
            RESTART),
    CK_STR("gateway", gateway.trusted_proxies, "trusted_proxies", "", RESTART),
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
    CK_TYPED("storage", storage.keep_body, "keep_body", CONFIG_BOOL, "on", RESTART),
    CK_LONG("storage", storage.event_time_past_days, "event_time_past_days", "7", 1, 36500,
            RESTART),
    CK_LONG("storage", storage.event_time_future_s, "event_time_future_s", "172800", 0, 31622400,
            RESTART),
};

#define NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))
_Static_assert(NKEYS <= CONFIG_KEYS_MAX, "raise CONFIG_KEYS_MAX in config_parse.h");

static void config_verror(struct config_parse *p, int line, const char *key, const char *fmt,
                          va_list ap) __attribute__((format(printf, 4, 0)));

static void config_verror(struct config_parse *p, int line, const char *key, const char *fmt,
                          va_list ap)
{
    char why[CONFIG_ERR_LEN], at[32] = "";

    if (p->err[0] != '\0')
        return;
    vsnprintf(why, sizeof(why), fmt, ap);
    if (line > 0)
        snprintf(at, sizeof(at), ":%d", line);
    snprintf(p->err, sizeof(p->err), "%s%s: %s%s%s", p->path, at, key != NULL ? key : "",
             key != NULL ? ": " : "", why);
}

void config_error_at(struct config_parse *p, int line, const char *key, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    config_verror(p, line, key, fmt, ap);
    va_end(ap);
}

void config_error(struct config_parse *p, const char *key, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    config_verror(p, p->line, key, fmt, ap);
    va_end(ap);
}

int config_long(struct config_parse *p, const char *key, const char *value, long min, long max,
                long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(value, &end, 10);
    if (value[0] == '\0' || *end != '\0' || errno != 0) {
        config_error(p, key, "not a whole number: \"%s\"", value);
        return -1;
    }
    if (v < min || v > max) {
        config_error(p, key, "%ld is out of range (%ld to %ld)", v, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

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

static int config_set_value(struct config_parse *p, const struct config_key *k, const char *value)
{
    char *field = (char *)p->cfg + k->offset;
    char host[256];
    const char *why;
    int port;

    switch (k->type) {
    case CONFIG_HOSTPORT:
    case CONFIG_HOSTPORT_OPT:
        if (value[0] == '\0' && k->type == CONFIG_HOSTPORT_OPT)
            break;
        if (hostport_split(value, strlen(value), host, sizeof(host), &port, -1, &why) < 0) {
            config_error(p, k->key, "bad listen address \"%s\" (want host:port): %s", value, why);
            return -1;
        }
        break;
    case CONFIG_STRING:
        break;
    case CONFIG_LONG:
        return config_long(p, k->key, value, k->min, k->max, (long *)(void *)field);
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

static int config_validate(struct config_parse *p)
{
    struct config *cfg = p->cfg;
    char reason[160];

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
            const char *key = t.bad_key;
            config_error(p, config_at_key(p, "redis", key), "bad Redis %s: %s",
                         strcmp(key, "url") == 0 ? "URL" : "setting", why);
            explicit_bzero(t.url.password, sizeof(t.url.password));
            return -1;
        }
        explicit_bzero(t.url.password, sizeof(t.url.password));
    }
    if (cidr_list_parse(cfg->gateway.trusted_proxies, &cfg->gateway.trusted_proxy_list, reason,
                        sizeof(reason)) < 0) {
        config_error(p, config_at_key(p, "gateway", "trusted_proxies"), "%s", reason);
        return -1;
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
        if (config_source_validate(p, i) < 0)
            return -1;
    }
    return 0;
}

/* The per-process [writer] overrides from the environment (CONFIG_LOAD_WRITER_ENV). */
static void config_writer_env(struct config_parse *p)
{
    static const struct {
        const char *var;
        size_t offset;
        bool address;
    } env[] = {
        {"HOOKPIPE_WRITER_NAME", offsetof(struct config, writer.name), false},
        {"HOOKPIPE_WRITER_ADMIN_LISTEN", offsetof(struct config, writer.admin_listen), true},
    };

    for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
        const char *v = getenv(env[i].var), *why;
        char **field = (char **)((char *)p->cfg + env[i].offset);
        char host[256];
        int port;
        if (v == NULL || (!env[i].address && v[0] == '\0'))
            continue; /* an empty name keeps the file's; an empty address turns it off */
        if (!env[i].address && !name_valid(v, strlen(v))) {
            config_error_at(p, 0, env[i].var,
                            "bad writer name \"%s\" (must be 1-%d of A-Z a-z 0-9 _ -)", v,
                            NAME_MAX_LEN);
            return;
        }
        if (env[i].address && v[0] != '\0' &&
            hostport_split(v, strlen(v), host, sizeof(host), &port, -1, &why) < 0) {
            config_error_at(p, 0, env[i].var,
                            "bad listen address \"%s\" (want host:port, or empty for off): %s", v,
                            why);
            return;
        }
        char *copy = strdup(v);
        if (copy == NULL) {
            config_error_at(p, 0, env[i].var, "out of memory");
            return;
        }
        free(*field);
        *field = copy;
    }
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
    if (p.err[0] == '\0' && (flags & CONFIG_LOAD_WRITER_ENV))
        config_writer_env(&p);
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
    for (size_t i = 0; i < cfg->nsources; i++)
        config_source_free(&cfg->sources[i]);
    cidr_list_free(&cfg->gateway.trusted_proxy_list);
    free(cfg->sources);
    free(cfg->path);
    free(cfg);
}

size_t config_key_count(void)
{
    return NKEYS + config_source_key_count();
}

void config_key_describe(size_t i, struct config_key_info *info)
{
    const struct config_key *k;

    if (i >= NKEYS) {
        config_source_key_describe(i - NKEYS, info);
        return;
    }
    k = &config_keys[i];
    info->section = k->section;
    info->key = k->key;
    info->def = k->def;
    info->reload = k->reload;
    info->forms = false;
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
