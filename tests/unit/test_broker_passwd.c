/* gateway/broker/passwd: entries we write verify here and in a real
 * Mosquitto (started on a free 127.0.0.1 port, stopped by PID); files of
 * mosquitto_passwd verify here; known vectors ($7$, $6$, 64-byte salt);
 * malformed lines reported as FILE:LINE; unknown users cost a dummy hash;
 * edits (update, insert, delete, -c) keep other lines, mode and symlinks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gateway/broker/passwd.h"
#include "gateway/commands.h"
#include "tests/unit/mosquitto_fixture.h"

/* Computed with Python's hashlib (pbkdf2_hmac, sha512) and base64, not with
 * the code under test. */
static const char vec7[] = "carol:$7$1000$AQIDBAUGBwgJCgsM$tGLKLWHdOOVi5QYCTE/yQauJjKZT84XrUlTHmijB"
                           "s37klJudr8jcrIxUoQxxYAlNJe7LFgnnMgBruKze4qSrbg==";   /* correct horse */
static const char vec6[] = "dave:$6$ZGVmZ2hpamtsbW5v$jJvddQggOmZlyDYkc1AQiYHTGI6D3C9Ks37BIBC1kBEnwyYJ"
                           "dVhT1LCEn9CyZT2NF+ehtfhbhdqJTeogdOMOQA==";           /* old secret */
static const char vec64[] = "erin:$7$10$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss"
                            "LS4vMDEyMzQ1Njc4OTo7PD0+Pw==$HjfZKLw7BrLi8/kQEWaDHYo2I3sVyPCLxHrYTyDeD"
                            "MWhm4IBYQeovuvcDt9zkyxTomejTCFyIPR5QjkM8jzr8w==";    /* long salt */

/* ---- fixtures -------------------------------------------------------------- */

struct reports {
    char text[16384];
    int errors, warnings;
};

static void collect(void *ctx, enum passwd_severity severity, const char *msg)
{
    struct reports *r = ctx;
    size_t used = strlen(r->text);
    snprintf(r->text + used, sizeof r->text - used, "%s\n", msg);
    if (severity == PASSWD_ERROR)
        r->errors++;
    else
        r->warnings++;
}

static void assert_reported(const struct reports *r, const char *text)
{
    if (!strstr(r->text, text))
        fail_msg("'%s' not reported; got:\n%s", text, r->text);
}

struct fx {
    struct mosq_fixture mosq;   /* the temp dir; a mosquitto only when started */
    char file[128];
};

static int setup_dir(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    *state = fx;
    assert_int_equal(mosq_fixture_init(&fx->mosq, "passwd-test", 1), 0);
    snprintf(fx->file, sizeof fx->file, "%s/passwd", fx->mosq.dir);
    return 0;
}

/* Stops a mosquitto by PID even when an assertion failed. */
static int teardown_dir(void **state)
{
    struct fx *fx = *state;
    mosq_fixture_cleanup(&fx->mosq);
    free(fx);
    return 0;
}

static void write_text(const char *path, const char *text)
{
    assert_int_equal(mosq_fixture_write_file(path, text), 0);
}

static void read_text(const char *path, char *buf, size_t size)
{
    assert_true(mosq_fixture_read_file(path, buf, size) >= 0);
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (unsigned)(st.st_mode & 07777);
}

