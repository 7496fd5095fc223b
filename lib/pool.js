'use strict';

// native-workers/pool: piscina 5's API for JavaScript tasks in a pool of
// threads, with tasks and results on the package's rings and doorbells
// (lib/internal/pool/). A piscina user switches by changing the require:
//
//   const Pool = require('native-workers/pool');
//   const pool = new Pool({ filename: path.resolve(__dirname, 'task.js') });
//   await pool.run({ a: 4, b: 6 });
//
// Options are read from the caller's own properties, checked and filled
// here once; run() validates its own options the same way. Errors carry
// piscina's messages and Node-style codes.

const { EventEmitterAsyncResource } = require('events');
const os = require('os');
const { performance } = require('perf_hooks');
const path = require('path');
const { fileURLToPath, URL } = require('url');
const { codes: { ERR_POOL_INVALID_OPTION, ERR_POOL_NO_FILENAME } } = require('./internal/errors');
const { PoolCore } = require('./internal/pool/core');
const { ArrayTaskQueue, FixedQueue, isTaskQueue } = require('./internal/pool/queues');
const {
  kTransferable, kValue, kQueueOptions, state, isMovable, move,
} = require('./internal/pool/common');
const { version } = require('../package.json');

const kCore = Symbol('kCore');
const kHistogram = Symbol('kHistogram');

const parallelism = os.availableParallelism();

function typeError(message) {
  return ERR_POOL_INVALID_OPTION('ERR_INVALID_ARG_TYPE', message);
}

function valueError(message) {
  return ERR_POOL_INVALID_OPTION('ERR_INVALID_ARG_VALUE', message);
}

// A count option: a number, not NaN, at least `min`.
function checkCount(v, name, min, what) {
  if (v === undefined) return;
  if (typeof v !== 'number') throw typeError(`options.${name} must be ${what}`);
  if (Number.isNaN(v) || v < min) throw valueError(`options.${name} must be ${what}`);
}

// A task file: a path (made absolute against the working directory), a
// file: URL (string or URL object), or a module specifier as it is.
function toFilename(v) {
  if (v instanceof URL) {
    if (v.protocol !== 'file:') return v.href;
    return fileURLToPath(v);
  }
  if (v.startsWith('file:')) return fileURLToPath(v);
  if (path.isAbsolute(v)) return v;
  if (v.startsWith('./') || v.startsWith('../') || v === '.' || v === '..') return path.resolve(v);
  return v;
}

function isFilename(v) {
  return typeof v === 'string' || v instanceof URL;
}

function fillOptions(options) {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw typeError('options must be an object');
  }
  const o = { __proto__: null, ...options };
  if (o.filename != null && !isFilename(o.filename)) throw typeError('options.filename must be a string or null');
  if (o.name != null && typeof o.name !== 'string') throw typeError('options.name must be a string or null');
  checkCount(o.minThreads, 'minThreads', 0, 'a non-negative integer');
  checkCount(o.maxThreads, 'maxThreads', 1, 'a positive integer');
  if (o.minThreads !== undefined && o.maxThreads !== undefined && o.minThreads > o.maxThreads) {
    throw ERR_POOL_INVALID_OPTION('ERR_OUT_OF_RANGE', 'options.minThreads and options.maxThreads must not conflict', RangeError);
  }
  checkCount(o.idleTimeout, 'idleTimeout', 0, 'a non-negative integer');
  if (o.maxQueue !== undefined && o.maxQueue !== 'auto') checkCount(o.maxQueue, 'maxQueue', 0, 'a non-negative integer');
  checkCount(o.concurrentTasksPerWorker, 'concurrentTasksPerWorker', 1, 'a positive integer');
  if (o.atomics != null && !['sync', 'async', 'disabled'].includes(o.atomics)) {
    throw valueError('options.atomics should be a value of sync, async or disabled.');
  }
  if (o.resourceLimits !== undefined && (typeof o.resourceLimits !== 'object' || o.resourceLimits === null)) {
    throw typeError('options.resourceLimits must be an object');
  }
  if (o.taskQueue !== undefined && !isTaskQueue(o.taskQueue)) throw typeError('options.taskQueue must be a TaskQueue object');
  checkCount(o.niceIncrement, 'niceIncrement', 0, 'a non-negative integer on Unix systems');
  if (o.trackUnmanagedFds !== undefined && typeof o.trackUnmanagedFds !== 'boolean') {
    throw typeError('options.trackUnmanagedFds must be a boolean value');
  }
  checkCount(o.closeTimeout, 'closeTimeout', 0, 'a non-negative integer');
  if (o.loadBalancer !== undefined && (typeof o.loadBalancer !== 'function' || o.loadBalancer.length < 1)) {
    throw typeError('options.loadBalancer must be a function with at least two args');
  }
  for (const key of ['recordTiming', 'workerHistogram', 'stricterFIFO']) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean') throw typeError(`options.${key} must be a boolean`);
  }
  if (o.argv !== undefined && !Array.isArray(o.argv)) throw typeError('options.argv must be an array');
  if (o.execArgv !== undefined && !Array.isArray(o.execArgv)) throw typeError('options.execArgv must be an array');
  if (o.runtime !== undefined && o.runtime !== 'thread' && o.runtime !== 'process') {
    throw valueError("options.runtime must be 'thread' or 'process'");
  }

  let minThreads = o.minThreads !== undefined ? o.minThreads : Math.max(Math.floor(parallelism / 2), 1);
  let maxThreads = o.maxThreads !== undefined ? o.maxThreads : parallelism * 1.5;
  if (o.maxThreads !== undefined && minThreads >= o.maxThreads) minThreads = o.maxThreads;
  if (o.minThreads !== undefined && maxThreads <= o.minThreads) maxThreads = o.minThreads;
  return {
    __proto__: null,
    ...o,
    filename: o.filename != null ? toFilename(o.filename) : null,
    name: o.name != null ? o.name : 'default',
    minThreads,
    maxThreads,
    idleTimeout: o.idleTimeout !== undefined ? o.idleTimeout : 0,
    maxQueue: o.maxQueue === 'auto' ? maxThreads ** 2 : o.maxQueue !== undefined ? o.maxQueue : Infinity,
    concurrentTasksPerWorker: o.concurrentTasksPerWorker !== undefined ? o.concurrentTasksPerWorker : 1,
    atomics: o.atomics != null ? o.atomics : 'sync',
    taskQueue: o.taskQueue !== undefined ? o.taskQueue : new FixedQueue(),
    niceIncrement: o.niceIncrement !== undefined ? o.niceIncrement : 0,
    trackUnmanagedFds: o.trackUnmanagedFds !== undefined ? o.trackUnmanagedFds : true,
    closeTimeout: o.closeTimeout !== undefined ? o.closeTimeout : 30000,
    recordTiming: o.recordTiming !== undefined ? o.recordTiming : true,
    stricterFIFO: o.stricterFIFO !== undefined ? o.stricterFIFO : false,
    workerHistogram: o.workerHistogram !== undefined ? o.workerHistogram : false,
    runtime: o.runtime !== undefined ? o.runtime : 'thread',
  };
}

