/*
 * Unit tests of src/core/spawn.c: posix_spawn start, descriptor placement,
 * cwd/env/argv0, sessions and groups, signal reset, pidfd reaping that
 * leaves other children alone, the uid/gid helper and the sync runner.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/spawn.h"
#include "testing.h"

extern char **environ;

static const char *helper_path(void) {
  const char *h = getenv("NW_EXEC_HELPER");
  return h ? h : "build/nw_exec_helper";
}

/* Run `argv` with stdout on a pipe and the given extra options; return
 * what it printed (static buffer) and its exit code in *code. */
static char outbuf[1 << 16];
static int run_capture(nw_spawn_options_t *o, int *code, int *sig) {
  int p[2];
  if (nw_spawn_pipe(p) != 0) return -1;
  int fds[3] = {NW_SPAWN_FD_DEVNULL, p[1], 2};
  if (!o->fds) {
    o->fds = fds;
    o->nfds = 3;
  }
  nw_child_t c;
  int rc = nw_spawn(o, &c);
  close(p[1]);
  if (rc) {
    close(p[0]);
    return rc;
  }
  size_t len = 0;
  ssize_t n;
  while ((n = read(p[0], outbuf + len, sizeof outbuf - 1 - len)) > 0) len += (size_t)n;
  outbuf[len] = 0;
  close(p[0]);
  int r = nw_spawn_reap(&c, 1, code, sig);
  nw_spawn_close(&c);
  return r;
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) n++;
  closedir(d);
  return n;
}

static void no_zombies(void) {
  errno = 0;
  CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
}

static void test_true_and_exit_code(void) {
  char *argv[] = {"true", NULL};
  nw_spawn_options_t o = {.file = "/bin/true", .argv = argv};
  nw_child_t c;
  REQUIRE(nw_spawn(&o, &c) == 0);
  CHECK(c.pid > 0);
  CHECK(c.pidfd >= 0);
  CHECK((fcntl(c.pidfd, F_GETFD) & FD_CLOEXEC) != 0);
  int code = 99, sig = 99;
  CHECK_EQ(nw_spawn_reap(&c, 1, &code, &sig), 0);
  CHECK_EQ(code, 0);
  CHECK_EQ(sig, 0);
  CHECK_EQ(nw_spawn_reap(&c, 1, &code, &sig), -ECHILD);
  nw_spawn_close(&c);
  nw_spawn_close(&c);

  char *argv2[] = {"sh", "-c", "exit 7", NULL};
  nw_spawn_options_t o2 = {.file = "sh", .argv = argv2, .flags = NW_SPAWN_SEARCH_PATH};
  REQUIRE(nw_spawn(&o2, &c) == 0);
  CHECK_EQ(nw_spawn_reap(&c, 1, &code, &sig), 0);
  CHECK_EQ(code, 7);
  nw_spawn_close(&c);
  no_zombies();
}

static void test_exec_errors(void) {
  nw_child_t c = {123, 456};
  char *argv[] = {"x", NULL};
  nw_spawn_options_t o = {.file = "/nonexistent/prog", .argv = argv};
  CHECK_EQ(nw_spawn(&o, &c), -ENOENT);
  CHECK_EQ(c.pidfd, -1);
  o.file = "no-such-program-anywhere";
  o.flags = NW_SPAWN_SEARCH_PATH;
  CHECK_EQ(nw_spawn(&o, &c), -ENOENT);

  char tmpl[] = "/tmp/nw-spawn-noexec-XXXXXX";
  int fd = mkstemp(tmpl);
  REQUIRE(fd >= 0);
  CHECK(write(fd, "#!/bin/sh\n", 10) == 10);
  close(fd);
  chmod(tmpl, 0644);
  o.file = tmpl;
  o.flags = 0;
  CHECK_EQ(nw_spawn(&o, &c), -EACCES);
  unlink(tmpl);

  o.file = "/bin/true";
  o.cwd = "/nonexistent-dir";
  CHECK_EQ(nw_spawn(&o, &c), -ENOENT);
  o.cwd = "/etc/passwd";
  CHECK_EQ(nw_spawn(&o, &c), -ENOTDIR);
  no_zombies();
}

