/* Tests for the UART sensor simulator (tests/sim/uart_sim.c), read through
 * the pty link the way a gateway would: line, NMEA and PMS5003 content, the
 * faults (flipped bytes, garbage, split writes), query mode, raw sends,
 * stats against what arrived, a full pty, unplug/replug and shutdown. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "tests/drivers/sim_control.h"

#define RX_MAX 131072
#define WAIT_MS 5000          /* bound for anything that should happen now */
#define QUIET_MS 300          /* "nothing more arrives" */
#define PMS_LEN 32

extern char **environ;

static char dir[64];
static char rbuf[512];   /* replies we do not look at */

struct rx {
    uint8_t b[RX_MAX];
    size_t len;
};

/* ---- plumbing ---------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void link_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

/* Start uart_sim on <dir>/<name> with the given extra arguments. */
static struct sim *start(const char *name, const char *const *extra)
{
    static char link[PATH_MAX];
    const char *args[32] = {"--link", link};
    size_t n = 2;
    link_path(link, sizeof link, name);
    for (; extra && extra[n - 2]; n++)
        args[n] = extra[n - 2];
    args[n] = NULL;
    struct sim *s = sim_start("uart_sim", args);
    assert_non_null(s);
    assert_string_equal(sim_ready_text(s), link);
    return s;
}

/* The sensor's device, as a gateway opens it: raw 8N1, no controlling tty. */
static int open_link(const char *name)
{
    char path[PATH_MAX];
    link_path(path, sizeof path, name);
    int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(fd >= 0);
    struct termios t;
    assert_int_equal(tcgetattr(fd, &t), 0);
    cfmakeraw(&t);
    assert_int_equal(tcsetattr(fd, TCSANOW, &t), 0);
    return fd;
}

/* Read once if something arrives within `ms`. Returns bytes read, 0 on
 * timeout, -1 on EOF, error or hang-up. */
static ssize_t rx_read(int fd, struct rx *rx, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, ms);
    if (r == 0)
        return 0;
    if (r < 0 || !(p.revents & POLLIN))
        return -1;
    ssize_t n = read(fd, rx->b + rx->len, sizeof rx->b - rx->len);
    if (n <= 0)
        return -1;
    rx->len += (size_t)n;
    return n;
}

/* Read until `done(rx)` holds or WAIT_MS pass. */
static bool rx_until(int fd, struct rx *rx, bool (*done)(const struct rx *, size_t), size_t arg)
{
    int64_t end = now_ms() + WAIT_MS;
    while (!done(rx, arg)) {
        int64_t left = end - now_ms();
        if (left <= 0 || rx->len == sizeof rx->b || rx_read(fd, rx, (int)left) < 0)
            return done(rx, arg);
    }
    return true;
}

static bool has_bytes(const struct rx *rx, size_t n)
{
    return rx->len >= n;
}

static size_t count_crlf(const struct rx *rx)
{
    size_t n = 0;
    for (size_t i = 0; i + 1 < rx->len; i++)
        n += rx->b[i] == '\r' && rx->b[i + 1] == '\n';
    return n;
}

static bool has_lines(const struct rx *rx, size_t n)
{
    return count_crlf(rx) >= n;
}

/* Nothing arrives for QUIET_MS. */
static bool quiet(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, QUIET_MS) == 0;
}

/* Drain until QUIET_MS pass without a byte (bounded by WAIT_MS). */
static void rx_drain(int fd, struct rx *rx)
{
    int64_t end = now_ms() + WAIT_MS;
    while (now_ms() < end && rx->len < sizeof rx->b && rx_read(fd, rx, QUIET_MS) > 0)
        ;
}

