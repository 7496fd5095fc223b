/*
 * kernels.c - ThreadPool's built-in kernels.
 *
 * The digest and compression kernels call the OpenSSL, zlib and Brotli that
 * the node binary itself contains (the addon leaves those symbols undefined
 * and the dynamic linker resolves them against the executable), with the
 * parameters Node's crypto and zlib modules use by default, so their output
 * is byte for byte what Node produces. Every kernel runs on a pool thread
 * and polls the task's cancel flag between slices of work.
 */
#include "core/kernels.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "core/brotli_api.h"
#include "core/clock.h"

/* Work between two looks at the cancel flag. */
#define SLICE ((size_t)1 << 20)
/* Largest output a kernel makes: Node's buffer.constants.MAX_LENGTH. */
#define MAX_OUTPUT ((size_t)1 << 32)

/* Fail the task as Node does when a Buffer cannot be allocated. Returns
 * NW_FAILED. */
static int no_memory(nw_kernel_io_t *io) {
  return nw_fail(io, "ERR_MEMORY_ALLOCATION_FAILED", "Failed to allocate memory");
}

/* Fail the task as Node does for an output past buffer.constants.MAX_LENGTH.
 * Returns NW_FAILED. */
static int too_large(nw_kernel_io_t *io) {
  return nw_fail(io, "ERR_BUFFER_TOO_LARGE",
                 "Cannot create a Buffer larger than 4294967296 bytes");
}

/* ---- testing --------------------------------------------------------------- */

static int k_noop(nw_kernel_io_t *io) {
  io->result = NW_RESULT_UNDEFINED;
  return 0;
}

/* Input: a float64 of milliseconds (empty: 0). Sleeps in 1 ms slices. */
static int k_sleep(nw_kernel_io_t *io) {
  double ms = 0;
  if (io->len == sizeof ms) memcpy(&ms, io->data, sizeof ms);
  if (!(ms > 0)) ms = 0;
  if (ms > 9e12) ms = 9e12; /* 285 years: keeps the deadline in range */
  io->result = NW_RESULT_UNDEFINED;
  int64_t end_ns = nw_now_ns() + (int64_t)(ms * 1e6);
  for (;;) {
    if (nw_cancelled(io)) return NW_CANCELLED;
    int64_t left = end_ns - nw_now_ns();
    if (left <= 0) return 0;
    if (left > 1000000) left = 1000000;
    struct timespec ts = {0, (long)left};
    nanosleep(&ts, NULL);
  }
}

/* ---- digests --------------------------------------------------------------- */

static int digest(nw_kernel_io_t *io, const EVP_MD *md) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) return no_memory(io);
  int rc = 0;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int outlen = 0;
  if (EVP_DigestInit_ex(ctx, md, NULL) != 1) {
    rc = nw_fail(io, "ERR_CRYPTO_OPERATION_FAILED", "Digest method not supported");
    goto out;
  }
  for (size_t off = 0; off < io->len || off == 0;) {
    size_t n = io->len - off < SLICE ? io->len - off : SLICE;
    if (n && EVP_DigestUpdate(ctx, io->data + off, n) != 1) {
      rc = nw_fail(io, "ERR_CRYPTO_OPERATION_FAILED", "Digest update failed");
      goto out;
    }
    off += n;
    if (off >= io->len) break;
    if (nw_cancelled(io)) {
      rc = NW_CANCELLED;
      goto out;
    }
  }
  if (EVP_DigestFinal_ex(ctx, out, &outlen) != 1) {
    rc = nw_fail(io, "ERR_CRYPTO_OPERATION_FAILED", "Digest final failed");
    goto out;
  }
  if (!nw_output(io, outlen)) {
    rc = no_memory(io);
    goto out;
  }
  memcpy(io->out, out, outlen);
out:
  EVP_MD_CTX_free(ctx);
  return rc;
}

/* crypto.createHash('sha256' / 'sha512').update(input).digest(). */
static int k_sha256(nw_kernel_io_t *io) { return digest(io, EVP_sha256()); }
static int k_sha512(nw_kernel_io_t *io) { return digest(io, EVP_sha512()); }

/* ---- zlib ------------------------------------------------------------------ */

