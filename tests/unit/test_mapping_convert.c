/* Golden tests of the engineering-value conversion: scale/offset, decimals,
 * enum labels, bools, expressions, strings and raw hex, 64-bit exactness,
 * JSON escaping; and commands back to raw values with their refusals.
 * Points come from real YAML through config_load_string. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "gateway/mapping/convert.h"

/* ---- fixture: one Modbus TCP device with the points under test ------------- */

struct fx {
    struct config *cfg;
    struct point_conv conv;
    struct eng_value eng;
    struct value raw;
    char text[1024];
    char why[256];
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    *state = f;
    return f ? 0 : -1;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    if (f) {
        point_conv_free(&f->conv);
        config_free(f->cfg);
    }
    free(f);
    return 0;
}

#define FX(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

/* Loads one point (a YAML flow mapping without name/address) and makes its
 * converter. */
static const struct point_conv *point(struct fx *f, const char *fields)
{
    point_conv_free(&f->conv);
    config_free(f->cfg);
    f->cfg = NULL;
    char yaml[2048];
    int len = snprintf(yaml, sizeof(yaml),
                       "buses:\n  - { name: b, type: modbus_tcp, host: 127.0.0.1, port: 502 }\n"
                       "devices:\n  - name: d\n    bus: b\n    slave: 1\n    points:\n"
                       "      - { name: p, address: 0, %s }\n", fields);
    assert_true(len > 0 && (size_t)len < sizeof(yaml));
    struct diag d;
    diag_init(&d);
    int rc = config_load_string("test.yaml", yaml, (size_t)len, &f->cfg, &d);
    if (rc)
        diag_print(&d, stderr);
    diag_free(&d);
    assert_int_equal(rc, 0);
    char err[128] = "";
    assert_int_equal(point_conv_init(&f->conv, &f->cfg->devices[0].points[0], err, sizeof(err)), 0);
    return &f->conv;
}

static struct value v_uint(uint64_t u)
{
    struct value v = { .kind = VALUE_UINT, .as.u = u };
    return v;
}

static struct value v_int(int64_t i)
{
    struct value v = { .kind = VALUE_INT, .as.i = i };
    return v;
}

static struct value v_float(double x)
{
    struct value v = { .kind = VALUE_FLOAT, .as.f = x };
    return v;
}

static struct value v_bool(bool b)
{
    struct value v = { .kind = VALUE_BOOL, .as.b = b };
    return v;
}

/* convert_to_eng must succeed; returns the text with `decimals`. */
static const char *to_text(struct fx *f, struct value raw, int decimals)
{
    f->why[0] = 0;
    int rc = convert_to_eng(&f->conv, &raw, &f->eng, f->why, sizeof(f->why));
    if (rc)
        fprintf(stderr, "convert_to_eng: %s\n", f->why);
    assert_int_equal(rc, 0);
    int n = eng_to_text(&f->eng, decimals, f->text, sizeof(f->text));
    assert_int_equal((size_t)n, strlen(f->text));
    return f->text;
}

static const char *to_json(struct fx *f, struct value raw, int decimals)
{
    assert_int_equal(convert_to_eng(&f->conv, &raw, &f->eng, f->why, sizeof(f->why)), 0);
    int n = eng_to_json(&f->eng, decimals, f->text, sizeof(f->text));
    assert_int_equal((size_t)n, strlen(f->text));
    return f->text;
}

/* ---- raw → engineering ------------------------------------------------------ */

