/* Mosquitto-compatible ACL: parse an acl_file into blocks (anonymous, one
 * per user, the patterns), each a trie of filter levels, then decide each
 * access by walking the topic's (or the subscription filter's) levels down
 * the client's trie. The rules and their order of precedence are in acl.h. */
#include "gateway/broker/acl.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/diag.h"
#include "config/suggest.h"
#include "gateway/mqtt/topic.h"

/* Access bits of a rule; a deny rule has none. */
#define RULE_READ 1u
#define RULE_WRITE 2u

/* An ACL file larger than this is surely not one. */
#define ACL_FILE_MAX (16u << 20)
/* How much of a bad token a diagnostic quotes. */
#define QUOTE_MAX 80
/* Mosquitto refuses filters with more '/' than this (TOPIC_HIERARCHY_LIMIT);
 * it also bounds the depth of the trie, hence of the recursive walk. */
#define ACL_MAX_SEPARATORS 200

/* What the rules ending at one place in the trie say. Within a block the
 * order of the rules does not matter (any matching deny denies, else any
 * matching grant allows), so they fold into a flag and a set of bits. */
struct acl_marks {
    bool deny;
    uint8_t allow;      /* RULE_READ | RULE_WRITE */
};

struct acl_node;

struct acl_child {
    char *text;         /* the level as written, NUL-terminated */
    uint32_t len;
    bool uses_user;     /* a template with %u: never matches anonymous clients */
    struct acl_node *node;
};

/* One level of the filters of a block. */
struct acl_node {
    struct acl_marks here;  /* filters that end with this level */
    struct acl_marks below; /* filters that end "this level/#": here and deeper */
    struct acl_node *plus;  /* '+' at the next level */
    struct acl_child *lit;  /* literal next levels, sorted by (len, bytes) */
    uint32_t n_lit, cap_lit;
    struct acl_child *tpl;  /* pattern next levels holding %c or %u */
    uint32_t n_tpl, cap_tpl;
};

/* The rules of the anonymous client, of one user, or the patterns. The
 * root's `below` is the filter "#" and its `plus` a leading "+". */
struct acl_block {
    struct acl_node *root;  /* NULL: no rules */
};

struct acl_user {
    char *name;
    struct acl_block block;
};

struct acl {
    struct acl_block anon;     /* `topic` lines before the first `user` */
    struct acl_block patterns; /* every `pattern` line */
    struct acl_user *users;    /* sorted by name once loaded */
    size_t n_users, cap_users;
    size_t n_rules;
};

/* Who is asking, with the lengths computed once per check. */
struct subject {
    const char *user;
    size_t user_len;
    const char *cid;
    size_t cid_len;
};

/* ---- freeing ------------------------------------------------------------ */

static void node_free(struct acl_node *n)
{
    if (!n)
        return;
    for (uint32_t i = 0; i < n->n_lit; i++) {
        free(n->lit[i].text);
        node_free(n->lit[i].node);
    }
    for (uint32_t i = 0; i < n->n_tpl; i++) {
        free(n->tpl[i].text);
        node_free(n->tpl[i].node);
    }
    free(n->lit);
    free(n->tpl);
    node_free(n->plus);
    free(n);
}

void acl_free(struct acl *acl)
{
    if (!acl)
        return;
    node_free(acl->anon.root);
    node_free(acl->patterns.root);
    for (size_t i = 0; i < acl->n_users; i++) {
        free(acl->users[i].name);
        node_free(acl->users[i].block.root);
    }
    free(acl->users);
    free(acl);
}

size_t acl_rule_count(const struct acl *acl)
{
    return acl ? acl->n_rules : 0;
}

/* ---- matching ----------------------------------------------------------- */

/* Whether one topic level equals a template level once %c and %u are
 * replaced. The scan mirrors Mosquitto's substitution loop: left to right, a
 * '%' followed by 'c' or 'u' is replaced, any other '%' is itself. The
 * values hold no '/' (acl_check refuses them first), so replacing inside a
 * level never changes how the levels line up. */
