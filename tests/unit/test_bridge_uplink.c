/* Tests for bridge/uplink against a real mosquitto on a free 127.0.0.1 port
 * (its own config in a temp dir, stopped by PID): connect, status
 * online/offline (will), QoS 0/1 delivery reports by id, subscribe and
 * receive, loss and reconnect within the backoff bound with re-subscription,
 * and a first connect that waits for a broker that is not there yet.
 * Sanitized runs need LSAN_OPTIONS=suppressions=tests/integration/lsan-paho.supp
 * (Paho 1.3.12 sometimes leaks a buffer of its own threads). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bridge/uplink.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "tests/unit/mosquitto_fixture.h"

#define US_PER_MS 1000
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 500
/* One jittered wait at most, plus up to ~1 s for Paho's receive thread to
 * pick up the new socket (its select cycles once a second), plus slack. */
#define RECONNECT_BOUND_MS (RECONNECT_MAX_MS + RECONNECT_MAX_MS / 5 + 2400)
#define TOOL_TIMEOUT_MS 10000           /* the tools bound themselves (-W 3) */
#define BROKER_CONF "allow_anonymous true\n"

/* ---- a mosquitto of our own -------------------------------------------- */

static struct mosq_fixture broker;

/* The port is chosen; nothing listens on it yet. */
static void broker_prepare(void)
{
    assert_int_equal(mosq_fixture_init(&broker, "uplink-test", 1), 0);
}

static void broker_start(void)
{
    assert_int_equal(mosq_fixture_start(&broker, BROKER_CONF), 0);
}

static int teardown_broker(void **state)
{
    (void)state;
    mosq_fixture_cleanup(&broker);
    return 0;
}

/* Run a client tool and capture its stdout. */
static void run_tool(const char *const argv[], char *out, size_t size)
{
    assert_true(mosq_fixture_run(argv, NULL, out, size, TOOL_TIMEOUT_MS) >= 0);
}

/* The retained message on `topic` as "topic payload", or "" after 3 s. */
static void read_retained(const char *topic, char *out, size_t size)
{
    char port[16];
    snprintf(port, sizeof port, "%d", broker.port[0]);
    const char *argv[] = { "mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-t", topic,
                     "-v", "-C", "1", "-W", "3", NULL };
    run_tool(argv, out, size);
}

static void pub_tool(const char *topic, const char *msg, bool retain)
{
    char port[16], out[64];
    snprintf(port, sizeof port, "%d", broker.port[0]);
    const char *argv[] = { "mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1", "-t",
                           topic, "-m", msg, retain ? "-r" : NULL, NULL };
    run_tool(argv, out, sizeof out);
}

/* ---- driving the loop -------------------------------------------------- */

struct rec {
    int connected, disconnected, messages;
    uint64_t delivered[16];
    size_t n_delivered;
    char topic[128], payload[128];
    bool retain;
};

static void on_connected(void *ctx, bool sp)
{
    (void)sp;
    ((struct rec *)ctx)->connected++;
}

static void on_disconnected(void *ctx, const char *why)
{
    assert_non_null(why);
    ((struct rec *)ctx)->disconnected++;
}

static void on_delivered(void *ctx, uint64_t id)
{
    struct rec *r = ctx;
    if (r->n_delivered < 16)
        r->delivered[r->n_delivered++] = id;
}

static void on_message(void *ctx, const char *topic, const void *payload, size_t len, int qos,
                       bool retain)
{
    (void)qos;
    struct rec *r = ctx;
    r->messages++;
    snprintf(r->topic, sizeof r->topic, "%s", topic);
    snprintf(r->payload, sizeof r->payload, "%.*s", (int)len, (const char *)payload);
    r->retain = retain;
}

/* Run the loop until pred holds or timeout_ms pass; whether it held. */
static bool run_until(struct loop *loop, bool (*pred)(const void *, int), const struct rec *r,
                      int arg, int64_t timeout_ms)
{
    int rc = mosq_fixture_loop_until(loop, pred, r, arg, timeout_ms);
    assert_true(rc >= 0);
    return rc == 1;
}

