/* Schema of the whole file: the top-level sections, `gateway` and
 * `homeassistant`, and the lookups every table shares. */
#include <string.h>

#include "config/config.h"
#include "config/schema.h"
#include "config/template.h"


static const struct cfg_enum_name log_level_names[] = {
    { "error", CFG_LOG_ERROR }, { "warn", CFG_LOG_WARN }, { "info", CFG_LOG_INFO },
    { "debug", CFG_LOG_DEBUG }, { "trace", CFG_LOG_TRACE }, { NULL, 0 },
};

#define G struct cfg_gateway
static const struct cfg_key gateway_keys[] = {
    KEY_STRING(G, name, "name", .def = "mqgate", .flags = CFG_NONEMPTY,
               .doc = "This gateway's name: `{gateway}` in topics. Letters, digits, `-` and `_`.",
               .example = "barn-pi"),
    KEY_ENUM(G, log_level, "log_level", log_level_names, .def = "info",
             .doc = "Least severe log level written."),
    KEY_STRING(G, state_dir, "state_dir", .def = "/var/lib/mqgate", .flags = CFG_NONEMPTY,
               .doc = "Where the broker's state and the bridge's spool live by default."),
    KEY_TEMPLATE(G, status_topic, "status_topic", TVARS_GATEWAY_TOPIC, .def = "{gateway}/status",
                 .doc = "Retained `online` while the gateway runs, `offline` after it stops "
                        "(the bridge's upstream will)."),
    { .name = NULL },
};
#undef G
static const struct cfg_section gateway_section = SECTION_OF(struct cfg_gateway, "gateway",
    "gateway", gateway_keys, .doc = "The gateway process itself.");

#define H struct cfg_homeassistant
static const struct cfg_key homeassistant_keys[] = {
    KEY_BOOL(H, enabled, "enabled", .def = "false",
             .doc = "Publish Home Assistant MQTT discovery messages (retained)."),
    KEY_STRING(H, prefix, "prefix", .def = "homeassistant", .flags = CFG_NONEMPTY,
               .doc = "Discovery prefix Home Assistant listens on."),
    { .name = NULL },
};
#undef H
static const struct cfg_section homeassistant_section = SECTION_OF(struct cfg_homeassistant,
    "homeassistant", "homeassistant", homeassistant_keys,
    .doc = "Home Assistant MQTT discovery.");

#define R struct config
static const struct cfg_key root_keys[] = {
    KEY_SECTION(R, gateway, "gateway", &gateway_section, .doc = "Name, logging, state directory."),
    KEY_SECTION(R, broker, "broker", &cfg_schema_broker, .doc = "The embedded MQTT broker."),
    KEY_LIST(R, buses, n_buses, "buses", &cfg_schema_bus, .doc = "Serial ports and Modbus TCP links."),
    KEY_LIST(R, devices, n_devices, "devices", &cfg_schema_device,
             .doc = "Devices on the buses, and their points."),
    KEY_SECTION(R, publish, "publish", &cfg_schema_publish,
                .doc = "How readings are published, for every device unless overridden."),
    KEY_SECTION(R, bridge, "bridge", &cfg_schema_bridge,
                .doc = "Forwarding to an upstream (cloud) broker with store-and-forward."),
    KEY_SECTION(R, homeassistant, "homeassistant", &homeassistant_section,
                .doc = "Home Assistant discovery."),
    { .name = NULL },
};
#undef R
const struct cfg_section cfg_schema_root = SECTION_OF(struct config, "configuration", "",
    root_keys, .doc = "The whole file.");

int cfg_key_index(const struct cfg_section *sec, const char *name)
{
    for (int i = 0; sec->keys[i].name; i++)
        if (strcmp(sec->keys[i].name, name) == 0)
            return i;
    return -1;
}

bool cfg_is_set(const struct cfg_section *sec, const void *obj, const char *name)
{
    int i = cfg_key_index(sec, name);
    if (i < 0)
        return false;
    uint64_t set;
    memcpy(&set, (const char *)obj + sec->set_offset, sizeof(set));
    return (set >> i) & 1u;
}

const char *cfg_enum_name(const struct cfg_enum_name *tbl, int value)
{
    for (; tbl->name; tbl++)
        if (tbl->value == value)
            return tbl->name;
    return "?";
}

const char *cfg_type_name(enum cfg_type type)
{
    switch (type) {
    case CFG_STRING: return "string";
    case CFG_BOOL: return "boolean";
    case CFG_INT: return "integer";
    case CFG_DOUBLE: return "number";
    case CFG_DURATION: return "duration";
    case CFG_SIZE: return "size";
    case CFG_ENUM: return "one of";
    case CFG_TEMPLATE: return "template";
    case CFG_STRINGS: return "list of strings";
    case CFG_BYTES: return "bytes";
    case CFG_ENUM_MAP: return "map of integer to label";
    case CFG_SECTION: return "mapping";
    case CFG_LIST: return "list";
    }
    return "?";
}
