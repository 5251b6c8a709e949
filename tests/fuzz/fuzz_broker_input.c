/* Fuzz target: the broker's input path. Each input gets a real broker on a
 * real loop; clients are socketpairs handed to the broker as accepted
 * connections (client_accept, the call on_accept makes), the input's bytes
 * are what they write, and the loop runs a bounded number of turns between
 * writes. What the broker writes back must be well-formed MQTT, and what
 * it delivers in-process must be a valid topic. Crashes, leaks (everything
 * is freed per input) and hangs (turns are bounded) are failures.
 *
 * Input: byte 0 picks options (bit 0: tight limits; bit 1: clients on the
 * listener that refuses anonymous clients; bit 2: client 2 never reads, so
 * the broker's output to it backs up; bit 3: small socket buffers), byte 1
 * is a delimiter D, and
 * the rest is cut at each D into chunks. A chunk's first byte says what to
 * do with the others: bits 0-1 the client (0..2; 3: in-process, see
 * inprocess()), bit 2 close that client's socket afterwards (unread output
 * is lost, the broker's writes fail), bit 3 half-close it (shutdown: the
 * broker reads the end, we still read its output), bits 4-6 the turns to
 * run afterwards (1..8), bit 7 expire offline sessions as if their time
 * had passed. At the end every client half-closes, the broker is freed,
 * and the clients close. A client's socket is opened when bytes are first
 * sent on it (again after a close), so clients reconnect and take sessions
 * over.
 *
 * MQGATE_FUZZ_NO_ABRUPT_CLOSE=1 in the environment turns bit 2 into a
 * half-close: to fuzz past a known crash on abrupt closes while it is open
 * (see tests/fuzz/regressions/broker_input/). */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "gateway/broker/broker.h"
#include "gateway/broker/broker_internal.h"
#include "gateway/loop.h"
#include "gateway/mqtt/mqtt.h"
#include "gateway/mqtt/topic.h"
#include "tests/fuzz/fuzz.h"

#define SLOTS 3
#define TURNS_AT_END 8
#define OUT_MAX (256 * 1024)   /* broker output checked per connection */

/* Listener 0 lets anonymous clients in, listener 1 does not. The broker is
 * never asked to listen: the ports are not bound. */
static const char config_loose[] =
    "broker:\n"
    "  sys_interval: 0\n"
    "  connect_timeout: 10m\n"
    "  listeners:\n"
    "    - { bind: 127.0.0.1, port: 18830, allow_anonymous: true }\n"
    "    - { bind: 127.0.0.1, port: 18831, allow_anonymous: false }\n";

/* Small windows, queues and limits, so their edges are reached. */
static const char config_tight[] =
    "broker:\n"
    "  sys_interval: 0\n"
    "  connect_timeout: 10m\n"
    "  max_packet_size: 512\n"
    "  max_keepalive: 10\n"
    "  receive_maximum: 2\n"
    "  topic_alias_maximum: 2\n"
    "  max_inflight: 2\n"
    "  max_queued_messages: 3\n"
    "  max_queued_bytes: 64\n"
    "  max_session_expiry: 1m\n"
    "  retain_available: false\n"
    "  listeners:\n"
    "    - { bind: 127.0.0.1, port: 18830, allow_anonymous: true }\n"
    "    - { bind: 127.0.0.1, port: 18831, allow_anonymous: false }\n";

struct run;

/* Our end of one client connection, and the broker's output read from it. */
struct slot {
    struct run *run;
    int fd;             /* -1: not connected */
    int version;        /* from the CONNACK; 0 before it */
    uint8_t *out;
    size_t out_len;
    bool out_full;      /* past OUT_MAX: no longer checked */
};

struct run {
    struct loop *loop;
    struct broker *b;
    struct broker_local *local;
    const struct listener *listener;
    struct slot slots[SLOTS];
    int turns_left;
    bool stalled_reader;    /* option bit 2: slot 2 reads nothing */
    bool small_buffers;     /* option bit 3 */
    bool no_abrupt_close;   /* MQGATE_FUZZ_NO_ABRUPT_CLOSE */
};

static struct config *load(const char *text, size_t len)
{
    struct config *cfg = NULL;
    struct diag d;
    diag_init(&d);
    if (config_load_string("fuzz-broker.yaml", text, len, &cfg, &d) != 0)
        diag_print(&d, stderr);
    diag_free(&d);
    FUZZ_CHECK(cfg != NULL);
    return cfg;
}

