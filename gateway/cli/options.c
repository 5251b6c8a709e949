/* Parsing the options `mqgate pub` and `mqgate sub` share, and -D MQTT 5
 * properties: property names come from the codec's table (spaces become
 * dashes), so every property the codec knows can be given. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/cli/options.h"
#include "gateway/mqtt/topic.h"

void cli_options_init(struct cli_options *o)
{
    memset(o, 0, sizeof *o);
    o->host = "localhost";
    o->port = 1883;
    o->version = MQTT_V311;
    o->keep_alive = 60;
    o->clean = true;
    for (int i = 0; i < CLI_PROP_SETS; i++)
        o->props[i].props.user = o->props[i].user;
}

bool cli_parse_uint(const char *s, unsigned long long min, unsigned long long max,
                    unsigned long long *out)
{
    if (!s || !isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static int parse_version(const char *s)
{
    if (!strcmp(s, "311") || !strcmp(s, "mqttv311") || !strcmp(s, "4"))
        return MQTT_V311;
    if (!strcmp(s, "5") || !strcmp(s, "mqttv5"))
        return MQTT_V5;
    return 0;
}

/* ---- -D ------------------------------------------------------------------- */

static const struct { const char *name; int ctx; } prop_commands[] = {
    { "connect", MQTT_CONNECT }, { "publish", MQTT_PUBLISH },
    { "subscribe", MQTT_SUBSCRIBE }, { "unsubscribe", MQTT_UNSUBSCRIBE },
    { "disconnect", MQTT_DISCONNECT }, { "will", MQTT_CTX_WILL },
};

static int prop_command(const char *s)
{
    for (size_t i = 0; i < sizeof prop_commands / sizeof prop_commands[0]; i++)
        if (!strcmp(s, prop_commands[i].name))
            return prop_commands[i].ctx;
    return -1;
}

/* "message-expiry-interval" against the codec's "message expiry interval". */
static bool prop_name_is(const char *arg, const char *name)
{
    for (; *arg && *name; arg++, name++) {
        char a = *arg == '-' ? ' ' : *arg;
        if (tolower((unsigned char)a) != tolower((unsigned char)*name))
            return false;
    }
    return *arg == *name;
}

static int prop_id(const char *s)
{
    for (unsigned id = 1; id < 64; id++) {
        const char *name = mqtt_prop_name(id);
        if (name && prop_name_is(s, name))
            return (int)id;
    }
    return -1;
}

static enum mqtt_prop_type prop_type(unsigned id)
{
    switch (id) {
#define CLI_PROP_TYPE(name, pid, type, text) case pid: return type;
        MQTT_PROP_LIST(CLI_PROP_TYPE)
#undef CLI_PROP_TYPE
    }
    return MQTT_PT_BYTE;
}

static bool text_slice(const char *s, struct mqtt_bytes *out)
{
    size_t len = strlen(s);
    if (len > MQTT_MAX_STRING || !mqtt_utf8_valid((const uint8_t *)s, len, NULL))
        return false;
    out->data = (const uint8_t *)s;
    out->len = (uint32_t)len;
    return true;
}

static bool binary_slice(const char *s, struct mqtt_bytes *out)
{
    size_t len = strlen(s);
    if (len > MQTT_MAX_STRING)
        return false;
    out->data = (const uint8_t *)s;
    out->len = (uint32_t)len;
    return true;
}

/* Where the value of property `id` lives in struct mqtt_props. */
static void *prop_field(struct mqtt_props *p, unsigned id)
{
    switch (id) {
    case MQTT_PROP_PAYLOAD_FORMAT: return &p->payload_format;
    case MQTT_PROP_MESSAGE_EXPIRY: return &p->message_expiry;
    case MQTT_PROP_CONTENT_TYPE: return &p->content_type;
    case MQTT_PROP_RESPONSE_TOPIC: return &p->response_topic;
    case MQTT_PROP_CORRELATION_DATA: return &p->correlation_data;
    case MQTT_PROP_SUBSCRIPTION_ID: return &p->subscription_id;
    case MQTT_PROP_SESSION_EXPIRY: return &p->session_expiry;
    case MQTT_PROP_ASSIGNED_CLIENT_ID: return &p->assigned_client_id;
    case MQTT_PROP_SERVER_KEEP_ALIVE: return &p->server_keep_alive;
    case MQTT_PROP_AUTH_METHOD: return &p->auth_method;
    case MQTT_PROP_AUTH_DATA: return &p->auth_data;
    case MQTT_PROP_REQUEST_PROBLEM_INFO: return &p->request_problem_info;
    case MQTT_PROP_WILL_DELAY: return &p->will_delay;
    case MQTT_PROP_REQUEST_RESPONSE_INFO: return &p->request_response_info;
    case MQTT_PROP_RESPONSE_INFO: return &p->response_info;
    case MQTT_PROP_SERVER_REFERENCE: return &p->server_reference;
    case MQTT_PROP_REASON_STRING: return &p->reason_string;
    case MQTT_PROP_RECEIVE_MAX: return &p->receive_max;
    case MQTT_PROP_TOPIC_ALIAS_MAX: return &p->topic_alias_max;
    case MQTT_PROP_TOPIC_ALIAS: return &p->topic_alias;
    case MQTT_PROP_MAX_QOS: return &p->max_qos;
    case MQTT_PROP_RETAIN_AVAILABLE: return &p->retain_available;
    case MQTT_PROP_MAX_PACKET_SIZE: return &p->max_packet_size;
    case MQTT_PROP_WILDCARD_SUB_AVAILABLE: return &p->wildcard_sub_available;
    case MQTT_PROP_SUB_ID_AVAILABLE: return &p->sub_id_available;
    case MQTT_PROP_SHARED_SUB_AVAILABLE: return &p->shared_sub_available;
    default: return NULL;
    }
}

