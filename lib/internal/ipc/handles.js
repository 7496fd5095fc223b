'use strict';

// The one table of handles that send(message, handle) can pass, for both
// IPC paths (the fork channel and Node's own protocol), in the manner of
// Node's handleConversion: for each type, how to find the descriptor to
// pass and what else the receiver needs, what becomes of the sender's
// object, and how the receiver rebuilds an object of the same type around
// the descriptor it got (SCM_RIGHTS).

const fs = require('fs');

const binding = require('../binding');
const { codes: { ERR_INVALID_HANDLE_TYPE } } = require('../errors');
const { trackSent, trackGot } = require('./socket_list');

// net and dgram load when a handle is first sent or received: a child
// that never passes one starts without them.
let net = null;
let dgram = null;
function netModule() { return net !== null ? net : (net = require('net')); }
function dgramModule() { return dgram !== null ? dgram : (dgram = require('dgram')); }

// Where a dgram.Socket keeps its handle (a symbol-keyed state object).
let dgramState;
function dgramHandle(sock) {
  if (dgramState === undefined) {
    dgramState = Object.getOwnPropertySymbols(sock).find((s) => String(s) === 'Symbol(state symbol)') || null;
  }
  const state = dgramState && sock[dgramState];
  return state && state.handle;
}

// A raw handle of Node's own (what server._handle or socket._handle
// hold): 'net.Native' for TCP and Pipe, 'dgram.Native' for UDP, as Node
// names them; null for anything else. Node's classes are not reachable
// from user land without process.binding (deprecated), so they are known
// by their names and methods.
function nativeType(handle) {
  if (handle === null || typeof handle !== 'object') return null;
  const proto = Object.getPrototypeOf(handle);
  const name = proto && typeof proto.constructor === 'function' ? proto.constructor.name : '';
  if ((name === 'TCP' || name === 'Pipe') && typeof handle.readStart === 'function' &&
      typeof handle.open === 'function') return 'net.Native';
  if (name === 'UDP' && typeof handle.recvStart === 'function' && typeof handle.open === 'function') {
    return 'dgram.Native';
  }
  return null;
}

// A raw handle as Node's own receiver gives it: without what the object
// that opened it hung on it (its owner, onread, lookup), so that Node's
// code can tell that nobody owns it yet.
function bare(raw) {
  for (const key of Reflect.ownKeys(raw)) delete raw[key];
  return raw;
}

function fdOf(handle) {
  const fd = handle && handle.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}

const conversions = {
  'net.Server': {
    fd: (server) => fdOf(server._handle),
    detach: () => null,
    rebuild(fd, meta, ipc, done, fail) {
      const server = new (netModule().Server)();
      server.once('error', (err) => { server.close(); fail(err); });
      // exclusive: in a cluster worker a plain listen({ fd }) would ask
      // the primary for a server instead of using this descriptor.
      server.listen({ fd, exclusive: true }, () => done(server));
    },
  },
  'net.Socket': {
    fd: (socket) => fdOf(socket._handle),
    // As Node does: unless keepOpen, the socket object lets go of its
    // handle (it is neither destroyed nor usable any more), reading stops
    // so that no data meant for the receiver is taken here meanwhile, and
    // the handle is closed once the descriptor is on its way. A socket
    // its server accepted goes with the server's key, and the server counts
    // it among its connections through the peer from now on
    // (socket_list.js); here it no longer counts unless kept open.
    detach(socket, options, h, ipc) {
      if (socket.server) {
        h.extra = { ...h.extra, key: trackSent(ipc, socket.server) };
        if (!options.keepOpen) socket.server._connections--;
      }
      if (options.keepOpen) return null;
      const raw = socket._handle;
      if (typeof raw.readStop === 'function') raw.readStop();
      raw.onread = () => {};
      socket._handle = null;
      socket.setTimeout(0);
      return raw;
    },
    rebuild(fd, meta, ipc, done) {
      // (new net.Socket throws for a descriptor that is not a stream.)
      const socket = new (netModule().Socket)({ fd, readable: true, writable: true });
      // Accepted by the sender's server: the sender asks how many we hold.
      if (typeof meta.key === 'string') trackGot(ipc, meta.key, socket);
      process.nextTick(done, socket);
    },
  },
  // Raw handles travel as they are: the sender keeps its own open, and the
  // receiver gets a raw handle of the same kind around the descriptor.
  'net.Native': {
    fd: fdOf,
    // net.Socket throws for a descriptor that is not a stream socket, so
    // the receiver need not look first (one system call less for each
    // connection a cluster primary hands over).
    checksType: true,
    // The sender keeps its handle (the cluster primary closes it once the
    // worker took the connection).
    detach: () => null,
    rebuild(fd, meta, ipc, done) {
      // A socket object makes the TCP or Pipe handle that fits the
      // descriptor (as Node's createHandle does), then lets go of it.
      const holder = new (netModule().Socket)({ fd, readable: false, writable: false });
      const raw = holder._handle;
      holder._handle = null;
      done(bare(raw));
    },
  },
  'dgram.Native': {
    fd: fdOf,
    detach: () => null,
    rebuild(fd, meta, ipc, done, fail) {
      // (The UDP handle class is one for both families.)
      const raw = dgramHandle(dgramModule().createSocket('udp4'));
      const err = raw.open(fd);
      if (err !== 0) {
        closeFd(fd);
        fail(new Error(`a dgram.Native handle that cannot be opened (${err})`));
        return;
      }
      done(bare(raw));
    },
  },
  'dgram.Socket': {
    fd: (socket) => fdOf(dgramHandle(socket)),
    extra: (socket) => ({ dgramType: socket.type }),
    detach: () => null,
    rebuild(fd, meta, ipc, done, fail) {
      const socket = dgramModule().createSocket(meta.dgramType === 'udp6' ? 'udp6' : 'udp4');
      socket.once('error', (err) => { socket.close(); fail(err); });
      socket.bind({ fd, exclusive: true }, () => done(socket));
    },
  },
};

