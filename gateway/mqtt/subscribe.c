/* SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK (§3.8 to §3.11), both versions.
 * Topic filter lists stay in the packet: they are checked once when decoded
 * and then read with an iterator, so decoding needs no memory. */
#include <string.h>

#include "gateway/mqtt/mqtt.h"
#include "gateway/mqtt/topic.h"
#include "gateway/mqtt/wire.h"

#define SO_QOS 0x03
#define SO_NO_LOCAL 0x04
#define SO_RETAIN_AS_PUBLISHED 0x08
#define SO_RETAIN_HANDLING_SHIFT 4

void mqtt_list_iter_init(struct mqtt_list_iter *it, struct mqtt_bytes raw)
{
    it->p = raw.data;
    it->end = raw.data ? raw.data + raw.len : NULL;
}

/* The next length-prefixed filter of a checked list. */
static bool list_next_filter(struct mqtt_list_iter *it, struct mqtt_bytes *filter)
{
    if (!it->p || it->end - it->p < 2)
        return false;
    uint16_t n = (uint16_t)((it->p[0] << 8) | it->p[1]);
    if (it->end - it->p - 2 < n) {
        it->p = it->end;
        return false;
    }
    filter->data = it->p + 2;
    filter->len = n;
    it->p += 2 + n;
    return true;
}

bool mqtt_unsub_next(struct mqtt_list_iter *it, struct mqtt_bytes *filter)
{
    return list_next_filter(it, filter);
}

static void sub_options_parse(uint8_t o, struct mqtt_sub_entry *out)
{
    out->qos = o & SO_QOS;
    out->no_local = (o & SO_NO_LOCAL) != 0;
    out->retain_as_published = (o & SO_RETAIN_AS_PUBLISHED) != 0;
    out->retain_handling = (o >> SO_RETAIN_HANDLING_SHIFT) & 3;
}

bool mqtt_sub_next(struct mqtt_list_iter *it, struct mqtt_sub_entry *out)
{
    if (!list_next_filter(it, &out->filter))
        return false;
    if (it->p == it->end)
        return false;
    sub_options_parse(*it->p++, out);
    return true;
}

/* A filter's syntax, shared subscriptions included; 0 or the reason. */
static int filter_check(struct mqtt_bytes f, struct mqtt_share *share, bool *shared,
                        const char **why)
{
    const char *s = (const char *)f.data;
    enum mqtt_share_kind kind = mqtt_share_parse(s, f.len, share);
    *shared = kind == MQTT_SHARE_OK;
    if (kind == MQTT_SHARE_INVALID)
        return -mqtt_fail(why, MQTT_RC_TOPIC_FILTER_INVALID, "invalid shared subscription");
    if (!mqtt_topic_filter_valid(s, f.len))
        return -mqtt_fail(why, MQTT_RC_TOPIC_FILTER_INVALID, "topic filter empty or bad wildcard");
    return 0;
}

static void read_filter(struct mqtt_reader *r, struct mqtt_bytes *f, bool *shared)
{
    struct mqtt_share share;
    const char *why = NULL;
    *f = mqtt_read_string(r, "truncated topic filter");
    if (!mqtt_reader_ok(r))
        return;
    int rc = filter_check(*f, &share, shared, &why);
    if (rc != 0)
        mqtt_reader_fail(r, rc, why);
}

/* Subscription options (§3.8.3.1): which bits exist, and which values. */
static void sub_options_check(struct mqtt_reader *r, uint8_t o, bool shared, int version)
{
    struct mqtt_sub_entry e;
    sub_options_parse(o, &e);
    if (version != MQTT_V5) {
        if ((o & ~SO_QOS) != 0 || e.qos == 3)
            mqtt_reader_fail(r, MQTT_RC_MALFORMED_PACKET,
                             "reserved subscription option bits or QoS 3");
        return;
    }
    if (o & 0xc0)
        mqtt_reader_fail(r, MQTT_RC_MALFORMED_PACKET, "reserved subscription option bits set");
    else if (e.qos == 3)
        mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "subscription QoS 3");
    else if (e.retain_handling == 3)
        mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "retain handling 3");
    else if (shared && e.no_local)
        mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "no local on a shared subscription");
}

/* Packet identifier, then v5 properties of `ctx`. */
static uint16_t read_id_props(struct mqtt_reader *r, int version, unsigned ctx,
                              struct mqtt_props *props)
{
    uint16_t id = mqtt_read_u16(r, "truncated packet identifier");
    if (mqtt_reader_ok(r) && id == 0)
        mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "packet identifier 0");
    if (version == MQTT_V5)
        mqtt_read_props(r, ctx, props);
    return id;
}

