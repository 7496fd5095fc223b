/*
 * ring.c - see ring.h for the layout and the protocol.
 */
#include "core/ring.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LOAD_RLX(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define LOAD_SC(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE_RLX(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define STORE_SC(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define CAS_SC(p, expp, v)                                                    \
  __atomic_compare_exchange_n((p), (expp), (v), 0, __ATOMIC_SEQ_CST,          \
                              __ATOMIC_SEQ_CST)
#define ADD_SC(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)

#define W(r, i) (&(r)->hdr[(i)])

#define DEFAULT_SPIN_NS 30000
#define YIELD_AFTER 256u
#define SPIN_MAX_GAP 4u
/* How long a producer (consumer) waits for the ones before it to publish
 * (release) before it calls the ring broken: one of them died mid-record,
 * or the tail word was overwritten. lib/internal/ring_view.js uses the
 * same second. (The fuzz targets build with a shorter one.) */
#ifndef NW_RING_TURN_NS
#define NW_RING_TURN_NS ((int64_t)1000000000)
#endif

/* A pause for spin loops: lets a sibling hyperthread run and saves power. */
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  __asm__ __volatile__("" ::: "memory");
#endif
}

/* ---- futex --------------------------------------------------------------- */

int nw_futex_wait(uint32_t *word, uint32_t expected, int64_t deadline_ns) {
  struct timespec ts, *tsp = NULL;
  if (deadline_ns >= 0) {
    ts.tv_sec = (time_t)(deadline_ns / 1000000000);
    ts.tv_nsec = (long)(deadline_ns % 1000000000);
    tsp = &ts;
  }
  /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. The
   * non-private form works on memory shared between processes. */
  long rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, tsp, NULL,
                    FUTEX_BITSET_MATCH_ANY);
  if (rc == 0) return 0;
  if (errno == EAGAIN) return 0;
  if (errno == ETIMEDOUT) return -ETIMEDOUT;
  if (errno == EINTR) return -EINTR;
  return -errno;
}

