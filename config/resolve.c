/* Resolve pass: what the file leaves implicit becomes explicit, so readers of
 * the config never re-derive it — publish inheritance, the default listener,
 * anonymous access, directories under state_dir, point types and orders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/load_internal.h"

static void oom(struct load_ctx *ctx)
{
    diag_error(ctx->diag, (struct cfg_pos){ ctx->file, 0, 0 }, "out of memory");
}

static void inherit_publish(struct load_ctx *ctx, struct cfg_publish *dst,
                            const struct cfg_publish *src)
{
    if (section_inherit(&cfg_schema_publish, dst, src))
        oom(ctx);
}

static void resolve_publish(struct load_ctx *ctx, struct config *cfg)
{
    /* Inherit outward-in first, defaults last: a default at an outer level
     * must not hide a key set at a middle level. */
    for (size_t b = 0; b < cfg->n_buses; b++)
        inherit_publish(ctx, &cfg->buses[b].publish, &cfg->publish);
    for (size_t d = 0; d < cfg->n_devices; d++) {
        struct cfg_device *dev = &cfg->devices[d];
        const struct cfg_bus *bus = dev->bus ? config_find_bus(cfg, dev->bus) : NULL;
        inherit_publish(ctx, &dev->publish, bus ? &bus->publish : &cfg->publish);
        for (size_t p = 0; p < dev->n_points; p++)
            inherit_publish(ctx, &dev->points[p].publish, &dev->publish);
    }

    int rc = section_fill_defaults(&cfg_schema_publish, &cfg->publish);
    for (size_t b = 0; b < cfg->n_buses; b++)
        rc |= section_fill_defaults(&cfg_schema_publish, &cfg->buses[b].publish);
    for (size_t d = 0; d < cfg->n_devices; d++) {
        struct cfg_device *dev = &cfg->devices[d];
        rc |= section_fill_defaults(&cfg_schema_publish, &dev->publish);
        for (size_t p = 0; p < dev->n_points; p++)
            rc |= section_fill_defaults(&cfg_schema_publish, &dev->points[p].publish);
    }
    if (rc)
        oom(ctx);
}

static bool address_is_loopback(const char *a)
{
    return a && (strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0 ||
                 strcmp(a, "localhost") == 0);
}

static void resolve_broker(struct load_ctx *ctx, struct config *cfg)
{
    struct cfg_broker *b = &cfg->broker;
    if (b->n_listeners == 0 && !cfg_is_set(&cfg_schema_broker, b, "listeners")) {
        /* Like Mosquitto 2: without listeners, only this machine may connect. */
        b->listeners = calloc(1, sizeof(*b->listeners));
        if (!b->listeners) {
            oom(ctx);
            return;
        }
        b->n_listeners = 1;
        section_apply_defaults(ctx, cfg_schema_broker.keys[cfg_key_index(&cfg_schema_broker,
                               "listeners")].section, b->listeners);
        b->listeners[0].pos = b->pos;
    }
    bool all_loopback = true;
    for (size_t i = 0; i < b->n_listeners; i++)
        all_loopback &= address_is_loopback(b->listeners[i].bind);
    const struct cfg_section *ls =
        cfg_schema_broker.keys[cfg_key_index(&cfg_schema_broker, "listeners")].section;
    for (size_t i = 0; i < b->n_listeners; i++)
        if (!cfg_is_set(ls, &b->listeners[i], "allow_anonymous"))
            b->listeners[i].allow_anonymous = all_loopback;
}

static char *path_join(const char *dir, const char *leaf)
{
    char *out;
    if (asprintf(&out, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", leaf) < 0)
        return NULL;
    return out;
}

static void resolve_dirs(struct load_ctx *ctx, struct config *cfg)
{
    const char *state = cfg->gateway.state_dir ? cfg->gateway.state_dir : "/var/lib/mqgate";
    if (!cfg->broker.persistence.dir && !(cfg->broker.persistence.dir = path_join(state, "broker")))
        oom(ctx);
    if (!cfg->bridge.spool.dir && !(cfg->bridge.spool.dir = path_join(state, "spool")))
        oom(ctx);
}

static const struct cfg_section *point_section(void)
{
    const struct cfg_section *dev = &cfg_schema_device;
    return dev->keys[cfg_key_index(dev, "points")].section;
}

static void resolve_points(struct config *cfg)
{
    const struct cfg_section *ps = point_section();
    for (size_t d = 0; d < cfg->n_devices; d++) {
        struct cfg_device *dev = &cfg->devices[d];
        for (size_t p = 0; p < dev->n_points; p++) {
            struct cfg_point *pt = &dev->points[p];
            bool bit_kind = pt->register_kind == CFG_REG_COIL ||
                            pt->register_kind == CFG_REG_DISCRETE;
            if (!cfg_is_set(ps, pt, "type") && (bit_kind || cfg_is_set(ps, pt, "bit")))
                pt->type = CFG_T_BOOL;
            if (!cfg_is_set(ps, pt, "byte_order"))
                pt->byte_order = dev->byte_order;
            if (!cfg_is_set(ps, pt, "poll_interval"))
                pt->poll_interval = dev->poll_interval;
        }
    }
}

void config_resolve(struct load_ctx *ctx, struct config *cfg)
{
    resolve_publish(ctx, cfg);
    resolve_broker(ctx, cfg);
    resolve_dirs(ctx, cfg);
    resolve_points(cfg);
}