static bool template_matches(const struct acl_child *c, const char *s, size_t n,
                             const struct subject *who)
{
    const char *t = c->text;
    size_t si = 0;
    for (size_t i = 0; i < c->len; i++) {
        if (t[i] == '%' && i + 1 < c->len && (t[i + 1] == 'c' || t[i + 1] == 'u')) {
            const char *v = t[i + 1] == 'c' ? who->cid : who->user;
            size_t vl = t[i + 1] == 'c' ? who->cid_len : who->user_len;
            if (n - si < vl || memcmp(s + si, v, vl) != 0)
                return false;
            si += vl;
            i++;
            continue;
        }
        if (si == n || s[si] != t[i])
            return false;
        si++;
    }
    return si == n;
}

/* Any total order will do for the binary search; length first is cheap. */
static int level_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return alen < blen ? -1 : 1;
    return memcmp(a, b, alen);
}

/* Index of the literal child equal to s, or where it would go (*found false). */
static uint32_t lit_search(const struct acl_node *n, const char *s, size_t len, bool *found)
{
    uint32_t lo = 0, hi = n->n_lit;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = level_cmp(n->lit[mid].text, n->lit[mid].len, s, len);
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

/* One check's walk: the topic (or filter), who asks, the access bit, and
 * what the matching (covering) rules said so far. */
struct walk {
    const char *t;
    size_t tlen;
    const struct subject *who;
    unsigned bit;
    bool filter;        /* t is a subscription filter: '+' and '#' are wildcards */
    bool deny;
    bool allow;
};

static void marks_apply(struct walk *w, const struct acl_marks *m)
{
    w->deny |= m->deny;
    w->allow |= (m->allow & w->bit) != 0;
}

static void walk_node(struct walk *w, const struct acl_node *n, size_t at, bool more,
                      bool root);

/* A '+' or '#' level (starting at `at`) of a subscription filter: no
 * literal or template level of a rule covers it, only a wildcard. A '+' is
 * covered by a rule's '+' (and by a rule's '#', taken by the caller); a '#'
 * by a rule ending in '#' here (taken by the caller), and by one ending in
 * "+/#" here when the topic above the '#' would be empty ("#", "/#"): ""
 * is no topic, so "#" matches nothing that "+/#" does not, nor "/#"
 * anything that "/+/#" does not. */
static void walk_wildcard(struct walk *w, const struct acl_node *n, char wild, size_t at,
                          size_t end, bool next_more)
{
    if (!n->plus)
        return;
    if (wild == '+')
        walk_node(w, n->plus, end + 1, next_more, false);
    else if (at <= 1)
        marks_apply(w, &n->plus->below);
}

/* MQTT matching over the trie: at node `n`, the topic's next level starts
 * at `at` when `more`. '+' takes one level, also an empty one; '#' takes the
 * rest and its parent level ("a/#" matches "a"); a filter starting with a
 * wildcard does not match a topic starting with '$' (as mqtt_topic_matches
 * and Mosquitto's mosquitto_topic_matches_sub). Stops once a deny is found:
 * nothing can override it.
 * For a subscription filter (w->filter) the same walk finds the rules that
 * cover it, level by level: a rule's '#' covers whatever is left, a rule's
 * '+' any one level, '+' included; a literal or template level covers only
 * the same literal. The filter's levels consumed so far are covered by the
 * path to `n`, so `below` covers at every node reached and `here` once the
 * filter ends (exactly as for a topic). */
static void walk_node(struct walk *w, const struct acl_node *n, size_t at, bool more, bool root)
{
    bool wild_ok = !(root && w->t[0] == '$');
    if (wild_ok)
        marks_apply(w, &n->below);
    if (!more) {
        marks_apply(w, &n->here);
        return;
    }
    const char *slash = memchr(w->t + at, '/', w->tlen - at);
    size_t end = slash ? (size_t)(slash - w->t) : w->tlen;
    const char *s = w->t + at;
    size_t len = end - at;
    bool next_more = end < w->tlen;
    if (w->filter && len == 1 && (s[0] == '+' || s[0] == '#')) {
        walk_wildcard(w, n, s[0], at, end, next_more);
        return;
    }
    if (n->plus && wild_ok && !w->deny)
        walk_node(w, n->plus, end + 1, next_more, false);
    bool found;
    uint32_t i = n->n_lit ? lit_search(n, s, len, &found) : 0;
    if (n->n_lit && found && !w->deny)
        walk_node(w, n->lit[i].node, end + 1, next_more, false);
    for (i = 0; i < n->n_tpl && !w->deny; i++) {
        const struct acl_child *c = &n->tpl[i];
        if ((!c->uses_user || w->who->user) && template_matches(c, s, len, w->who))
            walk_node(w, c->node, end + 1, next_more, false);
    }
}

enum verdict { VERDICT_NONE, VERDICT_ALLOW, VERDICT_DENY };

/* Mosquitto walks one list with the deny rules in front: a matching deny
 * denies, else a matching rule granting `bit` allows. For a filter, read
 * "covering" for "matching". */
static enum verdict block_decide(const struct acl_block *b, const char *topic, size_t tlen,
                                 unsigned bit, bool filter, const struct subject *who)
{
    if (!b->root)
        return VERDICT_NONE;
    struct walk w = { .t = topic, .tlen = tlen, .who = who, .bit = bit, .filter = filter };
    walk_node(&w, b->root, 0, true, true);
    if (w.deny)
        return VERDICT_DENY;
    return w.allow ? VERDICT_ALLOW : VERDICT_NONE;
}

static int user_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct acl_user *)elem)->name);
}