static void test_scale_offset(void **state)
{
    struct fx *f = *state;
    point(f, "type: uint16, scale: 0.1");
    assert_string_equal(to_text(f, v_uint(2301), -1), "230.1");
    assert_int_equal(f->eng.kind, ENG_NUMBER);
    assert_false(f->eng.integral);
    assert_true(fabs(f->eng.number - 230.1) < 1e-12);
    assert_string_equal(to_json(f, v_uint(2301), -1), "230.1");
    assert_string_equal(to_text(f, v_uint(2301), 2), "230.10");
    assert_string_equal(to_text(f, v_uint(0), -1), "0");
    assert_true(f->conv.invertible);
    assert_true(f->conv.a == 0.1 && f->conv.b == 0);

    point(f, "type: int16, scale: 0.5, offset: -10");
    assert_string_equal(to_text(f, v_int(-4), -1), "-12");
    assert_false(f->eng.integral);   /* scaled: not straight from the register */
    assert_string_equal(to_text(f, v_int(21), -1), "0.5");
    assert_string_equal(to_text(f, v_int(20), -1), "0");   /* not "-0" */
    point(f, "type: int16, expression: \"-x\"");
    assert_string_equal(to_text(f, v_int(0), -1), "0");   /* -0 */
    assert_string_equal(to_json(f, v_int(0), 1), "0.0");
}

static void test_decimals(void **state)
{
    struct fx *f = *state;
    point(f, "type: float64");
    assert_string_equal(to_text(f, v_float(3.14159), 0), "3");
    assert_string_equal(to_text(f, v_float(3.14159), 3), "3.142");
    assert_string_equal(to_text(f, v_float(1.0 / 3), -1), "0.333333333333333");
    assert_string_equal(to_json(f, v_float(1e20), -1), "1e+20");
    assert_string_equal(to_json(f, v_float(-2.5), 1), "-2.5");
    point(f, "type: float32");
    /* value_decode widens 230.1f to the double 230.1 */
    assert_string_equal(to_text(f, v_float(230.1), -1), "230.1");
    point(f, "type: uint16");
    assert_string_equal(to_text(f, v_uint(12), -1), "12");
    assert_true(f->eng.integral);
    assert_string_equal(to_text(f, v_uint(12), 2), "12.00");
    assert_string_equal(to_text(f, v_uint(12), 0), "12");
    point(f, "type: int32");
    assert_string_equal(to_json(f, v_int(-7), -1), "-7");
}

static void test_enum_labels(void **state)
{
    struct fx *f = *state;
    point(f, "type: uint16, enum: {0: off, 1: on, 2: fault}");
    assert_string_equal(to_text(f, v_uint(2), -1), "fault");
    assert_int_equal(f->eng.kind, ENG_TEXT);
    assert_string_equal(to_json(f, v_uint(0), -1), "\"off\"");
    /* a value missing from the map stays a number */
    assert_string_equal(to_text(f, v_uint(7), -1), "7");
    assert_int_equal(f->eng.kind, ENG_NUMBER);
    assert_string_equal(to_json(f, v_uint(7), -1), "7");

    point(f, "type: int16, enum: {-1: error, 3: ok}, scale: 10");
    assert_string_equal(to_text(f, v_int(-1), -1), "error");   /* on the raw value */
    assert_string_equal(to_text(f, v_int(2), -1), "20");       /* unmapped: scaled */

    /* a uint64 above INT64_MAX is no enum key (not -1 by a cast) */
    point(f, "type: uint64, enum: {-1: invalid}");
    assert_string_equal(to_text(f, v_uint(UINT64_MAX), -1), "18446744073709551615");
    assert_int_equal(f->eng.kind, ENG_NUMBER);

    point(f, "type: float32, enum: {4: heating}");
    assert_string_equal(to_text(f, v_float(4.0), -1), "heating");
    assert_string_equal(to_text(f, v_float(4.5), -1), "4.5");
}

static void test_bool_with_and_without_enum(void **state)
{
    struct fx *f = *state;
    point(f, "register: coil, enum: {0: closed, 1: open}");
    assert_string_equal(to_text(f, v_bool(true), -1), "open");
    assert_string_equal(to_json(f, v_bool(false), -1), "\"closed\"");
    point(f, "register: coil, enum: {1: alarm}");
    assert_string_equal(to_text(f, v_bool(true), -1), "alarm");
    assert_string_equal(to_json(f, v_bool(false), -1), "false");
    assert_int_equal(f->eng.kind, ENG_BOOL);
    point(f, "register: coil");
    assert_string_equal(to_text(f, v_bool(true), -1), "true");
    assert_string_equal(to_json(f, v_bool(true), -1), "true");
    assert_string_equal(to_text(f, v_bool(false), 3), "false");
}

