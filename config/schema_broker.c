/* Schema of the `broker` section: the embedded MQTT broker's listeners,
 * limits, authentication and persistence. */
#include "config/config.h"
#include "config/schema.h"

static const struct cfg_enum_name protocol_names[] = {
    { "mqtt", CFG_LISTENER_MQTT }, { "mqtts", CFG_LISTENER_MQTTS }, { NULL, 0 },
};
const struct cfg_enum_name cfg_tls_version_names[] = {
    { "1.2", CFG_TLS_1_2 }, { "1.3", CFG_TLS_1_3 }, { NULL, 0 },
};

#define T struct cfg_listener_tls
static const struct cfg_key listener_tls_keys[] = {
    KEY_STRING(T, cert_file, "cert_file", .doc = "Server certificate (PEM), chain included."),
    KEY_STRING(T, key_file, "key_file", .doc = "Private key of `cert_file` (PEM)."),
    KEY_STRING(T, ca_file, "ca_file", .doc = "CA certificates that client certificates must chain to."),
    KEY_BOOL(T, require_certificate, "require_certificate", .def = "false",
             .doc = "Refuse clients without a certificate signed by `ca_file`."),
    KEY_BOOL(T, use_identity_as_username, "use_identity_as_username", .def = "false",
             .doc = "Use the client certificate's CN as the MQTT username."),
    KEY_ENUM(T, min_version, "min_version", cfg_tls_version_names, .def = "1.2",
             .doc = "Oldest TLS version accepted."),
    KEY_STRING(T, ciphers, "ciphers", .doc = "OpenSSL cipher list for TLS 1.2 (default: OpenSSL's)."),
    KEY_STRING(T, ciphersuites, "ciphersuites", .doc = "OpenSSL ciphersuites for TLS 1.3."),
    { .name = NULL },
};
#undef T
static const struct cfg_section listener_tls_section = SECTION_OF(struct cfg_listener_tls, "tls",
    "broker.listeners[].tls", listener_tls_keys, .doc = "TLS settings of an `mqtts` listener.");

#define L struct cfg_listener
static const struct cfg_key listener_keys[] = {
    KEY_STRING(L, bind, "bind", .def = "127.0.0.1", .flags = CFG_NONEMPTY,
               .doc = "Address to listen on; `0.0.0.0` or `::` for every interface.",
               .example = "0.0.0.0"),
    KEY_INT(L, port, "port", .def = "1883", .min = "0", .max = "65535",
            .doc = "TCP port (0: any free port, logged at start)."),
    KEY_ENUM(L, protocol, "protocol", protocol_names, .def = "mqtt",
             .doc = "`mqtt` (plain TCP) or `mqtts` (TLS; needs `tls`)."),
    KEY_BOOL(L, allow_anonymous, "allow_anonymous",
             .doc = "Accept clients without a username. Default: true when every listener is "
                    "on a loopback address, false otherwise."),
    KEY_SECTION(L, tls, "tls", &listener_tls_section, .doc = "TLS settings (protocol: mqtts)."),
    { .name = NULL },
};
#undef L
static const struct cfg_section listener_section = SECTION_OF(struct cfg_listener, "listener",
    "broker.listeners[]", listener_keys, .doc = "One socket the broker accepts clients on.");

#define A struct cfg_broker_auth
static const struct cfg_key auth_keys[] = {
    KEY_STRING(A, password_file, "password_file",
               .doc = "Password file written by `mqgate passwd` (PBKDF2-SHA512).",
               .example = "/etc/mqgate/passwd"),
    KEY_STRING(A, acl_file, "acl_file", .doc = "Access control list file.",
               .example = "/etc/mqgate/acl"),
    { .name = NULL },
};
#undef A
static const struct cfg_section auth_section = SECTION_OF(struct cfg_broker_auth, "auth",
    "broker.auth", auth_keys, .doc = "Who may connect, and what they may do.");

