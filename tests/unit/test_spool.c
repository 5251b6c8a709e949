/* Unit tests for bridge/spool (running side) and bridge/crc32, on real files
 * in a fresh temporary directory: append/flush/next/ack round trips,
 * acknowledgements out of order, reopening, segment rotation and removal,
 * rewind, the index and the memory cache at small bounds, max_size with both
 * policies, max_age, and write errors (EFBIG from RLIMIT_FSIZE, EACCES from a
 * read-only directory) that must lose nothing already written. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bridge/crc32.h"
#include "bridge/spool.h"
#include "gateway/log.h"

/* ---- fixture ----------------------------------------------------------------- */

struct fx {
    char root[64];          /* the mkdtemp directory */
    char dir[96];           /* root/spool, which the spool creates */
    struct cfg_spool cfg;
    struct spool *s;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    strcpy(f->root, "/tmp/test_spool.XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->dir, sizeof f->dir, "%s/spool", f->root);
    f->cfg = (struct cfg_spool){
        .dir = f->dir, .max_size = 64u << 20, .full_policy = CFG_FULL_DROP_OLDEST,
        .max_age = 0, .fsync = CFG_FSYNC_ALWAYS, .fsync_interval = 200000,
        .segment_size = 4u << 20, .max_inflight = 64,
    };
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    spool_close(f->s);
    chmod(f->dir, 0700);
    int r = nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return r;
}

static void fx_open_tuned(struct fx *f, const struct spool_tuning *t)
{
    char err[256];
    int r = spool_open_tuned(&f->cfg, t, &f->s, err, sizeof err);
    if (r != 0)
        fail_msg("spool_open: %d %s", r, err);
}

static void fx_open(struct fx *f)
{
    fx_open_tuned(f, NULL);
}

static void fx_reopen(struct fx *f)
{
    spool_close(f->s);
    f->s = NULL;
    fx_open(f);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Message i: topic "t/<i>", payload of i % 97 bytes derived from i. */
static size_t payload_of(unsigned i, uint8_t *out)
{
    size_t n = i % 97;
    for (size_t k = 0; k < n; k++)
        out[k] = (uint8_t)(i * 31 + k);
    return n;
}

static uint64_t append_i(struct fx *f, unsigned i)
{
    char topic[32];
    uint8_t p[128];
    uint64_t seq = 0;
    snprintf(topic, sizeof topic, "t/%u", i);
    size_t n = payload_of(i, p);
    assert_int_equal(spool_append(f->s, topic, p, n, (int)(i % 3), i % 2 == 0, wall_ms(), &seq), 0);
    return seq;
}

/* The next message must be message i, intact. Returns its seq. */
static uint64_t expect_i(struct fx *f, struct spool_cursor *c, unsigned i)
{
    char topic[32];
    uint8_t p[128], buf[256];
    struct spool_msg m;
    assert_int_equal(spool_next(f->s, c, &m, buf, sizeof buf), 1);
    snprintf(topic, sizeof topic, "t/%u", i);
    assert_string_equal(m.topic, topic);
    assert_int_equal(m.topic_len, strlen(topic));
    size_t n = payload_of(i, p);
    assert_int_equal(m.payload_len, n);
    assert_memory_equal(m.payload, p, n);
    assert_int_equal(m.qos, i % 3);
    assert_int_equal(m.retain, i % 2 == 0);
    return m.seq;
}

static void expect_none(struct fx *f, struct spool_cursor *c)
{
    uint8_t buf[256];
    struct spool_msg m;
    assert_int_equal(spool_next(f->s, c, &m, buf, sizeof buf), 0);
}

static int count_segments(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        n += strncmp(de->d_name, "spool-", 6) == 0;
    closedir(d);
    return n;
}

static struct spool_stats stats(struct fx *f)
{
    struct spool_stats st;
    spool_stats(f->s, &st);
    return st;
}

/* ---- crc32 -------------------------------------------------------------------- */

static uint32_t crc_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static void test_crc32(void **state)
{
    (void)state;
    assert_int_equal(crc32_ieee("123456789", 9), 0xCBF43926u);
    assert_int_equal(crc32_ieee(NULL, 0), 0);
    /* Every table entry, through single bytes. */
    for (unsigned b = 0; b < 256; b++) {
        uint8_t x = (uint8_t)b;
        assert_int_equal(crc32_ieee(&x, 1), crc_bitwise(&x, 1));
    }
    uint8_t data[1000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(crc32_ieee(data, sizeof data), crc_bitwise(data, sizeof data));
    assert_int_equal(crc32_ieee_update(crc32_ieee(data, 333), data + 333, 667),
                     crc32_ieee(data, sizeof data));
}

/* ---- round trips -------------------------------------------------------------- */

static void test_round_trip(void **state)
{
    struct fx *f = *state;
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    fx_open(f);
    uint64_t s1 = append_i(f, 1), s2 = append_i(f, 2), s3 = append_i(f, 97);  /* 97: empty payload */
    assert_true(s1 >= 1 && s2 == s1 + 1 && s3 == s2 + 1);
    /* Nothing is written yet: these come from memory. */
    assert_int_equal(count_segments(f->dir), 0);
    assert_int_equal(expect_i(f, &c, 1), s1);
    assert_int_equal(stats(f).msgs, 3);
    assert_int_equal(spool_flush(f->s, 1000), 0);
    assert_int_equal(count_segments(f->dir), 1);
    assert_int_equal(expect_i(f, &c, 2), s2);
    assert_int_equal(expect_i(f, &c, 97), s3);
    expect_none(f, &c);
    /* Appended after the cursor reached the end: still found. */
    uint64_t s4 = append_i(f, 4);
    assert_int_equal(expect_i(f, &c, 4), s4);
    expect_none(f, &c);
    for (uint64_t q = s1; q <= s4; q++)
        assert_int_equal(spool_ack(f->s, q), 0);
    struct spool_stats st = stats(f);
    assert_int_equal(st.msgs, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.acked_seq, s4);
    assert_int_equal(spool_flush(f->s, 1001), 0);
    spool_rewind(&c);
    expect_none(f, &c);
}

static void test_next_small_buffer(void **state)
{
    struct fx *f = *state;
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    struct spool_msg m;
    uint8_t buf[8];
    fx_open(f);
    append_i(f, 50);        /* "t/50" and 50 bytes */
    assert_int_equal(spool_next(f->s, &c, &m, buf, sizeof buf), -ENOBUFS);
    assert_int_equal(m.topic_len, 4);
    assert_int_equal(m.payload_len, 50);
    assert_int_equal(spool_next(f->s, &c, &m, NULL, 0), -ENOBUFS);
    expect_i(f, &c, 50);    /* the cursor did not move */
}

static void test_bad_arguments(void **state)
{
    struct fx *f = *state;
    char big[70000];
    f->cfg.max_size = 64 * 1024;
    fx_open(f);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(spool_append(f->s, "t", "x", 1, 3, false, 0, NULL), -EINVAL);
    assert_int_equal(spool_append(f->s, NULL, "x", 1, 0, false, 0, NULL), -EINVAL);
    assert_int_equal(spool_append(f->s, "t", NULL, 1, 0, false, 0, NULL), -EINVAL);
    assert_int_equal(spool_append(f->s, big, "x", 1, 0, false, 0, NULL), -EMSGSIZE);
    /* Larger than the whole budget: can never fit. */
    assert_int_equal(spool_append(f->s, "t", big, 65600, 0, false, 0, NULL), -EMSGSIZE);
    assert_int_equal(spool_ack(f->s, 0), -EINVAL);
    assert_int_equal(spool_ack(f->s, 1), -EINVAL);        /* never given out */
    assert_int_equal(stats(f).next_seq, 1);
    assert_int_equal(stats(f).dropped_full, 0);
}

static void test_open_errors(void **state)
{
    struct fx *f = *state;
    struct spool *s2 = NULL;
    char err[256];
    fx_open(f);
    /* One process at a time. */
    assert_int_equal(spool_open(&f->cfg, &s2, err, sizeof err), -EBUSY);
    assert_null(s2);
    assert_non_null(strstr(err, f->dir));
    struct cfg_spool bad = f->cfg;
    bad.dir = NULL;
    assert_int_equal(spool_open(&bad, &s2, err, sizeof err), -EINVAL);
    /* A file where the directory should be. */
    char path[128];
    snprintf(path, sizeof path, "%s/file", f->root);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    bad = f->cfg;
    bad.dir = path;
    assert_int_equal(spool_open(&bad, &s2, err, 0), -ENOTDIR);
    /* Missing parent: one level is created, not two. */
    snprintf(path, sizeof path, "%s/a/b", f->root);
    bad.dir = path;
    assert_int_equal(spool_open(&bad, &s2, err, sizeof err), -ENOENT);
}

static void test_out_of_order_acks(void **state)
{
    struct fx *f = *state;
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    uint64_t seq[6];
    fx_open(f);
    for (unsigned i = 1; i <= 5; i++)
        seq[i] = append_i(f, i);
    for (unsigned i = 1; i <= 5; i++)
        expect_i(f, &c, i);
    assert_int_equal(spool_ack(f->s, seq[3]), 0);
    assert_int_equal(spool_ack(f->s, seq[5]), 0);
    assert_int_equal(stats(f).acked_seq, 0);
    assert_int_equal(spool_ack(f->s, seq[1]), 0);
    assert_int_equal(stats(f).acked_seq, seq[1]);
    assert_int_equal(stats(f).msgs, 2);
    assert_int_equal(spool_ack(f->s, seq[3]), 0);       /* again: no change */
    assert_int_equal(stats(f).msgs, 2);
    /* After a reconnect only the unacknowledged ones go again. */
    spool_rewind(&c);
    expect_i(f, &c, 2);
    expect_i(f, &c, 4);
    expect_none(f, &c);
    assert_int_equal(spool_ack(f->s, seq[2]), 0);
    assert_int_equal(stats(f).acked_seq, seq[3]);
    assert_int_equal(spool_ack(f->s, seq[4]), 0);
    assert_int_equal(stats(f).acked_seq, seq[5]);
    assert_int_equal(stats(f).msgs, 0);
}

static void test_reopen_resumes(void **state)
{
    struct fx *f = *state;
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    uint64_t seq[11];
    fx_open(f);
    for (unsigned i = 1; i <= 10; i++)
        seq[i] = append_i(f, i);
    assert_int_equal(spool_flush(f->s, 1000), 0);
    for (unsigned i = 1; i <= 10; i++)
        expect_i(f, &c, i);
    for (unsigned i = 1; i <= 4; i++)
        assert_int_equal(spool_ack(f->s, seq[i]), 0);
    assert_int_equal(spool_ack(f->s, seq[6]), 0);       /* past the position: not durable */
    assert_int_equal(spool_flush(f->s, 1001), 0);
    fx_reopen(f);
    struct spool_stats st = stats(f);
    assert_int_equal(st.recovered, 6);
    assert_int_equal(st.msgs, 6);
    assert_int_equal(st.acked_seq, seq[4]);
    struct spool_cursor c2 = SPOOL_CURSOR_INIT;
    for (unsigned i = 5; i <= 10; i++)
        assert_int_equal(expect_i(f, &c2, i), seq[i]);
    expect_none(f, &c2);
    /* Seqs carry on from where they were. */
    assert_int_equal(append_i(f, 11), seq[10] + 1);
    /* A clean close with nothing appended or acked changes nothing. */
    fx_reopen(f);
    assert_int_equal(stats(f).msgs, 7);
    assert_int_equal(stats(f).next_seq, seq[10] + 2);
}

static void test_segments_rotate_and_go(void **state)
{
    struct fx *f = *state;
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    uint64_t seq[41];
    f->cfg.segment_size = 512;
    fx_open(f);
    for (unsigned i = 1; i <= 40; i++) {
        seq[i] = append_i(f, i);
        assert_int_equal(spool_flush(f->s, 1000 + i), 0);
    }
    int nseg = count_segments(f->dir);
    assert_true(nseg >= 4);
    assert_int_equal(stats(f).segments, (uint64_t)nseg);
    assert_true(stats(f).disk_bytes > 512 * 3);
    for (unsigned i = 1; i <= 40; i++)
        expect_i(f, &c, i);
    /* Acknowledging the first half removes the segments holding only it. */
    for (unsigned i = 1; i <= 20; i++)
        assert_int_equal(spool_ack(f->s, seq[i]), 0);
    assert_int_equal(count_segments(f->dir), nseg);       /* not before the flush */
    assert_int_equal(spool_flush(f->s, 2000), 0);
    int half = count_segments(f->dir);
    assert_true(half < nseg && half > 1);
    for (unsigned i = 21; i <= 40; i++)
        assert_int_equal(spool_ack(f->s, seq[i]), 0);
    assert_int_equal(spool_flush(f->s, 2001), 0);
    assert_int_equal(count_segments(f->dir), 1);           /* the current one stays */
    assert_int_equal(stats(f).segments, 1);
    fx_reopen(f);
    assert_int_equal(stats(f).msgs, 0);
    assert_int_equal(append_i(f, 41), seq[40] + 1);
}

static void test_rewind(void **state)
{
    struct fx *f = *state;
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    fx_open(f);
    uint64_t a = append_i(f, 1);
    append_i(f, 2);
    append_i(f, 3);
    expect_i(f, &c, 1);
    expect_i(f, &c, 2);
    spool_rewind(&c);
    expect_i(f, &c, 1);
    assert_int_equal(spool_ack(f->s, a), 0);
    spool_rewind(&c);
    expect_i(f, &c, 2);
    expect_i(f, &c, 3);
    expect_none(f, &c);
}

/* A tiny index and cache: most messages are read back from disk and the
 * index refills as acknowledgements make room, across segments and reopen. */
static void test_small_index_and_cache(void **state)
{
    struct fx *f = *state;
    struct spool_tuning t = { .index_max = 4, .cache_max = 200 };
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    uint64_t seq[201];
    f->cfg.segment_size = 1024;
    fx_open_tuned(f, &t);
    for (unsigned i = 1; i <= 200; i++) {
        seq[i] = append_i(f, i);
        if (i % 7 == 0)
            assert_int_equal(spool_flush(f->s, 1000 + i), 0);
    }
    /* Two in flight at a time, acknowledged in turn. */
    uint64_t inflight[2];
    inflight[0] = expect_i(f, &c, 1);
    inflight[1] = expect_i(f, &c, 2);
    for (unsigned i = 3; i <= 100; i++) {
        assert_int_equal(spool_ack(f->s, inflight[i % 2]), 0);
        inflight[i % 2] = expect_i(f, &c, i);
        assert_int_equal(inflight[i % 2], seq[i]);
    }
    assert_int_equal(spool_ack(f->s, inflight[0]), 0);
    assert_int_equal(spool_ack(f->s, inflight[1]), 0);
    assert_int_equal(spool_flush(f->s, 5000), 0);
    assert_int_equal(stats(f).msgs, 100);
    spool_close(f->s);
    f->s = NULL;
    fx_open_tuned(f, &t);
    assert_int_equal(stats(f).recovered, 100);
    struct spool_cursor c2 = SPOOL_CURSOR_INIT;
    for (unsigned i = 101; i <= 200; i++) {
        assert_int_equal(expect_i(f, &c2, i), seq[i]);
        assert_int_equal(spool_ack(f->s, seq[i]), 0);
        if (i == 150)       /* appended while the index is behind */
            seq[0] = append_i(f, 7);
    }
    assert_int_equal(expect_i(f, &c2, 7), seq[0]);
    expect_none(f, &c2);
}

/* The index full of messages after one that stays unacknowledged: nothing
 * more comes until it is acknowledged. */
static void test_index_backpressure(void **state)
{
    struct fx *f = *state;
    struct spool_tuning t = { .index_max = 4 };
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    fx_open_tuned(f, &t);
    uint64_t first = append_i(f, 1);
    for (unsigned i = 2; i <= 8; i++)
        append_i(f, i);
    expect_i(f, &c, 1);
    for (unsigned i = 2; i <= 4; i++)
        assert_int_equal(spool_ack(f->s, expect_i(f, &c, i)), 0);
    expect_none(f, &c);
    assert_int_equal(spool_ack(f->s, 8), -ENOENT);    /* not handed out: past the index */
    assert_int_equal(spool_ack(f->s, first), 0);
    for (unsigned i = 5; i <= 8; i++)
        expect_i(f, &c, i);
    expect_none(f, &c);
}

/* ---- bounds -------------------------------------------------------------------- */

static void test_drop_oldest(void **state)
{
    struct fx *f = *state;
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    f->cfg.max_size = 4000;
    f->cfg.segment_size = 1000;
    fx_open(f);
    unsigned n = 200;
    for (unsigned i = 1; i <= n; i++) {
        assert_int_equal(append_i(f, i), i);
        assert_int_equal(spool_flush(f->s, 1000 + i), 0);
        assert_true(stats(f).disk_bytes <= 4000);
    }
    struct spool_stats st = stats(f);
    assert_true(st.dropped_full > 0);
    assert_int_equal(st.msgs + st.dropped_full, n);
    /* What is left is the newest, in order, without a gap. */
    unsigned first = n - (unsigned)st.msgs + 1;
    for (unsigned i = first; i <= n; i++)
        assert_int_equal(expect_i(f, &c, i), i);
    expect_none(f, &c);
    /* The drops hold across a restart. */
    fx_reopen(f);
    assert_int_equal(stats(f).msgs, st.msgs);
    struct spool_cursor c2 = SPOOL_CURSOR_INIT;
    assert_int_equal(expect_i(f, &c2, first), first);
}

/* drop_oldest with a message in flight from the segment it drops: its late
 * acknowledgement is harmless. */
static void test_drop_oldest_inflight(void **state)
{
    struct fx *f = *state;
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    f->cfg.max_size = 4000;
    f->cfg.segment_size = 1000;
    fx_open(f);
    uint64_t a = append_i(f, 1);
    expect_i(f, &c, 1);
    for (unsigned i = 2; i <= 100; i++)
        append_i(f, i);
    assert_true(stats(f).dropped_full > 0);
    assert_int_equal(spool_ack(f->s, a), 0);
    assert_true(stats(f).acked_seq >= a);
    uint8_t buf[256];
    struct spool_msg m;
    assert_int_equal(spool_next(f->s, &c, &m, buf, sizeof buf), 1);
    assert_true(m.seq > a + 1);
}

/* drop_oldest past a small index: segments whose messages are not indexed
 * yet go too, and reading resumes at the oldest one kept. */
static void test_drop_oldest_small_index(void **state)
{
    struct fx *f = *state;
    struct spool_tuning t = { .index_max = 4, .cache_max = 256 };
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    f->cfg.max_size = 4000;
    f->cfg.segment_size = 1000;
    fx_open_tuned(f, &t);
    expect_none(f, &c);
    for (unsigned i = 1; i <= 300; i++)
        assert_int_equal(append_i(f, i), i);
    struct spool_stats st = stats(f);
    assert_true(st.dropped_full > 0);
    assert_int_equal(st.msgs + st.dropped_full, 300);
    unsigned first = 300 - (unsigned)st.msgs + 1;
    for (unsigned i = first; i <= 300; i++)
        assert_int_equal(spool_ack(f->s, expect_i(f, &c, i)), 0);
    expect_none(f, &c);
    assert_int_equal(stats(f).msgs, 0);
    assert_int_equal(stats(f).acked_seq, 300);
}

/* A message spoiled on disk after it was written is caught by its CRC when
 * read back, skipped and counted; the others still come. */
static void test_corrupt_after_write(void **state)
{
    struct fx *f = *state;
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    f->cfg.segment_size = 512;
    fx_open(f);
    for (unsigned i = 1; i <= 20; i++)
        append_i(f, i);
    assert_int_equal(spool_flush(f->s, 1000), 0);
    assert_true(count_segments(f->dir) > 1);
    /* Message 1 is 32 + 3 + 1 bytes; message 2's payload starts at 36 + 35. */
    char path[160];
    snprintf(path, sizeof path, "%s/spool-%016x.seg", f->dir, 1);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, 72), 1);
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, 72), 1);
    close(fd);
    expect_i(f, &c, 1);
    for (unsigned i = 3; i <= 20; i++)
        expect_i(f, &c, i);
    expect_none(f, &c);
    assert_int_equal(stats(f).dropped_corrupt, 1);
    assert_int_equal(stats(f).msgs, 19);
}

