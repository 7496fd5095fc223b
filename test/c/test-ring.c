/* Unit tests of src/core/ring.c. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ring.h"
#include "testing.h"

/* Memory for a ring, deliberately misaligned by `skew` bytes (a
 * SharedArrayBuffer is only 16-byte aligned). */
typedef struct {
  uint8_t *raw;
  uint8_t *mem;
  size_t size;
} region_t;

static region_t region(uint32_t cap, size_t skew) {
  region_t g;
  g.size = nw_ring_required_size(cap);
  g.raw = aligned_alloc(64, g.size + 128);
  memset(g.raw, 0, g.size + 128);
  g.mem = g.raw + skew;
  return g;
}

static void fill_pattern(uint8_t *p, uint32_t len, uint32_t seed) {
  for (uint32_t i = 0; i < len; i++) p[i] = (uint8_t)(seed * 31u + i * 7u + (i >> 8));
}

/* Put all four positions at `pos` (positions are free-running). */
static void set_positions(nw_ring_t *r, uint32_t pos) {
  REQUIRE(nw_ring_start_at(r, pos) == 0);
}

static void test_layout(void) {
  CHECK_EQ(nw_ring_round_capacity(1), NW_RING_MIN_CAPACITY);
  CHECK_EQ(nw_ring_round_capacity(100), 128);
  CHECK_EQ(nw_ring_round_capacity(4096), 4096);
  CHECK_EQ(nw_ring_round_capacity(NW_RING_MAX_CAPACITY + 1u), 0);
  CHECK_EQ(nw_ring_required_size(NW_RING_MAX_CAPACITY + 1u), 0);
  for (size_t skew = 0; skew < 64; skew += 16) {
    region_t g = region(256, skew);
    nw_ring_t r;
    REQUIRE(nw_ring_init(&r, g.mem, g.size, 256, 0) == 0);
    CHECK_EQ(((uintptr_t)r.hdr) % 64, 0);
    CHECK_EQ(((uintptr_t)&r.hdr[NW_RW_PROD_HEAD]) % 64, 0);
    CHECK_EQ(((uintptr_t)&r.hdr[NW_RW_CONS_HEAD]) % 64, 0);
    CHECK_EQ(((uintptr_t)&r.hdr[NW_RW_RD_SEQ]) / 64 !=
                 ((uintptr_t)&r.hdr[NW_RW_PROD_TAIL]) / 64, 1);
    CHECK_EQ(nw_ring_max_message(&r), 252);
    free(g.raw);
  }
}

static void test_init_rejects(void) {
  region_t g = region(256, 16);
  nw_ring_t r;
  CHECK_EQ(nw_ring_init(&r, g.mem, g.size, 0, 0), -EINVAL);
  CHECK_EQ(nw_ring_init(&r, g.mem, g.size, 100, 0), -EINVAL); /* not 2^k */
  CHECK_EQ(nw_ring_init(&r, g.mem, g.size, 256, 8), -EINVAL);
  CHECK_EQ(nw_ring_init(&r, g.mem, 200, 256, 0), -ENOSPC);
  CHECK_EQ(nw_ring_init(NULL, g.mem, g.size, 256, 0), -EINVAL);
  free(g.raw);
}

