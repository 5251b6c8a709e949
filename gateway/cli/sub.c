/* `mqgate sub`: subscribe to topic filters on any MQTT 3.1.1/5.0 broker and
 * print each message (payload, -v, or a -F format), with mosquitto_sub's
 * options: -C count, -W timeout (exit 27), -R, --retained-only, -E, -U. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway/cli/client.h"
#include "gateway/cli/format.h"
#include "gateway/commands.h"
#include "gateway/mqtt/topic.h"

#define PROG "mqgate sub"
#define EXIT_TIMED_OUT 27   /* mosquitto_sub's status after -W */

enum {
    OPT_RETAINED_ONLY = CLI_OPT_TOOL,
    OPT_NO_LOCAL,
    OPT_RAP,
    OPT_RETAIN_HANDLING,
};

struct sub {
    struct cli_options o;
    const char *format;          /* -F */
    bool verbose, no_eol, skip_retained, retained_only, exit_subscribed;
    bool no_local, rap;
    unsigned long long retain_handling;
    unsigned long long count;    /* -C, 0: no limit */
    unsigned long long timeout;  /* -W seconds, 0: none */
    const char *unsubs[CLI_MAX_TOPICS];
    size_t n_unsubs;
    unsigned long long received;
    uint16_t sub_id, unsub_id;   /* pending SUBSCRIBE / UNSUBSCRIBE, 0 when none */
};

/* What the loop does after a packet. */
enum step { STEP_GO_ON, STEP_DONE, STEP_FAIL };

static int usage_error(const char *msg)
{
    fprintf(stderr, PROG ": %s\nSee 'mqgate sub --help'.\n", msg);
    return EXIT_USAGE;
}

static int parse_tool_opt(struct sub *s, int opt, const char *arg)
{
    switch (opt) {
    case 'v': s->verbose = true; return 0;
    case 'N': s->no_eol = true; return 0;
    case 'R': s->skip_retained = true; return 0;
    case 'E': s->exit_subscribed = true; return 0;
    case 'F': s->format = arg; return 0;
    case OPT_RETAINED_ONLY: s->retained_only = true; return 0;
    case OPT_NO_LOCAL: s->no_local = true; return 0;
    case OPT_RAP: s->rap = true; return 0;
    case 'C': return cli_parse_uint(arg, 1, UINT32_MAX, &s->count) ? 0 : -1;
    case 'W': return cli_parse_uint(arg, 1, 86400 * 365, &s->timeout) ? 0 : -1;
    case OPT_RETAIN_HANDLING: return cli_parse_uint(arg, 0, 2, &s->retain_handling) ? 0 : -1;
    case 'U':
        if (s->n_unsubs == CLI_MAX_TOPICS)
            return -1;
        s->unsubs[s->n_unsubs++] = arg;
        return 0;
    }
    return -1;
}

static int parse_args(struct sub *s, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        { "verbose", no_argument, NULL, 'v' }, { "count", required_argument, NULL, 'C' },
        { "timeout", required_argument, NULL, 'W' }, { "format", required_argument, NULL, 'F' },
        { "no-eol", no_argument, NULL, 'N' },
        { "unsubscribe", required_argument, NULL, 'U' },
        { "retained-only", no_argument, NULL, OPT_RETAINED_ONLY },
        { "no-local", no_argument, NULL, OPT_NO_LOCAL }, { "nl", no_argument, NULL, OPT_NO_LOCAL },
        { "retain-as-published", no_argument, NULL, OPT_RAP },
        { "rap", no_argument, NULL, OPT_RAP },
        { "retain-handling", required_argument, NULL, OPT_RETAIN_HANDLING },
        { NULL, 0, NULL, 0 },
    };
    char err[256];
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:" CLI_COMMON_SHORTOPTS "vC:W:F:NREU:", longopts,
                              NULL)) != -1) {
        if (opt == CLI_OPT_HELP) {
            command_print_usage(command_find("sub"), stdout);
            return CLI_PARSE_HELP;
        }
        if (opt == '?' || opt == ':')
            return usage_error(cli_getopt_error(opt, argv, err, sizeof err));
        int rc = cli_options_parse_one(&s->o, opt, optarg, argc, argv, &optind, err, sizeof err);
        if (rc < 0)
            return usage_error(err);
        if (rc == 0 && parse_tool_opt(s, opt, optarg) < 0) {
            snprintf(err, sizeof err, "bad value '%s' for -%c", optarg ? optarg : "",
                     opt < 0x100 ? opt : '-');
            return usage_error(err);
        }
    }
    if (optind < argc) {
        snprintf(err, sizeof err, "unexpected argument '%s'", argv[optind]);
        return usage_error(err);
    }
    return 0;
}