static void test_drop_newest(void **state)
{
    struct fx *f = *state;
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    f->cfg.max_size = 4000;
    f->cfg.segment_size = 1000;
    f->cfg.full_policy = CFG_FULL_DROP_NEWEST;
    fx_open(f);
    unsigned ok = 0, refused = 0, which[200];
    uint64_t seqs[200];
    for (unsigned i = 1; i <= 200; i++) {
        char topic[32];
        uint8_t p[128];
        snprintf(topic, sizeof topic, "t/%u", i);
        size_t len = payload_of(i, p);
        int r = spool_append(f->s, topic, p, len, (int)(i % 3), i % 2 == 0, wall_ms(), &seqs[ok]);
        assert_true(r == 0 || r == -EDQUOT);
        if (r == 0)
            which[ok++] = i;
        else
            refused++;
        assert_int_equal(spool_flush(f->s, 1000 + i), 0);
    }
    assert_true(ok > 10 && refused > 100);
    assert_int_equal(stats(f).dropped_full, refused);
    assert_true(stats(f).disk_bytes <= 4000);
    /* Kept: the oldest, with seqs 1, 2, ... (a refused message gets none). */
    for (unsigned k = 0; k < ok; k++) {
        assert_int_equal(seqs[k], k + 1);
        assert_int_equal(expect_i(f, &c, which[k]), k + 1);
    }
    expect_none(f, &c);
    /* Acknowledged and flushed, the segments go and appends are taken again. */
    assert_int_equal(spool_append(f->s, "t/x", "x", 1, 1, false, wall_ms(), NULL), -EDQUOT);
    for (unsigned k = 0; k < ok; k++)
        assert_int_equal(spool_ack(f->s, seqs[k]), 0);
    assert_int_equal(spool_flush(f->s, 9000), 0);
    assert_int_equal(spool_append(f->s, "t/x", "x", 1, 1, false, wall_ms(), NULL), 0);
}