static void test_attach_rejects(void) {
  region_t g = region(256, 16);
  nw_ring_t r, a;
  /* zeros: no magic */
  CHECK_EQ(nw_ring_attach(&a, g.mem, g.size), -EINVAL);
  /* garbage */
  unsigned long long s = 42;
  for (size_t i = 0; i < g.size; i++) g.mem[i] = (uint8_t)t_rand(&s);
  CHECK_EQ(nw_ring_attach(&a, g.mem, g.size), -EINVAL);
  REQUIRE(nw_ring_init(&r, g.mem, g.size, 256, NW_RING_F_MULTI_PRODUCER) == 0);
  CHECK_EQ(nw_ring_attach(&a, g.mem, g.size), 0);
  CHECK_EQ(a.flags, NW_RING_F_MULTI_PRODUCER);
  CHECK_EQ(nw_ring_attach(&a, g.mem, 100), -EINVAL);       /* too small */
  CHECK_EQ(nw_ring_attach(&a, g.mem, g.size - 65), -ENOSPC); /* data cut */
  r.hdr[NW_RW_VERSION] = 99;
  CHECK_EQ(nw_ring_attach(&a, g.mem, g.size), -EINVAL);
  r.hdr[NW_RW_VERSION] = NW_RING_VERSION;
  r.hdr[NW_RW_CAPACITY] = 100;
  CHECK_EQ(nw_ring_attach(&a, g.mem, g.size), -EINVAL);
  r.hdr[NW_RW_CAPACITY] = 1u << 20; /* claims more than there is */
  CHECK_EQ(nw_ring_attach(&a, g.mem, g.size), -ENOSPC);
  r.hdr[NW_RW_CAPACITY] = 256;
  r.hdr[NW_RW_FLAGS] = 77;
  CHECK_EQ(nw_ring_attach(&a, g.mem, g.size), -EINVAL);
  r.hdr[NW_RW_FLAGS] = 0;
  r.hdr[NW_RW_PROD_TAIL] = 1000; /* more in use than the capacity */
  CHECK_EQ(nw_ring_attach(&a, g.mem, g.size), -EINVAL);
  r.hdr[NW_RW_PROD_TAIL] = 6; /* not a record boundary */
  CHECK_EQ(nw_ring_attach(&a, g.mem, g.size), -EINVAL);
  r.hdr[NW_RW_PROD_TAIL] = 0;
  r.hdr[NW_RW_CLOSED] = 5;
  CHECK_EQ(nw_ring_attach(&a, g.mem, g.size), -EINVAL);
  r.hdr[NW_RW_CLOSED] = 0;
  CHECK_EQ(nw_ring_attach(&a, g.mem, g.size), 0);
  free(g.raw);
}

/* Every record start offset, every payload length, across the data area's
 * end and across the 2^32 wrap of the positions. */
static void test_wrap_every_offset(void) {
  const uint32_t cap = 64;
  region_t g = region(cap, 48);
  nw_ring_t r;
  REQUIRE(nw_ring_init(&r, g.mem, g.size, cap, 0) == 0);
  uint8_t in[64], out[64];
  uint32_t bases[] = {0, 0xFFFFFF00u};
  for (int b = 0; b < 2; b++) {
    for (uint32_t start = 0; start < cap; start += 4) {
      for (uint32_t len = 0; len <= cap - 4; len++) {
        set_positions(&r, bases[b] + start);
        fill_pattern(in, len, start * 1000 + len);
        memset(out, 0xEE, sizeof out);
        REQUIRE(nw_ring_try_write(&r, in, len) == 0);
        uint32_t got = 12345;
        REQUIRE(nw_ring_try_read(&r, out, sizeof out, &got) == 0);
        CHECK_EQ(got, len);
        CHECK(memcmp(in, out, len) == 0);
        CHECK_EQ(nw_ring_try_read(&r, out, sizeof out, &got), -EAGAIN);
      }
    }
  }
  free(g.raw);
}

static void test_full_and_empty(void) {
  const uint32_t cap = 256;
  region_t g = region(cap, 0);
  nw_ring_t r;
  REQUIRE(nw_ring_init(&r, g.mem, g.size, cap, 0) == 0);
  uint8_t buf[256];
  uint32_t len;
  CHECK_EQ(nw_ring_try_read(&r, buf, sizeof buf, &len), -EAGAIN);
  /* 12-byte payloads take 16 bytes: exactly 16 fit. */
  int n = 0;
  for (;;) {
    fill_pattern(buf, 12, (uint32_t)n);
    int rc = nw_ring_try_write(&r, buf, 12);
    if (rc == -EAGAIN) break;
    REQUIRE(rc == 0);
    n++;
  }
  CHECK_EQ(n, 16);
  CHECK_EQ(nw_ring_used(&r), 256);
  CHECK(!nw_ring_writable(&r, 4));
  CHECK_EQ(nw_ring_try_write(&r, buf, 0), -EAGAIN);
  for (int i = 0; i < n; i++) {
    uint8_t want[12];
    fill_pattern(want, 12, (uint32_t)i);
    REQUIRE(nw_ring_try_read(&r, buf, sizeof buf, &len) == 0);
    CHECK_EQ(len, 12);
    CHECK(memcmp(buf, want, 12) == 0);
  }
  CHECK_EQ(nw_ring_try_read(&r, buf, sizeof buf, &len), -EAGAIN);
  CHECK_EQ(nw_ring_used(&r), 0);
  free(g.raw);
}

