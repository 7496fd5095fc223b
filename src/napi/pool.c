/*
 * Node-API glue of ThreadPool (lib/thread_pool.js).
 *
 * A pool handle belongs to the JavaScript thread that created it. Tasks are
 * submitted in batches (lib/thread_pool.js collects the run() calls of one
 * tick) and come back in batches: the core calls `notify` from a pool
 * thread when finished tasks are waiting, which calls a threadsafe function
 * once; its JS-thread callback drains every finished task and hands them to
 * JavaScript in chunks of up to CHUNK tasks per call.
 *
 * Completion records go through a Float64Array the JS side gives at
 * creation: [id, kind] pairs, kind one of KIND_*; the values (Buffers,
 * numbers, errors) go in an array, or null when every value of the chunk is
 * undefined.
 *
 * Lifetime. The handle is a napi External owned by the ThreadPool object.
 * While tasks are in flight the threadsafe function is referenced (it keeps
 * the event loop alive) and so is the External (the pool cannot be
 * collected under its tasks). The pool threads call the threadsafe function,
 * so the pool is joined before that function is finalized: either when
 * JavaScript frees the pool, or when the environment tears down (a worker
 * thread that terminates), in which case the running kernels are cancelled,
 * joined and the tasks freed without calling into JavaScript.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/kernels.h"
#include "core/pool.h"
#include "napi/common.h"
#include "napi/parts.h"

#define CHUNK 4096
/* How long an idle pool thread keeps looking for work before it sleeps
 * (see nw_pool_options_t.spin_ns). */
#define SPIN_NS (50 * 1000)

enum { KIND_OK = 0, KIND_FAILED = 1, KIND_CANCELLED = 2, KIND_REJECTED = 3 };

/* meta word of a submitted task: kernel index | flags */
#define META_KERNEL_MASK 0xffffu
#define META_SHARED (1u << 16)  /* input is a view of a SharedArrayBuffer */
#define META_PRIVATE (1u << 17) /* input is a buffer only this call knows */
#define META_SKIP (1u << 18)    /* aborted before submission: leave out */

static const napi_type_tag pool_tag = {0x6e77706f6f6c6861ULL,
                                       0x9b1f04c2a7d35e18ULL};

typedef struct pool_handle pool_handle_t;

/* Large input copies made on the JS thread (where nw_pool_copy_in is not
 * available; see COPY_OFF_LOOP_MIN) are recycled: a fresh 1 MiB malloc is a
 * fresh mmap, and touching its pages costs more than the copy itself. Up to
 * COPY_CACHE_BYTES of freed copies are kept per pool, for reuse by inputs
 * of at least half their size. JS thread only. */
#define COPY_CACHE_MIN (64u * 1024)
#define COPY_CACHE_BYTES ((size_t)32 << 20)
#define COPY_CACHE_SLOTS 64

/* Inputs of at least this many bytes that must be copied are copied by the
 * pool thread that runs the task rather than on the event loop: copying a
 * 1 MiB input costs the loop a few hundred microseconds, and many at once
 * block it for milliseconds. Smaller ones cost less than the hand-over. */
#define COPY_OFF_LOOP_MIN (64u * 1024)
typedef struct copy_cache {
  void *mem[COPY_CACHE_SLOTS];
  size_t cap[COPY_CACHE_SLOTS];
  int n;
  size_t bytes;
} copy_cache_t;

typedef struct gtask {
  nw_task_t t;            /* first: the core hands back nw_task_t pointers */
  pool_handle_t *h;
  napi_ref input;         /* the input view, when used in place */
  napi_ref source;        /* the input view a pool thread copies (t.src) */
  uint8_t *copy;          /* private copy of the input (owned), or NULL */
  size_t copy_cap;        /* its allocated size */
  int view;               /* 0 none, 1 typed array, 2 DataView, 3 ArrayBuffer */
  napi_typedarray_type ta_type;
  bool is_buffer;         /* the input was a Node Buffer */
} gtask_t;

struct pool_handle {
  napi_env env;
  nw_pool_t *pool;            /* NULL once shut down */
  napi_threadsafe_function tsfn; /* NULL once finalized */
  napi_ref self;              /* the External; strong while tasks fly */
  napi_ref cbuf_ref;          /* the completion Float64Array */
  double *cbuf;
  uint64_t in_flight;         /* JS thread: submitted, not delivered */
  copy_cache_t cache;         /* JS thread */
  struct gtask *spare;        /* JS thread: freed tasks kept for reuse */
  uint64_t nspare;
  uint64_t peak_cur, peak_prev; /* JS thread: most tasks in flight in this
                                   window of SPARE_WINDOW_NS and the last */
  int64_t window_start;
  bool refed;
  bool delivering;
  bool free_requested;
  bool external_gone;
};

