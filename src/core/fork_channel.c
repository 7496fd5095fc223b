/*
 * fork_channel.c - the channel between a parent and the child it forked: a
 * sealed memfd with two rings, and a socketpair for wakeups, descriptors
 * and the peer's death (fork_channel.h).
 */
#include "core/fork_channel.h"

#include "core/fdpass.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOAD_SC(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE_SC(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

#define PAGE 4096u
#define REQUIRED_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* Bytes of region one ring of `capacity` occupies, whole pages; 0 for a
 * capacity out of range. */
static size_t ring_bytes(uint32_t capacity) {
  uint32_t cap = nw_ring_round_capacity(capacity);
  if (cap == 0) return 0;
  size_t n = nw_ring_required_size(cap);
  return (n + PAGE - 1) & ~(size_t)(PAGE - 1);
}

/* Any thread; no state. */
size_t nw_fork_channel_region_size(uint32_t capacity) {
  size_t rb = ring_bytes(capacity);
  return rb ? NW_FORK_CHANNEL_HEADER_SIZE + 2 * rb : 0;
}

/* Attach this side's two ring handles to a region whose header was just
 * formatted or validated, so the attaches cannot fail. */
static void bind_rings(nw_fork_channel_t *ch, int side) {
  const uint32_t *h = ch->hdr;
  uint8_t *r0 = ch->mem + h[NW_FCW_RING0], *r1 = ch->mem + h[NW_FCW_RING1];
  ch->side = side;
  nw_ring_attach(side == 0 ? &ch->out : &ch->in, r0, h[NW_FCW_RING_SIZE]);
  nw_ring_attach(side == 0 ? &ch->in : &ch->out, r1, h[NW_FCW_RING_SIZE]);
}

/* An empty handle: nothing mapped, no socket. */
static void reset(nw_fork_channel_t *ch) {
  memset(ch, 0, sizeof *ch);
  ch->sock = -1;
}

/*
 * Any thread. On failure nothing is left open or mapped.
 */
int nw_fork_channel_create(nw_fork_channel_t *ch, uint32_t capacity, int *memfd,
                      int *peer_sock) {
  if (!ch || !memfd || !peer_sock) return -EINVAL;
  reset(ch);
  size_t rb = ring_bytes(capacity);
  if (rb == 0 || capacity < NW_RING_MIN_CAPACITY) return -EINVAL;
  size_t size = NW_FORK_CHANNEL_HEADER_SIZE + 2 * rb;
  int rc, fd = -1, sv[2] = {-1, -1};
  void *mem = MAP_FAILED;

  fd = memfd_create("native-workers-channel", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -errno;
  if (ftruncate(fd, (off_t)size) != 0 ||
      fcntl(fd, F_ADD_SEALS, REQUIRED_SEALS) != 0) {
    rc = -errno;
    goto fail;
  }
  mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) {
    rc = -errno;
    goto fail;
  }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    rc = -errno;
    goto fail;
  }
  if (fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0) {
    rc = -errno;
    goto fail;
  }
  uint32_t *h = mem;
  uint32_t cap = nw_ring_round_capacity(capacity);
  nw_ring_t tmp;
  rc = nw_ring_init(&tmp, (uint8_t *)mem + NW_FORK_CHANNEL_HEADER_SIZE, rb, cap, 0);
  if (rc == 0)
    rc = nw_ring_init(&tmp, (uint8_t *)mem + NW_FORK_CHANNEL_HEADER_SIZE + rb, rb,
                      cap, 0);
  if (rc) goto fail;
  h[NW_FCW_VERSION] = NW_FORK_CHANNEL_VERSION;
  h[NW_FCW_RING_SIZE] = (uint32_t)rb;
  h[NW_FCW_RING0] = NW_FORK_CHANNEL_HEADER_SIZE;
  h[NW_FCW_RING1] = (uint32_t)(NW_FORK_CHANNEL_HEADER_SIZE + rb);
  h[NW_FCW_SIZE] = (uint32_t)size;
  STORE_SC(&h[NW_FCW_MAGIC], NW_FORK_CHANNEL_MAGIC);

  ch->mem = mem;
  ch->size = size;
  ch->hdr = h;
  ch->sock = sv[0];
  bind_rings(ch, 0);
  *memfd = fd;
  *peer_sock = sv[1];
  return 0;

