/* The MQTT 3.1.1 and 5.0 codec: every control packet decoded from and encoded
 * into caller buffers. Pure: no I/O, no allocation, no global state; strings
 * and binary fields are zero-copy slices of the caller's buffer, which must
 * outlive the decoded structs. Shared by the broker, the CLI tools and the
 * fuzzers. Topic names, filters and matching are in gateway/mqtt/topic.h. */
#ifndef MQGATE_MQTT_MQTT_H
#define MQGATE_MQTT_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Protocol levels, as CONNECT carries them. */
#define MQTT_V311 4
#define MQTT_V5 5

#define MQTT_MAX_REMAINING 268435455u /* the largest remaining length */
#define MQTT_MAX_HEADER 5             /* type byte + 4 varint bytes */
#define MQTT_MAX_STRING 65535u        /* strings and binary data */

enum mqtt_packet_type {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
    MQTT_AUTH = 15,
};

/* Name of a packet type ("PUBLISH"), "reserved" for 0 and out of range. */
const char *mqtt_packet_name(unsigned type);

/* ---- reason codes -------------------------------------------------------
 * The MQTT 5 reason codes, also the codec's error vocabulary: a decoder that
 * fails returns minus one of them (MALFORMED_PACKET, PROTOCOL_ERROR, PACKET_TOO_LARGE,
 * UNSUPPORTED_VERSION, CLIENT_ID_INVALID, TOPIC_FILTER_INVALID,
 * TOPIC_NAME_INVALID, TOPIC_ALIAS_INVALID), so the broker can send it in a
 * CONNACK or DISCONNECT as is (mqtt_connack_v311_code for 3.1.1 clients).
 * Columns: name, value, packets it may appear in (v5), text. */
#define MQTT_RCM_CONNACK (1u << MQTT_CONNACK)
#define MQTT_RCM_PUB ((1u << MQTT_PUBACK) | (1u << MQTT_PUBREC))
#define MQTT_RCM_REL ((1u << MQTT_PUBREL) | (1u << MQTT_PUBCOMP))
#define MQTT_RCM_SUBACK (1u << MQTT_SUBACK)
#define MQTT_RCM_UNSUBACK (1u << MQTT_UNSUBACK)
#define MQTT_RCM_DISC (1u << MQTT_DISCONNECT)
#define MQTT_RCM_AUTH (1u << MQTT_AUTH)
#define MQTT_RCM_ALL (MQTT_RCM_CONNACK | MQTT_RCM_PUB | MQTT_RCM_REL | MQTT_RCM_SUBACK | \
                      MQTT_RCM_UNSUBACK | MQTT_RCM_DISC | MQTT_RCM_AUTH)
#define MQTT_RCM_ERR (MQTT_RCM_CONNACK | MQTT_RCM_PUB | MQTT_RCM_SUBACK | MQTT_RCM_UNSUBACK | \
                      MQTT_RCM_DISC)

