/* Validate pass for `devices`: unique names, the bus each names, the keys
 * each kind of device needs (Modbus slave, UART framing), and their framing. */
#include <inttypes.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "config/suggest.h"
#include "config/validate.h"
#include "config/validate_points.h"

static void check_unique_names(struct load_ctx *ctx, struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_devices; i++) {
        const struct cfg_device *d = &cfg->devices[i];
        for (size_t j = 0; d->name && j < i; j++) {
            const struct cfg_device *first = &cfg->devices[j];
            if (first->name && strcmp(first->name, d->name) == 0) {
                struct cfg_pos fp = POS_OF(ctx, &first->name, first->pos);
                diag_error(ctx->diag, POS_OF(ctx, &d->name, d->pos),
                           "duplicate device name '%s' (first defined at %u:%u)", d->name,
                           fp.line, fp.col);
                break;
            }
        }
    }
}

static const struct cfg_bus *check_bus_ref(struct load_ctx *ctx, struct config *cfg,
                                           const struct cfg_device *d)
{
    if (!d->bus)
        return NULL;
    const struct cfg_bus *bus = config_find_bus(cfg, d->bus);
    if (bus)
        return bus;
    struct suggest s;
    suggest_init(&s, d->bus);
    for (size_t i = 0; i < cfg->n_buses; i++)
        if (cfg->buses[i].name)
            suggest_offer(&s, cfg->buses[i].name);
    struct cfg_pos pos = POS_OF(ctx, &d->bus, d->pos);
    if (suggest_result(&s))
        diag_error(ctx->diag, pos, "no bus named '%s'; did you mean '%s'?", d->bus,
                   suggest_result(&s));
    else
        diag_error(ctx->diag, pos, "no bus named '%s'", d->bus);
    return NULL;
}

static void check_not_set(struct load_ctx *ctx, const struct cfg_device *d, const char *key,
                          const void *field, const char *why)
{
    if (cfg_is_set(&cfg_schema_device, d, key))
        diag_error(ctx->diag, POS_OF(ctx, field, d->pos), "'%s' %s", key, why);
}

static void check_modbus_device(struct load_ctx *ctx, const struct cfg_device *d,
                                const struct cfg_bus *bus)
{
    const char *name = d->name ? d->name : "?";
    if (!cfg_is_set(&cfg_schema_device, d, "slave"))
        diag_error(ctx->diag, d->pos, "Modbus device '%s' needs 'slave' (its unit id)", name);
    else if (bus->type == CFG_BUS_MODBUS_RTU && !load_is_poisoned(ctx, &d->slave) &&
             (d->slave < 1 || d->slave > 247))
        diag_error(ctx->diag, POS_OF(ctx, &d->slave, d->pos),
                   "a Modbus RTU slave id is 1..247, got %" PRId64 "%s", d->slave,
                   d->slave == 0 ? " (0 is broadcast)" : "");
    const char *why = "applies to UART devices only";
    check_not_set(ctx, d, "framing", &d->framing, why);
    check_not_set(ctx, d, "line", &d->line, why);
    check_not_set(ctx, d, "frame", &d->frame, why);
    check_not_set(ctx, d, "query", &d->query, why);
}

static void check_regex(struct load_ctx *ctx, const struct cfg_device *d)
{
    const struct cfg_line_framing *l = &d->line;
    if (l->format != CFG_LINE_REGEX) {
        if (l->regex)
            diag_error(ctx->diag, POS_OF(ctx, &l->regex, l->pos), "'regex' needs 'format: regex'");
        return;
    }
    if (!l->regex) {
        diag_error(ctx->diag, l->pos, "'format: regex' needs 'regex'");
        return;
    }
    regex_t re;
    int rc = regcomp(&re, l->regex, REG_EXTENDED);
    if (rc) {
        char msg[128];
        regerror(rc, &re, msg, sizeof(msg));
        diag_error(ctx->diag, POS_OF(ctx, &l->regex, l->pos), "'regex' does not compile: %s", msg);
        return;
    }
    regfree(&re);
}

