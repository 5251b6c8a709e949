/* Shared between the loader's passes (parse, resolve, validate) and nothing
 * else: the context of one load, which remembers where each value came from
 * until the load is over. */
#ifndef MQGATE_CONFIG_LOAD_INTERNAL_H
#define MQGATE_CONFIG_LOAD_INTERNAL_H

#include "config/config.h"
#include "config/diag.h"
#include "config/schema.h"

struct field_pos {
    const void *addr;
    struct cfg_pos pos;
};

struct load_ctx {
    struct diag *diag;
    const char *file;            /* borrowed from config->file */
    struct yaml_document_s *doc; /* the document being walked, during parsing */
    struct field_pos *fields;    /* where each parsed value was written */
    size_t n_fields, cap_fields;
    size_t nodes_visited;        /* bounds work on alias-heavy input */
    const void **poisoned;       /* structs holding a value that failed to parse */
    size_t n_poisoned, cap_poisoned;
};

/* Where the value stored at `addr` came from, or `fallback` when it was not
 * in the file (a default). */
struct yaml_document_s;
struct cfg_pos load_pos_of(const struct load_ctx *ctx, const void *addr, struct cfg_pos fallback);
/* (A fallback without a file, from a section absent from the file, becomes
 * the file itself, so a message always names the file.)
 *
 * A struct (bus, device, point, listener, …) is poisoned when one of its own
 * values failed to parse or a required key is missing. That error is
 * reported already; the validate passes skip a poisoned struct's own checks,
 * which would otherwise misread the missing value and report errors that
 * are only its consequences. */
void load_poison(struct load_ctx *ctx, const void *obj);
/* `obj` may be a struct or the address of one of its fields: a value that
 * failed to parse poisons both. */
bool load_is_poisoned(const struct load_ctx *ctx, const void *obj);

/* Parse (the tree walk in load.c). */
void load_parse_root(struct load_ctx *ctx, struct yaml_document_s *doc, struct config *cfg);

/* Generic operations over a section's keys (schema_ops.c). */
/* Defaults for every unset key of a section and of its absent subsections
 * (skipping inheriting sections); reports a default that fails to parse. */
void section_apply_defaults(struct load_ctx *ctx, const struct cfg_section *sec, void *obj);
/* Defaults for the unset scalar keys of one section, inheriting or not. */
int section_fill_defaults(const struct cfg_section *sec, void *obj);
/* Copy into `dst` every key set in `src` and not in `dst` (deep copies);
 * 0, or -1 when out of memory. */
int section_inherit(const struct cfg_section *sec, void *dst, const void *src);
void section_free(const struct cfg_section *sec, void *obj);
/* Parse the text of a default into the field; 0 or -1. */
int key_parse_default(const struct cfg_key *k, void *obj);
/* Compare a parsed number with a key's bounds; 0 in range, -1 not. */
int key_check_range(const struct cfg_key *k, const void *obj);
void key_format_value(const struct cfg_key *k, const void *obj, char *buf, size_t size);

/* Passes after parsing (resolve.c, validate_*.c). Each reports to ctx->diag. */
void config_resolve(struct load_ctx *ctx, struct config *cfg);
void validate_gateway(struct load_ctx *ctx, struct config *cfg);
void validate_broker(struct load_ctx *ctx, struct config *cfg);
void validate_buses(struct load_ctx *ctx, struct config *cfg);
void validate_devices(struct load_ctx *ctx, struct config *cfg);
void validate_publish(struct load_ctx *ctx, struct config *cfg);
void validate_bridge(struct load_ctx *ctx, struct config *cfg);

#endif
