/* MQTT 5 properties (§2.2.2): one table says each property's type, the
 * packets it may appear in and its field in struct mqtt_props; decoding,
 * encoding and iteration all run from it. */
#include <stddef.h>
#include <string.h>

#include "gateway/mqtt/mqtt.h"
#include "gateway/mqtt/topic.h"
#include "gateway/mqtt/wire.h"

#define C(t) (1u << (t))
#define WILL C(MQTT_CTX_WILL)
#define MSG (C(MQTT_PUBLISH) | WILL)
#define ALL_CTX (WILL | (0xfffeu & ~(C(MQTT_PINGREQ) | C(MQTT_PINGRESP))))
#define ACKS (C(MQTT_PUBACK) | C(MQTT_PUBREC) | C(MQTT_PUBREL) | C(MQTT_PUBCOMP) | \
              C(MQTT_SUBACK) | C(MQTT_UNSUBACK))
#define F(field) offsetof(struct mqtt_props, field)

#define PROP_MAX_ID 0x2A

struct prop_spec {
    unsigned ctx;    /* contexts (1u << packet type, WILL) it may appear in */
    size_t offset;   /* its field */
};

static const struct prop_spec specs[PROP_MAX_ID + 1] = {
    [MQTT_PROP_PAYLOAD_FORMAT] = { MSG, F(payload_format) },
    [MQTT_PROP_MESSAGE_EXPIRY] = { MSG, F(message_expiry) },
    [MQTT_PROP_CONTENT_TYPE] = { MSG, F(content_type) },
    [MQTT_PROP_RESPONSE_TOPIC] = { MSG, F(response_topic) },
    [MQTT_PROP_CORRELATION_DATA] = { MSG, F(correlation_data) },
    [MQTT_PROP_SUBSCRIPTION_ID] = { C(MQTT_PUBLISH) | C(MQTT_SUBSCRIBE), F(subscription_id) },
    [MQTT_PROP_SESSION_EXPIRY] = { C(MQTT_CONNECT) | C(MQTT_CONNACK) | C(MQTT_DISCONNECT),
                                   F(session_expiry) },
    [MQTT_PROP_ASSIGNED_CLIENT_ID] = { C(MQTT_CONNACK), F(assigned_client_id) },
    [MQTT_PROP_SERVER_KEEP_ALIVE] = { C(MQTT_CONNACK), F(server_keep_alive) },
    [MQTT_PROP_AUTH_METHOD] = { C(MQTT_CONNECT) | C(MQTT_CONNACK) | C(MQTT_AUTH), F(auth_method) },
    [MQTT_PROP_AUTH_DATA] = { C(MQTT_CONNECT) | C(MQTT_CONNACK) | C(MQTT_AUTH), F(auth_data) },
    [MQTT_PROP_REQUEST_PROBLEM_INFO] = { C(MQTT_CONNECT), F(request_problem_info) },
    [MQTT_PROP_WILL_DELAY] = { WILL, F(will_delay) },
    [MQTT_PROP_REQUEST_RESPONSE_INFO] = { C(MQTT_CONNECT), F(request_response_info) },
    [MQTT_PROP_RESPONSE_INFO] = { C(MQTT_CONNACK), F(response_info) },
    [MQTT_PROP_SERVER_REFERENCE] = { C(MQTT_CONNACK) | C(MQTT_DISCONNECT), F(server_reference) },
    [MQTT_PROP_REASON_STRING] = { C(MQTT_CONNACK) | ACKS | C(MQTT_DISCONNECT) | C(MQTT_AUTH),
                                  F(reason_string) },
    [MQTT_PROP_RECEIVE_MAX] = { C(MQTT_CONNECT) | C(MQTT_CONNACK), F(receive_max) },
    [MQTT_PROP_TOPIC_ALIAS_MAX] = { C(MQTT_CONNECT) | C(MQTT_CONNACK), F(topic_alias_max) },
    [MQTT_PROP_TOPIC_ALIAS] = { C(MQTT_PUBLISH), F(topic_alias) },
    [MQTT_PROP_MAX_QOS] = { C(MQTT_CONNACK), F(max_qos) },
    [MQTT_PROP_RETAIN_AVAILABLE] = { C(MQTT_CONNACK), F(retain_available) },
    [MQTT_PROP_USER_PROPERTY] = { ALL_CTX, 0 },
    [MQTT_PROP_MAX_PACKET_SIZE] = { C(MQTT_CONNECT) | C(MQTT_CONNACK), F(max_packet_size) },
    [MQTT_PROP_WILDCARD_SUB_AVAILABLE] = { C(MQTT_CONNACK), F(wildcard_sub_available) },
    [MQTT_PROP_SUB_ID_AVAILABLE] = { C(MQTT_CONNACK), F(sub_id_available) },
    [MQTT_PROP_SHARED_SUB_AVAILABLE] = { C(MQTT_CONNACK), F(shared_sub_available) },
};

