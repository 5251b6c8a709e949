/* Tests of the checksums and of the text-line framer: delimiters (LF, CRLF,
 * multi-byte), over-long lines, any split of the input, the four line
 * formats, the text-to-value rules, and a seeded fuzz run under ASan. */
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

#define SINK_MAX 64
#define REC_MAX 1024

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

static void assert_rec(const struct sink *s, size_t i, const char *want)
{
    assert_true(i < s->n);
    assert_int_equal(s->len[i], strlen(want));
    assert_memory_equal(s->data[i], want, strlen(want));
}

static struct framer_record rec_of(const struct sink *s, size_t i)
{
    return (struct framer_record){ s->data[i], s->len[i] };
}

/* A config with one UART line device; `line` is its line block, `points`
 * its point list, both in YAML flow style. */
static struct config *load_line(const char *line, const char *points)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "buses:\n  - { name: u, type: uart, device: /dev/null, baud: 9600 }\n"
             "devices:\n  - name: d\n    bus: u\n    framing: line\n    line: %s\n"
             "    points: %s\n", line, points);
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
    assert_non_null(f);
    return f;
}

static void feed_str(struct framer *f, const char *s, struct sink *sink)
{
    framer_feed(f, (const uint8_t *)s, strlen(s), sink_fn, sink);
}

static void feed_bytewise(struct framer *f, const char *s, struct sink *sink)
{
    for (size_t i = 0; s[i]; i++)
        framer_feed(f, (const uint8_t *)s + i, 1, sink_fn, sink);
}

static const struct cfg_point *point(const struct config *cfg, size_t i)
{
    assert_true(i < cfg->devices[0].n_points);
    return &cfg->devices[0].points[i];
}

/* Extract point i from record r and expect `want`, with the reason in why. */
static int extract(const struct framer *f, const struct sink *s, size_t r,
                   const struct config *cfg, size_t i, struct value *v, char *why)
{
    struct framer_record rec = rec_of(s, r);
    return framer_extract(f, &rec, point(cfg, i), v, why, 128);
}

/* ---- checksums ------------------------------------------------------------- */

static void test_checksum_check_values(void **state)
{
    (void)state;
    const uint8_t *check = (const uint8_t *)"123456789";
    assert_int_equal(checksum_crc16_modbus(check, 9), 0x4B37);
    assert_int_equal(checksum_crc8(check, 9), 0xF4);
    assert_int_equal(checksum_sum8(check, 9), 0xDD);    /* 477 mod 256 */
    assert_int_equal(checksum_sum16(check, 9), 477);
    assert_int_equal(checksum_xor8(check, 9), 0x31);
    /* A Modbus RTU reply: 01 03 02 00 07, CRC F9 86 on the wire (low first). */
    const uint8_t reply[] = { 0x01, 0x03, 0x02, 0x00, 0x07 };
    assert_int_equal(checksum_crc16_modbus(reply, sizeof(reply)), 0x86F9);
    assert_int_equal(checksum_size(CFG_CHECKSUM_CRC16_MODBUS), 2);
    assert_int_equal(checksum_size(CFG_CHECKSUM_XOR8), 1);
    assert_int_equal(checksum_size(CFG_CHECKSUM_NONE), 0);
    assert_int_equal(checksum_compute(CFG_CHECKSUM_CRC8, check, 9), 0xF4);
    assert_int_equal(checksum_compute(CFG_CHECKSUM_SUM16, NULL, 0), 0);
}

/* ---- framing ------------------------------------------------------------- */

static void test_line_split_feeds_same_records(void **state)
{
    (void)state;
    struct config *cfg = load_line("{ format: value }", "[ { name: v } ]");
    const char *input = "21.5\r\nhello world\n\n\r\n42\r\n";
    struct sink all = { 0 }, bytes = { 0 };
    struct framer *f1 = new_framer(cfg), *f2 = new_framer(cfg);
    feed_str(f1, input, &all);
    feed_bytewise(f2, input, &bytes);
    assert_int_equal(all.n, 3);
    assert_int_equal(bytes.n, 3);
    assert_rec(&all, 0, "21.5");    /* the \r before \n is dropped */
    assert_rec(&all, 1, "hello world");
    assert_rec(&all, 2, "42");      /* blank lines are no records */
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(all.len[i], bytes.len[i]);
        assert_memory_equal(all.data[i], bytes.data[i], all.len[i]);
    }
    assert_int_equal(framer_stats(f1)->records, 3);
    assert_int_equal(framer_stats(f2)->records, 3);
    /* A partial line waits for its delimiter, and reset forgets it. */
    feed_str(f1, "partial", &all);
    assert_int_equal(all.n, 3);
    framer_reset(f1);
    feed_str(f1, "new\n", &all);
    assert_rec(&all, 3, "new");
    framer_free(f1);
    framer_free(f2);
    config_free(cfg);
}

