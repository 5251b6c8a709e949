/* The configuration of the whole product as typed C structs, and the calls that
 * load, check and free it. The schema behind these structs (names, defaults,
 * bounds, docs) is in config/schema_*.c; the reference is config/README.md.
 *
 * Ownership: config_load returns one `struct config` that owns every string
 * and array inside it; config_free releases all of it. Nothing in it is shared
 * with the caller's data, so a reload can build a new one and swap. */
#ifndef MQGATE_CONFIG_CONFIG_H
#define MQGATE_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/diag.h"

/* ---- value types ------------------------------------------------------- */

/* A `{var}` template, kept as written plus where it was written, so errors
 * found when it is used (or inherited) still point at the file. */
struct cfg_template {
    char *text;
    struct cfg_pos pos;
};

struct cfg_strings {
    char **items;
    size_t count;
};

struct cfg_bytes {
    uint8_t *data;
    size_t len;
};

struct cfg_enum_entry {
    int64_t value;
    char *label;
};

struct cfg_enum_map {
    struct cfg_enum_entry *entries;
    size_t count;
};

/* ---- enumerations ------------------------------------------------------ */

enum cfg_log_level { CFG_LOG_ERROR, CFG_LOG_WARN, CFG_LOG_INFO, CFG_LOG_DEBUG, CFG_LOG_TRACE };
enum cfg_listener_protocol { CFG_LISTENER_MQTT, CFG_LISTENER_MQTTS };
enum cfg_tls_version { CFG_TLS_1_2, CFG_TLS_1_3 };
enum cfg_bus_type { CFG_BUS_MODBUS_RTU, CFG_BUS_MODBUS_TCP, CFG_BUS_UART };
enum cfg_parity { CFG_PARITY_NONE, CFG_PARITY_EVEN, CFG_PARITY_ODD };
enum cfg_flow_control { CFG_FLOW_NONE, CFG_FLOW_RTSCTS, CFG_FLOW_XONXOFF };
enum cfg_rs485_mode { CFG_RS485_OFF, CFG_RS485_KERNEL, CFG_RS485_RTS };
enum cfg_rts_level { CFG_RTS_UP, CFG_RTS_DOWN };
enum cfg_framing { CFG_FRAMING_NONE, CFG_FRAMING_LINE, CFG_FRAMING_NMEA, CFG_FRAMING_FRAME };
enum cfg_line_format { CFG_LINE_VALUE, CFG_LINE_REGEX, CFG_LINE_CSV, CFG_LINE_KV };
enum cfg_endian { CFG_ENDIAN_BIG, CFG_ENDIAN_LITTLE };
enum cfg_length_counts { CFG_COUNTS_REST, CFG_COUNTS_FRAME, CFG_COUNTS_PAYLOAD };
enum cfg_checksum { CFG_CHECKSUM_NONE, CFG_CHECKSUM_SUM8, CFG_CHECKSUM_SUM16, CFG_CHECKSUM_XOR8,
                    CFG_CHECKSUM_CRC8, CFG_CHECKSUM_CRC16_MODBUS };
enum cfg_register_kind { CFG_REG_HOLDING, CFG_REG_INPUT, CFG_REG_COIL, CFG_REG_DISCRETE };
enum cfg_value_type { CFG_T_BOOL, CFG_T_INT16, CFG_T_UINT16, CFG_T_INT32, CFG_T_UINT32,
                      CFG_T_INT64, CFG_T_UINT64, CFG_T_FLOAT32, CFG_T_FLOAT64,
                      CFG_T_STRING, CFG_T_RAW };
enum cfg_byte_order { CFG_ORDER_ABCD, CFG_ORDER_BADC, CFG_ORDER_CDAB, CFG_ORDER_DCBA };
enum cfg_payload { CFG_PAYLOAD_VALUE, CFG_PAYLOAD_JSON, CFG_PAYLOAD_GROUPED, CFG_PAYLOAD_TEMPLATE };
enum cfg_timestamp { CFG_TS_ISO8601, CFG_TS_EPOCH_MS };
enum cfg_report { CFG_REPORT_EVERY_POLL, CFG_REPORT_ON_CHANGE };
enum cfg_mqtt_version { CFG_MQTT_311, CFG_MQTT_5 };
enum cfg_retain_mode { CFG_RETAIN_KEEP, CFG_RETAIN_ON, CFG_RETAIN_OFF };
enum cfg_full_policy { CFG_FULL_DROP_OLDEST, CFG_FULL_DROP_NEWEST };
enum cfg_fsync { CFG_FSYNC_ALWAYS, CFG_FSYNC_BATCH, CFG_FSYNC_NEVER };

/* JSON payload fields, in the order they are written. */
enum cfg_json_field { CFG_JSON_VALUE, CFG_JSON_UNIT, CFG_JSON_TIMESTAMP, CFG_JSON_QUALITY,
                      CFG_JSON_ERROR, CFG_JSON_DEVICE, CFG_JSON_POINT, CFG_JSON_RAW };

