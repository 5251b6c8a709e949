/* Formats log events into one bounded, escaped line on the stack and writes
 * it with a single write(2). The only state is three atomics (level, fd,
 * format), so any thread may log without locks. */
#include "gateway/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ELLIPSIS     "\xe2\x80\xa6"        /* "…" in UTF-8 */
#define ELLIPSIS_LEN (sizeof ELLIPSIS - 1)
/* Room always kept free at the end of a line for "…\n", so cutting a line
 * short never has to back out bytes already placed. */
#define LINE_BODY_MAX (LOG_LINE_MAX - ELLIPSIS_LEN - 1)

static const char *const level_names[] = {
    [LOG_LEVEL_ERROR] = "error",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_DEBUG] = "debug",
    [LOG_LEVEL_TRACE] = "trace",
};

/* syslog(3) priorities, which is what journald reads from the "<P>" prefix;
 * the journal has nothing below debug, so trace shares 7. */
static const int level_priorities[] = {
    [LOG_LEVEL_ERROR] = 3,
    [LOG_LEVEL_WARN] = 4,
    [LOG_LEVEL_INFO] = 6,
    [LOG_LEVEL_DEBUG] = 7,
    [LOG_LEVEL_TRACE] = 7,
};

#define LEVEL_COUNT (sizeof level_names / sizeof level_names[0])

static atomic_int log_level_now = LOG_LEVEL_INFO;
static atomic_int log_fd = 2;
static atomic_bool log_journal;

/* One line being built. `truncated` latches: once something did not fit,
 * nothing more is added, so the line never skips a piece and resumes. */
struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
    bool truncated;
};

static bool level_valid(enum log_level level)
{
    return (unsigned)level < LEVEL_COUNT;
}

const char *log_level_name(enum log_level level)
{
    return level_valid(level) ? level_names[level] : "?";
}

int log_level_parse(const char *name, enum log_level *out)
{
    if (!name)
        return -EINVAL;
    for (size_t i = 0; i < LEVEL_COUNT; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void log_set_level(enum log_level level)
{
    atomic_store_explicit(&log_level_now, (int)level, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load_explicit(&log_level_now, memory_order_relaxed);
}

bool log_enabled(enum log_level level)
{
    return (int)level <= atomic_load_explicit(&log_level_now, memory_order_relaxed);
}

void log_set_output_fd(int fd)
{
    atomic_store_explicit(&log_fd, fd, memory_order_relaxed);
}

/* $JOURNAL_STREAM is how systemd tells a service its stderr is connected to
 * the journal (systemd.exec(5)). Comparing device and inode, not just testing
 * presence, matters: the variable is inherited by children whose stderr was
 * redirected elsewhere, e.g. `mqgate … 2>file` run from a service's shell. */
static bool journal_stream_matches(int fd)
{
    const char *env = getenv("JOURNAL_STREAM");
    if (!env || !*env)
        return false;
    char *end;
    errno = 0;
    uintmax_t dev = strtoumax(env, &end, 10);
    if (errno || end == env || *end != ':')
        return false;
    const char *ino_text = end + 1;
    uintmax_t ino = strtoumax(ino_text, &end, 10);
    if (errno || end == ino_text || *end != '\0')
        return false;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return false;
    return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

void log_init(enum log_level level)
{
    log_set_level(level);
    int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
    atomic_store_explicit(&log_journal, journal_stream_matches(fd), memory_order_relaxed);
}

static void line_put(struct line *l, const char *s, size_t n)
{
    if (l->truncated)
        return;
    if (n > LINE_BODY_MAX - l->len) {
        l->truncated = true;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

/* How byte `c` is shown: control characters become C-style escapes so they
 * can neither end the line nor drive a terminal. Backslash stays as is: the
 * aim is one readable line per event, not a reversible encoding. Bytes from
 * 0x80 up pass through untouched so UTF-8 text stays readable. */
static size_t escape_byte(unsigned char c, char out[4])
{
    static const char hex[] = "0123456789abcdef";
    const char *named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
    if (named) {
        memcpy(out, named, 2);
        return 2;
    }
    if (c < 0x20 || c == 0x7f) {
        out[0] = '\\';
        out[1] = 'x';
        out[2] = hex[c >> 4];
        out[3] = hex[c & 0xf];
        return 4;
    }
    out[0] = (char)c;
    return 1;
}

static void line_put_escaped(struct line *l, const char *s, size_t n)
{
    char esc[4];
    for (size_t i = 0; i < n && !l->truncated; i++)
        line_put(l, esc, escape_byte((unsigned char)s[i], esc));
}

/* Length of s[0..len) without a trailing, incomplete UTF-8 sequence, so a cut
 * line never ends in half a character (which journald would store as binary). */
static size_t utf8_trim_partial(const char *s, size_t len)
{
    size_t start = len;
    while (start > 0 && len - start < 3 && ((unsigned char)s[start - 1] & 0xc0) == 0x80)
        start--;
    if (start == 0)
        return len;
    unsigned char lead = (unsigned char)s[start - 1];
    size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    return len - (start - 1) < need ? start - 1 : len;
}

static void line_finish(struct line *l)
{
    if (l->truncated) {
        l->len = utf8_trim_partial(l->buf, l->len);
        memcpy(l->buf + l->len, ELLIPSIS, ELLIPSIS_LEN);
        l->len += ELLIPSIS_LEN;
    }
    l->buf[l->len++] = '\n';
}

/* "<P>" for the journal; "2026-11-25T20:41:45.123Z info  " elsewhere. */
static void line_put_prefix(struct line *l, enum log_level level, bool journal)
{
    char prefix[64];
    int n;
    if (journal) {
        n = snprintf(prefix, sizeof prefix, "<%d>",
                     level_valid(level) ? level_priorities[level] : 7);
    } else {
        struct timespec ts;
        struct tm tm = { 0 };
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = snprintf(prefix, sizeof prefix, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000L, log_level_name(level));
    }
    if (n > 0)
        line_put(l, prefix, (size_t)n < sizeof prefix ? (size_t)n : sizeof prefix - 1);
}

static void line_write(int fd, const struct line *l)
{
    ssize_t n;
    do
        n = write(fd, l->buf, l->len);
    while (n < 0 && errno == EINTR);
    /* A failed or short write is dropped on purpose: the log is the error
     * channel of last resort, and retrying a partial write would split the
     * event into two writes that another thread's line could land between. */
}

void log_vmsg(enum log_level level, const char *component, const char *fmt, va_list ap)
{
    if (!log_enabled(level))
        return;
    int saved_errno = errno;
    struct line l = { .len = 0, .truncated = false };
    line_put_prefix(&l, level, atomic_load_explicit(&log_journal, memory_order_relaxed));
    if (component) {
        line_put_escaped(&l, component, strlen(component));
        line_put(&l, ": ", 2);
    }
    char text[LOG_LINE_MAX];
    int n = vsnprintf(text, sizeof text, fmt, ap);
    if (n > 0) {
        size_t used = (size_t)n < sizeof text ? (size_t)n : sizeof text - 1;
        line_put_escaped(&l, text, used);
        if (used < (size_t)n)
            l.truncated = true;
    }
    line_finish(&l);
    line_write(atomic_load_explicit(&log_fd, memory_order_relaxed), &l);
    errno = saved_errno;
}

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, component, fmt, ap);
    va_end(ap);
}
