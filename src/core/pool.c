/*
 * pool.c - threads, the task queue, cancellation, batched completion and
 * statistics of ThreadPool (see pool.h for the contract).
 *
 * One mutex guards the queue, the finished list, the counters and the
 * histograms. A pool thread holds it only to take a task and to hand one
 * back, never while a kernel runs. Each idle thread sleeps on a condition
 * variable of its own, and the idle threads form a stack: a submission wakes
 * the thread that went idle last (its cache and CPU are the warmest), and
 * only as many threads as there are queued tasks no woken thread will take,
 * so a burst of submissions costs one wakeup per idle thread. (One shared
 * condition variable with several waiters makes glibc's signal slower, and
 * wakes threads in no useful order.)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* process_vm_readv */
#endif
#include "core/pool.h"

#include "core/clock.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

typedef struct kernel_entry {
  char name[NW_POOL_NAME_MAX + 1];
  nw_kernel_fn fn;
} kernel_entry_t;

typedef struct worker {
  pthread_cond_t cond;      /* this thread sleeps here when idle */
  bool wake;                /* under the pool lock: set by the waker */
} worker_t;

typedef struct library {
  void *handle;
  struct library *next;
} library_t;

struct nw_pool {
  /* Fixed after create. */
  uint32_t nthreads;
  uint64_t max_queue;
  void (*notify)(void *);
  void *notify_arg;
  pthread_t *threads;
  int64_t t_created;
  void (*release)(nw_task_t *); /* set once by nw_pool_abandon */
  int64_t spin_ns;

  /* Owner thread only. The registry grows by appending into an array that
   * never moves; a pool thread reads an entry only for a task queued after
   * the entry was written, and the queue lock orders the two. */
  kernel_entry_t *kernels; /* NW_POOL_MAX_KERNELS entries, never moved */
  uint32_t nkernels;
  library_t *libraries;
  bool joined;

  /* Everything below is under `lock`. */
  pthread_mutex_t lock;
  worker_t *workers;        /* one per thread */
  uint32_t *idle_stack;     /* indices of idle threads, last idle on top */
  nw_task_t *q_head, *q_tail;
  uint64_t nqueued;
  nw_task_t **current;      /* the task each thread runs, or NULL */
  uint64_t nrunning;
  nw_task_t *d_head, *d_tail; /* finished, waiting for nw_pool_drain */
  uint64_t in_flight;       /* submitted and not yet handed back */
  uint32_t idle;            /* entries in idle_stack */
  uint32_t waking;          /* threads woken that have not yet looked at
                               the queue */
  uint32_t live;            /* threads not yet exited */
  uint32_t spinning;        /* threads looking at the queue before sleeping */
  uint32_t has_work;        /* atomic mirror of q_head || closed, for them */
  bool closed;
  bool notify_pending;      /* notify called, drain not yet done */
  uint32_t notifying;       /* threads inside notify() right now */
  bool abandoned;           /* nw_pool_abandon: the owner is gone; the last
                               thread to exit frees the pool */
  pthread_cond_t quiet;     /* signalled when `live` or `notifying` drops */
  uint64_t completed, failed, cancelled;
  int64_t busy_ns;
  nw_hist_t run_hist, wait_hist;
};

/* ---- histogram ----------------------------------------------------------- */

static int hist_index(int64_t ns) {
  if (ns < 1) ns = 1;
  uint64_t v = (uint64_t)ns;
  int log2 = 63 - __builtin_clzll(v);
  int sub;
  if (log2 < 4) {
    sub = (int)(v & (NW_HIST_SUB - 1));
    log2 = 0;
    /* values 1..15 map to buckets 1..15 of row 0 */
    return sub;
  }
  sub = (int)((v >> (log2 - 4)) & (NW_HIST_SUB - 1));
  int row = log2 - 3; /* row 1 holds [16, 32) */
  int i = row * NW_HIST_SUB + sub;
  return i < NW_HIST_BUCKETS ? i : NW_HIST_BUCKETS - 1;
}

/* Upper bound of the values that land in bucket i. */
static double hist_upper(int i) {
  int row = i / NW_HIST_SUB, sub = i % NW_HIST_SUB;
  if (row == 0) return (double)sub;
  int log2 = row + 3;
  double base = (double)(1ULL << log2);
  return base + (base / NW_HIST_SUB) * (sub + 1) - 1;
}

/* Called under the pool lock (or on a private copy). */
void nw_hist_record(nw_hist_t *h, int64_t ns) {
  if (ns < 0) ns = 0;
  if (h->count == 0 || ns < h->min) h->min = ns;
  if (ns > h->max) h->max = ns;
  h->count++;
  h->sum += (double)ns;
  h->counts[hist_index(ns)]++;
}