/* Any thread or process that maps the word. Wakes up to `n` sleepers. */
void nw_futex_wake(uint32_t *word, int n) {
  syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* ---- layout -------------------------------------------------------------- */

size_t nw_ring_base_offset(const void *mem) {
  uintptr_t a = (uintptr_t)mem;
  return (size_t)((NW_RING_ALIGN - (a & (NW_RING_ALIGN - 1))) & (NW_RING_ALIGN - 1));
}

/* Any thread; no state. */
uint32_t nw_ring_round_capacity(uint32_t capacity) {
  if (capacity > NW_RING_MAX_CAPACITY) return 0;
  uint32_t c = NW_RING_MIN_CAPACITY;
  while (c < capacity) c <<= 1;
  return c;
}

/* Any thread; no state. */
size_t nw_ring_required_size(uint32_t capacity) {
  uint32_t c = nw_ring_round_capacity(capacity);
  if (c == 0) return 0;
  return (size_t)NW_RING_ALIGN + NW_RING_HEADER_SIZE + c;
}

/* Point handle `r` at a header whose capacity and flags were validated,
 * with a fresh cache of the peer's position. */
static void bind(nw_ring_t *r, uint32_t *hdr, uint32_t cap, uint32_t flags) {
  r->hdr = hdr;
  r->data = (uint8_t *)hdr + NW_RING_HEADER_SIZE;
  r->cap = cap;
  r->mask = cap - 1;
  r->flags = flags;
  r->cached_cons = LOAD_ACQ(&hdr[NW_RW_CONS_TAIL]);
  r->cached_prod = LOAD_ACQ(&hdr[NW_RW_PROD_TAIL]);
  r->spin_ns = DEFAULT_SPIN_NS;
  r->cancel = NULL;
}

/* Any thread, with the memory to itself. The magic is stored last, so a
 * concurrent attach sees either no ring or a whole header. */
int nw_ring_init(nw_ring_t *r, void *mem, size_t size, uint32_t capacity,
                 uint32_t flags) {
  if (!r || !mem || capacity < NW_RING_MIN_CAPACITY ||
      capacity > NW_RING_MAX_CAPACITY || (capacity & (capacity - 1)) ||
      (flags & ~NW_RING_F_ALL))
    return -EINVAL;
  size_t base = nw_ring_base_offset(mem);
  if (size < base || size - base < (size_t)NW_RING_HEADER_SIZE + capacity)
    return -ENOSPC;
  uint32_t *hdr = (uint32_t *)((uint8_t *)mem + base);
  memset(hdr, 0, NW_RING_HEADER_SIZE);
  hdr[NW_RW_VERSION] = NW_RING_VERSION;
  hdr[NW_RW_CAPACITY] = capacity;
  hdr[NW_RW_FLAGS] = flags;
  hdr[NW_RW_HEADER_SIZE] = NW_RING_HEADER_SIZE;
  /* The magic goes last: an attacher that sees it sees a whole header. */
  STORE_SC(&hdr[NW_RW_MAGIC], NW_RING_MAGIC);
  bind(r, hdr, capacity, flags);
  return 0;
}

/* Whether the four positions in header `h` can belong to a ring of `cap`
 * bytes: 4-aligned and in order, each within `cap` of the next. */
static bool positions_sane(const uint32_t *h, uint32_t cap) {
  /* Load in release order of the real sequence (ct <= ch <= pt <= ph at
   * every instant, all growing), so the snapshot is ordered too. */
  uint32_t ct = LOAD_ACQ(&h[NW_RW_CONS_TAIL]);
  uint32_t ch = LOAD_ACQ(&h[NW_RW_CONS_HEAD]);
  uint32_t pt = LOAD_ACQ(&h[NW_RW_PROD_TAIL]);
  uint32_t ph = LOAD_ACQ(&h[NW_RW_PROD_HEAD]);
  if ((ct | ch | pt | ph) & 3u) return false;
  if ((uint32_t)(ch - ct) > cap) return false;
  if ((uint32_t)(pt - ch) > cap) return false;
  if ((uint32_t)(ph - pt) > cap) return false;
  if ((uint32_t)(ph - ct) > cap) return false;
  return true;
}

/* Any thread. Trusts nothing in the header (another process may have
 * written it); never touches the data area. */
int nw_ring_attach(nw_ring_t *r, void *mem, size_t size) {
  if (!r || !mem) return -EINVAL;
  size_t base = nw_ring_base_offset(mem);
  if (size < base || size - base < NW_RING_HEADER_SIZE + NW_RING_MIN_CAPACITY)
    return -EINVAL;
  uint32_t *hdr = (uint32_t *)((uint8_t *)mem + base);
  if (LOAD_ACQ(&hdr[NW_RW_MAGIC]) != NW_RING_MAGIC) return -EINVAL;
  if (hdr[NW_RW_VERSION] != NW_RING_VERSION) return -EINVAL;
  if (hdr[NW_RW_HEADER_SIZE] != NW_RING_HEADER_SIZE) return -EINVAL;
  uint32_t cap = hdr[NW_RW_CAPACITY];
  uint32_t flags = hdr[NW_RW_FLAGS];
  if (cap < NW_RING_MIN_CAPACITY || cap > NW_RING_MAX_CAPACITY ||
      (cap & (cap - 1)))
    return -EINVAL;
  if (flags & ~NW_RING_F_ALL) return -EINVAL;
  if (LOAD_RLX(&hdr[NW_RW_CLOSED]) > 1u) return -EINVAL;
  if (size - base < (size_t)NW_RING_HEADER_SIZE + cap) return -ENOSPC;
  /* A write racing with the snapshot can make it look inconsistent only if
   * the ring turned over between two loads; look twice before refusing. */
  if (!positions_sane(hdr, cap) && !positions_sane(hdr, cap)) return -EINVAL;
  bind(r, hdr, cap, flags);
  return 0;
}

/* Any thread. */
uint32_t nw_ring_max_message(const nw_ring_t *r) { return r->cap - 4u; }

/* Any thread; a snapshot. */
uint32_t nw_ring_used(const nw_ring_t *r) {
  uint32_t ct = LOAD_ACQ(W(r, NW_RW_CONS_TAIL));
  uint32_t pt = LOAD_ACQ(W(r, NW_RW_PROD_TAIL));
  return pt - ct;
}

/* See ring.h: one thread, before the ring is shared. */
int nw_ring_start_at(nw_ring_t *r, uint32_t pos) {
  uint32_t ph = LOAD_ACQ(W(r, NW_RW_PROD_HEAD));
  if (ph != LOAD_ACQ(W(r, NW_RW_PROD_TAIL)) || ph != LOAD_ACQ(W(r, NW_RW_CONS_HEAD)) ||
      ph != LOAD_ACQ(W(r, NW_RW_CONS_TAIL)))
    return -EBUSY;
  STORE_SC(W(r, NW_RW_PROD_HEAD), pos);
  STORE_SC(W(r, NW_RW_PROD_TAIL), pos);
  STORE_SC(W(r, NW_RW_CONS_HEAD), pos);
  STORE_SC(W(r, NW_RW_CONS_TAIL), pos);
  r->cached_cons = pos;
  r->cached_prod = pos;
  return 0;
}

/* Any thread. */
bool nw_ring_is_closed(const nw_ring_t *r) {
  return LOAD_SC(W(r, NW_RW_CLOSED)) != 0;
}

/* Whether `lo` and `hi`, just loaded (in that order) from header words
 * lo_idx and hi_idx, are impossibly far apart: more than a ring holds, and
 * still so when loaded again. Positions only grow, so peers that move on
 * between two loads can make a legal pair look too far apart once; a pair
 * that holds still cannot be right. */
static bool span_corrupt(const nw_ring_t *r, uint32_t lo, uint32_t hi,
                         int lo_idx, int hi_idx) {
  if ((uint32_t)(hi - lo) <= r->cap) return false;
  return LOAD_ACQ(W(r, lo_idx)) == lo && LOAD_ACQ(W(r, hi_idx)) == hi;
}

/* ---- copying ------------------------------------------------------------- */

static inline void copy_in(nw_ring_t *r, uint32_t pos, const void *src,
                           uint32_t len) {
  uint32_t o = pos & r->mask;
  uint32_t first = r->cap - o;
  if (len <= first) {
    memcpy(r->data + o, src, len);
  } else {
    memcpy(r->data + o, src, first);
    memcpy(r->data, (const uint8_t *)src + first, len - first);
  }
}

/* Copy `len` bytes from position `pos` of the data area, wrapping at its
 * end. */
static inline void copy_out(const nw_ring_t *r, uint32_t pos, void *dst,
                            uint32_t len) {
  uint32_t o = pos & r->mask;
  uint32_t first = r->cap - o;
  if (len <= first) {
    memcpy(dst, r->data + o, len);
  } else {
    memcpy(dst, r->data + o, first);
    memcpy((uint8_t *)dst + first, r->data, len - first);
  }
}

/* The length word of the record at position `pos` (never wraps: records
 * start 4-aligned). */
static inline uint32_t *len_word(const nw_ring_t *r, uint32_t pos) {
  return (uint32_t *)(r->data + (pos & r->mask));
}

/* ---- wakeups ------------------------------------------------------------- */

/* A seq word's low bit says that someone sleeps (or is about to) on its
 * current value. A sleeper sets it; the first waker clears it, moving the
 * word on, and makes the one system call. Wakers that come while the woken
 * thread has not yet run find it clear and make none: a reader handing
 * space back message by message to a writer still waking up would
 * otherwise call futex() once per message. */
#define SEQ_ARMED 1u

/* The value to sleep on, armed. */
static uint32_t seq_arm(uint32_t *seq) {
  uint32_t v = LOAD_SC(seq);
  while ((v & SEQ_ARMED) == 0 && !CAS_SC(seq, &v, v | SEQ_ARMED)) {
  }
  return v | SEQ_ARMED;
}

/* Move the word on (disarmed) and wake everyone on it. `always`: even
 * when nobody armed it (close(): anyone about to sleep must look again). */
static void seq_wake(uint32_t *seq, bool always) {
  uint32_t v = LOAD_SC(seq);
  for (;;) {
    if ((v & SEQ_ARMED) == 0 && !always) return;
    if (CAS_SC(seq, &v, (v | SEQ_ARMED) + 1u)) break;
  }
  nw_futex_wake(seq, INT_MAX);
}

static void wake(nw_ring_t *r, int waiters_idx, int seq_idx) {
  if (LOAD_SC(W(r, waiters_idx)) != 0) seq_wake(W(r, seq_idx), false);
}

/* Any thread. */
void nw_ring_wake_readers(nw_ring_t *r) {
  wake(r, NW_RW_RD_WAITERS, NW_RW_RD_SEQ);
}

/* Any thread. */
void nw_ring_wake_writers(nw_ring_t *r) {
  wake(r, NW_RW_WR_WAITERS, NW_RW_WR_SEQ);
}

/* Any thread, any number of times. */
void nw_ring_close(nw_ring_t *r) {
  STORE_SC(W(r, NW_RW_CLOSED), 1u);
  /* Everyone asleep must look again, whatever they wait for. */
  seq_wake(W(r, NW_RW_RD_SEQ), true);
  seq_wake(W(r, NW_RW_WR_SEQ), true);
}

/* ---- producer side ------------------------------------------------------- */

/*
 * Reserve `need` bytes; returns 0 and the start position, -EAGAIN when they
 * do not fit, -EPIPE when full and closed, -EMSGSIZE when need > cap, or
 * -EBADMSG when prod_head and cons_tail are more than a ring apart.
 */
static int reserve(nw_ring_t *r, uint32_t need, uint32_t *start) {
  uint32_t cap = r->cap;
  if (need > cap) return -EMSGSIZE;
  if (!(r->flags & NW_RING_F_MULTI_PRODUCER)) {
    uint32_t head = LOAD_RLX(W(r, NW_RW_PROD_HEAD));
    if ((uint32_t)(head - r->cached_cons) > cap - need) {
      uint32_t ct = LOAD_ACQ(W(r, NW_RW_CONS_TAIL));
      r->cached_cons = ct;
      if ((uint32_t)(head - ct) > cap - need) {
        if (span_corrupt(r, ct, head, NW_RW_CONS_TAIL, NW_RW_PROD_HEAD)) return -EBADMSG;
        return LOAD_RLX(W(r, NW_RW_CLOSED)) ? -EPIPE : -EAGAIN;
      }
    }
    /* Sequentially consistent so the `closed` check after it is ordered
     * against close() and a closing reader's look at prod_head. */
    STORE_SC(W(r, NW_RW_PROD_HEAD), head + need);
    *start = head;
    return 0;
  }
  for (;;) {
    uint32_t ct = LOAD_ACQ(W(r, NW_RW_CONS_TAIL));
    uint32_t head = LOAD_ACQ(W(r, NW_RW_PROD_HEAD));
    if ((uint32_t)(head - ct) > cap - need) {
      if ((uint32_t)(head - ct) <= cap)
        return LOAD_RLX(W(r, NW_RW_CLOSED)) ? -EPIPE : -EAGAIN;
      if (span_corrupt(r, ct, head, NW_RW_CONS_TAIL, NW_RW_PROD_HEAD)) return -EBADMSG;
      continue; /* consumers moved between the two loads */
    }
    if (CAS_SC(W(r, NW_RW_PROD_HEAD), &head, head + need)) {
      *start = head;
      return 0;
    }
  }
}

/* With several producers (consumers), records are published (released)
 * in the order they were reserved (claimed): wait until the tail word
 * `tail_idx` reaches `start`, that is until every earlier one is done.
 * Spins, and yields the CPU now and then to a peer that was preempted.
 * Returns 0, or -EBADMSG when the turn can never come: the tail is more
 * than a ring away from `start` (the word was overwritten), or it has not
 * moved for NW_RING_TURN_NS (one before us died mid-record). */
static int wait_turn(nw_ring_t *r, int tail_idx, uint32_t start) {
  unsigned spins = 0;
  uint32_t last = LOAD_ACQ(W(r, tail_idx));
  int64_t since = -1;
  for (uint32_t cur = last; cur != start; cur = LOAD_ACQ(W(r, tail_idx))) {
    if ((uint32_t)(start - cur) > r->cap) return -EBADMSG;
    if (++spins < YIELD_AFTER) {
      cpu_relax();
      continue;
    }
    spins = 0;
    sched_yield();
    int64_t now = nw_now_ns();
    if (since < 0 || cur != last) {
      since = now;
      last = cur;
    } else if (now - since > NW_RING_TURN_NS) {
      return -EBADMSG;
    }
  }
  return 0;
}

/* Publish [start, end): in reservation order when there are several
 * producers, then wake a sleeping reader. Returns 0 or -EBADMSG (see
 * wait_turn; then nothing is published). */
static int publish(nw_ring_t *r, uint32_t start, uint32_t end) {
  if ((r->flags & NW_RING_F_MULTI_PRODUCER) && wait_turn(r, NW_RW_PROD_TAIL, start))
    return -EBADMSG;
  STORE_SC(W(r, NW_RW_PROD_TAIL), end);
  wake(r, NW_RW_RD_WAITERS, NW_RW_RD_SEQ);
  return 0;
}

/* After reserving: if the ring was closed meanwhile, fill the space with a
 * hole and publish it. Returns 0 when open, -EPIPE when closed, or the
 * error of publish. */
static int closed_after_reserve(nw_ring_t *r, uint32_t start, uint32_t need) {
  if (!LOAD_SC(W(r, NW_RW_CLOSED))) return 0;
  STORE_RLX(len_word(r, start), NW_RING_SKIP | (need - 4u));
  int rc = publish(r, start, start + need);
  return rc ? rc : -EPIPE;
}

/* Producer threads (see ring.h). Makes a system call only to wake a
 * sleeping reader. */
int nw_ring_try_write(nw_ring_t *r, const void *buf, uint32_t len) {
  if (len > r->cap - 4u) return -EMSGSIZE;
  if (LOAD_RLX(W(r, NW_RW_CLOSED))) return -EPIPE;
  uint32_t need = nw_ring_record_size(len);
  uint32_t start;
  int rc = reserve(r, need, &start);
  if (rc) return rc;
  if ((rc = closed_after_reserve(r, start, need))) return rc;
  STORE_RLX(len_word(r, start), len);
  if (len) copy_in(r, start + 4u, buf, len);
  return publish(r, start, start + need);
}

/* Producer threads. One reservation and one publication for the prefix of
 * `msgs` that fits. */
int nw_ring_write_batch(nw_ring_t *r, const nw_ring_iov_t *msgs, int n) {
  if (n <= 0) return 0;
  if (msgs[0].len > r->cap - 4u) return -EMSGSIZE;
  if (LOAD_RLX(W(r, NW_RW_CLOSED))) return -EPIPE;
  /* Find the free space once, then take the longest prefix that fits. */
  uint32_t cap = r->cap;
  uint32_t ct = LOAD_ACQ(W(r, NW_RW_CONS_TAIL));
  uint32_t head = LOAD_ACQ(W(r, NW_RW_PROD_HEAD));
  if (!(r->flags & NW_RING_F_MULTI_PRODUCER)) r->cached_cons = ct;
  /* A span past the capacity is corruption or a race (reserve tells them
   * apart): then only one message is tried. */
  uint32_t free_bytes = (uint32_t)(head - ct) <= cap ? cap - (head - ct) : 0;
  uint32_t total = 0;
  int count = 0;
  for (; count < n; count++) {
    if (msgs[count].len > cap - 4u) break;
    uint32_t need = nw_ring_record_size(msgs[count].len);
    if (need > free_bytes - total) break;
    total += need;
  }
  if (count == 0) {
    int rc = nw_ring_try_write(r, msgs[0].base, msgs[0].len);
    return rc == 0 ? 1 : (rc == -EAGAIN ? 0 : rc);
  }
  uint32_t start;
  int rc = reserve(r, total, &start);
  if (rc == -EAGAIN) {
    /* Another producer took the space: fall back to one message. */
    rc = nw_ring_try_write(r, msgs[0].base, msgs[0].len);
    return rc == 0 ? 1 : (rc == -EAGAIN ? 0 : rc);
  }
  if (rc) return rc;
  if ((rc = closed_after_reserve(r, start, total))) return rc;
  uint32_t pos = start;
  for (int i = 0; i < count; i++) {
    STORE_RLX(len_word(r, pos), msgs[i].len);
    if (msgs[i].len) copy_in(r, pos + 4u, msgs[i].base, msgs[i].len);
    pos += nw_ring_record_size(msgs[i].len);
  }
  rc = publish(r, start, start + total);
  return rc ? rc : count;
}

/* ---- consumer side ------------------------------------------------------- */

/* The ring looked empty at consumer position `cons`: -EPIPE when it is
 * closed and nothing is in flight, else -EAGAIN. */
static int empty_result(nw_ring_t *r, uint32_t cons) {
  if (!LOAD_SC(W(r, NW_RW_CLOSED))) return -EAGAIN;
  uint32_t ph = LOAD_SC(W(r, NW_RW_PROD_HEAD));
  uint32_t pt = LOAD_SC(W(r, NW_RW_PROD_TAIL));
  if (pt != cons || ph != pt) return -EAGAIN;
  return -EPIPE;
}

/* Release [start, end) after reading it: in claim order when there are
 * several consumers (a single one moves cons_head here), then wake a
 * sleeping writer. Returns 0 or -EBADMSG (see wait_turn; then nothing is
 * released). */
static int release(nw_ring_t *r, uint32_t start, uint32_t end) {
  if (r->flags & NW_RING_F_MULTI_CONSUMER) {
    if (wait_turn(r, NW_RW_CONS_TAIL, start)) return -EBADMSG;
  } else {
    STORE_RLX(W(r, NW_RW_CONS_HEAD), end);
  }
  STORE_SC(W(r, NW_RW_CONS_TAIL), end);
  wake(r, NW_RW_WR_WAITERS, NW_RW_WR_SEQ);
  return 0;
}

/* nw_ring_try_read for the one consumer of a single-consumer ring: claims
 * with plain stores, using its cached view of prod_tail. */
static int try_read_single(nw_ring_t *r, void *buf, size_t size,
                           uint32_t *len) {
  for (;;) {
    uint32_t cons = LOAD_RLX(W(r, NW_RW_CONS_HEAD));
    uint32_t avail = r->cached_prod - cons;
    if (avail == 0 || avail > r->cap) {
      r->cached_prod = LOAD_ACQ(W(r, NW_RW_PROD_TAIL));
      avail = r->cached_prod - cons;
      if (avail == 0) {
        int rc = empty_result(r, cons);
        if (rc == -EAGAIN && LOAD_ACQ(W(r, NW_RW_PROD_TAIL)) != cons) continue;
        return rc;
      }
      if (avail > r->cap) return -EBADMSG;
    }
    uint32_t word = LOAD_RLX(len_word(r, cons));
    uint32_t plen = word & ~NW_RING_SKIP;
    uint32_t need = nw_ring_record_size(plen);
    if (plen > r->cap - 4u || need > avail) return -EBADMSG;
    if (word & NW_RING_SKIP) {
      release(r, cons, cons + need);
      continue;
    }
    if (plen > size) {
      *len = plen;
      return -ENOBUFS;
    }
    if (plen) copy_out(r, cons + 4u, buf, plen);
    *len = plen;
    release(r, cons, cons + need); /* cannot fail with one consumer */
    return 0;
  }
}

/* nw_ring_try_read for one of several consumers: claims with a
 * compare-and-swap on cons_head, and releases in claim order. */
static int try_read_multi(nw_ring_t *r, void *buf, size_t size,
                          uint32_t *len) {
  for (;;) {
    uint32_t head = LOAD_ACQ(W(r, NW_RW_CONS_HEAD));
    uint32_t pt = LOAD_ACQ(W(r, NW_RW_PROD_TAIL));
    uint32_t avail = pt - head;
    if (avail == 0) {
      int rc = empty_result(r, head);
      if (rc == -EAGAIN && (LOAD_ACQ(W(r, NW_RW_PROD_TAIL)) != head ||
                            LOAD_ACQ(W(r, NW_RW_CONS_HEAD)) != head))
        continue;
      return rc;
    }
    /* The length word may be stale if another consumer moved on; the CAS
     * below then fails, so check it only after confirming the claim. */
    uint32_t word = LOAD_RLX(len_word(r, head));
    uint32_t plen = word & ~NW_RING_SKIP;
    uint32_t need = nw_ring_record_size(plen);
    if (avail > r->cap || plen > r->cap - 4u || need > avail) {
      if (LOAD_ACQ(W(r, NW_RW_CONS_HEAD)) != head) continue;
      return -EBADMSG;
    }
    if (!(word & NW_RING_SKIP) && plen > size) {
      if (LOAD_ACQ(W(r, NW_RW_CONS_HEAD)) != head) continue;
      *len = plen;
      return -ENOBUFS;
    }
    if (!CAS_SC(W(r, NW_RW_CONS_HEAD), &head, head + need)) continue;
    if (word & NW_RING_SKIP) {
      if (release(r, head, head + need)) return -EBADMSG;
      continue;
    }
    if (plen) copy_out(r, head + 4u, buf, plen);
    *len = plen;
    return release(r, head, head + need);
  }
}

/* Consumer threads. */
int nw_ring_try_read(nw_ring_t *r, void *buf, size_t size, uint32_t *len) {
  if (r->flags & NW_RING_F_MULTI_CONSUMER)
    return try_read_multi(r, buf, size, len);
  return try_read_single(r, buf, size, len);
}

/* The consumer thread of a single-consumer ring. `cb` runs on this
 * thread, with messages valid only during the call. */
int nw_ring_read_batch(nw_ring_t *r, nw_ring_read_cb cb, void *ctx, int max,
                       uint8_t *scratch) {
  if (r->flags & NW_RING_F_MULTI_CONSUMER) return -EINVAL;
  uint32_t start = LOAD_RLX(W(r, NW_RW_CONS_HEAD));
  r->cached_prod = LOAD_ACQ(W(r, NW_RW_PROD_TAIL));
  uint32_t avail = r->cached_prod - start;
  if (avail == 0) return empty_result(r, start);
  if (avail > r->cap) return -EBADMSG;
  uint32_t pos = start;
  int count = 0;
  int rc = 0;
  while (count < max && pos != r->cached_prod) {
    uint32_t left = r->cached_prod - pos;
    uint32_t word = LOAD_RLX(len_word(r, pos));
    uint32_t plen = word & ~NW_RING_SKIP;
    uint32_t need = nw_ring_record_size(plen);
    if (plen > r->cap - 4u || need > left) {
      rc = -EBADMSG;
      break;
    }
    if (!(word & NW_RING_SKIP)) {
      uint32_t o = (pos + 4u) & r->mask;
      if (plen <= r->cap - o) {
        cb(ctx, r->data + o, plen);
      } else {
        copy_out(r, pos + 4u, scratch, plen);
        cb(ctx, scratch, plen);
      }
      count++;
    }
    pos += need;
  }
  if (pos != start) release(r, start, pos);
  if (count == 0 && rc == 0) return -EAGAIN;
  return count ? count : rc;
}

/* ---- waiting ------------------------------------------------------------- */

bool nw_ring_readable(const nw_ring_t *r) {
  uint32_t ch = LOAD_ACQ(W(r, NW_RW_CONS_HEAD));
  if (LOAD_ACQ(W(r, NW_RW_PROD_TAIL)) != ch) return true;
  return empty_result((nw_ring_t *)r, ch) == -EPIPE;
}

/* Any thread; a snapshot. A record that can never fit and impossible
 * positions count as writable: the write then reports them (a waiter must
 * not sleep on them forever). */
bool nw_ring_writable(const nw_ring_t *r, uint32_t need) {
  if (LOAD_RLX(W(r, NW_RW_CLOSED))) return true;
  if (need > r->cap) return true;
  uint32_t ct = LOAD_ACQ(W(r, NW_RW_CONS_TAIL));
  uint32_t ph = LOAD_ACQ(W(r, NW_RW_PROD_HEAD));
  if ((uint32_t)(ph - ct) <= r->cap - need) return true;
  return span_corrupt(r, ct, ph, NW_RW_CONS_TAIL, NW_RW_PROD_HEAD);
}

/* Spin, then sleep on (waiters_idx, seq_idx) until ready() or the deadline. */
static int wait_for(nw_ring_t *r, bool (*ready)(const nw_ring_t *, uint32_t),
                    uint32_t arg, int waiters_idx, int seq_idx,
                    int64_t timeout_ns) {
  if (ready(r, arg)) return 0;
  if (timeout_ns == 0) return -ETIMEDOUT;
  int64_t now = nw_now_ns();
  int64_t deadline = timeout_ns >= 0 ? now + timeout_ns : -1;
  int64_t spin_end = now + r->spin_ns;
  if (deadline >= 0 && spin_end > deadline) spin_end = deadline;
  /* Poll with a growing gap: every poll pulls the peer's cache line away
   * from it, so a gap lets a busy producer publish several messages per
   * transfer. The gap stays far below the cost of sleeping. */
  uint32_t gap = 1;
  for (uint32_t i = 1;; i++) {
    for (uint32_t k = 0; k < gap; k++) cpu_relax();
    if (ready(r, arg)) return 0;
    if (gap < SPIN_MAX_GAP) gap <<= 1;
    if ((i & 15u) == 0 && nw_now_ns() >= spin_end) break;
  }
  for (;;) {
    ADD_SC(W(r, waiters_idx), 1u);
    uint32_t seq = seq_arm(W(r, seq_idx));
    if (ready(r, arg)) {
      __atomic_sub_fetch(W(r, waiters_idx), 1u, __ATOMIC_SEQ_CST);
      return 0;
    }
    if (r->cancel && LOAD_SC(r->cancel)) {
      __atomic_sub_fetch(W(r, waiters_idx), 1u, __ATOMIC_SEQ_CST);
      return -ECANCELED;
    }
    int rc = nw_futex_wait(W(r, seq_idx), seq, deadline);
    __atomic_sub_fetch(W(r, waiters_idx), 1u, __ATOMIC_SEQ_CST);
    if (ready(r, arg)) return 0;
    if (r->cancel && LOAD_SC(r->cancel)) return -ECANCELED;
    if (rc == -ETIMEDOUT) return -ETIMEDOUT;
    if (deadline >= 0 && nw_now_ns() >= deadline) return -ETIMEDOUT;
  }
}

/* wait_for's conditions: a message (or the end) to read, room to write. */
static bool ready_read(const nw_ring_t *r, uint32_t unused) {
  (void)unused;
  return nw_ring_readable(r);
}

static bool ready_write(const nw_ring_t *r, uint32_t need) {
  return nw_ring_writable(r, need);
}

/* Consumer threads (or a helper that waits on their behalf). */
int nw_ring_wait_readable(nw_ring_t *r, int64_t timeout_ns) {
  int rc = wait_for(r, ready_read, 0, NW_RW_RD_WAITERS, NW_RW_RD_SEQ,
                    timeout_ns);
  if (rc) return rc;
  uint32_t ch = LOAD_ACQ(W(r, NW_RW_CONS_HEAD));
  if (LOAD_ACQ(W(r, NW_RW_PROD_TAIL)) == ch && empty_result(r, ch) == -EPIPE)
    return -EPIPE;
  return 0;
}

/* Producer threads (or a helper that waits on their behalf). */
int nw_ring_wait_writable(nw_ring_t *r, uint32_t need, int64_t timeout_ns) {
  if (need > r->cap) return -EMSGSIZE;
  int rc = wait_for(r, ready_write, need, NW_RW_WR_WAITERS, NW_RW_WR_SEQ,
                    timeout_ns);
  if (rc) return rc;
  return LOAD_RLX(W(r, NW_RW_CLOSED)) ? -EPIPE : 0;
}

/* Nanoseconds left until `deadline` (negative: none, -1), at least 0. */
static int64_t remaining(int64_t deadline) {
  if (deadline < 0) return -1;
  int64_t left = deadline - nw_now_ns();
  return left > 0 ? left : 0;
}

/* Producer threads; blocks until written, closed or timed out. */
int nw_ring_write(nw_ring_t *r, const void *buf, uint32_t len,
                  int64_t timeout_ns) {
  int64_t deadline = timeout_ns < 0 ? -1 : nw_now_ns() + timeout_ns;
  for (;;) {
    int rc = nw_ring_try_write(r, buf, len);
    if (rc != -EAGAIN) return rc;
    rc = nw_ring_wait_writable(r, nw_ring_record_size(len), remaining(deadline));
    if (rc) return rc;
  }
}

/* Consumer threads; blocks until read, closed and drained, or timed out. */
int nw_ring_read(nw_ring_t *r, void *buf, size_t size, uint32_t *len,
                 int64_t timeout_ns) {
  int64_t deadline = timeout_ns < 0 ? -1 : nw_now_ns() + timeout_ns;
  for (;;) {
    int rc = nw_ring_try_read(r, buf, size, len);
    if (rc != -EAGAIN) return rc;
    rc = nw_ring_wait_readable(r, remaining(deadline));
    if (rc) return rc;
  }
}
