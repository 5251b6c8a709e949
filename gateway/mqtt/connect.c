/* CONNECT and CONNACK (§3.1, §3.2), both versions. CONNECT carries the
 * protocol version that every later packet of the connection is read with. */
#include <string.h>

#include "gateway/mqtt/mqtt.h"
#include "gateway/mqtt/topic.h"
#include "gateway/mqtt/wire.h"

#define CF_CLEAN 0x02
#define CF_WILL 0x04
#define CF_WILL_QOS_SHIFT 3
#define CF_WILL_RETAIN 0x20
#define CF_PASSWORD 0x40
#define CF_USERNAME 0x80

/* Protocol name and level; out->version is set even when they are wrong. */
static void connect_read_version(struct mqtt_reader *r, struct mqtt_connect *out)
{
    struct mqtt_bytes name = mqtt_read_binary(r, "truncated protocol name");
    uint8_t level = mqtt_read_u8(r, "truncated protocol level");
    if (!mqtt_reader_ok(r))
        return;
    out->version = level;
    if (name.len != 4 || memcmp(name.data, "MQTT", 4) != 0)
        mqtt_reader_fail(r, MQTT_RC_UNSUPPORTED_VERSION, "protocol name is not MQTT");
    else if (level != MQTT_V311 && level != MQTT_V5)
        mqtt_reader_fail(r, MQTT_RC_UNSUPPORTED_VERSION, "unsupported protocol level");
}

/* The connect flags byte, checked (§3.1.2.3). */
static uint8_t connect_read_flags(struct mqtt_reader *r, struct mqtt_connect *out)
{
    uint8_t f = mqtt_read_u8(r, "truncated connect flags");
    out->clean_start = (f & CF_CLEAN) != 0;
    out->will = (f & CF_WILL) != 0;
    out->will_qos = (f >> CF_WILL_QOS_SHIFT) & 3;
    out->will_retain = (f & CF_WILL_RETAIN) != 0;
    out->has_password = (f & CF_PASSWORD) != 0;
    out->has_username = (f & CF_USERNAME) != 0;
    if (f & 0x01)
        mqtt_reader_fail(r, MQTT_RC_MALFORMED_PACKET, "CONNECT reserved flag set");
    else if (out->will_qos == 3)
        mqtt_reader_fail(r, MQTT_RC_MALFORMED_PACKET, "will QoS 3");
    else if (!out->will && (out->will_qos != 0 || out->will_retain))
        mqtt_reader_fail(r, MQTT_RC_MALFORMED_PACKET, "will QoS or retain without will flag");
    else if (out->version == MQTT_V311 && out->has_password && !out->has_username)
        mqtt_reader_fail(r, MQTT_RC_MALFORMED_PACKET, "password flag without user name flag");
    return f;
}

static void connect_read_will(struct mqtt_reader *r, struct mqtt_connect *out)
{
    if (out->version == MQTT_V5)
        mqtt_read_props(r, MQTT_CTX_WILL, &out->will_props);
    out->will_topic = mqtt_read_string(r, "truncated will topic");
    if (mqtt_reader_ok(r) &&
        !mqtt_topic_name_valid((const char *)out->will_topic.data, out->will_topic.len))
        mqtt_reader_fail(r, MQTT_RC_TOPIC_NAME_INVALID, "will topic empty or with wildcards");
    out->will_payload = mqtt_read_binary(r, "truncated will payload");
}

static void connect_read_payload(struct mqtt_reader *r, struct mqtt_connect *out)
{
    out->client_id = mqtt_read_string(r, "truncated client identifier");
    if (mqtt_reader_ok(r) && out->version == MQTT_V311 && out->client_id.len == 0 &&
        !out->clean_start)
        mqtt_reader_fail(r, MQTT_RC_CLIENT_ID_INVALID,
                         "empty client identifier without clean session");
    if (out->will)
        connect_read_will(r, out);
    if (out->has_username)
        out->username = mqtt_read_string(r, "truncated user name");
    if (out->has_password)
        out->password = mqtt_read_binary(r, "truncated password");
    mqtt_read_end(r, "bytes after the CONNECT payload");
}

int mqtt_decode_connect(const uint8_t *buf, size_t len, struct mqtt_connect *out, const char **why)
{
    struct mqtt_reader r;
    struct mqtt_fixed_header h;
    memset(out, 0, sizeof *out);
    int size = mqtt_decode_start(buf, len, 1u << MQTT_CONNECT, 0, &r, &h, why);
    if (size <= 0)
        return size;
    connect_read_version(&r, out);
    connect_read_flags(&r, out);
    out->keep_alive = mqtt_read_u16(&r, "truncated keep alive");
    if (out->version == MQTT_V5)
        mqtt_read_props(&r, MQTT_CONNECT, &out->props);
    connect_read_payload(&r, out);
    return mqtt_decode_finish(&r, size, why);
}

