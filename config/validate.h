/* Helpers shared by the validate passes (validate_*.c): positions of values,
 * template checks and MQTT topic filter rules. Internal to config/. */
#ifndef MQGATE_CONFIG_VALIDATE_H
#define MQGATE_CONFIG_VALIDATE_H

#include "config/load_internal.h"
#include "config/template.h"

/* Position of the value at `field`, else of the enclosing mapping `owner_pos`,
 * else (a section absent from the file) the file itself. */
#define POS_OF(ctx, field, owner_pos) load_pos_of((ctx), (field), (owner_pos))
/* `pos`, or the file itself when `pos` belongs to a section absent from it. */
#define POS_IN_FILE(ctx, pos) load_pos_of((ctx), NULL, (pos))

/* Check a template where it was written; reports "'<key>': <problem>" at the
 * template's position. Templates that came from a default (pos.line 0) are
 * checked too, at `fallback`. Returns 0 or -1. */
int validate_template(struct load_ctx *ctx, const struct cfg_template *t, const char *key,
                      enum template_kind kind, unsigned allowed, struct cfg_pos fallback);

/* MQTT topic filter rules: non-empty, '#' only last and alone in its level,
 * '+' alone in its level. Returns NULL when valid, else the problem. */
const char *validate_topic_filter(const char *filter);
/* Topic name rules (no wildcards, non-empty). NULL when valid. */
const char *validate_topic_name(const char *topic);

#endif
