/* Unit tests for gateway/cli/format: `mqgate sub -F` sequences on a message
 * that went through the codec (so its properties are read as the tool reads
 * them), flags, width and precision, escapes, time, and the -v / -N forms. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/cli/format.h"

struct msg {
    uint8_t wire[1024];
    struct mqtt_publish pub;
};

/* A v5 QoS 1 retained PUBLISH "hello" on sensors/t with every property -F shows. */
static void make_msg(struct msg *m, bool with_props)
{
    static const struct mqtt_user_prop users[] = {
        { { (const uint8_t *)"k1", 2 }, { (const uint8_t *)"v1", 2 } },
        { { (const uint8_t *)"k2", 2 }, { (const uint8_t *)"v 2", 3 } },
    };
    struct mqtt_publish p = {
        .qos = 1, .retain = true, .packet_id = 7,
        .topic = { (const uint8_t *)"sensors/t", 9 },
        .payload = { (const uint8_t *)"hello", 5 },
    };
    if (with_props) {
        p.props.present = MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE) |
                          MQTT_PROP_BIT(MQTT_PROP_RESPONSE_TOPIC) |
                          MQTT_PROP_BIT(MQTT_PROP_CORRELATION_DATA) |
                          MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY) |
                          MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT) |
                          MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS) |
                          MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID) |
                          MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY);
        p.props.content_type = (struct mqtt_bytes){ (const uint8_t *)"text/plain", 10 };
        p.props.response_topic = (struct mqtt_bytes){ (const uint8_t *)"re/ply", 6 };
        p.props.correlation_data = (struct mqtt_bytes){ (const uint8_t *)"c1", 2 };
        p.props.message_expiry = 60;
        p.props.payload_format = 1;
        p.props.topic_alias = 3;
        p.props.subscription_id = 42;
        p.props.user = users;
        p.props.n_user = 2;
    }
    size_t n = mqtt_encode_publish(m->wire, sizeof m->wire, &p, MQTT_V5);
    assert_true(n > 0);
    assert_int_equal(mqtt_decode_publish(m->wire, n, MQTT_V5, &m->pub, NULL), (int)n);
}

/* The output of `fmt` for the message, as a malloc'd string. */
static char *fmt_msg(const char *fmt, const struct mqtt_publish *pub)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    struct timespec when = { 1470818943, 786368637 };
    cli_format_message(f, fmt, pub, &when);
    fclose(f);
    return buf;
}

static void expect_fmt(const struct mqtt_publish *pub, const char *fmt, const char *want)
{
    char *got = fmt_msg(fmt, pub);
    assert_string_equal(got, want);
    free(got);
}

static void test_message_fields(void **state)
{
    (void)state;
    struct msg m;
    make_msg(&m, false);
    expect_fmt(&m.pub, "%t %p", "sensors/t hello");
    expect_fmt(&m.pub, "q%q r%r m%m l%l", "q1 r1 m7 l5");
    expect_fmt(&m.pub, "%x|%X", "68656c6c6f|68656C6C6F");
    expect_fmt(&m.pub, "100%%", "100%");
    expect_fmt(&m.pub, "%U", "1470818943.786368637");
}

static void test_properties(void **state)
{
    (void)state;
    struct msg m;
    make_msg(&m, true);
    expect_fmt(&m.pub, "%C|%R|%D|%E|%F|%A|%S", "text/plain|re/ply|c1|60|1|3|42");
    expect_fmt(&m.pub, "%P", "k1:v1 k2:v 2");
    make_msg(&m, false);   /* absent properties print nothing */
    expect_fmt(&m.pub, "[%C|%R|%D|%E|%F|%A|%S|%P]", "[|||||||]");
}

static void test_width_precision(void **state)
{
    (void)state;
    struct msg m;
    make_msg(&m, false);
    expect_fmt(&m.pub, "[%12t]", "[   sensors/t]");
    expect_fmt(&m.pub, "[%-12t]", "[sensors/t   ]");
    expect_fmt(&m.pub, "[%.3t]", "[sen]");
    expect_fmt(&m.pub, "[%5.5t]", "[senso]");
    expect_fmt(&m.pub, "[%05l]", "[00005]");
    expect_fmt(&m.pub, "[%-05l]", "[5    ]");
    expect_fmt(&m.pub, "[%012x]", "[0068656c6c6f]");
    expect_fmt(&m.pub, "[%08t]", "[sensors/t]");   /* 0 is for numbers only */
}

static void test_escapes_and_unknown(void **state)
{
    (void)state;
    struct msg m;
    make_msg(&m, false);
    expect_fmt(&m.pub, "a\\tb\\nc\\\\d\\e", "a\tb\nc\\d\033");
    expect_fmt(&m.pub, "%k %", "%k %");
    expect_fmt(&m.pub, "\\q", "\\q");
    expect_fmt(&m.pub, "trailing\\", "trailing\\");
    char *got = fmt_msg("x\\0y", &m.pub);   /* \0 writes a NUL: compare bytes */
    assert_memory_equal(got, "x\0y", 3);
    free(got);
}

static void test_time(void **state)
{
    (void)state;
    struct msg m;
    make_msg(&m, false);
    setenv("TZ", "UTC", 1);
    tzset();
    expect_fmt(&m.pub, "%I", "2016-08-10T08:49:03+0000");
    expect_fmt(&m.pub, "@Y-@m-@d @H:@M:@S.@N @@", "2016-08-10 08:49:03.786368637 @");
}

static void test_print_modes(void **state)
{
    (void)state;
    struct msg m;
    make_msg(&m, false);
    struct timespec when = { 0, 0 };
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cli_print_message(f, NULL, false, false, &m.pub, &when);
    cli_print_message(f, NULL, true, false, &m.pub, &when);
    cli_print_message(f, NULL, true, true, &m.pub, &when);
    cli_print_message(f, "<%p>", true, false, &m.pub, &when);   /* -F wins over -v */
    m.pub.payload.len = 0;
    cli_print_message(f, NULL, true, false, &m.pub, &when);
    cli_print_message(f, NULL, false, false, &m.pub, &when);
    fclose(f);
    assert_string_equal(buf, "hello\nsensors/t hello\nsensors/t hello<hello>\n"
                             "sensors/t (null)\n\n");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_fields),
        cmocka_unit_test(test_properties),
        cmocka_unit_test(test_width_precision),
        cmocka_unit_test(test_escapes_and_unknown),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_print_modes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
