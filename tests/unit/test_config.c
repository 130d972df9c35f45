/*
 * Unit tests for common/config.c: a full config with every key, the defaults, the three
 * ways to give a secret (and secret_previous), and every error, each checked to name the
 * file, the line and the key (or section) exactly as "PATH:LINE: KEY: why".
 */
#include "check.h"
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];
static int file_seq;

/* Writes text to a fresh file in tmpdir; returns its path (static buffer, next call reuses). */
static const char *write_file(const char *text)
{
    static char path[512];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/c%d.ini", tmpdir, ++file_seq);
    fp = fopen(path, "w");
    if (fp == NULL || fputs(text, fp) == EOF || fclose(fp) != 0) {
        perror(path);
        exit(1);
    }
    return path;
}

static struct config *load_text(const char *text, char *err, size_t errlen)
{
    err[0] = '\0';
    return config_load(write_file(text), err, errlen);
}

/*
 * Loads text, expects failure with a message that starts "PATH:LINE: KEY: " (or "PATH:LINE: "
 * when key is NULL) and contains why.
 */
#define CHECK_ERROR(text, line, key, why) check_error(__LINE__, text, line, key, why)

static void check_error(int at, const char *text, int line, const char *key, const char *why)
{
    char err[CONFIG_ERR_LEN];
    char prefix[700];
    struct config *cfg = load_text(text, err, sizeof(err));
    const char *path = NULL;
    char pathbuf[512];

    snprintf(pathbuf, sizeof(pathbuf), "%s/c%d.ini", tmpdir, file_seq);
    path = pathbuf;
    if (key != NULL)
        snprintf(prefix, sizeof(prefix), "%s:%d: %s: ", path, line, key);
    else
        snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
    CHECKF(cfg == NULL, "line %d: config accepted", at);
    CHECKF(strncmp(err, prefix, strlen(prefix)) == 0, "line %d: \"%s\" does not start \"%s\"", at,
           err, prefix);
    CHECKF(strstr(err, why) != NULL, "line %d: \"%s\" does not contain \"%s\"", at, err, why);
    CHECKF(strchr(err, '\n') == NULL, "line %d: message is not one line", at);
    config_free(cfg);
}

static void test_full_config(void)
{
    char secret_path[300];
    char text[4096];
    char err[CONFIG_ERR_LEN];
    struct config *cfg;
    FILE *fp;

    snprintf(secret_path, sizeof(secret_path), "%s/secret.txt", tmpdir);
    fp = fopen(secret_path, "w");
    CHECK(fp != NULL);
    fputs("from-file\n", fp);
    fclose(fp);
    setenv("HP_TEST_PREV", "from-env", 1);
    snprintf(text, sizeof(text),
             "; a comment\n"
             "[log]\n"
             "level = debug\n"
             "[gateway]\n"
             "listen = 127.0.0.1:18080\n"
             "admin_listen = [::1]:19101\n"
             "max_body_bytes = 2048\n"
             "timestamp_tolerance_s = 60\n"
             "max_queue_length = 5000\n"
             "workers = 3\n"
             "max_connections = 777\n"
             "read_timeout_s = 7\n"
             "idle_timeout_s = 30\n"
             "push_timeout_ms = 250\n"
             "max_pushes_in_flight = 99\n"
             "tls_cert = /etc/hp/cert.pem\n"
             "tls_key = /etc/hp/key.pem\n"
             "[redis]\n"
             "url = redis://:pw@10.0.0.1:6380/2\n"
             "queue = q:events\n"
             "[postgres]\n"
             "conninfo = host=db port=5433 dbname=hp user=u\n"
             "[writer]\n"
             "batch_size = 500\n"
             "flush_interval_ms = 50\n"
             "admin_listen =\n"
             "name = w1\n"
             "heartbeat_ttl_s = 20\n"
             "recover_interval_s = 3\n"
             "synchronous_commit = off\n"
             "[source.acme]\n"
             "provider = zoom\n"
             "secret = s1 ; inline comment\n"
             "secret_previous = s0\n"
             "[source.Other-app_2]\n"
             "provider = zoom\n"
             "secret_file = %s\n"
             "secret_previous_env = HP_TEST_PREV\n",
             secret_path);
    cfg = load_text(text, err, sizeof(err));
    CHECKF(cfg != NULL, "%s", err);
    if (cfg == NULL)
        return;
    CHECK_STR_EQ(cfg->log_level, "debug");
    CHECK_STR_EQ(cfg->gateway.listen, "127.0.0.1:18080");
    CHECK_STR_EQ(cfg->gateway.admin_listen, "[::1]:19101");
    CHECK_LONG_EQ(cfg->gateway.max_body_bytes, 2048);
    CHECK_LONG_EQ(cfg->gateway.timestamp_tolerance_s, 60);
    CHECK_LONG_EQ(cfg->gateway.max_queue_length, 5000);
    CHECK_LONG_EQ(cfg->gateway.workers, 3);
    CHECK_LONG_EQ(cfg->gateway.max_connections, 777);
    CHECK_LONG_EQ(cfg->gateway.read_timeout_s, 7);
    CHECK_LONG_EQ(cfg->gateway.idle_timeout_s, 30);
    CHECK_LONG_EQ(cfg->gateway.push_timeout_ms, 250);
    CHECK_LONG_EQ(cfg->gateway.max_pushes_in_flight, 99);
    CHECK_STR_EQ(cfg->gateway.tls_cert, "/etc/hp/cert.pem");
    CHECK_STR_EQ(cfg->gateway.tls_key, "/etc/hp/key.pem");
    CHECK_STR_EQ(cfg->redis.url, "redis://:pw@10.0.0.1:6380/2");
    CHECK_STR_EQ(cfg->redis.queue, "q:events");
    CHECK_STR_EQ(cfg->postgres.conninfo, "host=db port=5433 dbname=hp user=u");
    CHECK_LONG_EQ(cfg->writer.batch_size, 500);
    CHECK_LONG_EQ(cfg->writer.flush_interval_ms, 50);
    CHECK_STR_EQ(cfg->writer.admin_listen, "");
    CHECK_STR_EQ(cfg->writer.name, "w1");
    CHECK_LONG_EQ(cfg->writer.heartbeat_ttl_s, 20);
    CHECK_LONG_EQ(cfg->writer.recover_interval_s, 3);
    CHECK(cfg->writer.synchronous_commit == false);
    CHECK_LONG_EQ(cfg->nsources, 2);
    if (cfg->nsources == 2) {
        CHECK_STR_EQ(cfg->sources[0].name, "acme");
        CHECK_STR_EQ(cfg->sources[0].provider, "zoom");
        CHECK_STR_EQ(cfg->sources[0].secret, "s1");
        CHECK_STR_EQ(cfg->sources[0].secret_previous, "s0");
        CHECK_LONG_EQ(cfg->sources[0].line, 31);
        CHECK_STR_EQ(cfg->sources[1].name, "Other-app_2");
        CHECK_STR_EQ(cfg->sources[1].secret, "from-file"); /* trailing newline dropped */
        CHECK_STR_EQ(cfg->sources[1].secret_previous, "from-env");
        CHECK(config_find_source(cfg, "acme") == &cfg->sources[0]);
        CHECK(config_find_source(cfg, "Other-app_2") == &cfg->sources[1]);
    }
    CHECK(config_find_source(cfg, "ACME") == NULL);
    CHECK(config_find_source(cfg, "nope") == NULL);
    CHECK(strstr(cfg->path, tmpdir) == cfg->path);
    config_free(cfg);
}

