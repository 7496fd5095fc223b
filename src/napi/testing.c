/*
 * testing.c - the test-only addon, build/Release/native_workers_testing.node
 * (its own target in binding.gyp; the package's addon does not contain it).
 * The mocha tests and the benchmarks load it through
 * test/support/testing_binding.js.
 *
 * It drives the C core from native threads so that the tests can check
 * native <-> JS interplay (a native writer waking a JS reader and the other
 * way round) and the benchmarks can measure the core without JavaScript in
 * the loop, gives the benchmarks their napi_create_async_work baseline, and
 * lets the tests compare the system errors the glue builds with Node's.
 *
 *   startPeer(view, isReader, count, seed, maxLen, delayMs) -> peer
 *   joinPeer(peer) -> messages written / valid ones read, or -errno
 *   benchRingNative(capacity, count, len, batch) -> [ns, checksumOk]
 *   benchBareSpsc(count) -> [ns, checksumOk]
 *   asyncWorkNoop() -> Promise<undefined>
 *   errnoError(errno, syscall) -> the glue's system error, not thrown
 *
 * Everything is called on the JavaScript thread; the peer and benchmark
 * threads touch only the ring and their own structs.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/ring.h"
#include "napi/common.h"

static const napi_type_tag peer_tag = {0x6e77746573747065ULL,
                                       0x1f2e3d4c5b6a7988ULL};

/* The content test peers agree on: message `seq` of a stream seeded `seed`
 * is a u32 sequence number followed by `len` bytes of a pattern (the same
 * as nativeMessage() in test/ring.test.js). */
static uint32_t msg_len(uint32_t seed, uint32_t seq, uint32_t max_len) {
  uint32_t x = (seed ^ (seq * 2654435761u)) * 2246822519u;
  x ^= x >> 15;
  return max_len ? x % (max_len + 1) : 0;
}

static uint8_t msg_byte(uint32_t seed, uint32_t seq, uint32_t i) {
  return (uint8_t)(seed + seq * 7u + i * 13u + (i >> 7));
}

/* A native peer on a ring: its thread reads or writes `count` messages.
 * The JS thread owns the struct; the thread writes only `result`, which
 * the JS thread reads after joining it. */
typedef struct peer {
  napi_ref buffer;         /* keeps the ring's memory alive */
  nw_ring_t ring;          /* the peer thread's handle */
  pthread_t thread;
  bool reader;
  bool joined;
  uint32_t count, seed, max_len, delay_ms;
  int64_t result; /* writer: messages written; reader: valid ones read; or -errno */
} peer_t;