/* ---- task memory ----------------------------------------------------------- */

/* JS thread. A buffer of at least `len` bytes, from the cache if one fits;
 * *cap receives its size. */
static void *copy_alloc(pool_handle_t *h, size_t len, size_t *cap) {
  if (len >= COPY_CACHE_MIN) {
    int best = -1;
    for (int i = 0; i < h->cache.n; i++)
      if (h->cache.cap[i] >= len && h->cache.cap[i] / 2 <= len &&
          (best < 0 || h->cache.cap[i] < h->cache.cap[best]))
        best = i;
    if (best >= 0) {
      void *m = h->cache.mem[best];
      *cap = h->cache.cap[best];
      h->cache.bytes -= *cap;
      h->cache.n--;
      h->cache.mem[best] = h->cache.mem[h->cache.n];
      h->cache.cap[best] = h->cache.cap[h->cache.n];
      return m;
    }
  }
  *cap = len;
  return malloc(len);
}

/* JS thread. Keep a freed copy for reuse, or free it. */
static void copy_release(pool_handle_t *h, void *m, size_t cap) {
  if (!m) return;
  if (h && h->pool && cap >= COPY_CACHE_MIN && h->cache.n < COPY_CACHE_SLOTS &&
      h->cache.bytes + cap <= COPY_CACHE_BYTES) {
    h->cache.mem[h->cache.n] = m;
    h->cache.cap[h->cache.n] = cap;
    h->cache.n++;
    h->cache.bytes += cap;
    return;
  }
  free(m);
}

static void copy_cache_clear(pool_handle_t *h) {
  for (int i = 0; i < h->cache.n; i++) free(h->cache.mem[i]);
  h->cache.n = 0;
  h->cache.bytes = 0;
}

/* Freed task records are kept and reused: noop-sized tasks otherwise spend
 * a good part of their time in calloc, free and the page faults of a heap
 * that grows and shrinks with every burst. A pool keeps as many records (in
 * flight and spare) as it had tasks in flight at its peak over the last one
 * to two SPARE_WINDOW_NS, and at least SPARE_MIN; when the load drops the
 * rest is freed at the next window's turn. JS thread only. */
#define SPARE_MIN 4096
#define SPARE_WINDOW_NS ((int64_t)2000000000)

static uint64_t spare_limit(const pool_handle_t *h) {
  uint64_t m = h->peak_cur > h->peak_prev ? h->peak_cur : h->peak_prev;
  return m > SPARE_MIN ? m : SPARE_MIN;
}

/* After in_flight changed: track the peak, turn the window, free spares
 * past the limit. */
static void spares_account(pool_handle_t *h) {
  if (h->in_flight > h->peak_cur) h->peak_cur = h->in_flight;
  int64_t now = nw_now_ns();
  if (now - h->window_start < SPARE_WINDOW_NS) return;
  h->window_start = now;
  h->peak_prev = h->peak_cur;
  h->peak_cur = h->in_flight;
  uint64_t limit = spare_limit(h);
  while (h->spare && h->nspare + h->in_flight > limit) {
    gtask_t *g = h->spare;
    h->spare = (gtask_t *)g->t.next;
    h->nspare--;
    free(g);
  }
}

static gtask_t *task_alloc(pool_handle_t *h) {
  gtask_t *g = h->spare;
  if (g) {
    h->spare = (gtask_t *)g->t.next;
    h->nspare--;
    memset(g, 0, sizeof *g);
  } else {
    g = calloc(1, sizeof *g);
    if (!g) return NULL;
  }
  g->h = h;
  return g;
}

static void spares_clear(pool_handle_t *h) {
  while (h->spare) {
    gtask_t *g = h->spare;
    h->spare = (gtask_t *)g->t.next;
    free(g);
  }
  h->nspare = 0;
}

/* JS thread. Frees a task and whatever it still owns (the record itself
 * goes back to the spares while the pool lives). */
static void task_free(napi_env env, gtask_t *g) {
  if (g->input && env) napi_delete_reference(env, g->input);
  if (g->source && env) napi_delete_reference(env, g->source);
  if (g->t.owned) free(g->t.io.data);
  copy_release(g->h, g->copy, g->copy_cap);
  free(g->t.io.out);
  free(g->t.failure);
  pool_handle_t *h = g->h;
  if (h->pool && h->nspare + h->in_flight < spare_limit(h)) {
    g->t.next = (nw_task_t *)h->spare;
    h->spare = g;
    h->nspare++;
  } else {
    free(g);
  }
}

/* ---- loop keep-alive --------------------------------------------------------- */

/* JS thread. Keep the loop (and the pool object) alive exactly while tasks
 * are in flight. */
