/* Unit tests for gateway/broker/subs: the matching rules as a table, replace
 * and remove semantics, pruning (checked byte for byte through the memory
 * seam), share groups, out-of-memory at every allocation, and 10,000 random
 * changes cross-checked against a brute-force matcher written here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/broker/subs.h"

/* ---- a counting, failing allocator -------------------------------------- */

struct mem {
    long blocks;
    long long bytes;
    long fail_from;     /* fail every allocation once this many succeeded; -1 never */
    long done;          /* allocations (and growths) that succeeded */
};

static void *mem_alloc(void *ctx, void *ptr, size_t old_size, size_t new_size)
{
    struct mem *m = ctx;
    if (new_size == 0) {
        assert_non_null(ptr);
        m->blocks--;
        m->bytes -= (long long)old_size;
        free(ptr);
        return NULL;
    }
    assert_true(ptr != NULL || old_size == 0);
    if (m->fail_from >= 0 && m->done >= m->fail_from)
        return NULL;
    void *p = realloc(ptr, new_size);
    assert_non_null(p);
    m->done++;
    if (!ptr)
        m->blocks++;
    m->bytes += (long long)new_size - (long long)old_size;
    return p;
}

struct fixture {
    struct mem mem;
    struct subs *subs;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    fx->mem.fail_from = -1;
    fx->subs = subs_new(mem_alloc, &fx->mem);
    *state = fx;
    return fx->subs ? 0 : -1;
}

/* Every byte and block the tree took is given back, with the sizes it was
 * given: the accounting a broker-wide wrapper will rely on. */
static int teardown(void **state)
{
    struct fixture *fx = *state;
    subs_free(fx->subs);
    int rc = fx->mem.blocks == 0 && fx->mem.bytes == 0 ? 0 : -1;
    if (rc)
        fprintf(stderr, "leak: %ld blocks, %lld bytes\n", fx->mem.blocks, fx->mem.bytes);
    free(fx);
    return rc;
}

/* ---- recording deliveries ----------------------------------------------- */

#define MAX_CALLS 1024

struct call {
    void *owner;
    struct sub_options opt;
};

struct calls {
    size_t n;
    struct call c[MAX_CALLS];
};

static void record(void *ctx, void *owner, const struct sub_options *opt)
{
    struct calls *r = ctx;
    assert_true(r->n < MAX_CALLS);
    r->c[r->n++] = (struct call){ .owner = owner, .opt = *opt };
}

static size_t match_count(struct subs *s, const char *topic, struct calls *r)
{
    r->n = 0;
    subs_match(s, topic, record, r);
    return r->n;
}

static size_t calls_for(const struct calls *r, const void *owner, bool shared)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += r->c[i].owner == owner && r->c[i].opt.shared == shared;
    return n;
}

static const struct call *call_for(const struct calls *r, const void *owner, bool shared)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->c[i].owner == owner && r->c[i].opt.shared == shared)
            return &r->c[i];
    return NULL;
}

/* Owners are opaque to the tree: any distinct addresses will do. */
static char owners[16];
#define OWNER(i) ((void *)&owners[i])

static const struct sub_options QOS0 = { .qos = 0 };
static const struct sub_options QOS1 = { .qos = 1 };

/* ---- the brute-force matcher -------------------------------------------- */

/* MQTT 4.7 read literally, one level at a time, sharing no code with the
 * trie. `filter` is a valid filter without $share. */
static bool ref_matches(const char *filter, const char *topic)
{
    if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
        return false;
    const char *f = filter, *t = topic;
    for (;;) {
        size_t fl = strcspn(f, "/"), tl = strcspn(t, "/");
        if (fl == 1 && f[0] == '#')
            return true;
        bool plus = fl == 1 && f[0] == '+';
        if (!plus && (fl != tl || memcmp(f, t, fl) != 0))
            return false;
        bool f_end = f[fl] == '\0', t_end = t[tl] == '\0';
        if (f_end && t_end)
            return true;
        if (t_end)      /* only a final `#` also matches the parent level */
            return strcmp(f + fl + 1, "#") == 0;
        if (f_end)
            return false;
        f += fl + 1;
        t += tl + 1;
    }
}

/* ---- the rules, as a table ---------------------------------------------- */

struct rule {
    const char *filter;
    const char *topic;
    bool match;
};

