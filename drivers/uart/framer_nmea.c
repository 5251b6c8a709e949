/* NMEA 0183 framer: finds "$...*HH" sentences in the stream, checks their XOR
 * checksum, and reads points by raw field index or by name (positions in
 * decimal degrees, speeds, fix data, time and date) from GGA, RMC, GLL, VTG. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/values.h"
#include "drivers/uart/checksum.h"
#include "drivers/uart/framer_internal.h"

enum nmea_state { NMEA_HUNT, NMEA_IN, NMEA_SKIP };

struct nmea_framer {
    struct framer base;
    enum nmea_state state;
    size_t len;
    uint8_t buf[FRAMER_NMEA_MAX_LENGTH];
};

/* ---- framing ------------------------------------------------------------ */

/* "$<body>*HH", HH the XOR of the body, in either case. */
static bool nmea_checksum_ok(const uint8_t *s, size_t len)
{
    if (len < 4 || s[len - 3] != '*')
        return false;
    int hh = checksum_hex_byte((const char *)s + len - 2);
    return hh >= 0 && checksum_xor8(s + 1, len - 4) == hh;
}

static void nmea_finish(struct nmea_framer *n, framer_record_fn *fn, void *ctx)
{
    if (!nmea_checksum_ok(n->buf, n->len)) {
        n->base.stats.bad_checksum++;
        return;
    }
    n->base.stats.records++;
    struct framer_record rec = { n->buf, n->len };
    fn(ctx, &rec);
}

static void nmea_start(struct nmea_framer *n)
{
    n->buf[0] = '$';
    n->len = 1;
    n->state = NMEA_IN;
}

static void nmea_byte(struct nmea_framer *n, uint8_t b, framer_record_fn *fn, void *ctx)
{
    bool eol = b == '\r' || b == '\n';
    switch (n->state) {
    case NMEA_HUNT:
        if (b == '$')
            nmea_start(n);
        else if (!eol)
            n->base.stats.garbage_bytes++;
        return;
    case NMEA_IN:
        if (eol) {
            nmea_finish(n, fn, ctx);
            n->state = NMEA_HUNT;
        } else if (b == '$') {
            n->base.stats.garbage_bytes += n->len;   /* a sentence cut short */
            nmea_start(n);
        } else if (n->len == sizeof(n->buf)) {
            n->base.stats.oversize++;
            n->state = NMEA_SKIP;
        } else {
            n->buf[n->len++] = b;
        }
        return;
    case NMEA_SKIP:
        if (b == '$')
            nmea_start(n);
        else if (eol)
            n->state = NMEA_HUNT;
        return;
    }
}

static void nmea_feed(struct framer *f, const uint8_t *data, size_t len, framer_record_fn *fn,
                      void *ctx)
{
    struct nmea_framer *n = (struct nmea_framer *)f;
    for (size_t i = 0; i < len; i++)
        nmea_byte(n, data[i], fn, ctx);
}

static void nmea_reset(struct framer *f)
{
    struct nmea_framer *n = (struct nmea_framer *)f;
    n->state = NMEA_HUNT;
    n->len = 0;
}

/* ---- named fields -------------------------------------------------------------- */

enum nmea_kind {
    KIND_INT,       /* integer */
    KIND_FLOAT,     /* number */
    KIND_TEXT,      /* as sent */
    KIND_LAT,       /* ddmm.mmmm, then N/S */
    KIND_LON,       /* dddmm.mmmm, then E/W */
    KIND_TIME,      /* hhmmss[.ss] */
    KIND_DATE,      /* ddmmyy */
    KIND_KNOTS_KMH, /* knots, reported in km/h */
};

struct nmea_field {
    const char *sentence;
    const char *name;
    int index;      /* 1-based, after the sentence id */
    enum nmea_kind kind;
};

/* The same names validate_points.c accepts, at their NMEA 0183 positions. */
static const struct nmea_field nmea_fields[] = {
    { "GGA", "time", 1, KIND_TIME },          { "GGA", "latitude", 2, KIND_LAT },
    { "GGA", "longitude", 4, KIND_LON },      { "GGA", "fix_quality", 6, KIND_INT },
    { "GGA", "satellites", 7, KIND_INT },     { "GGA", "hdop", 8, KIND_FLOAT },
    { "GGA", "altitude", 9, KIND_FLOAT },
    { "RMC", "time", 1, KIND_TIME },          { "RMC", "status", 2, KIND_TEXT },
    { "RMC", "latitude", 3, KIND_LAT },       { "RMC", "longitude", 5, KIND_LON },
    { "RMC", "speed_knots", 7, KIND_FLOAT },  { "RMC", "speed_kmh", 7, KIND_KNOTS_KMH },
    { "RMC", "course", 8, KIND_FLOAT },       { "RMC", "date", 9, KIND_DATE },
    { "GLL", "latitude", 1, KIND_LAT },       { "GLL", "longitude", 3, KIND_LON },
    { "GLL", "time", 5, KIND_TIME },          { "GLL", "status", 6, KIND_TEXT },
    { "VTG", "course", 1, KIND_FLOAT },       { "VTG", "speed_knots", 5, KIND_FLOAT },
    { "VTG", "speed_kmh", 7, KIND_FLOAT },
};

