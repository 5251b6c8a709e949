/* Configuration loader: YAML (libyaml) → typed structs, driven by the key
 * tables. Walks the document once, reporting every problem with its
 * position, then hands the structs to the resolve and validate passes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/env.h"
#include "config/load_internal.h"
#include "config/suggest.h"
#include "config/values.h"

/* Anchors and aliases can make a small file describe a huge tree; these
 * bound the walk so such input is an error, not a hang. */
#define MAX_DEPTH 32
#define MAX_NODES 1000000
#define MAX_KEYS 64

static struct cfg_pos mark_pos(const struct load_ctx *ctx, yaml_mark_t m)
{
    return (struct cfg_pos){ ctx->file, (unsigned)m.line + 1, (unsigned)m.column + 1 };
}

static struct cfg_pos node_pos(const struct load_ctx *ctx, const yaml_node_t *n)
{
    return mark_pos(ctx, n->start_mark);
}

static void field_record(struct load_ctx *ctx, const void *addr, struct cfg_pos pos)
{
    if (ctx->n_fields == ctx->cap_fields) {
        size_t cap = ctx->cap_fields ? ctx->cap_fields * 2 : 256;
        struct field_pos *f = realloc(ctx->fields, cap * sizeof(*f));
        if (!f)
            return; /* positions are a nicety for later messages; the value is kept */
        ctx->fields = f;
        ctx->cap_fields = cap;
    }
    ctx->fields[ctx->n_fields++] = (struct field_pos){ addr, pos };
}

struct cfg_pos load_pos_of(const struct load_ctx *ctx, const void *addr, struct cfg_pos fallback)
{
    for (size_t i = ctx->n_fields; addr && i-- > 0;)
        if (ctx->fields[i].addr == addr)
            return ctx->fields[i].pos;
    if (!fallback.file)
        fallback = (struct cfg_pos){ ctx->file, 0, 0 };
    return fallback;
}

void load_poison(struct load_ctx *ctx, const void *obj)
{
    if (load_is_poisoned(ctx, obj))
        return;
    if (ctx->n_poisoned == ctx->cap_poisoned) {
        size_t cap = ctx->cap_poisoned ? ctx->cap_poisoned * 2 : 16;
        const void **p = realloc(ctx->poisoned, cap * sizeof(*p));
        if (!p)
            return; /* worst case: a consequential error is reported too */
        ctx->poisoned = p;
        ctx->cap_poisoned = cap;
    }
    ctx->poisoned[ctx->n_poisoned++] = obj;
}

bool load_is_poisoned(const struct load_ctx *ctx, const void *obj)
{
    for (size_t i = 0; i < ctx->n_poisoned; i++)
        if (ctx->poisoned[i] == obj)
            return true;
    return false;
}

static bool scalar_is_null(const yaml_node_t *n);

static const char *node_kind(const yaml_node_t *n)
{
    if (scalar_is_null(n))
        return "nothing";
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default: return "a value";
    }
}

static bool scalar_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)n->data.scalar.value;
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

/* The scalar's text with ${VAR} expanded; NULL after reporting why. */
static char *scalar_text(struct load_ctx *ctx, const struct cfg_key *k, yaml_node_t *n)
{
    struct cfg_pos pos = node_pos(ctx, n);
    if (n->type != YAML_SCALAR_NODE) {
        diag_error(ctx->diag, pos, "'%s' expects %s %s, got %s", k->name,
                   k->type == CFG_INT || k->type == CFG_ENUM ? "an" : "a",
                   cfg_type_name(k->type), node_kind(n));
        return NULL;
    }
    if (scalar_is_null(n)) {
        diag_error(ctx->diag, pos, "'%s' has no value", k->name);
        return NULL;
    }
    const char *raw = (const char *)n->data.scalar.value;
    if (strlen(raw) != n->data.scalar.length) {
        diag_error(ctx->diag, pos, "'%s' contains a NUL character", k->name);
        return NULL;
    }
    char *text, err[160];
    if (env_expand(raw, &text, err, sizeof(err))) {
        diag_error(ctx->diag, pos, "'%s': %s", k->name, err);
        return NULL;
    }
    return text;
}

static void report_bad_enum(struct load_ctx *ctx, struct cfg_pos pos, const struct cfg_key *k,
                            const char *text)
{
    char list[256] = "";
    struct suggest s;
    suggest_init(&s, text);
    for (const struct cfg_enum_name *e = k->enums; e->name; e++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", e->name);
        suggest_offer(&s, e->name);
    }
    if (suggest_result(&s))
        diag_error(ctx->diag, pos, "'%s' must be one of %s, got '%s'; did you mean '%s'?", k->name,
                   list, text, suggest_result(&s));
    else
        diag_error(ctx->diag, pos, "'%s' must be one of %s, got '%s'", k->name, list, text);
}

