/* UART sensor simulator for tests, benchmarks and the demo. It serves the
 * master side of a pty behind a symlink (tests/sim/pty_link.h) and writes
 * text lines, NMEA GGA+RMC bursts or PMS5003 frames at a steady rate or in
 * answer to a query, with faults on demand (a flipped byte, garbage between
 * messages, split writes), driven by one-line commands on stdin. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
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

#include "config/config.h"
#include "drivers/uart/checksum.h"
#include "gateway/log.h"
#include "gateway/mapping/value.h"
#include "tests/sim/pty_link.h"

#define TEMPLATE_MAX 1024    /* --line after escapes */
#define EOL_MAX 16
#define MSG_MAX 8192         /* fits the longest --line expansion */
#define GARBAGE_MAX 20
#define QUERY_MAX 64
#define OUT_CAP 65536        /* bytes waiting for the reader (tails, `send`) */
#define CMD_LINE_MAX 4096
#define CMD_REPLY_MAX (PATH_MAX + 64)   /* replies may carry the link path */
#define SPLIT_GAP_NS 20000000LL
#define CATCHUP_MAX 64       /* messages per wake-up when behind schedule */
#define RESYNC_NS 1000000000LL
#define RATE_MAX 1e6
#define NS_PER_S 1000000000LL

#define PMS_FRAME_LEN 32
#define PMS_VALUES 13

enum sim_mode { MODE_LINE, MODE_NMEA, MODE_PMS5003, MODE_RAW };

struct sim_opts {
    const char *link;
    enum sim_mode mode;
    uint8_t line[TEMPLATE_MAX];
    size_t line_len;
    bool line_set;
    uint8_t eol[EOL_MAX];
    size_t eol_len;
    double rate;
    uint64_t count;
    uint64_t corrupt_every;
    uint64_t garbage_every;
    bool split;
    uint64_t seed;
    uint8_t query[QUERY_MAX];
    size_t query_len;
    bool control;
};

struct sim_stats {
    uint64_t sent, corrupted, garbage_bytes, queries, dropped, ignored, raw_bytes;
};

/* Bytes the pty would not take yet, or the second half of a split message
 * held back until `ready_at`. */
struct sim_out {
    uint8_t buf[OUT_CAP];
    size_t len;
    int64_t ready_at;
    bool blocked;            /* the last write hit a full pty: wait for POLLOUT */
};

struct sim_msg {
    uint8_t b[MSG_MAX];
    size_t len;
    size_t text_len;         /* line mode: bytes before the end of line */
};

struct sim {
    struct sim_opts o;
    struct pty_link link;
    bool plugged, paused, stopping;
    uint64_t seq;            /* next message number; dropped ones use theirs up */
    uint64_t owed;           /* messages asked for by `emit` or a matched query */
    uint64_t since_corrupt, since_garbage;
    int64_t period_ns, next_due;
    size_t query_matched;    /* query bytes seen so far */
    uint64_t rng;
    int sigfd;
    char cmd[CMD_LINE_MAX];
    size_t cmd_len;
    bool cmd_overflow;
    struct sim_out out;
    struct sim_stats st;
};

