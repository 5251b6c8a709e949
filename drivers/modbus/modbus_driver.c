/* The Modbus drivers (RTU over a serial port, TCP to a device or an
 * RS-485/Ethernet converter): open the context with the bus's settings,
 * read each device's points with the coalesced plan, decode them, and
 * write commands. Both backends share everything but `open`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/serial.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <time.h>

#include "drivers/driver.h"
#include "drivers/modbus/modbus_io.h"
#include "drivers/modbus/plan.h"
#include "config/schema.h"
#include "gateway/log.h"
#include "gateway/loop.h"

struct modbus_bus {
    struct modbus_io io;
    uint16_t regs[125];
    uint8_t bits[2000];
};

/* Points read at one pace: the device's poll_interval, or a point's own. */
struct modbus_group {
    int64_t interval_ms;
    int64_t next_due_ms;
    struct modbus_plan plan;
};

struct modbus_device {
    struct modbus_group *groups;
    size_t n_groups;
};

static struct modbus_bus *mb(const struct bus *bus)
{
    return bus_proto(bus);
}

static int64_t us_to_ms(int64_t us)
{
    return us / 1000;
}

/* ---- lifetime ------------------------------------------------------------ */

static void modbus_destroy(struct bus *bus)
{
    for (size_t i = 0; i < bus_device_count(bus); i++) {
        struct bus_device *dev = bus_device_at(bus, i);
        struct modbus_device *md = bus_device_proto(dev);
        if (md) {
            for (size_t g = 0; g < md->n_groups; g++)
                modbus_plan_free(&md->groups[g].plan);
            free(md->groups);
            free(md);
            bus_device_set_proto(dev, NULL);
        }
    }
    free(bus_proto(bus));
    bus_set_proto(bus, NULL);
}

