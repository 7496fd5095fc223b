/*
 * A very small test harness for the C unit tests: CHECK records a failure
 * and goes on, REQUIRE stops the test, TEST_MAIN runs the listed tests and
 * prints "N passed, N failed".
 */
#ifndef NW_TESTING_H
#define NW_TESTING_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed_checks;

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) {                                                            \
      fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__,      \
              #cond);                                                         \
      t_failed_checks++;                                                      \
    }                                                                         \
  } while (0)

#define CHECK_EQ(a, b)                                                        \
  do {                                                                        \
    long long a_ = (long long)(a), b_ = (long long)(b);                       \
    if (a_ != b_) {                                                           \
      fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n", __FILE__,   \
              __LINE__, #a, #b, a_, b_);                                      \
      t_failed_checks++;                                                      \
    }                                                                         \
  } while (0)

#define REQUIRE(cond)                                                         \
  do {                                                                        \
    if (!(cond)) {                                                            \
      fprintf(stderr, "  %s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__,    \
              #cond);                                                         \
      t_failed_checks++;                                                      \
      return;                                                                 \
    }                                                                         \
  } while (0)

typedef struct {
  const char *name;
  void (*fn)(void);
} t_case;

#define TEST_MAIN(...)                                                        \
  int main(void) {                                                            \
    t_case cases[] = {__VA_ARGS__};                                           \
    int n = (int)(sizeof cases / sizeof cases[0]), passed = 0, failed = 0;    \
    for (int i = 0; i < n; i++) {                                             \
      int before = t_failed_checks;                                           \
      cases[i].fn();                                                          \
      if (t_failed_checks == before) {                                        \
        passed++;                                                             \
        printf("  ok   %s\n", cases[i].name);                                 \
      } else {                                                                \
        failed++;                                                             \
        printf("  FAIL %s\n", cases[i].name);                                 \
      }                                                                       \
      fflush(stdout);                                                         \
    }                                                                         \
    printf("%d passed, %d failed\n", passed, failed);                         \
    return failed ? 1 : 0;                                                    \
  }

#define T(fn) {#fn, fn}

/* xorshift64*: a seeded generator, so stress runs are repeatable. */
static inline unsigned long long t_rand(unsigned long long *s) {
  unsigned long long x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

#endif
