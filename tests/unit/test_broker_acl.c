/* Unit tests for gateway/broker/acl: the decision rules of acl.h one by one,
 * parse errors with file:line:col, a random cross-check against a literal
 * transcription of Mosquitto's algorithm (READ/WRITE) and against a brute
 * force reference of "a rule covers a filter" (SUBSCRIBE, mqgate's own
 * check), a quick speed figure with 200 rules, and one table of cases run
 * both through our engine and through a real Mosquitto (when installed) to
 * show the two answer alike for READ and WRITE. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "config/diag.h"
#include "gateway/broker/acl.h"
#include "gateway/mqtt/mqtt.h"
#include "gateway/mqtt/topic.h"
#include "tests/unit/mosquitto_fixture.h"

#define R ACL_READ
#define W ACL_WRITE
#define S ACL_SUBSCRIBE

/* ---- helpers ------------------------------------------------------------ */

static struct acl *load(const char *text)
{
    struct diag d;
    diag_init(&d);
    struct acl *acl = NULL;
    int rc = acl_load_string("test.acl", text, strlen(text), &acl, &d);
    if (rc != 0 || d.errors)
        diag_print(&d, stderr);
    assert_int_equal(rc, 0);
    assert_int_equal(d.errors, 0);
    assert_non_null(acl);
    diag_free(&d);
    return acl;
}

/* Loads `text`, expects failure, and returns the diagnostics joined by '\n'
 * (caller frees). */
static char *load_fails(const char *text)
{
    struct diag d;
    diag_init(&d);
    struct acl *acl = (struct acl *)&d; /* must stay untouched */
    int rc = acl_load_string("bad.acl", text, strlen(text), &acl, &d);
    assert_int_equal(rc, -EINVAL);
    assert_ptr_equal(acl, (struct acl *)&d);
    assert_true(d.errors > 0);
    size_t cap = 4096, len = 0;
    char *out = calloc(1, cap);
    assert_non_null(out);
    for (size_t i = 0; i < d.count; i++) {
        char line[512];
        diag_format(&d.entries[i], line, sizeof line);
        len += (size_t)snprintf(out + len, cap - len, "%s\n", line);
        assert_true(len < cap);
    }
    diag_free(&d);
    return out;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, haystack);
}

static bool check(const struct acl *acl, const char *user, const char *cid, const char *topic,
                  enum acl_access a)
{
    return acl_check(acl, user, cid, topic, a);
}

/* ---- decisions ---------------------------------------------------------- */

static void test_no_acl_allows_all(void **state)
{
    (void)state;
    assert_true(check(NULL, NULL, "c", "a/b", R));
    assert_true(check(NULL, "u", "c", "a/b", W));
    assert_true(check(NULL, "u+#", "c/d", "a/b", W));
    assert_true(check(NULL, NULL, "c", "$SYS/broker/uptime", R));
    /* Mosquitto's fixed $ rules hold without an ACL file too. */
    assert_false(check(NULL, NULL, "c", "$SYS/x", W));
    assert_false(check(NULL, NULL, "c", "$share/g/x", R));
    assert_true(check(NULL, NULL, "c", "$other/x", W));
    /* every well-formed subscription, except those stage 1 empties */
    assert_true(check(NULL, NULL, "c", "#", S));
    assert_true(check(NULL, "u", "c", "$SYS/#", S));
    assert_true(check(NULL, "u", "c", "$share/g/#", S));
    assert_false(check(NULL, "u", "c", "$share/g/$share/x", S));
    assert_false(check(NULL, "u", "c", "$sharex/y", S));
    assert_false(check(NULL, "u", "c", "$share/g", S));
    assert_false(check(NULL, "u", "c", "a/#/b", S));
    assert_false(check(NULL, "u", "c", "", S));
}

static void test_empty_file_denies_all(void **state)
{
    (void)state;
    const char *texts[] = { "", "\n\n", "# only a comment\n", "   \n\t\n# x\n",
                            "user alice\n" };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        struct acl *acl = load(texts[i]);
        assert_int_equal(acl_rule_count(acl), 0);
        assert_false(check(acl, NULL, "c", "a", R));
        assert_false(check(acl, NULL, "c", "a", W));
        assert_false(check(acl, "alice", "c", "a", R));
        assert_false(check(acl, "alice", "c", "$SYS/broker/version", R));
        assert_false(check(acl, "alice", "c", "#", S));
        assert_false(check(acl, NULL, "c", "a", S));
        acl_free(acl);
    }
}

static void test_anonymous_and_users(void **state)
{
    (void)state;
    struct acl *acl = load("topic read pub/anon\n"
                           "topic write anon/out\n"
                           "user alice\n"
                           "topic readwrite a/alice/#\n"
                           "topic read pub/#\n"
                           "user bob\n"
                           "topic read b/one\n"
                           "user alice\n" /* reopened: one block */
                           "topic read a/more\n");
    assert_int_equal(acl_rule_count(acl), 6);
    /* anonymous: only the lines before the first user */
    assert_true(check(acl, NULL, "c", "pub/anon", R));
    assert_false(check(acl, NULL, "c", "pub/anon", W));
    assert_true(check(acl, NULL, "c", "anon/out", W));
    assert_false(check(acl, NULL, "c", "pub/other", R));
    assert_false(check(acl, NULL, "c", "a/alice/x", R));
    /* alice: her block, both parts, and not the anonymous lines */
    assert_true(check(acl, "alice", "c", "a/alice/x", W));
    assert_true(check(acl, "alice", "c", "a/alice", R)); /* '#' takes its parent */
    assert_true(check(acl, "alice", "c", "pub/anon", R));
    assert_true(check(acl, "alice", "c", "a/more", R));
    assert_false(check(acl, "alice", "c", "anon/out", W));
    assert_false(check(acl, "alice", "c", "b/one", R));
    /* bob has his own; a user without a block gets nothing, not anonymous' */
    assert_true(check(acl, "bob", "c", "b/one", R));
    assert_false(check(acl, "bob", "c", "a/more", R));
    assert_false(check(acl, "carol", "c", "pub/anon", R));
    assert_false(check(acl, "", "c", "pub/anon", R)); /* empty name is a name */
    /* names are exact */
    assert_false(check(acl, "Alice", "c", "a/more", R));
    assert_false(check(acl, "alice ", "c", "a/more", R));
    acl_free(acl);
}

static void test_access_kinds_and_deny(void **state)
{
    (void)state;
    struct acl *acl = load("user alice\n"
                           "topic read r/#\n"
                           "topic write w/#\n"
                           "topic readwrite rw/#\n"
                           "topic deny rw/secret\n" /* after the grant: still wins */
                           "topic rw2/#\n"          /* no access word: readwrite */
                           "topic deny r/x/#\n"
                           "topic read r/x/y\n"     /* more specific, later: deny still wins */
                           "topic read both\n"
                           "topic write both\n");
    assert_true(check(acl, "alice", "c", "r/a", R));
    assert_false(check(acl, "alice", "c", "r/a", W));
    assert_true(check(acl, "alice", "c", "w/a", W));
    assert_false(check(acl, "alice", "c", "w/a", R));
    assert_true(check(acl, "alice", "c", "rw/a", R));
    assert_true(check(acl, "alice", "c", "rw/a", W));
    assert_false(check(acl, "alice", "c", "rw/secret", R));
    assert_false(check(acl, "alice", "c", "rw/secret", W));
    assert_true(check(acl, "alice", "c", "rw/secret/below", R)); /* deny is exact */
    assert_true(check(acl, "alice", "c", "rw2/q", R));
    assert_true(check(acl, "alice", "c", "rw2/q", W));
    assert_false(check(acl, "alice", "c", "r/x/y", R));
    assert_false(check(acl, "alice", "c", "r/x", R));
    assert_true(check(acl, "alice", "c", "both", R));  /* two lines add up */
    assert_true(check(acl, "alice", "c", "both", W));
    acl_free(acl);
}

static void test_patterns(void **state)
{
    (void)state;
    struct acl *acl = load("topic read anon/#\n"
                           "pattern readwrite p/%u/x\n"
                           "pattern write dev/%c/#\n"
                           "pattern read m/x%c\n"
                           "pattern read both/%u-%c\n"
                           "pattern read pct/%%c/%x/100%\n"
                           "pattern read everyone/+\n"
                           "user alice\n"
                           "topic read lit/%c\n");
    /* %u for users; never for anonymous clients */
    assert_true(check(acl, "alice", "c1", "p/alice/x", W));
    assert_false(check(acl, "alice", "c1", "p/bob/x", W));
    assert_false(check(acl, NULL, "c1", "p//x", W));
    assert_false(check(acl, NULL, "c1", "p/%u/x", W));
    /* %c for everyone, anonymous included */
    assert_true(check(acl, "alice", "c1", "dev/c1/t/u", W));
    assert_true(check(acl, NULL, "c1", "dev/c1", W));
    assert_false(check(acl, "alice", "c1", "dev/c1/t", R)); /* write only */
    assert_false(check(acl, "alice", "c1", "dev/c2/t", W));
    /* inside a level, and twice in one */
    assert_true(check(acl, "alice", "c1", "m/xc1", R));
    assert_false(check(acl, "alice", "c1", "m/c1", R));
    assert_false(check(acl, "alice", "c1", "m/xc1x", R));
    assert_true(check(acl, "alice", "c1", "both/alice-c1", R));
    assert_false(check(acl, "alice", "c1", "both/alice-c2", R));
    /* a '%' that is not %c or %u is itself; "%%c" is '%' then the id */
    assert_true(check(acl, "alice", "c1", "pct/%c1/%x/100%", R));
    assert_false(check(acl, "alice", "c1", "pct/%%c/%x/100%", R));
    /* patterns without %: every client */
    assert_true(check(acl, "bob", "c9", "everyone/x", R));
    assert_true(check(acl, NULL, "c9", "everyone/x", R));
    /* %c in a topic line is literal */
    assert_true(check(acl, "alice", "c1", "lit/%c", R));
    assert_false(check(acl, "alice", "c1", "lit/c1", R));
    /* no client id: no pattern applies (the user stage still does) */
    assert_false(check(acl, NULL, NULL, "everyone/x", R));
    assert_true(check(acl, NULL, NULL, "anon/x", R));
    acl_free(acl);
}

