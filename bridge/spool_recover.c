/* Opening a spool directory after a clean stop or a crash: find the
 * segments, check every record, truncate a torn tail, skip and count corrupt
 * regions, remove segments with nothing valid in them, and rebuild the
 * state (next seq, acknowledged position, counters, index) to resume from. */
#include "bridge/spool_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/log.h"

/* What the scan learns across segments. */
struct recover {
    uint64_t max_seq;       /* highest message seq */
    uint64_t max_ack;       /* highest ACK record */
    uint64_t max_name;      /* highest segment name, empty ones included */
    char *err;
    size_t errlen;
    bool failed;            /* err holds the message */
};

static int fail(struct recover *rc, int e, const char *what, const char *dir, const char *name)
{
    if (rc->errlen)
        snprintf(rc->err, rc->errlen, "spool: %s %s/%s: %s", what, dir, name, strerror(e));
    rc->failed = true;
    return -e;
}

static int cmp_seg(const void *a, const void *b)
{
    uint64_t x = ((const struct spool_seg *)a)->name, y = ((const struct spool_seg *)b)->name;
    return x < y ? -1 : x > y;
}

/* Collect the segment files; everything else is someone else's. */
static int list_segments(struct spool *s, struct recover *rc)
{
    int fd = dup(s->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return fail(rc, errno, "read directory", s->dir, "");
    }
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(d)) != NULL) {
        uint64_t name;
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (!spool_seg_parse_name(de->d_name, &name) ||
            fstatat(s->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
            log_warn("spool", "%s: leaving %s alone (not a segment)", s->dir, de->d_name);
            continue;
        }
        if ((r = spool_seg_push(s, name)) == 0) {
            struct spool_seg *seg = &s->segs[s->nsegs - 1];
            seg->size = seg->disk_size = seg->sync_size = (uint64_t)st.st_size;
            seg->on_disk = true;
        }
    }
    closedir(d);
    if (r < 0)
        return fail(rc, -r, "list", s->dir, "");
    if (s->nsegs > 1)
        qsort(s->segs, s->nsegs, sizeof *s->segs, cmp_seg);
    return 0;
}

/* A torn write at the end of the newest segment: cut it off for good. */
static int truncate_tail(struct spool *s, struct spool_seg *seg, uint64_t off, struct recover *rc)
{
    char name[SPOOL_NAME_LEN + 1];
    spool_seg_filename(seg->name, name);
    int fd = openat(s->dirfd, name, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)off) < 0 || fsync(fd) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return fail(rc, e, "truncate torn tail of", s->dir, name);
    }
    close(fd);
    log_warn("spool", "%s/%s: torn record at offset %" PRIu64 ", truncated %" PRIu64 " bytes",
             s->dir, name, off, seg->size - off);
    seg->size = seg->disk_size = seg->sync_size = off;
    return 0;
}

static void apply_record(struct spool *s, struct spool_seg *seg, const struct spool_rec *rec,
                         uint64_t off, struct recover *rc)
{
    if (rec->type == SPOOL_REC_ACK) {
        rc->max_ack = rec->seq > rc->max_ack ? rec->seq : rc->max_ack;
        return;
    }
    if (rec->seq <= rc->max_seq) {
        /* Valid CRC but out of order: not ours to make sense of. */
        s->st.dropped_corrupt++;
        log_warn("spool", "%s: segment %016" PRIx64 " offset %" PRIu64 ": message %" PRIu64
                 " out of order, skipped", s->dir, seg->name, off, rec->seq);
        return;
    }
    rc->max_seq = rec->seq;
    seg->first_msg = seg->first_msg ? seg->first_msg : rec->seq;
    seg->last_msg = rec->seq;
    seg->n_msgs++;
    seg->n_unacked++;               /* corrected once the ACKs are all known */
    seg->unacked_bytes += rec->len;
}

/* Check every record of one segment. Returns the number of valid records,
 * or -errno. */
static int64_t scan_segment(struct spool *s, struct spool_seg *seg, bool last, struct recover *rc)
{
    struct spool_scan sc;
    struct spool_rec rec;
    uint64_t off = 0, next;
    int64_t nrec = 0;
    int k;
    spool_scan_init(&sc, s, seg);
    while ((k = spool_scan_next(&sc, off, &rec, &next)) != SPOOL_SCAN_END && k >= 0) {
        if (k == SPOOL_SCAN_REC) {
            apply_record(s, seg, &rec, off, rc);
            nrec++;
            off += rec.len;
        } else if (last && next == seg->size) {
            if ((k = truncate_tail(s, seg, off, rc)) < 0)
                break;
        } else {
            s->st.dropped_corrupt++;
            log_warn("spool", "%s: segment %016" PRIx64 ": corrupt record at offset %" PRIu64
                     ", skipped %" PRIu64 " bytes", s->dir, seg->name, off, next - off);
            off = next;
        }
    }
    spool_scan_free(&sc);
    if (k < 0) {
        char name[SPOOL_NAME_LEN + 1];
        spool_seg_filename(seg->name, name);
        return rc->failed ? k : fail(rc, -k, "read", s->dir, name);
    }
    return nrec;
}

