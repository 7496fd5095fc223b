/*
 * Test and benchmark entry points, exported as binding._testing. They drive
 * the C core from native threads so that the tests can check native <-> JS
 * interplay (a native writer waking a JS reader and the other way round)
 * and the benchmarks can measure the core without JavaScript in the loop.
 * Nothing in lib/ uses them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/ring.h"
#include "napi/common.h"
#include "napi/parts.h"

/* The content test peers agree on: message `seq` of a stream seeded `seed`
 * is a u32 sequence number followed by `len` bytes of a pattern. */
static uint32_t msg_len(uint32_t seed, uint32_t seq, uint32_t max_len) {
  uint32_t x = (seed ^ (seq * 2654435761u)) * 2246822519u;
  x ^= x >> 15;
  return max_len ? x % (max_len + 1) : 0;
}

static uint8_t msg_byte(uint32_t seed, uint32_t seq, uint32_t i) {
  return (uint8_t)(seed + seq * 7u + i * 13u + (i >> 7));
}

typedef struct peer {
  napi_ref buffer;
  nw_ring_t ring;
  pthread_t thread;
  bool reader;
  uint32_t count, seed, max_len, delay_ms;
  int64_t result; /* writer: messages written; reader: valid ones read, or -errno */
  bool joined;
} peer_t;

