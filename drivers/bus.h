/* Bus workers as the driver set sees them: make one per configured bus,
 * start its thread, hand it writes, read its statistics, stop it. What a
 * protocol implements is in driver.h; this is the other side. */
#ifndef MQGATE_DRIVERS_BUS_H
#define MQGATE_DRIVERS_BUS_H

#include "drivers/driver.h"
#include "drivers/event_queue.h"

/* A worker for `cfg->buses[bus_index]` and its enabled devices, reporting to
 * `queue`. Both must outlive it. No I/O happens before bus_start. Returns 0
 * or -errno with a message in err. */
int bus_new(const struct config *cfg, size_t bus_index, struct event_queue *queue,
            struct bus **out, char *err, size_t errlen);

/* Start the thread. 0 or -errno. */
int bus_start(struct bus *bus);

/* Ask the thread to stop (returns at once; a transaction in progress ends
 * first, bounded by the bus's timeouts). */
void bus_request_stop(struct bus *bus);

/* Whether the thread has ended (or never started): joining will not wait. */
bool bus_finished(const struct bus *bus);

/* Join the thread (after bus_request_stop) and free everything. NULL ok. */
void bus_free(struct bus *bus);

/* Queue a write of `v` to a point of one of this bus's devices; its outcome
 * comes back as a DRIVER_EVENT_WRITE_DONE with `id`. Any thread.
 * 0, or -ENOMEM. */
int bus_post_write(struct bus *bus, uint32_t device_index, uint32_t point_index,
                   const struct value *v, uint64_t id);

/* Whether the bus serves config->devices[device_index]. */
bool bus_has_device(const struct bus *bus, uint32_t device_index);

/* A copy of a device's counters (zeros for a device the bus does not serve). */
void bus_device_stats(struct bus *bus, uint32_t device_index, struct bus_device_stats *out);

/* describe() of the bus's driver. */
void bus_describe(const struct bus *bus, char *buf, size_t n);

#endif
