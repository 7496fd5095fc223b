'use strict';

// The entry of every thread of a native-workers/pool: a Worker of the
// worker_threads mirror, so tasks and results travel on the package's rings
// and wake this thread's loop through its doorbell. Nothing here blocks:
// between tasks the thread's event loop is free for the tasks' own async
// work, and a thread waiting for work costs no CPU.
//
// Protocol, on a mirror MessageChannel port handed over in the first
// message on parentPort (parentPort itself stays the user's), or, in a
// child process of runtime: 'process', on the fork channel:
//   pool -> thread  [id, task, id, task, ...]   tasks; an id below 0 is
//                   followed by the task, its filename and its name
//   thread -> pool  [0, id, result, id, result, ...]    results
//                   [2, id, result, time, ...]          the same, timed
//                   [1, id, error, props, time]         a task that threw
//                   [-1]                                ready (task file loaded)
//                   [3, started]                        the process ends
// Tasks start in the order they arrive. How many have started is kept
// where the pool can read it after the thread is gone (a shared Int32
// for a thread; the last message a process sends as it exits), so that
// the tasks it was handed ahead and never began go to another thread.

const { pathToFileURL } = require('url');
const { performance } = require('perf_hooks');
const os = require('os');
const { parentPort, workerData } = require('../../worker_threads');
const { state, isMovable, kTransferable, kValue } = require('./common');

state.isWorkerThread = true;
state.workerData = workerData;

const handlers = new Map(); // `${filename}\0${name}` -> function
let defaultFilename = null;
let defaultName = 'default';
let timing = false;
let emit = null; // (message, transferList): to the pool
// In a child process (runtime: 'process'), the pool's messages and ours
// travel inside { [PROC_KEY]: message } on the fork channel, so that the
// task's own process.send() messages stay its own.
const PROC_KEY = '__nwPool';
let booting = null; // the default task file loading (onStart)

// The task function `name` of `filename`: require() first (CommonJS, and
// what Node 20 can require of ESM), import() when that fails or gives no
// function. A module may export the function itself, under `name`, or a
// promise of either.
async function loadHandler(filename, name) {
  const key = `${filename}\0${name}`;
  let fn = handlers.get(key);
  if (fn !== undefined) return fn;
  let mod;
  let firstError = null;
  try {
    mod = require(filename);
    fn = typeof mod === 'function' ? mod : await mod[name];
  } catch (err) {
    firstError = err;
  }
  if (typeof fn !== 'function') {
    try {
      // The pool gives absolute paths; anything else is a specifier.
      mod = await import(filename.startsWith('/') ? pathToFileURL(filename).href : filename);
      fn = typeof mod === 'function' ? mod : await mod[name];
      if (typeof fn !== 'function' && name === 'default' && mod.default !== null && typeof mod.default === 'object') {
        fn = await mod.default.default;
      }
    } catch (err) {
      // A module that cannot be required for another reason than being
      // ESM reports the require() error, which says more.
      throw firstError !== null && firstError.code !== 'ERR_REQUIRE_ESM' &&
        firstError.code !== 'ERR_REQUIRE_ASYNC_MODULE' ? firstError : err;
    }
  }
  if (typeof fn !== 'function') {
    const err = new Error(`No handler function "${name}" exported from "${filename}"`);
    err.code = 'ERR_POOL_NO_HANDLER';
    throw err;
  }
  if (handlers.size > 1000) handlers.delete(handlers.keys().next().value);
  handlers.set(key, fn);
  return fn;
}

// Results of tasks that finished without anything to transfer wait here
// and go out together: after a message of tasks has been run, or at the
// end of the microtask queue for async tasks.
let out = [0];
let flushQueued = false;

function stdioPending() {
  return process.stdout.writableLength > 0 || process.stderr.writableLength > 0;
}

async function flushStdio() {
  if (process.stdout.writableLength > 0) await new Promise((resolve) => process.stdout.write('', resolve));
  if (process.stderr.writableLength > 0) await new Promise((resolve) => process.stderr.write('', resolve));
}

