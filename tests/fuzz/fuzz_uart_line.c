/* Fuzz target: the text-line framer (drivers/uart/framer_line.c) and its
 * four formats, over a table of devices: delimiters of one and several
 * bytes, the shortest max_length, every value type. See uart_fuzz.h for the
 * input layout and the checks. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/uart_fuzz.h"

static const char *const devices[] = {
    /* 0: whole lines, untyped and typed, the shortest lines allowed */
    "    line: { max_length: 8 }\n"
    "    points:\n"
    "      - { name: v }\n"
    "      - { name: f, type: float64 }\n"
    "      - { name: b, type: bool }\n"
    "      - { name: s, type: string }\n",
    /* 1: CSV with CRLF lines */
    "    line: { delimiter: \"\\r\\n\", format: csv, separator: \";\" }\n"
    "    points:\n"
    "      - { name: c0, column: 0 }\n"
    "      - { name: c1, column: 1, type: int16 }\n"
    "      - { name: c2, column: 2, type: uint64 }\n"
    "      - { name: c3, column: 3, type: float32 }\n"
    "      - { name: c9, column: 9, type: raw }\n",
    /* 2: key/value pairs */
    "    line: { format: kv, separator: \",\", kv_separator: \"=\" }\n"
    "    points:\n"
    "      - { name: t, key: T }\n"
    "      - { name: h, key: H, type: uint16 }\n"
    "      - { name: p, key: P, type: int64 }\n"
    "      - { name: on, key: ON, type: bool }\n",
    /* 3: a regex, a multi-byte delimiter */
    "    line: { delimiter: \"END\", format: regex, regex: 'T=([0-9.+-]+),H=([0-9]+)(,X=(.*))?' }\n"
    "    points:\n"
    "      - { name: all, group: 0 }\n"
    "      - { name: t, group: 1, type: float64 }\n"
    "      - { name: h, group: 2, type: uint32 }\n"
    "      - { name: x, group: 4, type: string }\n",
    /* 4: escapes in the delimiter, multi-character separators */
    "    line: { delimiter: \"\\x03\\x02\", format: kv, separator: \"; \", kv_separator: \": \","
    " max_length: 64 }\n"
    "    points:\n"
    "      - { name: a, key: a }\n"
    "      - { name: b, key: b, type: int32 }\n",
    /* 5: CSV split on a tab, long lines */
    "    line: { delimiter: \"\\n\", format: csv, separator: \"\\t\", max_length: 4096 }\n"
    "    points:\n"
    "      - { name: c0, column: 0, type: bool }\n"
    "      - { name: c1, column: 1 }\n",
};

#define N_DEVICES (sizeof(devices) / sizeof(devices[0]))

/* A line comes without its delimiter and is never over max_length. */
static void check_line(const struct cfg_device *dev, const struct framer_record *rec)
{
    FUZZ_CHECK(rec->len <= dev->line.max_length);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config *configs[N_DEVICES];
    if (!configs[0]) {
        fuzz_quiet_log();
        for (size_t i = 0; i < N_DEVICES; i++)
            configs[i] = uart_fuzz_load("line", devices[i]);
    }
    uart_fuzz_run(configs, N_DEVICES, check_line, data, size);
    return 0;
}
