/*
 * bytes.c - the two byte-view primitives JavaScript lacks, used by the ring,
 * the fork channel, the worker_threads lanes and ThreadPool:
 *
 *   bytesCopy(target, targetOffset, source, sourceOffset, length)
 *   isDetached(value) -> boolean
 *   bytesDiscard(view) -> number
 *
 * JavaScript thread; no state.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "napi/common.h"
#include "napi/parts.h"

/*
 * bytesCopy(target, targetOffset, source, sourceOffset, length): memmove
 * between two views (typed arrays, DataViews or ArrayBuffers; they may
 * overlap). V8 copies into and out of SharedArrayBuffer memory with relaxed
 * atomic moves, a few times slower than memcpy, so the channels copy large
 * payloads through here. Returns undefined; throws ERR_MISSING_ARGS,
 * ERR_INVALID_ARG_TYPE or ERR_OUT_OF_RANGE (the range does not fit a view).
 */
static napi_value bytes_copy_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(5);
  NW_NEED_ARGS(5, "bytesCopy takes five arguments");
  void *dst, *src;
  size_t dst_len, src_len;
  uint32_t dst_off = 0, src_off = 0, len = 0;
  if (!nw_napi_get_bytes(env, argv[0], &dst, &dst_len, NULL) ||
      !nw_napi_get_bytes(env, argv[2], &src, &src_len, NULL) ||
      !nw_napi_get_uint32(env, argv[1], "targetOffset", &dst_off) ||
      !nw_napi_get_uint32(env, argv[3], "sourceOffset", &src_off) ||
      !nw_napi_get_uint32(env, argv[4], "length", &len))
    return NULL;
  if ((size_t)dst_off + len > dst_len || (size_t)src_off + len > src_len) {
    nw_napi_throw_code(env, NW_RANGE_ERROR, "ERR_OUT_OF_RANGE", "copy out of bounds");
    return NULL;
  }
  if (len) memmove((uint8_t *)dst + dst_off, (uint8_t *)src + src_off, len);
  return NULL;
}

/* isDetached(value) -> true when `value` is an ArrayBuffer that was
 * detached (transferred); false for anything else. Never throws for a bad
 * argument. */
static napi_value is_detached_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(1);
  bool is_ab = false, detached = false;
  NAPI_CALL(env, napi_is_arraybuffer(env, argv[0], &is_ab));
  if (is_ab) NAPI_CALL(env, napi_is_detached_arraybuffer(env, argv[0], &detached));
  return nw_napi_bool(env, detached);
}

/*
 * bytesDiscard(view) -> bytes given back. Hands the whole pages inside the
 * view back to the kernel (MADV_DONTNEED): they stop counting in RSS and
 * read as zeros when next touched. For memory the caller alone uses and is
 * about to reuse (the channel memory of a Worker that has exited): the
 * allocator that owns it keeps it, but no longer resident. The partial
 * pages at either end are left as they are. Throws ERR_INVALID_ARG_TYPE
 * for anything but a view or ArrayBuffer.
 */
static napi_value bytes_discard_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(1);
  void *data;
  size_t len;
  if (!nw_napi_get_bytes(env, argv[0], &data, &len, NULL)) return NULL;
  long page = sysconf(_SC_PAGESIZE);
  if (page <= 0) page = 4096;
  uintptr_t start = ((uintptr_t)data + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
  uintptr_t end = ((uintptr_t)data + len) & ~((uintptr_t)page - 1);
  double given = 0;
  if (len != 0 && end > start && madvise((void *)start, end - start, MADV_DONTNEED) == 0)
    given = (double)(end - start);
  napi_value out;
  NAPI_CALL(env, napi_create_double(env, given, &out));
  return out;
}

/* See parts.h. */
napi_value nw_bytes_init_napi(napi_env env, napi_value exports) {
  static const nw_napi_fn_t fns[] = {
      {"bytesCopy", bytes_copy_fn},
      {"isDetached", is_detached_fn},
      {"bytesDiscard", bytes_discard_fn},
  };
  NAPI_CALL(env, nw_napi_export_fns(env, exports, fns, NW_COUNT(fns)));
  return exports;
}
