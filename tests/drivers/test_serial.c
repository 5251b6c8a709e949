/* Driver tests of the serial seam (drivers/serial) over real ptys
 * (tests/sim/pty_link.h): both backends (libserialport through the test-only
 * ioctl shim and the "/dev/../../.." name of SERIAL-TESTING.md §3, and the
 * termios fallback), early partial reads, baud rates, hang-up mid-read
 * without spinning, missing path and replug, fd leaks, waiting on a second
 * fd; and the by-id lookup and table of drivers/serial/ports.h. */
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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "drivers/serial/ports.h"
#include "drivers/serial/serial.h"
#include "gateway/log.h"
#include "tests/sim/pty_link.h"

/* tests/drivers/ioctl_shim.c: modem-line ioctls it faked; set _off to see
 * libserialport as production does. */
extern int ioctl_shim_faked;
extern int ioctl_shim_off;

static const enum serial_backend both[] = { SERIAL_BACKEND_LIBSERIALPORT, SERIAL_BACKEND_TERMIOS };

struct fixture {
    char dir[512];
    struct pty_link link;
    char sp_path[PATH_MAX + 16];  /* "/dev/../../.." + link path: passes libserialport */
    int log_fd;                   /* memfd the logger writes to */
};

/* ---- helpers ---------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t thread_cpu_us(void)
{
    struct rusage ru;
    assert_int_equal(getrusage(RUSAGE_THREAD, &ru), 0);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
}

static struct serial_params params_8n1(const char *path, int64_t baud)
{
    return (struct serial_params){ .path = path, .baud = baud, .data_bits = 8,
                                   .parity = CFG_PARITY_NONE, .stop_bits = 1,
                                   .flow_control = CFG_FLOW_NONE };
}

static const char *backend_path(struct fixture *f, enum serial_backend b)
{
    return b == SERIAL_BACKEND_LIBSERIALPORT ? f->sp_path : f->link.path;
}

static struct serial *open_with(enum serial_backend b, const struct serial_params *p)
{
    char err[256];
    struct serial *s = NULL;
    int r = serial_open(p, &s, err, sizeof err);
    if (r != 0)
        fail_msg("serial_open(%s): %d %s", p->path, r, err);
    assert_non_null(s);
    assert_int_equal(serial_backend(s), b);
    return s;
}

static struct serial *open_backend(struct fixture *f, enum serial_backend b, int64_t baud)
{
    struct serial_params p = params_8n1(backend_path(f, b), baud);
    return open_with(b, &p);
}

/* Everything logged so far, NUL-terminated; the capture is then emptied. */
static const char *log_take(struct fixture *f)
{
    static char buf[65536];
    ssize_t n = pread(f->log_fd, buf, sizeof buf - 1, 0);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_int_equal(ftruncate(f->log_fd, 0), 0);
    assert_int_equal(lseek(f->log_fd, 0, SEEK_SET), 0);
    return buf;
}

static void master_write(struct fixture *f, const char *data)
{
    size_t n = strlen(data);
    assert_int_equal(write(f->link.master, data, n), (ssize_t)n);
}