static void test_zero_and_max_length(void) {
  const uint32_t cap = 1024;
  region_t g = region(cap, 16);
  nw_ring_t r;
  REQUIRE(nw_ring_init(&r, g.mem, g.size, cap, 0) == 0);
  uint8_t in[1024], out[1024];
  uint32_t len = 99;
  REQUIRE(nw_ring_try_write(&r, in, 0) == 0);
  REQUIRE(nw_ring_try_read(&r, out, 0, &len) == 0);
  CHECK_EQ(len, 0);
  uint32_t max = nw_ring_max_message(&r);
  CHECK_EQ(max, cap - 4);
  CHECK_EQ(nw_ring_try_write(&r, in, max + 1), -EMSGSIZE);
  /* max fits only in an empty ring, at any offset */
  for (uint32_t start = 0; start < cap; start += 4) {
    set_positions(&r, start);
    fill_pattern(in, max, start);
    REQUIRE(nw_ring_try_write(&r, in, max) == 0);
    CHECK_EQ(nw_ring_try_write(&r, in, 0), -EAGAIN);
    /* too small a buffer: told the size, nothing consumed */
    CHECK_EQ(nw_ring_try_read(&r, out, 10, &len), -ENOBUFS);
    CHECK_EQ(len, max);
    REQUIRE(nw_ring_try_read(&r, out, sizeof out, &len) == 0);
    CHECK_EQ(len, max);
    CHECK(memcmp(in, out, max) == 0);
  }
  free(g.raw);
}

static void test_close_semantics(void) {
  region_t g = region(128, 16);
  nw_ring_t r;
  REQUIRE(nw_ring_init(&r, g.mem, g.size, 128, 0) == 0);
  uint8_t buf[128];
  uint32_t len;
  REQUIRE(nw_ring_try_write(&r, "abc", 3) == 0);
  REQUIRE(nw_ring_try_write(&r, "de", 2) == 0);
  nw_ring_close(&r);
  CHECK(nw_ring_is_closed(&r));
  CHECK_EQ(nw_ring_try_write(&r, "x", 1), -EPIPE);
  CHECK_EQ(nw_ring_write(&r, "x", 1, -1), -EPIPE);
  REQUIRE(nw_ring_try_read(&r, buf, sizeof buf, &len) == 0);
  CHECK_EQ(len, 3);
  CHECK(memcmp(buf, "abc", 3) == 0);
  CHECK_EQ(nw_ring_wait_readable(&r, 0), 0);
  REQUIRE(nw_ring_read(&r, buf, sizeof buf, &len, -1) == 0);
  CHECK_EQ(len, 2);
  CHECK_EQ(nw_ring_try_read(&r, buf, sizeof buf, &len), -EPIPE);
  CHECK_EQ(nw_ring_read(&r, buf, sizeof buf, &len, -1), -EPIPE);
  CHECK_EQ(nw_ring_wait_readable(&r, -1), -EPIPE);
  nw_ring_close(&r); /* twice is fine */
  free(g.raw);
}

/* A writer that reserved and then found the ring closed leaves a hole that
 * readers skip. */
static void test_skip_records(void) {
  region_t g = region(128, 0);
  nw_ring_t r;
  REQUIRE(nw_ring_init(&r, g.mem, g.size, 128, NW_RING_F_MULTI_CONSUMER) == 0);
  uint8_t buf[128];
  uint32_t len;
  REQUIRE(nw_ring_try_write(&r, "one", 3) == 0);
  /* hand-made hole of 8 payload bytes, then a real record */
  uint32_t pos = r.hdr[NW_RW_PROD_HEAD];
  *(uint32_t *)(r.data + (pos & r.mask)) = NW_RING_SKIP | 8u;
  r.hdr[NW_RW_PROD_HEAD] = r.hdr[NW_RW_PROD_TAIL] = pos + 12;
  REQUIRE(nw_ring_try_write(&r, "two", 3) == 0);
  REQUIRE(nw_ring_try_read(&r, buf, sizeof buf, &len) == 0);
  CHECK(len == 3 && memcmp(buf, "one", 3) == 0);
  REQUIRE(nw_ring_try_read(&r, buf, sizeof buf, &len) == 0);
  CHECK(len == 3 && memcmp(buf, "two", 3) == 0);
  CHECK_EQ(nw_ring_try_read(&r, buf, sizeof buf, &len), -EAGAIN);
  free(g.raw);
}

