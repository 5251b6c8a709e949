/* Drivers → mapping → broker, and commands back (see pipeline.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/drivers.h"
#include "gateway/broker/broker.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "gateway/mapping/discovery.h"
#include "gateway/mapping/mapping.h"
#include "gateway/pipeline.h"

struct pipeline {
    const struct config *cfg;
    struct loop *loop;
    struct broker *broker;
    struct mapping *mapping;
    struct drivers *drivers;
    struct broker_local *commands;
    struct broker_local *ha_status;   /* Home Assistant's birth message */
};

static void to_broker(void *ctx, const char *topic, const void *payload, size_t len, int qos,
                      bool retain)
{
    struct pipeline *p = ctx;
    if (!p->broker)
        return;
    int rc = broker_publish(p->broker, topic, payload, len, qos, retain);
    if (rc < 0)
        log_warn("gateway", "cannot publish on '%s': %s", topic, strerror(-rc));
}

static void on_driver_event(void *ctx, const struct driver_event *ev)
{
    struct pipeline *p = ctx;
    mapping_on_event(p->mapping, ev, loop_now_ms(p->loop));
}

/* A message on a command topic: checked and converted by the mapping, then
 * queued to the device's bus; the reply follows the write. */
static void on_command(void *ctx, const char *topic, const void *payload, size_t len, int qos,
                       bool retain)
{
    (void)qos;
    struct pipeline *p = ctx;
    if (retain) {
        /* A retained command would run again at every restart. */
        log_warn("gateway", "ignoring a retained command on '%s'", topic);
        return;
    }
    struct mapping_command cmd;
    if (mapping_command_parse(p->mapping, topic, payload, len, &cmd) < 0)
        return;
    uint64_t id;
    int rc = drivers_write(p->drivers, cmd.device, cmd.point, &cmd.raw, &id);
    if (rc < 0) {
        mapping_command_failed(p->mapping, cmd.device, cmd.point,
                               rc == -EINVAL ? "the device's bus is not running" : strerror(-rc));
        return;
    }
    mapping_command_sent(p->mapping, cmd.device, cmd.point, id);
    log_info("gateway", "command for %s/%s queued", cmd.device, cmd.point);
}

static void announce(struct pipeline *p)
{
    int n = discovery_publish(p->cfg, to_broker, p);
    if (n > 0)
        log_info("gateway", "Home Assistant discovery: %d entities announced", n);
}

/* Home Assistant publishes "online" on <prefix>/status when it starts:
 * announce again, so entities survive its restarts without retained
 * configs having been cleared by anyone. */
static void on_ha_status(void *ctx, const char *topic, const void *payload, size_t len, int qos,
                         bool retain)
{
    (void)topic, (void)qos;
    struct pipeline *p = ctx;
    if (!retain && len == 6 && memcmp(payload, "online", 6) == 0)
        announce(p);
}

static int start_discovery(struct pipeline *p)
{
    if (!p->cfg->homeassistant.enabled || !p->broker)
        return 0;
    announce(p);
    char filter[256];
    snprintf(filter, sizeof filter, "%s/status", p->cfg->homeassistant.prefix);
    p->ha_status = broker_local_new(p->broker, "homeassistant", on_ha_status, p);
    if (!p->ha_status)
        return -ENOMEM;
    return broker_local_subscribe(p->ha_status, filter, 0);
}

static int subscribe_commands(struct pipeline *p)
{
    const char *const *topics;
    size_t n = mapping_command_topics(p->mapping, &topics);
    if (n == 0 || !p->broker)
        return 0;
    p->commands = broker_local_new(p->broker, "commands", on_command, p);
    if (!p->commands)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int rc = broker_local_subscribe(p->commands, topics[i], 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int pipeline_start(const struct config *cfg, struct loop *loop, struct broker *broker,
                   struct pipeline **out)
{
    struct pipeline *p = calloc(1, sizeof *p);
    if (!p) {
        log_error("gateway", "out of memory");
        return -1;
    }
    p->cfg = cfg;
    p->loop = loop;
    p->broker = broker;
    char err[256];
    if (mapping_new(cfg, to_broker, p, &p->mapping, err, sizeof err) < 0) {
        log_error("gateway", "mapping: %s", err);
        goto fail;
    }
    int rc = subscribe_commands(p);
    if (rc < 0) {
        log_error("gateway", "cannot subscribe to the command topics: %s", strerror(-rc));
        goto fail;
    }
    rc = start_discovery(p);
    if (rc < 0) {
        log_error("gateway", "Home Assistant discovery: %s", strerror(-rc));
        goto fail;
    }
    if (drivers_start(cfg, loop, on_driver_event, p, &p->drivers, err, sizeof err) < 0) {
        log_error("gateway", "drivers: %s", err);
        goto fail;
    }
    *out = p;
    return 0;
fail:
    pipeline_stop(p, false);
    return -1;
}

void pipeline_stop(struct pipeline *p, bool final)
{
    if (!p)
        return;
    drivers_stop(p->drivers);
    broker_local_free(p->commands);
    broker_local_free(p->ha_status);
    if (final && p->mapping)
        mapping_publish_all_availability(p->mapping, "offline");
    mapping_free(p->mapping);
    free(p);
}

bool pipeline_is_command_topic(const struct pipeline *p, const char *topic)
{
    if (!p || !p->mapping)
        return false;
    const char *const *topics;
    size_t n = mapping_command_topics(p->mapping, &topics);
    for (size_t i = 0; i < n; i++)
        if (strcmp(topics[i], topic) == 0)
            return true;
    return false;
}
