/* The MQTT codec's primitives: variable byte integers (golden bytes at every
 * size boundary, the 4-byte limit, non-minimal forms), the fixed header
 * (flags of every type, size limit, "need more"), UTF-8 string rules and the
 * reason code names. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/mqtt/mqtt.h"

struct varint_case {
    uint32_t value;
    uint8_t bytes[4];
    size_t n;
};

static const struct varint_case varint_cases[] = {
    { 0, { 0x00 }, 1 },
    { 1, { 0x01 }, 1 },
    { 127, { 0x7f }, 1 },
    { 128, { 0x80, 0x01 }, 2 },
    { 321, { 0xc1, 0x02 }, 2 },
    { 16383, { 0xff, 0x7f }, 2 },
    { 16384, { 0x80, 0x80, 0x01 }, 3 },
    { 2097151, { 0xff, 0xff, 0x7f }, 3 },
    { 2097152, { 0x80, 0x80, 0x80, 0x01 }, 4 },
    { 268435455, { 0xff, 0xff, 0xff, 0x7f }, 4 },
};

static void test_varint_golden(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof varint_cases / sizeof varint_cases[0]; i++) {
        const struct varint_case *c = &varint_cases[i];
        uint8_t buf[4] = { 0 };
        assert_int_equal(mqtt_varint_size(c->value), c->n);
        assert_int_equal(mqtt_varint_encode(buf, sizeof buf, c->value), c->n);
        assert_memory_equal(buf, c->bytes, c->n);
        /* exactly sized heap copy: ASan sees any read past the end */
        uint8_t *heap = malloc(c->n);
        assert_non_null(heap);
        memcpy(heap, c->bytes, c->n);
        uint32_t v = 12345;
        assert_int_equal(mqtt_varint_decode(heap, c->n, &v, NULL), (int)c->n);
        assert_int_equal(v, c->value);
        for (size_t k = 0; k < c->n; k++)
            assert_int_equal(mqtt_varint_decode(heap, k, &v, NULL), 0);
        free(heap);
    }
}

static void test_varint_limits(void **state)
{
    (void)state;
    uint8_t buf[4];
    uint32_t v;
    const char *why = NULL;
    assert_int_equal(mqtt_varint_size(268435456u), 0);
    assert_int_equal(mqtt_varint_encode(buf, sizeof buf, 268435456u), 0);
    assert_int_equal(mqtt_varint_encode(buf, 1, 128), 2); /* size, nothing written */

    static const uint8_t five[] = { 0xff, 0xff, 0xff, 0xff, 0x01 };
    assert_int_equal(mqtt_varint_decode(five, sizeof five, &v, &why), -MQTT_RC_MALFORMED_PACKET);
    assert_string_equal(why, "variable byte integer longer than 4 bytes");
    /* the fourth byte has its continuation bit: malformed without a fifth */
    assert_int_equal(mqtt_varint_decode(five, 4, &v, NULL), -MQTT_RC_MALFORMED_PACKET);
    assert_int_equal(mqtt_varint_decode(five, 3, &v, NULL), 0);
}

static void test_varint_non_minimal(void **state)
{
    (void)state;
    static const uint8_t cases[][4] = {
        { 0x80, 0x00 }, { 0xff, 0x00 }, { 0x80, 0x80, 0x00 }, { 0x81, 0x80, 0x80, 0x00 },
    };
    static const size_t lens[] = { 2, 2, 3, 4 };
    for (size_t i = 0; i < 4; i++) {
        uint32_t v;
        const char *why = NULL;
        assert_int_equal(mqtt_varint_decode(cases[i], lens[i], &v, &why), -MQTT_RC_MALFORMED_PACKET);
        assert_string_equal(why, "variable byte integer not minimal");
    }
}

static int header(const uint8_t *b, size_t n, uint32_t max, struct mqtt_fixed_header *h)
{
    return mqtt_decode_fixed_header(b, n, max, h, NULL);
}

