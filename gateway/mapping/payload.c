/* Payload text of readings: the value alone, a JSON object of chosen fields,
 * a user template, or one grouped JSON object per device cycle. Everything
 * is written into the caller's buffers; nothing here allocates or blocks. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gateway/mapping/payload.h"

/* Room for any one piece: the longest engineering or raw text (a raw block
 * in hex, or a huge double with 15 decimals) with margin. */
#define PIECE_MAX (2 * VALUE_MAX_BYTES + 64)

/* ---- a bounded writer --------------------------------------------------- */

/* Appends to buf while it fits. Once a piece does not fit, `over` is set,
 * the buffer holds a NUL-terminated prefix and later pieces are ignored, so
 * callers check once at the end instead of after every piece. */
struct out {
    char *buf;
    size_t cap, len;
    bool over;
};

static void out_init(struct out *o, char *buf, size_t cap, size_t len)
{
    *o = (struct out){ .buf = buf, .cap = cap, .len = len, .over = len >= cap };
    if (!o->over)
        buf[len] = '\0';
}

static void out_mem(struct out *o, const char *s, size_t n)
{
    if (o->over)
        return;
    size_t room = o->cap - o->len; /* > 0: one byte is the NUL */
    if (n >= room) {
        memcpy(o->buf + o->len, s, room - 1);
        o->buf[o->cap - 1] = '\0';
        o->over = true;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void out_str(struct out *o, const char *s)
{
    out_mem(o, s, strlen(s));
}

/* Takes the result of an snprintf-style call made at the end of the buffer
 * with the room left: such a call has already cut and NUL-terminated. */
static void out_advance(struct out *o, int r)
{
    if (r < 0) {
        if (o->len < o->cap)
            o->buf[o->len] = '\0';
        o->over = true;
    } else if ((size_t)r >= o->cap - o->len) {
        o->over = true;
    } else {
        o->len += (size_t)r;
    }
}

static void out_json_quote(struct out *o, const char *s)
{
    if (!o->over)
        out_advance(o, json_quote(s, o->buf + o->len, o->cap - o->len));
}

static void out_eng_text(struct out *o, const struct eng_value *v, int decimals)
{
    if (!o->over)
        out_advance(o, eng_to_text(v, decimals, o->buf + o->len, o->cap - o->len));
}

static void out_eng_json(struct out *o, const struct eng_value *v, int decimals)
{
    if (!o->over)
        out_advance(o, eng_to_json(v, decimals, o->buf + o->len, o->cap - o->len));
}

/* The length of a finished payload, or -1 when it did not fit. */
static int out_result(const struct out *o)
{
    return o->over || o->len > INT_MAX ? -1 : (int)o->len;
}

/* ---- pieces ------------------------------------------------------------- */

const char *payload_error_text(const struct reading *r)
{
    if (r->error == READING_ERR_EXCEPTION)
        return modbus_exception_name(r->exception_code);
    if (r->error == READING_ERR_NONE && r->quality != READING_GOOD)
        return reading_quality_name(r->quality); /* no reason given: say "stale" */
    return reading_error_name(r->error);
}

int payload_timestamp(int format, const struct timespec *wall, char *buf, size_t n)
{
    long ms = wall->tv_nsec / 1000000;
    if (format == CFG_TS_EPOCH_MS)
        return snprintf(buf, n, "%lld", (long long)wall->tv_sec * 1000 + ms);
    struct tm tm;
    time_t t = wall->tv_sec;
    if (!gmtime_r(&t, &tm))
        return -1;
    return snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

/* Whether the reading carries a value to show (good or stale, converted). */
static bool has_value(const struct payload_point *p)
{
    return p->r->quality != READING_BAD && p->eng;
}

static int decimals_of(const struct cfg_point *pt)
{
    return pt->decimals < INT_MIN || pt->decimals > INT_MAX ? -1 : (int)pt->decimals;
}

static const char *name_of(const struct template_values *names, enum tvar var)
{
    if (!names)
        return "";
    unsigned bit = 0;
    while (bit < 16 && (1u << bit) != (unsigned)var)
        bit++;
    return bit < 16 && names->v[bit] ? names->v[bit] : "";
}

/* The raw value as JSON: numbers bare (null when not finite, as JSON has no
 * NaN), bools, strings quoted, raw bytes as a quoted hex string. */
static void out_raw_json(struct out *o, const struct value *v)
{
    char text[PIECE_MAX];
    int r = value_to_text(v, -1, text, sizeof text);
    if (r < 0 || (size_t)r >= sizeof text) {
        out_advance(o, -1);
        return;
    }
    if (v->kind == VALUE_STRING || v->kind == VALUE_RAW)
        out_json_quote(o, text);
    else if (v->kind == VALUE_FLOAT && !isfinite(v->as.f))
        out_str(o, "null");
    else
        out_str(o, text);
}

static void out_timestamp_json(struct out *o, int format, const struct timespec *wall)
{
    char ts[64];
    int r = payload_timestamp(format, wall, ts, sizeof ts);
    if (r < 0 || (size_t)r >= sizeof ts) {
        out_advance(o, -1);
        return;
    }
    if (format == CFG_TS_EPOCH_MS) {
        out_str(o, ts);
    } else {
        out_str(o, "\"");
        out_str(o, ts);
        out_str(o, "\"");
    }
}

/* ---- payload: value / json / template ----------------------------------- */

static int render_value(const struct payload_point *p, char *buf, size_t n)
{
    struct out o;
    out_init(&o, buf, n, 0);
    if (has_value(p))
        out_eng_text(&o, p->eng, decimals_of(p->pt));
    else
        out_str(&o, payload_error_text(p->r));
    return out_result(&o);
}

/* Writes one JSON member; false when the field is not written at all. */
static bool out_json_field(struct out *o, const struct cfg_publish *pub,
                           const struct payload_point *p, const char *field)
{
    const struct reading *r = p->r;
    if (strcmp(field, "error") == 0 && r->quality == READING_GOOD)
        return false;
    out_json_quote(o, field);
    out_str(o, ":");
    if (strcmp(field, "value") == 0) {
        if (has_value(p))
            out_eng_json(o, p->eng, decimals_of(p->pt));
        else
            out_str(o, "null");
    } else if (strcmp(field, "unit") == 0) {
        out_json_quote(o, p->pt->unit ? p->pt->unit : "");
    } else if (strcmp(field, "timestamp") == 0) {
        out_timestamp_json(o, pub->timestamp, &r->wall);
    } else if (strcmp(field, "quality") == 0) {
        out_json_quote(o, reading_quality_name(r->quality));
    } else if (strcmp(field, "error") == 0) {
        out_json_quote(o, payload_error_text(r));
    } else if (strcmp(field, "device") == 0) {
        out_json_quote(o, name_of(p->names, TVAR_DEVICE));
    } else if (strcmp(field, "point") == 0) {
        out_json_quote(o, name_of(p->names, TVAR_POINT));
    } else if (strcmp(field, "raw") == 0 && r->quality != READING_BAD) {
        out_raw_json(o, &r->value);
    } else {
        out_str(o, "null"); /* raw of a bad reading (unknown fields fail validation) */
    }
    return true;
}

static int render_json(const struct cfg_publish *pub, const struct payload_point *p, char *buf,
                       size_t n)
{
    struct out o;
    out_init(&o, buf, n, 0);
    out_str(&o, "{");
    bool first = true;
    for (size_t i = 0; i < pub->json_fields.count; i++) {
        size_t mark = o.len;
        if (!first)
            out_str(&o, ",");
        if (out_json_field(&o, pub, p, pub->json_fields.items[i]))
            first = false;
        else if (!o.over)
            o.len = mark, o.buf[mark] = '\0'; /* take back the comma */
    }
    out_str(&o, "}");
    return out_result(&o);
}

static int render_template(const struct cfg_publish *pub, const struct payload_point *p,
                           char *buf, size_t n)
{
    char value[PIECE_MAX] = "", raw[PIECE_MAX] = "", ts[64] = "";
    struct template_values vals = { { NULL } };
    if (p->names)
        vals = *p->names;
    if (has_value(p) && eng_to_text(p->eng, decimals_of(p->pt), value, sizeof value) < 0)
        value[0] = '\0';
    if (p->r->quality != READING_BAD && value_to_text(&p->r->value, -1, raw, sizeof raw) < 0)
        raw[0] = '\0';
    if (payload_timestamp(pub->timestamp, &p->r->wall, ts, sizeof ts) < 0)
        ts[0] = '\0';
    template_values_set(&vals, TVAR_VALUE, value);
    template_values_set(&vals, TVAR_RAW, raw);
    template_values_set(&vals, TVAR_TIMESTAMP, ts);
    template_values_set(&vals, TVAR_QUALITY, reading_quality_name(p->r->quality));
    template_values_set(&vals, TVAR_ERROR,
                        p->r->quality == READING_GOOD ? "" : payload_error_text(p->r));
    const char *text = pub->template_text.text ? pub->template_text.text : "";
    size_t len = template_render(text, &vals, buf, n);
    return len >= n || len > INT_MAX ? -1 : (int)len;
}

int payload_render(const struct cfg_publish *pub, const struct payload_point *p, char *buf,
                   size_t n)
{
    switch (pub->payload) {
    case CFG_PAYLOAD_JSON: return render_json(pub, p, buf, n);
    case CFG_PAYLOAD_TEMPLATE: return render_template(pub, p, buf, n);
    default: return render_value(p, buf, n); /* grouped points alone: as value */
    }
}

/* ---- payload: grouped --------------------------------------------------- */

/* The members go into buf as `,"name":value` pieces from offset 0, and the
 * errors' likewise into the scratch area; payload_group_end moves them right
 * past `{"timestamp":T`, which is known only when the cycle ends, and closes
 * the object. A member that does not fit is taken back whole. */

void payload_group_begin(struct payload_group *g, char *buf, size_t cap, char *errors,
                         size_t errors_cap)
{
    *g = (struct payload_group){ .buf = buf, .cap = cap, .errors = errors,
                                 .errors_cap = errors_cap };
}

static void group_member(char *buf, size_t cap, size_t *len, bool *overflow, const char *name,
                         const struct eng_value *v, int decimals, const char *error)
{
    struct out o;
    if (*overflow)
        return;
    out_init(&o, buf, cap, *len);
    out_str(&o, ",");
    out_json_quote(&o, name);
    out_str(&o, ":");
    if (error)
        out_json_quote(&o, error);
    else if (v)
        out_eng_json(&o, v, decimals);
    else
        out_str(&o, "null");
    if (o.over)
        *overflow = true;
    else
        *len = o.len;
}

void payload_group_add(struct payload_group *g, const struct payload_point *p)
{
    const char *name = p->pt->name ? p->pt->name : "";
    if (p->r->quality == READING_BAD) {
        g->n_errors++;
        group_member(g->errors, g->errors_cap, &g->errors_len, &g->overflow, name, NULL, 0,
                     payload_error_text(p->r));
    } else {
        g->n_values++;
        group_member(g->buf, g->cap, &g->len, &g->overflow, name, p->eng,
                     decimals_of(p->pt), NULL);
    }
}

int payload_group_end(struct payload_group *g, const struct cfg_publish *pub,
                      const struct timespec *wall)
{
    static const char errors_open[] = ",\"errors\":{";
    char head[80];
    struct out h;
    out_init(&h, head, sizeof head, 0);
    out_str(&h, "{\"timestamp\":");
    out_timestamp_json(&h, pub->timestamp, wall);
    if (g->n_values + g->n_errors == 0) {
        if (g->cap)
            g->buf[0] = '\0';
        return 0;
    }
    size_t total = h.len + g->len + 1; /* the closing } */
    if (g->n_errors)
        total += sizeof errors_open - 1 + (g->errors_len - 1) + 1; /* skip the comma; add } */
    if (h.over || g->overflow || total >= g->cap || total > INT_MAX) {
        g->overflow = true;
        if (g->cap)
            g->buf[0] = '\0';
        return -1;
    }
    memmove(g->buf + h.len, g->buf, g->len);
    memcpy(g->buf, head, h.len);
    size_t at = h.len + g->len;
    if (g->n_errors) {
        memcpy(g->buf + at, errors_open, sizeof errors_open - 1);
        at += sizeof errors_open - 1;
        memcpy(g->buf + at, g->errors + 1, g->errors_len - 1);
        at += g->errors_len - 1;
        g->buf[at++] = '}';
    }
    g->buf[at++] = '}';
    g->buf[at] = '\0';
    g->len = at;
    return (int)at;
}