/* The i-th CRLF-terminated line (without CRLF) as a string in `out`. */
static bool rx_line(const struct rx *rx, size_t i, char *out, size_t n)
{
    size_t start = 0;
    for (size_t p = 0; p + 1 < rx->len; p++) {
        if (rx->b[p] != '\r' || rx->b[p + 1] != '\n')
            continue;
        if (i-- == 0) {
            size_t len = p - start;
            if (len >= n)
                return false;
            memcpy(out, rx->b + start, len);
            out[len] = '\0';
            return true;
        }
        start = p + 2;
    }
    return false;
}

/* The number after " key=" (or "key=" at the start) in a stats reply. */
static uint64_t stat_of(const char *reply, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = reply; (p = strstr(p, key)) != NULL; p += klen) {
        if ((p == reply || p[-1] == ' ') && p[klen] == '=')
            return strtoull(p + klen + 1, NULL, 10);
    }
    fail_msg("no %s= in '%s'", key, reply);
    return 0;
}

static void stats(struct sim *s, char *reply, size_t n)
{
    assert_int_equal(sim_cmd(s, reply, n, "stats"), 0);
}

/* Poll `stats` until seq reaches `seq` (the simulator works asynchronously
 * from our commands' replies only for scheduled messages). */
static void wait_seq(struct sim *s, uint64_t seq, char *reply, size_t n)
{
    int64_t end = now_ms() + WAIT_MS;
    do {
        stats(s, reply, n);
        if (stat_of(reply, "seq") >= seq)
            return;
        poll(NULL, 0, 10);
    } while (now_ms() < end);
    fail_msg("seq did not reach %llu: %s", (unsigned long long)seq, reply);
}

static void temp_text(uint64_t n, char *out, size_t len)
{
    unsigned tenths = 200 + (unsigned)(n % 50);
    snprintf(out, len, "%u.%u", tenths / 10, tenths % 10);
}

/* ---- format checkers, written from the specs, not from the simulator --- */

/* 1 valid, 0 framed ($...*HH) but the checksum is wrong, -1 not framed. */
static int nmea_check(const char *s)
{
    size_t len = strlen(s);
    if (len < 4 || s[0] != '$' || s[len - 3] != '*')
        return -1;
    unsigned x = 0, want;
    for (size_t i = 1; i < len - 3; i++)
        x ^= (unsigned char)s[i];
    if (!strchr("0123456789ABCDEF", s[len - 2]) || !strchr("0123456789ABCDEF", s[len - 1]) ||
        sscanf(s + len - 2, "%2X", &want) != 1)
        return -1;
    return x == want ? 1 : 0;
}

/* Field `i` (0 = talker+type) of an NMEA sentence, into `out`. */
static void nmea_field(const char *s, int i, char *out, size_t n)
{
    const char *p = s + 1;
    while (i-- > 0) {
        p = strchr(p, ',');
        assert_non_null(p);
        p++;
    }
    size_t len = strcspn(p, ",*");
    assert_true(len < n);
    memcpy(out, p, len);
    out[len] = '\0';
}

static unsigned be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* 1 valid frame, 0 header and length right but the sum wrong, -1 no frame. */
static int pms_check(const uint8_t *f)
{
    if (f[0] != 0x42 || f[1] != 0x4D || be16(f + 2) != 28)
        return -1;
    unsigned sum = 0;
    for (int i = 0; i < 30; i++)
        sum += f[i];
    return (sum & 0xFFFF) == be16(f + 30) ? 1 : 0;
}

/* The values of frame n (the README's contract). */
static void pms_expect_values(const uint8_t *f, uint64_t n)
{
    unsigned k = (unsigned)(n % 5);
    const unsigned want[13] = {7 + k, 10 + k, 14 + k, 7 + k, 10 + k, 14 + k,
                               900, 300, 60, 8, 2, 1, 0};
    for (int i = 0; i < 13; i++)
        assert_int_equal(be16(f + 4 + 2 * i), want[i]);
}

/* ---- line mode --------------------------------------------------------- */

