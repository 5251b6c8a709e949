/* Markdown reference of every configuration key, walked from the schema root
 * (so the documentation cannot drift from what the loader accepts). */
#include <string.h>

#include "config/doc.h"
#include "config/schema.h"
#include "config/template.h"

static void write_type(const struct cfg_key *k, FILE *out)
{
    switch (k->type) {
    case CFG_ENUM:
        for (const struct cfg_enum_name *e = k->enums; e->name; e++)
            fprintf(out, "%s`%s`", e == k->enums ? "" : " \\| ", e->name);
        return;
    case CFG_TEMPLATE: {
        fprintf(out, "template:");
        for (unsigned bit = 1; bit && bit <= TVAR_CLIENT; bit <<= 1)
            if (k->tvars & bit)
                fprintf(out, " `{%s}`", tvar_name((enum tvar)bit));
        return;
    }
    case CFG_SECTION:
    case CFG_LIST:
        fprintf(out, "%s, see [`%s`](#%s)", k->type == CFG_LIST ? "list" : "mapping",
                k->section->path, k->section->path);
        return;
    default:
        fprintf(out, "%s", cfg_type_name(k->type));
    }
}

static void write_range(const struct cfg_key *k, FILE *out)
{
    if (k->min && k->max)
        fprintf(out, "%s … %s", k->min, k->max);
    else if (k->min)
        fprintf(out, "≥ %s", k->min);
    else if (k->max)
        fprintf(out, "≤ %s", k->max);
}

static void write_default(const struct cfg_key *k, FILE *out)
{
    if (k->flags & CFG_REQUIRED)
        fprintf(out, "**required**");
    else if (k->def && *k->def)
        fprintf(out, "`%s`", k->def);
    else if (k->def)
        fprintf(out, "`\"\"`");
    else
        fprintf(out, "—");
}

static void write_section(const struct cfg_section *sec, FILE *out,
                          const struct cfg_section **done, size_t *n_done)
{
    for (size_t i = 0; i < *n_done; i++)
        if (done[i] == sec)
            return;
    done[(*n_done)++] = sec;

    if (*sec->path)
        fprintf(out, "\n### `%s`\n\n%s\n\n", sec->path, sec->doc);
    else
        fprintf(out, "\n### top level\n\n%s\n\n", sec->doc);
    fprintf(out, "| key | type | default | range | description |\n");
    fprintf(out, "|---|---|---|---|---|\n");
    for (const struct cfg_key *k = sec->keys; k->name; k++) {
        fprintf(out, "| `%s` | ", k->name);
        write_type(k, out);
        fprintf(out, " | ");
        write_default(k, out);
        fprintf(out, " | ");
        write_range(k, out);
        fprintf(out, " | %s", k->doc ? k->doc : "");
        if (k->example)
            fprintf(out, " Example: `%s`", k->example);
        fprintf(out, " |\n");
    }
    for (const struct cfg_key *k = sec->keys; k->name; k++)
        if (k->type == CFG_SECTION || k->type == CFG_LIST)
            write_section(k->section, out, done, n_done);
}

void config_doc_write(FILE *out)
{
    const struct cfg_section *done[64];
    size_t n_done = 0;
    fprintf(out, "## Key reference\n\n"
                 "Generated from the schema tables by `mqgate help config`. Durations take the\n"
                 "units us, ms, s, m, h, d (`250ms`, `1m30s`); sizes B, kB, KiB, MB, MiB, GB, GiB;\n"
                 "integers may be hex (`0x10`); any value may use `${ENV_VAR}`.\n");
    write_section(&cfg_schema_root, out, done, &n_done);
}
