/* The upstream link over Paho MQTTAsync (see uplink.h). Paho calls back on
 * its own threads; those callbacks only copy what they are told into an
 * event, append it to a list under a mutex and bump an eventfd. The loop
 * thread drains the list and does everything else: state, reconnect timer,
 * token → id mapping, the owner's callbacks. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include "bridge/uplink.h"
#include "config/template.h"
#include "drivers/backoff.h"
#include "gateway/log.h"

#define LOG_COMP "uplink"
#define CLIENT_ID_MAX 256
#define FREE_WAIT_MS 2000
#define CONNECT_TIMEOUT_S 10

enum uplink_state { UPLINK_IDLE, UPLINK_CONNECTING, UPLINK_UP, UPLINK_DOWN };

enum ev_kind { EV_CONNECTED, EV_CONNECT_FAILED, EV_LOST, EV_SENT, EV_SEND_FAILED, EV_MESSAGE,
               EV_SUB_FAILED };

/* One thing a Paho thread learned, copied for the loop thread. */
struct up_event {
    struct up_event *next;
    enum ev_kind kind;
    MQTTAsync_token token;
    int code, qos;
    bool flag;             /* session present / retain */
    char *topic;           /* EV_MESSAGE */
    void *payload;
    size_t len;
    char text[160];        /* why, for logs */
};

struct token_map {
    MQTTAsync_token token;
    uint64_t id;
};

struct sub {
    char *filter;
    int qos;
};

struct uplink {
    struct loop *loop;
    struct uplink_events ev;
    MQTTAsync client;
    int mqtt_version;                  /* MQTTVERSION_5 or MQTTVERSION_3_1_1 */
    char *status_topic, *client_id, *username, *password;
    char *ca_file, *cert_file, *key_file;
    bool tls, verify_hostname;
    int keepalive_s;
    int receive_maximum;               /* the broker's, from the last CONNACK */
    int max_buffered;                  /* Paho's maxBufferedMessages */
    bool clean_start;
    uint32_t session_expiry_s;
    struct backoff backoff;
    uint64_t retry_timer;
    enum uplink_state state;
    bool started;
    struct sub *subs;
    size_t n_subs;
    struct token_map *tokens;          /* loop thread only: publishes in flight */
    size_t n_tokens, cap_tokens;

