/* A point's raw value to its engineering value (enum labels, expression,
 * scale/offset) and that value as text or JSON; and back, a command payload
 * to the raw value to write. Pure: the caller's buffers, no allocation. */
#include "gateway/mapping/convert.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The longest command payload looked at: a string point's 250 bytes, even
 * when every one of them is written as a \uXXXX escape. */
#define COMMAND_MAX (6 * VALUE_MAX_BYTES + 2)

__attribute__((format(printf, 3, 4)))
static int fail_why(char *why, size_t whylen, const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- init: compile, and find out whether the mapping can be inverted ----- */

/* Whether f(x) = a·x + b for the probes, within 1e-9 of the larger side:
 * scaling written as an expression ("x * 0.1 - 40", "(x - 32) * 5 / 9")
 * passes; round, abs, min, max and x*x bend somewhere among 0, 1, 2, -3.5,
 * 1000 and 1e6 and fail. `a` comes from a wide span, so it carries less
 * rounding than f(1) - f(0). */
static bool expr_affine(const struct expr_op *ops, size_t n_ops, double *a, double *b)
{
    static const double probes[] = { 1, 2, -3.5, 1e6, 12345.678 };
    double f0, f1k;
    if (expr_eval(ops, n_ops, 0, &f0) || expr_eval(ops, n_ops, 1000, &f1k))
        return false;
    *b = f0;
    *a = (f1k - f0) / 1000;
    if (*a == 0 || !isfinite(*a))
        return false;
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        double fx, x = probes[i];
        if (expr_eval(ops, n_ops, x, &fx))
            return false;
        double line = *a * x + *b;
        double scale = fmax(fabs(fx), fabs(*a * x) + fabs(*b));
        if (fabs(fx - line) > 1e-9 * scale)
            return false;
    }
    return true;
}

void point_conv_free(struct point_conv *c)
{
    free(c->ops);
    c->ops = NULL;
}

int point_conv_init(struct point_conv *c, const struct cfg_point *pt, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->pt = pt;
    if (pt->expression && pt->expression[0]) {
        struct expr_op ops[EXPR_MAX_OPS];
        if (expr_compile(pt->expression, ops, EXPR_MAX_OPS, &c->n_ops, err, errlen, NULL))
            return -1;
        /* Most points have none: keep only the ops a program needs. */
        c->ops = malloc(c->n_ops * sizeof *c->ops);
        if (!c->ops) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        memcpy(c->ops, ops, c->n_ops * sizeof *c->ops);
        c->has_expr = true;
        c->invertible = expr_affine(c->ops, c->n_ops, &c->a, &c->b);
        return 0;
    }
    c->a = pt->scale;
    c->b = pt->offset;
    c->invertible = pt->scale != 0 && isfinite(pt->scale) && isfinite(pt->offset);
    return 0;
}

/* ---- raw → engineering ---------------------------------------------------- */

static bool identity_mapping(const struct point_conv *c)
{
    return !c->has_expr && c->a == 1 && c->b == 0;
}

/* The raw value as an enum key: integers, bools as 0/1, and floats that
 * hold a whole number (a float register carrying a state code). */
static bool raw_enum_key(const struct value *raw, int64_t *key)
{
    switch (raw->kind) {
    case VALUE_BOOL: *key = raw->as.b; return true;
    case VALUE_INT: *key = raw->as.i; return true;
    case VALUE_UINT:
        if (raw->as.u > INT64_MAX)
            return false;
        *key = (int64_t)raw->as.u;
        return true;
    case VALUE_FLOAT:
        if (!(raw->as.f >= -9223372036854775808.0 && raw->as.f < 9223372036854775808.0) ||
            raw->as.f != trunc(raw->as.f))
            return false;
        *key = (int64_t)raw->as.f;
        return true;
    default: return false;
    }
}

static const char *enum_label(const struct cfg_enum_map *map, const struct value *raw)
{
    int64_t key;
    if (!map->count || !raw_enum_key(raw, &key))
        return NULL;
    for (size_t i = 0; i < map->count; i++)
        if (map->entries[i].value == key)
            return map->entries[i].label;
    return NULL;
}

