/* What breaks when C moves from x86-64 to a 32-bit Raspberry Pi (armhf): the
 * widths of time_t and off_t, dates past 2038 (through gmtime and the log
 * line's timestamp), file offsets past 2 and 4 GiB, sizes and durations that
 * need 64 bits, 64-bit varargs through the log's printf path, and decoding
 * from odd addresses. Each test passes on amd64 too; `make test-cross` runs
 * it under qemu for arm64 and armhf. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "config/values.h"
#include "gateway/log.h"
#include "gateway/mapping/value.h"

/* 2^31 seconds: 2038-01-19T03:14:08Z, the first second a 32-bit time_t
 * cannot hold. */
#define Y2038 INT64_C(2147483648)
/* 2100-01-01T00:00:00Z: past 2^32 seconds too. */
#define Y2100 INT64_C(4102444800)

/* ---- widths ---------------------------------------------------------------- */

/* The Makefile's -D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64 make these 64-bit on
 * armhf; without them the build stops here rather than misbehaving in 2038. */
_Static_assert(sizeof(time_t) == 8, "time_t must be 64-bit (-D_TIME_BITS=64)");
_Static_assert(sizeof(off_t) == 8, "off_t must be 64-bit (-D_FILE_OFFSET_BITS=64)");

static void test_widths(void **state)
{
    (void)state;
    struct timespec ts;
    struct stat st;
    assert_int_equal(sizeof(time_t), 8);
    assert_int_equal(sizeof ts.tv_sec, 8);
    assert_int_equal(sizeof(off_t), 8);
    assert_int_equal(sizeof st.st_size, 8);
    /* size_t and long follow the pointer: 4 bytes on armhf, 8 on arm64. */
    assert_int_equal(sizeof(size_t), sizeof(void *));
    assert_true(sizeof(long) == 4 || sizeof(long) == 8);
}

/* ---- dates past 2038 ------------------------------------------------------- */

static void assert_utc(int64_t t, int year, int mon, int mday, int hour, int min, int sec)
{
    time_t tt = (time_t)t;
    assert_int_equal((int64_t)tt, t);
    struct tm tm;
    assert_non_null(gmtime_r(&tt, &tm));
    assert_int_equal(tm.tm_year + 1900, year);
    assert_int_equal(tm.tm_mon + 1, mon);
    assert_int_equal(tm.tm_mday, mday);
    assert_int_equal(tm.tm_hour, hour);
    assert_int_equal(tm.tm_min, min);
    assert_int_equal(tm.tm_sec, sec);
    /* and back */
    assert_int_equal((int64_t)timegm(&tm), t);
}

static void test_gmtime_past_2038(void **state)
{
    (void)state;
    assert_utc(Y2038 - 1, 2038, 1, 19, 3, 14, 7);
    assert_utc(Y2038, 2038, 1, 19, 3, 14, 8);
    assert_utc(Y2100, 2100, 1, 1, 0, 0, 0);
    assert_utc(INT64_C(253402300799), 9999, 12, 31, 23, 59, 59);
}

/* The log line's timestamp comes from clock_gettime(CLOCK_REALTIME). This
 * definition takes the place of libc's for the whole test program (it is
 * linked first), so the logger can be shown a date past 2038. With 64-bit
 * time on armhf, <time.h> renames both the logger's call and this definition
 * to __clock_gettime64, so they still meet. Other clocks go to libc. */
static const struct timespec *fake_realtime;

int clock_gettime(clockid_t clock, struct timespec *ts)
{
    if (clock == CLOCK_REALTIME && fake_realtime) {
        *ts = *fake_realtime;
        return 0;
    }
    typedef int (*clock_fn)(clockid_t, struct timespec *);
#if defined(__USE_TIME_BITS64) && __TIMESIZE == 32
    static const char name[] = "__clock_gettime64";
#else
    static const char name[] = "clock_gettime";
#endif
    static clock_fn real;
    if (!real) {
        void *sym = dlsym(RTLD_NEXT, name);
        if (!sym) {
            errno = ENOSYS;
            return -1;
        }
        memcpy(&real, &sym, sizeof real);
    }
    return real(clock, ts);
}

static int capture_fd = -1;