    /* Shared with Paho's threads. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct up_event *head, *tail;
    bool disconnect_done;
    int efd;
};

/* ---- Paho threads: copy and post, nothing else --------------------------- */

static void post_event(struct uplink *u, struct up_event *e)
{
    pthread_mutex_lock(&u->lock);
    if (u->tail)
        u->tail->next = e;
    else
        u->head = e;
    u->tail = e;
    pthread_mutex_unlock(&u->lock);
    uint64_t one = 1;
    /* Fails only when the counter would overflow: readable anyway. */
    ssize_t n = write(u->efd, &one, sizeof one);
    (void)n;
}

/* The event is lost when memory is: Paho offers no way to say "later".
 * Logged, and a lost ack only means the spool sends it again. */
static struct up_event *event_new(enum ev_kind kind, MQTTAsync_token token, int code,
                                  const char *text)
{
    struct up_event *e = calloc(1, sizeof *e);
    if (!e) {
        log_error(LOG_COMP, "out of memory: an upstream event was dropped");
        return NULL;
    }
    e->kind = kind;
    e->token = token;
    e->code = code;
    if (text)
        snprintf(e->text, sizeof e->text, "%s", text);
    return e;
}

static void post_new(struct uplink *u, enum ev_kind kind, MQTTAsync_token token, int code,
                     const char *text)
{
    struct up_event *e = event_new(kind, token, code, text);
    if (e)
        post_event(u, e);
}

static void on_connection_lost(void *ctx, char *cause)
{
    post_new(ctx, EV_LOST, 0, 0, cause ? cause : "connection lost");
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct up_event *e = event_new(EV_MESSAGE, 0, 0, NULL);
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    size_t plen = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    if (e) {
        e->topic = malloc(tlen + 1);
        e->payload = malloc(plen ? plen : 1);
        if (e->topic && e->payload) {
            memcpy(e->topic, topic, tlen);
            e->topic[tlen] = '\0';
            if (plen)
                memcpy(e->payload, m->payload, plen);
            e->len = plen;
            e->qos = m->qos;
            e->flag = m->retained != 0;
            post_event(ctx, e);
        } else {
            log_error(LOG_COMP, "out of memory: a message from upstream was dropped");
            free(e->topic);
            free(e->payload);
            free(e);
        }
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_connect_ok(void *ctx, MQTTAsync_successData *r)
{
    struct up_event *e = event_new(EV_CONNECTED, 0, 0, NULL);
    if (e) {
        e->flag = r && r->alt.connect.sessionPresent;
        e->code = 65535; /* 3.1.1 has no Receive Maximum */
        post_event(ctx, e);
    }
}

static void on_connect_ok5(void *ctx, MQTTAsync_successData5 *r)
{
    struct up_event *e = event_new(EV_CONNECTED, 0, 0, NULL);
    if (e) {
        e->flag = r && r->alt.connect.sessionPresent;
        /* The broker's Receive Maximum (absent: 65535, MQTT-3.2.2.3.3). */
        int max = r ? MQTTProperties_getNumericValue(&r->properties,
                                                     MQTTPROPERTY_CODE_RECEIVE_MAXIMUM) : -1;
        e->code = max > 0 && max <= 65535 ? max : 65535;
        post_event(ctx, e);
    }
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *r)
{
    post_new(ctx, EV_CONNECT_FAILED, 0, r ? r->code : 0,
             r && r->message ? r->message : "connect failed");
}

static void on_connect_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
    char why[120];
    if (r && r->message)
        snprintf(why, sizeof why, "%s", r->message);
    else
        snprintf(why, sizeof why, "connect failed (%s)",
                 r ? MQTTReasonCode_toString(r->reasonCode) : "?");
    post_new(ctx, EV_CONNECT_FAILED, 0, r ? r->code : 0, why);
}

static void on_sent(void *ctx, MQTTAsync_successData *r)
{
    post_new(ctx, EV_SENT, r ? r->token : 0, 0, NULL);
}

static void on_sent5(void *ctx, MQTTAsync_successData5 *r)
{
    /* A PUBACK with a reason >= 0x80 is a refusal, not a delivery. */
    if (r && r->reasonCode >= 0x80)
        post_new(ctx, EV_SEND_FAILED, r->token, r->reasonCode,
                 MQTTReasonCode_toString(r->reasonCode));
    else
        post_new(ctx, EV_SENT, r ? r->token : 0, 0, NULL);
}

static void on_send_fail(void *ctx, MQTTAsync_failureData *r)
{
    post_new(ctx, EV_SEND_FAILED, r ? r->token : 0, r ? r->code : 0,
             r && r->message ? r->message : "publish failed");
}

static void on_send_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
    post_new(ctx, EV_SEND_FAILED, r ? r->token : 0, r ? r->code : 0,
             r && r->message ? r->message
                             : r ? MQTTReasonCode_toString(r->reasonCode) : "publish failed");
}

static void on_sub_fail(void *ctx, MQTTAsync_failureData *r)
{
    post_new(ctx, EV_SUB_FAILED, 0, r ? r->code : 0, "subscribe refused");
}

static void on_sub_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
    post_new(ctx, EV_SUB_FAILED, 0, r ? r->code : 0,
             r ? MQTTReasonCode_toString(r->reasonCode) : "subscribe refused");
}

/* For uplink_free, which waits outside the loop: a condition, not an event. */
static void on_disconnect_done(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    struct uplink *u = ctx;
    pthread_mutex_lock(&u->lock);
    u->disconnect_done = true;
    pthread_cond_signal(&u->cond);
    pthread_mutex_unlock(&u->lock);
}

