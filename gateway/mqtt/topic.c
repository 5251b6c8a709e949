/* Topic name and filter syntax, topic matching with the '$' rule, and the
 * $share/ prefix of shared subscriptions. */
#include <string.h>

#include "gateway/mqtt/mqtt.h"
#include "gateway/mqtt/topic.h"

static bool topic_text_valid(const char *s, size_t len)
{
    return len >= 1 && len <= MQTT_MAX_STRING && mqtt_utf8_valid((const uint8_t *)s, len, NULL);
}

bool mqtt_topic_name_valid(const char *name, size_t len)
{
    if (!topic_text_valid(name, len))
        return false;
    for (size_t i = 0; i < len; i++)
        if (name[i] == '+' || name[i] == '#')
            return false;
    return true;
}

bool mqtt_topic_filter_valid(const char *filter, size_t len)
{
    if (!topic_text_valid(filter, len))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = filter[i];
        if (c != '+' && c != '#')
            continue;
        bool starts_level = i == 0 || filter[i - 1] == '/';
        bool ends_level = i + 1 == len || filter[i + 1] == '/';
        if (!starts_level || !ends_level)
            return false;
        if (c == '#' && i + 1 != len)
            return false;
    }
    return true;
}

/* End of the level starting at i: the next '/' or len. */
static size_t level_end(const char *s, size_t len, size_t i)
{
    const char *slash = i < len ? memchr(s + i, '/', len - i) : NULL;
    return slash ? (size_t)(slash - s) : len;
}

bool mqtt_topic_matches(const char *filter, size_t filter_len, const char *topic,
                        size_t topic_len)
{
    if (filter_len == 0 || topic_len == 0)
        return false;
    if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
        return false;
    size_t fi = 0, ti = 0;
    for (;;) {
        if (fi < filter_len && filter[fi] == '#')
            return true;
        size_t fe = level_end(filter, filter_len, fi);
        size_t te = level_end(topic, topic_len, ti);
        bool plus = fe - fi == 1 && filter[fi] == '+';
        if (!plus && (fe - fi != te - ti || memcmp(filter + fi, topic + ti, fe - fi) != 0))
            return false;
        fi = fe;
        ti = te;
        if (fi == filter_len)
            return ti == topic_len;
        if (ti == topic_len) /* "a/#" matches "a" */
            return filter_len - fi == 2 && filter[fi + 1] == '#';
        fi++;
        ti++;
    }
}

enum mqtt_share_kind mqtt_share_parse(const char *filter, size_t len, struct mqtt_share *out)
{
    static const char prefix[] = "$share/";
    const size_t plen = sizeof prefix - 1;
    if (len < plen || memcmp(filter, prefix, plen) != 0)
        return MQTT_SHARE_NONE;
    size_t g = plen;
    size_t ge = level_end(filter, len, g);
    if (ge == g || ge == len)
        return MQTT_SHARE_INVALID;
    for (size_t i = g; i < ge; i++)
        if (filter[i] == '+' || filter[i] == '#')
            return MQTT_SHARE_INVALID;
    const char *f = filter + ge + 1;
    size_t flen = len - ge - 1;
    if (!mqtt_topic_filter_valid(f, flen))
        return MQTT_SHARE_INVALID;
    out->group = filter + g;
    out->group_len = ge - g;
    out->filter = f;
    out->filter_len = flen;
    return MQTT_SHARE_OK;
}
