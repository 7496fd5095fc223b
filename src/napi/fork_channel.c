/*
 * Node-API glue of the fork channel (src/core/fork_channel.h), used by
 * lib/internal/channel.js on both sides of fork().
 *
 * The rings are read and written from JavaScript with Atomics on an
 * external ArrayBuffer over the shared mapping (a call into the addon per
 * message would cost more than the copy). This file provides what
 * JavaScript cannot do itself: creating and attaching the sealed memfd, the
 * socketpair (wakeup bytes, SCM_RIGHTS descriptors, the peer's hang-up) and
 * the event-loop side: a uv_poll_t on the socket that calls back into
 * JavaScript when the peer wakes this side or goes away.
 *
 * Lifetime: a channel_handle_t is shared by the wrapper object, every
 * external ArrayBuffer over its mapping and the uv_poll_t while open; each
 * holds one reference and the last one unmaps and frees. Everything runs on
 * the JavaScript thread that created the handle.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/fork_channel.h"
#include "napi/common.h"
#include "napi/parts.h"

static const napi_type_tag channel_tag = {0x6e7763686e6c6862ULL,
                                          0x9a41c3d2e5f60718ULL};

typedef struct channel_handle {
  nw_fork_channel_t ch;
  napi_env env;
  uv_poll_t poll;
  bool poll_init;      /* uv_poll_init done and uv_close not yet called */
  bool polling;        /* uv_poll_start active */
  bool refed;          /* the poll handle keeps the loop alive */
  bool closed;         /* channelClose ran (or the env is going away) */
  int refs;            /* wrapper + ArrayBuffers + open poll handle */
  nw_napi_callback_t callback; /* function(eof) called on wakeups, from
                                  channelStart */
  napi_async_cleanup_hook_handle cleanup;
} channel_handle_t;

/* JS thread. Drop one of the handle's holders (see the lifetime note at
 * the top); the last one closes, unmaps and frees. */
static void handle_unref(channel_handle_t *h) {
  if (--h->refs > 0) return;
  nw_fork_channel_close(&h->ch);
  nw_fork_channel_unmap(&h->ch);
  free(h);
}

/* JS thread (libuv's close callback): the poll handle is done; it held
 * one reference. */
static void poll_closed(uv_handle_t *uvh) {
  channel_handle_t *h = uvh->data;
  nw_napi_drop_hook(&h->cleanup);
  handle_unref(h);
}

/* Stop polling and close the socket; the mapping stays while JavaScript
 * holds views of it. JS thread; idempotent. */
static void handle_close(channel_handle_t *h) {
  if (h->closed) return;
  h->closed = true;
  nw_napi_callback_drop(h->env, &h->callback);
  if (h->poll_init) {
    h->poll_init = false;
    h->polling = false;
    uv_close((uv_handle_t *)&h->poll, poll_closed);
  } else {
    nw_napi_drop_hook(&h->cleanup);
  }
  nw_fork_channel_close(&h->ch);
}

/* The environment is going away (a worker thread terminating, or the main
 * thread exiting): close the poll handle so the loop can finish. */
static void env_cleanup(napi_async_cleanup_hook_handle hook, void *arg) {
  channel_handle_t *h = arg;
  if (h->closed && !h->poll_init) return;
  handle_close(h);
}

/* JS thread: the handle object was collected. */
static void wrapper_finalize(napi_env env, void *data, void *hint) {
  channel_handle_t *h = data;
  handle_close(h);
  handle_unref(h);
}

/* JS thread: an ArrayBuffer over the mapping was collected (`hint` is
 * the handle). */
static void buffer_finalize(napi_env env, void *data, void *hint) {
  handle_unref(hint);
}

/* Runs on the loop when the socket is readable (wakeup bytes or
 * descriptors) or the peer hung up. Drains the socket, then tells JS. */
static void on_poll(uv_poll_t *p, int status, int events) {
  channel_handle_t *h = p->data;
  if (h->closed) return;
  if (status < 0) h->ch.eof = true;
  else nw_fork_channel_drain_socket(&h->ch);
  bool eof = h->ch.eof;
  if (eof && h->polling) {
    uv_poll_stop(&h->poll);
    h->polling = false;
  }
  napi_env env = h->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value arg;
  if (napi_get_boolean(env, eof, &arg) == napi_ok)
    nw_napi_make_callback(env, &h->callback, 1, &arg, NULL);
  napi_close_handle_scope(env, scope);
}

