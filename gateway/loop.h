/* The event loop every part of the process runs on: a single-threaded epoll
 * reactor with fd watches, monotonic timers and a before-sleep hook, in the
 * manner of Redis' ae. Each turn: before_sleep, wait, fd callbacks, timers.
 * All calls are for the loop's own thread only; other threads post to it
 * through an fd (eventfd or pipe) they write and the loop watches. */
#ifndef MQGATE_GATEWAY_LOOP_H
#define MQGATE_GATEWAY_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct loop;

/* ---- lifetime ----------------------------------------------------------- */

/* A new loop with no watches and no timers. NULL on failure, errno set. */
struct loop *loop_new(void);

/* Free the loop and its pending timers. Watched fds are not closed and
 * callback data is not freed: the loop owns neither. Not from a callback.
 * NULL is a no-op. */
void loop_free(struct loop *loop);

/* ---- fd watches --------------------------------------------------------- */

/* Called with the ready events (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP…),
 * limited to those still watched, plus EPOLLERR/EPOLLHUP which epoll always
 * reports. */
typedef void loop_fd_fn(struct loop *loop, int fd, uint32_t events, void *data);

/* Watch `fd` for `events` (level-triggered unless EPOLLET is included).
 * One watch per fd. The loop borrows fd and data until loop_fd_remove.
 * Returns 0, -EBADF (fd < 0), -EINVAL (fn NULL), -EEXIST (already watched),
 * -ENOMEM, or another -errno from epoll_ctl (-EPERM: a regular file). */
int loop_fd_add(struct loop *loop, int fd, uint32_t events, loop_fd_fn *fn, void *data);

/* Change the events watched on `fd`. From inside a callback, events already
 * reported in this batch but no longer watched are not dispatched.
 * Returns 0, -ENOENT (not watched), or -errno from epoll_ctl. */
int loop_fd_modify(struct loop *loop, int fd, uint32_t events);

/* Stop watching `fd`. Safe from any callback: events of this batch still
 * pending for `fd` are dropped, even if the same fd number is added again
 * before the batch ends, so the old data may be freed at once.
 * Call before close(fd). The watch is forgotten even when epoll_ctl fails
 * (e.g. -EBADF: fd was closed first), so the number can be watched again.
 * Returns 0, -ENOENT (not watched), or -errno from epoll_ctl. */
int loop_fd_remove(struct loop *loop, int fd);

/* ---- timers ------------------------------------------------------------- */

#define LOOP_TIMER_STOP (-1)

/* Returns the delay in ms until the next call (measured from loop_now_ms
 * of the turn it fired in; 0 means next turn), or LOOP_TIMER_STOP (any
 * negative value) to end the timer, which the loop then forgets. */
typedef int64_t loop_timer_fn(struct loop *loop, void *data);

/* Call fn(loop, data) once at least `delay_ms` (>= 0) have passed on
 * CLOCK_MONOTONIC. Timers due at the same time fire in the order added; a
 * timer added from a callback fires in a later turn, never in the current
 * one. O(log n). Returns the timer's id (never 0, never reused), or 0 with
 * errno EINVAL (fn NULL, delay < 0) or ENOMEM. */
uint64_t loop_timer_add(struct loop *loop, int64_t delay_ms, loop_timer_fn *fn, void *data);

/* Cancel a timer so its callback never runs again. Safe from any callback,
 * including the timer's own (its return value is then ignored) and for a
 * timer due later in the same turn (it does not fire). O(log n).
 * Returns 0, or -ENOENT if no live timer has that id. */
int loop_timer_cancel(struct loop *loop, uint64_t id);

/* ---- running ------------------------------------------------------------ */

/* fn(loop, data) runs at the start of each turn, before the loop waits:
 * the place for work that batches up a turn's events (group fsync, then
 * acks). fn may add timers or watches, or call loop_stop. NULL removes it. */
void loop_set_before_sleep(struct loop *loop, void (*fn)(struct loop *loop, void *data),
                           void *data);

/* Run turns until loop_stop. The turn in which loop_stop is called is
 * finished first (remaining events of the batch and due timers are still
 * dispatched), so no edge-triggered event or due timer is lost.
 * Returns 0 after loop_stop, -EBUSY if already running (called from a
 * callback), or -errno if epoll_wait fails (EINTR is retried). */
int loop_run(struct loop *loop);

/* Make loop_run return at the end of the current turn. Meant for callbacks;
 * a call while the loop is not running has no effect on the next loop_run. */
void loop_stop(struct loop *loop);

/* CLOCK_MONOTONIC in ms as read once per turn, just after the wait: cheap,
 * and the same for every callback of a turn. Before the first turn, the
 * time of loop_new. */
int64_t loop_now_ms(const struct loop *loop);

/* CLOCK_MONOTONIC in ms, read now. */
int64_t loop_clock_ms(void);

#endif
