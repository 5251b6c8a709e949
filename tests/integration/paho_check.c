/* paho_check: a broker seen through Eclipse Paho's C client (MQTTAsync), a
 * client we did not write, over MQTT 3.1.1 and 5.0: delivery at each QoS,
 * order under load, persistent sessions, retained messages, and the v5
 * features (properties, request/response, expiry, subscription identifiers
 * and options, topic aliases). Usage: paho_check PORT. Prints each failure
 * and a last line "paho_check: N checks, M failed"; exits 1 on any failure. */

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Paho 1.3.12's headers pass every warning of the project's set. */
#include <MQTTAsync.h>

#define WAIT_MS 5000 /* the bound on each wait for one broker answer */
#define BULK_MS 20000 /* the bound on waits for many messages */
#define RX_CAP 512 /* messages one client keeps; enough for every scenario */

static int n_checks, n_failed;
static char server_uri[64];

/* check(COND, FMT, ...): one assertion; a failure prints what was expected. */
static bool check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool check(bool cond, const char *fmt, ...)
{
    n_checks++;
    if (!cond) {
        va_list ap;
        n_failed++;
        fputs("FAIL: ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
    }
    return cond;
}

static const char *vname(int version)
{
    return version == MQTTVERSION_5 ? "v5" : "v3.1.1";
}

/* ---- a client: a Paho handle plus what its callbacks saw -------------------
 * Paho calls back on its own threads. The callbacks only copy data under
 * the client's mutex and broadcast its condition variable; the main thread
 * waits there with a deadline. Received messages go to a fixed array whose
 * entries never move, so an entry below a count read under the lock can be
 * read without it. Operation records live until the client is destroyed,
 * so a callback that comes after a timed-out wait still writes valid memory. */

struct rx {
    char *topic;
    unsigned char *payload;
    int len, qos, retained, dup;
    MQTTProperties props;
};

struct op {
    struct op *next;
    struct client *c;
    int done, failed; /* completions and failures so far */
    int rc, reason; /* last failure: Paho code, MQTT reason */
    int granted; /* SUBACK: granted QoS (v3) or reason code (v5) */
    int session_present, alias_max; /* CONNACK */
};

struct client {
    MQTTAsync h;
    int version;
    char id[64];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct rx rx[RX_CAP];
    int n_rx, rx_dropped;
    bool lost; /* connection lost or server DISCONNECT */
    int disconnect_reason;
    struct op *ops;
    int session_present, alias_max; /* from the last CONNACK; main thread only */
};

static struct timespec deadline_in(int ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static void sleep_ms(int ms)
{
    struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&t, &t) != 0)
        ;
}