static void test_corrupt_record(void) {
  region_t g = region(128, 0);
  nw_ring_t r;
  REQUIRE(nw_ring_init(&r, g.mem, g.size, 128, 0) == 0);
  uint8_t buf[128];
  uint32_t len;
  REQUIRE(nw_ring_try_write(&r, "abcd", 4) == 0);
  *(uint32_t *)r.data = 4000; /* length larger than what was published */
  CHECK_EQ(nw_ring_try_read(&r, buf, sizeof buf, &len), -EBADMSG);
  r.hdr[NW_RW_PROD_TAIL] = 0x7000; /* position far beyond the capacity */
  r.cached_prod = 0;
  CHECK_EQ(nw_ring_try_read(&r, buf, sizeof buf, &len), -EBADMSG);
  free(g.raw);
}

/* A ring of every mode whose positions a peer overwrote with values that
 * cannot be right: writes and reads say -EBADMSG at once, never spin, and
 * waits do not sleep on them. */
static void test_corrupt_positions(void) {
  static const uint32_t modes[] = {0, NW_RING_F_MULTI_PRODUCER, NW_RING_F_MULTI_CONSUMER,
                                   NW_RING_F_ALL};
  for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
    uint32_t flags = modes[m];
    region_t g = region(256, 16);
    nw_ring_t r;
    REQUIRE(nw_ring_init(&r, g.mem, g.size, 256, flags) == 0);
    uint8_t buf[256];
    uint32_t len;
    nw_ring_iov_t iov[2] = {{"ab", 2}, {"cd", 2}};
    /* prod_head more than a ring past cons_tail. */
    __atomic_store_n(&r.hdr[NW_RW_PROD_HEAD], 3u * 256u, __ATOMIC_SEQ_CST);
    int64_t t0 = nw_now_ns();
    CHECK_EQ(nw_ring_try_write(&r, "x", 1), -EBADMSG);
    CHECK_EQ(nw_ring_write_batch(&r, iov, 2), -EBADMSG);
    CHECK(nw_ring_writable(&r, 8)); /* go and look: the write says why */
    CHECK_EQ(nw_ring_wait_writable(&r, 8, -1), 0);
    CHECK_EQ(nw_ring_write(&r, "x", 1, 5000000000LL), -EBADMSG);
    CHECK_EQ(nw_ring_write(&r, "x", 1, -1), -EBADMSG);
    /* cons_tail past prod_head (the span wraps negative). */
    __atomic_store_n(&r.hdr[NW_RW_PROD_HEAD], 0u, __ATOMIC_SEQ_CST);
    __atomic_store_n(&r.hdr[NW_RW_CONS_TAIL], 64u, __ATOMIC_SEQ_CST);
    r.cached_cons = 64u;
    CHECK_EQ(nw_ring_try_write(&r, "x", 1), -EBADMSG);
    __atomic_store_n(&r.hdr[NW_RW_CONS_TAIL], 0u, __ATOMIC_SEQ_CST);
    r.cached_cons = 0;
    /* prod_tail far past cons_head: reads refuse, waits do not sleep. */
    __atomic_store_n(&r.hdr[NW_RW_PROD_TAIL], 0x7000u, __ATOMIC_SEQ_CST);
    r.cached_prod = 0;
    CHECK_EQ(nw_ring_try_read(&r, buf, sizeof buf, &len), -EBADMSG);
    CHECK_EQ(nw_ring_wait_readable(&r, -1), 0);
    CHECK_EQ(nw_ring_read(&r, buf, sizeof buf, &len, -1), -EBADMSG);
    CHECK(nw_now_ns() - t0 < 500000000LL);
    free(g.raw);
  }
}

/* With several producers (consumers), one that can never publish (release)
 * before us: a tail overwritten to more than a ring away is -EBADMSG at
 * once; a tail that stops short of our turn (a peer died mid-record) is
 * -EBADMSG after a second of no progress. Timeouts of blocking calls are
 * not stretched past that. */
