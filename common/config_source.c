/*
 * The [source.NAME] sections of the config: one per Zoom app, with its signing secret and
 * the keys of each authentication mode (auth = signature basic header bearer token), every
 * secret as KEY, KEY_file or KEY_env and again as KEY_previous for rotation. Keys are declared
 * once in a typed table (name, type, field, auth mode, rules); parsed into struct
 * config_source as config.c reads the file, validated once it is read whole.
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
#include "provider.h"
#include "provider_sig.h"
#include "secret_file.h"

enum source_type {
    SOURCE_PROVIDER,  /* a provider name ("zoom") */
    SOURCE_TRANSPORT, /* webhook or websocket (enum config_transport) */
    SOURCE_AUTH,      /* auth mode names -> CONFIG_AUTH_* bits (unsigned) */
    SOURCE_CIDR,      /* a CIDR list (struct cidr_list) */
    SOURCE_LONG,      /* a whole number within min..max (long) */
    SOURCE_STRING,    /* a non-empty string (char *) */
    SOURCE_SECRET,    /* the same, as KEY, KEY_file or KEY_env; unread under no_secrets */
};

/* The keys, in the order of the table (and of docs/configuration.md). */
enum source_key_id {
    SK_NONE = -1,
    SK_PROVIDER,
    SK_SECRET,
    SK_SECRET_PREVIOUS,
    SK_PUBLIC_KEY,
    SK_AUTH,
    SK_BASIC_USER,
    SK_BASIC_PASSWORD,
    SK_BASIC_USER_PREVIOUS,
    SK_BASIC_PASSWORD_PREVIOUS,
    SK_HEADER_NAME,
    SK_HEADER_VALUE,
    SK_HEADER_VALUE_PREVIOUS,
    SK_VTOKEN,
    SK_VTOKEN_PREVIOUS,
    SK_OAUTH_ID,
    SK_OAUTH_SECRET,
    SK_OAUTH_ID_PREVIOUS,
    SK_OAUTH_SECRET_PREVIOUS,
    SK_TTL,
    SK_ALLOW_FROM,
    SK_TRANSPORT,
    SK_SUBSCRIPTION_ID,
    SK_CLIENT_ID,
    SK_CLIENT_SECRET,
    SK_ACCOUNT_ID,
    SK_OAUTH_GRANT,
    SK_OAUTH_URL,
    SK_WS_URL,
    SK_HEARTBEAT,
    SK_LEASE,
    SK_CA_FILE,
    NSOURCE_KEYS
};

/* Which transport a key belongs to: any other is a config error on the source. */
enum source_wire {
    WIRE_WEBHOOK,   /* the keys of a webhook source (zero: the table's default) */
    WIRE_WEBSOCKET, /* the keys of a websocket source */
    WIRE_ANY,       /* provider, transport */
};
_Static_assert(SK_BASIC_USER_PREVIOUS == SK_BASIC_USER + 2 &&
                   SK_BASIC_PASSWORD_PREVIOUS == SK_BASIC_PASSWORD + 2 &&
                   SK_OAUTH_ID_PREVIOUS == SK_OAUTH_ID + 2 &&
                   SK_OAUTH_SECRET_PREVIOUS == SK_OAUTH_SECRET + 2 &&
                   SK_HEADER_VALUE_PREVIOUS == SK_HEADER_VALUE + 1 &&
                   SK_VTOKEN_PREVIOUS == SK_VTOKEN + 1,
               "validation finds a key's _previous one entry further (a credential's pair two)");

struct source_key {
    const char *key;
    enum source_type type;
    size_t offset;            /* the field in struct config_source */
    unsigned mode;            /* CONFIG_AUTH_* of the mode that uses it; 0 = every mode */
    bool required;            /* a source whose auth lists mode must set it (mode 0: every
                                 source, checked by config_source_validate) */
    enum source_key_id needs; /* a _previous: the key it is accepted with (SK_NONE: none) */
    long min, max;            /* SOURCE_LONG bounds */
    const char *def;          /* applied when the source is created; NULL = none */
    enum source_wire wire;    /* the transport whose sources may set it */
};

