'use strict';

// The default IPC provider of spawn(): an 'ipc' entry in stdio that fork()
// did not claim becomes a channel in Node's own protocol, so that a plain
// `node child.js` started with spawn() gets process.send() and friends from
// Node itself, without our preload.
//
// The child's end of a socketpair is placed at the 'ipc' index and named by
// NODE_CHANNEL_FD / NODE_CHANNEL_SERIALIZATION_MODE. This side speaks the
// protocol over a net.Socket on the parent's end:
//   json      one JSON text per message, each followed by '\n';
//   advanced  a 4-byte big-endian length, then the bytes of a v8 serializer
//             whose host objects carry a uint32 tag: 0 an ArrayBufferView
//             (v8's default host-object form follows), 1 any other host
//             object (its own enumerable properties follow as a value).
// Messages whose `cmd` starts with 'NODE_' are internal: they go to
// 'internalMessage'. A handle travels as {cmd: 'NODE_HANDLE', type, msg}
// with the descriptor attached (SCM_RIGHTS) to the bytes of that message;
// the receiver answers {cmd: 'NODE_HANDLE_ACK'}, and until then the sender
// queues everything else, so order holds.
//
// Reading goes through the addon's recvmsg(2) reader (src/napi/ipc_pipe.c),
// so that descriptors the child attaches arrive with their bytes; writing
// goes through a net.Socket on the same descriptor, and a handle we send
// goes out with one sendmsg(2) once the bytes before it are written.

const net = require('net');
const dgram = require('dgram');
const v8 = require('v8');
const { StringDecoder } = require('string_decoder');

const binding = require('./binding');
const {
  codes: {
    ERR_INVALID_ARG_TYPE, ERR_MISSING_ARGS, ERR_IPC_CHANNEL_CLOSED, ERR_IPC_DISCONNECTED,
    ERR_INVALID_HANDLE_TYPE,
  },
  errnoException,
} = require('./errors');
const { validateObject } = require('./validators');
// What a NODE_ message is, and where a dgram.Socket keeps its handle: the
// same answers as for fork()'s channel.
const { isInternal, dgramHandle } = require('./channel');

// Node's send() answers false once this much waits to be written.
const HIGH_WATER = 128 * 1024;

const TAG_VIEW = 0;
const TAG_OTHER = 1;

class Serializer extends v8.DefaultSerializer {
  _writeHostObject(object) {
    if (ArrayBuffer.isView(object)) {
      this.writeUint32(TAG_VIEW);
      return super._writeHostObject(object);
    }
    this.writeUint32(TAG_OTHER);
    this.writeValue({ ...object });
    return true;
  }
}

class Deserializer extends v8.DefaultDeserializer {
  _readHostObject() {
    const tag = this.readUint32();
    if (tag === TAG_VIEW) return super._readHostObject();
    return this.readValue();
  }
}

// One framed message as bytes (advanced) or text (json).
function encode(advanced, message) {
  if (!advanced) return `${JSON.stringify(message)}\n`;
  const ser = new Serializer();
  ser.writeRawBytes(Buffer.alloc(4));
  ser.writeHeader();
  ser.writeValue(message);
  const out = ser.releaseBuffer();
  out.writeUInt32BE(out.length - 4, 0);
  return out;
}

class NodeIpc {
  constructor(target, fd, serialization) {
    this.target = target;
    this.advanced = serialization === 'advanced';
    this.socket = new net.Socket({ fd, readable: false, writable: true });
    this.fds = []; // received descriptors not yet claimed by a NODE_HANDLE
    this.reader = binding.ipcReaderStart(fd, (chunk, fds, err) => this.onRead(chunk, fds, err));
    this.closed = false;
    this.settling = false; // inside settleBeforeExit()
    // json: text not yet terminated by '\n'; advanced: unread chunks.
    this.decoder = this.advanced ? null : new StringDecoder('utf8');
    this.pieces = [];
    this.chunks = [];
    this.chunkBytes = 0;
    // While a sent handle waits for its NODE_HANDLE_ACK: later sends, in order.
    this.handleQueue = null;
    this.pendingSocket = null; // the raw handle of a sent net.Socket, closed at the ACK
    this.socket.on('close', () => this.peerGone());
    // A write to a peer that is gone fails; its callback (or the target's
    // 'error') reports it, and 'close' follows.
    this.socket.on('error', () => {});
  }

