/*
 * pool.h - a thread pool of its own for native kernels.
 *
 * The pool owns `threads` threads, a bounded FIFO queue of tasks and a list
 * of finished tasks. One thread (the owner: for the addon, the JavaScript
 * thread that made the pool) submits tasks and takes finished ones back;
 * pool threads run them. Finished tasks are handed back in batches: a pool
 * thread that finishes a task calls the owner's `notify` callback only when
 * the finished list was not already waiting to be drained, so one wakeup of
 * the owner's event loop may complete many tasks.
 *
 * Task memory belongs to the owner: it fills a task, gives it to
 * nw_pool_submit, and gets it back exactly once, either from nw_pool_drain
 * (finished, failed, cancelled or rejected by close) or from nw_pool_cancel
 * returning 1 (removed from the queue before it ran).
 *
 * Kernels are looked up by name in a per-pool registry (built-in tables and
 * libraries loaded with nw_pool_load). The registry only grows.
 *
 * Thread rules: every function is called by the owner thread except where
 * said; pool threads only run kernels and move tasks between lists.
 */
#ifndef NW_CORE_POOL_H
#define NW_CORE_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "native_workers.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NW_POOL_MAX_THREADS 256
#define NW_POOL_MAX_KERNELS 1024
#define NW_POOL_NAME_MAX 63

/* Task states (nw_task_t.state). */
enum {
  NW_TASK_NEW = 0,
  NW_TASK_QUEUED = 1,
  NW_TASK_RUNNING = 2,
  NW_TASK_DONE = 3
};

/* nw_task_t.status besides a kernel's own return value. */
#define NW_POOL_REJECTED (-10100) /* the pool closed before the task ran */
/* The kernel returned a Buffer result that is not inside the output the pool
 * allocated for it (an out_len past its size, or an out pointer of its
 * own). The task's failure says how, under this code; no output is kept. */
#define NW_POOL_BAD_OUTPUT (-10101)
#define NW_POOL_BAD_OUTPUT_CODE "ERR_KERNEL_INVALID_OUTPUT"

/* A task's side of nw_kernel_io_t: the input the owner fills in, and what
 * the kernel left in its io when it returned. The pool thread runs the
 * kernel on a zeroed nw_kernel_io_t of its own (the message buffers there
 * make it several times larger than a task needs to be) and moves these
 * fields between the two. */
typedef struct nw_task_io {
  uint32_t elem_type;     /* input: nw_elem_type_t */
  uint8_t *data;          /* input bytes */
  size_t len;
  uint32_t result;        /* output: nw_result_kind_t ... */
  void *out;              /* ... the output the pool allocated for the
                             kernel (nw_output), malloc'd, owned by the
                             task's owner; NULL when none */
  size_t out_len;         /* never more than was allocated at `out` (0
                             when `out` is NULL) */
  double number;
  uint64_t bigint_lo;
  int64_t bigint_hi;
} nw_task_io_t;

/* Why a kernel failed, when it said (nw_fail or io->errnum). */
typedef struct nw_task_failure {
  char error[sizeof(((nw_kernel_io_t *)0)->error)]; /* NUL-terminated */
  char code[sizeof(((nw_kernel_io_t *)0)->code)];   /* NUL-terminated */
  int32_t errnum;
} nw_task_failure_t;

typedef struct nw_task nw_task_t;
struct nw_task {
  /* Filled by the owner before nw_pool_submit; io.data/io.len/io.elem_type
   * describe the input. */
  uint32_t kernel;        /* index from nw_pool_find_kernel */
  uint64_t id;            /* the owner's name for it (nw_pool_cancel) */
  nw_task_io_t io;
  /* Set by the pool when the kernel failed and left a message, code or
   * errno; malloc'd, the owner frees it. */
  nw_task_failure_t *failure;
  /* When not NULL: input the owner leaves to the pool thread to copy (io.data
   * must then be NULL). Before the kernel runs, the thread copies io.len
   * bytes from here with nw_pool_copy_in into memory of its own (a buffer it
   * keeps between tasks, so the copy's pages are already mapped) and points
   * io.data at it; a failed copy fails the task instead of running the
   * kernel. After the kernel, io.data is NULL again, unless the kernel gave
   * its input back as the result (NW_RESULT_INPUT): then io.data is a
   * malloc'd buffer that the owner frees, and `owned` says so. */
  const void *src;
  bool owned;

  /* Written by the pool. */
  uint32_t cancel;        /* atomic; nonzero once cancelled */
  int state;              /* under the pool lock */
  int status;             /* kernel result, NW_CANCELLED or NW_POOL_REJECTED */
  int64_t t_submit, t_start, t_end; /* nw_now_ns() (core/clock.h) */
  nw_task_t *prev, *next; /* queue / finished list links, under the lock */
};

/* A log-linear histogram of durations in nanoseconds: 16 sub-buckets per
 * power of two, from 1 ns to about 2^47 ns (39 hours). */
