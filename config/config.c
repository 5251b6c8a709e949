/* Entry points of the configuration module: read a file, run the parse,
 * resolve and validate passes over it, and free the result. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/config.h"
#include "config/load_internal.h"

/* A config larger than this is a mistake (or an attack), not a gateway. */
#define CONFIG_MAX_BYTES (16u << 20)

static void report_syntax_error(struct load_ctx *ctx, const yaml_parser_t *p)
{
    struct cfg_pos pos = { ctx->file, (unsigned)p->problem_mark.line + 1,
                           (unsigned)p->problem_mark.column + 1 };
    if (p->error == YAML_MEMORY_ERROR) {
        diag_error(ctx->diag, pos, "out of memory while reading YAML");
    } else if (p->context) {
        diag_error(ctx->diag, pos, "%s (%s at %u:%u)", p->problem ? p->problem : "syntax error",
                   p->context, (unsigned)p->context_mark.line + 1,
                   (unsigned)p->context_mark.column + 1);
    } else {
        diag_error(ctx->diag, pos, "%s", p->problem ? p->problem : "syntax error");
    }
}

static void run_passes(struct load_ctx *ctx, struct config *cfg)
{
    config_resolve(ctx, cfg);
    validate_gateway(ctx, cfg);
    validate_broker(ctx, cfg);
    validate_buses(ctx, cfg);
    validate_devices(ctx, cfg);
    validate_publish(ctx, cfg);
    validate_bridge(ctx, cfg);
}

int config_load_string(const char *name, const char *text, size_t len, struct config **out,
                       struct diag *diag)
{
    *out = NULL;
    struct config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg || !(cfg->file = strdup(name))) {
        free(cfg);
        diag_error(diag, (struct cfg_pos){ name, 0, 0 }, "out of memory");
        return -1;
    }
    struct load_ctx ctx = { .diag = diag, .file = cfg->file };
    size_t errors_before = diag->errors;

    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_doc = false;
    if (!yaml_parser_initialize(&parser)) {
        diag_error(diag, (struct cfg_pos){ cfg->file, 0, 0 }, "out of memory");
    } else {
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
        if (!yaml_parser_load(&parser, &doc))
            report_syntax_error(&ctx, &parser);
        else
            have_doc = true;
    }
    if (have_doc) {
        load_parse_root(&ctx, &doc, cfg);
        ctx.doc = NULL;
        yaml_document_delete(&doc);
        /* The later passes run even after parse errors, so one run shows every
         * problem; they treat fields that failed to parse as absent. */
        bool was = diag->one_per_position;
        diag->one_per_position = true;
        run_passes(&ctx, cfg);
        diag->one_per_position = was;
    }
    yaml_parser_delete(&parser);
    free(ctx.fields);
    free(ctx.poisoned);

    if (diag->errors != errors_before) {
        config_free(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

int config_load_file(const char *path, struct config **out, struct diag *diag)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_error(diag, (struct cfg_pos){ path, 0, 0 }, "cannot open: %s", strerror(errno));
        return -1;
    }
    char *buf = malloc(CONFIG_MAX_BYTES + 1);
    size_t len = buf ? fread(buf, 1, CONFIG_MAX_BYTES + 1, f) : 0;
    int read_error = ferror(f);
    fclose(f);
    if (!buf || read_error || len > CONFIG_MAX_BYTES) {
        diag_error(diag, (struct cfg_pos){ path, 0, 0 }, "%s",
                   !buf ? "out of memory" : read_error ? "cannot read the file" :
                   "file too large (more than 16 MiB)");
        free(buf);
        return -1;
    }
    int rc = config_load_string(path, buf, len, out, diag);
    free(buf);
    return rc;
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    section_free(&cfg_schema_root, cfg);
    free(cfg->file);
    free(cfg);
}

const struct cfg_bus *config_find_bus(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_buses; i++)
        if (cfg->buses[i].name && strcmp(cfg->buses[i].name, name) == 0)
            return &cfg->buses[i];
    return NULL;
}

bool config_point_is_set(const struct cfg_point *pt, const char *key)
{
    const struct cfg_section *points =
        cfg_schema_device.keys[cfg_key_index(&cfg_schema_device, "points")].section;
    return cfg_is_set(points, pt, key);
}
