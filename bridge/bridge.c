/* The bridge's message path (see bridge.h): local messages through the
 * forward rules into the spool (or the memory queue), the spool out to the
 * uplink through a bounded window, acknowledgements back into the spool, and
 * upstream messages through the receive rules into the embedded broker. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bridge/bridge_internal.h"
#include "bridge/uplink.h"
#include "config/template.h"
#include "gateway/broker/broker.h"
#include "gateway/log.h"
#include "gateway/loop.h"

#define RETRY_MS 1000      /* a failed flush or send is tried again after this */
#define LOG_EVERY_MS 10000

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool bridge_log_allowed(struct bridge_log_limit *l, int64_t now_ms, uint64_t *repeats)
{
    if (l->last_ms && now_ms - l->last_ms < LOG_EVERY_MS) {
        l->repeats++;
        return false;
    }
    *repeats = l->repeats;
    l->repeats = 0;
    l->last_ms = now_ms ? now_ms : 1;
    return true;
}

/* ---- the window ------------------------------------------------------------ */

static bool window_full(const struct bridge_window *w)
{
    return w->n >= w->limit;
}

static void window_push(struct bridge_window *w, uint64_t id)
{
    w->ids[(w->head + w->n++) % w->cap] = id;
}

/* Mark `id` delivered; false when it is not in the window (delivered
 * before, or sent on a connection since given up). */
static bool window_complete(struct bridge_window *w, uint64_t id)
{
    bool found = false;
    for (size_t i = 0; i < w->n; i++) {
        uint64_t *slot = &w->ids[(w->head + i) % w->cap];
        if (*slot == id) {
            *slot = 0;
            found = true;
            break;
        }
    }
    while (w->n && w->ids[w->head] == 0) {
        w->head = (w->head + 1) % w->cap;
        w->n--;
    }
    return found;
}

static void window_clear(struct bridge_window *w)
{
    w->head = 0;
    w->n = 0;
}

/* ---- the memory queue (QoS 0, spool: false) ---------------------------------- */

static void mem_msg_free(struct bridge_mem_msg *m)
{
    free(m->topic);
    free(m->payload);
    *m = (struct bridge_mem_msg){ 0 };
}

static void mem_pop(struct bridge *b)
{
    mem_msg_free(&b->mem[b->mem_head]);
    b->mem_head = (b->mem_head + 1) % BRIDGE_MEMORY_MAX;
    b->mem_n--;
}

static void mem_push(struct bridge *b, const struct rule_result *r, const void *payload,
                     size_t len)
{
    if (b->mem_n == BRIDGE_MEMORY_MAX) {
        mem_pop(b); /* the oldest goes: QoS 0 readings age fastest */
        b->stats.dropped_memory++;
    }
    struct bridge_mem_msg m = { .len = len, .qos = r->qos, .retain = r->retain };
    m.topic = strdup(r->topic);
    m.payload = malloc(len ? len : 1);
    if (!m.topic || !m.payload) {
        mem_msg_free(&m);
        b->stats.dropped_memory++;
        return;
    }
    if (len)
        memcpy(m.payload, payload, len);
    b->mem[(b->mem_head + b->mem_n++) % BRIDGE_MEMORY_MAX] = m;
}

/* ---- local → upstream -------------------------------------------------------- */

