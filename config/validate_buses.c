/* Validate pass for `buses`: unique names, the keys each bus type needs or
 * must not have, and line settings that cannot work. */
#include <inttypes.h>
#include <string.h>

#include "config/validate.h"

static const int64_t standard_bauds[] = {
    1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 230400, 460800, 921600,
};

static bool baud_is_standard(int64_t baud)
{
    for (size_t i = 0; i < sizeof(standard_bauds) / sizeof(standard_bauds[0]); i++)
        if (standard_bauds[i] == baud)
            return true;
    return false;
}

static void check_unique_names(struct load_ctx *ctx, struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_buses; i++) {
        const struct cfg_bus *b = &cfg->buses[i];
        for (size_t j = 0; b->name && j < i; j++) {
            const struct cfg_bus *first = &cfg->buses[j];
            if (first->name && strcmp(first->name, b->name) == 0) {
                struct cfg_pos fp = POS_OF(ctx, &first->name, first->pos);
                diag_error(ctx->diag, POS_OF(ctx, &b->name, b->pos),
                           "duplicate bus name '%s' (first defined at %u:%u)", b->name, fp.line,
                           fp.col);
                break;
            }
        }
    }
}

/* Keys that only make sense for some bus types. */
static void check_key_applies(struct load_ctx *ctx, const struct cfg_bus *b, const char *key,
                              const void *field, bool applies, const char *which)
{
    if (!applies && cfg_is_set(&cfg_schema_bus, b, key))
        diag_error(ctx->diag, POS_OF(ctx, field, b->pos), "'%s' applies to %s buses only", key,
                   which);
}

static void check_serial(struct load_ctx *ctx, const struct cfg_bus *b)
{
    const char *name = b->name ? b->name : "?";
    if (!b->device) {
        if (!load_is_poisoned(ctx, &b->device))
            diag_error(ctx->diag, b->pos, "bus '%s' needs 'device' (the serial port)", name);
    } else if (b->device[0] != '/') {
        diag_error(ctx->diag, POS_OF(ctx, &b->device, b->pos),
                   "'device' must be an absolute path such as /dev/ttyUSB0, got '%s'", b->device);
    }
    if (b->type == CFG_BUS_MODBUS_RTU && b->data_bits != 8)
        diag_warning(ctx->diag, POS_OF(ctx, &b->data_bits, b->pos),
                     "Modbus RTU uses 8 data bits; %" PRId64 " will not work with standard devices",
                     b->data_bits);
    bool baud_ok = !load_is_poisoned(ctx, &b->baud);
    if (baud_ok && !baud_is_standard(b->baud))
        diag_warning(ctx->diag, POS_OF(ctx, &b->baud, b->pos),
                     "%" PRId64 " is not a standard baud rate; check that the adapter supports it",
                     b->baud);
    if (b->flow_control != CFG_FLOW_NONE && b->rs485.mode != CFG_RS485_OFF)
        diag_error(ctx->diag, POS_OF(ctx, &b->flow_control, b->pos),
                   "'flow_control' must be none on an RS-485 bus");
    /* A full 256-byte RTU frame at 11 bits per character must fit in the timeout. */
    int64_t frame_us = 256 * 11 * INT64_C(1000000) / (b->baud > 0 ? b->baud : 1);
    if (b->type == CFG_BUS_MODBUS_RTU && baud_ok && !load_is_poisoned(ctx, &b->response_timeout) &&
        b->response_timeout < frame_us)
        diag_warning(ctx->diag, POS_OF(ctx, &b->response_timeout, b->pos),
                     "'response_timeout' is shorter than the %" PRId64 " ms a full frame takes at "
                     "%" PRId64 " baud", (frame_us + 999) / 1000, b->baud);
}

static void check_bus(struct load_ctx *ctx, const struct cfg_bus *b)
{
    bool serial = b->type != CFG_BUS_MODBUS_TCP;
    check_key_applies(ctx, b, "host", &b->host, !serial, "modbus_tcp");
    check_key_applies(ctx, b, "port", &b->port, !serial, "modbus_tcp");
    static const char *const line_keys[] = { "device", "baud", "parity", "data_bits", "stop_bits",
                                             "flow_control", "rs485" };
    for (size_t i = 0; i < sizeof(line_keys) / sizeof(line_keys[0]); i++) {
        int k = cfg_key_index(&cfg_schema_bus, line_keys[i]);
        check_key_applies(ctx, b, line_keys[i], (const char *)b + cfg_schema_bus.keys[k].offset,
                          serial, "serial (modbus_rtu, uart)");
    }
    check_key_applies(ctx, b, "inter_request_delay", &b->inter_request_delay,
                      b->type != CFG_BUS_UART, "Modbus");
    check_key_applies(ctx, b, "retries", &b->retries, b->type != CFG_BUS_UART, "Modbus");
    if (serial)
        check_serial(ctx, b);
    else if (!b->host && !load_is_poisoned(ctx, &b->host))
        diag_error(ctx->diag, b->pos, "bus '%s' needs 'host' (type modbus_tcp)",
                   b->name ? b->name : "?");
    if (b->reconnect_min > b->reconnect_max)
        diag_error(ctx->diag, POS_OF(ctx, &b->reconnect_min, b->pos),
                   "'reconnect_min' is longer than 'reconnect_max'");
    const struct cfg_section *rs485 =
        cfg_schema_bus.keys[cfg_key_index(&cfg_schema_bus, "rs485")].section;
    if (b->rs485.mode == CFG_RS485_OFF &&
        (cfg_is_set(rs485, &b->rs485, "rts") || cfg_is_set(rs485, &b->rs485, "rts_delay")))
        diag_warning(ctx->diag, b->rs485.pos, "RS-485 settings have no effect with 'mode: off'");
}

void validate_buses(struct load_ctx *ctx, struct config *cfg)
{
    check_unique_names(ctx, cfg);
    for (size_t i = 0; i < cfg->n_buses; i++)
        if (!load_is_poisoned(ctx, &cfg->buses[i].type))
            check_bus(ctx, &cfg->buses[i]);
}