static void test_max_age(void **state)
{
    struct fx *f = *state;
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    uint8_t buf[256];
    struct spool_msg m;
    f->cfg.max_age = INT64_C(3600) * 1000000;   /* 1 h, in µs as the config has it */
    fx_open(f);
    int64_t now = wall_ms();
    uint64_t old1, old2, fresh;
    assert_int_equal(spool_append(f->s, "old", "1", 1, 1, false, now - 7200 * 1000, &old1), 0);
    assert_int_equal(spool_append(f->s, "old", "2", 1, 1, false, now - 3700 * 1000, &old2), 0);
    assert_int_equal(spool_append(f->s, "new", "3", 1, 1, false, now - 60 * 1000, &fresh), 0);
    struct spool_stats st = stats(f);
    assert_true(st.oldest_age_ms >= 7200 * 1000 && st.oldest_age_ms < 7300 * 1000);
    assert_int_equal(spool_next(f->s, &c, &m, buf, sizeof buf), 1);
    assert_int_equal(m.seq, fresh);
    assert_string_equal(m.topic, "new");
    st = stats(f);
    assert_int_equal(st.dropped_age, 2);
    assert_int_equal(st.msgs, 1);
    assert_int_equal(st.acked_seq, old2);       /* so their segment can go */
    assert_true(st.oldest_age_ms >= 60 * 1000 && st.oldest_age_ms < 160 * 1000);
}

