/* The broker's password file (Mosquitto 2.0's format): parsing it into a
 * sorted table, checking passwords with OpenSSL's PBKDF2 and SHA-512 in
 * constant time, and rewriting it crash-safely for `mqgate passwd`. */
#include "gateway/broker/passwd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* Far beyond any real file (~150 bytes a user), small enough to read whole. */
#define PASSWD_FILE_MAX (64u << 20)
/* Salts Mosquitto reads: 12 bytes (what it writes), 64 (what 2.1 writes). */
#define SALT_MAX 64
/* How much of a user name goes into a message. */
#define NAME_SHOWN 64

enum hash_kind {
    HASH_SHA512,   /* $6$: SHA-512(password || salt) */
    HASH_PBKDF2,   /* $7$: PBKDF2-HMAC-SHA512 */
};

struct entry {
    char *user;
    unsigned line;
    enum hash_kind kind;
    unsigned iterations;   /* HASH_PBKDF2 only */
    size_t salt_len;
    unsigned char salt[SALT_MAX];
    unsigned char hash[PASSWD_HASH_LEN];
};

struct passwd_db {
    struct entry *entries;   /* sorted by user name */
    size_t n;
    /* What an unknown user costs: the file's most common kind and count. */
    enum hash_kind dummy_kind;
    unsigned dummy_iterations;
};

/* Where problems go while reading one file. */
struct source {
    const char *name;
    passwd_report_fn *report;
    void *ctx;
    unsigned errors;
    bool quiet_entries;   /* no warnings about weak entries (edits) */
};

/* A piece of the text; not NUL-terminated. */
struct slice {
    const char *s;
    size_t len;
};

__attribute__((format(printf, 4, 5)))
static void say(const struct source *src, enum passwd_severity severity, unsigned line,
                const char *fmt, ...)
{
    if (!src->report)
        return;
    char reason[512], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    const char *level = severity == PASSWD_ERROR ? "error" : "warning";
    if (line)
        snprintf(msg, sizeof msg, "%s:%u: %s: %s", src->name, line, level, reason);
    else
        snprintf(msg, sizeof msg, "%s: %s: %s", src->name, level, reason);
    src->report(src->ctx, severity, msg);
}

__attribute__((format(printf, 4, 5)))
static void fail_line(struct source *src, unsigned line, int *rc, const char *fmt, ...)
{
    src->errors++;
    *rc = -EINVAL;
    if (!src->report)
        return;
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    say(src, PASSWD_ERROR, line, "%s", reason);
}

/* ---- hashing ------------------------------------------------------------- */

/* The hash of `password` (NULL: none, hashed as empty) under one entry's
 * parameters. Returns false when OpenSSL fails. */
static bool hash_password(enum hash_kind kind, unsigned iterations, const unsigned char *salt,
                          size_t salt_len, const void *password, size_t len,
                          unsigned char out[PASSWD_HASH_LEN])
{
    if (!password || len > PASSWD_FIELD_MAX) {
        password = "";
        len = 0;
    }
    if (kind == HASH_PBKDF2)
        return PKCS5_PBKDF2_HMAC(password, (int)len, salt, (int)salt_len, (int)iterations,
                                 EVP_sha512(), PASSWD_HASH_LEN, out) == 1;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 0;
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha512(), NULL) == 1
              && EVP_DigestUpdate(md, password, len) == 1
              && EVP_DigestUpdate(md, salt, salt_len) == 1
              && EVP_DigestFinal_ex(md, out, &n) == 1 && n == PASSWD_HASH_LEN;
    EVP_MD_CTX_free(md);
    return ok;
}

/* ---- parsing ------------------------------------------------------------- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

static struct slice trim(struct slice x)
{
    while (x.len && is_blank(x.s[0])) {
        x.s++;
        x.len--;
    }
    while (x.len && is_blank(x.s[x.len - 1]))
        x.len--;
    return x;
}

/* Split `x` at each `sep` into at most `max` fields; returns how many there
 * were (max + 1 when there were more). */
