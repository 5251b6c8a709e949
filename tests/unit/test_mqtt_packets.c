/* Every MQTT control packet in 3.1.1 and 5.0: encode -> decode -> encode
 * round trips (same bytes again, every prefix "needs more" without reading
 * past it, decoding at an odd address, size queries), golden bytes computed
 * by hand from the spec, every malformed class with its reason code, and the
 * encoders' refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/mqtt/mqtt.h"

#define WIRE_MAX 40000

static uint8_t wire[WIRE_MAX];
static uint8_t again[WIRE_MAX];

static struct mqtt_bytes bytes_of(const char *s)
{
    return (struct mqtt_bytes){ (const uint8_t *)s, (uint32_t)strlen(s) };
}

static void assert_bytes(struct mqtt_bytes b, const char *s)
{
    assert_int_equal(b.len, strlen(s));
    if (b.len > 0)
        assert_memory_equal(b.data, s, b.len);
}

/* Every proper prefix, in a heap block of exactly its size (ASan reports any
 * read past `len`), is "need more". */
static void check_prefixes(const uint8_t *p, size_t n, int version)
{
    for (size_t k = 0; k < n; k++) {
        uint8_t *h = malloc(k ? k : 1);
        assert_non_null(h);
        memcpy(h, p, k);
        struct mqtt_packet pkt;
        const char *why = NULL;
        int rc = mqtt_decode(h, k, version, 0, &pkt, &why);
        free(h);
        if (rc != 0)
            fail_msg("prefix %zu of %zu: %d (%s)", k, n, rc, why ? why : "");
    }
}

/* The packet at an odd address, followed by the start of another packet. */
static void check_odd_offset(const uint8_t *p, size_t n, int version)
{
    uint8_t *h = malloc(n + 3);
    assert_non_null(h);
    memcpy(h + 1, p, n);
    h[n + 1] = 0xc0;
    h[n + 2] = 0x00;
    struct mqtt_packet pkt;
    assert_int_equal(mqtt_decode(h + 1, n + 2, version, 0, &pkt, NULL), (int)n);
    assert_int_equal(mqtt_encode(again, sizeof again, &pkt, version), n);
    assert_memory_equal(again, p, n);
    free(h);
}

/* Encodes `in`, checks the size query and a too-small buffer, then decodes it
 * into *out (slices point into `wire`) and re-encodes it to the same bytes. */
static size_t round_trip(const struct mqtt_packet *in, int version, struct mqtt_packet *out)
{
    size_t n = mqtt_encode(NULL, 0, in, version);
    assert_true(n >= 2 && n <= sizeof wire);
    memset(wire, 0xaa, sizeof wire);
    assert_int_equal(mqtt_encode(wire, n - 1, in, version), n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(wire[i], 0xaa);
    assert_int_equal(mqtt_encode(wire, sizeof wire, in, version), n);
    check_prefixes(wire, n, version);
    check_odd_offset(wire, n, version);
    const char *why = NULL;
    int rc = mqtt_decode(wire, n, version, 0, out, &why);
    if (rc != (int)n)
        fail_msg("%s: decode gave %d (%s)", mqtt_packet_name(in->type), rc, why ? why : "");
    assert_int_equal(out->type, in->type);
    assert_int_equal(mqtt_encode(again, sizeof again, out, version), n);
    assert_memory_equal(again, wire, n);
    return n;
}

/* ---- round trips ----------------------------------------------------------- */

static void test_connect_v311(void **state)
{
    (void)state;
    struct mqtt_packet in = { .type = MQTT_CONNECT }, out;
    struct mqtt_connect *c = &in.u.connect;
    c->version = MQTT_V311;
    c->clean_start = true;
    c->keep_alive = 60;
    c->client_id = bytes_of("mqgate-1");
    round_trip(&in, MQTT_V311, &out);
    assert_int_equal(out.u.connect.version, MQTT_V311);
    assert_true(out.u.connect.clean_start);
    assert_bytes(out.u.connect.client_id, "mqgate-1");

    c->clean_start = false;
    c->keep_alive = 65535;
    c->will = true;
    c->will_qos = 2;
    c->will_retain = true;
    c->will_topic = bytes_of("dev/1/status");
    c->will_payload = (struct mqtt_bytes){ (const uint8_t *)"off\0line", 8 };
    c->has_username = true;
    c->username = bytes_of("user");
    c->has_password = true;
    c->password = (struct mqtt_bytes){ (const uint8_t *)"\x00\xff", 2 };
    round_trip(&in, MQTT_V311, &out);
    const struct mqtt_connect *o = &out.u.connect;
    assert_false(o->clean_start);
    assert_int_equal(o->keep_alive, 65535);
    assert_true(o->will && o->will_retain);
    assert_int_equal(o->will_qos, 2);
    assert_bytes(o->will_topic, "dev/1/status");
    assert_int_equal(o->will_payload.len, 8);
    assert_bytes(o->username, "user");
    assert_int_equal(o->password.len, 2);
    assert_int_equal(o->password.data[1], 0xff);
}

static void test_connect_v5(void **state)
{
    (void)state;
    struct mqtt_user_prop up[2] = { { bytes_of("a"), bytes_of("1") }, { bytes_of("a"), bytes_of("2") } };
    struct mqtt_packet in = { .type = MQTT_CONNECT }, out;
    struct mqtt_connect *c = &in.u.connect;
    c->version = MQTT_V5;
    c->keep_alive = 30;
    c->client_id = bytes_of("");  /* the server assigns one */
    c->props.present = MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY) | MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAX) |
                       MQTT_PROP_BIT(MQTT_PROP_MAX_PACKET_SIZE) | MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS_MAX) |
                       MQTT_PROP_BIT(MQTT_PROP_REQUEST_PROBLEM_INFO) |
                       MQTT_PROP_BIT(MQTT_PROP_REQUEST_RESPONSE_INFO) |
                       MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD) | MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA);
    c->props.session_expiry = 0xffffffffu;
    c->props.receive_max = 20;
    c->props.max_packet_size = 1 << 20;
    c->props.topic_alias_max = 10;
    c->props.request_problem_info = 0;
    c->props.request_response_info = 1;
    c->props.auth_method = bytes_of("SCRAM-SHA-1");
    c->props.auth_data = bytes_of("client-first");
    c->props.user = up;
    c->props.n_user = 2;
    c->will = true;
    c->will_qos = 1;
    c->will_topic = bytes_of("dev/1/lwt");
    c->will_payload = bytes_of("gone");
    c->will_props.present = MQTT_PROP_BIT(MQTT_PROP_WILL_DELAY) | MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT) |
                            MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY) | MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE) |
                            MQTT_PROP_BIT(MQTT_PROP_RESPONSE_TOPIC) |
                            MQTT_PROP_BIT(MQTT_PROP_CORRELATION_DATA);
    c->will_props.will_delay = 5;
    c->will_props.payload_format = 1;
    c->will_props.message_expiry = 3600;
    c->will_props.content_type = bytes_of("text/plain");
    c->will_props.response_topic = bytes_of("dev/1/reply");
    c->will_props.correlation_data = bytes_of("42");
    c->has_password = true; /* v5 allows a password without a user name */
    c->password = bytes_of("token");
    round_trip(&in, MQTT_V5, &out);
    const struct mqtt_connect *o = &out.u.connect;
    assert_int_equal(o->version, MQTT_V5);
    assert_int_equal(o->client_id.len, 0);
    assert_int_equal(o->props.present, c->props.present);
    assert_int_equal(o->props.session_expiry, 0xffffffffu);
    assert_int_equal(o->props.receive_max, 20);
    assert_int_equal(o->props.max_packet_size, 1 << 20);
    assert_bytes(o->props.auth_method, "SCRAM-SHA-1");
    assert_int_equal(o->props.n_user, 2);
    assert_int_equal(o->will_props.present, c->will_props.present);
    assert_int_equal(o->will_props.will_delay, 5);
    assert_bytes(o->will_props.response_topic, "dev/1/reply");
    assert_false(o->has_username);
    assert_bytes(o->password, "token");
    /* the same CONNECT in 3.1.1 cannot be encoded: properties, password alone */
    c->version = MQTT_V311;
    assert_int_equal(mqtt_encode_connect(NULL, 0, c), 0);
}

