/* Unit tests for gateway/log: both line formats (journal detection through
 * $JOURNAL_STREAM), level filtering, escaping of control characters,
 * truncation at LOG_LINE_MAX, and level names. Output is captured in a memfd. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gateway/log.h"

static int capture_fd = -1;

static int setup(void **state)
{
    (void)state;
    capture_fd = memfd_create("test_log", MFD_CLOEXEC);
    if (capture_fd < 0)
        return -1;
    unsetenv("JOURNAL_STREAM");
    log_set_output_fd(capture_fd);
    log_init(LOG_LEVEL_INFO);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    log_set_output_fd(2);
    unsetenv("JOURNAL_STREAM");
    log_init(LOG_LEVEL_INFO);
    close(capture_fd);
    capture_fd = -1;
    return 0;
}

/* Everything written so far, NUL-terminated, and the capture emptied. */
static char *capture_take(size_t *len_out)
{
    static char buf[16384];
    ssize_t n = pread(capture_fd, buf, sizeof buf - 1, 0);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_int_equal(ftruncate(capture_fd, 0), 0);
    assert_int_equal(lseek(capture_fd, 0, SEEK_SET), 0);
    if (len_out)
        *len_out = (size_t)n;
    return buf;
}

static void assert_matches(const char *text, const char *pattern)
{
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    int rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    if (rc != 0)
        fail_msg("\"%s\" does not match /%s/", text, pattern);
}

static void set_journal_stream(uintmax_t dev, uintmax_t ino)
{
    char value[64];
    snprintf(value, sizeof value, "%ju:%ju", dev, ino);
    assert_int_equal(setenv("JOURNAL_STREAM", value, 1), 0);
}

static void utc_date(char out[11])
{
    time_t now = time(NULL);
    struct tm tm;
    assert_non_null(gmtime_r(&now, &tm));
    assert_int_equal(strftime(out, 11, "%Y-%m-%d", &tm), 10);
}

static void test_plain_format(void **state)
{
    (void)state;
    char before[11], after[11];
    utc_date(before);
    log_info("comp", "hello %d", 42);
    log_error("broker", "disk %s", "full");
    log_warn(NULL, "no component");
    utc_date(after);
    char *out = capture_take(NULL);

    assert_matches(out, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                        "info  comp: hello 42\n"
                        "[0-9-]{10}T[0-9:]{8}\\.[0-9]{3}Z error broker: disk full\n"
                        "[0-9-]{10}T[0-9:]{8}\\.[0-9]{3}Z warn  no component\n$");
    /* The stamp is today's UTC date (either side of a midnight in between). */
    assert_true(strncmp(out, before, 10) == 0 || strncmp(out, after, 10) == 0);
}

