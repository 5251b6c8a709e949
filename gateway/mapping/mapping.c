/* The mapping engine (see mapping.h): per point its rendered topics, its
 * conversion and its report state; per device its availability topic and,
 * for `payload: grouped`, the object of the cycle being read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/names.h"
#include "gateway/log.h"
#include "gateway/mapping/convert.h"
#include "gateway/mapping/mapping.h"
#include "gateway/mapping/payload.h"
#include "gateway/mapping/report.h"

/* The largest payload: a grouped object of a device with many points. */
#define MAPPING_PAYLOAD_MAX (64 * 1024)
#define MAPPING_TOPIC_MAX 512

struct map_point {
    const struct cfg_point *pt;
    struct config_names names;
    struct point_conv conv;
    struct report_state report;
    char *topic, *error_topic, *command_topic, *reply_topic;
    bool grouped;
    uint64_t write_id;             /* the command in flight, 0 when none */
};

struct map_device {
    const struct cfg_device *cfg;
    struct config_names names;
    char *availability_topic;
    char *group_topic;             /* payload: grouped */
    struct map_point *points;
    struct payload_group group;
    bool group_open;
    struct timespec group_wall;
};

struct mapping {
    const struct config *cfg;
    mapping_publish_fn *publish;
    void *ctx;
    struct map_device *devices;
    size_t n_devices;
    const char **command_topics;
    size_t n_command_topics;
    char payload[MAPPING_PAYLOAD_MAX];
    char group_buf[MAPPING_PAYLOAD_MAX];
    char group_errors[MAPPING_PAYLOAD_MAX / 4];
};

/* ---- building -------------------------------------------------------------- */

static char *render(const struct config_names *names, const struct cfg_template *t)
{
    if (!t->text || !t->text[0])
        return NULL;
    char buf[MAPPING_TOPIC_MAX];
    if (config_names_render(names, t, buf, sizeof buf) >= sizeof buf)
        return NULL;
    return strdup(buf);
}

static int build_point(struct mapping *m, struct map_device *md, struct map_point *mp,
                       const struct cfg_point *pt, char *err, size_t errlen)
{
    mp->pt = pt;
    config_names_of(m->cfg, md->cfg, pt, &mp->names);
    if (point_conv_init(&mp->conv, pt, err, errlen) < 0)
        return -1;
    mp->grouped = pt->publish.payload == CFG_PAYLOAD_GROUPED;
    mp->topic = render(&mp->names, &pt->publish.topic);
    mp->error_topic = render(&mp->names, &pt->publish.error_topic);
    if (pt->writable) {
        mp->command_topic = render(&mp->names, &pt->publish.command_topic);
        mp->reply_topic = render(&mp->names, &pt->publish.reply_topic);
    }
    if (!mp->topic || (pt->writable && (!mp->command_topic || !mp->reply_topic))) {
        snprintf(err, errlen, "device '%s', point '%s': a topic is empty or too long",
                 md->cfg->name, pt->name);
        return -1;
    }
    return 0;
}

static int build_device(struct mapping *m, struct map_device *md, const struct cfg_device *dev,
                        char *err, size_t errlen)
{
    md->cfg = dev;
    config_names_of(m->cfg, dev, NULL, &md->names);
    md->availability_topic = render(&md->names, &dev->publish.availability_topic);
    if (dev->publish.payload == CFG_PAYLOAD_GROUPED)
        md->group_topic = render(&md->names, &dev->publish.topic);
    md->points = calloc(dev->n_points ? dev->n_points : 1, sizeof *md->points);
    if (!md->points) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t p = 0; p < dev->n_points; p++)
        if (build_point(m, md, &md->points[p], &dev->points[p], err, errlen) < 0)
            return -1;
    return 0;
}

static int collect_command_topics(struct mapping *m)
{
    size_t n = 0;
    for (size_t d = 0; d < m->n_devices; d++)
        for (size_t p = 0; p < m->devices[d].cfg->n_points; p++)
            n += m->devices[d].points[p].command_topic != NULL;
    m->command_topics = calloc(n ? n : 1, sizeof *m->command_topics);
    if (!m->command_topics)
        return -1;
    for (size_t d = 0; d < m->n_devices; d++)
        for (size_t p = 0; p < m->devices[d].cfg->n_points; p++)
            if (m->devices[d].points[p].command_topic)
                m->command_topics[m->n_command_topics++] = m->devices[d].points[p].command_topic;
    return 0;
}

