/* MQTT 5 properties (§2.2.2): every property decoded, stored and re-encoded
 * byte for byte; the packets each may appear in; "at most once" (user
 * property and PUBLISH subscription ids excepted); value rules; user
 * properties and subscription ids through the iterator; encoding limits. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/mqtt/mqtt.h"

static const uint8_t all_ids[] = {
#define ID(name, id, type, text) id,
    MQTT_PROP_LIST(ID)
#undef ID
};
static const int all_types[] = {
#define TYPE(name, id, type, text) type,
    MQTT_PROP_LIST(TYPE)
#undef TYPE
};
#define N_PROPS (sizeof all_ids / sizeof all_ids[0])

/* The contexts a property block may be in. */
static const unsigned contexts[] = {
    MQTT_CTX_WILL, MQTT_CONNECT, MQTT_CONNACK, MQTT_PUBLISH, MQTT_PUBACK, MQTT_PUBREC,
    MQTT_PUBREL, MQTT_PUBCOMP, MQTT_SUBSCRIBE, MQTT_SUBACK, MQTT_UNSUBSCRIBE, MQTT_UNSUBACK,
    MQTT_DISCONNECT, MQTT_AUTH,
};
#define N_CTX (sizeof contexts / sizeof contexts[0])

/* A block under construction: its length is filled in by block_done. */
struct block {
    uint8_t b[256];
    size_t n;
};

static void put(struct block *bl, const void *p, size_t n)
{
    assert_true(bl->n + n <= sizeof bl->b);
    memcpy(bl->b + bl->n, p, n);
    bl->n += n;
}

static void put_str(struct block *bl, const char *s)
{
    uint8_t len[2] = { 0, (uint8_t)strlen(s) };
    put(bl, len, 2);
    put(bl, s, strlen(s));
}

/* One property with a sample value of its type. */
static void put_sample(struct block *bl, uint8_t id, int type)
{
    static const uint8_t u16[] = { 0x12, 0x34 }, u32[] = { 0x12, 0x34, 0x56, 0x78 };
    static const uint8_t vbi[] = { 0xff, 0xff, 0xff, 0x7f };
    static const uint8_t bin[] = { 0x00, 0x04, 0x00, 0x01, 0xfe, 0xff };
    uint8_t one = 1;
    put(bl, &id, 1);
    switch (type) {
    case MQTT_PT_BYTE: put(bl, &one, 1); break;
    case MQTT_PT_U16: put(bl, u16, 2); break;
    case MQTT_PT_U32: put(bl, u32, 4); break;
    case MQTT_PT_VARINT: put(bl, vbi, 4); break;
    case MQTT_PT_STRING: put_str(bl, id == MQTT_PROP_RESPONSE_TOPIC ? "reply/to" : "caf\xc3\xa9"); break;
    case MQTT_PT_BINARY: put(bl, bin, sizeof bin); break;
    default: put_str(bl, "name"); put_str(bl, "value"); break;
    }
}

/* The block with its length in front, in a heap buffer of exactly that size
 * (so ASan catches any read past it). */
static uint8_t *block_done(const struct block *bl, size_t *len)
{
    uint8_t *p = malloc(bl->n + 4);
    assert_non_null(p);
    size_t h = mqtt_varint_encode(p, 4, (uint32_t)bl->n);
    memcpy(p + h, bl->b, bl->n);
    *len = h + bl->n;
    return p;
}

static int decode_block(const struct block *bl, unsigned ctx, struct mqtt_props *out,
                        const char **why)
{
    size_t len;
    uint8_t *p = block_done(bl, &len);
    int rc = mqtt_props_decode(p, len, ctx, out, why);
    if (rc > 0)
        assert_int_equal(rc, (int)len);
    /* keep the slices valid: callers only look at presence and numbers */
    free(p);
    return rc;
}

static unsigned first_ctx(uint8_t id)
{
    for (size_t c = 0; c < N_CTX; c++)
        if (mqtt_prop_allowed(id, contexts[c]))
            return contexts[c];
    fail_msg("property 0x%02x allowed nowhere", id);
    return 0;
}