static int number_to_eng(const struct point_conv *c, const struct value *raw,
                         struct eng_value *out, char *why, size_t whylen)
{
    double x;
    if (!value_as_double(raw, &x))
        return fail_why(why, whylen, "not a number");
    out->kind = ENG_NUMBER;
    if (c->has_expr) {
        if (expr_eval(c->ops, c->n_ops, x, &out->number))
            return fail_why(why, whylen, "expression '%s' has no finite result for x = %.15g",
                            c->pt->expression, x);
    } else {
        out->number = x * c->a + c->b;
    }
    if (!isfinite(out->number))
        return fail_why(why, whylen, "not a finite number");
    if (out->number == 0)
        out->number = 0; /* no "-0" in payloads */
    /* Whole numbers straight from an integer register keep their exact
     * decimal text: a uint64 above 2^53 has no exact double. */
    out->integral = (raw->kind == VALUE_INT || raw->kind == VALUE_UINT) && identity_mapping(c);
    if (out->integral)
        value_to_text(raw, -1, out->text, sizeof(out->text));
    return 0;
}

int convert_to_eng(const struct point_conv *c, const struct value *raw, struct eng_value *out,
                   char *why, size_t whylen)
{
    memset(out, 0, sizeof(*out));
    const char *label = enum_label(&c->pt->enum_map, raw);
    if (label) {
        out->kind = ENG_TEXT;
        value_as_double(raw, &out->number);
        snprintf(out->text, sizeof(out->text), "%s", label);
        return 0;
    }
    switch (raw->kind) {
    case VALUE_BOOL:
        out->kind = ENG_BOOL;
        out->b = raw->as.b;
        out->number = raw->as.b;
        return 0;
    case VALUE_STRING:
    case VALUE_RAW:
        out->kind = ENG_TEXT;
        value_to_text(raw, -1, out->text, sizeof(out->text));
        return 0;
    default:
        return number_to_eng(c, raw, out, why, whylen);
    }
}

/* ---- text and JSON ---------------------------------------------------------- */

/* An snprintf-style writer: counts every byte, stores what fits. */
struct out {
    char *buf;
    size_t n, len;
};

static void out_byte(struct out *o, char ch)
{
    if (o->len + 1 < o->n)
        o->buf[o->len] = ch;
    o->len++;
}

static void out_str(struct out *o, const char *s)
{
    while (*s)
        out_byte(o, *s++);
}

static int out_end(struct out *o)
{
    if (o->n)
        o->buf[o->len < o->n ? o->len : o->n - 1] = '\0';
    return (int)o->len;
}

static int number_text(const struct eng_value *v, int decimals, char *buf, size_t n)
{
    if (!isfinite(v->number))
        return snprintf(buf, n, "%s", isnan(v->number) ? "nan" : v->number > 0 ? "inf" : "-inf");
    if (v->integral && v->text[0]) {
        /* exact digits, then the zeros `decimals` asks for */
        struct out o = { buf, n, 0 };
        out_str(&o, v->text);
        if (decimals > 0)
            out_byte(&o, '.');
        for (int i = 0; i < decimals; i++)
            out_byte(&o, '0');
        return out_end(&o);
    }
    if (decimals >= 0)
        return snprintf(buf, n, "%.*f", decimals, v->number);
    if (v->integral)
        return snprintf(buf, n, "%.0f", v->number);
    return snprintf(buf, n, "%.15g", v->number);
}

int eng_to_text(const struct eng_value *v, int decimals, char *buf, size_t n)
{
    switch (v->kind) {
    case ENG_NUMBER: return number_text(v, decimals, buf, n);
    case ENG_BOOL: return snprintf(buf, n, "%s", v->b ? "true" : "false");
    default: return snprintf(buf, n, "%s", v->text);
    }
}

