/* The set of bus workers and its one hand-off to the loop thread: an event
 * queue whose eventfd the loop watches (see drivers.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/bus.h"
#include "drivers/drivers.h"
#include "drivers/event_queue.h"
#include "gateway/log.h"
#include "gateway/loop.h"

/* A full queue makes the bus threads wait, it never drops; the loop drains
 * it every turn, so a few hundred events (half a kilobyte each) suffice. */
#define DRIVERS_QUEUE_CAPACITY 256
/* Events handed to the callback per loop turn, so one busy bus cannot hold
 * the loop (the eventfd stays readable while more are waiting). */
#define DRIVERS_BATCH 64

struct drivers {
    const struct config *cfg;
    struct loop *loop;
    drivers_event_fn *fn;
    void *ctx;
    struct event_queue *queue;
    struct bus **buses;
    size_t n_buses;
    uint64_t next_write_id;
    struct driver_event batch[DRIVERS_BATCH];
};

static size_t deliver(struct drivers *d);

static void on_events(struct loop *loop, int fd, uint32_t events, void *data)
{
    (void)loop, (void)fd, (void)events;
    deliver(data);
}

static bool bus_has_enabled_device(const struct config *cfg, const struct cfg_bus *b)
{
    for (size_t i = 0; i < cfg->n_devices; i++)
        if (cfg->devices[i].enabled && cfg->devices[i].bus &&
            strcmp(cfg->devices[i].bus, b->name) == 0)
            return true;
    return false;
}

static int make_buses(struct drivers *d, char *err, size_t errlen)
{
    d->buses = calloc(d->cfg->n_buses ? d->cfg->n_buses : 1, sizeof *d->buses);
    if (!d->buses) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < d->cfg->n_buses; i++) {
        if (!bus_has_enabled_device(d->cfg, &d->cfg->buses[i]))
            continue;
        int rc = bus_new(d->cfg, i, d->queue, &d->buses[d->n_buses], err, errlen);
        if (rc < 0)
            return rc;
        d->n_buses++;
    }
    return 0;
}

int drivers_start(const struct config *cfg, struct loop *loop, drivers_event_fn *fn, void *ctx,
                  struct drivers **out, char *err, size_t errlen)
{
    struct drivers *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    d->cfg = cfg;
    d->loop = loop;
    d->fn = fn;
    d->ctx = ctx;
    int rc = 0;
    d->queue = event_queue_new(DRIVERS_QUEUE_CAPACITY);
    if (!d->queue) {
        rc = -errno;
        snprintf(err, errlen, "event queue: %s", strerror(errno));
        goto fail;
    }
    if ((rc = make_buses(d, err, errlen)) < 0)
        goto fail;
    rc = loop_fd_add(loop, event_queue_fd(d->queue), EPOLLIN, on_events, d);
    if (rc < 0) {
        snprintf(err, errlen, "event queue: %s", strerror(-rc));
        goto fail;
    }
    for (size_t i = 0; i < d->n_buses; i++) {
        if ((rc = bus_start(d->buses[i])) < 0) {
            snprintf(err, errlen, "bus '%s': cannot start its thread: %s",
                     bus_config(d->buses[i])->name, strerror(-rc));
            goto fail;
        }
    }
    *out = d;
    return 0;
fail:
    drivers_stop(d);
    return rc;
}

static size_t deliver(struct drivers *d)
{
    size_t n = event_queue_pop(d->queue, d->batch, DRIVERS_BATCH);
    for (size_t i = 0; i < n; i++)
        d->fn(d->ctx, &d->batch[i]);
    return n;
}

static bool all_finished(const struct drivers *d)
{
    for (size_t i = 0; i < d->n_buses; i++)
        if (!bus_finished(d->buses[i]))
            return false;
    return true;
}

void drivers_stop(struct drivers *d)
{
    if (!d)
        return;
    /* Ask all first, so the workers wind down in parallel. */
    for (size_t i = 0; i < d->n_buses; i++)
        bus_request_stop(d->buses[i]);
    /* Readings a driver produces until it ends still reach the callback: a
     * reload or a stop loses none of them. Keep emptying the queue while the
     * workers finish their transactions, so none waits on a full queue. */
    if (d->queue) {
        while (deliver(d) > 0 || !all_finished(d)) {
            struct pollfd pfd = { .fd = event_queue_fd(d->queue), .events = POLLIN };
            poll(&pfd, 1, 10);
        }
    }
    for (size_t i = 0; i < d->n_buses; i++)
        bus_free(d->buses[i]);
    if (d->queue) {
        while (deliver(d) > 0)
            ;
        loop_fd_remove(d->loop, event_queue_fd(d->queue));
        event_queue_free(d->queue);
    }
    free(d->buses);
    free(d);
}

static int find_point(const struct config *cfg, const char *device, const char *point,
                      uint32_t *di, uint32_t *pi)
{
    for (size_t i = 0; i < cfg->n_devices; i++) {
        const struct cfg_device *dev = &cfg->devices[i];
        if (!dev->name || strcmp(dev->name, device) != 0)
            continue;
        for (size_t j = 0; j < dev->n_points; j++) {
            if (dev->points[j].name && strcmp(dev->points[j].name, point) == 0) {
                *di = (uint32_t)i;
                *pi = (uint32_t)j;
                return dev->points[j].writable ? 0 : -EPERM;
            }
        }
    }
    return -ENOENT;
}

int drivers_write(struct drivers *d, const char *device, const char *point,
                  const struct value *v, uint64_t *id)
{
    uint32_t di, pi;
    int rc = find_point(d->cfg, device, point, &di, &pi);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < d->n_buses; i++) {
        if (!bus_has_device(d->buses[i], di))
            continue;
        *id = ++d->next_write_id;
        return bus_post_write(d->buses[i], di, pi, v, *id);
    }
    return -EINVAL;
}

void drivers_device_stats(struct drivers *d, uint32_t device_index, struct bus_device_stats *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < d->n_buses; i++)
        if (bus_has_device(d->buses[i], device_index))
            bus_device_stats(d->buses[i], device_index, out);
}

size_t drivers_bus_count(const struct drivers *d)
{
    return d->n_buses;
}