static void test_every_property_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_PROPS; i++) {
        struct block bl = { .n = 0 };
        put_sample(&bl, all_ids[i], all_types[i]);
        if (all_ids[i] == MQTT_PROP_AUTH_DATA)
            put_sample(&bl, MQTT_PROP_AUTH_METHOD, MQTT_PT_STRING);
        unsigned ctx = first_ctx(all_ids[i]);
        size_t len;
        uint8_t *wire = block_done(&bl, &len);
        struct mqtt_props p;
        const char *why = NULL;
        int rc = mqtt_props_decode(wire, len, ctx, &p, &why);
        if (rc != (int)len)
            fail_msg("property %s: %d (%s)", mqtt_prop_name(all_ids[i]), rc, why ? why : "");
        /* the iterator sees the value as written */
        struct mqtt_prop_iter it;
        struct mqtt_prop one;
        mqtt_prop_iter_init(&it, &p);
        assert_true(mqtt_prop_next(&it, &one));
        assert_int_equal(one.id, all_ids[i]);
        /* encoding from the struct's fields gives the same bytes back */
        uint8_t out[300];
        assert_int_equal(mqtt_props_size(&p, ctx), len);
        assert_int_equal(mqtt_props_encode(out, sizeof out, &p, ctx), len);
        if (all_ids[i] != MQTT_PROP_AUTH_DATA)
            assert_memory_equal(out, wire, len);
        free(wire);
    }
}

static void test_field_values(void **state)
{
    (void)state;
    struct block bl = { .n = 0 };
    put_sample(&bl, MQTT_PROP_PAYLOAD_FORMAT, MQTT_PT_BYTE);
    put_sample(&bl, MQTT_PROP_MESSAGE_EXPIRY, MQTT_PT_U32);
    put_sample(&bl, MQTT_PROP_CONTENT_TYPE, MQTT_PT_STRING);
    put_sample(&bl, MQTT_PROP_RESPONSE_TOPIC, MQTT_PT_STRING);
    put_sample(&bl, MQTT_PROP_CORRELATION_DATA, MQTT_PT_BINARY);
    put_sample(&bl, MQTT_PROP_SUBSCRIPTION_ID, MQTT_PT_VARINT);
    put_sample(&bl, MQTT_PROP_TOPIC_ALIAS, MQTT_PT_U16);
    size_t len;
    uint8_t *wire = block_done(&bl, &len);
    struct mqtt_props p;
    assert_int_equal(mqtt_props_decode(wire, len, MQTT_PUBLISH, &p, NULL), (int)len);
    assert_int_equal(p.payload_format, 1);
    assert_int_equal(p.message_expiry, 0x12345678u);
    assert_int_equal(p.content_type.len, 5);
    assert_memory_equal(p.content_type.data, "caf\xc3\xa9", 5);
    assert_int_equal(p.response_topic.len, 8);
    assert_memory_equal(p.response_topic.data, "reply/to", 8);
    assert_int_equal(p.correlation_data.len, 4);
    assert_memory_equal(p.correlation_data.data, "\x00\x01\xfe\xff", 4);
    assert_int_equal(p.subscription_id, 268435455u);
    assert_int_equal(p.n_sub_ids, 1);
    assert_int_equal(p.topic_alias, 0x1234);
    assert_true(mqtt_props_has(&p, MQTT_PROP_TOPIC_ALIAS));
    assert_false(mqtt_props_has(&p, MQTT_PROP_SESSION_EXPIRY));
    assert_int_equal(p.present, MQTT_PROP_BIT(1) | MQTT_PROP_BIT(2) | MQTT_PROP_BIT(3) |
                                    MQTT_PROP_BIT(8) | MQTT_PROP_BIT(9) | MQTT_PROP_BIT(0x0B) |
                                    MQTT_PROP_BIT(0x23));
    free(wire);
}

