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
 * numbers, errors) go in an array, or undefined when every value of the
 * chunk is undefined.
 *
 * What this file does not decide: how an input reaches its kernel (in
 * place, copied here, or copied by the pool thread) is nw_pool_input_plan's
 * policy, and task records and input copies come from the pool's
 * nw_pool_cache (src/core/pool_cache.h). The glue turns JavaScript values
 * into tasks and finished tasks into JavaScript values.
 *
 * Lifetime. The handle is a napi External owned by the ThreadPool object.
 * While tasks are in flight the threadsafe function is referenced (it keeps
 * the event loop alive) and so is the External (the pool cannot be
 * collected under its tasks). The pool threads call the threadsafe function,
 * so the pool is joined before that function is finalized: either when
 * JavaScript frees the pool, or when the environment tears down (a worker
 * thread that terminates), in which case the running kernels are cancelled,
 * joined and the tasks freed without calling into JavaScript; kernels that
 * do not stop within TEARDOWN_GRACE_NS are left to run on their threads
 * (shutdown_pool says when that is safe).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/kernels.h"
#include "core/pool.h"
#include "core/pool_cache.h"
#include "napi/common.h"
#include "napi/parts.h"

#define CHUNK 4096
/* How long an idle pool thread keeps looking for work before it sleeps
 * (see nw_pool_options_t.spin_ns). */
#define SPIN_NS (50 * 1000)
/* How long a terminating environment waits for cancelled kernels to return
 * before it abandons the ones that do not (see shutdown_pool). */
#define TEARDOWN_GRACE_NS ((int64_t)100 * 1000 * 1000)
/* Tasks built per nw_pool_submit_batch call. */
#define BATCH 256

enum { KIND_OK = 0, KIND_FAILED = 1, KIND_CANCELLED = 2, KIND_REJECTED = 3 };

/* meta word of a submitted task: kernel index | flags */
#define META_KERNEL_MASK 0xffffu
#define META_SHARED (1u << 16)  /* input is a view of a SharedArrayBuffer */
#define META_PRIVATE (1u << 17) /* input is a buffer only this call knows */
#define META_SKIP (1u << 18)    /* aborted before submission: leave out */

static const napi_type_tag pool_tag = {0x6e77706f6f6c6861ULL,
                                       0x9b1f04c2a7d35e18ULL};

/* A task as the glue keeps it. JS thread only, except `t` while the core
 * owns the task. */
typedef struct gtask {
  nw_task_t t;            /* first: the core hands back nw_task_t pointers */
  napi_ref input;         /* the input view, when used in place */
  napi_ref source;        /* the input view a pool thread copies (t.src) */
  uint8_t *copy;          /* private copy of the input (owned), or NULL */
  size_t copy_cap;        /* its allocated size */
  nw_napi_view_kind_t view; /* what the input was (0: none) */
  napi_typedarray_type ta_type; /* its type, for a typed array */
} gtask_t;

typedef struct pool_handle {
  napi_env env;
  nw_pool_t *pool;            /* NULL once shut down */
  napi_threadsafe_function tsfn; /* NULL once finalized */
  napi_ref self;              /* the External; strong while tasks fly */
  napi_ref cbuf_ref;          /* the completion Float64Array */
  double *cbuf;
  nw_pool_cache_t cache;      /* JS thread: task records and input copies;
                                 its live count is the tasks in flight */
  bool refed;
  bool delivering;
  bool free_requested;
  bool external_gone;
} pool_handle_t;

/* ---- tasks -------------------------------------------------------------------- */

/* Tasks submitted and not yet delivered (or removed). */
static uint64_t in_flight(const pool_handle_t *h) {
  return nw_pool_cache_live(&h->cache);
}

