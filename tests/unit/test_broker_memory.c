/* The broker's memory_limit, on a real broker and loop with clients on
 * socketpairs: what is counted (and given back), $SYS/broker/heap, QoS 1/2
 * refused (MQTT 5) or held (3.1.1) past the limit, QoS 0 not queued for a
 * slow subscriber, in-process publishers never refused, and the log lines. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "gateway/broker/broker.h"
#include "gateway/broker/broker_internal.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "gateway/mqtt/mqtt.h"

#define LIMIT (64 * 1024)
#define IN_MAX (512 * 1024)

struct fixture {
    struct config *cfg;
    struct loop *loop;
    struct broker *b;
    int log_fd; /* a memfd the log goes to */
};

/* Our end of one client connection. */
struct peer {
    struct fixture *f;
    int fd;
    int version;
    uint8_t *in;
    size_t len;
};

/* What a test looks at in a packet the broker sent. */
struct seen {
    uint8_t type;
    uint16_t id;
    uint8_t reason;
    char topic[64];
    char payload[64];
};

static int setup(void **state)
{
    static struct fixture f;
    static const char text[] =
        "broker:\n"
        "  sys_interval: 0\n"
        "  memory_limit: 64KiB\n"
        "  listeners:\n"
        "    - { bind: 127.0.0.1, port: 18830, allow_anonymous: true }\n";
    struct diag d;
    diag_init(&d);
    assert_int_equal(config_load_string("t", text, sizeof(text) - 1, &f.cfg, &d), 0);
    diag_free(&d);
    f.log_fd = memfd_create("log", MFD_CLOEXEC);
    assert_true(f.log_fd >= 0);
    log_set_output_fd(f.log_fd);
    log_init(LOG_LEVEL_INFO);
    f.loop = loop_new();
    f.b = broker_new(f.loop, &f.cfg->broker);
    assert_non_null(f.b);
    assert_int_equal(f.b->mem_limit, LIMIT);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    broker_free(f->b);
    loop_free(f->loop);
    config_free(f->cfg);
    log_set_output_fd(2);
    log_init(LOG_LEVEL_WARN);
    close(f->log_fd);
    return 0;
}

/* How many log lines so far contain `needle`. */
static int log_count(struct fixture *f, const char *needle)
{
    static char text[64 * 1024];
    ssize_t n = pread(f->log_fd, text, sizeof(text) - 1, 0);
    assert_true(n >= 0);
    text[n] = '\0';
    int count = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        count++;
    return count;
}

/* ---- running the loop ---------------------------------------------------- */

static int64_t on_stop(struct loop *loop, void *data)
{
    int *turns = data;
    if (--*turns > 0)
        return 0;
    loop_stop(loop);
    return LOOP_TIMER_STOP;
}

static void run_turns(struct fixture *f, int n)
{
    assert_true(loop_timer_add(f->loop, 0, on_stop, &n) != 0);
    assert_int_equal(loop_run(f->loop), 0);
}

/* Run the loop for about `ms` of real time (it sleeps in epoll meanwhile). */
static void run_for_ms(struct fixture *f, int64_t ms)
{
    int one = 1;
    assert_true(loop_timer_add(f->loop, ms, on_stop, &one) != 0);
    assert_int_equal(loop_run(f->loop), 0);
}

/* ---- clients ------------------------------------------------------------- */

static void peer_send(struct peer *p, const uint8_t *buf, size_t n)
{
    size_t off = 0;
    for (int tries = 0; off < n && tries < 100; tries++) {
        ssize_t w = send(p->fd, buf + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0)
            off += (size_t)w;
        else
            run_turns(p->f, 1); /* let the broker read */
    }
    assert_int_equal(off, n);
}

/* Read what the broker sent so far. */
static void peer_fill(struct peer *p)
{
    for (;;) {
        assert_true(p->len < IN_MAX);
        ssize_t n = recv(p->fd, p->in + p->len, IN_MAX - p->len, MSG_DONTWAIT);
        if (n <= 0)
            return;
        p->len += (size_t)n;
    }
}