static bool connected_n(const void *r, int n)
{
    return ((const struct rec *)r)->connected >= n;
}

static bool disconnected_n(const void *r, int n)
{
    return ((const struct rec *)r)->disconnected >= n;
}

static bool messages_n(const void *r, int n)
{
    return ((const struct rec *)r)->messages >= n;
}

static bool delivered_id(const void *ctx, int id)
{
    const struct rec *r = ctx;
    for (size_t i = 0; i < r->n_delivered; i++)
        if (r->delivered[i] == (uint64_t)id)
            return true;
    return false;
}

static struct cfg_bridge bridge_cfg(char *url, size_t size, int version)
{
    snprintf(url, size, "mqtt://127.0.0.1:%d", broker.port[0]);
    return (struct cfg_bridge){
        .enabled = true,
        .url = url,
        .mqtt_version = version,
        .client_id = { .text = (char *)"{gateway}-bridge" },
        .keepalive = 5 * 1000 * US_PER_MS,
        .clean_start = true,
        .session_expiry = 0,
        .reconnect_min = RECONNECT_MIN_MS * US_PER_MS,
        .reconnect_max = RECONNECT_MAX_MS * US_PER_MS,
        .tls = { .verify_hostname = true },
    };
}

static struct uplink *uplink_make(struct loop *loop, struct rec *r, int version)
{
    static char url[64];
    struct cfg_bridge cfg = bridge_cfg(url, sizeof url, version);
    struct uplink_events ev = { on_connected, on_disconnected, on_delivered, on_message, r };
    struct uplink *u;
    char err[256];
    int rc = uplink_new(&cfg, "gw1", "gw1/status", loop, &ev, &u, err, sizeof err);
    if (rc)
        print_error("uplink_new: %s\n", err);
    assert_int_equal(rc, 0);
    return u;
}

/* ---- tests -------------------------------------------------------------- */

static void test_bad_url_is_einval(void **state)
{
    (void)state;
    struct loop *loop = loop_new();
    struct cfg_bridge cfg = { .url = (char *)"http://example.com", .reconnect_min = 1000,
                              .reconnect_max = 1000 };
    struct uplink *u = (struct uplink *)&cfg;
    char err[128] = "";
    assert_int_equal(uplink_new(&cfg, "gw", "gw/status", loop, NULL, &u, err, sizeof err),
                     -EINVAL);
    assert_null(u);
    assert_non_null(strstr(err, "mqtt://"));
    loop_free(loop);
}