/* Type of a known id, -1 for an unknown one. */
static int prop_type(uint32_t id)
{
    switch (id) {
#define PROP_TYPE_CASE(name, value, type, text) \
    case value: \
        return type;
        MQTT_PROP_LIST(PROP_TYPE_CASE)
#undef PROP_TYPE_CASE
    default:
        return -1;
    }
}

const char *mqtt_prop_name(unsigned id)
{
    switch (id) {
#define PROP_NAME_CASE(name, value, type, text) \
    case value: \
        return text;
        MQTT_PROP_LIST(PROP_NAME_CASE)
#undef PROP_NAME_CASE
    default:
        return NULL;
    }
}

bool mqtt_prop_allowed(unsigned id, unsigned ctx)
{
    return prop_type(id) >= 0 && ctx < 16 && (specs[id].ctx & C(ctx)) != 0;
}

/* ---- reading -------------------------------------------------------------- */

/* One property at r: identifier and value (strings checked as UTF-8). */
static bool prop_read(struct mqtt_reader *r, struct mqtt_prop *out)
{
    uint32_t id = mqtt_read_varint(r, "truncated property identifier");
    int type = prop_type(id);
    if (!mqtt_reader_ok(r))
        return false;
    if (type < 0)
        return mqtt_reader_fail(r, MQTT_RC_MALFORMED_PACKET, "unknown property identifier");
    memset(out, 0, sizeof *out);
    out->id = (uint8_t)id;
    const char *what = "property value runs past the property block";
    switch (type) {
    case MQTT_PT_BYTE: out->num = mqtt_read_u8(r, what); break;
    case MQTT_PT_U16: out->num = mqtt_read_u16(r, what); break;
    case MQTT_PT_U32: out->num = mqtt_read_u32(r, what); break;
    case MQTT_PT_VARINT: out->num = mqtt_read_varint(r, what); break;
    case MQTT_PT_STRING: out->str = mqtt_read_string(r, what); break;
    case MQTT_PT_BINARY: out->str = mqtt_read_binary(r, what); break;
    default:
        out->str = mqtt_read_string(r, what);
        out->value = mqtt_read_string(r, what);
        break;
    }
    return mqtt_reader_ok(r);
}

/* The value rules of §3: 0 when fine, else the reason (and *why). */
static int prop_value_check(unsigned id, uint32_t num, const char **why)
{
    switch (id) {
    case MQTT_PROP_PAYLOAD_FORMAT:
    case MQTT_PROP_REQUEST_PROBLEM_INFO:
    case MQTT_PROP_REQUEST_RESPONSE_INFO:
    case MQTT_PROP_MAX_QOS:
    case MQTT_PROP_RETAIN_AVAILABLE:
    case MQTT_PROP_WILDCARD_SUB_AVAILABLE:
    case MQTT_PROP_SUB_ID_AVAILABLE:
    case MQTT_PROP_SHARED_SUB_AVAILABLE:
        if (num > 1)
            return -mqtt_fail(why, MQTT_RC_PROTOCOL_ERROR, "property value must be 0 or 1");
        return 0;
    case MQTT_PROP_RECEIVE_MAX:
    case MQTT_PROP_MAX_PACKET_SIZE:
    case MQTT_PROP_SUBSCRIPTION_ID:
        if (num == 0 || num > (id == MQTT_PROP_SUBSCRIPTION_ID ? MQTT_MAX_REMAINING : UINT32_MAX))
            return -mqtt_fail(why, MQTT_RC_PROTOCOL_ERROR, "property value must not be 0");
        return 0;
    case MQTT_PROP_TOPIC_ALIAS:
        if (num == 0)
            return -mqtt_fail(why, MQTT_RC_TOPIC_ALIAS_INVALID, "topic alias 0");
        return 0;
    default:
        return 0;
    }
}

