/*
 * Command line shared by both daemons: -c FILE (else $HOOKPIPE_CONFIG),
 * --check-config, --version, --help, and daemon-specific flags such as --migrate.
 */
#ifndef HOOKPIPE_CLI_H
#define HOOKPIPE_CLI_H

#include <stdbool.h>

#include "config.h"

struct cli_flag {
    const char *name; /* e.g. "--migrate" */
    const char *help; /* one line for --help */
    bool *set;        /* set to true when given */
};

struct cli {
    const char *prog;             /* program name for messages */
    const char *summary;          /* one-line description for --help */
    const struct cli_flag *flags; /* daemon-specific flags, NULL-terminated by name */
    const char *config_path;      /* resolved -c or $HOOKPIPE_CONFIG */
    bool check_config;            /* --check-config */
    int load_flags; /* config_load_flags: CONFIG_LOAD_NO_SECRETS for a daemon that needs none */
};

/*
 * Parses argv. Returns -1 to run, or an exit code (0 after --help/--version,
 * 2 on bad usage) the caller should exit with.
 */
int cli_parse(struct cli *cli, int argc, char **argv) __attribute__((warn_unused_result));

/*
 * Loads the config; on failure prints the one-line error to stderr and returns NULL
 * (callers exit 2). With --check-config, prints the verdict and sets *exit_code.
 */
struct config *cli_load_config(struct cli *cli, int *exit_code) __attribute__((warn_unused_result));

#endif
