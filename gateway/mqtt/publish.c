/* PUBLISH and its acknowledgements PUBACK, PUBREC, PUBREL, PUBCOMP (§3.3 to
 * §3.7), both versions. */
#include <string.h>

#include "gateway/mqtt/mqtt.h"
#include "gateway/mqtt/topic.h"
#include "gateway/mqtt/wire.h"

#define ACK_TYPES ((1u << MQTT_PUBACK) | (1u << MQTT_PUBREC) | (1u << MQTT_PUBREL) | \
                   (1u << MQTT_PUBCOMP))

/* §3.3.2.1 and §3.3.2.3.4: a name, or in v5 nothing and a topic alias. */
static void publish_check_topic(struct mqtt_reader *r, const struct mqtt_publish *p, int version)
{
    if (!mqtt_reader_ok(r))
        return;
    if (p->topic.len == 0 && version == MQTT_V5) {
        if (!mqtt_props_has(&p->props, MQTT_PROP_TOPIC_ALIAS))
            mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "empty topic without topic alias");
    } else if (!mqtt_topic_name_valid((const char *)p->topic.data, p->topic.len)) {
        mqtt_reader_fail(r, MQTT_RC_TOPIC_NAME_INVALID, "topic name empty or with wildcards");
    }
}

int mqtt_decode_publish(const uint8_t *buf, size_t len, int version, struct mqtt_publish *out,
                        const char **why)
{
    struct mqtt_reader r;
    struct mqtt_fixed_header h;
    memset(out, 0, sizeof *out);
    int size = mqtt_decode_start(buf, len, 1u << MQTT_PUBLISH, version, &r, &h, why);
    if (size <= 0)
        return size;
    out->dup = (h.flags & 8) != 0;
    out->qos = (h.flags >> 1) & 3;
    out->retain = (h.flags & 1) != 0;
    out->topic = mqtt_read_string(&r, "truncated topic name");
    if (out->qos > 0) {
        out->packet_id = mqtt_read_u16(&r, "truncated packet identifier");
        if (mqtt_reader_ok(&r) && out->packet_id == 0)
            mqtt_reader_fail(&r, MQTT_RC_PROTOCOL_ERROR, "packet identifier 0");
    }
    if (version == MQTT_V5)
        mqtt_read_props(&r, MQTT_PUBLISH, &out->props);
    publish_check_topic(&r, out, version);
    out->payload = mqtt_read_raw(&r, mqtt_reader_left(&r), "payload");
    return mqtt_decode_finish(&r, size, why);
}

static bool publish_bad(const struct mqtt_publish *p, int version)
{
    if (p->qos > 2 || (p->dup && p->qos == 0) || (p->qos > 0 && p->packet_id == 0))
        return true;
    if (version != MQTT_V5)
        return p->topic.len == 0 || !mqtt_props_empty(&p->props);
    return p->topic.len == 0 && !mqtt_props_has(&p->props, MQTT_PROP_TOPIC_ALIAS);
}

static void publish_write_body(struct mqtt_writer *w, const void *pkt, int version)
{
    const struct mqtt_publish *p = pkt;
    w->bad |= publish_bad(p, version);
    mqtt_write_binary(w, p->topic);
    if (p->qos > 0)
        mqtt_write_u16(w, p->packet_id);
    if (version == MQTT_V5)
        mqtt_write_props(w, &p->props, MQTT_PUBLISH);
    if (p->payload.len > 0 && !p->payload.data)
        w->bad = true;
    else
        mqtt_write_raw(w, p->payload.data, p->payload.len);
}

size_t mqtt_encode_publish(uint8_t *buf, size_t cap, const struct mqtt_publish *pkt, int version)
{
    if (!mqtt_version_ok(version) || pkt->qos > 2)
        return 0;
    uint8_t first = (uint8_t)(MQTT_PUBLISH << 4 | (pkt->dup ? 8 : 0) | pkt->qos << 1 |
                              (pkt->retain ? 1 : 0));
    return mqtt_encode_packet(buf, cap, first, publish_write_body, pkt, version);
}

int mqtt_decode_ack(const uint8_t *buf, size_t len, int version, struct mqtt_ack *out,
                    const char **why)
{
    struct mqtt_reader r;
    struct mqtt_fixed_header h;
    memset(out, 0, sizeof *out);
    int size = mqtt_decode_start(buf, len, ACK_TYPES, version, &r, &h, why);
    if (size <= 0)
        return size;
    out->type = h.type;
    out->packet_id = mqtt_read_u16(&r, "truncated packet identifier");
    if (mqtt_reader_ok(&r) && out->packet_id == 0)
        mqtt_reader_fail(&r, MQTT_RC_PROTOCOL_ERROR, "packet identifier 0");
    if (version == MQTT_V5 && mqtt_reader_left(&r) > 0) {
        out->reason = mqtt_read_u8(&r, "reason code");
        if (mqtt_reader_ok(&r) && !mqtt_reason_allowed(out->type, out->reason))
            mqtt_reader_fail(&r, MQTT_RC_MALFORMED_PACKET, "reason code not valid in this packet");
        if (mqtt_reader_left(&r) > 0)
            mqtt_read_props(&r, out->type, &out->props);
    }
    mqtt_read_end(&r, "bytes after the acknowledgement");
    return mqtt_decode_finish(&r, size, why);
}

static void ack_write_body(struct mqtt_writer *w, const void *pkt, int version)
{
    const struct mqtt_ack *a = pkt;
    bool no_props = mqtt_props_empty(&a->props);
    if (a->packet_id == 0)
        w->bad = true;
    mqtt_write_u16(w, a->packet_id);
    if (version != MQTT_V5) {
        w->bad |= a->reason != 0 || !no_props;
        return;
    }
    w->bad |= !mqtt_reason_allowed(a->type, a->reason);
    if (a->reason != 0 || !no_props)
        mqtt_write_u8(w, a->reason);
    if (!no_props)
        mqtt_write_props(w, &a->props, a->type);
}

size_t mqtt_encode_ack(uint8_t *buf, size_t cap, const struct mqtt_ack *pkt, int version)
{
    if (!mqtt_version_ok(version) || pkt->type < MQTT_PUBACK || pkt->type > MQTT_PUBCOMP)
        return 0;
    uint8_t first = (uint8_t)(pkt->type << 4 | (pkt->type == MQTT_PUBREL ? 2 : 0));
    return mqtt_encode_packet(buf, cap, first, ack_write_body, pkt, version);
}