/* An empty file is a valid config: every key has its documented default (docs/configuration.md). */
static void test_defaults(void)
{
    char err[CONFIG_ERR_LEN];
    struct config *cfg = load_text("", err, sizeof(err));

    CHECKF(cfg != NULL, "%s", err);
    if (cfg == NULL)
        return;
    CHECK_STR_EQ(cfg->log_level, "info");
    CHECK_STR_EQ(cfg->gateway.listen, "0.0.0.0:8080");
    CHECK_STR_EQ(cfg->gateway.admin_listen, "127.0.0.1:9101");
    CHECK_LONG_EQ(cfg->gateway.max_body_bytes, 1048576);
    CHECK_LONG_EQ(cfg->gateway.timestamp_tolerance_s, 300);
    CHECK_LONG_EQ(cfg->gateway.max_queue_length, 1000000);
    CHECK_LONG_EQ(cfg->gateway.workers, 0);
    CHECK_LONG_EQ(cfg->gateway.max_connections, 10000);
    CHECK_LONG_EQ(cfg->gateway.read_timeout_s, 10);
    CHECK_LONG_EQ(cfg->gateway.idle_timeout_s, 60);
    CHECK_LONG_EQ(cfg->gateway.push_timeout_ms, 1000);
    CHECK_LONG_EQ(cfg->gateway.max_pushes_in_flight, 10000);
    CHECK_STR_EQ(cfg->gateway.tls_cert, "");
    CHECK_STR_EQ(cfg->gateway.tls_key, "");
    CHECK_STR_EQ(cfg->redis.url, "redis://127.0.0.1:6379/0");
    CHECK_STR_EQ(cfg->redis.queue, "hookpipe:events");
    CHECK_STR_EQ(cfg->postgres.conninfo, "postgresql://hookpipe@127.0.0.1:5432/hookpipe");
    CHECK_LONG_EQ(cfg->writer.batch_size, 1000);
    CHECK_LONG_EQ(cfg->writer.flush_interval_ms, 100);
    CHECK_STR_EQ(cfg->writer.admin_listen, "127.0.0.1:9102");
    CHECK_STR_EQ(cfg->writer.name, "");
    CHECK_LONG_EQ(cfg->writer.heartbeat_ttl_s, 10);
    CHECK_LONG_EQ(cfg->writer.recover_interval_s, 5);
    CHECK(cfg->writer.synchronous_commit == true);
    CHECK_STR_EQ(cfg->storage.partition_interval, "month");
    CHECK_LONG_EQ(cfg->storage.premake, 2);
    CHECK_LONG_EQ(cfg->storage.keep_days, 0);
    CHECK_LONG_EQ(cfg->storage.maintenance_interval_s, 3600);
    CHECK_LONG_EQ(cfg->nsources, 0);
    config_free(cfg);
}

