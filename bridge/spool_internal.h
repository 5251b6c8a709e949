/* What the spool's files share and nothing else sees: the record codec, the
 * spool's state, segment I/O and scanning (spool_segment.c), the index of
 * unacknowledged messages (spool.c) and recovery (spool_recover.c). The
 * layout of a record and the rules are documented in bridge/spool.h. */
#ifndef MQGATE_BRIDGE_SPOOL_INTERNAL_H
#define MQGATE_BRIDGE_SPOOL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/spool.h"

#define SPOOL_MAGIC 0x5053514Du
/* Seqs and segment names at or above this are corrupt (or foreign): no
 * spool appends 2^62 messages, and a tampered maximum must not wrap
 * next_seq to 0. */
#define SPOOL_SEQ_LIMIT (UINT64_C(1) << 62)
#define SPOOL_HDR 32u
#define SPOOL_CRC_FROM 12u                  /* the CRC covers [12, length) */
#define SPOOL_REC_MAX (SPOOL_HDR + SPOOL_TOPIC_MAX + SPOOL_PAYLOAD_MAX)
#define SPOOL_REC_MSG 1u
#define SPOOL_REC_ACK 2u
#define SPOOL_FLAG_QOS 0x03u
#define SPOOL_FLAG_RETAIN 0x04u
#define SPOOL_NAME_LEN 26                   /* "spool-" 16 hex ".seg" */

#define SPOOL_INDEX_DEFAULT 65536u
#define SPOOL_CACHE_DEFAULT (1024u * 1024u)
#define SPOOL_READ_CHUNK (64u * 1024u)      /* scanner's read size */

/* One record header, decoded. */
struct spool_rec {
    uint32_t magic;
    uint32_t len;
    uint32_t crc;
    uint8_t type;
    uint8_t flags;
    uint64_t seq;
    int64_t wall_ms;
    uint16_t topic_len;
};

/* One segment file. Only the newest (the current one) has pending bytes. */
struct spool_seg {
    uint64_t name;          /* the seq in its file name */
    uint64_t size;          /* bytes, pending ones included */
    uint64_t disk_size;     /* written to the file */
    uint64_t sync_size;     /* fsynced */
    uint64_t first_msg;     /* seqs of its first and last message; 0: none */
    uint64_t last_msg;
    uint64_t n_msgs;
    uint64_t n_unacked;     /* messages neither acknowledged nor dropped */
    uint64_t unacked_bytes;
    bool on_disk;           /* the file exists */
};

/* One unacknowledged message (or one acknowledged out of order, kept until
 * everything before it is). */
struct spool_ent {
    uint64_t seq;
    uint64_t seg;           /* its segment's name */
    uint64_t off;
    int64_t wall_ms;
    uint32_t len;
    bool acked;
};

struct spool {
    /* configuration, as used */
    char *dir;
    uint64_t max_size;
    uint64_t seg_size;
    int policy;                 /* enum cfg_full_policy */
    int fsync;                  /* enum cfg_fsync */
    int64_t max_age_ms;
    int64_t sync_interval_ms;
    size_t index_max;
    size_t cache_max;

    int dirfd;                  /* locked with flock */
    struct spool_seg *segs;     /* oldest first; the last is the current one */
    size_t nsegs, segs_cap;
    uint64_t total_size;        /* sum of segs[].size */
    int wfd;                    /* the current segment's file, -1 before it exists */
    int rfd;                    /* one older segment open for reading */
    uint64_t rfd_seg;
    bool dir_dirty;             /* a file was created or removed since the last dir fsync */

    /* bytes [cache_off, size) of the current segment: everything pending and,
     * unless fsync is never, everything not yet fsynced, then recent records
     * for spool_next. UINT64_MAX while recovering (nothing cached). */
    uint8_t *cache;
    size_t cache_len, cache_cap;
    uint64_t cache_off;

    /* index: a ring of entries in seq order, from the oldest unacknowledged */
    struct spool_ent *ring;
    size_t ring_cap, ring_head, ring_len;
    bool tail_on_disk;          /* messages after the index, not in it */
    uint64_t scan_seg, scan_off; /* where the first of them (or a record before it) starts */

