/* The epoll reactor behind loop.h: fd watches in an array indexed by fd,
 * timers in a binary min-heap ordered by (deadline, id), and an id → timer
 * hash so that cancel by id is O(log n) rather than a scan of every timer. */
#include "gateway/loop.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Events taken from the kernel per wait. More ready fds than this are simply
 * reported by the next wait (level-triggered) or stay queued (edge). */
#define LOOP_BATCH 64

struct fd_watch {
    loop_fd_fn *fn;             /* NULL: no watch on this fd */
    void *data;
    uint32_t events;
    /* Which loop_fd_add made this watch. Every epoll event carries the
     * generation it was registered with, so an event still pending for a
     * removed fd, or for a new watch that reused its number within the same
     * batch, is recognised as stale and dropped. */
    uint32_t gen;
};

/* Where a timer is: in the heap, or taken out of it because it is due this
 * turn (DUE: waiting in the due list; FIRING: its callback is running). */
enum timer_state { TIMER_QUEUED, TIMER_DUE, TIMER_FIRING };

struct timer {
    uint64_t id;
    int64_t when_ms;
    loop_timer_fn *fn;
    void *data;
    size_t heap_pos;            /* valid while QUEUED */
    enum timer_state state;
    /* Cancelled while DUE or FIRING: already out of the id map, freed by the
     * turn's runner instead of by cancel, which may run inside the runner. */
    bool cancelled;
    struct timer *next_due;
};

struct loop {
    int epfd;
    bool running;
    bool stopping;
    int64_t now_ms;

    struct fd_watch *fds;       /* indexed by fd */
    size_t fds_cap;
    uint32_t fd_gen;

    /* Invariant: heap_cap >= number of live timers, so putting a fired
     * timer back into the heap can never need memory (and so never fail). */
    struct timer **heap;
    size_t heap_len, heap_cap;
    struct timer **map;         /* open addressing, linear probing, load <= 1/2 */
    size_t map_len, map_cap;    /* map_cap: 0 or a power of two */
    uint64_t last_timer_id;

    void (*before_sleep)(struct loop *loop, void *data);
    void *before_sleep_data;

    struct epoll_event batch[LOOP_BATCH];
};

/* ---- clock -------------------------------------------------------------- */

int64_t loop_clock_ms(void)
{
    struct timespec ts;
    /* CLOCK_MONOTONIC cannot fail with a valid pointer (clock_gettime(2)). */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t loop_now_ms(const struct loop *loop)
{
    return loop->now_ms;
}

static int64_t deadline_after(int64_t base_ms, int64_t delay_ms)
{
    return delay_ms > INT64_MAX - base_ms ? INT64_MAX : base_ms + delay_ms;
}

/* ---- lifetime ----------------------------------------------------------- */

struct loop *loop_new(void)
{
    struct loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        int err = errno;
        free(loop);
        errno = err;
        return NULL;
    }
    loop->now_ms = loop_clock_ms();
    return loop;
}

void loop_free(struct loop *loop)
{
    if (!loop)
        return;
    /* Between turns every live timer is in the map (none is DUE). */
    for (size_t i = 0; i < loop->map_cap; i++)
        free(loop->map[i]);
    free(loop->map);
    free(loop->heap);
    free(loop->fds);
    close(loop->epfd);
    free(loop);
}

/* ---- fd watches --------------------------------------------------------- */

static struct fd_watch *watch_find(struct loop *loop, int fd)
{
    if (fd < 0 || (size_t)fd >= loop->fds_cap || !loop->fds[fd].fn)
        return NULL;
    return &loop->fds[fd];
}

static int fds_reserve(struct loop *loop, int fd)
{
    size_t need = (size_t)fd + 1;
    if (need <= loop->fds_cap)
        return 0;
    size_t cap = loop->fds_cap ? loop->fds_cap * 2 : 64;
    if (cap < need)
        cap = need;
    struct fd_watch *fds = realloc(loop->fds, cap * sizeof *fds);
    if (!fds)
        return -ENOMEM;
    memset(fds + loop->fds_cap, 0, (cap - loop->fds_cap) * sizeof *fds);
    loop->fds = fds;
    loop->fds_cap = cap;
    return 0;
}

static uint64_t watch_tag(int fd, uint32_t gen)
{
    return (uint64_t)gen << 32 | (uint32_t)fd;
}

int loop_fd_add(struct loop *loop, int fd, uint32_t events, loop_fd_fn *fn, void *data)
{
    if (fd < 0)
        return -EBADF;
    if (!fn)
        return -EINVAL;
    if (watch_find(loop, fd))
        return -EEXIST;
    int err = fds_reserve(loop, fd);
    if (err)
        return err;
    uint32_t gen = ++loop->fd_gen;
    struct epoll_event ev = { .events = events, .data.u64 = watch_tag(fd, gen) };
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    loop->fds[fd] = (struct fd_watch){ .fn = fn, .data = data, .events = events, .gen = gen };
    return 0;
}

