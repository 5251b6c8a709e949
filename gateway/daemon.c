/* Signals through a signalfd watched by the loop, so handlers are ordinary
 * callbacks that may do anything (no async-signal-safety rules, no flags to
 * poll); and systemd notifications, which are thin calls to sd_notify. */
#include "gateway/daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "gateway/log.h"

#define COMPONENT "daemon"

/* Process-wide by nature; see daemon.h. */
static struct {
    int fd;                         /* the signalfd; -1 when not watching */
    sigset_t newly_blocked;         /* what watch blocked, so unwatch unblocks only that */
    struct sigaction old_pipe;
    daemon_signal_fn *on_signal;
    void *data;
} sig = { .fd = -1 };

static struct {
    uint64_t timer;                 /* 0 when not started */
    int64_t interval_ms;
} watchdog;

/* ---- signals ------------------------------------------------------------ */

static void signals_fill(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGUSR1);
}

/* Only the signals watch itself blocked: one the process had blocked before
 * must stay blocked after unwatch. */
static void signals_newly_blocked(const sigset_t *watched, const sigset_t *before, sigset_t *out)
{
    static const int signos[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1 };
    sigemptyset(out);
    for (size_t i = 0; i < sizeof signos / sizeof signos[0]; i++) {
        if (sigismember(watched, signos[i]) && !sigismember(before, signos[i]))
            sigaddset(out, signos[i]);
    }
}

static void signals_on_readable(struct loop *loop, int fd, uint32_t events, void *data)
{
    (void)loop;
    (void)events;
    (void)data;
    /* Drain every pending signal, but stop as soon as a callback unwatched:
     * the fd is closed then, or even a different signalfd. */
    while (sig.fd == fd) {
        struct signalfd_siginfo si;
        ssize_t n = read(fd, &si, sizeof si);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            if (errno != EAGAIN)
                log_error(COMPONENT, "reading signalfd: %s", strerror(errno));
            return;
        }
        if ((size_t)n != sizeof si) {
            log_error(COMPONENT, "short read from signalfd: %zd bytes", n);
            return;
        }
        log_debug(COMPONENT, "signal %s (%" PRIu32 ") from pid %" PRIu32,
                  strsignal((int)si.ssi_signo), si.ssi_signo, si.ssi_pid);
        sig.on_signal((int)si.ssi_signo, sig.data);
    }
}

int daemon_signals_watch(struct loop *loop, daemon_signal_fn *on_signal, void *data)
{
    if (!loop || !on_signal)
        return -EINVAL;
    if (sig.fd >= 0)
        return -EALREADY;
    sigset_t set, before;
    signals_fill(&set);
    int err;
    struct sigaction ignore = { .sa_handler = SIG_IGN };
    sigemptyset(&ignore.sa_mask);
    if (sigaction(SIGPIPE, &ignore, &sig.old_pipe) < 0)
        return -errno;
    if (sigprocmask(SIG_BLOCK, &set, &before) < 0) {
        err = -errno;
        goto fail_pipe;
    }
    signals_newly_blocked(&set, &before, &sig.newly_blocked);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        err = -errno;
        goto fail_mask;
    }
    err = loop_fd_add(loop, fd, EPOLLIN, signals_on_readable, NULL);
    if (err)
        goto fail_fd;
    sig.fd = fd;
    sig.on_signal = on_signal;
    sig.data = data;
    return 0;

fail_fd:
    close(fd);
fail_mask:
    sigprocmask(SIG_UNBLOCK, &sig.newly_blocked, NULL);
fail_pipe:
    sigaction(SIGPIPE, &sig.old_pipe, NULL);
    return err;
}

void daemon_signals_unwatch(struct loop *loop)
{
    if (sig.fd < 0)
        return;
    int err = loop_fd_remove(loop, sig.fd);
    if (err)
        log_warn(COMPONENT, "removing signalfd from loop: %s", strerror(-err));
    close(sig.fd);
    sig.fd = -1;
    sig.on_signal = NULL;
    sig.data = NULL;
    if (sigprocmask(SIG_UNBLOCK, &sig.newly_blocked, NULL) < 0)
        log_warn(COMPONENT, "restoring signal mask: %s", strerror(errno));
    if (sigaction(SIGPIPE, &sig.old_pipe, NULL) < 0)
        log_warn(COMPONENT, "restoring SIGPIPE action: %s", strerror(errno));
}

/* ---- systemd notification ----------------------------------------------- */

static void notify_send(const char *state)
{
    int r = sd_notify(0, state);
    if (r < 0)
        log_warn(COMPONENT, "sd_notify(\"%s\"): %s", state, strerror(-r));
}

void daemon_notify_ready(void)
{
    notify_send("READY=1");
}

void daemon_notify_stopping(void)
{
    notify_send("STOPPING=1");
}

void daemon_notify_reloading(void)
{
    /* systemd matches MONOTONIC_USEC against its own clock to tell this
     * reload from an older one; it must be CLOCK_MONOTONIC in µs. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    char state[64];
    snprintf(state, sizeof state, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, usec);
    notify_send(state);
}

void daemon_notify_status(const char *fmt, ...)
{
    char state[sizeof "STATUS=" - 1 + 256];
    size_t prefix = sizeof "STATUS=" - 1;
    memcpy(state, "STATUS=", prefix);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(state + prefix, sizeof state - prefix, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    for (char *p = state + prefix; *p; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    }
    notify_send(state);
}

/* ---- watchdog ----------------------------------------------------------- */

static int64_t watchdog_on_timer(struct loop *loop, void *data)
{
    (void)loop;
    (void)data;
    notify_send("WATCHDOG=1");
    return watchdog.interval_ms;
}

int daemon_watchdog_start(struct loop *loop)
{
    if (watchdog.timer)
        return -EALREADY;
    if (!getenv("NOTIFY_SOCKET"))
        return 0;
    uint64_t usec = 0;
    int r = sd_watchdog_enabled(0, &usec);
    if (r <= 0)
        return r;
    /* Half the interval, as sd_watchdog_enabled(3) advises: one late turn
     * must not be enough to miss the deadline. */
    int64_t interval_ms = (int64_t)(usec / 2000u);
    if (interval_ms < 1)
        interval_ms = 1;
    uint64_t id = loop_timer_add(loop, interval_ms, watchdog_on_timer, NULL);
    if (!id)
        return -errno;
    watchdog.timer = id;
    watchdog.interval_ms = interval_ms;
    log_debug(COMPONENT, "watchdog: pinging every %" PRId64 " ms", interval_ms);
    return 1;
}

void daemon_watchdog_stop(struct loop *loop)
{
    if (!watchdog.timer)
        return;
    int err = loop_timer_cancel(loop, watchdog.timer);
    if (err)
        log_warn(COMPONENT, "cancelling watchdog timer: %s", strerror(-err));
    watchdog.timer = 0;
}
