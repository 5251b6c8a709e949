/* Validate pass for `gateway` and `homeassistant`: the gateway's name (it
 * becomes a topic level and a client id), its state directory, its status
 * topic, and the Home Assistant discovery prefix. */
#include <string.h>

#include "config/validate.h"

/* ASCII only: isalnum() would follow the locale, and the name must be the
 * same topic level and client id everywhere. */
static bool name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

static void check_name(struct load_ctx *ctx, const struct cfg_gateway *g)
{
    if (!g->name)
        return;
    for (const char *p = g->name; *p; p++) {
        if (!name_char_ok(*p)) {
            diag_error(ctx->diag, POS_OF(ctx, &g->name, g->pos),
                       "'name' must contain only letters, digits, '-' and '_' (it becomes a "
                       "topic level and a client id), got '%s'", g->name);
            return;
        }
    }
}

static void check_state_dir(struct load_ctx *ctx, const struct cfg_gateway *g)
{
    if (g->state_dir && g->state_dir[0] != '/')
        diag_error(ctx->diag, POS_OF(ctx, &g->state_dir, g->pos),
                   "'state_dir' must be an absolute path, got '%s'", g->state_dir);
}

static void check_gateway(struct load_ctx *ctx, const struct cfg_gateway *g)
{
    check_name(ctx, g);
    check_state_dir(ctx, g);
    validate_template(ctx, &g->status_topic, "status_topic", TEMPLATE_TOPIC, TVARS_GATEWAY_TOPIC,
                      POS_OF(ctx, &g->status_topic, g->pos));
}

/* Discovery topics are "<prefix>/<component>/<id>/config": the prefix is
 * joined with a '/', so it must not bring its own at either end. */
static void check_homeassistant(struct load_ctx *ctx, const struct cfg_homeassistant *ha)
{
    const char *prefix = ha->prefix;
    if (!prefix)
        return;
    const char *problem = validate_topic_name(prefix);
    size_t len = strlen(prefix);
    if (!problem && (prefix[0] == '/' || prefix[len - 1] == '/'))
        problem = "a leading or trailing '/' is not allowed";
    if (problem)
        diag_error(ctx->diag, POS_OF(ctx, &ha->prefix, ha->pos), "'prefix': %s, got '%s'",
                   problem, prefix);
}

void validate_gateway(struct load_ctx *ctx, struct config *cfg)
{
    check_gateway(ctx, &cfg->gateway);
    check_homeassistant(ctx, &cfg->homeassistant);
}
