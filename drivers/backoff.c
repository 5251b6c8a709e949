/* Reconnect backoff: exponential from min to max with ±20% jitter (the
 * bounds are stated in backoff.h). splitmix64 supplies the jitter: tiny,
 * seedable, and good from any seed, 0 included. */
#include "drivers/backoff.h"

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

void backoff_init(struct backoff *b, int64_t min_ms, int64_t max_ms, uint64_t seed)
{
    if (min_ms < 1)
        min_ms = 1;
    if (min_ms > BACKOFF_MAX_MS)
        min_ms = BACKOFF_MAX_MS;
    if (max_ms > BACKOFF_MAX_MS)
        max_ms = BACKOFF_MAX_MS;
    if (max_ms < min_ms)
        max_ms = min_ms;
    b->min_ms = min_ms;
    b->max_ms = max_ms;
    b->next_ms = min_ms;
    b->rng = seed;
}

int64_t backoff_next(struct backoff *b)
{
    int64_t base = b->next_ms;
    /* Doubling stops at max without ever computing past it. */
    b->next_ms = base > b->max_ms / 2 ? b->max_ms : base * 2;
    int64_t spread = base / 5;
    /* 2*spread + 1 <= base + 1, far from overflow under BACKOFF_MAX_MS. */
    uint64_t span = (uint64_t)(2 * spread + 1);
    return base - spread + (int64_t)(splitmix64(&b->rng) % span);
}

void backoff_reset(struct backoff *b)
{
    b->next_ms = b->min_ms;
}