static void on_disconnect_fail(void *ctx, MQTTAsync_failureData *r)
{
    on_disconnect_done(ctx, NULL);
    (void)r;
}

static void on_disconnect_done5(void *ctx, MQTTAsync_successData5 *r)
{
    (void)r;
    on_disconnect_done(ctx, NULL);
}

static void on_disconnect_fail5(void *ctx, MQTTAsync_failureData5 *r)
{
    (void)r;
    on_disconnect_done(ctx, NULL);
}

/* ---- loop thread: connecting -------------------------------------------- */

static void schedule_retry(struct uplink *u);

/* Paho hands over OpenSSL's error queue after a failed TLS step (bad
 * chain, unreadable ca_file or key, a mismatched key) on its own thread and
 * otherwise drops it; its failure callback only says "TCP/TLS connect
 * failure". The logger is safe from any thread, so the line goes straight
 * there. A wrong host name leaves no OpenSSL error: Paho checks it itself
 * after the handshake. Returns nonzero to get the next line too. */
static int on_tls_error(const char *str, size_t len, void *ctx)
{
    (void)ctx;
    while (len > 0 && (str[len - 1] == '\n' || str[len - 1] == '\r'))
        len--;
    log_warn(LOG_COMP, "tls: %.*s", len > INT_MAX ? INT_MAX : (int)len, str);
    return 1;
}

static void fill_ssl(const struct uplink *u, MQTTAsync_SSLOptions *ssl)
{
    ssl->trustStore = u->ca_file;       /* NULL: Paho loads OpenSSL's default paths */
    ssl->keyStore = u->cert_file;
    ssl->privateKey = u->key_file;
    /* Both checks: the chain (to ca_file or the system store) during the
     * handshake, and, with `verify`, the URL's host against the
     * certificate's names (X509_check_host, then X509_check_ip_asc). */
    ssl->enableServerCertAuth = 1;
    ssl->verify = u->verify_hostname;
    ssl->ssl_error_cb = on_tls_error;
    ssl->ssl_error_context = NULL;
    /* Paho 1.3.12 built with OpenSSL >= 1.1 creates its context with
     * TLS_client_method() and ignores this, and offers no other way to
     * raise the floor (so min_version 1.3 is only warned about). The floor
     * is then OpenSSL 3's at the security level 1 Paho sets: TLS 1.2 (a
     * TLS 1.1-only server is refused; Debian's openssl.cnf adds nothing).
     * Set for older builds. */
    ssl->sslVersion = MQTT_SSL_VERSION_TLS_1_2;
}

/* One attempt; its outcome arrives as EV_CONNECTED or EV_CONNECT_FAILED. */
static void connect_attempt(struct uplink *u)
{
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    MQTTAsync_connectOptions co5 = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_connectOptions *o = u->mqtt_version == MQTTVERSION_5 ? &co5 : &co;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    MQTTProperties props = MQTTProperties_initializer;

    will.topicName = u->status_topic;
    will.message = "offline";
    will.retained = 1;
    will.qos = 1;
    o->will = &will;
    o->keepAliveInterval = u->keepalive_s;
    o->connectTimeout = CONNECT_TIMEOUT_S;
    o->username = u->username;
    o->password = u->password;
    o->context = u;
    o->automaticReconnect = 0;         /* ours covers the first connect too */
    /* Exactly the configured version: Paho's default for 3.1.1 would try
     * 3.1 after a refusal (two handshakes per attempt, maybe a 3.1 link). */
    o->MQTTVersion = u->mqtt_version;
    if (u->tls) {
        fill_ssl(u, &ssl);
        o->ssl = &ssl;
    }
    if (u->mqtt_version == MQTTVERSION_5) {
        MQTTProperty p = { .identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL,
                           .value.integer4 = u->session_expiry_s };
        if (MQTTProperties_add(&props, &p) != 0)
            log_warn(LOG_COMP, "session expiry not sent (out of memory)");
        o->cleanstart = u->clean_start;
        o->connectProperties = &props;
        o->onSuccess5 = on_connect_ok5;
        o->onFailure5 = on_connect_fail5;
    } else {
        o->cleansession = u->clean_start;
        o->onSuccess = on_connect_ok;
        o->onFailure = on_connect_fail;
    }
    u->state = UPLINK_CONNECTING;
    int rc = MQTTAsync_connect(u->client, o);
    MQTTProperties_free(&props);
    /* Reported like any failed attempt, through the queue, so the owner's
     * callback never runs inside uplink_start. */
    if (rc != MQTTASYNC_SUCCESS)
        post_new(u, EV_CONNECT_FAILED, 0, rc, MQTTAsync_strerror(rc));
}