static void test_stage_precedence(void **state)
{
    (void)state;
    struct acl *acl = load("user alice\n"
                           "topic readwrite own/#\n"
                           "topic deny d/#\n"
                           "pattern deny own/secret\n"
                           "pattern readwrite d/open\n"
                           "pattern deny open/%u/no\n"
                           "pattern readwrite open/#\n");
    /* the user's own grant is decided before the pattern deny… */
    assert_true(check(acl, "alice", "c", "own/secret", R));
    /* …and the user's own deny before the pattern grant */
    assert_false(check(acl, "alice", "c", "d/open", R));
    /* without a block, patterns alone: deny before grant */
    assert_false(check(acl, "bob", "c", "own/secret", R));
    assert_true(check(acl, "bob", "c", "d/open", R));
    assert_false(check(acl, "bob", "c", "open/bob/no", W));
    assert_true(check(acl, "bob", "c", "open/alice/no", W));
    assert_true(check(acl, NULL, "c", "open/x/no", W)); /* %u deny skipped for anonymous */
    acl_free(acl);
}

static void test_dangerous_names(void **state)
{
    (void)state;
    struct acl *acl = load("topic read anon/#\n"
                           "pattern readwrite p/%u/#\n"
                           "pattern readwrite q/%c/#\n"
                           "pattern read everyone/#\n"
                           "user x+y\n"
                           "topic read u/#\n");
    /* '+', '#' and '/' in a name: no pattern at all (not only %u/%c ones) */
    const char *bad[] = { "x+y", "h#", "a/b", "+", "#", "/", "a/", "/b" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_false(check(acl, bad[i], "c1", "everyone/1", R));
        assert_false(check(acl, NULL, bad[i], "everyone/1", R));
        assert_false(check(acl, "ok", bad[i], "q/c1/t", W));
    }
    /* "a/b" would have made p/a/b/#, inside user a's p/a/#; "#" would have made p/#/#… */
    assert_true(check(acl, "a", "c1", "p/a/b/t", W));
    assert_false(check(acl, "a/b", "c1", "p/a/b/t", W));
    assert_false(check(acl, "#", "c1", "p/zz/t", W));
    assert_false(check(acl, "+", "c1", "p/zz/t", W));
    assert_false(check(acl, NULL, "c/d", "q/c/d/t", W));
    /* the user stage comes first and is unaffected */
    assert_true(check(acl, "x+y", "c1", "u/1", R));
    assert_true(check(acl, NULL, "a+b", "anon/1", R));
    /* harmless names still work */
    assert_true(check(acl, "ok", "c1", "everyone/1", R));
    assert_true(check(acl, "ok", "c1", "q/c1/t", W));
    acl_free(acl);

    /* Without any pattern, nothing is substituted: such names are fine. */
    acl = load("topic read anon/#\nuser x+y\ntopic read u/#\n");
    assert_true(check(acl, "x+y", "a/b", "u/1", R));
    assert_true(check(acl, NULL, "h#", "anon/1", R));
    acl_free(acl);
}

/* ---- SUBSCRIBE: a brute-force reference for "covers" -------------------- */

/* covers(G, F) by definition: every topic F matches, G matches. The
 * topics are enumerated from F's levels over a finite alphabet: the
 * literal levels of G and F, plus "z" and "$z". That is exact, not a
 * sample: a level that is none of the literals is matched only by '+' or
 * '#' in either filter, so "z" ("$z" first, for the $ rule) stands for all
 * of them; and beyond max(levels of G, levels of F) levels only a trailing
 * '#' matches, so one level more than that is as deep as a difference can
 * need. Matching itself is mqtt_topic_matches, not the engine's trie. */
#define BF_LEVELS 16
#define BF_LEVEL_MAX 32
#define BF_ALPHA (2 * BF_LEVELS + 2)

struct bf {
    const char *rule;   /* G */
    const char *filter; /* F */
    char alpha[BF_ALPHA][BF_LEVEL_MAX];
    size_t n_alpha;
    char flv[BF_LEVELS][BF_LEVEL_MAX];
    size_t n_flv;
    size_t max_levels;
    bool covered;       /* no topic of F outside G yet */
    size_t topics;      /* topics tried */
};

static size_t bf_split(const char *f, char out[][BF_LEVEL_MAX], size_t max)
{
    size_t n = 0;
    for (const char *p = f;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        assert_true(n < max && len < BF_LEVEL_MAX);
        memcpy(out[n], p, len);
        out[n++][len] = '\0';
        if (!slash)
            return n;
        p = slash + 1;
    }
}

static void bf_alpha_add(struct bf *b, const char *level)
{
    if (strcmp(level, "+") == 0 || strcmp(level, "#") == 0)
        return;
    for (size_t i = 0; i < b->n_alpha; i++)
        if (strcmp(b->alpha[i], level) == 0)
            return;
    assert_true(b->n_alpha < BF_ALPHA);
    snprintf(b->alpha[b->n_alpha++], BF_LEVEL_MAX, "%s", level);
}

static void bf_try(struct bf *b, const char *topic, size_t len)
{
    if (len == 0)
        return; /* "" is no topic */
    b->topics++;
    if (mqtt_topic_matches(b->filter, strlen(b->filter), topic, len) &&
        !mqtt_topic_matches(b->rule, strlen(b->rule), topic, len))
        b->covered = false;
}

static size_t bf_append(char *topic, size_t len, size_t levels, const char *level)
{
    size_t n = strlen(level);
    if (levels > 0)
        topic[len++] = '/';
    memcpy(topic + len, level, n + 1);
    return len + n;
}

/* The topics F's levels from `i` on make, after `levels` levels in topic. */
static void bf_gen(struct bf *b, size_t i, char *topic, size_t len, size_t levels)
{
    if (!b->covered)
        return;
    if (i == b->n_flv) {
        bf_try(b, topic, len);
        return;
    }
    const char *f = b->flv[i];
    bool hash = strcmp(f, "#") == 0;
    if (hash && levels > 0)
        bf_try(b, topic, len); /* "a/#" matches "a" */
    if (hash && levels == b->max_levels)
        return;
    if (!hash && strcmp(f, "+") != 0) {
        bf_gen(b, i + 1, topic, bf_append(topic, len, levels, f), levels + 1);
        topic[len] = '\0';
        return;
    }
    for (size_t a = 0; a < b->n_alpha && b->covered; a++) {
        bf_gen(b, hash ? i : i + 1, topic, bf_append(topic, len, levels, b->alpha[a]),
               levels + 1);
        topic[len] = '\0';
    }
}

static bool bf_covers(const char *rule, const char *filter)
{
    struct bf b = { .rule = rule, .filter = filter, .covered = true };
    char glv[BF_LEVELS][BF_LEVEL_MAX];
    size_t ng = bf_split(rule, glv, BF_LEVELS);
    b.n_flv = bf_split(filter, b.flv, BF_LEVELS);
    for (size_t i = 0; i < ng; i++)
        bf_alpha_add(&b, glv[i]);
    for (size_t i = 0; i < b.n_flv; i++)
        bf_alpha_add(&b, b.flv[i]);
    bf_alpha_add(&b, "z");
    bf_alpha_add(&b, "$z");
    b.max_levels = (ng > b.n_flv ? ng : b.n_flv) + 1;
    char topic[BF_LEVELS * 2 * BF_LEVEL_MAX];
    topic[0] = '\0';
    bf_gen(&b, 0, topic, 0, 0);
    assert_true(b.topics > 0); /* every filter matches some topic */
    return b.covered;
}

/* One rule, one filter: what the engine says, granting and denying. */
static void check_cover_pair(const char *rule, const char *filter, bool covered)
{
    char text[256];
    snprintf(text, sizeof text, "topic read %s\n", rule);
    struct acl *acl = load(text);
    bool granted = check(acl, NULL, "c", filter, S);
    acl_free(acl);
    /* deny G over grants of everything: refused exactly when G covers F */
    snprintf(text, sizeof text, "topic deny %s\ntopic read #\ntopic read $SYS/#\n", rule);
    acl = load(text);
    bool refused = !check(acl, NULL, "c", filter, S);
    acl_free(acl);
    if (granted != covered || refused != covered)
        fail_msg("rule '%s', filter '%s': granted %d, refused by deny %d, covered %d", rule,
                 filter, granted, refused, covered);
}