static void test_fsync_batch_timing(void **state)
{
    struct fx *f = *state;
    f->cfg.fsync = CFG_FSYNC_BATCH;             /* 200 ms */
    fx_open(f);
    assert_int_equal(spool_next_sync_ms(f->s, 1000), -1);
    append_i(f, 1);
    assert_int_equal(spool_flush(f->s, 10000), 0);   /* first: synced at once */
    assert_int_equal(spool_next_sync_ms(f->s, 10000), -1);
    append_i(f, 2);
    assert_int_equal(spool_flush(f->s, 10050), 0);   /* written, sync due at 10200 */
    assert_int_equal(spool_next_sync_ms(f->s, 10050), 150);
    assert_int_equal(spool_next_sync_ms(f->s, 10300), 0);
    assert_int_equal(spool_flush(f->s, 10200), 0);
    assert_int_equal(spool_next_sync_ms(f->s, 10200), -1);
    fx_reopen(f);
    assert_int_equal(stats(f).msgs, 2);
}

/* ---- write errors ----------------------------------------------------------- */

static off_t seg_file_size(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    off_t size = -1;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "spool-", 6) == 0) {
            struct stat st;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            assert_int_equal(stat(path, &st), 0);
            size = st.st_size;
        }
    }
    closedir(d);
    return size;
}

