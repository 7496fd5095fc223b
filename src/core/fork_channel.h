/*
 * fork_channel.h - the message channel between a parent and the child it
 * forks: one shared-memory region holding two rings (one per direction)
 * and a unix socketpair beside it. (The other channels of the package are
 * the ring alone, ring.h, and Node's own IPC pipe, fdpass.h.)
 *
 * The region is a memfd, sealed so that neither side can shrink (or grow)
 * it under the other's mapping: a peer that truncates the file cannot make
 * the other side fault. The socketpair carries three things:
 *   - wakeup bytes, written only when the reader (or a blocked writer) on
 *     the other side said it is going to sleep; a busy peer costs no
 *     system call;
 *   - file descriptors (SCM_RIGHTS), each attached to one byte;
 *   - the peer's death: its end closes and the socket reads end-of-file at
 *     once (no timeout, no heartbeat).
 *
 * Side 0 (the parent, which creates the channel) writes ring 0 and reads
 * ring 1; side 1 (the child) writes ring 1 and reads ring 0. Each ring is
 * single-producer single-consumer (src/core/ring.h), so the JavaScript side
 * can run the same protocol with Atomics on the same memory.
 *
 * Byte layout of the region (32-bit native-endian words, offsets in bytes):
 *
 *   0    magic          NW_FORK_CHANNEL_MAGIC
 *   4    version        NW_FORK_CHANNEL_VERSION
 *   8    ring_size      bytes of region each ring occupies
 *  12    ring0          offset of ring 0's memory (parent -> child)
 *  16    ring1          offset of ring 1's memory (child -> parent)
 *  20    size           total bytes of the region
 *  64    sleep[0].rd    1: side 0 sleeps until ring 1 has data
 * 128    sleep[0].wr    1: side 0 sleeps until ring 0 has room
 * 192    sleep[1].rd    1: side 1 sleeps until ring 0 has data
 * 256    sleep[1].wr    1: side 1 sleeps until ring 1 has room
 * 320    cpu[0]         1 + the CPU side 0 last ran on; 0: not known
 * 384    cpu[1]         1 + the CPU side 1 last ran on; 0: not known
 * 4096   ring 0 (its own header, ring.h), then ring 1 at `ring1`.
 *
 * Every other byte of the header is zero. The cpu words are hints, each
 * written only by its own side (nw_fork_channel_same_cpu) and read by the
 * other to decide how to wait for an answer: poll the rings for a while
 * before sleeping, or, when both sides run on one CPU (where polling only
 * takes the time the peer needs to answer), give the CPU up. The peer may
 * write anything there; a wrong value costs at most one such poll, or the
 * wakeup it would have saved. A peer that never writes its word (0) gets
 * the poll, as before the words existed, so they need no new version.
 *
 * Sleep protocol (Dekker-style, all sequentially consistent): the sleeper
 * stores 1 in its flag, then looks at the ring again and only then polls
 * its socket. The peer first publishes (or releases) in the ring, then
 * loads the flag; if it is 1 and a compare-and-swap from 1 to 0 succeeds,
 * it writes one wakeup byte. Either the sleeper sees the change or the peer
 * sees the flag, and at most one byte is written per sleep.
 */
#ifndef NW_CORE_FORK_CHANNEL_H
#define NW_CORE_FORK_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ring.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NW_FORK_CHANNEL_MAGIC 0x4e574348u /* "HCWN" in memory on little endian */
#define NW_FORK_CHANNEL_VERSION 1u
#define NW_FORK_CHANNEL_HEADER_SIZE 4096u
#define NW_FORK_CHANNEL_DEFAULT_CAPACITY (2u << 20)

/* Word indices into the channel header. */
enum {
  NW_FCW_MAGIC = 0,
  NW_FCW_VERSION = 1,
  NW_FCW_RING_SIZE = 2,
  NW_FCW_RING0 = 3,
  NW_FCW_RING1 = 4,
  NW_FCW_SIZE = 5,
  NW_FCW_SLEEP0_RD = 16,
  NW_FCW_SLEEP0_WR = 32,
  NW_FCW_SLEEP1_RD = 48,
  NW_FCW_SLEEP1_WR = 64,
  NW_FCW_CPU0 = 80,
  NW_FCW_CPU1 = 96
};

