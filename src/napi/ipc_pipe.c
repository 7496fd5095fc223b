/*
 * Node-API glue of Node's own IPC pipe ('ipc' in the stdio of spawn,
 * lib/internal/node_ipc.js). Node's peer attaches handle descriptors to the
 * bytes of their messages (SCM_RIGHTS), which read(2) would drop and
 * write(2) cannot send; both directions go through src/core/fdpass.h. The
 * reader hands JavaScript the bytes and the descriptors together; plain
 * writes stay with a net.Socket on the original descriptor (the reader
 * polls a duplicate of it), and a message with a handle goes out through
 * ipcSendWithFd.
 *
 *   ipcReaderStart(fd, cb(buffer | null, fds, errno)) -> reader
 *     cb(buffer, [fd...], 0) per read; cb(null, [], 0) at end of file;
 *     cb(null, [], -errno) on an error. Reading stops after either.
 *   ipcReaderRef(reader, bool)   whether it keeps the loop alive (default yes)
 *   ipcReaderDrain(reader)       read what the pipe holds now
 *   ipcReaderClose(reader)       stop and close the duplicate
 *   ipcSendWithFd(sock, buffer, fd) -> bytes sent | -errno
 *
 * Lifetime: the reader struct is shared by the wrapper object and the open
 * uv_poll_t; each holds one reference and the last one frees. Everything
 * runs on the JavaScript thread that started it.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "core/fdpass.h"
#include "napi/common.h"
#include "napi/parts.h"

#define READ_SIZE 65536
/* Reads per wakeup before the loop gets a turn for other work. */
#define READS_PER_WAKE 16

static const napi_type_tag reader_tag = {0x6e7769706372640aULL,
                                         0x51c2d3e4f5a6b7c8ULL};

typedef struct ipc_reader {
  napi_env env;
  uv_poll_t poll;
  int fd;              /* our duplicate; -1 once closed */
  bool poll_open;      /* uv_poll_init done, uv_close not yet called */
  int refs;            /* wrapper + open poll handle */
  nw_napi_callback_t callback; /* cb(buffer | null, fds, errno) */
  napi_async_cleanup_hook_handle cleanup;
  char buf[READ_SIZE];
} ipc_reader_t;

/* JS thread. Drop one of the reader's holders; the last one frees it. */
static void reader_unref(ipc_reader_t *r) {
  if (--r->refs > 0) return;
  free(r);
}

/* JS thread (libuv's close callback): close our duplicate of the pipe and
 * let go of the poll's reference. */
static void poll_closed(uv_handle_t *h) {
  ipc_reader_t *r = h->data;
  if (r->fd >= 0) close(r->fd);
  r->fd = -1;
  nw_napi_drop_hook(&r->cleanup);
  reader_unref(r);
}

/* Stop reading and close; safe to call more than once. */
static void reader_close(ipc_reader_t *r) {
  nw_napi_callback_drop(r->env, &r->callback);
  if (r->poll_open) {
    r->poll_open = false;
    uv_poll_stop(&r->poll);
    uv_close((uv_handle_t *)&r->poll, poll_closed);
  }
}

/* The environment is going away: close the poll; poll_closed removes
 * this hook once libuv is done with the handle. */
static void env_cleanup(napi_async_cleanup_hook_handle hook, void *arg) {
  ipc_reader_t *r = arg;
  if (r->poll_open) {
    r->poll_open = false;
    uv_poll_stop(&r->poll);
    uv_close((uv_handle_t *)&r->poll, poll_closed);
  }
}

/* JS thread: the reader object was collected. */
static void wrapper_finalize(napi_env env, void *data, void *hint) {
  ipc_reader_t *r = data;
  reader_close(r);
  reader_unref(r);
}

/* Loop thread. Call the JavaScript callback with (buffer|null, fds, err).
 * The descriptors become JavaScript's once it is called; when it cannot be,
 * they are closed here rather than leaked. */
