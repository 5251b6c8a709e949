/* The publish decision of one point: first reading, quality and error
 * changes, min_interval, every_poll or on_change with deadbands, and the
 * max_interval heartbeat. Config durations are microseconds, the clock is
 * milliseconds: elapsed time is compared in microseconds. */
#include "gateway/mapping/report.h"

#include <math.h>
#include <string.h>

static int64_t elapsed_us(const struct report_state *st, int64_t now_ms)
{
    return (now_ms - st->last_ms) * 1000;
}

/* Whether a number moved past both deadbands, relative to the last
 * published value (not the last seen, so slow drift still shows). */
static bool number_moved(const struct cfg_publish *pub, const struct eng_value *last,
                         const struct eng_value *now)
{
    double delta = fabs(now->number - last->number);
    /* two 64-bit integers 1 apart can be the same double: their text is exact */
    if (delta == 0 && now->integral && last->integral && strcmp(now->text, last->text) != 0)
        delta = 0x1p-1074;
    if (delta == 0 || delta <= pub->deadband)
        return false;
    if (pub->deadband_percent > 0) {
        /* from 0, any move is an infinite percentage */
        double base = fabs(last->number);
        if (base > 0 && delta / base * 100 <= pub->deadband_percent)
            return false;
    }
    return true;
}

static bool value_changed(const struct cfg_publish *pub, const struct eng_value *last,
                          const struct eng_value *now)
{
    if (last->kind != now->kind)
        return true;
    switch (now->kind) {
    case ENG_NUMBER: return number_moved(pub, last, now);
    case ENG_BOOL: return last->b != now->b;
    default: return strcmp(last->text, now->text) != 0;
    }
}

static bool record(struct report_state *st, bool good, enum reading_error error,
                   const struct eng_value *eng, int64_t now_ms)
{
    st->published = true;
    st->good = good;
    st->error = error;
    if (eng && eng != &st->last)
        st->last = *eng;
    st->last_ms = now_ms;
    return true;
}

bool report_decide(const struct cfg_publish *pub, struct report_state *st, bool good,
                   enum reading_error error, const struct eng_value *eng, int64_t now_ms)
{
    if (!st->published || good != st->good || error != st->error)
        return record(st, good, error, eng, now_ms);
    if (elapsed_us(st, now_ms) < pub->min_interval)
        return false;
    if (pub->report == CFG_REPORT_EVERY_POLL)
        return record(st, good, error, eng, now_ms);
    /* Only a good value is compared: a bad reading has none, and a stale one
     * repeats the last good one. Unchanged failures wait for the heartbeat. */
    if (good && eng && value_changed(pub, &st->last, eng))
        return record(st, good, error, eng, now_ms);
    if (pub->max_interval > 0 && elapsed_us(st, now_ms) >= pub->max_interval)
        return record(st, good, error, eng, now_ms);
    return false;
}
