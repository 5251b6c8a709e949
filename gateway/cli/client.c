/* The client session of `mqgate pub` and `mqgate sub`: TCP connect with a
 * deadline, packet framing over a growing receive buffer, the protocol's
 * own replies (acks, PUBREL, PINGREQ), topic aliases and the -d trace. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gateway/cli/client.h"

#define CONNECT_TIMEOUT_MS 10000
#define CLOSE_WAIT_MS 1000
#define DEFAULT_ALIAS_MAX 16

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
    stop_signal = sig;
}

void cli_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;   /* no SA_RESTART: poll() returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool cli_interrupted(void)
{
    return stop_signal != 0;
}

int64_t cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool bit_get(const uint8_t *bits, uint16_t id)
{
    return (bits[id >> 3] >> (id & 7)) & 1;
}

static void bit_set(uint8_t *bits, uint16_t id, bool on)
{
    if (on)
        bits[id >> 3] |= (uint8_t)(1u << (id & 7));
    else
        bits[id >> 3] &= (uint8_t)~(1u << (id & 7));
}

static struct mqtt_bytes str_bytes(const char *s)
{
    struct mqtt_bytes b = { (const uint8_t *)s, s ? (uint32_t)strlen(s) : 0 };
    return b;
}

const char *cli_connack_reason(int version, uint8_t code)
{
    static const uint8_t v311[] = { 0, MQTT_RC_UNSUPPORTED_VERSION, MQTT_RC_CLIENT_ID_INVALID,
                                    MQTT_RC_SERVER_UNAVAILABLE, MQTT_RC_BAD_USERNAME_PASSWORD,
                                    MQTT_RC_NOT_AUTHORIZED };
    if (version == MQTT_V311 && code < sizeof v311)
        code = v311[code];
    return mqtt_reason_name(code);
}

void cli_connect_from_options(struct mqtt_connect *c, const struct cli_options *o, const char *id)
{
    memset(c, 0, sizeof *c);
    c->version = (uint8_t)o->version;
    c->clean_start = o->clean;
    c->keep_alive = (uint16_t)o->keep_alive;
    c->client_id = str_bytes(id);
    c->has_username = o->username != NULL;
    c->username = str_bytes(o->username);
    c->has_password = o->password != NULL;
    c->password = str_bytes(o->password);
    if (o->will_topic) {
        c->will = true;
        c->will_qos = (uint8_t)o->will_qos;
        c->will_retain = o->will_retain;
        c->will_topic = str_bytes(o->will_topic);
        c->will_payload = str_bytes(o->will_payload);
        c->will_props = o->props[MQTT_CTX_WILL].props;
    }
    if (o->version != MQTT_V5)
        return;
    c->props = o->props[MQTT_CONNECT].props;
    /* mosquitto's rule: -c alone keeps the session forever; -x says otherwise. */
    if (o->has_expiry || !o->clean) {
        c->props.session_expiry = o->has_expiry ? o->session_expiry : UINT32_MAX;
        c->props.present |= MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY);
    }
    if (!mqtt_props_has(&c->props, MQTT_PROP_TOPIC_ALIAS_MAX)) {
        c->props.topic_alias_max = DEFAULT_ALIAS_MAX;
        c->props.present |= MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS_MAX);
    }
}

/* ---- the -d trace ----------------------------------------------------------- */

static void trace_subscribe(const struct cli_client *c, const struct mqtt_subscribe *s)
{
    for (uint32_t i = 0; i < s->count; i++) {
        const struct mqtt_sub_entry *e = &s->subs[i];
        unsigned opts = e->qos | (e->no_local ? 4u : 0) | (e->retain_as_published ? 8u : 0) |
                        (unsigned)e->retain_handling << 4;
        fprintf(stderr, "Client %s sending SUBSCRIBE (Mid: %u, Topic: %.*s, QoS: %u, Options: 0x%02x)\n",
                c->id, s->packet_id, (int)e->filter.len, (const char *)e->filter.data, e->qos,
                opts & 0xfc);
    }
}

