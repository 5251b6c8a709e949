/* The broker's durable state: retained messages and persistent sessions
 * (subscriptions, queued and in-flight messages, packet ids) kept in an
 * append-only log under the state directory, compacted into a fresh log
 * (temp file, fsync, rename, fsync dir) once it outgrows the live state.
 * Internal to the broker; everything runs on the loop's thread.
 *
 * Log file `broker.log`: 8 bytes "MQGBRK1\n", then records
 *     magic u32 "MQBR" | len u32 (of type + body) | crc32 u32 (of len, type,
 *     body) | type u8 | body
 * all integers little-endian. Loading replays the records into the broker;
 * a record whose CRC fails is skipped (logged) when a good one follows, and
 * a bad tail (a write cut short) ends the replay. Every load rewrites the
 * log as a snapshot, so the appends that follow start on a clean file.
 *
 * What a crash can lose: the changes of a turn are written (write(2)) before
 * any client output of that turn leaves (broker_before_flush), so a killed
 * process (SIGKILL, abort) loses nothing a client was told; fdatasync runs at
 * most flush_interval after a change (at once with 0), which bounds what a
 * power loss or kernel crash can lose. A clean stop (persist_close) loses
 * nothing. */
#ifndef MQGATE_BROKER_PERSIST_H
#define MQGATE_BROKER_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct broker_msg;
struct session;
struct sub_options;
struct queued;
struct inflight;

/* Open (creating it, one level, if missing) and lock `dir`, load its state
 * into `b` (which must have no sessions nor retained messages of its own,
 * and no listener accepting yet), rewrite the log as a snapshot and start
 * logging. Restored sessions are offline; their expiry clock starts now.
 * Returns 0, or -errno with a message in err: -EWOULDBLOCK when another
 * process holds the directory, -EINVAL for a file that is not a broker log. */
int persist_open(struct broker *b, const char *dir, int64_t flush_interval_ms, char *err,
                 size_t err_size);

/* Write what is pending, sync, close and unlock. Hooks are no-ops after it.
 * Called by broker_free before the sessions are freed. No-op when closed. */
void persist_close(struct broker *b);

/* Write the changes made so far (before client output leaves); fdatasync
 * now with flush_interval 0, else within flush_interval; compact when the
 * log has grown past twice the last snapshot (and past a floor). */
void persist_write(struct broker *b);

/* Rewrite the log as a snapshot of the live state now. 0 or -errno. */
int persist_compact(struct broker *b);

/* ---- hooks: one call per change, each a no-op without persistence ------- */

/* retain_store: `m` kept as the retained message of its topic, or (kept
 * false) the topic's retained message cleared. */
void persist_retain(struct broker *b, const struct broker_msg *m, bool kept);
/* A session was created or resumed: its persistence and expiry are looked at
 * before the turn's output leaves. */
void persist_session_touch(struct session *s);
/* session_destroy, before the session goes. */
void persist_session_gone(struct session *s);
/* Subscription added or replaced (opt), or removed (opt NULL). */
void persist_sub(struct session *s, const char *filter, const struct sub_options *opt);
/* A message appended to the session's queue. */
void persist_queued(struct session *s, const struct queued *q);
/* A message sent straight to the in-flight window (the last of s->inflight). */
void persist_inflight(struct session *s, const struct inflight *f);
/* The queue's head left: sent under packet_id (in flight), or with 0,
 * dropped or sent at QoS 0. */
void persist_popped(struct session *s, uint16_t packet_id);
/* PUBREC of an in-flight QoS 2 (released), or the end of a flow. */
void persist_acked(struct session *s, uint16_t packet_id, bool released);
/* An incoming QoS 2 packet id remembered (add) or released. */
void persist_rx_qos2(struct session *s, uint16_t packet_id, bool add);

/* ---- figures, for logs and tests ----------------------------------------- */

struct persist_stats {
    uint64_t log_bytes;         /* size of broker.log, pending bytes included */
    uint64_t snapshot_bytes;    /* size of the last snapshot */
    uint64_t records_loaded;    /* applied at open */
    uint64_t records_skipped;   /* bad CRC or unknown, skipped at open */
    uint64_t tail_bytes_dropped; /* bad tail at open */
    uint64_t compactions;
    uint64_t syncs;
    bool broken;                /* a write failed: the next write rewrites everything */
};

/* Zeroes when persistence is off. */
void persist_get_stats(const struct broker *b, struct persist_stats *out);

/* Smallest log size that triggers compaction (default 1 MiB); for tests. */
void persist_set_compact_floor(struct broker *b, uint64_t bytes);

#endif