/* Copies a read property into its field. */
static void prop_store(struct mqtt_props *props, const struct mqtt_prop *p)
{
    uint8_t *field = (uint8_t *)props + specs[p->id].offset;
    int type = prop_type(p->id);
    uint8_t u8 = (uint8_t)p->num;
    uint16_t u16 = (uint16_t)p->num;
    if (type == MQTT_PT_BYTE)
        memcpy(field, &u8, sizeof u8);
    else if (type == MQTT_PT_U16)
        memcpy(field, &u16, sizeof u16);
    else if (type == MQTT_PT_U32 || type == MQTT_PT_VARINT)
        memcpy(field, &p->num, sizeof p->num);
    else
        memcpy(field, &p->str, sizeof p->str);
    props->present |= MQTT_PROP_BIT(p->id);
}

/* Checks one property of a block being decoded and records it. */
static void prop_accept(struct mqtt_reader *r, struct mqtt_props *out, unsigned ctx,
                        const struct mqtt_prop *p)
{
    const char *why = NULL;
    if (!mqtt_prop_allowed(p->id, ctx)) {
        mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "property not allowed in this packet");
        return;
    }
    if (p->id == MQTT_PROP_USER_PROPERTY) {
        out->n_user++;
        return;
    }
    bool repeats = p->id == MQTT_PROP_SUBSCRIPTION_ID && ctx == MQTT_PUBLISH;
    if (mqtt_props_has(out, p->id) && !repeats) {
        mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "property included more than once");
        return;
    }
    int rc = prop_value_check(p->id, p->num, &why);
    if (rc != 0) {
        mqtt_reader_fail(r, rc, why);
        return;
    }
    if (p->id == MQTT_PROP_RESPONSE_TOPIC &&
        !mqtt_topic_name_valid((const char *)p->str.data, p->str.len)) {
        mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "response topic is not a valid topic name");
        return;
    }
    if (p->id == MQTT_PROP_SUBSCRIPTION_ID && out->n_sub_ids++ > 0)
        return; /* the first stays in subscription_id */
    prop_store(out, p);
}

int mqtt_props_decode(const uint8_t *buf, size_t len, unsigned ctx, struct mqtt_props *out,
                      const char **why)
{
    struct mqtt_reader r;
    memset(out, 0, sizeof *out);
    mqtt_reader_init(&r, buf, len);
    uint32_t n = mqtt_read_varint(&r, "truncated property length");
    out->raw = mqtt_read_raw(&r, n, "property block runs past the packet");
    struct mqtt_reader block;
    mqtt_reader_init(&block, out->raw.data, out->raw.len);
    while (mqtt_reader_ok(&r) && mqtt_reader_ok(&block) && mqtt_reader_left(&block) > 0) {
        struct mqtt_prop p;
        if (prop_read(&block, &p))
            prop_accept(&block, out, ctx, &p);
    }
    if (mqtt_reader_ok(&r) && mqtt_reader_ok(&block) &&
        mqtt_props_has(out, MQTT_PROP_AUTH_DATA) && !mqtt_props_has(out, MQTT_PROP_AUTH_METHOD))
        mqtt_reader_fail(&block, MQTT_RC_PROTOCOL_ERROR, "authentication data without method");
    if (!mqtt_reader_ok(&r))
        return mqtt_fail(why, r.err, r.why);
    if (!mqtt_reader_ok(&block))
        return mqtt_fail(why, block.err, block.why);
    return (int)(r.p - buf);
}