/* -- callbacks (Paho's threads) -- */

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct client *c = ctx;
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    pthread_mutex_lock(&c->mu);
    if (c->n_rx < RX_CAP) {
        struct rx *r = &c->rx[c->n_rx];
        r->topic = malloc(tlen + 1);
        r->payload = malloc(m->payloadlen > 0 ? (size_t)m->payloadlen : 1);
        if (r->topic && r->payload) {
            memcpy(r->topic, topic, tlen);
            r->topic[tlen] = '\0';
            if (m->payloadlen > 0)
                memcpy(r->payload, m->payload, (size_t)m->payloadlen);
            r->len = m->payloadlen;
            r->qos = m->qos;
            r->retained = m->retained;
            r->dup = m->dup;
            r->props = MQTTProperties_copy(&m->properties);
            c->n_rx++;
        } else {
            free(r->topic);
            free(r->payload);
            r->topic = NULL;
            r->payload = NULL;
            c->rx_dropped++;
        }
    } else {
        c->rx_dropped++;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_lost(void *ctx, char *cause)
{
    struct client *c = ctx;
    (void)cause;
    pthread_mutex_lock(&c->mu);
    c->lost = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void on_disconnected(void *ctx, MQTTProperties *props, enum MQTTReasonCodes reason)
{
    struct client *c = ctx;
    (void)props;
    pthread_mutex_lock(&c->mu);
    c->lost = true;
    c->disconnect_reason = (int)reason;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void op_finish(struct op *o, bool ok, int rc, int reason)
{
    pthread_mutex_lock(&o->c->mu);
    o->done++;
    if (!ok) {
        o->failed++;
        o->rc = rc;
        o->reason = reason;
    }
    pthread_cond_broadcast(&o->c->cv);
    pthread_mutex_unlock(&o->c->mu);
}

static void on_ok3(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    op_finish(ctx, true, 0, 0);
}

static void on_ok5(void *ctx, MQTTAsync_successData5 *r)
{
    struct op *o = ctx;
    /* A reason code of 0x80 or more is a refusal (MQTT 5, 2.4). */
    op_finish(o, r->reasonCode < 0x80, 0, (int)r->reasonCode);
}

static void on_fail3(void *ctx, MQTTAsync_failureData *r)
{
    op_finish(ctx, false, r ? r->code : -1, 0);
}

static void on_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
    op_finish(ctx, false, r ? r->code : -1, r ? (int)r->reasonCode : 0);
}

static void on_sub_ok3(void *ctx, MQTTAsync_successData *r)
{
    struct op *o = ctx;
    pthread_mutex_lock(&o->c->mu);
    o->granted = r->alt.qos;
    pthread_mutex_unlock(&o->c->mu);
    op_finish(o, r->alt.qos != 0x80, 0, r->alt.qos);
}

static void on_sub_ok5(void *ctx, MQTTAsync_successData5 *r)
{
    struct op *o = ctx;
    pthread_mutex_lock(&o->c->mu);
    o->granted = (int)r->reasonCode;
    pthread_mutex_unlock(&o->c->mu);
    op_finish(o, r->reasonCode < 0x80, 0, (int)r->reasonCode);
}

static void on_connect_ok3(void *ctx, MQTTAsync_successData *r)
{
    struct op *o = ctx;
    pthread_mutex_lock(&o->c->mu);
    o->session_present = r->alt.connect.sessionPresent;
    pthread_mutex_unlock(&o->c->mu);
    op_finish(o, true, 0, 0);
}

static void on_connect_ok5(void *ctx, MQTTAsync_successData5 *r)
{
    struct op *o = ctx;
    pthread_mutex_lock(&o->c->mu);
    o->session_present = r->alt.connect.sessionPresent;
    if (MQTTProperties_hasProperty(&r->properties, MQTTPROPERTY_CODE_TOPIC_ALIAS_MAXIMUM))
        o->alias_max = MQTTProperties_getNumericValue(&r->properties,
                                                      MQTTPROPERTY_CODE_TOPIC_ALIAS_MAXIMUM);
    pthread_mutex_unlock(&o->c->mu);
    op_finish(o, r->reasonCode < 0x80, 0, (int)r->reasonCode);
}

/* -- the main thread's side -- */

static struct op *op_new(struct client *c)
{
    struct op *o = calloc(1, sizeof(*o));
    if (!o) {
        perror("paho_check: calloc");
        exit(2);
    }
    o->c = c;
    o->next = c->ops;
    c->ops = o;
    return o;
}

/* Waits, at most ms, until o completed n times; true when it did with no
 * failure. seen (may be NULL) gets a copy of o taken under the lock, for
 * messages: a callback may still write o after a wait that timed out. */
static bool op_wait(struct op *o, int n, int ms, struct op *seen)
{
    struct timespec dl = deadline_in(ms);
    struct client *c = o->c;
    pthread_mutex_lock(&c->mu);
    while (o->done < n && pthread_cond_timedwait(&c->cv, &c->mu, &dl) == 0)
        ;
    bool ok = o->done >= n && o->failed == 0;
    if (seen)
        *seen = *o;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

static void response_init(struct client *c, MQTTAsync_responseOptions *ro, struct op *o)
{
    ro->context = o;
    if (c->version == MQTTVERSION_5) {
        ro->onSuccess5 = on_ok5;
        ro->onFailure5 = on_fail5;
    } else {
        ro->onSuccess = on_ok3;
        ro->onFailure = on_fail3;
    }
}

static struct client *client_new(int version, const char *name)
{
    struct client *c = calloc(1, sizeof(*c));
    if (!c) {
        perror("paho_check: calloc");
        exit(2);
    }
    c->version = version;
    snprintf(c->id, sizeof(c->id), "paho-%s-%s-%ld", name, vname(version), (long)getpid());
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&c->mu, NULL);

    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
    co.MQTTVersion = version;
    /* Paho 1.3.12 counts publishes queued while connected against this
     * limit too (default 100): the order scenario queues 200. */
    co.maxBufferedMessages = 1000;
    int rc = MQTTAsync_createWithOptions(&c->h, server_uri, c->id, MQTTCLIENT_PERSISTENCE_NONE,
                                         NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "paho_check: MQTTAsync_createWithOptions: %s\n", MQTTAsync_strerror(rc));
        exit(2);
    }
    MQTTAsync_setCallbacks(c->h, c, on_lost, on_message, NULL);
    if (version == MQTTVERSION_5)
        MQTTAsync_setDisconnected(c->h, c, on_disconnected);
    return c;
}

static void client_free(struct client *c)
{
    if (!c)
        return;
    /* After destroy no callback runs; only then are the records freed. */
    MQTTAsync_destroy(&c->h);
    for (int i = 0; i < c->n_rx; i++) {
        free(c->rx[i].topic);
        free(c->rx[i].payload);
        MQTTProperties_free(&c->rx[i].props);
    }
    while (c->ops) {
        struct op *o = c->ops;
        c->ops = o->next;
        free(o);
    }
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Starts a connect. clean: clean session (v3) or clean start (v5); expiry:
 * v5 session expiry interval in seconds (0: none). Returns the operation,
 * NULL when Paho refused to start it (a failed check). */
static struct op *client_connect_start(struct client *c, bool clean, int expiry)
{
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    MQTTAsync_connectOptions co5 = MQTTAsync_connectOptions_initializer5;
    MQTTProperties props = MQTTProperties_initializer;
    MQTTAsync_connectOptions *o = c->version == MQTTVERSION_5 ? &co5 : &co;
    struct op *op = op_new(c);
    o->keepAliveInterval = 30;
    o->connectTimeout = WAIT_MS / 1000;
    o->context = op;
    if (c->version == MQTTVERSION_5) {
        o->cleanstart = clean;
        if (expiry > 0) {
            MQTTProperty p = { .identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL };
            p.value.integer4 = (unsigned int)expiry;
            MQTTProperties_add(&props, &p);
            o->connectProperties = &props;
        }
        o->onSuccess5 = on_connect_ok5;
        o->onFailure5 = on_fail5;
    } else {
        o->MQTTVersion = MQTTVERSION_3_1_1;
        o->cleansession = clean;
        o->onSuccess = on_connect_ok3;
        o->onFailure = on_fail3;
    }
    pthread_mutex_lock(&c->mu);
    c->lost = false;
    pthread_mutex_unlock(&c->mu);
    int rc = MQTTAsync_connect(c->h, o);
    MQTTProperties_free(&props);
    if (!check(rc == MQTTASYNC_SUCCESS, "%s %s: connect refused by Paho (%d: %s)", vname(c->version),
               c->id, rc, MQTTAsync_strerror(rc)))
        return NULL;
    return op;
}

/* Waits for the CONNACK of a connect started; keeps what it said. */
static bool client_connect_finish(struct client *c, struct op *op)
{
    if (!op)
        return false;
    struct op seen;
    bool ok = op_wait(op, 1, WAIT_MS + 1000, &seen);
    c->session_present = seen.session_present;
    c->alias_max = seen.alias_max;
    return check(ok, "%s %s: connect (failure code %d, reason %d)", vname(c->version), c->id, seen.rc,
                 seen.reason);
}

static bool client_connect(struct client *c, bool clean, int expiry)
{
    return client_connect_finish(c, client_connect_start(c, clean, expiry));
}

/* connect_all(c1, c2, ..., NULL): connects clients with a clean session, all
 * at once. (Paho 1.3.12 takes about 2 s for each connect made while another
 * client of the process is connected, eclipse-paho/paho.mqtt.c#1430; made
 * together, they overlap.) */
static bool connect_all(struct client *first, ...)
{
    struct client *cs[8];
    struct op *ops[8];
    int n = 0;
    va_list ap;
    va_start(ap, first);
    for (struct client *c = first; c && n < 8; c = va_arg(ap, struct client *))
        cs[n++] = c;
    va_end(ap);
    for (int i = 0; i < n; i++)
        ops[i] = client_connect_start(cs[i], true, 0);
    bool ok = true;
    for (int i = 0; i < n; i++)
        ok &= client_connect_finish(cs[i], ops[i]);
    return ok;
}

/* Disconnects a connected client (one that is not has nothing to check). */
static bool client_disconnect(struct client *c)
{
    if (!MQTTAsync_isConnected(c->h))
        return false;
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    MQTTAsync_disconnectOptions d5 = MQTTAsync_disconnectOptions_initializer5;
    MQTTAsync_disconnectOptions *o = c->version == MQTTVERSION_5 ? &d5 : &d;
    struct op *op = op_new(c);
    o->timeout = WAIT_MS;
    o->context = op;
    if (c->version == MQTTVERSION_5) {
        o->onSuccess5 = on_ok5;
        o->onFailure5 = on_fail5;
    } else {
        o->onSuccess = on_ok3;
        o->onFailure = on_fail3;
    }
    int rc = MQTTAsync_disconnect(c->h, o);
    bool ok = rc == MQTTASYNC_SUCCESS && op_wait(op, 1, WAIT_MS + 1000, NULL);
    return check(ok, "%s %s: disconnect (rc %d)", vname(c->version), c->id, rc);
}

struct sub_opts {
    int no_local, rap, rh; /* v5 subscription options */
    int id; /* v5 subscription identifier, 0 for none */
};

/* Subscribes and waits for SUBACK; checks the granted QoS is the one asked for. */
static bool client_subscribe(struct client *c, const char *topic, int qos, const struct sub_opts *so)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    struct op *op = op_new(c);
    response_init(c, &ro, op);
    if (c->version == MQTTVERSION_5) {
        ro.onSuccess5 = on_sub_ok5;
        if (so) {
            ro.subscribeOptions.noLocal = (unsigned char)so->no_local;
            ro.subscribeOptions.retainAsPublished = (unsigned char)so->rap;
            ro.subscribeOptions.retainHandling = (unsigned char)so->rh;
            if (so->id) {
                MQTTProperty p = { .identifier = MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER };
                p.value.integer4 = (unsigned int)so->id;
                MQTTProperties_add(&ro.properties, &p);
            }
        }
    } else {
        ro.onSuccess = on_sub_ok3;
    }
    int rc = MQTTAsync_subscribe(c->h, topic, qos, &ro);
    MQTTProperties_free(&ro.properties);
    struct op seen = { .granted = -1 };
    bool ok = rc == MQTTASYNC_SUCCESS && op_wait(op, 1, WAIT_MS, &seen);
    return check(ok && seen.granted == qos, "%s %s: subscribe %s at qos %d (rc %d, granted %d, code %d)",
                 vname(c->version), c->id, topic, qos, rc, seen.granted, seen.rc);
}

/* Starts a publish; its completion (PUBACK, PUBCOMP, or written for QoS 0)
 * is counted on op. props may be NULL; it stays the caller's. */
static int client_publish_start(struct client *c, struct op *op, const char *topic, const void *payload,
                                int len, int qos, bool retain, MQTTProperties *props)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    MQTTAsync_message m = MQTTAsync_message_initializer;
    response_init(c, &ro, op);
    m.payload = (void *)(uintptr_t)payload;
    m.payloadlen = len;
    m.qos = qos;
    m.retained = retain;
    if (props)
        m.properties = *props;
    return MQTTAsync_sendMessage(c->h, topic, &m, &ro);
}