static const struct rule rules[] = {
    { "#", "a", true },
    { "#", "a/b/c", true },
    { "#", "/", true },
    { "#", "a//", true },
    { "#", "$SYS/broker/uptime", false },
    { "#", "$SYS", false },
    { "#", "$", false },
    { "+", "a", true },
    { "+", "a/b", false },
    { "+", "/", false },
    { "+/+", "a/b", true },
    { "+/+", "/", true },
    { "+/+", "/a", true },
    { "+/+", "a/", true },
    { "+/+", "a", false },
    { "+/+", "a/b/c", false },
    { "+/+", "$SYS/a", false },
    { "+/#", "a", true },
    { "+/#", "a/b/c", true },
    { "+/#", "/", true },
    { "+/#", "$SYS/a", false },
    { "+/#", "$SYS", false },
    { "a/+/c", "a/b/c", true },
    { "a/+/c", "a//c", true },
    { "a/+/c", "a/b/d", false },
    { "a/+/c", "a/b/c/d", false },
    { "a/+/c", "a/c", false },
    { "a/+/c", "a/b/c/", false },
    { "$SYS/#", "$SYS/broker/uptime", true },
    { "$SYS/#", "$SYS", true },
    { "$SYS/#", "SYS/a", false },
    { "$SYS/monitor/+", "$SYS/monitor/Clients", true },
    { "+/monitor/Clients", "$SYS/monitor/Clients", false },
    { "$a/+", "$a/b", true },
    { "+/b", "$a/b", false },
    { "a/$b", "a/$b", true },
    { "+/$b", "a/$b", true },      /* only the topic's first character counts */
    { "sport/tennis/#", "sport/tennis", true },
    { "sport/tennis/#", "sport/tennis/player1", true },
    { "sport/tennis/#", "sport/tennis/player1/ranking", true },
    { "sport/tennis/#", "sport/tennis/", true },
    { "sport/tennis/#", "sport/tenniss", false },
    { "sport/tennis/#", "sport", false },
    { "sport/tennis/+", "sport/tennis", false },
    { "sport/tennis/+", "sport/tennis/player1", true },
    { "sport/tennis/+", "sport/tennis/player1/ranking", false },
    { "sport/+", "sport/", true },
    { "sport/+", "sport", false },
    { "/", "/", true },
    { "/", "a", false },
    { "/", "//", false },
    { "/", "a/", false },
    { "/", "/a", false },
    { "/a", "/a", true },
    { "/a", "a", false },
    { "/#", "/a", true },
    { "/#", "/", true },
    { "/#", "a", false },
    { "a//b", "a//b", true },
    { "a//b", "a/b", false },
    { "a/+/b", "a//b", true },
    { "a/b", "a/b", true },
    { "a/b", "A/b", false },
    { "a/b", "a/b/", false },
    { "a/b", "a/bc", false },
    { "a/b", "a", false },
    { "ab", "a", false },
    { "a", "ab", false },
    { "caf\xc3\xa9/+", "caf\xc3\xa9/x", true },
    { "cafe/+", "caf\xc3\xa9/x", false },
    { "a/+", "a/+", true },         /* a literal + in a topic is just bytes */
    { "a/b", "a/+", false },
};

static void test_rules_table(void **state)
{
    struct fixture *fx = *state;
    struct calls r;
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        const struct rule *c = &rules[i];
        assert_int_equal(subs_add(fx->subs, c->filter, OWNER(0), &QOS1), 1);
        size_t n = match_count(fx->subs, c->topic, &r);
        if (n != (c->match ? 1u : 0u) || ref_matches(c->filter, c->topic) != c->match)
            fail_msg("filter '%s' topic '%s': want %s, tree %zu calls, reference %d", c->filter,
                     c->topic, c->match ? "match" : "no match", n, ref_matches(c->filter, c->topic));
        /* The same rules through a share group. */
        char shared[64];
        snprintf(shared, sizeof shared, "$share/g/%s", c->filter);
        assert_int_equal(subs_add(fx->subs, shared, OWNER(1), &QOS0), 1);
        n = match_count(fx->subs, c->topic, &r);
        assert_int_equal(n, c->match ? 2 : 0);
        assert_int_equal(calls_for(&r, OWNER(1), true), c->match ? 1 : 0);
        assert_int_equal(subs_remove(fx->subs, c->filter, OWNER(0)), 0);
        assert_int_equal(subs_remove(fx->subs, shared, OWNER(1)), 0);
        assert_int_equal(subs_count(fx->subs), 0);
    }
}

/* Every rule's filter in one tree at once, so that neighbours in the trie
 * neither hide nor add matches. */
static void test_rules_together(void **state)
{
    struct fixture *fx = *state;
    size_t n_rules = sizeof rules / sizeof rules[0];
    for (size_t i = 0; i < n_rules; i++) {
        /* Tell the filters apart by an id; a repeated filter replaces. */
        struct sub_options o = { .id = (uint32_t)i + 1 };
        int rc = subs_add(fx->subs, rules[i].filter, OWNER(0), &o);
        assert_true(rc == 0 || rc == 1);
    }
    struct calls r;
    for (size_t i = 0; i < n_rules; i++) {
        const char *topic = rules[i].topic;
        size_t want = 0;
        for (size_t j = 0; j < n_rules; j++) {
            bool last = true;
            for (size_t k = j + 1; k < n_rules; k++)
                last = last && strcmp(rules[k].filter, rules[j].filter) != 0;
            want += last && ref_matches(rules[j].filter, topic);
        }
        assert_int_equal(match_count(fx->subs, topic, &r), want);
        for (size_t c = 0; c < r.n; c++)
            assert_true(ref_matches(rules[r.c[c].opt.id - 1].filter, topic));
    }
    for (size_t i = 0; i < n_rules; i++) {
        int rc = subs_remove(fx->subs, rules[i].filter, OWNER(0));
        assert_true(rc == 0 || rc == -ENOENT);
    }
    assert_int_equal(subs_count(fx->subs), 0);
    assert_int_equal(match_count(fx->subs, "a/b", &r), 0);
}