static void test_wrong_packet(void **state)
{
    (void)state;
    int checked = 0;
    for (size_t i = 0; i < N_PROPS; i++) {
        for (size_t c = 0; c < N_CTX; c++) {
            if (mqtt_prop_allowed(all_ids[i], contexts[c]))
                continue;
            struct block bl = { .n = 0 };
            put_sample(&bl, all_ids[i], all_types[i]);
            struct mqtt_props p;
            const char *why = NULL;
            assert_int_equal(decode_block(&bl, contexts[c], &p, &why), -MQTT_RC_PROTOCOL_ERROR);
            assert_string_equal(why, "property not allowed in this packet");
            checked++;
        }
    }
    assert_true(checked > 200);
    /* a sample of §2.2.2.2's table */
    assert_true(mqtt_prop_allowed(MQTT_PROP_WILL_DELAY, MQTT_CTX_WILL));
    assert_false(mqtt_prop_allowed(MQTT_PROP_WILL_DELAY, MQTT_CONNECT));
    assert_false(mqtt_prop_allowed(MQTT_PROP_TOPIC_ALIAS, MQTT_CTX_WILL));
    assert_true(mqtt_prop_allowed(MQTT_PROP_SESSION_EXPIRY, MQTT_DISCONNECT));
    assert_true(mqtt_prop_allowed(MQTT_PROP_REASON_STRING, MQTT_PUBREL));
    assert_false(mqtt_prop_allowed(MQTT_PROP_REASON_STRING, MQTT_PUBLISH));
    assert_true(mqtt_prop_allowed(MQTT_PROP_USER_PROPERTY, MQTT_UNSUBSCRIBE));
    assert_false(mqtt_prop_allowed(MQTT_PROP_USER_PROPERTY, MQTT_PINGREQ));
    assert_false(mqtt_prop_allowed(0x04, MQTT_PUBLISH));
    assert_string_equal(mqtt_prop_name(MQTT_PROP_TOPIC_ALIAS), "topic alias");
    assert_null(mqtt_prop_name(0x04));
}

static void test_duplicates(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_PROPS; i++) {
        uint8_t id = all_ids[i];
        unsigned ctx = first_ctx(id);
        struct block bl = { .n = 0 };
        put_sample(&bl, id, all_types[i]);
        put_sample(&bl, id, all_types[i]);
        if (id == MQTT_PROP_AUTH_DATA)
            put_sample(&bl, MQTT_PROP_AUTH_METHOD, MQTT_PT_STRING);
        struct mqtt_props p;
        const char *why = NULL;
        int rc = decode_block(&bl, ctx, &p, &why);
        if (id == MQTT_PROP_USER_PROPERTY) {
            assert_true(rc > 0);
            assert_int_equal(p.n_user, 2);
            continue;
        }
        if (id == MQTT_PROP_SUBSCRIPTION_ID) {
            assert_int_equal(ctx, MQTT_PUBLISH); /* may repeat there... */
            assert_true(rc > 0);
            assert_int_equal(p.n_sub_ids, 2);
            /* ...but not in SUBSCRIBE */
            assert_int_equal(decode_block(&bl, MQTT_SUBSCRIBE, &p, &why), -MQTT_RC_PROTOCOL_ERROR);
            assert_string_equal(why, "property included more than once");
            continue;
        }
        assert_int_equal(rc, -MQTT_RC_PROTOCOL_ERROR);
        assert_string_equal(why, "property included more than once");
    }
}

struct value_case {
    uint8_t bytes[8];
    size_t n;
    unsigned ctx;
    int rc;
};

