/* The serial seam: the one place the gateway opens, configures, reads and
 * writes a serial port (raw UART sensors; Modbus RTU goes through libmodbus).
 * libserialport first; plain termios (termios2, any baud rate) for what
 * libserialport refuses, such as the ptys of socat and ser2net. */
#ifndef MQGATE_DRIVERS_SERIAL_SERIAL_H
#define MQGATE_DRIVERS_SERIAL_SERIAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct serial;  /* opaque */

struct serial_params {
    const char *path;     /* /dev/ttyUSB0, /dev/serial/by-id/..., or a pty symlink (/tmp/ttyX) */
    int64_t baud;         /* 1..INT_MAX; non-standard rates too (termios2 BOTHER) */
    int data_bits;        /* 5..8 */
    int parity;           /* enum cfg_parity (config/config.h) */
    int stop_bits;        /* 1, 2 */
    int flow_control;     /* enum cfg_flow_control */
};

enum serial_backend { SERIAL_BACKEND_LIBSERIALPORT, SERIAL_BACKEND_TERMIOS };

/* Errors: every call returns a negative errno. A port that hung up or
 * vanished (adapter unplugged, socat gone: EIO, ENXIO, ENODEV, POLLHUP, or
 * read() == 0) is always -EPIPE; its fd never recovers, so the caller closes
 * it and reopens the path later (see drivers/backoff.h).
 * Threads: a struct serial belongs to one thread at a time; calls on
 * different ports are independent. Nothing here touches signals.
 * Timeouts: in milliseconds, on the monotonic clock; 0 = do not wait;
 * negative = no limit (as poll(2)). EINTR is retried, never returned. */

/* Open `p->path` and configure it (raw, VMIN 1, the given speed and frame).
 * Tries libserialport first. When libserialport refuses the port
 * (SP_ERR_ARG: a name outside /dev or without a sysfs entry; SP_ERR_FAIL
 * with ENOTTY: the modem-line ioctl a pty lacks) it falls back to termios.
 * On success it logs one info line naming the backend and, for termios, why
 * ("serial: /tmp/ttyGPS: libserialport cannot open it (...); using termios").
 * A pseudo-terminal is always 8 data bits without parity: other settings on
 * a pty are a logged warning, and the port is opened as 8N.
 * The fd is O_NONBLOCK|O_CLOEXEC, the tty never becomes a controlling
 * terminal, input queued before the open is discarded, and the tty is
 * claimed with TIOCEXCL, so a second open by a non-root process (another
 * mqgate, a terminal program) fails with EBUSY instead of stealing bytes.
 * Returns 0 and *out (the caller owns it: serial_close), or -errno with a
 * one-line message in err (may be NULL when errlen is 0) and *out untouched:
 * -ENOENT when the path is missing (retry later), -EACCES, -EBUSY, -ENOTTY
 * (not a terminal), -EINVAL (bad params, or a setting the device refused). */
int serial_open(const struct serial_params *p, struct serial **out, char *err, size_t errlen);

/* Release the TIOCEXCL claim, close the fd and free everything. Terminal
 * settings are not restored. NULL is a no-op. */
void serial_close(struct serial *s);

/* The fd, for poll()/epoll (readable = serial_read has bytes or -EPIPE);
 * -1 for NULL. Owned by s: do not close it or change its flags. */
int serial_fd(const struct serial *s);

/* Which backend opened s (not NULL). */
enum serial_backend serial_backend(const struct serial *s);

/* "libserialport", "termios"; "?" outside the enum. */
const char *serial_backend_name(enum serial_backend b);

/* The baud rate the kernel reports for the port now (a UART driver may round
 * a non-standard rate). 0 or -errno (-EPIPE when hung up). */
int serial_get_baud(const struct serial *s, int64_t *baud);

/* Read up to n bytes. Returns as soon as any bytes are available (not the
 * full count) with their number; 0 when timeout_ms passed with none (or at
 * once when timeout_ms is 0); -EPIPE when the port hung up; -EINVAL for a
 * NULL buffer with n > 0; another -errno. Waits in poll(), never spins. */
ssize_t serial_read(struct serial *s, void *buf, size_t n, int timeout_ms);

/* Write all n bytes within timeout_ms. Returns n; -ETIMEDOUT when the output
 * stayed full (part of the data may have gone out: the receiver sees a torn
 * frame, so flush or resynchronise); -EPIPE when hung up; another -errno. */
ssize_t serial_write(struct serial *s, const void *buf, size_t n, int timeout_ms);

/* Block until the kernel has transmitted everything written (tcdrain); on a
 * real UART that is the queued bytes' time on the wire, unbounded only if
 * hardware flow control holds the line. 0 or -errno (-EPIPE when hung up). */
int serial_drain(struct serial *s);

/* Discard input received but not read yet. 0 or -errno (-EPIPE hung up). */
int serial_flush_input(struct serial *s);

/* Wait until the port is readable, `other_fd` (e.g. a stop eventfd; -1 for
 * none) is readable, or the timeout. Returns 1 port readable, 2 other_fd
 * readable (it wins when both are, so a stop request is never starved by a
 * chatty sensor), 0 timeout, -EPIPE port hung up, -EBADF, another -errno.
 * Nothing is read from either fd. */
int serial_wait(struct serial *s, int other_fd, int timeout_ms);

#endif