fail:
  if (mem != MAP_FAILED) munmap(mem, size);
  if (fd >= 0) close(fd);
  if (sv[0] >= 0) close(sv[0]);
  if (sv[1] >= 0) close(sv[1]);
  return rc;
}

/* Any thread. */
int nw_fork_channel_create_for_child(nw_fork_channel_t *ch, uint32_t capacity,
                                     int *peer_sock) {
  int memfd = -1, peer = -1;
  if (!peer_sock) return -EINVAL;
  int rc = nw_fork_channel_create(ch, capacity, &memfd, &peer);
  if (rc) return rc;
  rc = nw_fork_channel_send_fd(ch, memfd);
  close(memfd);
  if (rc) {
    close(peer);
    nw_fork_channel_close(ch);
    nw_fork_channel_unmap(ch);
    return rc;
  }
  *peer_sock = peer;
  return 0;
}

/*
 * Any thread. Trusts nothing in the region: every offset is checked
 * against the sealed size before a ring is attached.
 */
int nw_fork_channel_attach(nw_fork_channel_t *ch, int memfd, int sock, int side) {
  if (!ch || memfd < 0 || sock < 0 || (side != 0 && side != 1)) return -EINVAL;
  reset(ch);
  int seals = fcntl(memfd, F_GET_SEALS);
  if (seals < 0) return errno == EINVAL ? -EINVAL : -errno;
  if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
    return -EINVAL;
  struct stat st;
  if (fstat(memfd, &st) != 0) return -errno;
  if (st.st_size < (off_t)(NW_FORK_CHANNEL_HEADER_SIZE + 2 * PAGE) ||
      st.st_size > (off_t)(NW_FORK_CHANNEL_HEADER_SIZE + 2 * (size_t)NW_RING_MAX_CAPACITY +
                           2 * PAGE))
    return -EINVAL;
  size_t size = (size_t)st.st_size;
  int type = 0;
  socklen_t tl = sizeof type;
  if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &tl) != 0)
    return errno == ENOTSOCK ? -EINVAL : -errno;
  if (type != SOCK_STREAM) return -EINVAL;
  void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  if (mem == MAP_FAILED) return -errno;
  uint32_t *h = mem;
  uint32_t rs = h[NW_FCW_RING_SIZE], r0 = h[NW_FCW_RING0], r1 = h[NW_FCW_RING1];
  nw_ring_t tmp;
  if (LOAD_SC(&h[NW_FCW_MAGIC]) != NW_FORK_CHANNEL_MAGIC ||
      h[NW_FCW_VERSION] != NW_FORK_CHANNEL_VERSION || h[NW_FCW_SIZE] != size ||
      r0 != NW_FORK_CHANNEL_HEADER_SIZE || r1 != r0 + rs ||
      (size_t)r1 + rs > size || rs % PAGE != 0 ||
      nw_ring_attach(&tmp, (uint8_t *)mem + r0, rs) != 0 || tmp.flags != 0 ||
      nw_ring_attach(&tmp, (uint8_t *)mem + r1, rs) != 0 || tmp.flags != 0) {
    munmap(mem, size);
    return -EINVAL;
  }
  if (fcntl(sock, F_SETFD, FD_CLOEXEC) != 0 ||
      fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK) != 0) {
    int rc = -errno;
    munmap(mem, size);
    return rc;
  }
  ch->mem = mem;
  ch->size = size;
  ch->hdr = h;
  ch->sock = sock;
  bind_rings(ch, side);
  return 0;
}