/* Bytes on the socket: a wakeup, or the byte a descriptor travels with. */
#define NW_FORK_CHANNEL_BYTE_WAKE 'W'
#define NW_FORK_CHANNEL_BYTE_FD 'F'

/* Most descriptors kept between receipt on the socket and their claim. */
#define NW_FORK_CHANNEL_MAX_FDS 64

/*
 * One side's handle on a channel. Owned by one thread of one process (the
 * JavaScript thread, in the addon); not itself thread-safe. The peer shares
 * only the mapped region and the socket.
 */
typedef struct nw_fork_channel {
  int side;            /* 0 parent, 1 child */
  int sock;            /* this side's end of the socketpair (CLOEXEC,
                          non-blocking), -1 once closed */
  uint8_t *mem;        /* the mapping of the whole region */
  size_t size;         /* its length */
  uint32_t *hdr;       /* == (uint32_t *)mem */
  nw_ring_t out;       /* the ring this side writes */
  nw_ring_t in;        /* the ring this side reads */
  bool eof;            /* the socket read end-of-file: the peer is gone or
                          disconnected */
  int fds[NW_FORK_CHANNEL_MAX_FDS]; /* received descriptors, oldest first */
  int nfds;
} nw_fork_channel_t;

/* Bytes of region a channel with rings of `capacity` needs (0: bad). */
size_t nw_fork_channel_region_size(uint32_t capacity);

/*
 * Create a channel: a sealed memfd region formatted with both rings, and a
 * socketpair. `ch` becomes side 0. On success *memfd and *peer_sock are
 * descriptors (O_CLOEXEC) the caller hands to the child (for example as
 * inherited descriptors of posix_spawn) and then closes.
 * Any thread. Returns 0 or a negative errno (-EINVAL bad capacity); on
 * failure nothing is left open or mapped.
 */
int nw_fork_channel_create(nw_fork_channel_t *ch, uint32_t capacity,
                           int *memfd, int *peer_sock);

/*
 * Create a channel for a child that will inherit only one descriptor:
 * nw_fork_channel_create, then the memfd is sent on this side's socket
 * (the first thing the child reads, with nw_fork_channel_recv_fd_raw on
 * *peer_sock) and closed here. On success *peer_sock is the caller's to
 * hand to the child and close. Any thread. Returns 0 or a negative errno
 * (-EINVAL bad capacity); on failure nothing is left open or mapped.
 */
int nw_fork_channel_create_for_child(nw_fork_channel_t *ch, uint32_t capacity,
                                     int *peer_sock);

/*
 * Attach side `side` to an existing channel from its memfd and socket
 * descriptors. Verifies the seals, the header and both rings; on success
 * takes ownership of `sock` (made CLOEXEC and non-blocking) and maps the
 * region; `memfd` stays the caller's (it may be closed at once).
 * Returns 0, -EINVAL (not a channel of this version, unsealed, corrupt),
 * or another negative errno.
 */
int nw_fork_channel_attach(nw_fork_channel_t *ch, int memfd, int sock,
                           int side);

/* Index of this side's (or the peer's) sleep flags in the header. */
static inline int nw_fork_channel_rd_flag(int side) {
  return side == 0 ? NW_FCW_SLEEP0_RD : NW_FCW_SLEEP1_RD;
}
static inline int nw_fork_channel_wr_flag(int side) {
  return side == 0 ? NW_FCW_SLEEP0_WR : NW_FCW_SLEEP1_WR;
}

/* Index of a side's cpu word in the header. */
static inline int nw_fork_channel_cpu_word(int side) {
  return side == 0 ? NW_FCW_CPU0 : NW_FCW_CPU1;
}

