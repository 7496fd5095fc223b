'use strict';

// The engine of native-workers/pool: its threads, the queue, dispatch,
// results, failures and shutdown. lib/pool.js validates and copies the
// options once and hands them here.
//
// Each thread is a Worker of the worker_threads mirror; tasks and results
// travel on a mirror MessageChannel of its own (two rings and a doorbell a
// side, lib/internal/worker/). A task goes to a thread synchronously from
// run() whenever one has room, as with piscina. A thread that dies rejects
// the tasks it had started at once and is replaced up to minThreads; the
// tasks it held and had not begun go back to the front of the queue.
//
// Short tasks with a backlog: a thread that finishes tasks in microseconds
// is handed up to 128 more than concurrentTasksPerWorker at once (they wait
// in the thread, worker.js), so that the round trip between two tasks is
// not paid per task. Only tasks without an AbortSignal go ahead like that,
// only with the default load balancer and an unbounded queue; a thread
// runs at most concurrentTasksPerWorker tasks at a time either way.
//
// runtime: 'process' puts a child process (process.js) where the Worker
// would be, with the fork channel for the task port.

const path = require('path');
const { once } = require('events');
const { performance } = require('perf_hooks');
const { Worker, MessageChannel, receiveMessageOnPort } = require('../../worker_threads');
const {
  codes: { ERR_POOL_QUEUE_FULL, ERR_POOL_TERMINATED, ERR_POOL_CLOSE_TIMEOUT, ERR_POOL_WORKER_EXITED },
  AbortError,
} = require('../errors');
const { kQueueOptions } = require('./common');
const { ProcessWorker } = require('./process');
const { createHistogram, summary, record, times } = require('./histogram');

const ENTRY = path.join(__dirname, 'worker.js');
const kWorkerData = Symbol('native-workers.pool.worker');

// Prefetch (see above): how many tasks past concurrentTasksPerWorker a
// thread may hold, by its recent time per task (ms).
function aheadFor(ewma) {
  if (ewma === 0 || ewma > 0.5) return 0;
  if (ewma > 0.1) return 2;
  if (ewma > 0.02) return 16;
  return 128;
}

function abortError(reason, code) {
  const err = new AbortError('The task has been aborted', { cause: reason });
  if (code !== undefined) err.code = code;
  return err;
}

let nextTaskId = 1;

// One executor for every task's promise: it hands resolve and reject out
// through these two, so that a task costs no closure.
let resolveOut = null;
let rejectOut = null;
function executor(resolve, reject) {
  resolveOut = resolve;
  rejectOut = reject;
}

// A task from run() until it settles.
class Task {
  constructor(task, transferList, filename, name, signal, created) {
    this.id = nextTaskId++;
    this.task = task;
    this.transferList = transferList;
    this.filename = filename;
    this.name = name;
    this.signal = signal;
    this.created = created;
    this.started = 0;
    this.seq = 0; // its number among the tasks of its thread
    this.requeued = false;
    this.worker = null;
    this.resolve = resolveOut;
    this.reject = rejectOut;
    this.done = false;
    this.onAbort = null;
  }

  get taskId() { return this.id; }

  get isAbortable() { return this.signal !== null; }

  get [kQueueOptions]() {
    const t = this.task;
    return t !== null && typeof t === 'object' && t[kQueueOptions] != null ? t[kQueueOptions] : null;
  }
}

