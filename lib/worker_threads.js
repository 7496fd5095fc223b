'use strict';

// native-workers/worker_threads: Node's worker_threads API with messages
// carried by this package's ring channel (lib/internal/worker/).
//
// A Worker's JavaScript runs in a thread that Node's own worker_threads
// starts: Node-API cannot create a V8 isolate. The script, its options, its
// lifecycle events ('online', 'error', 'exit'), stdio, resource limits and
// heap snapshots are Node's; postMessage, the ports, their wakeups and
// queues are ours. A script written for node:worker_threads works after
// changing only the require.

const EventEmitter = require('events');
const path = require('path');
const nodeWT = require('./internal/worker/node');
const {
  MessagePort,
  MessageChannel,
  receiveMessageOnPort,
  kCreate,
  kSuspend,
  kResume,
  kDetach,
  kDrain,
  kCloseLocal,
  WORKER_CAPACITY,
} = require('./internal/worker/port');
const { newChannelMemory, recycleChannelMemory } = require('./internal/worker/lanes');
const debug = require('./internal/debug').debuglog('worker_threads');
const {
  isOurPort, substitutePorts, mapTransferList, describePort, markAsUntransferable,
} = require('./internal/worker/transfer');
const { relay } = require('./internal/worker/relay');

// The wrapper a Worker of ours puts around its workerData (the channel's
// memory, its side port, ports of ours in the data, the execArgv to show)
// is unwrapped in the thread by the bootstrap, before any user code runs.
const BOOTSTRAP = path.join(__dirname, 'internal', 'worker', 'bootstrap.js');
const { CHANNEL_KEY, attached } = require('./internal/worker/bootstrap');

// The execArgv a Worker's thread starts with: the bootstrap after the
// caller's list or, when there is none, after what Node would inherit (the
// flags of NODE_OPTIONS and process.execArgv) less the flags a worker may
// not take, which Node names when it refuses them.
function startWorker(filename, opts) {
  const given = opts.execArgv;
  if (given !== undefined && !Array.isArray(given)) return new nodeWT.Worker(filename, opts); // Node's error
  const shown = given !== undefined ? [...given] : [...process.execArgv];
  let list = given !== undefined ? shown : [...nodeOptionsFlags(), ...shown];
  opts.workerData[CHANNEL_KEY].execArgv = shown;
  for (let tries = 0; ; tries++) {
    try {
      return new nodeWT.Worker(filename, { __proto__: null, ...opts, execArgv: [...list, '--require', BOOTSTRAP] });
    } catch (err) {
      const refused = given === undefined && tries < 4 && err && err.code === 'ERR_WORKER_INVALID_EXEC_ARGV'
        ? refusedFlags(err.message) : null;
      if (refused === null) throw err;
      list = list.filter((f) => !refused.has(f));
    }
  }
}

// "Initiated Worker with invalid execArgv flags: --a, --b=1" -> the flags.
function refusedFlags(message) {
  const at = message.indexOf(': ');
  if (at === -1) return null;
  const set = new Set(message.slice(at + 2).split(', '));
  return set.size === 0 ? null : set;
}

// NODE_OPTIONS split as Node splits it: on spaces, with double quotes
// grouping and a backslash escaping inside them.
function nodeOptionsFlags() {
  const s = process.env.NODE_OPTIONS;
  if (typeof s !== 'string' || s.length === 0) return [];
  const out = [];
  let cur = '';
  let inQuote = false;
  let any = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inQuote && c === '\\' && i + 1 < s.length) {
      cur += s[++i];
    } else if (c === '"') {
      inQuote = !inQuote;
      any = true;
    } else if (c === ' ' && !inQuote) {
      if (any || cur.length !== 0) out.push(cur);
      cur = '';
      any = false;
    } else {
      cur += c;
    }
  }
  if (any || cur.length !== 0) out.push(cur);
  return out;
}

const kNode = Symbol('kNode');
const kPort = Symbol('kPort');

