/*
 * pool_cache.c - reusable task records and input copies of a pool's owner
 * (see pool_cache.h). Owner thread only.
 */
#include "core/pool_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Owner thread. */
int nw_pool_cache_init(nw_pool_cache_t *c, size_t record_size) {
  if (!c || record_size < sizeof(nw_task_t)) return -EINVAL;
  memset(c, 0, sizeof *c);
  c->record_size = record_size;
  return 0;
}

/* Records live and spare together that the recent peak allows. */
static uint64_t record_limit(const nw_pool_cache_t *c) {
  uint64_t m = c->peak_cur > c->peak_prev ? c->peak_cur : c->peak_prev;
  return m > NW_POOL_CACHE_SPARE_MIN ? m : NW_POOL_CACHE_SPARE_MIN;
}

/* The most recently released spare record, taken off the list, or NULL. */
static void *pop_spare(nw_pool_cache_t *c) {
  nw_task_t *t = c->spare;
  if (t) {
    c->spare = t->next;
    c->nspare--;
  }
  return t;
}

/* Owner thread. */
void *nw_pool_cache_record(nw_pool_cache_t *c) {
  void *rec = pop_spare(c);
  if (rec)
    memset(rec, 0, c->record_size);
  else if (!(rec = calloc(1, c->record_size)))
    return NULL;
  c->live++;
  return rec;
}

/* Owner thread. `rec` must have come from nw_pool_cache_record of `c`. */
void nw_pool_cache_release_record(nw_pool_cache_t *c, void *rec) {
  if (!rec) return;
  c->live--;
  if (!c->closed && c->nspare + c->live < record_limit(c)) {
    nw_task_t *t = rec;
    t->next = c->spare;
    c->spare = t;
    c->nspare++;
  } else {
    free(rec);
  }
}

/* Owner thread. */
uint64_t nw_pool_cache_live(const nw_pool_cache_t *c) { return c->live; }

/* Owner thread. */
void nw_pool_cache_tick(nw_pool_cache_t *c, int64_t now_ns) {
  if (c->live > c->peak_cur) c->peak_cur = c->live;
  if (now_ns - c->window_start < NW_POOL_CACHE_WINDOW_NS) return;
  c->window_start = now_ns;
  c->peak_prev = c->peak_cur;
  c->peak_cur = c->live;
  uint64_t limit = record_limit(c);
  while (c->spare && c->nspare + c->live > limit) free(pop_spare(c));
}

/* The smallest kept copy of at least `len` bytes and at most twice that,
 * taken out of the cache; NULL when none fits. */
static void *take_copy(nw_pool_cache_t *c, size_t len, size_t *cap) {
  int best = -1;
  for (int i = 0; i < c->ncopies; i++)
    if (c->copy_cap[i] >= len && c->copy_cap[i] / 2 <= len &&
        (best < 0 || c->copy_cap[i] < c->copy_cap[best]))
      best = i;
  if (best < 0) return NULL;
  void *m = c->copy_mem[best];
  *cap = c->copy_cap[best];
  c->copy_bytes -= *cap;
  c->ncopies--;
  c->copy_mem[best] = c->copy_mem[c->ncopies];
  c->copy_cap[best] = c->copy_cap[c->ncopies];
  return m;
}

/* Owner thread. The buffer is the caller's until released (or freed). */
void *nw_pool_cache_copy(nw_pool_cache_t *c, const void *src, size_t len,
                         size_t *cap) {
  void *m = len >= NW_POOL_CACHE_COPY_MIN ? take_copy(c, len, cap) : NULL;
  if (!m) {
    m = malloc(len ? len : 1);
    if (!m) return NULL;
    *cap = len;
  }
  if (len) memcpy(m, src, len);
  return m;
}

/* Owner thread. */
void nw_pool_cache_release_copy(nw_pool_cache_t *c, void *mem, size_t cap) {
  if (!mem) return;
  if (!c->closed && cap >= NW_POOL_CACHE_COPY_MIN &&
      c->ncopies < NW_POOL_CACHE_COPY_SLOTS &&
      c->copy_bytes + cap <= NW_POOL_CACHE_COPY_BYTES) {
    c->copy_mem[c->ncopies] = mem;
    c->copy_cap[c->ncopies] = cap;
    c->ncopies++;
    c->copy_bytes += cap;
    return;
  }
  free(mem);
}

/* Owner thread. */
void nw_pool_cache_close(nw_pool_cache_t *c) {
  c->closed = true;
  while (c->spare) free(pop_spare(c));
  for (int i = 0; i < c->ncopies; i++) free(c->copy_mem[i]);
  c->ncopies = 0;
  c->copy_bytes = 0;
}
