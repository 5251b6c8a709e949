/* The UART driver end to end over real ptys against the simulated sensors
 * (tests/sim/uart_sim): text lines by regex, CSV and key=value; NMEA with
 * bad checksums; binary PMS5003 frames with garbage between them; query
 * mode; silence reported stale; unplug and replug; and both serial paths
 * (libserialport through the test-only ioctl shim, and plain termios). */
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gateway/log.h"
#include "tests/drivers/drivers_harness.h"
#include "tests/drivers/sim_control.h"

static char link_path[512];

static struct sim *start_sim(const char *const *extra)
{
    assert_int_equal(sim_link_path(link_path, sizeof link_path, "ttySensor"), 0);
    const char *args[32] = { "--link", link_path };
    size_t n = 2;
    for (; extra && *extra; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    struct sim *s = sim_start("uart_sim", args);
    assert_non_null(s);
    return s;
}

/* The readings of one record: the events between two CYCLE_ENDs. */
static size_t next_record(const struct harness *h, size_t from, const struct reading **out,
                          size_t max, size_t *n)
{
    *n = 0;
    for (size_t i = from; i < h->n_events; i++) {
        const struct driver_event *ev = &h->events[i];
        if (ev->kind == DRIVER_EVENT_CYCLE_END)
            return i + 1;
        if (ev->kind == DRIVER_EVENT_READING && *n < max)
            out[(*n)++] = &ev->u.reading;
    }
    return h->n_events;
}

static const struct reading *find_point(const struct reading **r, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(r[i]->point->name, name) == 0)
            return r[i];
    return NULL;
}

static void test_line_regex(void **state)
{
    (void)state;
    static const char *const extra[] = { "--mode", "line", "--line", "T={t},N={n}", "--rate",
                                         "50", NULL };
    struct sim *s = start_sim(extra);
    struct harness h;
    harness_start(&h,
        "buses: [ { name: tty, type: uart, device: %s } ]\n"
        "devices:\n  - name: sensor\n    bus: tty\n    framing: line\n    poll_interval: 200ms\n"
        "    line: { format: regex, regex: 'T=([0-9.+-]+),N=([0-9]+)' }\n"
        "    points: [ { name: t, group: 1, unit: C }, { name: n, group: 2 } ]\n", link_path);
    assert_true(harness_wait_good(&h, 5000, "sensor", 20));
    size_t at = 0, records = 0;
    long last_n = -1;
    while (at < h.n_events) {
        const struct reading *r[8];
        size_t n;
        at = next_record(&h, at, r, 8, &n);
        const struct reading *t = find_point(r, n, "t"), *seq = find_point(r, n, "n");
        if (!t || !seq)
            continue;
        assert_int_equal(t->quality, READING_GOOD);
        assert_int_equal(seq->value.kind, VALUE_INT);
        assert_int_equal(t->value.kind, VALUE_FLOAT);
        /* the simulator's ramp: 20.0 + (n % 50) * 0.1 */
        assert_true(fabs(t->value.as.f - (20.0 + (double)(seq->value.as.i % 50) * 0.1)) < 1e-9);
        if (last_n >= 0)
            assert_int_equal(seq->value.as.i, last_n + 1);   /* none lost, none twice */
        last_n = seq->value.as.i;
        records++;
    }
    assert_true(records >= 10);
    assert_true(harness_find_state(&h, 0, "sensor", true) >= 0);
    harness_stop(&h);
    assert_int_equal(sim_stop(s), 0);
}