static void update_ref(pool_handle_t *h) {
  bool want = h->in_flight > 0 && h->tsfn;
  if (want == h->refed) return;
  if (want) {
    napi_ref_threadsafe_function(h->env, h->tsfn);
    if (h->self) napi_reference_ref(h->env, h->self, NULL);
  } else {
    napi_unref_threadsafe_function(h->env, h->tsfn);
    if (h->self) napi_reference_unref(h->env, h->self, NULL);
  }
  h->refed = want;
}

/* ---- shutdown ------------------------------------------------------------------ */

/* JS thread. Joins the pool threads (cancelling running kernels) and frees
 * every task without calling JavaScript. */
static void shutdown_pool(pool_handle_t *h, napi_env env) {
  if (!h->pool) return;
  nw_pool_destroy(h->pool);
  for (nw_task_t *t = nw_pool_drain(h->pool), *n; t; t = n) {
    n = t->next;
    task_free(env, (gtask_t *)t);
  }
  nw_pool_free(h->pool);
  h->pool = NULL;
  h->in_flight = 0;
  copy_cache_clear(h);
  spares_clear(h);
}

static void maybe_free_handle(pool_handle_t *h) {
  if (h->external_gone && !h->tsfn) {
    spares_clear(h);
    free(h);
  }
}

/* JS thread (or environment teardown): the threadsafe function is going
 * away, so no pool thread may call it any more. */
static void tsfn_finalize(napi_env env, void *data, void *hint) {
  pool_handle_t *h = data;
  shutdown_pool(h, env);
  if (h->cbuf_ref) {
    napi_delete_reference(env, h->cbuf_ref);
    h->cbuf_ref = NULL;
    h->cbuf = NULL;
  }
  h->tsfn = NULL;
  h->refed = false;
  maybe_free_handle(h);
}

/* JS thread: the External was collected (or the environment tears down). */
static void external_finalize(napi_env env, void *data, void *hint) {
  pool_handle_t *h = data;
  shutdown_pool(h, env);
  if (h->self) {
    napi_delete_reference(env, h->self);
    h->self = NULL;
  }
  h->external_gone = true;
  if (h->tsfn) {
    napi_threadsafe_function f = h->tsfn;
    napi_release_threadsafe_function(f, napi_tsfn_abort);
    /* tsfn_finalize frees the handle. */
  } else {
    maybe_free_handle(h);
  }
}

/* Pool thread (core notify callback). */
static void pool_notify(void *arg) {
  pool_handle_t *h = arg;
  napi_call_threadsafe_function(h->tsfn, NULL, napi_tsfn_nonblocking);
}

/* ---- completion ------------------------------------------------------------------ */

static void free_cb(napi_env env, void *data, void *hint) { free(data); }

/* JS thread. Whether the input a pool thread copied is still the memory
 * it was at submission: JavaScript can detach an ArrayBuffer (transfer it)
 * or shrink a resizable one while the task waits, and then the copy read
 * memory the input no longer owns (or failed). Detaching and resizing
 * happen on this thread, so an input found intact now was intact while the
 * pool thread copied it. */
static bool source_intact(napi_env env, gtask_t *g) {
  napi_value v;
  void *data = NULL;
  size_t len = 0;
  if (napi_get_reference_value(env, g->source, &v) != napi_ok || !v) return false;
  if (g->view == 1) {
    napi_typedarray_type type;
    size_t length;
    if (napi_get_typedarray_info(env, v, &type, &length, &data, NULL, NULL) != napi_ok)
      return false;
    uint32_t et = NW_BYTES;
    nw_napi_elem_type(type, &et);
    len = length * nw_elem_size(et);
  } else if (g->view == 2) {
    if (napi_get_dataview_info(env, v, &len, &data, NULL, NULL) != napi_ok) return false;
  } else {
    if (napi_get_arraybuffer_info(env, v, &data, &len) != napi_ok) return false;
  }
  return data == g->t.src && len == g->t.io.len;
}

/* JS thread. Builds the value a finished task resolves or rejects with.
 * Takes over the task's output and copy where it hands them to JS. Returns
 * NULL (with an exception pending) on failure. */