/* ---- the broker's output ---------------------------------------------------- */

/* A 3.1.1 CONNACK has exactly 2 bytes of body; a v5 one has properties. */
static int connack_version(const struct mqtt_fixed_header *h)
{
    return h->remaining == 2 ? MQTT_V311 : MQTT_V5;
}

static bool server_packet(uint8_t type)
{
    return type == MQTT_CONNACK || type == MQTT_PUBLISH || (type >= MQTT_PUBACK &&
           type <= MQTT_PUBCOMP) || type == MQTT_SUBACK || type == MQTT_UNSUBACK ||
           type == MQTT_PINGRESP || type == MQTT_DISCONNECT || type == MQTT_AUTH;
}

/* Every complete packet in s->out must decode in the connection's version. */
static void check_output(struct slot *s)
{
    size_t off = 0;
    while (off < s->out_len) {
        struct mqtt_fixed_header h;
        const char *why = NULL;
        int rc = mqtt_decode_fixed_header(s->out + off, s->out_len - off, 0, &h, &why);
        FUZZ_CHECK(rc >= 0);
        size_t size = rc ? h.header_len + (size_t)h.remaining : 0;
        if (rc == 0 || size > s->out_len - off)
            break;
        FUZZ_CHECK(server_packet(h.type));
        if (!s->version) {
            FUZZ_CHECK(h.type == MQTT_CONNACK);
            s->version = connack_version(&h);
        }
        struct mqtt_packet p;
        rc = mqtt_decode(s->out + off, size, s->version, 0, &p, &why);
        if (rc != (int)size)
            fprintf(stderr, "broker sent a bad %s: %s\n", mqtt_packet_name(h.type), why);
        FUZZ_CHECK(rc == (int)size);
        off += size;
    }
    memmove(s->out, s->out + off, s->out_len - off);
    s->out_len -= off;
}

static void slot_close(struct slot *s)
{
    if (s->fd < 0)
        return;
    loop_fd_remove(s->run->loop, s->fd); /* -ENOENT for a stalled reader's */
    close(s->fd);
    s->fd = -1;
    s->version = 0;
    s->out_len = 0;
    s->out_full = false;
}

/* Read what the broker wrote; end of file when it closed the connection. */
static void on_peer(struct loop *loop, int fd, uint32_t events, void *data)
{
    (void)loop;
    (void)fd;
    (void)events;
    struct slot *s = data;
    for (int i = 0; i < 64; i++) {
        uint8_t buf[4096];
        ssize_t n = read(s->fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            slot_close(s);
            return;
        }
        if (s->out_full || s->out_len + (size_t)n > OUT_MAX) {
            s->out_full = true;
            continue;
        }
        memcpy(s->out + s->out_len, buf, (size_t)n);
        s->out_len += (size_t)n;
        check_output(s);
    }
}

static int slot_open(struct run *r, struct slot *s)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    if (!client_accept(r->b, r->listener, sv[0], "fuzz")) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (r->small_buffers) {
        int size = 2048; /* the kernel doubles it, and has a floor */
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    if (!(r->stalled_reader && s == &r->slots[SLOTS - 1]))
        FUZZ_CHECK(loop_fd_add(r->loop, sv[1], EPOLLIN, on_peer, s) == 0);
    s->fd = sv[1];
    return 0;
}

/* ---- running ---------------------------------------------------------------- */

static int64_t on_turn(struct loop *loop, void *data)
{
    struct run *r = data;
    if (--r->turns_left > 0)
        return 0;
    loop_stop(loop);
    return LOOP_TIMER_STOP;
}

static void run_turns(struct run *r, int n)
{
    r->turns_left = n;
    FUZZ_CHECK(loop_timer_add(r->loop, 0, on_turn, r) != 0);
    FUZZ_CHECK(loop_run(r->loop) == 0);
}

/* Write as a client would; what a closed connection refuses is lost. */
static void slot_send(struct run *r, struct slot *s, const uint8_t *p, size_t n)
{
    if (n == 0 || (s->fd < 0 && slot_open(r, s) < 0))
        return;
    size_t off = 0;
    for (int tries = 0; off < n && s->fd >= 0 && tries < 16; tries++) {
        ssize_t w = send(s->fd, p + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0)
            off += (size_t)w;
        else if (w < 0 && errno == EAGAIN)
            run_turns(r, 1); /* let the broker read */
        else
            break;
    }
}