static void test_line_crlf_delimiter_keeps_lone_lf(void **state)
{
    (void)state;
    struct config *cfg = load_line("{ delimiter: '\\r\\n' }", "[ { name: v } ]");
    struct framer *f = new_framer(cfg);
    struct sink s = { 0 };
    feed_bytewise(f, "a\nb\r\nc\r", &s);
    assert_int_equal(s.n, 1);
    assert_rec(&s, 0, "a\nb");
    feed_str(f, "\n", &s);
    assert_rec(&s, 1, "c");
    framer_free(f);
    config_free(cfg);
}

static void test_line_custom_delimiter(void **state)
{
    (void)state;
    struct config *cfg = load_line("{ delimiter: '||', format: csv }",
                                   "[ { name: a, column: 0 }, { name: b, column: 1 } ]");
    struct framer *f = new_framer(cfg);
    struct sink s = { 0 };
    /* A single '|' is data; "|||" ends a line whose last byte is '|'. */
    feed_bytewise(f, "1,2||x|y||3|||", &s);
    assert_int_equal(s.n, 3);
    assert_rec(&s, 0, "1,2");
    assert_rec(&s, 1, "x|y");
    assert_rec(&s, 2, "3");   /* the first "||" ends it; the last '|' waits */
    struct value v;
    char why[128];
    assert_int_equal(extract(f, &s, 0, cfg, 1, &v, why), FRAMER_VALUE);
    assert_int_equal(v.kind, VALUE_INT);
    assert_int_equal(v.as.i, 2);
    framer_free(f);
    config_free(cfg);
}

static void test_line_hex_escape_delimiter(void **state)
{
    (void)state;
    /* ETX (0x03) ends a record; YAML double quotes keep the backslash. */
    struct config *cfg = load_line("{ delimiter: \"\\\\x03\" }", "[ { name: v } ]");
    struct framer *f = new_framer(cfg);
    struct sink s = { 0 };
    const uint8_t in[] = { 'o', 'k', 0x03, 'x', 0x03 };
    framer_feed(f, in, sizeof(in), sink_fn, &s);
    assert_int_equal(s.n, 2);
    assert_rec(&s, 0, "ok");
    assert_rec(&s, 1, "x");
    framer_free(f);
    config_free(cfg);
}

static void test_line_overflow_skipped_and_counted(void **state)
{
    (void)state;
    struct config *cfg = load_line("{ max_length: 8 }", "[ { name: v } ]");
    struct sink a = { 0 }, b = { 0 };
    /* 8 bytes fit (with or without \r); 9 do not; 40 do not either and
     * cross the buffer several times; the next line is intact. */
    const char *in = "12345678\r\n123456789\n"
                     "0123456789012345678901234567890123456789\nok\n";
    struct framer *f1 = new_framer(cfg), *f2 = new_framer(cfg);
    feed_str(f1, in, &a);
    feed_bytewise(f2, in, &b);
    for (int k = 0; k < 2; k++) {
        const struct sink *s = k ? &b : &a;
        const struct framer_stats *st = framer_stats(k ? f2 : f1);
        assert_int_equal(s->n, 2);
        assert_rec(s, 0, "12345678");
        assert_rec(s, 1, "ok");
        assert_int_equal(st->oversize, 2);
        assert_int_equal(st->records, 2);
    }
    framer_free(f1);
    framer_free(f2);
    config_free(cfg);
}

/* ---- formats and values ------------------------------------------------------ */

