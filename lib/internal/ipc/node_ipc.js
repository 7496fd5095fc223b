'use strict';

// The transport of an 'ipc' entry in spawn()'s stdio that fork() did not
// claim: Node's own IPC protocol on a socketpair, so that a plain
// `node child.js` gets process.send() and friends from Node itself, with no
// preload of ours.
//
// The child's end is placed at the 'ipc' index and named by
// NODE_CHANNEL_FD / NODE_CHANNEL_SERIALIZATION_MODE. Messages are framed as
// in framing.js (json lines, or length-prefixed advanced bytes). A handle
// travels as { cmd: 'NODE_HANDLE', type, msg } with its descriptor attached
// (SCM_RIGHTS) to the bytes of that message; the receiver answers
// { cmd: 'NODE_HANDLE_ACK' }, and until then the sender queues everything
// else, so order holds.
//
// Reading goes through the addon's recvmsg(2) reader (src/napi/ipc_pipe.c),
// so that descriptors the child attaches arrive with their bytes; writing
// goes through a net.Socket on the same descriptor, and a handle we send
// goes out with one sendmsg(2) once the bytes before it are written.

const net = require('net');

const binding = require('../binding');
const {
  codes: { ERR_IPC_CHANNEL_CLOSED, ERR_IPC_CHANNEL_CORRUPT, ERR_IPC_DISCONNECTED },
  errnoException,
} = require('../errors');
const { frameNode, JsonLineParser, AdvancedParser } = require('./framing');
const { detachHandle, rebuildHandle, closeFd } = require('./handles');
const { setupIpc, isInternal } = require('./target');

const { EAGAIN, EBADF, EPIPE } = require('os').constants.errno;

// Node's send() answers false once this much waits to be written.
const HIGH_WATER = 128 * 1024;
// Descriptors received and not yet claimed by a NODE_HANDLE message.
const MAX_PENDING_FDS = 64;
// Times a socket is sent again after a NODE_HANDLE_NACK, as in Node.
const MAX_HANDLE_RETRANSMISSIONS = 3;

class NodeIpc {
  constructor(ipc, fd, serialization) {
    this.ipc = ipc;
    this.advanced = serialization === 'advanced';
    this.socket = new net.Socket({ fd, readable: false, writable: true });
    this.fds = []; // received descriptors not yet claimed by a NODE_HANDLE
    this.reader = binding.ipcReaderStart(fd, (chunk, fds) => this.onRead(chunk, fds));
    this.closed = false;
    this.settling = false; // inside settleBeforeExit()
    this.parser = this.advanced ? new AdvancedParser() : new JsonLineParser();
    this.onMessage = (message) => this.received(message);
    // While a sent handle waits for its NODE_HANDLE_ACK: later sends, in order.
    this.handleQueue = null;
    this.pendingHandle = null; // the raw handle of a sent net.Socket, closed at the ACK
    // What that socket went with, to send it again after a NACK:
    // { wrapped, fd, options, cb, retransmissions }.
    this.pendingMessage = null;
    this.disconnectPending = false;
    // disconnect() came while a message was half read: still reading, to
    // drop what comes, until the peer's end of file (see closeHere()).
    this.orphaned = false;
    this.socket.on('close', () => this.finish());
    // A write to a peer that is gone fails; its callback (or the target's
    // 'error') reports it, and 'close' follows.
    this.socket.on('error', () => {});
  }

  get fd() { return this.socket._handle ? this.socket._handle.fd : undefined; }

  setRef(want) { binding.ipcReaderRef(this.reader, want); }

  // ---- reading -------------------------------------------------------------

  onRead(chunk, fds) {
    if (this.closed) {
      for (const fd of fds) closeFd(fd);
      return;
    }
    if (chunk === null) {
      // End of file, or the read failed: either way the peer is gone.
      this.finish();
      return;
    }
    for (const fd of fds) this.fds.push(fd);
    if (this.fds.length > MAX_PENDING_FDS) {
      // More descriptors than handle messages to claim them: a broken peer.
      this.fail(ERR_IPC_CHANNEL_CORRUPT());
      return;
    }
    try {
      this.parser.push(chunk, this.onMessage);
    } catch (err) {
      // Not JSON, not V8's serialization, or a message too large: the
      // child broke the protocol. (Node's own parent would die here.)
      this.fail(err && err.code === 'ERR_IPC_MESSAGE_TOO_LARGE' ? err : ERR_IPC_CHANNEL_CORRUPT());
    }
  }

  // Report the broken channel (an 'error' event where someone listens, a
  // warning otherwise) and disconnect.
  fail(err) {
    if (this.closed) return;
    const target = this.ipc.target;
    process.nextTick(() => {
      if (target.listenerCount('error') !== 0) target.emit('error', err);
      else process.emitWarning(err);
    });
    this.finish(); // 'disconnect' follows the report
  }