#define NW_HIST_SUB 16
#define NW_HIST_BUCKETS (48 * NW_HIST_SUB)
typedef struct nw_hist {
  uint64_t count;
  uint64_t counts[NW_HIST_BUCKETS];
  int64_t min, max;
  double sum;
} nw_hist_t;

void nw_hist_record(nw_hist_t *h, int64_t ns);
/* The smallest recorded value bound v with at least p (0..1) of the values
 * <= v, to within 1/16 of v; 0 when empty. */
double nw_hist_percentile(const nw_hist_t *h, double p);

typedef struct nw_pool_stats {
  uint32_t threads;
  uint64_t queued, running, completed, failed, cancelled;
  nw_hist_t run_time, wait_time; /* ns */
  int64_t busy_ns;               /* sum of kernel run times */
  int64_t elapsed_ns;            /* since the pool started */
  double utilization;            /* busy / (threads * elapsed), 0..1 */
} nw_pool_stats_t;

typedef struct nw_pool_options {
  uint32_t threads;       /* 1..NW_POOL_MAX_THREADS */
  uint64_t max_queue;     /* queued tasks allowed; 0 means no limit */
  /* Called by a pool thread (or by nw_pool_close/destroy on the owner
   * thread) when finished tasks are waiting and no notification is pending.
   * It must not call back into the pool; it only wakes the owner. */
  void (*notify)(void *arg);
  void *notify_arg;
  size_t stack_size;      /* 0: the default */
  /* How long a thread that runs out of work keeps looking at the queue
   * (yielding the CPU between looks) before it sleeps: a task submitted in
   * that window starts without a wakeup, which on a VM costs tens of
   * microseconds. 0: sleep at once. */
  int64_t spin_ns;
} nw_pool_options_t;

typedef struct nw_pool nw_pool_t;

/* Start a pool and its threads. On success *out owns them. Returns 0,
 * -EINVAL or the error of thread creation (no thread is left behind). */
int nw_pool_create(nw_pool_t **out, const nw_pool_options_t *opt);

/* Add kernels under their names. Returns 0, -EEXIST when a name is taken
 * (then nothing is added; *clash names it when not NULL), -EINVAL for a bad
 * name or table, -ENOSPC past NW_POOL_MAX_KERNELS. Owner thread only. */
int nw_pool_add_kernels(nw_pool_t *p, const nw_kernel_table_t *t,
                        const char **clash);

/* Open a kernel library with dlopen and add its table. Returns the number of
 * kernels added (>= 0) or a negative errno; `err` receives a message.
 * -ENOENT: the file does not exist; -ENOEXEC: dlopen refused it (not a
 * shared object, missing symbols); -ENOSYS: no nw_kernels symbol;
 * -EPROTO: a table of another ABI version or malformed; -EEXIST: a kernel
 * name clashes with one the pool has. On failure the library is closed. */
int nw_pool_load(nw_pool_t *p, const char *path, char *err, size_t errlen);

/* Index of the kernel named `name`, or -ENOENT. */
int nw_pool_find_kernel(const nw_pool_t *p, const char *name);
uint32_t nw_pool_kernel_count(const nw_pool_t *p);
const char *nw_pool_kernel_name(const nw_pool_t *p, uint32_t i);

/* Queue a task. Returns 0 (the pool owns the task until it hands it back),
 * -EAGAIN when max_queue tasks are already queued, -ESHUTDOWN once closed,
 * -EINVAL for a bad kernel index. */
int nw_pool_submit(nw_pool_t *p, nw_task_t *t);

/* Queue n tasks under one lock, waking at most one idle thread per task.
 * Returns how many were queued, from the front (0..n); when fewer than n,
 * *err receives the reason for the rest (-EAGAIN, -ESHUTDOWN, -EINVAL). */
int nw_pool_submit_batch(nw_pool_t *p, nw_task_t *const *tasks, int n,
                         int *err);

/* Cancel the task with this id that the owner submitted and has not taken
 * back yet. A queued task is removed and returned to the owner at once:
 * *out receives it and the call returns 1; it will not appear in
 * nw_pool_drain. A running task gets its cancel flag set (the kernel may
 * poll it) and comes back through nw_pool_drain: returns 0. A finished or
 * unknown task: returns 0. The search is linear in the queue length. */
int nw_pool_cancel(nw_pool_t *p, uint64_t id, nw_task_t **out);

/* Take every finished task, oldest first, as a list linked by `next`
 * (NULL when none). Clears the pending notification, so the next finished
 * task notifies again. */
nw_task_t *nw_pool_drain(nw_pool_t *p);

/* Number of tasks submitted and not yet handed back to the owner. */
uint64_t nw_pool_in_flight(const nw_pool_t *p);