static void test_line_sequence_and_stats(void **state)
{
    (void)state;
    const char *const args[] = {"--mode", "line", "--line", "T={t};N={n}", "--rate", "50", NULL};
    struct sim *s = start("line", args);
    int fd = open_link("line");
    static struct rx rx;
    rx.len = 0;
    assert_true(rx_until(fd, &rx, has_lines, 10));
    assert_int_equal(sim_cmd(s, rbuf, sizeof rbuf, "pause"), 0);
    char reply[512], line[128], want[128], t[16];
    stats(s, reply, sizeof reply);
    uint64_t sent = stat_of(reply, "sent");
    assert_true(sent >= 10);
    assert_int_equal(stat_of(reply, "dropped"), 0);
    /* Everything sent before the pause arrives, and nothing after it. */
    assert_true(rx_until(fd, &rx, has_lines, sent));
    assert_true(quiet(fd));
    assert_int_equal(count_crlf(&rx), sent);
    for (uint64_t n = 0; n < sent; n++) {
        assert_true(rx_line(&rx, n, line, sizeof line));
        temp_text(n, t, sizeof t);
        snprintf(want, sizeof want, "T=%s;N=%llu", t, (unsigned long long)n);
        assert_string_equal(line, want);
    }
    close(fd);
    assert_int_equal(sim_stop(s), 0);   /* 0: also no sanitizer report at exit */
}

static void test_line_rate_does_not_drift(void **state)
{
    (void)state;
    const char *const args[] = {"--mode", "line", "--rate", "100", NULL};
    struct sim *s = start("rate", args);
    char reply[512];
    stats(s, reply, sizeof reply);
    int64_t t0 = now_ms();
    uint64_t seq0 = stat_of(reply, "seq");
    poll(NULL, 0, 600);   /* a measuring interval, not a readiness wait */
    stats(s, reply, sizeof reply);
    double hz = (double)(stat_of(reply, "seq") - seq0) * 1000.0 / (double)(now_ms() - t0);
    assert_true(hz > 75 && hz < 125);
    assert_int_equal(sim_stop(s), 0);
}

/* Flipped characters on every 3rd line, a junk line before every 4th. */
static void test_line_faults(void **state)
{
    (void)state;
    const char *const args[] = {"--mode", "line", "--line", "temp={t} n={n}", "--rate", "0",
                                "--corrupt-every", "3", "--garbage-every", "4", NULL};
    struct sim *s = start("linef", args);
    int fd = open_link("linef");
    assert_int_equal(sim_cmd(s, rbuf, sizeof rbuf, "emit 60"), 0);
    static struct rx rx;
    rx.len = 0;
    assert_true(rx_until(fd, &rx, has_lines, 75));
    assert_true(quiet(fd));
    assert_int_equal(count_crlf(&rx), 75);   /* 60 lines, 15 junk lines */
    char line[128], want[128], t[16];
    size_t li = 0, junk_bytes = 0;
    for (uint64_t n = 0; n < 60; n++) {
        if ((n + 1) % 4 == 0) {
            assert_true(rx_line(&rx, li++, line, sizeof line));
            size_t len = strlen(line);
            assert_true(len >= 1 && len <= 20 && !strchr(line, '$'));
            junk_bytes += len + 2;
        }
        assert_true(rx_line(&rx, li++, line, sizeof line));
        temp_text(n, t, sizeof t);
        snprintf(want, sizeof want, "temp=%s n=%llu", t, (unsigned long long)n);
        assert_int_equal(strlen(line), strlen(want));
        size_t diffs = 0;
        for (size_t i = 0; want[i]; i++)
            diffs += line[i] != want[i];
        assert_int_equal(diffs, (n + 1) % 3 == 0 ? 1 : 0);
    }
    char reply[512];
    stats(s, reply, sizeof reply);
    assert_int_equal(stat_of(reply, "sent"), 60);
    assert_int_equal(stat_of(reply, "corrupted"), 20);
    assert_int_equal(stat_of(reply, "garbage_bytes"), junk_bytes);
    close(fd);
    assert_int_equal(sim_stop(s), 0);
}