static int64_t retry_fire(struct loop *loop, void *data)
{
    (void)loop;
    struct uplink *u = data;
    u->retry_timer = 0;
    connect_attempt(u);
    return LOOP_TIMER_STOP;
}

static void schedule_retry(struct uplink *u)
{
    if (u->retry_timer)
        return;
    int64_t wait = backoff_next(&u->backoff);
    u->retry_timer = loop_timer_add(u->loop, wait, retry_fire, u);
    if (!u->retry_timer)
        log_error(LOG_COMP, "no reconnect timer (out of memory): upstream stays down");
    else
        log_info(LOG_COMP, "reconnecting in %lld ms", (long long)wait);
}

/* ---- loop thread: sending ---------------------------------------------- */

static int map_rc(int rc)
{
    switch (rc) {
    case MQTTASYNC_SUCCESS: return 0;
    case MQTTASYNC_DISCONNECTED: return -ENOTCONN;
    case MQTTASYNC_MAX_MESSAGES_INFLIGHT:
    case MQTTASYNC_MAX_BUFFERED_MESSAGES:
    case MQTTASYNC_NO_MORE_MSGIDS: return -ENOBUFS;
    case MQTTASYNC_BAD_UTF8_STRING:
    case MQTTASYNC_NULL_PARAMETER:
    case MQTTASYNC_TOPICNAME_TRUNCATED:
    case MQTTASYNC_BAD_QOS: return -EINVAL;
    default: return -EIO;
    }
}

static int send_raw(struct uplink *u, const char *topic, const void *payload, size_t len, int qos,
                    bool retain, MQTTAsync_token *token)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.context = u;
    if (u->mqtt_version == MQTTVERSION_5) {
        ro.onSuccess5 = on_sent5;
        ro.onFailure5 = on_send_fail5;
    } else {
        ro.onSuccess = on_sent;
        ro.onFailure = on_send_fail;
    }
    int rc = MQTTAsync_send(u->client, topic, (int)len, payload, qos, retain, &ro);
    if (token)
        *token = ro.token;
    return map_rc(rc);
}

/* Room for one more mapping, made before the send so that a token Paho
 * has taken is never left unmapped. */
static int token_reserve(struct uplink *u)
{
    if (u->n_tokens < u->cap_tokens)
        return 0;
    size_t cap = u->cap_tokens ? u->cap_tokens * 2 : 16;
    struct token_map *t = realloc(u->tokens, cap * sizeof *t);
    if (!t)
        return -ENOMEM;
    u->tokens = t;
    u->cap_tokens = cap;
    return 0;
}

/* The ack cannot overtake this: it is handled on this thread, later.
 * QoS 0 sends all have token 0 and complete in the order sent (one Paho
 * send thread), so they are kept in order and matched oldest first. A
 * nonzero token already mapped belongs to a send Paho dropped without a
 * word (it reuses tokens only once free): the new one replaces it. */
static void token_put(struct uplink *u, MQTTAsync_token token, uint64_t id)
{
    for (size_t i = 0; token != 0 && i < u->n_tokens; i++) {
        if (u->tokens[i].token == token) {
            u->tokens[i].id = id;
            return;
        }
    }
    u->tokens[u->n_tokens++] = (struct token_map){ token, id };
}

