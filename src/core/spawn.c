/*
 * spawn.c - posix_spawn based process start, pidfd reaping and the
 * synchronous runner. The contract is in spawn.h.
 */
#include "core/spawn.h"

#include "core/clock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <paths.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* The raw system calls (glibc 2.36 has no wrappers for them): a pidfd
 * for `pid`, and a signal sent through one. -1 with errno on failure. */
static int sys_pidfd_open(pid_t pid) {
  return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int sys_pidfd_send_signal(int pidfd, int sig) {
  return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* Adds to `fa` the closing, in the child, of every descriptor from `lowfd`
 * up. Caller's thread; returns 0 or a positive error number, as the
 * posix_spawn_file_actions_* calls do. glibc (2.34) does it in one action.
 * musl has no such action: this closes each descriptor from `lowfd` up
 * that is open in the parent now and not close-on-exec (those vanish at
 * exec anyway), so one that another thread opens without O_CLOEXEC between
 * the scan and the spawn can still reach the child. */
static int add_closefrom(posix_spawn_file_actions_t *fa, int lowfd) {
#ifdef __GLIBC__
  return posix_spawn_file_actions_addclosefrom_np(fa, lowfd);
#else
  DIR *d = opendir("/proc/self/fd");
  if (!d) return errno;
  int self = dirfd(d), rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    int fd = atoi(e->d_name);
    if (fd < lowfd || fd == self) continue;
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || (fl & FD_CLOEXEC)) continue;
    rc = posix_spawn_file_actions_addclose(fa, fd);
  }
  closedir(d);
  return rc;
#endif
}

/* Any thread. */
int nw_spawn_pipe(int fds[2]) {
  if (!fds) return -EINVAL;
  return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno;
}

/* Any thread. */
int nw_spawn_socketpair(int fds[2]) {
  if (!fds) return -EINVAL;
  return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0 ? 0
                                                                     : -errno;
}

/* The value of PATH in `envp` (NULL: the parent's environment), or the
 * system default when there is none. */
static const char *find_path_var(char *const *envp) {
  if (!envp) {
    const char *p = getenv("PATH");
    return p ? p : _PATH_DEFPATH;
  }
  for (char *const *e = envp; *e; e++)
    if (strncmp(*e, "PATH=", 5) == 0) return *e + 5;
  return _PATH_DEFPATH;
}

/*
 * Resolve a bare program name the way execvp does, but in the parent and
 * against the child's PATH: the first entry holding an executable regular
 * file wins; an entry holding something we may not execute is remembered so
 * the error is EACCES rather than ENOENT. Writes the path into `buf`.
 * Returns 0 or a negative errno.
 */
static int search_path(const char *file, char *const *envp, const char *cwd,
                       char *buf, size_t cap) {
  const char *path = find_path_var(envp);
  size_t flen = strlen(file);
  int seen_eacces = 0;
  if (flen == 0) return -ENOENT;
  for (const char *p = path;; ) {
    const char *end = strchr(p, ':');
    size_t dlen = end ? (size_t)(end - p) : strlen(p);
    int n;
    const char *dir = dlen ? p : ".";
    int dl = dlen ? (int)dlen : 1;
    if (dir[0] != '/' && cwd && cwd[0])
      n = snprintf(buf, cap, "%s/%.*s/%s", cwd, dl, dir, file);
    else
      n = snprintf(buf, cap, "%.*s/%s", dl, dir, file);
    if (n > 0 && (size_t)n < cap) {
      struct stat st;
      if (stat(buf, &st) == 0) {
        if (S_ISREG(st.st_mode) &&
            faccessat(AT_FDCWD, buf, X_OK, AT_EACCESS) == 0)
          return 0;
        seen_eacces = 1;
      } else if (errno == EACCES) {
        seen_eacces = 1;
      }
    }
    if (!end) break;
    p = end + 1;
  }
  return seen_eacces ? -EACCES : -ENOENT;
}

