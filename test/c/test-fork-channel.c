/* Unit tests of src/core/fork_channel.c. The tests that need two processes
 * fork() this plain C program (never a Node process). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fork_channel.h"
#include "testing.h"

/* FNV-1a, for message checksums. */
static uint32_t fnv(const uint8_t *p, uint32_t n) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

static int recv_one(nw_fork_channel_t *ch, uint8_t *buf, size_t size, uint32_t *len,
                    int timeout_ms) {
  for (;;) {
    int rc = nw_ring_try_read(&ch->in, buf, size, len);
    if (rc != -EAGAIN) return rc;
    nw_fork_channel_notify(ch, nw_fork_channel_wr_flag(1 - ch->side));
    rc = nw_fork_channel_wait(ch, false, 0, timeout_ms);
    if (rc) return rc;
  }
}

static int send_one(nw_fork_channel_t *ch, const void *buf, uint32_t len) {
  for (;;) {
    int rc = nw_fork_channel_try_send(ch, buf, len);
    if (rc != -EAGAIN) return rc;
    rc = nw_fork_channel_wait(ch, true, nw_ring_record_size(len), 5000);
    if (rc) return rc;
  }
}

static void test_create_attach_local(void) {
  nw_fork_channel_t a, b;
  int memfd, peer;
  REQUIRE(nw_fork_channel_create(&a, 4096, &memfd, &peer) == 0);
  CHECK_EQ(a.size, nw_fork_channel_region_size(4096));
  CHECK_EQ(a.hdr[NW_FCW_MAGIC], NW_FORK_CHANNEL_MAGIC);
  CHECK(fcntl(memfd, F_GETFD) & FD_CLOEXEC);
  CHECK(fcntl(peer, F_GETFD) & FD_CLOEXEC);
  int seals = fcntl(memfd, F_GET_SEALS);
  CHECK(seals & F_SEAL_SHRINK);
  CHECK(ftruncate(memfd, 4096) != 0); /* sealed: cannot shrink */
  REQUIRE(nw_fork_channel_attach(&b, memfd, peer, 1) == 0);
  close(memfd);

  CHECK_EQ(nw_fork_channel_try_send(&a, "hello", 5), 0);
  uint8_t buf[64];
  uint32_t len = 0;
  CHECK_EQ(nw_ring_try_read(&b.in, buf, sizeof buf, &len), 0);
  CHECK_EQ(len, 5);
  CHECK(memcmp(buf, "hello", 5) == 0);
  CHECK_EQ(nw_fork_channel_try_send(&b, "back", 4), 0);
  CHECK_EQ(nw_ring_try_read(&a.in, buf, sizeof buf, &len), 0);
  CHECK_EQ(len, 4);

  /* Nobody sleeps: no wakeup byte. */
  CHECK_EQ(nw_fork_channel_notify(&a, nw_fork_channel_rd_flag(1)), 0);
  /* b says it sleeps: exactly one byte, and the flag is consumed. */
  b.hdr[nw_fork_channel_rd_flag(1)] = 1;
  CHECK_EQ(nw_fork_channel_notify(&a, nw_fork_channel_rd_flag(1)), 1);
  CHECK_EQ(nw_fork_channel_notify(&a, nw_fork_channel_rd_flag(1)), 0);
  char c;
  CHECK_EQ(recv(b.sock, &c, 1, MSG_DONTWAIT), 1);
  CHECK_EQ(c, NW_FORK_CHANNEL_BYTE_WAKE);

  /* Waiting with a timeout on an empty ring times out. */
  CHECK_EQ(nw_fork_channel_wait(&b, false, 0, 20), -ETIMEDOUT);
  CHECK_EQ(b.hdr[nw_fork_channel_rd_flag(1)], 0);

  /* Closing one side: the other reads EOF, drains, then -EPIPE. */
  CHECK_EQ(nw_fork_channel_try_send(&a, "last", 4), 0);
  nw_fork_channel_close(&a);
  CHECK_EQ(nw_fork_channel_wait(&b, false, 0, 1000), 0);
  CHECK_EQ(nw_ring_try_read(&b.in, buf, sizeof buf, &len), 0);
  CHECK_EQ(nw_fork_channel_wait(&b, false, 0, 1000), -EPIPE);
  CHECK(b.eof);
  CHECK_EQ(nw_fork_channel_kick(&a), -EPIPE);
  nw_fork_channel_close(&b);
  nw_fork_channel_close(&b); /* idempotent */
  nw_fork_channel_unmap(&a);
  nw_fork_channel_unmap(&b);
}