#define MQTT_REASON_LIST(X) \
    X(SUCCESS, 0x00, MQTT_RCM_ALL, "success") \
    X(GRANTED_QOS1, 0x01, MQTT_RCM_SUBACK, "granted QoS 1") \
    X(GRANTED_QOS2, 0x02, MQTT_RCM_SUBACK, "granted QoS 2") \
    X(DISCONNECT_WITH_WILL, 0x04, MQTT_RCM_DISC, "disconnect with will message") \
    X(NO_MATCHING_SUBSCRIBERS, 0x10, MQTT_RCM_PUB, "no matching subscribers") \
    X(NO_SUBSCRIPTION_EXISTED, 0x11, MQTT_RCM_UNSUBACK, "no subscription existed") \
    X(CONTINUE_AUTH, 0x18, MQTT_RCM_AUTH, "continue authentication") \
    X(REAUTHENTICATE, 0x19, MQTT_RCM_AUTH, "re-authenticate") \
    X(UNSPECIFIED, 0x80, MQTT_RCM_ERR, "unspecified error") \
    X(MALFORMED_PACKET, 0x81, MQTT_RCM_CONNACK | MQTT_RCM_DISC, "malformed packet") \
    X(PROTOCOL_ERROR, 0x82, MQTT_RCM_CONNACK | MQTT_RCM_DISC, "protocol error") \
    X(IMPL_SPECIFIC, 0x83, MQTT_RCM_ERR, "implementation specific error") \
    X(UNSUPPORTED_VERSION, 0x84, MQTT_RCM_CONNACK, "unsupported protocol version") \
    X(CLIENT_ID_INVALID, 0x85, MQTT_RCM_CONNACK, "client identifier not valid") \
    X(BAD_USERNAME_PASSWORD, 0x86, MQTT_RCM_CONNACK, "bad user name or password") \
    X(NOT_AUTHORIZED, 0x87, MQTT_RCM_ERR, "not authorized") \
    X(SERVER_UNAVAILABLE, 0x88, MQTT_RCM_CONNACK, "server unavailable") \
    X(SERVER_BUSY, 0x89, MQTT_RCM_CONNACK | MQTT_RCM_DISC, "server busy") \
    X(BANNED, 0x8A, MQTT_RCM_CONNACK, "banned") \
    X(SERVER_SHUTTING_DOWN, 0x8B, MQTT_RCM_DISC, "server shutting down") \
    X(BAD_AUTH_METHOD, 0x8C, MQTT_RCM_CONNACK, "bad authentication method") \
    X(KEEP_ALIVE_TIMEOUT, 0x8D, MQTT_RCM_DISC, "keep alive timeout") \
    X(SESSION_TAKEN_OVER, 0x8E, MQTT_RCM_DISC, "session taken over") \
    X(TOPIC_FILTER_INVALID, 0x8F, MQTT_RCM_SUBACK | MQTT_RCM_UNSUBACK | MQTT_RCM_DISC, \
      "topic filter invalid") \
    X(TOPIC_NAME_INVALID, 0x90, MQTT_RCM_CONNACK | MQTT_RCM_PUB | MQTT_RCM_DISC, \
      "topic name invalid") \
    X(PACKET_ID_IN_USE, 0x91, MQTT_RCM_PUB | MQTT_RCM_SUBACK | MQTT_RCM_UNSUBACK, \
      "packet identifier in use") \
    X(PACKET_ID_NOT_FOUND, 0x92, MQTT_RCM_REL, "packet identifier not found") \
    X(RECEIVE_MAX_EXCEEDED, 0x93, MQTT_RCM_DISC, "receive maximum exceeded") \
    X(TOPIC_ALIAS_INVALID, 0x94, MQTT_RCM_DISC, "topic alias invalid") \
    X(PACKET_TOO_LARGE, 0x95, MQTT_RCM_CONNACK | MQTT_RCM_DISC, "packet too large") \
    X(MESSAGE_RATE_TOO_HIGH, 0x96, MQTT_RCM_DISC, "message rate too high") \
    X(QUOTA_EXCEEDED, 0x97, MQTT_RCM_CONNACK | MQTT_RCM_PUB | MQTT_RCM_SUBACK | MQTT_RCM_DISC, \
      "quota exceeded") \
    X(ADMIN_ACTION, 0x98, MQTT_RCM_DISC, "administrative action") \
    X(PAYLOAD_FORMAT_INVALID, 0x99, MQTT_RCM_CONNACK | MQTT_RCM_PUB | MQTT_RCM_DISC, \
      "payload format invalid") \
    X(RETAIN_NOT_SUPPORTED, 0x9A, MQTT_RCM_CONNACK | MQTT_RCM_DISC, "retain not supported") \
    X(QOS_NOT_SUPPORTED, 0x9B, MQTT_RCM_CONNACK | MQTT_RCM_DISC, "QoS not supported") \
    X(USE_ANOTHER_SERVER, 0x9C, MQTT_RCM_CONNACK | MQTT_RCM_DISC, "use another server") \
    X(SERVER_MOVED, 0x9D, MQTT_RCM_CONNACK | MQTT_RCM_DISC, "server moved") \
    X(SHARED_SUBS_NOT_SUPPORTED, 0x9E, MQTT_RCM_SUBACK | MQTT_RCM_DISC, \
      "shared subscriptions not supported") \
    X(CONNECTION_RATE_EXCEEDED, 0x9F, MQTT_RCM_CONNACK | MQTT_RCM_DISC, \
      "connection rate exceeded") \
    X(MAX_CONNECT_TIME, 0xA0, MQTT_RCM_DISC, "maximum connect time") \
    X(SUB_IDS_NOT_SUPPORTED, 0xA1, MQTT_RCM_SUBACK | MQTT_RCM_DISC, \
      "subscription identifiers not supported") \
    X(WILDCARD_SUBS_NOT_SUPPORTED, 0xA2, MQTT_RCM_SUBACK | MQTT_RCM_DISC, \
      "wildcard subscriptions not supported")

