/* The spool's segment files: the record codec, file names, reading a byte
 * range from memory or disk, writing the pending bytes, fsync, removal, and
 * the scanner that walks a segment's records and resynchronises after a bad
 * one. Used by spool.c (running) and spool_recover.c (opening). */
#include "bridge/spool_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/crc32.h"
#include "gateway/log.h"

/* ---- record codec ---------------------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void spool_rec_encode_header(uint8_t out[SPOOL_HDR], const struct spool_rec *r)
{
    put_le(out + 0, r->magic, 4);
    put_le(out + 4, r->len, 4);
    put_le(out + 8, r->crc, 4);
    out[12] = r->type;
    out[13] = r->flags;
    put_le(out + 14, r->seq, 8);
    put_le(out + 22, (uint64_t)r->wall_ms, 8);
    put_le(out + 30, r->topic_len, 2);
}

void spool_rec_decode_header(const uint8_t in[SPOOL_HDR], struct spool_rec *r)
{
    r->magic = (uint32_t)get_le(in + 0, 4);
    r->len = (uint32_t)get_le(in + 4, 4);
    r->crc = (uint32_t)get_le(in + 8, 4);
    r->type = in[12];
    r->flags = in[13];
    r->seq = get_le(in + 14, 8);
    r->wall_ms = (int64_t)get_le(in + 22, 8);
    r->topic_len = (uint16_t)get_le(in + 30, 2);
}

bool spool_rec_header_ok(const struct spool_rec *r, uint64_t room)
{
    if (r->magic != SPOOL_MAGIC || r->len < SPOOL_HDR || r->len > SPOOL_REC_MAX || r->len > room)
        return false;
    if (r->seq == 0 || r->seq >= SPOOL_SEQ_LIMIT)
        return false;
    if (r->type == SPOOL_REC_ACK)
        return r->len == SPOOL_HDR && r->flags == 0 && r->topic_len == 0 && r->wall_ms == 0;
    return r->type == SPOOL_REC_MSG && (r->flags & ~(SPOOL_FLAG_QOS | SPOOL_FLAG_RETAIN)) == 0 &&
           (r->flags & SPOOL_FLAG_QOS) != 3 && SPOOL_HDR + (uint32_t)r->topic_len <= r->len;
}

/* ---- names, errors ------------------------------------------------------------ */

void spool_seg_filename(uint64_t name, char out[SPOOL_NAME_LEN + 1])
{
    snprintf(out, SPOOL_NAME_LEN + 1, "spool-%016" PRIx64 ".seg", name);
}

bool spool_seg_parse_name(const char *file, uint64_t *name)
{
    if (strlen(file) != SPOOL_NAME_LEN || strncmp(file, "spool-", 6) != 0 ||
        strcmp(file + 22, ".seg") != 0)
        return false;
    uint64_t v = 0;
    for (int i = 6; i < 22; i++) {
        char c = file[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = (v << 4) | (uint64_t)d;
    }
    if (v == 0 || v >= SPOOL_SEQ_LIMIT)
        return false; /* never made by a spool: left alone as a foreign file */
    *name = v;
    return true;
}

/* Keeps the message for spool_last_error; logs it when it is a new failure,
 * not on every retry of the same one (spool_flush runs every loop turn). */
void spool_set_error(struct spool *s, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    if (err != s->err)
        log_error("spool", "%s", s->errmsg);
    s->err = err;
}

/* ---- segment list ------------------------------------------------------------- */

struct spool_seg *spool_seg_current(struct spool *s)
{
    return s->nsegs ? &s->segs[s->nsegs - 1] : NULL;
}

struct spool_seg *spool_seg_find(struct spool *s, uint64_t name)
{
    size_t lo = 0, hi = s->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->segs[mid].name < name)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->nsegs && s->segs[lo].name == name ? &s->segs[lo] : NULL;
}