static const char *type_example(enum cfg_type t)
{
    switch (t) {
    case CFG_BOOL: return "a boolean (true or false)";
    case CFG_INT: return "an integer";
    case CFG_DOUBLE: return "a number";
    case CFG_DURATION: return "a duration such as 250ms, 5s or 1m";
    case CFG_SIZE: return "a size such as 512, 64KiB or 16MiB";
    case CFG_BYTES: return "hex bytes such as \"42 4d\"";
    default: return "a value";
    }
}

/* Parse one scalar of key `k` into `field`. 0 or -1 (reported). */
static int parse_scalar(struct load_ctx *ctx, const struct cfg_key *k, yaml_node_t *n, void *field)
{
    struct cfg_pos pos = node_pos(ctx, n);
    char *text = scalar_text(ctx, k, n);
    if (!text)
        return -1;
    int rc = 0;
    switch (k->type) {
    case CFG_STRING:
        if ((k->flags & CFG_NONEMPTY) && !*text) {
            diag_error(ctx->diag, pos, "'%s' must not be empty", k->name);
            free(text);
            return -1;
        }
        *(char **)field = text;
        text = NULL;
        break;
    case CFG_TEMPLATE: {
        struct cfg_template *t = field;
        t->text = text;
        t->pos = pos;
        text = NULL;
        break;
    }
    case CFG_BOOL: rc = value_parse_bool(text, field); break;
    case CFG_INT: rc = value_parse_int(text, field); break;
    case CFG_DOUBLE: rc = value_parse_double(text, field); break;
    case CFG_DURATION: rc = value_parse_duration(text, field); break;
    case CFG_SIZE: rc = value_parse_size(text, field); break;
    case CFG_BYTES: {
        struct cfg_bytes *b = field;
        rc = value_parse_bytes(text, &b->data, &b->len);
        break;
    }
    case CFG_ENUM: {
        rc = -1;
        for (const struct cfg_enum_name *e = k->enums; e->name; e++) {
            if (strcmp(e->name, text) == 0) {
                *(int *)field = e->value;
                rc = 0;
            }
        }
        if (rc) {
            report_bad_enum(ctx, pos, k, text);
            free(text);
            return -1;
        }
        break;
    }
    default:
        rc = -1;
        break;
    }
    if (rc && text) {
        if (k->type == CFG_INT && text[strspn(text, "+-0123456789")] == '\0' && k->min && k->max)
            diag_error(ctx->diag, pos, "'%s' must be between %s and %s, got %s", k->name, k->min,
                       k->max, text);
        else if (k->type == CFG_DURATION && value_parse_int(text, &(int64_t){ 0 }) == 0)
            diag_error(ctx->diag, pos, "'%s' expects a duration, got '%s' (add a unit: %sms or %ss)",
                       k->name, text, text, text);
        else
            diag_error(ctx->diag, pos, "'%s' expects %s, got '%s'", k->name, type_example(k->type),
                       text);
    }
    free(text);
    return rc;
}

static yaml_node_t *doc_node(struct load_ctx *ctx, int id)
{
    return yaml_document_get_node(ctx->doc, id);
}

static size_t seq_count(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static int parse_strings(struct load_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
                         struct cfg_strings *out)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        diag_error(ctx->diag, node_pos(ctx, n), "'%s' expects a list of strings, got %s", k->name,
                   node_kind(n));
        return -1;
    }
    size_t count = seq_count(n);
    out->items = calloc(count ? count : 1, sizeof(char *));
    if (!out->items) {
        diag_error(ctx->diag, node_pos(ctx, n), "out of memory reading '%s'", k->name);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = doc_node(ctx, n->data.sequence.items.start[i]);
        char *text = scalar_text(ctx, k, item);
        if (!text) {
            rc = -1;
            continue;
        }
        field_record(ctx, &out->items[out->count], node_pos(ctx, item));
        out->items[out->count++] = text;
    }
    return rc;
}

