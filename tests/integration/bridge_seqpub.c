/* bridge_seqpub: publishes numbered messages ("seq=000123", padded to a size)
 * at QoS 1 or 2 on one topic with a bounded number in flight, and tells which
 * ones the broker acknowledged: the highest K such that every number up to K
 * was. The bridge tests use it to know exactly what the gateway accepted
 * before it was killed, or its spool filled. Usage: see usage() below. */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Paho 1.3.12's headers pass every warning of the project's set. */
#include <MQTTAsync.h>

#define SEQ_TEXT_MAX 32 /* "seq=" and the number */

enum exit_code { EXIT_DONE = 0, EXIT_LOST = 1, EXIT_USAGE = 2, EXIT_TIMEOUT = 3 };

struct options {
    const char *host, *topic, *client_id;
    int port, qos, window, timeout_s;
    long count, first, every;
    size_t size;
};

/* What the Paho callbacks share with the main thread, under mu. */
struct pub {
    MQTTAsync h;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned char *acked;   /* [i]: number first + i was acknowledged */
    long count, first;
    long contiguous;        /* acked[0 .. contiguous-1] are all set */
    int inflight;
    bool connected, connect_failed, lost, disconnected;
    char why[128];          /* the first failure, for stderr */
};

/* One per message: the context Paho hands back with its acknowledgement. */
struct slot {
    struct pub *p;
    long index;
};

static void usage(FILE *f)
{
    fputs("usage: bridge_seqpub -p PORT -t TOPIC -n COUNT [-h HOST] [-f FIRST] [-s SIZE]\n"
          "                     [-w WINDOW] [-q 1|2] [-i CLIENT_ID] [-e EVERY] [-T SECONDS]\n"
          "Publishes COUNT messages numbered FIRST (default 1) on, payload \"seq=%06ld\"\n"
          "padded with '.' to SIZE bytes, at most WINDOW (default 32) unacknowledged.\n"
          "Prints \"acked K\" each EVERY (default 100, 0: never) numbers acknowledged in a\n"
          "row, then one last line with K, the highest number such that every number\n"
          "from FIRST to K was acknowledged (FIRST-1 when none was):\n"
          "  done K     all acknowledged (exit 0)\n"
          "  lost K     connection lost or a publish refused (exit 1)\n"
          "  timeout K  not all acknowledged within SECONDS, default 60 (exit 3)\n"
          "Exit 2: usage, or no connection.\n", f);
}

static bool parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Each numeric option: its letter, bounds, and where it goes. */
static bool parse_number(struct options *o, int opt, const char *arg)
{
    long v;
    switch (opt) {
    case 'p': if (!parse_long(arg, 1, 65535, &v)) return false; o->port = (int)v; return true;
    case 'n': return parse_long(arg, 1, 10000000, &o->count);
    case 'f': return parse_long(arg, 1, LONG_MAX / 2, &o->first);
    case 's': if (!parse_long(arg, 0, 1 << 20, &v)) return false; o->size = (size_t)v; return true;
    case 'w': if (!parse_long(arg, 1, 65535, &v)) return false; o->window = (int)v; return true;
    case 'q': if (!parse_long(arg, 1, 2, &v)) return false; o->qos = (int)v; return true;
    case 'e': return parse_long(arg, 0, LONG_MAX, &o->every);
    case 'T': if (!parse_long(arg, 1, 3600, &v)) return false; o->timeout_s = (int)v; return true;
    default: return false;
    }
}

/* 0 when the options are complete, EXIT_USAGE otherwise. */
static int parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){ .host = "127.0.0.1", .client_id = "bridge-seqpub", .qos = 1,
                           .window = 32, .timeout_s = 60, .first = 1, .every = 100 };
    int opt;
    while ((opt = getopt(argc, argv, "h:p:t:n:f:s:w:q:i:e:T:")) != -1) {
        if (opt == 'h')
            o->host = optarg;
        else if (opt == 't')
            o->topic = optarg;
        else if (opt == 'i')
            o->client_id = optarg;
        else if (!parse_number(o, opt, optarg)) {
            if (opt != '?')
                fprintf(stderr, "bridge_seqpub: bad value for -%c: '%s'\n", opt, optarg);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc || !o->topic || !o->port || !o->count) {
        usage(stderr);
        return EXIT_USAGE;
    }
    return 0;
}

static struct timespec deadline_in(int seconds)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += seconds;
    return t;
}

