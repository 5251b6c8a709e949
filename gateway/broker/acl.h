/* The broker's access control list: Mosquitto's acl_file format, loaded and
 * checked with Mosquitto 2.0's decisions for READ and WRITE, so an existing
 * acl_file works unchanged; SUBSCRIBE is checked too, which Mosquitto 2.0
 * does not do (see below). Pure: text (or a file) in, allow/deny out; it
 * knows nothing of sessions or packets, and reads no file but its own. */
#ifndef MQGATE_BROKER_ACL_H
#define MQGATE_BROKER_ACL_H

#include <stdbool.h>
#include <stddef.h>

struct diag;

/* A loaded ACL: immutable once loaded, so any number of checks may read it
 * (from any thread) until acl_free. Reload = load a new one, swap, free the
 * old one. */
struct acl;

/* ---- the file ------------------------------------------------------------
 * One rule per line, fields separated by spaces (a tab is not a separator,
 * as in Mosquitto, which refuses such a line):
 *
 *   topic   [read|write|readwrite|deny] FILTER   a rule for the current block
 *   user    USERNAME                             start (or reopen) USERNAME's block
 *   pattern [read|write|readwrite|deny] FILTER   a rule for every client
 *   # ...                                        comment ('#' in column 1 only)
 *
 * `topic` lines before the first `user` line form the anonymous block
 * (clients without a user name); after `user NAME`, they belong to NAME's
 * block until the next `user` line. A block opened twice is one block.
 * `pattern` lines are global wherever they are. With the access word left
 * out, the access is readwrite and the FILTER is the rest of the line, so
 * "topic read" alone grants readwrite on the topic "read" (Mosquitto's
 * reading; a warning says so). FILTER is the rest of the line, trimmed, and
 * may hold spaces; it must be a valid topic filter (gateway/mqtt/topic.h)
 * with at most 200 '/' (Mosquitto's TOPIC_HIERARCHY_LIMIT).
 * USERNAME is the rest of the line, trimmed. Trailing whitespace (also CR)
 * is ignored; blank lines too.
 *
 * In a `pattern` FILTER, "%c" stands for the client id and "%u" for the user
 * name, anywhere in a level ("dev/%c/#", "log/u-%u"); in `topic` lines they
 * are literal text (a warning says so). That is how rules per client id are
 * written: there is no `clientid` block (Mosquitto has none, and a client
 * chooses its own id, so a block granting rights by id alone would grant
 * them to whoever claims the id).
 *
 * ---- the decision (Mosquitto 2.0.11, src/security_default.c
 * mosquitto_acl_check_default and src/security.c acl__check_dollar; verified
 * against the real broker by tests/unit/test_broker_acl.c) ----------------
 * For READ and WRITE on `topic`, the first of these that applies decides:
 *  1. $ topics, for every client and also without an ACL file
 *     (acl__check_dollar): WRITE to a topic starting "$SYS" is denied unless
 *     it matches "$SYS/broker/connection/+/state"; READ and WRITE of a topic
 *     starting "$share" are denied.
 *  2. No ACL (acl == NULL, no acl_file configured): allowed.
 *  3. The client's block: its user name's block, or the anonymous block when
 *     it has none (a user with no block of its own does NOT get the
 *     anonymous block). A matching `deny` rule denies; else a matching rule
 *     whose access includes `access` allows. Deny wins over allow whatever
 *     the order of the lines (Mosquitto puts deny rules first).
 *  4. If there is any `pattern` line: a user name or client id containing
 *     '+', '#' or '/' is denied here, for every pattern (so a crafted name
 *     cannot turn "dev/%u/#" into "dev/#" or reach into another client's
 *     "dev/other/…"). Mosquitto 2.0.11 refuses only '+' and '#' and would
 *     substitute "a/b" into "dev/a/b/#": refusing '/' is our one deliberate
 *     difference (Mosquitto 1.4 refused it too).
 *  5. Patterns, with %c and %u replaced (a pattern using %u never matches an
 *     anonymous client): deny first, then allow, as in 3.
 *  6. Otherwise denied: with an ACL file, anything not granted is denied (an
 *     empty file denies everything).
 * So a user's own `topic` grant beats a `pattern ... deny`, and a user's
 * `topic ... deny` beats a pattern grant: stage 3 is decided before 5.
 * Matching is MQTT filter matching (mqtt_topic_matches): a rule starting
 * with a wildcard does not match a topic starting with '$' ("#" does not
 * grant $SYS/..., "$SYS/#" does).
 *
 * ---- SUBSCRIBE: an mqgate check beyond Mosquitto 2.0 --------------------
 * Mosquitto 2.0's acl_file never checks a subscription ("FIXME - implement
 * ACL subscription strings" in mosquitto_acl_check_default): it grants any
 * filter and filters per delivered message. mqgate refuses, at SUBSCRIBE, a
 * filter its ACL does not wholly grant, so the client is told (MQTT 5
 * reason 0x87, MQTT 3.1.1 0x80, per filter) instead of silently getting
 * nothing. An acl_file that worked with Mosquitto keeps its READ and WRITE
 * meaning, but a client subscribing wider than its grants (say "#" with
 * only `topic read a/+/c`) is now refused and must subscribe narrower.
 *
 * A rule R COVERS a filter F when every topic F matches is matched by R
 * (the idea of mosquitto_sub_matches_acl in Mosquitto's development
 * branch, and what EMQX and HiveMQ users expect). With `read a/+/c`:
 * "a/x/c" and "a/+/c" are covered; "a/#", "+/+/c", "a/+" are not. With
 * `read a/#`: "a", "a/+", "a/b/#" are. With `read +/+/#`: "a/+" and
 * "+/b/#" are; "a" and "+/#" are not. Only "#" (or its equal "+/#", as the
 * empty string is no topic) covers "#". Level by level: a rule's '#'
 * covers what is left, including the level above it, as in matching; a
 * rule's '+' covers one level, '+' included; a literal (or %c/%u once
 * replaced) covers only itself. The $
 * rule holds as in matching: a rule starting with a wildcard covers no
 * filter whose first level starts with '$' ("#" does not cover "$SYS/#",
 * "$SYS/#" does), and a filter starting with a wildcard matches no $ topic,
 * so it needs no grant for them ("#" is covered by `read #`).
 *
 * The decision for SUBSCRIBE of F runs the stages of READ with "covers"
 * for "matches" and the read bit:
 *  1. Shared subscriptions: "$share/GROUP/G" is judged as its filter G (the
 *     messages a member receives are those of G; which member gets one is
 *     not the ACL's business). An invalid $share filter is denied. A filter
 *     whose text starts with "$share" ("$share", "$sharex/y", or G itself
 *     in "$share/g/$share/y") is denied: stage 1 denies READ of each topic
 *     it could match. A filter with a misplaced wildcard is denied. These
 *     hold without an ACL file too, as stage 1 does for READ and WRITE.
 *  2. No ACL: allowed.
 *  3. The client's block: a `deny` rule covering F denies; else a rule with
 *     read access covering F allows.
 *  4., 5. As for READ: names with '+', '#', '/' or no client id get no
 *     pattern; then patterns with %c/%u replaced, covering deny first.
 *  6. Otherwise denied.
 * One rule must cover F: grants do not add up ("a/+" and "a/+/#" granted
 * separately do not cover "a/#", though together they match all it does).
 * A deny rule that covers only part of F does not refuse it: with
 * `read a/#` and `deny a/secret`, "a/#" is granted and a/secret is then
 * withheld per message by READ. Hence the broker must STILL check READ for
 * EVERY message it is about to deliver (retained messages sent on
 * subscribe included) and not deliver a denied one (silently; the
 * subscription stays): a granted subscription is not a grant for every
 * message it matches. A SUBSCRIBE check of a topic name (no wildcards,
 * not starting with "$share") equals the READ check of that topic.
 *
 * WRITE is checked on each PUBLISH (Mosquitto answers a denied QoS 1/2
 * publish of an MQTT 5 client with reason 0x87 "not authorized", and drops
 * the message) and on a will message when it is about to be published.
 * In-process publishers and subscribers (drivers, the bridge) are not
 * network clients and are not checked; Mosquitto likewise skips its own
 * bridges. */

