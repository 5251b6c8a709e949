/* Validate pass for `bridge`: the upstream URL and the TLS and credentials
 * that go with it, the client id, the forward and receive rules, the topics
 * upstream may publish to, and the spool's size. Runs only when the file has
 * a `bridge` section. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/validate.h"
#include "config/values.h"

enum url_scheme { URL_BAD, URL_MQTT, URL_MQTTS };

static const struct cfg_section *bridge_subsection(const char *key)
{
    return cfg_schema_bridge.keys[cfg_key_index(&cfg_schema_bridge, key)].section;
}

/* ---- url ---------------------------------------------------------------- */

/* Schemes people write for MQTT (Paho's, other clients'), and what we call them. */
static const struct {
    const char *written;
    const char *meant;
} scheme_aliases[] = {
    { "mqtt", "mqtt" }, { "mqtts", "mqtts" }, { "tcp", "mqtt" }, { "ssl", "mqtts" },
    { "tls", "mqtts" },
};

static void report_scheme(struct load_ctx *ctx, struct cfg_pos pos, const char *url)
{
    const char *sep = strstr(url, "://");
    if (!sep) {
        diag_error(ctx->diag, pos, "'url' must start with mqtt:// or mqtts://, got '%s'; "
                   "did you mean 'mqtt://%s'?", url, url);
        return;
    }
    size_t len = (size_t)(sep - url);
    for (size_t i = 0; i < sizeof(scheme_aliases) / sizeof(scheme_aliases[0]); i++) {
        if (strlen(scheme_aliases[i].written) == len &&
            strncasecmp(url, scheme_aliases[i].written, len) == 0) {
            diag_error(ctx->diag, pos, "'url' must start with mqtt:// or mqtts://, got '%s'; "
                       "did you mean '%s%s'?", url, scheme_aliases[i].meant, sep);
            return;
        }
    }
    diag_error(ctx->diag, pos, "'url' must start with mqtt:// or mqtts://, got '%s' (the bridge "
               "speaks MQTT over TCP or TLS only)", url);
}

/* The scheme, and in *rest what follows "://"; URL_BAD after reporting. */
static enum url_scheme url_scheme(struct load_ctx *ctx, struct cfg_pos pos, const char *url,
                                  const char **rest)
{
    if (strncmp(url, "mqtt://", 7) == 0) {
        *rest = url + 7;
        return URL_MQTT;
    }
    if (strncmp(url, "mqtts://", 8) == 0) {
        *rest = url + 8;
        return URL_MQTTS;
    }
    report_scheme(ctx, pos, url);
    return URL_BAD;
}

static bool host_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
}

/* "[v6]" at `p`: the end of it, or NULL when it is not an IPv6 address. */
static const char *bracketed_ipv6_end(const char *p)
{
    const char *close = strchr(p, ']');
    char addr[INET6_ADDRSTRLEN];
    struct in6_addr a6;
    if (!close || (size_t)(close - p - 1) >= sizeof(addr))
        return NULL;
    memcpy(addr, p + 1, (size_t)(close - p - 1));
    addr[close - p - 1] = '\0';
    return inet_pton(AF_INET6, addr, &a6) == 1 ? close + 1 : NULL;
}

/* "[v6]" or a name / IPv4 literal; returns the end of the host, or NULL
 * after reporting. */
static const char *url_host(struct load_ctx *ctx, struct cfg_pos pos, const char *url,
                            const char *p)
{
    if (*p == '[') {
        const char *end = bracketed_ipv6_end(p);
        if (!end)
            diag_error(ctx->diag, pos, "'url' has an invalid IPv6 address in its host, got '%s'",
                       url);
        return end;
    }
    size_t len = strcspn(p, ":/");
    if (len == 0) {
        bool bare_v6 = *p == ':' && strchr(p + 1, ':');
        diag_error(ctx->diag, pos, "'url' has no host, got '%s'%s", url,
                   bare_v6 ? " (write an IPv6 address in brackets: mqtt://[::1]:1883)" : "");
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        if (!host_char_ok(p[i])) {
            diag_error(ctx->diag, pos, "'url' has an invalid host '%.*s', got '%s'", (int)len, p,
                       url);
            return NULL;
        }
    }
    return p + len;
}