static void test_script_without_shebang(void) {
  char tmpl[] = "/tmp/nw-spawn-script-XXXXXX";
  int fd = mkstemp(tmpl);
  REQUIRE(fd >= 0);
  const char *body = "echo \"script $1 $2\"\n";
  CHECK(write(fd, body, strlen(body)) == (ssize_t)strlen(body));
  close(fd);
  chmod(tmpl, 0755);
  char *argv[] = {"x", "one", "two", NULL};
  nw_spawn_options_t o = {.file = tmpl, .argv = argv};
  int code, sig;
  REQUIRE(run_capture(&o, &code, &sig) == 0);
  CHECK(strcmp(outbuf, "script one two\n") == 0);
  /* The same through the uid/gid helper. */
  nw_spawn_options_t o2 = {.file = tmpl, .argv = argv, .helper = helper_path(),
                           .flags = NW_SPAWN_SETGID, .gid = getegid()};
  REQUIRE(run_capture(&o2, &code, &sig) == 0);
  CHECK(strcmp(outbuf, "script one two\n") == 0);
  unlink(tmpl);
}

static void test_bad_arguments(void) {
  nw_child_t c;
  char *argv[] = {"x", NULL};
  char *empty[] = {NULL};
  nw_spawn_options_t o = {.file = "/bin/true", .argv = argv};
  CHECK_EQ(nw_spawn(NULL, &c), -EINVAL);
  CHECK_EQ(nw_spawn(&o, NULL), -EINVAL);
  o.argv = empty;
  CHECK_EQ(nw_spawn(&o, &c), -EINVAL);
  o.argv = argv;
  o.nfds = -1;
  CHECK_EQ(nw_spawn(&o, &c), -EINVAL);
  o.nfds = 2;
  CHECK_EQ(nw_spawn(&o, &c), -EINVAL); /* fds NULL */
  int bad[2] = {0, -77};
  o.fds = bad;
  CHECK_EQ(nw_spawn(&o, &c), -EINVAL);
  o.nfds = 0;
  o.flags = NW_SPAWN_SETUID; /* no helper */
  CHECK_EQ(nw_spawn(&o, &c), -EINVAL);
  o.flags = NW_SPAWN_SETSID | NW_SPAWN_SETPGROUP;
  CHECK_EQ(nw_spawn(&o, &c), -EINVAL);
  nw_child_t none = {0, -1};
  CHECK_EQ(nw_spawn_reap(&none, 0, NULL, NULL), -EINVAL);
  CHECK_EQ(nw_spawn_kill(&none, SIGTERM), -EINVAL);
  CHECK_EQ(nw_spawn_pipe(NULL), -EINVAL);
}

/* Move `fd` to number `target` (O_CLOEXEC), closing the original. */
static int place(int fd, int target) {
  if (fd == target) return fd;
  if (dup3(fd, target, O_CLOEXEC) != target) return -1;
  close(fd);
  return target;
}

/* Child descriptors 8 and 9 get the parent's 9 and 8: a permutation whose
 * sources overlap the targets (dash only takes one-digit fd numbers). */
