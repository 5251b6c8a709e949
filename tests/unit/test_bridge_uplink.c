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
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bridge/uplink.h"
#include "gateway/log.h"
#include "gateway/loop.h"

#define US_PER_MS 1000
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 500
/* One jittered wait at most, plus up to ~1 s for Paho's receive thread to
 * pick up the new socket (its select cycles once a second), plus slack. */
#define RECONNECT_BOUND_MS (RECONNECT_MAX_MS + RECONNECT_MAX_MS / 5 + 2400)

/* ---- a mosquitto of our own -------------------------------------------- */

struct broker {
    pid_t pid;
    int port;
    char dir[64];
    char conf[96];
    char log[96];
};

static struct broker broker;

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    assert_true(s >= 0);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

static void broker_prepare(struct broker *b)
{
    snprintf(b->dir, sizeof b->dir, "/tmp/uplink-test-XXXXXX");
    assert_non_null(mkdtemp(b->dir));
    snprintf(b->conf, sizeof b->conf, "%s/mosquitto.conf", b->dir);
    snprintf(b->log, sizeof b->log, "%s/mosquitto.log", b->dir);
    b->port = free_port();
    FILE *f = fopen(b->conf, "w");
    assert_non_null(f);
    fprintf(f, "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
               "log_dest stderr\n", b->port);
    fclose(f);
}

static bool log_says_running(const struct broker *b)
{
    FILE *f = fopen(b->log, "r");
    char line[512];
    bool running = false;
    while (f && !running && fgets(line, sizeof line, f))
        running = strstr(line, " running") != NULL;
    if (f)
        fclose(f);
    return running;
}

static void broker_start(struct broker *b)
{
    unlink(b->log);
    b->pid = fork();
    assert_true(b->pid >= 0);
    if (b->pid == 0) {
        if (!freopen(b->log, "w", stderr))
            _exit(126);
        execl("/usr/sbin/mosquitto", "mosquitto", "-c", b->conf, (char *)NULL);
        _exit(127);
    }
    /* Readiness from its log, polled for at most 5 s. */
    for (int i = 0; i < 500 && !log_says_running(b); i++) {
        int st;
        assert_int_equal(waitpid(b->pid, &st, WNOHANG), 0);
        nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000000 }, NULL);
    }
    assert_true(log_says_running(b));
}

static void broker_stop(struct broker *b)
{
    if (b->pid <= 0)
        return;
    kill(b->pid, SIGTERM);
    int st;
    for (int i = 0; i < 500 && waitpid(b->pid, &st, WNOHANG) == 0; i++)
        nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000000 }, NULL);
    if (waitpid(b->pid, &st, WNOHANG) == 0) {
        kill(b->pid, SIGKILL);
        waitpid(b->pid, &st, 0);
    }
    b->pid = 0;
}

static int teardown_broker(void **state)
{
    (void)state;
    broker_stop(&broker);
    if (broker.dir[0]) {
        unlink(broker.conf);
        unlink(broker.log);
        rmdir(broker.dir);
    }
    memset(&broker, 0, sizeof broker);
    return 0;
}

/* Run a client tool (bounded by its own -W) and capture its stdout. */
static void run_tool(const char *const argv[], char *out, size_t size)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < size && (r = read(p[0], out + n, size - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
}

/* The retained message on `topic` as "topic payload", or "" after 3 s. */
static void read_retained(const char *topic, char *out, size_t size)
{
    char port[16];
    snprintf(port, sizeof port, "%d", broker.port);
    const char *argv[] = { "mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-t", topic,
                     "-v", "-C", "1", "-W", "3", NULL };
    run_tool(argv, out, size);
}

static void pub_tool(const char *topic, const char *msg, bool retain)
{
    char port[16], out[64];
    snprintf(port, sizeof port, "%d", broker.port);
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

struct waiter {
    bool (*pred)(const struct rec *r, int arg);
    const struct rec *rec;
    int arg;
    int64_t deadline;
    bool ok;
};

static int64_t wait_tick(struct loop *loop, void *data)
{
    struct waiter *w = data;
    if (w->pred(w->rec, w->arg)) {
        w->ok = true;
        loop_stop(loop);
        return LOOP_TIMER_STOP;
    }
    if (loop_clock_ms() >= w->deadline) {
        loop_stop(loop);
        return LOOP_TIMER_STOP;
    }
    return 5;
}

/* Run the loop until pred holds or timeout_ms pass; whether it held. */
static bool run_until(struct loop *loop, bool (*pred)(const struct rec *, int),
                      const struct rec *r, int arg, int64_t timeout_ms)
{
    struct waiter w = { pred, r, arg, loop_clock_ms() + timeout_ms, false };
    assert_true(loop_timer_add(loop, 0, wait_tick, &w) != 0);
    assert_int_equal(loop_run(loop), 0);
    return w.ok;
}

static bool connected_n(const struct rec *r, int n) { return r->connected >= n; }
static bool disconnected_n(const struct rec *r, int n) { return r->disconnected >= n; }
static bool messages_n(const struct rec *r, int n) { return r->messages >= n; }

static bool delivered_id(const struct rec *r, int id)
{
    for (size_t i = 0; i < r->n_delivered; i++)
        if (r->delivered[i] == (uint64_t)id)
            return true;
    return false;
}

static struct cfg_bridge bridge_cfg(char *url, size_t size, int version)
{
    snprintf(url, size, "mqtt://127.0.0.1:%d", broker.port);
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
    broker_prepare(&broker);
    broker_start(&broker);
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
    broker_stop(&broker);
    assert_true(run_until(loop, disconnected_n, &r, 1, 5000));
    assert_false(uplink_connected(u));
    assert_int_equal(uplink_publish(u, "up/t", "x", 1, 1, false, 43), -ENOTCONN);

    /* Back on the same port: reconnected within one backoff wait. */
    broker_start(&broker);
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
    broker_prepare(&broker);  /* the port is chosen, nothing listens yet */
    struct loop *loop = loop_new();
    struct rec r = { 0 };
    struct uplink *u = uplink_make(loop, &r, CFG_MQTT_311);
    assert_int_equal(uplink_start(u), 0);
    /* 100 + 200 + 400 ms (±20%) and the refusals: three failures in 5 s. */
    assert_true(run_until(loop, disconnected_n, &r, 3, 5000));
    assert_int_equal(r.connected, 0);
    assert_false(uplink_connected(u));

    broker_start(&broker);
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
