/* Tests of the binary frame framer: the PMS5003 frame, garbage and false
 * headers, damaged frames with a real frame inside, fixed-length xor8
 * frames, a Modbus RTU reply with its CRC, a little-endian length field
 * counting the whole frame, oversize lengths, typed points, and a seeded
 * fuzz run of frames in noise. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "drivers/uart/checksum.h"
#include "drivers/uart/framer.h"
#include "tests/unit/uart_test_util.h"

/* ---- PMS5003 ---------------------------------------------------------------- */

/* From SERIAL-TESTING.md §6: PM1.0/2.5/10 standard 7, 10, 14; sum 0x027b. */
static const uint8_t PMS[32] = {
    0x42, 0x4d, 0x00, 0x1c, 0x00, 0x07, 0x00, 0x0a, 0x00, 0x0e, 0x00, 0x07, 0x00, 0x0a, 0x00, 0x0e,
    0x03, 0x84, 0x01, 0x2c, 0x00, 0x3c, 0x00, 0x08, 0x00, 0x02, 0x00, 0x01, 0x97, 0x00, 0x02, 0x7b,
};

static const char PMS_DEVICE[] =
    "    frame:\n"
    "      header: \"42 4d\"\n"
    "      length: { offset: 2, size: 2, endian: big, counts: rest }\n"
    "      checksum: { type: sum16, start: 0, endian: big }\n"
    "      max_length: 64\n"
    "    points:\n"
    "      - { name: pm1_0, byte_offset: 4 }\n"                       /* default uint16 */
    "      - { name: pm2_5, byte_offset: 6, type: uint16 }\n"
    "      - { name: pm10, byte_offset: 8, type: uint16 }\n"
    "      - { name: p03, byte_offset: 16, type: uint32, byte_order: cdab }\n"
    "      - { name: past, byte_offset: 30, type: uint32 }\n"
    "      - { name: hdr, byte_offset: 0, type: string, count: 3 }\n";

static void test_frame_pms5003(void **state)
{
    struct uart_test *t = *state;
    assert_int_equal(checksum_sum16(PMS, 30), 0x027b);
    uart_test_open(t, "frame", PMS_DEVICE);
    uart_test_feed_both_ways(t, PMS, sizeof(PMS));
    assert_int_equal(t->s.n, 1);
    uart_test_assert_record(t, 0, PMS, sizeof(PMS));
    uart_test_expect_uint(t, 0, 0, 7);
    uart_test_expect_uint(t, 0, 1, 10);
    uart_test_expect_uint(t, 0, 2, 14);
    /* 03 84 01 2c read with the 16-bit words swapped: 0x012c0384. */
    uart_test_expect_uint(t, 0, 3, 0x012c0384);
    uart_test_expect_error(t, 0, 4, "bytes 30..33 past the 32-byte frame");
    uart_test_expect_string(t, 0, 5, "BM");   /* "42 4d 00": stops at the NUL */
    assert_int_equal(framer_stats(t->f)->records, 1);
    assert_int_equal(framer_stats(t->f)->parse_errors, 1);
}

static void test_frame_garbage_between_frames(void **state)
{
    struct uart_test *t = *state;
    uart_test_open(t, "frame", PMS_DEVICE);
    static const uint8_t junk1[] = { 0x00, 0xff, 0x42, 0x13 }, junk2[] = { 0xaa, 0x42 };
    uart_test_feed(t, junk1, sizeof(junk1));
    uart_test_feed(t, PMS, sizeof(PMS));
    uart_test_feed(t, junk2, sizeof(junk2));   /* ends in what may start a header */
    uart_test_feed(t, PMS, sizeof(PMS));
    assert_int_equal(t->s.n, 2);
    uart_test_assert_record(t, 0, PMS, sizeof(PMS));
    uart_test_assert_record(t, 1, PMS, sizeof(PMS));
    const struct framer_stats *st = framer_stats(t->f);
    assert_int_equal(st->garbage_bytes, 6);
    assert_int_equal(st->records, 2);
    assert_int_equal(st->bad_checksum + st->oversize, 0);
}

