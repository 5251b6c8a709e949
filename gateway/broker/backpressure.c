/* Back-pressure: instead of dropping QoS 1/2 messages when a subscriber falls
 * behind (Mosquitto's default), stop reading the publishers that feed it and
 * resume them when it has caught up. Watermarks have hysteresis, and a pause
 * is bounded in time, so publish/subscribe cycles between clients cannot
 * deadlock; past the bound the session's queue limits apply. */
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
    client_resume(c);
    return LOOP_TIMER_STOP;
}

void client_pause(struct client *c)
{
    if (c->paused || c->closed)
        return;
    c->paused = true;
    c->broker->paused++;
    loop_fd_modify(c->broker->loop, c->fd, c->want_write ? EPOLLOUT : 0);
    c->pause_timer = loop_timer_add(c->broker->loop, PAUSE_MAX_MS, on_pause_timeout, c);
    log_debug("broker", "client '%s' paused: a subscriber is behind",
              c->session ? c->session->client_id : "-");
}

void client_resume(struct client *c)
{
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
