/* A real Mosquitto for unit tests (see mosquitto_fixture.h): its temp dir,
 * ports and config, start with a bounded wait for readiness, stop by PID;
 * and the bounded child runs, file reads and loop waits the tests around it
 * share. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gateway/loop.h"
#include "tests/unit/mosquitto_fixture.h"

#define POLL_MS 10

/* ---- time and children -------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L }, NULL);
}

static int exit_code(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : -EINTR;
}

/* The child's exit code (or -EINTR), or -ETIMEDOUT after killing it at
 * `deadline`: a child never outlives the call. */
static int wait_until(pid_t pid, int64_t deadline)
{
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return exit_code(st);
        if (r < 0 && errno != EINTR)
            return -errno;
        if (now_ms() >= deadline)
            break;
        sleep_ms(POLL_MS);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -ETIMEDOUT;
}

/* ---- files -------------------------------------------------------------- */

int mosq_fixture_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    int rc = fputs(text, f) < 0 ? -EIO : 0;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

ssize_t mosq_fixture_read_file(const char *path, char *buf, size_t size)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    int rc = ferror(f) ? -EIO : 0;
    fclose(f);
    return rc ? rc : (ssize_t)n;
}

bool mosq_fixture_file_has(const char *path, const char *needle, bool fold_case)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (!found && getline(&line, &cap, f) >= 0)
        found = (fold_case ? strcasestr(line, needle) : strstr(line, needle)) != NULL;
    free(line);
    fclose(f);
    return found;
}

void mosq_fixture_print_log(const struct mosq_fixture *m, const char *why)
{
    fprintf(stderr, "mosquitto: %s; its log (%s):\n", why, m->log);
    FILE *f = fopen(m->log, "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f))
        fprintf(stderr, "  | %s", line);
    if (f)
        fclose(f);
}

/* ---- running a tool ----------------------------------------------------- */

/* In the child: stdout to the pipe (or the log), stderr to the log. Only
 * async-signal-safe calls before exec: the parent may have threads. */
static void child_exec(const char *const argv[], const char *log, int out_fd)
{
    if (log) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd < 0)
            _exit(126);
        dup2(fd, 2);
        if (out_fd < 0)
            dup2(fd, 1);
    }
    if (out_fd >= 0)
        dup2(out_fd, 1);
    execvp(argv[0], (char *const *)argv);
    _exit(127);
}

/* Reads fd to EOF or `deadline` into out (cut at size - 1, the rest
 * dropped so the child never blocks on a full pipe). */
static void read_until(int fd, char *out, size_t size, int64_t deadline)
{
    size_t n = 0;
    for (;;) {
        int64_t left = deadline - now_ms();
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (left <= 0 || poll(&p, 1, (int)left) == 0)
            break;
        char scratch[512];
        ssize_t r = n + 1 < size ? read(fd, out + n, size - 1 - n)
                                 : read(fd, scratch, sizeof scratch);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (n + 1 < size)
            n += (size_t)r;
    }
    out[n] = '\0';
}

int mosq_fixture_run(const char *const argv[], const char *log, char *out, size_t size,
                     int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int p[2] = { -1, -1 };
    if (out && pipe2(p, O_CLOEXEC) != 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        if (out) {
            close(p[0]);
            close(p[1]);
        }
        return -err;
    }
    if (pid == 0)
        child_exec(argv, log, p[1]);
    if (out) {
        close(p[1]);
        read_until(p[0], out, size, deadline);
        close(p[0]);
    }
    return wait_until(pid, deadline);
}

/* ---- the broker --------------------------------------------------------- */

