/*
 * Node-API glue of the process spawn (lib/internal/child_process.js).
 *
 *   spawn(opts, onexit) -> handle (throws the system error of "spawn")
 *       opts: { file, args, envPairs, cwd, fds, detached, uid, gid, helper }
 *       `fds[i]` is a parent descriptor for child descriptor i, or one of
 *       the NW_SPAWN_FD_* values (exported as constants). The handle watches
 *       the child's pidfd with a uv_poll_t on this thread's loop and calls
 *       onexit(exitCode, termSignal) once, after reaping.
 *   processPid(h), processKill(h, sig) -> 0 | -errno, processRef(h),
 *   processUnref(h), processHasRef(h)
 *   spawnSync(opts) -> { pid, status, signal, error, output }
 *       opts as above plus { input, timeout, killSignal, maxBuffer }; blocks
 *       the calling thread as Node's spawnSync does.
 *   socketpair() -> [fd, fd] (both O_CLOEXEC), closeFd(fd)
 *
 * Lifetimes. A proc_t is shared by the JS handle object (an external) and
 * by its uv_poll_t while the child runs; it is freed when both let go. Once
 * the child is reaped the poll is closed and the JS callback reference
 * dropped. When the environment goes away (a worker thread terminates) with
 * children still running, an async cleanup hook closes the poll and hands
 * each pidfd to a detached thread that waits for the child and reaps it, so
 * no zombie is left behind and nothing touches the dead environment.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/spawn.h"
#include "napi/common.h"
#include "napi/parts.h"

static const napi_type_tag proc_tag = {0x6e7770726f636573ULL,
                                       0x8a1d5e0c44b7f291ULL};

typedef struct proc {
  napi_env env;
  nw_child_t child;
  uv_poll_t poll;
  nw_napi_callback_t onexit;  /* until the exit is delivered */
  napi_async_cleanup_hook_handle hook;
  int owners;                 /* JS external + active poll */
  int polling;                /* the poll is initialised and not yet closed */
  int exited;
} proc_t;

/* JS thread. Drop one of the proc's holders (the External, the open
 * poll); the last one frees it. */
static void proc_release(proc_t *p) {
  if (--p->owners == 0) free(p);
}

/* JS thread. Leave a child nobody here will watch to a reaper thread (see
 * nw_spawn_reap_detached); the poll on its pidfd must be stopped first, as
 * the reaper closes that descriptor. */
static void hand_to_reaper(nw_child_t *child) {
  /* The reaper thread runs code of this library and may outlive the
   * environment that loaded it. */
  nw_napi_pin_addon();
  nw_spawn_reap_detached(child);
}

/* JS thread (libuv's close callback): the poll is done with the proc. */
static void poll_closed(uv_handle_t *h) {
  proc_t *p = h->data;
  nw_napi_drop_hook(&p->hook);
  proc_release(p);
}

/* Stop watching the child. JS thread. */
static void proc_stop(proc_t *p) {
  if (!p->polling) return;
  p->polling = 0;
  uv_poll_stop(&p->poll);
  uv_close((uv_handle_t *)&p->poll, poll_closed);
}

/* JS thread. Let go of the exit callback; no JavaScript is called after. */
static void proc_drop_js(proc_t *p) {
  nw_napi_callback_drop(p->env, &p->onexit);
}

/* The environment is being torn down with the child still running. JS
 * thread. */
static void proc_cleanup_hook(napi_async_cleanup_hook_handle handle, void *arg) {
  proc_t *p = arg;
  proc_drop_js(p);
  bool polling = p->polling;
  proc_stop(p); /* poll_closed removes the hook */
  if (!p->exited) hand_to_reaper(&p->child);
  if (!polling) {
    napi_remove_async_cleanup_hook(handle);
    p->hook = NULL;
  }
}

