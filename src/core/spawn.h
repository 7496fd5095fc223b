/*
 * spawn.h - start child processes with posix_spawn, reap them through a
 * pidfd, and run a child to completion synchronously.
 *
 * Why posix_spawn: glibc implements it with clone(CLONE_VM|CLONE_VFORK), so
 * the parent's page tables are never copied and the cost of a spawn does not
 * grow with the parent's memory (fork() copies them: 80+ ms from a 4 GB
 * parent). glibc also reports an exec failure in the child (ENOENT, EACCES,
 * a failing chdir, ...) as posix_spawn's return value and reaps the failed
 * child itself, so an error never leaves a zombie behind.
 *
 * Descriptors. `fds[i]` names the parent descriptor that becomes descriptor
 * i in the child, for i in [0, nfds):
 *   fd >= 0               dup2'ed to i (its FD_CLOEXEC flag does not
 *                         matter: the duplicate in the child is inheritable;
 *                         any parent fd may go to any child number, even
 *                         when the numbers overlap: nw_spawn resolves the
 *                         permutation),
 *   NW_SPAWN_FD_CLOSE     i is closed in the child,
 *   NW_SPAWN_FD_DEVNULL   i is /dev/null opened read-write,
 *   NW_SPAWN_FD_INHERIT   i is left as the parent has it (only meaningful
 *                         without NW_SPAWN_CLOSEFROM or for i < nfds).
 * With NW_SPAWN_CLOSEFROM every descriptor >= nfds is closed in the child,
 * whatever its FD_CLOEXEC flag. Every descriptor this module creates (pipes,
 * socketpairs, pidfds, temporaries) is O_CLOEXEC in the parent.
 *
 * Descriptors 0, 1 and 2 of the child start in blocking mode, as libuv's
 * children do: nw_spawn clears O_NONBLOCK on the descriptors it places
 * there, and since that flag lives in the open file description, the
 * parent's copies (a stream it was polling, its own stdout for "inherit")
 * become blocking too, exactly as with libuv. Descriptors from 3 up keep
 * their flags.
 *
 * So a caller that wants a channel at a known number in the child (the fork
 * channel) passes nfds = 5 with fds = {in, out, err, chan_a, chan_b}, sets
 * NW_SPAWN_CLOSEFROM and tells the child "3" and "4" through its env.
 *
 * Scripts. A file the kernel refuses with ENOEXEC (no #! line) is run
 * with /bin/sh instead, argv {"/bin/sh", path, argv[1], ...}, as execvp and
 * libuv do.
 *
 * Signals. The child starts with an empty signal mask and every signal at
 * its default disposition (Node ignores SIGPIPE; the child must not inherit
 * that), as libuv's children do.
 *
 * uid/gid. posix_spawn cannot change credentials. When NW_SPAWN_SETUID or
 * NW_SPAWN_SETGID is set, nw_spawn starts `helper` (the small program built
 * from src/core/exec_helper.c) instead, which drops supplementary groups,
 * calls setgid/setuid and then execve's the real program. The helper reports
 * a failure of those calls or of execve through an O_CLOEXEC pipe before it
 * exits 127, and nw_spawn waits for that report (it ends at the helper's
 * exec, a few hundred microseconds), so the error still comes back as
 * nw_spawn's return value.
 *
 * Reaping. nw_spawn returns the pid and a pidfd (pidfd_open). Wait on the
 * pidfd (it polls readable once the child has exited) and reap with
 * nw_spawn_reap, which uses waitid(P_PIDFD): it never reaps a child that
 * this module did not start, so libuv's own children keep their statuses.
 * Signals go through pidfd_send_signal, which cannot hit a recycled pid.
 *
 * Threads. Every function may be called from any thread; none keeps global
 * state. The caller owns every descriptor it passes in and every one it
 * gets back.
 */
#ifndef NW_CORE_SPAWN_H
#define NW_CORE_SPAWN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NW_SPAWN_FD_INHERIT (-1)
#define NW_SPAWN_FD_CLOSE (-2)
#define NW_SPAWN_FD_DEVNULL (-3)
/* Only for nw_spawn_sync: a pipe to the parent (fd 0: input, others: output). */
#define NW_SPAWN_FD_PIPE (-4)

/* Flags of nw_spawn_options_t. */
#define NW_SPAWN_SETSID 0x01      /* new session + process group (detached) */
#define NW_SPAWN_SETPGROUP 0x02   /* new process group only */
#define NW_SPAWN_CLOSEFROM 0x04   /* close every fd >= nfds in the child */
#define NW_SPAWN_SEARCH_PATH 0x08 /* a file without '/' is looked up in PATH */
#define NW_SPAWN_SETUID 0x10      /* run as `uid` (needs `helper`) */
#define NW_SPAWN_SETGID 0x20      /* run as `gid` (needs `helper`) */

/* Largest nfds accepted. */
#define NW_SPAWN_MAX_FDS 1024

