/* The embedded MQTT 3.1.1/5.0 broker, behind one opaque handle. It runs on
 * the gateway's event loop (single-threaded: every call below is made from
 * the loop's thread), serves the listeners of the configuration, and takes
 * messages published in-process by the gateway itself. */
#ifndef MQGATE_BROKER_BROKER_H
#define MQGATE_BROKER_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

struct broker;
struct loop;

/* A broker on `loop` with the limits of `cfg` (copied: `cfg` may be freed
 * after the call). Listens on nothing yet. NULL when out of memory. */
struct broker *broker_new(struct loop *loop, const struct cfg_broker *cfg);

/* Bind every configured listener (a port 0 is resolved and logged).
 * Returns 0, or -errno of the first listener that failed (and none is left
 * open). Logs "listening on ADDR:PORT" for each. */
int broker_listen(struct broker *b);

/* The port the i-th listener is bound to, for tests that listen on port 0. */
int broker_listener_port(const struct broker *b, size_t i);

/* Disconnect every client (their wills are not sent: this is a server
 * shutdown, not a client failure) and free everything. NULL is a no-op. */
void broker_free(struct broker *b);

/* Publish from inside the gateway (trusted, no client): routed to the
 * subscribers like a client's PUBLISH, and stored when `retain`.
 * Returns 0, -EINVAL for a bad topic or QoS, -ENOMEM. */
int broker_publish(struct broker *b, const char *topic, const void *payload, size_t len,
                   int qos, bool retain);

/* fn(ctx) runs once per loop turn, just before the broker writes the
 * turn's output to its clients (PUBACKs, PUBRECs, deliveries): the place
 * for a subscriber that took messages in during the turn to make them
 * durable before the publishers hear they were accepted (the bridge's
 * spool). One hook; NULL removes it. */
void broker_set_before_flush(struct broker *b, void (*fn)(void *ctx), void *ctx);

/* ---- in-process subscribers ----------------------------------------------
 * The gateway's own parts (the bridge, command handling) subscribe without a
 * socket. Their callback runs on the loop's thread, synchronously, once per
 * matching message; it may publish into the broker. Trusted: no limits. */
typedef void broker_local_fn(void *ctx, const char *topic, const void *payload, size_t len,
                             int qos, bool retain);

struct broker_local;

/* A subscriber named `name` (for logs). NULL when out of memory. */
struct broker_local *broker_local_new(struct broker *b, const char *name, broker_local_fn *fn,
                                      void *ctx);
/* Subscribe to a filter (wildcards and $share allowed) at `qos` (the QoS the
 * callback is told, min'ed with the message's). Retained messages that match
 * are delivered at once. 0, -EINVAL (bad filter or QoS), -ENOMEM. */
int broker_local_subscribe(struct broker_local *l, const char *filter, int qos);
/* 0, or -ENOENT when not subscribed to that filter. */
int broker_local_unsubscribe(struct broker_local *l, const char *filter);
/* Unsubscribe from everything and free; before broker_free. NULL: no-op. */
void broker_local_free(struct broker_local *l);

struct broker_stats {
    uint64_t clients_connected;
    uint64_t messages_received;
    uint64_t messages_sent;
    uint64_t messages_dropped;
    uint64_t bytes_received;
    uint64_t bytes_sent;
    uint64_t retained;
    uint64_t subscriptions;
};

void broker_get_stats(const struct broker *b, struct broker_stats *out);

#endif