static void test_journal_format(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(fstat(capture_fd, &st), 0);
    set_journal_stream((uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
    log_init(LOG_LEVEL_TRACE);

    log_error("c", "e%d", 1);
    log_warn("c", "w");
    log_info("c", "i");
    log_debug("c", "d");
    log_trace("c", "t");
    assert_string_equal(capture_take(NULL), "<3>c: e1\n<4>c: w\n<6>c: i\n<7>c: d\n<7>c: t\n");
}

static void test_journal_stream_must_match_fd(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(fstat(capture_fd, &st), 0);
    /* Inherited from a parent whose stderr was the journal, but ours is not. */
    set_journal_stream((uintmax_t)st.st_dev, (uintmax_t)st.st_ino + 1);
    log_init(LOG_LEVEL_INFO);
    log_info("c", "x");
    assert_matches(capture_take(NULL), "^[0-9-]{10}T[0-9:.]{12}Z info  c: x\n$");

    const char *malformed[] = { "", "12", "12:", ":34", "12:34x", "a:b" };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        assert_int_equal(setenv("JOURNAL_STREAM", malformed[i], 1), 0);
        log_init(LOG_LEVEL_INFO);
        log_info("c", "y");
        assert_matches(capture_take(NULL), "^[0-9-]{10}T[0-9:.]{12}Z info  c: y\n$");
    }
}

static int side_effects;

static int count_call(void)
{
    return ++side_effects;
}

static void test_level_filtering(void **state)
{
    (void)state;
    log_init(LOG_LEVEL_WARN);
    assert_int_equal(log_get_level(), LOG_LEVEL_WARN);
    assert_true(log_enabled(LOG_LEVEL_ERROR));
    assert_true(log_enabled(LOG_LEVEL_WARN));
    assert_false(log_enabled(LOG_LEVEL_INFO));
    assert_false(log_enabled(LOG_LEVEL_TRACE));

    side_effects = 0;
    log_info("c", "hidden %d", count_call());
    log_debug("c", "hidden %d", count_call());
    log_msg(LOG_LEVEL_TRACE, "c", "hidden too");
    /* Disabled levels neither write nor evaluate their arguments. */
    assert_int_equal(side_effects, 0);
    assert_string_equal(capture_take(NULL), "");

    log_warn("c", "shown %d", count_call());
    assert_int_equal(side_effects, 1);
    assert_matches(capture_take(NULL), " warn  c: shown 1\n$");

    log_set_level(LOG_LEVEL_DEBUG);
    assert_int_equal(log_get_level(), LOG_LEVEL_DEBUG);
    log_debug("c", "now shown");
    log_trace("c", "still hidden");
    assert_matches(capture_take(NULL), "^[^\n]* debug c: now shown\n$");
}

static void test_control_chars_escaped(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(fstat(capture_fd, &st), 0);
    set_journal_stream((uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
    log_init(LOG_LEVEL_INFO);

    log_info("co\nmp", "line1\nline2\r\tend\x01\x1b[31m\x7f caf\xc3\xa9 back\\slash");
    assert_string_equal(capture_take(NULL),
                        "<6>co\\nmp: line1\\nline2\\r\\tend\\x01\\x1b[31m\\x7f caf\xc3\xa9 "
                        "back\\slash\n");
}

static void test_truncation(void **state)
{
    (void)state;
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    size_t len;

    log_info("c", "%s", big);
    char *out = capture_take(&len);
    assert_true(len <= LOG_LINE_MAX);
    assert_true(len > LOG_LINE_MAX - 8);
    assert_string_equal(out + len - 4, "\xe2\x80\xa6\n");
    assert_ptr_equal(strchr(out, '\n'), out + len - 1);

    /* Escapes expand the text past the limit: cut whole escapes only. */
    char newlines[800];
    memset(newlines, '\n', sizeof newlines - 1);
    newlines[sizeof newlines - 1] = '\0';
    log_info("c", "%s", newlines);
    out = capture_take(&len);
    assert_true(len <= LOG_LINE_MAX);
    assert_string_equal(out + len - 6, "\\n\xe2\x80\xa6\n");
    assert_ptr_equal(strchr(out, '\n'), out + len - 1);
}

static void test_truncation_keeps_utf8_whole(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(fstat(capture_fd, &st), 0);
    set_journal_stream((uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
    log_init(LOG_LEVEL_INFO);

    /* Two prefix lengths, so one of them puts the cut inside a character. */
    const char *components[] = { "c", "cc" };
    for (size_t i = 0; i < 2; i++) {
        char text[2001] = "";
        for (size_t k = 0; k < 1000; k++)
            memcpy(text + 2 * k, "\xc3\xa9", 3);   /* "é", NUL moves along */
        log_info(components[i], "%s", text);
        size_t len;
        char *out = capture_take(&len);
        size_t head = strlen("<6>: ") + strlen(components[i]);
        assert_true(len <= LOG_LINE_MAX);
        assert_string_equal(out + len - 4, "\xe2\x80\xa6\n");
        size_t body = len - 4 - head;
        assert_int_equal(body % 2, 0);
        assert_true(body > 0);
        assert_int_equal((unsigned char)out[head + body - 1], 0xa9);
    }
}

static void test_errno_preserved(void **state)
{
    (void)state;
    errno = ENOENT;
    log_error("c", "open: %s", strerror(errno));
    assert_int_equal(errno, ENOENT);
    assert_matches(capture_take(NULL), "error c: open: No such file or directory\n$");
}

static void test_level_names(void **state)
{
    (void)state;
    const char *names[] = { "error", "warn", "info", "debug", "trace" };
    for (int l = LOG_LEVEL_ERROR; l <= LOG_LEVEL_TRACE; l++) {
        assert_string_equal(log_level_name((enum log_level)l), names[l]);
        enum log_level parsed = LOG_LEVEL_ERROR;
        assert_int_equal(log_level_parse(names[l], &parsed), 0);
        assert_int_equal(parsed, l);
    }
    enum log_level out = LOG_LEVEL_DEBUG;
    assert_int_equal(log_level_parse("WARN", &out), 0);
    assert_int_equal(out, LOG_LEVEL_WARN);

    out = LOG_LEVEL_DEBUG;
    assert_int_equal(log_level_parse("verbose", &out), -EINVAL);
    assert_int_equal(log_level_parse("", &out), -EINVAL);
    assert_int_equal(log_level_parse("info ", &out), -EINVAL);
    assert_int_equal(log_level_parse(NULL, &out), -EINVAL);
    assert_int_equal(out, LOG_LEVEL_DEBUG);
    assert_string_equal(log_level_name((enum log_level)99), "?");
}

/* Each event is one write(2): on a datagram socket every write arrives as
 * its own message, so a line split over two writes would show as two. */
static void test_one_write_per_line(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
    log_set_output_fd(sv[1]);
    log_info("comp", "first %s", "event");
    log_info("comp", "second\nevent");
    char buf[LOG_LINE_MAX + 1];
    ssize_t n = recv(sv[0], buf, sizeof buf - 1, MSG_DONTWAIT);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_matches(buf, "^[^\n]+ info  comp: first event\n$");
    n = recv(sv[0], buf, sizeof buf - 1, MSG_DONTWAIT);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_matches(buf, "^[^\n]+ info  comp: second\\\\nevent\n$");
    assert_int_equal(recv(sv[0], buf, sizeof buf, MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_stream_must_match_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_filtering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_control_chars_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_keeps_utf8_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errno_preserved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_write_per_line, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
