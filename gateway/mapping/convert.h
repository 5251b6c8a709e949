/* A reading's value in the units users see — enum labels, scale and
 * offset or the point's expression — formatted as text or JSON, and the
 * way back for commands: a payload to the raw value a device is written.
 * Pure: no I/O, no allocation after point_conv_init. */
#ifndef MQGATE_MAPPING_CONVERT_H
#define MQGATE_MAPPING_CONVERT_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "config/expr.h"
#include "gateway/mapping/value.h"

enum eng_kind {
    ENG_NUMBER,   /* scaled (or plain) number */
    ENG_BOOL,
    ENG_TEXT,     /* strings, enum labels, raw bytes as hex */
};

/* An engineering value. `integral`: the number is a whole number that came
 * from an integer register without scaling (no expression, scale 1, offset
 * 0), printed without a fraction; its exact decimal digits are then in
 * `text` too, because a 64-bit value above 2^53 has no exact double.
 * `text`: ENG_TEXT's text, or an integral number's digits; else empty.
 * `number`: ENG_NUMBER's value (also the raw number behind an enum label,
 * and 0/1 for bools). */
struct eng_value {
    enum eng_kind kind;
    double number;
    bool integral;
    bool b;
    char text[2 * VALUE_MAX_BYTES + 1];
};

/* What converting a point needs, made once per point (the expression is
 * compiled here). */
struct point_conv {
    const struct cfg_point *pt;
    bool has_expr;
    struct expr_op *ops;   /* the compiled expression (owned), NULL without one */
    size_t n_ops;
    /* Commands: raw = (eng - b) / a when the mapping is affine (scale and
     * offset always are; an expression when f(x) = a·x + b holds, within
     * 1e-9 relative, at x = 0, 1, 2, -3.5, 1000, 12345.678 and 1e6, with
     * a != 0: "x * 0.1 - 40" is, "round(x)", "abs(x)", "x*x" are not). */
    bool invertible;
    double a, b;
};

/* 0, or -1 with a message in err (an expression that does not compile:
 * the config validator already refused those). */
int point_conv_init(struct point_conv *c, const struct cfg_point *pt, char *err, size_t errlen);

/* Free what point_conv_init allocated (the expression's program); the
 * other fields stay valid. A zeroed or freed one is a no-op. */
void point_conv_free(struct point_conv *c);

/* Raw value → engineering value. Order: the enum map on the raw integer
 * (a label becomes ENG_TEXT; a raw value missing from the map stays a
 * number; a float raw value is looked up only when it is a whole number),
 * else the expression, else raw × scale + offset. Bools stay bools (or
 * take their enum label for 0/1), strings stay text, raw blocks become
 * lowercase hex. A result of -0 becomes 0. Returns 0, or -1 with why (the
 * expression divided by zero, a result that is not finite — a NaN read
 * from a float register too). */
int convert_to_eng(const struct point_conv *c, const struct value *raw, struct eng_value *out,
                   char *why, size_t whylen);

/* Text of a value for `payload: value` and templates: numbers with
 * `decimals` digits after the point ("%.*f"; integral numbers: their exact
 * digits then that many zeros), -1: integral numbers as integers, other
 * numbers with up to 15 significant digits ("%.15g", so 2301 × 0.1 reads
 * 230.1); not finite: "nan", "inf", "-inf". Bools "true"/"false", text as
 * it is. snprintf-style return (the length it needs; buf always ends in a
 * NUL when n > 0). */
int eng_to_text(const struct eng_value *v, int decimals, char *buf, size_t n);

/* The same as a JSON literal: numbers bare (null when not finite), bools
 * true/false, text quoted and escaped. snprintf-style return. */
int eng_to_json(const struct eng_value *v, int decimals, char *buf, size_t n);

/* A JSON string literal of `s` (RFC 8259): quoted, `"` and `\` escaped
 * with a backslash, every control character below 0x20 as \u00XX, valid
 * UTF-8 passed through, and each byte that is not valid UTF-8 (a device's
 * Latin-1 "°") as \ufffd, so the result is always valid JSON.
 * snprintf-style return. */
int json_quote(const char *s, char *buf, size_t n);

/* A command payload (text as published on the command topic) → the raw
 * value to write. The payload is trimmed of whitespace, and a JSON string
 * literal ("\"on\"") is unquoted first. Accepts:
 *  - bool points: true/false, on/off, 1/0 (any case), or the label of an
 *    enum entry 0 or 1 → VALUE_BOOL;
 *  - numeric points: an enum label (exact, then ignoring case) or one of
 *    the map's raw numbers, written as that raw value (raw units: neither
 *    min/max nor scaling applies); any other number is in engineering
 *    units: checked against min/max (when set), reverse scaled (refused
 *    when !invertible), rounded to the nearest integer for integer types
 *    and checked against the type's range → VALUE_INT, VALUE_UINT (integer
 *    literals on unscaled points are read exactly, for 64-bit values) or
 *    VALUE_FLOAT. nan, inf and hex are not numbers;
 *  - string points: the text, at most count × 2 bytes → VALUE_STRING;
 *  - raw points: exactly count × 2 bytes as hex (as published) → VALUE_RAW.
 * Whether the point is writable is the caller's check. Returns 0, or -1
 * with why ("not a number: 'abc'", "above max 100", "no inverse for
 * expression 'x*x'", "out of range for uint16: 70000"). */
int convert_command(const struct point_conv *c, const char *payload, size_t len,
                    struct value *raw, char *why, size_t whylen);

#endif
