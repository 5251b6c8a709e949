/* $SYS/broker/... topics: the broker's own figures, published retained every
 * sys_interval, as Mosquitto users know them (uptime, clients, messages and
 * bytes in and out, dropped messages, retained and subscription counts, and
 * heap: the bytes the broker holds, as counted against memory_limit). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gateway/broker/broker_internal.h"
#include "gateway/loop.h"

static void publish_number(struct broker *b, const char *topic, uint64_t value)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%" PRIu64, value);
    broker_publish(b, topic, text, (size_t)n, 0, true);
}

void sys_publish(struct broker *b)
{
    struct broker_stats st;
    broker_get_stats(b, &st);
    int64_t uptime_s = (loop_now_ms(b->loop) - b->started_ms) / 1000;
    char uptime[48];
    int n = snprintf(uptime, sizeof(uptime), "%" PRId64 " seconds", uptime_s);
    broker_publish(b, "$SYS/broker/uptime", uptime, (size_t)n, 0, true);
    publish_number(b, "$SYS/broker/clients/connected", st.clients_connected);
    publish_number(b, "$SYS/broker/clients/total", b->sessions.count);
    publish_number(b, "$SYS/broker/messages/received", st.messages_received);
    publish_number(b, "$SYS/broker/messages/sent", st.messages_sent);
    publish_number(b, "$SYS/broker/messages/dropped", st.messages_dropped);
    publish_number(b, "$SYS/broker/bytes/received", st.bytes_received);
    publish_number(b, "$SYS/broker/bytes/sent", st.bytes_sent);
    publish_number(b, "$SYS/broker/retained messages/count", st.retained);
    publish_number(b, "$SYS/broker/subscriptions/count", st.subscriptions);
    publish_number(b, "$SYS/broker/heap/current", b->mem_current);
    publish_number(b, "$SYS/broker/heap/maximum", b->mem_max);
}

static int64_t on_sys_timer(struct loop *loop, void *data)
{
    (void)loop;
    struct broker *b = data;
    sys_publish(b);
    return b->sys_interval_ms;
}

void sys_start(struct broker *b)
{
    static const char version[] = "mqgate " MQGATE_VERSION;
    broker_publish(b, "$SYS/broker/version", version, sizeof(version) - 1, 0, true);
    if (b->sys_interval_ms > 0) {
        sys_publish(b);
        b->sys_timer = loop_timer_add(b->loop, b->sys_interval_ms, on_sys_timer, b);
    }
}
