/* When a point's reading is published: every poll or on change, with the
 * absolute and percent deadbands, the minimum interval between publishes
 * and the maximum one (a heartbeat), as its `publish` block says. The clock
 * is passed in, so tests drive time. */
#ifndef MQGATE_MAPPING_REPORT_H
#define MQGATE_MAPPING_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "drivers/reading.h"
#include "gateway/mapping/convert.h"

/* What was last published for one point (zeroed: nothing yet). */
struct report_state {
    bool published;
    bool good;                    /* quality of what was published */
    enum reading_error error;
    struct eng_value last;
    int64_t last_ms;
};

/* Whether to publish this reading now. When it returns true it has recorded
 * the reading as published. Rules:
 *  - the first reading is always published;
 *  - a change of quality (good ↔ bad/stale) or of the error kind is
 *    published at once, whatever min_interval says: failures must show;
 *  - otherwise nothing within min_interval of the last publish;
 *  - every_poll: every reading;
 *  - on_change: a number that moved by more than `deadband` (any change
 *    when 0) and by more than `deadband_percent` of the last published
 *    value (from a last value of 0, any move); text or bools that differ;
 *    a change of kind (an enum label ↔ a number); and, with max_interval,
 *    a reading whose last publish is max_interval old or older (the
 *    heartbeat). Only good readings are compared: an unchanged failure
 *    (same quality, same error) or a stale value waits for the heartbeat.
 * The comparison is with the last *published* value, so a slow drift in
 * steps below the deadband still shows once it adds up. min_interval and
 * max_interval are microseconds (as in the config), now_ms milliseconds
 * of a monotonic clock. `eng` is NULL for bad readings (the last value is
 * then kept). */
bool report_decide(const struct cfg_publish *pub, struct report_state *st, bool good,
                   enum reading_error error, const struct eng_value *eng, int64_t now_ms);

#endif
