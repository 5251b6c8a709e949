/* mqtt_load: the load generator of the broker benchmark (make bench). One
 * process and one epoll loop drive many non-blocking MQTT 3.1.1 connections
 * to any broker, encoded and decoded with our codec (gateway/mqtt/mqtt.h),
 * and print one `result key=value ...` line: throughput, QoS 1 losses,
 * latency percentiles or per-connection memory, plus the CPU time of this
 * process (getrusage) and of the broker (/proc/PID/stat) during the run.
 * tests/bench/broker_bench.sh runs it against mqgate and Mosquitto. Figures
 * only: nothing here passes or fails on timing. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "gateway/mqtt/mqtt.h"

#define USAGE \
    "usage: mqtt_load freeport\n" \
    "       mqtt_load fanin   -p PORT [-n PUBS] [-q QOS] [-d SECONDS] [-s BYTES] [-w WINDOW]\n" \
    "                         [-P PID]\n" \
    "       mqtt_load fanout  -p PORT [-n SUBS] [-d SECONDS] [-s BYTES] [-P PID]\n" \
    "       mqtt_load latency -p PORT [-r MSG_PER_S] [-d SECONDS] [-s BYTES] [-P PID]\n" \
    "       mqtt_load idle    -p PORT [-n CONNS] -P PID\n" \
    "-P: the broker's PID, for its CPU time and (idle) its VmRSS.\n"

#define MAGIC 0x62677140u        /* first 4 payload bytes: "@qgb" */
#define STAMP_BYTES 20u          /* magic, publisher, seq (u32 each), timestamp (i64) */
#define READ_BUDGET (256u * 1024u) /* bytes read from one socket per event */
#define FLOOD_BATCH (64u * 1024u)  /* bytes a QoS 0 publisher queues per round */
#define MAX_CONNECTING 64        /* idle mode: handshakes in progress at once */
#define SETUP_MS 30000           /* connect + subscribe, all clients */
#define DRAIN_QUIET_MS 1000      /* after the run: stop when nothing arrived for this long */
#define DRAIN_MAX_MS 4000        /* ... and in any case after this long */
#define SETTLE_MS 500            /* idle mode: before reading the broker's RSS */
#define LAT_WARMUP_NS 300000000LL
#define NO_SEQ UINT32_MAX

enum mode { MODE_FANIN, MODE_FANOUT, MODE_LATENCY, MODE_IDLE };
enum role { ROLE_PUB, ROLE_SUB, ROLE_IDLE };
enum state { ST_CONNECTING, ST_CONNACK, ST_SUBACK, ST_READY, ST_CLOSED };

static const char *const mode_names[] = { "fanin", "fanout", "latency", "idle" };

struct opts {
    enum mode mode;
    int port;
    int count;      /* publishers (fanin), subscribers (fanout), connections (idle) */
    int qos;
    double duration;
    size_t size;    /* payload bytes */
    int rate;       /* latency: messages per second */
    int window;     /* QoS 1: unacknowledged messages per publisher */
    long pid;       /* the broker, 0 when not given */
};

/* A growable bit set, indexed by sequence number. */
struct bitmap {
    uint64_t *w;
    size_t nwords;
};

struct bench;

struct conn {
    struct bench *b;
    int fd;
    enum role role;
    enum state state;
    uint32_t index;
    uint32_t events;       /* the epoll interest now */
    bool flood;            /* QoS 0 publisher: writes whenever the socket takes more */
    uint8_t *rbuf;
    size_t rlen, rcap;
    uint8_t *wbuf;
    size_t woff, wlen, wcap;
    char topic[32];
    uint32_t next_seq;     /* publisher */
    uint32_t inflight;
    uint32_t *id_seq;      /* QoS 1: packet id -> seq, NO_SEQ when free */
    struct bitmap acked;
};

struct bench {
    struct opts o;
    int ep;
    int timer_fd;          /* latency mode: the publishing pace */
    struct conn *conns;
    int n_conns, n_opened, n_ready, n_pending;
    bool running;
    int64_t t0, t_end, last_activity;
    uint64_t published, acked, received, unique, in_window, dups, unexpected, errors;
    struct bitmap *rx;     /* fanin: per publisher, the seqs received */
    int64_t *lat;          /* latency samples, ns */
    size_t n_lat, cap_lat;
    double cpu_run, broker_cpu_run;
};