#define REQUIRED true /* see source_key.required */
#define OPTIONAL false
#define SRC_FIELD(f) offsetof(struct config_source, f)
#define SRC_KEY(key, type, field, mode, required, needs)                                           \
    {                                                                                              \
        key, type, SRC_FIELD(field), mode, required, needs, 0, 0, NULL, WIRE_WEBHOOK               \
    }
#define SRC_SECRET(key, field, mode, required, needs)                                              \
    SRC_KEY(key, SOURCE_SECRET, field, mode, required, needs)
#define SRC_STRING(key, field, mode, required, needs)                                              \
    SRC_KEY(key, SOURCE_STRING, field, mode, required, needs)
/* A key of websocket sources: required ones are checked by config_validate_websocket. */
#define SRC_WS(key, type, field, min, max, def)                                                    \
    {                                                                                              \
        key, type, SRC_FIELD(field), 0, OPTIONAL, SK_NONE, min, max, def, WIRE_WEBSOCKET           \
    }

static const struct source_key source_keys[NSOURCE_KEYS] = {
    [SK_PROVIDER] = {"provider", SOURCE_PROVIDER, SRC_FIELD(provider), 0, OPTIONAL, SK_NONE, 0, 0,
                     "zoom", WIRE_ANY},
    [SK_SECRET] = SRC_SECRET("secret", secret, 0, REQUIRED, SK_NONE),
    [SK_SECRET_PREVIOUS] = SRC_SECRET("secret_previous", secret_previous, 0, OPTIONAL, SK_SECRET),
    [SK_PUBLIC_KEY] = SRC_STRING("public_key", public_key, 0, OPTIONAL, SK_NONE),
    [SK_AUTH] = {"auth", SOURCE_AUTH, SRC_FIELD(auth), 0, OPTIONAL, SK_NONE, 0, 0, "signature",
                 WIRE_WEBHOOK},
    [SK_BASIC_USER] = SRC_STRING("basic_user", basic_user, CONFIG_AUTH_BASIC, REQUIRED, SK_NONE),
    [SK_BASIC_PASSWORD] =
        SRC_SECRET("basic_password", basic_password, CONFIG_AUTH_BASIC, REQUIRED, SK_NONE),
    [SK_BASIC_USER_PREVIOUS] = SRC_STRING("basic_user_previous", basic_user_previous,
                                          CONFIG_AUTH_BASIC, OPTIONAL, SK_BASIC_PASSWORD_PREVIOUS),
    [SK_BASIC_PASSWORD_PREVIOUS] = SRC_SECRET("basic_password_previous", basic_password_previous,
                                              CONFIG_AUTH_BASIC, OPTIONAL, SK_BASIC_PASSWORD),
    [SK_HEADER_NAME] =
        SRC_STRING("header_name", header_name, CONFIG_AUTH_HEADER, REQUIRED, SK_NONE),
    [SK_HEADER_VALUE] =
        SRC_SECRET("header_value", header_value, CONFIG_AUTH_HEADER, REQUIRED, SK_NONE),
    [SK_HEADER_VALUE_PREVIOUS] = SRC_SECRET("header_value_previous", header_value_previous,
                                            CONFIG_AUTH_HEADER, OPTIONAL, SK_HEADER_VALUE),
    [SK_VTOKEN] =
        SRC_SECRET("verification_token", verification_token, CONFIG_AUTH_TOKEN, REQUIRED, SK_NONE),
    [SK_VTOKEN_PREVIOUS] = SRC_SECRET("verification_token_previous", verification_token_previous,
                                      CONFIG_AUTH_TOKEN, OPTIONAL, SK_VTOKEN),
    [SK_OAUTH_ID] =
        SRC_STRING("oauth_client_id", oauth_client_id, CONFIG_AUTH_BEARER, REQUIRED, SK_NONE),
    [SK_OAUTH_SECRET] = SRC_SECRET("oauth_client_secret", oauth_client_secret, CONFIG_AUTH_BEARER,
                                   REQUIRED, SK_NONE),
    [SK_OAUTH_ID_PREVIOUS] = SRC_STRING("oauth_client_id_previous", oauth_client_id_previous,
                                        CONFIG_AUTH_BEARER, OPTIONAL, SK_OAUTH_SECRET_PREVIOUS),
    [SK_OAUTH_SECRET_PREVIOUS] =
        SRC_SECRET("oauth_client_secret_previous", oauth_client_secret_previous, CONFIG_AUTH_BEARER,
                   OPTIONAL, SK_OAUTH_SECRET),
    [SK_TTL] = {"oauth_token_ttl_s", SOURCE_LONG, SRC_FIELD(oauth_token_ttl_s), CONFIG_AUTH_BEARER,
                OPTIONAL, SK_NONE, 60, 86400, "3600", WIRE_WEBHOOK},
    [SK_ALLOW_FROM] = SRC_KEY("allow_from", SOURCE_CIDR, allow_from, 0, OPTIONAL, SK_NONE),
    [SK_TRANSPORT] = {"transport", SOURCE_TRANSPORT, SRC_FIELD(transport), 0, OPTIONAL, SK_NONE, 0,
                      0, "webhook", WIRE_ANY},
    [SK_SUBSCRIPTION_ID] = SRC_WS("subscription_id", SOURCE_STRING, subscription_id, 0, 0, NULL),
    [SK_CLIENT_ID] = SRC_WS("client_id", SOURCE_STRING, client_id, 0, 0, NULL),
    [SK_CLIENT_SECRET] = SRC_WS("client_secret", SOURCE_SECRET, client_secret, 0, 0, NULL),
    [SK_ACCOUNT_ID] = SRC_WS("account_id", SOURCE_STRING, account_id, 0, 0, NULL),
    [SK_OAUTH_GRANT] =
        SRC_WS("oauth_grant", SOURCE_STRING, oauth_grant, 0, 0, CONFIG_GRANT_ACCOUNT),
    [SK_OAUTH_URL] =
        SRC_WS("oauth_url", SOURCE_STRING, oauth_url, 0, 0, "https://zoom.us/oauth/token"),
    [SK_WS_URL] = SRC_WS("ws_url", SOURCE_STRING, ws_url, 0, 0, "wss://ws.zoom.us/ws"),
    [SK_HEARTBEAT] = SRC_WS("heartbeat_s", SOURCE_LONG, heartbeat_s, 1, 3600, "30"),
    [SK_LEASE] = SRC_WS("lease_ms", SOURCE_LONG, lease_ms, 1000, 600000, "10000"),
    [SK_CA_FILE] = SRC_WS("ca_file", SOURCE_STRING, ca_file, 0, 0, NULL),
};

