/* One client connection: non-blocking reads that take every complete packet
 * per readiness event, dispatch to the packet handlers, an output queue
 * written with writev (PUBLISH payloads shared, never copied), keep-alive and
 * connect timeouts, and closing at a safe point. On an mqtts listener the
 * loop first drives the TLS handshake, then reads and writes go through it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gateway/broker/broker_internal.h"
#include "gateway/broker/tls.h"
#include "gateway/log.h"
#include "gateway/loop.h"

/* Bytes read per readiness event before other clients get their turn. */
#define READ_BUDGET (256 * 1024)
#define READ_CHUNK 16384
/* The most one TLS record carries: the unit a TLS flush gathers. */
#define TLS_RECORD 16384
/* Room for a PUBLISH's head (fixed header, topic, properties). */
#define PUBLISH_HEAD_CAP 1024

static void client_flush(struct client *c);

static void update_events(struct client *c)
{
    bool want = c->out_head != NULL || c->tls_read_wants_write;
    if (want != c->want_write) {
        c->want_write = want;
        loop_fd_modify(c->broker->loop, c->fd,
                       (c->paused ? 0 : EPOLLIN) | (want ? EPOLLOUT : 0));
    }
}

static int rbuf_reserve(struct client *c, size_t need)
{
    if (c->rcap >= need)
        return 0;
    size_t cap = c->rcap ? c->rcap : READ_CHUNK;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(c->rbuf, cap);
    if (!p)
        return -1;
    broker_mem_add(c->broker, cap - c->rcap);
    c->rbuf = p;
    c->rcap = cap;
    return 0;
}

static int dispatch(struct client *c, const struct mqtt_packet *p)
{
    if (!c->connected && p->type != MQTT_CONNECT)
        return MQTT_RC_PROTOCOL_ERROR;
    if (c->connected && p->type == MQTT_CONNECT)
        return MQTT_RC_PROTOCOL_ERROR;
    switch (p->type) {
    case MQTT_CONNECT: return handle_connect(c, &p->u.connect);
    case MQTT_PUBLISH: return handle_publish(c, &p->u.publish);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP: return handle_ack(c, &p->u.ack);
    case MQTT_SUBSCRIBE: return handle_subscribe(c, &p->u.subscribe);
    case MQTT_UNSUBSCRIBE: return handle_unsubscribe(c, &p->u.unsubscribe);
    case MQTT_PINGREQ:
    case MQTT_DISCONNECT:
    case MQTT_AUTH: return handle_control(c, p);
    default: return MQTT_RC_PROTOCOL_ERROR; /* server-to-client packets */
    }
}

/* A CONNECT the codec refused for a reason CONNACK can carry gets a CONNACK
 * saying so (MQTT-3.2.2-4/5), in the form of the client's protocol level
 * (3.1.1 form for levels we do not speak); other problems just close. */
static void refuse_bad_connect(struct client *c, uint8_t reason, const uint8_t *body, size_t len)
{
    if (reason != MQTT_RC_UNSUPPORTED_VERSION && reason != MQTT_RC_CLIENT_ID_INVALID)
        return;
    /* body: protocol name (2 + 4 bytes), then the level */
    int level = len > 6 ? body[6] : 0;
    int version = level == MQTT_V5 ? MQTT_V5 : MQTT_V311;
    struct mqtt_connack ack = { .reason = version == MQTT_V5 ? reason
                                                            : mqtt_connack_v311_code(reason) };
    uint8_t buf[16];
    size_t n = mqtt_encode_connack(buf, sizeof(buf), &ack, version);
    if (n && n <= sizeof(buf))
        client_send(c, buf, n);
}

/* Handle every complete packet at the start of buf. Returns the bytes used
 * (the rest is a partial packet, or packets left for after a pause), or -1
 * when the client was closed. */