/* Owner thread. The store and the load need no order between them: the
 * words are hints, and either side reading an old value only polls (or
 * sleeps) once when it should not have. */
bool nw_fork_channel_same_cpu(nw_fork_channel_t *ch) {
  int cpu = sched_getcpu();
  uint32_t mine = cpu >= 0 ? (uint32_t)cpu + 1u : 0u;
  __atomic_store_n(&ch->hdr[nw_fork_channel_cpu_word(ch->side)], mine,
                   __ATOMIC_RELAXED);
  uint32_t peer = __atomic_load_n(&ch->hdr[nw_fork_channel_cpu_word(1 - ch->side)],
                                  __ATOMIC_RELAXED);
  return mine != 0 && peer == mine;
}

/* Owner thread. A full socket is success: the peer has bytes to read and
 * wakes anyway. */
int nw_fork_channel_kick(nw_fork_channel_t *ch) {
  if (ch->sock < 0) return -EPIPE;
  char b = NW_FORK_CHANNEL_BYTE_WAKE;
  for (;;) {
    ssize_t n = send(ch->sock, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == 1) return 0;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return n < 0 ? -errno : -EIO;
  }
}

/* Owner thread. The compare-and-swap makes sure one byte at most is
 * written per sleep of the peer, however many writers see the flag. */
int nw_fork_channel_notify(nw_fork_channel_t *ch, int flag) {
  uint32_t *w = &ch->hdr[flag];
  if (LOAD_SC(w) == 0) return 0;
  uint32_t one = 1;
  if (!__atomic_compare_exchange_n(w, &one, 0, false, __ATOMIC_SEQ_CST,
                                   __ATOMIC_SEQ_CST))
    return 0;
  int rc = nw_fork_channel_kick(ch);
  return rc ? rc : 1;
}

/* Keep a received descriptor for nw_fork_channel_take_fd, or close it
 * (and set *rc to -EMFILE) when NW_FORK_CHANNEL_MAX_FDS are waiting. */
static void queue_fd(nw_fork_channel_t *ch, int fd, int *rc) {
  if (ch->nfds < NW_FORK_CHANNEL_MAX_FDS) {
    ch->fds[ch->nfds++] = fd;
  } else {
    close(fd);
    *rc = -EMFILE;
  }
}

/* Owner thread. */
int nw_fork_channel_drain_socket(nw_fork_channel_t *ch) {
  int rc = 0;
  while (ch->sock >= 0 && !ch->eof) {
    char buf[256];
    int fds[NW_FDPASS_MAX], nfds = 0;
    long n = nw_fdpass_recv(ch->sock, buf, sizeof buf, fds, NW_FDPASS_MAX, &nfds);
    for (int i = 0; i < nfds; i++) queue_fd(ch, fds[i], &rc);
    if (n == -EAGAIN) break;
    if (n == 0 || n == -ECONNRESET) {
      ch->eof = true;
      break;
    }
    if (n < 0) return (int)n;
  }
  return rc;
}

/* Owner thread. */
int nw_fork_channel_send_fd(nw_fork_channel_t *ch, int fd) {
  if (ch->sock < 0) return -EPIPE;
  if (fd < 0) return -EBADF;
  char b = NW_FORK_CHANNEL_BYTE_FD;
  for (;;) {
    long n = nw_fdpass_send(ch->sock, &b, 1, fd);
    if (n == 1) return 0;
    if (n == -EAGAIN) {
      /* Blocking in effect: a descriptor must not be dropped because the
       * socket buffer is momentarily full of wakeup bytes. */
      struct pollfd p = {ch->sock, POLLOUT, 0};
      poll(&p, 1, 100);
      continue;
    }
    return n < 0 ? (int)n : -EIO;
  }
}

