/* Unit tests of the schema tables and the loader as a whole: every default
 * parses and lies in its range, every example is clean, and the resolve pass
 * (publish inheritance, default listener, anonymous access, merge keys,
 * ${ENV}) gives what config/README.md promises. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/load_internal.h"
#include "config/schema.h"

static void check_section(const struct cfg_section *sec, int depth)
{
    assert_true(depth < 8);
    assert_non_null(sec->doc);
    void *obj = calloc(1, sec->size);
    assert_non_null(obj);
    int n = 0;
    for (const struct cfg_key *k = sec->keys; k->name; k++, n++) {
        assert_non_null(k->doc);
        if (k->type == CFG_SECTION || k->type == CFG_LIST) {
            check_section(k->section, depth + 1);
            continue;
        }
        if (k->type == CFG_ENUM)
            assert_non_null(k->enums);
        if (!k->def)
            continue;
        if (key_parse_default(k, obj) != 0)
            fail_msg("default '%s' of %s.%s does not parse", k->def, sec->path, k->name);
        if (key_check_range(k, obj) != 0)
            fail_msg("default '%s' of %s.%s is out of its range", k->def, sec->path, k->name);
        assert_false(k->flags & CFG_REQUIRED); /* a required key with a default is a contradiction */
    }
    assert_true(n > 0 && n <= 64); /* the `set` bitmask holds 64 keys */
    uint64_t all = n == 64 ? UINT64_MAX : (UINT64_C(1) << n) - 1;
    memcpy((char *)obj + sec->set_offset, &all, sizeof(all)); /* so section_free frees each */
    section_free(sec, obj);
    free(obj);
}

static void test_every_default_parses_in_range(void **state)
{
    (void)state;
    check_section(&cfg_schema_root, 0);
}

static struct config *load_text(const char *text, struct diag *diag)
{
    struct config *cfg = NULL;
    diag_init(diag);
    config_load_string("test.yaml", text, strlen(text), &cfg, diag);
    return cfg;
}