/* Files in the fixture's directory (a stray temporary file shows here). */
static int count_files(const struct fx *fx)
{
    DIR *d = opendir(fx->mosq.dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static struct passwd_db *load_ok(const char *path, struct reports *r)
{
    struct passwd_db *db = NULL;
    int rc = passwd_db_load(path, &db, collect, r);
    if (rc != 0)
        fail_msg("load %s: %d\n%s", path, rc, r->text);
    return db;
}

static struct passwd_db *parse_ok(const char *text, struct reports *r)
{
    struct passwd_db *db = NULL;
    int rc = passwd_db_parse("mem", text, strlen(text), &db, collect, r);
    if (rc != 0)
        fail_msg("parse: %d\n%s", rc, r->text);
    return db;
}

static enum passwd_verdict check(const struct passwd_db *db, const char *user, const char *pw)
{
    return passwd_check(db, user, pw, pw ? strlen(pw) : 0);
}

/* Run a program, stdout and stderr to /dev/null; its exit status, or
 * negative if it had to be killed after `timeout_ms`. */
static int run_prog(const char *const argv[], int timeout_ms)
{
    return mosq_fixture_run(argv, "/dev/null", NULL, 0, timeout_ms);
}

/* ---- entries and checks ------------------------------------------------------ */

static void test_round_trip(void **state)
{
    (void)state;
    char *line = NULL, *other = NULL;
    assert_int_equal(passwd_entry_make("alice", "s3cret", 6, 1000, &line), 0);
    assert_int_equal(passwd_entry_make("alice", "s3cret", 6, 1000, &other), 0);
    assert_string_not_equal(line, other);   /* fresh salt each time */
    /* USER:$7$N$ + 16 base64 characters (12 bytes) + $ + 88 (64 bytes, "==") */
    assert_int_equal(strncmp(line, "alice:$7$1000$", 14), 0);
    assert_int_equal(strlen(line), 14 + 16 + 1 + 88);
    assert_int_equal(line[14 + 16], '$');
    assert_string_equal(line + strlen(line) - 2, "==");

    struct reports r = { 0 };
    struct passwd_db *db = parse_ok(line, &r);
    assert_int_equal(passwd_db_count(db), 1);
    assert_int_equal(check(db, "alice", "s3cret"), PASSWD_MATCH);
    assert_int_equal(check(db, "alice", "s3cret!"), PASSWD_MISMATCH);
    assert_int_equal(check(db, "alice", "s3cre"), PASSWD_MISMATCH);
    assert_int_equal(check(db, "alice", ""), PASSWD_MISMATCH);
    assert_int_equal(check(db, "alice", NULL), PASSWD_MISMATCH);
    assert_int_equal(check(db, "Alice", "s3cret"), PASSWD_UNKNOWN_USER);
    assert_int_equal(check(db, "bob", "s3cret"), PASSWD_UNKNOWN_USER);
    assert_int_equal(check(db, NULL, "s3cret"), PASSWD_UNKNOWN_USER);
    assert_int_equal(r.errors + r.warnings, 0);
    passwd_db_free(db);
    free(line);
    free(other);
}

static void test_binary_password(void **state)
{
    (void)state;
    /* MQTT passwords are binary data: a NUL inside counts. */
    static const char pw[] = { 'a', '\0', 'b' };
    char *line = NULL;
    assert_int_equal(passwd_entry_make("bin", pw, sizeof pw, 10, &line), 0);
    struct reports r = { 0 };
    struct passwd_db *db = parse_ok(line, &r);
    assert_int_equal(passwd_check(db, "bin", pw, sizeof pw), PASSWD_MATCH);
    assert_int_equal(passwd_check(db, "bin", pw, 1), PASSWD_MISMATCH);
    passwd_db_free(db);
    free(line);
}

static void test_known_vectors(void **state)
{
    (void)state;
    char text[1024];
    snprintf(text, sizeof text, "%s\n%s\n%s\n", vec7, vec6, vec64);
    struct reports r = { 0 };
    struct passwd_db *db = parse_ok(text, &r);
    assert_int_equal(passwd_db_count(db), 3);
    assert_int_equal(check(db, "carol", "correct horse"), PASSWD_MATCH);
    assert_int_equal(check(db, "carol", "correct horsE"), PASSWD_MISMATCH);
    assert_int_equal(check(db, "dave", "old secret"), PASSWD_MATCH);
    assert_int_equal(check(db, "dave", "old secreT"), PASSWD_MISMATCH);
    assert_int_equal(check(db, "erin", "long salt"), PASSWD_MATCH);
    /* $6$ is weak, and so are 10 iterations; 1000 are not. */
    assert_reported(&r, "mem:2: warning: user 'dave' has a weak hash (salted SHA-512");
    assert_reported(&r, "mem:3: warning: user 'erin' has a weak hash (only 10 PBKDF2");
    assert_int_equal(r.warnings, 2);
    assert_int_equal(r.errors, 0);
    passwd_db_free(db);
}

static void test_entry_make_refuses(void **state)
{
    (void)state;
    char *line = NULL;
    assert_int_equal(passwd_entry_make("a:b", "x", 1, 10, &line), -EINVAL);
    assert_int_equal(passwd_entry_make("", "x", 1, 10, &line), -EINVAL);
    assert_int_equal(passwd_entry_make("a", "", 0, 10, &line), -EINVAL);
    assert_int_equal(passwd_entry_make("a", NULL, 1, 10, &line), -EINVAL);
    assert_int_equal(passwd_entry_make("a", "x", 1, 0, &line), -EINVAL);
    assert_int_equal(passwd_entry_make("a", "x", 1, PASSWD_MAX_ITERATIONS + 1, &line), -EINVAL);
    assert_null(line);
}

static void test_user_valid(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_true(passwd_user_valid("alice", &why));
    assert_true(passwd_user_valid("sensor 7/é", &why));
    assert_null(why);
    assert_false(passwd_user_valid("", &why));
    assert_non_null(why);
    assert_false(passwd_user_valid(NULL, NULL));
    assert_false(passwd_user_valid("a:b", &why));
    assert_non_null(strstr(why, "':'"));
    assert_false(passwd_user_valid("#admin", &why));
    assert_false(passwd_user_valid(" bob", &why));
    assert_false(passwd_user_valid("bob ", &why));
    assert_false(passwd_user_valid("b\tob", &why));
    assert_false(passwd_user_valid("bo\x7f", &why));
    char *longname = malloc(PASSWD_FIELD_MAX + 2);
    assert_non_null(longname);
    memset(longname, 'u', PASSWD_FIELD_MAX + 1);
    longname[PASSWD_FIELD_MAX + 1] = '\0';
    assert_false(passwd_user_valid(longname, NULL));
    longname[PASSWD_FIELD_MAX] = '\0';
    assert_true(passwd_user_valid(longname, NULL));
    free(longname);
}

/* Blanks, comments, CRLF and a missing last newline are Mosquitto's format
 * too. */
static void test_lenient_layout(void **state)
{
    (void)state;
    char text[1024];
    snprintf(text, sizeof text, "# users\n\n   \n  %s  \r\n\t# old\n%.*s : %s", vec7,
             (int)(strchr(vec6, ':') - vec6), vec6, strchr(vec6, ':') + 1);
    struct reports r = { 0 };
    struct passwd_db *db = parse_ok(text, &r);
    assert_int_equal(passwd_db_count(db), 2);
    assert_int_equal(check(db, "carol", "correct horse"), PASSWD_MATCH);
    assert_int_equal(check(db, "dave", "old secret"), PASSWD_MATCH);
    passwd_db_free(db);

    struct passwd_db *empty = parse_ok("", &r);
    assert_int_equal(passwd_db_count(empty), 0);
    assert_int_equal(check(empty, "carol", "correct horse"), PASSWD_UNKNOWN_USER);
    passwd_db_free(empty);
}

static void test_malformed_lines(void **state)
{
    (void)state;
    const char *salt = "AQIDBAUGBwgJCgsM";
    const char *hash = strrchr(vec7, '$') + 1;
    char text[4096];
    snprintf(text, sizeof text,
             "%s\n"                          /* 1 fine */
             "no colon here\n"               /* 2 */
             ":$7$100$%s$%s\n"               /* 3 empty user */
             "u3:\n"                         /* 4 no hash */
             "u4:plaintext\n"                /* 5 */
             "u5:$5$abc$def\n"               /* 6 unknown type */
             "u6:$7$0$%s$%s\n"               /* 7 zero iterations */
             "u7:$7$1000001$%s$%s\n"         /* 8 too many */
             "u8:$7$1e3$%s$%s\n"             /* 9 not a number */
             "u9:$7$100$bad!salt$%s\n"       /* 10 bad base64 */
             "u10:$7$100$%s$AAAA\n"          /* 11 short hash */
             "u11:$7$100$%s\n"               /* 12 missing field */
             "u12:$7$100$%s$%s$x\n"          /* 13 extra field */
             "u13:$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA\n" /* 14 */
             "u\x01x:$7$100$%s$%s\n"         /* 15 control character */
             "u15:$6$%s\n"                   /* 16 $6$ without hash */
             "carol:$7$100$%s$%s\n",         /* 17 carol again */
             vec7, salt, hash, salt, hash, salt, hash, salt, hash, hash, salt, salt, salt,
             hash, salt, hash, salt, salt, hash);
    struct reports r = { 0 };
    struct passwd_db *db = NULL;
    assert_int_equal(passwd_db_parse("pw.txt", text, strlen(text), &db, collect, &r), -EINVAL);
    assert_null(db);
    assert_reported(&r, "pw.txt:2: error: expected USER:HASH");
    assert_reported(&r, "pw.txt:3: error: the user name is empty");
    assert_reported(&r, "pw.txt:4: error: no password hash after ':'");
    assert_reported(&r, "pw.txt:5: error: not a password hash (a plain-text password?)");
    assert_reported(&r, "pw.txt:6: error: unknown hash type");
    assert_reported(&r, "pw.txt:7: error: the iteration count '0' is not a number");
    assert_reported(&r, "pw.txt:8: error: the iteration count '1000001' is not a number");
    assert_reported(&r, "pw.txt:9: error: the iteration count '1e3' is not a number");
    assert_reported(&r, "pw.txt:10: error: the salt is not base64 of 12 (or 64) bytes");
    assert_reported(&r, "pw.txt:11: error: the hash is not base64 of 64 bytes");
    assert_reported(&r, "pw.txt:12: error: expected $7$ITERATIONS$SALT$HASH");
    assert_reported(&r, "pw.txt:13: error: expected $7$ITERATIONS$SALT$HASH");
    assert_reported(&r, "pw.txt:14: error: argon2 hashes (Mosquitto 2.1) are not supported");
    assert_reported(&r, "pw.txt:15: error: the user name contains a control character");
    assert_reported(&r, "pw.txt:16: error: expected $6$SALT$HASH");
    assert_reported(&r, "pw.txt:17: error: user 'carol' is already on line 1");
    assert_reported(&r, "pw.txt: error: 16 errors");
    assert_int_equal(r.errors, 17);
}

static void test_base64_strict(void **state)
{
    (void)state;
    /* The salt of vec7 with its padding wrong, or whitespace inside. */
    const char *bad[] = { "AQIDBAUGBwgJCgs=M", "AQIDBAUGBwgJCgs", "AQID BAUGBwgJCgsM",
                          "AQIDBAUGBwgJCgsM=", "====AQIDBAUGBwgJ" };
    const char *hash = strrchr(vec7, '$') + 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "carol:$7$1000$%s$%s\n", bad[i], hash);
        struct reports r = { 0 };
        struct passwd_db *db = NULL;
        assert_int_equal(passwd_db_parse("b", text, strlen(text), &db, collect, &r), -EINVAL);
        assert_reported(&r, "b:1: error: the salt is not base64");
    }
}

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double fastest_check(const struct passwd_db *db, const char *user)
{
    double best = 1e9;
    for (int i = 0; i < 3; i++) {
        double t = seconds_now();
        check(db, user, "guess");
        t = seconds_now() - t;
        best = t < best ? t : best;
    }
    return best;
}

