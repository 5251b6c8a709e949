/* spool_bench: the spool benchmark of make bench (tests/bench/bridge_spool_bench.sh
 * runs it and prints the table). Drives the real spool API in a directory the
 * caller gives: appends 64-byte messages in turns as the event loop does (a
 * batch of spool_append, then one spool_flush) under each fsync policy, then
 * drains a spool reopened from its files (spool_next + spool_ack per message,
 * one spool_flush per batch). Prints `result key=value ...` lines. Figures
 * only: exits non-zero only when a spool call fails or hands back the wrong
 * message, never on timing.
 *   spool_bench DIR SECONDS MAX_MSGS */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bridge/spool.h"
#include "config/config.h"
#include "gateway/log.h"

#define TOPIC "plants/site7/meter/voltage"
#define PAYLOAD_LEN 64u
#define FILL_BATCH 100u
#define DRAIN_BATCH 64u     /* bridge.spool.max_inflight's default */

/* What every run shares, from the command line. */
struct bench {
    const char *base;
    int64_t run_ns;         /* each measurement stops after this long ... */
    uint64_t max_msgs;      /* ... or this many messages */
};

static const char *const fsync_names[] = { "always", "batch", "never" };

/* A reading as JSON, PAYLOAD_LEN bytes. */
static const char payload[] =
    "{\"v\":231.475,\"unit\":\"V\",\"ts\":1700000000123,\"q\":\"good\",\"id\":\"m7\"}";
_Static_assert(sizeof payload == PAYLOAD_LEN + 1, "the payload is PAYLOAD_LEN bytes");

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "spool_bench: %s: %s\n", what, detail);
    exit(1);
}

/* r is 0 or -errno from a spool call. */
static void check(const char *what, int r)
{
    if (r < 0)
        fail(what, strerror(-r));
}

static struct spool *bench_open(char *dir, int fsync)
{
    struct cfg_spool cfg = {
        .dir = dir, .max_size = 1ull << 30, .full_policy = CFG_FULL_DROP_NEWEST,
        .fsync = fsync, .fsync_interval = 200000, .segment_size = 4u << 20,
        .max_inflight = DRAIN_BATCH,
    };
    char err[256];
    struct spool *s;
    if (spool_open(&cfg, &s, err, sizeof err) != 0)
        fail("spool_open", err);
    return s;
}

/* Bytes of the files in dir (what the filesystem holds, to compare with
 * disk_bytes); with remove set, the files and dir are removed too. */
static uint64_t dir_bytes(const char *dir, int remove)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct stat st;
    uint64_t sum = 0;
    if (!d)
        fail(dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, 0) < 0)
            fail(de->d_name, strerror(errno));
        sum += (uint64_t)st.st_size;
        if (remove && unlinkat(dirfd(d), de->d_name, 0) < 0)
            fail(de->d_name, strerror(errno));
    }
    closedir(d);
    if (remove && rmdir(dir) < 0)
        fail(dir, strerror(errno));
    return sum;
}

/* Append in turns of `batch` until the time or message bound; returns the
 * messages appended and the time taken (the last turn's flush included). */
static uint64_t append_turns(struct spool *s, unsigned batch, int64_t run_ns, uint64_t max,
                             int64_t *took_ns)
{
    int64_t t0 = mono_ns(), t = t0;
    uint64_t n = 0;
    while (n < max && t - t0 < run_ns) {
        int64_t wall = real_ms();
        for (unsigned i = 0; i < batch && n < max; i++, n++)
            check("spool_append", spool_append(s, TOPIC, payload, PAYLOAD_LEN, 1, false, wall, NULL));
        check("spool_flush", spool_flush(s, mono_ns() / 1000000));
        t = mono_ns();
    }
    *took_ns = t - t0;
    return n;
}

static void bench_append(const struct bench *b, int fsync, unsigned batch)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/append-%s-%u", b->base, fsync_names[fsync], batch);
    struct spool *s = bench_open(dir, fsync);
    int64_t ns;
    uint64_t n = append_turns(s, batch, b->run_ns, b->max_msgs, &ns);
    struct spool_stats st;
    spool_stats(s, &st);
    if (st.msgs != n || st.dropped_full != 0)
        fail("spool_stats", "messages missing after appending");
    spool_close(s);
    uint64_t files = dir_bytes(dir, 1);
    double secs = (double)ns / 1e9;
    double per_msg = (double)st.disk_bytes / (double)n;
    printf("result op=append fsync=%s batch=%u msgs=%" PRIu64 " secs=%.3f msgs_per_s=%.0f "
           "payload_mb_per_s=%.2f disk_mb_per_s=%.2f disk_bytes=%" PRIu64 " file_bytes=%" PRIu64
           " segments=%" PRIu64 " bytes_per_msg=%.2f overhead=%.2f\n",
           fsync_names[fsync], batch, n, secs, (double)n / secs,
           (double)n * PAYLOAD_LEN / secs / 1e6, (double)st.disk_bytes / secs / 1e6,
           st.disk_bytes, files, st.segments, per_msg,
           per_msg - (double)(sizeof TOPIC - 1) - PAYLOAD_LEN);
    fflush(stdout);
}