class Worker extends EventEmitter {
  constructor(filename, options = undefined) {
    super();
    // Node takes anything here and validates the fields it reads; only the
    // caller's own properties count (Node 20's Worker also reads some
    // through Object.prototype).
    const opts = { __proto__: null, ...(options !== null && typeof options === 'object' ? options : undefined) };
    // Node reads an array here and ignores anything else.
    const userList = Array.isArray(opts.transferList) ? opts.transferList : undefined;
    const mem = newChannelMemory(WORKER_CAPACITY);
    const side = new nodeWT.MessageChannel();
    side.port1.unref();

    // workerData may carry our ports (listed in transferList): they travel
    // as their Node side-channel ports and are rebuilt in the worker.
    let ours = null;
    let nodeList = userList;
    if (userList !== undefined) ({ ours, nodeList } = mapTransferList(userList, null));
    // Our ports anywhere in workerData must be listed, as Node's must.
    const data = substitutePorts(opts.workerData, ours !== null ? ours : new Map());
    const ports = [];
    if (ours !== null) for (const [port, node] of ours) ports.push({ ...describePort(port), node });
    opts.workerData = {
      [CHANNEL_KEY]: {
        ctl: mem.ctlSab, r0: mem.r0, r1: mem.r1, port: side.port2, ports,
      },
      data,
    };
    opts.transferList = nodeList === undefined ? [side.port2] : [side.port2, ...nodeList];

    // Node validates filename and options and throws its own errors.
    let node;
    if (ours !== null) for (const port of ours.keys()) port[kSuspend]();
    try {
      node = startWorker(filename, opts);
    } catch (err) {
      side.port1.close();
      if (ours !== null) for (const port of ours.keys()) port[kResume]();
      throw err;
    }
    if (ours !== null) for (const port of ours.keys()) port[kDetach]();
    this[kNode] = node;
    debug('new Worker %s: thread %d, channel of 2 x %d bytes', opts.eval ? '(eval)' : String(filename),
      node.threadId, WORKER_CAPACITY);
    const port = new MessagePort(kCreate, {
      ctlSab: mem.ctlSab, r0: mem.r0, r1: mem.r1, side: 0, node: side.port1, target: this,
    });
    this[kPort] = port;
    port.start(); // unref'd: Node's Worker handle keeps the loop alive

    node.on('online', () => this.emit('online'));
    node.on('error', (err) => this.emit('error', err));
    node.on('messageerror', (err) => this.emit('messageerror', err));
    node.on('exit', (code) => {
      // Everything the worker posted before it ended is delivered first.
      // Messages delivered only now get a turn of the loop before 'exit'
      // (with Node's ports they come well before it), so that what their
      // listeners start — an await, then once('exit') — sees it.
      const late = port[kDrain]();
      port[kCloseLocal]();
      // The thread is gone and so is its end of the channel (unless it
      // transferred its parentPort elsewhere): the next Worker of this
      // thread takes the rings over.
      recycleChannelMemory(mem, WORKER_CAPACITY);
      if (late === 0) this.emit('exit', code);
      else setImmediate(() => this.emit('exit', code));
    });
  }

  postMessage(...args) {
    this[kPort].postMessage(...args);
  }

  terminate(callback) {
    return this[kNode].terminate(callback);
  }

  ref() { this[kNode].ref(); }

  unref() { this[kNode].unref(); }

  getHeapSnapshot(options) { return this[kNode].getHeapSnapshot(options); }

  get threadId() { return this[kNode].threadId; }

  get resourceLimits() { return this[kNode].resourceLimits; }

  get stdin() { return this[kNode].stdin; }

  get stdout() { return this[kNode].stdout; }

  get stderr() { return this[kNode].stderr; }

  get performance() { return this[kNode].performance; }
}

// ---- inside a worker ------------------------------------------------------

// A thread our Worker started was set up by the bootstrap; one that
// node:worker_threads itself started has Node's own port.
const inThread = nodeWT.isMainThread ? null : attached();
const live = require('worker_threads');
const parentPort = nodeWT.isMainThread ? null : inThread !== null ? inThread.parentPort : live.parentPort;
const workerData = inThread !== null ? inThread.workerData : live.workerData;

function moveMessagePortToContext(port, contextifiedSandbox) {
  // A port of ours moves as the Node port of a relay (relay.js).
  if (isOurPort(port)) return nodeWT.moveMessagePortToContext(relay(port), contextifiedSandbox);
  return nodeWT.moveMessagePortToContext(port, contextifiedSandbox);
}

module.exports = {
  Worker,
  MessageChannel,
  MessagePort,
  receiveMessageOnPort,
  isMainThread: nodeWT.isMainThread,
  parentPort,
  workerData,
  threadId: nodeWT.threadId,
  resourceLimits: nodeWT.resourceLimits,
  SHARE_ENV: nodeWT.SHARE_ENV,
  setEnvironmentData: nodeWT.setEnvironmentData,
  getEnvironmentData: nodeWT.getEnvironmentData,
  markAsUntransferable,
  moveMessagePortToContext,
  // Node's own, passed through: they do not use ports.
  BroadcastChannel: nodeWT.BroadcastChannel,
  postMessageToThread: nodeWT.postMessageToThread,
};