/* An unknown user costs a hash like a known one: without the dummy it
 * would take microseconds, not ~50 ms. Only a lower bound is asserted, so
 * a slow or busy machine cannot make it fail. */
static void test_unknown_user_costs_a_hash(void **state)
{
    (void)state;
    char *line = NULL;
    assert_int_equal(passwd_entry_make("alice", "s3cret", 6, 100000, &line), 0);
    struct reports r = { 0 };
    struct passwd_db *db = parse_ok(line, &r);
    double known = fastest_check(db, "alice");
    double unknown = fastest_check(db, "mallory");
    double none = fastest_check(db, NULL);
    print_message("known %.1f ms, unknown %.1f ms, no user %.1f ms\n", known * 1e3,
                  unknown * 1e3, none * 1e3);
    assert_true(unknown > known / 3);
    assert_true(none > known / 3);
    passwd_db_free(db);
    free(line);
}

/* ---- files ------------------------------------------------------------------- */

static void test_load_errors(void **state)
{
    struct fx *fx = *state;
    struct reports r = { 0 };
    struct passwd_db *db = NULL;
    assert_int_equal(passwd_db_load(fx->file, &db, collect, &r), -ENOENT);
    assert_reported(&r, "passwd: error: cannot open: No such file or directory");
    assert_int_equal(passwd_db_load(fx->mosq.dir, &db, collect, &r), -EINVAL);
    assert_reported(&r, "error: not a regular file");
    assert_null(db);

    /* A world-readable file loads, with a warning. */
    write_text(fx->file, vec7);
    assert_int_equal(chmod(fx->file, 0644), 0);
    memset(&r, 0, sizeof r);
    db = load_ok(fx->file, &r);
    assert_reported(&r, "passwd: warning: readable by every user (mode 0644)");
    passwd_db_free(db);
}

