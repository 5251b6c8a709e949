/* The broker's durable state (gateway/broker/persist.c): a state built
 * through the broker's own paths (retained messages, a persistent session
 * with subscriptions, queued and in-flight messages, QoS 2 ids) reloads
 * equal after a clean close and after a process that dies without closing;
 * a torn tail and a corrupt record in the middle; compaction; message
 * expiry across a restart; a foreign file; the directory lock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "gateway/broker/broker.h"
#include "gateway/broker/broker_internal.h"
#include "gateway/broker/persist.h"
#include "gateway/log.h"
#include "gateway/loop.h"

struct fixture {
    char dir[64];           /* state_dir; the broker's state is dir/broker */
    char log[96];           /* dir/broker/broker.log */
    struct config *cfg;
    struct loop *loop;
    struct broker *b;
};

static struct config *load_cfg(const char *dir, bool enabled)
{
    char text[512];
    int n = snprintf(text, sizeof text,
                     "gateway: { state_dir: %s }\n"
                     "broker: { sys_interval: 0, max_queued_messages: 3, "
                     "persistence: { enabled: %s, flush_interval: 0 } }\n",
                     dir, enabled ? "true" : "false");
    struct diag d;
    diag_init(&d);
    struct config *cfg = NULL;
    int rc = config_load_string("t", text, (size_t)n, &cfg, &d);
    diag_print(&d, stderr);
    diag_free(&d);
    assert_int_equal(rc, 0);
    return cfg;
}

/* A broker on the fixture's directory; rc is what broker_open_state said. */
static int open_broker(struct fixture *f)
{
    f->loop = loop_new();
    assert_non_null(f->loop);
    f->b = broker_new(f->loop, &f->cfg->broker);
    assert_non_null(f->b);
    return broker_open_state(f->b, &f->cfg->broker);
}

static void close_broker(struct fixture *f)
{
    broker_free(f->b);
    loop_free(f->loop);
    f->b = NULL;
    f->loop = NULL;
}

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof f);
    snprintf(f.dir, sizeof f.dir, "/tmp/mqgate-persist-XXXXXX");
    assert_non_null(mkdtemp(f.dir));
    snprintf(f.log, sizeof f.log, "%s/broker/broker.log", f.dir);
    f.cfg = load_cfg(f.dir, true);
    log_init(LOG_LEVEL_ERROR);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->b)
        close_broker(f);
    config_free(f->cfg);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* ---- the state, as text ------------------------------------------------------ */

struct text {
    char *s;
    size_t len, cap;
};

static void add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char line[512];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof line);
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = (t->len + (size_t)n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        assert_non_null(t->s);
    }
    memcpy(t->s + t->len, line, (size_t)n + 1);
    t->len += (size_t)n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_msg(struct text *t, const struct broker_msg *m)
{
    add(t, "%s='%.*s' q%u r%d props%u exp%d ct'%.*s'", m->topic, (int)m->payload_len,
        (const char *)m->payload, m->qos, m->retain, m->props_len, m->has_expiry,
        (int)m->fwd.content_type.len, (const char *)m->fwd.content_type.data);
}

