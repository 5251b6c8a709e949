/* The bridge's topic rules (bridge/rules.h) over configurations loaded from
 * YAML like a user's: prefixes, templates, first match, QoS/retain/spool,
 * invalid results, receive_allow and its predicate, subscriptions, loops. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/rules.h"
#include "config/config.h"

#define HEAD "gateway: { name: barn }\nbridge:\n  url: mqtt://127.0.0.1:1883\n"

static struct config *load(const char *yaml)
{
    struct diag diag;
    struct config *cfg = NULL;
    diag_init(&diag);
    int rc = config_load_string("test.yaml", yaml, strlen(yaml), &cfg, &diag);
    if (rc != 0)
        diag_print(&diag, stderr);
    diag_free(&diag);
    assert_int_equal(rc, 0);
    return cfg;
}

/* Replaces a loaded string (owned by cfg) with a copy of `text`: for rules
 * that validation would refuse but a caller may still hand over. */
static void replace(char **field, const char *text)
{
    free(*field);
    *field = strdup(text);
    assert_non_null(*field);
}

/* rules_forward, expecting RULES_MAPPED to `want`. */
static struct rule_result forward_ok(const struct config *cfg, const char *topic, int qos,
                                     bool retain, const char *want)
{
    struct rule_result r;
    char why[128] = "";
    int rc = rules_forward(cfg, topic, qos, retain, &r, why, sizeof(why));
    if (rc != RULES_MAPPED)
        fail_msg("'%s': rc %d (%s)", topic, rc, why);
    assert_string_equal(r.topic, want);
    assert_int_equal(r.topic_len, strlen(want));
    return r;
}

static void forward_invalid(const struct config *cfg, const char *topic, const char *reason)
{
    struct rule_result r;
    memset(&r, 0x5a, sizeof(r));
    char why[256] = "";
    int rc = rules_forward(cfg, topic, 1, false, &r, why, sizeof(why));
    if (rc != RULES_INVALID)
        fail_msg("'%s': rc %d, expected RULES_INVALID", topic, rc);
    if (!strstr(why, reason))
        fail_msg("'%s': reason '%s', expected '%s'", topic, why, reason);
    assert_int_equal((unsigned char)r.topic[0], 0x5a); /* out untouched */
}

static void test_prefixes(void **state)
{
    (void)state;
    struct config *cfg = load(HEAD
        "  forward:\n"
        "    - { filter: 'mqgate/#', strip_prefix: 'mqgate/', add_prefix: 'sites/barn/' }\n"
        "    - { filter: '+/temp', strip_prefix: 'room/', add_prefix: 'x/' }\n"
        "    - { filter: 'plain/#' }\n"
        "    - { filter: 'strip/#', strip_prefix: 'strip/' }\n");
    forward_ok(cfg, "mqgate/dev/temp", 0, false, "sites/barn/dev/temp");
    forward_ok(cfg, "mqgate/x", 0, false, "sites/barn/x");
    /* Stripped only from topics that start with it. */
    forward_ok(cfg, "room/temp", 0, false, "x/temp");
    forward_ok(cfg, "hall/temp", 0, false, "x/hall/temp");
    forward_ok(cfg, "plain/a/b", 0, false, "plain/a/b");
    forward_ok(cfg, "strip/a/b", 0, false, "a/b");
    config_free(cfg);
}

static void test_templates(void **state)
{
    (void)state;
    struct config *cfg = load(HEAD
        "  forward:\n"
        "    - { filter: 'a/#', topic: 'sites/{gateway}/{topic}' }\n"
        "    - { filter: 'b/#', topic: '{topic}/{topic}' }\n"
        "    - { filter: 'c/#', topic: 'up/{gateway}' }\n");
    forward_ok(cfg, "a/dev/t", 1, false, "sites/barn/a/dev/t");
    forward_ok(cfg, "b/x", 1, false, "b/x/b/x");
    forward_ok(cfg, "c/anything/here", 1, false, "up/barn");
    config_free(cfg);

    /* No gateway name set: "mqgate", the documented default. */
    cfg = load("bridge:\n  url: mqtt://127.0.0.1\n  forward:\n"
               "    - { filter: '#', topic: 'g/{gateway}/{topic}' }\n");
    forward_ok(cfg, "t", 0, false, "g/mqgate/t");
    /* Literal braces, and {topic} after a strip_prefix (a combination
     * validation refuses, handled anyway). */
    replace(&cfg->bridge.forward[0].topic.text, "{{x}}/{topic}");
    replace(&cfg->bridge.forward[0].strip_prefix, "s/");
    forward_ok(cfg, "s/t", 0, false, "{x}/t");
    config_free(cfg);
}