static void test_mosquitto_passwd_file_verifies(void **state)
{
    struct fx *fx = *state;
    const char *create[] = { "mosquitto_passwd", "-c", "-b", fx->file, "alice", "s3cret", NULL };
    const char *add[] = { "mosquitto_passwd", "-b", fx->file, "bob", "hunter2", NULL };
    const char *weak[] = { "mosquitto_passwd", "-H", "sha512", "-b", fx->file, "carol", "pw3",
                           NULL };
    assert_int_equal(run_prog(create, 10000), 0);
    assert_int_equal(run_prog(add, 10000), 0);
    assert_int_equal(run_prog(weak, 10000), 0);

    struct reports r = { 0 };
    struct passwd_db *db = load_ok(fx->file, &r);
    assert_int_equal(passwd_db_count(db), 3);
    assert_int_equal(check(db, "alice", "s3cret"), PASSWD_MATCH);
    assert_int_equal(check(db, "bob", "hunter2"), PASSWD_MATCH);
    assert_int_equal(check(db, "carol", "pw3"), PASSWD_MATCH);
    assert_int_equal(check(db, "alice", "hunter2"), PASSWD_MISMATCH);
    assert_int_equal(check(db, "dave", "s3cret"), PASSWD_UNKNOWN_USER);
    /* Mosquitto's 101 iterations, and its $6$, draw warnings. */
    assert_reported(&r, ":1: warning: user 'alice' has a weak hash (only 101 PBKDF2");
    assert_reported(&r, ":3: warning: user 'carol' has a weak hash (salted SHA-512");
    assert_int_equal(r.errors, 0);
    passwd_db_free(db);
}