/* Read exactly n bytes at the master, within 2 s. */
static void master_read(struct fixture *f, char *buf, size_t n)
{
    size_t got = 0;
    int64_t deadline = now_ms() + 2000;
    while (got < n) {
        struct pollfd pfd = { .fd = f->link.master, .events = POLLIN };
        int64_t left = deadline - now_ms();
        assert_true(left > 0);
        assert_int_equal(poll(&pfd, 1, (int)left), 1);
        ssize_t r = read(f->link.master, buf + got, n - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
}

/* Read exactly n bytes through the seam, each call bounded by 2 s. */
static void seam_read_all(struct serial *s, char *buf, size_t n)
{
    size_t got = 0;
    for (int calls = 0; got < n; calls++) {
        assert_true(calls < 16);
        ssize_t r = serial_read(s, buf + got, n - got, 2000);
        assert_true(r > 0);
        got += (size_t)r;
    }
}

/* Bytes from the master arrive through the seam, a read returns as soon as
 * the first ones are there, an empty read waits its timeout, and bytes
 * written through the seam reach the master. */
static void check_data_flows(struct fixture *f, struct serial *s)
{
    char buf[128];
    master_write(f, "T=21.5\n");
    int64_t t0 = now_ms();
    ssize_t r = serial_read(s, buf, sizeof buf, 2000);
    int64_t elapsed = now_ms() - t0;
    assert_true(r > 0 && r <= 7);
    assert_true(elapsed < 1000);  /* not the full count, not the timeout */
    if (r < 7)
        seam_read_all(s, buf + r, (size_t)(7 - r));
    assert_memory_equal(buf, "T=21.5\n", 7);

    t0 = now_ms();
    assert_int_equal(serial_read(s, buf, sizeof buf, 0), 0);
    assert_int_equal(serial_read(s, buf, sizeof buf, 100), 0);
    elapsed = now_ms() - t0;
    assert_true(elapsed >= 95 && elapsed < 1000);

    assert_int_equal(serial_write(s, "PING\r\n", 6, 1000), 6);
    assert_int_equal(serial_drain(s), 0);
    master_read(f, buf, 6);
    assert_memory_equal(buf, "PING\r\n", 6);
}

/* ---- fixture -------------------------------------------------------------- */

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/mqgate-serial.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(f->dir) || f->dir[0] != '/')
        return -1;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/ttyS", f->dir);
    if (pty_link_open(&f->link, path) != 0)
        return -1;
    snprintf(f->sp_path, sizeof f->sp_path, "/dev/../../..%s", f->link.path);
    f->log_fd = memfd_create("test_serial_log", MFD_CLOEXEC);
    if (f->log_fd < 0)
        return -1;
    unsetenv("JOURNAL_STREAM");
    log_set_output_fd(f->log_fd);
    log_init(LOG_LEVEL_INFO);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    ioctl_shim_off = 0;
    log_set_output_fd(2);
    log_init(LOG_LEVEL_INFO);
    pty_link_close(&f->link);
    unlink(f->link.path);
    rmdir(f->dir);
    close(f->log_fd);
    free(f);
    return 0;
}

/* ---- the two backends ----------------------------------------------------- */

static void test_libserialport_backend(void **state)
{
    struct fixture *f = *state;
    int faked = ioctl_shim_faked;
    struct serial *s = open_backend(f, SERIAL_BACKEND_LIBSERIALPORT, 9600);
    assert_true(ioctl_shim_faked > faked);  /* libserialport went through the shim */
    assert_string_equal(serial_backend_name(serial_backend(s)), "libserialport");
    const char *log = log_take(f);
    assert_non_null(strstr(log, "serial: "));
    assert_non_null(strstr(log, ": using libserialport"));
    assert_null(strstr(log, "using termios"));
    check_data_flows(f, s);
    serial_close(s);
}

/* Without the shim (as in production) libserialport takes the name but
 * fails on the modem lines of the pty: termios, saying why. */
static void test_fallback_on_enotty(void **state)
{
    struct fixture *f = *state;
    ioctl_shim_off = 1;
    struct serial_params p = params_8n1(f->sp_path, 9600);
    struct serial *s = open_with(SERIAL_BACKEND_TERMIOS, &p);
    ioctl_shim_off = 0;
    const char *log = log_take(f);
    char want[PATH_MAX + 128];
    snprintf(want, sizeof want, "serial: %s: libserialport cannot open it (no modem-control "
             "lines: Inappropriate ioctl for device); using termios", f->sp_path);
    assert_non_null(strstr(log, want));
    check_data_flows(f, s);
    serial_close(s);
}

static void test_termios_fallback(void **state)
{
    struct fixture *f = *state;
    struct serial *s = open_backend(f, SERIAL_BACKEND_TERMIOS, 9600);
    assert_string_equal(serial_backend_name(serial_backend(s)), "termios");
    const char *log = log_take(f);
    char want[PATH_MAX + 128];
    snprintf(want, sizeof want, "serial: %s: libserialport cannot open it (not a /dev name); "
             "using termios", f->link.path);
    assert_non_null(strstr(log, want));
    assert_non_null(strstr(log, "info"));
    check_data_flows(f, s);
    serial_close(s);
}

