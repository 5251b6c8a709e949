/* Modbus RTU slave simulator for tests, benchmarks and the demo. It serves
 * the master side of a pty (tests/sim/pty_link.h) as an RS-485 bus carrying
 * several slave ids: it frames RTU requests itself, checks their CRC, lets
 * libmodbus's modbus_reply build the answers, injects faults, and obeys
 * commands on stdin, one reply line each (see tests/sim/README.md). */
#include "drivers/uart/checksum.h"
#include "gateway/log.h"
#include "tests/sim/pty_link.h"

#include <modbus.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define SIM_LOG "modbus_sim"
#define SIM_MAX_ID 247
#define SIM_NADDR 10000u                /* addresses 0..9999 of each kind */
#define SIM_GAP_NS (5 * 1000000LL)      /* silence that ends a frame */
#define SIM_ADU_MAX MODBUS_RTU_MAX_ADU_LENGTH
#define SIM_REQ_MAX (9 + 255)           /* an fc15/16 frame as its byte count says */
#define SIM_RX_MAX 1024
#define SIM_TXQ_LEN 16
#define SIM_MAX_RANGES 32
#define SIM_LINE_MAX (128 * 1024)       /* a `set` of 10000 hex values fits */
#define SIM_MAX_TOKENS (SIM_NADDR + 8)
#define SIM_OUT_MAX 8192
#define SIM_GET_MAX 1000
#define SIM_MS_MAX 600000u

enum kind { KIND_COIL, KIND_DISCRETE, KIND_HOLDING, KIND_INPUT, KIND_COUNT };
static const char *const kind_names[KIND_COUNT] = {"coil", "discrete", "holding", "input"};

enum fault_mode { FAULT_NONE, FAULT_SILENT, FAULT_SLOW, FAULT_BADCRC, FAULT_WRONGID,
                  FAULT_SPLIT, FAULT_EXCEPTION };

struct fault {
    enum fault_mode mode;
    unsigned arg; /* milliseconds (slow, split) or exception code */
};

/* Requests touching [addr, addr + count) of `kind` get exception `code`. */
struct exc_range {
    enum kind kind;
    unsigned addr, count;
    uint8_t code;
};

struct slave_stats {
    unsigned long requests, reads, writes;
    unsigned long fc[17]; /* by function code, 1..16 */
};

struct slave {
    modbus_mapping_t *map;
    struct fault fault;
    struct exc_range ranges[SIM_MAX_RANGES];
    size_t nranges;
    struct slave_stats st;
};

/* Bytes waiting to go to the master, not before `due_ns`. */
struct chunk {
    uint8_t data[SIM_ADU_MAX];
    size_t len, off;
    int64_t due_ns;
};

struct sim {
    struct pty_link link;
    bool plugged;
    modbus_t *ctx;      /* RTU, never connected: only modbus_reply uses it */
    int cap_rd, cap_wr; /* modbus_reply writes its answer into this pipe */
    int sig_fd;
    struct slave *slaves[SIM_MAX_ID + 1];

    uint8_t rx[SIM_RX_MAX];
    size_t rx_len;
    bool rx_garbage;    /* inside a run of bytes already counted as bad */
    int64_t rx_last_ns; /* when the last byte arrived */

    struct chunk txq[SIM_TXQ_LEN];
    size_t tx_head, tx_count;
    bool tx_blocked; /* the master's output is full: wait for POLLOUT */

    unsigned long requests, bad_crc, ignored;
    int64_t pace_char_ns; /* --pace: one character's time on the wire, or 0 */
    size_t request_len;   /* of the request being answered */
    bool log, quit;
    bool control; /* commands come on stdin (not with --no-control) */

    char line[SIM_LINE_MAX];
    size_t line_len;
    bool line_overflow;
    char *argv[SIM_MAX_TOKENS];
    uint16_t scratch[SIM_NADDR];
};

/* ---- small helpers ------------------------------------------------------- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool crc_ok(const uint8_t *f, size_t n)
{
    if (n < 4)
        return false;
    uint16_t crc = checksum_crc16_modbus(f, n - 2);
    return f[n - 2] == (crc & 0xff) && f[n - 1] == (crc >> 8);
}

/* Append the CRC of b[0..n) at b[n], low byte first; returns n + 2. */
static size_t crc_put(uint8_t *b, size_t n)
{
    uint16_t crc = checksum_crc16_modbus(b, n);
    b[n] = (uint8_t)(crc & 0xff);
    b[n + 1] = (uint8_t)(crc >> 8);
    return n + 2;
}

static unsigned be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static void log_hex(const struct sim *s, const char *what, const uint8_t *b, size_t n)
{
    if (!s->log)
        return;
    char hex[3 * SIM_RX_MAX + 1];
    size_t k = 0;
    for (size_t i = 0; i < n && i < SIM_RX_MAX; i++)
        k += (size_t)snprintf(hex + k, sizeof hex - k, "%s%02x", i ? " " : "", b[i]);
    hex[k] = '\0';
    log_msg(LOG_LEVEL_INFO, SIM_LOG, "%s [%zu] %s", what, n, hex);
}

