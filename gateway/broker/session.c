/* Sessions: what outlives a connection — subscriptions, messages in flight
 * (with their packet ids), messages queued for the client, QoS 2 ids not yet
 * released — and the delivery path from a routed message to the socket. */
#include <stdlib.h>
#include <string.h>

#include "gateway/broker/broker_internal.h"
#include "gateway/broker/persist.h"
#include "gateway/log.h"
#include "gateway/loop.h"

struct session *session_find(struct broker *b, const char *id, size_t len)
{
    return strmap_get(&b->sessions, id, len);
}

struct session *session_create(struct broker *b, const char *id, size_t len)
{
    struct session *s = calloc(1, sizeof(*s));
    if (!s || !(s->client_id = strndup(id, len)) || strmap_put(&b->sessions, id, len, s)) {
        if (s)
            free(s->client_id);
        free(s);
        return NULL;
    }
    s->broker = b;
    s->next_packet_id = 1;
    persist_session_touch(s); /* persistent or not is known once CONNECT is handled */
    return s;
}

static int64_t on_will_timer(struct loop *loop, void *data)
{
    (void)loop;
    struct session *s = data;
    struct broker_msg *will = s->pending_will;
    s->pending_will = NULL;
    s->will_timer = 0;
    broker_publish_will(s->broker, will);
    msg_unref(will);
    return LOOP_TIMER_STOP;
}

void session_delay_will(struct session *s, struct broker_msg *will, uint32_t delay_s)
{
    session_cancel_will(s);
    s->pending_will = msg_ref(will);
    s->will_timer = loop_timer_add(s->broker->loop, (int64_t)delay_s * 1000, on_will_timer, s);
}

void session_cancel_will(struct session *s)
{
    persist_session_touch(s); /* every resumed session passes here (handle_connect) */
    if (s->will_timer)
        loop_timer_cancel(s->broker->loop, s->will_timer);
    s->will_timer = 0;
    msg_unref(s->pending_will);
    s->pending_will = NULL;
}

void session_destroy(struct session *s)
{
    struct broker *b = s->broker;
    persist_session_gone(s);
    /* In-process sessions are not in the client-id map (a client could pick
     * the same name). */
    if (!s->local_fn)
        strmap_remove(&b->sessions, s->client_id, strlen(s->client_id));
    if (s->pending_will) {
        /* The session ends before the will delay: the will goes now. */
        struct broker_msg *will = msg_ref(s->pending_will);
        session_cancel_will(s);
        broker_publish_will(b, will);
        msg_unref(will);
    }
    if (s->congested) {
        s->congested = false;
        b->congested--;
    }
    for (size_t i = 0; i < s->n_subs; i++) {
        subs_remove(b->subs, s->subs[i].filter, s);
        free(s->subs[i].filter);
    }
    for (size_t i = 0; i < s->n_inflight; i++)
        msg_unref(s->inflight[i].msg);
    for (size_t i = 0; i < s->n_queue; i++)
        msg_unref(s->queue[(s->head + i) % s->cap_queue].msg);
    free(s->subs);
    free(s->inflight);
    free(s->queue);
    free(s->rx_qos2);
    free(s->client_id);
    free(s->username);
    free(s);
}

/* ---- subscriptions ---------------------------------------------------------- */

int session_add_sub(struct session *s, const char *filter, const struct sub_options *opt)
{
    int rc = subs_add(s->broker->subs, filter, s, opt);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < s->n_subs; i++) {
        if (strcmp(s->subs[i].filter, filter) == 0) {
            s->subs[i].opt = *opt;
            persist_sub(s, filter, opt);
            return 0; /* replaced */
        }
    }
    if (s->n_subs == s->cap_subs) {
        size_t cap = s->cap_subs ? s->cap_subs * 2 : 4;
        struct session_sub *p = realloc(s->subs, cap * sizeof(*p));
        if (!p) {
            subs_remove(s->broker->subs, filter, s);
            return -1;
        }
        s->subs = p;
        s->cap_subs = cap;
    }
    char *copy = strdup(filter);
    if (!copy) {
        subs_remove(s->broker->subs, filter, s);
        return -1;
    }
    s->subs[s->n_subs++] = (struct session_sub){ copy, *opt };
    persist_sub(s, filter, opt);
    return 1;
}

