/* `mqgate passwd`: add, change or delete a user in the broker's password
 * file, like mosquitto_passwd; the password is typed twice on the terminal
 * without echo, or given with -b. The file work is gateway/broker/passwd.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "gateway/broker/passwd.h"
#include "gateway/commands.h"

struct passwd_args {
    bool create, batch, delete;
    unsigned iterations;
    const char *file, *user;
    char *password;   /* heap; -b: the command line's, moved there */
    size_t password_len;
};

static void print_problem(void *ctx, enum passwd_severity severity, const char *msg)
{
    (void)ctx;
    (void)severity;
    fprintf(stderr, "%s\n", msg);
}

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mqgate passwd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nSee 'mqgate passwd --help'.\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

static bool parse_iterations(const char *text, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || v < 1 || v > PASSWD_MAX_ITERATIONS)
        return false;
    *out = (unsigned)v;
    return true;
}

/* The operands: FILE USER, and PASSWORD with -b. */
static int parse_operands(int argc, char **argv, struct passwd_args *a)
{
    int want = a->batch ? 3 : 2;
    if (argc - optind != want)
        return usage_error("expected %s", a->batch ? "FILE USER PASSWORD" : "FILE USER");
    a->file = argv[optind];
    a->user = argv[optind + 1];
    const char *why = "";
    if (!passwd_user_valid(a->user, &why))
        return usage_error("%s", why);
    if (!a->batch)
        return -1;
    char *pw = argv[optind + 2];
    size_t len = strlen(pw);
    if (len == 0 || len > PASSWD_FIELD_MAX)
        return usage_error("a password has 1 to %u bytes", PASSWD_FIELD_MAX);
    a->password = strdup(pw);
    a->password_len = len;
    if (!a->password) {
        fprintf(stderr, "mqgate passwd: out of memory\n");
        return EXIT_RUNTIME;
    }
    /* Shorten the time it shows in /proc/PID/cmdline (ps); it was visible
     * before we started, so this narrows the exposure, no more. */
    memset(pw, '*', len);
    return -1;
}

/* Returns -1 to go on, or the exit code. */
static int parse_options(int argc, char **argv, struct passwd_args *a)
{
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    optind = 1;
    /* '+': stop at FILE, so a PASSWORD starting with '-' stays an operand. */
    while ((opt = getopt_long(argc, argv, "+cbDI:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': a->create = true; break;
        case 'b': a->batch = true; break;
        case 'D': a->delete = true; break;
        case 'I':
            if (!parse_iterations(optarg, &a->iterations))
                return usage_error("-I takes a number of iterations from 1 to %u, not "
                                   "'%s'", PASSWD_MAX_ITERATIONS, optarg);
            break;
        case 'h': command_print_usage(command_find("passwd"), stdout); return EXIT_OK;
        default: command_print_usage(command_find("passwd"), stderr); return EXIT_USAGE;
        }
    }
    if (a->delete && (a->create || a->batch))
        return usage_error("-D cannot go with %s", a->create ? "-c" : "-b");
    return parse_operands(argc, argv, a);
}

/* ---- typing the password ------------------------------------------------- */

/* The terminal's settings while echo is off, restored by a fatal signal so
 * that Ctrl-C at the prompt does not leave the shell without echo. */
static int tty_fd = -1;
static struct termios tty_saved;
static volatile sig_atomic_t tty_echo_off;

static void on_fatal_signal(int signo)
{
    if (tty_echo_off)
        tcsetattr(tty_fd, TCSANOW, &tty_saved);   /* async-signal-safe */
    signal(signo, SIG_DFL);
    raise(signo);
}

static const int fatal_signals[] = { SIGINT, SIGTERM, SIGQUIT, SIGHUP };

static void catch_fatal_signals(struct sigaction *saved)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
        sigaction(fatal_signals[i], &sa, &saved[i]);
}

static void restore_signals(const struct sigaction *saved)
{
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
        sigaction(fatal_signals[i], &saved[i], NULL);
}

/* One line from `fd`, without its newline. Returns its length, -1 on end
 * of input or a read error, -2 when longer than `cap`. */
