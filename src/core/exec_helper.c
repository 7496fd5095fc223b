/*
 * exec_helper.c - the small program nw_spawn starts when a child must run
 * with another uid or gid, which posix_spawn cannot do.
 *
 *   nw_exec_helper <errfd> <flags> <uid> <gid> <path> <argv0> [args...]
 *
 * It runs in the child after posix_spawn has placed the descriptors, changed
 * directory and reset signals; the environment it was given is the child's.
 * It drops supplementary groups (best effort: that needs privilege), calls
 * setgid and setuid as `flags` asks (NW_SPAWN_SETGID / NW_SPAWN_SETUID) and
 * execve's `path`. On any failure it writes the errno as one native int to
 * <errfd> and exits 127; on success <errfd>, marked close-on-exec here, is
 * closed by the exec, and the parent reads end of file.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/spawn.h"

extern char **environ;

/* Report errno `err` to the parent on `fd` and end with 127, as a child
 * whose exec failed does. Never returns. */
static void fail(int fd, int err) {
  ssize_t n;
  do n = write(fd, &err, sizeof err);
  while (n < 0 && errno == EINTR);
  _exit(127);
}

/* The helper's only thread, in the child. Returns only for bad
 * arguments (127); otherwise it execs or fails(). */
int main(int argc, char **argv) {
  if (argc < 7) return 127;
  int fd = atoi(argv[1]);
  unsigned flags = (unsigned)strtoul(argv[2], NULL, 10);
  uid_t uid = (uid_t)strtoul(argv[3], NULL, 10);
  gid_t gid = (gid_t)strtoul(argv[4], NULL, 10);
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) _exit(127);
  /* Without this a process that drops from root keeps root's groups. It
   * fails without privilege, which is harmless then. */
  (void)setgroups(0, NULL);
  if ((flags & NW_SPAWN_SETGID) && setgid(gid) != 0) fail(fd, errno);
  if ((flags & NW_SPAWN_SETUID) && setuid(uid) != 0) fail(fd, errno);
  execve(argv[5], argv + 6, environ);
  if (errno == ENOEXEC) {
    /* No #! line: run it with /bin/sh, as execvp does. argv[5] is the
     * path and argv[6] the program's argv[0]; reuse argv[5..] in place. */
    char **sh = argv + 4;
    sh[0] = "/bin/sh";
    sh[1] = argv[5];
    memmove(sh + 2, argv + 7, (size_t)(argc - 7 + 1) * sizeof *argv);
    execve("/bin/sh", sh, environ);
  }
  fail(fd, errno);
  return 127;
}
