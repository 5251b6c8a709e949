/* Tests of the publish decision with a driven clock: the first reading,
 * every_poll and on_change, absolute and percent deadbands (apart and
 * together), min_interval, the max_interval heartbeat, quality and error
 * changes that bypass min_interval, text, bool and kind changes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "gateway/mapping/report.h"

#define MS 1000      /* config durations are microseconds */
#define SEC 1000000

static struct eng_value num(double x)
{
    struct eng_value v = { .kind = ENG_NUMBER, .number = x };
    return v;
}

static struct eng_value text(const char *s)
{
    struct eng_value v = { .kind = ENG_TEXT };
    strcpy(v.text, s);
    return v;
}

static struct eng_value boolean(bool b)
{
    struct eng_value v = { .kind = ENG_BOOL, .b = b, .number = b };
    return v;
}

static struct cfg_publish on_change(double deadband, double percent)
{
    struct cfg_publish p = { .report = CFG_REPORT_ON_CHANGE, .deadband = deadband,
                             .deadband_percent = percent };
    return p;
}

/* A good reading of `v` at `t` ms. */
static bool good(const struct cfg_publish *p, struct report_state *st, struct eng_value v,
                 int64_t t)
{
    return report_decide(p, st, true, READING_ERR_NONE, &v, t);
}

static bool bad(const struct cfg_publish *p, struct report_state *st, enum reading_error e,
                int64_t t)
{
    return report_decide(p, st, false, e, NULL, t);
}

static void test_first_reading(void **state)
{
    (void)state;
    struct cfg_publish p = on_change(100, 50);
    p.min_interval = 60 * SEC;
    struct report_state st = { 0 };
    assert_true(good(&p, &st, num(1), 5000));
    assert_true(st.published);
    assert_true(st.good);
    assert_true(st.last.number == 1);
    assert_int_equal(st.last_ms, 5000);
    /* a bad first reading too */
    struct report_state st2 = { 0 };
    assert_true(bad(&p, &st2, READING_ERR_TIMEOUT, 0));
    assert_false(st2.good);
    assert_int_equal(st2.error, READING_ERR_TIMEOUT);
}

static void test_every_poll_vs_on_change(void **state)
{
    (void)state;
    struct cfg_publish every = { .report = CFG_REPORT_EVERY_POLL };
    struct cfg_publish change = on_change(0, 0);
    struct report_state a = { 0 }, b = { 0 };
    int n_every = 0, n_change = 0;
    static const double series[] = { 5, 5, 5, 6, 6, 5, 5 };
    for (int i = 0; i < 7; i++) {
        n_every += good(&every, &a, num(series[i]), i * 1000);
        n_change += good(&change, &b, num(series[i]), i * 1000);
    }
    assert_int_equal(n_every, 7);
    assert_int_equal(n_change, 3);   /* 5, 6, 5 */
    /* every_poll repeats failures as well */
    assert_true(bad(&every, &a, READING_ERR_CRC, 8000));
    assert_true(bad(&every, &a, READING_ERR_CRC, 9000));
    /* on_change: an unchanged failure is not repeated */
    assert_true(bad(&change, &b, READING_ERR_CRC, 8000));
    assert_false(bad(&change, &b, READING_ERR_CRC, 9000));
}

static void test_deadband_absolute(void **state)
{
    (void)state;
    struct cfg_publish p = on_change(0.5, 0);
    struct report_state st = { 0 };
    assert_true(good(&p, &st, num(10), 0));
    assert_false(good(&p, &st, num(10.4), 1));
    assert_false(good(&p, &st, num(10.5), 2));   /* more than, not equal */
    assert_false(good(&p, &st, num(9.6), 3));
    /* against the last published 10, not the last seen: drift adds up */
    assert_false(good(&p, &st, num(10.3), 4));
    assert_true(good(&p, &st, num(10.6), 5));
    assert_true(st.last.number == 10.6);
    assert_false(good(&p, &st, num(10.2), 6));
    assert_true(good(&p, &st, num(10.0), 7));
}