/*
 * Publish the CPU this thread runs on now in this side's cpu word, and say
 * whether the peer's word names the same CPU: true only when both words
 * are known and equal (then polling for the peer's answer would only keep
 * it from running). Owner thread; costs no system call where the kernel
 * and libc provide the CPU number in user space (rseq, vDSO). Any value of
 * the peer's word is harmless.
 */
bool nw_fork_channel_same_cpu(nw_fork_channel_t *ch);

/*
 * Write one wakeup byte to the peer. Callers use nw_fork_channel_notify, which
 * writes only when the peer asked for it. Returns 0, or a negative errno
 * (-EPIPE: the peer is gone). A full socket buffer counts as success: the
 * peer has unread bytes and will wake anyway.
 */
int nw_fork_channel_kick(nw_fork_channel_t *ch);

/*
 * After publishing to (flag = the peer's rd flag) or releasing from (the
 * peer's wr flag) a ring: wake the peer if it sleeps on that flag.
 * Returns 1 if a byte was written, 0 if none was needed, or a negative errno.
 */
int nw_fork_channel_notify(nw_fork_channel_t *ch, int flag);

/*
 * Read everything the socket holds without blocking: wakeup bytes are
 * dropped, descriptors are queued for nw_fork_channel_take_fd. Sets ch->eof when
 * the peer's end is closed. Returns 0 or a negative errno (-EMFILE: more
 * than NW_FORK_CHANNEL_MAX_FDS descriptors waiting; the extra ones are closed).
 */
int nw_fork_channel_drain_socket(nw_fork_channel_t *ch);

/*
 * Send descriptor `fd` to the peer (it is duplicated into the socket; the
 * caller keeps its own). Send the descriptor before publishing the message
 * that refers to it: the peer then always finds it on the socket.
 * Returns 0 or a negative errno.
 */
int nw_fork_channel_send_fd(nw_fork_channel_t *ch, int fd);

/*
 * Before attaching: receive exactly one byte and the descriptor it carries
 * from socket `sock`, waiting up to `timeout_ms` (negative: no limit). The
 * creator of a channel sends the memfd this way first (nw_fork_channel_send_fd
 * on its own end right after nw_fork_channel_create), so that only the socket
 * needs to be inherited (nw_fork_channel_create_for_child does both). Returns the descriptor (O_CLOEXEC) or a negative
 * errno (-EPIPE: the socket closed first, -EBADMSG: a byte without a
 * descriptor, -ETIMEDOUT).
 */
int nw_fork_channel_recv_fd_raw(int sock, int timeout_ms);

/*
 * The oldest received descriptor (reading the socket first if none is
 * queued), now owned by the caller; -EAGAIN when none has arrived, -EPIPE
 * when none can arrive any more.
 */
int nw_fork_channel_take_fd(nw_fork_channel_t *ch);

/*
 * Convenience for native users (and the C tests): write one message and
 * wake the peer if it sleeps. Returns 0, -EAGAIN (full), -EPIPE, -EMSGSIZE.
 */
int nw_fork_channel_try_send(nw_fork_channel_t *ch, const void *buf, uint32_t len);

/*
 * Block (poll on the socket) until the inbound ring has data (want_write
 * false) or the outbound ring has `need` bytes of room (want_write true),
 * or the peer is gone, or `timeout_ms` passes (negative: no limit).
 * Returns 0 ready, -ETIMEDOUT, -EPIPE (peer gone and, for reads, nothing
 * left to read).
 */
int nw_fork_channel_wait(nw_fork_channel_t *ch, bool want_write, uint32_t need,
                    int timeout_ms);

/*
 * Stop using the channel: shut the socket down (the peer reads
 * end-of-file), close it and any queued descriptors. The mapping stays
 * until nw_fork_channel_unmap (the addon keeps it while JavaScript views it).
 * Idempotent.
 */
void nw_fork_channel_close(nw_fork_channel_t *ch);
void nw_fork_channel_unmap(nw_fork_channel_t *ch);

#ifdef __cplusplus
}
#endif

#endif