/* ---- add, replace, remove ----------------------------------------------- */

static void test_replace(void **state)
{
    struct fixture *fx = *state;
    struct subs *s = fx->subs;
    struct calls r;
    struct sub_options o = { .qos = 0, .id = 1 };
    assert_int_equal(subs_add(s, "a/b", OWNER(0), &o), 1);
    o = (struct sub_options){ .qos = 2, .no_local = true, .retain_as_published = true,
                              .retain_handling = 2, .id = 7 };
    long blocks = fx->mem.blocks;
    long done = fx->mem.done;
    assert_int_equal(subs_add(s, "a/b", OWNER(0), &o), 0);
    assert_int_equal(fx->mem.blocks, blocks);
    assert_int_equal(fx->mem.done, done);           /* replacing never allocates */
    assert_int_equal(subs_count(s), 1);
    assert_int_equal(match_count(s, "a/b", &r), 1);
    assert_ptr_equal(r.c[0].owner, OWNER(0));
    assert_int_equal(r.c[0].opt.qos, 2);
    assert_true(r.c[0].opt.no_local);
    assert_true(r.c[0].opt.retain_as_published);
    assert_int_equal(r.c[0].opt.retain_handling, 2);
    assert_int_equal(r.c[0].opt.id, 7);
    assert_false(r.c[0].opt.shared);

    assert_int_equal(subs_add(s, "a/b", OWNER(1), &QOS0), 1);
    assert_int_equal(subs_add(s, "$share/g/a/b", OWNER(0), &QOS0), 1);
    o = (struct sub_options){ .qos = 1, .id = 9, .shared = false };  /* shared is output only */
    assert_int_equal(subs_add(s, "$share/g/a/b", OWNER(0), &o), 0);
    assert_int_equal(subs_add(s, "$share/h/a/b", OWNER(0), &QOS0), 1);
    assert_int_equal(subs_count(s), 4);

    assert_int_equal(match_count(s, "a/b", &r), 4);
    assert_int_equal(calls_for(&r, OWNER(0), false), 1);
    assert_int_equal(calls_for(&r, OWNER(1), false), 1);
    assert_int_equal(calls_for(&r, OWNER(0), true), 2);
    bool saw_g = false;
    for (size_t i = 0; i < r.n; i++)
        saw_g = saw_g || (r.c[i].opt.shared && r.c[i].opt.id == 9 && r.c[i].opt.qos == 1);
    assert_true(saw_g);

    assert_int_equal(subs_remove(s, "$share/g/a/b", OWNER(0)), 0);
    assert_int_equal(subs_remove(s, "$share/g/a/b", OWNER(0)), -ENOENT);
    assert_int_equal(subs_remove(s, "$share/h/a/b", OWNER(1)), -ENOENT);
    assert_int_equal(subs_count(s), 3);
    assert_int_equal(match_count(s, "a/b", &r), 3);
}

static void test_invalid(void **state)
{
    struct fixture *fx = *state;
    struct subs *s = fx->subs;
    struct sub_options bad_qos = { .qos = 3 }, bad_rh = { .retain_handling = 3 };
    assert_int_equal(subs_add(s, "", OWNER(0), &QOS0), -EINVAL);
    assert_int_equal(subs_add(s, NULL, OWNER(0), &QOS0), -EINVAL);
    assert_int_equal(subs_add(s, "a", OWNER(0), NULL), -EINVAL);
    assert_int_equal(subs_add(s, "a", OWNER(0), &bad_qos), -EINVAL);
    assert_int_equal(subs_add(s, "a", OWNER(0), &bad_rh), -EINVAL);
    assert_int_equal(subs_add(s, "$share/g", OWNER(0), &QOS0), -EINVAL);
    assert_int_equal(subs_add(s, "$share/g/", OWNER(0), &QOS0), -EINVAL);
    assert_int_equal(subs_add(s, "$share//a", OWNER(0), &QOS0), -EINVAL);
    assert_int_equal(subs_remove(s, "", OWNER(0)), -EINVAL);
    assert_int_equal(subs_remove(s, "$share/g", OWNER(0)), -EINVAL);
    assert_int_equal(subs_count(s), 0);
    assert_int_equal(fx->mem.blocks, 3);    /* still just the tree, its root, its stack */

    /* Only the level `$share` itself introduces a group. */
    struct calls r;
    assert_int_equal(subs_add(s, "$sharex/a", OWNER(0), &QOS0), 1);
    assert_int_equal(subs_add(s, "$share", OWNER(0), &QOS0), 1);
    assert_int_equal(match_count(s, "$sharex/a", &r), 1);
    assert_false(r.c[0].opt.shared);
    assert_int_equal(match_count(s, "$share", &r), 1);
    assert_int_equal(subs_remove(s, "a", OWNER(0)), -ENOENT);
    assert_int_equal(subs_remove(s, "$sharex/a", OWNER(1)), -ENOENT);
    assert_int_equal(subs_remove(s, "$sharex/a/b", OWNER(0)), -ENOENT);
    assert_int_equal(subs_remove(s, "$sharex", OWNER(0)), -ENOENT);
}