  // ---- reading ---------------------------------------------------------

  onRead(chunk, fds, err) {
    if (this.closed) {
      for (const fd of fds) closeQuietly(fd);
      return;
    }
    if (chunk === null) {
      // End of file, or the read failed: either way the peer is gone.
      this.peerGone();
      return;
    }
    for (const fd of fds) this.fds.push(fd);
    if (this.advanced) this.parseAdvanced(chunk);
    else this.parseJson(chunk);
  }

  // Pieces of a long text wait in a list until a '\n' ends it, so a large
  // message costs one pass over its bytes, not one per chunk.
  parseJson(chunk) {
    const part = this.decoder.write(chunk);
    if (part.indexOf('\n') === -1) {
      if (part.length !== 0) this.pieces.push(part);
      return;
    }
    let text = part;
    if (this.pieces.length !== 0) {
      this.pieces.push(part);
      text = this.pieces.join('');
      this.pieces = [];
    }
    let start = 0;
    let nl;
    while ((nl = text.indexOf('\n', start)) !== -1) {
      this.deliver(JSON.parse(text.slice(start, nl)));
      start = nl + 1;
    }
    if (start < text.length) this.pieces.push(text.slice(start));
  }

  parseAdvanced(chunk) {
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
    for (;;) {
      if (this.chunkBytes < 4) return;
      let head = this.chunks[0];
      if (head.length < 4) {
        head = Buffer.concat(this.chunks, this.chunkBytes);
        this.chunks = [head];
      }
      const size = head.readUInt32BE(0) + 4;
      if (this.chunkBytes < size) return;
      const all = this.chunks.length === 1 ? head : Buffer.concat(this.chunks, this.chunkBytes);
      const rest = all.subarray(size);
      this.chunks = rest.length === 0 ? [] : [rest];
      this.chunkBytes = rest.length;
      const des = new Deserializer(all.subarray(4, size));
      des.readHeader();
      this.deliver(des.readValue());
    }
  }

  deliver(message) {
    if (!isInternal(message)) {
      process.nextTick(emitIfOpen, this, 'message', message);
      return;
    }
    if (message.cmd === 'NODE_HANDLE_ACK') {
      this.onAck();
      return;
    }
    if (message.cmd === 'NODE_HANDLE_NACK') {
      // Nothing of ours needs a second try: the descriptor went with the
      // message in one sendmsg, so a NACK means the child could not use it.
      this.onAck();
      return;
    }
    if (message.cmd === 'NODE_HANDLE') {
      this.receiveHandle(message);
      return;
    }
    process.nextTick(emitIfOpen, this, 'internalMessage', message);
  }

  // A handle from the child: its descriptor came with the bytes of this
  // message. Acknowledge it (a NACK if it is missing, as Node does, so the
  // child may send it again), then build the object Node would.
  receiveHandle(message) {
    const fd = this.fds.length !== 0 ? this.fds.shift() : -1;
    if (fd < 0) {
      this.write({ cmd: 'NODE_HANDLE_NACK' }, null, null, null, true);
      return;
    }
    this.write({ cmd: 'NODE_HANDLE_ACK' }, null, null, null, true);
    const inner = message.msg;
    const emit = (handle) => {
      if (this.closed) {
        if (handle && typeof handle.close === 'function') handle.close();
        return;
      }
      this.target.emit(isInternal(inner) ? 'internalMessage' : 'message', inner, handle);
    };
    if (message.type === 'net.Server') {
      const server = new net.Server();
      server.listen({ fd }, () => emit(server));
    } else if (message.type === 'net.Socket') {
      process.nextTick(emit, new net.Socket({ fd, readable: true, writable: true }));
    } else if (message.type === 'dgram.Socket') {
      const socket = dgram.createSocket(message.dgramType === 'udp6' ? 'udp6' : 'udp4');
      socket.bind({ fd }, () => emit(socket));
    } else {
      closeQuietly(fd);
      process.nextTick(emit, undefined);
    }
  }

  // ---- writing ---------------------------------------------------------