int session_remove_sub(struct session *s, const char *filter)
{
    for (size_t i = 0; i < s->n_subs; i++) {
        if (strcmp(s->subs[i].filter, filter) == 0) {
            subs_remove(s->broker->subs, filter, s);
            persist_sub(s, filter, NULL);
            free(s->subs[i].filter);
            s->subs[i] = s->subs[--s->n_subs];
            return 0;
        }
    }
    return -1;
}

/* ---- delivery ---------------------------------------------------------------- */

static uint16_t window(const struct session *s)
{
    uint16_t w = s->broker->limits.max_inflight;
    if (s->client && s->client->receive_max_out && s->client->receive_max_out < w)
        w = s->client->receive_max_out;
    return w;
}

static bool packet_id_in_use(const struct session *s, uint16_t id)
{
    for (size_t i = 0; i < s->n_inflight; i++)
        if (s->inflight[i].packet_id == id)
            return true;
    return false;
}

static uint16_t next_packet_id(struct session *s)
{
    do {
        if (++s->next_packet_id == 0)
            s->next_packet_id = 1;
    } while (packet_id_in_use(s, s->next_packet_id));
    return s->next_packet_id;
}

static int inflight_add(struct session *s, const struct queued *q, uint16_t id)
{
    if (s->n_inflight == s->cap_inflight) {
        size_t cap = s->cap_inflight ? s->cap_inflight * 2 : 8;
        struct inflight *p = realloc(s->inflight, cap * sizeof(*p));
        if (!p)
            return -1;
        s->inflight = p;
        s->cap_inflight = cap;
    }
    struct inflight *f = &s->inflight[s->n_inflight++];
    memset(f, 0, sizeof(*f));
    f->msg = msg_ref(q->msg);
    f->packet_id = id;
    f->qos = q->qos;
    f->retain = q->retain;
    memcpy(f->sub_ids, q->sub_ids, sizeof(f->sub_ids));
    f->n_sub_ids = q->n_sub_ids;
    return 0;
}

/* Send one message now. Returns false when it must wait (window full);
 * *id: the packet id it is in flight under, 0 when not in flight. */
static bool send_now(struct session *s, const struct queued *q, uint16_t *id_out)
{
    struct client *c = s->client;
    int64_t now = loop_now_ms(s->broker->loop);
    *id_out = 0;
    if (msg_expired(q->msg, now))
        return true; /* dropped: expired while queued (MQTT-3.3.2-5) */
    if (q->qos == 0) {
        client_send_publish(c, q->msg, 0, q->retain, false, 0, q->sub_ids, q->n_sub_ids, now);
        return true;
    }
    if (s->n_inflight >= window(s))
        return false;
    uint16_t id = next_packet_id(s);
    if (inflight_add(s, q, id))
        return false;
    *id_out = id;
    client_send_publish(c, q->msg, q->qos, q->retain, false, id, q->sub_ids, q->n_sub_ids, now);
    return true;
}

static int queue_push(struct session *s, const struct queued *q)
{
    const struct broker_limits *lim = &s->broker->limits;
    if (lim->max_queued_messages && s->n_queue >= lim->max_queued_messages)
        return -1;
    if (lim->max_queued_bytes && s->queued_bytes + q->msg->payload_len > lim->max_queued_bytes)
        return -1;
    if (s->n_queue == s->cap_queue) {
        size_t cap = s->cap_queue ? s->cap_queue * 2 : 16;
        struct queued *p = malloc(cap * sizeof(*p));
        if (!p)
            return -1;
        for (size_t i = 0; i < s->n_queue; i++)
            p[i] = s->queue[(s->head + i) % s->cap_queue];
        free(s->queue);
        s->queue = p;
        s->cap_queue = cap;
        s->head = 0;
    }
    struct queued *slot = &s->queue[(s->head + s->n_queue++) % s->cap_queue];
    *slot = *q;
    msg_ref(q->msg);
    s->queued_bytes += q->msg->payload_len;
    return 0;
}

