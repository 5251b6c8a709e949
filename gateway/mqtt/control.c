/* PINGREQ, PINGRESP, DISCONNECT and AUTH (§3.12 to §3.15): the packets that
 * carry at most a reason code and properties. */
#include <string.h>

#include "gateway/mqtt/mqtt.h"
#include "gateway/mqtt/wire.h"

int mqtt_decode_ping(const uint8_t *buf, size_t len, uint8_t *type, const char **why)
{
    struct mqtt_reader r;
    struct mqtt_fixed_header h;
    unsigned types = (1u << MQTT_PINGREQ) | (1u << MQTT_PINGRESP);
    int size = mqtt_decode_start(buf, len, types, MQTT_V5, &r, &h, why);
    if (size <= 0)
        return size;
    *type = h.type;
    mqtt_read_end(&r, "PINGREQ/PINGRESP with a body");
    return mqtt_decode_finish(&r, size, why);
}

size_t mqtt_encode_ping(uint8_t *buf, size_t cap, uint8_t type)
{
    if (type != MQTT_PINGREQ && type != MQTT_PINGRESP)
        return 0;
    if (buf && cap >= 2) {
        buf[0] = (uint8_t)(type << 4);
        buf[1] = 0;
    }
    return 2;
}

int mqtt_decode_disconnect(const uint8_t *buf, size_t len, int version,
                           struct mqtt_disconnect *out, const char **why)
{
    struct mqtt_reader r;
    struct mqtt_fixed_header h;
    unsigned types = (1u << MQTT_DISCONNECT) | (1u << MQTT_AUTH);
    memset(out, 0, sizeof *out);
    int size = mqtt_decode_start(buf, len, types, version, &r, &h, why);
    if (size <= 0)
        return size;
    out->type = h.type;
    if (version != MQTT_V5) {
        if (h.type == MQTT_AUTH)
            mqtt_reader_fail(&r, MQTT_RC_MALFORMED_PACKET, "AUTH in MQTT 3.1.1");
        mqtt_read_end(&r, "DISCONNECT with a body in MQTT 3.1.1");
        return mqtt_decode_finish(&r, size, why);
    }
    if (mqtt_reader_left(&r) > 0) {
        out->reason = mqtt_read_u8(&r, "reason code");
        if (!mqtt_reason_allowed(h.type, out->reason))
            mqtt_reader_fail(&r, MQTT_RC_MALFORMED_PACKET, "reason code not valid in this packet");
        /* AUTH leaves out reason and properties together (§3.15.2). */
        if (mqtt_reader_left(&r) > 0 || h.type == MQTT_AUTH)
            mqtt_read_props(&r, h.type, &out->props);
    }
    mqtt_read_end(&r, "bytes after the properties");
    return mqtt_decode_finish(&r, size, why);
}

static void disconnect_write_body(struct mqtt_writer *w, const void *pkt, int version)
{
    const struct mqtt_disconnect *d = pkt;
    bool no_props = mqtt_props_empty(&d->props);
    if (version != MQTT_V5) {
        w->bad |= d->type != MQTT_DISCONNECT || d->reason != 0 || !no_props;
        return;
    }
    w->bad |= !mqtt_reason_allowed(d->type, d->reason);
    if (d->reason == 0 && no_props)
        return;
    mqtt_write_u8(w, d->reason);
    if (!no_props || d->type == MQTT_AUTH)
        mqtt_write_props(w, &d->props, d->type);
}

size_t mqtt_encode_disconnect(uint8_t *buf, size_t cap, const struct mqtt_disconnect *pkt,
                              int version)
{
    if (!mqtt_version_ok(version) || (pkt->type != MQTT_DISCONNECT && pkt->type != MQTT_AUTH))
        return 0;
    return mqtt_encode_packet(buf, cap, (uint8_t)(pkt->type << 4), disconnect_write_body, pkt,
                              version);
}
