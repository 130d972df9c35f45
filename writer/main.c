/*
 * hookpipe-writer: parses the command line and config, applies the schema
 * migrations, then drains the Redis queue into PostgreSQL on one libevent loop
 * (writer.c) with the admin listener for /metrics. SIGTERM/SIGINT stop gracefully.
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "cli.h"
#include "config.h"
#include "ev_admin.h"
#include "log.h"
#include "maint.h"
#include "migrate.h"
#include "name.h"
#include "stats.h"
#include "timeutil.h"
#include "writer.h"

#define MAIN_MIGRATE_RETRY_MIN_MS 200 /* PostgreSQL unreachable at start */
#define MAIN_MIGRATE_RETRY_MAX_MS 5000
#define MAIN_MAINTAIN_TIMEOUT_S 600 /* --maintain gives up (exit 1) after this */

/* Set by SIGTERM/SIGINT while start-up migrations wait for PostgreSQL (before the loop). */
static volatile sig_atomic_t main_stop_requested;

static void main_early_signal(int sig)
{
    main_stop_requested = 1;
}

static void main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    log_msg(LOG_INFO, "signal received", "signal=%d", (int)sig);
    writer_stop(arg);
}

/*
 * The default writer name, hostname-pid, made to follow the name rule: the host name's
 * first label (a domain's dots are not name characters), any other byte outside the
 * rule as '-', cut so that the whole fits NAME_MAX_LEN.
 */
static void main_default_name(char *out, size_t outlen)
{
    char host[256] = "";
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "-%ld", (long)getpid());

    if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0' || host[0] == '.')
        snprintf(host, sizeof(host), "writer");
    host[sizeof(host) - 1] = '\0';
    host[strcspn(host, ".")] = '\0';
    for (char *p = host; *p != '\0'; p++) {
        if (!name_char((unsigned char)*p))
            *p = '-';
    }
    snprintf(out, outlen, "%.*s%s", NAME_MAX_LEN - n, host, pid);
}

/*
 * Applies migrations, retrying while PostgreSQL is unreachable: for ever in the daemon
 * (wait_s < 0; a signal ends it), for at most wait_s seconds with --migrate, so a
 * one-shot migration started next to a PostgreSQL still booting succeeds once it is up.
 */
static int main_migrate(const struct config *cfg, long wait_s)
{
    char err[512], why[600];
    struct backoff delay;
    double give_up = monotonic_s() + (double)wait_s;

    backoff_init(&delay, MAIN_MIGRATE_RETRY_MIN_MS, MAIN_MIGRATE_RETRY_MAX_MS);
    for (;;) {
        bool retryable = false;
        int n = migrate_apply(cfg->postgres.conninfo, &retryable, err, sizeof(err));
        long ms = backoff_next(&delay);
        long left_ms = (long)((give_up - monotonic_s()) * 1000);
        if (n >= 0) {
            log_msg(LOG_INFO, "schema up to date", "applied=%d", n);
            return 0;
        }
        if (!retryable) {
            log_msg(LOG_ERROR, "migration failed", "error=%s", log_value(err));
            return -1;
        }
        if (wait_s >= 0 && left_ms <= 0) {
            snprintf(why, sizeof(why),
                     "postgres unreachable, gave up after %ld s (migrate_wait_s): %s", wait_s, err);
            log_msg(LOG_ERROR, "migration failed", "error=%s", log_value(why));
            return -1;
        }
        if (wait_s >= 0 && ms > left_ms)
            ms = left_ms;
        log_msg(LOG_WARN, "postgres unavailable for migrations, retrying", "error=%s retry_ms=%ld",
                log_value(err), ms);
        usleep((useconds_t)ms * 1000);
        if (main_stop_requested) {
            log_msg(LOG_INFO, "stopped before start-up finished", "%s", "");
            return 1;
        }
    }
}

/* --maintain: whether the pass succeeded (its exit status). */
static bool main_maintain_ok;

static void main_maintained(void *arg, bool ok)
{
    struct event_base *base = arg;

    main_maintain_ok = ok;
    event_base_loopexit(base, NULL);
}

static void main_maintain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    log_msg(LOG_ERROR, "maintenance timed out", "timeout_s=%d", MAIN_MAINTAIN_TIMEOUT_S);
    main_maintain_ok = false;
    event_base_loopexit(arg, NULL);
}

/*
 * --maintain: applies pending migrations (the maintenance functions live in the schema),
 * then one maintenance pass, bounded by MAIN_MAINTAIN_TIMEOUT_S. Returns the exit status.
 */
