/* The broker's accept-time protections without clients: the per-address
 * connection rate limiter (token buckets on a synthetic clock), and TLS
 * contexts: loading, refusing bad settings, and broker_reload_tls swapping
 * contexts only when every one of them loads. Certificates are made with
 * the openssl command in a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "gateway/broker/broker.h"
#include "gateway/broker/broker_internal.h"
#include "gateway/broker/connrate.h"
#include "gateway/broker/tls.h"
#include "gateway/log.h"
#include "gateway/loop.h"

/* ---- connrate ------------------------------------------------------------ */

static struct sockaddr_storage v4(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
    return ss;
}

static void test_rate_burst_then_refill(void **state)
{
    (void)state;
    struct connrate *r = connrate_new(5);
    assert_non_null(r);
    struct sockaddr_storage a = v4("10.0.0.1");
    for (int i = 0; i < 5; i++)
        assert_true(connrate_allow(r, &a, 1000));
    assert_false(connrate_allow(r, &a, 1000));
    assert_false(connrate_allow(r, &a, 1150));      /* 0.75 token */
    assert_true(connrate_allow(r, &a, 1200));       /* 1 token after 200 ms at 5/s */
    assert_false(connrate_allow(r, &a, 1200));
    for (int i = 0; i < 5; i++)                     /* a long pause refills, capped at 5 */
        assert_true(connrate_allow(r, &a, 60000));
    assert_false(connrate_allow(r, &a, 60000));
    connrate_free(r);
}

static void test_rate_per_address(void **state)
{
    (void)state;
    struct connrate *r = connrate_new(1);
    struct sockaddr_storage a = v4("10.0.0.1"), b = v4("10.0.0.2");
    struct sockaddr_storage mapped = v6("::ffff:10.0.0.1"), other6 = v6("2001:db8::1");
    assert_true(connrate_allow(r, &a, 0));
    assert_false(connrate_allow(r, &a, 0));
    assert_false(connrate_allow(r, &mapped, 0));    /* the same address, over IPv6 */
    assert_true(connrate_allow(r, &b, 0));
    assert_true(connrate_allow(r, &other6, 0));
    assert_false(connrate_allow(r, &other6, 10));
    connrate_free(r);
}

/* More addresses than slots: the table stays bounded and a new address is
 * never refused for lack of room. */
static void test_rate_table_full(void **state)
{
    (void)state;
    struct connrate *r = connrate_new(1);
    char ip[32];
    for (int i = 0; i < 4 * CONNRATE_SLOTS; i++) {
        snprintf(ip, sizeof(ip), "10.%d.%d.1", i / 256, i % 256);
        struct sockaddr_storage a = v4(ip);
        assert_true(connrate_allow(r, &a, i));
    }
    connrate_free(r);
}

static void test_rate_log_once_a_second(void **state)
{
    (void)state;
    struct connrate *r = connrate_new(1);
    struct sockaddr_storage a = v4("10.0.0.1");
    uint64_t refused = 0;
    assert_true(connrate_allow(r, &a, 0));
    assert_false(connrate_allow(r, &a, 0));
    assert_true(connrate_log_due(r, 0, &refused));
    assert_int_equal(refused, 1);
    assert_false(connrate_allow(r, &a, 10));
    assert_false(connrate_allow(r, &a, 20));
    assert_false(connrate_log_due(r, 500, &refused));
    assert_true(connrate_log_due(r, 1000, &refused));
    assert_int_equal(refused, 2);
    connrate_free(r);
}

/* ---- TLS contexts and reload ------------------------------------------------ */

static char dir[64];

static int make_certs(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/mqgate-tls-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "cd %s && k='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes' && "
             "openssl req -x509 $k -keyout ca.key -out ca.crt -days 2 -subj /CN=ca && "
             "for n in a b; do openssl req -new $k -keyout $n.key -out $n.csr -subj /CN=$n && "
             "openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
             "-out $n.crt || exit 1; done", dir);
    strcat(cmd, " >/dev/null 2>&1");
    log_init(LOG_LEVEL_ERROR);
    return system(cmd) == 0 ? 0 : -1;
}