static const struct nmea_field *nmea_field_find(const char *sentence, const char *name)
{
    for (size_t i = 0; i < sizeof(nmea_fields) / sizeof(nmea_fields[0]); i++)
        if (strcasecmp(nmea_fields[i].sentence, sentence) == 0 &&
            strcmp(nmea_fields[i].name, name) == 0)
            return &nmea_fields[i];
    return NULL;
}

/* ---- sentence access ------------------------------------------------------------ */

/* A sentence's text between '$' and '*' (or the end). */
struct nmea_body {
    const char *s;
    size_t len;
};

static struct nmea_body nmea_body_of(const struct framer_record *rec)
{
    const char *s = (const char *)rec->data;
    size_t len = rec->len;
    if (len >= 3 && s[len - 3] == '*')
        len -= 3;
    if (len && s[0] == '$')
        return (struct nmea_body){ s + 1, len - 1 };
    return (struct nmea_body){ s, len };
}

/* $GNGGA matches GGA: a two-letter talker before the type is ignored. */
static bool nmea_matches(struct nmea_body b, const char *sentence)
{
    const char *comma = memchr(b.s, ',', b.len);
    size_t idlen = comma ? (size_t)(comma - b.s) : b.len;
    size_t slen = strlen(sentence);
    if (idlen == slen)
        return strncasecmp(b.s, sentence, slen) == 0;
    return idlen == slen + 2 && strncasecmp(b.s + 2, sentence, slen) == 0;
}

/* Field `index` (1-based after the id); false when the sentence is shorter. */
static bool nmea_field_text(struct nmea_body b, int64_t index, const char **text, size_t *len)
{
    const char *p = b.s, *end = b.s + b.len;
    for (int64_t i = 0; i < index; i++) {
        p = memchr(p, ',', (size_t)(end - p));
        if (!p)
            return false;
        p++;
    }
    const char *comma = memchr(p, ',', (size_t)(end - p));
    *text = p;
    *len = (size_t)((comma ? comma : end) - p);
    return true;
}

/* ---- field kinds ------------------------------------------------------------------ */

