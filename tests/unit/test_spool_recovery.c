/* Recovery tests for bridge/spool: a child appending with fsync always is
 * SIGKILLed at random points and every message it reported accepted must be
 * there, intact and in order; then fixtures this file builds byte by byte
 * from the format documented in bridge/spool.h (its own encoder, so the
 * format is checked too, and the spool's own writer against it): header
 * fields checked behind a valid CRC, torn tails cut at several offsets,
 * flipped bytes, garbage between records, empty and zero-length segments, a garbage file
 * with a segment's name, ACK-only segments, and files that are not ours. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bridge/crc32.h"
#include "bridge/spool.h"
#include "gateway/log.h"

#define HDR 32

/* ---- fixture ----------------------------------------------------------------- */

struct fx {
    char root[64];
    char dir[96];
    char logpath[128];
    int logfd;
    struct cfg_spool cfg;
    struct spool *s;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* The spool's log goes to a file the tests read. */
static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    strcpy(f->root, "/tmp/test_spool_rec.XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->dir, sizeof f->dir, "%s/spool", f->root);
    snprintf(f->logpath, sizeof f->logpath, "%s/log", f->root);
    if (mkdir(f->dir, 0700) < 0)
        return -1;
    f->logfd = open(f->logpath, O_CREAT | O_RDWR | O_APPEND | O_CLOEXEC, 0600);
    if (f->logfd < 0)
        return -1;
    log_set_output_fd(f->logfd);
    f->cfg = (struct cfg_spool){
        .dir = f->dir, .max_size = 64u << 20, .full_policy = CFG_FULL_DROP_OLDEST,
        .fsync = CFG_FSYNC_ALWAYS, .fsync_interval = 200000, .segment_size = 4u << 20,
        .max_inflight = 64,
    };
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    spool_close(f->s);
    if (getenv("SPOOL_TEST_LOG")) {
        char buf[4096];
        ssize_t n;
        lseek(f->logfd, 0, SEEK_SET);
        while ((n = read(f->logfd, buf, sizeof buf)) > 0)
            fwrite(buf, 1, (size_t)n, stderr);
    }
    log_set_output_fd(2);
    close(f->logfd);
    int r = nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return r;
}

static void fx_open(struct fx *f)
{
    char err[256];
    int r = spool_open(&f->cfg, &f->s, err, sizeof err);
    if (r != 0)
        fail_msg("spool_open: %d %s", r, err);
}

static bool log_has(struct fx *f, const char *needle)
{
    static char buf[65536];
    ssize_t n = pread(f->logfd, buf, sizeof buf - 1, 0);
    assert_true(n >= 0);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static struct spool_stats stats(struct fx *f)
{
    struct spool_stats st;
    spool_stats(f->s, &st);
    return st;
}

/* ---- the format, encoded independently ---------------------------------- */

static void le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Set the CRC of the record at rec from its length field (after a test
 * patched a field, so only the field check can catch it). */
static void fix_crc(uint8_t *rec)
{
    size_t len = (size_t)rec[4] | (size_t)rec[5] << 8 | (size_t)rec[6] << 16 | (size_t)rec[7] << 24;
    le(rec + 8, crc32_ieee(rec + 12, len - 12), 4);
}

static size_t enc(uint8_t *out, uint8_t type, uint8_t flags, uint64_t seq, int64_t wall,
                  const char *topic, const void *payload, size_t plen)
{
    size_t tlen = topic ? strlen(topic) : 0, len = HDR + tlen + plen;
    le(out + 0, 0x5053514D, 4);
    le(out + 4, len, 4);
    out[12] = type;
    out[13] = flags;
    le(out + 14, seq, 8);
    le(out + 22, (uint64_t)wall, 8);
    le(out + 30, tlen, 2);
    if (tlen)
        memcpy(out + HDR, topic, tlen);
    if (plen)
        memcpy(out + HDR + tlen, payload, plen);
    fix_crc(out);
    return len;
}

/* Message seq: topic "m/<seq>", payload seq % 50 + 1 bytes derived from it. */
static size_t payload_of(uint64_t seq, uint8_t *out)
{
    size_t n = seq % 50 + 1;
    for (size_t k = 0; k < n; k++)
        out[k] = (uint8_t)(seq * 7 + k);
    return n;
}

static size_t enc_msg(uint8_t *out, uint64_t seq)
{
    char topic[32];
    uint8_t p[64];
    snprintf(topic, sizeof topic, "m/%" PRIu64, seq);
    size_t n = payload_of(seq, p);
    return enc(out, 1, 1, seq, 1700000000000 + (int64_t)seq, topic, p, n);
}

static size_t enc_ack(uint8_t *out, uint64_t seq)
{
    return enc(out, 2, 0, seq, 0, NULL, NULL, 0);
}

/* A segment image with messages first..last; offs[k] is where message
 * first+k starts. */
struct image {
    uint8_t b[1 << 20];
    size_t len;
    size_t offs[64];
};

static void img_msgs(struct image *im, uint64_t first, uint64_t last)
{
    for (uint64_t q = first; q <= last; q++) {
        im->offs[q - first] = im->len;
        im->len += enc_msg(im->b + im->len, q);
    }
}

static void seg_path(struct fx *f, uint64_t name, char *out, size_t size)
{
    snprintf(out, size, "%s/spool-%016" PRIx64 ".seg", f->dir, name);
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void write_seg(struct fx *f, uint64_t name, const void *data, size_t len)
{
    char path[160];
    seg_path(f, name, path, sizeof path);
    write_file(path, data, len);
}

/* The whole segment file into buf (at most cap bytes); its length. */
static size_t read_seg(struct fx *f, uint64_t name, uint8_t *buf, size_t cap)
{
    char path[160];
    seg_path(f, name, path, sizeof path);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, cap);
    assert_true(n >= 0 && (size_t)n < cap);
    close(fd);
    return (size_t)n;
}

static off_t seg_size(struct fx *f, uint64_t name)
{
    char path[160];
    struct stat st;
    seg_path(f, name, path, sizeof path);
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static int count_entries(struct fx *f)
{
    DIR *d = opendir(f->dir);
    int n = 0;
    struct dirent *de;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The next message must be message `seq` as enc_msg made it. */
static void expect_seq(struct fx *f, struct spool_cursor *c, uint64_t seq)
{
    char topic[32];
    uint8_t p[64], buf[256];
    struct spool_msg m;
    assert_int_equal(spool_next(f->s, c, &m, buf, sizeof buf), 1);
    assert_int_equal(m.seq, seq);
    snprintf(topic, sizeof topic, "m/%" PRIu64, seq);
    assert_string_equal(m.topic, topic);
    size_t n = payload_of(seq, p);
    assert_int_equal(m.payload_len, n);
    assert_memory_equal(m.payload, p, n);
    assert_int_equal(m.qos, 1);
    assert_false(m.retain);
    assert_int_equal(m.wall_ms, 1700000000000 + (int64_t)seq);
}

static void expect_seqs(struct fx *f, const uint64_t *seqs, size_t n)
{
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    uint8_t buf[256];
    struct spool_msg m;
    for (size_t i = 0; i < n; i++)
        expect_seq(f, &c, seqs[i]);
    assert_int_equal(spool_next(f->s, &c, &m, buf, sizeof buf), 0);
}

static void close_spool(struct fx *f)
{
    spool_close(f->s);
    f->s = NULL;
}

/* ---- the layout --------------------------------------------------------- */

/* What the spool writes is byte for byte what the documented layout says:
 * 32 bytes of header before the topic, an ACK record of exactly 32. */
static void test_written_layout(void **state)
{
    struct fx *f = *state;
    static struct image want;
    static uint8_t got[4096];
    char topic[32];
    uint8_t p[64];
    fx_open(f);
    for (uint64_t q = 1; q <= 3; q++) {
        uint64_t seq = 0;
        snprintf(topic, sizeof topic, "m/%" PRIu64, q);
        size_t n = payload_of(q, p);
        assert_int_equal(spool_append(f->s, topic, p, n, 1, false, 1700000000000 + (int64_t)q,
                                      &seq), 0);
        assert_int_equal(seq, q);
    }
    assert_int_equal(spool_flush(f->s, 0), 0);
    for (uint64_t q = 1; q <= 3; q++)
        assert_int_equal(spool_ack(f->s, q), 0);
    assert_int_equal(spool_flush(f->s, 1), 0);
    close_spool(f);
    want.len = 0;
    img_msgs(&want, 1, 3);
    assert_int_equal(want.offs[1], HDR + 3 + 2);     /* "m/1" and 2 bytes */
    size_t ack = enc_ack(want.b + want.len, 3);
    assert_int_equal(ack, 32);
    want.len += ack;
    size_t n = read_seg(f, 1, got, sizeof got);
    assert_int_equal(n, want.len);
    assert_memory_equal(got, want.b, n);
}

/* A record whose CRC is right but whose header breaks a rule is corrupt:
 * flag bits that mean nothing, QoS 3, unknown types, seq 0, an ACK with
 * flags, time, topic or body, a topic longer than the record, seqs of 2^62
 * and more (a message's or an ACK's: next_seq must not wrap to 0). */
static void test_header_fields_checked(void **state)
{
    struct fx *f = *state;
    static struct image im;
    static const uint64_t want[] = { 1, 3 };
    for (int k = 0; k < 14; k++) {
        im.len = 0;
        img_msgs(&im, 1, 1);
        size_t bad = im.len;
        uint8_t *r = im.b + bad, pl[1] = { 0 };
        switch (k) {
        case 0: im.len += enc(r, 1, 1 | 0x08, 2, 5, "m/2", pl, 1); break;
        case 1: im.len += enc(r, 1, 1 | 0x80, 2, 5, "m/2", pl, 1); break;
        case 2: im.len += enc(r, 1, 3, 2, 5, "m/2", pl, 1); break;
        case 3: im.len += enc(r, 0, 1, 2, 5, "m/2", pl, 1); break;
        case 4: im.len += enc(r, 3, 1, 2, 5, "m/2", pl, 1); break;
        case 5: im.len += enc(r, 1, 1, 0, 5, "m/2", pl, 1); break;
        case 6: im.len += enc(r, 2, 1, 2, 0, NULL, NULL, 0); break;
        case 7: im.len += enc(r, 2, 0, 2, 5, NULL, NULL, 0); break;
        case 8: im.len += enc(r, 2, 0, 2, 0, "x", NULL, 0); break;
        case 9: im.len += enc(r, 2, 0, 2, 0, NULL, pl, 1); break;
        case 12: im.len += enc(r, 1, 1, UINT64_C(1) << 62, 5, "m/2", pl, 1); break;
        case 13: im.len += enc(r, 2, 0, UINT64_MAX, 0, NULL, NULL, 0); break;
        default:
            im.len += enc_msg(r, 2);
            le(r + 30, k == 10 ? 3 + 3 + 1 : 65535, 2);    /* "m/2", 3 bytes: one past */
            fix_crc(r);
            break;
        }
        size_t badlen = im.len - bad;
        im.len += enc_msg(im.b + im.len, 3);
        write_seg(f, 1, im.b, im.len);
        assert_int_equal(ftruncate(f->logfd, 0), 0);
        fx_open(f);
        expect_seqs(f, want, 2);
        assert_int_equal(stats(f).dropped_corrupt, 1);
        char needle[96];
        snprintf(needle, sizeof needle, "segment 0000000000000001: corrupt record at offset %zu, "
                 "skipped %zu bytes", bad, badlen);
        if (!log_has(f, needle))
            fail_msg("case %d: no \"%s\" in the log", k, needle);
        close_spool(f);
    }
}

/* ---- crash: SIGKILL while appending ------------------------------------- */

struct report {
    uint64_t seq;
    uint64_t i;
};

static size_t crash_payload(unsigned round, uint64_t i, uint8_t *out)
{
    size_t n = (size_t)((i * 13 + round) % 300);
    for (size_t k = 0; k < n; k++)
        out[k] = (uint8_t)(i ^ (k * 5) ^ round);
    return n;
}

static void crash_child(const struct cfg_spool *cfg, int wfd, unsigned round)
{
    char err[256], topic[48];
    uint8_t p[300];
    struct spool *s;
    if (spool_open(cfg, &s, err, sizeof err) != 0)
        _exit(2);
    for (uint64_t i = 0;; i++) {
        struct report rep = { .i = i };
        snprintf(topic, sizeof topic, "crash/%u/%" PRIu64, round, i);
        size_t n = crash_payload(round, i, p);
        if (spool_append(s, topic, p, n, 1, false, 0, &rep.seq) != 0)
            _exit(3);
        if (spool_flush(s, (int64_t)i) != 0)
            _exit(4);
        /* Only now does the message count as accepted. */
        if (write(wfd, &rep, sizeof rep) != (ssize_t)sizeof rep)
            _exit(5);
    }
}

/* Read one report, waiting at most 10 s. 1, 0 at EOF. */
static int read_report(int fd, struct report *rep)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    ssize_t n = read(fd, rep, sizeof *rep);
    assert_true(n == 0 || n == (ssize_t)sizeof *rep);   /* pipe writes this small are atomic */
    return n > 0;
}

/* Everything in the spool after a kill: messages of this round in order of
 * i, each intact; every reported one among them. Acknowledges them all. */
static uint64_t crash_check(struct fx *f, unsigned round, const struct report *reps, size_t nrep,
                            uint64_t prev_last)
{
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    struct spool_msg m;
    uint8_t buf[512], p[300];
    size_t k = 0;
    uint64_t last = 0, next_i = 0;
    int r;
    while ((r = spool_next(f->s, &c, &m, buf, sizeof buf)) == 1) {
        unsigned rr;
        uint64_t i;
        assert_int_equal(sscanf(m.topic, "crash/%u/%" SCNu64, &rr, &i), 2);
        assert_int_equal(rr, round);
        assert_int_equal(i, next_i);          /* in order, none missing, none twice */
        next_i++;
        assert_true(m.seq > prev_last && m.seq > last);
        size_t n = crash_payload(round, i, p);
        assert_int_equal(m.payload_len, n);
        assert_memory_equal(m.payload, p, n);
        if (k < nrep) {
            assert_int_equal(m.seq, reps[k].seq);
            assert_int_equal(i, reps[k].i);
            k++;
        }
        last = m.seq;
        assert_int_equal(spool_ack(f->s, m.seq), 0);
    }
    assert_int_equal(r, 0);
    assert_int_equal(k, nrep);                /* every reported message was there */
    assert_int_equal(stats(f).dropped_corrupt, 0);
    return last;
}

static void test_crash_kill(void **state)
{
    struct fx *f = *state;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    static struct report reps[4096];
    uint64_t prev_last = 0;
    f->cfg.segment_size = 8192;              /* rotations happen within a round */
    print_message("crash seed %u\n", seed);
    for (unsigned round = 0; round < 5; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            crash_child(&f->cfg, p[1], round);
        }
        close(p[1]);
        size_t target = 1 + (size_t)rand_r(&seed) % 250, n = 0;
        while (n < target && read_report(p[0], &reps[n]))
            n++;
        assert_int_equal(n, target);
        /* Somewhere in the next append, flush or report. */
        struct timespec ts = { 0, (long)(rand_r(&seed) % 2000) * 1000 };
        nanosleep(&ts, NULL);
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        while (n < sizeof reps / sizeof reps[0] && read_report(p[0], &reps[n]))
            n++;
        close(p[0]);
        fx_open(f);
        prev_last = crash_check(f, round, reps, n, prev_last);
        assert_true(prev_last >= reps[n - 1].seq);
        assert_int_equal(spool_flush(f->s, 0), 0);
        close_spool(f);
    }
    fx_open(f);
    assert_int_equal(stats(f).msgs, 0);
    assert_true(stats(f).next_seq > prev_last);
}

/* ---- torn tails --------------------------------------------------------------- */

static void test_torn_tail(void **state)
{
    struct fx *f = *state;
    static struct image im;
    im.len = 0;
    img_msgs(&im, 1, 5);
    size_t last = im.offs[4], rlen = im.len - last;
    size_t cuts[] = { last, last + 1, last + 4, last + 11, last + HDR - 1, last + HDR,
                      last + rlen - 1 };
    static const uint64_t want[] = { 1, 2, 3, 4 };
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        write_seg(f, 1, im.b, cuts[k]);
        assert_int_equal(ftruncate(f->logfd, 0), 0);
        fx_open(f);
        expect_seqs(f, want, 4);
        assert_int_equal(seg_size(f, 1), (off_t)last);
        struct spool_stats st = stats(f);
        assert_int_equal(st.recovered, 4);
        assert_int_equal(st.dropped_corrupt, 0);
        assert_int_equal(st.next_seq, 5);     /* 5 never reached the disk */
        char needle[64];
        snprintf(needle, sizeof needle, "torn record at offset %zu", last);
        assert_int_equal(log_has(f, needle), cuts[k] != last);
        close_spool(f);
        /* Truncated for good: a second open finds nothing to cut. */
        assert_int_equal(ftruncate(f->logfd, 0), 0);
        fx_open(f);
        assert_false(log_has(f, "torn"));
        assert_int_equal(stats(f).msgs, 4);
        close_spool(f);
    }
}

/* A torn tail is only ever the end of the newest segment: garbage at the
 * end of an older one is corruption, and the newer segment is kept. */
static void test_bad_end_of_older_segment(void **state)
{
    struct fx *f = *state;
    static struct image a, b;
    a.len = b.len = 0;
    img_msgs(&a, 1, 3);
    img_msgs(&b, 4, 5);
    write_seg(f, 1, a.b, a.len - 5);
    write_seg(f, 4, b.b, b.len);
    fx_open(f);
    static const uint64_t want[] = { 1, 2, 4, 5 };
    expect_seqs(f, want, 4);
    assert_int_equal(stats(f).dropped_corrupt, 1);
    assert_int_equal(seg_size(f, 1), (off_t)(a.len - 5));
    assert_false(log_has(f, "torn"));
}

/* ---- corruption in the middle ------------------------------------------ */

static void test_flipped_byte(void **state)
{
    struct fx *f = *state;
    static struct image im;
    im.len = 0;
    img_msgs(&im, 1, 5);
    size_t r3 = im.offs[2], r3len = im.offs[3] - r3;
    /* magic, length (up and down), CRC, type, flags, seq, wall time, topic
     * length, topic, payload, last byte */
    size_t at[] = { r3, r3 + 4, r3 + 6, r3 + 8, r3 + 12, r3 + 13, r3 + 14, r3 + 22, r3 + 30,
                    r3 + HDR, r3 + HDR + 5, r3 + r3len - 1 };
    static const uint64_t want[] = { 1, 2, 4, 5 };
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        im.b[at[k]] ^= 0x10;
        write_seg(f, 1, im.b, im.len);
        im.b[at[k]] ^= 0x10;
        assert_int_equal(ftruncate(f->logfd, 0), 0);
        fx_open(f);
        expect_seqs(f, want, 4);
        struct spool_stats st = stats(f);
        assert_int_equal(st.dropped_corrupt, 1);
        assert_int_equal(st.recovered, 4);
        assert_int_equal(seg_size(f, 1), (off_t)im.len);   /* kept as it is */
        char needle[96];
        snprintf(needle, sizeof needle, "segment 0000000000000001: corrupt record at offset %zu, "
                 "skipped %zu bytes", r3, r3len);
        assert_true(log_has(f, needle));
        close_spool(f);
    }
}

