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

/* ---- helpers ------------------------------------------------------------- */

#define SINK_MAX 16
#define REC_MAX 256

struct sink {
    size_t n;
    size_t len[SINK_MAX];
    uint8_t data[SINK_MAX][REC_MAX];
};

static void sink_fn(void *ctx, const struct framer_record *rec)
{
    struct sink *s = ctx;
    assert_true(s->n < SINK_MAX);
    assert_true(rec->len <= REC_MAX);
    memcpy(s->data[s->n], rec->data, rec->len);
    s->len[s->n++] = rec->len;
}

static void assert_rec(const struct sink *s, size_t i, const uint8_t *want, size_t len)
{
    assert_true(i < s->n);
    assert_int_equal(s->len[i], len);
    assert_memory_equal(s->data[i], want, len);
}

/* A config with one UART frame device: `device` is the YAML after "bus: u"
 * (frame block, byte_order, points), indented by 4. */
static struct config *load_frame(const char *device)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "buses:\n  - { name: u, type: uart, device: /dev/null, baud: 9600 }\n"
             "devices:\n  - name: d\n    bus: u\n    framing: frame\n%s", device);
    struct diag d;
    diag_init(&d);
    struct config *cfg = NULL;
    int rc = config_load_string("test.yaml", yaml, strlen(yaml), &cfg, &d);
    if (rc)
        diag_print(&d, stderr);
    diag_free(&d);
    assert_int_equal(rc, 0);
    return cfg;
}

static struct framer *new_framer(const struct config *cfg)
{
    struct framer *f = NULL;
    char err[256] = "";
    int rc = framer_new(&cfg->devices[0], &f, err, sizeof(err));
    if (rc)
        fprintf(stderr, "framer_new: %s\n", err);
    assert_int_equal(rc, 0);
    return f;
}

static void feed(struct framer *f, const uint8_t *b, size_t n, struct sink *s)
{
    framer_feed(f, b, n, sink_fn, s);
}

static int extract(const struct framer *f, const struct sink *s, size_t r,
                   const struct config *cfg, size_t p, struct value *v, char *why)
{
    assert_true(p < cfg->devices[0].n_points);
    struct framer_record rec = { s->data[r], s->len[r] };
    return framer_extract(f, &rec, &cfg->devices[0].points[p], v, why, 128);
}

static uint64_t uint_point(const struct framer *f, const struct sink *s, size_t r,
                           const struct config *cfg, size_t p)
{
    struct value v;
    char why[128] = "";
    int rc = extract(f, s, r, cfg, p, &v, why);
    if (rc != FRAMER_VALUE)
        fprintf(stderr, "point %zu: %s\n", p, why);
    assert_int_equal(rc, FRAMER_VALUE);
    assert_int_equal(v.kind, VALUE_UINT);
    return v.as.u;
}

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
    (void)state;
    assert_int_equal(checksum_sum16(PMS, 30), 0x027b);
    struct config *cfg = load_frame(PMS_DEVICE);
    struct framer *f1 = new_framer(cfg), *f2 = new_framer(cfg);
    struct sink all = { 0 }, bytes = { 0 };
    feed(f1, PMS, sizeof(PMS), &all);
    for (size_t i = 0; i < sizeof(PMS); i++)
        feed(f2, PMS + i, 1, &bytes);
    assert_int_equal(all.n, 1);
    assert_int_equal(bytes.n, 1);
    assert_rec(&all, 0, PMS, sizeof(PMS));
    assert_rec(&bytes, 0, PMS, sizeof(PMS));
    assert_int_equal(uint_point(f1, &all, 0, cfg, 0), 7);
    assert_int_equal(uint_point(f1, &all, 0, cfg, 1), 10);
    assert_int_equal(uint_point(f1, &all, 0, cfg, 2), 14);
    /* 03 84 01 2c read with the 16-bit words swapped: 0x012c0384. */
    assert_int_equal(uint_point(f1, &all, 0, cfg, 3), 0x012c0384);
    struct value v;
    char why[128];
    assert_int_equal(extract(f1, &all, 0, cfg, 4, &v, why), FRAMER_PARSE_ERROR);
    assert_string_equal(why, "bytes 30..33 past the 32-byte frame");
    assert_int_equal(extract(f1, &all, 0, cfg, 5, &v, why), FRAMER_VALUE);
    assert_int_equal(v.kind, VALUE_STRING);
    assert_int_equal(v.len, 2);
    assert_string_equal((const char *)v.bytes, "BM");   /* "42 4d 00": stops at the NUL */
    assert_int_equal(framer_stats(f1)->records, 1);
    assert_int_equal(framer_stats(f1)->parse_errors, 1);
    framer_free(f1);
    framer_free(f2);
    config_free(cfg);
}