enum mqtt_reason {
#define MQTT_REASON_ENUM(name, value, packets, text) MQTT_RC_##name = value,
    MQTT_REASON_LIST(MQTT_REASON_ENUM)
#undef MQTT_REASON_ENUM
};

/* "malformed packet" for 0x81; "unknown reason code" for values not listed. */
const char *mqtt_reason_name(unsigned code);

/* Whether a v5 packet of `type` (CONNACK, the four publish acks, SUBACK,
 * UNSUBACK, DISCONNECT, AUTH) may carry reason code `code`. */
bool mqtt_reason_allowed(unsigned type, unsigned code);

/* A decoder's reason as a 3.1.1 CONNACK return code: 0x84 -> 1 (unacceptable
 * protocol version), 0x85 -> 2 (identifier rejected), 0x88/0x89 -> 3 (server
 * unavailable), 0x86 -> 4, 0x87 -> 5; anything else -> 0 (close without one). */
uint8_t mqtt_connack_v311_code(unsigned reason);

/* ---- primitives ---------------------------------------------------------- */

/* A zero-copy slice: into the decoded buffer, or the caller's data to encode. */
struct mqtt_bytes {
    const uint8_t *data;
    uint32_t len;
};

/* Variable byte integer (remaining length, property lengths, subscription
 * ids): 1 to 4 bytes, at most MQTT_MAX_REMAINING. The encoded value must use
 * the fewest bytes (MQTT 5 §1.5.5, [MQTT-1.5.5-1]); 3.1.1 §2.2.3 only gives
 * the ranges. One rule for both versions, since the fixed header is read
 * before the version is known: a longer-than-needed encoding (a last byte
 * 0x00 after a continuation) is malformed, and we never send one.
 * Returns bytes used (1..4), 0 when `len` ends before the last byte, or
 * -MQTT_RC_MALFORMED_PACKET (5th continuation byte, non-minimal), with `*why` set
 * when `why` is not NULL (as every decoder here does). */
int mqtt_varint_decode(const uint8_t *buf, size_t len, uint32_t *value, const char **why);
/* Bytes `value` takes (1..4), 0 when above MQTT_MAX_REMAINING. */
size_t mqtt_varint_size(uint32_t value);
/* Writes it when it fits `cap`; returns its size (0 when above the maximum). */
size_t mqtt_varint_encode(uint8_t *buf, size_t cap, uint32_t value);

/* UTF-8 Encoded String rules (§1.5.4): well-formed UTF-8 (no overlong forms,
 * no surrogates U+D800..DFFF, nothing above U+10FFFF, no stray or missing
 * continuation bytes) and no U+0000. Control characters and non-characters
 * are allowed (the spec says SHOULD NOT, and a receiver MAY reject them:
 * policy, not syntax). True when valid; else `*why` (if not NULL) says which
 * rule broke. */
bool mqtt_utf8_valid(const uint8_t *s, size_t len, const char **why);

/* ---- fixed header -------------------------------------------------------- */

struct mqtt_fixed_header {
    uint8_t type;        /* enum mqtt_packet_type */
    uint8_t flags;       /* the low 4 bits of the first byte */
    uint8_t header_len;  /* 2..5 */
    uint32_t remaining;  /* remaining length */
};

