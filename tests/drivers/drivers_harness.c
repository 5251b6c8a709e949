/* The driver tests' harness (see drivers_harness.h). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/drivers/drivers_harness.h"

static void on_event(void *ctx, const struct driver_event *ev)
{
    struct harness *h = ctx;
    if (h->n_events == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 256;
        h->events = realloc(h->events, h->cap * sizeof *h->events);
        assert_non_null(h->events);
    }
    h->events[h->n_events++] = *ev;
    if (h->until && h->until(h, h->until_arg))
        loop_stop(h->loop);
}

void harness_start(struct harness *h, const char *fmt, ...)
{
    memset(h, 0, sizeof *h);
    char text[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    struct diag diag;
    diag_init(&diag);
    int rc = config_load_string("test.yaml", text, strlen(text), &h->cfg, &diag);
    if (rc)
        diag_print(&diag, stderr);
    diag_free(&diag);
    assert_int_equal(rc, 0);
    h->loop = loop_new();
    assert_non_null(h->loop);
    char err[256];
    rc = drivers_start(h->cfg, h->loop, on_event, h, &h->drivers, err, sizeof err);
    if (rc)
        fprintf(stderr, "drivers_start: %s\n", err);
    assert_int_equal(rc, 0);
}

void harness_stop(struct harness *h)
{
    drivers_stop(h->drivers);
    loop_free(h->loop);
    config_free(h->cfg);
    free(h->events);
    memset(h, 0, sizeof *h);
}

static int64_t on_tick(struct loop *loop, void *data)
{
    struct harness *h = data;
    if (h->until && h->until(h, h->until_arg))
        loop_stop(loop);
    return 20;
}

static int64_t on_deadline(struct loop *loop, void *data)
{
    (void)data;
    loop_stop(loop);
    return LOOP_TIMER_STOP;
}

bool harness_run_until(struct harness *h, int timeout_ms,
                       bool (*pred)(struct harness *h, void *arg), void *arg)
{
    if (pred && pred(h, arg))
        return true;
    h->until = pred;
    h->until_arg = arg;
    uint64_t tick = loop_timer_add(h->loop, 20, on_tick, h);
    uint64_t deadline = loop_timer_add(h->loop, timeout_ms, on_deadline, h);
    loop_run(h->loop);
    loop_timer_cancel(h->loop, tick);
    loop_timer_cancel(h->loop, deadline);
    h->until = NULL;
    return pred ? pred(h, arg) : true;
}

void harness_run_for(struct harness *h, int ms)
{
    harness_run_until(h, ms, NULL, NULL);
}

static bool is_device(const struct driver_event *ev, const char *device)
{
    return ev->device && strcmp(ev->device->name, device) == 0;
}

size_t harness_count_readings(const struct harness *h, size_t from, const char *device,
                              const char *point, int quality)
{
    size_t n = 0;
    for (size_t i = from; i < h->n_events; i++) {
        const struct driver_event *ev = &h->events[i];
        if (ev->kind == DRIVER_EVENT_READING && is_device(ev, device) &&
            (!point || strcmp(ev->u.reading.point->name, point) == 0) &&
            (quality < 0 || (int)ev->u.reading.quality == quality))
            n++;
    }
    return n;
}

size_t harness_count_cycles(const struct harness *h, size_t from, const char *device)
{
    size_t n = 0;
    for (size_t i = from; i < h->n_events; i++)
        if (h->events[i].kind == DRIVER_EVENT_CYCLE_END && is_device(&h->events[i], device))
            n++;
    return n;
}

const struct reading *harness_last_reading(const struct harness *h, const char *device,
                                           const char *point)
{
    for (size_t i = h->n_events; i-- > 0;) {
        const struct driver_event *ev = &h->events[i];
        if (ev->kind == DRIVER_EVENT_READING && is_device(ev, device) &&
            strcmp(ev->u.reading.point->name, point) == 0)
            return &ev->u.reading;
    }
    return NULL;
}

long harness_find_state(const struct harness *h, size_t from, const char *device, bool online)
{
    for (size_t i = from; i < h->n_events; i++) {
        const struct driver_event *ev = &h->events[i];
        if (ev->kind == DRIVER_EVENT_DEVICE_STATE && is_device(ev, device) &&
            ev->u.state.online == online)
            return (long)i;
    }
    return -1;
}

int harness_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

struct wait {
    const char *device;
    size_t from, n;
    int quality, error;
    bool online;
};

static bool state_seen(struct harness *h, void *arg)
{
    const struct wait *w = arg;
    return harness_find_state(h, w->from, w->device, w->online) >= 0;
}

bool harness_wait_state(struct harness *h, int timeout_ms, const char *device, size_t from,
                        bool online)
{
    struct wait w = { .device = device, .from = from, .online = online };
    return harness_run_until(h, timeout_ms, state_seen, &w);
}

static bool reading_seen(struct harness *h, void *arg)
{
    const struct wait *w = arg;
    for (size_t i = w->from; i < h->n_events; i++) {
        const struct driver_event *ev = &h->events[i];
        if (ev->kind == DRIVER_EVENT_READING && is_device(ev, w->device) &&
            (w->quality < 0 || (int)ev->u.reading.quality == w->quality) &&
            (w->error < 0 || (int)ev->u.reading.error == w->error))
            return true;
    }
    return false;
}

bool harness_wait_reading(struct harness *h, int timeout_ms, const char *device, size_t from,
                          int quality, int error)
{
    struct wait w = { .device = device, .from = from, .quality = quality, .error = error };
    return harness_run_until(h, timeout_ms, reading_seen, &w);
}

static bool enough_good(struct harness *h, void *arg)
{
    const struct wait *w = arg;
    return harness_count_readings(h, 0, w->device, NULL, READING_GOOD) >= w->n;
}

bool harness_wait_good(struct harness *h, int timeout_ms, const char *device, size_t n)
{
    struct wait w = { .device = device, .n = n };
    return harness_run_until(h, timeout_ms, enough_good, &w);
}

static bool enough_cycles(struct harness *h, void *arg)
{
    const struct wait *w = arg;
    return harness_count_cycles(h, 0, w->device) >= w->n;
}

bool harness_wait_cycles(struct harness *h, int timeout_ms, const char *device, size_t n)
{
    struct wait w = { .device = device, .n = n };
    return harness_run_until(h, timeout_ms, enough_cycles, &w);
}
