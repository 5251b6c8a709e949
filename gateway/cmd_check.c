/* `mqgate check`: load a configuration, print every problem gcc-style, and,
 * when it is valid, a summary of what the gateway would do with it. */
#include <getopt.h>
#include <stdio.h>

#include "config/config.h"
#include "config/summary.h"
#include "gateway/commands.h"
#include "gateway/dry_run.h"

int cmd_check(int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "quiet", no_argument, NULL, 'q' },
        { "dry-run", no_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = MQGATE_DEFAULT_CONFIG;
    bool quiet = false, dry_run = false;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:qnh", options, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'q': quiet = true; break;
        case 'n': dry_run = true; break;
        case 'h': command_print_usage(command_find("check"), stdout); return EXIT_OK;
        default: command_print_usage(command_find("check"), stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "mqgate check: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }

    struct diag diag;
    diag_init(&diag);
    struct config *cfg;
    int rc = config_load_file(path, &cfg, &diag);
    diag_print(&diag, stderr);
    if (rc) {
        fprintf(stderr, "%s: %zu error%s, %zu warning%s\n", path, diag.errors,
                diag.errors == 1 ? "" : "s", diag.warnings, diag.warnings == 1 ? "" : "s");
        diag_free(&diag);
        return EXIT_USAGE;
    }
    if (!quiet) {
        printf("%s: valid (%zu warning%s)\n", path, diag.warnings, diag.warnings == 1 ? "" : "s");
        config_summary_write(cfg, stdout);
    }
    diag_free(&diag);
    rc = dry_run ? dry_run_print(cfg, stdout) : 0;
    config_free(cfg);
    return rc < 0 ? EXIT_RUNTIME : EXIT_OK;
}