static void deliver(ipc_reader_t *r, long n, const int *fds, int nfds) {
  napi_env env = r->env;
  napi_handle_scope scope;
  napi_status st = napi_open_handle_scope(env, &scope);
  if (st == napi_ok) {
    napi_value argv[3];
    void *data;
    st = r->callback.fn ? napi_ok : napi_invalid_arg;
    if (st == napi_ok)
      st = n > 0 ? napi_create_buffer_copy(env, (size_t)n, r->buf, &data, &argv[0])
                 : napi_get_null(env, &argv[0]);
    if (st == napi_ok) st = napi_create_array_with_length(env, (size_t)nfds, &argv[1]);
    for (int i = 0; st == napi_ok && i < nfds; i++) {
      napi_value v;
      st = napi_create_int32(env, fds[i], &v);
      if (st == napi_ok) st = napi_set_element(env, argv[1], (uint32_t)i, v);
    }
    if (st == napi_ok) st = napi_create_int32(env, n < 0 ? (int32_t)n : 0, &argv[2]);
    if (st == napi_ok) st = nw_napi_make_callback(env, &r->callback, 3, argv, NULL);
    napi_close_handle_scope(env, scope);
  }
  if (st != napi_ok && st != napi_pending_exception)
    for (int i = 0; i < nfds; i++) close(fds[i]);
}

/* Read and deliver up to `reads` chunks, until the pipe is empty, at its
 * end, or fails. */
static void read_some(ipc_reader_t *r, int status, int reads) {
  for (int i = 0; i < reads && r->poll_open; i++) {
    int fds[NW_FDPASS_MAX];
    int nfds = 0;
    long n = status < 0 ? status : nw_fdpass_recv(r->fd, r->buf, READ_SIZE, fds, NW_FDPASS_MAX, &nfds);
    if (n == -EAGAIN) return;
    if (n <= 0) uv_poll_stop(&r->poll); /* end of file or an error: no more reads */
    deliver(r, n, fds, nfds);
    if (n <= 0) return;
  }
}

/* JS thread (libuv): the pipe is readable, hung up or failed. */
static void on_poll(uv_poll_t *p, int status, int events) {
  read_some(p->data, status, READS_PER_WAKE);
}

/* The reader `v`, or NULL after throwing ERR_INVALID_ARG_TYPE. */
static ipc_reader_t *get_reader(napi_env env, napi_value v) {
  return nw_napi_unwrap(env, v, &reader_tag, "an IPC reader");
}

/* ipcReaderStart(fd, callback) -> reader. Reads a duplicate of `fd`
 * (the caller keeps its own) with a poll on this thread's loop, which
 * keeps the loop alive until ipcReaderRef(reader, false). Throws
 * ERR_INVALID_ARG_TYPE, or the system error of fcntl / uv_poll_init /
 * uv_poll_start. */
static napi_value reader_start_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(2);
  int32_t fd = -1;
  if (!nw_napi_get_int32(env, argv[0], "fd", &fd) ||
      !nw_napi_check_type(env, argv[1], napi_function, "callback"))
    return NULL;
  if (fd < 0) {
    nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_TYPE",
                       "ipcReaderStart expects a descriptor and a function");
    return NULL;
  }
  int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (dup_fd < 0) {
    nw_napi_throw_errno(env, -errno, "fcntl");
    return NULL;
  }
  ipc_reader_t *r = calloc(1, sizeof *r);
  if (!r) {
    close(dup_fd);
    nw_napi_throw_errno(env, -ENOMEM, "ipcReaderStart");
    return NULL;
  }
  r->env = env;
  r->fd = dup_fd;
  r->refs = 1;
  uv_loop_t *loop;
  int rc = napi_get_uv_event_loop(env, &loop) == napi_ok ? uv_poll_init(loop, &r->poll, dup_fd) : -EINVAL;
  if (rc) {
    close(dup_fd);
    free(r);
    nw_napi_throw_errno(env, rc, "uv_poll_init");
    return NULL;
  }
  r->poll.data = r;
  r->poll_open = true;
  r->refs++;
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok ||
      napi_type_tag_object(env, obj, &reader_tag) != napi_ok ||
      nw_napi_callback_init(env, &r->callback, argv[1], obj, "native-workers.ipc") != napi_ok ||
      napi_wrap(env, obj, r, wrapper_finalize, NULL, NULL) != napi_ok) {
    reader_close(r);
    reader_unref(r);
    nw_napi_throw_last(env, napi_generic_failure);
    return NULL;
  }
  napi_add_async_cleanup_hook(env, env_cleanup, r, &r->cleanup);
  rc = uv_poll_start(&r->poll, UV_READABLE | UV_DISCONNECT, on_poll);
  if (rc) {
    reader_close(r);
    nw_napi_throw_errno(env, rc, "uv_poll_start");
    return NULL;
  }
  return obj;
}

