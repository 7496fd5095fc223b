'use strict';

// ThreadPool: native kernels on threads of the package's own (src/core/pool.c),
// never on libuv's shared pool.
//
// run() calls of one tick are collected and submitted to the native pool in
// one call (a microtask flushes them); finished tasks come back in batches
// through one threadsafe-function wakeup, as [id, kind] pairs in a shared
// Float64Array plus an array of values.

const os = require('os');
const path = require('path');
const { types: { isSharedArrayBuffer, isArrayBuffer, isArrayBufferView } } = require('util');

const binding = require('./internal/binding');
const debug = require('./internal/debug').debuglog('thread_pool');
const {
  codes: {
    ERR_INVALID_ARG_TYPE,
    ERR_INVALID_ARG_VALUE,
    ERR_POOL_CLOSED,
    ERR_POOL_QUEUE_FULL,
    ERR_UNKNOWN_KERNEL,
    ERR_DLOPEN_FAILED,
    ERR_INVALID_KERNEL_LIBRARY,
    ERR_KERNEL_EXISTS,
  },
  AbortError,
  errnoException,
} = require('./internal/errors');
const {
  validateObject,
  validateInteger,
  validateString,
  validateAbortSignal,
} = require('./internal/validators');

const native = binding.pool;
const CHUNK = native.CHUNK;

const kHandle = Symbol('kHandle');

// One shared promise executor: run() takes the resolve function from here
// instead of allocating a closure per task.
let captured;
function capture(resolve) {
  captured = resolve;
}
const kState = Symbol('kState');
const kNoName = Symbol('kNoName'); // equal to no name a caller can pass

// Completion kinds (src/napi/pool.c).
const KIND_OK = 0;
const KIND_FAILED = 1;
const KIND_CANCELLED = 2;
const KIND_REJECTED = 3;

// Per-task flags next to the kernel index (src/napi/pool.c).
const META_SHARED = 1 << 16;
const META_PRIVATE = 1 << 17;
const META_SKIP = 1 << 18;

// Bytes of input copied per turn of the event loop (see #flush).
const COPY_BUDGET = 2 << 20;
const MORE = 1;
// Why native.submit stopped short of the batch (negative errnos).
const EAGAIN = -os.constants.errno.EAGAIN;
const EINVAL = -os.constants.errno.EINVAL;
const ESHUTDOWN = -os.constants.errno.ESHUTDOWN;

// The error load(file) throws for one the addon threw (src/napi/pool.c:
// the loader's message under a stable code, or a system error).
function loadError(err, file) {
  switch (err.code) {
    case 'ERR_DLOPEN_FAILED': return ERR_DLOPEN_FAILED(err.message);
    case 'ERR_INVALID_KERNEL_LIBRARY': return ERR_INVALID_KERNEL_LIBRARY(err.message);
    case 'ERR_KERNEL_EXISTS': return ERR_KERNEL_EXISTS(err.message);
    case 'ERR_INVALID_ARG_VALUE': return ERR_INVALID_ARG_VALUE('path', file, `is invalid (${err.message})`);
    default: return typeof err.errno === 'number' ? errnoException(err.errno, 'dlopen', file) : err;
  }
}

function abortError(signal) {
  return new AbortError(undefined, { cause: signal ? signal.reason : undefined });
}

// The input as the native side takes it: [value, flags]. Throws on bad input.
function toInput(input) {
  if (input === undefined || input === null) return [undefined, 0];
  if (typeof input === 'string') return [Buffer.from(input, 'utf8'), META_PRIVATE];
  if (typeof input === 'number') return [new Float64Array([input]), META_PRIVATE];
  if (isArrayBufferView(input)) {
    const buf = input.buffer;
    if (isSharedArrayBuffer(buf)) return [input, META_SHARED];
    if (input.byteLength === 0 && binding.isDetached(buf)) {
      throw ERR_INVALID_ARG_VALUE('input', input, 'is backed by a detached ArrayBuffer');
    }
    return [input, 0];
  }
  if (isSharedArrayBuffer(input)) return [new Uint8Array(input), META_SHARED];
  if (isArrayBuffer(input)) {
    if (input.byteLength === 0 && binding.isDetached(input)) {
      throw ERR_INVALID_ARG_VALUE('input', input, 'is a detached ArrayBuffer');
    }
    return [input, 0];
  }
  throw ERR_INVALID_ARG_TYPE('input',
    ['string', 'number', 'Buffer', 'TypedArray', 'DataView', 'ArrayBuffer', 'SharedArrayBuffer'], input);
}

