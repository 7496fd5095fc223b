'use strict';

// runtime: 'process' — a thread of the pool that is a child process: the
// same task entry (worker.js) started with the package's fork(), its
// messages on the fork channel (shared memory, 'advanced' serialization).
// The objects here answer to what core.js asks of a thread's Worker and
// task port; a crash takes the process, not the pool.

const EventEmitter = require('events');
const path = require('path');

const ENTRY = path.join(__dirname, 'worker.js');
const PROC_KEY = '__nwPool'; // as in worker.js

class ProcessPort extends EventEmitter {
  constructor(owner) {
    super();
    this.owner = owner;
  }

  // Transfer lists do not cross processes: their values are copied.
  postMessage(msg) {
    const child = this.owner.child;
    if (this.owner.exited || !child.connected) return;
    child.send({ [PROC_KEY]: msg });
  }

  close() {}

  ref() { return this; }

  unref() { return this; }
}

class ProcessWorker extends EventEmitter {
  constructor(o) {
    super();
    const { fork } = require('../../child_process');
    this.exited = false;
    this.child = fork(ENTRY, Array.isArray(o.argv) ? o.argv.map(String) : [], {
      env: o.env !== null && typeof o.env === 'object' ? o.env : process.env,
      execArgv: o.execArgv,
      serialization: 'advanced',
    });
    this.port = new ProcessPort(this);
    this.child.on('message', (m) => {
      if (m !== null && typeof m === 'object' && m[PROC_KEY] !== undefined) this.port.emit('message', m[PROC_KEY]);
      else this.emit('message', m);
    });
    this.child.on('error', (err) => this.emit('error', err));
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      this.emit('exit', code !== null ? code : signal);
    });
  }

  get threadId() { return this.exited ? -1 : this.child.pid; }

  // The start message (core.js sends the task port's end with it to a
  // thread; a process has the fork channel instead).
  postMessage(init) {
    const { port, ...rest } = init;
    this.port.postMessage({ ...rest, workerData: this.workerData });
  }

  ref() {
    this.child.ref();
    if (this.child.channel) this.child.channel.ref();
  }

  unref() {
    this.child.unref();
    if (this.child.channel) this.child.channel.unref();
  }

  // The loop waits for the exit, as it does for a Worker's terminate().
  terminate() {
    if (!this.exited) {
      this.child.ref();
      this.child.kill('SIGKILL');
    }
    return Promise.resolve();
  }
}

module.exports = { ProcessWorker };