static void test_connack(void **state)
{
    (void)state;
    struct mqtt_packet in = { .type = MQTT_CONNACK }, out;
    in.u.connack.session_present = true;
    round_trip(&in, MQTT_V311, &out);
    assert_true(out.u.connack.session_present);
    in.u.connack.session_present = false;
    in.u.connack.reason = 5;
    round_trip(&in, MQTT_V311, &out);
    assert_int_equal(out.u.connack.reason, 5);

    struct mqtt_props *p = &in.u.connack.props;
    in.u.connack.reason = MQTT_RC_SUCCESS;
    in.u.connack.session_present = true;
    p->present = MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY) | MQTT_PROP_BIT(MQTT_PROP_ASSIGNED_CLIENT_ID) |
                 MQTT_PROP_BIT(MQTT_PROP_SERVER_KEEP_ALIVE) | MQTT_PROP_BIT(MQTT_PROP_RESPONSE_INFO) |
                 MQTT_PROP_BIT(MQTT_PROP_SERVER_REFERENCE) | MQTT_PROP_BIT(MQTT_PROP_REASON_STRING) |
                 MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAX) | MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS_MAX) |
                 MQTT_PROP_BIT(MQTT_PROP_MAX_QOS) | MQTT_PROP_BIT(MQTT_PROP_RETAIN_AVAILABLE) |
                 MQTT_PROP_BIT(MQTT_PROP_MAX_PACKET_SIZE) |
                 MQTT_PROP_BIT(MQTT_PROP_WILDCARD_SUB_AVAILABLE) |
                 MQTT_PROP_BIT(MQTT_PROP_SUB_ID_AVAILABLE) | MQTT_PROP_BIT(MQTT_PROP_SHARED_SUB_AVAILABLE);
    p->session_expiry = 300;
    p->assigned_client_id = bytes_of("auto-7f3a");
    p->server_keep_alive = 120;
    p->response_info = bytes_of("resp/");
    p->server_reference = bytes_of("other:1883");
    p->reason_string = bytes_of("welcome");
    p->receive_max = 100;
    p->topic_alias_max = 16;
    p->max_qos = 1;
    p->retain_available = 0;
    p->max_packet_size = 268435460u;
    p->wildcard_sub_available = 1;
    p->sub_id_available = 1;
    p->shared_sub_available = 0;
    round_trip(&in, MQTT_V5, &out);
    const struct mqtt_props *o = &out.u.connack.props;
    assert_int_equal(o->present, p->present);
    assert_bytes(o->assigned_client_id, "auto-7f3a");
    assert_int_equal(o->server_keep_alive, 120);
    assert_int_equal(o->max_qos, 1);
    assert_int_equal(o->max_packet_size, 268435460u);
    in.u.connack.session_present = false;
    in.u.connack.reason = MQTT_RC_BAD_AUTH_METHOD;
    round_trip(&in, MQTT_V5, &out);
    assert_int_equal(out.u.connack.reason, 0x8C);
}