static void test_fd_permutation(void) {
  int a[2], b[2];
  REQUIRE(nw_spawn_pipe(a) == 0 && nw_spawn_pipe(b) == 0);
  REQUIRE(a[0] < 8 && a[1] < 8 && b[0] < 8 && b[1] < 8);
  REQUIRE(place(a[1], 8) == 8 && place(b[1], 9) == 9);
  char *argv[] = {"sh", "-c", "echo eight >&8; echo nine >&9", NULL};
  int fds[10] = {NW_SPAWN_FD_DEVNULL, NW_SPAWN_FD_DEVNULL, 2, NW_SPAWN_FD_CLOSE,
                 NW_SPAWN_FD_CLOSE, NW_SPAWN_FD_CLOSE, NW_SPAWN_FD_CLOSE,
                 NW_SPAWN_FD_CLOSE, 9, 8};
  nw_spawn_options_t o = {.file = "/bin/sh", .argv = argv, .fds = fds, .nfds = 10,
                          .flags = NW_SPAWN_CLOSEFROM};
  nw_child_t c;
  REQUIRE(nw_spawn(&o, &c) == 0);
  close(8);
  close(9);
  char ba[32] = {0}, bb[32] = {0};
  CHECK(read(a[0], ba, sizeof ba - 1) > 0);
  CHECK(read(b[0], bb, sizeof bb - 1) > 0);
  /* Child fd 8 was the parent's 9 (pipe b), fd 9 the parent's 8 (pipe a). */
  CHECK(strcmp(ba, "nine\n") == 0);
  CHECK(strcmp(bb, "eight\n") == 0);
  int code, sig;
  CHECK_EQ(nw_spawn_reap(&c, 1, &code, &sig), 0);
  CHECK_EQ(code, 0);
  nw_spawn_close(&c);
  close(a[0]);
  close(b[0]);
}

static void test_closefrom_and_inherit(void) {
  int fd = open("/dev/null", O_RDONLY); /* not O_CLOEXEC on purpose */
  REQUIRE(fd >= 3);
  int hi = dup2(fd, 9);
  close(fd);
  REQUIRE(hi == 9);
  char *argv[] = {"sh", "-c", "if [ -e /proc/$$/fd/9 ]; then echo open; else echo closed; fi", NULL};
  nw_spawn_options_t o = {.file = "/bin/sh", .argv = argv, .flags = NW_SPAWN_CLOSEFROM};
  int code, sig;
  REQUIRE(run_capture(&o, &code, &sig) == 0);
  CHECK(strcmp(outbuf, "closed\n") == 0);
  nw_spawn_options_t o2 = {.file = "/bin/sh", .argv = argv};
  REQUIRE(run_capture(&o2, &code, &sig) == 0);
  CHECK(strcmp(outbuf, "open\n") == 0);
  close(9);
}

/* A nonblocking stdin (a pipe the parent polls) reaches the child in
 * blocking mode, as with libuv; a descriptor from 3 up keeps its flag. */
static void test_stdio_made_blocking(void) {
  int in[2], hi[2];
  REQUIRE(nw_spawn_pipe(in) == 0);
  REQUIRE(nw_spawn_pipe(hi) == 0);
  fcntl(in[0], F_SETFL, O_NONBLOCK);
  fcntl(hi[0], F_SETFL, O_NONBLOCK);
  int p[2];
  REQUIRE(nw_spawn_pipe(p) == 0);
  int fds[4] = {in[0], p[1], 2, hi[0]};
  /* `read` in sh waits on a blocking stdin; with O_NONBLOCK it fails at
   * once (EAGAIN) and prints "nothing". */
  char *argv[] = {"sh", "-c",
                  "if read line; then echo \"got $line\"; else echo nothing; fi;"
                  " grep -q '^flags:.*[4-7]...$' /proc/$$/fdinfo/3 && echo nb3",
                  NULL};
  nw_spawn_options_t o = {.file = "/bin/sh", .argv = argv, .fds = fds, .nfds = 4,
                          .flags = NW_SPAWN_CLOSEFROM};
  nw_child_t c;
  REQUIRE(nw_spawn(&o, &c) == 0);
  close(p[1]);
  CHECK((fcntl(in[0], F_GETFL) & O_NONBLOCK) == 0);
  CHECK((fcntl(hi[0], F_GETFL) & O_NONBLOCK) != 0);
  usleep(50000); /* the child is waiting in read by now */
  REQUIRE(write(in[1], "late\n", 5) == 5);
  close(in[1]);
  size_t len = 0;
  ssize_t n;
  while ((n = read(p[0], outbuf + len, sizeof outbuf - 1 - len)) > 0) len += (size_t)n;
  outbuf[len] = 0;
  CHECK(strcmp(outbuf, "got late\nnb3\n") == 0);
  int code, sig;
  CHECK_EQ(nw_spawn_reap(&c, 1, &code, &sig), 0);
  nw_spawn_close(&c);
  close(p[0]);
  close(in[0]);
  close(hi[0]);
  close(hi[1]);
}

