/* Text-line framer: cuts the stream at a (possibly multi-byte) delimiter,
 * skips and counts lines over max_length, and reads points from a line as a
 * whole value, regex capture groups, CSV columns or key/value pairs. */
#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/uart/framer_internal.h"

/* Longest delimiter after decoding escapes. */
#define DELIM_MAX 16

struct line_framer {
    struct framer base;
    uint8_t delim[DELIM_MAX];
    size_t dlen;
    bool strip_cr;          /* the delimiter ends in '\n': drop a '\r' before it */
    size_t max_length;      /* of a line without its delimiter */
    int format;             /* enum cfg_line_format */
    bool has_re;
    regex_t re;
    char *separator;
    char *kv_separator;
    char *scratch;          /* NUL-terminated copy of a line for regexec: cap + 1 bytes */
    bool skipping;          /* inside an over-long line, waiting for its delimiter */
    size_t len;
    size_t cap;
    uint8_t buf[];
};

static const struct line_framer *const_line(const struct framer *f)
{
    return (const struct line_framer *)f;
}

/* ---- framing ------------------------------------------------------------ */

static void line_emit(struct line_framer *l, framer_record_fn *fn, void *ctx)
{
    size_t n = l->len - l->dlen;
    if (l->strip_cr && n && l->buf[n - 1] == '\r')
        n--;
    if (n > l->max_length) {
        l->base.stats.oversize++;
        return;
    }
    if (n == 0)
        return;   /* blank lines (CRLF pairs, keep-alives) carry nothing */
    l->base.stats.records++;
    struct framer_record rec = { l->buf, n };
    fn(ctx, &rec);
}

/* The buffer is full and holds no delimiter: the line is too long. Keep the
 * last dlen - 1 bytes, which may be the start of the delimiter. */
static void line_overflow(struct line_framer *l)
{
    if (!l->skipping)
        l->base.stats.oversize++;
    l->skipping = true;
    size_t keep = l->dlen - 1;
    memmove(l->buf, l->buf + l->len - keep, keep);
    l->len = keep;
}

static void line_feed(struct framer *f, const uint8_t *data, size_t n, framer_record_fn *fn,
                      void *ctx)
{
    struct line_framer *l = (struct line_framer *)f;
    uint8_t last = l->delim[l->dlen - 1];
    for (size_t i = 0; i < n; i++) {
        if (l->len == l->cap)
            line_overflow(l);
        l->buf[l->len++] = data[i];
        if (data[i] != last || l->len < l->dlen ||
            memcmp(l->buf + l->len - l->dlen, l->delim, l->dlen) != 0)
            continue;
        if (!l->skipping)
            line_emit(l, fn, ctx);
        l->skipping = false;
        l->len = 0;
    }
}

static void line_reset(struct framer *f)
{
    struct line_framer *l = (struct line_framer *)f;
    l->len = 0;
    l->skipping = false;
}

/* ---- extraction ------------------------------------------------------------ */

static int line_regex(const struct line_framer *l, const struct framer_record *rec,
                      const struct cfg_point *pt, struct value *out, char *why, size_t whylen)
{
    if (rec->len >= l->cap)
        return framer_fail(why, whylen, "line too long: %zu bytes", rec->len);
    memcpy(l->scratch, rec->data, rec->len);
    l->scratch[rec->len] = '\0';
    regmatch_t m[10];
    size_t group = (size_t)pt->group;
    if (group >= sizeof(m) / sizeof(m[0]) || group > l->re.re_nsub)
        return framer_fail(why, whylen, "regex has no group %zu", group);
    if (regexec(&l->re, l->scratch, group + 1, m, 0) != 0)
        return framer_fail(why, whylen, "regex did not match");
    if (m[group].rm_so < 0)
        return FRAMER_ABSENT;
    return framer_text_value(l->scratch + m[group].rm_so,
                             (size_t)(m[group].rm_eo - m[group].rm_so), pt, out, why, whylen);
}

/* The next field of `text` at *pos, up to `sep` or the end; false past the end. */
static bool next_field(const char *text, size_t len, const char *sep, size_t *pos,
                       const char **field, size_t *flen)
{
    if (*pos > len)
        return false;
    size_t seplen = strlen(sep);
    const char *start = text + *pos;
    const char *hit = memmem(start, len - *pos, sep, seplen);
    *field = start;
    *flen = hit ? (size_t)(hit - start) : len - *pos;
    *pos += *flen + (hit ? seplen : 1);   /* past the end after the last field */
    return true;
}

static int line_csv(const struct line_framer *l, const struct framer_record *rec,
                    const struct cfg_point *pt, struct value *out, char *why, size_t whylen)
{
    const char *text = (const char *)rec->data;
    size_t pos = 0, flen = 0;
    const char *field = NULL;
    int64_t col = 0;
    for (; next_field(text, rec->len, l->separator, &pos, &field, &flen); col++)
        if (col == pt->column)
            return framer_text_value(field, flen, pt, out, why, whylen);
    return framer_fail(why, whylen, "column %lld missing (the line has %lld)",
                       (long long)pt->column, (long long)col);
}

static int line_kv(const struct line_framer *l, const struct framer_record *rec,
                   const struct cfg_point *pt, struct value *out, char *why, size_t whylen)
{
    if (!pt->key)
        return framer_fail(why, whylen, "point has no 'key'");
    const char *text = (const char *)rec->data;
    size_t keylen = strlen(pt->key), kvlen = strlen(l->kv_separator);
    size_t pos = 0, flen = 0;
    const char *pair = NULL;
    while (next_field(text, rec->len, l->separator, &pos, &pair, &flen)) {
        const char *eq = memmem(pair, flen, l->kv_separator, kvlen);
        if (!eq)
            continue;
        const char *key = pair;
        size_t klen = (size_t)(eq - pair);
        framer_trim(&key, &klen);
        if (klen == keylen && memcmp(key, pt->key, keylen) == 0)
            return framer_text_value(eq + kvlen, (size_t)(pair + flen - (eq + kvlen)), pt, out,
                                     why, whylen);
    }
    return FRAMER_ABSENT;
}