static bool client_publish(struct client *c, const char *topic, const void *payload, int len, int qos,
                           bool retain, MQTTProperties *props)
{
    struct op *op = op_new(c);
    int rc = client_publish_start(c, op, topic, payload, len, qos, retain, props);
    struct op seen = { 0 };
    bool ok = rc == MQTTASYNC_SUCCESS && op_wait(op, 1, WAIT_MS, &seen);
    return check(ok, "%s %s: publish to '%s' at qos %d completes (rc %d: %s; failure %d, reason %d)",
                 vname(c->version), c->id, topic, qos, rc, MQTTAsync_strerror(rc), seen.rc, seen.reason);
}

static bool client_publish_str(struct client *c, const char *topic, const char *s, int qos, bool retain)
{
    return client_publish(c, topic, s, (int)strlen(s), qos, retain, NULL);
}

/* Waits, at most ms, until the client holds n messages; returns how many it holds. */
static int client_wait_rx(struct client *c, int n, int ms)
{
    struct timespec dl = deadline_in(ms);
    pthread_mutex_lock(&c->mu);
    while (c->n_rx < n && pthread_cond_timedwait(&c->cv, &c->mu, &dl) == 0)
        ;
    int got = c->n_rx;
    pthread_mutex_unlock(&c->mu);
    return got;
}

static bool rx_is(const struct rx *r, const char *s)
{
    return r->len == (int)strlen(s) && memcmp(r->payload, s, (size_t)r->len) == 0;
}

/* Waits, at most WAIT_MS, for a message whose payload is s (a marker sent
 * after what is under test: messages from one connection arrive in order,
 * so once the marker is in, whatever was to come before it has come).
 * Returns its index, or -1. */
static int client_wait_payload(struct client *c, const char *s)
{
    struct timespec dl = deadline_in(WAIT_MS);
    int seen = 0, found = -1;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        for (; seen < c->n_rx && found < 0; seen++)
            if (rx_is(&c->rx[seen], s))
                found = seen;
        if (found >= 0 || pthread_cond_timedwait(&c->cv, &c->mu, &dl) != 0)
            break;
    }
    pthread_mutex_unlock(&c->mu);
    check(found >= 0, "%s %s: message '%s' arrives", vname(c->version), c->id, s);
    return found;
}

static bool client_lost(struct client *c)
{
    pthread_mutex_lock(&c->mu);
    bool lost = c->lost;
    pthread_mutex_unlock(&c->mu);
    return lost;
}

