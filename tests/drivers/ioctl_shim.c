/* Test-only ioctl() override (SERIAL-TESTING.md §3) that lets libserialport
 * open a pty: a pty has no modem lines, so TIOCMGET/TIOCMSET/TIOCMBIS/TIOCMBIC
 * fail with ENOTTY and sp_open gives up. Linked into every tests/drivers/test_*
 * program, never into mqgate; ELF interposition makes libserialport.so call
 * it too. Everything else goes to the real ioctl untouched. */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/ioctl.h>

/* How many modem-line calls were faked, so a test can tell the shim ran. */
extern int ioctl_shim_faked;
int ioctl_shim_faked;

/* Set non-zero to pass everything through, as in production, where a pty
 * makes libserialport fail with ENOTTY. */
extern int ioctl_shim_off;
int ioctl_shim_off;

/* The fake modem lines: carrier, DSR and CTS up, as on a cabled port. */
static int fake_lines = TIOCM_CAR | TIOCM_DSR | TIOCM_CTS;

typedef int ioctl_fn(int fd, unsigned long request, ...);

static int fake_modem_ioctl(unsigned long request, int *arg)
{
    if (!arg) {
        errno = EFAULT;
        return -1;
    }
    switch (request) {
    case TIOCMGET: *arg = fake_lines; break;
    case TIOCMSET: fake_lines = *arg; break;
    case TIOCMBIS: fake_lines |= *arg; break;
    default: fake_lines &= ~*arg; break;  /* TIOCMBIC */
    }
    ioctl_shim_faked++;
    return 0;
}

/* Same prototype as glibc's <sys/ioctl.h>. Every ioctl takes at most one
 * argument, an int or a pointer, both passed in one register slot. */
int ioctl(int fd, unsigned long request, ...)
{
    /* Looked up once; a racing second lookup stores the same value. */
    static ioctl_fn *real;
    if (!real)
        real = (ioctl_fn *)dlsym(RTLD_NEXT, "ioctl");
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    int r = real(fd, request, arg);
    if (r < 0 && errno == ENOTTY && !ioctl_shim_off &&
        (request == TIOCMGET || request == TIOCMSET || request == TIOCMBIS || request == TIOCMBIC))
        return fake_modem_ioctl(request, arg);
    return r;
}
