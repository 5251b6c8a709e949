/* A pseudo-terminal whose far (slave) side is reachable at a symlink path, the
 * way socat's `link=` makes one: the simulators serve the master side, the
 * gateway opens the path as if it were /dev/ttyUSB0. "Unplug" closes the
 * master and removes the link, which the gateway sees as a vanished adapter;
 * "replug" makes a new pty at the same path. */
#ifndef MQGATE_TESTS_SIM_PTY_LINK_H
#define MQGATE_TESTS_SIM_PTY_LINK_H

#include <limits.h>

struct pty_link {
    int master;              /* the simulator's end; -1 while unplugged */
    int slave_keep;          /* held open so the master never reads EIO while
                                nobody else has the far end open */
    char path[PATH_MAX];     /* the symlink */
    char slave_name[64];     /* /dev/pts/N it points at */
};

/* Make a raw (8N1, no echo, no line discipline) pty pair and point `path` at
 * its slave side, replacing whatever link was there. The master is
 * non-blocking and close-on-exec. Returns 0, or -errno. On failure nothing
 * is left open. */
int pty_link_open(struct pty_link *p, const char *path);

/* Remove the link, then close both fds: the far end's reads return EOF or
 * EIO and poll() reports POLLHUP, as when a USB adapter is pulled out. */
void pty_link_unplug(struct pty_link *p);

/* A new pty at the same path (the /dev/pts number may differ). 0 or -errno. */
int pty_link_replug(struct pty_link *p);

/* The same as unplug; safe to call twice. */
void pty_link_close(struct pty_link *p);

#endif
