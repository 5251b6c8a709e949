/* Robustness of the configuration loader against damaged files: every
 * example and fixture, mutated thousands of times (bytes flipped, lines
 * dropped or duplicated, truncated), must load or fail cleanly — never crash,
 * leak (ASan) or report success with errors. Deterministic: a fixed seed. */
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

#define MUTATIONS_PER_FILE 250

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    /* xorshift64*: small, deterministic, good enough to pick mutations */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 16);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    return buf;
}

/* Characters that matter to YAML and to our value syntax. */
static const char interesting[] = ":-[]{},#&*!|>'\"%@`\t\n ${}<0x9.~";

static size_t mutate(char *buf, size_t len, size_t cap)
{
    if (len == 0)
        return 0;
    size_t at = rng() % len;
    switch (rng() % 6) {
    case 0: /* replace a byte with a YAML-significant one */
        buf[at] = interesting[rng() % (sizeof(interesting) - 1)];
        return len;
    case 1: /* random byte, including NUL and high bytes */
        buf[at] = (char)(rng() & 0xff);
        return len;
    case 2: /* truncate */
        return at;
    case 3: { /* delete a span */
        size_t n = rng() % 40 + 1;
        if (at + n > len)
            n = len - at;
        memmove(buf + at, buf + at + n, len - at - n);
        return len - n;
    }
    case 4: { /* duplicate a span (repeated keys, items) */
        size_t n = rng() % 80 + 1;
        if (at + n > len)
            n = len - at;
        if (len + n > cap)
            return len;
        memmove(buf + at + n, buf + at, len - at);
        return len + n;
    }
    default: { /* insert a number that may overflow something */
        static const char *const numbers[] = { "99999999999999999999", "-1", "0", "65536",
                                               "1e308", "0x", "1.5", "4294967296" };
        const char *num = numbers[rng() % 8];
        size_t n = strlen(num);
        if (len + n > cap)
            return len;
        memmove(buf + at + n, buf + at, len - at);
        memcpy(buf + at, num, n);
        return len + n;
    }
    }
}

static void load_one(const char *name, const char *text, size_t len)
{
    struct diag diag;
    diag_init(&diag);
    struct config *cfg = NULL;
    int rc = config_load_string(name, text, len, &cfg, &diag);
    if (rc == 0) {
        assert_non_null(cfg);
        assert_int_equal(diag.errors, 0);
        config_free(cfg);
    } else {
        assert_int_equal(rc, -1);
        assert_null(cfg);
        assert_true(diag.errors > 0);
        for (size_t i = 0; i < diag.count; i++)
            assert_non_null(diag.entries[i].message);
    }
    diag_free(&diag);
}

static void test_mutated_configs(void **state)
{
    (void)state;
    static const char *const patterns[] = {
        "config/examples/*.yaml", "config/demo.yaml", "tests/fixtures/config/bad/*.yaml",
        "tests/fixtures/config/warn/*.yaml",
    };
    size_t files = 0, loads = 0;
    for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
        glob_t g;
        if (glob(patterns[p], 0, NULL, &g) != 0)
            continue;
        for (size_t i = 0; i < g.gl_pathc; i++, files++) {
            size_t len;
            char *orig = read_file(g.gl_pathv[i], &len);
            char *buf = malloc(len * 2 + 256);
            assert_non_null(buf);
            for (int m = 0; m < MUTATIONS_PER_FILE; m++, loads++) {
                memcpy(buf, orig, len);
                size_t n = len;
                int rounds = 1 + (int)(rng() % 4);
                for (int r = 0; r < rounds; r++)
                    n = mutate(buf, n, len * 2 + 256);
                load_one(g.gl_pathv[i], buf, n);
            }
            free(buf);
            free(orig);
        }
        globfree(&g);
    }
    assert_true(files >= 100); /* the corpus is really there */
    print_message("loaded %zu mutations of %zu files\n", loads, files);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutated_configs),
    };
    return cmocka_run_group_tests_name("config robustness", tests, NULL, NULL);
}
