/* The Modbus drivers end to end over real ptys against the simulated slave
 * (tests/sim/modbus_sim), and over TCP against a libmodbus server on
 * 127.0.0.1: golden values of every type and order, coalescing counted at
 * the slave, a dead slave among live ones, an exception on one register,
 * CRC and wrong-id replies, a late reply, unplug and replug, and writes. */
#include <arpa/inet.h>
#include <errno.h>
#include <modbus.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/drivers/drivers_harness.h"
#include "tests/drivers/sim_control.h"

static char link_path[512];

static struct sim *start_sim(const char *const *extra)
{
    assert_int_equal(sim_link_path(link_path, sizeof link_path, "ttyRS485"), 0);
    const char *args[32] = { "--link", link_path };
    size_t n = 2;
    for (; extra && *extra; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    struct sim *s = sim_start("modbus_sim", args);
    assert_non_null(s);
    return s;
}

/* A counter from the slave's "stats ID" reply, e.g. "fc03". */
static long slave_stat(struct sim *s, int id, const char *name)
{
    char reply[512], key[32];
    assert_int_equal(sim_cmd(s, reply, sizeof reply, "stats %d", id), 0);
    snprintf(key, sizeof key, "%s=", name);
    const char *p = strstr(reply, key);
    assert_non_null(p);
    return strtol(p + strlen(key), NULL, 10);
}

static const struct reading *good(struct harness *h, const char *dev, const char *pt)
{
    const struct reading *r = harness_last_reading(h, dev, pt);
    if (!r)
        fail_msg("no reading of %s/%s", dev, pt);
    if (r->quality != READING_GOOD)
        fail_msg("%s/%s: %s (%s)", dev, pt, reading_error_name(r->error), r->detail);
    return r;
}

static void assert_float(struct harness *h, const char *pt, double want)
{
    const struct reading *r = good(h, "meter", pt);
    assert_int_equal(r->value.kind, VALUE_FLOAT);
    if (r->value.as.f != want)
        fail_msg("%s: %.17g, want %.17g", pt, r->value.as.f, want);
}

/* ---- every type and order, and one request per register kind ------------- */

static void test_types_orders_and_coalescing(void **state)
{
    (void)state;
    static const char *const extra[] = {
        "--slave", "1",
        "--set", "1:holding:0=0x4148,0,0,0x4148,0x4841,0,0,0x4841,0xFFFE,0xFFFF,0xFFFE,0x7960,"
                 "0xB2D0,0x5E00,0xFFFF,0xFFFE,0xD5FA,0x0E00,0x0123,0x4567,0x89AB,0xCDEF,"
                 "0xBFF8,0,0,0,0x4845,0x4C4C,0x4F00,0xDEAD,0xBEEF,8",
        "--set", "1:input:100=42", "--set", "1:coil:0=1,0", "--set", "1:discrete:5=1", NULL,
    };
    struct sim *s = start_sim(extra);
    struct harness h;
    harness_start(&h,
        "buses:\n  - { name: rs485, device: %s, baud: 115200, response_timeout: 200ms }\n"
        "devices:\n  - name: meter\n    bus: rs485\n    slave: 1\n    poll_interval: 1h\n"
        "    points:\n"
        "      - { name: f_abcd, address: 0, type: float32 }\n"
        "      - { name: f_cdab, address: 2, type: float32, byte_order: cdab }\n"
        "      - { name: f_badc, address: 4, type: float32, byte_order: badc }\n"
        "      - { name: f_dcba, address: 6, type: float32, byte_order: dcba }\n"
        "      - { name: i16, address: 8, type: int16 }\n"
        "      - { name: u16, address: 9, type: uint16 }\n"
        "      - { name: i32, address: 10, type: int32 }\n"
        "      - { name: u32, address: 12, type: uint32 }\n"
        "      - { name: i64, address: 14, type: int64 }\n"
        "      - { name: u64, address: 18, type: uint64 }\n"
        "      - { name: f64, address: 22, type: float64 }\n"
        "      - { name: text, address: 26, type: string, count: 3 }\n"
        "      - { name: blob, address: 29, type: raw, count: 2 }\n"
        "      - { name: bit3, address: 31, type: bool, bit: 3 }\n"
        "      - { name: bit2, address: 31, type: bool, bit: 2 }\n"
        "      - { name: in, register: input, address: 100 }\n"
        "      - { name: c0, register: coil, address: 0, type: bool }\n"
        "      - { name: c1, register: coil, address: 1, type: bool }\n"
        "      - { name: d5, register: discrete, address: 5, type: bool }\n",
        link_path);
    assert_true(harness_wait_cycles(&h, 5000, "meter", 1));
    assert_float(&h, "f_abcd", 12.5);
    assert_float(&h, "f_cdab", 12.5);
    assert_float(&h, "f_badc", 12.5);
    assert_float(&h, "f_dcba", 12.5);
    assert_int_equal(good(&h, "meter", "i16")->value.as.i, -2);
    assert_int_equal(good(&h, "meter", "u16")->value.as.u, 65535);
    assert_int_equal(good(&h, "meter", "i32")->value.as.i, -100000);
    assert_int_equal(good(&h, "meter", "u32")->value.as.u, 3000000000u);
    assert_int_equal(good(&h, "meter", "i64")->value.as.i, -5000000000LL);
    assert_int_equal(good(&h, "meter", "u64")->value.as.u, 0x0123456789ABCDEFull);
    assert_float(&h, "f64", -1.5);
    assert_string_equal((const char *)good(&h, "meter", "text")->value.bytes, "HELLO");
    const struct reading *blob = good(&h, "meter", "blob");
    assert_int_equal(blob->value.len, 4);
    assert_memory_equal(blob->value.bytes, "\xDE\xAD\xBE\xEF", 4);
    assert_true(good(&h, "meter", "bit3")->value.as.b);
    assert_false(good(&h, "meter", "bit2")->value.as.b);
    assert_int_equal(good(&h, "meter", "in")->value.as.u, 42);
    assert_true(good(&h, "meter", "c0")->value.as.b);
    assert_false(good(&h, "meter", "c1")->value.as.b);
    assert_true(good(&h, "meter", "d5")->value.as.b);
    assert_int_equal(harness_count_readings(&h, 0, "meter", NULL, READING_GOOD), 19);
    /* 19 points, 4 register kinds: 4 requests. */
    assert_int_equal(slave_stat(s, 1, "fc03"), 1);
    assert_int_equal(slave_stat(s, 1, "fc04"), 1);
    assert_int_equal(slave_stat(s, 1, "fc01"), 1);
    assert_int_equal(slave_stat(s, 1, "fc02"), 1);
    assert_int_equal(slave_stat(s, 1, "requests"), 4);
    struct bus_device_stats st;
    drivers_device_stats(h.drivers, 0, &st);
    assert_int_equal(st.transactions, 4);
    assert_int_equal(st.readings_good, 19);
    harness_stop(&h);
    assert_int_equal(sim_stop(s), 0);
}

/* ---- an exception on one register ---------------------------------------- */

static void test_exception_marks_only_its_point(void **state)
{
    (void)state;
    static const char *const extra[] = { "--slave", "1", "--set", "1:holding:0=10,11,12,13,14,15",
                                         NULL };
    struct sim *s = start_sim(extra);
    assert_int_equal(sim_cmd(s, NULL, 0, "exception 1 holding 3 1 2"), 0);
    struct harness h;
    harness_start(&h,
        "buses:\n  - { name: rs485, device: %s, response_timeout: 200ms }\n"
        "devices:\n  - name: meter\n    bus: rs485\n    slave: 1\n    poll_interval: 50ms\n"
        "    points:\n"
        "      - { name: r0, address: 0 }\n      - { name: r1, address: 1 }\n"
        "      - { name: r2, address: 2 }\n      - { name: r3, address: 3 }\n"
        "      - { name: r4, address: 4 }\n      - { name: r5, address: 5 }\n", link_path);
    assert_true(harness_wait_cycles(&h, 5000, "meter", 2));
    const struct reading *bad = harness_last_reading(&h, "meter", "r3");
    assert_non_null(bad);
    assert_int_equal(bad->quality, READING_BAD);
    assert_int_equal(bad->error, READING_ERR_EXCEPTION);
    assert_int_equal(bad->exception_code, 2);
    assert_string_equal(bad->detail, "illegal data address");
    assert_int_equal(good(&h, "meter", "r0")->value.as.u, 10);
    assert_int_equal(good(&h, "meter", "r2")->value.as.u, 12);
    assert_int_equal(good(&h, "meter", "r4")->value.as.u, 14);
    assert_int_equal(good(&h, "meter", "r5")->value.as.u, 15);
    /* Device answered: it stays online. */
    assert_true(harness_find_state(&h, 0, "meter", true) >= 0);
    assert_int_equal(harness_find_state(&h, 0, "meter", false), -1);
    /* After the split, each cycle is 6 single reads, never the combined one
     * again: cycles × 6 + the first combined attempt. */
    long requests = slave_stat(s, 1, "fc03");
    size_t cycles = harness_count_cycles(&h, 0, "meter");
    harness_stop(&h);
    assert_true(requests >= (long)(1 + 6 * cycles) - 6 && requests <= (long)(1 + 6 * cycles));
    assert_int_equal(sim_stop(s), 0);
}

/* ---- three slaves, one dead ---------------------------------------------- */

static void test_dead_slave_does_not_starve_the_bus(void **state)
{
    (void)state;
    static const char *const extra[] = { "--slave", "1", "--slave", "2", "--slave", "3",
                                         "--set", "1:holding:0=1", "--set", "2:holding:0=2",
                                         "--set", "3:holding:0=3", NULL };
    struct sim *s = start_sim(extra);
    assert_int_equal(sim_cmd(s, NULL, 0, "fault 3 silent"), 0);
    struct harness h;
    harness_start(&h,
        "buses:\n  - { name: rs485, device: %s, response_timeout: 50ms, retries: 1,"
        " reconnect_max: 500ms }\n"
        "devices:\n"
        "  - { name: s1, bus: rs485, slave: 1, poll_interval: 100ms, offline_after: 2,"
        " points: [ { name: v, address: 0 } ] }\n"
        "  - { name: s2, bus: rs485, slave: 2, poll_interval: 100ms, offline_after: 2,"
        " points: [ { name: v, address: 0 } ] }\n"
        "  - { name: s3, bus: rs485, slave: 3, poll_interval: 100ms, offline_after: 2,"
        " points: [ { name: v, address: 0 } ] }\n", link_path);
    harness_run_for(&h, 3000);
    size_t good1 = harness_count_readings(&h, 0, "s1", "v", READING_GOOD);
    size_t good2 = harness_count_readings(&h, 0, "s2", "v", READING_GOOD);
    /* 30 polls in 3 s at 100 ms: the live slaves keep at least half of
     * that rate while the dead one is retried and probed. */
    if (good1 < 15 || good2 < 15)
        fail_msg("live slaves starved: s1 %zu, s2 %zu good readings in 3 s", good1, good2);
    assert_int_equal(harness_count_readings(&h, 0, "s3", "v", READING_GOOD), 0);
    long off = harness_find_state(&h, 0, "s3", false);
    assert_true(off >= 0);
    assert_int_equal(h.events[off].u.state.error, READING_ERR_TIMEOUT);
    assert_int_equal(harness_find_state(&h, 0, "s1", false), -1);
    const struct reading *r3 = harness_last_reading(&h, "s3", "v");
    assert_int_equal(r3->error, READING_ERR_TIMEOUT);
    /* It comes back by itself once it answers again. */
    size_t from = h.n_events;
    assert_int_equal(sim_cmd(s, NULL, 0, "fault 3 none"), 0);
    assert_true(harness_wait_state(&h, 3000, "s3", from, true));
    harness_run_for(&h, 300);
    assert_int_equal(good(&h, "s3", "v")->value.as.u, 3);
    harness_stop(&h);
    assert_int_equal(sim_stop(s), 0);
}

/* ---- bad CRC, wrong slave, late reply ------------------------------------ */

static bool bad_with(struct harness *h, void *arg)
{
    const struct reading *r = harness_last_reading(h, "meter", "v");
    return r && r->quality == READING_BAD && r->error == *(const enum reading_error *)arg;
}

static bool value_is(struct harness *h, void *arg)
{
    const struct reading *r = harness_last_reading(h, "meter", "v");
    return r && r->quality == READING_GOOD && r->value.as.u == *(const unsigned *)arg;
}

static void test_crc_wrong_id_and_late_reply(void **state)
{
    (void)state;
    static const char *const extra[] = { "--slave", "1", "--set", "1:holding:0=7,7", NULL };
    struct sim *s = start_sim(extra);
    struct harness h;
    harness_start(&h,
        "buses:\n  - { name: rs485, device: %s, response_timeout: 100ms, retries: 1 }\n"
        "devices:\n  - name: meter\n    bus: rs485\n    slave: 1\n    poll_interval: 50ms\n"
        "    points: [ { name: v, address: 0 }, { name: w, address: 1 } ]\n", link_path);
    unsigned seven = 7, eight = 8, nine = 9;
    assert_true(harness_run_until(&h, 3000, value_is, &seven));

    assert_int_equal(sim_cmd(s, NULL, 0, "fault 1 badcrc"), 0);
    enum reading_error want = READING_ERR_CRC;
    assert_true(harness_run_until(&h, 3000, bad_with, &want));
    assert_int_equal(sim_cmd(s, NULL, 0, "fault 1 wrongid"), 0);
    want = READING_ERR_BAD_REPLY;
    assert_true(harness_run_until(&h, 3000, bad_with, &want));
    assert_int_equal(sim_cmd(s, NULL, 0, "fault 1 none"), 0);
    assert_int_equal(sim_cmd(s, NULL, 0, "set 1 holding 0 8 8"), 0);
    assert_true(harness_run_until(&h, 3000, value_is, &eight));

    /* A reply later than the timeout must not answer the next request. */
    assert_int_equal(sim_cmd(s, NULL, 0, "fault 1 slow 150"), 0);
    want = READING_ERR_TIMEOUT;
    assert_true(harness_run_until(&h, 3000, bad_with, &want));
    assert_int_equal(sim_cmd(s, NULL, 0, "set 1 holding 0 9 9"), 0);
    assert_int_equal(sim_cmd(s, NULL, 0, "fault 1 none"), 0);
    size_t from = h.n_events;
    assert_true(harness_run_until(&h, 3000, value_is, &nine));
    /* Every good reading after the fault cleared has the new value, and
     * nothing read garbage from the stale replies. */
    for (size_t i = from; i < h.n_events; i++) {
        const struct driver_event *ev = &h.events[i];
        if (ev->kind == DRIVER_EVENT_READING && ev->u.reading.quality == READING_GOOD)
            assert_true(ev->u.reading.value.as.u == 8 || ev->u.reading.value.as.u == 9);
    }
    struct bus_device_stats st;
    drivers_device_stats(h.drivers, 0, &st);
    assert_true(st.crc_errors >= 2);      /* the read and its retry */
    assert_true(st.bad_replies >= 2);
    assert_true(st.timeouts >= 2);
    harness_stop(&h);
    assert_int_equal(sim_stop(s), 0);
}

/* ---- unplug and replug --------------------------------------------------- */

static void test_unplug_and_replug(void **state)
{
    (void)state;
    static const char *const extra[] = { "--slave", "1", "--set", "1:holding:0=5", NULL };
    struct sim *s = start_sim(extra);
    int fds_before = harness_count_fds();
    struct harness h;
    harness_start(&h,
        "buses:\n  - { name: rs485, device: %s, response_timeout: 100ms,"
        " reconnect_min: 50ms, reconnect_max: 400ms }\n"
        "devices:\n  - name: meter\n    bus: rs485\n    slave: 1\n    poll_interval: 50ms\n"
        "    offline_after: 2\n    points: [ { name: v, address: 0 } ]\n", link_path);
    size_t from = 0;
    for (int round = 0; round < 3; round++) {
        assert_true(harness_wait_reading(&h, 3000, "meter", from, READING_GOOD, -1));
        from = h.n_events;
        assert_int_equal(sim_cmd(s, NULL, 0, "unplug"), 0);
        assert_true(harness_wait_reading(&h, 3000, "meter", from, -1, READING_ERR_DISCONNECTED));
        assert_true(harness_wait_state(&h, 3000, "meter", from, false));
        harness_run_for(&h, 200);   /* a few failed reopen attempts */
        from = h.n_events;
        assert_int_equal(sim_cmd(s, NULL, 0, "replug"), 0);
        /* Reopened within the backoff bound (400 ms) plus a poll. */
        assert_true(harness_wait_state(&h, 2000, "meter", from, true));
        assert_true(harness_count_readings(&h, from, "meter", "v", READING_GOOD) > 0);
        from = h.n_events;
    }
    harness_stop(&h);
    assert_int_equal(harness_count_fds(), fds_before);
    assert_int_equal(sim_stop(s), 0);
}

/* ---- writes (functions 05, 06, 15, 16) ----------------------------------- */

static bool write_done(struct harness *h, void *arg)
{
    const uint64_t *id = arg;
    for (size_t i = 0; i < h->n_events; i++)
        if (h->events[i].kind == DRIVER_EVENT_WRITE_DONE && h->events[i].u.write.id == *id)
            return true;
    return false;
}

static const struct write_result *do_write(struct harness *h, const char *dev, const char *pt,
                                           struct value v)
{
    uint64_t id = 0;
    assert_int_equal(drivers_write(h->drivers, dev, pt, &v, &id), 0);
    assert_true(harness_run_until(h, 3000, write_done, &id));
    for (size_t i = 0; i < h->n_events; i++)
        if (h->events[i].kind == DRIVER_EVENT_WRITE_DONE && h->events[i].u.write.id == id)
            return &h->events[i].u.write;
    return NULL;
}

static void expect_get(struct sim *s, const char *cmd, const char *want)
{
    char reply[256];
    assert_int_equal(sim_cmd(s, reply, sizeof reply, "%s", cmd), 0);
    assert_string_equal(reply, want);
}

static void test_writes(void **state)
{
    (void)state;
    static const char *const extra[] = { "--slave", "1", "--slave", "2", "--set", "1:holding:44=0x0100",
                                         NULL };
    struct sim *s = start_sim(extra);
    assert_int_equal(sim_cmd(s, NULL, 0, "exception 1 holding 50 1 2"), 0);
    struct harness h;
    harness_start(&h,
        "buses:\n  - { name: rs485, device: %s, response_timeout: 200ms }\n"
        "devices:\n"
        "  - name: meter\n    bus: rs485\n    slave: 1\n    poll_interval: 1h\n    points:\n"
        "      - { name: u16, address: 40, writable: true }\n"
        "      - { name: f32, address: 41, type: float32, writable: true }\n"
        "      - { name: flag, address: 44, type: bool, bit: 4, writable: true }\n"
        "      - { name: relay, register: coil, address: 3, type: bool, writable: true }\n"
        "      - { name: locked, address: 50, writable: true }\n"
        "      - { name: ro, address: 60 }\n"
        "  - name: plc\n    bus: rs485\n    slave: 2\n    poll_interval: 1h\n"
        "    write_multiple: true\n    points:\n"
        "      - { name: u16, address: 0, writable: true }\n"
        "      - { name: relay, register: coil, address: 0, type: bool, writable: true }\n",
        link_path);
    const struct write_result *r;
    r = do_write(&h, "meter", "u16", (struct value){ .kind = VALUE_UINT, .as.u = 1234 });
    assert_int_equal(r->error, READING_ERR_NONE);
    expect_get(s, "get 1 holding 40", "1234");
    r = do_write(&h, "meter", "f32", (struct value){ .kind = VALUE_FLOAT, .as.f = 12.5 });
    assert_int_equal(r->error, READING_ERR_NONE);
    expect_get(s, "get 1 holding 41 2", "16712 0");   /* 0x4148 0x0000 */
    r = do_write(&h, "meter", "flag", (struct value){ .kind = VALUE_BOOL, .as.b = true });
    assert_int_equal(r->error, READING_ERR_NONE);
    expect_get(s, "get 1 holding 44", "272");         /* 0x0100 | 1 << 4: the rest kept */
    r = do_write(&h, "meter", "relay", (struct value){ .kind = VALUE_BOOL, .as.b = true });
    assert_int_equal(r->error, READING_ERR_NONE);
    expect_get(s, "get 1 coil 3", "1");
    r = do_write(&h, "meter", "locked", (struct value){ .kind = VALUE_UINT, .as.u = 1 });
    assert_int_equal(r->error, READING_ERR_EXCEPTION);
    assert_int_equal(r->exception_code, 2);
    r = do_write(&h, "meter", "u16", (struct value){ .kind = VALUE_INT, .as.i = -1 });
    assert_int_equal(r->error, READING_ERR_RANGE);    /* never sent */
    assert_int_equal(slave_stat(s, 1, "fc06"), 3);    /* u16, flag, locked (refused) */
    assert_int_equal(slave_stat(s, 1, "fc16"), 1);    /* f32 */
    assert_int_equal(slave_stat(s, 1, "fc05"), 1);
    r = do_write(&h, "plc", "u16", (struct value){ .kind = VALUE_UINT, .as.u = 7 });
    assert_int_equal(r->error, READING_ERR_NONE);
    r = do_write(&h, "plc", "relay", (struct value){ .kind = VALUE_BOOL, .as.b = true });
    assert_int_equal(r->error, READING_ERR_NONE);
    assert_int_equal(slave_stat(s, 2, "fc16"), 1);
    assert_int_equal(slave_stat(s, 2, "fc15"), 1);
    assert_int_equal(slave_stat(s, 2, "fc06"), 0);
    expect_get(s, "get 2 holding 0", "7");
    expect_get(s, "get 2 coil 0", "1");
    uint64_t id;
    struct value one = { .kind = VALUE_UINT, .as.u = 1 };
    assert_int_equal(drivers_write(h.drivers, "meter", "ro", &one, &id), -EPERM);
    assert_int_equal(drivers_write(h.drivers, "meter", "nope", &one, &id), -ENOENT);
    harness_stop(&h);
    assert_int_equal(sim_stop(s), 0);
}

/* ---- points at their own pace --------------------------------------------- */

static void test_point_poll_intervals(void **state)
{
    (void)state;
    static const char *const extra[] = { "--slave", "1", "--set", "1:holding:0=1",
                                         "--set", "1:holding:500=2", NULL };
    struct sim *s = start_sim(extra);
    struct harness h;
    harness_start(&h,
        "buses:\n  - { name: rs485, device: %s, baud: 115200, response_timeout: 200ms }\n"
        "devices:\n  - name: meter\n    bus: rs485\n    slave: 1\n    poll_interval: 500ms\n"
        "    points:\n"
        "      - { name: power, address: 0, poll_interval: 100ms }\n"
        "      - { name: energy, address: 500 }\n", link_path);
    harness_run_for(&h, 2000);
    /* Stopping hands over what was read and still queued: after it, every
     * request the slave answered is a reading here. */
    drivers_stop(h.drivers);
    h.drivers = NULL;
    size_t fast = harness_count_readings(&h, 0, "meter", "power", READING_GOOD);
    size_t slow = harness_count_readings(&h, 0, "meter", "energy", READING_GOOD);
    /* 2 s: power about 20 times, energy about 4 times, never in one read. */
    if (fast < 10 || slow < 2 || slow > 6 || slow * 2 >= fast)
        fail_msg("power read %zu times, energy %zu times in 2 s", fast, slow);
    harness_stop(&h);
    assert_int_equal(slave_stat(s, 1, "fc03"), (long)(fast + slow));
    assert_int_equal(sim_stop(s), 0);
}

/* ---- RS-485 direction control ------------------------------------------- */

static void test_rs485_direction(void **state)
{
    (void)state;
    static const char *const extra[] = { "--slave", "1", "--set", "1:holding:0=3", NULL };
    struct sim *s = start_sim(extra);
    /* RTS driven by libmodbus around each request: a pty has no RTS line
     * (the test's ioctl shim stands in for one), the exchange works. */
    struct harness h;
    harness_start(&h,
        "buses:\n  - { name: rs485, device: %s, baud: 115200, rs485: { mode: rts, rts: up,"
        " rts_delay: 1ms } }\n"
        "devices:\n  - { name: meter, bus: rs485, slave: 1, poll_interval: 50ms,"
        " points: [ { name: v, address: 0 } ] }\n", link_path);
    assert_true(harness_wait_good(&h, 3000, "meter", 2));
    assert_int_equal(good(&h, "meter", "v")->value.as.u, 3);
    harness_stop(&h);
    /* The kernel's RS-485 mode needs a UART that has one: on a pty the port
     * is refused with the reason, and the devices say why. */
    harness_start(&h,
        "buses:\n  - { name: rs485, device: %s, rs485: { mode: kernel },"
        " reconnect_min: 20ms, reconnect_max: 50ms }\n"
        "devices:\n  - { name: meter, bus: rs485, slave: 1, poll_interval: 50ms,"
        " points: [ { name: v, address: 0 } ] }\n", link_path);
    assert_true(harness_wait_reading(&h, 3000, "meter", 0, -1, READING_ERR_DISCONNECTED));
    const struct reading *r = harness_last_reading(&h, "meter", "v");
    if (!strstr(r->detail, "RS-485 mode (rs485.mode: kernel) failed"))
        fail_msg("detail: %s", r->detail);
    harness_stop(&h);
    assert_int_equal(sim_stop(s), 0);
}

/* ---- Modbus TCP ---------------------------------------------------------- */

struct tcp_server {
    int listen_fd;
    int port;
    atomic_bool stop;
    atomic_int requests;
    pthread_t thread;
};

static void serve_connection(struct tcp_server *srv, modbus_t *ctx, modbus_mapping_t *map)
{
    uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
    while (!atomic_load(&srv->stop)) {
        struct pollfd pfd = { .fd = modbus_get_socket(ctx), .events = POLLIN };
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int n = modbus_receive(ctx, req);
        if (n < 0)
            return;   /* the client went away */
        if (n > 0) {
            atomic_fetch_add(&srv->requests, 1);
            modbus_reply(ctx, req, n, map);
        }
    }
}

static void *tcp_server_main(void *arg)
{
    struct tcp_server *srv = arg;
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", srv->port);
    modbus_mapping_t *map = modbus_mapping_new(0, 0, 100, 0);
    map->tab_registers[0] = 0x4148;
    map->tab_registers[1] = 0x0000;
    map->tab_registers[2] = 321;
    while (!atomic_load(&srv->stop)) {
        struct pollfd pfd = { .fd = srv->listen_fd, .events = POLLIN };
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int fd = accept(srv->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        modbus_set_socket(ctx, fd);
        serve_connection(srv, ctx, map);
        close(fd);
    }
    modbus_mapping_free(map);
    modbus_free(ctx);
    return NULL;
}

static void test_modbus_tcp(void **state)
{
    (void)state;
    struct tcp_server srv = { .listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0) };
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    assert_int_equal(bind(srv.listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(srv.listen_fd, 4), 0);
    assert_int_equal(getsockname(srv.listen_fd, (struct sockaddr *)&a, &len), 0);
    srv.port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&srv.thread, NULL, tcp_server_main, &srv), 0);
    struct harness h;
    harness_start(&h,
        "buses:\n  - { name: lan, type: modbus_tcp, host: 127.0.0.1, port: %d,"
        " response_timeout: 500ms }\n"
        "devices:\n  - name: meter\n    bus: lan\n    slave: 1\n    poll_interval: 50ms\n"
        "    points:\n      - { name: f, address: 0, type: float32 }\n"
        "      - { name: n, address: 2 }\n", srv.port);
    assert_true(harness_wait_cycles(&h, 5000, "meter", 3));
    assert_float(&h, "f", 12.5);
    assert_int_equal(good(&h, "meter", "n")->value.as.u, 321);
    harness_stop(&h);
    /* One coalesced request per cycle. */
    assert_true(atomic_load(&srv.requests) >= 3);
    atomic_store(&srv.stop, true);
    pthread_join(srv.thread, NULL);
    close(srv.listen_fd);
}

