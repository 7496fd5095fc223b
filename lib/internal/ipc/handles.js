'use strict';

// The one table of handles that send(message, handle) can pass, for both
// IPC paths (the fork channel and Node's own protocol), in the manner of
// Node's handleConversion: for each type, how to find the descriptor to
// pass and what else the receiver needs, what becomes of the sender's
// object, and how the receiver rebuilds an object of the same type around
// the descriptor it got (SCM_RIGHTS).
//
// Besides the public objects, the table knows the raw libuv handles that
// Node's cluster passes ('net.Native': a TCP or Pipe handle, 'dgram.Native':
// a UDP handle): the cluster primary of native-workers hands them to the
// cluster code that Node runs in each worker, which wants a raw handle.

const fs = require('fs');
const net = require('net');
const dgram = require('dgram');

const binding = require('../binding');
const { codes: { ERR_INVALID_HANDLE_TYPE } } = require('../errors');

// Where a dgram.Socket keeps its handle (a symbol-keyed state object).
let dgramState;
function dgramHandle(sock) {
  if (dgramState === undefined) {
    dgramState = Object.getOwnPropertySymbols(sock).find((s) => String(s) === 'Symbol(state symbol)') || null;
  }
  const state = dgramState && sock[dgramState];
  return state && state.handle;
}

function fdOf(handle) {
  const fd = handle && handle.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}

// A raw handle of libuv's (what net.Socket#_handle holds): the type
// Node's own code checks with instanceof, here by its class's name.
function rawKind(handle) {
  if (handle === null || typeof handle !== 'object' || typeof handle.close !== 'function') return null;
  const name = handle.constructor && handle.constructor.name;
  if (name === 'TCP' || name === 'Pipe') return 'net.Native';
  if (name === 'UDP') return 'dgram.Native';
  return null;
}

// A raw handle as Node's own receiver gives it: without what the object
// that opened it hung on it (its owner, onread, lookup), so that Node's
// code can tell that nobody owns it yet.
function bare(raw) {
  for (const key of Reflect.ownKeys(raw)) delete raw[key];
  return raw;
}

const conversions = {
  'net.Server': {
    fd: (server) => fdOf(server._handle),
    detach: () => null,
    rebuild(fd, meta, done, fail) {
      const server = new net.Server();
      server.once('error', (err) => { server.close(); fail(err); });
      // exclusive: in a cluster worker a plain listen({ fd }) would ask
      // the primary for a server instead of using this descriptor.
      server.listen({ fd, exclusive: true }, () => done(server));
    },
  },
  'net.Native': {
    fd: fdOf,
    // net.Socket throws for a descriptor that is not a stream socket, so
    // the receiver need not look first (one system call less for each
    // connection a cluster primary hands over).
    checksType: true,
    // The sender keeps its handle (the cluster primary closes it once the
    // worker took the connection).
    detach: () => null,
    rebuild(fd, meta, done) {
      // A net.Socket opened on the descriptor makes the TCP or Pipe handle
      // that suits it; the raw handle is taken out of it, unread.
      const socket = new net.Socket({ fd, readable: false, writable: false });
      const raw = socket._handle;
      socket._handle = null;
      done(bare(raw));
    },
  },
  'dgram.Native': {
    fd: fdOf,
    detach: () => null,
    rebuild(fd, meta, done, fail) {
      // (The UDP handle class is one for both families.)
      const socket = dgram.createSocket('udp4');
      const raw = dgramHandle(socket);
      const err = raw.open(fd);
      if (err !== 0) {
        closeFd(fd);
        fail(new Error(`a dgram.Native handle that cannot be opened (${err})`));
        return;
      }
      done(bare(raw));
    },
  },
  'net.Socket': {
    fd: (socket) => fdOf(socket._handle),
    // As Node does: unless keepOpen, the socket object lets go of its
    // handle (it is neither destroyed nor usable any more), reading stops
    // so that no data meant for the receiver is taken here meanwhile, and
    // the handle is closed once the descriptor is on its way.
    detach(socket, options) {
      if (options.keepOpen) return null;
      const raw = socket._handle;
      if (typeof raw.readStop === 'function') raw.readStop();
      raw.onread = () => {};
      socket._handle = null;
      socket.setTimeout(0);
      return raw;
    },
    rebuild(fd, meta, done) {
      // (new net.Socket throws for a descriptor that is not a stream.)
      const socket = new net.Socket({ fd, readable: true, writable: true });
      process.nextTick(done, socket);
    },
  },
  'dgram.Socket': {
    fd: (socket) => fdOf(dgramHandle(socket)),
    extra: (socket) => ({ dgramType: socket.type }),
    detach: () => null,
    rebuild(fd, meta, done, fail) {
      const socket = dgram.createSocket(meta.dgramType === 'udp6' ? 'udp6' : 'udp4');
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
  if (handle instanceof net.Socket) type = 'net.Socket';
  else if (handle instanceof net.Server) type = 'net.Server';
  else if (handle instanceof dgram.Socket) type = 'dgram.Socket';
  else if ((type = rawKind(handle)) === null) throw ERR_INVALID_HANDLE_TYPE();
  const conv = conversions[type];
  return { type, fd: conv.fd(handle), extra: conv.extra ? conv.extra(handle) : null };
}

// After the descriptor went into a message: what the sender keeps of
// `handle` (a raw handle to close once the descriptor is delivered, or
// null).
function detachHandle(handle, type, options) {
  return conversions[type].detach(handle, options);
}

// Build the object a received descriptor stands for and call done(object).
// A descriptor of a type this table does not know is closed, and done() is
// called with undefined, as for a message without a handle. One that is
// not what the peer said it is (not a socket, or one Node cannot use as
// that type) is closed and fail(err) is called: the peer is broken.
function rebuildHandle(type, fd, meta, done, fail) {
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
    conv.rebuild(fd, meta, done, fail);
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
