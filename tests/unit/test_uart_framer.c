/* Tests of the checksums (and the hex byte of NMEA's "*HH"), and of the
 * text-line framer: delimiters (LF, CRLF, multi-byte), over-long lines, any
 * split of the input, the four line formats, the text-to-value rules, and a
 * seeded fuzz run under ASan. */
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

/* ---- helpers ------------------------------------------------------------- */

/* The device block of a line device: `line` is its line block, `points` its
 * point list, both in YAML flow style. */
static const char *line_device(const char *line, const char *points)
{
    static char dev[1024];
    int n = snprintf(dev, sizeof(dev), "    line: %s\n    points: %s\n", line, points);
    assert_true(n > 0 && (size_t)n < sizeof(dev));
    return dev;
}

static void open_line(struct uart_test *t, const char *line, const char *points)
{
    uart_test_open(t, "line", line_device(line, points));
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

static void test_checksum_hex_byte(void **state)
{
    (void)state;
    assert_int_equal(checksum_hex_byte("6A"), 0x6A);
    assert_int_equal(checksum_hex_byte("6a"), 0x6A);
    assert_int_equal(checksum_hex_byte("00"), 0x00);
    assert_int_equal(checksum_hex_byte("fF"), 0xFF);
    assert_int_equal(checksum_hex_byte("47\r\n"), 0x47);   /* only two digits are read */
    assert_int_equal(checksum_hex_byte("g0"), -1);
    assert_int_equal(checksum_hex_byte("0g"), -1);
    assert_int_equal(checksum_hex_byte("-1"), -1);
    assert_int_equal(checksum_hex_byte("\xb0" "0"), -1);   /* a high byte is no digit */
    assert_int_equal(checksum_hex_byte("4"), -1);
    assert_int_equal(checksum_hex_byte(""), -1);
}

/* ---- framing ------------------------------------------------------------- */

static void test_line_split_feeds_same_records(void **state)
{
    struct uart_test *t = *state;
    open_line(t, "{ format: value }", "[ { name: v } ]");
    const char *input = "21.5\r\nhello world\n\n\r\n42\r\n";
    uart_test_feed_both_ways(t, input, strlen(input));
    assert_int_equal(t->s.n, 3);
    uart_test_assert_text(t, 0, "21.5");    /* the \r before \n is dropped */
    uart_test_assert_text(t, 1, "hello world");
    uart_test_assert_text(t, 2, "42");      /* blank lines are no records */
    assert_int_equal(framer_stats(t->f)->records, 3);
    /* A partial line waits for its delimiter, and reset forgets it. */
    uart_test_feed_str(t, "partial");
    assert_int_equal(t->s.n, 3);
    framer_reset(t->f);
    uart_test_feed_str(t, "new\n");
    uart_test_assert_text(t, 3, "new");
}

static void test_line_crlf_delimiter_keeps_lone_lf(void **state)
{
    struct uart_test *t = *state;
    open_line(t, "{ delimiter: '\\r\\n' }", "[ { name: v } ]");
    const char *in = "a\nb\r\nc\r";
    uart_test_feed_bytewise(t, in, strlen(in));
    assert_int_equal(t->s.n, 1);
    uart_test_assert_text(t, 0, "a\nb");
    uart_test_feed_str(t, "\n");
    uart_test_assert_text(t, 1, "c");
}

static void test_line_custom_delimiter(void **state)
{
    struct uart_test *t = *state;
    open_line(t, "{ delimiter: '||', format: csv }",
              "[ { name: a, column: 0 }, { name: b, column: 1 } ]");
    /* A single '|' is data; "|||" ends a line whose last byte is '|'. */
    const char *in = "1,2||x|y||3|||";
    uart_test_feed_bytewise(t, in, strlen(in));
    assert_int_equal(t->s.n, 3);
    uart_test_assert_text(t, 0, "1,2");
    uart_test_assert_text(t, 1, "x|y");
    uart_test_assert_text(t, 2, "3");   /* the first "||" ends it; the last '|' waits */
    uart_test_expect_int(t, 0, 1, 2);
}

static void test_line_hex_escape_delimiter(void **state)
{
    struct uart_test *t = *state;
    /* ETX (0x03) ends a record; YAML double quotes keep the backslash. */
    open_line(t, "{ delimiter: \"\\\\x03\" }", "[ { name: v } ]");
    const uint8_t in[] = { 'o', 'k', 0x03, 'x', 0x03 };
    uart_test_feed(t, in, sizeof(in));
    assert_int_equal(t->s.n, 2);
    uart_test_assert_text(t, 0, "ok");
    uart_test_assert_text(t, 1, "x");
}

static void test_line_overflow_skipped_and_counted(void **state)
{
    struct uart_test *t = *state;
    open_line(t, "{ max_length: 8 }", "[ { name: v } ]");
    /* 8 bytes fit (with or without \r); 9 do not; 40 do not either and
     * cross the buffer several times; the next line is intact. Fed whole
     * and byte by byte, with the same records and counts. */
    const char *in = "12345678\r\n123456789\n"
                     "0123456789012345678901234567890123456789\nok\n";
    uart_test_feed_both_ways(t, in, strlen(in));
    assert_int_equal(t->s.n, 2);
    uart_test_assert_text(t, 0, "12345678");
    uart_test_assert_text(t, 1, "ok");
    assert_int_equal(framer_stats(t->f)->oversize, 2);
    assert_int_equal(framer_stats(t->f)->records, 2);
}

/* ---- formats and values ------------------------------------------------------ */

static void test_line_regex_groups(void **state)
{
    struct uart_test *t = *state;
    open_line(t, "{ format: regex, regex: 'T=([0-9.+-]+),H=([0-9]+)(,S=([a-z]+))?' }",
              "[ { name: t, group: 1 }, { name: h, group: 2, type: uint16 },"
              "  { name: s, group: 4 }, { name: all, group: 0 } ]");
    uart_test_feed_str(t, "T=-21.5,H=40,S=ok\nT=3,H=41\nnoise\n");
    assert_int_equal(t->s.n, 3);
    uart_test_expect_float(t, 0, 0, -21.5, 0);
    uart_test_expect_uint(t, 0, 1, 40);
    uart_test_expect_string(t, 0, 2, "ok");
    uart_test_expect_string(t, 0, 3, "T=-21.5,H=40,S=ok");
    /* An optional group that did not take part: absent, not an error. */
    uart_test_expect_absent(t, 1, 2);
    uart_test_expect_int(t, 1, 0, 3);
    uart_test_expect_error(t, 2, 0, "regex did not match");
    assert_int_equal(framer_stats(t->f)->parse_errors, 1);
}

static void test_line_regex_group_beyond_regex(void **state)
{
    struct uart_test *t = *state;
    uart_test_load(t, "line", line_device("{ format: regex, regex: 'T=([0-9]+)' }",
                                          "[ { name: t, group: 2 } ]"));
    assert_non_null(strstr(uart_test_new_fails(t), "group 2"));
}

static void test_line_csv_columns(void **state)
{
    struct uart_test *t = *state;
    open_line(t, "{ format: csv, separator: ';' }",
              "[ { name: a, column: 0 }, { name: b, column: 1 }, { name: c, column: 2 },"
              "  { name: d, column: 3 }, { name: e, column: 4, type: float32 } ]");
    uart_test_feed_str(t, " 12 ; abc ;;7.25\n");
    assert_int_equal(t->s.n, 1);
    uart_test_expect_int(t, 0, 0, 12);
    uart_test_expect_string(t, 0, 1, "abc");
    uart_test_expect_absent(t, 0, 2);   /* empty */
    uart_test_expect_float(t, 0, 3, 7.25, 0);
    uart_test_expect_error(t, 0, 4, "column 4 missing (the line has 4)");
    assert_int_equal(framer_stats(t->f)->parse_errors, 1);
}

static void test_line_kv_with_spaces(void **state)
{
    struct uart_test *t = *state;
    open_line(t, "{ format: kv, separator: ' ', kv_separator: ':' }",
              "[ { name: t, key: temp }, { name: h, key: hum, type: int16 },"
              "  { name: p, key: press }, { name: m, key: mode } ]");
    uart_test_feed_str(t, "temp:21.5  hum:40 junk mode:AUTO\n");
    assert_int_equal(t->s.n, 1);
    uart_test_expect_float(t, 0, 0, 21.5, 0);
    uart_test_expect_int(t, 0, 1, 40);
    uart_test_expect_absent(t, 0, 2);
    uart_test_expect_string(t, 0, 3, "AUTO");

    /* The defaults: ',' between pairs, '=' between key and value, spaces trimmed. */
    open_line(t, "{ format: kv }", "[ { name: t, key: T }, { name: h, key: H } ]");
    uart_test_feed_str(t, " T = 19 , H= 55.5 \n");
    uart_test_expect_int(t, 0, 0, 19);
    uart_test_expect_float(t, 0, 1, 55.5, 0);
}

static void test_line_value_inference(void **state)
{
    struct uart_test *t = *state;
    open_line(t, "{ format: value }", "[ { name: v } ]");
    uart_test_feed_str(t, "  -17 \n3.5e2\nOK 1\n0x1f\n1e999\n");
    assert_int_equal(t->s.n, 5);
    uart_test_expect_int(t, 0, 0, -17);
    uart_test_expect_float(t, 1, 0, 350.0, 0);
    uart_test_expect_string(t, 2, 0, "OK 1");
    uart_test_expect_int(t, 3, 0, 31);
    /* Too big for a double: text, not infinity. */
    uart_test_expect_string(t, 4, 0, "1e999");
}

static void test_line_explicit_types(void **state)
{
    struct uart_test *t = *state;
    open_line(t, "{ format: csv }",
              "[ { name: i16, column: 0, type: int16 }, { name: u16, column: 0, type: uint16 },"
              "  { name: b, column: 0, type: bool }, { name: s, column: 0, type: string },"
              "  { name: f, column: 0, type: float64 }, { name: u64, column: 0, type: uint64 } ]");
    uart_test_feed_str(t, "-5\n70000\non\nabc\n1\n18446744073709551615\n12.0\nFALSE\n");
    assert_int_equal(t->s.n, 8);
    /* "-5" */
    uart_test_expect_int(t, 0, 0, -5);
    uart_test_expect_error(t, 0, 1, "out of range for uint16: '-5'");
    uart_test_expect_string(t, 0, 3, "-5");
    /* "70000" */
    uart_test_expect_error(t, 1, 0, "out of range for int16: '70000'");
    uart_test_expect_float(t, 1, 4, 70000.0, 0);
    /* "on", "abc", "1", "FALSE" as bool */
    uart_test_expect_bool(t, 2, 2, true);
    uart_test_expect_error(t, 3, 2, "not a bool: 'abc'");
    uart_test_expect_bool(t, 4, 2, true);
    uart_test_expect_bool(t, 7, 2, false);
    /* "abc" as a number */
    uart_test_expect_error(t, 3, 4, "not a number: 'abc'");
    uart_test_expect_error(t, 3, 0, "not an integer: 'abc'");
    /* uint64 max, and "12.0" as an integer */
    uart_test_expect_uint(t, 5, 5, UINT64_MAX);
    uart_test_expect_int(t, 6, 0, 12);
    assert_int_equal(framer_stats(t->f)->parse_errors, 5);
}

/* ---- fuzz ---------------------------------------------------------------- */

/* "\nL<i>,<r>,<r>\r\n": the line comes out without the CRLF. */
static void make_line(size_t i, struct uart_test_wire *w)
{
    int r1 = rand() % 1000, r2 = rand();
    int n = snprintf((char *)w->b, sizeof(w->b), "\nL%zu,%d,%d\r\n", i + 1, r1, r2);
    w->len = (size_t)n;
    w->rec_off = 1;
    w->rec_len = w->len - 3;
}

/* Lines inserted into noise must all come out, in order and intact; other
 * lines (the noise cut at its own '\n' bytes) may come out between them. */
static void test_line_fuzz_noise(void **state)
{
    struct uart_test *t = *state;
    open_line(t, "{ max_length: 64, format: csv }", "[ { name: a, column: 0 } ]");
    const struct uart_test_fuzz fz = {
        .seed = 20240611, .records = 400, .noise_max = 900, .chunk_max = 1000,
        .record_max = 64, .make = make_line,
    };
    size_t hidden = uart_test_fuzz(t, &fz);
    assert_true(framer_stats(t->f)->records >= hidden);
    assert_true(framer_stats(t->f)->oversize > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checksum_check_values),
        cmocka_unit_test(test_checksum_hex_byte),
        UART_TEST(test_line_split_feeds_same_records),
        UART_TEST(test_line_crlf_delimiter_keeps_lone_lf),
        UART_TEST(test_line_custom_delimiter),
        UART_TEST(test_line_hex_escape_delimiter),
        UART_TEST(test_line_overflow_skipped_and_counted),
        UART_TEST(test_line_regex_groups),
        UART_TEST(test_line_regex_group_beyond_regex),
        UART_TEST(test_line_csv_columns),
        UART_TEST(test_line_kv_with_spaces),
        UART_TEST(test_line_value_inference),
        UART_TEST(test_line_explicit_types),
        UART_TEST(test_line_fuzz_noise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