/* ":port" (1..65535); returns the end of it, or NULL after reporting. */
static const char *url_port(struct load_ctx *ctx, struct cfg_pos pos, const char *url,
                            const char *p)
{
    if (*p != ':')
        return p;
    p++;
    size_t len = strcspn(p, "/");
    bool digits = len > 0 && len <= 5 && strspn(p, "0123456789") == len;
    long port = digits ? strtol(p, NULL, 10) : 0;
    if (port < 1 || port > 65535) {
        diag_error(ctx->diag, pos, "'url' has an invalid port '%.*s' (1..65535), got '%s'",
                   (int)len, p, url);
        return NULL;
    }
    return p + len;
}

/* mqtt[s]://host[:port][/]; reports what is wrong, returns the scheme. */
static enum url_scheme check_url(struct load_ctx *ctx, const struct cfg_bridge *b)
{
    const char *url = b->url;
    if (!url)
        return URL_BAD;
    struct cfg_pos pos = POS_OF(ctx, &b->url, b->pos);
    if (strchr(url, '@')) {
        /* Not echoed: what precedes the '@' is most likely a password. */
        diag_error(ctx->diag, pos, "'url' must not contain a user name or password; use "
                   "'username' and 'password'");
        return URL_BAD;
    }
    const char *p;
    enum url_scheme scheme = url_scheme(ctx, pos, url, &p);
    if (scheme == URL_BAD || !(p = url_host(ctx, pos, url, p)) ||
        !(p = url_port(ctx, pos, url, p)))
        return scheme;
    if (*p == '/')
        p++;
    if (*p)
        diag_error(ctx->diag, pos, "'url' must end after the host and port (a trailing '/' at "
                   "most), got '%s'", url);
    return scheme;
}

/* ---- connection ----------------------------------------------------------- */

static void check_tls(struct load_ctx *ctx, const struct cfg_bridge *b, enum url_scheme scheme)
{
    const struct cfg_bridge_tls *t = &b->tls;
    if (scheme == URL_MQTT && cfg_is_set(&cfg_schema_bridge, b, "tls"))
        diag_error(ctx->diag, POS_OF(ctx, &b->tls, t->pos), "'tls' needs an mqtts:// url");
    if (t->cert_file && !t->key_file)
        diag_error(ctx->diag, POS_OF(ctx, &t->cert_file, t->pos), "'cert_file' needs 'key_file'");
    if (t->key_file && !t->cert_file)
        diag_error(ctx->diag, POS_OF(ctx, &t->key_file, t->pos), "'key_file' needs 'cert_file'");
}

static void check_credentials(struct load_ctx *ctx, const struct cfg_bridge *b)
{
    if (b->password && !b->username)
        diag_error(ctx->diag, POS_OF(ctx, &b->password, b->pos), "'password' needs 'username'");
}

/* Reported at the one the file sets: raising reconnect_min past the default
 * reconnect_max is as much the problem as lowering reconnect_max. */
static void check_reconnect(struct load_ctx *ctx, const struct cfg_bridge *b)
{
    if (b->reconnect_min <= b->reconnect_max)
        return;
    bool max_only = cfg_is_set(&cfg_schema_bridge, b, "reconnect_max") &&
                    !cfg_is_set(&cfg_schema_bridge, b, "reconnect_min");
    const void *field = max_only ? (const void *)&b->reconnect_max
                                 : (const void *)&b->reconnect_min;
    diag_error(ctx->diag, POS_OF(ctx, field, b->pos), "'reconnect_min' is longer than 'reconnect_max'");
}

static void check_client_id(struct load_ctx *ctx, const struct cfg_bridge *b)
{
    const struct cfg_template *t = &b->client_id;
    if (t->text && !*t->text)
        diag_error(ctx->diag, POS_OF(ctx, t, b->pos), "'client_id' must not be empty");
    else
        validate_template(ctx, t, "client_id", TEMPLATE_TEXT, TVARS_CLIENT_ID,
                          POS_IN_FILE(ctx, b->pos));
}