static void test_cwd_env_argv0(void) {
  char *argv[] = {"custom-zero", "-c", "echo \"$FOO|$(pwd)|$0\"", NULL};
  char *envp[] = {"FOO=bar baz", "PATH=/usr/bin:/bin", NULL};
  nw_spawn_options_t o = {.file = "/bin/sh", .argv = argv, .envp = envp, .cwd = "/tmp"};
  int code, sig;
  REQUIRE(run_capture(&o, &code, &sig) == 0);
  CHECK(strcmp(outbuf, "bar baz|/tmp|custom-zero\n") == 0);
  CHECK_EQ(code, 0);

  /* PATH comes from the child's environment, not the parent's. */
  char *argv2[] = {"true", NULL};
  char *env_ok[] = {"PATH=/nonexistent:/bin", NULL};
  char *env_bad[] = {"PATH=/nonexistent", NULL};
  nw_spawn_options_t o2 = {.file = "true", .argv = argv2, .envp = env_ok,
                           .flags = NW_SPAWN_SEARCH_PATH};
  REQUIRE(run_capture(&o2, &code, &sig) == 0);
  CHECK_EQ(code, 0);
  o2.envp = env_bad;
  o2.fds = NULL;
  CHECK_EQ(run_capture(&o2, &code, &sig), -ENOENT);

  /* A relative program path is resolved in the child's cwd. */
  char *argv3[] = {"t", NULL};
  nw_spawn_options_t o3 = {.file = "./true", .argv = argv3, .cwd = "/bin"};
  REQUIRE(run_capture(&o3, &code, &sig) == 0);
  CHECK_EQ(code, 0);
}

static void test_session_and_group(void) {
  char *argv[] = {"sh", "-c", "read a b c d e f g < /proc/self/stat; echo $a $e $f", NULL};
  nw_spawn_options_t o = {.file = "/bin/sh", .argv = argv, .flags = NW_SPAWN_SETSID};
  int code, sig;
  REQUIRE(run_capture(&o, &code, &sig) == 0);
  long pid = 0, pgrp = 0, sid = 0;
  REQUIRE(sscanf(outbuf, "%ld %ld %ld", &pid, &pgrp, &sid) == 3);
  CHECK(pid == pgrp && pid == sid);

  nw_spawn_options_t o2 = {.file = "/bin/sh", .argv = argv, .flags = NW_SPAWN_SETPGROUP};
  REQUIRE(run_capture(&o2, &code, &sig) == 0);
  REQUIRE(sscanf(outbuf, "%ld %ld %ld", &pid, &pgrp, &sid) == 3);
  CHECK(pid == pgrp);
  CHECK(sid == (long)getsid(0));

  nw_spawn_options_t o3 = {.file = "/bin/sh", .argv = argv};
  REQUIRE(run_capture(&o3, &code, &sig) == 0);
  REQUIRE(sscanf(outbuf, "%ld %ld %ld", &pid, &pgrp, &sid) == 3);
  CHECK(pgrp == (long)getpgrp());
}

static void test_signals_reset(void) {
  struct sigaction sa = {.sa_handler = SIG_IGN}, old;
  sigaction(SIGPIPE, &sa, &old);
  sigset_t set, oldset;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, &oldset);
  char *argv[] = {"grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status", NULL};
  nw_spawn_options_t o = {.file = "grep", .argv = argv, .flags = NW_SPAWN_SEARCH_PATH};
  int code, sig;
  REQUIRE(run_capture(&o, &code, &sig) == 0);
  /* Nothing blocked, and no signal ignored except glibc's two internal
   * real-time signals (32, 33), which its posix_spawn always leaves ignored
   * in the child and which glibc programs set up again at start. */
  unsigned long long blk = 1, ign = 1;
  REQUIRE(sscanf(outbuf, "SigBlk:\t%llx\nSigIgn:\t%llx", &blk, &ign) == 2);
  CHECK_EQ(blk, 0);
  CHECK_EQ(ign & ~0x180000000ULL, 0);
  pthread_sigmask(SIG_SETMASK, &oldset, NULL);
  sigaction(SIGPIPE, &old, NULL);
}

