/* What every fuzz target in tests/fuzz/ shares: the libFuzzer entry point's
 * prototype (the build has -Wmissing-prototypes), a quiet logger, and a
 * check that fails loudly. A target is one fuzz_<name>.c; it is linked with
 * libFuzzer (clang, `make fuzz`) or with replay.c (gcc, `make test`). */
#ifndef MQGATE_TESTS_FUZZ_FUZZ_H
#define MQGATE_TESTS_FUZZ_FUZZ_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gateway/log.h"

/* Runs one input; always returns 0 (libFuzzer reserves other values).
 * Anything wrong ends the process: a sanitizer report, or FUZZ_CHECK. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test: when it does not hold, say which and
 * abort, so libFuzzer saves the input as a crash. */
#define FUZZ_CHECK(cond)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

/* Log everything (so the formatting of fuzzed text in log lines runs too)
 * into /dev/null; FUZZ_LOG=1 in the environment keeps stderr, to see what
 * the code said about one input. */
static inline void fuzz_quiet_log(void)
{
    if (getenv("FUZZ_LOG")) {
        log_init(LOG_LEVEL_DEBUG);
        return;
    }
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd >= 0)
        log_set_output_fd(fd); /* kept open for the life of the process */
    log_init(LOG_LEVEL_TRACE);
}

/* A FILE for output nobody reads (summaries, diagnostics). */
static inline FILE *fuzz_devnull(void)
{
    static FILE *f;
    if (!f)
        f = fopen("/dev/null", "w");
    FUZZ_CHECK(f != NULL);
    return f;
}

#endif
