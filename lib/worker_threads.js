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
const nodeWT = require('worker_threads');
const {
  MessagePort,
  MessageChannel,
  receiveMessageOnPort,
  kCreate,
  kAttach,
  kSuspend,
  kResume,
  kDetach,
  kDrain,
  kCloseLocal,
  WORKER_CAPACITY,
} = require('./internal/worker/port');
const { newChannelMemory } = require('./internal/worker/lanes');
const {
  substitutePorts, restorePorts, mapTransferList, describePort,
} = require('./internal/worker/transfer');
const { codes: { ERR_INVALID_ARG_TYPE } } = require('./internal/errors');

// The key under which a Worker of ours passes its channel in Node's
// workerData. Code in the worker that reads node:worker_threads' workerData
// directly sees this wrapper; ours unwraps it.
const CHANNEL_KEY = '__nativeWorkersChannel';

const kNode = Symbol('kNode');
const kPort = Symbol('kPort');

class Worker extends EventEmitter {
  constructor(filename, options = undefined) {
    super();
    // Node takes anything here and validates the fields it reads; only the
    // caller's own properties count (Node 20's Worker also reads some
    // through Object.prototype).
    const opts = { __proto__: null, ...(options !== null && typeof options === 'object' ? options : undefined) };
    const userList = opts.transferList;
    const mem = newChannelMemory(WORKER_CAPACITY);
    const side = new nodeWT.MessageChannel();
    side.port1.unref();

    // workerData may carry our ports (listed in transferList): they travel
    // as their Node side-channel ports and are rebuilt in the worker.
    let ours = null;
    let nodeList = userList;
    if (Array.isArray(userList)) ({ ours, nodeList } = mapTransferList(userList, null));
    const data = ours !== null ? substitutePorts(opts.workerData, ours) : opts.workerData;
    const ports = [];
    if (ours !== null) for (const [port, node] of ours) ports.push({ ...describePort(port), node });
    opts.workerData = {
      [CHANNEL_KEY]: {
        ctl: mem.ctlSab, r0: mem.r0, r1: mem.r1, port: side.port2, ports,
      },
      data,
    };
    opts.transferList = Array.isArray(nodeList) ? [side.port2, ...nodeList]
      : nodeList === undefined ? [side.port2] : nodeList;

    // Node validates filename and options and throws its own errors.
    let node;
    if (ours !== null) for (const port of ours.keys()) port[kSuspend]();
    try {
      node = new nodeWT.Worker(filename, opts);
    } catch (err) {
      side.port1.close();
      if (ours !== null) for (const port of ours.keys()) port[kResume]();
      throw err;
    }
    if (ours !== null) for (const port of ours.keys()) port[kDetach]();
    this[kNode] = node;
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
      port[kDrain]();
      port[kCloseLocal]();
      this.emit('exit', code);
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

let parentPort = null;
let workerData = nodeWT.workerData;

if (!nodeWT.isMainThread) {
  const wd = nodeWT.workerData;
  const ch = wd !== null && typeof wd === 'object' ? wd[CHANNEL_KEY] : undefined;
  if (ch !== undefined) {
    parentPort = new MessagePort(kAttach, {
      ctlSab: ch.ctl, r0: ch.r0, r1: ch.r1, side: 1, node: ch.port,
    });
    const map = new Map();
    for (const d of ch.ports) {
      map.set(d.node, new MessagePort(kAttach, {
        ctlSab: d.ctl, r0: d.r0, r1: d.r1, side: d.side, node: d.node, shapes: d.shapes,
      }));
    }
    workerData = restorePorts(wd.data, map);
  } else {
    // A worker started by node:worker_threads itself: its own port.
    parentPort = nodeWT.parentPort;
  }
}

// Node's moveMessagePortToContext works on Node's own ports: a port of
// ours is refused with Node's error for a wrong argument.
function moveMessagePortToContext(port, contextifiedSandbox) {
  if (port instanceof MessagePort) {
    throw ERR_INVALID_ARG_TYPE('port', 'MessagePort of node:worker_threads', port);
  }
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
  markAsUntransferable: nodeWT.markAsUntransferable,
  moveMessagePortToContext,
  // Node's own, passed through: they do not use ports.
  BroadcastChannel: nodeWT.BroadcastChannel,
  postMessageToThread: nodeWT.postMessageToThread,
};