/* Decimal, or hex after 0x; the whole token; at most `max`. */
static int parse_uint(const char *tok, unsigned long max, unsigned long *out)
{
    if (tok == NULL)
        return -1;
    int base = 10;
    if (tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X')) {
        base = 16;
        tok += 2;
    }
    /* strtoul would accept a sign and leading blanks: the first character
     * must already be a digit. */
    if (base == 16 ? !isxdigit((unsigned char)*tok) : !isdigit((unsigned char)*tok))
        return -1;
    char *end;
    errno = 0;
    unsigned long v = strtoul(tok, &end, base);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_kind(const char *tok, enum kind *out)
{
    for (int k = 0; tok && k < KIND_COUNT; k++) {
        if (strcmp(tok, kind_names[k]) == 0) {
            *out = (enum kind)k;
            return 0;
        }
    }
    return -1;
}

/* Split `line` in place on blanks. Returns the count, or -1 if over `max`. */
static int tokenize(char *line, char **argv, int max)
{
    int argc = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
        if (argc == max)
            return -1;
        argv[argc++] = t;
    }
    return argc;
}

__attribute__((format(printf, 3, 4)))
static int fail(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- the register map ---------------------------------------------------- */

static bool kind_is_bit(enum kind k)
{
    return k == KIND_COIL || k == KIND_DISCRETE;
}

static void map_put(modbus_mapping_t *m, enum kind k, unsigned addr, uint16_t v)
{
    switch (k) {
    case KIND_COIL: m->tab_bits[addr] = (uint8_t)v; break;
    case KIND_DISCRETE: m->tab_input_bits[addr] = (uint8_t)v; break;
    case KIND_HOLDING: m->tab_registers[addr] = v; break;
    default: m->tab_input_registers[addr] = v; break;
    }
}

static unsigned map_get(const modbus_mapping_t *m, enum kind k, unsigned addr)
{
    switch (k) {
    case KIND_COIL: return m->tab_bits[addr];
    case KIND_DISCRETE: return m->tab_input_bits[addr];
    case KIND_HOLDING: return m->tab_registers[addr];
    default: return m->tab_input_registers[addr];
    }
}

static struct slave *slave_new(void)
{
    struct slave *sl = calloc(1, sizeof *sl);
    if (sl == NULL)
        return NULL;
    sl->map = modbus_mapping_new_start_address(0, SIM_NADDR, 0, SIM_NADDR,
                                               0, SIM_NADDR, 0, SIM_NADDR);
    if (sl->map == NULL) {
        free(sl);
        return NULL;
    }
    return sl;
}

static void slave_free(struct slave *sl)
{
    if (sl == NULL)
        return;
    modbus_mapping_free(sl->map);
    free(sl);
}

/* ---- control commands ------------------------------------------------------
 * Each takes argv (argv[0] is the command's name) and returns 0 with an
 * optional text for "ok TEXT" in out, or -1 with the reason in out. */

static int arg_slave(struct sim *s, const char *tok, struct slave **sl, char *out, size_t n)
{
    unsigned long id;
    if (parse_uint(tok, SIM_MAX_ID, &id) != 0 || id == 0)
        return fail(out, n, "bad slave id '%s'", tok ? tok : "");
    if (s->slaves[id] == NULL)
        return fail(out, n, "no slave %lu", id);
    *sl = s->slaves[id];
    return 0;
}

static int arg_kind(const char *tok, enum kind *k, char *out, size_t n)
{
    if (parse_kind(tok, k) != 0)
        return fail(out, n, "bad kind '%s' (holding|input|coil|discrete)", tok ? tok : "");
    return 0;
}

static int arg_uint(const char *tok, unsigned long max, unsigned long *v, const char *what,
                    char *out, size_t n)
{
    if (parse_uint(tok, max, v) != 0)
        return fail(out, n, "bad %s '%s' (0..%lu)", what, tok ? tok : "", max);
    return 0;
}

/* set ID KIND ADDR V... : all values are checked before any is stored. */
static int cmd_set(struct sim *s, int argc, char **argv, char *out, size_t n)
{
    struct slave *sl;
    enum kind k;
    unsigned long addr, v;
    if (argc < 5)
        return fail(out, n, "usage: set ID KIND ADDR V...");
    if (arg_slave(s, argv[1], &sl, out, n) || arg_kind(argv[2], &k, out, n) ||
        arg_uint(argv[3], SIM_NADDR - 1, &addr, "address", out, n))
        return -1;
    size_t count = (size_t)argc - 4;
    if (addr + count > SIM_NADDR)
        return fail(out, n, "%zu values from %lu go past address %u", count, addr, SIM_NADDR - 1);
    for (size_t i = 0; i < count; i++) {
        if (arg_uint(argv[4 + i], kind_is_bit(k) ? 1 : 0xffff, &v, "value", out, n))
            return -1;
        s->scratch[i] = (uint16_t)v;
    }
    for (size_t i = 0; i < count; i++)
        map_put(sl->map, k, (unsigned)(addr + i), s->scratch[i]);
    return 0;
}

/* get ID KIND ADDR [COUNT] -> "ok V [V...]" */
static int cmd_get(struct sim *s, int argc, char **argv, char *out, size_t n)
{
    struct slave *sl;
    enum kind k;
    unsigned long addr, count = 1;
    if (argc != 4 && argc != 5)
        return fail(out, n, "usage: get ID KIND ADDR [COUNT]");
    if (arg_slave(s, argv[1], &sl, out, n) || arg_kind(argv[2], &k, out, n) ||
        arg_uint(argv[3], SIM_NADDR - 1, &addr, "address", out, n) ||
        (argc == 5 && arg_uint(argv[4], SIM_GET_MAX, &count, "count", out, n)))
        return -1;
    if (count == 0 || addr + count > SIM_NADDR)
        return fail(out, n, "bad count %lu at address %lu", count, addr);
    size_t len = 0;
    for (unsigned long i = 0; i < count; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%u", i ? " " : "",
                                map_get(sl->map, k, (unsigned)(addr + i)));
    return 0;
}

/* fault ID none|silent|slow MS|badcrc|wrongid|split MS|exception CODE */
static int cmd_fault(struct sim *s, int argc, char **argv, char *out, size_t n)
{
    static const struct { const char *name; enum fault_mode mode; unsigned long max; } modes[] = {
        {"none", FAULT_NONE, 0},     {"silent", FAULT_SILENT, 0},
        {"slow", FAULT_SLOW, SIM_MS_MAX}, {"badcrc", FAULT_BADCRC, 0},
        {"wrongid", FAULT_WRONGID, 0}, {"split", FAULT_SPLIT, SIM_MS_MAX},
        {"exception", FAULT_EXCEPTION, 255},
    };
    struct slave *sl;
    if (argc < 3 || arg_slave(s, argv[1], &sl, out, n))
        return argc < 3 ? fail(out, n, "usage: fault ID MODE [ARG]") : -1;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(argv[2], modes[i].name) != 0)
            continue;
        unsigned long arg = 0;
        bool wants = modes[i].max != 0;
        if (argc != (wants ? 4 : 3))
            return fail(out, n, "fault %s takes %s", modes[i].name, wants ? "one number" : "no argument");
        if (wants && arg_uint(argv[3], modes[i].max, &arg, "argument", out, n))
            return -1;
        if (modes[i].mode == FAULT_EXCEPTION && arg == 0)
            return fail(out, n, "exception code must be 1..255");
        sl->fault = (struct fault){modes[i].mode, (unsigned)arg};
        return 0;
    }
    return fail(out, n, "bad fault '%s' (none|silent|slow MS|badcrc|wrongid|split MS|exception CODE)",
                argv[2]);
}

