/* The bridge's health on the embedded broker: retained $SYS/bridge/...
 * topics (listed in bridge.h), republished every broker.sys_interval when
 * they changed, and at once when the uplink goes up or down. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bridge/bridge_internal.h"
#include "gateway/broker/broker.h"
#include "gateway/log.h"
#include "gateway/loop.h"

static const char *const health_topics[BRIDGE_HEALTH_TOPICS] = {
    "$SYS/bridge/state",
    "$SYS/bridge/reconnects",
    "$SYS/bridge/messages/forwarded",
    "$SYS/bridge/messages/received",
    "$SYS/bridge/messages/denied",
    "$SYS/bridge/messages/dropped",
    "$SYS/bridge/spool/messages",
    "$SYS/bridge/spool/bytes",
    "$SYS/bridge/spool/oldest_age",
    "$SYS/bridge/spool/dropped/full",
    "$SYS/bridge/spool/dropped/age",
    "$SYS/bridge/spool/dropped/corrupt",
    "$SYS/bridge/spool/dropped/error",
    "$SYS/bridge/spool/errors",
    "$SYS/bridge/spool/last_error",
};

static void health_values(const struct bridge *b,
                          char v[BRIDGE_HEALTH_TOPICS][BRIDGE_HEALTH_VALUE_MAX])
{
    struct spool_stats ss = { 0 };
    if (b->spool)
        spool_stats(b->spool, &ss);
    const struct bridge_stats *st = &b->stats;
    uint64_t numbers[] = {
        0, st->reconnects, st->forwarded, st->received, st->denied, st->dropped_memory,
        ss.msgs, ss.disk_bytes, (uint64_t)(ss.oldest_age_ms > 0 ? ss.oldest_age_ms / 1000 : 0),
        ss.dropped_full, ss.dropped_age, ss.dropped_corrupt, st->dropped_error,
        st->spool_errors,
    };
    snprintf(v[0], BRIDGE_HEALTH_VALUE_MAX, "%s", st->connected ? "connected" : "disconnected");
    for (size_t i = 1; i < sizeof numbers / sizeof numbers[0]; i++)
        snprintf(v[i], BRIDGE_HEALTH_VALUE_MAX, "%" PRIu64, numbers[i]);
    snprintf(v[BRIDGE_HEALTH_TOPICS - 1], BRIDGE_HEALTH_VALUE_MAX, "%s",
             b->spool && b->spool_failing ? spool_last_error(b->spool) : "");
}

void bridge_health_publish(struct bridge *b, bool force)
{
    char now[BRIDGE_HEALTH_TOPICS][BRIDGE_HEALTH_VALUE_MAX];
    health_values(b, now);
    for (size_t i = 0; i < BRIDGE_HEALTH_TOPICS; i++) {
        if (!force && strcmp(now[i], b->health_last[i]) == 0)
            continue;
        /* Retained QoS 0, as the broker's own $SYS topics. */
        int rc = broker_publish(b->broker, health_topics[i], now[i], strlen(now[i]), 0, true);
        if (rc < 0) {
            log_debug("bridge", "cannot publish %s", health_topics[i]);
            continue;
        }
        memcpy(b->health_last[i], now[i], sizeof now[i]);
    }
}

static int64_t on_health_timer(struct loop *loop, void *data)
{
    (void)loop;
    struct bridge *b = data;
    bridge_health_publish(b, false);
    return b->cfg->broker.sys_interval / 1000;
}

int bridge_health_start(struct bridge *b)
{
    bridge_health_publish(b, true);
    int64_t every = b->cfg->broker.sys_interval / 1000;
    if (every <= 0)
        return 0;
    b->health_timer = loop_timer_add(b->loop, every, on_health_timer, b);
    return b->health_timer ? 0 : -ENOMEM;
}

void bridge_health_stop(struct bridge *b)
{
    if (b->health_timer)
        loop_timer_cancel(b->loop, b->health_timer);
    b->health_timer = 0;
    if (b->broker && b->health_last[0][0])
        bridge_health_publish(b, false); /* "disconnected", final counts */
}