/* Reads the fixed header at `buf` as soon as it is complete, so a
 * non-blocking reader knows the packet's size (header_len + remaining) before
 * buffering it. Checks the type (0 is malformed; 15, AUTH, is accepted here,
 * and refused by the decoders of a 3.1.1 connection), the flag bits each type
 * requires (0010 for PUBREL, SUBSCRIBE, UNSUBSCRIBE; 0000 for the others;
 * for PUBLISH, QoS 3 and DUP with QoS 0 are malformed) and the size:
 * header_len + remaining > max_packet_size (0 = no limit) gives
 * -MQTT_RC_PACKET_TOO_LARGE. A bad first byte is reported before the length
 * is complete. Returns header_len, 0 for "need more bytes", or -reason with
 * `*why` set. Never reads past `len`. */
int mqtt_decode_fixed_header(const uint8_t *buf, size_t len, uint32_t max_packet_size,
                             struct mqtt_fixed_header *hdr, const char **why);

/* ---- properties (MQTT 5 §2.2.2) ------------------------------------------ */

enum mqtt_prop_type {
    MQTT_PT_BYTE,
    MQTT_PT_U16,
    MQTT_PT_U32,
    MQTT_PT_VARINT,
    MQTT_PT_STRING,
    MQTT_PT_BINARY,
    MQTT_PT_PAIR,
};

/* name, identifier, type, text */
#define MQTT_PROP_LIST(X) \
    X(PAYLOAD_FORMAT, 0x01, MQTT_PT_BYTE, "payload format indicator") \
    X(MESSAGE_EXPIRY, 0x02, MQTT_PT_U32, "message expiry interval") \
    X(CONTENT_TYPE, 0x03, MQTT_PT_STRING, "content type") \
    X(RESPONSE_TOPIC, 0x08, MQTT_PT_STRING, "response topic") \
    X(CORRELATION_DATA, 0x09, MQTT_PT_BINARY, "correlation data") \
    X(SUBSCRIPTION_ID, 0x0B, MQTT_PT_VARINT, "subscription identifier") \
    X(SESSION_EXPIRY, 0x11, MQTT_PT_U32, "session expiry interval") \
    X(ASSIGNED_CLIENT_ID, 0x12, MQTT_PT_STRING, "assigned client identifier") \
    X(SERVER_KEEP_ALIVE, 0x13, MQTT_PT_U16, "server keep alive") \
    X(AUTH_METHOD, 0x15, MQTT_PT_STRING, "authentication method") \
    X(AUTH_DATA, 0x16, MQTT_PT_BINARY, "authentication data") \
    X(REQUEST_PROBLEM_INFO, 0x17, MQTT_PT_BYTE, "request problem information") \
    X(WILL_DELAY, 0x18, MQTT_PT_U32, "will delay interval") \
    X(REQUEST_RESPONSE_INFO, 0x19, MQTT_PT_BYTE, "request response information") \
    X(RESPONSE_INFO, 0x1A, MQTT_PT_STRING, "response information") \
    X(SERVER_REFERENCE, 0x1C, MQTT_PT_STRING, "server reference") \
    X(REASON_STRING, 0x1F, MQTT_PT_STRING, "reason string") \
    X(RECEIVE_MAX, 0x21, MQTT_PT_U16, "receive maximum") \
    X(TOPIC_ALIAS_MAX, 0x22, MQTT_PT_U16, "topic alias maximum") \
    X(TOPIC_ALIAS, 0x23, MQTT_PT_U16, "topic alias") \
    X(MAX_QOS, 0x24, MQTT_PT_BYTE, "maximum QoS") \
    X(RETAIN_AVAILABLE, 0x25, MQTT_PT_BYTE, "retain available") \
    X(USER_PROPERTY, 0x26, MQTT_PT_PAIR, "user property") \
    X(MAX_PACKET_SIZE, 0x27, MQTT_PT_U32, "maximum packet size") \
    X(WILDCARD_SUB_AVAILABLE, 0x28, MQTT_PT_BYTE, "wildcard subscription available") \
    X(SUB_ID_AVAILABLE, 0x29, MQTT_PT_BYTE, "subscription identifier available") \
    X(SHARED_SUB_AVAILABLE, 0x2A, MQTT_PT_BYTE, "shared subscription available")

