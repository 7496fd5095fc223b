/*
 * ring.h - a lock-free ring of variable-length messages over caller memory.
 *
 * The memory may be a SharedArrayBuffer (threads of one process) or a
 * MAP_SHARED mapping (several processes). Sleeping and waking go through the
 * Linux futex on words inside that memory, with non-private futex operations,
 * so a waiter in one process is woken by a writer in another.
 *
 * Byte layout. The ring starts at the first 64-byte boundary of the caller's
 * memory (nw_ring_base_offset); a SharedArrayBuffer is only 16-byte aligned,
 * so the first 0..63 bytes may be unused. All words are 32-bit, native
 * endian, offsets from that boundary:
 *
 *   line 0     0  magic         NW_RING_MAGIC
 *              4  version       NW_RING_VERSION
 *              8  capacity      bytes in the data area (a power of two)
 *             12  flags         NW_RING_F_* (modes chosen at init)
 *             16  header_size   NW_RING_HEADER_SIZE
 *             20  closed        0 open, 1 closed (set once, never cleared)
 *   line 1    64  prod_head     producers' reservation position
 *             68  prod_tail     published position: bytes before it are readable
 *   line 2   128  cons_head     consumers' claim position
 *            132  cons_tail     released position: bytes before it are free
 *   line 3   192  rd_waiters    number of readers asleep (or about to sleep)
 *            196  rd_seq        futex word readers sleep on; bumped by writers
 *   line 4   256  wr_waiters    number of writers asleep (or about to sleep)
 *            260  wr_seq        futex word writers sleep on; bumped by readers
 *            320  data          `capacity` bytes
 *
 * Positions are free-running 32-bit counters; a position p lives at data
 * offset p % capacity, and `prod_tail - cons_tail` (mod 2^32) is the number
 * of bytes in use. Capacity is at most NW_RING_MAX_CAPACITY so that the
 * difference is never ambiguous.
 *
 * A record is a 32-bit length word at a 4-byte aligned position followed by
 * the payload, padded to a multiple of 4. The payload may wrap from the end
 * of the data area to its start; the length word never does. A length word
 * with NW_RING_SKIP set is a hole of (length & ~NW_RING_SKIP) payload bytes
 * that readers pass over silently: a writer that finds the ring closed after
 * it reserved space leaves one.
 *
 * Protocol (the same in lib/ring.js, which runs it with Atomics):
 *   write: reserve [prod_head, +need) (plain store with a single producer,
 *          CAS with several); check `closed` (a sequentially consistent load
 *          after the reservation, so close() and a reservation are ordered);
 *          copy; publish by advancing prod_tail in reservation order; then,
 *          after a full fence, if rd_waiters != 0, bump rd_seq and wake.
 *   read:  claim [cons_head, +need) the same way; copy out; release by
 *          advancing cons_tail in claim order; then wake writers likewise.
 *   sleep: increment the waiters word, arm the seq word (set its low bit),
 *          re-check the condition, futex-wait on the seq word, decrement.
 *          Either the waker sees the waiter or the waiter sees the new
 *          data. A waker moves an armed seq word on (clearing the bit) and
 *          calls futex(); one that finds it unarmed (already woken, the
 *          sleeper not yet running) does not.
 * A writer that finds no reader asleep makes no system call.
 *
 * The ring is closed and drained when closed != 0 and
 * cons_head == prod_head == prod_tail.
 *
 * Corruption. The header is written by peers that may be broken or hostile,
 * so no call trusts it to make progress: positions more than a ring apart
 * (and still so when loaded again), a record longer than what was
 * published, or (several producers or consumers) a tail that is more than
 * a ring from our turn or does not move for a second, make the call return
 * -EBADMSG instead of spinning or sleeping on them. Waits treat impossible
 * positions as ready, so that the try that follows reports them.
 */
#ifndef NW_CORE_RING_H
#define NW_CORE_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NW_RING_MAGIC 0x4e575242u /* "BRWN" in memory on little endian */
#define NW_RING_VERSION 1u
#define NW_RING_ALIGN 64u
#define NW_RING_HEADER_SIZE 320u
#define NW_RING_MIN_CAPACITY 8u
#define NW_RING_MAX_CAPACITY (1u << 30)
#define NW_RING_SKIP 0x80000000u

#define NW_RING_F_MULTI_PRODUCER 1u
#define NW_RING_F_MULTI_CONSUMER 2u
#define NW_RING_F_ALL (NW_RING_F_MULTI_PRODUCER | NW_RING_F_MULTI_CONSUMER)