static size_t split(struct slice x, char sep, struct slice *out, size_t max)
{
    size_t n = 0;
    const char *p = x.s, *end = x.s + x.len;
    for (;;) {
        const char *q = memchr(p, sep, (size_t)(end - p));
        if (n == max)
            return max + 1;
        out[n++] = (struct slice){ p, q ? (size_t)(q - p) : (size_t)(end - p) };
        if (!q)
            return n;
        p = q + 1;
    }
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 with padding, as Mosquitto writes it. Returns the number
 * of bytes decoded into `out`, or -1 when `x` is not base64 or would not fit. */
static long b64_decode(struct slice x, unsigned char *out, size_t cap)
{
    if (x.len == 0 || x.len % 4)
        return -1;
    size_t pad = x.s[x.len - 1] == '=' ? (x.s[x.len - 2] == '=' ? 2 : 1) : 0;
    size_t n = x.len / 4 * 3 - pad;
    if (n > cap)
        return -1;
    uint32_t acc = 0;
    size_t o = 0;
    for (size_t i = 0; i < x.len - pad; i++) {
        int v = b64_value(x.s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            out[o++] = (unsigned char)(acc >> 16);
            out[o++] = (unsigned char)(acc >> 8);
            out[o++] = (unsigned char)acc;
            acc = 0;
        }
    }
    if (pad == 1) {   /* 3 chars left: 18 bits, 2 bytes */
        out[o++] = (unsigned char)(acc >> 10);
        out[o++] = (unsigned char)(acc >> 2);
    } else if (pad == 2) {   /* 2 chars left: 12 bits, 1 byte */
        out[o++] = (unsigned char)(acc >> 4);
    }
    return (long)o;
}

/* 1..PASSWD_MAX_ITERATIONS, decimal digits only. */
static bool parse_iterations(struct slice x, unsigned *out)
{
    unsigned long v = 0;
    if (x.len == 0 || x.len > 10)
        return false;
    for (size_t i = 0; i < x.len; i++) {
        if (x.s[i] < '0' || x.s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(x.s[i] - '0');
    }
    if (v < 1 || v > PASSWD_MAX_ITERATIONS)
        return false;
    *out = (unsigned)v;
    return true;
}

/* The salt and hash fields of a $6$ or $7$ entry. */
static int parse_salt_hash(struct source *src, unsigned line, struct slice salt,
                           struct slice hash, struct entry *e)
{
    int rc = 0;
    long n = b64_decode(salt, e->salt, sizeof e->salt);
    if (n != PASSWD_SALT_LEN && n != SALT_MAX) {
        fail_line(src, line, &rc, "the salt is not base64 of %d (or %d) bytes", PASSWD_SALT_LEN,
                  SALT_MAX);
        return rc;
    }
    e->salt_len = (size_t)n;
    if (b64_decode(hash, e->hash, sizeof e->hash) != PASSWD_HASH_LEN)
        fail_line(src, line, &rc, "the hash is not base64 of %d bytes", PASSWD_HASH_LEN);
    return rc;
}

/* The part after "USER:". */
static int parse_hash(struct source *src, unsigned line, struct slice h, struct entry *e)
{
    int rc = 0;
    struct slice f[4];
    if (h.len == 0) {
        fail_line(src, line, &rc, "no password hash after ':'");
    } else if (h.len >= 3 && memcmp(h.s, "$7$", 3) == 0) {
        e->kind = HASH_PBKDF2;
        if (split((struct slice){ h.s + 3, h.len - 3 }, '$', f, 3) != 3)
            fail_line(src, line, &rc, "expected $7$ITERATIONS$SALT$HASH");
        else if (!parse_iterations(f[0], &e->iterations))
            fail_line(src, line, &rc, "the iteration count '%.*s' is not a number from 1 to %u",
                      (int)(f[0].len > 16 ? 16 : f[0].len), f[0].s, PASSWD_MAX_ITERATIONS);
        else
            rc = parse_salt_hash(src, line, f[1], f[2], e);
    } else if (h.len >= 3 && memcmp(h.s, "$6$", 3) == 0) {
        e->kind = HASH_SHA512;
        if (split((struct slice){ h.s + 3, h.len - 3 }, '$', f, 2) != 2)
            fail_line(src, line, &rc, "expected $6$SALT$HASH");
        else
            rc = parse_salt_hash(src, line, f[0], f[1], e);
    } else if (h.len >= 9 && memcmp(h.s, "$argon2", 7) == 0) {
        fail_line(src, line, &rc, "argon2 hashes (Mosquitto 2.1) are not supported; set this "
                  "password again with `mqgate passwd`");
    } else if (h.s[0] == '$') {
        fail_line(src, line, &rc, "unknown hash type; expected $7$ (PBKDF2-SHA512) or $6$");
    } else {
        fail_line(src, line, &rc, "not a password hash (a plain-text password?); set it with "
                  "`mqgate passwd`");
    }
    return rc;
}

/* One line (without its '\n'). Returns 1 and fills *e (e->user allocated),
 * 0 for a blank line or a comment, -EINVAL (reported) or -ENOMEM. */
static int parse_line(struct source *src, unsigned line, struct slice text, struct entry *e)
{
    int rc = 0;
    text = trim(text);
    if (text.len == 0 || text.s[0] == '#')
        return 0;
    const char *colon = memchr(text.s, ':', text.len);
    if (!colon) {
        fail_line(src, line, &rc, "expected USER:HASH");
        return rc;
    }
    struct slice user = trim((struct slice){ text.s, (size_t)(colon - text.s) });
    struct slice hash = trim((struct slice){ colon + 1, (size_t)(text.s + text.len - colon - 1) });
    if (user.len == 0 || user.len > PASSWD_FIELD_MAX) {
        fail_line(src, line, &rc, "the user name is empty or longer than %u bytes",
                  PASSWD_FIELD_MAX);
        return rc;
    }
    for (size_t i = 0; i < user.len; i++) {
        if (is_control((unsigned char)user.s[i])) {
            fail_line(src, line, &rc, "the user name contains a control character");
            return rc;
        }
    }
    memset(e, 0, sizeof *e);
    e->line = line;
    rc = parse_hash(src, line, hash, e);
    if (rc < 0)
        return rc;
    e->user = strndup(user.s, user.len);
    return e->user ? 1 : -ENOMEM;
}

static int compare_entries(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->user, y->user);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

static void warn_weak(const struct source *src, const struct entry *e)
{
    if (e->kind == HASH_SHA512)
        say(src, PASSWD_WARNING, e->line, "user '%.*s' has a weak hash (salted SHA-512, one "
            "round: $6$); set the password again with `mqgate passwd`", NAME_SHOWN, e->user);
    else if (e->iterations < PASSWD_WEAK_ITERATIONS)
        say(src, PASSWD_WARNING, e->line, "user '%.*s' has a weak hash (only %u PBKDF2 "
            "iterations); set the password again with `mqgate passwd` (default %u)",
            NAME_SHOWN, e->user, e->iterations, PASSWD_DEFAULT_ITERATIONS);
}

/* Entries are sorted: a user named twice is two neighbours. */
static void check_duplicates(struct source *src, const struct passwd_db *db, int *rc)
{
    for (size_t i = 1; i < db->n; i++) {
        const struct entry *a = &db->entries[i - 1], *b = &db->entries[i];
        if (strcmp(a->user, b->user) == 0)
            fail_line(src, b->line, rc, "user '%.*s' is already on line %u", NAME_SHOWN,
                      b->user, a->line);
    }
}

static int compare_costs(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    return (x > y) - (x < y);
}

/* The dummy hash for unknown users: the most common (kind, iterations) of
 * the file, so that it costs what a real user's check costs. A cost is
 * encoded as iterations, 0 standing for $6$. */
static int choose_dummy(struct passwd_db *db)
{
    db->dummy_kind = HASH_PBKDF2;
    db->dummy_iterations = PASSWD_DEFAULT_ITERATIONS;
    if (db->n == 0)
        return 0;
    unsigned long *cost = malloc(db->n * sizeof *cost);
    if (!cost)
        return -ENOMEM;
    for (size_t i = 0; i < db->n; i++)
        cost[i] = db->entries[i].kind == HASH_SHA512 ? 0 : db->entries[i].iterations;
    qsort(cost, db->n, sizeof *cost, compare_costs);
    size_t best = 0, best_run = 0;
    for (size_t i = 0, run = 1; i < db->n; i++, run++) {
        if (i + 1 == db->n || cost[i + 1] != cost[i]) {
            if (run > best_run) {
                best_run = run;
                best = i;
            }
            run = 0;
        }
    }
    db->dummy_kind = cost[best] == 0 ? HASH_SHA512 : HASH_PBKDF2;
    db->dummy_iterations = cost[best] == 0 ? 1 : (unsigned)cost[best];
    free(cost);
    return 0;
}

static int db_append(struct passwd_db *db, size_t *cap, const struct entry *e)
{
    if (db->n == *cap) {
        size_t n = *cap ? *cap * 2 : 16;
        struct entry *grown = realloc(db->entries, n * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        db->entries = grown;
        *cap = n;
    }
    db->entries[db->n++] = *e;
    return 0;
}

/* Every line of `text` into db->entries; all problems reported. */
static int parse_lines(struct source *src, const char *text, size_t len, struct passwd_db *db)
{
    size_t cap = 0;
    unsigned line = 0;
    int rc = 0;
    for (size_t off = 0; off < len;) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t end = nl ? (size_t)(nl - text) : len;
        struct entry e;
        int r = parse_line(src, ++line, (struct slice){ text + off, end - off }, &e);
        if (r == 1 && (r = db_append(db, &cap, &e)) < 0)
            free(e.user);
        if (r == -ENOMEM)
            return r;
        if (r < 0)
            rc = r;
        off = end + 1;
    }
    return rc;
}

static int parse_source(struct source *src, const char *text, size_t len,
                        struct passwd_db **out)
{
    struct passwd_db *db = calloc(1, sizeof *db);
    if (!db)
        return -ENOMEM;
    int rc = parse_lines(src, text, len, db);
    if (rc == -ENOMEM)
        goto fail;
    if (db->n)
        qsort(db->entries, db->n, sizeof *db->entries, compare_entries);
    check_duplicates(src, db, &rc);
    if (rc < 0) {
        if (src->errors > 1)
            say(src, PASSWD_ERROR, 0, "%u errors", src->errors);
        goto fail;
    }
    rc = choose_dummy(db);
    if (rc < 0)
        goto fail;
    for (size_t i = 0; i < db->n && !src->quiet_entries; i++)
        warn_weak(src, &db->entries[i]);
    *out = db;
    return 0;
fail:
    passwd_db_free(db);
    return rc;
}

int passwd_db_parse(const char *name, const char *text, size_t len, struct passwd_db **out,
                    passwd_report_fn *report, void *ctx)
{
    struct source src = { name, report, ctx, 0, false };
    return parse_source(&src, text, len, out);
}

/* ---- reading files ------------------------------------------------------- */

static int read_all(int fd, char **text, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (n == cap) {
            char *grown = cap >= PASSWD_FILE_MAX ? NULL : realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                return cap >= PASSWD_FILE_MAX ? -EFBIG : -ENOMEM;
            }
            buf = grown;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = -errno;
            free(buf);
            return err;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *text = buf;
    *len = n;
    return 0;
}

/* Read a whole regular file; fills *st with its metadata. Reported. */
static int read_file(const struct source *src, const char *path, char **text, size_t *len,
                     struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = -errno;
        say(src, PASSWD_ERROR, 0, "cannot open: %s", strerror(-err));
        return err;
    }
    int rc = fstat(fd, st) < 0 ? -errno : 0;
    if (rc == 0 && !S_ISREG(st->st_mode))
        rc = -EINVAL;
    if (rc == 0)
        rc = read_all(fd, text, len);
    close(fd);   /* read-only: nothing to lose */
    if (rc == -EINVAL)
        say(src, PASSWD_ERROR, 0, "not a regular file");
    else if (rc == -EFBIG)
        say(src, PASSWD_ERROR, 0, "larger than %u MiB", PASSWD_FILE_MAX >> 20);
    else if (rc < 0)
        say(src, PASSWD_ERROR, 0, "cannot read: %s", strerror(-rc));
    else if (st->st_mode & S_IROTH)
        say(src, PASSWD_WARNING, 0, "readable by every user (mode %04o); chmod o-rwx it",
            (unsigned)(st->st_mode & 07777));
    return rc;
}

int passwd_db_load(const char *path, struct passwd_db **out, passwd_report_fn *report,
                   void *ctx)
{
    struct source src = { path, report, ctx, 0, false };
    char *text;
    size_t len;
    struct stat st;
    int rc = read_file(&src, path, &text, &len, &st);
    if (rc < 0)
        return rc;
    rc = parse_source(&src, text, len, out);
    free(text);
    return rc;
}

/* ---- checking ------------------------------------------------------------ */

static const struct entry *find_user(const struct passwd_db *db, const char *user)
{
    size_t lo = 0, hi = db->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(user, db->entries[mid].user);
        if (c == 0)
            return &db->entries[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

enum passwd_verdict passwd_check(const struct passwd_db *db, const char *user,
                                 const void *password, size_t len)
{
    unsigned char got[PASSWD_HASH_LEN];
    const struct entry *e = user ? find_user(db, user) : NULL;
    if (!e) {
        /* Same work as a known user, result thrown away. */
        static const unsigned char salt[PASSWD_SALT_LEN];
        bool ok = hash_password(db->dummy_kind, db->dummy_iterations, salt, sizeof salt,
                                password, len, got);
        OPENSSL_cleanse(got, sizeof got);
        return ok ? PASSWD_UNKNOWN_USER : PASSWD_FAILED;
    }
    if (!hash_password(e->kind, e->iterations, e->salt, e->salt_len, password, len, got))
        return PASSWD_FAILED;
    /* The hash is computed even without a password, so that "no password"
     * takes as long for a known user as for an unknown one. */
    bool same = CRYPTO_memcmp(got, e->hash, sizeof got) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return same && password && len <= PASSWD_FIELD_MAX ? PASSWD_MATCH : PASSWD_MISMATCH;
}

size_t passwd_db_count(const struct passwd_db *db)
{
    return db->n;
}

void passwd_db_free(struct passwd_db *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->n; i++)
        free(db->entries[i].user);
    free(db->entries);
    free(db);
}

/* ---- writing entries ----------------------------------------------------- */

bool passwd_user_valid(const char *user, const char **why)
{
    const char *reason = NULL;
    size_t len = user ? strlen(user) : 0;
    if (len == 0 || len > PASSWD_FIELD_MAX)
        reason = "a user name has 1 to 65535 bytes";
    else if (strchr(user, ':'))
        reason = "a user name cannot contain ':'";
    else if (user[0] == '#')
        reason = "a user name cannot start with '#' (the line would read as a comment)";
    else if (is_blank(user[0]) || is_blank(user[len - 1]))
        reason = "a user name cannot start or end with a blank (it would be ignored)";
    for (size_t i = 0; !reason && i < len; i++)
        if (is_control((unsigned char)user[i]))
            reason = "a user name cannot contain control characters";
    if (reason && why)
        *why = reason;
    return reason == NULL;
}

int passwd_entry_make(const char *user, const void *password, size_t len, unsigned iterations,
                      char **out)
{
    if (!passwd_user_valid(user, NULL) || !password || len == 0 || len > PASSWD_FIELD_MAX
        || iterations < 1 || iterations > PASSWD_MAX_ITERATIONS)
        return -EINVAL;
    unsigned char salt[PASSWD_SALT_LEN], hash[PASSWD_HASH_LEN];
    /* EVP_EncodeBlock writes 4 characters per 3 bytes, padded, and a NUL. */
    unsigned char salt64[(PASSWD_SALT_LEN + 2) / 3 * 4 + 1];
    unsigned char hash64[(PASSWD_HASH_LEN + 2) / 3 * 4 + 1];
    if (RAND_bytes(salt, sizeof salt) != 1
        || !hash_password(HASH_PBKDF2, iterations, salt, sizeof salt, password, len, hash))
        return -EIO;
    EVP_EncodeBlock(salt64, salt, sizeof salt);
    EVP_EncodeBlock(hash64, hash, sizeof hash);
    OPENSSL_cleanse(hash, sizeof hash);
    char *line;
    if (asprintf(&line, "%s:$7$%u$%s$%s", user, iterations, (const char *)salt64,
                 (const char *)hash64) < 0)
        return -ENOMEM;
    *out = line;
    return 0;
}

/* ---- crash-safe file replacement ----------------------------------------- */

static int write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fsync_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return -ENOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* The temporary file's owner and mode: those of the file it replaces (owner
 * first: chown may clear mode bits), or 0600 for a new file. */
static int set_owner_mode(int fd, const struct stat *old)
{
    struct stat now;
    if (fstat(fd, &now) < 0)
        return -errno;
    if (old && (now.st_uid != old->st_uid || now.st_gid != old->st_gid)
        && fchown(fd, old->st_uid, old->st_gid) < 0)
        return -errno;
    if (fchmod(fd, old ? old->st_mode & 07777 : 0600) < 0)
        return -errno;
    return 0;
}

/* Write `data` to a new file beside `path`, make it durable, rename it over
 * `path`, make the rename durable. `old` is the replaced file's metadata,
 * NULL for a new file. */
static int replace_file(const struct source *src, const char *path, const char *data,
                        size_t len, const struct stat *old)
{
    char *tmp;
    if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
        return -ENOMEM;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int err = -errno;
        say(src, PASSWD_ERROR, 0, "cannot create %s: %s", tmp, strerror(-err));
        free(tmp);
        return err;
    }
    const char *step = "cannot keep the file's owner and mode";
    int rc = set_owner_mode(fd, old);
    if (rc == 0) {
        step = "cannot write";
        rc = write_all(fd, data, len);
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -errno;
        step = "cannot rename the new file over it";
    }
    if (rc < 0) {
        say(src, PASSWD_ERROR, 0, "%s: %s", step, strerror(-rc));
        unlink(tmp);
    } else if ((rc = fsync_dir_of(path)) < 0) {
        say(src, PASSWD_ERROR, 0, "changed, but syncing its directory failed (the change may "
            "not survive a power cut): %s", strerror(-rc));
    }
    free(tmp);
    return rc;
}

