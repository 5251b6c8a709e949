/* `mqgate probe`: run the drivers of a configuration without the broker and
 * print what the devices answer (like `telegraf --test`), or list the
 * serial ports of this machine. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "config/values.h"
#include "drivers/drivers.h"
#include "drivers/serial/ports.h"
#include "gateway/commands.h"
#include "gateway/daemon.h"
#include "gateway/log.h"
#include "gateway/loop.h"

#define PROBE_MAX_DEVICES 64

struct probe {
    struct loop *loop;
    const struct config *cfg;
    const char *only[PROBE_MAX_DEVICES];
    size_t n_only;
    int64_t cycles;              /* stop after this many per device; 0: never */
    uint64_t *cycles_seen;       /* per config device */
    bool *answered;
    bool timestamps, quiet, stats;
};

static bool selected(const struct probe *p, const struct cfg_device *dev)
{
    if (!dev->enabled)
        return false;
    if (p->n_only == 0)
        return true;
    for (size_t i = 0; i < p->n_only; i++)
        if (strcmp(p->only[i], dev->name) == 0)
            return true;
    return false;
}

static void print_time(const struct probe *p, const struct timespec *ts)
{
    if (!p->timestamps)
        return;
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    printf("%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, ts->tv_nsec / 1000000);
}

static void print_reading(const struct probe *p, const struct reading *r)
{
    char text[2 * VALUE_MAX_BYTES + 8];
    print_time(p, &r->wall);
    printf("%s/%s ", r->device->name, r->point->name);
    if (r->quality == READING_BAD) {
        if (r->error == READING_ERR_EXCEPTION)
            printf("bad: exception %d (%s)\n", r->exception_code, r->detail);
        else
            printf("bad: %s (%s)\n", reading_error_name(r->error), r->detail);
        return;
    }
    value_to_text(&r->value, -1, text, sizeof text);
    const char *unit = r->point->unit && r->point->unit[0] ? r->point->unit : NULL;
    printf("%s%s%s%s", r->quality == READING_STALE ? "stale " : "", text, unit ? " " : "",
           unit ? unit : "");
    if (r->quality == READING_STALE)
        printf(" (%s)", r->detail);
    putchar('\n');
}

static bool all_done(const struct probe *p)
{
    if (p->cycles <= 0)
        return false;
    for (size_t i = 0; i < p->cfg->n_devices; i++)
        if (selected(p, &p->cfg->devices[i]) && p->cycles_seen[i] < (uint64_t)p->cycles)
            return false;
    return true;
}

static void on_event(void *ctx, const struct driver_event *ev)
{
    struct probe *p = ctx;
    if (!selected(p, ev->device))
        return;
    switch (ev->kind) {
    case DRIVER_EVENT_READING:
        if (ev->u.reading.quality == READING_GOOD)
            p->answered[ev->device_index] = true;
        if (!p->quiet)
            print_reading(p, &ev->u.reading);
        break;
    case DRIVER_EVENT_DEVICE_STATE:
        if (!p->quiet) {
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            print_time(p, &now);
            if (ev->u.state.online)
                printf("%s online\n", ev->device->name);
            else
                printf("%s offline: %s (%s)\n", ev->device->name,
                       reading_error_name(ev->u.state.error), ev->u.state.detail);
        }
        break;
    case DRIVER_EVENT_CYCLE_END:
        p->cycles_seen[ev->device_index]++;
        if (all_done(p))
            loop_stop(p->loop);
        break;
    case DRIVER_EVENT_WRITE_DONE:
        break;
    }
    fflush(stdout);
}

static void on_signal(int signo, void *data)
{
    struct probe *p = data;
    if (signo == SIGINT || signo == SIGTERM)
        loop_stop(p->loop);
}

static int64_t on_timeout(struct loop *loop, void *data)
{
    (void)data;
    loop_stop(loop);
    return LOOP_TIMER_STOP;
}

static void print_stats(struct probe *p, struct drivers *d)
{
    for (size_t i = 0; i < p->cfg->n_devices; i++) {
        if (!selected(p, &p->cfg->devices[i]))
            continue;
        struct bus_device_stats s;
        drivers_device_stats(d, (uint32_t)i, &s);
        printf("%s: polls=%llu transactions=%llu readings_good=%llu readings_bad=%llu "
               "timeouts=%llu crc_errors=%llu exceptions=%llu bad_replies=%llu "
               "parse_errors=%llu\n", p->cfg->devices[i].name, (unsigned long long)s.polls,
               (unsigned long long)s.transactions, (unsigned long long)s.readings_good,
               (unsigned long long)s.readings_bad, (unsigned long long)s.timeouts,
               (unsigned long long)s.crc_errors, (unsigned long long)s.exceptions,
               (unsigned long long)s.bad_replies, (unsigned long long)s.parse_errors);
    }
}

static int list_ports(void)
{
    struct serial_port_info *ports;
    size_t n;
    if (serial_ports_list(&ports, &n) < 0) {
        fprintf(stderr, "mqgate probe: cannot list serial ports\n");
        return EXIT_RUNTIME;
    }
    serial_ports_print(stdout, ports, n);
    serial_ports_free(ports, n);
    return EXIT_OK;
}

struct probe_options {
    const char *path;
    int64_t timeout_us;
    bool list_ports;
};

static int parse_options(int argc, char **argv, struct probe *p, struct probe_options *o)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },  { "device", required_argument, NULL, 'd' },
        { "cycles", required_argument, NULL, 'n' },  { "timeout", required_argument, NULL, 't' },
        { "timestamps", no_argument, NULL, 'T' },    { "stats", no_argument, NULL, 's' },
        { "quiet", no_argument, NULL, 'q' },         { "list-ports", no_argument, NULL, 'l' },
        { "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 },
    };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:d:n:t:Tsqlh", options, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'c': o->path = optarg; break;
        case 'd':
            if (p->n_only == PROBE_MAX_DEVICES) {
                fprintf(stderr, "mqgate probe: at most %d -d options\n", PROBE_MAX_DEVICES);
                return EXIT_USAGE;
            }
            p->only[p->n_only++] = optarg;
            break;
        case 'n':
            p->cycles = strtoll(optarg, &end, 10);
            if (*end || p->cycles <= 0) {
                fprintf(stderr, "mqgate probe: bad cycle count '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 't':
            if (value_parse_duration(optarg, &o->timeout_us) < 0 || o->timeout_us <= 0) {
                fprintf(stderr, "mqgate probe: bad duration '%s' (e.g. 500ms, 10s, 1m)\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'T': p->timestamps = true; break;
        case 's': p->stats = true; break;
        case 'q': p->quiet = true; break;
        case 'l': o->list_ports = true; break;
        case 'h': command_print_usage(command_find("probe"), stdout); return EXIT_OK;
        default: command_print_usage(command_find("probe"), stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "mqgate probe: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    return -1;
}

static int check_selection(const struct probe *p)
{
    for (size_t i = 0; i < p->n_only; i++) {
        bool found = false;
        for (size_t j = 0; j < p->cfg->n_devices; j++)
            found |= strcmp(p->cfg->devices[j].name, p->only[i]) == 0;
        if (!found) {
            fprintf(stderr, "mqgate probe: no device named '%s' in the configuration\n",
                    p->only[i]);
            return EXIT_USAGE;
        }
    }
    return -1;
}

static int probe_run(struct probe *p, int64_t timeout_us)
{
    int status = EXIT_RUNTIME;
    struct drivers *d = NULL;
    char err[256];
    p->loop = loop_new();
    p->cycles_seen = calloc(p->cfg->n_devices + 1, sizeof *p->cycles_seen);
    p->answered = calloc(p->cfg->n_devices + 1, sizeof *p->answered);
    if (!p->loop || !p->cycles_seen || !p->answered) {
        fprintf(stderr, "mqgate probe: out of memory\n");
        goto out;
    }
    if (daemon_signals_watch(p->loop, on_signal, p) < 0 ||
        (timeout_us > 0 && !loop_timer_add(p->loop, timeout_us / 1000, on_timeout, p))) {
        fprintf(stderr, "mqgate probe: cannot set up the event loop\n");
        goto out;
    }
    if (drivers_start(p->cfg, p->loop, on_event, p, &d, err, sizeof err) < 0) {
        fprintf(stderr, "mqgate probe: %s\n", err);
        goto out;
    }
    loop_run(p->loop);
    if (p->stats)
        print_stats(p, d);
    drivers_stop(d);
    status = EXIT_OK;
    for (size_t i = 0; i < p->cfg->n_devices; i++)
        if (selected(p, &p->cfg->devices[i]) && !p->answered[i])
            status = EXIT_RUNTIME;
out:
    daemon_signals_unwatch(p->loop);
    loop_free(p->loop);
    free(p->cycles_seen);
    free(p->answered);
    return status;
}

int cmd_probe(int argc, char **argv)
{
    struct probe p = { 0 };
    struct probe_options o = { .path = MQGATE_DEFAULT_CONFIG };
    int rc = parse_options(argc, argv, &p, &o);
    if (rc >= 0)
        return rc;
    if (o.list_ports)
        return list_ports();
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct diag diag;
    diag_init(&diag);
    struct config *cfg;
    rc = config_load_file(o.path, &cfg, &diag);
    diag_print(&diag, stderr);
    diag_free(&diag);
    if (rc)
        return EXIT_USAGE;
    log_init(command_log_level(cfg));
    p.cfg = cfg;
    rc = check_selection(&p);
    if (rc < 0)
        rc = probe_run(&p, o.timeout_us);
    config_free(cfg);
    return rc;
}
