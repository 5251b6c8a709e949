/* The serial seam: serial_open picks the backend (libserialport, else the
 * termios fallback in serial_termios.c); reads, writes and waits then go
 * through poll() and non-blocking read()/write() on the fd for both, because
 * libserialport's blocking calls spin at 100% CPU on a hung-up port and
 * report it as "0 bytes" (SERIAL-TESTING.md §3). */
#include <errno.h>
#include <fcntl.h>
#include <libserialport.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "drivers/serial/serial_internal.h"
#include "gateway/log.h"

/* ---- shared helpers (declared in serial_internal.h) ---------------------- */

int serial_fail(char *err, size_t errlen, int e, const char *path, const char *fmt, ...)
{
    if (err && errlen > 0) {
        char what[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        snprintf(err, errlen, "%s: %s: %s", path ? path : "(no path)", what, strerror(e));
    }
    return -e;
}

bool serial_fd_is_pty(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode))
        return false;
    /* Linux devices.txt: 136-143 Unix98 pty slaves, 3 BSD pty slaves. */
    unsigned maj = major(st.st_rdev);
    return (maj >= 136 && maj <= 143) || maj == 3;
}

static char parity_letter(int parity)
{
    return parity == CFG_PARITY_EVEN ? 'E' : parity == CFG_PARITY_ODD ? 'O' : 'N';
}

struct serial_params serial_params_for_fd(const struct serial_params *p, int fd)
{
    struct serial_params eff = *p;
    if ((p->data_bits != 8 || p->parity != CFG_PARITY_NONE) && serial_fd_is_pty(fd)) {
        log_warn("serial", "%s: a pseudo-terminal is always 8 data bits without parity; "
                 "opening it as 8N%d instead of %d%c%d", p->path, p->stop_bits,
                 p->data_bits, parity_letter(p->parity), p->stop_bits);
        eff.data_bits = 8;
        eff.parity = CFG_PARITY_NONE;
    }
    return eff;
}

void serial_fd_claim(int fd, const char *path)
{
    /* Two readers of one tty split its bytes between them (SERIAL-TESTING.md
     * §2); TIOCEXCL makes a second open by anyone but root fail with EBUSY.
     * Only a safeguard, so a failure is reported, not fatal. */
    if (ioctl(fd, TIOCEXCL) != 0)
        log_debug("serial", "%s: no exclusive access (TIOCEXCL): %s", path, strerror(errno));
}

/* The errno values a vanished or hung-up tty reports. */
static bool errno_is_hangup(int e)
{
    return e == EIO || e == ENXIO || e == ENODEV || e == EPIPE;
}

static int errno_result(int e)
{
    return errno_is_hangup(e) ? -EPIPE : -e;
}

static int params_check(const struct serial_params *p, char *err, size_t errlen)
{
    if (!p || !p->path || !p->path[0])
        return serial_fail(err, errlen, EINVAL, NULL, "no device path");
    if (p->baud < 1 || p->baud > INT_MAX)
        return serial_fail(err, errlen, EINVAL, p->path, "baud rate %lld", (long long)p->baud);
    if (p->data_bits < 5 || p->data_bits > 8)
        return serial_fail(err, errlen, EINVAL, p->path, "data bits %d (5..8)", p->data_bits);
    if (p->stop_bits != 1 && p->stop_bits != 2)
        return serial_fail(err, errlen, EINVAL, p->path, "stop bits %d (1 or 2)", p->stop_bits);
    if (p->parity < CFG_PARITY_NONE || p->parity > CFG_PARITY_ODD)
        return serial_fail(err, errlen, EINVAL, p->path, "parity %d", p->parity);
    if (p->flow_control < CFG_FLOW_NONE || p->flow_control > CFG_FLOW_XONXOFF)
        return serial_fail(err, errlen, EINVAL, p->path, "flow control %d", p->flow_control);
    return 0;
}

/* ---- the libserialport backend -------------------------------------------- */

/* The errno behind a libserialport failure. Call right after the failing
 * call: SP_ERR_FAIL keeps the OS error only until the next one. */
static int sp_errno(enum sp_return r)
{
    switch (r) {
    case SP_ERR_FAIL: {
        int e = sp_last_error_code();
        return e > 0 ? e : EIO;
    }
    case SP_ERR_MEM: return ENOMEM;
    case SP_ERR_SUPP: return ENOTSUP;
    default: return EINVAL;
    }
}

