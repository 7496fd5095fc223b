/*
 * Unit tests of src/core/pool.c with kernels of their own (the built-in
 * kernels need the node binary's OpenSSL/zlib/Brotli and are tested through
 * mocha).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/pool.h"
#include "testing.h"

/* ---- test kernels ---------------------------------------------------------- */

/* Output: the input bytes reversed. */
static int k_reverse(nw_kernel_io_t *io) {
  uint8_t *out = nw_output(io, io->len);
  if (!out) return -ENOMEM;
  for (size_t i = 0; i < io->len; i++) out[i] = io->data[io->len - 1 - i];
  return 0;
}

/* Number result: the sum of the input bytes. */
static int k_bytesum(nw_kernel_io_t *io) {
  double s = 0;
  for (size_t i = 0; i < io->len; i++) s += io->data[i];
  io->result = NW_RESULT_NUMBER;
  io->number = s;
  return 0;
}

static int k_fail(nw_kernel_io_t *io) { return nw_fail(io, "ERR_TEST", "failed on purpose"); }
static int k_errno(nw_kernel_io_t *io) { return -EDOM; }

/* Spins until cancelled (bounded by 10 s so a bug cannot hang the run). */
static int k_spin(nw_kernel_io_t *io) {
  int64_t end = nw_now_ns() + 10000000000LL;
  while (nw_now_ns() < end) {
    if (nw_cancelled(io)) return NW_CANCELLED;
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

/* Blocks until the gate opens. */
static atomic_int gate;
static int k_gate(nw_kernel_io_t *io) {
  while (!atomic_load(&gate)) {
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
  }
  io->result = NW_RESULT_UNDEFINED;
  return 0;
}

/* Adds 1 to every input byte in place and gives the input back. */
static int k_inc(nw_kernel_io_t *io) {
  for (size_t i = 0; i < io->len; i++) io->data[i]++;
  io->result = NW_RESULT_INPUT;
  return 0;
}

/* Kernels that misreport their output. */
static int k_overlong(nw_kernel_io_t *io) {
  if (!nw_output(io, 16)) return -ENOMEM;
  memset(io->out, 7, 16);
  io->out_len = (size_t)1 << 20; /* past the 16 bytes it asked for */
  return 0;
}

static uint8_t foreign_out[8];
static int k_foreign(nw_kernel_io_t *io) {
  io->out = foreign_out; /* not from nw_output */
  io->out_len = sizeof foreign_out;
  io->result = NW_RESULT_BUFFER;
  return 0;
}

static int k_no_out_len(nw_kernel_io_t *io) {
  io->result = NW_RESULT_BUFFER;
  io->out_len = 100; /* and no output at all */
  return 0;
}

/* Output grown in steps and cut down: 1, 2, ... 200 then the first 50. */
static int k_resize(nw_kernel_io_t *io) {
  for (size_t n = 1; n <= 200; n++) {
    uint8_t *o = nw_output_resize(io, n);
    if (!o) return -ENOMEM;
    o[n - 1] = (uint8_t)n;
  }
  if (!nw_output_resize(io, 60)) return -ENOMEM;
  io->out_len = 50; /* lowering it is fine */
  return 0;
}

/* Replaces its output: the first one is freed by the pool. */
static int k_replace(nw_kernel_io_t *io) {
  if (!nw_output(io, 1000)) return -ENOMEM;
  uint8_t *o = nw_output(io, 3);
  if (!o) return -ENOMEM;
  memcpy(o, "abc", 3);
  return 0;
}

/* Allocates output, then fails: the pool frees it. */
static int k_out_then_fail(nw_kernel_io_t *io) {
  if (!nw_output(io, 64)) return -ENOMEM;
  io->out_len = 1 << 30;
  return nw_fail(io, "ERR_TEST", "failed after output");
}

static const nw_kernel_def_t test_defs[] = {
    {"reverse", k_reverse, 0}, {"bytesum", k_bytesum, 0}, {"fail", k_fail, 0},
    {"errno", k_errno, 0},     {"spin", k_spin, 0},       {"gate", k_gate, 0},
    {"inc", k_inc, 0},         {"overlong", k_overlong, 0}, {"foreign", k_foreign, 0},
    {"no_out_len", k_no_out_len, 0}, {"resize", k_resize, 0}, {"replace", k_replace, 0},
    {"out_then_fail", k_out_then_fail, 0},
};
static const nw_kernel_table_t test_table = NW_KERNEL_TABLE(test_defs);

/* ---- a notify that counts, and an owner loop ---------------------------- */

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int notified;
} owner_t;

static void on_notify(void *arg) {
  owner_t *o = arg;
  pthread_mutex_lock(&o->mu);
  o->notified++;
  pthread_cond_signal(&o->cv);
  pthread_mutex_unlock(&o->mu);
}

static void owner_init(owner_t *o) {
  pthread_mutex_init(&o->mu, NULL);
  pthread_cond_init(&o->cv, NULL);
  o->notified = 0;
}

static void owner_fini(owner_t *o) {
  pthread_mutex_destroy(&o->mu);
  pthread_cond_destroy(&o->cv);
}

/* Wait for a notification (up to 10 s); returns false on timeout. */
static bool owner_wait(owner_t *o) {
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += 10;
  pthread_mutex_lock(&o->mu);
  int rc = 0;
  while (o->notified == 0 && rc == 0) rc = pthread_cond_timedwait(&o->cv, &o->mu, &dl);
  bool ok = o->notified > 0;
  o->notified = 0;
  pthread_mutex_unlock(&o->mu);
  return ok;
}

static int64_t spin_ns; /* spin_ns of the pools the tests make */

static nw_pool_t *make_pool(owner_t *o, uint32_t threads, uint64_t max_queue) {
  nw_pool_options_t opt = {.threads = threads, .max_queue = max_queue,
                           .notify = on_notify, .notify_arg = o,
                           .spin_ns = spin_ns};
  nw_pool_t *p = NULL;
  if (nw_pool_create(&p, &opt) != 0) return NULL;
  if (nw_pool_add_kernels(p, &test_table, NULL) != 0) {
    nw_pool_free(p);
    return NULL;
  }
  return p;
}

static nw_task_t *new_task(nw_pool_t *p, const char *kernel, uint64_t id,
                           uint8_t *data, size_t len) {
  nw_task_t *t = calloc(1, sizeof *t);
  t->kernel = (uint32_t)nw_pool_find_kernel(p, kernel);
  t->id = id;
  t->io.data = data;
  t->io.len = len;
  return t;
}

static void free_task(nw_task_t *t) {
  free(t->io.out);
  free(t->failure);
  free(t);
}

/* Drain until `want` tasks came back; stores them by id in `got`. */
static int collect(nw_pool_t *p, owner_t *o, nw_task_t **got, size_t ngot, int want) {
  int n = 0;
  while (n < want) {
    nw_task_t *list = nw_pool_drain(p);
    if (!list) {
      if (!owner_wait(o)) break;
      continue;
    }
    for (nw_task_t *t = list, *next; t; t = next) {
      next = t->next;
      if (t->id < ngot) got[t->id] = t;
      n++;
    }
  }
  return n;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_create_args(void) {
  owner_t o;
  owner_init(&o);
  nw_pool_t *p = NULL;
  nw_pool_options_t opt = {.threads = 0, .notify = on_notify, .notify_arg = &o};
  CHECK_EQ(nw_pool_create(&p, &opt), -EINVAL);
  opt.threads = NW_POOL_MAX_THREADS + 1;
  CHECK_EQ(nw_pool_create(&p, &opt), -EINVAL);
  opt.threads = 1;
  opt.notify = NULL;
  CHECK_EQ(nw_pool_create(&p, &opt), -EINVAL);
  owner_fini(&o);
}

static void test_registry(void) {
  owner_t o;
  owner_init(&o);
  nw_pool_t *p = make_pool(&o, 1, 0);
  REQUIRE(p);
  CHECK_EQ(nw_pool_kernel_count(p), 13);
  CHECK(nw_pool_find_kernel(p, "reverse") == 0);
  CHECK_EQ(nw_pool_find_kernel(p, "nope"), -ENOENT);
  const char *clash = NULL;
  CHECK_EQ(nw_pool_add_kernels(p, &test_table, &clash), -EEXIST);
  CHECK(clash && strcmp(clash, "reverse") == 0);
  CHECK_EQ(nw_pool_kernel_count(p), 13);
  static const nw_kernel_def_t bad_name[] = {{"has space", k_fail, 0}};
  static const nw_kernel_table_t bad = NW_KERNEL_TABLE(bad_name);
  CHECK_EQ(nw_pool_add_kernels(p, &bad, NULL), -EINVAL);
  nw_kernel_table_t wrong = test_table;
  wrong.abi_version = 99;
  CHECK_EQ(nw_pool_add_kernels(p, &wrong, NULL), -EINVAL);
  char err[256];
  CHECK_EQ(nw_pool_load(p, "/nonexistent/lib.so", err, sizeof err), -ENOENT);
  CHECK_EQ(nw_pool_load(p, "/etc/hostname", err, sizeof err), -ENOEXEC);
  nw_pool_destroy(p);
  nw_pool_free(p);
  owner_fini(&o);
}

static void test_results(void) {
  owner_t o;
  owner_init(&o);
  nw_pool_t *p = make_pool(&o, 2, 0);
  REQUIRE(p);
  uint8_t in[5] = {1, 2, 3, 4, 5};
  nw_task_t *ts[4] = {new_task(p, "reverse", 0, in, 5), new_task(p, "bytesum", 1, in, 5),
                      new_task(p, "fail", 2, in, 5), new_task(p, "errno", 3, NULL, 0)};
  int err = 0;
  CHECK_EQ(nw_pool_submit_batch(p, ts, 4, &err), 4);
  nw_task_t *got[4] = {0};
  CHECK_EQ(collect(p, &o, got, 4, 4), 4);
  REQUIRE(got[0] && got[1] && got[2] && got[3]);
  CHECK_EQ(got[0]->status, 0);
  CHECK_EQ(got[0]->io.out_len, 5);
  CHECK(memcmp(got[0]->io.out, (uint8_t[]){5, 4, 3, 2, 1}, 5) == 0);
  CHECK_EQ(got[1]->io.result, NW_RESULT_NUMBER);
  CHECK_EQ((int)got[1]->io.number, 15);
  CHECK_EQ(got[2]->status, NW_FAILED);
  REQUIRE(got[2]->failure);
  CHECK(strcmp(got[2]->failure->code, "ERR_TEST") == 0);
  CHECK(strcmp(got[2]->failure->error, "failed on purpose") == 0);
  CHECK(got[3]->failure == NULL);
  CHECK_EQ(got[3]->status, -EDOM);
  nw_pool_stats_t st;
  nw_pool_stats(p, &st);
  CHECK_EQ(st.completed, 2);
  CHECK_EQ(st.failed, 2);
  CHECK_EQ(st.run_time.count, 4);
  CHECK_EQ(st.wait_time.count, 4);
  CHECK_EQ(nw_pool_in_flight(p), 0);
  for (int i = 0; i < 4; i++) free_task(got[i]);
  nw_pool_destroy(p);
  nw_pool_free(p);
  owner_fini(&o);
}

/* The pool hands out every output buffer and knows its size: a Buffer
 * result past it, or from elsewhere, fails the task, and the owner gets
 * only memory it may free, with a length inside it. */
static void test_output_bounds(void) {
  owner_t o;
  owner_init(&o);
  nw_pool_t *p = make_pool(&o, 2, 0);
  REQUIRE(p);
  const char *names[] = {"overlong", "foreign", "no_out_len", "resize", "replace",
                         "out_then_fail"};
  enum { N = 6 };
  nw_task_t *ts[N];
  for (int i = 0; i < N; i++) ts[i] = new_task(p, names[i], (uint64_t)i, NULL, 0);
  int err = 0;
  CHECK_EQ(nw_pool_submit_batch(p, ts, N, &err), N);
  nw_task_t *got[N] = {0};
  CHECK_EQ(collect(p, &o, got, N, N), N);
  for (int i = 0; i < N; i++) REQUIRE(got[i]);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(got[i]->status, NW_POOL_BAD_OUTPUT);
    REQUIRE(got[i]->failure);
    CHECK(strcmp(got[i]->failure->code, NW_POOL_BAD_OUTPUT_CODE) == 0);
    CHECK(got[i]->failure->error[0] != 0);
    CHECK(got[i]->io.out != foreign_out);
    CHECK_EQ(got[i]->io.out_len, 0);
  }
  CHECK(strstr(got[0]->failure->error, "1048576") && strstr(got[0]->failure->error, "16"));
  CHECK(got[0]->io.out != NULL); /* the pool's 16 bytes, for the owner to free */
  CHECK(strstr(got[1]->failure->error, "nw_output"));
  CHECK_EQ(got[3]->status, 0);
  CHECK_EQ(got[3]->io.out_len, 50);
  for (int i = 0; i < 50; i++) CHECK_EQ(((uint8_t *)got[3]->io.out)[i], i + 1);
  CHECK_EQ(got[4]->status, 0);
  CHECK_EQ(got[4]->io.out_len, 3);
  CHECK(memcmp(got[4]->io.out, "abc", 3) == 0);
  CHECK_EQ(got[5]->status, NW_FAILED);
  CHECK(got[5]->io.out_len == 0 && got[5]->io.out != NULL);
  nw_pool_stats_t st;
  nw_pool_stats(p, &st);
  CHECK_EQ(st.failed, 4);
  CHECK_EQ(st.completed, 2);
  for (int i = 0; i < N; i++) free_task(got[i]);
  nw_pool_destroy(p);
  nw_pool_free(p);
  owner_fini(&o);
}

/* Many tasks from one owner, results matched by id, few notifications. */
static void test_many(void) {
  owner_t o;
  owner_init(&o);
  nw_pool_t *p = make_pool(&o, 4, 0);
  REQUIRE(p);
  enum { N = 20000 };
  static uint8_t inputs[N][4];
  nw_task_t **ts = calloc(N, sizeof *ts);
  unsigned long long seed = 42;
  for (int i = 0; i < N; i++) {
    uint32_t v = (uint32_t)t_rand(&seed);
    memcpy(inputs[i], &v, 4);
    ts[i] = new_task(p, (i % 3) ? "reverse" : "bytesum", (uint64_t)i, inputs[i], 4);
  }
  int err = 0, sent = 0;
  while (sent < N) {
    int k = nw_pool_submit_batch(p, ts + sent, N - sent < 97 ? N - sent : 97, &err);
    CHECK_EQ(err, 0);
    sent += k;
  }
  nw_task_t **got = calloc(N, sizeof *got);
  CHECK_EQ(collect(p, &o, got, N, N), N);
  int bad = 0;
  for (int i = 0; i < N; i++) {
    nw_task_t *t = got[i];
    if (!t || t->status != 0) { bad++; continue; }
    if (i % 3) {
      uint8_t want[4] = {inputs[i][3], inputs[i][2], inputs[i][1], inputs[i][0]};
      if (t->io.out_len != 4 || memcmp(t->io.out, want, 4)) bad++;
    } else if ((int)t->io.number != inputs[i][0] + inputs[i][1] + inputs[i][2] + inputs[i][3]) {
      bad++;
    }
    free_task(t);
  }
  CHECK_EQ(bad, 0);
  nw_pool_stats_t st;
  nw_pool_stats(p, &st);
  CHECK_EQ(st.completed, N);
  CHECK(st.utilization >= 0 && st.utilization <= 1);
  CHECK(nw_hist_percentile(&st.run_time, 0.5) <= nw_hist_percentile(&st.run_time, 0.99));
  free(ts);
  free(got);
  nw_pool_destroy(p);
  nw_pool_free(p);
  owner_fini(&o);
}

static void test_queue_full_and_cancel(void) {
  owner_t o;
  owner_init(&o);
  atomic_store(&gate, 0);
  nw_pool_t *p = make_pool(&o, 1, 2);
  REQUIRE(p);
  nw_task_t *blocker = new_task(p, "gate", 100, NULL, 0);
  CHECK_EQ(nw_pool_submit(p, blocker), 0);
  /* Wait until the blocker runs so that the queue is empty. */
  for (int i = 0; i < 10000; i++) {
    nw_pool_stats_t st;
    nw_pool_stats(p, &st);
    if (st.running == 1) break;
    usleep(1000);
  }
  nw_task_t *a = new_task(p, "reverse", 1, NULL, 0);
  nw_task_t *b = new_task(p, "reverse", 2, NULL, 0);
  nw_task_t *c = new_task(p, "reverse", 3, NULL, 0);
  CHECK_EQ(nw_pool_submit(p, a), 0);
  CHECK_EQ(nw_pool_submit(p, b), 0);
  CHECK_EQ(nw_pool_submit(p, c), -EAGAIN);
  nw_task_t *back = NULL;
  CHECK_EQ(nw_pool_cancel(p, 1, &back), 1);
  CHECK(back == a);
  CHECK_EQ(nw_pool_cancel(p, 999, &back), 0);
  CHECK_EQ(nw_pool_submit(p, c), 0);
  CHECK_EQ(nw_pool_in_flight(p), 3);
  atomic_store(&gate, 1);
  nw_task_t *got[4] = {0};
  CHECK_EQ(collect(p, &o, got, 4, 3), 3);
  CHECK(got[2] == b && got[3] == c);
  CHECK_EQ(b->status, 0);
  nw_pool_stats_t st;
  nw_pool_stats(p, &st);
  CHECK_EQ(st.cancelled, 1);
  free_task(a);
  free_task(b);
  free_task(c);
  free_task(blocker);
  nw_pool_destroy(p);
  nw_pool_free(p);
  owner_fini(&o);
}

static void test_cancel_running(void) {
  owner_t o;
  owner_init(&o);
  nw_pool_t *p = make_pool(&o, 1, 0);
  REQUIRE(p);
  nw_task_t *t = new_task(p, "spin", 7, NULL, 0);
  CHECK_EQ(nw_pool_submit(p, t), 0);
  for (int i = 0; i < 10000; i++) {
    nw_pool_stats_t st;
    nw_pool_stats(p, &st);
    if (st.running == 1) break;
    usleep(1000);
  }
  nw_task_t *back = NULL;
  CHECK_EQ(nw_pool_cancel(p, 7, &back), 0);
  nw_task_t *got[8] = {0};
  CHECK_EQ(collect(p, &o, got, 8, 1), 1);
  CHECK(got[7] == t);
  CHECK_EQ(t->status, NW_CANCELLED);
  free_task(t);
  nw_pool_destroy(p);
  nw_pool_free(p);
  owner_fini(&o);
}

/* close: queued tasks come back rejected, the running one finishes. */
static void test_close(void) {
  owner_t o;
  owner_init(&o);
  atomic_store(&gate, 0);
  nw_pool_t *p = make_pool(&o, 1, 0);
  REQUIRE(p);
  nw_task_t *ts[5];
  ts[0] = new_task(p, "gate", 0, NULL, 0);
  for (int i = 1; i < 5; i++) ts[i] = new_task(p, "reverse", (uint64_t)i, NULL, 0);
  int err;
  CHECK_EQ(nw_pool_submit_batch(p, ts, 5, &err), 5);
  for (int i = 0; i < 10000; i++) {
    nw_pool_stats_t st;
    nw_pool_stats(p, &st);
    if (st.running == 1) break;
    usleep(1000);
  }
  nw_pool_close(p);
  nw_task_t *late = new_task(p, "reverse", 9, NULL, 0);
  CHECK_EQ(nw_pool_submit(p, late), -ESHUTDOWN);
  nw_task_t *got[5] = {0};
  CHECK_EQ(collect(p, &o, got, 5, 4), 4);
  for (int i = 1; i < 5; i++) CHECK(got[i] && got[i]->status == NW_POOL_REJECTED);
  CHECK(!nw_pool_threads_done(p));
  atomic_store(&gate, 1);
  CHECK_EQ(collect(p, &o, got, 5, 1), 1);
  CHECK(got[0] && got[0]->status == 0);
  for (int i = 0; i < 1000 && !nw_pool_threads_done(p); i++) usleep(1000);
  CHECK(nw_pool_threads_done(p));
  for (int i = 0; i < 5; i++) free_task(ts[i]);
  free_task(late);
  nw_pool_destroy(p);
  nw_pool_free(p);
  owner_fini(&o);
}

/* destroy with a running kernel that polls: it stops, the pool joins. */
static void test_destroy_busy(void) {
  owner_t o;
  owner_init(&o);
  nw_pool_t *p = make_pool(&o, 2, 0);
  REQUIRE(p);
  nw_task_t *ts[6];
  for (int i = 0; i < 6; i++) ts[i] = new_task(p, "spin", (uint64_t)i, NULL, 0);
  int err;
  CHECK_EQ(nw_pool_submit_batch(p, ts, 6, &err), 6);
  usleep(5000);
  int64_t t0 = nw_now_ns();
  nw_pool_destroy(p);
  CHECK(nw_now_ns() - t0 < 5000000000LL);
  int n = 0;
  for (nw_task_t *t = nw_pool_drain(p); t; t = t->next) {
    CHECK(t->status == NW_CANCELLED || t->status == NW_POOL_REJECTED);
    n++;
  }
  CHECK_EQ(n, 6);
  for (int i = 0; i < 6; i++) free_task(ts[i]);
  nw_pool_free(p);
  owner_fini(&o);
}

/* The same tests with threads that spin before they sleep. */
/* Threads of this process, from /proc/self/status. */
static int thread_count(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  int n = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "Threads: %d", &n) == 1) break;
  if (f) fclose(f);
  return n;
}

