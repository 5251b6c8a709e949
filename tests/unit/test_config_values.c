/* Unit tests of the configuration's value syntax: numbers, durations, sizes,
 * bytes, ${ENV} expansion, templates, expressions and "did you mean". */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "config/env.h"
#include "config/expr.h"
#include "config/suggest.h"
#include "config/template.h"
#include "config/values.h"

static void test_int(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(value_parse_int("42", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(value_parse_int("0x10", &v), 0);
    assert_int_equal(v, 16);
    assert_int_equal(value_parse_int("-7", &v), 0);
    assert_int_equal(v, -7);
    assert_int_equal(value_parse_int("9223372036854775807", &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(value_parse_int("-9223372036854775808", &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(value_parse_int("9223372036854775808", &v), -1);
    assert_int_equal(value_parse_int("12abc", &v), -1);
    assert_int_equal(value_parse_int("", &v), -1);
    assert_int_equal(value_parse_int("0x", &v), -1);
    assert_int_equal(value_parse_int(" 1", &v), -1);
    assert_int_equal(value_parse_int("1.5", &v), -1);
}

static void test_double_and_bool(void **state)
{
    (void)state;
    double d;
    bool b;
    assert_int_equal(value_parse_double("0.1", &d), 0);
    assert_true(d == 0.1);
    assert_int_equal(value_parse_double("-1e3", &d), 0);
    assert_true(d == -1000.0);
    assert_int_equal(value_parse_double("nan", &d), -1);
    assert_int_equal(value_parse_double("inf", &d), -1);
    assert_int_equal(value_parse_double("0x1p3", &d), -1);
    assert_int_equal(value_parse_double("1e999", &d), -1);
    assert_int_equal(value_parse_bool("yes", &b), 0);
    assert_true(b);
    assert_int_equal(value_parse_bool("Off", &b), 0);
    assert_false(b);
    assert_int_equal(value_parse_bool("1", &b), -1);
}

static void test_duration(void **state)
{
    (void)state;
    int64_t us;
    assert_int_equal(value_parse_duration("250ms", &us), 0);
    assert_int_equal(us, 250000);
    assert_int_equal(value_parse_duration("5s", &us), 0);
    assert_int_equal(us, 5000000);
    assert_int_equal(value_parse_duration("1m30s", &us), 0);
    assert_int_equal(us, 90000000);
    assert_int_equal(value_parse_duration("1.5s", &us), 0);
    assert_int_equal(us, 1500000);
    assert_int_equal(value_parse_duration("2d", &us), 0);
    assert_true(us == INT64_C(172800000000));
    assert_int_equal(value_parse_duration("750us", &us), 0);
    assert_int_equal(us, 750);
    assert_int_equal(value_parse_duration("0", &us), 0);
    assert_int_equal(us, 0);
    assert_int_equal(value_parse_duration("5", &us), -1);   /* a unit is required */
    assert_int_equal(value_parse_duration("5 s", &us), -1);
    assert_int_equal(value_parse_duration("5x", &us), -1);
    assert_int_equal(value_parse_duration("s", &us), -1);
    assert_int_equal(value_parse_duration("0.5us", &us), -1); /* below the resolution */
    assert_int_equal(value_parse_duration("999999999d", &us), -1);

    char buf[32];
    value_format_duration(90000000, buf, sizeof(buf));
    assert_string_equal(buf, "90s");
    value_format_duration(250000, buf, sizeof(buf));
    assert_string_equal(buf, "250ms");
    value_format_duration(0, buf, sizeof(buf));
    assert_string_equal(buf, "0");
}

static void test_size(void **state)
{
    (void)state;
    uint64_t n;
    assert_int_equal(value_parse_size("64KiB", &n), 0);
    assert_int_equal(n, 65536);
    assert_int_equal(value_parse_size("256MB", &n), 0);
    assert_int_equal(n, 256000000);
    assert_int_equal(value_parse_size("1.5MiB", &n), 0);
    assert_int_equal(n, 1572864);
    assert_int_equal(value_parse_size("512", &n), 0);
    assert_int_equal(n, 512);
    assert_int_equal(value_parse_size("3GiB", &n), 0);
    assert_true(n == UINT64_C(3) << 30); /* past 2^31: no 32-bit truncation */
    assert_int_equal(value_parse_size("10 KB", &n), -1);
    assert_int_equal(value_parse_size("10kib", &n), -1);
    assert_int_equal(value_parse_size("KiB", &n), -1);
    assert_int_equal(value_parse_size("-1", &n), -1);

    char buf[32];
    value_format_size(UINT64_C(64) << 20, buf, sizeof(buf));
    assert_string_equal(buf, "64MiB");
    value_format_size(1000, buf, sizeof(buf));
    assert_string_equal(buf, "1000");
}

static void test_bytes(void **state)
{
    (void)state;
    uint8_t *data;
    size_t len;
    assert_int_equal(value_parse_bytes("42 4d e2", &data, &len), 0);
    assert_int_equal(len, 3);
    assert_int_equal(data[0], 0x42);
    assert_int_equal(data[2], 0xe2);
    free(data);
    assert_int_equal(value_parse_bytes("0x42,0X4D", &data, &len), 0);
    assert_int_equal(len, 2);
    assert_int_equal(data[1], 0x4d);
    free(data);
    assert_int_equal(value_parse_bytes("424D", &data, &len), 0);
    assert_int_equal(len, 2);
    free(data);
    assert_int_equal(value_parse_bytes("4", &data, &len), -1);
    assert_int_equal(value_parse_bytes("zz", &data, &len), -1);
    assert_int_equal(value_parse_bytes("", &data, &len), -1);
}

static void test_env(void **state)
{
    (void)state;
    char *out, err[128];
    setenv("MQGATE_TEST_SECRET", "s3cret", 1);
    unsetenv("MQGATE_TEST_UNSET");
    assert_int_equal(env_expand("pw=${MQGATE_TEST_SECRET}!", &out, err, sizeof(err)), 0);
    assert_string_equal(out, "pw=s3cret!");
    free(out);
    assert_int_equal(env_expand("${MQGATE_TEST_UNSET:-fallback}", &out, err, sizeof(err)), 0);
    assert_string_equal(out, "fallback");
    free(out);
    assert_int_equal(env_expand("cost $$5 and $x", &out, err, sizeof(err)), 0);
    assert_string_equal(out, "cost $5 and $x");
    free(out);
    assert_int_equal(env_expand("${MQGATE_TEST_UNSET}", &out, err, sizeof(err)), -1);
    assert_null(out);
    assert_string_equal(err, "environment variable 'MQGATE_TEST_UNSET' is not set");
    assert_int_equal(env_expand("${BAD-NAME}", &out, err, sizeof(err)), -1);
    assert_string_equal(err, "invalid environment variable name 'BAD-NAME'");
    assert_int_equal(env_expand("${OPEN", &out, err, sizeof(err)), -1);
    assert_int_equal(env_expand("${}", &out, err, sizeof(err)), -1);
}

static void test_template(void **state)
{
    (void)state;
    char err[160];
    size_t at;
    unsigned used = 0;
    assert_int_equal(template_check("{gateway}/{device}/{point}", TEMPLATE_TOPIC, TVARS_POINT_TOPIC,
                                    &used, err, sizeof(err), &at), 0);
    assert_int_equal(used, TVAR_GATEWAY | TVAR_DEVICE | TVAR_POINT);
    assert_int_equal(template_check("a/{devcie}", TEMPLATE_TOPIC, TVARS_POINT_TOPIC, NULL, err,
                                    sizeof(err), &at), -1);
    assert_string_equal(err, "unknown variable '{devcie}', did you mean '{device}'?");
    assert_int_equal(at, 2);
    assert_int_equal(template_check("a/{value}", TEMPLATE_TOPIC, TVARS_POINT_TOPIC, NULL, err,
                                    sizeof(err), &at), -1);
    assert_string_equal(err, "variable '{value}' cannot be used here");
    assert_int_equal(template_check("a/+/b", TEMPLATE_TOPIC, TVARS_POINT_TOPIC, NULL, err,
                                    sizeof(err), &at), -1);
    assert_string_equal(err, "wildcard '+' in a topic name");
    assert_int_equal(template_check("a//b", TEMPLATE_TOPIC, TVARS_POINT_TOPIC, NULL, err,
                                    sizeof(err), &at), -1);
    assert_string_equal(err, "empty topic level");
    assert_int_equal(template_check("a/b/", TEMPLATE_TOPIC, TVARS_POINT_TOPIC, NULL, err,
                                    sizeof(err), &at), -1);
    assert_int_equal(template_check("{a", TEMPLATE_TEXT, TVARS_PAYLOAD, NULL, err, sizeof(err), &at), -1);
    assert_int_equal(template_check("{{\"v\": {value}}}", TEMPLATE_TEXT, TVARS_PAYLOAD, NULL, err,
                                    sizeof(err), &at), 0);
    /* + and # are fine in payload text */
    assert_int_equal(template_check("#{value}+", TEMPLATE_TEXT, TVARS_PAYLOAD, NULL, err,
                                    sizeof(err), &at), 0);

    struct template_values v = { { 0 } };
    template_values_set(&v, TVAR_VALUE, "21.5");
    template_values_set(&v, TVAR_UNIT, "C");
    char buf[64];
    assert_int_equal(template_render("{{\"v\": {value}, \"u\": \"{unit}\"}}", &v, buf, sizeof(buf)), 21);
    assert_string_equal(buf, "{\"v\": 21.5, \"u\": \"C\"}");
    char small[5];
    assert_int_equal(template_render("{value} {unit}", &v, small, sizeof(small)), 6);
    assert_string_equal(small, "21.5");
}

static void test_expr(void **state)
{
    (void)state;
    char err[128];
    size_t at;
    assert_int_equal(expr_check("x * 0.1 - 40", err, sizeof(err), &at), 0);
    assert_int_equal(expr_check("round(max(x, 0) / 3.6) + -abs(x)", err, sizeof(err), &at), 0);
    assert_int_equal(expr_check("(x", err, sizeof(err), &at), -1);
    assert_string_equal(err, "expected ')'");
    assert_int_equal(expr_check("x *", err, sizeof(err), &at), -1);
    assert_string_equal(err, "unexpected end of expression");
    assert_int_equal(expr_check("y + 1", err, sizeof(err), &at), -1);
    assert_int_equal(at, 0);
    assert_int_equal(expr_check("max(x)", err, sizeof(err), &at), -1);
    assert_string_equal(err, "expected ',' between arguments");
    assert_int_equal(expr_check("x 2", err, sizeof(err), &at), -1);
    assert_string_equal(err, "unexpected text after the expression");
    assert_int_equal(expr_check("system(1)", err, sizeof(err), &at), -1);
    char deep[200];
    memset(deep, '(', 100);
    strcpy(deep + 100, "x");
    assert_int_equal(expr_check(deep, err, sizeof(err), &at), -1);
    assert_string_equal(err, "expression nested too deeply");
}

static double eval(const char *text, double x)
{
    struct expr_op ops[EXPR_MAX_OPS];
    size_t n;
    char err[128];
    assert_int_equal(expr_compile(text, ops, EXPR_MAX_OPS, &n, err, sizeof(err), NULL), 0);
    double out;
    assert_int_equal(expr_eval(ops, n, x, &out), 0);
    return out;
}

static void test_expr_eval(void **state)
{
    (void)state;
    assert_true(eval("x * 0.1 - 40", 650) == 25);
    assert_true(eval("2 + 3 * 4", 0) == 14);
    assert_true(eval("(2 + 3) * 4", 0) == 20);
    assert_true(eval("10 - 2 - 3", 0) == 5);     /* left associative */
    assert_true(eval("8 / 2 / 2", 0) == 2);
    assert_true(eval("-(x - 2) * 3", 5) == -9);
    assert_true(eval("--x", 3) == 3);
    assert_true(eval("+x", 3) == 3);
    assert_true(eval("min(x, 100)", 150) == 100);
    assert_true(eval("max(x, 0)", -5) == 0);
    assert_true(eval("round(max(x, 0) / 3.6) + -abs(x)", 36) == -26);
    assert_true(eval("round(2.5)", 0) == 3);
    assert_true(eval("abs(x) * 1e-3", -2500) == 2.5);

    struct expr_op ops[EXPR_MAX_OPS];
    size_t n;
    char err[128];
    double out;
    assert_int_equal(expr_compile("1 / x", ops, EXPR_MAX_OPS, &n, err, sizeof(err), NULL), 0);
    assert_int_equal(expr_eval(ops, n, 0, &out), -1); /* not a finite number */
    assert_int_equal(expr_eval(ops, n, 4, &out), 0);
    assert_true(out == 0.25);

    char longest[256] = "x";
    for (int i = 0; i < 40; i++)
        strcat(longest, "+x");
    assert_int_equal(expr_compile(longest, ops, EXPR_MAX_OPS, &n, err, sizeof(err), NULL), -1);
    assert_string_equal(err, "expression too long");
    /* A program that did not come from expr_compile is refused, not run. */
    struct expr_op bad[] = { { EXPR_ADD, 0 } };
    assert_int_equal(expr_eval(bad, 1, 0, &out), -1);
}

static void test_suggest(void **state)
{
    (void)state;
    assert_int_equal(suggest_distance("sclae", "scale"), 1);
    assert_int_equal(suggest_distance("abc", "abc"), 0);
    assert_int_equal(suggest_distance("kitten", "sitting"), 3);
    struct suggest s;
    suggest_init(&s, "adress");
    suggest_offer(&s, "bit");
    suggest_offer(&s, "address");
    suggest_offer(&s, "unit");
    assert_string_equal(suggest_result(&s), "address");
    suggest_init(&s, "zzz");
    suggest_offer(&s, "address");
    assert_null(suggest_result(&s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_double_and_bool),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_template),
        cmocka_unit_test(test_expr),
        cmocka_unit_test(test_expr_eval),
        cmocka_unit_test(test_suggest),
    };
    return cmocka_run_group_tests_name("config values", tests, NULL, NULL);
}
