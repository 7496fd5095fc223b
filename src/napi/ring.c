/*
 * Node-API glue of the ring (lib/ring.js).
 *
 * The hot paths of RingBuffer (tryWrite/tryRead) run in JavaScript with
 * Atomics on the same layout (src/core/ring.h); this file provides what
 * JavaScript cannot do itself:
 *   - formatting and validating the shared header (the 64-byte alignment
 *     depends on the real address of the memory),
 *   - sleeping on and waking the Linux futex, so that native writers and
 *     readers in any thread or process interoperate with JavaScript ones,
 *   - event-loop waits: a parked helper thread sleeps on the futex for
 *     readAsync()/writeAsync() and calls back into the loop through a
 *     threadsafe function; it costs nothing while nobody waits.
 *
 * A handle (`ringOpen`) belongs to one JavaScript thread. It holds a strong
 * reference to the SharedArrayBuffer so the memory outlives native use.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "core/ring.h"
#include "napi/common.h"
#include "napi/parts.h"

/* Blocking waits wake this often to notice a terminating worker. */
#define SLICE_NS (50LL * 1000 * 1000)

enum { KIND_READ = 0, KIND_WRITE = 1 };
enum { WAIT_READY = 0, WAIT_TIMEOUT = 1, WAIT_CLOSED = 2 };

static const napi_type_tag ring_tag = {0x6e77726e67686e64ULL,
                                       0x31c0a7e1d3b2f405ULL};

typedef struct ring_handle ring_handle_t;

/* One helper thread per handle and direction, started on first use. */
typedef struct waiter {
  ring_handle_t *h;
  int kind;
  nw_ring_t ring;          /* the helper thread's own view of the ring */
  pthread_t thread;
  bool started;
  uint32_t armed;          /* futex word: 1 while JS waits for the ring */
  uint32_t stop;           /* set once, when the handle goes away */
  uint32_t need;           /* write waits: record bytes needed */
  napi_threadsafe_function tsfn;
  bool tsfn_refed;         /* while JS waits: holds the loop and the owner */
} waiter_t;

struct ring_handle {
  napi_env env;
  nw_ring_t ring;          /* the JS thread's view */
  napi_ref buffer;         /* keeps the SharedArrayBuffer alive */
  napi_ref alive_fn;       /* a trivial JS function: calling it fails once
                              the thread is terminating */
  napi_ref owner;          /* the RingBuffer; strong only while a waiter is
                              armed, so an idle ring can be collected */
  waiter_t waiters[2];
  bool destroyed;
};

/* ---- helper threads ------------------------------------------------------ */

static void *waiter_main(void *arg) {
  waiter_t *w = arg;
  for (;;) {
    while (!__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST) &&
           !__atomic_load_n(&w->armed, __ATOMIC_SEQ_CST))
      nw_futex_wait(&w->armed, 0, -1);
    if (__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST)) break;
    int rc = w->kind == KIND_READ
                 ? nw_ring_wait_readable(&w->ring, -1)
                 : nw_ring_wait_writable(&w->ring, w->need, -1);
    if (rc == -ECANCELED) break;
    __atomic_store_n(&w->armed, 0, __ATOMIC_SEQ_CST);
    if (napi_call_threadsafe_function(w->tsfn, NULL, napi_tsfn_nonblocking) ==
        napi_closing)
      break;
  }
  return NULL;
}

/* JS thread. While a waiter is armed, the loop stays alive and the owner
 * stays reachable; otherwise neither is held, and a ring nobody uses can be
 * collected (its finalizer then ends the helper threads). */
static void waiter_hold(napi_env env, waiter_t *w, bool hold) {
  if (w->tsfn_refed == hold) return;
  w->tsfn_refed = hold;
  if (hold) {
    napi_ref_threadsafe_function(env, w->tsfn);
    napi_reference_ref(env, w->h->owner, NULL);
  } else {
    napi_unref_threadsafe_function(env, w->tsfn);
    napi_reference_unref(env, w->h->owner, NULL);
  }
}

/* Runs on the JS thread: tell lib/ring.js the ring may be ready, as
 * callback(owner, kind). The callback must not hold the owner itself. */
