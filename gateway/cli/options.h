/* The command-line options `mqgate pub` and `mqgate sub` share (broker,
 * identity, protocol version, session, will, debug) and the MQTT 5
 * properties given with -D COMMAND PROPERTY VALUE. Parsing is pure: strings
 * are slices of argv, which outlives the parsed options. */
#ifndef MQGATE_GATEWAY_CLI_OPTIONS_H
#define MQGATE_GATEWAY_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/mqtt/mqtt.h"

#define CLI_MAX_USER_PROPS 32
#define CLI_MAX_TOPICS 64
#define CLI_PROP_SETS 16   /* indexed by packet type; 0 (MQTT_CTX_WILL) is the will */

/* The properties -D gave one packet type. props.user points at user[]. */
struct cli_propset {
    struct mqtt_props props;
    struct mqtt_user_prop user[CLI_MAX_USER_PROPS];
};

struct cli_options {
    const char *host;          /* default "localhost" */
    int port;                  /* default 1883 */
    int qos;                   /* -q, default 0 */
    const char *id;            /* -i, NULL: the tool makes one */
    const char *username;
    const char *password;
    int version;               /* MQTT_V311 (default) or MQTT_V5 */
    int keep_alive;            /* seconds, default 60 */
    bool clean;                /* false with -c */
    bool has_expiry;           /* -x given */
    uint32_t session_expiry;
    bool debug;                /* -d */
    const char *will_topic;
    const char *will_payload;
    int will_qos;
    bool will_retain;
    bool any_props;            /* some -D was given */
    struct cli_propset props[CLI_PROP_SETS];
    const char *topics[CLI_MAX_TOPICS]; /* -t, in order */
    size_t n_topics;
};

/* Defaults as documented above. */
void cli_options_init(struct cli_options *o);

/* The short and long options cli_options_parse_one handles; a tool appends
 * its own to both. */
#define CLI_COMMON_SHORTOPTS "h:p:t:q:i:u:P:V:k:cx:D:d"
enum {
    CLI_OPT_HELP = 0x100,
    CLI_OPT_WILL_TOPIC,
    CLI_OPT_WILL_PAYLOAD,
    CLI_OPT_WILL_QOS,
    CLI_OPT_WILL_RETAIN,
    CLI_OPT_TOOL,              /* first value free for the tools' long options */
};
#define CLI_COMMON_LONGOPTS \
    { "host", required_argument, NULL, 'h' }, { "port", required_argument, NULL, 'p' }, \
    { "topic", required_argument, NULL, 't' }, { "qos", required_argument, NULL, 'q' }, \
    { "id", required_argument, NULL, 'i' }, { "username", required_argument, NULL, 'u' }, \
    { "pw", required_argument, NULL, 'P' }, { "protocol-version", required_argument, NULL, 'V' }, \
    { "keepalive", required_argument, NULL, 'k' }, \
    { "disable-clean-session", no_argument, NULL, 'c' }, \
    { "session-expiry-interval", required_argument, NULL, 'x' }, \
    { "property", required_argument, NULL, 'D' }, { "debug", no_argument, NULL, 'd' }, \
    { "help", no_argument, NULL, CLI_OPT_HELP }, \
    { "will-topic", required_argument, NULL, CLI_OPT_WILL_TOPIC }, \
    { "will-payload", required_argument, NULL, CLI_OPT_WILL_PAYLOAD }, \
    { "will-qos", required_argument, NULL, CLI_OPT_WILL_QOS }, \
    { "will-retain", no_argument, NULL, CLI_OPT_WILL_RETAIN }

/* Applies one option getopt_long returned, `arg` its argument. For -D the
 * remaining words are argv[*optind..argc) and *optind moves past those used.
 * Returns 1 when handled, 0 when `opt` is not a common option, -1 on a bad
 * value with the reason in err. */
int cli_options_parse_one(struct cli_options *o, int opt, const char *arg, int argc,
                          char **argv, int *optind, char *err, size_t errlen);

/* What a tool's argument parser returns after printing --help. */
#define CLI_PARSE_HELP (-1)

/* The message for getopt_long's '?' (unknown option) or ':' (missing value),
 * written into err. */
const char *cli_getopt_error(int opt, char **argv, char *err, size_t errlen);

/* Checks the options together once all are read (properties or -x without
 * -V 5, will options without --will-topic, -c without -i). 0 or -1 with err. */
int cli_options_finish(const struct cli_options *o, char *err, size_t errlen);

/* -D: words[0] is the command (connect, publish, subscribe, unsubscribe,
 * disconnect, will), words[1] the property name as mosquitto spells it
 * ("message-expiry-interval"), then one value (two for user-property).
 * Sets it in sets[packet type]. Returns the words used (3 or 4), or -1 with
 * the reason in err: unknown command or property, property not allowed in
 * that packet, value out of range or not UTF-8, given twice, too many user
 * properties. */
int cli_prop_parse(struct cli_propset sets[CLI_PROP_SETS], char *const *words, int n,
                   char *err, size_t errlen);

/* Parses a whole number in [min, max]; false when it is not one. */
bool cli_parse_uint(const char *s, unsigned long long min, unsigned long long max,
                    unsigned long long *out);

#endif
