/* `mqgate check` summary: one line per bus, device and point, with the topic
 * each point is published on, then the broker and the bridge. */
#include <inttypes.h>
#include <string.h>

#include "config/names.h"
#include "config/schema.h"
#include "config/summary.h"
#include "config/template.h"
#include "config/values.h"

static const char *const register_names[] = { "holding", "input", "coil", "discrete" };
static const char *const bus_type_names[] = { "modbus_rtu", "modbus_tcp", "uart" };
static const char *const framing_names[] = { "none", "line", "nmea", "frame" };
static const char *const order_names[] = { "abcd", "badc", "cdab", "dcba" };
static const char parity_letters[] = { 'N', 'E', 'O' };

size_t config_point_topic(const struct config *cfg, const struct cfg_device *dev,
                          const struct cfg_point *pt, char *buf, size_t size)
{
    struct config_names names;
    config_names_of(cfg, dev, pt, &names);
    return config_names_render(&names, &pt->publish.topic, buf, size);
}

static void write_point(const struct config *cfg, const struct cfg_device *dev, bool modbus,
                        const struct cfg_point *pt, FILE *out)
{
    char where[64] = "", topic[256];
    /* Byte order matters only for values wider than one register. */
    bool wide = pt->type != CFG_T_BOOL && pt->type != CFG_T_INT16 && pt->type != CFG_T_UINT16;
    if (modbus)
        snprintf(where, sizeof(where), "%s 0x%04" PRIx64 " %s%s%s", register_names[pt->register_kind],
                 pt->address, cfg_enum_name(cfg_value_type_names, pt->type), wide ? " " : "",
                 wide ? order_names[pt->byte_order] : "");
    else if (dev->framing == CFG_FRAMING_NMEA)
        snprintf(where, sizeof(where), "%s.%s", pt->sentence ? pt->sentence : "?",
                 pt->field ? pt->field : "index");
    else
        snprintf(where, sizeof(where), "%s", cfg_enum_name(cfg_value_type_names, pt->type));
    config_point_topic(cfg, dev, pt, topic, sizeof(topic));
    fprintf(out, "    %-16s %-28s %-6s -> %s%s\n", pt->name, where, pt->unit && *pt->unit ? pt->unit : "-",
            topic, pt->writable ? " (writable)" : "");
}

static void write_device(const struct config *cfg, const struct cfg_device *dev,
                         const struct cfg_bus *bus, FILE *out)
{
    char every[32];
    value_format_duration(dev->poll_interval, every, sizeof(every));
    bool modbus = bus->type != CFG_BUS_UART;
    if (modbus)
        fprintf(out, "  device '%s': slave %" PRId64 ", every %s, %zu point%s%s\n", dev->name,
                dev->slave, every, dev->n_points, dev->n_points == 1 ? "" : "s",
                dev->enabled ? "" : " (disabled)");
    else
        fprintf(out, "  device '%s': %s framing, %zu point%s%s\n", dev->name,
                framing_names[dev->framing], dev->n_points, dev->n_points == 1 ? "" : "s",
                dev->enabled ? "" : " (disabled)");
    for (size_t p = 0; p < dev->n_points; p++)
        write_point(cfg, dev, modbus, &dev->points[p], out);
}

static void write_bus(const struct config *cfg, const struct cfg_bus *bus, FILE *out)
{
    char timeout[32];
    value_format_duration(bus->response_timeout, timeout, sizeof(timeout));
    if (bus->type == CFG_BUS_MODBUS_TCP)
        fprintf(out, "bus '%s': modbus_tcp to %s:%" PRId64 ", timeout %s\n", bus->name, bus->host,
                bus->port, timeout);
    else
        fprintf(out, "bus '%s': %s on %s, %" PRId64 " %" PRId64 "%c%" PRId64 "%s, timeout %s\n",
                bus->name, bus_type_names[bus->type], bus->device, bus->baud, bus->data_bits,
                parity_letters[bus->parity], bus->stop_bits,
                bus->rs485.mode == CFG_RS485_OFF ? "" : ", RS-485", timeout);
    for (size_t d = 0; d < cfg->n_devices; d++)
        if (cfg->devices[d].bus && strcmp(cfg->devices[d].bus, bus->name) == 0)
            write_device(cfg, &cfg->devices[d], bus, out);
}

static void write_broker(const struct config *cfg, FILE *out)
{
    const struct cfg_broker *b = &cfg->broker;
    if (!b->enabled) {
        fprintf(out, "broker: disabled\n");
        return;
    }
    for (size_t i = 0; i < b->n_listeners; i++) {
        const struct cfg_listener *l = &b->listeners[i];
        fprintf(out, "broker: %s on %s:%" PRId64 "%s\n",
                l->protocol == CFG_LISTENER_MQTTS ? "mqtts" : "mqtt", l->bind, l->port,
                l->allow_anonymous ? " (anonymous allowed)" : " (login required)");
    }
}

static void write_bridge(const struct config *cfg, FILE *out)
{
    const struct cfg_bridge *br = &cfg->bridge;
    if (!cfg_is_set(&cfg_schema_root, cfg, "bridge") || !br->enabled) {
        fprintf(out, "bridge: none\n");
        return;
    }
    char size[32];
    value_format_size(br->spool.max_size, size, sizeof(size));
    fprintf(out, "bridge: %s (MQTT %s), %zu forward rule%s, %zu receive rule%s, spool %s in %s\n",
            br->url, br->mqtt_version == CFG_MQTT_5 ? "5" : "3.1.1", br->n_forward,
            br->n_forward == 1 ? "" : "s", br->n_receive, br->n_receive == 1 ? "" : "s", size,
            br->spool.dir);
}

void config_summary_write(const struct config *cfg, FILE *out)
{
    size_t points = 0;
    for (size_t d = 0; d < cfg->n_devices; d++)
        points += cfg->devices[d].n_points;
    fprintf(out, "gateway '%s': %zu bus%s, %zu device%s, %zu point%s\n", cfg->gateway.name,
            cfg->n_buses, cfg->n_buses == 1 ? "" : "es", cfg->n_devices,
            cfg->n_devices == 1 ? "" : "s", points, points == 1 ? "" : "s");
    write_broker(cfg, out);
    for (size_t b = 0; b < cfg->n_buses; b++)
        write_bus(cfg, &cfg->buses[b], out);
    write_bridge(cfg, out);
}