/* MQTT 5: the whole life of a link, reconnect included. */
static void test_v5_publish_subscribe_reconnect(void **state)
{
    (void)state;
    broker_prepare();
    broker_start();
    struct loop *loop = loop_new();
    struct rec r = { 0 };
    struct uplink *u = uplink_make(loop, &r, CFG_MQTT_5);
    assert_int_equal(uplink_publish(u, "up/t", "x", 1, 1, false, 1), -ENOTCONN);
    assert_int_equal(uplink_start(u), 0);
    assert_int_equal(uplink_start(u), -EALREADY);
    assert_true(run_until(loop, connected_n, &r, 1, 5000));
    assert_true(uplink_connected(u));

    char out[256];
    read_retained("gw1/status", out, sizeof out);
    assert_string_equal(out, "gw1/status online\n");

    /* QoS 1, retained so a later subscriber can check what arrived. */
    assert_int_equal(uplink_publish(u, "up/t", "hello", 5, 1, true, 42), 0);
    assert_int_equal(uplink_publish(u, "up/q0", "a", 1, 0, false, 7), 0);
    assert_int_equal(uplink_publish(u, "up/q0", "b", 1, 0, false, 8), 0);
    assert_true(run_until(loop, delivered_id, &r, 42, 5000));
    assert_true(run_until(loop, delivered_id, &r, 7, 5000));
    assert_true(run_until(loop, delivered_id, &r, 8, 5000));
    assert_int_equal(r.n_delivered, 3);
    read_retained("up/t", out, sizeof out);
    assert_string_equal(out, "up/t hello\n");

    /* Subscribe: a retained message proves the SUBACK, then a live one. */
    pub_tool("down/a", "r1", true);
    assert_int_equal(uplink_subscribe(u, "down/#", 1), 0);
    assert_true(run_until(loop, messages_n, &r, 1, 5000));
    assert_string_equal(r.topic, "down/a");
    assert_string_equal(r.payload, "r1");
    assert_true(r.retain);
    pub_tool("down/b", "live", false);
    assert_true(run_until(loop, messages_n, &r, 2, 5000));
    assert_string_equal(r.topic, "down/b");
    assert_string_equal(r.payload, "live");
    assert_false(r.retain);

    /* Loss. */
    mosq_fixture_stop(&broker);
    assert_true(run_until(loop, disconnected_n, &r, 1, 5000));
    assert_false(uplink_connected(u));
    assert_int_equal(uplink_publish(u, "up/t", "x", 1, 1, false, 43), -ENOTCONN);

    /* Back on the same port: reconnected within one backoff wait. */
    broker_start();
    int64_t t0 = loop_clock_ms();
    assert_true(run_until(loop, connected_n, &r, 2, RECONNECT_BOUND_MS));
    print_message("reconnected %lld ms after the broker was ready\n",
                  (long long)(loop_clock_ms() - t0));
    /* Re-subscribed: the retained message reaches us whichever of SUBSCRIBE
     * and PUBLISH the broker sees first. */
    pub_tool("down/c", "again", true);
    assert_true(run_until(loop, messages_n, &r, 3, 5000));
    assert_string_equal(r.topic, "down/c");
    assert_string_equal(r.payload, "again");
    read_retained("gw1/status", out, sizeof out);
    assert_string_equal(out, "gw1/status online\n");

    /* Leaving: the broker publishes the will. */
    uplink_free(u, true);
    read_retained("gw1/status", out, sizeof out);
    assert_string_equal(out, "gw1/status offline\n");
    loop_free(loop);
}

/* MQTT 3.1.1, started with no broker: it keeps trying, then connects. */
static void test_v311_first_connect_waits_for_broker(void **state)
{
    (void)state;
    broker_prepare();  /* the port is chosen, nothing listens yet */
    struct loop *loop = loop_new();
    struct rec r = { 0 };
    struct uplink *u = uplink_make(loop, &r, CFG_MQTT_311);
    assert_int_equal(uplink_start(u), 0);
    /* 100 + 200 + 400 ms (±20%) and the refusals: three failures in 5 s. */
    assert_true(run_until(loop, disconnected_n, &r, 3, 5000));
    assert_int_equal(r.connected, 0);
    assert_false(uplink_connected(u));

    broker_start();
    int64_t t0 = loop_clock_ms();
    assert_true(run_until(loop, connected_n, &r, 1, RECONNECT_BOUND_MS));
    print_message("connected %lld ms after the broker was ready\n",
                  (long long)(loop_clock_ms() - t0));
    char out[256];
    read_retained("gw1/status", out, sizeof out);
    assert_string_equal(out, "gw1/status online\n");
    assert_int_equal(uplink_publish(u, "up/v3", "p", 1, 1, false, 9), 0);
    assert_true(run_until(loop, delivered_id, &r, 9, 5000));

    /* 3.1.1 has no "disconnect with will": the uplink says offline itself. */
    uplink_free(u, true);
    read_retained("gw1/status", out, sizeof out);
    assert_string_equal(out, "gw1/status offline\n");
    loop_free(loop);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_init(LOG_LEVEL_INFO);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_url_is_einval),
        cmocka_unit_test_teardown(test_v5_publish_subscribe_reconnect, teardown_broker),
        cmocka_unit_test_teardown(test_v311_first_connect_waits_for_broker, teardown_broker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
