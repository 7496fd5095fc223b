/* Unit tests of src/core/bell.c. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/bell.h"
#include "testing.h"

static void bump(void *arg) { __atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED); }

static void test_add_ring_remove(void) {
  nw_bellreg_t reg = NW_BELLREG_INIT;
  int hits = 0;
  uint32_t id = 0;
  REQUIRE(nw_bellreg_add(&reg, bump, &hits, &id) == 0);
  CHECK(id != 0);
  CHECK((int32_t)id > 0);
  CHECK_EQ(nw_bellreg_ring(&reg, id), 0);
  CHECK_EQ(nw_bellreg_ring(&reg, id), 0);
  CHECK_EQ(hits, 2);
  CHECK(nw_bellreg_get(&reg, id) == &hits);
  CHECK_EQ(nw_bellreg_live(&reg), 1);
  CHECK_EQ(nw_bellreg_remove(&reg, id), 0);
  CHECK_EQ(nw_bellreg_remove(&reg, id), -ENOENT);
  CHECK_EQ(nw_bellreg_ring(&reg, id), -ENOENT);
  CHECK_EQ(hits, 2);
  CHECK_EQ(nw_bellreg_live(&reg), 0);
  nw_bellreg_destroy(&reg);
}

static void test_bad_input(void) {
  nw_bellreg_t reg = NW_BELLREG_INIT;
  uint32_t id;
  CHECK_EQ(nw_bellreg_add(&reg, NULL, NULL, &id), -EINVAL);
  CHECK_EQ(nw_bellreg_add(&reg, bump, NULL, NULL), -EINVAL);
  CHECK_EQ(nw_bellreg_add(NULL, bump, NULL, &id), -EINVAL);
  CHECK_EQ(nw_bellreg_ring(&reg, 0), -ENOENT);
  CHECK_EQ(nw_bellreg_ring(&reg, 12345), -ENOENT);
  CHECK_EQ(nw_bellreg_ring(&reg, 0xffffffffu), -ENOENT);
  CHECK_EQ(nw_bellreg_remove(&reg, 7), -ENOENT);
  CHECK(nw_bellreg_get(&reg, 7) == NULL);
  nw_bellreg_destroy(&reg);
}

/* A reused slot gets a new generation: the old id stays dead. */
static void test_stale_ids(void) {
  nw_bellreg_t reg = NW_BELLREG_INIT;
  int a = 0, b = 0;
  uint32_t ida, idb;
  REQUIRE(nw_bellreg_add(&reg, bump, &a, &ida) == 0);
  REQUIRE(nw_bellreg_remove(&reg, ida) == 0);
  REQUIRE(nw_bellreg_add(&reg, bump, &b, &idb) == 0);
  CHECK(ida != idb);
  CHECK_EQ(ida & NW_BELL_MAX_SLOTS, idb & NW_BELL_MAX_SLOTS);
  CHECK_EQ(nw_bellreg_ring(&reg, ida), -ENOENT);
  CHECK_EQ(nw_bellreg_ring(&reg, idb), 0);
  CHECK_EQ(a, 0);
  CHECK_EQ(b, 1);
  nw_bellreg_destroy(&reg);
}

/* Many bells at once: the table grows and every id rings its own. */
static void test_growth(void) {
  nw_bellreg_t reg = NW_BELLREG_INIT;
  enum { N = 1000 };
  static int hits[N];
  static uint32_t ids[N];
  for (int i = 0; i < N; i++) REQUIRE(nw_bellreg_add(&reg, bump, &hits[i], &ids[i]) == 0);
  for (int i = 0; i < N; i++) CHECK_EQ(nw_bellreg_ring(&reg, ids[i]), 0);
  for (int i = 0; i < N; i += 2) CHECK_EQ(nw_bellreg_remove(&reg, ids[i]), 0);
  for (int i = 0; i < N; i++) nw_bellreg_ring(&reg, ids[i]);
  for (int i = 0; i < N; i++) CHECK_EQ(hits[i], i % 2 ? 2 : 1);
  CHECK_EQ(nw_bellreg_live(&reg), N / 2);
  for (int i = 1; i < N; i += 2) CHECK_EQ(nw_bellreg_remove(&reg, ids[i]), 0);
  CHECK_EQ(nw_bellreg_live(&reg), 0);
  nw_bellreg_destroy(&reg);
}

/* Ringers race an owner that adds and removes: after remove returns, the
 * removed bell's counter never moves again. */
typedef struct {
  nw_bellreg_t *reg;
  uint32_t *shared_id;
  int stop;
} race_t;

static void *ringer(void *arg) {
  race_t *r = arg;
  while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE))
    nw_bellreg_ring(r->reg, __atomic_load_n(r->shared_id, __ATOMIC_ACQUIRE));
  return NULL;
}

static void test_race(void) {
  nw_bellreg_t reg = NW_BELLREG_INIT;
  uint32_t shared = 0;
  race_t r = {&reg, &shared, 0};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, ringer, &r);
  int bad = 0;
  for (int round = 0; round < 2000; round++) {
    int hits = 0;
    uint32_t id;
    REQUIRE(nw_bellreg_add(&reg, bump, &hits, &id) == 0);
    __atomic_store_n(&shared, id, __ATOMIC_RELEASE);
    REQUIRE(nw_bellreg_remove(&reg, id) == 0);
    int after = __atomic_load_n(&hits, __ATOMIC_RELAXED);
    for (int k = 0; k < 50; k++) sched_yield();
    if (__atomic_load_n(&hits, __ATOMIC_RELAXED) != after) bad++;
  }
  __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  CHECK_EQ(bad, 0);
  CHECK_EQ(nw_bellreg_live(&reg), 0);
  nw_bellreg_destroy(&reg);
}

TEST_MAIN({"add_ring_remove", test_add_ring_remove}, {"bad_input", test_bad_input},
          {"stale_ids", test_stale_ids}, {"growth", test_growth}, {"race", test_race})
