/*
 * kernels.h - ThreadPool's built-in kernels: noop, sleep, sha256, sha512,
 * crc32, deflate, inflate, gzip, gunzip, brotliCompress, brotliDecompress,
 * sort, sum. They link against the OpenSSL, zlib and Brotli symbols of the
 * node binary, so only the addon builds them (not the plain C tests).
 */
#ifndef NW_CORE_KERNELS_H
#define NW_CORE_KERNELS_H

#include "native_workers.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The table of built-in kernels (static; never freed). Any thread. */
const nw_kernel_table_t *nw_builtin_kernels(void);

#ifdef __cplusplus
}
#endif

#endif