static void waiter_call_js(napi_env env, napi_value cb, void *context,
                           void *data) {
  waiter_t *w = context;
  if (!env || !cb || w->h->destroyed) return;
  napi_value owner = NULL;
  if (napi_get_reference_value(env, w->h->owner, &owner) != napi_ok || !owner)
    return;
  /* Not armed any more: stop holding the loop open until JS re-arms. */
  if (!__atomic_load_n(&w->armed, __ATOMIC_SEQ_CST)) waiter_hold(env, w, false);
  napi_value argv[2] = {owner, nw_napi_int32(env, w->kind)};
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, cb, 2, argv, NULL);
}

/* JS thread. Stop and join a helper thread (if it was started) and let
 * go of its threadsafe function. */
static void waiter_stop(waiter_t *w) {
  if (!w->started) return;
  __atomic_store_n(&w->stop, 1, __ATOMIC_SEQ_CST);
  /* Change the word the helper may be about to sleep on, so a wake that
   * comes before it sleeps is not lost. */
  __atomic_store_n(&w->armed, 1, __ATOMIC_SEQ_CST);
  nw_futex_wake(&w->armed, 1);
  if (w->kind == KIND_READ)
    nw_ring_wake_readers(&w->ring);
  else
    nw_ring_wake_writers(&w->ring);
  pthread_join(w->thread, NULL);
  w->started = false;
  if (w->tsfn_refed) napi_reference_unref(w->h->env, w->h->owner, NULL);
  w->tsfn_refed = false;
  napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
  w->tsfn = NULL;
}

/* Stop everything native that uses the ring; idempotent. Runs on the JS
 * thread (finalizer or env cleanup hook). */
static void handle_destroy(ring_handle_t *h) {
  if (h->destroyed) return;
  h->destroyed = true;
  waiter_stop(&h->waiters[0]);
  waiter_stop(&h->waiters[1]);
  nw_napi_drop_ref(h->env, &h->buffer);
  nw_napi_drop_ref(h->env, &h->alive_fn);
  nw_napi_drop_ref(h->env, &h->owner);
}

/* Env teardown (JS thread): stop the helpers before the loop goes. */
static void handle_cleanup_hook(void *arg) { handle_destroy(arg); }

/* JS thread: the handle object was collected. */
static void handle_finalize(napi_env env, void *data, void *hint) {
  ring_handle_t *h = data;
  napi_remove_env_cleanup_hook(env, handle_cleanup_hook, h);
  handle_destroy(h);
  free(h);
}

/* ---- argument helpers ---------------------------------------------------- */

/* The memory of a SharedArrayBuffer passed as a Uint8Array view over all of
 * it (lib/ring.js passes one; Node-API cannot inspect a SharedArrayBuffer
 * itself on Node 20). False after throwing ERR_INVALID_ARG_TYPE or, for a
 * detached buffer, ERR_INVALID_ARG_VALUE. */
static bool get_shared(napi_env env, napi_value v, void **mem, size_t *len) {
  nw_napi_view_t view;
  if (!nw_napi_get_view(env, v, &view) || view.kind != NW_VIEW_TYPED_ARRAY) {
    nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_TYPE",
                       "The ring memory must be passed as a Uint8Array view");
    return false;
  }
  if (view.type != napi_uint8_array || view.offset != 0) {
    nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_TYPE",
                       "The ring memory must be a Uint8Array over the whole buffer");
    return false;
  }
  if (!view.data) {
    nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_VALUE",
                       "The ring memory is detached");
    return false;
  }
  *mem = view.data;
  *len = view.len;
  return true;
}

/* Where in memory starting at `mem` the ring's header begins, as a JS
 * number. */
static napi_value base_offset(napi_env env, const void *mem) {
  napi_value out;
  NAPI_CALL(env, napi_create_uint32(env, (uint32_t)nw_ring_base_offset(mem), &out));
  return out;
}

/* The open ring handle `v`, or NULL after throwing ERR_INVALID_ARG_TYPE
 * (not a ring handle) or ERR_RING_CLOSED (released by the teardown of
 * its environment). */
static ring_handle_t *get_handle(napi_env env, napi_value v) {
  ring_handle_t *h = nw_napi_unwrap(env, v, &ring_tag, "a ring handle");
  if (h && h->destroyed) {
    nw_napi_throw_code(env, NW_ERROR, "ERR_RING_CLOSED", "The ring handle was released");
    return NULL;
  }
  return h;
}