static void test_subscribe_covering(void **state)
{
    (void)state;
    static const struct {
        const char *rule;
        const char *filter;
        bool covered;
    } pairs[] = {
        { "a/+/c", "a/x/c", true },    { "a/+/c", "a/+/c", true },
        { "a/+/c", "a/#", false },     { "a/+/c", "+/+/c", false },
        { "a/+/c", "a/+", false },     { "a/+/c", "a/x/c/#", false },
        { "a/+/c", "a/+/c/d", false }, { "a/+/c", "a/x/d", false },
        { "a/#", "a/b/#", true },      { "a/#", "a/+", true },
        { "a/#", "a", true },          { "a/#", "a/#", true },
        { "a/#", "#", false },         { "a/#", "+/b", false },
        { "a/#", "b", false },         { "a/b/#", "a/#", false },
        { "#", "#", true },            { "#", "+/+/#", true },
        { "#", "a", true },            { "#", "+/x", true },
        { "+/#", "#", true },          { "+/+/#", "#", false },
        { "+", "#", false },           { "+", "+/#", false },
        { "+/+/#", "a/+", true },      { "+/+/#", "+/b/#", true },
        { "+/+/#", "a", false },       { "+/+/#", "+/#", false },
        { "a/b", "a/b", true },        { "a/b", "a/+", false },
        { "a/b", "a/b/#", false },     { "a/b", "a", false },
        { "a/+", "a/", true },         { "a//x", "a/+/x", false },
        { "a/+/x", "a//x", true },     { "/#", "/+", true },
        { "/+/#", "/#", true },        { "+/+/#", "/#", true }, /* "" is no topic */
        { "/+/#", "/", true },         { "a/+/#", "a/#", false },
        /* the $ rule */
        { "#", "$SYS/#", false },      { "+/#", "$SYS/x", false },
        { "#", "$SYS", false },        { "$SYS/#", "$SYS/#", true },
        { "$SYS/#", "$SYS/broker/+", true }, { "$SYS/#", "#", false },
        { "$SYS/+", "$SYS/#", false }, { "$SYS/#", "$SYS", true },
        { "+/broker/#", "$SYS/broker/x", false },
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        /* the table is checked too, against the definition */
        if (bf_covers(pairs[i].rule, pairs[i].filter) != pairs[i].covered)
            fail_msg("table row %zu: brute force disagrees on '%s' covering '%s'", i,
                     pairs[i].rule, pairs[i].filter);
        check_cover_pair(pairs[i].rule, pairs[i].filter, pairs[i].covered);
    }
}

static void test_subscribe_stages(void **state)
{
    (void)state;
    struct acl *acl = load("user alice\n"
                           "topic read a/+/c\n"
                           "topic deny a/x/#\n"
                           "topic read r/#\n"
                           "topic deny r/secret\n"
                           "topic read $SYS/broker/#\n"
                           "topic read p/c1/hidden/mine\n"
                           "topic read $sharex/#\n"
                           "topic write w/#\n"
                           "pattern read p/%c/#\n"
                           "pattern deny p/%c/hidden/#\n"
                           "pattern read q/%u/#\n"
                           "pattern read shared/#\n"
                           "user bob\n"
                           "topic read b/#\n"
                           "topic deny shared/no/#\n");
    /* own block: a covering deny refuses; a partial one does not */
    assert_true(check(acl, "alice", "c1", "a/y/c", S));
    assert_false(check(acl, "alice", "c1", "a/x/c", S));
    assert_true(check(acl, "alice", "c1", "a/+/c", S));   /* a/x/c withheld by READ */
    assert_false(check(acl, "alice", "c1", "a/x/+", S));  /* covered by the deny */
    assert_false(check(acl, "alice", "c1", "a/#", S));    /* wider than the grant */
    assert_true(check(acl, "alice", "c1", "r/#", S));
    assert_false(check(acl, "alice", "c1", "r/secret", S));
    assert_true(check(acl, "alice", "c1", "r/secret/x", S));
    assert_false(check(acl, "alice", "c1", "w/#", S));    /* write is not read */
    assert_false(check(acl, "alice", "c1", "#", S));
    /* $SYS: only an explicit $ grant covers */
    assert_true(check(acl, "alice", "c1", "$SYS/broker/+", S));
    assert_false(check(acl, "alice", "c1", "$SYS/#", S));
    /* patterns after the block, %c and %u replaced */
    assert_true(check(acl, "alice", "c1", "p/c1/#", S));  /* pattern deny only partial */
    assert_false(check(acl, "alice", "c1", "p/c1/hidden/+", S));
    assert_false(check(acl, "alice", "c1", "p/c1/hidden/#", S)); /* block grant partial */
    assert_true(check(acl, "alice", "c1", "p/c1/hidden/mine", S)); /* block beats pattern */
    assert_false(check(acl, "alice", "c1", "p/c2/x", S));
    assert_false(check(acl, "alice", "c1", "p/+/x", S));
    assert_true(check(acl, "alice", "c1", "q/alice/+", S));
    assert_false(check(acl, "alice", "c1", "q/bob/+", S));
    assert_false(check(acl, NULL, "c1", "q/%u/x", S));    /* %u: not for anonymous */
    assert_true(check(acl, NULL, "c7", "p/c7/+", S));
    assert_true(check(acl, "alice", "c1", "shared/x", S));
    /* a user's deny is decided before a pattern grant, but only where it covers */
    assert_false(check(acl, "bob", "c2", "shared/no/x", S));
    assert_true(check(acl, "bob", "c2", "shared/#", S));
    assert_true(check(acl, "bob", "c2", "b/+", S));
    /* names that would change a pattern get none */
    assert_false(check(acl, "x+y", "c1", "shared/x", S));
    assert_false(check(acl, "carol", "c/d", "shared/x", S));
    assert_false(check(acl, "carol", NULL, "shared/x", S));
    assert_true(check(acl, "carol", "c3", "shared/x", S));
    /* shared subscriptions: judged by the filter part */
    assert_true(check(acl, "alice", "c1", "$share/g/a/y/c", S));
    assert_false(check(acl, "alice", "c1", "$share/g/a/#", S));
    assert_true(check(acl, "alice", "c1", "$share/g/$SYS/broker/#", S));
    assert_false(check(acl, "alice", "c1", "$share/g/$share/x", S));
    assert_false(check(acl, "alice", "c1", "$share//a/y/c", S)); /* no group */
    assert_false(check(acl, "alice", "c1", "$share/g", S));
    assert_false(check(acl, "alice", "c1", "$share/g+/a/y/c", S));
    /* READ of a "$share…" topic is always denied, so is a filter of them */
    assert_false(check(acl, "alice", "c1", "$sharex/y", S));
    /* malformed filters */
    assert_false(check(acl, "alice", "c1", "a/y/c+", S));
    assert_false(check(acl, "alice", "c1", "r/#/x", S));
    assert_false(check(acl, "alice", "c1", "r#", S));
    assert_false(check(acl, "alice", "c1", "", S));
    assert_false(check(acl, "alice", "c1", NULL, S));
    /* acl_check_n: the filter need not be NUL-terminated */
    assert_true(acl_check_n(acl, "alice", "c1", "r/#XX", 3, S));
    assert_false(acl_check_n(acl, "alice", "c1", "a/#XX", 3, S));
    acl_free(acl);
}

static void test_dollar_topics(void **state)
{
    (void)state;
    struct acl *acl = load("topic readwrite #\n"
                           "topic read +/broker/#\n"
                           "user alice\n"
                           "topic readwrite $SYS/#\n"
                           "topic readwrite $share/#\n"
                           "topic readwrite $app/#\n"
                           "pattern read $SYS/%c/#\n");
    /* wildcards first do not reach $ topics */
    assert_true(check(acl, NULL, "c", "x/broker/y", R));
    assert_false(check(acl, NULL, "c", "$SYS/broker/version", R));
    assert_false(check(acl, NULL, "c", "$app/x", R));
    /* an explicit $ rule does */
    assert_true(check(acl, "alice", "c", "$SYS/broker/version", R));
    assert_true(check(acl, "alice", "c", "$app/x", W));
    /* $SYS is never written, except a bridge's state */
    assert_false(check(acl, "alice", "c", "$SYS/broker/version", W));
    assert_false(check(acl, "alice", "c", "$SYSTEM/x", W)); /* Mosquitto's prefix test */
    assert_true(check(acl, "alice", "c", "$SYS/broker/connection/b1/state", W));
    assert_false(check(acl, "bob", "c", "$SYS/broker/connection/b1/state", W)); /* no grant */
    /* $share/... is not a topic to read or write */
    assert_false(check(acl, "alice", "c", "$share/g/x", R));
    assert_false(check(acl, "alice", "c", "$share/g/x", W));
    /* patterns with a literal $ first level */
    assert_true(check(acl, "bob", "c7", "$SYS/c7/x", R));
    assert_false(check(acl, "bob", "c7", "$SYS/c8/x", R));
    acl_free(acl);
}

static void test_topic_edges(void **state)
{
    (void)state;
    struct acl *acl = load("topic read a/+\n"
                           "topic read e//x\n"
                           "topic read /lead\n"
                           "topic read tail/\n"
                           "topic read sp/a b\n"
                           "user u\n"
                           "topic read +/+/#\n");
    assert_true(check(acl, NULL, "c", "a/", R));       /* '+' takes an empty level */
    assert_true(check(acl, NULL, "c", "a/b", R));
    assert_false(check(acl, NULL, "c", "a", R));
    assert_false(check(acl, NULL, "c", "a/b/c", R));
    assert_true(check(acl, NULL, "c", "e//x", R));
    assert_false(check(acl, NULL, "c", "e/x", R));
    assert_true(check(acl, NULL, "c", "/lead", R));
    assert_false(check(acl, NULL, "c", "lead", R));
    assert_true(check(acl, NULL, "c", "tail/", R));
    assert_false(check(acl, NULL, "c", "tail", R));
    assert_true(check(acl, "u", "c", "q/r", R));       /* "+/+/#" takes its parent */
    assert_true(check(acl, "u", "c", "q/r/s/t", R));
    assert_true(check(acl, "u", "c", "/", R));
    assert_false(check(acl, "u", "c", "q", R));
    assert_false(check(acl, "u", "c", "$q/r", R));
    assert_true(check(acl, NULL, "c", "sp/a b", R));
    assert_false(check(acl, NULL, "c", "", R));
    assert_false(check(acl, NULL, "c", NULL, R));
    assert_false(check(acl, NULL, "c", "sp/a b", (enum acl_access)0));
    /* acl_check_n takes a topic that is not NUL-terminated */
    assert_true(acl_check_n(acl, NULL, "c", "sp/a bXXX", 6, R));
    assert_false(acl_check_n(acl, NULL, "c", "sp/a bXXX", 7, R));
    acl_free(acl);
}

/* ---- the file format ---------------------------------------------------- */

