/* The broker as a whole: its limits from the configuration, listening
 * sockets (plain and TLS) and accepting clients within the connection
 * limits, routing a message to every matching
 * subscription, in-process publishing, and freeing dead clients at a safe
 * point (before the loop sleeps). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/broker/broker_internal.h"
#include "gateway/broker/persist.h"
#include "gateway/broker/connrate.h"
#include "gateway/broker/tls.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "gateway/mqtt/topic.h"

static uint32_t clamp_u32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static void limits_from_config(struct broker_limits *l, const struct cfg_broker *cfg)
{
    l->max_packet_size = clamp_u32(cfg->max_packet_size);
    l->max_keepalive = (uint16_t)cfg->max_keepalive;
    l->receive_maximum = (uint16_t)cfg->receive_maximum;
    l->topic_alias_maximum = (uint16_t)cfg->topic_alias_maximum;
    l->max_inflight = (uint16_t)cfg->max_inflight;
    l->max_queued_messages = clamp_u32((uint64_t)cfg->max_queued_messages);
    l->max_queued_bytes = cfg->max_queued_bytes;
    l->max_session_expiry = clamp_u32((uint64_t)(cfg->max_session_expiry / 1000000));
    l->connect_timeout_ms = cfg->connect_timeout / 1000;
    l->max_connections = (uint32_t)cfg->max_connections;
    l->retain_available = cfg->retain_available;
}

static void before_sleep(struct loop *loop, void *data)
{
    (void)loop;
    broker_before_flush(data);
    client_flush_dirty(data);
    client_free_dead(data);
}

static int64_t on_expiry_timer(struct loop *loop, void *data)
{
    session_expire_offline(data, loop_now_ms(loop));
    return 1000;
}

struct broker *broker_new(struct loop *loop, const struct cfg_broker *cfg)
{
    struct broker *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->loop = loop;
    limits_from_config(&b->limits, cfg);
    strmap_init(&b->sessions);
    strmap_init(&b->retained);
    b->subs = subs_new(NULL, NULL);
    b->scratch = malloc(BROKER_SCRATCH_SIZE);
    b->listeners = calloc(cfg->n_listeners ? cfg->n_listeners : 1, sizeof(*b->listeners));
    if (cfg->max_connect_rate > 0)
        b->connrate = connrate_new((uint32_t)cfg->max_connect_rate);
    if (!b->subs || !b->listeners || !b->scratch || (cfg->max_connect_rate > 0 && !b->connrate)) {
        broker_free(b);
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        struct listener *l = &b->listeners[b->n_listeners++];
        l->fd = -1;
        l->port = (int)cfg->listeners[i].port;
        l->allow_anonymous = cfg->listeners[i].allow_anonymous;
        l->bind = strdup(cfg->listeners[i].bind);
        if (!l->bind) {
            broker_free(b);
            return NULL;
        }
        if (cfg->listeners[i].protocol == CFG_LISTENER_MQTTS) {
            /* Loaded now (cfg is not kept); a failure is logged here and
             * makes broker_listen fail like any listener that cannot start. */
            char name[300];
            snprintf(name, sizeof(name), "listener %s:%d", l->bind, l->port);
            l->tls = true;
            l->tls_identity = cfg->listeners[i].tls.use_identity_as_username;
            l->tls_ctx = tls_ctx_new(&cfg->listeners[i].tls, name);
        }
    }
    loop_set_before_sleep(loop, before_sleep, b);
    b->sessions_expiry_timer = loop_timer_add(loop, 1000, on_expiry_timer, b);
    b->started_ms = loop_clock_ms();
    b->sys_interval_ms = cfg->sys_interval / 1000;
    b->mem_limit = cfg->memory_limit;
    return b;
}

void broker_before_flush(struct broker *b)
{
    if (b->before_flush)
        b->before_flush(b->before_flush_ctx);
    persist_write(b); /* the turn's changes are on disk before its acks leave */
}

void broker_set_before_flush(struct broker *b, void (*fn)(void *ctx), void *ctx)
{
    b->before_flush = fn;
    b->before_flush_ctx = fn ? ctx : NULL;
}

/* ---- listening ------------------------------------------------------------- */

static void format_peer(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
        snprintf(buf, size, "%s:%d", host, port);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        snprintf(buf, size, "[%s]:%d", host, port);
    }
}

/* The limits a connection meets before anything is read from it: these
 * refusals are a plain close (there is no CONNECT yet to answer with a
 * CONNACK), and cost no more than the accept. */
