/* The bridge's store-and-forward spool: a crash-safe, bounded disk buffer of
 * messages waiting for the upstream broker. Messages are appended to memory,
 * written and fsynced in groups (once per loop turn), handed out oldest first
 * for sending, and removed once the upstream broker has acknowledged them.
 * One loop thread owns a spool; nothing here is thread-safe. */
#ifndef MQGATE_BRIDGE_SPOOL_H
#define MQGATE_BRIDGE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* ---- on disk --------------------------------------------------------------
 *
 * The spool is a directory of append-only segment files named
 * spool-<16 lowercase hex digits>.seg; the number is the seq of the first
 * message the segment was created for, so names sort in seq order and are
 * never reused. Other files in the directory are left alone (logged once by
 * spool_open). The directory is locked (flock) while a spool has it open.
 *
 * A segment is a sequence of records, each a fixed little-endian header
 *     off  size
 *      0    4   magic 0x5053514D ("MQSP" in file order)
 *      4    4   record length in bytes, this header included
 *      8    4   CRC-32 (IEEE, as zlib) of every byte from offset 12 to the end
 *     12    1   type: 1 MSG, 2 ACK
 *     13    1   flags: bits 0-1 QoS, bit 2 retain, others 0 (checked, so
 *                 garbage is rejected; 0 in ACK)
 *     14    8   seq
 *     22    8   wall time in ms since the epoch (MSG; 0 in ACK)
 *     30    2   topic length (MSG; 0 in ACK)
 *     32        MSG: the topic (no NUL), then the payload up to the length
 * Fields are not aligned (they are copied byte by byte), so the overhead is
 * 32 bytes per record. Seqs and segment names are 1 .. 2^62 - 1: a record
 * with another seq is corrupt, a file with another name foreign (so a
 * tampered maximum cannot wrap the next seq to 0). An ACK record (exactly 32 bytes) says "every seq <=
 * its seq is acknowledged". Each message gets the next seq (1, 2, ...),
 * monotonic for the life of the directory: spool_open continues after the
 * highest seq, ACK or file name it finds. (Seqs of messages a crash lost
 * before they reached the disk, possible with fsync batch or never, may be
 * given again.)
 *
 * A new segment is started when a message would take the current one past
 * segment_size (a larger message gets a segment of its own); segment_size is
 * lowered to max_size / 4 if larger, so drop_oldest always has a segment to
 * drop. The directory is fsynced after a segment file is created or removed
 * (unless fsync is never). A segment is removed once every message in it is
 * acknowledged (also when the ACK record saying so could not be written yet,
 * as on a full disk: the removal makes room for it); the newest segment is
 * kept, so the seqs survive restarts.
 *
 * ---- writing ----------------------------------------------------------------
 *
 * spool_append copies the record into memory (no I/O, except when memory is
 * full or a segment ends: then it writes what is pending first; and
 * drop_oldest removing segments). spool_flush
 * (once per loop turn, from before_sleep) writes the pending records with one
 * write per segment and, by cfg->fsync:
 *     always  fsyncs before returning: a message counts as accepted when the
 *             spool_flush after its spool_append returned 0;
 *     batch   fsyncs when cfg->fsync_interval has passed since the last fsync
 *             (spool_next_sync_ms says when one is due); accepted once
 *             written, and a crash (of the machine) may lose the last interval;
 *     never   leaves it to the OS (nor is the directory fsynced).
 * Every write and fsync is checked. On failure (ENOSPC, EIO, EFBIG, EACCES...)
 * the call returns -errno, logs the file and operation once, and keeps the
 * records in memory for the next spool_flush to write again from the last
 * good end of the file (a partial write is truncated away); records already
 * on disk are never touched. Records written since the last good fsync are
 * kept in memory too (fsync always and batch), so a failed fsync is retried
 * by writing them again. Memory stays bounded: when it is full and cannot be
 * written out, spool_append fails with that error.
 *
 * ---- reading and acknowledging -------------------------------------------
 *
 * A cursor walks the unacknowledged messages in seq order, including those
 * appended after it started; messages still in memory are copied from there,
 * others read from their segment (pread) and their CRC checked. An in-memory
 * index (seq, segment, offset, length, wall time) covers the oldest
 * unacknowledged messages, up to a bound (65536 entries by default); beyond
 * it messages stay on disk only, and the index is refilled from the segments
 * as acknowledgements free room. So if the oldest unacknowledged message stays
 * unacknowledged while a full index of later ones is acknowledged,
 * spool_next reports nothing more until it is acknowledged (or the caller
 * rewinds and sends it again).
 *
 * Acknowledgements may come in any order. The acknowledged position is the
 * highest seq S with every message <= S acknowledged; when it advances,
 * spool_flush writes one ACK record (batched like messages).
 *
 * ---- bounds ----------------------------------------------------------------
 *
 * cfg->max_size bounds the bytes of all segments. An append that would pass
 * it: drop_oldest removes the oldest segments (their unacknowledged messages
 * are counted as dropped_full) until it fits, and refuses the message when
 * only the current segment is left; drop_newest refuses it (counted).
 * cfg->max_age (0: off): spool_next skips messages whose wall time is older
 * than that on CLOCK_REALTIME, counting them as dropped_age and acknowledging
 * them so their segments can go. A spool found over max_size by spool_open
 * (max_size lowered since) is not trimmed then: the next append makes room.
 *
 * ---- recovery ----------------------------------------------------------------
 *
 * spool_open scans the segments in seq order and checks every record (magic,
 * length bounds, fields, CRC). A bad or short record at the end of the LAST
 * segment is a torn write: the file is truncated there (ftruncate + fsync)
 * and logged. A bad record anywhere else is skipped up to the next offset
 * where a record with a valid magic and CRC starts (searched byte by byte);
 * each such region counts once in dropped_corrupt and is logged with file
 * and offset. Segments left with no valid record (zero-length files, garbage,
 * cut to nothing) are removed. Sending resumes at the first message after the
 * last ACK record. */