static int remove_certs(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A configuration with one mqtts listener on port 0 using cert/key NAME
 * (a file name in dir, or a missing one) and `extra` tls keys. */
static struct config *tls_config(const char *cert, const char *key, const char *extra)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "broker:\n  persistence: { enabled: false }\n  sys_interval: 0\n  listeners:\n"
             "    - { bind: 127.0.0.1, port: 0, protocol: mqtts, allow_anonymous: true,\n"
             "        tls: { cert_file: %s/%s, key_file: %s/%s, ca_file: %s/ca.crt%s } }\n",
             dir, cert, dir, key, dir, extra);
    struct diag d;
    diag_init(&d);
    struct config *cfg = NULL;
    int rc = config_load_string("t", text, strlen(text), &cfg, &d);
    if (rc)
        diag_print(&d, stderr);
    diag_free(&d);
    assert_int_equal(rc, 0);
    return cfg;
}

static void test_ctx_loads_and_refuses(void **state)
{
    (void)state;
    struct config *cfg = tls_config("a.crt", "a.key", ", require_certificate: true");
    struct ssl_ctx_st *ctx = tls_ctx_new(&cfg->broker.listeners[0].tls, "test");
    assert_non_null(ctx);
    tls_ctx_free(ctx);
    config_free(cfg);

    cfg = tls_config("a.crt", "b.key", "");         /* key of another certificate */
    assert_null(tls_ctx_new(&cfg->broker.listeners[0].tls, "test"));
    config_free(cfg);
    cfg = tls_config("missing.crt", "a.key", "");
    assert_null(tls_ctx_new(&cfg->broker.listeners[0].tls, "test"));
    config_free(cfg);
    cfg = tls_config("a.crt", "a.key", ", ciphers: NO-SUCH-CIPHER");
    assert_null(tls_ctx_new(&cfg->broker.listeners[0].tls, "test"));
    config_free(cfg);
    cfg = tls_config("a.crt", "a.key", ", ciphersuites: NO_SUCH_SUITE");
    assert_null(tls_ctx_new(&cfg->broker.listeners[0].tls, "test"));
    config_free(cfg);
}

static void test_listen_fails_on_bad_certificate(void **state)
{
    (void)state;
    struct config *cfg = tls_config("missing.crt", "a.key", "");
    struct loop *loop = loop_new();
    struct broker *b = broker_new(loop, &cfg->broker);
    assert_non_null(b);
    assert_int_equal(broker_listen(b), -EINVAL);
    broker_free(b);
    loop_free(loop);
    config_free(cfg);
}

static void test_reload_swaps_only_on_success(void **state)
{
    (void)state;
    struct config *cfg = tls_config("a.crt", "a.key", "");
    struct loop *loop = loop_new();
    struct broker *b = broker_new(loop, &cfg->broker);
    assert_non_null(b);
    assert_int_equal(broker_listen(b), 0);
    assert_true(broker_listener_port(b, 0) > 0);
    struct ssl_ctx_st *before = b->listeners[0].tls_ctx;
    assert_non_null(before);

    struct config *bad = tls_config("b.crt", "a.key", "");
    assert_int_equal(broker_reload_tls(b, &bad->broker), -EINVAL);
    assert_ptr_equal(b->listeners[0].tls_ctx, before);

    struct config *good = tls_config("b.crt", "b.key", "");
    assert_int_equal(broker_reload_tls(b, &good->broker), 0);
    assert_non_null(b->listeners[0].tls_ctx);
    assert_ptr_not_equal(b->listeners[0].tls_ctx, before);

    broker_free(b);
    loop_free(loop);
    config_free(good);
    config_free(bad);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest rate[] = {
        cmocka_unit_test(test_rate_burst_then_refill),
        cmocka_unit_test(test_rate_per_address),
        cmocka_unit_test(test_rate_table_full),
        cmocka_unit_test(test_rate_log_once_a_second),
    };
    const struct CMUnitTest tls[] = {
        cmocka_unit_test(test_ctx_loads_and_refuses),
        cmocka_unit_test(test_listen_fails_on_bad_certificate),
        cmocka_unit_test(test_reload_swaps_only_on_success),
    };
    int failed = cmocka_run_group_tests_name("connrate", rate, NULL, NULL);
    return failed + cmocka_run_group_tests_name("tls", tls, make_certs, remove_certs);
}