static const struct acl_block *block_for(const struct acl *acl, const char *username)
{
    if (!username)
        return &acl->anon;
    if (!acl->n_users)
        return NULL;
    const struct acl_user *u =
        bsearch(username, acl->users, acl->n_users, sizeof(*acl->users), user_cmp);
    return u ? &u->block : NULL;
}

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

/* Mosquitto's acl__check_dollar: fixed rules for $ topics that hold for
 * every client, before and without any ACL file. VERDICT_NONE: carry on. */
static enum verdict dollar_decide(const char *topic, size_t tlen, enum acl_access access)
{
    static const char bridge_state[] = "$SYS/broker/connection/+/state";
    if (topic[0] != '$')
        return VERDICT_NONE;
    if (has_prefix(topic, tlen, "$SYS")) {
        if (access == ACL_WRITE &&
            !mqtt_topic_matches(bridge_state, sizeof(bridge_state) - 1, topic, tlen))
            return VERDICT_DENY;
        return VERDICT_NONE;
    }
    if (has_prefix(topic, tlen, "$share"))
        return VERDICT_DENY; /* READ and WRITE; SUBSCRIBE: see subscribe_check */
    return VERDICT_NONE;
}

/* Whether a filter's wildcards fill whole levels, '#' the last one only.
 * The broker has validated the filter already; this cheap look keeps the
 * covering walk from reading "a+" or "#/b" as something else. */
static bool filter_shape_ok(const char *f, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (f[i] != '+' && f[i] != '#')
            continue;
        bool alone = (i == 0 || f[i - 1] == '/') && (i + 1 == len || f[i + 1] == '/');
        if (!alone || (f[i] == '#' && i + 1 != len))
            return false;
    }
    return true;
}

/* Stage 4 of acl.h: a value with '+' or '#' would become a wildcard once
 * substituted, one with '/' would reach into another client's levels. */
static bool name_is_dangerous(const char *s)
{
    return s && strpbrk(s, "+#/") != NULL;
}

/* Stages 3 to 6 of acl.h, for a topic or (filter) a subscription filter. */
static bool stages_decide(const struct acl *acl, const char *username, const char *client_id,
                          const char *t, size_t len, unsigned bit, bool filter)
{
    struct subject who = {
        .user = username, .user_len = username ? strlen(username) : 0,
        .cid = client_id, .cid_len = client_id ? strlen(client_id) : 0,
    };
    enum verdict v;
    const struct acl_block *b = block_for(acl, username);
    if (b && (v = block_decide(b, t, len, bit, filter, &who)) != VERDICT_NONE)
        return v == VERDICT_ALLOW;

    if (!acl->patterns.root)
        return false;
    if (name_is_dangerous(username) || name_is_dangerous(client_id) || !client_id)
        return false;
    return block_decide(&acl->patterns, t, len, bit, filter, &who) == VERDICT_ALLOW;
}