static void test_publish(void **state)
{
    (void)state;
    static uint8_t big[20000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)i;
    struct mqtt_packet in = { .type = MQTT_PUBLISH }, out;
    struct mqtt_publish *p = &in.u.publish;
    p->topic = bytes_of("sensors/meter1/power");
    for (int v = MQTT_V311; v <= MQTT_V5; v++) {
        for (uint8_t qos = 0; qos <= 2; qos++) {
            for (int flags = 0; flags < 4; flags++) {
                p->qos = qos;
                p->retain = flags & 1;
                p->dup = qos > 0 && (flags & 2);
                p->packet_id = qos ? (uint16_t)(qos * 1000 + flags + 1) : 0;
                p->payload = flags == 3 ? (struct mqtt_bytes){ big, sizeof big }
                                        : bytes_of(flags ? "230.5" : "");
                size_t n = round_trip(&in, v, &out);
                const struct mqtt_publish *o = &out.u.publish;
                assert_int_equal(o->qos, qos);
                assert_int_equal(o->retain, p->retain);
                assert_int_equal(o->dup, p->dup);
                assert_int_equal(o->packet_id, p->packet_id);
                assert_bytes(o->topic, "sensors/meter1/power");
                assert_int_equal(o->payload.len, p->payload.len);
                if (flags == 3)
                    assert_true(n > sizeof big + 3); /* a 3-byte remaining length */
            }
        }
    }
    /* v5: every PUBLISH property, three subscription ids, topic alias with an
     * empty topic */
    static const uint32_t sub_ids[] = { 1, 200, 70000 };
    struct mqtt_user_prop up = { bytes_of("unit"), bytes_of("W") };
    p->qos = 1;
    p->dup = false;
    p->packet_id = 7;
    p->payload = bytes_of("{\"w\":1}");
    p->topic = bytes_of("");
    p->props.present = MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT) | MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY) |
                       MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE) | MQTT_PROP_BIT(MQTT_PROP_RESPONSE_TOPIC) |
                       MQTT_PROP_BIT(MQTT_PROP_CORRELATION_DATA) | MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS);
    p->props.payload_format = 1;
    p->props.message_expiry = 10;
    p->props.content_type = bytes_of("application/json");
    p->props.response_topic = bytes_of("r/1");
    p->props.correlation_data = bytes_of("c");
    p->props.topic_alias = 3;
    p->props.sub_ids = sub_ids;
    p->props.n_sub_ids = 3;
    p->props.user = &up;
    p->props.n_user = 1;
    round_trip(&in, MQTT_V5, &out);
    const struct mqtt_props *o = &out.u.publish.props;
    assert_int_equal(out.u.publish.topic.len, 0);
    assert_int_equal(o->topic_alias, 3);
    assert_int_equal(o->n_sub_ids, 3);
    assert_int_equal(o->subscription_id, 1);
    assert_int_equal(o->n_user, 1);
    struct mqtt_prop_iter it;
    uint32_t id;
    mqtt_prop_iter_init(&it, o);
    for (int i = 0; i < 3; i++) {
        assert_true(mqtt_prop_next_sub_id(&it, &id));
        assert_int_equal(id, sub_ids[i]);
    }
    /* 3.1.1 has neither properties nor empty topics */
    assert_int_equal(mqtt_encode_publish(NULL, 0, p, MQTT_V311), 0);
}

static void test_acks(void **state)
{
    (void)state;
    static const uint8_t types[] = { MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP };
    for (int i = 0; i < 4; i++) {
        struct mqtt_packet in = { .type = types[i] }, out;
        in.u.ack.type = types[i];
        in.u.ack.packet_id = 0xbeef;
        assert_int_equal(round_trip(&in, MQTT_V311, &out), 4);
        assert_int_equal(out.u.ack.packet_id, 0xbeef);
        assert_int_equal(out.u.ack.type, types[i]);
        assert_int_equal(round_trip(&in, MQTT_V5, &out), 4);
        in.u.ack.reason = types[i] >= MQTT_PUBREL ? MQTT_RC_PACKET_ID_NOT_FOUND : MQTT_RC_QUOTA_EXCEEDED;
        assert_int_equal(round_trip(&in, MQTT_V5, &out), 5);
        assert_int_equal(out.u.ack.reason, in.u.ack.reason);
        in.u.ack.props.present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
        in.u.ack.props.reason_string = bytes_of("no");
        assert_int_equal(round_trip(&in, MQTT_V5, &out), 11);
        assert_bytes(out.u.ack.props.reason_string, "no");
        in.u.ack.reason = 0;
        assert_int_equal(round_trip(&in, MQTT_V5, &out), 11);
        assert_int_equal(mqtt_encode_ack(NULL, 0, &in.u.ack, MQTT_V311), 0);
    }
}

static void test_subscribe(void **state)
{
    (void)state;
    struct mqtt_sub_entry subs[3] = {
        { .filter = bytes_of("sport/tennis/#"), .qos = 1 },
        { .filter = bytes_of("+/status"), .qos = 2 },
        { .filter = bytes_of("$share/grp/meters/+"), .qos = 0 },
    };
    struct mqtt_packet in = { .type = MQTT_SUBSCRIBE }, out;
    in.u.subscribe.packet_id = 10;
    in.u.subscribe.subs = subs;
    in.u.subscribe.count = 3;
    round_trip(&in, MQTT_V311, &out);
    assert_int_equal(out.u.subscribe.count, 3);
    assert_int_equal(out.u.subscribe.packet_id, 10);
    struct mqtt_list_iter it;
    struct mqtt_sub_entry e;
    mqtt_list_iter_init(&it, out.u.subscribe.raw);
    for (int i = 0; i < 3; i++) {
        assert_true(mqtt_sub_next(&it, &e));
        assert_int_equal(e.filter.len, subs[i].filter.len);
        assert_memory_equal(e.filter.data, subs[i].filter.data, e.filter.len);
        assert_int_equal(e.qos, subs[i].qos);
    }
    assert_false(mqtt_sub_next(&it, &e));

    subs[0].no_local = true;
    subs[0].retain_handling = 2;
    subs[1].retain_as_published = true;
    subs[1].retain_handling = 1;
    in.u.subscribe.props.present = MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID);
    in.u.subscribe.props.subscription_id = 268435455u;
    round_trip(&in, MQTT_V5, &out);
    assert_int_equal(out.u.subscribe.props.subscription_id, 268435455u);
    mqtt_list_iter_init(&it, out.u.subscribe.raw);
    for (int i = 0; i < 3; i++) {
        assert_true(mqtt_sub_next(&it, &e));
        assert_int_equal(e.no_local, subs[i].no_local);
        assert_int_equal(e.retain_as_published, subs[i].retain_as_published);
        assert_int_equal(e.retain_handling, subs[i].retain_handling);
    }
    /* v5-only options cannot be said in 3.1.1 */
    assert_int_equal(mqtt_encode_subscribe(NULL, 0, &in.u.subscribe, MQTT_V311), 0);
}

static void test_unsubscribe(void **state)
{
    (void)state;
    struct mqtt_bytes filters[2] = { bytes_of("a/b"), bytes_of("$share/g/#") };
    struct mqtt_packet in = { .type = MQTT_UNSUBSCRIBE }, out;
    in.u.unsubscribe.packet_id = 1;
    in.u.unsubscribe.filters = filters;
    in.u.unsubscribe.count = 2;
    for (int v = MQTT_V311; v <= MQTT_V5; v++) {
        round_trip(&in, v, &out);
        assert_int_equal(out.u.unsubscribe.count, 2);
        struct mqtt_list_iter it;
        struct mqtt_bytes f;
        mqtt_list_iter_init(&it, out.u.unsubscribe.raw);
        assert_true(mqtt_unsub_next(&it, &f));
        assert_bytes(f, "a/b");
        assert_true(mqtt_unsub_next(&it, &f));
        assert_bytes(f, "$share/g/#");
        assert_false(mqtt_unsub_next(&it, &f));
    }
    struct mqtt_user_prop up = { bytes_of("k"), bytes_of("v") };
    in.u.unsubscribe.props.user = &up;
    in.u.unsubscribe.props.n_user = 1;
    round_trip(&in, MQTT_V5, &out);
    assert_int_equal(out.u.unsubscribe.props.n_user, 1);
}