/* Each fsync policy keeps what it could not write and writes it later. */
static void efbig_with(struct fx *f, int fsync)
{
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    f->cfg.fsync = fsync;
    fx_open(f);
    for (unsigned i = 1; i <= 5; i++)
        append_i(f, i);
    assert_int_equal(spool_flush(f->s, 1000), 0);
    off_t good = seg_file_size(f->dir);
    assert_true(good > 0);
    for (unsigned i = 6; i <= 10; i++)
        append_i(f, i);

    /* A file size limit just past what is there: the write is cut short,
     * then refused with EFBIG (SIGXFSZ ignored). Nothing is asserted
     * while the limit holds: cmocka's output may go to a file. */
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)good + 40;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int r1 = spool_flush(f->s, 2000);
    int r2 = spool_flush(f->s, 2001);               /* still failing: retried */
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);

    assert_int_equal(r1, -EFBIG);
    assert_int_equal(r2, -EFBIG);
    assert_non_null(strstr(spool_last_error(f->s), "write"));
    assert_int_equal(seg_file_size(f->dir), good);  /* the partial record was cut */
    /* Readers still see everything, from memory. */
    for (unsigned i = 1; i <= 10; i++)
        expect_i(f, &c, i);
    assert_int_equal(spool_flush(f->s, 3000), 0);
    assert_string_equal(spool_last_error(f->s), "");
    fx_reopen(f);
    struct spool_cursor c2 = SPOOL_CURSOR_INIT;
    for (unsigned i = 1; i <= 10; i++)
        expect_i(f, &c2, i);
    expect_none(f, &c2);
    assert_int_equal(stats(f).dropped_corrupt, 0);
}

