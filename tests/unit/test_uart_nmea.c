/* Tests of the NMEA 0183 framer: checksums (good, bad, missing, lower case),
 * garbage and cut-off sentences, talker ids, named fields of GGA, RMC, GLL
 * and VTG against published examples, empty fields, raw indexes, explicit
 * types, and a seeded fuzz run. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "drivers/uart/framer.h"
#include "tests/unit/uart_test_util.h"

/* ---- helpers ------------------------------------------------------------- */

/* "$<body>*HH\r\n" with the checksum computed here, independently of the
 * framer: the XOR of the body's bytes, in upper-case hex. */
static const char *nmea(const char *body)
{
    static char buf[4][512];
    static int next;
    char *out = buf[next++ % 4];
    unsigned x = 0;
    for (const char *p = body; *p; p++)
        x ^= (unsigned char)*p;
    snprintf(out, sizeof(buf[0]), "$%s*%02X\r\n", body, x);
    return out;
}

/* The points every test here uses, by index into the device's list. */
enum {
    P_LAT, P_LON, P_FIX, P_SATS, P_HDOP, P_ALT, P_TIME, P_RMC_LAT, P_RMC_LON, P_KNOTS, P_KMH,
    P_COURSE, P_DATE, P_STATUS, P_GGA_9, P_GGA_11, P_GGA_14, P_SATS_U16, P_LAT_STR,
    P_STATUS_BOOL, P_GLL_LAT, P_GLL_LON, P_GLL_TIME, P_VTG_COURSE, P_VTG_KNOTS, P_VTG_KMH,
    P_RMC_KMH_INT, P_RMC_TIME,
};

static const char GPS_DEVICE[] =
    "    points:\n"
    "      - { name: lat, sentence: GGA, field: latitude }\n"
    "      - { name: lon, sentence: GGA, field: longitude }\n"
    "      - { name: fix, sentence: GGA, field: fix_quality }\n"
    "      - { name: sats, sentence: GGA, field: satellites }\n"
    "      - { name: hdop, sentence: GGA, field: hdop }\n"
    "      - { name: alt, sentence: GGA, field: altitude }\n"
    "      - { name: time, sentence: GGA, field: time }\n"
    "      - { name: rlat, sentence: RMC, field: latitude }\n"
    "      - { name: rlon, sentence: RMC, field: longitude }\n"
    "      - { name: knots, sentence: RMC, field: speed_knots }\n"
    "      - { name: kmh, sentence: RMC, field: speed_kmh }\n"
    "      - { name: course, sentence: RMC, field: course }\n"
    "      - { name: date, sentence: RMC, field: date }\n"
    "      - { name: status, sentence: RMC, field: status }\n"
    "      - { name: gga9, sentence: GGA, index: 9 }\n"
    "      - { name: gga11, sentence: GGA, index: 11 }\n"
    "      - { name: gga14, sentence: GGA, index: 14 }\n"
    "      - { name: sats16, sentence: GGA, field: satellites, type: uint16 }\n"
    "      - { name: latstr, sentence: GGA, field: latitude, type: string }\n"
    "      - { name: statusb, sentence: RMC, field: status, type: bool }\n"
    "      - { name: glat, sentence: GLL, field: latitude }\n"
    "      - { name: glon, sentence: GLL, field: longitude }\n"
    "      - { name: gtime, sentence: GLL, field: time }\n"
    "      - { name: vcourse, sentence: VTG, field: course }\n"
    "      - { name: vknots, sentence: VTG, field: speed_knots }\n"
    "      - { name: vkmh, sentence: VTG, field: speed_kmh }\n"
    "      - { name: kmhint, sentence: RMC, field: speed_kmh, type: int32 }\n"
    "      - { name: rtime, sentence: RMC, field: time }\n";

/* The GPS device of GPS_DEVICE, with its framer unless `load_only`. */
static void open_gps(struct uart_test *t, bool load_only)
{
    if (load_only)
        uart_test_load(t, "nmea", GPS_DEVICE);
    else
        uart_test_open(t, "nmea", GPS_DEVICE);
    assert_int_equal(t->cfg->devices[0].n_points, P_RMC_TIME + 1);
}

static const char GGA[] =
    "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n";
static const char RMC[] =
    "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n";

/* Record i is the GGA above: the sentence without its CRLF. */
static void assert_gga_record(const struct uart_test *t, size_t i)
{
    uart_test_assert_record(t, i, GGA, strlen(GGA) - 2);
}

/* ---- tests --------------------------------------------------------------- */