static int log_setup(void **state)
{
    (void)state;
    capture_fd = memfd_create("test_portability", MFD_CLOEXEC);
    if (capture_fd < 0)
        return -1;
    unsetenv("JOURNAL_STREAM");
    log_set_output_fd(capture_fd);
    log_init(LOG_LEVEL_INFO);
    return 0;
}

static int log_teardown(void **state)
{
    (void)state;
    fake_realtime = NULL;
    log_set_output_fd(2);
    log_init(LOG_LEVEL_INFO);
    close(capture_fd);
    capture_fd = -1;
    return 0;
}

/* Everything logged so far, NUL-terminated, and the capture emptied. */
static const char *capture_take(void)
{
    static char buf[2048];
    ssize_t n = pread(capture_fd, buf, sizeof buf - 1, 0);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_int_equal(ftruncate(capture_fd, 0), 0);
    assert_int_equal(lseek(capture_fd, 0, SEEK_SET), 0);
    return buf;
}

static void test_log_timestamp_past_2038(void **state)
{
    (void)state;
    const struct timespec at_2038 = { .tv_sec = (time_t)Y2038, .tv_nsec = 999999999 };
    fake_realtime = &at_2038;
    log_info("portability", "after 2038");
    assert_string_equal(capture_take(), "2038-01-19T03:14:08.999Z info  portability: after 2038\n");

    const struct timespec at_2100 = { .tv_sec = (time_t)Y2100, .tv_nsec = 123456789 };
    fake_realtime = &at_2100;
    log_warn("portability", "in 2100");
    assert_string_equal(capture_take(), "2100-01-01T00:00:00.123Z warn  portability: in 2100\n");
}

/* 64-bit arguments through the logger's varargs (log_msg -> log_vmsg ->
 * vsnprintf): on ARM EABI they sit in aligned register pairs or stack slots,
 * so a format that disagrees with the argument's width (%ld for an int64_t)
 * shifts every later argument. -Wformat catches that at compile time; this
 * shows the right macros print the right text at run time. */
static void test_log_formats_64bit_arguments(void **state)
{
    (void)state;
    const struct timespec now = { .tv_sec = (time_t)Y2100, .tv_nsec = 0 };
    fake_realtime = &now;
    int64_t big = -INT64_C(5000000000);
    uint64_t offset = UINT64_C(3) << 31;
    size_t count = 7;
    off_t off = (off_t)INT64_C(5368709123);
    time_t t = (time_t)Y2038;
    log_info("fmt", "%" PRId64 " %s %" PRIu64 " %zu %jd %jd %c", big, "mid", offset, count,
             (intmax_t)off, (intmax_t)t, 'z');
    assert_string_equal(capture_take(), "2100-01-01T00:00:00.000Z info  fmt: -5000000000 mid "
                                        "6442450944 7 5368709123 2147483648 z\n");
}

/* ---- files past 2 GiB and 4 GiB --------------------------------------------- */

/* A sparse temporary file: pwrite/pread/lseek/fstat at offsets a 32-bit off_t
 * gets wrong (negative past 2^31, wrapped past 2^32). Nothing is allocated on
 * disk but the few bytes written. */
static void test_sparse_file_past_4gib(void **state)
{
    (void)state;
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/mqgate-portability-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);

    const off_t past_2g = (off_t)((INT64_C(1) << 31) + 1);   /* odd, just past 2 GiB */
    const off_t past_4g = (off_t)((INT64_C(1) << 32) + 3);   /* wraps to 3 in 32 bits */
    assert_int_equal(pwrite(fd, "2GiB", 4, past_2g), 4);
    assert_int_equal(pwrite(fd, "4GiB", 4, past_4g), 4);

    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal((int64_t)st.st_size, (int64_t)past_4g + 4);
    assert_int_equal((int64_t)lseek(fd, 0, SEEK_END), (int64_t)past_4g + 4);
    assert_int_equal((int64_t)lseek(fd, past_2g, SEEK_SET), (int64_t)past_2g);

    char buf[5] = { 0 };
    assert_int_equal(read(fd, buf, 4), 4);
    assert_string_equal(buf, "2GiB");
    assert_int_equal(pread(fd, buf, 4, past_4g), 4);
    assert_string_equal(buf, "4GiB");
    /* The start of the file is still a hole: nothing wrapped around onto it. */
    assert_int_equal(pread(fd, buf, 4, 0), 4);
    assert_memory_equal(buf, "\0\0\0\0", 4);

    /* Truncating back to 3 GiB keeps the first write and drops the second. */
    assert_int_equal(ftruncate(fd, (off_t)(INT64_C(3) << 30)), 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal((int64_t)st.st_size, INT64_C(3) << 30);
    close(fd);
}