/* Any thread, on a histogram nobody writes meanwhile (the pool's are
 * copied under its lock by nw_pool_stats). */
double nw_hist_percentile(const nw_hist_t *h, double p) {
  if (!h->count) return 0;
  if (p <= 0) return (double)h->min;
  if (p >= 1) return (double)h->max;
  uint64_t want = (uint64_t)(p * (double)h->count + 0.5);
  if (want < 1) want = 1;
  uint64_t seen = 0;
  for (int i = 0; i < NW_HIST_BUCKETS; i++) {
    seen += h->counts[i];
    if (seen >= want) {
      double v = hist_upper(i);
      if (v > (double)h->max) v = (double)h->max;
      if (v < (double)h->min) v = (double)h->min;
      return v;
    }
  }
  return (double)h->max;
}

/* ---- lists (under the lock) ---------------------------------------------- */

static void q_push(nw_pool_t *p, nw_task_t *t) {
  t->next = NULL;
  t->prev = p->q_tail;
  if (p->q_tail) p->q_tail->next = t; else p->q_head = t;
  p->q_tail = t;
  p->nqueued++;
  __atomic_store_n(&p->has_work, 1, __ATOMIC_RELEASE);
}

/* Under the lock: take `t` out of the queue. */
static void q_unlink(nw_pool_t *p, nw_task_t *t) {
  if (t->prev) t->prev->next = t->next; else p->q_head = t->next;
  if (t->next) t->next->prev = t->prev; else p->q_tail = t->prev;
  t->prev = t->next = NULL;
  p->nqueued--;
  if (!p->q_head && !p->closed) __atomic_store_n(&p->has_work, 0, __ATOMIC_RELAXED);
}

/* Append to the finished list. Returns true when the owner must be
 * notified (nobody has been told about finished tasks yet). */
static bool d_push(nw_pool_t *p, nw_task_t *t) {
  t->state = NW_TASK_DONE;
  t->next = NULL;
  t->prev = NULL;
  if (p->d_tail) p->d_tail->next = t; else p->d_head = t;
  p->d_tail = t;
  if (p->notify_pending) return false;
  p->notify_pending = true;
  return true;
}

/* ---- pool threads -------------------------------------------------------- */

/* Under the lock: wake up to n idle threads, the last to go idle first. */
static void wake_idle(nw_pool_t *p, uint32_t n) {
  while (n-- > 0 && p->idle > 0) {
    worker_t *w = &p->workers[p->idle_stack[--p->idle]];
    w->wake = true;
    p->waking++;
    pthread_cond_signal(&w->cond);
  }
}

typedef struct {
  nw_pool_t *pool;
  uint32_t index;
} thread_arg_t;

/* A pool thread's buffer for copied inputs (nw_task_t.src). Reusing it
 * spares every copy the page faults of fresh memory, which cost more than
 * the copy itself; it is kept up to SCRATCH_KEEP bytes. */
#define SCRATCH_KEEP ((size_t)8 << 20)
typedef struct {
  void *mem;
  size_t cap;
} scratch_t;

/* One kernel call: the io the kernel sees, and what the pool knows about
 * the output it allocated for it. Only the pool thread of the call touches
 * it; the kernel can reach `out` and `cap` only through nw_output. */
typedef struct kernel_call {
  nw_kernel_io_t io;      /* first: output_fn gets &io */
  void *out;              /* the output buffer (malloc'd), or NULL */
  size_t cap;             /* its size in bytes */
} kernel_call_t;

/* Pool thread, inside a kernel (nw_kernel_io_t.output_fn): replace (keep 0)
 * or resize (keep 1) the call's output. Returns the buffer, or NULL when
 * out of memory; a failed replace leaves no output, a failed resize leaves
 * the old one. */
static void *call_output(nw_kernel_io_t *io, size_t len, int keep) {
  kernel_call_t *c = (kernel_call_t *)io;
  void *m;
  if (keep && c->out) {
    m = realloc(c->out, len ? len : 1);
    if (!m) return NULL;
  } else {
    free(c->out);
    c->out = NULL;
    c->cap = 0;
    m = malloc(len ? len : 1);
  }
  c->out = m;
  c->cap = m ? len : 0;
  io->out = m;
  io->out_len = c->cap;
  io->result = NW_RESULT_BUFFER;
  return m;
}

