/* Request coalescing: which Modbus reads a device's points become, from a
 * real configuration text (points in any order, gaps, kinds, limits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "drivers/modbus/plan.h"

static struct config *load(const char *device_extra, const char *points)
{
    static char text[16384];
    snprintf(text, sizeof text,
             "buses:\n  - { name: b, device: /dev/ttyUSB0 }\n"
             "devices:\n  - name: d\n    bus: b\n    slave: 1\n%s    points:\n%s",
             device_extra, points);
    struct diag diag;
    diag_init(&diag);
    struct config *cfg = NULL;
    int rc = config_load_string("plan.yaml", text, strlen(text), &cfg, &diag);
    if (rc)
        diag_print(&diag, stderr);
    diag_free(&diag);
    assert_int_equal(rc, 0);
    return cfg;
}

static const char *point_name(const struct cfg_device *dev, const struct modbus_plan *p,
                              const struct modbus_read *r, uint32_t k)
{
    return dev->points[p->order[r->first + k]].name;
}

static void test_contiguous_points_are_one_read(void **state)
{
    (void)state;
    struct config *cfg = load("",
        "      - { name: c, address: 4, type: float32 }\n"
        "      - { name: a, address: 0, type: uint16 }\n"
        "      - { name: b, address: 1, type: int32 }\n"
        "      - { name: e, address: 6, type: float64 }\n");
    struct modbus_plan p;
    assert_int_equal(modbus_plan_build(&cfg->devices[0], -1, &p), 0);
    assert_int_equal(p.n_reads, 1);
    assert_int_equal(p.reads[0].start, 0);
    assert_int_equal(p.reads[0].count, 10);   /* 0 .. 9: float64 at 6 ends at 9 */
    assert_int_equal(p.reads[0].n, 4);
    assert_string_equal(point_name(&cfg->devices[0], &p, &p.reads[0], 0), "a");
    assert_string_equal(point_name(&cfg->devices[0], &p, &p.reads[0], 3), "e");
    modbus_plan_free(&p);
    config_free(cfg);
}

static void test_gap_and_kind_split_reads(void **state)
{
    (void)state;
    struct config *cfg = load("    max_gap: 4\n",
        "      - { name: h0, address: 0 }\n"
        "      - { name: h5, address: 5 }\n"          /* gap 4: joins */
        "      - { name: h20, address: 20 }\n"        /* gap 14: new read */
        "      - { name: i0, register: input, address: 0 }\n"
        "      - { name: c0, register: coil, address: 0, type: bool }\n"
        "      - { name: c9, register: coil, address: 9, type: bool }\n"   /* gap 8 > 4 */
        "      - { name: d3, register: discrete, address: 3, type: bool }\n");
    struct modbus_plan p;
    assert_int_equal(modbus_plan_build(&cfg->devices[0], -1, &p), 0);
    assert_int_equal(p.n_reads, 6);
    /* sorted by kind: holding, input, coil, discrete */
    assert_int_equal(p.reads[0].kind, CFG_REG_HOLDING);
    assert_int_equal(p.reads[0].start, 0);
    assert_int_equal(p.reads[0].count, 6);
    assert_int_equal(p.reads[1].start, 20);
    assert_int_equal(p.reads[1].count, 1);
    assert_int_equal(p.reads[2].kind, CFG_REG_INPUT);
    assert_int_equal(p.reads[3].kind, CFG_REG_COIL);
    assert_int_equal(p.reads[3].count, 1);
    assert_int_equal(p.reads[4].kind, CFG_REG_COIL);
    assert_int_equal(p.reads[4].start, 9);
    assert_int_equal(p.reads[5].kind, CFG_REG_DISCRETE);
    modbus_plan_free(&p);
    config_free(cfg);
}

static void test_limits(void **state)
{
    (void)state;
    char points[8192] = "";
    /* 130 adjacent registers: the protocol's 125 splits them. */
    for (int i = 0; i < 130; i++)
        snprintf(points + strlen(points), sizeof points - strlen(points),
                 "      - { name: p%d, address: %d }\n", i, i);
    struct config *cfg = load("", points);
    struct modbus_plan p;
    assert_int_equal(modbus_plan_build(&cfg->devices[0], -1, &p), 0);
    assert_int_equal(p.n_reads, 2);
    assert_int_equal(p.reads[0].count, 125);
    assert_int_equal(p.reads[1].start, 125);
    assert_int_equal(p.reads[1].count, 5);
    modbus_plan_free(&p);
    config_free(cfg);

    /* The device's own maximum, and a value never cut in two. */
    cfg = load("    max_registers: 3\n",
        "      - { name: a, address: 0 }\n"
        "      - { name: b, address: 1, type: uint32 }\n"
        "      - { name: c, address: 3, type: uint32 }\n");
    assert_int_equal(modbus_plan_build(&cfg->devices[0], -1, &p), 0);
    assert_int_equal(p.n_reads, 2);
    assert_int_equal(p.reads[0].count, 3);
    assert_int_equal(p.reads[1].start, 3);
    assert_int_equal(p.reads[1].count, 2);
    modbus_plan_free(&p);
    config_free(cfg);
}

