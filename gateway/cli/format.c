/* mosquitto_sub's output language for `mqgate sub -F`: one pass over the
 * format, each % sequence read into a spec (flags, width, precision,
 * conversion) and written with its padding; @ goes to strftime. */
#include <ctype.h>
#include <inttypes.h>
#include <string.h>

#include "gateway/cli/format.h"

struct spec {
    bool left;      /* '-' */
    bool zero;      /* '0' */
    size_t width;
    long prec;      /* -1: none */
    char conv;
};

static const char *parse_spec(const char *f, struct spec *s)
{
    memset(s, 0, sizeof *s);
    s->prec = -1;
    for (;; f++) {
        if (*f == '-')
            s->left = true;
        else if (*f == '0')
            s->zero = true;
        else
            break;
    }
    for (; isdigit((unsigned char)*f); f++)
        s->width = s->width < 10000 ? s->width * 10 + (size_t)(*f - '0') : s->width;
    if (*f == '.') {
        s->prec = 0;
        for (f++; isdigit((unsigned char)*f); f++)
            s->prec = s->prec < 10000 ? s->prec * 10 + (*f - '0') : s->prec;
    }
    s->conv = *f;
    return *f ? f + 1 : f;
}

static void pad(FILE *out, char c, size_t n)
{
    while (n--)
        fputc(c, out);
}

/* One field with its width; precision truncates the text fields %C %I %R %t. */
static void put_field(FILE *out, const struct spec *s, const void *data, size_t len,
                      bool numeric)
{
    if (s->prec >= 0 && strchr("CIRt", s->conv) && (size_t)s->prec < len)
        len = (size_t)s->prec;
    size_t n = s->width > len ? s->width - len : 0;
    if (!s->left)
        pad(out, s->zero && numeric ? '0' : ' ', n);
    if (len)
        fwrite(data, 1, len, out);
    if (s->left)
        pad(out, ' ', n);
}

static void put_bytes(FILE *out, const struct spec *s, struct mqtt_bytes b)
{
    put_field(out, s, b.data, b.len, false);
}

static void put_number(FILE *out, const struct spec *s, uint64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%" PRIu64, v);
    put_field(out, s, buf, (size_t)n, true);
}

static void put_hex(FILE *out, const struct spec *s, struct mqtt_bytes b, bool upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    size_t len = (size_t)b.len * 2;
    size_t n = s->width > len ? s->width - len : 0;
    if (!s->left)
        pad(out, s->zero ? '0' : ' ', n);
    for (uint32_t i = 0; i < b.len; i++) {
        fputc(digits[b.data[i] >> 4], out);
        fputc(digits[b.data[i] & 15], out);
    }
    if (s->left)
        pad(out, ' ', n);
}

static void put_user_props(FILE *out, const struct mqtt_props *props)
{
    struct mqtt_prop_iter it;
    struct mqtt_user_prop u;
    bool first = true;
    uint32_t i = 0;
    mqtt_prop_iter_init(&it, props);
    for (;;) {
        if (props->user) {
            if (i == props->n_user)
                break;
            u = props->user[i++];
        } else if (!mqtt_prop_next_user(&it, &u)) {
            break;
        }
        fprintf(out, "%s%.*s:%.*s", first ? "" : " ", (int)u.name.len,
                (const char *)u.name.data, (int)u.value.len, (const char *)u.value.data);
        first = false;
    }
}

static void put_iso_time(FILE *out, const struct spec *s, const struct timespec *when)
{
    struct tm tm;
    char buf[64];
    localtime_r(&when->tv_sec, &tm);
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm);
    put_field(out, s, buf, n, false);
}

static void put_unix_time(FILE *out, const struct timespec *when)
{
    fprintf(out, "%lld.%09ld", (long long)when->tv_sec, (long)when->tv_nsec);
}

/* A property that is numeric, or nothing when absent. */
static void put_num_prop(FILE *out, const struct spec *s, const struct mqtt_props *p,
                         unsigned id, uint64_t v)
{
    if (mqtt_props_has(p, id))
        put_number(out, s, v);
}

static void put_str_prop(FILE *out, const struct spec *s, const struct mqtt_props *p,
                         unsigned id, struct mqtt_bytes b)
{
    if (mqtt_props_has(p, id))
        put_bytes(out, s, b);
}