/* ---- edits ----------------------------------------------------------------- */

/* Where line `line` (1-based) starts and how long it is, its '\n' included. */
static void line_span(const char *text, size_t len, unsigned line, size_t *off, size_t *n)
{
    size_t at = 0;
    for (unsigned i = 1; i < line && at < len; i++) {
        const char *nl = memchr(text + at, '\n', len - at);
        at = nl ? (size_t)(nl - text) + 1 : len;
    }
    const char *nl = memchr(text + at, '\n', len - at);
    *off = at;
    *n = (nl ? (size_t)(nl - text) + 1 : len) - at;
}

/* The new contents: `text` with the span [off, off+n) replaced by `line`
 * and a newline (nothing when `line` is NULL). */
static char *replace_span(const char *text, size_t len, size_t off, size_t n, const char *line,
                    size_t *out_len)
{
    size_t add = line ? strlen(line) + 1 : 0;
    /* Appending after a last line that has no newline: give it one. */
    bool fix = off == len && len && text[len - 1] != '\n';
    size_t total = len - n + add + fix;
    char *out = malloc(total + 1);
    if (!out)
        return NULL;
    char *p = out;
    memcpy(p, text, off);
    p += off;
    if (fix)
        *p++ = '\n';
    if (line) {
        memcpy(p, line, add - 1);
        p += add - 1;
        *p++ = '\n';
    }
    memcpy(p, text + off + n, len - off - n);
    *out_len = total;
    return out;
}