static void dump_session(struct text *t, const struct session *s)
{
    add(t, "session %s expiry %u persistent %d next %u\n", s->client_id, s->expiry_s,
        s->persistent, s->next_packet_id);
    char *subs[16];
    assert_true(s->n_subs <= 16);
    for (size_t i = 0; i < s->n_subs; i++) {
        const struct sub_options *o = &s->subs[i].opt;
        assert_true(asprintf(&subs[i], "  sub %s q%u nl%d rap%d rh%u id%u\n", s->subs[i].filter,
                             o->qos, o->no_local, o->retain_as_published, o->retain_handling,
                             o->id) > 0);
    }
    qsort(subs, s->n_subs, sizeof(char *), cmp_str);
    for (size_t i = 0; i < s->n_subs; i++) {
        add(t, "%s", subs[i]);
        free(subs[i]);
    }
    for (size_t i = 0; i < s->n_inflight; i++) {
        const struct inflight *f = &s->inflight[i];
        add(t, "  inflight %u q%u r%d rel%d ids%u ", f->packet_id, f->qos, f->retain,
            f->released, f->n_sub_ids);
        add_msg(t, f->msg);
        add(t, "\n");
    }
    for (size_t i = 0; i < s->n_queue; i++) {
        const struct queued *q = &s->queue[(s->head + i) % s->cap_queue];
        add(t, "  queued q%u r%d ids%u:%u ", q->qos, q->retain, q->n_sub_ids, q->sub_ids[0]);
        add_msg(t, q->msg);
        add(t, "\n");
    }
    uint16_t rx[64];
    assert_true(s->n_rx_qos2 <= 64);
    memcpy(rx, s->rx_qos2, s->n_rx_qos2 * sizeof(uint16_t));
    for (size_t i = 0; i < s->n_rx_qos2; i++)
        for (size_t j = i + 1; j < s->n_rx_qos2; j++)
            if (rx[j] < rx[i]) {
                uint16_t x = rx[i];
                rx[i] = rx[j];
                rx[j] = x;
            }
    for (size_t i = 0; i < s->n_rx_qos2; i++)
        add(t, "  rx_qos2 %u\n", rx[i]);
}

/* Every retained message and session, sorted: two brokers holding the same
 * state give the same text. */
static char *dump(struct broker *b)
{
    struct text t = { 0 };
    add(&t, "retained %zu, sessions %zu\n", b->retained.count, b->sessions.count);
    char *lines[64];
    size_t n = 0;
    const char *key;
    void *value;
    for (size_t i = 0; strmap_next(&b->retained, &i, &key, &value);) {
        struct text one = { 0 };
        add(&one, "retained ");
        add_msg(&one, value);
        add(&one, "\n");
        assert_true(n < 64);
        lines[n++] = one.s;
    }
    for (size_t i = 0; strmap_next(&b->sessions, &i, &key, &value);) {
        struct text one = { 0 };
        dump_session(&one, value);
        assert_true(n < 64);
        lines[n++] = one.s;
    }
    qsort(lines, n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n; i++) {
        add(&t, "%s", lines[i]);
        free(lines[i]);
    }
    return t.s;
}

/* ---- building a state through the broker's own paths ------------------------- */

struct peer {
    int fd[2];
    struct listener l;
    struct client *c;
};

/* A connected client on one end of a socketpair, attached to `s`. */
static void connect_peer(struct broker *b, struct session *s, struct peer *p)
{
    memset(p, 0, sizeof *p);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fd), 0);
    p->l.allow_anonymous = true;
    p->l.fd = -1;
    p->c = client_accept(b, &p->l, p->fd[0], "test");
    assert_non_null(p->c);
    p->c->version = MQTT_V311;
    p->c->connected = true;
    b->stats.clients_connected++;
    p->c->session = s;
    s->client = p->c;
}

static void disconnect_peer(struct peer *p)
{
    struct broker *b = p->c->broker;
    client_close(p->c, 0, NULL, true);
    client_free_dead(b);
    close(p->fd[1]);
}

static void publish(struct broker *b, const char *topic, const char *payload, int qos,
                    bool retain)
{
    assert_int_equal(broker_publish(b, topic, payload, strlen(payload), qos, retain), 0);
}

/* Retained messages (one set then cleared), a persistent session with three
 * subscriptions (one removed), two messages in flight (one acked, one QoS 2
 * released), a full queue (max_queued_messages 3: the 4th dropped), a QoS 0
 * message dropped while offline, QoS 2 ids received, and a clean session
 * that must not be kept. */