static long process_packets(struct client *c, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (!c->closed && off < len) {
        struct mqtt_fixed_header hdr;
        const char *why = NULL;
        int rc = mqtt_decode_fixed_header(buf + off, len - off, c->broker->limits.max_packet_size,
                                          &hdr, &why);
        if (rc < 0) {
            client_close(c, (uint8_t)-rc, why, false);
            return -1;
        }
        size_t size = hdr.header_len + (size_t)hdr.remaining;
        if (rc == 0 || len - off < size)
            break;
        struct mqtt_packet pkt;
        rc = mqtt_decode(buf + off, size, c->version ? c->version : MQTT_V311,
                         c->broker->limits.max_packet_size, &pkt, &why);
        if (rc <= 0) {
            uint8_t reason = rc < 0 ? (uint8_t)-rc : MQTT_RC_MALFORMED_PACKET;
            if (!c->connected)
                refuse_bad_connect(c, reason, buf + off + hdr.header_len, hdr.remaining);
            client_close(c, reason, why ? why : "malformed packet", false);
            return -1;
        }
        if (pkt.type == MQTT_PUBLISH && broker_mem_hold(c, &pkt.u.publish))
            break; /* memory_limit: handled on resume, the rest waits behind it */
        c->broker->stats.bytes_received += size;
        int reason = dispatch(c, &pkt);
        if (reason) {
            client_close(c, (uint8_t)reason, mqtt_reason_name((unsigned)reason), false);
            return -1;
        }
        off += size;
        if (c->paused)
            break; /* back-pressure: the rest waits in rbuf */
    }
    return c->closed ? -1 : (long)off;
}

/* Idle connections hold no read buffer: rbuf exists only while a partial
 * packet (or input held back by a pause) is waiting. */
