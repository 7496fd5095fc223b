/*
 * fdpass.h - bytes with descriptors attached, over a unix stream socket
 * (SCM_RIGHTS): the one sendmsg(2) and the one recvmsg(2) loop of the core.
 *
 * The fork channel (fork_channel.c) moves its memfd and the descriptors of
 * passed handles this way, and the glue of Node's own 'ipc' pipe
 * (src/napi/ipc_pipe.c) sends and reads Node's handle messages with it.
 *
 * Both calls are non-blocking whatever the socket's mode (MSG_DONTWAIT),
 * never raise SIGPIPE and retry EINTR. Received descriptors are O_CLOEXEC.
 * Any thread; no state. The caller owns every descriptor it passes in and
 * every one it gets back.
 */
#ifndef NW_CORE_FDPASS_H
#define NW_CORE_FDPASS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Most descriptors one nw_fdpass_recv takes; more in one message are
 * closed on receipt. */
#define NW_FDPASS_MAX 16

/*
 * One sendmsg of buf[0, len) with descriptor `fd` attached to its first
 * byte (the kernel duplicates it into the message; the caller keeps its
 * own). Returns the bytes sent (> 0: the descriptor went with them), or a
 * negative errno: -EAGAIN the socket is full and nothing was sent, -EPIPE
 * the peer is gone, -EINVAL sock < 0, fd < 0, buf NULL or len 0, -EBADF fd
 * is not open.
 */
long nw_fdpass_send(int sock, const void *buf, size_t len, int fd);

/*
 * One recvmsg of up to `len` bytes into `buf`, and of the descriptors that
 * came with them: the first min(max, NW_FDPASS_MAX) go to fds[], in order,
 * the others are closed; *nfds receives how many went to fds[]. Returns the
 * bytes read (0: end of file), or a negative errno: -EAGAIN nothing to read
 * now, -EINVAL bad arguments, -ECONNRESET the peer went away with unread
 * data.
 */
long nw_fdpass_recv(int sock, void *buf, size_t len, int *fds, int max,
                    int *nfds);

#ifdef __cplusplus
}
#endif

#endif
