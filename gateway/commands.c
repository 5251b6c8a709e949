/* The subcommand table and `mqgate help`. Adding a subcommand is one row here
 * and one cmd_*.c file. */
#include <stdio.h>
#include <string.h>

#include "config/doc.h"
#include "gateway/commands.h"

const struct command commands[] = {
    { "run", "run the gateway",
      "usage: mqgate run [-c FILE]\n"
      "\n"
      "Run the gateway: poll the devices, publish their readings to the embedded\n"
      "broker and the bridge. Stops cleanly on SIGINT/SIGTERM; SIGHUP reloads FILE.\n"
      "\n"
      "  -c, --config FILE   configuration (default " MQGATE_DEFAULT_CONFIG ")\n"
      "  -h, --help          this help\n",
      cmd_run },
    { "check", "validate a configuration and show what it would do",
      "usage: mqgate check [-c FILE] [-q]\n"
      "\n"
      "Check FILE and print every problem as FILE:LINE:COL: error: MESSAGE. When it\n"
      "is valid, print a summary: buses, devices, points, the topics it publishes\n"
      "and the bridge target. Exit status: 0 valid, 2 invalid.\n"
      "\n"
      "  -c, --config FILE   configuration (default " MQGATE_DEFAULT_CONFIG ")\n"
      "  -q, --quiet         print only problems\n"
      "  -h, --help          this help\n",
      cmd_check },
    { "help", "show help for a command, or the configuration reference",
      "usage: mqgate help [COMMAND | config]\n"
      "\n"
      "Without arguments, list the commands. With a command, show its help.\n"
      "'mqgate help config' prints the reference of every configuration key.\n",
      cmd_help },
    { NULL, NULL, NULL, NULL },
};

const struct command *command_find(const char *name)
{
    for (const struct command *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

void command_print_usage(const struct command *cmd, FILE *out)
{
    fputs(cmd->usage, out);
}

int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        printf("usage: mqgate <command> [<args>]\n\ncommands:\n");
        for (const struct command *c = commands; c->name; c++)
            printf("  %-8s %s\n", c->name, c->summary);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        command_print_usage(command_find("help"), stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "config") == 0) {
        config_doc_write(stdout);
        return EXIT_OK;
    }
    const struct command *cmd = command_find(argv[1]);
    if (!cmd) {
        fprintf(stderr, "mqgate help: no command '%s'\n", argv[1]);
        return EXIT_USAGE;
    }
    command_print_usage(cmd, stdout);
    return EXIT_OK;
}