/* The file to replace: a symlink's target, so the link stays. */
static int resolve(const struct source *src, const char *path, bool create, char **real,
                   struct stat *st, bool *exists)
{
    *real = realpath(path, NULL);
    if (*real) {
        *exists = true;
        if (stat(*real, st) < 0) {
            int err = -errno;
            say(src, PASSWD_ERROR, 0, "cannot stat: %s", strerror(-err));
            free(*real);
            return err;
        }
        if (!S_ISREG(st->st_mode)) {
            say(src, PASSWD_ERROR, 0, "not a regular file");
            free(*real);
            return -EINVAL;
        }
        return 0;
    }
    int err = -errno;
    if (err == -ENOENT && create) {
        *exists = false;
        *real = strdup(path);
        return *real ? 0 : -ENOMEM;
    }
    if (err == -ENOENT)
        say(src, PASSWD_ERROR, 0, "cannot open: %s (-c creates it)", strerror(-err));
    else
        say(src, PASSWD_ERROR, 0, "cannot open: %s", strerror(-err));
    return err;
}

/* Read and check the file, then replace `user`'s line with `line` (append
 * it when the user is new; NULL deletes). */
static int edit_existing(struct source *src, const char *real, const char *user,
                         const char *line, char **out, size_t *out_len)
{
    char *text;
    size_t len;
    struct stat st;
    int rc = read_file(src, real, &text, &len, &st);
    if (rc < 0)
        return rc;
    struct passwd_db *db = NULL;
    /* Weak hashes of other users are not this edit's business. */
    src->quiet_entries = true;
    rc = parse_source(src, text, len, &db);
    if (rc < 0) {
        free(text);
        return rc;
    }
    const struct entry *e = find_user(db, user);
    size_t off = len, n = 0;
    if (e)
        line_span(text, len, e->line, &off, &n);
    passwd_db_free(db);
    if (!e && !line) {
        say(src, PASSWD_ERROR, 0, "no user '%.*s'", NAME_SHOWN, user);
        free(text);
        return -ESRCH;
    }
    *out = replace_span(text, len, off, n, line, out_len);
    free(text);
    return *out ? 0 : -ENOMEM;
}