static long read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        if (c == '\n')
            return n > cap ? -2 : (long)n;
        if (n < cap)
            buf[n] = c;
        n++;
    }
}

/* Prompt on the terminal and read one line without echo; as read_line. */
static long read_line_noecho(int fd, const char *prompt, char *buf, size_t cap)
{
    struct termios quiet = tty_saved;
    /* Echo off, but the newline still echoed (ECHONL) so the next prompt
     * starts on its own line. TCSANOW, not TCSAFLUSH: keep typed-ahead input.
     * Before the prompt: whatever answers it must not be echoed. */
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    tty_echo_off = 1;
    long rc = -1;
    if (tcsetattr(fd, TCSANOW, &quiet) == 0 && write(fd, prompt, strlen(prompt)) >= 0)
        rc = read_line(fd, buf, cap);
    tcsetattr(fd, TCSANOW, &tty_saved);
    tty_echo_off = 0;
    return rc;
}

/* Ask twice on the terminal (/dev/tty, so it works with stdin redirected).
 * Returns -1 with the password in *out, *out_len bytes (heap, caller cleanses
 * and frees), or the exit code. */
static int prompt_password(char **out, size_t *out_len)
{
    tty_fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (tty_fd < 0 || tcgetattr(tty_fd, &tty_saved) < 0) {
        fprintf(stderr, "mqgate passwd: no terminal to ask for the password (%s); use -b\n",
                strerror(errno));
        if (tty_fd >= 0)
            close(tty_fd);
        return EXIT_RUNTIME;
    }
    char *first = malloc(PASSWD_FIELD_MAX), *second = malloc(PASSWD_FIELD_MAX);
    struct sigaction saved[sizeof fatal_signals / sizeof fatal_signals[0]];
    catch_fatal_signals(saved);
    long n1 = first ? read_line_noecho(tty_fd, "Password: ", first, PASSWD_FIELD_MAX) : -1;
    long n2 = n1 > 0 && second
        ? read_line_noecho(tty_fd, "Reenter password: ", second, PASSWD_FIELD_MAX) : -1;
    restore_signals(saved);
    close(tty_fd);
    tty_fd = -1;
    int rc = EXIT_RUNTIME;
    if (n1 == 0)
        fprintf(stderr, "mqgate passwd: empty password\n");
    else if (n1 == -2 || n2 == -2)
        fprintf(stderr, "mqgate passwd: a password has at most %u bytes\n", PASSWD_FIELD_MAX);
    else if (n1 < 0 || n2 < 0)
        fprintf(stderr, "mqgate passwd: no password read\n");
    else if (n1 != n2 || memcmp(first, second, (size_t)n1) != 0)
        fprintf(stderr, "mqgate passwd: the passwords do not match\n");
    else if ((*out = malloc((size_t)n1)) == NULL)
        fprintf(stderr, "mqgate passwd: out of memory\n");
    else {
        memcpy(*out, first, (size_t)n1);
        *out_len = (size_t)n1;
        rc = -1;
    }
    if (first)
        OPENSSL_cleanse(first, PASSWD_FIELD_MAX);
    if (second)
        OPENSSL_cleanse(second, PASSWD_FIELD_MAX);
    free(first);
    free(second);
    return rc;
}

/* ---- the command ------------------------------------------------------------ */

static int exit_code(int rc)
{
    return rc == 0 ? EXIT_OK : EXIT_RUNTIME;
}

int cmd_passwd(int argc, char **argv)
{
    struct passwd_args a = { .iterations = PASSWD_DEFAULT_ITERATIONS };
    int rc = parse_options(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (a.delete)
        return exit_code(passwd_file_delete(a.file, a.user, print_problem, NULL));
    if (!a.batch && (rc = prompt_password(&a.password, &a.password_len)) >= 0)
        return rc;
    unsigned flags = a.create ? PASSWD_FILE_CREATE : 0;
    rc = passwd_file_set(a.file, a.user, a.password, a.password_len, a.iterations, flags,
                         print_problem, NULL);
    OPENSSL_cleanse(a.password, a.password_len);
    free(a.password);
    return exit_code(rc);
}