// One thread of the pool.
class PoolWorker {
  constructor(core) {
    this.core = core;
    const o = core.options;
    // Thread ports can be read synchronously (receiveMessageOnPort); a
    // process's fork channel delivers through its events only.
    this.sync = o.runtime !== 'process';
    let port1;
    let port2;
    if (this.sync) {
      this.worker = new Worker(ENTRY, {
        env: o.env,
        argv: o.argv,
        execArgv: o.execArgv,
        resourceLimits: o.resourceLimits,
        workerData: o.workerData,
        trackUnmanagedFds: o.trackUnmanagedFds,
      });
      ({ port1, port2 } = new MessageChannel());
    } else {
      this.worker = new ProcessWorker(o);
      this.worker.workerData = o.workerData;
      port1 = this.worker.port;
    }
    this.port = port1;
    this.tasks = new Map(); // id -> Task, in the order they were posted
    this.posted = 0; // tasks it was handed; Task.seq numbers them from 0
    // How many of them it has started (worker.js): a shared word for a
    // thread, the message a process sends as it exits (-1: none came).
    this.startedView = this.sync ? new Int32Array(new SharedArrayBuffer(4)) : null;
    this.startedReported = -1;
    this.inflight = 0;
    this.abortable = 0; // tasks with a signal among them (0 or 1)
    this.ready = false; // the thread loaded its default task file
    this.gone = false;
    this.dead = false; // died; its last messages are being read
    this.idleTimer = null;
    this.mark = 0; // when the current stretch of work started (see onResult)
    this.ewma = 0; // recent ms per task while busy
    this.ahead = 0; // prefetch allowance from ewma
    this.histogram = o.workerHistogram ? createHistogram() : null;
    this.out = []; // tasks batched for this thread (see PoolCore.post)
    this.outTasks = [];
    this.worker.unref();
    this.worker.postMessage({
      port: port2,
      filename: o.filename,
      name: o.name,
      niceIncrement: o.niceIncrement,
      timing: this.histogram !== null,
      concurrency: o.concurrentTasksPerWorker,
      started: this.startedView,
    }, port2 !== undefined ? [port2] : undefined);
    port1.on('message', (m) => core.onMessage(this, m));
    port1.unref();
    this.worker.on('message', (m) => core.pool.emit('message', m));
    this.worker.on('error', (err) => core.onWorkerError(this, err));
    this.worker.on('exit', (code) => core.onWorkerExit(this, code));
    this.interface = makeInterface(this);
  }

  currentUsage() {
    return this.abortable !== 0 ? Infinity : this.inflight;
  }

  // How many of the tasks it was handed it began, or -1 if unknown.
  startedCount() {
    const n = this.startedView !== null ? Atomics.load(this.startedView, 0) : this.startedReported;
    return Number.isInteger(n) && n >= 0 && n <= this.posted ? n : -1;
  }
}

// What a loadBalancer and 'workerCreate' / 'workerDestroy' see of a thread,
// as piscina's.
function makeInterface(w) {
  return {
    get id() { return w.worker.threadId; },
    get currentUsage() { return w.currentUsage(); },
    get isRunningAbortableTask() { return w.abortable !== 0; },
    get histogram() { return w.histogram !== null ? summary(w.histogram) : null; },
    get terminating() { return w.gone && w.worker.threadId !== -1; },
    get destroyed() { return w.gone; },
    [kWorkerData]: w,
  };
}

class PoolCore {
  // `pool`: the Pool (events are emitted on it); `options`: filled and
  // validated by lib/pool.js.
  constructor(pool, options) {
    this.pool = pool;
    this.options = options;
    this.C = options.concurrentTasksPerWorker;
    this.maxCapacity = options.maxThreads * this.C;
    this.queue = options.taskQueue;
    this.front = []; // tasks taken from the queue that found no thread yet
    this.balancer = options.loadBalancer === undefined ? null : options.loadBalancer;
    this.workers = [];
    this.dirty = []; // threads with batched tasks to send
    this.queuedRuns = 0; // see poll()
    this.inflight = 0; // tasks handed to threads
    this.abortableRunning = 0;
    this.completed = 0; // piscina's: tasks that ran and settled, either way
    // stats (ThreadPool's shape): each task run() took ends in one of these,
    // except those close() or destroy() drop from the queue.
    this.nSucceeded = 0;
    this.nFailed = 0;
    this.nCancelled = 0;
    this.busy = 0; // ms of run time summed, for stats.utilization
    this.finalStats = null; // stats as they were when destroy() ended
    this.start = performance.now();
    this.runTime = options.recordTiming ? createHistogram() : null;
    this.waitTime = options.recordTiming ? createHistogram() : null;
    this.needsDrain = false;
    this.closing = false; // close() called: no new tasks
    this.destroying = false;
    this.closed = false; // for good
    this.closePromise = null;
    this.onFlushed = null; // close(): called when nothing is queued or running
    this.bootFailed = false; // a thread died before it was ready: do not refill
    for (let i = 0; i < options.minThreads; i++) this.spawn();
  }

