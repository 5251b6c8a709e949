/* Regression suite of configuration diagnostics: every YAML file under
 * tests/fixtures/config/bad and .../warn opens with `# expect:` lines giving,
 * in order, each diagnostic the loader must print for it (without the file
 * name). One cmocka test per fixture loads it, formats what the loader found
 * and compares the two lists exactly, printing a diff when they differ.
 * A diagnostic about the whole file has no LINE:COL: `# expect: error: ...`.
 * Fixtures are found relative to $MQGATE_SRCDIR, else the current directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/diag.h"

#define FIXTURE_DIR "tests/fixtures/config"
#define EXPECT_TAG "# expect: "
#define MAX_LINES 128
#define LINE_MAX_LEN 1024

/* Fewer than this many fixtures in a directory means the glob (or a checkout)
 * is broken: fail rather than pass an empty suite. */
#define MIN_BAD 48
#define MIN_WARN 6

/* Env variables the fixtures rely on being unset. */
static const char *const unset_vars[] = { "MQGATE_FIXTURE_UNSET_VARIABLE" };

/* A list of diagnostic lines, as owned strings. */
struct lines {
    char *items[MAX_LINES];
    size_t count;
    bool overflow;
};

static void lines_add(struct lines *l, const char *s, size_t len)
{
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\r' || s[len - 1] == '\t'))
        len--;
    if (l->count == MAX_LINES) {
        l->overflow = true;
        return;
    }
    l->items[l->count] = strndup(s, len);
    assert_non_null(l->items[l->count]);
    l->count++;
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    l->count = 0;
}

/* ---- reading a fixture -------------------------------------------------- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: cannot open", path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = (len + 4096 + 1) * 2;
            char *n = realloc(buf, cap);
            assert_non_null(n);
            buf = n;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    bool error = ferror(f);
    fclose(f);
    if (error) {
        free(buf);
        fail_msg("%s: cannot read", path);
    }
    buf[len] = '\0';
    return buf;
}

/* The `# expect:` lines of the leading comment block. One further down is a
 * mistake in the fixture (it would be silently ignored), so it is an error;
 * returns the 1-based line of such a stray line, or 0. */
static unsigned parse_expect(const char *text, struct lines *out)
{
    bool in_header = true;
    unsigned lineno = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        bool expect = strncmp(p, EXPECT_TAG, strlen(EXPECT_TAG)) == 0;
        if (expect && !in_header)
            return lineno;
        if (expect)
            lines_add(out, p + strlen(EXPECT_TAG), len - strlen(EXPECT_TAG));
        else if (p[0] != '#')
            in_header = false;
        p = nl ? nl + 1 : p + len;
    }
    return 0;
}

/* ---- what the loader says ----------------------------------------------- */

/* diag_print sorts the entries (by position, stably); its output is not needed. */
static void diag_sort_quietly(struct diag *d)
{
    FILE *null = fopen("/dev/null", "w");
    assert_non_null(null);
    diag_print(d, null);
    fclose(null);
}

/* "PATH:3:5: error: x" → "3:5: error: x"; "PATH: error: x" → "error: x". */
static const char *strip_file(const char *line, const char *path)
{
    size_t n = strlen(path);
    if (strncmp(line, path, n) != 0 || line[n] != ':')
        return line;
    line += n + 1;
    return *line == ' ' ? line + 1 : line;
}

static void collect_diagnostics(struct diag *d, const char *path, struct lines *out)
{
    diag_sort_quietly(d);
    for (size_t i = 0; i < d->count; i++) {
        char buf[LINE_MAX_LEN];
        diag_format(&d->entries[i], buf, sizeof(buf));
        const char *s = strip_file(buf, path);
        lines_add(out, s, strlen(s));
    }
}

/* ---- comparing ---------------------------------------------------------- */

static bool lines_equal(const struct lines *a, const struct lines *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++)
        if (strcmp(a->items[i], b->items[i]) != 0)
            return false;
    return true;
}

/* A line diff by longest common subsequence: ' ' both, '-' expected only,
 * '+' printed by the loader only. The lists are a few lines long. */