/* ---- sections ---------------------------------------------------------- */
/* After a successful load, every `publish` block is resolved: a point's holds
 * its own keys, then its device's, its bus's, the top level's, then the
 * defaults; a device's and a bus's likewise. Readers never walk the chain. */
/* Every struct starts with `set` (bit i: key i of its table was given) and
 * `pos` (where its mapping starts in the file). Durations are microseconds. */

struct cfg_publish {
    uint64_t set;
    struct cfg_pos pos;
    struct cfg_template topic;
    int payload;                        /* enum cfg_payload */
    struct cfg_template template_text;  /* payload: template */
    struct cfg_strings json_fields;
    int timestamp;                      /* enum cfg_timestamp */
    int64_t qos;
    bool retain;
    int report;                         /* enum cfg_report */
    double deadband;
    double deadband_percent;
    int64_t min_interval;
    int64_t max_interval;
    struct cfg_template error_topic;    /* empty: errors go to `topic` */
    struct cfg_template availability_topic;
    struct cfg_template command_topic;
    struct cfg_template reply_topic;
};

struct cfg_gateway {
    uint64_t set;
    struct cfg_pos pos;
    char *name;
    int log_level;                      /* enum cfg_log_level */
    char *state_dir;
    struct cfg_template status_topic;
};

struct cfg_listener_tls {
    uint64_t set;
    struct cfg_pos pos;
    char *cert_file;
    char *key_file;
    char *ca_file;
    bool require_certificate;
    bool use_identity_as_username;
    int min_version;                    /* enum cfg_tls_version */
    char *ciphers;
    char *ciphersuites;
};

struct cfg_listener {
    uint64_t set;
    struct cfg_pos pos;
    char *bind;
    int64_t port;
    int protocol;                       /* enum cfg_listener_protocol */
    bool allow_anonymous;               /* unset: true only if every listener is loopback */
    struct cfg_listener_tls tls;
};

struct cfg_broker_auth {
    uint64_t set;
    struct cfg_pos pos;
    char *password_file;
    char *acl_file;
};

struct cfg_broker_persistence {
    uint64_t set;
    struct cfg_pos pos;
    bool enabled;
    char *dir;                          /* unset: <state_dir>/broker */
    int64_t flush_interval;
};

struct cfg_broker {
    uint64_t set;
    struct cfg_pos pos;
    bool enabled;
    struct cfg_listener *listeners;
    size_t n_listeners;
    int64_t max_connections;
    uint64_t max_packet_size;
    int64_t max_keepalive;
    int64_t receive_maximum;
    int64_t topic_alias_maximum;
    int64_t max_inflight;
    int64_t max_queued_messages;
    uint64_t max_queued_bytes;
    int64_t max_session_expiry;
    int64_t connect_timeout;
    int64_t max_connect_rate;
    uint64_t memory_limit;
    bool retain_available;
    int64_t sys_interval;
    struct cfg_broker_auth auth;
    struct cfg_broker_persistence persistence;
};

struct cfg_rs485 {
    uint64_t set;
    struct cfg_pos pos;
    int mode;                           /* enum cfg_rs485_mode */
    int rts;                            /* enum cfg_rts_level */
    int64_t rts_delay;
};

struct cfg_bus {
    uint64_t set;
    struct cfg_pos pos;
    char *name;
    int type;                           /* enum cfg_bus_type */
    char *device;
    char *host;
    int64_t port;
    int64_t baud;
    int parity;                         /* enum cfg_parity */
    int64_t data_bits;
    int64_t stop_bits;
    int flow_control;                   /* enum cfg_flow_control */
    struct cfg_rs485 rs485;
    int64_t response_timeout;
    int64_t byte_timeout;
    int64_t inter_request_delay;
    int64_t retries;
    int64_t reconnect_min;
    int64_t reconnect_max;
    struct cfg_publish publish;
};

struct cfg_line_framing {
    uint64_t set;
    struct cfg_pos pos;
    char *delimiter;
    uint64_t max_length;
    int format;                         /* enum cfg_line_format */
    char *regex;
    char *separator;
    char *kv_separator;
};

struct cfg_frame_length {
    uint64_t set;
    struct cfg_pos pos;
    int64_t offset;
    int64_t size;
    int endian;                         /* enum cfg_endian */
    int counts;                         /* enum cfg_length_counts */
    int64_t adjust;
};

struct cfg_frame_checksum {
    uint64_t set;
    struct cfg_pos pos;
    int type;                           /* enum cfg_checksum */
    int64_t start;
    int endian;
};

struct cfg_frame_framing {
    uint64_t set;
    struct cfg_pos pos;
    struct cfg_bytes header;
    int64_t fixed_length;
    uint64_t max_length;
    struct cfg_frame_length length;
    struct cfg_frame_checksum checksum;
};