static atomic_int detached, released;
static void on_detach(nw_task_t *t, void *arg) {
  CHECK(arg == &detached);
  atomic_fetch_add(&detached, 1);
}
static void on_release(nw_task_t *t) {
  CHECK_EQ(t->status, 0);
  atomic_fetch_add(&released, 1);
  free_task(t);
}
static bool is_gate(const nw_task_t *t, void *arg) {
  return t->kernel == (uint32_t)(uintptr_t)arg;
}

/* Kernels that poll the cancel flag let nw_pool_join_within join at once. */
static void test_join_within(void) {
  owner_t o;
  owner_init(&o);
  nw_pool_t *p = make_pool(&o, 2, 0);
  REQUIRE(p);
  nw_task_t *ts[3];
  for (int i = 0; i < 3; i++) ts[i] = new_task(p, "spin", (uint64_t)i, NULL, 0);
  int err;
  CHECK_EQ(nw_pool_submit_batch(p, ts, 3, &err), 3);
  usleep(5000);
  int64_t t0 = nw_now_ns();
  CHECK_EQ(nw_pool_join_within(p, 2000000000LL), 0);
  CHECK(nw_now_ns() - t0 < 1000000000LL);
  CHECK(nw_pool_threads_done(p));
  CHECK_EQ(nw_pool_join_within(p, 0), 0); /* joined: idempotent */
  int n = 0;
  for (nw_task_t *t = nw_pool_drain(p), *next; t; t = next, n++) {
    next = t->next;
    free_task(t);
  }
  CHECK_EQ(n, 3);
  nw_pool_free(p);
  owner_fini(&o);
}