/* The fd is what the header promises: non-blocking, close-on-exec, claimed
 * with TIOCEXCL until closed, and stale input is gone after the open. */
static void test_fd_flags_and_stale_input(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < 2; i++) {
        struct serial *s = open_backend(f, both[i], 9600);
        int fd = serial_fd(s);
        assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        int excl = 0;
        assert_int_equal(ioctl(fd, TIOCGEXCL, &excl), 0);
        assert_int_equal(excl, 1);  /* claimed */
        serial_close(s);
        /* ...and released: pty_link keeps the slave open, so the flag
         * would otherwise outlive the close. */
        excl = 1;
        assert_int_equal(ioctl(f->link.slave_keep, TIOCGEXCL, &excl), 0);
        assert_int_equal(excl, 0);
        /* Queued while nobody had the port open: must not reach the next one. */
        master_write(f, "stale bytes\n");
        s = open_backend(f, both[i], 9600);
        char buf[32];
        assert_int_equal(serial_read(s, buf, sizeof buf, 50), 0);
        serial_close(s);
    }
    assert_int_equal(serial_fd(NULL), -1);
    serial_close(NULL);
}

static void test_baud_rates(void **state)
{
    struct fixture *f = *state;
    static const int64_t rates[] = { 9600, 115200, 250000 };
    for (size_t i = 0; i < 2; i++) {
        for (size_t k = 0; k < 3; k++) {
            struct serial *s = open_backend(f, both[i], rates[k]);
            int64_t baud = 0;
            assert_int_equal(serial_get_baud(s, &baud), 0);
            assert_int_equal(baud, rates[k]);
            check_data_flows(f, s);
            serial_close(s);
        }
    }
}

/* A pty is always 8N: 7E2 with RTS/CTS opens anyway, with a warning. */
static void test_pty_settings_warn(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < 2; i++) {
        log_take(f);
        struct serial_params p = params_8n1(backend_path(f, both[i]), 19200);
        p.data_bits = 7;
        p.parity = CFG_PARITY_EVEN;
        p.stop_bits = 2;
        p.flow_control = CFG_FLOW_RTSCTS;
        struct serial *s = open_with(both[i], &p);
        const char *log = log_take(f);
        assert_non_null(strstr(log, "warn"));
        assert_non_null(strstr(log, "always 8 data bits without parity"));
        assert_non_null(strstr(log, "8N2 instead of 7E2"));
        check_data_flows(f, s);
        serial_close(s);
    }
}

static void test_bad_params(void **state)
{
    struct fixture *f = *state;
    struct serial *s = NULL;
    char err[256];
    struct serial_params good = params_8n1(f->link.path, 9600), p;
    p = good; p.data_bits = 9;
    assert_int_equal(serial_open(&p, &s, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "data bits 9"));
    p = good; p.stop_bits = 3;
    assert_int_equal(serial_open(&p, &s, err, sizeof err), -EINVAL);
    p = good; p.baud = 0;
    assert_int_equal(serial_open(&p, &s, err, sizeof err), -EINVAL);
    p = good; p.baud = (int64_t)INT_MAX + 1;
    assert_int_equal(serial_open(&p, &s, err, sizeof err), -EINVAL);
    p = good; p.parity = 3;
    assert_int_equal(serial_open(&p, &s, err, sizeof err), -EINVAL);
    p = good; p.flow_control = -1;
    assert_int_equal(serial_open(&p, &s, err, sizeof err), -EINVAL);
    p = good; p.path = NULL;
    assert_int_equal(serial_open(&p, &s, NULL, 0), -EINVAL);
    assert_int_equal(serial_open(NULL, &s, err, sizeof err), -EINVAL);
    assert_int_equal(serial_open(&good, NULL, err, sizeof err), -EINVAL);
    assert_null(s);
}