enum acl_access {
    ACL_READ = 1,      /* a message on `topic` is about to be delivered */
    ACL_WRITE = 2,     /* the client publishes on `topic` (also its will) */
    ACL_SUBSCRIBE = 4, /* the client subscribes to the filter `topic` */
};

/* Parse `text` (`len` bytes, no NUL needed; NUL bytes in it are an error)
 * named `name` in diagnostics. Every problem is recorded in `diag` as
 * "name:LINE:COL: error: …" (warnings too; they do not fail the load), all
 * of them, not just the first. Returns 0 and sets *out (the caller owns it:
 * acl_free), or -EINVAL when there was at least one error, -ENOMEM; *out is
 * untouched on failure. `diag` may be NULL (errors are then only counted
 * into the return value). Does not block; allocates. */
int acl_load_string(const char *name, const char *text, size_t len, struct acl **out,
                    struct diag *diag);

/* Read `path` whole, then as acl_load_string with the path as name. A file
 * that cannot be opened or read gives -errno, with "path: error: …" in
 * `diag`. Blocks on the read only. */
int acl_load_file(const char *path, struct acl **out, struct diag *diag);

/* Whether `username` (NULL: anonymous) with client id `client_id` (the id
 * the broker uses for the session, also an assigned one; NULL only if it
 * has none, which denies every pattern) may do `access` on `topic` (a topic
 * name, as the broker has validated it, for READ/WRITE; for SUBSCRIBE the
 * filter as the client sent it, "$share/GROUP/" included, validated by the
 * broker), following the decisions above. `acl` NULL means "no ACL file".
 * An empty topic, or an access other than the three, is denied. Safe from
 * any thread at once (reads only). No allocation, no I/O. Each block is a
 * trie of filter levels built at load time, so the cost follows the topic's
 * (filter's) levels and the rules that share them, not the number of rules:
 * with 200 rules on the development machine, 30-150 ns per READ/WRITE
 * check and 30-120 ns per SUBSCRIBE check (100-160 ns for a $share filter,
 * which mqtt_share_parse validates once more); test_broker_acl prints the
 * figures. */
bool acl_check(const struct acl *acl, const char *username, const char *client_id,
               const char *topic, enum acl_access access);
/* The same with a topic of `topic_len` bytes, not NUL-terminated. */
bool acl_check_n(const struct acl *acl, const char *username, const char *client_id,
                 const char *topic, size_t topic_len, enum acl_access access);

/* Number of rules loaded (topic and pattern lines), for a log line. */
size_t acl_rule_count(const struct acl *acl);

/* Free; NULL is fine. */
void acl_free(struct acl *acl);

#endif
