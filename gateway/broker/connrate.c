/* Per-address connection rate limiting (max_connect_rate): token buckets in
 * a fixed open-addressed table keyed by the client's address. Tokens are
 * counted in thousandths so integer refill stays exact at any rate. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/broker/connrate.h"

#define PROBES 8

struct bucket {
    uint8_t addr[16];   /* IPv4 as ::ffff:a.b.c.d */
    bool used;
    int64_t last_ms;    /* last refill */
    int64_t milli;      /* tokens × 1000 */
};

struct connrate {
    int64_t rate;       /* tokens per second */
    int64_t log_ms;     /* last connrate_log_due that returned true */
    uint64_t refused;
    struct bucket slot[CONNRATE_SLOTS];
};

struct connrate *connrate_new(uint32_t per_second)
{
    struct connrate *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->rate = per_second ? per_second : 1;
    r->log_ms = INT64_MIN / 2;
    return r;
}

void connrate_free(struct connrate *r)
{
    free(r);
}

static bool address_key(const struct sockaddr_storage *ss, uint8_t key[16])
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (ss->ss_family == AF_INET) {
        memcpy(key, mapped, 12);
        memcpy(key + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
        return true;
    }
    return false;
}

static uint32_t hash_key(const uint8_t key[16])
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    return h;
}

/* The address's bucket, or a fresh one in place of the stalest probed. */
static struct bucket *bucket_for(struct connrate *r, const uint8_t key[16], int64_t now_ms)
{
    uint32_t h = hash_key(key);
    struct bucket *victim = NULL;
    for (uint32_t i = 0; i < PROBES; i++) {
        struct bucket *bk = &r->slot[(h + i) % CONNRATE_SLOTS];
        if (bk->used && memcmp(bk->addr, key, 16) == 0)
            return bk;
        if (!victim || !bk->used || (victim->used && bk->last_ms < victim->last_ms))
            victim = bk;
    }
    memcpy(victim->addr, key, 16);
    victim->used = true;
    victim->last_ms = now_ms;
    victim->milli = r->rate * 1000;
    return victim;
}

bool connrate_allow(struct connrate *r, const struct sockaddr_storage *addr, int64_t now_ms)
{
    uint8_t key[16];
    if (!address_key(addr, key))
        return true;
    struct bucket *bk = bucket_for(r, key, now_ms);
    int64_t full = r->rate * 1000;
    int64_t elapsed = now_ms - bk->last_ms;
    if (elapsed > 0) {
        /* rate tokens per 1000 ms = rate thousandths per ms */
        bk->milli = elapsed >= 1000 ? full : bk->milli + elapsed * r->rate;
        if (bk->milli > full)
            bk->milli = full;
        bk->last_ms = now_ms;
    }
    if (bk->milli >= 1000) {
        bk->milli -= 1000;
        return true;
    }
    r->refused++;
    return false;
}

bool connrate_log_due(struct connrate *r, int64_t now_ms, uint64_t *refused)
{
    if (now_ms - r->log_ms < 1000)
        return false;
    r->log_ms = now_ms;
    *refused = r->refused;
    r->refused = 0;
    return true;
}
