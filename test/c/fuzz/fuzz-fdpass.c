/*
 * libFuzzer target: nw_fdpass_recv (src/core/fdpass.c) reading what a peer
 * sent on a unix stream socket: bytes, and messages carrying any number of
 * descriptors, more than NW_FDPASS_MAX included.
 *
 * Input (see gen-corpus.c): records of [flags, count, bytes...]:
 *   flags & 31   descriptors attached to this message (dups of /dev/null)
 *   count        payload bytes of this message (taken from the input)
 * then, reading: each received message is read with a buffer size and a
 * descriptor limit taken from the record's flags and count. Every
 * descriptor handed back must be open and is closed; at the end the lowest
 * free descriptor number must be where it was (none leaked, none closed
 * twice).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/fdpass.h"

#define MAX_ATTACH 31

static int lowest_free_fd(void) {
  int fd = dup(0);
  if (fd >= 0) close(fd);
  return fd;
}

/* One sendmsg of p[0, len) with `nfd` copies of `fd` attached. */
static long send_with_fds(int sock, const uint8_t *p, size_t len, int fd, int nfd) {
  union {
    struct cmsghdr align;
    char space[CMSG_SPACE(sizeof(int) * MAX_ATTACH)];
  } cbuf;
  uint8_t one = 0;
  struct iovec iov = {len ? (void *)p : &one, len ? len : 1};
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  memset(&cbuf, 0, sizeof cbuf);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (nfd > 0) {
    mh.msg_control = cbuf.space;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfd);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfd);
    for (int i = 0; i < nfd; i++) memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof fd);
  }
  return sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n) {
  int mark = lowest_free_fd();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 0;
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const uint8_t *p = in;
  size_t left = n;
  int sent = 0;
  while (left >= 2 && sent < 64) {
    int nfd = p[0] & 31;
    size_t len = p[1];
    p += 2;
    left -= 2;
    if (len > left) len = left;
    if (send_with_fds(sv[0], p, len, devnull, nfd) < 0) break;
    p += len;
    left -= len;
    sent++;
  }
  if (n && (in[0] & 0x80)) shutdown(sv[0], SHUT_WR); /* end of file after it */
  /* Read it back with limits from the input. */
  static uint8_t buf[512];
  for (size_t i = 0; i < 256; i++) {
    uint8_t a = n ? in[i % n] : 0, b = n ? in[(i * 7 + 1) % n] : 1;
    int fds[NW_FDPASS_MAX], nfds = -1;
    int max = a % (NW_FDPASS_MAX + 4);
    size_t size = 1 + (size_t)b * 2;
    long got = nw_fdpass_recv(sv[1], buf, size, fds, max, &nfds);
    if (nfds < 0 || nfds > max || nfds > NW_FDPASS_MAX) abort();
    for (int k = 0; k < nfds; k++) {
      if (fcntl(fds[k], F_GETFD) < 0 || !(fcntl(fds[k], F_GETFD) & FD_CLOEXEC)) abort();
      close(fds[k]);
    }
    if (got <= 0) break;
    if ((size_t)got > size) abort();
  }
  /* Argument checks. */
  int nfds;
  if (nw_fdpass_recv(-1, buf, 1, NULL, 0, &nfds) != -EINVAL) abort();
  if (nw_fdpass_recv(sv[1], buf, 0, NULL, 0, &nfds) != -EINVAL) abort();
  close(sv[0]);
  close(sv[1]);
  if (devnull >= 0) close(devnull);
  if (lowest_free_fd() != mark) {
    fprintf(stderr, "descriptor leak: lowest free fd %d, was %d\n", lowest_free_fd(), mark);
    abort();
  }
  return 0;
}