static napi_value task_value(napi_env env, gtask_t *g, int *kind) {
  nw_task_t *t = &g->t;
  napi_value v = NULL;
  if (t->owned) {
    /* The pool thread's copy of the input, handed back by the kernel. */
    g->copy = t->io.data;
    g->copy_cap = t->io.len;
    t->owned = false;
  }
  if (t->status == NW_POOL_REJECTED) {
    *kind = KIND_REJECTED;
    return NULL;
  }
  if (t->status == NW_CANCELLED || (t->status != 0 && t->cancel)) {
    *kind = KIND_CANCELLED;
    return NULL;
  }
  if (g->source && !source_intact(env, g)) {
    *kind = KIND_FAILED;
    napi_value msg, code, err;
    if (napi_create_string_utf8(env, "ERR_INVALID_STATE", NAPI_AUTO_LENGTH, &code) != napi_ok ||
        napi_create_string_utf8(env,
                                "Invalid state: the input was detached or resized before the "
                                "task finished",
                                NAPI_AUTO_LENGTH, &msg) != napi_ok ||
        napi_create_error(env, code, msg, &err) != napi_ok)
      return NULL;
    return err;
  }
  if (t->status != 0) {
    *kind = KIND_FAILED;
    const nw_task_failure_t *f = t->failure;
    if (t->status != NW_FAILED && t->status < 0 && !(f && f->error[0])) {
      return nw_napi_errno_error(env, t->status, "kernel");
    }
    napi_value msg, code, err;
    const char *m = f && f->error[0] ? f->error : "The kernel failed";
    const char *c = f && f->code[0] ? f->code : "ERR_KERNEL_FAILED";
    if (napi_create_string_utf8(env, m, NAPI_AUTO_LENGTH, &msg) != napi_ok ||
        napi_create_string_utf8(env, c, NAPI_AUTO_LENGTH, &code) != napi_ok ||
        napi_create_error(env, code, msg, &err) != napi_ok)
      return NULL;
    if (f && f->errnum) {
      napi_value e;
      if (napi_create_int32(env, f->errnum, &e) == napi_ok)
        napi_set_named_property(env, err, "errno", e);
    }
    return err;
  }
  *kind = KIND_OK;
  nw_task_io_t *io = &t->io;
  switch (io->result) {
    case NW_RESULT_UNDEFINED:
      return NULL;
    case NW_RESULT_NUMBER:
      napi_create_double(env, io->number, &v);
      return v;
    case NW_RESULT_BIGINT: {
      __int128 x = ((__int128)io->bigint_hi << 64) | (__int128)io->bigint_lo;
      int sign = x < 0;
      unsigned __int128 mag = sign ? (unsigned __int128)(-(x + 1)) + 1 : (unsigned __int128)x;
      uint64_t words[2] = {(uint64_t)mag, (uint64_t)(mag >> 64)};
      napi_create_bigint_words(env, sign, words[1] ? 2 : 1, words, &v);
      return v;
    }
    case NW_RESULT_INPUT: {
      if (g->input) {
        napi_get_reference_value(env, g->input, &v);
        return v;
      }
      /* A private copy was worked on: give it to JS in the input's shape. */
      size_t len = io->len;
      void *mem = g->copy;
      if (!mem) {
        if (napi_create_buffer(env, 0, NULL, &v) != napi_ok) return NULL;
        return v;
      }
      g->copy = NULL;
      if (g->view == 1 && !g->is_buffer) {
        napi_value ab;
        if (napi_create_external_arraybuffer(env, mem, len, free_cb, NULL, &ab) != napi_ok) {
          free(mem);
          return NULL;
        }
        size_t es = nw_elem_size(g->t.io.elem_type);
        if (napi_create_typedarray(env, g->ta_type, len / es, ab, 0, &v) != napi_ok) return NULL;
        return v;
      }
      if (napi_create_external_buffer(env, len, mem, free_cb, NULL, &v) != napi_ok) {
        free(mem);
        return NULL;
      }
      return v;
    }
    case NW_RESULT_BUFFER:
    default: {
      if (!io->out || io->out_len == 0) {
        free(io->out);
        io->out = NULL;
        if (napi_create_buffer(env, 0, NULL, &v) != napi_ok) return NULL;
        return v;
      }
      void *mem = io->out;
      io->out = NULL;
      if (napi_create_external_buffer(env, io->out_len, mem, free_cb, NULL, &v) != napi_ok) {
        free(mem);
        return NULL;
      }
      return v;
    }
  }
}