enum mqtt_prop_id {
#define MQTT_PROP_ENUM(name, id, type, text) MQTT_PROP_##name = id,
    MQTT_PROP_LIST(MQTT_PROP_ENUM)
#undef MQTT_PROP_ENUM
};

/* The bit of property `id` in mqtt_props.present. */
#define MQTT_PROP_BIT(id) (UINT64_C(1) << (id))

/* Where a property block sits: the packet type, or MQTT_CTX_WILL for the will
 * properties of CONNECT. */
#define MQTT_CTX_WILL 0

/* "topic alias"; NULL for an unknown identifier. */
const char *mqtt_prop_name(unsigned id);
/* Whether property `id` may appear in context `ctx` (§2.2.2.2's table). */
bool mqtt_prop_allowed(unsigned id, unsigned ctx);

struct mqtt_user_prop {
    struct mqtt_bytes name;
    struct mqtt_bytes value;
};

/* One property block. A property is present when its bit (MQTT_PROP_BIT) is
 * set in `present`; its value is then in the field of the same name.
 * Decoding fills the values, `raw` (the block, without its length) and the
 * counts n_user and n_sub_ids; `user` and `sub_ids` stay NULL. User
 * properties and the subscription ids of a PUBLISH (which may repeat) are read
 * with mqtt_prop_next over `raw`; subscription_id holds the first id.
 * Encoding writes every present property allowed in the context, in
 * identifier order, then the repeatable ones: user properties from
 * `user[0..n_user)` when `user` is set, else those of `raw` (so a decoded
 * block re-encodes, and a broker forwards user properties unchanged);
 * subscription ids from `sub_ids[0..n_sub_ids)` when set, else, when the
 * SUBSCRIPTION_ID bit is present, those of `raw` if set or subscription_id.
 * A zeroed struct is an empty block. */
struct mqtt_props {
    uint64_t present;
    uint8_t payload_format;         /* 0 bytes, 1 UTF-8 */
    uint32_t message_expiry;
    struct mqtt_bytes content_type;
    struct mqtt_bytes response_topic;
    struct mqtt_bytes correlation_data;
    uint32_t subscription_id;       /* 1..268,435,455 */
    uint32_t session_expiry;
    struct mqtt_bytes assigned_client_id;
    uint16_t server_keep_alive;
    struct mqtt_bytes auth_method;
    struct mqtt_bytes auth_data;
    uint8_t request_problem_info;   /* 0 or 1 */
    uint32_t will_delay;
    uint8_t request_response_info;  /* 0 or 1 */
    struct mqtt_bytes response_info;
    struct mqtt_bytes server_reference;
    struct mqtt_bytes reason_string;
    uint16_t receive_max;           /* not 0 */
    uint16_t topic_alias_max;
    uint16_t topic_alias;           /* not 0 */
    uint8_t max_qos;                /* 0 or 1 */
    uint8_t retain_available;       /* 0 or 1 */
    uint32_t max_packet_size;       /* not 0 */
    uint8_t wildcard_sub_available; /* 0 or 1 */
    uint8_t sub_id_available;       /* 0 or 1 */
    uint8_t shared_sub_available;   /* 0 or 1 */

    struct mqtt_bytes raw;
    const struct mqtt_user_prop *user;
    uint32_t n_user;
    const uint32_t *sub_ids;
    uint32_t n_sub_ids;
};

static inline bool mqtt_props_has(const struct mqtt_props *p, unsigned id)
{
    return (p->present & MQTT_PROP_BIT(id)) != 0;
}

/* One property, as the iterator returns it. */
struct mqtt_prop {
    uint8_t id;
    uint32_t num;              /* BYTE, U16, U32, VARINT */
    struct mqtt_bytes str;     /* STRING, BINARY; a pair's name */
    struct mqtt_bytes value;   /* a pair's value */
};