static void test_fixed_header_flags(void **state)
{
    (void)state;
    struct mqtt_fixed_header h;
    for (unsigned type = 1; type <= 15; type++) {
        for (unsigned flags = 0; flags < 16; flags++) {
            uint8_t b[2] = { (uint8_t)(type << 4 | flags), 0 };
            bool ok;
            if (type == MQTT_PUBLISH)
                ok = ((flags >> 1) & 3) != 3 && !((flags & 8) && ((flags >> 1) & 3) == 0);
            else if (type == MQTT_PUBREL || type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE)
                ok = flags == 2;
            else
                ok = flags == 0;
            int rc = header(b, 2, 0, &h);
            assert_int_equal(rc, ok ? 2 : -MQTT_RC_MALFORMED_PACKET);
            /* a bad first byte is known from the first byte alone */
            assert_int_equal(header(b, 1, 0, &h), ok ? 0 : -MQTT_RC_MALFORMED_PACKET);
            if (ok) {
                assert_int_equal(h.type, type);
                assert_int_equal(h.flags, flags);
            }
        }
    }
    const char *why = NULL;
    static const uint8_t reserved[] = { 0x00, 0x00 };
    assert_int_equal(mqtt_decode_fixed_header(reserved, 2, 0, &h, &why), -MQTT_RC_MALFORMED_PACKET);
    assert_string_equal(why, "reserved packet type 0");
    static const uint8_t qos3[] = { 0x36, 0x00 };
    assert_int_equal(mqtt_decode_fixed_header(qos3, 2, 0, &h, &why), -MQTT_RC_MALFORMED_PACKET);
    assert_string_equal(why, "PUBLISH with QoS 3");
    static const uint8_t dup0[] = { 0x38, 0x00 };
    assert_int_equal(mqtt_decode_fixed_header(dup0, 2, 0, &h, &why), -MQTT_RC_MALFORMED_PACKET);
    assert_string_equal(why, "PUBLISH with DUP set and QoS 0");
}

static void test_fixed_header_size(void **state)
{
    (void)state;
    struct mqtt_fixed_header h;
    const char *why = NULL;
    static const uint8_t big[] = { 0x30, 0xff, 0xff, 0xff, 0x7f };
    assert_int_equal(header(big, 0, 0, &h), 0);
    for (size_t k = 1; k < sizeof big; k++)
        assert_int_equal(header(big, k, 0, &h), 0);
    assert_int_equal(header(big, sizeof big, 0, &h), 5);
    assert_int_equal(h.remaining, 268435455u);
    assert_int_equal(h.header_len, 5);
    /* refused as soon as the length is known, long before the body comes */
    assert_int_equal(mqtt_decode_fixed_header(big, sizeof big, 1024 * 1024, &h, &why),
                     -MQTT_RC_PACKET_TOO_LARGE);
    assert_string_equal(why, "packet larger than the maximum size");
    static const uint8_t small[] = { 0x30, 0x08 };
    assert_int_equal(header(small, 2, 10, &h), 2);   /* 2 + 8 = 10: fits */
    static const uint8_t over[] = { 0x30, 0x09 };
    assert_int_equal(header(over, 2, 10, &h), -MQTT_RC_PACKET_TOO_LARGE);
    static const uint8_t nonmin[] = { 0xc0, 0x80, 0x00 };
    assert_int_equal(header(nonmin, 3, 0, &h), -MQTT_RC_MALFORMED_PACKET);
}

static bool utf8(const char *s, size_t n, const char **why)
{
    uint8_t *heap = malloc(n ? n : 1);
    assert_non_null(heap);
    memcpy(heap, s, n);
    bool ok = mqtt_utf8_valid(heap, n, why);
    free(heap);
    return ok;
}

