/* Unit tests for drivers/backoff: the exact bounds of backoff.h (doubling from
 * min, the cap at max, ±20% jitter), reset, the spread of the jitter, seeds,
 * the clamping of odd arguments, and no overflow at large maxima. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdbool.h>

#include "drivers/backoff.h"

/* base_k from the header, computed the slow way. */
static int64_t expected_base(int64_t min, int64_t max, int k)
{
    int64_t base = min;
    for (int i = 0; i < k && base < max; i++)
        base = base > max / 2 ? max : base * 2;
    return base < max ? base : max;
}

static void assert_within(int64_t v, int64_t base)
{
    assert_true(v >= base - base / 5);
    assert_true(v <= base + base / 5);
}

static void test_doubles_from_min_to_max(void **state)
{
    (void)state;
    struct backoff b;
    backoff_init(&b, 500, 30000, 42);
    /* 500, 1000, 2000, 4000, 8000, 16000, then 30000 (not 32000) for ever. */
    for (int k = 0; k < 40; k++)
        assert_within(backoff_next(&b), expected_base(500, 30000, k));
    assert_int_equal(expected_base(500, 30000, 5), 16000);
    assert_int_equal(expected_base(500, 30000, 6), 30000);
}

static void test_capped_at_max(void **state)
{
    (void)state;
    struct backoff b;
    backoff_init(&b, 100, 1000, 7);
    for (int k = 0; k < 4; k++)
        (void)backoff_next(&b);  /* 100, 200, 400, 800 */
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < 2000; i++) {
        int64_t v = backoff_next(&b);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    assert_true(lo >= 800);
    assert_true(hi <= 1200);
    /* The cap really is the centre: both ends of the band get used. */
    assert_true(lo < 850);
    assert_true(hi > 1150);
}

static void test_never_below_half_min(void **state)
{
    (void)state;
    for (uint64_t seed = 0; seed < 50; seed++) {
        struct backoff b;
        backoff_init(&b, 1000, 60000, seed);
        for (int k = 0; k < 12; k++) {
            int64_t v = backoff_next(&b);
            assert_true(v >= 800);      /* min - min/5 */
            assert_true(v <= 72000);    /* max + max/5 */
        }
    }
}

static void test_reset_starts_again_from_min(void **state)
{
    (void)state;
    struct backoff b;
    backoff_init(&b, 250, 60000, 3);
    for (int k = 0; k < 10; k++)
        (void)backoff_next(&b);
    assert_int_equal(b.next_ms, 60000);
    backoff_reset(&b);
    assert_int_equal(b.next_ms, 250);
    assert_within(backoff_next(&b), 250);
    assert_within(backoff_next(&b), 500);
}

/* Jitter is spread over the whole ±20% band, roughly evenly, around base. */
static void test_jitter_spread(void **state)
{
    (void)state;
    struct backoff b;
    backoff_init(&b, 10000, 10000, 99);
    int64_t sum = 0, lo = INT64_MAX, hi = 0;
    int below = 0, above = 0;
    const int n = 4000;
    for (int i = 0; i < n; i++) {
        int64_t v = backoff_next(&b);
        assert_within(v, 10000);
        sum += v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        below += v < 9000;
        above += v > 11000;
    }
    assert_true(lo < 8100);
    assert_true(hi > 11900);
    int64_t mean = sum / n;
    assert_true(mean > 9900 && mean < 10100);
    /* Each outer quarter of the band holds about a quarter of the draws. */
    assert_true(below > n / 5 && below < n * 3 / 10);
    assert_true(above > n / 5 && above < n * 3 / 10);
}

static void test_seeds_differ_and_repeat(void **state)
{
    (void)state;
    struct backoff a, b, c;
    backoff_init(&a, 1000, 1000, 1);
    backoff_init(&b, 1000, 1000, 2);
    backoff_init(&c, 1000, 1000, 1);
    int differ = 0;
    for (int i = 0; i < 20; i++) {
        int64_t va = backoff_next(&a), vb = backoff_next(&b), vc = backoff_next(&c);
        differ += va != vb;
        assert_int_equal(va, vc);   /* same seed, same sequence */
    }
    assert_true(differ >= 15);
}

static void test_seed_zero_still_jitters(void **state)
{
    (void)state;
    struct backoff b;
    backoff_init(&b, 5000, 5000, 0);
    int64_t first = backoff_next(&b);
    bool varied = false;
    for (int i = 0; i < 20; i++)
        varied |= backoff_next(&b) != first;
    assert_true(varied);
}

static void test_odd_arguments_clamped(void **state)
{
    (void)state;
    struct backoff b;
    backoff_init(&b, 0, 0, 5);                 /* min 0 → 1, max < min → min */
    assert_int_equal(b.min_ms, 1);
    assert_int_equal(b.max_ms, 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(backoff_next(&b), 1);  /* 1 ± 1/5 = 1 */
    backoff_init(&b, -50, 4, 5);
    assert_int_equal(b.min_ms, 1);
    assert_int_equal(b.max_ms, 4);
    backoff_init(&b, 2000, 1000, 5);
    assert_int_equal(b.max_ms, 2000);
    assert_within(backoff_next(&b), 2000);
    assert_within(backoff_next(&b), 2000);
}

/* An hour's cap reached from 1 ms takes 22 doublings; nothing overflows
 * there, nor at the largest max allowed (UBSan would abort on overflow). */
static void test_no_overflow(void **state)
{
    (void)state;
    const int64_t hour = 3600 * 1000;
    struct backoff b;
    backoff_init(&b, 1, hour, 11);
    for (int k = 0; k < 500; k++) {
        int64_t v = backoff_next(&b);
        assert_within(v, expected_base(1, hour, k));
        assert_true(v > 0 && v <= hour + hour / 5);
    }
    assert_int_equal(b.next_ms, hour);

    backoff_init(&b, 1, INT64_MAX, 12);
    assert_int_equal(b.max_ms, BACKOFF_MAX_MS);
    for (int k = 0; k < 200; k++) {
        int64_t v = backoff_next(&b);
        assert_true(v > 0);
        assert_within(v, expected_base(1, BACKOFF_MAX_MS, k));
    }
    backoff_init(&b, INT64_MAX, INT64_MAX, 13);
    for (int k = 0; k < 10; k++)
        assert_within(backoff_next(&b), BACKOFF_MAX_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubles_from_min_to_max),
        cmocka_unit_test(test_capped_at_max),
        cmocka_unit_test(test_never_below_half_min),
        cmocka_unit_test(test_reset_starts_again_from_min),
        cmocka_unit_test(test_jitter_spread),
        cmocka_unit_test(test_seeds_differ_and_repeat),
        cmocka_unit_test(test_seed_zero_still_jitters),
        cmocka_unit_test(test_odd_arguments_clamped),
        cmocka_unit_test(test_no_overflow),
    };
    return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
