/* Logging: one line per event on stderr. Under systemd (stderr is the
 * journal) lines carry a "<P>" syslog priority and no timestamp, since the
 * journal stamps them itself; elsewhere they start with a UTC timestamp.
 * Every call is one write(2), so lines never interleave, even across threads. */
#ifndef MQGATE_GATEWAY_LOG_H
#define MQGATE_GATEWAY_LOG_H

#include <stdarg.h>
#include <stdbool.h>

/* Longest line written, newline included. Longer events are cut at a UTF-8
 * character boundary and end in "…". */
#define LOG_LINE_MAX 1024

/* Ordered from most to least severe: a level lets through itself and all
 * levels before it. */
enum log_level {
    LOG_LEVEL_ERROR,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_TRACE,
};

/* Set the level and choose the line format for the current output fd (2
 * unless log_set_output_fd changed it): journal format when $JOURNAL_STREAM
 * is "DEV:INO" and names that fd's device and inode, plain otherwise.
 * Call once at startup, before threads exist (it reads the environment).
 * Before any call: level info, plain format, fd 2. */
void log_init(enum log_level level);

/* Level changes take effect immediately, from any thread. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
bool log_enabled(enum log_level level);

/* Test hook: write lines to `fd` instead of 2. The logger never closes it.
 * Journal detection happens in log_init, so call log_init after this. */
void log_set_output_fd(int fd);

/* Log one event, if `level` is enabled. `component` names the module
 * ("loop", "broker", …); NULL leaves it out. Newlines and other control
 * characters in the text are written as \n, \r, \t or \xHH, so an event is
 * always one line. Never fails from the caller's view: a line that cannot be
 * written is dropped, as there is nowhere left to report it. Preserves errno,
 * so `log_error(…, strerror(errno)); return -errno;` stays correct.
 * Safe from any thread. */
void log_msg(enum log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level level, const char *component, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* The level check comes first so disabled levels cost no formatting (nor
 * evaluation of the arguments). */
#define LOG_AT_(level, component, ...)                                         \
    do {                                                                       \
        if (log_enabled(level))                                                \
            log_msg((level), (component), __VA_ARGS__);                        \
    } while (0)

#define log_error(component, ...) LOG_AT_(LOG_LEVEL_ERROR, component, __VA_ARGS__)
#define log_warn(component, ...)  LOG_AT_(LOG_LEVEL_WARN, component, __VA_ARGS__)
#define log_info(component, ...)  LOG_AT_(LOG_LEVEL_INFO, component, __VA_ARGS__)
#define log_debug(component, ...) LOG_AT_(LOG_LEVEL_DEBUG, component, __VA_ARGS__)
#define log_trace(component, ...) LOG_AT_(LOG_LEVEL_TRACE, component, __VA_ARGS__)

/* "error", "warn", "info", "debug", "trace"; "?" for a value outside the enum. */
const char *log_level_name(enum log_level level);

/* Parse one of the names above (case-insensitive) into *out.
 * Returns 0, or -EINVAL (and leaves *out alone) for NULL or an unknown name. */
int log_level_parse(const char *name, enum log_level *out);

#endif