/* ---- sizes and durations from the configuration ------------------------------ */

static void test_sizes_past_2gib(void **state)
{
    (void)state;
    uint64_t n = 0;
    char text[32];
    assert_int_equal(value_parse_size("3GiB", &n), 0);
    assert_true(n == UINT64_C(3221225472));              /* > INT32_MAX */
    value_format_size(n, text, sizeof text);
    assert_string_equal(text, "3GiB");
    assert_int_equal(value_parse_size("5GB", &n), 0);
    assert_true(n == UINT64_C(5000000000));              /* > UINT32_MAX */
    value_format_size(n, text, sizeof text);
    assert_string_equal(text, "5000000000");
    assert_int_equal(value_parse_size("4294967297", &n), 0);
    assert_true(n == UINT64_C(4294967297));              /* 2^32 + 1, in bytes */
}

static void test_durations_of_30_days(void **state)
{
    (void)state;
    const int64_t month_us = INT64_C(30) * 24 * 3600 * US_PER_S;
    int64_t us = 0;
    char text[32];
    assert_true(month_us == INT64_C(2592000000000));     /* > UINT32_MAX µs */
    assert_int_equal(value_parse_duration("30d", &us), 0);
    assert_true(us == month_us);
    assert_int_equal(value_parse_duration("720h", &us), 0);
    assert_true(us == month_us);
    assert_int_equal(value_parse_duration("43200m", &us), 0);
    assert_true(us == month_us);
    value_format_duration(month_us, text, sizeof text);
    assert_string_equal(text, "30d");
    value_format_duration(month_us + 1, text, sizeof text);
    assert_string_equal(text, "2592000000001us");
}

/* ---- decoding from odd addresses ------------------------------------------- */

/* Every numeric type in every byte order gives the same value from a buffer
 * at offsets 0..7: the decoder must read bytes, never a misaligned wider
 * load (a trap or a fixup on ARM; UBSan's alignment check in the sanitized
 * builds catches one on any machine). */
static void test_decode_at_every_offset(void **state)
{
    (void)state;
    static const int types[] = { CFG_T_INT16, CFG_T_UINT16, CFG_T_INT32, CFG_T_UINT32,
                                 CFG_T_INT64, CFG_T_UINT64, CFG_T_FLOAT32, CFG_T_FLOAT64 };
    static const int orders[] = { CFG_ORDER_ABCD, CFG_ORDER_BADC, CFG_ORDER_CDAB, CFG_ORDER_DCBA };
    static const uint8_t wire[8] = { 0xc0, 0x49, 0x0f, 0xdb, 0x12, 0x34, 0x56, 0x78 };
    /* Aligned for anything, so offset 0 is the aligned reference. */
    _Alignas(16) uint8_t buf[32];
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        size_t n = value_type_size(types[t], 0);
        assert_true(n == 2 || n == 4 || n == 8);
        for (size_t o = 0; o < sizeof orders / sizeof orders[0]; o++) {
            struct value ref;
            memset(&ref, 0, sizeof ref);
            memcpy(buf, wire, n);
            assert_int_equal(value_decode(buf, n, types[t], orders[o], &ref), 0);
            for (size_t off = 1; off < 8; off++) {
                struct value v;
                memset(&v, 0, sizeof v);
                memset(buf, 0xee, sizeof buf);
                memcpy(buf + off, wire, n);
                assert_int_equal(value_decode(buf + off, n, types[t], orders[o], &v), 0);
                assert_int_equal(v.kind, ref.kind);
                assert_memory_equal(&v.as, &ref.as, sizeof v.as);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_widths),
        cmocka_unit_test(test_gmtime_past_2038),
        cmocka_unit_test_setup_teardown(test_log_timestamp_past_2038, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(test_log_formats_64bit_arguments, log_setup, log_teardown),
        cmocka_unit_test(test_sparse_file_past_4gib),
        cmocka_unit_test(test_sizes_past_2gib),
        cmocka_unit_test(test_durations_of_30_days),
        cmocka_unit_test(test_decode_at_every_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
