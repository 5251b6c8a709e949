/* Home Assistant discovery messages (see discovery.h): what each point is
 * to Home Assistant, the topics it reads and writes, and the JSON config
 * that says so. Topics come from config/names.h, as the mapping engine's
 * do, so an entity always reads what the engine publishes. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/names.h"
#include "config/template.h"
#include "gateway/log.h"
#include "gateway/mapping/convert.h"
#include "gateway/mapping/discovery.h"

#ifndef MQGATE_VERSION
#define MQGATE_VERSION "unknown"
#endif

#define ID_MAX 512          /* a cut name, a unique_id, an entity name */
#define EXPR_TEXT_MAX 1024  /* a Jinja expression, a value_template */

/* ---- a JSON object written into a caller's buffer ------------------------- */

struct jbuf {
    char *buf;
    size_t cap, len;
    bool overflow;      /* something did not fit: the text is cut */
};

static void jb_init(struct jbuf *b, char *buf, size_t cap)
{
    *b = (struct jbuf){ buf, cap, 0, cap == 0 };
    if (cap)
        buf[0] = '\0';
}

/* Take n bytes an snprintf-style writer put at the end (n: what it needed). */
static void jb_advance(struct jbuf *b, int n)
{
    if (n < 0 || (size_t)n >= b->cap - b->len)
        b->overflow = true;
    else
        b->len += (size_t)n;
}