/* Milliseconds from JS (Infinity or negative: no limit) to nanoseconds. */
static int64_t ms_to_ns(napi_env env, napi_value v) {
  double ms = -1;
  napi_get_value_double(env, v, &ms);
  if (!(ms >= 0) || ms > 9.2e12) return -1;
  return (int64_t)(ms * 1e6);
}

/* ---- exported functions -------------------------------------------------- */

/* ringInit(view, capacity, flags) -> base offset. Formats the memory. */
static napi_value ring_init_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(3);
  void *mem;
  size_t len;
  if (!get_shared(env, argv[0], &mem, &len)) return NULL;
  uint32_t cap = 0, flags = 0;
  if (!nw_napi_get_uint32(env, argv[1], "capacity", &cap) ||
      !nw_napi_get_uint32(env, argv[2], "flags", &flags))
    return NULL;
  nw_ring_t r;
  int rc = nw_ring_init(&r, mem, len, cap, flags);
  if (rc) {
    nw_napi_throw_code(env, NW_RANGE_ERROR, "ERR_OUT_OF_RANGE",
                       "The ring does not fit in the memory given");
    return NULL;
  }
  return base_offset(env, mem);
}

/* ringAttach(view) -> base offset, or throws ERR_INVALID_ARG_VALUE. */
static napi_value ring_attach_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(1);
  void *mem;
  size_t len;
  if (!get_shared(env, argv[0], &mem, &len)) return NULL;
  nw_ring_t r;
  int rc = nw_ring_attach(&r, mem, len);
  if (rc) {
    nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_VALUE",
                       rc == -ENOSPC
                           ? "The buffer is smaller than the ring its header describes"
                           : "The buffer does not hold a ring buffer of this version (bad magic, version, capacity, flags or positions)");
    return NULL;
  }
  return base_offset(env, mem);
}

/* ringOpen(view, aliveFn, owner) -> handle. The memory must already hold a
 * ring; `owner` (the RingBuffer) is what wait callbacks receive. */
static napi_value ring_open_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(3);
  if (!nw_napi_check_type(env, argv[2], napi_object, "owner")) return NULL;
  void *mem;
  size_t len;
  if (!get_shared(env, argv[0], &mem, &len)) return NULL;
  ring_handle_t *h = calloc(1, sizeof *h);
  if (!h) {
    nw_napi_throw_errno(env, -ENOMEM, "calloc");
    return NULL;
  }
  int rc = nw_ring_attach(&h->ring, mem, len);
  if (rc) {
    free(h);
    nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_VALUE",
                       "The buffer does not hold a ring buffer");
    return NULL;
  }
  h->env = env;
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok ||
      napi_create_reference(env, argv[0], 1, &h->buffer) != napi_ok ||
      napi_create_reference(env, argv[1], 1, &h->alive_fn) != napi_ok ||
      napi_create_reference(env, argv[2], 0, &h->owner) != napi_ok ||
      napi_type_tag_object(env, obj, &ring_tag) != napi_ok ||
      napi_wrap(env, obj, h, handle_finalize, NULL, NULL) != napi_ok) {
    nw_napi_drop_ref(env, &h->buffer);
    nw_napi_drop_ref(env, &h->alive_fn);
    nw_napi_drop_ref(env, &h->owner);
    free(h);
    nw_napi_throw_last(env, napi_generic_failure);
    return NULL;
  }
  napi_add_env_cleanup_hook(env, handle_cleanup_hook, h);
  for (int k = 0; k < 2; k++) {
    h->waiters[k].h = h;
    h->waiters[k].kind = k;
  }
  return obj;
}

/* True while the calling thread may still run JavaScript. */
static bool env_alive(ring_handle_t *h) {
  napi_value fn, undefined;
  if (napi_get_reference_value(h->env, h->alive_fn, &fn) != napi_ok || !fn)
    return false;
  napi_get_undefined(h->env, &undefined);
  return napi_call_function(h->env, undefined, fn, 0, NULL, NULL) == napi_ok;
}