/* exception ID KIND ADDR COUNT CODE | exception ID clear */
static int cmd_exception(struct sim *s, int argc, char **argv, char *out, size_t n)
{
    struct slave *sl;
    enum kind k;
    unsigned long addr, count, code;
    if (argc == 3 && strcmp(argv[2], "clear") == 0) {
        if (arg_slave(s, argv[1], &sl, out, n))
            return -1;
        sl->nranges = 0;
        return 0;
    }
    if (argc != 6)
        return fail(out, n, "usage: exception ID KIND ADDR COUNT CODE | exception ID clear");
    if (arg_slave(s, argv[1], &sl, out, n) || arg_kind(argv[2], &k, out, n) ||
        arg_uint(argv[3], 0xffff, &addr, "address", out, n) ||
        arg_uint(argv[4], 0x10000 - addr, &count, "count", out, n) ||
        arg_uint(argv[5], 255, &code, "exception code", out, n))
        return -1;
    if (count == 0 || code == 0)
        return fail(out, n, "count and code must be at least 1");
    if (sl->nranges == SIM_MAX_RANGES)
        return fail(out, n, "at most %d exception ranges per slave", SIM_MAX_RANGES);
    sl->ranges[sl->nranges++] = (struct exc_range){k, (unsigned)addr, (unsigned)count, (uint8_t)code};
    return 0;
}

static int cmd_stats(struct sim *s, int argc, char **argv, char *out, size_t n)
{
    struct slave *sl;
    if (argc == 1) {
        snprintf(out, n, "requests=%lu bad_crc=%lu ignored=%lu", s->requests, s->bad_crc, s->ignored);
        return 0;
    }
    if (argc != 2 || arg_slave(s, argv[1], &sl, out, n))
        return argc != 2 ? fail(out, n, "usage: stats [ID]") : -1;
    const struct slave_stats *st = &sl->st;
    snprintf(out, n,
             "requests=%lu reads=%lu writes=%lu fc01=%lu fc02=%lu fc03=%lu fc04=%lu "
             "fc05=%lu fc06=%lu fc15=%lu fc16=%lu",
             st->requests, st->reads, st->writes, st->fc[1], st->fc[2], st->fc[3], st->fc[4],
             st->fc[5], st->fc[6], st->fc[15], st->fc[16]);
    return 0;
}

static int cmd_reset_stats(struct sim *s, int argc, char **argv, char *out, size_t n)
{
    (void)argv;
    if (argc != 1)
        return fail(out, n, "reset-stats takes no argument");
    s->requests = s->bad_crc = s->ignored = 0;
    for (int id = 1; id <= SIM_MAX_ID; id++)
        if (s->slaves[id])
            memset(&s->slaves[id]->st, 0, sizeof s->slaves[id]->st);
    return 0;
}

static void io_reset(struct sim *s)
{
    s->rx_len = 0;
    s->rx_garbage = false;
    s->tx_count = 0;
    s->tx_head = 0;
    s->tx_blocked = false;
}

