/* Typed values read from devices, decoded from register or frame bytes with
 * an explicit byte/word order, and encoded back for writes. Pure functions:
 * no I/O, no allocation, byte shifts only (no unaligned loads on ARM). */
#ifndef MQGATE_MAPPING_VALUE_H
#define MQGATE_MAPPING_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* The longest value: a string or raw block of 125 registers. */
#define VALUE_MAX_BYTES 250

enum value_kind {
    VALUE_BOOL,
    VALUE_INT,     /* signed integers, int16..int64 */
    VALUE_UINT,    /* unsigned integers, uint16..uint64 */
    VALUE_FLOAT,   /* float32, float64 */
    VALUE_STRING,  /* text, NUL-terminated in `bytes` */
    VALUE_RAW,     /* bytes as read, in register order */
};

struct value {
    enum value_kind kind;
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double f;
    } as;
    size_t len;                        /* STRING, RAW: bytes used */
    uint8_t bytes[VALUE_MAX_BYTES + 1];
};

/* Bytes a value of `type` occupies (`count` is the register or byte count of
 * strings and raw blocks, as in the config). 0 for bool. */
size_t value_type_size(int type, int64_t count);

/* Registers as libmodbus returns them (one host-order uint16 per register)
 * to the bytes on the wire, high byte first: what value_decode reads. */
void value_registers_to_bytes(const uint16_t *regs, size_t n, uint8_t *out);
void value_bytes_to_registers(const uint8_t *bytes, size_t n_regs, uint16_t *out);

/* Decode `n` wire bytes as `type` (enum cfg_value_type) with `order` (enum
 * cfg_byte_order: abcd = big-endian, badc = bytes swapped in each 16-bit
 * word, cdab = 16-bit words in reverse order, dcba = little-endian).
 * Returns 0, or -1 when n does not match the type's size. Strings stop at
 * the first NUL and lose trailing spaces. Bools are not decoded here: they
 * are bits (value_from_bit). */
int value_decode(const uint8_t *bytes, size_t n, int type, int order, struct value *out);

/* Bit `bit` of a register, or a coil/discrete input, as a bool value. */
void value_from_bit(uint16_t reg, int bit, struct value *out);

/* The reverse of value_decode for a number to be written: `number` is
 * converted to `type` (rounded for integers) and written as `n` wire bytes.
 * Returns 0, or -1 when it does not fit the type (out of range, NaN for an
 * integer) or n is wrong. */
int value_encode_number(double number, int type, int order, uint8_t *bytes, size_t n);

/* The value as text, snprintf-style (returns the length it needs): bools
 * "true"/"false", integers in decimal, floats with `decimals` digits after
 * the point or, when decimals < 0, the shortest text that reads back as the
 * same double; strings as they are; raw bytes in lowercase hex. */
int value_to_text(const struct value *v, int decimals, char *buf, size_t n);

/* The value as a double (for scaling and deadbands); false for text/raw. */
bool value_as_double(const struct value *v, double *out);

#endif
