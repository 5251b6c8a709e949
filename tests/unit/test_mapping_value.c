/* Golden tests of value decoding and encoding: every type in every byte/word
 * order, from registers and from bytes at an odd address, and the range
 * checks of writes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "gateway/mapping/value.h"

static struct value decode_regs(const uint16_t *regs, size_t n, int type, int order)
{
    uint8_t bytes[VALUE_MAX_BYTES];
    value_registers_to_bytes(regs, n, bytes);
    struct value v;
    assert_int_equal(value_decode(bytes, n * 2, type, order, &v), 0);
    return v;
}

static void test_float32_every_order(void **state)
{
    (void)state;
    /* 12.5f = 0x41480000: the golden value. */
    static const struct { int order; uint16_t regs[2]; } cases[] = {
        { CFG_ORDER_ABCD, { 0x4148, 0x0000 } },
        { CFG_ORDER_CDAB, { 0x0000, 0x4148 } },
        { CFG_ORDER_BADC, { 0x4841, 0x0000 } },
        { CFG_ORDER_DCBA, { 0x0000, 0x4841 } },
    };
    for (size_t i = 0; i < 4; i++) {
        struct value v = decode_regs(cases[i].regs, 2, CFG_T_FLOAT32, cases[i].order);
        assert_int_equal(v.kind, VALUE_FLOAT);
        assert_true(v.as.f == 12.5);
    }
    /* 230.1f = 0x43661999 as an energy meter sends it */
    uint16_t volts[2] = { 0x4366, 0x1999 };
    struct value v = decode_regs(volts, 2, CFG_T_FLOAT32, CFG_ORDER_ABCD);
    assert_true(v.as.f > 230.09 && v.as.f < 230.11);
}

static void test_integers(void **state)
{
    (void)state;
    uint16_t r16 = 0xfff6;
    assert_int_equal(decode_regs(&r16, 1, CFG_T_INT16, CFG_ORDER_ABCD).as.i, -10);
    assert_int_equal(decode_regs(&r16, 1, CFG_T_UINT16, CFG_ORDER_ABCD).as.u, 65526);
    uint16_t swapped = 0xf6ff;
    assert_int_equal(decode_regs(&swapped, 1, CFG_T_INT16, CFG_ORDER_BADC).as.i, -10);
    assert_int_equal(decode_regs(&r16, 1, CFG_T_INT16, CFG_ORDER_CDAB).as.i, -10); /* one word */

    uint16_t r32[2] = { 0x0001, 0x86a0 }; /* 100000 */
    assert_int_equal(decode_regs(r32, 2, CFG_T_UINT32, CFG_ORDER_ABCD).as.u, 100000);
    uint16_t r32_cdab[2] = { 0x86a0, 0x0001 };
    assert_int_equal(decode_regs(r32_cdab, 2, CFG_T_INT32, CFG_ORDER_CDAB).as.i, 100000);
    uint16_t neg32[2] = { 0xffff, 0xfffe };
    assert_int_equal(decode_regs(neg32, 2, CFG_T_INT32, CFG_ORDER_ABCD).as.i, -2);

    /* 0x0102030405060708 in all four orders */
    static const struct { int order; uint16_t regs[4]; } cases[] = {
        { CFG_ORDER_ABCD, { 0x0102, 0x0304, 0x0506, 0x0708 } },
        { CFG_ORDER_CDAB, { 0x0708, 0x0506, 0x0304, 0x0102 } },
        { CFG_ORDER_BADC, { 0x0201, 0x0403, 0x0605, 0x0807 } },
        { CFG_ORDER_DCBA, { 0x0807, 0x0605, 0x0403, 0x0201 } },
    };
    for (size_t i = 0; i < 4; i++)
        assert_true(decode_regs(cases[i].regs, 4, CFG_T_UINT64, cases[i].order).as.u ==
                    UINT64_C(0x0102030405060708));
    uint16_t big[4] = { 0xffff, 0xffff, 0xffff, 0xffff };
    assert_true(decode_regs(big, 4, CFG_T_UINT64, CFG_ORDER_ABCD).as.u == UINT64_MAX);
    assert_true(decode_regs(big, 4, CFG_T_INT64, CFG_ORDER_ABCD).as.i == -1);
}

static void test_float64(void **state)
{
    (void)state;
    /* -1234.5 = 0xC0934A0000000000 */
    uint16_t regs[4] = { 0xc093, 0x4a00, 0x0000, 0x0000 };
    assert_true(decode_regs(regs, 4, CFG_T_FLOAT64, CFG_ORDER_ABCD).as.f == -1234.5);
    uint16_t le[4] = { 0x0000, 0x0000, 0x004a, 0x93c0 };
    assert_true(decode_regs(le, 4, CFG_T_FLOAT64, CFG_ORDER_DCBA).as.f == -1234.5);
}