static void warn_limited(struct bridge *b, struct bridge_log_limit *l, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void warn_limited(struct bridge *b, struct bridge_log_limit *l, const char *fmt, ...)
{
    uint64_t repeats;
    if (!bridge_log_allowed(l, loop_now_ms(b->loop), &repeats))
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (repeats)
        log_warn("bridge", "%s (and %llu more like it)", line, (unsigned long long)repeats);
    else
        log_warn("bridge", "%s", line);
}

static void spool_message(struct bridge *b, const struct rule_result *r, const void *payload,
                          size_t len)
{
    int rc = spool_append(b->spool, r->topic, payload, len, r->qos, r->retain, wall_ms(), NULL);
    if (rc == 0)
        return;
    if (rc == -EDQUOT) {
        /* drop_newest at max_size: the policy, counted by the spool. */
        warn_limited(b, &b->warn_spool, "message on '%s' not spooled: the spool is at "
                     "max_size (full_policy: drop_newest)", r->topic);
        return;
    }
    /* The disk refuses (full, failing) and the memory for pending records
     * is used up: this message cannot be kept. */
    b->stats.dropped_error++;
    warn_limited(b, &b->warn_spool, "message on '%s' dropped: the spool cannot store it (%s)",
                 r->topic, strerror(-rc));
}

static void on_local_message(void *ctx, const char *topic, const void *payload, size_t len,
                             int qos, bool retain)
{
    struct bridge *b = ctx;
    if (b->from_upstream)
        return; /* came from upstream: never sent back */
    struct rule_result r;
    char why[160];
    int rc = rules_forward(b->cfg, topic, qos, retain, &r, why, sizeof why);
    if (rc == RULES_INVALID)
        warn_limited(b, &b->warn_forward, "not forwarding '%s': %s", topic, why);
    if (rc != RULES_MAPPED)
        return;
    if (r.spool)
        spool_message(b, &r, payload, len);
    else
        mem_push(b, &r, payload, len);
}

/* ---- sending --------------------------------------------------------------- */

static void wake_at(struct bridge *b, int64_t delay_ms);

static bool send_memory(struct bridge *b)
{
    struct bridge_mem_msg *m = &b->mem[b->mem_head];
    uint64_t id = BRIDGE_MEM_ID | ++b->next_mem_id;
    int rc = uplink_publish(b->uplink, m->topic, m->payload, m->len, m->qos, m->retain, id);
    if (rc == -ENOTCONN || rc == -ENOBUFS || rc == -ENOMEM)
        return false; /* kept; tried again */
    if (rc < 0) {
        warn_limited(b, &b->warn_forward, "cannot send '%s' upstream: %s", m->topic,
                     strerror(-rc));
        b->stats.dropped_memory++;
    } else {
        window_push(&b->window, id);
    }
    mem_pop(b);
    return true;
}

/* The next spool message into the window: 1 sent, 0 nothing to send, -1 stop. */
static int send_spooled(struct bridge *b)
{
    struct spool_msg msg;
    int rc = spool_next(b->spool, &b->cursor, &msg, b->buf, b->buflen);
    if (rc == -ENOBUFS) {
        size_t need = msg.topic_len + 1 + msg.payload_len;
        uint8_t *nb = realloc(b->buf, need);
        if (!nb)
            return -1;
        b->buf = nb;
        b->buflen = need;
        rc = spool_next(b->spool, &b->cursor, &msg, b->buf, b->buflen);
    }
    if (rc < 0) {
        warn_limited(b, &b->warn_spool, "cannot read the spool: %s", strerror(-rc));
        wake_at(b, RETRY_MS);
        return -1;
    }
    if (rc == 0)
        return 0;
    rc = uplink_publish(b->uplink, msg.topic, msg.payload, msg.payload_len, msg.qos,
                        msg.retain, msg.seq);
    if (rc < 0) {
        b->cursor.next_seq = msg.seq; /* sent again next time */
        if (rc != -ENOTCONN && rc != -ENOBUFS) {
            warn_limited(b, &b->warn_forward, "cannot send '%s' upstream: %s", msg.topic,
                         strerror(-rc));
            wake_at(b, RETRY_MS);
        }
        return -1;
    }
    window_push(&b->window, msg.seq);
    return 1;
}

/* Fill the window: memory messages first (they would not survive a wait),
 * then the spool, oldest first. */
static void bridge_pump(struct bridge *b)
{
    if (!uplink_connected(b->uplink))
        return;
    while (!window_full(&b->window)) {
        if (b->mem_n) {
            if (!send_memory(b))
                return;
            continue;
        }
        if (send_spooled(b) <= 0)
            return;
    }
}

/* ---- once per loop turn ------------------------------------------------------ */

static int64_t on_wake(struct loop *loop, void *data)
{
    (void)loop;
    struct bridge *b = data;
    b->wake_timer = 0;
    return LOOP_TIMER_STOP; /* the turn's before-flush does the work */
}

static void wake_at(struct bridge *b, int64_t delay_ms)
{
    int64_t due = loop_now_ms(b->loop) + delay_ms;
    if (b->wake_timer && b->wake_due_ms <= due)
        return;
    if (b->wake_timer)
        loop_timer_cancel(b->loop, b->wake_timer);
    b->wake_timer = loop_timer_add(b->loop, delay_ms, on_wake, b);
    b->wake_due_ms = due;
}

static void flush_spool(struct bridge *b)
{
    int64_t now = loop_now_ms(b->loop);
    int rc = spool_flush(b->spool, now);
    if (rc < 0) {
        if (!b->spool_failing)
            b->stats.spool_errors++;
        b->spool_failing = true;
        wake_at(b, RETRY_MS);
        return;
    }
    if (b->spool_failing)
        log_info("bridge", "the spool writes again");
    b->spool_failing = false;
    int64_t sync = spool_next_sync_ms(b->spool, now);
    if (sync >= 0)
        wake_at(b, sync);
}

/* Before the broker answers this turn's publishers: make what they sent
 * durable, then send what the window allows. */
static void before_flush(void *ctx)
{
    struct bridge *b = ctx;
    flush_spool(b);
    bridge_pump(b);
}

/* ---- uplink events ------------------------------------------------------------ */

static void on_connected(void *ctx, bool session_present)
{
    struct bridge *b = ctx;
    if (b->ever_connected)
        b->stats.reconnects++;
    b->ever_connected = true;
    b->down_reported = false;
    b->stats.connected = true;
    size_t quota = (size_t)uplink_send_quota(b->uplink);
    b->window.limit = quota < b->window.cap ? quota : b->window.cap;
    struct spool_stats ss;
    spool_stats(b->spool, &ss);
    log_info("bridge", "connected upstream (session %s); %llu message(s) to send, %zu at a "
             "time", session_present ? "resumed" : "new", (unsigned long long)ss.msgs,
             b->window.limit);
    bridge_health_publish(b, false);
}

static void on_disconnected(void *ctx, const char *why)
{
    struct bridge *b = ctx;
    /* Once per outage: the uplink logs each attempt itself. */
    if (b->stats.connected || !b->down_reported)
        log_warn("bridge", "upstream %s: %s; messages wait in the spool",
                 b->stats.connected ? "connection lost" : "not reachable", why);
    b->down_reported = true;
    b->stats.connected = false;
    /* Whatever was in flight is sent again, oldest first, on the next
     * connection; a late acknowledgement of it is still taken. */
    window_clear(&b->window);
    spool_rewind(&b->cursor);
    bridge_health_publish(b, false);
}

static void on_delivered(void *ctx, uint64_t id)
{
    struct bridge *b = ctx;
    bool in_window = window_complete(&b->window, id);
    if (id & BRIDGE_MEM_ID) {
        if (in_window)
            b->stats.forwarded++;
        return;
    }
    /* Also when no longer in the window: a resumed session completed a copy
     * sent before, and the upstream broker has the message either way. */
    if (spool_ack(b->spool, id) == 0 && in_window)
        b->stats.forwarded++;
}

static void on_upstream_message(void *ctx, const char *topic, const void *payload, size_t len,
                                int qos, bool retain)
{
    struct bridge *b = ctx;
    struct rule_result r;
    char why[160];
    int rc = rules_receive(b->cfg, topic, qos, retain, b->hooks.allowed, b->hooks.ctx, &r, why,
                           sizeof why);
    if (rc == RULES_DENIED)
        b->stats.denied++;
    if (rc == RULES_DENIED || rc == RULES_INVALID)
        warn_limited(b, &b->warn_receive, "dropping '%s' from upstream: %s", topic, why);
    if (rc != RULES_MAPPED)
        return;
    b->from_upstream = true;
    rc = broker_publish(b->broker, r.topic, payload, len, r.qos, r.retain);
    b->from_upstream = false;
    if (rc < 0) {
        warn_limited(b, &b->warn_receive, "cannot publish '%s' locally: %s", r.topic,
                     strerror(-rc));
        return;
    }
    b->stats.received++;
    log_debug("bridge", "'%s' from upstream published on '%s'", topic, r.topic);
}

/* ---- start and stop ----------------------------------------------------------- */

static int render_status_topic(struct bridge *b)
{
    struct template_values v = { { 0 } };
    template_values_set(&v, TVAR_GATEWAY, b->cfg->gateway.name);
    size_t n = template_render(b->cfg->gateway.status_topic.text, &v, b->status_topic,
                               sizeof b->status_topic);
    if (n >= sizeof b->status_topic) {
        log_error("bridge", "the gateway's status topic is longer than %zu bytes",
                  sizeof b->status_topic - 1);
        return -EINVAL;
    }
    return 0;
}

static int open_spool(struct bridge *b)
{
    const struct cfg_spool *sc = &b->cfg->bridge.spool; /* dir resolved by the config */
    /* The state directory is systemd's (StateDirectory=); when run by hand
     * it may not exist yet, and the spool creates one level only. */
    if (mkdir(b->cfg->gateway.state_dir, 0750) == 0)
        log_info("bridge", "created the state directory %s", b->cfg->gateway.state_dir);
    char err[512] = "";
    int rc = spool_open(sc, &b->spool, err, sizeof err);
    if (rc < 0) {
        log_error("bridge", "%s", err[0] ? err : strerror(-rc));
        return rc;
    }
    struct spool_stats ss;
    spool_stats(b->spool, &ss);
    log_info("bridge", "spool %s: %llu message(s) waiting, %llu byte(s) on disk", sc->dir,
             (unsigned long long)ss.msgs, (unsigned long long)ss.disk_bytes);
    return 0;
}

static int subscribe_local(struct bridge *b)
{
    struct rules_sub subs[64];
    size_t n = rules_subscriptions(b->cfg, RULES_LOCAL, subs, 64);
    if (n > 64) {
        log_error("bridge", "more than 64 distinct forward filters");
        return -E2BIG;
    }
    b->local = broker_local_new(b->broker, "bridge", on_local_message, b);
    if (!b->local)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        /* At QoS 2: the rule, not the local publisher, sets the upstream QoS. */
        int rc = broker_local_subscribe(b->local, subs[i].filter, 2);
        if (rc < 0) {
            log_error("bridge", "cannot subscribe locally to '%s': %s", subs[i].filter,
                      strerror(-rc));
            return rc;
        }
    }
    return 0;
}