/* ---- small helpers ------------------------------------------------------------ */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* utime + stime of `pid` in seconds, -1 when unknown. Fields 14 and 15 of
 * /proc/PID/stat, counted after the parenthesised command name. */
static double proc_cpu_s(long pid)
{
    char path[64], line[1024];
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *ok = fgets(line, sizeof(line), f);
    fclose(f);
    char *p = ok ? strrchr(line, ')') : NULL;
    unsigned long long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS of `pid` in KiB, -1 when unknown. */
static long proc_rss_kib(long pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            perror("mqtt_load: setrlimit(RLIMIT_NOFILE)");
    }
}

/* Returns 1 when bit `i` was already set, 0 when newly set, -1 out of memory. */
static int bitmap_set(struct bitmap *m, uint32_t i)
{
    size_t word = i / 64;
    if (word >= m->nwords) {
        size_t n = m->nwords ? m->nwords * 2 : 1024;
        while (n <= word)
            n *= 2;
        uint64_t *w = realloc(m->w, n * sizeof(*w));
        if (!w)
            return -1;
        memset(w + m->nwords, 0, (n - m->nwords) * sizeof(*w));
        m->w = w;
        m->nwords = n;
    }
    uint64_t bit = UINT64_C(1) << (i % 64);
    int was = (m->w[word] & bit) != 0;
    m->w[word] |= bit;
    return was;
}

/* Bits set in `a` and not in `b`. */
static uint64_t bitmap_minus(const struct bitmap *a, const struct bitmap *b)
{
    uint64_t n = 0;
    for (size_t i = 0; i < a->nwords; i++)
        n += (uint64_t)__builtin_popcountll(a->w[i] & ~(i < b->nwords ? b->w[i] : 0));
    return n;
}

/* ---- connections: output ------------------------------------------------------- */

static void conn_fail(struct conn *c, const char *why);

