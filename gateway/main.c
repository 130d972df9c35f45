/*
 * hookpipe-gateway: verifies Zoom webhooks and queues them in Redis. The main thread
 * owns signals (SIGHUP reload, SIGTERM/SIGINT graceful stop) and the admin listener;
 * `workers` threads each run their own loop on a SO_REUSEPORT socket.
 */
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cli.h"
#include "ev_curl.h"
#include "config.h"
#include "ev_admin.h"
#include "log.h"
#include "peer.h"
#include "stats.h"
#include "tls.h"
#include "worker.h"

#define GATEWAY_BACKLOG 4096

struct gateway_main {
    struct event_base *base;
    struct worker *workers;
    int nworkers;
    struct admin_server *admin;
    bool stopping;
};

static void gateway_render(struct strbuf *sb, void *arg)
{
    stats_render(sb);
}

static void gateway_note_fixed_key(const char *section, const char *key, void *arg)
{
    /* the writer's sections mean nothing to the gateway */
    if (strcmp(section, "writer") == 0 || strcmp(section, "postgres") == 0)
        return;
    log_msg(LOG_WARN, "setting needs a restart to change, keeping the old value", "key=%s.%s",
            section, key);
}

/* Settings a reload cannot change (the config table's restart keys): logged, kept as they were. */
static void gateway_note_fixed(const struct config *old, const struct config *cfg)
{
    config_restart_changes(old, cfg, gateway_note_fixed_key, NULL);
}

static void gateway_sighup_cb(evutil_socket_t sig, short what, void *arg)
{
    struct gateway_main *gm = arg;
    char err[CONFIG_ERR_LEN];
    struct config *cfg, *old;

    cfg = config_load(gateway.cfg->path, err, sizeof(err));
    if (cfg == NULL) {
        STAT_ADD(config_reload_failures_total, 1);
        log_msg(LOG_ERROR, "reload failed, keeping the old configuration", "error=%s",
                log_value(err));
        return;
    }
    gateway_note_fixed(gateway.cfg, cfg);
    log_set_level((enum log_level)log_level_parse(cfg->log_level));
    pthread_mutex_lock(&gateway.cfg_lock);
    old = gateway.cfg;
    gateway.cfg = cfg;
    pthread_mutex_unlock(&gateway.cfg_lock);
    /* workers copy what they need under cfg_lock, so the old config is unused now */
    config_free(old);
    for (int i = 0; i < gm->nworkers; i++)
        worker_request_reload(&gm->workers[i]);
    STAT_ADD(config_reloads_total, 1);
    log_msg(LOG_INFO, "configuration reloaded", "sources=%zu", cfg->nsources);
}

static void gateway_stop_cb(evutil_socket_t sig, short what, void *arg)
{
    struct gateway_main *gm = arg;

    if (gm->stopping)
        return;
    gm->stopping = true;
    log_msg(LOG_INFO, "stopping: finishing pushes in flight", "signal=%d", (int)sig);
    for (int i = 0; i < gm->nworkers; i++)
        worker_request_stop(&gm->workers[i]);
    event_base_loopexit(gm->base, NULL);
}