static bool accept_allowed(struct broker *b, const struct sockaddr_storage *ss, const char *peer)
{
    if (b->n_clients >= b->limits.max_connections) {
        log_warn("broker", "connection from %s refused: max_connections (%u) reached", peer,
                 b->limits.max_connections);
        return false;
    }
    int64_t now = loop_now_ms(b->loop);
    if (b->connrate && !connrate_allow(b->connrate, ss, now)) {
        uint64_t refused;
        /* A flood must not become a flood of log lines: one a second. */
        if (connrate_log_due(b->connrate, now, &refused))
            log_warn("broker", "connection from %s refused: over max_connect_rate (%" PRIu64
                     " refused since the last report)", peer, refused);
        return false;
    }
    return true;
}

static void on_accept(struct loop *loop, int fd, uint32_t events, void *data)
{
    (void)loop;
    (void)events;
    struct listener *l = data;
    struct broker *b = l->broker;
    /* Accept everything waiting: one readiness event, many connections. */
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("broker", "accept on port %d: %s", l->port, strerror(errno));
            return;
        }
        char peer[64];
        format_peer(&ss, peer, sizeof(peer));
        if (!accept_allowed(b, &ss, peer)) {
            close(cfd);
            continue;
        }
        /* Nagle would hold small PUBLISHes back by up to one RTT/ACK delay. */
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (!client_accept(b, l, cfd, peer)) {
            log_warn("broker", "connection from %s dropped: out of memory", peer);
            close(cfd);
        }
    }
}

static int listen_one(struct broker *b, struct listener *l)
{
    if (l->tls && !l->tls_ctx) {
        log_error("broker", "cannot listen on %s:%d: its TLS settings are unusable (above)",
                  l->bind, l->port);
        return -EINVAL;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", l->port);
    int gai = getaddrinfo(l->bind, port, &hints, &ai);
    if (gai) {
        log_error("broker", "cannot listen on %s:%d: %s", l->bind, l->port, gai_strerror(gai));
        return -EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1, err = 0;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 128))
        err = -errno;
    l->loopback = ai->ai_family == AF_INET ?
        (ntohl(((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr) >> 24) == 127 :
        IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
    freeaddrinfo(ai);
    if (err) {
        log_error("broker", "cannot listen on %s:%d: %s", l->bind, l->port, strerror(-err));
        if (fd >= 0)
            close(fd);
        return err;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        l->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                : ((struct sockaddr_in6 *)&ss)->sin6_port);
    l->fd = fd;
    l->broker = b;
    if ((err = loop_fd_add(b->loop, fd, EPOLLIN, on_accept, l)) < 0) {
        close(fd);
        l->fd = -1;
        return err;
    }
    log_info("broker", "listening on %s:%d%s%s", l->bind, l->port, l->tls ? " (TLS)" : "",
             l->loopback ? " (this machine only)" : "");
    return 0;
}

static void close_listeners(struct broker *b)
{
    for (size_t i = 0; i < b->n_listeners; i++) {
        struct listener *l = &b->listeners[i];
        if (l->fd >= 0) {
            loop_fd_remove(b->loop, l->fd);
            close(l->fd);
            l->fd = -1;
        }
    }
}

int broker_listen(struct broker *b)
{
    for (size_t i = 0; i < b->n_listeners; i++) {
        int rc = listen_one(b, &b->listeners[i]);
        if (rc < 0) {
            close_listeners(b);
            return rc;
        }
    }
    sys_start(b);
    return 0;
}

int broker_reload_tls(struct broker *b, const struct cfg_broker *cfg)
{
    size_t n = b->n_listeners;
    struct ssl_ctx_st **next = calloc(n ? n : 1, sizeof(*next));
    if (!next)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct listener *l = &b->listeners[i];
        if (!l->tls)
            continue;
        if (i >= cfg->n_listeners || cfg->listeners[i].protocol != CFG_LISTENER_MQTTS) {
            log_warn("broker", "TLS listener %s:%d is not TLS listener %zu of the new "
                     "configuration: its certificates are kept (restart to change listeners)",
                     l->bind, l->port, i + 1);
            continue;
        }
        char name[300];
        snprintf(name, sizeof(name), "listener %s:%d (reload)", l->bind, l->port);
        if (!(next[i] = tls_ctx_new(&cfg->listeners[i].tls, name)))
            rc = -EINVAL;
    }
    size_t swapped = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && next[i]) {
            tls_ctx_free(b->listeners[i].tls_ctx); /* open connections keep their reference */
            b->listeners[i].tls_ctx = next[i];
            b->listeners[i].tls_identity = cfg->listeners[i].tls.use_identity_as_username;
            swapped++;
        } else {
            tls_ctx_free(next[i]);
        }
    }
    free(next);
    if (rc)
        log_error("broker", "TLS reload failed: every listener keeps its certificates");
    else if (swapped)
        log_info("broker", "TLS certificates reloaded for %zu listener(s)", swapped);
    return rc;
}

int broker_listener_port(const struct broker *b, size_t i)
{
    return i < b->n_listeners ? b->listeners[i].port : -1;
}

/* ---- routing ----------------------------------------------------------------- */