static void conn_set_events(struct conn *c, uint32_t events)
{
    if (c->state == ST_CLOSED || events == c->events)
        return;
    struct epoll_event ev = { .events = events, .data.ptr = c };
    if (epoll_ctl(c->b->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->events = events;
}

/* Room for `n` more bytes at the end of wbuf; NULL when out of memory. */
static uint8_t *wbuf_room(struct conn *c, size_t n)
{
    if (c->woff == c->wlen)
        c->woff = c->wlen = 0;
    if (c->wcap - c->wlen < n) {
        size_t cap = c->wcap ? c->wcap : 4096;
        while (cap - c->wlen < n)
            cap *= 2;
        uint8_t *p = realloc(c->wbuf, cap);
        if (!p)
            return NULL;
        c->wbuf = p;
        c->wcap = cap;
    }
    return c->wbuf + c->wlen;
}

/* Write what the socket takes; EPOLLOUT interest while something is left
 * (always for a flooding publisher during the run). */
static void conn_flush(struct conn *c)
{
    while (c->state != ST_CLOSED && c->woff < c->wlen) {
        ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0) {
            conn_fail(c, strerror(errno));
            return;
        }
        c->woff += (size_t)n;
    }
    bool more = c->woff < c->wlen || (c->flood && c->b->running);
    conn_set_events(c, EPOLLIN | (more ? EPOLLOUT : 0));
}

/* Encoders write nothing when the packet does not fit: ask the size, make
 * room, encode. */
static void queue_connect(struct conn *c)
{
    char id[64];
    int len = snprintf(id, sizeof(id), "mqtt-load-%ld-%s-%d-%u", (long)getpid(),
                       mode_names[c->b->o.mode], (int)c->role, c->index);
    struct mqtt_connect pkt = {
        .version = MQTT_V311, .clean_start = true, .keep_alive = 60,
        .client_id = { (const uint8_t *)id, (uint32_t)len },
    };
    size_t n = mqtt_encode_connect(NULL, 0, &pkt);
    uint8_t *p = wbuf_room(c, n);
    if (!p || mqtt_encode_connect(p, n, &pkt) != n) {
        conn_fail(c, "cannot encode CONNECT");
        return;
    }
    c->wlen += n;
}

static void queue_subscribe(struct conn *c)
{
    struct mqtt_sub_entry e = { .filter = { (const uint8_t *)"bench/#", 7 },
                                .qos = (uint8_t)c->b->o.qos };
    struct mqtt_subscribe pkt = { .packet_id = 1, .subs = &e, .count = 1 };
    size_t n = mqtt_encode_subscribe(NULL, 0, &pkt, MQTT_V311);
    uint8_t *p = wbuf_room(c, n);
    if (!p || mqtt_encode_subscribe(p, n, &pkt, MQTT_V311) != n) {
        conn_fail(c, "cannot encode SUBSCRIBE");
        return;
    }
    c->wlen += n;
}

static void queue_puback(struct conn *c, uint16_t id)
{
    struct mqtt_ack ack = { .type = MQTT_PUBACK, .packet_id = id };
    uint8_t *p = wbuf_room(c, 4);
    if (!p || mqtt_encode_ack(p, 4, &ack, MQTT_V311) != 4) {
        conn_fail(c, "cannot encode PUBACK");
        return;
    }
    c->wlen += 4;
}

/* One PUBLISH of the next sequence number, stamped with the time. */
static bool queue_publish(struct conn *c)
{
    struct bench *b = c->b;
    uint8_t payload[65536];
    size_t size = b->o.size;
    uint32_t magic = MAGIC, seq = c->next_seq;
    int64_t ts = now_ns();
    memset(payload + STAMP_BYTES, 'x', size - STAMP_BYTES);
    memcpy(payload, &magic, 4);
    memcpy(payload + 4, &c->index, 4);
    memcpy(payload + 8, &seq, 4);
    memcpy(payload + 12, &ts, 8);
    struct mqtt_publish pkt = {
        .qos = (uint8_t)b->o.qos,
        .topic = { (const uint8_t *)c->topic, (uint32_t)strlen(c->topic) },
        .payload = { payload, (uint32_t)size },
    };
    if (b->o.qos) {
        pkt.packet_id = (uint16_t)(seq % 65535u + 1u);
        if (c->id_seq[pkt.packet_id] != NO_SEQ)
            return false; /* cannot happen with window < 65535; stay safe */
    }
    size_t n = mqtt_encode_publish(NULL, 0, &pkt, MQTT_V311);
    uint8_t *p = wbuf_room(c, n);
    if (!p || mqtt_encode_publish(p, n, &pkt, MQTT_V311) != n) {
        conn_fail(c, "cannot encode PUBLISH");
        return false;
    }
    c->wlen += n;
    if (b->o.qos) {
        c->id_seq[pkt.packet_id] = seq;
        c->inflight++;
    }
    c->next_seq++;
    b->published++;
    return true;
}

/* A publisher's share of the run: QoS 0 fills a batch, QoS 1 its window. */
static void publisher_top_up(struct conn *c)
{
    struct bench *b = c->b;
    if (!b->running || c->state != ST_READY || b->o.mode == MODE_LATENCY)
        return;
    if (b->o.qos == 0) {
        while (c->wlen - c->woff < FLOOD_BATCH && c->state == ST_READY)
            queue_publish(c);
    } else {
        while (c->inflight < (uint32_t)b->o.window && c->state == ST_READY && queue_publish(c))
            ;
    }
}

/* ---- connections: input ----------------------------------------------------------- */

static void on_connack(struct conn *c, const struct mqtt_connack *p)
{
    if (p->reason != 0) {
        conn_fail(c, "CONNACK refused the connection");
        return;
    }
    if (c->role == ROLE_SUB) {
        queue_subscribe(c);
        c->state = ST_SUBACK;
        return;
    }
    c->state = ST_READY;
    c->b->n_ready++;
    c->b->n_pending--;
}

static void on_suback(struct conn *c, const struct mqtt_suback *p)
{
    if (p->reasons.len != 1 || p->reasons.data[0] != (uint8_t)c->b->o.qos) {
        conn_fail(c, "SUBACK did not grant the QoS asked for");
        return;
    }
    c->state = ST_READY;
    c->b->n_ready++;
    c->b->n_pending--;
}

static void on_puback(struct conn *c, const struct mqtt_ack *p)
{
    struct bench *b = c->b;
    uint32_t seq = c->id_seq ? c->id_seq[p->packet_id] : NO_SEQ;
    if (seq == NO_SEQ) {
        b->unexpected++;
        return;
    }
    c->id_seq[p->packet_id] = NO_SEQ;
    c->inflight--;
    b->acked++;
    b->last_activity = now_ns();
    if (bitmap_set(&c->acked, seq) < 0) {
        conn_fail(c, "out of memory");
        return;
    }
    publisher_top_up(c);
}

static void on_message(struct conn *c, const struct mqtt_publish *p, int64_t now)
{
    struct bench *b = c->b;
    uint32_t magic, pub, seq;
    int64_t ts;
    if (p->qos == 1)
        queue_puback(c, p->packet_id);
    if (p->payload.len < STAMP_BYTES) {
        b->unexpected++;
        return;
    }
    memcpy(&magic, p->payload.data, 4);
    memcpy(&pub, p->payload.data + 4, 4);
    memcpy(&seq, p->payload.data + 8, 4);
    memcpy(&ts, p->payload.data + 12, 8);
    if (magic != MAGIC || (b->rx && pub >= (uint32_t)b->o.count)) {
        b->unexpected++;
        return;
    }
    b->received++;
    b->last_activity = now;
    if (b->rx) {
        int was = bitmap_set(&b->rx[pub], seq);
        if (was < 0) {
            conn_fail(c, "out of memory");
            return;
        }
        if (was) {
            b->dups++;
            return;
        }
    }
    b->unique++;
    if (b->running)
        b->in_window++;
    if (b->lat && b->running && ts >= b->t0 + LAT_WARMUP_NS && b->n_lat < b->cap_lat)
        b->lat[b->n_lat++] = now - ts;
}

static void on_packet(struct conn *c, const struct mqtt_packet *p, int64_t now)
{
    if (p->type == MQTT_CONNACK && c->state == ST_CONNACK)
        on_connack(c, &p->u.connack);
    else if (p->type == MQTT_SUBACK && c->state == ST_SUBACK)
        on_suback(c, &p->u.suback);
    else if (p->type == MQTT_PUBACK && c->role == ROLE_PUB)
        on_puback(c, &p->u.ack);
    else if (p->type == MQTT_PUBLISH && c->role == ROLE_SUB)
        on_message(c, &p->u.publish, now);
    else if (p->type != MQTT_PINGRESP)
        conn_fail(c, mqtt_packet_name(p->type)); /* not expected here */
}

/* Every complete packet in rbuf; the partial one stays for the next read. */
static void conn_parse(struct conn *c, int64_t now)
{
    size_t off = 0;
    while (c->state != ST_CLOSED && off < c->rlen) {
        struct mqtt_fixed_header hdr;
        struct mqtt_packet pkt;
        const char *why = "?";
        int rc = mqtt_decode_fixed_header(c->rbuf + off, c->rlen - off, 0, &hdr, &why);
        if (rc < 0) {
            conn_fail(c, why);
            return;
        }
        size_t size = hdr.header_len + (size_t)hdr.remaining;
        if (rc == 0 || c->rlen - off < size) {
            if (rc > 0 && size > c->rcap) {
                uint8_t *p = realloc(c->rbuf, size);
                if (!p) {
                    conn_fail(c, "out of memory");
                    return;
                }
                c->rbuf = p;
                c->rcap = size;
            }
            break;
        }
        rc = mqtt_decode(c->rbuf + off, size, MQTT_V311, 0, &pkt, &why);
        if (rc <= 0) {
            conn_fail(c, why);
            return;
        }
        on_packet(c, &pkt, now);
        off += size;
    }
    if (c->state == ST_CLOSED)
        return;
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
}

static void conn_read(struct conn *c)
{
    size_t budget = READ_BUDGET;
    while (budget > 0 && c->state != ST_CLOSED) {
        ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            conn_fail(c, n == 0 ? "closed by the broker" : strerror(errno));
            return;
        }
        c->rlen += (size_t)n;
        budget -= (size_t)n < budget ? (size_t)n : budget;
        conn_parse(c, now_ns());
    }
    conn_flush(c); /* acknowledgements, new publishes */
}

