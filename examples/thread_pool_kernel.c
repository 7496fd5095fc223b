/*
 * A user kernel library for ThreadPool: "upper" (ASCII upper case of the
 * input) and "count" (how many times each byte value occurs, as 256 u32).
 *
 * Build (one line, in an app that has native-workers installed):
 *   cc -shared -fPIC -O2 -I node_modules/native-workers/include -o libexample_kernels.so thread_pool_kernel.c
 *
 * Use:
 *   const pool = new ThreadPool();
 *   pool.load('./libexample_kernels.so');           // -> ['upper', 'count']
 *   await pool.run('upper', 'hello');               // -> <Buffer 48 45 4c 4c 4f>
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <native_workers.h>

/* Runs on a pool thread; polls the cancel flag every 64 KiB. */
static int upper(nw_kernel_io_t *io) {
  uint8_t *out = nw_output(io, io->len);
  if (!out) return -ENOMEM;
  for (size_t i = 0; i < io->len; i++) {
    if ((i & 0xffff) == 0 && nw_cancelled(io)) return NW_CANCELLED;
    uint8_t c = io->data[i];
    out[i] = (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) : c;
  }
  return 0;
}

static int count(nw_kernel_io_t *io) {
  uint32_t *hist = nw_output(io, 256 * sizeof(uint32_t));
  if (!hist) return -ENOMEM;
  memset(hist, 0, 256 * sizeof(uint32_t));
  for (size_t i = 0; i < io->len; i++) hist[io->data[i]]++;
  return 0;
}

static const nw_kernel_def_t kernels[] = {
    {"upper", upper, 0},
    {"count", count, 0},
};

NW_EXPORT const nw_kernel_table_t *nw_kernels(void) {
  static const nw_kernel_table_t table = NW_KERNEL_TABLE(kernels);
  return &table;
}
