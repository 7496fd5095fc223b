/* Unit tests of src/core/fdpass.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/fdpass.h"
#include "testing.h"

/* Whether `fd` is an open descriptor. */
static int is_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

/* Node's IPC framing of handles: bytes and a descriptor in one sendmsg,
 * taken together by one recvmsg; the descriptor arrives O_CLOEXEC and is a
 * working duplicate. */
static void test_send_recv(void) {
  int sv[2], p[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  char buf[64];
  int fds[2], nfds = -1;
  CHECK_EQ(nw_fdpass_recv(sv[1], buf, sizeof buf, fds, 2, &nfds), -EAGAIN);
  CHECK_EQ(nfds, 0);
  CHECK_EQ(nw_fdpass_send(sv[0], "plain\n", 6, p[1]), 6);
  CHECK_EQ(nw_fdpass_recv(sv[1], buf, sizeof buf, fds, 2, &nfds), 6);
  REQUIRE(nfds == 1);
  CHECK(memcmp(buf, "plain\n", 6) == 0);
  CHECK(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
  CHECK(write(fds[0], "x", 1) == 1);
  CHECK(read(p[0], buf, 1) == 1 && buf[0] == 'x');
  close(fds[0]);
  close(sv[0]);
  CHECK_EQ(nw_fdpass_recv(sv[1], buf, sizeof buf, fds, 2, &nfds), 0);
  CHECK_EQ(nfds, 0);
  close(sv[1]);
  close(p[0]);
  close(p[1]);
}

/* Open descriptors of this process. */
static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (readdir(d)) n++;
  closedir(d);
  return n;
}

/* Descriptors beyond `max` are closed on receipt, not leaked. */
static void test_extra_descriptors_closed(void) {
  int sv[2], p[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  char buf[8];
  int fd = -1, nfds = -1;
  int before = count_fds();
  CHECK_EQ(nw_fdpass_send(sv[0], "y", 1, p[1]), 1);
  CHECK_EQ(nw_fdpass_recv(sv[1], buf, sizeof buf, &fd, 0, &nfds), 1);
  CHECK_EQ(nfds, 0);
  CHECK_EQ(count_fds(), before);
  CHECK_EQ(nw_fdpass_send(sv[0], "z", 1, p[1]), 1);
  CHECK_EQ(nw_fdpass_recv(sv[1], buf, sizeof buf, &fd, 1, &nfds), 1);
  REQUIRE(nfds == 1);
  CHECK_EQ(count_fds(), before + 1);
  close(fd);
  close(sv[0]);
  close(sv[1]);
  close(p[0]);
  close(p[1]);
}

/* Several messages with descriptors come back one message per call, in
 * order, each with its own descriptor. */
static void test_order(void) {
  int sv[2], p[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  for (char c = 'a'; c <= 'e'; c++) CHECK_EQ(nw_fdpass_send(sv[0], &c, 1, p[1]), 1);
  for (char c = 'a'; c <= 'e'; c++) {
    char got = 0;
    int fd = -1, nfds = 0;
    CHECK_EQ(nw_fdpass_recv(sv[1], &got, 1, &fd, 1, &nfds), 1);
    CHECK_EQ(got, c);
    CHECK_EQ(nfds, 1);
    if (nfds) {
      CHECK(is_open(fd));
      close(fd);
    }
  }
  close(sv[0]);
  close(sv[1]);
  close(p[0]);
  close(p[1]);
}

/* A full socket answers -EAGAIN without blocking; a closed peer -EPIPE. */
static void test_full_and_gone(void) {
  int sv[2], p[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  int small = 4096;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  static char chunk[65536];
  long n;
  int rounds = 0;
  while ((n = nw_fdpass_send(sv[0], chunk, sizeof chunk, p[1])) > 0 && rounds < 10000) rounds++;
  CHECK_EQ(n, -EAGAIN);
  close(sv[1]);
  CHECK_EQ(nw_fdpass_send(sv[0], "x", 1, p[1]), -EPIPE);
  close(sv[0]);
  close(p[0]);
  close(p[1]);
}

static void test_bad_arguments(void) {
  int sv[2], p[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  char buf[4];
  int fds[1], nfds = -1;
  CHECK_EQ(nw_fdpass_send(-1, "y", 1, p[1]), -EINVAL);
  CHECK_EQ(nw_fdpass_send(sv[0], "y", 0, p[1]), -EINVAL);
  CHECK_EQ(nw_fdpass_send(sv[0], NULL, 1, p[1]), -EINVAL);
  CHECK_EQ(nw_fdpass_send(sv[0], "y", 1, -1), -EINVAL);
  CHECK_EQ(nw_fdpass_send(sv[0], "y", 1, 1000000), -EBADF);
  CHECK_EQ(nw_fdpass_recv(sv[1], NULL, 1, fds, 1, &nfds), -EINVAL);
  CHECK_EQ(nfds, 0);
  CHECK_EQ(nw_fdpass_recv(sv[1], buf, 0, fds, 1, &nfds), -EINVAL);
  CHECK_EQ(nw_fdpass_recv(sv[1], buf, sizeof buf, NULL, 1, &nfds), -EINVAL);
  CHECK_EQ(nw_fdpass_recv(sv[1], buf, sizeof buf, fds, 1, NULL), -EINVAL);
  CHECK_EQ(nw_fdpass_recv(-1, buf, sizeof buf, fds, 1, &nfds), -EINVAL);
  /* Not a socket. */
  CHECK_EQ(nw_fdpass_send(p[1], "y", 1, p[1]), -ENOTSOCK);
  CHECK_EQ(nw_fdpass_recv(p[0], buf, sizeof buf, fds, 1, &nfds), -ENOTSOCK);
  close(sv[0]);
  close(sv[1]);
  close(p[0]);
  close(p[1]);
}

TEST_MAIN(T(test_send_recv), T(test_extra_descriptors_closed), T(test_order),
          T(test_full_and_gone), T(test_bad_arguments))