/* ---- rules ---------------------------------------------------------------- */

/* Whether some topic matching `filter` can start with `prefix`. Topics
 * never contain wildcards, so a prefix with one never matches. */
static bool filter_allows_prefix(const char *filter, const char *prefix)
{
    if (strpbrk(prefix, "+#"))
        return false;
    const char *f = filter, *p = prefix;
    while (*p) {
        bool level_start = f == filter || f[-1] == '/';
        if (level_start && *f == '#')
            return true;
        if (level_start && *f == '+') {
            p += strcspn(p, "/");
            f++;
            continue;
        }
        if (*f != *p)
            return false;
        f++;
        p++;
    }
    return true;
}

/* Returns whether the filter is valid. */
static bool check_rule_filter(struct load_ctx *ctx, const struct cfg_topic_rule *r)
{
    if (!r->filter)
        return false;
    const char *problem = validate_topic_filter(r->filter);
    if (problem)
        diag_error(ctx->diag, POS_OF(ctx, &r->filter, r->pos), "'filter': %s, got '%s'", problem,
                   r->filter);
    return problem == NULL;
}

static void check_rule_topic(struct load_ctx *ctx, const struct cfg_topic_rule *r)
{
    if (!r->topic.text)
        return;
    /* Both errors sit at `topic`, where only the first is kept: the choice
     * between topic and prefixes comes before the template's spelling. */
    struct cfg_pos pos = POS_OF(ctx, &r->topic, r->pos);
    const char *with = r->strip_prefix && r->add_prefix ? "'strip_prefix' and 'add_prefix'" :
                       r->strip_prefix ? "'strip_prefix'" : r->add_prefix ? "'add_prefix'" : NULL;
    if (with)
        diag_error(ctx->diag, pos, "'topic' cannot be combined with %s", with);
    validate_template(ctx, &r->topic, "topic", TEMPLATE_TOPIC, TVARS_BRIDGE_TOPIC, pos);
}

static void check_rule_prefixes(struct load_ctx *ctx, const struct cfg_topic_rule *r,
                                bool filter_ok)
{
    if (r->add_prefix && strpbrk(r->add_prefix, "+#"))
        diag_error(ctx->diag, POS_OF(ctx, &r->add_prefix, r->pos),
                   "'add_prefix' must not contain wildcards ('+', '#'), got '%s'", r->add_prefix);
    if (r->strip_prefix && filter_ok && !filter_allows_prefix(r->filter, r->strip_prefix))
        diag_warning(ctx->diag, POS_OF(ctx, &r->strip_prefix, r->pos),
                     "'strip_prefix' '%s' is never stripped: no topic matching '%s' starts "
                     "with it", r->strip_prefix, r->filter);
}

static void check_rule(struct load_ctx *ctx, const struct cfg_topic_rule *r)
{
    bool filter_ok = check_rule_filter(ctx, r);
    check_rule_topic(ctx, r);
    check_rule_prefixes(ctx, r, filter_ok);
}

static void check_forward_rule(struct load_ctx *ctx, const struct cfg_topic_rule *r)
{
    check_rule(ctx, r);
    if (cfg_is_set(bridge_subsection("forward"), r, "spool") && !r->spool && r->qos >= 1)
        diag_error(ctx->diag, POS_OF(ctx, &r->spool, r->pos), "'spool: false' needs 'qos: 0': "
                   "QoS 1 and 2 messages are always spooled");
}

/* ---- receive_allow ------------------------------------------------------ */