  // ---- threads -----------------------------------------------------------

  spawn() {
    const w = new PoolWorker(this);
    this.workers.push(w);
    queueMicrotask(() => { if (!w.gone) this.pool.emit('workerCreate', w.interface); });
    return w;
  }

  ensureMinimum() {
    if (this.closing || this.destroying || this.bootFailed) return;
    while (this.workers.length < this.options.minThreads) this.spawn();
  }

  // Take `w` out of the pool and end its thread; its tasks are rejected
  // with `err`. Returns the thread's 'exit' as a promise.
  remove(w, err) {
    if (w.gone) return Promise.resolve();
    w.gone = true;
    const at = this.workers.indexOf(w);
    if (at !== -1) this.workers.splice(at, 1);
    if (w.idleTimer !== null) { clearTimeout(w.idleTimer); w.idleTimer = null; }
    const exited = w.worker.threadId === -1 ? Promise.resolve() : once(w.worker, 'exit').catch(() => {});
    w.worker.terminate().catch(() => {});
    try { w.port.close(); } catch { /* already closed */ }
    this.inflight -= w.inflight;
    this.abortableRunning -= w.abortable;
    const tasks = [...w.tasks.values()];
    w.tasks.clear();
    w.inflight = 0;
    w.abortable = 0;
    // Without `err` the pool itself ends the thread (destroy(), an abort):
    // what it ran counts as cancelled, as a destroyed ThreadPool's running
    // kernels do, and what it held ahead of concurrentTasksPerWorker (it
    // runs its tasks in order, so those had not begun; queueSize counts
    // them as queued) is dropped like the queue, counted nowhere.
    // With `err` the thread died: the tasks it never began go back to the
    // front of the queue, in their order, as if never handed out (those
    // sent with a transferList cannot be sent again and fail with `err`).
    // A thread that died before it was ready takes its tasks with it, so
    // that a task file that cannot load does not respawn threads forever.
    const begun = err !== undefined && w.ready ? w.startedCount() : -1;
    const back = [];
    let i = 0;
    for (const t of tasks) {
      if (begun !== -1 && t.seq >= begun && t.transferList === undefined && !this.closed) {
        t.worker = null;
        t.started = 0;
        t.requeued = true;
        back.push(t);
        continue;
      }
      const held = err === undefined && i++ >= this.C;
      if (held) t.started = 0;
      this.settle(t, true, err === undefined ? ERR_POOL_TERMINATED() : err, err === undefined && !held);
    }
    if (back.length !== 0) this.front.unshift(...back);
    this.pool.emit('workerDestroy', w.interface);
    return exited;
  }

  // The thread died by itself: reject what it had, replace it.
  failed(w, err, silentIfIdle) {
    if (w.gone) return;
    const had = w.inflight;
    this.remove(w, err);
    if (!w.ready) this.bootFailed = true;
    this.ensureMinimum();
    if (had === 0 && !silentIfIdle) this.pool.emit('error', err);
    this.pump();
    this.afterChange();
  }

  // What the thread sent before it died is taken first: results of tasks
  // that did finish, its ready message.
  drain(w) {
    w.dead = true; // no new tasks for it meanwhile
    if (!w.sync) return;
    for (;;) {
      let got;
      try {
        got = receiveMessageOnPort(w.port);
      } catch {
        return;
      }
      if (got === undefined) return;
      this.onMessage(w, got.message);
    }
  }

  onWorkerError(w, err) {
    if (w.gone) return;
    this.drain(w);
    this.failed(w, err, false);
  }

  onWorkerExit(w, code) {
    if (w.gone) return;
    this.drain(w);
    this.failed(w, ERR_POOL_WORKER_EXITED(code), true);
  }

