/*
 * common.c - the helpers every glue file uses (see common.h). JavaScript
 * thread of the calling environment only, and no state, except
 * nw_napi_pin_addon (any thread, once per process).
 */
#include "napi/common.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "native_workers.h"

/* The error has Node-API's message for the failure and .code
 * ERR_NAPI_<status>. */
void nw_napi_throw_last(napi_env env, napi_status status) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  const char *msg = (info && info->error_message) ? info->error_message
                                                  : "Node-API call failed";
  char code[32];
  snprintf(code, sizeof code, "ERR_NAPI_%d", (int)status);
  napi_throw_error(env, code, msg);
}

/* The .code is left out when `code` is NULL. */
napi_value nw_napi_error(napi_env env, nw_error_kind_t kind, const char *code,
                         const char *msg) {
  napi_value c = NULL, m, e;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m) != napi_ok ||
      (code && napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c) != napi_ok))
    return NULL;
  napi_status st = kind == NW_RANGE_ERROR  ? napi_create_range_error(env, c, m, &e)
                   : kind == NW_TYPE_ERROR ? napi_create_type_error(env, c, m, &e)
                                           : napi_create_error(env, c, m, &e);
  return st == napi_ok ? e : NULL;
}

/* Nothing is thrown when the error itself cannot be made (an exception is
 * then pending already, or the engine is out of memory). */
void nw_napi_throw_code(napi_env env, nw_error_kind_t kind, const char *code,
                        const char *msg) {
  napi_value e = nw_napi_error(env, kind, code, msg);
  if (e) napi_throw(env, e);
}

/* The code is libuv's name for the errno, the one util.getSystemErrorName
 * (and so errnoException) gives: "ENOTSUP" where glibc says "EOPNOTSUPP".
 * libuv names only the errnos its own calls return; for the others (a
 * kernel may return -EDOM) glibc's name is used (not on musl), and
 * "Unknown system error -N" where neither has one. The properties are set in errnoException's
 * order (errno, code, syscall), so the two print alike. */
static void errno_code(int err, char *buf, size_t len) {
  static const char unknown[] = "Unknown system error";
  uv_err_name_r(err, buf, len);
#ifdef __GLIBC__
  if (strncmp(buf, unknown, sizeof unknown - 1) == 0) {
    const char *name = strerrorname_np(-err);
    if (name) snprintf(buf, len, "%s", name);
  }
#else
  (void)unknown; /* musl has no strerrorname_np: libuv's names only */
#endif
}

/* See common.h; the code comes from errno_code. */
napi_value nw_napi_errno_error(napi_env env, int err, const char *syscall) {
  if (err > 0) err = -err;
  if (!syscall) syscall = "unknown";
  char code[64], msg[256];
  errno_code(err, code, sizeof code);
  snprintf(msg, sizeof msg, "%s %s", syscall, code);
  napi_value e = nw_napi_error(env, NW_ERROR, NULL, msg), v;
  if (!e || napi_create_int32(env, err, &v) != napi_ok ||
      napi_set_named_property(env, e, "errno", v) != napi_ok ||
      napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &v) != napi_ok ||
      napi_set_named_property(env, e, "code", v) != napi_ok ||
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v) != napi_ok ||
      napi_set_named_property(env, e, "syscall", v) != napi_ok)
    return NULL;
  return e;
}

/* When the error cannot be made, the Node-API failure is thrown instead. */
void nw_napi_throw_errno(napi_env env, int err, const char *syscall) {
  napi_value e = nw_napi_errno_error(env, err, syscall);
  if (e) napi_throw(env, e);
  else nw_napi_throw_last(env, napi_generic_failure);
}

/* ---- arguments ------------------------------------------------------------- */