/* JS thread. Frees what a task still owns and gives its record back. */
static void task_free(pool_handle_t *h, napi_env env, gtask_t *g) {
  nw_napi_drop_ref(env, &g->input);
  nw_napi_drop_ref(env, &g->source);
  if (g->t.owned) free(g->t.io.data);
  nw_pool_cache_release_copy(&h->cache, g->copy, g->copy_cap);
  free(g->t.io.out);
  free(g->t.failure);
  nw_pool_cache_release_record(&h->cache, g);
}

/* ---- loop keep-alive --------------------------------------------------------- */

/* JS thread. Keep the loop (and the pool object) alive exactly while tasks
 * are in flight. */
static void update_ref(pool_handle_t *h) {
  bool want = in_flight(h) > 0 && h->tsfn;
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

/* Pool thread, for a task of an abandoned pool whose kernel returned (its
 * environment is gone): free what it owns. Everything is plain heap. */
static void task_release_abandoned(nw_task_t *t) {
  gtask_t *g = (gtask_t *)t;
  if (t->owned) free(t->io.data);
  free(g->copy);
  free(t->io.out);
  free(t->failure);
  free(g);
}

/* JS thread, under the pool lock (nw_pool_abandon): a running task stops
 * holding JavaScript values. */
static void task_detach(nw_task_t *t, void *env) {
  gtask_t *g = (gtask_t *)t;
  nw_napi_drop_ref(env, &g->input);
  nw_napi_drop_ref(env, &g->source);
}

/* Whether a running task's kernel works on memory of the JavaScript heap,
 * which goes with the environment: an input used in place (a
 * SharedArrayBuffer). An input the pool thread copies is read only by
 * nw_pool_copy_in, which cannot fault. */
static bool task_uses_js_memory(const nw_task_t *t, void *arg) {
  const gtask_t *g = (const gtask_t *)t;
  return g->input && t->io.len > 0;
}

/* JS thread. Stops the pool threads (cancelling running kernels) and frees
 * every task without calling JavaScript. Idempotent.
 *
 * When the environment goes (`finalizing`: a worker thread terminating, or
 * the handle collected), kernels get TEARDOWN_GRACE_NS to return after
 * their cancel flag is set. A kernel that does not poll it would hold the
 * thread (and worker.terminate()) forever, so then the pool is abandoned:
 * its threads run on, detached, each freeing its task when the kernel
 * returns, and the last one frees the pool. That is safe only when what the
 * kernels touch is heap of ours; a kernel working in place on a
 * SharedArrayBuffer, which may die with the environment, is waited for. */
static void shutdown_pool(pool_handle_t *h, napi_env env, bool finalizing) {
  if (!h->pool) return;
  if (finalizing && nw_pool_join_within(h->pool, TEARDOWN_GRACE_NS) != 0 &&
      !nw_pool_any_running(h->pool, task_uses_js_memory, NULL)) {
    nw_napi_pin_addon(); /* the threads run this library's code */
    nw_task_t *done = nw_pool_abandon(h->pool, task_detach, env, task_release_abandoned);
    for (nw_task_t *t = done, *n; t; t = n) {
      n = t->next;
      task_free(h, env, (gtask_t *)t);
    }
    h->pool = NULL;
    nw_pool_cache_close(&h->cache);
    return;
  }
  nw_pool_destroy(h->pool);
  for (nw_task_t *t = nw_pool_drain(h->pool), *n; t; t = n) {
    n = t->next;
    task_free(h, env, (gtask_t *)t);
  }
  nw_pool_free(h->pool);
  h->pool = NULL;
  nw_pool_cache_close(&h->cache);
}

/* JS thread. The handle goes once both the External and the threadsafe
 * function are gone. */
static void maybe_free_handle(pool_handle_t *h) {
  if (h->external_gone && !h->tsfn) {
    nw_pool_cache_close(&h->cache);
    free(h);
  }
}

/* JS thread (or environment teardown): the threadsafe function is going
 * away, so no pool thread may call it any more. */
static void tsfn_finalize(napi_env env, void *data, void *hint) {
  pool_handle_t *h = data;
  shutdown_pool(h, env, true);
  nw_napi_drop_ref(env, &h->cbuf_ref);
  h->cbuf = NULL;
  h->tsfn = NULL;
  h->refed = false;
  maybe_free_handle(h);
}

/* JS thread: the External was collected (or the environment tears down). */
static void external_finalize(napi_env env, void *data, void *hint) {
  pool_handle_t *h = data;
  shutdown_pool(h, env, true);
  nw_napi_drop_ref(env, &h->self);
  h->external_gone = true;
  if (h->tsfn)
    napi_release_threadsafe_function(h->tsfn, napi_tsfn_abort); /* its finalizer frees h */
  else
    maybe_free_handle(h);
}

/* Pool thread (core notify callback): wake the owner's loop. */
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
  nw_napi_view_t view;
  return napi_get_reference_value(env, g->source, &v) == napi_ok && v &&
         nw_napi_get_view(env, v, &view) && view.data == g->t.src &&
         view.len == g->t.io.len;
}

