/* Topic names, topic filters, matching (§4.7, with the '$' rule of §4.7.2)
 * and shared subscription parsing (§4.8.2), as tables of cases. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "gateway/mqtt/topic.h"

static void test_topic_names(void **state)
{
    (void)state;
    static const char *const good[] = {
        "a", "/", "sport/tennis/player1", "/finance", "a//b", "$SYS/uptime", "caf\xc3\xa9",
        "with space", "a/",
    };
    static const char *const bad[] = { "", "sport/+", "#", "sport/tennis#", "a+b", "\xc0\x80" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(mqtt_topic_name_valid(good[i], strlen(good[i])));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(mqtt_topic_name_valid(bad[i], strlen(bad[i])));
    assert_false(mqtt_topic_name_valid("a\0b", 3));
}

static void test_topic_filters(void **state)
{
    (void)state;
    static const char *const good[] = {
        "#", "+", "a", "sport/tennis/#", "sport/+/player1", "+/+", "/+", "+/", "a//#",
        "$SYS/#", "+/tennis/#", "/", "$share/g/a/#",
    };
    static const char *const bad[] = {
        "", "sport/tennis#", "sport/tennis/#/ranking", "sport+", "a/+b", "a/b+/c", "##",
        "#/", "a/#/", "++", "+#",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(mqtt_topic_filter_valid(good[i], strlen(good[i])));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(mqtt_topic_filter_valid(bad[i], strlen(bad[i])));
}

struct match_case {
    const char *filter;
    const char *topic;
    bool match;
};

static const struct match_case matches[] = {
    /* §4.7.1.2 */
    { "sport/tennis/player1/#", "sport/tennis/player1", true },
    { "sport/tennis/player1/#", "sport/tennis/player1/ranking", true },
    { "sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true },
    { "sport/#", "sport", true },
    { "sport/tennis/#", "sport/tennis", true },
    { "sport/tennis/#", "sport/tennisx", false },
    { "sport/tennis/#", "sport", false },
    { "#", "sport/tennis", true },
    { "#", "a", true },
    { "#", "/", true },
    /* §4.7.1.3 */
    { "sport/tennis/+", "sport/tennis/player1", true },
    { "sport/tennis/+", "sport/tennis/player2", true },
    { "sport/tennis/+", "sport/tennis/player1/ranking", false },
    { "sport/tennis/+", "sport/tennis", false },
    { "sport/+", "sport", false },
    { "sport/+", "sport/", true },
    { "+", "sport", true },
    { "+", "/finance", false },
    { "+/+", "/finance", true },
    { "/+", "/finance", true },
    { "+/+", "a", false },
    { "+/+", "a/b/c", false },
    { "+/#", "a", true },
    { "+/#", "a/b/c", true },
    { "a/+/c", "a/b/c", true },
    { "a/+/c", "a//c", true },
    { "a/+/c", "a/b/d", false },
    { "a/b", "a/b", true },
    { "a/b", "a/b/", false },
    { "a/b/", "a/b", false },
    { "a/b", "A/b", false },
    { "a", "ab", false },
    { "ab", "a", false },
    /* §4.7.2: '$' topics and wildcards at the first level */
    { "#", "$SYS/uptime", false },
    { "+/monitor/Clients", "$SYS/monitor/Clients", false },
    { "+", "$SYS", false },
    { "$SYS/#", "$SYS/monitor/Clients", true },
    { "$SYS/#", "$SYS", true },
    { "$SYS/monitor/+", "$SYS/monitor/Clients", true },
    { "$SYS/+/Clients", "$SYS/monitor/Clients", true },
    { "a/#", "a/$b", true },
    { "a/+", "a/$b", true },
};

static void test_topic_matches(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof matches / sizeof matches[0]; i++) {
        const struct match_case *c = &matches[i];
        bool got = mqtt_topic_matches(c->filter, strlen(c->filter), c->topic, strlen(c->topic));
        if (got != c->match)
            fail_msg("filter '%s' topic '%s': expected %d", c->filter, c->topic, c->match);
    }
}

/* '#' at every level of a 4-level topic matches it; one level deeper does not. */
static void test_topic_hash_every_level(void **state)
{
    (void)state;
    static const char topic[] = "a/b/c/d";
    static const char *const filters[] = { "#", "a/#", "a/b/#", "a/b/c/#", "a/b/c/d/#" };
    for (size_t i = 0; i < 5; i++)
        assert_true(mqtt_topic_matches(filters[i], strlen(filters[i]), topic, strlen(topic)));
    assert_false(mqtt_topic_matches("a/b/c/d/e/#", 11, topic, strlen(topic)));
    assert_false(mqtt_topic_matches("b/#", 3, topic, strlen(topic)));
    /* the filter and topic need no NUL: lengths are honoured */
    assert_true(mqtt_topic_matches("a/b/zzz", 3, "a/bxyz", 3));
}

static void test_share_parse(void **state)
{
    (void)state;
    struct mqtt_share s;
    const char *f = "$share/consumer1/sport/tennis/+";
    assert_int_equal(mqtt_share_parse(f, strlen(f), &s), MQTT_SHARE_OK);
    assert_int_equal(s.group_len, 9);
    assert_memory_equal(s.group, "consumer1", 9);
    assert_int_equal(s.filter_len, strlen("sport/tennis/+"));
    assert_memory_equal(s.filter, "sport/tennis/+", s.filter_len);
    f = "$share/g/#";
    assert_int_equal(mqtt_share_parse(f, strlen(f), &s), MQTT_SHARE_OK);
    assert_int_equal(s.filter_len, 1);
    f = "$share/g//";
    assert_int_equal(mqtt_share_parse(f, strlen(f), &s), MQTT_SHARE_OK);
    assert_int_equal(s.filter_len, 1);

    static const char *const none[] = { "sport/#", "$SYS/#", "$share", "$sharex/g/a", "share/g/a",
                                        "$SHARE/g/a" };
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        assert_int_equal(mqtt_share_parse(none[i], strlen(none[i]), &s), MQTT_SHARE_NONE);
    static const char *const invalid[] = { "$share/", "$share/g", "$share/g/", "$share//a",
                                           "$share/g+/a", "$share/#/a", "$share/+/a",
                                           "$share/g/a#", "$share/g/a/#/b" };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        if (mqtt_share_parse(invalid[i], strlen(invalid[i]), &s) != MQTT_SHARE_INVALID)
            fail_msg("'%s' should be an invalid shared subscription", invalid[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_names),
        cmocka_unit_test(test_topic_filters),
        cmocka_unit_test(test_topic_matches),
        cmocka_unit_test(test_topic_hash_every_level),
        cmocka_unit_test(test_share_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
