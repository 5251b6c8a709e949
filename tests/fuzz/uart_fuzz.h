/* What the three UART framer fuzz targets share (fuzz_uart_line.c,
 * fuzz_uart_nmea.c, fuzz_uart_frame.c): each has a table of device configs
 * (YAML, loaded once); an input's byte 0 picks one, byte 1 how to split
 * the rest. The rest is fed to one framer in a single call and to a second
 * one in chunks: both must deliver the same records and count the same
 * stats (framer.h: "split anywhere"), and after framer_reset the second
 * must deliver the same records again. Every point is extracted from every
 * record and the value printed. Header-only: each target is one .c file. */
#ifndef MQGATE_TESTS_FUZZ_UART_FUZZ_H
#define MQGATE_TESTS_FUZZ_UART_FUZZ_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "drivers/uart/framer.h"
#include "gateway/mapping/value.h"
#include "tests/fuzz/fuzz.h"

/* Checks a framing's own promises about one record (NULL: none). */
typedef void uart_fuzz_check_fn(const struct cfg_device *dev, const struct framer_record *rec);

struct uart_fuzz_sink {
    const struct framer *f;
    const struct cfg_device *dev;
    uart_fuzz_check_fn *check;
    uint64_t records;
    uint64_t hash;     /* FNV-1a over every record's length and bytes */
};

static inline uint64_t uart_fuzz_hash(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* A device block (YAML indented by 4) on bus `u` as one config, or abort
 * with the diagnostics: the tables here must always load. */
static inline struct config *uart_fuzz_load(const char *framing, const char *device)
{
    char yaml[8192];
    int len = snprintf(yaml, sizeof(yaml),
                       "buses:\n  - { name: u, type: uart, device: /dev/null, baud: 9600 }\n"
                       "devices:\n  - name: d\n    bus: u\n    framing: %s\n%s",
                       framing, device);
    FUZZ_CHECK(len > 0 && (size_t)len < sizeof(yaml));
    struct config *cfg = NULL;
    struct diag d;
    diag_init(&d);
    if (config_load_string("fuzz-uart.yaml", yaml, (size_t)len, &cfg, &d) != 0)
        diag_print(&d, stderr);
    diag_free(&d);
    FUZZ_CHECK(cfg != NULL && cfg->n_devices == 1);
    return cfg;
}

static inline void uart_fuzz_check_value(int rc, const struct value *v, const char *why)
{
    FUZZ_CHECK(rc == FRAMER_VALUE || rc == FRAMER_ABSENT || rc == FRAMER_PARSE_ERROR);
    if (rc == FRAMER_PARSE_ERROR)
        FUZZ_CHECK(why[0] != '\0');
    if (rc != FRAMER_VALUE)
        return;
    FUZZ_CHECK(v->kind >= VALUE_BOOL && v->kind <= VALUE_RAW);
    if (v->kind == VALUE_STRING || v->kind == VALUE_RAW)
        FUZZ_CHECK(v->len <= VALUE_MAX_BYTES);
    if (v->kind == VALUE_STRING)
        FUZZ_CHECK(v->bytes[v->len] == '\0');
    char text[2 * VALUE_MAX_BYTES + 64];
    int n = value_to_text(v, -1, text, sizeof(text));
    FUZZ_CHECK(n >= 0 && (size_t)n < sizeof(text));
    double d;
    value_as_double(v, &d);
}

static inline void uart_fuzz_on_record(void *ctx, const struct framer_record *rec)
{
    struct uart_fuzz_sink *s = ctx;
    FUZZ_CHECK(rec->data != NULL && rec->len > 0);
    uint64_t len = rec->len;
    s->records++;
    s->hash = uart_fuzz_hash(uart_fuzz_hash(s->hash, (const uint8_t *)&len, sizeof(len)),
                             rec->data, rec->len);
    if (s->check)
        s->check(s->dev, rec);
    for (size_t i = 0; i < s->dev->n_points; i++) {
        struct value v;
        char why[128] = "";
        int rc = framer_extract(s->f, rec, &s->dev->points[i], &v, why, sizeof(why));
        uart_fuzz_check_value(rc, &v, why);
    }
}

static inline bool uart_fuzz_stats_equal(const struct framer_stats *a,
                                         const struct framer_stats *b)
{
    return a->records == b->records && a->bad_checksum == b->bad_checksum &&
           a->oversize == b->oversize && a->garbage_bytes == b->garbage_bytes &&
           a->parse_errors == b->parse_errors;
}

/* The second framer's feed: chunks of 1..max bytes, sizes from a small
 * generator seeded by `seed` (max 1: byte by byte). */
static inline void uart_fuzz_feed_chunks(struct framer *f, const uint8_t *p, size_t n,
                                         unsigned max, unsigned seed,
                                         struct uart_fuzz_sink *sink)
{
    uint32_t x = seed * 2654435761u + 1;
    while (n) {
        x = x * 1103515245u + 12345u;
        size_t c = 1 + (x >> 16) % max;
        if (c > n)
            c = n;
        framer_feed(f, p, c, uart_fuzz_on_record, sink);
        p += c;
        n -= c;
    }
}

/* The whole check for one input: configs[data[0] % n]; data[1] bits 0-5 the
 * largest chunk (0: byte by byte), bits 6-7 seed the chunk sizes. */
static inline void uart_fuzz_run(struct config *const *configs, size_t n_configs,
                                 uart_fuzz_check_fn *check, const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    const struct cfg_device *dev = &configs[data[0] % n_configs]->devices[0];
    unsigned max = (data[1] & 0x3f) ? (data[1] & 0x3f) : 1;
    const uint8_t *p = data + 2;
    size_t n = size - 2;
    struct framer *a = NULL, *b = NULL;
    char err[256] = "";
    if (framer_new(dev, &a, err, sizeof(err)) != 0 || framer_new(dev, &b, err, sizeof(err)) != 0)
        fprintf(stderr, "framer_new: %s\n", err);
    FUZZ_CHECK(a && b);
    struct uart_fuzz_sink sa = { a, dev, check, 0, 0 }, sb = { b, dev, check, 0, 0 };
    framer_feed(a, p, n, uart_fuzz_on_record, &sa);
    uart_fuzz_feed_chunks(b, p, n, max, data[1] >> 6, &sb);
    FUZZ_CHECK(sa.records == sb.records && sa.hash == sb.hash);
    FUZZ_CHECK(framer_stats(a)->records == sa.records);
    FUZZ_CHECK(uart_fuzz_stats_equal(framer_stats(a), framer_stats(b)));
    /* After a reset, the same bytes give the same records. */
    framer_reset(b);
    struct uart_fuzz_sink sc = { b, dev, check, 0, 0 };
    uart_fuzz_feed_chunks(b, p, n, max, data[1] >> 6, &sc);
    FUZZ_CHECK(sc.records == sa.records && sc.hash == sa.hash);
    framer_free(a);
    framer_free(b);
}

#endif
