/* Unit tests for gateway/daemon: signals raised in-process reach the callback
 * through the loop, the mask and SIGPIPE are restored afterwards, and the
 * sd_notify messages (ready, status, reloading, stopping, watchdog) arrive on
 * a unix datagram socket the test owns, or not at all without NOTIFY_SOCKET. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "gateway/daemon.h"
#include "gateway/loop.h"

#define SAFETY_MS 2000

struct fixture {
    struct loop *loop;
    int sock;                   /* the fake systemd's notify socket */
    char path[sizeof ((struct sockaddr_un *)0)->sun_path];
};

static void clear_env(void)
{
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof f);
    clear_env();
    f.loop = loop_new();
    if (!f.loop)
        return -1;
    snprintf(f.path, sizeof f.path, "/tmp/mqgate-test-notify-%ld.sock", (long)getpid());
    unlink(f.path);
    f.sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (f.sock < 0)
        return -1;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    memcpy(addr.sun_path, f.path, sizeof f.path);
    if (bind(f.sock, (struct sockaddr *)&addr, sizeof addr) < 0)
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    daemon_watchdog_stop(f->loop);
    daemon_signals_unwatch(f->loop);
    loop_free(f->loop);
    close(f->sock);
    unlink(f->path);
    clear_env();
    return 0;
}

static int64_t safety_fire(struct loop *loop, void *data)
{
    *(bool *)data = true;
    loop_stop(loop);
    return LOOP_TIMER_STOP;
}

static void run_bounded(struct loop *loop)
{
    bool timed_out = false;
    uint64_t id = loop_timer_add(loop, SAFETY_MS, safety_fire, &timed_out);
    assert_true(id != 0);
    assert_int_equal(loop_run(loop), 0);
    assert_false(timed_out);
    assert_int_equal(loop_timer_cancel(loop, id), 0);
}

static int64_t stop_fire(struct loop *loop, void *data)
{
    (void)data;
    loop_stop(loop);
    return LOOP_TIMER_STOP;
}

/* The next notify message, waiting at most wait_ms; "" if none came. */
static const char *notify_recv(struct fixture *f, int wait_ms)
{
    static char buf[512];
    struct pollfd pfd = { .fd = f->sock, .events = POLLIN };
    buf[0] = '\0';
    if (poll(&pfd, 1, wait_ms) <= 0)
        return buf;
    ssize_t n = recv(f->sock, buf, sizeof buf - 1, 0);
    assert_true(n >= 0);
    buf[n] = '\0';
    return buf;
}

/* ---- signals ------------------------------------------------------------ */

struct received {
    int signos[8];
    int count;
    int stop_after;
    bool unwatch;
    struct loop *loop;
};

static void on_signal(int signo, void *data)
{
    struct received *r = data;
    if (r->count < 8)
        r->signos[r->count] = signo;
    r->count++;
    if (r->unwatch)
        daemon_signals_unwatch(r->loop);
    if (r->count >= r->stop_after)
        loop_stop(r->loop);
}

static bool is_blocked(int signo)
{
    sigset_t now;
    assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &now), 0);
    return sigismember(&now, signo) == 1;
}

static void (*pipe_handler(void))(int)
{
    struct sigaction sa;
    assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
    return sa.sa_handler;
}

static void test_signals_reach_callback(void **state)
{
    struct fixture *f = *state;
    struct received r = { .stop_after = 1, .loop = f->loop };
    void (*pipe_before)(int) = pipe_handler();
    assert_false(is_blocked(SIGHUP));

    assert_int_equal(daemon_signals_watch(f->loop, on_signal, &r), 0);
    assert_int_equal(daemon_signals_watch(f->loop, on_signal, &r), -EALREADY);
    assert_true(is_blocked(SIGINT) && is_blocked(SIGTERM) && is_blocked(SIGHUP)
                && is_blocked(SIGUSR1));
    assert_true(pipe_handler() == SIG_IGN);

    assert_int_equal(raise(SIGHUP), 0);
    run_bounded(f->loop);
    assert_int_equal(r.count, 1);
    assert_int_equal(r.signos[0], SIGHUP);

    assert_int_equal(raise(SIGTERM), 0);
    run_bounded(f->loop);
    assert_int_equal(r.count, 2);
    assert_int_equal(r.signos[1], SIGTERM);

    /* Two pending at once: both delivered from one readable signalfd. */
    r.stop_after = 4;
    assert_int_equal(raise(SIGUSR1), 0);
    assert_int_equal(raise(SIGINT), 0);
    run_bounded(f->loop);
    assert_int_equal(r.count, 4);
    /* The kernel dequeues lower signal numbers first. */
    assert_int_equal(r.signos[2], SIGINT);
    assert_int_equal(r.signos[3], SIGUSR1);

    daemon_signals_unwatch(f->loop);
    assert_false(is_blocked(SIGHUP));
    assert_false(is_blocked(SIGTERM));
    assert_true(pipe_handler() == pipe_before);
    /* Watching again works after unwatch. */
    assert_int_equal(daemon_signals_watch(f->loop, on_signal, &r), 0);
    daemon_signals_unwatch(f->loop);
}