/* --count stops the messages for good; the control channel stays up. */
static void test_line_count_limit(void **state)
{
    (void)state;
    const char *const args[] = {"--mode", "line", "--rate", "0", "--count", "3", NULL};
    struct sim *s = start("count", args);
    int fd = open_link("count");
    assert_int_equal(sim_cmd(s, rbuf, sizeof rbuf, "emit 5"), 0);
    static struct rx rx;
    rx.len = 0;
    assert_true(rx_until(fd, &rx, has_lines, 3));
    assert_true(quiet(fd));
    assert_int_equal(count_crlf(&rx), 3);
    char reply[512];
    stats(s, reply, sizeof reply);
    assert_int_equal(stat_of(reply, "sent"), 3);
    assert_int_equal(stat_of(reply, "seq"), 3);
    close(fd);
    assert_int_equal(sim_stop(s), 0);
}

/* ---- NMEA -------------------------------------------------------------- */

static void test_nmea_checksums_and_corruption(void **state)
{
    (void)state;
    const char *const args[] = {"--mode", "nmea", "--rate", "0", "--corrupt-every", "4", NULL};
    struct sim *s = start("gps", args);
    int fd = open_link("gps");
    assert_int_equal(sim_cmd(s, rbuf, sizeof rbuf, "emit 12"), 0);
    static struct rx rx;
    rx.len = 0;
    assert_true(rx_until(fd, &rx, has_lines, 24));
    assert_true(quiet(fd));
    assert_int_equal(count_crlf(&rx), 24);
    char gga[128], rmc[128], f[32], want[32];
    assert_true(rx_line(&rx, 0, gga, sizeof gga));
    assert_string_equal(gga, "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47");
    for (unsigned n = 0; n < 12; n++) {
        assert_true(rx_line(&rx, 2 * n, gga, sizeof gga));
        assert_true(rx_line(&rx, 2 * n + 1, rmc, sizeof rmc));
        int g = nmea_check(gga), r = nmea_check(rmc);
        assert_true(g >= 0 && r >= 0);   /* corrupted ones still frame */
        assert_int_equal(g + r, (n + 1) % 4 == 0 ? 1 : 2);
        if (g == 1) {
            nmea_field(gga, 0, f, sizeof f);
            assert_string_equal(f, "GPGGA");
            nmea_field(gga, 1, f, sizeof f);
            snprintf(want, sizeof want, "1235%02u", 19 + n);
            assert_string_equal(f, want);
            nmea_field(gga, 6, f, sizeof f);
            assert_string_equal(f, "1");
            nmea_field(gga, 7, f, sizeof f);
            assert_string_equal(f, "08");
            nmea_field(gga, 9, f, sizeof f);
            snprintf(want, sizeof want, "%u.%u", (5454 + n) / 10, (5454 + n) % 10);
            assert_string_equal(f, want);
        }
        if (r == 1) {
            nmea_field(rmc, 0, f, sizeof f);
            assert_string_equal(f, "GPRMC");
            nmea_field(rmc, 2, f, sizeof f);
            assert_string_equal(f, "A");
            nmea_field(rmc, 7, f, sizeof f);
            assert_string_equal(f, "022.4");
        }
    }
    char reply[512];
    stats(s, reply, sizeof reply);
    assert_int_equal(stat_of(reply, "sent"), 12);
    assert_int_equal(stat_of(reply, "corrupted"), 3);
    close(fd);
    assert_int_equal(sim_stop(s), 0);
}

/* ---- PMS5003 ----------------------------------------------------------- */

