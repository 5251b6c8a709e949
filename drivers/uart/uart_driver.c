/* The raw UART driver: one sensor per port, its byte stream cut into
 * records by a framer (line, NMEA, binary frame) and each record's points
 * extracted into readings. Optionally asks first (query mode). Silence is
 * noticed at each poll: a device that sends nothing for a poll interval has
 * not answered, and after two its last values are reported stale. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drivers/driver.h"
#include "drivers/serial/serial.h"
#include "drivers/uart/framer.h"
#include "gateway/log.h"
#include "gateway/loop.h"

struct uart_bus {
    struct bus *bus;
    struct bus_device *dev;        /* the one device on the port */
    struct serial *port;
    struct framer *framer;
    struct value *last;            /* last good value of each point */
    bool *have_last;
    bool answered;                 /* a good record since the last poll */
    bool stale_sent;
    int64_t last_record_ms;
    struct framer_stats seen;      /* framer counters already reported */
    uint8_t buf[4096];
};

static struct uart_bus *ub(const struct bus *bus)
{
    return bus_proto(bus);
}

static void uart_destroy(struct bus *bus)
{
    struct uart_bus *u = ub(bus);
    if (!u)
        return;
    framer_free(u->framer);
    free(u->last);
    free(u->have_last);
    free(u);
    bus_set_proto(bus, NULL);
}

static int uart_create(struct bus *bus, char *err, size_t errlen)
{
    struct uart_bus *u = calloc(1, sizeof *u);
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    bus_set_proto(bus, u);
    u->bus = bus;
    if (bus_device_count(bus) == 0)
        return 0;
    u->dev = bus_device_at(bus, 0);
    const struct cfg_device *cfg = bus_device_config(u->dev);
    u->last = calloc(cfg->n_points ? cfg->n_points : 1, sizeof *u->last);
    u->have_last = calloc(cfg->n_points ? cfg->n_points : 1, sizeof *u->have_last);
    char why[160] = "";
    if (!u->last || !u->have_last || framer_new(cfg, &u->framer, why, sizeof why) < 0) {
        snprintf(err, errlen, "device '%s': %s", cfg->name, why[0] ? why : "out of memory");
        uart_destroy(bus);
        return -EINVAL;
    }
    return 0;
}

static int uart_open(struct bus *bus, char *err, size_t errlen)
{
    const struct cfg_bus *b = bus_config(bus);
    struct uart_bus *u = ub(bus);
    struct serial_params p = { .path = b->device, .baud = b->baud, .data_bits = (int)b->data_bits,
                               .parity = b->parity, .stop_bits = (int)b->stop_bits,
                               .flow_control = b->flow_control };
    int rc = serial_open(&p, &u->port, err, errlen);
    if (rc < 0)
        return rc;
    if (u->framer)
        framer_reset(u->framer);   /* a partial record from before is garbage now */
    return 0;
}

static void uart_close(struct bus *bus)
{
    struct uart_bus *u = ub(bus);
    serial_close(u->port);
    u->port = NULL;
}

static int uart_readable_fd(struct bus *bus)
{
    struct uart_bus *u = ub(bus);
    return u->port ? serial_fd(u->port) : -1;
}

static void on_record(void *ctx, const struct framer_record *rec)
{
    struct uart_bus *u = ctx;
    const struct cfg_device *cfg = bus_device_config(u->dev);
    bool any = false;
    bus_device_count_transaction(u->dev);
    for (uint32_t i = 0; i < cfg->n_points; i++) {
        struct value v;
        char why[READING_DETAIL_MAX] = "";
        int rc = framer_extract(u->framer, rec, &cfg->points[i], &v, why, sizeof why);
        if (rc == FRAMER_VALUE) {
            u->last[i] = v;
            u->have_last[i] = true;
            bus_emit_value(u->bus, u->dev, i, &v);
            any = true;
        } else if (rc == FRAMER_PARSE_ERROR) {
            bus_device_count_error(u->dev, READING_ERR_PARSE);
            bus_emit_bad(u->bus, u->dev, i, READING_ERR_PARSE, 0, why);
            any = true;
        }
    }
    bus_device_answered(u->bus, u->dev);
    if (any)
        bus_emit_cycle_end(u->bus, u->dev);
    u->answered = true;
    u->stale_sent = false;
    u->last_record_ms = loop_clock_ms();
}