static void test_format_leniency(void **state)
{
    (void)state;
    /* CRLF, trailing blanks, runs of spaces, leading spaces, spaces in a topic */
    struct acl *acl = load("# comment\r\n"
                           "\r\n"
                           "   \r\n"
                           "  topic   read    sp/a  b   \r\n"
                           "topic read\r\n"
                           "user   john smith  \r\n"
                           "topic  readwrite  al/#\t\r\n"
                           "pattern   write   w/%c");
    assert_true(check(acl, NULL, "c", "sp/a  b", R));
    assert_true(check(acl, NULL, "c", "read", W)); /* "topic read": topic "read", readwrite */
    assert_true(check(acl, "john smith", "c", "al/x", W));
    assert_true(check(acl, NULL, "c9", "w/c9", W)); /* last line without newline */
    acl_free(acl);
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *diag;
    } bad[] = {
        { "topic\n", "bad.acl:1:6: error: missing topic after 'topic'" },
        { "pattern   \n", "bad.acl:1:8: error: missing topic after 'pattern'" },
        { "topic bogus a/b\n", "bad.acl:1:7: error: unknown access 'bogus'" },
        { "topic raed a/b\n", "bad.acl:1:7: error: unknown access 'raed' (did you mean 'read'?)" },
        { "topic read a/#/b\n", "bad.acl:1:12: error: invalid topic filter 'a/#/b'" },
        { "topic read a+\n", "bad.acl:1:12: error: invalid topic filter 'a+'" },
        { "pattern read a/%u#\n", "bad.acl:1:14: error: invalid topic filter 'a/%u#'" },
        { "topic read a/\xff\n", "bad.acl:1:12: error: invalid topic filter" },
        { "user\n", "bad.acl:1:5: error: missing user name after 'user'" },
        { "user   \n", "bad.acl:1:5: error: missing user name after 'user'" },
        { "frob x\n", "bad.acl:1:1: error: unknown keyword 'frob'" },
        { "toppic read x\n", "bad.acl:1:1: error: unknown keyword 'toppic' (did you mean 'topic'?)" },
        { "Topic read x\n", "bad.acl:1:1: error: unknown keyword 'Topic' (did you mean 'topic'?)" },
        { "  # indented\n", "bad.acl:1:3: error: a comment must start in the first column" },
        { "topic\tread\tx\n", "bad.acl:1:1: error: fields must be separated by spaces, not tabs" },
        { "topic read a\0b\n", "bad.acl:1:13: error: NUL byte in the line" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        /* The NUL case needs its length: every text here ends with "\n". */
        const char *t = bad[i].text;
        size_t len = strlen(t);
        if (strstr(bad[i].diag, "NUL"))
            len = strlen(t) + 1 + strlen(t + strlen(t) + 1);
        struct diag d;
        diag_init(&d);
        struct acl *acl = NULL;
        assert_int_equal(acl_load_string("bad.acl", t, len, &acl, &d), -EINVAL);
        assert_null(acl);
        assert_true(d.count >= 1);
        char line[512];
        diag_format(&d.entries[0], line, sizeof line);
        if (strncmp(line, bad[i].diag, strlen(bad[i].diag)) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, line, bad[i].diag);
        diag_free(&d);
    }

    /* Mosquitto's limit of 200 separators in a filter */
    char deep[600];
    int o = snprintf(deep, sizeof deep, "topic read ");
    for (int i = 0; i < 200; i++)
        o += snprintf(deep + o, sizeof deep - (size_t)o, "a/");
    snprintf(deep + o, sizeof deep - (size_t)o, "b\n");
    struct acl *ok = load(deep);
    char topic[600];
    snprintf(topic, sizeof topic, "%.*s", o - (int)strlen("topic read ") + 1,
             deep + strlen("topic read "));
    assert_true(check(ok, NULL, "c", topic, R));
    topic[strlen(topic) - 1] = 'c';
    assert_false(check(ok, NULL, "c", topic, R));
    acl_free(ok);
    snprintf(deep + o, sizeof deep - (size_t)o, "a/b\n");
    char *msg = load_fails(deep);
    assert_contains(msg, "bad.acl:1:12: error: topic filter with 202 levels: at most 201");
    free(msg);

    /* All errors at once, each at its line; a good line between changes nothing. */
    char *all = load_fails("topic read ok\n"
                           "topic\n"
                           "user alice\n"
                           "topic wirte x\n"
                           "# fine\n"
                           "frob\n");
    assert_contains(all, "bad.acl:2:6: error: missing topic");
    assert_contains(all, "bad.acl:4:7: error: unknown access 'wirte' (did you mean 'write'?)");
    assert_contains(all, "bad.acl:6:1: error: unknown keyword 'frob'");
    free(all);

    /* Without a diag the result is the same. */
    struct acl *acl = NULL;
    assert_int_equal(acl_load_string("x", "frob\n", 5, &acl, NULL), -EINVAL);
    assert_null(acl);
}

static void test_warnings(void **state)
{
    (void)state;
    const char *text = "topic read\n"
                       "topic write a/%u\n"
                       "topic read b\tc\n"
                       "pattern read ok/%c\n";
    struct diag d;
    diag_init(&d);
    struct acl *acl = NULL;
    assert_int_equal(acl_load_string("w.acl", text, strlen(text), &acl, &d), 0);
    assert_non_null(acl);
    assert_int_equal(d.errors, 0);
    assert_int_equal(d.warnings, 3);
    char line[512];
    diag_format(&d.entries[0], line, sizeof line);
    assert_contains(line, "w.acl:1:7: warning: 'read' is taken as the topic, with readwrite");
    diag_format(&d.entries[1], line, sizeof line);
    assert_contains(line, "w.acl:2:13: warning: %c and %u are replaced only in 'pattern' lines");
    diag_format(&d.entries[2], line, sizeof line);
    assert_contains(line, "w.acl:3:12: warning: the topic 'b\tc' contains a tab");
    diag_free(&d);
    acl_free(acl);
}

static void test_load_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/acl-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64], bad[64];
    snprintf(path, sizeof path, "%s/acl", dir);
    snprintf(bad, sizeof bad, "%s/bad", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    /* bigger than one read buffer, to cross the growth path */
    for (int i = 0; i < 400; i++)
        fprintf(f, "topic read filler/%d/with/some/length\n", i);
    fprintf(f, "user alice\ntopic readwrite a/#\n");
    fclose(f);
    f = fopen(bad, "w");
    assert_non_null(f);
    fprintf(f, "topic read ok\n\ntopic nope x\n");
    fclose(f);

    struct diag d;
    diag_init(&d);
    struct acl *acl = NULL;
    assert_int_equal(acl_load_file(path, &acl, &d), 0);
    assert_int_equal(acl_rule_count(acl), 401);
    assert_true(check(acl, "alice", "c", "a/b", W));
    assert_true(check(acl, NULL, "c", "filler/399/with/some/length", R));
    acl_free(acl);

    acl = NULL;
    assert_int_equal(acl_load_file(bad, &acl, &d), -EINVAL);
    assert_null(acl);
    char line[512], want[128];
    diag_format(&d.entries[0], line, sizeof line);
    snprintf(want, sizeof want, "%s:3:7: error: unknown access 'nope'", bad);
    assert_contains(line, want);
    diag_free(&d);

    diag_init(&d);
    char missing[80];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    assert_int_equal(acl_load_file(missing, &acl, &d), -ENOENT);
    assert_null(acl);
    diag_format(&d.entries[0], line, sizeof line);
    snprintf(want, sizeof want, "%s: error: cannot open the ACL file: ", missing);
    assert_contains(line, want);
    diag_free(&d);

    /* a directory opens but does not read */
    diag_init(&d);
    assert_int_equal(acl_load_file(dir, &acl, &d), -EISDIR);
    assert_null(acl);
    diag_free(&d);

    unlink(path);
    unlink(bad);
    rmdir(dir);
}

/* ---- cross-check against Mosquitto's algorithm, transcribed ------------ */

/* The reference does what mosquitto_acl_check_default does, literally:
 * substitute %c/%u into the pattern's text, then match the whole string
 * (mqtt_topic_matches standing for mosquitto_topic_matches_sub), deny
 * entries first; plus our '/' refusal. For SUBSCRIBE (`filter`), the same
 * with bf_covers for matching, as acl.h describes mqgate's check. */
struct ref_rule {
    bool pattern;
    int user;         /* block: -1 anonymous, else index into ref_users */
    unsigned access;  /* 0 deny, 1 read, 2 write, 3 readwrite */
    char filter[64];
};

static const char *const ref_users[] = { "u1", "u2", "u/3" };
static const char *const ref_cids[] = { "c1", "c2", "c+3", "c4/x" };

static void ref_subst(const char *pat, const char *user, const char *cid, char *out, size_t cap)
{
    size_t o = 0, n = strlen(pat);
    for (size_t i = 0; i < n; i++) {
        const char *v = NULL;
        if (i + 1 < n && pat[i] == '%' && pat[i + 1] == 'c')
            v = cid;
        else if (i + 1 < n && pat[i] == '%' && pat[i + 1] == 'u' && user)
            v = user;
        if (v) {
            o += (size_t)snprintf(out + o, cap - o, "%s", v);
            i++;
            continue;
        }
        out[o++] = pat[i];
    }
    out[o] = '\0';
}

static int ref_list(const struct ref_rule *rules, size_t n, bool patterns, int block,
                    const char *user, const char *cid, const char *topic, unsigned bit,
                    bool filter)
{
    for (int pass = 0; pass < 2; pass++) { /* 0: deny entries, 1: grants */
        for (size_t i = 0; i < n; i++) {
            const struct ref_rule *r = &rules[i];
            if (r->pattern != patterns || (!patterns && r->user != block))
                continue;
            if ((pass == 0) != (r->access == 0))
                continue;
            if (patterns && strstr(r->filter, "%u") && !user)
                continue;
            char f[256];
            if (patterns)
                ref_subst(r->filter, user, cid, f, sizeof f);
            else
                snprintf(f, sizeof f, "%s", r->filter);
            if (filter ? !bf_covers(f, topic)
                       : !mqtt_topic_matches(f, strlen(f), topic, strlen(topic)))
                continue;
            if (r->access == 0)
                return 0;
            if (r->access & bit)
                return 1;
        }
    }
    return -1;
}

