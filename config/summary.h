/* A short human summary of a loaded configuration: what the gateway would do
 * with it (buses, devices, points and their topics, broker, bridge). Used by
 * `mqgate check`. */
#ifndef MQGATE_CONFIG_SUMMARY_H
#define MQGATE_CONFIG_SUMMARY_H

#include <stdio.h>

#include "config/config.h"

void config_summary_write(const struct config *cfg, FILE *out);

/* The topic a point's value is published on, rendered from its resolved
 * publish block. Returns the length needed (as snprintf). */
size_t config_point_topic(const struct config *cfg, const struct cfg_device *dev,
                          const struct cfg_point *pt, char *buf, size_t size);

#endif