int mapping_new(const struct config *cfg, mapping_publish_fn *publish, void *ctx,
                struct mapping **out, char *err, size_t errlen)
{
    struct mapping *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    m->cfg = cfg;
    m->publish = publish;
    m->ctx = ctx;
    m->devices = calloc(cfg->n_devices ? cfg->n_devices : 1, sizeof *m->devices);
    if (!m->devices) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    m->n_devices = cfg->n_devices;
    for (size_t d = 0; d < cfg->n_devices; d++)
        if (build_device(m, &m->devices[d], &cfg->devices[d], err, errlen) < 0)
            goto fail;
    if (collect_command_topics(m) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    *out = m;
    return 0;
fail:
    mapping_free(m);
    return -1;
}

void mapping_free(struct mapping *m)
{
    if (!m)
        return;
    for (size_t d = 0; d < m->n_devices; d++) {
        struct map_device *md = &m->devices[d];
        for (size_t p = 0; md->points && p < md->cfg->n_points; p++) {
            struct map_point *mp = &md->points[p];
            point_conv_free(&mp->conv);
            free(mp->topic);
            free(mp->error_topic);
            free(mp->command_topic);
            free(mp->reply_topic);
        }
        free(md->points);
        free(md->availability_topic);
        free(md->group_topic);
    }
    free(m->devices);
    free(m->command_topics);
    free(m);
}

/* ---- readings -------------------------------------------------------------- */

static void publish(struct mapping *m, const char *topic, const char *payload, size_t len,
                    const struct cfg_publish *pub)
{
    m->publish(m->ctx, topic, payload, len, (int)pub->qos, pub->retain);
}

/* A value that cannot be converted (an expression dividing by zero) is a
 * bad reading of that point, with the reason. */
static void as_parse_error(struct reading *r, const char *why)
{
    r->quality = READING_BAD;
    r->error = READING_ERR_PARSE;
    snprintf(r->detail, sizeof r->detail, "%s", why);
}

static void group_add(struct mapping *m, struct map_device *md, const struct payload_point *pp)
{
    if (!md->group_open) {
        payload_group_begin(&md->group, m->group_buf, sizeof m->group_buf, m->group_errors,
                            sizeof m->group_errors);
        md->group_open = true;
        md->group_wall = pp->r->wall;
    }
    payload_group_add(&md->group, pp);
}

static void on_reading(struct mapping *m, struct map_device *md, const struct reading *in,
                       int64_t now_ms)
{
    if (in->point_index >= md->cfg->n_points)
        return;
    struct map_point *mp = &md->points[in->point_index];
    struct reading r = *in;
    struct eng_value eng;
    bool has_value = r.quality != READING_BAD;
    char why[READING_DETAIL_MAX];
    if (has_value && convert_to_eng(&mp->conv, &r.value, &eng, why, sizeof why) < 0) {
        as_parse_error(&r, why);
        has_value = false;
    }
    struct payload_point pp = { .pt = mp->pt, .names = &mp->names.v, .r = &r,
                                .eng = has_value ? &eng : NULL };
    if (mp->grouped) {
        group_add(m, md, &pp);
        return;
    }
    const struct cfg_publish *pub = &mp->pt->publish;
    bool good = r.quality == READING_GOOD;
    if (!report_decide(pub, &mp->report, good, r.error, pp.eng, now_ms))
        return;
    int len = payload_render(pub, &pp, m->payload, sizeof m->payload);
    if (len < 0) {
        log_warn("mapping", "%s/%s: payload longer than %d bytes; not published", md->cfg->name,
                 mp->pt->name, MAPPING_PAYLOAD_MAX);
        return;
    }
    const char *topic = !good && r.quality == READING_BAD && mp->error_topic ? mp->error_topic :
                                                                               mp->topic;
    publish(m, topic, m->payload, (size_t)len, pub);
}

static void on_cycle_end(struct mapping *m, struct map_device *md)
{
    if (!md->group_open)
        return;
    md->group_open = false;
    const struct cfg_publish *pub = &md->cfg->publish;
    int len = payload_group_end(&md->group, pub, &md->group_wall);
    if (len < 0) {
        log_warn("mapping", "%s: grouped payload longer than %d bytes; not published",
                 md->cfg->name, MAPPING_PAYLOAD_MAX);
        return;
    }
    if (len > 0 && md->group_topic)
        publish(m, md->group_topic, m->group_buf, (size_t)len, pub);
}

static void on_state(struct mapping *m, struct map_device *md, const struct device_state *st)
{
    if (!md->availability_topic)
        return;
    const char *status = st->online ? "online" : "offline";
    m->publish(m->ctx, md->availability_topic, status, strlen(status), 1, true);
}

void mapping_publish_all_availability(struct mapping *m, const char *status)
{
    for (size_t d = 0; d < m->n_devices; d++) {
        struct map_device *md = &m->devices[d];
        if (md->cfg->enabled && md->availability_topic)
            m->publish(m->ctx, md->availability_topic, status, strlen(status), 1, true);
    }
}

/* ---- commands -------------------------------------------------------------- */

/* The outcome of a command on its reply topic: "ok", or "error: why". */
static void reply(struct mapping *m, const struct map_point *mp, const char *why)
{
    char text[READING_DETAIL_MAX + 48];
    int len = why ? snprintf(text, sizeof text, "error: %s", why) : snprintf(text, sizeof text, "ok");
    if (len < 0)
        return;
    if ((size_t)len >= sizeof text)
        len = (int)sizeof text - 1;
    m->publish(m->ctx, mp->reply_topic, text, (size_t)len, (int)mp->pt->publish.qos, false);
}

static struct map_point *find_command(struct mapping *m, const char *topic,
                                      struct map_device **dev_out)
{
    for (size_t d = 0; d < m->n_devices; d++) {
        struct map_device *md = &m->devices[d];
        for (size_t p = 0; p < md->cfg->n_points; p++) {
            struct map_point *mp = &md->points[p];
            if (mp->command_topic && strcmp(mp->command_topic, topic) == 0) {
                *dev_out = md;
                return mp;
            }
        }
    }
    return NULL;
}

static struct map_point *find_point(struct mapping *m, const char *device, const char *point)
{
    for (size_t d = 0; d < m->n_devices; d++) {
        struct map_device *md = &m->devices[d];
        if (strcmp(md->cfg->name, device) != 0)
            continue;
        for (size_t p = 0; p < md->cfg->n_points; p++)
            if (strcmp(md->points[p].pt->name, point) == 0)
                return &md->points[p];
    }
    return NULL;
}

size_t mapping_command_topics(const struct mapping *m, const char *const **topics)
{
    *topics = m->command_topics;
    return m->n_command_topics;
}

int mapping_command_parse(struct mapping *m, const char *topic, const void *payload, size_t len,
                          struct mapping_command *cmd)
{
    struct map_device *md;
    struct map_point *mp = find_command(m, topic, &md);
    if (!mp)
        return -1;
    char why[READING_DETAIL_MAX];
    if (convert_command(&mp->conv, payload, len, &cmd->raw, why, sizeof why) < 0) {
        log_warn("mapping", "command for %s/%s refused: %s", md->cfg->name, mp->pt->name, why);
        reply(m, mp, why);
        return -1;
    }
    cmd->device = md->cfg->name;
    cmd->point = mp->pt->name;
    return 0;
}

void mapping_command_sent(struct mapping *m, const char *device, const char *point, uint64_t id)
{
    struct map_point *mp = find_point(m, device, point);
    if (mp)
        mp->write_id = id;
}

void mapping_command_failed(struct mapping *m, const char *device, const char *point,
                            const char *why)
{
    struct map_point *mp = find_point(m, device, point);
    if (mp && mp->reply_topic)
        reply(m, mp, why);
}

static void on_write_done(struct mapping *m, struct map_device *md, const struct write_result *w)
{
    for (size_t p = 0; p < md->cfg->n_points; p++) {
        struct map_point *mp = &md->points[p];
        if (mp->write_id != w->id || !mp->reply_topic)
            continue;
        mp->write_id = 0;
        if (w->error == READING_ERR_NONE) {
            reply(m, mp, NULL);
        } else {
            char why[READING_DETAIL_MAX + 32];
            snprintf(why, sizeof why, "%s: %s", reading_error_name(w->error), w->detail);
            log_warn("mapping", "write to %s/%s failed: %s", md->cfg->name, mp->pt->name, why);
            reply(m, mp, why);
        }
        return;
    }
}

void mapping_on_event(struct mapping *m, const struct driver_event *ev, int64_t now_ms)
{
    if (ev->device_index >= m->n_devices)
        return;
    struct map_device *md = &m->devices[ev->device_index];
    switch (ev->kind) {
    case DRIVER_EVENT_READING: on_reading(m, md, &ev->u.reading, now_ms); break;
    case DRIVER_EVENT_CYCLE_END: on_cycle_end(m, md); break;
    case DRIVER_EVENT_DEVICE_STATE: on_state(m, md, &ev->u.state); break;
    case DRIVER_EVENT_WRITE_DONE: on_write_done(m, md, &ev->u.write); break;
    }
}