static void *writer_main(void *arg) {
  peer_t *p = arg;
  if (p->delay_ms) {
    struct timespec ts = {p->delay_ms / 1000, (long)(p->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
  uint8_t *msg = malloc(4 + (size_t)p->max_len);
  int64_t n = 0;
  for (uint32_t seq = 0; seq < p->count; seq++) {
    uint32_t len = msg_len(p->seed, seq, p->max_len);
    memcpy(msg, &seq, 4);
    for (uint32_t i = 0; i < len; i++) msg[4 + i] = msg_byte(p->seed, seq, i);
    int rc = nw_ring_write(&p->ring, msg, 4 + len, -1);
    if (rc) { n = rc; break; }
    n++;
  }
  free(msg);
  p->result = n;
  return NULL;
}

static void *reader_main(void *arg) {
  peer_t *p = arg;
  size_t cap = nw_ring_max_message(&p->ring);
  uint8_t *msg = malloc(cap);
  int64_t ok = 0;
  for (uint32_t seq = 0; seq < p->count; seq++) {
    uint32_t len;
    int rc = nw_ring_read(&p->ring, msg, cap, &len, -1);
    if (rc) { ok = rc; break; }
    uint32_t got;
    if (len < 4) { ok = -EBADMSG; break; }
    memcpy(&got, msg, 4);
    uint32_t want = msg_len(p->seed, seq, p->max_len);
    if (got != seq || len != 4 + want) { ok = -EBADMSG; break; }
    for (uint32_t i = 0; i < want; i++)
      if (msg[4 + i] != msg_byte(p->seed, seq, i)) { ok = -EBADMSG; break; }
    if (ok < 0) break;
    ok++;
  }
  free(msg);
  p->result = ok;
  return NULL;
}

static void peer_finalize(napi_env env, void *data, void *hint) {
  peer_t *p = data;
  if (!p->joined) {
    /* Never joined: close the ring so the thread can finish, then wait. */
    nw_ring_close(&p->ring);
    pthread_join(p->thread, NULL);
  }
  if (p->buffer) napi_delete_reference(env, p->buffer);
  free(p);
}

/* startPeer(view, isReader, count, seed, maxLen, delayMs) -> external */
static napi_value start_peer_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(6);
  void *mem;
  size_t len;
  napi_value ab;
  if (!nw_napi_get_bytes(env, argv[0], &mem, &len, &ab)) return NULL;
  peer_t *p = calloc(1, sizeof *p);
  bool reader = false;
  NAPI_CALL(env, napi_get_value_bool(env, argv[1], &reader));
  p->reader = reader;
  napi_get_value_uint32(env, argv[2], &p->count);
  napi_get_value_uint32(env, argv[3], &p->seed);
  napi_get_value_uint32(env, argv[4], &p->max_len);
  napi_get_value_uint32(env, argv[5], &p->delay_ms);
  if (nw_ring_attach(&p->ring, mem, len) != 0) {
    free(p);
    nw_napi_throw_code(env, NW_ERROR, "ERR_INVALID_ARG_VALUE", "not a ring");
    return NULL;
  }
  napi_create_reference(env, argv[0], 1, &p->buffer);
  napi_value ext;
  NAPI_CALL(env, napi_create_external(env, p, peer_finalize, NULL, &ext));
  pthread_create(&p->thread, NULL, reader ? reader_main : writer_main, p);
  return ext;
}

/* joinPeer(external) -> result (blocks) */
static napi_value join_peer_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(1);
  void *data;
  NAPI_CALL(env, napi_get_value_external(env, argv[0], &data));
  peer_t *p = data;
  if (!p->joined) {
    pthread_join(p->thread, NULL);
    p->joined = true;
  }
  napi_value out;
  NAPI_CALL(env, napi_create_int64(env, p->result, &out));
  return out;
}

/* ---- benchmarks ------------------------------------------------------------ */

typedef struct {
  nw_ring_t ring;
  uint64_t count;
  uint32_t len;
  int batch;
  uint64_t sum;
} bench_t;

static void bench_sum(void *ctx, const uint8_t *m, uint32_t len) {
  bench_t *b = ctx;
  uint64_t v;
  memcpy(&v, m, sizeof v);
  b->sum += v;
}

static void *bench_consumer(void *arg) {
  bench_t *b = arg;
  uint8_t *scratch = malloc(b->ring.cap);
  uint64_t got = 0;
  b->sum = 0;
  while (got < b->count) {
    int n = nw_ring_read_batch(&b->ring, bench_sum, b, 1 << 20, scratch);
    if (n > 0) {
      got += (uint64_t)n;
    } else if (n == -EAGAIN) {
      nw_ring_wait_readable(&b->ring, -1);
    } else {
      break;
    }
  }
  free(scratch);
  return NULL;
}

/*
 * benchRingNative(capacity, count, len, batch) -> [ns, checksumOk]
 * One producer thread (this one) and one consumer thread move `count`
 * messages of `len` (>= 8) bytes through a fresh ring, `batch` messages per
 * publication.
 */
static napi_value bench_ring_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(4);
  uint32_t cap = 0, len = 16, batch = 1;
  double count_d = 0;
  napi_get_value_uint32(env, argv[0], &cap);
  napi_get_value_double(env, argv[1], &count_d);
  napi_get_value_uint32(env, argv[2], &len);
  napi_get_value_uint32(env, argv[3], &batch);
  if (len < 8) len = 8;
  if (batch < 1) batch = 1;
  if (batch > 256) batch = 256;
  size_t size = nw_ring_required_size(cap);
  if (!size || len > cap / 2) {
    nw_napi_throw_code(env, NW_RANGE_ERROR, "ERR_OUT_OF_RANGE", "bad benchmark parameters");
    return NULL;
  }
  void *mem = aligned_alloc(64, (size + 63) & ~(size_t)63);
  bench_t b;
  memset(&b, 0, sizeof b);
  nw_ring_init(&b.ring, mem, size, nw_ring_round_capacity(cap), 0);
  nw_ring_t prod;
  nw_ring_attach(&prod, mem, size);
  b.count = (uint64_t)count_d;
  b.len = len;
  uint8_t (*msgs)[64] = calloc(256, 64);
  nw_ring_iov_t iov[256];
  pthread_t th;
  int64_t t0 = nw_now_ns();
  pthread_create(&th, NULL, bench_consumer, &b);
  uint64_t sent = 0, want_sum = 0;
  while (sent < b.count) {
    int n = (int)((b.count - sent) < batch ? (b.count - sent) : batch);
    for (int i = 0; i < n; i++) {
      uint64_t v = sent + (uint64_t)i;
      memcpy(msgs[i], &v, 8);
      iov[i].base = msgs[i];
      iov[i].len = len > 64 ? 64 : len;
    }
    int w = n == 1 ? (nw_ring_try_write(&prod, iov[0].base, iov[0].len) == 0)
                   : nw_ring_write_batch(&prod, iov, n);
    if (w > 0) {
      for (int i = 0; i < w; i++) want_sum += sent + (uint64_t)i;
      sent += (uint64_t)w;
    } else {
      nw_ring_wait_writable(&prod, nw_ring_record_size(iov[0].len), -1);
    }
  }
  pthread_join(th, NULL);
  int64_t ns = nw_now_ns() - t0;
  free(msgs);
  free(mem);
  napi_value out, v;
  NAPI_CALL(env, napi_create_array_with_length(env, 2, &out));
  NAPI_CALL(env, napi_create_double(env, (double)ns, &v));
  NAPI_CALL(env, napi_set_element(env, out, 0, v));
  NAPI_CALL(env, napi_get_boolean(env, b.sum == want_sum, &v));
  NAPI_CALL(env, napi_set_element(env, out, 1, v));
  return out;
}