/* JS thread, from the threadsafe function: deliver every finished task. */
static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  pool_handle_t *h = context;
  if (!env || !h->pool || !h->cbuf) return;
  h->delivering = true;
  nw_task_t *list = nw_pool_drain(h->pool);
  napi_value undef;
  napi_get_undefined(env, &undef);
  while (list) {
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) break;
    napi_value values = NULL;
    uint32_t n = 0;
    nw_task_t *chunk = list;
    for (; list && n < CHUNK; n++) {
      gtask_t *g = (gtask_t *)list;
      list = list->next;
      int kind = KIND_OK;
      napi_value v = task_value(env, g, &kind);
      if (!v) {
        bool pending = false;
        napi_is_exception_pending(env, &pending);
        if (pending) {
          napi_value e;
          napi_get_and_clear_last_exception(env, &e);
          v = e;
          kind = KIND_FAILED;
        }
      }
      if (v) {
        if (!values) {
          napi_create_array_with_length(env, CHUNK, &values);
        }
        napi_set_element(env, values, n, v);
      }
      h->cbuf[2 * n] = (double)g->t.id;
      h->cbuf[2 * n + 1] = kind;
    }
    /* Free the chunk's tasks before JS runs: JS may cancel by id, and a
     * freed task is no longer in any core list. */
    for (uint32_t i = 0; i < n; i++) {
      nw_task_t *next = chunk->next;
      h->in_flight--;
      task_free(env, (gtask_t *)chunk);
      chunk = next;
    }
    napi_value argv[2];
    napi_create_uint32(env, n, &argv[0]);
    argv[1] = values ? values : undef;
    napi_value recv;
    napi_get_undefined(env, &recv);
    napi_status st = napi_call_function(env, recv, js_cb, 2, argv, NULL);
    napi_close_handle_scope(env, scope);
    if (st != napi_ok) {
      /* An exception escaped the completion callback: that is a bug in
       * lib/thread_pool.js; let Node report it as uncaught. */
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) {
        napi_value e;
        napi_get_and_clear_last_exception(env, &e);
        napi_fatal_exception(env, e);
      }
    }
    if (!h->pool) break; /* torn down by the callback */
  }
  /* Tasks of a broken-off loop: free them undelivered. */
  while (list) {
    nw_task_t *n = list->next;
    if (h->in_flight) h->in_flight--;
    task_free(env, (gtask_t *)list);
    list = n;
  }
  h->delivering = false;
  if (h->free_requested) {
    shutdown_pool(h, env);
    if (h->tsfn) napi_release_threadsafe_function(h->tsfn, napi_tsfn_release);
  }
  if (h->pool) spares_account(h);
  update_ref(h);
}

/* ---- JS entry points -------------------------------------------------------- */

static pool_handle_t *get_handle(napi_env env, napi_value v) {
  return nw_napi_unwrap(env, v, &pool_tag, "a pool handle");
}

/* poolCreate(threads, maxQueue, onComplete, completionBuffer) -> External
 * maxQueue 0: unlimited. completionBuffer: Float64Array of 2*CHUNK. */
static napi_value create_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(4);
  uint32_t threads = 0;
  double max_queue = 0;
  if (!nw_napi_get_uint32(env, argv[0], "threads", &threads) ||
      !nw_napi_get_double(env, argv[1], "maxQueue", &max_queue) ||
      !nw_napi_check_function(env, argv[2], "onComplete"))
    return NULL;
  napi_typedarray_type type;
  size_t length;
  void *data;
  NAPI_CALL(env, napi_get_typedarray_info(env, argv[3], &type, &length, &data, NULL, NULL));
  if (type != napi_float64_array || length < 2 * CHUNK) {
    nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_VALUE", "bad completion buffer");
    return NULL;
  }
  pool_handle_t *h = calloc(1, sizeof *h);
  if (!h) {
    nw_napi_throw_errno(env, -ENOMEM, "calloc");
    return NULL;
  }
  h->env = env;
  h->cbuf = data;
  nw_pool_options_t opt = {
      .threads = threads,
      .max_queue = max_queue >= 1 && max_queue < 1.8e19 ? (uint64_t)max_queue : 0,
      .notify = pool_notify,
      .notify_arg = h,
      .spin_ns = SPIN_NS,
  };
  int rc = nw_pool_create(&h->pool, &opt);
  if (rc) {
    free(h);
    nw_napi_throw_errno(env, rc, "pthread_create");
    return NULL;
  }
  rc = nw_pool_add_kernels(h->pool, nw_builtin_kernels(), NULL);
  if (rc) {
    nw_pool_free(h->pool);
    free(h);
    nw_napi_throw_errno(env, rc, "nw_pool_add_kernels");
    return NULL;
  }
  napi_value name, ext;
  napi_status st = napi_create_string_utf8(env, "native-workers:ThreadPool",
                                           NAPI_AUTO_LENGTH, &name);
  if (st == napi_ok)
    st = napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, h,
                                         tsfn_finalize, h, call_js, &h->tsfn);
  if (st != napi_ok) {
    nw_pool_free(h->pool);
    free(h);
    nw_napi_throw_last(env, st);
    return NULL;
  }
  napi_unref_threadsafe_function(env, h->tsfn);
  /* From here on the tsfn finalizer owns the pool. */
  NAPI_CALL(env, napi_create_reference(env, argv[3], 1, &h->cbuf_ref));
  st = napi_create_external(env, h, external_finalize, NULL, &ext);
  if (st != napi_ok) {
    h->external_gone = true;
    napi_release_threadsafe_function(h->tsfn, napi_tsfn_abort);
    nw_napi_throw_last(env, st);
    return NULL;
  }
  NAPI_CALL(env, napi_type_tag_object(env, ext, &pool_tag));
  NAPI_CALL(env, napi_create_reference(env, ext, 0, &h->self));
  return ext;
}

