/* Diagnostics list for configuration loading: collect, sort by position,
 * print gcc-style. */
#include "config/diag.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void diag_init(struct diag *d)
{
    memset(d, 0, sizeof(*d));
}

void diag_free(struct diag *d)
{
    for (size_t i = 0; i < d->count; i++) {
        free(d->entries[i].message);
        free((char *)d->entries[i].pos.file);
    }
    free(d->entries);
    memset(d, 0, sizeof(*d));
}

bool diag_has_error_at(const struct diag *d, struct cfg_pos pos)
{
    if (pos.line == 0)
        return false;
    for (size_t i = 0; i < d->count; i++) {
        const struct diag_entry *e = &d->entries[i];
        if (e->severity == DIAG_ERROR && e->pos.line == pos.line && e->pos.col == pos.col &&
            strcmp(e->pos.file ? e->pos.file : "", pos.file ? pos.file : "") == 0)
            return true;
    }
    return false;
}

static void diag_add(struct diag *d, enum diag_severity sev, struct cfg_pos pos,
                     const char *fmt, va_list ap)
{
    if (d->one_per_position && diag_has_error_at(d, pos))
        return;
    if (sev == DIAG_ERROR)
        d->errors++;
    else
        d->warnings++;

    if (d->count == d->capacity) {
        size_t cap = d->capacity ? d->capacity * 2 : 16;
        struct diag_entry *n = realloc(d->entries, cap * sizeof(*n));
        if (!n) {
            d->oom = 1;
            return;
        }
        d->entries = n;
        d->capacity = cap;
    }
    char *msg = NULL;
    char *file = pos.file ? strdup(pos.file) : NULL;
    if (vasprintf(&msg, fmt, ap) < 0 || (pos.file && !file)) {
        free(file);
        d->oom = 1;
        return;
    }
    pos.file = file;
    d->entries[d->count++] = (struct diag_entry){ sev, pos, msg };
}

void diag_error(struct diag *d, struct cfg_pos pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_add(d, DIAG_ERROR, pos, fmt, ap);
    va_end(ap);
}

void diag_warning(struct diag *d, struct cfg_pos pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_add(d, DIAG_WARNING, pos, fmt, ap);
    va_end(ap);
}

static int pos_compare(struct cfg_pos a, struct cfg_pos b)
{
    int c = strcmp(a.file ? a.file : "", b.file ? b.file : "");
    if (c)
        return c;
    if (a.line != b.line)
        return a.line < b.line ? -1 : 1;
    if (a.col != b.col)
        return a.col < b.col ? -1 : 1;
    return 0;
}

/* Insertion sort: stable, and the lists are short. */
static void diag_sort(struct diag *d)
{
    for (size_t i = 1; i < d->count; i++) {
        struct diag_entry e = d->entries[i];
        size_t j = i;
        while (j > 0 && pos_compare(d->entries[j - 1].pos, e.pos) > 0) {
            d->entries[j] = d->entries[j - 1];
            j--;
        }
        d->entries[j] = e;
    }
}

int diag_format(const struct diag_entry *e, char *buf, size_t size)
{
    const char *sev = e->severity == DIAG_ERROR ? "error" : "warning";
    const char *file = e->pos.file ? e->pos.file : "<config>";
    if (e->pos.line == 0)
        return snprintf(buf, size, "%s: %s: %s", file, sev, e->message);
    return snprintf(buf, size, "%s:%u:%u: %s: %s", file, e->pos.line, e->pos.col, sev,
                    e->message);
}

void diag_print(struct diag *d, FILE *out)
{
    diag_sort(d);
    for (size_t i = 0; i < d->count; i++) {
        char line[1024];
        diag_format(&d->entries[i], line, sizeof(line));
        fprintf(out, "%s\n", line);
    }
    if (d->oom)
        fprintf(out, "mqgate: out of memory: some diagnostics were not recorded\n");
}