static void build_state(struct broker *b)
{
    publish(b, "r/a", "A", 1, true);
    publish(b, "r/b", "B", 0, true);
    publish(b, "r/b", "", 0, true);
    publish(b, "r/c", "C", 2, true);
    /* A v5 message: its forwarded properties and expiry are stored too. */
    struct mqtt_props pr = { .present = MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE) |
                                        MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY),
                             .content_type = { (const uint8_t *)"text/plain", 10 },
                             .message_expiry = 3600 };
    uint8_t block[64];
    size_t len = mqtt_props_encode(block, sizeof block, &pr, MQTT_PUBLISH);
    assert_true(len > 0 && len <= sizeof block);
    struct mqtt_props dec;
    const char *why;
    assert_true(mqtt_props_decode(block, len, MQTT_PUBLISH, &dec, &why) > 0);
    struct broker_msg *v5 = msg_new(b, "r/v5", 4, "five", 4, &dec, 1, true,
                                    loop_now_ms(b->loop));
    assert_non_null(v5);
    retain_store(b, v5);
    msg_unref(v5);

    struct session *s = session_create(b, "s1", 2);
    assert_non_null(s);
    s->persistent = true;
    s->expiry_s = 3600;
    struct sub_options o1 = { .qos = 2, .id = 7 };
    struct sub_options o2 = { .qos = 1, .no_local = true, .retain_as_published = true,
                              .retain_handling = 2 };
    struct sub_options o3 = { .qos = 0 };
    assert_int_equal(session_add_sub(s, "q/#", &o1), 1);
    assert_int_equal(session_add_sub(s, "x/+", &o2), 1);
    assert_int_equal(session_add_sub(s, "gone", &o3), 1);
    assert_int_equal(session_remove_sub(s, "gone"), 0);

    struct peer p;
    connect_peer(b, s, &p);
    publish(b, "q/1", "in flight, acked", 1, false);
    publish(b, "q/2", "in flight, qos 1", 1, false);
    publish(b, "q/3", "in flight, qos 2", 2, false);
    assert_int_equal(s->n_inflight, 3);
    assert_int_equal(session_ack(s, MQTT_PUBACK, s->inflight[0].packet_id), 0);
    assert_int_equal(session_ack(s, MQTT_PUBREC, s->inflight[1].packet_id), 0);
    assert_int_equal(session_rx_qos2_add(s, 42), 0);
    assert_int_equal(session_rx_qos2_add(s, 43), 0);
    session_rx_qos2_remove(s, 43);
    disconnect_peer(&p);
    assert_ptr_equal(session_find(b, "s1", 2), s);

    publish(b, "q/4", "queued 1", 1, false);
    publish(b, "x/5", "queued 2", 2, false);
    publish(b, "q/6", "dropped: qos 0 offline", 0, false);
    publish(b, "q/7", "queued 3", 2, false);
    publish(b, "q/8", "dropped: queue full", 1, false);
    assert_int_equal(s->n_queue, 3);

    struct session *clean = session_create(b, "clean", 5);
    assert_non_null(clean);
    assert_int_equal(session_add_sub(clean, "q/#", &o3), 1);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_reload_after_clean_close(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(open_broker(f), 0);
    build_state(f->b);
    /* The clean session is not kept: take it out of the expected state. */
    char *before;
    {
        session_destroy(session_find(f->b, "clean", 5));
        before = dump(f->b);
    }
    close_broker(f);
    assert_int_equal(open_broker(f), 0);
    char *after = dump(f->b);
    if (getenv("PERSIST_DUMP"))
        fputs(after, stderr);
    assert_string_equal(after, before);
    assert_non_null(strstr(after, "inflight"));
    assert_non_null(strstr(after, "rel1"));
    assert_non_null(strstr(after, "rx_qos2 42"));
    assert_non_null(strstr(after, "r/v5='five' q1 r1 props"));
    assert_non_null(strstr(after, "exp1 ct'text/plain'"));
    assert_null(strstr(after, "dropped"));
    struct persist_stats st;
    persist_get_stats(f->b, &st);
    assert_true(st.records_loaded > 10);
    assert_int_equal(st.records_skipped, 0);
    assert_int_equal(st.tail_bytes_dropped, 0);
    /* A restored session waits offline, and takes messages again. */
    struct session *s = session_find(f->b, "s1", 2);
    assert_non_null(s);
    assert_null(s->client);
    free(before);
    free(after);
}

