/* Decoding and encoding device values with explicit byte and word orders.
 * Everything goes through a big-endian byte image built with shifts, so the
 * host's endianness and alignment never matter. */
#include "gateway/mapping/value.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t value_type_size(int type, int64_t count)
{
    switch (type) {
    case CFG_T_INT16:
    case CFG_T_UINT16: return 2;
    case CFG_T_INT32:
    case CFG_T_UINT32:
    case CFG_T_FLOAT32: return 4;
    case CFG_T_INT64:
    case CFG_T_UINT64:
    case CFG_T_FLOAT64: return 8;
    case CFG_T_STRING:
    case CFG_T_RAW: return count > 0 ? (size_t)count * 2 : 0;
    default: return 0;
    }
}

void value_registers_to_bytes(const uint16_t *regs, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = (uint8_t)(regs[i] >> 8);
        out[2 * i + 1] = (uint8_t)(regs[i] & 0xff);
    }
}

void value_bytes_to_registers(const uint8_t *bytes, size_t n_regs, uint16_t *out)
{
    for (size_t i = 0; i < n_regs; i++)
        out[i] = (uint16_t)(bytes[2 * i] << 8 | bytes[2 * i + 1]);
}

/* Reorder wire bytes into big-endian (abcd) order, or back: each step is its
 * own inverse, so the same function serves decode and encode. */
static void reorder(const uint8_t *in, size_t n, int order, uint8_t *out)
{
    bool swap_bytes = order == CFG_ORDER_BADC || order == CFG_ORDER_DCBA;
    bool swap_words = order == CFG_ORDER_CDAB || order == CFG_ORDER_DCBA;
    size_t words = n / 2;
    for (size_t w = 0; w < words; w++) {
        size_t src = swap_words ? words - 1 - w : w;
        uint8_t hi = in[2 * src], lo = in[2 * src + 1];
        out[2 * w] = swap_bytes ? lo : hi;
        out[2 * w + 1] = swap_bytes ? hi : lo;
    }
}

static uint64_t big_endian(const uint8_t *b, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | b[i];
    return v;
}

static void decode_text(const uint8_t *ordered, size_t n, struct value *out)
{
    size_t len = 0;
    while (len < n && ordered[len] != 0)
        len++;
    while (len > 0 && ordered[len - 1] == ' ')
        len--;
    memcpy(out->bytes, ordered, len);
    out->bytes[len] = 0;
    out->len = len;
}

/* A float32 as the double of its shortest decimal form: a meter's 230.1f
 * is 230.1, not 230.10000610351562 (what a plain widening gives, and what
 * users of other gateways see in their dashboards). */
static double float_widen(float f)
{
    if (!isfinite(f))
        return f;
    char text[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)f);
        if (strtof(text, NULL) == f)
            return strtod(text, NULL);
    }
    return f;
}

int value_decode(const uint8_t *bytes, size_t n, int type, int order, struct value *out)
{
    bool counted = type == CFG_T_STRING || type == CFG_T_RAW;
    if (type == CFG_T_BOOL || n == 0 || n > VALUE_MAX_BYTES || n % 2 ||
        (!counted && n != value_type_size(type, 0)))
        return -1;
    uint8_t be[VALUE_MAX_BYTES];
    /* Raw blocks keep the device's order: the consumer asked for the bytes. */
    reorder(bytes, n, type == CFG_T_RAW ? CFG_ORDER_ABCD : order, be);
    uint64_t u = counted ? 0 : big_endian(be, n);
    memset(out, 0, offsetof(struct value, bytes));
    switch (type) {
    case CFG_T_INT16: out->kind = VALUE_INT; out->as.i = (int16_t)u; break;
    case CFG_T_INT32: out->kind = VALUE_INT; out->as.i = (int32_t)u; break;
    case CFG_T_INT64: out->kind = VALUE_INT; out->as.i = (int64_t)u; break;
    case CFG_T_UINT16:
    case CFG_T_UINT32:
    case CFG_T_UINT64: out->kind = VALUE_UINT; out->as.u = u; break;
    case CFG_T_FLOAT32: {
        uint32_t bits = (uint32_t)u;
        float f;
        memcpy(&f, &bits, sizeof(f));
        out->kind = VALUE_FLOAT;
        out->as.f = float_widen(f);
        break;
    }
    case CFG_T_FLOAT64:
        out->kind = VALUE_FLOAT;
        memcpy(&out->as.f, &u, sizeof(double));
        break;
    case CFG_T_STRING: out->kind = VALUE_STRING; decode_text(be, n, out); break;
    case CFG_T_RAW:
        out->kind = VALUE_RAW;
        memcpy(out->bytes, be, n);
        out->len = n;
        break;
    default: return -1;
    }
    return 0;
}