static void token_remove_at(struct uplink *u, size_t i)
{
    memmove(&u->tokens[i], &u->tokens[i + 1], (u->n_tokens - i - 1) * sizeof *u->tokens);
    u->n_tokens--;
}

/* Removes the (oldest) mapping; false when the token is not ours (the
 * status message) or was already reported. */
static bool token_take(struct uplink *u, MQTTAsync_token token, uint64_t *id)
{
    for (size_t i = 0; i < u->n_tokens; i++) {
        if (u->tokens[i].token == token) {
            *id = u->tokens[i].id;
            token_remove_at(u, i);
            return true;
        }
    }
    return false;
}

/* QoS 0 sends not reported by a loss are forgotten: Paho does not carry
 * them over, and a stale one must not shift the order of new ones. */
static void tokens_drop_qos0(struct uplink *u)
{
    size_t kept = 0;
    for (size_t i = 0; i < u->n_tokens; i++)
        if (u->tokens[i].token != 0)
            u->tokens[kept++] = u->tokens[i];
    u->n_tokens = kept;
}

int uplink_publish(struct uplink *u, const char *topic, const void *payload, size_t len, int qos,
                   bool retain, uint64_t id)
{
    if (!topic || !*topic || qos < 0 || qos > 2 || len > INT_MAX || (len && !payload))
        return -EINVAL;
    if (u->state != UPLINK_UP)
        return -ENOTCONN;
    if (token_reserve(u))
        return -ENOMEM;
    MQTTAsync_token token = 0;
    int rc = send_raw(u, topic, payload, len, qos, retain, &token);
    if (rc == 0)
        token_put(u, token, id);
    return rc;
}

static void subscribe_one(struct uplink *u, const struct sub *s)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.context = u;
    if (u->mqtt_version == MQTTVERSION_5)
        ro.onFailure5 = on_sub_fail5;
    else
        ro.onFailure = on_sub_fail;
    int rc = MQTTAsync_subscribe(u->client, s->filter, s->qos, &ro);
    if (rc != MQTTASYNC_SUCCESS)
        log_warn(LOG_COMP, "subscribe %s: %s", s->filter, MQTTAsync_strerror(rc));
}

int uplink_subscribe(struct uplink *u, const char *filter, int qos)
{
    if (!filter || !*filter || qos < 0 || qos > 2)
        return -EINVAL;
    struct sub *s = NULL;
    for (size_t i = 0; i < u->n_subs; i++)
        if (strcmp(u->subs[i].filter, filter) == 0)
            s = &u->subs[i];
    if (!s) {
        char *copy = strdup(filter);
        struct sub *more = copy ? realloc(u->subs, (u->n_subs + 1) * sizeof *more) : NULL;
        if (!more) {
            free(copy);
            return -ENOMEM;
        }
        u->subs = more;
        s = &u->subs[u->n_subs++];
        s->filter = copy;
    }
    s->qos = qos;
    if (u->state == UPLINK_UP)
        subscribe_one(u, s);
    return 0;
}

/* ---- loop thread: events ------------------------------------------------ */

static void handle_connected(struct uplink *u, bool session_present, int receive_maximum)
{
    u->state = UPLINK_UP;
    u->receive_maximum = receive_maximum;
    backoff_reset(&u->backoff);
    log_info(LOG_COMP, "connected upstream (session %s)", session_present ? "resumed" : "new");
    int rc = send_raw(u, u->status_topic, "online", 6, 1, true, NULL);
    if (rc)
        log_warn(LOG_COMP, "status 'online' not sent: %s", strerror(-rc));
    for (size_t i = 0; i < u->n_subs; i++)
        subscribe_one(u, &u->subs[i]);
    if (u->ev.connected)
        u->ev.connected(u->ev.ctx, session_present);
}

