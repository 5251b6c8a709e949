/* Golden tests of Home Assistant discovery messages: each component (sensor,
 * binary_sensor, number, switch, select, text), each payload kind (value,
 * json, grouped, template), device classes and state classes, escaping of
 * odd names, buffers of every size, and what discovery_publish sends (only
 * when enabled, enabled devices only, retained QoS 1, valid JSON).
 * Configs come from real YAML through config_load_string. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "gateway/mapping/discovery.h"

/* ---- fixtures ---------------------------------------------------------------- */

static const char main_yaml[] =
    "gateway: { name: barn-pi }\n"
    "homeassistant: { enabled: true }\n"
    "buses:\n"
    "  - { name: b, type: modbus_tcp, host: 127.0.0.1, port: 502 }\n"
    "  - { name: u, type: uart, device: /dev/null, baud: 9600 }\n"
    "devices:\n"
    "  - name: meter1\n"
    "    bus: b\n"
    "    slave: 1\n"
    "    manufacturer: Eastron\n"
    "    model: SDM120\n"
    "    points:\n"
    "      - { name: voltage, register: input, address: 0, type: float32, unit: V, decimals: 1 }\n"
    "      - { name: energy_import, register: input, address: 2, type: float32, unit: kWh,\n"
    "          decimals: 2 }\n"
    "      - { name: alarm, register: discrete, address: 0 }\n"
    "      - { name: setpoint, register: holding, address: 100, type: uint16, scale: 0.1,\n"
    "          unit: bar, writable: true, min: 0, max: 10, decimals: 1 }\n"
    "      - { name: relay, register: coil, address: 0, writable: true }\n"
    "      - { name: mode, register: holding, address: 101, writable: true,\n"
    "          enum: { 0: auto, 1: heat, 2: cool } }\n"
    "      - { name: state, register: holding, address: 102, unit: x,\n"
    "          enum: { 0: idle, 1: running } }\n"
    "      - { name: offset_c, register: holding, address: 103, type: int16, scale: 0.01,\n"
    "          unit: \"\u00b0C\", writable: true }\n"
    "      - { name: squared, register: holding, address: 104, expression: \"x*x\",\n"
    "          writable: true }\n"
    "      - { name: label, register: holding, address: 110, type: string, count: 4,\n"
    "          writable: true }\n"
    "      - { name: temp_text, register: holding, address: 120, unit: \"\u00b0C\",\n"
    "          publish: { payload: template, template: \"T={value} {unit}\" } }\n"
    "      - { name: stamped, register: holding, address: 121,\n"
    "          publish: { payload: template, template: \"{timestamp} {value}\" } }\n"
    "      - { name: power_json, register: input, address: 4, type: float32, unit: kW,\n"
    "          publish: { payload: json, qos: 1 } }\n"
    "      - { name: no_value, register: input, address: 6,\n"
    "          publish: { payload: json, json_fields: [quality] } }\n"
    "      - { name: flag_json, register: coil, address: 1, publish: { payload: json } }\n"
    "  - name: rack\n"
    "    bus: b\n"
    "    slave: 2\n"
    "    publish: { payload: grouped, topic: \"{gateway}/{device}\" }\n"
    "    points:\n"
    "      - { name: temperature, register: input, address: 0, type: int16, scale: 0.1,\n"
    "          unit: \"\u00b0C\" }\n"
    "      - { name: door, register: discrete, address: 0, device_class: door }\n"
    "  - name: spare\n"
    "    bus: b\n"
    "    slave: 3\n"
    "    enabled: false\n"
    "    points:\n"
    "      - { name: x, register: input, address: 0 }\n"
    "  - name: gps\n"
    "    bus: u\n"
    "    framing: nmea\n"
    "    points:\n"
    "      - { name: latitude, sentence: GGA, field: latitude, unit: \"\u00b0\", decimals: 6 }\n"
    "      - { name: time, sentence: RMC, field: time }\n"
    "      - { name: pm2_5, sentence: GGA, index: 9, unit: \"\u00b5g/m\u00b3\" }\n";