static int sp_configure(struct sp_port *port, const struct serial_params *p, char *err,
                        size_t errlen)
{
    static const enum sp_parity parity[] = {
        [CFG_PARITY_NONE] = SP_PARITY_NONE, [CFG_PARITY_EVEN] = SP_PARITY_EVEN,
        [CFG_PARITY_ODD] = SP_PARITY_ODD,
    };
    static const enum sp_flowcontrol flow[] = {
        [CFG_FLOW_NONE] = SP_FLOWCONTROL_NONE, [CFG_FLOW_RTSCTS] = SP_FLOWCONTROL_RTSCTS,
        [CFG_FLOW_XONXOFF] = SP_FLOWCONTROL_XONXOFF,
    };
    enum sp_return r;
    if ((r = sp_set_baudrate(port, (int)p->baud)) != SP_OK)
        return serial_fail(err, errlen, sp_errno(r), p->path, "set %lld baud", (long long)p->baud);
    if ((r = sp_set_bits(port, p->data_bits)) != SP_OK)
        return serial_fail(err, errlen, sp_errno(r), p->path, "set %d data bits", p->data_bits);
    if ((r = sp_set_parity(port, parity[p->parity])) != SP_OK)
        return serial_fail(err, errlen, sp_errno(r), p->path, "set parity %c",
                           parity_letter(p->parity));
    if ((r = sp_set_stopbits(port, p->stop_bits)) != SP_OK)
        return serial_fail(err, errlen, sp_errno(r), p->path, "set %d stop bits", p->stop_bits);
    if ((r = sp_set_flowcontrol(port, flow[p->flow_control])) != SP_OK)
        return serial_fail(err, errlen, sp_errno(r), p->path, "set flow control");
    return 0;
}

/* libserialport 0.1.1 opens without O_CLOEXEC and leaves VMIN 0, under which
 * read() == 0 would mean "no data" rather than hang-up: fix both. */
static int sp_setup_fd(int fd, const char *path, char *err, size_t errlen)
{
    int r = serial_termios_set_vmin1(fd);
    if (r < 0)
        return serial_fail(err, errlen, -r, path, "set VMIN");
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
        return serial_fail(err, errlen, errno, path, "fcntl");
    if (tcflush(fd, TCIFLUSH) != 0)
        return serial_fail(err, errlen, errno, path, "flush input");
    serial_fd_claim(fd, path);
    return 0;
}

static int sp_setup(struct serial *s, const struct serial_params *p, char *err, size_t errlen)
{
    enum sp_return r = sp_get_port_handle(s->port, &s->fd);
    if (r != SP_OK)
        return serial_fail(err, errlen, sp_errno(r), p->path, "port handle");
    struct serial_params eff = serial_params_for_fd(p, s->fd);
    int e = sp_configure(s->port, &eff, err, errlen);
    return e < 0 ? e : sp_setup_fd(s->fd, p->path, err, errlen);
}

/* 0: opened with libserialport (s filled). 1: libserialport refused the
 * port, `why` says how: use termios. <0: -errno, a real failure (the device
 * is busy, forbidden, or would not take the settings) that termios would
 * only repeat. */
static int sp_backend_open(const struct serial_params *p, struct serial *s, char *err,
                           size_t errlen, char *why, size_t whylen)
{
    struct sp_port *port = NULL;
    enum sp_return r = sp_get_port_by_name(p->path, &port);
    if (r == SP_ERR_MEM)
        return serial_fail(err, errlen, ENOMEM, p->path, "libserialport");
    if (r == SP_ERR_FAIL) {
        snprintf(why, whylen, "port lookup: %s", strerror(sp_errno(r)));
        return 1;
    }
    if (r != SP_OK) {
        /* SP_ERR_ARG: libserialport checks "/dev/" and /sys/class/tty/<name>. */
        snprintf(why, whylen, "%s", strncmp(p->path, "/dev/", 5) != 0 ? "not a /dev name"
                                                                       : "no tty of that name in sysfs");
        return 1;
    }
    r = sp_open(port, SP_MODE_READ_WRITE);
    if (r != SP_OK) {
        int e = sp_errno(r);
        sp_free_port(port);
        if (r == SP_ERR_FAIL && e == ENOTTY) {
            snprintf(why, whylen, "no modem-control lines: %s", strerror(e));
            return 1;
        }
        return serial_fail(err, errlen, e, p->path, "open");
    }
    s->port = port;
    s->backend = SERIAL_BACKEND_LIBSERIALPORT;
    int e = sp_setup(s, p, err, errlen);
    if (e < 0) {
        sp_close(port);
        sp_free_port(port);
        s->port = NULL;
    }
    return e;
}

/* ---- lifetime ------------------------------------------------------------- */

int serial_open(const struct serial_params *p, struct serial **out, char *err, size_t errlen)
{
    if (err && errlen > 0)
        err[0] = '\0';
    int r = params_check(p, err, errlen);
    if (r < 0 || !out)
        return r < 0 ? r : -EINVAL;
    struct serial *s = calloc(1, sizeof *s);
    if (!s)
        return serial_fail(err, errlen, ENOMEM, p->path, "out of memory");
    s->fd = -1;
    char why[128];
    r = sp_backend_open(p, s, err, errlen, why, sizeof why);
    if (r == 1) {
        r = serial_termios_open(p, &s->fd, err, errlen);
        s->backend = SERIAL_BACKEND_TERMIOS;
        if (r == 0)
            log_info("serial", "%s: libserialport cannot open it (%s); using termios", p->path, why);
    } else if (r == 0) {
        log_info("serial", "%s: using libserialport", p->path);
    }
    if (r < 0) {
        free(s);
        return r;
    }
    *out = s;
    return 0;
}