/* Peer thread: write the stream. */
static void *writer_main(void *arg) {
  peer_t *p = arg;
  if (p->delay_ms) {
    struct timespec ts = {p->delay_ms / 1000, (long)(p->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
  uint8_t *msg = malloc(4 + (size_t)p->max_len);
  int64_t n = msg ? 0 : -ENOMEM;
  for (uint32_t seq = 0; msg && seq < p->count; seq++) {
    uint32_t len = msg_len(p->seed, seq, p->max_len);
    memcpy(msg, &seq, 4);
    for (uint32_t i = 0; i < len; i++) msg[4 + i] = msg_byte(p->seed, seq, i);
    int rc = nw_ring_write(&p->ring, msg, 4 + len, -1);
    if (rc) {
      n = rc;
      break;
    }
    n++;
  }
  free(msg);
  p->result = n;
  return NULL;
}

/* Peer thread: read the stream and check every byte. */
static void *reader_main(void *arg) {
  peer_t *p = arg;
  size_t cap = nw_ring_max_message(&p->ring);
  uint8_t *msg = malloc(cap);
  int64_t ok = msg ? 0 : -ENOMEM;
  for (uint32_t seq = 0; msg && seq < p->count && ok >= 0; seq++) {
    uint32_t len = 0, got = UINT32_MAX;
    int rc = nw_ring_read(&p->ring, msg, cap, &len, -1);
    if (rc) {
      ok = rc;
      break;
    }
    uint32_t want = msg_len(p->seed, seq, p->max_len);
    if (len >= 4) memcpy(&got, msg, 4);
    if (len != 4 + want || got != seq) {
      ok = -EBADMSG;
      break;
    }
    for (uint32_t i = 0; i < want && ok >= 0; i++)
      if (msg[4 + i] != msg_byte(p->seed, seq, i)) ok = -EBADMSG;
    if (ok >= 0) ok++;
  }
  free(msg);
  p->result = ok;
  return NULL;
}

/* JS thread (finalizer): a peer never joined is stopped by closing its
 * ring, then waited for. */
static void peer_finalize(napi_env env, void *data, void *hint) {
  peer_t *p = data;
  if (!p->joined) {
    nw_ring_close(&p->ring);
    pthread_join(p->thread, NULL);
  }
  nw_napi_drop_ref(env, &p->buffer);
  free(p);
}

/* startPeer(view, isReader, count, seed, maxLen, delayMs) -> peer: a
 * native thread that writes (or reads and checks) `count` messages of the
 * seeded stream on the ring in `view`, the writer after `delayMs`. */
static napi_value start_peer_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(6);
  void *mem;
  size_t len;
  bool reader = false;
  uint32_t count = 0, seed = 0, max_len = 0, delay_ms = 0;
  if (!nw_napi_get_bytes(env, argv[0], &mem, &len, NULL) ||
      !nw_napi_get_bool(env, argv[1], "isReader", &reader) ||
      !nw_napi_get_uint32(env, argv[2], "count", &count) ||
      !nw_napi_get_uint32(env, argv[3], "seed", &seed) ||
      !nw_napi_get_uint32(env, argv[4], "maxLen", &max_len) ||
      !nw_napi_get_uint32(env, argv[5], "delayMs", &delay_ms))
    return NULL;
  peer_t *p = calloc(1, sizeof *p);
  if (!p) {
    nw_napi_throw_errno(env, -ENOMEM, "calloc");
    return NULL;
  }
  *p = (peer_t){.reader = reader, .count = count, .seed = seed,
                .max_len = max_len, .delay_ms = delay_ms};
  if (nw_ring_attach(&p->ring, mem, len) != 0) {
    free(p);
    nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_VALUE", "not a ring");
    return NULL;
  }
  napi_value ext;
  napi_status st = napi_create_reference(env, argv[0], 1, &p->buffer);
  if (st != napi_ok) {
    free(p);
    NAPI_CALL(env, st);
  }
  int rc = pthread_create(&p->thread, NULL, reader ? reader_main : writer_main, p);
  if (rc) {
    p->joined = true; /* no thread to wait for */
    peer_finalize(env, p, NULL);
    nw_napi_throw_errno(env, -rc, "pthread_create");
    return NULL;
  }
  /* From here the finalizer owns the peer (and joins its thread). */
  st = napi_create_external(env, p, peer_finalize, NULL, &ext);
  if (st != napi_ok) {
    peer_finalize(env, p, NULL);
    NAPI_CALL(env, st);
  }
  NAPI_CALL(env, napi_type_tag_object(env, ext, &peer_tag));
  return ext;
}

/* joinPeer(peer) -> its result; blocks until the peer thread is done. */
static napi_value join_peer_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(1);
  peer_t *p = nw_napi_unwrap(env, argv[0], &peer_tag, "a test peer");
  if (!p) return NULL;
  if (!p->joined) {
    pthread_join(p->thread, NULL);
    p->joined = true;
  }
  napi_value out;
  NAPI_CALL(env, napi_create_int64(env, p->result, &out));
  return out;
}

/* ---- benchmarks ------------------------------------------------------------ */

/* [ns, ok] as the benchmarks take it. */
static napi_value bench_result(napi_env env, int64_t ns, bool ok) {
  napi_value out, v;
  NAPI_CALL(env, napi_create_array_with_length(env, 2, &out));
  NAPI_CALL(env, napi_create_double(env, (double)ns, &v));
  NAPI_CALL(env, napi_set_element(env, out, 0, v));
  NAPI_CALL(env, napi_get_boolean(env, ok, &v));
  NAPI_CALL(env, napi_set_element(env, out, 1, v));
  return out;
}

typedef struct {
  nw_ring_t ring;          /* the consumer thread's handle */
  uint64_t count;
  uint64_t sum;            /* written by the consumer, read after the join */
  int error;
} bench_t;

/* nw_ring_read_batch callback of the consumer: add up the u64 that
 * starts each message. */
static void bench_sum(void *ctx, const uint8_t *m, uint32_t len) {
  bench_t *b = ctx;
  uint64_t v;
  memcpy(&v, m, sizeof v);
  b->sum += v;
}

/* Consumer thread of benchRingNative. */
static void *bench_consumer(void *arg) {
  bench_t *b = arg;
  uint8_t *scratch = malloc(b->ring.cap);
  uint64_t got = 0;
  if (!scratch) b->error = -ENOMEM;
  while (scratch && got < b->count) {
    int n = nw_ring_read_batch(&b->ring, bench_sum, b, 1 << 20, scratch);
    if (n > 0) {
      got += (uint64_t)n;
    } else if (n == -EAGAIN) {
      nw_ring_wait_readable(&b->ring, -1);
    } else {
      b->error = n;
      break;
    }
  }
  free(scratch);
  return NULL;
}

/*
 * benchRingNative(capacity, count, len, batch) -> [ns, checksumOk]
 * One producer thread (this one) and one consumer thread move `count`
 * messages of `len` (8..64) bytes through a fresh ring, `batch` (1..256)
 * messages per publication.
 */
static napi_value bench_ring_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(4);
  uint32_t cap = 0, len = 16, batch = 1;
  double count = 0;
  if (!nw_napi_get_uint32(env, argv[0], "capacity", &cap) ||
      !nw_napi_get_double(env, argv[1], "count", &count) ||
      !nw_napi_get_uint32(env, argv[2], "len", &len) ||
      !nw_napi_get_uint32(env, argv[3], "batch", &batch))
    return NULL;
  if (len < 8) len = 8;
  if (len > 64) len = 64;
  if (batch < 1) batch = 1;
  if (batch > 256) batch = 256;
  size_t size = nw_ring_required_size(cap);
  if (!size || len > cap / 2 || !(count >= 0)) {
    nw_napi_throw_code(env, NW_RANGE_ERROR, "ERR_OUT_OF_RANGE", "bad benchmark parameters");
    return NULL;
  }
  bench_t b = {.count = (uint64_t)count};
  void *mem = aligned_alloc(64, (size + 63) & ~(size_t)63);
  uint8_t(*msgs)[64] = calloc(256, 64);
  int rc = mem && msgs ? 0 : -ENOMEM;
  nw_ring_t prod;
  if (!rc) rc = nw_ring_init(&b.ring, mem, size, nw_ring_round_capacity(cap), 0);
  if (!rc) rc = nw_ring_attach(&prod, mem, size);
  pthread_t th;
  int64_t t0 = nw_now_ns();
  if (!rc) rc = -pthread_create(&th, NULL, bench_consumer, &b);
  if (rc) {
    free(msgs);
    free(mem);
    nw_napi_throw_errno(env, rc, "benchRingNative");
    return NULL;
  }
  nw_ring_iov_t iov[256];
  uint64_t sent = 0, want_sum = 0;
  while (sent < b.count) {
    int n = (int)((b.count - sent) < batch ? (b.count - sent) : batch);
    for (int i = 0; i < n; i++) {
      uint64_t v = sent + (uint64_t)i;
      memcpy(msgs[i], &v, 8);
      iov[i].base = msgs[i];
      iov[i].len = len;
    }
    int w = n == 1 ? (nw_ring_try_write(&prod, iov[0].base, iov[0].len) == 0)
                   : nw_ring_write_batch(&prod, iov, n);
    if (w > 0) {
      for (int i = 0; i < w; i++) want_sum += sent + (uint64_t)i;
      sent += (uint64_t)w;
    } else if (nw_ring_wait_writable(&prod, nw_ring_record_size(len), -1) == -EPIPE) {
      break;
    }
  }
  pthread_join(th, NULL);
  int64_t ns = nw_now_ns() - t0;
  free(msgs);
  free(mem);
  return bench_result(env, ns, b.error == 0 && sent == b.count && b.sum == want_sum);
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

/* Consumer thread of benchBareSpsc. */
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
  double count = 0;
  if (!nw_napi_get_double(env, argv[0], "count", &count)) return NULL;
  bare_t *b = aligned_alloc(64, sizeof(bare_t));
  if (!b) {
    nw_napi_throw_errno(env, -ENOMEM, "aligned_alloc");
    return NULL;
  }
  memset(b, 0, sizeof *b);
  b->count = count > 0 ? (uint64_t)count : 0;
  pthread_t th;
  int64_t t0 = nw_now_ns();
  int rc = pthread_create(&th, NULL, bare_consumer, b);
  if (rc) {
    free(b);
    nw_napi_throw_errno(env, -rc, "pthread_create");
    return NULL;
  }
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
  return bench_result(env, ns, ok);
}