/* Where each key of one source was set (0 = unset), so validation can name the line. */
struct source_draft {
    int line[NSOURCE_KEYS];
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

static void *config_source_field(struct config_source *src, const struct source_key *k)
{
    return (char *)src + k->offset;
}

/* A string key's value (NULL when unset). */
static const char *config_source_str(const struct config_source *src, enum source_key_id id)
{
    return *(char *const *)(const void *)((const char *)src + source_keys[id].offset);
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
static int config_source_auth(struct config_parse *p, const char *name, const char *value,
                              unsigned *auth)
{
    unsigned bits = 0;
    const char *s = value;

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
            return -1;
        }
        s += n;
    }
    if (bits == 0) {
        config_error(p, name, "lists no mode (signature, basic, header, bearer, token)");
        return -1;
    }
    *auth = bits;
    return 0;
}

/*
 * A string value as given by KEY ("" how), KEY_file or KEY_env: a copy (caller frees), or
 * NULL after config_error. A secret file is read by secret_file_read, which wipes its buffer.
 */
static char *config_source_text(struct config_parse *p, const char *name, const char *how,
                                const char *value)
{
    const char *text = value;
    char *copy;

    if (strcmp(how, "_file") == 0) {
        char why[CONFIG_ERR_LEN];
        copy = secret_file_read(value, value, why, sizeof(why));
        if (copy == NULL)
            config_error(p, name, "%s", why);
        return copy;
    }
    if (strcmp(how, "_env") == 0) {
        text = getenv(value);
        if (text == NULL) {
            config_error(p, name, "environment variable %s is not set", value);
            return NULL;
        }
    }
    if (text[0] == '\0') {
        config_error(p, name, "must not be empty");
        return NULL;
    }
    copy = strdup(text);
    if (copy == NULL)
        config_error(p, name, "out of memory");
    return copy;
}

