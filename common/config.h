/*
 * The INI configuration shared by both daemons (docs/design.md "Configuration").
 * config_load() parses into a fresh struct, validates all of it, and either returns
 * it whole or fails with one line naming file, line and key; callers swap it in.
 */
#ifndef HOOKPIPE_CONFIG_H
#define HOOKPIPE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "cidr.h"
#include "provider.h"
#include "name.h"

#define CONFIG_ERR_LEN 512
#define CONFIG_SOURCE_NAME_MAX NAME_MAX_LEN

/* [source.NAME] auth: which checks a delivery must pass (all of those listed). */
#define CONFIG_AUTH_SIGNATURE 0x01u /* x-zm-signature (v0 HMAC) and its timestamp window */
#define CONFIG_AUTH_BASIC 0x02u     /* Authorization: Basic, basic_user + basic_password */
#define CONFIG_AUTH_HEADER 0x04u    /* header_name: header_value */
#define CONFIG_AUTH_BEARER 0x08u    /* Authorization: Bearer, a token from /hooks/NAME/token */
#define CONFIG_AUTH_TOKEN 0x10u     /* Authorization: the legacy verification token */

#define CONFIG_HEADER_NAME_MAX 64   /* header_name length */
#define CONFIG_CREDENTIAL_MAX 256   /* basic_user + basic_password, oauth id + secret */
#define CONFIG_HEADER_VALUE_MAX 480 /* header_value, verification_token */

/* [source.NAME] transport: how its events arrive. */
enum config_transport {
    CONFIG_TRANSPORT_WEBHOOK,   /* POSTed to /hooks/NAME (the default) */
    CONFIG_TRANSPORT_WEBSOCKET, /* read from a Zoom WebSocket subscription the gateway opens */
};

/* [source.NAME] oauth_grant of a websocket source: the token request's grant_type. */
#define CONFIG_GRANT_ACCOUNT "account_credentials"
#define CONFIG_GRANT_CLIENT "client_credentials"

struct config_source {
    char *name;     /* [source.NAME]: [A-Za-z0-9_-]{1,64}, its URL is /hooks/NAME */
    char *provider; /* "zoom" (the default), "standard", "github", "stripe", "slack", "shopify" */
    enum provider_id provider_id;    /* provider's id (set once the source is validated) */
    enum config_transport transport; /* webhook: the keys below; websocket: the ws_ block */
    char *secret;                    /* current secret (from secret, secret_file or secret_env) */
    char *secret_previous;           /* also accepted while rotating; NULL when unset */
    char *public_key; /* provider = standard: a whpk_ ed25519 key (v1a signatures), or NULL */
    unsigned auth;    /* CONFIG_AUTH_* bits; CONFIG_AUTH_SIGNATURE when auth is unset */
    /* each of the following is NULL when unset; a _previous is accepted while rotating */
    char *basic_user;                   /* basic: the user name */
    char *basic_user_previous;          /* basic: the user paired with basic_password_previous */
    char *basic_password;               /* basic */
    char *basic_password_previous;      /* basic */
    char *header_name;                  /* header: the request header to compare */
    char *header_value;                 /* header */
    char *header_value_previous;        /* header */
    char *verification_token;           /* token: the legacy Authorization value */
    char *verification_token_previous;  /* token */
    char *oauth_client_id;              /* bearer: client_id at /hooks/NAME/token */
    char *oauth_client_id_previous;     /* bearer: paired with oauth_client_secret_previous */
    char *oauth_client_secret;          /* bearer: client secret; also keys the tokens */
    char *oauth_client_secret_previous; /* bearer: its tokens and credentials still accepted */
    long oauth_token_ttl_s;             /* bearer: lifetime of an issued token */
    struct cidr_list allow_from;        /* client addresses allowed to deliver; empty = any */
    /* transport = websocket (docs/websocket.md); NULL when unset */
    char *subscription_id; /* the subscriptionId of the app's WebSocket endpoint URL */
    char *client_id;       /* the app's OAuth client id */
    char *client_secret;   /* its secret (secret-bearing) */
    char *account_id;      /* account_credentials: the account the token is for */
    char *oauth_grant;     /* CONFIG_GRANT_ACCOUNT or CONFIG_GRANT_CLIENT */
    char *oauth_url;       /* Zoom's token endpoint */
    char *ws_url;          /* Zoom's WebSocket endpoint, without the query */
    long heartbeat_s;      /* a heartbeat this often; silence for twice this: the link is dead */
    long lease_ms;         /* the Redis lease that makes one gateway worker the holder */
    char *ca_file;         /* PEM bundle for both TLS peers; NULL = the system's CAs */
    int line;              /* line of the section header, for messages */
};