static int line_extract(const struct framer *f, const struct framer_record *rec,
                        const struct cfg_point *pt, struct value *out, char *why, size_t whylen)
{
    const struct line_framer *l = const_line(f);
    switch (l->format) {
    case CFG_LINE_REGEX: return line_regex(l, rec, pt, out, why, whylen);
    case CFG_LINE_CSV: return line_csv(l, rec, pt, out, why, whylen);
    case CFG_LINE_KV: return line_kv(l, rec, pt, out, why, whylen);
    default: return framer_text_value((const char *)rec->data, rec->len, pt, out, why, whylen);
    }
}

/* ---- construction ------------------------------------------------------------ */

static void line_destroy(struct framer *f)
{
    struct line_framer *l = (struct line_framer *)f;
    if (l->has_re)
        regfree(&l->re);
    free(l->separator);
    free(l->kv_separator);
    free(l->scratch);
}

static const struct framer_ops line_ops = {
    .feed = line_feed,
    .reset = line_reset,
    .extract = line_extract,
    .destroy = line_destroy,
};

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One escape at s (just after a backslash): its byte, and how many
 * characters it used; -1 when it is not one we know (kept as written). */
static int decode_escape(const char *s, size_t *used)
{
    static const char plain[] = "nrt\\", bytes[] = "\n\r\t\\";
    const char *p = *s ? strchr(plain, *s) : NULL;
    *used = 1;
    if (p)
        return (unsigned char)bytes[p - plain];
    if (*s == 'x' && hex_digit(s[1]) >= 0 && hex_digit(s[2]) >= 0) {
        *used = 3;
        return hex_digit(s[1]) << 4 | hex_digit(s[2]);
    }
    return -1;
}

/* The config keeps the delimiter as written ("\\n" is two characters);
 * YAML's own escapes in double quotes may already have made it a byte. */
static int decode_delimiter(const char *s, uint8_t *out, size_t *n)
{
    *n = 0;
    while (*s) {
        int byte = (unsigned char)*s;
        size_t used = 1;
        if (*s == '\\') {
            int e = decode_escape(s + 1, &used);
            byte = e >= 0 ? e : '\\';
            used = e >= 0 ? used + 1 : 1;
        }
        if (*n == DELIM_MAX)
            return -1;
        out[(*n)++] = (uint8_t)byte;
        s += used;
    }
    return *n ? 0 : -1;
}

static int line_check_points(const struct line_framer *l, const struct cfg_device *dev,
                             char *err, size_t errlen)
{
    for (size_t i = 0; l->has_re && i < dev->n_points; i++) {
        const struct cfg_point *pt = &dev->points[i];
        if (pt->group < 0 || (size_t)pt->group > l->re.re_nsub)
            return framer_new_fail(err, errlen, "point '%s': group %lld, but the regex has %zu",
                                   pt->name ? pt->name : "?", (long long)pt->group,
                                   l->re.re_nsub);
    }
    return 0;
}

static int line_setup(struct line_framer *l, const struct cfg_line_framing *cfg, char *err,
                      size_t errlen)
{
    l->separator = strdup(cfg->separator ? cfg->separator : ",");
    l->kv_separator = strdup(cfg->kv_separator ? cfg->kv_separator : "=");
    l->scratch = malloc(l->cap + 1);
    if (!l->separator || !l->kv_separator || !l->scratch)
        return framer_new_fail(err, errlen, "out of memory");
    if (!l->separator[0] || !l->kv_separator[0])
        return framer_new_fail(err, errlen, "empty separator");
    if (l->format != CFG_LINE_REGEX)
        return 0;
    int rc = regcomp(&l->re, cfg->regex ? cfg->regex : "", REG_EXTENDED);
    if (rc) {
        char msg[128];
        regerror(rc, &l->re, msg, sizeof(msg));
        return framer_new_fail(err, errlen, "regex does not compile: %s", msg);
    }
    l->has_re = true;
    return 0;
}

int framer_line_new(const struct cfg_device *dev, struct framer **out, char *err, size_t errlen)
{
    const struct cfg_line_framing *cfg = &dev->line;
    uint8_t delim[DELIM_MAX];
    size_t dlen;
    if (decode_delimiter(cfg->delimiter ? cfg->delimiter : "\\n", delim, &dlen))
        return framer_new_fail(err, errlen, "delimiter is empty or longer than %d bytes",
                               DELIM_MAX);
    size_t max_length = cfg->max_length ? (size_t)cfg->max_length : 256;
    /* Exactly the longest good line, a '\r' and the delimiter fit: anything
     * that fills the buffer without a delimiter is too long. */
    size_t cap = max_length + 1 + dlen;
    struct line_framer *l = calloc(1, sizeof(*l) + cap);
    if (!l)
        return framer_new_fail(err, errlen, "out of memory");
    l->base.ops = &line_ops;
    memcpy(l->delim, delim, dlen);
    l->dlen = dlen;
    l->strip_cr = delim[dlen - 1] == '\n';
    l->max_length = max_length;
    l->format = cfg->format;
    l->cap = cap;
    if (line_setup(l, cfg, err, errlen) || line_check_points(l, dev, err, errlen)) {
        line_destroy(&l->base);
        free(l);
        return -1;
    }
    *out = &l->base;
    return 0;
}