/* Read exactly one int from the helper's error pipe, or learn (EOF) that
 * the helper reached exec. Returns 0 (exec'ed) or the reported -errno. */
static int read_helper_report(int fd) {
  int err = 0;
  ssize_t n;
  do n = read(fd, &err, sizeof err);
  while (n < 0 && errno == EINTR);
  if (n == (ssize_t)sizeof err) return err > 0 ? -err : -EIO;
  return 0;
}

/*
 * Put the descriptors that become 0, 1 and 2 of the child in blocking mode,
 * as libuv's child does after its dup2s: programs expect a read() of stdin
 * to wait for data, not to fail with EAGAIN because the parent handed over
 * a stream it was polling. O_NONBLOCK belongs to the open file description,
 * which the child's copy shares with ours, so clearing it here, just before
 * posix_spawn, is the change libuv makes from inside the child (and the
 * parent's copies see it in both cases). posix_spawn's file actions cannot
 * run fcntl, and a dup would share the flag, so this is the one place.
 * The caller's thread; fds[i] as in nw_spawn_options_t.
 */
static void make_stdio_blocking(const int *fds, int nfds) {
  for (int i = 0; i < 3 && i < nfds; i++) {
    int fd = fds[i] == NW_SPAWN_FD_INHERIT ? i : fds[i];
    if (fd < 0) continue;
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK)) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  }
}

/* Any thread. Resolves the descriptor permutation, the PATH search and
 * the uid/gid helper, then calls posix_spawn once; see spawn.h for the
 * contract. Every temporary is freed and closed at the one `out` label. */