static void trace(const struct cli_client *c, bool out, const struct mqtt_packet *p)
{
    if (!c->debug)
        return;
    const char *dir = out ? "sending" : "received";
    const char *name = mqtt_packet_name(p->type);
    switch (p->type) {
    case MQTT_PUBLISH: {
        const struct mqtt_publish *m = &p->u.publish;
        fprintf(stderr, "Client %s %s PUBLISH (d%d, q%u, r%d, m%u, '%.*s', ... (%u bytes))\n",
                c->id, dir, m->dup, m->qos, m->retain, m->packet_id, (int)m->topic.len,
                (const char *)m->topic.data, m->payload.len);
        break;
    }
    case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP:
        fprintf(stderr, "Client %s %s %s (Mid: %u, RC:%u)\n", c->id, dir, name,
                p->u.ack.packet_id, p->u.ack.reason);
        break;
    case MQTT_CONNACK:
        fprintf(stderr, "Client %s %s CONNACK (%u)\n", c->id, dir, p->u.connack.reason);
        break;
    case MQTT_SUBSCRIBE:
        trace_subscribe(c, &p->u.subscribe);
        break;
    case MQTT_UNSUBSCRIBE:
        fprintf(stderr, "Client %s %s UNSUBSCRIBE (Mid: %u)\n", c->id, dir,
                p->u.unsubscribe.packet_id);
        break;
    case MQTT_SUBACK: case MQTT_UNSUBACK:
        fprintf(stderr, "Client %s %s %s (Mid: %u)\n", c->id, dir, name, p->u.suback.packet_id);
        break;
    default:
        fprintf(stderr, "Client %s %s %s\n", c->id, dir, name);
    }
}

/* ---- sending ------------------------------------------------------------------ */

static int write_all(struct cli_client *c, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "%s: connection lost: %s\n", c->prog, strerror(errno));
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int cli_client_send(struct cli_client *c, const struct mqtt_packet *pkt)
{
    size_t size = mqtt_encode(NULL, 0, pkt, c->version);
    if (size == 0) {
        fprintf(stderr, "%s: cannot encode %s for this MQTT version\n", c->prog,
                mqtt_packet_name(pkt->type));
        return -1;
    }
    if (c->max_out && size > c->max_out) {
        fprintf(stderr, "%s: %s of %zu bytes is over the broker's maximum packet size (%u)\n",
                c->prog, mqtt_packet_name(pkt->type), size, c->max_out);
        return -1;
    }
    if (size > c->wcap) {
        uint8_t *nb = realloc(c->wbuf, size);
        if (!nb) {
            fprintf(stderr, "%s: out of memory\n", c->prog);
            return -1;
        }
        c->wbuf = nb;
        c->wcap = size;
    }
    mqtt_encode(c->wbuf, c->wcap, pkt, c->version);
    trace(c, true, pkt);
    c->last_send = cli_now_ms();
    return write_all(c, c->wbuf, size);
}

static int send_ack(struct cli_client *c, uint8_t type, uint16_t id)
{
    struct mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = type;
    p.u.ack.type = type;
    p.u.ack.packet_id = id;
    return cli_client_send(c, &p);
}

uint16_t cli_client_new_id(struct cli_client *c)
{
    for (;;) {
        c->next_id = (uint16_t)(c->next_id + 1);
        if (c->next_id && !bit_get(c->out_ids, c->next_id))
            break;
    }
    bit_set(c->out_ids, c->next_id, true);
    return c->next_id;
}

/* ---- receiving ------------------------------------------------------------------ */

/* Size of the complete packet at the start of rbuf, 0 when incomplete, -1
 * when its header is bad. */
static long framed_size(struct cli_client *c)
{
    struct mqtt_fixed_header h;
    const char *why = NULL;
    int rc = mqtt_decode_fixed_header(c->rbuf, c->rlen, c->max_in, &h, &why);
    if (rc < 0) {
        fprintf(stderr, "%s: bad packet from the broker: %s\n", c->prog, why ? why : "?");
        return -1;
    }
    if (rc == 0)
        return 0;
    size_t total = (size_t)h.header_len + h.remaining;
    if (total > c->rcap) {
        uint8_t *nb = realloc(c->rbuf, total);
        if (!nb) {
            fprintf(stderr, "%s: out of memory for a %zu-byte packet\n", c->prog, total);
            return -1;
        }
        c->rbuf = nb;
        c->rcap = total;
    }
    return c->rlen >= total ? (long)total : 0;
}