/* JS thread. The error a failed task rejects with. NULL with an exception
 * pending when it cannot be made. */
static napi_value task_error(napi_env env, gtask_t *g) {
  const nw_task_t *t = &g->t;
  const nw_task_failure_t *f = t->failure;
  if (g->source && !source_intact(env, g))
    return nw_napi_error(env, NW_ERROR, "ERR_INVALID_STATE",
                         "Invalid state: the input was detached or resized before the "
                         "task finished");
  if (t->status == NW_POOL_BAD_OUTPUT && !(f && f->error[0]))
    return nw_napi_error(env, NW_ERROR, NW_POOL_BAD_OUTPUT_CODE,
                         "The kernel's output is not inside what it allocated");
  if (t->status != NW_FAILED && t->status < 0 && !(f && f->error[0]))
    return nw_napi_errno_error(env, t->status, "kernel");
  napi_value err = nw_napi_error(env, NW_ERROR,
                                 f && f->code[0] ? f->code : "ERR_KERNEL_FAILED",
                                 f && f->error[0] ? f->error : "The kernel failed"),
             e;
  if (err && f && f->errnum && napi_create_int32(env, f->errnum, &e) == napi_ok)
    napi_set_named_property(env, err, "errno", e);
  return err;
}

/* JS thread. A Buffer over `len` bytes of malloc'd `mem`, which it takes
 * over (an empty Buffer, freeing `mem`, when len is 0). NULL with an
 * exception pending on failure; `mem` is freed then too. */
static napi_value take_buffer(napi_env env, void *mem, size_t len) {
  napi_value v;
  if (!mem || len == 0) {
    free(mem);
    return napi_create_buffer(env, 0, NULL, &v) == napi_ok ? v : NULL;
  }
  if (napi_create_external_buffer(env, len, mem, free_cb, NULL, &v) != napi_ok) {
    free(mem);
    return NULL;
  }
  return v;
}

/* JS thread. The input a kernel changed in place (NW_RESULT_INPUT): the
 * caller's own view, or the private copy in the input's shape. */
static napi_value task_input_result(napi_env env, gtask_t *g) {
  napi_value v = NULL;
  if (g->input) return napi_get_reference_value(env, g->input, &v) == napi_ok ? v : NULL;
  void *mem = g->copy;
  size_t len = g->t.io.len;
  g->copy = NULL;
  if (!mem || g->view != NW_VIEW_TYPED_ARRAY || g->ta_type == napi_uint8_array)
    return take_buffer(env, mem, len);
  napi_value ab;
  if (napi_create_external_arraybuffer(env, mem, len, free_cb, NULL, &ab) != napi_ok) {
    free(mem);
    return NULL;
  }
  size_t count = len / nw_elem_size(g->t.io.elem_type);
  return napi_create_typedarray(env, g->ta_type, count, ab, 0, &v) == napi_ok ? v : NULL;
}