int mosq_fixture_free_ports(int *ports, int n)
{
    int s[MOSQ_FIXTURE_MAX_PORTS], rc = 0, opened = 0;
    if (n < 1 || n > MOSQ_FIXTURE_MAX_PORTS)
        return -EINVAL;
    for (; opened < n && rc == 0; opened++) {
        struct sockaddr_in a = { .sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        s[opened] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s[opened] < 0) {
            rc = -errno;
            break;
        }
        if (bind(s[opened], (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(s[opened], (struct sockaddr *)&a, &len) != 0)
            rc = -errno;
        ports[opened] = ntohs(a.sin_port);
    }
    for (int i = 0; i < opened; i++)
        close(s[i]);
    return rc;
}

int mosq_fixture_path(const struct mosq_fixture *m, const char *name, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/%s", m->dir, name);
    return n >= 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

int mosq_fixture_init(struct mosq_fixture *m, const char *prefix, int n_ports)
{
    memset(m, 0, sizeof *m);
    if (n_ports < 1 || n_ports > MOSQ_FIXTURE_MAX_PORTS)
        return -EINVAL;
    int n = snprintf(m->dir, sizeof m->dir, "/tmp/%s-XXXXXX", prefix);
    if (n < 0 || (size_t)n >= sizeof m->dir) {
        m->dir[0] = '\0';
        return -EINVAL;
    }
    if (!mkdtemp(m->dir)) {
        int err = errno;
        m->dir[0] = '\0';
        return -err;
    }
    m->n_ports = n_ports;
    int rc = mosq_fixture_free_ports(m->port, n_ports);
    if (rc == 0)
        rc = mosq_fixture_path(m, "mosquitto.conf", m->conf, sizeof m->conf);
    if (rc == 0)
        rc = mosq_fixture_path(m, "mosquitto.log", m->log, sizeof m->log);
    if (rc != 0)
        mosq_fixture_cleanup(m);
    return rc;
}

/* `user`: as root, Mosquitto would switch to user "mosquitto", which cannot
 * read our 0700 dir; naming ourselves keeps it as it is (as anyone else the
 * line changes nothing). */
static int write_conf(const struct mosq_fixture *m, const char *extra)
{
    const struct passwd *me = getpwuid(geteuid());
    size_t size = 512 + (extra ? strlen(extra) : 0);
    char *text = malloc(size);
    if (!text)
        return -ENOMEM;
    snprintf(text, size,
             "listener %d 127.0.0.1\npersistence false\nlog_dest stderr\nuser %s\n%s",
             m->port[0], me ? me->pw_name : "root", extra ? extra : "");
    int rc = mosq_fixture_write_file(m->conf, text);
    free(text);
    return rc;
}

static int start(struct mosq_fixture *m, const char *extra)
{
    if (m->pid > 0)
        return -EALREADY;
    int rc = write_conf(m, extra);
    if (rc != 0)
        return rc;
    unlink(m->log);
    int64_t deadline = now_ms() + MOSQ_FIXTURE_READY_MS;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int fd = open(m->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            _exit(126);
        dup2(fd, 2);
        execl(MOSQ_FIXTURE_BIN, "mosquitto", "-c", m->conf, (char *)NULL);
        _exit(127);
    }
    m->pid = pid;
    /* Readiness from its log: "running" comes after every listener opened. */
    while (now_ms() < deadline) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            m->pid = 0;
            return -ECHILD;
        }
        if (mosq_fixture_file_has(m->log, " running", false))
            return 0;
        sleep_ms(POLL_MS);
    }
    mosq_fixture_stop(m);
    return -ETIMEDOUT;
}

int mosq_fixture_start_quiet(struct mosq_fixture *m, const char *extra)
{
    return start(m, extra);
}

int mosq_fixture_start(struct mosq_fixture *m, const char *extra)
{
    int rc = start(m, extra);
    if (rc != 0) {
        char why[128];
        snprintf(why, sizeof why, "did not start (%s)",
                 rc == -ECHILD ? "it exited" : strerror(-rc));
        mosq_fixture_print_log(m, why);
    }
    return rc;
}

int mosq_fixture_stop(struct mosq_fixture *m)
{
    if (m->pid <= 0)
        return 0;
    kill(m->pid, SIGTERM);
    int rc = wait_until(m->pid, now_ms() + MOSQ_FIXTURE_STOP_MS);
    m->pid = 0;
    return rc == -ETIMEDOUT ? rc : 0;
}

void mosq_fixture_cleanup(struct mosq_fixture *m)
{
    mosq_fixture_stop(m);
    if (m->dir[0]) {
        DIR *d = opendir(m->dir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            char path[MOSQ_FIXTURE_PATH_MAX];
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                mosq_fixture_path(m, e->d_name, path, sizeof path) == 0)
                unlink(path);
        }
        if (d)
            closedir(d);
        rmdir(m->dir);
    }
    memset(m, 0, sizeof *m);
}

/* ---- waiting on our loop ------------------------------------------------ */

struct until {
    bool (*pred)(const void *ctx, int arg);
    const void *ctx;
    int arg;
    int64_t deadline;
    bool held;
};

static int64_t until_tick(struct loop *loop, void *data)
{
    struct until *u = data;
    u->held = u->pred(u->ctx, u->arg);
    if (u->held || loop_clock_ms() >= u->deadline) {
        loop_stop(loop);
        return LOOP_TIMER_STOP;
    }
    return 5;
}

int mosq_fixture_loop_until(struct loop *loop, bool (*pred)(const void *ctx, int arg),
                            const void *ctx, int arg, int64_t timeout_ms)
{
    struct until u = { pred, ctx, arg, loop_clock_ms() + timeout_ms, false };
    if (loop_timer_add(loop, 0, until_tick, &u) == 0)
        return -errno;
    int rc = loop_run(loop);
    return rc < 0 ? rc : u.held;
}