/*
 * ringWait(handle, kind, need, timeoutMs) -> WAIT_READY | WAIT_TIMEOUT |
 * WAIT_CLOSED. Blocks the calling thread: spins, then sleeps on the futex
 * in slices so that a worker being terminated is noticed.
 */
static napi_value ring_wait_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(4, ring_handle_t, h, get_handle);
  int32_t kind = 0;
  uint32_t need = 0;
  if (!nw_napi_get_int32(env, argv[1], "kind", &kind) ||
      !nw_napi_get_uint32(env, argv[2], "need", &need))
    return NULL;
  int64_t timeout = ms_to_ns(env, argv[3]);
  int64_t deadline = timeout < 0 ? -1 : nw_now_ns() + timeout;
  int result;
  for (;;) {
    int64_t slice = SLICE_NS;
    if (deadline >= 0) {
      int64_t left = deadline - nw_now_ns();
      if (left < 0) left = 0;
      if (left < slice) slice = left;
    }
    int rc = kind == KIND_READ ? nw_ring_wait_readable(&h->ring, slice)
                               : nw_ring_wait_writable(&h->ring, need, slice);
    if (rc == 0) { result = WAIT_READY; break; }
    if (rc == -EPIPE) { result = WAIT_CLOSED; break; }
    if (rc == -EMSGSIZE) {
      nw_napi_throw_code(env, NW_RANGE_ERROR, "ERR_OUT_OF_RANGE", "Message larger than the ring");
      return NULL;
    }
    if (deadline >= 0 && nw_now_ns() >= deadline) { result = WAIT_TIMEOUT; break; }
    if (!env_alive(h)) return NULL; /* terminating: unwind */
  }
  return nw_napi_int32(env, result);
}

/* ringWake(handle, kind): wake sleeping readers (0) or writers (1). Called
 * by lib/ring.js only when the waiters word is nonzero. */
static napi_value ring_wake_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(2, ring_handle_t, h, get_handle);
  int32_t kind = 0;
  if (!nw_napi_get_int32(env, argv[1], "kind", &kind)) return NULL;
  if (kind == KIND_READ)
    nw_ring_wake_readers(&h->ring);
  else
    nw_ring_wake_writers(&h->ring);
  return NULL;
}

/* ringClose(handle): close and wake everyone. */
static napi_value ring_close_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(1, ring_handle_t, h, get_handle);
  nw_ring_close(&h->ring);
  return NULL;
}

/* ringStop(handle): end this handle's helper threads. lib/ring.js calls it
 * once the ring is closed and its async calls are settled; a later arm
 * starts a helper again. */
static napi_value ring_stop_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(1, ring_handle_t, h, get_handle);
  waiter_stop(&h->waiters[KIND_READ]);
  waiter_stop(&h->waiters[KIND_WRITE]);
  return NULL;
}

/*
 * ringArm(handle, kind, need, callback): call `callback(owner, kind)` on
 * this thread's event loop once the ring may be readable (kind 0) or have
 * `need` bytes free (kind 1), or is closed. One-shot; arm again to wait
 * again. While armed the loop is kept alive and the owner reachable. The
 * first arm of a kind fixes its callback.
 */
static napi_value ring_arm_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(4, ring_handle_t, h, get_handle);
  int32_t kind = 0;
  uint32_t need = 0;
  if (!nw_napi_get_int32(env, argv[1], "kind", &kind) ||
      !nw_napi_get_uint32(env, argv[2], "need", &need) ||
      !nw_napi_check_type(env, argv[3], napi_function, "callback"))
    return NULL;
  if (kind != KIND_READ && kind != KIND_WRITE) {
    nw_napi_throw_code(env, NW_RANGE_ERROR, "ERR_OUT_OF_RANGE", "bad wait kind");
    return NULL;
  }
  waiter_t *w = &h->waiters[kind];
  if (!w->started) {
    napi_value name;
    NAPI_CALL(env, napi_create_string_utf8(env, "native-workers.ring", NAPI_AUTO_LENGTH, &name));
    NAPI_CALL(env, napi_create_threadsafe_function(env, argv[3], NULL, name, 0, 1, NULL,
                                                   NULL, w, waiter_call_js, &w->tsfn));
    w->ring = h->ring;
    w->ring.cancel = &w->stop;
    w->ring.spin_ns = 0; /* the JS side already looked; sleep at once */
    w->stop = 0;
    w->armed = 0;
    if (pthread_create(&w->thread, NULL, waiter_main, w) != 0) {
      napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
      w->tsfn = NULL;
      nw_napi_throw_errno(env, -EAGAIN, "pthread_create");
      return NULL;
    }
    w->started = true;
    /* A new threadsafe function starts referenced: count the owner too. */
    w->tsfn_refed = true;
    napi_reference_ref(env, h->owner, NULL);
  }
  waiter_hold(env, w, true);
  w->need = need;
  __atomic_store_n(&w->armed, 1, __ATOMIC_SEQ_CST);
  nw_futex_wake(&w->armed, 1);
  return NULL;
}

