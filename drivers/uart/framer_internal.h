/* What the three framers (framer_line.c, framer_nmea.c, framer_frame.c) share
 * with framer.c: the common head of every framer, the per-framing operations,
 * and the text-to-value rules of line and NMEA points. Not for other modules. */
#ifndef MQGATE_DRIVERS_UART_FRAMER_INTERNAL_H
#define MQGATE_DRIVERS_UART_FRAMER_INTERNAL_H

#include <stdbool.h>

#include "drivers/uart/framer.h"

struct framer_ops {
    void (*feed)(struct framer *f, const uint8_t *data, size_t n, framer_record_fn *fn,
                 void *ctx);
    void (*reset)(struct framer *f);
    int (*extract)(const struct framer *f, const struct framer_record *rec,
                   const struct cfg_point *pt, struct value *out, char *why, size_t whylen);
    void (*destroy)(struct framer *f);   /* frees what the framing added, not f */
};

/* The head of each framing's own struct (which embeds it first). */
struct framer {
    const struct framer_ops *ops;
    /* framer_extract takes a const framer yet counts parse errors: the
     * counters are reached through this pointer (to `stats` below), which a
     * const framer leaves writable. */
    struct framer_stats *counters;
    struct framer_stats stats;
};

/* Constructors: each allocates its whole framer (head included), sets
 * `ops`, and returns 0, or -1 with a message in err. framer_new fills the
 * head's counters. */
int framer_line_new(const struct cfg_device *dev, struct framer **out, char *err, size_t errlen);
int framer_nmea_new(const struct cfg_device *dev, struct framer **out, char *err, size_t errlen);
int framer_frame_new(const struct cfg_device *dev, struct framer **out, char *err, size_t errlen);

/* Write a message into `why` (NULL or 0 bytes: nothing) and return
 * FRAMER_PARSE_ERROR, so failures read `return framer_fail(why, ...)`. */
int framer_fail(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The same for framer_new's messages; returns -1. */
int framer_new_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Trim spaces (isspace) from both ends of [*text, *text + *len). */
void framer_trim(const char **text, size_t *len);

/* Text to value by the rules in framer.h ("Text"); `text` need not be
 * NUL-terminated. Trims it first; empty text is FRAMER_ABSENT. */
int framer_text_value(const char *text, size_t len, const struct cfg_point *pt,
                      struct value *out, char *why, size_t whylen);

/* Whether the point's `type` was given in the file. */
bool framer_point_typed(const struct cfg_point *pt);

/* A number as a value: VALUE_FLOAT when the point has no explicit type,
 * else the text rules applied to its shortest exact text. */
int framer_number_value(double x, const struct cfg_point *pt, struct value *out, char *why,
                        size_t whylen);

/* A string as a value: VALUE_STRING when the point has no explicit type,
 * else the text rules. */
int framer_string_value(const char *s, const struct cfg_point *pt, struct value *out, char *why,
                        size_t whylen);

#endif
