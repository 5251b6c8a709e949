/* The broker's subscription tree: which sessions want a topic. A trie over
 * topic levels holding each session's subscription options, including MQTT 5
 * shared subscriptions ($share/{group}/{filter}) served round-robin.
 * Single-threaded, like the rest of the broker: every call from the loop's
 * thread. Filter syntax is checked by the caller (gateway/mqtt), not here. */
#ifndef MQGATE_BROKER_SUBS_H
#define MQGATE_BROKER_SUBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct subs;

/* What a session asked for in SUBSCRIBE, as granted by the broker. */
struct sub_options {
    uint8_t qos;                /* granted maximum QoS, 0..2 */
    bool no_local;              /* MQTT 5: not to the publishing session */
    bool retain_as_published;   /* MQTT 5: keep the RETAIN flag on forward */
    uint8_t retain_handling;    /* MQTT 5: 0..2, used at SUBSCRIBE time */
    uint32_t id;                /* subscription identifier, 0 = none */
    /* Output only: subs_add ignores it; the options subs_match passes to its
     * callback have it true for a delivery chosen from a share group. A
     * shared delivery is never merged with the session's own non-shared
     * ones (MQTT 5 4.8.2: the session may get both copies). */
    bool shared;
};

/* Memory seam, in the manner of Lua's allocator: with new_size > 0, resize
 * `ptr` (NULL: a new block) from old_size to new_size bytes and return it, or
 * NULL with `ptr` untouched; with new_size == 0, free `ptr` and return NULL.
 * Sizes are exact, so a broker-wide wrapper can account bytes and enforce a
 * limit without headers of its own; tests inject failures through it. */
typedef void *subs_alloc_fn(void *ctx, void *ptr, size_t old_size, size_t new_size);

/* ---- lifetime ----------------------------------------------------------- */

/* An empty tree. `alloc` NULL: the C library. Returns NULL when out of
 * memory. The tree borrows alloc_ctx for its lifetime. */
struct subs *subs_new(subs_alloc_fn *alloc, void *alloc_ctx);

/* Free the tree and every subscription in it. Owners are opaque to the tree
 * and are not freed. NULL is a no-op. Not from a subs_match callback. */
void subs_free(struct subs *subs);

/* ---- changes ------------------------------------------------------------ */

/* Subscribe `owner` (an opaque session pointer, borrowed until removed) to
 * `filter`, with a copy of `opt`. `$share/{group}/{filter}` makes owner a
 * member of share group {group} on {filter}; one owner may be in several
 * groups on the same filter, and also hold a non-shared subscription to it.
 * Returns 1 when added, 0 when owner already had this subscription (same
 * filter, same group if shared) and its options were replaced (MQTT 3.8.4),
 * -EINVAL (filter NULL or empty, `$share` without a group or a filter, opt
 * NULL, qos or retain_handling above 2), or -ENOMEM, with the tree unchanged.
 * Replacing never allocates. */
int subs_add(struct subs *subs, const char *filter, void *owner, const struct sub_options *opt);

/* Unsubscribe `owner` from `filter` (`$share/{group}/{filter}`: leave that
 * group only). Nodes and groups left empty are freed at once, so the tree
 * does not grow with subscribe/unsubscribe churn. Cannot fail for want of
 * memory (arrays are shrunk when the allocator agrees, kept when not).
 * Returns 0, -ENOENT (owner had no such subscription) or -EINVAL (as add). */
int subs_remove(struct subs *subs, const char *filter, void *owner);

/* ---- matching ----------------------------------------------------------- */

/* One delivery. `opt` points into the tree: valid during the call only. */
typedef void subs_match_fn(void *ctx, void *owner, const struct sub_options *opt);

/* Whether a share-group member may take a message now (e.g. its session is
 * connected and under its in-flight limit). */
typedef bool subs_member_ok_fn(void *ctx, void *owner);

/* Set (or with NULL, clear) the share-group member test subs_match uses.
 * Without one every member is ok. */
void subs_set_member_ok(struct subs *subs, subs_member_ok_fn *ok, void *ok_ctx);

/* Call fn(ctx, owner, opt) for every subscription matching `topic` (a topic
 * name, no wildcards): once per matching non-shared subscription, and once
 * per matching share group with one member chosen round-robin, skipping
 * members the member_ok test refuses; if it refuses all, the next in turn is
 * chosen anyway (the caller queues or drops by its own rules). Call order is
 * unspecified.
 *
 * Rules (MQTT 4.7): `+` matches exactly one level, also an empty one; `#`
 * matches its parent level and every level below (`a/#` matches `a`); a
 * topic starting with `$` is not matched by a filter whose first level is
 * `+` or `#`; levels compare byte for byte; empty levels are levels
 * (`/a` has two, `a//b` three).
 *
 * One owner may be called several times for one topic, through overlapping
 * filters: aggregating those (the maximum QoS, every subscription id, MQTT
 * 3.3.4) is the caller's job, and deliveries with opt->shared set are
 * separate copies, not to be merged.
 *
 * Never allocates; visits the nodes the topic's levels lead to (the exact
 * child, `+` and `#` at each level), not the whole tree. fn and member_ok
 * must not call back into this tree (no add, remove, match or free): the
 * walk holds positions in it. Not const: share groups advance their turn. */
void subs_match(struct subs *subs, const char *topic, subs_match_fn *fn, void *ctx);

/* ---- counters ----------------------------------------------------------- */

/* Subscriptions in the tree, each share-group member counted as one ($SYS). */
size_t subs_count(const struct subs *subs);

#endif