static int read_some(struct cli_client *c)
{
    if (c->rcap - c->rlen < 4096) {
        size_t ncap = c->rcap ? c->rcap * 2 : 16384;
        uint8_t *nb = realloc(c->rbuf, ncap);
        if (!nb) {
            fprintf(stderr, "%s: out of memory\n", c->prog);
            return -1;
        }
        c->rbuf = nb;
        c->rcap = ncap;
    }
    ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        fprintf(stderr, "%s: connection closed by the broker%s%s\n", c->prog,
                n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
        return -1;
    }
    c->rlen += (size_t)n;
    return 0;
}

/* Keeps the alias of a PUBLISH that carries topic and alias; gives a bare
 * alias its topic. */
static int resolve_alias(struct cli_client *c, struct mqtt_publish *m)
{
    if (!mqtt_props_has(&m->props, MQTT_PROP_TOPIC_ALIAS))
        return 0;
    uint16_t a = m->props.topic_alias;
    if (a == 0 || a > c->n_aliases) {
        fprintf(stderr, "%s: the broker used topic alias %u, above our maximum %u\n", c->prog,
                a, c->n_aliases);
        return -1;
    }
    if (m->topic.len) {
        char *t = malloc(m->topic.len + 1);
        if (!t)
            return -1;
        memcpy(t, m->topic.data, m->topic.len);
        t[m->topic.len] = '\0';
        free(c->aliases[a]);
        c->aliases[a] = t;
        return 0;
    }
    if (!c->aliases[a]) {
        fprintf(stderr, "%s: the broker used topic alias %u before setting it\n", c->prog, a);
        return -1;
    }
    m->topic = str_bytes(c->aliases[a]);
    return 0;
}

/* An incoming PUBLISH: ack it; false when it must not be delivered (QoS 2
 * repeat). -1 on error. */
static int on_publish(struct cli_client *c, struct mqtt_publish *m)
{
    if (c->version == MQTT_V5 && resolve_alias(c, m) < 0)
        return -1;
    if (m->qos == 1)
        return send_ack(c, MQTT_PUBACK, m->packet_id) < 0 ? -1 : 1;
    if (m->qos == 2) {
        bool repeat = bit_get(c->in_qos2, m->packet_id);
        if (!repeat)
            c->in_qos2_count++;
        bit_set(c->in_qos2, m->packet_id, true);
        if (send_ack(c, MQTT_PUBREC, m->packet_id) < 0)
            return -1;
        return repeat ? 0 : 1;
    }
    return 1;
}

/* Our flows: PUBREC (send PUBREL, or end on an error reason), PUBACK, PUBCOMP. */
static int on_ack(struct cli_client *c, const struct mqtt_ack *a)
{
    if (a->type == MQTT_PUBREL) {
        if (bit_get(c->in_qos2, a->packet_id))
            c->in_qos2_count--;
        bit_set(c->in_qos2, a->packet_id, false);
        return send_ack(c, MQTT_PUBCOMP, a->packet_id) < 0 ? -1 : 0;
    }
    if (!bit_get(c->out_ids, a->packet_id))
        return 0;   /* not ours (a late duplicate): ignore */
    if (a->type == MQTT_PUBREC && a->reason < 0x80)
        return send_ack(c, MQTT_PUBREL, a->packet_id) < 0 ? -1 : 0;
    bit_set(c->out_ids, a->packet_id, false);
    return 1;
}

static int on_disconnect(struct cli_client *c, const struct mqtt_disconnect *d)
{
    fprintf(stderr, "%s: the broker disconnected: %s", c->prog, mqtt_reason_name(d->reason));
    if (mqtt_props_has(&d->props, MQTT_PROP_REASON_STRING))
        fprintf(stderr, " (%.*s)", (int)d->props.reason_string.len,
                (const char *)d->props.reason_string.data);
    fputc('\n', stderr);
    return -1;
}

/* What to do with a decoded packet: 1 hand it over, 0 handled, -1 error. */
static int dispatch(struct cli_client *c, struct mqtt_packet *p)
{
    switch (p->type) {
    case MQTT_PUBLISH: return on_publish(c, &p->u.publish);
    case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP:
        return on_ack(c, &p->u.ack);
    case MQTT_SUBACK: case MQTT_UNSUBACK:
        bit_set(c->out_ids, p->u.suback.packet_id, false);
        return 1;
    case MQTT_PINGRESP:
        c->ping_sent = 0;
        return 0;
    case MQTT_DISCONNECT: return on_disconnect(c, &p->u.disconnect);
    case MQTT_CONNACK: return 1;   /* only cli_client_open expects one */
    default:
        fprintf(stderr, "%s: unexpected %s from the broker\n", c->prog,
                mqtt_packet_name(p->type));
        return -1;
    }
}