struct mqtt_prop_iter {
    const uint8_t *p;
    const uint8_t *end;
};

/* Iterates over a decoded block (props->raw). mqtt_prop_next returns every
 * property in order; the _user and _sub_id forms skip to the next one of
 * their kind. False at the end. The block was checked when decoded. */
void mqtt_prop_iter_init(struct mqtt_prop_iter *it, const struct mqtt_props *props);
bool mqtt_prop_next(struct mqtt_prop_iter *it, struct mqtt_prop *out);
bool mqtt_prop_next_user(struct mqtt_prop_iter *it, struct mqtt_user_prop *out);
bool mqtt_prop_next_sub_id(struct mqtt_prop_iter *it, uint32_t *id);

/* Decodes a property block (its varint length, then the properties) for
 * context `ctx`. Rules: an unknown identifier or a value that runs past the
 * block, bad UTF-8 in a string: MALFORMED_PACKET; a property not allowed in `ctx`,
 * one repeated that may not be (all but user property, and subscription id in
 * PUBLISH), a value out of range (payload format, request problem/response
 * info, max QoS and the *_available flags not 0/1; receive max, max packet
 * size or subscription id 0), a response topic that is not a valid topic
 * name, auth data without auth method: PROTOCOL_ERROR; topic alias 0:
 * TOPIC_ALIAS_INVALID. Returns bytes used (>0), or -reason with *why set
 * (a block that runs past `len` is MALFORMED_PACKET: the packet is complete here). */
int mqtt_props_decode(const uint8_t *buf, size_t len, unsigned ctx, struct mqtt_props *out,
                      const char **why);
/* Size of the block once encoded (length prefix included); 0 when it cannot
 * be encoded (a present property not allowed in `ctx`, a string over 65,535
 * bytes, a subscription id out of range, the block over the maximum). */
size_t mqtt_props_size(const struct mqtt_props *props, unsigned ctx);
/* Writes the block (length prefix included) when it fits `cap`; returns
 * mqtt_props_size (so NULL, 0 asks the size), 0 when it cannot be encoded. */
size_t mqtt_props_encode(uint8_t *buf, size_t cap, const struct mqtt_props *props, unsigned ctx);

/* ---- packets -------------------------------------------------------------
 * Decoders: `buf` holds the packet from its first byte; `len` what has been
 * read so far. They return the packet's size (> 0) when it is complete and
 * valid, 0 when more bytes are needed (they never read past `len`), or
 * -reason (enum mqtt_reason) with *why (if not NULL) set to a static message.
 * `version` is MQTT_V311 or MQTT_V5, as the connection's CONNECT said; any
 * other is -UNSUPPORTED_VERSION. A packet of another type than the decoder's
 * is MALFORMED_PACKET (use mqtt_decode to dispatch).
 *
 * Encoders: `size_t mqtt_encode_X(buf, cap, pkt, version)` return the
 * packet's size; they write it only when it fits `cap` (like snprintf, so
 * `mqtt_encode_X(NULL, 0, ...)` is the size query) and write nothing
 * otherwise. 0 means the struct cannot be encoded in that version (a field
 * out of range or too long, packet id 0 where one is needed, a v5-only field
 * in 3.1.1, a property not allowed there). Encoders do not check UTF-8 or
 * topic syntax: check caller data with mqtt_utf8_valid and topic.h first.
 * What they write, the decoders accept. */

struct mqtt_connect {
    uint8_t version;              /* MQTT_V311 or MQTT_V5 */
    bool clean_start;             /* "clean session" in 3.1.1 */
    uint16_t keep_alive;
    struct mqtt_bytes client_id;
    bool will;
    uint8_t will_qos;
    bool will_retain;
    struct mqtt_props will_props; /* v5 */
    struct mqtt_bytes will_topic;
    struct mqtt_bytes will_payload;
    bool has_username;
    struct mqtt_bytes username;
    bool has_password;
    struct mqtt_bytes password;
    struct mqtt_props props;      /* v5 */
};

