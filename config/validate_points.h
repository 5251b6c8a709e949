/* Validate pass for the points of one device, and for register overlaps
 * across every device on a bus. Internal to config/. */
#ifndef MQGATE_CONFIG_VALIDATE_POINTS_H
#define MQGATE_CONFIG_VALIDATE_POINTS_H

#include "config/load_internal.h"

void validate_points(struct load_ctx *ctx, const struct cfg_device *dev, const struct cfg_bus *bus);
void validate_register_overlaps(struct load_ctx *ctx, const struct config *cfg);

/* Registers a Modbus point spans (1 for bit points), 0 when it cannot say. */
int64_t point_register_count(const struct cfg_point *pt);

#endif