int loop_fd_modify(struct loop *loop, int fd, uint32_t events)
{
    struct fd_watch *w = watch_find(loop, fd);
    if (!w)
        return -ENOENT;
    struct epoll_event ev = { .events = events, .data.u64 = watch_tag(fd, w->gen) };
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
        return -errno;
    w->events = events;
    return 0;
}

int loop_fd_remove(struct loop *loop, int fd)
{
    struct fd_watch *w = watch_find(loop, fd);
    if (!w)
        return -ENOENT;
    *w = (struct fd_watch){ .fn = NULL };
    /* The event argument is ignored for DEL but must be non-NULL before
     * Linux 2.6.9; passing one costs nothing. */
    struct epoll_event ev = { .events = 0 };
    if (epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, &ev) < 0)
        return -errno;
    return 0;
}

static void fds_dispatch(struct loop *loop, int n)
{
    for (int i = 0; i < n; i++) {
        uint64_t tag = loop->batch[i].data.u64;
        int fd = (int)(uint32_t)tag;
        struct fd_watch *w = watch_find(loop, fd);
        if (!w || w->gen != (uint32_t)(tag >> 32))
            continue;   /* removed, or removed and re-added, earlier in this batch */
        uint32_t events = loop->batch[i].events & (w->events | EPOLLERR | EPOLLHUP);
        if (events)
            w->fn(loop, fd, events, w->data);
        /* w may dangle now: the callback may have grown loop->fds. */
    }
}

/* ---- timers: id map ----------------------------------------------------- */

static size_t map_home(const struct loop *loop, uint64_t id)
{
    /* Fibonacci hashing: ids are sequential, and sequential keys under a
     * plain mask form one long probe run that misses must walk to the end. */
    return (size_t)((id * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & (loop->map_cap - 1);
}

/* The slot holding `id`, or SIZE_MAX. */
static size_t map_find(const struct loop *loop, uint64_t id)
{
    if (!loop->map_cap)
        return SIZE_MAX;
    size_t mask = loop->map_cap - 1;
    for (size_t i = map_home(loop, id); loop->map[i]; i = (i + 1) & mask) {
        if (loop->map[i]->id == id)
            return i;
    }
    return SIZE_MAX;
}

/* Requires a free slot (see map_reserve). */
static void map_insert(struct loop *loop, struct timer *t)
{
    size_t mask = loop->map_cap - 1;
    size_t i = map_home(loop, t->id);
    while (loop->map[i])
        i = (i + 1) & mask;
    loop->map[i] = t;
    loop->map_len++;
}

/* Backward-shift deletion: instead of leaving a tombstone, move later
 * entries of the probe run into the hole when their home allows it, so
 * lookups never slow down as timers come and go. */
static void map_remove_at(struct loop *loop, size_t hole)
{
    size_t mask = loop->map_cap - 1;
    for (size_t j = (hole + 1) & mask; loop->map[j]; j = (j + 1) & mask) {
        size_t home = map_home(loop, loop->map[j]->id);
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            loop->map[hole] = loop->map[j];
            hole = j;
        }
    }
    loop->map[hole] = NULL;
    loop->map_len--;
}

static int map_reserve(struct loop *loop)
{
    if ((loop->map_len + 1) * 2 <= loop->map_cap)
        return 0;
    size_t old_cap = loop->map_cap;
    struct timer **old = loop->map;
    size_t cap = old_cap ? old_cap * 2 : 16;
    struct timer **map = calloc(cap, sizeof *map);
    if (!map)
        return -ENOMEM;
    loop->map = map;
    loop->map_cap = cap;
    loop->map_len = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i])
            map_insert(loop, old[i]);
    }
    free(old);
    return 0;
}

/* ---- timers: heap ------------------------------------------------------- */

static bool timer_before(const struct timer *a, const struct timer *b)
{
    return a->when_ms < b->when_ms || (a->when_ms == b->when_ms && a->id < b->id);
}

static void heap_place(struct loop *loop, size_t i, struct timer *t)
{
    loop->heap[i] = t;
    t->heap_pos = i;
}

static void heap_sift_up(struct loop *loop, size_t i)
{
    struct timer *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(t, loop->heap[parent]))
            break;
        heap_place(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_place(loop, i, t);
}

static void heap_sift_down(struct loop *loop, size_t i)
{
    struct timer *t = loop->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= loop->heap_len)
            break;
        if (child + 1 < loop->heap_len && timer_before(loop->heap[child + 1], loop->heap[child]))
            child++;
        if (!timer_before(loop->heap[child], t))
            break;
        heap_place(loop, i, loop->heap[child]);
        i = child;
    }
    heap_place(loop, i, t);
}

