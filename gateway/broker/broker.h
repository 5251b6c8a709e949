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

/* Load the broker's durable state (retained messages, persistent sessions)
 * from cfg->persistence.dir and keep it there from now on; nothing when
 * persistence is not enabled. Call after broker_new, before broker_listen.
 * Blocks on the disk. Restored sessions wait offline for their clients;
 * their expiry counts from this call. A directory whose parent does not
 * exist is logged as an error and the broker runs without state (returns 0).
 * Returns 0, or -errno (logged): the directory cannot be made or opened, is
 * locked by another process (-EWOULDBLOCK), holds a file that is not broker
 * state (-EINVAL), or cannot be read or written. */
int broker_open_state(struct broker *b, const struct cfg_broker *cfg);

/* Reload the certificates, keys and TLS settings of the mqtts listeners
 * from `cfg` (typically on SIGHUP), matching listeners by position: new
 * connections use the new settings, open ones keep theirs. Every context is
 * built before any is swapped: on a failure (logged) all listeners keep the
 * old ones. Listeners themselves (address, port, protocol) are not changed
 * (a listener whose protocol differs is skipped, and logged).
 * Returns 0, or -EINVAL when a context could not be built. */
int broker_reload_tls(struct broker *b, const struct cfg_broker *cfg);

/* Load auth.password_file and auth.acl_file of `cfg` (either may be unset:
 * no password file means user names are not checked where anonymous
 * clients are allowed, and refused where not; no ACL file allows every
 * topic). Call after broker_new, before broker_listen: until then every
 * client is judged as with neither file. Blocks on reading the files.
 * Every problem is logged, naming the file and line. Returns 0, or -errno
 * (-EINVAL for a malformed file, -ENOENT, -EACCES, -ENOMEM...); the broker
 * is then unchanged. */
int broker_load_auth(struct broker *b, const struct cfg_broker *cfg);

/* The same on SIGHUP: both files are parsed anew and swapped in only if
 * both load; on any error (logged) the previous password file and ACL stay.
 * Connected clients keep their connection (their next PUBLISH, SUBSCRIBE
 * and deliveries follow the new ACL); a will whose topic its owner may no
 * longer write is dropped. Returns 0 or -errno, as broker_load_auth. */
int broker_reload_auth(struct broker *b, const struct cfg_broker *cfg);

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
