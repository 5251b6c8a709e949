/* The broker's durable state: change records appended to broker.log (one
 * write per turn, before the turn's client output), synced within
 * flush_interval, replayed at start, and compacted into a snapshot written
 * temp → fsync → rename → fsync dir. Format and loss bounds: persist.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bridge/crc32.h"
#include "gateway/broker/broker_internal.h"
#include "gateway/broker/persist.h"
#include "gateway/log.h"
#include "gateway/loop.h"

#define FILE_MAGIC "MQGBRK1\n"
#define FILE_MAGIC_LEN 8
#define REC_MAGIC 0x5242514Du       /* "MQBR" little-endian */
#define REC_HDR 13                  /* magic, len, crc, type */
#define REC_MAX (64u * 1024 * 1024) /* a 256 MB MQTT payload is not stored here */
#define LOG_NAME "broker.log"
#define TMP_NAME "broker.log.tmp"
#define COMPACT_FLOOR (1024u * 1024u)
#define RETRY_MS 1000               /* after a failed write, rewrite at most this often */

enum rec_type {
    REC_RETAIN_SET = 1,   /* msg */
    REC_RETAIN_CLR,       /* topic */
    REC_SESS_NEW,         /* id, expiry u32, next_packet_id u16, then (optional) has
                           * user u8 and user: created or reset */
    REC_SESS_EXPIRY,      /* id, expiry u32 */
    REC_SESS_DEL,         /* id */
    REC_SUB_ADD,          /* id, filter, qos, flags, retain_handling, sub id u32 */
    REC_SUB_DEL,          /* id, filter */
    REC_QUEUED,           /* id, delivery, msg */
    REC_INFLIGHT,         /* id, packet id, released, delivery, msg */
    REC_POPPED,           /* id, packet id (0: dropped) */
    REC_ACKED,            /* id, packet id, released */
    REC_RX2_ADD,          /* id, packet id */
    REC_RX2_DEL,          /* id, packet id */
};

struct buf {
    uint8_t *data;
    size_t len, cap;
    bool oom;
};

struct persist {
    struct broker *b;
    char *dir;
    int dirfd;                  /* holds the flock */
    int fd;                     /* broker.log, O_APPEND */
    int64_t flush_ms;
    struct buf pending;         /* records not yet written */
    uint64_t log_bytes;         /* written to broker.log */
    uint64_t compact_floor;
    bool unsynced;              /* written, not yet fdatasync'ed */
    bool broken;                /* a write failed: rewrite everything next */
    int64_t broken_since_ms;
    uint64_t sync_timer;
    struct session **touched;
    size_t n_touched, cap_touched;
    struct persist_stats stats;
};

/* ---- encoding ---------------------------------------------------------------- */

static void buf_reserve(struct buf *w, size_t n)
{
    if (w->oom || w->len + n <= w->cap)
        return;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->len + n)
        cap *= 2;
    uint8_t *p = realloc(w->data, cap);
    if (!p) {
        w->oom = true;
        return;
    }
    w->data = p;
    w->cap = cap;
}