int mqtt_decode_subscribe(const uint8_t *buf, size_t len, int version,
                          struct mqtt_subscribe *out, const char **why)
{
    struct mqtt_reader r;
    struct mqtt_fixed_header h;
    memset(out, 0, sizeof *out);
    int size = mqtt_decode_start(buf, len, 1u << MQTT_SUBSCRIBE, version, &r, &h, why);
    if (size <= 0)
        return size;
    out->packet_id = read_id_props(&r, version, MQTT_SUBSCRIBE, &out->props);
    const uint8_t *start = r.p;
    while (mqtt_reader_ok(&r) && mqtt_reader_left(&r) > 0) {
        struct mqtt_bytes f;
        bool shared = false;
        read_filter(&r, &f, &shared);
        uint8_t o = mqtt_read_u8(&r, "missing subscription options");
        if (mqtt_reader_ok(&r))
            sub_options_check(&r, o, shared, version);
        out->count++;
    }
    out->raw.data = start;
    out->raw.len = (uint32_t)(r.end - start);
    if (mqtt_reader_ok(&r) && out->count == 0)
        mqtt_reader_fail(&r, MQTT_RC_PROTOCOL_ERROR, "SUBSCRIBE without topic filter");
    return mqtt_decode_finish(&r, size, why);
}

int mqtt_decode_unsubscribe(const uint8_t *buf, size_t len, int version,
                            struct mqtt_unsubscribe *out, const char **why)
{
    struct mqtt_reader r;
    struct mqtt_fixed_header h;
    memset(out, 0, sizeof *out);
    int size = mqtt_decode_start(buf, len, 1u << MQTT_UNSUBSCRIBE, version, &r, &h, why);
    if (size <= 0)
        return size;
    out->packet_id = read_id_props(&r, version, MQTT_UNSUBSCRIBE, &out->props);
    const uint8_t *start = r.p;
    while (mqtt_reader_ok(&r) && mqtt_reader_left(&r) > 0) {
        struct mqtt_bytes f;
        bool shared = false;
        read_filter(&r, &f, &shared);
        out->count++;
    }
    out->raw.data = start;
    out->raw.len = (uint32_t)(r.end - start);
    if (mqtt_reader_ok(&r) && out->count == 0)
        mqtt_reader_fail(&r, MQTT_RC_PROTOCOL_ERROR, "UNSUBSCRIBE without topic filter");
    return mqtt_decode_finish(&r, size, why);
}

static void sub_write_entry(struct mqtt_writer *w, const struct mqtt_sub_entry *e, int version)
{
    bool v5_only = e->no_local || e->retain_as_published || e->retain_handling != 0;
    if (e->qos > 2 || e->retain_handling > 2 || (version != MQTT_V5 && v5_only) ||
        e->filter.len == 0)
        w->bad = true;
    mqtt_write_binary(w, e->filter);
    mqtt_write_u8(w, (uint8_t)(e->qos | (e->no_local ? SO_NO_LOCAL : 0) |
                               (e->retain_as_published ? SO_RETAIN_AS_PUBLISHED : 0) |
                               e->retain_handling << SO_RETAIN_HANDLING_SHIFT));
}

/* Packet identifier and properties, as read_id_props reads them. */
static void write_id_props(struct mqtt_writer *w, uint16_t id, const struct mqtt_props *props,
                           unsigned ctx, int version)
{
    if (id == 0 || (version != MQTT_V5 && !mqtt_props_empty(props)))
        w->bad = true;
    mqtt_write_u16(w, id);
    if (version == MQTT_V5)
        mqtt_write_props(w, props, ctx);
}

static void subscribe_write_body(struct mqtt_writer *w, const void *pkt, int version)
{
    const struct mqtt_subscribe *s = pkt;
    uint32_t n = 0;
    write_id_props(w, s->packet_id, &s->props, MQTT_SUBSCRIBE, version);
    if (s->subs) {
        for (n = 0; n < s->count; n++)
            sub_write_entry(w, &s->subs[n], version);
    } else {
        struct mqtt_list_iter it;
        struct mqtt_sub_entry e;
        mqtt_list_iter_init(&it, s->raw);
        for (; mqtt_sub_next(&it, &e); n++)
            sub_write_entry(w, &e, version);
    }
    if (n == 0)
        w->bad = true;
}