/* Not a terminal: -ENOTTY, whichever way the name looks. */
static void test_not_a_tty(void **state)
{
    struct fixture *f = *state;
    struct serial *s = NULL;
    char err[256], file[PATH_MAX + 8];
    struct serial_params p = params_8n1("/dev/null", 9600);
    assert_int_equal(serial_open(&p, &s, err, sizeof err), -ENOTTY);
    assert_non_null(strstr(err, "/dev/null: not a terminal"));
    snprintf(file, sizeof file, "%s/file", f->dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    p.path = file;
    assert_int_equal(serial_open(&p, &s, err, sizeof err), -ENOTTY);
    unlink(file);
    assert_null(s);
}

/* ---- hang-up, missing path, replug ------------------------------------------ */

static void *unplug_thread(void *arg)
{
    struct fixture *f = arg;
    /* Not a readiness wait: the point is to pull the plug while the other
     * thread is already inside serial_read/serial_wait. */
    struct timespec ts = { .tv_sec = 0, .tv_nsec = 150 * 1000000L };
    nanosleep(&ts, NULL);
    pty_link_unplug(&f->link);
    return NULL;
}

static void test_hangup_mid_read(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < 2; i++) {
        struct serial *s = open_backend(f, both[i], 9600);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, unplug_thread, f), 0);
        char buf[64];
        int64_t t0 = now_ms(), cpu0 = thread_cpu_us();
        ssize_t r = serial_read(s, buf, sizeof buf, 10000);
        int64_t elapsed = now_ms() - t0, cpu = thread_cpu_us() - cpu0;
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(r, -EPIPE);
        assert_true(elapsed >= 100);   /* it was waiting when the plug went */
        assert_true(elapsed < 2000);   /* and noticed at once, not at 10 s */
        assert_true(cpu < 50 * 1000);  /* in poll(), not spinning */
        /* The port stays dead, promptly, for every call. */
        assert_int_equal(serial_read(s, buf, sizeof buf, 0), -EPIPE);
        t0 = now_ms();
        assert_int_equal(serial_read(s, buf, sizeof buf, 5000), -EPIPE);
        assert_int_equal(serial_wait(s, -1, 5000), -EPIPE);
        assert_true(now_ms() - t0 < 1000);
        assert_int_equal(serial_write(s, "x", 1, 1000), -EPIPE);
        assert_int_equal(serial_drain(s), -EPIPE);
        assert_int_equal(serial_flush_input(s), -EPIPE);
        int64_t baud;
        assert_int_equal(serial_get_baud(s, &baud), -EPIPE);
        serial_close(s);
        assert_int_equal(pty_link_replug(&f->link), 0);
    }
}

/* serial_wait returns when the port hangs up while it waits, too. */
static void test_hangup_mid_wait(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < 2; i++) {
        struct serial *s = open_backend(f, both[i], 9600);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, unplug_thread, f), 0);
        int64_t t0 = now_ms(), cpu0 = thread_cpu_us();
        int r = serial_wait(s, -1, 10000);
        int64_t elapsed = now_ms() - t0, cpu = thread_cpu_us() - cpu0;
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(r, -EPIPE);
        assert_true(elapsed >= 100 && elapsed < 2000);
        assert_true(cpu < 50 * 1000);
        serial_close(s);
        assert_int_equal(pty_link_replug(&f->link), 0);
    }
}

static void test_missing_then_replug(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < 2; i++) {
        pty_link_unplug(&f->link);
        struct serial *s = NULL;
        char err[256];
        struct serial_params p = params_8n1(backend_path(f, both[i]), 9600);
        log_take(f);
        assert_int_equal(serial_open(&p, &s, err, sizeof err), -ENOENT);
        assert_null(s);
        assert_non_null(strstr(err, p.path));
        assert_non_null(strstr(err, "No such file or directory"));
        assert_string_equal(log_take(f), "");  /* a failed retry says nothing */
        assert_int_equal(pty_link_replug(&f->link), 0);
        s = open_with(both[i], &p);
        check_data_flows(f, s);
        serial_close(s);
    }
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* 50 rounds of open, data, unplug, -EPIPE, -ENOENT, replug, close leave the
 * same fds open as before. */