static int edit_file(const char *path, const char *user, const char *line, bool create,
                     passwd_report_fn *report, void *ctx)
{
    struct source src = { path, report, ctx, 0, false };
    char *real, *data = NULL;
    size_t len = 0;
    struct stat st;
    bool exists;
    int rc = resolve(&src, path, create, &real, &st, &exists);
    if (rc < 0)
        return rc;
    if (create)
        rc = asprintf(&data, "%s\n", line) < 0 ? -ENOMEM : 0;
    else
        rc = edit_existing(&src, real, user, line, &data, &len);
    if (rc == 0)
        rc = replace_file(&src, real, data, create ? strlen(data) : len, exists ? &st : NULL);
    free(data);
    free(real);
    return rc;
}

int passwd_file_set(const char *path, const char *user, const void *password, size_t len,
                    unsigned iterations, unsigned flags, passwd_report_fn *report, void *ctx)
{
    struct source src = { path, report, ctx, 0, false };
    const char *why = "";
    if (!passwd_user_valid(user, &why)) {
        say(&src, PASSWD_ERROR, 0, "%s", why);
        return -EINVAL;
    }
    char *line;
    int rc = passwd_entry_make(user, password, len, iterations, &line);
    if (rc == -EINVAL)
        say(&src, PASSWD_ERROR, 0, "a password has 1 to %u bytes, and iterations are 1 to %u",
            PASSWD_FIELD_MAX, PASSWD_MAX_ITERATIONS);
    else if (rc < 0)
        say(&src, PASSWD_ERROR, 0, "cannot hash the password: %s", strerror(-rc));
    if (rc < 0)
        return rc;
    rc = edit_file(path, user, line, flags & PASSWD_FILE_CREATE, report, ctx);
    free(line);
    return rc;
}

int passwd_file_delete(const char *path, const char *user, passwd_report_fn *report, void *ctx)
{
    if (!user || !user[0]) {
        struct source src = { path, report, ctx, 0, false };
        say(&src, PASSWD_ERROR, 0, "no user name");
        return -EINVAL;
    }
    return edit_file(path, user, NULL, false, report, ctx);
}
