/*
 * brotli_api.h - the few Brotli entry points the built-in kernels call.
 *
 * Node ships Brotli inside its binary and exports its symbols, but not its
 * headers. These declarations follow the stable public API of Brotli 1.x
 * (c/include/brotli/encode.h and decode.h of https://github.com/google/brotli;
 * reference: https://www.brotli.org/encode.html and decode.html). Only
 * functions and constants present since Brotli 1.0 are declared, with their
 * documented signatures; the enums carry the documented values.
 */
#ifndef NW_CORE_BROTLI_API_H
#define NW_CORE_BROTLI_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int nw_brotli_bool; /* BROTLI_BOOL: 0 false, 1 true */

typedef void *(*nw_brotli_alloc_func)(void *opaque, size_t size);
typedef void (*nw_brotli_free_func)(void *opaque, void *address);

/* encode.h */
typedef struct BrotliEncoderStateStruct BrotliEncoderState;

typedef enum {
  NW_BROTLI_OPERATION_PROCESS = 0,
  NW_BROTLI_OPERATION_FLUSH = 1,
  NW_BROTLI_OPERATION_FINISH = 2,
  NW_BROTLI_OPERATION_EMIT_METADATA = 3
} nw_brotli_encoder_operation;

BrotliEncoderState *BrotliEncoderCreateInstance(nw_brotli_alloc_func alloc_func,
                                                nw_brotli_free_func free_func,
                                                void *opaque);
void BrotliEncoderDestroyInstance(BrotliEncoderState *state);
nw_brotli_bool BrotliEncoderCompressStream(BrotliEncoderState *state,
                                           nw_brotli_encoder_operation op,
                                           size_t *available_in,
                                           const uint8_t **next_in,
                                           size_t *available_out,
                                           uint8_t **next_out,
                                           size_t *total_out);
nw_brotli_bool BrotliEncoderIsFinished(BrotliEncoderState *state);
nw_brotli_bool BrotliEncoderHasMoreOutput(BrotliEncoderState *state);

/* decode.h */
typedef struct BrotliDecoderStateStruct BrotliDecoderState;

typedef enum {
  NW_BROTLI_DECODER_RESULT_ERROR = 0,
  NW_BROTLI_DECODER_RESULT_SUCCESS = 1,
  NW_BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT = 2,
  NW_BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT = 3
} nw_brotli_decoder_result;

/* BrotliDecoderErrorCode: 0 no error, > 0 success states, < 0 errors. */
typedef int nw_brotli_decoder_error_code;

BrotliDecoderState *BrotliDecoderCreateInstance(nw_brotli_alloc_func alloc_func,
                                                nw_brotli_free_func free_func,
                                                void *opaque);
void BrotliDecoderDestroyInstance(BrotliDecoderState *state);
nw_brotli_decoder_result BrotliDecoderDecompressStream(
    BrotliDecoderState *state, size_t *available_in, const uint8_t **next_in,
    size_t *available_out, uint8_t **next_out, size_t *total_out);
nw_brotli_decoder_error_code BrotliDecoderGetErrorCode(
    const BrotliDecoderState *state);
const char *BrotliDecoderErrorString(nw_brotli_decoder_error_code c);

#ifdef __cplusplus
}
#endif

#endif