static void test_expression(void **state)
{
    struct fx *f = *state;
    point(f, "type: uint16, expression: \"x * 0.1 - 40\"");
    assert_true(f->conv.has_expr);
    assert_string_equal(to_text(f, v_uint(650), -1), "25");
    assert_false(f->eng.integral);
    assert_string_equal(to_text(f, v_uint(0), -1), "-40");
    assert_string_equal(to_text(f, v_uint(655), 1), "25.5");
    assert_true(f->conv.invertible);
    assert_true(fabs(f->conv.a - 0.1) < 1e-15 && f->conv.b == -40);

    point(f, "type: int16, expression: \"max(0, min(100, x))\"");
    assert_string_equal(to_text(f, v_int(150), -1), "100");
    assert_string_equal(to_text(f, v_int(-3), -1), "0");
    assert_string_equal(to_text(f, v_int(42), -1), "42");
    assert_false(f->conv.invertible);
    point(f, "type: int16, expression: \"abs(x)\"");
    assert_string_equal(to_text(f, v_int(-5), -1), "5");
    assert_false(f->conv.invertible);
    point(f, "type: int16, expression: \"round(x / 3)\"");
    assert_string_equal(to_text(f, v_int(10), -1), "3");
    assert_false(f->conv.invertible);
    point(f, "type: int16, expression: \"x * x\"");
    assert_string_equal(to_text(f, v_int(-4), -1), "16");
    assert_false(f->conv.invertible);
    point(f, "type: int16, expression: \"x * 0\"");
    assert_false(f->conv.invertible);   /* a = 0 */
    /* nearly straight: bends by 1 in 1e6 at the far probe */
    point(f, "type: int32, expression: \"x + x * x * 0.000000000001\"");
    assert_false(f->conv.invertible);
    point(f, "type: int16, expression: \"(x - 32) * 5 / 9\"");
    assert_true(f->conv.invertible);
    assert_string_equal(to_text(f, v_int(212), -1), "100");
}

static void test_division_by_zero(void **state)
{
    struct fx *f = *state;
    point(f, "type: uint16, expression: \"100 / x\"");
    assert_string_equal(to_text(f, v_uint(4), -1), "25");
    struct value raw = v_uint(0);
    assert_int_equal(convert_to_eng(&f->conv, &raw, &f->eng, f->why, sizeof(f->why)), -1);
    assert_non_null(strstr(f->why, "100 / x"));
    assert_false(f->conv.invertible);   /* no value at x = 0 */
    /* a non-finite float from the device */
    point(f, "type: float64");
    raw = v_float(NAN);
    assert_int_equal(convert_to_eng(&f->conv, &raw, &f->eng, f->why, sizeof(f->why)), -1);
    raw = v_float(INFINITY);
    assert_int_equal(convert_to_eng(&f->conv, &raw, &f->eng, f->why, sizeof(f->why)), -1);
}

static void test_string_and_raw(void **state)
{
    struct fx *f = *state;
    point(f, "type: string, count: 4");
    struct value s = { .kind = VALUE_STRING, .len = 7 };
    memcpy(s.bytes, "SN \"42\"", 8);
    assert_string_equal(to_text(f, s, -1), "SN \"42\"");
    assert_int_equal(f->eng.kind, ENG_TEXT);
    assert_string_equal(to_json(f, s, -1), "\"SN \\\"42\\\"\"");

    point(f, "type: raw, count: 2");
    struct value r = { .kind = VALUE_RAW, .len = 4, .bytes = { 0xde, 0xad, 0x0b, 0xef } };
    assert_string_equal(to_text(f, r, -1), "dead0bef");
    assert_string_equal(to_json(f, r, -1), "\"dead0bef\"");

    /* the longest raw block fits the eng text */
    point(f, "type: raw, count: 125");
    struct value big = { .kind = VALUE_RAW, .len = VALUE_MAX_BYTES };
    memset(big.bytes, 0xab, VALUE_MAX_BYTES);
    assert_int_equal(strlen(to_text(f, big, -1)), 2 * VALUE_MAX_BYTES);
    assert_memory_equal(f->text + 496, "abab", 5);
}

