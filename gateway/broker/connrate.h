/* max_connect_rate: a token bucket per client address (IPv4, or IPv6 with
 * IPv4-mapped addresses taken as IPv4) in a small fixed table, so a flood
 * of connections from one address is refused at accept while others still
 * get in. Loop thread only. */
#ifndef MQGATE_BROKER_CONNRATE_H
#define MQGATE_BROKER_CONNRATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct connrate;

/* A limiter of `per_second` (> 0) new connections per second per address,
 * with bursts of up to `per_second`. Its memory is fixed (CONNRATE_SLOTS
 * addresses): when the table is full, the least recently seen address of
 * the few probed is forgotten, which can only ever let a connection in, never
 * refuse one wrongly. NULL when out of memory. */
struct connrate *connrate_new(uint32_t per_second);
void connrate_free(struct connrate *r);

#define CONNRATE_SLOTS 256

/* Take a token for a connection from `addr` at `now_ms` (a monotonic clock):
 * true when it may go on, false when the address is over its rate.
 * Addresses of other families always pass. */
bool connrate_allow(struct connrate *r, const struct sockaddr_storage *addr, int64_t now_ms);

/* For a rate-limited log line: true at most once a second; then
 * *refused is how many connections connrate_allow refused since the last
 * time it returned true (the count restarts). */
bool connrate_log_due(struct connrate *r, int64_t now_ms, uint64_t *refused);

#endif