static int k_crc32(nw_kernel_io_t *io) {
  unsigned long crc = crc32_z(0L, Z_NULL, 0);
  for (size_t off = 0; off < io->len;) {
    size_t n = io->len - off < SLICE ? io->len - off : SLICE;
    crc = crc32_z(crc, io->data + off, n);
    off += n;
    if (off < io->len && nw_cancelled(io)) return NW_CANCELLED;
  }
  io->result = NW_RESULT_NUMBER;
  io->number = (double)(uint32_t)crc;
  return 0;
}

/* Node's names and default messages for zlib's return codes
 * (src/node_zlib.cc, ZlibContext::ErrorForMessage). */
static int zlib_fail(nw_kernel_io_t *io, int err, const char *msg) {
  const char *code = "Z_UNKNOWN";
  const char *dflt = "Zlib error";
  switch (err) {
    case Z_NEED_DICT: code = "Z_NEED_DICT"; dflt = "Missing dictionary"; break;
    case Z_ERRNO: code = "Z_ERRNO"; break;
    case Z_STREAM_ERROR: code = "Z_STREAM_ERROR"; break;
    case Z_DATA_ERROR: code = "Z_DATA_ERROR"; break;
    case Z_MEM_ERROR: code = "Z_MEM_ERROR"; break;
    case Z_BUF_ERROR: code = "Z_BUF_ERROR"; break;
    case Z_VERSION_ERROR: code = "Z_VERSION_ERROR"; break;
  }
  nw_fail(io, code, msg ? msg : dflt);
  io->errnum = err;
  return NW_FAILED;
}

/* Make room for at least `more` bytes of output past `used` (the output's
 * size is io->out_len until trim()). */
static int grow(nw_kernel_io_t *io, size_t used, size_t more) {
  if (io->out_len - used >= more) return 0;
  size_t cap = io->out_len ? io->out_len : 64 * 1024;
  while (cap - used < more) {
    if (cap >= MAX_OUTPUT) return too_large(io);
    cap *= 2;
  }
  if (cap > MAX_OUTPUT) cap = MAX_OUTPUT;
  if (!nw_output_resize(io, cap)) return no_memory(io);
  return 0;
}

/* The first output buffer of a decompression: four times the input (a
 * typical ratio for text), at least 1 KiB and at most 64 MiB; grow() takes
 * it from there. */
static size_t decompressed_guess(size_t in_len) {
  size_t guess = in_len < SIZE_MAX / 4 ? in_len * 4 : in_len;
  if (guess < 1024) guess = 1024;
  if (guess > ((size_t)64 << 20)) guess = (size_t)64 << 20;
  return guess;
}

/* Shrink the output to what was written (when the smaller buffer cannot
 * be had, the result is the first `used` bytes of the larger one). */
static void trim(nw_kernel_io_t *io, size_t used) {
  if (used < io->out_len && !nw_output_resize(io, used)) io->out_len = used;
  io->result = NW_RESULT_BUFFER;
}

/* ---- streaming (de)compression ------------------------------------------------ */

/*
 * One call of a streaming library: consume input from *in (*in_left bytes
 * left) and write at most *room bytes at *out, advancing all four. Returns
 * 1 once the stream is complete, 0 to be called again, or a kernel failure
 * (NW_FAILED with io's error set).
 */
typedef int (*stream_step_fn)(void *state, nw_kernel_io_t *io,
                              const uint8_t **in, size_t *in_left,
                              uint8_t **out, size_t *room);

/* Pool thread. Run `step` over the whole input into a Buffer result that
 * starts at `first_out` bytes (0: 64 KiB) and doubles as needed; before
 * each call there is room for at least 64 KiB more, of which the call gets
 * at most SLICE, so that the cancel flag is looked at between slices.
 * Returns 0, NW_CANCELLED or the failure. */
static int run_stream(nw_kernel_io_t *io, stream_step_fn step, void *state,
                      size_t first_out) {
  const uint8_t *in = io->data;
  size_t in_left = io->len, used = 0;
  int rc = first_out ? grow(io, 0, first_out) : 0;
  while (rc == 0 && (rc = grow(io, used, 64 * 1024)) == 0) {
    size_t room = io->out_len - used < SLICE ? io->out_len - used : SLICE, left = room;
    uint8_t *out = (uint8_t *)io->out + used;
    int r = step(state, io, &in, &in_left, &out, &left);
    used += room - left;
    if (r == 1) {
      trim(io, used);
      return 0;
    }
    if (r < 0) return r;
    if (nw_cancelled(io)) return NW_CANCELLED;
  }
  return rc;
}