void *nw_napi_unwrap(napi_env env, napi_value v, const napi_type_tag *tag,
                     const char *what) {
  napi_valuetype t = napi_undefined;
  bool tagged = false;
  void *p = NULL;
  if (v && napi_typeof(env, v, &t) == napi_ok &&
      (t == napi_external || t == napi_object) &&
      napi_check_object_type_tag(env, v, tag, &tagged) == napi_ok && tagged &&
      (t == napi_external ? napi_get_value_external(env, v, &p)
                          : napi_unwrap(env, v, &p)) == napi_ok &&
      p)
    return p;
  char msg[96];
  snprintf(msg, sizeof msg, "Expected %s", what);
  nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

/* The message names the expected type as Node's messages do ("a number"). */
bool nw_napi_check_type(napi_env env, napi_value v, napi_valuetype want,
                        const char *what) {
  static const char *const names[] = {
      [napi_undefined] = "undefined", [napi_null] = "null",
      [napi_boolean] = "a boolean",   [napi_number] = "a number",
      [napi_string] = "a string",     [napi_symbol] = "a symbol",
      [napi_object] = "an object",    [napi_function] = "a function",
      [napi_external] = "an external", [napi_bigint] = "a bigint",
  };
  napi_valuetype t = napi_undefined;
  if (v && napi_typeof(env, v, &t) == napi_ok && t == want) return true;
  char msg[160];
  snprintf(msg, sizeof msg, "%s must be %s", what,
           (size_t)want < NW_COUNT(names) && names[want] ? names[want] : "of another type");
  nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}

/* The getters of number and boolean arguments: the type first, so that a
 * wrong one throws ERR_INVALID_ARG_TYPE rather than a Node-API status. */
#define DEFINE_GETTER(name, ctype, type, get)                                 \
  bool name(napi_env env, napi_value v, const char *what, ctype *out) {       \
    return nw_napi_check_type(env, v, type, what) && get(env, v, out) == napi_ok; \
  }
DEFINE_GETTER(nw_napi_get_int32, int32_t, napi_number, napi_get_value_int32)
DEFINE_GETTER(nw_napi_get_uint32, uint32_t, napi_number, napi_get_value_uint32)
DEFINE_GETTER(nw_napi_get_double, double, napi_number, napi_get_value_double)
DEFINE_GETTER(nw_napi_get_bool, bool, napi_boolean, napi_get_value_bool)

/* Results of glue functions. */
napi_value nw_napi_int32(napi_env env, int32_t v) {
  napi_value out;
  NAPI_CALL(env, napi_create_int32(env, v, &out));
  return out;
}

napi_value nw_napi_bool(napi_env env, bool v) {
  napi_value out;
  NAPI_CALL(env, napi_get_boolean(env, v, &out));
  return out;
}

/* Any thread; no state. */
bool nw_napi_elem_type(napi_typedarray_type t, uint32_t *out) {
  switch (t) {
    case napi_int8_array: *out = NW_INT8; return true;
    case napi_uint8_array: *out = NW_UINT8; return true;
    case napi_uint8_clamped_array: *out = NW_UINT8_CLAMPED; return true;
    case napi_int16_array: *out = NW_INT16; return true;
    case napi_uint16_array: *out = NW_UINT16; return true;
    case napi_int32_array: *out = NW_INT32; return true;
    case napi_uint32_array: *out = NW_UINT32; return true;
    case napi_float32_array: *out = NW_FLOAT32; return true;
    case napi_float64_array: *out = NW_FLOAT64; return true;
    case napi_bigint64_array: *out = NW_BIGINT64; return true;
    case napi_biguint64_array: *out = NW_BIGUINT64; return true;
    default: return false;
  }
}

/* A detached buffer is a view of length 0 with data NULL. */
bool nw_napi_get_view(napi_env env, napi_value v, nw_napi_view_t *out) {
  bool is = false;
  memset(out, 0, sizeof *out);
  out->elem_type = NW_BYTES;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    size_t length;
    if (napi_get_typedarray_info(env, v, &out->type, &length, &out->data,
                                 &out->arraybuffer, &out->offset) != napi_ok)
      return false;
    nw_napi_elem_type(out->type, &out->elem_type);
    out->len = length * nw_elem_size(out->elem_type);
    out->kind = NW_VIEW_TYPED_ARRAY;
  } else if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    if (napi_get_dataview_info(env, v, &out->len, &out->data, &out->arraybuffer,
                               &out->offset) != napi_ok)
      return false;
    out->kind = NW_VIEW_DATA_VIEW;
  } else if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
    if (napi_get_arraybuffer_info(env, v, &out->data, &out->len) != napi_ok) return false;
    out->arraybuffer = v;
    out->kind = NW_VIEW_ARRAY_BUFFER;
  }
  return out->kind != NW_VIEW_NONE;
}

/* See common.h. */
bool nw_napi_get_bytes(napi_env env, napi_value v, void **data, size_t *len,
                       napi_value *arraybuffer) {
  nw_napi_view_t view;
  if (!nw_napi_get_view(env, v, &view)) {
    nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_TYPE",
                       "The argument must be a Buffer, TypedArray, DataView or ArrayBuffer");
    return false;
  }
  *data = view.data;
  *len = view.len;
  if (arraybuffer) *arraybuffer = view.arraybuffer;
  return true;
}