static int parse_bytes_list(struct load_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
                            struct cfg_bytes *out)
{
    size_t count = seq_count(n);
    if (count == 0) {
        diag_error(ctx->diag, node_pos(ctx, n), "'%s' must not be empty", k->name);
        return -1;
    }
    out->data = malloc(count);
    if (!out->data) {
        diag_error(ctx->diag, node_pos(ctx, n), "out of memory reading '%s'", k->name);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = doc_node(ctx, n->data.sequence.items.start[i]);
        char *text = scalar_text(ctx, k, item);
        int64_t v;
        if (!text) {
            rc = -1;
        } else if (value_parse_int(text, &v) || v < 0 || v > 255) {
            diag_error(ctx->diag, node_pos(ctx, item), "'%s' expects bytes 0..255, got '%s'",
                       k->name, text);
            rc = -1;
        } else {
            out->data[out->len++] = (uint8_t)v;
        }
        free(text);
    }
    return rc;
}

static int parse_enum_map(struct load_ctx *ctx, const struct cfg_key *k, yaml_node_t *n,
                          struct cfg_enum_map *out)
{
    if (n->type != YAML_MAPPING_NODE) {
        diag_error(ctx->diag, node_pos(ctx, n),
                   "'%s' expects a mapping of integers to labels, got %s", k->name, node_kind(n));
        return -1;
    }
    size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    out->entries = calloc(count ? count : 1, sizeof(*out->entries));
    if (!out->entries) {
        diag_error(ctx->diag, node_pos(ctx, n), "out of memory reading '%s'", k->name);
        return -1;
    }
    int rc = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = doc_node(ctx, p->key), *vn = doc_node(ctx, p->value);
        char *ktext = scalar_text(ctx, k, kn);
        char *label = scalar_text(ctx, k, vn);
        int64_t v;
        if (ktext && value_parse_int(ktext, &v)) {
            diag_error(ctx->diag, node_pos(ctx, kn), "'%s' keys must be integers, got '%s'",
                       k->name, ktext);
            ktext = (free(ktext), NULL);
        }
        for (size_t i = 0; ktext && i < out->count; i++) {
            if (out->entries[i].value == v) {
                diag_error(ctx->diag, node_pos(ctx, kn), "'%s' maps %s twice", k->name, ktext);
                ktext = (free(ktext), NULL);
            }
        }
        if (!ktext || !label) {
            free(ktext);
            free(label);
            rc = -1;
            continue;
        }
        free(ktext);
        out->entries[out->count++] = (struct cfg_enum_entry){ v, label };
    }
    return rc;
}

static void parse_section_node(struct load_ctx *ctx, const struct cfg_section *sec,
                               yaml_node_t *n, void *obj, int depth);

static void parse_list(struct load_ctx *ctx, const struct cfg_key *k, yaml_node_t *n, void *obj,
                       int depth)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        diag_error(ctx->diag, node_pos(ctx, n), "'%s' expects a list, got %s", k->name,
                   node_kind(n));
        load_poison(ctx, obj);
        return;
    }
    size_t count = seq_count(n);
    char *items = calloc(count ? count : 1, k->section->size);
    if (!items) {
        diag_error(ctx->diag, node_pos(ctx, n), "out of memory reading '%s'", k->name);
        return;
    }
    *(void **)((char *)obj + k->offset) = items;
    size_t *n_items = (size_t *)((char *)obj + k->count_offset);
    for (size_t i = 0; i < count; i++) {
        /* Count first: section_free must see every element it may need to free. */
        *n_items = i + 1;
        parse_section_node(ctx, k->section, doc_node(ctx, n->data.sequence.items.start[i]),
                           items + i * k->section->size, depth + 1);
    }
}

static void set_bit(const struct cfg_section *sec, void *obj, int i)
{
    uint64_t *set = (uint64_t *)((char *)obj + sec->set_offset);
    *set |= UINT64_C(1) << i;
}

static void report_out_of_range(struct load_ctx *ctx, const struct cfg_key *k, yaml_node_t *vn,
                                void *obj)
{
    char got[64];
    key_format_value(k, obj, got, sizeof(got));
    struct cfg_pos pos = node_pos(ctx, vn);
    if (k->min && k->max)
        diag_error(ctx->diag, pos, "'%s' must be between %s and %s, got %s", k->name, k->min,
                   k->max, got);
    else if (k->min)
        diag_error(ctx->diag, pos, "'%s' must be at least %s, got %s", k->name, k->min, got);
    else
        diag_error(ctx->diag, pos, "'%s' must be at most %s, got %s", k->name, k->max, got);
}

/* Parse one key's value. The key counts as given and its position is kept
 * even when the value is bad, so no "missing key" follows the real error;
 * the struct is poisoned so the validate passes do not misread it. */