// The resolve functions of the tasks in flight, by task id. Ids are
// consecutive, so a table indexed by the low bits of the id holds them
// without hashing: every id in flight has its own slot (the table doubles on
// a collision, which keeps ids distinct modulo the size). Past MAX_SLOTS, a
// collision (a task that stays in flight while many newer ones pass) goes
// to a Map instead, so one stuck task cannot make the table grow unbounded.
// 2^18 slots (4 MiB) hold a few hundred thousand tasks in flight without
// the Map.
const MAX_SLOTS = 1 << 18;
class TaskTable {
  constructor() {
    this.mask = 1023;
    this.fns = new Array(1024).fill(undefined);
    this.ids = new Float64Array(1024);
    this.overflow = new Map();
    this.size = 0;
  }

  set(id, fn) {
    let j = id & this.mask;
    while (this.fns[j] !== undefined) {
      if (this.mask + 1 >= MAX_SLOTS) {
        this.overflow.set(id, fn);
        this.size++;
        return;
      }
      this.#grow();
      j = id & this.mask;
    }
    this.fns[j] = fn;
    this.ids[j] = id;
    this.size++;
  }

  // The resolve function of task `id`, removed from the table; undefined
  // when it is not in flight.
  take(id) {
    const j = id & this.mask;
    const fn = this.fns[j];
    if (fn !== undefined && this.ids[j] === id) {
      this.fns[j] = undefined;
      this.size--;
      return fn;
    }
    if (this.overflow.size !== 0) {
      const f = this.overflow.get(id);
      if (f !== undefined) {
        this.overflow.delete(id);
        this.size--;
      }
      return f;
    }
    return undefined;
  }

  has(id) {
    const j = id & this.mask;
    return (this.fns[j] !== undefined && this.ids[j] === id) || this.overflow.has(id);
  }

  #grow() {
    const n = (this.mask + 1) * 2;
    const fns = new Array(n).fill(undefined);
    const ids = new Float64Array(n);
    const mask = n - 1;
    for (let j = 0; j <= this.mask; j++) {
      if (this.fns[j] !== undefined) {
        const k = this.ids[j] & mask;
        fns[k] = this.fns[j];
        ids[k] = this.ids[j];
      }
    }
    this.fns = fns;
    this.ids = ids;
    this.mask = mask;
  }
}

// The error a failed task rejects with (the addon always sends one; this
// guards against a value that could not be made).
function failure(values, i) {
  const v = values === undefined ? undefined : values[i];
  return v !== undefined ? v : new Error('The kernel failed');
}

// What the completion callback needs, and nothing that keeps the pool's
// native handle alive: a ThreadPool that is dropped without close() can
// still be collected (its finalizer joins its idle threads).
function makeState() {
  const state = {
    // id -> the resolve function of the task's promise. A task fails by
    // resolving with a rejected promise, so no reject function is kept.
    tasks: new TaskTable(),
    watched: new Map(),    // id -> { signal, onAbort, aborted } with a signal
    cbuf: new Float64Array(2 * CHUNK),
    destroyed: false,
    onDrained: null,
    complete: null,
  };
  state.complete = (n, values) => {
    const { tasks, watched, cbuf } = state;
    for (let i = 0; i < n; i++) {
      const id = cbuf[2 * i];
      const kind = cbuf[2 * i + 1];
      const resolve = tasks.take(id);
      if (resolve === undefined) continue;
      let aborted = false, signal;
      if (watched.size !== 0) {
        const w = watched.get(id);
        if (w !== undefined) {
          watched.delete(id);
          signal = w.signal;
          signal.removeEventListener('abort', w.onAbort);
          aborted = w.aborted;
        }
      }
      if (kind === KIND_OK && !aborted) {
        resolve(values === undefined ? undefined : values[i]);
      } else {
        resolve(Promise.reject(
          aborted ? abortError(signal)
            : kind === KIND_FAILED ? failure(values, i)
              : kind === KIND_CANCELLED && !state.destroyed ? abortError(signal)
                : ERR_POOL_CLOSED()));
      }
    }
    if (tasks.size === 0 && state.onDrained !== null) {
      const f = state.onDrained;
      state.onDrained = null;
      f();
    }
  };
  return state;
}