static void test_coalesce_off_and_bits_of_one_register(void **state)
{
    (void)state;
    struct config *cfg = load("    coalesce: false\n",
        "      - { name: a, address: 0 }\n"
        "      - { name: b, address: 1 }\n");
    struct modbus_plan p;
    assert_int_equal(modbus_plan_build(&cfg->devices[0], -1, &p), 0);
    assert_int_equal(p.n_reads, 2);
    modbus_plan_free(&p);
    config_free(cfg);

    cfg = load("",
        "      - { name: alarm, address: 7, type: bool, bit: 0 }\n"
        "      - { name: fault, address: 7, type: bool, bit: 15 }\n"
        "      - { name: raw, address: 8, type: raw, count: 3 }\n"
        "      - { name: serial, address: 11, type: string, count: 4 }\n");
    assert_int_equal(modbus_plan_build(&cfg->devices[0], -1, &p), 0);
    assert_int_equal(p.n_reads, 1);
    assert_int_equal(p.reads[0].start, 7);
    assert_int_equal(p.reads[0].count, 8);   /* 7, 8..10, 11..14 */
    assert_int_equal(p.reads[0].n, 4);
    modbus_plan_free(&p);
    config_free(cfg);
}

static void test_split(void **state)
{
    (void)state;
    struct config *cfg = load("",
        "      - { name: a, address: 0 }\n"
        "      - { name: b, address: 2, type: float32 }\n"
        "      - { name: c, address: 5 }\n"
        "      - { name: z, register: input, address: 0 }\n");
    const struct cfg_device *dev = &cfg->devices[0];
    struct modbus_plan p;
    assert_int_equal(modbus_plan_build(dev, -1, &p), 0);
    assert_int_equal(p.n_reads, 2);
    assert_int_equal(modbus_plan_split(&p, 0, dev), 3);
    assert_int_equal(p.n_reads, 4);
    assert_int_equal(p.reads[0].start, 0);
    assert_int_equal(p.reads[0].count, 1);
    assert_int_equal(p.reads[1].start, 2);
    assert_int_equal(p.reads[1].count, 2);
    assert_string_equal(point_name(dev, &p, &p.reads[1], 0), "b");
    assert_int_equal(p.reads[2].start, 5);
    assert_int_equal(p.reads[3].kind, CFG_REG_INPUT);
    assert_string_equal(point_name(dev, &p, &p.reads[3], 0), "z");
    assert_int_equal(modbus_plan_split(&p, 3, dev), 1);   /* one point: unchanged */
    assert_int_equal(p.n_reads, 4);
    modbus_plan_free(&p);
    config_free(cfg);
}

static void test_interval_groups(void **state)
{
    (void)state;
    struct config *cfg = load("    poll_interval: 1s\n",
        "      - { name: power, address: 0 }\n"
        "      - { name: energy, address: 2, type: uint32, poll_interval: 1m }\n"
        "      - { name: current, address: 1 }\n");
    const struct cfg_device *dev = &cfg->devices[0];
    assert_int_equal(dev->points[0].poll_interval, 1000000);   /* inherited */
    struct modbus_plan p;
    assert_int_equal(modbus_plan_build(dev, 1000000, &p), 0);
    assert_int_equal(p.n_reads, 1);
    assert_int_equal(p.reads[0].start, 0);
    assert_int_equal(p.reads[0].count, 2);   /* power and current, not energy */
    assert_int_equal(p.reads[0].n, 2);
    modbus_plan_free(&p);
    assert_int_equal(modbus_plan_build(dev, 60000000, &p), 0);
    assert_int_equal(p.n_reads, 1);
    assert_int_equal(p.reads[0].start, 2);
    assert_string_equal(point_name(dev, &p, &p.reads[0], 0), "energy");
    modbus_plan_free(&p);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contiguous_points_are_one_read),
        cmocka_unit_test(test_gap_and_kind_split_reads),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_coalesce_off_and_bits_of_one_register),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_interval_groups),
    };
    return cmocka_run_group_tests_name("modbus plan", tests, NULL, NULL);
}
