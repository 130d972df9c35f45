/*
 * Argument parsing and config loading common to hookpipe-gateway and hookpipe-writer,
 * so both answer --help, --version and --check-config the same way.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void cli_usage(const struct cli *cli, FILE *out)
{
    fprintf(out,
            "Usage: %s [-c FILE] [options]\n"
            "%s\n\n"
            "  -c, --config FILE  configuration file (default: $HOOKPIPE_CONFIG)\n"
            "  --check-config     validate the configuration, print a verdict, exit 0 or 2\n",
            cli->prog, cli->summary);
    for (const struct cli_flag *f = cli->flags; f != NULL && f->name != NULL; f++)
        fprintf(out, "  %-18s %s\n", f->name, f->help);
    fprintf(out, "  --version          print the version and exit\n"
                 "  -h, --help         print this help and exit\n");
}

int cli_parse(struct cli *cli, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const struct cli_flag *f;
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a file name\n", cli->prog, a);
                return 2;
            }
            cli->config_path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            cli->config_path = a + 9;
        } else if (strcmp(a, "--check-config") == 0) {
            cli->check_config = true;
        } else if (strcmp(a, "--version") == 0) {
            printf("%s %s\n", cli->prog, HOOKPIPE_VERSION);
            return 0;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cli_usage(cli, stdout);
            return 0;
        } else {
            for (f = cli->flags; f != NULL && f->name != NULL; f++) {
                if (strcmp(a, f->name) == 0) {
                    *f->set = true;
                    break;
                }
            }
            if (f == NULL || f->name == NULL) {
                fprintf(stderr, "%s: unknown option %s (try --help)\n", cli->prog, a);
                return 2;
            }
        }
    }
    if (cli->config_path == NULL)
        cli->config_path = getenv("HOOKPIPE_CONFIG");
    if (cli->config_path == NULL || cli->config_path[0] == '\0') {
        fprintf(stderr, "%s: no configuration file: use -c FILE or set HOOKPIPE_CONFIG\n",
                cli->prog);
        return 2;
    }
    return -1;
}

struct config *cli_load_config(struct cli *cli, int *exit_code)
{
    char err[CONFIG_ERR_LEN];
    struct config *cfg = config_load_flags(cli->config_path, cli->load_flags, err, sizeof(err));

    if (cfg == NULL) {
        fprintf(stderr, "%s: config error: %s\n", cli->prog, err);
        *exit_code = 2;
        return NULL;
    }
    if (cli->check_config) {
        printf("%s: configuration ok (%zu source%s)\n", cli->config_path, cfg->nsources,
               cfg->nsources == 1 ? "" : "s");
        *exit_code = 0;
    }
    return cfg;
}