/* Any thread. */
int nw_fork_channel_recv_fd_raw(int sock, int timeout_ms) {
  if (sock < 0) return -EBADF;
  for (;;) {
    char b;
    int fd = -1, nfds = 0;
    long n = nw_fdpass_recv(sock, &b, 1, &fd, 1, &nfds);
    if (n == -EAGAIN) {
      struct pollfd p = {sock, POLLIN, 0};
      int r = poll(&p, 1, timeout_ms);
      if (r == 0) return -ETIMEDOUT;
      if (r < 0 && errno != EINTR) return -errno;
      continue;
    }
    if (n < 0) return (int)n;
    if (n == 0) return -EPIPE;
    if (nfds == 0 || b != NW_FORK_CHANNEL_BYTE_FD) {
      if (nfds) close(fd);
      return -EBADMSG;
    }
    return fd;
  }
}

/* Owner thread. The descriptor becomes the caller's. */
int nw_fork_channel_take_fd(nw_fork_channel_t *ch) {
  if (ch->nfds == 0) nw_fork_channel_drain_socket(ch);
  if (ch->nfds == 0) return (ch->eof || ch->sock < 0) ? -EPIPE : -EAGAIN;
  int fd = ch->fds[0];
  memmove(ch->fds, ch->fds + 1, (size_t)(ch->nfds - 1) * sizeof(int));
  ch->nfds--;
  return fd;
}

/* Owner thread (the channel's one producer of its outbound ring). */
int nw_fork_channel_try_send(nw_fork_channel_t *ch, const void *buf, uint32_t len) {
  int rc = nw_ring_try_write(&ch->out, buf, len);
  if (rc == 0) nw_fork_channel_notify(ch, nw_fork_channel_rd_flag(1 - ch->side));
  return rc;
}

/* Owner thread; blocks in poll(2) on the socket. The sleep flag goes up
 * only after old wakeup bytes are drained (see fork_channel.h). */
int nw_fork_channel_wait(nw_fork_channel_t *ch, bool want_write, uint32_t need,
                    int timeout_ms) {
  int flag = want_write ? nw_fork_channel_wr_flag(ch->side)
                        : nw_fork_channel_rd_flag(ch->side);
  int64_t deadline = timeout_ms < 0 ? -1 : nw_now_ns() + (int64_t)timeout_ms * 1000000;
  for (;;) {
    /* Consume old wakeup bytes before raising the flag: a byte the peer
     * writes after the flag goes up must stay for poll() to see. */
    nw_fork_channel_drain_socket(ch);
    STORE_SC(&ch->hdr[flag], 1u);
    bool ready = want_write ? nw_ring_writable(&ch->out, need)
                            : nw_ring_readable(&ch->in);
    if (ready) {
      STORE_SC(&ch->hdr[flag], 0u);
      return 0;
    }
    if (ch->eof || ch->sock < 0) {
      STORE_SC(&ch->hdr[flag], 0u);
      if (!want_write && nw_ring_readable(&ch->in)) return 0;
      return -EPIPE;
    }
    int wait = nw_poll_ms_until(deadline);
    if (wait == 0) {
      STORE_SC(&ch->hdr[flag], 0u);
      return -ETIMEDOUT;
    }
    struct pollfd p = {ch->sock, POLLIN, 0};
    if (poll(&p, 1, wait) < 0 && errno != EINTR) return -errno;
  }
}

/* Owner thread. Idempotent; the mapping stays for nw_fork_channel_unmap. */
void nw_fork_channel_close(nw_fork_channel_t *ch) {
  if (ch->sock >= 0) {
    shutdown(ch->sock, SHUT_RDWR);
    close(ch->sock);
    ch->sock = -1;
  }
  for (int i = 0; i < ch->nfds; i++) close(ch->fds[i]);
  ch->nfds = 0;
}

/* Owner thread, once nothing reads or writes the region any more.
 * Idempotent. */
void nw_fork_channel_unmap(nw_fork_channel_t *ch) {
  if (ch->mem) munmap(ch->mem, ch->size);
  ch->mem = NULL;
  ch->hdr = NULL;
}