static int main_maintain(const struct config *cfg)
{
    struct event_base *base = NULL;
    struct maint *m = NULL;
    struct event *timeout = NULL;
    struct timeval tv = timeval_ms(MAIN_MAINTAIN_TIMEOUT_S * 1000);
    int rc = 1;

    if (main_migrate(cfg, cfg->writer.migrate_wait_s) != 0)
        return 1;
    writer_stats_init();
    base = event_base_new();
    if (base == NULL)
        goto done;
    timeout = evtimer_new(base, main_maintain_timeout_cb, base);
    main_maintain_ok = false;
    m = maint_new(base, cfg, true, main_maintained, base);
    if (timeout == NULL || m == NULL) {
        log_msg(LOG_ERROR, "out of memory", "%s", "");
        goto done;
    }
    evtimer_add(timeout, &tv);
    event_base_dispatch(base);
    rc = main_maintain_ok ? 0 : 1;
done:
    maint_free(m);
    if (timeout != NULL)
        event_free(timeout);
    if (base != NULL)
        event_base_free(base);
    return rc;
}

int main(int argc, char **argv)
{
    bool migrate_only = false, maintain_only = false;
    const struct cli_flag flags[] = {
        {"--migrate", "apply pending schema migrations and exit", &migrate_only},
        {"--maintain", "run one storage maintenance pass (partitions, retention) and exit",
         &maintain_only},
        {NULL, NULL, NULL},
    };
    /* the writer stores bodies and never verifies one: it neither reads nor needs a secret */
    struct cli cli = {.prog = "hookpipe-writer",
                      .summary = "Drains the hookpipe Redis queue into PostgreSQL.",
                      .flags = flags,
                      .load_flags = CONFIG_LOAD_NO_SECRETS | CONFIG_LOAD_WRITER_ENV};
    struct config *cfg = NULL;
    struct event_base *base = NULL;
    struct writer *w = NULL;
    struct admin_server *admin = NULL;
    struct event *sigterm = NULL, *sigint = NULL;
    char name[NAME_MAX_LEN + 1];
    char err[512];
    int level;
    int rc = cli_parse(&cli, argc, argv);

    if (rc >= 0)
        return rc;
    cfg = cli_load_config(&cli, &rc);
    if (cfg == NULL || cli.check_config) {
        config_free(cfg);
        return rc;
    }
    level = log_level_parse(cfg->log_level);
    log_init("writer", level < 0 ? LOG_INFO : (enum log_level)level);
    signal(SIGPIPE, SIG_IGN);

    if (cfg->writer.name[0] == '\0') {
        main_default_name(name, sizeof(name));
    } else if (name_valid(cfg->writer.name, strlen(cfg->writer.name))) {
        snprintf(name, sizeof(name), "%s", cfg->writer.name);
    } else {
        fprintf(stderr,
                "hookpipe-writer: config error: %s: writer name %s must be 1-%d of "
                "A-Z a-z 0-9 _ -\n",
                cfg->path, log_value(cfg->writer.name), NAME_MAX_LEN);
        rc = 2;
        goto done;
    }
    if (migrate_only) {
        rc = main_migrate(cfg, cfg->writer.migrate_wait_s) == 0 ? 0 : 1;
        goto done;
    }
    if (maintain_only) {
        rc = main_maintain(cfg);
        goto done;
    }
    rc = 1;
    signal(SIGTERM, main_early_signal);
    signal(SIGINT, main_early_signal);
    if (main_migrate(cfg, -1) != 0) {
        rc = main_stop_requested ? 0 : 1;
        goto done;
    }
    writer_stats_init();
    base = event_base_new();
    if (base == NULL) {
        log_msg(LOG_ERROR, "event_base_new failed", "%s", "");
        goto done;
    }
    w = writer_start(base, cfg, name, err, sizeof(err));
    if (w == NULL) {
        log_msg(LOG_ERROR, "writer start failed", "error=%s", log_value(err));
        goto done;
    }
    if (cfg->writer.admin_listen[0] != '\0') {
        admin = admin_server_start(base, cfg->writer.admin_listen, writer_stats_render, NULL, err,
                                   sizeof(err));
        if (admin == NULL) {
            log_msg(LOG_ERROR, "admin listener failed", "addr=%s error=%s",
                    cfg->writer.admin_listen, log_value(err));
            goto done;
        }
    }
    sigterm = evsignal_new(base, SIGTERM, main_signal_cb, w);
    sigint = evsignal_new(base, SIGINT, main_signal_cb, w);
    if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) != 0 ||
        evsignal_add(sigint, NULL) != 0) {
        log_msg(LOG_ERROR, "signal setup failed", "%s", "");
        goto done;
    }
    if (main_stop_requested)
        writer_stop(w); /* a signal that arrived before the loop's handlers existed */
    log_msg(LOG_INFO, "writer started", "writer=%s queue=%s batch_size=%ld admin=%s", name,
            cfg->redis.queue, cfg->writer.batch_size,
            cfg->writer.admin_listen[0] ? cfg->writer.admin_listen : "off");
    event_base_dispatch(base);
    rc = 0;
done:
    if (sigterm != NULL)
        event_free(sigterm);
    if (sigint != NULL)
        event_free(sigint);
    admin_server_free(admin);
    writer_free(w);
    if (base != NULL)
        event_base_free(base);
    config_free(cfg);
    return rc;
}