static void test_no_fd_leak(void **state)
{
    struct fixture *f = *state;
    int before = count_fds();
    for (int round = 0; round < 50; round++) {
        enum serial_backend b = both[round % 2];
        struct serial *s = open_backend(f, b, 115200);
        char buf[16];
        master_write(f, "ok\n");
        seam_read_all(s, buf, 3);
        pty_link_unplug(&f->link);
        assert_int_equal(serial_read(s, buf, sizeof buf, 2000), -EPIPE);
        struct serial *again = NULL;
        struct serial_params p = params_8n1(backend_path(f, b), 115200);
        assert_int_equal(serial_open(&p, &again, NULL, 0), -ENOENT);
        assert_int_equal(pty_link_replug(&f->link), 0);
        serial_close(s);
        log_take(f);
    }
    assert_int_equal(count_fds(), before);
}

/* ---- waiting ---------------------------------------------------------------- */

static void test_wait_with_other_fd(void **state)
{
    struct fixture *f = *state;
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(efd >= 0);
    for (size_t i = 0; i < 2; i++) {
        struct serial *s = open_backend(f, both[i], 9600);
        int64_t t0 = now_ms();
        assert_int_equal(serial_wait(s, efd, 60), 0);
        assert_int_equal(serial_wait(s, -1, 0), 0);
        assert_true(now_ms() - t0 >= 55);

        uint64_t one = 1;
        assert_int_equal(write(efd, &one, sizeof one), (ssize_t)sizeof one);
        t0 = now_ms();
        assert_int_equal(serial_wait(s, efd, 5000), 2);
        assert_true(now_ms() - t0 < 1000);

        master_write(f, "x");
        assert_int_equal(serial_wait(s, efd, 5000), 2);  /* the stop fd wins */
        uint64_t v;
        assert_int_equal(read(efd, &v, sizeof v), (ssize_t)sizeof v);
        assert_int_equal(serial_wait(s, efd, 5000), 1);
        assert_int_equal(serial_wait(s, -1, 5000), 1);
        char c;
        assert_int_equal(serial_read(s, &c, 1, 0), 1);
        assert_int_equal(serial_wait(s, efd, 0), 0);

        /* Flushed input is gone: nothing left to wait for. */
        master_write(f, "junk");
        assert_int_equal(serial_wait(s, -1, 2000), 1);
        assert_int_equal(serial_flush_input(s), 0);
        assert_int_equal(serial_wait(s, -1, 0), 0);
        serial_close(s);
    }
    close(efd);
}

/* A full pty buffer nobody drains: the write gives up at its timeout. */
static void test_write_timeout(void **state)
{
    struct fixture *f = *state;
    struct serial *s = open_backend(f, SERIAL_BACKEND_TERMIOS, 9600);
    static char chunk[1 << 16];
    memset(chunk, 'A', sizeof chunk);
    ssize_t r = 0;
    int64_t t0 = now_ms();
    for (int i = 0; i < 64 && r >= 0; i++)
        r = serial_write(s, chunk, sizeof chunk, 100);
    assert_int_equal(r, -ETIMEDOUT);
    assert_true(now_ms() - t0 < 10000);
    serial_close(s);
}

/* ---- port listing ----------------------------------------------------------- */

