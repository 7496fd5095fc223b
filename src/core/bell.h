/*
 * bell.h - a process-wide registry of doorbells, addressed by 32-bit ids.
 *
 * A doorbell is a callback that wakes some thread (in the addon: a
 * uv_async_t on the event loop of the thread that reads a channel). The
 * thread that owns it registers it and gets an id small enough to store in
 * shared memory (an Int32Array slot of a SharedArrayBuffer); any thread of
 * the process that finds that id can then ring it. Removal is synchronous:
 * once nw_bellreg_remove returns, the callback is not running and will never
 * run again for that id, so the owner may free what it points at. Ids carry
 * a generation, so a stale id read from shared memory after the bell went
 * away rings nothing (-ENOENT) instead of someone else's bell.
 *
 * Ringing takes a reader lock, adding and removing a writer lock; the
 * callback runs under the reader lock and must be short and non-blocking
 * (uv_async_send is).
 */
#ifndef NW_CORE_BELL_H
#define NW_CORE_BELL_H

#include <pthread.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NW_BELL_SLOT_BITS 20u
#define NW_BELL_MAX_SLOTS ((1u << NW_BELL_SLOT_BITS) - 1u)
#define NW_BELL_GEN_MASK 0x7ffu /* 11 bits: ids stay positive int32 */

typedef void (*nw_bell_fn)(void *arg);

typedef struct nw_bell_slot {
  nw_bell_fn fn;       /* NULL when the slot is free */
  void *arg;
  uint32_t gen;        /* bumped each time the slot is freed */
  uint32_t next_free;  /* free list link (slot index + 1, 0 ends) */
} nw_bell_slot_t;

/* All fields are guarded by `lock`. */
typedef struct nw_bellreg {
  pthread_rwlock_t lock;
  nw_bell_slot_t *slots;
  uint32_t nslots;     /* slots in use or on the free list */
  uint32_t cap;        /* allocated slots */
  uint32_t free_head;  /* slot index + 1, 0 when the free list is empty */
  uint32_t live;       /* registered bells */
} nw_bellreg_t;

#define NW_BELLREG_INIT {PTHREAD_RWLOCK_INITIALIZER, NULL, 0, 0, 0, 0}

/*
 * Register `fn(arg)` and store its id (never 0) in *id. Any thread.
 * Returns 0, -EINVAL (NULL fn or id), -ENOMEM, -ENOSPC (no free slot).
 */
int nw_bellreg_add(nw_bellreg_t *reg, nw_bell_fn fn, void *arg, uint32_t *id);

/*
 * Unregister `id`. Any thread (in the addon, the owner's). Waits for a ring
 * of that id in progress to finish. Returns 0, or -ENOENT when the id is not
 * registered (already removed, or stale).
 */
int nw_bellreg_remove(nw_bellreg_t *reg, uint32_t id);

/*
 * Call the callback registered under `id`, under the reader lock. Any
 * thread. Returns 0 rung, -ENOENT no such bell.
 */
int nw_bellreg_ring(nw_bellreg_t *reg, uint32_t id);

/* The argument registered under `id`, or NULL. Only meaningful to a thread
 * that knows the bell cannot be removed meanwhile (its owner). */
void *nw_bellreg_get(nw_bellreg_t *reg, uint32_t id);

/* Number of registered bells (for leak checks in tests). */
uint32_t nw_bellreg_live(nw_bellreg_t *reg);

/* Free the slot table. Nobody may use the registry during or after. */
void nw_bellreg_destroy(nw_bellreg_t *reg);

#ifdef __cplusplus
}
#endif

#endif
