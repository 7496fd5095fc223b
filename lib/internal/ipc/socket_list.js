'use strict';

// Sockets a net.Server accepted and then sent to the other process, still
// counted by that server, as Node's child_process does it (the protocol of
// its lib/internal/socket_list.js, so either side may be a plain Node
// process):
//
//   The sender tags the handle message with the server's _connectionKey
//   ('4:127.0.0.1:8000'). The first time a key goes out on a channel the
//   server gets a SendList through its own _setupWorker(); from then on
//   server.getConnections() asks each list for a count, and server.close()
//   asks each list to report when the peer's sockets of that key have all
//   closed before it emits 'close'.
//
//   The receiver counts the sockets of each key it got (a GotList) and
//   answers { cmd: 'NODE_SOCKET_GET_COUNT', key } with
//   { cmd: 'NODE_SOCKET_COUNT', key, count }, and
//   { cmd: 'NODE_SOCKET_NOTIFY_CLOSE', key } with
//   { cmd: 'NODE_SOCKET_ALL_CLOSED', key } once its count is zero.
//
// Both ride on the channel as internal messages ('internalMessage' on the
// target, never 'message').

const EventEmitter = require('events');

const { codes: { ERR_CHILD_CLOSED_BEFORE_REPLY } } = require('../errors');

// target (a ChildProcess, or process in a child) ->
//   { send: Map(key -> SendList), got: Map(key -> GotList) }
const listsOf = new WeakMap();

function lists(target) {
  let l = listsOf.get(target);
  if (l === undefined) {
    l = { send: new Map(), got: new Map() };
    listsOf.set(target, l);
  }
  return l;
}

// The sender's side of one key on one channel; what the server keeps in
// its _workers. `ipc` is the channel's Ipc (target.js).
class SendList extends EventEmitter {
  constructor(ipc, key) {
    super();
    const target = ipc.target;
    this.ipc = ipc;
    this.target = target;
    this.key = key;
    // The peer process is gone: the server stops asking this list.
    target.once('exit', () => this.emit('exit', this));
  }

  // Send `message`, wait for the internal reply `cmd` of this key; an
  // error if the channel closes first.
  request(message, cmd, swallowErrors, callback) {
    const target = this.target;
    const onReply = (reply) => {
      if (reply.cmd !== cmd || reply.key !== this.key) return;
      target.removeListener('disconnect', onClose);
      target.removeListener('internalMessage', onReply);
      callback(null, reply);
    };
    const onClose = () => {
      target.removeListener('internalMessage', onReply);
      callback(ERR_CHILD_CLOSED_BEFORE_REPLY());
    };
    if (!target.connected) {
      onClose();
      return;
    }
    this.ipc.sendInternal(message, swallowErrors);
    target.once('disconnect', onClose);
    target.on('internalMessage', onReply);
  }

  // net.Server#close: callback once the peer holds no socket of this key.
  close(callback) {
    this.request({ cmd: 'NODE_SOCKET_NOTIFY_CLOSE', key: this.key }, 'NODE_SOCKET_ALL_CLOSED', true, callback);
  }

  // net.Server#getConnections: how many sockets of this key the peer holds.
  getConnections(callback) {
    this.request({ cmd: 'NODE_SOCKET_GET_COUNT', key: this.key }, 'NODE_SOCKET_COUNT', false, (err, reply) => {
      if (err) callback(err);
      else callback(null, reply.count);
    });
  }
}

// The receiver's side of one key on one channel.
class GotList extends EventEmitter {
  constructor(ipc, key) {
    super();
    const target = ipc.target;
    this.key = key;
    this.connections = 0;
    const allClosed = () => {
      if (target.connected) ipc.sendInternal({ cmd: 'NODE_SOCKET_ALL_CLOSED', key }, true);
    };
    target.on('internalMessage', (message) => {
      if (message.key !== key) return;
      if (message.cmd === 'NODE_SOCKET_NOTIFY_CLOSE') {
        if (this.connections === 0) allClosed();
        else this.once('empty', allClosed);
      } else if (message.cmd === 'NODE_SOCKET_GET_COUNT') {
        if (target.connected) ipc.sendInternal({ cmd: 'NODE_SOCKET_COUNT', key, count: this.connections }, false);
      }
    });
  }

  add(socket) {
    this.connections++;
    socket.once('close', () => {
      if (--this.connections === 0) this.emit('empty', this);
    });
  }
}

// At the moment a net.Socket that `server` accepted goes out on the
// channel of `ipc`: the key for the handle message, and the server now
// asks the peer about it. Returns the key.
function trackSent(ipc, server) {
  const key = server._connectionKey;
  const send = lists(ipc.target).send;
  if (!send.has(key)) {
    const list = new SendList(ipc, key);
    send.set(key, list);
    if (typeof server._setupWorker === 'function') server._setupWorker(list);
  }
  return key;
}

// A socket arrived with a key: count it until it closes.
function trackGot(ipc, key, socket) {
  const got = lists(ipc.target).got;
  let list = got.get(key);
  if (list === undefined) {
    list = new GotList(ipc, key);
    got.set(key, list);
  }
  list.add(socket);
}

module.exports = { trackSent, trackGot };