static bool ref_check(const struct ref_rule *rules, size_t n, const char *user, const char *cid,
                      const char *topic, unsigned bit, bool filter)
{
    if (filter && strncmp(topic, "$share/g/", 9) == 0)
        topic += 9; /* the generator's only group */
    if (filter && (strncmp(topic, "$share", 6) == 0 ||
                   !mqtt_topic_filter_valid(topic, strlen(topic))))
        return false; /* acl.h, SUBSCRIBE stage 1 */
    int block = -1;
    if (user) {
        block = -2;
        for (int i = 0; i < 3; i++)
            if (strcmp(ref_users[i], user) == 0)
                block = i;
    }
    int v = ref_list(rules, n, false, block, user, cid, topic, bit, filter);
    if (v >= 0)
        return v;
    bool any_pattern = false;
    for (size_t i = 0; i < n; i++)
        any_pattern |= rules[i].pattern;
    if (!any_pattern)
        return false;
    if ((user && strpbrk(user, "+#/")) || strpbrk(cid, "+#/"))
        return false;
    return ref_list(rules, n, true, 0, user, cid, topic, bit, filter) == 1;
}

static unsigned rnd(unsigned *seed, unsigned n)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) % n;
}

static void random_filter(unsigned *seed, bool pattern, char *out, size_t cap)
{
    static const char *const levels[] = { "a", "b", "", "+", "%c", "%u", "x%c", "$SYS" };
    unsigned n = 1 + rnd(seed, 3);
    size_t o = 0;
    for (unsigned i = 0; i < n; i++) {
        const char *lv = levels[rnd(seed, pattern ? 8 : 4)];
        if (strcmp(lv, "$SYS") == 0 && i > 0)
            lv = "a";
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "/" : "", lv);
    }
    if (rnd(seed, 4) == 0)
        snprintf(out + o, cap - o, "%s#", o ? "/" : "");
    if (out[0] == '\0')
        snprintf(out, cap, "b"); /* an empty filter is no filter */
}

static void random_topic(unsigned *seed, char *out, size_t cap)
{
    static const char *const levels[] = { "a", "b", "", "c1", "u1", "xc1", "c2", "$SYS" };
    unsigned n = 1 + rnd(seed, 4);
    size_t o = 0;
    for (unsigned i = 0; i < n; i++) {
        const char *lv = levels[rnd(seed, 8)];
        if (strcmp(lv, "$SYS") == 0 && i > 0)
            lv = "b";
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "/" : "", lv);
    }
    if (out[0] == '\0')
        snprintf(out, cap, "a"); /* an empty topic is no topic */
}

/* A subscription filter for the cross-check: "#", or 1-3 levels of what
 * topics and substituted patterns hold, '+', maybe a last '#', maybe
 * shared. */
static void random_sub(unsigned *seed, char *out, size_t cap)
{
    static const char *const levels[] = { "a", "b", "", "+", "c1", "u1", "xc1", "$SYS" };
    size_t o = 0;
    if (rnd(seed, 8) == 0)
        o += (size_t)snprintf(out, cap, "$share/g/");
    size_t start = o;
    unsigned n = rnd(seed, 4);
    for (unsigned i = 0; i < n; i++) {
        const char *lv = levels[rnd(seed, 8)];
        if (strcmp(lv, "$SYS") == 0 && i > 0)
            lv = "a";
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "/" : "", lv);
    }
    if (n == 0 || rnd(seed, 3) == 0)
        o += (size_t)snprintf(out + o, cap - o, "%s#", n ? "/" : "");
    if (o == start)
        snprintf(out + o, cap - o, "b"); /* an empty filter is no filter */
}

/* Half the time a rule's own filter, as the client would see it, and
 * sometimes narrowed (a last '#' made a level): random filters alone are
 * seldom covered by anything. */
static void rule_sub(unsigned *seed, const struct ref_rule *r, const char *user, const char *cid,
                     char *out, size_t cap)
{
    if (r->pattern)
        ref_subst(r->filter, user, cid, out, cap);
    else
        snprintf(out, cap, "%s", r->filter);
    size_t len = strlen(out);
    if (len > 0 && out[len - 1] == '#' && rnd(seed, 2) == 0)
        out[len - 1] = 'b';
}

/* One random subscription against the engine and the reference; also a
 * topic name subscribed must be judged as it is read. Returns the answer. */
static bool cross_check_sub(const struct acl *acl, const struct ref_rule *rules, size_t n,
                            const char *user, const char *cid, const char *topic,
                            unsigned *seed, const char *text)
{
    char sub[256];
    if (rnd(seed, 2) == 0)
        rule_sub(seed, &rules[rnd(seed, (unsigned)n)], user, cid, sub, sizeof sub);
    else
        random_sub(seed, sub, sizeof sub);
    bool want = ref_check(rules, n, user, cid, sub, 1, true);
    bool got = acl_check(acl, user, cid, sub, S);
    if (want != got)
        fail_msg("user %s cid %s subscribe '%s': engine %d, reference %d, ACL:\n%s",
                 user ? user : "(anon)", cid, sub, got, want, text);
    if (acl_check(acl, user, cid, topic, S) != acl_check(acl, user, cid, topic, R))
        fail_msg("user %s cid %s: subscribe and read of '%s' differ, ACL:\n%s",
                 user ? user : "(anon)", cid, topic, text);
    return got;
}

static void test_matches_reference(void **state)
{
    (void)state;
    static const char *const access_words[] = { "deny", "read", "write", "readwrite" };
    unsigned seed = 20240601u;
    size_t checks = 0, allowed = 0, subs = 0, subs_allowed = 0;
    for (int round = 0; round < 300; round++) {
        struct ref_rule rules[12];
        size_t n = 1 + rnd(&seed, 12);
        char text[2048];
        size_t o = 0;
        int cur = -1;
        /* rules are generated in block order, so the text is easy to write */
        for (size_t i = 0; i < n; i++) {
            struct ref_rule *r = &rules[i];
            r->pattern = rnd(&seed, 3) == 0;
            r->access = rnd(&seed, 4);
            if (!r->pattern && cur < 2 && rnd(&seed, 3) == 0)
                cur++;
            r->user = cur;
            random_filter(&seed, r->pattern, r->filter, sizeof r->filter);
            if (!r->pattern && r->user >= 0 && (i == 0 || rules[i - 1].user != r->user ||
                                                 rules[i - 1].pattern))
                o += (size_t)snprintf(text + o, sizeof text - o, "user %s\n", ref_users[r->user]);
            o += (size_t)snprintf(text + o, sizeof text - o, "%s %s %s\n",
                                  r->pattern ? "pattern" : "topic", access_words[r->access],
                                  r->filter);
        }
        struct diag d;
        diag_init(&d);
        struct acl *acl = NULL;
        if (acl_load_string("rnd", text, o, &acl, &d) != 0) {
            diag_print(&d, stderr);
            fail_msg("random ACL did not load:\n%s", text);
        }
        diag_free(&d);
        for (int k = 0; k < 60; k++) {
            char topic[64];
            random_topic(&seed, topic, sizeof topic);
            const char *user = rnd(&seed, 4) == 0 ? NULL : ref_users[rnd(&seed, 3)];
            if (user && rnd(&seed, 4) == 0)
                user = "nobody";
            const char *cid = ref_cids[rnd(&seed, 4)];
            for (unsigned bit = 1; bit <= 2; bit++) {
                /* $SYS writes and $share are the fixed rules, tested apart */
                if (bit == 2 && strncmp(topic, "$SYS", 4) == 0)
                    continue;
                bool want = ref_check(rules, n, user, cid, topic, bit, false);
                bool got = acl_check(acl, user, cid, topic, bit == 1 ? R : W);
                if (want != got)
                    fail_msg("user %s cid %s %s '%s': engine %d, reference %d, ACL:\n%s",
                             user ? user : "(anon)", cid, bit == 1 ? "read" : "write", topic,
                             got, want, text);
                checks++;
                allowed += got;
            }
            for (int j = 0; j < 2; j++, subs++)
                subs_allowed += cross_check_sub(acl, rules, n, user, cid, topic, &seed, text);
        }
        acl_free(acl);
    }
    /* both answers must have been exercised, or the comparison proves little */
    print_message("reference cross-check: %zu READ/WRITE checks, %zu allowed; "
                  "%zu SUBSCRIBE checks, %zu allowed\n",
                  checks, allowed, subs, subs_allowed);
    assert_true(allowed > checks / 20);
    assert_true(allowed < checks - checks / 20);
    assert_true(subs_allowed > subs / 20);
    assert_true(subs_allowed < subs - subs / 20);
}

/* A filter over few levels, so that covering pairs come up often. */
static void random_pair_filter(unsigned *seed, bool sub, char *out, size_t cap)
{
    static const char *const levels[] = { "a", "b", "", "+", "+", "$SYS", "c" };
    unsigned n = rnd(seed, 4);
    size_t o = 0;
    for (unsigned i = 0; i < n; i++) {
        const char *lv = levels[rnd(seed, sub ? 7 : 6)];
        if (strcmp(lv, "$SYS") == 0 && i > 0)
            lv = "a";
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "/" : "", lv);
    }
    if (n == 0 || rnd(seed, 3) == 0)
        o += (size_t)snprintf(out + o, cap - o, "%s#", n ? "/" : "");
    if (o == 0)
        snprintf(out, cap, "b");
}