int eng_to_json(const struct eng_value *v, int decimals, char *buf, size_t n)
{
    if (v->kind == ENG_TEXT)
        return json_quote(v->text, buf, n);
    if (v->kind == ENG_NUMBER && !isfinite(v->number))
        return snprintf(buf, n, "null");
    return eng_to_text(v, decimals, buf, n);
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* Control characters as \u00XX (RFC 8259 §7); valid UTF-8 as it is; a byte
 * that is not valid UTF-8 (a Latin-1 "°" from a device) as U+FFFD, so the
 * payload stays valid JSON. */
int json_quote(const char *s, char *buf, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    struct out o = { buf, n, 0 };
    out_byte(&o, '"');
    while (*p) {
        if (*p == '"' || *p == '\\') {
            out_byte(&o, '\\');
            out_byte(&o, (char)*p++);
        } else if (*p < 0x20) {
            out_str(&o, "\\u00");
            out_byte(&o, hex[*p >> 4]);
            out_byte(&o, hex[*p++ & 0xf]);
        } else if (*p < 0x80) {
            out_byte(&o, (char)*p++);
        } else {
            size_t len = utf8_seq_len(p);
            for (size_t i = 0; i < len; i++)
                out_byte(&o, (char)*p++);
            if (!len) {
                out_str(&o, "\\ufffd");
                p++;
            }
        }
    }
    out_byte(&o, '"');
    return out_end(&o);
}

/* ---- commands: payload → raw ------------------------------------------------ */

static void utf8_put(char *dst, size_t *len, unsigned cp)
{
    if (cp < 0x80) {
        dst[(*len)++] = (char)cp;
    } else if (cp < 0x800) {
        dst[(*len)++] = (char)(0xc0 | cp >> 6);
        dst[(*len)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        dst[(*len)++] = (char)(0xe0 | cp >> 12);
        dst[(*len)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        dst[(*len)++] = (char)(0x80 | (cp & 0x3f));
    }
}

/* One JSON escape after the backslash at s[*i]; 0, or -1. Characters
 * outside the BMP (surrogate pairs) are refused: no device string needs them. */
static int unescape_one(const char *s, size_t *i, char *dst, size_t *len)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *m = s[*i] ? strchr(from, s[*i]) : NULL;
    if (m) {
        dst[(*len)++] = to[m - from];
        (*i)++;
        return 0;
    }
    if (s[*i] != 'u')
        return -1;
    unsigned cp = 0;
    for (int k = 1; k <= 4; k++) {
        if (!isxdigit((unsigned char)s[*i + k]))
            return -1;
        char digit[2] = { s[*i + k], 0 };
        cp = cp << 4 | (unsigned)strtoul(digit, NULL, 16);
    }
    if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    utf8_put(dst, len, cp);
    *i += 5;
    return 0;
}

/* A JSON string literal (quotes included in s[0..n)) to its text in dst
 * (at least n bytes: unescaping never lengthens). 0, or -1 when malformed. */
static int json_unquote(const char *s, size_t n, char *dst)
{
    size_t len = 0, i = 1;
    while (i < n - 1) {
        if (s[i] == '"' || (unsigned char)s[i] < 0x20)
            return -1;
        if (s[i] != '\\') {
            dst[len++] = s[i++];
            continue;
        }
        i++;
        if (i >= n - 1 || unescape_one(s, &i, dst, &len))
            return -1;
    }
    dst[len] = '\0';
    return 0;
}

/* The payload made plain text: whitespace trimmed, a JSON string literal
 * unquoted. `text` holds COMMAND_MAX + 1 bytes. */
static int command_text(const char *payload, size_t len, char *text, char *why, size_t whylen)
{
    if (memchr(payload, '\0', len))
        return fail_why(why, whylen, "the payload contains a NUL byte");
    while (len && isspace((unsigned char)payload[0])) {
        payload++;
        len--;
    }
    while (len && isspace((unsigned char)payload[len - 1]))
        len--;
    if (len > COMMAND_MAX)
        return fail_why(why, whylen, "payload too long (%zu bytes)", len);
    if (len >= 2 && payload[0] == '"' && payload[len - 1] == '"') {
        if (json_unquote(payload, len, text))
            return fail_why(why, whylen, "malformed JSON string");
        return 0;
    }
    memcpy(text, payload, len);
    text[len] = '\0';
    return 0;
}

static const char *type_name(int type)
{
    static const char *const names[] = { "bool", "int16", "uint16", "int32", "uint32", "int64",
                                         "uint64", "float32", "float64", "string", "raw" };
    return type >= 0 && type <= CFG_T_RAW ? names[type] : "?";
}

/* The enum entry whose label is `text`: exact first, then ignoring case. */
static const struct cfg_enum_entry *enum_find_label(const struct cfg_enum_map *map,
                                                    const char *text)
{
    for (size_t i = 0; i < map->count; i++)
        if (strcmp(map->entries[i].label, text) == 0)
            return &map->entries[i];
    for (size_t i = 0; i < map->count; i++)
        if (strcasecmp(map->entries[i].label, text) == 0)
            return &map->entries[i];
    return NULL;
}

static bool enum_has_value(const struct cfg_enum_map *map, int64_t key)
{
    for (size_t i = 0; i < map->count; i++)
        if (map->entries[i].value == key)
            return true;
    return false;
}

static void raw_reset(struct value *raw, enum value_kind kind)
{
    memset(raw, 0, offsetof(struct value, bytes));
    raw->kind = kind;
    raw->bytes[0] = 0;
}

static int command_bool(const struct point_conv *c, const char *text, struct value *raw,
                        char *why, size_t whylen)
{
    static const char *const yes[] = { "true", "on", "1" }, *const no[] = { "false", "off", "0" };
    raw_reset(raw, VALUE_BOOL);
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(text, yes[i]) == 0 || strcasecmp(text, no[i]) == 0) {
            raw->as.b = strcasecmp(text, yes[i]) == 0;
            return 0;
        }
    }
    const struct cfg_enum_entry *e = enum_find_label(&c->pt->enum_map, text);
    if (e && (e->value == 0 || e->value == 1)) {
        raw->as.b = e->value == 1;
        return 0;
    }
    return fail_why(why, whylen, "not a boolean: '%.40s' (true/false, on/off, 1/0)", text);
}

