/* Pseudo-terminal pairs behind a symlink, for the simulators and the driver
 * tests (see pty_link.h). */
#include "tests/sim/pty_link.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static void set_raw(int fd)
{
    struct termios t;
    if (tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        t.c_cflag |= CLOCAL | CREAD;
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        tcsetattr(fd, TCSANOW, &t);
    }
}

int pty_link_open(struct pty_link *p, const char *path)
{
    int master = -1, slave = -1;
    p->master = -1;
    p->slave_keep = -1;
    if (strlen(path) >= sizeof p->path)
        return -ENAMETOOLONG;
    if (p->path != path)
        snprintf(p->path, sizeof p->path, "%s", path);
    if (openpty(&master, &slave, p->slave_name, NULL, NULL) != 0)
        return -errno;
    set_raw(slave);
    set_raw(master);
    int flags = fcntl(master, F_GETFL);
    if (flags < 0 || fcntl(master, F_SETFL, flags | O_NONBLOCK) != 0 ||
        fcntl(master, F_SETFD, FD_CLOEXEC) != 0 || fcntl(slave, F_SETFD, FD_CLOEXEC) != 0)
        goto fail;
    /* Replace atomically: a reader never sees the path missing or stale. */
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.new", p->path);
    unlink(tmp);
    if (symlink(p->slave_name, tmp) != 0 || rename(tmp, p->path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        goto fail;
    }
    p->master = master;
    p->slave_keep = slave;
    return 0;
fail:;
    int err = errno;
    close(master);
    close(slave);
    return -err;
}

void pty_link_unplug(struct pty_link *p)
{
    if (p->master < 0)
        return;
    unlink(p->path);
    close(p->master);
    close(p->slave_keep);
    p->master = -1;
    p->slave_keep = -1;
}

int pty_link_replug(struct pty_link *p)
{
    pty_link_unplug(p);
    return pty_link_open(p, p->path);
}

void pty_link_close(struct pty_link *p)
{
    pty_link_unplug(p);
}