static void handle_down(struct uplink *u, const char *why)
{
    /* A loss reported after a failed attempt, or twice, changes nothing. */
    if (u->state != UPLINK_UP && u->state != UPLINK_CONNECTING)
        return;
    log_warn(LOG_COMP, "upstream down: %s", why);
    u->state = UPLINK_DOWN;
    tokens_drop_qos0(u);
    if (u->ev.disconnected)
        u->ev.disconnected(u->ev.ctx, why);
    schedule_retry(u);
}

static void handle_event(struct uplink *u, const struct up_event *e)
{
    uint64_t id;
    switch (e->kind) {
    case EV_CONNECTED:
        handle_connected(u, e->flag, e->code);
        break;
    case EV_CONNECT_FAILED:
    case EV_LOST:
        handle_down(u, e->text);
        break;
    case EV_SENT:
        if (token_take(u, e->token, &id) && u->ev.delivered)
            u->ev.delivered(u->ev.ctx, id);
        break;
    case EV_SEND_FAILED:
        /* Not delivered: the caller still holds it and sends it again. */
        if (token_take(u, e->token, &id))
            log_warn(LOG_COMP, "publish %llu not acknowledged: %s", (unsigned long long)id,
                     e->text);
        break;
    case EV_MESSAGE:
        if (u->ev.message)
            u->ev.message(u->ev.ctx, e->topic, e->payload, e->len, e->qos, e->flag);
        break;
    case EV_SUB_FAILED:
        log_warn(LOG_COMP, "subscribe failed: %s", e->text);
        break;
    }
}

static void event_free(struct up_event *e)
{
    free(e->topic);
    free(e->payload);
    free(e);
}

static struct up_event *take_events(struct uplink *u)
{
    pthread_mutex_lock(&u->lock);
    uint64_t v;
    /* Drained under the lock, so a post that follows signals again. */
    ssize_t n = read(u->efd, &v, sizeof v);
    (void)n;
    struct up_event *list = u->head;
    u->head = u->tail = NULL;
    pthread_mutex_unlock(&u->lock);
    return list;
}

static void on_efd(struct loop *loop, int fd, uint32_t events, void *data)
{
    (void)loop;
    (void)fd;
    (void)events;
    struct uplink *u = data;
    struct up_event *e = take_events(u);
    while (e) {
        struct up_event *next = e->next;
        handle_event(u, e);
        event_free(e);
        e = next;
    }
}

/* ---- lifetime ---------------------------------------------------------- */

static char *dup_or_null(const char *s, bool *fail)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *fail = true;
    return d;
}

/* mqtt://h:p → tcp://h:p, mqtts:// → ssl:// (Paho's names); default ports
 * 1883 and 8883, which Paho fills in itself. */
static char *server_uri(const char *url, bool *tls)
{
    const char *rest;
    if (strncmp(url, "mqtt://", 7) == 0) {
        rest = url + 7;
        *tls = false;
    } else if (strncmp(url, "mqtts://", 8) == 0) {
        rest = url + 8;
        *tls = true;
    } else {
        errno = EINVAL;
        return NULL;
    }
    char *uri;
    if (asprintf(&uri, "%s://%s", *tls ? "ssl" : "tcp", rest) < 0) {
        errno = ENOMEM;
        return NULL;
    }
    return uri;
}

static int64_t us_to_ms(int64_t us)
{
    return us / 1000;
}

static uint64_t seed_of(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ^ (uint64_t)getpid() ^ (uint64_t)time(NULL);
}

