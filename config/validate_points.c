/* Validate pass for points: the keys each source (Modbus register, text line,
 * NMEA sentence, binary frame) needs or must not have, types against register
 * kinds, scaling and command settings, and overlapping registers. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/expr.h"
#include "config/validate.h"
#include "config/validate_points.h"

static const struct cfg_section *point_section(void)
{
    return cfg_schema_device.keys[cfg_key_index(&cfg_schema_device, "points")].section;
}

static bool is_set(const struct cfg_point *pt, const char *key)
{
    return cfg_is_set(point_section(), pt, key);
}

static struct cfg_pos key_pos(struct load_ctx *ctx, const struct cfg_point *pt, const char *key)
{
    const struct cfg_section *ps = point_section();
    return POS_OF(ctx, (const char *)pt + ps->keys[cfg_key_index(ps, key)].offset, pt->pos);
}

static const char *pname(const struct cfg_point *pt)
{
    return pt->name ? pt->name : "?";
}

/* Keys of one point source; any of them on a point of another source is an error. */
static const char *const modbus_keys[] = { "register", "address", "bit", "poll_interval", NULL };
static const char *const line_keys[] = { "group", "column", "key", NULL };
static const char *const nmea_keys[] = { "sentence", "field", "index", NULL };
static const char *const frame_keys[] = { "byte_offset", NULL };

static void forbid_keys(struct load_ctx *ctx, const struct cfg_point *pt,
                        const char *const *keys, const char *why)
{
    for (; *keys; keys++)
        if (is_set(pt, *keys))
            diag_error(ctx->diag, key_pos(ctx, pt, *keys), "'%s' %s", *keys, why);
}

int64_t point_register_count(const struct cfg_point *pt)
{
    switch (pt->type) {
    case CFG_T_BOOL:
    case CFG_T_INT16:
    case CFG_T_UINT16: return 1;
    case CFG_T_INT32:
    case CFG_T_UINT32:
    case CFG_T_FLOAT32: return 2;
    case CFG_T_INT64:
    case CFG_T_UINT64:
    case CFG_T_FLOAT64: return 4;
    default: return pt->count;
    }
}

static void check_modbus_point(struct load_ctx *ctx, const struct cfg_point *pt)
{
    bool bit_kind = pt->register_kind == CFG_REG_COIL || pt->register_kind == CFG_REG_DISCRETE;
    if (!is_set(pt, "address"))
        diag_error(ctx->diag, pt->pos, "point '%s' needs 'address'", pname(pt));
    if (bit_kind && pt->type != CFG_T_BOOL)
        diag_error(ctx->diag, key_pos(ctx, pt, "type"),
                   "coils and discrete inputs are single bits: 'type' must be bool");
    if (bit_kind && is_set(pt, "bit"))
        diag_error(ctx->diag, key_pos(ctx, pt, "bit"), "'bit' applies to holding and input registers");
    if (!bit_kind && pt->type == CFG_T_BOOL && !is_set(pt, "bit"))
        diag_error(ctx->diag, key_pos(ctx, pt, "type"),
                   "a bool point on a register needs 'bit' (0..15)");
    if (is_set(pt, "bit") && pt->type != CFG_T_BOOL)
        diag_error(ctx->diag, key_pos(ctx, pt, "bit"), "'bit' needs 'type: bool'");
    bool counted = pt->type == CFG_T_STRING || pt->type == CFG_T_RAW;
    if (counted && !is_set(pt, "count"))
        diag_error(ctx->diag, key_pos(ctx, pt, "type"), "a %s point needs 'count' (registers)",
                   pt->type == CFG_T_STRING ? "string" : "raw");
    if (!counted && is_set(pt, "count"))
        diag_error(ctx->diag, key_pos(ctx, pt, "count"), "'count' applies to string and raw points");
    if (is_set(pt, "address") && pt->address + point_register_count(pt) > 65536)
        diag_error(ctx->diag, key_pos(ctx, pt, "address"),
                   "point '%s' runs past register 65535", pname(pt));
    if (pt->writable && (pt->register_kind == CFG_REG_INPUT || pt->register_kind == CFG_REG_DISCRETE))
        diag_error(ctx->diag, key_pos(ctx, pt, "writable"),
                   "%s are read-only; only holding registers and coils can be written",
                   pt->register_kind == CFG_REG_INPUT ? "input registers" : "discrete inputs");
}