/* Numeric properties: the type's range, narrowed where the spec says. */
static bool prop_set_number(struct mqtt_props *p, unsigned id, enum mqtt_prop_type t,
                            const char *s)
{
    unsigned long long max = t == MQTT_PT_BYTE ? 255 : t == MQTT_PT_U16 ? 65535
                             : t == MQTT_PT_U32 ? 4294967295ull : MQTT_MAX_REMAINING;
    unsigned long long min = 0;
    if (id == MQTT_PROP_SUBSCRIPTION_ID || id == MQTT_PROP_RECEIVE_MAX ||
        id == MQTT_PROP_MAX_PACKET_SIZE || id == MQTT_PROP_TOPIC_ALIAS)
        min = 1;
    if (t == MQTT_PT_BYTE)
        max = 1;   /* every byte property is a 0/1 flag */
    unsigned long long v;
    if (!cli_parse_uint(s, min, max, &v))
        return false;
    void *f = prop_field(p, id);
    if (t == MQTT_PT_BYTE)
        *(uint8_t *)f = (uint8_t)v;
    else if (t == MQTT_PT_U16)
        *(uint16_t *)f = (uint16_t)v;
    else
        *(uint32_t *)f = (uint32_t)v;
    return true;
}

static int prop_add_user(struct cli_propset *set, const char *name, const char *value,
                         char *err, size_t errlen)
{
    if (set->props.n_user == CLI_MAX_USER_PROPS) {
        snprintf(err, errlen, "more than %d user properties", CLI_MAX_USER_PROPS);
        return -1;
    }
    struct mqtt_user_prop *u = &set->user[set->props.n_user];
    if (!text_slice(name, &u->name) || !text_slice(value, &u->value)) {
        snprintf(err, errlen, "user property '%s' is not valid UTF-8 or too long", name);
        return -1;
    }
    set->props.n_user++;
    set->props.present |= MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY);
    return 4;
}

static int prop_set_value(struct mqtt_props *p, unsigned id, const char *name, const char *s,
                          char *err, size_t errlen)
{
    enum mqtt_prop_type t = prop_type(id);
    bool ok;
    if (t == MQTT_PT_STRING)
        ok = text_slice(s, prop_field(p, id));
    else if (t == MQTT_PT_BINARY)
        ok = binary_slice(s, prop_field(p, id));
    else
        ok = prop_set_number(p, id, t, s);
    if (!ok) {
        snprintf(err, errlen, "bad value '%s' for property %s", s, name);
        return -1;
    }
    p->present |= MQTT_PROP_BIT(id);
    return 3;
}

int cli_prop_parse(struct cli_propset sets[CLI_PROP_SETS], char *const *words, int n,
                   char *err, size_t errlen)
{
    if (n < 3) {
        snprintf(err, errlen, "-D needs COMMAND PROPERTY VALUE");
        return -1;
    }
    int ctx = prop_command(words[0]);
    if (ctx < 0) {
        snprintf(err, errlen, "-D: unknown command '%s' (connect, publish, subscribe, "
                 "unsubscribe, disconnect, will)", words[0]);
        return -1;
    }
    int id = prop_id(words[1]);
    if (id < 0) {
        snprintf(err, errlen, "-D: unknown property '%s'", words[1]);
        return -1;
    }
    if (!mqtt_prop_allowed((unsigned)id, (unsigned)ctx)) {
        snprintf(err, errlen, "-D: property %s is not allowed in %s", words[1], words[0]);
        return -1;
    }
    struct cli_propset *set = &sets[ctx];
    if (id == MQTT_PROP_USER_PROPERTY) {
        if (n < 4) {
            snprintf(err, errlen, "-D %s user-property needs NAME VALUE", words[0]);
            return -1;
        }
        return prop_add_user(set, words[2], words[3], err, errlen);
    }
    if (mqtt_props_has(&set->props, (unsigned)id)) {
        snprintf(err, errlen, "-D: property %s given twice for %s", words[1], words[0]);
        return -1;
    }
    return prop_set_value(&set->props, (unsigned)id, words[1], words[2], err, errlen);
}

