'use strict';

// Loaded with --require in every thread a Worker of the mirror starts,
// before the user's code. It attaches the thread's end of its channel and
// makes node:worker_threads itself answer as the mirror does: its
// `parentPort` is the mirror's port, its `workerData` the data the Worker
// was given (ports of ours rebuilt), and its `receiveMessageOnPort` takes
// both kinds of port — for require(), createRequire, process.getBuiltinModule
// and ESM import alike — so that libraries written for Node's module work
// unchanged and no message waits on a port nobody reads. It also takes
// itself out of process.execArgv, which then shows what Node's would.

const nodeWT = require('worker_threads');
const { syncBuiltinESMExports } = require('module');

const CHANNEL_KEY = '__nativeWorkersChannel';

// What the mirror's module exports in this thread (null: not one of ours).
let attached = null;

function attach() {
  const wd = nodeWT.workerData;
  const ch = wd !== null && typeof wd === 'object' ? wd[CHANNEL_KEY] : undefined;
  if (ch === undefined) return null;
  const { MessagePort, kAttach, receiveMessageOnPort } = require('./port');
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
  const workerData = restorePorts(wd.data, map);
  process.execArgv.splice(0, process.execArgv.length, ...ch.execArgv);
  nodeWT.parentPort = parentPort;
  nodeWT.workerData = workerData;
  nodeWT.receiveMessageOnPort = receiveMessageOnPort;
  syncBuiltinESMExports();
  return { parentPort, workerData };
}

if (!nodeWT.isMainThread) attached = attach();

module.exports = { CHANNEL_KEY, attached: () => attached };
