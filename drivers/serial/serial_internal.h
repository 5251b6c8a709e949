/* What serial.c (libserialport backend, fd I/O) and serial_termios.c (the
 * termios2 fallback) share: the handle and the termios2 helpers. termios2
 * lives in serial_termios.c alone, because <asm/termbits.h> and glibc's
 * <termios.h> cannot meet in one file. Not for use outside drivers/serial/. */
#ifndef MQGATE_DRIVERS_SERIAL_SERIAL_INTERNAL_H
#define MQGATE_DRIVERS_SERIAL_SERIAL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/serial/serial.h"

struct sp_port;

struct serial {
    int fd;                      /* owned: by port when port != NULL */
    enum serial_backend backend;
    struct sp_port *port;        /* libserialport backend only */
};

/* The params as the port will take them: a pty is always 8N (see
 * serial_open), so on a pty other data bits or parity are logged as a
 * warning and replaced. Returns the params to apply. */
struct serial_params serial_params_for_fd(const struct serial_params *p, int fd);

/* True when fd is the slave side of a pseudo-terminal (Unix98 or BSD). */
bool serial_fd_is_pty(int fd);

/* Ask for exclusive use of the tty (TIOCEXCL); a failure is logged at debug
 * level only, as the port works without it. */
void serial_fd_claim(int fd, const char *path);

/* Format "path: what" into err (NULL/0 allowed) and return -e. */
int serial_fail(char *err, size_t errlen, int e, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Open and configure a path with plain termios2. On success *fd_out is
 * O_NONBLOCK|O_CLOEXEC|O_NOCTTY, raw, VMIN 1, input flushed. 0 or -errno with
 * a message in err; nothing is left open on failure. */
int serial_termios_open(const struct serial_params *p, int *fd_out, char *err, size_t errlen);

/* Make reads on an fd libserialport configured behave like ours: VMIN 1,
 * VTIME 0, so read() == 0 means hang-up, never "no data yet". 0 or -errno. */
int serial_termios_set_vmin1(int fd);

/* The output speed the kernel reports (TCGETS2). 0 or -errno. */
int serial_termios_get_baud(int fd, int64_t *baud);

#endif
