/* Unit tests of src/core/pool_cache.c. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool_cache.h"
#include "testing.h"

/* An owner's task record: the core's task first, then the owner's own. */
typedef struct {
  nw_task_t t;
  char extra[40];
} record_t;

static void test_init(void) {
  nw_pool_cache_t c;
  CHECK_EQ(nw_pool_cache_init(&c, sizeof(nw_task_t) - 1), -EINVAL);
  CHECK_EQ(nw_pool_cache_init(NULL, sizeof(record_t)), -EINVAL);
  CHECK_EQ(nw_pool_cache_init(&c, sizeof(record_t)), 0);
  CHECK_EQ(nw_pool_cache_live(&c), 0);
  nw_pool_cache_close(&c);
  nw_pool_cache_close(&c); /* idempotent */
}

/* A released record comes back zeroed for the next task. */
static void test_records_reused_zeroed(void) {
  nw_pool_cache_t c;
  REQUIRE(nw_pool_cache_init(&c, sizeof(record_t)) == 0);
  record_t *a = nw_pool_cache_record(&c);
  REQUIRE(a != NULL);
  CHECK_EQ(nw_pool_cache_live(&c), 1);
  CHECK_EQ(a->t.id, 0);
  a->t.id = 7;
  memset(a->extra, 0xab, sizeof a->extra);
  nw_pool_cache_release_record(&c, a);
  CHECK_EQ(nw_pool_cache_live(&c), 0);
  record_t *b = nw_pool_cache_record(&c);
  CHECK(b == a);
  CHECK_EQ(b->t.id, 0);
  CHECK_EQ(b->extra[sizeof b->extra - 1], 0);
  nw_pool_cache_release_record(&c, b);
  nw_pool_cache_release_record(&c, NULL);
  nw_pool_cache_close(&c);
}

/* Allocate n records, then release them all. */
static void churn(nw_pool_cache_t *c, int n, int64_t tick_at) {
  void **recs = calloc((size_t)n, sizeof *recs);
  for (int i = 0; i < n; i++) recs[i] = nw_pool_cache_record(c);
  if (tick_at >= 0) nw_pool_cache_tick(c, tick_at);
  for (int i = 0; i < n; i++) nw_pool_cache_release_record(c, recs[i]);
  free(recs);
}

/* Without a recorded peak the cache keeps NW_POOL_CACHE_SPARE_MIN records;
 * a peak raises that for one to two windows, then the spares past the
 * minimum go. */
static void test_spares_follow_the_peak(void) {
  nw_pool_cache_t c;
  REQUIRE(nw_pool_cache_init(&c, sizeof(record_t)) == 0);
  churn(&c, NW_POOL_CACHE_SPARE_MIN + 100, -1);
  CHECK_EQ(c.nspare, NW_POOL_CACHE_SPARE_MIN);

  const int peak = NW_POOL_CACHE_SPARE_MIN * 2 + 5;
  int64_t t0 = 10 * NW_POOL_CACHE_WINDOW_NS;
  churn(&c, peak, t0);
  CHECK_EQ(c.nspare, peak);
  nw_pool_cache_tick(&c, t0 + NW_POOL_CACHE_WINDOW_NS / 2); /* same window */
  CHECK_EQ(c.nspare, peak);
  nw_pool_cache_tick(&c, t0 + NW_POOL_CACHE_WINDOW_NS); /* the peak was last window's */
  CHECK_EQ(c.nspare, peak);
  nw_pool_cache_tick(&c, t0 + 2 * NW_POOL_CACHE_WINDOW_NS); /* gone */
  CHECK_EQ(c.nspare, NW_POOL_CACHE_SPARE_MIN);
  CHECK_EQ(nw_pool_cache_live(&c), 0);
  nw_pool_cache_close(&c);
  CHECK_EQ(c.nspare, 0);
}

/* Live records count toward the limit: with the minimum all live, a
 * released record is freed, not kept. */
static void test_live_counts(void) {
  nw_pool_cache_t c;
  REQUIRE(nw_pool_cache_init(&c, sizeof(record_t)) == 0);
  void **recs = calloc(NW_POOL_CACHE_SPARE_MIN + 1, sizeof *recs);
  for (int i = 0; i <= NW_POOL_CACHE_SPARE_MIN; i++) recs[i] = nw_pool_cache_record(&c);
  CHECK_EQ(nw_pool_cache_live(&c), NW_POOL_CACHE_SPARE_MIN + 1);
  nw_pool_cache_release_record(&c, recs[0]);
  CHECK_EQ(c.nspare, 0);
  nw_pool_cache_release_record(&c, recs[1]);
  CHECK_EQ(c.nspare, 1);
  for (int i = 2; i <= NW_POOL_CACHE_SPARE_MIN; i++) nw_pool_cache_release_record(&c, recs[i]);
  free(recs);
  nw_pool_cache_close(&c);
}

static void fill(uint8_t *p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed + i * 31);
}