/* A kernel that ignores cancellation: the owner waits a bounded time, then
 * abandons the pool; the kernel runs on, and once it returns its task goes
 * to release() and the threads exit and free the pool (ASan's leak check
 * sees it). */
static void test_abandon(void) {
  owner_t o;
  owner_init(&o);
  int threads_before = thread_count();
  nw_pool_t *p = make_pool(&o, 2, 0);
  REQUIRE(p);
  atomic_store(&gate, 0);
  atomic_store(&detached, 0);
  atomic_store(&released, 0);
  nw_task_t *ts[4];
  for (int i = 0; i < 3; i++) ts[i] = new_task(p, "gate", (uint64_t)i, NULL, 0);
  ts[3] = new_task(p, "reverse", 3, (uint8_t *)"ab", 2);
  int err;
  /* Two gates run; the third gate and the reverse wait in the queue. */
  CHECK_EQ(nw_pool_submit_batch(p, ts, 4, &err), 4);
  usleep(20000);
  int64_t t0 = nw_now_ns();
  CHECK_EQ(nw_pool_join_within(p, 50000000LL), -ETIMEDOUT);
  int64_t waited = nw_now_ns() - t0;
  CHECK(waited >= 40000000LL && waited < 2000000000LL);
  uintptr_t gate_kernel = (uintptr_t)nw_pool_find_kernel(p, "gate");
  uintptr_t other = (uintptr_t)nw_pool_find_kernel(p, "bytesum");
  CHECK(nw_pool_any_running(p, is_gate, (void *)gate_kernel));
  CHECK(!nw_pool_any_running(p, is_gate, (void *)other));
  nw_task_t *finished = nw_pool_abandon(p, on_detach, &detached, on_release);
  CHECK_EQ(atomic_load(&detached), 2);
  int n = 0;
  for (nw_task_t *t = finished, *next; t; t = next, n++) {
    next = t->next;
    CHECK_EQ(t->status, NW_POOL_REJECTED);
    free_task(t);
  }
  CHECK_EQ(n, 2);
  CHECK_EQ(atomic_load(&released), 0);
  atomic_store(&gate, 1);
  for (int i = 0; i < 500 && (atomic_load(&released) < 2 || thread_count() > threads_before); i++)
    usleep(10000);
  CHECK_EQ(atomic_load(&released), 2);
  /* The abandoned pool's threads are gone. (Fewer than before is fine: a
   * thread an earlier test detached may have ended meanwhile.) */
  CHECK(thread_count() <= threads_before);
  owner_fini(&o);
}