void value_from_bit(uint16_t reg, int bit, struct value *out)
{
    memset(out, 0, offsetof(struct value, bytes));
    out->kind = VALUE_BOOL;
    out->as.b = (reg >> bit) & 1u;
}

/* The integer range of each integer type, as doubles (exact for all of them
 * except the 64-bit ends, which are checked with < on the power of two). */
static int number_to_bits(double x, int type, uint64_t *bits)
{
    if (type == CFG_T_FLOAT32) {
        if (!isfinite(x) || fabs(x) > 3.4028234663852886e38)
            return -1;
        float f = (float)x;
        uint32_t b;
        memcpy(&b, &f, sizeof(b));
        *bits = b;
        return 0;
    }
    if (type == CFG_T_FLOAT64) {
        if (!isfinite(x))
            return -1;
        memcpy(bits, &x, sizeof(*bits));
        return 0;
    }
    if (!isfinite(x))
        return -1;
    double r = round(x);
    switch (type) {
    case CFG_T_INT16: if (r < -32768.0 || r > 32767.0) return -1; break;
    case CFG_T_UINT16: if (r < 0 || r > 65535.0) return -1; break;
    case CFG_T_INT32: if (r < -2147483648.0 || r > 2147483647.0) return -1; break;
    case CFG_T_UINT32: if (r < 0 || r > 4294967295.0) return -1; break;
    case CFG_T_INT64: if (r < -9223372036854775808.0 || r >= 9223372036854775808.0) return -1; break;
    case CFG_T_UINT64: if (r < 0 || r >= 18446744073709551616.0) return -1; break;
    default: return -1;
    }
    *bits = r < 0 ? (uint64_t)(int64_t)r : (uint64_t)r;
    return 0;
}

int value_encode_number(double number, int type, int order, uint8_t *bytes, size_t n)
{
    if (n != value_type_size(type, 0) || n == 0 || type == CFG_T_STRING || type == CFG_T_RAW)
        return -1;
    uint64_t bits;
    if (number_to_bits(number, type, &bits))
        return -1;
    uint8_t be[8];
    for (size_t i = 0; i < n; i++)
        be[i] = (uint8_t)(bits >> (8 * (n - 1 - i)));
    reorder(be, n, order, bytes);
    return 0;
}

bool value_as_double(const struct value *v, double *out)
{
    switch (v->kind) {
    case VALUE_BOOL: *out = v->as.b; return true;
    case VALUE_INT: *out = (double)v->as.i; return true;
    case VALUE_UINT: *out = (double)v->as.u; return true;
    case VALUE_FLOAT: *out = v->as.f; return true;
    default: return false;
    }
}

/* Shortest text that reads back as the same double (what JSON encoders
 * print), with at most 17 significant digits. */
static int format_double(double x, int decimals, char *buf, size_t n)
{
    if (isnan(x) || isinf(x))
        return snprintf(buf, n, "%s", isnan(x) ? "nan" : x > 0 ? "inf" : "-inf");
    if (decimals >= 0)
        return snprintf(buf, n, "%.*f", decimals, x);
    int digits = 1;
    char tmp[40];
    for (; digits < 17; digits++) {
        snprintf(tmp, sizeof tmp, "%.*g", digits, x);
        if (strtod(tmp, NULL) == x)
            break;
    }
    /* %g goes to an exponent when it needs fewer digits than the number's
     * magnitude (230 as "2.3e+02"): people read plain decimals, so use them
     * between 1e-4 and 1e15. */
    double mag = fabs(x);
    if (x != 0 && mag >= 1e-4 && mag < 1e15) {
        int exp10 = (int)floor(log10(mag));
        int decimals_needed = digits - 1 - exp10;
        return snprintf(buf, n, "%.*f", decimals_needed > 0 ? decimals_needed : 0, x);
    }
    return snprintf(buf, n, "%.*g", digits, x);
}

int value_to_text(const struct value *v, int decimals, char *buf, size_t n)
{
    switch (v->kind) {
    case VALUE_BOOL: return snprintf(buf, n, "%s", v->as.b ? "true" : "false");
    case VALUE_INT: return snprintf(buf, n, "%lld", (long long)v->as.i);
    case VALUE_UINT: return snprintf(buf, n, "%llu", (unsigned long long)v->as.u);
    case VALUE_FLOAT: return format_double(v->as.f, decimals, buf, n);
    case VALUE_STRING: return snprintf(buf, n, "%s", (const char *)v->bytes);
    case VALUE_RAW: break;
    }
    size_t used = 0;
    if (n)
        buf[0] = '\0';
    for (size_t i = 0; i < v->len; i++) {
        if (used + 3 <= n)
            snprintf(buf + used, n - used, "%02x", v->bytes[i]);
        used += 2;
    }
    return (int)used;
}
