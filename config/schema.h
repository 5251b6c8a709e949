/* The shape of the key tables that define the configuration schema.
 * One row per key gives its YAML name, C field, type, default, bounds and
 * documentation; the loader, the defaults, the range checks, inheritance and
 * the generated reference (config/README.md) all read the same rows. */
#ifndef MQGATE_CONFIG_SCHEMA_H
#define MQGATE_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Value types, and the C type of the field each one fills. */
enum cfg_type {
    CFG_STRING,   /* char *                                   */
    CFG_BOOL,     /* bool                                     */
    CFG_INT,      /* int64_t; decimal or 0x hex               */
    CFG_DOUBLE,   /* double                                   */
    CFG_DURATION, /* int64_t microseconds: 250ms, 5s, 1m30s   */
    CFG_SIZE,     /* uint64_t bytes: 64KiB, 256MB             */
    CFG_ENUM,     /* int, one of `enums`                      */
    CFG_TEMPLATE, /* struct cfg_template, `{var}` placeholders */
    CFG_STRINGS,  /* struct cfg_strings: a sequence of strings */
    CFG_BYTES,    /* struct cfg_bytes: "42 4d" or [0x42, 0x4d] */
    CFG_ENUM_MAP, /* struct cfg_enum_map: {0: off, 1: on}     */
    CFG_SECTION,  /* a nested struct described by `section`   */
    CFG_LIST,     /* pointer to an array of `section` structs, count at count_offset */
};

enum cfg_key_flags {
    CFG_REQUIRED = 1u << 0, /* missing → error */
    CFG_SECRET = 1u << 1,   /* never printed back (passwords) */
    CFG_NONEMPTY = 1u << 2, /* strings: "" is an error */
};

enum cfg_section_flags {
    /* Defaults are not applied at load: the section inherits unset keys from
     * an outer level first (publish: point → device → bus → top level). */
    CFG_SECTION_INHERIT = 1u << 0,
};

struct cfg_enum_name {
    const char *name;
    int value;
};

struct cfg_section;

struct cfg_key {
    const char *name;
    enum cfg_type type;
    size_t offset;
    const char *def;  /* default as the user would write it; NULL: none */
    const char *min;  /* bounds as the user would write them; NULL: open */
    const char *max;
    const struct cfg_enum_name *enums;   /* CFG_ENUM: {NULL, 0}-terminated */
    const struct cfg_section *section;   /* CFG_SECTION, CFG_LIST */
    size_t count_offset;                 /* CFG_LIST: size_t count */
    unsigned tvars;                      /* CFG_TEMPLATE: allowed variables */
    unsigned flags;
    const char *doc;
    const char *example;
};

struct cfg_section {
    const char *name;      /* in messages: "device", "point" */
    const char *path;      /* in the reference: "devices[].points[]" */
    size_t size;           /* sizeof the struct */
    size_t set_offset;     /* uint64_t `set`: bitmask of keys given in the file */
    size_t pos_offset;     /* struct cfg_pos `pos`: where the mapping starts */
    const struct cfg_key *keys; /* {NULL}-terminated; at most 64 */
    unsigned flags;
    const char *doc;
};

/* Rows check at compile time that the field has the C type the row's value
 * type writes, so a table can never scribble over the wrong field. */
#define CFG_TYPECHECK(st, f, T) \
    (0 * sizeof(char[__builtin_types_compatible_p(__typeof__(((st *)0)->f), T) ? 1 : -1]))
#define CFG_AT(st, f, T) (offsetof(st, f) + CFG_TYPECHECK(st, f, T))

#define KEY_STRING(st, f, nm, ...)   { .name = nm, .type = CFG_STRING, .offset = CFG_AT(st, f, char *), __VA_ARGS__ }
#define KEY_BOOL(st, f, nm, ...)     { .name = nm, .type = CFG_BOOL, .offset = CFG_AT(st, f, bool), __VA_ARGS__ }
#define KEY_INT(st, f, nm, ...)      { .name = nm, .type = CFG_INT, .offset = CFG_AT(st, f, int64_t), __VA_ARGS__ }
#define KEY_DOUBLE(st, f, nm, ...)   { .name = nm, .type = CFG_DOUBLE, .offset = CFG_AT(st, f, double), __VA_ARGS__ }
#define KEY_DURATION(st, f, nm, ...) { .name = nm, .type = CFG_DURATION, .offset = CFG_AT(st, f, int64_t), __VA_ARGS__ }
#define KEY_SIZE(st, f, nm, ...)     { .name = nm, .type = CFG_SIZE, .offset = CFG_AT(st, f, uint64_t), __VA_ARGS__ }
#define KEY_ENUM(st, f, nm, tbl, ...) { .name = nm, .type = CFG_ENUM, .offset = CFG_AT(st, f, int), .enums = tbl, __VA_ARGS__ }
#define KEY_TEMPLATE(st, f, nm, vars, ...) { .name = nm, .type = CFG_TEMPLATE, .offset = CFG_AT(st, f, struct cfg_template), .tvars = vars, __VA_ARGS__ }
#define KEY_STRINGS(st, f, nm, ...)  { .name = nm, .type = CFG_STRINGS, .offset = CFG_AT(st, f, struct cfg_strings), __VA_ARGS__ }
#define KEY_BYTES(st, f, nm, ...)    { .name = nm, .type = CFG_BYTES, .offset = CFG_AT(st, f, struct cfg_bytes), __VA_ARGS__ }
#define KEY_ENUM_MAP(st, f, nm, ...) { .name = nm, .type = CFG_ENUM_MAP, .offset = CFG_AT(st, f, struct cfg_enum_map), __VA_ARGS__ }
#define KEY_SECTION(st, f, nm, sec, ...) { .name = nm, .type = CFG_SECTION, .offset = offsetof(st, f), .section = sec, __VA_ARGS__ }
#define KEY_LIST(st, f, cnt, nm, sec, ...) { .name = nm, .type = CFG_LIST, .offset = offsetof(st, f), \
        .count_offset = CFG_AT(st, cnt, size_t), .section = sec, __VA_ARGS__ }

#define SECTION_OF(st, nm, pth, keytbl, ...) { .name = nm, .path = pth, .size = sizeof(st), \
        .set_offset = CFG_AT(st, set, uint64_t), .pos_offset = CFG_AT(st, pos, struct cfg_pos), \
        .keys = keytbl, __VA_ARGS__ }

/* The root of the schema: the whole file. */
extern const struct cfg_section cfg_schema_root;
/* The publish block, shared by the top level, buses, devices and points. */
extern const struct cfg_section cfg_schema_publish;
extern const struct cfg_section cfg_schema_broker;
extern const struct cfg_section cfg_schema_bus;
extern const struct cfg_section cfg_schema_device;
extern const struct cfg_section cfg_schema_bridge;
/* Enum tables other modules print from. */
extern const struct cfg_enum_name cfg_tls_version_names[];
extern const struct cfg_enum_name cfg_value_type_names[];

/* Index of `name` in `sec`, or -1. */
int cfg_key_index(const struct cfg_section *sec, const char *name);
/* Whether the key `name` was given in the file (or inherited) for `obj`. */
bool cfg_is_set(const struct cfg_section *sec, const void *obj, const char *name);

const char *cfg_enum_name(const struct cfg_enum_name *tbl, int value);
const char *cfg_type_name(enum cfg_type type);

#endif
