/* Reconnect backoff: how long to wait before the next attempt to reopen a
 * serial port (or any link) that failed, doubling from a minimum to a maximum
 * with random jitter, so gateways on one power supply that all lose their
 * adapters at once do not retry in lockstep. Pure arithmetic: no clock, no
 * sleeping, no allocation; a struct per link, one thread per struct. */
#ifndef MQGATE_DRIVERS_BACKOFF_H
#define MQGATE_DRIVERS_BACKOFF_H

#include <stdint.h>

/* Largest max_ms kept (about 146 million years); larger is cut to it, so the
 * jittered wait below cannot overflow. */
#define BACKOFF_MAX_MS (INT64_MAX / 2)

struct backoff {
    int64_t min_ms, max_ms; /* as clamped by backoff_init */
    int64_t next_ms;        /* base of the next wait, min_ms..max_ms */
    uint64_t rng;           /* splitmix64 state */
};

/* min_ms below 1 becomes 1; max_ms above BACKOFF_MAX_MS becomes it, and a
 * max_ms below min_ms becomes min_ms. Different seeds give different jitter
 * (e.g. a hash of the device name mixed with the pid); any value is fine,
 * 0 included. */
void backoff_init(struct backoff *b, int64_t min_ms, int64_t max_ms, uint64_t seed);

/* The wait before the next attempt, in ms. Call k (k = 0 first, counting
 * from init or the last reset) has the base
 *     base_k = min(min_ms * 2^k, max_ms)
 * and returns a value drawn uniformly from the integers in
 *     [base_k - base_k/5, base_k + base_k/5]        (/ rounds down)
 * i.e. ±20% jitter. So every wait is at least min_ms - min_ms/5 (never below
 * min_ms/2, and at least 1) and at most max_ms + max_ms/5, and from the call
 * where base_k reaches max_ms on, every wait is in [max - max/5, max + max/5]. */
int64_t backoff_next(struct backoff *b);

/* After a successful attempt: the next wait starts again from min_ms. The
 * random state carries on. */
void backoff_reset(struct backoff *b);

#endif