/* `text` with every "{gateway}" replaced by `gateway`; NULL when out of memory. */
static char *replace_gateway(const char *text, const char *gateway)
{
    static const char var[] = "{gateway}";
    const size_t var_len = sizeof(var) - 1, gw_len = strlen(gateway);
    size_t n = 0;
    for (const char *s = strstr(text, var); s; s = strstr(s + var_len, var))
        n++;
    char *out = malloc(strlen(text) + n * gw_len + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (const char *s = text, *hit; *s; s = hit + var_len) {
        hit = strstr(s, var);
        size_t lit = hit ? (size_t)(hit - s) : strlen(s);
        memcpy(o, s, lit);
        o += lit;
        if (!hit)
            break;
        memcpy(o, gateway, gw_len);
        o += gw_len;
    }
    *o = '\0';
    return out;
}

/* Entries have no positions of their own and one position keeps only its
 * first error, so every bad entry goes into one message. */
static void append_problem(char *buf, size_t size, const char *problem, const char *entry)
{
    size_t used = strlen(buf);
    if (used < size)
        snprintf(buf + used, size - used, "%s%s, got '%s'", used ? "; " : "", problem, entry);
}

/* Only as written: the default is valid for any valid gateway name. */
static void check_receive_allow(struct load_ctx *ctx, const struct cfg_bridge *b,
                                const char *gateway)
{
    if (!cfg_is_set(&cfg_schema_bridge, b, "receive_allow"))
        return;
    struct cfg_pos pos = POS_OF(ctx, &b->receive_allow, b->pos);
    char problems[768] = "";
    for (size_t i = 0; i < b->receive_allow.count; i++) {
        const char *entry = b->receive_allow.items[i];
        char *filter = replace_gateway(entry, gateway);
        if (!filter) {
            diag_error(ctx->diag, pos, "out of memory");
            return;
        }
        const char *problem = validate_topic_filter(filter);
        if (problem)
            append_problem(problems, sizeof(problems), problem, entry);
        free(filter);
    }
    if (problems[0])
        diag_error(ctx->diag, pos, "'receive_allow': %s", problems);
}

/* ---- spool ---------------------------------------------------------------- */

/* The spool fills one segment while the oldest drains; with room for one
 * segment only, dropping the oldest would drop everything. */
static void check_spool(struct load_ctx *ctx, const struct cfg_bridge *b)
{
    const struct cfg_spool *s = &b->spool;
    if (s->max_size >= 2 * s->segment_size)
        return;
    const struct cfg_section *sec = bridge_subsection("spool");
    bool segment_only = cfg_is_set(sec, s, "segment_size") && !cfg_is_set(sec, s, "max_size");
    const void *field = segment_only ? (const void *)&s->segment_size : (const void *)&s->max_size;
    char max[32], segment[32];
    value_format_size(s->max_size, max, sizeof(max));
    value_format_size(s->segment_size, segment, sizeof(segment));
    diag_error(ctx->diag, POS_OF(ctx, field, s->pos.line ? s->pos : b->pos),
               "'max_size' (%s) is less than twice 'segment_size' (%s): the spool needs room for "
               "at least two segments", max, segment);
}

void validate_bridge(struct load_ctx *ctx, struct config *cfg)
{
    const struct cfg_bridge *b = &cfg->bridge;
    if (!cfg_is_set(&cfg_schema_root, cfg, "bridge"))
        return;
    /* Checks that combine several keys of one block run only when every key
     * of that block parsed (see load_poison). */
    if (!load_is_poisoned(ctx, b) && !load_is_poisoned(ctx, &b->tls)) {
        check_tls(ctx, b, check_url(ctx, b));
        check_credentials(ctx, b);
        check_reconnect(ctx, b);
        check_client_id(ctx, b);
        check_receive_allow(ctx, b, cfg->gateway.name ? cfg->gateway.name : "mqgate");
    }
    for (size_t i = 0; i < b->n_forward; i++)
        if (!load_is_poisoned(ctx, &b->forward[i]))
            check_forward_rule(ctx, &b->forward[i]);
    for (size_t i = 0; i < b->n_receive; i++)
        if (!load_is_poisoned(ctx, &b->receive[i]))
            check_rule(ctx, &b->receive[i]);
    if (!load_is_poisoned(ctx, &b->spool))
        check_spool(ctx, b);
    if (b->enabled && b->n_forward == 0 && b->n_receive == 0)
        diag_warning(ctx->diag, POS_IN_FILE(ctx, b->pos),
                     "the bridge forwards nothing: it has no 'forward' and no 'receive' rules");
}
