/* Generic operations over any section of the schema, driven by its key
 * table: defaults, bounds, inheritance (deep copies), formatting, freeing. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/load_internal.h"
#include "config/values.h"

static bool key_is_set(const struct cfg_section *sec, const void *obj, int i)
{
    uint64_t set;
    memcpy(&set, (const char *)obj + sec->set_offset, sizeof(set));
    return (set >> i) & 1u;
}

/* A key given in the file whose text failed to parse counts as set (its error
 * is reported) but holds no string. Inheritance and defaults treat it as
 * absent, so no later stage ever meets a NULL where a value is promised. */
static bool key_has_value(const struct cfg_section *sec, const void *obj, int i)
{
    if (!key_is_set(sec, obj, i))
        return false;
    const struct cfg_key *k = &sec->keys[i];
    const void *field = (const char *)obj + k->offset;
    if (k->type == CFG_STRING)
        return *(char *const *)field != NULL;
    if (k->type == CFG_TEMPLATE)
        return ((const struct cfg_template *)field)->text != NULL;
    return true;
}

/* "[a, b, \"c\"]" → strings; the only list syntax defaults use. */
static int parse_default_strings(const char *text, struct cfg_strings *out)
{
    const char *p = text;
    if (*p++ != '[')
        return -1;
    out->items = calloc(8, sizeof(char *));
    if (!out->items)
        return -1;
    while (*p && *p != ']') {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ']')
            break;
        bool quoted = *p == '"';
        const char *start = p + quoted;
        const char *end = quoted ? strchr(start, '"') : start + strcspn(start, ",]");
        if (!end || out->count == 8)
            return -1;
        out->items[out->count] = strndup(start, (size_t)(end - start));
        if (!out->items[out->count++])
            return -1;
        p = end + quoted;
    }
    return *p == ']' ? 0 : -1;
}

int key_parse_default(const struct cfg_key *k, void *obj)
{
    void *field = (char *)obj + k->offset;
    const char *d = k->def;
    switch (k->type) {
    case CFG_STRING:
        *(char **)field = strdup(d);
        return *(char **)field ? 0 : -1;
    case CFG_TEMPLATE: {
        struct cfg_template *t = field;
        t->text = strdup(d);
        t->pos = (struct cfg_pos){ NULL, 0, 0 };
        return t->text ? 0 : -1;
    }
    case CFG_BOOL: return value_parse_bool(d, field);
    case CFG_INT: return value_parse_int(d, field);
    case CFG_DOUBLE: return value_parse_double(d, field);
    case CFG_DURATION: return value_parse_duration(d, field);
    case CFG_SIZE: return value_parse_size(d, field);
    case CFG_ENUM:
        for (const struct cfg_enum_name *e = k->enums; e->name; e++) {
            if (strcmp(e->name, d) == 0) {
                *(int *)field = e->value;
                return 0;
            }
        }
        return -1;
    case CFG_STRINGS: return parse_default_strings(d, field);
    case CFG_BYTES: {
        struct cfg_bytes *b = field;
        return value_parse_bytes(d, &b->data, &b->len);
    }
    default:
        return -1;
    }
}

int section_fill_defaults(const struct cfg_section *sec, void *obj)
{
    int rc = 0;
    for (int i = 0; sec->keys[i].name; i++) {
        const struct cfg_key *k = &sec->keys[i];
        if (key_has_value(sec, obj, i) || !k->def || k->type == CFG_SECTION || k->type == CFG_LIST)
            continue;
        if (key_parse_default(k, obj))
            rc = -1;
    }
    return rc;
}

void section_apply_defaults(struct load_ctx *ctx, const struct cfg_section *sec, void *obj)
{
    /* Inheriting sections get their defaults once the chain is resolved. */
    if (sec->flags & CFG_SECTION_INHERIT)
        return;
    for (int i = 0; sec->keys[i].name; i++) {
        const struct cfg_key *k = &sec->keys[i];
        if (k->type == CFG_SECTION && !key_is_set(sec, obj, i))
            section_apply_defaults(ctx, k->section, (char *)obj + k->offset);
    }
    if (section_fill_defaults(sec, obj))
        diag_error(ctx->diag, (struct cfg_pos){ ctx->file, 0, 0 },
                   "internal error: a default of %s does not parse", sec->name);
}

static int range_bound(const struct cfg_key *k, const char *text, double *out)
{
    int64_t i;
    uint64_t u;
    switch (k->type) {
    case CFG_INT:
        if (value_parse_int(text, &i))
            return -1;
        *out = (double)i;
        return 0;
    case CFG_DURATION:
        if (value_parse_duration(text, &i))
            return -1;
        *out = (double)i;
        return 0;
    case CFG_SIZE:
        if (value_parse_size(text, &u))
            return -1;
        *out = (double)u;
        return 0;
    case CFG_DOUBLE:
        return value_parse_double(text, out);
    default:
        return -1;
    }
}

/* Numbers compare as doubles: every bound in the tables is exact in a double,
 * and a value beyond 2^53 is out of range of every bounded key anyway. */