/* Pool thread: fail task `t` whose kernel left a Buffer result outside its
 * output (NW_POOL_BAD_OUTPUT). Returns that status. */
static int bad_output(nw_task_t *t, const kernel_call_t *c) {
  nw_task_failure_t *f = calloc(1, sizeof *f);
  if (f) {
    if (c->io.out != c->out)
      snprintf(f->error, sizeof f->error,
               "The kernel's output was not allocated with nw_output()");
    else
      snprintf(f->error, sizeof f->error,
               "The kernel's output length (%zu) is past the %zu bytes it allocated",
               c->io.out_len, c->cap);
    snprintf(f->code, sizeof f->code, "%s", NW_POOL_BAD_OUTPUT_CODE);
    free(t->failure);
    t->failure = f;
  }
  return NW_POOL_BAD_OUTPUT;
}

/* Pool thread: run a kernel on a fresh io of this thread's and keep what it
 * produced in the task. The task gets only output the pool allocated, and
 * never a length past it: a Buffer result that points elsewhere fails the
 * task. */
static int run_kernel(nw_kernel_fn fn, nw_task_t *t) {
  kernel_call_t c;
  memset(&c, 0, sizeof c);
  nw_kernel_io_t *io = &c.io;
  io->struct_size = sizeof *io;
  io->elem_type = t->io.elem_type;
  io->data = t->io.data;
  io->len = t->io.len;
  io->cancel = &t->cancel;
  io->output_fn = call_output;
  int rc = fn(io);
  t->io.result = io->result;
  t->io.out = c.out;
  t->io.out_len = c.out && io->out == c.out && io->out_len <= c.cap ? io->out_len : 0;
  t->io.number = io->number;
  t->io.bigint_lo = io->bigint_lo;
  t->io.bigint_hi = io->bigint_hi;
  if (rc != 0 && (io->error[0] || io->code[0] || io->errnum)) {
    nw_task_failure_t *f = malloc(sizeof *f);
    if (f) {
      memcpy(f->error, io->error, sizeof f->error);
      f->error[sizeof f->error - 1] = 0;
      memcpy(f->code, io->code, sizeof f->code);
      f->code[sizeof f->code - 1] = 0;
      f->errnum = io->errnum;
      t->failure = f;
    }
  }
  /* Any result kind that is not one of the others is a Buffer (as the
   * owner reads it). */
  bool buffer = io->result != NW_RESULT_UNDEFINED && io->result != NW_RESULT_NUMBER &&
                io->result != NW_RESULT_INPUT && io->result != NW_RESULT_BIGINT;
  if (rc == 0 && buffer &&
      ((io->out && io->out != c.out) || (!io->out && io->out_len) ||
       (io->out && io->out_len > c.cap)))
    rc = bad_output(t, &c);
  return rc;
}

/* Pool thread: copy a task's input into the scratch buffer (or, past
 * SCRATCH_KEEP, into a buffer of its own). */
static int copy_in(scratch_t *s, nw_task_t *t) {
  size_t len = t->io.len;
  void *dst;
  if (len <= s->cap) {
    dst = s->mem;
  } else if (len <= SCRATCH_KEEP) {
    free(s->mem);
    s->mem = malloc(len);
    s->cap = s->mem ? len : 0;
    dst = s->mem;
  } else {
    dst = malloc(len);
  }
  if (!dst) return -ENOMEM;
  t->io.data = dst;
  return nw_pool_copy_in(dst, t->src, len);
}

/* Pool thread, after the kernel: hand the copy over when the kernel gave
 * its input back as the result, else keep or free it. */
static void copy_done(scratch_t *s, nw_task_t *t, int rc) {
  void *dst = t->io.data;
  if (!dst) return;
  if (rc == 0 && t->io.result == NW_RESULT_INPUT) {
    t->owned = true;
    if (dst == s->mem) {
      s->mem = NULL;
      s->cap = 0;
    }
    return;
  }
  if (dst != s->mem) free(dst);
  t->io.data = NULL;
}

static void free_pool(nw_pool_t *p);

/* A pool thread: take the next task, copy its input when the owner left
 * that to it, run the kernel, put the task on the finished list (waking
 * the owner when it is the first there), and sleep when there is no work.
 * Owns `arg`. Exits once the pool is closed and the queue empty. */