/* ---- calls into JavaScript -------------------------------------------------- */

napi_status nw_napi_callback_init(napi_env env, nw_napi_callback_t *cb,
                                  napi_value fn, napi_value resource,
                                  const char *name) {
  napi_value n;
  cb->fn = NULL;
  cb->actx = NULL;
  napi_status st = napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &n);
  if (st == napi_ok) st = napi_async_init(env, resource, n, &cb->actx);
  if (st == napi_ok) st = napi_create_reference(env, fn, 1, &cb->fn);
  if (st != napi_ok) nw_napi_callback_drop(env, cb);
  return st;
}

/* See common.h. */
void nw_napi_callback_drop(napi_env env, nw_napi_callback_t *cb) {
  nw_napi_drop_ref(env, &cb->fn);
  if (cb->actx) napi_async_destroy(env, cb->actx);
  cb->actx = NULL;
}

/* See common.h. */
void nw_napi_drop_ref(napi_env env, napi_ref *ref) {
  if (*ref) napi_delete_reference(env, *ref);
  *ref = NULL;
}

/* See common.h. */
void nw_napi_drop_hook(napi_async_cleanup_hook_handle *hook) {
  if (*hook) napi_remove_async_cleanup_hook(*hook);
  *hook = NULL;
}

/* A function that was collected (a weak holder let it go) counts as none.
 * The call runs inside a callback scope that this function opens and
 * closes itself (what napi_make_callback does in one step), so that an
 * exception is reported as uncaught while the scope is still open: the
 * function may itself run the nextTick queue (the worker_threads mirror
 * does between two messages), and a tick that throws there leaves its
 * async context pushed; Node's uncaught-exception handling clears that
 * stack, which closing the scope first would find corrupt. */
napi_status nw_napi_make_callback(napi_env env, const nw_napi_callback_t *cb,
                                  size_t argc, const napi_value *argv,
                                  napi_value *result) {
  napi_value f = NULL, recv, resource, out;
  napi_callback_scope scope;
  napi_status st = cb->fn ? napi_get_reference_value(env, cb->fn, &f) : napi_invalid_arg;
  if (st == napi_ok && !f) st = napi_invalid_arg; /* collected */
  if (st == napi_ok) st = napi_get_global(env, &recv);
  if (st == napi_ok) st = napi_create_object(env, &resource);
  if (st == napi_ok) st = napi_open_callback_scope(env, resource, cb->actx, &scope);
  if (st != napi_ok) return st;
  st = napi_call_function(env, recv, f, argc, argv, &out);
  if (st == napi_pending_exception) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok)
      napi_fatal_exception(env, exc);
  } else if (st == napi_ok && result) {
    *result = out;
  }
  napi_close_callback_scope(env, scope);
  return st;
}

/* ---- exports -------------------------------------------------------------------- */

napi_status nw_napi_export_fns(napi_env env, napi_value obj,
                               const nw_napi_fn_t *fns, size_t n) {
  for (size_t i = 0; i < n; i++) {
    napi_value fn;
    napi_status st = napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH,
                                          fns[i].cb, NULL, &fn);
    if (st == napi_ok) st = napi_set_named_property(env, obj, fns[i].name, fn);
    if (st != napi_ok) return st;
  }
  return napi_ok;
}

/* Constants are JavaScript numbers (exact up to 2^53). */
napi_status nw_napi_export_consts(napi_env env, napi_value obj,
                                  const nw_napi_const_t *consts, size_t n) {
  for (size_t i = 0; i < n; i++) {
    napi_value v;
    napi_status st = napi_create_int64(env, consts[i].value, &v);
    if (st == napi_ok) st = napi_set_named_property(env, obj, consts[i].name, v);
    if (st != napi_ok) return st;
  }
  return napi_ok;
}

static pthread_once_t pin_once = PTHREAD_ONCE_INIT;

/* dlopen of the library's own file, which never unloads: RTLD_NODELETE. */
static void pin_library(void) {
  Dl_info info;
  if (dladdr((void *)&nw_napi_pin_addon, &info) && info.dli_fname)
    (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE);
}

/* See common.h. */
void nw_napi_pin_addon(void) { pthread_once(&pin_once, pin_library); }
