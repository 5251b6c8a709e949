/* The `{variables}` a point's or a device's topics are rendered with:
 * gateway, bus, device, slave (Modbus only) and, for a point, point, unit,
 * address, register (Modbus only) and type. One place, so `mqgate check`,
 * the mapping engine and discovery agree on every topic. */
#ifndef MQGATE_CONFIG_NAMES_H
#define MQGATE_CONFIG_NAMES_H

#include <stddef.h>

#include "config/config.h"
#include "config/template.h"

/* Template values and the storage their numbers need. Holds pointers into
 * the config: valid while it is. */
struct config_names {
    struct template_values v;
    char slave[16];
    char address[16];
};

/* The names of `pt` of `dev` (pt NULL: the device's only). */
void config_names_of(const struct config *cfg, const struct cfg_device *dev,
                     const struct cfg_point *pt, struct config_names *out);

/* Render `tmpl` with them; the length needed, as snprintf. */
size_t config_names_render(const struct config_names *n, const struct cfg_template *tmpl,
                           char *buf, size_t size);

#endif
