'use strict';

// What both sides of native-workers/pool share: the symbols of piscina's
// Transferable protocol (registered symbols, so values made for piscina work
// here and back), the state a task thread reads through the pool module
// (isWorkerThread, workerData), and Pool.move().

const { types: { isArrayBufferView } } = require('util');

// Symbol.for(): the same symbols piscina registers.
const kTransferable = Symbol.for('Piscina.transferable');
const kValue = Symbol.for('Piscina.valueOf');
const kQueueOptions = Symbol.for('Piscina.queueOptions');
const kMovable = Symbol('native-workers.pool.movable');

// Set by the task thread's entry (worker.js) before any task file loads.
// Kept on globalThis so that every copy of this module in a thread agrees.
const kState = Symbol.for('native-workers.pool.state');
const state = globalThis[kState] || (globalThis[kState] = { isWorkerThread: false, workerData: undefined });

function isTransferable(value) {
  return value != null && typeof value === 'object' && kTransferable in value && kValue in value;
}

function isMovable(value) {
  return isTransferable(value) && value[kMovable] === true;
}

// A value that moves (is transferred, not copied) when given to run() or
// returned from a task: ArrayBuffers, views (their buffer moves), ports, or
// any object of piscina's Transferable protocol.
function move(value) {
  if (value === null || typeof value !== 'object') return value;
  let out = value;
  if (!isTransferable(value)) {
    if (isArrayBufferView(value)) {
      out = { [kTransferable]: value.buffer, [kValue]: value };
    } else {
      out = { [kTransferable]: value, [kValue]: value };
    }
  }
  Object.defineProperty(out, kMovable, { value: true, writable: true, configurable: true, enumerable: false });
  return out;
}

module.exports = {
  kTransferable, kValue, kQueueOptions, kMovable, state, isTransferable, isMovable, move,
};
