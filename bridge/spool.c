/* The spool's running side: opening and closing, appending into memory,
 * flushing (write, fsync, ACK records, removing acknowledged segments), the
 * bounds (max_size, max_age), and the index that spool_next walks and
 * spool_ack settles. Disk formats and I/O live in spool_segment.c, the scan
 * at open in spool_recover.c. */
#include "bridge/spool_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bridge/crc32.h"
#include "gateway/log.h"

static int64_t wall_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- index ------------------------------------------------------------------- */

struct spool_ent *spool_idx_at(struct spool *s, size_t i)
{
    return &s->ring[(s->ring_head + i) & (s->ring_cap - 1)];
}

size_t spool_idx_lower_bound(struct spool *s, uint64_t seq)
{
    size_t lo = 0, hi = s->ring_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (spool_idx_at(s, mid)->seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The ring's capacity stays a power of two so an index is a mask away. */
static int idx_grow(struct spool *s)
{
    size_t cap = s->ring_cap ? s->ring_cap * 2 : 64;
    struct spool_ent *n = malloc(cap * sizeof *n);
    if (!n)
        return -ENOMEM;
    for (size_t i = 0; i < s->ring_len; i++)
        n[i] = *spool_idx_at(s, i);
    free(s->ring);
    s->ring = n;
    s->ring_cap = cap;
    s->ring_head = 0;
    return 0;
}

int spool_idx_push(struct spool *s, const struct spool_ent *e)
{
    if (s->ring_len >= s->index_max)
        return -ENOSPC;
    if (s->ring_len == s->ring_cap && idx_grow(s) < 0)
        return -ENOMEM;
    s->ring[(s->ring_head + s->ring_len) & (s->ring_cap - 1)] = *e;
    s->ring_len++;
    return 0;
}

static void idx_pop(struct spool *s)
{
    s->ring_head = (s->ring_head + 1) & (s->ring_cap - 1);
    s->ring_len--;
}

void spool_idx_settle(struct spool *s, struct spool_ent *e)
{
    if (e->acked)
        return;
    e->acked = true;
    s->st.msgs--;
    s->st.bytes -= e->len;
    struct spool_seg *seg = spool_seg_find(s, e->seg);
    if (seg) {
        seg->n_unacked--;
        seg->unacked_bytes -= e->len;
    }
}

void spool_idx_advance(struct spool *s)
{
    while (s->ring_len > 0 && spool_idx_at(s, 0)->acked) {
        uint64_t seq = spool_idx_at(s, 0)->seq;
        s->ack_pos = seq > s->ack_pos ? seq : s->ack_pos;
        idx_pop(s);
    }
    /* Seqs between acknowledged messages and the next one present (lost to
     * corruption or never written) count as acknowledged: nothing waits. */
    uint64_t upto = s->ring_len ? spool_idx_at(s, 0)->seq - 1 : s->tail_on_disk ? 0 : s->next_seq - 1;
    if (upto > s->ack_pos)
        s->ack_pos = upto;
}

void spool_idx_drop_seg(struct spool *s, uint64_t seg)
{
    while (s->ring_len > 0 && spool_idx_at(s, 0)->seg == seg) {
        uint64_t seq = spool_idx_at(s, 0)->seq;
        s->ack_pos = seq > s->ack_pos ? seq : s->ack_pos;
        idx_pop(s);
    }
}

/* Index the records of one segment from the scan position on. Returns 1 when
 * the index filled up, 0 at the segment's end, -errno. */
static int refill_seg(struct spool *s, struct spool_seg *seg)
{
    struct spool_scan sc;
    struct spool_rec rec;
    uint64_t next;
    int r = 0;
    spool_scan_init(&sc, s, seg);
    while (r == 0 && s->ring_len < s->index_max) {
        uint64_t off = s->scan_off;
        int k = spool_scan_next(&sc, off, &rec, &next);
        if (k == SPOOL_SCAN_END || k < 0) {
            r = k;
            break;
        }
        if (k == SPOOL_SCAN_BAD) {  /* counted when it was found */
            s->scan_off = next;
            continue;
        }
        uint64_t back = s->ring_len ? spool_idx_at(s, s->ring_len - 1)->seq : 0;
        if (rec.type == SPOOL_REC_MSG && rec.seq > s->ack_pos && rec.seq > back) {
            struct spool_ent e = { .seq = rec.seq, .seg = seg->name, .off = off,
                                   .wall_ms = rec.wall_ms, .len = rec.len };
            if ((r = spool_idx_push(s, &e)) < 0)
                break;
        }
        s->scan_off = off + rec.len;
    }
    spool_scan_free(&sc);
    if (r == -ENOSPC)
        return 1;
    return r < 0 ? r : s->ring_len >= s->index_max;
}

int spool_idx_refill(struct spool *s)
{
    while (s->tail_on_disk && s->ring_len < s->index_max) {
        size_t i = 0;
        while (i < s->nsegs && s->segs[i].name < s->scan_seg)
            i++;
        if (i == s->nsegs) {
            s->tail_on_disk = false;
            break;
        }
        if (s->segs[i].name != s->scan_seg) {    /* its segment was removed */
            s->scan_seg = s->segs[i].name;
            s->scan_off = 0;
        }
        int r = refill_seg(s, &s->segs[i]);
        if (r < 0)
            return r;
        if (r == 1)
            break;
        if (i + 1 == s->nsegs) {
            s->tail_on_disk = false;             /* appends index themselves now */
            break;
        }
        s->scan_seg = s->segs[i + 1].name;
        s->scan_off = 0;
    }
    return 0;
}

/* ---- opening and closing --------------------------------------------------- */

static int open_fail(char *err, size_t errlen, int e, const char *what, const char *path)
{
    if (errlen)
        snprintf(err, errlen, "spool: %s %s: %s", what, path, strerror(e));
    return -e;
}

/* mkdir -p for one level, with the new entry made durable in its parent. */
static int open_dir(struct spool *s, char *err, size_t errlen)
{
    if (mkdir(s->dir, 0750) == 0) {
        char *copy = strdup(s->dir);
        int pfd = copy ? open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (pfd < 0 || fsync(pfd) < 0)
            log_warn("spool", "fsync the parent of %s: %s", s->dir, strerror(errno));
        if (pfd >= 0)
            close(pfd);
        free(copy);
        log_info("spool", "created %s", s->dir);
    } else if (errno != EEXIST) {
        return open_fail(err, errlen, errno, "create directory", s->dir);
    }
    s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0)
        return open_fail(err, errlen, errno, "open directory", s->dir);
    if (flock(s->dirfd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno == EWOULDBLOCK ? EBUSY : errno;
        return open_fail(err, errlen, e, "lock (another mqgate uses it?)", s->dir);
    }
    return 0;
}

static int64_t us_to_ms(int64_t us)
{
    return us <= 0 ? 0 : us < 1000 ? 1 : us / 1000;
}

static int spool_configure(struct spool *s, const struct cfg_spool *cfg, const struct spool_tuning *t)
{
    if (!cfg->dir || !*cfg->dir || cfg->max_size == 0 || cfg->segment_size == 0 ||
        cfg->fsync < CFG_FSYNC_ALWAYS || cfg->fsync > CFG_FSYNC_NEVER ||
        cfg->full_policy < CFG_FULL_DROP_OLDEST || cfg->full_policy > CFG_FULL_DROP_NEWEST)
        return -EINVAL;
    s->dir = strdup(cfg->dir);
    if (!s->dir)
        return -ENOMEM;
    s->max_size = cfg->max_size;
    /* At most a quarter of the budget, so drop_oldest has whole segments to
     * give up while the current one fills. */
    uint64_t quarter = cfg->max_size / 4 ? cfg->max_size / 4 : 1;
    s->seg_size = cfg->segment_size < quarter ? cfg->segment_size : quarter;
    s->policy = cfg->full_policy;
    s->fsync = cfg->fsync;
    s->max_age_ms = us_to_ms(cfg->max_age);
    s->sync_interval_ms = us_to_ms(cfg->fsync_interval);
    s->index_max = t && t->index_max ? (t->index_max < 2 ? 2 : t->index_max) : SPOOL_INDEX_DEFAULT;
    s->cache_max = t && t->cache_max ? (t->cache_max < 64 ? 64 : t->cache_max) : SPOOL_CACHE_DEFAULT;
    return 0;
}

static void spool_free(struct spool *s)
{
    if (s->wfd >= 0)
        close(s->wfd);
    spool_close_rfd(s);
    if (s->dirfd >= 0)
        close(s->dirfd);      /* releases the lock */
    free(s->dir);
    free(s->segs);
    free(s->cache);
    free(s->ring);
    free(s);
}

static int remove_acked_segments(struct spool *s);

int spool_open_tuned(const struct cfg_spool *cfg, const struct spool_tuning *tune,
                     struct spool **out, char *err, size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    if (!out)
        return -EINVAL;
    *out = NULL;
    struct spool *s = cfg ? calloc(1, sizeof *s) : NULL;
    if (!s)
        return open_fail(err, errlen, cfg ? ENOMEM : EINVAL, "open", cfg ? "" : "(no config)");
    s->dirfd = s->wfd = s->rfd = -1;
    s->cache_off = UINT64_MAX;
    s->next_seq = 1;
    int r = spool_configure(s, cfg, tune);
    if (r < 0)
        r = open_fail(err, errlen, -r, "bad configuration for", cfg->dir ? cfg->dir : "(no dir)");
    if (r == 0)
        r = open_dir(s, err, errlen);
    if (r == 0)
        r = spool_recover(s, err, errlen);
    if (r < 0) {
        spool_free(s);
        return r;
    }
    (void)remove_acked_segments(s);
    *out = s;
    return 0;
}

int spool_open(const struct cfg_spool *cfg, struct spool **out, char *err, size_t errlen)
{
    return spool_open_tuned(cfg, NULL, out, err, errlen);
}

static int flush_now(struct spool *s, int64_t now_ms, bool force_sync);

void spool_close(struct spool *s)
{
    if (!s)
        return;
    if (flush_now(s, s->last_now_ms, true) < 0)
        log_error("spool", "closing %s with unwritten records, lost: %s", s->dir, s->errmsg);
    spool_free(s);
}

/* ---- memory ------------------------------------------------------------------ */

/* Append bytes to the cache, growing it past cache_max if need be (the
 * caller made room first when it could). */
static int cache_put(struct spool *s, const void *p1, size_t n1, const void *p2, size_t n2,
                     const void *p3, size_t n3)
{
    size_t need = s->cache_len + n1 + n2 + n3;
    if (need > s->cache_cap) {
        size_t cap = s->cache_cap ? s->cache_cap : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *n = realloc(s->cache, cap);
        if (!n)
            return -ENOMEM;
        s->cache = n;
        s->cache_cap = cap;
    }
    memcpy(s->cache + s->cache_len, p1, n1);
    if (n2)
        memcpy(s->cache + s->cache_len + n1, p2, n2);
    if (n3)
        memcpy(s->cache + s->cache_len + n1 + n2, p3, n3);
    s->cache_len = need;
    return 0;
}

/* Bytes at the cache's front that may go: written, and fsynced unless fsync
 * is never (a failed fsync is retried by writing them again). */
static uint64_t cache_clean(const struct spool *s, const struct spool_seg *cur)
{
    uint64_t keep_from = s->fsync == CFG_FSYNC_NEVER ? cur->disk_size : cur->sync_size;
    return keep_from > s->cache_off ? keep_from - s->cache_off : 0;
}

/* Make room for `need` more bytes within cache_max, writing (and fsyncing)
 * first when what is there is not clean yet. */
static int cache_make_room(struct spool *s, size_t need)
{
    struct spool_seg *cur = spool_seg_current(s);
    if (s->cache_len + need <= s->cache_max)
        return 0;
    size_t want = s->cache_len + need - s->cache_max;
    if (want > s->cache_len)
        want = s->cache_len;
    if (cache_clean(s, cur) < want) {
        int r = flush_now(s, s->last_now_ms, true);
        if (r < 0)
            return r;
    }
    /* Drop at least half, so the memmove is paid once per half a cache. */
    uint64_t clean = cache_clean(s, cur);
    size_t drop = want > s->cache_len / 2 ? want : s->cache_len / 2;
    if (drop > clean)
        drop = (size_t)clean;
    if (drop == 0)
        return 0;
    memmove(s->cache, s->cache + drop, s->cache_len - drop);
    s->cache_len -= drop;
    s->cache_off += drop;
    return 0;
}

/* ---- appending ------------------------------------------------------------- */

/* Finish the current segment (written and, unless fsync is never, synced)
 * and start a new one for the message that gets next_seq. */
static int rotate(struct spool *s)
{
    if (s->nsegs > 0) {
        int r = flush_now(s, s->last_now_ms, true);
        if (r < 0)
            return r;
        if (s->wfd >= 0)
            close(s->wfd);
        s->wfd = -1;
    }
    int r = spool_seg_push(s, s->next_seq);
    if (r < 0)
        return r;
    s->cache_len = 0;
    s->cache_off = 0;
    return 0;
}

static int refuse_full(struct spool *s, uint32_t len)
{
    s->st.dropped_full++;
    /* Once per stretch of being full (until acknowledgements free a
     * segment), plus a reminder every 10000, not once per message. */
    if (s->refused_run++ % 10000 == 0)
        log_warn("spool", "%s full (%" PRIu64 " of %" PRIu64 " bytes, a %" PRIu32
                 "-byte message more): refusing new messages (%" PRIu64 " so far)", s->dir,
                 s->total_size, s->max_size, len, s->refused_run);
    return -EDQUOT;
}

/* drop_oldest: give up whole segments, oldest first, never the current one. */
static int drop_oldest(struct spool *s, uint32_t len)
{
    while (s->total_size + len > s->max_size && s->nsegs > 1) {
        struct spool_seg seg = s->segs[0];
        int r = spool_seg_remove_front(s);
        if (r < 0)
            return r;
        if (s->tail_on_disk && s->scan_seg == seg.name) {
            s->scan_seg = s->segs[0].name;
            s->scan_off = 0;
        }
        /* Its counters cover its unacknowledged messages, indexed or not. */
        spool_idx_drop_seg(s, seg.name);
        s->st.msgs -= seg.n_unacked;
        s->st.bytes -= seg.unacked_bytes;
        s->st.dropped_full += seg.n_unacked;
        if (seg.last_msg > s->ack_pos)
            s->ack_pos = seg.last_msg;
        spool_idx_advance(s);
        if (seg.n_unacked)
            log_warn("spool", "%s full: dropped %" PRIu64 " unsent messages (seqs %" PRIu64
                     "..%" PRIu64 ")", s->dir, seg.n_unacked, seg.first_msg, seg.last_msg);
    }
    return s->total_size + len > s->max_size ? refuse_full(s, len) : 0;
}

/* Rotate, make room by policy, and room in memory: everything an append
 * needs before the record goes in. Changes nothing that matters on failure. */
static int append_prepare(struct spool *s, uint32_t len)
{
    struct spool_seg *cur = spool_seg_current(s);
    bool rotate_first = !cur || (cur->size > 0 && cur->size + len > s->seg_size);
    int r;
    if (s->total_size + len > s->max_size) {
        if (s->policy == CFG_FULL_DROP_NEWEST)
            return refuse_full(s, len);
        /* Rotating first lets the segment just finished be dropped too. */
        if (rotate_first && (r = rotate(s)) < 0)
            return r;
        rotate_first = false;
        if ((r = drop_oldest(s, len)) < 0)
            return r;
    }
    if (rotate_first && (r = rotate(s)) < 0)
        return r;
    return cache_make_room(s, len);
}

static void append_index(struct spool *s, const struct spool_ent *e)
{
    /* Past a full index the message lives on disk until refill reaches it. */
    if (!s->tail_on_disk && spool_idx_push(s, e) < 0) {
        s->tail_on_disk = true;
        s->scan_seg = e->seg;
        s->scan_off = e->off;
    }
}

int spool_append(struct spool *s, const char *topic, const void *payload, size_t len,
                 int qos, bool retain, int64_t wall_ms, uint64_t *seq)
{
    if (!s || !topic || (len && !payload) || qos < 0 || qos > 2)
        return -EINVAL;
    size_t tlen = strlen(topic);
    if (tlen > SPOOL_TOPIC_MAX || len > SPOOL_PAYLOAD_MAX || SPOOL_HDR + tlen + len > s->max_size)
        return -EMSGSIZE;
    uint32_t rlen = (uint32_t)(SPOOL_HDR + tlen + len);
    int r = append_prepare(s, rlen);
    if (r < 0)
        return r;
    struct spool_seg *cur = spool_seg_current(s);
    struct spool_rec rec = { .magic = SPOOL_MAGIC, .len = rlen, .type = SPOOL_REC_MSG,
                             .flags = (uint8_t)(qos | (retain ? SPOOL_FLAG_RETAIN : 0)),
                             .seq = s->next_seq, .wall_ms = wall_ms, .topic_len = (uint16_t)tlen };
    uint8_t hdr[SPOOL_HDR];
    spool_rec_encode_header(hdr, &rec);
    rec.crc = crc32_ieee_update(crc32_ieee(hdr + SPOOL_CRC_FROM, SPOOL_HDR - SPOOL_CRC_FROM), topic, tlen);
    rec.crc = crc32_ieee_update(rec.crc, payload, len);
    spool_rec_encode_header(hdr, &rec);
    if ((r = cache_put(s, hdr, SPOOL_HDR, topic, tlen, payload, len)) < 0)
        return r;
    struct spool_ent e = { .seq = rec.seq, .seg = cur->name, .off = cur->size, .wall_ms = wall_ms,
                           .len = rlen };
    cur->size += rlen;
    s->total_size += rlen;
    cur->first_msg = cur->first_msg ? cur->first_msg : rec.seq;
    cur->last_msg = rec.seq;
    cur->n_msgs++;
    cur->n_unacked++;
    cur->unacked_bytes += rlen;
    s->st.msgs++;
    s->st.bytes += rlen;
    append_index(s, &e);
    if (seq)
        *seq = s->next_seq;
    s->next_seq++;
    return 0;
}

/* ---- flushing ---------------------------------------------------------------- */

/* One ACK record for however far acknowledgements got since the last. */
static int queue_ack(struct spool *s, struct spool_seg *cur)
{
    if (s->ack_pos <= s->ack_queued)
        return 0;
    struct spool_rec rec = { .magic = SPOOL_MAGIC, .len = SPOOL_HDR, .type = SPOOL_REC_ACK,
                             .seq = s->ack_pos };
    uint8_t hdr[SPOOL_HDR];
    spool_rec_encode_header(hdr, &rec);
    rec.crc = crc32_ieee(hdr + SPOOL_CRC_FROM, SPOOL_HDR - SPOOL_CRC_FROM);
    spool_rec_encode_header(hdr, &rec);
    int r = cache_put(s, hdr, SPOOL_HDR, NULL, 0, NULL, 0);
    if (r < 0)
        return r;
    cur->size += SPOOL_HDR;
    s->total_size += SPOOL_HDR;
    s->ack_queued = s->ack_pos;
    return 0;
}

/* Remove the oldest segments whose messages are all acknowledged (never the
 * current one, which keeps the seqs going). The ACK record need not be
 * durable yet: a crash after the removal cannot bring back a message the
 * upstream broker already has, and one before it only resends. Not waiting
 * for it matters when the disk is full: the ACK record cannot be written
 * until a removal makes room. */
static int remove_acked_segments(struct spool *s)
{
    bool removed = false;
    int r = 0;
    while (s->nsegs > 1 && s->segs[0].last_msg <= s->ack_pos) {
        uint64_t name = s->segs[0].name;
        if ((r = spool_seg_remove_front(s)) < 0)
            break;
        spool_idx_drop_seg(s, name);
        if (s->tail_on_disk && s->scan_seg == name) {
            s->scan_seg = s->segs[0].name;
            s->scan_off = 0;
        }
        removed = true;
    }
    if (removed && s->refused_run) {
        log_info("spool", "%s has room again (%" PRIu64 " messages refused while full)", s->dir,
                 s->refused_run);
        s->refused_run = 0;
    }
    if (removed && s->dir_dirty && s->fsync != CFG_FSYNC_NEVER) {
        int d = spool_fsync_dir(s);
        r = r < 0 ? r : d;
    }
    return r;
}

static bool sync_due(const struct spool *s, int64_t now_ms, bool force)
{
    return force || s->fsync == CFG_FSYNC_ALWAYS || now_ms - s->last_sync_ms >= s->sync_interval_ms;
}

static int flush_now(struct spool *s, int64_t now_ms, bool force_sync)
{
    struct spool_seg *cur = spool_seg_current(s);
    if (!cur)
        return 0;
    int r = queue_ack(s, cur);
    if (r == 0)
        r = spool_seg_write_pending(s);
    if (r < 0) {
        (void)remove_acked_segments(s); /* room for the retry (a full disk) */
        return r;
    }
    s->ack_written = s->ack_queued;
    bool dirty = cur->sync_size < cur->disk_size || s->dir_dirty;
    if (s->fsync != CFG_FSYNC_NEVER && dirty && sync_due(s, now_ms, force_sync)) {
        if ((r = spool_seg_sync(s)) < 0)
            return r;
        s->last_sync_ms = now_ms;
        dirty = false;
    }
    if (!dirty || s->fsync == CFG_FSYNC_NEVER)
        s->ack_synced = s->ack_written;
    if (s->err) {
        log_info("spool", "%s: writing again", s->dir);
        s->err = 0;
        s->errmsg[0] = '\0';
    }
    (void)remove_acked_segments(s);     /* logged; retried next time */
    return 0;
}

int spool_flush(struct spool *s, int64_t now_ms)
{
    if (!s)
        return -EINVAL;
    s->last_now_ms = now_ms;
    int r = flush_now(s, now_ms, false);
    /* Acknowledgements may have freed room in the index. */
    if (r == 0 && s->tail_on_disk && s->ring_len < s->index_max / 2)
        r = spool_idx_refill(s);
    return r;
}

int64_t spool_next_sync_ms(const struct spool *s, int64_t now_ms)
{
    const struct spool_seg *cur = s->nsegs ? &s->segs[s->nsegs - 1] : NULL;
    if (s->fsync != CFG_FSYNC_BATCH || !cur || (cur->sync_size == cur->size && !s->dir_dirty))
        return -1;
    int64_t left = s->last_sync_ms + s->sync_interval_ms - now_ms;
    return left > 0 ? left : 0;
}

/* ---- reading and acknowledging ------------------------------------------- */

/* Copy one indexed message out, checking it against its CRC and the index:
 * -EBADMSG when the disk no longer holds what was written. */
static int read_msg(struct spool *s, const struct spool_ent *e, struct spool_msg *msg,
                    uint8_t *buf, size_t buflen)
{
    struct spool_seg *seg = spool_seg_find(s, e->seg);
    uint8_t hdr[SPOOL_HDR];
    struct spool_rec rec;
    if (!seg)
        return -EIO;
    int r = spool_seg_read(s, seg, e->off, hdr, SPOOL_HDR);
    if (r < 0)
        return r;
    spool_rec_decode_header(hdr, &rec);
    if (!spool_rec_header_ok(&rec, seg->size - e->off) || rec.type != SPOOL_REC_MSG ||
        rec.seq != e->seq || rec.len != e->len)
        return -EBADMSG;
    size_t tlen = rec.topic_len, plen = rec.len - SPOOL_HDR - tlen;
    msg->topic_len = tlen;
    msg->payload_len = plen;
    if (!buf || buflen < tlen + 1 + plen)
        return -ENOBUFS;
    if ((r = spool_seg_read(s, seg, e->off + SPOOL_HDR, buf, tlen)) < 0 ||
        (r = spool_seg_read(s, seg, e->off + SPOOL_HDR + tlen, buf + tlen + 1, plen)) < 0)
        return r;
    uint32_t crc = crc32_ieee(hdr + SPOOL_CRC_FROM, SPOOL_HDR - SPOOL_CRC_FROM);
    crc = crc32_ieee_update(crc32_ieee_update(crc, buf, tlen), buf + tlen + 1, plen);
    if (crc != rec.crc)
        return -EBADMSG;
    buf[tlen] = '\0';
    *msg = (struct spool_msg){ .seq = rec.seq, .wall_ms = rec.wall_ms,
                               .qos = rec.flags & SPOOL_FLAG_QOS,
                               .retain = (rec.flags & SPOOL_FLAG_RETAIN) != 0,
                               .topic = (const char *)buf, .topic_len = tlen,
                               .payload = buf + tlen + 1, .payload_len = plen };
    return 0;
}

/* Settle an entry the reader skips (expired, corrupt) as if acknowledged. */
static void skip_entry(struct spool *s, struct spool_ent *e, uint64_t *counter)
{
    (*counter)++;
    spool_idx_settle(s, e);
    spool_idx_advance(s);
}

static bool expired(const struct spool *s, const struct spool_ent *e, int64_t *now)
{
    if (s->max_age_ms <= 0)
        return false;
    if (*now < 0)
        *now = wall_now_ms();
    return *now - e->wall_ms > s->max_age_ms;
}

/* The first index entry at or after the cursor, refilling from disk when
 * the cursor reached the index's end; NULL when there is none (yet). */
static int cursor_entry(struct spool *s, const struct spool_cursor *c, struct spool_ent **out)
{
    for (;;) {
        size_t i = spool_idx_lower_bound(s, c->next_seq);
        if (i < s->ring_len) {
            *out = spool_idx_at(s, i);
            return 0;
        }
        size_t before = s->ring_len;
        if (!s->tail_on_disk || before >= s->index_max)
            break;
        int r = spool_idx_refill(s);
        if (r < 0)
            return r;
        if (s->ring_len == before)
            break;
    }
    *out = NULL;
    return 0;
}

int spool_next(struct spool *s, struct spool_cursor *c, struct spool_msg *msg, void *buf,
               size_t buflen)
{
    int64_t now = -1;
    uint64_t aged = 0;
    int r;
    struct spool_ent *e = NULL;
    while ((r = cursor_entry(s, c, &e)) == 0 && e) {
        uint64_t seq = e->seq;
        if (!e->acked && expired(s, e, &now)) {
            aged++;
            skip_entry(s, e, &s->st.dropped_age);
        } else if (!e->acked) {
            r = read_msg(s, e, msg, buf, buflen);
            if (r != -EBADMSG)
                break;
            log_error("spool", "%s: message %" PRIu64 " (segment %016" PRIx64 " offset %" PRIu64
                      ") fails its check, dropped", s->dir, seq, e->seg, e->off);
            skip_entry(s, e, &s->st.dropped_corrupt);
        }
        c->next_seq = seq + 1;
    }
    if (aged)
        log_warn("spool", "%s: dropped %" PRIu64 " messages older than max_age", s->dir, aged);
    if (r < 0)
        return r;
    if (!e)
        return 0;
    c->next_seq = e->seq + 1;
    return 1;
}

void spool_rewind(struct spool_cursor *c)
{
    c->next_seq = 0;
}

int spool_ack(struct spool *s, uint64_t seq)
{
    if (!s || seq == 0 || seq >= s->next_seq)
        return -EINVAL;
    if (seq <= s->ack_pos)
        return 0;
    size_t i = spool_idx_lower_bound(s, seq);
    if (i == s->ring_len || spool_idx_at(s, i)->seq != seq)
        return -ENOENT;
    spool_idx_settle(s, spool_idx_at(s, i));
    if (i == 0)
        spool_idx_advance(s);
    return 0;
}

void spool_stats(const struct spool *s, struct spool_stats *out)
{
    *out = s->st;
    out->disk_bytes = s->total_size;
    out->segments = s->nsegs;
    out->next_seq = s->next_seq;
    out->acked_seq = s->ack_pos;
    out->oldest_age_ms = 0;
    if (s->ring_len > 0) {
        int64_t age = wall_now_ms() - s->ring[s->ring_head].wall_ms;
        out->oldest_age_ms = age > 0 ? age : 0;
    }
}

const char *spool_last_error(const struct spool *s)
{
    return s->errmsg;
}