struct spool;

/* What spool_open may be given besides the configuration; the bridge passes
 * NULL (the defaults). Exposed for tests and benchmarks. */
struct spool_tuning {
    size_t index_max;   /* entries of the in-memory index (>= 2); 0: 65536 */
    size_t cache_max;   /* bytes of records kept in memory; 0: 1 MiB */
};

/* A message handed out by spool_next. topic and payload point into the
 * buffer the caller gave spool_next; topic is NUL-terminated. */
struct spool_msg {
    uint64_t seq;
    int64_t wall_ms;
    uint8_t qos;
    bool retain;
    const char *topic;
    size_t topic_len;
    const uint8_t *payload;
    size_t payload_len;
};

/* Where a reader is: the next seq it will look at. A zeroed cursor (or
 * SPOOL_CURSOR_INIT, or one spool_rewind reset) starts at the oldest
 * unacknowledged message. Plain data: any number may exist. */
struct spool_cursor {
    uint64_t next_seq;
};
#define SPOOL_CURSOR_INIT { 0 }

struct spool_stats {
    uint64_t msgs;              /* unacknowledged messages held */
    uint64_t bytes;             /* their record bytes */
    uint64_t disk_bytes;        /* all segments, pending writes included */
    uint64_t segments;
    int64_t oldest_age_ms;      /* wall-clock age of the oldest unacknowledged
                                 * message in the index; 0 when none */
    uint64_t dropped_full;      /* by max_size (either policy) */
    uint64_t dropped_age;       /* by max_age */
    uint64_t dropped_corrupt;   /* bad regions found by spool_open, and
                                 * messages whose CRC failed when read */
    uint64_t recovered;         /* unacknowledged messages spool_open found */
    uint64_t next_seq;          /* seq the next append gets */
    uint64_t acked_seq;         /* acknowledged position (all <= it) */
};