/* Feed a zlib stream the next piece of input, at most 1 GiB (zlib counts
 * in uInt), and the room for output; call `fn` (deflate or inflate) with
 * Z_FINISH, or with `finish_only_last` Z_NO_FLUSH until the piece is the
 * last; take back what it consumed and wrote. Returns zlib's result. */
static int zlib_call(z_stream *s, int (*fn)(z_stream *, int),
                     bool finish_only_last, const uint8_t **in,
                     size_t *in_left, uint8_t **out, size_t *room) {
  size_t chunk = *in_left > 0x40000000u ? 0x40000000u : *in_left;
  s->next_in = (Bytef *)*in;
  s->avail_in = (uInt)chunk;
  s->next_out = *out;
  s->avail_out = (uInt)*room;
  int err = fn(s, !finish_only_last || chunk == *in_left ? Z_FINISH : Z_NO_FLUSH);
  *in += chunk - s->avail_in;
  *in_left -= chunk - s->avail_in;
  *out = s->next_out;
  *room = s->avail_out;
  return err;
}

/* One deflate() call of compress_zlib (a stream_step_fn). */
static int deflate_step(void *state, nw_kernel_io_t *io, const uint8_t **in,
                        size_t *in_left, uint8_t **out, size_t *room) {
  z_stream *s = state;
  int err = zlib_call(s, deflate, true, in, in_left, out, room);
  if (err == Z_STREAM_END) return 1;
  if (err != Z_OK && err != Z_BUF_ERROR) return zlib_fail(io, err, s->msg);
  return 0;
}

/* zlib.deflate / zlib.gzip with Node's defaults: level
 * Z_DEFAULT_COMPRESSION, windowBits 15 (+16 for gzip), memLevel 8,
 * Z_DEFAULT_STRATEGY; the whole input in one Z_FINISH call sequence. */
static int compress_zlib(nw_kernel_io_t *io, int window_bits) {
  z_stream s;
  memset(&s, 0, sizeof s);
  int err = deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8,
                         Z_DEFAULT_STRATEGY);
  if (err != Z_OK) return zlib_fail(io, err, s.msg);
  uLong bound = deflateBound(&s, io->len > 0xffffffffu ? 0xffffffffu : (uLong)io->len);
  int rc = run_stream(io, deflate_step, &s, bound < 64 ? 64 : (size_t)bound);
  deflateEnd(&s);
  return rc;
}

typedef struct {
  z_stream s;
  bool gzip;
} inflate_state_t;

/* A gzip stream may be followed by further gzip members (unless the next
 * byte is 0); input that ends before the stream does is "unexpected end
 * of file". */
static int inflate_step(void *state, nw_kernel_io_t *io, const uint8_t **in,
                        size_t *in_left, uint8_t **out, size_t *room) {
  inflate_state_t *st = state;
  int err = zlib_call(&st->s, inflate, false, in, in_left, out, room);
  if (err == Z_STREAM_END) {
    if (!(st->gzip && *in_left > 0 && **in != 0)) return 1;
    inflateReset(&st->s);
    return 0;
  }
  if (err == Z_NEED_DICT) return zlib_fail(io, err, "Missing dictionary");
  if (err == Z_BUF_ERROR && *in_left == 0 && *room != 0)
    return zlib_fail(io, Z_BUF_ERROR, "unexpected end of file");
  if (err != Z_OK && err != Z_BUF_ERROR) return zlib_fail(io, err, st->s.msg);
  return 0;
}

/* zlib.inflate / zlib.gunzip as Node runs them. */
static int decompress_zlib(nw_kernel_io_t *io, int window_bits, bool gzip) {
  inflate_state_t st;
  memset(&st, 0, sizeof st);
  st.gzip = gzip;
  int err = inflateInit2(&st.s, window_bits);
  if (err != Z_OK) return zlib_fail(io, err, st.s.msg);
  int rc = run_stream(io, inflate_step, &st, decompressed_guess(io->len));
  inflateEnd(&st.s);
  return rc;
}

/* The zlib kernels: windowBits 15 for zlib framing, +16 for gzip. */
static int k_deflate(nw_kernel_io_t *io) { return compress_zlib(io, 15); }
static int k_gzip(nw_kernel_io_t *io) { return compress_zlib(io, 15 + 16); }
static int k_inflate(nw_kernel_io_t *io) { return decompress_zlib(io, 15, false); }
static int k_gunzip(nw_kernel_io_t *io) { return decompress_zlib(io, 15 + 16, true); }