/* The next packet the broker sent, if one is complete. */
static bool peer_next(struct peer *p, struct seen *out)
{
    peer_fill(p);
    struct mqtt_fixed_header h;
    const char *why = NULL;
    int rc = mqtt_decode_fixed_header(p->in, p->len, 0, &h, &why);
    assert_true(rc >= 0);
    size_t size = h.header_len + (size_t)h.remaining;
    if (rc == 0 || size > p->len)
        return false;
    struct mqtt_packet pkt;
    assert_int_equal(mqtt_decode(p->in, size, p->version, 0, &pkt, &why), (int)size);
    memset(out, 0, sizeof(*out));
    out->type = pkt.type;
    if (pkt.type >= MQTT_PUBACK && pkt.type <= MQTT_PUBCOMP) {
        out->id = pkt.u.ack.packet_id;
        out->reason = pkt.u.ack.reason;
    } else if (pkt.type == MQTT_PUBLISH) {
        out->id = pkt.u.publish.packet_id;
        snprintf(out->topic, sizeof(out->topic), "%.*s", (int)pkt.u.publish.topic.len,
                 (const char *)pkt.u.publish.topic.data);
        snprintf(out->payload, sizeof(out->payload), "%.*s",
                 (int)pkt.u.publish.payload.len, (const char *)pkt.u.publish.payload.data);
    } else if (pkt.type == MQTT_CONNACK) {
        out->reason = pkt.u.connack.reason;
    }
    memmove(p->in, p->in + size, p->len - size);
    p->len -= size;
    return true;
}

/* Run turns until a packet of `type` comes (others are skipped). */
static bool peer_wait(struct peer *p, uint8_t type, int turns, struct seen *out)
{
    for (int i = 0; i < turns; i++) {
        while (peer_next(p, out))
            if (out->type == type)
                return true;
        run_turns(p->f, 1);
    }
    return false;
}

static void peer_open(struct fixture *f, struct peer *p, int version, const char *id,
                      bool small_buffers)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    if (small_buffers) {
        int size = 4096; /* the kernel doubles it, and has a floor */
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    assert_non_null(client_accept(f->b, &f->b->listeners[0], sv[0], "test"));
    *p = (struct peer){ .f = f, .fd = sv[1], .version = version, .in = malloc(IN_MAX) };
    assert_non_null(p->in);
    struct mqtt_connect c = { .version = (uint8_t)version, .clean_start = true,
                              .client_id = { (const uint8_t *)id, (uint32_t)strlen(id) } };
    uint8_t buf[256];
    size_t n = mqtt_encode_connect(buf, sizeof(buf), &c);
    assert_true(n > 0 && n <= sizeof(buf));
    peer_send(p, buf, n);
    struct seen s;
    assert_true(peer_wait(p, MQTT_CONNACK, 10, &s));
    assert_int_equal(s.reason, 0);
}

static void peer_close(struct peer *p)
{
    close(p->fd);
    free(p->in);
    run_turns(p->f, 2); /* the broker reads the end, frees the client before sleeping */
}

static void peer_subscribe(struct peer *p, const char *filter, uint8_t qos)
{
    struct mqtt_sub_entry e = { .filter = { (const uint8_t *)filter, (uint32_t)strlen(filter) },
                                .qos = qos };
    struct mqtt_subscribe sub = { .packet_id = 1, .count = 1, .subs = &e };
    uint8_t buf[256];
    size_t n = mqtt_encode_subscribe(buf, sizeof(buf), &sub, p->version);
    assert_true(n > 0 && n <= sizeof(buf));
    peer_send(p, buf, n);
    struct seen s;
    assert_true(peer_wait(p, MQTT_SUBACK, 10, &s));
}

static void peer_publish(struct peer *p, const char *topic, const char *payload, uint8_t qos,
                         uint16_t id)
{
    struct mqtt_publish pub = { .qos = qos, .packet_id = id,
                                .topic = { (const uint8_t *)topic, (uint32_t)strlen(topic) },
                                .payload = { (const uint8_t *)payload,
                                             (uint32_t)strlen(payload) } };
    uint8_t buf[512];
    size_t n = mqtt_encode_publish(buf, sizeof(buf), &pub, p->version);
    assert_true(n > 0 && n <= sizeof(buf));
    peer_send(p, buf, n);
}

/* ---- in-process ------------------------------------------------------------ */

struct got {
    int count;
    char topic[64];
    char payload[64];
};

static void on_message(void *ctx, const char *topic, const void *payload, size_t len, int qos,
                       bool retain)
{
    (void)qos;
    (void)retain;
    struct got *g = ctx;
    g->count++;
    snprintf(g->topic, sizeof(g->topic), "%s", topic);
    snprintf(g->payload, sizeof(g->payload), "%.*s", (int)len, (const char *)payload);
}

/* A retained message big enough to push the broker over its limit (the
 * in-process publisher is never refused), or with NULL to clear it. */
