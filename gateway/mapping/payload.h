/* Payloads of readings, as a point's `publish` block says: `value` (the
 * value as text), `json` (an object with the chosen fields), `template`
 * (free text with {variables}), and `grouped` (one JSON object per device
 * and poll cycle, the shape Telegraf users know). Pure: caller's buffers. */
#ifndef MQGATE_MAPPING_PAYLOAD_H
#define MQGATE_MAPPING_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config/config.h"
#include "config/template.h"
#include "drivers/reading.h"
#include "gateway/mapping/convert.h"

/* One point's reading, with what a payload may show of it. */
struct payload_point {
    const struct cfg_point *pt;
    const struct template_values *names;  /* the point's topic variables: gateway, bus,
                                              device, point, unit, slave, address,
                                              register, type (payload_render adds value,
                                              raw, timestamp, quality, error) */
    const struct reading *r;              /* quality, error, detail, wall time, raw value */
    const struct eng_value *eng;          /* engineering value; NULL when bad */
};

/* The text of a bad (or stale) reading's error: the Modbus exception's name
 * for exceptions ("illegal data address"), else the kind ("timeout", "crc",
 * "disconnected", "parse error", ...; a stale reading's is usually
 * "timeout"), or the quality's name when a not-good reading names no error.
 * Static storage (per thread for unnamed exceptions). */
const char *payload_error_text(const struct reading *r);

/* A wall-clock time as `timestamp: iso8601` ("2026-11-26T02:10:00.123Z",
 * UTC, milliseconds truncated) or `epoch_ms` ("1795659000123", the same
 * instant). `format` is an enum cfg_timestamp; any other value means
 * iso8601. snprintf-style; -1 when the year does not fit a struct tm. */
int payload_timestamp(int format, const struct timespec *wall, char *buf, size_t n);

/* The payload of one point for `payload: value | json | template`:
 *  - value: the engineering value as text (eng_to_text with the point's
 *    decimals); for a bad reading, the error text (payload_error_text);
 *  - json: an object with pub->json_fields in their order — value (eng as
 *    JSON, null when bad), unit (the point's, "" when none), timestamp
 *    (r->wall in pub->timestamp format: a string, or a bare number for
 *    epoch_ms), quality ("good", "bad", "stale"), error (only when not
 *    good), device and point (from names), raw (the raw value r->value as
 *    JSON: numbers bare, bools, strings quoted, raw bytes as a hex string;
 *    null when bad);
 *  - template: pub->template_text rendered with a copy of the names plus
 *    value and raw (as text; "" when bad), timestamp, quality and error
 *    ("" when good).
 * A stale reading shows its value (eng), quality "stale" and its error.
 * `payload: grouped` renders as value here (one point alone).
 * Returns the length, or -1 when it does not fit in n (buf then holds a
 * cut, NUL-terminated prefix when n > 0). */
int payload_render(const struct cfg_publish *pub, const struct payload_point *p, char *buf,
                   size_t n);

/* `payload: grouped`: one object per device cycle,
 *   {"timestamp":T,"<point>":<value>,...,"errors":{"<point>":"<error>",...}}
 * with values as JSON (eng_to_json with each point's decimals), bad points
 * only under "errors" (present only when one is bad), stale points as
 * values. Build it point by point. */
struct payload_group {
    char *buf;
    size_t cap, len;
    char *errors;       /* the "errors" members, kept apart until the end */
    size_t errors_cap, errors_len;
    size_t n_values, n_errors;
    bool overflow;
};

/* Start a group in buf (cap bytes) with an error scratch area (a separate
 * buffer, errors_cap bytes: the error members plus one byte). Points are
 * kept in the order they are added; a point that does not fit sets
 * `overflow` and payload_group_end then fails. Neither buffer is owned. */
void payload_group_begin(struct payload_group *g, char *buf, size_t cap, char *errors,
                         size_t errors_cap);
void payload_group_add(struct payload_group *g, const struct payload_point *p);
/* Close it with the timestamp (pub->timestamp format of `wall`). Returns the
 * length, 0 when no point was added, or -1 when it did not fit (buf then
 * holds ""); nothing is ever written past cap or errors_cap. */
int payload_group_end(struct payload_group *g, const struct cfg_publish *pub,
                      const struct timespec *wall);

#endif