static void *pool_thread(void *arg) {
  nw_pool_t *p = ((thread_arg_t *)arg)->pool;
  uint32_t self = ((thread_arg_t *)arg)->index;
  free(arg);
  scratch_t scratch = {NULL, 0};
  pthread_mutex_lock(&p->lock);
  for (;;) {
    if (!p->q_head && !p->closed && p->spin_ns > 0) {
      /* Look at the queue for a while before sleeping. Submitters do not
       * wake threads for tasks a spinning thread will take. */
      p->spinning++;
      pthread_mutex_unlock(&p->lock);
      int64_t end = nw_now_ns() + p->spin_ns;
      while (!__atomic_load_n(&p->has_work, __ATOMIC_ACQUIRE) && nw_now_ns() < end)
        sched_yield();
      pthread_mutex_lock(&p->lock);
      p->spinning--;
    }
    while (!p->q_head && !p->closed) {
      worker_t *me = &p->workers[self];
      me->wake = false;
      p->idle_stack[p->idle++] = self;
      while (!me->wake) pthread_cond_wait(&me->cond, &p->lock);
      p->waking--;
    }
    nw_task_t *t = p->q_head;
    if (!t) break; /* closed and nothing queued */
    q_unlink(p, t);
    t->state = NW_TASK_RUNNING;
    p->current[self] = t;
    p->nrunning++;
    pthread_mutex_unlock(&p->lock);

    int64_t start = nw_now_ns();
    t->t_start = start;
    int rc = 0;
    if (__atomic_load_n(&t->cancel, __ATOMIC_ACQUIRE))
      rc = NW_CANCELLED;
    else if (t->src)
      rc = copy_in(&scratch, t);
    if (rc == 0) rc = run_kernel(p->kernels[t->kernel].fn, t);
    if (t->src) copy_done(&scratch, t, rc);
    int64_t end = nw_now_ns();
    t->t_end = end;
    t->status = rc;

    pthread_mutex_lock(&p->lock);
    p->current[self] = NULL;
    p->nrunning--;
    p->busy_ns += end - start;
    nw_hist_record(&p->run_hist, end - start);
    nw_hist_record(&p->wait_hist, start - t->t_submit);
    if (rc == 0) p->completed++;
    else if (rc == NW_CANCELLED) p->cancelled++;
    else p->failed++;
    if (p->abandoned) {
      /* Nobody drains any more: the task goes back through the owner's
       * release function, on this thread. */
      pthread_mutex_unlock(&p->lock);
      p->release(t);
      pthread_mutex_lock(&p->lock);
    } else if (d_push(p, t)) {
      p->notifying++;
      pthread_mutex_unlock(&p->lock);
      p->notify(p->notify_arg);
      pthread_mutex_lock(&p->lock);
      if (--p->notifying == 0) pthread_cond_broadcast(&p->quiet);
    }
  }
  p->live--;
  bool last = p->abandoned && p->live == 0;
  pthread_cond_broadcast(&p->quiet);
  pthread_mutex_unlock(&p->lock);
  free(scratch.mem);
  if (last) free_pool(p);
  return NULL;
}

/* ---- lifecycle ----------------------------------------------------------- */

/* The pool's own memory, whatever nw_pool_create got allocated of it. */
static void free_pool_memory(nw_pool_t *p) {
  free(p->workers);
  free(p->idle_stack);
  free(p->kernels);
  free(p->threads);
  free(p->current);
  free(p);
}