static int copy_settings(struct uplink *u, const struct cfg_bridge *cfg, const char *gateway,
                         const char *status_topic, char *err, size_t errlen)
{
    char id[CLIENT_ID_MAX];
    struct template_values vals = { 0 };
    template_values_set(&vals, TVAR_GATEWAY, gateway);
    const char *tmpl = cfg->client_id.text ? cfg->client_id.text : "{gateway}-bridge";
    if (template_render(tmpl, &vals, id, sizeof id) >= sizeof id) {
        snprintf(err, errlen, "bridge client id is longer than %d bytes", CLIENT_ID_MAX - 1);
        return -EINVAL;
    }
    bool fail = false;
    u->client_id = dup_or_null(id, &fail);
    u->status_topic = dup_or_null(status_topic, &fail);
    u->username = dup_or_null(cfg->username, &fail);
    u->password = dup_or_null(cfg->password, &fail);
    u->ca_file = dup_or_null(cfg->tls.ca_file, &fail);
    u->cert_file = dup_or_null(cfg->tls.cert_file, &fail);
    u->key_file = dup_or_null(cfg->tls.key_file, &fail);
    if (fail) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    u->verify_hostname = cfg->tls.verify_hostname;
    u->mqtt_version = cfg->mqtt_version == CFG_MQTT_5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
    u->keepalive_s = (int)(cfg->keepalive / 1000000);
    u->receive_maximum = 65535;
    u->max_buffered = (int)cfg->spool.max_inflight + 16;
    u->clean_start = cfg->clean_start;
    int64_t exp_s = cfg->session_expiry / 1000000;
    u->session_expiry_s = exp_s > UINT32_MAX ? UINT32_MAX : (uint32_t)exp_s;
    backoff_init(&u->backoff, us_to_ms(cfg->reconnect_min), us_to_ms(cfg->reconnect_max),
                 seed_of(id));
    if (cfg->tls.min_version == CFG_TLS_1_3)
        log_warn(LOG_COMP, "bridge tls min_version 1.3 is not enforced: Paho 1.3 has no "
                           "setting for it (TLS 1.2 stays allowed)");
    return 0;
}

static int create_client(struct uplink *u, const char *url, char *err, size_t errlen)
{
    char *uri = server_uri(url, &u->tls);
    if (!uri) {
        int e = errno;
        snprintf(err, errlen, e == EINVAL ? "bridge url '%s': expected mqtt:// or mqtts://"
                                          : "out of memory (%s)", url);
        return -e;
    }
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    MQTTAsync_createOptions co5 = MQTTAsync_createOptions_initializer5;
    MQTTAsync_createOptions *o = u->mqtt_version == MQTTVERSION_5 ? &co5 : &co;
    o->MQTTVersion = u->mqtt_version;
    /* Paho refuses a send once this many wait in its queue, connected or
     * not, and does not wake its send thread when one is refused: keep it
     * above any window the caller uses (uplink_send_quota). */
    o->maxBufferedMessages = u->max_buffered;
    int rc = MQTTAsync_createWithOptions(&u->client, uri, u->client_id,
                                         MQTTCLIENT_PERSISTENCE_NONE, NULL, o);
    free(uri);
    if (rc == MQTTASYNC_SUCCESS)
        rc = MQTTAsync_setCallbacks(u->client, u, on_connection_lost, on_message, NULL);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "upstream client: %s", MQTTAsync_strerror(rc));
        return rc == MQTTASYNC_BAD_PROTOCOL ? -EINVAL : -EIO;
    }
    return 0;
}

static int init_handoff(struct uplink *u, char *err, size_t errlen)
{
    u->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (u->efd < 0) {
        int e = errno;
        snprintf(err, errlen, "eventfd: %s", strerror(e));
        return -e;
    }
    int rc = loop_fd_add(u->loop, u->efd, EPOLLIN, on_efd, u);
    if (rc < 0) {
        snprintf(err, errlen, "watching the eventfd: %s", strerror(-rc));
        close(u->efd);
        u->efd = -1;
    }
    return rc;
}

static void free_settings(struct uplink *u)
{
    free(u->client_id);
    free(u->status_topic);
    free(u->username);
    free(u->password);
    free(u->ca_file);
    free(u->cert_file);
    free(u->key_file);
    for (size_t i = 0; i < u->n_subs; i++)
        free(u->subs[i].filter);
    free(u->subs);
    free(u->tokens);
}

