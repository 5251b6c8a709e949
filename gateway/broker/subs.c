/* The trie behind subs.h: one node per filter level, children sorted by
 * level bytes (binary search), with `+` and `#` held apart so matching never
 * searches for them. A node keeps the non-shared subscriptions ending there
 * (sorted by owner) and its share groups (sorted by name). Matching walks
 * with an explicit stack sized by subs_add, so it neither allocates nor
 * recurses as deep as a hostile filter. */
#include "gateway/broker/subs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SHARE_PREFIX "$share/"
#define SHARE_PREFIX_LEN (sizeof SHARE_PREFIX - 1)

struct sub {
    void *owner;
    struct sub_options opt;
};

/* Members stay in the order they joined, so "round-robin" means the same
 * thing to an operator reading logs as to the code. */
struct share_group {
    char *name;                 /* owned, NUL-terminated */
    size_t name_len;
    struct sub *members;
    size_t n, cap;
    size_t turn;                /* the member to try first; < n */
};

struct node {
    struct node *parent;        /* NULL for the root */
    struct node **kids;         /* literal levels, sorted by level_cmp */
    size_t nkids, kids_cap;
    struct node *plus, *hash;
    struct sub *subs;           /* sorted by owner address */
    size_t nsubs, subs_cap;
    struct share_group *groups; /* sorted by name */
    size_t ngroups, groups_cap;
    size_t len;
    char level[];               /* NUL-terminated, for debuggers */
};

/* One pending step of a match: `node` matched every level before `rest`;
 * rest NULL means the topic's levels are all consumed. */
struct walk {
    struct node *node;
    const char *rest;
};

struct subs {
    subs_alloc_fn *alloc;
    void *alloc_ctx;
    subs_member_ok_fn *member_ok;
    void *ok_ctx;
    struct node *root;
    size_t count;
    /* A depth-first walk holds at most two pending steps per level of the
     * deepest filter ever added, so subs_add grows this and match only
     * reads it. It never shrinks: bounded by the longest filter seen. */
    struct walk *stack;
    size_t stack_cap;
};

/* ---- memory ------------------------------------------------------------- */

static void *libc_alloc(void *ctx, void *ptr, size_t old_size, size_t new_size)
{
    (void)ctx;
    (void)old_size;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, new_size);
}

static void *mem_resize(struct subs *s, void *ptr, size_t old_size, size_t new_size)
{
    return s->alloc(s->alloc_ctx, ptr, old_size, new_size);
}

static void mem_free(struct subs *s, void *ptr, size_t size)
{
    if (ptr)
        s->alloc(s->alloc_ctx, ptr, size, 0);
}

/* Make room for `need` elements of `elem` bytes in *arr (capacity *cap),
 * doubling. On failure *arr and *cap are unchanged. */
static int array_reserve(struct subs *s, void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t new_cap = *cap ? *cap : 2;
    while (new_cap < need) {
        if (new_cap > (size_t)-1 / 2)
            return -ENOMEM;
        new_cap *= 2;
    }
    if (new_cap > (size_t)-1 / elem)
        return -ENOMEM;
    void *p = mem_resize(s, *arr, *cap * elem, new_cap * elem);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = new_cap;
    return 0;
}

/* After a removal: free an empty array, halve one used to a quarter, so
 * a node that once had many children does not keep their room forever.
 * A refused shrink just keeps the larger block. */
static void array_shrink(struct subs *s, void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n == 0) {
        mem_free(s, *arr, *cap * elem);
        *arr = NULL;
        *cap = 0;
    } else if (*cap > 8 && n <= *cap / 4) {
        void *p = mem_resize(s, *arr, *cap * elem, *cap / 2 * elem);
        if (p) {
            *arr = p;
            *cap /= 2;
        }
    }
}

/* ---- levels and filters ------------------------------------------------- */

/* The length of the level starting at p; *rest is where the next level
 * starts, or NULL when this is the last. */
static size_t level_next(const char *p, const char **rest)
{
    const char *slash = strchr(p, '/');
    if (!slash) {
        *rest = NULL;
        return strlen(p);
    }
    *rest = slash + 1;
    return (size_t)(slash - p);
}

static size_t level_count(const char *p)
{
    size_t n = 1;
    for (; *p; p++)
        n += *p == '/';
    return n;
}