static void rbuf_release_if_empty(struct client *c)
{
    if (c->rlen == 0 && c->rbuf) {
        broker_mem_sub(c->broker, c->rcap);
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
}

/* Handle the packets in rbuf. Returns false when the client closed. */
static bool process_input(struct client *c)
{
    if (c->rlen == 0)
        return true; /* a resume with nothing held back: rbuf may be NULL */
    long used = process_packets(c, c->rbuf, c->rlen);
    if (used < 0)
        return false;
    memmove(c->rbuf, c->rbuf + used, c->rlen - (size_t)used);
    c->rlen -= (size_t)used;
    rbuf_release_if_empty(c);
    return true;
}

void client_process_buffered(struct client *c)
{
    process_input(c);
}

/* read(2), or SSL_read on a TLS connection with its outcome told the same
 * way (-1 and errno EAGAIN: wait for the socket). A TLS failure closes the
 * client here, where its reason is known. */
static ssize_t conn_read(struct client *c, void *buf, size_t len)
{
    if (!c->ssl)
        return read(c->fd, buf, len);
    size_t n;
    const char *why = NULL;
    switch (tls_read(c->ssl, buf, len, &n, &why)) {
    case TLS_DONE: return (ssize_t)n;
    case TLS_CLOSED: return 0;
    case TLS_WANT_WRITE:
        c->tls_read_wants_write = true; /* e.g. a TLS 1.3 key update answer */
        update_events(c);
        errno = EAGAIN;
        return -1;
    case TLS_WANT_READ: errno = EAGAIN; return -1;
    case TLS_FAILED: break;
    }
    client_close(c, 0, why, false);
    errno = EPROTO;
    return -1;
}

/* Read into the broker's shared buffer and handle what is complete there;
 * only a leftover is copied to the client's own buffer. */
static bool read_shared(struct client *c, ssize_t *n)
{
    struct broker *b = c->broker;
    *n = conn_read(c, b->scratch, BROKER_SCRATCH_SIZE);
    if (*n <= 0)
        return true;
    c->last_rx_ms = loop_now_ms(b->loop);
    long used = process_packets(c, b->scratch, (size_t)*n);
    if (used < 0)
        return false;
    size_t left = (size_t)*n - (size_t)used;
    if (left && rbuf_reserve(c, left)) {
        client_close(c, MQTT_RC_SERVER_BUSY, "out of memory", false);
        return false;
    }
    if (left)
        memcpy(c->rbuf, b->scratch + used, left);
    c->rlen = left;
    return true;
}

/* Continue a partial packet in the client's own buffer. */
static bool read_own(struct client *c, ssize_t *n)
{
    if (rbuf_reserve(c, c->rlen + READ_CHUNK)) {
        client_close(c, MQTT_RC_SERVER_BUSY, "out of memory", false);
        return false;
    }
    *n = conn_read(c, c->rbuf + c->rlen, c->rcap - c->rlen);
    if (*n <= 0)
        return true;
    c->rlen += (size_t)*n;
    c->last_rx_ms = loop_now_ms(c->broker->loop);
    return process_input(c);
}

static bool tls_has_pending(struct client *c)
{
    return c->ssl && !c->closed && tls_pending(c->ssl) > 0;
}

/* A pause stops reading, but bytes OpenSSL already decrypted would not wake
 * the socket again: they join the held-back input in rbuf (one record at
 * most). */
static void tls_stash_pending(struct client *c)
{
    while (tls_has_pending(c)) {
        if (rbuf_reserve(c, c->rlen + tls_pending(c->ssl))) {
            client_close(c, MQTT_RC_SERVER_BUSY, "out of memory", false);
            return;
        }
        ssize_t n = conn_read(c, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (n <= 0)
            return;
        c->rlen += (size_t)n;
    }
}

static void client_read(struct client *c)
{
    size_t budget = READ_BUDGET;
    /* Past the budget, a TLS record already decrypted is still taken: the
     * socket would not report it. */
    while ((budget > 0 || tls_has_pending(c)) && !c->closed && !c->paused) {
        ssize_t n;
        if (!(c->rlen == 0 ? read_shared(c, &n) : read_own(c, &n)))
            return;
        if (n == 0) {
            client_close(c, 0, "connection closed by client", false);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                client_close(c, 0, strerror(errno), false);
            return;
        }
        budget -= (size_t)n < budget ? (size_t)n : budget;
    }
    if (c->paused)
        tls_stash_pending(c);
}

/* One step of the TLS handshake, which the loop drives: it waits for what
 * OpenSSL asks. Once done, the client certificate's CN is taken when the
 * listener uses it as the username, and CONNECT may be read (it may even
 * have come with the handshake's last flight). */
static void tls_step_handshake(struct client *c)
{
    const char *why = NULL;
    enum tls_status st = tls_handshake(c->ssl, &why);
    if (st == TLS_WANT_READ || st == TLS_WANT_WRITE) {
        loop_fd_modify(c->broker->loop, c->fd, st == TLS_WANT_READ ? EPOLLIN : EPOLLOUT);
        return;
    }
    if (st != TLS_DONE) {
        char text[300];
        snprintf(text, sizeof(text), "TLS handshake failed: %s", why ? why : "?");
        client_close(c, 0, text, false);
        return;
    }
    c->tls_handshaking = false;
    if (c->listener->tls_identity && !(c->tls_identity = tls_peer_cn(c->ssl))) {
        client_close(c, 0, "TLS: no usable CN in the client certificate", false);
        return;
    }
    c->want_write = false;
    loop_fd_modify(c->broker->loop, c->fd, EPOLLIN);
    log_debug("broker", "TLS handshake with %s done%s%s", c->peer,
              c->tls_identity ? ", identity " : "", c->tls_identity ? c->tls_identity : "");
    client_read(c);
}

static void on_io(struct loop *loop, int fd, uint32_t events, void *data)
{
    (void)loop;
    (void)fd;
    struct client *c = data;
    if (c->tls_handshaking) {
        tls_step_handshake(c);
        return;
    }
    if (c->tls_read_wants_write && (events & EPOLLOUT)) {
        c->tls_read_wants_write = false;
        events |= EPOLLIN;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        client_read(c);
    if (!c->closed && (events & EPOLLOUT)) {
        broker_before_flush(c->broker); /* acks of this read leave after the hook */
        client_flush(c);
    }
}

/* Keep alive (1.5 × the client's interval, MQTT-3.1.2-24) and the time a new
 * connection has to send CONNECT. */
static int64_t on_timer(struct loop *loop, void *data)
{
    struct client *c = data;
    int64_t now = loop_now_ms(loop);
    if (!c->connected) {
        client_close(c, 0, c->tls_handshaking ? "TLS handshake not finished in time"
                                              : "no CONNECT in time", false);
        c->timer = 0;
        return LOOP_TIMER_STOP;
    }
    if (c->keepalive == 0)
        return LOOP_TIMER_STOP;
    int64_t limit = (int64_t)c->keepalive * 1500;
    int64_t idle = now - c->last_rx_ms;
    if (idle >= limit) {
        c->timer = 0;
        client_close(c, MQTT_RC_KEEP_ALIVE_TIMEOUT, "keep alive timeout", false);
        return LOOP_TIMER_STOP;
    }
    return limit - idle;
}

void client_start_keepalive(struct client *c)
{
    if (c->timer)
        loop_timer_cancel(c->broker->loop, c->timer);
    c->timer = c->keepalive ? loop_timer_add(c->broker->loop, (int64_t)c->keepalive * 1500,
                                             on_timer, c) : 0;
}

struct client *client_accept(struct broker *b, const struct listener *l, int fd, const char *peer)
{
    struct client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->broker = b;
    c->listener = l;
    c->fd = fd;
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    c->last_rx_ms = loop_now_ms(b->loop);
    if (l->tls) {
        c->ssl = tls_conn_new(l->tls_ctx, fd);
        c->tls_handshaking = true;
    }
    if ((l->tls && !c->ssl) || loop_fd_add(b->loop, fd, EPOLLIN, on_io, c) < 0) {
        tls_conn_free(c->ssl);
        free(c);
        return NULL;
    }
    /* For TLS the deadline covers the handshake too: a client that never
     * finishes it is cut off at the same time as one that never sends CONNECT. */
    c->timer = loop_timer_add(b->loop, b->limits.connect_timeout_ms, on_timer, c);
    c->next = b->clients;
    b->clients = c;
    b->n_clients++;
    return c;
}

/* ---- output ---------------------------------------------------------------- */

/* The item's allocation; its message is counted on its own (msg.c). */
static size_t out_item_size(const struct out_item *it)
{
    return sizeof(*it) + (it->msg ? PUBLISH_HEAD_CAP : it->head_len);
}

static void out_append(struct client *c, struct out_item *it)
{
    it->next = NULL;
    if (c->out_tail)
        c->out_tail->next = it;
    else
        c->out_head = it;
    c->out_tail = it;
    c->out_bytes += it->head_len + (it->msg ? it->msg->payload_len : 0);
    broker_mem_add(c->broker, out_item_size(it));
}

/* Writes wait for the end of the loop turn, so the packets a turn produces
 * for one client leave in one writev (under load: far fewer syscalls; when
 * idle the turn ends at once, so no latency is added). */
static void mark_dirty(struct client *c)
{
    if (c->dirty || c->want_write)
        return; /* already due, or waiting for EPOLLOUT */
    c->dirty = true;
    c->dirty_next = c->broker->dirty;
    c->broker->dirty = c;
}

void client_flush_dirty(struct broker *b)
{
    while (b->dirty) {
        struct client *c = b->dirty;
        b->dirty = c->dirty_next;
        c->dirty = false;
        if (!c->closed)
            client_flush(c);
    }
}

static void out_item_free(struct client *c, struct out_item *it)
{
    broker_mem_sub(c->broker, out_item_size(it));
    msg_unref(it->msg);
    free(it);
}

/* The unsent bytes at the head of the queue as iovecs (at most `max`). */
static int gather_iov(const struct client *c, struct iovec *iov, int max)
{
    int n = 0;
    for (struct out_item *it = c->out_head; it && n < max - 1; it = it->next) {
        size_t sent = it->sent;
        if (sent < it->head_len)
            iov[n++] = (struct iovec){ it->head + sent, it->head_len - sent };
        size_t psent = sent > it->head_len ? sent - it->head_len : 0;
        if (it->msg && psent < it->msg->payload_len)
            iov[n++] = (struct iovec){ it->msg->payload + psent, it->msg->payload_len - psent };
    }
    return n;
}

/* TLS has no writev: up to one record's worth of the queue is copied into
 * one buffer and written at once (one record, one syscall, rather than one
 * of each per packet). A retry after WANT_WRITE regathers from the same
 * unsent byte, at least as many bytes, as OpenSSL requires. Returns like
 * writev. */
static ssize_t write_tls(struct client *c)
{
    struct broker *b = c->broker;
    if (!b->tls_wbuf && !(b->tls_wbuf = malloc(TLS_RECORD))) {
        errno = ENOMEM;
        return -1;
    }
    struct iovec iov[64];
    int n = gather_iov(c, iov, 64);
    size_t len = 0;
    for (int i = 0; i < n && len < TLS_RECORD; i++) {
        size_t take = iov[i].iov_len < TLS_RECORD - len ? iov[i].iov_len : TLS_RECORD - len;
        memcpy(b->tls_wbuf + len, iov[i].iov_base, take);
        len += take;
    }
    size_t w;
    const char *why = NULL;
    switch (tls_write(c->ssl, b->tls_wbuf, len, &w, &why)) {
    case TLS_DONE: return (ssize_t)w;
    case TLS_WANT_READ:
    case TLS_WANT_WRITE: errno = EAGAIN; return -1;
    case TLS_CLOSED: errno = EPIPE; return -1;
    case TLS_FAILED: break;
    }
    log_debug("broker", "TLS write to %s: %s", c->peer, why ? why : "?");
    errno = EPROTO;
    return -1;
}

static ssize_t write_plain(struct client *c)
{
    struct iovec iov[64];
    int n = gather_iov(c, iov, 63);
    return writev(c->fd, iov, n);
}

/* Write as much of the queue as the socket takes, in one writev per round. */
static void client_flush(struct client *c)
{
    while (c->out_head && !c->closed) {
        ssize_t w = c->ssl ? write_tls(c) : write_plain(c);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                client_close(c, 0, strerror(errno), false);
            break;
        }
        c->broker->stats.bytes_sent += (uint64_t)w;
        size_t left = (size_t)w;
        while (left > 0 && c->out_head) {
            struct out_item *it = c->out_head;
            size_t total = it->head_len + (it->msg ? it->msg->payload_len : 0);
            size_t take = total - it->sent < left ? total - it->sent : left;
            it->sent += take;
            left -= take;
            c->out_bytes -= take;
            if (it->sent == total) {
                c->out_head = it->next;
                if (!c->out_head)
                    c->out_tail = NULL;
                out_item_free(c, it);
            }
        }
    }
    if (!c->closed)
        update_events(c);
    if (c->session && c->session->congested)
        session_update_congestion(c->session);
}

int client_send(struct client *c, const uint8_t *pkt, size_t len)
{
    if (c->closed)
        return -1;
    struct out_item *it = malloc(sizeof(*it) + len);
    if (!it) {
        client_close(c, MQTT_RC_SERVER_BUSY, "out of memory", false);
        return -1;
    }
    memset(it, 0, sizeof(*it));
    memcpy(it->head, pkt, len);
    it->head_len = len;
    out_append(c, it);
    mark_dirty(c);
    return 0;
}

/* The PUBLISH without its payload: encoded with an empty payload, then the
 * remaining length raised by the payload's size (the varint may grow). */
static size_t encode_publish_head(uint8_t *out, size_t cap, const struct mqtt_publish *p,
                                  uint32_t payload_len, int version)
{
    uint8_t tmp[1024];
    size_t n = mqtt_encode_publish(tmp, sizeof(tmp), p, version);
    if (n == 0 || n > sizeof(tmp))
        return 0;
    struct mqtt_fixed_header hdr;
    const char *why;
    if (mqtt_decode_fixed_header(tmp, n, 0, &hdr, &why) <= 0)
        return 0;
    uint32_t remaining = hdr.remaining + payload_len;
    if (remaining > MQTT_MAX_REMAINING)
        return 0;
    size_t vlen = mqtt_varint_size(remaining);
    size_t body = n - hdr.header_len;
    if (1 + vlen + body > cap)
        return 0;
    out[0] = tmp[0];
    mqtt_varint_encode(out + 1, vlen, remaining);
    memcpy(out + 1 + vlen, tmp + hdr.header_len, body);
    return 1 + vlen + body;
}

/* MQTT 5 topic aliases towards the client, when it accepts them: the first
 * PUBLISH on a topic sets an alias, later ones send only the alias. Aliases
 * are handed out first come until the client's maximum; no eviction. */
static void use_topic_alias(struct client *c, struct mqtt_publish *p)
{
    if (c->version != MQTT_V5 || c->topic_alias_max_out == 0)
        return;
    void *known = strmap_get(&c->aliases_out, (const char *)p->topic.data, p->topic.len);
    uint16_t alias = (uint16_t)(uintptr_t)known;
    if (!alias) {
        if (c->aliases_out_used >= c->topic_alias_max_out)
            return;
        alias = (uint16_t)(c->aliases_out_used + 1);
        if (strmap_put(&c->aliases_out, (const char *)p->topic.data, p->topic.len,
                       (void *)(uintptr_t)alias))
            return; /* out of memory: the full topic works just as well */
        c->aliases_out_used = alias;
    } else {
        p->topic.len = 0;
    }
    p->props.present |= MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS);
    p->props.topic_alias = alias;
}

int client_send_publish(struct client *c, const struct broker_msg *m, uint8_t qos, bool retain,
                        bool dup, uint16_t packet_id, const uint32_t *sub_ids, size_t n_sub_ids,
                        int64_t now_ms)
{
    if (c->closed)
        return -1;
    struct mqtt_publish p = {
        .dup = dup, .qos = qos, .retain = retain,
        .topic = { (const uint8_t *)m->topic, m->topic_len },
        .packet_id = qos ? packet_id : 0,
    };
    if (c->version == MQTT_V5) {
        p.props = m->fwd;
        if (m->has_expiry) {
            int64_t left = (m->expires_at_ms - now_ms + 999) / 1000;
            p.props.present |= MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY);
            p.props.message_expiry = (uint32_t)(left > 0 ? left : 0);
        }
        if (n_sub_ids) {
            p.props.present |= MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID);
            p.props.sub_ids = sub_ids;
            p.props.n_sub_ids = (uint32_t)n_sub_ids;
            p.props.subscription_id = sub_ids[0];
        }
    }
    use_topic_alias(c, &p);
    struct out_item *it = malloc(sizeof(*it) + PUBLISH_HEAD_CAP);
    if (!it) {
        client_close(c, MQTT_RC_SERVER_BUSY, "out of memory", false);
        return -1;
    }
    memset(it, 0, sizeof(*it));
    it->head_len = encode_publish_head(it->head, PUBLISH_HEAD_CAP, &p, m->payload_len,
                                       c->version);
    if (it->head_len == 0) {
        free(it);
        return -1; /* a topic and properties over 1 KiB cannot come from a valid PUBLISH here */
    }
    if (c->max_packet_out && it->head_len + m->payload_len > c->max_packet_out) {
        free(it);
        c->broker->stats.messages_dropped++;
        return -1; /* MQTT-3.1.2-25: discarded as if delivered */
    }
    it->msg = msg_ref((struct broker_msg *)m);
    out_append(c, it);
    c->broker->stats.messages_sent++;
    mark_dirty(c);
    return 0;
}

