/* Tests for the TLS side of bridge/uplink against a real mosquitto: a test
 * CA, server, client and "wrong CA" certificates made with the openssl CLI
 * in a temp dir; listeners for a good server name, a wrong one and one that
 * requires client certificates. Checks trust (ca_file), hostname checking,
 * client certificates, MQTT 3.1.1 and 5 over TLS, and that OpenSSL's reason
 * reaches our log. Sanitized runs need
 * LSAN_OPTIONS=suppressions=tests/integration/lsan-paho.supp. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bridge/uplink.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "tests/unit/mosquitto_fixture.h"

#define US_PER_MS 1000
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 400
#define PATH_LEN 384
#define OPENSSL_TIMEOUT_MS 10000
/* A connect attempt is decided within ~1 s (Paho's threads poll once a
 * second); a few of them, with backoff, fit easily. */
#define CONNECT_BOUND_MS 6000
#define REFUSALS_BOUND_MS 10000

/* PORT_PLAIN is the fixture's own listener (port[0]). */
enum { PORT_PLAIN, PORT_TLS, PORT_WRONG_NAME, PORT_MUTUAL, N_PORTS };

/* Everything the cases share: made once, removed once. */
struct fixture {
    struct mosq_fixture mosq;           /* its dir holds the keys and logs too */
    int capture_fd;                     /* our log, while a case reads it */
};

static struct fixture fx = { .capture_fd = -1 };

static void path_of(char out[PATH_LEN], const char *name)
{
    assert_int_equal(mosq_fixture_path(&fx.mosq, name, out, PATH_LEN), 0);
}

/* ---- child processes, every wait bounded ------------------------------- */

/* Run a tool with its output appended to <dir>/tools.log; its exit status,
 * or negative if it had to be killed at timeout_ms. */
static int run_logged(const char *const argv[], int timeout_ms)
{
    char log[PATH_LEN];
    path_of(log, "tools.log");
    return mosq_fixture_run(argv, log, NULL, 0, timeout_ms);
}

/* Run a tool that bounds itself (-W) and capture its stdout. */
static void run_captured(const char *const argv[], char *out, size_t size)
{
    assert_true(mosq_fixture_run(argv, NULL, out, size, 5000) >= 0);
}

/* The retained message on `topic` as "topic payload\n" (plain listener),
 * or "" after 3 s. */
static void read_retained(const char *topic, char *out, size_t size)
{
    char port[16];
    snprintf(port, sizeof port, "%d", fx.mosq.port[PORT_PLAIN]);
    const char *argv[] = { "mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-t", topic,
                           "-v", "-C", "1", "-W", "3", NULL };
    run_captured(argv, out, size);
}

/* ---- certificates ------------------------------------------------------ */

static void make_ca(const char *name)
{
    char key[PATH_LEN], crt[PATH_LEN], subj[64];
    snprintf(subj, sizeof subj, "/CN=mqgate test %s", name);
    path_of(key, name);
    strcat(key, ".key");
    path_of(crt, name);
    strcat(crt, ".crt");
    const char *argv[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                           "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                           "-days", "2", "-subj", subj,
                           "-addext", "basicConstraints=critical,CA:TRUE",
                           "-addext", "keyUsage=critical,keyCertSign,cRLSign", NULL };
    assert_int_equal(run_logged(argv, OPENSSL_TIMEOUT_MS), 0);
}

/* A leaf signed by `ca` (OpenSSL 3's `req -CA` makes and signs in one go). */
static void make_leaf(const char *name, const char *ca, const char *san, const char *usage)
{
    char key[PATH_LEN], crt[PATH_LEN], ca_crt[PATH_LEN], ca_key[PATH_LEN];
    char subj[64], san_ext[128], eku_ext[64];
    path_of(key, name);
    strcat(key, ".key");
    path_of(crt, name);
    strcat(crt, ".crt");
    path_of(ca_crt, ca);
    strcat(ca_crt, ".crt");
    path_of(ca_key, ca);
    strcat(ca_key, ".key");
    snprintf(subj, sizeof subj, "/CN=%s", name);
    snprintf(san_ext, sizeof san_ext, "subjectAltName=%s", san);
    snprintf(eku_ext, sizeof eku_ext, "extendedKeyUsage=%s", usage);
    const char *argv[] = { "openssl", "req", "-x509", "-CA", ca_crt, "-CAkey", ca_key,
                           "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                           "-keyout", key, "-out", crt, "-days", "2", "-subj", subj,
                           "-addext", "basicConstraints=critical,CA:FALSE",
                           "-addext", san_ext, "-addext", eku_ext, NULL };
    assert_int_equal(run_logged(argv, OPENSSL_TIMEOUT_MS), 0);
}