static void test_64bit_exact(void **state)
{
    struct fx *f = *state;
    point(f, "type: uint64");
    assert_string_equal(to_text(f, v_uint(UINT64_MAX), -1), "18446744073709551615");
    assert_true(f->eng.integral);
    assert_string_equal(to_json(f, v_uint(UINT64_MAX), -1), "18446744073709551615");
    assert_string_equal(to_text(f, v_uint(UINT64_MAX), 1), "18446744073709551615.0");
    assert_string_equal(to_text(f, v_uint((1ull << 53) + 1), -1), "9007199254740993");
    point(f, "type: int64");
    assert_string_equal(to_text(f, v_int(INT64_MIN), -1), "-9223372036854775808");
    assert_string_equal(to_json(f, v_int(INT64_MAX), -1), "9223372036854775807");
    /* scaled, it is a double like any other */
    point(f, "type: uint64, scale: 2");
    assert_string_equal(to_text(f, v_uint(1ull << 60), -1), "2.30584300921369e+18");
}

static void test_json_quote(void **state)
{
    (void)state;
    char buf[128];
    assert_int_equal(json_quote("a\"b\\c", buf, sizeof(buf)), 9);
    assert_string_equal(buf, "\"a\\\"b\\\\c\"");
    json_quote("l1\nl2\t\r\x01\x1f/", buf, sizeof(buf));
    assert_string_equal(buf, "\"l1\\u000al2\\u0009\\u000d\\u0001\\u001f/\"");
    /* UTF-8 passes through: é, €, 😀, DEL */
    json_quote("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f", buf, sizeof(buf));
    assert_string_equal(buf, "\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f\"");
    /* bytes that are not UTF-8: Latin-1 degree, a cut sequence, an overlong
     * slash, a UTF-16 surrogate */
    json_quote("25\xb0" "C \xe2\x82 \xc0\xaf \xed\xa0\x80", buf, sizeof(buf));
    assert_string_equal(buf, "\"25\\ufffdC \\ufffd\\ufffd \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd\"");
    /* overlong 3- and 4-byte forms, and above U+10FFFF */
    json_quote("\xe0\x80\xaf|\xf0\x80\x80\xaf|\xf4\x90\x80\x80|\xf4\x8f\xbf\xbf", buf, sizeof(buf));
    assert_string_equal(buf, "\"\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd|"
                             "\\ufffd\\ufffd\\ufffd\\ufffd|\xf4\x8f\xbf\xbf\"");
    assert_int_equal(json_quote("", buf, sizeof(buf)), 2);
    assert_string_equal(buf, "\"\"");
    /* snprintf-style: the full length, a cut NUL-terminated prefix */
    char small[5];
    assert_int_equal(json_quote("abcdef", small, sizeof(small)), 8);
    assert_string_equal(small, "\"abc");
    assert_int_equal(json_quote("abc", NULL, 0), 5);
}

static void test_text_truncation_and_nonfinite(void **state)
{
    (void)state;
    struct eng_value v = { .kind = ENG_NUMBER, .number = NAN };
    char buf[16];
    assert_int_equal(eng_to_json(&v, -1, buf, sizeof(buf)), 4);
    assert_string_equal(buf, "null");
    eng_to_text(&v, -1, buf, sizeof(buf));
    assert_string_equal(buf, "nan");
    v.number = -INFINITY;
    eng_to_json(&v, 2, buf, sizeof(buf));
    assert_string_equal(buf, "null");
    struct eng_value i = { .kind = ENG_NUMBER, .number = 123456, .integral = true, .text = "123456" };
    char cut[4];
    assert_int_equal(eng_to_text(&i, 2, cut, sizeof(cut)), 9);
    assert_string_equal(cut, "123");
    struct eng_value t = { .kind = ENG_TEXT, .text = "a\x02" };
    eng_to_json(&t, -1, buf, sizeof(buf));
    assert_string_equal(buf, "\"a\\u0002\"");
}