int nw_spawn(const nw_spawn_options_t *o, nw_child_t *out) {
  if (!o || !out || !o->file || !o->argv || !o->argv[0]) return -EINVAL;
  if (o->nfds < 0 || o->nfds > NW_SPAWN_MAX_FDS || (o->nfds && !o->fds))
    return -EINVAL;
  int creds = (o->flags & (NW_SPAWN_SETUID | NW_SPAWN_SETGID)) != 0;
  if (creds && !o->helper) return -EINVAL;
  if ((o->flags & NW_SPAWN_SETSID) && (o->flags & NW_SPAWN_SETPGROUP))
    return -EINVAL;
  for (int i = 0; i < o->nfds; i++)
    if (o->fds[i] < NW_SPAWN_FD_DEVNULL) return -EINVAL;

  out->pid = 0;
  out->pidfd = -1;

  int rc = 0, nfds = o->nfds;
  int *tmp = NULL;
  int errpipe[2] = {-1, -1};
  char **hargv = NULL;
  char pathbuf[PATH_MAX];
  const char *path = o->file;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  int fa_ok = 0, attr_ok = 0;

  if ((o->flags & NW_SPAWN_SEARCH_PATH) && !strchr(o->file, '/')) {
    rc = search_path(o->file, o->envp, o->cwd, pathbuf, sizeof pathbuf);
    if (rc) return rc;
    path = pathbuf;
  }

  if (nfds) {
    tmp = malloc(sizeof *tmp * (size_t)nfds);
    if (!tmp) return -ENOMEM;
    for (int i = 0; i < nfds; i++) tmp[i] = -1;
  }

  if ((rc = posix_spawn_file_actions_init(&fa)) != 0) { rc = -rc; goto out; }
  fa_ok = 1;
  if ((rc = posix_spawnattr_init(&attr)) != 0) { rc = -rc; goto out; }
  attr_ok = 1;

  /* A source below nfds may be overwritten by an earlier dup2 onto that
   * number (and dup2(i, i) would keep FD_CLOEXEC on older libcs), so such
   * sources are first copied above the range; the copies are O_CLOEXEC and
   * vanish in the child at exec. */
  for (int i = 0; i < nfds; i++) {
    int src = o->fds[i];
    if (src >= 0 && src < nfds) {
      tmp[i] = fcntl(src, F_DUPFD_CLOEXEC, nfds + 1);
      if (tmp[i] < 0) { rc = -errno; goto out; }
      src = tmp[i];
    }
    if (src >= 0)
      rc = posix_spawn_file_actions_adddup2(&fa, src, i);
    else if (src == NW_SPAWN_FD_CLOSE)
      rc = posix_spawn_file_actions_addclose(&fa, i);
    else if (src == NW_SPAWN_FD_DEVNULL)
      rc = posix_spawn_file_actions_addopen(&fa, i, "/dev/null", O_RDWR, 0);
    else
      rc = 0;
    if (rc) { rc = -rc; goto out; }
  }

  int first_free = nfds;
  if (creds) {
    /* The helper's error pipe sits just above the caller's descriptors. */
    if (pipe2(errpipe, O_CLOEXEC) != 0) { rc = -errno; goto out; }
    if ((rc = posix_spawn_file_actions_adddup2(&fa, errpipe[1], nfds)) != 0) {
      rc = -rc;
      goto out;
    }
    first_free = nfds + 1;
  }
  if (o->flags & NW_SPAWN_CLOSEFROM) {
    if ((rc = add_closefrom(&fa, first_free)) != 0) {
      rc = -rc;
      goto out;
    }
  }
  if (o->cwd) {
    if ((rc = posix_spawn_file_actions_addchdir_np(&fa, o->cwd)) != 0) {
      rc = -rc;
      goto out;
    }
  }

  short aflags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  if (o->flags & NW_SPAWN_SETSID) aflags |= POSIX_SPAWN_SETSID;
  if (o->flags & NW_SPAWN_SETPGROUP) {
    aflags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&attr, 0);
  }
  if ((rc = posix_spawnattr_setflags(&attr, aflags)) != 0) { rc = -rc; goto out; }

  const char *exe = path;
  char *const *argv = o->argv;
  char numbuf[4][24];
  if (creds) {
    size_t argc = 0;
    while (o->argv[argc]) argc++;
    hargv = calloc(argc + 7, sizeof *hargv);
    if (!hargv) { rc = -ENOMEM; goto out; }
    snprintf(numbuf[0], sizeof numbuf[0], "%d", nfds);
    snprintf(numbuf[1], sizeof numbuf[1], "%u",
             o->flags & (NW_SPAWN_SETUID | NW_SPAWN_SETGID));
    snprintf(numbuf[2], sizeof numbuf[2], "%lu", (unsigned long)o->uid);
    snprintf(numbuf[3], sizeof numbuf[3], "%lu", (unsigned long)o->gid);
    hargv[0] = (char *)o->helper;
    hargv[1] = numbuf[0];
    hargv[2] = numbuf[1];
    hargv[3] = numbuf[2];
    hargv[4] = numbuf[3];
    hargv[5] = (char *)path;
    for (size_t i = 0; i < argc; i++) hargv[6 + i] = o->argv[i];
    exe = o->helper;
    argv = hargv;
  }

  make_stdio_blocking(o->fds, nfds);

  pid_t pid;
  char *const *envp = o->envp ? o->envp : environ;
  rc = posix_spawn(&pid, exe, &fa, &attr, argv, envp);
  if (rc == ENOEXEC && !creds) {
    /* A file without a #! line: run it with /bin/sh, as execvp (and so
     * libuv) does. The child sees argv {"/bin/sh", path, argv[1]...}. */
    size_t argc = 0;
    while (o->argv[argc]) argc++;
    hargv = calloc(argc + 2, sizeof *hargv);
    if (!hargv) { rc = -ENOMEM; goto out; }
    hargv[0] = (char *)"/bin/sh";
    hargv[1] = (char *)path;
    for (size_t i = 1; i < argc; i++) hargv[i + 1] = o->argv[i];
    rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, hargv, envp);
  }
  if (rc != 0) { rc = -rc; goto out; }

  if (creds) {
    close(errpipe[1]);
    errpipe[1] = -1;
    rc = read_helper_report(errpipe[0]);
    if (rc) {
      int st;
      while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
      goto out;
    }
  }

  /* The child cannot be reaped by anyone else before we do (it is ours and
   * we only reap through the pidfd), so its pid is still valid here. */
  out->pidfd = sys_pidfd_open(pid);
  if (out->pidfd < 0) {
    rc = -errno;
    kill(pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    goto out;
  }
  fcntl(out->pidfd, F_SETFD, FD_CLOEXEC); /* pidfd_open sets it; be sure */
  out->pid = pid;
  rc = 0;

out:
  if (fa_ok) posix_spawn_file_actions_destroy(&fa);
  if (attr_ok) posix_spawnattr_destroy(&attr);
  for (int i = 0; tmp && i < nfds; i++)
    if (tmp[i] >= 0) close(tmp[i]);
  free(tmp);
  free(hargv);
  if (errpipe[0] >= 0) close(errpipe[0]);
  if (errpipe[1] >= 0) close(errpipe[1]);
  return rc;
}