/* Stores value, given as name (k's key, or for a secret KEY_file / KEY_env), in src. 0 or -1. */
static int config_source_set(struct config_parse *p, struct config_source *src,
                             const struct source_key *k, const char *name, const char *how,
                             const char *value)
{
    void *field = config_source_field(src, k);
    char why[160];
    char *copy;

    switch (k->type) {
    case SOURCE_PROVIDER:
        if (provider_find(value, strlen(value)) < 0) {
            config_error(p, name,
                         "unknown provider \"%s\" (zoom, standard, github, stripe, slack, shopify)",
                         value);
            return -1;
        }
        break;
    case SOURCE_AUTH:
        return config_source_auth(p, name, value, field);
    case SOURCE_TRANSPORT:
        if (strcmp(value, "webhook") == 0)
            *(enum config_transport *)field = CONFIG_TRANSPORT_WEBHOOK;
        else if (strcmp(value, "websocket") == 0)
            *(enum config_transport *)field = CONFIG_TRANSPORT_WEBSOCKET;
        else {
            config_error(p, name, "unknown transport \"%s\" (webhook, websocket)", value);
            return -1;
        }
        return 0;
    case SOURCE_CIDR:
        if (cidr_list_parse(value, field, why, sizeof(why)) < 0) {
            config_error(p, name, "%s", why);
            return -1;
        }
        return 0;
    case SOURCE_LONG:
        return config_long(p, name, value, k->min, k->max, field);
    case SOURCE_SECRET:
        if (p->no_secrets) /* a tool that needs no secret needs no access to one either */
            return 0;
        break;
    case SOURCE_STRING:
        break;
    }
    copy = config_source_text(p, name, how, value);
    if (copy == NULL)
        return -1;
    free(*(char **)field);
    *(char **)field = copy;
    return 0;
}

/* The table entry that name is (a secret's also as KEY_file, KEY_env: *how says which). */
static const struct source_key *config_source_lookup(const char *name, const char **how)
{
    for (size_t i = 0; i < NSOURCE_KEYS; i++) {
        const struct source_key *k = &source_keys[i];
        size_t n = strlen(k->key);
        if (strncmp(name, k->key, n) != 0)
            continue;
        *how = name + n;
        if (**how == '\0' ||
            (k->type == SOURCE_SECRET && (strcmp(*how, "_file") == 0 || strcmp(*how, "_env") == 0)))
            return k;
    }
    return NULL;
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
    for (size_t i = 0; i < NSOURCE_KEYS; i++) {
        const struct source_key *k = &source_keys[i];
        if (k->def != NULL && config_source_set(p, src, k, k->key, "", k->def) < 0)
            return NULL;
    }
    return src;
}

int config_source_key(struct config_parse *p, const char *section, const char *name,
                      const char *value)
{
    const char *sname = section + strlen("source.");
    const struct source_key *k;
    struct config_source *src;
    const char *how;
    int *line;

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
    k = config_source_lookup(name, &how);
    if (k == NULL) {
        config_error(p, name, "unknown key in [%s]", section);
        return 0;
    }
    line = &p->drafts[src - p->cfg->sources].line[k - source_keys];
    if (*line != 0 && k->type == SOURCE_SECRET)
        config_error(p, name, "%s already set on line %d (use one of %s, %s_file, %s_env)", k->key,
                     *line, k->key, k->key, k->key);
    else if (*line != 0)
        config_error(p, name, "already set on line %d", *line);
    else if (config_source_set(p, src, k, name, how, value) == 0)
        *line = p->line;
    return p->err[0] == '\0';
}

