/* The broker's password file: Mosquitto 2.0's format, read into a lookup
 * table for CONNECT, and edited for `mqgate passwd`. Pure: files in, answers
 * out; no broker state, no logging (problems go to a caller's callback).
 * Files written by `mosquitto_passwd` load here, and ours load in Mosquitto. */
#ifndef MQGATE_BROKER_PASSWD_H
#define MQGATE_BROKER_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

/* The format, one entry a line:
 *   USER:$7$ITERATIONS$SALT$HASH   PBKDF2-HMAC-SHA512 (what we write)
 *   USER:$6$SALT$HASH              SHA-512(password || salt), one round;
 *                                  read only, with a warning (weak)
 * SALT and HASH are standard base64 with padding; SALT decodes to 12 bytes
 * (64 also read, as Mosquitto does), HASH to 64. Blank lines and lines whose
 * first non-blank character is '#' are skipped and kept by edits; blanks
 * around USER and the hash are ignored, as Mosquitto ignores them; CRLF ends
 * are accepted. Anything else is an error: plain-text passwords, other hash
 * types (Mosquitto 2.1's $argon2id$), a bad field, and a user named twice
 * (Mosquitto would pick one of the two silently; we make the operator choose). */

#define PASSWD_SALT_LEN 12
#define PASSWD_HASH_LEN 64

/* Iterations written by default. Every check runs on the broker's loop
 * thread, so this is a latency budget: 15,000 PBKDF2-SHA512 iterations cost
 * ~8 ms on a 2020s x86 core and an estimated 40-55 ms on a Raspberry Pi 4
 * (~2.7-3.7 us per iteration on a Cortex-A72 without SHA-512 instructions),
 * twice that on a Pi 3 — one stall per CONNECT, and a reconnect storm of 100
 * clients stalls the loop ~5 s. OWASP's 210,000 would be ~0.7 s per CONNECT
 * on a Pi 4. Against an offline attack on a stolen file it is ~150x
 * Mosquitto's default of 101: long random passwords remain the real defence.
 * `mqgate passwd -I N` writes another count; each entry keeps its own. */
#define PASSWD_DEFAULT_ITERATIONS 15000u
/* Below this a loaded $7$ entry draws a warning (Mosquitto writes 101). */
#define PASSWD_WEAK_ITERATIONS 1000u
/* Above this an entry is refused, read or written: one CONNECT would stall
 * the loop for seconds (~3 s on a Pi 4 at the limit). */
#define PASSWD_MAX_ITERATIONS 1000000u
/* MQTT strings (user names, passwords) are at most 65535 bytes. */
#define PASSWD_FIELD_MAX 65535u

enum passwd_severity {
    PASSWD_WARNING,
    PASSWD_ERROR,
};

/* Receives each problem as one line without a newline, gcc style:
 * "FILE:LINE: error: REASON", "FILE:LINE: warning: REASON", or
 * "FILE: error: REASON" when no line is concerned (open, read, write).
 * User names are quoted and cut to 64 bytes. Called synchronously, on the
 * caller's thread, before the function returns; `msg` lives only during the
 * call. May be NULL to ignore problems. */
typedef void passwd_report_fn(void *ctx, enum passwd_severity severity, const char *msg);

/* ---- the lookup table ---------------------------------------------------- */

struct passwd_db;

enum passwd_verdict {
    PASSWD_MATCH,          /* user known, password right */
    PASSWD_MISMATCH,       /* user known, password wrong or absent */
    PASSWD_UNKNOWN_USER,   /* no such user (or no user name) */
    PASSWD_FAILED,         /* OpenSSL failed (out of memory): refuse, as the
                              server's fault, not the client's */
};

/* Read the password file at `path` into *out. Every malformed line is
 * reported (all of them, not just the first); loading fails if any is.
 * Warnings: $6$ entries, $7$ entries under PASSWD_WEAK_ITERATIONS, a file
 * readable by every user. Blocks on file I/O; the table holds no fd.
 * Returns 0 and sets *out (the caller owns it: passwd_db_free), or
 * -ENOENT/-EACCES/… from open or read, -EINVAL for a malformed file or one
 * that is not a regular file, -EFBIG over 64 MiB, -ENOMEM; *out is left
 * alone on failure. A reload is: load a new table, swap on success. */
