/*
 * common.h - what every Node-API glue file uses: the call macros, the
 * argument unwrapping, the errors, the exports.
 *
 * The glue unwraps arguments, calls into src/core and wires results back to
 * the event loop; it does no work of its own. Everything here runs on the
 * JavaScript thread of the calling environment.
 *
 * The one convention of the glue. A function exported to JavaScript either
 * returns its documented result or throws:
 *   - bad arguments (a wrong type, a handle of another kind, a released
 *     handle) throw a TypeError or RangeError with a stable .code
 *     (ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE,
 *     ERR_MISSING_ARGS, or a part's own such as ERR_RING_CLOSED);
 *   - a failed system or library call throws the system error that
 *     nw_napi_errno_error builds, shaped as Node's own and as
 *     errnoException in lib/internal/errors.js: message "<syscall> <CODE>",
 *     .errno the negative errno, .code its name, .syscall.
 * Outcomes that are not failures and that callers branch on (a full
 * socket, a timeout, no descriptor arrived yet, a peer that is gone) may be
 * documented return values; each function's comment says which.
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

/* Declare `argc` and `argv[n]` in a glue function (its parameters must be
 * named env and info) and fetch up to n arguments; missing ones read as
 * undefined. */
#define NW_ARGV(n)                                                            \
  size_t argc = (n);                                                          \
  napi_value argv[(n)];                                                       \
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL))

/* After NW_ARGV: throw ERR_MISSING_ARGS `msg` and return when fewer than
 * `n` arguments came. */