/* Removing everything gives back every node, array and group name: the
 * tree is byte for byte where it started, however it was shaped. */
static void test_remove_prunes(void **state)
{
    struct fixture *fx = *state;
    struct subs *s = fx->subs;
    struct calls r;
    static const char *const filters[] = {
        "a/b/c/d/e/f/g/h", "a/b/c", "a/+/c", "a/#", "#", "+/+", "/", "a//b", "$SYS/#",
        "$share/g/a/b/c", "$share/h/a/b/c", "$share/g/+/#", "x/y", "x/z", "x/a", "x/b",
        "x/c", "x/d", "x/e", "x/f", "x/g", "x/h", "x/i", "x/j", "x/k", "x/l",
    };
    size_t n = sizeof filters / sizeof filters[0];
    /* Grow the walk stack to its final size first: it is kept on purpose. */
    assert_int_equal(subs_add(s, filters[0], OWNER(9), &QOS0), 1);
    assert_int_equal(subs_remove(s, filters[0], OWNER(9)), 0);
    long blocks = fx->mem.blocks;
    long long bytes = fx->mem.bytes;

    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < n; i++)
            for (int o = 0; o < 3; o++)
                assert_int_equal(subs_add(s, filters[i], OWNER(o), &QOS1), 1);
        assert_int_equal(subs_count(s), 3 * n);
        assert_true(match_count(s, "a/b/c", &r) > 0);
        /* Remove in a different order each round. */
        for (size_t k = 0; k < n; k++) {
            size_t i = round == 1 ? n - 1 - k : round == 2 ? (k * 7) % n : k;
            for (int o = 2; o >= 0; o--)
                assert_int_equal(subs_remove(s, filters[i], OWNER(o)), 0);
            assert_int_equal(subs_remove(s, filters[i], OWNER(0)), -ENOENT);
        }
        assert_int_equal(subs_count(s), 0);
        assert_int_equal(match_count(s, "a/b/c", &r), 0);
        assert_int_equal(match_count(s, "a/b/c/d/e/f/g/h", &r), 0);
        assert_int_equal(fx->mem.blocks, blocks);
        assert_int_equal(fx->mem.bytes, bytes);
    }
    /* Removing a filter that shares a path with others leaves them alone. */
    assert_int_equal(subs_add(s, "a/b", OWNER(0), &QOS0), 1);
    assert_int_equal(subs_add(s, "a/b/c", OWNER(0), &QOS0), 1);
    assert_int_equal(subs_remove(s, "a/b", OWNER(0)), 0);
    assert_int_equal(match_count(s, "a/b/c", &r), 1);
    assert_int_equal(match_count(s, "a/b", &r), 0);
    assert_int_equal(subs_remove(s, "a/b/c", OWNER(0)), 0);
    assert_int_equal(fx->mem.bytes, bytes);
}

/* ---- share groups ------------------------------------------------------- */

static void test_shared_round_robin(void **state)
{
    struct fixture *fx = *state;
    struct subs *s = fx->subs;
    struct calls r;
    for (int o = 0; o < 3; o++)
        assert_int_equal(subs_add(s, "$share/workers/jobs/+", OWNER(o), &QOS1), 1);
    size_t got[3] = { 0 };
    for (int m = 0; m < 300; m++) {
        assert_int_equal(match_count(s, "jobs/new", &r), 1);
        assert_true(r.c[0].opt.shared);
        assert_int_equal(r.c[0].opt.qos, 1);
        int who = (int)((char *)r.c[0].owner - owners);
        assert_true(who >= 0 && who < 3);
        assert_int_equal(who, m % 3);               /* strictly in turn, join order */
        got[who]++;
    }
    assert_int_equal(got[0], 100);
    assert_int_equal(got[1], 100);
    assert_int_equal(got[2], 100);
    assert_int_equal(match_count(s, "jobs", &r), 0);
    assert_int_equal(match_count(s, "jobs/a/b", &r), 0);

    /* A member leaving does not skip the one whose turn is next. Turn is at
     * 0 now; take 0 (turn -> 1), then remove 0: 1 is still next. */
    assert_int_equal(match_count(s, "jobs/x", &r), 1);
    assert_ptr_equal(r.c[0].owner, OWNER(0));
    assert_int_equal(subs_remove(s, "$share/workers/jobs/+", OWNER(0)), 0);
    assert_int_equal(match_count(s, "jobs/x", &r), 1);
    assert_ptr_equal(r.c[0].owner, OWNER(1));
    assert_int_equal(match_count(s, "jobs/x", &r), 1);
    assert_ptr_equal(r.c[0].owner, OWNER(2));
    /* Removing the member whose turn it is passes the turn on. */
    assert_int_equal(subs_remove(s, "$share/workers/jobs/+", OWNER(1)), 0);
    assert_int_equal(match_count(s, "jobs/x", &r), 1);
    assert_ptr_equal(r.c[0].owner, OWNER(2));
    assert_int_equal(subs_remove(s, "$share/workers/jobs/+", OWNER(2)), 0);
    assert_int_equal(match_count(s, "jobs/x", &r), 0);
    assert_int_equal(subs_count(s), 0);
}

