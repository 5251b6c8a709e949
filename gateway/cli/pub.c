/* `mqgate pub`: publish one message (-m, -f, -n, -s, maybe repeated) or each
 * line of stdin (-l) to any MQTT 3.1.1/5.0 broker, with mosquitto_pub's
 * options; QoS 1 and 2 flows complete before it disconnects. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/cli/client.h"
#include "gateway/commands.h"
#include "gateway/mqtt/topic.h"

#define PROG "mqgate pub"
#define MAX_MESSAGE (256u * 1024 * 1024)

enum pub_source { SRC_NONE, SRC_MESSAGE, SRC_FILE, SRC_LINES, SRC_NULL, SRC_STDIN };

enum {
    OPT_REPEAT = CLI_OPT_TOOL,
    OPT_REPEAT_DELAY,
};

struct pub {
    struct cli_options o;
    enum pub_source source;
    const char *message;
    const char *file;
    bool retain;
    unsigned long long repeat;
    double repeat_delay;   /* seconds */
    char *data;            /* the message read from -f or -s, owned */
    size_t len;
    bool alias_set;        /* the topic alias has been sent with its topic */
};

static int usage_error(const char *msg)
{
    fprintf(stderr, PROG ": %s\nSee 'mqgate pub --help'.\n", msg);
    return EXIT_USAGE;
}

static int set_source(struct pub *p, enum pub_source s, const char *arg)
{
    if (p->source != SRC_NONE)
        return -1;
    p->source = s;
    if (s == SRC_MESSAGE)
        p->message = arg;
    if (s == SRC_FILE)
        p->file = arg;
    return 0;
}

static int parse_tool_opt(struct pub *p, int opt, const char *arg)
{
    char *end;
    switch (opt) {
    case 'm': return set_source(p, SRC_MESSAGE, arg);
    case 'f': return set_source(p, SRC_FILE, arg);
    case 'l': return set_source(p, SRC_LINES, arg);
    case 'n': return set_source(p, SRC_NULL, arg);
    case 's': return set_source(p, SRC_STDIN, arg);
    case 'r': p->retain = true; return 0;
    case OPT_REPEAT:
        return cli_parse_uint(arg, 1, 1000000000, &p->repeat) ? 0 : -2;
    case OPT_REPEAT_DELAY:
        p->repeat_delay = strtod(arg, &end);
        return *end || end == arg || !(p->repeat_delay >= 0 && p->repeat_delay < 1e6) ? -2 : 0;
    }
    return -3;
}

/* 0 to go on, PARSE_HELP after --help, or EXIT_USAGE. */
static int parse_args(struct pub *p, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        { "message", required_argument, NULL, 'm' }, { "file", required_argument, NULL, 'f' },
        { "stdin-line", no_argument, NULL, 'l' }, { "null-message", no_argument, NULL, 'n' },
        { "stdin-file", no_argument, NULL, 's' }, { "retain", no_argument, NULL, 'r' },
        { "repeat", required_argument, NULL, OPT_REPEAT },
        { "repeat-delay", required_argument, NULL, OPT_REPEAT_DELAY },
        { NULL, 0, NULL, 0 },
    };
    char err[256];
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:" CLI_COMMON_SHORTOPTS "m:f:lnsr", longopts, NULL)) != -1) {
        if (opt == CLI_OPT_HELP) {
            command_print_usage(command_find("pub"), stdout);
            return CLI_PARSE_HELP;
        }
        if (opt == '?' || opt == ':')
            return usage_error(cli_getopt_error(opt, argv, err, sizeof err));
        int rc = cli_options_parse_one(&p->o, opt, optarg, argc, argv, &optind, err, sizeof err);
        if (rc < 0)
            return usage_error(err);
        if (rc > 0)
            continue;
        rc = parse_tool_opt(p, opt, optarg);
        if (rc == -1)
            return usage_error("give only one of -m, -f, -l, -n, -s");
        if (rc == -2)
            return usage_error("bad --repeat or --repeat-delay value");
    }
    if (optind < argc) {
        snprintf(err, sizeof err, "unexpected argument '%s'", argv[optind]);
        return usage_error(err);
    }
    return 0;
}

static int check_args(struct pub *p)
{
    char err[256];
    if (cli_options_finish(&p->o, err, sizeof err) < 0)
        return usage_error(err);
    if (p->o.n_topics != 1)
        return usage_error(p->o.n_topics ? "give one topic (-t)" : "no topic: give -t TOPIC");
    const char *t = p->o.topics[0];
    if (!mqtt_topic_name_valid(t, strlen(t))) {
        snprintf(err, sizeof err, "invalid topic '%s' (no '+' or '#' in a topic name)", t);
        return usage_error(err);
    }
    if (p->source == SRC_NONE)
        return usage_error("no message: give one of -m, -f, -l, -n, -s");
    if (p->repeat && p->source == SRC_LINES)
        return usage_error("--repeat does not go with -l");
    return 0;
}

/* Reads all of `fd` into p->data. */
static int read_all(struct pub *p, int fd, const char *name)
{
    size_t cap = 0;
    for (;;) {
        if (p->len == cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = cap <= 2 * (size_t)MAX_MESSAGE ? realloc(p->data, cap) : NULL;
            if (!nb) {
                fprintf(stderr, PROG ": %s: too large or out of memory\n", name);
                return -1;
            }
            p->data = nb;
        }
        ssize_t n = read(fd, p->data + p->len, cap - p->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, PROG ": cannot read %s: %s\n", name, strerror(errno));
            return -1;
        }
        if (n == 0)
            break;
        p->len += (size_t)n;
    }
    if (p->len > MAX_MESSAGE) {
        fprintf(stderr, PROG ": %s: over the MQTT maximum message size\n", name);
        return -1;
    }
    return 0;
}