  // Write one message (already validated). `internal`: an ACK of ours,
  // which never waits behind the queue. Returns Node's send() answer.
  write(message, handle, options, cb, internal) {
    if (this.handleQueue !== null && !internal) {
      this.handleQueue.push({ message, handle, options, cb });
      return this.handleQueue.length === 1;
    }
    if (handle) return this.writeHandle(message, handle, options, cb);
    let data;
    try {
      data = encode(this.advanced, message);
    } catch (err) {
      if (internal) return false;
      throw err;
    }
    this.socket.write(data, (err) => this.written(err, cb, internal));
    return this.queued() < HIGH_WATER;
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

  written(err, cb, internal) {
    if (internal) return;
    if (err) {
      const ex = err.code ? err : errnoException(-32, 'write');
      if (cb) cb(ex);
      else if (!this.closed) this.target.emit('error', ex);
      return;
    }
    if (cb) cb(null);
  }

  writeHandle(message, handle, options, cb) {
    const wrapped = { cmd: 'NODE_HANDLE', type: null, msg: message };
    let fd;
    if (handle instanceof net.Socket) {
      wrapped.type = 'net.Socket';
      fd = handle._handle && handle._handle.fd;
    } else if (handle instanceof net.Server) {
      wrapped.type = 'net.Server';
      fd = handle._handle && handle._handle.fd;
    } else if (handle instanceof dgram.Socket) {
      wrapped.type = 'dgram.Socket';
      const h = dgramHandle(handle);
      fd = h && h.fd;
      wrapped.dgramType = handle.type;
    } else {
      throw ERR_INVALID_HANDLE_TYPE();
    }
    // Nothing to pass (a server not listening, a closed socket): Node
    // sends the bare message.
    if (typeof fd !== 'number' || fd < 0) return this.write(message, null, options, cb);
    const data = encode(this.advanced, wrapped);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.handleQueue = [];
    if (wrapped.type === 'net.Socket' && !options.keepOpen) {
      // As Node does: the socket object lets go of its handle now (it is
      // neither destroyed nor usable any more), and the handle is closed
      // once the child has acknowledged its copy. Reading stops here, so
      // that no data meant for the child is taken by this side meanwhile.
      const raw = handle._handle;
      if (typeof raw.readStop === 'function') raw.readStop();
      raw.onread = () => {};
      handle._handle = null;
      handle.setTimeout(0);
      this.pendingSocket = raw;
    }
    this.sendWithFd(bytes, fd, cb);
    return true;
  }

  // The descriptor must ride on the first byte of its message, so the
  // message goes out with sendmsg(2) once everything before it is written.
  sendWithFd(bytes, fd, cb) {
    if (this.closed) {
      if (cb) process.nextTick(cb, ERR_IPC_CHANNEL_CLOSED());
      return;
    }
    if (this.socket.writableLength !== 0) {
      setImmediate(() => this.sendWithFd(bytes, fd, cb));
      return;
    }
    const sock = this.socket._handle && this.socket._handle.fd;
    const n = typeof sock === 'number' && sock >= 0 ? binding.ipcSendWithFd(sock, bytes, fd) : -9;
    if (n === -11) {
      setImmediate(() => this.sendWithFd(bytes, fd, cb));
      return;
    }
    if (n < 0) {
      this.handleQueue = null;
      if (this.pendingSocket !== null) this.pendingSocket.close();
      this.pendingSocket = null;
      this.written(errnoException(n, 'write'), cb, false);
      return;
    }
    if (n < bytes.length) {
      this.socket.write(bytes.subarray(n), (err) => this.written(err, cb, false));
    } else if (cb) {
      process.nextTick(cb, null);
    }
  }

  onAck() {
    if (this.pendingSocket !== null) {
      this.pendingSocket.close();
      this.pendingSocket = null;
    }
    const queue = this.handleQueue;
    this.handleQueue = null;
    if (queue === null) return;
    for (let i = 0; i < queue.length; i++) {
      const e = queue[i];
      if (this.handleQueue !== null) {
        // Another handle went out: the rest waits for its ACK.
        this.handleQueue.push(...queue.slice(i));
        return;
      }
      try {
        this.write(e.message, e.handle, e.options, e.cb);
      } catch (err) {
        if (e.cb) process.nextTick(e.cb, err);
      }
    }
    if (this.disconnectPending) this.finish();
  }

  // ---- closing ---------------------------------------------------------

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

  peerGone() {
    if (this.closed) return;
    this.target.connected = false;
    this.finish();
  }

  // Close our end (after what is already written) and emit 'disconnect'.
  finish() {
    if (this.closed) return;
    this.closed = true;
    this.disconnectPending = false;
    const queue = this.handleQueue || [];
    this.handleQueue = null;
    if (this.pendingSocket !== null) {
      this.pendingSocket.close();
      this.pendingSocket = null;
    }
    for (const e of queue) {
      if (e.cb) process.nextTick(e.cb, ERR_IPC_CHANNEL_CLOSED());
    }
    const target = this.target;
    target.connected = false;
    target.channel = null;
    target._channel = null;
    binding.ipcReaderClose(this.reader);
    for (const fd of this.fds) closeQuietly(fd);
    this.fds = [];
    this.socket.destroySoon();
    if (this.settling) target.emit('disconnect');
    else process.nextTick(() => target.emit('disconnect'));
  }
}

function closeQuietly(fd) {
  try {
    binding.closeFd(fd);
  } catch {
    // already closed
  }
}

// Node emits each message on the next tick after it is read.
function emitIfOpen(ipc, name, message) {
  ipc.target.emit(name, message);
}

// Install Node's IPC surface on the ChildProcess `target`.
function setupNodeIpc(target, fd, serialization) {
  const ipc = new NodeIpc(target, fd, serialization);
  const socket = ipc.socket;
  target.connected = true;
  const control = {
    ref() { binding.ipcReaderRef(ipc.reader, true); },
    unref() { binding.ipcReaderRef(ipc.reader, false); },
    get fd() { return socket._handle ? socket._handle.fd : undefined; },
  };
  target.channel = control;
  target._channel = control;

  target.send = function send(message, sendHandle, options, callback) {
    if (typeof sendHandle === 'function') {
      callback = sendHandle;
      sendHandle = undefined;
      options = undefined;
    } else if (typeof options === 'function') {
      callback = options;
      options = undefined;
    } else if (options !== undefined) {
      validateObject(options, 'options');
    }
    options = { swallowErrors: false, ...options };
    const cb = typeof callback === 'function' ? callback : null;
    if (!this.connected) {
      const ex = ERR_IPC_CHANNEL_CLOSED();
      if (cb) process.nextTick(cb, ex);
      else process.nextTick(() => this.emit('error', ex));
      return false;
    }
    if (message === undefined) throw ERR_MISSING_ARGS('message');
    if (typeof message !== 'string' && typeof message !== 'object' &&
        typeof message !== 'number' && typeof message !== 'boolean') {
      throw ERR_INVALID_ARG_TYPE('message', ['string', 'object', 'number', 'boolean'], message);
    }
    return ipc.write(message, sendHandle || null, options, cb, false);
  };

  target.disconnect = function disconnect() {
    if (!this.connected) {
      this.emit('error', ERR_IPC_DISCONNECTED());
      return;
    }
    this.connected = false;
    // A handle still waiting for its ACK holds the disconnect back, as in
    // Node; otherwise close now (queued bytes are still written first).
    if (ipc.handleQueue !== null) ipc.disconnectPending = true;
    else ipc.finish();
  };
  return ipc;
}

// The provider contract of lib/internal/child_process.js.
function createProvider(maybeClose, kBeforeExit) {
  return {
    prepare({ index, serialization }) {
      const [parentFd, childFd] = binding.socketpair();
      let childOpen = true;
      const closeChild = () => {
        if (childOpen) {
          childOpen = false;
          binding.closeFd(childFd);
        }
      };
      return {
        childFd,
        env: [`NODE_CHANNEL_FD=${index}`, `NODE_CHANNEL_SERIALIZATION_MODE=${serialization}`],
        afterSpawn(err) {
          closeChild();
          if (err) binding.closeFd(parentFd);
        },
        attach(child) {
          closeChild();
          child.once('disconnect', () => maybeClose(child));
          const ipc = setupNodeIpc(child, parentFd, serialization);
          child[kBeforeExit] = () => ipc.settleBeforeExit();
        },
      };
    },
  };
}

module.exports = { createProvider, setupNodeIpc, Serializer, Deserializer };