/* ---- commands ----------------------------------------------------------------- */

static int command(struct fx *f, const char *payload)
{
    f->why[0] = 0;
    memset(&f->raw, 0x5a, sizeof(f->raw));
    return convert_command(&f->conv, payload, strlen(payload), &f->raw, f->why, sizeof(f->why));
}

static void expect_uint(struct fx *f, const char *payload, uint64_t want)
{
    int rc = command(f, payload);
    if (rc)
        fprintf(stderr, "'%s': %s\n", payload, f->why);
    assert_int_equal(rc, 0);
    assert_int_equal(f->raw.kind, VALUE_UINT);
    assert_true(f->raw.as.u == want);
}

static void expect_int(struct fx *f, const char *payload, int64_t want)
{
    int rc = command(f, payload);
    if (rc)
        fprintf(stderr, "'%s': %s\n", payload, f->why);
    assert_int_equal(rc, 0);
    assert_int_equal(f->raw.kind, VALUE_INT);
    assert_true(f->raw.as.i == want);
}

static void expect_bool(struct fx *f, const char *payload, bool want)
{
    int rc = command(f, payload);
    if (rc)
        fprintf(stderr, "'%s': %s\n", payload, f->why);
    assert_int_equal(rc, 0);
    assert_int_equal(f->raw.kind, VALUE_BOOL);
    assert_int_equal(f->raw.as.b, want);
}

/* Refused, with exactly this reason (NULL: any non-empty reason). */
static void expect_refused(struct fx *f, const char *payload, const char *why)
{
    assert_int_equal(command(f, payload), -1);
    if (why)
        assert_string_equal(f->why, why);
    else
        assert_true(f->why[0] != 0);
}

static void test_command_scaled(void **state)
{
    struct fx *f = *state;
    point(f, "type: uint16, scale: 0.1, writable: true");
    expect_uint(f, "230.1", 2301);
    expect_uint(f, "  230.1\r\n", 2301);
    expect_uint(f, "\"230.1\"", 2301);
    expect_uint(f, "0", 0);
    expect_uint(f, "6553.5", 65535);
    expect_refused(f, "6553.6", "out of range for uint16: 6553.6 (raw 65536)");
    expect_refused(f, "-0.1", NULL);
    point(f, "type: int16, scale: 0.5, offset: -10, writable: true");
    expect_int(f, "-12", -4);
    expect_int(f, "0.5", 21);
    /* the way back of a value that went out */
    point(f, "type: float32, scale: 2, writable: true");
    assert_int_equal(command(f, "12.5"), 0);
    assert_int_equal(f->raw.kind, VALUE_FLOAT);
    assert_true(f->raw.as.f == 6.25);
    expect_refused(f, "1e39", NULL);
}

static void test_command_bools(void **state)
{
    struct fx *f = *state;
    point(f, "register: coil, writable: true");
    expect_bool(f, "on", true);
    expect_bool(f, "OFF", false);
    expect_bool(f, "1", true);
    expect_bool(f, "0", false);
    expect_bool(f, "true", true);
    expect_bool(f, "False", false);
    expect_bool(f, " ON \n", true);
    expect_bool(f, "\"on\"", true);
    expect_refused(f, "maybe", "not a boolean: 'maybe' (true/false, on/off, 1/0)");
    expect_refused(f, "2", NULL);
    expect_refused(f, "", NULL);
    expect_refused(f, "\"on", NULL);
    point(f, "register: coil, writable: true, enum: {0: closed, 1: open}");
    expect_bool(f, "open", true);
    expect_bool(f, "Closed", false);
    expect_bool(f, "off", false);
    point(f, "register: coil, writable: true, enum: {1: open, 2: jammed}");
    expect_bool(f, "open", true);
    expect_refused(f, "jammed", NULL);   /* a coil holds no 2 */
    /* a bit of a holding register */
    point(f, "type: bool, bit: 3, writable: true");
    expect_bool(f, "true", true);
}