static void put_bytes(struct buf *w, const void *p, size_t n)
{
    buf_reserve(w, n);
    if (w->oom || n == 0)
        return;
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

static void put_le(struct buf *w, uint64_t v, int n)
{
    uint8_t b[8];
    for (int i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put_bytes(w, b, (size_t)n);
}

static void put_u8(struct buf *w, uint8_t v) { put_le(w, v, 1); }
static void put_u16(struct buf *w, uint16_t v) { put_le(w, v, 2); }
static void put_u32(struct buf *w, uint32_t v) { put_le(w, v, 4); }
static void put_i64(struct buf *w, int64_t v) { put_le(w, (uint64_t)v, 8); }

static void put_str(struct buf *w, const char *s, size_t len)
{
    put_u16(w, (uint16_t)len); /* client ids, topics and filters are at most 65,535 bytes */
    put_bytes(w, s, len);
}

static void put_blob(struct buf *w, const void *p, size_t len)
{
    put_u32(w, (uint32_t)len);
    put_bytes(w, p, len);
}

static void store_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A record is opened with its header left blank, then sealed once the body
 * is in: its length and CRC are known only then. */
static size_t rec_open(struct buf *w, uint8_t type)
{
    size_t at = w->len;
    uint8_t hdr[REC_HDR] = { 0 };
    hdr[REC_HDR - 1] = type;
    put_bytes(w, hdr, sizeof hdr);
    return at;
}

static void rec_seal(struct buf *w, size_t at)
{
    if (w->oom)
        return;
    uint8_t *h = w->data + at;
    uint32_t len = (uint32_t)(w->len - at - (REC_HDR - 1));
    store_le32(h, REC_MAGIC);
    store_le32(h + 4, len);
    uint32_t crc = crc32_ieee_update(0, h + 4, 4);
    crc = crc32_ieee_update(crc, h + REC_HDR - 1, len);
    store_le32(h + 8, crc);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The expiry is stored on the wall clock: it keeps counting while the
 * broker is down (the loop's monotonic clock restarts with the process). */
static void put_msg(struct persist *p, struct buf *w, const struct broker_msg *m)
{
    put_str(w, m->topic, m->topic_len);
    put_u8(w, m->qos);
    put_u8(w, m->retain);
    int64_t deadline = 0;
    if (m->has_expiry) {
        deadline = wall_ms() + (m->expires_at_ms - loop_now_ms(p->b->loop));
        if (deadline <= 0)
            deadline = 1;
    }
    put_i64(w, deadline);
    put_blob(w, m->props, m->props_len);
    put_blob(w, m->payload, m->payload_len);
}

static void put_delivery(struct buf *w, uint8_t qos, bool retain, const uint32_t *ids, uint8_t n)
{
    put_u8(w, qos);
    put_u8(w, retain);
    put_u8(w, n);
    for (uint8_t i = 0; i < n; i++)
        put_u32(w, ids[i]);
}

static void put_id(struct buf *w, const struct session *s)
{
    put_str(w, s->client_id, strlen(s->client_id));
}

/* ---- what a session looks like in the log ------------------------------------ */

static void rec_sub(struct buf *w, const struct session *s, const char *filter,
                    const struct sub_options *opt)
{
    size_t at = rec_open(w, opt ? REC_SUB_ADD : REC_SUB_DEL);
    put_id(w, s);
    put_str(w, filter, strlen(filter));
    if (opt) {
        put_u8(w, opt->qos);
        put_u8(w, (uint8_t)(opt->no_local | opt->retain_as_published << 1));
        put_u8(w, opt->retain_handling);
        put_u32(w, opt->id);
    }
    rec_seal(w, at);
}

static void rec_inflight(struct persist *p, struct buf *w, const struct session *s,
                         const struct inflight *f)
{
    size_t at = rec_open(w, REC_INFLIGHT);
    put_id(w, s);
    put_u16(w, f->packet_id);
    put_u8(w, f->released);
    put_delivery(w, f->qos, f->retain, f->sub_ids, f->n_sub_ids);
    put_msg(p, w, f->msg);
    rec_seal(w, at);
}

static void rec_queued(struct persist *p, struct buf *w, const struct session *s,
                       const struct queued *q)
{
    size_t at = rec_open(w, REC_QUEUED);
    put_id(w, s);
    put_delivery(w, q->qos, q->retain, q->sub_ids, q->n_sub_ids);
    put_msg(p, w, q->msg);
    rec_seal(w, at);
}

static void rec_id_u16(struct buf *w, uint8_t type, const struct session *s, uint16_t id)
{
    size_t at = rec_open(w, type);
    put_id(w, s);
    put_u16(w, id);
    rec_seal(w, at);
}

static void rec_session_expiry(struct buf *w, struct session *s)
{
    size_t at = rec_open(w, REC_SESS_EXPIRY);
    put_id(w, s);
    put_u32(w, s->expiry_s);
    rec_seal(w, at);
    s->persist_expiry_s = s->expiry_s;
}

static void rec_session_del(struct buf *w, struct session *s)
{
    size_t at = rec_open(w, REC_SESS_DEL);
    put_id(w, s);
    rec_seal(w, at);
    s->persist_logged = false;
}

/* Everything the session holds, from an empty one up. */
static void rec_session_full(struct persist *p, struct buf *w, struct session *s)
{
    size_t at = rec_open(w, REC_SESS_NEW);
    put_id(w, s);
    put_u32(w, s->expiry_s);
    put_u16(w, s->next_packet_id);
    /* Its user: ACL READ checks of messages queued while it is offline,
     * and only that user may resume it. */
    put_u8(w, s->username != NULL);
    if (s->username)
        put_str(w, s->username, strlen(s->username));
    rec_seal(w, at);
    for (size_t i = 0; i < s->n_subs; i++)
        rec_sub(w, s, s->subs[i].filter, &s->subs[i].opt);
    for (size_t i = 0; i < s->n_inflight; i++)
        rec_inflight(p, w, s, &s->inflight[i]);
    for (size_t i = 0; i < s->n_queue; i++)
        rec_queued(p, w, s, &s->queue[(s->head + i) % s->cap_queue]);
    for (size_t i = 0; i < s->n_rx_qos2; i++)
        rec_id_u16(w, REC_RX2_ADD, s, s->rx_qos2[i]);
    s->persist_logged = true;
    s->persist_expiry_s = s->expiry_s;
}

static void rec_retain(struct persist *p, struct buf *w, const struct broker_msg *m)
{
    size_t at = rec_open(w, REC_RETAIN_SET);
    put_msg(p, w, m);
    rec_seal(w, at);
}

/* ---- hooks --------------------------------------------------------------------- */

static struct persist *live(const struct broker *b)
{
    return b->persist && !b->persist->broken ? b->persist : NULL;
}

/* The log for a change to `s`, or NULL when the change is not logged: no
 * persistence, an in-process session, one that is not persistent, or one
 * whose full record set was just written (which holds the change). Brings
 * the log's view of the session (exists, expiry) up to date first, since a
 * CONNECT or DISCONNECT changes those outside this file. */
static struct persist *session_log(struct session *s)
{
    struct persist *p = live(s->broker);
    if (!p || s->local_fn)
        return NULL;
    if (!s->persistent) {
        if (s->persist_logged)
            rec_session_del(&p->pending, s);
        return NULL;
    }
    if (!s->persist_logged) {
        rec_session_full(p, &p->pending, s);
        return NULL;
    }
    if (s->persist_expiry_s != s->expiry_s)
        rec_session_expiry(&p->pending, s);
    return p;
}

/* $SYS topics are the broker's own figures, published anew at start. */
static bool is_sys(const struct broker_msg *m)
{
    return m->topic[0] == '$';
}

void persist_retain(struct broker *b, const struct broker_msg *m, bool kept)
{
    struct persist *p = live(b);
    if (!p || is_sys(m))
        return;
    if (kept) {
        rec_retain(p, &p->pending, m);
        return;
    }
    size_t at = rec_open(&p->pending, REC_RETAIN_CLR);
    put_str(&p->pending, m->topic, m->topic_len);
    rec_seal(&p->pending, at);
}

void persist_session_touch(struct session *s)
{
    struct persist *p = live(s->broker);
    if (!p || s->local_fn || s->persist_touched)
        return;
    if (p->n_touched == p->cap_touched) {
        size_t cap = p->cap_touched ? p->cap_touched * 2 : 16;
        struct session **t = realloc(p->touched, cap * sizeof(*t));
        if (!t) {
            p->pending.oom = true; /* seen as a failed write: the next one rewrites all */
            return;
        }
        p->touched = t;
        p->cap_touched = cap;
    }
    p->touched[p->n_touched++] = s;
    s->persist_touched = true;
}

void persist_session_gone(struct session *s)
{
    struct persist *p = s->broker->persist;
    if (!p)
        return;
    if (s->persist_touched) {
        for (size_t i = 0; i < p->n_touched; i++)
            if (p->touched[i] == s)
                p->touched[i] = NULL;
        s->persist_touched = false;
    }
    if (!p->broken && s->persist_logged)
        rec_session_del(&p->pending, s);
}

void persist_sub(struct session *s, const char *filter, const struct sub_options *opt)
{
    struct persist *p = session_log(s);
    if (p)
        rec_sub(&p->pending, s, filter, opt);
}

void persist_queued(struct session *s, const struct queued *q)
{
    struct persist *p = session_log(s);
    if (p)
        rec_queued(p, &p->pending, s, q);
}

void persist_inflight(struct session *s, const struct inflight *f)
{
    struct persist *p = session_log(s);
    if (p)
        rec_inflight(p, &p->pending, s, f);
}

void persist_popped(struct session *s, uint16_t packet_id)
{
    struct persist *p = session_log(s);
    if (p)
        rec_id_u16(&p->pending, REC_POPPED, s, packet_id);
}

void persist_acked(struct session *s, uint16_t packet_id, bool released)
{
    struct persist *p = session_log(s);
    if (!p)
        return;
    size_t at = rec_open(&p->pending, REC_ACKED);
    put_id(&p->pending, s);
    put_u16(&p->pending, packet_id);
    put_u8(&p->pending, released);
    rec_seal(&p->pending, at);
}

void persist_rx_qos2(struct session *s, uint16_t packet_id, bool add)
{
    struct persist *p = session_log(s);
    if (p)
        rec_id_u16(&p->pending, add ? REC_RX2_ADD : REC_RX2_DEL, s, packet_id);
}

/* ---- files ----------------------------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            return -EIO;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void mark_broken(struct persist *p, int err, const char *what)
{
    if (!p->broken)
        log_error("broker", "state %s/%s: %s: %s; the whole state is rewritten at the next try",
                  p->dir, LOG_NAME, what, strerror(-err));
    p->broken = true;
    p->broken_since_ms = loop_now_ms(p->b->loop);
    p->pending.len = 0;
    p->pending.oom = false;
}

/* The whole live state as records, after the file magic. */
static void snapshot_encode(struct persist *p, struct buf *w)
{
    struct broker *b = p->b;
    const char *key;
    void *value;
    put_bytes(w, FILE_MAGIC, FILE_MAGIC_LEN);
    for (size_t i = 0; strmap_next(&b->retained, &i, &key, &value);)
        if (!is_sys(value))
            rec_retain(p, w, value);
    for (size_t i = 0; strmap_next(&b->sessions, &i, &key, &value);) {
        struct session *s = value;
        s->persist_logged = false;
        if (s->persistent && !s->local_fn)
            rec_session_full(p, w, s);
    }
}

static int fsync_dir(struct persist *p)
{
    return fsync(p->dirfd) < 0 ? -errno : 0;
}

int persist_compact(struct broker *b)
{
    struct persist *p = b->persist;
    if (!p)
        return 0;
    struct buf w = { 0 };
    snapshot_encode(p, &w);
    if (w.oom) {
        free(w.data);
        mark_broken(p, -ENOMEM, "snapshot");
        return -ENOMEM;
    }
    int rc = 0;
    int fd = openat(p->dirfd, TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        rc = -errno;
    if (!rc)
        rc = write_all(fd, w.data, w.len);
    if (!rc && fsync(fd) < 0)
        rc = -errno;
    if (fd >= 0 && close(fd) < 0 && !rc)
        rc = -errno;
    if (!rc && renameat(p->dirfd, TMP_NAME, p->dirfd, LOG_NAME) < 0)
        rc = -errno;
    if (!rc)
        rc = fsync_dir(p);
    int nfd = -1;
    if (!rc && (nfd = openat(p->dirfd, LOG_NAME, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0)
        rc = -errno;
    if (rc) {
        unlinkat(p->dirfd, TMP_NAME, 0);
        free(w.data);
        mark_broken(p, rc, "snapshot");
        return rc;
    }
    if (p->fd >= 0)
        close(p->fd);
    p->fd = nfd;
    p->log_bytes = w.len;
    p->stats.snapshot_bytes = w.len;
    p->stats.compactions++;
    p->pending.len = 0; /* the snapshot holds every pending change */
    p->pending.oom = false;
    p->unsynced = false;
    if (p->broken)
        log_info("broker", "state %s/%s rewritten: persistence works again", p->dir, LOG_NAME);
    p->broken = false;
    free(w.data);
    return 0;
}

static int64_t on_sync_timer(struct loop *loop, void *data)
{
    (void)loop;
    struct persist *p = data;
    p->sync_timer = 0;
    if (p->unsynced && !p->broken) {
        p->unsynced = false;
        p->stats.syncs++;
        /* After a failed fdatasync the kernel may have dropped the pages:
         * only a full rewrite is trustworthy again. */
        if (fdatasync(p->fd) < 0)
            mark_broken(p, -errno, "fdatasync");
    }
    return LOOP_TIMER_STOP;
}

static void look_at_touched(struct persist *p)
{
    for (size_t i = 0; i < p->n_touched; i++) {
        struct session *s = p->touched[i];
        if (s) {
            s->persist_touched = false;
            session_log(s);
        }
    }
    p->n_touched = 0;
}

void persist_write(struct broker *b)
{
    struct persist *p = b->persist;
    if (!p)
        return;
    if (p->broken) {
        if (loop_now_ms(b->loop) - p->broken_since_ms >= RETRY_MS)
            persist_compact(b);
        return;
    }
    look_at_touched(p);
    if (p->pending.oom) {
        mark_broken(p, -ENOMEM, "out of memory");
        return;
    }
    if (p->pending.len == 0)
        return;
    int rc = write_all(p->fd, p->pending.data, p->pending.len);
    if (rc) {
        mark_broken(p, rc, "write");
        return;
    }
    p->log_bytes += p->pending.len;
    p->pending.len = 0;
    p->unsynced = true;
    if (p->log_bytes > p->compact_floor && p->log_bytes > 2 * p->stats.snapshot_bytes) {
        persist_compact(b);
        return;
    }
    if (p->flush_ms == 0)
        on_sync_timer(b->loop, p);
    else if (!p->sync_timer)
        p->sync_timer = loop_timer_add(b->loop, p->flush_ms, on_sync_timer, p);
}

/* ---- loading ------------------------------------------------------------------------ */

struct reader {
    const uint8_t *p, *end;
    bool bad;
};

static uint64_t get_le(struct reader *r, int n)
{
    if (r->bad || r->end - r->p < n) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    return v;
}

static const uint8_t *get_span(struct reader *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *at = r->p;
    r->p += n;
    return at;
}

struct span {
    const char *s;
    size_t len;
};

static struct span get_str(struct reader *r)
{
    size_t n = (size_t)get_le(r, 2);
    return (struct span){ (const char *)get_span(r, n), n };
}

static struct span get_blob(struct reader *r)
{
    size_t n = (size_t)get_le(r, 4);
    return (struct span){ (const char *)get_span(r, n), n };
}

/* A stored message; NULL (r->bad or expired) when it is not to be restored.
 * *expired tells the two apart. */
static struct broker_msg *get_msg(struct persist *p, struct reader *r, bool *expired)
{
    struct span topic = get_str(r);
    uint8_t qos = (uint8_t)get_le(r, 1);
    bool retain = get_le(r, 1) != 0;
    int64_t deadline = (int64_t)get_le(r, 8);
    struct span props = get_blob(r);
    struct span payload = get_blob(r);
    *expired = false;
    if (r->bad || qos > 2)
        return NULL;
    int64_t left = deadline ? deadline - wall_ms() : 0;
    if (deadline && left <= 0) {
        *expired = true;
        return NULL;
    }
    return msg_restore(p->b, topic.s, topic.len, payload.s, payload.len, (const uint8_t *)props.s,
                       props.len, qos, retain, deadline != 0,
                       loop_now_ms(p->b->loop) + left);
}

static void get_delivery(struct reader *r, struct queued *q)
{
    q->qos = (uint8_t)get_le(r, 1);
    q->retain = get_le(r, 1) != 0;
    q->n_sub_ids = (uint8_t)get_le(r, 1);
    if (q->n_sub_ids > 4)
        r->bad = true;
    for (uint8_t i = 0; i < q->n_sub_ids && !r->bad; i++)
        q->sub_ids[i] = (uint32_t)get_le(r, 4);
}

static struct session *find_session(struct persist *p, struct span id)
{
    return id.s ? session_find(p->b, id.s, id.len) : NULL;
}

/* A replayed message for a session: queued (packet id 0) or in flight. */
static int apply_msg(struct persist *p, struct reader *r, struct session *s, uint16_t packet_id,
                     bool released)
{
    struct queued q = { 0 };
    get_delivery(r, &q);
    bool expired;
    q.msg = get_msg(p, r, &expired);
    if (!q.msg)
        return r->bad || !expired ? -EINVAL : 0;
    int rc = s ? session_restore_msg(s, &q, packet_id, released) : 0;
    msg_unref(q.msg);
    return rc ? -ENOMEM : 0;
}

static int apply_retain(struct persist *p, struct reader *r)
{
    bool expired;
    struct broker_msg *m = get_msg(p, r, &expired);
    if (!m)
        return r->bad || !expired ? -EINVAL : 0;
    struct strmap *map = &p->b->retained;
    msg_unref(strmap_remove(map, m->topic, m->topic_len));
    if (strmap_put(map, m->topic, m->topic_len, m)) {
        msg_unref(m);
        return -ENOMEM;
    }
    return 0;
}

static int apply_session_new(struct persist *p, struct span id, struct reader *r)
{
    uint32_t expiry = (uint32_t)get_le(r, 4);
    uint16_t next_id = (uint16_t)get_le(r, 2);
    struct span user = { NULL, 0 };
    if (r->p < r->end && get_le(r, 1))
        user = get_str(r);
    if (r->bad || !id.s || memchr(user.s ? user.s : "", '\0', user.len))
        return -EINVAL;
    struct session *s = find_session(p, id);
    if (s)
        session_destroy(s); /* a reset: the records that follow fill it */
    s = session_create(p->b, id.s, id.len);
    if (!s)
        return -ENOMEM;
    s->persistent = true;
    s->expiry_s = expiry;
    s->next_packet_id = next_id ? next_id : 1;
    if (user.s && !(s->username = strndup(user.s, user.len)))
        return -ENOMEM;
    s->offline_since_ms = loop_now_ms(p->b->loop);
    return 0;
}

static int apply_sub(struct session *s, struct reader *r, bool add)
{
    struct span f = get_str(r);
    struct sub_options opt = { 0 };
    if (add) {
        opt.qos = (uint8_t)get_le(r, 1);
        uint8_t flags = (uint8_t)get_le(r, 1);
        opt.no_local = flags & 1;
        opt.retain_as_published = (flags >> 1) & 1;
        opt.retain_handling = (uint8_t)get_le(r, 1);
        opt.id = (uint32_t)get_le(r, 4);
    }
    if (r->bad || opt.qos > 2)
        return -EINVAL;
    if (!s)
        return 0;
    char *filter = strndup(f.s, f.len);
    if (!filter)
        return -ENOMEM;
    int rc = add ? session_add_sub(s, filter, &opt) : session_remove_sub(s, filter);
    free(filter);
    return add && rc < 0 ? -EINVAL : 0;
}

/* One record's body. Records about a session the log does not hold (one
 * whose creation was in a record skipped as corrupt) are read and ignored. */
static int apply_record(struct persist *p, uint8_t type, struct reader *r)
{
    if (type == REC_RETAIN_SET)
        return apply_retain(p, r);
    struct span id = get_str(r);
    if (type == REC_RETAIN_CLR) {
        if (r->bad)
            return -EINVAL;
        msg_unref(strmap_remove(&p->b->retained, id.s, id.len));
        return 0;
    }
    if (type == REC_SESS_NEW)
        return apply_session_new(p, id, r);
    struct session *s = find_session(p, id);
    uint16_t packet_id;
    switch (type) {
    case REC_SESS_EXPIRY: {
        uint32_t expiry = (uint32_t)get_le(r, 4);
        if (s && !r->bad)
            s->expiry_s = expiry;
        break;
    }
    case REC_SESS_DEL:
        if (s && !r->bad)
            session_destroy(s);
        break;
    case REC_SUB_ADD:
    case REC_SUB_DEL:
        return apply_sub(s, r, type == REC_SUB_ADD);
    case REC_QUEUED:
        return apply_msg(p, r, s, 0, false);
    case REC_INFLIGHT: {
        packet_id = (uint16_t)get_le(r, 2);
        bool released = get_le(r, 1) != 0;
        if (!r->bad && packet_id == 0)
            return -EINVAL;
        return apply_msg(p, r, s, packet_id, released);
    }
    case REC_POPPED:
        packet_id = (uint16_t)get_le(r, 2);
        if (s && !r->bad)
            return session_restore_pop(s, packet_id) ? -ENOMEM : 0;
        break;
    case REC_ACKED: {
        packet_id = (uint16_t)get_le(r, 2);
        bool released = get_le(r, 1) != 0;
        if (s && !r->bad)
            session_restore_ack(s, packet_id, released);
        break;
    }
    case REC_RX2_ADD:
        packet_id = (uint16_t)get_le(r, 2);
        if (s && !r->bad && !session_rx_qos2_has(s, packet_id))
            return session_rx_qos2_add(s, packet_id) ? -ENOMEM : 0;
        break;
    case REC_RX2_DEL:
        packet_id = (uint16_t)get_le(r, 2);
        if (s && !r->bad)
            session_rx_qos2_remove(s, packet_id);
        break;
    default:
        return -EINVAL;
    }
    return r->bad ? -EINVAL : 0;
}

static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Length of the good record at `at`, or 0 when there is none there. */
static size_t record_at(const uint8_t *data, size_t size, size_t at)
{
    if (size - at < REC_HDR || load_le32(data + at) != REC_MAGIC)
        return 0;
    uint32_t len = load_le32(data + at + 4);
    if (len < 1 || len > REC_MAX || len > size - at - (REC_HDR - 1))
        return 0;
    uint32_t crc = crc32_ieee_update(0, data + at + 4, 4);
    crc = crc32_ieee_update(crc, data + at + REC_HDR - 1, len);
    return crc == load_le32(data + at + 8) ? (size_t)len + REC_HDR - 1 : 0;
}

/* The next good record after a bad one at `at`, or `size` when none. */
static size_t resync(const uint8_t *data, size_t size, size_t at)
{
    for (size_t o = at + 1; o + REC_HDR <= size; o++)
        if (data[o] == 'M' && record_at(data, size, o))
            return o;
    return size;
}

static int replay(struct persist *p, const uint8_t *data, size_t size)
{
    size_t at = FILE_MAGIC_LEN;
    while (at < size) {
        size_t n = record_at(data, size, at);
        if (!n) {
            size_t next = resync(data, size, at);
            if (next == size) {
                p->stats.tail_bytes_dropped = size - at;
                log_warn("broker", "state %s/%s: %zu byte(s) of an unfinished write at the "
                         "end dropped", p->dir, LOG_NAME, size - at);
                return 0;
            }
            log_warn("broker", "state %s/%s: corrupt record at offset %zu skipped (%zu bytes)",
                     p->dir, LOG_NAME, at, next - at);
            p->stats.records_skipped++;
            at = next;
            continue;
        }
        struct reader r = { data + at + REC_HDR, data + at + n, false };
        int rc = apply_record(p, data[at + REC_HDR - 1], &r);
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0) {
            log_warn("broker", "state %s/%s: record of type %u at offset %zu not understood, "
                     "skipped", p->dir, LOG_NAME, data[at + REC_HDR - 1], at);
            p->stats.records_skipped++;
        } else {
            p->stats.records_loaded++;
        }
        at += n;
    }
    return 0;
}

static int read_file(int dirfd, const char *name, uint8_t **out, size_t *size)
{
    *out = NULL;
    *size = 0;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    uint8_t *data = rc ? NULL : malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!rc && !data)
        rc = -ENOMEM;
    size_t got = 0;
    while (!rc && got < (size_t)st.st_size) {
        ssize_t k = read(fd, data + got, (size_t)st.st_size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break; /* shorter than stat said: take what is there */
        got += (size_t)k;
    }
    close(fd);
    if (rc) {
        free(data);
        return rc;
    }
    *out = data;
    *size = got;
    return 0;
}

static int load(struct persist *p, char *err, size_t err_size)
{
    uint8_t *data;
    size_t size;
    int rc = read_file(p->dirfd, LOG_NAME, &data, &size);
    if (rc) {
        snprintf(err, err_size, "cannot read %s/%s: %s", p->dir, LOG_NAME, strerror(-rc));
        return rc;
    }
    if (!data)
        return 0; /* a first start */
    if (size < FILE_MAGIC_LEN || memcmp(data, FILE_MAGIC, FILE_MAGIC_LEN) != 0) {
        /* A file cut before its magic was never a snapshot that got renamed
         * in: renames happen after fsync, so this is someone else's file. */
        snprintf(err, err_size, "%s/%s is not a broker state file (left as it is)", p->dir,
                 LOG_NAME);
        free(data);
        return -EINVAL;
    }
    rc = replay(p, data, size);
    free(data);
    if (rc)
        snprintf(err, err_size, "loading %s/%s: %s", p->dir, LOG_NAME, strerror(-rc));
    return rc;
}

static int open_dir(struct persist *p, char *err, size_t err_size)
{
    if (mkdir(p->dir, 0750) == 0)
        log_info("broker", "created the state directory %s", p->dir);
    else if (errno != EEXIST) {
        int e = errno;
        snprintf(err, err_size, "cannot create %s: %s", p->dir, strerror(e));
        return -e;
    }
    p->dirfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p->dirfd < 0) {
        int e = errno;
        snprintf(err, err_size, "cannot open %s: %s", p->dir, strerror(e));
        return -e;
    }
    if (flock(p->dirfd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        snprintf(err, err_size, "%s is in use by another process: %s", p->dir, strerror(e));
        return -e;
    }
    unlinkat(p->dirfd, TMP_NAME, 0); /* a compaction cut short; the log is whole */
    return 0;
}

static void persist_free(struct persist *p)
{
    if (p->sync_timer)
        loop_timer_cancel(p->b->loop, p->sync_timer);
    if (p->fd >= 0)
        close(p->fd);
    if (p->dirfd >= 0)
        close(p->dirfd);
    free(p->pending.data);
    free(p->touched);
    free(p->dir);
    free(p);
}

int persist_open(struct broker *b, const char *dir, int64_t flush_interval_ms, char *err,
                 size_t err_size)
{
    struct persist *p = calloc(1, sizeof(*p));
    if (!p || !(p->dir = strdup(dir))) {
        free(p);
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    p->b = b;
    p->fd = -1;
    p->dirfd = -1;
    p->flush_ms = flush_interval_ms;
    p->compact_floor = COMPACT_FLOOR;
    int rc = open_dir(p, err, err_size);
    if (!rc)
        rc = load(p, err, err_size);
    if (!rc) {
        b->persist = p;
        rc = persist_compact(b);
        if (rc)
            snprintf(err, err_size, "cannot write %s/%s: %s", dir, LOG_NAME, strerror(-rc));
    }
    if (rc) {
        b->persist = NULL;
        persist_free(p);
        return rc;
    }
    log_info("broker", "state %s: %zu retained message(s), %zu persistent session(s) restored",
             dir, b->retained.count, b->sessions.count);
    return 0;
}

void persist_close(struct broker *b)
{
    struct persist *p = b->persist;
    if (!p)
        return;
    /* An expiry changed by DISCONNECT is otherwise only written with the
     * session's next change. */
    const char *key;
    void *value;
    for (size_t i = 0; strmap_next(&b->sessions, &i, &key, &value);)
        session_log(value);
    p->broken_since_ms = INT64_MIN / 2; /* a rewrite, when needed, is tried now */
    persist_write(b);
    if (!p->broken && p->unsynced && fdatasync(p->fd) < 0)
        mark_broken(p, -errno, "fdatasync");
    if (p->broken)
        persist_compact(b);
    if (p->broken)
        log_error("broker", "state %s: the last changes could not be saved", p->dir);
    b->persist = NULL;
    persist_free(p);
}

void persist_get_stats(const struct broker *b, struct persist_stats *out)
{
    memset(out, 0, sizeof(*out));
    const struct persist *p = b->persist;
    if (!p)
        return;
    *out = p->stats;
    out->log_bytes = p->log_bytes + p->pending.len;
    out->broken = p->broken;
}

void persist_set_compact_floor(struct broker *b, uint64_t bytes)
{
    if (b->persist)
        b->persist->compact_floor = bytes;
}

int broker_open_state(struct broker *b, const struct cfg_broker *cfg)
{
    const struct cfg_broker_persistence *pc = &cfg->persistence;
    if (!pc->enabled || !pc->dir) {
        log_info("broker", "persistence off: retained messages and sessions end with the process");
        return 0;
    }
    char err[512] = "";
    int rc = persist_open(b, pc->dir, pc->flush_interval / 1000, err, sizeof err);
    if (rc == -ENOENT) {
        /* The state directory's parent is not there (the default
         * /var/lib/mqgate of a machine where mqgate is not installed): one
         * level is all we create, and a broker without state is still a
         * broker. Anything else is refused: a directory another process
         * holds, a file we did not write, a disk we cannot write. */
        log_error("broker", "state: %s; running WITHOUT persistence", err);
        return 0;
    }
    if (rc < 0)
        log_error("broker", "state: %s", err[0] ? err : strerror(-rc));
    return rc;
}