/* The physical reference: a bare single-producer/single-consumer ring of
 * u64 values, no framing, no wakeups, the indices on separate lines. */
typedef struct {
  _Alignas(64) uint64_t head;
  _Alignas(64) uint64_t tail;
  _Alignas(64) uint64_t slots[4096];
  uint64_t count;
  uint64_t sum;
} bare_t;

static void *bare_consumer(void *arg) {
  bare_t *b = arg;
  uint64_t tail = 0, sum = 0;
  while (tail < b->count) {
    uint64_t head = __atomic_load_n(&b->head, __ATOMIC_ACQUIRE);
    while (tail < head) sum += b->slots[tail++ & 4095];
    __atomic_store_n(&b->tail, tail, __ATOMIC_RELEASE);
  }
  b->sum = sum;
  return NULL;
}

/* benchBareSpsc(count) -> [ns, checksumOk] */
static napi_value bench_bare_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(1);
  double count_d = 0;
  napi_get_value_double(env, argv[0], &count_d);
  bare_t *b = aligned_alloc(64, sizeof(bare_t));
  memset(b, 0, sizeof *b);
  b->count = (uint64_t)count_d;
  pthread_t th;
  int64_t t0 = nw_now_ns();
  pthread_create(&th, NULL, bare_consumer, b);
  uint64_t head = 0, tail = 0, want = 0;
  while (head < b->count) {
    if (head - tail >= 4096) {
      tail = __atomic_load_n(&b->tail, __ATOMIC_ACQUIRE);
      continue;
    }
    uint64_t room = 4096 - (head - tail), end = head + room;
    if (end > b->count) end = b->count;
    for (; head < end; head++) {
      b->slots[head & 4095] = head;
      want += head;
    }
    __atomic_store_n(&b->head, head, __ATOMIC_RELEASE);
  }
  pthread_join(th, NULL);
  int64_t ns = nw_now_ns() - t0;
  bool ok = b->sum == want;
  free(b);
  napi_value out, v;
  NAPI_CALL(env, napi_create_array_with_length(env, 2, &out));
  NAPI_CALL(env, napi_create_double(env, (double)ns, &v));
  NAPI_CALL(env, napi_set_element(env, out, 0, v));
  NAPI_CALL(env, napi_get_boolean(env, ok, &v));
  NAPI_CALL(env, napi_set_element(env, out, 1, v));
  return out;
}

/* ---- napi_create_async_work baseline --------------------------------------- */

/* The round trip every addon that uses napi_create_async_work pays: one
 * async work item per task, run on libuv's shared pool, completed on the
 * loop by resolving a promise. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
} async_noop_t;

static void async_noop_execute(napi_env env, void *data) {}

static void async_noop_complete(napi_env env, napi_status status, void *data) {
  async_noop_t *a = data;
  napi_value undef;
  napi_get_undefined(env, &undef);
  if (status == napi_ok)
    napi_resolve_deferred(env, a->deferred, undef);
  else
    napi_reject_deferred(env, a->deferred, undef);
  napi_delete_async_work(env, a->work);
  free(a);
}

/* asyncWorkNoop() -> Promise<undefined> */
static napi_value async_noop_fn(napi_env env, napi_callback_info info) {
  async_noop_t *a = calloc(1, sizeof *a);
  if (!a) {
    nw_napi_throw_errno(env, -ENOMEM, "calloc");
    return NULL;
  }
  napi_value promise, name;
  NAPI_CALL(env, napi_create_promise(env, &a->deferred, &promise));
  NAPI_CALL(env, napi_create_string_utf8(env, "asyncWorkNoop", NAPI_AUTO_LENGTH, &name));
  NAPI_CALL(env, napi_create_async_work(env, NULL, name, async_noop_execute,
                                        async_noop_complete, a, &a->work));
  NAPI_CALL(env, napi_queue_async_work(env, a->work));
  return promise;
}

napi_value nw_testing_init_napi(napi_env env, napi_value exports) {
  static const nw_napi_fn_t fns[] = {
      {"startPeer", start_peer_fn},       {"joinPeer", join_peer_fn},
      {"benchRingNative", bench_ring_fn}, {"benchBareSpsc", bench_bare_fn},
      {"asyncWorkNoop", async_noop_fn},
  };
  napi_value t;
  NAPI_CALL(env, napi_create_object(env, &t));
  NAPI_CALL(env, nw_napi_export_fns(env, t, fns, NW_COUNT(fns)));
  NAPI_CALL(env, napi_set_named_property(env, exports, "_testing", t));
  return exports;
}