void serial_close(struct serial *s)
{
    if (!s)
        return;
    /* The flag outlives us while another process holds the tty open, and
     * would then refuse our own reopen (non-root) with EBUSY. A hung-up fd
     * fails this harmlessly. */
    if (s->fd >= 0)
        ioctl(s->fd, TIOCNXCL);
    if (s->port) {
        sp_close(s->port);  /* closes s->fd */
        sp_free_port(s->port);
    } else if (s->fd >= 0) {
        close(s->fd);
    }
    free(s);
}

int serial_fd(const struct serial *s)
{
    return s ? s->fd : -1;
}

enum serial_backend serial_backend(const struct serial *s)
{
    return s->backend;
}

const char *serial_backend_name(enum serial_backend b)
{
    switch (b) {
    case SERIAL_BACKEND_LIBSERIALPORT: return "libserialport";
    case SERIAL_BACKEND_TERMIOS: return "termios";
    }
    return "?";
}

int serial_get_baud(const struct serial *s, int64_t *baud)
{
    if (!s || !baud)
        return -EINVAL;
    int r = serial_termios_get_baud(s->fd, baud);
    return r < 0 ? errno_result(-r) : 0;
}

/* ---- waiting -------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* -1: no deadline. */
static int64_t deadline_after(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* poll() until an event or the deadline; a signal resumes the wait with the
 * time left. Returns poll's count (0 = deadline passed) or -errno. */
static int poll_until(struct pollfd *pfd, nfds_t n, int64_t deadline)
{
    for (;;) {
        int left = -1;
        if (deadline >= 0) {
            int64_t d = deadline - now_ms();
            left = d < 0 ? 0 : d > INT_MAX ? INT_MAX : (int)d;
        }
        int r = poll(pfd, n, left);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return -errno;
    }
}

static bool fd_has_input(int fd)
{
    int queued = 0;
    return ioctl(fd, FIONREAD, &queued) == 0 && queued > 0;
}

/* ---- I/O -------------------------------------------------------------------- */

ssize_t serial_read(struct serial *s, void *buf, size_t n, int timeout_ms)
{
    if (!s || (!buf && n > 0))
        return -EINVAL;
    if (n == 0)
        return 0;
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    int64_t deadline = deadline_after(timeout_ms);
    bool hung_up = false;
    for (;;) {
        ssize_t r = read(s->fd, buf, n);
        if (r > 0)
            return r;
        if (r == 0)
            return -EPIPE;  /* VMIN is 1: EOF only on a hung-up tty */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return errno_result(errno);
        if (hung_up)
            return -EPIPE;  /* poll said hang-up and nothing is left to read */
        struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
        int w = poll_until(&pfd, 1, deadline);
        if (w <= 0)
            return w;
        if (pfd.revents & POLLNVAL)
            return -EBADF;
        hung_up = (pfd.revents & (POLLHUP | POLLERR)) != 0;
    }
}

ssize_t serial_write(struct serial *s, const void *buf, size_t n, int timeout_ms)
{
    if (!s || (!buf && n > 0) || n > SSIZE_MAX)
        return -EINVAL;
    const unsigned char *p = buf;
    size_t done = 0;
    int64_t deadline = deadline_after(timeout_ms);
    while (done < n) {
        ssize_t r = write(s->fd, p + done, n - done);
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno != EAGAIN)
            return errno_result(errno);
        struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };
        int w = poll_until(&pfd, 1, deadline);
        if (w < 0)
            return w;
        if (w == 0)
            return -ETIMEDOUT;
        if (pfd.revents & POLLNVAL)
            return -EBADF;
        if (pfd.revents & (POLLHUP | POLLERR))
            return -EPIPE;
    }
    return (ssize_t)n;
}

int serial_drain(struct serial *s)
{
    if (!s)
        return -EINVAL;
    while (tcdrain(s->fd) != 0) {
        if (errno != EINTR)
            return errno_result(errno);
    }
    return 0;
}

int serial_flush_input(struct serial *s)
{
    if (!s)
        return -EINVAL;
    return tcflush(s->fd, TCIFLUSH) == 0 ? 0 : errno_result(errno);
}

int serial_wait(struct serial *s, int other_fd, int timeout_ms)
{
    if (!s)
        return -EINVAL;
    struct pollfd pfd[2] = {
        { .fd = s->fd, .events = POLLIN },
        { .fd = other_fd, .events = POLLIN },
    };
    int r = poll_until(pfd, other_fd >= 0 ? 2 : 1, deadline_after(timeout_ms));
    if (r <= 0)
        return r;
    if (other_fd >= 0 && pfd[1].revents)
        return (pfd[1].revents & POLLNVAL) ? -EBADF : 2;
    if (pfd[0].revents & POLLNVAL)
        return -EBADF;
    if (pfd[0].revents & (POLLHUP | POLLERR))
        return fd_has_input(s->fd) ? 1 : -EPIPE;
    return 1;
}