static void parse_key(struct load_ctx *ctx, const struct cfg_section *sec, int i, yaml_node_t *vn,
                      void *obj, int depth)
{
    const struct cfg_key *k = &sec->keys[i];
    void *field = (char *)obj + k->offset;
    int rc = 0;
    switch (k->type) {
    case CFG_SECTION:
        parse_section_node(ctx, k->section, vn, field, depth + 1);
        break;
    case CFG_LIST:
        parse_list(ctx, k, vn, obj, depth);
        break;
    case CFG_STRINGS:
        rc = parse_strings(ctx, k, vn, field);
        break;
    case CFG_ENUM_MAP:
        rc = parse_enum_map(ctx, k, vn, field);
        break;
    case CFG_BYTES:
        if (vn->type == YAML_SEQUENCE_NODE) {
            rc = parse_bytes_list(ctx, k, vn, field);
            break;
        }
        /* fall through */
    default:
        rc = parse_scalar(ctx, k, vn, field);
        if (rc == 0 && key_check_range(k, obj)) {
            report_out_of_range(ctx, k, vn, obj);
            rc = -1;
        }
        break;
    }
    /* Poison the value itself and the struct holding it: checks about one
     * value ask about the value, checks that combine keys about the struct. */
    if (rc) {
        load_poison(ctx, obj);
        load_poison(ctx, field);
    }
    set_bit(sec, obj, i);
    field_record(ctx, field, node_pos(ctx, vn));
}

/* A key merged in by `<<` is reported at the `<<`: in the anchored mapping it
 * may be perfectly valid, and the mistake is merging it here. */
static void report_unknown_key(struct load_ctx *ctx, const struct cfg_section *sec,
                               yaml_node_t *kn, yaml_node_t *merge_key, const char *name)
{
    struct suggest s;
    suggest_init(&s, name);
    for (const struct cfg_key *k = sec->keys; k->name; k++)
        suggest_offer(&s, k->name);
    char from[64] = "";
    struct cfg_pos at = node_pos(ctx, kn);
    /* An anchored mapping of the same kind reported its own unknown key. */
    if (merge_key && diag_has_error_at(ctx->diag, at))
        return;
    if (merge_key) {
        snprintf(from, sizeof(from), " (merged from %u:%u)", at.line, at.col);
        at = node_pos(ctx, merge_key);
    }
    if (suggest_result(&s))
        diag_error(ctx->diag, at, "unknown key '%s' in %s%s; did you mean '%s'?", name, sec->name,
                   from, suggest_result(&s));
    else
        diag_error(ctx->diag, at, "unknown key '%s' in %s%s", name, sec->name, from);
}

/* Walk the pairs of one mapping. Explicit keys first; keys brought in by YAML
 * merge keys (`<<: *defaults`) only fill what is still unset, so a device can
 * start from an anchor and override parts of it. */
struct walk {
    yaml_node_t *seen[MAX_KEYS]; /* key node that set key i */
};

/* `merge_key` is the `<<` that brought this mapping in, NULL for the mapping's
 * own keys. */
static void walk_pairs(struct load_ctx *ctx, const struct cfg_section *sec, yaml_node_t *n,
                       void *obj, int depth, struct walk *w, yaml_node_t *merge_key)
{
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = doc_node(ctx, p->key), *vn = doc_node(ctx, p->value);
        if (++ctx->nodes_visited > MAX_NODES)
            return;
        if (kn->type != YAML_SCALAR_NODE) {
            diag_error(ctx->diag, node_pos(ctx, kn), "keys in %s must be plain names, not %s",
                       sec->name, node_kind(kn));
            continue;
        }
        const char *name = (const char *)kn->data.scalar.value;
        if (strcmp(name, "<<") == 0 && kn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
            continue; /* merges are walked after the explicit keys */
        int i = cfg_key_index(sec, name);
        if (i < 0) {
            report_unknown_key(ctx, sec, kn, merge_key, name);
            continue;
        }
        if (w->seen[i]) {
            if (!merge_key) {
                struct cfg_pos first = node_pos(ctx, w->seen[i]);
                diag_error(ctx->diag, node_pos(ctx, kn),
                           "duplicate key '%s' (first given at %u:%u)", name, first.line, first.col);
            }
            continue;
        }
        w->seen[i] = kn;
        parse_key(ctx, sec, i, vn, obj, depth);
    }
}