/* One message from spool_next must be the seq expected, intact. */
static void check_msg(const struct spool_msg *m, uint64_t seq)
{
    if (m->seq != seq || m->topic_len != sizeof TOPIC - 1 || strcmp(m->topic, TOPIC) != 0 ||
        m->payload_len != PAYLOAD_LEN || memcmp(m->payload, payload, PAYLOAD_LEN) != 0)
        fail("spool_next", "handed back the wrong message");
}

/* Drain up to `want` messages, `batch` per turn; returns how many. */
static uint64_t drain_turns(struct spool *s, uint64_t want, int64_t run_ns, int64_t *took_ns)
{
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    struct spool_msg m;
    uint8_t buf[256];
    uint64_t got = 0;
    int64_t t0 = mono_ns(), t = t0;
    while (got < want && t - t0 < run_ns) {
        uint64_t before = got;
        for (unsigned i = 0; i < DRAIN_BATCH && got < want; i++) {
            int r = spool_next(s, &c, &m, buf, sizeof buf);
            check("spool_next", r);
            if (r == 0)
                break;
            check_msg(&m, got + 1);
            check("spool_ack", spool_ack(s, m.seq));
            got++;
        }
        check("spool_flush", spool_flush(s, mono_ns() / 1000000));
        if (got == before)
            fail("spool_next", "nothing more while messages remain");
        t = mono_ns();
    }
    *took_ns = t - t0;
    return got;
}

/* Fill a spool (fsync never, not measured), close it, time spool_open's
 * scan of it, then drain it under `fsync`. */
static void bench_drain(const struct bench *b, int fsync)
{
    char dir[512];
    int64_t ns;
    snprintf(dir, sizeof dir, "%s/drain-%s", b->base, fsync_names[fsync]);
    struct spool *s = bench_open(dir, CFG_FSYNC_NEVER);
    uint64_t filled = append_turns(s, FILL_BATCH, 2 * b->run_ns, b->max_msgs, &ns);
    spool_close(s);

    int64_t t0 = mono_ns();
    s = bench_open(dir, fsync);
    int64_t open_ns = mono_ns() - t0;
    struct spool_stats st;
    spool_stats(s, &st);
    if (st.recovered != filled)
        fail("spool_open", "did not find every message written");
    uint64_t got = drain_turns(s, filled, b->run_ns, &ns);
    spool_close(s);
    dir_bytes(dir, 1);
    double secs = (double)ns / 1e9;
    printf("result op=drain fsync=%s batch=%u filled=%" PRIu64 " disk_bytes=%" PRIu64
           " open_ms=%.1f open_mb_per_s=%.1f msgs=%" PRIu64 " secs=%.3f msgs_per_s=%.0f "
           "payload_mb_per_s=%.2f\n",
           fsync_names[fsync], DRAIN_BATCH, filled, st.disk_bytes, (double)open_ns / 1e6,
           (double)st.disk_bytes / ((double)open_ns / 1e9) / 1e6, got, secs, (double)got / secs,
           (double)got * PAYLOAD_LEN / secs / 1e6);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: spool_bench DIR SECONDS MAX_MSGS\n");
        return 2;
    }
    struct bench b = {
        .base = argv[1],
        .run_ns = (int64_t)(strtod(argv[2], NULL) * 1e9),
        .max_msgs = strtoull(argv[3], NULL, 10),
    };
    if (b.run_ns <= 0 || b.max_msgs == 0) {
        fprintf(stderr, "spool_bench: SECONDS and MAX_MSGS must be positive\n");
        return 2;
    }
    log_init(LOG_LEVEL_WARN);       /* "created", "recovered": noise here */
    static const unsigned batches[] = { 1, 10, 100 };
    for (int f = CFG_FSYNC_ALWAYS; f <= CFG_FSYNC_NEVER; f++)
        for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++)
            bench_append(&b, f, batches[i]);
    for (int f = CFG_FSYNC_ALWAYS; f <= CFG_FSYNC_NEVER; f++)
        bench_drain(&b, f);
    return 0;
}