/* Past memory_limit, QoS 0 goes only to a socket that takes it now: not to
 * a client whose output already waits for the socket, nor to a queue. */
static bool memory_sheds(const struct session *s, uint8_t qos)
{
    if (qos > 0 || !broker_mem_biting(s->broker) || !s->client || s->congested)
        return false; /* offline or behind: dropped below in any case */
    return !s->client->connected || s->n_queue > 0 || s->client->want_write;
}

void session_deliver(struct session *s, struct broker_msg *m, uint8_t qos, bool retain,
                     const uint32_t *sub_ids, size_t n_sub_ids)
{
    if (!broker_may_read(s->broker, s, m->topic))
        return; /* ACL READ (auth.c): silently, the subscription stays */
    if (s->local_fn) {
        if (!msg_expired(m, loop_now_ms(s->broker->loop)))
            s->local_fn(s->local_ctx, m->topic, m->payload, m->payload_len, qos, retain);
        return;
    }
    struct queued q = { .msg = m, .qos = qos, .retain = retain };
    q.n_sub_ids = (uint8_t)(n_sub_ids < 4 ? n_sub_ids : 4);
    memcpy(q.sub_ids, sub_ids, q.n_sub_ids * sizeof(uint32_t));
    if (memory_sheds(s, qos)) {
        s->broker->stats.messages_dropped++;
        s->broker->mem_counts.dropped++;
        broker_mem_note(s->broker);
        return;
    }
    uint16_t id;
    if (s->client && s->client->connected && s->n_queue == 0 && send_now(s, &q, &id)) {
        if (id)
            persist_inflight(s, &s->inflight[s->n_inflight - 1]);
        return;
    }
    if (qos == 0 && (!s->client || s->congested)) {
        /* QoS 0 is not kept for offline sessions, nor queued behind a
         * subscriber that is already behind: dropped and counted. */
        s->broker->stats.messages_dropped++;
        return;
    }
    if (queue_push(s, &q)) {
        s->broker->stats.messages_dropped++;
        log_warn("broker", "queue of '%s' is full: message on '%s' dropped", s->client_id,
                 m->topic);
    } else {
        persist_queued(s, &q);
    }
    session_update_congestion(s);
}

void session_pump(struct session *s)
{
    while (s->n_queue > 0 && s->client && s->client->connected && !s->client->closed) {
        struct queued *q = &s->queue[s->head];
        uint16_t id;
        if (!send_now(s, q, &id))
            return;
        persist_popped(s, id);
        s->queued_bytes -= q->msg->payload_len;
        msg_unref(q->msg);
        s->head = (s->head + 1) % s->cap_queue;
        s->n_queue--;
    }
    if (s->congested)
        session_update_congestion(s);
}

void session_resend_inflight(struct session *s)
{
    int64_t now = loop_now_ms(s->broker->loop);
    for (size_t i = 0; i < s->n_inflight; i++) {
        struct inflight *f = &s->inflight[i];
        if (f->released) {
            struct mqtt_ack rel = { .type = MQTT_PUBREL, .packet_id = f->packet_id };
            uint8_t buf[16];
            size_t n = mqtt_encode_ack(buf, sizeof(buf), &rel, s->client->version);
            client_send(s->client, buf, n);
        } else {
            client_send_publish(s->client, f->msg, f->qos, f->retain, true, f->packet_id,
                                f->sub_ids, f->n_sub_ids, now);
        }
    }
}

static struct inflight *inflight_find(struct session *s, uint16_t id)
{
    for (size_t i = 0; i < s->n_inflight; i++)
        if (s->inflight[i].packet_id == id)
            return &s->inflight[i];
    return NULL;
}

static void inflight_remove(struct session *s, struct inflight *f)
{
    msg_unref(f->msg);
    /* Keep the order: a resend after reconnect goes out oldest first. */
    size_t i = (size_t)(f - s->inflight);
    memmove(f, f + 1, (s->n_inflight - i - 1) * sizeof(*f));
    s->n_inflight--;
}