/* ipcReaderRef(reader, ref = true): whether the reader keeps the loop
 * alive. Returns undefined. */
static napi_value reader_ref_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(2, ipc_reader_t, r, get_reader);
  bool on = true;
  if (argc >= 2 && !nw_napi_get_bool(env, argv[1], "ref", &on)) return NULL;
  if (r->poll_open) {
    if (on) uv_ref((uv_handle_t *)&r->poll);
    else uv_unref((uv_handle_t *)&r->poll);
  }
  return NULL;
}

/* ipcReaderClose(reader): stop reading and close the duplicate; the
 * callback is not called again. Idempotent; returns undefined. */
static napi_value reader_close_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(1, ipc_reader_t, r, get_reader);
  reader_close(r);
  return NULL;
}

/* ipcReaderDrain(reader): read what the pipe holds now, without waiting
 * for the loop's poll; the callback gets it (and end of file) at once.
 * The parent calls it when the child's exit is reported: the kernel has
 * closed the child's end by then, but the loop may not have seen it. */
static napi_value reader_drain_fn(napi_env env, napi_callback_info info) {
  NW_ARGV_HANDLE(1, ipc_reader_t, r, get_reader);
  read_some(r, 0, INT_MAX);
  return NULL;
}

/* ipcSendWithFd(sock, buffer, fd) -> the bytes sent, or a negative errno
 * (-EAGAIN: the socket is full and nothing went; the caller retries when
 * it drains): one non-blocking sendmsg of `buffer` with `fd` attached, as
 * Node's peer expects a handle message on the pipe. The caller keeps
 * `fd`. */
static napi_value ipc_send_with_fd_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(3);
  int32_t sock = -1, fd = -1;
  NW_NEED_ARGS(3, "ipcSendWithFd needs 3 arguments");
  if (!nw_napi_get_int32(env, argv[0], "sock", &sock) ||
      !nw_napi_get_int32(env, argv[2], "fd", &fd))
    return NULL;
  bool is_buf = false;
  NAPI_CALL(env, napi_is_buffer(env, argv[1], &is_buf));
  if (!is_buf) {
    nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_TYPE", "expected a Buffer");
    return NULL;
  }
  void *data = NULL;
  size_t len = 0;
  NAPI_CALL(env, napi_get_buffer_info(env, argv[1], &data, &len));
  long n = nw_fdpass_send(sock, data, len, fd);
  napi_value out;
  NAPI_CALL(env, napi_create_int64(env, n, &out));
  return out;
}

/* See parts.h. */
napi_value nw_ipc_pipe_init_napi(napi_env env, napi_value exports) {
  static const nw_napi_fn_t fns[] = {
      {"ipcReaderStart", reader_start_fn}, {"ipcReaderRef", reader_ref_fn},
      {"ipcReaderDrain", reader_drain_fn}, {"ipcReaderClose", reader_close_fn},
      {"ipcSendWithFd", ipc_send_with_fd_fn},
  };
  NAPI_CALL(env, nw_napi_export_fns(env, exports, fns, NW_COUNT(fns)));
  return exports;
}