/* CONNECT carries its own version: there is no version parameter, and
 * out->version is set as soon as it is read, also when decoding then fails,
 * so the server can answer in the client's version (0 when not reached).
 * A protocol name other than "MQTT" or a level other than 4 and 5 is
 * UNSUPPORTED_VERSION; reserved flag set, will QoS 3, will QoS/retain without
 * the will flag, password without user name in 3.1.1: MALFORMED_PACKET; an empty
 * client id without clean session in 3.1.1: CLIENT_ID_INVALID; a will topic
 * that is empty or has wildcards: TOPIC_NAME_INVALID. */
int mqtt_decode_connect(const uint8_t *buf, size_t len, struct mqtt_connect *out, const char **why);
size_t mqtt_encode_connect(uint8_t *buf, size_t cap, const struct mqtt_connect *pkt);

struct mqtt_connack {
    bool session_present;
    uint8_t reason;             /* v5 reason code; 3.1.1 return code 0..5 */
    struct mqtt_props props;    /* v5 */
};

/* Session present with a non-zero reason is PROTOCOL_ERROR; a reason not of
 * CONNACK's set (0..5 in 3.1.1), or reserved flag bits: MALFORMED_PACKET. */
int mqtt_decode_connack(const uint8_t *buf, size_t len, int version, struct mqtt_connack *out,
                        const char **why);
size_t mqtt_encode_connack(uint8_t *buf, size_t cap, const struct mqtt_connack *pkt, int version);

struct mqtt_publish {
    bool dup;
    uint8_t qos;
    bool retain;
    struct mqtt_bytes topic;
    uint16_t packet_id;         /* QoS 1 and 2 only */
    struct mqtt_props props;    /* v5 */
    struct mqtt_bytes payload;
};

/* Topic with wildcards, or empty in 3.1.1: TOPIC_NAME_INVALID; empty in v5
 * without a topic alias, packet id 0 with QoS > 0: PROTOCOL_ERROR. Which
 * properties a direction may carry (subscription ids only server to client)
 * is the caller's rule. */
int mqtt_decode_publish(const uint8_t *buf, size_t len, int version, struct mqtt_publish *out,
                        const char **why);
size_t mqtt_encode_publish(uint8_t *buf, size_t cap, const struct mqtt_publish *pkt, int version);

/* PUBACK, PUBREC, PUBREL, PUBCOMP. In v5 the reason and the properties may be
 * left out on the wire (remaining length 2 or 3); the encoder uses the
 * shortest form. */
struct mqtt_ack {
    uint8_t type;               /* MQTT_PUBACK .. MQTT_PUBCOMP */
    uint16_t packet_id;         /* not 0 */
    uint8_t reason;             /* v5 */
    struct mqtt_props props;    /* v5 */
};

int mqtt_decode_ack(const uint8_t *buf, size_t len, int version, struct mqtt_ack *out,
                    const char **why);
size_t mqtt_encode_ack(uint8_t *buf, size_t cap, const struct mqtt_ack *pkt, int version);

/* One topic filter of a SUBSCRIBE, with its options (only qos in 3.1.1). */
struct mqtt_sub_entry {
    struct mqtt_bytes filter;
    uint8_t qos;
    bool no_local;
    bool retain_as_published;
    uint8_t retain_handling;    /* 0..2 */
};

/* The topic filters of a SUBSCRIBE or UNSUBSCRIBE. Decoding sets `raw` (the
 * payload) and `count`; read the entries with mqtt_sub_next /
 * mqtt_unsub_next. Encoding takes `subs` (SUBSCRIBE) or `filters`
 * (UNSUBSCRIBE) [0..count) when set, else re-encodes those of `raw`. */
struct mqtt_subscribe {
    uint16_t packet_id;
    struct mqtt_props props;    /* v5 */
    struct mqtt_bytes raw;
    uint32_t count;
    const struct mqtt_sub_entry *subs;
};

struct mqtt_unsubscribe {
    uint16_t packet_id;
    struct mqtt_props props;    /* v5 */
    struct mqtt_bytes raw;
    uint32_t count;
    const struct mqtt_bytes *filters;
};

struct mqtt_list_iter {
    const uint8_t *p;
    const uint8_t *end;
};

