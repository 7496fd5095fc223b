'use strict';

// Loaded with --require in every thread a Worker of the mirror starts,
// before the user's code. It makes node:worker_threads itself answer as
// the mirror does: its `parentPort` is the mirror's port, its `workerData`
// the data the Worker was given (ports of ours rebuilt), its
// `receiveMessageOnPort` and `markAsUntransferable` take ports of both
// kinds — for require(), createRequire, process.getBuiltinModule and ESM
// import alike — so that libraries written for Node's module work
// unchanged and no message waits on a port nobody reads. It also takes
// itself out of process.execArgv, which then shows what Node's would.
//
// The channel is attached when the thread first asks for parentPort or
// workerData (through either module), so a thread that starts costs what
// Node's does until then.

const nodeWT = require('worker_threads');
require('./node'); // Node's originals, kept before any is replaced here

const CHANNEL_KEY = '__nativeWorkersChannel';

let wrapper; // Node's workerData: our wrapper, in a thread of ours
let attached = null; // { parentPort, workerData } once attached

function attach() {
  if (attached !== null) return attached;
  const ch = wrapper[CHANNEL_KEY];
  const { MessagePort, kAttach } = require('./port');
  const { restorePorts } = require('./transfer');
  const parentPort = new MessagePort(kAttach, {
    ctlSab: ch.ctl, r0: ch.r0, r1: ch.r1, side: 1, node: ch.port,
  });
  const map = new Map();
  for (const d of ch.ports) {
    map.set(d.node, new MessagePort(kAttach, {
      ctlSab: d.ctl, r0: d.r0, r1: d.r1, side: d.side, node: d.node, shapes: d.shapes,
    }));
  }
  attached = { parentPort, workerData: restorePorts(wrapper.data, map) };
  // Plain values from now on.
  for (const key of ['parentPort', 'workerData']) {
    Object.defineProperty(nodeWT, key, { value: attached[key], writable: true, enumerable: true, configurable: true });
  }
  return attached;
}

function install() {
  wrapper = nodeWT.workerData;
  const ch = wrapper !== null && typeof wrapper === 'object' ? wrapper[CHANNEL_KEY] : undefined;
  if (ch === undefined) return false;
  process.execArgv.splice(0, process.execArgv.length, ...ch.execArgv);
  for (const key of ['parentPort', 'workerData']) {
    Object.defineProperty(nodeWT, key, {
      get() { return attach()[key]; },
      set(value) { Object.defineProperty(nodeWT, key, { value, writable: true, enumerable: true, configurable: true }); },
      enumerable: true,
      configurable: true,
    });
  }
  return true;
}

// In any thread that loads the mirror, Node's receiveMessageOnPort and
// markAsUntransferable take ports of both kinds (the mirror's own do), and
// Node's ports carry ours (relay.js).
function shareHelpers() {
  require('./relay').install();
  // Named and shaped as Node's own, so that they look the same.
  nodeWT.receiveMessageOnPort = function receiveMessageOnPort(port) {
    return require('./port').receiveMessageOnPort(port);
  };
  nodeWT.markAsUntransferable = function markAsUntransferable(value) {
    return require('./transfer').markAsUntransferable(value);
  };
  require('module').syncBuiltinESMExports();
}

const ours = !nodeWT.isMainThread && install();
shareHelpers();

// The mirror's parentPort and workerData in this thread, or null when the
// thread is not one of ours.
module.exports = { CHANNEL_KEY, attached: () => (ours ? attach() : null) };
