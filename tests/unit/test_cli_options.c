/* Unit tests for gateway/cli/options: -D property parsing (names, values,
 * ranges, where each property may go, repeats, user properties), and the
 * common options through getopt as the tools call it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <getopt.h>
#include <string.h>

#include "gateway/cli/options.h"

struct fx {
    struct cli_options o;
    char err[256];
    char pool[2048];   /* argv's strings: the options point into them */
    char *argv[64];
};

/* -D words as a NULL-terminated list; returns cli_prop_parse's result. */
static int prop(struct fx *f, const char *w0, const char *w1, const char *w2, const char *w3)
{
    char *words[4] = { (char *)w0, (char *)w1, (char *)w2, (char *)w3 };
    int n = w3 ? 4 : w2 ? 3 : w1 ? 2 : 1;
    return cli_prop_parse(f->o.props, words, n, f->err, sizeof f->err);
}

static void test_prop_values(void **state)
{
    (void)state;
    struct fx f;
    cli_options_init(&f.o);
    assert_int_equal(prop(&f, "publish", "message-expiry-interval", "3600", NULL), 3);
    assert_int_equal(prop(&f, "publish", "content-type", "text/plain", NULL), 3);
    assert_int_equal(prop(&f, "publish", "correlation-data", "abc", NULL), 3);
    assert_int_equal(prop(&f, "publish", "payload-format-indicator", "1", NULL), 3);
    assert_int_equal(prop(&f, "publish", "topic-alias", "2", NULL), 3);
    assert_int_equal(prop(&f, "publish", "user-property", "k", "v"), 4);
    assert_int_equal(prop(&f, "publish", "user-property", "k", "w"), 4);
    const struct mqtt_props *p = &f.o.props[MQTT_PUBLISH].props;
    assert_int_equal(p->message_expiry, 3600);
    assert_memory_equal(p->content_type.data, "text/plain", 10);
    assert_int_equal(p->correlation_data.len, 3);
    assert_int_equal(p->payload_format, 1);
    assert_int_equal(p->topic_alias, 2);
    assert_int_equal(p->n_user, 2);
    assert_memory_equal(p->user[1].value.data, "w", 1);
    assert_true(mqtt_props_size(p, MQTT_PUBLISH) > 0);

    assert_int_equal(prop(&f, "connect", "session-expiry-interval", "4294967295", NULL), 3);
    assert_int_equal(prop(&f, "connect", "receive-maximum", "10", NULL), 3);
    assert_int_equal(prop(&f, "connect", "maximum-packet-size", "1000", NULL), 3);
    assert_int_equal(prop(&f, "subscribe", "subscription-identifier", "268435455", NULL), 3);
    assert_int_equal(prop(&f, "will", "will-delay-interval", "5", NULL), 3);
    assert_int_equal(f.o.props[MQTT_CONNECT].props.session_expiry, UINT32_MAX);
    assert_int_equal(f.o.props[MQTT_SUBSCRIBE].props.subscription_id, 268435455);
    assert_int_equal(f.o.props[MQTT_CTX_WILL].props.will_delay, 5);
}

static void expect_bad(const char *w0, const char *w1, const char *w2, const char *w3,
                       const char *why)
{
    struct fx f;
    cli_options_init(&f.o);
    assert_int_equal(prop(&f, w0, w1, w2, w3), -1);
    if (!strstr(f.err, why))
        fail_msg("'%s' does not say '%s'", f.err, why);
}