// What a task printed goes out before its result, so that it is never lost
// when the process ends right after (as piscina does).
function send(msg, transferList) {
  if (stdioPending()) flushStdio().then(() => sendNow(msg, transferList));
  else sendNow(msg, transferList);
}

function sendNow(msg, transferList) {
  try {
    emit(msg, transferList);
    return;
  } catch (err) {
    if (msg[0] === 1) {
      emit([1, msg[1], plainError(msg[2]), undefined, msg[4]]);
      return;
    }
    if (msg.length === 3 || msg.length === 4 && msg[0] === 2) {
      // A result that cannot be cloned (a function, say) fails its task,
      // not the thread.
      sendError(msg[1], err, msg[0] === 2 ? msg[3] : undefined);
      return;
    }
  }
  // A batch with a result that cannot be cloned: one by one.
  const stride = msg[0] === 2 ? 3 : 2;
  for (let i = 1; i < msg.length; i += stride) sendNow([msg[0], ...msg.slice(i, i + stride)]);
}

function flushResults() {
  flushQueued = false;
  if (out.length === 1) return;
  const msg = out;
  out = [timing ? 2 : 0];
  send(msg);
}

function plainError(err) {
  if (err === null || typeof err !== 'object') return err;
  const e = new Error(String(err.message));
  e.stack = String(err.stack);
  return e;
}

// An Error's own properties besides those structured clone keeps (code,
// errno, ...), sent beside it so that the caller sees them too.
function errorProps(err) {
  if (err === null || typeof err !== 'object') return undefined;
  let props;
  if (typeof err.name === 'string' && err.name !== 'Error' && Object.hasOwn(err, 'name')) props = { name: err.name };
  for (const key of Object.keys(err)) {
    if (key === 'message' || key === 'stack' || key === 'name') continue;
    const v = err[key];
    if (typeof v === 'function' || typeof v === 'symbol') continue;
    (props || (props = {}))[key] = v;
  }
  return props;
}

function sendError(id, err, time) {
  // Structured clone turns a DOMException (DataCloneError, AbortError...)
  // into an empty object: send it as an Error of the same name and code.
  if (err instanceof DOMException) {
    const e = new Error(err.message);
    e.stack = err.stack;
    e.name = err.name;
    e.code = err.code;
    err = e;
  }
  try {
    emit([1, id, err, errorProps(err), time]);
  } catch {
    try {
      emit([1, id, err, undefined, time]);
    } catch {
      emit([1, id, plainError(err), undefined, time]);
    }
  }
}

function onResult(id, result, t0, sync) {
  const time = timing ? performance.now() - t0 : undefined;
  if (isMovable(result)) {
    flushResults();
    const list = [].concat(result[kTransferable]);
    send(timing ? [2, id, result[kValue], time] : [0, id, result[kValue]], list);
    finished(sync);
    return;
  }
  out.push(id, result);
  if (timing) out.push(time);
  finished(sync);
}

function onError(id, err, t0, sync) {
  const time = timing ? performance.now() - t0 : undefined;
  flushResults();
  if (stdioPending()) flushStdio().then(() => sendError(id, err, time));
  else sendError(id, err, time);
  finished(sync);
}

function runWith(fn, id, task, t0, sync) {
  let r;
  try {
    r = fn(task);
  } catch (err) {
    onError(id, err, t0, sync);
    return;
  }
  if (r !== null && typeof r === 'object' && typeof r.then === 'function') {
    r.then((v) => onResult(id, v, t0, false), (err) => onError(id, err, t0, false));
  } else {
    onResult(id, r, t0, sync);
  }
}

// Tasks received and not started: at most `limit` (the pool's
// concurrentTasksPerWorker) run at once, even when the pool has handed
// this thread more ahead of time. Four slots a task: id, task, filename,
// name.
let limit = 1;
let running = 0;
let draining = false;
const pending = [];
let pendingHead = 0;
let started = 0;
let startedView = null; // Int32Array(1) shared with the pool (threads)

