/* Regression replay without libFuzzer: a main for one fuzz target (linked
 * with its fuzz_<name>.c and built like any test) that runs
 * LLVMFuzzerTestOneInput once over every file of the directories (or the
 * files) it is given, in name order, so the seed corpus and every crash
 * found so far are checked by the ordinary test run, plain and under
 * ASan+UBSan. A bad input ends the process (sanitizer report or abort);
 * the name of the input being run is on stderr just before.
 *   replay_<name> DIR|FILE...     prints "replayed N inputs"; exit 0, or 2
 *                                 when a path cannot be read */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

/* The whole file in a buffer of exactly its size (so an over-read is an
 * ASan error, as under libFuzzer). NULL on error, with a message. */
static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    uint8_t *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc(n > 0 ? (size_t)n : 1);
        if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    if (!buf)
        fprintf(stderr, "replay: cannot read %s\n", path);
    *len = n > 0 ? (size_t)n : 0;
    return buf;
}

static int run_file(const char *path)
{
    size_t len;
    uint8_t *buf = read_all(path, &len);
    if (!buf)
        return -1;
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

static int skip_hidden(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

/* Every regular file directly in `dir`; returns how many ran, or -1. */
static long run_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, skip_hidden, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    long ran = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(path) < 0)
                ran = -1;
            else if (ran >= 0)
                ran++;
        }
        free(names[i]);
    }
    free(names);
    return ran;
}

int main(int argc, char **argv)
{
    long total = 0;
    int status = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        long n;
        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            n = -1;
        } else {
            n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) < 0 ? -1 : 1;
        }
        if (n < 0)
            status = 2;
        else
            total += n;
    }
    printf("replayed %ld inputs\n", total);
    return status;
}