static void test_secret_forms(void)
{
    char err[CONFIG_ERR_LEN];
    char text[1024];
    char path[300];
    struct config *cfg;
    FILE *fp;

    /* secret_env, and secret_previous_file with CRLF line ending stripped */
    snprintf(path, sizeof(path), "%s/prev.txt", tmpdir);
    fp = fopen(path, "w");
    fputs("old secret\r\n", fp);
    fclose(fp);
    setenv("HP_TEST_SECRET", "env secret", 1);
    snprintf(
        text, sizeof(text),
        "[source.a]\nprovider = zoom\nsecret_env = HP_TEST_SECRET\nsecret_previous_file = %s\n",
        path);
    cfg = load_text(text, err, sizeof(err));
    CHECKF(cfg != NULL, "%s", err);
    if (cfg != NULL) {
        CHECK_STR_EQ(cfg->sources[0].secret, "env secret");
        CHECK_STR_EQ(cfg->sources[0].secret_previous, "old secret");
    }
    config_free(cfg);

    /* no secret_previous: NULL */
    cfg = load_text("[source.a]\nsecret = x\nprovider = zoom\n", err, sizeof(err));
    CHECKF(cfg != NULL, "%s", err);
    if (cfg != NULL)
        CHECK(cfg->sources[0].secret_previous == NULL);
    config_free(cfg);

    /* a source's keys may be split over two sections of the same name */
    cfg = load_text("[source.a]\nprovider = zoom\n[redis]\nqueue = q\n[source.a]\nsecret = x\n",
                    err, sizeof(err));
    CHECKF(cfg != NULL, "%s", err);
    if (cfg != NULL) {
        CHECK_LONG_EQ(cfg->nsources, 1);
        CHECK_STR_EQ(cfg->sources[0].secret, "x");
    }
    config_free(cfg);

    /* ":port" means any address */
    cfg = load_text("[gateway]\nlisten = :8081\n", err, sizeof(err));
    CHECKF(cfg != NULL, "%s", err);
    config_free(cfg);
}