static void topic_for(char *buf, size_t cap, int version, const char *what)
{
    snprintf(buf, cap, "paho/%s/%s", vname(version), what);
}

/* ---- scenarios ------------------------------------------------------------ */

/* QoS 0, 1 and 2, payloads of every byte value, empty and 64 KiB, compared
 * byte for byte, in order, with the QoS they were sent at. */
static void scenario_qos(int v)
{
    char topic[64];
    topic_for(topic, sizeof(topic), v, "qos");
    struct client *sub = client_new(v, "qos-sub"), *pub = client_new(v, "qos-pub");
    static unsigned char every[256], big[65536];
    for (size_t i = 0; i < sizeof(every); i++)
        every[i] = (unsigned char)i;
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (unsigned char)(i * 7 + (i >> 8));
    const struct {
        const void *p;
        int len, qos;
    } sent[] = {
        { every, 256, 0 }, { every, 256, 1 }, { every, 256, 2 },
        { "", 0, 1 }, { big, (int)sizeof(big), 2 }, { "last", 4, 1 },
    };
    int n = (int)(sizeof(sent) / sizeof(sent[0]));
    if (connect_all(sub, pub, NULL) && client_subscribe(sub, topic, 2, NULL)) {
        for (int i = 0; i < n; i++)
            client_publish(pub, topic, sent[i].p, sent[i].len, sent[i].qos, false, NULL);
        int got = client_wait_rx(sub, n, WAIT_MS);
        check(got == n, "%s qos: %d of %d messages arrived", vname(v), got, n);
        /* Paho hands a QoS 2 message over at PUBREL, so a later QoS 0 or 1
         * message may overtake it: order is checked within each QoS. */
        bool used[16] = { false };
        int last_at[3] = { -1, -1, -1 };
        for (int i = 0; i < n; i++) {
            int j = 0;
            while (j < got && (used[j] || sub->rx[j].qos != sent[i].qos || sub->rx[j].len != sent[i].len ||
                               (sent[i].len && memcmp(sub->rx[j].payload, sent[i].p, (size_t)sent[i].len))))
                j++;
            if (!check(j < got, "%s qos: message %d (%d bytes at qos %d) arrives, its bytes intact, at its qos",
                       vname(v), i, sent[i].len, sent[i].qos))
                continue;
            const struct rx *r = &sub->rx[j];
            used[j] = true;
            check(j > last_at[r->qos], "%s qos: message %d arrives after the one sent before it at qos %d",
                  vname(v), i, r->qos);
            last_at[r->qos] = j;
            check(strcmp(r->topic, topic) == 0, "%s qos: message %d topic '%s'", vname(v), i, r->topic);
            check(!r->retained && !r->dup, "%s qos: message %d retained %d dup %d", vname(v), i,
                  r->retained, r->dup);
        }
    }
    client_disconnect(sub);
    client_disconnect(pub);
    client_free(sub);
    client_free(pub);
}

/* 200 QoS 1 messages published back to back arrive all, once, in order. */
static void scenario_order(int v)
{
    enum { N = 200 };
    char topic[64];
    topic_for(topic, sizeof(topic), v, "order");
    struct client *sub = client_new(v, "order-sub"), *pub = client_new(v, "order-pub");
    static char bodies[N][16];
    if (connect_all(sub, pub, NULL) && client_subscribe(sub, topic, 1, NULL)) {
        struct op *op = op_new(pub);
        int started = 0, rc = MQTTASYNC_SUCCESS;
        for (int i = 0; i < N && rc == MQTTASYNC_SUCCESS; i++) {
            int len = snprintf(bodies[i], sizeof(bodies[i]), "m%03d", i);
            rc = client_publish_start(pub, op, topic, bodies[i], len, 1, false, NULL);
            if (rc == MQTTASYNC_SUCCESS)
                started++;
        }
        check(started == N, "%s order: %d of %d publishes accepted by Paho (rc %d: %s)", vname(v), started,
              N, rc, MQTTAsync_strerror(rc));
        struct op seen;
        check(op_wait(op, started, BULK_MS, &seen), "%s order: every publish PUBACKed (%d done, %d failed)",
              vname(v), seen.done, seen.failed);
        int got = client_wait_rx(sub, N, BULK_MS);
        check(got == N, "%s order: %d of %d messages arrived", vname(v), got, N);
        int bad = -1;
        for (int i = 0; i < got && bad < 0; i++)
            if (i >= N || !rx_is(&sub->rx[i], bodies[i]) || sub->rx[i].qos != 1)
                bad = i;
        check(bad < 0, "%s order: messages arrive in order at qos 1 (first out of place: %d)", vname(v),
              bad);
        sleep_ms(200);
        pthread_mutex_lock(&sub->mu);
        got = sub->n_rx;
        pthread_mutex_unlock(&sub->mu);
        check(got == N, "%s order: no duplicates (%d messages)", vname(v), got);
    }
    client_disconnect(sub);
    client_disconnect(pub);
    client_free(sub);
    client_free(pub);
}

/* A session kept across a disconnect (clean session 0; v5 clean start 0 and a
 * session expiry) receives, on reconnect, what was published while it was
 * away. In v5 also: a queued message that expired is dropped, and one that
 * did not arrives with its expiry interval lowered by the time it waited. */