static void test_covers_reference(void **state)
{
    (void)state;
    unsigned seed = 4242u;
    size_t pairs = 0, covered = 0;
    for (int i = 0; i < 20000; i++) {
        char rule[64], filter[64];
        random_pair_filter(&seed, false, rule, sizeof rule);
        random_pair_filter(&seed, true, filter, sizeof filter);
        bool want = bf_covers(rule, filter);
        check_cover_pair(rule, filter, want);
        pairs++;
        covered += want;
    }
    print_message("covers cross-check: %zu random (rule, filter) pairs, %zu covered\n", pairs,
                  covered);
    assert_true(covered > pairs / 20);
    assert_true(covered < pairs - pairs / 20);
}

/* ---- speed ------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_bench(void **state)
{
    (void)state;
    /* 200 rules: 100 in alice's block, 100 patterns, the shapes a site uses */
    char *text = malloc(64 * 1024);
    assert_non_null(text);
    size_t o = 0;
    o += (size_t)snprintf(text + o, 64 * 1024 - o, "user alice\n");
    for (int i = 0; i < 100; i++)
        o += (size_t)snprintf(text + o, 64 * 1024 - o, "topic %s site/%d/+/temp\n",
                              i % 10 == 0 ? "deny" : "read", i);
    for (int i = 0; i < 100; i++)
        o += (size_t)snprintf(text + o, 64 * 1024 - o, "pattern %s dev/%%c/%d/#\n",
                              i % 10 == 0 ? "deny" : "readwrite", i);
    struct acl *acl = NULL;
    assert_int_equal(acl_load_string("bench", text, o, &acl, NULL), 0);
    assert_int_equal(acl_rule_count(acl), 200);
    free(text);

    static const struct {
        const char *what;
        enum acl_access access;
        const char *topic;
        bool expect;
    } cases[] = {
        { "no rule matches", R, "other/topic/with/levels", false },
        { "user rule grants (100 share 'site')", R, "site/99/a/temp", true },
        { "user deny rule", R, "site/10/a/temp", false },
        { "pattern with %c grants, deepest", R, "dev/c1/99/x/y/z", true },
        { "anonymous, %c level differs", R, "dev/c2/99/x", false },
        { "user rule covers site/99/+/temp", S, "site/99/+/temp", true },
        { "user deny covers site/10/+/temp", S, "site/10/+/temp", false },
        { "site/+/+/temp: no rule covers", S, "site/+/+/temp", false },
        { "# : no rule covers", S, "#", false },
        { "pattern with %c covers dev/c1/99/#", S, "dev/c1/99/#", true },
        { "shared, pattern covers", S, "$share/g/dev/c1/5/+/x", true },
    };
    const long n = 1000000;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const char *user = strncmp(cases[c].what, "anonymous", 9) == 0 ? NULL : "alice";
        enum acl_access a = cases[c].access;
        assert_int_equal(check(acl, user, "c1", cases[c].topic, a), cases[c].expect);
        volatile unsigned sink = 0;
        double t0 = now_s();
        for (long i = 0; i < n; i++)
            sink += acl_check(acl, user, "c1", cases[c].topic, a);
        double dt = now_s() - t0;
        print_message("acl_check, 200 rules, %-9s %-38s %5.0f ns/check, %5.2f M checks/s\n",
                      a == R ? "READ" : "SUBSCRIBE", cases[c].what, dt / (double)n * 1e9,
                      (double)n / dt / 1e6);
        (void)sink;
    }
    acl_free(acl);
}

/* ---- the same table against a real Mosquitto ---------------------------- */

#define IO_TIMEOUT_S 5
#define SENTINEL "zz/sentinel"
#define ADMIN "admin"

enum op { OP_READ, OP_WRITE, OP_SUBSCRIBE };

struct probe {
    const char *user;      /* NULL: anonymous; 0-terminated list ends at op == 0 && !topic */
    const char *cid;
    enum op op;
    const char *topic;     /* READ/WRITE: the topic; SUBSCRIBE: the filter */
    const char *filter;    /* READ: Mosquitto subscribes with this (default: the topic) */
    bool allowed;          /* our answer (and Mosquitto's, unless differs) */
    bool differs;          /* Mosquitto 2.0.11 answers the opposite: see acl.h, stage 4 */
};

/* SUBSCRIBE rows are mqgate's own check (acl.h): Mosquitto 2.0 grants every
 * subscription, so they are run through our engine only. READ rows compare
 * the per-message READ decision: Mosquitto delivers the retained message
 * through `filter` exactly when its READ check allows it. */

struct mosq_case {
    const char *name;
    const char *acl;
    bool raw;              /* no sentinel/admin lines added: WRITE/SUBSCRIBE probes only */
    struct probe probes[16];
};

/* Users in the password file (password "pw"; admin's is "adminpw"). */
static const char *const test_users[] = { "alice", "bob", "x+y", "a/b", "h#" };

static const struct mosq_case mosq_cases[] = {
    { "anonymous vs users",
      "topic read pub/anon\n"
      "user alice\n"
      "topic readwrite al/#\n"
      "topic read pub/#\n"
      "user bob\n"
      "topic read bo/one\n"
      "user alice\n"
      "topic read al2/more\n",
      false,
      { { NULL, "c1", OP_READ, "pub/anon", NULL, true, false },
        { NULL, "c1", OP_READ, "pub/other", NULL, false, false },
        { NULL, "c1", OP_WRITE, "pub/anon", NULL, false, false },
        { "alice", "c2", OP_READ, "pub/anon", NULL, true, false },
        { "alice", "c2", OP_WRITE, "al/x", NULL, true, false },
        { "alice", "c2", OP_WRITE, "pub/x", NULL, false, false },
        { "alice", "c2", OP_READ, "al2/more", NULL, true, false },
        { "alice", "c2", OP_READ, "bo/one", NULL, false, false },
        { "bob", "c3", OP_READ, "bo/one", NULL, true, false },
        { "bob", "c3", OP_READ, "pub/anon", NULL, false, false },
        { "bob", "c3", OP_WRITE, "al/x", NULL, false, false } } },
    { "read, write, readwrite, deny",
      "user alice\n"
      "topic read r/#\n"
      "topic write w/#\n"
      "topic readwrite rw/#\n"
      "topic deny rw/secret\n"
      "topic rw2/#\n"
      "topic deny r/x/#\n"
      "topic read r/x/y\n",
      false,
      { { "alice", "c1", OP_READ, "r/a", NULL, true, false },
        { "alice", "c1", OP_WRITE, "r/a", NULL, false, false },
        { "alice", "c1", OP_WRITE, "w/a", NULL, true, false },
        { "alice", "c1", OP_READ, "w/a", NULL, false, false },
        { "alice", "c1", OP_READ, "rw/a", NULL, true, false },
        { "alice", "c1", OP_WRITE, "rw/a", NULL, true, false },
        { "alice", "c1", OP_READ, "rw/secret", NULL, false, false },
        { "alice", "c1", OP_WRITE, "rw/secret", NULL, false, false },
        { "alice", "c1", OP_WRITE, "rw2/q", NULL, true, false },
        { "alice", "c1", OP_READ, "r/x/y", NULL, false, false } } },
    { "patterns %u %c, and stage order",
      "user alice\n"
      "topic readwrite own/#\n"
      "topic deny d/#\n"
      "pattern readwrite p/%u/x\n"
      "pattern write dev/%c/#\n"
      "pattern read m/x%c\n"
      "pattern deny own/secret\n"
      "pattern readwrite d/open\n"
      "pattern read everyone/#\n",
      false,
      { { "alice", "c1", OP_WRITE, "p/alice/x", NULL, true, false },
        { "alice", "c1", OP_WRITE, "p/bob/x", NULL, false, false },
        { "alice", "c1", OP_WRITE, "dev/c1/t", NULL, true, false },
        { "alice", "c1", OP_READ, "dev/c1/t", NULL, false, false },
        { "alice", "c1", OP_WRITE, "dev/c2/t", NULL, false, false },
        { "alice", "c1", OP_READ, "m/xc1", NULL, true, false },
        { "alice", "c1", OP_READ, "own/secret", NULL, true, false },
        { "alice", "c1", OP_READ, "d/open", NULL, false, false },
        { "bob", "c2", OP_READ, "own/secret", NULL, false, false },
        { "bob", "c2", OP_READ, "d/open", NULL, true, false },
        { "bob", "c2", OP_WRITE, "p/bob/x", NULL, true, false },
        { NULL, "c3", OP_WRITE, "dev/c3/t", NULL, true, false },
        { NULL, "c3", OP_WRITE, "p/%u/x", NULL, false, false }, /* %u: not for anonymous */
        { NULL, "c3", OP_READ, "everyone/1", NULL, true, false } } },
    { "names with + # /",
      "topic read an/#\n"
      "pattern readwrite p/%u/#\n"
      "pattern readwrite q/%c/#\n"
      "pattern read everyone/#\n"
      "user x+y\n"
      "topic read u/#\n",
      false,
      { { "x+y", "c1", OP_READ, "u/1", NULL, true, false },
        { "x+y", "c1", OP_READ, "everyone/1", NULL, false, false },
        { "h#", "c1", OP_READ, "everyone/1", NULL, false, false },
        { NULL, "a+b", OP_READ, "an/1", NULL, true, false },
        { NULL, "a+b", OP_READ, "everyone/1", NULL, false, false },
        { NULL, "h#", OP_WRITE, "q/x/t", NULL, false, false },
        { NULL, "c1", OP_READ, "everyone/1", NULL, true, false },
        { NULL, "c1", OP_WRITE, "q/c1/t", NULL, true, false },
        /* the deliberate difference: Mosquitto 2.0.11 substitutes a '/' */
        { "a/b", "c1", OP_WRITE, "p/a/b/t", NULL, false, true },
        { "a/b", "c1", OP_READ, "everyone/1", NULL, false, true },
        { NULL, "c/d", OP_WRITE, "q/c/d/t", NULL, false, true } } },
    { "subscribing with wildcards",
      "user alice\n"
      "topic read a/+/c\n",
      false,
      { { "alice", "c1", OP_SUBSCRIBE, "a/#", NULL, false, false },
        { "alice", "c1", OP_SUBSCRIBE, "#", NULL, false, false },
        { "alice", "c1", OP_SUBSCRIBE, "x/y", NULL, false, false },
        { "alice", "c1", OP_SUBSCRIBE, "$SYS/#", NULL, false, false },
        { "alice", "c1", OP_SUBSCRIBE, "+/+/c", NULL, false, false },
        { "alice", "c1", OP_SUBSCRIBE, "a/+/c", NULL, true, false },
        { "alice", "c1", OP_SUBSCRIBE, "a/x/c", NULL, true, false },
        { "bob", "c2", OP_SUBSCRIBE, "#", NULL, false, false },
        { "alice", "c1", OP_READ, "a/x/c", "a/#", true, false },
        { "alice", "c1", OP_READ, "a/x/d", "a/#", false, false },
        { "alice", "c1", OP_READ, "a/x/c", "+/+/c", true, false },
        { "alice", "c1", OP_READ, "a/x/c/d", "a/#", false, false } } },
    { "$SYS and #",
      "topic read #\n"
      "user alice\n"
      "topic readwrite #\n"
      "topic readwrite $SYS/#\n"
      "user bob\n"
      "topic read $SYS/broker/version\n",
      false,
      { { NULL, "c1", OP_READ, "$SYS/broker/version", NULL, false, false },
        { NULL, "c1", OP_READ, "any/thing", NULL, true, false },
        { "alice", "c2", OP_READ, "$SYS/broker/version", NULL, true, false },
        { "alice", "c2", OP_WRITE, "$SYS/broker/x", NULL, false, false },
        { "alice", "c2", OP_WRITE, "$SYS/broker/connection/b1/state", NULL, true, false },
        { "bob", "c3", OP_READ, "$SYS/broker/version", NULL, true, false },
        { "bob", "c3", OP_WRITE, "$SYS/broker/connection/b1/state", NULL, false, false },
        { NULL, "c1", OP_SUBSCRIBE, "#", NULL, true, false },
        { NULL, "c1", OP_SUBSCRIBE, "$SYS/#", NULL, false, false },
        { "alice", "c2", OP_SUBSCRIBE, "$SYS/#", NULL, true, false },
        { "bob", "c3", OP_SUBSCRIBE, "$SYS/broker/+", NULL, false, false } } },
    { "odd spacing, CRLF, the topic 'read'",
      "# comment\r\n"
      "\r\n"
      "  topic   read    sp/a b   \r\n"
      "topic read\r\n"
      "user   alice  \r\n"
      "topic  readwrite  al/#\r\n",
      false,
      { { NULL, "c1", OP_READ, "sp/a b", NULL, true, false },
        { NULL, "c1", OP_WRITE, "read", NULL, true, false },
        { "alice", "c2", OP_WRITE, "al/x", NULL, true, false } } },
    { "empty file", "", true,
      { { NULL, "c1", OP_WRITE, "x", NULL, false, false },
        { "alice", "c2", OP_WRITE, "x", NULL, false, false },
        { "alice", "c2", OP_SUBSCRIBE, "#", NULL, false, false } } },
};