void mqtt_read_props(struct mqtt_reader *r, unsigned ctx, struct mqtt_props *out)
{
    const char *why = NULL;
    if (!mqtt_reader_ok(r)) {
        memset(out, 0, sizeof *out);
        return;
    }
    int n = mqtt_props_decode(r->p, mqtt_reader_left(r), ctx, out, &why);
    if (n < 0)
        mqtt_reader_fail(r, -n, why);
    else
        r->p += n;
}

/* ---- iteration ------------------------------------------------------------ */

void mqtt_prop_iter_init(struct mqtt_prop_iter *it, const struct mqtt_props *props)
{
    it->p = props->raw.data;
    it->end = props->raw.data ? props->raw.data + props->raw.len : NULL;
}

bool mqtt_prop_next(struct mqtt_prop_iter *it, struct mqtt_prop *out)
{
    if (!it->p || it->p >= it->end)
        return false;
    struct mqtt_reader r;
    mqtt_reader_init(&r, it->p, (size_t)(it->end - it->p));
    if (!prop_read(&r, out)) {
        it->p = it->end;
        return false;
    }
    it->p = r.p;
    return true;
}

bool mqtt_prop_next_user(struct mqtt_prop_iter *it, struct mqtt_user_prop *out)
{
    struct mqtt_prop p;
    while (mqtt_prop_next(it, &p)) {
        if (p.id == MQTT_PROP_USER_PROPERTY) {
            out->name = p.str;
            out->value = p.value;
            return true;
        }
    }
    return false;
}

bool mqtt_prop_next_sub_id(struct mqtt_prop_iter *it, uint32_t *id)
{
    struct mqtt_prop p;
    while (mqtt_prop_next(it, &p)) {
        if (p.id == MQTT_PROP_SUBSCRIPTION_ID) {
            *id = p.num;
            return true;
        }
    }
    return false;
}

/* ---- writing -------------------------------------------------------------- */

/* One present property from its field. */
static void prop_write_field(struct mqtt_writer *w, const struct mqtt_props *props, unsigned id)
{
    const uint8_t *field = (const uint8_t *)props + specs[id].offset;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    struct mqtt_bytes b;
    mqtt_write_varint(w, id);
    switch (prop_type(id)) {
    case MQTT_PT_BYTE:
        memcpy(&u8, field, sizeof u8);
        w->bad |= prop_value_check(id, u8, NULL) != 0;
        mqtt_write_u8(w, u8);
        break;
    case MQTT_PT_U16:
        memcpy(&u16, field, sizeof u16);
        w->bad |= prop_value_check(id, u16, NULL) != 0;
        mqtt_write_u16(w, u16);
        break;
    case MQTT_PT_U32:
        memcpy(&u32, field, sizeof u32);
        w->bad |= prop_value_check(id, u32, NULL) != 0;
        mqtt_write_u32(w, u32);
        break;
    default: /* strings and binary data */
        memcpy(&b, field, sizeof b);
        mqtt_write_binary(w, b);
        break;
    }
}

static void prop_write_sub_id(struct mqtt_writer *w, uint32_t id)
{
    w->bad |= prop_value_check(MQTT_PROP_SUBSCRIPTION_ID, id, NULL) != 0;
    mqtt_write_u8(w, MQTT_PROP_SUBSCRIPTION_ID);
    mqtt_write_varint(w, id);
}

static void prop_write_user(struct mqtt_writer *w, const struct mqtt_user_prop *u)
{
    mqtt_write_u8(w, MQTT_PROP_USER_PROPERTY);
    mqtt_write_binary(w, u->name);
    mqtt_write_binary(w, u->value);
}

static void props_write_sub_ids(struct mqtt_writer *w, const struct mqtt_props *props)
{
    if (props->sub_ids) {
        for (uint32_t i = 0; i < props->n_sub_ids; i++)
            prop_write_sub_id(w, props->sub_ids[i]);
    } else if (mqtt_props_has(props, MQTT_PROP_SUBSCRIPTION_ID) && props->raw.data) {
        struct mqtt_prop_iter it;
        uint32_t id;
        mqtt_prop_iter_init(&it, props);
        while (mqtt_prop_next_sub_id(&it, &id))
            prop_write_sub_id(w, id);
    } else if (mqtt_props_has(props, MQTT_PROP_SUBSCRIPTION_ID)) {
        prop_write_sub_id(w, props->subscription_id);
    }
}

