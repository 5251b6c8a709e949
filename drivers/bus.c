/* A bus worker: the one thread that owns a port. It opens the port (and
 * reopens it with backoff when it vanishes), polls each device when due,
 * runs queued writes first, counts a device's failures into offline and
 * online, and queues everything it learns for the loop thread. The protocol
 * itself is behind a driver_ops table (driver.h). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "drivers/backoff.h"
#include "drivers/bus.h"
#include "gateway/log.h"
#include "gateway/loop.h"

enum presence { DEVICE_UNKNOWN, DEVICE_ONLINE, DEVICE_OFFLINE };

struct bus_device {
    struct bus *owner;
    const struct cfg_device *cfg;
    uint32_t index;                 /* in config->devices */
    int64_t next_due_ms;
    int64_t interval_ms;
    int failures;                   /* failed polls in a row */
    enum presence state;
    struct backoff retry;           /* poll spacing while offline */
    void *proto;
    struct bus_device_stats stats;  /* under bus->lock */
    enum reading_error last_error;
    char last_detail[READING_DETAIL_MAX];
};

struct pending_write {
    struct pending_write *next;
    uint32_t device_index, point_index;
    struct value value;
    uint64_t id;
};

struct bus {
    const struct config *cfg;
    const struct cfg_bus *bcfg;
    const struct driver_ops *ops;
    void *proto;
    struct event_queue *queue;
    struct bus_device *devices;
    size_t n_devices;
    int wake_fd;
    atomic_bool stop;
    atomic_bool finished;           /* the thread has left bus_main */
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;           /* writes and stats */
    struct pending_write *writes, **writes_tail;
    bool connected;
    struct backoff reconnect;
    int64_t reconnect_due_ms;
    unsigned open_failures;
    char open_error[176];
};

static int64_t us_to_ms(int64_t us)
{
    return us / 1000 > 0 ? us / 1000 : 1;
}

/* ---- driver-facing calls ------------------------------------------------- */

const struct cfg_bus *bus_config(const struct bus *bus) { return bus->bcfg; }
void *bus_proto(const struct bus *bus) { return bus->proto; }
void bus_set_proto(struct bus *bus, void *proto) { bus->proto = proto; }
size_t bus_device_count(const struct bus *bus) { return bus->n_devices; }
struct bus_device *bus_device_at(struct bus *bus, size_t i) { return &bus->devices[i]; }
const struct cfg_device *bus_device_config(const struct bus_device *dev) { return dev->cfg; }
void *bus_device_proto(const struct bus_device *dev) { return dev->proto; }
bool bus_device_is_offline(const struct bus_device *dev) { return dev->state == DEVICE_OFFLINE; }
void bus_device_set_proto(struct bus_device *dev, void *proto) { dev->proto = proto; }
bool bus_stopping(const struct bus *bus) { return atomic_load(&bus->stop); }
int bus_wake_fd(const struct bus *bus) { return bus->wake_fd; }

static void clear_wake(struct bus *bus)
{
    uint64_t v;
    ssize_t n = read(bus->wake_fd, &v, sizeof v);
    (void)n;   /* EAGAIN: nothing to clear */
}

static void wake(struct bus *bus)
{
    uint64_t one = 1;
    ssize_t n = write(bus->wake_fd, &one, sizeof one);
    (void)n;   /* fails only on counter overflow, when it is readable anyway */
}

bool bus_sleep_ms(struct bus *bus, int64_t ms)
{
    int64_t deadline = loop_clock_ms() + ms;
    while (!bus_stopping(bus)) {
        int64_t left = deadline - loop_clock_ms();
        if (left <= 0)
            return true;
        struct pollfd pfd = { .fd = bus->wake_fd, .events = POLLIN };
        if (poll(&pfd, 1, (int)(left > 60000 ? 60000 : left)) > 0)
            clear_wake(bus);   /* a write request: the main loop finds it in the list */
    }
    return false;
}

void bus_device_count_transaction(struct bus_device *dev)
{
    pthread_mutex_lock(&dev->owner->lock);
    dev->stats.transactions++;
    pthread_mutex_unlock(&dev->owner->lock);
}