static void test_stuck_turns(void) {
  uint8_t buf[64];
  uint32_t len;
  /* Producers. */
  {
    region_t g = region(256, 0);
    nw_ring_t r;
    REQUIRE(nw_ring_init(&r, g.mem, g.size, 256, NW_RING_F_MULTI_PRODUCER) == 0);
    set_positions(&r, 1000);
    /* A tail ahead of every reservation. */
    __atomic_store_n(&r.hdr[NW_RW_PROD_TAIL], 1000u + 40u, __ATOMIC_SEQ_CST);
    int64_t t0 = nw_now_ns();
    CHECK_EQ(nw_ring_try_write(&r, "x", 1), -EBADMSG);
    CHECK(nw_now_ns() - t0 < 100000000LL);
    free(g.raw);
  }
  {
    region_t g = region(256, 0);
    nw_ring_t r;
    REQUIRE(nw_ring_init(&r, g.mem, g.size, 256, NW_RING_F_MULTI_PRODUCER) == 0);
    /* A producer reserved 8 bytes and died before publishing them. */
    __atomic_store_n(&r.hdr[NW_RW_PROD_HEAD], 8u, __ATOMIC_SEQ_CST);
    int64_t t0 = nw_now_ns();
    CHECK_EQ(nw_ring_try_write(&r, "x", 1), -EBADMSG);
    int64_t took = nw_now_ns() - t0;
    CHECK(took >= 900000000LL && took < 3000000000LL);
    free(g.raw);
  }
  /* Consumers. */
  {
    region_t g = region(256, 0);
    nw_ring_t r;
    REQUIRE(nw_ring_init(&r, g.mem, g.size, 256, NW_RING_F_MULTI_CONSUMER) == 0);
    REQUIRE(nw_ring_try_write(&r, "abcd", 4) == 0);
    REQUIRE(nw_ring_try_write(&r, "efgh", 4) == 0);
    /* A consumer claimed the first record and died before releasing it. */
    __atomic_store_n(&r.hdr[NW_RW_CONS_HEAD], 8u, __ATOMIC_SEQ_CST);
    int64_t t0 = nw_now_ns();
    CHECK_EQ(nw_ring_try_read(&r, buf, sizeof buf, &len), -EBADMSG);
    int64_t took = nw_now_ns() - t0;
    CHECK(took >= 900000000LL && took < 3000000000LL);
    /* A released position more than a ring from the claim. */
    REQUIRE(nw_ring_try_write(&r, "ijkl", 4) == 0);
    __atomic_store_n(&r.hdr[NW_RW_CONS_TAIL], 16u + 4096u, __ATOMIC_SEQ_CST);
    t0 = nw_now_ns();
    CHECK_EQ(nw_ring_try_read(&r, buf, sizeof buf, &len), -EBADMSG);
    CHECK(nw_now_ns() - t0 < 100000000LL);
    free(g.raw);
  }
}

typedef struct {
  int n;
  int bad;
} batch_ctx;

static void cb(void *p, const uint8_t *m, uint32_t l) {
  batch_ctx *c = p;
  uint8_t want[16];
  fill_pattern(want, 16, (uint32_t)c->n);
  if (l != 16 || memcmp(m, want, 16) != 0) c->bad++;
  c->n++;
}

static void test_batches(void) {
  region_t g = region(256, 32);
  nw_ring_t r;
  REQUIRE(nw_ring_init(&r, g.mem, g.size, 256, 0) == 0);
  uint8_t payload[40][16];
  nw_ring_iov_t iov[40];
  for (int i = 0; i < 40; i++) {
    fill_pattern(payload[i], 16, (uint32_t)i);
    iov[i].base = payload[i];
    iov[i].len = 16;
  }
  /* 20-byte records: 12 fit in 256 */
  CHECK_EQ(nw_ring_write_batch(&r, iov, 40), 12);
  CHECK_EQ(nw_ring_write_batch(&r, iov, 40), 0);
  batch_ctx c = {0, 0};
  uint8_t scratch[256];
  CHECK_EQ(nw_ring_read_batch(&r, cb, &c, 5, scratch), 5);
  CHECK_EQ(nw_ring_read_batch(&r, cb, &c, 100, scratch), 7);
  CHECK_EQ(c.n, 12);
  CHECK_EQ(c.bad, 0);
  CHECK_EQ(nw_ring_read_batch(&r, cb, &c, 100, scratch), -EAGAIN);
  /* wrapping records go through the scratch buffer */
  CHECK_EQ(nw_ring_write_batch(&r, iov + 12, 12), 12);
  CHECK_EQ(nw_ring_read_batch(&r, cb, &c, 100, scratch), 12);
  CHECK_EQ(c.n, 24);
  CHECK_EQ(c.bad, 0);
  free(g.raw);
}