/* Any thread, one at a time per child. */
int nw_spawn_reap(nw_child_t *child, int block, int *exit_code,
                  int *term_signal) {
  if (!child || child->pidfd < 0) return -EINVAL;
  siginfo_t si;
  int r;
  for (;;) {
    memset(&si, 0, sizeof si);
    r = waitid((idtype_t)P_PIDFD, (id_t)child->pidfd, &si,
               WEXITED | (block ? 0 : WNOHANG));
    if (r == 0 || errno == EINTR) {
      if (r == 0) break;
      continue;
    }
    /* A pidfd in O_NONBLOCK mode (libuv's poll sets it) answers EAGAIN
     * while the child runs, even without WNOHANG. */
    if (errno != EAGAIN) break;
    if (!block) return -EAGAIN;
    struct pollfd pf = {.fd = child->pidfd, .events = POLLIN};
    while (poll(&pf, 1, -1) < 0 && errno == EINTR) {}
  }
  if (r < 0) return -errno;
  if (si.si_pid == 0) return -EAGAIN;
  int code = -1, sig = 0;
  if (si.si_code == CLD_EXITED)
    code = si.si_status;
  else
    sig = si.si_status;
  if (exit_code) *exit_code = code;
  if (term_signal) *term_signal = sig;
  return 0;
}

/* Any thread. */
int nw_spawn_kill(const nw_child_t *child, int sig) {
  if (!child || child->pidfd < 0) return -EINVAL;
  return sys_pidfd_send_signal(child->pidfd, sig) == 0 ? 0 : -errno;
}

/* Any thread. Idempotent. */
void nw_spawn_close(nw_child_t *child) {
  if (child && child->pidfd >= 0) {
    close(child->pidfd);
    child->pidfd = -1;
  }
}

/* The detached thread of nw_spawn_reap_detached: owns `arg`. */
static void *reaper_main(void *arg) {
  nw_child_t *c = arg;
  int code, sig;
  nw_spawn_reap(c, 1, &code, &sig);
  nw_spawn_close(c);
  free(c);
  return NULL;
}

/* Any thread. */
int nw_spawn_reap_detached(nw_child_t *child) {
  if (!child || child->pidfd < 0) return -EINVAL;
  int rc = 0;
  pthread_attr_t a;
  pthread_t t;
  nw_child_t *c = malloc(sizeof *c);
  if (!c) {
    rc = -ENOMEM;
    goto fail;
  }
  *c = *child;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&a, 64 * 1024); /* it only waits */
  rc = -pthread_create(&t, &a, reaper_main, c);
  pthread_attr_destroy(&a);
  if (rc) goto fail;
  child->pidfd = -1;
  return 0;
fail:
  free(c);
  nw_spawn_close(child);
  return rc;
}

/* ---- synchronous runner ------------------------------------------------ */

/* Append up to 64 KiB read from `fd` to `o`. Returns bytes read, 0 at end
 * of file, -EAGAIN when nothing is there, or another -errno. */