/* Bad checksums count as CRC errors of the device, like Modbus ones. */
static void count_framer_errors(struct uart_bus *u)
{
    const struct framer_stats *st = framer_stats(u->framer);
    for (uint64_t n = u->seen.bad_checksum; n < st->bad_checksum; n++)
        bus_device_count_error(u->dev, READING_ERR_CRC);
    u->seen = *st;
}

static void emit_all_disconnected(struct uart_bus *u, const char *why)
{
    const struct cfg_device *cfg = bus_device_config(u->dev);
    for (uint32_t i = 0; i < cfg->n_points; i++)
        bus_emit_bad(u->bus, u->dev, i, READING_ERR_DISCONNECTED, 0, why);
    bus_emit_cycle_end(u->bus, u->dev);
}

static enum driver_poll_result uart_on_readable(struct bus *bus)
{
    struct uart_bus *u = ub(bus);
    ssize_t n = serial_read(u->port, u->buf, sizeof u->buf, 0);
    if (n < 0 && n != -EAGAIN && n != -EINTR) {
        if (u->dev)
            emit_all_disconnected(u, n == -EPIPE ? "port hung up" : strerror((int)-n));
        return DRIVER_POLL_LINK_DOWN;
    }
    if (n <= 0 || !u->dev)
        return DRIVER_POLL_OK;
    framer_feed(u->framer, u->buf, (size_t)n, on_record, u);
    count_framer_errors(u);
    return DRIVER_POLL_OK;
}

static void emit_stale(struct uart_bus *u)
{
    const struct cfg_device *cfg = bus_device_config(u->dev);
    for (uint32_t i = 0; i < cfg->n_points; i++) {
        if (!u->have_last[i])
            continue;
        struct reading r = { .point_index = i, .quality = READING_STALE,
                             .error = READING_ERR_TIMEOUT };
        r.value = u->last[i];
        snprintf(r.detail, sizeof r.detail, "no data for %lld ms",
                 (long long)(loop_clock_ms() - u->last_record_ms));
        bus_emit_reading(u->bus, u->dev, &r);
    }
    u->stale_sent = true;
}

static enum driver_poll_result uart_poll(struct bus *bus, struct bus_device *dev)
{
    struct uart_bus *u = ub(bus);
    const struct cfg_device *cfg = bus_device_config(dev);
    if (cfg->query.len > 0) {
        ssize_t n = serial_write(u->port, cfg->query.data, cfg->query.len, 1000);
        if (n == -EPIPE) {
            emit_all_disconnected(u, "port hung up");
            return DRIVER_POLL_LINK_DOWN;
        }
        bus_device_count_transaction(dev);
    }
    bool answered = u->answered;
    u->answered = false;
    int64_t silent = loop_clock_ms() - u->last_record_ms;
    int64_t interval = cfg->poll_interval / 1000;
    if (!answered && !u->stale_sent && u->last_record_ms && silent >= 2 * interval)
        emit_stale(u);
    return answered ? DRIVER_POLL_OK : DRIVER_POLL_NO_ANSWER;
}

static void uart_describe(const struct bus *bus, char *buf, size_t n)
{
    const struct cfg_bus *b = bus_config(bus);
    struct uart_bus *u = ub(bus);
    static const char *const framings[] = { "none", "line", "nmea", "frame" };
    const struct cfg_device *cfg = u && u->dev ? bus_device_config(u->dev) : NULL;
    char line[48];
    bus_line_settings(b, line, sizeof line);
    snprintf(buf, n, "uart %s %s, %s framing%s%s", b->device, line,
             cfg ? framings[cfg->framing] : "no",
             u && u->port ? ", via " : "",
             u && u->port ? serial_backend_name(serial_backend(u->port)) : "");
}

const struct driver_ops driver_uart = {
    .name = "uart",
    .create = uart_create,
    .destroy = uart_destroy,
    .open = uart_open,
    .close = uart_close,
    .poll = uart_poll,
    .readable_fd = uart_readable_fd,
    .on_readable = uart_on_readable,
    .describe = uart_describe,
};