static void test_frame_garbage_between_frames(void **state)
{
    (void)state;
    struct config *cfg = load_frame(PMS_DEVICE);
    struct framer *f = new_framer(cfg);
    struct sink s = { 0 };
    static const uint8_t junk1[] = { 0x00, 0xff, 0x42, 0x13 }, junk2[] = { 0xaa, 0x42 };
    feed(f, junk1, sizeof(junk1), &s);
    feed(f, PMS, sizeof(PMS), &s);
    feed(f, junk2, sizeof(junk2), &s);   /* ends in what may start a header */
    feed(f, PMS, sizeof(PMS), &s);
    assert_int_equal(s.n, 2);
    assert_rec(&s, 0, PMS, sizeof(PMS));
    assert_rec(&s, 1, PMS, sizeof(PMS));
    const struct framer_stats *st = framer_stats(f);
    assert_int_equal(st->garbage_bytes, 6);
    assert_int_equal(st->records, 2);
    assert_int_equal(st->bad_checksum + st->oversize, 0);
    framer_free(f);
    config_free(cfg);
}

static void test_frame_corrupted_then_good(void **state)
{
    (void)state;
    struct config *cfg = load_frame(PMS_DEVICE);
    struct framer *f = new_framer(cfg);
    struct sink s = { 0 };
    uint8_t bad[32];
    memcpy(bad, PMS, sizeof(bad));
    bad[7] ^= 0x10;   /* PM2.5 damaged on the wire */
    uint8_t stream[64];
    memcpy(stream, bad, 32);
    memcpy(stream + 32, PMS, 32);
    feed(f, stream, sizeof(stream), &s);
    assert_int_equal(s.n, 1);
    assert_rec(&s, 0, PMS, sizeof(PMS));
    const struct framer_stats *st = framer_stats(f);
    assert_int_equal(st->bad_checksum, 1);
    /* The damaged frame is searched again from its second byte: 31 bytes
     * without a header. */
    assert_int_equal(st->garbage_bytes, 31);
    framer_free(f);
    config_free(cfg);
}

static void test_frame_false_headers(void **state)
{
    (void)state;
    struct config *cfg = load_frame(PMS_DEVICE);
    struct framer *f = new_framer(cfg);
    struct sink s = { 0 };
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
    feed(f, stream, n, &s);
    assert_int_equal(s.n, 2);
    assert_rec(&s, 0, PMS, sizeof(PMS));
    assert_rec(&s, 1, PMS, sizeof(PMS));
    assert_int_equal(framer_stats(f)->bad_checksum, 2);
    framer_free(f);
    config_free(cfg);
}

static void test_frame_oversize_length(void **state)
{
    (void)state;
    struct config *cfg = load_frame(PMS_DEVICE);
    struct framer *f = new_framer(cfg);
    struct sink s = { 0 };
    /* 0x0100 bytes after the length field: past max_length 64. And one
     * whose length cannot even hold the checksum (1 byte after the field). */
    static const uint8_t huge[] = { 0x42, 0x4d, 0x01, 0x00, 0x00, 0x00 };
    static const uint8_t tiny[] = { 0x42, 0x4d, 0x00, 0x01, 0x00 };
    feed(f, huge, sizeof(huge), &s);
    feed(f, tiny, sizeof(tiny), &s);
    feed(f, PMS, sizeof(PMS), &s);
    assert_int_equal(s.n, 1);
    assert_rec(&s, 0, PMS, sizeof(PMS));
    assert_int_equal(framer_stats(f)->oversize, 1);
    assert_int_equal(framer_stats(f)->bad_checksum, 0);
    /* Reset forgets a partial frame: its tail is then garbage. */
    feed(f, PMS, 10, &s);
    framer_reset(f);
    feed(f, PMS + 10, 22, &s);
    feed(f, PMS, sizeof(PMS), &s);
    assert_int_equal(s.n, 2);
    framer_free(f);
    config_free(cfg);
}

/* ---- other layouts -------------------------------------------------------------- */