/* The cpu words: each side publishes its own CPU (1 + its number), and
 * same_cpu is true only when the peer's word holds exactly that. Both
 * handles run on this thread, pinned to one CPU so the answer is fixed. */
static void test_cpu_words(void) {
  cpu_set_t old, one;
  REQUIRE(sched_getaffinity(0, sizeof old, &old) == 0);
  int cpu = sched_getcpu();
  REQUIRE(cpu >= 0);
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
  uint32_t mine = (uint32_t)sched_getcpu() + 1u;

  nw_fork_channel_t a, b;
  int memfd, peer;
  REQUIRE(nw_fork_channel_create(&a, 4096, &memfd, &peer) == 0);
  REQUIRE(nw_fork_channel_attach(&b, memfd, peer, 1) == 0);
  close(memfd);
  CHECK_EQ(a.hdr[NW_FCW_CPU0], 0u);
  CHECK_EQ(a.hdr[NW_FCW_CPU1], 0u);
  CHECK_EQ(nw_fork_channel_cpu_word(0), NW_FCW_CPU0);
  CHECK_EQ(nw_fork_channel_cpu_word(1), NW_FCW_CPU1);
  /* The words sit on cache lines of their own, apart from the flags. */
  CHECK_EQ(NW_FCW_CPU0 % 16, 0);
  CHECK_EQ(NW_FCW_CPU1 % 16, 0);
  CHECK(NW_FCW_CPU0 > NW_FCW_SLEEP1_WR && NW_FCW_CPU1 > NW_FCW_CPU0);
  CHECK((NW_FCW_CPU1 + 1) * 4 <= (int)NW_FORK_CHANNEL_HEADER_SIZE);

  /* The peer's word not known yet: no. */
  CHECK(!nw_fork_channel_same_cpu(&a));
  CHECK_EQ(a.hdr[NW_FCW_CPU0], mine);
  CHECK(nw_fork_channel_same_cpu(&b));
  CHECK_EQ(b.hdr[NW_FCW_CPU1], mine);
  CHECK(nw_fork_channel_same_cpu(&a));

  /* Whatever the peer writes, only an exact match says yes. */
  const uint32_t junk[] = {0u, mine + 1u, mine - 1u, 0xffffffffu, 0x80000000u};
  for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
    if (junk[i] == mine) continue;
    a.hdr[NW_FCW_CPU1] = junk[i];
    CHECK(!nw_fork_channel_same_cpu(&a));
    CHECK_EQ(a.hdr[NW_FCW_CPU0], mine); /* ours is rewritten, not theirs */
    CHECK_EQ(a.hdr[NW_FCW_CPU1], junk[i]);
  }

  /* The channel works as before with the words set. */
  CHECK_EQ(nw_fork_channel_try_send(&a, "cpu", 3), 0);
  uint8_t buf[16];
  uint32_t len = 0;
  CHECK_EQ(nw_ring_try_read(&b.in, buf, sizeof buf, &len), 0);
  CHECK_EQ(len, 3);

  nw_fork_channel_close(&a);
  nw_fork_channel_close(&b);
  nw_fork_channel_unmap(&a);
  nw_fork_channel_unmap(&b);
  REQUIRE(sched_setaffinity(0, sizeof old, &old) == 0);
}