/* libuv: the pidfd is readable, so the child has exited. JS thread. */
static void on_pidfd(uv_poll_t *h, int status, int events) {
  proc_t *p = h->data;
  int code = -1, sig = 0;
  int r = nw_spawn_reap(&p->child, 0, &code, &sig);
  if (r == -EAGAIN) return;
  p->exited = 1;
  nw_spawn_close(&p->child);
  proc_stop(p);

  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value argv[2];
  /* libuv's convention, which Node's onexit expects: the exit status is 0
   * when a signal ended the child, negative only for an error. */
  if (napi_create_int32(env, r != 0 ? r : sig ? 0 : code, &argv[0]) == napi_ok &&
      napi_create_int32(env, sig, &argv[1]) == napi_ok)
    nw_napi_make_callback(env, &p->onexit, 2, argv, NULL);
  proc_drop_js(p);
  napi_close_handle_scope(env, scope);
}

/* JS thread: the handle External was collected. */
static void proc_finalize(napi_env env, void *data, void *hint) {
  proc_release(data);
}

/* The process handle `v`, or NULL after throwing ERR_INVALID_ARG_TYPE. */
static proc_t *get_proc(napi_env env, napi_value v) {
  return nw_napi_unwrap(env, v, &proc_tag, "a process handle");
}

/* ---- option unwrapping --------------------------------------------------- */

static void free_strv(char **v) {
  for (size_t i = 0; v && v[i]; i++) free(v[i]);
  free(v);
}

/* A malloc'd copy of string `v` (the caller frees it), or NULL. */
static char *get_string(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (!s) return NULL;
  if (napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) {
    free(s);
    return NULL;
  }
  return s;
}

/* A named string property, or NULL when it is undefined/null. Sets *bad on
 * a value that is not a string. */
static char *get_prop_string(napi_env env, napi_value obj, const char *name,
                             bool *bad) {
  napi_value v;
  napi_valuetype t;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok ||
      napi_typeof(env, v, &t) != napi_ok) {
    *bad = true;
    return NULL;
  }
  if (t == napi_undefined || t == napi_null) return NULL;
  if (t != napi_string) {
    *bad = true;
    return NULL;
  }
  char *s = get_string(env, v);
  if (!s) *bad = true;
  return s;
}

/* A NULL-terminated malloc'd copy of the array of strings obj[name] (free
 * with free_strv); NULL with *bad set when it is not one. */
static char **get_prop_strv(napi_env env, napi_value obj, const char *name,
                            bool *bad) {
  napi_value arr, el;
  bool is = false;
  uint32_t n = 0;
  if (napi_get_named_property(env, obj, name, &arr) != napi_ok ||
      napi_is_array(env, arr, &is) != napi_ok || !is ||
      napi_get_array_length(env, arr, &n) != napi_ok) {
    *bad = true;
    return NULL;
  }
  char **v = calloc((size_t)n + 1, sizeof *v);
  if (!v) {
    *bad = true;
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_valuetype t;
    if (napi_get_element(env, arr, i, &el) != napi_ok ||
        napi_typeof(env, el, &t) != napi_ok || t != napi_string ||
        !(v[i] = get_string(env, el))) {
      free_strv(v);
      *bad = true;
      return NULL;
    }
  }
  return v;
}

/* obj[name] as an integer: *present says whether it was given (not
 * undefined or null). False when it is not a number. */
static bool get_prop_int64(napi_env env, napi_value obj, const char *name,
                           int64_t *out, bool *present) {
  napi_value v;
  napi_valuetype t;
  *present = false;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok ||
      napi_typeof(env, v, &t) != napi_ok)
    return false;
  if (t == napi_undefined || t == napi_null) return true;
  if (t != napi_number) return false;
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (d != d) return false;
  *out = d > 9e18 ? INT64_MAX : d < -9e18 ? INT64_MIN : (int64_t)d;
  *present = true;
  return true;
}

typedef struct spawn_args {
  nw_spawn_options_t o;
  char **argv, **envp;
  char *file, *cwd, *helper;
  int *fds;
} spawn_args_t;