static void test_signals_unwatch_inside_callback(void **state)
{
    struct fixture *f = *state;
    struct received r = { .stop_after = 1, .unwatch = true, .loop = f->loop };
    assert_int_equal(daemon_signals_watch(f->loop, on_signal, &r), 0);
    assert_int_equal(raise(SIGUSR1), 0);
    run_bounded(f->loop);
    assert_int_equal(r.count, 1);
    assert_int_equal(r.signos[0], SIGUSR1);
    assert_false(is_blocked(SIGUSR1));
}

static void test_signals_keep_prior_mask(void **state)
{
    struct fixture *f = *state;
    struct received r = { .stop_after = 1, .loop = f->loop };
    sigset_t hup, old;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    assert_int_equal(sigprocmask(SIG_BLOCK, &hup, &old), 0);
    assert_int_equal(daemon_signals_watch(f->loop, on_signal, &r), 0);
    daemon_signals_unwatch(f->loop);
    /* Blocked before watch, so still blocked after unwatch. */
    assert_true(is_blocked(SIGHUP));
    assert_false(is_blocked(SIGTERM));
    assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
    assert_int_equal(daemon_signals_watch(NULL, on_signal, &r), -EINVAL);
    assert_int_equal(daemon_signals_watch(f->loop, NULL, &r), -EINVAL);
}

/* ---- notification ------------------------------------------------------- */

static void test_notify_without_socket_is_noop(void **state)
{
    struct fixture *f = *state;
    daemon_notify_ready();
    daemon_notify_reloading();
    daemon_notify_status("status %d", 1);
    daemon_notify_stopping();
    /* Even with a watchdog asked for, nothing starts without the socket. */
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("WATCHDOG_USEC", "100000", 1);
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(daemon_watchdog_start(f->loop), 0);
    assert_string_equal(notify_recv(f, 50), "");
    assert_null(getenv("NOTIFY_SOCKET"));
}

static void test_notify_messages(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(setenv("NOTIFY_SOCKET", f->path, 1), 0);

    daemon_notify_ready();
    assert_string_equal(notify_recv(f, SAFETY_MS), "READY=1");

    daemon_notify_status("serving %d devices\non %s", 3, "ttyUSB0");
    assert_string_equal(notify_recv(f, SAFETY_MS), "STATUS=serving 3 devices on ttyUSB0");

    daemon_notify_reloading();
    const char *msg = notify_recv(f, SAFETY_MS);
    const char *prefix = "RELOADING=1\nMONOTONIC_USEC=";
    assert_int_equal(strncmp(msg, prefix, strlen(prefix)), 0);
    char *end;
    unsigned long long usec = strtoull(msg + strlen(prefix), &end, 10);
    assert_true(usec > 0);
    assert_int_equal(*end, '\0');

    daemon_notify_stopping();
    assert_string_equal(notify_recv(f, SAFETY_MS), "STOPPING=1");

    /* The environment is kept, so later messages still go out. */
    assert_non_null(getenv("NOTIFY_SOCKET"));
}

/* ---- watchdog ----------------------------------------------------------- */

struct pings {
    int count;
    int other;
    int64_t start_ms;
    int64_t second_ms;
};

static void on_notify(struct loop *loop, int fd, uint32_t events, void *data)
{
    (void)events;
    struct pings *p = data;
    char buf[128];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf - 1, 0)) >= 0) {
        buf[n] = '\0';
        if (strcmp(buf, "WATCHDOG=1") != 0) {
            p->other++;
            continue;
        }
        if (++p->count == 2) {
            p->second_ms = loop_now_ms(loop);
            loop_stop(loop);
        }
    }
}

static void test_watchdog_pings_from_loop(void **state)
{
    struct fixture *f = *state;
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    assert_int_equal(setenv("NOTIFY_SOCKET", f->path, 1), 0);
    assert_int_equal(setenv("WATCHDOG_USEC", "60000", 1), 0);     /* 60 ms: ping every 30 */
    assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);

    struct pings p = { .start_ms = loop_clock_ms() };
    assert_int_equal(daemon_watchdog_start(f->loop), 1);
    assert_int_equal(daemon_watchdog_start(f->loop), -EALREADY);
    assert_int_equal(loop_fd_add(f->loop, f->sock, EPOLLIN, on_notify, &p), 0);
    run_bounded(f->loop);
    assert_int_equal(p.count, 2);
    assert_int_equal(p.other, 0);
    assert_true(p.second_ms - p.start_ms >= 60);

    /* Stopped: the loop runs on, but no more pings come. */
    daemon_watchdog_stop(f->loop);
    assert_true(loop_timer_add(f->loop, 100, stop_fire, NULL) != 0);
    assert_int_equal(loop_run(f->loop), 0);
    assert_int_equal(p.count, 2);
    assert_int_equal(p.other, 0);
    assert_int_equal(loop_fd_remove(f->loop, f->sock), 0);
}

static void test_watchdog_for_other_pid(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(setenv("NOTIFY_SOCKET", f->path, 1), 0);
    assert_int_equal(setenv("WATCHDOG_USEC", "60000", 1), 0);
    /* Meant for a parent or child, not this process. */
    assert_int_equal(setenv("WATCHDOG_PID", "1", 1), 0);
    assert_int_equal(daemon_watchdog_start(f->loop), 0);
    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(daemon_watchdog_start(f->loop), 0);
}

int main(void)
{
    /* Last-resort bound on the whole binary (see test_loop.c). */
    alarm(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_signals_reach_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signals_unwatch_inside_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signals_keep_prior_mask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_without_socket_is_noop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchdog_pings_from_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchdog_for_other_pid, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
