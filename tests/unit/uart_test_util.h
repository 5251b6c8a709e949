/* Helpers shared by the UART framer unit tests (test_uart_*.c): a fixture
 * that holds one device's config, its framer and the records it delivered;
 * value checks that say what went wrong; and a seeded fuzz driver that hides
 * records in random noise. Every .c in tests/unit/ not named test_* is linked
 * into every unit test, hence the uart_test_ prefix on every name. */
#ifndef MQGATE_TESTS_UNIT_UART_TEST_UTIL_H
#define MQGATE_TESTS_UNIT_UART_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "drivers/uart/framer.h"
#include "gateway/mapping/value.h"

/* Every function here asserts with cmocka: call them only from inside a
 * running test (one thread). A failed assertion ends the test; teardown
 * still frees what the fixture holds. */

#define UART_TEST_RECORDS 64        /* records one sink holds */
#define UART_TEST_RECORD_MAX 1024   /* bytes of one record */
#define UART_TEST_WHY_MAX 128       /* framer_extract's reason buffer */

/* Records as a framer delivered them, copied out of the callback. */
struct uart_test_sink {
    size_t n;
    size_t len[UART_TEST_RECORDS];
    uint8_t data[UART_TEST_RECORDS][UART_TEST_RECORD_MAX];
};

/* One test's state, cmocka's *state between uart_test_setup and
 * uart_test_teardown; the fixture owns cfg and f. */
struct uart_test {
    struct config *cfg;           /* one bus `u`, one device `d` */
    struct framer *f;             /* the framer of that device, or NULL */
    struct uart_test_sink s;      /* what f delivered through uart_test_feed* */
    struct value v;               /* the value of the last uart_test_extract */
    char why[UART_TEST_WHY_MAX];  /* and its reason, after FRAMER_PARSE_ERROR */
    char err[256];                /* framer_new's message, after it failed */
};

/* A cmocka test case that gets a fresh fixture as *state. */
#define UART_TEST(fn) cmocka_unit_test_setup_teardown(fn, uart_test_setup, uart_test_teardown)

/* cmocka setup: a zeroed fixture in *state; 0, or -1 when out of memory. */
int uart_test_setup(void **state);

/* cmocka teardown: frees the framer, the config and the fixture. */
int uart_test_teardown(void **state);

/* Frees what the fixture held, empties the sink, and loads a config with one
 * UART bus `u` and one device `d` of `framing` ("line", "nmea", "frame");
 * `device` is the rest of the device block (YAML indented by 4, each line
 * ending in '\n'). Asserts it loads, printing the diagnostics if not. */
void uart_test_load(struct uart_test *t, const char *framing, const char *device);

/* uart_test_load, then the framer of the device (asserting framer_new
 * succeeds, printing its message if not). */
void uart_test_open(struct uart_test *t, const char *framing, const char *device);

/* framer_new on the loaded device, which must fail: asserts -1 and no
 * framer, and returns the message (t->err). */
const char *uart_test_new_fails(struct uart_test *t);

/* Feed t->f; the records go to t->s. */
void uart_test_feed(struct uart_test *t, const void *data, size_t n);
void uart_test_feed_str(struct uart_test *t, const char *text);
void uart_test_feed_bytewise(struct uart_test *t, const void *data, size_t n);

/* Feed `data` to t->f in one call and, one byte per call, to a second
 * framer of the same device; asserts both delivered the same records and
 * counted the same stats (so checks on t->s and t->f hold for both). */
void uart_test_feed_both_ways(struct uart_test *t, const void *data, size_t n);

/* Asserts record i of t->s is the `n` bytes at `want`, or the text `want`. */
void uart_test_assert_record(const struct uart_test *t, size_t i, const void *want, size_t n);
void uart_test_assert_text(const struct uart_test *t, size_t i, const char *want);

/* framer_extract of the device's point `point` from record `rec` of t->s
 * (both must exist) into t->v and t->why: FRAMER_VALUE, FRAMER_ABSENT or
 * FRAMER_PARSE_ERROR. */
int uart_test_extract(struct uart_test *t, size_t rec, size_t point);

/* uart_test_extract, asserting FRAMER_VALUE, the kind, and the value: */
void uart_test_expect_int(struct uart_test *t, size_t rec, size_t point, int64_t want);
void uart_test_expect_uint(struct uart_test *t, size_t rec, size_t point, uint64_t want);
void uart_test_expect_bool(struct uart_test *t, size_t rec, size_t point, bool want);
/* |value - want| <= tol; tol 0 asks for the exact double. */
void uart_test_expect_float(struct uart_test *t, size_t rec, size_t point, double want,
                            double tol);
/* The text and its length (v.len == strlen(want)). */
void uart_test_expect_string(struct uart_test *t, size_t rec, size_t point, const char *want);

/* uart_test_extract, asserting FRAMER_ABSENT. */
void uart_test_expect_absent(struct uart_test *t, size_t rec, size_t point);

/* uart_test_extract, asserting FRAMER_PARSE_ERROR with exactly this reason. */
void uart_test_expect_error(struct uart_test *t, size_t rec, size_t point, const char *why);

/* ---- fuzz: records hidden in noise ----------------------------------------- */

#define UART_TEST_WIRE_MAX 128

/* One record as sent: its bytes on the wire, and the part of them the
 * framer must deliver as the record (a line without its delimiter, a
 * sentence without CRLF, a whole frame). */
struct uart_test_wire {
    uint8_t b[UART_TEST_WIRE_MAX];
    size_t len;
    size_t rec_off, rec_len;
};

struct uart_test_fuzz {
    unsigned seed;       /* srand(seed): the same stream every run */
    size_t records;      /* records to hide at most (the stream stops at 200 KiB) */
    size_t noise_max;    /* random bytes before each record: 0 .. noise_max - 1 */
    size_t chunk_max;    /* fed in calls of 1 .. chunk_max bytes */
    size_t record_max;   /* every record delivered must be 1 .. record_max bytes */
    void (*make)(size_t i, struct uart_test_wire *w);   /* record i; may use rand() */
};

/* Builds a stream of at least 150 KiB (noise, record, noise, record...),
 * feeds it to t->f in random chunks, and asserts every record made came out
 * intact and in order; records the noise happens to form may come out
 * between them. Returns how many records it hid. t->s is not used; check
 * the stats afterwards. */
size_t uart_test_fuzz(struct uart_test *t, const struct uart_test_fuzz *fz);

#endif