struct ok_set {
    bool ok[16];
    size_t asked;
};

static bool member_ok(void *ctx, void *owner)
{
    struct ok_set *set = ctx;
    set->asked++;
    return set->ok[(char *)owner - owners];
}

static void test_member_ok_skips(void **state)
{
    struct fixture *fx = *state;
    struct subs *s = fx->subs;
    struct calls r;
    struct ok_set set = { .ok = { true, false, true } };
    subs_set_member_ok(s, member_ok, &set);
    for (int o = 0; o < 3; o++)
        assert_int_equal(subs_add(s, "$share/g/t", OWNER(o), &QOS0), 1);

    /* 1 is refused: 0 and 2 alternate. */
    size_t got[3] = { 0 };
    for (int m = 0; m < 100; m++) {
        assert_int_equal(match_count(s, "t", &r), 1);
        got[(char *)r.c[0].owner - owners]++;
    }
    assert_int_equal(got[0], 50);
    assert_int_equal(got[1], 0);
    assert_int_equal(got[2], 50);

    /* None ok: the next in turn anyway, and the turn keeps moving. The last
     * pick above was 2, so the turn is at 0. */
    memset(set.ok, 0, sizeof set.ok);
    for (int m = 0; m < 6; m++) {
        assert_int_equal(match_count(s, "t", &r), 1);
        assert_ptr_equal(r.c[0].owner, OWNER(m % 3));
    }
    /* Only 1 ok: always 1, whoever's turn it is. */
    set.ok[1] = true;
    for (int m = 0; m < 5; m++) {
        assert_int_equal(match_count(s, "t", &r), 1);
        assert_ptr_equal(r.c[0].owner, OWNER(1));
    }
    /* Non-shared subscriptions are never asked about. */
    set.asked = 0;
    assert_int_equal(subs_add(s, "t", OWNER(5), &QOS0), 1);
    subs_set_member_ok(s, NULL, NULL);
    assert_int_equal(match_count(s, "t", &r), 2);
    assert_int_equal(set.asked, 0);
}

static void test_shared_and_plain_mixed(void **state)
{
    struct fixture *fx = *state;
    struct subs *s = fx->subs;
    struct calls r;
    struct sub_options q2 = { .qos = 2, .id = 42 };
    assert_int_equal(subs_add(s, "x/+", OWNER(0), &QOS0), 1);
    assert_int_equal(subs_add(s, "x/+", OWNER(1), &QOS1), 1);
    assert_int_equal(subs_add(s, "$share/g/x/+", OWNER(2), &QOS0), 1);
    assert_int_equal(subs_add(s, "$share/g/x/+", OWNER(3), &QOS0), 1);
    assert_int_equal(subs_add(s, "$share/h/x/#", OWNER(0), &q2), 1);
    assert_int_equal(subs_add(s, "x/#", OWNER(0), &QOS1), 1);   /* overlaps x/+ */
    assert_int_equal(subs_count(s), 6);

    size_t got[4][2] = { { 0 } };
    for (int m = 0; m < 10; m++) {
        /* x/+ (0, 1), x/# (0), g (2 or 3), h (0) */
        assert_int_equal(match_count(s, "x/1", &r), 5);
        for (size_t i = 0; i < r.n; i++)
            got[(char *)r.c[i].owner - owners][r.c[i].opt.shared]++;
        const struct call *h = call_for(&r, OWNER(0), true);
        assert_non_null(h);
        assert_int_equal(h->opt.qos, 2);
        assert_int_equal(h->opt.id, 42);
    }
    assert_int_equal(got[0][0], 20);
    assert_int_equal(got[0][1], 10);
    assert_int_equal(got[1][0], 10);
    assert_int_equal(got[1][1], 0);
    assert_int_equal(got[2][1], 5);
    assert_int_equal(got[3][1], 5);
    assert_int_equal(got[2][0] + got[3][0], 0);

    /* x alone: only the # filters, h and x/#. */
    assert_int_equal(match_count(s, "x", &r), 2);
    assert_int_equal(calls_for(&r, OWNER(0), true), 1);
    assert_int_equal(calls_for(&r, OWNER(0), false), 1);
    /* Removing the plain subscription keeps the group on the same filter. */
    assert_int_equal(subs_remove(s, "x/+", OWNER(0)), 0);
    assert_int_equal(subs_remove(s, "x/+", OWNER(1)), 0);
    assert_int_equal(match_count(s, "x/1", &r), 3);
    assert_int_equal(calls_for(&r, OWNER(2), true) + calls_for(&r, OWNER(3), true), 1);
}

/* ---- out of memory ------------------------------------------------------ */