static void test_bad_input(void) {
  nw_fork_channel_t a, b;
  int memfd, peer;
  CHECK_EQ(nw_fork_channel_create(&a, 0, &memfd, &peer), -EINVAL);
  CHECK_EQ(nw_fork_channel_create(&a, NW_RING_MAX_CAPACITY + 1u, &memfd, &peer), -EINVAL);
  CHECK_EQ(nw_fork_channel_create(NULL, 4096, &memfd, &peer), -EINVAL);
  REQUIRE(nw_fork_channel_create(&a, 4096, &memfd, &peer) == 0);
  CHECK_EQ(nw_fork_channel_attach(&b, memfd, peer, 2), -EINVAL);
  CHECK_EQ(nw_fork_channel_attach(&b, -1, peer, 1), -EINVAL);

  /* A socket that is not a stream socket, or not a socket at all. */
  int pp[2];
  REQUIRE(pipe(pp) == 0);
  CHECK_EQ(nw_fork_channel_attach(&b, memfd, pp[0], 1), -EINVAL);
  /* An unsealed memfd (someone could truncate it under us). */
  int plain = memfd_create("x", MFD_CLOEXEC);
  REQUIRE(plain >= 0);
  REQUIRE(ftruncate(plain, (off_t)a.size) == 0);
  CHECK_EQ(nw_fork_channel_attach(&b, plain, peer, 1), -EINVAL);
  /* A plain file descriptor that is not a memfd. */
  CHECK_EQ(nw_fork_channel_attach(&b, pp[1], peer, 1), -EINVAL);
  close(pp[0]);
  close(pp[1]);
  close(plain);

  /* Corrupt header fields and ring positions are refused. */
  uint32_t saved = a.hdr[NW_FCW_MAGIC];
  a.hdr[NW_FCW_MAGIC] = 0xdeadbeef;
  CHECK_EQ(nw_fork_channel_attach(&b, memfd, peer, 1), -EINVAL);
  a.hdr[NW_FCW_MAGIC] = saved;
  saved = a.hdr[NW_FCW_RING1];
  a.hdr[NW_FCW_RING1] = 0x7ffffff0u;
  CHECK_EQ(nw_fork_channel_attach(&b, memfd, peer, 1), -EINVAL);
  a.hdr[NW_FCW_RING1] = saved;
  saved = a.out.hdr[NW_RW_PROD_TAIL];
  a.out.hdr[NW_RW_PROD_TAIL] = 0x40000000u;
  CHECK_EQ(nw_fork_channel_attach(&b, memfd, peer, 1), -EINVAL);
  a.out.hdr[NW_RW_PROD_TAIL] = saved;
  CHECK_EQ(nw_fork_channel_attach(&b, memfd, peer, 1), 0);

  /* Messages larger than the ring are refused, not truncated. */
  static uint8_t big[8192];
  CHECK_EQ(nw_fork_channel_try_send(&a, big, sizeof big), -EMSGSIZE);
  /* No descriptor waiting. */
  CHECK_EQ(nw_fork_channel_take_fd(&b), -EAGAIN);
  CHECK_EQ(nw_fork_channel_send_fd(&a, -1), -EBADF);
  close(memfd);
  nw_fork_channel_close(&a);
  nw_fork_channel_close(&b);
  CHECK_EQ(nw_fork_channel_take_fd(&b), -EPIPE);
  nw_fork_channel_unmap(&a);
  nw_fork_channel_unmap(&b);
}

/* Start a child process attached as side 1; it runs `fn` and exits with
 * its return value. The parent's copy of the peer socket is closed. */
static pid_t start_child(nw_fork_channel_t *parent, int memfd, int peer,
                         int (*fn)(nw_fork_channel_t *)) {
  pid_t pid = fork();
  if (pid == 0) {
    close(parent->sock);
    nw_fork_channel_t ch;
    if (nw_fork_channel_attach(&ch, memfd, peer, 1) != 0) _exit(90);
    close(memfd);
    _exit(fn(&ch));
  }
  close(peer);
  close(memfd);
  return pid;
}

#define ECHO_COUNT 200000