static int cmd_unplug(struct sim *s, int argc, char **argv, char *out, size_t n)
{
    (void)argv;
    if (argc != 1)
        return fail(out, n, "unplug takes no argument");
    pty_link_unplug(&s->link);
    s->plugged = false;
    io_reset(s);
    return 0;
}

static int cmd_replug(struct sim *s, int argc, char **argv, char *out, size_t n)
{
    (void)argv;
    if (argc != 1)
        return fail(out, n, "replug takes no argument");
    io_reset(s);
    int rc = pty_link_replug(&s->link);
    s->plugged = rc == 0;
    if (rc != 0)
        return fail(out, n, "replug %s: %s", s->link.path, strerror(-rc));
    return 0;
}

static int cmd_log(struct sim *s, int argc, char **argv, char *out, size_t n)
{
    if (argc != 2 || (strcmp(argv[1], "on") != 0 && strcmp(argv[1], "off") != 0))
        return fail(out, n, "usage: log on|off");
    s->log = strcmp(argv[1], "on") == 0;
    return 0;
}

static int cmd_quit(struct sim *s, int argc, char **argv, char *out, size_t n)
{
    (void)argc;
    (void)argv;
    (void)out;
    (void)n;
    s->quit = true;
    return 0;
}

typedef int (*cmd_fn)(struct sim *s, int argc, char **argv, char *out, size_t n);

static const struct {
    const char *name;
    cmd_fn fn;
} commands[] = {
    {"set", cmd_set},         {"get", cmd_get},       {"fault", cmd_fault},
    {"exception", cmd_exception}, {"stats", cmd_stats}, {"reset-stats", cmd_reset_stats},
    {"unplug", cmd_unplug},   {"replug", cmd_replug}, {"log", cmd_log},
    {"quit", cmd_quit},
};

/* One line of stdout per command; the reader waits for it, so flush. A
 * reader that went away means nobody controls us any more: stop. */
__attribute__((format(printf, 2, 3)))
static void ctl_print(struct sim *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (fflush(stdout) != 0 || ferror(stdout))
        s->quit = true;
}

static void ctl_exec(struct sim *s, char *line)
{
    static char out[SIM_OUT_MAX];
    int argc = tokenize(line, s->argv, SIM_MAX_TOKENS);
    if (argc == 0)
        return; /* blank lines get no answer: they are not commands */
    out[0] = '\0';
    int rc = -1;
    if (argc < 0) {
        fail(out, sizeof out, "too many arguments");
    } else {
        snprintf(out, sizeof out, "unknown command '%s'", s->argv[0]);
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
            if (strcmp(s->argv[0], commands[i].name) == 0) {
                out[0] = '\0';
                rc = commands[i].fn(s, argc, s->argv, out, sizeof out);
                break;
            }
        }
    }
    if (rc == 0)
        ctl_print(s, "ok%s%s\n", out[0] ? " " : "", out);
    else
        ctl_print(s, "err %s\n", out);
}

/* Read what stdin has and run each complete line. EOF stops the simulator. */
static void ctl_read(struct sim *s)
{
    size_t room = sizeof s->line - 1 - s->line_len;
    ssize_t r = read(STDIN_FILENO, s->line + s->line_len, room);
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (r <= 0) {
        if (s->line_len > 0 && !s->line_overflow) {
            s->line[s->line_len] = '\0';
            ctl_exec(s, s->line);
        }
        s->quit = true;
        return;
    }
    s->line_len += (size_t)r;
    char *start = s->line, *nl;
    while (!s->quit && (nl = memchr(start, '\n', s->line_len - (size_t)(start - s->line))) != NULL) {
        *nl = '\0';
        if (s->line_overflow)
            ctl_print(s, "err line longer than %d bytes\n", SIM_LINE_MAX - 2);
        else
            ctl_exec(s, start);
        s->line_overflow = false;
        start = nl + 1;
    }
    s->line_len -= (size_t)(start - s->line);
    memmove(s->line, start, s->line_len);
    if (s->line_len == sizeof s->line - 1) { /* no newline in a full buffer */
        s->line_overflow = true;
        s->line_len = 0;
    }
}

/* ---- replies ---------------------------------------------------------------- */

static void txq_push(struct sim *s, const uint8_t *b, size_t n, int64_t due_ns)
{
    if (n == 0)
        return;
    if (s->tx_count == SIM_TXQ_LEN) {
        log_msg(LOG_LEVEL_WARN, SIM_LOG, "output queue full: reply dropped");
        return;
    }
    struct chunk *c = &s->txq[(s->tx_head + s->tx_count++) % SIM_TXQ_LEN];
    memcpy(c->data, b, n);
    c->len = n;
    c->off = 0;
    c->due_ns = due_ns;
}

static size_t exception_build(uint8_t *rsp, uint8_t id, uint8_t fc, uint8_t code)
{
    rsp[0] = id;
    rsp[1] = (uint8_t)(fc | 0x80);
    rsp[2] = code;
    return crc_put(rsp, 3);
}