static void test_line_regex_groups(void **state)
{
    (void)state;
    struct config *cfg = load_line(
        "{ format: regex, regex: 'T=([0-9.+-]+),H=([0-9]+)(,S=([a-z]+))?' }",
        "[ { name: t, group: 1 }, { name: h, group: 2, type: uint16 },"
        "  { name: s, group: 4 }, { name: all, group: 0 } ]");
    struct framer *f = new_framer(cfg);
    struct sink s = { 0 };
    feed_str(f, "T=-21.5,H=40,S=ok\nT=3,H=41\nnoise\n", &s);
    assert_int_equal(s.n, 3);
    struct value v;
    char why[128];
    assert_int_equal(extract(f, &s, 0, cfg, 0, &v, why), FRAMER_VALUE);
    assert_int_equal(v.kind, VALUE_FLOAT);
    assert_true(v.as.f == -21.5);
    assert_int_equal(extract(f, &s, 0, cfg, 1, &v, why), FRAMER_VALUE);
    assert_int_equal(v.kind, VALUE_UINT);
    assert_int_equal(v.as.u, 40);
    assert_int_equal(extract(f, &s, 0, cfg, 2, &v, why), FRAMER_VALUE);
    assert_int_equal(v.kind, VALUE_STRING);
    assert_string_equal((const char *)v.bytes, "ok");
    assert_int_equal(extract(f, &s, 0, cfg, 3, &v, why), FRAMER_VALUE);
    assert_string_equal((const char *)v.bytes, "T=-21.5,H=40,S=ok");
    /* An optional group that did not take part: absent, not an error. */
    assert_int_equal(extract(f, &s, 1, cfg, 2, &v, why), FRAMER_ABSENT);
    assert_int_equal(extract(f, &s, 1, cfg, 0, &v, why), FRAMER_VALUE);
    assert_int_equal(v.kind, VALUE_INT);
    assert_int_equal(v.as.i, 3);
    assert_int_equal(extract(f, &s, 2, cfg, 0, &v, why), FRAMER_PARSE_ERROR);
    assert_string_equal(why, "regex did not match");
    assert_int_equal(framer_stats(f)->parse_errors, 1);
    framer_free(f);
    config_free(cfg);
}

static void test_line_regex_group_beyond_regex(void **state)
{
    (void)state;
    struct config *cfg = load_line("{ format: regex, regex: 'T=([0-9]+)' }",
                                   "[ { name: t, group: 2 } ]");
    struct framer *f = NULL;
    char err[256] = "";
    assert_int_equal(framer_new(&cfg->devices[0], &f, err, sizeof(err)), -1);
    assert_null(f);
    assert_non_null(strstr(err, "group 2"));
    config_free(cfg);
}

static void test_line_csv_columns(void **state)
{
    (void)state;
    struct config *cfg = load_line(
        "{ format: csv, separator: ';' }",
        "[ { name: a, column: 0 }, { name: b, column: 1 }, { name: c, column: 2 },"
        "  { name: d, column: 3 }, { name: e, column: 4, type: float32 } ]");
    struct framer *f = new_framer(cfg);
    struct sink s = { 0 };
    feed_str(f, " 12 ; abc ;;7.25\n", &s);
    assert_int_equal(s.n, 1);
    struct value v;
    char why[128];
    assert_int_equal(extract(f, &s, 0, cfg, 0, &v, why), FRAMER_VALUE);
    assert_int_equal(v.kind, VALUE_INT);
    assert_int_equal(v.as.i, 12);
    assert_int_equal(extract(f, &s, 0, cfg, 1, &v, why), FRAMER_VALUE);
    assert_int_equal(v.kind, VALUE_STRING);
    assert_string_equal((const char *)v.bytes, "abc");
    assert_int_equal(v.len, 3);
    assert_int_equal(extract(f, &s, 0, cfg, 2, &v, why), FRAMER_ABSENT);   /* empty */
    assert_int_equal(extract(f, &s, 0, cfg, 3, &v, why), FRAMER_VALUE);
    assert_int_equal(v.kind, VALUE_FLOAT);
    assert_true(v.as.f == 7.25);
    assert_int_equal(extract(f, &s, 0, cfg, 4, &v, why), FRAMER_PARSE_ERROR);
    assert_string_equal(why, "column 4 missing (the line has 4)");
    assert_int_equal(framer_stats(f)->parse_errors, 1);
    framer_free(f);
    config_free(cfg);
}

