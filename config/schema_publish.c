/* Schema of the `publish` block: how readings become MQTT messages. The same
 * block appears at the top level, in buses, devices and points; inner levels
 * inherit what they do not set (see CFG_SECTION_INHERIT). */
#include "config/config.h"
#include "config/schema.h"
#include "config/template.h"

static const struct cfg_enum_name payload_names[] = {
    { "value", CFG_PAYLOAD_VALUE }, { "json", CFG_PAYLOAD_JSON },
    { "grouped", CFG_PAYLOAD_GROUPED }, { "template", CFG_PAYLOAD_TEMPLATE }, { NULL, 0 },
};
static const struct cfg_enum_name timestamp_names[] = {
    { "iso8601", CFG_TS_ISO8601 }, { "epoch_ms", CFG_TS_EPOCH_MS }, { NULL, 0 },
};
static const struct cfg_enum_name report_names[] = {
    { "every_poll", CFG_REPORT_EVERY_POLL }, { "on_change", CFG_REPORT_ON_CHANGE }, { NULL, 0 },
};

#define P struct cfg_publish
static const struct cfg_key publish_keys[] = {
    KEY_TEMPLATE(P, topic, "topic", TVARS_POINT_TOPIC, .def = "{gateway}/{device}/{point}",
                 .doc = "Topic of each point's value; with `payload: grouped`, the device's topic.",
                 .example = "site1/{bus}/{device}/{point}"),
    KEY_ENUM(P, payload, "payload", payload_names, .def = "value",
             .doc = "`value`: the value as text; `json`: an object with `json_fields`; "
                    "`grouped`: one JSON object per device and poll cycle; `template`: `template`."),
    KEY_TEMPLATE(P, template_text, "template", TVARS_PAYLOAD, .def = "{value}",
                 .doc = "Payload text for `payload: template`.", .example = "{value} {unit}"),
    KEY_STRINGS(P, json_fields, "json_fields", .def = "[value, unit, timestamp, quality]",
                .doc = "Fields of a JSON payload, from: value, unit, timestamp, quality, error, "
                       "device, point, raw. `error` is written only for bad readings."),
    KEY_ENUM(P, timestamp, "timestamp", timestamp_names, .def = "iso8601",
             .doc = "Timestamp format in JSON payloads."),
    KEY_INT(P, qos, "qos", .def = "0", .min = "0", .max = "2", .doc = "MQTT QoS of published readings."),
    KEY_BOOL(P, retain, "retain", .def = "false", .doc = "Publish readings retained."),
    KEY_ENUM(P, report, "report", report_names, .def = "every_poll",
             .doc = "`every_poll`, or `on_change` (subject to the deadbands and intervals)."),
    KEY_DOUBLE(P, deadband, "deadband", .def = "0", .min = "0",
               .doc = "With `on_change`: publish only when the value moved more than this."),
    KEY_DOUBLE(P, deadband_percent, "deadband_percent", .def = "0", .min = "0", .max = "100",
               .doc = "With `on_change`: publish only when the value moved more than this "
                      "percentage of the last published value."),
    KEY_DURATION(P, min_interval, "min_interval", .def = "0", .min = "0", .max = "1d",
                 .doc = "Never publish a point more often than this."),
    KEY_DURATION(P, max_interval, "max_interval", .def = "0", .min = "0", .max = "7d",
                 .doc = "Heartbeat: publish at least this often, even unchanged (0: off)."),
    KEY_TEMPLATE(P, error_topic, "error_topic", TVARS_POINT_TOPIC, .def = "",
                 .doc = "Topic for bad readings; empty: the value topic, with the error in the payload.",
                 .example = "{gateway}/{device}/{point}/error"),
    KEY_TEMPLATE(P, availability_topic, "availability_topic", TVARS_DEVICE_TOPIC,
                 .def = "{gateway}/{device}/status",
                 .doc = "Retained `online`/`offline` of each device."),
    KEY_TEMPLATE(P, command_topic, "command_topic", TVARS_POINT_TOPIC,
                 .def = "{gateway}/{device}/{point}/set",
                 .doc = "Where writable points take commands."),
    KEY_TEMPLATE(P, reply_topic, "reply_topic", TVARS_POINT_TOPIC,
                 .def = "{gateway}/{device}/{point}/set/result",
                 .doc = "Where the outcome of each command is published."),
    { .name = NULL },
};
#undef P

const struct cfg_section cfg_schema_publish = SECTION_OF(struct cfg_publish, "publish", "publish",
    publish_keys, .flags = CFG_SECTION_INHERIT,
    .doc = "How readings become MQTT messages. Allowed at the top level (for everything), "
           "in a bus, a device and a point; each level inherits what it does not set.");