static void test_errors(void)
{
    char text[1024];
    char path[300];
    FILE *fp;

    CHECK_ERROR("[gateway]\nlisten = 1.2.3.4:1\n\n[gatway]\nworkers = 1\n", 4, NULL,
                "unknown section [gatway]");
    CHECK_ERROR("[redis]\nurl = redis://h\nqueue_name = x\n", 3, "queue_name",
                "unknown key in [redis]");
    CHECK_ERROR("workers = 1\n[gateway]\n", 1, "workers", "key outside any section");
    /* a Redis URL the daemons could not use is a config error, not a start-up failure */
    CHECK_ERROR("[redis]\nqueue = q\nurl = redis://h:1/0x\n", 3, "url", "bad Redis URL");
    CHECK_ERROR("[redis]\nurl = http://h:1/0\n", 2, "url", "redis:// or unix://");
    CHECK_ERROR("[writer]\nbatch_size = 5\nname = host.example.com-1\n", 3, "name",
                "bad writer name");
    CHECK_ERROR("[redis]\nurl = redis://h:99999/0\n", 2, "url", "bad port");
    /* Sentinel settings: each mistake names the key that holds it */
    CHECK_ERROR("[redis]\nsentinels = h:1\n", 2, "sentinels", "sentinels need master_name");
    CHECK_ERROR("[redis]\nmaster_name = m\n", 2, "master_name", "master_name needs sentinels");
    CHECK_ERROR("[redis]\nmaster_name = m\nsentinels = h\n", 3, "sentinels",
                "bad sentinel address");
    CHECK_ERROR("[redis]\nsentinels = h:1\nmaster_name = a b\n", 3, "master_name",
                "bad master_name");
    CHECK_ERROR("[redis]\nurl = unix:///r.sock\nsentinels = h:1\nmaster_name = m\n", 2, "url",
                "must be redis://");
    CHECK_ERROR("[redis]\nack_timeout_ms = 0\n", 2, "ack_timeout_ms", "out of range");
    CHECK_ERROR("[redis]\nack_replicas = -1\n", 2, "ack_replicas", "out of range");
    CHECK_ERROR("[storage]\nkeep_days = 7\npartition_interval = year\n", 3, "partition_interval",
                "must be day, week or month");
    CHECK_ERROR("[storage]\npremake = -1\n", 2, "premake", "");
    CHECK_ERROR("[storage]\nretention = 7\n", 2, "retention", "unknown key in [storage]");
    {
        /* the reason never echoes the URL, which may hold a password */
        char err[CONFIG_ERR_LEN];
        struct config *cfg =
            load_text("[redis]\nurl = redis://u:hunter2@h:1/0x\n", err, sizeof(err));
        CHECK(cfg == NULL);
        CHECK(strstr(err, "hunter2") == NULL);
        CHECK_CONTAINS(err, ": url: bad Redis URL");
        config_free(cfg);
    }
    CHECK_ERROR("[gateway]\n\nworkers = two\n", 3, "workers", "not a whole number");
    CHECK_ERROR("[gateway]\nworkers = 10x\n", 2, "workers", "not a whole number");
    CHECK_ERROR("[gateway]\nworkers =\n", 2, "workers", "not a whole number");
    CHECK_ERROR("[writer]\nbatch_size = 99999999999999999999999\n", 2, "batch_size",
                "not a whole number");
    CHECK_ERROR("[gateway]\nworkers = 257\n", 2, "workers", "out of range");
    CHECK_ERROR("[gateway]\nmax_body_bytes = 63\n", 2, "max_body_bytes", "out of range");
    CHECK_ERROR("[writer]\nbatch_size = -1\n", 2, "batch_size", "out of range");
    CHECK_ERROR("[gateway]\nlisten = 8080\n", 2, "listen", "bad listen address");
    CHECK_ERROR("[gateway]\nlisten = localhost\n", 2, "listen", "bad listen address");
    CHECK_ERROR("[gateway]\nlisten = ::1:8080\n", 2, "listen", "bad listen address");
    CHECK_ERROR("[gateway]\nlisten = [::1]8080\n", 2, "listen", "bad listen address");
    CHECK_ERROR("[gateway]\nlisten = host:65536\n", 2, "listen", "bad listen address");
    CHECK_ERROR("[gateway]\nlisten = host:\n", 2, "listen", "bad listen address");
    CHECK_ERROR("[gateway]\nlisten =\n", 2, "listen", "bad listen address");
    CHECK_ERROR("[writer]\n\nadmin_listen = 9102\n", 3, "admin_listen", "bad listen address");
    CHECK_ERROR("[writer]\nsynchronous_commit = maybe\n", 2, "synchronous_commit", "not a boolean");
    CHECK_ERROR("[source.a]\nprovider = zoom\n", 1, "secret", "[source.a] has no secret");
    CHECK_ERROR("[source.a]\nprovider = gitlab\nsecret = x\n", 2, "provider",
                "unknown provider \"gitlab\"");
    CHECK_ERROR("[source.a]\nprovider = github\nsecret = x\npublic_key = whpk_x\n", 4, "public_key",
                "belongs to provider = standard");
    CHECK_ERROR("[source.a]\nprovider = stripe\nsecret = x\nauth = token\n"
                "verification_token = t\n",
                4, "auth", "bearer and token are Zoom's modes");
    CHECK_ERROR("[source.a]\nprovider = standard\nsecret = whsec_!!!\n", 3, "secret",
                "is not a usable standard signing secret");
    CHECK_ERROR("[source.a]\nprovider = standard\npublic_key = whsec_AAAA\n", 3, "public_key",
                "is not a usable standard public key");
    CHECK_ERROR("[source.a]\nprovider = slack\n", 1, "secret", "[source.a] has no secret");
    CHECK_ERROR("[source.a b]\nprovider = zoom\nsecret = x\n", 1, NULL, "bad source name \"a b\"");
    CHECK_ERROR("[source.a/b]\n", 1, NULL, "bad source name");
    CHECK_ERROR("\n[source.]\nprovider = zoom\n", 2, NULL, "bad source name");
    CHECK_ERROR("[source."
                "a1234567890123456789012345678901234567890123456789012345678901234]\n",
                1, NULL, "bad source name");
    CHECK_ERROR("[source.a]\nprovider = zoom\nsecret = x\nsecret_env = HP_TEST_SECRET\n", 4,
                "secret_env", "already set on line 3");
    CHECK_ERROR("[source.a]\nprovider = zoom\nsecret = x\nsecret_previous = y\n"
                "secret_previous = z\n",
                5, "secret_previous", "already set on line 4");
    CHECK_ERROR("[source.a]\nprovider = zoom\nsecret =\n", 3, "secret", "empty");
    CHECK_ERROR("[source.a]\nprovider = zoom\nsecrets = x\n", 3, "secrets", "unknown key");
    CHECK_ERROR("[source.a]\nprovider = zoom\nsecret_previous_x = x\n", 3, "secret_previous_x",
                "unknown key");
    CHECK_ERROR("[source.a]\nprovider = zoom\nsecret_file = /nonexistent/hp-secret\n", 3,
                "secret_file", "cannot read /nonexistent/hp-secret");
    unsetenv("HP_TEST_UNSET_VAR");
    CHECK_ERROR("[source.a]\nprovider = zoom\nsecret_env = HP_TEST_UNSET_VAR\n", 3, "secret_env",
                "HP_TEST_UNSET_VAR is not set");
    CHECK_ERROR("[gateway]\nlisten = :1\ntls_cert = /c.pem\n", 3, "tls_cert",
                "tls_cert and tls_key must be set together");
    CHECK_ERROR("[gateway]\n\n\ntls_key = /k.pem\n[redis]\n", 4, "tls_key",
                "tls_cert and tls_key must be set together");
    CHECK_ERROR("[gateway]\nlisten = :1\nnot a key value line\n", 3, NULL, "syntax error");
    CHECK_ERROR("\n\n[gateway\nlisten = :1\n", 3, NULL, "syntax error");
    CHECK_ERROR("[gateway]\nworkers = 1\nworkers = 2\n", 3, "workers", "set twice");
    CHECK_ERROR("[log]\nlevel = verbose\n[gateway]\n", 2, "level", "unknown log level");
    CHECK_ERROR("[redis]\nqueue =\n[gateway]\n", 2, "queue", "must not be empty");

    /* secret files: too large, NUL byte */
    snprintf(path, sizeof(path), "%s/big.txt", tmpdir);
    fp = fopen(path, "w");
    for (int i = 0; i < 5000; i++)
        fputc('x', fp);
    fclose(fp);
    snprintf(text, sizeof(text), "[source.a]\nprovider = zoom\nsecret_file = %s\n", path);
    CHECK_ERROR(text, 3, "secret_file", "larger than 4096 bytes");
    snprintf(path, sizeof(path), "%s/nul.txt", tmpdir);
    fp = fopen(path, "w");
    fwrite("ab\0cd", 1, 5, fp);
    fclose(fp);
    snprintf(text, sizeof(text), "[source.a]\nprovider = zoom\n\nsecret_file = %s\n", path);
    CHECK_ERROR(text, 4, "secret_file", "NUL byte");
    /* empty, from a file or a variable: the same rule as an inline value */
    snprintf(path, sizeof(path), "%s/empty.txt", tmpdir);
    fp = fopen(path, "w");
    fputs("\n", fp);
    fclose(fp);
    snprintf(text, sizeof(text), "[source.a]\nprovider = zoom\nsecret_file = %s\n", path);
    CHECK_ERROR(text, 3, "secret_file", "is empty");
    setenv("HP_TEST_EMPTY", "", 1);
    CHECK_ERROR("[source.a]\nprovider = zoom\nsecret_env = HP_TEST_EMPTY\n", 3, "secret_env",
                "must not be empty");
    CHECK_ERROR("[source.a]\nprovider = zoom\nsecret = x\noauth_token_ttl_s = 1h\n", 4,
                "oauth_token_ttl_s", "not a whole number");
}

