/* MQTT topic names and filters (§4.7): their syntax, matching a topic against
 * a filter, and the $share/{group}/{filter} form of shared subscriptions.
 * Pure functions over (pointer, length): no NUL terminator is needed. */
#ifndef MQGATE_MQTT_TOPIC_H
#define MQGATE_MQTT_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

/* A topic name: 1..65,535 bytes of valid MQTT UTF-8 (mqtt_utf8_valid), with
 * no '+' or '#'. */
bool mqtt_topic_name_valid(const char *name, size_t len);

/* A topic filter: 1..65,535 bytes of valid MQTT UTF-8 in which '+' fills a
 * whole level and '#' fills the last one ("#", "a/#", "+/b/+" are valid;
 * "a#", "a/#/b", "a+" are not). A $share/ filter is valid here when its
 * characters are; check it with mqtt_share_parse. */
bool mqtt_topic_filter_valid(const char *filter, size_t len);

/* Whether `topic` (a valid topic name) matches `filter` (a valid, non-shared
 * filter). '+' matches one level, also an empty one; '#' matches its parent
 * level and everything below ("sport/#" matches "sport"). A filter starting
 * with a wildcard does not match topics starting with '$' (§4.7.2: "#" does
 * not match "$SYS/uptime", "$SYS/#" does). */
bool mqtt_topic_matches(const char *filter, size_t filter_len, const char *topic,
                        size_t topic_len);

/* A shared subscription's parts: slices of the parsed filter. */
struct mqtt_share {
    const char *group;
    size_t group_len;
    const char *filter;
    size_t filter_len;
};

enum mqtt_share_kind {
    MQTT_SHARE_INVALID = -1, /* starts with "$share/" but is not group/filter */
    MQTT_SHARE_NONE = 0,     /* an ordinary filter */
    MQTT_SHARE_OK = 1,       /* *out is set */
};

/* Splits "$share/{group}/{filter}" (§4.8.2): the group is at least one
 * character without '/', '+' or '#'; the filter is non-empty and valid
 * (mqtt_topic_filter_valid). Anything not starting with "$share/" is NONE. */
enum mqtt_share_kind mqtt_share_parse(const char *filter, size_t len, struct mqtt_share *out);

#endif