void bus_device_count_error(struct bus_device *dev, enum reading_error err)
{
    pthread_mutex_lock(&dev->owner->lock);
    switch (err) {
    case READING_ERR_TIMEOUT: dev->stats.timeouts++; break;
    case READING_ERR_CRC: dev->stats.crc_errors++; break;
    case READING_ERR_EXCEPTION: dev->stats.exceptions++; break;
    case READING_ERR_BAD_REPLY: dev->stats.bad_replies++; break;
    case READING_ERR_PARSE: dev->stats.parse_errors++; break;
    default: break;
    }
    pthread_mutex_unlock(&dev->owner->lock);
}

static void push(struct bus *bus, const struct driver_event *ev)
{
    event_queue_push(bus->queue, ev);
}

void bus_emit_reading(struct bus *bus, struct bus_device *dev, struct reading *r)
{
    struct driver_event ev = { .kind = DRIVER_EVENT_READING, .device = dev->cfg,
                               .device_index = dev->index };
    r->device = dev->cfg;
    r->device_index = dev->index;
    r->point = &dev->cfg->points[r->point_index];
    if (r->mono_ns == 0)
        reading_stamp(&r->wall, &r->mono_ns);
    pthread_mutex_lock(&bus->lock);
    if (r->quality == READING_GOOD) {
        dev->stats.readings_good++;
    } else {
        dev->stats.readings_bad++;
        dev->last_error = r->error;
        snprintf(dev->last_detail, sizeof dev->last_detail, "%s", r->detail);
    }
    pthread_mutex_unlock(&bus->lock);
    ev.u.reading = *r;
    push(bus, &ev);
}

void bus_emit_bad(struct bus *bus, struct bus_device *dev, uint32_t point_index,
                  enum reading_error err, int exception_code, const char *detail)
{
    struct reading r = { .point_index = point_index, .quality = READING_BAD, .error = err,
                         .exception_code = exception_code };
    snprintf(r.detail, sizeof r.detail, "%s", detail ? detail : reading_error_name(err));
    bus_emit_reading(bus, dev, &r);
}

void bus_emit_value(struct bus *bus, struct bus_device *dev, uint32_t point_index,
                    const struct value *v)
{
    struct reading r = { .point_index = point_index, .quality = READING_GOOD };
    r.value = *v;
    bus_emit_reading(bus, dev, &r);
}

void bus_emit_cycle_end(struct bus *bus, struct bus_device *dev)
{
    struct driver_event end = { .kind = DRIVER_EVENT_CYCLE_END, .device = dev->cfg,
                                .device_index = dev->index };
    push(bus, &end);
}

void bus_line_settings(const struct cfg_bus *b, char *buf, size_t n)
{
    char parity = b->parity == CFG_PARITY_EVEN ? 'E' : b->parity == CFG_PARITY_ODD ? 'O' : 'N';
    snprintf(buf, n, "%lld %lld%c%lld", (long long)b->baud, (long long)b->data_bits, parity,
             (long long)b->stop_bits);
}

/* ---- lifetime ------------------------------------------------------------ */

static const struct driver_ops *ops_for(int type)
{
    switch (type) {
    case CFG_BUS_MODBUS_RTU: return &driver_modbus_rtu;
    case CFG_BUS_MODBUS_TCP: return &driver_modbus_tcp;
    default: return &driver_uart;
    }
}

static int add_devices(struct bus *bus)
{
    const struct config *cfg = bus->cfg;
    bus->devices = calloc(cfg->n_devices ? cfg->n_devices : 1, sizeof *bus->devices);
    if (!bus->devices)
        return -ENOMEM;
    for (size_t i = 0; i < cfg->n_devices; i++) {
        const struct cfg_device *d = &cfg->devices[i];
        if (!d->enabled || !d->bus || strcmp(d->bus, bus->bcfg->name) != 0)
            continue;
        struct bus_device *dev = &bus->devices[bus->n_devices++];
        dev->owner = bus;
        dev->cfg = d;
        dev->index = (uint32_t)i;
        /* The fastest of the device's own pace and its points' (Modbus
         * points may have their own; the driver reads each when due). */
        int64_t fastest = d->poll_interval;
        for (size_t p = 0; p < d->n_points; p++)
            if (d->points[p].poll_interval > 0 && d->points[p].poll_interval < fastest)
                fastest = d->points[p].poll_interval;
        dev->interval_ms = us_to_ms(fastest);
        int64_t retry_max = us_to_ms(bus->bcfg->reconnect_max);
        backoff_init(&dev->retry, dev->interval_ms,
                     retry_max > dev->interval_ms ? retry_max : dev->interval_ms,
                     (uint64_t)i * 0x9E3779B97F4A7C15ull + 1);
    }
    return 0;
}