static void test_frame_corrupted_then_good(void **state)
{
    struct uart_test *t = *state;
    uart_test_open(t, "frame", PMS_DEVICE);
    uint8_t stream[64];
    memcpy(stream, PMS, 32);
    stream[7] ^= 0x10;   /* PM2.5 damaged on the wire */
    memcpy(stream + 32, PMS, 32);
    uart_test_feed(t, stream, sizeof(stream));
    assert_int_equal(t->s.n, 1);
    uart_test_assert_record(t, 0, PMS, sizeof(PMS));
    const struct framer_stats *st = framer_stats(t->f);
    assert_int_equal(st->bad_checksum, 1);
    /* The damaged frame is searched again from its second byte: 31 bytes
     * without a header. */
    assert_int_equal(st->garbage_bytes, 31);
}

static void test_frame_false_headers(void **state)
{
    struct uart_test *t = *state;
    uart_test_open(t, "frame", PMS_DEVICE);
    uint8_t stream[128];
    size_t n = 0;
    /* A false header whose length (5) runs into the real frame. */
    static const uint8_t false1[] = { 0x42, 0x4d, 0x00, 0x05, 0x11, 0x22 };
    memcpy(stream + n, false1, sizeof(false1));
    n += sizeof(false1);
    memcpy(stream + n, PMS, 32);
    n += 32;
    /* A false header claiming 28 bytes, with a real frame starting right
     * after its length field: the false frame swallows most of the real one. */
    static const uint8_t false2[] = { 0x42, 0x4d, 0x00, 0x1c };
    memcpy(stream + n, false2, sizeof(false2));
    n += sizeof(false2);
    memcpy(stream + n, PMS, 32);
    n += 32;
    uart_test_feed(t, stream, n);
    assert_int_equal(t->s.n, 2);
    uart_test_assert_record(t, 0, PMS, sizeof(PMS));
    uart_test_assert_record(t, 1, PMS, sizeof(PMS));
    assert_int_equal(framer_stats(t->f)->bad_checksum, 2);
}

static void test_frame_oversize_length(void **state)
{
    struct uart_test *t = *state;
    uart_test_open(t, "frame", PMS_DEVICE);
    /* 0x0100 bytes after the length field: past max_length 64. And one
     * whose length cannot even hold the checksum (1 byte after the field). */
    static const uint8_t huge[] = { 0x42, 0x4d, 0x01, 0x00, 0x00, 0x00 };
    static const uint8_t tiny[] = { 0x42, 0x4d, 0x00, 0x01, 0x00 };
    uart_test_feed(t, huge, sizeof(huge));
    uart_test_feed(t, tiny, sizeof(tiny));
    uart_test_feed(t, PMS, sizeof(PMS));
    assert_int_equal(t->s.n, 1);
    uart_test_assert_record(t, 0, PMS, sizeof(PMS));
    assert_int_equal(framer_stats(t->f)->oversize, 1);
    assert_int_equal(framer_stats(t->f)->bad_checksum, 0);
    /* Reset forgets a partial frame: its tail is then garbage. */
    uart_test_feed(t, PMS, 10);
    framer_reset(t->f);
    uart_test_feed(t, PMS + 10, 22);
    uart_test_feed(t, PMS, sizeof(PMS));
    assert_int_equal(t->s.n, 2);
}

/* ---- other layouts -------------------------------------------------------------- */