/* Requires heap_len < heap_cap, which the invariant on heap_cap provides. */
static void heap_push(struct loop *loop, struct timer *t)
{
    t->state = TIMER_QUEUED;
    heap_place(loop, loop->heap_len++, t);
    heap_sift_up(loop, t->heap_pos);
}

static void heap_remove(struct loop *loop, struct timer *t)
{
    struct timer *last = loop->heap[--loop->heap_len];
    if (last == t)
        return;
    heap_place(loop, t->heap_pos, last);
    heap_sift_down(loop, last->heap_pos);
    heap_sift_up(loop, last->heap_pos);
}

static int heap_reserve(struct loop *loop, size_t live)
{
    if (live <= loop->heap_cap)
        return 0;
    size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
    struct timer **heap = realloc(loop->heap, cap * sizeof *heap);
    if (!heap)
        return -ENOMEM;
    loop->heap = heap;
    loop->heap_cap = cap;
    return 0;
}

/* ---- timers: public calls and the runner -------------------------------- */

uint64_t loop_timer_add(struct loop *loop, int64_t delay_ms, loop_timer_fn *fn, void *data)
{
    if (!fn || delay_ms < 0) {
        errno = EINVAL;
        return 0;
    }
    /* Reserve both before touching either, so failure leaves no trace. */
    struct timer *t = NULL;
    if (heap_reserve(loop, loop->map_len + 1) < 0 || map_reserve(loop) < 0
        || !(t = calloc(1, sizeof *t))) {
        errno = ENOMEM;
        return 0;
    }
    t->id = ++loop->last_timer_id;
    /* Read the clock rather than use the turn's cached time: a timer added
     * before loop_run, long after loop_new, would otherwise fire early. */
    t->when_ms = deadline_after(loop_clock_ms(), delay_ms);
    t->fn = fn;
    t->data = data;
    map_insert(loop, t);
    heap_push(loop, t);
    return t->id;
}

int loop_timer_cancel(struct loop *loop, uint64_t id)
{
    size_t slot = map_find(loop, id);
    if (slot == SIZE_MAX)
        return -ENOENT;
    struct timer *t = loop->map[slot];
    map_remove_at(loop, slot);
    if (t->state == TIMER_QUEUED) {
        heap_remove(loop, t);
        free(t);
    } else {
        t->cancelled = true;
    }
    return 0;
}

static void timer_fire(struct loop *loop, struct timer *t)
{
    int64_t next = LOOP_TIMER_STOP;
    if (!t->cancelled) {
        t->state = TIMER_FIRING;
        next = t->fn(loop, t->data);
    }
    if (t->cancelled) {
        free(t);
    } else if (next < 0) {
        map_remove_at(loop, map_find(loop, t->id));
        free(t);
    } else {
        t->when_ms = deadline_after(loop->now_ms, next);
        heap_push(loop, t);
    }
}

/* Take every due timer out of the heap first, then fire them. Firing straight
 * from the heap would let a timer that re-arms with delay 0 run forever
 * within one turn and starve the fds. */
static void timers_run_due(struct loop *loop)
{
    struct timer *due = NULL, **tail = &due;
    while (loop->heap_len && loop->heap[0]->when_ms <= loop->now_ms) {
        struct timer *t = loop->heap[0];
        heap_remove(loop, t);
        t->state = TIMER_DUE;
        t->next_due = NULL;
        *tail = t;
        tail = &t->next_due;
    }
    while (due) {
        struct timer *t = due;
        due = t->next_due;
        timer_fire(loop, t);
    }
}

/* epoll_wait's timeout: until the earliest timer, or forever without one. */
static int timers_timeout(const struct loop *loop)
{
    if (!loop->heap_len)
        return -1;
    int64_t wait = loop->heap[0]->when_ms - loop_clock_ms();
    if (wait <= 0)
        return 0;
    return wait > INT_MAX ? INT_MAX : (int)wait;
}

/* ---- running ------------------------------------------------------------ */

void loop_set_before_sleep(struct loop *loop, void (*fn)(struct loop *loop, void *data),
                           void *data)
{
    loop->before_sleep = fn;
    loop->before_sleep_data = data;
}

void loop_stop(struct loop *loop)
{
    loop->stopping = true;
}

int loop_run(struct loop *loop)
{
    if (loop->running)
        return -EBUSY;
    loop->running = true;
    loop->stopping = false;
    int err = 0;
    while (!loop->stopping) {
        if (loop->before_sleep)
            loop->before_sleep(loop, loop->before_sleep_data);
        if (loop->stopping)
            break;
        int n = epoll_wait(loop->epfd, loop->batch, LOOP_BATCH, timers_timeout(loop));
        if (n < 0 && errno != EINTR) {
            err = -errno;
            break;
        }
        loop->now_ms = loop_clock_ms();
        fds_dispatch(loop, n < 0 ? 0 : n);
        timers_run_due(loop);
    }
    loop->running = false;
    return err;
}