/* Records "PATH:LINE: key: [source.NAME] why" (through config_error_at, like every error). */
static int config_source_fail(struct config_parse *p, int line, const char *key,
                              const struct config_source *src, const char *why)
{
    config_error_at(p, line, key, "[source.%s] %s", src->name, why);
    return -1;
}

/* The key an error about k is filed under: a secret's _previous under its current key. */
static const char *config_source_filed(const struct source_key *k)
{
    return k->type == SOURCE_SECRET && k->needs != SK_NONE ? source_keys[k->needs].key : k->key;
}

/*
 * The rules the table states: no key is given for a mode auth does not list, a _previous
 * has the key it is accepted with, and each listed mode has its required keys (its secrets
 * only noted, not read, under no_secrets).
 */
static int config_validate_table(struct config_parse *p, const struct config_source *src,
                                 const struct source_draft *d)
{
    char why[CONFIG_ERR_LEN];

    for (size_t i = 0; i < NSOURCE_KEYS; i++) {
        const struct source_key *k = &source_keys[i];
        bool secret = k->type == SOURCE_SECRET;
        if (d->line[i] == 0 || k->mode == 0 || (src->auth & k->mode))
            continue;
        snprintf(why, sizeof(why), "%s%sis set but auth does not list %s", secret ? k->key : "",
                 secret ? " " : "", config_auth_name(k->mode));
        return config_source_fail(p, d->line[i], config_source_filed(k), src, why);
    }
    for (size_t i = 0; i < NSOURCE_KEYS; i++) {
        const struct source_key *k = &source_keys[i];
        if (d->line[i] == 0 || k->needs == SK_NONE || d->line[k->needs] != 0)
            continue;
        if (k->type == SOURCE_SECRET)
            snprintf(why, sizeof(why), "%s is set without %s", k->key, source_keys[k->needs].key);
        else
            snprintf(why, sizeof(why), "needs %s (the pair accepted while rotating)",
                     source_keys[k->needs].key);
        return config_source_fail(p, d->line[i], config_source_filed(k), src, why);
    }
    for (size_t i = 0; i < NSOURCE_KEYS; i++) {
        const struct source_key *k = &source_keys[i];
        bool set = d->line[i] != 0 || (k->type == SOURCE_SECRET && p->no_secrets);
        if (!k->required || set || !(src->auth & k->mode))
            continue;
        snprintf(why, sizeof(why), "auth lists %s but %s is not set", config_auth_name(k->mode),
                 k->key);
        return config_source_fail(p, d->line[SK_AUTH] ? d->line[SK_AUTH] : src->line, k->key, src,
                                  why);
    }
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

/* Whether s holds visible ASCII and inner spaces only, at most CONFIG_HEADER_VALUE_MAX bytes. */
static bool config_header_value_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > CONFIG_HEADER_VALUE_MAX || s[0] == ' ' || s[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < ' ' || (unsigned char)s[i] >= 0x7f)
            return false;
    }
    return true;
}

/*
 * A user (or client id) and its password (secret) as one credential: no ':' in the first,
 * at most CONFIG_CREDENTIAL_MAX bytes together. Checked for the current pair and the
 * _previous pair (whose user defaults to the current one).
 */
static int config_validate_pairs(struct config_parse *p, const struct config_source *src,
                                 const struct source_draft *d, enum source_key_id user,
                                 enum source_key_id pass, const char *colon, const char *toolong)
{
    for (int slot = 0; slot < 2; slot++) {
        const char *u = config_source_str(src, user + 2 * slot);
        const char *s = config_source_str(src, pass + 2 * slot);
        int uline = d->line[user + 2 * slot];
        if (s == NULL)
            continue;
        if (u == NULL) { /* the _previous user defaults to the current one */
            u = config_source_str(src, user);
            uline = 0;
        }
        if (strchr(u, ':') != NULL)
            return config_source_fail(p, uline ? uline : d->line[user], source_keys[user].key, src,
                                      colon);
        if (strlen(u) + 1 + strlen(s) > CONFIG_CREDENTIAL_MAX)
            return config_source_fail(p, d->line[pass + 2 * slot], source_keys[pass].key, src,
                                      toolong);
    }
    return 0;
}