static void test_line_csv_and_kv(void **state)
{
    (void)state;
    static const char *const csv[] = { "--mode", "line", "--line", "{n};{t};ok", "--eol", "\\n",
                                       "--rate", "50", NULL };
    struct sim *s = start_sim(csv);
    struct harness h;
    harness_start(&h,
        "buses: [ { name: tty, type: uart, device: %s } ]\n"
        "devices:\n  - name: sensor\n    bus: tty\n    framing: line\n"
        "    line: { format: csv, separator: ';' }\n"
        "    points: [ { name: n, column: 0, type: uint32 }, { name: t, column: 1 },"
        " { name: status, column: 2, type: string }, { name: missing, column: 5 } ]\n",
        link_path);
    assert_true(harness_wait_good(&h, 5000, "sensor", 10));
    const struct reading *st = harness_last_reading(&h, "sensor", "status");
    assert_int_equal(st->quality, READING_GOOD);
    assert_string_equal((const char *)st->value.bytes, "ok");
    assert_int_equal(harness_last_reading(&h, "sensor", "n")->value.kind, VALUE_UINT);
    const struct reading *missing = harness_last_reading(&h, "sensor", "missing");
    assert_int_equal(missing->quality, READING_BAD);
    assert_int_equal(missing->error, READING_ERR_PARSE);
    harness_stop(&h);
    assert_int_equal(sim_stop(s), 0);

    static const char *const kv[] = { "--mode", "line", "--line", "seq={n}, temp = {t}",
                                      "--rate", "50", NULL };
    s = start_sim(kv);
    harness_start(&h,
        "buses: [ { name: tty, type: uart, device: %s } ]\n"
        "devices:\n  - name: sensor\n    bus: tty\n    framing: line\n"
        "    line: { format: kv, separator: ',' }\n"
        "    points: [ { name: seq, key: seq }, { name: temp, key: temp } ]\n", link_path);
    assert_true(harness_wait_good(&h, 5000, "sensor", 10));
    const struct reading *t = harness_last_reading(&h, "sensor", "temp");
    assert_int_equal(t->quality, READING_GOOD);
    assert_true(t->value.as.f >= 20.0 && t->value.as.f < 25.0);
    harness_stop(&h);
    assert_int_equal(sim_stop(s), 0);
}

static void test_nmea_with_bad_checksums(void **state)
{
    (void)state;
    static const char *const extra[] = { "--mode", "nmea", "--rate", "50", "--corrupt-every", "4",
                                         "--garbage-every", "3", "--seed", "7", NULL };
    struct sim *s = start_sim(extra);
    struct harness h;
    harness_start(&h,
        "buses: [ { name: tty, type: uart, device: %s } ]\n"
        "devices:\n  - name: sensor\n    bus: tty\n    framing: nmea\n    points:\n"
        "      - { name: lat, sentence: GGA, field: latitude }\n"
        "      - { name: lon, sentence: GGA, field: longitude }\n"
        "      - { name: sats, sentence: GGA, field: satellites }\n"
        "      - { name: kmh, sentence: RMC, field: speed_kmh }\n", link_path);
    assert_true(harness_wait_good(&h, 8000, "sensor", 40));
    const struct reading *lat = harness_last_reading(&h, "sensor", "lat");
    assert_int_equal(lat->quality, READING_GOOD);
    assert_true(fabs(lat->value.as.f - 48.1173) < 0.01);
    assert_true(fabs(harness_last_reading(&h, "sensor", "lon")->value.as.f - 11.516667) < 0.01);
    double sats;
    assert_true(value_as_double(&harness_last_reading(&h, "sensor", "sats")->value, &sats));
    assert_true(sats == 8);
    double kmh;
    assert_true(value_as_double(&harness_last_reading(&h, "sensor", "kmh")->value, &kmh));
    assert_true(fabs(kmh - 22.4 * 1.852) < 1e-6);
    /* No bad reading: a corrupted sentence is skipped, not parsed. */
    assert_int_equal(harness_count_readings(&h, 0, "sensor", NULL, READING_BAD), 0);
    struct bus_device_stats st;
    drivers_device_stats(h.drivers, 0, &st);
    assert_true(st.crc_errors > 0);
    char reply[256];
    assert_int_equal(sim_cmd(s, reply, sizeof reply, "stats"), 0);
    unsigned long sent = 0, corrupted = 0;
    assert_non_null(strstr(reply, "sent="));
    sent = strtoul(strstr(reply, "sent=") + 5, NULL, 10);
    corrupted = strtoul(strstr(reply, "corrupted=") + 10, NULL, 10);
    /* Every corrupted sentence counted; every good one delivered (records
     * counted by the driver), allowing the one in flight. */
    assert_true(st.crc_errors <= corrupted && st.crc_errors + 2 >= corrupted);
    assert_true(st.transactions + st.crc_errors + 2 >= sent);
    harness_stop(&h);
    assert_int_equal(sim_stop(s), 0);
}