/* Word indices into the header (in 32-bit words). */
enum {
  NW_RW_MAGIC = 0,
  NW_RW_VERSION = 1,
  NW_RW_CAPACITY = 2,
  NW_RW_FLAGS = 3,
  NW_RW_HEADER_SIZE = 4,
  NW_RW_CLOSED = 5,
  NW_RW_PROD_HEAD = 16,
  NW_RW_PROD_TAIL = 17,
  NW_RW_CONS_HEAD = 32,
  NW_RW_CONS_TAIL = 33,
  NW_RW_RD_WAITERS = 48,
  NW_RW_RD_SEQ = 49,
  NW_RW_WR_WAITERS = 64,
  NW_RW_WR_SEQ = 65
};

/*
 * A handle on a ring: one per thread that uses it (it caches the peer's
 * position and is not itself thread-safe). The shared state is all in the
 * memory it points to; the caller owns that memory and keeps it mapped while
 * any handle uses it.
 */
typedef struct nw_ring {
  uint32_t *hdr;          /* the aligned header (accessed with atomics) */
  uint8_t *data;          /* hdr + NW_RING_HEADER_SIZE */
  uint32_t cap;           /* copy of the capacity word, validated */
  uint32_t mask;          /* cap - 1 (cap is a power of two) */
  uint32_t flags;         /* copy of the flags word, validated */
  uint32_t cached_cons;   /* producer side: last cons_tail seen */
  uint32_t cached_prod;   /* consumer side: last prod_tail seen */
  int64_t spin_ns;        /* how long a wait spins before it sleeps */
  const uint32_t *cancel; /* when set and nonzero, waits give up with
                             -ECANCELED (see nw_ring_wait_readable) */
} nw_ring_t;

/* One message of a batch write. */
typedef struct nw_ring_iov {
  const void *base;
  uint32_t len;
} nw_ring_iov_t;

/* Offset of the ring header inside memory that starts at `mem`. */
size_t nw_ring_base_offset(const void *mem);

/* Bytes of caller memory a ring of `capacity` needs wherever it is placed
 * (header, data and the worst-case alignment slack). 0 if out of range. */
size_t nw_ring_required_size(uint32_t capacity);

/* Capacity as the ring will store it: rounded up to a power of two (so that
 * free-running 32-bit positions map to offsets across their wrap). 0 if the
 * result would exceed NW_RING_MAX_CAPACITY. */
uint32_t nw_ring_round_capacity(uint32_t capacity);

/*
 * Format `size` bytes at `mem` as an empty ring and attach `r` to it.
 * Any thread; nobody else may use the memory during the call.
 * Returns 0, or -EINVAL (bad capacity or flags), -ENOSPC (memory too small).
 */
int nw_ring_init(nw_ring_t *r, void *mem, size_t size, uint32_t capacity,
                 uint32_t flags);

/*
 * Attach `r` to a ring some other thread or process formatted. Validates the
 * magic, version, capacity against `size`, flags and the consistency of the
 * four positions. Returns 0 or -EINVAL (not a ring of this version, or its
 * header is corrupt), -ENOSPC (memory smaller than the ring claims).
 */
int nw_ring_attach(nw_ring_t *r, void *mem, size_t size);

/* Largest payload one message may have in this ring. */
uint32_t nw_ring_max_message(const nw_ring_t *r);

/* Bytes a message of `len` payload bytes occupies in the ring. */
static inline uint32_t nw_ring_record_size(uint32_t len) {
  return 4u + ((len + 3u) & ~3u);
}

/*
 * Non-blocking write of one message. Producer threads only (any number when
 * the ring is multi-producer, else one). Returns 0 written, -EAGAIN no room,
 * -EPIPE closed, -EMSGSIZE larger than nw_ring_max_message, -EBADMSG the
 * positions are corrupt (see Corruption above). With several producers it
 * waits for the ones before it to publish, at most a second.
 */
int nw_ring_try_write(nw_ring_t *r, const void *buf, uint32_t len);

/*
 * Write as many of `n` messages as fit, in order, with one publication and
 * at most one wakeup. Returns the number written (0..n), or -EPIPE closed
 * (nothing written), -EMSGSIZE (msgs[0] can never fit), -EBADMSG corrupt.
 */
int nw_ring_write_batch(nw_ring_t *r, const nw_ring_iov_t *msgs, int n);

