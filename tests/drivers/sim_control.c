/* Starting a device simulator, talking to its control channel and stopping
 * it, for the driver tests (see sim_control.h). One socket carries the
 * child's stdin and stdout, so a dead child gives EOF/EPIPE, never SIGPIPE. */
#include "tests/drivers/sim_control.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SIM_READY_MS 10000
#define SIM_CMD_MS 5000
#define SIM_EXIT_MS 5000
#define SIM_DIR_PREFIX "mqgate-sim."

struct sim {
    pid_t pid;
    int fd;        /* our end of the child's stdin and stdout */
    bool broken;   /* a reply went missing: the channel is out of step */
    bool reaped;
    int status;    /* once reaped: as sim_wait returns it */
    char link[PATH_MAX];
    char ready[PATH_MAX + 32];
    char buf[16384]; /* received bytes that are not a whole line yet */
    size_t len;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(int64_t deadline)
{
    int64_t left = deadline - now_ms();
    return left < 0 ? 0 : (int)left;
}

/* One line (without its newline) into line, waiting until deadline.
 * 0, or -1 with errno ETIMEDOUT, EPIPE (the child closed its stdout) or
 * EMSGSIZE (a line longer than our buffer). */
static int read_line(struct sim *s, char *line, size_t n, int64_t deadline)
{
    for (;;) {
        char *nl = memchr(s->buf, '\n', s->len);
        if (nl != NULL) {
            size_t k = (size_t)(nl - s->buf);
            snprintf(line, n, "%.*s", (int)k, s->buf);
            s->len -= k + 1;
            memmove(s->buf, nl + 1, s->len);
            return 0;
        }
        if (s->len == sizeof s->buf) {
            errno = EMSGSIZE;
            return -1;
        }
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        int rc = poll(&p, 1, remaining_ms(deadline));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (rc < 0)
            return -1;
        ssize_t r = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            errno = r == 0 ? EPIPE : errno;
            return -1;
        }
        s->len += (size_t)r;
    }
}