static int subscribe_remote(struct bridge *b)
{
    struct rules_sub subs[64];
    size_t n = rules_subscriptions(b->cfg, RULES_REMOTE, subs, 64);
    if (n > 64) {
        log_error("bridge", "more than 64 distinct receive filters");
        return -E2BIG;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = uplink_subscribe(b->uplink, subs[i].filter, subs[i].qos);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int start_uplink(struct bridge *b)
{
    struct uplink_events ev = {
        .connected = on_connected,
        .disconnected = on_disconnected,
        .delivered = on_delivered,
        .message = on_upstream_message,
        .ctx = b,
    };
    char err[512] = "";
    int rc = uplink_new(&b->cfg->bridge, b->cfg->gateway.name, b->status_topic, b->loop, &ev,
                        &b->uplink, err, sizeof err);
    if (rc < 0) {
        log_error("bridge", "%s", err[0] ? err : strerror(-rc));
        return rc;
    }
    rc = subscribe_remote(b);
    if (rc == 0)
        rc = uplink_start(b->uplink);
    return rc;
}

int bridge_start(const struct config *cfg, struct loop *loop, struct broker *broker,
                 const struct bridge_hooks *hooks, struct bridge **out)
{
    *out = NULL;
    struct bridge *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->cfg = cfg;
    b->loop = loop;
    b->broker = broker;
    if (hooks)
        b->hooks = *hooks;
    b->window.cap = (size_t)cfg->bridge.spool.max_inflight;
    b->window.limit = b->window.cap;
    b->window.ids = calloc(b->window.cap, sizeof *b->window.ids);
    b->buflen = 4096;
    b->buf = malloc(b->buflen);
    int rc = -ENOMEM;
    if (!b->window.ids || !b->buf)
        goto fail;
    if ((rc = render_status_topic(b)) < 0 || (rc = open_spool(b)) < 0)
        goto fail;
    broker_set_before_flush(broker, before_flush, b);
    if ((rc = subscribe_local(b)) < 0 || (rc = start_uplink(b)) < 0 ||
        (rc = bridge_health_start(b)) < 0)
        goto fail;
    log_info("bridge", "forwarding %zu rule(s) to %s, receiving %zu", cfg->bridge.n_forward,
             cfg->bridge.url, cfg->bridge.n_receive);
    *out = b;
    return 0;
fail:
    bridge_stop(b, false);
    return rc;
}

void bridge_stop(struct bridge *b, bool final)
{
    if (!b)
        return;
    if (b->broker)
        broker_set_before_flush(b->broker, NULL, NULL);
    broker_local_free(b->local); /* nothing more comes in */
    b->local = NULL;
    if (b->spool)
        flush_spool(b);
    uplink_free(b->uplink, final);
    b->uplink = NULL;
    b->stats.connected = false;
    bridge_health_stop(b);
    if (b->spool) {
        struct spool_stats ss;
        spool_stats(b->spool, &ss);
        if (ss.msgs)
            log_info("bridge", "%llu message(s) kept in the spool for the next start",
                     (unsigned long long)ss.msgs);
    }
    spool_close(b->spool);
    if (b->wake_timer)
        loop_timer_cancel(b->loop, b->wake_timer);
    while (b->mem_n)
        mem_pop(b);
    free(b->window.ids);
    free(b->buf);
    free(b);
}