static void test_efbig_always(void **state)
{
    efbig_with(*state, CFG_FSYNC_ALWAYS);
}

static void test_efbig_never(void **state)
{
    efbig_with(*state, CFG_FSYNC_NEVER);
}

/* Memory is bounded while the disk refuses: appends fail with the error
 * once the cache is full of unwritten records, and nothing is lost. */
static void test_efbig_memory_bound(void **state)
{
    struct fx *f = *state;
    struct spool_tuning t = { .cache_max = 2000 };
    fx_open_tuned(f, &t);
    append_i(f, 1);
    assert_int_equal(spool_flush(f->s, 1000), 0);
    off_t good = seg_file_size(f->dir);

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)good;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int r = 0;
    unsigned accepted = 1;
    for (unsigned i = 2; i <= 200 && r == 0; i++) {
        char topic[32];
        uint8_t p[128];
        snprintf(topic, sizeof topic, "t/%u", i);
        size_t n = payload_of(i, p);
        r = spool_append(f->s, topic, p, n, (int)(i % 3), i % 2 == 0, wall_ms(), NULL);
        accepted += r == 0;
    }
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);

    assert_int_equal(r, -EFBIG);
    assert_true(accepted > 2 && accepted < 200);
    assert_int_equal(stats(f).dropped_full, 0);
    assert_int_equal(spool_flush(f->s, 2000), 0);
    fx_reopen(f);
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    for (unsigned i = 1; i <= accepted; i++)
        expect_i(f, &c, i);
    expect_none(f, &c);
}