/* SUBSCRIBE (acl.h): a shared subscription is judged by its filter part;
 * a filter all of whose topics stage 1 denies for READ (its text starts
 * with "$share") is refused; then the stages with covering rules. */
static bool subscribe_check(const struct acl *acl, const char *username, const char *client_id,
                            const char *filter, size_t len)
{
    struct mqtt_share share;
    enum mqtt_share_kind kind = mqtt_share_parse(filter, len, &share);
    if (kind == MQTT_SHARE_INVALID)
        return false;
    if (kind == MQTT_SHARE_OK) {
        filter = share.filter;
        len = share.filter_len;
    }
    if (!filter_shape_ok(filter, len) || has_prefix(filter, len, "$share"))
        return false;
    if (!acl)
        return true;
    return stages_decide(acl, username, client_id, filter, len, RULE_READ, true);
}

bool acl_check_n(const struct acl *acl, const char *username, const char *client_id,
                 const char *topic, size_t topic_len, enum acl_access access)
{
    if (!topic || topic_len == 0)
        return false;
    if (access == ACL_SUBSCRIBE)
        return subscribe_check(acl, username, client_id, topic, topic_len);
    if (access != ACL_READ && access != ACL_WRITE)
        return false;
    enum verdict v = dollar_decide(topic, topic_len, access);
    if (v != VERDICT_NONE)
        return v == VERDICT_ALLOW;
    if (!acl)
        return true;
    return stages_decide(acl, username, client_id, topic, topic_len,
                         access == ACL_READ ? RULE_READ : RULE_WRITE, false);
}

bool acl_check(const struct acl *acl, const char *username, const char *client_id,
               const char *topic, enum acl_access access)
{
    return acl_check_n(acl, username, client_id, topic, topic ? strlen(topic) : 0, access);
}

/* ---- building the trie -------------------------------------------------- */

/* Whether a pattern level has a %c or %u that template_matches would
 * replace; sets *uses_u when one of them is %u. */
static bool level_has_subst(const char *s, size_t n, bool *uses_u)
{
    bool any = false;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '%' || (s[i + 1] != 'c' && s[i + 1] != 'u'))
            continue;
        any = true;
        if (s[i + 1] == 'u')
            *uses_u = true;
        i++;
    }
    return any;
}

static int child_init(struct acl_child *c, const char *s, size_t len, bool uses_user)
{
    c->text = malloc(len + 1);
    c->node = calloc(1, sizeof(*c->node));
    if (!c->text || !c->node) {
        free(c->text);
        free(c->node);
        return -ENOMEM;
    }
    memcpy(c->text, s, len);
    c->text[len] = '\0';
    c->len = (uint32_t)len;
    c->uses_user = uses_user;
    return 0;
}