static int check_filters(const char *const *filters, size_t n)
{
    char err[300];
    for (size_t i = 0; i < n; i++) {
        if (!mqtt_topic_filter_valid(filters[i], strlen(filters[i])) ||
            mqtt_share_parse(filters[i], strlen(filters[i]), &(struct mqtt_share){ 0 }) ==
                MQTT_SHARE_INVALID) {
            snprintf(err, sizeof err, "invalid topic filter '%s' (are '+' and '#' whole levels?)",
                     filters[i]);
            return usage_error(err);
        }
    }
    return 0;
}

static int check_args(struct sub *s)
{
    char err[256];
    if (cli_options_finish(&s->o, err, sizeof err) < 0)
        return usage_error(err);
    if (!s->o.n_topics && !s->n_unsubs)
        return usage_error("no topic: give -t FILTER");
    if (s->o.version != MQTT_V5 && (s->no_local || s->rap || s->retain_handling))
        return usage_error("--no-local, --retain-as-published and --retain-handling need -V 5");
    int rc = check_filters(s->o.topics, s->o.n_topics);
    return rc ? rc : check_filters(s->unsubs, s->n_unsubs);
}

/* ---- the session ---------------------------------------------------------- */

static int send_subscribe(struct cli_client *c, struct sub *s)
{
    struct mqtt_sub_entry entries[CLI_MAX_TOPICS];
    for (size_t i = 0; i < s->o.n_topics; i++) {
        entries[i] = (struct mqtt_sub_entry){
            .filter = { (const uint8_t *)s->o.topics[i], (uint32_t)strlen(s->o.topics[i]) },
            .qos = (uint8_t)s->o.qos,
            .no_local = s->no_local,
            .retain_as_published = s->rap,
            .retain_handling = (uint8_t)s->retain_handling,
        };
    }
    struct mqtt_packet p = { .type = MQTT_SUBSCRIBE };
    p.u.subscribe.packet_id = s->sub_id = cli_client_new_id(c);
    p.u.subscribe.count = (uint32_t)s->o.n_topics;
    p.u.subscribe.subs = entries;
    if (s->o.version == MQTT_V5)
        p.u.subscribe.props = s->o.props[MQTT_SUBSCRIBE].props;
    return cli_client_send(c, &p);
}

static int send_unsubscribe(struct cli_client *c, struct sub *s)
{
    struct mqtt_bytes filters[CLI_MAX_TOPICS];
    for (size_t i = 0; i < s->n_unsubs; i++)
        filters[i] = (struct mqtt_bytes){ (const uint8_t *)s->unsubs[i],
                                          (uint32_t)strlen(s->unsubs[i]) };
    struct mqtt_packet p = { .type = MQTT_UNSUBSCRIBE };
    p.u.unsubscribe.packet_id = s->unsub_id = cli_client_new_id(c);
    p.u.unsubscribe.count = (uint32_t)s->n_unsubs;
    p.u.unsubscribe.filters = filters;
    if (s->o.version == MQTT_V5)
        p.u.unsubscribe.props = s->o.props[MQTT_UNSUBSCRIBE].props;
    return cli_client_send(c, &p);
}