typedef struct nw_spawn_options {
  const char *file;   /* program; with SEARCH_PATH a bare name is looked up
                         in the PATH of `envp` (or of the parent's
                         environment when envp is NULL, or the default
                         "/usr/local/bin:/usr/bin:/bin" when neither has
                         one), relative entries resolved against `cwd` */
  char *const *argv;  /* NULL-terminated; argv[0] is what the child sees */
  char *const *envp;  /* NULL-terminated, or NULL for the parent's environ */
  const char *cwd;    /* NULL: the parent's */
  const int *fds;     /* see above; may be NULL when nfds == 0 */
  int nfds;
  unsigned flags;
  uid_t uid;
  gid_t gid;
  const char *helper; /* path of the exec helper, for SETUID/SETGID */
} nw_spawn_options_t;

typedef struct nw_child {
  pid_t pid;
  int pidfd; /* O_CLOEXEC, owned by the caller; -1 after nw_spawn_close */
} nw_child_t;

/*
 * Start a child. Any thread. On success returns 0 and fills *out; the caller
 * owns out->pidfd and must eventually reap the child (nw_spawn_reap) and
 * close the pidfd (nw_spawn_close). On failure returns a negative errno: the
 * child's exec error (-ENOENT, -EACCES, -ENOTDIR, ...), a failing chdir to
 * `cwd` (-ENOENT, ...), -EPERM from setuid/setgid, or a resource error of
 * the parent (-EMFILE, -EAGAIN, ...). No child and no descriptor is left
 * over after a failure.
 */
int nw_spawn(const nw_spawn_options_t *opts, nw_child_t *out);

/*
 * Reap the child if it has exited. Any thread (one at a time per child).
 * `block` != 0 waits for the exit (also when the pidfd is O_NONBLOCK). Returns 0 and sets *exit_code (0..255,
 * or -1 when killed) and *term_signal (the signal number, or 0) once the
 * child is reaped; -EAGAIN if it is still running and block == 0; another
 * negative errno on error (-ECHILD if already reaped).
 */
int nw_spawn_reap(nw_child_t *child, int block, int *exit_code,
                  int *term_signal);

/*
 * Send `sig` through the pidfd. Returns 0 (also for an exited child not yet
 * reaped: the zombie takes and ignores it), -ESRCH once the child has been
 * reaped, -EINVAL for a bad signal. Never reaches a recycled pid.
 */
int nw_spawn_kill(const nw_child_t *child, int sig);

/* Close the pidfd (idempotent). Does not reap. */
void nw_spawn_close(nw_child_t *child);

/*
 * Hand over a child that nobody will watch any more (in the addon: its
 * environment is going away while it runs) to a detached thread of its
 * own, which waits for the exit, reaps the child and closes its pidfd, so
 * that it never stays a zombie. Any thread. The caller no longer owns the
 * pidfd: child->pidfd is -1 on return. Returns 0, or a negative errno when
 * no thread could be started; the pidfd is closed then too, and the child,
 * once it exits, stays a zombie until this process ends or reaps it by
 * pid. The thread runs code of the object this file is linked into, which
 * must therefore stay loaded until the child exits.
 */
int nw_spawn_reap_detached(nw_child_t *child);

/* An O_CLOEXEC pipe (fds[0] read end, fds[1] write end). 0 or -errno. */
int nw_spawn_pipe(int fds[2]);

/* An O_CLOEXEC unix stream socketpair: the kind of "pipe" Node gives a
 * child's stdio, which supports shutdown(). 0 or -errno. */
int nw_spawn_socketpair(int fds[2]);

/* Output of one descriptor collected by nw_spawn_sync. */
typedef struct nw_spawn_output {
  char *data; /* malloc'ed by nw_spawn_sync, freed by nw_spawn_sync_free */
  size_t len;
} nw_spawn_output_t;

typedef struct nw_spawn_sync_options {
  nw_spawn_options_t spawn; /* fds may contain NW_SPAWN_FD_PIPE */
  const void *input;        /* written to a fd 0 pipe, then closed */
  size_t input_len;
  int64_t timeout_ms;       /* <= 0: none */
  int kill_signal;          /* sent on timeout or maxBuffer overflow */
  size_t max_buffer;        /* over all outputs together (as Node's
                               spawnSync counts); 0: unlimited */
} nw_spawn_sync_options_t;

typedef struct nw_spawn_sync_result {
  pid_t pid;              /* 0 when the spawn failed */
  int exit_code;          /* -1 when killed by a signal or not started */
  int term_signal;        /* 0 unless killed */
  int error;              /* 0, the spawn error, -ETIMEDOUT, -ENOBUFS (the
                             outputs went over max_buffer: it keeps the
                             chunk that overflowed, at most 64 KiB more),
                             or -EPIPE (the child did not take all input) */
  nw_spawn_output_t *out; /* nfds entries; data NULL where fds[i] was not a
                             pipe (fd 0 never has output) */
  int nfds;
} nw_spawn_sync_result_t;

/*
 * Run a child to completion, blocking the calling thread: feed `input`,
 * collect every output pipe, reap. Returns when the child has exited and
 * every output pipe reached end of file (or, after a timeout or overflow
 * kill, once the child is reaped). Any thread; the caller must ignore
 * SIGPIPE (Node does) or a child that closes its stdin early kills it.
 * Returns 0 when `res` describes the run (res->error tells how it ended) or
 * a negative errno when nothing could be set up; call nw_spawn_sync_free
 * either way.
 */
int nw_spawn_sync(const nw_spawn_sync_options_t *opts,
                  nw_spawn_sync_result_t *res);

void nw_spawn_sync_free(nw_spawn_sync_result_t *res);

#endif
