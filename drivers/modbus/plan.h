/* Which Modbus requests read a device's points: points of one register kind
 * that are adjacent, or apart by at most `max_gap`, share one request, up to
 * 125 registers or 2000 bits and the device's own maximum. Pure: no I/O. */
#ifndef MQGATE_DRIVERS_MODBUS_PLAN_H
#define MQGATE_DRIVERS_MODBUS_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* One request: `count` registers (or bits) of `kind` from `start`, carrying
 * the points order[first .. first + n). */
struct modbus_read {
    int kind;              /* enum cfg_register_kind */
    uint16_t start;
    uint16_t count;
    uint32_t first, n;
};

struct modbus_plan {
    struct modbus_read *reads;
    size_t n_reads;
    uint32_t *order;       /* point indexes, sorted by kind then address */
    size_t n_points;
};

/* Registers (holding, input) or bits (coil, discrete) a point occupies. */
uint16_t modbus_point_span(const struct cfg_point *pt);

/* Plan the reads of the points of `dev` whose poll_interval is
 * `interval_us` (all points when it is negative), coalesced unless
 * dev->coalesce is false, when each point is its own read. Returns 0, or
 * -ENOMEM with *plan empty. */
int modbus_plan_build(const struct cfg_device *dev, int64_t interval_us, struct modbus_plan *plan);

/* Replace read `i` by one read per point (after the device refused the
 * combined read, e.g. with "illegal data address"). Reads after it move
 * up. Returns the number of reads that replaced it, or -ENOMEM (the plan
 * unchanged). */
int modbus_plan_split(struct modbus_plan *plan, size_t i, const struct cfg_device *dev);

void modbus_plan_free(struct modbus_plan *plan);

#endif