size_t mqtt_encode_subscribe(uint8_t *buf, size_t cap, const struct mqtt_subscribe *pkt,
                             int version)
{
    if (!mqtt_version_ok(version))
        return 0;
    return mqtt_encode_packet(buf, cap, MQTT_SUBSCRIBE << 4 | 2, subscribe_write_body, pkt,
                              version);
}

static void unsubscribe_write_body(struct mqtt_writer *w, const void *pkt, int version)
{
    const struct mqtt_unsubscribe *u = pkt;
    uint32_t n = 0;
    struct mqtt_bytes f;
    write_id_props(w, u->packet_id, &u->props, MQTT_UNSUBSCRIBE, version);
    if (u->filters) {
        for (n = 0; n < u->count; n++) {
            w->bad |= u->filters[n].len == 0;
            mqtt_write_binary(w, u->filters[n]);
        }
    } else {
        struct mqtt_list_iter it;
        mqtt_list_iter_init(&it, u->raw);
        for (; mqtt_unsub_next(&it, &f); n++)
            mqtt_write_binary(w, f);
    }
    if (n == 0)
        w->bad = true;
}

size_t mqtt_encode_unsubscribe(uint8_t *buf, size_t cap, const struct mqtt_unsubscribe *pkt,
                               int version)
{
    if (!mqtt_version_ok(version))
        return 0;
    return mqtt_encode_packet(buf, cap, MQTT_UNSUBSCRIBE << 4 | 2, unsubscribe_write_body, pkt,
                              version);
}

/* Whether every code of a SUBACK/UNSUBACK may be sent in `version`. */
static bool suback_codes_valid(unsigned type, struct mqtt_bytes codes, int version)
{
    for (uint32_t i = 0; i < codes.len; i++) {
        uint8_t c = codes.data[i];
        bool ok = version == MQTT_V5 ? mqtt_reason_allowed(type, c) : (c <= 2 || c == 0x80);
        if (!ok)
            return false;
    }
    return true;
}

int mqtt_decode_suback(const uint8_t *buf, size_t len, int version, struct mqtt_suback *out,
                       const char **why)
{
    struct mqtt_reader r;
    struct mqtt_fixed_header h;
    unsigned types = (1u << MQTT_SUBACK) | (1u << MQTT_UNSUBACK);
    memset(out, 0, sizeof *out);
    int size = mqtt_decode_start(buf, len, types, version, &r, &h, why);
    if (size <= 0)
        return size;
    out->type = h.type;
    out->packet_id = read_id_props(&r, version, h.type, &out->props);
    if (version != MQTT_V5 && h.type == MQTT_UNSUBACK) {
        mqtt_read_end(&r, "bytes after the UNSUBACK");
        return mqtt_decode_finish(&r, size, why);
    }
    out->reasons = mqtt_read_raw(&r, mqtt_reader_left(&r), "reason codes");
    if (mqtt_reader_ok(&r) && out->reasons.len == 0)
        mqtt_reader_fail(&r, MQTT_RC_PROTOCOL_ERROR, "acknowledgement without reason codes");
    else if (mqtt_reader_ok(&r) && !suback_codes_valid(h.type, out->reasons, version))
        mqtt_reader_fail(&r, MQTT_RC_MALFORMED_PACKET, "reason code not valid in this packet");
    return mqtt_decode_finish(&r, size, why);
}

static void suback_write_body(struct mqtt_writer *w, const void *pkt, int version)
{
    const struct mqtt_suback *s = pkt;
    write_id_props(w, s->packet_id, &s->props, s->type, version);
    if (version != MQTT_V5 && s->type == MQTT_UNSUBACK)
        return; /* 3.1.1 has no reason codes there */
    if (s->reasons.len == 0 || !s->reasons.data ||
        !suback_codes_valid(s->type, s->reasons, version))
        w->bad = true;
    else
        mqtt_write_raw(w, s->reasons.data, s->reasons.len);
}

size_t mqtt_encode_suback(uint8_t *buf, size_t cap, const struct mqtt_suback *pkt, int version)
{
    if (!mqtt_version_ok(version) || (pkt->type != MQTT_SUBACK && pkt->type != MQTT_UNSUBACK))
        return 0;
    return mqtt_encode_packet(buf, cap, (uint8_t)(pkt->type << 4), suback_write_body, pkt,
                              version);
}
