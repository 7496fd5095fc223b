/*
 * A process-wide registry of doorbells (see bell.h).
 */
#include "core/bell.h"

#include <errno.h>
#include <stdlib.h>

/* The id of slot `slot` in generation `gen`: never 0, positive as an
 * int32 (NW_BELL_GEN_MASK keeps the top bit clear). */
static uint32_t make_id(uint32_t slot, uint32_t gen) {
  return ((gen & NW_BELL_GEN_MASK) << NW_BELL_SLOT_BITS) | (slot + 1u);
}

/* The slot of a live id, or NULL. Caller holds the lock. */
static nw_bell_slot_t *find(nw_bellreg_t *reg, uint32_t id) {
  uint32_t idx = id & NW_BELL_MAX_SLOTS;
  if (idx == 0 || idx > reg->nslots) return NULL;
  nw_bell_slot_t *s = &reg->slots[idx - 1];
  if (!s->fn || make_id(idx - 1, s->gen) != id) return NULL;
  return s;
}

/*
 * Any thread. The table grows under the writer lock, so no ring can be
 * looking at the old one.
 */
int nw_bellreg_add(nw_bellreg_t *reg, nw_bell_fn fn, void *arg, uint32_t *id) {
  if (!reg || !fn || !id) return -EINVAL;
  int rc = 0;
  pthread_rwlock_wrlock(&reg->lock);
  uint32_t slot;
  if (reg->free_head) {
    slot = reg->free_head - 1;
    reg->free_head = reg->slots[slot].next_free;
  } else {
    if (reg->nslots == NW_BELL_MAX_SLOTS) {
      rc = -ENOSPC;
      goto out;
    }
    if (reg->nslots == reg->cap) {
      uint32_t cap = reg->cap ? reg->cap * 2 : 64;
      if (cap > NW_BELL_MAX_SLOTS) cap = NW_BELL_MAX_SLOTS;
      nw_bell_slot_t *s = realloc(reg->slots, cap * sizeof *s);
      if (!s) {
        rc = -ENOMEM;
        goto out;
      }
      reg->slots = s;
      reg->cap = cap;
    }
    slot = reg->nslots++;
    reg->slots[slot].gen = 0;
  }
  reg->slots[slot].fn = fn;
  reg->slots[slot].arg = arg;
  reg->slots[slot].next_free = 0;
  reg->live++;
  *id = make_id(slot, reg->slots[slot].gen);
out:
  pthread_rwlock_unlock(&reg->lock);
  return rc;
}

/* Any thread. Taking the writer lock waits out rings in progress. */
int nw_bellreg_remove(nw_bellreg_t *reg, uint32_t id) {
  if (!reg) return -EINVAL;
  int rc = 0;
  pthread_rwlock_wrlock(&reg->lock);
  nw_bell_slot_t *s = find(reg, id);
  if (!s) {
    rc = -ENOENT;
  } else {
    s->fn = NULL;
    s->arg = NULL;
    s->gen = (s->gen + 1) & NW_BELL_GEN_MASK;
    s->next_free = reg->free_head;
    reg->free_head = (uint32_t)(s - reg->slots) + 1;
    reg->live--;
  }
  pthread_rwlock_unlock(&reg->lock);
  return rc;
}

/* Any thread; the callback runs under the reader lock. */
int nw_bellreg_ring(nw_bellreg_t *reg, uint32_t id) {
  if (!reg) return -EINVAL;
  int rc = -ENOENT;
  pthread_rwlock_rdlock(&reg->lock);
  nw_bell_slot_t *s = find(reg, id);
  if (s) {
    s->fn(s->arg);
    rc = 0;
  }
  pthread_rwlock_unlock(&reg->lock);
  return rc;
}

/* Any thread, though only the owner of `id` can rely on the answer (see
 * bell.h). NULL for an id that is not registered. */
void *nw_bellreg_get(nw_bellreg_t *reg, uint32_t id) {
  if (!reg) return NULL;
  pthread_rwlock_rdlock(&reg->lock);
  nw_bell_slot_t *s = find(reg, id);
  void *arg = s ? s->arg : NULL;
  pthread_rwlock_unlock(&reg->lock);
  return arg;
}

/* Any thread. A snapshot: bells may come and go right after. */
uint32_t nw_bellreg_live(nw_bellreg_t *reg) {
  pthread_rwlock_rdlock(&reg->lock);
  uint32_t n = reg->live;
  pthread_rwlock_unlock(&reg->lock);
  return n;
}

/* No thread may use the registry during or after the call (it frees the
 * table; the registered callbacks' arguments stay their owners'). */
void nw_bellreg_destroy(nw_bellreg_t *reg) {
  free(reg->slots);
  reg->slots = NULL;
  reg->nslots = reg->cap = reg->free_head = reg->live = 0;
}