/* Which kind and addresses a request touches; false for other functions. */
static bool request_span(const uint8_t *f, enum kind *k, unsigned *addr, unsigned *count)
{
    static const int kinds[17] = {
        [1] = KIND_COIL, [2] = KIND_DISCRETE, [3] = KIND_HOLDING, [4] = KIND_INPUT,
        [5] = KIND_COIL, [6] = KIND_HOLDING, [15] = KIND_COIL, [16] = KIND_HOLDING,
    };
    uint8_t fc = f[1];
    if (fc > 16 || (fc > 6 && fc < 15))
        return false;
    *k = (enum kind)kinds[fc];
    *addr = be16(f + 2);
    *count = (fc == 5 || fc == 6) ? 1 : be16(f + 4);
    return true;
}

static bool fc_known(uint8_t fc)
{
    return (fc >= 1 && fc <= 6) || fc == 15 || fc == 16;
}

/* The exception code a configured range gives this request, or 0. */
static uint8_t range_exception(const struct slave *sl, const uint8_t *f)
{
    enum kind k;
    unsigned addr, count;
    if (!request_span(f, &k, &addr, &count))
        return 0;
    for (size_t i = 0; i < sl->nranges; i++) {
        const struct exc_range *r = &sl->ranges[i];
        if (r->kind == k && addr < r->addr + r->count && r->addr < addr + count)
            return r->code;
    }
    return 0;
}

/* libmodbus 3.1.6's modbus_reply trusts the byte count of fc15/16 and reads
 * the values from where the quantity says: a request whose two disagree
 * gets "illegal data value" here, as the specification asks. */
static bool byte_count_ok(const uint8_t *f)
{
    unsigned qty = be16(f + 4);
    if (f[1] == 15)
        return f[6] == (qty + 7) / 8;
    if (f[1] == 16)
        return f[6] == 2 * qty;
    return true;
}

/* Let modbus_reply answer (and apply writes); the answer lands in the capture
 * pipe, never straight on the master, so faults can change it (see README). */
static size_t reply_libmodbus(struct sim *s, struct slave *sl, const uint8_t *f, size_t n,
                              uint8_t *rsp)
{
    uint8_t req[SIM_REQ_MAX] = {0};
    memcpy(req, f, n);
    modbus_set_slave(s->ctx, f[0]);
    if (modbus_reply(s->ctx, req, (int)n, sl->map) < 0)
        log_msg(LOG_LEVEL_WARN, SIM_LOG, "modbus_reply: %s", modbus_strerror(errno));
    ssize_t r = read(s->cap_rd, rsp, SIM_ADU_MAX);
    return r > 0 ? (size_t)r : 0;
}

static size_t reply_build(struct sim *s, struct slave *sl, const uint8_t *f, size_t n, uint8_t *rsp)
{
    uint8_t code = 0;
    if (sl->fault.mode == FAULT_EXCEPTION)
        code = (uint8_t)sl->fault.arg;
    else if (!fc_known(f[1]))
        code = MODBUS_EXCEPTION_ILLEGAL_FUNCTION;
    else if ((code = range_exception(sl, f)) == 0 && !byte_count_ok(f))
        code = MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE;
    if (code != 0)
        return exception_build(rsp, f[0], f[1], code);
    return reply_libmodbus(s, sl, f, n, rsp);
}

/* Queue the answer as the slave's fault says. Slow and split replies wait in
 * the queue instead of sleeping, so stdin and the other slaves are served
 * meanwhile; later replies queue behind them, as on a half-duplex bus. */
/* With --pace, a reply leaves when it would have been complete on a real
 * line: the request's characters, the 3.5-character silence that ends a
 * frame, then the reply's characters (the benchmark's line model). */
static int64_t wire_ns(const struct sim *s, size_t reply_len)
{
    return s->pace_char_ns * (int64_t)(s->request_len + reply_len) + s->pace_char_ns * 7 / 2;
}

static void reply_send(struct sim *s, const struct slave *sl, uint8_t *rsp, size_t n)
{
    int64_t now = now_ns() + wire_ns(s, n), ms = (int64_t)sl->fault.arg * 1000000LL;
    if (n < 4)
        return;
    switch (sl->fault.mode) {
    case FAULT_BADCRC:
        rsp[n - 1] ^= 0xff;
        break;
    case FAULT_WRONGID:
        rsp[0] = (uint8_t)(rsp[0] == SIM_MAX_ID ? 1 : rsp[0] + 1);
        crc_put(rsp, n - 2);
        break;
    case FAULT_SLOW:
        txq_push(s, rsp, n, now + ms);
        log_hex(s, "tx (slow)", rsp, n);
        return;
    case FAULT_SPLIT:
        txq_push(s, rsp, 3, now);
        txq_push(s, rsp + 3, n - 3, now + ms);
        log_hex(s, "tx (split)", rsp, n);
        return;
    default:
        break;
    }
    txq_push(s, rsp, n, now);
    log_hex(s, "tx", rsp, n);
}

static void stats_count(struct slave *sl, uint8_t fc)
{
    sl->st.requests++;
    if (fc >= 1 && fc <= 4)
        sl->st.reads++;
    else if (fc == 5 || fc == 6 || fc == 15 || fc == 16)
        sl->st.writes++;
    if (fc <= 16)
        sl->st.fc[fc]++;
}

