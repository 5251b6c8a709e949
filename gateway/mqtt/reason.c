/* Names of packet types and reason codes, which reason codes each MQTT 5
 * packet may carry, and their 3.1.1 CONNACK equivalents. */
#include "gateway/mqtt/mqtt.h"

const char *mqtt_packet_name(unsigned type)
{
    static const char *const names[16] = {
        "reserved", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
        "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT",
        "AUTH",
    };
    return type < 16 ? names[type] : "reserved";
}

const char *mqtt_reason_name(unsigned code)
{
    switch (code) {
#define MQTT_REASON_CASE(name, value, packets, text) \
    case value: \
        return text;
        MQTT_REASON_LIST(MQTT_REASON_CASE)
#undef MQTT_REASON_CASE
    default:
        return "unknown reason code";
    }
}

bool mqtt_reason_allowed(unsigned type, unsigned code)
{
    switch (code) {
#define MQTT_REASON_MASK(name, value, packets, text) \
    case value: \
        return type < 16 && ((packets) & (1u << type)) != 0;
        MQTT_REASON_LIST(MQTT_REASON_MASK)
#undef MQTT_REASON_MASK
    default:
        return false;
    }
}

uint8_t mqtt_connack_v311_code(unsigned reason)
{
    switch (reason) {
    case MQTT_RC_UNSUPPORTED_VERSION:
        return 1;
    case MQTT_RC_CLIENT_ID_INVALID:
        return 2;
    case MQTT_RC_SERVER_UNAVAILABLE:
    case MQTT_RC_SERVER_BUSY:
        return 3;
    case MQTT_RC_BAD_USERNAME_PASSWORD:
        return 4;
    case MQTT_RC_NOT_AUTHORIZED:
        return 5;
    default:
        return 0;
    }
}
