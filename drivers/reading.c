/* Names of reading qualities, failure kinds and Modbus exceptions, and the
 * clocks readings are stamped with. */
#include <stdio.h>

#include "drivers/reading.h"

const char *reading_error_name(enum reading_error err)
{
    static const char *const names[] = {
#define READING_ERROR_NAME_(id, name) [READING_ERR_##id] = name,
        READING_ERRORS(READING_ERROR_NAME_)
#undef READING_ERROR_NAME_
    };
    if ((unsigned)err < sizeof(names) / sizeof(names[0]))
        return names[err];
    return "unknown";
}

const char *reading_quality_name(enum reading_quality q)
{
    switch (q) {
    case READING_GOOD: return "good";
    case READING_BAD: return "bad";
    case READING_STALE: return "stale";
    }
    return "unknown";
}

const char *modbus_exception_name(int code)
{
    /* Modbus Application Protocol v1.1b3, section 7. */
    static const char *const names[] = {
        [1] = "illegal function",
        [2] = "illegal data address",
        [3] = "illegal data value",
        [4] = "server device failure",
        [5] = "acknowledge",
        [6] = "server device busy",
        [7] = "negative acknowledge",
        [8] = "memory parity error",
        [10] = "gateway path unavailable",
        [11] = "gateway target device failed to respond",
    };
    static __thread char other[24];
    if (code > 0 && (size_t)code < sizeof(names) / sizeof(names[0]) && names[code])
        return names[code];
    snprintf(other, sizeof other, "exception %d", code);
    return other;
}

void reading_stamp(struct timespec *wall, int64_t *mono_ns)
{
    struct timespec mono;
    clock_gettime(CLOCK_REALTIME, wall);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    *mono_ns = (int64_t)mono.tv_sec * 1000000000 + mono.tv_nsec;
}