/*
 * The auth rules of one source: the table's rules, at most one mode that reads the
 * Authorization header, and values that fit what a request can carry (the gateway keeps at
 * most 512 bytes of a header value).
 */
static int config_validate_auth(struct config_parse *p, const struct config_source *src,
                                const struct source_draft *d)
{
    /* framing headers; Authorization too when another listed mode reads it */
    static const char *const reserved[] = {"content-length", "transfer-encoding", "host",
                                           "connection", "expect"};
    static const char *const visible = "must be visible ASCII, no outer spaces, at most 480 bytes";
    unsigned authz = src->auth & (CONFIG_AUTH_BASIC | CONFIG_AUTH_BEARER | CONFIG_AUTH_TOKEN);

    if (config_validate_table(p, src, d) < 0)
        return -1;
    if (authz & (authz - 1))
        return config_source_fail(p, d->line[SK_AUTH], "auth", src,
                                  "basic, bearer and token all use the Authorization header: list "
                                  "at most one of them");
    if (config_validate_pairs(p, src, d, SK_BASIC_USER, SK_BASIC_PASSWORD,
                              "must not contain ':' (RFC 7617)",
                              "user and password are longer than 256 bytes together") < 0 ||
        config_validate_pairs(p, src, d, SK_OAUTH_ID, SK_OAUTH_SECRET, "must not contain ':'",
                              "client id and secret are longer than 256 bytes together") < 0)
        return -1;
    if (src->auth & CONFIG_AUTH_HEADER) {
        bool clash = authz != 0 && strcasecmp(src->header_name, "authorization") == 0;
        if (!config_header_name_ok(src->header_name))
            return config_source_fail(p, d->line[SK_HEADER_NAME], "header_name", src,
                                      "is not an HTTP header name (token characters, at most 64)");
        for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
            clash |= strcasecmp(src->header_name, reserved[i]) == 0;
        if (clash)
            return config_source_fail(p, d->line[SK_HEADER_NAME], "header_name", src,
                                      "names a header the gateway reads for another purpose");
    }
    for (int slot = 0; slot < 2; slot++) { /* a mode not listed has none of these set */
        const char *hv = config_source_str(src, SK_HEADER_VALUE + slot);
        const char *vt = config_source_str(src, SK_VTOKEN + slot);
        if (hv != NULL && !config_header_value_ok(hv))
            return config_source_fail(p, d->line[SK_HEADER_VALUE + slot], "header_value", src,
                                      visible);
        if (vt != NULL && !config_header_value_ok(vt))
            return config_source_fail(p, d->line[SK_VTOKEN + slot], "verification_token", src,
                                      visible);
    }
    return 0;
}

/* Whether url starts with one of the schemes (each "name://"), followed by a host. */
static bool config_url_scheme_ok(const char *url, const char *const *schemes)
{
    for (; *schemes != NULL; schemes++) {
        size_t n = strlen(*schemes);
        if (strncmp(url, *schemes, n) == 0 && url[n] != '\0' && url[n] != '/')
            return true;
    }
    return false;
}

/* Whether s is all visible ASCII (a URL query value may still need escaping; no space). */
static bool config_visible_ok(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return false;
    }
    return true;
}

/*
 * A websocket source: no key of the webhook transport, every key the subscription needs,
 * URLs of the right scheme, a readable ca_file (so --check-config finds a missing one
 * without connecting).
 */
