'use strict';

// Node's IPC surface on a target — a ChildProcess in the parent, `process`
// in a child — for both IPC paths: send() and its arguments, disconnect(),
// `connected`, `channel` (ref, unref, fd), message delivery with Node's
// rules, and 'disconnect'. The bytes are a transport's business:
//   the fork channel (fork_channel.js) or Node's protocol (node_ipc.js).
//
// A transport has:
//   send(message, handle, options, cb) -> boolean   Node's answer to send();
//       `message` is validated; `handle` is null or describeHandle()'s
//       result with the object itself as .object; `options` null or an
//       object; `cb` null or a function.
//   disconnect()   close once what was accepted is written; then ended().
//   setRef(bool)   whether the channel keeps the event loop alive.
//   fd             what channel.fd shows.
// and calls, on the Ipc object setupIpc() returns:
//   deliver(message, handle)  a message arrived
//   ended(now, byPeer)        the channel is closed: 'disconnect' (now, or
//                             on the next tick); byPeer false when it was
//                             this side's own disconnect()
//   endedSilently()           the channel is closed with no 'disconnect'
//                             (Node's end of a disconnect() that came in
//                             the middle of a message: see node_ipc.js)
//   writeFailed(err, options, cb)

const {
  codes: { ERR_INVALID_ARG_TYPE, ERR_MISSING_ARGS, ERR_IPC_CHANNEL_CLOSED, ERR_IPC_DISCONNECTED },
} = require('../errors');
const { validateObject } = require('../validators');
const { describeHandle } = require('./handles');

// Where a target keeps its transport (for the package's own tests).
const kTransport = Symbol('kTransport');

// Node's test for its own messages ({ cmd: 'NODE_...' }): they go to
// 'internalMessage', never to 'message'.
function isInternal(message) {
  return message !== null && typeof message === 'object' &&
    typeof message.cmd === 'string' && message.cmd.length > 5 &&
    message.cmd.startsWith('NODE_');
}

class Ipc {
  constructor(target, countListeners) {
    this.target = target;
    this.transport = null;
    // Messages that came while nobody listened for 'message': Node keeps
    // them and delivers them to the first listener.
    this.pending = [];
    this.refs = 0; // 'message'/'disconnect' listeners (a child counts them)
    this.countListeners = countListeners;
    this.explicitRef = null; // set by channel.ref()/unref(): the user decides
    // Whether the channel ended from the other side (end of file, a broken
    // peer) rather than by this side's disconnect(): only then does a
    // ChildProcess count it towards 'close', as Node does.
    this.byPeer = false;
    this.onSilentEnd = null; // set by the ChildProcess (child_process.js ipcSlot)
  }

  // ---- from the transport ------------------------------------------------

  deliver(message, handle) {
    const target = this.target;
    if (isInternal(message)) {
      target.emit('internalMessage', message, handle);
    } else if (target.listenerCount('message') !== 0) {
      target.emit('message', message, handle);
    } else {
      this.pending.push([message, handle]);
    }
  }

  ended(now, byPeer = true) {
    const target = this.target;
    this.byPeer = byPeer;
    target.connected = false;
    target.channel = null;
    if (now) target.emit('disconnect');
    else process.nextTick(() => target.emit('disconnect'));
  }

  endedSilently() {
    this.target.connected = false;
    this.target.channel = null;
    if (this.onSilentEnd !== null) this.onSilentEnd();
  }

  writeFailed(err, options, cb) {
    if (options !== null && options.swallowErrors) return;
    if (cb !== null) process.nextTick(cb, err);
    else process.nextTick(() => this.target.emit('error', err));
  }

  // A message of Node's own protocol (socket counts, socket_list.js): no
  // argument checks, and no 'error' for a failed write unless asked.
  sendInternal(message, swallowErrors) {
    if (this.transport === null || !this.target.connected) return false;
    return this.transport.send(message, null, { swallowErrors }, null);
  }

  // ---- keep-alive ----------------------------------------------------------