/* JS thread. Builds the value a finished task resolves or rejects with and
 * sets *kind. Takes over the task's output and copy where it hands them to
 * JS. NULL for undefined, or with an exception pending on failure. */
static napi_value task_value(napi_env env, gtask_t *g, int *kind) {
  nw_task_t *t = &g->t;
  nw_task_io_t *io = &t->io;
  napi_value v = NULL;
  if (t->owned) {
    /* The pool thread's copy of the input, handed back by the kernel. */
    g->copy = io->data;
    g->copy_cap = io->len;
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
  if (t->status != 0 || (g->source && !source_intact(env, g))) {
    *kind = KIND_FAILED;
    return task_error(env, g);
  }
  *kind = KIND_OK;
  switch (io->result) {
    case NW_RESULT_UNDEFINED:
      return NULL;
    case NW_RESULT_NUMBER:
      return napi_create_double(env, io->number, &v) == napi_ok ? v : NULL;
    case NW_RESULT_BIGINT: {
      /* Two's complement in unsigned arithmetic (no signed shift or
       * overflow): the magnitude of a negative value is its negation. */
      unsigned __int128 u = ((unsigned __int128)(uint64_t)io->bigint_hi << 64) | io->bigint_lo;
      int sign = io->bigint_hi < 0;
      unsigned __int128 mag = sign ? ~u + 1 : u;
      uint64_t words[2] = {(uint64_t)mag, (uint64_t)(mag >> 64)};
      return napi_create_bigint_words(env, sign, words[1] ? 2 : 1, words, &v) == napi_ok ? v
                                                                                       : NULL;
    }
    case NW_RESULT_INPUT:
      return task_input_result(env, g);
    case NW_RESULT_BUFFER:
    default: {
      void *mem = io->out;
      io->out = NULL;
      return take_buffer(env, mem, io->out_len);
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
      bool pending = false;
      if (!v && napi_is_exception_pending(env, &pending) == napi_ok && pending &&
          napi_get_and_clear_last_exception(env, &v) == napi_ok)
        kind = KIND_FAILED;
      if (v && (values || napi_create_array_with_length(env, CHUNK, &values) == napi_ok))
        napi_set_element(env, values, n, v);
      h->cbuf[2 * n] = (double)g->t.id;
      h->cbuf[2 * n + 1] = kind;
    }
    /* Free the chunk's tasks before JS runs: JS may cancel by id, and a
     * freed task is no longer in any core list. */
    for (uint32_t i = 0; i < n; i++) {
      nw_task_t *next = chunk->next;
      task_free(h, env, (gtask_t *)chunk);
      chunk = next;
    }
    napi_value argv[2];
    napi_create_uint32(env, n, &argv[0]);
    argv[1] = values ? values : undef;
    napi_status st = napi_call_function(env, undef, js_cb, 2, argv, NULL);
    napi_close_handle_scope(env, scope);
    bool pending = false;
    napi_value exc;
    if (st != napi_ok && napi_is_exception_pending(env, &pending) == napi_ok && pending &&
        napi_get_and_clear_last_exception(env, &exc) == napi_ok)
      /* An exception escaped the completion callback: a bug in
       * lib/thread_pool.js; let Node report it as uncaught. */
      napi_fatal_exception(env, exc);
    if (!h->pool) break; /* torn down by the callback */
  }
  /* Tasks of a broken-off loop: free them undelivered. */
  while (list) {
    nw_task_t *n = list->next;
    task_free(h, env, (gtask_t *)list);
    list = n;
  }
  h->delivering = false;
  if (h->free_requested) {
    shutdown_pool(h, env, false);
    if (h->tsfn) napi_release_threadsafe_function(h->tsfn, napi_tsfn_release);
  }
  if (h->pool) nw_pool_cache_tick(&h->cache, nw_now_ns());
  update_ref(h);
}

/* ---- JS entry points -------------------------------------------------------- */

static pool_handle_t *get_handle(napi_env env, napi_value v) {
  return nw_napi_unwrap(env, v, &pool_tag, "a pool handle");
}

/*
 * poolCreate(threads, maxQueue, onComplete, completionBuffer) -> External.
 * maxQueue 0: unlimited. completionBuffer: a Float64Array of 2 * CHUNK
 * slots. Throws ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE for bad
 * arguments, the system error of pthread_create when the threads cannot
 * start.
 */
static napi_value create_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(4);
  uint32_t threads = 0;
  double max_queue = 0;
  nw_napi_view_t cbuf;
  if (!nw_napi_get_uint32(env, argv[0], "threads", &threads) ||
      !nw_napi_get_double(env, argv[1], "maxQueue", &max_queue) ||
      !nw_napi_check_type(env, argv[2], napi_function, "onComplete"))
    return NULL;
  if (!nw_napi_get_view(env, argv[3], &cbuf) || cbuf.kind != NW_VIEW_TYPED_ARRAY ||
      cbuf.type != napi_float64_array || cbuf.len < 2 * CHUNK * sizeof(double)) {
    nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_VALUE", "bad completion buffer");
    return NULL;
  }
  pool_handle_t *h = calloc(1, sizeof *h);
  if (!h) {
    nw_napi_throw_errno(env, -ENOMEM, "calloc");
    return NULL;
  }
  h->env = env;
  h->cbuf = cbuf.data;
  nw_pool_cache_init(&h->cache, sizeof(gtask_t));
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
  /* From here on the tsfn finalizer owns the pool, and frees the handle
   * once the External is gone too (or was never made). */
  st = napi_create_reference(env, argv[3], 1, &h->cbuf_ref);
  if (st == napi_ok) st = napi_create_external(env, h, external_finalize, NULL, &ext);
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

/* JS thread. Fills a task's input from `v` (undefined or null: none, else
 * a TypedArray, DataView or ArrayBuffer), as nw_pool_input_plan says.
 * Returns 0 or a negative errno (-EINVAL: not an input, -ENOMEM). */
static int task_input(napi_env env, pool_handle_t *h, gtask_t *g, napi_value v,
                      uint32_t meta) {
  napi_valuetype vt;
  nw_napi_view_t view;
  if (napi_typeof(env, v, &vt) != napi_ok) return -EINVAL;
  if (vt == napi_undefined || vt == napi_null) return 0;
  if (!nw_napi_get_view(env, v, &view)) return -EINVAL;
  g->view = view.kind;
  g->ta_type = view.type;
  g->t.io.elem_type = view.elem_type;
  g->t.io.len = view.len;
  /* Shared memory cannot be detached: it stays the input's for the task's
   * life. A buffer run() made for this call (META_PRIVATE) could not be
   * taken away either, but is copied all the same: a kernel that ignores
   * cancellation may outlive the environment, and then must not be
   * working on its heap (see shutdown_pool). */
  bool stable = (meta & META_SHARED) != 0;
  switch (nw_pool_input_plan(view.len, stable)) {
    case NW_POOL_INPUT_IN_PLACE:
      if (napi_create_reference(env, v, 1, &g->input) != napi_ok) return -ENOMEM;
      g->t.io.data = view.data;
      return 0;
    case NW_POOL_INPUT_COPY_LATER:
      /* See source_intact for what keeps this safe. */
      if (napi_create_reference(env, v, 1, &g->source) != napi_ok) return -ENOMEM;
      g->t.src = view.data;
      return 0;
    case NW_POOL_INPUT_COPY_NOW:
    default:
      g->copy = nw_pool_cache_copy(&h->cache, view.data, view.len, &g->copy_cap);
      if (!g->copy) return -ENOMEM;
      g->t.io.data = g->copy;
      return 0;
  }
}

/* JS thread. Builds up to `m` tasks from task `from` on (none skipped) into
 * tasks[], counting the bytes copied into *copied and stopping once past
 * `budget` (> 0). Returns how many were built; *err receives -EINVAL (bad
 * input: task from + the count built) or -ENOMEM when it stopped short for
 * a failure. */
static uint32_t build_tasks(napi_env env, pool_handle_t *h, gtask_t **tasks,
                            uint32_t from, uint32_t m, double first,
                            const uint32_t *meta, napi_value inputs,
                            double budget, size_t *copied, int *err) {
  uint32_t built = 0;
  while (built < m) {
    uint32_t i = from + built;
    gtask_t *g = nw_pool_cache_record(&h->cache);
    if (!g) {
      *err = -ENOMEM;
      break;
    }
    g->t.kernel = meta[i] & META_KERNEL_MASK;
    g->t.id = (uint64_t)first + i;
    if (inputs) {
      napi_value v;
      int rc = napi_get_element(env, inputs, i, &v) == napi_ok
                   ? task_input(env, h, g, v, meta[i])
                   : -EINVAL;
      if (rc) {
        task_free(h, env, g);
        *err = rc;
        break;
      }
      if (g->copy) *copied += g->t.io.len;
    }
    tasks[built++] = g;
    if (budget > 0 && (double)*copied >= budget) break;
  }
  return built;
}

/*
 * poolSubmit(handle, firstId, from, n, meta Uint32Array, inputs Array|undefined,
 *            budget) -> [next, err]
 * Task i (from <= i < n) gets id firstId + i, kernel meta[i] & 0xffff and
 * input inputs[i]; tasks marked META_SKIP are left out. The result says how
 * far the batch went, which is not a failure of the call: tasks before
 * `next` were queued (or skipped), and err says why task `next` was not:
 * 0 all went, 1 `budget` (> 0) bytes of input were copied and the caller
 * submits the rest on a later turn (so that one call never blocks the loop
 * for long), or a negative errno that the caller turns into the rejection
 * of the tasks from `next` on: -EAGAIN queue full, -ESHUTDOWN closed,
 * -EINVAL bad input (task `next` only), -ENOMEM. Throws only for bad
 * arguments.
 */
static napi_value submit_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(7, pool_handle_t, h, get_handle);
  double first = 0, budget = 0;
  uint32_t from = 0, n = 0;
  nw_napi_view_t mv;
  napi_valuetype it;
  if (!nw_napi_get_double(env, argv[1], "firstId", &first) ||
      !nw_napi_get_uint32(env, argv[2], "from", &from) ||
      !nw_napi_get_uint32(env, argv[3], "n", &n) ||
      !nw_napi_get_double(env, argv[6], "budget", &budget))
    return NULL;
  if (!nw_napi_get_view(env, argv[4], &mv) || mv.kind != NW_VIEW_TYPED_ARRAY ||
      mv.type != napi_uint32_array || mv.len / sizeof(uint32_t) < n) {
    nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_VALUE", "bad meta array");
    return NULL;
  }
  const uint32_t *meta = mv.data;
  NAPI_CALL(env, napi_typeof(env, argv[5], &it));
  napi_value inputs = it == napi_object ? argv[5] : NULL;

  int err = 0;
  uint32_t accepted = from;
  size_t copied = 0;
  gtask_t *tasks[BATCH];
  if (!h->pool) err = -ESHUTDOWN;
  while (!err && accepted < n) {
    if (budget > 0 && (double)copied >= budget) {
      err = 1;
      break;
    }
    while (accepted < n && (meta[accepted] & META_SKIP)) accepted++;
    uint32_t m = 0;
    while (m < BATCH && accepted + m < n && !(meta[accepted + m] & META_SKIP)) m++;
    if (m == 0) break;
    uint32_t built = build_tasks(env, h, tasks, accepted, m, first, meta, inputs,
                                 budget, &copied, &err);
    int why = 0;
    int q = nw_pool_submit_batch(h->pool, (nw_task_t *const *)tasks, (int)built, &why);
    for (int j = q; j < (int)built; j++) task_free(h, env, tasks[j]);
    accepted += (uint32_t)q;
    if (q < (int)built) err = why;
  }
  if (h->pool) nw_pool_cache_tick(&h->cache, nw_now_ns());
  update_ref(h);
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
  nw_task_t *t = NULL;
  bool removed = h->pool && nw_pool_cancel(h->pool, (uint64_t)id, &t) == 1;
  if (removed) {
    task_free(h, env, (gtask_t *)t);
    update_ref(h);
  }
  return nw_napi_bool(env, removed);
}