static void test_frame_fixed_length_xor8(void **state)
{
    struct uart_test *t = *state;
    uart_test_open(t, "frame",
                   "    byte_order: dcba\n"
                   "    frame:\n"
                   "      header: \"aa\"\n"
                   "      fixed_length: 7\n"
                   "      checksum: { type: xor8, start: 1 }\n"
                   "    points:\n"
                   "      - { name: t, byte_offset: 1, type: int16, byte_order: abcd }\n"
                   "      - { name: le, byte_offset: 1, type: int16 }\n"
                   "      - { name: on, byte_offset: 3, type: bool }\n"
                   "      - { name: off, byte_offset: 4, type: bool }\n"
                   "      - { name: raw, byte_offset: 3, type: raw, count: 3 }\n");
    uint8_t frame[7] = { 0xaa, 0xff, 0x38, 0x02, 0x00, 0x55, 0 };
    frame[6] = checksum_xor8(frame + 1, 5);
    uint8_t stream[32] = { 0xaa, 0x01 };   /* a cut-off frame: header, 1 byte */
    memcpy(stream + 2, frame, 7);
    memcpy(stream + 9, frame, 7);
    stream[15] ^= 1;                        /* second copy damaged */
    memcpy(stream + 16, frame, 7);
    uart_test_feed_bytewise(t, stream, 23);
    assert_int_equal(t->s.n, 2);
    uart_test_assert_record(t, 0, frame, 7);
    uart_test_assert_record(t, 1, frame, 7);
    /* The cut-off frame plus 5 bytes of the good one fail the checksum;
     * so does the damaged copy. */
    assert_int_equal(framer_stats(t->f)->bad_checksum, 2);
    uart_test_expect_int(t, 0, 0, -200);     /* ff 38 big-endian */
    uart_test_expect_int(t, 0, 1, 0x38ff);   /* the device's dcba */
    uart_test_expect_bool(t, 0, 2, true);
    uart_test_expect_bool(t, 0, 3, false);
    assert_int_equal(uart_test_extract(t, 0, 4), FRAMER_VALUE);
    assert_int_equal(t->v.kind, VALUE_RAW);
    assert_int_equal(t->v.len, 3);
    assert_memory_equal(t->v.bytes, frame + 3, 3);
}

/* A Modbus RTU reply framed by its header and byte count, the CRC read in
 * `endian`. */
static void open_rtu_reply(struct uart_test *t, const char *endian)
{
    char device[512];
    snprintf(device, sizeof(device),
             "    frame:\n"
             "      header: \"01 03\"\n"
             "      length: { offset: 2, size: 1, counts: payload }\n"
             "      checksum: { type: crc16_modbus, endian: %s }\n"
             "      max_length: 256\n"
             "    points:\n"
             "      - { name: reg, byte_offset: 3, type: uint16 }\n",
             endian);
    uart_test_open(t, "frame", device);
}

static void test_frame_modbus_rtu_crc_little(void **state)
{
    struct uart_test *t = *state;
    static const uint8_t reply[] = { 0x01, 0x03, 0x02, 0x00, 0x07, 0xF9, 0x86 };
    assert_int_equal(checksum_crc16_modbus(reply, 5), 0x86F9);
    open_rtu_reply(t, "little");
    uart_test_feed(t, reply, sizeof(reply));
    assert_int_equal(t->s.n, 1);
    uart_test_assert_record(t, 0, reply, sizeof(reply));
    uart_test_expect_uint(t, 0, 0, 7);

    /* Read big-endian, the same bytes fail. */
    open_rtu_reply(t, "big");
    uart_test_feed(t, reply, sizeof(reply));
    assert_int_equal(t->s.n, 0);
    assert_int_equal(framer_stats(t->f)->bad_checksum, 1);
}

static void test_frame_little_length_counts_frame_adjust(void **state)
{
    struct uart_test *t = *state;
    /* 7e, a little-endian u16 that counts the frame minus 2, payload, sum8
     * of everything after the header. */
    uart_test_open(
        t, "frame",
        "    frame:\n"
        "      header: \"7e\"\n"
        "      length: { offset: 1, size: 2, endian: little, counts: frame, adjust: 2 }\n"
        "      checksum: { type: sum8, start: 1 }\n"
        "    points:\n"
        "      - { name: v, byte_offset: 3, type: uint32, byte_order: dcba }\n"
        "      - { name: w, byte_offset: 7, type: uint16 }\n");
    uint8_t frame[10] = { 0x7e, 0x08, 0x00, 0x78, 0x56, 0x34, 0x12, 0xbe, 0xef, 0 };
    frame[9] = checksum_sum8(frame + 1, 8);
    /* The same frame with a 0x7e inside noise in front. */
    uint8_t stream[16] = { 0x7e, 0x7e };
    memcpy(stream + 2, frame, sizeof(frame));
    uart_test_feed(t, stream, 12);
    assert_int_equal(t->s.n, 1);
    uart_test_assert_record(t, 0, frame, sizeof(frame));
    uart_test_expect_uint(t, 0, 0, 0x12345678);
    uart_test_expect_uint(t, 0, 1, 0xbeef);
    /* Both leading 7e bytes read lengths of over 2000: oversize, resynced. */
    assert_int_equal(framer_stats(t->f)->oversize, 2);
}