/* What both must refuse or accept as a whole file. */
static const struct {
    const char *text;
    bool ok;
} mosq_files[] = {
    { "topic\n", false },
    { "topic bogus a/b\n", false },
    { "topic read a/#/b\n", false },
    { "topic read a+\n", false },
    { "user\n", false },
    { "user   \n", false },
    { "frob x\n", false },
    { "Topic read x\n", false },
    { "  # indented comment\n", false },
    { "topic\tread\tx\n", false },
    { "topic read\n", true },
    { "topic read a b\n", true },
    { "   \n\n# c\ntopic read x\n", true },
    { "topic  read   x  \r\n", true },
    { "pattern read a/x%cy/%u\n", true },
};

/* The broker of test_against_mosquitto: dir "" when not installed. */
static struct mosq_fixture mq;

static bool have_mosquitto(void)
{
    return access(MOSQ_FIXTURE_BIN, X_OK) == 0 &&
           access("/usr/bin/mosquitto_passwd", X_OK) == 0;
}

static void mq_file(const char *name, char path[MOSQ_FIXTURE_PATH_MAX])
{
    assert_int_equal(mosq_fixture_path(&mq, name, path, MOSQ_FIXTURE_PATH_MAX), 0);
}

static void run_passwd(const char *create, const char *user, const char *pw)
{
    char path[MOSQ_FIXTURE_PATH_MAX];
    mq_file("pw", path);
    const char *make[] = { "/usr/bin/mosquitto_passwd", "-c", "-b", path, user, pw, NULL };
    const char *add[] = { "/usr/bin/mosquitto_passwd", "-b", path, user, pw, NULL };
    assert_int_equal(mosq_fixture_run(create ? make : add, "/dev/null", NULL, 0, 20000), 0);
}

/* Starts Mosquitto with `acl` as its acl_file. Returns true once it runs,
 * false if it exited (refused the file); fails if it did neither in time. */
static bool mq_start(const char *acl)
{
    char path[MOSQ_FIXTURE_PATH_MAX], conf[3 * MOSQ_FIXTURE_PATH_MAX];
    mq_file("acl", path);
    assert_int_equal(mosq_fixture_write_file(path, acl), 0);
    snprintf(conf, sizeof conf,
             "allow_anonymous true\npassword_file %s/pw\nacl_file %s\nlog_type all\n", mq.dir,
             path);
    int rc = mosq_fixture_start_quiet(&mq, conf);
    if (rc == -ECHILD)
        return false;
    if (rc != 0) {
        mosq_fixture_print_log(&mq, "did not start");
        fail_msg("mosquitto neither ran nor exited within %d ms: %s", MOSQ_FIXTURE_READY_MS,
                 strerror(-rc));
    }
    return true;
}

/* ---- a minimal MQTT 5 client over our codec, every read bounded --------- */

static struct mqtt_bytes bytes_of(const char *s)
{
    return (struct mqtt_bytes){ (const uint8_t *)s, (uint32_t)strlen(s) };
}

static void mc_send(int fd, const struct mqtt_packet *pkt)
{
    uint8_t buf[1024];
    size_t n = mqtt_encode(buf, sizeof buf, pkt, MQTT_V5);
    assert_true(n > 0 && n <= sizeof buf);
    assert_int_equal(send(fd, buf, n, MSG_NOSIGNAL), (ssize_t)n);
}

static bool read_full(int fd, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r <= 0)
            return false; /* closed, or SO_RCVTIMEO ran out */
        got += (size_t)r;
    }
    return true;
}

/* Reads one packet into buf and decodes it; false on timeout or close. */
static bool mc_read(int fd, uint8_t *buf, size_t cap, struct mqtt_packet *out)
{
    size_t n = 1;
    if (!read_full(fd, buf, 1))
        return false;
    do {
        if (n >= 5 || !read_full(fd, buf + n, 1))
            return false;
        n++;
    } while (buf[n - 1] & 0x80);
    uint32_t remaining = 0;
    assert_true(mqtt_varint_decode(buf + 1, n - 1, &remaining, NULL) > 0);
    assert_true(n + remaining <= cap);
    if (!read_full(fd, buf + n, remaining))
        return false;
    const char *why = NULL;
    int rc = mqtt_decode(buf, n + remaining, MQTT_V5, 0, out, &why);
    if (rc < 0)
        fail_msg("undecodable packet from mosquitto: %s", why ? why : "?");
    return true;
}

static int mc_connect(const char *user, const char *cid)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)mq.port[0]),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct mqtt_packet p = { .type = MQTT_CONNECT };
    p.u.connect = (struct mqtt_connect){ .version = MQTT_V5, .clean_start = true,
                                         .keep_alive = 30, .client_id = bytes_of(cid) };
    if (user) {
        p.u.connect.has_username = p.u.connect.has_password = true;
        p.u.connect.username = bytes_of(user);
        p.u.connect.password = bytes_of(strcmp(user, ADMIN) == 0 ? "adminpw" : "pw");
    }
    mc_send(fd, &p);
    uint8_t buf[4096];
    struct mqtt_packet in;
    assert_true(mc_read(fd, buf, sizeof buf, &in));
    assert_int_equal(in.type, MQTT_CONNACK);
    if (in.u.connack.reason != 0)
        fail_msg("CONNACK 0x%02x for user %s", in.u.connack.reason, user ? user : "(anon)");
    return fd;
}

static void mc_close(int fd)
{
    struct mqtt_packet p = { .type = MQTT_DISCONNECT };
    p.u.disconnect.type = MQTT_DISCONNECT;
    mc_send(fd, &p);
    close(fd);
}

static void mc_subscribe(int fd, uint16_t id, const char *filter)
{
    struct mqtt_sub_entry e = { .filter = bytes_of(filter), .qos = 0 };
    struct mqtt_packet p = { .type = MQTT_SUBSCRIBE };
    p.u.subscribe = (struct mqtt_subscribe){ .packet_id = id, .count = 1, .subs = &e };
    mc_send(fd, &p);
}

/* PUBLISH QoS 1 and return the PUBACK's reason. */
static int mc_publish(int fd, const char *topic, bool retain)
{
    struct mqtt_packet p = { .type = MQTT_PUBLISH };
    p.u.publish = (struct mqtt_publish){ .qos = 1, .retain = retain, .topic = bytes_of(topic),
                                         .packet_id = 7, .payload = bytes_of("x") };
    mc_send(fd, &p);
    uint8_t buf[4096];
    struct mqtt_packet in;
    for (int i = 0; i < 100; i++) {
        assert_true(mc_read(fd, buf, sizeof buf, &in));
        if (in.type == MQTT_PUBACK)
            return in.u.ack.reason;
    }
    fail_msg("no PUBACK");
    return -1;
}

