/*
 * The [source.NAME] sections of the config: one per Zoom app, with its signing secret and
 * the keys of each authentication mode (auth = signature basic header bearer token), every
 * secret as KEY, KEY_file or KEY_env and again as KEY_previous for rotation. Parsed into
 * struct config_source as config.c reads the file, validated once it is read whole.
 */
#include "config_parse.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "name.h"

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

bool config_source_name_ok(const char *name)
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

int config_source_key(struct config_parse *p, const char *section, const char *name,
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
    if (strcmp(name, "allow_from") == 0) {
        char why[160];
        if (d->allow_line != 0) {
            config_error(p, name, "already set on line %d", d->allow_line);
            return 0;
        }
        if (cidr_list_parse(value, &src->allow_from, why, sizeof(why)) < 0) {
            config_error(p, name, "%s", why);
            return 0;
        }
        d->allow_line = p->line;
        return 1;
    }
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

int config_source_validate(struct config_parse *p, size_t i)
{
    struct config_source *src = &p->cfg->sources[i];

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
    return config_validate_auth(p, src, &p->drafts[i]);
}

void config_source_free(struct config_source *src)
{
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
    cidr_list_free(&src->allow_from);
}