/* An integer literal read exactly (64-bit values have no exact double). */
static bool parse_integer(const char *text, bool *negative, uint64_t *mag)
{
    const char *p = text;
    *negative = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    if (!isdigit((unsigned char)*p))
        return false;
    char *end;
    errno = 0;
    *mag = strtoull(p, &end, 10);
    return *end == '\0' && errno == 0;
}

static bool parse_number(const char *text, double *out)
{
    if (!*text)
        return false;
    char *end;
    errno = 0;
    *out = strtod(text, &end);
    /* strtod also takes "nan" and "inf" (not finite) and hex floats */
    return *end == '\0' && isfinite(*out) && !strpbrk(text, "xX");
}

static int integer_raw(int type, bool negative, uint64_t mag, struct value *raw)
{
    static const struct { uint64_t pos, neg; } range[] = {
        [CFG_T_INT16] = { 32767, 32768 },           [CFG_T_UINT16] = { 65535, 0 },
        [CFG_T_INT32] = { 2147483647, 2147483648u }, [CFG_T_UINT32] = { 4294967295u, 0 },
        [CFG_T_INT64] = { INT64_MAX, (uint64_t)INT64_MAX + 1 }, [CFG_T_UINT64] = { UINT64_MAX, 0 },
    };
    if (mag > (negative ? range[type].neg : range[type].pos))
        return -1;
    bool is_unsigned = type == CFG_T_UINT16 || type == CFG_T_UINT32 || type == CFG_T_UINT64;
    raw_reset(raw, is_unsigned ? VALUE_UINT : VALUE_INT);
    if (is_unsigned)
        raw->as.u = mag;
    else
        raw->as.i = negative && mag ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
    return 0;
}

/* A raw number (after reverse scaling) to the point's type: rounded to the
 * nearest integer for integer types; value_encode_number is the range check. */
static int number_raw(int type, double x, struct value *raw)
{
    uint8_t scratch[8];
    if (value_encode_number(x, type, CFG_ORDER_ABCD, scratch, value_type_size(type, 0)))
        return -1;
    if (type == CFG_T_FLOAT32 || type == CFG_T_FLOAT64) {
        raw_reset(raw, VALUE_FLOAT);
        raw->as.f = x;
        return 0;
    }
    double r = round(x);
    return integer_raw(type, r < 0, (uint64_t)fabs(r), raw);
}

static int check_limits(const struct cfg_point *pt, double eng, char *why, size_t whylen)
{
    if (config_point_is_set(pt, "min") && eng < pt->min)
        return fail_why(why, whylen, "below min %.15g", pt->min);
    if (config_point_is_set(pt, "max") && eng > pt->max)
        return fail_why(why, whylen, "above max %.15g", pt->max);
    return 0;
}