/* Files that cannot be read at all: the message names the file and why (there is no line). */
static void test_unreadable(void)
{
    char err[CONFIG_ERR_LEN];
    char path[300];
    struct config *cfg;

    snprintf(path, sizeof(path), "%s/missing.ini", tmpdir);
    cfg = config_load(path, err, sizeof(err));
    CHECK(cfg == NULL);
    CHECKF(strncmp(err, path, strlen(path)) == 0, "%s", err);
    CHECK_CONTAINS(err, "cannot open");
    CHECK_CONTAINS(err, strerror(ENOENT));

    /* a directory opens but cannot be read: must not load as an empty config */
    cfg = config_load(tmpdir, err, sizeof(err));
    CHECK(cfg == NULL);
    CHECK(strncmp(err, tmpdir, strlen(tmpdir)) == 0);
    CHECK_CONTAINS(err, "cannot");
    config_free(cfg);

    /* without read permission (meaningless as root, who reads anything) */
    if (geteuid() != 0) {
        const char *p = write_file("[gateway]\n");
        chmod(p, 0);
        cfg = config_load(p, err, sizeof(err));
        CHECK(cfg == NULL);
        CHECK_CONTAINS(err, strerror(EACCES));
        config_free(cfg);
    }
}

#define SRC "[source.a]\nprovider = zoom\nsecret = s\n" /* lines 1-3 */

/* Each auth mode, its keys in all three forms and their _previous, and the defaults. */
static void test_auth_modes(void)
{
    char err[CONFIG_ERR_LEN];
    char text[2048], path[300];
    struct config *cfg;
    FILE *fp;

    cfg = load_text(SRC, err, sizeof(err));
    CHECKF(cfg != NULL, "%s", err);
    if (cfg != NULL) {
        CHECK(cfg->sources[0].auth == CONFIG_AUTH_SIGNATURE); /* the default */
        CHECK(cfg->sources[0].basic_user == NULL && cfg->sources[0].oauth_client_id == NULL);
    }
    config_free(cfg);

    snprintf(path, sizeof(path), "%s/pw.txt", tmpdir);
    fp = fopen(path, "w");
    CHECK(fp != NULL);
    fputs("pw-from-file\n", fp);
    fclose(fp);
    setenv("HP_TEST_HDR_OLD", "hv-old", 1);
    snprintf(text, sizeof(text),
             SRC "auth = signature, basic header\n"
                 "basic_user = zoom\nbasic_password_file = %s\n"
                 "basic_user_previous = zoom-old\nbasic_password_previous = pw-old\n"
                 "header_name = X-Hook-Key\nheader_value = hv\n"
                 "header_value_previous_env = HP_TEST_HDR_OLD\n"
                 "[source.b]\nprovider = zoom\nsecret = t\nauth = bearer\n"
                 "oauth_client_id = cid\noauth_client_secret = csec\n"
                 "oauth_client_secret_previous = csec-old\noauth_token_ttl_s = 120\n"
                 "[source.c]\nprovider = zoom\nsecret = u\nauth=token\n"
                 "verification_token = vt\nverification_token_previous = vt-old\n",
             path);
    cfg = load_text(text, err, sizeof(err));
    CHECKF(cfg != NULL, "%s", err);
    if (cfg != NULL) {
        const struct config_source *a = &cfg->sources[0], *b = &cfg->sources[1],
                                   *c = &cfg->sources[2];
        CHECK(a->auth == (CONFIG_AUTH_SIGNATURE | CONFIG_AUTH_BASIC | CONFIG_AUTH_HEADER));
        CHECK_STR_EQ(a->basic_user, "zoom");
        CHECK_STR_EQ(a->basic_password, "pw-from-file");
        CHECK_STR_EQ(a->basic_user_previous, "zoom-old");
        CHECK_STR_EQ(a->basic_password_previous, "pw-old");
        CHECK_STR_EQ(a->header_name, "X-Hook-Key");
        CHECK_STR_EQ(a->header_value, "hv");
        CHECK_STR_EQ(a->header_value_previous, "hv-old");
        CHECK(b->auth == CONFIG_AUTH_BEARER);
        CHECK_STR_EQ(b->oauth_client_id, "cid");
        CHECK_STR_EQ(b->oauth_client_secret, "csec");
        CHECK_STR_EQ(b->oauth_client_secret_previous, "csec-old");
        CHECK_LONG_EQ(b->oauth_token_ttl_s, 120);
        CHECK(c->auth == CONFIG_AUTH_TOKEN);
        CHECK_STR_EQ(c->verification_token, "vt");
        CHECK_STR_EQ(c->verification_token_previous, "vt-old");
    }
    config_free(cfg);
    cfg = load_text(SRC "auth = bearer\noauth_client_id = i\noauth_client_secret = s\n", err,
                    sizeof(err));
    CHECKF(cfg != NULL && cfg->sources[0].oauth_token_ttl_s == 3600, "%s", err);
    config_free(cfg);
}