static void make_certificates(void)
{
    make_ca("ca");
    make_ca("wrong-ca");
    make_leaf("server", "ca", "IP:127.0.0.1,DNS:localhost", "serverAuth");
    make_leaf("wrong-name", "ca", "DNS:wrong.example", "serverAuth");
    make_leaf("client", "ca", "DNS:gateway.example", "clientAuth");
}

/* ---- the broker -------------------------------------------------------- */

/* One listener's lines, appended to conf[*used]. */
static void conf_tls_listener(char *conf, size_t size, size_t *used, int port,
                              const char *cert, bool require_cert)
{
    char ca[PATH_LEN], crt[PATH_LEN], key[PATH_LEN];
    path_of(ca, "ca.crt");
    path_of(crt, cert);
    strcat(crt, ".crt");
    path_of(key, cert);
    strcat(key, ".key");
    int n = snprintf(conf + *used, size - *used,
                     "listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n"
                     "require_certificate %s\n", port, ca, crt, key,
                     require_cert ? "true" : "false");
    assert_true(n > 0 && (size_t)n < size - *used);
    *used += (size_t)n;
}

/* Beside the fixture's plain listener, the three TLS ones. */
static void broker_start(void)
{
    char conf[4 * PATH_LEN * 3 + 512];
    size_t used = (size_t)snprintf(conf, sizeof conf, "allow_anonymous true\n");
    conf_tls_listener(conf, sizeof conf, &used, fx.mosq.port[PORT_TLS], "server", false);
    conf_tls_listener(conf, sizeof conf, &used, fx.mosq.port[PORT_WRONG_NAME], "wrong-name",
                      false);
    conf_tls_listener(conf, sizeof conf, &used, fx.mosq.port[PORT_MUTUAL], "server", true);
    assert_int_equal(mosq_fixture_start(&fx.mosq, conf), 0);
}

/* Idempotent, so main can call it again when the group setup failed. */
static void fixture_clean(void)
{
    if (mosq_fixture_stop(&fx.mosq) == -ETIMEDOUT)
        print_message("mosquitto did not stop on SIGTERM: killed\n");
    if (fx.capture_fd >= 0)
        close(fx.capture_fd);
    fx.capture_fd = -1;
    mosq_fixture_cleanup(&fx.mosq);
}

static int group_setup(void **state)
{
    (void)state;
    assert_int_equal(mosq_fixture_init(&fx.mosq, "uplink-tls", N_PORTS), 0);
    make_certificates();
    broker_start();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    fixture_clean();
    return 0;
}

/* ---- driving the loop -------------------------------------------------- */

struct rec {
    int connected, disconnected;
    uint64_t delivered[8];
    size_t n_delivered;
    char why[200];                      /* the last `disconnected` reason */
};

static void on_connected(void *ctx, bool sp)
{
    (void)sp;
    ((struct rec *)ctx)->connected++;
}

static void on_disconnected(void *ctx, const char *why)
{
    struct rec *r = ctx;
    assert_non_null(why);
    snprintf(r->why, sizeof r->why, "%s", why);
    r->disconnected++;
}