/* Owner thread. */
int nw_pool_create(nw_pool_t **out, const nw_pool_options_t *opt) {
  if (!out || !opt || !opt->notify || opt->threads < 1 ||
      opt->threads > NW_POOL_MAX_THREADS)
    return -EINVAL;
  nw_pool_t *p = calloc(1, sizeof *p);
  if (!p) return -ENOMEM;
  p->nthreads = opt->threads;
  p->max_queue = opt->max_queue;
  p->notify = opt->notify;
  p->notify_arg = opt->notify_arg;
  p->t_created = nw_now_ns();
  p->spin_ns = opt->spin_ns > 0 ? opt->spin_ns : 0;
  p->threads = calloc(opt->threads, sizeof *p->threads);
  p->current = calloc(opt->threads, sizeof *p->current);
  p->kernels = calloc(NW_POOL_MAX_KERNELS, sizeof *p->kernels);
  p->workers = calloc(opt->threads, sizeof *p->workers);
  p->idle_stack = calloc(opt->threads, sizeof *p->idle_stack);
  int rc = 0;
  uint32_t conds = 0;
  if (!p->threads || !p->current || !p->kernels || !p->workers || !p->idle_stack) {
    rc = -ENOMEM;
    goto fail_alloc;
  }
  if (pthread_mutex_init(&p->lock, NULL)) {
    rc = -ENOMEM;
    goto fail_alloc;
  }
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int qe = pthread_cond_init(&p->quiet, &ca);
  pthread_condattr_destroy(&ca);
  if (qe) {
    pthread_mutex_destroy(&p->lock);
    rc = -ENOMEM;
    goto fail_alloc;
  }
  for (; conds < opt->threads; conds++) {
    if (pthread_cond_init(&p->workers[conds].cond, NULL)) {
      rc = -ENOMEM;
      goto fail_sync;
    }
  }

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (opt->stack_size) pthread_attr_setstacksize(&attr, opt->stack_size);
  uint32_t started = 0;
  for (; started < opt->threads; started++) {
    thread_arg_t *a = malloc(sizeof *a);
    if (!a) {
      rc = -ENOMEM;
      break;
    }
    a->pool = p;
    a->index = started;
    pthread_mutex_lock(&p->lock);
    p->live++;
    pthread_mutex_unlock(&p->lock);
    int e = pthread_create(&p->threads[started], &attr, pool_thread, a);
    if (e) {
      pthread_mutex_lock(&p->lock);
      p->live--;
      pthread_mutex_unlock(&p->lock);
      free(a);
      rc = -e;
      break;
    }
  }
  pthread_attr_destroy(&attr);
  if (rc) {
    pthread_mutex_lock(&p->lock);
    p->closed = true;
    wake_idle(p, p->nthreads);
    pthread_mutex_unlock(&p->lock);
    for (uint32_t i = 0; i < started; i++) pthread_join(p->threads[i], NULL);
    goto fail_sync;
  }
  *out = p;
  return 0;

fail_sync:
  for (uint32_t i = 0; i < conds; i++) pthread_cond_destroy(&p->workers[i].cond);
  pthread_cond_destroy(&p->quiet);
  pthread_mutex_destroy(&p->lock);
fail_alloc:
  free_pool_memory(p);
  return rc;
}

/* Owner thread. Wakes every idle thread so that they see `closed`. */
void nw_pool_close(nw_pool_t *p) {
  pthread_mutex_lock(&p->lock);
  bool notify = false;
  if (!p->closed) {
    p->closed = true;
    __atomic_store_n(&p->has_work, 1, __ATOMIC_RELEASE);
    while (p->q_head) {
      nw_task_t *t = p->q_head;
      q_unlink(p, t);
      t->status = NW_POOL_REJECTED;
      t->t_start = t->t_end = nw_now_ns();
      if (d_push(p, t)) notify = true;
    }
    wake_idle(p, p->nthreads);
  }
  pthread_mutex_unlock(&p->lock);
  if (notify) p->notify(p->notify_arg);
}

/* Owner thread. */
void nw_pool_abort(nw_pool_t *p) {
  nw_pool_close(p);
  pthread_mutex_lock(&p->lock);
  for (uint32_t i = 0; i < p->nthreads; i++)
    if (p->current[i]) __atomic_store_n(&p->current[i]->cancel, 1, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&p->lock);
}