/* ---- closing --------------------------------------------------------------- */

static void send_disconnect(struct client *c, uint8_t reason, const char *why)
{
    struct mqtt_disconnect d = { .type = MQTT_DISCONNECT, .reason = reason };
    /* The reason string says why in words, unless the client asked not to
     * get them (Request Problem Information 0, MQTT-3.1.2-29). */
    if (why && !c->no_problem_info) {
        d.props.present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
        size_t len = strlen(why);
        d.props.reason_string = (struct mqtt_bytes){ (const uint8_t *)why,
                                                     (uint32_t)(len < 200 ? len : 200) };
    }
    uint8_t buf[256];
    size_t n = mqtt_encode_disconnect(buf, sizeof(buf), &d, MQTT_V5);
    if (!n || n > sizeof(buf))
        return;
    /* Best effort: the connection is going away either way. Over TLS only
     * when nothing is left unwritten (a blocked SSL_write must be retried
     * with the same bytes, and the DISCONNECT would land mid-packet). */
    if (c->ssl) {
        size_t w;
        const char *ignored;
        if (!c->out_head)
            tls_write(c->ssl, buf, n, &w, &ignored);
    } else if (write(c->fd, buf, n) < 0) {
        /* nothing to do */
    }
}

static void unlink_client(struct broker *b, struct client *c)
{
    for (struct client **p = &b->clients; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            b->n_clients--;
            return;
        }
    }
}

