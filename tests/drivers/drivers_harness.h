/* What the driver tests share: a configuration from text, the drivers
 * running on a loop of the test's own, and every event they report kept in
 * order, with bounded waits for a condition on them. */
#ifndef MQGATE_TESTS_DRIVERS_HARNESS_H
#define MQGATE_TESTS_DRIVERS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "drivers/drivers.h"
#include "gateway/loop.h"

struct harness {
    struct config *cfg;
    struct loop *loop;
    struct drivers *drivers;
    struct driver_event *events;
    size_t n_events, cap;
    bool (*until)(struct harness *h, void *arg);
    void *until_arg;
};

/* Load `yaml` (printf format) and start the drivers on it. Fails the test
 * on any error. */
void harness_start(struct harness *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void harness_stop(struct harness *h);

/* Run the loop until pred(h, arg) holds (checked after each event and
 * every 20 ms) or timeout_ms pass. Returns whether it held. */
bool harness_run_until(struct harness *h, int timeout_ms,
                       bool (*pred)(struct harness *h, void *arg), void *arg);
/* Run the loop for ms, whatever happens. */
void harness_run_for(struct harness *h, int ms);

/* Bounded waits (timeout_ms) for what `device` does at or after event
 * index `from`; each returns whether it happened in time. */
bool harness_wait_state(struct harness *h, int timeout_ms, const char *device, size_t from,
                        bool online);
/* A reading of `quality` (-1: any) whose error is `error` (-1: any). */
bool harness_wait_reading(struct harness *h, int timeout_ms, const char *device, size_t from,
                          int quality, int error);
/* At least n good readings (from the start), or n poll cycles. */
bool harness_wait_good(struct harness *h, int timeout_ms, const char *device, size_t n);
bool harness_wait_cycles(struct harness *h, int timeout_ms, const char *device, size_t n);

/* Counting what was seen (from event index `from`). */
size_t harness_count_readings(const struct harness *h, size_t from, const char *device,
                              const char *point, int quality);
size_t harness_count_cycles(const struct harness *h, size_t from, const char *device);
/* The last reading of device/point (NULL if none). */
const struct reading *harness_last_reading(const struct harness *h, const char *device,
                                           const char *point);
/* Index of the first DEVICE_STATE event for device with that online value
 * at or after `from`, or -1. */
long harness_find_state(const struct harness *h, size_t from, const char *device, bool online);

/* Open file descriptors of this process. */
int harness_count_fds(void);

#endif