/* Device "Kessel "K1" Süd", point `it's \ a "pt"`, grouped. */
static const char odd_yaml[] =
    "gateway: { name: barn-pi }\n"
    "homeassistant: { enabled: true, prefix: ha }\n"
    "buses:\n"
    "  - { name: b, type: modbus_tcp, host: 127.0.0.1, port: 502 }\n"
    "devices:\n"
    "  - name: \"Kessel \\\"K1\\\" S\u00fcd\"\n"
    "    bus: b\n"
    "    slave: 1\n"
    "    publish: { payload: grouped, topic: \"site/{slave}\" }\n"
    "    points:\n"
    "      - { name: \"it's \\\\ a \\\"pt\\\"\", register: input, address: 0 }\n";

struct msg {
    char *topic;
    char *payload;
    size_t len;
    int qos;
    bool retain;
};

struct fx {
    struct config *cfg;
    char topic[DISCOVERY_TOPIC_MAX];
    char payload[DISCOVERY_PAYLOAD_MAX];
    struct msg msgs[64];
    size_t n_msgs;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    *state = f;
    return f ? 0 : -1;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    if (!f)
        return 0;
    for (size_t i = 0; i < f->n_msgs; i++) {
        free(f->msgs[i].topic);
        free(f->msgs[i].payload);
    }
    config_free(f->cfg);
    free(f);
    return 0;
}

#define FX(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

static void load(struct fx *f, const char *yaml)
{
    config_free(f->cfg);
    f->cfg = NULL;
    struct diag d;
    diag_init(&d);
    int rc = config_load_string("test.yaml", yaml, strlen(yaml), &f->cfg, &d);
    if (rc)
        diag_print(&d, stderr);
    diag_free(&d);
    assert_int_equal(rc, 0);
}

static const struct cfg_device *device(struct fx *f, const char *name)
{
    for (size_t d = 0; d < f->cfg->n_devices; d++)
        if (strcmp(f->cfg->devices[d].name, name) == 0)
            return &f->cfg->devices[d];
    fail_msg("no device %s", name);
    return NULL;
}

static const struct cfg_point *point(const struct cfg_device *dev, const char *name)
{
    for (size_t p = 0; p < dev->n_points; p++)
        if (strcmp(dev->points[p].name, name) == 0)
            return &dev->points[p];
    fail_msg("no point %s", name);
    return NULL;
}

/* The message of one point of the main config; its return code. */
static int message(struct fx *f, const char *dev_name, const char *pt_name)
{
    if (!f->cfg)
        load(f, main_yaml);
    const struct cfg_device *dev = device(f, dev_name);
    return discovery_message(f->cfg, dev, point(dev, pt_name), f->topic, sizeof f->topic,
                             f->payload, sizeof f->payload);
}

static void capture(void *ctx, const char *topic, const void *payload, size_t len, int qos,
                    bool retain)
{
    struct fx *f = ctx;
    assert_true(f->n_msgs < sizeof f->msgs / sizeof f->msgs[0]);
    struct msg *m = &f->msgs[f->n_msgs++];
    m->topic = strdup(topic);
    m->payload = malloc(len + 1);
    assert_non_null(m->topic);
    assert_non_null(m->payload);
    memcpy(m->payload, payload, len);
    m->payload[len] = '\0';
    m->len = len;
    m->qos = qos;
    m->retain = retain;
}

/* ---- a strict JSON checker (RFC 8259 grammar; strings as bytes) ------------ */

static const char *json_value(const char *p, int depth);

static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static const char *json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    for (; *p != '"'; p++) {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p != '\\')
            continue;
        p++;
        if (*p == 'u') {
            for (int i = 1; i <= 4; i++)
                if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                    return NULL;
            p += 4;
        } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
            return NULL;
        }
    }
    return p + 1;
}

