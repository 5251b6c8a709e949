/* gateway_latency: the mapping benchmark of make bench. Runs the gateway's
 * data path in this process — drivers (against the simulators named in the
 * configuration), the mapping engine, the embedded broker on a free port —
 * with one MQTT subscriber on a TCP connection in a second thread, and
 * measures each message from the moment its reading left the driver (the
 * reading's own monotonic stamp) to the moment the subscriber read it.
 * Prints one `result key=value ...` line. Figures only, never pass/fail.
 *   gateway_latency CONFIG SECONDS */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "drivers/drivers.h"
#include "gateway/broker/broker.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "gateway/mapping/mapping.h"
#include "gateway/mqtt/mqtt.h"

#define MAX_SAMPLES (4u << 20)

struct bench {
    struct loop *loop;
    struct broker *broker;
    struct mapping *mapping;
    int64_t emit_ns;                  /* the reading being mapped */
    pthread_mutex_t lock;
    int64_t *sent;                    /* emit stamps, in publish order */
    size_t n_sent;
    int64_t *lat;                     /* latencies, in receive order */
    size_t n_recv;
    int fd;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void to_broker(void *ctx, const char *topic, const void *payload, size_t len, int qos,
                      bool retain)
{
    struct bench *b = ctx;
    pthread_mutex_lock(&b->lock);
    if (b->n_sent < MAX_SAMPLES)
        b->sent[b->n_sent++] = b->emit_ns;
    pthread_mutex_unlock(&b->lock);
    broker_publish(b->broker, topic, payload, len, qos, retain);
}

static void on_event(void *ctx, const struct driver_event *ev)
{
    struct bench *b = ctx;
    /* Availability and cycle ends carry no stamp: measure from now. */
    b->emit_ns = ev->kind == DRIVER_EVENT_READING ? ev->u.reading.mono_ns : mono_ns();
    mapping_on_event(b->mapping, ev, loop_now_ms(b->loop));
}

static int64_t on_deadline(struct loop *loop, void *data)
{
    (void)data;
    loop_stop(loop);
    return LOOP_TIMER_STOP;
}

/* ---- the subscriber ------------------------------------------------------ */

static int read_exact(int fd, uint8_t *buf, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static int subscribe_all(int fd)
{
    /* MQTT 3.1.1 CONNECT (clean session, keep alive 60 s, empty client id)
     * and SUBSCRIBE '#' at QoS 0. */
    static const uint8_t connect_pkt[] = { 0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 0 };
    static const uint8_t subscribe_pkt[] = { 0x82, 6, 0, 1, 0, 1, '#', 0 };
    uint8_t ack[5];
    if (write(fd, connect_pkt, sizeof connect_pkt) != (ssize_t)sizeof connect_pkt ||
        read_exact(fd, ack, 4) < 0 || ack[0] != 0x20 || ack[3] != 0)
        return -1;
    if (write(fd, subscribe_pkt, sizeof subscribe_pkt) != (ssize_t)sizeof subscribe_pkt ||
        read_exact(fd, ack, 5) < 0 || ack[0] != 0x90 || ack[4] != 0)
        return -1;
    return 0;
}

static void *subscriber_main(void *arg)
{
    struct bench *b = arg;
    static uint8_t buf[1 << 20];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(b->fd, buf + len, sizeof buf - len);
        if (r <= 0)
            return NULL;
        int64_t now = mono_ns();
        len += (size_t)r;
        size_t off = 0;
        for (;;) {
            struct mqtt_fixed_header h;
            const char *why;
            int hl = mqtt_decode_fixed_header(buf + off, len - off, 0, &h, &why);
            if (hl <= 0 || len - off < (size_t)hl + h.remaining)
                break;
            pthread_mutex_lock(&b->lock);
            if (b->n_recv < b->n_sent)
                b->lat[b->n_recv] = now - b->sent[b->n_recv];
            b->n_recv++;
            pthread_mutex_unlock(&b->lock);
            off += (size_t)hl + h.remaining;
        }
        memmove(buf, buf + off, len - off);
        len -= off;
    }
}

static int connect_local(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* The subscriber needs the loop turning to get its CONNACK and SUBACK. */
static void *handshake_main(void *arg)
{
    struct bench *b = arg;
    intptr_t rc = subscribe_all(b->fd);
    loop_stop(b->loop);
    return (void *)rc;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, c = *(const int64_t *)y;
    return a < c ? -1 : a > c;
}

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gateway_latency CONFIG SECONDS\n");
        return 2;
    }
    struct diag diag;
    diag_init(&diag);
    struct config *cfg;
    if (config_load_file(argv[1], &cfg, &diag)) {
        diag_print(&diag, stderr);
        return 2;
    }
    diag_free(&diag);
    log_init(LOG_LEVEL_WARN);
    struct bench b = { .sent = calloc(MAX_SAMPLES, sizeof(int64_t)),
                       .lat = calloc(MAX_SAMPLES, sizeof(int64_t)) };
    pthread_mutex_init(&b.lock, NULL);
    char err[256];
    b.loop = loop_new();
    b.broker = broker_new(b.loop, &cfg->broker);
    if (!b.sent || !b.lat || !b.loop || !b.broker || broker_listen(b.broker) < 0 ||
        mapping_new(cfg, to_broker, &b, &b.mapping, err, sizeof err) < 0) {
        fprintf(stderr, "gateway_latency: cannot set up\n");
        return 1;
    }
    b.fd = connect_local(broker_listener_port(b.broker, 0));
    pthread_t hs, sub;
    void *hs_rc;
    if (b.fd < 0 || pthread_create(&hs, NULL, handshake_main, &b) != 0)
        return 1;
    loop_timer_add(b.loop, 5000, on_deadline, NULL);
    loop_run(b.loop);
    pthread_join(hs, &hs_rc);
    if (hs_rc != NULL || pthread_create(&sub, NULL, subscriber_main, &b) != 0) {
        fprintf(stderr, "gateway_latency: the subscriber could not subscribe\n");
        return 1;
    }
    struct drivers *d;
    if (drivers_start(cfg, b.loop, on_event, &b, &d, err, sizeof err) < 0) {
        fprintf(stderr, "gateway_latency: %s\n", err);
        return 1;
    }
    double cpu0 = cpu_ms();
    loop_timer_add(b.loop, (int64_t)(atof(argv[2]) * 1000), on_deadline, NULL);
    loop_run(b.loop);
    double cpu = cpu_ms() - cpu0;
    drivers_stop(d);
    /* Let the last messages arrive, then close. */
    loop_timer_add(b.loop, 300, on_deadline, NULL);
    loop_run(b.loop);
    shutdown(b.fd, SHUT_RDWR);
    pthread_join(sub, NULL);
    size_t n = b.n_recv < b.n_sent ? b.n_recv : b.n_sent;
    qsort(b.lat, n, sizeof *b.lat, cmp_i64);
    printf("result messages=%zu received=%zu p50_us=%.1f p99_us=%.1f max_us=%.1f "
           "cpu_ms_per_1000=%.2f\n", b.n_sent, b.n_recv,
           n ? (double)b.lat[n / 2] / 1e3 : 0.0, n ? (double)b.lat[n * 99 / 100] / 1e3 : 0.0,
           n ? (double)b.lat[n - 1] / 1e3 : 0.0, n ? cpu * 1000 / (double)n : 0.0);
    close(b.fd);
    mapping_free(b.mapping);
    broker_free(b.broker);
    loop_free(b.loop);
    config_free(cfg);
    free(b.sent);
    free(b.lat);
    return 0;
}