static int config_validate_websocket(struct config_parse *p, const struct config_source *src,
                                     const struct source_draft *d)
{
    static const char *const https[] = {"https://", "http://", NULL};
    static const char *const wss[] = {"wss://", "ws://", NULL};
    static const enum source_key_id needed[] = {SK_SUBSCRIPTION_ID, SK_CLIENT_ID, SK_CLIENT_SECRET};
    bool account = strcmp(src->oauth_grant, CONFIG_GRANT_ACCOUNT) == 0;
    FILE *fp;

    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
        const struct source_key *k = &source_keys[needed[i]];
        if (d->line[needed[i]] == 0 && !(k->type == SOURCE_SECRET && p->no_secrets))
            return config_source_fail(p, src->line, k->key, src,
                                      "transport = websocket needs it (see docs/websocket.md)");
    }
    if (!account && strcmp(src->oauth_grant, CONFIG_GRANT_CLIENT) != 0)
        return config_source_fail(p, d->line[SK_OAUTH_GRANT], "oauth_grant", src,
                                  "must be account_credentials or client_credentials");
    if (account && src->account_id == NULL)
        return config_source_fail(p, src->line, "account_id", src,
                                  "oauth_grant = account_credentials needs it");
    if (!account && src->account_id != NULL)
        return config_source_fail(p, d->line[SK_ACCOUNT_ID], "account_id", src,
                                  "is only sent with oauth_grant = account_credentials");
    if (!config_url_scheme_ok(src->oauth_url, https) || !config_visible_ok(src->oauth_url))
        return config_source_fail(p, d->line[SK_OAUTH_URL], "oauth_url", src,
                                  "must be an https:// (or http://) URL");
    if (!config_url_scheme_ok(src->ws_url, wss) || !config_visible_ok(src->ws_url) ||
        strchr(src->ws_url, '#') != NULL)
        return config_source_fail(p, d->line[SK_WS_URL], "ws_url", src,
                                  "must be a wss:// (or ws://) URL without a fragment");
    if (!config_visible_ok(src->subscription_id) || !config_visible_ok(src->client_id) ||
        strchr(src->client_id, ':') != NULL)
        return config_source_fail(p, d->line[SK_CLIENT_ID], "client_id", src,
                                  "client_id and subscription_id must be visible ASCII, and "
                                  "client_id has no ':' (RFC 7617)");
    if (src->ca_file != NULL) {
        fp = fopen(src->ca_file, "r");
        if (fp == NULL)
            return config_source_fail(p, d->line[SK_CA_FILE], "ca_file", src, strerror(errno));
        fclose(fp);
    }
    return 0;
}

/* The keys set on src that its transport does not use. */
static int config_validate_wire(struct config_parse *p, const struct config_source *src,
                                const struct source_draft *d)
{
    enum source_wire own =
        src->transport == CONFIG_TRANSPORT_WEBSOCKET ? WIRE_WEBSOCKET : WIRE_WEBHOOK;
    char why[CONFIG_ERR_LEN];

    for (size_t i = 0; i < NSOURCE_KEYS; i++) {
        const struct source_key *k = &source_keys[i];
        if (d->line[i] == 0 || k->wire == WIRE_ANY || k->wire == own)
            continue;
        snprintf(why, sizeof(why), "%s%sbelongs to transport = %s, not %s",
                 k->type == SOURCE_SECRET ? k->key : "", k->type == SOURCE_SECRET ? " " : "",
                 k->wire == WIRE_WEBSOCKET ? "websocket" : "webhook",
                 own == WIRE_WEBSOCKET ? "websocket" : "webhook");
        return config_source_fail(p, d->line[i], config_source_filed(k), src, why);
    }
    return 0;
}

/* A secret (or standard's public_key) in the form its provider hands it out. */
static int config_validate_secret(struct config_parse *p, const struct config_source *src,
                                  const struct source_draft *d, enum source_key_id id)
{
    const char *v = config_source_str(src, id);
    int sig = provider_sig_provider_parse(src->provider);
    char why[CONFIG_ERR_LEN];

    if (v == NULL || sig < 0)
        return 0;
    if ((id == SK_PUBLIC_KEY) != (strncmp(v, "whpk_", 5) == 0) ||
        provider_sig_secret_check(sig, v, strlen(v)) != PROVIDER_SIG_OK) {
        snprintf(why, sizeof(why), "is not a usable %s %s (%s)", src->provider,
                 id == SK_PUBLIC_KEY ? "public key" : "signing secret",
                 sig == PROVIDER_SIG_STANDARD
                     ? (id == SK_PUBLIC_KEY ? "whpk_ and the base64 of a 32-byte ed25519 key"
                                            : "whsec_ and base64, as the provider shows it")
                     : "the secret as the provider shows it, at most 512 bytes");
        return config_source_fail(p, d->line[id], config_source_filed(&source_keys[id]), src, why);
    }
    return 0;
}