static void check_frame(struct load_ctx *ctx, const struct cfg_device *d)
{
    const struct cfg_frame_framing *f = &d->frame;
    /* A missing `header` inside the block is the loader's "missing required
     * key"; only a missing block is ours to report. */
    if (!cfg_is_set(&cfg_schema_device, d, "frame")) {
        diag_error(ctx->diag, d->pos, "'framing: frame' needs a 'frame' block with 'header'");
        return;
    }
    bool has_length = f->length.set != 0;
    if (f->fixed_length && has_length)
        diag_error(ctx->diag, f->length.pos, "give 'fixed_length' or 'length', not both");
    else if (!f->fixed_length && !has_length)
        diag_error(ctx->diag, f->pos, "a frame needs 'fixed_length' or a 'length' field");
    if (f->fixed_length && (uint64_t)f->fixed_length < f->header.len)
        diag_error(ctx->diag, POS_OF(ctx, &f->fixed_length, f->pos),
                   "'fixed_length' is shorter than the header");
    if (f->fixed_length && (uint64_t)f->fixed_length > f->max_length)
        diag_error(ctx->diag, POS_OF(ctx, &f->fixed_length, f->pos),
                   "'fixed_length' is longer than 'max_length'");
    if (has_length && (size_t)f->length.offset < f->header.len)
        diag_error(ctx->diag, POS_OF(ctx, &f->length.offset, f->length.pos),
                   "the length field overlaps the header");
}

static void check_uart_device(struct load_ctx *ctx, const struct cfg_device *d)
{
    const char *name = d->name ? d->name : "?";
    check_not_set(ctx, d, "slave", &d->slave, "applies to Modbus devices only");
    check_not_set(ctx, d, "coalesce", &d->coalesce, "applies to Modbus devices only");
    check_not_set(ctx, d, "write_multiple", &d->write_multiple, "applies to Modbus devices only");
    if (load_is_poisoned(ctx, &d->framing))
        return;
    if (d->framing == CFG_FRAMING_NONE) {
        diag_error(ctx->diag, d->pos, "UART device '%s' needs 'framing' (line, nmea or frame)", name);
        return;
    }
    if (d->framing != CFG_FRAMING_LINE)
        check_not_set(ctx, d, "line", &d->line, "needs 'framing: line'");
    if (d->framing != CFG_FRAMING_FRAME)
        check_not_set(ctx, d, "frame", &d->frame, "needs 'framing: frame'");
    if (d->framing == CFG_FRAMING_LINE && !load_is_poisoned(ctx, &d->line))
        check_regex(ctx, d);
    if (d->framing == CFG_FRAMING_FRAME && !load_is_poisoned(ctx, &d->frame) &&
        !load_is_poisoned(ctx, &d->frame.length))
        check_frame(ctx, d);
}

/* A raw UART port carries one sensor's stream: two readers would split it. */
static void check_one_device_per_uart(struct load_ctx *ctx, struct config *cfg, size_t i)
{
    const struct cfg_device *d = &cfg->devices[i];
    for (size_t j = 0; j < i; j++) {
        const struct cfg_device *first = &cfg->devices[j];
        if (first->bus && strcmp(first->bus, d->bus) == 0) {
            diag_error(ctx->diag, POS_OF(ctx, &d->bus, d->pos),
                       "uart bus '%s' already has device '%s'; a UART port carries one sensor",
                       d->bus, first->name ? first->name : "?");
            return;
        }
    }
}

void validate_devices(struct load_ctx *ctx, struct config *cfg)
{
    check_unique_names(ctx, cfg);
    for (size_t i = 0; i < cfg->n_devices; i++) {
        const struct cfg_device *d = &cfg->devices[i];
        const struct cfg_bus *bus = check_bus_ref(ctx, cfg, d);
        if (!bus)
            continue;
        if (bus->type == CFG_BUS_UART) {
            check_uart_device(ctx, d);
            check_one_device_per_uart(ctx, cfg, i);
        } else {
            check_modbus_device(ctx, d, bus);
        }
        if (cfg_is_set(&cfg_schema_device, d, "points") && d->n_points == 0)
            diag_warning(ctx->diag, POS_OF(ctx, &d->points, d->pos),
                         "device '%s' has no points", d->name ? d->name : "?");
        if (!load_is_poisoned(ctx, &d->framing) && !load_is_poisoned(ctx, &d->line))
            validate_points(ctx, d, bus);
    }
    validate_register_overlaps(ctx, cfg);
}