static void ballast(struct fixture *f, size_t size)
{
    static char big[LIMIT + 1024];
    memset(big, 'x', sizeof(big));
    assert_true(size <= sizeof(big));
    assert_int_equal(broker_publish(f->b, "ballast", big, size, 0, true), 0);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_counts_messages_and_sys_topics(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(f->b->mem_current, 0);
    ballast(f, 10000);
    uint64_t held = f->b->mem_current;
    assert_true(held >= 10000 + strlen("ballast") + sizeof(struct broker_msg));
    assert_true(held < 10000 + 1024);
    ballast(f, 0); /* cleared: the message is freed, and its bytes given back */
    assert_int_equal(f->b->mem_current, 0);
    /* The peak: the old message and the empty one that cleared it. */
    assert_true(f->b->mem_max > held && f->b->mem_max < held + 512);
    assert_false(broker_mem_biting(f->b));

    struct got cur = { 0 }, max = { 0 };
    struct broker_local *lc = broker_local_new(f->b, "cur", on_message, &cur);
    struct broker_local *lm = broker_local_new(f->b, "max", on_message, &max);
    assert_int_equal(broker_local_subscribe(lc, "$SYS/broker/heap/current", 0), 0);
    assert_int_equal(broker_local_subscribe(lm, "$SYS/broker/heap/maximum", 0), 0);
    sys_publish(f->b);
    assert_int_equal(cur.count, 1);
    assert_int_equal(max.count, 1);
    /* The $SYS figures are retained messages: they are counted themselves. */
    assert_true(strtoull(cur.payload, NULL, 10) > 0);
    assert_int_equal(strtoull(max.payload, NULL, 10), f->b->mem_max);
    broker_local_free(lc);
    broker_local_free(lm);
}

static void test_mqtt5_refused_inprocess_not(void **state)
{
    struct fixture *f = *state;
    struct got local = { 0 };
    struct broker_local *l = broker_local_new(f->b, "bridge", on_message, &local);
    assert_int_equal(broker_local_subscribe(l, "t/#", 2), 0);
    struct peer pub, sub;
    peer_open(f, &pub, MQTT_V5, "pub5", false);
    peer_open(f, &sub, MQTT_V5, "sub5", false);
    peer_subscribe(&sub, "t/#", 0);

    ballast(f, LIMIT);
    assert_true(broker_mem_biting(f->b));
    assert_int_equal(log_count(f, "memory_limit 64 KiB reached: "), 1);
    assert_int_equal(log_count(f, "pausing publishers and dropping QoS 0"), 1);

    struct broker_stats st0;
    broker_get_stats(f->b, &st0);
    peer_publish(&pub, "t/q1", "one", 1, 11);
    peer_publish(&pub, "t/q2", "two", 2, 12);
    peer_publish(&pub, "t/q0", "zero", 0, 0);
    struct seen s;
    assert_true(peer_wait(&pub, MQTT_PUBACK, 10, &s));
    assert_int_equal(s.id, 11);
    assert_int_equal(s.reason, MQTT_RC_QUOTA_EXCEEDED);
    assert_true(peer_wait(&pub, MQTT_PUBREC, 10, &s));
    assert_int_equal(s.id, 12);
    assert_int_equal(s.reason, MQTT_RC_QUOTA_EXCEEDED);
    assert_int_equal(local.count, 0); /* nothing of the three was routed */
    struct broker_stats st1;
    broker_get_stats(f->b, &st1);
    assert_int_equal(st1.messages_dropped - st0.messages_dropped, 3);
    assert_int_equal(f->b->mem_counts.refused, 2);

    /* The gateway's own readings still flow, and a subscriber whose socket
     * takes them gets them at QoS 0. */
    assert_int_equal(broker_publish(f->b, "t/reading", "21.5", 4, 0, false), 0);
    assert_int_equal(local.count, 1);
    assert_string_equal(local.payload, "21.5");
    assert_true(f->b->mem_counts.admitted >= 1);
    assert_true(peer_wait(&sub, MQTT_PUBLISH, 10, &s));
    assert_string_equal(s.topic, "t/reading");

    /* Under 90% of the limit it stops biting: publishing works again. */
    ballast(f, 0);
    assert_false(broker_mem_biting(f->b));
    assert_int_equal(log_count(f, "memory_limit 64 KiB: back under it"), 1);
    assert_int_equal(log_count(f, "2 publish(es) refused"), 1);
    peer_publish(&pub, "t/q1", "again", 1, 13);
    assert_true(peer_wait(&pub, MQTT_PUBACK, 10, &s));
    assert_int_equal(s.id, 13);
    assert_int_equal(s.reason, 0);
    assert_string_equal(local.payload, "again");

    /* A second episode within a minute is not logged again. */
    ballast(f, LIMIT);
    assert_true(broker_mem_biting(f->b));
    peer_publish(&pub, "t/q1", "three", 1, 14);
    assert_true(peer_wait(&pub, MQTT_PUBACK, 10, &s));
    assert_int_equal(s.reason, MQTT_RC_QUOTA_EXCEEDED);
    ballast(f, 0);
    assert_int_equal(log_count(f, "reached: "), 1);
    assert_int_equal(log_count(f, "back under it"), 1);

    peer_close(&pub);
    peer_close(&sub);
    broker_local_free(l);
    assert_int_equal(f->b->mem_current, 0);
}

static void test_mqtt311_held_until_clear(void **state)
{
    struct fixture *f = *state;
    struct got local = { 0 };
    struct broker_local *l = broker_local_new(f->b, "bridge", on_message, &local);
    assert_int_equal(broker_local_subscribe(l, "t/#", 2), 0);
    struct peer pub;
    peer_open(f, &pub, MQTT_V311, "pub3", false);

    ballast(f, LIMIT);
    peer_publish(&pub, "t/zero", "dropped", 0, 0);
    peer_publish(&pub, "t/one", "held", 1, 21);
    peer_publish(&pub, "t/after", "behind", 0, 0);
    struct seen s;
    assert_false(peer_wait(&pub, MQTT_PUBACK, 10, &s)); /* no negative ack in 3.1.1 */
    assert_int_equal(local.count, 0);
    struct client *c = f->b->clients;
    assert_non_null(c);
    assert_true(c->paused && c->mem_held);
    assert_int_equal(f->b->mem_counts.dropped, 1);

    /* Memory is given back: the held PUBLISH goes on (in a later turn), and
     * what came behind it is read again. */
    ballast(f, 0);
    assert_true(peer_wait(&pub, MQTT_PUBACK, 10, &s));
    assert_int_equal(s.id, 21);
    assert_int_equal(local.count, 2);
    assert_string_equal(local.payload, "behind");
    assert_false(c->paused);
    assert_int_equal(log_count(f, "1 held"), 1);

    peer_close(&pub);
    broker_local_free(l);
    assert_int_equal(f->b->mem_current, 0);
}

static void test_mqtt311_pause_is_bounded(void **state)
{
    struct fixture *f = *state;
    struct got local = { 0 };
    struct broker_local *l = broker_local_new(f->b, "bridge", on_message, &local);
    assert_int_equal(broker_local_subscribe(l, "t/#", 2), 0);
    struct peer pub;
    peer_open(f, &pub, MQTT_V311, "pub3", false);
    ballast(f, LIMIT);
    peer_publish(&pub, "t/one", "first", 1, 31);
    peer_publish(&pub, "t/two", "second", 1, 32);
    run_turns(f, 3);
    assert_int_equal(local.count, 0);

    /* Still over the limit: after the pause bound (1 s) one message passes
     * and the publisher is held again on the next. */
    struct seen s;
    int64_t start = loop_clock_ms();
    for (int i = 0; i < 40 && local.count == 0; i++)
        run_for_ms(f, 100);
    assert_int_equal(local.count, 1);
    assert_true(loop_clock_ms() - start >= 900);
    assert_true(peer_wait(&pub, MQTT_PUBACK, 10, &s));
    assert_int_equal(s.id, 31);
    assert_true(f->b->clients->mem_held);
    assert_true(broker_mem_biting(f->b));

    ballast(f, 0); /* first: a paused client would not see its peer close */
    peer_close(&pub);
    broker_local_free(l);
    assert_int_equal(f->b->mem_current, 0);
}

static void test_qos0_not_queued_for_slow_subscriber(void **state)
{
    struct fixture *f = *state;
    struct peer slow;
    peer_open(f, &slow, MQTT_V311, "slow", true);
    peer_subscribe(&slow, "f/#", 0);

    /* The subscriber reads nothing: its output backs up until the limit
     * bites, then QoS 0 for it is dropped instead of held. */
    static char payload[1024];
    memset(payload, 'p', sizeof(payload));
    for (int i = 0; i < 300; i++) {
        assert_int_equal(broker_publish(f->b, "f/x", payload, sizeof(payload), 0, false), 0);
        run_turns(f, 1);
    }
    struct broker *b = f->b;
    assert_true(broker_mem_biting(b));
    assert_true(b->mem_counts.dropped > 0);
    assert_true(b->mem_current <= LIMIT + 4096); /* not 300 KiB */
    assert_true(b->mem_max <= LIMIT + 4096);
    assert_int_equal(log_count(f, "reached: "), 1);

    /* It catches up: the memory is given back and the limit lets go. */
    for (int i = 0; i < 200 && broker_mem_biting(b); i++) {
        slow.len = 0;
        peer_fill(&slow);
        run_turns(f, 1);
    }
    assert_false(broker_mem_biting(b));
    assert_int_equal(log_count(f, "back under it"), 1);
    peer_close(&slow);
    assert_int_equal(b->mem_current, 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* mqgate's daemon does the same: writes to closed peers fail */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counts_messages_and_sys_topics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mqtt5_refused_inprocess_not, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mqtt311_held_until_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mqtt311_pause_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qos0_not_queued_for_slow_subscriber, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("broker memory_limit", tests, NULL, NULL);
}