#define S struct cfg_broker_persistence
static const struct cfg_key persistence_keys[] = {
    KEY_BOOL(S, enabled, "enabled", .def = "true",
             .doc = "Keep retained messages and persistent sessions across restarts."),
    KEY_STRING(S, dir, "dir", .doc = "Where the broker's state lives. Default: `<state_dir>/broker`."),
    KEY_DURATION(S, flush_interval, "flush_interval", .def = "1s", .min = "0", .max = "1h",
                 .doc = "Longest time a change waits before it is written and synced (0: at once)."),
    { .name = NULL },
};
#undef S
static const struct cfg_section persistence_section = SECTION_OF(struct cfg_broker_persistence,
    "persistence", "broker.persistence", persistence_keys,
    .doc = "Durable broker state under the state directory.");

#define B struct cfg_broker
static const struct cfg_key broker_keys[] = {
    KEY_BOOL(B, enabled, "enabled", .def = "true",
             .doc = "Run the embedded broker. Without it, readings go only to the bridge."),
    KEY_LIST(B, listeners, n_listeners, "listeners", &listener_section,
             .doc = "Listening sockets. Default: one plain listener on 127.0.0.1:1883."),
    KEY_INT(B, max_connections, "max_connections", .def = "1024", .min = "1", .max = "100000",
            .doc = "Clients connected at once; more are refused."),
    KEY_SIZE(B, max_packet_size, "max_packet_size", .def = "256KiB", .min = "64", .max = "256MiB",
             .doc = "Largest MQTT packet accepted from a client."),
    KEY_INT(B, max_keepalive, "max_keepalive", .def = "65535", .min = "10", .max = "65535",
            .doc = "Longest keep alive (seconds) a client may ask for; v5 clients that ask for "
                   "more are told this one."),
    KEY_INT(B, receive_maximum, "receive_maximum", .def = "64", .min = "1", .max = "65535",
            .doc = "QoS 1/2 messages a client may have unacknowledged towards the broker."),
    KEY_INT(B, topic_alias_maximum, "topic_alias_maximum", .def = "10", .min = "0", .max = "65535",
            .doc = "Topic aliases a v5 client may use towards the broker."),
    KEY_INT(B, max_inflight, "max_inflight", .def = "32", .min = "1", .max = "65535",
            .doc = "QoS 1/2 messages in flight to one client."),
    KEY_INT(B, max_queued_messages, "max_queued_messages", .def = "10000", .min = "0",
            .max = "10000000",
            .doc = "Messages queued for one offline persistent session (0: no limit); "
                   "past it, new messages for that session are dropped and counted."),
    KEY_SIZE(B, max_queued_bytes, "max_queued_bytes", .def = "16MiB", .min = "0", .max = "4GiB",
             .doc = "Bytes queued for one client (0: no limit)."),
    KEY_DURATION(B, max_session_expiry, "max_session_expiry", .def = "7d", .min = "0", .max = "49710d",
                 .doc = "Longest time an offline persistent session is kept."),
    KEY_DURATION(B, connect_timeout, "connect_timeout", .def = "10s", .min = "100ms", .max = "10m",
                 .doc = "Time a client has to send CONNECT after the TCP connection opens."),
    KEY_INT(B, max_connect_rate, "max_connect_rate", .def = "0", .min = "0", .max = "100000",
            .doc = "New connections per second from one address (0: no limit)."),
    KEY_SIZE(B, memory_limit, "memory_limit", .def = "0", .min = "0",
             .doc = "Ceiling on the memory the broker holds for messages and client buffers "
                    "(0: none); past it, QoS 0 messages are dropped, MQTT 5 publishers refused "
                    "with 0x97 and 3.1.1 publishers slowed. The gateway's own messages are "
                    "never refused."),
    KEY_BOOL(B, retain_available, "retain_available", .def = "true",
             .doc = "Support retained messages."),
    KEY_DURATION(B, sys_interval, "sys_interval", .def = "10s", .min = "0", .max = "1h",
                 .doc = "How often `$SYS/broker/...` topics are updated (0: never)."),
    KEY_SECTION(B, auth, "auth", &auth_section, .doc = "Password and ACL files."),
    KEY_SECTION(B, persistence, "persistence", &persistence_section, .doc = "Durable state."),
    { .name = NULL },
};
#undef B
const struct cfg_section cfg_schema_broker = SECTION_OF(struct cfg_broker, "broker", "broker",
    broker_keys, .doc = "The embedded MQTT 3.1.1/5.0 broker that local subscribers connect to.");
