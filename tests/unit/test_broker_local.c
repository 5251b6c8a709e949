/* The broker's in-process API, without sockets: publish from the gateway,
 * subscribe with a callback (retained messages at subscribe, QoS min'ed,
 * unsubscribe, shared groups, a callback that publishes in turn). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "gateway/broker/broker.h"
#include "gateway/log.h"
#include "gateway/loop.h"

struct got {
    int count;
    char topic[64];
    char payload[64];
    int qos;
    bool retain;
    struct broker *republish_into; /* when set, echo to "echo/<topic>" once */
};

static void on_message(void *ctx, const char *topic, const void *payload, size_t len, int qos,
                       bool retain)
{
    struct got *g = ctx;
    g->count++;
    snprintf(g->topic, sizeof(g->topic), "%s", topic);
    snprintf(g->payload, sizeof(g->payload), "%.*s", (int)len, (const char *)payload);
    g->qos = qos;
    g->retain = retain;
    if (g->republish_into && strncmp(topic, "echo/", 5) != 0) {
        char t[80];
        snprintf(t, sizeof(t), "echo/%s", topic);
        assert_int_equal(broker_publish(g->republish_into, t, payload, len, qos, false), 0);
    }
}

struct fixture {
    struct config *cfg;
    struct loop *loop;
    struct broker *b;
};

static int setup(void **state)
{
    static struct fixture f;
    struct diag d;
    diag_init(&d);
    static const char text[] = "broker: { sys_interval: 0 }\n";
    assert_int_equal(config_load_string("t", text, sizeof(text) - 1, &f.cfg, &d), 0);
    diag_free(&d);
    log_init(LOG_LEVEL_WARN);
    f.loop = loop_new();
    f.b = broker_new(f.loop, &f.cfg->broker);
    assert_non_null(f.b);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    broker_free(f->b);
    loop_free(f->loop);
    config_free(f->cfg);
    return 0;
}

static void test_publish_and_subscribe(void **state)
{
    struct fixture *f = *state;
    struct got g = { 0 };
    struct broker_local *l = broker_local_new(f->b, "test", on_message, &g);
    assert_non_null(l);
    assert_int_equal(broker_publish(f->b, "sensors/t1", "21.5", 4, 1, true), 0);
    assert_int_equal(broker_local_subscribe(l, "sensors/+", 2), 0);
    assert_int_equal(g.count, 1); /* the retained message, at subscribe */
    assert_string_equal(g.topic, "sensors/t1");
    assert_string_equal(g.payload, "21.5");
    assert_true(g.retain);
    assert_int_equal(g.qos, 1); /* min(message 1, subscription 2) */

    assert_int_equal(broker_publish(f->b, "sensors/t2", "7", 1, 2, false), 0);
    assert_int_equal(g.count, 2);
    assert_string_equal(g.topic, "sensors/t2");
    assert_int_equal(g.qos, 2);
    assert_false(g.retain);

    assert_int_equal(broker_publish(f->b, "other/x", "no", 2, 0, false), 0);
    assert_int_equal(g.count, 2);

    assert_int_equal(broker_local_unsubscribe(l, "sensors/+"), 0);
    assert_int_equal(broker_local_unsubscribe(l, "sensors/+"), -ENOENT);
    assert_int_equal(broker_publish(f->b, "sensors/t3", "x", 1, 0, false), 0);
    assert_int_equal(g.count, 2);

    struct broker_stats st;
    broker_get_stats(f->b, &st);
    assert_int_equal(st.retained, 1);
    assert_int_equal(st.subscriptions, 0);
    broker_local_free(l);
}

static void test_bad_arguments(void **state)
{
    struct fixture *f = *state;
    struct got g = { 0 };
    struct broker_local *l = broker_local_new(f->b, "bad", on_message, &g);
    assert_int_equal(broker_local_subscribe(l, "a/#/b", 0), -EINVAL);
    assert_int_equal(broker_local_subscribe(l, "a", 3), -EINVAL);
    assert_int_equal(broker_publish(f->b, "a/+", "x", 1, 0, false), -EINVAL);
    assert_int_equal(broker_publish(f->b, "a", "x", 1, 3, false), -EINVAL);
    broker_local_free(l);
}

static void test_shared_group_and_republish(void **state)
{
    struct fixture *f = *state;
    struct got a = { 0 }, b = { 0 }, echo = { 0 };
    struct broker_local *la = broker_local_new(f->b, "a", on_message, &a);
    struct broker_local *lb = broker_local_new(f->b, "b", on_message, &b);
    struct broker_local *le = broker_local_new(f->b, "echo", on_message, &echo);
    assert_int_equal(broker_local_subscribe(la, "$share/g/jobs/#", 1), 0);
    assert_int_equal(broker_local_subscribe(lb, "$share/g/jobs/#", 1), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(broker_publish(f->b, "jobs/x", "j", 1, 1, false), 0);
    assert_int_equal(a.count + b.count, 10); /* each job once */
    assert_int_equal(a.count, 5);            /* round robin */

    /* A callback may publish into the broker while it is routing. */
    a.republish_into = f->b;
    assert_int_equal(broker_local_subscribe(le, "echo/#", 0), 0);
    assert_int_equal(broker_local_unsubscribe(lb, "$share/g/jobs/#"), 0);
    assert_int_equal(broker_publish(f->b, "jobs/y", "hello", 5, 0, false), 0);
    assert_int_equal(echo.count, 1);
    assert_string_equal(echo.topic, "echo/jobs/y");
    assert_string_equal(echo.payload, "hello");
    broker_local_free(la);
    broker_local_free(lb);
    broker_local_free(le);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_publish_and_subscribe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_group_and_republish, setup, teardown),
    };
    return cmocka_run_group_tests_name("broker in-process API", tests, NULL, NULL);
}
