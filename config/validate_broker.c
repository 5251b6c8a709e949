/* Validate pass for `broker`: each listener's address, protocol and TLS
 * settings, listeners that clash, listeners that leave the broker open to
 * the network, and limits that contradict each other. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "config/validate.h"
#include "config/values.h"

/* A bind address as the kernel sees it, so "::1" and "0:0::1" compare equal.
 * family 0: "localhost" (or not an address at all). */
struct bind_addr {
    int family;
    unsigned char bytes[16];
};

static bool bind_parse(const char *text, struct bind_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (!text)
        return false;
    if (inet_pton(AF_INET, text, a->bytes) == 1)
        a->family = AF_INET;
    else if (inet_pton(AF_INET6, text, a->bytes) == 1)
        a->family = AF_INET6;
    else
        return strcmp(text, "localhost") == 0;
    return true;
}

/* Loopback: 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104 and "localhost". Anything
 * else, the wildcards 0.0.0.0 and :: included, is reachable from the network. */
static bool bind_is_loopback(const struct bind_addr *a)
{
    static const unsigned char v6_loopback[16] = { [15] = 1 };
    static const unsigned char v4_mapped[12] = { [10] = 0xff, [11] = 0xff };
    switch (a->family) {
    case AF_INET: return a->bytes[0] == 127;
    case AF_INET6:
        return memcmp(a->bytes, v6_loopback, 16) == 0 ||
               (memcmp(a->bytes, v4_mapped, 12) == 0 && a->bytes[12] == 127);
    default: return true; /* localhost */
    }
}

static bool bind_equal(const char *x, const char *y)
{
    struct bind_addr a, b;
    if (!bind_parse(x, &a) || !bind_parse(y, &b))
        return false;
    if (a.family != b.family)
        return false;
    return a.family ? memcmp(a.bytes, b.bytes, sizeof(a.bytes)) == 0 : strcmp(x, y) == 0;
}

/* "127.0.0.1:1883", "[::1]:1883": how a listener is named in messages. */
static const char *listener_name(const struct cfg_listener *l, char *buf, size_t size)
{
    const char *bind = l->bind ? l->bind : "?";
    bool v6 = strchr(bind, ':') != NULL;
    snprintf(buf, size, "%s%s%s:%lld", v6 ? "[" : "", bind, v6 ? "]" : "", (long long)l->port);
    return buf;
}

static const struct cfg_section *listener_section(void)
{
    return cfg_schema_broker.keys[cfg_key_index(&cfg_schema_broker, "listeners")].section;
}

static void check_bind(struct load_ctx *ctx, const struct cfg_listener *l)
{
    struct bind_addr a;
    if (l->bind && !bind_parse(l->bind, &a))
        diag_error(ctx->diag, POS_OF(ctx, &l->bind, l->pos),
                   "'bind' must be an IPv4 or IPv6 address or 'localhost' (host names are not "
                   "resolved), got '%s'", l->bind);
}

/* Port 0 asks for any free port, so several listeners may share it. The
 * error points at the second one's port (else its bind, else the listener):
 * the listener's own position is where a missing TLS key is reported, and
 * one position keeps only its first error. */
static void check_unique(struct load_ctx *ctx, const struct cfg_broker *b, size_t i)
{
    const struct cfg_listener *l = &b->listeners[i];
    if (l->port == 0)
        return;
    for (size_t j = 0; j < i; j++) {
        const struct cfg_listener *first = &b->listeners[j];
        if (first->port == l->port && bind_equal(first->bind, l->bind)) {
            char name[80];
            diag_error(ctx->diag, POS_OF(ctx, &l->port, POS_OF(ctx, &l->bind, l->pos)),
                       "listener %s is defined twice (first at %u:%u)",
                       listener_name(l, name, sizeof(name)), first->pos.line, first->pos.col);
            return;
        }
    }
}

/* One message for both keys: a position keeps only its first error. */
static void check_protocol(struct load_ctx *ctx, const struct cfg_listener *l)
{
    const struct cfg_listener_tls *t = &l->tls;
    if (l->protocol != CFG_LISTENER_MQTTS) {
        if (cfg_is_set(listener_section(), l, "tls"))
            diag_error(ctx->diag, POS_OF(ctx, t, t->pos), "'tls' needs 'protocol: mqtts'");
        return;
    }
    if (t->cert_file && t->key_file)
        return;
    const char *missing = t->cert_file ? "'tls.key_file'" :
                          t->key_file ? "'tls.cert_file'" :
                          "'tls.cert_file' and 'tls.key_file'";
    diag_error(ctx->diag, POS_IN_FILE(ctx, l->pos), "'protocol: mqtts' needs %s", missing);
}