/* The channel handle `v`; with `open`, one not yet closed. NULL after
 * throwing ERR_INVALID_ARG_TYPE or ERR_IPC_CHANNEL_CLOSED. */
static channel_handle_t *get_handle(napi_env env, napi_value v, bool open) {
  channel_handle_t *h = nw_napi_unwrap(env, v, &channel_tag, "a channel handle");
  if (h && open && h->closed) {
    nw_napi_throw_code(env, NW_ERROR, "ERR_IPC_CHANNEL_CLOSED", "Channel closed");
    return NULL;
  }
  return h;
}

/* The two getters NW_ARGV_HANDLE takes: any handle, or an open one. */
static channel_handle_t *any_handle(napi_env env, napi_value v) {
  return get_handle(env, v, false);
}
static channel_handle_t *open_handle(napi_env env, napi_value v) {
  return get_handle(env, v, true);
}

/* Wrap a freshly created or attached channel; on failure frees it. */
static napi_value wrap(napi_env env, channel_handle_t *h) {
  h->env = env;
  h->refs = 1;
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok ||
      napi_type_tag_object(env, obj, &channel_tag) != napi_ok ||
      napi_wrap(env, obj, h, wrapper_finalize, NULL, NULL) != napi_ok) {
    nw_fork_channel_close(&h->ch);
    nw_fork_channel_unmap(&h->ch);
    free(h);
    nw_napi_throw_last(env, napi_generic_failure);
    return NULL;
  }
  napi_add_async_cleanup_hook(env, env_cleanup, h, &h->cleanup);
  return obj;
}

/* channelCreate(capacity[, start]) -> { handle, sock }. `sock` is the
 * child's end of the socketpair (the memfd is already queued on it); the
 * caller closes it once the child is started. `start`: both rings begin at
 * that position (the package's tests of the 2^31 boundary). */
static napi_value channel_create_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(2);
  int32_t cap = 0; /* none given: the -EINVAL of a bad capacity */
  uint32_t start = 0;
  bool has_start = false;
  if (argc > 0 && !nw_napi_get_int32(env, argv[0], "capacity", &cap)) return NULL;
  if (argc > 1) {
    napi_valuetype t;
    NAPI_CALL(env, napi_typeof(env, argv[1], &t));
    if (t != napi_undefined) {
      if (t != napi_number || napi_get_value_uint32(env, argv[1], &start) != napi_ok) {
        nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_TYPE",
                           "The \"start\" argument must be of type number");
        return NULL;
      }
      has_start = true;
    }
  }
  channel_handle_t *h = calloc(1, sizeof *h);
  if (!h) {
    nw_napi_throw_errno(env, -ENOMEM, "calloc");
    return NULL;
  }
  int sock = -1;
  int rc = cap > 0 ? nw_fork_channel_create_for_child(&h->ch, (uint32_t)cap, &sock) : -EINVAL;
  if (rc == 0 && has_start) {
    /* Nobody else maps the region yet: the child is not started. */
    nw_ring_start_at(&h->ch.out, start);
    nw_ring_start_at(&h->ch.in, start);
  }
  if (rc) {
    free(h);
    nw_napi_throw_errno(env, rc, "memfd_create");
    return NULL;
  }
  napi_value obj = wrap(env, h);
  if (!obj) {
    close(sock);
    return NULL;
  }
  napi_value out, v;
  NAPI_CALL(env, napi_create_object(env, &out));
  NAPI_CALL(env, napi_set_named_property(env, out, "handle", obj));
  NAPI_CALL(env, napi_create_int32(env, sock, &v));
  NAPI_CALL(env, napi_set_named_property(env, out, "sock", v));
  return out;
}

/* channelOpen(memfd, sock, side) -> handle. Takes ownership of `sock`
 * on success; `memfd` stays the caller's. Throws ERR_INVALID_ARG_VALUE when
 * the descriptors do not hold a channel. */
