/*
 * libFuzzer target: a ring whose memory a peer wrote (src/core/ring.c).
 *
 * Input: one byte of misalignment, two bytes of region size, then the
 * bytes of the ring from its aligned header on (zeroes past the input).
 * nw_ring_attach validates it; a ring it accepts then gets every read,
 * write and wait of ring.h, bounded, with no timeouts. Findings: a crash
 * or a sanitizer report (reads past the region, overflows), and a call
 * that does not return (libFuzzer's -timeout). The region is exactly
 * `size` bytes of heap, so AddressSanitizer sees any byte read past it.
 *
 * Built with -DNW_RING_TURN_NS (see test/c/Makefile) so that a stuck turn
 * of a multi-producer ring costs a millisecond, not a second.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ring.h"

#define MAX_DATA 4096u

static void on_message(void *ctx, const uint8_t *msg, uint32_t len) {
  uint32_t *sum = ctx;
  for (uint32_t i = 0; i < len; i++) *sum += msg[i];
}

/* Every operation of ring.h on an attached ring; results are not checked
 * (any error is fine), only that they come back. */
static void exercise(nw_ring_t *r) {
  static uint8_t buf[MAX_DATA], scratch[MAX_DATA];
  static const uint8_t payload[40] = "a message written by the fuzz target";
  uint32_t len = 0, sum = 0;
  r->spin_ns = 0;
  for (int i = 0; i < 8; i++)
    if (nw_ring_try_read(r, buf, sizeof buf, &len) == -EAGAIN) break;
  nw_ring_try_read(r, buf, 3, &len); /* -ENOBUFS path */
  nw_ring_read_batch(r, on_message, &sum, 16, scratch);
  nw_ring_try_write(r, payload, sizeof payload);
  nw_ring_iov_t iov[3] = {{payload, 1}, {payload, 0}, {payload, sizeof payload}};
  nw_ring_write_batch(r, iov, 3);
  (void)nw_ring_readable(r);
  (void)nw_ring_writable(r, 8);
  (void)nw_ring_used(r);
  nw_ring_wait_readable(r, 0);
  nw_ring_wait_writable(r, 8, 0);
  nw_ring_read(r, buf, sizeof buf, &len, 0);
  nw_ring_write(r, payload, 5, 0);
  nw_ring_close(r);
  for (int i = 0; i < 8; i++)
    if (nw_ring_try_read(r, buf, sizeof buf, &len) != 0) break;
  nw_ring_try_write(r, payload, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n) {
  if (n < 3) return 0;
  size_t skew = in[0] & 63u;
  size_t size = ((size_t)in[1] | (size_t)in[2] << 8) %
                (NW_RING_ALIGN + NW_RING_HEADER_SIZE + MAX_DATA + 1);
  in += 3;
  n -= 3;
  uint8_t *raw = malloc(skew + size ? skew + size : 1);
  if (!raw) return 0;
  uint8_t *mem = raw + skew;
  memset(mem, 0, size);
  size_t base = nw_ring_base_offset(mem);
  if (base < size) memcpy(mem + base, in, n < size - base ? n : size - base);
  nw_ring_t r;
  if (nw_ring_attach(&r, mem, size) == 0) exercise(&r);
  free(raw);
  return 0;
}