int passwd_db_load(const char *path, struct passwd_db **out, passwd_report_fn *report,
                   void *ctx);

/* The same from text in memory; `name` stands for the file in messages.
 * `text` need not be NUL-terminated. */
int passwd_db_parse(const char *name, const char *text, size_t len, struct passwd_db **out,
                    passwd_report_fn *report, void *ctx);

/* Check a CONNECT's user name and password. `user` is NUL-terminated, or
 * NULL when the CONNECT had none; `password` is `len` bytes (any bytes), or
 * NULL when it had none, which matches no entry. The hash comparison is
 * constant-time, and an unknown (or NULL) user costs a dummy hash of the
 * file's most common kind and iteration count, so the time taken does not
 * say which users exist. Blocks the calling thread for the hash (see
 * PASSWD_DEFAULT_ITERATIONS); the table is read-only here, so threads may
 * check concurrently. */
enum passwd_verdict passwd_check(const struct passwd_db *db, const char *user,
                                 const void *password, size_t len);

/* Number of users. */
size_t passwd_db_count(const struct passwd_db *db);

/* NULL is allowed. */
void passwd_db_free(struct passwd_db *db);

/* ---- writing entries and files (`mqgate passwd`) ------------------------- */

/* Whether `user` can be stored so that both we and Mosquitto read it back:
 * 1..PASSWD_FIELD_MAX bytes, no ':' and no control character, no leading or
 * trailing blank, not starting with '#'. When not and `why` is not NULL,
 * *why says why (a static string). */
bool passwd_user_valid(const char *user, const char **why);

/* Hash `password` (`len` bytes, 1..PASSWD_FIELD_MAX) with a fresh random salt
 * into one entry "USER:$7$ITERATIONS$SALT$HASH" (NUL-terminated, no newline).
 * Returns 0 and sets *out (caller frees it), or -EINVAL (bad user, empty or
 * long password, iterations outside 1..PASSWD_MAX_ITERATIONS), -ENOMEM, -EIO
 * (OpenSSL failed: no randomness, or the hash). */
int passwd_entry_make(const char *user, const void *password, size_t len, unsigned iterations,
                      char **out);

/* passwd_file_set flag: start a new file with only this user, replacing the
 * file if it exists (`mosquitto_passwd -c`). */
#define PASSWD_FILE_CREATE 1u

/* Give `user` a new password in the file at `path`: replace their line in
 * place, or append one. The file must exist and be well-formed (problems
 * reported as by passwd_db_load) unless PASSWD_FILE_CREATE; other lines,
 * comments included, are kept byte for byte.
 * Crash-safe: the new contents go to a temporary file beside it, which is
 * fsynced, renamed over the file and the directory fsynced, so the file is
 * at every instant either the old one or the new one (a crash may leave a
 * stray "FILE.tmp.XXXXXX"). A symlink is followed: its target is replaced.
 * The file keeps its mode and owner; a new file gets 0600. Blocks on disk.
 * Returns 0, or -EINVAL (malformed file, bad argument: see
 * passwd_entry_make), -ENOENT (no file and no PASSWD_FILE_CREATE), -EPERM
 * (cannot keep the owner), -ENOMEM, -EIO, or another negative errno from the
 * file system; the file is then unchanged, except when only the final fsync
 * of the directory failed (the new file is in place, maybe not yet durable).
 * Every failure is reported. */
int passwd_file_set(const char *path, const char *user, const void *password, size_t len,
                    unsigned iterations, unsigned flags, passwd_report_fn *report, void *ctx);

/* Remove `user`'s line from the file at `path`, as crash-safely as
 * passwd_file_set. Returns 0, -ESRCH when the file has no such user (file
 * unchanged), or the errors of passwd_file_set. */
int passwd_file_delete(const char *path, const char *user, passwd_report_fn *report, void *ctx);

#endif