/* Owner thread; blocks until the running kernels return. */
void nw_pool_destroy(nw_pool_t *p) {
  if (p->joined) return;
  nw_pool_abort(p);
  for (uint32_t i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
  p->joined = true;
}

/* Any thread. */
bool nw_pool_threads_done(nw_pool_t *p) {
  pthread_mutex_lock(&p->lock);
  bool done = p->live == 0;
  pthread_mutex_unlock(&p->lock);
  return done;
}

/* Once no thread runs: the pool's locks, libraries and memory. */
static void free_pool(nw_pool_t *p) {
  for (uint32_t i = 0; i < p->nthreads; i++) pthread_cond_destroy(&p->workers[i].cond);
  pthread_cond_destroy(&p->quiet);
  pthread_mutex_destroy(&p->lock);
  for (library_t *l = p->libraries, *n; l; l = n) {
    n = l->next;
    dlclose(l->handle);
    free(l);
  }
  free_pool_memory(p);
}

/* Owner thread, after nw_pool_destroy. */
void nw_pool_free(nw_pool_t *p) {
  if (!p) return;
  if (!p->joined) nw_pool_destroy(p);
  free_pool(p);
}

/* Owner thread. Waits on `quiet` (CLOCK_MONOTONIC) for the threads to
 * exit, then joins them, which is immediate. */
int nw_pool_join_within(nw_pool_t *p, int64_t timeout_ns) {
  if (p->joined) return 0;
  nw_pool_abort(p);
  int64_t deadline = nw_now_ns() + (timeout_ns > 0 ? timeout_ns : 0);
  struct timespec ts = {(time_t)(deadline / 1000000000), (long)(deadline % 1000000000)};
  pthread_mutex_lock(&p->lock);
  int e = 0;
  while (p->live > 0 && e != ETIMEDOUT) e = pthread_cond_timedwait(&p->quiet, &p->lock, &ts);
  bool done = p->live == 0;
  pthread_mutex_unlock(&p->lock);
  if (!done) return -ETIMEDOUT;
  nw_pool_destroy(p);
  return 0;
}

/* Owner thread. `pred` runs under the pool lock. */
bool nw_pool_any_running(nw_pool_t *p, bool (*pred)(const nw_task_t *, void *),
                         void *arg) {
  bool any = false;
  pthread_mutex_lock(&p->lock);
  for (uint32_t i = 0; i < p->nthreads && !any; i++)
    if (p->current[i]) any = pred(p->current[i], arg);
  pthread_mutex_unlock(&p->lock);
  return any;
}

/* Owner thread. */
nw_task_t *nw_pool_abandon(nw_pool_t *p, void (*detach)(nw_task_t *, void *),
                           void *arg, void (*release)(nw_task_t *)) {
  nw_pool_abort(p);
  pthread_mutex_lock(&p->lock);
  /* A thread inside notify() uses the owner's notify argument: wait until
   * none is; with `abandoned` set, none starts again. */
  p->abandoned = true;
  p->release = release;
  while (p->notifying > 0) pthread_cond_wait(&p->quiet, &p->lock);
  for (uint32_t i = 0; i < p->nthreads; i++)
    if (p->current[i] && detach) detach(p->current[i], arg);
  nw_task_t *finished = p->d_head;
  p->d_head = p->d_tail = NULL;
  p->notify_pending = false;
  /* Detached under the lock: the last thread frees p->threads, and it
   * cannot before the lock is let go. */
  if (!p->joined)
    for (uint32_t i = 0; i < p->nthreads; i++) pthread_detach(p->threads[i]);
  bool none_left = p->live == 0;
  pthread_mutex_unlock(&p->lock);
  /* With threads left, the last one frees the pool (pool_thread): from
   * here on the pool is theirs. */
  if (none_left) free_pool(p);
  return finished;
}

/* ---- kernels --------------------------------------------------------------- */

static bool valid_name(const char *name) {
  if (!name) return false;
  size_t n = strnlen(name, NW_POOL_NAME_MAX + 1);
  if (n == 0 || n > NW_POOL_NAME_MAX) return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-'))
      return false;
  }
  return true;
}

/* Owner thread (the registry only grows, and only there). */
int nw_pool_find_kernel(const nw_pool_t *p, const char *name) {
  for (uint32_t i = 0; i < p->nkernels; i++)
    if (strcmp(p->kernels[i].name, name) == 0) return (int)i;
  return -ENOENT;
}

/* Owner thread. */
uint32_t nw_pool_kernel_count(const nw_pool_t *p) { return p->nkernels; }

/* Owner thread. The name stays valid for the pool's life; NULL past the
 * end. */
const char *nw_pool_kernel_name(const nw_pool_t *p, uint32_t i) {
  return i < p->nkernels ? p->kernels[i].name : NULL;
}

/* Owner thread. All or nothing. */
int nw_pool_add_kernels(nw_pool_t *p, const nw_kernel_table_t *t,
                        const char **clash) {
  if (!t || t->abi_version != NW_ABI_VERSION ||
      t->struct_size < sizeof(nw_kernel_table_t) || (t->count && !t->kernels))
    return -EINVAL;
  if (t->count > NW_POOL_MAX_KERNELS ||
      p->nkernels + t->count > NW_POOL_MAX_KERNELS)
    return -ENOSPC;
  for (uint32_t i = 0; i < t->count; i++) {
    const nw_kernel_def_t *d = &t->kernels[i];
    if (!valid_name(d->name) || !d->fn) return -EINVAL;
    bool dup = nw_pool_find_kernel(p, d->name) >= 0;
    for (uint32_t j = 0; j < i && !dup; j++)
      dup = strcmp(t->kernels[j].name, d->name) == 0;
    if (dup) {
      if (clash) *clash = d->name;
      return -EEXIST;
    }
  }
  for (uint32_t i = 0; i < t->count; i++) {
    kernel_entry_t *e = &p->kernels[p->nkernels + i];
    snprintf(e->name, sizeof e->name, "%s", t->kernels[i].name);
    e->fn = t->kernels[i].fn;
  }
  p->nkernels += t->count;
  return 0;
}

