/* mqgate: one binary, git-style subcommands. This file only dispatches; each
 * subcommand lives in its own cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "gateway/commands.h"

static void print_overview(FILE *out)
{
    fprintf(out,
            "usage: mqgate [--version] [--help] <command> [<args>]\n"
            "\n"
            "mqgate bridges serial sensors (Modbus RTU, UART) to MQTT, with an embedded\n"
            "broker and a store-and-forward uplink.\n"
            "\n"
            "commands:\n");
    for (const struct command *c = commands; c->name; c++)
        fprintf(out, "  %-8s %s\n", c->name, c->summary);
    fprintf(out, "\nSee 'mqgate help <command>' for one command, 'mqgate help config' for the\n"
                 "configuration reference.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_overview(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("mqgate %s\n", MQGATE_VERSION);
        return EXIT_OK;
    }
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        print_overview(stdout);
        return EXIT_OK;
    }
    const struct command *cmd = command_find(name);
    if (!cmd) {
        fprintf(stderr, "mqgate: '%s' is not a command. See 'mqgate --help'.\n", name);
        return EXIT_USAGE;
    }
    return cmd->main(argc - 1, argv + 1);
}
