/* The upstream bridge of `mqgate run`: it subscribes in-process to the
 * forward rules' filters on the embedded broker, puts what they match into
 * the spool, sends the spool upstream through the uplink with a bounded
 * window, acknowledges each message in the spool once the upstream broker
 * has it, and publishes what the receive rules let in on the embedded
 * broker. It also publishes its health under $SYS/bridge/. One loop thread
 * owns it. */
#ifndef MQGATE_BRIDGE_BRIDGE_H
#define MQGATE_BRIDGE_BRIDGE_H

#include <stdbool.h>
#include <stdint.h>

#include "bridge/rules.h"
#include "config/config.h"

struct broker;
struct loop;
struct bridge;

/*
 * Message path and guarantees:
 *  - A local message matched by a forward rule is appended to the spool
 *    during the broker's routing of it, before any PUBACK for it leaves (the
 *    broker runs the bridge's flush before writing client output each turn,
 *    see broker_set_before_flush). It counts as accepted as spool.h says:
 *    fsync always: after the fsync of that turn; batch and never: once
 *    written (a process crash loses nothing; a machine crash may lose the
 *    last fsync_interval with batch, whatever the OS had not written with
 *    never).
 *  - QoS 0 rules with `spool: false` do not touch the disk: such messages
 *    are sent at once when the link is up and the window has room, else
 *    held in memory (at most BRIDGE_MEMORY_MAX messages, the oldest dropped
 *    and counted) and sent first after a connect.
 *  - At most spool.max_inflight messages (and fewer than the upstream
 *    broker's Receive Maximum, see uplink_send_quota) are handed to Paho and
 *    not yet acknowledged. A message leaves the spool on PUBACK (QoS 1), PUBCOMP
 *    (QoS 2), or once written (QoS 0). After a disconnect everything not
 *    acknowledged is sent again, oldest first, so the upstream may see a
 *    message twice (at most the window, plus acknowledgements not yet
 *    recorded when the gateway was killed); never out of order within one
 *    connection.
 *  - A message published locally by a receive rule is never forwarded
 *    back, even if a forward filter matches it.
 *
 * Health, retained, on the embedded broker (updated every
 * broker.sys_interval and at every uplink state change):
 *   $SYS/bridge/state                  connected | disconnected
 *   $SYS/bridge/reconnects             connections made after the first
 *   $SYS/bridge/messages/forwarded     acknowledged upstream
 *   $SYS/bridge/messages/received      published locally by receive rules
 *   $SYS/bridge/messages/denied        refused by receive_allow
 *   $SYS/bridge/messages/dropped       QoS 0 memory messages dropped
 *   $SYS/bridge/spool/messages         waiting for an acknowledgement
 *   $SYS/bridge/spool/bytes            disk bytes of the spool's segments
 *   $SYS/bridge/spool/oldest_age       seconds, oldest waiting message
 *   $SYS/bridge/spool/dropped/full     by max_size
 *   $SYS/bridge/spool/dropped/age      by max_age
 *   $SYS/bridge/spool/dropped/corrupt  bad records found and skipped
 *   $SYS/bridge/spool/dropped/error    refused: the disk failed and the
 *                                      memory for pending records was full
 *   $SYS/bridge/spool/errors           episodes of failing spool writes
 *   $SYS/bridge/spool/last_error       "" or the last write/fsync error
 */

#define BRIDGE_MEMORY_MAX 1000

/* Whether a local topic may be published from upstream when receive_allow
 * is empty (the gateway passes "is a writable point's command topic"). */
struct bridge_hooks {
    rules_allowed_fn allowed;
    void *ctx;
};

/* Open the spool and start connecting. cfg->bridge must be enabled with a
 * URL; cfg, loop and broker are borrowed and must outlive the bridge (a
 * reload stops the bridge before freeing its configuration). hooks may be
 * NULL. Returns 0 and *out, or -errno (logged with the reason: the spool
 * directory, the URL...). Loop thread. */
int bridge_start(const struct config *cfg, struct loop *loop, struct broker *broker,
                 const struct bridge_hooks *hooks, struct bridge **out);

/* Stop: unsubscribe locally, flush the spool, disconnect and free. With
 * `final` (the gateway stops) the upstream status becomes "offline"; on a
 * reload it does not. Messages not yet acknowledged stay in the spool for
 * the next start. NULL is a no-op. Loop thread. */
void bridge_stop(struct bridge *b, bool final);

#endif
