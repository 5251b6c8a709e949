/* What bridge.c (the message path) and bridge_health.c (the $SYS topics)
 * share: the bridge's state. Not for other modules. */
#ifndef MQGATE_BRIDGE_BRIDGE_INTERNAL_H
#define MQGATE_BRIDGE_BRIDGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/bridge.h"
#include "bridge/spool.h"

/* A QoS 0 message of a rule with `spool: false`, held while the link is
 * down or the window full. */
struct bridge_mem_msg {
    char *topic;
    void *payload;
    size_t len;
    int qos;
    bool retain;
};

/* Ids handed to the uplink and not yet popped, oldest first. A slot's id
 * becomes 0 once delivered; delivered slots at the head are popped, so the
 * ring's count bounds what Paho holds (the window). Memory messages have
 * BRIDGE_MEM_ID set; spool messages are their seq. */
#define BRIDGE_MEM_ID (UINT64_C(1) << 63)

struct bridge_window {
    uint64_t *ids;
    size_t cap;        /* spool.max_inflight: the ring's size */
    size_t limit;      /* <= cap: also the upstream's Receive Maximum */
    size_t head;
    size_t n;
};

/* A warning that may repeat at line rate is logged once, then at most every
 * 10 s with the number of repeats in between. */
struct bridge_log_limit {
    int64_t last_ms;
    uint64_t repeats;
};

/* What $SYS/bridge/... reports (besides the spool's own figures). */
struct bridge_stats {
    bool connected;
    uint64_t reconnects;
    uint64_t forwarded;
    uint64_t received;
    uint64_t denied;
    uint64_t dropped_memory;
    uint64_t dropped_error;     /* could not be stored (disk full, I/O error) */
    uint64_t spool_errors;      /* episodes of failing flushes */
};

#define BRIDGE_HEALTH_TOPICS 15
#define BRIDGE_HEALTH_VALUE_MAX 512  /* last_error holds a path and a reason */

struct bridge {
    const struct config *cfg;
    struct loop *loop;
    struct broker *broker;
    struct bridge_hooks hooks;
    struct broker_local *local;
    struct spool *spool;
    struct uplink *uplink;
    struct spool_cursor cursor;
    struct bridge_window window;

    struct bridge_mem_msg mem[BRIDGE_MEMORY_MAX];
    size_t mem_head;
    size_t mem_n;
    uint64_t next_mem_id;

    uint8_t *buf;              /* spool_next's buffer, grown on -ENOBUFS */
    size_t buflen;

    bool from_upstream;        /* publishing what a receive rule let in */
    bool spool_failing;        /* the last spool_flush failed */
    bool ever_connected;
    bool down_reported;        /* this outage was logged */
    uint64_t wake_timer;       /* fsync due or a retry: wake the loop */
    int64_t wake_due_ms;
    uint64_t health_timer;

    struct bridge_stats stats;
    struct bridge_log_limit warn_forward;
    struct bridge_log_limit warn_receive;
    struct bridge_log_limit warn_spool;
    char health_last[BRIDGE_HEALTH_TOPICS][BRIDGE_HEALTH_VALUE_MAX]; /* last published */
    char status_topic[256];
};

/* bridge_health.c: publish what changed since the last call (all when
 * `force`). */
void bridge_health_publish(struct bridge *b, bool force);
int bridge_health_start(struct bridge *b);
void bridge_health_stop(struct bridge *b);

/* Whether a limited warning should be logged now; *repeats gets how many
 * were suppressed since the last one. */
bool bridge_log_allowed(struct bridge_log_limit *l, int64_t now_ms, uint64_t *repeats);

#endif
