'use strict';

// cluster.Worker in the primary: Node 20's properties, events and methods
// over a ChildProcess of native-workers' fork(). disconnect() and
// destroy() need the primary's books (its handles and workers), so the
// primary passes them in as `books` (see primary.js).

const EventEmitter = require('events');

const kLink = Symbol('kLink');
let books = null;

// A function, not a class: as Node's, it may be called without `new`.
function Worker(options) {
  if (!new.target) return new Worker(options);
  EventEmitter.call(this);
  if (options === null || typeof options !== 'object') options = {};
  this.exitedAfterDisconnect = undefined;
  this.state = options.state || 'none';
  this.id = options.id | 0;
  if (options.process) {
    this.process = options.process;
    this.process.on('error', (code, signal) => this.emit('error', code, signal));
    this.process.on('message', (message, handle) => this.emit('message', message, handle));
  }
}
Object.setPrototypeOf(Worker.prototype, EventEmitter.prototype);
Object.setPrototypeOf(Worker, EventEmitter);

Worker.prototype.send = function send(...args) {
  return this.process.send(...args);
};

Worker.prototype.isDead = function isDead() {
  return this.process.exitCode != null || this.process.signalCode != null;
};

Worker.prototype.isConnected = function isConnected() {
  return this.process.connected;
};

// The worker closes its servers (waiting for their connections to end),
// then its channel; the primary forgets it at once.
Worker.prototype.disconnect = function disconnect() {
  this.exitedAfterDisconnect = true;
  const link = this[kLink];
  if (link !== undefined) link.send({ act: 'disconnect' });
  if (books !== null) books.forget(this);
  return this;
};

// As Node 20: a signal, without disconnecting first.
Worker.prototype.destroy = function destroy(signo) {
  this.process.kill(signo || 'SIGTERM');
};

Worker.prototype.kill = function kill(...args) {
  this.destroy(...args);
};

function setBooks(b) {
  books = b;
}

module.exports = { Worker, kLink, setBooks };