static void test_pms5003_frames(void **state)
{
    (void)state;
    const char *const args[] = {"--mode", "pms5003", "--rate", "0", "--corrupt-every", "5", NULL};
    struct sim *s = start("pms", args);
    int fd = open_link("pms");
    assert_int_equal(sim_cmd(s, rbuf, sizeof rbuf, "emit 10"), 0);
    static struct rx rx;
    rx.len = 0;
    assert_true(rx_until(fd, &rx, has_bytes, 10 * PMS_LEN));
    assert_true(quiet(fd));
    assert_int_equal(rx.len, 10 * PMS_LEN);
    /* The datasheet layout, worked by hand: PM 7/10/14, counts 900..1. */
    static const uint8_t frame0[PMS_LEN] = {
        0x42, 0x4d, 0x00, 0x1c, 0x00, 0x07, 0x00, 0x0a, 0x00, 0x0e, 0x00, 0x07, 0x00, 0x0a, 0x00, 0x0e,
        0x03, 0x84, 0x01, 0x2c, 0x00, 0x3c, 0x00, 0x08, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x01, 0xe4};
    assert_memory_equal(rx.b, frame0, PMS_LEN);
    for (uint64_t n = 0; n < 10; n++) {
        const uint8_t *f = rx.b + n * PMS_LEN;
        assert_int_equal(pms_check(f), (n + 1) % 5 == 0 ? 0 : 1);
        if (pms_check(f) == 1)
            pms_expect_values(f, n);
    }
    char reply[512];
    stats(s, reply, sizeof reply);
    assert_int_equal(stat_of(reply, "corrupted"), 2);
    close(fd);
    assert_int_equal(sim_stop(s), 0);
}

/* Garbage before every 2nd frame: a reader that scans for a header and
 * checks the sum still finds every frame, in order. */
static void test_pms5003_garbage_between_frames(void **state)
{
    (void)state;
    const char *const args[] = {"--mode", "pms5003", "--rate", "0", "--garbage-every", "2",
                                "--seed", "7", NULL};
    struct sim *s = start("pmsg", args);
    int fd = open_link("pmsg");
    assert_int_equal(sim_cmd(s, rbuf, sizeof rbuf, "emit 20"), 0);
    static struct rx rx;
    rx.len = 0;
    rx_drain(fd, &rx);
    char reply[512];
    stats(s, reply, sizeof reply);
    uint64_t garbage = stat_of(reply, "garbage_bytes");
    assert_true(garbage >= 10 && garbage <= 200);
    assert_int_equal(rx.len, 20 * PMS_LEN + garbage);
    size_t p = 0, gap = 0, frames = 0, gap_total = 0;
    bool saw_0x42 = false;
    while (p + PMS_LEN <= rx.len) {
        if (pms_check(rx.b + p) != 1) {
            saw_0x42 |= rx.b[p] == 0x42;
            p++;
            gap++;
            continue;
        }
        pms_expect_values(rx.b + p, frames);
        if (frames % 2 == 1)
            assert_true(gap >= 1 && gap <= 20);
        else
            assert_int_equal(gap, 0);
        gap_total += gap;
        gap = 0;
        frames++;
        p += PMS_LEN;
    }
    assert_int_equal(frames, 20);
    assert_int_equal(p, rx.len);
    assert_int_equal(gap_total, garbage);
    assert_true(saw_0x42);   /* the garbage tries to look like a header */
    close(fd);
    assert_int_equal(sim_stop(s), 0);
}

/* Split writes: the frame arrives in two reads, whole in the end. */
static void test_pms5003_split(void **state)
{
    (void)state;
    const char *const args[] = {"--mode", "pms5003", "--rate", "0", "--split", NULL};
    struct sim *s = start("pmss", args);
    int fd = open_link("pmss");
    int partial = 0;
    for (uint64_t n = 0; n < 5; n++) {
        static struct rx rx;
        rx.len = 0;
        assert_int_equal(sim_cmd(s, rbuf, sizeof rbuf, "emit"), 0);
        assert_true(rx_read(fd, &rx, WAIT_MS) > 0);
        partial += rx.len == PMS_LEN / 2;
        assert_true(rx_until(fd, &rx, has_bytes, PMS_LEN));
        assert_int_equal(rx.len, PMS_LEN);
        assert_int_equal(pms_check(rx.b), 1);
        pms_expect_values(rx.b, n);
    }
    /* A 20 ms gap is long enough that a busy box still sees most halves. */
    assert_true(partial >= 1);
    close(fd);
    assert_int_equal(sim_stop(s), 0);
}