/* Bad auth config: exit-2 errors naming file:line:key. */
static void test_auth_errors(void)
{
    CHECK_ERROR(SRC "auth = signature kerberos\n", 4, "auth", "unknown auth mode \"kerberos\"");
    CHECK_ERROR(SRC "auth = ,\n", 4, "auth", "lists no mode");
    CHECK_ERROR(SRC "auth = basic\nauth = basic\n", 5, "auth", "already set on line 4");
    /* a listed mode without its keys: the line of auth */
    CHECK_ERROR(SRC "auth = basic\nbasic_user = u\n", 4, "basic_password",
                "auth lists basic but basic_password is not set");
    CHECK_ERROR(SRC "auth = basic\nbasic_password = p\n", 4, "basic_user",
                "auth lists basic but basic_user is not set");
    CHECK_ERROR(SRC "auth = header\nheader_value = v\n", 4, "header_name", "is not set");
    CHECK_ERROR(SRC "auth = header\nheader_name = X-K\n", 4, "header_value", "is not set");
    CHECK_ERROR(SRC "auth = token\n", 4, "verification_token", "is not set");
    CHECK_ERROR(SRC "auth = bearer\noauth_client_id = i\n", 4, "oauth_client_secret", "is not set");
    CHECK_ERROR(SRC "auth = bearer\noauth_client_secret = s\n", 4, "oauth_client_id", "is not set");
    /* keys of a mode not listed: the key's own line */
    CHECK_ERROR(SRC "basic_user = u\n", 4, "basic_user", "auth does not list basic");
    CHECK_ERROR(SRC "auth = signature\nbasic_password_env = HOME\n", 5, "basic_password",
                "auth does not list basic");
    CHECK_ERROR(SRC "header_name = X-K\n", 4, "header_name", "auth does not list header");
    CHECK_ERROR(SRC "verification_token = t\n", 4, "verification_token",
                "auth does not list token");
    CHECK_ERROR(SRC "oauth_client_secret_previous = x\n", 4, "oauth_client_secret",
                "auth does not list bearer");
    CHECK_ERROR(SRC "oauth_token_ttl_s = 100\n", 4, "oauth_token_ttl_s",
                "auth does not list bearer");
    /* the rest */
    CHECK_ERROR(SRC "auth = bearer\noauth_client_id = i\noauth_client_secret = s\n"
                    "oauth_token_ttl_s = 10\n",
                7, "oauth_token_ttl_s", "out of range (60 to 86400)");
    CHECK_ERROR(SRC "auth = token\nverification_token_previous = o\n", 5, "verification_token",
                "verification_token_previous is set without verification_token");
    CHECK_ERROR(SRC "auth = basic\nbasic_user = u\nbasic_password = p\nbasic_user_previous = o\n",
                7, "basic_user_previous", "needs basic_password_previous");
    CHECK_ERROR(SRC "auth = basic token\nbasic_user = u\nbasic_password = p\n"
                    "verification_token = t\n",
                4, "auth", "list at most one of them");
    CHECK_ERROR(SRC "auth = basic\nbasic_user = u:v\nbasic_password = p\n", 5, "basic_user",
                "must not contain ':'");
    CHECK_ERROR(SRC "auth = header\nheader_name = Content-Length\nheader_value = v\n", 5,
                "header_name", "another purpose");
    CHECK_ERROR(SRC "auth = header\nheader_name = bad name\nheader_value = v\n", 5, "header_name",
                "not an HTTP header name");
    CHECK_ERROR(SRC "auth = basic\nbasic_user = u\nbasic_password = p\nbasic_password = q\n", 7,
                "basic_password", "basic_password already set on line 6");
    CHECK_ERROR(SRC "auth = basic\nbasic_user = u\nbasic_password_env = HP_TEST_UNSET_VAR\n", 6,
                "basic_password_env", "HP_TEST_UNSET_VAR is not set");
    CHECK_ERROR(SRC "auth = header token\nheader_name = Authorization\nheader_value = v\n"
                    "verification_token = t\n",
                5, "header_name", "another purpose");
    {
        char err[CONFIG_ERR_LEN];
        struct config *cfg = load_text(SRC "auth = header\nheader_name = Authorization\n"
                                           "header_value = v\n",
                                       err, sizeof(err));
        CHECKF(cfg != NULL, "Authorization alone as the custom header: %s", err);
        config_free(cfg);
    }
    CHECK_ERROR(SRC "basic_secret = x\n", 4, "basic_secret", "unknown key in [source.a]");
    CHECK_ERROR(SRC "header_value_file2 = x\n", 4, "header_value_file2", "unknown key");
}