/*
 * Non-blocking read of one message into buf[0..size). Consumer threads only.
 * Returns 0 and sets *len, or -EAGAIN empty, -EPIPE closed and drained,
 * -ENOBUFS buf too small (*len is set to the size needed; nothing consumed),
 * -EBADMSG the shared memory holds an impossible record or positions, or
 * (several consumers) one before this one never releases its claim: the
 * message this call claimed is then lost with the ring.
 */
int nw_ring_try_read(nw_ring_t *r, void *buf, size_t size, uint32_t *len);

/*
 * Read up to `max` messages, calling cb(ctx, payload, len) for each with a
 * pointer into a bounce buffer or the ring (valid only during the call), and
 * release them with one store and at most one wakeup. A message that wraps
 * around the end of the data area is copied to `scratch` (which must hold
 * nw_ring_max_message bytes) first. Single-consumer rings only.
 * Returns the number read, or -EAGAIN, -EPIPE, -EBADMSG as nw_ring_try_read,
 * -EINVAL on a multi-consumer ring.
 */
typedef void (*nw_ring_read_cb)(void *ctx, const uint8_t *msg, uint32_t len);
int nw_ring_read_batch(nw_ring_t *r, nw_ring_read_cb cb, void *ctx, int max,
                       uint8_t *scratch);

/*
 * Block until a message can be read (or the ring is closed and drained, or
 * its positions are impossible), or until `timeout_ns` passes (negative: no
 * limit). Spins for r->spin_ns first. Returns 0 ready, -ETIMEDOUT, -EPIPE closed and drained, or -ECANCELED when
 * r->cancel points at a nonzero word: whoever sets that word must then call
 * nw_ring_wake_readers (or _writers) so a sleeping waiter looks at it.
 */
int nw_ring_wait_readable(nw_ring_t *r, int64_t timeout_ns);

/*
 * Block until `need` bytes of records are free (nw_ring_record_size of the
 * payload), or the ring is closed, or its positions are impossible (0: the
 * write reports them), or `timeout_ns` passes.
 * Returns 0 ready, -ETIMEDOUT, -EPIPE closed, -EMSGSIZE need > capacity.
 */
int nw_ring_wait_writable(nw_ring_t *r, uint32_t need, int64_t timeout_ns);

/* Blocking forms: wait, then try, until done, closed, corrupt (-EBADMSG) or
 * timed out. */
int nw_ring_write(nw_ring_t *r, const void *buf, uint32_t len,
                  int64_t timeout_ns);
int nw_ring_read(nw_ring_t *r, void *buf, size_t size, uint32_t *len,
                 int64_t timeout_ns);

/* True when a read would find a message (or the closed-and-drained end). */
bool nw_ring_readable(const nw_ring_t *r);
/* True when a record of `need` bytes fits now (or the ring is closed, or
 * the record can never fit, or the positions are impossible). */
bool nw_ring_writable(const nw_ring_t *r, uint32_t need);

/* Close: later writes fail with -EPIPE, readers drain what was written and
 * then see -EPIPE. Wakes every sleeper. Any thread, any number of times. */
void nw_ring_close(nw_ring_t *r);
bool nw_ring_is_closed(const nw_ring_t *r);

/* Wake every reader (or writer) asleep on the ring, whatever the state:
 * used after external changes, and by code that sleeps on the seq words
 * itself (event-loop waiters). Makes a system call only when one sleeps. */
void nw_ring_wake_readers(nw_ring_t *r);
void nw_ring_wake_writers(nw_ring_t *r);

/* Bytes in use (published and not yet released). */
uint32_t nw_ring_used(const nw_ring_t *r);

/*
 * Move all four positions of an empty ring that nobody uses yet to `pos`,
 * as if `pos` bytes had gone through it (tests of the 2^31 and 2^32
 * boundaries start there). Only while no other thread or process uses the
 * ring. Returns 0, or -EBUSY when the ring is not empty.
 */
int nw_ring_start_at(nw_ring_t *r, uint32_t pos);

/* Low-level futex helpers on a word in shared memory (process-shared).
 * nw_futex_wait returns 0 woken (or value differed), -ETIMEDOUT, -EINTR.
 * `deadline_ns` is on nw_now_ns's clock (core/clock.h), negative for none. */
int nw_futex_wait(uint32_t *word, uint32_t expected, int64_t deadline_ns);
void nw_futex_wake(uint32_t *word, int n);

#ifdef __cplusplus
}
#endif

#endif