static void test_first_match_and_no_match(void **state)
{
    (void)state;
    struct config *cfg = load(HEAD
        "  forward:\n"
        "    - { filter: 'a/b', add_prefix: 'first/' }\n"
        "    - { filter: 'a/+', add_prefix: 'second/' }\n"
        "    - { filter: 'a/#', add_prefix: 'third/' }\n");
    struct rule_result r = forward_ok(cfg, "a/b", 0, false, "first/a/b");
    assert_int_equal(r.rule, 0);
    r = forward_ok(cfg, "a/c", 0, false, "second/a/c");
    assert_int_equal(r.rule, 1);
    r = forward_ok(cfg, "a", 0, false, "third/a"); /* '#' matches its parent */
    assert_int_equal(r.rule, 2);

    memset(&r, 0x5a, sizeof(r));
    char why[32] = "unchanged";
    assert_int_equal(rules_forward(cfg, "b/a", 1, false, &r, why, sizeof(why)), RULES_NO_MATCH);
    assert_int_equal((unsigned char)r.topic[0], 0x5a);
    assert_string_equal(why, "unchanged");
    config_free(cfg);

    /* A wildcard-first filter does not match '$' topics (§4.7.2). */
    cfg = load(HEAD "  forward:\n    - { filter: '#' }\n    - { filter: '+/x' }\n");
    assert_int_equal(rules_forward(cfg, "$SYS/x", 0, false, &r, NULL, 0), RULES_NO_MATCH);
    forward_ok(cfg, "sys/x", 0, false, "sys/x");
    config_free(cfg);

    /* No rules at all. */
    cfg = load(HEAD "  receive:\n    - { filter: 'r/#' }\n");
    assert_int_equal(rules_forward(cfg, "r/x", 0, false, &r, NULL, 0), RULES_NO_MATCH);
    config_free(cfg);
}

static void test_qos_retain_spool(void **state)
{
    (void)state;
    struct config *cfg = load(HEAD
        "  forward:\n"
        "    - { filter: 'q1/#', qos: 1 }\n"
        "    - { filter: 'q2/#', qos: 2, retain: true }\n"
        "    - { filter: 'q0/#', qos: 0, retain: false, spool: false }\n"
        "    - { filter: 's0/#', qos: 0 }\n");
    /* The rule's QoS, whatever the message's: the rule is the upstream guarantee. */
    struct rule_result r = forward_ok(cfg, "q1/a", 2, true, "q1/a");
    assert_int_equal(r.qos, 1);
    assert_true(r.retain); /* keep */
    assert_true(r.spool);
    r = forward_ok(cfg, "q1/a", 0, false, "q1/a");
    assert_int_equal(r.qos, 1);
    assert_false(r.retain);
    assert_true(r.spool); /* the rule's spool: true (its default) */
    r = forward_ok(cfg, "q2/a", 1, false, "q2/a");
    assert_int_equal(r.qos, 2);
    assert_true(r.retain); /* forced on */
    r = forward_ok(cfg, "q2/a", 2, false, "q2/a");
    assert_int_equal(r.qos, 2);
    r = forward_ok(cfg, "q0/a", 2, true, "q0/a");
    assert_int_equal(r.qos, 0);
    assert_false(r.retain); /* forced off */
    assert_false(r.spool);
    r = forward_ok(cfg, "s0/a", 2, false, "s0/a");
    assert_int_equal(r.qos, 0);
    assert_true(r.spool);
    /* Out-of-range QoS from a caller is clamped, not passed on. */
    r = forward_ok(cfg, "q2/a", 7, false, "q2/a");
    assert_int_equal(r.qos, 2);
    r = forward_ok(cfg, "q2/a", -1, false, "q2/a");
    assert_int_equal(r.qos, 2);
    config_free(cfg);
}