int bus_new(const struct config *cfg, size_t bus_index, struct event_queue *queue,
            struct bus **out, char *err, size_t errlen)
{
    struct bus *bus = calloc(1, sizeof *bus);
    if (!bus) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    bus->cfg = cfg;
    bus->bcfg = &cfg->buses[bus_index];
    bus->ops = ops_for(bus->bcfg->type);
    bus->queue = queue;
    bus->writes_tail = &bus->writes;
    bus->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&bus->lock, NULL);
    backoff_init(&bus->reconnect, us_to_ms(bus->bcfg->reconnect_min),
                 us_to_ms(bus->bcfg->reconnect_max), (uint64_t)bus_index + 7);
    int rc = bus->wake_fd < 0 ? -errno : add_devices(bus);
    if (rc < 0) {
        snprintf(err, errlen, "bus '%s': %s", bus->bcfg->name, strerror(-rc));
        bus_free(bus);
        return rc;
    }
    rc = bus->ops->create(bus, err, errlen);
    if (rc < 0) {
        bus->ops = NULL;   /* nothing to destroy */
        bus_free(bus);
        return rc;
    }
    *out = bus;
    return 0;
}

void bus_request_stop(struct bus *bus)
{
    atomic_store(&bus->stop, true);
    wake(bus);
}

void bus_free(struct bus *bus)
{
    if (!bus)
        return;
    if (bus->started) {
        bus_request_stop(bus);
        pthread_join(bus->thread, NULL);
    }
    if (bus->ops)
        bus->ops->destroy(bus);
    for (struct pending_write *w = bus->writes, *next; w; w = next) {
        next = w->next;
        free(w);
    }
    if (bus->wake_fd >= 0)
        close(bus->wake_fd);
    pthread_mutex_destroy(&bus->lock);
    free(bus->devices);
    free(bus);
}

bool bus_has_device(const struct bus *bus, uint32_t device_index)
{
    for (size_t i = 0; i < bus->n_devices; i++)
        if (bus->devices[i].index == device_index)
            return true;
    return false;
}

void bus_device_stats(struct bus *bus, uint32_t device_index, struct bus_device_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&bus->lock);
    for (size_t i = 0; i < bus->n_devices; i++)
        if (bus->devices[i].index == device_index)
            *out = bus->devices[i].stats;
    pthread_mutex_unlock(&bus->lock);
}

void bus_describe(const struct bus *bus, char *buf, size_t n)
{
    bus->ops->describe(bus, buf, n);
}

int bus_post_write(struct bus *bus, uint32_t device_index, uint32_t point_index,
                   const struct value *v, uint64_t id)
{
    struct pending_write *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->device_index = device_index;
    w->point_index = point_index;
    w->value = *v;
    w->id = id;
    pthread_mutex_lock(&bus->lock);
    *bus->writes_tail = w;
    bus->writes_tail = &w->next;
    pthread_mutex_unlock(&bus->lock);
    wake(bus);
    return 0;
}

/* ---- the worker ---------------------------------------------------------- */

static void link_lost(struct bus *bus, const char *why)
{
    bus->ops->close(bus);
    bus->connected = false;
    int64_t wait = backoff_next(&bus->reconnect);
    bus->reconnect_due_ms = loop_clock_ms() + wait;
    snprintf(bus->open_error, sizeof bus->open_error, "%s", why);
    log_msg(LOG_LEVEL_WARN, "drivers", "bus '%s': %s; reopening in %lld ms", bus->bcfg->name,
            why, (long long)wait);
}

static void try_open(struct bus *bus)
{
    char err[176] = "";
    int rc = bus->ops->open(bus, err, sizeof err);
    if (rc == 0) {
        char desc[160];
        bus->ops->describe(bus, desc, sizeof desc);
        if (bus->open_failures)
            log_msg(LOG_LEVEL_INFO, "drivers", "bus '%s': open again after %u failed attempts: %s",
                    bus->bcfg->name, bus->open_failures, desc);
        else
            log_msg(LOG_LEVEL_INFO, "drivers", "bus '%s': open: %s", bus->bcfg->name, desc);
        bus->connected = true;
        bus->open_failures = 0;
        backoff_reset(&bus->reconnect);
        return;
    }
    int64_t wait = backoff_next(&bus->reconnect);
    bus->reconnect_due_ms = loop_clock_ms() + wait;
    /* The first failure, and each change of reason, at warn; repeats at debug. */
    enum log_level level = bus->open_failures == 0 || strcmp(err, bus->open_error) != 0 ?
                           LOG_LEVEL_WARN : LOG_LEVEL_DEBUG;
    bus->open_failures++;
    snprintf(bus->open_error, sizeof bus->open_error, "%s", err);
    log_msg(level, "drivers", "bus '%s': cannot open: %s; retrying in %lld ms", bus->bcfg->name,
            err, (long long)wait);
}