static void test_create_update_delete(void **state)
{
    struct fx *fx = *state;
    struct reports r = { 0 };
    assert_int_equal(passwd_file_set(fx->file, "alice", "one", 3, 100, PASSWD_FILE_CREATE,
                                     collect, &r), 0);
    assert_int_equal(mode_of(fx->file), 0600);
    assert_int_equal(passwd_file_set(fx->file, "bob", "two", 3, 100, 0, collect, &r), 0);
    assert_int_equal(passwd_file_set(fx->file, "alice", "three", 5, 100, 0, collect, &r), 0);
    assert_int_equal(r.errors + r.warnings, 0);

    struct passwd_db *db = load_ok(fx->file, &r);
    assert_int_equal(passwd_db_count(db), 2);
    assert_int_equal(check(db, "alice", "three"), PASSWD_MATCH);
    assert_int_equal(check(db, "alice", "one"), PASSWD_MISMATCH);
    assert_int_equal(check(db, "bob", "two"), PASSWD_MATCH);
    passwd_db_free(db);

    char text[1024];
    read_text(fx->file, text, sizeof text);
    assert_int_equal(strncmp(text, "alice:$7$100$", 13), 0);   /* updated in place */
    assert_non_null(strstr(text, "\nbob:$7$100$"));

    assert_int_equal(passwd_file_delete(fx->file, "alice", collect, &r), 0);
    db = load_ok(fx->file, &r);
    assert_int_equal(passwd_db_count(db), 1);
    assert_int_equal(check(db, "alice", "three"), PASSWD_UNKNOWN_USER);
    assert_int_equal(check(db, "bob", "two"), PASSWD_MATCH);
    passwd_db_free(db);

    /* An unknown user: -ESRCH, the file untouched. */
    char before[1024], after[1024];
    read_text(fx->file, before, sizeof before);
    assert_int_equal(passwd_file_delete(fx->file, "alice", collect, &r), -ESRCH);
    assert_reported(&r, "passwd: error: no user 'alice'");
    read_text(fx->file, after, sizeof after);
    assert_string_equal(before, after);
    assert_int_equal(count_files(fx), 1);   /* no temporary file left */
}