/* JS thread. Fills a task's input from `v` (undefined, a TypedArray, a
 * DataView or an ArrayBuffer). Returns 0 or a negative errno. */
static int task_input(napi_env env, gtask_t *g, napi_value v, uint32_t meta) {
  napi_valuetype vt;
  if (napi_typeof(env, v, &vt) != napi_ok) return -EINVAL;
  if (vt == napi_undefined || vt == napi_null) return 0;
  void *data = NULL;
  size_t len = 0;
  bool is = false;
  g->t.io.elem_type = NW_BYTES;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    size_t length, offset;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &g->ta_type, &length, &data, &ab, &offset) != napi_ok)
      return -EINVAL;
    uint32_t et = NW_BYTES;
    nw_napi_elem_type(g->ta_type, &et);
    g->t.io.elem_type = et;
    g->view = 1;
    /* napi_is_buffer accepts any view; what matters for the result's
     * shape is whether the bytes were a plain Uint8Array/Buffer. */
    g->is_buffer = g->ta_type == napi_uint8_array;
    len = length * nw_elem_size(et);
  } else if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    napi_value ab;
    size_t offset;
    if (napi_get_dataview_info(env, v, &len, &data, &ab, &offset) != napi_ok) return -EINVAL;
    g->view = 2;
  } else if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
    if (napi_get_arraybuffer_info(env, v, &data, &len) != napi_ok) return -EINVAL;
    g->view = 3;
  } else {
    return -EINVAL;
  }
  g->t.io.len = len;
  if ((meta & (META_SHARED | META_PRIVATE)) || len == 0) {
    /* Shared memory cannot be detached, and a private buffer nobody else
     * holds cannot be either: work on it in place, keeping it alive. */
    if (napi_create_reference(env, v, 1, &g->input) != napi_ok) return -ENOMEM;
    g->t.io.data = data;
    if (!(meta & META_SHARED) && len) {
      /* Private: NW_RESULT_INPUT hands back the same object. */
    }
    return 0;
  }
  /* Memory JavaScript may detach or reuse while the kernel runs: copy. */
  if (len >= COPY_OFF_LOOP_MIN && nw_pool_copy_in_available()) {
    /* Large: the pool thread copies it just before the kernel runs, off
     * the event loop (see source_intact for what keeps that safe). */
    if (napi_create_reference(env, v, 1, &g->source) != napi_ok) return -ENOMEM;
    g->t.src = data;
    g->t.io.data = NULL;
    return 0;
  }
  g->copy = copy_alloc(g->h, len, &g->copy_cap);
  if (!g->copy) return -ENOMEM;
  g->t.io.data = g->copy;
  memcpy(g->copy, data, len);
  return 0;
}

/*
 * poolSubmit(handle, firstId, from, n, meta Uint32Array, inputs Array|undefined,
 *            budget) -> [next, err]
 * Task i (from <= i < n) gets id firstId + i, kernel meta[i] & 0xffff and
 * input inputs[i]; tasks marked META_SKIP are left out. Tasks before `next`
 * were queued (or skipped); err (a negative errno) says why task `next` was
 * not: -EAGAIN queue full, -ESHUTDOWN closed, -EINVAL bad input, -ENOMEM,
 * or 1 when `budget` (> 0) bytes of input were copied and the caller should
 * submit the rest later, so that one call never blocks the loop for long.
 */