static int send_all(struct sim *s, const char *b, size_t n, int64_t deadline)
{
    while (n > 0) {
        struct pollfd p = {.fd = s->fd, .events = POLLOUT};
        int rc = poll(&p, 1, remaining_ms(deadline));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0) {
            errno = rc == 0 ? ETIMEDOUT : errno;
            return -1;
        }
        ssize_t w = send(s->fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (w < 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static void note_link(struct sim *s, const char *const *args)
{
    for (size_t i = 0; args[i] != NULL; i++) {
        if (strcmp(args[i], "--link") == 0 && args[i + 1] != NULL)
            snprintf(s->link, sizeof s->link, "%s", args[i + 1]);
        else if (strncmp(args[i], "--link=", 7) == 0)
            snprintf(s->link, sizeof s->link, "%s", args[i] + 7);
    }
}

/* In the child: only async-signal-safe calls between fork and exec. */
static void child_exec(int fd, pid_t parent, const char *path, char *const *argv)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    if (dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
        _exit(127);
    execv(path, argv);
    static const char msg[] = "sim_start: exec failed\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    _exit(127);
}

static int spawn(struct sim *s, const char *path, const char *const *args)
{
    size_t argc = 0;
    while (args[argc] != NULL)
        argc++;
    char **argv = calloc(argc + 2, sizeof *argv);
    int sv[2];
    if (argv == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        fprintf(stderr, "sim_start: %s\n", strerror(errno));
        free(argv);
        return -1;
    }
    argv[0] = (char *)path;
    for (size_t i = 0; i < argc; i++)
        argv[i + 1] = (char *)args[i];
    pid_t parent = getpid();
    s->pid = fork();
    if (s->pid == 0)
        child_exec(sv[1], parent, path, argv);
    int err = errno;
    free(argv);
    close(sv[1]);
    s->fd = sv[0];
    if (s->pid < 0) {
        fprintf(stderr, "sim_start: fork: %s\n", strerror(err));
        return -1;
    }
    return 0;
}

struct sim *sim_start(const char *prog, const char *const *args)
{
    const char *dir = getenv("MQGATE_SIM_DIR");
    char path[PATH_MAX];
    if (dir == NULL || *dir == '\0') {
        fprintf(stderr, "sim_start: MQGATE_SIM_DIR is not set (the build's tests/sim)\n");
        return NULL;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, prog) >= sizeof path) {
        fprintf(stderr, "sim_start: path too long\n");
        return NULL;
    }
    struct sim *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->fd = -1;
    s->pid = -1;
    note_link(s, args);
    if (spawn(s, path, args) != 0) {
        sim_stop(s);
        return NULL;
    }
    char line[sizeof s->ready];
    if (read_line(s, line, sizeof line, now_ms() + SIM_READY_MS) != 0 ||
        strncmp(line, "ready", 5) != 0) {
        bool late = errno == ETIMEDOUT;
        fprintf(stderr, "sim_start: %s gave no \"ready\" line (%s)\n", path,
                late ? "timed out" : "it exited or said something else");
        if (late)
            kill(s->pid, SIGKILL);
        s->broken = true;
        sim_stop(s);
        return NULL;
    }
    snprintf(s->ready, sizeof s->ready, "%s", line[5] == ' ' ? line + 6 : "");
    return s;
}

int sim_cmd(struct sim *s, char *reply, size_t n, const char *fmt, ...)
{
    char *cmd = NULL;
    char line[sizeof s->buf];
    va_list ap;
    if (n > 0)
        reply[0] = '\0';
    if (s->broken) {
        fprintf(stderr, "sim_cmd: the control channel is out of step\n");
        return -1;
    }
    va_start(ap, fmt);
    int len = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0)
        return -1;
    int64_t deadline = now_ms() + SIM_CMD_MS;
    int rc = send_all(s, cmd, (size_t)len, deadline);
    if (rc == 0 && (len == 0 || cmd[len - 1] != '\n'))
        rc = send_all(s, "\n", 1, deadline);
    if (rc == 0)
        rc = read_line(s, line, sizeof line, deadline);
    if (rc != 0) {
        fprintf(stderr, "sim_cmd: '%s': %s\n", cmd, strerror(errno));
        s->broken = true;
        free(cmd);
        return -1;
    }
    free(cmd);
    bool ok = strcmp(line, "ok") == 0 || strncmp(line, "ok ", 3) == 0;
    if (n > 0)
        snprintf(reply, n, "%s", ok ? line + (line[2] ? 3 : 2) : line);
    return ok ? 0 : -1;
}

int sim_wait(struct sim *s, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (!s->reaped) {
        int st;
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid || (r < 0 && errno != EINTR)) {
            s->reaped = true;
            s->status = r == s->pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            break;
        }
        if (now_ms() >= deadline)
            return -2;
        /* No pidfd on every kernel we run on: a short sleep bounds the reap. */
        nanosleep(&(struct timespec){.tv_nsec = 5 * 1000000}, NULL);
    }
    return s->status;
}

int sim_close_input(struct sim *s)
{
    return shutdown(s->fd, SHUT_WR);
}

int sim_stop(struct sim *s)
{
    if (s == NULL)
        return 0;
    if (s->pid > 0 && !s->reaped) {
        if (!s->broken)
            sim_cmd(s, NULL, 0, "quit");
        if (sim_wait(s, SIM_EXIT_MS) == -2) {
            fprintf(stderr, "sim_stop: pid %d did not exit: killing it\n", (int)s->pid);
            kill(s->pid, SIGKILL);
            sim_wait(s, SIM_EXIT_MS);
            s->status = -1;
        }
    }
    int status = s->pid > 0 ? s->status : -1;
    if (s->fd >= 0)
        close(s->fd);
    if (s->link[0] != '\0')
        sim_link_remove(s->link);
    free(s);
    return status;
}

pid_t sim_pid(const struct sim *s)
{
    return s->pid;
}

const char *sim_ready_text(const struct sim *s)
{
    return s->ready;
}

int sim_link_path(char *buf, size_t n, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX];
    if (tmp == NULL || *tmp == '\0')
        tmp = "/tmp";
    snprintf(dir, sizeof dir, "%s/" SIM_DIR_PREFIX "XXXXXX", tmp);
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "sim_link_path: mkdtemp %s: %s\n", dir, strerror(errno));
        return -1;
    }
    if ((size_t)snprintf(buf, n, "%s/%s", dir, name) >= n) {
        fprintf(stderr, "sim_link_path: path too long\n");
        rmdir(dir);
        return -1;
    }
    return 0;
}

void sim_link_remove(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    unlink(path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    const char *base = strrchr(dir, '/');
    base = base ? base + 1 : dir;
    if (strncmp(base, SIM_DIR_PREFIX, strlen(SIM_DIR_PREFIX)) == 0)
        rmdir(dir); /* only when empty: a test's other files stay */
}