static void test_line_kv_with_spaces(void **state)
{
    (void)state;
    struct config *cfg = load_line(
        "{ format: kv, separator: ' ', kv_separator: ':' }",
        "[ { name: t, key: temp }, { name: h, key: hum, type: int16 },"
        "  { name: p, key: press }, { name: m, key: mode } ]");
    struct framer *f = new_framer(cfg);
    struct sink s = { 0 };
    feed_str(f, "temp:21.5  hum:40 junk mode:AUTO\n", &s);
    assert_int_equal(s.n, 1);
    struct value v;
    char why[128];
    assert_int_equal(extract(f, &s, 0, cfg, 0, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_FLOAT && v.as.f == 21.5);
    assert_int_equal(extract(f, &s, 0, cfg, 1, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_INT && v.as.i == 40);
    assert_int_equal(extract(f, &s, 0, cfg, 2, &v, why), FRAMER_ABSENT);
    assert_int_equal(extract(f, &s, 0, cfg, 3, &v, why), FRAMER_VALUE);
    assert_int_equal(v.kind, VALUE_STRING);
    assert_string_equal((const char *)v.bytes, "AUTO");
    framer_free(f);
    config_free(cfg);

    /* The defaults: ',' between pairs, '=' between key and value, spaces trimmed. */
    cfg = load_line("{ format: kv }", "[ { name: t, key: T }, { name: h, key: H } ]");
    f = new_framer(cfg);
    memset(&s, 0, sizeof(s));
    feed_str(f, " T = 19 , H= 55.5 \n", &s);
    assert_int_equal(extract(f, &s, 0, cfg, 0, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_INT && v.as.i == 19);
    assert_int_equal(extract(f, &s, 0, cfg, 1, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_FLOAT && v.as.f == 55.5);
    framer_free(f);
    config_free(cfg);
}

static void test_line_value_inference(void **state)
{
    (void)state;
    struct config *cfg = load_line("{ format: value }", "[ { name: v } ]");
    struct framer *f = new_framer(cfg);
    struct sink s = { 0 };
    feed_str(f, "  -17 \n3.5e2\nOK 1\n0x1f\n1e999\n", &s);
    assert_int_equal(s.n, 5);
    struct value v;
    char why[128];
    assert_int_equal(extract(f, &s, 0, cfg, 0, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_INT && v.as.i == -17);
    assert_int_equal(extract(f, &s, 1, cfg, 0, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_FLOAT && v.as.f == 350.0);
    assert_int_equal(extract(f, &s, 2, cfg, 0, &v, why), FRAMER_VALUE);
    assert_int_equal(v.kind, VALUE_STRING);
    assert_string_equal((const char *)v.bytes, "OK 1");
    assert_int_equal(extract(f, &s, 3, cfg, 0, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_INT && v.as.i == 31);
    /* Too big for a double: text, not infinity. */
    assert_int_equal(extract(f, &s, 4, cfg, 0, &v, why), FRAMER_VALUE);
    assert_int_equal(v.kind, VALUE_STRING);
    framer_free(f);
    config_free(cfg);
}

static void test_line_explicit_types(void **state)
{
    (void)state;
    struct config *cfg = load_line(
        "{ format: csv }",
        "[ { name: i16, column: 0, type: int16 }, { name: u16, column: 0, type: uint16 },"
        "  { name: b, column: 0, type: bool }, { name: s, column: 0, type: string },"
        "  { name: f, column: 0, type: float64 }, { name: u64, column: 0, type: uint64 } ]");
    struct framer *f = new_framer(cfg);
    struct sink s = { 0 };
    feed_str(f, "-5\n70000\non\nabc\n1\n18446744073709551615\n12.0\nFALSE\n", &s);
    assert_int_equal(s.n, 8);
    struct value v;
    char why[128];
    /* "-5" */
    assert_int_equal(extract(f, &s, 0, cfg, 0, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_INT && v.as.i == -5);
    assert_int_equal(extract(f, &s, 0, cfg, 1, &v, why), FRAMER_PARSE_ERROR);
    assert_string_equal(why, "out of range for uint16: '-5'");
    assert_int_equal(extract(f, &s, 0, cfg, 3, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_STRING && strcmp((const char *)v.bytes, "-5") == 0);
    /* "70000" */
    assert_int_equal(extract(f, &s, 1, cfg, 0, &v, why), FRAMER_PARSE_ERROR);
    assert_string_equal(why, "out of range for int16: '70000'");
    assert_int_equal(extract(f, &s, 1, cfg, 4, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_FLOAT && v.as.f == 70000.0);
    /* "on", "abc", "1", "FALSE" as bool */
    assert_int_equal(extract(f, &s, 2, cfg, 2, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_BOOL && v.as.b);
    assert_int_equal(extract(f, &s, 3, cfg, 2, &v, why), FRAMER_PARSE_ERROR);
    assert_string_equal(why, "not a bool: 'abc'");
    assert_int_equal(extract(f, &s, 4, cfg, 2, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_BOOL && v.as.b);
    assert_int_equal(extract(f, &s, 7, cfg, 2, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_BOOL && !v.as.b);
    /* "abc" as a number */
    assert_int_equal(extract(f, &s, 3, cfg, 4, &v, why), FRAMER_PARSE_ERROR);
    assert_string_equal(why, "not a number: 'abc'");
    assert_int_equal(extract(f, &s, 3, cfg, 0, &v, why), FRAMER_PARSE_ERROR);
    assert_string_equal(why, "not an integer: 'abc'");
    /* uint64 max, and "12.0" as an integer */
    assert_int_equal(extract(f, &s, 5, cfg, 5, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_UINT && v.as.u == UINT64_MAX);
    assert_int_equal(extract(f, &s, 6, cfg, 0, &v, why), FRAMER_VALUE);
    assert_true(v.kind == VALUE_INT && v.as.i == 12);
    assert_int_equal(framer_stats(f)->parse_errors, 5);
    framer_free(f);
    config_free(cfg);
}

/* ---- fuzz ---------------------------------------------------------------- */

/* Lines inserted into noise must all come out, in order and intact; other
 * lines (the noise cut at its own '\n' bytes) may come out between them. */
struct expect {
    char lines[400][40];
    size_t count;
    size_t next;
};

static void expect_fn(void *ctx, const struct framer_record *rec)
{
    struct expect *e = ctx;
    assert_true(rec->len > 0 && rec->len <= 64);
    if (e->next < e->count && rec->len == strlen(e->lines[e->next]) &&
        memcmp(rec->data, e->lines[e->next], rec->len) == 0)
        e->next++;
}

static void test_line_fuzz_noise(void **state)
{
    (void)state;
    struct config *cfg = load_line("{ max_length: 64, format: csv }",
                                   "[ { name: a, column: 0 } ]");
    struct framer *f = new_framer(cfg);
    static struct expect e;
    static uint8_t stream[220 * 1024];
    size_t n = 0;
    srand(20240611);
    while (n < 200 * 1024 && e.count < 400) {
        size_t noise = (size_t)(rand() % 900);
        for (size_t i = 0; i < noise; i++)
            stream[n++] = (uint8_t)rand();
        char *line = e.lines[e.count++];
        snprintf(line, sizeof(e.lines[0]), "L%zu,%d,%d", e.count, rand() % 1000, rand());
        n += (size_t)sprintf((char *)stream + n, "\n%s\r\n", line);
    }
    assert_true(n >= 150 * 1024);
    /* Feed in random-sized chunks, from 1 byte to 1000. */
    for (size_t pos = 0; pos < n;) {
        size_t chunk = 1 + (size_t)(rand() % 1000);
        if (chunk > n - pos)
            chunk = n - pos;
        framer_feed(f, stream + pos, chunk, expect_fn, &e);
        pos += chunk;
    }
    assert_int_equal(e.next, e.count);
    assert_true(framer_stats(f)->records >= e.count);
    assert_true(framer_stats(f)->oversize > 0);
    framer_free(f);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checksum_check_values),
        cmocka_unit_test(test_line_split_feeds_same_records),
        cmocka_unit_test(test_line_crlf_delimiter_keeps_lone_lf),
        cmocka_unit_test(test_line_custom_delimiter),
        cmocka_unit_test(test_line_hex_escape_delimiter),
        cmocka_unit_test(test_line_overflow_skipped_and_counted),
        cmocka_unit_test(test_line_regex_groups),
        cmocka_unit_test(test_line_regex_group_beyond_regex),
        cmocka_unit_test(test_line_csv_columns),
        cmocka_unit_test(test_line_kv_with_spaces),
        cmocka_unit_test(test_line_value_inference),
        cmocka_unit_test(test_line_explicit_types),
        cmocka_unit_test(test_line_fuzz_noise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