// What send() passes for `handle`: { type, fd, extra } (fd -1 when the
// handle has nothing to pass, such as a server not listening: Node then
// sends the bare message). Throws ERR_INVALID_HANDLE_TYPE for anything
// else.
function describeHandle(handle) {
  let type;
  const n = netModule();
  if (handle instanceof n.Socket) type = 'net.Socket';
  else if (handle instanceof n.Server) type = 'net.Server';
  else if (nativeType(handle) === 'net.Native') type = 'net.Native';
  else if (handle instanceof dgramModule().Socket) type = 'dgram.Socket';
  else if (nativeType(handle) === 'dgram.Native') type = 'dgram.Native';
  else throw ERR_INVALID_HANDLE_TYPE();
  const conv = conversions[type];
  return { type, fd: conv.fd(handle), extra: conv.extra ? conv.extra(handle) : null };
}

// When the message carrying `h` (describeHandle()'s result, with the
// object as .object) is written on the channel of `ipc` (target.js): what
// the sender keeps of the object (a raw handle to close once the
// descriptor is delivered, or null). May add to h.extra, which goes with
// the message, so call it before the message is encoded.
function detachHandle(h, options, ipc) {
  return conversions[h.type].detach(h.object, options, h, ipc);
}

// Build the object a received descriptor stands for and call done(object).
// A descriptor of a type this table does not know is closed, and done() is
// called with undefined, as for a message without a handle. One that is
// not what the peer said it is (not a socket, or one Node cannot use as
// that type) is closed and fail(err) is called: the peer is broken.
// `ipc`: the channel it came on (target.js).
function rebuildHandle(type, fd, meta, ipc, done, fail) {
  const conv = Object.hasOwn(conversions, type) ? conversions[type] : undefined;
  if (conv === undefined) {
    closeFd(fd);
    process.nextTick(done, undefined);
    return;
  }
  let isSocket = conv.checksType === true;
  if (!isSocket) {
    try {
      isSocket = fs.fstatSync(fd).isSocket();
    } catch {
      // not an open descriptor
    }
  }
  if (!isSocket) {
    closeFd(fd);
    process.nextTick(fail, new TypeError(`a ${type} handle that is not a socket`));
    return;
  }
  try {
    conv.rebuild(fd, meta, ipc, done, fail);
  } catch (err) {
    closeFd(fd);
    process.nextTick(fail, err);
  }
}

// Close a descriptor the addon received (not one Node's fs tracks).
function closeFd(fd) {
  try {
    binding.closeFd(fd);
  } catch {
    // already closed
  }
}

module.exports = { describeHandle, detachHandle, rebuildHandle, closeFd, dgramHandle };