void mqtt_list_iter_init(struct mqtt_list_iter *it, struct mqtt_bytes raw);
bool mqtt_sub_next(struct mqtt_list_iter *it, struct mqtt_sub_entry *out);
bool mqtt_unsub_next(struct mqtt_list_iter *it, struct mqtt_bytes *filter);

/* No filter: PROTOCOL_ERROR; a filter that is empty, breaks the wildcard
 * rules or is a bad $share/ form: TOPIC_FILTER_INVALID; reserved option bits
 * set (bits 2-7 in 3.1.1, 6-7 in v5) or QoS 3 in 3.1.1: MALFORMED_PACKET; in v5,
 * QoS 3, retain handling 3, no local on a shared subscription:
 * PROTOCOL_ERROR (§3.8.3.1); packet id 0: PROTOCOL_ERROR. */
int mqtt_decode_subscribe(const uint8_t *buf, size_t len, int version,
                          struct mqtt_subscribe *out, const char **why);
size_t mqtt_encode_subscribe(uint8_t *buf, size_t cap, const struct mqtt_subscribe *pkt,
                             int version);
int mqtt_decode_unsubscribe(const uint8_t *buf, size_t len, int version,
                            struct mqtt_unsubscribe *out, const char **why);
size_t mqtt_encode_unsubscribe(uint8_t *buf, size_t cap, const struct mqtt_unsubscribe *pkt,
                               int version);

/* SUBACK (one reason per filter: 0, 1, 2, 0x80 in 3.1.1) and UNSUBACK (v5:
 * one reason per filter; 3.1.1: none, so `reasons` is empty). */
struct mqtt_suback {
    uint8_t type;               /* MQTT_SUBACK or MQTT_UNSUBACK */
    uint16_t packet_id;
    struct mqtt_props props;    /* v5 */
    struct mqtt_bytes reasons;
};

int mqtt_decode_suback(const uint8_t *buf, size_t len, int version, struct mqtt_suback *out,
                       const char **why);
size_t mqtt_encode_suback(uint8_t *buf, size_t cap, const struct mqtt_suback *pkt, int version);

/* DISCONNECT (reason and properties v5 only, each optional on the wire) and
 * AUTH (v5 only; remaining length 0 means success without properties). */
struct mqtt_disconnect {
    uint8_t type;               /* MQTT_DISCONNECT or MQTT_AUTH */
    uint8_t reason;
    struct mqtt_props props;
};

int mqtt_decode_disconnect(const uint8_t *buf, size_t len, int version,
                           struct mqtt_disconnect *out, const char **why);
size_t mqtt_encode_disconnect(uint8_t *buf, size_t cap, const struct mqtt_disconnect *pkt,
                              int version);

/* PINGREQ and PINGRESP: a type byte and a zero length. */
int mqtt_decode_ping(const uint8_t *buf, size_t len, uint8_t *type, const char **why);
size_t mqtt_encode_ping(uint8_t *buf, size_t cap, uint8_t type);

/* Any packet. */
struct mqtt_packet {
    uint8_t type;
    union {
        struct mqtt_connect connect;
        struct mqtt_connack connack;
        struct mqtt_publish publish;
        struct mqtt_ack ack;
        struct mqtt_subscribe subscribe;
        struct mqtt_unsubscribe unsubscribe;
        struct mqtt_suback suback;
        struct mqtt_disconnect disconnect; /* also AUTH */
    } u;
};

/* Decodes whichever packet `buf` starts with, first checking its fixed header
 * against max_packet_size (0 = no limit); AUTH in 3.1.1 is MALFORMED_PACKET. A
 * CONNECT ignores `version`. Same returns as the decoders above. */
int mqtt_decode(const uint8_t *buf, size_t len, int version, uint32_t max_packet_size,
                struct mqtt_packet *out, const char **why);
/* Encodes pkt->type's member (nothing for the pings; CONNECT uses its own
 * version). */
size_t mqtt_encode(uint8_t *buf, size_t cap, const struct mqtt_packet *pkt, int version);

#endif