#define NW_NEED_ARGS(n, msg)                                                  \
  do {                                                                        \
    if (argc < (n)) {                                                         \
      nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_MISSING_ARGS", (msg));      \
      return NULL;                                                            \
    }                                                                         \
  } while (0)

/* NW_ARGV, then unwrap argv[0] with `get` (a part's handle getter, which
 * throws on failure) into `type *var`, returning at once when it fails. */
#define NW_ARGV_HANDLE(n, type, var, get)                                     \
  NW_ARGV(n);                                                                 \
  type *var = get(env, argv[0]);                                              \
  if (!var) return NULL

/* Throw for a failed Node-API call, unless an exception is pending. */
void nw_napi_throw_last(napi_env env, napi_status status);

/* Which constructor a coded error has. */
typedef enum { NW_ERROR, NW_TYPE_ERROR, NW_RANGE_ERROR } nw_error_kind_t;

/* Build (nw_napi_error) or throw (nw_napi_throw_code) an error of `kind`
 * with a stable .code and message `msg`. nw_napi_error returns NULL,
 * maybe with an exception pending, when it cannot be made. */
napi_value nw_napi_error(napi_env env, nw_error_kind_t kind, const char *code,
                         const char *msg);
void nw_napi_throw_code(napi_env env, nw_error_kind_t kind, const char *code,
                        const char *msg);

/* Build (but do not throw) the system error of a failed call: `err` is a
 * negative errno (a positive one is taken as its negation), `syscall` names
 * the call. NULL with an exception pending when it cannot be made. */
napi_value nw_napi_errno_error(napi_env env, int err, const char *syscall);

/* Throw that system error. */
void nw_napi_throw_errno(napi_env env, int err, const char *syscall);

/* Unwrap a handle the addon made: an External, or an object napi_wrap'ed
 * by the addon, that carries type tag `tag`. The type is checked before the
 * tag (checking the tag of a primitive fails). Returns the native pointer,
 * or NULL after throwing ERR_INVALID_ARG_TYPE "Expected <what>". */
void *nw_napi_unwrap(napi_env env, napi_value v, const napi_type_tag *tag,
                     const char *what);

/* Number and boolean arguments. Each stores the value and returns true, or
 * throws ERR_INVALID_ARG_TYPE "<what> must be a number" (or a boolean) and
 * returns false when `v` is of another type. */
bool nw_napi_get_int32(napi_env env, napi_value v, const char *what,
                       int32_t *out);
bool nw_napi_get_uint32(napi_env env, napi_value v, const char *what,
                        uint32_t *out);
bool nw_napi_get_double(napi_env env, napi_value v, const char *what,
                        double *out);
bool nw_napi_get_bool(napi_env env, napi_value v, const char *what,
                      bool *out);

/* Require `v` to be of type `want` (a function, a string, ...); throws
 * ERR_INVALID_ARG_TYPE "<what> must be a <type>" otherwise. */
bool nw_napi_check_type(napi_env env, napi_value v, napi_valuetype want,
                        const char *what);

/* The nw_elem_type_t (native_workers.h) of a typed array type. False for a
 * type the kernels do not know. */
bool nw_napi_elem_type(napi_typedarray_type t, uint32_t *out);

/* What a value that holds bytes is. */
typedef enum {
  NW_VIEW_NONE = 0,
  NW_VIEW_TYPED_ARRAY = 1, /* Buffers included */
  NW_VIEW_DATA_VIEW = 2,
  NW_VIEW_ARRAY_BUFFER = 3
} nw_napi_view_kind_t;

typedef struct nw_napi_view {
  nw_napi_view_kind_t kind;
  void *data;               /* first byte; NULL when detached or empty */
  size_t len;               /* in bytes */
  size_t offset;            /* of data in its buffer, in bytes */
  napi_value arraybuffer;   /* the buffer that owns the memory */
  napi_typedarray_type type; /* a typed array's type */
  uint32_t elem_type;       /* its nw_elem_type_t; NW_BYTES otherwise */
} nw_napi_view_t;

/* Describe `v` when it is a TypedArray, a DataView (over an ArrayBuffer or
 * a SharedArrayBuffer) or an ArrayBuffer. Returns false, without throwing,
 * for anything else. */
bool nw_napi_get_view(napi_env env, napi_value v, nw_napi_view_t *out);

/* The bytes of such a value: pointer and length, and when `arraybuffer` is
 * not NULL the buffer that owns them, so the caller can keep a reference
 * to it. Returns false after throwing ERR_INVALID_ARG_TYPE when `v` holds
 * no bytes. */
bool nw_napi_get_bytes(napi_env env, napi_value v, void **data, size_t *len,
                       napi_value *arraybuffer);

/* A JavaScript function that a native handle calls from the event loop
 * (a uv handle's callback), with the async context napi_make_callback
 * needs for it. Both members are NULL when none is held. */
typedef struct nw_napi_callback {
  napi_ref fn;
  napi_async_context actx;
} nw_napi_callback_t;

/* Hold `fn` (a strong reference) with a new async context named `name`
 * whose resource is `resource` (NULL: a fresh object). Returns napi_ok, or
 * the failing status with nothing held. */
napi_status nw_napi_callback_init(napi_env env, nw_napi_callback_t *cb,
                                  napi_value fn, napi_value resource,
                                  const char *name);

/* Let go of the function and its async context. Idempotent. */
void nw_napi_callback_drop(napi_env env, nw_napi_callback_t *cb);

/* Call the held function with the global object as `this`, through
 * napi_make_callback so that the nextTick queue and microtasks run after
 * it. The caller opens the handle scope around it. An exception the
 * function throws is reported as uncaught (napi_fatal_exception), as Node
 * does for its own handles, and the call returns napi_pending_exception;
 * otherwise napi_ok with *result (when not NULL) set, or a failing status
 * when the function could not be called at all (none is held, or it was
 * let go). */
napi_status nw_napi_make_callback(napi_env env, const nw_napi_callback_t *cb,
                                  size_t argc, const napi_value *argv,
                                  napi_value *result);

/* Delete *ref (when set) and clear it; the same for an async cleanup hook.
 * Idempotent. */
void nw_napi_drop_ref(napi_env env, napi_ref *ref);
void nw_napi_drop_hook(napi_async_cleanup_hook_handle *hook);

/* Keep this library mapped for the life of the process. Node unloads an
 * addon with the last environment that loaded it (a worker thread ending);
 * call this before leaving a thread that runs the addon's code to outlive
 * its environment. Any thread; the first call does it. */
void nw_napi_pin_addon(void);

/* A number or boolean for a glue function to return: the value, or NULL
 * with an exception pending when it cannot be made. */
napi_value nw_napi_int32(napi_env env, int32_t v);
napi_value nw_napi_bool(napi_env env, bool v);

/* Functions and constants to export, as tables. */
typedef struct nw_napi_fn {
  const char *name;
  napi_callback cb;
} nw_napi_fn_t;

typedef struct nw_napi_const {
  const char *name;
  int64_t value;
} nw_napi_const_t;

/* Set each function (or constant) of the table as a property of `obj`.
 * Return napi_ok or the first failing status. */
napi_status nw_napi_export_fns(napi_env env, napi_value obj,
                               const nw_napi_fn_t *fns, size_t n);
napi_status nw_napi_export_consts(napi_env env, napi_value obj,
                                  const nw_napi_const_t *consts, size_t n);

#define NW_COUNT(table) (sizeof(table) / sizeof((table)[0]))

#endif