/* Decodes and dispatches the packet at the start of rbuf, if complete. */
static int take_packet(struct cli_client *c, struct mqtt_packet *out)
{
    long size = framed_size(c);
    if (size <= 0)
        return (int)size;
    const char *why = NULL;
    int rc = mqtt_decode(c->rbuf, (size_t)size, c->version, c->max_in, out, &why);
    if (rc <= 0) {
        fprintf(stderr, "%s: bad %s from the broker: %s\n", c->prog,
                mqtt_packet_name(c->rbuf[0] >> 4), why ? why : mqtt_reason_name((unsigned)-rc));
        return -1;
    }
    c->rdone = (size_t)size;
    trace(c, false, out);
    return dispatch(c, out);
}

static void drop_done(struct cli_client *c)
{
    if (!c->rdone)
        return;
    memmove(c->rbuf, c->rbuf + c->rdone, c->rlen - c->rdone);
    c->rlen -= c->rdone;
    c->rdone = 0;
}

/* Keep alive: how long poll may sleep, sending a PINGREQ when it is due;
 * -1 on a ping left unanswered for a whole keep-alive period. */
static int keep_alive(struct cli_client *c, int64_t now, int64_t *wake)
{
    if (!c->keep_alive_ms)
        return 0;
    if (c->ping_sent && now - c->ping_sent >= (int64_t)c->keep_alive_ms) {
        fprintf(stderr, "%s: connection lost: no answer to PINGREQ\n", c->prog);
        return -1;
    }
    int64_t due = c->last_send + c->keep_alive_ms;
    if (now >= due && !c->ping_sent) {
        struct mqtt_packet p = { .type = MQTT_PINGREQ };
        if (cli_client_send(c, &p) < 0)
            return -1;
        c->ping_sent = now;
        due = now + c->keep_alive_ms;
    }
    if (c->ping_sent)
        due = c->ping_sent + c->keep_alive_ms;
    if (*wake < 0 || due < *wake)
        *wake = due;
    return 0;
}

static int wait_input(struct cli_client *c, int64_t deadline)
{
    int64_t now = cli_now_ms();
    if (deadline >= 0 && now >= deadline)
        return CLI_TIMEOUT;
    int64_t wake = deadline;
    if (keep_alive(c, now, &wake) < 0)
        return CLI_ERROR;
    struct pollfd fds[2] = { { c->fd, POLLIN, 0 }, { c->watch_fd, POLLIN, 0 } };
    int timeout = wake < 0 ? -1 : (int)(wake > now ? wake - now : 0);
    int n = poll(fds, c->watch_fd >= 0 ? 2 : 1, timeout);
    if (n < 0 && errno == EINTR)
        return cli_interrupted() ? CLI_INTERRUPTED : 3;
    if (n < 0) {
        fprintf(stderr, "%s: poll: %s\n", c->prog, strerror(errno));
        return CLI_ERROR;
    }
    if (fds[0].revents)
        return read_some(c) < 0 ? CLI_ERROR : 3;
    if (c->watch_fd >= 0 && fds[1].revents)
        return CLI_FD_READY;
    return 3;   /* woke up: look again */
}

int cli_client_next(struct cli_client *c, int64_t deadline, struct mqtt_packet *out)
{
    if (c->fd < 0)
        return CLI_ERROR;
    for (;;) {
        drop_done(c);
        if (cli_interrupted())
            return CLI_INTERRUPTED;
        int rc = take_packet(c, out);
        if (rc < 0)
            return CLI_ERROR;
        if (rc > 0)
            return CLI_PACKET;
        if (c->rdone)
            continue;   /* handled one; there may be another */
        rc = wait_input(c, deadline);
        if (rc != 3)
            return rc;
    }
}

/* ---- connecting ------------------------------------------------------------------ */

static int connect_with_timeout(int fd, const struct addrinfo *ai, int timeout_ms)
{
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EINTR)
        return -1;
    struct pollfd p = { fd, POLLOUT, 0 };
    rc = poll(&p, 1, timeout_ms);
    if (rc == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -1;
    errno = err;
    return err ? -1 : 0;
}