/* ---- the common options ---------------------------------------------------- */

static int bad_value(char *err, size_t errlen, const char *what, const char *arg)
{
    snprintf(err, errlen, "bad %s '%s'", what, arg);
    return -1;
}

static int parse_number_opt(int opt, const char *arg, struct cli_options *o, char *err,
                            size_t errlen)
{
    unsigned long long v;
    switch (opt) {
    case 'p':
        if (!cli_parse_uint(arg, 1, 65535, &v))
            return bad_value(err, errlen, "port", arg);
        o->port = (int)v;
        return 1;
    case 'q':
    case CLI_OPT_WILL_QOS:
        if (!cli_parse_uint(arg, 0, 2, &v))
            return bad_value(err, errlen, "QoS (0, 1 or 2)", arg);
        *(opt == 'q' ? &o->qos : &o->will_qos) = (int)v;
        return 1;
    case 'k':
        if (!cli_parse_uint(arg, 0, 65535, &v))
            return bad_value(err, errlen, "keep alive (0..65535 seconds)", arg);
        o->keep_alive = (int)v;
        return 1;
    case 'x':
        if (!strcmp(arg, "-1") || !strcmp(arg, "∞"))
            v = UINT32_MAX;
        else if (!cli_parse_uint(arg, 0, UINT32_MAX, &v))
            return bad_value(err, errlen, "session expiry interval", arg);
        o->session_expiry = (uint32_t)v;
        o->has_expiry = true;
        return 1;
    }
    return 0;
}

int cli_options_parse_one(struct cli_options *o, int opt, const char *arg, int argc,
                          char **argv, int *optind_p, char *err, size_t errlen)
{
    switch (opt) {
    case 'h': o->host = arg; return 1;
    case 'i': o->id = arg; return 1;
    case 'u': o->username = arg; return 1;
    case 'P': o->password = arg; return 1;
    case 'c': o->clean = false; return 1;
    case 'd': o->debug = true; return 1;
    case CLI_OPT_WILL_TOPIC: o->will_topic = arg; return 1;
    case CLI_OPT_WILL_PAYLOAD: o->will_payload = arg; return 1;
    case CLI_OPT_WILL_RETAIN: o->will_retain = true; return 1;
    case 't':
        if (o->n_topics == CLI_MAX_TOPICS) {
            snprintf(err, errlen, "more than %d topics", CLI_MAX_TOPICS);
            return -1;
        }
        o->topics[o->n_topics++] = arg;
        return 1;
    case 'V':
        o->version = parse_version(arg);
        if (!o->version)
            return bad_value(err, errlen, "protocol version (311 or 5)", arg);
        return 1;
    case 'D': {
        /* getopt gave the command; the property and its values follow. */
        char *words[4] = { (char *)arg, NULL, NULL, NULL };
        int n = 1;
        for (int i = *optind_p; i < argc && n < 4; i++)
            words[n++] = argv[i];
        int used = cli_prop_parse(o->props, words, n, err, errlen);
        if (used < 0)
            return -1;
        *optind_p += used - 1;
        o->any_props = true;
        return 1;
    }
    }
    return parse_number_opt(opt, arg, o, err, errlen);
}

const char *cli_getopt_error(int opt, char **argv, char *err, size_t errlen)
{
    const char *what = opt == ':' ? "missing value for" : "unknown option";
    if (optopt && optopt < 0x100)
        snprintf(err, errlen, "%s '-%c'", what, optopt);
    else
        snprintf(err, errlen, "%s '%s'", what, argv[optind - 1]);
    return err;
}

int cli_options_finish(const struct cli_options *o, char *err, size_t errlen)
{
    if (o->version != MQTT_V5 && (o->any_props || o->has_expiry)) {
        snprintf(err, errlen, "%s needs MQTT 5 (-V 5)", o->any_props ? "-D" : "-x");
        return -1;
    }
    if (!o->will_topic && (o->will_payload || o->will_qos || o->will_retain)) {
        snprintf(err, errlen, "will options need --will-topic");
        return -1;
    }
    if (o->will_topic && !mqtt_topic_name_valid(o->will_topic, strlen(o->will_topic))) {
        snprintf(err, errlen, "invalid will topic '%s'", o->will_topic);
        return -1;
    }
    if (!o->clean && !o->id) {
        snprintf(err, errlen, "a persistent session (-c) needs a client id (-i)");
        return -1;
    }
    return 0;
}