/* Root ignores file modes; drop the capabilities that let it. */
static int drop_dac_override(void)
{
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0)
        return -1;
    for (int i = 0; i < 2; i++)
        d[i].effective &= ~(1u << CAP_DAC_OVERRIDE | 1u << CAP_DAC_READ_SEARCH | 1u << CAP_FOWNER);
    return (int)syscall(SYS_capset, &h, d);
}

/* In a child (the capabilities go with it): the new segment cannot be
 * created in a read-only directory; once writable again it is. Exit codes
 * name the step that failed. */
static int readonly_child(struct fx *f)
{
    char err[256];
    struct spool *s;
    if (geteuid() == 0 && drop_dac_override() < 0)
        return 10;
    if (spool_open(&f->cfg, &s, err, sizeof err) != 0)
        return 11;
    if (chmod(f->dir, 0500) < 0)
        return 12;
    /* Eight fill the old segment and start a new one, which needs a file. */
    for (unsigned i = 0; i < 8; i++)
        if (spool_append(s, "ro/t", "0123456789012345678901234567890123456789", 40, 1, false,
                         wall_ms(), NULL) != 0)
            return 13;
    int r = spool_flush(s, 1000);
    if (r != -EACCES)
        return 14;
    if (chmod(f->dir, 0700) < 0)
        return 15;
    if (spool_flush(s, 1001) != 0)
        return 16;
    spool_close(s);
    return 0;
}

