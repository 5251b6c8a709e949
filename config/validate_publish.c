/* Validate pass for `publish` blocks at every level: templates (checked once,
 * where they are written, even when many points inherit them), JSON fields,
 * and settings that contradict each other or the device they end up on. */
#include <stdlib.h>
#include <string.h>

#include "config/validate.h"

/* Positions already reported or checked, so an inherited template is checked
 * once, at the place it was written. */
struct seen {
    struct cfg_pos *pos;
    size_t n, cap;
};

static bool seen_add(struct seen *s, struct cfg_pos pos)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->pos[i].line == pos.line && s->pos[i].col == pos.col)
            return false;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        struct cfg_pos *p = realloc(s->pos, cap * sizeof(*p));
        if (!p)
            return true; /* worst case a message is repeated */
        s->pos = p;
        s->cap = cap;
    }
    s->pos[s->n++] = pos;
    return true;
}

struct template_key {
    const char *name;
    size_t offset;
    unsigned allowed;
    enum template_kind kind;
};

static const struct template_key template_keys[] = {
    { "topic", offsetof(struct cfg_publish, topic), TVARS_POINT_TOPIC, TEMPLATE_TOPIC },
    { "template", offsetof(struct cfg_publish, template_text), TVARS_PAYLOAD, TEMPLATE_TEXT },
    { "error_topic", offsetof(struct cfg_publish, error_topic), TVARS_POINT_TOPIC, TEMPLATE_TOPIC },
    { "availability_topic", offsetof(struct cfg_publish, availability_topic), TVARS_DEVICE_TOPIC,
      TEMPLATE_TOPIC },
    { "command_topic", offsetof(struct cfg_publish, command_topic), TVARS_POINT_TOPIC, TEMPLATE_TOPIC },
    { "reply_topic", offsetof(struct cfg_publish, reply_topic), TVARS_POINT_TOPIC, TEMPLATE_TOPIC },
};
#define N_TEMPLATE_KEYS (sizeof(template_keys) / sizeof(template_keys[0]))

static const char *const json_field_names[] = {
    "value", "unit", "timestamp", "quality", "error", "device", "point", "raw",
};

static void check_json_fields(struct load_ctx *ctx, const struct cfg_publish *pub)
{
    const struct cfg_pos nowhere = { NULL, 0, 0 };
    struct cfg_pos pos = POS_OF(ctx, &pub->json_fields, nowhere);
    if (pos.line == 0)
        return; /* inherited or default: checked where written */
    for (size_t i = 0; i < pub->json_fields.count; i++) {
        const char *f = pub->json_fields.items[i];
        struct cfg_pos item_pos = POS_OF(ctx, &pub->json_fields.items[i], pos);
        bool known = false;
        for (size_t k = 0; k < sizeof(json_field_names) / sizeof(json_field_names[0]); k++)
            known |= strcmp(f, json_field_names[k]) == 0;
        if (!known)
            diag_error(ctx->diag, item_pos, "'json_fields': unknown field '%s' (known: value, unit, "
                       "timestamp, quality, error, device, point, raw)", f);
        for (size_t j = 0; j < i; j++)
            if (strcmp(pub->json_fields.items[j], f) == 0)
                diag_error(ctx->diag, item_pos, "'json_fields': '%s' is listed twice", f);
    }
}

struct seen_sets {
    struct seen checked;     /* templates checked for syntax and variables */
    struct seen contextual;  /* templates reported for a device they do not fit */
};

static void check_block(struct load_ctx *ctx, struct seen_sets *seen, const struct cfg_publish *pub,
                        unsigned extra_forbidden, const char *why)
{
    if (load_is_poisoned(ctx, pub))
        return;
    for (size_t i = 0; i < N_TEMPLATE_KEYS; i++) {
        const struct template_key *k = &template_keys[i];
        const struct cfg_template *t = (const void *)((const char *)pub + k->offset);
        if (!t->text || t->pos.line == 0)
            continue;
        /* Syntax once per place written; the contextual rule per device below. */
        bool first_time = seen_add(&seen->checked, t->pos);
        if (first_time && validate_template(ctx, t, k->name, k->kind, k->allowed, pub->pos))
            continue;
        unsigned used = 0;
        char err[160];
        if (template_check(t->text, k->kind, k->allowed, &used, err, sizeof(err), NULL))
            continue;
        if ((used & extra_forbidden) && seen_add(&seen->contextual, t->pos))
            diag_error(ctx->diag, t->pos, "'%s': %s", k->name, why);
    }
    check_json_fields(ctx, pub);
    if (pub->max_interval && pub->min_interval > pub->max_interval)
        diag_error(ctx->diag, POS_OF(ctx, &pub->min_interval, pub->pos),
                   "'min_interval' is longer than 'max_interval'");
}

/* Per device: the contextual rules, once the chain is resolved. */
static void check_device(struct load_ctx *ctx, struct seen_sets *seen, const struct config *cfg,
                         const struct cfg_device *dev)
{
    const struct cfg_bus *bus = dev->bus ? config_find_bus(cfg, dev->bus) : NULL;
    bool uart = bus && bus->type == CFG_BUS_UART;
    unsigned forbidden = uart ? TVAR_SLAVE | TVAR_ADDRESS | TVAR_REGISTER : 0;
    const char *why = "'{slave}', '{address}' and '{register}' exist only for Modbus devices";
    check_block(ctx, seen, &dev->publish, forbidden, why);
    const struct cfg_publish *pub = &dev->publish;
    if (pub->payload == CFG_PAYLOAD_GROUPED) {
        unsigned used = 0;
        char err[8];
        template_check(pub->topic.text, TEMPLATE_TOPIC, TVARS_POINT_TOPIC, &used, err, sizeof(err),
                       NULL);
        unsigned per_point = TVAR_POINT | TVAR_UNIT | TVAR_ADDRESS | TVAR_REGISTER | TVAR_TYPE;
        struct cfg_pos pos = pub->topic.pos.line ? pub->topic.pos :
                             POS_OF(ctx, &pub->payload, dev->pos);
        if ((used & per_point) && seen_add(&seen->contextual, pos))
            diag_error(ctx->diag, pos, "with 'payload: grouped' the topic is per device; "
                       "it cannot use point variables such as '{point}' (topic '%s')",
                       pub->topic.text);
    }
    for (size_t p = 0; p < dev->n_points; p++)
        check_block(ctx, seen, &dev->points[p].publish, forbidden, why);
}

void validate_publish(struct load_ctx *ctx, struct config *cfg)
{
    struct seen_sets seen = { { 0 }, { 0 } };
    check_block(ctx, &seen, &cfg->publish, 0, NULL);
    for (size_t b = 0; b < cfg->n_buses; b++)
        check_block(ctx, &seen, &cfg->buses[b].publish, 0, NULL);
    for (size_t d = 0; d < cfg->n_devices; d++)
        check_device(ctx, &seen, cfg, &cfg->devices[d]);
    free(seen.checked.pos);
    free(seen.contextual.pos);
}
