/* Driver tests' launcher for the device simulators (tests/sim/NAME_sim): start
 * one as a child process, wait for its "ready" line, talk to its control
 * channel (one command line in, one "ok ..."/"err ..." line out), stop it.
 * Every wait is bounded. Not thread-safe: use each struct sim from one
 * thread (several may run at once). */
#ifndef MQGATE_TESTS_DRIVERS_SIM_CONTROL_H
#define MQGATE_TESTS_DRIVERS_SIM_CONTROL_H

#include <stddef.h>
#include <sys/types.h>

struct sim; /* a running simulator process */

/* Start getenv("MQGATE_SIM_DIR")/<prog> with args (NULL-terminated, argv[0]
 * excluded), its stdin and stdout on a socket of ours and its stderr ours,
 * and wait (bounded, 10 s) for its "ready ..." line. The child dies with the
 * calling thread (PR_SET_PDEATHSIG), so a crashed test leaves no simulator.
 * NULL on failure (message on stderr; the child, if any, is killed and
 * reaped). The caller owns the result and must pass it to sim_stop. */
struct sim *sim_start(const char *prog, const char *const *args);

/* Send one command line (printf format, no newline needed) and wait (5 s)
 * for its reply line. The reply, without "ok "/"ok" and the newline, goes to
 * reply (may be NULL when n is 0); an "err ..." line is stored whole.
 * 0 for ok, -1 for err, timeout or a dead simulator (message on stderr).
 * After a timeout the channel is out of step: every later call fails. */
int sim_cmd(struct sim *s, char *reply, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Send quit, wait (bounded, 5 s) for the exit, SIGKILL if needed, reap, and
 * remove the --link path given to sim_start if it is still there, with its
 * directory when sim_link_path made it. Frees s (NULL is a no-op).
 * Returns the exit status (0..255), or -1 when it died by a signal or had
 * to be killed: tests assert 0 to catch sanitizer reports at exit. */
int sim_stop(struct sim *s);

/* Wait (bounded) for the simulator to exit by itself and reap it. Returns
 * its exit status (0..255), -1 if a signal killed it, -2 if it is still
 * running after timeout_ms. sim_stop is still needed to free s (it then
 * returns the same status). */
int sim_wait(struct sim *s, int timeout_ms);

/* Close the simulator's stdin (our end's write side): it must stop as on
 * quit. 0, or -1 with errno. */
int sim_close_input(struct sim *s);

pid_t sim_pid(const struct sim *s);

/* The "ready" line's text after "ready " (the link path, for the pty sims). */
const char *sim_ready_text(const struct sim *s);

/* A unique temporary path for a link: "<dir>/<name>" in a fresh mkdtemp
 * directory ($TMPDIR or /tmp, "mqgate-sim.XXXXXX"). 0, or -1 (message on
 * stderr). The directory is removed by sim_stop of the simulator given this
 * path as --link, or by sim_link_remove. */
int sim_link_path(char *buf, size_t n, const char *name);

/* Remove the file at path (if any) and, if its directory was made by
 * sim_link_path and is empty, the directory. */
void sim_link_remove(const char *path);

#endif