/* CONFIG_LOAD_NO_SECRETS (hookpipe-ctl): secrets are neither read nor required. */
static void test_no_secrets(void)
{
    char err[CONFIG_ERR_LEN];
    const char *text = "[source.a]\nprovider = zoom\nsecret_file = /nonexistent/secret\n"
                       "[source.b]\nprovider = zoom\nsecret_env = HOOKPIPE_TEST_UNSET_VAR\n"
                       "[source.c]\nprovider = zoom\n";
    const char *path = write_file(text);
    struct config *cfg;

    unsetenv("HOOKPIPE_TEST_UNSET_VAR");
    cfg = config_load(path, err, sizeof(err));
    CHECK(cfg == NULL);
    config_free(cfg);
    cfg = config_load_flags(path, CONFIG_LOAD_NO_SECRETS, err, sizeof(err));
    CHECKF(cfg != NULL, "%s", err);
    if (cfg != NULL) {
        CHECK(cfg->nsources == 3);
        for (size_t i = 0; i < cfg->nsources; i++)
            CHECK(cfg->sources[i].secret == NULL && cfg->sources[i].secret_previous == NULL);
    }
    config_free(cfg);
    /* every auth mode's secrets, rotation pairs included, are noted but not read */
    cfg = config_load_flags(
        write_file("[source.a]\nprovider = zoom\nsecret_env = HOOKPIPE_TEST_UNSET_VAR\n"
                   "auth = signature, basic header\nbasic_user = u\n"
                   "basic_password_file = /nonexistent/pw\nbasic_user_previous = old\n"
                   "basic_password_previous_env = HOOKPIPE_TEST_UNSET_VAR\n"
                   "header_name = X-Key\nheader_value_file = /nonexistent/hv\n"
                   "[source.b]\nprovider = zoom\nsecret_file = /nonexistent/s\nauth = bearer\n"
                   "oauth_client_id = cid\noauth_client_secret_env = HOOKPIPE_TEST_UNSET_VAR\n"
                   "oauth_client_id_previous = old\n"
                   "oauth_client_secret_previous_file = /nonexistent/o\n"),
        CONFIG_LOAD_NO_SECRETS, err, sizeof(err));
    CHECKF(cfg != NULL, "%s", err);
    if (cfg != NULL) {
        CHECK(cfg->sources[0].basic_password == NULL && cfg->sources[0].header_value == NULL);
        CHECK_STR_EQ(cfg->sources[0].basic_user_previous, "old");
        CHECK(cfg->sources[1].oauth_client_secret == NULL);
    }
    config_free(cfg);
    /* a mode's plain keys are still required, its secrets not */
    cfg = config_load_flags(write_file("[source.a]\nprovider = zoom\nauth = basic\n"
                                       "basic_password = p\n"),
                            CONFIG_LOAD_NO_SECRETS, err, sizeof(err));
    CHECK(cfg == NULL);
    CHECK_CONTAINS(err, "basic_user is not set");
    config_free(cfg);
    cfg = config_load_flags(write_file("[source.a]\nprovider = zoom\nauth = basic\n"
                                       "basic_user = u\n"),
                            CONFIG_LOAD_NO_SECRETS, err, sizeof(err));
    CHECKF(cfg != NULL, "%s", err);
    config_free(cfg);
    /* everything else is still validated */
    cfg = config_load_flags(write_file("[source.a]\nprovider = nope\n"), CONFIG_LOAD_NO_SECRETS,
                            err, sizeof(err));
    CHECK(cfg == NULL);
    CHECK_CONTAINS(err, "unknown provider");
    config_free(cfg);
    cfg = config_load_flags(write_file("[source.a]\nsecret_bogus = 1\n"), CONFIG_LOAD_NO_SECRETS,
                            err, sizeof(err));
    CHECK(cfg == NULL);
    CHECK_CONTAINS(err, "unknown key");
    config_free(cfg);
}