static void emit_state(struct bus *bus, struct bus_device *dev, bool online)
{
    struct driver_event ev = { .kind = DRIVER_EVENT_DEVICE_STATE, .device = dev->cfg,
                               .device_index = dev->index };
    ev.u.state.online = online;
    ev.u.state.error = online ? READING_ERR_NONE : dev->last_error;
    snprintf(ev.u.state.detail, sizeof ev.u.state.detail, "%s", online ? "" : dev->last_detail);
    push(bus, &ev);
}

static void update_state(struct bus *bus, struct bus_device *dev, bool answered)
{
    if (answered) {
        dev->failures = 0;
        backoff_reset(&dev->retry);
        if (dev->state != DEVICE_ONLINE) {
            log_msg(LOG_LEVEL_INFO, "drivers", "device '%s': online", dev->cfg->name);
            dev->state = DEVICE_ONLINE;
            emit_state(bus, dev, true);
        }
        return;
    }
    dev->failures++;
    if (dev->state != DEVICE_OFFLINE && dev->failures >= dev->cfg->offline_after) {
        log_msg(LOG_LEVEL_WARN, "drivers", "device '%s': offline after %d failed polls: %s",
                dev->cfg->name, dev->failures, dev->last_detail);
        dev->state = DEVICE_OFFLINE;
        emit_state(bus, dev, false);
    }
}

/* The device counts as polled whether it answered or not; while offline it
 * is asked again at growing intervals, so it never starves the others. */
static void schedule_next(struct bus_device *dev, int64_t now)
{
    if (dev->state == DEVICE_OFFLINE) {
        dev->next_due_ms = now + backoff_next(&dev->retry);
        return;
    }
    dev->next_due_ms += dev->interval_ms;
    if (dev->next_due_ms < now)
        dev->next_due_ms = now;   /* behind: poll again at once, without a burst */
}

static void emit_all_bad(struct bus *bus, struct bus_device *dev, enum reading_error err,
                         const char *detail)
{
    for (uint32_t i = 0; i < dev->cfg->n_points; i++)
        bus_emit_bad(bus, dev, i, err, 0, detail);
}

static void run_poll(struct bus *bus, struct bus_device *dev)
{
    enum driver_poll_result res;
    pthread_mutex_lock(&bus->lock);
    dev->stats.polls++;
    uint64_t before = dev->stats.readings_good + dev->stats.readings_bad;
    pthread_mutex_unlock(&bus->lock);
    if (!bus->connected) {
        char detail[READING_DETAIL_MAX];
        snprintf(detail, sizeof detail, "port not open: %.170s", bus->open_error);
        emit_all_bad(bus, dev, READING_ERR_DISCONNECTED, detail);
        res = DRIVER_POLL_NO_ANSWER;
    } else {
        res = bus->ops->poll(bus, dev);
    }
    pthread_mutex_lock(&bus->lock);
    bool emitted = dev->stats.readings_good + dev->stats.readings_bad != before;
    pthread_mutex_unlock(&bus->lock);
    if (res == DRIVER_POLL_LINK_DOWN)
        link_lost(bus, dev->last_detail[0] ? dev->last_detail : "port failed");
    /* A change of state belongs to the cycle that caused it: before its end. */
    update_state(bus, dev, res == DRIVER_POLL_OK);
    if (emitted)
        bus_emit_cycle_end(bus, dev);
    schedule_next(dev, loop_clock_ms());
}

void bus_device_answered(struct bus *bus, struct bus_device *dev)
{
    update_state(bus, dev, true);
}

static struct bus_device *find_device(struct bus *bus, uint32_t index)
{
    for (size_t i = 0; i < bus->n_devices; i++)
        if (bus->devices[i].index == index)
            return &bus->devices[i];
    return NULL;
}

