/*
 * Writes the seed corpora of the fuzz targets: gen-corpus DIR makes
 * DIR/ring, DIR/fork-channel and DIR/fdpass, each a few valid (and a few
 * nearly valid) inputs in the format its target documents. The rings are
 * made with ring.c itself, so the seeds follow the real layout.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fork_channel.h"
#include "core/ring.h"

static int nfiles;

static void put(const char *dir, const char *name, const void *p, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
  nfiles++;
}

static void mkdir_or_die(const char *path) {
  if (mkdir(path, 0777) != 0 && errno != EEXIST) {
    perror(path);
    exit(1);
  }
}

/* A ring of `cap` bytes in mode `flags`, its positions started at
 * `start`, with `writes` messages written and `reads` read back, as the
 * ring target's input: skew, size, then the ring from its header on. */
static void ring_seed(const char *dir, uint32_t cap, uint32_t flags, uint32_t start,
                      int writes, int reads, uint8_t skew) {
  size_t size = NW_RING_ALIGN + NW_RING_HEADER_SIZE + cap;
  uint8_t *mem = aligned_alloc(NW_RING_ALIGN, size);
  memset(mem, 0, size);
  nw_ring_t r;
  if (nw_ring_init(&r, mem, size, cap, flags) != 0 || nw_ring_start_at(&r, start) != 0) exit(1);
  for (int i = 0; i < writes; i++) {
    char m[64];
    int l = snprintf(m, sizeof m, "seed message %d %.*s", i, i % 20, "xxxxxxxxxxxxxxxxxxxx");
    nw_ring_try_write(&r, m, (uint32_t)l);
  }
  for (int i = 0; i < reads; i++) {
    char m[256];
    uint32_t l;
    nw_ring_try_read(&r, m, sizeof m, &l);
  }
  size_t body = NW_RING_HEADER_SIZE + cap;
  uint8_t *out = malloc(3 + body);
  out[0] = skew;
  out[1] = (uint8_t)size;
  out[2] = (uint8_t)(size >> 8);
  memcpy(out + 3, mem, body);
  char name[96];
  snprintf(name, sizeof name, "ring-%u-f%u-%08x-w%d-r%d-s%u", cap, flags, start, writes, reads, skew);
  put(dir, name, out, 3 + body);
  free(out);
  free(mem);
}

/* A fork-channel input: header bytes, patches (word, value), socket bytes. */
static void channel_seed(const char *dir, const char *name, uint8_t capsel, uint8_t msgs,
                         const uint32_t (*patches)[2], int npatches, const char *sock) {
  uint8_t out[512];
  size_t n = 0;
  out[n++] = capsel;
  out[n++] = msgs;
  out[n++] = (uint8_t)npatches;
  for (int i = 0; i < npatches; i++) {
    out[n++] = (uint8_t)patches[i][0];
    out[n++] = (uint8_t)(patches[i][0] >> 8);
    memcpy(out + n, &patches[i][1], 4);
    n += 4;
  }
  size_t sl = strlen(sock);
  memcpy(out + n, sock, sl);
  n += sl;
  put(dir, name, out, n);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: gen-corpus DIR\n");
    return 2;
  }
  char d[4096];
  mkdir_or_die(argv[1]);

  snprintf(d, sizeof d, "%s/ring", argv[1]);
  mkdir_or_die(d);
  static const uint32_t modes[] = {0, NW_RING_F_MULTI_PRODUCER, NW_RING_F_MULTI_CONSUMER,
                                   NW_RING_F_ALL};
  for (int m = 0; m < 4; m++) {
    ring_seed(d, 256, modes[m], 0, 0, 0, 0);
    ring_seed(d, 256, modes[m], 0, 5, 2, 16);
    ring_seed(d, 1024, modes[m], 0xffffff00u, 30, 10, 48);
    ring_seed(d, 64, modes[m], 0x7ffffff0u, 3, 0, 4);
  }

  snprintf(d, sizeof d, "%s/fork-channel", argv[1]);
  mkdir_or_die(d);
  /* Word indices: ring 0's header starts at word 1024 (byte 4096). */
  const uint32_t r0 = NW_FORK_CHANNEL_HEADER_SIZE / 4;
  const uint32_t tail_ahead[][2] = {{r0 + NW_RW_PROD_TAIL, 0x1000}};
  const uint32_t bad_len[][2] = {{r0 + NW_RING_HEADER_SIZE / 4, 0x7fffffff}};
  const uint32_t bad_magic[][2] = {{NW_FCW_MAGIC, 0}};
  const uint32_t flags[][2] = {{NW_FCW_SLEEP0_RD, 1}, {NW_FCW_SLEEP1_RD, 1}};
  const uint32_t size_word[][2] = {{NW_FCW_SIZE, 0x100000}, {NW_FCW_RING1, 8}};
  channel_seed(d, "plain", 0, 0, NULL, 0, "");
  channel_seed(d, "messages", 2, 5, NULL, 0, "W");
  channel_seed(d, "fds", 1, 3, NULL, 0, "FWFF");
  channel_seed(d, "tail-ahead", 0, 2, tail_ahead, 1, "W");
  channel_seed(d, "bad-length", 3, 4, bad_len, 1, "");
  channel_seed(d, "bad-magic", 0, 0, bad_magic, 1, "F");
  channel_seed(d, "sleep-flags", 4, 1, flags, 2, "WW");
  channel_seed(d, "bad-offsets", 5, 0, size_word, 2, "");

  snprintf(d, sizeof d, "%s/fdpass", argv[1]);
  mkdir_or_die(d);
  const uint8_t one[] = {1, 1, 'F'};
  const uint8_t many[] = {20, 2, 'F', 'F', 0, 3, 'a', 'b', 'c'};
  const uint8_t bytes_only[] = {0, 5, 'h', 'e', 'l', 'l', 'o', 0, 0};
  const uint8_t eof[] = {0x81, 1, 'F', 16, 4, 1, 2, 3, 4};
  put(d, "one-fd", one, sizeof one);
  put(d, "many-fds", many, sizeof many);
  put(d, "bytes-only", bytes_only, sizeof bytes_only);
  put(d, "eof", eof, sizeof eof);

  printf("gen-corpus: %d seeds in %s\n", nfiles, argv[1]);
  return 0;
}
