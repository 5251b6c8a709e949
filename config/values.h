/* Scalar value syntax of the configuration: booleans, integers (decimal or
 * 0x hex), numbers, durations (250ms, 5s, 1m30s), sizes (64KiB, 256MB) and
 * byte strings ("42 4d"). Pure functions over text, no allocation except
 * value_parse_bytes, so they are easy to test and to fuzz. */
#ifndef MQGATE_CONFIG_VALUES_H
#define MQGATE_CONFIG_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define US_PER_MS INT64_C(1000)
#define US_PER_S INT64_C(1000000)

/* Each parser returns 0 and stores the value, or -1 and leaves *out alone. */
int value_parse_bool(const char *s, bool *out);
int value_parse_int(const char *s, int64_t *out);
int value_parse_double(const char *s, double *out);
/* Units: us, ms, s, m, h, d; parts add up ("1m30s"); a bare 0 is allowed,
 * any other bare number is not (is "5" seconds or milliseconds?). */
int value_parse_duration(const char *s, int64_t *out_us);
/* Units: B, kB/KB (1000), KiB (1024), MB, MiB, GB, GiB; a bare number is bytes. */
int value_parse_size(const char *s, uint64_t *out);
/* Hex bytes, optionally separated by spaces, commas or colons, each optionally
 * 0x-prefixed: "42 4d", "424D", "0x42,0x4d". On success *data is malloc'd
 * (the caller owns it) and *len > 0. */
int value_parse_bytes(const char *s, uint8_t **data, size_t *len);

/* Shortest exact text for a value, in the same syntax the parsers read. */
void value_format_duration(int64_t us, char *buf, size_t size);
void value_format_size(uint64_t bytes, char *buf, size_t size);

#endif