/* Free what get_spawn_args copied. */
static void spawn_args_free(spawn_args_t *a) {
  free_strv(a->argv);
  free_strv(a->envp);
  free(a->file);
  free(a->cwd);
  free(a->helper);
  free(a->fds);
}

/* Unwrap the options object built by lib/internal/child_process.js (it has
 * validated everything users can pass; this only guards the native side).
 * Returns false with an exception pending. */
static bool get_spawn_args(napi_env env, napi_value obj, spawn_args_t *a) {
  bool bad = false, present, is;
  memset(a, 0, sizeof *a);
  napi_valuetype t;
  if (napi_typeof(env, obj, &t) != napi_ok || t != napi_object) goto bad;
  a->file = get_prop_string(env, obj, "file", &bad);
  if (bad || !a->file) goto bad;
  a->argv = get_prop_strv(env, obj, "args", &bad);
  if (bad || !a->argv[0]) goto bad;
  napi_value ev;
  if (napi_get_named_property(env, obj, "envPairs", &ev) != napi_ok ||
      napi_typeof(env, ev, &t) != napi_ok)
    goto bad;
  if (t != napi_undefined) {
    a->envp = get_prop_strv(env, obj, "envPairs", &bad);
    if (bad) goto bad;
  }
  a->cwd = get_prop_string(env, obj, "cwd", &bad);
  if (bad) goto bad;
  a->helper = get_prop_string(env, obj, "helper", &bad);
  if (bad) goto bad;

  napi_value fa;
  uint32_t n = 0;
  if (napi_get_named_property(env, obj, "fds", &fa) != napi_ok ||
      napi_is_array(env, fa, &is) != napi_ok || !is ||
      napi_get_array_length(env, fa, &n) != napi_ok || n > NW_SPAWN_MAX_FDS)
    goto bad;
  a->fds = malloc(sizeof *a->fds * (n ? n : 1));
  if (!a->fds) goto bad;
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    int32_t fd;
    if (napi_get_element(env, fa, i, &el) != napi_ok ||
        napi_get_value_int32(env, el, &fd) != napi_ok || fd < NW_SPAWN_FD_PIPE)
      goto bad;
    a->fds[i] = fd;
  }

  int64_t v;
  unsigned flags = NW_SPAWN_SEARCH_PATH | NW_SPAWN_CLOSEFROM;
  napi_value dv;
  bool detached = false;
  if (napi_get_named_property(env, obj, "detached", &dv) != napi_ok) goto bad;
  napi_get_value_bool(env, dv, &detached);
  if (detached) flags |= NW_SPAWN_SETSID;
  if (!get_prop_int64(env, obj, "uid", &v, &present)) goto bad;
  if (present) {
    if (v < 0 || v > UINT32_MAX) goto bad;
    flags |= NW_SPAWN_SETUID;
    a->o.uid = (uid_t)v;
  }
  if (!get_prop_int64(env, obj, "gid", &v, &present)) goto bad;
  if (present) {
    if (v < 0 || v > UINT32_MAX) goto bad;
    flags |= NW_SPAWN_SETGID;
    a->o.gid = (gid_t)v;
  }

  a->o.file = a->file;
  a->o.argv = a->argv;
  a->o.envp = a->envp;
  a->o.cwd = a->cwd;
  a->o.fds = a->fds;
  a->o.nfds = (int)n;
  a->o.flags = flags;
  a->o.helper = a->helper;
  return true;
bad:
  spawn_args_free(a);
  memset(a, 0, sizeof *a);
  nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_VALUE",
                     "invalid native spawn options");
  return false;
}

/* ---- exported functions -------------------------------------------------- */