/* Largest payload (the MQTT limit) and topic. */
#define SPOOL_PAYLOAD_MAX 268435455u
#define SPOOL_TOPIC_MAX 65535u

/* Open (creating the directory cfg->dir if missing, one level) and recover
 * the spool. Durations in cfg are microseconds, as the config stores them.
 * On success returns 0 and stores a spool the caller owns (spool_close) in
 * *out; cfg is not kept. On failure returns -errno, stores NULL, and writes a
 * message naming the file and operation into err (errlen bytes, may be 0):
 * -EINVAL (cfg: no dir, max_size or segment_size 0), -EBUSY (another process
 * has it open), -ENOTDIR, -ENOMEM, or an I/O error. Blocks for the scan. */
int spool_open(const struct cfg_spool *cfg, struct spool **out, char *err, size_t errlen);
/* The same with tuning (NULL: defaults). */
int spool_open_tuned(const struct cfg_spool *cfg, const struct spool_tuning *tune,
                     struct spool **out, char *err, size_t errlen);

/* Flush (with an fsync unless fsync is never), close and free. Records that
 * cannot be written are lost and logged. NULL is a no-op. */
void spool_close(struct spool *s);

/* Copy one message in. topic is a NUL-terminated string of at most
 * SPOOL_TOPIC_MAX bytes, payload may be NULL when len is 0, qos 0..2, wall_ms
 * the time to judge max_age by (CLOCK_REALTIME ms). Returns 0 and stores the
 * message's seq in *seq (may be NULL), or: -EINVAL (arguments), -EMSGSIZE (a
 * record that can never fit: larger than max_size), -EDQUOT (max_size reached and the
 * policy refuses it; counted in dropped_full), -ENOMEM, or the error of a
 * write it had to do first (see writing above; nothing is counted). */
int spool_append(struct spool *s, const char *topic, const void *payload, size_t len,
                 int qos, bool retain, int64_t wall_ms, uint64_t *seq);

/* Write what is pending, fsync as cfg->fsync says, and remove segments whose
 * messages are all acknowledged durably. now_ms is CLOCK_MONOTONIC (the
 * loop's clock). Returns 0 when every message appended so far is accepted,
 * or -errno (already logged; the records stay in memory for the next call). */
int spool_flush(struct spool *s, int64_t now_ms);

/* With fsync batch: ms until an fsync is due (0: now, at the next
 * spool_flush), or -1 when nothing waits for one. Lets the caller wake the
 * loop in time when no other event would. */
int64_t spool_next_sync_ms(const struct spool *s, int64_t now_ms);

/* The next unacknowledged message at or after the cursor. Copies its topic
 * (plus a NUL) and then its payload into buf, fills *msg, advances the cursor
 * and returns 1; returns 0 when there is none (yet). Returns -ENOBUFS, with
 * msg->topic_len and msg->payload_len set and the cursor left alone, when
 * buflen < topic_len + 1 + payload_len; -errno on a read error (cursor left
 * alone). Messages past max_age and messages whose CRC fails are skipped
 * (counted, acknowledged). May read the disk. */
int spool_next(struct spool *s, struct spool_cursor *c, struct spool_msg *msg,
               void *buf, size_t buflen);

/* Start the cursor again at the oldest unacknowledged message (after a
 * reconnect, everything in flight is sent again). */
void spool_rewind(struct spool_cursor *c);

/* The upstream broker acknowledged seq. Returns 0 (also when it already was,
 * or was dropped), -EINVAL for a seq never given out, or -ENOENT for one the
 * index does not hold (never returned by spool_next). No I/O: the ACK record
 * is written by the next spool_flush. */
int spool_ack(struct spool *s, uint64_t seq);

void spool_stats(const struct spool *s, struct spool_stats *out);

/* The last write, fsync or remove error as text ("" after a spool_flush
 * that succeeded). Valid until the next call on s. */
const char *spool_last_error(const struct spool *s);

#endif