/* ---- brotli ---------------------------------------------------------------- */

static int brotli_compress_step(void *state, nw_kernel_io_t *io,
                                const uint8_t **in, size_t *in_left,
                                uint8_t **out, size_t *room) {
  if (!BrotliEncoderCompressStream(state, NW_BROTLI_OPERATION_FINISH, in_left, in,
                                   room, out, NULL))
    return nw_fail(io, "ERR_BROTLI_COMPRESSION_FAILED", "Compression failed");
  return BrotliEncoderIsFinished(state) ? 1 : 0;
}

/* zlib.brotliCompress with Node's defaults: no parameter set, so quality
 * 11, lgwin 22, mode generic; all input with BROTLI_OPERATION_FINISH. */
static int k_brotli_compress(nw_kernel_io_t *io) {
  BrotliEncoderState *s = BrotliEncoderCreateInstance(NULL, NULL, NULL);
  if (!s) return no_memory(io);
  int rc = run_stream(io, brotli_compress_step, s, 0);
  BrotliEncoderDestroyInstance(s);
  return rc;
}

/* Errors as Node reports them: "Decompression failed" with code
 * "ERR_" + BrotliDecoderErrorString(code) and errno the (negative) code;
 * input that ends early is zlib's "unexpected end of file". */
static int brotli_decompress_step(void *state, nw_kernel_io_t *io,
                                  const uint8_t **in, size_t *in_left,
                                  uint8_t **out, size_t *room) {
  nw_brotli_decoder_result r =
      BrotliDecoderDecompressStream(state, in_left, in, room, out, NULL);
  if (r == NW_BROTLI_DECODER_RESULT_SUCCESS) return 1;
  if (r == NW_BROTLI_DECODER_RESULT_ERROR) {
    int code = BrotliDecoderGetErrorCode(state);
    const char *name = BrotliDecoderErrorString(code);
    char buf[sizeof io->code];
    size_t i = 0;
    const char *pre = "ERR_";
    for (; pre[i]; i++) buf[i] = pre[i];
    for (size_t j = 0; name && name[j] && i + 1 < sizeof buf; j++) buf[i++] = name[j];
    buf[i] = 0;
    nw_fail(io, buf, "Decompression failed");
    io->errnum = code;
    return NW_FAILED;
  }
  if (r == NW_BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) {
    nw_fail(io, "Z_BUF_ERROR", "unexpected end of file");
    io->errnum = Z_BUF_ERROR;
    return NW_FAILED;
  }
  return 0;
}

/* zlib.brotliDecompress with Node's defaults. */
static int k_brotli_decompress(nw_kernel_io_t *io) {
  BrotliDecoderState *s = BrotliDecoderCreateInstance(NULL, NULL, NULL);
  if (!s) return no_memory(io);
  int rc = run_stream(io, brotli_decompress_step, s, decompressed_guess(io->len));
  BrotliDecoderDestroyInstance(s);
  return rc;
}

/* ---- typed arrays ---------------------------------------------------------- */

#define CMP_INT(name, type)                                                   \
  static int name(const void *a, const void *b) {                             \
    type x = *(const type *)a, y = *(const type *)b;                          \
    return (x > y) - (x < y);                                                 \
  }
CMP_INT(cmp_i8, int8_t)
CMP_INT(cmp_u8, uint8_t)
CMP_INT(cmp_i16, int16_t)
CMP_INT(cmp_u16, uint16_t)
CMP_INT(cmp_i32, int32_t)
CMP_INT(cmp_u32, uint32_t)
CMP_INT(cmp_i64, int64_t)
CMP_INT(cmp_u64, uint64_t)

/* TypedArray.prototype.sort order for floats: numbers ascending, -0 before
 * +0, NaN last. */
#define CMP_FLOAT(name, type)                                                 \
  static int name(const void *a, const void *b) {                             \
    type x = *(const type *)a, y = *(const type *)b;                          \
    bool xn = isnan(x), yn = isnan(y);                                        \
    if (xn || yn) return xn - yn;                                             \
    if (x < y) return -1;                                                     \
    if (x > y) return 1;                                                      \
    return (int)(signbit(y) != 0) - (int)(signbit(x) != 0);                   \
  }