/* Echo every message back with its checksum appended; stop on EOF. */
static int echo_child(nw_fork_channel_t *ch) {
  static uint8_t buf[1 << 16], out[(1 << 16) + 4];
  for (;;) {
    uint32_t len;
    int rc = recv_one(ch, buf, sizeof buf, &len, 10000);
    if (rc == -EPIPE) return 0;
    if (rc) return 91;
    uint32_t sum = fnv(buf, len);
    memcpy(out, buf, len);
    memcpy(out + len, &sum, 4);
    if (send_one(ch, out, len + 4)) return 92;
  }
}

static void test_two_processes_echo(void) {
  nw_fork_channel_t ch;
  int memfd, peer;
  REQUIRE(nw_fork_channel_create(&ch, 1 << 16, &memfd, &peer) == 0);
  pid_t pid = start_child(&ch, memfd, peer, echo_child);
  REQUIRE(pid > 0);
  unsigned long long seed = 42;
  uint32_t sent = 0, got = 0, bad = 0;
  static uint8_t msg[4096], back[4096 + 4];
  /* Keep up to a window of messages in flight, so both rings fill and both
   * sides sleep and wake each other many times. */
  while (got < ECHO_COUNT) {
    while (sent < ECHO_COUNT && sent - got < 512) {
      uint32_t len = 4 + (uint32_t)(t_rand(&seed) % 200);
      memcpy(msg, &sent, 4);
      for (uint32_t i = 4; i < len; i++) msg[i] = (uint8_t)(sent * 13 + i);
      int rc = nw_fork_channel_try_send(&ch, msg, len);
      if (rc == -EAGAIN) break;
      REQUIRE(rc == 0);
      sent++;
    }
    uint32_t len;
    int rc = nw_ring_try_read(&ch.in, back, sizeof back, &len);
    if (rc == -EAGAIN) {
      nw_fork_channel_notify(&ch, nw_fork_channel_wr_flag(1));
      if (sent - got >= 512 || sent == ECHO_COUNT) {
        REQUIRE(nw_fork_channel_wait(&ch, false, 0, 10000) == 0);
      }
      continue;
    }
    REQUIRE(rc == 0);
    uint32_t seq, sum;
    memcpy(&seq, back, 4);
    memcpy(&sum, back + len - 4, 4);
    if (seq != got || fnv(back, len - 4) != sum) bad++;
    got++;
  }
  CHECK_EQ(bad, 0);
  CHECK_EQ(got, ECHO_COUNT);
  nw_fork_channel_close(&ch);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  nw_fork_channel_unmap(&ch);
}

/* Receive a descriptor announced by a message and write into it. */
static int fd_child(nw_fork_channel_t *ch) {
  uint8_t buf[64];
  uint32_t len;
  for (int i = 0; i < 3; i++) {
    if (recv_one(ch, buf, sizeof buf, &len, 5000) != 0) return 93;
    int fd = nw_fork_channel_take_fd(ch);
    if (fd < 0) return 94;
    if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC)) return 95;
    if (write(fd, buf, len) != (ssize_t)len) return 96;
    close(fd);
  }
  return 0;
}