static void test_ports_find_by_id(void **state)
{
    struct fixture *f = *state;
    char dir[600], link1[700], link2[700], out[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/by-id", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(link1, sizeof link1, "%s/aaa-gone-if00", dir);
    snprintf(link2, sizeof link2, "%s/usb-Fake_Sensor_1234-if00-port0", dir);
    assert_int_equal(symlink("/dev/ttyUSB_not_there", link1), 0);
    assert_int_equal(symlink(f->link.slave_name, link2), 0);

    /* By the pty's own name and through the test's link to it. */
    assert_int_equal(serial_ports_find_by_id(dir, f->link.slave_name, out, sizeof out), 1);
    assert_string_equal(out, link2);
    out[0] = '\0';
    assert_int_equal(serial_ports_find_by_id(dir, f->link.path, out, sizeof out), 1);
    assert_string_equal(out, link2);
    assert_int_equal(serial_ports_find_by_id(dir, "/dev/null", out, sizeof out), 0);
    assert_int_equal(serial_ports_find_by_id(dir, f->link.slave_name, out, 8), -ENAMETOOLONG);
    assert_int_equal(serial_ports_find_by_id(dir, "/dev/ttyUSB_not_there", out, sizeof out),
                     -ENOENT);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/none", f->dir);
    assert_int_equal(serial_ports_find_by_id(missing, f->link.path, out, sizeof out), 0);

    unlink(link1);
    unlink(link2);
    rmdir(dir);
}

static char *print_to_string(const struct serial_port_info *ports, size_t n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    serial_ports_print(out, ports, n);
    assert_int_equal(fclose(out), 0);
    return text;
}

static void test_ports_print(void **state)
{
    (void)state;
    char *text = print_to_string(NULL, 0);
    assert_string_equal(text, "no serial ports found\n");
    free(text);

    struct serial_port_info ports[2] = {
        { .name = (char *)"/dev/ttyUSB0", .description = (char *)"FT232R USB UART",
          .transport = "usb", .usb_vid = 0x0403, .usb_pid = 0x6001,
          .manufacturer = (char *)"FTDI", .product = (char *)"FT232R USB UART",
          .serial_number = (char *)"A50285BI",
          .by_id = (char *)"/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0" },
        { .name = (char *)"/dev/ttyS0", .description = (char *)"16550A UART", .transport = "native",
          .usb_vid = -1, .usb_pid = -1 },
    };
    text = print_to_string(ports, 2);
    char *line2 = strchr(text, '\n') + 1;
    char *line3 = strchr(line2, '\n') + 1;
    char *line4 = strchr(line3, '\n') + 1;
    assert_true(strncmp(text, "PORT", 4) == 0);
    assert_non_null(strstr(text, "USB ID"));
    assert_true(strncmp(line2, "/dev/ttyUSB0  usb ", 18) == 0);
    assert_non_null(strstr(line2, "0403:6001  FTDI FT232R USB UART  A50285BI\n"));
    assert_non_null(strstr(line3, "  by-id: /dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI"));
    assert_true(strncmp(line4, "/dev/ttyS0  ", 12) == 0);
    assert_non_null(strstr(line4, "native"));
    assert_non_null(strstr(line4, "16550A UART"));
    assert_true(strlen(line4) > 0 && line4[strlen(line4) - 2] == '-');  /* no serial number */
    /* Columns line up: DEVICE starts at the same offset on every row. */
    size_t col = (size_t)(strstr(text, "DEVICE") - text);
    assert_int_equal(strstr(line2, "FTDI") - line2, col);
    assert_int_equal(strstr(line4, "16550A") - line4, col);
    free(text);
}

/* Whatever this machine has: a sane, sorted list without ptys. */
static void test_ports_list(void **state)
{
    (void)state;
    struct serial_port_info *ports = NULL;
    size_t n = 99;
    assert_int_equal(serial_ports_list(&ports, &n), 0);
    assert_true(n < 99);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(ports[i].name);
        assert_true(strncmp(ports[i].name, "/dev/", 5) == 0);
        assert_null(strstr(ports[i].name, "/dev/pts/"));
        assert_non_null(ports[i].transport);
        if (i > 0)
            assert_true(strcmp(ports[i - 1].name, ports[i].name) < 0);
    }
    char *text = print_to_string(ports, n);
    if (n > 0)
        assert_non_null(strstr(text, ports[0].name));
    else
        assert_string_equal(text, "no serial ports found\n");
    free(text);
    serial_ports_free(ports, n);
    serial_ports_free(NULL, 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_libserialport_backend),
        T(test_termios_fallback),
        T(test_fallback_on_enotty),
        T(test_fd_flags_and_stale_input),
        T(test_baud_rates),
        T(test_pty_settings_warn),
        T(test_bad_params),
        T(test_not_a_tty),
        T(test_hangup_mid_read),
        T(test_hangup_mid_wait),
        T(test_missing_then_replug),
        T(test_no_fd_leak),
        T(test_wait_with_other_fd),
        T(test_write_timeout),
        T(test_ports_find_by_id),
        T(test_ports_print),
        T(test_ports_list),
    };
#undef T
    return cmocka_run_group_tests_name("serial seam", tests, NULL, NULL);
}