/* Junk between records, so long that the resync's 64 KiB reads split the
 * next record's magic at every possible place. */
static void test_garbage_between_records(void **state)
{
    struct fx *f = *state;
    static struct image im;
    static const uint64_t want[] = { 1, 2 };
    for (size_t junk = 65530; junk <= 65540; junk++) {
        im.len = 0;
        img_msgs(&im, 1, 1);
        memset(im.b + im.len, 0xAA, junk);
        im.len += junk;
        im.len += enc_msg(im.b + im.len, 2);
        write_seg(f, 1, im.b, im.len);
        fx_open(f);
        expect_seqs(f, want, 2);
        assert_int_equal(stats(f).dropped_corrupt, 1);
        close_spool(f);
    }
}

/* A large record (several read chunks) checks whole, and a flipped byte
 * deep in it is found. */
static void test_large_record(void **state)
{
    struct fx *f = *state;
    static struct image im;
    static uint8_t big[300000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 13);
    im.len = enc(im.b, 1, 2 | 4, 1, 5, "big", big, sizeof big);
    size_t second = im.len;
    im.len += enc_msg(im.b + im.len, 2);
    write_seg(f, 1, im.b, im.len);
    fx_open(f);
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    struct spool_msg m;
    static uint8_t buf[300100];
    assert_int_equal(spool_next(f->s, &c, &m, buf, sizeof buf), 1);
    assert_int_equal(m.seq, 1);
    assert_int_equal(m.qos, 2);
    assert_true(m.retain);
    assert_int_equal(m.payload_len, sizeof big);
    assert_memory_equal(m.payload, big, sizeof big);
    expect_seq(f, &c, 2);
    close_spool(f);
    im.b[200000] ^= 1;
    write_seg(f, 1, im.b, im.len);
    fx_open(f);
    static const uint64_t want[] = { 2 };
    expect_seqs(f, want, 1);
    assert_int_equal(stats(f).dropped_corrupt, 1);
    assert_int_equal(seg_size(f, 1), (off_t)im.len);
    (void)second;
}