/* A connected blocking TCP socket with TCP_NODELAY, or -1 with the reason printed. */
static int tcp_connect(const char *prog, const char *host, int port)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc) {
        fprintf(stderr, "%s: cannot resolve %s: %s\n", prog, host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect_with_timeout(fd, ai, CONNECT_TIMEOUT_MS) < 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot connect to %s port %d: %s\n", prog, host, port, strerror(err));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);   /* blocking from here; poll() bounds waits */
    return fd;
}

static void apply_connack(struct cli_client *c, const struct mqtt_connack *ack)
{
    const struct mqtt_props *p = &ack->props;
    if (mqtt_props_has(p, MQTT_PROP_ASSIGNED_CLIENT_ID))
        snprintf(c->id, sizeof c->id, "%.*s", (int)p->assigned_client_id.len,
                 (const char *)p->assigned_client_id.data);
    if (mqtt_props_has(p, MQTT_PROP_SERVER_KEEP_ALIVE))
        c->keep_alive_ms = p->server_keep_alive * 1000u;
    if (mqtt_props_has(p, MQTT_PROP_MAX_PACKET_SIZE))
        c->max_out = p->max_packet_size;
    if (mqtt_props_has(p, MQTT_PROP_MAX_QOS))
        c->max_qos = p->max_qos;
    if (mqtt_props_has(p, MQTT_PROP_RETAIN_AVAILABLE))
        c->retain_available = p->retain_available;
    if (mqtt_props_has(p, MQTT_PROP_TOPIC_ALIAS_MAX))
        c->broker_alias_max = p->topic_alias_max;
}

static void client_init(struct cli_client *c, const char *prog, const struct mqtt_connect *conn,
                        bool debug)
{
    memset(c, 0, sizeof *c);
    c->prog = prog;
    c->fd = -1;
    c->watch_fd = -1;
    c->version = conn->version;
    c->debug = debug;
    c->keep_alive_ms = conn->keep_alive * 1000u;
    c->max_qos = 2;
    c->retain_available = true;
    snprintf(c->id, sizeof c->id, "%.*s", (int)conn->client_id.len,
             (const char *)conn->client_id.data);
    if (mqtt_props_has(&conn->props, MQTT_PROP_MAX_PACKET_SIZE))
        c->max_in = conn->props.max_packet_size;
}

static int alloc_aliases(struct cli_client *c, const struct mqtt_connect *conn)
{
    if (conn->version != MQTT_V5 || !mqtt_props_has(&conn->props, MQTT_PROP_TOPIC_ALIAS_MAX))
        return 0;
    c->n_aliases = conn->props.topic_alias_max;
    c->aliases = calloc((size_t)c->n_aliases + 1, sizeof *c->aliases);
    return c->aliases ? 0 : -1;
}

static int await_connack(struct cli_client *c, bool *session_present)
{
    struct mqtt_packet p;
    int rc = cli_client_next(c, cli_now_ms() + CONNECT_TIMEOUT_MS, &p);
    if (rc == CLI_TIMEOUT)
        fprintf(stderr, "%s: no CONNACK from the broker within %d s\n", c->prog,
                CONNECT_TIMEOUT_MS / 1000);
    if (rc != CLI_PACKET)
        return -1;
    if (p.type != MQTT_CONNACK) {
        fprintf(stderr, "%s: the broker sent %s before CONNACK\n", c->prog,
                mqtt_packet_name(p.type));
        return -1;
    }
    if (p.u.connack.reason) {
        fprintf(stderr, "%s: connection refused: %s\n", c->prog,
                cli_connack_reason(c->version, p.u.connack.reason));
        return -1;
    }
    apply_connack(c, &p.u.connack);
    *session_present = p.u.connack.session_present;
    return 0;
}

int cli_client_open(struct cli_client *c, const char *prog, const char *host, int port,
                    const struct mqtt_connect *conn, bool debug, bool *session_present)
{
    client_init(c, prog, conn, debug);
    if (alloc_aliases(c, conn) < 0) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return -1;
    }
    c->fd = tcp_connect(prog, host, port);
    struct mqtt_packet p = { .type = MQTT_CONNECT };
    p.u.connect = *conn;
    if (c->fd < 0 || cli_client_send(c, &p) < 0 || await_connack(c, session_present) < 0) {
        cli_client_close(c, false, 0, NULL);
        return -1;
    }
    return 0;
}

/* ---- publishing and closing ------------------------------------------------------ */

