/* Unit tests for gateway/loop: fd readiness, modify and remove (also from
 * inside callbacks, with stale events pending), timer order, repeat and
 * cancel, before_sleep and stop. Every run is bounded by a safety timer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway/loop.h"

/* Longest any test waits for something that should happen at once. */
#define SAFETY_MS 2000

static int setup(void **state)
{
    *state = loop_new();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    loop_free(*state);
    return 0;
}

static int64_t safety_fire(struct loop *loop, void *data)
{
    *(bool *)data = true;
    loop_stop(loop);
    return LOOP_TIMER_STOP;
}

/* Run until a callback stops the loop; fail if that takes SAFETY_MS. */
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

/* Run for about `ms`, for tests checking that something does NOT happen. */
static void run_for(struct loop *loop, int64_t ms)
{
    assert_true(loop_timer_add(loop, ms, stop_fire, NULL) != 0);
    assert_int_equal(loop_run(loop), 0);
}

static void make_pipe(int p[2])
{
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---- fd watches --------------------------------------------------------- */

struct reader {
    int calls;
    uint32_t events;
    char byte;
};

static void reader_on_ready(struct loop *loop, int fd, uint32_t events, void *data)
{
    struct reader *r = data;
    r->calls++;
    r->events = events;
    assert_int_equal(read(fd, &r->byte, 1), 1);
    loop_stop(loop);
}

static void test_fd_readable(void **state)
{
    struct loop *loop = *state;
    int p[2];
    make_pipe(p);
    struct reader r = { 0 };
    assert_int_equal(loop_fd_add(loop, p[0], EPOLLIN, reader_on_ready, &r), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    run_bounded(loop);
    assert_int_equal(r.calls, 1);
    assert_true(r.events & EPOLLIN);
    assert_int_equal(r.byte, 'x');

    /* Nothing more to read: no more calls. */
    run_for(loop, 20);
    assert_int_equal(r.calls, 1);

    assert_int_equal(write(p[1], "y", 1), 1);
    run_bounded(loop);
    assert_int_equal(r.calls, 2);
    assert_int_equal(r.byte, 'y');

    assert_int_equal(loop_fd_remove(loop, p[0]), 0);
    close(p[0]);
    close(p[1]);
}

static void writer_on_ready(struct loop *loop, int fd, uint32_t events, void *data)
{
    int *calls = data;
    (*calls)++;
    assert_true(events & EPOLLOUT);
    /* A pipe's write end is always writable: without this modify the
     * level-triggered watch would call back every turn. */
    assert_int_equal(loop_fd_modify(loop, fd, EPOLLIN), 0);
}

static void test_fd_modify(void **state)
{
    struct loop *loop = *state;
    int p[2];
    make_pipe(p);
    int calls = 0;
    assert_int_equal(loop_fd_add(loop, p[1], EPOLLOUT, writer_on_ready, &calls), 0);
    run_for(loop, 30);
    assert_int_equal(calls, 1);

    assert_int_equal(loop_fd_modify(loop, p[1], EPOLLOUT), 0);
    run_for(loop, 30);
    assert_int_equal(calls, 2);

    assert_int_equal(loop_fd_remove(loop, p[1]), 0);
    close(p[0]);
    close(p[1]);
}

static void never_called(struct loop *loop, int fd, uint32_t events, void *data)
{
    (void)loop;
    (void)fd;
    (void)events;
    (void)data;
    fail_msg("callback of a removed watch ran");
}

static void test_fd_errors(void **state)
{
    struct loop *loop = *state;
    int p[2];
    make_pipe(p);
    assert_int_equal(loop_fd_add(loop, -1, EPOLLIN, never_called, NULL), -EBADF);
    assert_int_equal(loop_fd_add(loop, p[0], EPOLLIN, NULL, NULL), -EINVAL);
    assert_int_equal(loop_fd_modify(loop, p[0], EPOLLIN), -ENOENT);
    assert_int_equal(loop_fd_remove(loop, p[0]), -ENOENT);

    assert_int_equal(loop_fd_add(loop, p[0], EPOLLIN, never_called, NULL), 0);
    assert_int_equal(loop_fd_add(loop, p[0], EPOLLIN, never_called, NULL), -EEXIST);
    assert_int_equal(loop_fd_remove(loop, p[0]), 0);
    assert_int_equal(loop_fd_remove(loop, p[0]), -ENOENT);

    /* Closed before removed: the error is reported, yet the watch is gone,
     * so the number can be watched again. */
    assert_int_equal(loop_fd_add(loop, p[1], EPOLLOUT, never_called, NULL), 0);
    int number = p[1];
    close(p[1]);
    assert_int_equal(loop_fd_remove(loop, number), -EBADF);
    assert_int_equal(loop_fd_remove(loop, number), -ENOENT);

    /* A closed fd, and one that is not pollable (a regular file). */
    assert_int_equal(loop_fd_add(loop, number, EPOLLIN, never_called, NULL), -EBADF);
    char path[] = "/tmp/mqgate-test-loop-XXXXXX";
    int file = mkstemp(path);
    assert_true(file >= 0);
    unlink(path);
    assert_int_equal(loop_fd_add(loop, file, EPOLLIN, never_called, NULL), -EPERM);
    close(file);

    /* A large fd number grows the table. */
    int high = fcntl(p[0], F_DUPFD_CLOEXEC, 900);
    assert_true(high >= 900);
    assert_int_equal(loop_fd_add(loop, high, EPOLLIN, never_called, NULL), 0);
    assert_int_equal(loop_fd_remove(loop, high), 0);
    close(high);
    close(p[0]);
}

/* Two pipes are readable in the same batch; whichever callback runs first
 * removes the other watch and frees its data. The other must not run (ASan
 * would also catch its use of the freed data). */
struct pair_side {
    int fd;
    int calls;
    struct pair_side **other;
};

static int pair_calls;

static void pair_on_ready(struct loop *loop, int fd, uint32_t events, void *data)
{
    (void)events;
    struct pair_side *self = data;
    self->calls++;
    pair_calls++;
    struct pair_side *other = *self->other;
    assert_int_equal(loop_fd_remove(loop, other->fd), 0);
    *self->other = NULL;
    free(other);
    assert_int_equal(loop_fd_remove(loop, fd), 0);
    loop_stop(loop);    /* the turn still ends its batch: the stale event is next */
}

static void test_fd_remove_inside_callback(void **state)
{
    struct loop *loop = *state;
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    struct pair_side *sa = calloc(1, sizeof *sa), *sb = calloc(1, sizeof *sb);
    assert_non_null(sa);
    assert_non_null(sb);
    sa->fd = a[0];
    sb->fd = b[0];
    sa->other = &sb;
    sb->other = &sa;
    assert_int_equal(loop_fd_add(loop, a[0], EPOLLIN, pair_on_ready, sa), 0);
    assert_int_equal(loop_fd_add(loop, b[0], EPOLLIN, pair_on_ready, sb), 0);
    assert_int_equal(write(a[1], "a", 1), 1);
    assert_int_equal(write(b[1], "b", 1), 1);

    pair_calls = 0;
    run_bounded(loop);
    assert_int_equal(pair_calls, 1);
    /* Exactly one side survives, the one that ran. */
    assert_true((sa == NULL) != (sb == NULL));
    struct pair_side *survivor = sa ? sa : sb;
    assert_int_equal(survivor->calls, 1);
    free(survivor);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
}

/* Harder: the callback closes the other fd and a new pipe takes its number
 * within the same batch. The stale event must not reach the new watch. */
struct reuse {
    int read_fd[2];
    int write_fd[2];
    int calls;
    int fresh_pipe[2];
    int fresh_calls;
    int reused_number;
};

static void reuse_fresh_on_ready(struct loop *loop, int fd, uint32_t events, void *data)
{
    (void)loop;
    (void)fd;
    (void)events;
    struct reuse *r = data;
    r->fresh_calls++;
}

static void reuse_on_ready(struct loop *loop, int fd, uint32_t events, void *data)
{
    (void)events;
    struct reuse *r = data;
    r->calls++;
    int other = fd == r->read_fd[0] ? 1 : 0;
    r->reused_number = r->read_fd[other];
    assert_int_equal(loop_fd_remove(loop, r->read_fd[other]), 0);
    close(r->read_fd[other]);
    r->read_fd[other] = -1;
    make_pipe(r->fresh_pipe);
    assert_int_equal(loop_fd_add(loop, r->fresh_pipe[0], EPOLLIN, reuse_fresh_on_ready, r), 0);
    assert_int_equal(loop_fd_remove(loop, fd), 0);
    loop_stop(loop);
}

static void test_fd_number_reused_inside_callback(void **state)
{
    struct loop *loop = *state;
    struct reuse r = { .calls = 0 };
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    r.read_fd[0] = a[0];
    r.read_fd[1] = b[0];
    r.write_fd[0] = a[1];
    r.write_fd[1] = b[1];
    assert_int_equal(loop_fd_add(loop, a[0], EPOLLIN, reuse_on_ready, &r), 0);
    assert_int_equal(loop_fd_add(loop, b[0], EPOLLIN, reuse_on_ready, &r), 0);
    assert_int_equal(write(a[1], "a", 1), 1);
    assert_int_equal(write(b[1], "b", 1), 1);

    run_bounded(loop);
    assert_int_equal(r.calls, 1);
    /* The lowest free number went to the new pipe: the case under test. */
    assert_int_equal(r.fresh_pipe[0], r.reused_number);
    assert_int_equal(r.fresh_calls, 0);
    run_for(loop, 20);
    assert_int_equal(r.fresh_calls, 0);

    /* The new watch works once its own data arrives. */
    assert_int_equal(write(r.fresh_pipe[1], "f", 1), 1);
    run_for(loop, 20);
    assert_true(r.fresh_calls >= 1);

    assert_int_equal(loop_fd_remove(loop, r.fresh_pipe[0]), 0);
    for (int i = 0; i < 2; i++) {
        if (r.read_fd[i] >= 0)
            close(r.read_fd[i]);
        close(r.write_fd[i]);
        close(r.fresh_pipe[i]);
    }
}

/* ---- timers ------------------------------------------------------------- */

struct fired {
    char order[16];
    size_t count;
    int64_t start_ms;
    bool early;
};

struct named_timer {
    struct fired *log;
    char name;
    int64_t delay_ms;
    bool last;
};

static int64_t named_fire(struct loop *loop, void *data)
{
    struct named_timer *t = data;
    t->log->order[t->log->count++] = t->name;
    if (loop_now_ms(loop) - t->log->start_ms < t->delay_ms)
        t->log->early = true;
    if (t->last)
        loop_stop(loop);
    return LOOP_TIMER_STOP;
}

static void test_timers_fire_in_order(void **state)
{
    struct loop *loop = *state;
    struct fired log = { .start_ms = loop_clock_ms() };
    struct named_timer timers[] = {
        { &log, 'd', 40, true },
        { &log, 'b', 10, false },
        { &log, 'c', 25, false },
        { &log, 'a', 0, false },
        { &log, 'B', 10, false },   /* same delay as 'b', added later */
    };
    for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++)
        assert_true(loop_timer_add(loop, timers[i].delay_ms, named_fire, &timers[i]) != 0);
    run_bounded(loop);
    assert_int_equal(log.count, 5);
    assert_memory_equal(log.order, "abBcd", 5);
    assert_false(log.early);
}

struct repeat {
    int calls;
    int64_t last_ms;
    int64_t min_gap_ms;
};

static int64_t repeat_fire(struct loop *loop, void *data)
{
    struct repeat *r = data;
    int64_t now = loop_now_ms(loop);
    if (r->calls > 0 && now - r->last_ms < r->min_gap_ms)
        r->min_gap_ms = now - r->last_ms;
    r->last_ms = now;
    if (++r->calls == 4) {
        loop_stop(loop);
        return LOOP_TIMER_STOP;
    }
    return 15;
}

static void test_timer_repeats(void **state)
{
    struct loop *loop = *state;
    struct repeat r = { .min_gap_ms = INT64_MAX };
    int64_t start = loop_clock_ms();
    uint64_t id = loop_timer_add(loop, 5, repeat_fire, &r);
    assert_true(id != 0);
    run_bounded(loop);
    assert_int_equal(r.calls, 4);
    assert_true(r.min_gap_ms >= 15);
    assert_true(loop_clock_ms() - start >= 5 + 3 * 15);
    /* Stopped by its return value: forgotten. */
    assert_int_equal(loop_timer_cancel(loop, id), -ENOENT);
}

struct canceller {
    uint64_t self_id;
    uint64_t victim_id;
    int self_calls;
    int victim_calls;
    int cancel_victim_rc;
    int cancel_self_rc;
};

static int64_t canceller_fire(struct loop *loop, void *data)
{
    struct canceller *c = data;
    c->self_calls++;
    c->cancel_victim_rc = loop_timer_cancel(loop, c->victim_id);
    c->cancel_self_rc = loop_timer_cancel(loop, c->self_id);
    return 1;   /* ignored: cancelled */
}

static int64_t victim_fire(struct loop *loop, void *data)
{
    (void)loop;
    struct canceller *c = data;
    c->victim_calls++;
    return LOOP_TIMER_STOP;
}

static void test_timer_cancel_inside_callback(void **state)
{
    struct loop *loop = *state;
    struct canceller c = { .self_calls = 0 };
    c.self_id = loop_timer_add(loop, 5, canceller_fire, &c);
    c.victim_id = loop_timer_add(loop, 5, victim_fire, &c);
    assert_true(c.self_id != 0 && c.victim_id != 0);
    assert_true(c.victim_id > c.self_id);
    /* Both due by the first turn: the victim is in the same due batch. */
    sleep_ms(15);
    run_for(loop, 30);
    assert_int_equal(c.self_calls, 1);
    assert_int_equal(c.victim_calls, 0);
    assert_int_equal(c.cancel_victim_rc, 0);
    assert_int_equal(c.cancel_self_rc, 0);
    assert_int_equal(loop_timer_cancel(loop, c.self_id), -ENOENT);
    assert_int_equal(loop_timer_cancel(loop, c.victim_id), -ENOENT);
}

static void test_timer_add_cancel_errors(void **state)
{
    struct loop *loop = *state;
    struct canceller c = { .self_calls = 0 };
    errno = 0;
    assert_int_equal(loop_timer_add(loop, -5, victim_fire, &c), 0);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(loop_timer_add(loop, 5, NULL, &c), 0);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(loop_timer_cancel(loop, 0), -ENOENT);

    uint64_t a = loop_timer_add(loop, 5, victim_fire, &c);
    assert_true(a != 0);
    assert_int_equal(loop_timer_cancel(loop, a), 0);
    assert_int_equal(loop_timer_cancel(loop, a), -ENOENT);
    uint64_t b = loop_timer_add(loop, 5, victim_fire, &c);
    assert_true(b > a);     /* ids are not reused */
    run_for(loop, 20);
    assert_int_equal(c.victim_calls, 1);
}

/* Many timers with random delays, a third cancelled: each live one fires
 * exactly once, never early, in deadline order; cancelled ones never fire. */
#define MANY 1500

struct many {
    int64_t start_ms;
    int64_t add_span_ms;   /* how long adding took: deadlines spread by that much */
    int delay_class[MANY];
    uint64_t ids[MANY];
    int fired[MANY];
    int last_class;
    bool out_of_order;
    bool early;
    int remaining;
};

struct many_timer {
    struct many *m;
    int index;
};

static int64_t many_fire(struct loop *loop, void *data)
{
    struct many_timer *t = data;
    struct many *m = t->m;
    int cls = m->delay_class[t->index];
    m->fired[t->index]++;
    /* Each timer's deadline is its own add time + its delay, so two classes
     * may swap only when their gap is within the time the adds took. */
    if (cls < m->last_class && (int64_t)(m->last_class - cls) * 5 > m->add_span_ms)
        m->out_of_order = true;
    m->last_class = cls;
    if (loop_now_ms(loop) - m->start_ms < cls * 5)
        m->early = true;
    if (--m->remaining == 0)
        loop_stop(loop);
    return LOOP_TIMER_STOP;
}

static void test_many_timers(void **state)
{
    struct loop *loop = *state;
    static struct many m;
    static struct many_timer timers[MANY];
    memset(&m, 0, sizeof m);
    uint32_t seed = 12345;
    m.start_ms = loop_clock_ms();
    for (int i = 0; i < MANY; i++) {
        seed = seed * 1103515245u + 12345u;
        /* Classes 5 ms apart; a slow machine (sanitizers, qemu) spreading the
         * adds over more than that is allowed for in many_fire. */
        m.delay_class[i] = (int)((seed >> 16) % 12);
        timers[i] = (struct many_timer){ &m, i };
        m.ids[i] = loop_timer_add(loop, m.delay_class[i] * 5, many_fire, &timers[i]);
        assert_true(m.ids[i] != 0);
    }
    m.add_span_ms = loop_clock_ms() - m.start_ms;
    for (int i = 0; i < MANY; i += 3)
        assert_int_equal(loop_timer_cancel(loop, m.ids[i]), 0);
    m.remaining = MANY - (MANY + 2) / 3;
    run_bounded(loop);
    for (int i = 0; i < MANY; i++)
        assert_int_equal(m.fired[i], i % 3 == 0 ? 0 : 1);
    assert_false(m.out_of_order);
    assert_false(m.early);
}

/* A timer that re-arms with delay 0 runs once per turn, so fds still get
 * their turn rather than starving behind it. */
static int64_t busy_fire(struct loop *loop, void *data)
{
    (void)loop;
    (*(int *)data)++;
    return 0;
}

static void test_zero_delay_timer_does_not_starve_fds(void **state)
{
    struct loop *loop = *state;
    int busy_calls = 0;
    uint64_t busy = loop_timer_add(loop, 0, busy_fire, &busy_calls);
    assert_true(busy != 0);
    int p[2];
    make_pipe(p);
    struct reader r = { 0 };
    assert_int_equal(loop_fd_add(loop, p[0], EPOLLIN, reader_on_ready, &r), 0);
    sleep_ms(2);
    assert_int_equal(write(p[1], "z", 1), 1);
    run_bounded(loop);
    assert_int_equal(r.calls, 1);
    assert_true(busy_calls >= 1);
    assert_true(busy_calls < 10);
    assert_int_equal(loop_timer_cancel(loop, busy), 0);
    assert_int_equal(loop_fd_remove(loop, p[0]), 0);
    close(p[0]);
    close(p[1]);
}

/* ---- running ------------------------------------------------------------ */

struct sleeper {
    int calls;
    int timer_calls;
    int calls_at_timer;
};

static void count_before_sleep(struct loop *loop, void *data)
{
    (void)loop;
    ((struct sleeper *)data)->calls++;
}

static int64_t three_times(struct loop *loop, void *data)
{
    struct sleeper *s = data;
    s->calls_at_timer = s->calls;
    if (++s->timer_calls == 3) {
        loop_stop(loop);
        return LOOP_TIMER_STOP;
    }
    return 5;
}

static void test_before_sleep(void **state)
{
    struct loop *loop = *state;
    struct sleeper s = { 0 };
    loop_set_before_sleep(loop, count_before_sleep, &s);
    assert_true(loop_timer_add(loop, 5, three_times, &s) != 0);
    run_bounded(loop);
    assert_int_equal(s.timer_calls, 3);
    /* At least once before each of the three waits that led to a firing. */
    assert_true(s.calls_at_timer >= 3);

    loop_set_before_sleep(loop, NULL, NULL);
    int before = s.calls;
    run_for(loop, 5);
    assert_int_equal(s.calls, before);
}

static void stop_before_sleep(struct loop *loop, void *data)
{
    (*(int *)data)++;
    loop_stop(loop);
}

static void test_stop_from_before_sleep(void **state)
{
    struct loop *loop = *state;
    int calls = 0;
    bool timed_out = false;
    uint64_t safety = loop_timer_add(loop, SAFETY_MS, safety_fire, &timed_out);
    loop_set_before_sleep(loop, stop_before_sleep, &calls);
    int64_t start = loop_clock_ms();
    /* Stopping before the wait returns without waiting at all. */
    assert_int_equal(loop_run(loop), 0);
    assert_int_equal(calls, 1);
    assert_false(timed_out);
    assert_true(loop_clock_ms() - start < SAFETY_MS / 2);
    assert_int_equal(loop_timer_cancel(loop, safety), 0);
    loop_set_before_sleep(loop, NULL, NULL);
}

struct nested {
    int rc;
    int64_t now_ms;
};

static int64_t nested_run(struct loop *loop, void *data)
{
    struct nested *n = data;
    n->rc = loop_run(loop);
    n->now_ms = loop_now_ms(loop);
    loop_stop(loop);
    return LOOP_TIMER_STOP;
}

static void test_run_stop_and_now(void **state)
{
    struct loop *loop = *state;
    struct nested n = { .rc = 1 };
    int64_t before = loop_clock_ms();
    assert_true(loop_now_ms(loop) <= before);
    assert_true(loop_timer_add(loop, 20, nested_run, &n) != 0);
    run_bounded(loop);
    assert_int_equal(n.rc, -EBUSY);
    assert_true(n.now_ms >= before + 20);
    assert_true(n.now_ms <= loop_clock_ms());

    /* A stop outside a run does not cut the next run short. */
    loop_stop(loop);
    n.rc = 1;
    assert_true(loop_timer_add(loop, 10, nested_run, &n) != 0);
    run_bounded(loop);
    assert_int_equal(n.rc, -EBUSY);
}

int main(void)
{
    /* Last-resort bound: a regression that spins inside one turn starves the
     * safety timers too, so SIGALRM ends the whole binary (as a failure). */
    alarm(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fd_readable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_modify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_remove_inside_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_number_reused_inside_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timers_fire_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_repeats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_cancel_inside_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_add_cancel_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_timers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_delay_timer_does_not_starve_fds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_before_sleep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_from_before_sleep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_stop_and_now, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