static void test_invalid_results(void **state)
{
    (void)state;
    struct config *cfg = load(HEAD
        "  forward:\n"
        "    - { filter: 'w/#', topic: 'up/{topic}' }\n"
        "    - { filter: 'mqgate/#', strip_prefix: 'mqgate', add_prefix: 'x/' }\n"
        "    - { filter: 'whole/#', strip_prefix: 'whole/' }\n"
        "    - { filter: 'keep/#', add_prefix: 'x/' }\n"
        "    - { filter: 't/#', topic: '{topic}/end' }\n"
        "    - { filter: 'long/#', add_prefix: 'p/' }\n"
        "    - { filter: 'caf\xc3\xa9/#', strip_prefix: 'caf' }\n");
    /* Wildcards from a template that skipped validation. */
    replace(&cfg->bridge.forward[0].topic.text, "up/+/{topic}");
    forward_invalid(cfg, "w/a", "wildcard");
    replace(&cfg->bridge.forward[0].topic.text, "up/{topic}/#");
    forward_invalid(cfg, "w/a", "wildcard");
    /* Empty levels the mapping makes. */
    forward_invalid(cfg, "mqgate/dev", "empty topic level"); /* "x/" + "/dev" */
    forward_invalid(cfg, "whole/", "empty topic");           /* nothing left */
    replace(&cfg->bridge.forward[4].topic.text, "up//{topic}");
    forward_invalid(cfg, "t/a", "empty topic level");        /* the template's own */
    /* ...and the ones the topic already had, carried along. */
    forward_ok(cfg, "keep//b", 0, false, "x/keep//b");
    forward_ok(cfg, "keep/b/", 0, false, "x/keep/b/");
    forward_ok(cfg, "whole//b", 0, false, "/b");
    forward_ok(cfg, "keep/", 0, false, "x/keep/");
    replace(&cfg->bridge.forward[4].topic.text, "{topic}/end");
    forward_ok(cfg, "t/", 0, false, "t//end");
    /* Too long: RULES_TOPIC_MAX fits, one more byte does not. */
    char topic[RULES_TOPIC_MAX + 8], want[RULES_TOPIC_MAX + 8];
    memset(topic, 'a', sizeof(topic));
    memcpy(topic, "long/", 5);
    topic[RULES_TOPIC_MAX - 2] = '\0';
    memcpy(want, "p/", 2);
    memcpy(want + 2, topic, strlen(topic) + 1);
    assert_int_equal(strlen(want), RULES_TOPIC_MAX);
    forward_ok(cfg, topic, 0, false, want);
    topic[RULES_TOPIC_MAX - 2] = 'a';
    topic[RULES_TOPIC_MAX - 1] = '\0';
    forward_invalid(cfg, topic, "too long");
    /* A prefix that cuts a UTF-8 character. */
    replace(&cfg->bridge.forward[6].strip_prefix, "caf\xc3");
    forward_invalid(cfg, "caf\xc3\xa9/x", "UTF-8");
    /* Inputs that are not topic names. */
    forward_invalid(cfg, "w/+", "not a valid topic name");
    forward_invalid(cfg, "", "not a valid topic name");
    /* NULL why is fine. */
    struct rule_result r;
    assert_int_equal(rules_forward(cfg, "whole/", 0, false, &r, NULL, 0), RULES_INVALID);
    config_free(cfg);
}

/* ---- receive ---------------------------------------------------------------- */

struct asked {
    int calls;
    char last[64];
    const char *allow;    /* the one topic the predicate allows */
};

static bool allow_one(void *ctx, const char *topic)
{
    struct asked *a = ctx;
    a->calls++;
    snprintf(a->last, sizeof(a->last), "%s", topic);
    return strcmp(topic, a->allow) == 0;
}

#define RECEIVE_RULES \
    "  receive:\n" \
    "    - { filter: 'sites/barn/cmd/#', strip_prefix: 'sites/barn/cmd/', add_prefix: 'barn/', " \
    "qos: 1 }\n" \
    "    - { filter: 'raw/#', qos: 2, retain: false }\n"