int spool_seg_push(struct spool *s, uint64_t name)
{
    if (s->nsegs == s->segs_cap) {
        size_t cap = s->segs_cap ? s->segs_cap * 2 : 16;
        struct spool_seg *n = realloc(s->segs, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        s->segs = n;
        s->segs_cap = cap;
    }
    s->segs[s->nsegs++] = (struct spool_seg){ .name = name };
    return 0;
}

void spool_close_rfd(struct spool *s)
{
    if (s->rfd >= 0)
        close(s->rfd);
    s->rfd = -1;
}

int spool_fsync_dir(struct spool *s)
{
    if (fsync(s->dirfd) < 0) {
        int e = errno;
        spool_set_error(s, e, "fsync directory %s: %s", s->dir, strerror(e));
        return -e;
    }
    s->dir_dirty = false;
    return 0;
}

int spool_seg_remove_front(struct spool *s)
{
    struct spool_seg *seg = &s->segs[0];
    if (seg->on_disk) {
        char name[SPOOL_NAME_LEN + 1];
        spool_seg_filename(seg->name, name);
        if (s->rfd_seg == seg->name)
            spool_close_rfd(s);
        if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT) {
            int e = errno;
            spool_set_error(s, e, "remove %s/%s: %s", s->dir, name, strerror(e));
            return -e;
        }
        s->dir_dirty = true;
    }
    s->total_size -= seg->size;
    memmove(s->segs, s->segs + 1, (s->nsegs - 1) * sizeof *s->segs);
    s->nsegs--;
    return 0;
}

/* ---- reading ------------------------------------------------------------------ */

