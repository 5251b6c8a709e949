/* The codec's bounds-checked reader and counting writer, and the start and
 * end shared by every packet decoder and encoder. */
#include <string.h>

#include "gateway/mqtt/wire.h"

int mqtt_fail(const char **why, int reason, const char *msg)
{
    if (why)
        *why = msg;
    return -reason;
}

void mqtt_reader_init(struct mqtt_reader *r, const uint8_t *buf, size_t len)
{
    r->p = buf;
    r->end = buf ? buf + len : buf;
    r->err = 0;
    r->why = NULL;
}

bool mqtt_reader_fail(struct mqtt_reader *r, int reason, const char *why)
{
    if (r->err == 0) {
        r->err = reason;
        r->why = why;
        r->p = r->end;
    }
    return false;
}

/* n more bytes, or a MALFORMED failure naming the field. */
static const uint8_t *reader_take(struct mqtt_reader *r, size_t n, const char *what)
{
    if (r->err != 0)
        return NULL;
    if (mqtt_reader_left(r) < n) {
        mqtt_reader_fail(r, MQTT_RC_MALFORMED_PACKET, what);
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

uint8_t mqtt_read_u8(struct mqtt_reader *r, const char *what)
{
    const uint8_t *p = reader_take(r, 1, what);
    return p ? p[0] : 0;
}

uint16_t mqtt_read_u16(struct mqtt_reader *r, const char *what)
{
    const uint8_t *p = reader_take(r, 2, what);
    return p ? (uint16_t)((p[0] << 8) | p[1]) : 0;
}

uint32_t mqtt_read_u32(struct mqtt_reader *r, const char *what)
{
    const uint8_t *p = reader_take(r, 4, what);
    if (!p)
        return 0;
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

uint32_t mqtt_read_varint(struct mqtt_reader *r, const char *what)
{
    if (r->err != 0)
        return 0;
    uint32_t v = 0;
    const char *why = what;
    int n = mqtt_varint_decode(r->p, mqtt_reader_left(r), &v, &why);
    if (n <= 0) {
        mqtt_reader_fail(r, MQTT_RC_MALFORMED_PACKET, why);
        return 0;
    }
    r->p += n;
    return v;
}

struct mqtt_bytes mqtt_read_raw(struct mqtt_reader *r, size_t n, const char *what)
{
    struct mqtt_bytes b = { NULL, 0 };
    const uint8_t *p = reader_take(r, n, what);
    if (p) {
        b.data = p;
        b.len = (uint32_t)n;
    }
    return b;
}

struct mqtt_bytes mqtt_read_binary(struct mqtt_reader *r, const char *what)
{
    uint16_t n = mqtt_read_u16(r, what);
    return mqtt_read_raw(r, n, what);
}

struct mqtt_bytes mqtt_read_string(struct mqtt_reader *r, const char *what)
{
    struct mqtt_bytes b = mqtt_read_binary(r, what);
    const char *why = NULL;
    if (r->err == 0 && !mqtt_utf8_valid(b.data, b.len, &why))
        mqtt_reader_fail(r, MQTT_RC_MALFORMED_PACKET, why);
    return b;
}

void mqtt_read_end(struct mqtt_reader *r, const char *what)
{
    if (r->err == 0 && r->p != r->end)
        mqtt_reader_fail(r, MQTT_RC_MALFORMED_PACKET, what);
}

void mqtt_writer_init(struct mqtt_writer *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = buf ? cap : 0;
    w->len = 0;
    w->bad = false;
}

void mqtt_write_raw(struct mqtt_writer *w, const uint8_t *data, size_t n)
{
    if (w->buf && n <= w->cap && w->len <= w->cap - n && n > 0)
        memcpy(w->buf + w->len, data, n);
    w->len += n;
}

void mqtt_write_u8(struct mqtt_writer *w, uint8_t v)
{
    mqtt_write_raw(w, &v, 1);
}

void mqtt_write_u16(struct mqtt_writer *w, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    mqtt_write_raw(w, b, 2);
}

void mqtt_write_u32(struct mqtt_writer *w, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    mqtt_write_raw(w, b, 4);
}

void mqtt_write_varint(struct mqtt_writer *w, uint32_t v)
{
    uint8_t b[4];
    size_t n = mqtt_varint_encode(b, sizeof b, v);
    if (n == 0)
        w->bad = true;
    else
        mqtt_write_raw(w, b, n);
}

void mqtt_write_binary(struct mqtt_writer *w, struct mqtt_bytes b)
{
    if (b.len > MQTT_MAX_STRING || (b.len > 0 && !b.data)) {
        w->bad = true;
        return;
    }
    mqtt_write_u16(w, (uint16_t)b.len);
    mqtt_write_raw(w, b.data, b.len);
}

size_t mqtt_encode_packet(uint8_t *buf, size_t cap, uint8_t first_byte, mqtt_body_fn *body,
                          const void *pkt, int version)
{
    struct mqtt_writer w;
    mqtt_writer_init(&w, NULL, 0);
    body(&w, pkt, version);
    if (w.bad || w.len > MQTT_MAX_REMAINING)
        return 0;
    size_t body_len = w.len;
    size_t total = 1 + mqtt_varint_size((uint32_t)body_len) + body_len;
    if (!buf || total > cap)
        return total;
    mqtt_writer_init(&w, buf, cap);
    mqtt_write_u8(&w, first_byte);
    mqtt_write_varint(&w, (uint32_t)body_len);
    body(&w, pkt, version);
    return w.len == total && !w.bad ? total : 0;
}

int mqtt_decode_start(const uint8_t *buf, size_t len, unsigned types, int version,
                      struct mqtt_reader *r, struct mqtt_fixed_header *hdr, const char **why)
{
    if (types != (1u << MQTT_CONNECT) && !mqtt_version_ok(version))
        return mqtt_fail(why, MQTT_RC_UNSUPPORTED_VERSION, "unsupported protocol version");
    int rc = mqtt_decode_fixed_header(buf, len, 0, hdr, why);
    if (rc <= 0)
        return rc;
    if ((types & (1u << hdr->type)) == 0)
        return mqtt_fail(why, MQTT_RC_MALFORMED_PACKET, "unexpected packet type");
    size_t size = (size_t)hdr->header_len + hdr->remaining;
    if (len < size)
        return 0;
    mqtt_reader_init(r, buf + hdr->header_len, hdr->remaining);
    return (int)size;
}

int mqtt_decode_finish(struct mqtt_reader *r, int size, const char **why)
{
    if (r->err != 0)
        return mqtt_fail(why, r->err, r->why);
    return size;
}
