/* One Modbus transaction at a time over a libmodbus context, with what
 * libmodbus leaves to its caller: errors sorted into reading_error kinds,
 * retries of timeouts and CRC errors, and resynchronisation after an error
 * so that a late reply never answers the next request. Blocking; for the
 * bus's thread only. */
#ifndef MQGATE_DRIVERS_MODBUS_IO_H
#define MQGATE_DRIVERS_MODBUS_IO_H

#include <modbus.h>
#include <stdbool.h>
#include <stdint.h>

#include "drivers/reading.h"

struct modbus_io {
    modbus_t *ctx;
    bool rtu;                   /* RTU: wait for silence after errors */
    int64_t response_timeout_ms;
    int retries;
};

/* The outcome of one transaction (after retries). */
struct modbus_outcome {
    enum reading_error error;   /* NONE: done */
    int exception_code;         /* EXCEPTION */
    bool link_down;             /* the port or connection itself failed */
    unsigned attempts;          /* requests sent */
    unsigned failed[READING_ERR_IO + 1];   /* failed attempts, by kind (retries included) */
    char detail[READING_DETAIL_MAX];
};

/* Read `count` registers (holding/input: into regs) or bits (coil/discrete:
 * into bits, one byte per bit) from `start`. `retries` overrides io->retries
 * (-1: use it). Exceptions are not retried: they are an answer. */
void modbus_io_read(struct modbus_io *io, int kind, uint16_t start, uint16_t count,
                    uint16_t *regs, uint8_t *bits, int retries, struct modbus_outcome *out);

/* Writes: function 05 (one coil), 06 (one register), 15 (coils), 16
 * (registers). Never retried: a timeout may still have written. */
void modbus_io_write_bit(struct modbus_io *io, uint16_t addr, bool on, bool multiple,
                         struct modbus_outcome *out);
void modbus_io_write_registers(struct modbus_io *io, uint16_t addr, const uint16_t *regs,
                               uint16_t count, bool multiple, struct modbus_outcome *out);

/* Sort a libmodbus errno into an outcome. */
void modbus_io_classify(int err, struct modbus_outcome *out);

#endif