/* Owner thread. */
int nw_pool_load(nw_pool_t *p, const char *path, char *err, size_t errlen) {
  if (!path || !*path) {
    snprintf(err, errlen, "empty path");
    return -EINVAL;
  }
  struct stat st;
  if (stat(path, &st) != 0) {
    int e = errno;
    snprintf(err, errlen, "%s: %s", path, strerror(e));
    return -e;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "%s: not a regular file", path);
    return -ENOEXEC;
  }
  /* A relative path without a slash would make dlopen search the library
   * path; the caller meant the file. */
  char buf[PATH_MAX];
  const char *open_path = path;
  if (!strchr(path, '/')) {
    snprintf(buf, sizeof buf, "./%s", path);
    open_path = buf;
  }
  void *h = dlopen(open_path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *m = dlerror();
    snprintf(err, errlen, "%s", m ? m : "dlopen failed");
    return -ENOEXEC;
  }
  dlerror();
  void *sym = dlsym(h, NW_KERNELS_SYMBOL);
  if (!sym) {
    snprintf(err, errlen, "%s does not export %s(); is it a kernel library?",
             path, NW_KERNELS_SYMBOL);
    dlclose(h);
    return -ENOSYS;
  }
  nw_kernels_fn get;
  memcpy(&get, &sym, sizeof get);
  const nw_kernel_table_t *t = get();
  if (!t) {
    snprintf(err, errlen, "%s: %s() returned no table", path, NW_KERNELS_SYMBOL);
    dlclose(h);
    return -EPROTO;
  }
  if (t->abi_version != NW_ABI_VERSION) {
    snprintf(err, errlen, "%s: kernel ABI version %u, this pool speaks %u", path,
             t->abi_version, NW_ABI_VERSION);
    dlclose(h);
    return -EPROTO;
  }
  const char *clash = NULL;
  int rc = nw_pool_add_kernels(p, t, &clash);
  if (rc < 0) {
    if (rc == -EEXIST)
      snprintf(err, errlen, "%s: kernel '%s' already exists", path, clash);
    else if (rc == -ENOSPC)
      snprintf(err, errlen, "%s: too many kernels", path);
    else if (rc == -ENOMEM)
      snprintf(err, errlen, "out of memory");
    else
      snprintf(err, errlen, "%s: malformed kernel table", path);
    dlclose(h);
    return rc == -EINVAL ? -EPROTO : rc;
  }
  library_t *l = malloc(sizeof *l);
  if (!l) {
    /* The kernels are registered and may be used: keep the library open
     * for the life of the process rather than unmapping their code. */
    return (int)t->count;
  }
  l->handle = h;
  l->next = p->libraries;
  p->libraries = l;
  return (int)t->count;
}

/* ---- tasks ----------------------------------------------------------------- */

static void prepare(nw_pool_t *p, nw_task_t *t, int64_t now) {
  t->cancel = 0;
  t->failure = NULL;
  t->status = 0;
  t->state = NW_TASK_QUEUED;
  t->t_submit = now;
  t->t_start = t->t_end = 0;
}

/* Owner thread. */
int nw_pool_submit_batch(nw_pool_t *p, nw_task_t *const *tasks, int n,
                         int *err) {
  int64_t now = nw_now_ns();
  int done = 0, why = 0;
  pthread_mutex_lock(&p->lock);
  for (; done < n; done++) {
    nw_task_t *t = tasks[done];
    if (p->closed) {
      why = -ESHUTDOWN;
      break;
    }
    if (!t || t->kernel >= p->nkernels) {
      why = -EINVAL;
      break;
    }
    if (p->max_queue && p->nqueued >= p->max_queue) {
      why = -EAGAIN;
      break;
    }
    prepare(p, t, now);
    q_push(p, t);
    p->in_flight++;
  }
  /* Wake one idle thread per queued task that no woken or spinning thread
   * will take. */
  if (p->nqueued > (uint64_t)p->waking + p->spinning) {
    uint64_t want = p->nqueued - p->waking - p->spinning;
    wake_idle(p, want > p->idle ? p->idle : (uint32_t)want);
  }
  pthread_mutex_unlock(&p->lock);
  if (err) *err = why;
  return done;
}

/* Owner thread. One task: nw_pool_submit_batch of one. */
int nw_pool_submit(nw_pool_t *p, nw_task_t *t) {
  int err = 0;
  return nw_pool_submit_batch(p, &t, 1, &err) == 1 ? 0 : err;
}