/* Broadcast (id 0): every slave applies a write and nobody answers. */
static void frame_broadcast(struct sim *s, const uint8_t *f, size_t n)
{
    uint8_t fc = f[1], rsp[SIM_ADU_MAX];
    if (fc != 5 && fc != 6 && fc != 15 && fc != 16) {
        s->ignored++;
        return;
    }
    s->requests++;
    for (int id = 1; id <= SIM_MAX_ID; id++) {
        struct slave *sl = s->slaves[id];
        if (sl == NULL)
            continue;
        stats_count(sl, fc);
        if (sl->fault.mode == FAULT_NONE && !range_exception(sl, f) && byte_count_ok(f))
            reply_libmodbus(s, sl, f, n, rsp); /* writes nothing for id 0 */
    }
}

/* A frame with a valid CRC. */
static void frame_dispatch(struct sim *s, const uint8_t *f, size_t n)
{
    log_hex(s, "rx", f, n);
    if (f[0] == 0) {
        frame_broadcast(s, f, n);
        return;
    }
    struct slave *sl = f[0] <= SIM_MAX_ID ? s->slaves[f[0]] : NULL;
    if (sl == NULL) { /* another device's frame on the bus */
        s->ignored++;
        return;
    }
    s->requests++;
    stats_count(sl, f[1]);
    if (sl->fault.mode == FAULT_SILENT)
        return;
    uint8_t rsp[SIM_ADU_MAX];
    size_t len = reply_build(s, sl, f, n, rsp);
    s->request_len = n;
    reply_send(s, sl, rsp, len);
}

/* ---- framing ------------------------------------------------------------------ */

/* Bytes of the request starting at b, CRC included: 0 = need more bytes to
 * tell, -1 = a function code whose length we do not compute. */
static long frame_length(const uint8_t *b, size_t len)
{
    if (len < 2)
        return 0;
    if (b[1] >= 1 && b[1] <= 6)
        return 8;
    if (b[1] == 15 || b[1] == 16)
        return len < 7 ? 0 : 9 + (long)b[6];
    return -1;
}

static void rx_bad(struct sim *s, const char *why)
{
    if (s->rx_garbage)
        return;
    s->rx_garbage = true;
    s->bad_crc++;
    if (s->log)
        log_msg(LOG_LEVEL_INFO, SIM_LOG, "dropping bytes: %s", why);
}

/* Take every complete frame off the front of rx. After a bad CRC, slide one
 * byte at a time to find the next frame start (noise then a request in one
 * burst still gets its answer); the whole run counts as one bad frame. */
static void rx_parse(struct sim *s)
{
    size_t pos = 0;
    while (s->rx_len - pos >= 2 && !s->quit) {
        const uint8_t *f = s->rx + pos;
        size_t avail = s->rx_len - pos;
        long need = frame_length(f, avail);
        if (need == 0)
            break;
        if (need < 0) {
            /* Unknown function code: only the silence after it can end it. */
            if (!s->rx_garbage && avail <= SIM_ADU_MAX)
                break;
            rx_bad(s, "unframeable bytes");
            pos++;
            continue;
        }
        if (avail < (size_t)need)
            break;
        if (crc_ok(f, (size_t)need)) {
            frame_dispatch(s, f, (size_t)need);
            s->rx_garbage = false;
            pos += (size_t)need;
        } else {
            rx_bad(s, "bad CRC");
            pos++;
        }
    }
    s->rx_len -= pos;
    memmove(s->rx, s->rx + pos, s->rx_len);
}

/* The line fell silent with bytes left over: they are a frame with a
 * function code we do not frame by length, a request with noise before it,
 * or garbage. */
static void rx_on_gap(struct sim *s)
{
    size_t n = s->rx_len;
    if (!s->rx_garbage && frame_length(s->rx, n) < 0 && crc_ok(s->rx, n)) {
        frame_dispatch(s, s->rx, n);
    } else {
        size_t off;
        for (off = 1; off + 4 <= n; off++)
            if (frame_length(s->rx + off, n - off) == (long)(n - off) && crc_ok(s->rx + off, n - off))
                break;
        rx_bad(s, "incomplete frame or noise");
        if (off + 4 <= n)
            frame_dispatch(s, s->rx + off, n - off);
    }
    s->rx_len = 0;
    s->rx_garbage = false;
}

/* ---- the link ---------------------------------------------------------------- */

/* EIO on the master: the pty is dead (pty_link holds the far end open, so
 * this should not happen). Make a new one at the same path. */
static void link_lost(struct sim *s, int err)
{
    log_msg(LOG_LEVEL_WARN, SIM_LOG, "%s: %s; replugging", s->link.path, strerror(err));
    io_reset(s);
    int rc = pty_link_replug(&s->link);
    s->plugged = rc == 0;
    if (rc != 0)
        log_msg(LOG_LEVEL_ERROR, SIM_LOG, "replug %s: %s (waiting for the replug command)",
                s->link.path, strerror(-rc));
}