static void test_deadband_percent(void **state)
{
    (void)state;
    struct cfg_publish p = on_change(0, 10);
    struct report_state st = { 0 };
    assert_true(good(&p, &st, num(100), 0));
    assert_false(good(&p, &st, num(109), 1));
    assert_false(good(&p, &st, num(91), 2));
    assert_false(good(&p, &st, num(110), 3));   /* exactly 10 %: not more */
    assert_true(good(&p, &st, num(111), 4));
    assert_false(good(&p, &st, num(121), 5));   /* 9 % of 111 */
    /* relative to |last| for negative values */
    struct report_state neg = { 0 };
    assert_true(good(&p, &neg, num(-50), 0));
    assert_false(good(&p, &neg, num(-54), 1));
    assert_true(good(&p, &neg, num(-56), 2));
    /* from 0 any move is an infinite percentage, no move is none */
    struct report_state zero = { 0 };
    assert_true(good(&p, &zero, num(0), 0));
    assert_false(good(&p, &zero, num(0), 1));
    assert_true(good(&p, &zero, num(0.001), 2));
}

static void test_deadband_both(void **state)
{
    (void)state;
    struct cfg_publish p = on_change(1, 10);
    struct report_state big = { 0 }, small = { 0 };
    assert_true(good(&p, &big, num(100), 0));
    assert_false(good(&p, &big, num(105), 1));   /* past 1, not past 10 % */
    assert_true(good(&p, &big, num(111), 2));
    assert_true(good(&p, &small, num(5), 0));
    assert_false(good(&p, &small, num(5.8), 1)); /* past 10 %, not past 1 */
    assert_true(good(&p, &small, num(6.1), 2));
}

static void test_min_interval(void **state)
{
    (void)state;
    struct cfg_publish p = { .report = CFG_REPORT_EVERY_POLL, .min_interval = 1 * SEC };
    struct report_state st = { 0 };
    assert_true(good(&p, &st, num(1), 10000));
    assert_false(good(&p, &st, num(2), 10500));
    assert_false(good(&p, &st, num(3), 10999));
    assert_true(good(&p, &st, num(4), 11000));
    assert_true(st.last.number == 4);
    /* on_change: a change inside the interval waits for the next reading
     * after it */
    struct cfg_publish c = on_change(0, 0);
    c.min_interval = 250 * MS;
    struct report_state s2 = { 0 };
    assert_true(good(&c, &s2, num(1), 0));
    assert_false(good(&c, &s2, num(2), 100));
    assert_false(good(&c, &s2, num(1), 300));   /* back where it was published */
    assert_true(good(&c, &s2, num(2), 400));
    /* a driven clock: readings every 100 ms for 10 s, every_poll with
     * min_interval 1 s → one publish per second */
    struct report_state s3 = { 0 };
    int n = 0;
    for (int64_t t = 0; t < 10000; t += 100)
        n += good(&p, &s3, num((double)t), t);
    assert_int_equal(n, 10);
}