static napi_value submit_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(7, pool_handle_t, h, get_handle);
  double first = 0;
  uint32_t from = 0, n = 0;
  if (!nw_napi_get_double(env, argv[1], "firstId", &first) ||
      !nw_napi_get_uint32(env, argv[2], "from", &from) ||
      !nw_napi_get_uint32(env, argv[3], "n", &n))
    return NULL;
  double budget = 0;
  if (!nw_napi_get_double(env, argv[6], "budget", &budget)) return NULL;
  argv[3] = argv[4];
  argv[4] = argv[5];
  size_t copied = 0;
  napi_typedarray_type type;
  size_t mlen;
  void *mdata;
  NAPI_CALL(env, napi_get_typedarray_info(env, argv[3], &type, &mlen, &mdata, NULL, NULL));
  if (type != napi_uint32_array || mlen < n) {
    nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_VALUE", "bad meta array");
    return NULL;
  }
  const uint32_t *meta = mdata;
  napi_valuetype it;
  NAPI_CALL(env, napi_typeof(env, argv[4], &it));
  bool has_inputs = it == napi_object;

  int err = 0;
  uint32_t accepted = from;
  if (!h->pool) {
    err = -ESHUTDOWN;
    goto done;
  }
  gtask_t *stack_tasks[256];
  while (accepted < n && !err) {
    if (budget > 0 && (double)copied >= budget) {
      err = 1;
      break;
    }
    while (accepted < n && (meta[accepted] & META_SKIP)) accepted++;
    uint32_t m = 0;
    while (m < 256 && accepted + m < n && !(meta[accepted + m] & META_SKIP)) m++;
    if (m == 0) break;
    uint32_t built = 0;
    for (; built < m; built++) {
      uint32_t i = accepted + built;
      gtask_t *g = task_alloc(h);
      if (!g) {
        err = -ENOMEM;
        break;
      }
      g->t.kernel = meta[i] & META_KERNEL_MASK;
      g->t.id = (uint64_t)first + i;
      if (has_inputs) {
        napi_value v;
        int rc = napi_get_element(env, argv[4], i, &v) == napi_ok
                     ? task_input(env, g, v, meta[i])
                     : -EINVAL;
        if (rc) {
          task_free(env, g);
          err = rc;
          break;
        }
        if (g->copy) copied += g->t.io.len;
      }
      stack_tasks[built] = g;
      if (budget > 0 && (double)copied >= budget) {
        built++;
        break;
      }
    }
    int why = 0;
    int q = nw_pool_submit_batch(h->pool, (nw_task_t *const *)stack_tasks, (int)built, &why);
    for (int j = q; j < (int)built; j++) task_free(env, stack_tasks[j]);
    accepted += (uint32_t)q;
    h->in_flight += (uint64_t)q;
    if (q < (int)built) err = why;
  }
  spares_account(h);
  update_ref(h);
done:;
  napi_value out, v;
  NAPI_CALL(env, napi_create_array_with_length(env, 2, &out));
  NAPI_CALL(env, napi_create_uint32(env, accepted, &v));
  NAPI_CALL(env, napi_set_element(env, out, 0, v));
  NAPI_CALL(env, napi_create_int32(env, err, &v));
  NAPI_CALL(env, napi_set_element(env, out, 1, v));
  return out;
}

/* poolCancel(handle, id) -> true when the task was still queued (it is
 * removed and will never complete), false when it runs (its cancel flag is
 * set) or is finished. */
static napi_value cancel_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(2, pool_handle_t, h, get_handle);
  double id = 0;
  if (!nw_napi_get_double(env, argv[1], "id", &id)) return NULL;
  bool removed = false;
  if (h->pool) {
    nw_task_t *t = NULL;
    if (nw_pool_cancel(h->pool, (uint64_t)id, &t) == 1) {
      h->in_flight--;
      task_free(env, (gtask_t *)t);
      removed = true;
      update_ref(h);
    }
  }
  napi_value out;
  NAPI_CALL(env, napi_get_boolean(env, removed, &out));
  return out;
}

/* poolClose(handle, abort): no new tasks; queued ones come back rejected;
 * with abort, running kernels are asked to stop. */
static napi_value close_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(2, pool_handle_t, h, get_handle);
  bool abort = false;
  if (!nw_napi_get_bool(env, argv[1], "abort", &abort)) return NULL;
  if (h->pool) {
    if (abort) nw_pool_abort(h->pool);
    else nw_pool_close(h->pool);
  }
  return NULL;
}

/* poolFree(handle): join the threads and release everything but the
 * handle itself (the External's finalizer frees that). Called by JS once
 * nothing is in flight. */
static napi_value free_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(1, pool_handle_t, h, get_handle);
  if (h->delivering) {
    h->free_requested = true;
    return NULL;
  }
  shutdown_pool(h, env);
  update_ref(h);
  if (h->tsfn) {
    napi_threadsafe_function f = h->tsfn;
    napi_release_threadsafe_function(f, napi_tsfn_release);
  }
  return NULL;
}

/* poolKernels(handle) -> [names] */
static napi_value kernels_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(1, pool_handle_t, h, get_handle);
  uint32_t n = h->pool ? nw_pool_kernel_count(h->pool) : 0;
  napi_value out, v;
  NAPI_CALL(env, napi_create_array_with_length(env, n, &out));
  for (uint32_t i = 0; i < n; i++) {
    NAPI_CALL(env, napi_create_string_utf8(env, nw_pool_kernel_name(h->pool, i),
                                           NAPI_AUTO_LENGTH, &v));
    NAPI_CALL(env, napi_set_element(env, out, i, v));
  }
  return out;
}

