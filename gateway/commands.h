/* The subcommands of the `mqgate` binary. Each takes argv with argv[0] the
 * subcommand's name, and returns the process exit code. */
#ifndef MQGATE_GATEWAY_COMMANDS_H
#define MQGATE_GATEWAY_COMMANDS_H

#include <stdio.h>

#include "gateway/log.h"

enum exit_code {
    EXIT_OK = 0,
    EXIT_RUNTIME = 1,   /* something failed while running */
    EXIT_USAGE = 2,     /* bad command line or bad configuration */
};

#define MQGATE_DEFAULT_CONFIG "/etc/mqgate/mqgate.yaml"

struct command {
    const char *name;
    const char *summary;
    const char *usage;   /* full help text, printed by --help and `mqgate help NAME` */
    int (*main)(int argc, char **argv);
};

int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_broker(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_help(int argc, char **argv);
int cmd_pub(int argc, char **argv);
int cmd_sub(int argc, char **argv);
int cmd_passwd(int argc, char **argv);

/* The table of subcommands, NULL-terminated. */
extern const struct command commands[];
const struct command *command_find(const char *name);
void command_print_usage(const struct command *cmd, FILE *out);

/* The logging level the configuration asks for. */
struct config;
enum log_level command_log_level(const struct config *cfg);

#endif
