/* Binary frame framer: hunts for a header, sizes the frame from a fixed
 * length or a length field, checks its checksum, and resynchronises byte by
 * byte after anything wrong; points are typed values at byte offsets. */
#include <stdlib.h>
#include <string.h>

#include "drivers/uart/checksum.h"
#include "drivers/uart/framer_internal.h"

struct frame_framer {
    struct framer base;
    const uint8_t *header;      /* hlen bytes, stored after buf */
    size_t hlen;
    size_t fixed_length;        /* 0: read the length field */
    size_t len_offset, len_size;
    int len_endian, len_counts; /* enum cfg_endian, enum cfg_length_counts */
    int64_t len_adjust;
    int ck_type;                /* enum cfg_checksum */
    size_t ck_size, ck_start;
    int ck_endian;
    size_t min_length;          /* shortest frame that holds header, length field, checksum */
    int byte_order;             /* the device's: points without their own */
    size_t max_length;
    size_t start, len;          /* unparsed bytes: buf[start .. start + len) */
    uint8_t buf[];              /* max_length bytes, then the header */
};

enum frame_size { SIZE_OK, SIZE_NEED_MORE, SIZE_INVALID, SIZE_OVERSIZE };

/* ---- framing ------------------------------------------------------------ */

static void frame_drop(struct frame_framer *fr, size_t n)
{
    fr->start += n;
    fr->len -= n;
    if (fr->len == 0)
        fr->start = 0;
}

/* Drop bytes up to the first place the header starts (or may start, when the
 * buffer ends in part of it). True when a whole header is at `start`. */
static bool frame_hunt(struct frame_framer *fr)
{
    const uint8_t *p = fr->buf + fr->start, *end = p + fr->len;
    while (p < end) {
        const uint8_t *q = memchr(p, fr->header[0], (size_t)(end - p));
        if (!q)
            break;
        size_t avail = (size_t)(end - q), cmp = avail < fr->hlen ? avail : fr->hlen;
        if (memcmp(q, fr->header, cmp) == 0) {
            size_t skip = (size_t)(q - (fr->buf + fr->start));
            fr->base.stats.garbage_bytes += skip;
            frame_drop(fr, skip);
            return avail >= fr->hlen;
        }
        p = q + 1;
    }
    fr->base.stats.garbage_bytes += fr->len;
    frame_drop(fr, fr->len);
    return false;
}

static uint64_t read_uint(const uint8_t *b, size_t n, int endian)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | b[endian == CFG_ENDIAN_LITTLE ? n - 1 - i : i];
    return v;
}

/* The length of the frame at `start`, from the config or its length field. */
static enum frame_size frame_size(const struct frame_framer *fr, size_t *flen)
{
    if (fr->fixed_length) {
        *flen = fr->fixed_length;
        return SIZE_OK;
    }
    size_t field_end = fr->len_offset + fr->len_size;
    if (fr->len < field_end)
        return SIZE_NEED_MORE;
    int64_t v = (int64_t)read_uint(fr->buf + fr->start + fr->len_offset, fr->len_size,
                                   fr->len_endian) + fr->len_adjust;
    if (fr->len_counts == CFG_COUNTS_REST)
        v += (int64_t)field_end;
    else if (fr->len_counts == CFG_COUNTS_PAYLOAD)
        v += (int64_t)(field_end + fr->ck_size);
    if (v < (int64_t)fr->min_length)
        return SIZE_INVALID;
    if (v > (int64_t)fr->max_length)
        return SIZE_OVERSIZE;
    *flen = (size_t)v;
    return SIZE_OK;
}

static bool frame_checksum_ok(const struct frame_framer *fr, const uint8_t *frame, size_t flen)
{
    if (fr->ck_size == 0)
        return true;
    size_t at = flen - fr->ck_size;
    uint32_t want = checksum_compute(fr->ck_type, frame + fr->ck_start, at - fr->ck_start);
    return read_uint(frame + at, fr->ck_size, fr->ck_endian) == want;
}

/* Deliver every complete frame in the buffer; stop when more bytes are needed. */
static void frame_scan(struct frame_framer *fr, framer_record_fn *fn, void *ctx)
{
    while (frame_hunt(fr)) {
        size_t flen = 0;
        enum frame_size r = frame_size(fr, &flen);
        if (r == SIZE_NEED_MORE || (r == SIZE_OK && fr->len < flen))
            return;
        const uint8_t *frame = fr->buf + fr->start;
        if (r == SIZE_OK && frame_checksum_ok(fr, frame, flen)) {
            fr->base.stats.records++;
            struct framer_record rec = { frame, flen };
            fn(ctx, &rec);
            frame_drop(fr, flen);
            continue;
        }
        /* A false header (or a damaged frame): search again from its second
         * byte, so a real frame starting inside it is not lost. */
        if (r == SIZE_OVERSIZE)
            fr->base.stats.oversize++;
        else if (r == SIZE_INVALID)
            fr->base.stats.garbage_bytes++;
        else
            fr->base.stats.bad_checksum++;
        frame_drop(fr, 1);
    }
}

static void frame_feed(struct framer *f, const uint8_t *data, size_t n, framer_record_fn *fn,
                       void *ctx)
{
    struct frame_framer *fr = (struct frame_framer *)f;
    while (n) {
        if (fr->start + fr->len == fr->max_length) {
            memmove(fr->buf, fr->buf + fr->start, fr->len);
            fr->start = 0;
        }
        size_t room = fr->max_length - fr->start - fr->len;
        size_t take = n < room ? n : room;
        memcpy(fr->buf + fr->start + fr->len, data, take);
        fr->len += take;
        data += take;
        n -= take;
        frame_scan(fr, fn, ctx);
    }
}