static void walk_merges(struct load_ctx *ctx, const struct cfg_section *sec, yaml_node_t *n,
                        void *obj, int depth, struct walk *w, yaml_node_t *outer_merge_key)
{
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = doc_node(ctx, p->key), *vn = doc_node(ctx, p->value);
        if (kn->type != YAML_SCALAR_NODE || kn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
            strcmp((const char *)kn->data.scalar.value, "<<") != 0)
            continue;
        if (depth > MAX_DEPTH) {
            diag_error(ctx->diag, node_pos(ctx, kn), "merge keys nested too deeply");
            return;
        }
        yaml_node_t *sources[64];
        size_t n_sources = 0;
        if (vn->type == YAML_MAPPING_NODE) {
            sources[n_sources++] = vn;
        } else if (vn->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = vn->data.sequence.items.start;
                 it < vn->data.sequence.items.top && n_sources < 64; it++)
                sources[n_sources++] = doc_node(ctx, *it);
        }
        for (size_t s = 0; s < n_sources; s++) {
            if (sources[s]->type != YAML_MAPPING_NODE) {
                diag_error(ctx->diag, node_pos(ctx, vn),
                           "'<<' merges mappings only, got %s", node_kind(sources[s]));
                continue;
            }
            yaml_node_t *merge_key = outer_merge_key ? outer_merge_key : kn;
            walk_pairs(ctx, sec, sources[s], obj, depth, w, merge_key);
            walk_merges(ctx, sec, sources[s], obj, depth + 1, w, merge_key);
        }
    }
}

static void check_required(struct load_ctx *ctx, const struct cfg_section *sec, yaml_node_t *n,
                           void *obj, const struct walk *w)
{
    char missing[256] = "";
    size_t count = 0;
    for (int i = 0; sec->keys[i].name; i++) {
        if (!(sec->keys[i].flags & CFG_REQUIRED) || w->seen[i])
            continue;
        count++;
        /* "'a'", "'a' and 'b'", "'a', 'b' and 'c'" */
        bool last = true;
        for (int j = i + 1; sec->keys[j].name; j++)
            if ((sec->keys[j].flags & CFG_REQUIRED) && !w->seen[j])
                last = false;
        size_t used = strlen(missing);
        snprintf(missing + used, sizeof(missing) - used, "%s'%s'",
                 count == 1 ? "" : last ? " and " : ", ", sec->keys[i].name);
    }
    if (count == 0)
        return;
    load_poison(ctx, obj);
    int name_key = cfg_key_index(sec, "name");
    const char *name = name_key >= 0 && w->seen[name_key] ?
                       *(char **)((char *)obj + sec->keys[name_key].offset) : NULL;
    const char *keys = count == 1 ? "key" : "keys";
    if (name)
        diag_error(ctx->diag, node_pos(ctx, n), "missing required %s %s in %s '%s'", keys, missing,
                   sec->name, name);
    else
        diag_error(ctx->diag, node_pos(ctx, n), "missing required %s %s in %s", keys, missing,
                   sec->name);
}

static void parse_section_node(struct load_ctx *ctx, const struct cfg_section *sec,
                               yaml_node_t *n, void *obj, int depth)
{
    struct cfg_pos *pos = (struct cfg_pos *)((char *)obj + sec->pos_offset);
    *pos = node_pos(ctx, n);
    if (depth > MAX_DEPTH) {
        diag_error(ctx->diag, *pos, "configuration nested too deeply");
        return;
    }
    if (n->type != YAML_MAPPING_NODE) {
        diag_error(ctx->diag, *pos, "%s expects a mapping of keys, got %s", sec->name,
                   node_kind(n));
        load_poison(ctx, obj);
        return;
    }
    struct walk w;
    memset(&w, 0, sizeof(w));
    walk_pairs(ctx, sec, n, obj, depth, &w, NULL);
    walk_merges(ctx, sec, n, obj, depth, &w, NULL);
    if (ctx->nodes_visited > MAX_NODES) {
        if (ctx->nodes_visited != SIZE_MAX)
            diag_error(ctx->diag, *pos, "configuration too large (more than %d nodes, "
                       "counting each use of an alias)", MAX_NODES);
        ctx->nodes_visited = SIZE_MAX;
        return;
    }
    check_required(ctx, sec, n, obj, &w);
    section_apply_defaults(ctx, sec, obj);
}

void load_parse_root(struct load_ctx *ctx, struct yaml_document_s *doc, struct config *cfg)
{
    ctx->doc = doc;
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root || scalar_is_null(root)) {
        diag_error(ctx->diag, (struct cfg_pos){ ctx->file, 0, 0 }, "the configuration is empty");
        section_apply_defaults(ctx, &cfg_schema_root, cfg);
        return;
    }
    parse_section_node(ctx, &cfg_schema_root, root, cfg, 0);
}