static void test_strings_and_raw(void **state)
{
    (void)state;
    uint16_t name[4] = { 0x5344, 0x4d31, 0x3230, 0x0000 }; /* "SDM120" */
    struct value v = decode_regs(name, 4, CFG_T_STRING, CFG_ORDER_ABCD);
    assert_int_equal(v.kind, VALUE_STRING);
    assert_string_equal((char *)v.bytes, "SDM120");
    uint16_t swapped[3] = { 0x4453, 0x314d, 0x2020 }; /* byte-swapped, space padded */
    v = decode_regs(swapped, 3, CFG_T_STRING, CFG_ORDER_BADC);
    assert_string_equal((char *)v.bytes, "SDM1");
    v = decode_regs(name, 2, CFG_T_RAW, CFG_ORDER_DCBA); /* raw keeps the wire order */
    assert_int_equal(v.kind, VALUE_RAW);
    assert_int_equal(v.len, 4);
    assert_memory_equal(v.bytes, "\x53\x44\x4d\x31", 4);
}

static void test_decode_at_odd_address(void **state)
{
    (void)state;
    /* A frame field at an odd offset: the decoder must not load through a
     * misaligned wider pointer (it would trap or be slow on ARM). */
    uint8_t frame[16] = { 0x42, 0x41, 0x48, 0x00, 0x00, 0x01, 0x02, 0x03,
                          0x04, 0x05, 0x06, 0x07, 0x08 };
    struct value v;
    assert_int_equal(value_decode(frame + 1, 4, CFG_T_FLOAT32, CFG_ORDER_ABCD, &v), 0);
    assert_true(v.as.f == 12.5);
    assert_int_equal(value_decode(frame + 5, 8, CFG_T_UINT64, CFG_ORDER_ABCD, &v), 0);
    assert_true(v.as.u == UINT64_C(0x0102030405060708));
}

static void test_bad_sizes(void **state)
{
    (void)state;
    uint8_t b[8] = { 0 };
    struct value v;
    assert_int_equal(value_decode(b, 2, CFG_T_FLOAT32, CFG_ORDER_ABCD, &v), -1);
    assert_int_equal(value_decode(b, 3, CFG_T_STRING, CFG_ORDER_ABCD, &v), -1);
    assert_int_equal(value_decode(b, 2, CFG_T_BOOL, CFG_ORDER_ABCD, &v), -1);
    assert_int_equal(value_decode(b, 0, CFG_T_RAW, CFG_ORDER_ABCD, &v), -1);
}

static void test_bits(void **state)
{
    (void)state;
    struct value v;
    value_from_bit(0x8001, 15, &v);
    assert_int_equal(v.kind, VALUE_BOOL);
    assert_true(v.as.b);
    value_from_bit(0x8001, 1, &v);
    assert_false(v.as.b);
    double d;
    assert_true(value_as_double(&v, &d));
    assert_true(d == 0.0);
}

static void test_encode_round_trip(void **state)
{
    (void)state;
    static const struct { int type; double x; } cases[] = {
        { CFG_T_INT16, -32768 }, { CFG_T_UINT16, 65535 }, { CFG_T_INT32, -2147483648.0 },
        { CFG_T_UINT32, 4294967295.0 }, { CFG_T_FLOAT32, 12.5 }, { CFG_T_FLOAT64, -1234.5 },
        { CFG_T_INT64, -9007199254740991.0 }, { CFG_T_UINT64, 9007199254740993.0 },
    };
    for (int order = CFG_ORDER_ABCD; order <= CFG_ORDER_DCBA; order++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            uint8_t bytes[8];
            size_t n = value_type_size(cases[i].type, 0);
            assert_int_equal(value_encode_number(cases[i].x, cases[i].type, order, bytes, n), 0);
            struct value v;
            assert_int_equal(value_decode(bytes, n, cases[i].type, order, &v), 0);
            double back;
            assert_true(value_as_double(&v, &back));
            assert_true(back == (double)cases[i].x);
        }
    }
    uint8_t regs[4];
    assert_int_equal(value_encode_number(12.5, CFG_T_FLOAT32, CFG_ORDER_CDAB, regs, 4), 0);
    assert_memory_equal(regs, "\x00\x00\x41\x48", 4);
    assert_int_equal(value_encode_number(2.6, CFG_T_UINT16, CFG_ORDER_ABCD, regs, 2), 0);
    assert_memory_equal(regs, "\x00\x03", 2); /* rounded, not truncated */
}

static void test_encode_refuses_what_does_not_fit(void **state)
{
    (void)state;
    uint8_t b[8];
    assert_int_equal(value_encode_number(65536, CFG_T_UINT16, CFG_ORDER_ABCD, b, 2), -1);
    assert_int_equal(value_encode_number(-1, CFG_T_UINT32, CFG_ORDER_ABCD, b, 4), -1);
    assert_int_equal(value_encode_number(32767.6, CFG_T_INT16, CFG_ORDER_ABCD, b, 2), -1);
    assert_int_equal(value_encode_number(NAN, CFG_T_INT32, CFG_ORDER_ABCD, b, 4), -1);
    assert_int_equal(value_encode_number(1e39, CFG_T_FLOAT32, CFG_ORDER_ABCD, b, 4), -1);
    assert_int_equal(value_encode_number(9223372036854775808.0, CFG_T_INT64, CFG_ORDER_ABCD, b, 8), -1);
    assert_int_equal(value_encode_number(1, CFG_T_INT32, CFG_ORDER_ABCD, b, 2), -1);
}