/* ---- small helpers ----------------------------------------------------- */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* splitmix64: tiny, seedable, good enough to place faults. */
static uint64_t rng_next(struct sim *s)
{
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rng_below(struct sim *s, uint64_t n)
{
    return rng_next(s) % n;
}

/* "42 4d 00", "424d00" or a mix: whitespace-separated runs of hex pairs.
 * 0, or -1 on a stray character, an odd digit count, nothing, or overflow. */
static int parse_hex(const char *in, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = 0;
    while (*in) {
        if (*in == ' ' || *in == '\t') {
            in++;
            continue;
        }
        int byte = checksum_hex_byte(in);
        if (byte < 0 || n == cap)
            return -1;
        out[n++] = (uint8_t)byte;
        in += 2;
    }
    *len = n;
    return n ? 0 : -1;
}

/* \r \n \t \\ and \xHH; anything else after a backslash is an error. */
static int unescape(const char *in, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = 0;
    for (; *in; n++) {
        if (n == cap)
            return -1;
        if (*in != '\\') {
            out[n] = (uint8_t)*in++;
            continue;
        }
        char c = in[1];
        if (c == '\0')
            return -1;
        in += 2;
        if (c == 'r' || c == 'n' || c == 't' || c == '\\') {
            out[n] = (uint8_t)(c == 'r' ? '\r' : c == 'n' ? '\n' : c == 't' ? '\t' : '\\');
            continue;
        }
        int byte = c == 'x' ? checksum_hex_byte(in) : -1;
        if (byte < 0)
            return -1;
        out[n] = (uint8_t)byte;
        in += 2;
    }
    *len = n;
    return 0;
}

static int parse_u64(const char *str, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*str < '0' || *str > '9')
        return -1;
    unsigned long long v = strtoull(str, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_rate(const char *str, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(str, &end);
    if (errno || end == str || *end || !isfinite(v) || v < 0 || v > RATE_MAX)
        return -1;
    *out = v;
    return 0;
}

/* ---- messages ---------------------------------------------------------- */

static void msg_put(struct sim_msg *m, const void *p, size_t n)
{
    memcpy(m->b + m->len, p, n);
    m->len += n;
}

/* {n} is the sequence number, {t} a temperature ramp 20.0 .. 24.9. */
static void build_line(const struct sim *s, uint64_t n, struct sim_msg *m)
{
    const uint8_t *t = s->o.line;
    size_t len = s->o.line_len;
    char num[32];
    for (size_t i = 0; i < len; i++) {
        bool ph = i + 2 < len && t[i] == '{' && t[i + 2] == '}';
        if (ph && t[i + 1] == 'n') {
            msg_put(m, num, (size_t)snprintf(num, sizeof num, "%" PRIu64, n));
            i += 2;
        } else if (ph && t[i + 1] == 't') {
            unsigned tenths = 200 + (unsigned)(n % 50);
            msg_put(m, num, (size_t)snprintf(num, sizeof num, "%u.%u", tenths / 10, tenths % 10));
            i += 2;
        } else {
            msg_put(m, &t[i], 1);
        }
    }
    m->text_len = m->len;
    msg_put(m, s->o.eol, s->o.eol_len);
}

/* "$<body>*HH\r\n": the checksum is the XOR of the body's bytes. Fix 0
 * matches the textbook sentences, which the tests check, so sharing the
 * library's XOR does not hide a wrong one. */
static void nmea_put(struct sim_msg *m, const char *body)
{
    uint8_t x = checksum_xor8((const uint8_t *)body, strlen(body));
    char line[128];
    int n = snprintf(line, sizeof line, "$%s*%02X\r\n", body, x);
    msg_put(m, line, (size_t)n);
}

/* One fix: GGA then RMC. Fix 0 is the textbook pair (GGA *47, RMC *6A) at
 * 48°07.038' N 11°31.000' E; later fixes move 0.001' per fix in each axis,
 * a second later, 0.1 m higher. */
static void build_nmea(uint64_t n, struct sim_msg *m)
{
    unsigned secs = (unsigned)((12 * 3600 + 35 * 60 + 19 + n) % 86400);
    unsigned hh = secs / 3600, mm = secs / 60 % 60, ss = secs % 60;
    unsigned lat = 7038 + (unsigned)(n % 1000);   /* thousandths of a minute */
    unsigned lon = 31000 + (unsigned)(n % 1000);
    uint64_t alt = 5454 + n;                      /* tenths of a metre */
    char body[112];
    snprintf(body, sizeof body,
             "GPGGA,%02u%02u%02u,48%02u.%03u,N,011%02u.%03u,E,1,08,0.9,%" PRIu64 ".%u,M,46.9,M,,",
             hh, mm, ss, lat / 1000, lat % 1000, lon / 1000, lon % 1000, alt / 10,
             (unsigned)(alt % 10));
    nmea_put(m, body);
    snprintf(body, sizeof body,
             "GPRMC,%02u%02u%02u,A,48%02u.%03u,N,011%02u.%03u,E,022.4,084.4,230394,003.1,W",
             hh, mm, ss, lat / 1000, lat % 1000, lon / 1000, lon % 1000);
    nmea_put(m, body);
}

/* 42 4D, length 28, 13 big-endian u16 values, big-endian sum of the 30
 * bytes before it. Standard (CF=1) and atmospheric PM are the same. */
static void build_pms5003(uint64_t n, struct sim_msg *m)
{
    unsigned k = (unsigned)(n % 5);
    const unsigned v[PMS_VALUES] = {7 + k, 10 + k, 14 + k, 7 + k, 10 + k, 14 + k,
                                    900, 300, 60, 8, 2, 1, 0};
    uint8_t *f = m->b;
    /* value_encode_number cannot fail here: every value fits a u16. */
    f[0] = 0x42;
    f[1] = 0x4D;
    value_encode_number(28, CFG_T_UINT16, CFG_ORDER_ABCD, f + 2, 2);
    for (size_t i = 0; i < PMS_VALUES; i++)
        value_encode_number(v[i], CFG_T_UINT16, CFG_ORDER_ABCD, f + 4 + 2 * i, 2);
    unsigned sum = 0;
    for (size_t i = 0; i < PMS_FRAME_LEN - 2; i++)
        sum += f[i];
    value_encode_number(sum & 0xFFFF, CFG_T_UINT16, CFG_ORDER_ABCD, f + 30, 2);
    m->len = PMS_FRAME_LEN;
}

static void build_msg(const struct sim *s, uint64_t n, struct sim_msg *m)
{
    m->len = 0;
    m->text_len = 0;
    if (s->o.mode == MODE_LINE)
        build_line(s, n, m);
    else if (s->o.mode == MODE_NMEA)
        build_nmea(n, m);
    else if (s->o.mode == MODE_PMS5003)
        build_pms5003(n, m);
}

/* Bytes that may be damaged: a line's text, what lies between an NMEA
 * sentence's '$' and '*', a frame's values (so header and length still
 * frame it and only the sum fails). */
static bool flippable(const struct sim *s, const struct sim_msg *m, size_t i, bool *inside)
{
    if (s->o.mode == MODE_LINE)
        return i < m->text_len;
    if (s->o.mode == MODE_PMS5003)
        return i >= 4 && i < PMS_FRAME_LEN - 2;
    if (m->b[i] == '$' || m->b[i] == '*') {
        *inside = m->b[i] == '$';
        return false;
    }
    return *inside;
}

/* A line's flipped character must not become an end-of-line byte. NMEA
 * bodies hold no '%' or '+', so XOR 1 never makes a '$' or '*' there. */
static uint8_t flipped(const struct sim *s, uint8_t c)
{
    for (uint8_t mask = 1; mask; mask = (uint8_t)(mask << 1)) {
        uint8_t r = c ^ mask;
        if (s->o.mode != MODE_LINE ||
            (r != '\r' && r != '\n' && !memchr(s->o.eol, r, s->o.eol_len)))
            return r;
    }
    return c ^ 1;
}

/* Flip one byte chosen at random among the flippable ones. */
static bool corrupt_msg(struct sim *s, struct sim_msg *m)
{
    size_t candidates = 0;
    bool inside = false;
    for (size_t i = 0; i < m->len; i++)
        candidates += flippable(s, m, i, &inside);
    if (candidates == 0)
        return false;
    size_t pick = (size_t)rng_below(s, candidates);
    inside = false;
    for (size_t i = 0; i < m->len; i++) {
        if (flippable(s, m, i, &inside) && pick-- == 0) {
            m->b[i] = flipped(s, m->b[i]);
            break;
        }
    }
    return true;
}

/* 1..20 random bytes. NMEA: never '$', so a reader resynchronises at the
 * next sentence. Line: never an end-of-line byte, then the end of line, so
 * the garbage is a junk line of its own. Frames: anything, often 0x42 and
 * sometimes a whole false 42 4D header. */
static size_t build_garbage(struct sim *s, uint8_t *g)
{
    size_t n = 1 + (size_t)rng_below(s, GARBAGE_MAX), i = 0;
    while (i < n) {
        uint8_t c = (uint8_t)rng_next(s);
        if (s->o.mode == MODE_PMS5003) {
            unsigned r = (unsigned)rng_below(s, 8);
            if (r == 0 && i + 1 < n) {
                g[i++] = 0x42;
                c = 0x4D;
            } else if (r < 3) {
                c = 0x42;
            }
        } else if (c == '$' || (s->o.mode == MODE_LINE &&
                                (c == '\r' || c == '\n' || memchr(s->o.eol, c, s->o.eol_len)))) {
            continue;
        }
        g[i++] = c;
    }
    if (s->o.mode == MODE_LINE) {
        memcpy(g + n, s->o.eol, s->o.eol_len);
        n += s->o.eol_len;
    }
    return n;
}

/* ---- output to the pty ------------------------------------------------- */

static void out_clear(struct sim *s)
{
    s->out.len = 0;
    s->out.blocked = false;
    s->out.ready_at = 0;
}

static bool out_waiting_gap(const struct sim *s, int64_t now)
{
    return s->out.len > 0 && s->out.ready_at > now;
}

/* Queue bytes behind whatever is already waiting. -1 when full. */
static int out_append(struct sim *s, const uint8_t *p, size_t n, int64_t ready_at)
{
    if (n > OUT_CAP - s->out.len)
        return -1;
    if (s->out.len == 0)
        s->out.ready_at = ready_at;
    memcpy(s->out.buf + s->out.len, p, n);
    s->out.len += n;
    return 0;
}

/* Write what the master takes now. Returns bytes written or -errno. */
static ssize_t pty_write(struct sim *s, const uint8_t *p, size_t n)
{
    ssize_t w;
    do
        w = write(s->link.master, p, n);
    while (w < 0 && errno == EINTR);
    return w < 0 ? -errno : w;
}

static void out_flush(struct sim *s, int64_t now)
{
    if (!s->plugged || s->out.len == 0 || s->out.ready_at > now)
        return;
    ssize_t w = pty_write(s, s->out.buf, s->out.len);
    if (w == -EAGAIN) {
        s->out.blocked = true;
        return;
    }
    if (w < 0) {
        log_msg(LOG_LEVEL_WARN, "uart_sim", "write to pty: %s; %zu bytes lost",
                strerror((int)-w), s->out.len);
        out_clear(s);
        return;
    }
    memmove(s->out.buf, s->out.buf + w, s->out.len - (size_t)w);
    s->out.len -= (size_t)w;
    s->out.blocked = s->out.len > 0;
    s->out.ready_at = 0;
}

/* Raw bytes from `send`/`sendtext`: straight out, the rest queued in order
 * behind anything already waiting. -ENOBUFS when the queue is full (some
 * bytes may have gone out; raw_bytes counts them). */
static int out_send_raw(struct sim *s, const uint8_t *p, size_t n)
{
    size_t done = 0;
    if (s->out.len == 0) {
        ssize_t w = pty_write(s, p, n);
        if (w < 0 && w != -EAGAIN)
            return (int)w;
        done = w > 0 ? (size_t)w : 0;
    }
    s->st.raw_bytes += done;
    if (done < n && out_append(s, p + done, n - done, 0) != 0)
        return -ENOBUFS;
    s->st.raw_bytes += n - done;
    return 0;
}

/* ---- the message schedule ---------------------------------------------- */

static bool every_due(uint64_t *since, uint64_t k)
{
    if (k == 0)
        return false;
    return ++*since % k == 0;
}

/* Write garbage (if due) and the message with one call, or its first half
 * when splitting; what the pty refuses at once drops the message, a partial
 * write queues the rest. */
static void emit_one(struct sim *s, int64_t now)
{
    struct sim_msg m;
    uint8_t wire[GARBAGE_MAX + EOL_MAX + MSG_MAX];
    build_msg(s, s->seq++, &m);
    bool corrupt = every_due(&s->since_corrupt, s->o.corrupt_every) && corrupt_msg(s, &m);
    size_t g = every_due(&s->since_garbage, s->o.garbage_every) ? build_garbage(s, wire) : 0;
    if (s->out.len > 0) {
        s->st.dropped++;
        return;
    }
    memcpy(wire + g, m.b, m.len);
    size_t total = g + m.len, first = s->o.split ? g + m.len / 2 : total;
    ssize_t w = pty_write(s, wire, first);
    if (w <= 0) {
        if (w < 0 && w != -EAGAIN)
            log_msg(LOG_LEVEL_WARN, "uart_sim", "write to pty: %s", strerror((int)-w));
        s->st.dropped++;
        return;
    }
    s->st.sent++;
    s->st.corrupted += corrupt;
    s->st.garbage_bytes += g;
    int64_t gap = (size_t)w == first && first < total ? now + SPLIT_GAP_NS : 0;
    /* Cannot fail: the queue was empty and one message is far below OUT_CAP. */
    out_append(s, wire + w, total - (size_t)w, gap);
    s->out.blocked = (size_t)w < first;
}

static bool can_generate(const struct sim *s)
{
    return s->plugged && s->o.mode != MODE_RAW && (s->o.count == 0 || s->seq < s->o.count);
}

static bool timed_active(const struct sim *s)
{
    return can_generate(s) && !s->paused && s->o.rate > 0 && s->o.query_len == 0;
}

static void set_rate(struct sim *s, double hz, int64_t now)
{
    s->o.rate = hz;
    s->period_ns = hz > 0 ? (int64_t)llround(NS_PER_S / hz) : 0;
    if (s->period_ns < 1 && hz > 0)
        s->period_ns = 1;
    s->next_due = now;
}

/* Deadlines advance by whole periods from where they were, not from when we
 * woke, so the rate does not drift; after a long stall (a paused debugger,
 * an overloaded box) the schedule restarts instead of bursting. */
static void service_messages(struct sim *s, int64_t now)
{
    for (int i = 0; i < CATCHUP_MAX && !out_waiting_gap(s, now); i++) {
        if (!can_generate(s)) {
            s->owed = 0;
            break;
        }
        if (s->owed > 0)
            s->owed--;
        else if (timed_active(s) && now >= s->next_due)
            s->next_due += s->period_ns;
        else
            break;
        emit_one(s, now);
    }
    if (timed_active(s) && now - s->next_due > RESYNC_NS)
        s->next_due = now + s->period_ns;
}

/* The next moment something is due, or -1 for none. */
static int64_t next_wakeup(const struct sim *s, int64_t now)
{
    if (out_waiting_gap(s, now))
        return s->out.ready_at;
    if (s->owed > 0 && can_generate(s))
        return now;
    if (timed_active(s))
        return s->next_due;
    return -1;
}

/* ---- bytes from the gateway -------------------------------------------- */

/* Longest suffix of what was matched plus `b` that starts the query: the
 * bytes shifted out are the ignored ones. */
static void query_feed(struct sim *s, uint8_t b)
{
    const uint8_t *q = s->o.query;
    size_t k = s->query_matched;
    if (b == q[k]) {
        if (++k < s->o.query_len) {
            s->query_matched = k;
            return;
        }
        s->query_matched = 0;
        s->st.queries++;
        if (!s->paused)
            s->owed++;
        return;
    }
    uint8_t seen[QUERY_MAX + 1];
    memcpy(seen, q, k);
    seen[k] = b;
    size_t shift = 1;
    while (shift <= k && memcmp(seen + shift, q, k + 1 - shift) != 0)
        shift++;
    s->st.ignored += shift;
    s->query_matched = k + 1 - shift;
}

static void read_master(struct sim *s)
{
    uint8_t buf[4096];
    for (int i = 0; i < 16; i++) {
        ssize_t n = read(s->link.master, buf, sizeof buf);
        if (n <= 0)
            return;
        for (ssize_t j = 0; j < n; j++) {
            if (s->o.query_len)
                query_feed(s, buf[j]);
            else
                s->st.ignored++;
        }
    }
}

/* ---- control channel --------------------------------------------------- */

typedef int (*cmd_fn)(struct sim *s, const char *arg, char *msg, size_t n);

/* A handler's reply text (after "ok " or "err "), and its result. */
static int answer(int rc, char *msg, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int answer(int rc, char *msg, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, n, fmt, ap);
    va_end(ap);
    return rc;
}

/* parse_hex or unescape: the argument's text to bytes, 0 or -1. */
typedef int bytes_parser(const char *in, uint8_t *out, size_t cap, size_t *len);

/* `send` and `sendtext`: the argument, decoded by `parse`, written raw;
 * `bad` is the reply to an argument that does not decode to any bytes. */
static int send_decoded(struct sim *s, const char *arg, bytes_parser *parse, const char *bad,
                        char *msg, size_t n)
{
    uint8_t bytes[CMD_LINE_MAX];
    size_t len;
    if (!s->plugged)
        return answer(-1, msg, n, "unplugged");
    if (parse(arg, bytes, sizeof bytes, &len) != 0 || len == 0)
        return answer(-1, msg, n, "%s", bad);
    int rc = out_send_raw(s, bytes, len);
    if (rc < 0)
        return answer(-1, msg, n, "%s", strerror(-rc));
    return answer(0, msg, n, "%zu bytes", len);
}

static int cmd_send(struct sim *s, const char *arg, char *msg, size_t n)
{
    return send_decoded(s, arg, parse_hex, "bad hex bytes", msg, n);
}

static int cmd_sendtext(struct sim *s, const char *arg, char *msg, size_t n)
{
    static const char bad[] = "bad text (escapes: \\r \\n \\t \\\\ \\xHH)";
    return send_decoded(s, arg, unescape, bad, msg, n);
}

static int cmd_rate(struct sim *s, const char *arg, char *msg, size_t n)
{
    double hz;
    if (parse_rate(arg, &hz) != 0)
        return answer(-1, msg, n, "rate must be 0..%g", RATE_MAX);
    set_rate(s, hz, mono_ns());
    return answer(0, msg, n, "rate=%g", hz);
}

static int cmd_pause(struct sim *s, const char *arg, char *msg, size_t n)
{
    (void)arg;
    s->paused = true;
    return answer(0, msg, n, "paused");
}

static int cmd_resume(struct sim *s, const char *arg, char *msg, size_t n)
{
    (void)arg;
    if (s->paused)
        s->next_due = mono_ns();
    s->paused = false;
    return answer(0, msg, n, "resumed");
}

static int set_every(uint64_t *every, uint64_t *since, const char *arg)
{
    uint64_t k;
    if (parse_u64(arg, UINT32_MAX, &k) != 0)
        return -1;
    *every = k;
    *since = 0;   /* "every K-th" counts from now */
    return 0;
}

static int cmd_corrupt(struct sim *s, const char *arg, char *msg, size_t n)
{
    if (set_every(&s->o.corrupt_every, &s->since_corrupt, arg) != 0)
        return answer(-1, msg, n, "usage: corrupt K (0 = off)");
    return answer(0, msg, n, "corrupt=%" PRIu64, s->o.corrupt_every);
}

static int cmd_garbage(struct sim *s, const char *arg, char *msg, size_t n)
{
    if (set_every(&s->o.garbage_every, &s->since_garbage, arg) != 0)
        return answer(-1, msg, n, "usage: garbage K (0 = off)");
    return answer(0, msg, n, "garbage=%" PRIu64, s->o.garbage_every);
}

static int cmd_emit(struct sim *s, const char *arg, char *msg, size_t n)
{
    uint64_t k = 1;
    if (*arg && parse_u64(arg, 1000000, &k) != 0)
        return answer(-1, msg, n, "usage: emit [N] (N <= 1000000)");
    if (s->o.mode == MODE_RAW)
        return answer(-1, msg, n, "raw mode has no messages");
    if (!s->plugged)
        return answer(-1, msg, n, "unplugged");
    s->owed += k;
    return answer(0, msg, n, "emit=%" PRIu64, k);
}

static int cmd_stats(struct sim *s, const char *arg, char *msg, size_t n)
{
    (void)arg;
    const struct sim_stats *t = &s->st;
    return answer(0, msg, n,
                  "sent=%" PRIu64 " corrupted=%" PRIu64 " garbage_bytes=%" PRIu64
                  " queries=%" PRIu64 " dropped=%" PRIu64 " ignored=%" PRIu64
                  " raw_bytes=%" PRIu64 " seq=%" PRIu64,
                  t->sent, t->corrupted, t->garbage_bytes, t->queries, t->dropped, t->ignored,
                  t->raw_bytes, s->seq);
}

static void sim_unplug(struct sim *s)
{
    pty_link_unplug(&s->link);
    s->plugged = false;
    s->query_matched = 0;
    s->owed = 0;
    out_clear(s);
}

static int cmd_unplug(struct sim *s, const char *arg, char *msg, size_t n)
{
    (void)arg;
    if (!s->plugged)
        return answer(-1, msg, n, "already unplugged");
    sim_unplug(s);
    return answer(0, msg, n, "unplugged");
}

static int cmd_replug(struct sim *s, const char *arg, char *msg, size_t n)
{
    (void)arg;
    sim_unplug(s);
    int rc = pty_link_replug(&s->link);
    if (rc < 0)
        return answer(-1, msg, n, "pty: %s", strerror(-rc));
    s->plugged = true;
    s->next_due = mono_ns();
    return answer(0, msg, n, "%s", s->link.path);
}

static int cmd_quit(struct sim *s, const char *arg, char *msg, size_t n)
{
    (void)arg;
    s->stopping = true;
    return answer(0, msg, n, "bye");
}

static const struct {
    const char *name;
    cmd_fn fn;
    bool takes_arg;
} commands[] = {
    {"send", cmd_send, true},       {"sendtext", cmd_sendtext, true},
    {"rate", cmd_rate, true},       {"pause", cmd_pause, false},
    {"resume", cmd_resume, false},  {"corrupt", cmd_corrupt, true},
    {"garbage", cmd_garbage, true}, {"emit", cmd_emit, true},
    {"stats", cmd_stats, false},    {"unplug", cmd_unplug, false},
    {"replug", cmd_replug, false},  {"quit", cmd_quit, false},
};

/* One line on stdout, in one write. A controller that went away stops us. */
static void reply(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(struct sim *s, const char *fmt, ...)
{
    char line[CMD_REPLY_MAX + 16];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    for (int off = 0; off < n;) {
        ssize_t w = write(STDOUT_FILENO, line + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            s->stopping = true;
            return;
        }
        off += (int)w;
    }
}

/* `sendtext` keeps its text as typed (leading and inner spaces included);
 * other arguments are trimmed. */
static void run_command(struct sim *s, char *line)
{
    size_t len = strlen(line);
    if (len && line[len - 1] == '\r')
        line[--len] = '\0';
    bool verbatim = strncmp(line, "sendtext ", 9) == 0;
    while (!verbatim && len && (line[len - 1] == ' ' || line[len - 1] == '\t'))
        line[--len] = '\0';
    char *sp = strchr(line, ' ');
    const char *arg = sp ? sp + 1 : "";
    if (sp)
        *sp = '\0';
    if (!verbatim)
        arg += strspn(arg, " \t");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(line, commands[i].name) != 0)
            continue;
        if (!commands[i].takes_arg && *arg) {
            reply(s, "err %s takes no argument", line);
            return;
        }
        char msg[CMD_REPLY_MAX];
        int rc = commands[i].fn(s, arg, msg, sizeof msg);
        reply(s, "%s %s", rc == 0 ? "ok" : "err", msg);
        return;
    }
    reply(s, "err %s '%.40s'", *line ? "unknown command" : "empty command", line);
}

static void read_control(struct sim *s)
{
    char buf[4096];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        s->stopping = true;   /* the controller closed our stdin */
        return;
    }
    for (ssize_t i = 0; i < n && !s->stopping; i++) {
        if (buf[i] != '\n') {
            if (s->cmd_len + 1 < sizeof s->cmd)
                s->cmd[s->cmd_len++] = buf[i];
            else
                s->cmd_overflow = true;
            continue;
        }
        s->cmd[s->cmd_len] = '\0';
        if (s->cmd_overflow)
            reply(s, "err line too long (max %d)", CMD_LINE_MAX - 1);
        else
            run_command(s, s->cmd);
        s->cmd_len = 0;
        s->cmd_overflow = false;
    }
}