/*
 * spawn(options, onexit) -> handle (a tagged External). Starts the child
 * (nw_spawn) and watches its pidfd on this thread's loop; onexit(exitCode,
 * termSignal) runs once, after the child is reaped. Throws
 * ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE for bad arguments, and the
 * system error of "spawn" (errno: the child's exec error, -ENOENT,
 * -EACCES, ..., or a resource error of the parent) when no child started:
 * lib/internal/child_process.js turns that back into ProcessWrap's errno
 * return. Once a child runs it is never left unwatched: when the handle
 * cannot be made it is handed to a reaper and the call throws.
 */
static napi_value spawn_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(2);
  napi_value out = NULL;
  if (!nw_napi_check_type(env, argv[1], napi_function, "onexit")) return NULL;
  spawn_args_t a;
  if (!get_spawn_args(env, argv[0], &a)) return NULL;

  uv_loop_t *loop = NULL;
  proc_t *p = calloc(1, sizeof *p);
  if (!p) {
    spawn_args_free(&a);
    nw_napi_throw_errno(env, -ENOMEM, "spawn");
    return NULL;
  }
  p->env = env;
  p->child.pidfd = -1;
  int rc = nw_spawn(&a.o, &p->child);
  spawn_args_free(&a);
  if (rc) {
    free(p);
    nw_napi_throw_errno(env, rc, "spawn");
    return NULL;
  }

  /* From here the child runs: every failure below still watches it (or
   * hands it to the reaper) so it is never left a zombie. */
  p->owners = 1;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok ||
      uv_poll_init(loop, &p->poll, p->child.pidfd) != 0) {
    hand_to_reaper(&p->child);
    free(p);
    nw_napi_throw_errno(env, -EIO, "uv_poll_init");
    return NULL;
  }
  p->poll.data = p;
  p->polling = 1;
  p->owners = 2;
  uv_poll_start(&p->poll, UV_READABLE, on_pidfd);
  if (nw_napi_callback_init(env, &p->onexit, argv[1], NULL, "NW_PROCESS") != napi_ok ||
      napi_add_async_cleanup_hook(env, proc_cleanup_hook, p, &p->hook) != napi_ok ||
      napi_create_external(env, p, proc_finalize, NULL, &out) != napi_ok ||
      napi_type_tag_object(env, out, &proc_tag) != napi_ok) {
    /* Keep reaping natively; JS will not hear about this child. */
    proc_drop_js(p);
    proc_stop(p);
    hand_to_reaper(&p->child);
    p->exited = 1;
    nw_napi_drop_hook(&p->hook);
    if (!out) proc_release(p); /* the external never took its share */
    nw_napi_throw_last(env, napi_generic_failure);
    return NULL;
  }
  return out;
}

/* The process handle in the first argument of a call, and with `extra`
 * the number in its second; NULL after throwing ERR_INVALID_ARG_TYPE. */
static proc_t *proc_arg(napi_env env, napi_callback_info info, int32_t *extra) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    nw_napi_throw_last(env, napi_generic_failure);
    return NULL;
  }
  proc_t *p = get_proc(env, argc >= 1 ? argv[0] : NULL);
  if (p && extra && !nw_napi_get_int32(env, argc >= 2 ? argv[1] : NULL, "signal", extra))
    return NULL;
  return p;
}

/* processPid(handle) -> the child's pid. */
static napi_value pid_fn(napi_env env, napi_callback_info info) {
  proc_t *p = proc_arg(env, info, NULL);
  if (!p) return NULL;
  return nw_napi_int32(env, p->child.pid);
}

/* processKill(handle, signal) -> 0 or a negative errno, as Node's
 * ProcessWrap.kill returns it (-ESRCH once the child is gone, -EINVAL for
 * a bad signal): the caller branches on it. */
static napi_value kill_fn(napi_env env, napi_callback_info info) {
  int32_t sig = 0;
  proc_t *p = proc_arg(env, info, &sig);
  if (!p) return NULL;
  int rc = p->exited || p->child.pidfd < 0 ? -ESRCH : nw_spawn_kill(&p->child, sig);
  return nw_napi_int32(env, rc);
}

/* processRef(handle) / processUnref(handle): whether watching the child
 * keeps the loop alive. Return undefined. */