struct config_gateway {
    char *listen;                     /* host:port of the webhook listener */
    char *admin_listen;               /* host:port of /metrics; "" = off */
    long max_body_bytes;              /* larger bodies: 413 */
    long timestamp_tolerance_s;       /* |now - timestamp| larger: 401 */
    long max_queue_length;            /* queue longer: 503 */
    long workers;                     /* event loops; 0 = one per core */
    long max_connections;             /* open connections across all workers */
    long read_timeout_s;              /* a request's headers + body must arrive within this */
    long idle_timeout_s;              /* keep-alive connection with no request: closed */
    long push_timeout_ms;             /* LPUSH not confirmed within this: 503 */
    long max_pushes_in_flight;        /* per worker; above it: 503 */
    long max_connections_per_address; /* open connections one address may hold; 0 = no cap */
    long auth_failure_limit;          /* wrong credentials from one address before a penalty */
    long auth_failure_penalty_s;      /* the penalty (429 to its authenticated requests) */
    char *trusted_proxies;            /* CIDR list: peers whose X-Forwarded-For names the client */
    struct cidr_list trusted_proxy_list; /* trusted_proxies parsed */
    char *tls_cert;                      /* PEM chain; with tls_key the listener speaks HTTPS */
    char *tls_key;                       /* PEM private key */
};

struct config_redis {
    char *url;           /* redis://[user:password@]host:port/db or unix:///path.sock */
    char *queue;         /* list the gateway LPUSHes to and writers drain */
    char *sentinels;     /* host:port[,host:port...] of Redis Sentinels; "" = use url's host */
    char *master_name;   /* the master's name at the sentinels */
    long ack_replicas;   /* gateway: 200 only once WAIT says this many replicas have the push */
    long ack_timeout_ms; /* gateway: WAIT's timeout */
};

struct config_postgres {
    char *conninfo; /* any libpq conninfo string or URI */
};

struct config_writer {
    long batch_size;         /* envelopes claimed per batch */
    long flush_interval_ms;  /* a partial batch is flushed after this */
    char *admin_listen;      /* host:port of /metrics; "" = off */
    char *name;              /* processing list suffix; "" = hostname-pid */
    long heartbeat_ttl_s;    /* heartbeat key TTL; an expired writer's list is recovered */
    long recover_interval_s; /* how often to look for expired writers */
    bool synchronous_commit; /* false: SET synchronous_commit = off (faster; docs/configuration.md)
                              */
    long shutdown_timeout_s; /* a graceful stop gives up waiting after this */
    long migrate_wait_s;     /* --migrate retries connection errors this long */
};

struct config_storage {
    char *partition_interval;    /* hookpipe.events partitions span a "day", "week" or "month" */
    long premake;                /* partitions created ahead of the current one */
    long keep_days;              /* data older than this is dropped; 0 = kept for ever */
    long maintenance_interval_s; /* how often a writer runs maintenance */
    bool keep_body;              /* hookpipe.events.body: the bytes as received (else NULL) */
    long event_time_past_days;   /* event_ts older than receipt by more than this: undated */
    long event_time_future_s;    /* event_ts ahead of receipt by more than this: undated */
};

struct config {
    char *path;      /* the file it was read from */
    char *log_level; /* [log] level = debug|info|warn|error */
    struct config_gateway gateway;
    struct config_redis redis;
    struct config_postgres postgres;
    struct config_writer writer;
    struct config_storage storage;
    struct config_source *sources; /* nsources entries, in file order */
    size_t nsources;
};

/*
 * Reads and validates PATH. On success returns a new config (caller frees with
 * config_free). On failure returns NULL and writes one line "PATH:LINE: key: why"
 * (or "PATH: why") into err.
 */
struct config *config_load(const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * config_load with flags. CONFIG_LOAD_NO_SECRETS: the secret-bearing keys of [source.*]
 * (secret, basic_password, header_value, …, each as KEY, KEY_file or KEY_env) may be given
 * or left out and are never resolved (no file read, no variable needed), so a tool holding
 * only the Redis and PostgreSQL credentials can load the daemons' file (or a copy without
 * the secrets); every secret-bearing field of every source is then NULL. Everything else is
 * validated as usual.
 */
/*
 * CONFIG_LOAD_WRITER_ENV: HOOKPIPE_WRITER_NAME and HOOKPIPE_WRITER_ADMIN_LISTEN (when set)
 * replace [writer] name and admin_listen before validation, so one INI can serve several
 * writers on a host (systemd hookpipe-writer@N, run-local) and --check-config sees what
 * the process will run with. A bad value is an error naming the variable.
 */
enum config_load_flag { CONFIG_LOAD_NO_SECRETS = 1, CONFIG_LOAD_WRITER_ENV = 2 };
struct config *config_load_flags(const char *path, int flags, char *err, size_t errlen)
    __attribute__((warn_unused_result));

void config_free(struct config *cfg);

/* The source called name, or NULL. */
const struct config_source *config_find_source(const struct config *cfg, const char *name);

/* What the key tables say of one key (for documentation checks and reloads). */
struct config_key_info {
    const char *section; /* "source.NAME" for a key of every [source.NAME] */
    const char *key;
    const char *def; /* default, as written in a file ("" = empty; NULL: a source key without) */
    bool reload;     /* a gateway SIGHUP applies a change; otherwise it needs a restart */
    bool forms;      /* a secret: also given as KEY_file and KEY_env */
};

/* Number of keys, [section] ones then [source.NAME] ones; config_key_describe(i) fills info. */
size_t config_key_count(void);
void config_key_describe(size_t i, struct config_key_info *info);

/*
 * Calls fn(section, key, arg) for each key that a reload cannot change and whose value
 * differs between a and b (sources are always reloadable). Returns how many differ.
 */
size_t config_restart_changes(const struct config *a, const struct config *b,
                              void (*fn)(const char *section, const char *key, void *arg),
                              void *arg);

#endif
