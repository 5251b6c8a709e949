/* Template variables of points and devices (see names.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config/names.h"
#include "config/schema.h"

static const char *const register_names[] = { "holding", "input", "coil", "discrete" };

void config_names_of(const struct config *cfg, const struct cfg_device *dev,
                     const struct cfg_point *pt, struct config_names *out)
{
    memset(out, 0, sizeof *out);
    const struct cfg_bus *bus = dev->bus ? config_find_bus(cfg, dev->bus) : NULL;
    bool modbus = bus && bus->type != CFG_BUS_UART;
    snprintf(out->slave, sizeof out->slave, "%" PRId64, dev->slave);
    template_values_set(&out->v, TVAR_GATEWAY, cfg->gateway.name);
    template_values_set(&out->v, TVAR_BUS, dev->bus);
    template_values_set(&out->v, TVAR_DEVICE, dev->name);
    template_values_set(&out->v, TVAR_SLAVE, modbus ? out->slave : NULL);
    if (!pt)
        return;
    snprintf(out->address, sizeof out->address, "%" PRId64, pt->address);
    template_values_set(&out->v, TVAR_POINT, pt->name);
    template_values_set(&out->v, TVAR_UNIT, pt->unit);
    template_values_set(&out->v, TVAR_ADDRESS, modbus ? out->address : NULL);
    template_values_set(&out->v, TVAR_REGISTER, modbus ? register_names[pt->register_kind] : NULL);
    template_values_set(&out->v, TVAR_TYPE, cfg_enum_name(cfg_value_type_names, pt->type));
}

size_t config_names_render(const struct config_names *n, const struct cfg_template *tmpl,
                           char *buf, size_t size)
{
    return template_render(tmpl->text ? tmpl->text : "", &n->v, buf, size);
}