static void test_frame_new_rejects_impossible_layouts(void **state)
{
    struct uart_test *t = *state;
    /* Validation lets these through; the framer cannot use them. */
    uart_test_load(t, "frame",
                   "    frame:\n"
                   "      header: \"aa bb\"\n"
                   "      fixed_length: 3\n"
                   "      checksum: { type: sum16 }\n"
                   "    points: [ { name: v, byte_offset: 0, type: uint16 } ]\n");
    assert_string_equal(uart_test_new_fails(t),
                        "fixed_length 3 is too short for header and checksum (4)");
    uart_test_load(t, "frame",
                   "    frame:\n"
                   "      header: \"aa\"\n"
                   "      length: { offset: 100, size: 2 }\n"
                   "      max_length: 64\n"
                   "    points: [ { name: v, byte_offset: 0, type: uint16 } ]\n");
    assert_non_null(strstr(uart_test_new_fails(t), "past max_length 64"));
}

/* ---- fuzz ----------------------------------------------------------------- */

/* A PMS5003 frame of random values and its right sum. */
static void make_pms(size_t i, struct uart_test_wire *w)
{
    (void)i;
    uint8_t *frame = w->b;
    memcpy(frame, PMS, 4);
    for (size_t k = 4; k < 30; k++)
        frame[k] = (uint8_t)rand();
    uint16_t sum = checksum_sum16(frame, 30);
    frame[30] = (uint8_t)(sum >> 8);
    frame[31] = (uint8_t)sum;
    w->len = w->rec_len = 32;
    w->rec_off = 0;
}

/* aa, 5 random bytes, their xor8. */
static void make_xor(size_t i, struct uart_test_wire *w)
{
    (void)i;
    w->b[0] = 0xaa;
    for (size_t k = 1; k < 6; k++)
        w->b[k] = (uint8_t)rand();
    w->b[6] = checksum_xor8(w->b + 1, 5);
    w->len = w->rec_len = 7;
    w->rec_off = 0;
}

/* Frames inserted into noise all come out intact and in order; frames the
 * noise happens to form may come out between them. */
static void test_frame_fuzz_noise(void **state)
{
    struct uart_test *t = *state;
    uart_test_open(t, "frame", PMS_DEVICE);
    const struct uart_test_fuzz pms = {
        .seed = 7, .records = 2000, .noise_max = 600, .chunk_max = 600,
        .record_max = 64, .make = make_pms,
    };
    uart_test_fuzz(t, &pms);
    assert_true(framer_stats(t->f)->garbage_bytes > 100 * 1024);
    /* A one-byte header turns up every 256 bytes of noise: many false starts. */
    uart_test_open(t, "frame",
                   "    frame:\n      header: \"aa\"\n      fixed_length: 7\n"
                   "      checksum: { type: xor8, start: 1 }\n"
                   "    points: [ { name: v, byte_offset: 1, type: uint16 } ]\n");
    const struct uart_test_fuzz xor = {
        .seed = 11, .records = 2000, .noise_max = 300, .chunk_max = 600,
        .record_max = 7, .make = make_xor,
    };
    uart_test_fuzz(t, &xor);
    assert_true(framer_stats(t->f)->garbage_bytes > 100 * 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        UART_TEST(test_frame_pms5003),
        UART_TEST(test_frame_garbage_between_frames),
        UART_TEST(test_frame_corrupted_then_good),
        UART_TEST(test_frame_false_headers),
        UART_TEST(test_frame_oversize_length),
        UART_TEST(test_frame_fixed_length_xor8),
        UART_TEST(test_frame_modbus_rtu_crc_little),
        UART_TEST(test_frame_little_length_counts_frame_adjust),
        UART_TEST(test_frame_new_rejects_impossible_layouts),
        UART_TEST(test_frame_fuzz_noise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