/* Other lines, comments and all, come through byte for byte. */
static void test_update_keeps_other_lines(void **state)
{
    struct fx *fx = *state;
    char text[2048], want[2048], got[2048];
    snprintf(text, sizeof text, "# sensors\r\n%s\n\n# legacy\n%s\n%s", vec7, vec6, vec64);
    write_text(fx->file, text);

    struct reports r = { 0 };
    /* dave (line 5) changes: everything before and after stays. */
    assert_int_equal(passwd_file_set(fx->file, "dave", "new", 3, 100, 0, collect, &r), 0);
    read_text(fx->file, got, sizeof got);
    const char *dave = strstr(text, "dave:");
    size_t head = (size_t)(dave - text);
    assert_memory_equal(got, text, head);
    const char *tail = strstr(got + head, "\nerin:");
    assert_non_null(tail);
    assert_string_equal(tail + 1, vec64);
    assert_int_equal(strncmp(got + head, "dave:$7$100$", 12), 0);

    /* A new user goes at the end; the last line gets its newline. */
    assert_int_equal(passwd_file_set(fx->file, "frank", "f", 1, 100, 0, collect, &r), 0);
    read_text(fx->file, want, sizeof want);
    size_t keep = strlen(got);
    assert_memory_equal(want, got, keep);
    assert_int_equal(strncmp(want + keep, "\nfrank:$7$100$", 14), 0);
    assert_int_equal(want[strlen(want) - 1], '\n');

    /* Deleting carol (line 2) removes that line only. */
    assert_int_equal(passwd_file_delete(fx->file, "carol", collect, &r), 0);
    read_text(fx->file, got, sizeof got);
    const char *carol = strstr(want, vec7);
    size_t at = (size_t)(carol - want);
    assert_memory_equal(got, want, at);
    assert_string_equal(got + at, want + at + strlen(vec7) + 1);
    assert_int_equal(r.errors, 0);

    struct passwd_db *db = load_ok(fx->file, &r);
    assert_int_equal(passwd_db_count(db), 3);
    assert_int_equal(check(db, "dave", "new"), PASSWD_MATCH);
    assert_int_equal(check(db, "erin", "long salt"), PASSWD_MATCH);
    assert_int_equal(check(db, "frank", "f"), PASSWD_MATCH);
    passwd_db_free(db);
}

