/* Fuzz target: the spool's recovery and record reader (bridge/spool*.c).
 * The input becomes segment files in a fresh directory (on tmpfs), which
 * spool_open scans and repairs; every message is then read with spool_next
 * and the spool closed. The same messages must come out when read twice,
 * in increasing seq order, none larger than the input.
 *
 * Input: byte 0 picks options (bits 0-1 index/cache sizes, bit 2 acknowledge
 * each message read, bit 3 append one more message afterwards, bit 4 a
 * max_age of one day, bit 5 drop_newest, bit 6 a small max_size); the rest
 * is cut at each "SEG|" into segment files. The first is
 * spool-0000000000000001.seg; each later one is named by the seq of its
 * first record (bytes 14..21, little-endian, as bridge/spool.h lays records
 * out) when that sorts after the previous name and is below 2^48 (names
 * near 2^64 are a separate finding, see tests/fuzz/regressions/), else the
 * previous name + 1. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/spool.h"
#include "config/config.h"
#include "tests/fuzz/fuzz.h"

#define MARK "SEG|"
#define MARK_LEN 4
#define SEQ_AT 14   /* a record's seq, in bridge/spool.h's layout */
#define NAME_MAX_SEQ (UINT64_C(1) << 48)

static char dir[128];

static void empty_dir(void);

static void remove_dir(void)
{
    empty_dir();
    rmdir(dir);
}

/* Directories of earlier runs that crashed (no atexit then): the name
 * carries the pid, and a pid that no longer runs has no use for its own. */
static void remove_stale_dirs(const char *base)
{
    DIR *d = opendir(base);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        long pid;
        if (sscanf(e->d_name, "mqgate-fuzz-spool-%ld-", &pid) != 1 || pid <= 0 ||
            kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        if (snprintf(dir, sizeof(dir), "%s/%s", base, e->d_name) < (int)sizeof(dir))
            remove_dir();
    }
    if (d)
        closedir(d);
}

static void make_dir(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    remove_stale_dirs(base);
    snprintf(dir, sizeof(dir), "%s/mqgate-fuzz-spool-%ld-XXXXXX", base, (long)getpid());
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    atexit(remove_dir);
}

/* Everything spool_open or the previous input left in the directory. */
static void empty_dir(void)
{
    DIR *d = opendir(dir);
    FUZZ_CHECK(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            FUZZ_CHECK(unlinkat(dirfd(d), e->d_name, 0) == 0);
    }
    closedir(d);
}

static void write_segment(uint64_t name, const uint8_t *p, size_t n)
{
    char path[sizeof(dir) + 32];
    snprintf(path, sizeof(path), "%s/spool-%016" PRIx64 ".seg", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(n == 0 || write(fd, p, n) == (ssize_t)n);
    close(fd);
}

static uint64_t first_seq(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    if (n < SEQ_AT + 8)
        return 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[SEQ_AT + i];
    return v;
}

static void write_segments(const uint8_t *p, size_t n)
{
    uint64_t name = 0;
    const uint8_t *end = p + n;
    for (;;) {
        const uint8_t *q = memmem(p, (size_t)(end - p), MARK, MARK_LEN);
        size_t len = q ? (size_t)(q - p) : (size_t)(end - p);
        uint64_t seq = first_seq(p, len);
        name = name == 0 ? 1 : seq > name && seq < NAME_MAX_SEQ ? seq : name + 1;
        write_segment(name, p, len);
        if (!q)
            return;
        p = q + MARK_LEN;
    }
}

/* What a read pass saw: count, and a hash of seqs, topics and payloads. */
struct pass {
    uint64_t n;
    uint64_t hash;
};

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Every message from a fresh cursor; acknowledged when `ack`. */
static struct pass read_all(struct spool *s, size_t input_len, bool ack)
{
    struct pass out = { 0, 0 };
    struct spool_cursor c = SPOOL_CURSOR_INIT;
    size_t cap = 4096;
    uint8_t *buf = malloc(cap);
    uint64_t last = 0;
    FUZZ_CHECK(buf != NULL);
    /* A message takes a record of at least 32 bytes in the input (plus
     * the one an append may add), and at most one -ENOBUFS. */
    for (size_t i = 0; i <= 2 * (input_len / 32 + 2); i++) {
        struct spool_msg m;
        int rc = spool_next(s, &c, &m, buf, cap);
        if (rc == -ENOBUFS) {
            size_t need = m.topic_len + 1 + m.payload_len;
            FUZZ_CHECK(need <= input_len + 4096);
            free(buf);
            cap = need;
            FUZZ_CHECK((buf = malloc(cap)) != NULL);
            continue;
        }
        if (rc <= 0)
            break;
        FUZZ_CHECK(m.seq > last && m.qos <= 2 && m.topic[m.topic_len] == '\0');
        FUZZ_CHECK(m.topic_len + 1 + m.payload_len <= cap);
        last = m.seq;
        out.n++;
        out.hash = hash_bytes(hash_bytes(hash_bytes(out.hash, &m.seq, sizeof(m.seq)), m.topic,
                                         m.topic_len), m.payload, m.payload_len);
        if (ack)
            FUZZ_CHECK(spool_ack(s, m.seq) == 0);
    }
    struct spool_msg m;
    FUZZ_CHECK(spool_next(s, &c, &m, buf, cap) <= 0); /* the bound above held */
    free(buf);
    return out;
}

static void run_spool(uint8_t opt, size_t input_len)
{
    static const struct spool_tuning tunings[4] = { { 0, 0 }, { 2, 0 }, { 4, 64 }, { 3, 200 } };
    struct cfg_spool cfg = {
        .dir = dir,
        .max_size = (opt & 0x40) ? 4096 : 64u << 20,
        .full_policy = (opt & 0x20) ? CFG_FULL_DROP_NEWEST : CFG_FULL_DROP_OLDEST,
        .max_age = (opt & 0x10) ? 86400LL * 1000000 : 0,
        .fsync = CFG_FSYNC_NEVER,
        .segment_size = 1u << 20,
    };
    struct spool *s = NULL;
    char err[256];
    if (spool_open_tuned(&cfg, &tunings[opt & 3], &s, err, sizeof(err)) != 0)
        return;
    struct pass first = read_all(s, input_len, (opt & 4) != 0);
    if (!(opt & 4) && !(opt & 0x10)) {
        struct pass again = read_all(s, input_len, false);
        FUZZ_CHECK(again.n == first.n && again.hash == first.hash);
    }
    if (opt & 8) {
        uint64_t seq = 0;
        if (spool_append(s, "fuzz/after", "x", 1, 1, false, 1700000000000LL, &seq) == 0)
            read_all(s, input_len + 64, true);
        spool_flush(s, 0);
    }
    struct spool_stats st;
    spool_stats(s, &st);
    FUZZ_CHECK(st.acked_seq < st.next_seq);
    spool_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        fuzz_quiet_log();
        make_dir();
    }
    if (size < 1)
        return 0;
    empty_dir();
    write_segments(data + 1, size - 1);
    run_spool(data[0], size - 1);
    empty_dir();
    return 0;
}