static void test_readonly_directory(void **state)
{
    struct fx *f = *state;
    f->cfg.segment_size = 512;
    fx_open(f);
    for (unsigned i = 1; i <= 3; i++)
        append_i(f, i);
    assert_int_equal(spool_flush(f->s, 1000), 0);
    spool_close(f->s);
    f->s = NULL;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(readonly_child(f));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    fx_open(f);
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    for (unsigned i = 1; i <= 3; i++)
        expect_i(f, &c, i);
    uint8_t buf[256];
    struct spool_msg m;
    for (unsigned i = 0; i < 8; i++) {
        assert_int_equal(spool_next(f->s, &c, &m, buf, sizeof buf), 1);
        assert_string_equal(m.topic, "ro/t");
    }
    expect_none(f, &c);
    assert_true(count_segments(f->dir) > 1);
}

int main(void)
{
    /* The spool logs what the tests provoke; SPOOL_TEST_LOG=1 shows it. */
    if (getenv("SPOOL_TEST_LOG"))
        log_set_level(LOG_LEVEL_DEBUG);
    else
        log_set_output_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_small_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order_acks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segments_rotate_and_go, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_index_and_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_oldest_inflight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_oldest_small_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_after_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsync_batch_timing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_efbig_always, setup, teardown),
        cmocka_unit_test_setup_teardown(test_efbig_never, setup, teardown),
        cmocka_unit_test_setup_teardown(test_efbig_memory_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_directory, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