/* poolClose(handle, abort): no new tasks; queued ones come back rejected;
 * with abort, running kernels are asked to stop. Returns undefined. */
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
 * nothing is in flight; from inside a completion callback it happens when
 * the callback returns. Returns undefined. */
static napi_value free_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(1, pool_handle_t, h, get_handle);
  if (h->delivering) {
    h->free_requested = true;
    return NULL;
  }
  shutdown_pool(h, env, false);
  update_ref(h);
  if (h->tsfn) napi_release_threadsafe_function(h->tsfn, napi_tsfn_release);
  return NULL;
}

/* poolKernels(handle) -> [names], in registry order. */
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

/* The .code poolLoad throws for each error of nw_pool_load that is the
 * library's fault rather than the system's. */
static const struct {
  int err;
  const char *code;
} load_codes[] = {
    {-ENOENT, "ERR_DLOPEN_FAILED"},          {-ENOEXEC, "ERR_DLOPEN_FAILED"},
    {-ENOSYS, "ERR_INVALID_KERNEL_LIBRARY"}, {-EPROTO, "ERR_INVALID_KERNEL_LIBRARY"},
    {-EEXIST, "ERR_KERNEL_EXISTS"},          {-EINVAL, "ERR_INVALID_ARG_VALUE"},
};

/*
 * poolLoad(handle, path) -> the number of kernels added. Throws an Error
 * whose message is the loader's own (nw_pool_load's) and whose .code is
 * ERR_DLOPEN_FAILED (no such file, or dlopen refused it),
 * ERR_INVALID_KERNEL_LIBRARY (no nw_kernels symbol, or a table of another
 * ABI), ERR_KERNEL_EXISTS (a name clash) or ERR_INVALID_ARG_VALUE (a path
 * with a NUL byte); any other failure (a path too long, a stat error) as
 * the system error of "dlopen". lib/thread_pool.js words them for users.
 */