static void check_line_point(struct load_ctx *ctx, const struct cfg_point *pt,
                             const struct cfg_device *dev)
{
    static const char *const need[] = {
        [CFG_LINE_VALUE] = NULL, [CFG_LINE_REGEX] = "group", [CFG_LINE_CSV] = "column",
        [CFG_LINE_KV] = "key",
    };
    const char *needed = need[dev->line.format];
    for (const char *const *k = line_keys; *k; k++) {
        if (needed && strcmp(*k, needed) == 0)
            continue;
        if (is_set(pt, *k))
            diag_error(ctx->diag, key_pos(ctx, pt, *k), "'%s' does not apply to 'format: %s' lines",
                       *k, dev->line.format == CFG_LINE_VALUE ? "value" :
                       dev->line.format == CFG_LINE_REGEX ? "regex" :
                       dev->line.format == CFG_LINE_CSV ? "csv" : "kv");
    }
    if (needed && !is_set(pt, needed))
        diag_error(ctx->diag, pt->pos, "point '%s' needs '%s'", pname(pt), needed);
}

struct nmea_sentence {
    const char *type;
    const char *fields;   /* space-separated names this sentence carries */
};

static const struct nmea_sentence nmea_sentences[] = {
    { "GGA", " time latitude longitude fix_quality satellites hdop altitude " },
    { "RMC", " time status latitude longitude speed_knots speed_kmh course date " },
    { "GLL", " latitude longitude time status " },
    { "VTG", " course speed_knots speed_kmh " },
};

