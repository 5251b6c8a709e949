/* A real Mosquitto of a test's own: a private temp dir, free 127.0.0.1
 * ports, a generated config, /usr/sbin/mosquitto started and waited for
 * (bounded) and stopped by PID; plus the small process and file helpers such
 * tests need (run a client tool with a bound, read or search a file, run our
 * loop until the client under test did something). Every
 * .c in tests/unit/ not named test_* is linked into every unit test, hence
 * the mosq_fixture_ prefix on every name. */
#ifndef MQGATE_TESTS_UNIT_MOSQUITTO_FIXTURE_H
#define MQGATE_TESTS_UNIT_MOSQUITTO_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;

/* Nothing here calls cmocka: functions return 0 or a negative errno and the
 * test asserts. Call them from the test's own thread; they block for at
 * most the bound each one states. Children are started with fork+exec, so
 * they are safe to call while other threads (Paho's) run. */

#define MOSQ_FIXTURE_BIN "/usr/sbin/mosquitto"
#define MOSQ_FIXTURE_MAX_PORTS 4
#define MOSQ_FIXTURE_PATH_MAX 256
#define MOSQ_FIXTURE_READY_MS 10000   /* start: "running" in its log, or fail */
#define MOSQ_FIXTURE_STOP_MS 5000     /* stop: SIGTERM, then SIGKILL */

/* One broker. Zero it (or let mosq_fixture_cleanup do so) before
 * mosq_fixture_init; every field is the caller's to read. */
struct mosq_fixture {
    char dir[64];                       /* private temp dir, "" before init */
    char conf[MOSQ_FIXTURE_PATH_MAX];   /* <dir>/mosquitto.conf */
    char log[MOSQ_FIXTURE_PATH_MAX];    /* <dir>/mosquitto.log: its stderr */
    int port[MOSQ_FIXTURE_MAX_PORTS];   /* free ports, chosen by init */
    int n_ports;
    pid_t pid;                          /* the running broker, 0 if none */
};

/* Makes /tmp/<prefix>-XXXXXX (mode 0700) and picks n_ports (1 ..
 * MOSQ_FIXTURE_MAX_PORTS) distinct free 127.0.0.1 ports, held open together
 * while chosen. Starts nothing. 0, -EINVAL for a bad n_ports or a prefix too
 * long, or the errno of mkdtemp/socket/bind (then nothing is left behind). */
int mosq_fixture_init(struct mosq_fixture *m, const char *prefix, int n_ports);

/* <dir>/<name> into out; 0, or -ENAMETOOLONG when it does not fit. */
int mosq_fixture_path(const struct mosq_fixture *m, const char *name, char *out, size_t size);

/* Writes m->conf and starts Mosquitto on it, its stderr to m->log. The
 * config is
 *     listener <port[0]> 127.0.0.1
 *     persistence false
 *     log_dest stderr
 *     user <the effective user>     (as root: stay root, to read the 0700 dir)
 * followed by `extra` (may be NULL): allow_anonymous, password/acl files,
 * more listeners on port[1..] with their options. Waits until its log says
 * "running" (every listener is open), at most MOSQ_FIXTURE_READY_MS.
 * Returns 0 with m->pid set; -EALREADY if one runs; -ECHILD if it exited
 * first (it refused the config; m->pid is 0); -ETIMEDOUT if it did neither
 * (it is killed); or the errno of writing the config or of fork. On any
 * failure it prints the error and the broker's log to stderr. Can be called
 * again after mosq_fixture_stop (same ports, so clients can reconnect). */
int mosq_fixture_start(struct mosq_fixture *m, const char *extra);

/* mosq_fixture_start without printing anything: for a test that expects
 * some configs to be refused (-ECHILD). */
int mosq_fixture_start_quiet(struct mosq_fixture *m, const char *extra);

/* SIGTERM, then waits at most MOSQ_FIXTURE_STOP_MS; after that SIGKILL.
 * 0 (also when none runs), or -ETIMEDOUT if it had to be killed. Sets
 * m->pid to 0 either way. */
int mosq_fixture_stop(struct mosq_fixture *m);

/* Stops the broker, removes every file in m->dir and the dir, and zeroes
 * *m. Idempotent (a zeroed fixture is left alone), so a teardown may call
 * it after a failed init or twice. */
void mosq_fixture_cleanup(struct mosq_fixture *m);

/* Prints m->log to stderr, each line indented, with `why` first. */
void mosq_fixture_print_log(const struct mosq_fixture *m, const char *why);

/* n distinct free 127.0.0.1 TCP ports (held open together so the kernel
 * cannot hand out one twice). 0, or the errno of socket/bind/getsockname. */
int mosq_fixture_free_ports(int *ports, int n);

/* Runs argv (argv[0] looked up in PATH) and waits for it, killing it after
 * timeout_ms. Its stdout goes to `out` when out is not NULL (NUL-terminated,
 * cut at size - 1 bytes; the rest is read and dropped), else to `log`. Its
 * stderr goes to `log`. `log` is a file appended to ("/dev/null" to
 * silence it), or NULL to share the test's own stdout/stderr. Returns its
 * exit status (0..255; 127 if it could not be executed), -EINTR if a
 * signal ended it, -ETIMEDOUT if it was killed at the bound, or the errno of
 * pipe/fork. */
int mosq_fixture_run(const char *const argv[], const char *log, char *out, size_t size,
                     int timeout_ms);

/* Writes `text` to path (created 0666 & ~umask, or truncated). 0 or -errno. */
int mosq_fixture_write_file(const char *path, const char *text);

/* Reads at most size - 1 bytes of path into buf, NUL-terminated (size >= 1).
 * The bytes read, or -errno (buf is then ""). */
ssize_t mosq_fixture_read_file(const char *path, char *buf, size_t size);

/* Whether a line of the file at path contains needle, compared as is or,
 * with fold_case, ignoring ASCII case. false when it cannot be read. */
bool mosq_fixture_file_has(const char *path, const char *needle, bool fold_case);

/* Runs `loop` (gateway/loop.h; not running) until pred(ctx, arg) holds,
 * asked at once and then every 5 ms, or until timeout_ms pass. 1 if it
 * held, 0 if the time ran out, or the error of loop_timer_add or loop_run. */
int mosq_fixture_loop_until(struct loop *loop, bool (*pred)(const void *ctx, int arg),
                            const void *ctx, int arg, int64_t timeout_ms);

#endif