/* Abandoning a pool whose kernels have all returned meanwhile frees it at
 * once. */
static void test_abandon_idle(void) {
  owner_t o;
  owner_init(&o);
  nw_pool_t *p = make_pool(&o, 3, 0);
  REQUIRE(p);
  nw_task_t *t = new_task(p, "reverse", 1, (uint8_t *)"xy", 2);
  CHECK_EQ(nw_pool_submit(p, t), 0);
  CHECK(owner_wait(&o));
  nw_pool_close(p);
  for (int i = 0; i < 500 && !nw_pool_threads_done(p); i++) usleep(1000);
  nw_task_t *finished = nw_pool_abandon(p, NULL, NULL, on_release);
  CHECK(finished == t);
  if (finished) {
    CHECK(finished->next == NULL);
    CHECK(memcmp(finished->io.out, "yx", 2) == 0);
    free_task(finished);
  }
  owner_fini(&o);
}

static void test_spinning_threads(void) {
  spin_ns = 200000;
  test_results();
  test_many();
  test_queue_full_and_cancel();
  test_cancel_running();
  test_close();
  test_destroy_busy();
  spin_ns = 0;
}

/* Inputs the pool thread copies itself (nw_task_t.src): the kernel sees
 * the bytes, the source is left alone, a kernel that gives its input back
 * hands over the copy, and a source that is no longer mapped fails the task
 * with -EFAULT instead of crashing. */