int main(int argc, char **argv)
{
    struct cli cli = {.prog = "hookpipe-gateway",
                      .summary = "Receives Zoom webhooks, verifies them and queues them in Redis."};
    struct gateway_main gm = {0};
    struct event *ev_hup = NULL, *ev_term = NULL, *ev_int = NULL;
    SSL_CTX *ssl_ctx = NULL;
    char err[512], bound[ADMIN_ADDR_LEN];
    int rc, exit_code = 1, started = 0;

    rc = cli_parse(&cli, argc, argv);
    if (rc >= 0)
        return rc;
    gateway.cfg = cli_load_config(&cli, &rc);
    if (gateway.cfg == NULL || cli.check_config) {
        config_free(gateway.cfg);
        return rc;
    }
    log_init("gateway", (enum log_level)log_level_parse(gateway.cfg->log_level));
    signal(SIGPIPE, SIG_IGN);
    stats_init();
    if (ev_curl_global_init(err, sizeof(err)) < 0) { /* before any thread: not thread-safe */
        log_msg(LOG_ERROR, "cannot start", "error=%s", log_value(err));
        goto done;
    }
    if (evthread_use_pthreads() < 0 || (gm.base = event_base_new()) == NULL) {
        log_msg(LOG_ERROR, "cannot create event loop", NULL);
        goto done;
    }
    if (getrandom(&gateway.id_prefix, sizeof(gateway.id_prefix), 0) != sizeof(gateway.id_prefix))
        gateway.id_prefix = (uint64_t)getpid() << 20 ^ (uint64_t)time(NULL);
    gateway.id_prefix &= 0xffffffffffffULL;
    gateway.max_connections = gateway.cfg->gateway.max_connections;
    {
        const struct config_gateway *g = &gateway.cfg->gateway;
        struct peer_limits limits = {g->max_connections_per_address, g->auth_failure_limit,
                                     g->auth_failure_penalty_s};
        if (cidr_list_copy(&gateway.trusted_proxies, &g->trusted_proxy_list) < 0 ||
            peer_init(g->max_connections, &limits) < 0) {
            log_msg(LOG_ERROR, "out of memory", NULL);
            goto done;
        }
    }
    if (gateway.cfg->gateway.tls_cert[0] != '\0') {
        ssl_ctx = tls_server_ctx(gateway.cfg->gateway.tls_cert, gateway.cfg->gateway.tls_key, err,
                                 sizeof(err));
        if (ssl_ctx == NULL) {
            log_msg(LOG_ERROR, "cannot start TLS", "error=%s", log_value(err));
            goto done;
        }
    }
    gm.nworkers = (int)gateway.cfg->gateway.workers;
    if (gm.nworkers == 0) {
        /*
         * One loop per core but one: redis-server (one thread) and the writers usually share
         * the host: on 2 cores bench/run measured 1 worker ~9 % ahead of 2 in acks/s (three
         * runs, -2 to +16 %) and 19.7k against 14.7k events/s end to end (docs/performance.md).
         */
        long n = sysconf(_SC_NPROCESSORS_ONLN) - 1;
        gm.nworkers = n > 0 ? (int)(n < 64 ? n : 64) : 1;
    }
    gm.workers = calloc((size_t)gm.nworkers, sizeof(*gm.workers));
    if (gm.workers == NULL)
        goto done;
    /*
     * One SO_REUSEPORT socket per worker, all on one port: the first binds the configured
     * address (port 0: any free one) and the others bind the address it got.
     */
    for (int i = 0; i < gm.nworkers; i++) {
        int fd = admin_listen_socket(i == 0 ? gateway.cfg->gateway.listen : bound, GATEWAY_BACKLOG,
                                     1, err, sizeof(err));
        if (fd < 0) {
            log_msg(LOG_ERROR, "cannot listen", "error=%s", log_value(err));
            goto done;
        }
        if (i == 0 && admin_socket_address(fd, bound, sizeof(bound)) < 0) {
            log_msg(LOG_ERROR, "cannot listen", "error=%s", log_value(bound));
            close(fd);
            goto done;
        }
        started = i + 1;
        if (worker_init(&gm.workers[i], i, fd, ssl_ctx) < 0) {
            log_msg(LOG_ERROR, "cannot start worker", "worker=%d", i);
            goto done;
        }
    }
    log_msg(LOG_INFO, "listening", "what=http addr=%s workers=%d tls=%s", bound, gm.nworkers,
            ssl_ctx ? "on" : "off");
    if (gateway.cfg->gateway.admin_listen[0] != '\0') {
        gm.admin = admin_server_start(gm.base, gateway.cfg->gateway.admin_listen, gateway_render,
                                      &gm, err, sizeof(err));
        if (gm.admin == NULL) {
            log_msg(LOG_ERROR, "cannot start admin listener", "error=%s", log_value(err));
            goto done;
        }
    }
    ev_hup = evsignal_new(gm.base, SIGHUP, gateway_sighup_cb, &gm);
    ev_term = evsignal_new(gm.base, SIGTERM, gateway_stop_cb, &gm);
    ev_int = evsignal_new(gm.base, SIGINT, gateway_stop_cb, &gm);
    if (ev_hup == NULL || ev_term == NULL || ev_int == NULL || evsignal_add(ev_hup, NULL) < 0 ||
        evsignal_add(ev_term, NULL) < 0 || evsignal_add(ev_int, NULL) < 0)
        goto done;
    gateway.workers = gm.workers; /* for a worker at the cap to ask the others for room */
    gateway.nworkers = gm.nworkers;
    for (int i = 0; i < gm.nworkers; i++) {
        if (worker_start(&gm.workers[i]) < 0) {
            log_msg(LOG_ERROR, "cannot start worker thread", "worker=%d", i);
            for (int j = 0; j < i; j++) {
                worker_request_stop(&gm.workers[j]);
                worker_join(&gm.workers[j]);
            }
            goto done;
        }
    }
    log_msg(LOG_INFO, "started", "workers=%d sources=%zu tls=%s admin=%s", gm.nworkers,
            gateway.cfg->nsources, ssl_ctx ? "on" : "off", gm.admin != NULL ? "on" : "off");
    event_base_dispatch(gm.base);
    for (int i = 0; i < gm.nworkers; i++)
        worker_join(&gm.workers[i]);
    log_msg(LOG_INFO, "stopped", NULL);
    exit_code = 0;
done:
    for (int i = 0; i < started; i++)
        worker_destroy(&gm.workers[i]);
    free(gm.workers);
    admin_server_free(gm.admin);
    if (ev_hup != NULL)
        event_free(ev_hup);
    if (ev_term != NULL)
        event_free(ev_term);
    if (ev_int != NULL)
        event_free(ev_int);
    if (gm.base != NULL)
        event_base_free(gm.base);
    SSL_CTX_free(ssl_ctx);
    peer_free();
    cidr_list_free(&gateway.trusted_proxies);
    config_free(gateway.cfg);
    ev_curl_global_cleanup();
    return exit_code;
}
