/* CONNECT: client id rules, who may connect (auth.c decides), session
 * takeover, clean start and session expiry, the will, the client's own
 * limits, and CONNACK. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/broker/auth.h"
#include "gateway/broker/broker_internal.h"
#include "gateway/log.h"
#include "gateway/loop.h"


/* CONNACK with a failure, then close (no DISCONNECT: CONNACK says it). */
static int refuse(struct client *c, uint8_t reason, const char *why)
{
    struct mqtt_connack ack = { .reason = reason };
    if (c->version != MQTT_V5)
        ack.reason = mqtt_connack_v311_code(reason);
    uint8_t buf[64];
    size_t n = mqtt_encode_connack(buf, sizeof(buf), &ack, c->version);
    if (n && n <= sizeof(buf))
        client_send(c, buf, n);
    client_close(c, 0, why, true);
    return 0;
}

/* The session this connection continues or starts; *present says which.
 * A session is resumed only by the user who made it: another user taking
 * the client id starts afresh, so it never receives what was queued for,
 * nor keeps the subscriptions of, someone else. */
static struct session *attach_session(struct client *c, const char *id, size_t len,
                                      bool clean_start, const char *user, bool *present)
{
    struct broker *b = c->broker;
    struct session *s = session_find(b, id, len);
    if (s && s->client) {
        /* Session takeover (MQTT-3.1.4-3): the old connection goes, with its will. */
        client_close(s->client, MQTT_RC_SESSION_TAKEN_OVER, "session taken over", false);
        s = session_find(b, id, len); /* a non-persistent session died with it */
    }
    if (s && (clean_start || !auth_same_user(s->username, user))) {
        session_destroy(s);
        s = NULL;
    }
    *present = s != NULL;
    if (s)
        session_cancel_will(s); /* back within the will delay: no will */
    return s ? s : session_create(b, id, len);
}

/* A will on a topic its owner may not write is dropped here: Mosquitto
 * accepts such a CONNECT and never publishes the will. */
static int set_will(struct client *c, const struct session *s, const struct mqtt_connect *p)
{
    if (!p->will)
        return 0;
    if (!auth_may_write(s, (const char *)p->will_topic.data, p->will_topic.len)) {
        log_info("broker", "will of client '%s' on '%.*s' dropped: not authorized",
                 s->client_id, (int)p->will_topic.len,
                 (const char *)p->will_topic.data);
        return 0;
    }
    c->will = msg_new(c->broker, (const char *)p->will_topic.data, p->will_topic.len,
                      p->will_payload.data, p->will_payload.len,
                      c->version == MQTT_V5 ? &p->will_props : NULL, p->will_qos,
                      p->will_retain, loop_now_ms(c->broker->loop));
    c->will_delay = p->will_props.will_delay;
    return c->will ? 0 : -1;
}

/* The limits a v5 client announced for the packets we send it. */
static void take_client_limits(struct client *c, const struct mqtt_props *props)
{
    if (mqtt_props_has(props, MQTT_PROP_RECEIVE_MAX))
        c->receive_max_out = props->receive_max;
    if (mqtt_props_has(props, MQTT_PROP_MAX_PACKET_SIZE))
        c->max_packet_out = props->max_packet_size;
    if (mqtt_props_has(props, MQTT_PROP_TOPIC_ALIAS_MAX))
        c->topic_alias_max_out = props->topic_alias_max;
}

static void send_connack(struct client *c, bool present, const char *assigned, bool ka_changed)
{
    const struct broker_limits *lim = &c->broker->limits;
    struct mqtt_connack ack = { .session_present = present };
    if (c->version == MQTT_V5) {
        struct mqtt_props *pr = &ack.props;
        pr->present = MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAX) |
                      MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS_MAX) |
                      MQTT_PROP_BIT(MQTT_PROP_MAX_PACKET_SIZE);
        pr->receive_max = lim->receive_maximum;
        pr->topic_alias_max = lim->topic_alias_maximum;
        pr->max_packet_size = lim->max_packet_size;
        if (!lim->retain_available) {
            pr->present |= MQTT_PROP_BIT(MQTT_PROP_RETAIN_AVAILABLE);
            pr->retain_available = 0;
        }
        if (assigned) {
            pr->present |= MQTT_PROP_BIT(MQTT_PROP_ASSIGNED_CLIENT_ID);
            pr->assigned_client_id = (struct mqtt_bytes){ (const uint8_t *)assigned,
                                                          (uint32_t)strlen(assigned) };
        }
        if (ka_changed) {
            pr->present |= MQTT_PROP_BIT(MQTT_PROP_SERVER_KEEP_ALIVE);
            pr->server_keep_alive = c->keepalive;
        }
    }
    uint8_t buf[256];
    size_t n = mqtt_encode_connack(buf, sizeof(buf), &ack, c->version);
    if (n && n <= sizeof(buf))
        client_send(c, buf, n);
}