static void test_kill_and_reap(void) {
  char *argv[] = {"sleep", "30", NULL};
  nw_spawn_options_t o = {.file = "sleep", .argv = argv, .flags = NW_SPAWN_SEARCH_PATH};
  nw_child_t c;
  REQUIRE(nw_spawn(&o, &c) == 0);
  int code = 5, sig = 5;
  CHECK_EQ(nw_spawn_reap(&c, 0, &code, &sig), -EAGAIN);
  CHECK_EQ(nw_spawn_kill(&c, 0), 0);
  CHECK_EQ(nw_spawn_kill(&c, 99999), -EINVAL);
  CHECK_EQ(nw_spawn_kill(&c, SIGTERM), 0);
  struct pollfd pf = {.fd = c.pidfd, .events = POLLIN};
  CHECK_EQ(poll(&pf, 1, 10000), 1);
  CHECK_EQ(nw_spawn_kill(&c, SIGTERM), 0); /* a zombie still takes signals */
  CHECK_EQ(nw_spawn_reap(&c, 0, &code, &sig), 0);
  CHECK_EQ(code, -1);
  CHECK_EQ(sig, SIGTERM);
  CHECK_EQ(nw_spawn_kill(&c, SIGTERM), -ESRCH);
  nw_spawn_close(&c);
  no_zombies();
}

/* A child handed to a detached reaper is reaped without anyone waiting
 * for it here, and its pidfd is no longer ours. */
static void test_reap_detached(void) {
  char *argv[] = {"sh", "-c", "sleep 0.2", NULL};
  nw_spawn_options_t o = {.file = "/bin/sh", .argv = argv};
  nw_child_t c;
  REQUIRE(nw_spawn(&o, &c) == 0);
  pid_t pid = c.pid;
  int fd = c.pidfd;
  CHECK_EQ(nw_spawn_reap_detached(&c), 0);
  CHECK_EQ(c.pidfd, -1);
  CHECK_EQ(nw_spawn_reap_detached(&c), -EINVAL);
  /* Reaped once the child exits: no such child of ours any more. */
  int gone = 0;
  for (int i = 0; i < 2000 && !gone; i++) {
    siginfo_t si;
    errno = 0;
    gone = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1 && errno == ECHILD;
    if (!gone) usleep(5000);
  }
  CHECK(gone);
  for (int i = 0; i < 200 && fcntl(fd, F_GETFD) >= 0; i++) usleep(5000);
  CHECK(fcntl(fd, F_GETFD) == -1); /* the reaper closed the pidfd */
  no_zombies();
}

/* libuv's poll makes the pidfd O_NONBLOCK; a blocking reap still waits. */
static void test_blocking_reap_on_nonblocking_pidfd(void) {
  char *argv[] = {"sh", "-c", "sleep 0.1; exit 5", NULL};
  nw_spawn_options_t o = {.file = "/bin/sh", .argv = argv};
  nw_child_t c;
  REQUIRE(nw_spawn(&o, &c) == 0);
  fcntl(c.pidfd, F_SETFL, fcntl(c.pidfd, F_GETFL) | O_NONBLOCK);
  int code = 0, sig = 0;
  CHECK_EQ(nw_spawn_reap(&c, 0, &code, &sig), -EAGAIN);
  CHECK_EQ(nw_spawn_reap(&c, 1, &code, &sig), 0);
  CHECK_EQ(code, 5);
  nw_spawn_close(&c);
  no_zombies();
}