static void test_examples_are_clean(void **state)
{
    (void)state;
    glob_t g;
    assert_int_equal(glob("config/examples/*.yaml", 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 5);
    for (size_t i = 0; i <= g.gl_pathc; i++) {
        const char *path = i < g.gl_pathc ? g.gl_pathv[i] : "config/demo.yaml";
        struct diag diag;
        diag_init(&diag);
        struct config *cfg;
        int rc = config_load_file(path, &cfg, &diag);
        if (rc != 0 || diag.count != 0) {
            diag_print(&diag, stderr);
            fail_msg("%s: %zu errors, %zu warnings", path, diag.errors, diag.warnings);
        }
        config_free(cfg);
        diag_free(&diag);
    }
    globfree(&g);
}

static const char inherit_yaml[] =
    "publish: { qos: 1, topic: 'top/{device}/{point}', retain: true }\n"
    "buses:\n"
    "  - name: b\n"
    "    device: /dev/ttyUSB0\n"
    "    publish: { qos: 2 }\n"
    "devices:\n"
    "  - name: d\n"
    "    bus: b\n"
    "    slave: 1\n"
    "    publish: { payload: json }\n"
    "    points:\n"
    "      - { name: p1, address: 0 }\n"
    "      - { name: p2, address: 1, publish: { qos: 0, topic: 'own/{point}' } }\n";

static void test_publish_inheritance(void **state)
{
    (void)state;
    struct diag diag;
    struct config *cfg = load_text(inherit_yaml, &diag);
    assert_non_null(cfg);
    const struct cfg_point *p1 = &cfg->devices[0].points[0], *p2 = &cfg->devices[0].points[1];
    assert_int_equal(p1->publish.qos, 2);                 /* from the bus */
    assert_true(p1->publish.retain);                      /* from the top level */
    assert_int_equal(p1->publish.payload, CFG_PAYLOAD_JSON); /* from the device */
    assert_string_equal(p1->publish.topic.text, "top/{device}/{point}");
    assert_int_equal(p1->publish.topic.pos.line, 1);      /* still points where it was written */
    assert_int_equal(p2->publish.qos, 0);                 /* its own */
    assert_string_equal(p2->publish.topic.text, "own/{point}");
    assert_int_equal(p2->publish.report, CFG_REPORT_EVERY_POLL); /* the default */
    assert_int_equal(p1->publish.json_fields.count, 4);   /* default list */
    assert_int_equal(cfg->buses[0].publish.payload, CFG_PAYLOAD_VALUE);
    config_free(cfg);
    diag_free(&diag);
}

static void test_broker_defaults(void **state)
{
    (void)state;
    struct diag diag;
    struct config *cfg = load_text("gateway: { name: g }\n", &diag);
    assert_non_null(cfg);
    assert_int_equal(cfg->broker.n_listeners, 1);
    assert_string_equal(cfg->broker.listeners[0].bind, "127.0.0.1");
    assert_int_equal(cfg->broker.listeners[0].port, 1883);
    assert_true(cfg->broker.listeners[0].allow_anonymous);
    assert_string_equal(cfg->broker.persistence.dir, "/var/lib/mqgate/broker");
    assert_string_equal(cfg->bridge.spool.dir, "/var/lib/mqgate/spool");
    assert_false(cfg_is_set(&cfg_schema_root, cfg, "bridge"));
    config_free(cfg);
    diag_free(&diag);

    /* One listener on the network: anonymous access is off everywhere. */
    cfg = load_text("broker:\n  listeners:\n    - { bind: 127.0.0.1 }\n"
                    "    - { bind: 0.0.0.0, port: 1884 }\n"
                    "  auth: { password_file: /etc/mqgate/passwd }\n", &diag);
    assert_non_null(cfg);
    assert_false(cfg->broker.listeners[0].allow_anonymous);
    assert_false(cfg->broker.listeners[1].allow_anonymous);
    config_free(cfg);
    diag_free(&diag);
}

static void test_merge_keys_and_env(void **state)
{
    (void)state;
    setenv("MQGATE_TEST_BAUD", "19200", 1);
    struct diag diag;
    struct config *cfg = load_text(
        "x-serial: &serial { baud: 4800, parity: even }\n"
        "buses:\n"
        "  - name: a\n"
        "    device: /dev/ttyUSB0\n"
        "    <<: *serial\n"
        "  - name: b\n"
        "    device: /dev/ttyUSB1\n"
        "    <<: *serial\n"
        "    baud: ${MQGATE_TEST_BAUD}\n", &diag);
    /* x-serial is not a key of the schema: an error, with a hint-free message. */
    assert_null(cfg);
    assert_int_equal(diag.errors, 1);
    assert_string_equal(diag.entries[0].message, "unknown key 'x-serial' in configuration");
    diag_free(&diag);

    /* Anchors can live anywhere the schema allows, e.g. inside the first bus. */
    cfg = load_text(
        "buses:\n"
        "  - &serial { name: a, device: /dev/ttyUSB0, baud: 4800, parity: even }\n"
        "  - <<: *serial\n"
        "    name: b\n"
        "    baud: ${MQGATE_TEST_BAUD}\n", &diag);
    assert_non_null(cfg);
    assert_string_equal(cfg->buses[1].name, "b");
    assert_string_equal(cfg->buses[1].device, "/dev/ttyUSB0");
    assert_int_equal(cfg->buses[1].parity, CFG_PARITY_EVEN);
    assert_int_equal(cfg->buses[1].baud, 19200);
    assert_int_equal(cfg->buses[0].baud, 4800);
    config_free(cfg);
    diag_free(&diag);
}

static void test_alias_bomb_is_bounded(void **state)
{
    (void)state;
    /* Each level doubles the work; without a bound this walks 2^40 nodes. */
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof(text), "a0: &a0 {k: v}\n");
    for (int i = 1; i <= 40; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "a%d: &a%d [*a%d, *a%d]\n", i, i, i - 1, i - 1);
    snprintf(text + n, sizeof(text) - n, "buses: [{<<: [*a40]}]\n");
    struct diag diag;
    struct config *cfg = load_text(text, &diag);
    assert_null(cfg);
    assert_true(diag.errors >= 1);
    diag_free(&diag);
}

static void test_all_errors_reported(void **state)
{
    (void)state;
    struct diag diag;
    struct config *cfg = load_text(
        "gateway: { name: 'bad name!' , log_level: loud }\n"
        "buses: [{ name: b, device: /dev/x, baud: 1, stop_bits: 3 }]\n"
        "devices: [{ name: d, bus: b, slave: 1, points: [{ name: p }] }]\n", &diag);
    assert_null(cfg);
    FILE *devnull = fopen("/dev/null", "w");
    assert_non_null(devnull);
    diag_print(&diag, devnull); /* sorts by position */
    fclose(devnull);
    assert_true(diag.errors >= 4);
    char line[256];
    diag_format(&diag.entries[0], line, sizeof(line));
    assert_string_equal(line, "test.yaml:1:18: error: 'name' must contain only letters, digits, '-' and '_' "
                        "(it becomes a topic level and a client id), got 'bad name!'");
    diag_free(&diag);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_default_parses_in_range),
        cmocka_unit_test(test_examples_are_clean),
        cmocka_unit_test(test_publish_inheritance),
        cmocka_unit_test(test_broker_defaults),
        cmocka_unit_test(test_merge_keys_and_env),
        cmocka_unit_test(test_alias_bomb_is_bounded),
        cmocka_unit_test(test_all_errors_reported),
    };
    return cmocka_run_group_tests_name("config schema", tests, NULL, NULL);
}