static void test_fd_passing(void) {
  nw_fork_channel_t ch;
  int memfd, peer;
  REQUIRE(nw_fork_channel_create(&ch, 4096, &memfd, &peer) == 0);
  pid_t pid = start_child(&ch, memfd, peer, fd_child);
  REQUIRE(pid > 0);
  int pipes[3][2];
  for (int i = 0; i < 3; i++) {
    REQUIRE(pipe2(pipes[i], O_CLOEXEC) == 0);
    /* The descriptor first, then the message that refers to it. */
    CHECK_EQ(nw_fork_channel_send_fd(&ch, pipes[i][1]), 0);
    close(pipes[i][1]);
    char m[16];
    int n = snprintf(m, sizeof m, "fd%d", i);
    CHECK_EQ(send_one(&ch, m, (uint32_t)n), 0);
  }
  for (int i = 0; i < 3; i++) {
    char got[16] = {0}, want[16];
    snprintf(want, sizeof want, "fd%d", i);
    CHECK(read(pipes[i][0], got, sizeof got) == 3);
    CHECK(strcmp(got, want) == 0);
    close(pipes[i][0]);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  nw_fork_channel_close(&ch);
  nw_fork_channel_unmap(&ch);
}

/* Read a little, then hang forever (the parent kills it). */
static int stuck_child(nw_fork_channel_t *ch) {
  uint8_t buf[64];
  uint32_t len;
  recv_one(ch, buf, sizeof buf, &len, 5000);
  for (;;) pause();
  return 0;
}

static void test_peer_death(void) {
  nw_fork_channel_t ch;
  int memfd, peer;
  REQUIRE(nw_fork_channel_create(&ch, 4096, &memfd, &peer) == 0);
  pid_t pid = start_child(&ch, memfd, peer, stuck_child);
  REQUIRE(pid > 0);
  CHECK_EQ(send_one(&ch, "x", 1), 0);
  /* The child never reads again: the ring fills, writes report -EAGAIN
   * (backpressure), memory stays bounded. */
  static uint8_t chunk[1000];
  int full = 0;
  for (int i = 0; i < 100; i++)
    if (nw_fork_channel_try_send(&ch, chunk, sizeof chunk) == -EAGAIN) full++;
  CHECK(full > 0);
  CHECK_EQ(nw_fork_channel_wait(&ch, true, 1004, 50), -ETIMEDOUT);
  kill(pid, SIGKILL);
  int64_t t0 = nw_now_ns();
  /* Noticed through the socket's end-of-file, not a timeout. */
  CHECK_EQ(nw_fork_channel_wait(&ch, false, 0, 30000), -EPIPE);
  CHECK_EQ(nw_fork_channel_wait(&ch, true, 1004, 30000), -EPIPE);
  CHECK(nw_now_ns() - t0 < 20LL * 1000000000);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  nw_fork_channel_close(&ch);
  nw_fork_channel_unmap(&ch);
}

/* The memfd travels on the socket first, so only the socket is inherited. */
static void test_memfd_on_socket(void) {
  nw_fork_channel_t a, b;
  int memfd, peer;
  REQUIRE(nw_fork_channel_create(&a, 4096, &memfd, &peer) == 0);
  CHECK_EQ(nw_fork_channel_recv_fd_raw(peer, 10), -ETIMEDOUT);
  close(memfd);
  close(peer);
  nw_fork_channel_close(&a);
  nw_fork_channel_unmap(&a);
  CHECK_EQ(nw_fork_channel_create_for_child(&a, 0, &peer), -EINVAL);
  CHECK_EQ(nw_fork_channel_create_for_child(&a, 4096, NULL), -EINVAL);
  REQUIRE(nw_fork_channel_create_for_child(&a, 4096, &peer) == 0);
  int got = nw_fork_channel_recv_fd_raw(peer, 1000);
  REQUIRE(got >= 0);
  CHECK(fcntl(got, F_GETFD) & FD_CLOEXEC);
  REQUIRE(nw_fork_channel_attach(&b, got, peer, 1) == 0);
  close(got);
  CHECK_EQ(nw_fork_channel_try_send(&a, "m", 1), 0);
  CHECK(nw_ring_readable(&b.in));
  /* A plain byte where a descriptor was expected, then end-of-file. */
  CHECK_EQ(nw_fork_channel_kick(&a), 0);
  CHECK_EQ(nw_fork_channel_recv_fd_raw(b.sock, 1000), -EBADMSG);
  nw_fork_channel_close(&a);
  CHECK_EQ(nw_fork_channel_recv_fd_raw(b.sock, 1000), -EPIPE);
  CHECK_EQ(nw_fork_channel_recv_fd_raw(-1, 0), -EBADF);
  nw_fork_channel_close(&b);
  nw_fork_channel_unmap(&a);
  nw_fork_channel_unmap(&b);
}

TEST_MAIN(T(test_memfd_on_socket), T(test_create_attach_local), T(test_cpu_words), T(test_bad_input),
          T(test_two_processes_echo), T(test_fd_passing), T(test_peer_death))