  received(message) {
    if (this.orphaned) return;
    if (isInternal(message)) {
      if (message.cmd === 'NODE_HANDLE_ACK' || message.cmd === 'NODE_HANDLE_NACK') {
        this.onAck(message.cmd === 'NODE_HANDLE_NACK');
        return;
      }
      if (message.cmd === 'NODE_HANDLE') {
        this.receiveHandle(message);
        return;
      }
    }
    // Node emits each message on the next tick after it is read.
    process.nextTick(deliverIfOpen, this, message, undefined);
  }

  // A handle from the child: its descriptor came with the bytes of this
  // message. Acknowledge it (a NACK if it is missing, as Node does, so the
  // child may send it again), then build the object Node would.
  receiveHandle(message) {
    const fd = this.fds.length !== 0 ? this.fds.shift() : -1;
    if (this.orphaned) {
      if (fd >= 0) closeFd(fd);
      return;
    }
    if (fd < 0) {
      this.writeInternal({ cmd: 'NODE_HANDLE_NACK' });
      return;
    }
    this.writeInternal({ cmd: 'NODE_HANDLE_ACK' });
    // A socket sent again after our NACK comes as a raw handle wrapping the
    // first message: build what that message asked for. (Node's receiver
    // handles the inner message as a second NODE_HANDLE and acknowledges
    // it again, which trips its own sender's assertion; once is enough.)
    const inner = message.msg;
    if (message.type === 'net.Native' && isInternal(inner) && inner.cmd === 'NODE_HANDLE' &&
        typeof inner.type === 'string') {
      message = inner;
    }
    rebuildHandle(message.type, fd, message, this.ipc, (object) => {
      if (this.closed) {
        if (object && typeof object.close === 'function') object.close();
        return;
      }
      this.ipc.deliver(message.msg, object);
    }, () => this.fail(ERR_IPC_CHANNEL_CORRUPT()));
  }

  // ---- writing ----------------------------------------------------------------

  // The transport's send(): Node's answer to send().
  send(message, handle, options, cb) {
    if (this.handleQueue !== null) {
      this.handleQueue.push({ message, handle, options, cb });
      return this.handleQueue.length === 1;
    }
    if (handle !== null) return this.sendHandle(message, handle, options, cb);
    const data = frameNode(this.advanced, message);
    this.socket.write(data, (err) => this.written(err, options, cb));
    return this.queued() < HIGH_WATER;
  }

  // An ACK of ours: never waits behind the queue, never reports errors.
  writeInternal(message) {
    this.socket.write(frameNode(this.advanced, message), () => {});
  }

  // Bytes accepted but not yet in the kernel: what the handle holds plus
  // what waits behind the write it is doing (Node counts its pipe's write
  // queue the same way).
  queued() {
    const s = this.socket;
    const h = s._handle;
    const state = s._writableState;
    const inHandle = h && typeof h.writeQueueSize === 'number' ? h.writeQueueSize : 0;
    const writing = state && typeof state.writelen === 'number' && state.writing ? state.writelen : 0;
    return inHandle + s.writableLength - writing;
  }

  written(err, options, cb) {
    if (err) {
      if (this.closed && cb === null) return;
      this.ipc.writeFailed(err.code ? err : errnoException(-EPIPE, 'write'), options, cb);
      return;
    }
    if (cb !== null) cb(null);
  }

  sendHandle(message, handle, options, cb) {
    this.handleQueue = [];
    this.pendingHandle = detachHandle(handle, options || {}, this.ipc);
    const wrapped = { cmd: 'NODE_HANDLE', type: handle.type, msg: message, ...handle.extra };
    if (this.pendingHandle !== null) {
      this.pendingMessage = { wrapped, fd: handle.fd, options, cb, retransmissions: 0 };
    }
    this.sendWithFd(this.frameBytes(wrapped), handle.fd, options, cb);
    return true;
  }

  frameBytes(message) {
    const data = frameNode(this.advanced, message);
    return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  }

  // The peer could not take the socket (its ancillary data was cut short):
  // send the same descriptor again, as Node does — as a raw handle whose
  // message is the first NODE_HANDLE message; the callback runs again.
  resend(p) {
    this.handleQueue = [];
    const again = { cmd: 'NODE_HANDLE', type: 'net.Native', msg: p.wrapped };
    this.sendWithFd(this.frameBytes(again), p.fd, p.options, p.cb);
  }

  // The descriptor must ride on the first byte of its message, so the
  // message goes out with sendmsg(2) once everything before it is written.
  sendWithFd(bytes, fd, options, cb) {
    if (this.closed) {
      if (cb !== null) process.nextTick(cb, ERR_IPC_CHANNEL_CLOSED());
      return;
    }
    if (this.socket.writableLength !== 0) {
      setImmediate(() => this.sendWithFd(bytes, fd, options, cb));
      return;
    }
    const sock = this.socket._handle && this.socket._handle.fd;
    const n = typeof sock === 'number' && sock >= 0 ? binding.ipcSendWithFd(sock, bytes, fd) : -EBADF;
    if (n === -EAGAIN) {
      setImmediate(() => this.sendWithFd(bytes, fd, options, cb));
      return;
    }
    if (n < 0) {
      this.handleQueue = null;
      this.closePendingHandle();
      this.written(errnoException(n, 'write'), options, cb);
      return;
    }
    if (n < bytes.length) {
      this.socket.write(bytes.subarray(n), (err) => this.written(err, options, cb));
    } else if (cb !== null) {
      process.nextTick(cb, null);
    }
  }