static void props_write_users(struct mqtt_writer *w, const struct mqtt_props *props)
{
    if (props->user) {
        for (uint32_t i = 0; i < props->n_user; i++)
            prop_write_user(w, &props->user[i]);
    } else if (props->raw.data) {
        struct mqtt_prop_iter it;
        struct mqtt_user_prop u;
        mqtt_prop_iter_init(&it, props);
        while (mqtt_prop_next_user(&it, &u))
            prop_write_user(w, &u);
    }
}

/* How many subscription ids props_write_sub_ids writes. */
static uint32_t props_sub_id_count(const struct mqtt_props *props)
{
    if (props->sub_ids)
        return props->n_sub_ids;
    if (!mqtt_props_has(props, MQTT_PROP_SUBSCRIPTION_ID))
        return 0;
    if (!props->raw.data)
        return 1;
    struct mqtt_prop_iter it;
    uint32_t id, n = 0;
    mqtt_prop_iter_init(&it, props);
    while (mqtt_prop_next_sub_id(&it, &id))
        n++;
    return n;
}

/* Whether the block breaks a rule that has no field of its own: unknown bits,
 * auth data without method, subscription ids where they cannot be. */
static bool props_block_bad(const struct mqtt_props *props, unsigned ctx)
{
    uint32_t n_sub_ids = props_sub_id_count(props);
    if ((props->present >> (PROP_MAX_ID + 1)) != 0 || (props->present & 1) != 0)
        return true;
    if (mqtt_props_has(props, MQTT_PROP_AUTH_DATA) && !mqtt_props_has(props, MQTT_PROP_AUTH_METHOD))
        return true;
    if (n_sub_ids > 0 && !mqtt_prop_allowed(MQTT_PROP_SUBSCRIPTION_ID, ctx))
        return true;
    return n_sub_ids > 1 && ctx != MQTT_PUBLISH;
}

/* The properties without their length. */
static void props_write_block(struct mqtt_writer *w, const struct mqtt_props *props, unsigned ctx)
{
    if (props_block_bad(props, ctx))
        w->bad = true;
    for (unsigned id = 1; id <= PROP_MAX_ID; id++) {
        if (!mqtt_props_has(props, id) || id == MQTT_PROP_SUBSCRIPTION_ID ||
            id == MQTT_PROP_USER_PROPERTY)
            continue;
        if (!mqtt_prop_allowed(id, ctx)) {
            w->bad = true;
            continue;
        }
        prop_write_field(w, props, id);
    }
    props_write_sub_ids(w, props);
    props_write_users(w, props);
}

void mqtt_write_props(struct mqtt_writer *w, const struct mqtt_props *props, unsigned ctx)
{
    struct mqtt_writer count;
    mqtt_writer_init(&count, NULL, 0);
    props_write_block(&count, props, ctx);
    if (count.bad || count.len > MQTT_MAX_REMAINING) {
        w->bad = true;
        return;
    }
    mqtt_write_varint(w, (uint32_t)count.len);
    props_write_block(w, props, ctx);
}

size_t mqtt_props_size(const struct mqtt_props *props, unsigned ctx)
{
    struct mqtt_writer w;
    mqtt_writer_init(&w, NULL, 0);
    mqtt_write_props(&w, props, ctx);
    return w.bad ? 0 : w.len;
}

size_t mqtt_props_encode(uint8_t *buf, size_t cap, const struct mqtt_props *props, unsigned ctx)
{
    size_t n = mqtt_props_size(props, ctx);
    if (n == 0 || !buf || n > cap)
        return n;
    struct mqtt_writer w;
    mqtt_writer_init(&w, buf, cap);
    mqtt_write_props(&w, props, ctx);
    return w.len;
}
