/* In-process subscribers: sessions without a connection whose deliveries are
 * a function call on the loop's thread (the bridge, command handling). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/broker/broker_internal.h"
#include "gateway/mqtt/topic.h"

struct broker_local {
    struct session *session;
};

struct broker_local *broker_local_new(struct broker *b, const char *name, broker_local_fn *fn,
                                      void *ctx)
{
    struct broker_local *l = calloc(1, sizeof(*l));
    struct session *s = calloc(1, sizeof(*s));
    if (!l || !s || !(s->client_id = strdup(name))) {
        free(l);
        free(s);
        return NULL;
    }
    s->broker = b;
    s->local_fn = fn;
    s->local_ctx = ctx;
    s->persistent = true;
    l->session = s;
    return l;
}

int broker_local_subscribe(struct broker_local *l, const char *filter, int qos)
{
    if (qos < 0 || qos > 2 || !mqtt_topic_filter_valid(filter, strlen(filter)))
        return -EINVAL;
    struct sub_options opt = { .qos = (uint8_t)qos };
    int rc = session_add_sub(l->session, filter, &opt);
    if (rc < 0)
        return -ENOMEM;
    struct mqtt_share share;
    if (mqtt_share_parse(filter, strlen(filter), &share) != MQTT_SHARE_OK)
        retain_deliver(l->session->broker, l->session, filter, &opt);
    return 0;
}

int broker_local_unsubscribe(struct broker_local *l, const char *filter)
{
    return session_remove_sub(l->session, filter) == 0 ? 0 : -ENOENT;
}

void broker_local_free(struct broker_local *l)
{
    if (!l)
        return;
    session_destroy(l->session);
    free(l);
}
