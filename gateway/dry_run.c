/* `mqgate check --dry-run` (see dry_run.h): sample readings through the
 * mapping engine, each message printed as "TOPIC PAYLOAD" with its QoS and
 * retain flag. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gateway/dry_run.h"
#include "gateway/mapping/discovery.h"
#include "gateway/mapping/mapping.h"

struct printer {
    FILE *out;
};

static void print_message(void *ctx, const char *topic, const void *payload, size_t len, int qos,
                          bool retain)
{
    struct printer *p = ctx;
    fprintf(p->out, "%s %.*s", topic, (int)len, (const char *)payload);
    if (qos || retain)
        fprintf(p->out, "   [qos %d%s]", qos, retain ? ", retained" : "");
    fputc('\n', p->out);
}

/* A value a device of this kind might send: the first enum entry, else a
 * round number of the point's type. */
static void sample_value(const struct cfg_point *pt, struct value *v)
{
    memset(v, 0, sizeof *v);
    if (pt->enum_map.count > 0) {
        v->kind = VALUE_INT;
        v->as.i = pt->enum_map.entries[0].value;
        return;
    }
    switch (pt->type) {
    case CFG_T_BOOL: v->kind = VALUE_BOOL; v->as.b = true; break;
    case CFG_T_INT16: case CFG_T_INT32: case CFG_T_INT64:
        v->kind = VALUE_INT; v->as.i = 1234; break;
    case CFG_T_FLOAT32: case CFG_T_FLOAT64:
        v->kind = VALUE_FLOAT; v->as.f = 230.5; break;
    case CFG_T_STRING:
        v->kind = VALUE_STRING;
        snprintf((char *)v->bytes, sizeof v->bytes, "sample");
        v->len = strlen((char *)v->bytes);
        break;
    case CFG_T_RAW:
        v->kind = VALUE_RAW;
        v->len = (size_t)(pt->count > 0 ? pt->count * 2 : 2);
        for (size_t i = 0; i < v->len && i < VALUE_MAX_BYTES; i++)
            v->bytes[i] = (uint8_t)i;
        break;
    default: v->kind = VALUE_UINT; v->as.u = 1234; break;
    }
    /* UART text points without a type parse to numbers. */
    if (!config_point_is_set(pt, "type") && !pt->address && !pt->writable &&
        (pt->sentence || pt->key || config_point_is_set(pt, "column") ||
         config_point_is_set(pt, "group"))) {
        v->kind = VALUE_FLOAT;
        v->as.f = 21.5;
    }
}

static void feed(struct mapping *m, const struct cfg_device *dev, uint32_t di, uint32_t pi,
                 bool good)
{
    struct driver_event ev = { .kind = DRIVER_EVENT_READING, .device = dev, .device_index = di };
    struct reading *r = &ev.u.reading;
    r->device = dev;
    r->device_index = di;
    r->point = &dev->points[pi];
    r->point_index = pi;
    reading_stamp(&r->wall, &r->mono_ns);
    if (good) {
        r->quality = READING_GOOD;
        sample_value(r->point, &r->value);
    } else {
        r->quality = READING_BAD;
        r->error = READING_ERR_TIMEOUT;
        snprintf(r->detail, sizeof r->detail, "no reply");
    }
    mapping_on_event(m, &ev, 0);
}

static void end_cycle(struct mapping *m, const struct cfg_device *dev, uint32_t di)
{
    struct driver_event ev = { .kind = DRIVER_EVENT_CYCLE_END, .device = dev, .device_index = di };
    mapping_on_event(m, &ev, 0);
}

static void print_device(struct mapping *m, const struct config *cfg, uint32_t di, FILE *out)
{
    const struct cfg_device *dev = &cfg->devices[di];
    fprintf(out, "\n# device '%s': a poll cycle with sample values\n", dev->name);
    struct driver_event state = { .kind = DRIVER_EVENT_DEVICE_STATE, .device = dev,
                                  .device_index = di };
    state.u.state.online = true;
    mapping_on_event(m, &state, 0);
    for (uint32_t p = 0; p < dev->n_points; p++)
        feed(m, dev, di, p, true);
    end_cycle(m, dev, di);
    if (dev->n_points == 0)
        return;
    fprintf(out, "# device '%s': the next cycle times out\n", dev->name);
    for (uint32_t p = 0; p < dev->n_points; p++)
        feed(m, dev, di, p, false);
    end_cycle(m, dev, di);
}

int dry_run_print(const struct config *cfg, FILE *out)
{
    struct printer p = { .out = out };
    struct mapping *m;
    char err[256];
    if (mapping_new(cfg, print_message, &p, &m, err, sizeof err) < 0) {
        fprintf(stderr, "mqgate check: %s\n", err);
        return -1;
    }
    fprintf(out, "# messages the gateway would publish (TOPIC PAYLOAD)\n");
    if (cfg->homeassistant.enabled) {
        fprintf(out, "\n# Home Assistant discovery, at start and when Home Assistant starts\n");
        discovery_publish(cfg, print_message, &p);
    }
    for (uint32_t d = 0; d < cfg->n_devices; d++)
        if (cfg->devices[d].enabled)
            print_device(m, cfg, d, out);
    const char *const *topics;
    size_t n = mapping_command_topics(m, &topics);
    if (n) {
        fprintf(out, "\n# command topics (publish a value; the outcome comes on the reply "
                     "topic)\n");
        for (size_t i = 0; i < n; i++)
            fprintf(out, "%s\n", topics[i]);
    }
    mapping_free(m);
    return 0;
}