static napi_value ref_fn(napi_env env, napi_callback_info info) {
  proc_t *p = proc_arg(env, info, NULL);
  if (!p) return NULL;
  if (p->polling) uv_ref((uv_handle_t *)&p->poll);
  return NULL;
}

static napi_value unref_fn(napi_env env, napi_callback_info info) {
  proc_t *p = proc_arg(env, info, NULL);
  if (!p) return NULL;
  if (p->polling) uv_unref((uv_handle_t *)&p->poll);
  return NULL;
}

/* processHasRef(handle) -> boolean. */
static napi_value has_ref_fn(napi_env env, napi_callback_info info) {
  proc_t *p = proc_arg(env, info, NULL);
  if (!p) return NULL;
  return nw_napi_bool(env, p->polling && uv_has_ref((uv_handle_t *)&p->poll));
}

/* socketpair() -> [fd, fd]: an O_CLOEXEC unix stream socketpair, the
 * caller's to close. Throws the system error of socketpair. */
static napi_value socketpair_fn(napi_env env, napi_callback_info info) {
  int fds[2];
  int rc = nw_spawn_socketpair(fds);
  if (rc) {
    nw_napi_throw_errno(env, rc, "socketpair");
    return NULL;
  }
  napi_value arr, v;
  if (napi_create_array_with_length(env, 2, &arr) != napi_ok ||
      napi_create_int32(env, fds[0], &v) != napi_ok ||
      napi_set_element(env, arr, 0, v) != napi_ok ||
      napi_create_int32(env, fds[1], &v) != napi_ok ||
      napi_set_element(env, arr, 1, v) != napi_ok) {
    close(fds[0]);
    close(fds[1]);
    nw_napi_throw_last(env, napi_generic_failure);
    return NULL;
  }
  return arr;
}

/* closeFd(fd): close a descriptor the addon handed out. Throws
 * ERR_INVALID_ARG_TYPE for a non-number or negative fd; returns
 * undefined. */
static napi_value close_fd_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(1);
  int32_t fd = -1;
  if (!nw_napi_get_int32(env, argv[0], "fd", &fd)) return NULL;
  if (fd < 0) {
    nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_TYPE", "expected a descriptor");
    return NULL;
  }
  close(fd);
  return NULL;
}

/* Finalizer of a large output Buffer: the runner's malloc'd memory. */
static void free_output(napi_env env, void *data, void *hint) { free(data); }

/* spawnSync(options) -> { pid, status, signal, error, output }. Blocks
 * the calling thread until the child is reaped (as Node's spawnSync does).
 * `error` is 0 or the negative errno of how the run ended (a failed
 * start, -ETIMEDOUT, -ENOBUFS): a result, not a throw, because Node puts
 * it on the result too. Throws ERR_INVALID_ARG_* for bad options, and the
 * system error of spawnSync when nothing could be set up. */