  // Whether the channel keeps the loop alive: as the user said last, or
  // (in a child) while anyone listens, or (in the parent) always.
  wantRef() {
    if (this.explicitRef !== null) return this.explicitRef;
    return this.countListeners ? this.refs > 0 : true;
  }

  updateRef() {
    if (this.transport !== null) this.transport.setRef(this.wantRef());
  }

  // ---- the target's methods --------------------------------------------------

  send(message, handle, options, callback) {
    if (message === undefined) throw ERR_MISSING_ARGS('message');
    if (typeof message !== 'string' && typeof message !== 'object' &&
        typeof message !== 'number' && typeof message !== 'boolean') {
      throw ERR_INVALID_ARG_TYPE('message', ['string', 'object', 'number', 'boolean'], message);
    }
    const cb = typeof callback === 'function' ? callback : null;
    let h = null;
    if (handle) {
      h = describeHandle(handle);
      // Nothing to pass (a server not listening, a closed socket): Node
      // sends the bare message.
      if (h.fd < 0) h = null;
      else h.object = handle;
    }
    return this.transport.send(message, h, options, cb);
  }
}

// target.send() with its optional arguments: Node's shuffling of them.
// (Apart from send() itself, whose hot path then holds no closure: a
// closure there would cost an allocation on every call.)
function sendWithArguments(target, ipc, message, sendHandle, options, callback) {
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
  if (target.connected) return ipc.send(message, sendHandle, options, callback);
  const ex = ERR_IPC_CHANNEL_CLOSED();
  if (typeof callback === 'function') process.nextTick(callback, ex);
  else process.nextTick(() => target.emit('error', ex));
  return false;
}

// Install the surface on `target` for `transport` (set right after, with
// ipc.attach). `countListeners`: the channel keeps the loop alive only
// while 'message' or 'disconnect' listeners exist (a child's process
// object), rather than until it closes (the parent's ChildProcess).
function setupIpc(target, { countListeners }) {
  const ipc = new Ipc(target, countListeners);
  const control = {
    ref() { ipc.explicitRef = true; ipc.updateRef(); },
    unref() { ipc.explicitRef = false; ipc.updateRef(); },
    get fd() { return ipc.transport !== null ? ipc.transport.fd : undefined; },
  };
  target.connected = true;
  target.channel = control;
  Object.defineProperty(target, '_channel', {
    configurable: true,
    enumerable: false,
    get() { return target.channel; },
    set(v) { target.channel = v; },
  });

  target.on('newListener', (name) => {
    if (name === 'message' || name === 'disconnect') {
      ipc.refs++;
      ipc.updateRef();
    }
    if (name === 'message' && ipc.pending.length !== 0) {
      // As Node: kept messages go to the first listener, on the next tick.
      process.nextTick(() => {
        if (target.channel === null || target.listenerCount('message') === 0) return;
        const kept = ipc.pending;
        ipc.pending = [];
        for (const [message, handle] of kept) target.emit('message', message, handle);
      });
    }
  });
  target.on('removeListener', (name) => {
    if (name === 'message' || name === 'disconnect') {
      ipc.refs--;
      ipc.updateRef();
    }
  });
  ipc.refs = target.listenerCount('message') + target.listenerCount('disconnect');

  target.send = function send(message, sendHandle, options, callback) {
    if (sendHandle === undefined && options === undefined && callback === undefined &&
        this.connected) {
      // The common call, without the argument shuffling below.
      return ipc.send(message, undefined, null, undefined);
    }
    return sendWithArguments(this, ipc, message, sendHandle, options, callback);
  };

  target.disconnect = function disconnect() {
    if (!this.connected) {
      this.emit('error', ERR_IPC_DISCONNECTED());
      return;
    }
    // Messages already accepted still go out before the channel closes.
    this.connected = false;
    ipc.transport.disconnect();
  };

  ipc.attach = (transport) => {
    ipc.transport = transport;
    target[kTransport] = transport;
    ipc.updateRef();
  };
  return ipc;
}

module.exports = { setupIpc, isInternal, kTransport };
