/*
 * native_workers.h - the C ABI for kernels that ThreadPool runs.
 *
 * A kernel is a plain C function that a pool thread calls with one task's
 * input. A kernel library is a shared object that exports one function,
 * `nw_kernels`, returning a table of named kernels; `pool.load(path)` opens
 * it with dlopen and adds the names to `pool.kernels`.
 *
 *   #include <native_workers.h>
 *
 *   static int upper(nw_kernel_io_t *io) {
 *     uint8_t *out = nw_output(io, io->len);
 *     if (!out) return -ENOMEM;
 *     for (size_t i = 0; i < io->len; i++) {
 *       if ((i & 0xffff) == 0 && nw_cancelled(io)) return NW_CANCELLED;
 *       out[i] = (uint8_t)toupper(io->data[i]);
 *     }
 *     return 0;
 *   }
 *
 *   static const nw_kernel_def_t defs[] = {{"upper", upper, 0}};
 *   NW_EXPORT const nw_kernel_table_t *nw_kernels(void) {
 *     static const nw_kernel_table_t t = NW_KERNEL_TABLE(defs);
 *     return &t;
 *   }
 *
 * Build: cc -shared -fPIC -O2 -I<package>/include -o libupper.so upper.c
 *
 * Versioning. NW_ABI_VERSION changes whenever a struct below changes in a way
 * an old library cannot handle; the pool refuses a table with another
 * version. Fields are only ever appended, and `struct_size` tells the pool
 * how much of a table the library knows.
 *
 * Threads. A kernel runs on a pool thread, never on a JavaScript thread, and
 * may run concurrently with itself on other tasks: keep state in locals or
 * behind your own locks. It must not call Node-API or V8.
 */
#ifndef NATIVE_WORKERS_H
#define NATIVE_WORKERS_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NW_ABI_VERSION 2u

#if defined(__GNUC__)
#define NW_EXPORT __attribute__((visibility("default")))
#else
#define NW_EXPORT
#endif

/* Element type of the input view (the JavaScript TypedArray it came from). */
typedef enum nw_elem_type {
  NW_BYTES = 0,     /* Buffer, Uint8Array, DataView, ArrayBuffer, string */
  NW_INT8 = 1,
  NW_UINT8_CLAMPED = 2,
  NW_INT16 = 3,
  NW_UINT16 = 4,
  NW_INT32 = 5,
  NW_UINT32 = 6,
  NW_FLOAT32 = 7,
  NW_FLOAT64 = 8,
  NW_BIGINT64 = 9,
  NW_BIGUINT64 = 10,
  NW_UINT8 = 11
} nw_elem_type_t;

/* Bytes per element of an input of element type `t` (1 for NW_BYTES and
 * for a value that is no nw_elem_type_t). */
static inline size_t nw_elem_size(uint32_t t) {
  switch (t) {
    case NW_INT16: case NW_UINT16: return 2;
    case NW_INT32: case NW_UINT32: case NW_FLOAT32: return 4;
    case NW_FLOAT64: case NW_BIGINT64: case NW_BIGUINT64: return 8;
    default: return 1;
  }
}

/* What the task resolves with, chosen by the kernel (io->result). */
typedef enum nw_result_kind {
  NW_RESULT_BUFFER = 0,    /* a Buffer over io->out (the default) */
  NW_RESULT_UNDEFINED = 1, /* nothing */
  NW_RESULT_NUMBER = 2,    /* io->number */
  NW_RESULT_INPUT = 3,     /* the input itself, changed in place: the caller's
                              SharedArrayBuffer view, or a new view of the
                              same type over the private copy */
  NW_RESULT_BIGINT = 4     /* io->bigint_lo/hi as a signed 128-bit BigInt */
} nw_result_kind_t;

/* Return values of a kernel besides 0 (success) and negative errnos. */
#define NW_FAILED (-10000)   /* failed; io->error says why */
#define NW_CANCELLED (-10001) /* stopped because nw_cancelled() said so */

/*
 * One task, as the kernel sees it. The pool fills the input fields and
 * zeroes the rest before the call.
 */