class Pool extends EventEmitterAsyncResource {
  constructor(options = undefined) {
    const filled = fillOptions(options);
    super({ name: 'Pool' });
    this[kHistogram] = null;
    this[kCore] = new PoolCore(this, filled);
  }

  run(task, options = undefined) {
    const core = this[kCore];
    if (options === undefined) {
      if (isMovable(task)) return this.run(task, {});
      if (core.options.filename === null) return Promise.reject(ERR_POOL_NO_FILENAME());
      return core.run(task, undefined, core.options.filename, core.options.name, null);
    }
    if (options === null || typeof options !== 'object') return Promise.reject(typeError('options must be an object'));
    const o = { __proto__: null, ...options };
    let transferList = o.transferList;
    const signal = o.signal != null ? o.signal : null;
    let filename = o.filename != null ? o.filename : null;
    const name = o.name != null ? o.name : core.options.name;
    if (transferList !== undefined && !Array.isArray(transferList)) {
      return Promise.reject(typeError('transferList argument must be an Array'));
    }
    if (filename !== null && !isFilename(filename)) return Promise.reject(typeError('filename argument must be a string'));
    if (typeof name !== 'string') return Promise.reject(typeError('name argument must be a string'));
    if (signal !== null && (typeof signal !== 'object' || typeof signal.addEventListener !== 'function')) {
      return Promise.reject(typeError('signal argument must be an object'));
    }
    filename = filename !== null ? toFilename(filename) : core.options.filename;
    if (filename === null) return Promise.reject(ERR_POOL_NO_FILENAME());
    if (isMovable(task)) {
      transferList = (transferList || []).concat(task[kTransferable]);
      task = task[kValue];
    }
    return core.run(task, transferList, filename, name, signal);
  }

  close(options = undefined) {
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      return Promise.reject(typeError('options must be an object'));
    }
    const force = options !== undefined ? options.force : undefined;
    if (force !== undefined && typeof force !== 'boolean') return Promise.reject(typeError('force argument must be a boolean'));
    return this[kCore].close(force === true);
  }

  destroy() {
    return this[kCore].destroy();
  }

  [Symbol.dispose]() {
    this.close();
  }

  [Symbol.asyncDispose]() {
    return this.close();
  }

  get maxThreads() { return this[kCore].options.maxThreads; }

  get minThreads() { return this[kCore].options.minThreads; }

  get options() { return this[kCore].options; }

  // Worker objects, or ChildProcess objects with runtime: 'process'.
  get threads() { return this[kCore].workers.map((w) => (w.sync ? w.worker : w.worker.child)); }

  get idleThreads() { return this[kCore].idleThreads; }

  get queueSize() { return this[kCore].queueSize; }

  get completed() { return this[kCore].completed; }

  get histogram() {
    if (this[kHistogram] === null) this[kHistogram] = this[kCore].histogram();
    return this[kHistogram];
  }

  get utilization() { return this[kCore].utilization; }

  // ThreadPool's stats, field for field (core.js says how each is counted).
  get stats() { return this[kCore].stats(); }

  get duration() { return performance.now() - this[kCore].start; }

  get needsDrain() { return this[kCore].needsDrain; }

  static get isWorkerThread() { return state.isWorkerThread; }

  static get workerData() { return state.workerData; }

  static get version() { return version; }

  static get Piscina() { return Pool; }

  static get Pool() { return Pool; }

  static get FixedQueue() { return FixedQueue; }

  static get ArrayTaskQueue() { return ArrayTaskQueue; }

  static move(value) { return move(value); }

  static get transferableSymbol() { return kTransferable; }

  static get valueSymbol() { return kValue; }

  static get queueOptionsSymbol() { return kQueueOptions; }
}

// The class is the module itself, with the named exports as its statics
// (`const { move, isWorkerThread } = require('native-workers/pool')`).
module.exports = Pool;
// Enumerable, so that the ESM entry's names are exactly these.
Object.defineProperty(Pool, 'default', { value: Pool });
for (const key of ['Piscina', 'Pool', 'FixedQueue', 'ArrayTaskQueue', 'move', 'transferableSymbol',
  'valueSymbol', 'queueOptionsSymbol', 'version', 'isWorkerThread', 'workerData']) {
  const d = Object.getOwnPropertyDescriptor(Pool, key);
  Object.defineProperty(Pool, key, { ...d, enumerable: true });
}