/* Subscribes to `filter`, then to the sentinel, and reads until the
 * sentinel's retained message: Mosquitto handles the two SUBSCRIBEs in
 * order, so anything `filter` delivers arrives before it. Returns whether
 * `topic` was delivered; *suback gets the first SUBACK's reason. */
static bool mc_delivers(int fd, const char *filter, const char *topic, int *suback)
{
    mc_subscribe(fd, 1, filter);
    mc_subscribe(fd, 2, SENTINEL);
    uint8_t buf[4096];
    struct mqtt_packet in;
    bool got = false;
    *suback = -1;
    for (int i = 0; i < 1000; i++) {
        assert_true(mc_read(fd, buf, sizeof buf, &in));
        if (in.type == MQTT_SUBACK && in.u.suback.packet_id == 1)
            *suback = in.u.suback.reasons.data[0];
        if (in.type != MQTT_PUBLISH)
            continue;
        struct mqtt_bytes t = in.u.publish.topic;
        if (t.len == strlen(SENTINEL) && memcmp(t.data, SENTINEL, t.len) == 0)
            return got;
        got |= t.len == strlen(topic) && memcmp(t.data, topic, t.len) == 0;
    }
    fail_msg("the sentinel never came");
    return false;
}

static void admin_retain(const char *topic)
{
    int fd = mc_connect(ADMIN, "acl-admin");
    assert_true(mc_publish(fd, topic, true) < 0x80);
    mc_close(fd);
}

/* Mosquitto's answer to one READ or WRITE probe. */
static bool mosquitto_allows(const struct probe *pr)
{
    const char *filter = pr->filter ? pr->filter : pr->topic;
    if (pr->op == OP_READ && pr->topic[0] != '$')
        admin_retain(pr->topic); /* $SYS/broker/version is Mosquitto's own */
    int fd = mc_connect(pr->user, pr->cid);
    bool allowed;
    int suback = -1;
    if (pr->op == OP_WRITE) {
        allowed = mc_publish(fd, pr->topic, false) < 0x80;
    } else {
        allowed = mc_delivers(fd, filter, pr->topic, &suback);
        assert_true(suback >= 0);
        allowed = allowed && suback < 0x80;
    }
    mc_close(fd);
    if (pr->op == OP_READ && !allowed) {
        /* A "no" counts only if the message was there to be had. */
        fd = mc_connect(ADMIN, "acl-control");
        assert_true(mc_delivers(fd, filter, pr->topic, &suback));
        mc_close(fd);
    }
    return allowed;
}

static bool engine_allows(const struct acl *acl, const struct probe *pr)
{
    if (pr->op == OP_WRITE)
        return acl_check(acl, pr->user, pr->cid, pr->topic, W);
    if (pr->op == OP_SUBSCRIBE)
        return acl_check(acl, pr->user, pr->cid, pr->topic, S);
    const char *filter = pr->filter ? pr->filter : pr->topic;
    assert_true(mqtt_topic_matches(filter, strlen(filter), pr->topic, strlen(pr->topic)));
    return acl_check(acl, pr->user, pr->cid, pr->topic, R);
}

/* The case's ACL plus what the harness needs: every client may read the
 * sentinel (in its own block, so patterns and name checks do not matter),
 * and admin may publish anything and read $SYS. */
static char *compose_acl(const struct mosq_case *c)
{
    size_t cap = strlen(c->acl) + 1024, o = 0;
    char *t = malloc(cap);
    assert_non_null(t);
    if (c->raw) {
        snprintf(t, cap, "%s", c->acl);
        return t;
    }
    o += (size_t)snprintf(t + o, cap - o, "topic read zz/#\n%s\n", c->acl);
    for (size_t i = 0; i < sizeof test_users / sizeof *test_users; i++)
        o += (size_t)snprintf(t + o, cap - o, "user %s\ntopic read zz/#\n", test_users[i]);
    snprintf(t + o, cap - o, "user " ADMIN "\ntopic readwrite #\ntopic read $SYS/#\n");
    return t;
}

static const char *op_name(enum op op)
{
    return op == OP_READ ? "READ" : op == OP_WRITE ? "WRITE" : "SUBSCRIBE";
}

static void run_case(const struct mosq_case *c, bool live, int *rows, int *ours_only)
{
    char *text = compose_acl(c);
    struct diag d;
    diag_init(&d);
    struct acl *acl = NULL;
    if (acl_load_string(c->name, text, strlen(text), &acl, &d) != 0) {
        diag_print(&d, stderr);
        fail_msg("case '%s' does not load", c->name);
    }
    diag_free(&d);
    if (live) {
        assert_true(mq_start(text));
        if (!c->raw)
            admin_retain(SENTINEL);
    }
    for (const struct probe *pr = c->probes; pr->topic; pr++) {
        bool ours = engine_allows(acl, pr);
        bool want_mosq = pr->differs ? !pr->allowed : pr->allowed;
        bool ask = live && pr->op != OP_SUBSCRIBE;
        int mosq = ask ? mosquitto_allows(pr) : -1;
        char what[96];
        snprintf(what, sizeof what, "%s%s%s", pr->topic, pr->filter ? " via " : "",
                 pr->filter ? pr->filter : "");
        print_message("  %-26.26s %-6s %-4s %-9s %-38s mosquitto %-5s ours %-5s%s\n", c->name,
                      pr->user ? pr->user : "(anon)", pr->cid, op_name(pr->op), what,
                      mosq < 0 ? "-" : mosq ? "allow" : "deny", ours ? "allow" : "deny",
                      pr->differs ? "  (differs: '/' in a name)"
                      : pr->op == OP_SUBSCRIBE ? "  (mqgate only)" : "");
        if (ours != pr->allowed)
            fail_msg("%s: %s %s %s: engine %d, table %d", c->name,
                     pr->user ? pr->user : "(anon)", op_name(pr->op), pr->topic, ours,
                     pr->allowed);
        if (ask && mosq != want_mosq)
            fail_msg("%s: %s %s %s: mosquitto %d, table %d (log: %s)", c->name,
                     pr->user ? pr->user : "(anon)", op_name(pr->op), pr->topic, mosq,
                     want_mosq, mq.log);
        (*rows)++;
        *ours_only += pr->op == OP_SUBSCRIBE;
    }
    if (live)
        mosq_fixture_stop(&mq);
    acl_free(acl);
    free(text);
}

static void check_file(const char *text, bool ok, bool live)
{
    struct acl *acl = NULL;
    int rc = acl_load_string("f", text, strlen(text), &acl, NULL);
    acl_free(acl);
    if ((rc == 0) != ok)
        fail_msg("engine loads=%d, expected %d:\n%.200s", rc == 0, ok, text);
    if (!live)
        return;
    bool runs = mq_start(text);
    mosq_fixture_stop(&mq);
    if (runs != ok)
        fail_msg("mosquitto runs=%d, expected %d:\n%.200s", runs, ok, text);
}

static void check_files(bool live)
{
    for (size_t i = 0; i < sizeof mosq_files / sizeof *mosq_files; i++)
        check_file(mosq_files[i].text, mosq_files[i].ok, live);
    /* a filter of 200 separators is fine, of 201 not */
    char deep[600];
    int o = snprintf(deep, sizeof deep, "topic read ");
    for (int i = 0; i < 200; i++)
        o += snprintf(deep + o, sizeof deep - (size_t)o, "a/");
    snprintf(deep + o, sizeof deep - (size_t)o, "b\n");
    check_file(deep, true, live);
    snprintf(deep + o, sizeof deep - (size_t)o, "a/b\n");
    check_file(deep, false, live);
    print_message("  %zu acl files: accepted/refused alike%s\n",
                  sizeof mosq_files / sizeof *mosq_files + 2,
                  live ? " by both" : " (engine only)");
}

static int setup_mosquitto(void **state)
{
    (void)state;
    memset(&mq, 0, sizeof mq);
    if (!have_mosquitto())
        return 0;
    if (mosq_fixture_init(&mq, "acl-mosq", 1) != 0)
        return -1;
    run_passwd("create", ADMIN, "adminpw");
    for (size_t i = 0; i < sizeof test_users / sizeof *test_users; i++)
        run_passwd(NULL, test_users[i], "pw");
    return 0;
}

static int teardown_mosquitto(void **state)
{
    (void)state;
    mosq_fixture_cleanup(&mq);
    return 0;
}

static void test_against_mosquitto(void **state)
{
    (void)state;
    bool live = mq.dir[0] != '\0';
    if (!live)
        print_message("  %s not installed: checking the table against our engine only\n",
                      MOSQ_FIXTURE_BIN);
    int rows = 0, ours_only = 0;
    for (size_t i = 0; i < sizeof mosq_cases / sizeof *mosq_cases; i++)
        run_case(&mosq_cases[i], live, &rows, &ours_only);
    check_files(live);
    print_message("  %d READ/WRITE probes%s; %d SUBSCRIBE probes (mqgate's check, engine only)\n",
                  rows - ours_only, live ? ", engine and mosquitto agree" : "", ours_only);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_acl_allows_all),
        cmocka_unit_test(test_empty_file_denies_all),
        cmocka_unit_test(test_anonymous_and_users),
        cmocka_unit_test(test_access_kinds_and_deny),
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_stage_precedence),
        cmocka_unit_test(test_dangerous_names),
        cmocka_unit_test(test_subscribe_covering),
        cmocka_unit_test(test_subscribe_stages),
        cmocka_unit_test(test_dollar_topics),
        cmocka_unit_test(test_topic_edges),
        cmocka_unit_test(test_format_leniency),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_warnings),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_covers_reference),
        cmocka_unit_test(test_bench),
        cmocka_unit_test_setup_teardown(test_against_mosquitto, setup_mosquitto,
                                        teardown_mosquitto),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