static void test_mode_and_create(void **state)
{
    struct fx *fx = *state;
    struct reports r = { 0 };
    mode_t old_umask = umask(0);   /* a new file is 0600 whatever the umask */
    assert_int_equal(passwd_file_set(fx->file, "a", "1", 1, 10, PASSWD_FILE_CREATE, collect,
                                     &r), 0);
    umask(old_umask);
    assert_int_equal(mode_of(fx->file), 0600);
    assert_int_equal(passwd_file_set(fx->file, "b", "2", 1, 10, 0, collect, &r), 0);
    assert_int_equal(mode_of(fx->file), 0600);
    assert_int_equal(passwd_file_delete(fx->file, "a", collect, &r), 0);
    assert_int_equal(mode_of(fx->file), 0600);

    /* Another mode is the owner's choice: kept, through -c as well. */
    assert_int_equal(chmod(fx->file, 0640), 0);
    assert_int_equal(passwd_file_set(fx->file, "c", "3", 1, 10, 0, collect, &r), 0);
    assert_int_equal(mode_of(fx->file), 0640);

    /* -c replaces everything, even a malformed file. */
    write_text(fx->file, "garbage\n");
    assert_int_equal(passwd_file_set(fx->file, "d", "4", 1, 10, PASSWD_FILE_CREATE, collect,
                                     &r), 0);
    assert_int_equal(mode_of(fx->file), 0640);
    struct passwd_db *db = load_ok(fx->file, &r);
    assert_int_equal(passwd_db_count(db), 1);
    assert_int_equal(check(db, "d", "4"), PASSWD_MATCH);
    assert_int_equal(check(db, "c", "3"), PASSWD_UNKNOWN_USER);
    passwd_db_free(db);
    assert_int_equal(r.errors, 0);
    assert_int_equal(count_files(fx), 1);
}

static void test_edit_refusals(void **state)
{
    struct fx *fx = *state;
    struct reports r = { 0 };
    /* No file, no -c: an error, and no file made. */
    assert_int_equal(passwd_file_set(fx->file, "a", "1", 1, 10, 0, collect, &r), -ENOENT);
    assert_reported(&r, "passwd: error: cannot open: No such file or directory (-c creates it)");
    assert_int_equal(access(fx->file, F_OK), -1);
    assert_int_equal(passwd_file_delete(fx->file, "a", collect, &r), -ENOENT);

    /* A malformed file is not edited. */
    char text[512];
    snprintf(text, sizeof text, "%s\nbroken\n", vec7);
    write_text(fx->file, text);
    memset(&r, 0, sizeof r);
    assert_int_equal(passwd_file_set(fx->file, "a", "1", 1, 10, 0, collect, &r), -EINVAL);
    assert_reported(&r, "passwd:2: error: expected USER:HASH");
    assert_int_equal(passwd_file_delete(fx->file, "carol", collect, &r), -EINVAL);
    char after[512];
    read_text(fx->file, after, sizeof after);
    assert_string_equal(after, text);

    /* Bad arguments. */
    assert_int_equal(passwd_file_set(fx->file, "a:b", "1", 1, 10, PASSWD_FILE_CREATE, collect,
                                     &r), -EINVAL);
    assert_reported(&r, "passwd: error: a user name cannot contain ':'");
    assert_int_equal(passwd_file_set(fx->file, "a", "", 0, 10, PASSWD_FILE_CREATE, collect,
                                     &r), -EINVAL);
    read_text(fx->file, after, sizeof after);
    assert_string_equal(after, text);
    assert_int_equal(count_files(fx), 1);
}