static void test_copy_in(void) {
  CHECK(nw_pool_copy_in_available());
  owner_t o;
  owner_init(&o);
  nw_pool_t *p = make_pool(&o, 2, 0);
  REQUIRE(p);
  size_t small = 100000, big = ((size_t)9 << 20) + 3; /* big: past the kept buffer */
  uint8_t *a = malloc(small), *b = malloc(big);
  REQUIRE(a && b);
  double sa = 0, sb = 0;
  for (size_t i = 0; i < small; i++) sa += (a[i] = (uint8_t)(i * 7));
  for (size_t i = 0; i < big; i++) sb += (b[i] = (uint8_t)(i * 13));
  long pg = sysconf(_SC_PAGESIZE);
  uint8_t *gone = mmap(NULL, (size_t)pg * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(gone != MAP_FAILED);
  munmap(gone, (size_t)pg * 4);
  enum { N = 8 };
  nw_task_t *ts[N];
  const char *names[N] = {"bytesum", "inc", "bytesum", "inc", "bytesum", "inc", "bytesum", "bytesum"};
  const uint8_t *srcs[N] = {a, a, b, b, a, a, gone, gone};
  size_t lens[N] = {small, small, big, big, small, small, (size_t)pg * 4, 1};
  for (int i = 0; i < N; i++) {
    ts[i] = new_task(p, names[i], (uint64_t)i, NULL, lens[i]);
    ts[i]->src = srcs[i];
  }
  int err = 0;
  CHECK_EQ(nw_pool_submit_batch(p, ts, N, &err), N);
  nw_task_t *got[N] = {0};
  CHECK_EQ(collect(p, &o, got, N, N), N);
  for (int i = 0; i < N; i++) REQUIRE(got[i]);
  for (int i = 0; i < 6; i++) {
    CHECK_EQ(got[i]->status, 0);
    bool in_place = strcmp(names[i], "inc") == 0;
    CHECK_EQ(got[i]->owned, in_place);
    if (in_place) {
      REQUIRE(got[i]->io.data);
      CHECK(got[i]->io.data != srcs[i]);
      size_t bad = 0;
      for (size_t k = 0; k < lens[i]; k++) bad += got[i]->io.data[k] != (uint8_t)(srcs[i][k] + 1);
      CHECK_EQ(bad, 0);
      free(got[i]->io.data);
    } else {
      CHECK(got[i]->io.data == NULL);
      CHECK(got[i]->io.number == (srcs[i] == a ? sa : sb));
    }
  }
  CHECK_EQ(got[6]->status, -EFAULT);
  CHECK_EQ(got[7]->status, -EFAULT);
  CHECK(!got[6]->owned && got[6]->io.data == NULL);
  /* The sources were only read. */
  CHECK_EQ(a[1], 7);
  CHECK_EQ(b[1], 13);
  for (int i = 0; i < N; i++) free_task(got[i]);
  free(a);
  free(b);
  nw_pool_destroy(p);
  nw_pool_free(p);
  owner_fini(&o);
}

static void test_histogram(void) {
  nw_hist_t h;
  memset(&h, 0, sizeof h);
  CHECK(nw_hist_percentile(&h, 0.5) == 0);
  for (int i = 1; i <= 1000; i++) nw_hist_record(&h, (int64_t)i * 1000);
  double p50 = nw_hist_percentile(&h, 0.5), p99 = nw_hist_percentile(&h, 0.99);
  CHECK(p50 >= 500000 * 0.93 && p50 <= 500000 * 1.07);
  CHECK(p99 >= 990000 * 0.93 && p99 <= 990000 * 1.07);
  CHECK(nw_hist_percentile(&h, 1) == 1000000);
  CHECK(nw_hist_percentile(&h, 0) == 1000);
}

/* Which inputs are used in place and which are copied, and by whom. */
static void test_input_plan(void) {
  CHECK_EQ(nw_pool_input_plan(0, false), NW_POOL_INPUT_IN_PLACE);
  CHECK_EQ(nw_pool_input_plan(1 << 20, true), NW_POOL_INPUT_IN_PLACE);
  CHECK_EQ(nw_pool_input_plan(1, false), NW_POOL_INPUT_COPY_NOW);
  CHECK_EQ(nw_pool_input_plan(NW_POOL_COPY_LATER_MIN - 1, false), NW_POOL_INPUT_COPY_NOW);
  /* This process may use process_vm_readv (test_copy_in checks it). */
  CHECK_EQ(nw_pool_input_plan(NW_POOL_COPY_LATER_MIN, false), NW_POOL_INPUT_COPY_LATER);
}

TEST_MAIN(T(test_create_args), T(test_registry), T(test_results), T(test_output_bounds),
          T(test_many), T(test_queue_full_and_cancel), T(test_cancel_running), T(test_close),
          T(test_destroy_busy), T(test_join_within), T(test_abandon),
          T(test_abandon_idle), T(test_spinning_threads), T(test_copy_in),
          T(test_input_plan), T(test_histogram))