static void test_nmea_helper_matches_published_checksums(void **state)
{
    (void)state;
    /* The helper agrees with the literal examples, so sentences it builds
     * check the framer against an independent computation. */
    assert_string_equal(nmea("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"), GGA);
    assert_string_equal(nmea("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W"),
                        RMC);
}

static void test_nmea_gga_well_known(void **state)
{
    struct uart_test *t = *state;
    open_gps(t, false);
    uart_test_feed_str(t, GGA);
    assert_int_equal(t->s.n, 1);
    assert_gga_record(t, 0);
    uart_test_expect_float(t, 0, P_LAT, 48.1173, 1e-9);
    uart_test_expect_float(t, 0, P_LON, 11.516667, 1e-6);
    uart_test_expect_float(t, 0, P_HDOP, 0.9, 1e-12);
    uart_test_expect_float(t, 0, P_ALT, 545.4, 1e-12);
    uart_test_expect_string(t, 0, P_TIME, "12:35:19");
    uart_test_expect_int(t, 0, P_FIX, 1);
    uart_test_expect_int(t, 0, P_SATS, 8);
    /* Points of other sentences are absent from a GGA. */
    uart_test_expect_absent(t, 0, P_RMC_LAT);
    uart_test_expect_absent(t, 0, P_VTG_KMH);
    const struct framer_stats *st = framer_stats(t->f);
    assert_int_equal(st->records, 1);
    assert_int_equal(st->bad_checksum + st->garbage_bytes + st->parse_errors, 0);
}

static void test_nmea_rmc_published_and_southwest(void **state)
{
    struct uart_test *t = *state;
    open_gps(t, false);
    uart_test_feed_str(t, RMC);
    uart_test_feed_str(
        t, nmea("GNRMC,081836.75,V,3751.65,S,14507.36,W,000.0,360.0,130998,011.3,E"));
    assert_int_equal(t->s.n, 2);
    uart_test_expect_float(t, 0, P_RMC_LAT, 48.1173, 1e-9);
    uart_test_expect_float(t, 0, P_RMC_LON, 11.516667, 1e-6);
    uart_test_expect_float(t, 0, P_KNOTS, 22.4, 1e-12);
    uart_test_expect_float(t, 0, P_KMH, 22.4 * 1.852, 1e-9);
    uart_test_expect_float(t, 0, P_COURSE, 84.4, 1e-12);
    uart_test_expect_string(t, 0, P_DATE, "1994-03-23");
    uart_test_expect_string(t, 0, P_STATUS, "A");
    uart_test_expect_string(t, 0, P_RMC_TIME, "12:35:19");
    /* South and west are negative; a fraction of a second is kept. */
    uart_test_expect_float(t, 1, P_RMC_LAT, -(37 + 51.65 / 60), 1e-9);
    uart_test_expect_float(t, 1, P_RMC_LON, -(145 + 7.36 / 60), 1e-9);
    uart_test_expect_string(t, 1, P_DATE, "1998-09-13");
    uart_test_expect_string(t, 1, P_STATUS, "V");
    uart_test_expect_string(t, 1, P_RMC_TIME, "08:18:36.75");
    /* speed_kmh as int32: 41.4848 is no integer; 0 km/h is. */
    uart_test_expect_error(t, 0, P_RMC_KMH_INT, "not an integer: '41.4848'");
    uart_test_expect_int(t, 1, P_RMC_KMH_INT, 0);
    uart_test_expect_error(t, 0, P_STATUS_BOOL, "not a bool: 'A'");
    assert_int_equal(framer_stats(t->f)->parse_errors, 2);
}

static void test_nmea_gll_vtg(void **state)
{
    struct uart_test *t = *state;
    open_gps(t, false);
    uart_test_feed_str(t, nmea("GPGLL,4916.45,N,12311.12,W,225444,A"));
    uart_test_feed_str(t, nmea("GPVTG,054.7,T,034.4,M,005.5,N,010.2,K"));
    assert_int_equal(t->s.n, 2);
    uart_test_expect_float(t, 0, P_GLL_LAT, 49 + 16.45 / 60, 1e-9);
    uart_test_expect_float(t, 0, P_GLL_LON, -(123 + 11.12 / 60), 1e-9);
    uart_test_expect_string(t, 0, P_GLL_TIME, "22:54:44");
    uart_test_expect_float(t, 1, P_VTG_COURSE, 54.7, 1e-12);
    uart_test_expect_float(t, 1, P_VTG_KNOTS, 5.5, 1e-12);
    uart_test_expect_float(t, 1, P_VTG_KMH, 10.2, 1e-12);
}

