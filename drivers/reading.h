/* What leaves a driver: one reading of one point (typed value, timestamps,
 * quality and, when bad, why), and the events around readings (a device
 * going offline or online, the end of a device's poll cycle, the outcome of
 * a write). Plain data, copied through the queue to the loop thread. */
#ifndef MQGATE_DRIVERS_READING_H
#define MQGATE_DRIVERS_READING_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"
#include "gateway/mapping/value.h"

enum reading_quality {
    READING_GOOD,
    READING_BAD,    /* the read failed now: see `error` */
    READING_STALE,  /* the last good value, too old to trust (a silent stream) */
};

/* Why a reading is bad (or a device offline, or a write failed). */
#define READING_ERRORS(X)                                                       \
    X(NONE, "none")                                                            \
    X(TIMEOUT, "timeout")             /* no (complete) reply in time */        \
    X(CRC, "crc")                     /* reply with a bad checksum */          \
    X(EXCEPTION, "exception")         /* Modbus exception reply: see code */   \
    X(BAD_REPLY, "bad reply")         /* wrong slave, wrong length/function */ \
    X(DISCONNECTED, "disconnected")   /* port vanished or not open */          \
    X(PARSE, "parse error")           /* a field that does not parse */        \
    X(RANGE, "out of range")          /* a command value the type cannot hold */\
    X(IO, "i/o error")                /* another OS error */

enum reading_error {
#define READING_ERROR_ENUM_(id, name) READING_ERR_##id,
    READING_ERRORS(READING_ERROR_ENUM_)
#undef READING_ERROR_ENUM_
};

/* "timeout", "crc", … (stable: they appear in payloads). */
const char *reading_error_name(enum reading_error err);
const char *reading_quality_name(enum reading_quality q);

/* The Modbus exception's name ("illegal data address" for 2), or
 * "exception N" for codes the standard does not name. */
const char *modbus_exception_name(int code);

/* Human text about a failure, e.g. "illegal data address" or "not a number: 'x'". */
#define READING_DETAIL_MAX 192

struct reading {
    const struct cfg_device *device;   /* in the config the drivers were started with */
    const struct cfg_point *point;
    uint32_t device_index;             /* in config->devices */
    uint32_t point_index;              /* in device->points */
    enum reading_quality quality;
    enum reading_error error;          /* NONE when good */
    int exception_code;                /* EXCEPTION: the Modbus exception code */
    struct timespec wall;              /* CLOCK_REALTIME when read */
    int64_t mono_ns;                   /* CLOCK_MONOTONIC when read */
    struct value value;                /* GOOD and STALE */
    char detail[READING_DETAIL_MAX];   /* BAD: what went wrong, for logs and payloads */
};

enum driver_event_kind {
    DRIVER_EVENT_READING,
    DRIVER_EVENT_DEVICE_STATE,  /* online ↔ offline */
    DRIVER_EVENT_CYCLE_END,     /* every point of one poll cycle (or frame) was reported */
    DRIVER_EVENT_WRITE_DONE,    /* a drivers_write finished */
};

struct device_state {
    bool online;
    enum reading_error error;          /* offline: the last failure */
    char detail[READING_DETAIL_MAX];
};

struct write_result {
    uint64_t id;                       /* drivers_write's id */
    enum reading_error error;          /* NONE: written */
    int exception_code;
    char detail[READING_DETAIL_MAX];
};

struct driver_event {
    enum driver_event_kind kind;
    const struct cfg_device *device;
    uint32_t device_index;
    union {
        struct reading reading;         /* READING */
        struct device_state state;      /* DEVICE_STATE */
        struct write_result write;      /* WRITE_DONE */
    } u;
};

/* Both clocks, now. */
void reading_stamp(struct timespec *wall, int64_t *mono_ns);

#endif