CMP_FLOAT(cmp_f32, float)
CMP_FLOAT(cmp_f64, double)

/* Sorts the input in place; the result is the input view. */
static int k_sort(nw_kernel_io_t *io) {
  int (*cmp)(const void *, const void *);
  switch (io->elem_type) {
    case NW_INT8: cmp = cmp_i8; break;
    case NW_UINT8: case NW_UINT8_CLAMPED: case NW_BYTES: cmp = cmp_u8; break;
    case NW_INT16: cmp = cmp_i16; break;
    case NW_UINT16: cmp = cmp_u16; break;
    case NW_INT32: cmp = cmp_i32; break;
    case NW_UINT32: cmp = cmp_u32; break;
    case NW_FLOAT32: cmp = cmp_f32; break;
    case NW_FLOAT64: cmp = cmp_f64; break;
    case NW_BIGINT64: cmp = cmp_i64; break;
    case NW_BIGUINT64: cmp = cmp_u64; break;
    default: return -EINVAL;
  }
  size_t es = nw_elem_size(io->elem_type);
  if (nw_cancelled(io)) return NW_CANCELLED;
  if (io->len / es > 1) qsort(io->data, io->len / es, es, cmp); /* data may be NULL when empty */
  io->result = NW_RESULT_INPUT;
  return 0;
}

/* Sum left to right in float64, as Array.prototype.reduce((a, b) => a + b)
 * does; BigInt arrays sum exactly into a BigInt. */
static int k_sum(nw_kernel_io_t *io) {
  size_t es = nw_elem_size(io->elem_type), n = io->len / es;
  const uint8_t *p = io->data;
  if (io->elem_type == NW_BIGINT64 || io->elem_type == NW_BIGUINT64) {
    __int128 acc = 0;
    for (size_t i = 0; i < n; i++) {
      if ((i & 0xfffff) == 0xfffff && nw_cancelled(io)) return NW_CANCELLED;
      if (io->elem_type == NW_BIGINT64) {
        int64_t v;
        memcpy(&v, p + i * 8, 8);
        acc += v;
      } else {
        uint64_t v;
        memcpy(&v, p + i * 8, 8);
        acc += (__int128)v;
      }
    }
    io->result = NW_RESULT_BIGINT;
    io->bigint_lo = (uint64_t)acc;
    io->bigint_hi = (int64_t)(acc >> 64);
    return 0;
  }
  double acc = 0;
  for (size_t i = 0; i < n; i++) {
    if ((i & 0xfffff) == 0xfffff && nw_cancelled(io)) return NW_CANCELLED;
    switch (io->elem_type) {
      case NW_INT8: acc += ((const int8_t *)p)[i]; break;
      case NW_INT16: { int16_t v; memcpy(&v, p + i * 2, 2); acc += v; break; }
      case NW_UINT16: { uint16_t v; memcpy(&v, p + i * 2, 2); acc += v; break; }
      case NW_INT32: { int32_t v; memcpy(&v, p + i * 4, 4); acc += v; break; }
      case NW_UINT32: { uint32_t v; memcpy(&v, p + i * 4, 4); acc += v; break; }
      case NW_FLOAT32: { float v; memcpy(&v, p + i * 4, 4); acc += (double)v; break; }
      case NW_FLOAT64: { double v; memcpy(&v, p + i * 8, 8); acc += v; break; }
      default: acc += p[i]; break;
    }
  }
  io->result = NW_RESULT_NUMBER;
  io->number = acc;
  return 0;
}

static const nw_kernel_def_t builtin_defs[] = {
    {"noop", k_noop, 0},
    {"sleep", k_sleep, 0},
    {"sha256", k_sha256, 0},
    {"sha512", k_sha512, 0},
    {"crc32", k_crc32, 0},
    {"deflate", k_deflate, 0},
    {"inflate", k_inflate, 0},
    {"gzip", k_gzip, 0},
    {"gunzip", k_gunzip, 0},
    {"brotliCompress", k_brotli_compress, 0},
    {"brotliDecompress", k_brotli_decompress, 0},
    {"sort", k_sort, 0},
    {"sum", k_sum, 0},
};

static const nw_kernel_table_t builtin_table = NW_KERNEL_TABLE(builtin_defs);

/* Any thread: the table is constant. */
const nw_kernel_table_t *nw_builtin_kernels(void) { return &builtin_table; }