static void print_diff(const char *path, const struct lines *want, const struct lines *got)
{
    size_t n = want->count, m = got->count;
    static unsigned short lcs[MAX_LINES + 1][MAX_LINES + 1];
    for (size_t i = n + 1; i-- > 0;) {
        for (size_t j = m + 1; j-- > 0;) {
            if (i == n || j == m)
                lcs[i][j] = 0;
            else if (strcmp(want->items[i], got->items[j]) == 0)
                lcs[i][j] = (unsigned short)(lcs[i + 1][j + 1] + 1);
            else
                lcs[i][j] = lcs[i + 1][j] > lcs[i][j + 1] ? lcs[i + 1][j] : lcs[i][j + 1];
        }
    }
    print_error("%s: diagnostics differ from its '# expect:' lines "
                "(%zu expected, %zu printed):\n", path, n, m);
    print_error("  --- expected (# expect:)\n  +++ printed by the loader\n");
    size_t i = 0, j = 0;
    while (i < n || j < m) {
        if (i < n && j < m && strcmp(want->items[i], got->items[j]) == 0) {
            print_error("     %s\n", want->items[i]);
            i++, j++;
        } else if (j == m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1])) {
            print_error("  -  %s\n", want->items[i++]);
        } else {
            print_error("  +  %s\n", got->items[j++]);
        }
    }
}

/* ---- the test ----------------------------------------------------------- */

static bool is_bad_fixture(const char *path)
{
    return strstr(path, "/bad/") != NULL;
}

/* "3:5: error: x" or "error: x" (a diagnostic about the whole file) → true
 * for an error; false for a warning. */
static bool is_error_line(const char *line)
{
    const char *p = line;
    p += strspn(p, "0123456789");
    if (p != line && *p == ':') {
        p++;
        p += strspn(p, "0123456789");
        if (*p == ':' && p[1] == ' ')
            p += 2;
        else
            p = line;
    } else {
        p = line;
    }
    return strncmp(p, "error: ", 7) == 0;
}

/* A bad/ fixture must expect at least one error, a warn/ one warnings only
 * (at least one): else the fixture is in the wrong directory. */
static const char *fixture_shape_problem(const struct lines *want, bool bad)
{
    size_t errors = 0;
    for (size_t i = 0; i < want->count; i++)
        errors += is_error_line(want->items[i]);
    if (bad && errors == 0)
        return "a bad/ fixture must expect at least one error";
    if (!bad && (errors > 0 || want->count == 0))
        return "a warn/ fixture must expect warnings only, at least one";
    return NULL;
}

/* config_load_file must overwrite *out; this shows when it does not. */
static struct config not_written;

static void test_fixture(void **state)
{
    const char *path = *state;
    bool bad = is_bad_fixture(path);

    char *text = read_file(path);
    struct lines want = { .count = 0 };
    unsigned stray = parse_expect(text, &want);
    free(text);

    struct diag diag;
    diag_init(&diag);
    struct config *cfg = &not_written;
    int rc = config_load_file(path, &cfg, &diag);
    struct lines got = { .count = 0 };
    collect_diagnostics(&diag, path, &got);
    bool oom = diag.oom != 0;
    diag_free(&diag);

    bool same = !want.overflow && !got.overflow && lines_equal(&want, &got);
    if (!same)
        print_diff(path, &want, &got);
    const char *shape = fixture_shape_problem(&want, bad);
    bool cfg_written = cfg != &not_written;
    bool rc_ok = bad ? rc == -1 && cfg == NULL : rc == 0 && cfg != NULL && cfg_written;
    if (rc == 0 && cfg && cfg_written)
        config_free(cfg);
    lines_free(&want);
    lines_free(&got);

    /* Everything is freed: failing now leaks nothing under ASan. */
    if (stray)
        fail_msg("%s:%u: '# expect:' after the leading comment block", path, stray);
    if (shape)
        fail_msg("%s: %s", path, shape);
    if (oom)
        fail_msg("%s: the loader ran out of memory recording diagnostics", path);
    if (!same)
        fail_msg("%s: unexpected diagnostics (diff above)", path);
    if (!rc_ok)
        fail_msg("%s: config_load_file returned %d and %s; expected %s", path, rc,
                 !cfg_written ? "left *out unwritten" : cfg ? "a config" : "NULL",
                 bad ? "-1 and NULL (errors)" : "0 and a config (valid)");
}

