/*
 * fdpass.c - SCM_RIGHTS over a unix stream socket (see fdpass.h).
 */
#include "core/fdpass.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Control-message room for NW_FDPASS_MAX descriptors, aligned for cmsghdr. */
typedef union {
  struct cmsghdr align;
  char space[CMSG_SPACE(sizeof(int) * NW_FDPASS_MAX)];
} control_t;

/* Any thread. */
long nw_fdpass_send(int sock, const void *buf, size_t len, int fd) {
  if (sock < 0 || fd < 0 || buf == NULL || len == 0) return -EINVAL;
  struct iovec iov = {(void *)buf, len};
  control_t cbuf;
  memset(&cbuf, 0, sizeof cbuf);
  struct msghdr mh = {0};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = cbuf.space;
  mh.msg_controllen = CMSG_SPACE(sizeof(int));
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  for (;;) {
    ssize_t n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return (long)n;
    if (errno == EINTR) continue;
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
}

/* Any thread. Every descriptor a message carries is either handed to the
 * caller or closed here, also when the control buffer was too small for
 * them (the kernel then closes the ones that did not fit). */
long nw_fdpass_recv(int sock, void *buf, size_t len, int *fds, int max,
                    int *nfds) {
  if (nfds) *nfds = 0;
  if (sock < 0 || buf == NULL || len == 0 || (max > 0 && fds == NULL) || nfds == NULL)
    return -EINVAL;
  if (max > NW_FDPASS_MAX) max = NW_FDPASS_MAX;
  struct iovec iov = {buf, len};
  control_t cbuf;
  struct msghdr mh;
  ssize_t n;
  for (;;) {
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf.space;
    mh.msg_controllen = sizeof cbuf.space;
    n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int got;
      memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
      if (*nfds < max) fds[(*nfds)++] = got;
      else close(got);
    }
  }
  return (long)n;
}