/* ---- multi-threaded stress ---------------------------------------------- */

#define MAXP 4
#define MAXC 4

typedef struct {
  uint8_t *mem;
  size_t size;
  int producers, consumers;
  uint32_t per_producer;
  uint32_t max_len;
  int blocking;
  /* results */
  uint8_t *seen;              /* producers * per_producer flags */
  int errors;
  unsigned long long received;
  pthread_mutex_t lock;
} stress_t;

typedef struct {
  stress_t *s;
  int id;
} worker_arg;

/* message: u32 producer, u32 seq, u32 checksum, then payload */
static uint32_t checksum(const uint8_t *p, uint32_t n) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

static void *producer(void *p) {
  worker_arg *a = p;
  stress_t *s = a->s;
  nw_ring_t r;
  if (nw_ring_attach(&r, s->mem, s->size)) abort();
  unsigned long long rng = 0x9E3779B97F4A7C15ULL * (unsigned)(a->id + 1);
  uint8_t msg[4096 + 12];
  for (uint32_t seq = 0; seq < s->per_producer; seq++) {
    uint32_t plen = (uint32_t)(t_rand(&rng) % (s->max_len + 1));
    for (uint32_t i = 0; i < plen; i++) msg[12 + i] = (uint8_t)t_rand(&rng);
    uint32_t hdr[3] = {(uint32_t)a->id, seq, checksum(msg + 12, plen)};
    memcpy(msg, hdr, 12);
    int rc;
    if (s->blocking) {
      rc = nw_ring_write(&r, msg, plen + 12, -1);
    } else {
      while ((rc = nw_ring_try_write(&r, msg, plen + 12)) == -EAGAIN) sched_yield();
    }
    if (rc) {
      __atomic_add_fetch(&s->errors, 1, __ATOMIC_SEQ_CST);
      break;
    }
  }
  return NULL;
}

static void *consumer(void *p) {
  worker_arg *a = p;
  stress_t *s = a->s;
  nw_ring_t r;
  if (nw_ring_attach(&r, s->mem, s->size)) abort();
  uint8_t msg[4096 + 12];
  int64_t last[MAXP];
  for (int i = 0; i < MAXP; i++) last[i] = -1;
  for (;;) {
    uint32_t len;
    int rc;
    if (s->blocking) {
      rc = nw_ring_read(&r, msg, sizeof msg, &len, -1);
    } else {
      while ((rc = nw_ring_try_read(&r, msg, sizeof msg, &len)) == -EAGAIN) sched_yield();
    }
    if (rc == -EPIPE) break;
    if (rc || len < 12) {
      __atomic_add_fetch(&s->errors, 1, __ATOMIC_SEQ_CST);
      break;
    }
    uint32_t hdr[3];
    memcpy(hdr, msg, 12);
    int bad = hdr[0] >= (uint32_t)s->producers || hdr[1] >= s->per_producer ||
              checksum(msg + 12, len - 12) != hdr[2] ||
              (int64_t)hdr[1] <= last[hdr[0]];
    if (!bad) {
      last[hdr[0]] = hdr[1];
      uint8_t *flag = &s->seen[hdr[0] * s->per_producer + hdr[1]];
      if (__atomic_exchange_n(flag, 1, __ATOMIC_SEQ_CST)) bad = 1; /* duplicate */
    }
    if (bad) __atomic_add_fetch(&s->errors, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&s->received, 1, __ATOMIC_SEQ_CST);
  }
  return NULL;
}