class ThreadPool {
  constructor(options = undefined) {
    if (options !== undefined) validateObject(options, 'options');
    const {
      threads = Math.min(os.availableParallelism(), 256), maxQueue = Infinity,
    } = { __proto__: null, ...options }; // the caller's own properties only
    validateInteger(threads, 'options.threads', 1, 256);
    if (maxQueue !== Infinity) validateInteger(maxQueue, 'options.maxQueue', 1);

    const state = makeState();
    this[kHandle] = native.create(threads, maxQueue === Infinity ? 0 : maxQueue, state.complete, state.cbuf);
    this[kState] = {
      shared: state,
      threads,
      maxQueue,
      kernelIndex: new Map(),
      kernelNames: [],
      lastName: kNoName,     // the kernel name of the last run() ...
      lastKernel: 0,         // ... and its index
      nextId: 1,
      // The batch being collected for the next flush.
      batchFirst: 0,
      batchN: 0,
      sent: 0,               // tasks of the batch already submitted
      resumeScheduled: false,
      meta: new Uint32Array(64),
      inputs: null,
      flushScheduled: false,
      closed: false,
      closing: null,
      finalStats: null,
    };
    this.#refreshKernels();
    debug('new pool: %d threads, maxQueue %s, kernels %s', threads, maxQueue, this[kState].kernelNames.join(' '));
    this[kState].flush = () => this.#flush();
    this[kState].resume = () => {
      this[kState].resumeScheduled = false;
      this.#flush();
    };
  }

