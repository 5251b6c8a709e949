/* The southbound side of the gateway as the loop thread sees it: start one
 * worker thread per configured bus, receive every reading and device event
 * on the loop thread, send writes, stop. Everything protocol-specific is
 * behind driver.h.
 *
 * Threads: every call here is for the loop's thread. The callback runs on
 * it too, from the loop, never from a bus thread. */
#ifndef MQGATE_DRIVERS_DRIVERS_H
#define MQGATE_DRIVERS_DRIVERS_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "drivers/driver.h"
#include "drivers/reading.h"

struct drivers;
struct loop;

/* Called on the loop thread for each event, in the order its bus made them
 * (events of different buses interleave). `ev` is valid during the call. */
typedef void drivers_event_fn(void *ctx, const struct driver_event *ev);

/* Start a worker for each bus that has enabled devices. `cfg` must outlive
 * the set (readings point into it). Returns 0 and the set in *out, or
 * -errno with a message in err and nothing started. A port that cannot be
 * opened is not an error here: its worker keeps retrying and reports the
 * devices as disconnected. */
int drivers_start(const struct config *cfg, struct loop *loop, drivers_event_fn *fn, void *ctx,
                  struct drivers **out, char *err, size_t errlen);

/* Stop every worker and wait for them (each ends its current transaction
 * first, so this takes at most a response timeout or two), hand the events
 * still queued to the callback (from this call, on this thread), then free
 * the set. NULL ok. */
void drivers_stop(struct drivers *d);

/* Write a raw value (the point's own type, before scaling) to a writable
 * point. Queued to the bus; the outcome arrives as DRIVER_EVENT_WRITE_DONE
 * with the id stored in *id. Returns 0, -ENOENT (no such device or point),
 * -EPERM (not writable), -EINVAL (its bus is not running) or -ENOMEM. */
int drivers_write(struct drivers *d, const char *device, const char *point,
                  const struct value *v, uint64_t *id);

/* Counters of one device (config->devices[device_index]). */
void drivers_device_stats(struct drivers *d, uint32_t device_index, struct bus_device_stats *out);

/* Number of bus workers running. */
size_t drivers_bus_count(const struct drivers *d);

#endif
