/* PUBLISH from a client (topic aliases, QoS 1 and 2 flows, retain) and the
 * acknowledgements of both directions (PUBACK, PUBREC, PUBREL, PUBCOMP). */
#include <stdlib.h>
#include <string.h>

#include "gateway/broker/broker_internal.h"
#include "gateway/loop.h"

static void send_ack(struct client *c, uint8_t type, uint16_t id, uint8_t reason)
{
    struct mqtt_ack ack = { .type = type, .packet_id = id, .reason = reason };
    uint8_t buf[32];
    size_t n = mqtt_encode_ack(buf, sizeof(buf), &ack, c->version);
    if (n && n <= sizeof(buf))
        client_send(c, buf, n);
}

/* MQTT 5 topic aliases from the client: an alias with a topic sets it, an
 * alias alone uses it. Returns 0 with *topic set, or a reason code. */
static int resolve_alias(struct client *c, const struct mqtt_publish *p, struct mqtt_bytes *topic)
{
    *topic = p->topic;
    if (c->version != MQTT_V5 || !mqtt_props_has(&p->props, MQTT_PROP_TOPIC_ALIAS))
        return p->topic.len ? 0 : MQTT_RC_PROTOCOL_ERROR;
    uint16_t alias = p->props.topic_alias;
    if (alias == 0 || alias > c->topic_alias_max_in)
        return MQTT_RC_TOPIC_ALIAS_INVALID;
    if (p->topic.len) {
        char *copy = strndup((const char *)p->topic.data, p->topic.len);
        if (!copy)
            return MQTT_RC_SERVER_BUSY;
        free(c->aliases_in[alias]);
        c->aliases_in[alias] = copy;
        return 0;
    }
    if (!c->aliases_in[alias])
        return MQTT_RC_PROTOCOL_ERROR; /* MQTT-3.3.2-8: unknown alias */
    *topic = (struct mqtt_bytes){ (const uint8_t *)c->aliases_in[alias],
                                  (uint32_t)strlen(c->aliases_in[alias]) };
    return 0;
}

static bool topic_is_reserved(struct mqtt_bytes topic)
{
    return topic.len > 0 && topic.data[0] == '$';
}

int handle_publish(struct client *c, const struct mqtt_publish *p)
{
    struct broker *b = c->broker;
    struct session *s = c->session;
    if (p->retain && !b->limits.retain_available)
        return MQTT_RC_RETAIN_NOT_SUPPORTED;
    struct mqtt_bytes topic;
    int reason = resolve_alias(c, p, &topic);
    if (reason)
        return reason;
    b->stats.messages_received++;

    if (p->qos == 2 && session_rx_qos2_has(s, p->packet_id)) {
        /* A resend of a QoS 2 message already accepted: acknowledge only. */
        send_ack(c, MQTT_PUBREC, p->packet_id, 0);
        return 0;
    }
    /* Clients may not publish into $SYS-style topics (MQTT-4.7.2); the
     * message is acknowledged and dropped, as Mosquitto does. */
    if (!topic_is_reserved(topic)) {
        struct broker_msg *m = msg_new((const char *)topic.data, topic.len, p->payload.data,
                                       p->payload.len, c->version == MQTT_V5 ? &p->props : NULL,
                                       p->qos, p->retain, loop_now_ms(b->loop));
        if (!m)
            return MQTT_RC_SERVER_BUSY;
        m->origin = s;
        retain_store(b, m);
        broker_route(b, m);
        msg_unref(m);
    }
    if (p->qos == 1) {
        send_ack(c, MQTT_PUBACK, p->packet_id, 0);
    } else if (p->qos == 2) {
        /* QoS 2 messages wait for PUBREL: the client may have at most our
         * receive maximum of them open (MQTT-3.3.4-9). */
        if (s->n_rx_qos2 >= b->limits.receive_maximum)
            return MQTT_RC_RECEIVE_MAX_EXCEEDED;
        if (session_rx_qos2_add(s, p->packet_id))
            return MQTT_RC_SERVER_BUSY;
        send_ack(c, MQTT_PUBREC, p->packet_id, 0);
    }
    return 0;
}

int handle_ack(struct client *c, const struct mqtt_ack *p)
{
    struct session *s = c->session;
    if (p->type == MQTT_PUBREL) {
        bool known = session_rx_qos2_has(s, p->packet_id);
        session_rx_qos2_remove(s, p->packet_id);
        send_ack(c, MQTT_PUBCOMP, p->packet_id, known ? 0 : MQTT_RC_PACKET_ID_NOT_FOUND);
        return 0;
    }
    int reason = session_ack(s, p->type, p->packet_id);
    if (p->type == MQTT_PUBREC && reason == 0)
        send_ack(c, MQTT_PUBREL, p->packet_id, 0);
    else if (p->type == MQTT_PUBREC)
        send_ack(c, MQTT_PUBREL, p->packet_id, (uint8_t)reason);
    return p->type == MQTT_PUBREC ? 0 : reason;
}