static void scenario_persistent(int v)
{
    char topic[64];
    topic_for(topic, sizeof(topic), v, "persist");
    struct client *s = client_new(v, "persist"), *pub = client_new(v, "persist-pub");
    bool v5 = v == MQTTVERSION_5;
    /* v3: a fresh persistent session; v5: start clean, keep it 60 s. */
    struct op *sop = client_connect_start(s, v5, v5 ? 60 : 0), *pop = client_connect_start(pub, true, 0);
    bool s_ok = client_connect_finish(s, sop), p_ok = client_connect_finish(pub, pop);
    if (!s_ok || !p_ok)
        goto out;
    check(s->session_present == 0, "%s persist: a new session is not present (got %d)", vname(v),
          s->session_present);
    if (!client_subscribe(s, topic, 2, NULL) || !client_disconnect(s))
        goto out;
    client_publish_str(pub, topic, "away1", 1, false);
    client_publish_str(pub, topic, "away2", 2, false);
    if (v5) {
        MQTTProperties props = MQTTProperties_initializer;
        MQTTProperty p = { .identifier = MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL };
        p.value.integer4 = 1;
        MQTTProperties_add(&props, &p);
        client_publish(pub, topic, "stale", 5, 1, false, &props);
        MQTTProperties_free(&props);
        p.value.integer4 = 60;
        MQTTProperties_add(&props, &p);
        client_publish(pub, topic, "fresh", 5, 1, false, &props);
        MQTTProperties_free(&props);
        sleep_ms(2200); /* "stale" expires; "fresh" waits 2.2 s */
    }
    client_publish_str(pub, topic, "end", 1, false);
    if (!client_connect(s, false, v5 ? 60 : 0))
        goto out;
    check(s->session_present == 1, "%s persist: the session is present on reconnect (got %d)", vname(v),
          s->session_present);
    /* QoS 1 messages arrive in order, up to the QoS 1 marker; the QoS 2
     * one may come after it (Paho hands it over at PUBREL). */
    int end = client_wait_payload(s, "end");
    int q2 = client_wait_payload(s, "away2");
    const char *want5[] = { "away1", "fresh", "end" };
    const char *want3[] = { "away1", "end" };
    const char **want = v5 ? want5 : want3;
    int n_want = v5 ? 3 : 2, n1 = 0;
    for (int i = 0; i <= end; i++) {
        if (i == q2)
            continue;
        if (check(n1 < n_want && rx_is(&s->rx[i], want[n1]) && s->rx[i].qos == 1,
                  "%s persist: qos 1 message %d is '%s' at qos 1 (got '%.*s' at qos %d)", vname(v), n1,
                  n1 < n_want ? want[n1] : "nothing", s->rx[i].len, (const char *)s->rx[i].payload,
                  s->rx[i].qos) &&
            v5 && n1 == 1) {
            MQTTProperties *pr = &s->rx[i].props;
            bool has = MQTTProperties_hasProperty(pr, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL);
            int left = has ? MQTTProperties_getNumericValue(pr, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL) : -1;
            check(left >= 1 && left <= 58,
                  "v5 persist: a message queued 2.2 s arrives with expiry 1..58 of 60 (got %d)", left);
        }
        n1++;
    }
    check(n1 == n_want, "%s persist: %d qos 1 messages up to the marker, expected %d (the expired one dropped)",
          vname(v), n1, n_want);
    if (q2 >= 0)
        check(s->rx[q2].qos == 2, "%s persist: the queued qos 2 message arrives at qos 2 (got %d)", vname(v),
              s->rx[q2].qos);
    sleep_ms(100);
    pthread_mutex_lock(&s->mu);
    int total = s->n_rx;
    pthread_mutex_unlock(&s->mu);
    check(total == n_want + 1, "%s persist: %d messages in all, expected %d", vname(v), total, n_want + 1);
out:
    client_disconnect(s);
    client_disconnect(pub);
    client_free(s);
    client_free(pub);
}

/* A retained message: not flagged to a subscriber already there, flagged to
 * a new subscriber; an empty retained message clears it. */
static void scenario_retained(int v)
{
    char topic[64];
    topic_for(topic, sizeof(topic), v, "retained");
    struct client *live = client_new(v, "ret-live"), *pub = client_new(v, "ret-pub");
    struct client *late = client_new(v, "ret-late"), *after = client_new(v, "ret-after");
    if (!connect_all(live, pub, late, after, NULL) || !client_subscribe(live, topic, 1, NULL))
        goto out;
    client_publish_str(pub, topic, "kept", 1, true);
    if (client_wait_rx(live, 1, WAIT_MS) >= 1)
        check(rx_is(&live->rx[0], "kept") && live->rx[0].retained == 0,
              "%s retained: a live subscriber gets it with retain 0 (got retain %d)", vname(v),
              live->rx[0].retained);
    else
        check(false, "%s retained: the live subscriber got nothing", vname(v));
    client_subscribe(late, topic, 1, NULL);
    if (client_wait_rx(late, 1, WAIT_MS) >= 1)
        check(rx_is(&late->rx[0], "kept") && late->rx[0].retained == 1 && late->rx[0].qos == 1,
              "%s retained: a new subscriber gets '%.*s' retain %d qos %d, expected 'kept' retain 1 qos 1",
              vname(v), late->rx[0].len, (const char *)late->rx[0].payload, late->rx[0].retained,
              late->rx[0].qos);
    else
        check(false, "%s retained: a new subscriber got no retained message", vname(v));
    client_publish(pub, topic, "", 0, 1, true, NULL);
    client_subscribe(after, topic, 1, NULL);
    client_publish_str(pub, topic, "marker", 1, false);
    int m = client_wait_payload(after, "marker");
    check(m == 0, "%s retained: after an empty retained publish, nothing retained is sent (%d before the marker)",
          vname(v), m);
out:
    client_disconnect(live);
    client_disconnect(pub);
    client_disconnect(late);
    client_disconnect(after);
    client_free(live);
    client_free(pub);
    client_free(late);
    client_free(after);
}

static bool prop_string_is(MQTTProperties *pr, enum MQTTPropertyCodes code, const char *s, int len)
{
    MQTTProperty *p = MQTTProperties_getProperty(pr, code);
    return p && p->value.data.len == len && memcmp(p->value.data.data, s, (size_t)len) == 0;
}

static void add_string_prop(MQTTProperties *pr, enum MQTTPropertyCodes code, const char *s, int len)
{
    MQTTProperty p = { .identifier = code };
    p.value.data.data = (char *)(uintptr_t)s;
    p.value.data.len = len;
    MQTTProperties_add(pr, &p);
}

static void add_user_prop(MQTTProperties *pr, const char *k, const char *val)
{
    MQTTProperty p = { .identifier = MQTTPROPERTY_CODE_USER_PROPERTY };
    p.value.data.data = (char *)(uintptr_t)k;
    p.value.data.len = (int)strlen(k);
    p.value.value.data = (char *)(uintptr_t)val;
    p.value.value.len = (int)strlen(val);
    MQTTProperties_add(pr, &p);
}