/* A port that is not there: the devices are reported disconnected, and the
 * worker keeps trying without blocking anything. */
static void test_missing_port(void **state)
{
    (void)state;
    struct harness h;
    harness_start(&h,
        "buses:\n  - { name: rs485, device: /nonexistent/ttyUSB9, reconnect_min: 20ms,"
        " reconnect_max: 50ms }\n"
        "devices:\n  - name: meter\n    bus: rs485\n    slave: 1\n    poll_interval: 50ms\n"
        "    offline_after: 1\n    points: [ { name: v, address: 0 } ]\n");
    assert_true(harness_wait_state(&h, 3000, "meter", 0, false));
    const struct reading *r = harness_last_reading(&h, "meter", "v");
    assert_int_equal(r->error, READING_ERR_DISCONNECTED);
    assert_non_null(strstr(r->detail, "No such file or directory"));
    harness_stop(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_orders_and_coalescing),
        cmocka_unit_test(test_exception_marks_only_its_point),
        cmocka_unit_test(test_dead_slave_does_not_starve_the_bus),
        cmocka_unit_test(test_crc_wrong_id_and_late_reply),
        cmocka_unit_test(test_unplug_and_replug),
        cmocka_unit_test(test_writes),
        cmocka_unit_test(test_point_poll_intervals),
        cmocka_unit_test(test_rs485_direction),
        cmocka_unit_test(test_modbus_tcp),
        cmocka_unit_test(test_missing_port),
    };
    return cmocka_run_group_tests_name("modbus drivers", tests, NULL, NULL);
}