/* PUBACK and PUBCOMP end a flow, PUBREC moves it to PUBREL. An unknown id is
 * not an error (MQTT-4.3.3: the flow may have ended across a reconnect). */
int session_ack(struct session *s, uint8_t type, uint16_t packet_id)
{
    struct inflight *f = inflight_find(s, packet_id);
    if (!f)
        return type == MQTT_PUBREC ? MQTT_RC_PACKET_ID_NOT_FOUND : 0;
    if (type == MQTT_PUBACK && f->qos == 1) {
        inflight_remove(s, f);
        persist_acked(s, packet_id, false);
    } else if (type == MQTT_PUBREC && f->qos == 2) {
        f->released = true;
        persist_acked(s, packet_id, true);
        return 0;
    } else if (type == MQTT_PUBCOMP && f->qos == 2 && f->released) {
        inflight_remove(s, f);
        persist_acked(s, packet_id, false);
    } else {
        return MQTT_RC_PROTOCOL_ERROR;
    }
    session_pump(s);
    return 0;
}

bool session_rx_qos2_has(const struct session *s, uint16_t id)
{
    for (size_t i = 0; i < s->n_rx_qos2; i++)
        if (s->rx_qos2[i] == id)
            return true;
    return false;
}

int session_rx_qos2_add(struct session *s, uint16_t id)
{
    if (s->n_rx_qos2 == s->cap_rx_qos2) {
        size_t cap = s->cap_rx_qos2 ? s->cap_rx_qos2 * 2 : 8;
        uint16_t *p = realloc(s->rx_qos2, cap * sizeof(*p));
        if (!p)
            return -1;
        s->rx_qos2 = p;
        s->cap_rx_qos2 = cap;
    }
    s->rx_qos2[s->n_rx_qos2++] = id;
    persist_rx_qos2(s, id, true);
    return 0;
}

void session_rx_qos2_remove(struct session *s, uint16_t id)
{
    for (size_t i = 0; i < s->n_rx_qos2; i++) {
        if (s->rx_qos2[i] == id) {
            s->rx_qos2[i] = s->rx_qos2[--s->n_rx_qos2];
            persist_rx_qos2(s, id, false);
            return;
        }
    }
}

void session_expire_offline(struct broker *b, int64_t now_ms)
{
    const char *key;
    void *value;
    for (size_t i = 0; strmap_next(&b->sessions, &i, &key, &value);) {
        struct session *s = value;
        if (s->client || s->expiry_s == UINT32_MAX)
            continue;
        if (now_ms - s->offline_since_ms >= (int64_t)s->expiry_s * 1000) {
            log_info("broker", "session '%s' expired", s->client_id);
            session_destroy(s);
        }
    }
}

/* ---- restoring (persist.c) --------------------------------------------------- */

int session_restore_msg(struct session *s, const struct queued *q, uint16_t packet_id,
                        bool released)
{
    if (packet_id == 0) {
        /* As queue_push, without the limits: this was accepted before. */
        struct broker_limits *lim = &s->broker->limits;
        struct broker_limits keep = *lim;
        lim->max_queued_messages = 0;
        lim->max_queued_bytes = 0;
        int rc = queue_push(s, q);
        *lim = keep;
        return rc;
    }
    if (inflight_add(s, q, packet_id))
        return -1;
    s->inflight[s->n_inflight - 1].released = released;
    s->next_packet_id = packet_id;
    return 0;
}

int session_restore_pop(struct session *s, uint16_t packet_id)
{
    if (s->n_queue == 0)
        return 0;
    struct queued *q = &s->queue[s->head];
    int rc = packet_id ? session_restore_msg(s, q, packet_id, false) : 0;
    s->queued_bytes -= q->msg->payload_len;
    msg_unref(q->msg);
    s->head = (s->head + 1) % s->cap_queue;
    s->n_queue--;
    return rc;
}

void session_restore_ack(struct session *s, uint16_t packet_id, bool released)
{
    struct inflight *f = inflight_find(s, packet_id);
    if (f && released)
        f->released = true;
    else if (f)
        inflight_remove(s, f);
}