int key_check_range(const struct cfg_key *k, const void *obj)
{
    const void *field = (const char *)obj + k->offset;
    double v, bound;
    switch (k->type) {
    case CFG_INT:
    case CFG_DURATION: v = (double)*(const int64_t *)field; break;
    case CFG_SIZE: v = (double)*(const uint64_t *)field; break;
    case CFG_DOUBLE: v = *(const double *)field; break;
    default: return 0;
    }
    if (k->min && range_bound(k, k->min, &bound) == 0 && v < bound)
        return -1;
    if (k->max && range_bound(k, k->max, &bound) == 0 && v > bound)
        return -1;
    return 0;
}

void key_format_value(const struct cfg_key *k, const void *obj, char *buf, size_t size)
{
    const void *field = (const char *)obj + k->offset;
    switch (k->type) {
    case CFG_INT: snprintf(buf, size, "%" PRId64, *(const int64_t *)field); break;
    case CFG_DURATION: value_format_duration(*(const int64_t *)field, buf, size); break;
    case CFG_SIZE: value_format_size(*(const uint64_t *)field, buf, size); break;
    case CFG_DOUBLE: snprintf(buf, size, "%g", *(const double *)field); break;
    case CFG_BOOL: snprintf(buf, size, "%s", *(const bool *)field ? "true" : "false"); break;
    case CFG_ENUM: snprintf(buf, size, "%s", cfg_enum_name(k->enums, *(const int *)field)); break;
    case CFG_STRING: snprintf(buf, size, "%s", *(char *const *)field ? *(char *const *)field : ""); break;
    case CFG_TEMPLATE: {
        const struct cfg_template *t = field;
        snprintf(buf, size, "%s", t->text ? t->text : "");
        break;
    }
    default: snprintf(buf, size, "…"); break;
    }
}

static int copy_value(const struct cfg_key *k, void *dst, const void *src)
{
    void *df = (char *)dst + k->offset;
    const void *sf = (const char *)src + k->offset;
    switch (k->type) {
    case CFG_STRING:
        *(char **)df = strdup(*(char *const *)sf);
        return *(char **)df ? 0 : -1;
    case CFG_TEMPLATE: {
        const struct cfg_template *s = sf;
        struct cfg_template *d = df;
        d->pos = s->pos;
        d->text = strdup(s->text);
        return d->text ? 0 : -1;
    }
    case CFG_STRINGS: {
        const struct cfg_strings *s = sf;
        struct cfg_strings *d = df;
        d->items = calloc(s->count ? s->count : 1, sizeof(char *));
        if (!d->items)
            return -1;
        for (d->count = 0; d->count < s->count; d->count++)
            if (!(d->items[d->count] = strdup(s->items[d->count])))
                return -1;
        return 0;
    }
    case CFG_BOOL: memcpy(df, sf, sizeof(bool)); return 0;
    case CFG_INT:
    case CFG_DURATION: memcpy(df, sf, sizeof(int64_t)); return 0;
    case CFG_SIZE: memcpy(df, sf, sizeof(uint64_t)); return 0;
    case CFG_DOUBLE: memcpy(df, sf, sizeof(double)); return 0;
    case CFG_ENUM: memcpy(df, sf, sizeof(int)); return 0;
    default:
        return -1; /* no inheritable section holds other types */
    }
}

int section_inherit(const struct cfg_section *sec, void *dst, const void *src)
{
    for (int i = 0; sec->keys[i].name; i++) {
        if (key_is_set(sec, dst, i) || !key_has_value(sec, src, i))
            continue;
        if (copy_value(&sec->keys[i], dst, src))
            return -1;
        uint64_t *set = (uint64_t *)((char *)dst + sec->set_offset);
        *set |= UINT64_C(1) << i;
    }
    return 0;
}

void section_free(const struct cfg_section *sec, void *obj)
{
    for (const struct cfg_key *k = sec->keys; k->name; k++) {
        void *field = (char *)obj + k->offset;
        switch (k->type) {
        case CFG_STRING: free(*(char **)field); break;
        case CFG_TEMPLATE: free(((struct cfg_template *)field)->text); break;
        case CFG_BYTES: free(((struct cfg_bytes *)field)->data); break;
        case CFG_STRINGS: {
            struct cfg_strings *s = field;
            for (size_t i = 0; i < s->count; i++)
                free(s->items[i]);
            free(s->items);
            break;
        }
        case CFG_ENUM_MAP: {
            struct cfg_enum_map *m = field;
            for (size_t i = 0; i < m->count; i++)
                free(m->entries[i].label);
            free(m->entries);
            break;
        }
        case CFG_SECTION: section_free(k->section, field); break;
        case CFG_LIST: {
            char *items = *(char **)field;
            size_t n = *(size_t *)((char *)obj + k->count_offset);
            for (size_t i = 0; i < n; i++)
                section_free(k->section, items + i * k->section->size);
            free(items);
            break;
        }
        default: break;
        }
    }
}