/* Waits on p->cv until the deadline; false once it has passed. Under p->mu. */
static bool wait_until(struct pub *p, const struct timespec *deadline)
{
    return pthread_cond_timedwait(&p->cv, &p->mu, deadline) != ETIMEDOUT;
}

/* Records the first reason things went wrong. Under p->mu. */
static void note_failure(struct pub *p, const char *what, int code)
{
    if (!p->why[0])
        snprintf(p->why, sizeof p->why, "%s (%d: %s)", what, code, MQTTAsync_strerror(code));
}

/* ---- Paho's threads: they only record, under the lock ------------------------ */

static void on_connect_ok(void *ctx, MQTTAsync_successData *r)
{
    struct pub *p = ctx;
    (void)r;
    pthread_mutex_lock(&p->mu);
    p->connected = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *r)
{
    struct pub *p = ctx;
    pthread_mutex_lock(&p->mu);
    p->connect_failed = true;
    note_failure(p, "connect failed", r ? r->code : MQTTASYNC_FAILURE);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void on_lost(void *ctx, char *cause)
{
    struct pub *p = ctx;
    pthread_mutex_lock(&p->mu);
    p->lost = true;
    if (!p->why[0])
        snprintf(p->why, sizeof p->why, "connection lost%s%s", cause ? ": " : "",
                 cause ? cause : "");
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Nothing is subscribed; Paho wants the callback all the same. */
static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    (void)ctx;
    (void)topic_len;
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_acked(void *ctx, MQTTAsync_successData *r)
{
    struct slot *s = ctx;
    struct pub *p = s->p;
    (void)r;
    pthread_mutex_lock(&p->mu);
    if (!p->acked[s->index]) {
        p->acked[s->index] = 1;
        p->inflight--;
    }
    while (p->contiguous < p->count && p->acked[p->contiguous])
        p->contiguous++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void on_refused(void *ctx, MQTTAsync_failureData *r)
{
    struct slot *s = ctx;
    struct pub *p = s->p;
    pthread_mutex_lock(&p->mu);
    p->lost = true;
    note_failure(p, "publish failed", r ? r->code : MQTTASYNC_FAILURE);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void on_disconnect_done(void *ctx, MQTTAsync_successData *r)
{
    struct pub *p = ctx;
    (void)r;
    pthread_mutex_lock(&p->mu);
    p->disconnected = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---- the main thread ------------------------------------------------------------ */

/* "acked K" each time K passes another `every`. Under p->mu. */
static void print_progress(const struct pub *p, long every, long *printed)
{
    if (every <= 0)
        return;
    while (p->contiguous >= *printed + every) {
        *printed += every;
        printf("acked %ld\n", p->first + *printed - 1);
    }
    fflush(stdout);
}

/* Creates the client and connects within the deadline; 0 or EXIT_USAGE. */
static int pub_connect(struct pub *p, const struct options *o, const struct timespec *deadline)
{
    char uri[300];
    snprintf(uri, sizeof uri, "tcp://%s:%d", o->host, o->port);
    int rc = MQTTAsync_create(&p->h, uri, o->client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    if (rc == MQTTASYNC_SUCCESS)
        rc = MQTTAsync_setCallbacks(p->h, p, on_lost, on_message, NULL);
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    co.keepAliveInterval = 30;
    co.cleansession = 1;
    co.connectTimeout = 5;
    co.onSuccess = on_connect_ok;
    co.onFailure = on_connect_fail;
    co.context = p;
    if (rc == MQTTASYNC_SUCCESS)
        rc = MQTTAsync_connect(p->h, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "bridge_seqpub: %s: %s\n", uri, MQTTAsync_strerror(rc));
        return EXIT_USAGE;
    }
    pthread_mutex_lock(&p->mu);
    while (!p->connected && !p->connect_failed && !p->lost && wait_until(p, deadline))
        ;
    bool up = p->connected && !p->lost;
    pthread_mutex_unlock(&p->mu);
    if (!up) {
        fprintf(stderr, "bridge_seqpub: %s: %s\n", uri, p->why[0] ? p->why : "connect timed out");
        return EXIT_USAGE;
    }
    return 0;
}

/* The payload of number `seq`: "seq=%06ld", padded with '.' to `size`. */
static size_t format_payload(char *buf, size_t size, long seq)
{
    int n = snprintf(buf, SEQ_TEXT_MAX, "seq=%06ld", seq);
    size_t len = (size_t)n;
    if (size > len) {
        memset(buf + len, '.', size - len);
        len = size;
    }
    return len;
}

/* Sends message `index`; false (and the reason noted) when Paho refuses it. */
static bool send_one(struct pub *p, const struct options *o, struct slot *slot, char *buf)
{
    size_t len = format_payload(buf, o->size, p->first + slot->index);
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = buf;
    m.payloadlen = (int)len;
    m.qos = o->qos;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_acked;
    ro.onFailure = on_refused;
    ro.context = slot;
    int rc = MQTTAsync_sendMessage(p->h, o->topic, &m, &ro);
    if (rc == MQTTASYNC_SUCCESS)
        return true;
    pthread_mutex_lock(&p->mu);
    p->inflight--;
    p->lost = true;
    note_failure(p, "send refused", rc);
    pthread_mutex_unlock(&p->mu);
    return false;
}

/* Publishes everything with at most o->window in flight, then waits for the
 * last acknowledgements. Returns the exit code. */
static int pub_run(struct pub *p, const struct options *o, struct slot *slots,
                   const struct timespec *deadline)
{
    char *buf = malloc(o->size > SEQ_TEXT_MAX ? o->size : SEQ_TEXT_MAX);
    if (!buf) {
        perror("bridge_seqpub: malloc");
        return EXIT_USAGE;
    }
    long printed = 0;
    bool in_time = true;
    for (long i = 0; i < o->count && in_time; i++) {
        pthread_mutex_lock(&p->mu);
        while (p->inflight >= o->window && !p->lost && (in_time = wait_until(p, deadline)))
            print_progress(p, o->every, &printed);
        bool go = !p->lost && in_time;
        if (go)
            p->inflight++;
        pthread_mutex_unlock(&p->mu);
        if (!go || !send_one(p, o, &slots[i], buf))
            break;
    }
    pthread_mutex_lock(&p->mu);
    while (in_time && !p->lost && p->contiguous < p->count) {
        print_progress(p, o->every, &printed);
        in_time = wait_until(p, deadline);
    }
    print_progress(p, o->every, &printed);
    int code = p->contiguous == p->count ? EXIT_DONE : p->lost ? EXIT_LOST : EXIT_TIMEOUT;
    long k = p->first + p->contiguous - 1;
    printf("%s %ld\n", code == EXIT_DONE ? "done" : code == EXIT_LOST ? "lost" : "timeout", k);
    fflush(stdout);
    if (code != EXIT_DONE)
        fprintf(stderr, "bridge_seqpub: %ld of %ld acknowledged, %d in flight: %s\n",
                p->contiguous, p->count, p->inflight, p->why[0] ? p->why : "timed out");
    pthread_mutex_unlock(&p->mu);
    free(buf);
    return code;
}

/* A polite DISCONNECT when the link is still up, bounded to 2 s. */
static void pub_disconnect(struct pub *p)
{
    pthread_mutex_lock(&p->mu);
    bool up = p->connected && !p->lost;
    pthread_mutex_unlock(&p->mu);
    if (!up)
        return;
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    d.timeout = 1000;
    d.onSuccess = on_disconnect_done;
    d.context = p;
    if (MQTTAsync_disconnect(p->h, &d) != MQTTASYNC_SUCCESS)
        return;
    struct timespec deadline = deadline_in(2);
    pthread_mutex_lock(&p->mu);
    while (!p->disconnected && !p->lost && wait_until(p, &deadline))
        ;
    pthread_mutex_unlock(&p->mu);
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_options(argc, argv, &o))
        return EXIT_USAGE;
    struct pub p = { .count = o.count, .first = o.first };
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* deadlines are monotonic */
    pthread_cond_init(&p.cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p.mu, NULL);
    p.acked = calloc((size_t)o.count, 1);
    struct slot *slots = calloc((size_t)o.count, sizeof *slots);
    if (!p.acked || !slots) {
        perror("bridge_seqpub: calloc");
        return EXIT_USAGE;
    }
    for (long i = 0; i < o.count; i++)
        slots[i] = (struct slot){ .p = &p, .index = i };
    struct timespec deadline = deadline_in(o.timeout_s);
    int code = pub_connect(&p, &o, &deadline);
    if (code == 0) {
        code = pub_run(&p, &o, slots, &deadline);
        pub_disconnect(&p);
    }
    if (p.h)
        MQTTAsync_destroy(&p.h); /* no callback runs after this */
    free(slots);
    free(p.acked);
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    return code;
}