static void test_suback_unsuback(void **state)
{
    (void)state;
    struct mqtt_packet in = { .type = MQTT_SUBACK }, out;
    in.u.suback.type = MQTT_SUBACK;
    in.u.suback.packet_id = 10;
    in.u.suback.reasons = (struct mqtt_bytes){ (const uint8_t *)"\x01\x02\x00\x80", 4 };
    round_trip(&in, MQTT_V311, &out);
    assert_int_equal(out.u.suback.reasons.len, 4);
    assert_memory_equal(out.u.suback.reasons.data, "\x01\x02\x00\x80", 4);
    in.u.suback.reasons = (struct mqtt_bytes){ (const uint8_t *)"\x01\x8f\x9e\xa1\xa2", 5 };
    in.u.suback.props.present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
    in.u.suback.props.reason_string = bytes_of("partly");
    round_trip(&in, MQTT_V5, &out);
    assert_int_equal(out.u.suback.reasons.len, 5);
    assert_bytes(out.u.suback.props.reason_string, "partly");
    assert_int_equal(mqtt_encode_suback(NULL, 0, &in.u.suback, MQTT_V311), 0);

    struct mqtt_packet un = { .type = MQTT_UNSUBACK };
    un.u.suback.type = MQTT_UNSUBACK;
    un.u.suback.packet_id = 3;
    un.u.suback.reasons = (struct mqtt_bytes){ (const uint8_t *)"\x00\x11", 2 };
    assert_int_equal(round_trip(&un, MQTT_V311, &out), 4); /* no reason codes in 3.1.1 */
    assert_int_equal(out.u.suback.reasons.len, 0);
    assert_int_equal(round_trip(&un, MQTT_V5, &out), 7);
    assert_int_equal(out.u.suback.reasons.len, 2);
    assert_int_equal(out.u.suback.reasons.data[1], 0x11);
}

static void test_control(void **state)
{
    (void)state;
    struct mqtt_packet in = { .type = MQTT_PINGREQ }, out;
    assert_int_equal(round_trip(&in, MQTT_V311, &out), 2);
    in.type = MQTT_PINGRESP;
    assert_int_equal(round_trip(&in, MQTT_V5, &out), 2);

    in.type = MQTT_DISCONNECT;
    in.u.disconnect.type = MQTT_DISCONNECT;
    assert_int_equal(round_trip(&in, MQTT_V311, &out), 2);
    assert_int_equal(round_trip(&in, MQTT_V5, &out), 2);
    in.u.disconnect.reason = MQTT_RC_DISCONNECT_WITH_WILL;
    assert_int_equal(round_trip(&in, MQTT_V5, &out), 3);
    assert_int_equal(out.u.disconnect.reason, 0x04);
    assert_int_equal(mqtt_encode_disconnect(NULL, 0, &in.u.disconnect, MQTT_V311), 0);
    in.u.disconnect.props.present = MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY) |
                                    MQTT_PROP_BIT(MQTT_PROP_SERVER_REFERENCE) |
                                    MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
    in.u.disconnect.props.session_expiry = 0;
    in.u.disconnect.props.server_reference = bytes_of("b:1883");
    in.u.disconnect.props.reason_string = bytes_of("bye");
    round_trip(&in, MQTT_V5, &out);
    assert_bytes(out.u.disconnect.props.server_reference, "b:1883");

    struct mqtt_packet auth = { .type = MQTT_AUTH };
    auth.u.disconnect.type = MQTT_AUTH;
    assert_int_equal(round_trip(&auth, MQTT_V5, &out), 2);
    auth.u.disconnect.reason = MQTT_RC_CONTINUE_AUTH;
    assert_int_equal(round_trip(&auth, MQTT_V5, &out), 4); /* reason + empty properties */
    auth.u.disconnect.props.present = MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD) |
                                      MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA);
    auth.u.disconnect.props.auth_method = bytes_of("SCRAM-SHA-1");
    auth.u.disconnect.props.auth_data = bytes_of("server-first");
    round_trip(&auth, MQTT_V5, &out);
    assert_int_equal(out.u.disconnect.type, MQTT_AUTH);
    assert_int_equal(out.u.disconnect.reason, 0x18);
    assert_bytes(out.u.disconnect.props.auth_data, "server-first");
    assert_int_equal(mqtt_encode_disconnect(NULL, 0, &auth.u.disconnect, MQTT_V311), 0);
}

/* ---- golden bytes ---------------------------------------------------------- */

struct golden {
    const char *name;
    int version;
    const uint8_t *bytes;
    size_t n;
};

#define G(name, v, ...) { name, v, (const uint8_t[]){ __VA_ARGS__ }, \
                          sizeof((const uint8_t[]){ __VA_ARGS__ }) }

static const struct golden goldens[] = {
    /* mosquitto_pub -V mqttv311 -i mqgate -k 60 (clean session) */
    G("CONNECT 3.1.1", MQTT_V311, 0x10, 0x12, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00,
      0x3c, 0x00, 0x06, 'm', 'q', 'g', 'a', 't', 'e'),
    /* the same in v5 with Session Expiry Interval 120 */
    G("CONNECT 5", MQTT_V5, 0x10, 0x18, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c,
      0x05, 0x11, 0x00, 0x00, 0x00, 0x78, 0x00, 0x06, 'm', 'q', 'g', 'a', 't', 'e'),
    G("CONNACK 3.1.1", MQTT_V311, 0x20, 0x02, 0x00, 0x00),
    G("CONNACK 5", MQTT_V5, 0x20, 0x03, 0x00, 0x00, 0x00),
    G("PUBLISH 3.1.1 QoS 1", MQTT_V311, 0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0a, 'h', 'i'),
    G("PUBLISH 5 QoS 0", MQTT_V5, 0x30, 0x05, 0x00, 0x01, 't', 0x00, 'x'),
    G("PUBACK 5", MQTT_V5, 0x40, 0x02, 0x00, 0x01),
    G("PUBREC 5 no subscribers", MQTT_V5, 0x50, 0x03, 0x00, 0x01, 0x10),
    G("PUBREL 3.1.1", MQTT_V311, 0x62, 0x02, 0x12, 0x34),
    G("SUBSCRIBE 3.1.1", MQTT_V311, 0x82, 0x08, 0x00, 0x01, 0x00, 0x03, 'a', '/', '#', 0x01),
    G("SUBACK 5", MQTT_V5, 0x90, 0x05, 0x00, 0x01, 0x00, 0x01, 0x80),
    G("UNSUBSCRIBE 3.1.1", MQTT_V311, 0xa2, 0x05, 0x00, 0x02, 0x00, 0x01, 'x'),
    G("UNSUBACK 3.1.1", MQTT_V311, 0xb0, 0x02, 0x00, 0x02),
    G("PINGREQ", MQTT_V311, 0xc0, 0x00),
    G("PINGRESP", MQTT_V5, 0xd0, 0x00),
    G("DISCONNECT 3.1.1", MQTT_V311, 0xe0, 0x00),
    G("DISCONNECT 5 with will", MQTT_V5, 0xe0, 0x01, 0x04),
    G("AUTH 5 continue", MQTT_V5, 0xf0, 0x02, 0x18, 0x00),
};