/* v5 request/response: the request carries user properties (order and
 * repeated names kept), content type, payload format, response topic and
 * binary correlation data; the responder answers on the response topic with
 * the correlation data, and the requester gets the answer. Also: message
 * expiry on a live message arrives equal or lower, and is absent when not set. */
static void scenario_request_response(void)
{
    const int v = MQTTVERSION_5;
    struct client *req = client_new(v, "requester"), *resp = client_new(v, "responder");
    static const char corr[] = { 'c', 0x00, (char)0xff, 0x01, '9' };
    const char *users[][2] = { { "unit", "C" }, { "unit", "F" }, { "k\xc3\xa9y", "v\xc3\xa0l" }, { "", "" } };
    const int n_users = 4;
    char reply_topic[96];
    snprintf(reply_topic, sizeof(reply_topic), "paho/v5/reply/%s", req->id);
    if (!connect_all(req, resp, NULL) || !client_subscribe(req, reply_topic, 1, NULL) ||
        !client_subscribe(resp, "paho/v5/request", 1, NULL))
        goto out;

    MQTTProperties props = MQTTProperties_initializer;
    for (int i = 0; i < n_users; i++)
        add_user_prop(&props, users[i][0], users[i][1]);
    add_string_prop(&props, MQTTPROPERTY_CODE_CONTENT_TYPE, "application/json", 16);
    add_string_prop(&props, MQTTPROPERTY_CODE_RESPONSE_TOPIC, reply_topic, (int)strlen(reply_topic));
    add_string_prop(&props, MQTTPROPERTY_CODE_CORRELATION_DATA, corr, (int)sizeof(corr));
    MQTTProperty p = { .identifier = MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR };
    p.value.byte = 1;
    MQTTProperties_add(&props, &p);
    p.identifier = MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL;
    p.value.integer4 = 60;
    MQTTProperties_add(&props, &p);
    client_publish(req, "paho/v5/request", "{\"get\":1}", 9, 1, false, &props);
    MQTTProperties_free(&props);

    if (client_wait_rx(resp, 1, WAIT_MS) < 1) {
        check(false, "v5 request/response: the responder got no request");
        goto out;
    }
    struct rx *r = &resp->rx[0];
    MQTTProperties *pr = &r->props;
    check(rx_is(r, "{\"get\":1}"), "v5 request: payload intact");
    int n_up = MQTTProperties_propertyCount(pr, MQTTPROPERTY_CODE_USER_PROPERTY);
    check(n_up == n_users, "v5 request: %d user properties, sent %d", n_up, n_users);
    for (int i = 0; i < n_up && i < n_users; i++) {
        MQTTProperty *u = MQTTProperties_getPropertyAt(pr, MQTTPROPERTY_CODE_USER_PROPERTY, i);
        check(u && u->value.data.len == (int)strlen(users[i][0]) &&
                  memcmp(u->value.data.data, users[i][0], strlen(users[i][0])) == 0 &&
                  u->value.value.len == (int)strlen(users[i][1]) &&
                  memcmp(u->value.value.data, users[i][1], strlen(users[i][1])) == 0,
              "v5 request: user property %d is '%s'='%s', in the order sent", i, users[i][0], users[i][1]);
    }
    check(prop_string_is(pr, MQTTPROPERTY_CODE_CONTENT_TYPE, "application/json", 16),
          "v5 request: content type intact");
    check(prop_string_is(pr, MQTTPROPERTY_CODE_RESPONSE_TOPIC, reply_topic, (int)strlen(reply_topic)),
          "v5 request: response topic intact");
    check(prop_string_is(pr, MQTTPROPERTY_CODE_CORRELATION_DATA, corr, (int)sizeof(corr)),
          "v5 request: binary correlation data intact");
    check(MQTTProperties_hasProperty(pr, MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR) &&
              MQTTProperties_getNumericValue(pr, MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR) == 1,
          "v5 request: payload format indicator 1 intact");
    int left = MQTTProperties_hasProperty(pr, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL) ?
                   MQTTProperties_getNumericValue(pr, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL) : -1;
    check(left >= 1 && left <= 60, "v5 request: message expiry 60 arrives as 1..60 (got %d)", left);

    /* The responder answers where it was told, with what it was given. */
    MQTTProperty *rt = MQTTProperties_getProperty(pr, MQTTPROPERTY_CODE_RESPONSE_TOPIC);
    MQTTProperty *cd = MQTTProperties_getProperty(pr, MQTTPROPERTY_CODE_CORRELATION_DATA);
    if (rt && cd) {
        char topic[128];
        snprintf(topic, sizeof(topic), "%.*s", rt->value.data.len, rt->value.data.data);
        MQTTProperties rp = MQTTProperties_initializer;
        add_string_prop(&rp, MQTTPROPERTY_CODE_CORRELATION_DATA, cd->value.data.data, cd->value.data.len);
        client_publish(resp, topic, "{\"t\":21.5}", 10, 1, false, &rp);
        MQTTProperties_free(&rp);
        if (client_wait_rx(req, 1, WAIT_MS) >= 1) {
            struct rx *a = &req->rx[0];
            check(strcmp(a->topic, reply_topic) == 0 && rx_is(a, "{\"t\":21.5}"),
                  "v5 response: arrives on the response topic with its payload");
            check(prop_string_is(&a->props, MQTTPROPERTY_CODE_CORRELATION_DATA, corr, (int)sizeof(corr)),
                  "v5 response: carries the request's correlation data");
            check(!MQTTProperties_hasProperty(&a->props, MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL),
                  "v5 response: no expiry interval when none was set");
        } else {
            check(false, "v5 response: the requester got no response");
        }
    } else {
        check(false, "v5 request: no response topic or correlation data to answer with");
    }
out:
    client_disconnect(req);
    client_disconnect(resp);
    client_free(req);
    client_free(resp);
}

static bool rx_has_sub_id(const struct rx *r, int id)
{
    MQTTProperties *pr = (MQTTProperties *)(uintptr_t)&r->props;
    int n = MQTTProperties_propertyCount(pr, MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER);
    for (int i = 0; i < n; i++)
        if (MQTTProperties_getNumericValueAt(pr, MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER, i) == id)
            return true;
    return false;
}