static napi_value load_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(2, pool_handle_t, h, get_handle);
  char path[4096], msg[512] = "";
  size_t plen = 0;
  if (!nw_napi_check_type(env, argv[1], napi_string, "path")) return NULL;
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[1], path, sizeof path, &plen));
  int rc;
  if (plen >= sizeof path - 1) {
    rc = -ENAMETOOLONG;
  } else if (strlen(path) != plen) {
    rc = -EINVAL;
    snprintf(msg, sizeof msg, "path contains a NUL byte");
  } else {
    rc = h->pool ? nw_pool_load(h->pool, path, msg, sizeof msg) : -ESHUTDOWN;
  }
  if (rc < 0) {
    for (size_t i = 0; i < NW_COUNT(load_codes); i++)
      if (load_codes[i].err == rc) {
        nw_napi_throw_code(env, NW_ERROR, load_codes[i].code, msg);
        return NULL;
      }
    nw_napi_throw_errno(env, rc, "dlopen");
    return NULL;
  }
  return nw_napi_int32(env, rc);
}

/* Set obj[name] = value (a number). */
static napi_status set_number(napi_env env, napi_value obj, const char *name,
                              double value) {
  napi_value v;
  napi_status st = napi_create_double(env, value, &v);
  return st == napi_ok ? napi_set_named_property(env, obj, name, v) : st;
}