static void frame_reset(struct framer *f)
{
    struct frame_framer *fr = (struct frame_framer *)f;
    fr->start = 0;
    fr->len = 0;
}

/* ---- extraction ------------------------------------------------------------ */

static size_t point_size(const struct cfg_point *pt)
{
    if (pt->type == CFG_T_BOOL)
        return 1;
    if (pt->type == CFG_T_STRING || pt->type == CFG_T_RAW)
        return pt->count > 0 ? (size_t)pt->count : 0;
    return value_type_size(pt->type, 0);
}

/* Strings and raw blocks of a frame are bytes in wire order, any count
 * (value_decode reads them as whole registers). */
static void frame_bytes_value(const uint8_t *b, size_t n, bool text, struct value *out)
{
    memset(out, 0, offsetof(struct value, bytes));
    out->kind = text ? VALUE_STRING : VALUE_RAW;
    size_t len = n;
    if (text) {
        const uint8_t *nul = memchr(b, 0, n);
        len = nul ? (size_t)(nul - b) : n;
        while (len && b[len - 1] == ' ')
            len--;
    }
    memcpy(out->bytes, b, len);
    out->bytes[len] = 0;
    out->len = len;
}

static int frame_extract(const struct framer *f, const struct framer_record *rec,
                         const struct cfg_point *pt, struct value *out, char *why, size_t whylen)
{
    const struct frame_framer *fr = (const struct frame_framer *)f;
    size_t size = point_size(pt);
    if (size == 0 || size > VALUE_MAX_BYTES)
        return framer_fail(why, whylen, "type %d has no size in a frame", pt->type);
    if (pt->byte_offset < 0 || (uint64_t)pt->byte_offset + size > rec->len)
        return framer_fail(why, whylen, "bytes %lld..%lld past the %zu-byte frame",
                           (long long)pt->byte_offset, (long long)(pt->byte_offset + (int64_t)size - 1),
                           rec->len);
    const uint8_t *b = rec->data + pt->byte_offset;
    if (pt->type == CFG_T_BOOL) {
        memset(out, 0, offsetof(struct value, bytes));
        out->kind = VALUE_BOOL;
        out->as.b = b[0] != 0;
        return FRAMER_VALUE;
    }
    if (pt->type == CFG_T_STRING || pt->type == CFG_T_RAW) {
        frame_bytes_value(b, size, pt->type == CFG_T_STRING, out);
        return FRAMER_VALUE;
    }
    int order = config_point_is_set(pt, "byte_order") ? pt->byte_order : fr->byte_order;
    if (value_decode(b, size, pt->type, order, out))
        return framer_fail(why, whylen, "cannot decode %zu bytes as type %d", size, pt->type);
    return FRAMER_VALUE;
}

/* ---- construction ------------------------------------------------------------ */

static void frame_destroy(struct framer *f)
{
    (void)f;
}

static const struct framer_ops frame_ops = {
    .feed = frame_feed,
    .reset = frame_reset,
    .extract = frame_extract,
    .destroy = frame_destroy,
};

static void frame_configure(struct frame_framer *fr, const struct cfg_device *dev)
{
    const struct cfg_frame_framing *cfg = &dev->frame;
    fr->fixed_length = cfg->fixed_length > 0 ? (size_t)cfg->fixed_length : 0;
    fr->len_offset = (size_t)cfg->length.offset;
    fr->len_size = (size_t)cfg->length.size;
    fr->len_endian = cfg->length.endian;
    fr->len_counts = cfg->length.counts;
    fr->len_adjust = cfg->length.adjust;
    fr->ck_type = cfg->checksum.type;
    fr->ck_size = checksum_size(cfg->checksum.type);
    fr->ck_start = (size_t)cfg->checksum.start;
    fr->ck_endian = cfg->checksum.endian;
    fr->byte_order = dev->byte_order;
    size_t min = fr->hlen;
    if (!fr->fixed_length && fr->len_offset + fr->len_size > min)
        min = fr->len_offset + fr->len_size;
    if (fr->ck_start > min)
        min = fr->ck_start;
    fr->min_length = min + fr->ck_size;
}

static int frame_check(const struct frame_framer *fr, char *err, size_t errlen)
{
    if (fr->hlen == 0)
        return framer_new_fail(err, errlen, "frame header is empty");
    if (fr->min_length > fr->max_length)
        return framer_new_fail(err, errlen,
                               "header, length field and checksum need %zu bytes, past "
                               "max_length %zu", fr->min_length, fr->max_length);
    if (fr->fixed_length && fr->fixed_length < fr->min_length)
        return framer_new_fail(err, errlen,
                               "fixed_length %zu is too short for header and checksum (%zu)",
                               fr->fixed_length, fr->min_length);
    if (fr->fixed_length > fr->max_length)
        return framer_new_fail(err, errlen, "fixed_length %zu is past max_length %zu",
                               fr->fixed_length, fr->max_length);
    return 0;
}

int framer_frame_new(const struct cfg_device *dev, struct framer **out, char *err, size_t errlen)
{
    const struct cfg_frame_framing *cfg = &dev->frame;
    size_t max_length = cfg->max_length ? (size_t)cfg->max_length : 1024;
    struct frame_framer *fr = calloc(1, sizeof(*fr) + max_length + cfg->header.len);
    if (!fr)
        return framer_new_fail(err, errlen, "out of memory");
    fr->base.ops = &frame_ops;
    fr->max_length = max_length;
    fr->hlen = cfg->header.len;
    if (fr->hlen)
        memcpy(fr->buf + max_length, cfg->header.data, fr->hlen);
    fr->header = fr->buf + max_length;
    frame_configure(fr, dev);
    if (frame_check(fr, err, errlen)) {
        free(fr);
        return -1;
    }
    *out = &fr->base;
    return 0;
}
