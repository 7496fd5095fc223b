'use strict';

// Ports of ours through Node's own postMessage (a Node MessagePort, Node's
// Worker, its workerData, moveMessagePortToContext). Node's native code
// moves only its own ports, so a port of ours that enters one of its
// transfer lists is taken over here by a relay: the port's state moves to
// a port of ours that stays in this thread, a fresh Node MessageChannel
// carries its messages on, and the Node end of that channel travels in the
// port's place. The receiver holds a real Node MessagePort; messages, the
// ports they carry and 'close' pass both ways. The relay holds nothing
// open (both of its ends are unref'd): what keeps the process alive is
// what would under Node — the receiving thread, a port with a listener.

const nodeWT = require('./node');
const { isOurPort, substitutePorts, mapTransferList } = require('./transfer');

const NodeMessagePort = nodeWT.MessagePort;
const nodePost = NodeMessagePort.prototype.postMessage;
const NONE = new Map();

// The Node port that stands for `port` from now on. `port` is detached, as
// a transferred port is.
function relay(port) {
  const { MessageChannel, receiveMessageOnPort } = require('./port');
  // Move the port's state into a port of this thread through our own
  // transfer, so that what it has queued and its shapes go with it.
  const mover = new MessageChannel();
  mover.port1.postMessage(port, [port]);
  const { message: inner } = receiveMessageOnPort(mover.port2);
  mover.port1.close();
  mover.port2.close();

  const { port1: near, port2: far } = new nodeWT.MessageChannel();
  inner.addEventListener('message', (ev) => post(near, ev.data, ev.ports));
  near.addEventListener('message', (ev) => inner.postMessage(ev.data, ev.ports));
  inner.on('close', () => near.close());
  near.on('close', () => inner.close());
  inner.unref();
  near.unref();
  return far;
}

// Whether a port of ours is inside `v`: a walk that allocates nothing, as
// Node's ports carry every message of a program through here. Deep or
// cyclic values go to substitutePorts, which keeps a memo.
function holdsOurPort(v, depth) {
  if (typeof v !== 'object' || v === null) return false;
  if (isOurPort(v)) return true;
  if (depth > 16) return true;
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof SharedArrayBuffer ||
      v instanceof NodeMessagePort) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (holdsOurPort(v[i], depth + 1)) return true;
    return false;
  }
  if (v instanceof Map) {
    for (const [k, x] of v) if (holdsOurPort(k, depth + 1) || holdsOurPort(x, depth + 1)) return true;
    return false;
  }
  if (v instanceof Set) {
    for (const x of v) if (holdsOurPort(x, depth + 1)) return true;
    return false;
  }
  for (const k in v) {
    if (Object.hasOwn(v, k) && holdsOurPort(v[k], depth + 1)) return true;
  }
  return false;
}

// Node's postMessage, with ports of ours in the transfer list relayed.
function post(target, value, transfer) {
  let list = transfer;
  let options = null;
  if (list !== null && typeof list === 'object' && !Array.isArray(list) &&
      typeof list[Symbol.iterator] !== 'function') {
    options = list;
    list = list.transfer;
  }
  const items = list !== null && typeof list === 'object' && typeof list[Symbol.iterator] === 'function'
    ? [...list] : [];
  if (!items.some(isOurPort)) {
    // Node would clone a port of ours as a plain object: refuse it as Node
    // refuses a port of its own that is not listed.
    if (value !== null && typeof value === 'object' && holdsOurPort(value, 0)) substitutePorts(value, NONE);
    return nodePost.call(target, value, transfer);
  }
  // Refuses first what Node would refuse (a closed, detached or duplicate
  // port of ours), before any port is taken over; leaves out ports marked
  // untransferable.
  const { ours } = mapTransferList(items, null);
  const map = new Map();
  for (const p of ours.keys()) map.set(p, relay(p));
  const v = substitutePorts(value, map);
  const nodeList = [];
  for (const item of items) {
    if (!isOurPort(item)) nodeList.push(item);
    else if (map.has(item)) nodeList.push(map.get(item));
  }
  return nodePost.call(target, v, options === null ? nodeList : { ...options, transfer: nodeList });
}

// From now on every Node MessagePort (and so Node's Worker, its workerData
// and the ports of its own channels) takes ports of ours.
function install() {
  if (NodeMessagePort.prototype.postMessage !== nodePost) return;
  Object.defineProperty(NodeMessagePort.prototype, 'postMessage', {
    value: function postMessage(...args) {
      return args.length === 0 ? nodePost.call(this) : post(this, args[0], args[1]);
    },
    writable: true,
    configurable: true,
    enumerable: Object.getOwnPropertyDescriptor(NodeMessagePort.prototype, 'postMessage').enumerable,
  });
}

module.exports = { install, relay, nodePost };
