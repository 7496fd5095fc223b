/*
 * Node-API glue of the worker_threads mirror's doorbell (lib/internal/
 * worker_channel.js).
 *
 * A channel between two threads is a pair of rings (src/core/ring.h) in
 * SharedArrayBuffers. Messages never pass through here: JavaScript writes
 * and reads the rings itself. What JavaScript cannot do is wake the event
 * loop of another thread; this file gives each reading port a doorbell: a
 * uv_async_t on the reader's loop, registered in the process-wide registry
 * of src/core/bell.h under an id the reader publishes in shared memory. A
 * writer that finds the reader asleep rings that id straight from its own
 * thread (one uv_async_send: no helper thread, no futex hop).
 *
 * When the bell rings, the reader's loop calls the port's JavaScript
 * callback through napi_make_callback at the top of the stack until it says
 * it is idle. One call may dispatch several messages; between two of them
 * the JavaScript side runs the nextTick queue and microtasks itself, so
 * that what one 'message' listener queued runs before the next message, as
 * with Node's ports.
 *
 * Lifetime: a bell belongs to the thread that opened it. It is closed by
 * JavaScript (bellClose), or by an async env cleanup hook when that thread's
 * environment goes away (a worker that terminates); either way it leaves the
 * registry first, so no other thread can ring it while its handle closes.
 */
#include <errno.h>
#include <stdlib.h>
#include <uv.h>

#include "core/bell.h"
#include "napi/common.h"
#include "napi/parts.h"

/* Messages delivered per loop iteration before yielding to other I/O. */
#define DISPATCH_LIMIT 1000

/*
 * The registry is the one piece of process-wide state: a writer in any
 * thread must find the bell of a reader in any other thread from an id in
 * shared memory. The addon's shared object is loaded once per process, so
 * every environment sees this same registry.
 */
static nw_bellreg_t registry = NW_BELLREG_INIT;

typedef struct bell {
  uv_async_t async;        /* on the owner's loop; data = this */
  napi_env env;
  nw_napi_callback_t callback; /* () => messages dispatched, 0 when idle */
  napi_async_cleanup_hook_handle hook;
  uint32_t id;
  /* Owner thread only: */
  bool dispatching;        /* inside the callback loop */
  bool close_pending;      /* closed from a callback: finish after it */
  bool closing;            /* uv_close called (or about to be) */
} bell_t;

/* Any thread, under the registry's reader lock: wake the owner's loop. */
static void bell_ring_cb(void *arg) {
  bell_t *b = arg;
  uv_async_send(&b->async);
}

/* Owner's loop: the handle is closed; nothing references the bell. The
 * cleanup hook is removed last, which also tells a terminating environment
 * that this bell is done. */
static void bell_closed(uv_handle_t *handle) {
  bell_t *b = handle->data;
  nw_napi_drop_hook(&b->hook);
  free(b);
}

/* Owner thread. Leaves the registry, drops the JS references and closes
 * the handle; idempotent. */
static void bell_start_close(bell_t *b) {
  if (b->closing) return;
  b->closing = true;
  nw_bellreg_remove(&registry, b->id);
  nw_napi_callback_drop(b->env, &b->callback);
  uv_close((uv_handle_t *)&b->async, bell_closed);
}

/* Env teardown (a worker terminating, or the process exiting). */
static void bell_cleanup_hook(napi_async_cleanup_hook_handle handle, void *arg) {
  bell_t *b = arg;
  if (b->dispatching)
    b->close_pending = true;
  else
    bell_start_close(b);
}

/* Owner's loop: call JavaScript until it says it is idle, the port is
 * closed, or DISPATCH_LIMIT messages went by (then ring again so that other
 * handles get their turn first). */
static void bell_async_cb(uv_async_t *handle) {
  bell_t *b = handle->data;
  if (b->closing) return;
  napi_env env = b->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  b->dispatching = true;
  bool more = false;
  uint32_t done = 0;
  while (!b->close_pending) {
    napi_value result;
    napi_status st = nw_napi_make_callback(env, &b->callback, 0, NULL, &result);
    if (st != napi_ok) {
      /* A listener threw (reported as uncaught, as Node does for its own
       * ports): carry on with the remaining messages on the next turn. */
      more = st == napi_pending_exception;
      break;
    }
    uint32_t n = 0;
    if (napi_get_value_uint32(env, result, &n) != napi_ok || n == 0) break;
    done += n;
    if (done >= DISPATCH_LIMIT) {
      more = true;
      break;
    }
  }
  b->dispatching = false;
  napi_close_handle_scope(env, scope);
  if (b->close_pending)
    bell_start_close(b);
  else if (more)
    uv_async_send(&b->async);
}