/* Editing through a symlink replaces its target; the link stays a link. */
static void test_symlink_followed(void **state)
{
    struct fx *fx = *state;
    char link[160];
    snprintf(link, sizeof link, "%s/link", fx->mosq.dir);
    struct reports r = { 0 };
    assert_int_equal(passwd_file_set(fx->file, "a", "1", 1, 10, PASSWD_FILE_CREATE, collect,
                                     &r), 0);
    assert_int_equal(symlink("passwd", link), 0);
    assert_int_equal(passwd_file_set(link, "b", "2", 1, 10, 0, collect, &r), 0);
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    struct passwd_db *db = load_ok(fx->file, &r);
    assert_int_equal(check(db, "b", "2"), PASSWD_MATCH);
    assert_int_equal(check(db, "a", "1"), PASSWD_MATCH);
    passwd_db_free(db);
    assert_int_equal(count_files(fx), 2);
}

/* ---- in Mosquitto ------------------------------------------------------------ */

/* Start /usr/sbin/mosquitto with our file, stopped by the teardown (by PID)
 * even when an assertion fails. Returns its port. */
static int mosquitto_start(struct fx *fx)
{
    char conf[192];
    snprintf(conf, sizeof conf, "allow_anonymous false\npassword_file %s\n", fx->file);
    assert_int_equal(mosq_fixture_start(&fx->mosq, conf), 0);
    return fx->mosq.port[0];
}

static int publish_as(int port, const char *user, const char *password)
{
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    const char *argv[] = { "mosquitto_pub", "-h", "127.0.0.1", "-p", p, "-u", user, "-P",
                           password, "-t", "t", "-m", "m", "-q", "1", NULL };
    return run_prog(argv, 10000);
}

static void test_our_file_in_mosquitto(void **state)
{
    struct fx *fx = *state;
    struct reports r = { 0 };
    assert_int_equal(passwd_file_set(fx->file, "alice", "s3cret", 6, PASSWD_DEFAULT_ITERATIONS,
                                     PASSWD_FILE_CREATE, collect, &r), 0);
    assert_int_equal(passwd_file_set(fx->file, "bob", "hunter2", 7, 1000, 0, collect, &r), 0);
    assert_int_equal(passwd_file_set(fx->file, "carol", "x", 1, 1000, 0, collect, &r), 0);
    assert_int_equal(passwd_file_delete(fx->file, "carol", collect, &r), 0);
    assert_int_equal(mode_of(fx->file), 0600);

    int port = mosquitto_start(fx);
    assert_int_equal(publish_as(port, "alice", "s3cret"), 0);
    assert_int_equal(publish_as(port, "bob", "hunter2"), 0);
    assert_int_not_equal(publish_as(port, "alice", "s3cret "), 0);
    assert_int_not_equal(publish_as(port, "alice", "hunter2"), 0);
    assert_int_not_equal(publish_as(port, "carol", "x"), 0);
    assert_int_not_equal(publish_as(port, "mallory", "s3cret"), 0);
    /* The refusals are Mosquitto's "not authorised", not a crash or a timeout. */
    assert_true(mosq_fixture_file_has(fx->mosq.log, "not authorised", false));
    assert_true(mosq_fixture_file_has(fx->mosq.log, "u'alice'", false));
}

/* The help text states the default the code uses. */
static void test_help_states_default(void **state)
{
    (void)state;
    const struct command *cmd = command_find("passwd");
    assert_non_null(cmd);
    char text[64];
    snprintf(text, sizeof text, "(default %u)", PASSWD_DEFAULT_ITERATIONS);
    assert_non_null(strstr(cmd->usage, text));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_binary_password),
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_entry_make_refuses),
        cmocka_unit_test(test_user_valid),
        cmocka_unit_test(test_lenient_layout),
        cmocka_unit_test(test_malformed_lines),
        cmocka_unit_test(test_base64_strict),
        cmocka_unit_test(test_unknown_user_costs_a_hash),
        cmocka_unit_test_setup_teardown(test_load_errors, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_mosquitto_passwd_file_verifies, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_create_update_delete, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_update_keeps_other_lines, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_mode_and_create, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_edit_refusals, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_symlink_followed, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_our_file_in_mosquitto, setup_dir, teardown_dir),
        cmocka_unit_test(test_help_states_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
