/* UART framers: pure byte-stream parsers that cut what a serial sensor sends
 * into records (text lines, NMEA 0183 sentences, binary frames) and read the
 * configured points out of each record. No I/O: the driver reads the port and
 * feeds the bytes here.
 *
 * Threads: a framer belongs to one thread (the driver's); no call may run
 * concurrently with another on the same framer. Different framers are
 * independent. Nothing blocks.
 * Memory: framer_new allocates everything (one record buffer of the
 * configured max_length, and the compiled regex); nothing else allocates.
 * The framer copies what it needs from the device config: `dev` need not
 * outlive it. Points passed to framer_extract are borrowed for the call. */
#ifndef MQGATE_DRIVERS_UART_FRAMER_H
#define MQGATE_DRIVERS_UART_FRAMER_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "gateway/mapping/value.h"

/* NMEA has no `line` block: sentences longer than this are counted as
 * oversize and skipped (the standard's limit is 82 bytes with CRLF; some
 * receivers' proprietary sentences run longer). */
#define FRAMER_NMEA_MAX_LENGTH 256

struct framer;   /* opaque */

/* Counters since framer_new; framer_reset keeps them. */
struct framer_stats {
    uint64_t records;        /* good records delivered */
    uint64_t bad_checksum;   /* NMEA or frame checksum mismatches; an NMEA
                                sentence without a "*HH" checksum counts here */
    uint64_t oversize;       /* lines/sentences/frames longer than max_length, skipped */
    uint64_t garbage_bytes;  /* bytes dropped while hunting for a frame header or
                                an NMEA '$' (CR and LF between sentences are not
                                garbage); a frame that failed its checksum is
                                searched again from its second byte, and what
                                that skips counts here too */
    uint64_t parse_errors;   /* FRAMER_PARSE_ERROR results of framer_extract:
                                counted by framer_extract itself, one per call */
};

/* One record, valid only during the callback that receives it:
 * - line:  the line without its delimiter (and without a '\r' before a
 *          delimiter that ends in '\n'); never empty: empty lines are skipped;
 * - NMEA:  the whole sentence "$GPGGA,...*47", without CR/LF;
 * - frame: the whole frame, header and checksum included. */
struct framer_record {
    const uint8_t *data;
    size_t len;
};

/* Called once per complete, valid record. It may call framer_extract and
 * framer_stats, but not framer_feed, framer_reset or framer_free. */
typedef void framer_record_fn(void *ctx, const struct framer_record *rec);

/* Build a framer for `dev` (framing line, nmea or frame; config validated).
 * For lines it decodes the delimiter's escapes (\n \r \t \\ \xHH; any other
 * backslash stays as written) and compiles the regex (POSIX ERE). It also
 * checks what validation cannot: a regex point's `group` beyond the regex's
 * groups, an NMEA field name it does not know, a checksum that does not fit
 * a fixed-length frame. Returns 0 and stores the framer (the caller owns it,
 * framer_free releases it) in *out, or -1 with a one-line message in `err`
 * (e.g. the regcomp error) and *out untouched. */
int framer_new(const struct cfg_device *dev, struct framer **out, char *err, size_t errlen);

/* Release the framer; NULL is ignored. */
void framer_free(struct framer *f);

/* Feed `n` bytes, split anywhere (1 byte or many records per call give the
 * same records). Calls fn(ctx, rec) once per complete, valid record, in
 * order, before returning; partial records are kept for the next call.
 * Bad records are counted in the stats, not reported. Never allocates. */
void framer_feed(struct framer *f, const uint8_t *data, size_t n, framer_record_fn *fn, void *ctx);

/* Forget a partial record (after the port was reopened). Stats are kept. */
void framer_reset(struct framer *f);

/* The counters; the pointer stays valid, and current, until framer_free. */
const struct framer_stats *framer_stats(const struct framer *f);

/* Results of framer_extract. */
enum { FRAMER_PARSE_ERROR = -1, FRAMER_VALUE = 0, FRAMER_ABSENT = 1 };

/* The value of point `pt` in record `rec` (a record this framer delivered).
 * Returns FRAMER_VALUE and fills *out; FRAMER_ABSENT when the record does not
 * carry the point (an NMEA sentence of another type, a kv line without the
 * key, a regex group that did not take part in the match, an empty field such
 * as an NMEA field with no fix); or FRAMER_PARSE_ERROR with a short reason in
 * `why` ("column 3 missing", "not a number: 'abc'", "regex did not match"),
 * which also adds one to stats.parse_errors (hence the counters live outside
 * the const parsing state). `why` may be NULL.
 *
 * Text (line and NMEA fields), after trimming spaces:
 * - `type` not given in the file: an integer ("42", "-7", "0x1f") becomes
 *   VALUE_INT, another number ("21.5", "1e3") VALUE_FLOAT, anything else
 *   VALUE_STRING (at most VALUE_MAX_BYTES bytes);
 * - int16..uint64: VALUE_INT / VALUE_UINT, range-checked ("12.0" is 12,
 *   "12.5" is an error); float32/float64: VALUE_FLOAT (the double as parsed);
 *   bool: 0/1/true/false/on/off/yes/no, any case; string: VALUE_STRING;
 *   raw: VALUE_RAW (the bytes);
 * - empty text is FRAMER_ABSENT, whatever the type.
 * Lines: value (the whole line), regex (capture `group`; no match is a parse
 * error), csv (0-based `column` split on `separator`; a missing column is a
 * parse error), kv (pairs split on `separator`, key and value on
 * `kv_separator`; a missing key is ABSENT).
 * NMEA: the sentence matches `sentence` whatever its talker ($GNGGA is GGA;
 * "GGA" and "gga" alike); `index` is the 1-based raw field after the sentence
 * id; a field the sentence does not have is a parse error. Named fields:
 *   latitude, longitude: signed decimal degrees (S and W negative);
 *   fix_quality, satellites: integers; hdop, altitude (metres), speed_knots,
 *   speed_kmh (RMC: knots x 1.852; VTG: its km/h field), course: numbers;
 *   time: "hh:mm:ss" plus the fraction as sent ("12:35:19", "12:35:19.00");
 *   date: ISO "yyyy-mm-dd" (yy < 80 is 20yy); status: "A" or "V".
 *   Without `type` these have the kind listed (numbers are VALUE_FLOAT even
 *   when integral); with `type`, the value goes through the text rules.
 *   VTG is read in its NMEA 2.3+ layout (with the T/M/N/K unit letters).
 * Frames: the bytes at `byte_offset` decoded as `type` (the schema default
 * uint16 applies) with the point's byte_order, else the device's
 * (value_decode); bool is one byte, != 0; string and raw take `count` bytes
 * in wire order (strings stop at NUL and lose trailing spaces). A value past
 * the end of the frame is a parse error. */
int framer_extract(const struct framer *f, const struct framer_record *rec,
                   const struct cfg_point *pt, struct value *out, char *why, size_t whylen);

#endif
