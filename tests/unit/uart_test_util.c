/* Helpers shared by the UART framer unit tests (see uart_test_util.h): the
 * fixture, value checks that print the framer's reason before they fail,
 * and the fuzz driver. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/uart_test_util.h"

/* ---- fixture ----------------------------------------------------------------- */

int uart_test_setup(void **state)
{
    struct uart_test *t = calloc(1, sizeof(*t));
    *state = t;
    return t ? 0 : -1;
}

static void uart_test_close(struct uart_test *t)
{
    framer_free(t->f);
    t->f = NULL;
    config_free(t->cfg);
    t->cfg = NULL;
    t->s.n = 0;
}

int uart_test_teardown(void **state)
{
    struct uart_test *t = *state;
    if (t)
        uart_test_close(t);
    free(t);
    *state = NULL;
    return 0;
}

void uart_test_load(struct uart_test *t, const char *framing, const char *device)
{
    uart_test_close(t);
    char yaml[4096];
    int len = snprintf(yaml, sizeof(yaml),
                       "buses:\n  - { name: u, type: uart, device: /dev/null, baud: 9600 }\n"
                       "devices:\n  - name: d\n    bus: u\n    framing: %s\n%s",
                       framing, device);
    assert_true(len > 0 && (size_t)len < sizeof(yaml));
    struct diag d;
    diag_init(&d);
    int rc = config_load_string("test.yaml", yaml, (size_t)len, &t->cfg, &d);
    if (rc)
        diag_print(&d, stderr);
    diag_free(&d);
    assert_int_equal(rc, 0);
    assert_int_equal(t->cfg->n_devices, 1);
}

static struct framer *uart_test_framer(const struct config *cfg)
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

void uart_test_open(struct uart_test *t, const char *framing, const char *device)
{
    uart_test_load(t, framing, device);
    t->f = uart_test_framer(t->cfg);
}

const char *uart_test_new_fails(struct uart_test *t)
{
    struct framer *f = NULL;
    t->err[0] = '\0';
    assert_int_equal(framer_new(&t->cfg->devices[0], &f, t->err, sizeof(t->err)), -1);
    assert_null(f);
    return t->err;
}

/* ---- feeding and records ---------------------------------------------------- */

static void uart_test_sink_fn(void *ctx, const struct framer_record *rec)
{
    struct uart_test_sink *s = ctx;
    assert_true(s->n < UART_TEST_RECORDS);
    assert_true(rec->len <= UART_TEST_RECORD_MAX);
    memcpy(s->data[s->n], rec->data, rec->len);
    s->len[s->n++] = rec->len;
}

void uart_test_feed(struct uart_test *t, const void *data, size_t n)
{
    framer_feed(t->f, data, n, uart_test_sink_fn, &t->s);
}

void uart_test_feed_str(struct uart_test *t, const char *text)
{
    uart_test_feed(t, text, strlen(text));
}

void uart_test_feed_bytewise(struct uart_test *t, const void *data, size_t n)
{
    for (size_t i = 0; i < n; i++)
        uart_test_feed(t, (const uint8_t *)data + i, 1);
}

static void uart_test_assert_same_stats(const struct framer_stats *a,
                                        const struct framer_stats *b)
{
    assert_int_equal(a->records, b->records);
    assert_int_equal(a->bad_checksum, b->bad_checksum);
    assert_int_equal(a->oversize, b->oversize);
    assert_int_equal(a->garbage_bytes, b->garbage_bytes);
    assert_int_equal(a->parse_errors, b->parse_errors);
}

void uart_test_feed_both_ways(struct uart_test *t, const void *data, size_t n)
{
    struct framer *f2 = uart_test_framer(t->cfg);
    struct uart_test_sink *s2 = calloc(1, sizeof(*s2));
    assert_non_null(s2);
    uart_test_feed(t, data, n);
    for (size_t i = 0; i < n; i++)
        framer_feed(f2, (const uint8_t *)data + i, 1, uart_test_sink_fn, s2);
    assert_int_equal(t->s.n, s2->n);
    for (size_t i = 0; i < s2->n; i++) {
        assert_int_equal(t->s.len[i], s2->len[i]);
        assert_memory_equal(t->s.data[i], s2->data[i], s2->len[i]);
    }
    uart_test_assert_same_stats(framer_stats(t->f), framer_stats(f2));
    free(s2);
    framer_free(f2);
}

void uart_test_assert_record(const struct uart_test *t, size_t i, const void *want, size_t n)
{
    assert_true(i < t->s.n);
    assert_int_equal(t->s.len[i], n);
    assert_memory_equal(t->s.data[i], want, n);
}

void uart_test_assert_text(const struct uart_test *t, size_t i, const char *want)
{
    uart_test_assert_record(t, i, want, strlen(want));
}

/* ---- values ------------------------------------------------------------------- */

int uart_test_extract(struct uart_test *t, size_t rec, size_t point)
{
    assert_true(rec < t->s.n);
    assert_true(point < t->cfg->devices[0].n_points);
    struct framer_record r = { t->s.data[rec], t->s.len[rec] };
    t->why[0] = '\0';
    return framer_extract(t->f, &r, &t->cfg->devices[0].points[point], &t->v, t->why,
                          sizeof(t->why));
}