static void test_prop_errors(void **state)
{
    (void)state;
    expect_bad("publsh", "content-type", "x", NULL, "unknown command 'publsh'");
    expect_bad("publish", "content-typo", "x", NULL, "unknown property 'content-typo'");
    expect_bad("subscribe", "topic-alias", "1", NULL, "not allowed in subscribe");
    expect_bad("publish", "session-expiry-interval", "1", NULL, "not allowed in publish");
    expect_bad("publish", "topic-alias", "0", NULL, "bad value '0'");
    expect_bad("publish", "topic-alias", "65536", NULL, "bad value");
    expect_bad("publish", "payload-format-indicator", "2", NULL, "bad value");
    expect_bad("publish", "message-expiry-interval", "-1", NULL, "bad value");
    expect_bad("publish", "message-expiry-interval", "12x", NULL, "bad value");
    expect_bad("subscribe", "subscription-identifier", "268435456", NULL, "bad value");
    expect_bad("connect", "receive-maximum", "0", NULL, "bad value");
    expect_bad("publish", "content-type", "\xff", NULL, "bad value");
    expect_bad("publish", "user-property", "k", NULL, "needs NAME VALUE");
    expect_bad("publish", "content-type", NULL, NULL, "needs COMMAND PROPERTY VALUE");

    struct fx f;
    cli_options_init(&f.o);
    assert_int_equal(prop(&f, "publish", "content-type", "a", NULL), 3);
    assert_int_equal(prop(&f, "publish", "content-type", "b", NULL), -1);
    assert_non_null(strstr(f.err, "given twice"));
    for (int i = 0; i < CLI_MAX_USER_PROPS; i++)
        assert_int_equal(prop(&f, "publish", "user-property", "k", "v"), 4);
    assert_int_equal(prop(&f, "publish", "user-property", "k", "v"), -1);
}

/* Runs getopt_long over a NULL-terminated list as the tools do over argv;
 * 0, or -1 with f->err. */
static int parse(struct fx *f, const char *const *list)
{
    int argc = 0;
    size_t used = 0;
    for (; list[argc]; argc++) {
        size_t n = strlen(list[argc]) + 1;
        assert_true(used + n <= sizeof f->pool && argc < 63);
        f->argv[argc] = memcpy(f->pool + used, list[argc], n);
        used += n;
    }
    f->argv[argc] = NULL;
    char **argv = f->argv;
    static const struct option longopts[] = { CLI_COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
    cli_options_init(&f->o);
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "+:" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        if (cli_options_parse_one(&f->o, opt, optarg, argc, argv, &optind, f->err,
                                  sizeof f->err) <= 0)
            return -1;
    }
    return optind == argc ? cli_options_finish(&f->o, f->err, sizeof f->err) : -1;
}

static void test_common_options(void **state)
{
    (void)state;
    struct fx f;
    const char *a1[] = { "pub", "-h", "broker", "-p", "1884", "-t", "x", "-t", "y", "-q", "2", "-V",
                   "mqttv5", "-k", "10", "-c", "-i", "me", "-x", "-1", "-D", "publish",
                   "user-property", "n", "v", "-D", "connect", "receive-maximum", "5", "-d",
                   "--will-topic", "w", "--will-qos", "1", "--will-retain", NULL };
    assert_int_equal(parse(&f, a1), 0);
    assert_string_equal(f.o.host, "broker");
    assert_int_equal(f.o.port, 1884);
    assert_int_equal(f.o.n_topics, 2);
    assert_int_equal(f.o.qos, 2);
    assert_int_equal(f.o.version, MQTT_V5);
    assert_int_equal(f.o.keep_alive, 10);
    assert_false(f.o.clean);
    assert_int_equal(f.o.session_expiry, UINT32_MAX);
    assert_int_equal(f.o.props[MQTT_PUBLISH].props.n_user, 1);
    assert_int_equal(f.o.props[MQTT_CONNECT].props.receive_max, 5);
    assert_true(f.o.debug && f.o.will_retain && f.o.will_qos == 1);

    const char *a2[] = { "sub", "-t", "x", "-D", "publish", "content-type", "t", NULL };
    assert_int_equal(parse(&f, a2), -1);
    assert_non_null(strstr(f.err, "needs MQTT 5"));
    const char *a3[] = { "sub", "-t", "x", "-c", NULL };
    assert_int_equal(parse(&f, a3), -1);
    assert_non_null(strstr(f.err, "needs a client id"));
    const char *a4[] = { "sub", "-t", "x", "--will-qos", "1", NULL };
    assert_int_equal(parse(&f, a4), -1);
    const char *a5[] = { "sub", "-p", "0", NULL };
    assert_int_equal(parse(&f, a5), -1);
    const char *a6[] = { "sub", "-V", "3.1", NULL };
    assert_int_equal(parse(&f, a6), -1);
    const char *a7[] = { "sub", "-V", "311", "--will-topic", "a/+", NULL };
    assert_int_equal(parse(&f, a7), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prop_values),
        cmocka_unit_test(test_prop_errors),
        cmocka_unit_test(test_common_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