static void test_max_interval_heartbeat(void **state)
{
    (void)state;
    struct cfg_publish p = on_change(0, 0);
    p.max_interval = 5 * SEC;
    struct report_state st = { 0 };
    int64_t published_at[8];
    int n = 0;
    for (int64_t t = 0; t <= 20000; t += 100) {
        if (good(&p, &st, num(42), t)) {
            assert_true(n < 8);
            published_at[n++] = t;
        }
    }
    assert_int_equal(n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(published_at[i], i * 5000);
    /* a change restarts the heartbeat */
    assert_true(good(&p, &st, num(43), 21000));
    assert_false(good(&p, &st, num(43), 25999));
    assert_true(good(&p, &st, num(43), 26000));
    /* an unchanged failure is repeated by the heartbeat only */
    assert_true(bad(&p, &st, READING_ERR_TIMEOUT, 27000));
    assert_false(bad(&p, &st, READING_ERR_TIMEOUT, 31999));
    assert_true(bad(&p, &st, READING_ERR_TIMEOUT, 32000));
    /* without max_interval, never */
    struct cfg_publish q = on_change(0, 0);
    struct report_state s2 = { 0 };
    assert_true(good(&q, &s2, num(1), 0));
    assert_false(good(&q, &s2, num(1), INT64_C(7) * 24 * 3600 * 1000));
}

static void test_quality_bypasses_min_interval(void **state)
{
    (void)state;
    struct cfg_publish p = on_change(5, 0);
    p.min_interval = 10 * SEC;
    struct report_state st = { 0 };
    assert_true(good(&p, &st, num(20), 0));
    assert_true(bad(&p, &st, READING_ERR_TIMEOUT, 100));   /* good → bad at once */
    assert_false(bad(&p, &st, READING_ERR_TIMEOUT, 200));
    assert_true(bad(&p, &st, READING_ERR_CRC, 300));       /* error kind change */
    assert_int_equal(st.error, READING_ERR_CRC);
    assert_true(st.last.number == 20);                     /* bad keeps the last value */
    assert_true(good(&p, &st, num(20), 400));              /* bad → good at once */
    assert_false(good(&p, &st, num(90), 500));             /* a value: min_interval holds */
    /* stale: quality not good, with the last value, error none */
    struct eng_value held = st.last;
    assert_true(report_decide(&p, &st, false, READING_ERR_NONE, &held, 600));
    assert_false(st.good);
    assert_false(report_decide(&p, &st, false, READING_ERR_NONE, &held, 700));
    /* a stale value is not compared: it waits for quality or the heartbeat */
    struct eng_value other = num(99);
    assert_false(report_decide(&p, &st, false, READING_ERR_NONE, &other, 20000));
    assert_true(good(&p, &st, num(20), 800));
}

static void test_text_bool_kind_changes(void **state)
{
    (void)state;
    struct cfg_publish p = on_change(1000, 100);   /* deadbands apply to numbers only */
    struct report_state st = { 0 };
    assert_true(good(&p, &st, text("off"), 0));
    assert_false(good(&p, &st, text("off"), 1));
    assert_true(good(&p, &st, text("on"), 2));
    assert_true(good(&p, &st, num(1), 3));       /* label → number */
    assert_true(good(&p, &st, text("on"), 4));   /* and back */
    assert_true(good(&p, &st, boolean(true), 5));
    assert_false(good(&p, &st, boolean(true), 6));
    assert_true(good(&p, &st, boolean(false), 7));
    assert_string_equal(st.last.text, "");
    assert_false(st.last.b);
}

static void test_exact_integers(void **state)
{
    (void)state;
    /* 2^53 and 2^53 + 1 are the same double; their text is not */
    struct eng_value a = { .kind = ENG_NUMBER, .number = 9007199254740992.0, .integral = true,
                           .text = "9007199254740992" };
    struct eng_value b = a;
    strcpy(b.text, "9007199254740993");
    struct cfg_publish p = on_change(0, 0);
    struct report_state st = { 0 };
    assert_true(report_decide(&p, &st, true, READING_ERR_NONE, &a, 0));
    assert_false(report_decide(&p, &st, true, READING_ERR_NONE, &a, 1));
    assert_true(report_decide(&p, &st, true, READING_ERR_NONE, &b, 2));
    assert_string_equal(st.last.text, "9007199254740993");
    /* with a deadband, the lost digit does not count */
    struct cfg_publish d = on_change(10, 0);
    assert_false(report_decide(&d, &st, true, READING_ERR_NONE, &a, 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_reading),
        cmocka_unit_test(test_every_poll_vs_on_change),
        cmocka_unit_test(test_deadband_absolute),
        cmocka_unit_test(test_deadband_percent),
        cmocka_unit_test(test_deadband_both),
        cmocka_unit_test(test_min_interval),
        cmocka_unit_test(test_max_interval_heartbeat),
        cmocka_unit_test(test_quality_bypasses_min_interval),
        cmocka_unit_test(test_text_bool_kind_changes),
        cmocka_unit_test(test_exact_integers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