static void test_receive_default_allow(void **state)
{
    (void)state;
    struct config *cfg = load(HEAD RECEIVE_RULES); /* receive_allow: {gateway}/+/+/set */
    struct asked asked = { .allow = "raw/x" };
    struct rule_result r;
    char why[128] = "";
    assert_int_equal(rules_receive(cfg, "sites/barn/cmd/pump/speed/set", 2, true, allow_one,
                                   &asked, &r, why, sizeof(why)), RULES_MAPPED);
    assert_string_equal(r.topic, "barn/pump/speed/set");
    assert_int_equal(r.qos, 1);
    assert_true(r.retain);
    assert_false(r.spool);
    assert_int_equal(r.rule, 0);
    assert_int_equal(rules_receive(cfg, "sites/barn/cmd/pump/speed/state", 1, false, allow_one,
                                   &asked, &r, why, sizeof(why)), RULES_DENIED);
    assert_non_null(strstr(why, "barn/pump/speed/state"));
    /* The list decides alone: the predicate is not asked. */
    assert_int_equal(rules_receive(cfg, "raw/x", 1, true, allow_one, &asked, &r, why,
                                   sizeof(why)), RULES_DENIED);
    assert_int_equal(asked.calls, 0);
    assert_int_equal(rules_receive(cfg, "other/x", 1, false, allow_one, &asked, &r, why,
                                   sizeof(why)), RULES_NO_MATCH);
    config_free(cfg);
}

static void test_receive_explicit_allow(void **state)
{
    (void)state;
    struct config *cfg = load(HEAD RECEIVE_RULES
        "  receive_allow: ['raw/#', '{gateway}/+/+/set', '{gateway}/{gateway}/x']\n");
    struct rule_result r;
    assert_int_equal(rules_receive(cfg, "raw/a/b", 1, true, NULL, NULL, &r, NULL, 0),
                     RULES_MAPPED);
    assert_string_equal(r.topic, "raw/a/b");
    assert_int_equal(r.qos, 1);
    assert_false(r.retain); /* forced off */
    assert_int_equal(rules_receive(cfg, "sites/barn/cmd/barn/x", 0, false, NULL, NULL, &r,
                                   NULL, 0), RULES_MAPPED);
    assert_string_equal(r.topic, "barn/barn/x");
    assert_int_equal(r.qos, 0);
    assert_int_equal(rules_receive(cfg, "sites/barn/cmd/a/b/c", 0, false, NULL, NULL, &r, NULL,
                                   0), RULES_DENIED);
    /* Invalid remote input and invalid mapped results are RULES_INVALID. */
    assert_int_equal(rules_receive(cfg, "raw/#", 0, false, NULL, NULL, &r, NULL, 0),
                     RULES_INVALID);
    /* "sites/barn/cmd/" maps to "barn/": the remote topic's own empty level. */
    assert_int_equal(rules_receive(cfg, "sites/barn/cmd/", 0, false, NULL, NULL, &r, NULL, 0),
                     RULES_DENIED);
    assert_int_equal(rules_receive(cfg, "sites/barn/cmd", 0, false, NULL, NULL, &r, NULL, 0),
                     RULES_DENIED); /* not stripped: "barn/sites/barn/cmd" */
    config_free(cfg);
}

static void test_receive_predicate(void **state)
{
    (void)state;
    struct config *cfg = load(HEAD RECEIVE_RULES "  receive_allow: []\n");
    assert_int_equal(cfg->bridge.receive_allow.count, 0);
    struct asked asked = { .allow = "barn/pump/speed/set" };
    struct rule_result r;
    char why[128] = "";
    assert_int_equal(rules_receive(cfg, "sites/barn/cmd/pump/speed/set", 1, false, allow_one,
                                   &asked, &r, why, sizeof(why)), RULES_MAPPED);
    assert_int_equal(asked.calls, 1);
    assert_string_equal(asked.last, "barn/pump/speed/set"); /* asked about the local topic */
    assert_int_equal(rules_receive(cfg, "sites/barn/cmd/pump/mode/set", 1, false, allow_one,
                                   &asked, &r, why, sizeof(why)), RULES_DENIED);
    assert_int_equal(asked.calls, 2);
    /* Empty list and no predicate: nothing gets in. */
    assert_int_equal(rules_receive(cfg, "sites/barn/cmd/pump/speed/set", 1, false, NULL, NULL,
                                   &r, NULL, 0), RULES_DENIED);
    config_free(cfg);
}

