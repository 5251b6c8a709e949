/* SUBSCRIBE and UNSUBSCRIBE: grant each filter, acknowledge with one reason
 * per filter, then hand over the retained messages the options ask for. */
#include <stdlib.h>
#include <string.h>

#include "gateway/broker/auth.h"
#include "gateway/broker/broker_internal.h"
#include "gateway/log.h"
#include "gateway/mqtt/topic.h"

#define MAX_FILTERS_PER_PACKET 256

static void send_suback(struct client *c, uint8_t type, uint16_t id, const uint8_t *reasons,
                        size_t n)
{
    struct mqtt_suback ack = { .type = type, .packet_id = id,
                               .reasons = { reasons, (uint32_t)n } };
    uint8_t buf[MAX_FILTERS_PER_PACKET + 64];
    size_t len = mqtt_encode_suback(buf, sizeof(buf), &ack, c->version);
    if (len && len <= sizeof(buf))
        client_send(c, buf, len);
}

/* Grant one filter; returns the SUBACK reason. *is_new: not a replacement. */
static uint8_t subscribe_one(struct client *c, const struct mqtt_sub_entry *e, uint32_t sub_id,
                             const char *filter, bool *is_new, bool *shared)
{
    struct mqtt_share share;
    *shared = mqtt_share_parse(filter, e->filter.len, &share) == MQTT_SHARE_OK;
    if (*shared && e->no_local && c->version == MQTT_V5)
        return MQTT_RC_PROTOCOL_ERROR; /* MQTT-3.8.3-4 */
    if (!auth_may_subscribe(c->session, filter)) {
        /* Stricter than Mosquitto 2.0, which grants any filter (acl.h). */
        log_debug("broker", "SUBSCRIBE of client '%s' to '%s' denied: not authorized",
                  c->session->client_id, filter);
        return MQTT_RC_NOT_AUTHORIZED;
    }
    struct sub_options opt = {
        .qos = e->qos, .no_local = e->no_local, .retain_as_published = e->retain_as_published,
        .retain_handling = e->retain_handling, .id = sub_id,
    };
    int rc = session_add_sub(c->session, filter, &opt);
    if (rc < 0)
        return MQTT_RC_UNSPECIFIED;
    *is_new = rc == 1;
    return e->qos; /* granted QoS 0..2 is also its reason code */
}

int handle_subscribe(struct client *c, const struct mqtt_subscribe *p)
{
    uint8_t reasons[MAX_FILTERS_PER_PACKET];
    char *filters[MAX_FILTERS_PER_PACKET];
    bool deliver[MAX_FILTERS_PER_PACKET];
    if (p->count > MAX_FILTERS_PER_PACKET)
        return MQTT_RC_QUOTA_EXCEEDED;
    uint32_t sub_id = mqtt_props_has(&p->props, MQTT_PROP_SUBSCRIPTION_ID) ?
                      p->props.subscription_id : 0;
    struct mqtt_list_iter it;
    mqtt_list_iter_init(&it, p->raw);
    struct mqtt_sub_entry entries[MAX_FILTERS_PER_PACKET];
    size_t n = 0;
    for (struct mqtt_sub_entry e; n < p->count && mqtt_sub_next(&it, &e); n++) {
        entries[n] = e;
        filters[n] = strndup((const char *)e.filter.data, e.filter.len);
        bool is_new = false, shared = false;
        reasons[n] = filters[n] ? subscribe_one(c, &e, sub_id, filters[n], &is_new, &shared)
                                : MQTT_RC_UNSPECIFIED;
        if (reasons[n] >= 0x80 && c->version != MQTT_V5)
            reasons[n] = 0x80;
        /* Retained messages: handling 0 always, 1 only for a new subscription,
         * 2 never; shared subscriptions never get them (MQTT 5 §4.8.2). */
        deliver[n] = reasons[n] < 0x80 && !shared &&
                     (e.retain_handling == 0 || (e.retain_handling == 1 && is_new));
    }
    send_suback(c, MQTT_SUBACK, p->packet_id, reasons, n);
    for (size_t i = 0; i < n; i++) {
        if (deliver[i]) {
            struct sub_options opt = { .qos = entries[i].qos,
                                       .retain_as_published = entries[i].retain_as_published,
                                       .id = sub_id };
            retain_deliver(c->broker, c->session, filters[i], &opt);
        }
        free(filters[i]);
    }
    return 0;
}

int handle_unsubscribe(struct client *c, const struct mqtt_unsubscribe *p)
{
    uint8_t reasons[MAX_FILTERS_PER_PACKET];
    if (p->count > MAX_FILTERS_PER_PACKET)
        return MQTT_RC_QUOTA_EXCEEDED;
    struct mqtt_list_iter it;
    mqtt_list_iter_init(&it, p->raw);
    size_t n = 0;
    for (struct mqtt_bytes f; n < p->count && mqtt_unsub_next(&it, &f); n++) {
        char *filter = strndup((const char *)f.data, f.len);
        reasons[n] = filter && session_remove_sub(c->session, filter) == 0 ?
                     MQTT_RC_SUCCESS : MQTT_RC_NO_SUBSCRIPTION_EXISTED;
        free(filter);
    }
    send_suback(c, MQTT_UNSUBACK, p->packet_id, reasons, n);
    return 0;
}