/* Reports refused filters; STEP_FAIL when every one was refused. */
static enum step on_suback(struct cli_client *c, struct sub *s, const struct mqtt_suback *a)
{
    size_t refused = 0;
    if (s->o.debug)
        fprintf(stderr, "Subscribed (mid: %u):", a->packet_id);
    for (uint32_t i = 0; i < a->reasons.len; i++) {
        uint8_t code = a->reasons.data[i];
        if (s->o.debug)
            fprintf(stderr, "%s %u", i ? "," : "", code);
        if (code < 0x80)
            continue;
        refused++;
        fprintf(stderr, "%s%s: subscription to '%s' refused: %s\n", s->o.debug ? "\n" : "",
                PROG, i < s->o.n_topics ? s->o.topics[i] : "?",
                s->o.version == MQTT_V5 ? mqtt_reason_name(code) : "failure");
    }
    if (s->o.debug)
        fputc('\n', stderr);
    s->sub_id = 0;
    if (refused && refused == a->reasons.len)
        return STEP_FAIL;
    if (s->n_unsubs)
        return send_unsubscribe(c, s) < 0 ? STEP_FAIL : STEP_GO_ON;
    return s->exit_subscribed ? STEP_DONE : STEP_GO_ON;
}

static enum step on_unsuback(struct sub *s)
{
    s->unsub_id = 0;
    return s->exit_subscribed || !s->o.n_topics ? STEP_DONE : STEP_GO_ON;
}

static enum step on_message(struct sub *s, const struct mqtt_publish *m)
{
    if (s->retained_only && !m->retain)
        return STEP_DONE;
    if (s->skip_retained && m->retain)
        return STEP_GO_ON;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    cli_print_message(stdout, s->format, s->verbose, s->no_eol, m, &now);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror(PROG ": writing output");
        return STEP_FAIL;
    }
    return s->count && ++s->received >= s->count ? STEP_DONE : STEP_GO_ON;
}

static enum step on_packet(struct cli_client *c, struct sub *s, const struct mqtt_packet *p)
{
    switch (p->type) {
    case MQTT_PUBLISH: return on_message(s, &p->u.publish);
    case MQTT_SUBACK:
        return p->u.suback.packet_id == s->sub_id ? on_suback(c, s, &p->u.suback) : STEP_GO_ON;
    case MQTT_UNSUBACK:
        return p->u.suback.packet_id == s->unsub_id ? on_unsuback(s) : STEP_GO_ON;
    default: return STEP_GO_ON;
    }
}

/* Runs until done; returns the exit code and whether to disconnect cleanly. */
static int loop(struct cli_client *c, struct sub *s, bool *graceful)
{
    int64_t deadline = s->timeout ? cli_now_ms() + (int64_t)s->timeout * 1000 : -1;
    struct mqtt_packet p;
    for (;;) {
        int rc = cli_client_next(c, deadline, &p);
        if (rc == CLI_TIMEOUT) {
            fprintf(stderr, "Timed out\n");
            return EXIT_TIMED_OUT;
        }
        if (rc == CLI_INTERRUPTED)
            return EXIT_OK;
        if (rc != CLI_PACKET) {
            *graceful = false;
            return EXIT_RUNTIME;
        }
        enum step st = on_packet(c, s, &p);
        if (st != STEP_GO_ON)
            return st == STEP_DONE ? EXIT_OK : EXIT_RUNTIME;
    }
}

static int run(struct sub *s)
{
    char idbuf[64];
    snprintf(idbuf, sizeof idbuf, "mqgate-sub-%ld", (long)getpid());
    struct mqtt_connect conn;
    cli_connect_from_options(&conn, &s->o, s->o.id ? s->o.id : idbuf);
    struct cli_client c;
    bool present, graceful = true;
    cli_install_signals();
    if (cli_client_open(&c, PROG, s->o.host, s->o.port, &conn, s->o.debug, &present) < 0)
        return EXIT_RUNTIME;
    int rc = s->o.n_topics ? send_subscribe(&c, s) : send_unsubscribe(&c, s);
    rc = rc < 0 ? EXIT_RUNTIME : loop(&c, s, &graceful);
    cli_client_close(&c, graceful && c.fd >= 0, 0, &s->o.props[MQTT_DISCONNECT].props);
    return rc;
}

int cmd_sub(int argc, char **argv)
{
    struct sub *s = calloc(1, sizeof *s);
    if (!s) {
        fprintf(stderr, PROG ": out of memory\n");
        return EXIT_RUNTIME;
    }
    cli_options_init(&s->o);
    int rc = parse_args(s, argc, argv);
    if (rc == 0)
        rc = check_args(s);
    if (rc == 0)
        rc = run(s);
    else if (rc == CLI_PARSE_HELP)
        rc = EXIT_OK;
    free(s);
    return rc;
}
