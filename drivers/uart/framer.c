/* The framer front: builds the framer a device's `framing` asks for, routes
 * feeds and extractions to it, keeps the counters, and turns text fields
 * (line and NMEA) into typed values by the rules in framer.h. */
#include "drivers/uart/framer.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/values.h"
#include "drivers/uart/framer_internal.h"

/* ---- construction and dispatch -------------------------------------------- */

int framer_new(const struct cfg_device *dev, struct framer **out, char *err, size_t errlen)
{
    struct framer *f = NULL;
    int rc;
    switch (dev->framing) {
    case CFG_FRAMING_LINE: rc = framer_line_new(dev, &f, err, errlen); break;
    case CFG_FRAMING_NMEA: rc = framer_nmea_new(dev, &f, err, errlen); break;
    case CFG_FRAMING_FRAME: rc = framer_frame_new(dev, &f, err, errlen); break;
    default:
        return framer_new_fail(err, errlen, "device '%s' has no UART framing",
                               dev->name ? dev->name : "?");
    }
    if (rc)
        return -1;
    f->counters = &f->stats;
    memset(&f->stats, 0, sizeof(f->stats));
    *out = f;
    return 0;
}

void framer_free(struct framer *f)
{
    if (!f)
        return;
    f->ops->destroy(f);
    free(f);
}

void framer_feed(struct framer *f, const uint8_t *data, size_t n, framer_record_fn *fn, void *ctx)
{
    if (n)
        f->ops->feed(f, data, n, fn, ctx);
}

void framer_reset(struct framer *f)
{
    f->ops->reset(f);
}

const struct framer_stats *framer_stats(const struct framer *f)
{
    return &f->stats;
}

int framer_extract(const struct framer *f, const struct framer_record *rec,
                   const struct cfg_point *pt, struct value *out, char *why, size_t whylen)
{
    if (why && whylen)
        why[0] = '\0';
    int rc = f->ops->extract(f, rec, pt, out, why, whylen);
    if (rc == FRAMER_PARSE_ERROR)
        f->counters->parse_errors++;
    return rc;
}

/* ---- messages -------------------------------------------------------------- */

int framer_fail(char *why, size_t whylen, const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return FRAMER_PARSE_ERROR;
}

int framer_new_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- text to value ----------------------------------------------------------- */

/* Quoted text in messages is cut to this many bytes. */
#define QUOTE_MAX 32

void framer_trim(const char **text, size_t *len)
{
    while (*len && isspace((unsigned char)(*text)[0])) {
        (*text)++;
        (*len)--;
    }
    while (*len && isspace((unsigned char)(*text)[*len - 1]))
        (*len)--;
}

bool framer_point_typed(const struct cfg_point *pt)
{
    return config_point_is_set(pt, "type");
}

static void value_clear(struct value *out, enum value_kind kind)
{
    memset(out, 0, offsetof(struct value, bytes));
    out->kind = kind;
}

static int text_as_bytes(const char *s, size_t len, enum value_kind kind, struct value *out,
                         char *why, size_t whylen)
{
    if (len > VALUE_MAX_BYTES)
        return framer_fail(why, whylen, "text too long: %zu bytes (at most %d)", len,
                           VALUE_MAX_BYTES);
    value_clear(out, kind);
    memcpy(out->bytes, s, len);
    out->bytes[len] = 0;
    out->len = len;
    return FRAMER_VALUE;
}

/* Integers: decimal or 0x hex (value_parse_int), all-digit text above
 * INT64_MAX (for uint64), or a number with no fractional part ("12.0"). */
static int parse_integer(const char *s, bool *negative, uint64_t *magnitude)
{
    int64_t i;
    if (value_parse_int(s, &i) == 0) {
        *negative = i < 0;
        *magnitude = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
        return 0;
    }
    if (s[0] && strspn(s, "0123456789") == strlen(s)) {
        errno = 0;
        unsigned long long u = strtoull(s, NULL, 10);
        if (errno)
            return -1;
        *negative = false;
        *magnitude = u;
        return 0;
    }
    double d;
    if (value_parse_double(s, &d) || d != floor(d) || fabs(d) >= 18446744073709551616.0)
        return -1;
    *negative = d < 0;
    *magnitude = (uint64_t)fabs(d);
    return 0;
}

struct int_range {
    int type;
    bool is_signed;
    uint64_t max;   /* largest magnitude of a positive value; a negative one may be max + 1 */
};

static const struct int_range int_ranges[] = {
    { CFG_T_INT16, true, INT16_MAX },   { CFG_T_UINT16, false, UINT16_MAX },
    { CFG_T_INT32, true, INT32_MAX },   { CFG_T_UINT32, false, UINT32_MAX },
    { CFG_T_INT64, true, INT64_MAX },   { CFG_T_UINT64, false, UINT64_MAX },
};

static const char *type_name(int type)
{
    static const char *const names[] = {
        [CFG_T_BOOL] = "bool",       [CFG_T_INT16] = "int16",     [CFG_T_UINT16] = "uint16",
        [CFG_T_INT32] = "int32",     [CFG_T_UINT32] = "uint32",   [CFG_T_INT64] = "int64",
        [CFG_T_UINT64] = "uint64",   [CFG_T_FLOAT32] = "float32", [CFG_T_FLOAT64] = "float64",
        [CFG_T_STRING] = "string",   [CFG_T_RAW] = "raw",
    };
    return type >= 0 && type <= CFG_T_RAW ? names[type] : "?";
}