static void conn_on_connected(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
        conn_fail(c, strerror(err ? err : errno));
        return;
    }
    c->state = ST_CONNACK;
    queue_connect(c);
    conn_flush(c);
}

static void conn_on_event(struct conn *c, uint32_t events)
{
    if (c->state == ST_CONNECTING) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            conn_on_connected(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        conn_read(c);
    if (c->state != ST_CLOSED && (events & EPOLLOUT)) {
        conn_flush(c);
        if (c->flood && c->woff == c->wlen) {
            publisher_top_up(c);
            conn_flush(c);
        }
    }
}

/* ---- connections: life ------------------------------------------------------------- */

static void conn_close(struct conn *c)
{
    if (c->state == ST_CLOSED)
        return;
    epoll_ctl(c->b->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    if (c->state != ST_READY)
        c->b->n_pending--;
    else
        c->b->n_ready--;
    c->state = ST_CLOSED;
}

/* A connection the broker (or a protocol problem) ended: counted, the first
 * few told on stderr. The figures still print; the script reports the errors. */
static void conn_fail(struct conn *c, const char *why)
{
    struct bench *b = c->b;
    if (c->state == ST_CLOSED)
        return;
    static const char *const roles[] = { "publisher", "subscriber", "client" };
    b->errors++;
    if (b->errors <= 5)
        fprintf(stderr, "mqtt_load: %s %s %u: %s (%s)\n", mode_names[b->o.mode], roles[c->role],
                c->index, why,
                b->running ? "during the run" : b->t0 ? "after the run" : "setting up");
    conn_close(c);
}

static int conn_open(struct bench *b, struct conn *c, enum role role, uint32_t index)
{
    c->b = b;
    c->role = role;
    c->index = index;
    c->rcap = role == ROLE_IDLE ? 256 : READ_BUDGET;
    if (!(c->rbuf = malloc(c->rcap))) {
        perror("mqtt_load: malloc");
        return -1;
    }
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        perror("mqtt_load: socket");
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)b->o.port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        perror("mqtt_load: connect");
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->events = EPOLLIN | EPOLLOUT;
    struct epoll_event ev = { .events = c->events, .data.ptr = c };
    if (epoll_ctl(b->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        perror("mqtt_load: epoll_ctl");
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->state = ST_CONNECTING;
    b->n_opened++;
    b->n_pending++;
    return 0;
}

/* Roles by mode: fanin N publishers + 1 subscriber, fanout 1 publisher + N
 * subscribers, latency 1 + 1, idle N bare connections (opened a few at a
 * time, see open_more). */
static int conns_create(struct bench *b)
{
    int pubs = b->o.mode == MODE_FANIN ? b->o.count : b->o.mode == MODE_IDLE ? 0 : 1;
    int subs = b->o.mode == MODE_FANOUT ? b->o.count : b->o.mode == MODE_IDLE ? 0 : 1;
    b->n_conns = b->o.mode == MODE_IDLE ? b->o.count : pubs + subs;
    b->conns = calloc((size_t)b->n_conns, sizeof(*b->conns));
    if (!b->conns)
        return -1;
    for (int i = 0; i < b->n_conns; i++) {
        b->conns[i].fd = -1;
        b->conns[i].state = ST_CLOSED; /* until conn_open */
    }
    for (int i = 0; i < pubs; i++) {
        struct conn *c = &b->conns[i];
        snprintf(c->topic, sizeof(c->topic), "bench/%s/%d", mode_names[b->o.mode], i);
        c->flood = b->o.qos == 0 && b->o.mode != MODE_LATENCY;
        if (b->o.qos) {
            c->id_seq = malloc(65536 * sizeof(*c->id_seq));
            if (!c->id_seq)
                return -1;
            memset(c->id_seq, 0xff, 65536 * sizeof(*c->id_seq));
        }
        if (conn_open(b, c, ROLE_PUB, (uint32_t)i) < 0)
            return -1;
    }
    for (int i = 0; i < subs; i++)
        if (conn_open(b, &b->conns[pubs + i], ROLE_SUB, (uint32_t)i) < 0)
            return -1;
    return 0;
}

static void open_more(struct bench *b)
{
    while (b->o.mode == MODE_IDLE && b->n_opened < b->n_conns && b->n_pending < MAX_CONNECTING)
        if (conn_open(b, &b->conns[b->n_opened], ROLE_IDLE, (uint32_t)b->n_opened) < 0) {
            b->errors++;
            free(b->conns[b->n_opened].rbuf);
            b->n_conns = b->n_opened; /* out of fds or ports: stop opening */
        }
}

static void conns_free(struct bench *b)
{
    struct mqtt_disconnect d = { .type = MQTT_DISCONNECT };
    uint8_t disconnect[2];
    size_t n = mqtt_encode_disconnect(disconnect, sizeof(disconnect), &d, MQTT_V311);
    for (int i = 0; b->conns && i < b->n_conns; i++) {
        struct conn *c = &b->conns[i];
        if (c->state == ST_READY && n == sizeof(disconnect) && write(c->fd, disconnect, n) < 0) {
            /* best effort: the socket closes either way */
        }
        conn_close(c);
        free(c->rbuf);
        free(c->wbuf);
        free(c->id_seq);
        free(c->acked.w);
    }
    free(b->conns);
}

/* ---- the loop ----------------------------------------------------------------------- */

typedef bool (*done_fn)(const struct bench *b, int64_t now);

static void on_timer(struct bench *b)
{
    uint64_t ticks = 0;
    if (read(b->timer_fd, &ticks, sizeof(ticks)) != sizeof(ticks) || !b->running)
        return;
    struct conn *pub = &b->conns[0];
    for (uint64_t i = 0; i < ticks && i < 100 && pub->state == ST_READY; i++)
        queue_publish(pub);
    conn_flush(pub);
}

/* Run the event loop until `deadline` or until `done` says so. */
static void loop_until(struct bench *b, int64_t deadline, done_fn done)
{
    struct epoll_event ev[128];
    for (;;) {
        int64_t now = now_ns();
        if (now >= deadline || (done && done(b, now)))
            return;
        int64_t left_ms = (deadline - now) / 1000000 + 1;
        int n = epoll_wait(b->ep, ev, 128, left_ms < 20 ? (int)left_ms : 20);
        if (n < 0 && errno != EINTR) {
            perror("mqtt_load: epoll_wait");
            return;
        }
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr == &b->timer_fd)
                on_timer(b);
            else
                conn_on_event(ev[i].data.ptr, ev[i].events);
        }
        open_more(b);
    }
}

static bool all_ready(const struct bench *b, int64_t now)
{
    (void)now;
    return b->n_pending == 0 && b->n_opened == b->n_conns;
}

/* After the run: every publisher's queue written and acknowledged, and
 * everything accepted delivered. */
static bool complete(const struct bench *b)
{
    for (int i = 0; i < b->n_conns; i++) {
        const struct conn *c = &b->conns[i];
        if (c->role == ROLE_PUB && c->state == ST_READY && (c->woff < c->wlen || c->inflight))
            return false;
    }
    uint64_t expect = b->o.mode == MODE_FANOUT ? b->published * (uint64_t)b->o.count
                                              : b->o.qos ? b->acked : b->published;
    return b->unique >= expect;
}

/* ... or nothing arrived for a while (what a broker dropped never will). */
static bool drained(const struct bench *b, int64_t now)
{
    return complete(b) || now - b->last_activity > (int64_t)DRAIN_QUIET_MS * 1000000;
}

static void run_start(struct bench *b)
{
    b->t0 = b->last_activity = now_ns();
    b->t_end = b->t0 + (int64_t)(b->o.duration * 1e9);
    b->running = true;
    b->cpu_run = self_cpu_s();
    b->broker_cpu_run = proc_cpu_s(b->o.pid);
    if (b->o.mode == MODE_LATENCY) {
        int64_t period = 1000000000LL / b->o.rate;
        struct itimerspec its = { .it_interval = { period / 1000000000, period % 1000000000 },
                                  .it_value = { period / 1000000000, period % 1000000000 } };
        timerfd_settime(b->timer_fd, 0, &its, NULL);
    }
    for (int i = 0; i < b->n_conns; i++) {
        if (b->conns[i].role == ROLE_PUB) {
            publisher_top_up(&b->conns[i]);
            conn_flush(&b->conns[i]);
        }
    }
}

static void run_stop(struct bench *b)
{
    b->running = false;
    b->cpu_run = self_cpu_s() - b->cpu_run;
    double broker_cpu = proc_cpu_s(b->o.pid);
    b->broker_cpu_run = broker_cpu >= 0 && b->broker_cpu_run >= 0
                            ? broker_cpu - b->broker_cpu_run : -1;
    struct itimerspec off = { { 0, 0 }, { 0, 0 } };
    timerfd_settime(b->timer_fd, 0, &off, NULL);
    for (int i = 0; i < b->n_conns; i++)
        if (b->conns[i].flood)
            conn_flush(&b->conns[i]); /* drops EPOLLOUT once the batch is out */
}

/* ---- figures ------------------------------------------------------------------------ */

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static void report(struct bench *b, bool was_complete)
{
    double d = b->o.duration;
    printf("result mode=%s qos=%d count=%d duration_s=%.3f published=%llu acked=%llu "
           "received=%llu unique=%llu in_window=%llu rate=%.0f dups=%llu unexpected=%llu "
           "errors=%llu complete=%d cpu_s=%.3f broker_cpu_s=%.3f",
           mode_names[b->o.mode], b->o.qos, b->o.count, d, (unsigned long long)b->published,
           (unsigned long long)b->acked, (unsigned long long)b->received,
           (unsigned long long)b->unique, (unsigned long long)b->in_window,
           (double)b->in_window / d, (unsigned long long)b->dups,
           (unsigned long long)b->unexpected, (unsigned long long)b->errors, was_complete,
           b->cpu_run, b->broker_cpu_run);
    if (b->o.mode == MODE_FANIN) {
        uint64_t lost = 0;
        for (int i = 0; i < b->o.count; i++)
            lost += b->o.qos ? bitmap_minus(&b->conns[i].acked, &b->rx[i]) : 0;
        /* QoS 0: what was written but never arrived (dropped or still queued). */
        printf(" lost=%llu undelivered=%llu", (unsigned long long)lost,
               (unsigned long long)(b->published - b->unique));
    }
    if (b->o.mode == MODE_LATENCY && b->n_lat > 0) {
        qsort(b->lat, b->n_lat, sizeof(*b->lat), cmp_i64);
        printf(" samples=%zu p50_us=%.1f p99_us=%.1f max_us=%.1f", b->n_lat,
               (double)b->lat[(b->n_lat - 1) * 50 / 100] / 1e3,
               (double)b->lat[(b->n_lat - 1) * 99 / 100] / 1e3,
               (double)b->lat[b->n_lat - 1] / 1e3);
    }
    printf("\n");
}

/* ---- modes -------------------------------------------------------------------------- */

static int setup(struct bench *b)
{
    if (conns_create(b) < 0)
        return -1;
    open_more(b);
    loop_until(b, now_ns() + (int64_t)SETUP_MS * 1000000, all_ready);
    if (!all_ready(b, 0)) {
        fprintf(stderr, "mqtt_load: %d of %d clients ready after %d ms\n", b->n_ready, b->n_conns,
                SETUP_MS);
        return -1;
    }
    return 0;
}

static int run_traffic(struct bench *b)
{
    if (b->o.mode == MODE_FANIN && !(b->rx = calloc((size_t)b->o.count, sizeof(*b->rx))))
        return -1;
    if (b->o.mode == MODE_LATENCY) {
        b->cap_lat = (size_t)(b->o.rate * (b->o.duration + 1));
        if (!(b->lat = malloc(b->cap_lat * sizeof(*b->lat))))
            return -1;
    }
    if (setup(b) < 0)
        return -1;
    run_start(b);
    loop_until(b, b->t_end, NULL);
    run_stop(b);
    loop_until(b, now_ns() + (int64_t)DRAIN_MAX_MS * 1000000, drained);
    report(b, complete(b));
    return 0;
}

/* Idle: the broker's RSS before any client and after every one is connected
 * (and has settled), per connection. */
static int run_idle(struct bench *b)
{
    long before = proc_rss_kib(b->o.pid);
    if (before < 0) {
        fprintf(stderr, "mqtt_load: no VmRSS for PID %ld\n", b->o.pid);
        return -1;
    }
    int64_t t = now_ns();
    if (setup(b) < 0)
        return -1;
    double connect_s = (double)(now_ns() - t) / 1e9;
    loop_until(b, now_ns() + (int64_t)SETTLE_MS * 1000000, NULL);
    long after = proc_rss_kib(b->o.pid);
    printf("result mode=idle count=%d connected=%d connect_s=%.3f rss_before_kib=%ld "
           "rss_after_kib=%ld kib_per_conn=%.2f errors=%llu\n",
           b->o.count, b->n_ready, connect_s, before, after,
           b->n_ready ? (double)(after - before) / b->n_ready : 0.0, (unsigned long long)b->errors);
    return 0;
}

/* A port free right now on 127.0.0.1 (the kernel's pick), for the script. */
static int print_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof(sa);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        perror("mqtt_load: freeport");
        return 1;
    }
    printf("%d\n", ntohs(sa.sin_port));
    close(fd);
    return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    int i;
    for (i = 0; i < 4 && strcmp(argv[1], mode_names[i]) != 0; i++)
        ;
    if (i == 4)
        return -1;
    *o = (struct opts){ .mode = (enum mode)i, .count = i == MODE_FANIN ? 8 : i == MODE_FANOUT ? 16
                                                      : i == MODE_IDLE ? 2000 : 1,
                        .duration = 3, .size = 64, .rate = 2000, .window = 32 };
    int opt;
    optind = 2;
    while ((opt = getopt(argc, argv, "p:n:q:d:s:r:w:P:")) != -1) {
        switch (opt) {
        case 'p': o->port = atoi(optarg); break;
        case 'n': o->count = atoi(optarg); break;
        case 'q': o->qos = atoi(optarg); break;
        case 'd': o->duration = atof(optarg); break;
        case 's': o->size = (size_t)atol(optarg); break;
        case 'r': o->rate = atoi(optarg); break;
        case 'w': o->window = atoi(optarg); break;
        case 'P': o->pid = atol(optarg); break;
        default: return -1;
        }
    }
    if (optind != argc || o->port <= 0 || o->port > 65535 || o->count < 1 || o->count > 100000 ||
        o->qos < 0 || o->qos > 1 || o->duration <= 0 || o->duration > 60 ||
        o->size < STAMP_BYTES || o->size > 65536 || o->rate < 1 || o->rate > 1000000 ||
        o->window < 1 || o->window > 60000 || (o->mode == MODE_IDLE && o->pid <= 0))
        return -1;
    if (o->mode == MODE_LATENCY)
        o->qos = 0; /* the publisher is paced, not windowed */
    return 0;
}

int main(int argc, char **argv)
{
    struct bench b = { .timer_fd = -1 };
    if (argc == 2 && strcmp(argv[1], "freeport") == 0)
        return print_free_port();
    if (argc < 2 || parse_opts(argc, argv, &b.o) < 0) {
        fputs(USAGE, stderr);
        return 2;
    }
    raise_nofile();
    b.ep = epoll_create1(EPOLL_CLOEXEC);
    b.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &b.timer_fd };
    if (b.ep < 0 || b.timer_fd < 0 || epoll_ctl(b.ep, EPOLL_CTL_ADD, b.timer_fd, &ev) < 0) {
        perror("mqtt_load: epoll");
        return 1;
    }
    int rc = b.o.mode == MODE_IDLE ? run_idle(&b) : run_traffic(&b);
    conns_free(&b);
    if (b.rx)
        for (int i = 0; i < b.o.count; i++)
            free(b.rx[i].w);
    free(b.rx);
    free(b.lat);
    close(b.timer_fd);
    close(b.ep);
    if (rc < 0)
        return 1;
    return b.errors ? 3 : 0;
}