/* Large copies are kept and reused by copies of at least half their size;
 * small ones are never kept. */
static void test_copies(void) {
  nw_pool_cache_t c;
  REQUIRE(nw_pool_cache_init(&c, sizeof(record_t)) == 0);
  static uint8_t src[256 * 1024];
  fill(src, sizeof src, 3);
  size_t cap = 0;
  void *small = nw_pool_cache_copy(&c, src, 100, &cap);
  REQUIRE(small != NULL);
  CHECK_EQ(cap, 100);
  CHECK(memcmp(small, src, 100) == 0);
  nw_pool_cache_release_copy(&c, small, cap);
  CHECK_EQ(c.ncopies, 0);

  void *big = nw_pool_cache_copy(&c, src, 100 * 1024, &cap);
  REQUIRE(big != NULL);
  CHECK_EQ(cap, 100 * 1024);
  nw_pool_cache_release_copy(&c, big, cap);
  CHECK_EQ(c.ncopies, 1);
  /* 80 KiB reuses the 100 KiB buffer; its bytes are the new input's. */
  void *again = nw_pool_cache_copy(&c, src + 1, 80 * 1024, &cap);
  CHECK(again == big);
  CHECK_EQ(cap, 100 * 1024);
  CHECK(memcmp(again, src + 1, 80 * 1024) == 0);
  CHECK_EQ(c.ncopies, 0);
  nw_pool_cache_release_copy(&c, again, cap);
  /* Below NW_POOL_CACHE_COPY_MIN a copy never comes from the cache. */
  void *other = nw_pool_cache_copy(&c, src, 40 * 1024, &cap);
  CHECK(other != big);
  CHECK_EQ(c.ncopies, 1);
  free(other); /* taken out of the cache's hands */
  /* Nor one for which every kept buffer is too small or more than twice
   * too large; otherwise the smallest that fits is taken. */
  void *huge = nw_pool_cache_copy(&c, src, 250 * 1024, &cap);
  CHECK(huge != big);
  nw_pool_cache_release_copy(&c, huge, cap);
  void *mid = nw_pool_cache_copy(&c, src, 120 * 1024, &cap);
  CHECK(mid != big && mid != huge);
  nw_pool_cache_release_copy(&c, mid, cap);
  CHECK_EQ(c.ncopies, 3);
  void *pick = nw_pool_cache_copy(&c, src, 90 * 1024, &cap);
  CHECK(pick == big);
  CHECK_EQ(cap, 100 * 1024);
  nw_pool_cache_release_copy(&c, pick, cap);
  void *empty = nw_pool_cache_copy(&c, src, 0, &cap);
  CHECK(empty != NULL);
  CHECK_EQ(cap, 0);
  nw_pool_cache_release_copy(&c, empty, cap);
  nw_pool_cache_release_copy(&c, NULL, 0);
  nw_pool_cache_close(&c);
  CHECK_EQ(c.ncopies, 0);
  CHECK_EQ(c.copy_bytes, 0);
}

/* The kept copies stay under NW_POOL_CACHE_COPY_BYTES and the slot count;
 * after close nothing is kept. */
static void test_copy_limits(void) {
  nw_pool_cache_t c;
  REQUIRE(nw_pool_cache_init(&c, sizeof(record_t)) == 0);
  size_t each = 1 << 20;
  int n = (int)(NW_POOL_CACHE_COPY_BYTES / each) + 3;
  for (int i = 0; i < n; i++) nw_pool_cache_release_copy(&c, malloc(each), each);
  CHECK_EQ(c.copy_bytes, NW_POOL_CACHE_COPY_BYTES);
  CHECK(c.copy_bytes <= NW_POOL_CACHE_COPY_BYTES);
  nw_pool_cache_close(&c);
  for (int i = 0; i < NW_POOL_CACHE_COPY_SLOTS + 2; i++)
    nw_pool_cache_release_copy(&c, malloc(NW_POOL_CACHE_COPY_MIN), NW_POOL_CACHE_COPY_MIN);
  CHECK_EQ(c.ncopies, 0);
  void *rec = nw_pool_cache_record(&c);
  nw_pool_cache_release_record(&c, rec);
  CHECK_EQ(c.nspare, 0);

  REQUIRE(nw_pool_cache_init(&c, sizeof(record_t)) == 0);
  for (int i = 0; i < NW_POOL_CACHE_COPY_SLOTS + 2; i++)
    nw_pool_cache_release_copy(&c, malloc(NW_POOL_CACHE_COPY_MIN), NW_POOL_CACHE_COPY_MIN);
  CHECK_EQ(c.ncopies, NW_POOL_CACHE_COPY_SLOTS);
  nw_pool_cache_close(&c);
}

TEST_MAIN(T(test_init), T(test_records_reused_zeroed), T(test_spares_follow_the_peak),
          T(test_live_counts), T(test_copies), T(test_copy_limits))