static void jb_printf(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jb_printf(struct jbuf *b, const char *fmt, ...)
{
    if (b->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    jb_advance(b, n);
}

static void jb_quote(struct jbuf *b, const char *s)
{
    if (!b->overflow)
        jb_advance(b, json_quote(s ? s : "", b->buf + b->len, b->cap - b->len));
}

/* `"key":`, after a comma unless it opens an object or a list. */
static void jb_key(struct jbuf *b, const char *key)
{
    if (b->overflow)
        return;
    char last = b->len ? b->buf[b->len - 1] : '{';
    jb_printf(b, "%s\"%s\":", last == '{' || last == '[' ? "" : ",", key);
}

static void jb_str(struct jbuf *b, const char *key, const char *value)
{
    jb_key(b, key);
    jb_quote(b, value);
}

/* 15 significant digits, as values are printed (0.01 × -32768 reads
 * -327.68, not -327.68000000000001); no -0. */
static void jb_num(struct jbuf *b, const char *key, double x)
{
    jb_key(b, key);
    jb_printf(b, "%.15g", x == 0 ? 0.0 : x);
}

/* ---- names ------------------------------------------------------------------ */

/* Append `s` cut to [a-zA-Z0-9_-] (one '_' per other character, UTF-8
 * sequences counted as one) to out. False when it does not fit. */
static bool id_append(char *out, size_t size, const char *s)
{
    size_t len = strlen(out);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if ((*p & 0xc0) == 0x80 && p != (const unsigned char *)s)
            continue; /* the rest of a UTF-8 sequence: its '_' is written */
        bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-';
        if (len + 1 >= size)
            return false;
        out[len++] = keep ? (char)*p : '_';
    }
    out[len] = '\0';
    return true;
}

/* An entity id's object part as Home Assistant's slugify makes it:
 * lowercase [a-z0-9_], no leading, trailing or doubled '_' ("" when
 * nothing is left). */
static void slug_of(const char *id, char *out, size_t size)
{
    size_t len = 0;
    for (const char *p = id; *p && len + 1 < size; p++) {
        char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (alnum)
            out[len++] = c;
        else if (len && out[len - 1] != '_')
            out[len++] = '_';
    }
    while (len && out[len - 1] == '_')
        len--;
    out[len] = '\0';
}

/* "voltage_l1" → "Voltage l1": the entity's name (HA shows it after the
 * device's). */
static bool human_name(const char *name, char *out, size_t size)
{
    size_t n = strlen(name ? name : "");
    if (n >= size)
        return false;
    for (size_t i = 0; i < n; i++)
        out[i] = name[i] == '_' ? ' ' : name[i];
    out[n] = '\0';
    if (out[0] >= 'a' && out[0] <= 'z')
        out[0] = (char)(out[0] - 'a' + 'A');
    return true;
}

/* A Jinja string literal of s: single quotes, `\` and `'` escaped. */
static bool jinja_quote(const char *s, char *out, size_t size)
{
    size_t len = 0;
    if (size < 3)
        return false;
    out[len++] = '\'';
    for (; *s; s++) {
        if (len + 4 >= size)
            return false;
        if (*s == '\\' || *s == '\'')
            out[len++] = '\\';
        out[len++] = *s;
    }
    out[len++] = '\'';
    out[len] = '\0';
    return true;
}

static size_t utf8_chars(const char *s, const char *end)
{
    size_t n = 0;
    for (; s < end; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* ---- what a point is to Home Assistant -------------------------------------- */

enum ha_component { HA_SENSOR, HA_BINARY_SENSOR, HA_NUMBER, HA_SWITCH, HA_SELECT, HA_TEXT };

static const char *const component_names[] = {
    "sensor", "binary_sensor", "number", "switch", "select", "text",
};

enum point_kind { KIND_NUMBER, KIND_BOOL, KIND_TEXT, KIND_ENUM };

struct entity {
    const struct config *cfg;
    const struct cfg_device *dev;
    const struct cfg_point *pt;
    struct config_names names;
    struct point_conv conv;
    enum point_kind kind;
    enum ha_component comp;
    bool json_state;             /* the state is read from JSON (json, grouped) */
    const char *device_class;    /* NULL: none */
    char gateway_id[ID_MAX];     /* cut names */
    char node_id[ID_MAX];        /* <gateway>_<device> */
    char object_id[ID_MAX];      /* <point> */
    char unique_id[ID_MAX];
    char state_topic[DISCOVERY_TOPIC_MAX];
    char value_template[EXPR_TEXT_MAX];
};

/* UART text values without a `type` are whatever their text looks like:
 * NMEA's time, date and status fields are text, its other named fields
 * numbers; other values are taken for numbers when something about them
 * is numeric (a unit, scaling, decimals). */
static bool inferred_numeric(const struct cfg_point *pt)
{
    if (pt->field)
        return strcmp(pt->field, "time") != 0 && strcmp(pt->field, "date") != 0 &&
               strcmp(pt->field, "status") != 0;
    return (pt->unit && pt->unit[0]) || config_point_is_set(pt, "scale") ||
           config_point_is_set(pt, "offset") || pt->expression ||
           config_point_is_set(pt, "decimals");
}

static enum point_kind point_kind_of(const struct cfg_device *dev, const struct cfg_point *pt)
{
    bool inferred = !config_point_is_set(pt, "type") &&
                    (dev->framing == CFG_FRAMING_LINE || dev->framing == CFG_FRAMING_NMEA);
    if (inferred)
        return pt->enum_map.count ? KIND_ENUM : inferred_numeric(pt) ? KIND_NUMBER : KIND_TEXT;
    if (pt->type == CFG_T_STRING || pt->type == CFG_T_RAW)
        return KIND_TEXT;
    if (pt->enum_map.count)
        return KIND_ENUM;
    return pt->type == CFG_T_BOOL ? KIND_BOOL : KIND_NUMBER;
}

/* A number that cannot be mapped back (x*x) takes no commands: a sensor. */
static enum ha_component component_of(const struct entity *e)
{
    bool w = e->pt->writable;
    switch (e->kind) {
    case KIND_ENUM: return w ? HA_SELECT : HA_SENSOR;
    case KIND_BOOL: return w ? HA_SWITCH : HA_BINARY_SENSOR;
    case KIND_TEXT: return w ? HA_TEXT : HA_SENSOR;
    case KIND_NUMBER: break;
    }
    return w && e->conv.invertible ? HA_NUMBER : HA_SENSOR;
}

struct unit_class {
    const char *unit;
    const char *device_class;
};

/* Units Home Assistant accepts for the class (its sensor docs); "%" is
 * battery, humidity, moisture or power factor, so no guess. */
static const struct unit_class unit_classes[] = {
    { "V", "voltage" }, { "mV", "voltage" }, { "kV", "voltage" },
    { "A", "current" }, { "mA", "current" },
    { "mW", "power" }, { "W", "power" }, { "kW", "power" }, { "MW", "power" },
    { "Wh", "energy" }, { "kWh", "energy" }, { "MWh", "energy" },
    { "Hz", "frequency" }, { "kHz", "frequency" },
    { "\u00b0C", "temperature" }, { "\u00b0F", "temperature" }, { "K", "temperature" },
    { "Pa", "pressure" }, { "kPa", "pressure" }, { "hPa", "pressure" }, { "bar", "pressure" },
    { "mbar", "pressure" }, { "psi", "pressure" },
    { "VA", "apparent_power" }, { "var", "reactive_power" },
    { "km/h", "speed" }, { "m/s", "speed" },
    { "dBm", "signal_strength" },
};

/* µg/m³ is a particle class only when the name says which size. */
static const char *particle_class(const char *name)
{
    char low[64];
    size_t n = 0;
    for (; name && name[n] && n + 1 < sizeof low; n++)
        low[n] = name[n] >= 'A' && name[n] <= 'Z' ? (char)(name[n] - 'A' + 'a') : name[n];
    low[n] = '\0';
    if (strstr(low, "pm10"))
        return "pm10";
    if (strstr(low, "pm2") || strstr(low, "25"))
        return "pm25";
    if (strstr(low, "pm1"))
        return "pm1";
    return NULL;
}

static const char *guess_device_class(const struct cfg_point *pt)
{
    const char *unit = pt->unit ? pt->unit : "";
    if (strcmp(unit, "\u00b5g/m\u00b3") == 0)
        return particle_class(pt->name);
    for (size_t i = 0; i < sizeof unit_classes / sizeof unit_classes[0]; i++)
        if (strcmp(unit, unit_classes[i].unit) == 0)
            return unit_classes[i].device_class;
    return NULL;
}

/* Counters only grow; some classes allow no state class at all. */
static const char *state_class_of(const char *dc)
{
    if (!dc)
        return "measurement";
    if (!strcmp(dc, "energy") || !strcmp(dc, "gas") || !strcmp(dc, "water"))
        return "total_increasing";
    if (!strcmp(dc, "monetary"))
        return "total";
    if (!strcmp(dc, "date") || !strcmp(dc, "timestamp") || !strcmp(dc, "enum"))
        return NULL;
    return "measurement";
}

static bool numeric(const struct entity *e)
{
    return e->kind == KIND_NUMBER;
}

/* ---- the state: topic and the value in its payload -------------------------- */

static bool has_json_field(const struct cfg_publish *pub, const char *field)
{
    for (size_t i = 0; i < pub->json_fields.count; i++)
        if (strcmp(pub->json_fields.items[i], field) == 0)
            return true;
    return false;
}

/* 0, 1 (empty), -1 (too long). */
static int render_topic(const struct config_names *names, const struct cfg_template *t, char *buf,
                        size_t size)
{
    if (!t->text || !t->text[0])
        return 1;
    return config_names_render(names, t, buf, size) < size ? 0 : -1;
}

/* `template` payloads: the reading is the text between the template's
 * fixed prefix and suffix, when {value} is its only varying part. */
static int template_expr(const struct entity *e, char *expr, size_t size)
{
    const char *text = e->pt->publish.template_text.text;
    unsigned used = 0;
    char err[64];
    if (!text || template_check(text, TEMPLATE_TEXT, TVARS_PAYLOAD, &used, err, sizeof err, NULL))
        return 1;
    if (!(used & TVAR_VALUE) || (used & (TVAR_RAW | TVAR_TIMESTAMP | TVAR_QUALITY | TVAR_ERROR)))
        return 1;
    struct template_values vals = e->names.v;
    template_values_set(&vals, TVAR_VALUE, "\x01");
    char out[EXPR_TEXT_MAX];
    size_t len = template_render(text, &vals, out, sizeof out);
    if (len >= sizeof out)
        return -1;
    const char *mark = strchr(out, '\x01');
    if (!mark || strchr(mark + 1, '\x01'))
        return 1;
    size_t pre = utf8_chars(out, mark), post = utf8_chars(mark + 1, out + len);
    int n = !pre && !post ? snprintf(expr, size, "value") :
            !post         ? snprintf(expr, size, "value[%zu:]", pre) :
                            snprintf(expr, size, "value[%zu:-%zu]", pre, post);
    return n >= 0 && (size_t)n < size ? 0 : -1;
}

/* Where the reading is and the Jinja expression of it in the payload. */
static int state_source(struct entity *e, char *expr, size_t size)
{
    const struct cfg_publish *pub = &e->pt->publish;
    e->json_state = pub->payload == CFG_PAYLOAD_JSON || pub->payload == CFG_PAYLOAD_GROUPED;
    if (pub->payload == CFG_PAYLOAD_GROUPED) {
        /* As the engine: the device's topic, when the device is grouped. */
        if (e->dev->publish.payload != CFG_PAYLOAD_GROUPED)
            return 1;
        struct config_names dn;
        config_names_of(e->cfg, e->dev, NULL, &dn);
        int rc = render_topic(&dn, &e->dev->publish.topic, e->state_topic, sizeof e->state_topic);
        char key[ID_MAX];
        if (rc)
            return rc;
        if (!jinja_quote(e->pt->name ? e->pt->name : "", key, sizeof key))
            return -1;
        int n = snprintf(expr, size, "value_json.get(%s)", key);
        return n >= 0 && (size_t)n < size ? 0 : -1;
    }
    if (pub->payload == CFG_PAYLOAD_JSON && !has_json_field(pub, "value"))
        return 1;
    int rc = render_topic(&e->names, &pub->topic, e->state_topic, sizeof e->state_topic);
    if (rc)
        return rc;
    if (pub->payload == CFG_PAYLOAD_TEMPLATE)
        return template_expr(e, expr, size);
    snprintf(expr, size, "%s", pub->payload == CFG_PAYLOAD_JSON ? "value_json.value" : "value");
    return 0;
}

/* JSON is parsed, so only its extraction is needed; text of numbers that
 * is not a number (a bad reading's error) becomes None: unknown. */
static int make_value_template(struct entity *e, const char *expr)
{
    char *vt = e->value_template;
    size_t size = sizeof e->value_template;
    int n = 0;
    if (e->json_state)
        n = snprintf(vt, size, "{{ %s }}", expr);
    else if (numeric(e))
        n = snprintf(vt, size, "{{ %s if %s | is_number else None }}", expr, expr);
    else if (strcmp(expr, "value") != 0)
        n = snprintf(vt, size, "{{ %s }}", expr);
    else
        vt[0] = '\0';
    return n >= 0 && (size_t)n < size ? 0 : -1;
}

static int entity_ids(struct entity *e)
{
    const char *gw = e->cfg->gateway.name;
    bool ok = id_append(e->gateway_id, sizeof e->gateway_id, gw) &&
              id_append(e->node_id, sizeof e->node_id, gw) &&
              id_append(e->node_id, sizeof e->node_id, "_") &&
              id_append(e->node_id, sizeof e->node_id, e->dev->name) &&
              id_append(e->object_id, sizeof e->object_id, e->pt->name) &&
              id_append(e->unique_id, sizeof e->unique_id, e->node_id) &&
              id_append(e->unique_id, sizeof e->unique_id, "_") &&
              id_append(e->unique_id, sizeof e->unique_id, e->object_id);
    return ok ? 0 : -1;
}

/* 0, 1 (no entity) or -1 (too long). */
static int entity_init(struct entity *e, const struct config *cfg, const struct cfg_device *dev,
                       const struct cfg_point *pt)
{
    memset(e, 0, sizeof *e);
    e->cfg = cfg;
    e->dev = dev;
    e->pt = pt;
    config_names_of(cfg, dev, pt, &e->names);
    char err[128];
    if (point_conv_init(&e->conv, pt, err, sizeof err) < 0)
        e->conv.invertible = false; /* refused at load; never writable here */
    point_conv_free(&e->conv);      /* only `invertible` is needed here */
    e->kind = point_kind_of(dev, pt);
    e->comp = component_of(e);
    e->device_class = pt->device_class && pt->device_class[0] ? pt->device_class :
                      numeric(e) ? guess_device_class(pt) : NULL;
    char expr[EXPR_TEXT_MAX];
    int rc = state_source(e, expr, sizeof expr);
    if (rc)
        return rc;
    if (make_value_template(e, expr) < 0 || entity_ids(e) < 0)
        return -1;
    return 0;
}

/* ---- the config payload ------------------------------------------------------- */

static void write_origin(struct jbuf *b)
{
    jb_key(b, "origin");
    jb_printf(b, "{");
    jb_str(b, "name", "mqgate");
    jb_str(b, "sw_version", MQGATE_VERSION);
    jb_printf(b, "}");
}

/* Both must say online: the device answers, and the gateway that reads it
 * is running (a dead gateway cannot mark its devices offline itself). */
static void write_availability(struct jbuf *b, const struct entity *e)
{
    char topics[2][DISCOVERY_TOPIC_MAX];
    size_t n = 0;
    struct config_names dn, gn;
    config_names_of(e->cfg, e->dev, NULL, &dn);
    if (render_topic(&dn, &e->dev->publish.availability_topic, topics[n], sizeof topics[n]) == 0)
        n++;
    memset(&gn, 0, sizeof gn);
    template_values_set(&gn.v, TVAR_GATEWAY, e->cfg->gateway.name);
    if (render_topic(&gn, &e->cfg->gateway.status_topic, topics[n], sizeof topics[n]) == 0)
        n++;
    if (!n)
        return;
    jb_key(b, "availability");
    jb_printf(b, "[");
    for (size_t i = 0; i < n; i++) {
        jb_printf(b, "%s{", i ? "," : "");
        jb_str(b, "topic", topics[i]);
        jb_str(b, "payload_available", "online");
        jb_str(b, "payload_not_available", "offline");
        jb_printf(b, "}");
    }
    jb_printf(b, "]");
    jb_str(b, "availability_mode", "all");
}

static void write_device(struct jbuf *b, const struct entity *e)
{
    jb_key(b, "device");
    jb_printf(b, "{");
    jb_key(b, "identifiers");
    jb_printf(b, "[");
    jb_quote(b, e->node_id);
    jb_printf(b, "]");
    jb_str(b, "name", e->dev->name);
    if (e->dev->manufacturer)
        jb_str(b, "manufacturer", e->dev->manufacturer);
    if (e->dev->model)
        jb_str(b, "model", e->dev->model);
    jb_str(b, "via_device", e->gateway_id);
    jb_printf(b, "}");
}

static void write_options(struct jbuf *b, const struct cfg_enum_map *map)
{
    jb_key(b, "options");
    jb_printf(b, "[");
    for (size_t i = 0; i < map->count; i++) {
        jb_printf(b, "%s", i ? "," : "");
        jb_quote(b, map->entries[i].label);
    }
    jb_printf(b, "]");
}

static void write_sensor(struct jbuf *b, const struct entity *e)
{
    const struct cfg_point *pt = e->pt;
    if (!numeric(e)) {
        /* Text: a unit or a state class would make HA expect a number. */
        if (e->device_class)
            jb_str(b, "device_class", e->device_class);
        if (e->device_class && !strcmp(e->device_class, "enum") && pt->enum_map.count)
            write_options(b, &pt->enum_map);
        return;
    }
    if (pt->unit && pt->unit[0])
        jb_str(b, "unit_of_measurement", pt->unit);
    if (e->device_class)
        jb_str(b, "device_class", e->device_class);
    const char *sc = state_class_of(e->device_class);
    if (sc)
        jb_str(b, "state_class", sc);
    if (pt->decimals >= 0) {
        jb_key(b, "suggested_display_precision");
        jb_printf(b, "%d", (int)pt->decimals);
    }
}

/* What the raw type can hold, in engineering units (eng = a·raw + b). */
static void type_range(const struct entity *e, double *lo, double *hi)
{
    double rlo, rhi;
    switch (e->pt->type) {
    case CFG_T_INT16: rlo = INT16_MIN; rhi = INT16_MAX; break;
    case CFG_T_UINT16: rlo = 0; rhi = UINT16_MAX; break;
    case CFG_T_INT32: rlo = INT32_MIN; rhi = INT32_MAX; break;
    case CFG_T_UINT32: rlo = 0; rhi = UINT32_MAX; break;
    case CFG_T_INT64: rlo = (double)INT64_MIN; rhi = (double)INT64_MAX; break;
    case CFG_T_UINT64: rlo = 0; rhi = (double)UINT64_MAX; break;
    case CFG_T_FLOAT32: rlo = -FLT_MAX; rhi = FLT_MAX; break;
    default: rlo = -1e308; rhi = 1e308; break;
    }
    /* Kept below DBL_MAX, so the 15-digit text still reads back finite. */
    double x = e->conv.a * rlo + e->conv.b, y = e->conv.a * rhi + e->conv.b;
    *lo = fmax(fmin(x, y), -1e308);
    *hi = fmin(fmax(x, y), 1e308);
}

/* HA's step is at least 0.001: decimals when given, else one raw unit of
 * an integer register, else that smallest step. */
static double number_step(const struct entity *e)
{
    double step;
    if (e->pt->decimals >= 0)
        step = pow(10, -(double)e->pt->decimals);
    else if (e->pt->type != CFG_T_FLOAT32 && e->pt->type != CFG_T_FLOAT64)
        step = fabs(e->conv.a);
    else
        step = 0.001;
    return step < 0.001 ? 0.001 : step;
}

/* HA's defaults are 1 and 100, so both limits are always sent: the
 * point's min/max, else what its type can hold. */
static void write_number(struct jbuf *b, const struct entity *e, const char *command_topic)
{
    const struct cfg_point *pt = e->pt;
    double lo, hi;
    type_range(e, &lo, &hi);
    jb_str(b, "command_topic", command_topic);
    if (pt->unit && pt->unit[0])
        jb_str(b, "unit_of_measurement", pt->unit);
    if (e->device_class)
        jb_str(b, "device_class", e->device_class);
    jb_num(b, "min", config_point_is_set(pt, "min") ? pt->min : lo);
    jb_num(b, "max", config_point_is_set(pt, "max") ? pt->max : hi);
    jb_num(b, "step", number_step(e));
    jb_str(b, "mode", "box");
}

/* Jinja renders JSON's true/false as Python's True/False. */
static void write_bool_states(struct jbuf *b, const struct entity *e, const char *on_key,
                              const char *off_key)
{
    jb_str(b, on_key, e->json_state ? "True" : "true");
    jb_str(b, off_key, e->json_state ? "False" : "false");
}

static void write_component(struct jbuf *b, const struct entity *e, const char *command_topic)
{
    switch (e->comp) {
    case HA_SENSOR: write_sensor(b, e); break;
    case HA_BINARY_SENSOR:
        if (e->device_class)
            jb_str(b, "device_class", e->device_class);
        write_bool_states(b, e, "payload_on", "payload_off");
        break;
    case HA_NUMBER: write_number(b, e, command_topic); break;
    case HA_SWITCH:
        jb_str(b, "command_topic", command_topic);
        if (e->device_class)
            jb_str(b, "device_class", e->device_class);
        jb_str(b, "payload_on", "true");
        jb_str(b, "payload_off", "false");
        write_bool_states(b, e, "state_on", "state_off");
        break;
    case HA_SELECT:
        jb_str(b, "command_topic", command_topic);
        write_options(b, &e->pt->enum_map);
        break;
    case HA_TEXT:
        /* What a write takes: count registers of text, or their hex. */
        jb_str(b, "command_topic", command_topic);
        jb_key(b, "max");
        jb_printf(b, "%lld", (long long)e->pt->count * (e->pt->type == CFG_T_RAW ? 4 : 2));
        break;
    }
}

static void write_point(struct jbuf *b, const struct entity *e, const char *command_topic)
{
    char name[ID_MAX], slug[ID_MAX], entity_id[ID_MAX + 32];
    if (!human_name(e->pt->name, name, sizeof name)) {
        b->overflow = true;
        return;
    }
    slug_of(e->unique_id, slug, sizeof slug);
    snprintf(entity_id, sizeof entity_id, "%s.%s", component_names[e->comp], slug);
    jb_printf(b, "{");
    jb_str(b, "name", name);
    jb_str(b, "unique_id", e->unique_id);
    if (slug[0])
        jb_str(b, "default_entity_id", entity_id);
    jb_str(b, "state_topic", e->state_topic);
    if (e->value_template[0])
        jb_str(b, "value_template", e->value_template);
    write_component(b, e, command_topic);
    if (e->pt->publish.qos) {
        jb_key(b, "qos");
        jb_printf(b, "%d", (int)e->pt->publish.qos);
    }
    write_availability(b, e);
    write_device(b, e);
    write_origin(b);
    jb_printf(b, "}");
}

/* ---- calls -------------------------------------------------------------------- */

static void clear(char *topic, size_t topic_len, char *payload, size_t payload_len)
{
    if (topic_len)
        topic[0] = '\0';
    if (payload_len)
        payload[0] = '\0';
}

static int finish(struct jbuf *b, int topic_n, size_t topic_len, char *topic, char *payload,
                  size_t payload_len)
{
    if (b->overflow || topic_n < 0 || (size_t)topic_n >= topic_len) {
        clear(topic, topic_len, payload, payload_len);
        return -1;
    }
    return 0;
}

int discovery_message(const struct config *cfg, const struct cfg_device *dev,
                      const struct cfg_point *pt, char *topic, size_t topic_len, char *payload,
                      size_t payload_len)
{
    clear(topic, topic_len, payload, payload_len);
    struct entity *e = malloc(sizeof *e); /* several KiB: keep it off the loop's stack */
    if (!e)
        return -1;
    int rc = entity_init(e, cfg, dev, pt);
    char command_topic[DISCOVERY_TOPIC_MAX] = "";
    if (rc == 0 && e->comp != HA_SENSOR && e->comp != HA_BINARY_SENSOR &&
        render_topic(&e->names, &pt->publish.command_topic, command_topic, sizeof command_topic))
        rc = -1;
    if (rc) {
        free(e);
        return rc;
    }
    int n = snprintf(topic, topic_len, "%s/%s/%s/%s/config", cfg->homeassistant.prefix,
                     component_names[e->comp], e->node_id, e->object_id);
    struct jbuf b;
    jb_init(&b, payload, payload_len);
    write_point(&b, e, command_topic);
    free(e);
    return finish(&b, n, topic_len, topic, payload, payload_len);
}

int discovery_gateway_message(const struct config *cfg, char *topic, size_t topic_len,
                              char *payload, size_t payload_len)
{
    clear(topic, topic_len, payload, payload_len);
    struct config_names gn;
    memset(&gn, 0, sizeof gn);
    template_values_set(&gn.v, TVAR_GATEWAY, cfg->gateway.name);
    char status[DISCOVERY_TOPIC_MAX], id[ID_MAX] = "", uid[ID_MAX + 8], slug[ID_MAX];
    char entity_id[ID_MAX + 32];
    int rc = render_topic(&gn, &cfg->gateway.status_topic, status, sizeof status);
    if (rc)
        return rc;
    if (!id_append(id, sizeof id, cfg->gateway.name))
        return -1;
    snprintf(uid, sizeof uid, "%s_status", id);
    slug_of(uid, slug, sizeof slug);
    snprintf(entity_id, sizeof entity_id, "binary_sensor.%s", slug);
    int n = snprintf(topic, topic_len, "%s/binary_sensor/%s/status/config",
                     cfg->homeassistant.prefix, id);
    struct jbuf b;
    jb_init(&b, payload, payload_len);
    jb_printf(&b, "{");
    jb_str(&b, "name", "Status");
    jb_str(&b, "unique_id", uid);
    jb_str(&b, "default_entity_id", entity_id);
    jb_str(&b, "state_topic", status);
    jb_str(&b, "device_class", "connectivity");
    jb_str(&b, "entity_category", "diagnostic");
    jb_str(&b, "payload_on", "online");
    jb_str(&b, "payload_off", "offline");
    jb_key(&b, "device");
    jb_printf(&b, "{");
    jb_key(&b, "identifiers");
    jb_printf(&b, "[");
    jb_quote(&b, id);
    jb_printf(&b, "]");
    jb_str(&b, "name", cfg->gateway.name);
    jb_str(&b, "manufacturer", "mqgate");
    jb_str(&b, "sw_version", MQGATE_VERSION);
    jb_printf(&b, "}");
    write_origin(&b);
    jb_printf(&b, "}");
    return finish(&b, n, topic_len, topic, payload, payload_len);
}

struct pub_state {
    discovery_publish_fn *publish;
    void *ctx;
    const char *gateway;
    char *topic, *payload;
    int count;
    bool failed;
};

/* dev and pt NULL: the gateway's own message. */
static void publish_one(struct pub_state *s, int rc, const struct cfg_device *dev,
                        const struct cfg_point *pt)
{
    char what[2 * ID_MAX];
    if (dev)
        snprintf(what, sizeof what, "%s/%s", dev->name, pt->name);
    else
        snprintf(what, sizeof what, "gateway %s", s->gateway);
    if (rc == 0) {
        s->publish(s->ctx, s->topic, s->payload, strlen(s->payload), 1, true);
        s->count++;
    } else if (rc < 0) {
        log_warn("discovery", "%s: discovery message longer than %d bytes; not published", what,
                 DISCOVERY_PAYLOAD_MAX);
        s->failed = true;
    } else if (dev) {
        log_info("discovery", "%s: no Home Assistant entity (its payload carries no value "
                 "Home Assistant can read)", what);
    }
}

int discovery_publish(const struct config *cfg, discovery_publish_fn *publish, void *ctx)
{
    if (!cfg->homeassistant.enabled)
        return 0;
    struct pub_state s = { publish, ctx, cfg->gateway.name, malloc(DISCOVERY_TOPIC_MAX),
                           malloc(DISCOVERY_PAYLOAD_MAX), 0, false };
    if (!s.topic || !s.payload) {
        log_error("discovery", "out of memory");
        free(s.topic);
        free(s.payload);
        return -1;
    }
    int rc = discovery_gateway_message(cfg, s.topic, DISCOVERY_TOPIC_MAX, s.payload,
                                       DISCOVERY_PAYLOAD_MAX);
    publish_one(&s, rc, NULL, NULL);
    for (size_t d = 0; d < cfg->n_devices; d++) {
        const struct cfg_device *dev = &cfg->devices[d];
        for (size_t p = 0; dev->enabled && p < dev->n_points; p++) {
            rc = discovery_message(cfg, dev, &dev->points[p], s.topic, DISCOVERY_TOPIC_MAX,
                                   s.payload, DISCOVERY_PAYLOAD_MAX);
            publish_one(&s, rc, dev, &dev->points[p]);
        }
    }
    free(s.topic);
    free(s.payload);
    return s.failed ? -1 : s.count;
}