static void on_delivered(void *ctx, uint64_t id)
{
    struct rec *r = ctx;
    if (r->n_delivered < 8)
        r->delivered[r->n_delivered++] = id;
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

/* Also stops at a connect, so a link that should be refused fails fast. */
static bool refused_n(const void *ctx, int n)
{
    const struct rec *r = ctx;
    return r->disconnected >= n || r->connected > 0;
}

static bool delivered_id(const void *ctx, int id)
{
    const struct rec *r = ctx;
    for (size_t i = 0; i < r->n_delivered; i++)
        if (r->delivered[i] == (uint64_t)id)
            return true;
    return false;
}

/* How a case wants its link: which listener, trust and identity. */
struct link_opts {
    const char *gateway;                /* also names the status topic */
    int version;                        /* CFG_MQTT_311 or CFG_MQTT_5 */
    int port;                           /* PORT_* */
    const char *ca;                     /* "ca", "wrong-ca", or a missing one */
    bool client_cert;
    bool verify_hostname;
};

static struct uplink *link_make(struct loop *loop, struct rec *r, const struct link_opts *o)
{
    char url[64], ca[PATH_LEN], crt[PATH_LEN], key[PATH_LEN], status[64];
    snprintf(url, sizeof url, "mqtts://127.0.0.1:%d", fx.mosq.port[o->port]);
    snprintf(status, sizeof status, "%s/status", o->gateway);
    path_of(ca, o->ca);
    strcat(ca, ".crt");
    path_of(crt, "client.crt");
    path_of(key, "client.key");
    struct cfg_bridge cfg = {
        .enabled = true,
        .url = url,
        .mqtt_version = o->version,
        .client_id = { .text = (char *)"{gateway}-bridge" },
        .keepalive = 5 * 1000 * US_PER_MS,
        .clean_start = true,
        .reconnect_min = RECONNECT_MIN_MS * US_PER_MS,
        .reconnect_max = RECONNECT_MAX_MS * US_PER_MS,
        .tls = { .ca_file = ca, .verify_hostname = o->verify_hostname,
                 .cert_file = o->client_cert ? crt : NULL,
                 .key_file = o->client_cert ? key : NULL },
    };
    struct uplink_events ev = { on_connected, on_disconnected, on_delivered, NULL, r };
    struct uplink *u;
    char err[256];
    int rc = uplink_new(&cfg, o->gateway, status, loop, &ev, &u, err, sizeof err);
    if (rc)
        print_error("uplink_new: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(uplink_start(u), 0);
    return u;
}

/* The first attempt connects (no failure reported before it). */
static void expect_connects(const struct link_opts *o)
{
    struct loop *loop = loop_new();
    assert_non_null(loop);
    struct rec r = { 0 };
    struct uplink *u = link_make(loop, &r, o);
    bool ok = run_until(loop, connected_n, &r, 1, CONNECT_BOUND_MS);
    if (!ok)
        print_error("%s: not connected; last reason: '%s'\n", o->gateway, r.why);
    assert_true(ok);
    assert_int_equal(r.disconnected, 0);
    assert_true(uplink_connected(u));
    uplink_free(u, false);
    loop_free(loop);
}

/* Every attempt fails: `refusals` of them are reported, none connects. */
static void expect_refused(const struct link_opts *o, int refusals)
{
    struct loop *loop = loop_new();
    assert_non_null(loop);
    struct rec r = { 0 };
    struct uplink *u = link_make(loop, &r, o);
    assert_true(run_until(loop, refused_n, &r, refusals, REFUSALS_BOUND_MS));
    assert_int_equal(r.connected, 0);
    assert_true(r.disconnected >= refusals);
    assert_false(uplink_connected(u));
    assert_true(r.why[0] != '\0');
    print_message("%s refused %d times: %s\n", o->gateway, r.disconnected, r.why);
    uplink_free(u, false);
    loop_free(loop);
}

/* ---- tests -------------------------------------------------------------- */

/* ca_file = the test CA: up, "online" retained, a QoS 1 publish delivered
 * (and reported by id), "offline" on a final leave. */
static void check_trusted_link(int version, const char *gateway)
{
    struct loop *loop = loop_new();
    assert_non_null(loop);
    struct rec r = { 0 };
    struct link_opts o = { gateway, version, PORT_TLS, "ca", false, true };
    struct uplink *u = link_make(loop, &r, &o);
    bool ok = run_until(loop, connected_n, &r, 1, CONNECT_BOUND_MS);
    if (!ok)
        print_error("not connected; last reason: '%s'\n", r.why);
    assert_true(ok);

    char topic[64], want[96], out[256];
    snprintf(topic, sizeof topic, "%s/status", gateway);
    snprintf(want, sizeof want, "%s online\n", topic);
    read_retained(topic, out, sizeof out);
    assert_string_equal(out, want);

    snprintf(topic, sizeof topic, "up/%s", gateway);
    assert_int_equal(uplink_publish(u, topic, "hello", 5, 1, true, 42), 0);
    assert_true(run_until(loop, delivered_id, &r, 42, 5000));
    assert_int_equal(r.n_delivered, 1);
    snprintf(want, sizeof want, "%s hello\n", topic);
    read_retained(topic, out, sizeof out);
    assert_string_equal(out, want);
    assert_int_equal(r.disconnected, 0);

    uplink_free(u, true);
    snprintf(topic, sizeof topic, "%s/status", gateway);
    snprintf(want, sizeof want, "%s offline\n", topic);
    read_retained(topic, out, sizeof out);
    assert_string_equal(out, want);
    loop_free(loop);
}

static void test_v311_trusted_ca(void **state)
{
    (void)state;
    check_trusted_link(CFG_MQTT_311, "tls311");
}

static void test_v5_trusted_ca(void **state)
{
    (void)state;
    check_trusted_link(CFG_MQTT_5, "tls5");
}

/* Our log into <dir>/uplink.log, emptied first. One file for all cases,
 * open until the end: a Paho thread may still hold its number. */
static void capture_log(void)
{
    char p[PATH_LEN];
    path_of(p, "uplink.log");
    if (fx.capture_fd < 0)
        fx.capture_fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    assert_true(fx.capture_fd >= 0);
    assert_int_equal(ftruncate(fx.capture_fd, 0), 0);
    log_set_output_fd(fx.capture_fd);
}

/* Back to stderr, and what was captured shown there too. */
static int teardown_capture(void **state)
{
    (void)state;
    log_set_output_fd(2);
    char p[PATH_LEN], line[1024];
    path_of(p, "uplink.log");
    FILE *f = fopen(p, "r");
    while (f && fgets(line, sizeof line, f))
        print_message("  | %s", line);
    if (f)
        fclose(f);
    return 0;
}

static bool captured_has(const char *needle)
{
    char p[PATH_LEN];
    path_of(p, "uplink.log");
    return mosq_fixture_file_has(p, needle, true);
}

/* A server the CA does not vouch for: never up, retried with backoff, and
 * OpenSSL's reason is in our log. */
static void test_wrong_ca_refused(void **state)
{
    (void)state;
    capture_log();
    struct link_opts o = { "badca", CFG_MQTT_5, PORT_TLS, "wrong-ca", false, true };
    expect_refused(&o, 3);
    log_set_output_fd(2);
    assert_true(captured_has("upstream down: "));
    assert_true(captured_has("uplink: tls: "));
    assert_true(captured_has("certificate verify failed"));
}

/* A ca_file that is not there is not replaced by the system store: no
 * connection, and OpenSSL's complaint about the file is logged. */
static void test_missing_ca_file_refused(void **state)
{
    (void)state;
    capture_log();
    struct link_opts o = { "noca", CFG_MQTT_5, PORT_TLS, "missing", false, true };
    expect_refused(&o, 1);
    log_set_output_fd(2);
    assert_true(captured_has("uplink: tls: "));
    assert_true(captured_has("no such file"));
}

/* The chain is checked even when the name is not. */
static void test_wrong_ca_refused_without_hostname_check(void **state)
{
    (void)state;
    struct link_opts o = { "badca311", CFG_MQTT_311, PORT_TLS, "wrong-ca", false, false };
    expect_refused(&o, 2);
}

/* A trusted certificate for another name: refused while names are
 * checked (the default), accepted when they are not. */
static void test_hostname_mismatch(void **state)
{
    (void)state;
    struct link_opts o = { "name", CFG_MQTT_5, PORT_WRONG_NAME, "ca", false, true };
    expect_refused(&o, 2);
    o.gateway = "noname";
    o.verify_hostname = false;
    expect_connects(&o);
}

/* The listener asks for a certificate from our CA. */
static void test_client_certificate(void **state)
{
    (void)state;
    struct link_opts o = { "anon", CFG_MQTT_311, PORT_MUTUAL, "ca", false, true };
    expect_refused(&o, 2);
    o.gateway = "mutual";
    o.client_cert = true;
    expect_connects(&o);
    o.gateway = "mutual5";
    o.version = CFG_MQTT_5;
    expect_connects(&o);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_init(LOG_LEVEL_INFO);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v311_trusted_ca),
        cmocka_unit_test(test_v5_trusted_ca),
        cmocka_unit_test_teardown(test_wrong_ca_refused, teardown_capture),
        cmocka_unit_test_teardown(test_missing_ca_file_refused, teardown_capture),
        cmocka_unit_test(test_wrong_ca_refused_without_hostname_check),
        cmocka_unit_test(test_hostname_mismatch),
        cmocka_unit_test(test_client_certificate),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    fixture_clean();
    return failed;
}