static void test_nmea_bad_checksum_skipped_next_delivered(void **state)
{
    struct uart_test *t = *state;
    open_gps(t, false);
    /* One wrong digit in the body, one wrong checksum, one without any, one
     * with a single checksum digit. */
    static const char *const bad[] = {
        "$GPGGA,123519,4807.038,N,01131.000,E,1,09,0.9,545.4,M,46.9,M,,*47\r\n",
        "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*48\r\n",
        "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,\r\n",
        "$GPGGA,1*4\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        uart_test_feed_str(t, bad[i]);
    uart_test_feed_str(t, GGA);
    /* Lower-case hex is accepted. */
    uart_test_feed_str(
        t, "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6a\r\n");
    assert_int_equal(t->s.n, 2);
    assert_gga_record(t, 0);
    const struct framer_stats *st = framer_stats(t->f);
    assert_int_equal(st->bad_checksum, 4);
    assert_int_equal(st->records, 2);
    assert_int_equal(st->garbage_bytes, 0);
}

static void test_nmea_garbage_and_cut_sentences(void **state)
{
    struct uart_test *t = *state;
    open_gps(t, false);
    /* 5 bytes of noise, then a sentence cut off by the next '$' (9 bytes). */
    uart_test_feed_str(t, "xx\x01yy$GPGGA,12");
    uart_test_feed_str(t, GGA);
    uart_test_feed_str(t, "\n\r\n");   /* extra line ends are not garbage */
    assert_int_equal(t->s.n, 1);
    assert_gga_record(t, 0);
    assert_int_equal(framer_stats(t->f)->garbage_bytes, 5 + 9);
    /* A partial sentence is forgotten by reset: the rest is garbage. */
    uart_test_feed_str(t, "$GPGGA,123519,48");
    framer_reset(t->f);
    uart_test_feed_str(t, "07.038,N\r\n");
    assert_int_equal(t->s.n, 1);
    assert_int_equal(framer_stats(t->f)->garbage_bytes, 14 + 8);
}

static void test_nmea_talkers_and_split_feeds(void **state)
{
    struct uart_test *t = *state;
    open_gps(t, false);
    char stream[1024];
    snprintf(stream, sizeof(stream), "%s%s%s%s",
             nmea("GNGGA,001122,0000.000,N,00000.000,E,2,12,1.0,-3.5,M,0,M,,"),
             nmea("GLGGA,001123,8959.999,S,17959.999,W,1,05,2.0,8848.0,M,0,M,,"),
             nmea("BDGGA,001124,1000.000,N,01000.000,E,1,04,1.5,10,M,0,M,,"),
             nmea("GAGGA,001125,1000.000,N,01000.000,E,1,04,1.5,10,M,0,M,,"));
    uart_test_feed_both_ways(t, stream, strlen(stream));
    assert_int_equal(t->s.n, 4);
    uart_test_expect_float(t, 0, P_ALT, -3.5, 1e-12);
    uart_test_expect_float(t, 1, P_LAT, -(89 + 59.999 / 60), 1e-9);
    uart_test_expect_float(t, 1, P_LON, -(179 + 59.999 / 60), 1e-9);
    /* Named numeric fields are floats even when the text is integral. */
    uart_test_expect_float(t, 2, P_ALT, 10.0, 0);
    uart_test_expect_float(t, 3, P_LAT, 10.0, 1e-12);
}

static void test_nmea_empty_fields_absent(void **state)
{
    struct uart_test *t = *state;
    open_gps(t, false);
    uart_test_feed_str(t, nmea("GPGGA,123520,,,,,0,00,,,M,,M,,"));
    uart_test_feed_str(t, nmea("GPRMC,,V,,,,,,,,,,N"));
    assert_int_equal(t->s.n, 2);
    static const int absent_gga[] = { P_LAT, P_LON, P_HDOP, P_ALT, P_GGA_9, P_GGA_14, P_LAT_STR };
    for (size_t i = 0; i < sizeof(absent_gga) / sizeof(absent_gga[0]); i++)
        uart_test_expect_absent(t, 0, (size_t)absent_gga[i]);
    uart_test_expect_int(t, 0, P_FIX, 0);
    uart_test_expect_int(t, 0, P_SATS, 0);
    static const int absent_rmc[] = { P_TIME, P_RMC_LAT, P_KNOTS, P_KMH, P_COURSE, P_DATE };
    for (size_t i = 0; i < sizeof(absent_rmc) / sizeof(absent_rmc[0]); i++)
        uart_test_expect_absent(t, 1, (size_t)absent_rmc[i]);
    uart_test_expect_string(t, 1, P_STATUS, "V");
    assert_int_equal(framer_stats(t->f)->parse_errors, 0);
}

static void test_nmea_index_and_types(void **state)
{
    struct uart_test *t = *state;
    open_gps(t, false);
    uart_test_feed_str(t, GGA);
    /* A GGA cut short after the altitude (some receivers do). */
    uart_test_feed_str(t, nmea("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4"));
    assert_int_equal(t->s.n, 2);
    uart_test_expect_float(t, 0, P_GGA_9, 545.4, 1e-12);
    uart_test_expect_float(t, 0, P_GGA_11, 46.9, 1e-12);
    uart_test_expect_absent(t, 0, P_GGA_14);   /* empty */
    uart_test_expect_error(t, 1, P_GGA_14, "field 14 missing");
    uart_test_expect_uint(t, 0, P_SATS_U16, 8);
    uart_test_expect_string(t, 0, P_LAT_STR, "48.1173");
}

static void test_nmea_oversize_and_bad_fields(void **state)
{
    struct uart_test *t = *state;
    open_gps(t, false);
    char longer[320] = "GPTXT";
    while (strlen(longer) < 300)
        strcat(longer, ",0123456789");
    uart_test_feed_str(t, nmea(longer));
    uart_test_feed_str(t, GGA);
    uart_test_feed_str(t, nmea("GPGGA,99x519,4807.038,Q,01131.000,E,1,08,0.9,high,M,46.9,M,,"));
    assert_int_equal(t->s.n, 2);
    assert_int_equal(framer_stats(t->f)->oversize, 1);
    assert_int_equal(framer_stats(t->f)->garbage_bytes, 0);
    uart_test_expect_error(t, 1, P_TIME, "not a time: '99x519'");
    uart_test_expect_error(t, 1, P_LAT, "latitude without N/S");
    uart_test_expect_error(t, 1, P_ALT, "not a number: 'high'");
    assert_int_equal(framer_stats(t->f)->parse_errors, 3);
}

static void test_nmea_unknown_field_rejected_by_new(void **state)
{
    struct uart_test *t = *state;
    open_gps(t, true);
    /* Validation only lets known names through; a hand-made device may not. */
    char bogus[] = "bogus";
    struct cfg_point *pt = &t->cfg->devices[0].points[P_LAT];
    char *saved = pt->field;
    pt->field = bogus;
    const char *err = uart_test_new_fails(t);
    pt->field = saved;
    assert_string_equal(err, "point 'lat': no field 'bogus' in GGA sentences");
}

/* ---- fuzz ---------------------------------------------------------------- */

/* A GGA with random time, satellites and altitude; the record is the
 * sentence without its CRLF. */
static void make_gga(size_t i, struct uart_test_wire *w)
{
    (void)i;
    char body[80];
    int tm = rand() % 240000, sats = rand() % 13, alt = rand() % 3000, tenth = rand() % 10;
    snprintf(body, sizeof(body), "GPGGA,%06d,4807.038,N,01131.000,E,1,%02d,0.9,%d.%d,M,,M,,",
             tm, sats, alt, tenth);
    const char *s = nmea(body);
    w->len = strlen(s);
    memcpy(w->b, s, w->len);
    w->rec_off = 0;
    w->rec_len = w->len - 2;
}

/* Sentences inserted into noise all come out intact and in order. */
static void test_nmea_fuzz_noise(void **state)
{
    struct uart_test *t = *state;
    open_gps(t, false);
    const struct uart_test_fuzz fz = {
        .seed = 424242, .records = 300, .noise_max = 1200, .chunk_max = 700,
        .record_max = FRAMER_NMEA_MAX_LENGTH, .make = make_gga,
    };
    uart_test_fuzz(t, &fz);
    assert_true(framer_stats(t->f)->garbage_bytes > 100 * 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nmea_helper_matches_published_checksums),
        UART_TEST(test_nmea_gga_well_known),
        UART_TEST(test_nmea_rmc_published_and_southwest),
        UART_TEST(test_nmea_gll_vtg),
        UART_TEST(test_nmea_bad_checksum_skipped_next_delivered),
        UART_TEST(test_nmea_garbage_and_cut_sentences),
        UART_TEST(test_nmea_talkers_and_split_feeds),
        UART_TEST(test_nmea_empty_fields_absent),
        UART_TEST(test_nmea_index_and_types),
        UART_TEST(test_nmea_oversize_and_bad_fields),
        UART_TEST(test_nmea_unknown_field_rejected_by_new),
        UART_TEST(test_nmea_fuzz_noise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