/* Reaping our child never consumes the status of another child. */
static void test_does_not_steal_other_children(void) {
  pid_t other;
  char *oargv[] = {"sh", "-c", "exit 42", NULL};
  REQUIRE(posix_spawn(&other, "/bin/sh", NULL, NULL, oargv, environ) == 0);
  char *argv[] = {"sh", "-c", "sleep 0.05; exit 3", NULL};
  nw_spawn_options_t o = {.file = "/bin/sh", .argv = argv};
  nw_child_t c;
  REQUIRE(nw_spawn(&o, &c) == 0);
  int code, sig;
  CHECK_EQ(nw_spawn_reap(&c, 1, &code, &sig), 0);
  CHECK_EQ(code, 3);
  nw_spawn_close(&c);
  int st = 0;
  CHECK_EQ(waitpid(other, &st, 0), other);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42);
  no_zombies();
}

static void test_credentials_helper(void) {
  char *argv[] = {"sh", "-c", "echo $(id -u) $(id -g) $(id -G)", NULL};
  nw_spawn_options_t o = {.file = "/bin/sh", .argv = argv, .helper = helper_path(),
                          .flags = NW_SPAWN_SETUID | NW_SPAWN_SETGID,
                          .uid = 65534, .gid = 65534};
  int code, sig;
  if (geteuid() == 0) {
    REQUIRE(run_capture(&o, &code, &sig) == 0);
    CHECK(strcmp(outbuf, "65534 65534 65534\n") == 0);
  } else {
    o.fds = NULL;
    CHECK_EQ(run_capture(&o, &code, &sig), -EPERM);
  }
  /* The real program's exec error comes back through the helper. */
  char *argv2[] = {"x", NULL};
  nw_spawn_options_t o2 = {.file = "/nonexistent/prog", .argv = argv2,
                           .helper = helper_path(), .flags = NW_SPAWN_SETGID,
                           .gid = getegid()};
  nw_child_t c;
  CHECK_EQ(nw_spawn(&o2, &c), -ENOENT);
  o2.helper = "/nonexistent/helper";
  CHECK_EQ(nw_spawn(&o2, &c), -ENOENT);
  no_zombies();
}

static void test_no_fd_leak(void) {
  int before = count_fds();
  for (int i = 0; i < 200; i++) {
    char *argv[] = {"true", NULL};
    nw_spawn_options_t o = {.file = "/bin/true", .argv = argv,
                            .flags = NW_SPAWN_CLOSEFROM};
    int fds[3] = {NW_SPAWN_FD_DEVNULL, NW_SPAWN_FD_DEVNULL, NW_SPAWN_FD_DEVNULL};
    o.fds = fds;
    o.nfds = 3;
    nw_child_t c;
    REQUIRE(nw_spawn(&o, &c) == 0);
    int code, sig;
    CHECK_EQ(nw_spawn_reap(&c, 1, &code, &sig), 0);
    nw_spawn_close(&c);
    o.file = "/nonexistent";
    CHECK_EQ(nw_spawn(&o, &c), -ENOENT);
  }
  CHECK_EQ(count_fds(), before);
  no_zombies();
}

static nw_spawn_sync_options_t sync_opts(char **argv, int *fds) {
  nw_spawn_sync_options_t so = {0};
  so.spawn.file = argv[0];
  so.spawn.argv = argv;
  so.spawn.fds = fds;
  so.spawn.nfds = 3;
  so.spawn.flags = NW_SPAWN_SEARCH_PATH | NW_SPAWN_CLOSEFROM;
  so.kill_signal = SIGTERM;
  return so;
}

