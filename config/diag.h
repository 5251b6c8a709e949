/* Diagnostics for configuration: every error and warning found while loading,
 * each with the FILE:LINE:COL it came from, printed gcc-style once loading is
 * over. Loading never stops at the first problem; it collects them all here. */
#ifndef MQGATE_CONFIG_DIAG_H
#define MQGATE_CONFIG_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* A place in a configuration file. Lines and columns are 1-based; 0 means
 * "the file as a whole". `file` is borrowed from the owning config; a diag
 * entry keeps its own copy, so diagnostics outlive a config that failed. */
struct cfg_pos {
    const char *file;
    unsigned line;
    unsigned col;
};

enum diag_severity { DIAG_ERROR, DIAG_WARNING };

struct diag_entry {
    enum diag_severity severity;
    struct cfg_pos pos;
    char *message;
};

/* A growing list of diagnostics. Zero-initialise, or use diag_init. */
struct diag {
    struct diag_entry *entries;
    size_t count;
    size_t capacity;
    size_t errors;
    size_t warnings;
    int oom;            /* an entry could not be recorded: out of memory */
    /* While set, a diagnostic at a line:col that already has an error is
     * dropped: the loader sets it for the passes after parsing, whose checks
     * may trip over a token the parser already reported. */
    bool one_per_position;
};

void diag_init(struct diag *d);
void diag_free(struct diag *d);

/* Record a diagnostic at `pos`. Never fails from the caller's view: when memory
 * runs out, `oom` is set and the count still goes up, so errors are never lost
 * silently. See `one_per_position`. */
void diag_error(struct diag *d, struct cfg_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_warning(struct diag *d, struct cfg_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Whether an error was recorded at exactly `pos`. */
bool diag_has_error_at(const struct diag *d, struct cfg_pos pos);

/* Sort by file, line and column (stable), then print each entry as
 * "FILE:LINE:COL: error: MESSAGE". */
void diag_print(struct diag *d, FILE *out);

/* Format one entry as diag_print would, without the newline; for tests. */
int diag_format(const struct diag_entry *e, char *buf, size_t size);

#endif