static int children_grow(struct acl_child **v, uint32_t n, uint32_t *cap)
{
    if (n < *cap)
        return 0;
    uint32_t ncap = *cap ? *cap * 2 : 4;
    struct acl_child *nv = realloc(*v, ncap * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    *v = nv;
    *cap = ncap;
    return 0;
}

static struct acl_node *lit_child(struct acl_node *n, const char *s, size_t len)
{
    bool found;
    uint32_t i = lit_search(n, s, len, &found);
    if (found)
        return n->lit[i].node;
    struct acl_child c;
    if (children_grow(&n->lit, n->n_lit, &n->cap_lit) || child_init(&c, s, len, false))
        return NULL;
    memmove(&n->lit[i + 1], &n->lit[i], (n->n_lit - i) * sizeof(*n->lit));
    n->lit[i] = c;
    n->n_lit++;
    return c.node;
}

static struct acl_node *tpl_child(struct acl_node *n, const char *s, size_t len, bool uses_user)
{
    for (uint32_t i = 0; i < n->n_tpl; i++)
        if (n->tpl[i].len == len && memcmp(n->tpl[i].text, s, len) == 0)
            return n->tpl[i].node;
    if (children_grow(&n->tpl, n->n_tpl, &n->cap_tpl) ||
        child_init(&n->tpl[n->n_tpl], s, len, uses_user))
        return NULL;
    return n->tpl[n->n_tpl++].node;
}

/* The node for level `s` below `n`, created when missing; NULL: no memory. */
static struct acl_node *node_child(struct acl_node *n, const char *s, size_t len, bool pattern)
{
    if (len == 1 && s[0] == '+') {
        if (!n->plus)
            n->plus = calloc(1, sizeof(*n->plus));
        return n->plus;
    }
    bool uses_user = false;
    if (pattern && level_has_subst(s, len, &uses_user))
        return tpl_child(n, s, len, uses_user);
    return lit_child(n, s, len);
}

/* Adds a valid filter's rule. Returns 0 or -ENOMEM (nodes made on the way
 * stay, empty; the load fails and frees them). */
static int block_add(struct acl_block *b, const char *filter, size_t len, unsigned access,
                     bool pattern)
{
    if (!b->root && !(b->root = calloc(1, sizeof(*b->root))))
        return -ENOMEM;
    struct acl_node *n = b->root;
    struct acl_marks *m = NULL;
    size_t start = 0;
    while (!m) {
        const char *slash = memchr(filter + start, '/', len - start);
        size_t end = slash ? (size_t)(slash - filter) : len;
        if (end - start == 1 && filter[start] == '#') {
            m = &n->below; /* valid filters have '#' last only */
            break;
        }
        if (!(n = node_child(n, filter + start, end - start, pattern)))
            return -ENOMEM;
        if (end == len)
            m = &n->here;
        start = end + 1;
    }
    if (access)
        m->allow |= (uint8_t)access;
    else
        m->deny = true;
    return 0;
}

/* ---- parsing ------------------------------------------------------------ */

struct parser {
    const char *name;
    struct diag *diag;
    struct acl *acl;
    unsigned line;
    size_t errors;
    long user;          /* index into acl->users of the open block; -1: anonymous */
    int oom;
};

/* A slice of the current line. */
struct span {
    const char *s;
    size_t len;
    size_t col;         /* 1-based */
};

static struct cfg_pos pos_at(const struct parser *p, size_t col)
{
    return (struct cfg_pos){ .file = p->name, .line = p->line, .col = (unsigned)col };
}

#define parse_error(p, col, ...)                                  \
    do {                                                          \
        (p)->errors++;                                            \
        if ((p)->diag)                                            \
            diag_error((p)->diag, pos_at((p), (col)), __VA_ARGS__); \
    } while (0)

#define parse_warning(p, col, ...)                                  \
    do {                                                            \
        if ((p)->diag)                                              \
            diag_warning((p)->diag, pos_at((p), (col)), __VA_ARGS__); \
    } while (0)

static int quote_len(const struct span *t)
{
    return (int)(t->len > QUOTE_MAX ? QUOTE_MAX : t->len);
}

static bool span_is(const struct span *t, const char *word)
{
    return t->len == strlen(word) && memcmp(t->s, word, t->len) == 0;
}

/* The next space-separated token from *pos (Mosquitto splits on ' ' only). */
static bool next_token(const struct span *line, size_t *pos, struct span *out)
{
    size_t i = *pos;
    while (i < line->len && line->s[i] == ' ')
        i++;
    if (i == line->len)
        return false;
    size_t start = i;
    while (i < line->len && line->s[i] != ' ')
        i++;
    *out = (struct span){ line->s + start, i - start, start + 1 };
    *pos = i;
    return true;
}

/* The rest of the line after the one separator at *pos, trimmed of
 * whitespace at both ends (Mosquitto's strtok(NULL, "") then trimblanks). */
static bool rest_of_line(const struct span *line, size_t pos, struct span *out)
{
    if (pos >= line->len)
        return false;
    size_t i = pos + 1, end = line->len;
    while (i < end && isspace((unsigned char)line->s[i]))
        i++;
    while (end > i && isspace((unsigned char)line->s[end - 1]))
        end--;
    if (i == end)
        return false;
    *out = (struct span){ line->s + i, end - i, i + 1 };
    return true;
}

static void suggest_word(struct parser *p, const struct span *t, const char *what,
                         const char *const *words)
{
    char word[QUOTE_MAX + 1];
    memcpy(word, t->s, (size_t)quote_len(t));
    word[quote_len(t)] = '\0';
    struct suggest sg;
    suggest_init(&sg, word);
    for (size_t i = 0; words[i]; i++)
        suggest_offer(&sg, words[i]);
    const char *best = suggest_result(&sg);
    if (best)
        parse_error(p, t->col, "unknown %s '%s' (did you mean '%s'?)", what, word, best);
    else
        parse_error(p, t->col, "unknown %s '%s'", what, word);
}

/* Returns the access bits for read/write/readwrite, 0 for deny, -1 unknown. */
static int access_parse(const struct span *t)
{
    if (span_is(t, "read"))
        return RULE_READ;
    if (span_is(t, "write"))
        return RULE_WRITE;
    if (span_is(t, "readwrite"))
        return RULE_READ | RULE_WRITE;
    if (span_is(t, "deny"))
        return 0;
    return -1;
}

static const char *const access_words[] = { "read", "write", "readwrite", "deny", NULL };
static const char *const keywords[] = { "topic", "pattern", "user", NULL };

static bool has_subst(const struct span *t)
{
    bool uses_u = false;
    return level_has_subst(t->s, t->len, &uses_u);
}

static void filter_warnings(struct parser *p, const struct span *filter, bool pattern)
{
    if (!pattern && has_subst(filter))
        parse_warning(p, filter->col,
                      "%%c and %%u are replaced only in 'pattern' lines; here they are literal");
    if (memchr(filter->s, '\t', filter->len))
        parse_warning(p, filter->col,
                      "the topic '%.*s' contains a tab: fields are separated by spaces only",
                      quote_len(filter), filter->s);
}

static struct acl_block *current_block(struct parser *p)
{
    return p->user < 0 ? &p->acl->anon : &p->acl->users[p->user].block;
}

/* topic|pattern [ACCESS] FILTER */
static void parse_rule(struct parser *p, const struct span *line, size_t pos, bool pattern)
{
    struct span word, filter;
    if (!next_token(line, &pos, &word)) {
        parse_error(p, line->len + 1, "missing topic after '%s'", pattern ? "pattern" : "topic");
        return;
    }
    int access = RULE_READ | RULE_WRITE;
    if (rest_of_line(line, pos, &filter)) {
        access = access_parse(&word);
        if (access < 0) {
            suggest_word(p, &word, "access", access_words);
            return;
        }
    } else {
        filter = word;
        if (access_parse(&word) >= 0)
            parse_warning(p, word.col,
                          "'%.*s' is taken as the topic, with readwrite access (as Mosquitto "
                          "reads it); give the topic after it if that was not meant",
                          quote_len(&word), word.s);
    }
    if (!mqtt_topic_filter_valid(filter.s, filter.len)) {
        parse_error(p, filter.col,
                    "invalid topic filter '%.*s': '+' and '#' must fill a whole level, '#' "
                    "must be the last, and the text must be UTF-8",
                    quote_len(&filter), filter.s);
        return;
    }
    size_t seps = 0;
    for (size_t i = 0; i < filter.len; i++)
        seps += filter.s[i] == '/';
    if (seps > ACL_MAX_SEPARATORS) {
        parse_error(p, filter.col, "topic filter with %zu levels: at most %d (as Mosquitto)",
                    seps + 1, ACL_MAX_SEPARATORS + 1);
        return;
    }
    filter_warnings(p, &filter, pattern);
    struct acl_block *b = pattern ? &p->acl->patterns : current_block(p);
    if (block_add(b, filter.s, filter.len, (unsigned)access, pattern))
        p->oom = 1;
    else
        p->acl->n_rules++;
}

static long user_find(const struct acl *acl, const char *name, size_t len)
{
    for (size_t i = 0; i < acl->n_users; i++)
        if (strlen(acl->users[i].name) == len && memcmp(acl->users[i].name, name, len) == 0)
            return (long)i;
    return -1;
}

static long user_add(struct parser *p, const struct span *name)
{
    struct acl *acl = p->acl;
    if (acl->n_users == acl->cap_users) {
        size_t cap = acl->cap_users ? acl->cap_users * 2 : 8;
        struct acl_user *v = realloc(acl->users, cap * sizeof(*v));
        if (!v)
            return -1;
        acl->users = v;
        acl->cap_users = cap;
    }
    struct acl_user *u = &acl->users[acl->n_users];
    memset(u, 0, sizeof(*u));
    u->name = malloc(name->len + 1);
    if (!u->name)
        return -1;
    memcpy(u->name, name->s, name->len);
    u->name[name->len] = '\0';
    return (long)acl->n_users++;
}

/* user USERNAME */
static void parse_user(struct parser *p, const struct span *line, size_t pos)
{
    struct span name;
    if (!rest_of_line(line, pos, &name)) {
        parse_error(p, line->len + 1, "missing user name after 'user'");
        return;
    }
    long i = user_find(p->acl, name.s, name.len);
    if (i < 0 && (i = user_add(p, &name)) < 0) {
        p->oom = 1;
        return;
    }
    p->user = i;
}

static void parse_line(struct parser *p, const struct span *line)
{
    if (line->len == 0 || line->s[0] == '#')
        return;
    size_t pos = 0;
    struct span kw;
    if (!next_token(line, &pos, &kw))
        return; /* only spaces: trimmed away by Mosquitto too */
    if (span_is(&kw, "topic") || span_is(&kw, "pattern")) {
        parse_rule(p, line, pos, span_is(&kw, "pattern"));
    } else if (span_is(&kw, "user")) {
        parse_user(p, line, pos);
    } else if (kw.s[0] == '#') {
        parse_error(p, kw.col, "a comment must start in the first column");
    } else if (memchr(kw.s, '\t', kw.len)) {
        parse_error(p, kw.col, "fields must be separated by spaces, not tabs");
    } else {
        suggest_word(p, &kw, "keyword", keywords);
    }
}

static int users_cmp(const void *a, const void *b)
{
    return strcmp(((const struct acl_user *)a)->name, ((const struct acl_user *)b)->name);
}

int acl_load_string(const char *name, const char *text, size_t len, struct acl **out,
                    struct diag *diag)
{
    struct acl *acl = calloc(1, sizeof(*acl));
    if (!acl)
        return -ENOMEM;
    struct parser p = { .name = name, .diag = diag, .acl = acl, .user = -1 };
    size_t i = 0;
    while (i < len && !p.oom) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        struct span line = { text + i, end - i, 1 };
        p.line++;
        /* Mosquitto trims trailing whitespace (CR of CRLF included) first. */
        while (line.len > 0 && isspace((unsigned char)line.s[line.len - 1]))
            line.len--;
        const char *nul = memchr(line.s, '\0', line.len);
        if (nul)
            parse_error(&p, (size_t)(nul - line.s) + 1, "NUL byte in the line");
        else
            parse_line(&p, &line);
        i = end + 1;
    }
    if (p.oom || p.errors) {
        acl_free(acl);
        return p.oom ? -ENOMEM : -EINVAL;
    }
    if (acl->n_users)
        qsort(acl->users, acl->n_users, sizeof(*acl->users), users_cmp);
    *out = acl;
    return 0;
}