struct cfg_point {
    uint64_t set;
    struct cfg_pos pos;
    char *name;
    /* Modbus */
    int register_kind;                  /* enum cfg_register_kind */
    int64_t address;
    int type;                           /* enum cfg_value_type */
    int64_t count;
    int64_t bit;
    int64_t poll_interval;              /* unset: the device's */
    int byte_order;                     /* enum cfg_byte_order; unset: the device's */
    /* UART line */
    int64_t group;
    int64_t column;
    char *key;
    /* UART NMEA */
    char *sentence;
    char *field;
    int64_t index;
    /* UART frame */
    int64_t byte_offset;
    /* mapping */
    double scale;
    double offset;
    char *expression;
    int64_t decimals;
    char *unit;
    struct cfg_enum_map enum_map;
    bool writable;
    double min;
    double max;
    char *device_class;
    char *description;
    struct cfg_publish publish;
};

struct cfg_device {
    uint64_t set;
    struct cfg_pos pos;
    char *name;
    char *bus;
    bool enabled;
    int64_t slave;
    int64_t poll_interval;
    int byte_order;                     /* enum cfg_byte_order */
    bool coalesce;
    int64_t max_gap;
    int64_t max_registers;
    int64_t max_bits;
    bool write_multiple;
    int64_t offline_after;
    int framing;                        /* enum cfg_framing */
    struct cfg_line_framing line;
    struct cfg_frame_framing frame;
    struct cfg_bytes query;
    char *manufacturer;
    char *model;
    struct cfg_publish publish;
    struct cfg_point *points;
    size_t n_points;
};

struct cfg_bridge_tls {
    uint64_t set;
    struct cfg_pos pos;
    char *ca_file;
    char *cert_file;
    char *key_file;
    bool verify_hostname;
    int min_version;                    /* enum cfg_tls_version */
};

struct cfg_topic_rule {
    uint64_t set;
    struct cfg_pos pos;
    char *filter;
    char *strip_prefix;
    char *add_prefix;
    struct cfg_template topic;
    int64_t qos;
    int retain;                         /* enum cfg_retain_mode */
    bool spool;                         /* forward rules with qos 0 only */
};

struct cfg_spool {
    uint64_t set;
    struct cfg_pos pos;
    char *dir;                          /* unset: <state_dir>/spool */
    uint64_t max_size;
    int full_policy;                    /* enum cfg_full_policy */
    int64_t max_age;                    /* 0: none */
    int fsync;                          /* enum cfg_fsync */
    int64_t fsync_interval;
    uint64_t segment_size;
    int64_t max_inflight;
};

struct cfg_bridge {
    uint64_t set;
    struct cfg_pos pos;
    bool enabled;
    char *url;
    int mqtt_version;                   /* enum cfg_mqtt_version */
    struct cfg_template client_id;
    char *username;
    char *password;
    int64_t keepalive;
    bool clean_start;
    int64_t session_expiry;
    int64_t reconnect_min;
    int64_t reconnect_max;
    struct cfg_bridge_tls tls;
    struct cfg_topic_rule *forward;
    size_t n_forward;
    struct cfg_topic_rule *receive;
    size_t n_receive;
    struct cfg_strings receive_allow;
    struct cfg_spool spool;
};

struct cfg_homeassistant {
    uint64_t set;
    struct cfg_pos pos;
    bool enabled;
    char *prefix;
};

struct config {
    uint64_t set;
    struct cfg_pos pos;
    struct cfg_gateway gateway;
    struct cfg_broker broker;
    struct cfg_bus *buses;
    size_t n_buses;
    struct cfg_device *devices;
    size_t n_devices;
    struct cfg_publish publish;
    struct cfg_bridge bridge;
    struct cfg_homeassistant homeassistant;
    char *file;                         /* the path it was read from; cfg_pos.file points here */
};

/* ---- calls ------------------------------------------------------------- */

/* Read, parse and validate `path`. On success returns 0 and stores a config
 * the caller owns in *out (warnings may still be in `diag`). On any error
 * returns -1, stores NULL, and `diag` holds every error found, each with its
 * position. Errors opening the file are reported in `diag` too. */
int config_load_file(const char *path, struct config **out, struct diag *diag);

/* The same from memory; `name` is used as the file name in positions. */
int config_load_string(const char *name, const char *text, size_t len,
                       struct config **out, struct diag *diag);

void config_free(struct config *cfg);

/* Find by name; NULL when absent. */
const struct cfg_bus *config_find_bus(const struct config *cfg, const char *name);

/* Whether the point's key `key` (a name from the reference, e.g. "type")
 * was given in the file, as opposed to holding its default. */
bool config_point_is_set(const struct cfg_point *pt, const char *key);

#endif