/* A digest of what the tree delivers for a few topics. */
static unsigned long tree_digest(struct subs *s)
{
    static const char *const topics[] = { "a/b/c", "a", "q/r/s/t/u/v", "q/r", "$SYS/x", "/" };
    unsigned long d = 0;
    struct calls r;
    for (size_t t = 0; t < sizeof topics / sizeof topics[0]; t++) {
        d = d * 31 + match_count(s, topics[t], &r);
        for (size_t i = 0; i < r.n; i++) {
            /* Not who a group chose: matching moves the group's turn. */
            unsigned long who = r.c[i].opt.shared ? 99 : (unsigned long)((char *)r.c[i].owner - owners);
            d = d * 31 + who * 3 + r.c[i].opt.qos;
        }
    }
    return d;
}

/* Fail each allocation in turn, for adds that need new nodes, a longer walk
 * stack, new arrays and new groups: every failure leaves the tree as it was
 * (same subscriptions, same matches, no block more), and the next attempt
 * succeeds once memory is back. */
static void test_out_of_memory(void **state)
{
    struct fixture *fx = *state;
    struct subs *s = fx->subs;
    assert_int_equal(subs_add(s, "a/+/c", OWNER(0), &QOS0), 1);
    assert_int_equal(subs_add(s, "$share/g/a/#", OWNER(1), &QOS0), 1);
    static const char *const adds[] = {
        "q/r/s/t/u/v", "a/b/c", "a/+/c", "$share/g/a/#", "$share/new/q/r/#", "$share/g/q/r",
        "x/y/z/w/v/u/t/s/r/q/p/o/n/m",
    };
    for (size_t k = 0; k < sizeof adds / sizeof adds[0]; k++) {
        bool added = false;
        for (long fail = 0; !added; fail++) {
            assert_true(fail < 100);
            size_t count = subs_count(s);
            long blocks = fx->mem.blocks;
            unsigned long digest = tree_digest(s);
            fx->mem.fail_from = fx->mem.done + fail;
            int rc = subs_add(s, adds[k], OWNER(2), &QOS1);
            fx->mem.fail_from = -1;
            if (rc == -ENOMEM) {
                assert_int_equal(subs_count(s), count);
                assert_int_equal(fx->mem.blocks, blocks);
                assert_int_equal(tree_digest(s), digest);
            } else {
                assert_int_equal(rc, 1);
                assert_int_equal(subs_count(s), count + 1);
                added = true;
            }
        }
    }
    /* Replacing and removing never need memory. */
    fx->mem.fail_from = fx->mem.done;
    for (size_t k = 0; k < sizeof adds / sizeof adds[0]; k++)
        assert_int_equal(subs_add(s, adds[k], OWNER(2), &QOS0), 0);
    for (size_t k = 0; k < sizeof adds / sizeof adds[0]; k++)
        assert_int_equal(subs_remove(s, adds[k], OWNER(2)), 0);
    fx->mem.fail_from = -1;
    assert_int_equal(subs_count(s), 2);
}

static void test_new_out_of_memory(void **state)
{
    (void)state;
    for (long fail = 0;; fail++) {
        struct mem m = { .fail_from = fail };
        struct subs *s = subs_new(mem_alloc, &m);
        if (s) {
            assert_true(fail > 0);
            subs_free(s);
            assert_int_equal(m.blocks, 0);
            assert_int_equal(m.bytes, 0);
            break;
        }
        assert_int_equal(m.blocks, 0);
        assert_true(fail < 10);
    }
    /* The C library allocator when none is given. */
    struct subs *s = subs_new(NULL, NULL);
    assert_non_null(s);
    assert_int_equal(subs_add(s, "a/#", OWNER(0), &QOS0), 1);
    struct calls r;
    assert_int_equal(match_count(s, "a/b", &r), 1);
    subs_free(s);
    subs_free(NULL);
}

/* ---- depth -------------------------------------------------------------- */

/* A hostile 30,000-level filter: neither matching nor freeing recurses. */
static void test_deep_filter(void **state)
{
    struct fixture *fx = *state;
    enum { LEVELS = 30000 };
    char *filter = malloc(2 * LEVELS);
    char *topic = malloc(2 * LEVELS);
    assert_non_null(filter);
    assert_non_null(topic);
    for (size_t i = 0; i < LEVELS; i++) {
        filter[2 * i] = '+';
        topic[2 * i] = 'x';
        filter[2 * i + 1] = topic[2 * i + 1] = '/';
    }
    filter[2 * LEVELS - 1] = topic[2 * LEVELS - 1] = '\0';
    assert_int_equal(subs_add(fx->subs, filter, OWNER(0), &QOS0), 1);
    filter[2 * LEVELS - 2] = '#';
    assert_int_equal(subs_add(fx->subs, filter, OWNER(1), &QOS0), 1);
    filter[2 * LEVELS - 2] = 'x';
    assert_int_equal(subs_add(fx->subs, filter, OWNER(2), &QOS0), 1);
    struct calls r;
    assert_int_equal(match_count(fx->subs, topic, &r), 3);
    topic[2 * LEVELS - 2] = 'y';
    assert_int_equal(match_count(fx->subs, topic, &r), 2);
    topic[2 * LEVELS - 3] = '\0';                       /* one level short */
    assert_int_equal(match_count(fx->subs, topic, &r), 1);  /* only +/.../# */
    assert_ptr_equal(r.c[0].owner, OWNER(1));
    free(filter);
    free(topic);
    /* teardown frees the deep tree (and checks it all went back) */
}

