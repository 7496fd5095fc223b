/*
 * clock.h - the one clock of the core: CLOCK_MONOTONIC in nanoseconds.
 *
 * Every deadline, timeout, spin window and statistic in src/core counts in
 * these units, so values from different modules compare directly (a
 * futex deadline from nw_ring_*, a pool task's t_submit, a poll timeout in
 * nw_spawn_sync). Any thread; no state.
 */
#ifndef NW_CORE_CLOCK_H
#define NW_CORE_CLOCK_H

#include <limits.h>
#include <stdint.h>
#include <time.h>

/* Nanoseconds on CLOCK_MONOTONIC (never goes back; unrelated to the wall
 * clock). */
static inline int64_t nw_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A poll(2) timeout for what is left until `deadline_ns`: -1 without a
 * deadline (deadline_ns < 0), else the milliseconds left rounded up (so a
 * wait never returns just before the deadline and spins), 0 once it has
 * passed, at most INT_MAX. */
static inline int nw_poll_ms_until(int64_t deadline_ns) {
  if (deadline_ns < 0) return -1;
  int64_t left = deadline_ns - nw_now_ns();
  if (left <= 0) return 0;
  int64_t ms = (left + 999999) / 1000000;
  return ms > INT_MAX ? INT_MAX : (int)ms;
}

#endif