static int pread_full(int fd, uint8_t *p, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;    /* shorter than what we wrote: someone cut it */
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int seg_read_fd(struct spool *s, const struct spool_seg *seg)
{
    if (seg == spool_seg_current(s) && s->wfd >= 0)
        return s->wfd;
    if (s->rfd >= 0 && s->rfd_seg == seg->name)
        return s->rfd;
    spool_close_rfd(s);
    char name[SPOOL_NAME_LEN + 1];
    spool_seg_filename(seg->name, name);
    int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    s->rfd = fd;
    s->rfd_seg = seg->name;
    return fd;
}

int spool_seg_read(struct spool *s, const struct spool_seg *seg, uint64_t off, void *dst, size_t len)
{
    uint8_t *p = dst;
    if (off > seg->size || len > seg->size - off)
        return -EIO;
    if (len == 0)
        return 0;
    /* The cache holds the current segment's tail, pending bytes included:
     * what it has is never read from the file. */
    if (seg == spool_seg_current(s) && s->cache_off != UINT64_MAX && off + len > s->cache_off) {
        if (off >= s->cache_off) {
            memcpy(p, s->cache + (off - s->cache_off), len);
            return 0;
        }
        size_t head = (size_t)(s->cache_off - off);
        memcpy(p + head, s->cache, len - head);
        len = head;
    }
    if (len == 0)
        return 0;
    int fd = seg_read_fd(s, seg);
    return fd < 0 ? fd : pread_full(fd, p, len, off);
}

/* ---- writing ------------------------------------------------------------------ */

static int seg_create(struct spool *s, struct spool_seg *cur, const char *name)
{
    int fd = openat(s->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        int e = errno;
        spool_set_error(s, e, "create %s/%s: %s", s->dir, name, strerror(e));
        return -e;
    }
    s->wfd = fd;
    cur->on_disk = true;
    s->dir_dirty = true;
    return 0;
}

int spool_seg_write_pending(struct spool *s)
{
    struct spool_seg *cur = spool_seg_current(s);
    if (!cur || cur->disk_size == cur->size)
        return 0;
    char name[SPOOL_NAME_LEN + 1];
    spool_seg_filename(cur->name, name);
    if (!cur->on_disk) {
        int r = seg_create(s, cur, name);
        if (r < 0)
            return r;
    }
    const uint8_t *p = s->cache + (cur->disk_size - s->cache_off);
    size_t len = (size_t)(cur->size - cur->disk_size);
    uint64_t off = cur->disk_size;
    while (len > 0) {
        ssize_t n = pwrite(s->wfd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            /* A short write left part of a record: cut it so the file ends
             * on a record boundary (the retry would overwrite it anyway, but
             * a crash before then would leave a torn record to recover). */
            if (ftruncate(s->wfd, (off_t)cur->disk_size) < 0)
                log_warn("spool", "truncate %s/%s after a failed write: %s", s->dir, name,
                         strerror(errno));
            spool_set_error(s, e, "write %s/%s at %" PRIu64 ": %s", s->dir, name, off, strerror(e));
            return -e;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    cur->disk_size = cur->size;
    return 0;
}

int spool_seg_sync(struct spool *s)
{
    struct spool_seg *cur = spool_seg_current(s);
    if (cur && s->wfd >= 0 && cur->sync_size < cur->disk_size) {
        if (fsync(s->wfd) < 0) {
            int e = errno;
            char name[SPOOL_NAME_LEN + 1];
            spool_seg_filename(cur->name, name);
            spool_set_error(s, e, "fsync %s/%s: %s", s->dir, name, strerror(e));
            /* After a failed fsync Linux may drop the dirty pages and report
             * success next time: write the unsynced bytes again from memory. */
            if (s->cache_off <= cur->sync_size)
                cur->disk_size = cur->sync_size;
            return -e;
        }
        cur->sync_size = cur->disk_size;
    }
    return s->dir_dirty ? spool_fsync_dir(s) : 0;
}

/* ---- scanning ----------------------------------------------------------------- */

void spool_scan_init(struct spool_scan *sc, struct spool *s, const struct spool_seg *seg)
{
    *sc = (struct spool_scan){ .s = s, .seg = seg };
}

void spool_scan_free(struct spool_scan *sc)
{
    free(sc->buf);
    sc->buf = NULL;
    sc->cap = sc->blen = 0;
}

/* Point *out at segment bytes [off, off+len), reading a chunk when they are
 * not buffered. The caller keeps off+len within the segment. */
static int scan_get(struct spool_scan *sc, uint64_t off, size_t len, const uint8_t **out)
{
    if (off >= sc->boff && off + len <= sc->boff + sc->blen) {
        *out = sc->buf + (off - sc->boff);
        return 0;
    }
    uint64_t left = sc->seg->size - off;
    size_t want = len > SPOOL_READ_CHUNK ? len : SPOOL_READ_CHUNK;
    if (want > left)
        want = (size_t)left;
    if (want > sc->cap) {
        uint8_t *n = realloc(sc->buf, want);
        if (!n)
            return -ENOMEM;
        sc->buf = n;
        sc->cap = want;
    }
    sc->blen = 0;
    int r = spool_seg_read(sc->s, sc->seg, off, sc->buf, want);
    if (r < 0)
        return r;
    sc->boff = off;
    sc->blen = want;
    *out = sc->buf;
    return 0;
}

/* 1 when a valid record starts at off, 0 when not, -errno. The CRC is taken
 * a chunk at a time, so a large record needs no large buffer. */
static int scan_check(struct spool_scan *sc, uint64_t off, struct spool_rec *rec)
{
    uint64_t room = sc->seg->size - off;
    const uint8_t *p;
    if (room < SPOOL_HDR)
        return 0;
    int r = scan_get(sc, off, SPOOL_HDR, &p);
    if (r < 0)
        return r;
    spool_rec_decode_header(p, rec);
    if (!spool_rec_header_ok(rec, room))
        return 0;
    uint32_t crc = 0;
    for (uint64_t o = off + SPOOL_CRC_FROM; o < off + rec->len;) {
        size_t n = (size_t)(off + rec->len - o);
        n = n > SPOOL_READ_CHUNK ? SPOOL_READ_CHUNK : n;
        if ((r = scan_get(sc, o, n, &p)) < 0)
            return r;
        crc = crc32_ieee_update(crc, p, n);
        o += n;
    }
    return crc == rec->crc;
}

/* The offset of the next valid record after `from`, or the segment's end. */
static int scan_resync(struct spool_scan *sc, uint64_t from, uint64_t *next)
{
    static const uint8_t magic[4] = { 0x4D, 0x51, 0x53, 0x50 };
    uint64_t end = sc->seg->size;
    for (uint64_t o = from; o < end && end - o >= SPOOL_HDR;) {
        size_t n = (size_t)(end - o > SPOOL_READ_CHUNK ? SPOOL_READ_CHUNK : end - o);
        const uint8_t *p;
        int r = scan_get(sc, o, n, &p);
        if (r < 0)
            return r;
        const uint8_t *m = memmem(p, n, magic, sizeof magic);
        if (!m) {
            o += n - (sizeof magic - 1);     /* a magic may straddle chunks */
            continue;
        }
        uint64_t cand = o + (uint64_t)(m - p);
        struct spool_rec rec;
        if ((r = scan_check(sc, cand, &rec)) < 0)
            return r;
        if (r == 1) {
            *next = cand;
            return 0;
        }
        o = cand + 1;
    }
    *next = end;
    return 0;
}

int spool_scan_next(struct spool_scan *sc, uint64_t off, struct spool_rec *rec, uint64_t *next)
{
    if (off >= sc->seg->size)
        return SPOOL_SCAN_END;
    int r = scan_check(sc, off, rec);
    if (r != 0)
        return r < 0 ? r : SPOOL_SCAN_REC;
    r = scan_resync(sc, off + 1, next);
    return r < 0 ? r : SPOOL_SCAN_BAD;
}
