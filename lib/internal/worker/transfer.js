'use strict';

// Ports inside messages and transfer lists (worker_threads mirror). A port
// of ours travels through Node's side channel as its Node side-channel
// port, with a descriptor of its shared memory beside the message; the
// receiver puts a port of ours, attached to the same memory, back where the
// Node port arrived. Node's own ports, SharedArrayBuffers and everything
// else in a transfer list are Node's business.

const {
  MessagePort: NodeMessagePort, markAsUntransferable: nodeMarkAsUntransferable,
} = require('./node');
const { codes: { ERR_MISSING_TRANSFERABLE_IN_TRANSFER_LIST } } = require('../errors');

// The state of a port of ours (port.js); its presence marks our ports.
const kState = Symbol('kState');

function isOurPort(v) {
  return v !== null && typeof v === 'object' && v[kState] !== undefined;
}

// Ports of ours marked with markAsUntransferable: a transfer list leaves
// them out, as Node leaves out what it marked.
const untransferable = new WeakSet();

function markAsUntransferable(value) {
  if (isOurPort(value)) untransferable.add(value);
  return nodeMarkAsUntransferable(value);
}

// ---- ports inside messages ------------------------------------------------

function dataCloneError(message) {
  return new DOMException(message, 'DataCloneError');
}

// Copy the containers of `value` that lead to one of our ports, putting the
// port's side-channel Node port in its place (Node transfers that one).
// Containers on other paths are left for Node to clone. Throws when a port
// of ours is found that is not being transferred, as Node does.
function substitutePorts(value, map) {
  const memo = new Map();
  function walk(v) {
    if (typeof v !== 'object' || v === null) return v;
    if (isOurPort(v)) {
      const r = map.get(v);
      if (r === undefined) throw ERR_MISSING_TRANSFERABLE_IN_TRANSFER_LIST();
      return r;
    }
    if (memo.has(v)) return memo.get(v);
    memo.set(v, v);
    let out = v;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const e = walk(v[i]);
        if (e !== v[i]) {
          if (out === v) { out = v.slice(); memo.set(v, out); }
          out[i] = e;
        }
      }
    } else if (v instanceof Map) {
      let changed = false;
      const entries = [];
      for (const [k, x] of v) {
        const k2 = walk(k);
        const x2 = walk(x);
        if (k2 !== k || x2 !== x) changed = true;
        entries.push([k2, x2]);
      }
      if (changed) { out = new Map(entries); memo.set(v, out); }
    } else if (v instanceof Set) {
      let changed = false;
      const items = [];
      for (const x of v) {
        const x2 = walk(x);
        if (x2 !== x) changed = true;
        items.push(x2);
      }
      if (changed) { out = new Set(items); memo.set(v, out); }
    } else if (!ArrayBuffer.isView(v) && !(v instanceof ArrayBuffer) &&
               !(v instanceof SharedArrayBuffer) && !(v instanceof NodeMessagePort)) {
      for (const k of Object.keys(v)) {
        const x = v[k];
        const x2 = walk(x);
        if (x2 !== x) {
          if (out === v) { out = { ...v }; memo.set(v, out); }
          out[k] = x2;
        }
      }
    }
    return out;
  }
  return walk(value);
}

// Receiver side: put our ports back where their Node ports arrived. The
// value is a fresh clone, so it is changed in place.
function restorePorts(value, map) {
  if (map.size === 0) return value;
  const done = new Set();
  function walk(v) {
    if (typeof v !== 'object' || v === null) return v;
    const r = map.get(v);
    if (r !== undefined) return r;
    if (done.has(v)) return v;
    done.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = walk(v[i]);
    } else if (v instanceof Map) {
      const entries = [...v].map(([k, x]) => [walk(k), walk(x)]);
      v.clear();
      for (const [k, x] of entries) v.set(k, x);
    } else if (v instanceof Set) {
      const items = [...v].map(walk);
      v.clear();
      for (const x of items) v.add(x);
    } else if (!ArrayBuffer.isView(v) && !(v instanceof ArrayBuffer) &&
               !(v instanceof SharedArrayBuffer)) {
      for (const k of Object.keys(v)) v[k] = walk(v[k]);
    }
    return v;
  }
  return walk(value);
}

// The transfer list as Node would take it, with our ports swapped for their
// side-channel ports. `self` may not be in it.
function mapTransferList(list, self) {
  const ours = new Map();
  const nodeList = [];
  for (const item of list) {
    if (isOurPort(item)) {
      if (untransferable.has(item)) continue;
      if (item === self) throw dataCloneError('Transfer list contains source port');
      if (ours.has(item)) throw dataCloneError('Transfer list contains duplicate MessagePort');
      const st = item[kState];
      if (st === undefined || st.detached || st.closed) {
        throw dataCloneError('MessagePort in transfer list is already detached');
      }
      ours.set(item, st.node);
      nodeList.push(st.node);
    } else {
      nodeList.push(item);
    }
  }
  return { ours, nodeList };
}

// Descriptor of a port travelling inside a side-channel message.
function describePort(port) {
  const st = port[kState];
  return {
    ctl: st.ctlSab, r0: st.r0, r1: st.r1, side: st.side,
    shapes: st.inbox.dec.exportShapes(),
  };
}

module.exports = {
  kState, isOurPort, dataCloneError, substitutePorts, restorePorts, mapTransferList, describePort,
  markAsUntransferable,
};