static int rx_sub_id_count(const struct rx *r)
{
    return MQTTProperties_propertyCount((MQTTProperties *)(uintptr_t)&r->props,
                                        MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER);
}

/* v5 subscription identifiers: a message carries the identifier of the
 * subscription it matched; overlapping subscriptions give both (in one copy
 * or one per copy); a subscription without one gives none. */
static void scenario_sub_ids(void)
{
    const int v = MQTTVERSION_5;
    struct client *s = client_new(v, "subid"), *pub = client_new(v, "subid-pub");
    struct sub_opts wild = { .id = 9 }, exact = { .id = 268435455 }; /* the largest identifier */
    if (!connect_all(s, pub, NULL) || !client_subscribe(s, "paho/v5/sid/x/+", 1, &wild) ||
        !client_subscribe(s, "paho/v5/sid/x/a", 1, &exact) ||
        !client_subscribe(s, "paho/v5/sid/y", 1, NULL))
        goto out;
    client_publish_str(pub, "paho/v5/sid/x/b", "wild", 1, false);
    client_publish_str(pub, "paho/v5/sid/x/a", "both", 1, false);
    client_publish_str(pub, "paho/v5/sid/y", "none", 1, false);
    client_publish_str(pub, "paho/v5/sid/y", "marker", 1, false);
    int end = client_wait_payload(s, "marker");
    bool w = false, b9 = false, bmax = false, none = false;
    int n_both = 0;
    for (int i = 0; i < end; i++) {
        struct rx *r = &s->rx[i];
        if (rx_is(r, "wild"))
            w = rx_sub_id_count(r) == 1 && rx_has_sub_id(r, 9);
        if (rx_is(r, "both")) {
            n_both++;
            b9 |= rx_has_sub_id(r, 9);
            bmax |= rx_has_sub_id(r, 268435455);
        }
        if (rx_is(r, "none"))
            none = rx_sub_id_count(r) == 0;
    }
    check(w, "v5 subscription id: a message matching one subscription carries its identifier 9 only");
    check(n_both >= 1 && b9 && bmax,
          "v5 subscription id: overlapping subscriptions give identifiers 9 and 268435455 (%d copies, 9: %d, max: %d)",
          n_both, b9, bmax);
    check(none, "v5 subscription id: a subscription without an identifier gives none");
out:
    client_disconnect(s);
    client_disconnect(pub);
    client_free(s);
    client_free(pub);
}

/* v5 no local: a client subscribed with no local does not get what it
 * publishes itself; another subscriber does, and so does the first client
 * for messages from others. */
static void scenario_no_local(void)
{
    const int v = MQTTVERSION_5;
    const char *topic = "paho/v5/nolocal";
    struct client *a = client_new(v, "nolocal-a"), *b = client_new(v, "nolocal-b");
    struct sub_opts nl = { .no_local = 1 };
    if (!connect_all(a, b, NULL) || !client_subscribe(a, topic, 1, &nl) || !client_subscribe(b, topic, 1, NULL))
        goto out;
    client_publish_str(a, topic, "from-a", 1, false);
    client_publish_str(b, topic, "from-b", 1, false);
    int end = client_wait_payload(a, "from-b");
    check(end == 0, "v5 no local: the publisher does not get its own message (%d before the other's)", end);
    int got = client_wait_rx(b, 2, WAIT_MS);
    check(got == 2 && rx_is(&b->rx[0], "from-a") && rx_is(&b->rx[1], "from-b"),
          "v5 no local: the other subscriber (no local 0) gets both, its own included (%d)", got);
out:
    client_disconnect(a);
    client_disconnect(b);
    client_free(a);
    client_free(b);
}

/* v5 retain handling: 0 sends retained messages on every subscribe, 1 only
 * when the subscription is new, 2 never. */
static void scenario_retain_handling(void)
{
    const int v = MQTTVERSION_5;
    const char *topic = "paho/v5/rh";
    struct client *pub = client_new(v, "rh-pub"), *r0 = client_new(v, "rh0");
    struct client *r1 = client_new(v, "rh1"), *r2 = client_new(v, "rh2");
    struct sub_opts o0 = { .rh = 0 }, o1 = { .rh = 1 }, o2 = { .rh = 2 };
    if (!connect_all(pub, r0, r1, r2, NULL))
        goto out;
    client_publish_str(pub, topic, "kept", 1, true);

    client_subscribe(r2, topic, 1, &o2);
    client_subscribe(r0, topic, 1, &o0);
    client_subscribe(r1, topic, 1, &o1);
    client_publish_str(pub, topic, "live1", 1, false);
    int e2 = client_wait_payload(r2, "live1");
    check(e2 == 0, "v5 retain handling 2: no retained message on subscribe (%d before the live one)", e2);
    int e0 = client_wait_payload(r0, "live1");
    check(e0 == 1 && rx_is(&r0->rx[0], "kept") && r0->rx[0].retained == 1,
          "v5 retain handling 0: the retained message, flagged, on subscribe");
    int e1 = client_wait_payload(r1, "live1");
    check(e1 == 1 && rx_is(&r1->rx[0], "kept") && r1->rx[0].retained == 1,
          "v5 retain handling 1: the retained message on a new subscription");

    /* The same subscriptions again. */
    client_subscribe(r0, topic, 1, &o0);
    client_subscribe(r1, topic, 1, &o1);
    client_publish_str(pub, topic, "live2", 1, false);
    int f0 = client_wait_payload(r0, "live2");
    check(f0 == 3 && rx_is(&r0->rx[2], "kept") && r0->rx[2].retained == 1,
          "v5 retain handling 0: the retained message again on a repeated subscribe (marker at %d)", f0);
    int f1 = client_wait_payload(r1, "live2");
    check(f1 == 2, "v5 retain handling 1: nothing retained on a repeated subscribe (marker at %d, expected 2)",
          f1);
    client_publish(pub, topic, "", 0, 1, true, NULL);
out:
    client_disconnect(pub);
    client_disconnect(r0);
    client_disconnect(r1);
    client_disconnect(r2);
    client_free(pub);
    client_free(r0);
    client_free(r1);
    client_free(r2);
}

/* v5 retain as published: a live retained message keeps its retain flag for
 * a subscription with the option, and loses it for one without. */