int uplink_new(const struct cfg_bridge *cfg, const char *gateway_name, const char *status_topic,
               struct loop *loop, const struct uplink_events *ev, struct uplink **out,
               char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg || !cfg->url || !gateway_name || !status_topic || !*status_topic || !loop) {
        snprintf(err, errlen, "uplink: missing url, gateway name, status topic or loop");
        return -EINVAL;
    }
    struct uplink *u = calloc(1, sizeof *u);
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    u->loop = loop;
    u->efd = -1;
    if (ev)
        u->ev = *ev;
    pthread_mutex_init(&u->lock, NULL);
    pthread_cond_init(&u->cond, NULL);
    int rc = copy_settings(u, cfg, gateway_name, status_topic, err, errlen);
    if (!rc)
        rc = init_handoff(u, err, errlen);
    if (!rc)
        rc = create_client(u, cfg->url, err, errlen);
    if (rc) {
        uplink_free(u, false);
        return rc;
    }
    *out = u;
    return 0;
}

int uplink_start(struct uplink *u)
{
    if (u->started)
        return -EALREADY;
    u->started = true;
    connect_attempt(u);
    return 0;
}

bool uplink_connected(const struct uplink *u)
{
    return u->state == UPLINK_UP;
}

int uplink_send_quota(const struct uplink *u)
{
    /* One slot stays for "online" and other messages of the uplink's own. */
    int quota = u->receive_maximum - 1;
    if (quota > u->max_buffered - 1)
        quota = u->max_buffered - 1;
    return quota > 1 ? quota : 1;
}

/* Bounded wait for the DISCONNECT to go out (uplink_free is not on the loop
 * any more, so this is a condition variable, not an event). */
static void wait_disconnect(struct uplink *u)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += FREE_WAIT_MS / 1000;
    pthread_mutex_lock(&u->lock);
    while (!u->disconnect_done)
        if (pthread_cond_timedwait(&u->cond, &u->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&u->lock);
}

/* final: leave saying "offline" (the will); else a normal DISCONNECT, which
 * makes the broker discard the will (a reload, where a new link follows). */
static void disconnect_now(struct uplink *u, bool final)
{
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    MQTTAsync_disconnectOptions d5 = MQTTAsync_disconnectOptions_initializer5;
    MQTTAsync_disconnectOptions *o = u->mqtt_version == MQTTVERSION_5 ? &d5 : &d;
    o->context = u;
    o->timeout = FREE_WAIT_MS / 2;
    if (u->mqtt_version == MQTTVERSION_5) {
        /* Leave as if lost: the broker publishes the will, "offline". */
        if (final)
            o->reasonCode = MQTTREASONCODE_DISCONNECT_WITH_WILL_MESSAGE;
        o->onSuccess5 = on_disconnect_done5;
        o->onFailure5 = on_disconnect_fail5;
    } else {
        /* 3.1.1 has no such reason: say it ourselves before leaving. */
        if (final)
            send_raw(u, u->status_topic, "offline", 7, 1, true, NULL);
        o->onSuccess = on_disconnect_done;
        o->onFailure = on_disconnect_fail;
    }
    if (MQTTAsync_disconnect(u->client, o) == MQTTASYNC_SUCCESS)
        wait_disconnect(u);
}

void uplink_free(struct uplink *u, bool final)
{
    if (!u)
        return;
    if (u->retry_timer)
        loop_timer_cancel(u->loop, u->retry_timer);
    if (u->client) {
        if (MQTTAsync_isConnected(u->client))
            disconnect_now(u, final);
        MQTTAsync_destroy(&u->client);
    }
    if (u->efd >= 0) {
        loop_fd_remove(u->loop, u->efd);
        close(u->efd);
    }
    struct up_event *e = u->head;
    while (e) {
        struct up_event *next = e->next;
        event_free(e);
        e = next;
    }
    free_settings(u);
    pthread_cond_destroy(&u->cond);
    pthread_mutex_destroy(&u->lock);
    free(u);
}