static void test_golden_bytes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof goldens / sizeof goldens[0]; i++) {
        const struct golden *g = &goldens[i];
        struct mqtt_packet pkt;
        const char *why = NULL;
        int rc = mqtt_decode(g->bytes, g->n, g->version, 0, &pkt, &why);
        if (rc != (int)g->n)
            fail_msg("%s: %d (%s)", g->name, rc, why ? why : "");
        assert_int_equal(mqtt_encode(again, sizeof again, &pkt, g->version), g->n);
        assert_memory_equal(again, g->bytes, g->n);
    }
    /* and from structs written by hand */
    struct mqtt_connect c = { .version = MQTT_V311, .clean_start = true, .keep_alive = 60,
                              .client_id = bytes_of("mqgate") };
    assert_int_equal(mqtt_encode_connect(again, sizeof again, &c), goldens[0].n);
    assert_memory_equal(again, goldens[0].bytes, goldens[0].n);
    struct mqtt_publish p = { .qos = 1, .topic = bytes_of("a/b"), .packet_id = 10,
                              .payload = bytes_of("hi") };
    assert_int_equal(mqtt_encode_publish(again, sizeof again, &p, MQTT_V311), goldens[4].n);
    assert_memory_equal(again, goldens[4].bytes, goldens[4].n);
    struct mqtt_packet pkt;
    assert_int_equal(mqtt_decode(goldens[1].bytes, goldens[1].n, 0, 0, &pkt, NULL), 26);
    assert_int_equal(pkt.u.connect.props.session_expiry, 120);
    assert_int_equal(pkt.u.connect.keep_alive, 60);
}

/* ---- malformed ---------------------------------------------------------------- */

struct bad {
    const char *name;
    int version;
    int rc;
    const uint8_t *bytes;
    size_t n;
};

#define B(name, v, rc, ...) { name, v, rc, (const uint8_t[]){ __VA_ARGS__ }, \
                              sizeof((const uint8_t[]){ __VA_ARGS__ }) }
#define MAL (-MQTT_RC_MALFORMED_PACKET)
#define PROTO (-MQTT_RC_PROTOCOL_ERROR)
#define CONNECT311(flags, ...) 0x10, 0x0d + sizeof((const uint8_t[]){ __VA_ARGS__ }), 0x00, 0x04, \
    'M', 'Q', 'T', 'T', 0x04, flags, 0x00, 0x3c, 0x00, 0x01, 'c', __VA_ARGS__
#define CONNECT5(flags, ...) 0x10, 0x0e + sizeof((const uint8_t[]){ __VA_ARGS__ }), 0x00, 0x04, \
    'M', 'Q', 'T', 'T', 0x05, flags, 0x00, 0x3c, 0x00, 0x00, 0x01, 'c', __VA_ARGS__

