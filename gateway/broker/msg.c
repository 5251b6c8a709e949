/* Refcounted broker messages: one allocation holding topic, payload and the
 * PUBLISH's property block, shared by every queue that holds the message,
 * and charged to the broker's memory count while it lives. */
#include <stdlib.h>
#include <string.h>

#include "gateway/broker/broker_internal.h"

/* A slice of the original property block, moved to the same offset in our
 * copy of it. */
static struct mqtt_bytes rebase(struct mqtt_bytes b, const uint8_t *old_base, uint8_t *new_base)
{
    if (!b.data)
        return b;
    return (struct mqtt_bytes){ new_base + (b.data - old_base), b.len };
}

/* Keep what a broker forwards (MQTT 5 §3.3.2.3): payload format, content
 * type, response topic, correlation data and (through raw) user properties.
 * Message expiry becomes a deadline; topic alias and subscription ids belong
 * to one connection and are set per delivery. */
static void keep_forwarded(struct broker_msg *m, const struct mqtt_props *in, int64_t now_ms)
{
    memcpy(m->props, in->raw.data, in->raw.len);
    m->fwd = *in;
    m->fwd.content_type = rebase(in->content_type, in->raw.data, m->props);
    m->fwd.response_topic = rebase(in->response_topic, in->raw.data, m->props);
    m->fwd.correlation_data = rebase(in->correlation_data, in->raw.data, m->props);
    m->fwd.raw = (struct mqtt_bytes){ m->props, in->raw.len };
    m->fwd.present &= MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT) |
                      MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE) |
                      MQTT_PROP_BIT(MQTT_PROP_RESPONSE_TOPIC) |
                      MQTT_PROP_BIT(MQTT_PROP_CORRELATION_DATA);
    m->fwd.user = NULL;
    m->fwd.sub_ids = NULL;
    m->fwd.n_sub_ids = 0;
    if (mqtt_props_has(in, MQTT_PROP_MESSAGE_EXPIRY)) {
        m->has_expiry = true;
        m->expires_at_ms = now_ms + (int64_t)in->message_expiry * 1000;
    }
}

/* The bytes of the one allocation (malloc's own overhead is not counted). */
static size_t msg_size(const struct broker_msg *m)
{
    return sizeof(*m) + m->topic_len + 1 + m->payload_len + m->props_len;
}

struct broker_msg *msg_new(struct broker *b, const char *topic, size_t topic_len,
                           const void *payload, size_t payload_len,
                           const struct mqtt_props *props, uint8_t qos, bool retain,
                           int64_t now_ms)
{
    size_t props_len = props ? props->raw.len : 0;
    struct broker_msg *m = calloc(1, sizeof(*m) + topic_len + 1 + payload_len + props_len);
    if (!m)
        return NULL;
    m->broker = b;
    m->refs = 1;
    m->qos = qos;
    m->retain = retain;
    m->topic = (char *)(m + 1);
    m->payload = (uint8_t *)m->topic + topic_len + 1;
    m->props = m->payload + payload_len;
    m->topic_len = (uint32_t)topic_len;
    m->payload_len = (uint32_t)payload_len;
    m->props_len = (uint32_t)props_len;
    memcpy(m->topic, topic, topic_len);
    m->topic[topic_len] = '\0';
    if (payload_len)
        memcpy(m->payload, payload, payload_len);
    if (props)
        keep_forwarded(m, props, now_ms);
    if (b) {
        if (broker_mem_biting(b))
            b->mem_counts.admitted++; /* only the trusted paths create messages then */
        broker_mem_add(b, msg_size(m));
    }
    return m;
}

struct broker_msg *msg_ref(struct broker_msg *m)
{
    m->refs++;
    return m;
}

void msg_unref(struct broker_msg *m)
{
    if (!m || --m->refs > 0)
        return;
    if (m->broker)
        broker_mem_sub(m->broker, msg_size(m));
    free(m);
}

bool msg_expired(const struct broker_msg *m, int64_t now_ms)
{
    return m->has_expiry && now_ms >= m->expires_at_ms;
}

struct broker_msg *msg_restore(struct broker *b, const char *topic, size_t topic_len,
                               const void *payload, size_t payload_len, const uint8_t *props,
                               size_t props_len, uint8_t qos, bool retain, bool has_expiry,
                               int64_t expires_at_ms)
{
    struct mqtt_props decoded = { 0 };
    uint8_t *block = NULL;
    if (props_len) {
        /* The decoder wants the block as on the wire: its length first. */
        size_t head = mqtt_varint_size((uint32_t)props_len);
        block = malloc(head + props_len);
        if (!block)
            return NULL;
        mqtt_varint_encode(block, head, (uint32_t)props_len);
        memcpy(block + head, props, props_len);
        const char *why;
        if (mqtt_props_decode(block, head + props_len, MQTT_PUBLISH, &decoded, &why) < 0) {
            free(block);
            return NULL;
        }
    }
    struct broker_msg *m = msg_new(b, topic, topic_len, payload, payload_len,
                                   props_len ? &decoded : NULL, qos, retain, 0);
    free(block);
    if (m) {
        m->has_expiry = has_expiry;
        m->expires_at_ms = has_expiry ? expires_at_ms : 0;
    }
    return m;
}