/* A record with a valid CRC but a seq that goes backwards is not trusted. */
static void test_seq_out_of_order(void **state)
{
    struct fx *f = *state;
    static struct image im;
    im.len = 0;
    img_msgs(&im, 1, 3);
    im.len += enc_msg(im.b + im.len, 2);
    im.len += enc_msg(im.b + im.len, 4);
    write_seg(f, 1, im.b, im.len);
    fx_open(f);
    static const uint64_t want[] = { 1, 2, 3, 4 };
    expect_seqs(f, want, 4);
    assert_int_equal(stats(f).dropped_corrupt, 1);
    assert_true(log_has(f, "out of order"));
}

/* ---- empty, garbage, ACK-only, foreign files -------------------------- */

static void test_empty_segments(void **state)
{
    struct fx *f = *state;
    static struct image a, b;
    static const uint8_t zeros[10];
    a.len = b.len = 0;
    img_msgs(&a, 1, 3);
    img_msgs(&b, 6, 7);
    write_seg(f, 1, a.b, a.len);
    write_seg(f, 4, NULL, 0);            /* zero-length, in the middle */
    write_seg(f, 5, zeros, sizeof zeros); /* no record in it */
    write_seg(f, 6, b.b, b.len);
    write_seg(f, 8, NULL, 0);            /* zero-length, newest */
    fx_open(f);
    static const uint64_t want[] = { 1, 2, 3, 6, 7 };
    expect_seqs(f, want, 5);
    assert_int_equal(count_entries(f), 2);
    assert_int_equal(seg_size(f, 4), -1);
    assert_int_equal(seg_size(f, 5), -1);
    assert_int_equal(seg_size(f, 8), -1);
    assert_true(log_has(f, "spool-0000000000000004.seg: removed"));
    struct spool_stats st = stats(f);
    assert_int_equal(st.segments, 2);
    assert_int_equal(st.dropped_corrupt, 1);  /* the ten zeros */
    /* The removed newest segment's name is not given again. */
    assert_int_equal(st.next_seq, 9);
    uint64_t seq;
    assert_int_equal(spool_append(f->s, "x", "y", 1, 0, false, 0, &seq), 0);
    assert_int_equal(seq, 9);
}