static const char pms_device[] =
    "    framing: frame\n"
    "    frame: { header: '42 4d', length: { offset: 2, size: 2, counts: rest },"
    " checksum: { type: sum16, start: 0 } }\n"
    "    points:\n"
    "      - { name: pm1, byte_offset: 4, unit: ug/m3 }\n"
    "      - { name: pm25, byte_offset: 6, unit: ug/m3 }\n"
    "      - { name: pm10, byte_offset: 8, unit: ug/m3 }\n";

static void check_pms_records(const struct harness *h, size_t *records)
{
    size_t at = 0;
    *records = 0;
    while (at < h->n_events) {
        const struct reading *r[8];
        size_t n;
        at = next_record(h, at, r, 8, &n);
        const struct reading *pm1 = find_point(r, n, "pm1"), *pm25 = find_point(r, n, "pm25"),
                             *pm10 = find_point(r, n, "pm10");
        if (!pm1 || !pm25 || !pm10)
            continue;
        assert_int_equal(pm1->quality, READING_GOOD);
        assert_true(pm1->value.as.u >= 7 && pm1->value.as.u <= 11);
        assert_int_equal(pm25->value.as.u, pm1->value.as.u + 3);
        assert_int_equal(pm10->value.as.u, pm1->value.as.u + 7);
        (*records)++;
    }
}

static void test_binary_frames_with_garbage(void **state)
{
    (void)state;
    static const char *const extra[] = { "--mode", "pms5003", "--rate", "50", "--garbage-every",
                                         "1", "--corrupt-every", "5", "--split", "--seed", "3",
                                         NULL };
    struct sim *s = start_sim(extra);
    struct harness h;
    harness_start(&h,
        "buses: [ { name: tty, type: uart, device: %s } ]\n"
        "devices:\n  - name: sensor\n    bus: tty\n%s", link_path, pms_device);
    assert_true(harness_wait_good(&h, 8000, "sensor", 45));
    size_t records;
    check_pms_records(&h, &records);
    assert_true(records >= 15);
    struct bus_device_stats st;
    drivers_device_stats(h.drivers, 0, &st);
    assert_true(st.crc_errors > 0);
    harness_stop(&h);
    assert_int_equal(sim_stop(s), 0);
}

static void test_query_mode(void **state)
{
    (void)state;
    static const char *const extra[] = { "--mode", "pms5003", "--query", "42 4d e2 00 00 01 71",
                                         NULL };
    struct sim *s = start_sim(extra);
    struct harness h;
    harness_start(&h,
        "buses: [ { name: tty, type: uart, device: %s } ]\n"
        "devices:\n  - name: sensor\n    bus: tty\n    poll_interval: 50ms\n"
        "    query: '42 4d e2 00 00 01 71'\n%s", link_path, pms_device);
    assert_true(harness_wait_good(&h, 5000, "sensor", 15));
    size_t records;
    check_pms_records(&h, &records);
    char reply[256];
    assert_int_equal(sim_cmd(s, reply, sizeof reply, "stats"), 0);
    unsigned long queries = strtoul(strstr(reply, "queries=") + 8, NULL, 10);
    /* Each frame answered a query; none came unasked. */
    assert_true(records >= 5);
    assert_true(queries >= records);
    harness_stop(&h);
    assert_int_equal(sim_stop(s), 0);
}