/* ---- arguments --------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: uart_sim --link PATH [--mode line|nmea|pms5003|raw] [--line TEXT]\n"
          "                [--eol ESC] [--rate HZ] [--count N] [--corrupt-every K]\n"
          "                [--garbage-every K] [--split] [--seed N] [--query HEX]\n"
          "                [--no-control]\n"
          "  --link PATH         symlink to the pty's far end (the sensor's device)\n"
          "  --mode MODE         line (default), nmea (GGA+RMC), pms5003 (32-byte frame),\n"
          "                      raw (only what `send` writes)\n"
          "  --line TEXT         line mode text; {n} = sequence, {t} = temperature ramp\n"
          "                      (default \"seq={n} temp={t}\"); escapes allowed\n"
          "  --eol ESC           end of line, escapes \\r \\n \\t \\\\ \\xHH (default \\r\\n)\n"
          "  --rate HZ           messages per second (default 1; 0 = only on `emit`)\n"
          "  --count N           stop sending after N messages (0 = unlimited)\n"
          "  --corrupt-every K   flip one byte of every K-th message\n"
          "  --garbage-every K   1..20 garbage bytes before every K-th message\n"
          "  --split             write each message in two parts, 20 ms apart\n"
          "  --seed N            random seed for the faults (default 1)\n"
          "  --query HEX         answer only these bytes, once each (--rate ignored)\n"
          "  --no-control        do not read commands from stdin (stop by signal)\n"
          "Commands on stdin, one reply line each: send HEX, sendtext TEXT, rate HZ,\n"
          "pause, resume, corrupt K, garbage K, emit [N], stats, unplug, replug, quit.\n",
          f);
}

enum {
    OPT_LINK = 256, OPT_MODE, OPT_LINE, OPT_EOL, OPT_RATE, OPT_COUNT, OPT_CORRUPT,
    OPT_GARBAGE, OPT_SPLIT, OPT_SEED, OPT_QUERY, OPT_NO_CONTROL, OPT_HELP,
};

static const struct option long_opts[] = {
    {"link", required_argument, NULL, OPT_LINK},
    {"mode", required_argument, NULL, OPT_MODE},
    {"line", required_argument, NULL, OPT_LINE},
    {"eol", required_argument, NULL, OPT_EOL},
    {"rate", required_argument, NULL, OPT_RATE},
    {"count", required_argument, NULL, OPT_COUNT},
    {"corrupt-every", required_argument, NULL, OPT_CORRUPT},
    {"garbage-every", required_argument, NULL, OPT_GARBAGE},
    {"split", no_argument, NULL, OPT_SPLIT},
    {"seed", required_argument, NULL, OPT_SEED},
    {"query", required_argument, NULL, OPT_QUERY},
    {"no-control", no_argument, NULL, OPT_NO_CONTROL},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int parse_mode(const char *arg, enum sim_mode *mode)
{
    static const char *const names[] = {"line", "nmea", "pms5003", "raw"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(arg, names[i]) == 0) {
            *mode = (enum sim_mode)i;
            return 0;
        }
    }
    return -1;
}

/* One option into `o`; a message and -1 when its value is bad. */
static int apply_opt(struct sim_opts *o, int c, const char *arg)
{
    switch (c) {
    case OPT_LINK: o->link = arg; return 0;
    case OPT_MODE: return parse_mode(arg, &o->mode);
    case OPT_LINE:
        o->line_set = true;
        return unescape(arg, o->line, sizeof o->line, &o->line_len);
    case OPT_EOL: return unescape(arg, o->eol, sizeof o->eol, &o->eol_len);
    case OPT_RATE: return parse_rate(arg, &o->rate);
    case OPT_COUNT: return parse_u64(arg, UINT64_MAX, &o->count);
    case OPT_CORRUPT: return parse_u64(arg, UINT32_MAX, &o->corrupt_every);
    case OPT_GARBAGE: return parse_u64(arg, UINT32_MAX, &o->garbage_every);
    case OPT_SPLIT: o->split = true; return 0;
    case OPT_SEED: return parse_u64(arg, UINT64_MAX, &o->seed);
    case OPT_QUERY: return parse_hex(arg, o->query, sizeof o->query, &o->query_len);
    case OPT_NO_CONTROL: o->control = false; return 0;
    default: return -1;
    }
}

