/* Decoding whichever packet comes next, and encoding any packet: a dispatch
 * on the type to the per-packet codecs, after the size limit is checked. */
#include <string.h>

#include "gateway/mqtt/mqtt.h"
#include "gateway/mqtt/wire.h"

int mqtt_decode(const uint8_t *buf, size_t len, int version, uint32_t max_packet_size,
                struct mqtt_packet *out, const char **why)
{
    struct mqtt_fixed_header h;
    int rc = mqtt_decode_fixed_header(buf, len, max_packet_size, &h, why);
    if (rc <= 0)
        return rc;
    memset(out, 0, sizeof *out);
    out->type = h.type;
    switch (h.type) {
    case MQTT_CONNECT: return mqtt_decode_connect(buf, len, &out->u.connect, why);
    case MQTT_CONNACK: return mqtt_decode_connack(buf, len, version, &out->u.connack, why);
    case MQTT_PUBLISH: return mqtt_decode_publish(buf, len, version, &out->u.publish, why);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP: return mqtt_decode_ack(buf, len, version, &out->u.ack, why);
    case MQTT_SUBSCRIBE:
        return mqtt_decode_subscribe(buf, len, version, &out->u.subscribe, why);
    case MQTT_UNSUBSCRIBE:
        return mqtt_decode_unsubscribe(buf, len, version, &out->u.unsubscribe, why);
    case MQTT_SUBACK:
    case MQTT_UNSUBACK: return mqtt_decode_suback(buf, len, version, &out->u.suback, why);
    case MQTT_PINGREQ:
    case MQTT_PINGRESP: return mqtt_decode_ping(buf, len, &out->type, why);
    default: return mqtt_decode_disconnect(buf, len, version, &out->u.disconnect, why);
    }
}

size_t mqtt_encode(uint8_t *buf, size_t cap, const struct mqtt_packet *pkt, int version)
{
    switch (pkt->type) {
    case MQTT_CONNECT: return mqtt_encode_connect(buf, cap, &pkt->u.connect);
    case MQTT_CONNACK: return mqtt_encode_connack(buf, cap, &pkt->u.connack, version);
    case MQTT_PUBLISH: return mqtt_encode_publish(buf, cap, &pkt->u.publish, version);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP: return mqtt_encode_ack(buf, cap, &pkt->u.ack, version);
    case MQTT_SUBSCRIBE: return mqtt_encode_subscribe(buf, cap, &pkt->u.subscribe, version);
    case MQTT_UNSUBSCRIBE:
        return mqtt_encode_unsubscribe(buf, cap, &pkt->u.unsubscribe, version);
    case MQTT_SUBACK:
    case MQTT_UNSUBACK: return mqtt_encode_suback(buf, cap, &pkt->u.suback, version);
    case MQTT_PINGREQ:
    case MQTT_PINGRESP: return mqtt_encode_ping(buf, cap, pkt->type);
    case MQTT_DISCONNECT:
    case MQTT_AUTH: return mqtt_encode_disconnect(buf, cap, &pkt->u.disconnect, version);
    default: return 0;
    }
}