static void scenario_retain_as_published(void)
{
    const int v = MQTTVERSION_5;
    const char *topic = "paho/v5/rap";
    struct client *pub = client_new(v, "rap-pub"), *keep = client_new(v, "rap1");
    struct client *plain = client_new(v, "rap0");
    struct sub_opts rap = { .rap = 1 };
    if (!connect_all(pub, keep, plain, NULL) || !client_subscribe(keep, topic, 1, &rap) ||
        !client_subscribe(plain, topic, 1, NULL))
        goto out;
    client_publish_str(pub, topic, "flagged", 1, true);
    client_publish_str(pub, topic, "unflagged", 1, false);
    int k = client_wait_payload(keep, "unflagged");
    check(k == 1 && rx_is(&keep->rx[0], "flagged") && keep->rx[0].retained == 1 &&
              keep->rx[1].retained == 0,
          "v5 retain as published: retain 1 kept, retain 0 kept (marker at %d, flags %d %d)", k,
          k >= 1 ? keep->rx[0].retained : -1, k >= 1 ? keep->rx[1].retained : -1);
    int p = client_wait_payload(plain, "unflagged");
    check(p == 1 && rx_is(&plain->rx[0], "flagged") && plain->rx[0].retained == 0,
          "v5 without retain as published: a live retained message arrives with retain 0 (got %d)",
          p >= 1 ? plain->rx[0].retained : -1);
    client_publish(pub, topic, "", 0, 1, true, NULL);
out:
    client_disconnect(pub);
    client_disconnect(keep);
    client_disconnect(plain);
    client_free(pub);
    client_free(keep);
    client_free(plain);
}

/* v5 topic alias from the client: a publish with a topic and alias 1 sets
 * the alias, one with an empty topic and alias 1 uses it, and a new topic
 * with alias 1 remaps it. Subscribers see full topic names, never an alias. */
static void scenario_topic_alias(void)
{
    const int v = MQTTVERSION_5;
    struct client *pub = client_new(v, "alias-pub"), *sub = client_new(v, "alias-sub");
    if (!connect_all(pub, sub, NULL) || !client_subscribe(sub, "paho/v5/alias/#", 1, NULL))
        goto out;
    if (pub->alias_max < 1) {
        printf("SKIP: v5 topic alias: the broker's CONNACK allows no topic alias (Topic Alias Maximum %d)\n",
               pub->alias_max);
        goto out;
    }
    const struct {
        const char *topic, *body, *expect;
    } steps[] = {
        { "paho/v5/alias/one", "a1", "paho/v5/alias/one" },
        { "", "a2", "paho/v5/alias/one" },
        { "paho/v5/alias/two", "a3", "paho/v5/alias/two" },
        { "", "a4", "paho/v5/alias/two" },
    };
    MQTTProperties props = MQTTProperties_initializer;
    MQTTProperty p = { .identifier = MQTTPROPERTY_CODE_TOPIC_ALIAS };
    p.value.integer2 = 1;
    MQTTProperties_add(&props, &p);
    for (int i = 0; i < 4; i++) {
        struct op *op = op_new(pub);
        int rc = client_publish_start(pub, op, steps[i].topic, steps[i].body, 2, 1, false, &props);
        if (rc != MQTTASYNC_SUCCESS && steps[i].topic[0] == '\0') {
            printf("SKIP: v5 topic alias: Paho refuses an empty topic with an alias (%s)\n",
                   MQTTAsync_strerror(rc));
            MQTTProperties_free(&props);
            goto out;
        }
        struct op seen = { 0 };
        check(rc == MQTTASYNC_SUCCESS && op_wait(op, 1, WAIT_MS, &seen),
              "v5 topic alias: publish %d (topic '%s', alias 1) is acknowledged (rc %d, reason %d)", i,
              steps[i].topic, rc, seen.reason);
    }
    MQTTProperties_free(&props);
    int got = client_wait_rx(sub, 4, WAIT_MS);
    check(got == 4, "v5 topic alias: %d of 4 messages arrived", got);
    for (int i = 0; i < got && i < 4; i++) {
        struct rx *r = &sub->rx[i];
        check(rx_is(r, steps[i].body) && strcmp(r->topic, steps[i].expect) == 0,
              "v5 topic alias: '%s' arrives on '%s' (got '%s')", steps[i].body, steps[i].expect, r->topic);
        check(!MQTTProperties_hasProperty(&r->props, MQTTPROPERTY_CODE_TOPIC_ALIAS),
              "v5 topic alias: the subscriber (topic alias maximum 0) gets no alias");
    }
    check(!client_lost(pub), "v5 topic alias: the publisher is still connected");
out:
    client_disconnect(pub);
    client_disconnect(sub);
    client_free(pub);
    client_free(sub);
}

int main(int argc, char **argv)
{
    if (argc != 2 || atoi(argv[1]) <= 0) {
        fprintf(stderr, "usage: paho_check PORT\n");
        return 2;
    }
    snprintf(server_uri, sizeof(server_uri), "tcp://127.0.0.1:%d", atoi(argv[1]));
    setvbuf(stdout, NULL, _IOLBF, 0);

    const int versions[] = { MQTTVERSION_3_1_1, MQTTVERSION_5 };
    for (int i = 0; i < 2; i++) {
        int v = versions[i];
        printf("== %s: qos 0/1/2\n", vname(v));
        scenario_qos(v);
        printf("== %s: 200 qos 1 messages in order\n", vname(v));
        scenario_order(v);
        printf("== %s: retained\n", vname(v));
        scenario_retained(v);
        printf("== %s: persistent session\n", vname(v));
        scenario_persistent(v);
    }
    printf("== v5: request/response with properties\n");
    scenario_request_response();
    printf("== v5: subscription identifiers\n");
    scenario_sub_ids();
    printf("== v5: no local\n");
    scenario_no_local();
    printf("== v5: retain handling\n");
    scenario_retain_handling();
    printf("== v5: retain as published\n");
    scenario_retain_as_published();
    printf("== v5: topic alias\n");
    scenario_topic_alias();

    printf("paho_check: %d checks, %d failed\n", n_checks, n_failed);
    return n_failed ? 1 : 0;
}
