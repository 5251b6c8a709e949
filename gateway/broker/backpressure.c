/* Back-pressure: instead of dropping QoS 1/2 messages when a subscriber falls
 * behind (Mosquitto's default), stop reading the publishers that feed it and
 * resume them when it has caught up. Watermarks have hysteresis, and a pause
 * is bounded in time, so publish/subscribe cycles between clients cannot
 * deadlock; past the bound the session's queue limits apply. The broker's
 * memory_limit uses the same pause for publishers that cannot be refused. */
#include <inttypes.h>
#include <stdio.h>
#include <sys/epoll.h>

#include "gateway/broker/broker_internal.h"
#include "gateway/log.h"
#include "gateway/loop.h"

#define OUT_HIGH (1024u * 1024u)
#define OUT_LOW (256u * 1024u)
#define QUEUE_HIGH 1000u
#define QUEUE_LOW 250u
#define PAUSE_MAX_MS 1000

bool session_is_congested(const struct session *s)
{
    return s->congested;
}

void session_update_congestion(struct session *s)
{
    struct broker *b = s->broker;
    size_t out = s->client ? s->client->out_bytes : 0;
    bool online = s->client && !s->client->closed;
    if (!s->congested && online && (out > OUT_HIGH || s->n_queue > QUEUE_HIGH)) {
        s->congested = true;
        b->congested++;
    } else if (s->congested && (!online || (out <= OUT_LOW && s->n_queue <= QUEUE_LOW))) {
        s->congested = false;
        if (--b->congested == 0 && b->paused > 0) {
            for (struct client *c = b->clients; c; c = c->next)
                if (c->paused)
                    client_resume(c);
        }
    }
}

static int64_t on_pause_timeout(struct loop *loop, void *data)
{
    (void)loop;
    struct client *c = data;
    c->pause_timer = 0;
    /* The pause is bounded for memory too: the held PUBLISH passes, so a
     * client whose own unread acks keep the memory held cannot deadlock. */
    if (c->mem_held && broker_mem_biting(c->broker))
        c->mem_grace = true;
    client_resume(c);
    return LOOP_TIMER_STOP;
}

static void pause_for(struct client *c, const char *why)
{
    if (c->paused || c->closed)
        return;
    c->paused = true;
    c->broker->paused++;
    loop_fd_modify(c->broker->loop, c->fd, c->want_write ? EPOLLOUT : 0);
    c->pause_timer = loop_timer_add(c->broker->loop, PAUSE_MAX_MS, on_pause_timeout, c);
    log_debug("broker", "client '%s' paused: %s", c->session ? c->session->client_id : "-",
              why);
}

void client_pause(struct client *c)
{
    pause_for(c, "a subscriber is behind");
}

void client_resume(struct client *c)
{
    c->mem_held = false;
    if (!c->paused)
        return;
    c->paused = false;
    c->broker->paused--;
    if (c->pause_timer)
        loop_timer_cancel(c->broker->loop, c->pause_timer);
    c->pause_timer = 0;
    if (c->closed)
        return;
    loop_fd_modify(c->broker->loop, c->fd, EPOLLIN | (c->want_write ? EPOLLOUT : 0));
    client_process_buffered(c);
}

/* ---- memory_limit ------------------------------------------------------------ */

/* One warning per episode, and at most one a minute: a limit that flaps must
 * not flood the log. The line that says it ended goes with its warning. */
#define MEM_LOG_INTERVAL_MS (60 * 1000)

static const char *format_size(uint64_t n, char *buf, size_t size)
{
    if (n >= 1024 * 1024 && n % (1024 * 1024) == 0)
        snprintf(buf, size, "%" PRIu64 " MiB", n / (1024 * 1024));
    else if (n >= 1024 && n % 1024 == 0)
        snprintf(buf, size, "%" PRIu64 " KiB", n / 1024);
    else
        snprintf(buf, size, "%" PRIu64 " bytes", n);
    return buf;
}

static void log_bite(struct broker *b, int64_t now)
{
    char limit[32], again[64] = "";
    if (b->mem_episodes > 1)
        snprintf(again, sizeof(again), " (it began %" PRIu64 " times since the last report)",
                 b->mem_episodes);
    log_warn("broker", "memory_limit %s reached: %" PRIu64 " bytes held; pausing publishers and "
             "dropping QoS 0%s", format_size(b->mem_limit, limit, sizeof(limit)), b->mem_current,
             again);
    b->mem_logged = true;
    b->mem_logged_ms = now;
    b->mem_episodes = 0;
}

static void log_clear(struct broker *b)
{
    const struct broker_mem_counts *n = &b->mem_counts;
    char limit[32];
    log_info("broker", "memory_limit %s: back under it, %" PRIu64 " bytes held; since the last report %"
             PRIu64 " QoS 0 message(s) dropped, %" PRIu64 " publish(es) refused, %" PRIu64
             " held, %" PRIu64 " stored over the limit",
             format_size(b->mem_limit, limit, sizeof(limit)), b->mem_current, n->dropped,
             n->refused, n->held, n->admitted);
    b->mem_counts = (struct broker_mem_counts){ 0 };
}

static bool log_due(const struct broker *b, int64_t now)
{
    return b->mem_logged_ms == 0 || now - b->mem_logged_ms >= MEM_LOG_INTERVAL_MS;
}

void broker_mem_note(struct broker *b)
{
    int64_t now = loop_now_ms(b->loop);
    if (b->mem_biting && !b->mem_logged && log_due(b, now))
        log_bite(b, now);
}

void broker_mem_add(struct broker *b, size_t n)
{
    b->mem_current += n;
    if (b->mem_current > b->mem_max)
        b->mem_max = b->mem_current;
    if (b->mem_biting || b->mem_limit == 0 || b->mem_current <= b->mem_limit)
        return;
    b->mem_biting = true;
    b->mem_logged = false;
    b->mem_episodes++;
    broker_mem_note(b);
}

/* Held publishers go on in the next turn, from their pause timer: this runs
 * deep inside whatever freed memory (a flush, a close), where handling their
 * input would not be safe. */
static void resume_held_soon(struct broker *b)
{
    for (struct client *c = b->clients; c; c = c->next) {
        if (!c->mem_held || c->closed)
            continue;
        if (c->pause_timer)
            loop_timer_cancel(b->loop, c->pause_timer);
        c->pause_timer = loop_timer_add(b->loop, 0, on_pause_timeout, c);
    }
}

void broker_mem_sub(struct broker *b, size_t n)
{
    b->mem_current -= n < b->mem_current ? n : b->mem_current;
    if (!b->mem_biting || b->mem_current >= b->mem_limit - b->mem_limit / 10)
        return;
    b->mem_biting = false;
    if (b->mem_logged)
        log_clear(b);
    b->mem_logged = false;
    resume_held_soon(b);
}

bool broker_mem_hold(struct client *c, const struct mqtt_publish *p)
{
    if (c->mem_grace) {
        c->mem_grace = false;
        return false;
    }
    struct broker *b = c->broker;
    if (!b->mem_biting || !c->connected || c->version != MQTT_V311 || p->qos == 0 ||
        (p->qos == 2 && session_rx_qos2_has(c->session, p->packet_id)))
        return false; /* MQTT 5 is refused, QoS 0 dropped, a QoS 2 resend only acked */
    b->mem_counts.held++;
    broker_mem_note(b);
    pause_for(c, "memory_limit reached");
    c->mem_held = c->paused;
    return c->paused;
}