/* Graceful close: no new tasks; queued tasks finish at once with status
 * NW_POOL_REJECTED (through nw_pool_drain); running tasks run to the end.
 * Threads exit once idle. Does not block. Idempotent. */
void nw_pool_close(nw_pool_t *p);

/* Close as nw_pool_close does and also set the cancel flag of every running
 * task, so that kernels that poll it stop early. Does not block. */
void nw_pool_abort(nw_pool_t *p);

/* Close, set the cancel flag of every running task, and join the threads.
 * Blocks until the running kernels return. Idempotent. Afterwards only
 * nw_pool_drain, nw_pool_stats and nw_pool_free may be called. */
void nw_pool_destroy(nw_pool_t *p);

/* nw_pool_destroy with a time limit: close, set the cancel flag of every
 * running task, and wait up to timeout_ns for the threads to exit. Returns
 * 0 once they are joined (the pool is then destroyed), or -ETIMEDOUT while
 * some kernel still runs (then the pool is closed and aborted, and may be
 * waited for again, destroyed or abandoned). Owner thread. */
int nw_pool_join_within(nw_pool_t *p, int64_t timeout_ns);

/* True when pred(task, arg) is true for a task that runs right now. pred
 * runs under the pool lock and must only read the task. Owner thread. */
bool nw_pool_any_running(nw_pool_t *p, bool (*pred)(const nw_task_t *, void *),
                         void *arg);

/* Give up on a pool whose kernels do not stop (after nw_pool_join_within
 * timed out), for an owner that goes away: a kernel that ignores its
 * cancel flag must not hold its owner's thread forever. Owner thread; the
 * pool must be closed (nw_pool_join_within did that).
 *
 * Every task still running is passed to detach(task, arg) now, on this
 * thread under the pool lock (to drop what of the owner it holds), and
 * handed to release(task) on its pool thread once its kernel returns:
 * everything the kernel may touch (the task, its input and output) must
 * stay valid until then, so only tasks whose memory is the owner's heap,
 * not memory that dies with the owner, may be abandoned. The threads are
 * detached; the last to exit frees the pool, its registry and the
 * libraries it loaded (which the kernels ran from). Returns the tasks that
 * had finished and were not drained yet (the owner frees them as after
 * nw_pool_drain). Afterwards the owner must not touch the pool, and the
 * notify callback is never called again (nor running when this returns). */
nw_task_t *nw_pool_abandon(nw_pool_t *p, void (*detach)(nw_task_t *, void *),
                           void *arg, void (*release)(nw_task_t *));

/* True once every pool thread has exited (after close, when idle). */
bool nw_pool_threads_done(nw_pool_t *p);

/* Free a destroyed pool, its kernel registry and the libraries it loaded.
 * The owner must have drained it (tasks still listed are not freed). */
void nw_pool_free(nw_pool_t *p);

void nw_pool_stats(nw_pool_t *p, nw_pool_stats_t *out);

/* Copy len bytes from src to dst without faulting: memory at src that is no
 * longer mapped (freed by another thread while a task waited) makes the copy
 * fail with -EFAULT rather than kill the process. Returns 0 or a negative
 * errno; -ENOSYS where the system offers no such copy (see
 * nw_pool_copy_in_available). Any thread. */
int nw_pool_copy_in(void *dst, const void *src, size_t len);

/* True when nw_pool_copy_in works in this process (a seccomp filter may
 * forbid the system call it uses). Checked once, then cached. */
bool nw_pool_copy_in_available(void);

/* How a task's input reaches its kernel (nw_pool_input_plan). */
typedef enum nw_pool_input_plan {
  NW_POOL_INPUT_IN_PLACE = 0,   /* io.data is the caller's memory */
  NW_POOL_INPUT_COPY_LATER = 1, /* src: the pool thread copies it
                                   (nw_task_t.src) just before the kernel */
  NW_POOL_INPUT_COPY_NOW = 2    /* the owner copies it before submitting */
} nw_pool_input_plan_t;

/* Inputs of at least this many bytes that must be copied are copied by the
 * pool thread that runs the task, not by the owner: on the event loop a
 * 1 MiB copy costs a few hundred microseconds, and many at once block it
 * for milliseconds. Smaller ones cost less than the hand-over. */
#define NW_POOL_COPY_LATER_MIN ((size_t)64 * 1024)

/* The policy: an input of `len` bytes whose memory is `stable` (stays the
 * input's for the task's whole life: shared memory, which cannot be
 * detached, or a buffer nobody else holds) is used in place, and so is an
 * empty one. Any other may be detached or reused by its owner while the
 * task waits, so it is copied: by the pool thread when it is at least
 * NW_POOL_COPY_LATER_MIN bytes and nw_pool_copy_in works in this process,
 * else by the owner at submission. Any thread. */
nw_pool_input_plan_t nw_pool_input_plan(size_t len, bool stable);

#ifdef __cplusplus
}
#endif

#endif