  #refreshKernels() {
    const st = this[kState];
    const names = native.kernels(this[kHandle]);
    st.kernelNames = names;
    st.kernelIndex = new Map(names.map((n, i) => [n, i]));
  }

  // Names of the kernels this pool runs (built in and loaded).
  get kernels() {
    return [...this[kState].kernelNames];
  }

  get threads() {
    return this[kState].threads;
  }

  get stats() {
    const st = this[kState];
    if (st.finalStats !== null) return { ...st.finalStats };
    const s = native.stats(this[kHandle]);
    // Tasks collected for the next flush count as queued.
    s.queued += st.batchN - st.sent;
    return s;
  }

  run(name, input = undefined, options = undefined) {
    const st = this[kState];
    let kernel, value, flags, signal;
    try {
      if (name === st.lastName) {
        kernel = st.lastKernel; // the common case: the same kernel again
      } else {
        validateString(name, 'name');
        kernel = st.kernelIndex.get(name);
        if (kernel === undefined) throw ERR_UNKNOWN_KERNEL(name);
        st.lastName = name;
        st.lastKernel = kernel;
      }
      if (options !== undefined) {
        validateObject(options, 'options');
        signal = Object.hasOwn(options, 'signal') ? options.signal : undefined;
        validateAbortSignal(signal, 'options.signal');
      }
      if (input === undefined || input === null) {
        flags = 0; // no input: nothing to convert (and no array to unpack)
      } else {
        [value, flags] = toInput(input);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    if (st.closed) return Promise.reject(ERR_POOL_CLOSED());
    if (signal !== undefined && signal.aborted) return Promise.reject(abortError(signal));

    // Ids are consecutive within a batch (the native side numbers a batch
    // from its first id) and stay below 2^31 (the task table indexes by
    // their low bits): they start over between batches once past 2^30.
    if (st.batchN === 0 && st.nextId >= 0x40000000) st.nextId = 1;
    const id = st.nextId++;
    if (st.batchN === 0) st.batchFirst = id;
    const i = st.batchN++;
    if (i === st.meta.length) {
      const m = new Uint32Array(st.meta.length * 2);
      m.set(st.meta);
      st.meta = m;
    }
    st.meta[i] = kernel | flags;
    if (value !== undefined) {
      if (st.inputs === null) st.inputs = new Array(i);
      st.inputs[i] = value;
    } else if (st.inputs !== null) {
      st.inputs[i] = undefined;
    }
    if (!st.flushScheduled && !st.resumeScheduled) {
      st.flushScheduled = true;
      queueMicrotask(st.flush);
    }

    const promise = new Promise(capture);
    st.shared.tasks.set(id, captured);
    captured = undefined;
    if (signal !== undefined) {
      const w = { signal, onAbort: undefined, aborted: false };
      w.onAbort = () => this.#abort(id, w);
      signal.addEventListener('abort', w.onAbort, { once: true });
      st.shared.watched.set(id, w);
    }
    return promise;
  }

  #abort(id, w) {
    const st = this[kState];
    const { tasks, watched } = st.shared;
    if (watched.get(id) !== w || !tasks.has(id)) return;
    let now = false;
    if (id >= st.batchFirst + st.sent && id < st.batchFirst + st.batchN) {
      st.meta[id - st.batchFirst] |= META_SKIP;
      if (st.inputs !== null) st.inputs[id - st.batchFirst] = undefined;
      now = true;
    } else {
      now = native.cancel(this[kHandle], id);
    }
    if (now) {
      const resolve = tasks.take(id);
      watched.delete(id);
      resolve(Promise.reject(abortError(w.signal)));
      this.#checkDrained();
    } else {
      w.aborted = true;
    }
  }

  #checkDrained() {
    const shared = this[kState].shared;
    if (shared.tasks.size === 0 && shared.onDrained !== null) {
      const f = shared.onDrained;
      shared.onDrained = null;
      f();
    }
  }

  // Hand the collected run() calls to the native pool. Inputs that are not
  // shared memory and smaller than 64 KiB are copied on this thread (larger
  // ones by the pool thread that runs them); at most COPY_BUDGET bytes are
  // copied per turn of the event loop, the rest in the next turns.
  #flush(budget = COPY_BUDGET) {
    const st = this[kState];
    st.flushScheduled = false;
    const n = st.batchN;
    if (n === st.sent) return;
    const first = st.batchFirst;
    const meta = st.meta;
    const inputs = st.inputs;
    const { tasks } = st.shared;
    let from = st.sent;
    const fail = (j, error) => {
      const id = first + j;
      if (meta[j] & META_SKIP) return;
      const resolve = tasks.take(id);
      if (resolve === undefined) return;
      const w = st.shared.watched.get(id);
      if (w !== undefined) {
        st.shared.watched.delete(id);
        w.signal.removeEventListener('abort', w.onAbort);
      }
      resolve(Promise.reject(error));
    };
    while (from < n) {
      const [next, err] = native.submit(this[kHandle], first, from, n, meta,
                                        inputs === null ? undefined : inputs, budget);
      if (err === 0) break;
      if (err === MORE) {
        st.sent = next;
        if (!st.resumeScheduled) {
          st.resumeScheduled = true;
          setImmediate(st.resume);
        }
        return;
      }
      if (err === EINVAL) {
        fail(next, ERR_INVALID_ARG_VALUE('input', inputs === null ? undefined : inputs[next], 'cannot be read'));
        from = next + 1;
        continue;
      }
      for (let j = next; j < n; j++) {
        fail(j, err === EAGAIN ? ERR_POOL_QUEUE_FULL(st.maxQueue)
          : err === ESHUTDOWN ? ERR_POOL_CLOSED()
            : errnoException(err, 'submit'));
      }
      break;
    }
    st.batchN = 0;
    st.sent = 0;
    st.inputs = null;
    this.#checkDrained();
  }

  // Open a kernel library (include/native_workers.h) and add its kernels.
  // Returns the names added.
  load(file) {
    validateString(file, 'path');
    const st = this[kState];
    if (st.closed) throw ERR_POOL_CLOSED();
    const full = path.resolve(file);
    let added;
    try {
      added = native.load(this[kHandle], full);
    } catch (err) {
      throw loadError(err, file);
    }
    this.#refreshKernels();
    return st.kernelNames.slice(st.kernelNames.length - added);
  }

  #shutdown(abort) {
    const st = this[kState];
    if (st.closing !== null) {
      if (abort && !st.shared.destroyed) {
        st.shared.destroyed = true;
        native.close(this[kHandle], true);
      }
      return st.closing;
    }
    // Collected run() calls are queued work: submit them so that close
    // rejects them like the rest of the queue.
    this.#flush(0);
    st.closed = true;
    st.shared.destroyed = abort;
    native.close(this[kHandle], abort);
    st.closing = new Promise((resolve) => {
      const done = () => {
        st.finalStats = native.stats(this[kHandle]);
        st.finalStats.threads = 0;
        native.free(this[kHandle]);
        resolve();
      };
      if (st.shared.tasks.size === 0) done();
      else st.shared.onDrained = done;
    });
    return st.closing;
  }

  // Finish running tasks, reject queued ones with ERR_POOL_CLOSED, then
  // stop the threads.
  close() {
    if (debug.enabled) debug('close: %j', this.stats);
    return this.#shutdown(false);
  }

  // As close(), and also ask running kernels to stop (their tasks reject
  // with ERR_POOL_CLOSED).
  destroy() {
    return this.#shutdown(true);
  }
}

module.exports = { ThreadPool };