static void test_garbage_segment(void **state)
{
    struct fx *f = *state;
    static struct image a, b;
    static uint8_t junk[1000];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (uint8_t)(x >> 16);
        if (junk[i] == 0x4D)             /* no magic's first byte: no false start */
            junk[i] = 0;
    }
    a.len = b.len = 0;
    img_msgs(&a, 1, 2);
    img_msgs(&b, 4, 5);
    write_seg(f, 1, a.b, a.len);
    write_seg(f, 3, junk, sizeof junk);
    write_seg(f, 4, b.b, b.len);
    fx_open(f);
    static const uint64_t want[] = { 1, 2, 4, 5 };
    expect_seqs(f, want, 4);
    assert_int_equal(stats(f).dropped_corrupt, 1);
    assert_int_equal(seg_size(f, 3), -1);
    assert_true(log_has(f, "segment 0000000000000003: corrupt record at offset 0, skipped 1000 bytes"));
}

static void test_ack_only_segment(void **state)
{
    struct fx *f = *state;
    static struct image a, b;
    a.len = b.len = 0;
    img_msgs(&a, 1, 5);
    b.len = enc_ack(b.b, 3);
    write_seg(f, 1, a.b, a.len);
    write_seg(f, 6, b.b, b.len);
    fx_open(f);
    static const uint64_t want[] = { 4, 5 };
    expect_seqs(f, want, 2);
    struct spool_stats st = stats(f);
    assert_int_equal(st.acked_seq, 3);
    assert_int_equal(st.recovered, 2);
    assert_int_equal(st.next_seq, 7);
    assert_int_equal(count_entries(f), 2);
    /* Acknowledging the rest lets the older segment go; the newest stays. */
    assert_int_equal(spool_ack(f->s, 4), 0);
    assert_int_equal(spool_ack(f->s, 5), 0);
    assert_int_equal(spool_flush(f->s, 0), 0);
    assert_int_equal(count_entries(f), 1);
    assert_int_equal(seg_size(f, 1), -1);
    close_spool(f);
    fx_open(f);
    assert_int_equal(stats(f).msgs, 0);
    assert_int_equal(stats(f).next_seq, 7);
}