/* ---- query mode -------------------------------------------------------- */

static void write_hex(int fd, const uint8_t *b, size_t n)
{
    assert_int_equal(write(fd, b, n), (ssize_t)n);
}

static void test_query_mode(void **state)
{
    (void)state;
    const char *const args[] = {"--mode", "pms5003", "--query", "42 4d e2 00 00 01 71", NULL};
    struct sim *s = start("pmsq", args);
    int fd = open_link("pmsq");
    static struct rx rx;
    rx.len = 0;
    assert_true(quiet(fd));   /* --rate 1 (the default) is ignored */
    /* 5 ignored bytes (a false start included), then 1 more before a query. */
    static const uint8_t junk[] = {0x01, 0x02, 0x42, 0x4d, 0x00, 0x42};
    static const uint8_t query[] = {0x42, 0x4d, 0xe2, 0x00, 0x00, 0x01, 0x71};
    write_hex(fd, junk, sizeof junk);
    assert_true(quiet(fd));
    write_hex(fd, query, sizeof query);
    assert_true(rx_until(fd, &rx, has_bytes, PMS_LEN));
    assert_true(quiet(fd));
    assert_int_equal(rx.len, PMS_LEN);
    assert_int_equal(pms_check(rx.b), 1);
    char reply[512];
    stats(s, reply, sizeof reply);
    assert_int_equal(stat_of(reply, "queries"), 1);
    assert_int_equal(stat_of(reply, "sent"), 1);
    assert_int_equal(stat_of(reply, "ignored"), 6);
    /* Two queries in one write: two frames, the second with n = 1. */
    uint8_t two[2 * sizeof query];
    memcpy(two, query, sizeof query);
    memcpy(two + sizeof query, query, sizeof query);
    write_hex(fd, two, sizeof two);
    assert_true(rx_until(fd, &rx, has_bytes, 3 * PMS_LEN));
    assert_true(quiet(fd));
    assert_int_equal(rx.len, 3 * PMS_LEN);
    assert_int_equal(pms_check(rx.b + 2 * PMS_LEN), 1);
    pms_expect_values(rx.b + 2 * PMS_LEN, 2);
    stats(s, reply, sizeof reply);
    assert_int_equal(stat_of(reply, "queries"), 3);
    close(fd);
    assert_int_equal(sim_stop(s), 0);
}

/* ---- raw sends, a full pty, control errors ----------------------------- */

static void test_send_exact_bytes(void **state)
{
    (void)state;
    const char *const args[] = {"--mode", "raw", NULL};
    struct sim *s = start("raw", args);
    int fd = open_link("raw");
    static struct rx rx;
    rx.len = 0;
    assert_true(quiet(fd));   /* raw mode writes nothing by itself */
    assert_int_equal(sim_cmd(s, rbuf, sizeof rbuf, "send 00 ff 42 4d 0a"), 0);
    assert_int_equal(sim_cmd(s, rbuf, sizeof rbuf, "sendtext  hi\\x41\\r\\n"), 0);
    assert_int_equal(sim_cmd(s, rbuf, sizeof rbuf, "send 0d0a"), 0);
    static const uint8_t want[] = {0x00, 0xff, 0x42, 0x4d, 0x0a, ' ', 'h', 'i', 'A', '\r', '\n',
                                   0x0d, 0x0a};
    assert_true(rx_until(fd, &rx, has_bytes, sizeof want));
    assert_true(quiet(fd));
    assert_int_equal(rx.len, sizeof want);
    assert_memory_equal(rx.b, want, sizeof want);
    char reply[512];
    assert_int_equal(sim_cmd(s, reply, sizeof reply, "send 4"), -1);
    assert_int_equal(sim_cmd(s, reply, sizeof reply, "send zz"), -1);
    assert_int_equal(sim_cmd(s, reply, sizeof reply, "sendtext bad\\q"), -1);
    assert_int_equal(sim_cmd(s, reply, sizeof reply, "emit 1"), -1);
    assert_int_equal(sim_cmd(s, reply, sizeof reply, "rate fast"), -1);
    assert_int_equal(sim_cmd(s, reply, sizeof reply, "frobnicate"), -1);
    assert_true(quiet(fd));
    stats(s, reply, sizeof reply);
    assert_int_equal(stat_of(reply, "raw_bytes"), sizeof want);
    assert_int_equal(stat_of(reply, "sent"), 0);
    close(fd);
    assert_int_equal(sim_stop(s), 0);
}

