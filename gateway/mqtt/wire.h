/* Internal to the codec: a bounds-checked reader over one packet's bytes and
 * a writer that counts what it would write. Both are "sticky": after the
 * first error every call is a no-op, so a decoder checks once at the end.
 * Big-endian through byte shifts only (no unaligned loads on ARM). */
#ifndef MQGATE_MQTT_WIRE_H
#define MQGATE_MQTT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/mqtt/mqtt.h"

struct mqtt_reader {
    const uint8_t *p;
    const uint8_t *end;
    int err;          /* 0, or the first failure's reason code */
    const char *why;
};

void mqtt_reader_init(struct mqtt_reader *r, const uint8_t *buf, size_t len);
/* Records the first failure; later ones are ignored. Always returns false. */
bool mqtt_reader_fail(struct mqtt_reader *r, int reason, const char *why);
static inline size_t mqtt_reader_left(const struct mqtt_reader *r)
{
    return (size_t)(r->end - r->p);
}
static inline bool mqtt_reader_ok(const struct mqtt_reader *r)
{
    return r->err == 0;
}
/* Running out of bytes inside a complete packet is MALFORMED_PACKET, `what` says
 * which field. Values read after a failure are 0. */
uint8_t mqtt_read_u8(struct mqtt_reader *r, const char *what);
uint16_t mqtt_read_u16(struct mqtt_reader *r, const char *what);
uint32_t mqtt_read_u32(struct mqtt_reader *r, const char *what);
uint32_t mqtt_read_varint(struct mqtt_reader *r, const char *what);
/* n bytes, or binary data (two-byte length + bytes), or a UTF-8 string
 * (binary data that passes mqtt_utf8_valid). */
struct mqtt_bytes mqtt_read_raw(struct mqtt_reader *r, size_t n, const char *what);
struct mqtt_bytes mqtt_read_binary(struct mqtt_reader *r, const char *what);
struct mqtt_bytes mqtt_read_string(struct mqtt_reader *r, const char *what);
/* A property block for context `ctx` (mqtt_props_decode's rules). */
void mqtt_read_props(struct mqtt_reader *r, unsigned ctx, struct mqtt_props *out);
/* Fails with MALFORMED_PACKET when bytes are left over. */
void mqtt_read_end(struct mqtt_reader *r, const char *what);

/* Sets *why and returns -reason. */
int mqtt_fail(const char **why, int reason, const char *msg);

struct mqtt_writer {
    uint8_t *buf;     /* NULL: count only */
    size_t cap;
    size_t len;       /* bytes written, or that would have been */
    bool bad;         /* something cannot be encoded */
};

void mqtt_writer_init(struct mqtt_writer *w, uint8_t *buf, size_t cap);
void mqtt_write_u8(struct mqtt_writer *w, uint8_t v);
void mqtt_write_u16(struct mqtt_writer *w, uint16_t v);
void mqtt_write_u32(struct mqtt_writer *w, uint32_t v);
void mqtt_write_varint(struct mqtt_writer *w, uint32_t v);
void mqtt_write_raw(struct mqtt_writer *w, const uint8_t *data, size_t n);
/* Two-byte length + bytes; marks the writer bad above 65,535 bytes. */
void mqtt_write_binary(struct mqtt_writer *w, struct mqtt_bytes b);
void mqtt_write_props(struct mqtt_writer *w, const struct mqtt_props *props, unsigned ctx);

/* Writes a packet's body (variable header and payload) for `version`. */
typedef void mqtt_body_fn(struct mqtt_writer *w, const void *pkt, int version);

/* Encodes a packet: counts the body, then, when header + body fits `cap`,
 * writes the first byte, the remaining length and the body. Returns the size,
 * or 0 when the body is bad or over MQTT_MAX_REMAINING. */
size_t mqtt_encode_packet(uint8_t *buf, size_t cap, uint8_t first_byte, mqtt_body_fn *body,
                          const void *pkt, int version);

/* The common start of every decoder: the fixed header of a packet whose type
 * is in `types` (a mask of 1u << type), complete in `len`. Returns the packet
 * size (> 0), 0 for "need more", or -reason; on success `r` spans the body.
 * `version` must be MQTT_V311 or MQTT_V5 unless `types` is CONNECT's. */
int mqtt_decode_start(const uint8_t *buf, size_t len, unsigned types, int version,
                      struct mqtt_reader *r, struct mqtt_fixed_header *hdr, const char **why);
/* The common end: the packet size, or -reason from the reader. */
int mqtt_decode_finish(struct mqtt_reader *r, int size, const char **why);

/* Nothing to encode: no property, user property or subscription id. */
static inline bool mqtt_props_empty(const struct mqtt_props *p)
{
    return p->present == 0 && p->n_user == 0 && (!p->sub_ids || p->n_sub_ids == 0);
}

static inline bool mqtt_version_ok(int version)
{
    return version == MQTT_V311 || version == MQTT_V5;
}

#endif