typedef struct nw_kernel_io {
  uint32_t struct_size;          /* sizeof(nw_kernel_io_t) of the pool */
  uint32_t elem_type;            /* nw_elem_type_t of the input */
  uint8_t *data;                 /* input bytes; writable. Shared memory when
                                    the caller passed a SharedArrayBuffer
                                    view (other threads may see writes),
                                    otherwise a private copy */
  size_t len;                    /* input length in bytes */
  const volatile uint32_t *cancel; /* nonzero once the task is aborted */

  /* Output, set by the kernel. A Buffer result is the first `out_len`
   * bytes of the buffer that nw_output or nw_output_resize gave: the pool
   * allocates it, knows its size and owns it, also on failure. An `out`
   * that did not come from them, or an `out_len` past the size asked for,
   * fails the task with ERR_KERNEL_INVALID_OUTPUT (the pool neither reads
   * nor frees such a pointer). */
  uint32_t result;               /* nw_result_kind_t */
  void *out;
  size_t out_len;
  double number;                 /* NW_RESULT_NUMBER */
  uint64_t bigint_lo;            /* NW_RESULT_BIGINT, two's complement */
  int64_t bigint_hi;

  /* Failure details, set by the kernel with nw_fail(). */
  char error[256];               /* message ("" for a default one) */
  char code[48];                 /* Error.code ("" for ERR_KERNEL_FAILED) */
  int32_t errnum;                /* Error.errno when nonzero */

  /* Set by the pool; call it through nw_output and nw_output_resize. With
   * keep 0 it replaces the output by `len` new bytes, with keep 1 it
   * resizes it, keeping its first bytes. */
  void *(*output_fn)(struct nw_kernel_io *io, size_t len, int keep);
} nw_kernel_io_t;

/* A kernel: 0 on success, NW_CANCELLED, NW_FAILED or a negative errno. */
typedef int (*nw_kernel_fn)(nw_kernel_io_t *io);

typedef struct nw_kernel_def {
  const char *name;  /* 1..63 bytes of [A-Za-z0-9_.:-] */
  nw_kernel_fn fn;
  uint32_t flags;    /* reserved, 0 */
} nw_kernel_def_t;

typedef struct nw_kernel_table {
  uint32_t abi_version;          /* NW_ABI_VERSION */
  uint32_t struct_size;          /* sizeof(nw_kernel_table_t) */
  uint32_t count;
  const nw_kernel_def_t *kernels;
} nw_kernel_table_t;

#define NW_KERNEL_TABLE(defs)                                                 \
  { NW_ABI_VERSION, (uint32_t)sizeof(nw_kernel_table_t),                      \
    (uint32_t)(sizeof(defs) / sizeof((defs)[0])), (defs) }

/* The one symbol a kernel library exports. */
typedef const nw_kernel_table_t *(*nw_kernels_fn)(void);
#define NW_KERNELS_SYMBOL "nw_kernels"

/* Has the task been aborted? Cheap: poll it every few microseconds of work. */
static inline int nw_cancelled(const nw_kernel_io_t *io) {
#if defined(__GNUC__)
  return io->cancel && __atomic_load_n(io->cancel, __ATOMIC_RELAXED) != 0;
#else
  return io->cancel && *io->cancel != 0;
#endif
}

/* Allocate `len` bytes of output and make the result a Buffer of them:
 * io->out points there, io->out_len is len. NULL when out of memory (then
 * there is no output). Calling it again replaces (and frees) the previous
 * output. A kernel may lower io->out_len afterwards, never raise it. */
static inline void *nw_output(nw_kernel_io_t *io, size_t len) {
  return io->output_fn ? io->output_fn(io, len, 0) : NULL;
}

/* Resize the output to `len` bytes, keeping what it held up to the smaller
 * size (as realloc does), and set io->out and io->out_len to the new
 * buffer. NULL when out of memory: then the previous output stays as it
 * was. Without a previous output it is nw_output. */
static inline void *nw_output_resize(nw_kernel_io_t *io, size_t len) {
  return io->output_fn ? io->output_fn(io, len, 1) : NULL;
}

/* Record why the kernel failed; returns NW_FAILED for `return nw_fail(...)`.
 * `code` may be NULL. */
static inline int nw_fail(nw_kernel_io_t *io, const char *code,
                          const char *message) {
  size_t i = 0;
  if (message)
    for (; message[i] && i + 1 < sizeof io->error; i++) io->error[i] = message[i];
  io->error[i] = 0;
  i = 0;
  if (code)
    for (; code[i] && i + 1 < sizeof io->code; i++) io->code[i] = code[i];
  io->code[i] = 0;
  return NW_FAILED;
}

#ifdef __cplusplus
}
#endif

#endif
