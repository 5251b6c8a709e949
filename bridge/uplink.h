/* The bridge's link to the upstream (cloud) broker: one Paho MQTTAsync
 * client driven from the event loop. It connects, keeps reconnecting with
 * backoff and jitter, announces the gateway on a retained status topic (the
 * will says "offline"), publishes what the spool hands it and reports back
 * each acknowledgement by the caller's id. Paho's threads only copy what they
 * learn into events that the loop thread handles. */
#ifndef MQGATE_BRIDGE_UPLINK_H
#define MQGATE_BRIDGE_UPLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "gateway/loop.h"

struct uplink;

/* What the uplink tells its owner. Every callback runs on the loop thread,
 * from the loop's own dispatch (never from inside an uplink_* call). A
 * callback may call uplink_publish, uplink_subscribe and uplink_connected,
 * but not uplink_free. Any callback may be NULL. Strings and buffers passed
 * are borrowed for the duration of the call. */
struct uplink_events {
    /* A connection is up (CONNACK accepted); "online" has been queued on the
     * status topic and every filter given to uplink_subscribe is being
     * subscribed again. session_present: the broker kept our session. */
    void (*connected)(void *ctx, bool session_present);
    /* The connection was lost, or a connect attempt failed; the next attempt
     * is already scheduled. `why` is for logs. */
    void (*disconnected)(void *ctx, const char *why);
    /* The broker acknowledged the publish made with this id (PUBACK for
     * QoS 1, PUBCOMP for QoS 2; for QoS 0: it was written to the socket).
     * See uplink_publish about ids in flight across a disconnect. */
    void (*delivered)(void *ctx, uint64_t id);
    /* A message arrived on one of the subscriptions. */
    void (*message)(void *ctx, const char *topic, const void *payload, size_t len, int qos,
                    bool retain);
    void *ctx;
};

/* Prepare the client; no network I/O yet (see uplink_start).
 *   cfg           the bridge section (url, version, client_id template, TLS,
 *                 timings); read here only: nothing of it is kept.
 *   gateway_name  fills {gateway} in cfg->client_id.
 *   status_topic  rendered gateway status topic: the will ("offline",
 *                 retained, QoS 1) and "online" (retained, QoS 1) at each
 *                 connect. Copied.
 *   loop, ev      the loop (borrowed until uplink_free) and the callbacks
 *                 (copied).
 * Returns 0 and *out, or a negative errno with a message in err:
 * -EINVAL (URL not mqtt:// or mqtts://, client id too long, bad option),
 * -ENOMEM, -EIO (Paho refused to create the client), or an -errno of the
 * eventfd or the loop watch. Loop thread only. */
int uplink_new(const struct cfg_bridge *cfg, const char *gateway_name, const char *status_topic,
               struct loop *loop, const struct uplink_events *ev, struct uplink **out,
               char *err, size_t errlen);

/* Make the first connect attempt now. From then on the uplink reconnects by
 * itself after every failure or loss, waiting reconnect_min doubling to
 * reconnect_max, ±20% jitter (drivers/backoff.h), reset at each success.
 * Returns 0, -EALREADY if started before, or -ENOMEM (no timer). A connect
 * attempt that fails is reported through `disconnected`, not here. */
int uplink_start(struct uplink *u);

/* Disconnect and free. When connected it sends DISCONNECT. With `final`
 * (the gateway stops) the link leaves saying "offline": for MQTT 5 with
 * reason 0x04 (so the broker publishes the will), for 3.1.1 after queuing
 * "offline" itself. Without it (a reload: a new link follows) a normal
 * DISCONNECT makes the broker discard the will, and nothing is published.
 * It waits at most ~2 s for the DISCONNECT to go out.
 * Then Paho's client is destroyed (its threads
 * are joined when it was the process's last client), the eventfd unwatched
 * and closed, pending events dropped without calling back. Ids still in
 * flight are simply never reported (the caller still holds them). Loop
 * thread, outside uplink callbacks. NULL is a no-op. */
void uplink_free(struct uplink *u, bool final);

/* Whether the link is up as the loop thread last learned it (between
 * `connected` and `disconnected`). */
bool uplink_connected(const struct uplink *u);

/* How many messages the caller should keep handed to uplink_publish and not
 * yet delivered: the upstream broker's Receive Maximum from the last CONNACK
 * (MQTT 5; 65535 for 3.1.1) less one for the uplink's own status message,
 * and below Paho's queue bound (spool.max_inflight + 16). More would wait in
 * Paho's queue, whose send thread then runs only on its 1 s timer. >= 1. */
int uplink_send_quota(const struct uplink *u);

/* Send one message upstream. topic must be a valid topic name (no
 * wildcards); payload may be NULL when len is 0; qos 0..2; `id` is the
 * caller's (the spool's) and comes back through `delivered`.
 * Returns 0 when Paho took it, or
 *   -ENOTCONN   the link is down (nothing queued: the caller keeps it);
 *   -EINVAL     bad qos, topic or a length over INT_MAX;
 *   -ENOBUFS    Paho's in-flight window (65535) is full;
 *   -ENOMEM, -EIO  other failures.
 * Paho keeps no copy across a restart (no persistence): the caller is the
 * store. After `disconnected`, ids not yet delivered are the caller's to
 * publish again once `connected`. A copy sent before may still be completed
 * by Paho in a resumed session, so `delivered` can report an id twice, or
 * one the caller re-published since: the caller must treat it as
 * idempotent. Loop thread; never blocks on the network. */
int uplink_publish(struct uplink *u, const char *topic, const void *payload, size_t len, int qos,
                   bool retain, uint64_t id);

/* Subscribe to `filter` at `qos` now if connected, and again at every
 * connect. The filter is copied; the same filter twice replaces the QoS.
 * Returns 0, -EINVAL (empty filter, qos outside 0..2) or -ENOMEM. A
 * SUBACK refusal is logged, not reported. Loop thread. */
int uplink_subscribe(struct uplink *u, const char *filter, int qos);

#endif
