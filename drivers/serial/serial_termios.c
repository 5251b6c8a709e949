/* The termios fallback of the serial seam: open a path libserialport refuses
 * (a pty symlink from socat or ser2net, a name outside /dev) and configure it
 * with termios2, whose BOTHER takes any baud rate. Uses <asm/termbits.h>, not
 * glibc's <termios.h>: glibc 2.36 has no way to set a non-standard rate. */
#include <asm/termbits.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "config/config.h"
#include "drivers/serial/serial_internal.h"
#include "gateway/log.h"

static tcflag_t termios_csize(int data_bits)
{
    switch (data_bits) {
    case 5: return CS5;
    case 6: return CS6;
    case 7: return CS7;
    default: return CS8;
    }
}

/* Raw mode as cfmakeraw, plus the frame, speed and flow control in p. */
static void termios_fill(struct termios2 *t, const struct serial_params *p)
{
    t->c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL |
                              IXON | IXOFF | IXANY | IMAXBEL | INPCK | IGNPAR | IUCLC);
    t->c_oflag &= ~(tcflag_t)OPOST;
    t->c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t->c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CMSPAR | CSTOPB | CRTSCTS | CBAUD | CIBAUD);
    t->c_cflag |= CLOCAL | CREAD | BOTHER | termios_csize(p->data_bits);
    if (p->parity != CFG_PARITY_NONE) {
        t->c_cflag |= PARENB | (p->parity == CFG_PARITY_ODD ? PARODD : 0);
        t->c_iflag |= INPCK;  /* a byte with a parity error reads as 0 */
    }
    if (p->stop_bits == 2)
        t->c_cflag |= CSTOPB;
    if (p->flow_control == CFG_FLOW_RTSCTS)
        t->c_cflag |= CRTSCTS;
    else if (p->flow_control == CFG_FLOW_XONXOFF)
        t->c_iflag |= IXON | IXOFF;
    t->c_ispeed = t->c_ospeed = (speed_t)p->baud;
    t->c_cc[VMIN] = 1;
    t->c_cc[VTIME] = 0;
}

/* A real UART driver writes back what it could do; silently different data
 * bits or parity would garble every byte, so they are an error. A speed it
 * rounded is only worth a warning. */
static int termios_check(int fd, const struct serial_params *p, char *err, size_t errlen)
{
    struct termios2 t;
    if (ioctl(fd, TCGETS2, &t) != 0)
        return serial_fail(err, errlen, errno, p->path, "read back settings");
    tcflag_t want_parity = p->parity == CFG_PARITY_NONE ? 0
                         : PARENB | (p->parity == CFG_PARITY_ODD ? PARODD : 0);
    if ((t.c_cflag & CSIZE) != termios_csize(p->data_bits) ||
        (t.c_cflag & (PARENB | PARODD)) != want_parity)
        return serial_fail(err, errlen, EINVAL, p->path,
                           "the device does not take %d data bits with this parity",
                           p->data_bits);
    if ((int64_t)t.c_ospeed != p->baud)
        log_warn("serial", "%s: asked for %lld baud, the driver set %u", p->path,
                 (long long)p->baud, (unsigned)t.c_ospeed);
    return 0;
}

static int termios_configure(int fd, const struct serial_params *p, char *err, size_t errlen)
{
    struct termios2 t;
    if (ioctl(fd, TCGETS2, &t) != 0)
        return serial_fail(err, errlen, errno, p->path, "read settings");
    termios_fill(&t, p);
    if (ioctl(fd, TCSETS2, &t) != 0)
        return serial_fail(err, errlen, errno, p->path, "set %lld baud, %d data bits",
                           (long long)p->baud, p->data_bits);
    return termios_check(fd, p, err, errlen);
}

int serial_termios_open(const struct serial_params *p, int *fd_out, char *err, size_t errlen)
{
    int fd = open(p->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return serial_fail(err, errlen, errno, p->path, "open");
    int r;
    if (!isatty(fd)) {
        r = serial_fail(err, errlen, ENOTTY, p->path, "not a terminal");
        goto fail;
    }
    struct serial_params eff = serial_params_for_fd(p, fd);
    r = termios_configure(fd, &eff, err, errlen);
    if (r < 0)
        goto fail;
    /* Bytes that arrived before us belong to nobody (see serial_open). */
    if (ioctl(fd, TCFLSH, TCIFLUSH) != 0) {
        r = serial_fail(err, errlen, errno, p->path, "flush input");
        goto fail;
    }
    serial_fd_claim(fd, p->path);
    *fd_out = fd;
    return 0;
fail:
    close(fd);
    return r;
}

int serial_termios_set_vmin1(int fd)
{
    struct termios2 t;
    if (ioctl(fd, TCGETS2, &t) != 0)
        return -errno;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    return ioctl(fd, TCSETS2, &t) != 0 ? -errno : 0;
}

int serial_termios_get_baud(int fd, int64_t *baud)
{
    struct termios2 t;
    if (ioctl(fd, TCGETS2, &t) != 0)
        return -errno;
    *baud = (int64_t)t.c_ospeed;
    return 0;
}