    uint64_t next_seq;
    uint64_t ack_pos;           /* every message <= it is acknowledged */
    uint64_t ack_queued;        /* in the last ACK record appended */
    uint64_t ack_written;       /* in the last ACK record written */
    uint64_t ack_synced;        /* in the last ACK record made durable */
    int64_t last_sync_ms;
    int64_t last_now_ms;

    struct spool_stats st;      /* counters; the rest is computed */
    uint64_t refused_run;       /* appends refused in a row (full), for the log */
    int err;                    /* errno of the last failure, 0 after a good flush */
    char errmsg[256];
};

/* ---- record codec (spool_segment.c) ---- */
void spool_rec_encode_header(uint8_t out[SPOOL_HDR], const struct spool_rec *r);
void spool_rec_decode_header(const uint8_t in[SPOOL_HDR], struct spool_rec *r);
/* Whether a decoded header is well formed (everything but the CRC) and
 * fits in `room` bytes. */
bool spool_rec_header_ok(const struct spool_rec *r, uint64_t room);

/* ---- segments (spool_segment.c) ---- */
void spool_seg_filename(uint64_t name, char out[SPOOL_NAME_LEN + 1]);
/* Parse a directory entry; false for anything but a segment name. */
bool spool_seg_parse_name(const char *file, uint64_t *name);
struct spool_seg *spool_seg_find(struct spool *s, uint64_t name);
struct spool_seg *spool_seg_current(struct spool *s);
/* Copy [off, off+len) of a segment from the cache or the file. 0 or -errno
 * (-EIO for a file shorter than expected). */
int spool_seg_read(struct spool *s, const struct spool_seg *seg, uint64_t off, void *dst, size_t len);
/* Create the current segment's file if needed and write its pending bytes
 * (one pwrite, continued after a short one); on failure cut the file back. */
int spool_seg_write_pending(struct spool *s);
/* fsync the current segment's file and, when dirty, the directory. */
int spool_seg_sync(struct spool *s);
/* Unlink the oldest segment's file and forget it (index entries and the
 * scan position are the caller's business). */
int spool_seg_remove_front(struct spool *s);
int spool_seg_push(struct spool *s, uint64_t name);
void spool_close_rfd(struct spool *s);
int spool_fsync_dir(struct spool *s);
void spool_set_error(struct spool *s, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sequential reader of one segment with resync, for recovery and refill. */
struct spool_scan {
    struct spool *s;
    const struct spool_seg *seg;
    uint8_t *buf;
    size_t cap;
    uint64_t boff;      /* segment offset of buf[0] */
    size_t blen;
};
enum { SPOOL_SCAN_END = 0, SPOOL_SCAN_REC = 1, SPOOL_SCAN_BAD = 2 };
void spool_scan_init(struct spool_scan *sc, struct spool *s, const struct spool_seg *seg);
void spool_scan_free(struct spool_scan *sc);
/* At *off: SPOOL_SCAN_REC with a valid record in *rec; SPOOL_SCAN_BAD when
 * none starts there, with *next the offset of the next valid record (or the
 * segment's end); SPOOL_SCAN_END at the end; -errno on a read error. */
int spool_scan_next(struct spool_scan *sc, uint64_t off, struct spool_rec *rec, uint64_t *next);

/* ---- index (spool.c) ---- */
struct spool_ent *spool_idx_at(struct spool *s, size_t i);
size_t spool_idx_lower_bound(struct spool *s, uint64_t seq);
/* Append an entry; -ENOSPC when at index_max, -ENOMEM. */
int spool_idx_push(struct spool *s, const struct spool_ent *e);
/* Mark one entry acknowledged (or dropped), updating the counters. */
void spool_idx_settle(struct spool *s, struct spool_ent *e);
/* Pop acknowledged entries off the front and advance ack_pos. */
void spool_idx_advance(struct spool *s);
/* Pop the front entries of segment `seg`, which was removed; the caller
 * settles the counters from the segment's. */
void spool_idx_drop_seg(struct spool *s, uint64_t seg);
/* Read index entries from disk after the index's end while there is room. */
int spool_idx_refill(struct spool *s);

/* ---- recovery (spool_recover.c) ---- */
int spool_recover(struct spool *s, char *err, size_t errlen);

#endif