/* A value of `kind`, or the framer's reason on stderr before the failure. */
static const struct value *uart_test_value(struct uart_test *t, size_t rec, size_t point,
                                           enum value_kind kind)
{
    int rc = uart_test_extract(t, rec, point);
    if (rc != FRAMER_VALUE)
        fprintf(stderr, "record %zu point %zu: rc %d: %s\n", rec, point, rc, t->why);
    assert_int_equal(rc, FRAMER_VALUE);
    assert_int_equal(t->v.kind, kind);
    return &t->v;
}

void uart_test_expect_int(struct uart_test *t, size_t rec, size_t point, int64_t want)
{
    assert_int_equal(uart_test_value(t, rec, point, VALUE_INT)->as.i, want);
}

void uart_test_expect_uint(struct uart_test *t, size_t rec, size_t point, uint64_t want)
{
    assert_int_equal(uart_test_value(t, rec, point, VALUE_UINT)->as.u, want);
}

void uart_test_expect_bool(struct uart_test *t, size_t rec, size_t point, bool want)
{
    assert_int_equal(uart_test_value(t, rec, point, VALUE_BOOL)->as.b, want);
}

void uart_test_expect_float(struct uart_test *t, size_t rec, size_t point, double want,
                            double tol)
{
    double got = uart_test_value(t, rec, point, VALUE_FLOAT)->as.f;
    if (!(fabs(got - want) <= tol))
        fprintf(stderr, "record %zu point %zu: %.9f, want %.9f\n", rec, point, got, want);
    assert_true(fabs(got - want) <= tol);
}

void uart_test_expect_string(struct uart_test *t, size_t rec, size_t point, const char *want)
{
    const struct value *v = uart_test_value(t, rec, point, VALUE_STRING);
    assert_string_equal((const char *)v->bytes, want);
    assert_int_equal(v->len, strlen(want));
}

void uart_test_expect_absent(struct uart_test *t, size_t rec, size_t point)
{
    assert_int_equal(uart_test_extract(t, rec, point), FRAMER_ABSENT);
}

void uart_test_expect_error(struct uart_test *t, size_t rec, size_t point, const char *why)
{
    assert_int_equal(uart_test_extract(t, rec, point), FRAMER_PARSE_ERROR);
    assert_string_equal(t->why, why);
}

/* ---- fuzz ---------------------------------------------------------------------- */

#define FUZZ_STREAM_MIN (150 * 1024)
#define FUZZ_STREAM_MAX (200 * 1024)

struct uart_test_expected {
    const struct uart_test_fuzz *fz;
    struct uart_test_wire *made;   /* the records hidden, in order */
    size_t count, next;
};

/* Matches the hidden records in order; anything else may come between. */
static void uart_test_expect_fn(void *ctx, const struct framer_record *rec)
{
    struct uart_test_expected *e = ctx;
    assert_true(rec->len > 0 && rec->len <= e->fz->record_max);
    if (e->next == e->count)
        return;
    const struct uart_test_wire *w = &e->made[e->next];
    if (rec->len == w->rec_len && memcmp(rec->data, w->b + w->rec_off, rec->len) == 0)
        e->next++;
}

/* Noise then a record, until the stream is long enough; returns its length. */
static size_t uart_test_fuzz_stream(const struct uart_test_fuzz *fz, struct uart_test_expected *e,
                                    uint8_t *stream)
{
    size_t n = 0;
    while (n < FUZZ_STREAM_MAX && e->count < fz->records) {
        size_t noise = (size_t)rand() % fz->noise_max;
        for (size_t i = 0; i < noise; i++)
            stream[n++] = (uint8_t)rand();
        struct uart_test_wire *w = &e->made[e->count];
        fz->make(e->count++, w);
        assert_true(w->len <= UART_TEST_WIRE_MAX && w->rec_len > 0 &&
                    w->rec_off + w->rec_len <= w->len);
        memcpy(stream + n, w->b, w->len);
        n += w->len;
    }
    return n;
}

size_t uart_test_fuzz(struct uart_test *t, const struct uart_test_fuzz *fz)
{
    struct uart_test_expected e = { .fz = fz };
    e.made = calloc(fz->records, sizeof(*e.made));
    uint8_t *stream = malloc(FUZZ_STREAM_MAX + fz->noise_max + UART_TEST_WIRE_MAX);
    assert_true(e.made && stream);
    srand(fz->seed);
    size_t n = uart_test_fuzz_stream(fz, &e, stream);
    assert_true(n >= FUZZ_STREAM_MIN);
    for (size_t pos = 0; pos < n;) {
        size_t chunk = 1 + (size_t)rand() % fz->chunk_max;
        if (chunk > n - pos)
            chunk = n - pos;
        framer_feed(t->f, stream + pos, chunk, uart_test_expect_fn, &e);
        pos += chunk;
    }
    assert_int_equal(e.next, e.count);
    free(stream);
    free(e.made);
    return e.count;
}