/* The bell `id` of the calling environment, or NULL with an exception. */
static bell_t *own_bell(napi_env env, napi_value v) {
  uint32_t id = 0;
  if (!nw_napi_get_uint32(env, v, "A bell id", &id)) return NULL;
  bell_t *b = nw_bellreg_get(&registry, id);
  if (!b || b->env != env || b->closing) {
    nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_VALUE",
                       "No open bell of this thread has that id");
    return NULL;
  }
  return b;
}

/* bellOpen(callback) -> id. The bell starts unref'd. */
static napi_value bell_open_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(1);
  if (!nw_napi_check_type(env, argv[0], napi_function, "The \"callback\" argument")) return NULL;
  uv_loop_t *loop = NULL;
  NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
  bell_t *b = calloc(1, sizeof *b);
  if (!b) {
    nw_napi_throw_errno(env, -ENOMEM, "calloc");
    return NULL;
  }
  b->env = env;
  napi_status st = nw_napi_callback_init(env, &b->callback, argv[0], NULL,
                                         "native-workers.MessagePort");
  if (st != napi_ok) {
    free(b);
    NAPI_CALL(env, st);
  }
  if (uv_async_init(loop, &b->async, bell_async_cb) != 0) {
    nw_napi_callback_drop(env, &b->callback);
    free(b);
    nw_napi_throw_errno(env, -EMFILE, "uv_async_init");
    return NULL;
  }
  b->async.data = b;
  int rc = napi_add_async_cleanup_hook(env, bell_cleanup_hook, b, &b->hook) == napi_ok
               ? nw_bellreg_add(&registry, bell_ring_cb, b, &b->id)
               : -ENOMEM;
  if (rc != 0) {
    /* Initialised, so it must be closed on the loop before it is freed;
     * bell_closed removes the hook (when it was added). */
    b->id = 0;
    bell_start_close(b);
    nw_napi_throw_errno(env, rc, "bellOpen");
    return NULL;
  }
  uv_unref((uv_handle_t *)&b->async);
  napi_value out;
  NAPI_CALL(env, napi_create_uint32(env, b->id, &out));
  return out;
}

/* bellClose(id): stop listening; the owner thread only. */
static napi_value bell_close_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(1, bell_t, b, own_bell);
  if (b->dispatching) {
    /* Closed by a listener: leave the registry now, free after the loop. */
    nw_bellreg_remove(&registry, b->id);
    b->close_pending = true;
  } else {
    bell_start_close(b);
  }
  return NULL;
}

/* bellRef(id, ref): whether the bell keeps its loop alive. */
static napi_value bell_ref_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(2, bell_t, b, own_bell);
  bool ref = false;
  if (!nw_napi_get_bool(env, argv[1], "ref", &ref)) return NULL;
  if (ref)
    uv_ref((uv_handle_t *)&b->async);
  else
    uv_unref((uv_handle_t *)&b->async);
  return NULL;
}

/* bellRing(id) -> boolean: wake the owner of `id` (any thread). False when
 * no such bell exists any more (its port closed or its thread ended). */
static napi_value bell_ring_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(1);
  uint32_t id = 0;
  if (!nw_napi_get_uint32(env, argv[0], "A bell id", &id)) return NULL;
  return nw_napi_bool(env, nw_bellreg_ring(&registry, id) == 0);
}

/* bellLive() -> number of open bells in the process (tests). */
static napi_value bell_live_fn(napi_env env, napi_callback_info info) {
  napi_value out;
  NAPI_CALL(env, napi_create_uint32(env, nw_bellreg_live(&registry), &out));
  return out;
}

/* See parts.h. */
napi_value nw_bell_init_napi(napi_env env, napi_value exports) {
  static const nw_napi_fn_t fns[] = {
      {"bellOpen", bell_open_fn}, {"bellClose", bell_close_fn},
      {"bellRef", bell_ref_fn},   {"bellRing", bell_ring_fn},
      {"bellLive", bell_live_fn},
  };
  NAPI_CALL(env, nw_napi_export_fns(env, exports, fns, NW_COUNT(fns)));
  return exports;
}