static napi_value spawn_sync_fn(napi_env env, napi_callback_info info) {
  NW_ARGV(1);
  if (argc < 1) {
    nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_TYPE", "expected options");
    return NULL;
  }
  spawn_args_t a;
  if (!get_spawn_args(env, argv[0], &a)) return NULL;
  nw_spawn_sync_options_t so;
  memset(&so, 0, sizeof so);
  so.spawn = a.o;
  int64_t v;
  bool present, ok = true;
  ok = ok && get_prop_int64(env, argv[0], "timeout", &v, &present);
  if (ok && present) so.timeout_ms = v;
  ok = ok && get_prop_int64(env, argv[0], "killSignal", &v, &present);
  so.kill_signal = SIGTERM;
  if (ok && present) so.kill_signal = (v >= 0 && v < NSIG) ? (int)v : -1;
  ok = ok && get_prop_int64(env, argv[0], "maxBuffer", &v, &present);
  if (ok && present && v > 0) so.max_buffer = (size_t)v;
  napi_value in;
  napi_valuetype t;
  if (ok && napi_get_named_property(env, argv[0], "input", &in) == napi_ok &&
      napi_typeof(env, in, &t) == napi_ok && t != napi_undefined && t != napi_null) {
    void *data;
    size_t len;
    if (!nw_napi_get_bytes(env, in, &data, &len, NULL)) {
      spawn_args_free(&a);
      return NULL;
    }
    so.input = data;
    so.input_len = len;
  }
  if (!ok || so.kill_signal < 0) {
    spawn_args_free(&a);
    nw_napi_throw_code(env, NW_TYPE_ERROR, "ERR_INVALID_ARG_VALUE", "invalid native spawn options");
    return NULL;
  }

  nw_spawn_sync_result_t r;
  int rc = nw_spawn_sync(&so, &r);
  spawn_args_free(&a);
  if (rc) {
    nw_spawn_sync_free(&r);
    nw_napi_throw_errno(env, rc, "spawnSync");
    return NULL;
  }
  napi_value obj = NULL, val, arr;
  napi_status st = napi_create_object(env, &obj);
#define SET_INT(name, x)                                                      \
  if (st == napi_ok) st = napi_create_int32(env, (x), &val);                  \
  if (st == napi_ok) st = napi_set_named_property(env, obj, name, val)
  SET_INT("pid", r.pid);
  SET_INT("status", r.exit_code);
  SET_INT("signal", r.term_signal);
  SET_INT("error", r.error);
#undef SET_INT
  if (st == napi_ok) st = napi_create_array_with_length(env, (size_t)r.nfds, &arr);
  for (int i = 0; st == napi_ok && i < r.nfds; i++) {
    if (!r.out[i].data) {
      st = napi_get_null(env, &val);
    } else {
      /* Small outputs are copied into a V8 buffer; large ones go over
       * without a copy, trimmed first (the runner grows in 64 KiB steps). */
      size_t len = r.out[i].len;
      if (len <= 65536) {
        void *unused;
        st = napi_create_buffer_copy(env, len, r.out[i].data, &unused, &val);
      } else {
        char *trim = realloc(r.out[i].data, len);
        if (trim) r.out[i].data = trim;
        st = napi_create_external_buffer(env, len, r.out[i].data, free_output,
                                         NULL, &val);
        if (st == napi_ok) r.out[i].data = NULL;
      }
    }
    if (st == napi_ok) st = napi_set_element(env, arr, (uint32_t)i, val);
  }
  if (st == napi_ok) st = napi_set_named_property(env, obj, "output", arr);
  nw_spawn_sync_free(&r);
  NAPI_CALL(env, st);
  return obj;
}

/* See parts.h. */
napi_value nw_spawn_init_napi(napi_env env, napi_value exports) {
  static const nw_napi_const_t fd_kinds[] = {
      {"FD_INHERIT", NW_SPAWN_FD_INHERIT},
      {"FD_CLOSE", NW_SPAWN_FD_CLOSE},
      {"FD_DEVNULL", NW_SPAWN_FD_DEVNULL},
      {"FD_PIPE", NW_SPAWN_FD_PIPE},
  };
  static const nw_napi_fn_t fns[] = {
      {"spawn", spawn_fn},          {"spawnSync", spawn_sync_fn},
      {"processPid", pid_fn},       {"processKill", kill_fn},
      {"processRef", ref_fn},       {"processUnref", unref_fn},
      {"processHasRef", has_ref_fn}, {"socketpair", socketpair_fn},
      {"closeFd", close_fd_fn},
  };
  napi_value c;
  NAPI_CALL(env, napi_create_object(env, &c));
  NAPI_CALL(env, nw_napi_export_consts(env, c, fd_kinds, NW_COUNT(fd_kinds)));
  NAPI_CALL(env, napi_set_named_property(env, exports, "spawnConstants", c));
  NAPI_CALL(env, nw_napi_export_fns(env, exports, fns, NW_COUNT(fns)));
  return exports;
}
