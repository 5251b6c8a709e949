/* `mqgate run`: load the configuration, start the event loop, and stay up
 * until SIGINT/SIGTERM; SIGHUP reloads the configuration (parse the new one,
 * validate it, swap only on success). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge.h"
#include "config/config.h"
#include "config/schema.h"
#include "config/template.h"
#include "gateway/broker/broker.h"
#include "gateway/commands.h"
#include "gateway/daemon.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "gateway/pipeline.h"

struct run_state {
    const char *path;
    struct config *cfg;
    struct loop *loop;
    struct broker *broker;
    struct pipeline *pipeline;
    struct bridge *bridge;
    int stop_signal;
};

/* The gateway's retained status topic: "online" while it runs, "offline"
 * after a clean stop (the bridge makes "offline" its upstream will). */
static void publish_status(struct run_state *st, const char *status)
{
    if (!st->broker)
        return;
    struct template_values v = { { 0 } };
    template_values_set(&v, TVAR_GATEWAY, st->cfg->gateway.name);
    char topic[256];
    if (template_render(st->cfg->gateway.status_topic.text, &v, topic, sizeof(topic)) >= sizeof(topic))
        return;
    if (broker_publish(st->broker, topic, status, strlen(status), 1, true) < 0)
        log_warn("gateway", "cannot publish status on '%s'", topic);
}

static bool bridge_wanted(const struct config *cfg)
{
    return cfg_is_set(&cfg_schema_root, cfg, "bridge") && cfg->bridge.enabled && cfg->bridge.url;
}

/* With broker.enabled false the broker still runs in-process, without
 * listeners, when a bridge needs it as the hub it subscribes to. */
static int start_broker(struct run_state *st)
{
    bool listen = st->cfg->broker.enabled;
    if (!listen && !bridge_wanted(st->cfg)) {
        log_info("gateway", "embedded broker disabled (broker.enabled: false)");
        return 0;
    }
    st->broker = broker_new(st->loop, &st->cfg->broker);
    if (!st->broker) {
        log_error("gateway", "cannot start the broker: out of memory");
        return -1;
    }
    if (broker_open_state(st->broker, &st->cfg->broker) < 0)
        return -1;
    if (!listen)
        log_info("gateway", "embedded broker not listening (broker.enabled: false); "
                 "it only feeds the bridge");
    else if (broker_load_auth(st->broker, &st->cfg->broker) < 0 || broker_listen(st->broker) < 0)
        return -1;
    publish_status(st, "online");
    return 0;
}

/* receive_allow: [] lets upstream publish to the command topics of the
 * writable points of the configuration running now. */
static bool upstream_may_publish(void *ctx, const char *topic)
{
    const struct run_state *st = ctx;
    return pipeline_is_command_topic(st->pipeline, topic);
}

static int start_bridge(struct run_state *st)
{
    if (!bridge_wanted(st->cfg))
        return 0;
    struct bridge_hooks hooks = { .allowed = upstream_may_publish, .ctx = st };
    return bridge_start(st->cfg, st->loop, st->broker, &hooks, &st->bridge) < 0 ? -1 : 0;
}

/* Log each diagnostic as its own line, in the file:line:col form users can
 * jump to, at error or warning level. */
static void log_diagnostics(struct diag *diag)
{
    for (size_t i = 0; i < diag->count; i++) {
        char line[1024];
        diag_format(&diag->entries[i], line, sizeof(line));
        if (diag->entries[i].severity == DIAG_ERROR)
            log_error("config", "%s", line);
        else
            log_warn("config", "%s", line);
    }
}

static void log_started(const struct config *cfg)
{
    size_t points = 0;
    for (size_t d = 0; d < cfg->n_devices; d++)
        points += cfg->devices[d].n_points;
    log_info("gateway", "'%s' running with %zu bus(es), %zu device(s), %zu point(s)",
             cfg->gateway.name, cfg->n_buses, cfg->n_devices, points);
}