static napi_value channel_open_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(3);
  NW_NEED_ARGS(3, "channelOpen needs 3 arguments");
  int32_t memfd = -1, sock = -1, side = -1;
  if (!nw_napi_get_int32(env, argv[0], "memfd", &memfd) ||
      !nw_napi_get_int32(env, argv[1], "sock", &sock) ||
      !nw_napi_get_int32(env, argv[2], "side", &side))
    return NULL;
  channel_handle_t *h = calloc(1, sizeof *h);
  if (!h) {
    nw_napi_throw_errno(env, -ENOMEM, "calloc");
    return NULL;
  }
  int rc = nw_fork_channel_attach(&h->ch, memfd, sock, side);
  if (rc) {
    free(h);
    if (rc == -EINVAL || rc == -EBADF) {
      nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_VALUE",
                         "The descriptors do not hold a native-workers channel");
    } else {
      nw_napi_throw_errno(env, rc, "mmap");
    }
    return NULL;
  }
  return wrap(env, h);
}

/* channelInfo(handle) -> { buffer, ring0, ring1, ringSize, side }: an
 * ArrayBuffer over the whole shared mapping, and where the rings are. */
static napi_value channel_info_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(1, channel_handle_t, h, open_handle);
  napi_value ab, out, v;
  NAPI_CALL(env, napi_create_external_arraybuffer(env, h->ch.mem, h->ch.size,
                                                  buffer_finalize, h, &ab));
  h->refs++;
  NAPI_CALL(env, napi_create_object(env, &out));
  NAPI_CALL(env, napi_set_named_property(env, out, "buffer", ab));
#define PUT(name, val)                                                        \
  NAPI_CALL(env, napi_create_uint32(env, (uint32_t)(val), &v));               \
  NAPI_CALL(env, napi_set_named_property(env, out, name, v))
  PUT("ring0", h->ch.hdr[NW_FCW_RING0]);
  PUT("ring1", h->ch.hdr[NW_FCW_RING1]);
  PUT("ringSize", h->ch.hdr[NW_FCW_RING_SIZE]);
  PUT("side", h->ch.side);
#undef PUT
  return out;
}

/* channelStart(handle, callback): poll the socket on this thread's loop;
 * callback(eof) runs whenever the peer wakes this side or hangs up. The
 * poll starts unreferenced (see channelRef). */
static napi_value channel_start_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(2, channel_handle_t, h, open_handle);
  if (!nw_napi_check_type(env, argv[1], napi_function, "callback")) return NULL;
  if (h->poll_init) return NULL;
  uv_loop_t *loop;
  NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
  int rc = uv_poll_init_socket(loop, &h->poll, h->ch.sock);
  if (rc) {
    nw_napi_throw_errno(env, rc, "uv_poll_init");
    return NULL;
  }
  NAPI_CALL(env, nw_napi_callback_init(env, &h->callback, argv[1], argv[0],
                                       "native-workers.channel"));
  h->poll.data = h;
  h->poll_init = true;
  h->refs++;
  uv_unref((uv_handle_t *)&h->poll);
  h->refed = false;
  rc = uv_poll_start(&h->poll, UV_READABLE | UV_DISCONNECT, on_poll);
  if (rc) {
    handle_close(h);
    nw_napi_throw_errno(env, rc, "uv_poll_start");
    return NULL;
  }
  h->polling = true;
  return NULL;
}

/* channelRef(handle, bool): whether the channel keeps the loop alive. */
static napi_value channel_ref_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(2, channel_handle_t, h, any_handle);
  bool want = false;
  if (!nw_napi_get_bool(env, argv[1], "ref", &want)) return NULL;
  if (!h->poll_init || want == h->refed) return NULL;
  if (want) uv_ref((uv_handle_t *)&h->poll);
  else uv_unref((uv_handle_t *)&h->poll);
  h->refed = want;
  return NULL;
}

/* channelKick(handle) -> 0 or negative errno: one wakeup byte. JS calls it
 * only after clearing the peer's sleep flag. */
static napi_value channel_kick_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(1, channel_handle_t, h, any_handle);
  return nw_napi_int32(env, h->closed ? -EPIPE : nw_fork_channel_kick(&h->ch));
}

/* channelSameCpu(handle) -> boolean: publish this side's CPU in the
 * header and say whether the peer last ran on the same one (see
 * nw_fork_channel_same_cpu). False on a closed handle. */
static napi_value channel_same_cpu_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(1, channel_handle_t, h, any_handle);
  return nw_napi_bool(env, !h->closed && nw_fork_channel_same_cpu(&h->ch));
}

/* channelYield(): sched_yield(2), so that a peer waiting for this CPU
 * (channelSameCpu said it shares it) runs now. Returns at once when no
 * other task is runnable here. */