/* The field as a NUL-terminated string, at most 31 bytes. */
static bool field_copy(const char *text, size_t len, char *buf, size_t size)
{
    if (len >= size)
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    return true;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* ddmm.mmmm (or dddmm.mmmm) to degrees, parsing degrees and minutes apart so
 * no rounding creeps in. */
static int nmea_degrees(const char *text, size_t len, double max, double *out)
{
    char buf[32];
    const char *dot = memchr(text, '.', len);
    size_t whole = dot ? (size_t)(dot - text) : len;
    if (whole < 3 || !all_digits(text, whole) || !field_copy(text, len, buf, sizeof(buf)))
        return -1;
    double minutes;
    if (value_parse_double(buf + whole - 2, &minutes) || minutes >= 60)
        return -1;
    double degrees = 0;
    for (size_t i = 0; i < whole - 2; i++)
        degrees = degrees * 10 + (text[i] - '0');
    *out = degrees + minutes / 60.0;
    return *out > max ? -1 : 0;
}

static int nmea_position(struct nmea_body b, int index, bool lat, const struct cfg_point *pt,
                         struct value *out, char *why, size_t whylen)
{
    const char *text, *hemi;
    size_t len, hlen;
    nmea_field_text(b, index, &text, &len);
    double deg;
    if (nmea_degrees(text, len, lat ? 90 : 180, &deg))
        return framer_fail(why, whylen, "not a %s: '%.*s'", lat ? "latitude" : "longitude",
                           (int)(len > 32 ? 32 : len), text);
    const char *signs = lat ? "NS" : "EW";
    if (!nmea_field_text(b, index + 1, &hemi, &hlen) || hlen != 1 || !strchr(signs, hemi[0]))
        return framer_fail(why, whylen, "%s without %c/%c", lat ? "latitude" : "longitude",
                           signs[0], signs[1]);
    return framer_number_value(hemi[0] == signs[1] ? -deg : deg, pt, out, why, whylen);
}

static int nmea_time(const char *text, size_t len, const struct cfg_point *pt, struct value *out,
                     char *why, size_t whylen)
{
    char s[40];
    bool ok = len >= 6 && len < 20 && all_digits(text, 6) &&
              (len == 6 || (text[6] == '.' && all_digits(text + 7, len - 7)));
    int hh = ok ? (text[0] - '0') * 10 + text[1] - '0' : 0;
    int mm = ok ? (text[2] - '0') * 10 + text[3] - '0' : 0;
    int ss = ok ? (text[4] - '0') * 10 + text[5] - '0' : 0;
    if (!ok || hh > 23 || mm > 59 || ss > 60)
        return framer_fail(why, whylen, "not a time: '%.*s'", (int)(len > 32 ? 32 : len), text);
    snprintf(s, sizeof(s), "%02d:%02d:%02d%.*s", hh, mm, ss, (int)(len - 6), text + 6);
    return framer_string_value(s, pt, out, why, whylen);
}

static int nmea_date(const char *text, size_t len, const struct cfg_point *pt, struct value *out,
                     char *why, size_t whylen)
{
    char s[16];
    bool ok = len == 6 && all_digits(text, 6);
    int dd = ok ? (text[0] - '0') * 10 + text[1] - '0' : 0;
    int mo = ok ? (text[2] - '0') * 10 + text[3] - '0' : 0;
    int yy = ok ? (text[4] - '0') * 10 + text[5] - '0' : 0;
    if (!ok || dd < 1 || dd > 31 || mo < 1 || mo > 12)
        return framer_fail(why, whylen, "not a date: '%.*s'", (int)(len > 32 ? 32 : len), text);
    snprintf(s, sizeof(s), "%04d-%02d-%02d", yy < 80 ? 2000 + yy : 1900 + yy, mo, dd);
    return framer_string_value(s, pt, out, why, whylen);
}

/* A plain number field: its natural kind without `type`, the text rules with. */
static int nmea_number(const char *text, size_t len, enum nmea_kind kind,
                       const struct cfg_point *pt, struct value *out, char *why, size_t whylen)
{
    if (framer_point_typed(pt) && kind != KIND_KNOTS_KMH)
        return framer_text_value(text, len, pt, out, why, whylen);
    char s[32];
    int64_t i;
    double d;
    bool copied = field_copy(text, len, s, sizeof(s));
    if (kind == KIND_INT && copied && value_parse_int(s, &i) == 0) {
        memset(out, 0, offsetof(struct value, bytes));
        out->kind = VALUE_INT;
        out->as.i = i;
        return FRAMER_VALUE;
    }
    if (kind != KIND_INT && copied && value_parse_double(s, &d) == 0)
        return framer_number_value(kind == KIND_KNOTS_KMH ? d * 1.852 : d, pt, out, why, whylen);
    return framer_fail(why, whylen, "not %s: '%.*s'", kind == KIND_INT ? "an integer" : "a number",
                       (int)(len > 32 ? 32 : len), text);
}

static int nmea_named(struct nmea_body b, const struct nmea_field *nf, const struct cfg_point *pt,
                      struct value *out, char *why, size_t whylen)
{
    const char *text;
    size_t len;
    if (!nmea_field_text(b, nf->index, &text, &len))
        return framer_fail(why, whylen, "field %d (%s) missing", nf->index, nf->name);
    const char *trimmed = text;
    size_t tlen = len;
    framer_trim(&trimmed, &tlen);
    if (tlen == 0)
        return FRAMER_ABSENT;   /* no fix yet, or a field the receiver leaves out */
    switch (nf->kind) {
    case KIND_LAT: return nmea_position(b, nf->index, true, pt, out, why, whylen);
    case KIND_LON: return nmea_position(b, nf->index, false, pt, out, why, whylen);
    case KIND_TIME: return nmea_time(trimmed, tlen, pt, out, why, whylen);
    case KIND_DATE: return nmea_date(trimmed, tlen, pt, out, why, whylen);
    case KIND_TEXT: return framer_text_value(trimmed, tlen, pt, out, why, whylen);
    default: return nmea_number(trimmed, tlen, nf->kind, pt, out, why, whylen);
    }
}

static int nmea_extract(const struct framer *f, const struct framer_record *rec,
                        const struct cfg_point *pt, struct value *out, char *why, size_t whylen)
{
    (void)f;
    struct nmea_body b = nmea_body_of(rec);
    if (!pt->sentence || !nmea_matches(b, pt->sentence))
        return FRAMER_ABSENT;
    if (pt->field) {
        const struct nmea_field *nf = nmea_field_find(pt->sentence, pt->field);
        if (!nf)
            return framer_fail(why, whylen, "no field '%s' in %s sentences", pt->field,
                               pt->sentence);
        return nmea_named(b, nf, pt, out, why, whylen);
    }
    const char *text;
    size_t len;
    if (!nmea_field_text(b, pt->index, &text, &len))
        return framer_fail(why, whylen, "field %lld missing", (long long)pt->index);
    return framer_text_value(text, len, pt, out, why, whylen);
}

/* ---- construction ------------------------------------------------------------------ */

static void nmea_destroy(struct framer *f)
{
    (void)f;
}

static const struct framer_ops nmea_ops = {
    .feed = nmea_feed,
    .reset = nmea_reset,
    .extract = nmea_extract,
    .destroy = nmea_destroy,
};

int framer_nmea_new(const struct cfg_device *dev, struct framer **out, char *err, size_t errlen)
{
    for (size_t i = 0; i < dev->n_points; i++) {
        const struct cfg_point *pt = &dev->points[i];
        if (pt->field && pt->sentence && !nmea_field_find(pt->sentence, pt->field))
            return framer_new_fail(err, errlen, "point '%s': no field '%s' in %s sentences",
                                   pt->name ? pt->name : "?", pt->field, pt->sentence);
    }
    struct nmea_framer *n = calloc(1, sizeof(*n));
    if (!n)
        return framer_new_fail(err, errlen, "out of memory");
    n->base.ops = &nmea_ops;
    n->state = NMEA_HUNT;
    *out = &n->base;
    return 0;
}