static void run_write(struct bus *bus, struct pending_write *w)
{
    struct bus_device *dev = find_device(bus, w->device_index);
    struct driver_event ev = { .kind = DRIVER_EVENT_WRITE_DONE,
                               .device = dev ? dev->cfg : NULL, .device_index = w->device_index };
    struct write_result *res = &ev.u.write;
    res->id = w->id;
    if (!dev || w->point_index >= dev->cfg->n_points) {
        res->error = READING_ERR_IO;
        snprintf(res->detail, sizeof res->detail, "no such point");
    } else if (!bus->ops->write) {
        res->error = READING_ERR_IO;
        snprintf(res->detail, sizeof res->detail, "%s points cannot be written", bus->ops->name);
    } else if (!bus->connected) {
        res->error = READING_ERR_DISCONNECTED;
        snprintf(res->detail, sizeof res->detail, "port not open: %.170s", bus->open_error);
    } else if (bus->ops->write(bus, dev, &dev->cfg->points[w->point_index], &w->value, res) ==
               DRIVER_POLL_LINK_DOWN) {
        link_lost(bus, res->detail);
    }
    push(bus, &ev);
}

static void run_writes(struct bus *bus)
{
    pthread_mutex_lock(&bus->lock);
    struct pending_write *list = bus->writes;
    bus->writes = NULL;
    bus->writes_tail = &bus->writes;
    pthread_mutex_unlock(&bus->lock);
    for (struct pending_write *w = list, *next; w; w = next) {
        next = w->next;
        if (!bus_stopping(bus))
            run_write(bus, w);
        free(w);
    }
}

static struct bus_device *earliest_due(struct bus *bus)
{
    struct bus_device *best = NULL;
    for (size_t i = 0; i < bus->n_devices; i++)
        if (!best || bus->devices[i].next_due_ms < best->next_due_ms)
            best = &bus->devices[i];
    return best;
}

/* Sleep until `until`, the wake fd, or (stream protocols) data on the port. */
static void wait_for_work(struct bus *bus, int64_t until)
{
    struct pollfd pfd[2] = { { .fd = bus->wake_fd, .events = POLLIN } };
    nfds_t n = 1;
    if (bus->connected && bus->ops->readable_fd) {
        pfd[1].fd = bus->ops->readable_fd(bus);
        pfd[1].events = POLLIN;
        n = pfd[1].fd >= 0 ? 2 : 1;
    }
    int64_t left = until - loop_clock_ms();
    if (left < 0)
        left = 0;
    if (poll(pfd, n, (int)(left > 60000 ? 60000 : left)) <= 0)
        return;
    if (pfd[0].revents)
        clear_wake(bus);
    if (n == 2 && pfd[1].revents) {
        if (bus->ops->on_readable(bus) == DRIVER_POLL_LINK_DOWN) {
            struct bus_device *dev = bus->n_devices ? &bus->devices[0] : NULL;
            link_lost(bus, dev && dev->last_detail[0] ? dev->last_detail : "port hung up");
        }
    }
}

static void *bus_main(void *arg)
{
    struct bus *bus = arg;
    int64_t now = loop_clock_ms();
    bool stream = bus->ops->readable_fd != NULL;
    for (size_t i = 0; i < bus->n_devices; i++)
        bus->devices[i].next_due_ms = stream ? now + bus->devices[i].interval_ms : now;
    bus->reconnect_due_ms = now;
    while (!bus_stopping(bus)) {
        now = loop_clock_ms();
        if (!bus->connected && now >= bus->reconnect_due_ms)
            try_open(bus);
        run_writes(bus);
        struct bus_device *dev = earliest_due(bus);
        if (dev && dev->next_due_ms <= loop_clock_ms()) {
            run_poll(bus, dev);
            continue;
        }
        int64_t until = dev ? dev->next_due_ms : loop_clock_ms() + 1000;
        if (!bus->connected && bus->reconnect_due_ms < until)
            until = bus->reconnect_due_ms;
        wait_for_work(bus, until);
    }
    if (bus->connected)
        bus->ops->close(bus);
    bus->connected = false;
    atomic_store(&bus->finished, true);
    return NULL;
}

bool bus_finished(const struct bus *bus)
{
    return !bus->started || atomic_load(&bus->finished);
}

int bus_start(struct bus *bus)
{
    int rc = pthread_create(&bus->thread, NULL, bus_main, bus);
    if (rc != 0)
        return -rc;
    bus->started = true;
    return 0;
}
