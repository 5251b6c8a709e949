/* PUBLISH from a client (topic aliases, QoS 1 and 2 flows, retain) and the
 * acknowledgements of both directions (PUBACK, PUBREC, PUBREL, PUBCOMP). */
#include <stdlib.h>
#include <string.h>

#include "gateway/broker/auth.h"
#include "gateway/broker/broker_internal.h"
#include "gateway/log.h"
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

/* A PUBLISH the ACL does not allow is dropped. An MQTT 5 client sending
 * QoS 1 or 2 is told (0x87, as Mosquitto does); QoS 0 and MQTT 3.1.1 have
 * no way to say it, so the normal acknowledgement goes (MQTT-3.3.5-2).
 * Returns true when the message may be routed. */
static bool publish_allowed(struct client *c, struct mqtt_bytes topic)
{
    if (auth_may_write(c->session, (const char *)topic.data, topic.len))
        return true;
    log_debug("broker", "PUBLISH of client '%s' on '%.*s' denied: not authorized",
              c->session->client_id, (int)topic.len, (const char *)topic.data);
    c->broker->stats.messages_dropped++;
    return false;
}

/* Past memory_limit (backpressure.c): QoS 0 is dropped, and an MQTT 5
 * client's QoS 1/2 refused with 0x97 (quota exceeded), so nothing new is
 * stored. A 3.1.1 client's QoS 1/2 was held before it came here
 * (broker_mem_hold) and passes: it cannot be refused. True when dropped. */
static bool memory_refused(struct client *c, const struct mqtt_publish *p)
{
    struct broker *b = c->broker;
    if (!broker_mem_biting(b) || (p->qos > 0 && c->version != MQTT_V5))
        return false;
    b->stats.messages_dropped++;
    if (p->qos == 0) {
        b->mem_counts.dropped++;
    } else {
        b->mem_counts.refused++;
        send_ack(c, p->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, p->packet_id,
                 MQTT_RC_QUOTA_EXCEEDED);
    }
    broker_mem_note(b);
    return true;
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
    bool allowed = publish_allowed(c, topic);
    if (!allowed && c->version == MQTT_V5 && p->qos > 0) {
        send_ack(c, p->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, p->packet_id,
                 MQTT_RC_NOT_AUTHORIZED);
        return 0; /* a failed PUBREC ends the QoS 2 flow: no id kept */
    }
    if (allowed && memory_refused(c, p))
        return 0;
    /* Clients may not publish into $SYS-style topics (MQTT-4.7.2); the
     * message is acknowledged and dropped, as Mosquitto does. */
    if (allowed && !topic_is_reserved(topic)) {
        struct broker_msg *m = msg_new(b, (const char *)topic.data, topic.len, p->payload.data,
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