static void test_command_enum(void **state)
{
    struct fx *f = *state;
    point(f, "type: uint16, writable: true, enum: {0: off, 1: on, 2: fault}");
    expect_uint(f, "fault", 2);
    expect_uint(f, "FAULT", 2);
    expect_uint(f, "\"on\"", 1);
    expect_uint(f, "2", 2);
    expect_refused(f, "broken", "not a number: 'broken'");
    /* labels are raw: neither scaling nor min/max applies to them */
    point(f, "type: int16, writable: true, scale: 0.1, max: 5, enum: {-1: auto, 100: full}");
    expect_int(f, "auto", -1);
    expect_int(f, "full", 100);
    expect_int(f, "100", 100);   /* the map's raw number */
    expect_int(f, "-1", -1);
    expect_int(f, "2.5", 25);    /* any other number is scaled */
    expect_refused(f, "6", "above max 5");
    point(f, "type: uint16, writable: true, enum: {-1: invalid, 1: ok}");
    expect_refused(f, "invalid", "'invalid' (-1) is out of range for uint16");
}

static void test_command_limits(void **state)
{
    struct fx *f = *state;
    point(f, "type: uint16, scale: 0.1, writable: true, min: 0, max: 10");
    expect_uint(f, "10", 100);
    expect_uint(f, "0", 0);
    expect_refused(f, "10.5", "above max 10");
    expect_refused(f, "-1", "below min 0");
    point(f, "type: int16, writable: true, min: -2.5");
    expect_refused(f, "-3", "below min -2.5");
    expect_int(f, "30000", 30000);   /* no max */
}

static void test_command_type_range(void **state)
{
    struct fx *f = *state;
    point(f, "type: uint16, writable: true");
    expect_uint(f, "65535", 65535);
    expect_refused(f, "70000", "out of range for uint16: 70000");
    expect_refused(f, "-1", "out of range for uint16: -1");
    expect_uint(f, "1e3", 1000);
    expect_uint(f, "2.6", 3);   /* nearest */
    expect_refused(f, "65535.6", NULL);
    point(f, "type: int16, writable: true");
    expect_int(f, "-32768", -32768);
    expect_refused(f, "32768", NULL);
    expect_int(f, "-1.5", -2);   /* half away from zero */
    point(f, "type: uint32, writable: true");
    expect_uint(f, "4294967295", 4294967295u);
    expect_refused(f, "4294967296", NULL);
    point(f, "type: uint64, writable: true");
    expect_uint(f, "18446744073709551615", UINT64_MAX);
    expect_uint(f, "9007199254740993", (1ull << 53) + 1);
    expect_refused(f, "18446744073709551616", NULL);
    expect_refused(f, "-0.6", NULL);
    point(f, "type: int64, writable: true");
    expect_int(f, "-9223372036854775808", INT64_MIN);
    expect_int(f, "9223372036854775807", INT64_MAX);
    expect_refused(f, "9223372036854775808", NULL);
    expect_int(f, "-0", 0);
}

static void test_command_expression(void **state)
{
    struct fx *f = *state;
    point(f, "type: uint16, writable: true, expression: \"x * 0.1 - 40\"");
    expect_uint(f, "25", 650);
    expect_uint(f, "-40", 0);
    expect_refused(f, "-41", NULL);   /* raw -10 */
    point(f, "type: int16, writable: true, expression: \"(x - 32) * 5 / 9\"");
    expect_int(f, "100", 212);
    expect_int(f, "-40", -40);
    point(f, "type: int16, writable: true, expression: \"round(x)\"");
    expect_refused(f, "5", "no inverse for expression 'round(x)'");
    point(f, "type: int16, writable: true, expression: \"x*x\"");
    expect_refused(f, "4", "no inverse for expression 'x*x'");
}

