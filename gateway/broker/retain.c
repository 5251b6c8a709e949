/* Retained messages: one per topic, replaced by each retained PUBLISH,
 * cleared by an empty one, and handed to new subscriptions that match. */
#include <string.h>

#include "gateway/broker/broker_internal.h"
#include "gateway/broker/persist.h"
#include "gateway/loop.h"
#include "gateway/mqtt/topic.h"

void retain_store(struct broker *b, struct broker_msg *m)
{
    if (!m->retain)
        return;
    struct broker_msg *old = strmap_remove(&b->retained, m->topic, m->topic_len);
    msg_unref(old);
    /* An empty retained message clears (MQTT-3.3.1-6); out of memory, the
     * message is still routed, just not kept. */
    bool kept = m->payload_len > 0 && !strmap_put(&b->retained, m->topic, m->topic_len, m);
    if (kept)
        msg_ref(m);
    if (kept || old)
        persist_retain(b, m, kept);
}

/* A linear scan: retained topics on a gateway number in the thousands, and
 * this runs once per SUBSCRIBE, not per message. */
void retain_deliver(struct broker *b, struct session *s, const char *filter,
                    const struct sub_options *opt)
{
    int64_t now = loop_now_ms(b->loop);
    const char *topic;
    void *value;
    for (size_t i = 0; strmap_next(&b->retained, &i, &topic, &value);) {
        struct broker_msg *m = value;
        if (msg_expired(m, now)) {
            strmap_remove(&b->retained, m->topic, m->topic_len);
            msg_unref(m);
            continue;
        }
        if (!mqtt_topic_matches(filter, strlen(filter), m->topic, m->topic_len))
            continue;
        uint8_t qos = m->qos < opt->qos ? m->qos : opt->qos;
        /* Retained messages sent because of a subscription keep RETAIN set
         * (MQTT-3.3.1-8), whatever retain-as-published says. */
        session_deliver(s, m, qos, true, &opt->id, opt->id ? 1 : 0);
    }
}

void retain_free_all(struct broker *b)
{
    const char *topic;
    void *value;
    for (size_t i = 0; strmap_next(&b->retained, &i, &topic, &value);)
        msg_unref(value);
    strmap_free(&b->retained);
}