  // ---- tasks ---------------------------------------------------------------

  run(task, transferList, filename, name, signal) {
    const p = new Promise(executor);
    const t = new Task(task, transferList, filename, name, signal, this.waitTime !== null ? performance.now() : 0);
    if (this.closing || this.destroying || this.closed) {
      t.done = true;
      t.reject(abortError('queue is being terminated', 'ERR_POOL_CLOSED'));
      return p;
    }
    if (signal !== null) {
      if (signal.aborted) {
        t.done = true;
        t.reject(abortError(signal.reason));
        return p;
      }
      t.onAbort = () => this.abort(t);
      signal.addEventListener('abort', t.onAbort, { once: true });
    }
    const queued = this.queue.size + this.front.length;
    if (queued === 0) {
      let w = this.pick(t);
      if (w === null && this.workers.length < this.options.maxThreads) w = this.spawn();
      if (w === null) w = this.pickAhead(t);
      if (w !== null) {
        this.post(w, t);
      } else if (this.options.maxQueue === 0) {
        this.settle(t, true, ERR_POOL_QUEUE_FULL(0, 'No task queue available and all Workers are busy'));
        return p;
      } else {
        this.queue.push(t);
      }
    } else {
      const max = this.options.maxQueue;
      if (queued >= max) {
        this.settle(t, true, max === 0
          ? ERR_POOL_QUEUE_FULL(max, 'No task queue available and all Workers are busy')
          : ERR_POOL_QUEUE_FULL(max, 'Task queue is at limit'));
        return p;
      }
      this.queue.push(t);
      // A cold pool starts its threads for a burst at once.
      if (this.workers.length < this.options.maxThreads) {
        this.spawn();
        this.pump();
      } else if ((++this.queuedRuns & 63) === 0) {
        this.poll();
      }
    }
    this.afterChange();
    return p;
  }

