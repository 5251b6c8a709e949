/* Process plumbing for running as a service: signals delivered as loop
 * callbacks (through a signalfd), and systemd notifications (ready,
 * reloading, stopping, status, watchdog) through libsystemd's sd_notify.
 * All calls are for the loop's thread. */
#ifndef MQGATE_GATEWAY_DAEMON_H
#define MQGATE_GATEWAY_DAEMON_H

#include "gateway/loop.h"

/* ---- signals ------------------------------------------------------------
 * The state (the signalfd, the mask and SIGPIPE action to restore) lives in
 * one static struct inside daemon.c, not in an object the caller holds: the
 * signal mask and dispositions belong to the process, so there can only
 * ever be one such watch, and an object would suggest otherwise. */

typedef void daemon_signal_fn(int signo, void *data);

/* Block SIGINT, SIGTERM, SIGHUP and SIGUSR1 and deliver them as
 * on_signal(signo, data) calls from `loop`; ignore SIGPIPE, so a write to a
 * closed socket returns EPIPE instead of killing the process.
 * Call before starting any thread: threads inherit the mask, and a thread
 * that did not block these signals would take their default action (exit).
 * on_signal may call daemon_signals_unwatch. The process-wide mask stays
 * changed until unwatch, also for children it forks or execs.
 * Returns 0, -EINVAL (NULL argument), -EALREADY (already watching), or
 * -errno from sigaction, sigprocmask, signalfd or loop_fd_add; on failure
 * nothing is left changed. */
int daemon_signals_watch(struct loop *loop, daemon_signal_fn *on_signal, void *data);

/* Stop watching: remove the signalfd from `loop` (the one given to watch),
 * close it, unblock the signals that watch blocked and restore SIGPIPE's
 * action. A signal still pending then takes its default action (a second
 * SIGTERM during shutdown ends the process at this point). No-op when not
 * watching. */
void daemon_signals_unwatch(struct loop *loop);

/* ---- systemd notification -----------------------------------------------
 * Each sends one sd_notify(3) message. All are no-ops when $NOTIFY_SOCKET is
 * unset (not started by systemd with Type=notify). A failure to send is
 * logged as a warning, not returned: the caller could do nothing else about
 * it, and systemd acts on the missing message itself (start timeout,
 * watchdog restart). */

/* "READY=1": startup is complete and the service is serving. */
void daemon_notify_ready(void);

/* "RELOADING=1" with MONOTONIC_USEC, as Type=notify-reload (systemd 253+)
 * requires; older systemd ignores the extra field. Follow with
 * daemon_notify_ready once the reload is done. */
void daemon_notify_reloading(void);

/* "STOPPING=1": shutdown has begun. */
void daemon_notify_stopping(void);

/* "STATUS=…": one line for `systemctl status`. Newlines in the text are
 * replaced by spaces (a newline would start another field); text beyond
 * 255 bytes is cut. */
void daemon_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* When the service has WatchdogSec= set (sd_watchdog_enabled(3) reports an
 * interval for this process) and $NOTIFY_SOCKET is set, add a timer to
 * `loop` that sends "WATCHDOG=1" every half interval. The pings come from
 * the loop itself, so a loop stuck in a callback stops them and systemd
 * restarts the service. Returns 1 when started, 0 when no watchdog is
 * wanted, -EALREADY if already started, or -errno (from sd_watchdog_enabled,
 * or loop_timer_add's errno). */
int daemon_watchdog_start(struct loop *loop);

/* Cancel the watchdog timer on `loop` (the one given to start). Call before
 * loop_free if started. No-op when not started. */
void daemon_watchdog_stop(struct loop *loop);

#endif
