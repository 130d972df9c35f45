/*
 * hookpipe-ctl: the operator's tool. Reads the daemons' INI (without the sources'
 * secrets), then runs one command against Redis and PostgreSQL: status, dead-letters,
 * replay, recover, purge, gaps. Exit 0 ok, 1 runtime failure, 2 usage or config error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static void ctl_usage(FILE *out)
{
    fputs("Usage: " CTL_PROG " [-c FILE] COMMAND [options]\n"
          "Operate a hookpipe installation (reads the daemons' INI; needs no source secret).\n"
          "\n"
          "  -c, --config FILE   configuration file (default: $HOOKPIPE_CONFIG)\n"
          "  --version           print the version and exit\n"
          "  -h, --help          print this help and exit\n"
          "\n"
          "Commands:\n"
          "  status [--json]                    queue, writers, dead letters, newest event,\n"
          "                                     sources and their provider, WebSocket\n"
          "                                     subscriptions; exit 1 when unhealthy\n"
          "  dead-letters list [--limit N] [--reason TEXT] [--json]\n"
          "  dead-letters show ID               the raw body bytes to stdout\n"
          "  dead-letters requeue ID... | --all [--reason TEXT]\n"
          "                                     push back as new deliveries, then delete\n"
          "  replay --to URL (--secret-file F | --secret-env VAR)\n"
          "         [--provider P] [--source S] [--event GLOB] [--since TIME] [--until TIME]\n"
          "         [--rate N] [--concurrency N] [--retries N] [--timeout S]\n"
          "         [--cacert FILE | --insecure] [--dry-run]\n"
          "                                     send stored events, oldest first, signed\n"
          "                                     as provider P does (default: --source's\n"
          "                                     provider, else zoom; only P's events);\n"
          "                                     --timeout (default 30) bounds each exchange\n"
          "  recover NAME [--force]             move writer NAME's processing list back\n"
          "  purge --account ID [--dry-run]     delete one Zoom account's events and dead letters\n"
          "  gaps [--source S] [--since TIME] [--json]\n"
          "                                     WebSocket subscription gaps (events never\n"
          "                                     received), newest first, and the time lost\n"
          "                                     per source\n"
          "\n"
          "TIME: 2026-12-01, 2026-12-01T10:00:00Z (or +02:00), @UNIXSECONDS, or an age: 90s 15m 2h "
          "7d\n",
          out);
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    struct ctl ctl;
    struct config *cfg;
    char err[CONFIG_ERR_LEN];
    const char *cmd;
    int i, rc;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                ctl_err("%s needs a file name", a);
                return CTL_USAGE;
            }
            config_path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            config_path = a + 9;
        } else if (strcmp(a, "--version") == 0) {
            printf(CTL_PROG " %s\n", HOOKPIPE_VERSION);
            return CTL_OK;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "help") == 0) {
            ctl_usage(stdout);
            return CTL_OK;
        } else if (a[0] == '-') {
            ctl_err("unknown option %s (try --help)", a);
            return CTL_USAGE;
        } else {
            break;
        }
    }
    if (i >= argc) {
        ctl_err("no command (try --help)");
        return CTL_USAGE;
    }
    cmd = argv[i++];
    if (strcmp(cmd, "status") != 0 && strcmp(cmd, "dead-letters") != 0 &&
        strcmp(cmd, "replay") != 0 && strcmp(cmd, "recover") != 0 && strcmp(cmd, "purge") != 0 &&
        strcmp(cmd, "gaps") != 0) {
        ctl_err("unknown command \"%s\" (try --help)", cmd);
        return CTL_USAGE;
    }
    for (int j = i; j < argc && strcmp(argv[j], "--") != 0; j++) {
        if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
            ctl_usage(stdout); /* COMMAND --help: the one usage text, no config needed */
            return CTL_OK;
        }
    }
    if (config_path == NULL)
        config_path = getenv("HOOKPIPE_CONFIG");
    if (config_path == NULL || config_path[0] == '\0') {
        ctl_err("no configuration file: use -c FILE or set HOOKPIPE_CONFIG");
        return CTL_USAGE;
    }
    cfg = config_load_flags(config_path, CONFIG_LOAD_NO_SECRETS, err, sizeof(err));
    if (cfg == NULL) {
        ctl_err("config error: %s", err);
        return CTL_USAGE;
    }
    ctl.cfg = cfg;
    if (strcmp(cmd, "status") == 0)
        rc = ctl_status(&ctl, argc - i, argv + i);
    else if (strcmp(cmd, "dead-letters") == 0)
        rc = ctl_dead_letters(&ctl, argc - i, argv + i);
    else if (strcmp(cmd, "replay") == 0)
        rc = ctl_replay(&ctl, argc - i, argv + i);
    else if (strcmp(cmd, "recover") == 0)
        rc = ctl_recover(&ctl, argc - i, argv + i);
    else if (strcmp(cmd, "gaps") == 0)
        rc = ctl_gaps(&ctl, argc - i, argv + i);
    else
        rc = ctl_purge(&ctl, argc - i, argv + i);
    config_free(cfg);
    return rc;
}