static void cleanup_tmpdir(void)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* CONFIG_LOAD_WRITER_ENV: the per-process [writer] overrides, judged like the file. */
static void test_writer_env(void)
{
    const char *path = write_file("[writer]\nname = from-ini\nadmin_listen = 127.0.0.1:9102\n");
    char err[CONFIG_ERR_LEN];
    struct config *cfg;

    setenv("HOOKPIPE_WRITER_NAME", "from-env", 1);
    setenv("HOOKPIPE_WRITER_ADMIN_LISTEN", "", 1); /* empty: the listener is off */
    cfg = config_load(path, err, sizeof(err));     /* without the flag: the file only */
    CHECK(cfg != NULL && strcmp(cfg->writer.name, "from-ini") == 0);
    config_free(cfg);
    cfg = config_load_flags(path, CONFIG_LOAD_WRITER_ENV, err, sizeof(err));
    CHECK(cfg != NULL && strcmp(cfg->writer.name, "from-env") == 0 &&
          cfg->writer.admin_listen[0] == '\0');
    config_free(cfg);
    setenv("HOOKPIPE_WRITER_NAME", "", 1); /* empty: the file's name stays */
    setenv("HOOKPIPE_WRITER_ADMIN_LISTEN", "[::1]:0", 1);
    cfg = config_load_flags(path, CONFIG_LOAD_WRITER_ENV, err, sizeof(err));
    CHECK(cfg != NULL && strcmp(cfg->writer.name, "from-ini") == 0 &&
          strcmp(cfg->writer.admin_listen, "[::1]:0") == 0);
    config_free(cfg);
    setenv("HOOKPIPE_WRITER_NAME", "has.dot", 1);
    CHECK(config_load_flags(path, CONFIG_LOAD_WRITER_ENV, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "HOOKPIPE_WRITER_NAME: bad writer name");
    CHECKF(strncmp(err, path, strlen(path)) == 0, "%s", err);
    setenv("HOOKPIPE_WRITER_NAME", "ok", 1);
    setenv("HOOKPIPE_WRITER_ADMIN_LISTEN", "nonsense", 1);
    CHECK(config_load_flags(path, CONFIG_LOAD_WRITER_ENV, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "HOOKPIPE_WRITER_ADMIN_LISTEN: bad listen address \"nonsense\"");
    unsetenv("HOOKPIPE_WRITER_NAME");
    unsetenv("HOOKPIPE_WRITER_ADMIN_LISTEN");
}

#define WS "[source.w]\nprovider = zoom\ntransport = websocket\n" /* lines 1-3 */
#define WS_KEYS "subscription_id = sub\nclient_id = cid\nclient_secret = cs\naccount_id = acc\n"

/* transport = websocket: its keys, defaults, and the keys of the other transport refused */
static void test_websocket(void)
{
    char err[CONFIG_ERR_LEN];
    struct config *cfg = load_text(WS WS_KEYS, err, sizeof(err));
    const struct config_source *s;

    CHECKF(cfg != NULL, "%s", err);
    s = cfg != NULL ? config_find_source(cfg, "w") : NULL;
    CHECK(s != NULL);
    if (s != NULL) {
        CHECK(s->transport == CONFIG_TRANSPORT_WEBSOCKET);
        CHECK_STR_EQ(s->subscription_id, "sub");
        CHECK_STR_EQ(s->client_secret, "cs");
        CHECK_STR_EQ(s->oauth_grant, "account_credentials");
        CHECK_STR_EQ(s->oauth_url, "https://zoom.us/oauth/token");
        CHECK_STR_EQ(s->ws_url, "wss://ws.zoom.us/ws");
        CHECK(s->heartbeat_s == 30 && s->lease_ms == 10000 && s->ca_file == NULL);
        CHECK(s->secret == NULL);
    }
    config_free(cfg);
    /* the small values tests use, client_credentials without account_id */
    cfg = load_text(WS "subscription_id = s\nclient_id = c\nclient_secret_env = HOME\n"
                       "oauth_grant = client_credentials\nheartbeat_s = 1\nlease_ms = 1000\n"
                       "ws_url = ws://127.0.0.1:9/ws?x=1\noauth_url = http://127.0.0.1:9/t\n",
                    err, sizeof(err));
    CHECKF(cfg != NULL, "%s", err);
    config_free(cfg);
    /* a webhook source is the default and has no websocket fields */
    cfg = load_text("[source.h]\nprovider = zoom\nsecret = x\n", err, sizeof(err));
    CHECK(cfg != NULL && cfg->sources[0].transport == CONFIG_TRANSPORT_WEBHOOK &&
          cfg->sources[0].subscription_id == NULL);
    config_free(cfg);

    CHECK_ERROR(WS WS_KEYS "secret = x\n", 8, "secret", "belongs to transport = webhook");
    CHECK_ERROR(WS WS_KEYS "auth = basic\n", 8, "auth", "belongs to transport = webhook");
    CHECK_ERROR(WS WS_KEYS "allow_from = 10.0.0.0/8\n", 8, "allow_from", "transport = webhook");
    CHECK_ERROR("[source.h]\nprovider = zoom\nsecret = x\nsubscription_id = s\n", 4,
                "subscription_id", "belongs to transport = websocket");
    CHECK_ERROR("[source.h]\nprovider = zoom\nsecret = x\nclient_secret = s\n", 4, "client_secret",
                "belongs to transport = websocket");
    CHECK_ERROR("[source.w]\nprovider = zoom\ntransport = carrier-pigeon\n", 3, "transport",
                "unknown transport \"carrier-pigeon\" (webhook, websocket)");
    CHECK_ERROR(WS "client_id = c\nclient_secret = s\naccount_id = a\n", 1, "subscription_id",
                "needs it");
    CHECK_ERROR(WS "subscription_id = s\nclient_id = c\naccount_id = a\n", 1, "client_secret",
                "needs it");
    CHECK_ERROR(WS "subscription_id = s\nclient_id = c\nclient_secret = s\n", 1, "account_id",
                "account_credentials needs it");
    CHECK_ERROR(WS WS_KEYS "oauth_grant = password\n", 8, "oauth_grant",
                "account_credentials or client_credentials");
    CHECK_ERROR(WS WS_KEYS "oauth_grant = client_credentials\n", 7, "account_id",
                "only sent with oauth_grant = account_credentials");
    CHECK_ERROR(WS WS_KEYS "ws_url = https://ws.zoom.us/ws\n", 8, "ws_url", "wss://");
    CHECK_ERROR(WS WS_KEYS "ws_url = wss:///ws\n", 8, "ws_url", "wss://");
    CHECK_ERROR(WS WS_KEYS "oauth_url = ftp://zoom.us/\n", 8, "oauth_url", "https://");
    CHECK_ERROR(WS WS_KEYS "heartbeat_s = 0\n", 8, "heartbeat_s", "");
    CHECK_ERROR(WS WS_KEYS "lease_ms = 999\n", 8, "lease_ms", "");
    CHECK_ERROR(WS WS_KEYS "ca_file = /nonexistent/ca.pem\n", 8, "ca_file", "No such file");
    CHECK_ERROR(WS "subscription_id = s\nclient_id = a:b\nclient_secret = s\naccount_id = a\n", 5,
                "client_id", "no ':'");
}

int main(void)
{
    const char *base = getenv("TMPDIR");

    snprintf(tmpdir, sizeof(tmpdir), "%s/hookpipe-test-config.XXXXXX", base ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_full_config();
    test_defaults();
    test_secret_forms();
    test_errors();
    test_unreadable();
    test_auth_modes();
    test_auth_errors();
    test_no_secrets();
    test_writer_env();
    test_websocket();
    cleanup_tmpdir();
    return check_summary("test_config");
}