void client_close(struct client *c, uint8_t reason, const char *why, bool normal)
{
    /* The last flush below may fail (the peer reset the connection), and
     * the write error path closes the client: without this it recursed
     * until the stack overflowed (found by the broker_input fuzzer). */
    if (c->closed || c->closing)
        return;
    c->closing = true;
    struct broker *b = c->broker;
    broker_before_flush(b);
    client_flush(c);
    if (reason && c->connected && c->version == MQTT_V5)
        send_disconnect(c, reason, why);
    c->closed = true;
    const char *id = c->session ? c->session->client_id : "-";
    if (normal)
        log_info("broker", "client '%s' (%s) disconnected", id, c->peer);
    else
        log_info("broker", "client '%s' (%s) closed: %s", id, c->peer, why ? why : "?");
    if (c->timer)
        loop_timer_cancel(b->loop, c->timer);
    c->timer = 0;
    client_resume(c); /* only to drop the pause's bookkeeping: closed clients read nothing */
    loop_fd_remove(b->loop, c->fd);
    tls_conn_free(c->ssl);
    c->ssl = NULL;
    close(c->fd);
    c->fd = -1;
    if (c->will && !normal) {
        if (c->will_delay && c->session && c->session->persistent)
            session_delay_will(c->session, c->will, c->will_delay);
        else
            broker_publish_will(b, c->will);
    }
    if (c->connected)
        b->stats.clients_connected--;
    struct session *s = c->session;
    c->session = NULL;
    if (s) {
        s->client = NULL;
        s->offline_since_ms = loop_now_ms(b->loop);
        session_update_congestion(s);
        if (!s->persistent)
            session_destroy(s);
    }
    unlink_client(b, c);
    c->next = b->dead;
    b->dead = c;
}

void client_free_dead(struct broker *b)
{
    while (b->dead) {
        struct client *c = b->dead;
        b->dead = c->next;
        while (c->out_head) {
            struct out_item *it = c->out_head;
            c->out_head = it->next;
            out_item_free(c, it);
        }
        if (c->aliases_in)
            for (size_t i = 0; i <= c->topic_alias_max_in; i++)
                free(c->aliases_in[i]);
        free(c->aliases_in);
        strmap_free(&c->aliases_out);
        msg_unref(c->will);
        broker_mem_sub(b, c->rcap);
        free(c->rbuf);
        free(c->tls_identity);
        free(c);
    }
}