/* { count, min, max, mean, p50, p90, p99 } of a histogram, in ms. */
static napi_value hist_object(napi_env env, const nw_hist_t *hist) {
  static const struct { const char *name; double p; } ps[] = {
      {"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}};
  bool any = hist->count != 0;
  napi_value o;
  NAPI_CALL(env, napi_create_object(env, &o));
  NAPI_CALL(env, set_number(env, o, "count", (double)hist->count));
  NAPI_CALL(env, set_number(env, o, "min", any ? hist->min / 1e6 : 0));
  NAPI_CALL(env, set_number(env, o, "max", any ? hist->max / 1e6 : 0));
  NAPI_CALL(env, set_number(env, o, "mean", any ? hist->sum / (double)hist->count / 1e6 : 0));
  for (size_t i = 0; i < NW_COUNT(ps); i++)
    NAPI_CALL(env, set_number(env, o, ps[i].name, nw_hist_percentile(hist, ps[i].p) / 1e6));
  return o;
}

/* poolStats(handle) -> { threads, queued, running, completed, failed,
 * cancelled, runTime, waitTime, utilization }; times in milliseconds. */
static napi_value stats_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(1, pool_handle_t, h, get_handle);
  nw_pool_stats_t *s = calloc(1, sizeof *s); /* a few KiB of histograms */
  if (!s) {
    nw_napi_throw_errno(env, -ENOMEM, "calloc");
    return NULL;
  }
  if (h->pool) nw_pool_stats(h->pool, s);
  const struct { const char *name; double value; } nums[] = {
      {"threads", s->threads},     {"queued", (double)s->queued},
      {"running", (double)s->running}, {"completed", (double)s->completed},
      {"failed", (double)s->failed}, {"cancelled", (double)s->cancelled},
  };
  napi_value o = NULL, v;
  napi_status st = napi_create_object(env, &o);
  for (size_t i = 0; st == napi_ok && i < NW_COUNT(nums); i++)
    st = set_number(env, o, nums[i].name, nums[i].value);
  if (st == napi_ok) st = (v = hist_object(env, &s->run_time)) ? napi_ok : napi_pending_exception;
  if (st == napi_ok) st = napi_set_named_property(env, o, "runTime", v);
  if (st == napi_ok) st = (v = hist_object(env, &s->wait_time)) ? napi_ok : napi_pending_exception;
  if (st == napi_ok) st = napi_set_named_property(env, o, "waitTime", v);
  if (st == napi_ok) st = set_number(env, o, "utilization", s->utilization);
  free(s);
  NAPI_CALL(env, st);
  return o;
}

/* See parts.h. The functions go on exports.pool. */
napi_value nw_pool_init_napi(napi_env env, napi_value exports) {
  static const nw_napi_fn_t fns[] = {
      {"create", create_fn}, {"submit", submit_fn},   {"cancel", cancel_fn},
      {"close", close_fn},   {"free", free_fn},       {"kernels", kernels_fn},
      {"load", load_fn},     {"stats", stats_fn},
  };
  /* COPY_IN: 1 when large inputs are copied by the pool threads
   * (nw_pool_copy_in), 0 when they are copied at submission. */
  const nw_napi_const_t consts[] = {
      {"CHUNK", CHUNK},
      {"COPY_IN", nw_pool_copy_in_available() ? 1 : 0},
  };
  napi_value p;
  NAPI_CALL(env, napi_create_object(env, &p));
  NAPI_CALL(env, nw_napi_export_fns(env, p, fns, NW_COUNT(fns)));
  NAPI_CALL(env, nw_napi_export_consts(env, p, consts, NW_COUNT(consts)));
  NAPI_CALL(env, napi_set_named_property(env, exports, "pool", p));
  return exports;
}