static void test_value_rules(void **state)
{
    (void)state;
    static const struct value_case cases[] = {
        { { 0x01, 0x02 }, 2, MQTT_PUBLISH, -MQTT_RC_PROTOCOL_ERROR },       /* payload format 2 */
        { { 0x01, 0x00 }, 2, MQTT_PUBLISH, 3 },
        { { 0x17, 0x02 }, 2, MQTT_CONNECT, -MQTT_RC_PROTOCOL_ERROR },       /* request problem */
        { { 0x19, 0x02 }, 2, MQTT_CONNECT, -MQTT_RC_PROTOCOL_ERROR },       /* request response */
        { { 0x24, 0x02 }, 2, MQTT_CONNACK, -MQTT_RC_PROTOCOL_ERROR },       /* max QoS 2 */
        { { 0x25, 0x02 }, 2, MQTT_CONNACK, -MQTT_RC_PROTOCOL_ERROR },
        { { 0x28, 0xff }, 2, MQTT_CONNACK, -MQTT_RC_PROTOCOL_ERROR },
        { { 0x29, 0x02 }, 2, MQTT_CONNACK, -MQTT_RC_PROTOCOL_ERROR },
        { { 0x2A, 0x02 }, 2, MQTT_CONNACK, -MQTT_RC_PROTOCOL_ERROR },
        { { 0x21, 0x00, 0x00 }, 3, MQTT_CONNECT, -MQTT_RC_PROTOCOL_ERROR }, /* receive max 0 */
        { { 0x27, 0, 0, 0, 0 }, 5, MQTT_CONNECT, -MQTT_RC_PROTOCOL_ERROR }, /* max packet 0 */
        { { 0x0B, 0x00 }, 2, MQTT_SUBSCRIBE, -MQTT_RC_PROTOCOL_ERROR },     /* sub id 0 */
        { { 0x23, 0x00, 0x00 }, 3, MQTT_PUBLISH, -MQTT_RC_TOPIC_ALIAS_INVALID },
        { { 0x22, 0x00, 0x00 }, 3, MQTT_CONNECT, 4 },                        /* alias max 0 */
        { { 0x16, 0x00, 0x00 }, 3, MQTT_AUTH, -MQTT_RC_PROTOCOL_ERROR },    /* data, no method */
        { { 0x08, 0x00, 0x03, 'a', '/', '+' }, 6, MQTT_PUBLISH, -MQTT_RC_PROTOCOL_ERROR },
        { { 0x08, 0x00, 0x00 }, 3, MQTT_PUBLISH, -MQTT_RC_PROTOCOL_ERROR }, /* empty topic */
        { { 0x04, 0x00 }, 2, MQTT_PUBLISH, -MQTT_RC_MALFORMED_PACKET },             /* unknown ids */
        { { 0x00, 0x00 }, 2, MQTT_PUBLISH, -MQTT_RC_MALFORMED_PACKET },
        { { 0x2B, 0x00 }, 2, MQTT_CONNACK, -MQTT_RC_MALFORMED_PACKET },
        { { 0x80, 0x01, 0x00 }, 3, MQTT_PUBLISH, -MQTT_RC_MALFORMED_PACKET },
        { { 0x80, 0x00 }, 2, MQTT_PUBLISH, -MQTT_RC_MALFORMED_PACKET },             /* id not minimal */
        { { 0x03, 0x00, 0x02, 0xc0, 0x80 }, 5, MQTT_PUBLISH, -MQTT_RC_MALFORMED_PACKET }, /* overlong */
        { { 0x03, 0x00, 0x01, 0x00 }, 4, MQTT_PUBLISH, -MQTT_RC_MALFORMED_PACKET },  /* U+0000 */
        { { 0x26, 0x00, 0x01, 'a', 0x00, 0x01, 0xff }, 7, MQTT_PUBLISH, -MQTT_RC_MALFORMED_PACKET },
        { { 0x03, 0x00, 0x05, 'a' }, 4, MQTT_PUBLISH, -MQTT_RC_MALFORMED_PACKET },  /* runs past */
        { { 0x02, 0x00, 0x00 }, 3, MQTT_PUBLISH, -MQTT_RC_MALFORMED_PACKET },       /* cut u32 */
        { { 0x0B, 0x80 }, 2, MQTT_PUBLISH, -MQTT_RC_MALFORMED_PACKET },             /* cut varint */
        { { 0x0B, 0xff, 0xff, 0xff, 0xff, 0x01 }, 6, MQTT_PUBLISH, -MQTT_RC_MALFORMED_PACKET },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct block bl = { .n = 0 };
        put(&bl, cases[i].bytes, cases[i].n);
        struct mqtt_props p;
        const char *why = NULL;
        int rc = decode_block(&bl, cases[i].ctx, &p, &why);
        if (rc != cases[i].rc)
            fail_msg("case %zu: got %d (%s), want %d", i, rc, why ? why : "", cases[i].rc);
        if (rc < 0)
            assert_non_null(why);
    }
}

