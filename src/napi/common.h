/*
 * Helpers shared by the Node-API glue files. The glue unwraps arguments,
 * calls into src/core and wires results back to the event loop; it does no
 * work of its own.
 */
#ifndef NW_NAPI_COMMON_H
#define NW_NAPI_COMMON_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Evaluate a Node-API call; on failure throw (unless an exception is already
 * pending) and return NULL from the calling function. Never compiled out. */
#define NAPI_CALL(env, call)                                                  \
  do {                                                                        \
    napi_status status_ = (call);                                             \
    if (status_ != napi_ok) {                                                 \
      nw_napi_throw_last((env), status_);                                     \
      return NULL;                                                            \
    }                                                                         \
  } while (0)

/* The same for functions returning void or a status. */
#define NAPI_CALL_RET(env, call, ret)                                         \
  do {                                                                        \
    napi_status status_ = (call);                                             \
    if (status_ != napi_ok) {                                                 \
      nw_napi_throw_last((env), status_);                                     \
      return (ret);                                                           \
    }                                                                         \
  } while (0)

void nw_napi_throw_last(napi_env env, napi_status status);

/* Throw an Error with a stable .code (and a RangeError/TypeError as asked). */
void nw_napi_throw_code(napi_env env, const char *kind, const char *code,
                        const char *msg);

/* Throw a system error: .code is the errno name, .errno the negative errno,
 * .syscall the failing call. `err` is a negative errno. */
void nw_napi_throw_errno(napi_env env, int err, const char *syscall);

/* Build (but do not throw) the same system error object. */
napi_value nw_napi_errno_error(napi_env env, int err, const char *syscall);

/* Name of a negative errno ("ENOENT"), or "UNKNOWN". */
const char *nw_errno_name(int err);

/* Register a function property on `obj`. Returns napi status. */
napi_status nw_napi_export_fn(napi_env env, napi_value obj, const char *name,
                              napi_callback cb, void *data);

/* A table of functions to export, and helpers that export a table or an
 * unsigned constant onto an object. */
typedef struct nw_napi_fn {
  const char *name;
  napi_callback cb;
} nw_napi_fn_t;

napi_status nw_napi_export_fns(napi_env env, napi_value obj,
                               const nw_napi_fn_t *fns, size_t n);
napi_status nw_napi_export_u32(napi_env env, napi_value obj, const char *name,
                               uint32_t value);

/* Unwrap a Buffer/TypedArray/DataView/ArrayBuffer/SharedArrayBuffer into a
 * pointer and length. Returns false (with an exception pending) when `v` is
 * none of these. When `arraybuffer` is not NULL it receives the buffer that
 * owns the memory, so the caller can keep a reference to it. */
bool nw_napi_get_bytes(napi_env env, napi_value v, void **data, size_t *len,
                       napi_value *arraybuffer);

/* Per-environment state (the main thread and every worker thread that loads
 * the addon get their own), stored with napi_set_instance_data. Each part
 * keeps its own slot; the part that owns a slot frees it from its own env
 * cleanup hook. */
typedef struct nw_env {
  void *ring;
  void *pool;
  void *spawn;
  void *channel;
  void *worker;
} nw_env_t;

nw_env_t *nw_env_get(napi_env env);

/* Per-part initialisers called from the module entry point. Each adds its
 * functions to `exports` and returns NULL with an exception pending on
 * failure. */
napi_value nw_ring_init_napi(napi_env env, napi_value exports);
napi_value nw_pool_init_napi(napi_env env, napi_value exports);
napi_value nw_channel_init_napi(napi_env env, napi_value exports);
napi_value nw_ipc_pipe_init_napi(napi_env env, napi_value exports);
napi_value nw_spawn_init_napi(napi_env env, napi_value exports);
napi_value nw_worker_init_napi(napi_env env, napi_value exports);
/* Test and benchmark entry points (binding._testing). */
napi_value nw_testing_init_napi(napi_env env, napi_value exports);

#endif