static int text_as_integer(const char *s, const struct int_range *r, struct value *out, char *why,
                           size_t whylen)
{
    bool neg;
    uint64_t mag;
    if (parse_integer(s, &neg, &mag))
        return framer_fail(why, whylen, "not an integer: '%.*s'", QUOTE_MAX, s);
    bool fits = neg ? r->is_signed && mag <= r->max + 1 : mag <= r->max;
    if (!fits)
        return framer_fail(why, whylen, "out of range for %s: '%.*s'", type_name(r->type),
                           QUOTE_MAX, s);
    value_clear(out, r->is_signed ? VALUE_INT : VALUE_UINT);
    if (r->is_signed)
        out->as.i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    else
        out->as.u = mag;
    return FRAMER_VALUE;
}

static int text_as_bool(const char *s, struct value *out, char *why, size_t whylen)
{
    bool b;
    if (strcmp(s, "0") == 0 || strcmp(s, "1") == 0)
        b = s[0] == '1';
    else if (value_parse_bool(s, &b))
        return framer_fail(why, whylen, "not a bool: '%.*s'", QUOTE_MAX, s);
    value_clear(out, VALUE_BOOL);
    out->as.b = b;
    return FRAMER_VALUE;
}

static int text_as_float(const char *s, int type, struct value *out, char *why, size_t whylen)
{
    double d;
    if (value_parse_double(s, &d))
        return framer_fail(why, whylen, "not a number: '%.*s'", QUOTE_MAX, s);
    if (type == CFG_T_FLOAT32 && fabs(d) > FLT_MAX)
        return framer_fail(why, whylen, "out of range for float32: '%.*s'", QUOTE_MAX, s);
    value_clear(out, VALUE_FLOAT);
    out->as.f = d;
    return FRAMER_VALUE;
}

/* No `type` in the file: whatever the text looks like. */
static int text_inferred(const char *s, size_t len, struct value *out, char *why, size_t whylen)
{
    int64_t i;
    double d;
    if (value_parse_int(s, &i) == 0) {
        value_clear(out, VALUE_INT);
        out->as.i = i;
        return FRAMER_VALUE;
    }
    if (value_parse_double(s, &d) == 0) {
        value_clear(out, VALUE_FLOAT);
        out->as.f = d;
        return FRAMER_VALUE;
    }
    return text_as_bytes(s, len, VALUE_STRING, out, why, whylen);
}

int framer_text_value(const char *text, size_t len, const struct cfg_point *pt,
                      struct value *out, char *why, size_t whylen)
{
    framer_trim(&text, &len);
    if (len == 0)
        return FRAMER_ABSENT;
    bool typed = framer_point_typed(pt);
    if (typed && (pt->type == CFG_T_STRING || pt->type == CFG_T_RAW))
        return text_as_bytes(text, len, pt->type == CFG_T_RAW ? VALUE_RAW : VALUE_STRING, out,
                             why, whylen);
    if (len > VALUE_MAX_BYTES && typed)
        return framer_fail(why, whylen, "not a %s: %zu bytes of text", type_name(pt->type), len);
    if (len > VALUE_MAX_BYTES)
        return text_as_bytes(text, len, VALUE_STRING, out, why, whylen);
    char s[VALUE_MAX_BYTES + 1];
    memcpy(s, text, len);
    s[len] = '\0';
    if (!typed)
        return text_inferred(s, len, out, why, whylen);
    if (pt->type == CFG_T_BOOL)
        return text_as_bool(s, out, why, whylen);
    if (pt->type == CFG_T_FLOAT32 || pt->type == CFG_T_FLOAT64)
        return text_as_float(s, pt->type, out, why, whylen);
    for (size_t i = 0; i < sizeof(int_ranges) / sizeof(int_ranges[0]); i++)
        if (int_ranges[i].type == pt->type)
            return text_as_integer(s, &int_ranges[i], out, why, whylen);
    return framer_fail(why, whylen, "type %d does not apply to text", pt->type);
}

int framer_number_value(double x, const struct cfg_point *pt, struct value *out, char *why,
                        size_t whylen)
{
    if (!framer_point_typed(pt)) {
        value_clear(out, VALUE_FLOAT);
        out->as.f = x;
        return FRAMER_VALUE;
    }
    /* The shortest text that reads back as x, so "48.1173" stays that. */
    char s[32];
    snprintf(s, sizeof(s), "%.15g", x);
    if (strtod(s, NULL) != x)
        snprintf(s, sizeof(s), "%.17g", x);
    return framer_text_value(s, strlen(s), pt, out, why, whylen);
}

int framer_string_value(const char *s, const struct cfg_point *pt, struct value *out, char *why,
                        size_t whylen)
{
    if (!framer_point_typed(pt))
        return text_as_bytes(s, strlen(s), VALUE_STRING, out, why, whylen);
    return framer_text_value(s, strlen(s), pt, out, why, whylen);
}