static void test_command_garbage(void **state)
{
    struct fx *f = *state;
    point(f, "type: int32, writable: true");
    expect_refused(f, "abc", "not a number: 'abc'");
    expect_refused(f, "", "empty payload");
    expect_refused(f, "   ", "empty payload");
    expect_refused(f, "12abc", NULL);
    expect_refused(f, "1 2", NULL);
    expect_refused(f, "nan", NULL);
    expect_refused(f, "inf", NULL);
    expect_refused(f, "-Infinity", NULL);
    expect_refused(f, "0x10", NULL);
    expect_refused(f, "true", NULL);
    expect_refused(f, "{\"value\": 1}", NULL);
    assert_int_equal(convert_command(&f->conv, "1\0" "2", 3, &f->raw, f->why, sizeof(f->why)), -1);
    assert_string_equal(f->why, "the payload contains a NUL byte");
    /* only `len` bytes are read: no NUL needed */
    char unterminated[3] = { '4', '2', '7' };
    assert_int_equal(convert_command(&f->conv, unterminated, 2, &f->raw, f->why, sizeof(f->why)), 0);
    assert_int_equal(f->raw.as.i, 42);
    /* a long payload is refused, not cut */
    char big[4000];
    memset(big, '1', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    expect_refused(f, big, NULL);
    /* why may be NULL or tiny */
    assert_int_equal(convert_command(&f->conv, "x", 1, &f->raw, NULL, 0), -1);
    char tiny[4];
    assert_int_equal(convert_command(&f->conv, "abc", 3, &f->raw, tiny, sizeof(tiny)), -1);
    assert_string_equal(tiny, "not");
}

static void test_command_strings(void **state)
{
    struct fx *f = *state;
    point(f, "type: string, count: 2, writable: true");
    assert_int_equal(command(f, "abcd"), 0);
    assert_int_equal(f->raw.kind, VALUE_STRING);
    assert_int_equal(f->raw.len, 4);
    assert_string_equal((const char *)f->raw.bytes, "abcd");
    expect_refused(f, "abcde", "text too long: 5 bytes, the point holds 4");
    assert_int_equal(command(f, "\"a\\\"b\""), 0);   /* JSON "a\"b" */
    assert_string_equal((const char *)f->raw.bytes, "a\"b");
    assert_int_equal(command(f, "\"\\u00e9\\n\""), 0);
    assert_int_equal(f->raw.len, 3);
    assert_string_equal((const char *)f->raw.bytes, "\xc3\xa9\n");
    assert_int_equal(command(f, "\" a \""), 0);   /* quotes keep spaces */
    assert_string_equal((const char *)f->raw.bytes, " a ");
    assert_int_equal(command(f, ""), 0);
    assert_int_equal(f->raw.len, 0);
    expect_refused(f, "\"\\ud83d\"", "malformed JSON string");
    expect_refused(f, "\"\\x\"", "malformed JSON string");
    expect_refused(f, "\"a\\u0000b\"", "malformed JSON string");   /* would cut the text */
    expect_refused(f, "\"a\"b\"", "malformed JSON string");

    point(f, "type: raw, count: 2, writable: true");
    assert_int_equal(command(f, "DEADbeef"), 0);
    assert_int_equal(f->raw.kind, VALUE_RAW);
    assert_int_equal(f->raw.len, 4);
    assert_memory_equal(f->raw.bytes, "\xde\xad\xbe\xef", 4);
    expect_refused(f, "dead", "want 8 hex digits, got 4");
    expect_refused(f, "deadbeef00", "want 8 hex digits, got 10");
    expect_refused(f, "deadbeeg", "not hex: 'deadbeeg'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX(test_scale_offset),
        FX(test_decimals),
        FX(test_enum_labels),
        FX(test_bool_with_and_without_enum),
        FX(test_expression),
        FX(test_division_by_zero),
        FX(test_string_and_raw),
        FX(test_64bit_exact),
        cmocka_unit_test(test_json_quote),
        cmocka_unit_test(test_text_truncation_and_nonfinite),
        FX(test_command_scaled),
        FX(test_command_bools),
        FX(test_command_enum),
        FX(test_command_limits),
        FX(test_command_type_range),
        FX(test_command_expression),
        FX(test_command_garbage),
        FX(test_command_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