/* Nobody reads: the pty fills, messages are dropped and counted, and the
 * control channel still answers. What was accepted arrives whole later. */
static void test_full_pty_drops(void **state)
{
    (void)state;
    const char *const args[] = {"--mode", "pms5003", "--rate", "0", NULL};
    struct sim *s = start("full", args);
    char reply[512];
    assert_int_equal(sim_cmd(s, rbuf, sizeof rbuf, "emit 4000"), 0);
    wait_seq(s, 4000, reply, sizeof reply);
    uint64_t sent = stat_of(reply, "sent"), dropped = stat_of(reply, "dropped");
    assert_true(dropped > 0);
    assert_int_equal(sent + dropped, 4000);
    int fd = open_link("full");
    static struct rx rx;
    rx.len = 0;
    rx_drain(fd, &rx);
    assert_int_equal(rx.len, sent * PMS_LEN);
    for (size_t p = 0; p < rx.len; p += PMS_LEN)
        assert_int_equal(pms_check(rx.b + p), 1);
    close(fd);
    assert_int_equal(sim_stop(s), 0);
}

/* ---- unplug, replug, shutdown ------------------------------------------ */

/* Within WAIT_MS poll() reports POLLHUP and read() ends with EOF or EIO;
 * bytes sent before the hang-up may come first. */
static void expect_hangup(int fd)
{
    int64_t end = now_ms() + WAIT_MS;
    uint8_t b[256];
    ssize_t n;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = end - now_ms();
        assert_true(left > 0);
        assert_int_equal(poll(&p, 1, (int)left), 1);
        if (p.revents & POLLHUP)
            break;
        n = read(fd, b, sizeof b);
        if (n <= 0)   /* hung up between our poll and read */
            break;
    }
    do
        n = read(fd, b, sizeof b);
    while (n > 0 && now_ms() < end);
    assert_true(n == 0 || (n < 0 && errno == EIO));
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 1);
    assert_true(p.revents & POLLHUP);
}

static bool link_exists(const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    link_path(path, sizeof path, name);
    return lstat(path, &st) == 0;
}

static void test_unplug_replug(void **state)
{
    (void)state;
    const char *const args[] = {"--mode", "line", "--rate", "20", NULL};
    struct sim *s = start("plug", args);
    int fd = open_link("plug");
    static struct rx rx;
    rx.len = 0;
    assert_true(rx_until(fd, &rx, has_lines, 1));
    assert_int_equal(sim_cmd(s, rbuf, sizeof rbuf, "unplug"), 0);
    assert_false(link_exists("plug"));
    expect_hangup(fd);
    close(fd);
    char reply[512];
    assert_int_equal(sim_cmd(s, reply, sizeof reply, "send 00"), -1);
    assert_int_equal(sim_cmd(s, reply, sizeof reply, "replug"), 0);
    assert_true(link_exists("plug"));
    fd = open_link("plug");
    rx.len = 0;
    assert_true(rx_until(fd, &rx, has_lines, 2));
    char line[128];
    assert_true(rx_line(&rx, 1, line, sizeof line));
    assert_non_null(strstr(line, "seq="));
    close(fd);
    assert_int_equal(sim_stop(s), 0);
}