/* The widest walk: along x/x/.../x every node also has a `+` child, so a
 * match holds one pending `+` step per level at its deepest. Sized wrong,
 * the walk stack overflows here (ASan sees it in the sanitized build). */
static void test_widest_walk(void **state)
{
    struct fixture *fx = *state;
    enum { LEVELS = 2000 };
    char *filter = malloc(2 * LEVELS);
    assert_non_null(filter);
    for (size_t k = 1; k <= LEVELS; k++) {
        for (size_t i = 0; i + 1 < k; i++) {
            filter[2 * i] = 'x';
            filter[2 * i + 1] = '/';
        }
        filter[2 * k - 2] = '+';
        filter[2 * k - 1] = '\0';
        assert_int_equal(subs_add(fx->subs, filter, OWNER(0), &QOS0), 1);
    }
    filter[2 * LEVELS - 2] = 'x';       /* the topic x/x/.../x, LEVELS long */
    struct calls r;
    assert_int_equal(match_count(fx->subs, filter, &r), 1);  /* x/.../x/+ */
    assert_int_equal(subs_add(fx->subs, filter, OWNER(1), &QOS0), 1);
    assert_int_equal(match_count(fx->subs, filter, &r), 2);
    filter[0] = 'y';                    /* y/x/.../x: only +/... at the root, none that long */
    assert_int_equal(match_count(fx->subs, filter, &r), 0);
    assert_int_equal(subs_count(fx->subs), LEVELS + 1);
    free(filter);
}

/* ---- random changes against the brute-force matcher ---------------------- */

struct model_sub {
    char filter[48];    /* as given to subs_add, maybe $share/... */
    const char *path;   /* into filter: the part after $share/{group}/ */
    int group;          /* -1: not shared */
    int owner;
    uint32_t id;        /* unique per add or replace: names this entry */
    bool live;
};

#define MODEL_MAX 4096
#define OPS 10000

struct model {
    struct model_sub s[MODEL_MAX];
    size_t n;           /* entries used, live or not */
    size_t live;
    size_t by_id[OPS + 1];  /* id -> index in s; one id per add, so <= OPS */
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    /* xorshift64*: deterministic, so a failure reproduces */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32) % n;
}

static void random_levels(char *out, size_t size, bool filter)
{
    static const char *const words[] = { "a", "b", "", "$x", "c" };
    size_t levels = 1 + rnd(4);
    out[0] = '\0';
    for (size_t i = 0; i < levels; i++) {
        const char *w = words[rnd(5)];
        if (filter && rnd(4) == 0)
            w = "+";
        if (filter && i == levels - 1 && rnd(5) == 0)
            w = "#";
        if (i > 0)
            strncat(out, "/", size - strlen(out) - 1);
        strncat(out, w, size - strlen(out) - 1);
    }
}

static void random_filter(struct model_sub *m)
{
    char path[32];
    do                  /* an empty filter is not a filter */
        random_levels(path, sizeof path, true);
    while (path[0] == '\0');
    m->group = rnd(4) == 0 ? (int)rnd(2) : -1;
    if (m->group < 0)
        snprintf(m->filter, sizeof m->filter, "%s", path);
    else
        snprintf(m->filter, sizeof m->filter, "$share/g%d/%s", m->group, path);
    m->path = m->group < 0 ? m->filter : m->filter + strlen("$share/g0/");
}

static struct model_sub *model_find(struct model *md, const char *filter, int owner)
{
    for (size_t i = 0; i < md->n; i++)
        if (md->s[i].live && md->s[i].owner == owner && strcmp(md->s[i].filter, filter) == 0)
            return &md->s[i];
    return NULL;
}

static const struct model_sub *model_by_id(const struct model *md, uint32_t id)
{
    if (id == 0 || id > OPS || md->by_id[id] >= md->n)
        return NULL;
    const struct model_sub *m = &md->s[md->by_id[id]];
    return m->live && m->id == id ? m : NULL;
}

/* The tree against the model for one topic: exactly the matching non-shared
 * entries, each once; one call per matching (group, filter) pair, naming a
 * live member of it. */