static void test_silence_unplug_replug(void **state)
{
    (void)state;
    static const char *const extra[] = { "--mode", "line", "--line", "{n}", "--rate", "50", NULL };
    struct sim *s = start_sim(extra);
    int fds_before = harness_count_fds();
    struct harness h;
    harness_start(&h,
        "buses: [ { name: tty, type: uart, device: %s, reconnect_min: 50ms,"
        " reconnect_max: 300ms } ]\n"
        "devices:\n  - name: sensor\n    bus: tty\n    framing: line\n    poll_interval: 100ms\n"
        "    offline_after: 2\n    points: [ { name: n } ]\n", link_path);
    size_t from = 0;
    assert_true(harness_wait_reading(&h, 3000, "sensor", from, READING_GOOD, -1));
    /* Silence: last value reported stale, device offline. */
    from = h.n_events;
    assert_int_equal(sim_cmd(s, NULL, 0, "pause"), 0);
    assert_true(harness_wait_reading(&h, 3000, "sensor", from, READING_STALE, -1));
    assert_true(harness_wait_state(&h, 3000, "sensor", from, false));
    from = h.n_events;
    assert_int_equal(sim_cmd(s, NULL, 0, "resume"), 0);
    assert_true(harness_wait_state(&h, 3000, "sensor", from, true));
    assert_true(harness_count_readings(&h, from, "sensor", NULL, READING_GOOD) > 0);
    for (int round = 0; round < 3; round++) {
        from = h.n_events;
        assert_int_equal(sim_cmd(s, NULL, 0, "unplug"), 0);
        assert_true(harness_wait_reading(&h, 3000, "sensor", from, -1, READING_ERR_DISCONNECTED));
        harness_run_for(&h, 200);
        from = h.n_events;
        assert_int_equal(sim_cmd(s, NULL, 0, "replug"), 0);
        assert_true(harness_wait_reading(&h, 2000, "sensor", from, READING_GOOD, -1));
    }
    harness_stop(&h);
    assert_int_equal(harness_count_fds(), fds_before);
    assert_int_equal(sim_stop(s), 0);
}

/* Which serial path opened the port, from the driver's log line. */
static void check_backend(const char *device_prefix, const char *expect_log)
{
    static const char *const extra[] = { "--mode", "line", "--line", "{n}", "--rate", "50", NULL };
    struct sim *s = start_sim(extra);
    char logname[] = "/tmp/mqgate-uart-log.XXXXXX";
    int logfd = mkstemp(logname);
    assert_true(logfd >= 0);
    log_set_output_fd(logfd);
    log_init(LOG_LEVEL_INFO);
    struct harness h;
    harness_start(&h,
        "buses: [ { name: tty, type: uart, device: '%s%s', baud: 115200 } ]\n"
        "devices:\n  - name: sensor\n    bus: tty\n    framing: line\n"
        "    points: [ { name: n } ]\n", device_prefix, link_path);
    assert_true(harness_wait_good(&h, 3000, "sensor", 5));
    harness_stop(&h);
    log_set_output_fd(2);
    log_init(LOG_LEVEL_INFO);
    char text[8192] = "";
    ssize_t n = pread(logfd, text, sizeof text - 1, 0);
    assert_true(n > 0);
    close(logfd);
    unlink(logname);
    if (!strstr(text, expect_log))
        fail_msg("expected '%s' in the log:\n%s", expect_log, text);
    assert_int_equal(sim_stop(s), 0);
}

static void test_libserialport_path(void **state)
{
    (void)state;
    /* /dev/../../.. passes libserialport's name check and resolves to the
     * link; the ioctl shim linked into this test fakes the modem lines a
     * pty lacks (see tests/drivers/ioctl_shim.c). */
    check_backend("/dev/../../..", "via libserialport");
}

static void test_termios_fallback(void **state)
{
    (void)state;
    check_backend("", "via termios");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_regex),
        cmocka_unit_test(test_line_csv_and_kv),
        cmocka_unit_test(test_nmea_with_bad_checksums),
        cmocka_unit_test(test_binary_frames_with_garbage),
        cmocka_unit_test(test_query_mode),
        cmocka_unit_test(test_silence_unplug_replug),
        cmocka_unit_test(test_libserialport_path),
        cmocka_unit_test(test_termios_fallback),
    };
    return cmocka_run_group_tests_name("uart drivers", tests, NULL, NULL);
}