static void test_sigterm_removes_link(void **state)
{
    (void)state;
    const char *const args[] = {"--mode", "nmea", NULL};
    struct sim *s = start("term", args);
    int fd = open_link("term");
    assert_int_equal(kill(sim_pid(s), SIGTERM), 0);
    expect_hangup(fd);
    int64_t end = now_ms() + WAIT_MS;
    while (link_exists("term") && now_ms() < end)
        poll(NULL, 0, 10);
    assert_false(link_exists("term"));
    assert_int_equal(sim_wait(s, WAIT_MS), 0);
    close(fd);
    assert_int_equal(sim_stop(s), 0);
}

/* Run uart_sim directly (sim_start wants a "ready" line, which bad
 * arguments never give), stdio on /dev/null. */
static pid_t run_direct(const char *const *argv)
{
    char prog[PATH_MAX];
    const char *simdir = getenv("MQGATE_SIM_DIR");
    assert_non_null(simdir);
    snprintf(prog, sizeof prog, "%s/uart_sim", simdir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, prog, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);
    return pid;
}

/* Its exit status, or -1 if it did not end within WAIT_MS (then killed). */
static int wait_exit(pid_t pid)
{
    int st;
    int64_t end = now_ms() + WAIT_MS;
    while (now_ms() < end) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        poll(NULL, 0, 10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

static void test_bad_arguments_exit_2(void **state)
{
    (void)state;
    char path[PATH_MAX];
    link_path(path, sizeof path, "bad");
    const char *const cases[][8] = {
        {"uart_sim", NULL},
        {"uart_sim", "--link", path, "--mode", "bogus", NULL},
        {"uart_sim", "--link", path, "--rate", "-1", NULL},
        {"uart_sim", "--link", path, "--query", "4", NULL},
        {"uart_sim", "--link", path, "--eol", "\\q", NULL},
        {"uart_sim", "--link", path, "--mode", "nmea", "--line", "x", NULL},
        {"uart_sim", "--link", path, "--frobnicate", NULL},
        {"uart_sim", "--link", path, "extra", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(wait_exit(run_direct(cases[i])), 2);
    assert_false(link_exists("bad"));
}

/* The controller closing stdin stops the simulator and removes the link. */
static void test_stdin_eof_stops(void **state)
{
    (void)state;
    const char *const args[] = {"--mode", "raw", NULL};
    struct sim *s = start("eof", args);
    assert_true(link_exists("eof"));
    assert_int_equal(sim_close_input(s), 0);
    assert_int_equal(sim_wait(s, WAIT_MS), 0);
    assert_false(link_exists("eof"));
    assert_int_equal(sim_stop(s), 0);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_uart_sim.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

/* A failed test skips its sim_stop, which would have removed its link (the
 * simulator itself dies with us): clear what is left, then the directory. */
static int group_teardown(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_sequence_and_stats),
        cmocka_unit_test(test_line_rate_does_not_drift),
        cmocka_unit_test(test_line_faults),
        cmocka_unit_test(test_line_count_limit),
        cmocka_unit_test(test_nmea_checksums_and_corruption),
        cmocka_unit_test(test_pms5003_frames),
        cmocka_unit_test(test_pms5003_garbage_between_frames),
        cmocka_unit_test(test_pms5003_split),
        cmocka_unit_test(test_query_mode),
        cmocka_unit_test(test_send_exact_bytes),
        cmocka_unit_test(test_full_pty_drops),
        cmocka_unit_test(test_unplug_replug),
        cmocka_unit_test(test_sigterm_removes_link),
        cmocka_unit_test(test_bad_arguments_exit_2),
        cmocka_unit_test(test_stdin_eof_stops),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
