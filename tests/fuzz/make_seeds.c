/* Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/):
 * real packets from the MQTT codec's encoders, broker sessions of several
 * clients, the example configurations, NMEA sentences and sensor frames
 * with their checksums computed, and spool segments written by the spool
 * itself. Run by `make fuzz-seeds` (the files are committed); the same
 * program gives the same files.
 *   make_seeds CORPUS_DIR */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/spool.h"
#include "config/config.h"
#include "drivers/uart/checksum.h"
#include "gateway/log.h"
#include "gateway/mqtt/mqtt.h"

#define SEED_MAX (256 * 1024)
#define BIT(p) MQTT_PROP_BIT(MQTT_PROP_##p)

static const char *corpus;
static int written;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "make_seeds: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* ---- seed buffers ------------------------------------------------------------ */

struct seed {
    uint8_t *buf;
    size_t len;
};

static struct seed seed_new(void)
{
    struct seed s = { malloc(SEED_MAX), 0 };
    if (!s.buf)
        die("out of memory");
    return s;
}

static void put(struct seed *s, const void *p, size_t n)
{
    if (s->len + n > SEED_MAX)
        die("seed too large");
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

static void put_u8(struct seed *s, uint8_t b)
{
    put(s, &b, 1);
}

static void mkdirs(const char *target)
{
    char path[512];
    snprintf(path, sizeof(path), "%s", corpus);
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        die("mkdir %s: %s", path, strerror(errno));
    snprintf(path, sizeof(path), "%s/%s", corpus, target);
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        die("mkdir %s: %s", path, strerror(errno));
}

static void save_bytes(const char *target, const char *name, const void *p, size_t n)
{
    char path[512];
    mkdirs(target);
    snprintf(path, sizeof(path), "%s/%s/%s", corpus, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
        die("write %s: %s", path, strerror(errno));
    written++;
}

/* Saves and empties the seed. */
static void save(const char *target, const char *name, struct seed *s)
{
    save_bytes(target, name, s->buf, s->len);
    s->len = 0;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("read %s: %s", path, strerror(errno));
    uint8_t *buf = malloc(SEED_MAX);
    if (!buf)
        die("out of memory");
    *len = fread(buf, 1, SEED_MAX, f);
    fclose(f);
    return buf;
}

/* ---- MQTT packets --------------------------------------------------------------- */

static struct mqtt_bytes B(const char *s)
{
    return (struct mqtt_bytes){ (const uint8_t *)s, (uint32_t)strlen(s) };
}

static void put_pkt(struct seed *s, const struct mqtt_packet *p, int version)
{
    uint8_t buf[SEED_MAX];
    size_t n = mqtt_encode(buf, sizeof(buf), p, version);
    if (n == 0 || n > sizeof(buf))
        die("cannot encode a %s for MQTT %d", mqtt_packet_name(p->type), version);
    put(s, buf, n);
}

static const struct mqtt_user_prop user_props[] = {
    { { (const uint8_t *)"site", 4 }, { (const uint8_t *)"north", 5 } },
    { { (const uint8_t *)"site", 4 }, { (const uint8_t *)"\xc3\xa9t\xc3\xa9", 6 } },
};

static struct mqtt_packet connect_v311(const char *id, bool clean, const char *will_topic)
{
    struct mqtt_packet p = { .type = MQTT_CONNECT };
    p.u.connect = (struct mqtt_connect){ .version = MQTT_V311, .clean_start = clean,
                                         .keep_alive = 60, .client_id = B(id) };
    if (will_topic) {
        p.u.connect.will = true;
        p.u.connect.will_qos = 1;
        p.u.connect.will_retain = true;
        p.u.connect.will_topic = B(will_topic);
        p.u.connect.will_payload = B("offline");
    }
    return p;
}

static struct mqtt_packet connect_v5(const char *id, bool clean, uint32_t expiry,
                                     const char *will_topic, uint32_t will_delay)
{
    struct mqtt_packet p = { .type = MQTT_CONNECT };
    struct mqtt_connect *c = &p.u.connect;
    *c = (struct mqtt_connect){ .version = MQTT_V5, .clean_start = clean, .keep_alive = 30,
                                .client_id = B(id) };
    c->props.present = BIT(SESSION_EXPIRY) | BIT(RECEIVE_MAX) | BIT(TOPIC_ALIAS_MAX) |
                       BIT(MAX_PACKET_SIZE) | BIT(REQUEST_PROBLEM_INFO);
    c->props.session_expiry = expiry;
    c->props.receive_max = 2;
    c->props.topic_alias_max = 4;
    c->props.max_packet_size = 4096;
    c->props.request_problem_info = 1;
    c->props.user = user_props;
    c->props.n_user = 1;
    if (will_topic) {
        c->will = true;
        c->will_qos = 2;
        c->will_topic = B(will_topic);
        c->will_payload = B("gone");
        c->will_props.present = BIT(WILL_DELAY) | BIT(PAYLOAD_FORMAT) | BIT(CONTENT_TYPE) |
                                BIT(RESPONSE_TOPIC) | BIT(CORRELATION_DATA) |
                                BIT(MESSAGE_EXPIRY);
        c->will_props.will_delay = will_delay;
        c->will_props.payload_format = 1;
        c->will_props.content_type = B("text/plain");
        c->will_props.response_topic = B("gw/reply");
        c->will_props.correlation_data = B("\x01\x02\x03");
        c->will_props.message_expiry = 3600;
    }
    return p;
}

static struct mqtt_packet publish(const char *topic, const char *payload, int qos, uint16_t id,
                                  bool retain)
{
    struct mqtt_packet p = { .type = MQTT_PUBLISH };
    p.u.publish = (struct mqtt_publish){ .qos = (uint8_t)qos, .retain = retain,
                                         .topic = B(topic), .packet_id = id,
                                         .payload = B(payload) };
    return p;
}

static struct mqtt_packet ack(uint8_t type, uint16_t id)
{
    struct mqtt_packet p = { .type = type };
    p.u.ack = (struct mqtt_ack){ .type = type, .packet_id = id };
    return p;
}

static struct mqtt_packet subscribe(uint16_t id, const struct mqtt_sub_entry *subs, uint32_t n,
                                    uint32_t sub_id)
{
    struct mqtt_packet p = { .type = MQTT_SUBSCRIBE };
    p.u.subscribe = (struct mqtt_subscribe){ .packet_id = id, .subs = subs, .count = n };
    if (sub_id) {
        p.u.subscribe.props.present = BIT(SUBSCRIPTION_ID);
        p.u.subscribe.props.subscription_id = sub_id;
    }
    return p;
}

static struct mqtt_packet unsubscribe(uint16_t id, const struct mqtt_bytes *filters, uint32_t n)
{
    struct mqtt_packet p = { .type = MQTT_UNSUBSCRIBE };
    p.u.unsubscribe = (struct mqtt_unsubscribe){ .packet_id = id, .filters = filters, .count = n };
    return p;
}

static struct mqtt_packet simple(uint8_t type)
{
    struct mqtt_packet p = { .type = type };
    if (type == MQTT_DISCONNECT || type == MQTT_AUTH)
        p.u.disconnect.type = type;
    return p;
}

/* ---- mqtt_decode -------------------------------------------------------------- */

static const struct mqtt_sub_entry subs_v311[] = {
    { .filter = { (const uint8_t *)"sensors/+/temp", 14 }, .qos = 1 },
    { .filter = { (const uint8_t *)"gw/#", 4 }, .qos = 2 },
};
static const struct mqtt_sub_entry subs_v5[] = {
    { .filter = { (const uint8_t *)"a/b", 3 }, .qos = 1, .no_local = true,
      .retain_as_published = true, .retain_handling = 2 },
    { .filter = { (const uint8_t *)"$share/grp/x/#", 14 }, .qos = 2, .retain_handling = 1 },
};
static const struct mqtt_bytes unsub_filters[] = {
    { (const uint8_t *)"gw/#", 4 }, { (const uint8_t *)"+", 1 },
};

/* The first byte of an mqtt_decode seed: version bit, no limit, context. */
static void codec_head(struct seed *s, int version, unsigned ctx)
{
    put_u8(s, (uint8_t)((version == MQTT_V5 ? 1 : 0) | ctx << 4));
}

static void codec_one(const char *name, const struct mqtt_packet *p, int version)
{
    struct seed s = seed_new();
    codec_head(&s, version, p->type);
    put_pkt(&s, p, version);
    save("mqtt_decode", name, &s);
    free(s.buf);
}

static void seeds_codec_v311(void)
{
    struct mqtt_packet c = connect_v311("sensor-1", true, "gw/status");
    c.u.connect.has_username = c.u.connect.has_password = true;
    c.u.connect.username = B("user");
    c.u.connect.password = B("secret");
    codec_one("v311-connect", &c, MQTT_V311);
    struct mqtt_packet ca = { .type = MQTT_CONNACK };
    ca.u.connack.session_present = true;
    codec_one("v311-connack", &ca, MQTT_V311);
    struct mqtt_packet pub = publish("sensors/1/temp", "21.5", 2, 7, true);
    pub.u.publish.dup = true;
    codec_one("v311-publish-qos2", &pub, MQTT_V311);
    struct mqtt_packet sub = subscribe(3, subs_v311, 2, 0);
    codec_one("v311-subscribe", &sub, MQTT_V311);
    struct mqtt_packet sa = { .type = MQTT_SUBACK };
    sa.u.suback = (struct mqtt_suback){ .type = MQTT_SUBACK, .packet_id = 3,
                                        .reasons = { (const uint8_t *)"\x01\x80", 2 } };
    codec_one("v311-suback", &sa, MQTT_V311);

    /* A whole connection's worth, one after the other. */
    struct seed s = seed_new();
    codec_head(&s, MQTT_V311, 0);
    struct mqtt_packet pkts[] = {
        connect_v311("", true, NULL), publish("a", "", 0, 0, false),
        publish("a/b", "hello", 1, 1, false), ack(MQTT_PUBACK, 1), ack(MQTT_PUBREC, 2),
        ack(MQTT_PUBREL, 2), ack(MQTT_PUBCOMP, 2), unsubscribe(4, unsub_filters, 2),
        simple(MQTT_PINGREQ), simple(MQTT_PINGRESP), simple(MQTT_DISCONNECT),
    };
    for (size_t i = 0; i < sizeof(pkts) / sizeof(pkts[0]); i++)
        put_pkt(&s, &pkts[i], MQTT_V311);
    struct mqtt_packet ua = { .type = MQTT_UNSUBACK };
    ua.u.suback = (struct mqtt_suback){ .type = MQTT_UNSUBACK, .packet_id = 4 };
    put_pkt(&s, &ua, MQTT_V311);
    save("mqtt_decode", "v311-stream", &s);
    free(s.buf);
}

static void seeds_codec_v5_connect(void)
{
    struct mqtt_packet c = connect_v5("v5-client", false, 300, "gw/will", 5);
    c.u.connect.has_username = c.u.connect.has_password = true;
    c.u.connect.username = B("user");
    c.u.connect.password = B("secret");
    c.u.connect.props.present |= BIT(AUTH_METHOD) | BIT(AUTH_DATA) | BIT(REQUEST_RESPONSE_INFO);
    c.u.connect.props.auth_method = B("SCRAM-SHA-1");
    c.u.connect.props.auth_data = B("\x00\x01");
    c.u.connect.props.request_response_info = 1;
    c.u.connect.will_props.user = user_props;
    c.u.connect.will_props.n_user = 2;
    codec_one("v5-connect-full", &c, MQTT_V5);
    struct mqtt_packet ca = { .type = MQTT_CONNACK };
    struct mqtt_props *p = &ca.u.connack.props;
    p->present = BIT(SESSION_EXPIRY) | BIT(ASSIGNED_CLIENT_ID) | BIT(SERVER_KEEP_ALIVE) |
                 BIT(RESPONSE_INFO) | BIT(SERVER_REFERENCE) | BIT(REASON_STRING) |
                 BIT(RECEIVE_MAX) | BIT(TOPIC_ALIAS_MAX) | BIT(MAX_QOS) | BIT(RETAIN_AVAILABLE) |
                 BIT(MAX_PACKET_SIZE) | BIT(WILDCARD_SUB_AVAILABLE) | BIT(SUB_ID_AVAILABLE) |
                 BIT(SHARED_SUB_AVAILABLE);
    p->session_expiry = 60;
    p->assigned_client_id = B("auto-1");
    p->server_keep_alive = 20;
    p->response_info = B("resp/");
    p->server_reference = B("other:1883");
    p->reason_string = B("welcome");
    p->receive_max = 10;
    p->topic_alias_max = 3;
    p->max_qos = 1;
    p->max_packet_size = 1024;
    codec_one("v5-connack-props", &ca, MQTT_V5);
    struct mqtt_packet refuse = { .type = MQTT_CONNACK };
    refuse.u.connack.reason = MQTT_RC_BAD_USERNAME_PASSWORD;
    codec_one("v5-connack-refused", &refuse, MQTT_V5);
}

static void seeds_codec_v5_publish(void)
{
    static const uint32_t ids[] = { 1, 200000 };
    struct mqtt_packet pub = publish("sensors/1/temp", "{\"t\":21.5}", 1, 9, false);
    struct mqtt_props *p = &pub.u.publish.props;
    p->present = BIT(PAYLOAD_FORMAT) | BIT(MESSAGE_EXPIRY) | BIT(CONTENT_TYPE) |
                 BIT(RESPONSE_TOPIC) | BIT(CORRELATION_DATA) | BIT(TOPIC_ALIAS) |
                 BIT(SUBSCRIPTION_ID);
    p->payload_format = 1;
    p->message_expiry = 10;
    p->content_type = B("application/json");
    p->response_topic = B("reply/1");
    p->correlation_data = B("id-1");
    p->topic_alias = 1;
    p->sub_ids = ids;
    p->n_sub_ids = 2;
    p->subscription_id = ids[0];
    p->user = user_props;
    p->n_user = 2;
    codec_one("v5-publish-props", &pub, MQTT_V5);
    struct mqtt_packet alias = publish("", "x", 0, 0, false);
    alias.u.publish.props.present = BIT(TOPIC_ALIAS);
    alias.u.publish.props.topic_alias = 1;
    codec_one("v5-publish-alias", &alias, MQTT_V5);
    struct mqtt_packet pa = ack(MQTT_PUBREC, 9);
    pa.u.ack.reason = MQTT_RC_NO_MATCHING_SUBSCRIBERS;
    pa.u.ack.props.present = BIT(REASON_STRING);
    pa.u.ack.props.reason_string = B("nobody");
    codec_one("v5-pubrec-reason", &pa, MQTT_V5);
    struct mqtt_packet rel = ack(MQTT_PUBREL, 9);
    rel.u.ack.reason = MQTT_RC_PACKET_ID_NOT_FOUND;
    codec_one("v5-pubrel-reason", &rel, MQTT_V5);
}

static void seeds_codec_v5_rest(void)
{
    struct mqtt_packet sub = subscribe(5, subs_v5, 2, 42);
    sub.u.subscribe.props.user = user_props;
    sub.u.subscribe.props.n_user = 1;
    codec_one("v5-subscribe", &sub, MQTT_V5);
    struct mqtt_packet sa = { .type = MQTT_SUBACK };
    sa.u.suback = (struct mqtt_suback){ .type = MQTT_SUBACK, .packet_id = 5,
                                        .reasons = { (const uint8_t *)"\x01\x9e\x8f", 3 } };
    codec_one("v5-suback", &sa, MQTT_V5);
    struct mqtt_packet un = unsubscribe(6, unsub_filters, 2);
    codec_one("v5-unsubscribe", &un, MQTT_V5);
    struct mqtt_packet ua = { .type = MQTT_UNSUBACK };
    ua.u.suback = (struct mqtt_suback){ .type = MQTT_UNSUBACK, .packet_id = 6,
                                        .reasons = { (const uint8_t *)"\x00\x11", 2 } };
    codec_one("v5-unsuback", &ua, MQTT_V5);
    struct mqtt_packet d = simple(MQTT_DISCONNECT);
    d.u.disconnect.reason = MQTT_RC_SERVER_MOVED;
    d.u.disconnect.props.present = BIT(SESSION_EXPIRY) | BIT(SERVER_REFERENCE) | BIT(REASON_STRING);
    d.u.disconnect.props.session_expiry = 0;
    d.u.disconnect.props.server_reference = B("b:1883");
    d.u.disconnect.props.reason_string = B("moving");
    codec_one("v5-disconnect-props", &d, MQTT_V5);
    struct mqtt_packet a = simple(MQTT_AUTH);
    a.u.disconnect.reason = MQTT_RC_CONTINUE_AUTH;
    a.u.disconnect.props.present = BIT(AUTH_METHOD) | BIT(AUTH_DATA);
    a.u.disconnect.props.auth_method = B("SCRAM-SHA-1");
    a.u.disconnect.props.auth_data = B("c=biws");
    codec_one("v5-auth", &a, MQTT_V5);
}

/* Inputs for the string, topic and varint checks, and odd packets. */
static void seeds_codec_text(void)
{
#define TEXT(name, lit) { name, lit, sizeof(lit) - 1 }
    static const struct { const char *name; const char *text; size_t len; } t[] = {
        TEXT("text-filter-topic", "\x00sport/+/player1\0sport/tennis/player1"),
        TEXT("text-hash-dollar", "\x00#\0$SYS/uptime"),
        TEXT("text-share", "\x00$share/g/a/#\0a/b"),
        TEXT("text-utf8", "\x00\xf0\x9f\x98\x80/\xe2\x82\xac\0\xed\x9f\xbf"),
        TEXT("varint-max", "\x00\xff\xff\xff\x7f"),
        TEXT("varint-overlong", "\x00\x80\x00"),
        TEXT("props-connect", "\x11\x05\x11\x00\x00\x00\x3c"),
        TEXT("props-will", "\x01\x07\x18\x00\x00\x00\x05\x01\x01"),
        TEXT("v5-connect-level3", "\x01\x10\x0a\x00\x04MQTT\x03\x02\x00\x3c"),
    };
#undef TEXT
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        save_bytes("mqtt_decode", t[i].name, t[i].text, t[i].len);
}

/* ---- broker_input --------------------------------------------------------------
 * A session: chunks for the clients, joined by a delimiter byte that none of
 * them contains. */

struct session {
    struct seed data;           /* the chunks, back to back */
    size_t start[64], len[64];
    size_t n;
};

static void chunk_begin(struct session *s, uint8_t ctl)
{
    if (s->n == 64)
        die("too many chunks");
    s->start[s->n] = s->data.len;
    put_u8(&s->data, ctl);
}

static void chunk_end(struct session *s)
{
    s->len[s->n] = s->data.len - s->start[s->n];
    s->n++;
}

/* One chunk: packets for client `slot`, then `turns` (1..8) loop turns;
 * CLOSE closes the client's socket afterwards, HALF half-closes it. */
#define CLOSE 4
#define HALF 8
static void chunk(struct session *s, int slot, int flags, int version, int turns,
                  const struct mqtt_packet *pkts, size_t n)
{
    chunk_begin(s, (uint8_t)(slot | flags | (turns - 1) << 4));
    for (size_t i = 0; i < n; i++)
        put_pkt(&s->data, &pkts[i], version);
    chunk_end(s);
}

static void chunk_raw(struct session *s, uint8_t ctl, const void *p, size_t n)
{
    chunk_begin(s, ctl);
    put(&s->data, p, n);
    chunk_end(s);
}

static void session_save(struct session *s, uint8_t opt, const char *name)
{
    bool used[256] = { false };
    for (size_t i = 0; i < s->data.len; i++)
        used[s->data.buf[i]] = true;
    int delim = 255;
    while (delim >= 0 && used[delim])
        delim--;
    if (delim < 0)
        die("%s: no free delimiter byte", name);
    struct seed out = seed_new();
    put_u8(&out, opt);
    put_u8(&out, (uint8_t)delim);
    for (size_t i = 0; i < s->n; i++) {
        if (i)
            put_u8(&out, (uint8_t)delim);
        put(&out, s->data.buf + s->start[i], s->len[i]);
    }
    save("broker_input", name, &out);
    free(out.buf);
    s->data.len = 0;
    s->n = 0;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void broker_v311(struct session *s)
{
    struct mqtt_packet sub[] = { connect_v311("sub", true, NULL), subscribe(1, subs_v311, 2, 0) };
    struct mqtt_packet pub[] = {
        connect_v311("pub", true, "gw/status"),
        publish("sensors/1/temp", "21.5", 0, 0, false),
        publish("sensors/2/temp", "22.0", 1, 1, true),
        publish("gw/x", "q2", 2, 2, false), ack(MQTT_PUBREL, 2),
    };
    struct mqtt_packet acks[] = { ack(MQTT_PUBACK, 1), ack(MQTT_PUBREC, 2), ack(MQTT_PUBCOMP, 2),
                                  simple(MQTT_PINGREQ), unsubscribe(3, unsub_filters, 2) };
    struct mqtt_packet bye[] = { simple(MQTT_DISCONNECT) };
    chunk(s, 0, 0, MQTT_V311, 2, sub, N(sub));
    chunk(s, 1, 0, MQTT_V311, 3, pub, N(pub));
    chunk(s, 0, 0, MQTT_V311, 2, acks, N(acks));
    chunk(s, 1, CLOSE, MQTT_V311, 2, NULL, 0);   /* no DISCONNECT: the will goes out */
    chunk(s, 0, 0, MQTT_V311, 1, bye, N(bye));
    session_save(s, 0, "v311-pubsub-will");
}

static void broker_v5(struct session *s)
{
    static const struct mqtt_sub_entry all[] = { { .filter = { (const uint8_t *)"#", 1 }, .qos = 2 } };
    struct mqtt_packet sub[] = { connect_v5("s5", false, 300, NULL, 0), subscribe(1, all, 1, 7) };
    struct mqtt_packet alias = publish("", "again", 1, 2, false);
    alias.u.publish.props.present = BIT(TOPIC_ALIAS);
    alias.u.publish.props.topic_alias = 1;
    struct mqtt_packet first = publish("a/b", "first", 1, 1, true);
    first.u.publish.props.present = BIT(TOPIC_ALIAS) | BIT(MESSAGE_EXPIRY);
    first.u.publish.props.topic_alias = 1;
    first.u.publish.props.message_expiry = 60;
    first.u.publish.props.user = user_props;
    first.u.publish.props.n_user = 1;
    struct mqtt_packet pub[] = { connect_v5("p5", true, 0, "gw/will5", 0), first, alias };
    struct mqtt_packet again[] = { connect_v5("s5", false, 300, NULL, 0), ack(MQTT_PUBACK, 1),
                                   ack(MQTT_PUBACK, 2) };
    chunk(s, 0, 0, MQTT_V5, 2, sub, N(sub));
    chunk(s, 0, HALF, MQTT_V5, 1, NULL, 0);         /* offline: messages queue */
    chunk(s, 1, 0, MQTT_V5, 3, pub, N(pub));
    chunk(s, 0, 0, MQTT_V5, 3, again, N(again));    /* session resumed */
    struct mqtt_packet d = simple(MQTT_DISCONNECT);
    d.u.disconnect.reason = MQTT_RC_DISCONNECT_WITH_WILL;
    chunk(s, 1, 0, MQTT_V5, 2, &d, 1);
    session_save(s, 0, "v5-resume-alias");
}

static void broker_shared_and_tight(struct session *s)
{
    static const struct mqtt_sub_entry shared[] = {
        { .filter = { (const uint8_t *)"$share/g/t/#", 12 }, .qos = 1 },
    };
    for (int slot = 0; slot < 2; slot++) {
        struct mqtt_packet p[] = { connect_v5(slot ? "w2" : "w1", true, 0, NULL, 0),
                                   subscribe(1, shared, 1, 0) };
        chunk(s, slot, 0, MQTT_V5, 1, p, N(p));
    }
    struct mqtt_packet pubs[8];
    pubs[0] = connect_v311("src", true, NULL);
    for (uint16_t i = 1; i < 8; i++)
        pubs[i] = publish("t/x", "0123456789abcdef", 1, i, false);
    chunk(s, 2, 0, MQTT_V311, 4, pubs, N(pubs));
    session_save(s, 0, "v5-shared");
    /* The same with tight limits and a subscriber that went away. */
    struct mqtt_packet p[] = { connect_v5("slow", false, 60, NULL, 0),
                               subscribe(1, shared + 0, 1, 0) };
    chunk(s, 0, HALF, MQTT_V5, 1, p, N(p));
    chunk(s, 2, 0, MQTT_V311, 4, pubs, N(pubs));
    chunk(s, 0, 0x80, MQTT_V5, 1, NULL, 0);           /* and its session expires */
    session_save(s, 1, "tight-offline-queue");
}

static void broker_odd(struct session *s)
{
    /* Unsupported level, a PUBLISH before CONNECT, a second CONNECT. */
    static const uint8_t level3[] = { 0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x03,
                                      0x02, 0x00, 0x3c, 0x00, 0x00 };
    chunk_raw(s, 0x10, level3, sizeof(level3));
    struct mqtt_packet early[] = { publish("a", "b", 0, 0, false) };
    chunk(s, 1, 0, MQTT_V311, 1, early, 1);
    struct mqtt_packet twice[] = { connect_v311("x", true, NULL), connect_v311("x", true, NULL) };
    chunk(s, 2, 0, MQTT_V311, 2, twice, 2);
    session_save(s, 0, "refusals");
    /* A packet cut across writes, and a payload larger than one read. */
    static char big[20000];
    memset(big, 'z', sizeof(big) - 1);
    struct mqtt_packet c[] = { connect_v311("big", true, NULL), publish("big/1", big, 1, 1, false) };
    struct seed tmp = seed_new();
    for (size_t i = 0; i < 2; i++)
        put_pkt(&tmp, &c[i], MQTT_V311);
    size_t third = tmp.len / 3;
    chunk_raw(s, 0, tmp.buf, third);
    chunk_raw(s, 0, tmp.buf + third, third);
    chunk_raw(s, 0x20, tmp.buf + 2 * third, tmp.len - 2 * third);
    free(tmp.buf);
    session_save(s, 0, "split-and-large");
    /* The listener that wants a user name. */
    struct mqtt_packet auth = connect_v311("u", true, NULL);
    auth.u.connect.has_username = auth.u.connect.has_password = true;
    auth.u.connect.username = B("admin");
    auth.u.connect.password = B("pw");
    chunk(s, 0, 0, MQTT_V311, 1, &auth, 1);
    session_save(s, 2, "auth-listener");
}

/* A subscriber that reads nothing (option bit 2) behind small socket
 * buffers (bit 3): its output backs up and the publisher is paused. */
static void broker_backpressure(struct session *s)
{
    static const struct mqtt_sub_entry all[] = { { .filter = { (const uint8_t *)"#", 1 }, .qos = 1 } };
    static char kib[1024];
    memset(kib, 'p', sizeof(kib) - 1);
    struct mqtt_packet sub[] = { connect_v311("stalled", true, NULL), subscribe(1, all, 1, 0) };
    chunk(s, 2, 0, MQTT_V311, 1, sub, N(sub));
    struct mqtt_packet pubs[13];
    pubs[0] = connect_v311("fast", true, NULL);
    for (uint16_t i = 1; i < 13; i++)
        pubs[i] = publish("load/x", kib, i % 2, i % 2 ? i : 0, false);
    for (int round = 0; round < 3; round++)
        chunk(s, 0, 0, MQTT_V311, 8, round ? pubs + 1 : pubs, round ? N(pubs) - 1 : N(pubs));
    session_save(s, 0x0c, "backpressure");
}

/* The gateway's own publishes and subscriptions (chunk slot 3). */
static void broker_inprocess(struct session *s)
{
    struct mqtt_packet sub[] = { connect_v311("watch", true, NULL), subscribe(1, subs_v311, 2, 0) };
    chunk(s, 0, 0, MQTT_V311, 1, sub, N(sub));
    chunk_raw(s, 3, "\x05gw/status\0online", 17);          /* QoS 1, retained */
    chunk_raw(s, 3, "\x0asensors/+/temp", 15);             /* subscribe, QoS 2 */
    chunk_raw(s, 3, "\x02sensors/9/temp\0" "19.0", 20);
    chunk_raw(s, 3, "\x03" "bad/+\0x", 8);                    /* QoS 3, wildcard: refused */
    session_save(s, 0, "inprocess");
}

static void seeds_broker(void)
{
    struct session s = { .data = seed_new() };
    broker_v311(&s);
    broker_v5(&s);
    broker_shared_and_tight(&s);
    broker_odd(&s);
    broker_inprocess(&s);
    broker_backpressure(&s);
    free(s.data.buf);
}

/* ---- config_load ---------------------------------------------------------------- */

static void copy_file(const char *target, const char *path, const char *name)
{
    size_t len;
    uint8_t *buf = read_file(path, &len);
    save_bytes(target, name, buf, len);
    free(buf);
}

static void seeds_config(void)
{
    static const char *const examples[] = {
        "cloud-bridge-tls", "energy-meter", "gps-nmea", "mqgate", "pms5003",
    };
    static const char *const fixtures[] = {
        "bad/01-syntax-unclosed-quote", "bad/23-duplicate-key", "bad/28-enum-bad-with-hint",
        "bad/37-bytes-bad-hex", "bad/38-env-unset-variable", "bad/60-regex-does-not-compile",
        "bad/62-overlap-same-device", "bad/69-expression-syntax-error",
        "bad/71-topic-unknown-variable", "bad/100-merge-into-wrong-section",
        "warn/11-several-warnings",
    };
    char path[256], name[128];
    for (size_t i = 0; i < N(examples); i++) {
        snprintf(path, sizeof(path), "config/examples/%s.yaml", examples[i]);
        snprintf(name, sizeof(name), "example-%s.yaml", examples[i]);
        copy_file("config_load", path, name);
    }
    copy_file("config_load", "config/demo.yaml", "demo.yaml");
    for (size_t i = 0; i < N(fixtures); i++) {
        snprintf(path, sizeof(path), "tests/fixtures/config/%s.yaml", fixtures[i]);
        snprintf(name, sizeof(name), "fixture-%s.yaml", strchr(fixtures[i], '/') + 1);
        copy_file("config_load", path, name);
    }
    static const char env_merge[] =
        "gateway: { name: \"${FUZZ_HOME:-gw}\", state_dir: \"${FUZZ_HOME}/x$$y\" }\n"
        "x-serial: &serial { type: uart, baud: 9600 }\n"
        "buses:\n"
        "  - { <<: *serial, name: u, device: /dev/ttyS0 }\n"
        "devices:\n"
        "  - name: d\n"
        "    bus: u\n"
        "    framing: line\n"
        "    line: { format: regex, regex: 'T=([0-9]+)', delimiter: \"\\x0d\\n\" }\n"
        "    points:\n"
        "      - { name: t, group: 1, expression: \"max(x * 0.1 - 40, -40)\", unit: C }\n";
    save_bytes("config_load", "env-merge-regex.yaml", env_merge, sizeof(env_merge) - 1);
}

/* ---- UART framers ----------------------------------------------------------------
 * A seed is: device variant, chunking byte, stream. */

static void uart_seed(const char *target, const char *name, uint8_t variant, uint8_t chunking,
                      const void *stream, size_t n)
{
    struct seed s = seed_new();
    put_u8(&s, variant);
    put_u8(&s, chunking);
    put(&s, stream, n);
    save(target, name, &s);
    free(s.buf);
}

static void seeds_line(void)
{
    static const struct { uint8_t v; const char *name, *text; } t[] = {
        { 0, "value", "21.5\n-7\n0x1f\nhello\nthis line is too long\n\ntrue\r\n" },
        { 1, "csv-crlf", "1;-2;3;4.5\r\nA;B\r\n;;;\r\n1;70000;-1;nan\r\n" },
        { 2, "kv", "T=21.5,H=40,P=-3,ON=true\nH=,T\nON=off,P=9223372036854775807\n" },
        { 3, "regex-end", "T=21.5,H=40ENDT=-1,H=2,X=zzENDnothingEN" },
        { 4, "kv-escapes", "a: 1; b: -2\x03\x02" "b: 2147483648\x03\x02" },
        { 5, "csv-tab", "1\tfoo\n0\t\t\nyes\t1e3\n" },
    };
    for (size_t i = 0; i < N(t); i++)
        uart_seed("uart_line", t[i].name, t[i].v, (uint8_t)(i * 7), t[i].text, strlen(t[i].text));
}

/* "$<body>*HH\r\n" with the checksum computed. */
static size_t nmea(char *out, size_t cap, const char *body)
{
    unsigned x = 0;
    for (const char *p = body; *p; p++)
        x ^= (unsigned char)*p;
    int n = snprintf(out, cap, "$%s*%02X\r\n", body, x);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void seeds_nmea(void)
{
    static const char *const bodies[] = {
        "GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,",
        "GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W",
        "GNGLL,4916.45,N,12311.12,W,225444,A,",
        "GPVTG,054.7,T,034.4,M,005.5,N,010.2,K",
        "GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1",
        "GPGSV,2,1,08,01,40,083,46,02,17,308,41,12,07,344,39,14,22,228,45",
        "GPTXT,01,01,02,ANTSTATUS=OK",
        "GPGGA,,,,,,0,00,99.99,,,,,,",
    };
    char stream[4096], one[512];
    size_t len = 0;
    for (size_t i = 0; i < N(bodies); i++) {
        size_t n = nmea(one, sizeof(one), bodies[i]);
        char name[32];
        snprintf(name, sizeof(name), "sentence-%zu", i);
        uart_seed("uart_nmea", name, (uint8_t)(i & 1), 0, one, n);
        memcpy(stream + len, one, n);
        len += n;
    }
    static const char odd[] = "$GPGGA,1*00\r\ngarbage$GPRMC,cut$GPVTG,1,T*3e\n$NOSUM\r\n";
    memcpy(stream + len, odd, sizeof(odd) - 1);
    len += sizeof(odd) - 1;
    uart_seed("uart_nmea", "stream-with-noise", 0, 5, stream, len);
    uart_seed("uart_nmea", "stream-typed", 1, 0x43, stream, len);
}

/* A frame body with its checksum appended over [start, len). */
static size_t add_checksum(uint8_t *f, size_t len, int type, size_t start, bool little)
{
    uint32_t c = checksum_compute(type, f + start, len - start);
    size_t n = checksum_size(type);
    for (size_t i = 0; i < n; i++)
        f[len + i] = (uint8_t)(little ? c >> (8 * i) : c >> (8 * (n - 1 - i)));
    return len + n;
}

static void seeds_frame(void)
{
    static const uint8_t pms[32] = {
        0x42, 0x4d, 0x00, 0x1c, 0x00, 0x07, 0x00, 0x0a, 0x00, 0x0e, 0x00, 0x07, 0x00, 0x0a,
        0x00, 0x0e, 0x03, 0x84, 0x01, 0x2c, 0x00, 0x3c, 0x00, 0x08, 0x00, 0x02, 0x00, 0x01,
        0x97, 0x00, 0x02, 0x7b,
    };
    uint8_t f[64];
    uart_seed("uart_frame", "pms5003", 0, 0, pms, sizeof(pms));
    uint8_t noisy[80];
    memcpy(noisy, "\x42\x42\x4d\x00\x01", 5);
    memcpy(noisy + 5, pms, sizeof(pms));
    memcpy(noisy + 37, pms, 20);
    uart_seed("uart_frame", "pms5003-noise", 0, 3, noisy, 57);
    memcpy(f, "\xff\x86\x01\x90\x41\xa8\x00\x00", 8);               /* MH-Z19 style */
    uart_seed("uart_frame", "fixed-xor8", 1, 0, f, add_checksum(f, 8, CFG_CHECKSUM_XOR8, 1, false));
    memcpy(f, "\x01\x03\x04\x00\x0a\x01\x02", 7);                   /* Modbus RTU reply */
    uart_seed("uart_frame", "modbus-crc16", 2, 0, f,
              add_checksum(f, 7, CFG_CHECKSUM_CRC16_MODBUS, 0, true));
    memset(f, 0x31, sizeof(f));
    f[0] = 0xaa;
    f[1] = 29;                                                     /* 28 bytes, adjust -1 */
    f[2] = 0;
    memcpy(f + 11, "mqgate frame   ", 15);
    uart_seed("uart_frame", "le-length-crc8", 3, 0, f, add_checksum(f, 27, CFG_CHECKSUM_CRC8, 3, false));
    memcpy(f, "\x55\xaa\x55\x00\x00\x00\x05\x01\x41\xa8\x00\x00\x09", 13);
    uart_seed("uart_frame", "u32-length-sum8", 4, 0, f, add_checksum(f, 12, CFG_CHECKSUM_SUM8, 3, false));
    uart_seed("uart_frame", "short-frames", 5, 1, "\x02\x03\xaa\x02\x02\x02\x04\xbb\xcc\x02\x09\x02\x01\x02", 14);
}

/* ---- spool_read --------------------------------------------------------------
 * Segments written by the spool itself, in a temporary directory. */

static char spool_dir[64];

static void spool_clean(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", spool_dir);
    if (system(cmd) != 0)
        die("cannot remove %s", spool_dir);
}

static struct spool *spool_make(uint64_t max_size)
{
    snprintf(spool_dir, sizeof(spool_dir), "/tmp/mqgate-seeds-XXXXXX");
    if (!mkdtemp(spool_dir))
        die("mkdtemp: %s", strerror(errno));
    char dir[96];
    snprintf(dir, sizeof(dir), "%s/spool", spool_dir);
    struct cfg_spool cfg = { .dir = dir, .max_size = max_size, .fsync = CFG_FSYNC_NEVER,
                             .segment_size = 1u << 20 };
    struct spool *s = NULL;
    char err[256];
    if (spool_open(&cfg, &s, err, sizeof(err)) != 0)
        die("%s", err);
    return s;
}

static void spool_put(struct spool *s, int i, int qos)
{
    char topic[64], payload[64];
    snprintf(topic, sizeof(topic), "gw/sensor/%d", i);
    snprintf(payload, sizeof(payload), "{\"v\":%d}", i * 7);
    if (spool_append(s, topic, payload, strlen(payload), qos, i % 3 == 0,
                     1700000000000LL + i * 1000, NULL) != 0 || spool_flush(s, 0) != 0)
        die("spool_append failed");
}

/* The segment files of the spool, oldest first, joined by "SEG|". */
static void spool_collect(struct seed *out)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "ls '%s/spool' | grep '^spool-.*\\.seg$' | sort", spool_dir);
    FILE *ls = popen(cmd, "r");
    char name[128];
    bool first = true;
    while (ls && fgets(name, sizeof(name), ls)) {
        name[strcspn(name, "\n")] = '\0';
        char path[256];
        snprintf(path, sizeof(path), "%s/spool/%s", spool_dir, name);
        size_t len;
        uint8_t *buf = read_file(path, &len);
        if (!first)
            put(out, "SEG|", 4);
        put(out, buf, len);
        free(buf);
        first = false;
    }
    if (!ls || pclose(ls) != 0 || first)
        die("no spool segments in %s", spool_dir);
}

static void spool_seed(const char *name, uint8_t opt, struct seed *body, size_t cut)
{
    struct seed s = seed_new();
    put_u8(&s, opt);
    put(&s, body->buf, cut ? cut : body->len);
    save("spool_read", name, &s);
    free(s.buf);
}

static void seeds_spool(void)
{
    struct seed body = seed_new();
    struct spool *s = spool_make(64u << 20);
    for (int i = 1; i <= 4; i++)
        spool_put(s, i, i % 3);
    spool_close(s);
    spool_collect(&body);
    spool_clean();
    spool_seed("four-messages", 0, &body, 0);
    spool_seed("four-messages-ack-append", 0x0c, &body, 0);
    spool_seed("torn-tail", 0, &body, body.len - 5);
    body.buf[40] ^= 0x20;                     /* inside the first record: a CRC error */
    spool_seed("corrupt-first", 0x01, &body, 0);
    body.len = 0;

    s = spool_make(64u << 20);
    for (int i = 1; i <= 3; i++)
        spool_put(s, i, 1);
    if (spool_ack(s, 1) != 0 || spool_ack(s, 2) != 0 || spool_flush(s, 0) != 0)
        die("spool_ack failed");
    spool_put(s, 4, 2);
    spool_close(s);
    spool_collect(&body);
    spool_clean();
    spool_seed("with-ack-record", 0x02, &body, 0);
    body.len = 0;

    /* A small max_size makes small segments: several files. */
    s = spool_make(2048);
    for (int i = 1; i <= 30; i++)
        spool_put(s, i, 0);
    spool_close(s);
    spool_collect(&body);
    spool_clean();
    spool_seed("segments", 0x40, &body, 0);
    spool_seed("segments-tiny-index", 0x13, &body, 0);
    free(body.buf);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    corpus = argv[1];
    log_init(LOG_LEVEL_ERROR);
    seeds_codec_v311();
    seeds_codec_v5_connect();
    seeds_codec_v5_publish();
    seeds_codec_v5_rest();
    seeds_codec_text();
    seeds_broker();
    seeds_config();
    seeds_line();
    seeds_nmea();
    seeds_frame();
    seeds_spool();
    printf("make_seeds: %d seeds in %s\n", written, corpus);
    return 0;
}