static void link_read(struct sim *s)
{
    while (s->plugged && !s->quit) {
        if (s->rx_len == sizeof s->rx) { /* cannot happen: parse keeps < 2 ADUs */
            rx_bad(s, "receive buffer full");
            s->rx_len = 0;
        }
        ssize_t r = read(s->link.master, s->rx + s->rx_len, sizeof s->rx - s->rx_len);
        if (r > 0) {
            s->rx_len += (size_t)r;
            s->rx_last_ns = now_ns();
            rx_parse(s);
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else if (r < 0 && errno == EAGAIN) {
            return;
        } else {
            link_lost(s, r == 0 ? EIO : errno);
            return;
        }
    }
}

static void link_write(struct sim *s)
{
    int64_t now = now_ns();
    while (s->plugged && s->tx_count > 0) {
        struct chunk *c = &s->txq[s->tx_head];
        if (c->due_ns > now)
            return;
        ssize_t w = write(s->link.master, c->data + c->off, c->len - c->off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            s->tx_blocked = true;
            return;
        }
        if (w < 0) {
            link_lost(s, errno);
            return;
        }
        c->off += (size_t)w;
        if (c->off == c->len) {
            s->tx_head = (s->tx_head + 1) % SIM_TXQ_LEN;
            s->tx_count--;
        }
    }
}

/* ---- the loop ------------------------------------------------------------------ */

/* Until the silence ends a frame or a delayed reply is due; -1 for none. */
static int loop_timeout_ms(const struct sim *s)
{
    int64_t until = -1;
    if (s->rx_len > 0)
        until = s->rx_last_ns + SIM_GAP_NS;
    if (s->tx_count > 0 && !s->tx_blocked) {
        int64_t due = s->txq[s->tx_head].due_ns;
        if (until < 0 || due < until)
            until = due;
    }
    if (until < 0)
        return -1;
    int64_t ms = (until - now_ns() + 999999) / 1000000; /* round up: no busy wait */
    return ms <= 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}

static int sim_run(struct sim *s)
{
    while (!s->quit) {
        link_write(s);
        if (s->rx_len > 0 && now_ns() - s->rx_last_ns >= SIM_GAP_NS) {
            rx_on_gap(s);
            continue;
        }
        struct pollfd p[3] = {
            {.fd = s->control ? STDIN_FILENO : -1, .events = POLLIN},
            {.fd = s->sig_fd, .events = POLLIN},
            {.fd = s->plugged ? s->link.master : -1,
             .events = (short)(POLLIN | (s->tx_blocked ? POLLOUT : 0))},
        };
        int rc = poll(p, 3, loop_timeout_ms(s));
        if (rc < 0 && errno != EINTR) {
            log_msg(LOG_LEVEL_ERROR, SIM_LOG, "poll: %s", strerror(errno));
            return 1;
        }
        if (rc <= 0)
            continue;
        if (p[1].revents)
            s->quit = true;
        if (p[2].revents & POLLOUT)
            s->tx_blocked = false;
        /* Hang-up without data means the pty died; replugging gives a new
         * fd, so this cannot spin. */
        if (p[2].revents & POLLIN)
            link_read(s);
        else if (p[2].revents & (POLLERR | POLLHUP | POLLNVAL))
            link_lost(s, EIO);
        if (p[0].revents && !s->quit)
            ctl_read(s);
    }
    return 0;
}

/* ---- setup ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: modbus_sim --link PATH --slave ID [--slave ID]...\n"
            "                  [--set ID:KIND:ADDR=V[,V...]]... [--map FILE]... [--log]\n"
            "                  [--no-control] [--pace BAUD]\n"
            "Serves Modbus RTU slaves ID (1..247) on a pty reachable at PATH.\n"
            "KIND is holding, input, coil or discrete; addresses 0..9999; values\n"
            "decimal or 0x hex. A map FILE has lines 'ID KIND ADDR V V...' (# comments).\n"
            "Prints 'ready PATH' when serving, then takes commands on stdin\n"
            "(see tests/sim/README.md) and stops at its end, on quit, SIGINT or\n"
            "SIGTERM; --no-control ignores stdin. --pace BAUD delays each reply by\n"
            "the time request and reply take on an 8N1 line at BAUD (benchmarks).\n"
            "Exit status 2 on bad arguments.\n");
}

/* "1:holding:0=0x4148,0" -> the set command's tokens. */
static int apply_set_spec(struct sim *s, const char *spec)
{
    char buf[SIM_LINE_MAX], out[SIM_OUT_MAX];
    snprintf(buf, sizeof buf, "set %s", spec);
    for (char *p = buf; *p; p++)
        if (*p == ':' || *p == '=' || *p == ',')
            *p = ' ';
    int argc = tokenize(buf, s->argv, SIM_MAX_TOKENS);
    if (argc < 0 || cmd_set(s, argc, s->argv, out, sizeof out) != 0) {
        fprintf(stderr, "modbus_sim: --set %s: %s\n", spec, argc < 0 ? "too many values" : out);
        return -1;
    }
    return 0;
}

static int apply_map_file(struct sim *s, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "modbus_sim: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL, out[SIM_OUT_MAX];
    size_t cap = 0;
    int rc = 0;
    for (unsigned lineno = 1; rc == 0 && getline(&line, &cap, f) >= 0; lineno++) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        s->argv[0] = (char *)"set";
        int argc = tokenize(line, s->argv + 1, SIM_MAX_TOKENS - 1);
        if (argc == 0)
            continue;
        if (argc < 0 || cmd_set(s, argc + 1, s->argv, out, sizeof out) != 0) {
            fprintf(stderr, "%s:%u: %s\n", path, lineno, argc < 0 ? "too many values" : out);
            rc = -1;
        }
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "modbus_sim: %s: read error\n", path);
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

struct options {
    const char *link;
    const char *sets[64]; /* --set and --map in command-line order */
    bool is_map[64];
    size_t nsets;
    bool log, no_control;
    long pace_baud;
};

/* Declares the slaves as it goes; --set/--map are applied afterwards, so
 * their place on the command line does not matter. 0, 1 for --help, or -1
 * (usage). */
static int parse_args(struct sim *s, struct options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"link", required_argument, NULL, 'l'}, {"slave", required_argument, NULL, 's'},
        {"set", required_argument, NULL, 'S'},  {"map", required_argument, NULL, 'm'},
        {"log", no_argument, NULL, 'L'},        {"help", no_argument, NULL, 'h'},
        {"no-control", no_argument, NULL, 'n'}, {"pace", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    unsigned long id;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'l': o->link = optarg; break;
        case 'L': o->log = true; break;
        case 'n': o->no_control = true; break;
        case 'h': return 1;
        case 'p':
            if (parse_uint(optarg, 4000000, &id) != 0 || id < 50) {
                fprintf(stderr, "modbus_sim: --pace %s: expected a baud rate, 50..4000000\n",
                        optarg);
                return -1;
            }
            o->pace_baud = (long)id;
            break;
        case 's':
            if (parse_uint(optarg, SIM_MAX_ID, &id) != 0 || id == 0) {
                fprintf(stderr, "modbus_sim: --slave %s: expected 1..%d\n", optarg, SIM_MAX_ID);
                return -1;
            }
            if (s->slaves[id] == NULL && (s->slaves[id] = slave_new()) == NULL) {
                fprintf(stderr, "modbus_sim: out of memory\n");
                return -1;
            }
            break;
        case 'S':
        case 'm':
            if (o->nsets == sizeof o->sets / sizeof o->sets[0]) {
                fprintf(stderr, "modbus_sim: too many --set/--map options\n");
                return -1;
            }
            o->is_map[o->nsets] = c == 'm';
            o->sets[o->nsets++] = optarg;
            break;
        default: return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "modbus_sim: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

static int check_args(struct sim *s, const struct options *o)
{
    bool any = false;
    for (int id = 1; id <= SIM_MAX_ID; id++)
        any = any || s->slaves[id] != NULL;
    if (o->link == NULL || !any) {
        fprintf(stderr, "modbus_sim: --link and at least one --slave are required\n");
        return -1;
    }
    for (size_t i = 0; i < o->nsets; i++)
        if ((o->is_map[i] ? apply_map_file(s, o->sets[i]) : apply_set_spec(s, o->sets[i])) != 0)
            return -1;
    return 0;
}

/* The reply context and its capture pipe; SIGINT/SIGTERM as an fd (before
 * the link exists, so a signal never leaves it behind). */
static int sim_open(struct sim *s, const char *link)
{
    int cap[2];
    sigset_t set;
    s->ctx = modbus_new_rtu(link, 115200, 'N', 8, 1);
    if (s->ctx == NULL || pipe2(cap, O_NONBLOCK | O_CLOEXEC) != 0) {
        log_msg(LOG_LEVEL_ERROR, SIM_LOG, "setup: %s", strerror(errno));
        return -1;
    }
    s->cap_rd = cap[0];
    s->cap_wr = cap[1];
    modbus_set_socket(s->ctx, s->cap_wr);
    /* 3.1.6 sleeps the response timeout and flushes before some exception
     * replies ("illegal data value"); 1 µs makes the sleep nothing. */
    modbus_set_response_timeout(s->ctx, 0, 1);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0 ||
        (s->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
        log_msg(LOG_LEVEL_ERROR, SIM_LOG, "signalfd: %s", strerror(errno));
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static void sim_close(struct sim *s)
{
    pty_link_close(&s->link);
    if (s->ctx)
        modbus_free(s->ctx); /* never connected: it closes nothing */
    if (s->cap_rd >= 0)
        close(s->cap_rd);
    if (s->cap_wr >= 0)
        close(s->cap_wr);
    if (s->sig_fd >= 0)
        close(s->sig_fd);
    for (int id = 0; id <= SIM_MAX_ID; id++)
        slave_free(s->slaves[id]);
    free(s);
}

int main(int argc, char **argv)
{
    struct sim *s = calloc(1, sizeof *s);
    struct options o = {0};
    if (s == NULL)
        return 1;
    s->cap_rd = s->cap_wr = s->sig_fd = s->link.master = s->link.slave_keep = -1;
    int rc = parse_args(s, &o, argc, argv);
    if (rc != 0 || check_args(s, &o) != 0) {
        usage(rc > 0 ? stdout : stderr);
        sim_close(s);
        return rc > 0 ? 0 : 2;
    }
    s->log = o.log;
    /* 8N1: a start bit, 8 data bits and a stop bit per character. */
    s->pace_char_ns = o.pace_baud ? 10 * 1000000000LL / o.pace_baud : 0;
    s->control = !o.no_control;
    if (sim_open(s, o.link) != 0) {
        sim_close(s);
        return 1;
    }
    rc = pty_link_open(&s->link, o.link);
    if (rc != 0) {
        fprintf(stderr, "modbus_sim: %s: %s\n", o.link, strerror(-rc));
        sim_close(s);
        return 1;
    }
    s->plugged = true;
    ctl_print(s, "ready %s\n", s->link.path);
    rc = sim_run(s);
    sim_close(s);
    return rc;
}