/* ringDisarm(handle, kind): no longer wait (abort/timeout of the last
 * waiter). A wakeup already on its way is delivered and ignored by JS. */
static napi_value ring_disarm_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(2, ring_handle_t, h, get_handle);
  int32_t kind = 0;
  if (!nw_napi_get_int32(env, argv[1], "kind", &kind)) return NULL;
  if (kind != KIND_READ && kind != KIND_WRITE) return NULL;
  waiter_t *w = &h->waiters[kind];
  /* The helper may stay asleep on the ring; it only keeps the loop (and
   * the owner) alive while armed. */
  if (w->started) waiter_hold(env, w, false);
  return NULL;
}

/* yieldThread(): give the CPU to another thread; lib/ring.js calls it
 * between looks of a spin loop. Any JavaScript thread. */
static napi_value yield_fn(napi_env env, napi_callback_info info) {
  sched_yield();
  return NULL;
}

/* See parts.h. */
napi_value nw_ring_init_napi(napi_env env, napi_value exports) {
  static const nw_napi_fn_t fns[] = {
      {"ringInit", ring_init_fn},     {"ringAttach", ring_attach_fn},
      {"ringOpen", ring_open_fn},     {"ringWait", ring_wait_fn},
      {"ringWake", ring_wake_fn},     {"ringClose", ring_close_fn},
      {"ringArm", ring_arm_fn},       {"ringDisarm", ring_disarm_fn},
      {"ringStop", ring_stop_fn},
      {"yieldThread", yield_fn},
  };
  static const nw_napi_const_t consts[] = {
      {"RING_HEADER_SIZE", NW_RING_HEADER_SIZE},
      {"RING_ALIGN", NW_RING_ALIGN},
      {"RING_MAX_CAPACITY", NW_RING_MAX_CAPACITY},
      {"RING_MIN_CAPACITY", NW_RING_MIN_CAPACITY},
  };
  /* The header's word indices and flag bits, so that the JavaScript ring
   * view keeps no copies of them. */
  static const nw_napi_const_t words[] = {
      {"capacity", NW_RW_CAPACITY},     {"flags", NW_RW_FLAGS},
      {"closed", NW_RW_CLOSED},         {"prodHead", NW_RW_PROD_HEAD},
      {"prodTail", NW_RW_PROD_TAIL},    {"consHead", NW_RW_CONS_HEAD},
      {"consTail", NW_RW_CONS_TAIL},    {"rdWaiters", NW_RW_RD_WAITERS},
      {"rdSeq", NW_RW_RD_SEQ},          {"wrWaiters", NW_RW_WR_WAITERS},
      {"wrSeq", NW_RW_WR_SEQ},          {"skip", NW_RING_SKIP},
      {"multiProducer", NW_RING_F_MULTI_PRODUCER},
      {"multiConsumer", NW_RING_F_MULTI_CONSUMER},
  };
  napi_value layout;
  NAPI_CALL(env, nw_napi_export_fns(env, exports, fns, NW_COUNT(fns)));
  NAPI_CALL(env, nw_napi_export_consts(env, exports, consts, NW_COUNT(consts)));
  NAPI_CALL(env, napi_create_object(env, &layout));
  NAPI_CALL(env, nw_napi_export_consts(env, layout, words, NW_COUNT(words)));
  NAPI_CALL(env, napi_set_named_property(env, exports, "RING_WORDS", layout));
  return exports;
}