/* What the decoder would refuse and the writer cannot see. */
static bool connect_bad(const struct mqtt_connect *c)
{
    bool v5 = c->version == MQTT_V5;
    if (!mqtt_version_ok(c->version) || c->will_qos > 2)
        return true;
    if (!c->will && (c->will_qos != 0 || c->will_retain || !mqtt_props_empty(&c->will_props)))
        return true;
    if (c->will && c->will_topic.len == 0)
        return true;
    if (!v5 && (!mqtt_props_empty(&c->props) || !mqtt_props_empty(&c->will_props)))
        return true;
    if (!v5 && c->has_password && !c->has_username)
        return true;
    return !v5 && c->client_id.len == 0 && !c->clean_start;
}

static void connect_write_body(struct mqtt_writer *w, const void *pkt, int version)
{
    const struct mqtt_connect *c = pkt;
    static const uint8_t name[4] = { 'M', 'Q', 'T', 'T' };
    uint8_t flags = (uint8_t)((c->clean_start ? CF_CLEAN : 0) | (c->will ? CF_WILL : 0) |
                              (c->will_qos << CF_WILL_QOS_SHIFT) |
                              (c->will_retain ? CF_WILL_RETAIN : 0) |
                              (c->has_password ? CF_PASSWORD : 0) |
                              (c->has_username ? CF_USERNAME : 0));
    w->bad |= connect_bad(c);
    mqtt_write_binary(w, (struct mqtt_bytes){ name, 4 });
    mqtt_write_u8(w, (uint8_t)version);
    mqtt_write_u8(w, flags);
    mqtt_write_u16(w, c->keep_alive);
    if (version == MQTT_V5)
        mqtt_write_props(w, &c->props, MQTT_CONNECT);
    mqtt_write_binary(w, c->client_id);
    if (c->will && version == MQTT_V5)
        mqtt_write_props(w, &c->will_props, MQTT_CTX_WILL);
    if (c->will) {
        mqtt_write_binary(w, c->will_topic);
        mqtt_write_binary(w, c->will_payload);
    }
    if (c->has_username)
        mqtt_write_binary(w, c->username);
    if (c->has_password)
        mqtt_write_binary(w, c->password);
}

size_t mqtt_encode_connect(uint8_t *buf, size_t cap, const struct mqtt_connect *pkt)
{
    return mqtt_encode_packet(buf, cap, MQTT_CONNECT << 4, connect_write_body, pkt, pkt->version);
}

int mqtt_decode_connack(const uint8_t *buf, size_t len, int version, struct mqtt_connack *out,
                        const char **why)
{
    struct mqtt_reader r;
    struct mqtt_fixed_header h;
    memset(out, 0, sizeof *out);
    int size = mqtt_decode_start(buf, len, 1u << MQTT_CONNACK, version, &r, &h, why);
    if (size <= 0)
        return size;
    uint8_t flags = mqtt_read_u8(&r, "truncated CONNACK flags");
    out->session_present = (flags & 1) != 0;
    out->reason = mqtt_read_u8(&r, "truncated CONNACK reason code");
    bool known = version == MQTT_V5 ? mqtt_reason_allowed(MQTT_CONNACK, out->reason)
                                    : out->reason <= 5;
    if (flags & 0xfe)
        mqtt_reader_fail(&r, MQTT_RC_MALFORMED_PACKET, "CONNACK reserved flags set");
    else if (mqtt_reader_ok(&r) && !known)
        mqtt_reader_fail(&r, MQTT_RC_MALFORMED_PACKET, "reason code not valid in CONNACK");
    else if (out->session_present && out->reason != 0)
        mqtt_reader_fail(&r, MQTT_RC_PROTOCOL_ERROR, "session present with a refusal");
    if (version == MQTT_V5)
        mqtt_read_props(&r, MQTT_CONNACK, &out->props);
    mqtt_read_end(&r, "bytes after the CONNACK");
    return mqtt_decode_finish(&r, size, why);
}

static void connack_write_body(struct mqtt_writer *w, const void *pkt, int version)
{
    const struct mqtt_connack *c = pkt;
    bool known = version == MQTT_V5 ? mqtt_reason_allowed(MQTT_CONNACK, c->reason)
                                    : c->reason <= 5;
    if (!known || (c->session_present && c->reason != 0) ||
        (version != MQTT_V5 && !mqtt_props_empty(&c->props)))
        w->bad = true;
    mqtt_write_u8(w, c->session_present ? 1 : 0);
    mqtt_write_u8(w, c->reason);
    if (version == MQTT_V5)
        mqtt_write_props(w, &c->props, MQTT_CONNACK);
}

size_t mqtt_encode_connack(uint8_t *buf, size_t cap, const struct mqtt_connack *pkt, int version)
{
    if (!mqtt_version_ok(version))
        return 0;
    return mqtt_encode_packet(buf, cap, MQTT_CONNACK << 4, connack_write_body, pkt, version);
}