static const char *json_number(const char *p)
{
    const char *start = p;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        if (!(*++p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p > start ? p : NULL;
}

static const char *json_members(const char *p, int depth, char close, bool keyed)
{
    p = json_ws(p + 1);
    if (*p == close)
        return p + 1;
    for (;;) {
        if (keyed) {
            if (!(p = json_string(p)))
                return NULL;
            p = json_ws(p);
            if (*p++ != ':')
                return NULL;
        }
        if (!(p = json_value(p, depth + 1)))
            return NULL;
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
        p = json_ws(p);
    }
}

static const char *json_value(const char *p, int depth)
{
    if (depth > 32)
        return NULL;
    p = json_ws(p);
    if (*p == '{')
        p = json_members(p, depth, '}', true);
    else if (*p == '[')
        p = json_members(p, depth, ']', false);
    else if (*p == '"')
        p = json_string(p);
    else if (!strncmp(p, "true", 4) || !strncmp(p, "null", 4))
        p += 4;
    else if (!strncmp(p, "false", 5))
        p += 5;
    else
        p = json_number(p);
    return p ? json_ws(p) : NULL;
}

static bool json_valid(const char *text)
{
    const char *end = json_value(text, 0);
    return end && *end == '\0';
}

/* ---- pieces every point's message ends with -------------------------------- */

#define AVAIL_ENTRY(t) "{\"topic\":\"" t "\",\"payload_available\":\"online\"," \
                       "\"payload_not_available\":\"offline\"}"
#define AVAIL(dev_topic) ",\"availability\":[" AVAIL_ENTRY(dev_topic) "," \
                         AVAIL_ENTRY("barn-pi/status") "],\"availability_mode\":\"all\""
#define DEVICE_METER ",\"device\":{\"identifiers\":[\"barn-pi_meter1\"],\"name\":\"meter1\"," \
                     "\"manufacturer\":\"Eastron\",\"model\":\"SDM120\",\"via_device\":\"barn-pi\"}"
#define ORIGIN ",\"origin\":{\"name\":\"mqgate\",\"sw_version\":\"" MQGATE_VERSION "\"}}"
#define METER_TAIL AVAIL("barn-pi/meter1/status") DEVICE_METER ORIGIN
#define NUMERIC_VT "\"value_template\":\"{{ value if value | is_number else None }}\""

/* ---- sensors ------------------------------------------------------------------ */

#define VOLTAGE_JSON                                                                        \
    "{\"name\":\"Voltage\",\"unique_id\":\"barn-pi_meter1_voltage\","                       \
    "\"default_entity_id\":\"sensor.barn_pi_meter1_voltage\","                              \
    "\"state_topic\":\"barn-pi/meter1/voltage\"," NUMERIC_VT ","                            \
    "\"unit_of_measurement\":\"V\",\"device_class\":\"voltage\",\"state_class\":\"measurement\"," \
    "\"suggested_display_precision\":1" METER_TAIL

static void test_voltage_sensor(void **state)
{
    struct fx *f = *state;
    assert_int_equal(message(f, "meter1", "voltage"), 0);
    assert_string_equal(f->topic, "homeassistant/sensor/barn-pi_meter1/voltage/config");
    assert_string_equal(f->payload, VOLTAGE_JSON);
    assert_true(json_valid(f->payload));
}

static void test_energy_total_increasing(void **state)
{
    struct fx *f = *state;
    assert_int_equal(message(f, "meter1", "energy_import"), 0);
    assert_string_equal(f->topic, "homeassistant/sensor/barn-pi_meter1/energy_import/config");
    assert_string_equal(f->payload,
        "{\"name\":\"Energy import\",\"unique_id\":\"barn-pi_meter1_energy_import\","
        "\"default_entity_id\":\"sensor.barn_pi_meter1_energy_import\","
        "\"state_topic\":\"barn-pi/meter1/energy_import\"," NUMERIC_VT ","
        "\"unit_of_measurement\":\"kWh\",\"device_class\":\"energy\","
        "\"state_class\":\"total_increasing\",\"suggested_display_precision\":2" METER_TAIL);
}

static void test_binary_sensor(void **state)
{
    struct fx *f = *state;
    assert_int_equal(message(f, "meter1", "alarm"), 0);
    assert_string_equal(f->topic, "homeassistant/binary_sensor/barn-pi_meter1/alarm/config");
    assert_string_equal(f->payload,
        "{\"name\":\"Alarm\",\"unique_id\":\"barn-pi_meter1_alarm\","
        "\"default_entity_id\":\"binary_sensor.barn_pi_meter1_alarm\","
        "\"state_topic\":\"barn-pi/meter1/alarm\","
        "\"payload_on\":\"true\",\"payload_off\":\"false\"" METER_TAIL);
}

/* ---- writable points ------------------------------------------------------------ */

static void test_number_min_max_decimals(void **state)
{
    struct fx *f = *state;
    assert_int_equal(message(f, "meter1", "setpoint"), 0);
    assert_string_equal(f->topic, "homeassistant/number/barn-pi_meter1/setpoint/config");
    assert_string_equal(f->payload,
        "{\"name\":\"Setpoint\",\"unique_id\":\"barn-pi_meter1_setpoint\","
        "\"default_entity_id\":\"number.barn_pi_meter1_setpoint\","
        "\"state_topic\":\"barn-pi/meter1/setpoint\"," NUMERIC_VT ","
        "\"command_topic\":\"barn-pi/meter1/setpoint/set\","
        "\"unit_of_measurement\":\"bar\",\"device_class\":\"pressure\","
        "\"min\":0,\"max\":10,\"step\":0.1,\"mode\":\"box\"" METER_TAIL);
}

/* No min/max: what int16 × 0.01 holds (HA would default to 1…100); no
 * decimals: one raw step. */
static void test_number_type_range(void **state)
{
    struct fx *f = *state;
    assert_int_equal(message(f, "meter1", "offset_c"), 0);
    assert_non_null(strstr(f->payload, "\"command_topic\":\"barn-pi/meter1/offset_c/set\","
                                       "\"unit_of_measurement\":\"\u00b0C\","
                                       "\"device_class\":\"temperature\","
                                       "\"min\":-327.68,\"max\":327.67,\"step\":0.01,"
                                       "\"mode\":\"box\","));
}

/* x*x cannot be written back (convert_command refuses it): a sensor. */
static void test_writable_without_inverse_is_sensor(void **state)
{
    struct fx *f = *state;
    assert_int_equal(message(f, "meter1", "squared"), 0);
    assert_string_equal(f->topic, "homeassistant/sensor/barn-pi_meter1/squared/config");
    assert_null(strstr(f->payload, "command_topic"));
    assert_non_null(strstr(f->payload, "\"state_class\":\"measurement\""));
}

static void test_coil_switch(void **state)
{
    struct fx *f = *state;
    assert_int_equal(message(f, "meter1", "relay"), 0);
    assert_string_equal(f->topic, "homeassistant/switch/barn-pi_meter1/relay/config");
    assert_string_equal(f->payload,
        "{\"name\":\"Relay\",\"unique_id\":\"barn-pi_meter1_relay\","
        "\"default_entity_id\":\"switch.barn_pi_meter1_relay\","
        "\"state_topic\":\"barn-pi/meter1/relay\","
        "\"command_topic\":\"barn-pi/meter1/relay/set\","
        "\"payload_on\":\"true\",\"payload_off\":\"false\","
        "\"state_on\":\"true\",\"state_off\":\"false\"" METER_TAIL);
}

static void test_enum_select_and_sensor(void **state)
{
    struct fx *f = *state;
    assert_int_equal(message(f, "meter1", "mode"), 0);
    assert_string_equal(f->topic, "homeassistant/select/barn-pi_meter1/mode/config");
    assert_string_equal(f->payload,
        "{\"name\":\"Mode\",\"unique_id\":\"barn-pi_meter1_mode\","
        "\"default_entity_id\":\"select.barn_pi_meter1_mode\","
        "\"state_topic\":\"barn-pi/meter1/mode\","
        "\"command_topic\":\"barn-pi/meter1/mode/set\","
        "\"options\":[\"auto\",\"heat\",\"cool\"]" METER_TAIL);
    /* Read-only labels: a text sensor — no unit, no state class. */
    assert_int_equal(message(f, "meter1", "state"), 0);
    assert_string_equal(f->topic, "homeassistant/sensor/barn-pi_meter1/state/config");
    assert_string_equal(f->payload,
        "{\"name\":\"State\",\"unique_id\":\"barn-pi_meter1_state\","
        "\"default_entity_id\":\"sensor.barn_pi_meter1_state\","
        "\"state_topic\":\"barn-pi/meter1/state\"" METER_TAIL);
}

static void test_writable_string_text(void **state)
{
    struct fx *f = *state;
    assert_int_equal(message(f, "meter1", "label"), 0);
    assert_string_equal(f->topic, "homeassistant/text/barn-pi_meter1/label/config");
    assert_non_null(strstr(f->payload, "\"state_topic\":\"barn-pi/meter1/label\","
                                       "\"command_topic\":\"barn-pi/meter1/label/set\","
                                       "\"max\":8,\"availability\""));
    assert_null(strstr(f->payload, "value_template"));
}

/* ---- payload kinds --------------------------------------------------------------- */

static void test_grouped_point(void **state)
{
    struct fx *f = *state;
    assert_int_equal(message(f, "rack", "temperature"), 0);
    assert_string_equal(f->topic, "homeassistant/sensor/barn-pi_rack/temperature/config");
    assert_string_equal(f->payload,
        "{\"name\":\"Temperature\",\"unique_id\":\"barn-pi_rack_temperature\","
        "\"default_entity_id\":\"sensor.barn_pi_rack_temperature\","
        "\"state_topic\":\"barn-pi/rack\","
        "\"value_template\":\"{{ value_json.get('temperature') }}\","
        "\"unit_of_measurement\":\"\u00b0C\",\"device_class\":\"temperature\","
        "\"state_class\":\"measurement\""
        AVAIL("barn-pi/rack/status")
        ",\"device\":{\"identifiers\":[\"barn-pi_rack\"],\"name\":\"rack\","
        "\"via_device\":\"barn-pi\"}" ORIGIN);
    /* A bool from JSON renders as Python's True/False; its own device class. */
    assert_int_equal(message(f, "rack", "door"), 0);
    assert_string_equal(f->topic, "homeassistant/binary_sensor/barn-pi_rack/door/config");
    assert_non_null(strstr(f->payload, "\"state_topic\":\"barn-pi/rack\","
                                       "\"value_template\":\"{{ value_json.get('door') }}\","
                                       "\"device_class\":\"door\","
                                       "\"payload_on\":\"True\",\"payload_off\":\"False\","));
}

static void test_json_point(void **state)
{
    struct fx *f = *state;
    assert_int_equal(message(f, "meter1", "power_json"), 0);
    assert_string_equal(f->payload,
        "{\"name\":\"Power json\",\"unique_id\":\"barn-pi_meter1_power_json\","
        "\"default_entity_id\":\"sensor.barn_pi_meter1_power_json\","
        "\"state_topic\":\"barn-pi/meter1/power_json\","
        "\"value_template\":\"{{ value_json.value }}\","
        "\"unit_of_measurement\":\"kW\",\"device_class\":\"power\","
        "\"state_class\":\"measurement\",\"qos\":1" METER_TAIL);
    assert_int_equal(message(f, "meter1", "flag_json"), 0);
    assert_non_null(strstr(f->payload, "\"value_template\":\"{{ value_json.value }}\","
                                       "\"payload_on\":\"True\",\"payload_off\":\"False\","));
    /* No value field: nothing Home Assistant could read. */
    assert_int_equal(message(f, "meter1", "no_value"), 1);
    assert_string_equal(f->topic, "");
    assert_string_equal(f->payload, "");
}

/* "T={value} °C": two characters before, three after (° is one). */
static void test_template_point(void **state)
{
    struct fx *f = *state;
    assert_int_equal(message(f, "meter1", "temp_text"), 0);
    assert_non_null(strstr(f->payload,
        "\"value_template\":\"{{ value[2:-3] if value[2:-3] | is_number else None }}\","));
    /* A timestamp in front changes every time: no entity. */
    assert_int_equal(message(f, "meter1", "stamped"), 1);
    assert_string_equal(f->payload, "");
}

/* UART values without a type: NMEA's time is text; particles by name. */
static void test_uart_inferred(void **state)
{
    struct fx *f = *state;
    assert_int_equal(message(f, "gps", "latitude"), 0);
    assert_non_null(strstr(f->payload, "\"unit_of_measurement\":\"\u00b0\","
                                       "\"state_class\":\"measurement\","
                                       "\"suggested_display_precision\":6,"));
    assert_null(strstr(f->payload, "device_class"));
    assert_int_equal(message(f, "gps", "time"), 0);
    assert_null(strstr(f->payload, "state_class"));
    assert_null(strstr(f->payload, "value_template"));
    assert_non_null(strstr(f->payload, ",\"availability\":[" AVAIL_ENTRY("barn-pi/gps/status")));
    assert_int_equal(message(f, "gps", "pm2_5"), 0);
    assert_non_null(strstr(f->payload, "\"device_class\":\"pm25\""));
}

/* ---- names --------------------------------------------------------------------- */

static void test_odd_names_escaped(void **state)
{
    struct fx *f = *state;
    load(f, odd_yaml);
    const struct cfg_device *dev = &f->cfg->devices[0];
    assert_string_equal(dev->name, "Kessel \"K1\" S\u00fcd");
    assert_string_equal(dev->points[0].name, "it's \\ a \"pt\"");
    assert_int_equal(discovery_message(f->cfg, dev, &dev->points[0], f->topic, sizeof f->topic,
                                       f->payload, sizeof f->payload), 0);
    assert_string_equal(f->topic, "ha/sensor/barn-pi_Kessel__K1__S_d/it_s___a__pt_/config");
    assert_string_equal(f->payload,
        "{\"name\":\"It's \\\\ a \\\"pt\\\"\","
        "\"unique_id\":\"barn-pi_Kessel__K1__S_d_it_s___a__pt_\","
        "\"default_entity_id\":\"sensor.barn_pi_kessel_k1_s_d_it_s_a_pt\","
        "\"state_topic\":\"site/1\","
        "\"value_template\":\"{{ value_json.get('it\\\\'s \\\\\\\\ a \\\"pt\\\"') }}\","
        "\"state_class\":\"measurement\""
        ",\"availability\":[{\"topic\":\"barn-pi/Kessel \\\"K1\\\" S\u00fcd/status\","
        "\"payload_available\":\"online\",\"payload_not_available\":\"offline\"},"
        AVAIL_ENTRY("barn-pi/status") "],\"availability_mode\":\"all\""
        ",\"device\":{\"identifiers\":[\"barn-pi_Kessel__K1__S_d\"],"
        "\"name\":\"Kessel \\\"K1\\\" S\u00fcd\",\"via_device\":\"barn-pi\"}" ORIGIN);
    assert_true(json_valid(f->payload));
}

static void test_gateway_message(void **state)
{
    struct fx *f = *state;
    load(f, main_yaml);
    assert_int_equal(discovery_gateway_message(f->cfg, f->topic, sizeof f->topic, f->payload,
                                               sizeof f->payload), 0);
    assert_string_equal(f->topic, "homeassistant/binary_sensor/barn-pi/status/config");
    assert_string_equal(f->payload,
        "{\"name\":\"Status\",\"unique_id\":\"barn-pi_status\","
        "\"default_entity_id\":\"binary_sensor.barn_pi_status\","
        "\"state_topic\":\"barn-pi/status\",\"device_class\":\"connectivity\","
        "\"entity_category\":\"diagnostic\",\"payload_on\":\"online\",\"payload_off\":\"offline\","
        "\"device\":{\"identifiers\":[\"barn-pi\"],\"name\":\"barn-pi\",\"manufacturer\":\"mqgate\","
        "\"sw_version\":\"" MQGATE_VERSION "\"}" ORIGIN);
}

/* ---- buffers ------------------------------------------------------------------- */

/* Every size up to the full length, in exact heap buffers (ASan sees any
 * byte written past them): -1 and "" until it fits, then the whole text. */
static void test_every_buffer_size(void **state)
{
    struct fx *f = *state;
    load(f, main_yaml);
    const struct cfg_device *dev = device(f, "meter1");
    const struct cfg_point *pt = point(dev, "voltage");
    const char *topic = "homeassistant/sensor/barn-pi_meter1/voltage/config";
    size_t plen = strlen(VOLTAGE_JSON), tlen = strlen(topic);
    for (size_t n = 0; n <= plen + 1; n++) {
        char *buf = malloc(n ? n : 1);
        assert_non_null(buf);
        int rc = discovery_message(f->cfg, dev, pt, f->topic, sizeof f->topic, buf, n);
        assert_int_equal(rc, n > plen ? 0 : -1);
        if (n > plen)
            assert_string_equal(buf, VOLTAGE_JSON);
        else if (n)
            assert_string_equal(buf, "");
        free(buf);
    }
    for (size_t n = 0; n <= tlen + 1; n++) {
        char *buf = malloc(n ? n : 1);
        assert_non_null(buf);
        int rc = discovery_message(f->cfg, dev, pt, buf, n, f->payload, sizeof f->payload);
        assert_int_equal(rc, n > tlen ? 0 : -1);
        assert_string_equal(n ? buf : "", n > tlen ? topic : "");
        if (n <= tlen)
            assert_string_equal(f->payload, "");
        free(buf);
    }
}

/* ---- discovery_publish ------------------------------------------------------------ */

static void test_publish_disabled(void **state)
{
    struct fx *f = *state;
    char yaml[sizeof main_yaml + 16];
    const char *at = strstr(main_yaml, "enabled: true }");
    assert_non_null(at);
    snprintf(yaml, sizeof yaml, "%.*senabled: false }%s", (int)(at - main_yaml), main_yaml,
             at + strlen("enabled: true }"));
    load(f, yaml);
    assert_false(f->cfg->homeassistant.enabled);
    assert_int_equal(discovery_publish(f->cfg, capture, f), 0);
    assert_int_equal(f->n_msgs, 0);
}

static bool topic_has(const struct fx *f, const char *topic)
{
    for (size_t i = 0; i < f->n_msgs; i++)
        if (strcmp(f->msgs[i].topic, topic) == 0)
            return true;
    return false;
}

/* The gateway's message plus every point of enabled devices but those that
 * have no entity (no_value, stamped); the disabled device's none. */
static void test_publish_count(void **state)
{
    struct fx *f = *state;
    load(f, main_yaml);
    size_t expected = 1;
    for (size_t d = 0; d < f->cfg->n_devices; d++)
        if (f->cfg->devices[d].enabled)
            expected += f->cfg->devices[d].n_points;
    expected -= 2;
    assert_int_equal(expected, 1 + 15 + 2 + 3 - 2);
    assert_int_equal(discovery_publish(f->cfg, capture, f), (int)expected);
    assert_int_equal(f->n_msgs, expected);
    for (size_t i = 0; i < f->n_msgs; i++) {
        const struct msg *m = &f->msgs[i];
        assert_int_equal(m->qos, 1);
        assert_true(m->retain);
        assert_int_equal(strlen(m->payload), m->len);
        if (!json_valid(m->payload))
            fail_msg("invalid JSON on %s: %s", m->topic, m->payload);
        assert_null(strstr(m->topic, "spare"));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(m->topic, f->msgs[j].topic);
    }
    assert_string_equal(f->msgs[0].topic, "homeassistant/binary_sensor/barn-pi/status/config");
    assert_true(topic_has(f, "homeassistant/sensor/barn-pi_meter1/voltage/config"));
    assert_true(topic_has(f, "homeassistant/sensor/barn-pi_gps/time/config"));
    assert_false(topic_has(f, "homeassistant/sensor/barn-pi_meter1/no_value/config"));
}

/* One message too long (an enum of ~20 KiB of labels) fails the call, and
 * the others are still sent. */
static void test_publish_too_long(void **state)
{
    struct fx *f = *state;
    size_t cap = 64 * 1024;
    char *yaml = malloc(cap);
    assert_non_null(yaml);
    int len = snprintf(yaml, cap,
                       "homeassistant: { enabled: true }\n"
                       "buses:\n  - { name: b, type: modbus_tcp, host: 127.0.0.1, port: 502 }\n"
                       "devices:\n  - name: d\n    bus: b\n    slave: 1\n    points:\n"
                       "      - { name: ok, address: 0 }\n"
                       "      - name: huge\n        address: 1\n        writable: true\n"
                       "        enum:\n");
    for (int i = 0; i < 200; i++)
        len += snprintf(yaml + len, cap - (size_t)len, "          %d: label_%03d_%0100d\n", i, i, 0);
    assert_true(len > 0 && (size_t)len < cap);
    load(f, yaml);
    free(yaml);
    assert_int_equal(discovery_publish(f->cfg, capture, f), -1);
    assert_int_equal(f->n_msgs, 2); /* the gateway's and ok's */
    assert_string_equal(f->msgs[1].topic, "homeassistant/sensor/mqgate_d/ok/config");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX(test_voltage_sensor),
        FX(test_energy_total_increasing),
        FX(test_binary_sensor),
        FX(test_number_min_max_decimals),
        FX(test_number_type_range),
        FX(test_writable_without_inverse_is_sensor),
        FX(test_coil_switch),
        FX(test_enum_select_and_sensor),
        FX(test_writable_string_text),
        FX(test_grouped_point),
        FX(test_json_point),
        FX(test_template_point),
        FX(test_uart_inferred),
        FX(test_odd_names_escaped),
        FX(test_gateway_message),
        FX(test_every_buffer_size),
        FX(test_publish_disabled),
        FX(test_publish_count),
        FX(test_publish_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
