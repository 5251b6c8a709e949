/* Variable byte integers (remaining length, property lengths, subscription
 * ids) and the fixed header that starts every packet. Minimal encodings only:
 * see mqtt_varint_decode in mqtt.h for why. */
#include "gateway/mqtt/mqtt.h"
#include "gateway/mqtt/wire.h"

int mqtt_varint_decode(const uint8_t *buf, size_t len, uint32_t *value, const char **why)
{
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        if (i == len)
            return 0;
        uint8_t b = buf[i];
        v |= (uint32_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            if (i > 0 && b == 0)
                return mqtt_fail(why, MQTT_RC_MALFORMED_PACKET,
                                 "variable byte integer not minimal");
            *value = v;
            return (int)i + 1;
        }
    }
    return mqtt_fail(why, MQTT_RC_MALFORMED_PACKET, "variable byte integer longer than 4 bytes");
}

size_t mqtt_varint_size(uint32_t value)
{
    if (value < 128u)
        return 1;
    if (value < 16384u)
        return 2;
    if (value < 2097152u)
        return 3;
    return value <= MQTT_MAX_REMAINING ? 4 : 0;
}

size_t mqtt_varint_encode(uint8_t *buf, size_t cap, uint32_t value)
{
    size_t n = mqtt_varint_size(value);
    if (n == 0 || n > cap)
        return n;
    for (size_t i = 0; i < n; i++) {
        buf[i] = (uint8_t)((value & 0x7f) | (i + 1 < n ? 0x80 : 0));
        value >>= 7;
    }
    return n;
}

/* The flags each type must carry; PUBLISH's are checked apart. */
static int check_flags(unsigned type, unsigned flags, const char **why)
{
    if (type == 0)
        return mqtt_fail(why, MQTT_RC_MALFORMED_PACKET, "reserved packet type 0");
    if (type == MQTT_PUBLISH) {
        unsigned qos = (flags >> 1) & 3;
        if (qos == 3)
            return mqtt_fail(why, MQTT_RC_MALFORMED_PACKET, "PUBLISH with QoS 3");
        if (qos == 0 && (flags & 8))
            return mqtt_fail(why, MQTT_RC_MALFORMED_PACKET, "PUBLISH with DUP set and QoS 0");
        return 0;
    }
    unsigned want = (type == MQTT_PUBREL || type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE)
                        ? 2 : 0;
    if (flags != want)
        return mqtt_fail(why, MQTT_RC_MALFORMED_PACKET, "wrong fixed header flags");
    return 0;
}

int mqtt_decode_fixed_header(const uint8_t *buf, size_t len, uint32_t max_packet_size,
                             struct mqtt_fixed_header *hdr, const char **why)
{
    if (len == 0)
        return 0;
    int rc = check_flags(buf[0] >> 4, buf[0] & 0x0f, why);
    if (rc < 0)
        return rc;
    uint32_t remaining;
    rc = mqtt_varint_decode(buf + 1, len - 1, &remaining, why);
    if (rc <= 0)
        return rc;
    uint64_t total = (uint64_t)rc + 1 + remaining;
    if (max_packet_size != 0 && total > max_packet_size)
        return mqtt_fail(why, MQTT_RC_PACKET_TOO_LARGE, "packet larger than the maximum size");
    hdr->type = buf[0] >> 4;
    hdr->flags = buf[0] & 0x0f;
    hdr->header_len = (uint8_t)(rc + 1);
    hdr->remaining = remaining;
    return rc + 1;
}