  // The thread for `t` now, or null: the load balancer's choice, or the
  // least busy thread with room (an idle one first; a task with a signal
  // only ever goes to an idle thread, and runs alone).
  pick(t) {
    const ws = this.workers;
    if (this.balancer !== null) {
      const c = this.balancer(t, ws.map((w) => w.interface));
      const w = c != null ? c[kWorkerData] : undefined;
      return w instanceof PoolWorker && !w.gone && !w.dead && w.core === this ? w : null;
    }
    let best = null;
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i];
      if (w.dead) continue;
      if (w.inflight === 0) return w;
      if (t.signal !== null || w.abortable !== 0) continue;
      if (w.inflight < this.C && (best === null || w.inflight < best.inflight)) best = w;
    }
    return best;
  }

  // With a backlog: a thread of short tasks that may hold some ahead.
  pickAhead(t) {
    // A bounded queue keeps piscina's back-pressure exactly.
    if (this.balancer !== null || t.signal !== null || this.options.maxQueue !== Infinity) return null;
    const ws = this.workers;
    let best = null;
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i];
      if (w.dead || w.abortable !== 0 || w.inflight >= this.C + w.ahead) continue;
      if (best === null || w.inflight < best.inflight) best = w;
    }
    return best;
  }

  // Hand `t` to `w`. From run() it goes into the ring at once; from pump()
  // (`batch`) it joins the other tasks for `w` in one message, sent by
  // flush(). A task with a transferList always travels alone.
  post(w, t, batch = false) {
    const now = performance.now();
    if (this.waitTime !== null && !t.requeued) record(this.waitTime, now - t.created);
    t.started = now;
    const o = this.options;
    // The task stays with its record until it settles: a thread that dies
    // before it begins the task hands it back (remove()).
    const task = t.task;
    const plain = t.filename === o.filename && t.name === o.name;
    if (batch && t.transferList === undefined) {
      const out = w.out;
      if (out.length === 0) this.dirty.push(w);
      if (plain) out.push(t.id, task);
      else out.push(-t.id, task, t.filename, t.name);
      w.outTasks.push(t);
      this.accept(w, t, now);
      return;
    }
    if (w.out.length !== 0) this.flush(w);
    try {
      w.port.postMessage(plain ? [t.id, task] : [-t.id, task, t.filename, t.name], t.transferList);
    } catch (err) {
      // The task cannot be cloned, or its transferList is wrong.
      this.settle(t, true, err);
      return;
    }
    this.accept(w, t, now);
  }

  accept(w, t, now) {
    t.worker = w;
    t.seq = w.posted++;
    w.tasks.set(t.id, t);
    if (w.inflight++ === 0) {
      w.worker.ref();
      w.mark = now;
      if (w.idleTimer !== null) { clearTimeout(w.idleTimer); w.idleTimer = null; }
    }
    this.inflight++;
    if (t.signal !== null) { w.abortable++; this.abortableRunning++; }
  }

  // Take back a task `w` never got.
  unaccept(w, t) {
    w.tasks.delete(t.id);
    t.worker = null;
    this.inflight--;
    if (t.signal !== null) { w.abortable--; this.abortableRunning--; }
    if (--w.inflight === 0) w.worker.unref();
  }

  // Send the tasks batched for `w`. When one of them cannot be cloned, each
  // goes alone, and only that one fails.
  flush(w) {
    const msg = w.out;
    const tasks = w.outTasks;
    if (msg.length === 0) return;
    w.out = [];
    w.outTasks = [];
    try {
      w.port.postMessage(msg);
      return;
    } catch {
      // one by one below
    }
    // The thread numbers what it receives: those sent are numbered again.
    let seq = tasks[0].seq;
    for (let i = 0, j = 0; j < tasks.length; j++) {
      const t = tasks[j];
      const n = msg[i] < 0 ? 4 : 2;
      const rec = msg.slice(i, i + n);
      i += n;
      try {
        w.port.postMessage(rec);
        t.seq = seq++;
      } catch (err) {
        this.unaccept(w, t);
        this.settle(t, true, err);
      }
    }
    w.posted = seq;
  }

  // Hand queued tasks to threads while any has room.
  pump() {
    for (;;) {
      const t = this.front.length !== 0 ? this.front.shift() : this.queue.shift();
      if (t === null || t === undefined) break;
      if (t.done) continue;
      let w = this.pick(t);
      if (w === null && this.workers.length < this.options.maxThreads && !this.destroying) w = this.spawn();
      if (w === null) w = this.pickAhead(t);
      if (w === null) {
        this.front.unshift(t);
        break;
      }
      this.post(w, t, true);
    }
    const dirty = this.dirty;
    while (dirty.length !== 0) this.flush(dirty.pop());
  }

  // Take the results that are waiting now, and so hand their threads more
  // of the queue. run() does this every 64 tasks it queues, so that a long
  // synchronous loop of run() calls keeps the threads busy instead of
  // leaving everything for when the loop ends. (Promises settled here run
  // their callbacks later, as always.)
  poll() {
    const ws = this.workers;
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i];
      if (w.inflight === 0 || w.gone || w.dead || !w.sync) continue;
      for (let got = receiveMessageOnPort(w.port); got !== undefined; got = receiveMessageOnPort(w.port)) {
        this.onMessage(w, got.message);
        if (w.gone) break;
      }
    }
  }

  // A message from a thread's task port (see worker.js).
  onMessage(w, m) {
    const kind = m[0];
    if (kind === 3) {
      w.startedReported = m[1];
      return;
    }
    if (kind === -1) {
      w.ready = true;
      this.bootFailed = false;
      w.mark = performance.now();
      return;
    }
    if (kind === 1) {
      const err = m[2];
      const props = m[3];
      if (props !== undefined && err !== null && typeof err === 'object') {
        for (const key of Object.keys(props)) {
          try {
            if (key === 'name') {
              if (err.name !== props.name) Object.defineProperty(err, 'name', { value: props.name, writable: true, configurable: true });
            } else if (!(key in err)) {
              err[key] = props[key];
            }
          } catch { /* frozen */ }
        }
      }
      this.complete(w, m[1], true, err, m[4]);
    } else if (kind === 0) {
      for (let i = 1; i < m.length; i += 2) this.complete(w, m[i], false, m[i + 1], undefined);
    } else {
      for (let i = 1; i < m.length; i += 3) this.complete(w, m[i], false, m[i + 1], m[i + 2]);
    }
    if (this.queue.size !== 0 || this.front.length !== 0) this.pump();
    if (w.inflight === 0 && !w.gone) this.maybeIdle(w);
    this.afterChange();
  }

  complete(w, id, isError, value, time) {
    const t = w.tasks.get(id);
    if (t === undefined) return; // aborted meanwhile
    w.tasks.delete(id);
    const now = performance.now();
    const dt = now - w.mark;
    w.mark = now;
    w.ewma = w.ewma === 0 ? dt : w.ewma * 0.875 + dt * 0.125;
    w.ahead = aheadFor(w.ewma);
    this.inflight--;
    if (t.signal !== null) { w.abortable--; this.abortableRunning--; }
    if (--w.inflight === 0) w.worker.unref();
    if (w.histogram !== null && typeof time === 'number') record(w.histogram, time);
    this.settle(t, isError, value);
  }

  // Settle `t` once, with `value` or the error `value`; `cancel`: the
  // rejection is an abort or the pool's own doing, not the task's failure.
  // A task that never reached a thread counts only when cancelled (a full
  // queue or a closing pool refuses it; close() and destroy() drop it).
  settle(t, isError, value, cancel = false) {
    if (t.done) return;
    t.done = true;
    if (t.signal !== null && t.onAbort !== null) t.signal.removeEventListener('abort', t.onAbort);
    if (t.started !== 0) {
      this.completed++;
      const dt = performance.now() - t.started;
      this.busy += dt;
      if (this.runTime !== null) record(this.runTime, dt);
      if (!isError) this.nSucceeded++;
      else if (cancel) this.nCancelled++;
      else this.nFailed++;
    } else if (cancel) {
      this.nCancelled++;
    }
    t.worker = null;
    t.task = null;
    t.transferList = undefined;
    if (isError) t.reject(value);
    else t.resolve(value);
  }

  abort(t) {
    if (t.done) return;
    const reason = t.signal.reason;
    const w = t.worker;
    // Rejected with the AbortError first, before the thread it ran on goes.
    this.settle(t, true, abortError(reason), true);
    if (w !== null) {
      w.tasks.delete(t.id);
      w.inflight--;
      w.abortable--;
      this.inflight--;
      this.abortableRunning--;
      this.remove(w);
      this.ensureMinimum();
      this.pump();
    } else {
      const at = this.front.indexOf(t);
      if (at !== -1) this.front.splice(at, 1);
      else { try { this.queue.remove(t); } catch { /* not queued */ } }
    }
    this.afterChange();
  }

  maybeIdle(w) {
    const o = this.options;
    if (o.idleTimeout === Infinity || this.workers.length <= o.minThreads) return;
    if (w.idleTimer !== null) clearTimeout(w.idleTimer);
    w.idleTimer = setTimeout(() => {
      w.idleTimer = null;
      if (w.inflight === 0 && !w.gone && this.workers.length > this.options.minThreads) this.remove(w);
    }, o.idleTimeout);
    w.idleTimer.unref();
  }

  // needsDrain / drain, and close()'s wait.
  afterChange() {
    const usage = this.inflight + this.abortableRunning * (this.C - 1) + this.queue.size + this.front.length;
    const full = usage >= this.maxCapacity;
    if (full !== this.needsDrain) {
      this.needsDrain = full;
      const ev = full ? 'needsDrain' : 'drain';
      queueMicrotask(() => this.pool.emit(ev));
    }
    if (this.onFlushed !== null && this.inflight === 0 && this.queue.size === 0 && this.front.length === 0) {
      const f = this.onFlushed;
      this.onFlushed = null;
      f();
    }
  }

  // Tasks threads hold past concurrentTasksPerWorker (prefetched): waiting.
  ahead() {
    let n = 0;
    for (const w of this.workers) if (w.inflight > this.C) n += w.inflight - this.C;
    return n;
  }

  get queueSize() {
    return this.queue.size + this.front.length + this.ahead();
  }

  // ThreadPool's stats shape (lib/thread_pool.js) from this pool's counters:
  // queued counts what waits in the pool's queue and what a thread holds
  // ahead (as queueSize), running the rest of what threads have; times in
  // ms from the histograms of recordTiming (empty without it); utilization
  // is run time over maxThreads x the pool's lifetime, at most 1.
  stats() {
    if (this.finalStats !== null) return { ...this.finalStats, runTime: { ...this.finalStats.runTime }, waitTime: { ...this.finalStats.waitTime } };
    const ahead = this.ahead();
    const u = this.share(this.busy);
    return {
      threads: this.workers.length,
      queued: this.queue.size + this.front.length + ahead,
      running: this.inflight - ahead,
      completed: this.nSucceeded,
      failed: this.nFailed,
      cancelled: this.nCancelled,
      runTime: times(this.runTime),
      waitTime: times(this.waitTime),
      utilization: u > 1 ? 1 : u,
    };
  }

  get idleThreads() {
    let n = 0;
    for (const w of this.workers) if (w.inflight === 0) n++;
    return n;
  }

  // ---- shutdown --------------------------------------------------------------

  async destroy() {
    this.destroying = true;
    this.closed = true;
    const err = () => ERR_POOL_TERMINATED();
    for (const t of this.front.splice(0)) this.settle(t, true, err());
    for (let t = this.queue.shift(); t !== null && t !== undefined; t = this.queue.shift()) this.settle(t, true, err());
    const exits = [];
    while (this.workers.length > 0) exits.push(this.remove(this.workers[0]));
    await Promise.allSettled(exits);
    this.afterChange();
    // As a closed ThreadPool's: the last figures stay, with no threads.
    if (this.finalStats === null) this.finalStats = this.stats();
  }

  close(force) {
    if (this.closePromise !== null) return this.closePromise;
    this.closing = true;
    if (force) {
      const err = () => abortError('pool is closed', 'ERR_POOL_CLOSED');
      for (const t of this.front.splice(0)) this.settle(t, true, err());
      for (let t = this.queue.shift(); t !== null && t !== undefined; t = this.queue.shift()) this.settle(t, true, err());
      this.afterChange();
    }
    this.closePromise = (async () => {
      let timer = null;
      try {
        await new Promise((resolve, reject) => {
          this.onFlushed = resolve;
          timer = setTimeout(() => reject(ERR_POOL_CLOSE_TIMEOUT()), this.options.closeTimeout);
          timer.unref();
          this.afterChange();
        });
      } catch (error) {
        this.pool.emit('error', error);
      } finally {
        clearTimeout(timer);
        this.onFlushed = null;
        await this.destroy();
        this.pool.emit('close');
      }
    })();
    return this.closePromise;
  }

  histogram() {
    const core = this;
    return {
      get runTime() { return core.runTime !== null ? summary(core.runTime) : undefined; },
      get waitTime() { return core.waitTime !== null ? summary(core.waitTime) : undefined; },
      resetRunTime() { if (core.runTime !== null) core.runTime.reset(); },
      resetWaitTime() { if (core.waitTime !== null) core.waitTime.reset(); },
    };
  }

  // piscina's utilization: the run time its histogram holds (so none
  // without recordTiming, and less after resetRunTime()); stats counts all.
  get utilization() {
    const h = this.runTime;
    if (h === null || h.count === 0) return 0;
    return this.share((h.mean / 1000) * h.count);
  }

  // `ms` of run time as a share of what maxThreads threads could have run
  // since the pool began.
  share(ms) {
    const capacity = (performance.now() - this.start) * this.options.maxThreads;
    return capacity > 0 ? ms / capacity : 0;
  }
}

module.exports = { PoolCore, kWorkerData };
