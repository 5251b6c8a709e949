/* Schema of the `bridge` section: the upstream broker connection, the topic
 * rules in both directions and the store-and-forward spool. */
#include "config/config.h"
#include "config/schema.h"
#include "config/template.h"

static const struct cfg_enum_name mqtt_version_names[] = {
    { "3.1.1", CFG_MQTT_311 }, { "5", CFG_MQTT_5 }, { NULL, 0 },
};
static const struct cfg_enum_name retain_names[] = {
    { "keep", CFG_RETAIN_KEEP }, { "true", CFG_RETAIN_ON }, { "false", CFG_RETAIN_OFF }, { NULL, 0 },
};
static const struct cfg_enum_name full_policy_names[] = {
    { "drop_oldest", CFG_FULL_DROP_OLDEST }, { "drop_newest", CFG_FULL_DROP_NEWEST }, { NULL, 0 },
};
static const struct cfg_enum_name fsync_names[] = {
    { "always", CFG_FSYNC_ALWAYS }, { "batch", CFG_FSYNC_BATCH }, { "never", CFG_FSYNC_NEVER },
    { NULL, 0 },
};

#define T struct cfg_bridge_tls
static const struct cfg_key tls_keys[] = {
    KEY_STRING(T, ca_file, "ca_file",
               .doc = "CA certificates to verify the upstream broker with (default: the system's)."),
    KEY_STRING(T, cert_file, "cert_file", .doc = "Client certificate (PEM), for brokers that ask for one."),
    KEY_STRING(T, key_file, "key_file", .doc = "Private key of `cert_file`."),
    KEY_BOOL(T, verify_hostname, "verify_hostname", .def = "true",
             .doc = "Check that the broker's certificate names the host in `url`."),
    KEY_ENUM(T, min_version, "min_version", cfg_tls_version_names, .def = "1.2",
             .doc = "Oldest TLS version used."),
    { .name = NULL },
};
#undef T
static const struct cfg_section tls_section = SECTION_OF(struct cfg_bridge_tls, "tls",
    "bridge.tls", tls_keys, .doc = "TLS to the upstream broker (mqtts:// URLs).");

#define R struct cfg_topic_rule
static const struct cfg_key forward_keys[] = {
    KEY_STRING(R, filter, "filter", .flags = CFG_REQUIRED | CFG_NONEMPTY,
               .doc = "Local topic filter (`+` and `#` allowed).", .example = "mqgate/#"),
    KEY_STRING(R, strip_prefix, "strip_prefix", .doc = "Removed from the start of the topic.",
               .example = "mqgate/"),
    KEY_STRING(R, add_prefix, "add_prefix", .doc = "Put in front of the topic (after stripping).",
               .example = "sites/barn/"),
    KEY_TEMPLATE(R, topic, "topic", TVARS_BRIDGE_TOPIC,
                 .doc = "Instead of the prefixes: the remote topic, `{topic}` being the local one.",
                 .example = "sites/{gateway}/{topic}"),
    KEY_INT(R, qos, "qos", .def = "1", .min = "0", .max = "2", .doc = "QoS towards the upstream broker."),
    KEY_ENUM(R, retain, "retain", retain_names, .def = "keep",
             .doc = "`keep` the message's retain flag, or force it `true`/`false`."),
    KEY_BOOL(R, spool, "spool", .def = "true",
             .doc = "QoS 0 only: keep messages in the disk spool while the uplink is down "
                    "(QoS 1 and 2 always are)."),
    { .name = NULL },
};
static const struct cfg_key receive_keys[] = {
    KEY_STRING(R, filter, "filter", .flags = CFG_REQUIRED | CFG_NONEMPTY,
               .doc = "Remote topic filter subscribed to upstream.", .example = "sites/barn/cmd/#"),
    KEY_STRING(R, strip_prefix, "strip_prefix", .doc = "Removed from the start of the topic.",
               .example = "sites/barn/cmd/"),
    KEY_STRING(R, add_prefix, "add_prefix", .doc = "Put in front of the topic (after stripping).",
               .example = "mqgate/"),
    KEY_TEMPLATE(R, topic, "topic", TVARS_BRIDGE_TOPIC,
                 .doc = "Instead of the prefixes: the local topic, `{topic}` being the remote one."),
    KEY_INT(R, qos, "qos", .def = "1", .min = "0", .max = "2", .doc = "QoS of the subscription."),
    KEY_ENUM(R, retain, "retain", retain_names, .def = "keep", .doc = "Retain flag locally."),
    { .name = NULL },
};
#undef R
static const struct cfg_section forward_section = SECTION_OF(struct cfg_topic_rule, "forward rule",
    "bridge.forward[]", forward_keys, .doc = "Local messages sent upstream.");