static void test_frame_fixed_length_xor8(void **state)
{
    (void)state;
    struct config *cfg = load_frame(
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
    struct framer *f = new_framer(cfg);
    struct sink s = { 0 };
    uint8_t frame[7] = { 0xaa, 0xff, 0x38, 0x02, 0x00, 0x55, 0 };
    frame[6] = checksum_xor8(frame + 1, 5);
    uint8_t stream[32] = { 0xaa, 0x01 };   /* a cut-off frame: header, 1 byte */
    memcpy(stream + 2, frame, 7);
    memcpy(stream + 9, frame, 7);
    stream[15] ^= 1;                        /* second copy damaged */
    memcpy(stream + 16, frame, 7);
    for (size_t i = 0; i < 23; i++)
        feed(f, stream + i, 1, &s);
    assert_int_equal(s.n, 2);
    assert_rec(&s, 0, frame, 7);
    assert_rec(&s, 1, frame, 7);
    /* The cut-off frame plus 5 bytes of the good one fail the checksum;
     * so does the damaged copy. */
    assert_int_equal(framer_stats(f)->bad_checksum, 2);
    struct value v;
    char why[128];
    assert_int_equal(extract(f, &s, 0, cfg, 0, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_INT && v.as.i == -200);          /* ff 38 big-endian */
    assert_int_equal(extract(f, &s, 0, cfg, 1, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_INT && v.as.i == 0x38ff);        /* the device's dcba */
    assert_int_equal(extract(f, &s, 0, cfg, 2, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_BOOL && v.as.b);
    assert_int_equal(extract(f, &s, 0, cfg, 3, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_BOOL && !v.as.b);
    assert_int_equal(extract(f, &s, 0, cfg, 4, &v, why), FRAMER_VALUE);
    assert_int_equal(v.kind, VALUE_RAW);
    assert_int_equal(v.len, 3);
    assert_memory_equal(v.bytes, frame + 3, 3);
    framer_free(f);
    config_free(cfg);
}

static void test_frame_modbus_rtu_crc_little(void **state)
{
    (void)state;
    static const uint8_t reply[] = { 0x01, 0x03, 0x02, 0x00, 0x07, 0xF9, 0x86 };
    assert_int_equal(checksum_crc16_modbus(reply, 5), 0x86F9);
    static const char device[] =
        "    frame:\n"
        "      header: \"01 03\"\n"
        "      length: { offset: 2, size: 1, counts: payload }\n"
        "      checksum: { type: crc16_modbus, endian: %s }\n"
        "      max_length: 256\n"
        "    points:\n"
        "      - { name: reg, byte_offset: 3, type: uint16 }\n";
    char yaml[512];
    snprintf(yaml, sizeof(yaml), device, "little");
    struct config *cfg = load_frame(yaml);
    struct framer *f = new_framer(cfg);
    struct sink s = { 0 };
    feed(f, reply, sizeof(reply), &s);
    assert_int_equal(s.n, 1);
    assert_rec(&s, 0, reply, sizeof(reply));
    assert_int_equal(uint_point(f, &s, 0, cfg, 0), 7);
    framer_free(f);
    config_free(cfg);

    /* Read big-endian, the same bytes fail. */
    snprintf(yaml, sizeof(yaml), device, "big");
    cfg = load_frame(yaml);
    f = new_framer(cfg);
    memset(&s, 0, sizeof(s));
    feed(f, reply, sizeof(reply), &s);
    assert_int_equal(s.n, 0);
    assert_int_equal(framer_stats(f)->bad_checksum, 1);
    framer_free(f);
    config_free(cfg);
}

static void test_frame_little_length_counts_frame_adjust(void **state)
{
    (void)state;
    /* 7e, a little-endian u16 that counts the frame minus 2, payload, sum8
     * of everything after the header. */
    struct config *cfg = load_frame(
        "    frame:\n"
        "      header: \"7e\"\n"
        "      length: { offset: 1, size: 2, endian: little, counts: frame, adjust: 2 }\n"
        "      checksum: { type: sum8, start: 1 }\n"
        "    points:\n"
        "      - { name: v, byte_offset: 3, type: uint32, byte_order: dcba }\n"
        "      - { name: w, byte_offset: 7, type: uint16 }\n");
    struct framer *f = new_framer(cfg);
    struct sink s = { 0 };
    uint8_t frame[10] = { 0x7e, 0x08, 0x00, 0x78, 0x56, 0x34, 0x12, 0xbe, 0xef, 0 };
    frame[9] = checksum_sum8(frame + 1, 8);
    /* The same frame with a 0x7e inside noise in front. */
    uint8_t stream[16] = { 0x7e, 0x7e };
    memcpy(stream + 2, frame, sizeof(frame));
    feed(f, stream, 12, &s);
    assert_int_equal(s.n, 1);
    assert_rec(&s, 0, frame, sizeof(frame));
    assert_int_equal(uint_point(f, &s, 0, cfg, 0), 0x12345678);
    assert_int_equal(uint_point(f, &s, 0, cfg, 1), 0xbeef);
    /* Both leading 7e bytes read lengths of over 2000: oversize, resynced. */
    assert_int_equal(framer_stats(f)->oversize, 2);
    framer_free(f);
    config_free(cfg);
}

static void test_frame_new_rejects_impossible_layouts(void **state)
{
    (void)state;
    /* Validation lets these through; the framer cannot use them. */
    struct config *cfg = load_frame(
        "    frame:\n"
        "      header: \"aa bb\"\n"
        "      fixed_length: 3\n"
        "      checksum: { type: sum16 }\n"
        "    points: [ { name: v, byte_offset: 0, type: uint16 } ]\n");
    struct framer *f = NULL;
    char err[256] = "";
    assert_int_equal(framer_new(&cfg->devices[0], &f, err, sizeof(err)), -1);
    assert_null(f);
    assert_string_equal(err, "fixed_length 3 is too short for header and checksum (4)");
    config_free(cfg);
    cfg = load_frame(
        "    frame:\n"
        "      header: \"aa\"\n"
        "      length: { offset: 100, size: 2 }\n"
        "      max_length: 64\n"
        "    points: [ { name: v, byte_offset: 0, type: uint16 } ]\n");
    assert_int_equal(framer_new(&cfg->devices[0], &f, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "past max_length 64"));
    config_free(cfg);
}

/* ---- fuzz ----------------------------------------------------------------- */

/* Frames inserted into noise all come out intact and in order; frames the
 * noise happens to form may come out between them. */
struct expect {
    uint8_t frames[2000][32];
    size_t flen;
    size_t count, next;
};

static void expect_fn(void *ctx, const struct framer_record *rec)
{
    struct expect *e = ctx;
    if (e->next < e->count && rec->len == e->flen &&
        memcmp(rec->data, e->frames[e->next], e->flen) == 0)
        e->next++;
}

/* Build ~200 KB of noise and frames (made by `make_frame`), feed it in
 * random chunks, and check every frame came out. */
static void fuzz_run(const struct config *cfg, struct expect *e, unsigned seed, size_t noise_max,
                     void (*make_frame)(uint8_t *frame))
{
    static uint8_t stream[240 * 1024];
    size_t n = 0;
    srand(seed);
    e->count = e->next = 0;
    while (n < 200 * 1024 && e->count < 2000) {
        size_t noise = (size_t)rand() % noise_max;
        for (size_t i = 0; i < noise; i++)
            stream[n++] = (uint8_t)rand();
        make_frame(e->frames[e->count]);
        memcpy(stream + n, e->frames[e->count++], e->flen);
        n += e->flen;
    }
    assert_true(n >= 150 * 1024);
    struct framer *f = new_framer(cfg);
    for (size_t pos = 0; pos < n;) {
        size_t chunk = 1 + (size_t)rand() % 600;
        if (chunk > n - pos)
            chunk = n - pos;
        framer_feed(f, stream + pos, chunk, expect_fn, e);
        pos += chunk;
    }
    assert_int_equal(e->next, e->count);
    assert_true(framer_stats(f)->garbage_bytes > 100 * 1024);
    framer_free(f);
}

static void make_pms(uint8_t *frame)
{
    memcpy(frame, PMS, 4);
    for (size_t i = 4; i < 30; i++)
        frame[i] = (uint8_t)rand();
    uint16_t sum = checksum_sum16(frame, 30);
    frame[30] = (uint8_t)(sum >> 8);
    frame[31] = (uint8_t)sum;
}

static void make_xor(uint8_t *frame)
{
    frame[0] = 0xaa;
    for (size_t i = 1; i < 6; i++)
        frame[i] = (uint8_t)rand();
    frame[6] = checksum_xor8(frame + 1, 5);
}

static void test_frame_fuzz_noise(void **state)
{
    (void)state;
    static struct expect e;
    struct config *cfg = load_frame(PMS_DEVICE);
    e.flen = 32;
    fuzz_run(cfg, &e, 7, 600, make_pms);
    config_free(cfg);
    /* A one-byte header turns up every 256 bytes of noise: many false starts. */
    cfg = load_frame("    frame:\n      header: \"aa\"\n      fixed_length: 7\n"
                     "      checksum: { type: xor8, start: 1 }\n"
                     "    points: [ { name: v, byte_offset: 1, type: uint16 } ]\n");
    e.flen = 7;
    fuzz_run(cfg, &e, 11, 300, make_xor);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_pms5003),
        cmocka_unit_test(test_frame_garbage_between_frames),
        cmocka_unit_test(test_frame_corrupted_then_good),
        cmocka_unit_test(test_frame_false_headers),
        cmocka_unit_test(test_frame_oversize_length),
        cmocka_unit_test(test_frame_fixed_length_xor8),
        cmocka_unit_test(test_frame_modbus_rtu_crc_little),
        cmocka_unit_test(test_frame_little_length_counts_frame_adjust),
        cmocka_unit_test(test_frame_new_rejects_impossible_layouts),
        cmocka_unit_test(test_frame_fuzz_noise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