/* A process that dies without closing: the child builds the state, lets
 * the turn's hook write it, writes what it holds to a file and _exits. */
static void test_reload_after_kill(void **state)
{
    struct fixture *f = *state;
    char expect_path[128];
    snprintf(expect_path, sizeof expect_path, "%s/expect", f->dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (open_broker(f) != 0)
            _exit(2);
        build_state(f->b);
        broker_before_flush(f->b); /* end of turn: before any output */
        session_destroy(session_find(f->b, "clean", 5)); /* not in the log: never was */
        char *d = dump(f->b);
        FILE *out = fopen(expect_path, "w");
        if (!out || fputs(d, out) < 0 || fclose(out) != 0)
            _exit(3);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    char expect[8192] = "";
    FILE *in = fopen(expect_path, "r");
    assert_non_null(in);
    size_t n = fread(expect, 1, sizeof expect - 1, in);
    fclose(in);
    expect[n] = '\0';
    assert_int_equal(open_broker(f), 0);
    char *after = dump(f->b);
    assert_string_equal(after, expect);
    free(after);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Three appended records after a snapshot, each written on its own. */
static void append_three(struct fixture *f)
{
    assert_int_equal(open_broker(f), 0);
    publish(f->b, "r/base", "base", 1, true);
    close_broker(f); /* now a snapshot with r/base */
    assert_int_equal(open_broker(f), 0);
    const char *names[] = { "r/c1", "r/c2", "r/c3" };
    const char *payloads[] = { "PAYLOAD-C1", "PAYLOAD-C2", "PAYLOAD-C3" };
    for (int i = 0; i < 3; i++) {
        publish(f->b, names[i], payloads[i], 1, true);
        broker_before_flush(f->b);
    }
    close_broker(f);
}

static void test_torn_tail(void **state)
{
    struct fixture *f = *state;
    append_three(f);
    long size = file_size(f->log);
    assert_true(size > 0);
    assert_int_equal(truncate(f->log, size - 3), 0);
    assert_int_equal(open_broker(f), 0);
    assert_non_null(strmap_get(&f->b->retained, "r/c2", 4));
    assert_null(strmap_get(&f->b->retained, "r/c3", 4));
    assert_non_null(strmap_get(&f->b->retained, "r/base", 6));
    struct persist_stats st;
    persist_get_stats(f->b, &st);
    assert_true(st.tail_bytes_dropped > 0);
    assert_int_equal(st.records_skipped, 0);
    close_broker(f);
    /* Loading rewrote the log: the next load finds no tail. */
    assert_int_equal(open_broker(f), 0);
    persist_get_stats(f->b, &st);
    assert_int_equal(st.tail_bytes_dropped, 0);
    assert_int_equal(f->b->retained.count, 3);
}

static void test_corrupt_record_skipped(void **state)
{
    struct fixture *f = *state;
    append_three(f);
    /* Flip one byte of the middle record's payload. */
    int fd = open(f->log, O_RDWR);
    assert_true(fd >= 0);
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof buf);
    assert_true(n > 0);
    char *at = memmem(buf, (size_t)n, "PAYLOAD-C2", 10);
    assert_non_null(at);
    char x = 'X';
    assert_int_equal(pwrite(fd, &x, 1, at - buf), 1);
    close(fd);
    assert_int_equal(open_broker(f), 0);
    assert_non_null(strmap_get(&f->b->retained, "r/c1", 4));
    assert_null(strmap_get(&f->b->retained, "r/c2", 4));
    assert_non_null(strmap_get(&f->b->retained, "r/c3", 4));
    struct persist_stats st;
    persist_get_stats(f->b, &st);
    assert_int_equal(st.records_skipped, 1);
    assert_int_equal(st.tail_bytes_dropped, 0);
}

static void test_compaction(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(open_broker(f), 0);
    persist_set_compact_floor(f->b, 4096);
    struct persist_stats st;
    persist_get_stats(f->b, &st);
    uint64_t compactions = st.compactions;
    char payload[200];
    memset(payload, 'p', sizeof payload - 1);
    payload[sizeof payload - 1] = '\0';
    for (int i = 0; i < 500; i++) {
        payload[0] = (char)('a' + i % 26);
        publish(f->b, "r/same", payload, 1, true);
        broker_before_flush(f->b);
        persist_get_stats(f->b, &st);
        /* Never far past twice the live state (or the floor). */
        assert_true(st.log_bytes <= 4096 + 2 * st.snapshot_bytes + 512);
    }
    assert_true(st.compactions >= compactions + 10);
    assert_int_equal(file_size(f->log), (long)st.log_bytes);
    char *before = dump(f->b);
    close_broker(f);
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s/broker/broker.log.tmp", f->dir);
    assert_int_equal(file_size(tmp), -1);
    assert_int_equal(open_broker(f), 0);
    char *after = dump(f->b);
    assert_string_equal(after, before);
    assert_non_null(strstr(after, "r/same='f"));
    free(before);
    free(after);
}

static void test_message_expiry_across_restart(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(open_broker(f), 0);
    int64_t now = loop_now_ms(f->loop);
    struct broker_msg *soon = msg_new(f->b, "e/soon", 6, "x", 1, NULL, 1, true, now);
    struct broker_msg *later = msg_new(f->b, "e/later", 7, "y", 1, NULL, 1, true, now);
    assert_non_null(soon);
    assert_non_null(later);
    soon->has_expiry = true;
    soon->expires_at_ms = now + 100;
    later->has_expiry = true;
    later->expires_at_ms = now + 3600 * 1000;
    retain_store(f->b, soon);
    retain_store(f->b, later);
    msg_unref(soon);
    msg_unref(later);
    close_broker(f);
    struct timespec ts = { 0, 200 * 1000 * 1000 };
    nanosleep(&ts, NULL); /* the expiry runs on while the broker is down */
    assert_int_equal(open_broker(f), 0);
    assert_null(strmap_get(&f->b->retained, "e/soon", 6));
    struct broker_msg *m = strmap_get(&f->b->retained, "e/later", 7);
    assert_non_null(m);
    assert_true(m->has_expiry);
    int64_t left = m->expires_at_ms - loop_now_ms(f->loop);
    assert_true(left > 3500 * 1000 && left <= 3600 * 1000);
}

static void test_foreign_file_refused(void **state)
{
    struct fixture *f = *state;
    char sub[96];
    snprintf(sub, sizeof sub, "%s/broker", f->dir);
    assert_int_equal(mkdir(sub, 0750), 0);
    FILE *out = fopen(f->log, "w");
    assert_non_null(out);
    fputs("not a broker state file\n", out);
    fclose(out);
    long size = file_size(f->log);
    assert_int_equal(open_broker(f), -EINVAL);
    assert_int_equal(file_size(f->log), size);
}

static void test_directory_locked(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(open_broker(f), 0);
    struct loop *loop2 = loop_new();
    struct broker *b2 = broker_new(loop2, &f->cfg->broker);
    assert_non_null(b2);
    assert_int_equal(broker_open_state(b2, &f->cfg->broker), -EWOULDBLOCK);
    broker_free(b2);
    loop_free(loop2);
}

static void test_disabled_writes_nothing(void **state)
{
    struct fixture *f = *state;
    config_free(f->cfg);
    f->cfg = load_cfg(f->dir, false);
    assert_int_equal(open_broker(f), 0);
    publish(f->b, "r/a", "A", 1, true);
    broker_before_flush(f->b);
    close_broker(f);
    char sub[96];
    snprintf(sub, sizeof sub, "%s/broker", f->dir);
    assert_int_equal(file_size(sub), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reload_after_clean_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_after_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_record_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_expiry_across_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_file_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disabled_writes_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