/* ---- finding the fixtures ----------------------------------------------- */

struct fixture_set {
    glob_t bad, warn;
    char *bad_pattern, *warn_pattern;
};

static void find_fixtures(struct fixture_set *fs)
{
    const char *srcdir = getenv("MQGATE_SRCDIR");
    if (!srcdir || !*srcdir)
        srcdir = ".";
    if (asprintf(&fs->bad_pattern, "%s/" FIXTURE_DIR "/bad/*.yaml", srcdir) < 0 ||
        asprintf(&fs->warn_pattern, "%s/" FIXTURE_DIR "/warn/*.yaml", srcdir) < 0) {
        fprintf(stderr, "test_config_fixtures: out of memory\n");
        exit(1);
    }
    /* GLOB_NOMATCH leaves gl_pathc at 0, which the count test reports. */
    memset(&fs->bad, 0, sizeof(fs->bad));
    memset(&fs->warn, 0, sizeof(fs->warn));
    glob(fs->bad_pattern, 0, NULL, &fs->bad);
    glob(fs->warn_pattern, 0, NULL, &fs->warn);
}

static void fixture_set_free(struct fixture_set *fs)
{
    globfree(&fs->bad);
    globfree(&fs->warn);
    free(fs->bad_pattern);
    free(fs->warn_pattern);
}

static void test_fixture_counts(void **state)
{
    const struct fixture_set *fs = *state;
    if (fs->bad.gl_pathc < MIN_BAD)
        fail_msg("%s: %zu fixtures, expected at least %d (wrong MQGATE_SRCDIR or cwd?)",
                 fs->bad_pattern, (size_t)fs->bad.gl_pathc, MIN_BAD);
    if (fs->warn.gl_pathc < MIN_WARN)
        fail_msg("%s: %zu fixtures, expected at least %d (wrong MQGATE_SRCDIR or cwd?)",
                 fs->warn_pattern, (size_t)fs->warn.gl_pathc, MIN_WARN);
}

/* A fixture's test is named after its path below tests/fixtures/config/. */
static const char *test_name(const char *path)
{
    const char *p = strstr(path, FIXTURE_DIR "/");
    return p ? p + strlen(FIXTURE_DIR "/") : path;
}

static void add_tests(struct CMUnitTest *tests, size_t *n, const glob_t *g)
{
    for (size_t i = 0; i < g->gl_pathc; i++) {
        struct CMUnitTest t = cmocka_unit_test_prestate(test_fixture, g->gl_pathv[i]);
        t.name = test_name(g->gl_pathv[i]);
        tests[(*n)++] = t;
    }
}

int main(void)
{
    for (size_t i = 0; i < sizeof(unset_vars) / sizeof(unset_vars[0]); i++)
        unsetenv(unset_vars[i]);

    struct fixture_set fs;
    find_fixtures(&fs);
    size_t total = 1 + fs.bad.gl_pathc + fs.warn.gl_pathc;
    struct CMUnitTest *tests = calloc(total, sizeof(*tests));
    if (!tests) {
        fprintf(stderr, "test_config_fixtures: out of memory\n");
        return 1;
    }
    size_t n = 0;
    struct CMUnitTest counts = cmocka_unit_test_prestate(test_fixture_counts, &fs);
    counts.name = "fixture counts";
    tests[n++] = counts;
    add_tests(tests, &n, &fs.bad);
    add_tests(tests, &n, &fs.warn);

    int failed = _cmocka_run_group_tests("config fixtures", tests, n, NULL, NULL);
    free(tests);
    fixture_set_free(&fs);
    return failed ? 1 : 0;
}