static const struct cfg_section receive_section = SECTION_OF(struct cfg_topic_rule, "receive rule",
    "bridge.receive[]", receive_keys, .doc = "Upstream messages published locally.");

#define S struct cfg_spool
static const struct cfg_key spool_keys[] = {
    KEY_STRING(S, dir, "dir", .doc = "Where the spool's segment files live. Default: `<state_dir>/spool`."),
    KEY_SIZE(S, max_size, "max_size", .def = "64MiB", .min = "64KiB", .max = "1024GiB",
             .doc = "Disk budget of the spool."),
    KEY_ENUM(S, full_policy, "full_policy", full_policy_names, .def = "drop_oldest",
             .doc = "What a full spool drops; every drop is counted and logged."),
    KEY_DURATION(S, max_age, "max_age", .def = "0", .min = "0", .max = "3650d",
                 .doc = "Messages older than this are dropped, counted (0: kept until sent)."),
    KEY_ENUM(S, fsync, "fsync", fsync_names, .def = "batch",
             .doc = "`always`: synced before a message counts as accepted; `batch`: every "
                    "`fsync_interval`; `never`: the OS decides."),
    KEY_DURATION(S, fsync_interval, "fsync_interval", .def = "200ms", .min = "1ms", .max = "1m",
                 .doc = "Group commit interval of `fsync: batch`."),
    KEY_SIZE(S, segment_size, "segment_size", .def = "4MiB", .min = "64KiB", .max = "1GiB",
             .doc = "Size of one segment file."),
    KEY_INT(S, max_inflight, "max_inflight", .def = "64", .min = "1", .max = "65535",
            .doc = "Messages sent upstream and not yet acknowledged (also kept below the "
                   "upstream broker's Receive Maximum)."),
    { .name = NULL },
};
#undef S
static const struct cfg_section spool_section = SECTION_OF(struct cfg_spool, "spool",
    "bridge.spool", spool_keys, .doc = "The crash-safe, bounded disk buffer (store-and-forward).");

#define B struct cfg_bridge
static const struct cfg_key bridge_keys[] = {
    KEY_BOOL(B, enabled, "enabled", .def = "true", .doc = "Connect upstream (when `url` is set)."),
    KEY_STRING(B, url, "url", .flags = CFG_REQUIRED | CFG_NONEMPTY,
               .doc = "`mqtt://host[:port]` or `mqtts://host[:port]`.",
               .example = "mqtts://broker.example.com:8883"),
    KEY_ENUM(B, mqtt_version, "mqtt_version", mqtt_version_names, .def = "5",
             .doc = "Protocol towards the upstream broker."),
    KEY_TEMPLATE(B, client_id, "client_id", TVARS_CLIENT_ID, .def = "{gateway}-bridge",
                 .doc = "Client id upstream."),
    KEY_STRING(B, username, "username", .doc = "Upstream username; `${ENV}` keeps it out of the file."),
    KEY_STRING(B, password, "password", .flags = CFG_SECRET,
               .doc = "Upstream password; use `${ENV}`.", .example = "${MQGATE_CLOUD_PASSWORD}"),
    KEY_DURATION(B, keepalive, "keepalive", .def = "60s", .min = "0", .max = "65535s",
                 .doc = "MQTT keep alive (0: off)."),
    KEY_BOOL(B, clean_start, "clean_start", .def = "false",
             .doc = "Start a new upstream session at each connect."),
    KEY_DURATION(B, session_expiry, "session_expiry", .def = "1d", .min = "0", .max = "49710d",
                 .doc = "MQTT 5: how long the upstream broker keeps our session."),
    KEY_DURATION(B, reconnect_min, "reconnect_min", .def = "1s", .min = "100ms", .max = "1h",
                 .doc = "First wait before reconnecting (doubles, with jitter)."),
    KEY_DURATION(B, reconnect_max, "reconnect_max", .def = "2m", .min = "100ms", .max = "1h",
                 .doc = "Longest wait between reconnects."),
    KEY_SECTION(B, tls, "tls", &tls_section, .doc = "TLS settings."),
    KEY_LIST(B, forward, n_forward, "forward", &forward_section, .doc = "Local → upstream rules."),
    KEY_LIST(B, receive, n_receive, "receive", &receive_section, .doc = "Upstream → local rules."),
    KEY_STRINGS(B, receive_allow, "receive_allow", .def = "[\"{gateway}/+/+/set\"]",
                .doc = "Local topic filters that receive rules may publish to (`{gateway}` "
                       "is replaced); anything else from upstream is dropped and logged."),
    KEY_SECTION(B, spool, "spool", &spool_section, .doc = "Store-and-forward buffer."),
    { .name = NULL },
};
#undef B
const struct cfg_section cfg_schema_bridge = SECTION_OF(struct cfg_bridge, "bridge", "bridge",
    bridge_keys, .doc = "The upstream (cloud) connection. Absent: no bridge.");