static napi_value channel_yield_fn(napi_env env, napi_callback_info info) {
  sched_yield();
  return NULL;
}

/* channelCpuCount() -> how many CPUs this thread may run on (its
 * affinity mask); 0 if the kernel does not say. */
static napi_value channel_cpu_count_fn(napi_env env, napi_callback_info info) {
  cpu_set_t set;
  int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
  return nw_napi_int32(env, n);
}

/* channelSendFd(handle, fd): duplicate `fd` to the peer (SCM_RIGHTS). */
static napi_value channel_send_fd_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(2, channel_handle_t, h, open_handle);
  int32_t fd = -1;
  if (!nw_napi_get_int32(env, argv[1], "fd", &fd)) return NULL;
  int rc = nw_fork_channel_send_fd(&h->ch, fd);
  if (rc) nw_napi_throw_errno(env, rc, "sendmsg");
  return NULL;
}

/* channelTakeFd(handle) -> the oldest received descriptor, or a negative
 * errno (-EAGAIN none yet, -EPIPE none can come). */
static napi_value channel_take_fd_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(1, channel_handle_t, h, any_handle);
  return nw_napi_int32(env, h->closed ? -EPIPE : nw_fork_channel_take_fd(&h->ch));
}

/* channelRecvFd(sock, timeoutMs) -> the descriptor the channel's creator
 * sent first on `sock` (the memfd), or a negative errno. */
static napi_value channel_recv_fd_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(2);
  int32_t sock = -1, timeout = -1;
  NW_NEED_ARGS(2, "channelRecvFd needs 2 arguments");
  if (!nw_napi_get_int32(env, argv[0], "sock", &sock) ||
      !nw_napi_get_int32(env, argv[1], "timeout", &timeout))
    return NULL;
  return nw_napi_int32(env, nw_fork_channel_recv_fd_raw(sock, timeout));
}

/* channelHungUp(handle) -> boolean: read the socket now, without waiting
 * for the loop's poll, and say whether the peer has hung up. The parent
 * asks when the child's exit is reported, so that the channel's end is
 * seen first, as the kernel closes the child's descriptors before it
 * reports the exit. */
static napi_value channel_hung_up_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(1, channel_handle_t, h, any_handle);
  if (!h->closed && !h->ch.eof) nw_fork_channel_drain_socket(&h->ch);
  return nw_napi_bool(env, h->closed || h->ch.eof);
}

/* channelClose(handle): stop polling; the peer reads end-of-file. */
static napi_value channel_close_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(1, channel_handle_t, h, any_handle);
  handle_close(h);
  return NULL;
}

/* See parts.h. */
napi_value nw_fork_channel_init_napi(napi_env env, napi_value exports) {
  static const nw_napi_fn_t fns[] = {
      {"channelCreate", channel_create_fn}, {"channelOpen", channel_open_fn},
      {"channelInfo", channel_info_fn},     {"channelStart", channel_start_fn},
      {"channelRef", channel_ref_fn},       {"channelKick", channel_kick_fn},
      {"channelSendFd", channel_send_fd_fn}, {"channelTakeFd", channel_take_fd_fn},
      {"channelClose", channel_close_fn},   {"channelRecvFd", channel_recv_fd_fn},
      {"channelHungUp", channel_hung_up_fn}, {"channelSameCpu", channel_same_cpu_fn},
      {"channelYield", channel_yield_fn},   {"channelCpuCount", channel_cpu_count_fn},
  };
  static const nw_napi_const_t consts[] = {
      {"CHANNEL_DEFAULT_CAPACITY", NW_FORK_CHANNEL_DEFAULT_CAPACITY},
      {"CHANNEL_SLEEP0_RD", NW_FCW_SLEEP0_RD},
      {"CHANNEL_SLEEP0_WR", NW_FCW_SLEEP0_WR},
      {"CHANNEL_SLEEP1_RD", NW_FCW_SLEEP1_RD},
      {"CHANNEL_SLEEP1_WR", NW_FCW_SLEEP1_WR},
      {"CHANNEL_CPU0", NW_FCW_CPU0},
      {"CHANNEL_CPU1", NW_FCW_CPU1},
  };
  NAPI_CALL(env, nw_napi_export_fns(env, exports, fns, NW_COUNT(fns)));
  NAPI_CALL(env, nw_napi_export_consts(env, exports, consts, NW_COUNT(consts)));
  return exports;
}