/* Drop segments with no valid record from the list and the directory. */
static int remove_empty(struct spool *s, const bool *empty, struct recover *rc)
{
    size_t kept = 0;
    for (size_t i = 0; i < s->nsegs; i++) {
        char name[SPOOL_NAME_LEN + 1];
        spool_seg_filename(s->segs[i].name, name);
        if (!empty[i]) {
            s->segs[kept++] = s->segs[i];
            continue;
        }
        spool_close_rfd(s);
        if (unlinkat(s->dirfd, name, 0) < 0)
            return fail(rc, errno, "remove empty segment", s->dir, name);
        log_info("spool", "%s/%s: removed (no valid record)", s->dir, name);
        s->dir_dirty = true;
    }
    s->nsegs = kept;
    if (s->dir_dirty && spool_fsync_dir(s) < 0)
        return fail(rc, s->err, "fsync", s->dir, "");
    return 0;
}

/* Count the messages of one segment after `ack` (it holds the position). */
static int count_unacked(struct spool *s, struct spool_seg *seg, uint64_t ack)
{
    struct spool_scan sc;
    struct spool_rec rec;
    uint64_t off = 0, next, prev = 0;
    int k;
    seg->n_unacked = seg->unacked_bytes = 0;
    spool_scan_init(&sc, s, seg);
    while ((k = spool_scan_next(&sc, off, &rec, &next)) > 0) {
        if (k == SPOOL_SCAN_BAD) {
            off = next;
            continue;
        }
        if (rec.type == SPOOL_REC_MSG && rec.seq > prev) {
            prev = rec.seq;
            if (rec.seq > ack) {
                seg->n_unacked++;
                seg->unacked_bytes += rec.len;
            }
        }
        off += rec.len;
    }
    spool_scan_free(&sc);
    return k;
}

/* With the last ACK known: each segment's unacknowledged counters, the
 * totals, and where the index starts reading. */
static int settle_counts(struct spool *s, uint64_t ack)
{
    bool start_set = false;
    for (size_t i = 0; i < s->nsegs; i++) {
        struct spool_seg *seg = &s->segs[i];
        s->total_size += seg->size;
        if (seg->last_msg <= ack) {
            seg->n_unacked = seg->unacked_bytes = 0;
        } else if (seg->first_msg <= ack) {
            int r = count_unacked(s, seg, ack);
            if (r < 0)
                return r;
        }
        s->st.msgs += seg->n_unacked;
        s->st.bytes += seg->unacked_bytes;
        if (seg->n_unacked && !start_set) {
            s->scan_seg = seg->name;
            start_set = true;
        }
    }
    s->tail_on_disk = start_set;
    s->scan_off = 0;
    s->st.recovered = s->st.msgs;
    return 0;
}

/* The newest segment stays the current one: later records go after its
 * last valid one. */
static int open_current(struct spool *s, struct recover *rc)
{
    struct spool_seg *cur = spool_seg_current(s);
    if (!cur) {
        s->cache_off = 0;
        return 0;
    }
    char name[SPOOL_NAME_LEN + 1];
    spool_seg_filename(cur->name, name);
    s->wfd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC);
    if (s->wfd < 0)
        return fail(rc, errno, "open", s->dir, name);
    s->cache_off = cur->size;
    return 0;
}

static int scan_all(struct spool *s, struct recover *rc)
{
    bool *empty = calloc(s->nsegs ? s->nsegs : 1, sizeof *empty);
    if (!empty)
        return fail(rc, ENOMEM, "recover", s->dir, "");
    int r = 0;
    for (size_t i = 0; i < s->nsegs && r == 0; i++) {
        struct spool_seg *seg = &s->segs[i];
        rc->max_name = seg->name > rc->max_name ? seg->name : rc->max_name;
        int64_t n = scan_segment(s, seg, i + 1 == s->nsegs, rc);
        if (n < 0)
            r = (int)n;
        else
            empty[i] = n == 0;
    }
    if (r == 0)
        r = remove_empty(s, empty, rc);
    free(empty);
    return r;
}

int spool_recover(struct spool *s, char *err, size_t errlen)
{
    struct recover rc = { .err = err, .errlen = errlen };
    if (errlen)
        err[0] = '\0';
    int r = list_segments(s, &rc);
    if (r == 0)
        r = scan_all(s, &rc);
    if (r < 0)
        return r;
    uint64_t top = rc.max_seq > rc.max_ack ? rc.max_seq : rc.max_ack;
    top = top > rc.max_name ? top : rc.max_name;
    s->next_seq = top + 1;
    s->ack_pos = rc.max_ack;
    if ((r = settle_counts(s, rc.max_ack)) < 0)
        return fail(&rc, -r, "read", s->dir, "");
    if ((r = open_current(s, &rc)) < 0)
        return r;
    if ((r = spool_idx_refill(s)) < 0)
        return fail(&rc, -r, "index", s->dir, "");
    spool_idx_advance(s);
    s->ack_queued = s->ack_written = s->ack_synced = s->ack_pos;
    if (s->nsegs)
        log_info("spool", "%s: %zu segment(s), %" PRIu64 " unsent messages, next seq %" PRIu64,
                 s->dir, s->nsegs, s->st.msgs, s->next_seq);
    return 0;
}