/* Owner thread. */
int nw_pool_cancel(nw_pool_t *p, uint64_t id, nw_task_t **out) {
  int rc = 0;
  pthread_mutex_lock(&p->lock);
  for (nw_task_t *t = p->q_head; t; t = t->next) {
    if (t->id == id) {
      q_unlink(p, t);
      t->state = NW_TASK_DONE;
      t->status = NW_CANCELLED;
      __atomic_store_n(&t->cancel, 1, __ATOMIC_RELEASE);
      p->in_flight--;
      p->cancelled++;
      nw_hist_record(&p->wait_hist, nw_now_ns() - t->t_submit);
      if (out) *out = t;
      rc = 1;
      break;
    }
  }
  if (!rc) {
    for (uint32_t i = 0; i < p->nthreads; i++) {
      nw_task_t *t = p->current[i];
      if (t && t->id == id) {
        __atomic_store_n(&t->cancel, 1, __ATOMIC_RELEASE);
        break;
      }
    }
  }
  pthread_mutex_unlock(&p->lock);
  return rc;
}

/* Owner thread. */
nw_task_t *nw_pool_drain(nw_pool_t *p) {
  pthread_mutex_lock(&p->lock);
  nw_task_t *list = p->d_head;
  uint64_t n = 0;
  for (nw_task_t *t = list; t; t = t->next) n++;
  p->d_head = p->d_tail = NULL;
  p->in_flight -= n;
  p->notify_pending = false;
  pthread_mutex_unlock(&p->lock);
  return list;
}

/* Any thread. */
uint64_t nw_pool_in_flight(const nw_pool_t *p) {
  nw_pool_t *q = (nw_pool_t *)p;
  pthread_mutex_lock(&q->lock);
  uint64_t n = q->in_flight;
  pthread_mutex_unlock(&q->lock);
  return n;
}

/* Any thread. Copies the histograms (a few KiB) under the lock. */
void nw_pool_stats(nw_pool_t *p, nw_pool_stats_t *out) {
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&p->lock);
  out->threads = p->joined ? 0 : p->live;
  out->queued = p->nqueued;
  out->running = p->nrunning;
  out->completed = p->completed;
  out->failed = p->failed;
  out->cancelled = p->cancelled;
  out->run_time = p->run_hist;
  out->wait_time = p->wait_hist;
  out->busy_ns = p->busy_ns;
  pthread_mutex_unlock(&p->lock);
  out->elapsed_ns = nw_now_ns() - p->t_created;
  double cap = (double)p->nthreads * (double)out->elapsed_ns;
  out->utilization = cap > 0 ? (double)out->busy_ns / cap : 0;
  if (out->utilization > 1) out->utilization = 1;
}

/* ---- fault-free copies ------------------------------------------------------ */

/* process_vm_readv on the calling process itself reads through the kernel,
 * which reports unmapped source pages as EFAULT instead of raising SIGSEGV.
 * It moves at most about 2 GiB per call, and may stop short at the first
 * page it cannot read; the loop goes on until done or an error. */
int nw_pool_copy_in(void *dst, const void *src, size_t len) {
#ifdef __linux__
  pid_t pid = getpid();
  size_t done = 0;
  while (done < len) {
    size_t n = len - done;
    if (n > ((size_t)1 << 30)) n = (size_t)1 << 30;
    struct iovec local = {(char *)dst + done, n};
    struct iovec remote = {(void *)((const char *)src + done), n};
    ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (got == 0) return -EFAULT;
    done += (size_t)got;
  }
  return 0;
#else
  (void)dst;
  (void)src;
  return len ? -ENOSYS : 0;
#endif
}

/* Any thread. The probe runs once per process; racing first calls may
 * both run it and store the same answer. */
bool nw_pool_copy_in_available(void) {
  /* 0 unknown, 1 works, 2 does not */
  static int known;
  int k = __atomic_load_n(&known, __ATOMIC_ACQUIRE);
  if (!k) {
    char a[64], b[64];
    memset(a, 0x5a, sizeof a);
    memset(b, 0, sizeof b);
    k = nw_pool_copy_in(b, a, sizeof a) == 0 && memcmp(a, b, sizeof a) == 0 ? 1 : 2;
    __atomic_store_n(&known, k, __ATOMIC_RELEASE);
  }
  return k == 1;
}

/* Any thread (see pool.h for the policy). */
nw_pool_input_plan_t nw_pool_input_plan(size_t len, bool stable) {
  if (stable || len == 0) return NW_POOL_INPUT_IN_PLACE;
  if (len >= NW_POOL_COPY_LATER_MIN && nw_pool_copy_in_available())
    return NW_POOL_INPUT_COPY_LATER;
  return NW_POOL_INPUT_COPY_NOW;
}