static void check_topic(struct subs *s, const struct model *md, const char *topic)
{
    static struct calls r;
    match_count(s, topic, &r);
    size_t want_plain = 0, want_groups = 0;
    for (size_t i = 0; i < md->n; i++) {
        const struct model_sub *m = &md->s[i];
        if (!m->live || !ref_matches(m->path, topic))
            continue;
        if (m->group < 0) {
            want_plain++;
            continue;
        }
        bool first = true;      /* count each (group, path) once */
        for (size_t j = 0; j < i && first; j++)
            first = !(md->s[j].live && md->s[j].group == m->group && strcmp(md->s[j].path, m->path) == 0);
        want_groups += first;
    }
    size_t plain = 0, groups = 0;
    for (size_t c = 0; c < r.n; c++) {
        const struct model_sub *m = model_by_id(md, r.c[c].opt.id);
        if (!m)
            fail_msg("topic '%s': call with unknown id %u", topic, (unsigned)r.c[c].opt.id);
        assert_ptr_equal(r.c[c].owner, OWNER(m->owner));
        assert_int_equal(r.c[c].opt.shared, m->group >= 0);
        if (!ref_matches(m->path, topic))
            fail_msg("topic '%s' delivered to '%s'", topic, m->filter);
        for (size_t d = 0; d < c; d++) {
            const struct model_sub *o = model_by_id(md, r.c[d].opt.id);
            assert_true(o != m);
            if (m->group >= 0 && o->group == m->group && strcmp(o->path, m->path) == 0)
                fail_msg("topic '%s': group %d on '%s' delivered twice", topic, m->group, m->path);
        }
        if (m->group < 0)
            plain++;
        else
            groups++;
    }
    if (plain != want_plain || groups != want_groups)
        fail_msg("topic '%s': %zu plain, %zu shared; want %zu, %zu", topic, plain, groups,
                 want_plain, want_groups);
}

static void test_random_against_reference(void **state)
{
    struct fixture *fx = *state;
    struct subs *s = fx->subs;
    struct model *md = calloc(1, sizeof *md);
    assert_non_null(md);
    uint32_t next_id = 1;
    /* Grow the walk stack first: it is kept on purpose (see below). */
    assert_int_equal(subs_add(s, "a/b/c/d/e/f/g/h", OWNER(0), &QOS0), 1);
    assert_int_equal(subs_remove(s, "a/b/c/d/e/f/g/h", OWNER(0)), 0);
    long long bytes = fx->mem.bytes;
    size_t adds = 0, replaces = 0, removes = 0, misses = 0;

    for (int op = 0; op < OPS; op++) {
        struct model_sub cand = { .owner = (int)rnd(6), .live = true };
        random_filter(&cand);
        if (rnd(2) == 0 || md->live == 0) {
            struct model_sub *m = model_find(md, cand.filter, cand.owner);
            struct sub_options o = { .qos = (uint8_t)rnd(3), .id = next_id++ };
            int rc = subs_add(s, cand.filter, OWNER(cand.owner), &o);
            if (m) {
                assert_int_equal(rc, 0);
                m->id = o.id;
                md->by_id[o.id] = (size_t)(m - md->s);
                replaces++;
            } else {
                assert_int_equal(rc, 1);
                assert_true(md->n < MODEL_MAX);
                cand.id = o.id;
                md->s[md->n] = cand;
                md->s[md->n].path = md->s[md->n].filter + (cand.path - cand.filter);
                md->by_id[o.id] = md->n;
                md->n++;
                md->live++;
                adds++;
            }
        } else {
            /* Half the time one that exists, half a random one. */
            struct model_sub *m = NULL;
            if (rnd(2) == 0) {
                do
                    m = &md->s[rnd((uint32_t)md->n)];
                while (!m->live);
            } else {
                m = model_find(md, cand.filter, cand.owner);
            }
            const char *filter = m ? m->filter : cand.filter;
            int owner = m ? m->owner : cand.owner;
            int rc = subs_remove(s, filter, OWNER(owner));
            assert_int_equal(rc, m ? 0 : -ENOENT);
            if (m) {
                m->live = false;
                md->live--;
                removes++;
            } else {
                misses++;
            }
        }
        assert_int_equal(subs_count(s), md->live);
        if (op % 10 == 0) {
            char topic[32];
            for (int t = 0; t < 4; t++) {
                random_levels(topic, sizeof topic, false);
                check_topic(s, md, topic);
            }
        }
        /* Compact the model now and then so it stays small and fast. */
        if (md->n == MODEL_MAX || op % 500 == 499) {
            size_t w = 0;
            for (size_t i = 0; i < md->n; i++) {
                if (!md->s[i].live)
                    continue;
                md->s[w] = md->s[i];
                md->s[w].path = md->s[w].filter + (md->s[i].path - md->s[i].filter);
                md->by_id[md->s[w].id] = w;
                w++;
            }
            md->n = w;
        }
    }
    assert_true(adds > 2000 && replaces > 100 && removes > 1000 && misses > 100);

    for (size_t i = 0; i < md->n; i++) {
        if (!md->s[i].live)
            continue;
        assert_int_equal(subs_remove(s, md->s[i].filter, OWNER(md->s[i].owner)), 0);
        md->s[i].live = false;
    }
    assert_int_equal(subs_count(s), 0);
    struct calls r;
    assert_int_equal(match_count(s, "a/b", &r), 0);
    assert_int_equal(match_count(s, "", &r), 0);
    assert_int_equal(fx->mem.bytes, bytes);     /* everything pruned */
    free(md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rules_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rules_together, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_prunes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_round_robin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_member_ok_skips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_and_plain_mixed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_memory, setup, teardown),
        cmocka_unit_test(test_new_out_of_memory),
        cmocka_unit_test_setup_teardown(test_deep_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_widest_walk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_against_reference, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