/* Byte order, shorter first on a common prefix: any total order will do,
 * as long as insert and search agree. */
static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return (alen > blen) - (alen < blen);
}

/* A filter split into its share group (NULL when not shared) and path. */
struct filter_ref {
    const char *group;
    size_t group_len;
    const char *path;
};

static int filter_parse(const char *filter, struct filter_ref *f)
{
    if (!filter || !*filter)
        return -EINVAL;
    f->group = NULL;
    f->group_len = 0;
    f->path = filter;
    if (strncmp(filter, SHARE_PREFIX, SHARE_PREFIX_LEN) != 0)
        return 0;
    const char *g = filter + SHARE_PREFIX_LEN;
    const char *slash = strchr(g, '/');
    if (!slash || slash == g || slash[1] == '\0')
        return -EINVAL;
    f->group = g;
    f->group_len = (size_t)(slash - g);
    f->path = slash + 1;
    return 0;
}

/* ---- nodes -------------------------------------------------------------- */

static bool is_wild(const char *level, size_t len, char which)
{
    return len == 1 && level[0] == which;
}

/* Index of the kid named `level` (*found true), or where it would go. */
static size_t kids_search(const struct node *n, const char *level, size_t len, bool *found)
{
    size_t lo = 0, hi = n->nkids;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = bytes_cmp(n->kids[mid]->level, n->kids[mid]->len, level, len);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static struct node *child_find(const struct node *n, const char *level, size_t len)
{
    if (is_wild(level, len, '+'))
        return n->plus;
    if (is_wild(level, len, '#'))
        return n->hash;
    bool found;
    size_t i = kids_search(n, level, len, &found);
    return found ? n->kids[i] : NULL;
}

/* Only for topic levels during a match: `+` and `#` there are literal. */
static struct node *kid_find(const struct node *n, const char *level, size_t len)
{
    bool found;
    size_t i = kids_search(n, level, len, &found);
    return found ? n->kids[i] : NULL;
}

static struct node *node_alloc(struct subs *s, struct node *parent, const char *level, size_t len)
{
    struct node *n = mem_resize(s, NULL, 0, sizeof *n + len + 1);
    if (!n)
        return NULL;
    *n = (struct node){ .parent = parent, .len = len };
    memcpy(n->level, level, len);
    n->level[len] = '\0';
    return n;
}

static bool node_empty(const struct node *n)
{
    return !n->nkids && !n->plus && !n->hash && !n->nsubs && !n->ngroups;
}

static void group_release(struct subs *s, struct share_group *g)
{
    mem_free(s, g->name, g->name_len + 1);
    mem_free(s, g->members, g->cap * sizeof *g->members);
}

/* Free n and what it holds, but not its children (the caller's job). */
static void node_destroy(struct subs *s, struct node *n)
{
    for (size_t i = 0; i < n->ngroups; i++)
        group_release(s, &n->groups[i]);
    mem_free(s, n->groups, n->groups_cap * sizeof *n->groups);
    mem_free(s, n->subs, n->subs_cap * sizeof *n->subs);
    mem_free(s, n->kids, n->kids_cap * sizeof *n->kids);
    mem_free(s, n, sizeof *n + n->len + 1);
}

static struct node *child_create(struct subs *s, struct node *n, const char *level, size_t len)
{
    struct node **slot = is_wild(level, len, '+') ? &n->plus
                       : is_wild(level, len, '#') ? &n->hash : NULL;
    size_t at = 0;
    if (!slot) {
        bool found;
        at = kids_search(n, level, len, &found);
        if (array_reserve(s, (void **)&n->kids, &n->kids_cap, n->nkids + 1, sizeof *n->kids))
            return NULL;
    }
    struct node *c = node_alloc(s, n, level, len);
    if (!c) {
        /* A first kids array goes again: a failed add leaves no trace. */
        array_shrink(s, (void **)&n->kids, &n->kids_cap, n->nkids, sizeof *n->kids);
        return NULL;
    }
    if (slot) {
        *slot = c;
    } else {
        memmove(&n->kids[at + 1], &n->kids[at], (n->nkids - at) * sizeof *n->kids);
        n->kids[at] = c;
        n->nkids++;
    }
    return c;
}

static void child_detach(struct subs *s, struct node *parent, struct node *c)
{
    if (parent->plus == c) {
        parent->plus = NULL;
    } else if (parent->hash == c) {
        parent->hash = NULL;
    } else {
        bool found;
        size_t i = kids_search(parent, c->level, c->len, &found);
        memmove(&parent->kids[i], &parent->kids[i + 1], (parent->nkids - i - 1) * sizeof *parent->kids);
        parent->nkids--;
        array_shrink(s, (void **)&parent->kids, &parent->kids_cap, parent->nkids, sizeof *parent->kids);
    }
}

/* Free n and each ancestor left empty, up to (not including) the root.
 * Every other node is non-empty between calls, so only what the last
 * change emptied (or a failed add created) goes. */
static void node_prune(struct subs *s, struct node *n)
{
    while (n->parent && node_empty(n)) {
        struct node *parent = n->parent;
        child_detach(s, parent, n);
        node_destroy(s, n);
        n = parent;
    }
}

/* The node for `path`, created with its missing ancestors; NULL when out of
 * memory, with whatever this call created freed again. */
static struct node *path_make(struct subs *s, const char *path)
{
    struct node *n = s->root;
    for (const char *p = path; p;) {
        const char *rest;
        size_t len = level_next(p, &rest);
        struct node *c = child_find(n, p, len);
        if (!c)
            c = child_create(s, n, p, len);
        if (!c) {
            node_prune(s, n);
            return NULL;
        }
        n = c;
        p = rest;
    }
    return n;
}

static struct node *path_find(struct node *n, const char *path)
{
    for (const char *p = path; p && n;) {
        const char *rest;
        size_t len = level_next(p, &rest);
        n = child_find(n, p, len);
        p = rest;
    }
    return n;
}

/* ---- non-shared subscriptions ------------------------------------------- */

/* Index of owner's subscription in n (*found), or where it would go.
 * Compared as integers: relational operators on unrelated pointers are
 * undefined in C. */
static size_t subs_search(const struct node *n, const void *owner, bool *found)
{
    uintptr_t key = (uintptr_t)owner;
    size_t lo = 0, hi = n->nsubs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uintptr_t k = (uintptr_t)n->subs[mid].owner;
        if (k == key) {
            *found = true;
            return mid;
        }
        if (k < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static int node_sub_put(struct subs *s, struct node *n, void *owner, const struct sub_options *opt)
{
    bool found;
    size_t i = subs_search(n, owner, &found);
    if (found) {
        n->subs[i].opt = *opt;
        return 0;
    }
    if (array_reserve(s, (void **)&n->subs, &n->subs_cap, n->nsubs + 1, sizeof *n->subs))
        return -ENOMEM;
    memmove(&n->subs[i + 1], &n->subs[i], (n->nsubs - i) * sizeof *n->subs);
    n->subs[i] = (struct sub){ .owner = owner, .opt = *opt };
    n->nsubs++;
    s->count++;
    return 1;
}

static int node_sub_drop(struct subs *s, struct node *n, const void *owner)
{
    bool found;
    size_t i = subs_search(n, owner, &found);
    if (!found)
        return -ENOENT;
    memmove(&n->subs[i], &n->subs[i + 1], (n->nsubs - i - 1) * sizeof *n->subs);
    n->nsubs--;
    s->count--;
    array_shrink(s, (void **)&n->subs, &n->subs_cap, n->nsubs, sizeof *n->subs);
    return 0;
}

/* ---- share groups ------------------------------------------------------- */

static size_t groups_search(const struct node *n, const struct filter_ref *f, bool *found)
{
    size_t lo = 0, hi = n->ngroups;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct share_group *g = &n->groups[mid];
        int c = bytes_cmp(g->name, g->name_len, f->group, f->group_len);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Groups are small and a linear scan keeps join order for the turn. */
static size_t member_find(const struct share_group *g, const void *owner)
{
    size_t i = 0;
    while (i < g->n && g->members[i].owner != owner)
        i++;
    return i;
}

/* A new group at index `at` of n with one member; all or nothing. */
static int group_create(struct subs *s, struct node *n, size_t at, const struct filter_ref *f,
                        const struct sub *member)
{
    if (array_reserve(s, (void **)&n->groups, &n->groups_cap, n->ngroups + 1, sizeof *n->groups))
        return -ENOMEM;
    struct share_group g = { .name_len = f->group_len, .n = 1 };
    g.name = mem_resize(s, NULL, 0, f->group_len + 1);
    if (array_reserve(s, (void **)&g.members, &g.cap, 1, sizeof *g.members) || !g.name) {
        group_release(s, &g);
        array_shrink(s, (void **)&n->groups, &n->groups_cap, n->ngroups, sizeof *n->groups);
        return -ENOMEM;
    }
    memcpy(g.name, f->group, f->group_len);
    g.name[f->group_len] = '\0';
    g.members[0] = *member;
    memmove(&n->groups[at + 1], &n->groups[at], (n->ngroups - at) * sizeof *n->groups);
    n->groups[at] = g;
    n->ngroups++;
    return 0;
}

static int group_member_put(struct subs *s, struct node *n, const struct filter_ref *f,
                            const struct sub *member)
{
    bool found;
    size_t at = groups_search(n, f, &found);
    if (!found) {
        if (group_create(s, n, at, f, member))
            return -ENOMEM;
        s->count++;
        return 1;
    }
    struct share_group *g = &n->groups[at];
    size_t i = member_find(g, member->owner);
    if (i < g->n) {
        g->members[i].opt = member->opt;
        return 0;
    }
    if (array_reserve(s, (void **)&g->members, &g->cap, g->n + 1, sizeof *g->members))
        return -ENOMEM;
    g->members[g->n++] = *member;
    s->count++;
    return 1;
}

static int group_member_drop(struct subs *s, struct node *n, const struct filter_ref *f,
                             const void *owner)
{
    bool found;
    size_t at = groups_search(n, f, &found);
    if (!found)
        return -ENOENT;
    struct share_group *g = &n->groups[at];
    size_t i = member_find(g, owner);
    if (i == g->n)
        return -ENOENT;
    memmove(&g->members[i], &g->members[i + 1], (g->n - i - 1) * sizeof *g->members);
    g->n--;
    s->count--;
    /* The member that was next in turn stays next. */
    if (i < g->turn)
        g->turn--;
    if (g->turn >= g->n)
        g->turn = 0;
    if (g->n > 0) {
        array_shrink(s, (void **)&g->members, &g->cap, g->n, sizeof *g->members);
        return 0;
    }
    group_release(s, g);
    memmove(&n->groups[at], &n->groups[at + 1], (n->ngroups - at - 1) * sizeof *n->groups);
    n->ngroups--;
    array_shrink(s, (void **)&n->groups, &n->groups_cap, n->ngroups, sizeof *n->groups);
    return 0;
}

/* The first member from the turn on that member_ok accepts, or the one whose
 * turn it is when none does; the turn moves past the one chosen. */
static const struct sub *group_pick(const struct subs *s, struct share_group *g)
{
    size_t pick = g->turn;
    if (s->member_ok) {
        for (size_t k = 0; k < g->n; k++) {
            size_t i = (g->turn + k) % g->n;
            if (s->member_ok(s->ok_ctx, g->members[i].owner)) {
                pick = i;
                break;
            }
        }
    }
    g->turn = (pick + 1) % g->n;
    return &g->members[pick];
}

/* ---- public API --------------------------------------------------------- */

struct subs *subs_new(subs_alloc_fn *alloc, void *alloc_ctx)
{
    if (!alloc)
        alloc = libc_alloc;
    struct subs *s = alloc(alloc_ctx, NULL, 0, sizeof *s);
    if (!s)
        return NULL;
    *s = (struct subs){ .alloc = alloc, .alloc_ctx = alloc_ctx };
    s->root = node_alloc(s, NULL, "", 0);
    if (!s->root || array_reserve(s, (void **)&s->stack, &s->stack_cap, 8, sizeof *s->stack)) {
        subs_free(s);
        return NULL;
    }
    return s;
}

/* Depth first without recursion (a filter may have thousands of levels):
 * descend to any child, free leaves, climb back by parent pointers. */
void subs_free(struct subs *s)
{
    if (!s)
        return;
    struct node *n = s->root;
    while (n) {
        struct node *c = n->nkids ? n->kids[n->nkids - 1] : n->plus ? n->plus : n->hash;
        if (c) {
            n = c;
            continue;
        }
        struct node *parent = n->parent;
        if (parent) {
            if (parent->plus == n)
                parent->plus = NULL;
            else if (parent->hash == n)
                parent->hash = NULL;
            else
                parent->nkids--;        /* n was the last kid */
        }
        node_destroy(s, n);
        n = parent;
    }
    mem_free(s, s->stack, s->stack_cap * sizeof *s->stack);
    s->alloc(s->alloc_ctx, s, sizeof *s, 0);
}

static bool options_valid(const struct sub_options *opt)
{
    return opt && opt->qos <= 2 && opt->retain_handling <= 2;
}

int subs_add(struct subs *s, const char *filter, void *owner, const struct sub_options *opt)
{
    struct filter_ref f;
    int rc = filter_parse(filter, &f);
    if (rc)
        return rc;
    if (!options_valid(opt))
        return -EINVAL;
    size_t levels = level_count(f.path);
    if (levels > ((size_t)-1 / sizeof(struct walk) - 2) / 2)
        return -ENOMEM;
    if (array_reserve(s, (void **)&s->stack, &s->stack_cap, 2 * levels + 2, sizeof *s->stack))
        return -ENOMEM;
    struct node *n = path_make(s, f.path);
    if (!n)
        return -ENOMEM;
    struct sub member = { .owner = owner, .opt = *opt };
    member.opt.shared = f.group != NULL;
    rc = f.group ? group_member_put(s, n, &f, &member) : node_sub_put(s, n, owner, &member.opt);
    if (rc < 0)
        node_prune(s, n);
    return rc;
}

int subs_remove(struct subs *s, const char *filter, void *owner)
{
    struct filter_ref f;
    int rc = filter_parse(filter, &f);
    if (rc)
        return rc;
    struct node *n = path_find(s->root, f.path);
    if (!n)
        return -ENOENT;
    rc = f.group ? group_member_drop(s, n, &f, owner) : node_sub_drop(s, n, owner);
    if (rc == 0)
        node_prune(s, n);
    return rc;
}

void subs_set_member_ok(struct subs *s, subs_member_ok_fn *ok, void *ok_ctx)
{
    s->member_ok = ok;
    s->ok_ctx = ok ? ok_ctx : NULL;
}

static void node_deliver(const struct subs *s, struct node *n, subs_match_fn *fn, void *ctx)
{
    for (size_t i = 0; i < n->nsubs; i++)
        fn(ctx, n->subs[i].owner, &n->subs[i].opt);
    for (size_t i = 0; i < n->ngroups; i++) {
        const struct sub *m = group_pick(s, &n->groups[i]);
        fn(ctx, m->owner, &m->opt);
    }
}

/* Each step delivers `#` below its node (it covers what is left, including
 * nothing: `a/#` matches `a`), then pushes the `+` child and the literal
 * child for the next level. A node is reached by one path at most, so no
 * subscription is delivered twice. `$` topics skip the root's wildcards. */
void subs_match(struct subs *s, const char *topic, subs_match_fn *fn, void *ctx)
{
    if (!topic || !fn)
        return;
    bool dollar = topic[0] == '$';
    size_t top = 0;
    s->stack[top++] = (struct walk){ .node = s->root, .rest = topic };
    while (top > 0) {
        struct walk w = s->stack[--top];
        if (!w.rest) {
            node_deliver(s, w.node, fn, ctx);
            if (w.node->hash)
                node_deliver(s, w.node->hash, fn, ctx);
            continue;
        }
        bool wild_ok = !(dollar && w.node == s->root);
        if (w.node->hash && wild_ok)
            node_deliver(s, w.node->hash, fn, ctx);
        const char *rest;
        size_t len = level_next(w.rest, &rest);
        if (w.node->plus && wild_ok)
            s->stack[top++] = (struct walk){ .node = w.node->plus, .rest = rest };
        struct node *c = kid_find(w.node, w.rest, len);
        if (c)
            s->stack[top++] = (struct walk){ .node = c, .rest = rest };
    }
}

size_t subs_count(const struct subs *s)
{
    return s->count;
}