static void run_reload(struct run_state *st)
{
    daemon_notify_reloading();
    struct diag diag;
    diag_init(&diag);
    struct config *next;
    if (config_load_file(st->path, &next, &diag)) {
        log_diagnostics(&diag);
        log_error("gateway", "reload of %s failed with %zu error(s); keeping the running "
                  "configuration", st->path, diag.errors);
    } else {
        log_diagnostics(&diag);
        /* The password file, ACL and TLS certificates follow the new file
         * (or stay as they were, if they do not load). */
        if (st->broker && next->broker.enabled) {
            broker_reload_auth(st->broker, &next->broker);
            broker_reload_tls(st->broker, &next->broker);
        }
        /* Listeners and broker limits are taken at start; mappings, devices
         * and buses follow the new file. Broker clients stay connected. */
        pipeline_stop(st->pipeline, false);
        st->pipeline = NULL;
        bridge_stop(st->bridge, false);
        st->bridge = NULL;
        config_free(st->cfg);
        st->cfg = next;
        log_set_level(command_log_level(next));
        /* The bridge first, so the new pipeline's first readings (and
         * retained messages) reach its spool. */
        if (start_bridge(st) < 0)
            log_error("gateway", "bridge not started after the reload");
        if (pipeline_start(st->cfg, st->loop, st->broker, &st->pipeline) < 0)
            log_error("gateway", "devices not started after the reload");
        log_info("gateway", "reloaded %s", st->path);
        log_started(next);
    }
    diag_free(&diag);
    daemon_notify_ready();
}

static void on_signal(int signo, void *data)
{
    struct run_state *st = data;
    if (signo == SIGHUP) {
        run_reload(st);
        return;
    }
    if (signo == SIGINT || signo == SIGTERM) {
        st->stop_signal = signo;
        loop_stop(st->loop);
    }
}

static int parse_options(int argc, char **argv, const char **path)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': *path = optarg; break;
        case 'h': command_print_usage(command_find("run"), stdout); return EXIT_OK;
        default: command_print_usage(command_find("run"), stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "mqgate run: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    return -1;
}

int cmd_run(int argc, char **argv)
{
    struct run_state st = { .path = MQGATE_DEFAULT_CONFIG };
    int rc = parse_options(argc, argv, &st.path);
    if (rc >= 0)
        return rc;

    struct diag diag;
    diag_init(&diag);
    if (config_load_file(st.path, &st.cfg, &diag)) {
        diag_print(&diag, stderr);
        diag_free(&diag);
        return EXIT_USAGE;
    }
    log_init(command_log_level(st.cfg));
    log_diagnostics(&diag);
    diag_free(&diag);

    rc = EXIT_RUNTIME;
    /* A file size limit (ulimit -f) must make writes fail with EFBIG, which
     * the spool reports and retries, rather than kill the gateway. */
    signal(SIGXFSZ, SIG_IGN);
    st.loop = loop_new();
    if (!st.loop) {
        log_error("gateway", "cannot create the event loop: %m");
        goto out;
    }
    int err = daemon_signals_watch(st.loop, on_signal, &st);
    if (err < 0) {
        log_error("gateway", "cannot watch signals: %s", strerror(-err));
        goto out;
    }
    err = daemon_watchdog_start(st.loop);
    if (err < 0) {
        log_error("gateway", "cannot start the systemd watchdog: %s", strerror(-err));
        goto out;
    }
    if (start_broker(&st) < 0)
        goto out;
    if (start_bridge(&st) < 0)
        goto out;
    if (pipeline_start(st.cfg, st.loop, st.broker, &st.pipeline) < 0)
        goto out;
    log_started(st.cfg);
    daemon_notify_ready();
    if (loop_run(st.loop) < 0) {
        log_error("gateway", "event loop failed");
        goto out;
    }
    daemon_notify_stopping();
    pipeline_stop(st.pipeline, true);
    st.pipeline = NULL;
    publish_status(&st, "offline");
    /* Last, so the devices' "offline" reach the spool and the uplink says
     * "offline" on its own status topic as it leaves. */
    bridge_stop(st.bridge, true);
    st.bridge = NULL;
    log_info("gateway", "stopped by %s", st.stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
    rc = EXIT_OK;
out:
    pipeline_stop(st.pipeline, false);
    bridge_stop(st.bridge, false);
    broker_free(st.broker);
    if (st.loop) {
        daemon_watchdog_stop(st.loop);
        daemon_signals_unwatch(st.loop);
        loop_free(st.loop);
    }
    config_free(st.cfg);
    return rc;
}