static void test_block_bounds(void **state)
{
    (void)state;
    struct mqtt_props p;
    const char *why = NULL;
    /* length says 5, 2 bytes follow: the packet ends inside the block */
    uint8_t *b = malloc(3);
    assert_non_null(b);
    memcpy(b, "\x05\x01\x01", 3);
    assert_int_equal(mqtt_props_decode(b, 3, MQTT_PUBLISH, &p, &why), -MQTT_RC_MALFORMED_PACKET);
    assert_string_equal(why, "property block runs past the packet");
    assert_int_equal(mqtt_props_decode(b, 0, MQTT_PUBLISH, &p, &why), -MQTT_RC_MALFORMED_PACKET);
    free(b);
    /* an empty block is one byte; bytes after it are the caller's */
    static const uint8_t empty[] = { 0x00, 0x99 };
    assert_int_equal(mqtt_props_decode(empty, 2, MQTT_PUBACK, &p, NULL), 1);
    assert_int_equal(p.present, 0);
    assert_int_equal(p.raw.len, 0);
}

static void test_user_properties(void **state)
{
    (void)state;
    struct block bl = { .n = 0 };
    uint8_t id = MQTT_PROP_USER_PROPERTY;
    put(&bl, &id, 1); put_str(&bl, "site"); put_str(&bl, "north");
    put_sample(&bl, MQTT_PROP_REASON_STRING, MQTT_PT_STRING);
    put(&bl, &id, 1); put_str(&bl, "site"); put_str(&bl, "south");
    put(&bl, &id, 1); put_str(&bl, ""); put_str(&bl, "");
    size_t len;
    uint8_t *wire = block_done(&bl, &len);
    struct mqtt_props p;
    assert_int_equal(mqtt_props_decode(wire, len, MQTT_PUBACK, &p, NULL), (int)len);
    assert_int_equal(p.n_user, 3);
    assert_null(p.user);
    struct mqtt_prop_iter it;
    struct mqtt_user_prop u;
    static const char *const values[] = { "north", "south", "" };
    mqtt_prop_iter_init(&it, &p);
    for (int i = 0; i < 3; i++) {
        assert_true(mqtt_prop_next_user(&it, &u));
        assert_int_equal(u.name.len, i < 2 ? 4 : 0);
        assert_int_equal(u.value.len, strlen(values[i]));
        assert_memory_equal(u.value.data, values[i], u.value.len);
    }
    assert_false(mqtt_prop_next_user(&it, &u));
    /* re-encoded from raw: reason string first, then the pairs in order */
    uint8_t out[128];
    size_t n = mqtt_props_encode(out, sizeof out, &p, MQTT_PUBACK);
    assert_int_equal(n, len);
    struct mqtt_props back;
    assert_int_equal(mqtt_props_decode(out, n, MQTT_PUBACK, &back, NULL), (int)n);
    assert_int_equal(back.n_user, 3);
    assert_int_equal(back.reason_string.len, p.reason_string.len);
    free(wire);

    /* from a caller array */
    struct mqtt_user_prop pairs[2] = {
        { { (const uint8_t *)"k1", 2 }, { (const uint8_t *)"v1", 2 } },
        { { (const uint8_t *)"k2", 2 }, { (const uint8_t *)"v2", 2 } },
    };
    struct mqtt_props mine = { .user = pairs, .n_user = 2 };
    static const uint8_t want[] = { 0x12, 0x26, 0, 2, 'k', '1', 0, 2, 'v', '1',
                                    0x26, 0, 2, 'k', '2', 0, 2, 'v', '2' };
    assert_int_equal(mqtt_props_encode(out, sizeof out, &mine, MQTT_DISCONNECT), sizeof want);
    assert_memory_equal(out, want, sizeof want);
}