  closePendingHandle() {
    this.pendingMessage = null;
    if (this.pendingHandle !== null) {
      this.pendingHandle.close();
      this.pendingHandle = null;
    }
  }

  // The peer's NODE_HANDLE_ACK (nack false) or NODE_HANDLE_NACK of the
  // handle in flight: after an ACK, or the last NACK Node allows, the
  // sender's handle closes; after another NACK the socket goes again. Then
  // what waited behind it goes, in order.
  onAck(nack) {
    const p = this.pendingMessage;
    if (!nack) {
      this.closePendingHandle();
    } else if (p !== null && p.retransmissions++ === MAX_HANDLE_RETRANSMISSIONS) {
      this.closePendingHandle();
      process.emitWarning('Handle did not reach the receiving process correctly', 'SentHandleNotReceivedWarning');
    }
    const queue = this.handleQueue;
    this.handleQueue = null;
    if (this.pendingMessage !== null) this.resend(this.pendingMessage);
    if (queue === null) return;
    for (let i = 0; i < queue.length; i++) {
      const e = queue[i];
      if (this.handleQueue !== null) {
        // Another handle went out: the rest waits for its ACK.
        for (let j = i; j < queue.length; j++) this.handleQueue.push(queue[j]);
        return;
      }
      try {
        this.send(e.message, e.handle, e.options, e.cb);
      } catch (err) {
        if (e.cb !== null) process.nextTick(e.cb, err);
      }
    }
    if (this.disconnectPending && this.handleQueue === null) this.closeHere();
  }

  // ---- closing ----------------------------------------------------------------

  // A handle still waiting for its ACK holds the disconnect back, as in
  // Node; otherwise close now (queued bytes are still written first).
  disconnect() {
    if (this.handleQueue !== null) this.disconnectPending = true;
    else this.closeHere();
  }

  // This side's disconnect() takes effect. As Node's: if a message is half
  // read, the channel waits for it, but that message and all after it are
  // dropped (the channel is already null), so no 'disconnect' ever comes;
  // the peer's end of file then finds the target disconnected and emits
  // ERR_IPC_DISCONNECTED, and only then is the channel closed.
  closeHere() {
    if (this.closed) return;
    if (!this.parser.buffering) {
      this.finish(false);
      return;
    }
    this.orphaned = true;
    this.disconnectPending = false;
    this.closePendingHandle();
    this.ipc.target.channel = null;
  }

  // The child has exited: read what its end of the pipe left (the kernel
  // closed it before reporting the exit, but the loop may not have seen
  // it), so that 'disconnect' comes before 'exit', as in Node.
  settleBeforeExit() {
    if (this.closed) return;
    this.settling = true;
    try {
      binding.ipcReaderDrain(this.reader);
    } finally {
      this.settling = false;
    }
  }

  // Close our end (after what is already written) and emit 'disconnect'.
  // `byPeer`: see target.js.
  finish(byPeer = true) {
    if (this.closed) return;
    if (this.orphaned) {
      this.release();
      this.ipc.target.emit('error', ERR_IPC_DISCONNECTED());
      this.ipc.endedSilently();
      return;
    }
    this.release();
    this.ipc.ended(this.settling, byPeer);
  }

  // Close everything of the channel; queued handle sends hear so.
  release() {
    this.closed = true;
    this.orphaned = false;
    this.disconnectPending = false;
    const queue = this.handleQueue || [];
    this.handleQueue = null;
    this.closePendingHandle();
    for (const e of queue) {
      if (e.cb !== null) process.nextTick(e.cb, ERR_IPC_CHANNEL_CLOSED());
    }
    binding.ipcReaderClose(this.reader);
    for (const fd of this.fds) closeFd(fd);
    this.fds = [];
    this.socket.destroySoon();
  }
}

function deliverIfOpen(ch, message, handle) {
  if (!ch.closed) ch.ipc.deliver(message, handle);
}

// The IPC provider of ChildProcess.spawn (lib/internal/child_process.js)
// for a user's 'ipc' entry: Node's protocol on a socketpair.
function createNodeIpcProvider(ipcSlot) {
  return {
    prepare({ index, serialization }) {
      const [parentFd, childFd] = binding.socketpair();
      return ipcSlot({
        childFd,
        env: [`NODE_CHANNEL_FD=${index}`, `NODE_CHANNEL_SERIALIZATION_MODE=${serialization}`],
        closeOnFailure: () => binding.closeFd(parentFd),
        connect(child) {
          const ipc = setupIpc(child, { countListeners: false });
          const ch = new NodeIpc(ipc, parentFd, serialization);
          ipc.attach(ch);
          return ch;
        },
      });
    },
  };
}

module.exports = { createNodeIpcProvider };