static void test_float32_shortest(void **state)
{
    (void)state;
    /* 230.1f is 0x4366199a; as a double it would be 230.10000610351562. */
    uint16_t regs[2] = { 0x4366, 0x199a };
    struct value v = decode_regs(regs, 2, CFG_T_FLOAT32, CFG_ORDER_ABCD);
    assert_true(v.as.f == 230.1);
    char buf[32];
    value_to_text(&v, -1, buf, sizeof buf);
    assert_string_equal(buf, "230.1");
    /* Still the same float, bit for bit, when written back. */
    uint8_t b[4];
    assert_int_equal(value_encode_number(v.as.f, CFG_T_FLOAT32, CFG_ORDER_ABCD, b, 4), 0);
    assert_memory_equal(b, "\x43\x66\x19\x9a", 4);
    /* The smallest subnormal and the largest float keep their value. */
    uint16_t tiny[2] = { 0x0000, 0x0001 }, big[2] = { 0x7f7f, 0xffff };
    assert_true((float)decode_regs(tiny, 2, CFG_T_FLOAT32, CFG_ORDER_ABCD).as.f == 1e-45f);
    assert_true((float)decode_regs(big, 2, CFG_T_FLOAT32, CFG_ORDER_ABCD).as.f == FLT_MAX);
    uint16_t nan[2] = { 0x7fc0, 0x0000 };
    assert_true(isnan(decode_regs(nan, 2, CFG_T_FLOAT32, CFG_ORDER_ABCD).as.f));
}

static void test_to_text(void **state)
{
    (void)state;
    char buf[64];
    struct value v = { .kind = VALUE_FLOAT, .as.f = 12.5 };
    value_to_text(&v, -1, buf, sizeof buf);
    assert_string_equal(buf, "12.5");
    v.as.f = 0.1 + 0.2;   /* not 0.3: the shortest text that reads back */
    value_to_text(&v, -1, buf, sizeof buf);
    assert_string_equal(buf, "0.30000000000000004");
    value_to_text(&v, 2, buf, sizeof buf);
    assert_string_equal(buf, "0.30");
    v.as.f = (double)(float)230.1f;
    value_to_text(&v, 1, buf, sizeof buf);
    assert_string_equal(buf, "230.1");
    v.as.f = 230.0;   /* not "2.3e+02" */
    value_to_text(&v, -1, buf, sizeof buf);
    assert_string_equal(buf, "230");
    v.as.f = 1500000;
    value_to_text(&v, -1, buf, sizeof buf);
    assert_string_equal(buf, "1500000");
    v.as.f = 0.00025;
    value_to_text(&v, -1, buf, sizeof buf);
    assert_string_equal(buf, "0.00025");
    v.as.f = -12.75;
    value_to_text(&v, -1, buf, sizeof buf);
    assert_string_equal(buf, "-12.75");
    v.as.f = 1e20;
    value_to_text(&v, -1, buf, sizeof buf);
    assert_string_equal(buf, "1e+20");
    v.as.f = 0;
    value_to_text(&v, -1, buf, sizeof buf);
    assert_string_equal(buf, "0");
    v = (struct value){ .kind = VALUE_INT, .as.i = -32768 };
    value_to_text(&v, 3, buf, sizeof buf);
    assert_string_equal(buf, "-32768");
    v = (struct value){ .kind = VALUE_UINT, .as.u = UINT64_MAX };
    value_to_text(&v, -1, buf, sizeof buf);
    assert_string_equal(buf, "18446744073709551615");
    v = (struct value){ .kind = VALUE_BOOL, .as.b = true };
    value_to_text(&v, -1, buf, sizeof buf);
    assert_string_equal(buf, "true");
    v = (struct value){ .kind = VALUE_RAW, .len = 3, .bytes = { 0x0a, 0xff, 0x00 } };
    assert_int_equal(value_to_text(&v, -1, buf, sizeof buf), 6);
    assert_string_equal(buf, "0aff00");
    assert_int_equal(value_to_text(&v, -1, buf, 4), 6);   /* cut, but says what it needs */
    assert_string_equal(buf, "0a");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float32_every_order),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_float64),
        cmocka_unit_test(test_strings_and_raw),
        cmocka_unit_test(test_decode_at_odd_address),
        cmocka_unit_test(test_bad_sizes),
        cmocka_unit_test(test_bits),
        cmocka_unit_test(test_encode_round_trip),
        cmocka_unit_test(test_encode_refuses_what_does_not_fit),
        cmocka_unit_test(test_float32_shortest),
        cmocka_unit_test(test_to_text),
    };
    return cmocka_run_group_tests_name("mapping values", tests, NULL, NULL);
}