static int check_publish(const struct cli_client *c, const struct mqtt_publish *pub)
{
    if (pub->qos > c->max_qos) {
        fprintf(stderr, "%s: the broker accepts QoS up to %u only\n", c->prog, c->max_qos);
        return -1;
    }
    if (pub->retain && !c->retain_available) {
        fprintf(stderr, "%s: the broker does not support retained messages\n", c->prog);
        return -1;
    }
    return 0;
}

/* The end of our flow for `id`: 0 when it succeeded, -1 when refused. */
static int flow_result(const struct cli_client *c, const struct mqtt_ack *a)
{
    if (a->reason < 0x80)
        return 0;
    fprintf(stderr, "%s: publish refused: %s", c->prog, mqtt_reason_name(a->reason));
    if (mqtt_props_has(&a->props, MQTT_PROP_REASON_STRING))
        fprintf(stderr, " (%.*s)", (int)a->props.reason_string.len,
                (const char *)a->props.reason_string.data);
    fputc('\n', stderr);
    return -1;
}

/* Serves the connection until our flow `id` ends; the watched descriptor
 * waits meanwhile. */
static int await_flow(struct cli_client *c, uint16_t id)
{
    int watch = c->watch_fd, rc;
    struct mqtt_packet p;
    c->watch_fd = -1;
    for (;;) {
        rc = cli_client_next(c, -1, &p);
        if (rc != CLI_PACKET) {
            rc = rc == CLI_INTERRUPTED ? rc : CLI_ERROR;
            break;
        }
        if (p.type >= MQTT_PUBACK && p.type <= MQTT_PUBCOMP && p.u.ack.packet_id == id) {
            rc = flow_result(c, &p.u.ack) < 0 ? CLI_ERROR : 0;
            break;
        }
    }
    c->watch_fd = watch;
    return rc;
}

int cli_client_publish(struct cli_client *c, const struct mqtt_publish *pub)
{
    if (check_publish(c, pub) < 0)
        return CLI_ERROR;
    struct mqtt_packet p = { .type = MQTT_PUBLISH };
    p.u.publish = *pub;
    if (pub->qos)
        p.u.publish.packet_id = cli_client_new_id(c);
    if (cli_client_send(c, &p) < 0)
        return CLI_ERROR;
    return pub->qos ? await_flow(c, p.u.publish.packet_id) : 0;
}

/* After DISCONNECT: wait (bounded) for the broker to close, so that closing
 * never resets a connection whose last packets the broker has not read. */
static void drain(struct cli_client *c)
{
    shutdown(c->fd, SHUT_WR);
    int64_t end = cli_now_ms() + CLOSE_WAIT_MS;
    char buf[512];
    for (int64_t now = cli_now_ms(); now < end; now = cli_now_ms()) {
        struct pollfd p = { c->fd, POLLIN, 0 };
        if (poll(&p, 1, (int)(end - now)) <= 0)
            break;
        if (recv(c->fd, buf, sizeof buf, 0) <= 0)
            break;
    }
}

/* Received QoS 2 messages still waiting for PUBREL: let the flows finish, so
 * the broker does not keep them for this session. */
static void finish_inbound(struct cli_client *c)
{
    int64_t end = cli_now_ms() + CLOSE_WAIT_MS;
    struct mqtt_packet p;
    while (c->in_qos2_count && cli_client_next(c, end, &p) == CLI_PACKET)
        ;
}

void cli_client_close(struct cli_client *c, bool graceful, uint8_t reason,
                      const struct mqtt_props *props)
{
    if (c->fd >= 0 && graceful)
        finish_inbound(c);
    if (c->fd >= 0 && graceful) {
        struct mqtt_packet p = { .type = MQTT_DISCONNECT };
        p.u.disconnect.type = MQTT_DISCONNECT;
        p.u.disconnect.reason = reason;
        if (props && c->version == MQTT_V5)
            p.u.disconnect.props = *props;
        if (cli_client_send(c, &p) == 0)
            drain(c);
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    for (unsigned i = 0; c->aliases && i <= c->n_aliases; i++)
        free(c->aliases[i]);
    free(c->aliases);
    free(c->rbuf);
    free(c->wbuf);
    c->aliases = NULL;
    c->rbuf = c->wbuf = NULL;
    c->rlen = c->rcap = c->wcap = c->rdone = 0;
}