/* One message to the sessions that want it. Overlapping subscriptions of one
 * session are merged into a single delivery at the highest QoS granted, with
 * every subscription identifier (MQTT 5 §3.3.4); shared ones stay apart. */
struct route {
    struct broker *b;
    struct broker_msg *m;
    struct {
        struct session *s;
        uint8_t qos;
        bool retain;
        uint32_t ids[4];
        uint8_t n_ids;
    } *dest;
    size_t n, cap;
};

static void route_add(void *ctx, void *owner, const struct sub_options *opt)
{
    struct route *r = ctx;
    struct session *s = owner;
    if (opt->no_local && r->m->origin == s)
        return;
    uint8_t qos = r->m->qos < opt->qos ? r->m->qos : opt->qos;
    bool retain = opt->retain_as_published && r->m->retain;
    if (!opt->shared && s->last_delivery == r->b->delivery_serial) {
        for (size_t i = 0; i < r->n; i++) {
            if (r->dest[i].s == s) {
                if (qos > r->dest[i].qos)
                    r->dest[i].qos = qos;
                r->dest[i].retain |= retain;
                if (opt->id && r->dest[i].n_ids < 4)
                    r->dest[i].ids[r->dest[i].n_ids++] = opt->id;
                return;
            }
        }
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        void *p = realloc(r->dest, cap * sizeof(*r->dest));
        if (!p) {
            r->b->stats.messages_dropped++;
            return;
        }
        r->dest = p;
        r->cap = cap;
    }
    if (!opt->shared)
        s->last_delivery = r->b->delivery_serial;
    r->dest[r->n].s = s;
    r->dest[r->n].qos = qos;
    r->dest[r->n].retain = retain;
    r->dest[r->n].n_ids = opt->id ? 1 : 0;
    r->dest[r->n].ids[0] = opt->id;
    r->n++;
}

void broker_route(struct broker *b, struct broker_msg *m)
{
    struct route r = { .b = b, .m = m };
    b->delivery_serial++;
    subs_match(b->subs, m->topic, route_add, &r);
    bool behind = false;
    for (size_t i = 0; i < r.n; i++) {
        struct session *s = r.dest[i].s;
        session_deliver(s, m, r.dest[i].qos, r.dest[i].retain, r.dest[i].ids, r.dest[i].n_ids);
        behind |= s->congested && s != m->origin;
    }
    free(r.dest);
    /* Slow the publisher down rather than drop: it is read again once the
     * subscribers have caught up. In-process publishers have no socket. */
    if (behind && m->origin && m->origin->client)
        client_pause(m->origin->client);
}

void broker_publish_will(struct broker *b, struct broker_msg *will)
{
    retain_store(b, will);
    broker_route(b, will);
}

int broker_publish(struct broker *b, const char *topic, const void *payload, size_t len, int qos,
                   bool retain)
{
    size_t topic_len = strlen(topic);
    if (qos < 0 || qos > 2 || !mqtt_topic_name_valid(topic, topic_len))
        return -EINVAL;
    struct broker_msg *m = msg_new(b, topic, topic_len, payload, len, NULL, (uint8_t)qos, retain,
                                   loop_now_ms(b->loop));
    if (!m)
        return -ENOMEM;
    retain_store(b, m);
    broker_route(b, m);
    msg_unref(m);
    return 0;
}

void broker_get_stats(const struct broker *b, struct broker_stats *out)
{
    *out = b->stats;
    out->retained = b->retained.count;
    out->subscriptions = subs_count(b->subs);
}

void broker_free(struct broker *b)
{
    if (!b)
        return;
    close_listeners(b);
    while (b->clients) {
        struct client *c = b->clients;
        msg_unref(c->will); /* a server shutdown is not the client's failure */
        c->will = NULL;
        client_close(c, MQTT_RC_SERVER_SHUTTING_DOWN, "server shutting down", true);
    }
    client_free_dead(b);
    persist_close(b); /* before the sessions go: that is a shutdown, not their end */
    const char *key;
    void *value;
    for (size_t i = 0; strmap_next(&b->sessions, &i, &key, &value);)
        session_destroy(value);
    strmap_free(&b->sessions);
    retain_free_all(b);
    subs_free(b->subs);
    if (b->sessions_expiry_timer)
        loop_timer_cancel(b->loop, b->sessions_expiry_timer);
    if (b->sys_timer)
        loop_timer_cancel(b->loop, b->sys_timer);
    loop_set_before_sleep(b->loop, NULL, NULL);
    for (size_t i = 0; i < b->n_listeners; i++) {
        free(b->listeners[i].bind);
        tls_ctx_free(b->listeners[i].tls_ctx);
    }
    free(b->listeners);
    free(b->scratch);
    free(b->tls_wbuf);
    connrate_free(b->connrate);
    auth_free(b);
    free(b);
}
