/* The bridge's topic rules: first-match lookup, prefix and template mapping,
 * result checks, receive_allow, subscription lists. Results are built into a
 * fixed buffer that also remembers where the mapped topic was copied, so an
 * empty level can be told apart: made by the mapping, or carried along. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bridge/rules.h"
#include "config/template.h"
#include "gateway/mqtt/topic.h"

/* A template may name {topic} more than once; copies past this many are
 * treated as literal text, which can only make the empty-level check stricter. */
#define COPIES_MAX 8
/* receive_allow entries are filters: '#' may match a topic shorter than it. */
#define ALLOW_MAX (RULES_TOPIC_MAX + 64)

struct build {
    char *buf;              /* RULES_TOPIC_MAX + 1 bytes */
    size_t len;             /* may exceed RULES_TOPIC_MAX: then too long */
    const char *topic;      /* the input topic */
    const char *src;        /* the input after strip_prefix: what {topic} is */
    size_t src_len;
    size_t copy_at[COPIES_MAX];
    size_t n_copies;
};

static void set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
    if (!why || whylen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

static const char *gateway_name(const struct config *cfg)
{
    return cfg->gateway.name ? cfg->gateway.name : "mqgate";
}

/* ---- building a result ------------------------------------------------------ */

static void build_put(struct build *b, const char *text, size_t n)
{
    if (b->len + n <= RULES_TOPIC_MAX)
        memcpy(b->buf + b->len, text, n);
    b->len += n;
}

static void build_copy_topic(struct build *b)
{
    if (b->n_copies < COPIES_MAX)
        b->copy_at[b->n_copies++] = b->len;
    build_put(b, b->src, b->src_len);
}

/* The same walk as template_render, but {topic} goes through
 * build_copy_topic so its place in the result is known. The template passed
 * template_check at load; an unknown variable renders as "" there and here. */
static void build_template(struct build *b, const char *text, const char *gateway)
{
    for (size_t i = 0; text[i];) {
        if ((text[i] == '{' || text[i] == '}') && text[i + 1] == text[i]) {
            build_put(b, text + i, 1);
            i += 2;
        } else if (text[i] == '{') {
            const char *close = strchr(text + i + 1, '}');
            if (!close)
                return;
            enum tvar v = tvar_lookup(text + i + 1, (size_t)(close - text) - i - 1);
            if (v == TVAR_TOPIC)
                build_copy_topic(b);
            else if (v == TVAR_GATEWAY)
                build_put(b, gateway, strlen(gateway));
            i = (size_t)(close - text) + 1;
        } else {
            build_put(b, text + i, 1);
            i++;
        }
    }
}

/* Whether the empty level at gap `g` of the result (between bytes g-1 and
 * g) is one the input topic had at the same place. The input's, not the
 * stripped rest's: stripping "a" from "a/b" leaves "/b", an empty level the
 * input did not have. */
static bool gap_carried(const struct build *b, size_t g)
{
    size_t skip = (size_t)(b->src - b->topic), len = skip + b->src_len;
    for (size_t c = 0; c < b->n_copies; c++) {
        size_t at = b->copy_at[c];
        if (g < at || g > at + b->src_len)
            continue;
        size_t p = skip + g - at;
        if ((p == 0 || b->topic[p - 1] == '/') && (p == len || b->topic[p] == '/'))
            return true;
    }
    return false;
}

/* NULL when the result is a valid topic name, else why not. */
static const char *build_problem(const struct build *b)
{
    if (b->len == 0)
        return "empty topic";
    if (b->len > RULES_TOPIC_MAX)
        return "topic too long";
    if (memchr(b->buf, '+', b->len) || memchr(b->buf, '#', b->len))
        return "wildcard ('+', '#') in topic";
    for (size_t g = 0; g <= b->len; g++) {
        bool empty = (g == 0 || b->buf[g - 1] == '/') && (g == b->len || b->buf[g] == '/');
        if (empty && !gap_carried(b, g))
            return "empty topic level";
    }
    if (!mqtt_topic_name_valid(b->buf, b->len))
        return "not valid UTF-8";
    return NULL;
}

/* ---- applying a rule ----------------------------------------------------------- */

static const struct cfg_topic_rule *first_match(const struct cfg_topic_rule *rules, size_t n,
                                                const char *topic, size_t *index)
{
    size_t len = strlen(topic);
    for (size_t i = 0; i < n; i++) {
        const char *f = rules[i].filter;
        if (f && mqtt_topic_matches(f, strlen(f), topic, len)) {
            *index = i;
            return &rules[i];
        }
    }
    return NULL;
}

static int map_topic(const struct config *cfg, const struct cfg_topic_rule *r, const char *topic,
                     struct rule_result *out, char *why, size_t whylen)
{
    struct build b = { .buf = out->topic, .topic = topic, .src = topic };
    size_t strip = r->strip_prefix ? strlen(r->strip_prefix) : 0;
    if (strip && strncmp(topic, r->strip_prefix, strip) == 0)
        b.src += strip;
    b.src_len = strlen(b.src);
    if (r->topic.text) {
        build_template(&b, r->topic.text, gateway_name(cfg));
    } else {
        if (r->add_prefix)
            build_put(&b, r->add_prefix, strlen(r->add_prefix));
        build_copy_topic(&b);
    }
    const char *problem = build_problem(&b);
    if (problem) {
        if (b.len > RULES_TOPIC_MAX)
            set_why(why, whylen, "%s (%zu bytes, at most %d)", problem, b.len, RULES_TOPIC_MAX);
        else
            set_why(why, whylen, "%s: '%.*s'", problem, (int)b.len, b.buf);
        return RULES_INVALID;
    }
    b.buf[b.len] = '\0';
    out->topic_len = b.len;
    return RULES_MAPPED;
}

static int clamp_qos(int qos)
{
    return qos < 0 ? 0 : qos > 2 ? 2 : qos;
}

static bool retain_of(const struct cfg_topic_rule *r, bool retain)
{
    return r->retain == CFG_RETAIN_ON ? true : r->retain == CFG_RETAIN_OFF ? false : retain;
}

/* Shared by both directions; `out` is written only when the result is good.
 * cap_qos: the result's QoS is min(rule, message) (receive); otherwise it is
 * the rule's (forward). */
static int rules_apply(const struct config *cfg, const struct cfg_topic_rule *rules, size_t n,
                       const char *topic, int qos, bool cap_qos, bool retain,
                       struct rule_result *out, char *why, size_t whylen)
{
    if (!topic || !mqtt_topic_name_valid(topic, strlen(topic))) {
        set_why(why, whylen, "not a valid topic name");
        return RULES_INVALID;
    }
    size_t index;
    const struct cfg_topic_rule *r = first_match(rules, n, topic, &index);
    if (!r)
        return RULES_NO_MATCH;
    struct rule_result res;
    int rc = map_topic(cfg, r, topic, &res, why, whylen);
    if (rc != RULES_MAPPED)
        return rc;
    int rule_qos = clamp_qos((int)r->qos);
    qos = clamp_qos(qos);
    res.qos = cap_qos && qos < rule_qos ? qos : rule_qos;
    res.retain = retain_of(r, retain);
    res.spool = false;
    res.rule = index;
    *out = res;
    return RULES_MAPPED;
}

int rules_forward(const struct config *cfg, const char *topic, int qos, bool retain,
                  struct rule_result *out, char *why, size_t whylen)
{
    const struct cfg_bridge *b = &cfg->bridge;
    int rc = rules_apply(cfg, b->forward, b->n_forward, topic, qos, false, retain, out, why,
                         whylen);
    if (rc == RULES_MAPPED)
        out->spool = out->qos > 0 || b->forward[out->rule].spool;
    return rc;
}

/* ---- receive_allow ------------------------------------------------------------- */

/* `entry` with every "{gateway}" replaced, into buf; false when it does not fit. */
static bool expand_gateway(const char *entry, const char *gateway, char *buf, size_t size)
{
    static const char var[] = "{gateway}";
    const size_t var_len = sizeof(var) - 1, gw_len = strlen(gateway);
    size_t len = 0;
    for (const char *s = entry; *s;) {
        bool is_var = strncmp(s, var, var_len) == 0;
        const char *piece = is_var ? gateway : s;
        size_t n = is_var ? gw_len : 1;
        if (len + n >= size)
            return false;
        memcpy(buf + len, piece, n);
        len += n;
        s += is_var ? var_len : 1;
    }
    buf[len] = '\0';
    return true;
}

static bool receive_allowed(const struct config *cfg, const char *local, rules_allowed_fn allowed,
                            void *ctx)
{
    const struct cfg_strings *list = &cfg->bridge.receive_allow;
    if (list->count == 0)
        return allowed && allowed(ctx, local);
    size_t len = strlen(local);
    char filter[ALLOW_MAX + 1];
    for (size_t i = 0; i < list->count; i++) {
        if (!expand_gateway(list->items[i], gateway_name(cfg), filter, sizeof(filter)))
            continue;
        size_t flen = strlen(filter);
        if (mqtt_topic_filter_valid(filter, flen) && mqtt_topic_matches(filter, flen, local, len))
            return true;
    }
    return false;
}

int rules_receive(const struct config *cfg, const char *remote_topic, int qos, bool retain,
                  rules_allowed_fn allowed, void *ctx, struct rule_result *out, char *why,
                  size_t whylen)
{
    const struct cfg_bridge *b = &cfg->bridge;
    struct rule_result res;
    int rc = rules_apply(cfg, b->receive, b->n_receive, remote_topic, qos, true, retain, &res,
                         why, whylen);
    if (rc != RULES_MAPPED)
        return rc;
    if (!receive_allowed(cfg, res.topic, allowed, ctx)) {
        set_why(why, whylen, "local topic '%s' is not in receive_allow", res.topic);
        return RULES_DENIED;
    }
    *out = res;
    return RULES_MAPPED;
}

bool rules_would_loop(const struct config *cfg, const char *local_topic)
{
    struct rule_result res;
    return rules_forward(cfg, local_topic, 2, false, &res, NULL, 0) == RULES_MAPPED;
}

/* ---- subscriptions ------------------------------------------------------------- */

size_t rules_subscriptions(const struct config *cfg, enum rules_side side,
                           struct rules_sub *subs, size_t n)
{
    const struct cfg_bridge *b = &cfg->bridge;
    const struct cfg_topic_rule *rules = side == RULES_LOCAL ? b->forward : b->receive;
    size_t n_rules = side == RULES_LOCAL ? b->n_forward : b->n_receive, count = 0;
    for (size_t i = 0; i < n_rules; i++) {
        const char *f = rules[i].filter;
        bool seen = !f;
        for (size_t j = 0; j < i && !seen; j++)
            seen = rules[j].filter && strcmp(rules[j].filter, f) == 0;
        if (seen)
            continue;
        int qos = clamp_qos((int)rules[i].qos);
        for (size_t j = i + 1; j < n_rules; j++)
            if (rules[j].filter && strcmp(rules[j].filter, f) == 0 && rules[j].qos > qos)
                qos = clamp_qos((int)rules[j].qos);
        if (count < n)
            subs[count] = (struct rules_sub){ .filter = f, .qos = qos };
        count++;
    }
    return count;
}
