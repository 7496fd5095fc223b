/*
 * pool_cache.h - the owner's memory for a pool's tasks, kept for reuse:
 * task records, and copies of large inputs.
 *
 * Why. A noop-sized task otherwise spends a good part of its time in
 * calloc, free and the page faults of a heap that grows and shrinks with
 * every burst of tasks; and a fresh 1 MiB malloc is a fresh mmap, whose
 * page faults cost more than the copy made into it.
 *
 * Records. Every record is `record_size` bytes and starts with an nw_task_t
 * (the owner's own task type embeds one as its first member). The cache
 * keeps as many records, live and spare together, as were live at the peak
 * of the current and the previous window of NW_POOL_CACHE_WINDOW_NS, and
 * at least NW_POOL_CACHE_SPARE_MIN; once the load drops, the spares past
 * that are freed when a window turns (nw_pool_cache_tick).
 *
 * Copies. Released input copies of at least NW_POOL_CACHE_COPY_MIN bytes
 * are kept, up to NW_POOL_CACHE_COPY_BYTES in at most
 * NW_POOL_CACHE_COPY_SLOTS buffers, for copies of at least half their size.
 *
 * Memory comes from malloc, so a record or copy the owner takes out of the
 * cache's hands (an input copy handed to JavaScript) is freed with free().
 *
 * Threads. The pool's owner thread only; the cache is not thread-safe and
 * pool threads never see it.
 */
#ifndef NW_CORE_POOL_CACHE_H
#define NW_CORE_POOL_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NW_POOL_CACHE_SPARE_MIN 4096
#define NW_POOL_CACHE_WINDOW_NS ((int64_t)2000000000)
#define NW_POOL_CACHE_COPY_MIN ((size_t)64 * 1024)
#define NW_POOL_CACHE_COPY_BYTES ((size_t)32 << 20)
#define NW_POOL_CACHE_COPY_SLOTS 64

typedef struct nw_pool_cache {
  size_t record_size;
  bool closed;                 /* after nw_pool_cache_close: keep nothing */

  /* Records. */
  nw_task_t *spare;            /* freed records, linked by `next` */
  uint64_t nspare;
  uint64_t live;               /* handed out and not yet released */
  uint64_t peak_cur, peak_prev; /* most live in this window and the last */
  int64_t window_start;        /* nw_now_ns() when this window began */

  /* Copies. */
  void *copy_mem[NW_POOL_CACHE_COPY_SLOTS];
  size_t copy_cap[NW_POOL_CACHE_COPY_SLOTS];
  int ncopies;
  size_t copy_bytes;
} nw_pool_cache_t;

/* Prepare an empty cache of records of `record_size` bytes. Returns 0, or
 * -EINVAL when record_size cannot hold an nw_task_t. */
int nw_pool_cache_init(nw_pool_cache_t *c, size_t record_size);

/* A zeroed record, owned by the caller until released; NULL when out of
 * memory. Counts as live. */
void *nw_pool_cache_record(nw_pool_cache_t *c);

/* Give a record back (it is no longer live): kept as a spare while the
 * peak allows, else freed. NULL is ignored. */
void nw_pool_cache_release_record(nw_pool_cache_t *c, void *rec);

/* Records handed out and not yet released. */
uint64_t nw_pool_cache_live(const nw_pool_cache_t *c);

/* After the number of live records changed in bulk (a batch submitted or
 * delivered): record the peak and, once `now_ns` is a window past the
 * last turn, turn the window and free the spares past the new limit. */
void nw_pool_cache_tick(nw_pool_cache_t *c, int64_t now_ns);

/* A copy of src[0, len) in a buffer of at least `len` bytes, from the kept
 * copies when one fits; *cap receives the buffer's size, for the release.
 * NULL when out of memory. len 0 gives a valid 1-byte buffer. */
void *nw_pool_cache_copy(nw_pool_cache_t *c, const void *src, size_t len,
                         size_t *cap);

/* Give back a copy of `cap` bytes (NULL is ignored): kept for reuse, or
 * freed. */
void nw_pool_cache_release_copy(nw_pool_cache_t *c, void *mem, size_t cap);

/* Free every spare record and kept copy; from now on released ones are
 * freed at once. Live records stay the caller's to release. Idempotent. */
void nw_pool_cache_close(nw_pool_cache_t *c);

#ifdef __cplusplus
}
#endif

#endif
