/* The bridge's topic rules as pure functions: which forward rule turns a local
 * message into an upstream one (and into what), which receive rule turns an
 * upstream message into a local one and whether receive_allow lets it in,
 * the filters the bridge subscribes with on each side, and loop detection.
 * No I/O, no allocation; topic matching is gateway/mqtt/topic.h's. */
#ifndef MQGATE_BRIDGE_RULES_H
#define MQGATE_BRIDGE_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/* Longest topic a rule may produce, in bytes. MQTT allows 65,535; cloud
 * brokers allow far less (AWS IoT: 256), and a bound keeps results on the
 * stack. A longer result is RULES_INVALID, never truncated. */
#define RULES_TOPIC_MAX 1023

/* What a forward rule makes of a local message, or a receive rule of a
 * remote one. */
struct rule_result {
    char topic[RULES_TOPIC_MAX + 1]; /* NUL-terminated, a valid topic name */
    size_t topic_len;
    int qos;                         /* 0..2 */
    bool retain;
    bool spool;                      /* forward: keep it in the spool while the uplink is down */
    size_t rule;                     /* index of the rule in cfg->bridge.forward / .receive */
};

enum rules_status {
    RULES_DENIED = -2,   /* receive: the local topic is not in receive_allow */
    RULES_INVALID = -1,  /* the input or the produced topic is not a valid topic name */
    RULES_NO_MATCH = 0,  /* no rule's filter matches: not bridged */
    RULES_MAPPED = 1,    /* *out is filled */
};

/*
 * Topic mapping (both directions, same for forward and receive rules):
 *  - the first rule, in configuration order, whose `filter` matches the
 *    topic (mqtt_topic_matches: '+', '#', and the '$' rule) applies; later
 *    rules are not tried, even when the first one's result is invalid;
 *  - `strip_prefix` is removed when the topic starts with it (byte-wise, as
 *    Mosquitto's bridge__remap_topic_in does), else the topic is kept whole;
 *  - then either `add_prefix` is put in front, or the `topic` template is
 *    rendered with {gateway} = cfg->gateway.name ("mqgate" when unset) and
 *    {topic} = the topic after stripping ({{ and }} are literal braces);
 *    with neither, the topic is carried over as it is.
 * The result is RULES_INVALID when it is empty, longer than RULES_TOPIC_MAX,
 * not valid UTF-8 (a prefix cut a character), holds '+' or '#' (a template
 * that skipped validation), or has an empty level that the mapping made
 * (stripping "a" from "a/b" leaves "/b"; add_prefix "x/" before it makes
 * "x//b"). Empty levels the input topic already had are carried along,
 * level for level: "a//b" forwarded by a plain "#" rule stays "a//b", and
 * add_prefix "x/" turns the input "/b" (whose first level is empty) into
 * "x//b".
 *
 * QoS: a forward rule's qos is the QoS of every message it sends upstream,
 * whatever QoS the message was published with locally: the rule states the
 * delivery guarantee towards the cloud (as Telegraf's and Neuron's MQTT
 * outputs do), so a reading published at QoS 0 on the LAN still reaches the
 * cloud at least once under a qos 1 rule. (Mosquitto's bridge instead sends
 * min(rule, message), which would silently make such readings QoS 0.)
 * A receive rule's qos is the QoS of the upstream subscription; the upstream
 * broker already sends at most that, and out->qos = min(rule qos, received
 * QoS) again, for brokers that upgrade.
 * Retain: CFG_RETAIN_KEEP passes the message's flag, ON/OFF force it.
 * Spool (forward only): QoS 1 and 2 results are always spooled; QoS 0 ones
 * when the rule's `spool` is true. Receive results have spool false.
 *
 * `why` (may be NULL) receives a one-line reason for RULES_INVALID and
 * RULES_DENIED, and is left alone otherwise. `out` is written only on
 * RULES_MAPPED. `qos` is clamped to 0..2. Any thread, no blocking; `cfg` is
 * only read.
 */

/* A local message (`topic`, a topic name) through cfg->bridge.forward. */
int rules_forward(const struct config *cfg, const char *topic, int qos, bool retain,
                  struct rule_result *out, char *why, size_t whylen);

/* The predicate of rules_receive: whether the local topic may be published
 * from upstream (e.g. "is the command topic of a writable point"). */
typedef bool (*rules_allowed_fn)(void *ctx, const char *local_topic);

/* An upstream message through cfg->bridge.receive, then the allow check on
 * the local topic it maps to:
 *  - cfg->bridge.receive_allow not empty: the local topic must match one of
 *    its filters, each with "{gateway}" replaced by the gateway name (an
 *    entry longer than RULES_TOPIC_MAX + 64 bytes once replaced never
 *    matches); `allowed` is not consulted;
 *  - the list empty (`receive_allow: []`): `allowed(ctx, local topic)`
 *    decides; with `allowed` NULL nothing is allowed.
 * Returns RULES_DENIED (with `why`) when the check refuses. */
int rules_receive(const struct config *cfg, const char *remote_topic, int qos, bool retain,
                  rules_allowed_fn allowed, void *ctx, struct rule_result *out, char *why,
                  size_t whylen);

/* Whether a local topic (typically what rules_receive produced) would be
 * forwarded upstream again: rules_forward maps it. The bridge should then not
 * forward that message (Mosquitto likewise never sends a message back to the
 * bridge it came from: the source_id check in src/subs.c). */
bool rules_would_loop(const struct config *cfg, const char *local_topic);

/* ---- subscriptions ------------------------------------------------------- */

enum rules_side {
    RULES_LOCAL,   /* the forward rules' filters, on the embedded broker */
    RULES_REMOTE,  /* the receive rules' filters, on the upstream broker */
};

struct rules_sub {
    const char *filter;   /* borrowed from cfg: valid while cfg is */
    int qos;              /* the highest qos of the rules with this filter */
};

/* The filters the bridge subscribes with on one side, in rule order, each
 * filter once (rules sharing a filter share one subscription, at their
 * highest qos). A rule's `filter` is already in the terms of the side it
 * subscribes on (README: forward filters are local, receive filters
 * remote), so no mapping is applied. Stores up to `n` entries in `subs`
 * (may be NULL when n is 0) and returns how many there are, like snprintf:
 * a return above n means the list was cut. */
size_t rules_subscriptions(const struct config *cfg, enum rules_side side,
                           struct rules_sub *subs, size_t n);

#endif