static bool put_props(FILE *out, const struct spec *s, const struct mqtt_publish *m)
{
    const struct mqtt_props *p = &m->props;
    switch (s->conv) {
    case 'A': put_num_prop(out, s, p, MQTT_PROP_TOPIC_ALIAS, p->topic_alias); return true;
    case 'C': put_str_prop(out, s, p, MQTT_PROP_CONTENT_TYPE, p->content_type); return true;
    case 'D': put_str_prop(out, s, p, MQTT_PROP_CORRELATION_DATA, p->correlation_data); return true;
    case 'E': put_num_prop(out, s, p, MQTT_PROP_MESSAGE_EXPIRY, p->message_expiry); return true;
    case 'F': put_num_prop(out, s, p, MQTT_PROP_PAYLOAD_FORMAT, p->payload_format); return true;
    case 'P': put_user_props(out, p); return true;
    case 'R': put_str_prop(out, s, p, MQTT_PROP_RESPONSE_TOPIC, p->response_topic); return true;
    case 'S': put_num_prop(out, s, p, MQTT_PROP_SUBSCRIPTION_ID, p->subscription_id); return true;
    default: return false;
    }
}

/* One % sequence; false when the conversion is unknown. */
static bool put_percent(FILE *out, const struct spec *s, const struct mqtt_publish *m,
                        const struct timespec *when)
{
    switch (s->conv) {
    case '%': fputc('%', out); return true;
    case 't': put_bytes(out, s, m->topic); return true;
    case 'p': put_bytes(out, s, m->payload); return true;
    case 'q': put_number(out, s, m->qos); return true;
    case 'r': put_number(out, s, m->retain); return true;
    case 'm': put_number(out, s, m->packet_id); return true;
    case 'l': put_number(out, s, m->payload.len); return true;
    case 'x': put_hex(out, s, m->payload, false); return true;
    case 'X': put_hex(out, s, m->payload, true); return true;
    case 'I': put_iso_time(out, s, when); return true;
    case 'U': put_unix_time(out, when); return true;
    default: return put_props(out, s, m);
    }
}

/* @X: strftime's %X, @N the nanoseconds, @@ an @. */
static void put_at(FILE *out, char c, const struct timespec *when)
{
    if (c == '@') {
        fputc('@', out);
    } else if (c == 'N') {
        fprintf(out, "%09ld", (long)when->tv_nsec);
    } else {
        char fmt[3] = { '%', c, '\0' }, buf[128];
        struct tm tm;
        localtime_r(&when->tv_sec, &tm);
        /* The user's conversion, passed on as mosquitto_sub does. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        size_t n = strftime(buf, sizeof buf, fmt, &tm);
#pragma GCC diagnostic pop
        fwrite(buf, 1, n, out);
    }
}

static void put_escape(FILE *out, char c)
{
    static const char from[] = "\\0aenrtv", to[] = "\\\0\a\033\n\r\t\v";
    const char *p = c ? strchr(from, c) : NULL;
    if (p) {
        fputc(to[p - from], out);
    } else {
        fputc('\\', out);
        if (c)
            fputc(c, out);
    }
}

void cli_format_message(FILE *out, const char *fmt, const struct mqtt_publish *msg,
                        const struct timespec *when)
{
    const char *f = fmt;
    while (*f) {
        char c = *f++;
        if (c == '%') {
            const char *start = f - 1;
            struct spec s;
            f = parse_spec(f, &s);
            if (!put_percent(out, &s, msg, when))
                fwrite(start, 1, (size_t)(f - start), out);
        } else if (c == '@' && *f) {
            put_at(out, *f++, when);
        } else if (c == '\\') {
            put_escape(out, *f);
            if (*f)
                f++;
        } else {
            fputc(c, out);
        }
    }
}

void cli_print_message(FILE *out, const char *fmt, bool verbose, bool no_eol,
                       const struct mqtt_publish *msg, const struct timespec *when)
{
    if (fmt) {
        cli_format_message(out, fmt, msg, when);
    } else if (verbose) {
        put_field(out, &(struct spec){ .prec = -1 }, msg->topic.data, msg->topic.len, false);
        if (msg->payload.len) {
            fputc(' ', out);
            fwrite(msg->payload.data, 1, msg->payload.len, out);
        } else {
            fputs(" (null)", out);
        }
    } else if (msg->payload.len) {
        fwrite(msg->payload.data, 1, msg->payload.len, out);
    }
    if (!no_eol)
        fputc('\n', out);
}