static void run_stress(int producers, int consumers, uint32_t cap,
                       uint32_t per_producer, uint32_t max_len, int blocking) {
  stress_t s;
  memset(&s, 0, sizeof s);
  region_t g = region(cap, 16);
  s.mem = g.mem;
  s.size = g.size;
  s.producers = producers;
  s.consumers = consumers;
  s.per_producer = per_producer;
  s.max_len = max_len;
  s.blocking = blocking;
  s.seen = calloc((size_t)producers * per_producer, 1);
  uint32_t flags = (producers > 1 ? NW_RING_F_MULTI_PRODUCER : 0) |
                   (consumers > 1 ? NW_RING_F_MULTI_CONSUMER : 0);
  nw_ring_t r;
  REQUIRE(nw_ring_init(&r, g.mem, g.size, cap, flags) == 0);
  pthread_t pt[MAXP], ct[MAXC];
  worker_arg pa[MAXP], ca[MAXC];
  for (int i = 0; i < consumers; i++) {
    ca[i] = (worker_arg){&s, i};
    pthread_create(&ct[i], NULL, consumer, &ca[i]);
  }
  for (int i = 0; i < producers; i++) {
    pa[i] = (worker_arg){&s, i};
    pthread_create(&pt[i], NULL, producer, &pa[i]);
  }
  for (int i = 0; i < producers; i++) pthread_join(pt[i], NULL);
  nw_ring_close(&r);
  for (int i = 0; i < consumers; i++) pthread_join(ct[i], NULL);
  CHECK_EQ(s.errors, 0);
  CHECK_EQ(s.received, (unsigned long long)producers * per_producer);
  size_t missing = 0;
  for (size_t i = 0; i < (size_t)producers * per_producer; i++) missing += !s.seen[i];
  CHECK_EQ(missing, 0);
  free(s.seen);
  free(g.raw);
}

static void test_spsc_stress(void) { run_stress(1, 1, 4096, 200000, 64, 0); }
static void test_spsc_blocking(void) { run_stress(1, 1, 1024, 50000, 200, 1); }
static void test_mpsc_stress(void) { run_stress(4, 1, 8192, 30000, 300, 1); }
static void test_spmc_stress(void) { run_stress(1, 4, 8192, 100000, 100, 1); }
static void test_mpmc_stress(void) { run_stress(4, 4, 16384, 30000, 4096, 1); }
static void test_mpmc_small_ring(void) { run_stress(3, 3, 256, 20000, 40, 0); }

/* A reader blocked in a wait is woken by a writer in another thread, and a
 * timeout returns -ETIMEDOUT. */
static void *late_writer(void *p) {
  nw_ring_t *r = p;
  struct timespec ts = {0, 30 * 1000 * 1000};
  nanosleep(&ts, NULL);
  nw_ring_try_write(r, "wake", 4);
  return NULL;
}

static void test_wait_and_timeout(void) {
  region_t g = region(256, 16);
  nw_ring_t r, w;
  REQUIRE(nw_ring_init(&r, g.mem, g.size, 256, 0) == 0);
  REQUIRE(nw_ring_attach(&w, g.mem, g.size) == 0);
  int64_t t0 = nw_now_ns();
  CHECK_EQ(nw_ring_wait_readable(&r, 20 * 1000 * 1000), -ETIMEDOUT);
  CHECK(nw_now_ns() - t0 >= 20 * 1000 * 1000);
  pthread_t th;
  pthread_create(&th, NULL, late_writer, &w);
  uint8_t buf[16];
  uint32_t len = 0;
  CHECK_EQ(nw_ring_read(&r, buf, sizeof buf, &len, -1), 0);
  CHECK_EQ(len, 4);
  pthread_join(th, NULL);
  /* a full ring: a blocking write times out */
  uint8_t big[200] = {0};
  REQUIRE(nw_ring_try_write(&r, big, 200) == 0);
  CHECK_EQ(nw_ring_write(&r, big, 200, 10 * 1000 * 1000), -ETIMEDOUT);
  free(g.raw);
}

/* A sleeping reader arms rd_seq; the first wake moves it on and disarms
 * it; more wakes before the reader has run (the writer publishing message
 * after message) leave it alone, so they make no system call. close()
 * moves both words on even when nobody sleeps. */
typedef struct {
  nw_ring_t *r;
  int rc;
} waiter_arg_t;

static void *blocked_reader(void *p) {
  waiter_arg_t *a = p;
  a->r->spin_ns = 0;
  a->rc = nw_ring_wait_readable(a->r, 5LL * 1000 * 1000 * 1000);
  return NULL;
}