/* ---- subscriptions and loops ---------------------------------------------- */

static void test_subscriptions(void **state)
{
    (void)state;
    struct config *cfg = load(HEAD
        "  forward:\n"
        "    - { filter: 'a/#', qos: 0 }\n"
        "    - { filter: 'b/+', qos: 1 }\n"
        "    - { filter: 'a/#', qos: 2, add_prefix: 'x/' }\n"
        "    - { filter: 'c', qos: 0 }\n"
        "  receive:\n"
        "    - { filter: 'sites/barn/cmd/#', strip_prefix: 'sites/barn/cmd/', qos: 1 }\n"
        "    - { filter: 'sites/barn/cmd/#', qos: 0 }\n");
    struct rules_sub subs[4];
    assert_int_equal(rules_subscriptions(cfg, RULES_LOCAL, subs, 4), 3);
    assert_string_equal(subs[0].filter, "a/#");
    assert_int_equal(subs[0].qos, 2); /* the highest of its rules */
    assert_string_equal(subs[1].filter, "b/+");
    assert_int_equal(subs[1].qos, 1);
    assert_string_equal(subs[2].filter, "c");
    assert_int_equal(subs[2].qos, 0);
    assert_int_equal(rules_subscriptions(cfg, RULES_REMOTE, subs, 4), 1);
    assert_string_equal(subs[0].filter, "sites/barn/cmd/#");
    assert_int_equal(subs[0].qos, 1);
    /* A short array: the count says how many there are; the rest is untouched. */
    memset(subs, 0, sizeof(subs));
    assert_int_equal(rules_subscriptions(cfg, RULES_LOCAL, subs, 1), 3);
    assert_string_equal(subs[0].filter, "a/#");
    assert_null(subs[1].filter);
    assert_int_equal(rules_subscriptions(cfg, RULES_LOCAL, NULL, 0), 3);
    config_free(cfg);
}

static void test_loops(void **state)
{
    (void)state;
    struct config *cfg = load(HEAD RECEIVE_RULES
        "  forward:\n"
        "    - { filter: 'barn/+/+/state', add_prefix: 'sites/' }\n");
    struct rule_result r;
    assert_int_equal(rules_receive(cfg, "sites/barn/cmd/pump/speed/set", 1, false, NULL, NULL,
                                   &r, NULL, 0), RULES_MAPPED);
    assert_false(rules_would_loop(cfg, r.topic));
    assert_true(rules_would_loop(cfg, "barn/pump/speed/state"));
    config_free(cfg);

    /* Forwarding everything sends every received message back up. */
    cfg = load(HEAD RECEIVE_RULES "  forward:\n    - { filter: '#', add_prefix: 'sites/' }\n");
    assert_int_equal(rules_receive(cfg, "sites/barn/cmd/pump/speed/set", 1, false, NULL, NULL,
                                   &r, NULL, 0), RULES_MAPPED);
    assert_true(rules_would_loop(cfg, r.topic));
    /* A forward rule whose result is invalid forwards nothing. */
    replace(&cfg->bridge.forward[0].add_prefix, "");
    replace(&cfg->bridge.forward[0].strip_prefix, "barn/pump/speed/set");
    assert_false(rules_would_loop(cfg, r.topic));
    assert_false(rules_would_loop(cfg, "not/+/a/topic"));
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_templates),
        cmocka_unit_test(test_first_match_and_no_match),
        cmocka_unit_test(test_qos_retain_spool),
        cmocka_unit_test(test_invalid_results),
        cmocka_unit_test(test_receive_default_allow),
        cmocka_unit_test(test_receive_explicit_allow),
        cmocka_unit_test(test_receive_predicate),
        cmocka_unit_test(test_subscriptions),
        cmocka_unit_test(test_loops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