static ssize_t read_into(int fd, nw_spawn_output_t *o, size_t *cap) {
  if (*cap - o->len < 65536) {
    size_t ncap = *cap ? *cap * 2 : 65536;
    while (ncap - o->len < 65536) ncap *= 2;
    char *p = realloc(o->data, ncap);
    if (!p) return -ENOMEM;
    o->data = p;
    *cap = ncap;
  }
  ssize_t n;
  do n = read(fd, o->data + o->len, 65536);
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  o->len += (size_t)n;
  return n;
}

/* Any thread. Idempotent; NULL is ignored. */
void nw_spawn_sync_free(nw_spawn_sync_result_t *res) {
  if (!res) return;
  for (int i = 0; res->out && i < res->nfds; i++) free(res->out[i].data);
  free(res->out);
  res->out = NULL;
  res->nfds = 0;
}

/* Any thread; blocks it until the child is reaped and its outputs end.
 * The descriptors it makes are all closed at the one `out` label. */
int nw_spawn_sync(const nw_spawn_sync_options_t *so,
                  nw_spawn_sync_result_t *res) {
  if (!so || !res) return -EINVAL;
  memset(res, 0, sizeof *res);
  res->exit_code = -1;
  const nw_spawn_options_t *o = &so->spawn;
  int nfds = o->nfds;
  if (nfds < 0 || nfds > NW_SPAWN_MAX_FDS || (nfds && !o->fds)) return -EINVAL;
  if (so->kill_signal < 0 || so->kill_signal >= NSIG) return -EINVAL;

  int rc = 0;
  int *cfds = NULL, *pfds = NULL; /* child's / parent's end per index */
  size_t *caps = NULL;
  struct pollfd *pl = NULL;
  nw_child_t child = {0, -1};

  res->out = calloc((size_t)(nfds ? nfds : 1), sizeof *res->out);
  cfds = malloc(sizeof *cfds * (size_t)(nfds ? nfds : 1));
  pfds = malloc(sizeof *pfds * (size_t)(nfds ? nfds : 1));
  caps = calloc((size_t)(nfds ? nfds : 1), sizeof *caps);
  pl = calloc((size_t)nfds + 1, sizeof *pl);
  if (!res->out || !cfds || !pfds || !caps || !pl) { rc = -ENOMEM; goto out; }
  res->nfds = nfds;
  for (int i = 0; i < nfds; i++) pfds[i] = -1;

  for (int i = 0; i < nfds; i++) {
    cfds[i] = o->fds[i];
    if (o->fds[i] != NW_SPAWN_FD_PIPE) continue;
    int sp[2];
    if ((rc = nw_spawn_socketpair(sp)) != 0) goto out;
    pfds[i] = sp[0];
    cfds[i] = sp[1];
    fcntl(sp[0], F_SETFL, fcntl(sp[0], F_GETFL) | O_NONBLOCK);
  }

  nw_spawn_options_t sp = *o;
  sp.fds = cfds;
  rc = nw_spawn(&sp, &child);
  for (int i = 0; i < nfds; i++)
    if (pfds[i] >= 0) { close(cfds[i]); cfds[i] = -1; }
  if (rc) {
    res->error = rc;
    rc = 0;
    goto out;
  }
  res->pid = child.pid;

  /* fd 0: input, then shut down so the child sees end of file. */
  size_t in_off = 0;
  if (nfds > 0 && pfds[0] >= 0 && so->input_len == 0) {
    close(pfds[0]);
    pfds[0] = -1;
  }

  /* Past INT64_MAX / 2 ns (292 years) a timeout is as good as none. */
  int64_t deadline = -1;
  if (so->timeout_ms > 0)
    deadline = nw_now_ns() + (so->timeout_ms < INT64_MAX / 2 / 1000000
                                  ? so->timeout_ms * 1000000
                                  : INT64_MAX / 2);
  int reaped = 0, killed = 0;
  size_t total_out = 0; /* bytes kept over all outputs, as Node counts */
  for (;;) {
    int n = 0, open_pipes = 0;
    int wait_exit = !reaped;
    if (wait_exit) {
      pl[n].fd = child.pidfd;
      pl[n].events = POLLIN;
      pl[n].revents = 0;
      n++;
    }
    for (int i = 0; i < nfds; i++) {
      if (pfds[i] < 0) continue;
      open_pipes++;
      pl[n].fd = pfds[i];
      pl[n].events = i == 0 ? POLLOUT : POLLIN;
      pl[n].revents = 0;
      n++;
    }
    if (reaped && (open_pipes == 0 || killed)) break;

    int wait_ms = -1;
    if (deadline >= 0 && !killed) {
      wait_ms = nw_poll_ms_until(deadline);
      if (wait_ms == 0) {
        res->error = -ETIMEDOUT;
        nw_spawn_kill(&child, so->kill_signal);
        killed = 1;
        continue;
      }
    }
    int pr = poll(pl, (nfds_t)n, wait_ms);
    if (pr < 0) {
      if (errno == EINTR) continue;
      rc = -errno;
      break;
    }
    if (pr == 0) continue;

    for (int k = 0; k < n; k++) {
      if (!pl[k].revents) continue;
      if (wait_exit && k == 0) {
        if (nw_spawn_reap(&child, 0, &res->exit_code, &res->term_signal) == 0)
          reaped = 1;
        continue;
      }
      int i = 0;
      while (pfds[i] != pl[k].fd) i++;
      if (i == 0) {
        ssize_t w;
        do w = write(pfds[0], (const char *)so->input + in_off,
                     so->input_len - in_off);
        while (w < 0 && errno == EINTR);
        if (w > 0) in_off += (size_t)w;
        if ((w < 0 && errno != EAGAIN) || in_off == so->input_len) {
          /* Node's spawnSync reports input the child did not take (EPIPE)
           * as the run's error, while still giving its exit status. */
          if (w < 0 && errno != EAGAIN && !res->error) res->error = -errno;
          close(pfds[0]);
          pfds[0] = -1;
        }
        continue;
      }
      size_t before = res->out[i].len;
      ssize_t r = read_into(pfds[i], &res->out[i], &caps[i]);
      if (r == -EAGAIN) continue;
      /* After an overflow kill, drain without keeping (as Node does, the
       * chunk that overflowed is kept whole). */
      if (r > 0 && killed && so->max_buffer) res->out[i].len = before;
      else if (r > 0) total_out += (size_t)r;
      if (r <= 0) {
        if (r < 0 && !res->error) res->error = (int)r;
        close(pfds[i]);
        pfds[i] = -1;
        continue;
      }
      if (so->max_buffer && total_out > so->max_buffer && !killed) {
        if (!res->error) res->error = -ENOBUFS;
        nw_spawn_kill(&child, so->kill_signal);
        killed = 1;
      }
    }
  }
  if (!reaped && child.pidfd >= 0) {
    nw_spawn_kill(&child, SIGKILL);
    nw_spawn_reap(&child, 1, &res->exit_code, &res->term_signal);
  }

out:
  nw_spawn_close(&child);
  /* Parent ends still open, and child ends of pipes made before a setup
   * failure (after the spawn they are already closed and set to -1). */
  for (int i = 0; pfds && i < nfds; i++) {
    if (pfds[i] < 0) continue;
    close(pfds[i]);
    if (cfds[i] >= 0) close(cfds[i]);
  }
  /* Empty outputs of pipes still get a (zero length) buffer, so the caller
   * can tell a pipe with no output from a descriptor that was not a pipe. */
  for (int i = 1; res->out && i < nfds; i++)
    if (o->fds[i] == NW_SPAWN_FD_PIPE && !res->out[i].data)
      res->out[i].data = malloc(1);
  free(cfds);
  free(pfds);
  free(caps);
  free(pl);
  if (rc && res->out == NULL) res->nfds = 0;
  return rc;
}