static const char *check_opts(const struct sim_opts *o)
{
    if (!o->link || !*o->link)
        return "--link PATH is required";
    if (o->line_set && o->mode != MODE_LINE)
        return "--line needs --mode line";
    if (o->query_len && o->mode == MODE_RAW)
        return "--query needs a mode with messages";
    return NULL;
}

/* 0, 1 for --help (done), or 2 after printing a usage error. */
static int parse_args(struct sim_opts *o, int argc, char **argv)
{
    static const char default_line[] = "seq={n} temp={t}";
    memcpy(o->line, default_line, sizeof default_line - 1);
    o->line_len = sizeof default_line - 1;
    memcpy(o->eol, "\r\n", 2);
    o->eol_len = 2;
    o->rate = 1;
    o->seed = 1;
    o->control = true;
    int c, at = -1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", long_opts, &at)) != -1) {
        if (c == OPT_HELP) {
            usage(stdout);
            return 1;
        }
        if (c == '?') {
            fprintf(stderr, "uart_sim: unknown option or missing value: '%s'\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
        if (apply_opt(o, c, optarg) != 0) {
            fprintf(stderr, "uart_sim: bad value for --%s: '%s'\n", long_opts[at].name, optarg);
            usage(stderr);
            return 2;
        }
    }
    const char *why = optind < argc ? "unexpected argument" : check_opts(o);
    if (why) {
        fprintf(stderr, "uart_sim: %s\n", why);
        usage(stderr);
        return 2;
    }
    return 0;
}

/* ---- the loop ---------------------------------------------------------- */

/* SIGTERM/SIGINT/SIGHUP arrive through a signalfd, so they are handled in
 * the loop like any input and the link is always removed on the way out. */
static int signals_open(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);   /* a gone controller shows as EPIPE */
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static struct timespec *poll_timeout(const struct sim *s, int64_t now, struct timespec *ts)
{
    int64_t wake = next_wakeup(s, now);
    if (wake < 0)
        return NULL;
    int64_t d = wake > now ? wake - now : 0;
    ts->tv_sec = d / NS_PER_S;
    ts->tv_nsec = d % NS_PER_S;
    return ts;
}

static void loop_once(struct sim *s)
{
    int64_t now = mono_ns();
    out_flush(s, now);
    service_messages(s, now);
    struct pollfd pfd[3] = {
        {.fd = s->sigfd, .events = POLLIN},
        {.fd = s->o.control ? STDIN_FILENO : -1, .events = POLLIN},
        {.fd = s->plugged ? s->link.master : -1, .events = POLLIN},
    };
    if (s->out.len > 0 && s->out.blocked)
        pfd[2].events |= POLLOUT;
    struct timespec ts;
    if (ppoll(pfd, 3, poll_timeout(s, now, &ts), NULL) < 0) {
        if (errno != EINTR) {
            log_msg(LOG_LEVEL_ERROR, "uart_sim", "poll: %s", strerror(errno));
            s->stopping = true;
        }
        return;
    }
    if (pfd[0].revents)
        s->stopping = true;
    if (pfd[1].revents && !s->stopping)
        read_control(s);
    if (pfd[2].revents & POLLIN && s->plugged)
        read_master(s);
}

int main(int argc, char **argv)
{
    struct sim *s = calloc(1, sizeof *s);
    if (!s)
        return 1;
    int rc = parse_args(&s->o, argc, argv);
    if (rc != 0) {
        free(s);
        return rc == 1 ? 0 : rc;
    }
    s->rng = s->o.seed;
    s->sigfd = signals_open();
    if (s->sigfd < 0) {
        fprintf(stderr, "uart_sim: signals: %s\n", strerror(errno));
        free(s);
        return 1;
    }
    int err = pty_link_open(&s->link, s->o.link);
    if (err < 0) {
        fprintf(stderr, "uart_sim: pty at %s: %s\n", s->o.link, strerror(-err));
        close(s->sigfd);
        free(s);
        return 1;
    }
    s->plugged = true;
    set_rate(s, s->o.rate, mono_ns());
    reply(s, "ready %s", s->link.path);
    while (!s->stopping)
        loop_once(s);
    pty_link_close(&s->link);
    close(s->sigfd);
    free(s);
    return 0;
}