static void on_local(void *ctx, const char *topic, const void *payload, size_t len, int qos,
                     bool retain)
{
    (void)ctx;
    (void)retain;
    FUZZ_CHECK(mqtt_topic_name_valid(topic, strlen(topic)));
    FUZZ_CHECK(qos >= 0 && qos <= 2 && (len == 0 || payload != NULL));
}

/* The gateway's side: byte 0 bits 0-1 QoS (3 is refused), bit 2 retain,
 * bit 3 subscribe the in-process subscriber instead of publishing; then a
 * topic (or filter), NUL, payload. */
static void inprocess(struct run *r, const uint8_t *p, size_t n)
{
    if (n < 1)
        return;
    char topic[256];
    size_t tl = 0;
    while (1 + tl < n && p[1 + tl] && tl < sizeof(topic) - 1) {
        topic[tl] = (char)p[1 + tl];
        tl++;
    }
    topic[tl] = '\0';
    const uint8_t *payload = p + 1 + tl + (1 + tl < n);
    size_t plen = n - (size_t)(payload - p);
    if (p[0] & 8)
        broker_local_subscribe(r->local, topic, p[0] & 3);
    else
        broker_publish(r->b, topic, payload, plen, p[0] & 3, (p[0] & 4) != 0);
}

static void do_chunk(struct run *r, const uint8_t *p, size_t n)
{
    if (n == 0) {
        run_turns(r, 1);
        return;
    }
    uint8_t ctl = p[0];
    unsigned which = ctl & 3;
    if (which == 3) {
        inprocess(r, p + 1, n - 1);
    } else {
        struct slot *s = &r->slots[which];
        slot_send(r, s, p + 1, n - 1);
        if ((ctl & 4) && !r->no_abrupt_close)
            slot_close(s);
        else if ((ctl & 0xc) && s->fd >= 0)
            shutdown(s->fd, SHUT_WR);
    }
    run_turns(r, 1 + ((ctl >> 4) & 7));
    if (ctl & 0x80)
        session_expire_offline(r->b, loop_now_ms(r->loop) + 100LL * 365 * 86400 * 1000);
}

static void run_input(struct run *r, const uint8_t *data, size_t size)
{
    uint8_t delim = data[0];
    const uint8_t *p = data + 1, *end = data + size;
    while (p < end) {
        const uint8_t *q = memchr(p, delim, (size_t)(end - p));
        if (!q)
            q = end;
        do_chunk(r, p, (size_t)(q - p));
        p = q + 1;
    }
    run_turns(r, TURNS_AT_END);
    for (int i = 0; i < SLOTS; i++)
        if (r->slots[i].fd >= 0)
            shutdown(r->slots[i].fd, SHUT_WR);
    run_turns(r, 2); /* the broker sees every connection end it reads */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config *loose, *tight;
    static uint8_t *outbuf[SLOTS];
    if (!loose) {
        fuzz_quiet_log();
        signal(SIGPIPE, SIG_IGN); /* mqgate's daemon does the same */
        loose = load(config_loose, sizeof(config_loose) - 1);
        tight = load(config_tight, sizeof(config_tight) - 1);
        for (int i = 0; i < SLOTS; i++)
            FUZZ_CHECK((outbuf[i] = malloc(OUT_MAX)) != NULL);
    }
    if (size < 2)
        return 0;
    struct run r = { .loop = loop_new(),
                     .no_abrupt_close = getenv("MQGATE_FUZZ_NO_ABRUPT_CLOSE") != NULL };
    FUZZ_CHECK(r.loop != NULL);
    r.b = broker_new(r.loop, (data[0] & 1) ? &tight->broker : &loose->broker);
    FUZZ_CHECK(r.b != NULL);
    r.listener = &r.b->listeners[(data[0] >> 1) & 1];
    r.stalled_reader = (data[0] & 4) != 0;
    r.small_buffers = (data[0] & 8) != 0;
    r.local = broker_local_new(r.b, "fuzz-local", on_local, NULL);
    FUZZ_CHECK(r.local && broker_local_subscribe(r.local, "#", 2) == 0);
    for (int i = 0; i < SLOTS; i++)
        r.slots[i] = (struct slot){ .run = &r, .fd = -1, .out = outbuf[i] };
    run_input(&r, data + 1, size - 1);
    broker_local_free(r.local);
    broker_free(r.b); /* before our ends close: a paused client may not have read its end */
    for (int i = 0; i < SLOTS; i++)
        slot_close(&r.slots[i]);
    loop_free(r.loop);
    return 0;
}