/* The rest of CONNECT, for a client whose credentials were accepted. */
static int connect_session(struct client *c, const struct mqtt_connect *p, const char *user)
{
    struct broker *b = c->broker;
    char assigned[40];
    const char *id = (const char *)p->client_id.data;
    size_t id_len = p->client_id.len;
    bool assigned_id = false;
    if (id_len == 0) {
        if (c->version != MQTT_V5 && !p->clean_start)
            return refuse(c, MQTT_RC_CLIENT_ID_INVALID, "empty client id with a persistent session");
        snprintf(assigned, sizeof(assigned), "mqgate-%" PRIu64, ++b->assigned_ids);
        id = assigned;
        id_len = strlen(assigned);
        assigned_id = true;
    }

    bool present;
    struct session *s = attach_session(c, id, id_len, p->clean_start, user, &present);
    if (!s)
        return refuse(c, MQTT_RC_SERVER_BUSY, "out of memory");
    if (!s->username && user && !(s->username = strdup(user)))
        return refuse(c, MQTT_RC_SERVER_BUSY, "out of memory");
    if (c->version == MQTT_V5) {
        uint32_t expiry = mqtt_props_has(&p->props, MQTT_PROP_SESSION_EXPIRY) ?
                          p->props.session_expiry : 0;
        s->expiry_s = expiry < b->limits.max_session_expiry || expiry == UINT32_MAX ?
                      expiry : b->limits.max_session_expiry;
        s->persistent = s->expiry_s > 0;
        take_client_limits(c, &p->props);
    } else {
        s->persistent = !p->clean_start;
        s->expiry_s = b->limits.max_session_expiry;
    }
    if (set_will(c, s, p))
        return refuse(c, MQTT_RC_SERVER_BUSY, "out of memory");

    bool ka_changed = false;
    c->keepalive = p->keep_alive;
    if (c->version == MQTT_V5 && c->keepalive > b->limits.max_keepalive) {
        c->keepalive = b->limits.max_keepalive;
        ka_changed = true;
    }
    if (c->version == MQTT_V5 && b->limits.topic_alias_maximum) {
        c->topic_alias_max_in = b->limits.topic_alias_maximum;
        c->aliases_in = calloc((size_t)c->topic_alias_max_in + 1, sizeof(char *));
        if (!c->aliases_in)
            return refuse(c, MQTT_RC_SERVER_BUSY, "out of memory");
    }
    s->client = c;
    c->session = s;
    c->connected = true;
    b->stats.clients_connected++;
    send_connack(c, present, assigned_id ? assigned : NULL, ka_changed);
    client_start_keepalive(c);
    log_info("broker", "client '%s' connected from %s (MQTT %s, keep alive %us%s)", s->client_id,
             c->peer, c->version == MQTT_V5 ? "5" : "3.1.1", c->keepalive,
             present ? ", session resumed" : "");
    if (present) {
        session_resend_inflight(s);
        session_pump(s);
    }
    return 0;
}

int handle_connect(struct client *c, const struct mqtt_connect *p)
{
    c->version = p->version;
    if (c->version == MQTT_V5 && mqtt_props_has(&p->props, MQTT_PROP_AUTH_METHOD))
        return refuse(c, MQTT_RC_BAD_AUTH_METHOD, "enhanced authentication is not offered");
    c->no_problem_info = c->version == MQTT_V5 &&
                         mqtt_props_has(&p->props, MQTT_PROP_REQUEST_PROBLEM_INFO) &&
                         p->props.request_problem_info == 0;
    char *user;
    int reason = auth_connect(c, p, &user);
    if (reason)
        return refuse(c, (uint8_t)reason, "not authorized");
    reason = connect_session(c, p, user);
    free(user);
    return reason;
}