static void test_utf8_valid(void **state)
{
    (void)state;
    static const char *const good[] = {
        "", "sensors/temp", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "\xef\xbb\xbf" "bom", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf", "\xee\x80\x80",
        "\x01\x1f\x7f", "\xc2\x80\xdf\xbf", "\xef\xbf\xbf",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(utf8(good[i], strlen(good[i]), NULL));
}

static void test_utf8_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t n;
        const char *why;
    } bad[] = {
        { "a\0b", 3, "UTF-8: null character U+0000" },
        { "\xc0\x80", 2, "UTF-8: overlong encoding" },
        { "\xc1\xbf", 2, "UTF-8: overlong encoding" },
        { "\xe0\x80\x80", 3, "UTF-8: overlong encoding" },
        { "\xe0\x9f\xbf", 3, "UTF-8: overlong encoding" },
        { "\xf0\x80\x80\x80", 4, "UTF-8: overlong encoding" },
        { "\xf0\x8f\xbf\xbf", 4, "UTF-8: overlong encoding" },
        { "\xed\xa0\x80", 3, "UTF-8: surrogate code point" },
        { "\xed\xbf\xbf", 3, "UTF-8: surrogate code point" },
        { "\xf4\x90\x80\x80", 4, "UTF-8: code point above U+10FFFF" },
        { "\xf5\x80\x80\x80", 4, "UTF-8: invalid byte" },
        { "\xff", 1, "UTF-8: invalid byte" },
        { "a\x80", 2, "UTF-8: stray continuation byte" },
        { "\xbf", 1, "UTF-8: stray continuation byte" },
        { "\xe2\x82", 2, "UTF-8: truncated sequence" },
        { "\xf0\x9f\x98", 3, "UTF-8: truncated sequence" },
        { "\xe2\x28\xa1", 3, "UTF-8: missing continuation byte" },
        { "\xc3\x41", 2, "UTF-8: missing continuation byte" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = NULL;
        assert_false(utf8(bad[i].s, bad[i].n, &why));
        assert_non_null(why);
        assert_string_equal(why, bad[i].why);
    }
}

static void test_reason_names(void **state)
{
    (void)state;
    assert_string_equal(mqtt_reason_name(MQTT_RC_MALFORMED_PACKET), "malformed packet");
    assert_string_equal(mqtt_reason_name(0x82), "protocol error");
    assert_string_equal(mqtt_reason_name(0x95), "packet too large");
    assert_string_equal(mqtt_reason_name(0xA2), "wildcard subscriptions not supported");
    assert_string_equal(mqtt_reason_name(0x03), "unknown reason code");
    assert_string_equal(mqtt_reason_name(0xff), "unknown reason code");
    assert_string_equal(mqtt_packet_name(MQTT_PUBLISH), "PUBLISH");
    assert_string_equal(mqtt_packet_name(0), "reserved");
    assert_string_equal(mqtt_packet_name(99), "reserved");
    /* §3.2.2.2, §3.4.2.1, §3.6.2.1, §3.9.3, §3.14.2.1, §3.15.2.1 */
    assert_true(mqtt_reason_allowed(MQTT_CONNACK, 0x84));
    assert_false(mqtt_reason_allowed(MQTT_CONNACK, 0x8B));
    assert_true(mqtt_reason_allowed(MQTT_PUBACK, 0x10));
    assert_false(mqtt_reason_allowed(MQTT_PUBREL, 0x10));
    assert_true(mqtt_reason_allowed(MQTT_PUBCOMP, 0x92));
    assert_true(mqtt_reason_allowed(MQTT_SUBACK, 0x02));
    assert_false(mqtt_reason_allowed(MQTT_UNSUBACK, 0x02));
    assert_true(mqtt_reason_allowed(MQTT_DISCONNECT, 0x04));
    assert_true(mqtt_reason_allowed(MQTT_AUTH, 0x18));
    assert_false(mqtt_reason_allowed(MQTT_AUTH, 0x80));
    assert_false(mqtt_reason_allowed(MQTT_PUBLISH, 0x00));
    assert_int_equal(mqtt_connack_v311_code(MQTT_RC_UNSUPPORTED_VERSION), 1);
    assert_int_equal(mqtt_connack_v311_code(MQTT_RC_CLIENT_ID_INVALID), 2);
    assert_int_equal(mqtt_connack_v311_code(MQTT_RC_MALFORMED_PACKET), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_golden),
        cmocka_unit_test(test_varint_limits),
        cmocka_unit_test(test_varint_non_minimal),
        cmocka_unit_test(test_fixed_header_flags),
        cmocka_unit_test(test_fixed_header_size),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_utf8_invalid),
        cmocka_unit_test(test_reason_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