// A task ended. Within drainPending's loop (`sync`) that loop starts the
// next; after an async task, start what waits here and send the results.
function finished(sync) {
  running--;
  if (sync || draining) return;
  if (pendingHead < pending.length) drainPending();
  if (out.length > 1 && !flushQueued) {
    flushQueued = true;
    queueMicrotask(flushResults);
  }
}

function drainPending() {
  draining = true;
  try {
    while (running < limit && pendingHead < pending.length) {
      const p = pendingHead;
      const id = pending[p];
      const task = pending[p + 1];
      const filename = pending[p + 2];
      const name = pending[p + 3];
      pending[p + 1] = undefined;
      pendingHead = p + 4;
      running++;
      started++;
      if (startedView !== null) Atomics.store(startedView, 0, started);
      const t0 = timing ? performance.now() : 0;
      const fn = handlers.get(`${filename}\0${name}`);
      if (fn !== undefined) {
        runWith(fn, id, task, t0, true);
      } else {
        loadHandler(filename, name).then((f) => runWith(f, id, task, t0, false), (err) => onError(id, err, t0, false));
      }
    }
  } finally {
    draining = false;
  }
  if (pendingHead === pending.length) {
    pending.length = 0;
    pendingHead = 0;
  } else if (pendingHead > 4096 && pendingHead * 2 > pending.length) {
    pending.splice(0, pendingHead);
    pendingHead = 0;
  }
}

// A message of tasks: [id, task, ...], an id below 0 standing for a task
// of another file or name: [-id, task, filename, name].
function onTasks(msg) {
  // Tasks wait for the default task file to load first (and so for the
  // ready message, which tells the pool this thread can start).
  if (booting !== null) {
    booting.then(() => onTasks(msg));
    return;
  }
  for (let i = 0; i < msg.length;) {
    const id = msg[i];
    if (id < 0) {
      pending.push(-id, msg[i + 1], msg[i + 2], msg[i + 3]);
      i += 4;
    } else {
      pending.push(id, msg[i + 1], defaultFilename, defaultName);
      i += 2;
    }
  }
  drainPending();
  flushResults();
}

function onStart(init) {
  defaultFilename = init.filename;
  defaultName = init.name;
  timing = init.timing === true;
  limit = init.concurrency;
  if (init.started instanceof Int32Array) startedView = init.started;
  out = [timing ? 2 : 0];
  if (init.niceIncrement > 0) {
    try { os.setPriority(Math.min(19, os.getPriority() + init.niceIncrement)); } catch { /* not allowed */ }
  }
  if (init.port !== undefined) {
    const port = init.port;
    emit = (msg, transferList) => port.postMessage(msg, transferList);
    port.on('message', onTasks);
  } else {
    state.workerData = init.workerData;
    emit = (msg) => process.send({ [PROC_KEY]: msg });
    process.on('message', (m) => {
      if (m !== null && typeof m === 'object' && m[PROC_KEY] !== undefined) onTasks(m[PROC_KEY]);
    });
  }
  // process.exit() in a task, or an uncaught exception: the results
  // finished and not yet sent go now (they would be lost otherwise), and
  // a process says how many tasks it started.
  process.on('exit', () => {
    try {
      if (out.length > 1) {
        const msg = out;
        out = [timing ? 2 : 0];
        sendNow(msg);
      }
      if (startedView === null) emit([3, started]);
    } catch {
      // the channel is gone: the pool rejects what it cannot account for
    }
  });
  const ready = () => {
    booting = null;
    emit([-1]);
  };
  if (defaultFilename !== null) booting = loadHandler(defaultFilename, defaultName).then(ready, ready);
  else ready();
}

if (parentPort !== null) {
  parentPort.once('message', onStart);
} else {
  // A child process of the pool: the first message is the start.
  const first = (m) => {
    if (m === null || typeof m !== 'object' || m[PROC_KEY] === undefined) return;
    process.off('message', first);
    onStart(m[PROC_KEY]);
  };
  process.on('message', first);
}