static int load_message(struct pub *p)
{
    if (p->source == SRC_STDIN)
        return read_all(p, 0, "stdin");
    if (p->source != SRC_FILE)
        return 0;
    FILE *f = fopen(p->file, "rb");
    if (!f) {
        fprintf(stderr, PROG ": cannot open %s: %s\n", p->file, strerror(errno));
        return -1;
    }
    int rc = read_all(p, fileno(f), p->file);
    fclose(f);
    return rc;
}

static int publish(struct cli_client *c, struct pub *p, const void *data, size_t len)
{
    struct mqtt_publish m = {
        .qos = (uint8_t)p->o.qos,
        .retain = p->retain,
        .topic = { (const uint8_t *)p->o.topics[0], (uint32_t)strlen(p->o.topics[0]) },
        .payload = { data, (uint32_t)len },
    };
    if (p->o.version == MQTT_V5) {
        m.props = p->o.props[MQTT_PUBLISH].props;
        /* Once the broker knows the alias, the topic can be left out. */
        if (mqtt_props_has(&m.props, MQTT_PROP_TOPIC_ALIAS)) {
            if (p->alias_set)
                m.topic.len = 0;
            p->alias_set = true;
        }
    }
    return cli_client_publish(c, &m);
}

/* -l: each line of stdin (without its newline) is a message; the connection
 * is served while stdin is idle. */
static int publish_lines(struct cli_client *c, struct pub *p)
{
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : CLI_ERROR;
    c->watch_fd = 0;
    while (rc == 0) {
        char *nl;
        while (rc == 0 && (nl = memchr(buf, '\n', len))) {
            rc = publish(c, p, buf, (size_t)(nl - buf));
            len -= (size_t)(nl - buf) + 1;
            memmove(buf, nl + 1, len);
        }
        if (rc)
            break;
        if (len == cap) {
            char *nb = cap < MAX_MESSAGE ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                fprintf(stderr, PROG ": line too long\n");
                rc = CLI_ERROR;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        struct mqtt_packet pkt;
        int w = cli_client_next(c, -1, &pkt);
        if (w == CLI_PACKET)
            continue;    /* a message for this client id: acked, ignored */
        if (w != CLI_FD_READY) {
            rc = w;
            break;
        }
        ssize_t n = read(0, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                fprintf(stderr, PROG ": reading stdin: %s\n", strerror(errno));
            rc = n < 0 ? CLI_ERROR : (len ? publish(c, p, buf, len) : 0);
            break;
        }
        len += (size_t)n;
    }
    free(buf);
    c->watch_fd = -1;
    return rc;
}

/* Sleeps `seconds` while serving the connection. */
static int pause_serving(struct cli_client *c, double seconds)
{
    int64_t end = cli_now_ms() + (int64_t)(seconds * 1000);
    struct mqtt_packet pkt;
    int rc;
    while ((rc = cli_client_next(c, end, &pkt)) == CLI_PACKET)
        ;
    return rc == CLI_TIMEOUT ? 0 : rc;
}

static int publish_all(struct cli_client *c, struct pub *p)
{
    if (p->source == SRC_LINES)
        return publish_lines(c, p);
    const char *data = p->source == SRC_MESSAGE ? p->message : p->data;
    size_t len = p->source == SRC_MESSAGE ? strlen(p->message) : p->len;
    unsigned long long n = p->repeat ? p->repeat : 1;
    for (unsigned long long i = 0; i < n; i++) {
        int rc = publish(c, p, data, len);
        if (rc == 0 && i + 1 < n && p->repeat_delay > 0)
            rc = pause_serving(c, p->repeat_delay);
        if (rc)
            return rc;
    }
    return 0;
}

static int run(struct pub *p)
{
    if (load_message(p) < 0)
        return EXIT_RUNTIME;
    char idbuf[64];
    snprintf(idbuf, sizeof idbuf, "mqgate-pub-%ld", (long)getpid());
    struct mqtt_connect conn;
    cli_connect_from_options(&conn, &p->o, p->o.id ? p->o.id : idbuf);
    struct cli_client c;
    bool present;
    cli_install_signals();
    if (cli_client_open(&c, PROG, p->o.host, p->o.port, &conn, p->o.debug, &present) < 0)
        return EXIT_RUNTIME;
    const struct mqtt_props *alias = &p->o.props[MQTT_PUBLISH].props;
    if (mqtt_props_has(alias, MQTT_PROP_TOPIC_ALIAS) && alias->topic_alias > c.broker_alias_max) {
        fprintf(stderr, PROG ": the broker accepts topic aliases up to %u\n", c.broker_alias_max);
        cli_client_close(&c, true, 0, NULL);
        return EXIT_RUNTIME;
    }
    int rc = publish_all(&c, p);
    if (rc == CLI_INTERRUPTED)
        fprintf(stderr, PROG ": interrupted\n");
    cli_client_close(&c, rc != CLI_ERROR, 0, &p->o.props[MQTT_DISCONNECT].props);
    return rc ? EXIT_RUNTIME : EXIT_OK;
}

int cmd_pub(int argc, char **argv)
{
    struct pub *p = calloc(1, sizeof *p);
    if (!p) {
        fprintf(stderr, PROG ": out of memory\n");
        return EXIT_RUNTIME;
    }
    cli_options_init(&p->o);
    int rc = parse_args(p, argc, argv);
    if (rc == 0)
        rc = check_args(p);
    if (rc == 0)
        rc = run(p);
    else if (rc == CLI_PARSE_HELP)
        rc = EXIT_OK;
    free(p->data);
    free(p);
    return rc;
}