/* poolLoad(handle, path) -> [added, message]: added >= 0 kernels, or a
 * negative errno (see nw_pool_load) with the message. */
static napi_value load_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(2, pool_handle_t, h, get_handle);
  char path[4096];
  size_t plen = 0;
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[1], path, sizeof path, &plen));
  char msg[512] = "";
  int rc;
  if (plen >= sizeof path - 1) {
    rc = -ENAMETOOLONG;
    snprintf(msg, sizeof msg, "path too long");
  } else if (strlen(path) != plen) {
    rc = -EINVAL;
    snprintf(msg, sizeof msg, "path contains a NUL byte");
  } else if (!h->pool) {
    rc = -ESHUTDOWN;
  } else {
    rc = nw_pool_load(h->pool, path, msg, sizeof msg);
  }
  napi_value out, v;
  NAPI_CALL(env, napi_create_array_with_length(env, 2, &out));
  NAPI_CALL(env, napi_create_int32(env, rc, &v));
  NAPI_CALL(env, napi_set_element(env, out, 0, v));
  NAPI_CALL(env, napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &v));
  NAPI_CALL(env, napi_set_element(env, out, 1, v));
  return out;
}

static napi_value hist_object(napi_env env, const nw_hist_t *hist) {
  napi_value o, v;
  NAPI_CALL(env, napi_create_object(env, &o));
  static const struct { const char *name; double p; } ps[] = {
      {"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}};
#define SET(name, val)                                                        \
  do {                                                                        \
    NAPI_CALL(env, napi_create_double(env, (val), &v));                       \
    NAPI_CALL(env, napi_set_named_property(env, o, (name), v));               \
  } while (0)
  SET("count", (double)hist->count);
  SET("min", hist->count ? hist->min / 1e6 : 0);
  SET("max", hist->count ? hist->max / 1e6 : 0);
  SET("mean", hist->count ? hist->sum / (double)hist->count / 1e6 : 0);
  for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
    SET(ps[i].name, nw_hist_percentile(hist, ps[i].p) / 1e6);
  return o;
}

/* poolStats(handle) -> { threads, queued, running, completed, failed,
 * cancelled, runTime, waitTime, utilization }; times in milliseconds. */
static napi_value stats_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(1, pool_handle_t, h, get_handle);
  nw_pool_stats_t *s = calloc(1, sizeof *s);
  if (!s) {
    nw_napi_throw_errno(env, -ENOMEM, "calloc");
    return NULL;
  }
  if (h->pool) nw_pool_stats(h->pool, s);
  napi_value o = NULL, v;
  if (napi_create_object(env, &o) != napi_ok) goto fail;
#define SETN(name, val)                                                       \
  do {                                                                        \
    if (napi_create_double(env, (double)(val), &v) != napi_ok ||              \
        napi_set_named_property(env, o, (name), v) != napi_ok)                \
      goto fail;                                                              \
  } while (0)
  SETN("threads", s->threads);
  SETN("queued", s->queued);
  SETN("running", s->running);
  SETN("completed", s->completed);
  SETN("failed", s->failed);
  SETN("cancelled", s->cancelled);
  v = hist_object(env, &s->run_time);
  if (!v || napi_set_named_property(env, o, "runTime", v) != napi_ok) goto fail;
  v = hist_object(env, &s->wait_time);
  if (!v || napi_set_named_property(env, o, "waitTime", v) != napi_ok) goto fail;
  SETN("utilization", s->utilization);
  free(s);
  return o;
fail:
  free(s);
  nw_napi_throw_last(env, napi_generic_failure);
  return NULL;
}

napi_value nw_pool_init_napi(napi_env env, napi_value exports) {
  static const nw_napi_fn_t fns[] = {
      {"create", create_fn}, {"submit", submit_fn},   {"cancel", cancel_fn},
      {"close", close_fn},   {"free", free_fn},       {"kernels", kernels_fn},
      {"load", load_fn},     {"stats", stats_fn},
  };
  napi_value p;
  NAPI_CALL(env, napi_create_object(env, &p));
  /* COPY_IN: 1 when large inputs are copied by the pool threads
   * (nw_pool_copy_in), 0 when they are copied at submission. */
  const nw_napi_const_t consts[] = {
      {"CHUNK", CHUNK},
      {"COPY_IN", nw_pool_copy_in_available() ? 1 : 0},
  };
  NAPI_CALL(env, nw_napi_export_fns(env, p, fns, NW_COUNT(fns)));
  NAPI_CALL(env, nw_napi_export_consts(env, p, consts, NW_COUNT(consts)));
  NAPI_CALL(env, napi_set_named_property(env, exports, "pool", p));
  return exports;
}