/* Client certificates are checked against ca_file; without one, nothing
 * could pass, and without a verified certificate there is no identity. */
static void check_client_certs(struct load_ctx *ctx, const struct cfg_listener_tls *t)
{
    if (t->require_certificate && !t->ca_file)
        diag_error(ctx->diag, POS_OF(ctx, &t->require_certificate, t->pos),
                   "'require_certificate' needs 'ca_file' (the CA client certificates must "
                   "chain to)");
    if (!t->use_identity_as_username || (t->ca_file && t->require_certificate))
        return;
    const char *missing = t->ca_file ? "'require_certificate: true'" :
                          t->require_certificate ? "'ca_file'" :
                          "'require_certificate: true' and 'ca_file'";
    diag_error(ctx->diag, POS_OF(ctx, &t->use_identity_as_username, t->pos),
               "'use_identity_as_username' needs %s", missing);
}

/* Only for listeners the broker will open, on an address others can reach. */
static void check_exposure(struct load_ctx *ctx, const struct cfg_broker *b,
                           const struct cfg_listener *l)
{
    struct bind_addr a;
    if (!b->enabled || !bind_parse(l->bind, &a) || bind_is_loopback(&a))
        return;
    char name[80];
    bool passwords = b->auth.password_file != NULL;
    bool client_certs = l->protocol == CFG_LISTENER_MQTTS && l->tls.require_certificate;
    if (l->allow_anonymous && !passwords && !client_certs)
        diag_warning(ctx->diag, POS_OF(ctx, &l->allow_anonymous, l->pos),
                     "listener %s allows anonymous clients and there is no 'auth.password_file': "
                     "anyone on the network can connect", listener_name(l, name, sizeof(name)));
    if (l->protocol == CFG_LISTENER_MQTT && passwords)
        diag_warning(ctx->diag, POS_OF(ctx, &l->protocol, l->pos),
                     "listener %s is plain mqtt on a non-loopback address: passwords cross the "
                     "network in clear text (use 'protocol: mqtts')",
                     listener_name(l, name, sizeof(name)));
}

static void check_listener(struct load_ctx *ctx, const struct cfg_broker *b, size_t i)
{
    const struct cfg_listener *l = &b->listeners[i];
    if (load_is_poisoned(ctx, l))
        return;
    check_bind(ctx, l);
    check_unique(ctx, b, i);
    if (load_is_poisoned(ctx, &l->tls))
        return;
    check_protocol(ctx, l);
    check_client_certs(ctx, &l->tls);
    check_exposure(ctx, b, l);
}

/* A message is queued whole: a per-client budget below the largest packet
 * would refuse exactly the messages the packet limit lets in. */
static void check_queue_limits(struct load_ctx *ctx, const struct cfg_broker *b)
{
    if (b->max_queued_bytes == 0 || b->max_queued_bytes >= b->max_packet_size)
        return;
    const void *culprit = cfg_is_set(&cfg_schema_broker, b, "max_queued_bytes") ||
                          !cfg_is_set(&cfg_schema_broker, b, "max_packet_size") ?
                          (const void *)&b->max_queued_bytes : (const void *)&b->max_packet_size;
    char queued[32], packet[32];
    value_format_size(b->max_queued_bytes, queued, sizeof(queued));
    value_format_size(b->max_packet_size, packet, sizeof(packet));
    diag_warning(ctx->diag, POS_OF(ctx, culprit, b->pos),
                 "'max_queued_bytes' (%s) is smaller than 'max_packet_size' (%s): a message of "
                 "the largest size could never be queued", queued, packet);
}

void validate_broker(struct load_ctx *ctx, struct config *cfg)
{
    const struct cfg_broker *b = &cfg->broker;
    for (size_t i = 0; i < b->n_listeners; i++)
        check_listener(ctx, b, i);
    check_queue_limits(ctx, b);
    if (!b->enabled && cfg_is_set(&cfg_schema_broker, b, "listeners"))
        diag_warning(ctx->diag, POS_OF(ctx, &b->listeners, b->pos),
                     "'listeners' are ignored: the broker is disabled ('enabled: false')");
}
