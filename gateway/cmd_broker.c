/* `mqgate broker`: the embedded MQTT broker on its own, for local
 * subscribers, for learners ("try MQTT in two terminals") and for tests. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/schema.h"
#include "gateway/broker/broker.h"
#include "gateway/commands.h"
#include "gateway/daemon.h"
#include "gateway/log.h"
#include "gateway/loop.h"

struct broker_run {
    struct loop *loop;
    struct broker *broker;
    const char *path;           /* the config file, re-read on SIGHUP; NULL: defaults */
    int stop_signal;
};

/* SIGHUP: the password file and ACL are read again (the rest of the
 * configuration is taken at start); on any error the running ones stay. */
static void reload(struct broker_run *run)
{
    if (!run->path || !run->broker)
        return;
    daemon_notify_reloading();
    struct diag diag;
    diag_init(&diag);
    struct config *next = NULL;
    if (config_load_file(run->path, &next, &diag) == 0) {
        broker_reload_auth(run->broker, &next->broker);
        broker_reload_tls(run->broker, &next->broker);
    } else
        log_error("broker", "reload of %s failed; keeping the running configuration", run->path);
    diag_print(&diag, stderr);
    diag_free(&diag);
    config_free(next);
    daemon_notify_ready();
}

static void on_signal(int signo, void *data)
{
    struct broker_run *run = data;
    if (signo == SIGHUP)
        reload(run);
    if (signo == SIGINT || signo == SIGTERM) {
        run->stop_signal = signo;
        loop_stop(run->loop);
    }
}

static int parse_options(int argc, char **argv, const char **path, long *port, bool *verbose)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "port", required_argument, NULL, 'p' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:p:vh", options, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'c': *path = optarg; break;
        case 'p':
            *port = strtol(optarg, &end, 10);
            if (*end || *port < 0 || *port > 65535) {
                fprintf(stderr, "mqgate broker: bad port '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'v': *verbose = true; break;
        case 'h': command_print_usage(command_find("broker"), stdout); return EXIT_OK;
        default: command_print_usage(command_find("broker"), stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "mqgate broker: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    return -1;
}

/* The configuration: a file, or the defaults (one listener on 127.0.0.1). */
static struct config *load_config(const char *path)
{
    struct diag diag;
    diag_init(&diag);
    struct config *cfg = NULL;
    static const char defaults[] = "broker: {}\n";
    if (path)
        config_load_file(path, &cfg, &diag);
    else
        config_load_string("(defaults)", defaults, sizeof(defaults) - 1, &cfg, &diag);
    diag_print(&diag, stderr);
    diag_free(&diag);
    /* State is kept only when the file has a broker.persistence section:
     * throwaway brokers (-p, tests, "try MQTT") must not share, nor fight
     * over the lock of, the default <state_dir>/broker. */
    if (cfg && !cfg_is_set(&cfg_schema_broker, &cfg->broker, "persistence"))
        cfg->broker.persistence.enabled = false;
    return cfg;
}

static int run_broker(struct config *cfg, const char *path)
{
    struct broker_run run = { .path = path };
    int rc = EXIT_RUNTIME;
    struct broker *b = NULL;
    run.loop = loop_new();
    if (!run.loop || !(b = broker_new(run.loop, &cfg->broker))) {
        log_error("broker", "out of memory");
        goto out;
    }
    run.broker = b;
    if (broker_open_state(b, &cfg->broker) < 0 || broker_load_auth(b, &cfg->broker) < 0 ||
        broker_listen(b) < 0 ||
        daemon_signals_watch(run.loop, on_signal, &run) < 0)
        goto out;
    daemon_notify_ready();
    if (loop_run(run.loop) < 0)
        goto out;
    daemon_notify_stopping();
    log_info("broker", "stopped by %s", run.stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
    rc = EXIT_OK;
out:
    broker_free(b);
    if (run.loop) {
        daemon_signals_unwatch(run.loop);
        loop_free(run.loop);
    }
    return rc;
}

int cmd_broker(int argc, char **argv)
{
    const char *path = NULL;
    long port = -1;
    bool verbose = false;
    int rc = parse_options(argc, argv, &path, &port, &verbose);
    if (rc >= 0)
        return rc;
    struct config *cfg = load_config(path);
    if (!cfg)
        return EXIT_USAGE;
    log_init(verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
    if (port >= 0 && cfg->broker.n_listeners > 0)
        cfg->broker.listeners[0].port = port;
    rc = run_broker(cfg, path);
    config_free(cfg);
    return rc;
}