/* An old segment with only an ACK, its messages long gone: removed at open. */
static void test_ack_only_oldest(void **state)
{
    struct fx *f = *state;
    static struct image a, b;
    a.len = enc_ack(a.b, 10);
    b.len = 0;
    img_msgs(&b, 11, 12);
    write_seg(f, 1, a.b, a.len);
    write_seg(f, 11, b.b, b.len);
    fx_open(f);
    static const uint64_t want[] = { 11, 12 };
    expect_seqs(f, want, 2);
    assert_int_equal(seg_size(f, 1), -1);
    assert_int_equal(stats(f).acked_seq, 10);
}

/* An ACK past every message: nothing to send, the seqs go on after it. */
static void test_everything_acked(void **state)
{
    struct fx *f = *state;
    static struct image a;
    a.len = 0;
    img_msgs(&a, 1, 3);
    a.len += enc_ack(a.b + a.len, 3);
    write_seg(f, 1, a.b, a.len);
    fx_open(f);
    expect_seqs(f, NULL, 0);
    assert_int_equal(stats(f).recovered, 0);
    assert_int_equal(stats(f).next_seq, 4);
}

static void test_foreign_files(void **state)
{
    struct fx *f = *state;
    static struct image a;
    char path[192];
    a.len = 0;
    img_msgs(&a, 1, 2);
    write_seg(f, 1, a.b, a.len);
    snprintf(path, sizeof path, "%s/README", f->dir);
    write_file(path, "hello", 5);
    snprintf(path, sizeof path, "%s/spool-00000000000000zz.seg", f->dir);
    write_file(path, "x", 1);
    snprintf(path, sizeof path, "%s/spool-0000000000000002.seg.tmp", f->dir);
    write_file(path, NULL, 0);
    snprintf(path, sizeof path, "%s/spool-0000000000000003.seg", f->dir);   /* a directory */
    assert_int_equal(mkdir(path, 0700), 0);
    fx_open(f);
    static const uint64_t want[] = { 1, 2 };
    expect_seqs(f, want, 2);
    assert_true(log_has(f, "leaving README alone"));
    assert_true(log_has(f, "leaving spool-00000000000000zz.seg alone"));
    assert_true(log_has(f, "leaving spool-0000000000000002.seg.tmp alone"));
    assert_true(log_has(f, "leaving spool-0000000000000003.seg alone"));
    assert_int_equal(spool_append(f->s, "x", "y", 1, 0, false, 0, NULL), 0);
    assert_int_equal(spool_flush(f->s, 0), 0);
    close_spool(f);
    assert_int_equal(count_entries(f), 5);
    fx_open(f);
    assert_int_equal(stats(f).msgs, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_written_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_fields_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_end_of_older_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_between_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seq_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_only_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_only_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_everything_acked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
