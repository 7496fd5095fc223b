/*
 * Module entry point and the helpers every glue file uses.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "napi/common.h"

const char *nw_errno_name(int err) {
  const char *name = strerrorname_np(err < 0 ? -err : err);
  return name ? name : "UNKNOWN";
}

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

static napi_value make_error(napi_env env, const char *kind, const char *code,
                             const char *msg) {
  napi_value c = NULL, m = NULL, e = NULL;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m) != napi_ok)
    return NULL;
  if (code && napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c) != napi_ok)
    return NULL;
  napi_status st;
  if (kind && strcmp(kind, "RangeError") == 0)
    st = napi_create_range_error(env, c, m, &e);
  else if (kind && strcmp(kind, "TypeError") == 0)
    st = napi_create_type_error(env, c, m, &e);
  else
    st = napi_create_error(env, c, m, &e);
  return st == napi_ok ? e : NULL;
}

void nw_napi_throw_code(napi_env env, const char *kind, const char *code,
                        const char *msg) {
  napi_value e = make_error(env, kind, code, msg);
  if (e) napi_throw(env, e);
}

napi_value nw_napi_errno_error(napi_env env, int err, const char *syscall) {
  if (err > 0) err = -err;
  char msg[256];
  snprintf(msg, sizeof msg, "%s %s (%s)", syscall ? syscall : "call",
           nw_errno_name(err), strerror(-err));
  napi_value e = make_error(env, NULL, nw_errno_name(err), msg);
  if (!e) return NULL;
  napi_value v;
  if (napi_create_int32(env, err, &v) == napi_ok)
    napi_set_named_property(env, e, "errno", v);
  if (syscall &&
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, e, "syscall", v);
  return e;
}

void nw_napi_throw_errno(napi_env env, int err, const char *syscall) {
  napi_value e = nw_napi_errno_error(env, err, syscall);
  if (e) napi_throw(env, e);
}

napi_status nw_napi_export_fn(napi_env env, napi_value obj, const char *name,
                              napi_callback cb, void *data) {
  napi_value fn;
  napi_status st = napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, data, &fn);
  if (st != napi_ok) return st;
  return napi_set_named_property(env, obj, name, fn);
}

napi_status nw_napi_export_fns(napi_env env, napi_value obj,
                               const nw_napi_fn_t *fns, size_t n) {
  for (size_t i = 0; i < n; i++) {
    napi_status st = nw_napi_export_fn(env, obj, fns[i].name, fns[i].cb, NULL);
    if (st != napi_ok) return st;
  }
  return napi_ok;
}

napi_status nw_napi_export_u32(napi_env env, napi_value obj, const char *name,
                               uint32_t value) {
  napi_value v;
  napi_status st = napi_create_uint32(env, value, &v);
  if (st != napi_ok) return st;
  return napi_set_named_property(env, obj, name, v);
}

bool nw_napi_get_bytes(napi_env env, napi_value v, void **data, size_t *len,
                       napi_value *arraybuffer) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length, offset;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &type, &length, data, &ab, &offset) != napi_ok)
      goto bad;
    size_t elem = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: elem = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
      default: elem = 1;
    }
    *len = length * elem;
    if (arraybuffer) *arraybuffer = ab;
    return true;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    napi_value ab;
    size_t offset;
    if (napi_get_dataview_info(env, v, len, data, &ab, &offset) != napi_ok) goto bad;
    if (arraybuffer) *arraybuffer = ab;
    return true;
  }
  if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
    if (napi_get_arraybuffer_info(env, v, data, len) != napi_ok) goto bad;
    if (arraybuffer) *arraybuffer = v;
    return true;
  }
bad:
  nw_napi_throw_code(env, "TypeError", "ERR_INVALID_ARG_TYPE",
                     "The argument must be a Buffer, TypedArray, DataView or ArrayBuffer");
  return false;
}

/* isDetached(arrayBuffer) -> boolean */
static napi_value is_detached_fn(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool is_ab = false, detached = false;
  NAPI_CALL(env, napi_is_arraybuffer(env, argv[0], &is_ab));
  if (is_ab) NAPI_CALL(env, napi_is_detached_arraybuffer(env, argv[0], &detached));
  napi_value out;
  NAPI_CALL(env, napi_get_boolean(env, detached, &out));
  return out;
}

/* yieldThread(): give the core to another thread (spin loops in JS). */
static napi_value yield_fn(napi_env env, napi_callback_info info) {
  sched_yield();
  return NULL;
}

static void env_free(napi_env env, void *data, void *hint) { free(data); }

nw_env_t *nw_env_get(napi_env env) {
  void *p = NULL;
  if (napi_get_instance_data(env, &p) != napi_ok) return NULL;
  return p;
}

NAPI_MODULE_INIT() {
  nw_env_t *state = calloc(1, sizeof *state);
  if (!state || napi_set_instance_data(env, state, env_free, NULL) != napi_ok) {
    free(state);
    napi_throw_error(env, "ERR_NATIVE_WORKERS_INIT", "cannot allocate addon state");
    return NULL;
  }
  if (nw_napi_export_fn(env, exports, "isDetached", is_detached_fn, NULL) != napi_ok ||
      nw_napi_export_fn(env, exports, "yieldThread", yield_fn, NULL) != napi_ok)
    return NULL;
  if (!nw_ring_init_napi(env, exports)) return NULL;
  if (!nw_pool_init_napi(env, exports)) return NULL;
  if (!nw_channel_init_napi(env, exports)) return NULL;
  if (!nw_ipc_pipe_init_napi(env, exports)) return NULL;
  if (!nw_spawn_init_napi(env, exports)) return NULL;
  if (!nw_worker_init_napi(env, exports)) return NULL;
  if (!nw_testing_init_napi(env, exports)) return NULL;
  return exports;
}
