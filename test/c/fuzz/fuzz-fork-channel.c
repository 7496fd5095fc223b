/*
 * libFuzzer target: a fork channel whose shared region and socket a peer
 * wrote (src/core/fork_channel.c, and the rings in it).
 *
 * Input (see gen-corpus.c):
 *   byte 0        ring capacity: 64 << (b % 6)
 *   byte 1        messages the creator (side 0) sends first, b % 16
 *   byte 2        patches, b % 32, each 6 bytes: a little-endian u16 word
 *                 index into the region (mod its size) and the u32 stored
 *                 there, as a peer scribbling over the region would
 *   then          socket bytes the creator writes: 'F' goes with a
 *                 descriptor attached, anything else alone
 * Side 1 then attaches (validating the sealed region), drains the socket,
 * takes the descriptors, reads its ring, sends and waits with no timeout;
 * nw_fork_channel_recv_fd_raw reads the same socket bytes on a fresh pair.
 * Every descriptor is closed again: the target checks that the lowest free
 * descriptor number is back where it was, so a leak is a finding too.
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
#include "core/fork_channel.h"

/* The lowest free descriptor number. */
static int lowest_free_fd(void) {
  int fd = dup(0);
  if (fd >= 0) close(fd);
  return fd;
}

/* Write the socket bytes: 'F' with a descriptor (of /dev/null), others as
 * they are. Stops when the socket is full. */
static void send_bytes(int sock, const uint8_t *p, size_t n) {
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  for (size_t i = 0; i < n; i++) {
    long rc;
    if (p[i] == NW_FORK_CHANNEL_BYTE_FD && devnull >= 0)
      rc = nw_fdpass_send(sock, &p[i], 1, devnull);
    else
      rc = send(sock, &p[i], 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (rc <= 0) break;
  }
  if (devnull >= 0) close(devnull);
}

static void exercise(nw_fork_channel_t *ch) {
  static uint8_t buf[4096];
  uint32_t len;
  ch->in.spin_ns = ch->out.spin_ns = 0;
  nw_fork_channel_drain_socket(ch);
  for (int fd; (fd = nw_fork_channel_take_fd(ch)) >= 0;) close(fd);
  for (int i = 0; i < 20; i++)
    if (nw_ring_try_read(&ch->in, buf, sizeof buf, &len) != 0) break;
  nw_fork_channel_try_send(ch, "reply", 5);
  nw_fork_channel_wait(ch, false, 0, 0);
  nw_fork_channel_wait(ch, true, 64, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n) {
  if (n < 3) return 0;
  int fd_mark = lowest_free_fd();
  uint32_t cap = 64u << (in[0] % 6);
  unsigned msgs = in[1] % 16, patches = in[2] % 32;
  in += 3;
  n -= 3;
  if (n < (size_t)patches * 6) patches = (unsigned)(n / 6);

  nw_fork_channel_t parent, child;
  int memfd = -1, peer = -1;
  if (nw_fork_channel_create(&parent, cap, &memfd, &peer) != 0) return 0;
  for (unsigned i = 0; i < msgs; i++) {
    char m[32];
    int l = snprintf(m, sizeof m, "message %u", i);
    nw_fork_channel_try_send(&parent, m, (uint32_t)l);
  }
  uint32_t words = (uint32_t)(parent.size / 4);
  for (unsigned i = 0; i < patches; i++, in += 6, n -= 6) {
    uint32_t at = (uint32_t)(in[0] | in[1] << 8) % words, v;
    memcpy(&v, in + 2, 4);
    __atomic_store_n(&parent.hdr[at], v, __ATOMIC_SEQ_CST);
  }
  send_bytes(parent.sock, in, n);

  int sock = dup(peer);
  if (sock >= 0) {
    if (nw_fork_channel_attach(&child, memfd, sock, 1) == 0) {
      exercise(&child);
      nw_fork_channel_close(&child);
      nw_fork_channel_unmap(&child);
    } else {
      close(sock);
    }
  }
  /* The same bytes as the first thing a child reads. */
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
    send_bytes(sv[0], in, n > 8 ? 8 : n);
    close(sv[0]);
    int fd = nw_fork_channel_recv_fd_raw(sv[1], 0);
    if (fd >= 0) close(fd);
    close(sv[1]);
  }
  close(peer);
  close(memfd);
  nw_fork_channel_close(&parent);
  nw_fork_channel_unmap(&parent);
  if (lowest_free_fd() != fd_mark) {
    fprintf(stderr, "descriptor leak: lowest free fd %d, was %d\n", lowest_free_fd(), fd_mark);
    abort();
  }
  return 0;
}
