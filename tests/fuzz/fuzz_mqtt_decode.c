/* Fuzz target: the MQTT codec (gateway/mqtt). The first byte picks the
 * protocol version (bit 0: 3.1.1 or 5), a packet size limit (bits 1-3) and a
 * property context (bits 4-7); the rest is read three ways: as a stream of
 * packets (each decoded from an exact-size copy, its prefixes must ask for
 * more, and what decodes must re-encode to bytes that decode to the same),
 * as one property block, and as "filter NUL topic" for the UTF-8, topic and
 * varint rules, checked against small reference implementations here. */
#include <stdbool.h>
#include <string.h>

#include "gateway/mqtt/mqtt.h"
#include "gateway/mqtt/topic.h"
#include "tests/fuzz/fuzz.h"

/* ---- reference rules (MQTT 5 §1.5.4, §1.5.5, §4.7, §4.8.2) ----------------- */

static bool ref_utf8(const uint8_t *s, size_t n)
{
    static const uint32_t min_of[4] = { 0, 0x80, 0x800, 0x10000 };
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i];
        size_t k;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            k = 1, c &= 0x1F;
        else if ((c & 0xF0) == 0xE0)
            k = 2, c &= 0x0F;
        else if ((c & 0xF8) == 0xF0)
            k = 3, c &= 0x07;
        else
            return false;
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            c = c << 6 | (s[i + j] & 0x3F);
        }
        if (c < min_of[k] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

static size_t level_end(const char *s, size_t len, size_t from)
{
    while (from < len && s[from] != '/')
        from++;
    return from;
}

static bool ref_topic_name_valid(const char *t, size_t len)
{
    return len >= 1 && len <= MQTT_MAX_STRING && ref_utf8((const uint8_t *)t, len) &&
           !memchr(t, '+', len) && !memchr(t, '#', len);
}

static bool ref_filter_valid(const char *f, size_t len)
{
    if (len < 1 || len > MQTT_MAX_STRING || !ref_utf8((const uint8_t *)f, len))
        return false;
    for (size_t i = 0;; i++) {
        size_t e = level_end(f, len, i), n = e - i;
        bool plus = memchr(f + i, '+', n) != NULL, hash = memchr(f + i, '#', n) != NULL;
        if ((plus || hash) && n != 1)
            return false;
        if (hash && e != len)
            return false;
        if (e == len)
            return true;
        i = e;
    }
}

static bool ref_matches(const char *f, size_t fl, const char *t, size_t tl)
{
    if (tl > 0 && t[0] == '$' && fl > 0 && (f[0] == '+' || f[0] == '#'))
        return false;
    size_t fi = 0, ti = 0;
    bool topic_done = false;
    for (;;) {
        size_t fe = level_end(f, fl, fi);
        if (fe - fi == 1 && f[fi] == '#')
            return true; /* the parent level and everything below */
        if (topic_done)
            return false;
        size_t te = level_end(t, tl, ti);
        bool plus = fe - fi == 1 && f[fi] == '+';
        if (!plus && (fe - fi != te - ti || memcmp(f + fi, t + ti, fe - fi) != 0))
            return false;
        if (fe == fl)
            return te == tl;
        if (te == tl)
            topic_done = true;
        fi = fe + 1;
        ti = te + 1;
    }
}

/* "$share/{group}/{filter}": NONE, INVALID or OK with the parts. */
static enum mqtt_share_kind ref_share(const char *f, size_t len, struct mqtt_share *out)
{
    static const char prefix[] = "$share/";
    size_t pl = sizeof(prefix) - 1;
    if (len < pl || memcmp(f, prefix, pl) != 0)
        return MQTT_SHARE_NONE;
    const char *slash = memchr(f + pl, '/', len - pl);
    if (!slash)
        return MQTT_SHARE_INVALID;
    size_t glen = (size_t)(slash - (f + pl));
    if (glen == 0 || memchr(f + pl, '+', glen) || memchr(f + pl, '#', glen))
        return MQTT_SHARE_INVALID;
    size_t rest = len - pl - glen - 1;
    if (rest == 0 || !ref_filter_valid(slash + 1, rest))
        return MQTT_SHARE_INVALID;
    *out = (struct mqtt_share){ f + pl, glen, slash + 1, rest };
    return MQTT_SHARE_OK;
}

/* 1..4 bytes used, 0 for more, -1 for malformed; the value in *v. */
static int ref_varint(const uint8_t *b, size_t len, uint32_t *v)
{
    *v = 0;
    for (size_t i = 0; i < 4; i++) {
        if (i >= len)
            return 0;
        *v |= (uint32_t)(b[i] & 0x7F) << (7 * i);
        if (!(b[i] & 0x80))
            return i > 0 && b[i] == 0 ? -1 : (int)i + 1;
    }
    return -1;
}

/* ---- strings, topics and varints against the references --------------------- */

static void check_share(const char *f, size_t len)
{
    struct mqtt_share got, want;
    enum mqtt_share_kind k = mqtt_share_parse(f, len, &got);
    enum mqtt_share_kind rk = ref_share(f, len, &want);
    FUZZ_CHECK(k == rk);
    if (k == MQTT_SHARE_OK) {
        FUZZ_CHECK(got.group == want.group && got.group_len == want.group_len);
        FUZZ_CHECK(got.filter == want.filter && got.filter_len == want.filter_len);
    }
}

/* The text as "filter NUL topic" (NUL cannot be in either). */
static void check_strings(const uint8_t *s, size_t n)
{
    FUZZ_CHECK(mqtt_utf8_valid(s, n, NULL) == ref_utf8(s, n));
    const uint8_t *nul = memchr(s, 0, n);
    const char *f = (const char *)s, *t = nul ? (const char *)nul + 1 : f;
    size_t fl = nul ? (size_t)(nul - s) : n, tl = nul ? n - fl - 1 : n;
    bool fvalid = mqtt_topic_filter_valid(f, fl), tvalid = mqtt_topic_name_valid(t, tl);
    FUZZ_CHECK(fvalid == ref_filter_valid(f, fl));
    FUZZ_CHECK(tvalid == ref_topic_name_valid(t, tl));
    if (ref_utf8((const uint8_t *)f, fl))
        check_share(f, fl);
    struct mqtt_share sh;
    if (!fvalid || !tvalid || mqtt_share_parse(f, fl, &sh) != MQTT_SHARE_NONE)
        return;
    FUZZ_CHECK(mqtt_topic_matches(f, fl, t, tl) == ref_matches(f, fl, t, tl));
}

static void check_varint(const uint8_t *s, size_t n)
{
    uint32_t v = 0, rv;
    const char *why = NULL;
    int rc = mqtt_varint_decode(s, n, &v, &why);
    int ref = ref_varint(s, n, &rv);
    FUZZ_CHECK(ref < 0 ? rc == -MQTT_RC_MALFORMED_PACKET && why : rc == ref);
    if (rc <= 0)
        return;
    FUZZ_CHECK(v == rv && mqtt_varint_size(v) == (size_t)rc);
    uint8_t out[4];
    FUZZ_CHECK(mqtt_varint_encode(out, sizeof(out), v) == (size_t)rc);
    FUZZ_CHECK(memcmp(out, s, (size_t)rc) == 0);
}

/* ---- decoded packets ---------------------------------------------------------- */

/* Every property of a decoded block reads back, allowed where it is. */
static void walk_props(const struct mqtt_props *p, unsigned ctx)
{
    struct mqtt_prop_iter it;
    struct mqtt_prop prop;
    uint32_t users = 0, sub_ids = 0;
    mqtt_prop_iter_init(&it, p);
    while (mqtt_prop_next(&it, &prop)) {
        FUZZ_CHECK(mqtt_prop_name(prop.id) != NULL && mqtt_prop_allowed(prop.id, ctx));
        users += prop.id == MQTT_PROP_USER_PROPERTY;
        sub_ids += prop.id == MQTT_PROP_SUBSCRIPTION_ID;
    }
    FUZZ_CHECK(users == p->n_user);
    FUZZ_CHECK(sub_ids == p->n_sub_ids);
    FUZZ_CHECK(sub_ids == 0 || p->subscription_id >= 1);
    struct mqtt_user_prop u;
    mqtt_prop_iter_init(&it, p);
    for (uint32_t i = 0; i < users; i++) {
        FUZZ_CHECK(mqtt_prop_next_user(&it, &u));
        FUZZ_CHECK(mqtt_utf8_valid(u.name.data, u.name.len, NULL));
        FUZZ_CHECK(mqtt_utf8_valid(u.value.data, u.value.len, NULL));
    }
    FUZZ_CHECK(!mqtt_prop_next_user(&it, &u));
}

static void walk_filters(struct mqtt_bytes raw, uint32_t count, bool subscribe)
{
    struct mqtt_list_iter it;
    struct mqtt_sub_entry e;
    struct mqtt_bytes f;
    uint32_t n = 0;
    mqtt_list_iter_init(&it, raw);
    while (subscribe ? mqtt_sub_next(&it, &e) : mqtt_unsub_next(&it, &f)) {
        if (subscribe)
            f = e.filter;
        FUZZ_CHECK(ref_filter_valid((const char *)f.data, f.len));
        FUZZ_CHECK(!subscribe || (e.qos <= 2 && e.retain_handling <= 2));
        n++;
    }
    FUZZ_CHECK(n == count);
}

static void walk_packet(const struct mqtt_packet *p, int version)
{
    const struct mqtt_connect *c = &p->u.connect;
    const struct mqtt_publish *pub = &p->u.publish;
    switch (p->type) {
    case MQTT_CONNECT:
        FUZZ_CHECK(c->version == MQTT_V311 || c->version == MQTT_V5);
        FUZZ_CHECK(mqtt_utf8_valid(c->client_id.data, c->client_id.len, NULL));
        FUZZ_CHECK(!c->will || ref_topic_name_valid((const char *)c->will_topic.data,
                                                    c->will_topic.len));
        walk_props(&c->props, MQTT_CONNECT);
        walk_props(&c->will_props, MQTT_CTX_WILL);
        break;
    case MQTT_CONNACK: walk_props(&p->u.connack.props, MQTT_CONNACK); break;
    case MQTT_PUBLISH:
        FUZZ_CHECK(pub->qos <= 2 && (pub->qos == 0) == (pub->packet_id == 0));
        FUZZ_CHECK(pub->topic.len == 0 ? version == MQTT_V5
                                       : ref_topic_name_valid((const char *)pub->topic.data,
                                                              pub->topic.len));
        walk_props(&pub->props, MQTT_PUBLISH);
        break;
    case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP:
        FUZZ_CHECK(p->u.ack.packet_id != 0);
        walk_props(&p->u.ack.props, p->type);
        break;
    case MQTT_SUBSCRIBE:
        walk_props(&p->u.subscribe.props, MQTT_SUBSCRIBE);
        walk_filters(p->u.subscribe.raw, p->u.subscribe.count, true);
        break;
    case MQTT_UNSUBSCRIBE:
        walk_props(&p->u.unsubscribe.props, MQTT_UNSUBSCRIBE);
        walk_filters(p->u.unsubscribe.raw, p->u.unsubscribe.count, false);
        break;
    case MQTT_SUBACK: case MQTT_UNSUBACK: walk_props(&p->u.suback.props, p->type); break;
    case MQTT_DISCONNECT: case MQTT_AUTH: walk_props(&p->u.disconnect.props, p->type); break;
    default: break;
    }
}

static bool bytes_eq(struct mqtt_bytes a, struct mqtt_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

/* What a re-decoded packet must have kept of the original. */
static void check_same(const struct mqtt_packet *a, const struct mqtt_packet *b)
{
    FUZZ_CHECK(a->type == b->type);
    if (a->type == MQTT_PUBLISH) {
        const struct mqtt_publish *x = &a->u.publish, *y = &b->u.publish;
        FUZZ_CHECK(x->qos == y->qos && x->dup == y->dup && x->retain == y->retain);
        FUZZ_CHECK(x->packet_id == y->packet_id && bytes_eq(x->topic, y->topic));
        FUZZ_CHECK(bytes_eq(x->payload, y->payload) && x->props.present == y->props.present);
    } else if (a->type == MQTT_CONNECT) {
        const struct mqtt_connect *x = &a->u.connect, *y = &b->u.connect;
        FUZZ_CHECK(x->version == y->version && x->clean_start == y->clean_start);
        FUZZ_CHECK(x->keep_alive == y->keep_alive && bytes_eq(x->client_id, y->client_id));
        FUZZ_CHECK(x->will == y->will && bytes_eq(x->will_topic, y->will_topic));
        FUZZ_CHECK(bytes_eq(x->will_payload, y->will_payload) && bytes_eq(x->password, y->password));
    }
}

/* Encode the decoded packet: it must fit exactly the size it announces,
 * write nothing into a buffer one byte short, decode again, and encode to
 * the same bytes. */
static void check_roundtrip(const struct mqtt_packet *p, int version)
{
    size_t n = mqtt_encode(NULL, 0, p, version);
    FUZZ_CHECK(n >= 2);
    uint8_t *buf = malloc(n), *again = malloc(n), *shorter = malloc(n - 1);
    FUZZ_CHECK(buf && again && shorter);
    memset(shorter, 0xA5, n - 1);
    FUZZ_CHECK(mqtt_encode(shorter, n - 1, p, version) == n);
    for (size_t i = 0; i < n - 1; i++)
        FUZZ_CHECK(shorter[i] == 0xA5);
    FUZZ_CHECK(mqtt_encode(buf, n, p, version) == n);
    struct mqtt_packet q;
    const char *why = NULL;
    int rc = mqtt_decode(buf, n, version, 0, &q, &why);
    if (rc != (int)n)
        fprintf(stderr, "re-decode of %s: %d (%s)\n", mqtt_packet_name(p->type), rc, why ? why : "");
    FUZZ_CHECK(rc == (int)n);
    check_same(p, &q);
    FUZZ_CHECK(mqtt_encode(again, n, &q, version) == n);
    FUZZ_CHECK(memcmp(buf, again, n) == 0);
    free(buf);
    free(again);
    free(shorter);
}

/* A copy of exactly n bytes, so reading past them is an ASan error. */
static uint8_t *exact_copy(const uint8_t *s, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    FUZZ_CHECK(c != NULL);
    if (n)
        memcpy(c, s, n);
    return c;
}

/* Any proper prefix of a packet that decodes asks for more bytes. */
static void check_prefix(const uint8_t *pkt, size_t k, int version, uint32_t max)
{
    uint8_t *c = exact_copy(pkt, k);
    struct mqtt_packet p;
    FUZZ_CHECK(mqtt_decode(c, k, version, max, &p, NULL) == 0);
    free(c);
}

/* One complete packet (by its fixed header) of `size` bytes. */
static void check_packet(const uint8_t *s, size_t size, size_t header_len, int version,
                         uint32_t max)
{
    uint8_t *c = exact_copy(s, size);
    struct mqtt_packet p;
    const char *why = NULL;
    int rc = mqtt_decode(c, size, version, max, &p, &why);
    FUZZ_CHECK(rc < 0 || rc == (int)size);
    if (rc < 0) {
        FUZZ_CHECK(why != NULL && strcmp(mqtt_reason_name((unsigned)-rc), "unknown reason code"));
    } else {
        walk_packet(&p, version);
        check_roundtrip(&p, p.type == MQTT_CONNECT ? p.u.connect.version : version);
        check_prefix(s, 1, version, max);
        if (header_len < size)
            check_prefix(s, header_len, version, max);
        check_prefix(s, size - 1, version, max);
    }
    free(c);
}

/* Packets one after the other, as a connection would read them. */
static void check_stream(const uint8_t *s, size_t n, int version, uint32_t max)
{
    size_t off = 0;
    while (off < n) {
        struct mqtt_fixed_header h;
        const char *why = NULL;
        int rc = mqtt_decode_fixed_header(s + off, n - off, max, &h, &why);
        if (rc < 0)
            FUZZ_CHECK(why != NULL);
        if (rc <= 0)
            return;
        FUZZ_CHECK(rc == h.header_len && h.header_len >= 2 && h.header_len <= MQTT_MAX_HEADER);
        size_t size = h.header_len + (size_t)h.remaining;
        if (size > n - off) {
            check_prefix(s + off, n - off, version, max); /* a torn last packet */
            return;
        }
        check_packet(s + off, size, h.header_len, version, max);
        off += size;
    }
}

/* The input as one property block of context `ctx`, re-encoded when valid. */
static void check_props(const uint8_t *s, size_t n, unsigned ctx)
{
    uint8_t *c = exact_copy(s, n);
    struct mqtt_props p;
    const char *why = NULL;
    int rc = mqtt_props_decode(c, n, ctx, &p, &why);
    FUZZ_CHECK(rc < 0 ? why != NULL : rc >= 1 && (size_t)rc <= n);
    if (rc > 0) {
        walk_props(&p, ctx);
        size_t size = mqtt_props_size(&p, ctx);
        FUZZ_CHECK(size >= 1);
        uint8_t *enc = malloc(size);
        FUZZ_CHECK(enc && mqtt_props_encode(enc, size, &p, ctx) == size);
        struct mqtt_props q;
        FUZZ_CHECK(mqtt_props_decode(enc, size, ctx, &q, &why) == (int)size);
        FUZZ_CHECK(q.present == p.present && q.n_user == p.n_user && q.n_sub_ids == p.n_sub_ids);
        free(enc);
    }
    free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int version = (data[0] & 1) ? MQTT_V5 : MQTT_V311;
    unsigned limit = (data[0] >> 1) & 7;
    uint32_t max = limit ? 16u << (2 * limit) : 0; /* 64 B .. 256 KiB, or none */
    const uint8_t *s = data + 1;
    size_t n = size - 1;
    check_stream(s, n, version, max);
    check_props(s, n, data[0] >> 4);
    check_strings(s, n);
    check_varint(s, n);
    return 0;
}