/* The keys only Zoom (or only one provider) has, on a source of another provider. */
static int config_validate_provider(struct config_parse *p, const struct config_source *src,
                                    const struct source_draft *d)
{
    bool zoom = src->provider_id == PROVIDER_ZOOM;
    char why[CONFIG_ERR_LEN];

    if (!zoom && src->transport == CONFIG_TRANSPORT_WEBSOCKET)
        return config_source_fail(p, d->line[SK_TRANSPORT], "transport", src,
                                  "= websocket is Zoom's (provider = zoom)");
    if (src->provider_id != PROVIDER_STANDARD && d->line[SK_PUBLIC_KEY] != 0)
        return config_source_fail(p, d->line[SK_PUBLIC_KEY], "public_key", src,
                                  "belongs to provider = standard (a whpk_ key for v1a)");
    if (!zoom && (src->auth & (CONFIG_AUTH_BEARER | CONFIG_AUTH_TOKEN))) {
        snprintf(why, sizeof(why),
                 "bearer and token are Zoom's modes; provider = %s takes signature, basic, header",
                 src->provider);
        return config_source_fail(p, d->line[SK_AUTH], "auth", src, why);
    }
    if (zoom || p->no_secrets)
        return 0;
    if (config_validate_secret(p, src, d, SK_SECRET) < 0 ||
        config_validate_secret(p, src, d, SK_SECRET_PREVIOUS) < 0 ||
        config_validate_secret(p, src, d, SK_PUBLIC_KEY) < 0)
        return -1;
    return 0;
}

int config_source_validate(struct config_parse *p, size_t i)
{
    struct config_source *src = &p->cfg->sources[i];
    int id = src->provider != NULL ? provider_find(src->provider, strlen(src->provider)) : -1;

    if (id < 0)
        return config_source_fail(p, src->line, "provider", src, "needs a provider");
    src->provider_id = (enum provider_id)id;
    if (config_validate_provider(p, src, &p->drafts[i]) < 0 ||
        config_validate_wire(p, src, &p->drafts[i]) < 0)
        return -1;
    if (src->transport == CONFIG_TRANSPORT_WEBSOCKET)
        return config_validate_websocket(p, src, &p->drafts[i]);
    if (src->secret == NULL && !p->no_secrets && src->public_key == NULL)
        return config_source_fail(p, src->line, "secret", src,
                                  src->provider_id == PROVIDER_STANDARD
                                      ? "has no secret (set secret, secret_file or secret_env, "
                                        "or public_key)"
                                      : "has no secret (set secret, secret_file or secret_env)");
    return config_validate_auth(p, src, &p->drafts[i]);
}

void config_source_free(struct config_source *src)
{
    free(src->name);
    for (size_t i = 0; i < NSOURCE_KEYS; i++) {
        const struct source_key *k = &source_keys[i];
        void *field = config_source_field(src, k);
        char *str = k->type == SOURCE_CIDR || k->type == SOURCE_LONG || k->type == SOURCE_AUTH ||
                            k->type == SOURCE_TRANSPORT
                        ? NULL
                        : *(char **)field;
        if (k->type == SOURCE_CIDR)
            cidr_list_free(field);
        if (k->type == SOURCE_SECRET && str != NULL)
            explicit_bzero(str, strlen(str));
        free(str);
    }
}

size_t config_source_key_count(void)
{
    return NSOURCE_KEYS;
}

void config_source_key_describe(size_t i, struct config_key_info *info)
{
    const struct source_key *k = &source_keys[i < NSOURCE_KEYS ? i : 0];

    info->section = "source.NAME";
    info->key = k->key;
    info->def = k->def;
    info->reload = true; /* sources are always reloaded */
    info->forms = k->type == SOURCE_SECRET;
}