static const struct bad bads[] = {
    /* CONNECT (the last argument byte is padding, or the payload's tail) */
    B("reserved connect flag", 0, MAL, 0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x03,
      0x00, 0x3c, 0x00, 0x01, 'c'),
    B("will QoS without will", 0, MAL, 0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x0a,
      0x00, 0x3c, 0x00, 0x01, 'c'),
    B("will retain without will", 0, MAL, 0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x22,
      0x00, 0x3c, 0x00, 0x01, 'c'),
    B("will QoS 3", 0, MAL, CONNECT311(0x1e, 0x00, 0x01, 't', 0x00, 0x00)),
    B("password without user name 3.1.1", 0, MAL, CONNECT311(0x42, 0x00, 0x01, 'p')),
    B("protocol level 3", 0, -MQTT_RC_UNSUPPORTED_VERSION, 0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T',
      'T', 0x03, 0x02, 0x00, 0x3c, 0x00, 0x01, 'c'),
    B("protocol level 6", 0, -MQTT_RC_UNSUPPORTED_VERSION, 0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T',
      'T', 0x06, 0x02, 0x00, 0x3c, 0x00, 0x01, 'c'),
    B("protocol name MQIsdp", 0, -MQTT_RC_UNSUPPORTED_VERSION, 0x10, 0x0f, 0x00, 0x06, 'M', 'Q',
      'I', 's', 'd', 'p', 0x03, 0x02, 0x00, 0x3c, 0x00, 0x01, 'c'),
    B("empty client id, no clean session", 0, -MQTT_RC_CLIENT_ID_INVALID, 0x10, 0x0c, 0x00, 0x04,
      'M', 'Q', 'T', 'T', 0x04, 0x00, 0x00, 0x3c, 0x00, 0x00),
    B("will topic with wildcard", 0, -MQTT_RC_TOPIC_NAME_INVALID,
      CONNECT311(0x06, 0x00, 0x01, '#', 0x00, 0x00)),
    B("empty will topic", 0, -MQTT_RC_TOPIC_NAME_INVALID, CONNECT311(0x06, 0x00, 0x00, 0x00, 0x00)),
    B("client id bad UTF-8", 0, MAL, 0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00,
      0x3c, 0x00, 0x01, 0xff),
    B("bytes after CONNECT payload", 0, MAL, CONNECT311(0x02, 0x00)),
    B("user name missing", 0, MAL, 0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x82, 0x00,
      0x3c, 0x00, 0x01, 'c'),
    B("v5 CONNECT property in wrong packet", 0, PROTO, 0x10, 0x11, 0x00, 0x04, 'M', 'Q', 'T', 'T',
      0x05, 0x02, 0x00, 0x3c, 0x03, 0x23, 0x00, 0x01, 0x00, 0x01, 'c'),
    B("v5 will property in wrong place", 0, PROTO, CONNECT5(0x06, 0x03, 0x23, 0x00, 0x01, 0x00,
      0x01, 't', 0x00, 0x00)),
    B("v5 CONNECT flags", 0, MAL, 0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x01, 0x00,
      0x3c, 0x00, 0x00, 0x01, 'c'),
    /* CONNACK */
    B("CONNACK reserved flags", MQTT_V311, MAL, 0x20, 0x02, 0x02, 0x00),
    B("CONNACK return code 6", MQTT_V311, MAL, 0x20, 0x02, 0x00, 0x06),
    B("CONNACK session present refused", MQTT_V311, PROTO, 0x20, 0x02, 0x01, 0x05),
    B("CONNACK v5 code 0x04", MQTT_V5, MAL, 0x20, 0x03, 0x00, 0x04, 0x00),
    B("CONNACK v5 no properties", MQTT_V5, MAL, 0x20, 0x02, 0x00, 0x00),
    B("CONNACK 3.1.1 long", MQTT_V311, MAL, 0x20, 0x03, 0x00, 0x00, 0x00),
    /* PUBLISH */
    B("PUBLISH QoS 3", MQTT_V311, MAL, 0x36, 0x03, 0x00, 0x01, 't'),
    B("PUBLISH DUP QoS 0", MQTT_V5, MAL, 0x38, 0x04, 0x00, 0x01, 't', 0x00),
    B("PUBLISH packet id 0", MQTT_V311, PROTO, 0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00),
    B("PUBLISH topic wildcard", MQTT_V311, -MQTT_RC_TOPIC_NAME_INVALID, 0x30, 0x05, 0x00, 0x03,
      'a', '/', '+'),
    B("PUBLISH topic #", MQTT_V5, -MQTT_RC_TOPIC_NAME_INVALID, 0x30, 0x04, 0x00, 0x01, '#', 0x00),
    B("PUBLISH empty topic 3.1.1", MQTT_V311, -MQTT_RC_TOPIC_NAME_INVALID, 0x30, 0x02, 0x00, 0x00),
    B("PUBLISH empty topic, no alias", MQTT_V5, PROTO, 0x30, 0x03, 0x00, 0x00, 0x00),
    B("PUBLISH topic alias 0", MQTT_V5, -MQTT_RC_TOPIC_ALIAS_INVALID, 0x30, 0x06, 0x00, 0x00,
      0x03, 0x23, 0x00, 0x00),
    B("PUBLISH topic U+0000", MQTT_V311, MAL, 0x30, 0x04, 0x00, 0x02, 'a', 0x00),
    B("PUBLISH topic surrogate", MQTT_V311, MAL, 0x30, 0x05, 0x00, 0x03, 0xed, 0xa0, 0x80),
    B("PUBLISH topic past the packet", MQTT_V311, MAL, 0x30, 0x03, 0x00, 0x05, 't'),
    B("PUBLISH id cut", MQTT_V311, MAL, 0x32, 0x04, 0x00, 0x01, 't', 0x00),
    B("PUBLISH duplicate property", MQTT_V5, PROTO, 0x30, 0x08, 0x00, 0x01, 't', 0x04, 0x01,
      0x00, 0x01, 0x01),
    B("PUBLISH v5 properties past end", MQTT_V5, MAL, 0x30, 0x05, 0x00, 0x01, 't', 0x05, 0x01),
    B("PUBLISH remaining length not minimal", MQTT_V311, MAL, 0x30, 0x83, 0x00, 0x00, 0x01, 't'),
    /* acks */
    B("PUBACK packet id 0", MQTT_V311, PROTO, 0x40, 0x02, 0x00, 0x00),
    B("PUBACK 3.1.1 with reason", MQTT_V311, MAL, 0x40, 0x03, 0x00, 0x01, 0x00),
    B("PUBACK cut", MQTT_V5, MAL, 0x40, 0x01, 0x00),
    B("PUBREL flags 0000", MQTT_V311, MAL, 0x60, 0x02, 0x00, 0x01),
    B("PUBREC flags 0010", MQTT_V311, MAL, 0x52, 0x02, 0x00, 0x01),
    B("PUBREL reason 0x10", MQTT_V5, MAL, 0x62, 0x03, 0x00, 0x01, 0x10),
    B("PUBACK reason 0x92", MQTT_V5, MAL, 0x40, 0x03, 0x00, 0x01, 0x92),
    B("PUBCOMP wrong property", MQTT_V5, PROTO, 0x70, 0x06, 0x00, 0x01, 0x00, 0x02, 0x01, 0x00),
    /* SUBSCRIBE */
    B("SUBSCRIBE flags 0000", MQTT_V311, MAL, 0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00),
    B("SUBSCRIBE no filter", MQTT_V311, PROTO, 0x82, 0x02, 0x00, 0x01),
    B("SUBSCRIBE v5 no filter", MQTT_V5, PROTO, 0x82, 0x03, 0x00, 0x01, 0x00),
    B("SUBSCRIBE packet id 0", MQTT_V311, PROTO, 0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 'a', 0x00),
    B("SUBSCRIBE 3.1.1 option bits", MQTT_V311, MAL, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x04),
    B("SUBSCRIBE 3.1.1 QoS 3", MQTT_V311, MAL, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x03),
    B("SUBSCRIBE v5 reserved bits", MQTT_V5, MAL, 0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x40),
    B("SUBSCRIBE v5 QoS 3", MQTT_V5, PROTO, 0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x03),
    B("SUBSCRIBE retain handling 3", MQTT_V5, PROTO, 0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a',
      0x30),
    B("SUBSCRIBE no local shared", MQTT_V5, PROTO, 0x82, 0x10, 0x00, 0x01, 0x00, 0x00, 0x0a, '$', 's',
      'h', 'a', 'r', 'e', '/', 'g', '/', 'a', 0x04),
    B("SUBSCRIBE bad share", MQTT_V5, -MQTT_RC_TOPIC_FILTER_INVALID, 0x82, 0x0e, 0x00, 0x01, 0x00,
      0x00, 0x08, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', 0x00),
    B("SUBSCRIBE bad filter", MQTT_V311, -MQTT_RC_TOPIC_FILTER_INVALID, 0x82, 0x0a, 0x00, 0x01,
      0x00, 0x05, 'a', '/', '#', '/', 'b', 0x00),
    B("SUBSCRIBE empty filter", MQTT_V311, -MQTT_RC_TOPIC_FILTER_INVALID, 0x82, 0x05, 0x00, 0x01,
      0x00, 0x00, 0x00),
    B("SUBSCRIBE options missing", MQTT_V311, MAL, 0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'),
    B("SUBSCRIBE two subscription ids", MQTT_V5, PROTO, 0x82, 0x0b, 0x00, 0x01, 0x04, 0x0b, 0x01,
      0x0b, 0x02, 0x00, 0x01, 'a', 0x00),
    B("SUBSCRIBE subscription id 0", MQTT_V5, PROTO, 0x82, 0x09, 0x00, 0x01, 0x02, 0x0b, 0x00,
      0x00, 0x01, 'a', 0x00),
    /* UNSUBSCRIBE */
    B("UNSUBSCRIBE no filter", MQTT_V5, PROTO, 0xa2, 0x03, 0x00, 0x01, 0x00),
    B("UNSUBSCRIBE bad filter", MQTT_V311, -MQTT_RC_TOPIC_FILTER_INVALID, 0xa2, 0x06, 0x00, 0x01,
      0x00, 0x02, 'a', '#'),
    B("UNSUBSCRIBE flags", MQTT_V311, MAL, 0xa0, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'),
    /* SUBACK, UNSUBACK */
    B("SUBACK 3.1.1 code 3", MQTT_V311, MAL, 0x90, 0x03, 0x00, 0x01, 0x03),
    B("SUBACK 3.1.1 v5 code", MQTT_V311, MAL, 0x90, 0x03, 0x00, 0x01, 0x8f),
    B("SUBACK v5 code 0x11", MQTT_V5, MAL, 0x90, 0x04, 0x00, 0x01, 0x00, 0x11),
    B("SUBACK no codes", MQTT_V311, PROTO, 0x90, 0x02, 0x00, 0x01),
    B("UNSUBACK 3.1.1 long", MQTT_V311, MAL, 0xb0, 0x03, 0x00, 0x01, 0x00),
    B("UNSUBACK v5 code 0x01", MQTT_V5, MAL, 0xb0, 0x04, 0x00, 0x01, 0x00, 0x01),
    /* PING, DISCONNECT, AUTH */
    B("PINGREQ with body", MQTT_V311, MAL, 0xc0, 0x01, 0x00),
    B("PINGRESP flags", MQTT_V5, MAL, 0xd1, 0x00),
    B("DISCONNECT 3.1.1 body", MQTT_V311, MAL, 0xe0, 0x01, 0x00),
    B("DISCONNECT v5 reason 0x01", MQTT_V5, MAL, 0xe0, 0x01, 0x01),
    B("DISCONNECT v5 props past end", MQTT_V5, MAL, 0xe0, 0x03, 0x00, 0x05, 0x11),
    B("DISCONNECT v5 auth method", MQTT_V5, PROTO, 0xe0, 0x06, 0x00, 0x04, 0x15, 0x00, 0x01, 'x'),
    B("AUTH in 3.1.1", MQTT_V311, MAL, 0xf0, 0x00),
    B("AUTH reason without properties", MQTT_V5, MAL, 0xf0, 0x01, 0x18),
    B("AUTH reason 0x80", MQTT_V5, MAL, 0xf0, 0x02, 0x80, 0x00),
    B("AUTH data without method", MQTT_V5, PROTO, 0xf0, 0x05, 0x18, 0x03, 0x16, 0x00, 0x00),
    B("reserved type 0", MQTT_V5, MAL, 0x00, 0x00),
    B("remaining length 5 bytes", MQTT_V5, MAL, 0x30, 0xff, 0xff, 0xff, 0xff, 0x01),
    B("unsupported version for PUBLISH", 3, -MQTT_RC_UNSUPPORTED_VERSION, 0x30, 0x03, 0x00, 0x01, 't'),
};

static void test_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        const struct bad *b = &bads[i];
        uint8_t *h = malloc(b->n);
        assert_non_null(h);
        memcpy(h, b->bytes, b->n);
        struct mqtt_packet pkt;
        const char *why = NULL;
        int rc = mqtt_decode(h, b->n, b->version, 0, &pkt, &why);
        free(h);
        if (rc != b->rc)
            fail_msg("%s: got %d (%s), want %d", b->name, rc, why ? why : "", b->rc);
        assert_non_null(why);
        if (getenv("MQTT_TEST_VERBOSE"))
            print_message("%-40s %s\n", b->name, why);
    }
}

static void test_decode_details(void **state)
{
    (void)state;
    struct mqtt_packet pkt;
    const char *why = NULL;
    /* CONNECT with an unsupported level still tells which level it asked */
    static const uint8_t mqisdp[] = { 0x10, 0x0f, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03,
                                      0x02, 0x00, 0x3c, 0x00, 0x01, 'c' };
    assert_int_equal(mqtt_decode_connect(mqisdp, sizeof mqisdp, &pkt.u.connect, &why),
                     -MQTT_RC_UNSUPPORTED_VERSION);
    assert_int_equal(pkt.u.connect.version, 3);
    assert_string_equal(why, "protocol name is not MQTT");
    assert_int_equal(mqtt_connack_v311_code(MQTT_RC_UNSUPPORTED_VERSION), 1);
    /* v5 allows a password without a user name */
    static const uint8_t pw[] = { 0x10, 0x11, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x42, 0x00,
                                  0x3c, 0x00, 0x00, 0x01, 'c', 0x00, 0x01, 'p' };
    assert_int_equal(mqtt_decode(pw, sizeof pw, 0, 0, &pkt, NULL), (int)sizeof pw);
    assert_true(pkt.u.connect.has_password && !pkt.u.connect.has_username);
    /* too large for the caller's limit, known from the fixed header alone */
    static const uint8_t pub[] = { 0x30, 0x80, 0x01 };
    assert_int_equal(mqtt_decode(pub, sizeof pub, MQTT_V5, 100, &pkt, &why),
                     -MQTT_RC_PACKET_TOO_LARGE);
    assert_int_equal(mqtt_decode(pub, sizeof pub, MQTT_V5, 131, &pkt, &why), 0);
    /* a decoder given another packet type */
    static const uint8_t ping[] = { 0xc0, 0x00 };
    assert_int_equal(mqtt_decode_publish(ping, 2, MQTT_V5, &pkt.u.publish, &why), -MQTT_RC_MALFORMED_PACKET);
    assert_string_equal(why, "unexpected packet type");
    /* a PUBLISH v5 with an empty topic and a topic alias is fine */
    static const uint8_t alias[] = { 0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x05, 'x' };
    assert_int_equal(mqtt_decode(alias, sizeof alias, MQTT_V5, 0, &pkt, NULL), (int)sizeof alias);
    assert_int_equal(pkt.u.publish.props.topic_alias, 5);
    assert_bytes(pkt.u.publish.payload, "x");
    /* two packets in a row: the first is consumed alone */
    static const uint8_t two[] = { 0x40, 0x02, 0x00, 0x07, 0xd0, 0x00 };
    assert_int_equal(mqtt_decode(two, sizeof two, MQTT_V311, 0, &pkt, NULL), 4);
    assert_int_equal(pkt.u.ack.packet_id, 7);
    assert_int_equal(mqtt_decode(two + 4, 2, MQTT_V311, 0, &pkt, NULL), 2);
    assert_int_equal(pkt.type, MQTT_PINGRESP);
    /* v5 ack forms: reason + empty properties decodes as reason only */
    static const uint8_t ack4[] = { 0x50, 0x04, 0x00, 0x01, 0x10, 0x00 };
    assert_int_equal(mqtt_decode(ack4, sizeof ack4, MQTT_V5, 0, &pkt, NULL), 6);
    assert_int_equal(pkt.u.ack.reason, 0x10);
}

static void test_encode_refusals(void **state)
{
    (void)state;
    struct mqtt_publish p = { .qos = 1, .topic = bytes_of("t") };
    assert_int_equal(mqtt_encode_publish(NULL, 0, &p, MQTT_V311), 0);  /* packet id 0 */
    p.packet_id = 1;
    assert_true(mqtt_encode_publish(NULL, 0, &p, MQTT_V311) > 0);
    p.qos = 3;
    assert_int_equal(mqtt_encode_publish(NULL, 0, &p, MQTT_V311), 0);
    p.qos = 0;
    p.dup = true;
    assert_int_equal(mqtt_encode_publish(NULL, 0, &p, MQTT_V311), 0);
    p.dup = false;
    p.topic = bytes_of("");
    assert_int_equal(mqtt_encode_publish(NULL, 0, &p, MQTT_V5), 0);    /* no alias */
    assert_int_equal(mqtt_encode_publish(NULL, 0, &p, 6), 0);
    static uint8_t huge[70000];
    p.topic = (struct mqtt_bytes){ huge, sizeof huge };
    assert_int_equal(mqtt_encode_publish(NULL, 0, &p, MQTT_V5), 0);    /* topic > 65535 */

    struct mqtt_connect c = { .version = 3, .clean_start = true };
    assert_int_equal(mqtt_encode_connect(NULL, 0, &c), 0);
    c.version = MQTT_V311;
    c.clean_start = false;
    assert_int_equal(mqtt_encode_connect(NULL, 0, &c), 0);              /* empty id, session */
    c.clean_start = true;
    c.will_retain = true;
    assert_int_equal(mqtt_encode_connect(NULL, 0, &c), 0);              /* retain, no will */
    c.will_retain = false;
    c.will = true;
    assert_int_equal(mqtt_encode_connect(NULL, 0, &c), 0);              /* empty will topic */

    struct mqtt_connack ca = { .session_present = true, .reason = 0x87 };
    assert_int_equal(mqtt_encode_connack(NULL, 0, &ca, MQTT_V5), 0);
    ca.session_present = false;
    assert_int_equal(mqtt_encode_connack(NULL, 0, &ca, MQTT_V311), 0);  /* not 0..5 */
    assert_int_equal(mqtt_encode_connack(NULL, 0, &ca, MQTT_V5), 5);

    struct mqtt_ack a = { .type = MQTT_PUBREL, .packet_id = 0 };
    assert_int_equal(mqtt_encode_ack(NULL, 0, &a, MQTT_V5), 0);
    a.packet_id = 1;
    a.reason = MQTT_RC_NO_MATCHING_SUBSCRIBERS;
    assert_int_equal(mqtt_encode_ack(NULL, 0, &a, MQTT_V5), 0);
    a.type = MQTT_PUBLISH;
    assert_int_equal(mqtt_encode_ack(NULL, 0, &a, MQTT_V5), 0);

    struct mqtt_sub_entry e = { .filter = bytes_of("a"), .retain_handling = 3 };
    struct mqtt_subscribe s = { .packet_id = 1, .subs = &e, .count = 1 };
    assert_int_equal(mqtt_encode_subscribe(NULL, 0, &s, MQTT_V5), 0);
    e.retain_handling = 0;
    assert_int_equal(mqtt_encode_subscribe(NULL, 0, &s, MQTT_V5), 9);
    s.count = 0;
    assert_int_equal(mqtt_encode_subscribe(NULL, 0, &s, MQTT_V5), 0);
    struct mqtt_unsubscribe u = { .packet_id = 1 };
    assert_int_equal(mqtt_encode_unsubscribe(NULL, 0, &u, MQTT_V311), 0);
    struct mqtt_suback sa = { .type = MQTT_SUBACK, .packet_id = 1 };
    assert_int_equal(mqtt_encode_suback(NULL, 0, &sa, MQTT_V5), 0);     /* no codes */
    struct mqtt_disconnect d = { .type = MQTT_DISCONNECT, .reason = MQTT_RC_GRANTED_QOS1 };
    assert_int_equal(mqtt_encode_disconnect(NULL, 0, &d, MQTT_V5), 0);
    assert_int_equal(mqtt_encode_ping(NULL, 0, MQTT_CONNECT), 0);
    struct mqtt_packet none = { .type = 0 };
    assert_int_equal(mqtt_encode(again, sizeof again, &none, MQTT_V5), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_v311),
        cmocka_unit_test(test_connect_v5),
        cmocka_unit_test(test_connack),
        cmocka_unit_test(test_publish),
        cmocka_unit_test(test_acks),
        cmocka_unit_test(test_subscribe),
        cmocka_unit_test(test_unsubscribe),
        cmocka_unit_test(test_suback_unsuback),
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_golden_bytes),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_decode_details),
        cmocka_unit_test(test_encode_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