/* ---- the file ----------------------------------------------------------- */

static void file_error(struct diag *diag, const char *path, const char *what, int err)
{
    if (diag)
        diag_error(diag, (struct cfg_pos){ .file = path }, "%s: %s", what, strerror(err));
}

/* Reads all of fd into *buf (malloc'd). Returns the length, or -errno. */
static ssize_t read_all(int fd, char **buf)
{
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    if (!b)
        return -ENOMEM;
    for (;;) {
        if (len == cap) {
            char *nb = cap >= ACL_FILE_MAX ? NULL : realloc(b, cap * 2);
            if (!nb) {
                free(b);
                return cap >= ACL_FILE_MAX ? -EFBIG : -ENOMEM;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, b + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            free(b);
            return -err;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *buf = b;
    return (ssize_t)len;
}

int acl_load_file(const char *path, struct acl **out, struct diag *diag)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        file_error(diag, path, "cannot open the ACL file", err);
        return -err;
    }
    char *buf = NULL;
    ssize_t n = read_all(fd, &buf);
    close(fd);
    if (n < 0) {
        file_error(diag, path, "cannot read the ACL file", (int)-n);
        return (int)n;
    }
    int rc = acl_load_string(path, buf, (size_t)n, out, diag);
    free(buf);
    return rc;
}