/* An engineering number: limits, reverse scaling, the type's range. */
static int command_eng_number(const struct point_conv *c, const char *text, double eng,
                              struct value *raw, char *why, size_t whylen)
{
    const struct cfg_point *pt = c->pt;
    if (check_limits(pt, eng, why, whylen))
        return -1;
    bool negative;
    uint64_t mag;
    bool is_int = pt->type != CFG_T_FLOAT32 && pt->type != CFG_T_FLOAT64;
    if (is_int && identity_mapping(c) && parse_integer(text, &negative, &mag)) {
        if (integer_raw(pt->type, negative, mag, raw))
            return fail_why(why, whylen, "out of range for %s: %s", type_name(pt->type), text);
        return 0;
    }
    if (!c->invertible)
        return fail_why(why, whylen, "no inverse for expression '%s'",
                        c->pt->expression ? c->pt->expression : "");
    double x = (eng - c->b) / c->a;
    if (number_raw(pt->type, x, raw))
        return fail_why(why, whylen, "out of range for %s: %.15g (raw %.15g)",
                        type_name(pt->type), eng, x);
    return 0;
}

/* An enum value written as it is: the map holds raw values. */
static int enum_raw(const struct point_conv *c, int64_t key, const char *text,
                    struct value *raw, char *why, size_t whylen)
{
    if (number_raw(c->pt->type, (double)key, raw))
        return fail_why(why, whylen, "'%.40s' (%lld) is out of range for %s", text,
                        (long long)key, type_name(c->pt->type));
    return 0;
}

/* Numeric points: an enum label, or one of the map's raw numbers, is
 * written as that raw value (no min/max, no scaling: the map is in raw
 * units); any other number is in engineering units. */
static int command_number(const struct point_conv *c, const char *text, struct value *raw,
                          char *why, size_t whylen)
{
    const struct cfg_enum_map *map = &c->pt->enum_map;
    const struct cfg_enum_entry *e = enum_find_label(map, text);
    if (e)
        return enum_raw(c, e->value, text, raw, why, whylen);
    bool negative;
    uint64_t mag;
    if (map->count && parse_integer(text, &negative, &mag) && mag <= (uint64_t)INT64_MAX) {
        int64_t key = negative ? -(int64_t)mag : (int64_t)mag;
        if (enum_has_value(map, key))
            return enum_raw(c, key, text, raw, why, whylen);
    }
    double eng;
    if (!parse_number(text, &eng))
        return fail_why(why, whylen, "not a number: '%.40s'", text);
    return command_eng_number(c, text, eng, raw, why, whylen);
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)tolower((unsigned char)ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Raw points: the whole block as hex (as they are published). */
static int command_raw(const struct point_conv *c, const char *text, struct value *raw,
                       char *why, size_t whylen)
{
    size_t want = value_type_size(CFG_T_RAW, c->pt->count), len = strlen(text);
    if (len != 2 * want)
        return fail_why(why, whylen, "want %zu hex digits, got %zu", 2 * want, len);
    raw_reset(raw, VALUE_RAW);
    for (size_t i = 0; i < want; i++) {
        int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return fail_why(why, whylen, "not hex: '%.40s'", text);
        raw->bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    raw->len = want;
    return 0;
}

static int command_string(const struct point_conv *c, const char *text, struct value *raw,
                          char *why, size_t whylen)
{
    size_t cap = value_type_size(CFG_T_STRING, c->pt->count), len = strlen(text);
    if (len > cap)
        return fail_why(why, whylen, "text too long: %zu bytes, the point holds %zu", len, cap);
    raw_reset(raw, VALUE_STRING);
    memcpy(raw->bytes, text, len);
    raw->bytes[len] = 0;
    raw->len = len;
    return 0;
}

int convert_command(const struct point_conv *c, const char *payload, size_t len,
                    struct value *raw, char *why, size_t whylen)
{
    char text[COMMAND_MAX + 1];
    if (command_text(payload, len, text, why, whylen))
        return -1;
    switch (c->pt->type) {
    case CFG_T_BOOL: return command_bool(c, text, raw, why, whylen);
    case CFG_T_STRING: return command_string(c, text, raw, why, whylen);
    case CFG_T_RAW: return command_raw(c, text, raw, why, whylen);
    default:
        if (!text[0])
            return fail_why(why, whylen, "empty payload");
        return command_number(c, text, raw, why, whylen);
    }
}