static void test_wake_once_per_sleep(void) {
  region_t g = region(256, 16);
  nw_ring_t r, w;
  REQUIRE(nw_ring_init(&w, g.mem, g.size, 256, 0) == 0);
  REQUIRE(nw_ring_attach(&r, g.mem, g.size) == 0);
  uint32_t *seq = &w.hdr[NW_RW_RD_SEQ];
  /* nobody asleep: a wake changes nothing */
  uint32_t s0 = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
  nw_ring_wake_readers(&w);
  CHECK_EQ(__atomic_load_n(seq, __ATOMIC_SEQ_CST), s0);
  waiter_arg_t a = {&r, 1};
  pthread_t th;
  pthread_create(&th, NULL, blocked_reader, &a);
  /* wait (bounded) until the reader sleeps on an armed word */
  int64_t until = nw_now_ns() + 5LL * 1000 * 1000 * 1000;
  while (((__atomic_load_n(seq, __ATOMIC_SEQ_CST) & 1u) == 0 ||
          __atomic_load_n(&w.hdr[NW_RW_RD_WAITERS], __ATOMIC_SEQ_CST) == 0) &&
         nw_now_ns() < until) {
    struct timespec ts = {0, 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  uint32_t armed = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
  REQUIRE((armed & 1u) == 1u);
  REQUIRE(nw_ring_try_write(&w, "a", 1) == 0); /* wakes: moves the word on */
  uint32_t woken = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
  CHECK_EQ(woken, armed + 1u);
  CHECK_EQ(woken & 1u, 0u);
  REQUIRE(nw_ring_try_write(&w, "b", 1) == 0); /* already woken: nothing */
  nw_ring_wake_readers(&w);
  CHECK_EQ(__atomic_load_n(seq, __ATOMIC_SEQ_CST), woken);
  pthread_join(th, NULL);
  CHECK_EQ(a.rc, 0);
  /* close: both words move on, disarmed */
  uint32_t wseq = __atomic_load_n(&w.hdr[NW_RW_WR_SEQ], __ATOMIC_SEQ_CST);
  nw_ring_close(&w);
  CHECK(__atomic_load_n(seq, __ATOMIC_SEQ_CST) != woken);
  CHECK_EQ(__atomic_load_n(seq, __ATOMIC_SEQ_CST) & 1u, 0u);
  CHECK(__atomic_load_n(&w.hdr[NW_RW_WR_SEQ], __ATOMIC_SEQ_CST) != wseq);
  free(g.raw);
}

/* nw_ring_start_at moves only an empty ring; a reader attached after sees
 * the positions it set, across 2^31 and 2^32. */
static void test_start_at(void) {
  region_t g = region(256, 16);
  nw_ring_t w, r;
  REQUIRE(nw_ring_init(&w, g.mem, g.size, 256, 0) == 0);
  const uint32_t starts[] = {0x7fffff80u, 0xffffff80u};
  for (int k = 0; k < 2; k++) {
    CHECK_EQ(nw_ring_start_at(&w, starts[k]), 0);
    REQUIRE(nw_ring_attach(&r, g.mem, g.size) == 0);
    uint8_t in[40], out[40];
    for (uint32_t i = 0; i < 20; i++) {
      fill_pattern(in, sizeof in, i);
      REQUIRE(nw_ring_try_write(&w, in, sizeof in) == 0);
      uint32_t len = 0;
      REQUIRE(nw_ring_try_read(&r, out, sizeof out, &len) == 0);
      CHECK_EQ(len, sizeof in);
      CHECK(memcmp(in, out, sizeof in) == 0);
    }
    CHECK(w.hdr[NW_RW_PROD_TAIL] - starts[k] == 20u * nw_ring_record_size(40));
    CHECK(w.hdr[NW_RW_PROD_TAIL] < starts[k] || starts[k] < 0x80000000u);
  }
  REQUIRE(nw_ring_try_write(&w, "x", 1) == 0);
  CHECK_EQ(nw_ring_start_at(&w, 0), -EBUSY);
  free(g.raw);
}

TEST_MAIN(T(test_layout), T(test_start_at), T(test_init_rejects), T(test_attach_rejects),
          T(test_wrap_every_offset), T(test_full_and_empty),
          T(test_zero_and_max_length), T(test_close_semantics),
          T(test_skip_records), T(test_corrupt_record), T(test_corrupt_positions),
          T(test_stuck_turns), T(test_batches),
          T(test_wait_and_timeout), T(test_wake_once_per_sleep), T(test_spsc_stress),
          T(test_spsc_blocking), T(test_mpsc_stress), T(test_spmc_stress),
          T(test_mpmc_stress), T(test_mpmc_small_ring))