static void test_subscription_ids(void **state)
{
    (void)state;
    struct block bl = { .n = 0 };
    static const uint8_t ids[] = { 0x0B, 0x01, 0x0B, 0x80, 0x01, 0x0B, 0xff, 0xff, 0xff, 0x7f };
    put(&bl, ids, sizeof ids);
    size_t len;
    uint8_t *wire = block_done(&bl, &len);
    struct mqtt_props p;
    assert_int_equal(mqtt_props_decode(wire, len, MQTT_PUBLISH, &p, NULL), (int)len);
    assert_int_equal(p.n_sub_ids, 3);
    assert_int_equal(p.subscription_id, 1);
    struct mqtt_prop_iter it;
    uint32_t id;
    static const uint32_t want[] = { 1, 128, 268435455u };
    mqtt_prop_iter_init(&it, &p);
    for (int i = 0; i < 3; i++) {
        assert_true(mqtt_prop_next_sub_id(&it, &id));
        assert_int_equal(id, want[i]);
    }
    assert_false(mqtt_prop_next_sub_id(&it, &id));
    uint8_t out[64];
    assert_int_equal(mqtt_props_encode(out, sizeof out, &p, MQTT_PUBLISH), len);
    assert_memory_equal(out, wire, len);
    free(wire);

    /* from a caller array: many in PUBLISH, one at most in SUBSCRIBE */
    struct mqtt_props mine = { .sub_ids = want, .n_sub_ids = 3 };
    assert_int_equal(mqtt_props_encode(out, sizeof out, &mine, MQTT_PUBLISH), len);
    assert_int_equal(mqtt_props_size(&mine, MQTT_SUBSCRIBE), 0);
    mine.n_sub_ids = 1;
    assert_int_equal(mqtt_props_size(&mine, MQTT_SUBSCRIBE), 3);
    struct mqtt_props single = { .present = MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID),
                                 .subscription_id = 5 };
    assert_int_equal(mqtt_props_encode(out, sizeof out, &single, MQTT_SUBSCRIBE), 3);
    assert_memory_equal(out, "\x02\x0b\x05", 3);
    single.subscription_id = 0;
    assert_int_equal(mqtt_props_size(&single, MQTT_SUBSCRIBE), 0);
    single.subscription_id = 268435456u;
    assert_int_equal(mqtt_props_size(&single, MQTT_SUBSCRIBE), 0);
}

static void test_encode_refusals(void **state)
{
    (void)state;
    struct mqtt_props p = { .present = MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS), .topic_alias = 7 };
    uint8_t out[16];
    assert_int_equal(mqtt_props_encode(out, sizeof out, &p, MQTT_PUBLISH), 4);
    assert_memory_equal(out, "\x03\x23\x00\x07", 4);
    assert_int_equal(mqtt_props_size(&p, MQTT_CONNECT), 0);        /* not allowed there */
    p.topic_alias = 0;
    assert_int_equal(mqtt_props_size(&p, MQTT_PUBLISH), 0);        /* alias 0 */
    struct mqtt_props q = { .present = MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT),
                            .payload_format = 2 };
    assert_int_equal(mqtt_props_size(&q, MQTT_PUBLISH), 0);
    struct mqtt_props r = { .present = MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA) };
    assert_int_equal(mqtt_props_size(&r, MQTT_AUTH), 0);           /* data without method */
    struct mqtt_props u = { .present = MQTT_PROP_BIT(0x04) };
    assert_int_equal(mqtt_props_size(&u, MQTT_PUBLISH), 0);        /* unknown id */
    static uint8_t big[70000];
    struct mqtt_props s = { .present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING),
                            .reason_string = { big, sizeof big } };
    assert_int_equal(mqtt_props_size(&s, MQTT_PUBACK), 0);         /* string too long */
    s.reason_string.len = 65535;
    assert_int_equal(mqtt_props_size(&s, MQTT_PUBACK), 3 + 1 + 2 + 65535);
    /* too small a buffer: the size comes back, nothing is written */
    struct mqtt_props e = { 0 };
    memset(out, 0xaa, sizeof out);
    assert_int_equal(mqtt_props_encode(out, 0, &e, MQTT_PUBACK), 1);
    assert_int_equal(out[0], 0xaa);
    assert_int_equal(mqtt_props_encode(out, 1, &e, MQTT_PUBACK), 1);
    assert_int_equal(out[0], 0x00);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_property_round_trip),
        cmocka_unit_test(test_field_values),
        cmocka_unit_test(test_wrong_packet),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_value_rules),
        cmocka_unit_test(test_block_bounds),
        cmocka_unit_test(test_user_properties),
        cmocka_unit_test(test_subscription_ids),
        cmocka_unit_test(test_encode_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
