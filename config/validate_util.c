/* Shared checks of the validate passes: templates and MQTT topic rules. */
#include <string.h>

#include "config/validate.h"

int validate_template(struct load_ctx *ctx, const struct cfg_template *t, const char *key,
                      enum template_kind kind, unsigned allowed, struct cfg_pos fallback)
{
    if (!t->text)
        return 0;
    char err[160];
    if (template_check(t->text, kind, allowed, NULL, err, sizeof(err), NULL) == 0)
        return 0;
    struct cfg_pos pos = t->pos.line ? t->pos : fallback;
    diag_error(ctx->diag, pos, "'%s': %s", key, err);
    return -1;
}

const char *validate_topic_filter(const char *filter)
{
    if (!*filter)
        return "empty topic filter";
    size_t len = strlen(filter);
    for (size_t i = 0; i < len; i++) {
        bool level_start = i == 0 || filter[i - 1] == '/';
        bool level_end = i + 1 == len || filter[i + 1] == '/';
        if (filter[i] == '#' && (!level_start || i + 1 != len))
            return "'#' must be the last level of a filter, alone";
        if (filter[i] == '+' && (!level_start || !level_end))
            return "'+' must fill a whole level of a filter";
    }
    return NULL;
}

const char *validate_topic_name(const char *topic)
{
    if (!*topic)
        return "empty topic";
    if (strpbrk(topic, "+#"))
        return "wildcards ('+', '#') are not allowed in a topic name";
    return NULL;
}