/* One group per distinct poll_interval among the device's points. */
static int make_groups(const struct cfg_device *cfg, struct modbus_device *md)
{
    md->groups = calloc(cfg->n_points ? cfg->n_points : 1, sizeof *md->groups);
    if (!md->groups)
        return -ENOMEM;
    for (size_t i = 0; i < cfg->n_points; i++) {
        int64_t interval = cfg->points[i].poll_interval;
        bool seen = false;
        for (size_t g = 0; g < md->n_groups; g++)
            seen |= md->groups[g].interval_ms == us_to_ms(interval);
        if (seen)
            continue;
        struct modbus_group *grp = &md->groups[md->n_groups++];
        grp->interval_ms = us_to_ms(interval);
        if (modbus_plan_build(cfg, interval, &grp->plan) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int modbus_create(struct bus *bus, char *err, size_t errlen)
{
    struct modbus_bus *m = calloc(1, sizeof *m);
    if (!m)
        goto nomem;
    bus_set_proto(bus, m);
    for (size_t i = 0; i < bus_device_count(bus); i++) {
        struct bus_device *dev = bus_device_at(bus, i);
        struct modbus_device *md = calloc(1, sizeof *md);
        if (!md)
            goto nomem;
        bus_device_set_proto(dev, md);
        if (make_groups(bus_device_config(dev), md) < 0)
            goto nomem;
    }
    return 0;
nomem:
    modbus_destroy(bus);
    snprintf(err, errlen, "bus '%s': out of memory", bus_config(bus)->name);
    return -ENOMEM;
}

/* ---- opening ------------------------------------------------------------- */

static char parity_letter(int parity)
{
    return parity == CFG_PARITY_EVEN ? 'E' : parity == CFG_PARITY_ODD ? 'O' : 'N';
}

/* The UART driver's RS-485 mode with the configured RTS level and delays
 * (libmodbus's own call sets the mode only, with the driver's defaults). */
static int kernel_rs485(modbus_t *ctx, const struct cfg_bus *b)
{
    struct serial_rs485 conf = { .flags = SER_RS485_ENABLED };
    conf.flags |= b->rs485.rts == CFG_RTS_UP ? SER_RS485_RTS_ON_SEND : SER_RS485_RTS_AFTER_SEND;
    /* The kernel counts these delays in milliseconds. */
    conf.delay_rts_before_send = (uint32_t)((b->rs485.rts_delay + 999) / 1000);
    conf.delay_rts_after_send = conf.delay_rts_before_send;
    return ioctl(modbus_get_socket(ctx), TIOCSRS485, &conf);
}

static int apply_rs485(modbus_t *ctx, const struct cfg_bus *b, char *err, size_t errlen)
{
    if (b->rs485.mode == CFG_RS485_KERNEL && kernel_rs485(ctx, b) < 0) {
        snprintf(err, errlen, "%s: the UART's RS-485 mode (rs485.mode: kernel) failed: %s",
                 b->device, strerror(errno));
        return -errno;
    }
    if (b->rs485.mode == CFG_RS485_RTS) {
        int level = b->rs485.rts == CFG_RTS_UP ? MODBUS_RTU_RTS_UP : MODBUS_RTU_RTS_DOWN;
        if (modbus_rtu_set_rts(ctx, level) < 0 ||
            modbus_rtu_set_rts_delay(ctx, (int)b->rs485.rts_delay) < 0) {
            snprintf(err, errlen, "%s: RTS direction control failed: %s", b->device,
                     modbus_strerror(errno));
            return -errno;
        }
    }
    return 0;
}

static void set_timeouts(modbus_t *ctx, const struct cfg_bus *b)
{
    modbus_set_response_timeout(ctx, (uint32_t)(b->response_timeout / 1000000),
                                (uint32_t)(b->response_timeout % 1000000));
    /* 0: the response timeout alone bounds the whole reply. */
    modbus_set_byte_timeout(ctx, (uint32_t)(b->byte_timeout / 1000000),
                            (uint32_t)(b->byte_timeout % 1000000));
    modbus_set_error_recovery(ctx, MODBUS_ERROR_RECOVERY_NONE);
}

static int connect_ctx(struct bus *bus, modbus_t *ctx, bool rtu, char *err, size_t errlen)
{
    const struct cfg_bus *b = bus_config(bus);
    const char *what = rtu ? b->device : b->host;
    set_timeouts(ctx, b);
    if (modbus_connect(ctx) < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", what, modbus_strerror(e));
        return -e;
    }
    /* libmodbus waits with select(). */
    if (modbus_get_socket(ctx) >= FD_SETSIZE) {
        snprintf(err, errlen, "%s: file descriptor %d is too high for libmodbus", what,
                 modbus_get_socket(ctx));
        modbus_close(ctx);
        return -EMFILE;
    }
    if (rtu) {
        /* One owner per port: a second gateway (or a probe) polling the same
         * bus would answer each other's requests. Root is not stopped by it. */
        if (ioctl(modbus_get_socket(ctx), TIOCEXCL) < 0)
            log_warn("modbus", "%s: cannot claim the port for this process: %s", b->device,
                     strerror(errno));
        int rc = apply_rs485(ctx, b, err, errlen);
        if (rc < 0) {
            modbus_close(ctx);
            return rc;
        }
    }
    /* Bytes queued while nobody listened (a pty keeps them) are stale. */
    modbus_flush(ctx);
    struct modbus_bus *m = mb(bus);
    m->io = (struct modbus_io){ .ctx = ctx, .rtu = rtu,
                                .response_timeout_ms = us_to_ms(b->response_timeout),
                                .retries = (int)b->retries };
    return 0;
}

static int open_rtu(struct bus *bus, char *err, size_t errlen)
{
    const struct cfg_bus *b = bus_config(bus);
    modbus_t *ctx = modbus_new_rtu(b->device, (int)b->baud, parity_letter(b->parity),
                                   (int)b->data_bits, (int)b->stop_bits);
    if (!ctx) {
        snprintf(err, errlen, "%s: %s", b->device, modbus_strerror(errno));
        return -errno;
    }
    int rc = connect_ctx(bus, ctx, true, err, errlen);
    if (rc < 0)
        modbus_free(ctx);
    return rc;
}

static int open_tcp(struct bus *bus, char *err, size_t errlen)
{
    const struct cfg_bus *b = bus_config(bus);
    char port[8];
    snprintf(port, sizeof port, "%d", (int)b->port);
    /* _pi: host names as well as addresses, IPv6 too. */
    modbus_t *ctx = modbus_new_tcp_pi(b->host, port);
    if (!ctx) {
        snprintf(err, errlen, "%s:%s: %s", b->host, port, modbus_strerror(errno));
        return -errno;
    }
    int rc = connect_ctx(bus, ctx, false, err, errlen);
    if (rc < 0)
        modbus_free(ctx);
    return rc;
}

static void modbus_close_bus(struct bus *bus)
{
    struct modbus_bus *m = mb(bus);
    if (m->io.ctx) {
        /* The claim outlives our fd while anyone else has the tty open. */
        if (m->io.rtu)
            ioctl(modbus_get_socket(m->io.ctx), TIOCNXCL);
        modbus_close(m->io.ctx);
        modbus_free(m->io.ctx);
        m->io.ctx = NULL;
    }
}

/* ---- reading ------------------------------------------------------------- */

static void decode_point(struct bus *bus, struct bus_device *dev, const struct modbus_read *r,
                         uint32_t point_index)
{
    struct modbus_bus *m = mb(bus);
    const struct cfg_point *pt = &bus_device_config(dev)->points[point_index];
    size_t off = (size_t)(pt->address - r->start);
    struct value v;
    if (r->kind == CFG_REG_COIL || r->kind == CFG_REG_DISCRETE) {
        value_from_bit(m->bits[off] ? 1 : 0, 0, &v);
    } else if (pt->type == CFG_T_BOOL) {
        value_from_bit(m->regs[off], (int)pt->bit, &v);
    } else {
        uint8_t bytes[VALUE_MAX_BYTES];
        size_t n = value_type_size(pt->type, pt->count);
        value_registers_to_bytes(&m->regs[off], (n + 1) / 2, bytes);
        if (value_decode(bytes, n, pt->type, pt->byte_order, &v) < 0) {
            bus_emit_bad(bus, dev, point_index, READING_ERR_PARSE, 0, "cannot decode");
            return;
        }
    }
    bus_emit_value(bus, dev, point_index, &v);
}

static void emit_read_failed(struct bus *bus, struct bus_device *dev, const struct modbus_plan *p,
                             const struct modbus_read *r, const struct modbus_outcome *o)
{
    for (uint32_t k = 0; k < r->n; k++)
        bus_emit_bad(bus, dev, p->order[r->first + k], o->error, o->exception_code, o->detail);
}

/* A coalesced read refused with an exception may cover an address the
 * device does not have: read its points one by one from now on, so only
 * the bad one stays bad. */
static bool split_after_exception(const struct cfg_device *cfg, struct modbus_plan *plan, size_t i,
                                  const struct modbus_outcome *o)
{
    struct modbus_read r = plan->reads[i];
    if (r.n <= 1 || modbus_plan_split(plan, i, cfg) < 0)
        return false;
    log_msg(LOG_LEVEL_WARN, "modbus",
            "device '%s': %s on the combined read of %u %s from %u; reading its %u points "
            "one by one from now on", cfg->name, o->detail, r.count,
            r.kind == CFG_REG_COIL || r.kind == CFG_REG_DISCRETE ? "bits" : "registers",
            r.start, r.n);
    return true;
}

static void count_outcome(struct bus_device *dev, const struct modbus_outcome *o)
{
    for (unsigned a = 0; a < o->attempts; a++)
        bus_device_count_transaction(dev);
    for (int kind = 0; kind <= READING_ERR_IO; kind++)
        for (unsigned k = 0; k < o->failed[kind]; k++)
            bus_device_count_error(dev, (enum reading_error)kind);
}

/* The silence that ends a frame on an RTU line: 3.5 character times, or a
 * fixed 1.75 ms above 19200 baud (Modbus over serial line v1.02, 2.5.1.1). */
static int64_t rtu_frame_gap_ns(const struct cfg_bus *b)
{
    if (b->baud > 19200)
        return 1750000;
    int64_t bits = 1 + b->data_bits + (b->parity != CFG_PARITY_NONE) + b->stop_bits;
    return bits * 3500000000LL / b->baud;
}

static void pause_between_requests(struct bus *bus)
{
    struct modbus_bus *m = mb(bus);
    if (m->io.rtu) {
        int64_t ns = rtu_frame_gap_ns(bus_config(bus));
        struct timespec gap = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
        while (clock_nanosleep(CLOCK_MONOTONIC, 0, &gap, &gap) == EINTR)
            ;
    }
    int64_t delay = us_to_ms(bus_config(bus)->inter_request_delay);
    if (delay > 0)
        bus_sleep_ms(bus, delay);
}

/* How one poll cycle is going: an offline device is only probed (one
 * attempt), and after a read the device did not answer at all, the rest
 * of the cycle is not tried (it would time out too). */
struct cycle {
    int retries;
    bool answered;
    struct modbus_outcome silent;   /* error NONE until the device went quiet */
};

static void read_plan(struct bus *bus, struct bus_device *dev, struct modbus_plan *plan,
                      struct cycle *c)
{
    struct modbus_bus *m = mb(bus);
    const struct cfg_device *cfg = bus_device_config(dev);
    for (size_t i = 0; i < plan->n_reads; i++) {
        const struct modbus_read *r = &plan->reads[i];
        if (c->silent.error != READING_ERR_NONE) {
            emit_read_failed(bus, dev, plan, r, &c->silent);
            continue;
        }
        struct modbus_outcome o;
        modbus_io_read(&m->io, r->kind, r->start, r->count, m->regs, m->bits, c->retries, &o);
        count_outcome(dev, &o);
        pause_between_requests(bus);
        if (o.link_down) {
            emit_read_failed(bus, dev, plan, r, &o);
            c->silent = o;
            continue;
        }
        if (o.error == READING_ERR_EXCEPTION && split_after_exception(cfg, plan, i, &o)) {
            i--;   /* read the same place again, now point by point */
            continue;
        }
        if (o.error == READING_ERR_NONE) {
            for (uint32_t k = 0; k < r->n; k++)
                decode_point(bus, dev, r, plan->order[r->first + k]);
        } else {
            emit_read_failed(bus, dev, plan, r, &o);
        }
        /* An exception is an answer. */
        c->answered |= o.error == READING_ERR_NONE || o.error == READING_ERR_EXCEPTION;
        if (o.error == READING_ERR_TIMEOUT) {
            c->silent = o;
            snprintf(c->silent.detail, sizeof c->silent.detail,
                     "not read: the device did not answer");
        }
    }
}

static enum driver_poll_result modbus_poll(struct bus *bus, struct bus_device *dev)
{
    struct modbus_device *md = bus_device_proto(dev);
    modbus_set_slave(mb(bus)->io.ctx, (int)bus_device_config(dev)->slave);
    struct cycle c = { .retries = bus_device_is_offline(dev) ? 0 : -1 };
    int64_t now = loop_clock_ms();
    for (size_t g = 0; g < md->n_groups; g++) {
        struct modbus_group *grp = &md->groups[g];
        /* The worker polls the device at its fastest group's pace; the
         * others wait their turn (a few ms early counts as due). */
        if (grp->next_due_ms > now + 5 && !bus_device_is_offline(dev))
            continue;
        read_plan(bus, dev, &grp->plan, &c);
        grp->next_due_ms = (grp->next_due_ms ? grp->next_due_ms : now) + grp->interval_ms;
        if (grp->next_due_ms < now)
            grp->next_due_ms = now + grp->interval_ms;
    }
    if (c.silent.link_down)
        return DRIVER_POLL_LINK_DOWN;
    return c.answered ? DRIVER_POLL_OK : DRIVER_POLL_NO_ANSWER;
}

/* ---- writing ------------------------------------------------------------- */

static int encode_registers(const struct cfg_point *pt, const struct value *v, uint16_t *regs,
                            uint16_t *count, struct write_result *res)
{
    uint8_t bytes[VALUE_MAX_BYTES] = { 0 };
    size_t n = value_type_size(pt->type, pt->count);
    if (pt->type == CFG_T_STRING || pt->type == CFG_T_RAW) {
        if (v->kind != VALUE_STRING && v->kind != VALUE_RAW) {
            snprintf(res->detail, sizeof res->detail, "needs text");
            return -1;
        }
        if (v->len > n) {
            snprintf(res->detail, sizeof res->detail, "longer than %zu bytes", n);
            return -1;
        }
        memcpy(bytes, v->bytes, v->len);   /* the rest stays NUL */
    } else {
        double number;
        if (!value_as_double(v, &number) ||
            value_encode_number(number, pt->type, pt->byte_order, bytes, n) < 0) {
            snprintf(res->detail, sizeof res->detail, "does not fit %s",
                     cfg_enum_name(cfg_value_type_names, pt->type));
            return -1;
        }
    }
    *count = (uint16_t)((n + 1) / 2);
    value_bytes_to_registers(bytes, *count, regs);
    return 0;
}

static enum driver_poll_result modbus_write(struct bus *bus, struct bus_device *dev,
                                            const struct cfg_point *pt, const struct value *v,
                                            struct write_result *res)
{
    struct modbus_bus *m = mb(bus);
    const struct cfg_device *cfg = bus_device_config(dev);
    struct modbus_outcome o = { .error = READING_ERR_NONE };
    modbus_set_slave(m->io.ctx, (int)cfg->slave);
    double number = 0;
    bool truthy = value_as_double(v, &number) && number != 0;
    if (pt->register_kind == CFG_REG_COIL) {
        modbus_io_write_bit(&m->io, (uint16_t)pt->address, truthy, cfg->write_multiple, &o);
    } else if (pt->type == CFG_T_BOOL) {
        /* One bit of a register: read, change the bit, write back. */
        uint16_t reg;
        modbus_io_read(&m->io, CFG_REG_HOLDING, (uint16_t)pt->address, 1, &reg, NULL, -1, &o);
        if (o.error == READING_ERR_NONE) {
            count_outcome(dev, &o);
            reg = truthy ? (uint16_t)(reg | (1u << pt->bit)) : (uint16_t)(reg & ~(1u << pt->bit));
            modbus_io_write_registers(&m->io, (uint16_t)pt->address, &reg, 1,
                                      cfg->write_multiple, &o);
        }
    } else {
        uint16_t regs[125], count;
        if (encode_registers(pt, v, regs, &count, res) < 0) {
            res->error = READING_ERR_RANGE;
            return DRIVER_POLL_OK;
        }
        modbus_io_write_registers(&m->io, (uint16_t)pt->address, regs, count,
                                  cfg->write_multiple, &o);
    }
    count_outcome(dev, &o);
    res->error = o.error;
    res->exception_code = o.exception_code;
    snprintf(res->detail, sizeof res->detail, "%s", o.detail);
    pause_between_requests(bus);
    return o.link_down ? DRIVER_POLL_LINK_DOWN : DRIVER_POLL_OK;
}

/* ---- description --------------------------------------------------------- */

static void describe_rtu(const struct bus *bus, char *buf, size_t n)
{
    const struct cfg_bus *b = bus_config(bus);
    char line[48];
    bus_line_settings(b, line, sizeof line);
    snprintf(buf, n, "modbus_rtu %s %s%s", b->device, line,
             b->rs485.mode == CFG_RS485_KERNEL ? " rs485" :
             b->rs485.mode == CFG_RS485_RTS ? " rts" : "");
}

static void describe_tcp(const struct bus *bus, char *buf, size_t n)
{
    const struct cfg_bus *b = bus_config(bus);
    snprintf(buf, n, "modbus_tcp %s:%lld", b->host, (long long)b->port);
}

const struct driver_ops driver_modbus_rtu = {
    .name = "modbus_rtu",
    .create = modbus_create,
    .destroy = modbus_destroy,
    .open = open_rtu,
    .close = modbus_close_bus,
    .poll = modbus_poll,
    .write = modbus_write,
    .describe = describe_rtu,
};

const struct driver_ops driver_modbus_tcp = {
    .name = "modbus_tcp",
    .create = modbus_create,
    .destroy = modbus_destroy,
    .open = open_tcp,
    .close = modbus_close_bus,
    .poll = modbus_poll,
    .write = modbus_write,
    .describe = describe_tcp,
};