static void test_sync_basic(void) {
  signal(SIGPIPE, SIG_IGN);
  int fds[3] = {NW_SPAWN_FD_PIPE, NW_SPAWN_FD_PIPE, NW_SPAWN_FD_PIPE};
  char *argv[] = {"sh", "-c", "cat; echo err >&2; exit 4", NULL};
  nw_spawn_sync_options_t so = sync_opts(argv, fds);
  so.input = "hello input";
  so.input_len = 11;
  nw_spawn_sync_result_t r;
  REQUIRE(nw_spawn_sync(&so, &r) == 0);
  CHECK_EQ(r.error, 0);
  CHECK(r.pid > 0);
  CHECK_EQ(r.exit_code, 4);
  CHECK_EQ(r.term_signal, 0);
  CHECK(r.out[0].data == NULL);
  CHECK(r.out[1].len == 11 && memcmp(r.out[1].data, "hello input", 11) == 0);
  CHECK(r.out[2].len == 4 && memcmp(r.out[2].data, "err\n", 4) == 0);
  nw_spawn_sync_free(&r);

  /* A pipe with no output still yields an empty buffer. */
  char *argv2[] = {"true", NULL};
  so = sync_opts(argv2, fds);
  REQUIRE(nw_spawn_sync(&so, &r) == 0);
  CHECK(r.out[1].data != NULL && r.out[1].len == 0);
  nw_spawn_sync_free(&r);

  /* Large output, and input the child never reads. */
  char *argv3[] = {"head", "-c", "8388608", "/dev/zero", NULL};
  so = sync_opts(argv3, fds);
  static char big[1 << 20];
  so.input = big;
  so.input_len = sizeof big;
  REQUIRE(nw_spawn_sync(&so, &r) == 0);
  CHECK_EQ(r.exit_code, 0);
  CHECK_EQ(r.error, -EPIPE);
  CHECK_EQ(r.out[1].len, 8388608);
  nw_spawn_sync_free(&r);

  char *argv4[] = {"no-such-program-anywhere", NULL};
  so = sync_opts(argv4, fds);
  REQUIRE(nw_spawn_sync(&so, &r) == 0);
  CHECK_EQ(r.error, -ENOENT);
  CHECK_EQ(r.pid, 0);
  nw_spawn_sync_free(&r);
  no_zombies();
}

static void test_sync_timeout_and_maxbuffer(void) {
  int fds[3] = {NW_SPAWN_FD_DEVNULL, NW_SPAWN_FD_PIPE, NW_SPAWN_FD_PIPE};
  char *argv[] = {"sleep", "30", NULL};
  nw_spawn_sync_options_t so = sync_opts(argv, fds);
  so.timeout_ms = 100;
  nw_spawn_sync_result_t r;
  REQUIRE(nw_spawn_sync(&so, &r) == 0);
  CHECK_EQ(r.error, -ETIMEDOUT);
  CHECK_EQ(r.term_signal, SIGTERM);
  CHECK_EQ(r.exit_code, -1);
  nw_spawn_sync_free(&r);

  char *argv2[] = {"yes", NULL};
  so = sync_opts(argv2, fds);
  so.max_buffer = 1000;
  so.kill_signal = SIGKILL;
  REQUIRE(nw_spawn_sync(&so, &r) == 0);
  CHECK_EQ(r.error, -ENOBUFS);
  CHECK_EQ(r.term_signal, SIGKILL);
  CHECK(r.out[1].len > 1000 && r.out[1].len <= 1000 + 65536);
  nw_spawn_sync_free(&r);

  /* The limit counts stdout and stderr together. */
  char *argv3[] = {"sh", "-c", "head -c 600 /dev/zero; head -c 600 /dev/zero >&2; sleep 30", NULL};
  so = sync_opts(argv3, fds);
  so.max_buffer = 1000;
  REQUIRE(nw_spawn_sync(&so, &r) == 0);
  CHECK_EQ(r.error, -ENOBUFS);
  CHECK_EQ(r.term_signal, SIGTERM);
  CHECK_EQ(r.out[1].len + r.out[2].len, 1200);
  nw_spawn_sync_free(&r);

  so.kill_signal = -1;
  CHECK_EQ(nw_spawn_sync(&so, &r), -EINVAL);
  nw_spawn_sync_free(&r);
  no_zombies();
}

TEST_MAIN(T(test_true_and_exit_code), T(test_exec_errors), T(test_script_without_shebang),
          T(test_bad_arguments),
          T(test_fd_permutation), T(test_closefrom_and_inherit), T(test_stdio_made_blocking),
          T(test_cwd_env_argv0), T(test_session_and_group), T(test_signals_reset),
          T(test_kill_and_reap), T(test_reap_detached), T(test_blocking_reap_on_nonblocking_pidfd),
          T(test_does_not_steal_other_children),
          T(test_credentials_helper), T(test_no_fd_leak), T(test_sync_basic),
          T(test_sync_timeout_and_maxbuffer))