/* ---- napi_create_async_work baseline --------------------------------------- */

/* The round trip every addon that uses napi_create_async_work pays: one
 * async work item per task, run on libuv's shared pool, completed on the
 * loop by resolving a promise. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
} async_noop_t;

/* libuv pool thread: the work itself, none. */
static void async_noop_execute(napi_env env, void *data) {}

/* JS thread: settle the promise and free the item. */
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
  napi_status st = napi_create_promise(env, &a->deferred, &promise);
  if (st == napi_ok)
    st = napi_create_string_utf8(env, "asyncWorkNoop", NAPI_AUTO_LENGTH, &name);
  if (st == napi_ok)
    st = napi_create_async_work(env, NULL, name, async_noop_execute,
                                async_noop_complete, a, &a->work);
  if (st == napi_ok) st = napi_queue_async_work(env, a->work);
  if (st != napi_ok) {
    /* The promise (if made) is never settled; nobody holds it. */
    if (a->work) napi_delete_async_work(env, a->work);
    free(a);
    NAPI_CALL(env, st);
  }
  return promise;
}

/* ---- errors ------------------------------------------------------------------ */

/* errnoError(errno, syscall) -> the system error nw_napi_errno_error
 * builds, returned rather than thrown. */
static napi_value errno_error_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(2);
  int32_t err = 0;
  char syscall[64];
  size_t n;
  if (!nw_napi_get_int32(env, argv[0], "errno", &err) ||
      !nw_napi_check_type(env, argv[1], napi_string, "syscall"))
    return NULL;
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[1], syscall, sizeof syscall, &n));
  napi_value e = nw_napi_errno_error(env, err, syscall);
  if (!e) nw_napi_throw_last(env, napi_generic_failure);
  return e;
}

NAPI_MODULE_INIT() {
  static const nw_napi_fn_t fns[] = {
      {"startPeer", start_peer_fn},       {"joinPeer", join_peer_fn},
      {"benchRingNative", bench_ring_fn}, {"benchBareSpsc", bench_bare_fn},
      {"asyncWorkNoop", async_noop_fn},   {"errnoError", errno_error_fn},
  };
  NAPI_CALL(env, nw_napi_export_fns(env, exports, fns, NW_COUNT(fns)));
  return exports;
}