static void check_nmea_point(struct load_ctx *ctx, const struct cfg_point *pt)
{
    if (!pt->sentence) {
        diag_error(ctx->diag, pt->pos, "point '%s' needs 'sentence' (GGA, RMC, …)", pname(pt));
        return;
    }
    if (pt->field && is_set(pt, "index"))
        diag_error(ctx->diag, key_pos(ctx, pt, "index"), "give 'field' or 'index', not both");
    if (!pt->field) {
        if (!is_set(pt, "index"))
            diag_error(ctx->diag, pt->pos, "point '%s' needs 'field' or 'index'", pname(pt));
        return;
    }
    for (size_t i = 0; i < sizeof(nmea_sentences) / sizeof(nmea_sentences[0]); i++) {
        if (strcmp(nmea_sentences[i].type, pt->sentence) != 0)
            continue;
        char word[40];
        snprintf(word, sizeof(word), " %.36s ", pt->field);
        if (!strstr(nmea_sentences[i].fields, word)) {
            char names[128], list[160] = "";
            snprintf(names, sizeof(names), "%s", nmea_sentences[i].fields);
            char *save = NULL;
            for (char *w = strtok_r(names, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
                size_t used = strlen(list);
                snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", w);
            }
            diag_error(ctx->diag, key_pos(ctx, pt, "field"),
                       "%s sentences have no field '%s' (they have: %s)", pt->sentence, pt->field,
                       list);
        }
        return;
    }
    diag_error(ctx->diag, key_pos(ctx, pt, "field"),
               "no named fields for %s sentences; use 'index'", pt->sentence);
}

static int64_t frame_value_size(const struct cfg_point *pt)
{
    int64_t regs = point_register_count(pt);
    return pt->type == CFG_T_BOOL ? 1 : pt->type == CFG_T_STRING || pt->type == CFG_T_RAW ?
           pt->count : regs * 2;
}

static void check_frame_point(struct load_ctx *ctx, const struct cfg_point *pt,
                              const struct cfg_device *dev)
{
    if (!is_set(pt, "byte_offset")) {
        diag_error(ctx->diag, pt->pos, "point '%s' needs 'byte_offset'", pname(pt));
        return;
    }
    if ((pt->type == CFG_T_STRING || pt->type == CFG_T_RAW) && !is_set(pt, "count"))
        diag_error(ctx->diag, key_pos(ctx, pt, "type"), "a %s point needs 'count' (bytes)",
                   pt->type == CFG_T_STRING ? "string" : "raw");
    int64_t end = pt->byte_offset + frame_value_size(pt);
    if (dev->frame.fixed_length && end > dev->frame.fixed_length)
        diag_error(ctx->diag, key_pos(ctx, pt, "byte_offset"),
                   "point '%s' ends at byte %" PRId64 ", past the %" PRId64 "-byte frame",
                   pname(pt), end, dev->frame.fixed_length);
}

static void check_mapping(struct load_ctx *ctx, const struct cfg_point *pt)
{
    if (pt->expression) {
        if (is_set(pt, "scale") || is_set(pt, "offset"))
            diag_error(ctx->diag, key_pos(ctx, pt, "expression"),
                       "give 'expression' or 'scale'/'offset', not both");
        char err[128];
        if (expr_check(pt->expression, err, sizeof(err), NULL))
            diag_error(ctx->diag, key_pos(ctx, pt, "expression"), "'expression': %s", err);
    }
    if (is_set(pt, "scale") && pt->scale == 0)
        diag_error(ctx->diag, key_pos(ctx, pt, "scale"), "'scale' must not be 0");
    bool numeric = pt->type != CFG_T_STRING && pt->type != CFG_T_RAW;
    if (!numeric) {
        static const char *const numeric_keys[] = { "scale", "offset", "expression", "enum",
                                                    "decimals", "min", "max" };
        for (size_t i = 0; i < sizeof(numeric_keys) / sizeof(numeric_keys[0]); i++)
            if (is_set(pt, numeric_keys[i]))
                diag_error(ctx->diag, key_pos(ctx, pt, numeric_keys[i]),
                           "'%s' does not apply to %s points", numeric_keys[i],
                           pt->type == CFG_T_STRING ? "string" : "raw");
    }
    if (is_set(pt, "min") && is_set(pt, "max") && pt->min > pt->max)
        diag_error(ctx->diag, key_pos(ctx, pt, "min"), "'min' is greater than 'max'");
    if ((is_set(pt, "min") || is_set(pt, "max")) && !pt->writable)
        diag_warning(ctx->diag, key_pos(ctx, pt, is_set(pt, "min") ? "min" : "max"),
                     "'min'/'max' limit commands, and point '%s' is not writable", pname(pt));
}

static void check_unique_point_names(struct load_ctx *ctx, const struct cfg_device *dev)
{
    for (size_t i = 0; i < dev->n_points; i++) {
        const struct cfg_point *pt = &dev->points[i];
        for (size_t j = 0; pt->name && j < i; j++) {
            const struct cfg_point *first = &dev->points[j];
            if (first->name && strcmp(first->name, pt->name) == 0) {
                struct cfg_pos fp = POS_OF(ctx, &first->name, first->pos);
                diag_error(ctx->diag, POS_OF(ctx, &pt->name, pt->pos),
                           "duplicate point name '%s' in device '%s' (first defined at %u:%u)",
                           pt->name, dev->name ? dev->name : "?", fp.line, fp.col);
                break;
            }
        }
    }
}

void validate_points(struct load_ctx *ctx, const struct cfg_device *dev, const struct cfg_bus *bus)
{
    check_unique_point_names(ctx, dev);
    bool modbus = bus->type != CFG_BUS_UART;
    for (size_t i = 0; i < dev->n_points; i++) {
        const struct cfg_point *pt = &dev->points[i];
        if (load_is_poisoned(ctx, pt))
            continue;
        if (modbus) {
            forbid_keys(ctx, pt, line_keys, "applies to UART line devices only");
            forbid_keys(ctx, pt, nmea_keys, "applies to UART NMEA devices only");
            forbid_keys(ctx, pt, frame_keys, "applies to UART frame devices only");
            check_modbus_point(ctx, pt);
        } else {
            forbid_keys(ctx, pt, modbus_keys, "applies to Modbus devices only");
            if (dev->framing != CFG_FRAMING_LINE)
                forbid_keys(ctx, pt, line_keys, "needs 'framing: line'");
            if (dev->framing != CFG_FRAMING_NMEA)
                forbid_keys(ctx, pt, nmea_keys, "needs 'framing: nmea'");
            if (dev->framing != CFG_FRAMING_FRAME)
                forbid_keys(ctx, pt, frame_keys, "needs 'framing: frame'");
            if (dev->framing == CFG_FRAMING_LINE)
                check_line_point(ctx, pt, dev);
            else if (dev->framing == CFG_FRAMING_NMEA)
                check_nmea_point(ctx, pt);
            else if (dev->framing == CFG_FRAMING_FRAME)
                check_frame_point(ctx, pt, dev);
            if (pt->writable)
                diag_error(ctx->diag, key_pos(ctx, pt, "writable"),
                           "UART points cannot be written");
        }
        check_mapping(ctx, pt);
    }
}

/* ---- overlapping registers ---------------------------------------------- */

struct span {
    const struct cfg_device *dev;
    const struct cfg_point *pt;
    int64_t start, end;   /* registers or bits, inclusive */
    int bit;              /* bit of a register, or -1 for the whole register */
};

static bool spans_clash(const struct span *a, const struct span *b)
{
    if (a->dev->bus == NULL || b->dev->bus == NULL || strcmp(a->dev->bus, b->dev->bus) != 0 ||
        a->dev->slave != b->dev->slave || a->pt->register_kind != b->pt->register_kind)
        return false;
    if (a->end < b->start || b->end < a->start)
        return false;
    /* Two bit points on one register clash only on the same bit. */
    return a->bit < 0 || b->bit < 0 || a->bit == b->bit;
}

static const char *kind_plural(int kind)
{
    switch (kind) {
    case CFG_REG_HOLDING: return "holding registers";
    case CFG_REG_INPUT: return "input registers";
    case CFG_REG_COIL: return "coils";
    default: return "discrete inputs";
    }
}

/* The values that place a point in the register map. */
static bool point_source_poisoned(const struct load_ctx *ctx, const struct cfg_point *pt)
{
    return load_is_poisoned(ctx, &pt->address) || load_is_poisoned(ctx, &pt->register_kind) ||
           load_is_poisoned(ctx, &pt->type) || load_is_poisoned(ctx, &pt->count) ||
           load_is_poisoned(ctx, &pt->bit);
}

static size_t collect_spans(const struct load_ctx *ctx, const struct config *cfg,
                            struct span *spans)
{
    size_t n = 0;
    for (size_t d = 0; d < cfg->n_devices; d++) {
        const struct cfg_device *dev = &cfg->devices[d];
        const struct cfg_bus *bus = dev->bus ? config_find_bus(cfg, dev->bus) : NULL;
        if (!bus || bus->type == CFG_BUS_UART || !dev->enabled ||
            load_is_poisoned(ctx, &dev->slave) || load_is_poisoned(ctx, &dev->enabled))
            continue;
        for (size_t p = 0; p < dev->n_points; p++) {
            const struct cfg_point *pt = &dev->points[p];
            int64_t count = point_register_count(pt);
            if (!is_set(pt, "address") || count <= 0 || point_source_poisoned(ctx, pt))
                continue;
            bool reg_bit = pt->type == CFG_T_BOOL && (pt->register_kind == CFG_REG_HOLDING ||
                                                      pt->register_kind == CFG_REG_INPUT);
            spans[n++] = (struct span){ dev, pt, pt->address, pt->address + count - 1,
                                        reg_bit ? (int)pt->bit : -1 };
        }
    }
    return n;
}

void validate_register_overlaps(struct load_ctx *ctx, const struct config *cfg)
{
    size_t total = 0;
    for (size_t d = 0; d < cfg->n_devices; d++)
        total += cfg->devices[d].n_points;
    struct span *spans = calloc(total ? total : 1, sizeof(*spans));
    if (!spans)
        return;
    size_t n = collect_spans(ctx, cfg, spans);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (!spans_clash(&spans[i], &spans[j]))
                continue;
            const struct span *a = &spans[j], *b = &spans[i];
            int64_t lo = a->start > b->start ? a->start : b->start;
            int64_t hi = a->end < b->end ? a->end : b->end;
            diag_error(ctx->diag, key_pos(ctx, b->pt, "address"),
                       "point '%s' overlaps point '%s' of device '%s' on %s %" PRId64 "..%" PRId64
                       " (slave %" PRId64 " on bus '%s')", pname(b->pt), pname(a->pt),
                       a->dev->name ? a->dev->name : "?", kind_plural(b->pt->register_kind), lo,
                       hi, b->dev->slave, b->dev->bus);
            break;
        }
    }
    free(spans);
}
