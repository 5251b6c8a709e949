/* The driver interface: what a protocol implements so that a bus worker
 * (drivers/bus.c) can run it. A new protocol is one new file with one
 * `const struct driver_ops` table; the worker does the rest — the thread,
 * scheduling each device at its poll interval, reopening a vanished port
 * with backoff, counting failures into online/offline, and queueing
 * readings to the loop thread.
 *
 * Threads: every call below happens on the bus's own thread, which may
 * block (libmodbus does), bounded by the bus's timeouts. Drivers touch no
 * state outside their bus; they report only through bus_emit_*(). */
#ifndef MQGATE_DRIVERS_DRIVER_H
#define MQGATE_DRIVERS_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "drivers/reading.h"

struct bus;          /* a bus worker: one port, one thread, its devices */
struct bus_device;   /* one device's state on its bus */

enum driver_poll_result {
    DRIVER_POLL_OK,          /* the device answered (some points may still be bad) */
    DRIVER_POLL_NO_ANSWER,   /* nothing usable came back: counts toward offline */
    DRIVER_POLL_LINK_DOWN,   /* the port itself failed: the worker closes and reopens it */
};

struct driver_ops {
    const char *name;        /* "modbus_rtu", "modbus_tcp", "uart" */
    /* Protocol state for the bus, made when the worker is created (on the
     * caller's thread; no I/O) and freed by destroy. 0, or -errno with a
     * message in err. */
    int (*create)(struct bus *bus, char *err, size_t errlen);
    void (*destroy)(struct bus *bus);
    /* Open the port (connect). 0, or -errno with a message in err; the
     * worker retries with backoff. ENOENT means "not there (yet)". */
    int (*open)(struct bus *bus, char *err, size_t errlen);
    void (*close)(struct bus *bus);
    /* One poll cycle of `dev`, due now: read its points and emit a reading
     * for each (good or bad). Stream protocols use it to send their query
     * and to notice silence. */
    enum driver_poll_result (*poll)(struct bus *bus, struct bus_device *dev);
    /* Stream protocols only (NULL otherwise): the fd to wait on while
     * connected, and what to do when it is readable. */
    int (*readable_fd)(struct bus *bus);
    enum driver_poll_result (*on_readable)(struct bus *bus);
    /* Write `v` (raw, before any scaling: the point's own type) to a point.
     * NULL when the protocol cannot write. Fills res (error NONE on success);
     * returns LINK_DOWN when the port failed. */
    enum driver_poll_result (*write)(struct bus *bus, struct bus_device *dev,
                                     const struct cfg_point *pt, const struct value *v,
                                     struct write_result *res);
    /* One line for logs and `mqgate probe`: "modbus_rtu /dev/ttyUSB0 9600 8N1". */
    void (*describe)(const struct bus *bus, char *buf, size_t n);
};

extern const struct driver_ops driver_modbus_rtu;
extern const struct driver_ops driver_modbus_tcp;
extern const struct driver_ops driver_uart;

/* ---- what drivers may call on their bus ---------------------------------- */

const struct cfg_bus *bus_config(const struct bus *bus);
void *bus_proto(const struct bus *bus);
void bus_set_proto(struct bus *bus, void *proto);

/* Devices of the bus, in config order (enabled ones only). */
size_t bus_device_count(const struct bus *bus);
struct bus_device *bus_device_at(struct bus *bus, size_t i);

const struct cfg_device *bus_device_config(const struct bus_device *dev);
/* Offline devices are only probed: drivers skip retries for them. */
bool bus_device_is_offline(const struct bus_device *dev);
void *bus_device_proto(const struct bus_device *dev);
void bus_device_set_proto(struct bus_device *dev, void *proto);   /* freed by the driver's destroy */

/* Queue readings for the loop thread. A reading's device, indexes and
 * timestamps are filled in here; the driver sets point_index, quality,
 * value or error. May wait while the queue is full (the loop is behind):
 * nothing is dropped. */
void bus_emit_reading(struct bus *bus, struct bus_device *dev, struct reading *r);
/* A bad reading of one point: error, exception code (or 0) and a detail. */
void bus_emit_bad(struct bus *bus, struct bus_device *dev, uint32_t point_index,
                  enum reading_error err, int exception_code, const char *detail);
/* A good reading of one point. */
void bus_emit_value(struct bus *bus, struct bus_device *dev, uint32_t point_index,
                    const struct value *v);

/* Stream protocols: the device just sent something good. It is online
 * from now (polls still count silence against it). */
void bus_device_answered(struct bus *bus, struct bus_device *dev);

/* The end of a group of readings that belong together (a poll cycle is
 * closed by the worker; stream protocols close each record themselves). */
void bus_emit_cycle_end(struct bus *bus, struct bus_device *dev);

/* A serial bus's line settings as people write them: "9600 8N1". */
void bus_line_settings(const struct cfg_bus *b, char *buf, size_t n);

/* Statistics the drivers count (read by `mqgate probe` and the benchmark). */
struct bus_device_stats {
    uint64_t polls;             /* poll cycles run */
    uint64_t transactions;      /* requests sent (Modbus) or records received (UART) */
    uint64_t readings_good;
    uint64_t readings_bad;
    uint64_t timeouts;
    uint64_t crc_errors;
    uint64_t exceptions;
    uint64_t bad_replies;
    uint64_t parse_errors;
};
void bus_device_count_transaction(struct bus_device *dev);
void bus_device_count_error(struct bus_device *dev, enum reading_error err);

/* Sleep up to ms, waking early when the bus is told to stop. Returns false
 * when stopping. */
bool bus_sleep_ms(struct bus *bus, int64_t ms);
bool bus_stopping(const struct bus *bus);
/* The fd that becomes readable when the worker should wake (stop, writes). */
int bus_wake_fd(const struct bus *bus);

#endif
