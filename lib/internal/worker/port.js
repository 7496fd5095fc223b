'use strict';

// MessagePort and MessageChannel of the worker_threads mirror: a port's
// lifecycle and events, over the two lanes of its channel (lanes.js) and a
// pair of Node MessagePorts used as a side channel.
//
// A message goes into the outbox lane when it can (plain data in the wire
// form, lone views and ArrayBuffers as bytes); everything else
// (transferList, SharedArrayBuffers, Maps, errors, host objects, messages
// too large for the ring) goes through Node's own postMessage on the side
// port, and an 'n' record keeps its place: the reader takes it with
// receiveMessageOnPort when it reaches the 'n'. Order is the ring's order
// either way.
//
// Wakeups: the reader of a lane publishes the id of its doorbell
// (src/napi/bell.c) and sets its ASLEEP word before it stops reading; a
// writer that finds ASLEEP set takes it (Atomics.exchange) and rings the
// bell, which is one uv_async_send to the reader's loop. A writer that
// finds the reader awake makes no system call. When a lane is full the
// writer keeps a backlog, sets WANT, and the reader rings the writer's
// bell once it has made room.

const { performance } = require('perf_hooks');
const nodeWT = require('./node');
const { nodePost } = require('./relay');
const binding = require('../binding');
const { Encoder } = require('../wire');
const {
  codes: { ERR_CONSTRUCT_CALL_INVALID }, makeNodeError,
} = require('../errors');
const { Spill } = require('../ring_view');
const {
  Lane, kCorrupt, encodeBytes, newChannelMemory, recycleChannelMemory,
  TAG_NODE, BYTES_VIA_RING, C_BELL, C_ASLEEP, C_WANT, C_CLOSED, C_MOVED,
} = require('./lanes');
const {
  kState, isOurPort, substitutePorts, restorePorts, mapTransferList, describePort,
} = require('./transfer');

const NodeMessagePort = nodeWT.MessagePort;
const nodeReceive = nodeWT.receiveMessageOnPort;

// Messages one call from the bell may dispatch; and what runs the nextTick
// queue and microtasks between them (Node's own, as its timers use it).
const BATCH = 64;
const runNextTicks = typeof process._tickCallback === 'function' ? process._tickCallback : undefined;

// How long a reader watches an empty inbox after traffic (#spinRead), ms.
const SPIN_MS = 0.05;
const SPIN_MISSES = 4;
const SPIN_REST = 64;

const CHANNEL_CAPACITY = 256 * 1024;
const WORKER_CAPACITY = 1024 * 1024;

const kCreate = Symbol('kCreate');
const kSuspend = Symbol('kSuspend');
const kResume = Symbol('kResume');
const kDetach = Symbol('kDetach');
const kDrain = Symbol('kDrain');
const kReceive = Symbol('kReceive');
const kCloseLocal = Symbol('kCloseLocal');
const kAttach = Symbol('kAttach');

// A port is a NodeEventTarget, as Node's are: made by NodeEventTarget's
// own constructor with this class's prototype, whose chain runs through
// Node's MessagePort.prototype (so instanceof holds for the global
// MessagePort, and events are Node's: MessageEvent for 'message', the
// argument of emit() as event.detail for others). PortBase hands that
// object to the class as `this`.
const NodeEventTarget = Object.getPrototypeOf(NodeMessagePort.prototype).constructor;
const eventTargetSymbols = Object.getOwnPropertySymbols(EventTarget.prototype);
const kNewListener = eventTargetSymbols.find((sym) => sym.description === 'kNewListener');
const kRemoveListener = eventTargetSymbols.find((sym) => sym.description === 'kRemoveListener');
const kHybridDispatch = Symbol.for('nodejs.internal.kHybridDispatch');
const kCurrentlyReceivingPorts = Symbol.for('nodejs.internal.kCurrentlyReceivingPorts');
if (kNewListener === undefined || kRemoveListener === undefined ||
    typeof EventTarget.prototype[kHybridDispatch] !== 'function') {
  throw new Error('native-workers: this Node.js has no EventTarget internals the worker_threads mirror knows');
}

// A Worker thread that ends (natural end or process.exit()) with messages
// still in a port's backlog (its ring was full) waits at its 'exit' until
// the reader has taken them into the ring: Node delivers everything a
// thread posted before it ended. Ports with a backlog are listed here.
const kDrainAtExit = Symbol('kDrainAtExit');
const EXIT_DRAIN_MS = 2000;
const exitNap = new Int32Array(new SharedArrayBuffer(4));
const heldAtExit = new Set();
let exitHooked = false;
function holdAtExit(port) {
  heldAtExit.add(port);
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const p of heldAtExit) p[kDrainAtExit]();
    heldAtExit.clear();
  });
}

// An error as Node's MessagePort (C++) throws them: the class, a code
// property, and no code in its name.
function nativeTypeError(code, message) {
  const err = new TypeError(message);
  err.code = code;
  return err;
}

// An error a lane throws when the other thread left its ring impossible.
function isCorrupt(err) {
  return err !== null && typeof err === 'object' && err[kCorrupt] === true;
}

class PortBase {
  constructor(self) {
    return self;
  }
}
Object.setPrototypeOf(PortBase.prototype, NodeMessagePort.prototype);
Object.setPrototypeOf(PortBase, NodeMessagePort);

// Node's MessagePort makes the MessageEvent of 'message' with the ports
// that came with it, and MessageEvent takes only Node's own ports. When
// ours are among them, the event is made without ports and given them
// after, so that onmessage and addEventListener see them in event.ports
// as 'message' listeners do in the message.
const kCreateEvent = Object.getOwnPropertySymbols(NodeMessagePort.prototype)
  .find((sym) => sym.description === 'kCreateEvent');
const nodeCreateEvent = kCreateEvent !== undefined ? NodeMessagePort.prototype[kCreateEvent] : undefined;
const isOurs = (port) => Object.prototype.isPrototypeOf.call(PortBase.prototype, port);
if (typeof nodeCreateEvent === 'function') {
  // (Node's own is read-only on its prototype, so this one is defined.)
  const createEvent = function createEvent(data, type) {
    const ports = this[kCurrentlyReceivingPorts];
    if (!Array.isArray(ports) || !ports.some(isOurs)) return nodeCreateEvent.call(this, data, type);
    this[kCurrentlyReceivingPorts] = undefined;
    const event = nodeCreateEvent.call(this, data, type);
    if (type === 'message' || type === 'messageerror') {
      Object.defineProperty(event, 'ports', { get() { return ports; }, configurable: true });
    }
    return event;
  };
  Object.defineProperty(PortBase.prototype, kCreateEvent, { value: createEvent, writable: true, configurable: true });
}

class MessagePort extends PortBase {
  // Node's ports are ours too: `port instanceof MessagePort` holds for both.
  static [Symbol.hasInstance](value) {
    return Function.prototype[Symbol.hasInstance].call(this, value) ||
      (this === MessagePort && value instanceof NodeMessagePort);
  }

  constructor(token, init) {
    if (token !== kCreate && token !== kAttach) throw ERR_CONSTRUCT_CALL_INVALID();
    super(Reflect.construct(NodeEventTarget, [], new.target));
    const st = {
      ctlSab: init.ctlSab,
      ctl: new Int32Array(init.ctlSab),
      r0: init.r0, // the rings' SharedArrayBuffers: ring s is side s's inbox
      r1: init.r1,
      side: init.side,
      inbox: new Lane(init.side === 0 ? init.r0 : init.r1, init.shapes),
      outbox: new Lane(init.side === 0 ? init.r1 : init.r0),
      active: false, // traffic since the reader last went to sleep
      spinMisses: 0, // spins in a row that saw nothing (#spinRead)
      spinRest: 0, // sleeps to come without a spin first
      enc: null, // shapes this port has defined in its outbox (wire.js)
      node: init.node, // the side-channel Node MessagePort
      pair: init.pair || null, // shared with the other port of a MessageChannel of this thread
      target: init.target || this, // who emits 'message' (a Worker for its port)
      bell: 0,
      backlog: [], // records waiting for room in the outbox, from bqHead on
      bqHead: 0, // (the backlog is empty exactly when its length is 0)
      bqPosts: 0, // posts that went to the backlog (see #send)
      started: false,
      refed: false,
      userUnref: false,
      closed: false,
      detached: false,
      closeEmitted: false,
      closePending: false, // close() waits for the backlog to drain
      onBell: null,
      dispatching: false, // inside #onBell's dispatch of messages
      finishBatch: false, // close() from a listener: deliver the rest of the batch
      receivedPorts: null, // Node ports that came with the message being decoded
      handlers: { message: null, messageerror: null }, // onmessage, onmessageerror
      handlerFns: { message: null, messageerror: null }, // their listeners
    };
    this[kState] = st;
    if (st.node !== undefined) {
      st.node.unref();
      // The side port closes when the peer's thread ends (or its port is
      // collected): then the peer will never close its end itself.
      st.node.on('close', () => this.#sideClosed());
    }
    st.onBell = () => this.#onBell();
    this.#openBell();
  }

  // Called by EventTarget whenever a listener is added or removed (once
  // listeners and on* handlers included): as Node's ports, the first
  // 'message' listener refs and starts the port, the last one leaving
  // unrefs it.
  [kNewListener](size, type, ...rest) {
    if (type === 'message' && size === 1 && this[kState].target === this) {
      this.ref();
      this.start();
    }
    return super[kNewListener](size, type, ...rest);
  }

  [kRemoveListener](size, type, ...rest) {
    if (type === 'message' && size === 0 && this[kState].target === this) this.unref();
    return super[kRemoveListener](size, type, ...rest);
  }


  #openBell() {
    const st = this[kState];
    st.bell = binding.bellOpen(st.onBell);
    Atomics.store(st.ctl, C_BELL + st.side, st.bell);
    if (st.refed) binding.bellRef(st.bell, true);
    // Look at the inbox once: messages may already be waiting, and this
    // also arms ASLEEP for the writer.
    binding.bellRing(st.bell);
  }

  #closeBell() {
    const st = this[kState];
    if (st.bell === 0) return;
    Atomics.store(st.ctl, C_ASLEEP + st.side, 0);
    Atomics.compareExchange(st.ctl, C_BELL + st.side, st.bell, 0);
    binding.bellClose(st.bell);
    st.bell = 0;
  }

  // Called by the bell until it returns 0: dispatch what is waiting and
  // return how many messages that was, or 0 when there is nothing (more)
  // to do.
  #onBell() {
    try {
      return this.#onBellUnguarded();
    } catch (err) {
      if (!isCorrupt(err)) throw err;
      this.#fail(err);
      return 0;
    }
  }

  // The next record of the inbox, null when there is none, or undefined
  // when the ring turned out corrupt (the port has then failed).
  #readOrFail() {
    try {
      return this[kState].inbox.tryRead();
    } catch (err) {
      if (!isCorrupt(err)) throw err;
      this.#fail(err);
      return undefined;
    }
  }

  // The other thread made a ring of this channel impossible (it wrote over
  // the header): close this end, and report it as an 'error' event of the
  // port (or its Worker) where someone listens, a warning otherwise.
  #fail(err) {
    const st = this[kState];
    if (st.closed || st.detached) return;
    delete err[kCorrupt];
    this.#forgetPair(); // never reuse broken rings
    this[kCloseLocal]();
    const target = st.target;
    process.nextTick(() => {
      if (target.listenerCount('error') !== 0) target.emit('error', err);
      else process.emitWarning(err);
    });
    this.#emitClose();
  }

  #onBellUnguarded() {
    const st = this[kState];
    if (st.closed || st.detached) return 0;
    if (st.backlog.length !== 0) this.#flush();
    const ctl = st.ctl;
    if (!st.started) {
      // Not reading yet, but a closed peer with nothing left to deliver
      // closes this end too, as in Node.
      if (Atomics.load(ctl, C_CLOSED + 1 - st.side) !== 0 && st.inbox.empty()) this.#peerClosed();
      return 0;
    }
    const asleep = C_ASLEEP + st.side;
    let rec = st.inbox.tryRead();
    if (rec === null) rec = this.#spinRead();
    if (rec === null) {
      Atomics.store(ctl, asleep, 1);
      rec = st.inbox.tryRead();
      if (rec === null) {
        if (Atomics.load(ctl, C_CLOSED + 1 - st.side) !== 0) {
          rec = st.inbox.tryRead();
          if (rec === null) { this.#peerClosed(); return 0; }
        } else {
          return 0;
        }
      }
      Atomics.store(ctl, asleep, 0);
    }
    st.dispatching = true;
    try {
      return this.#dispatchBatch(rec);
    } finally {
      st.dispatching = false;
      st.finishBatch = false;
    }
  }

  #dispatchBatch(rec) {
    const st = this[kState];
    this.#roomMade();
    this.#dispatch(rec);
    // More messages in this call, with what the last listener queued run in
    // between, exactly as between two calls from the event loop (nextTick
    // callbacks, then microtasks): the same step Node's timers take between
    // two timers in one call. A call from C costs more than the message.
    let n = 1;
    if (runNextTicks !== undefined) {
      while ((n < BATCH || st.finishBatch) && st.inbox.ready()) {
        runNextTicks();
        if ((st.closed && !st.finishBatch) || st.detached || !st.started) break;
        rec = st.inbox.tryRead();
        if (rec === null) break;
        this.#roomMade();
        this.#dispatch(rec);
        n++;
      }
    }
    return n;
  }

  // The inbox is empty. If this port has just received or sent something
  // (a reply may follow), watch the inbox for a moment before going to
  // sleep: a sleeping reader costs the writer a system call and itself a
  // wakeup of its loop, tens of microseconds here. A port that is not in a
  // conversation goes to sleep at once.
  //
  // Watching only pays when the peer can answer meanwhile, on another
  // core. When both share one (a loaded machine), the spin keeps the peer
  // off it and every round trip costs the whole spin; yielding instead is
  // worse under Linux's EEVDF scheduler, which pushes a thread that yields
  // often further back each time (waits of hundreds of ms were seen). So a
  // port that missed SPIN_MISSES spins in a row stops watching for the
  // next SPIN_REST sleeps, then tries again.
  #spinRead() {
    const st = this[kState];
    if (!st.active) return null;
    if (st.spinRest > 0) {
      st.spinRest--;
      st.active = false;
      return null;
    }
    const lane = st.inbox;
    const t0 = performance.now();
    do {
      for (let i = 0; i < 32; i++) {
        if (lane.ready()) {
          st.spinMisses = 0;
          return lane.tryRead();
        }
      }
    } while (performance.now() - t0 < SPIN_MS);
    st.active = false;
    if (++st.spinMisses >= SPIN_MISSES) {
      st.spinMisses = 0;
      st.spinRest = SPIN_REST;
    }
    return null;
  }

  // The writer into our inbox has a backlog: tell it there is room.
  #roomMade() {
    const st = this[kState];
    const want = C_WANT + st.side;
    // A plain read: the release just before (Atomics.store) is the fence
    // that orders it after our consumption, and the exchange decides. The
    // writer is called back only once half the ring is free, so that it
    // refills in large batches rather than one wakeup per few records.
    if (st.ctl[want] !== 0 && st.inbox.used() <= st.inbox.cap >>> 1 &&
        Atomics.exchange(st.ctl, want, 0) !== 0) {
      binding.bellRing(Atomics.load(st.ctl, C_BELL + 1 - st.side));
    }
  }

  // A record from the inbox (see Lane.tryRead) -> the message value.
  #decode(rec) {
    if (typeof rec !== 'string') {
      if (rec.error !== undefined) throw rec.error;
      return rec.value;
    }
    const tag = rec.charCodeAt(0);
    if (tag === TAG_NODE) return this.#receiveSide();
    throw new Error(`unknown record tag ${tag}`);
  }

  // The message waiting on the side channel, with our ports rebuilt.
  #receiveSide() {
    const got = nodeReceive(this[kState].node);
    if (got === undefined) throw new Error('side-channel message missing');
    const { v, p, t } = got.message;
    if (p === undefined) {
      if (t !== undefined) this[kState].receivedPorts = t;
      return v;
    }
    const map = new Map();
    for (let i = 0; i < p.length; i++) {
      const d = p[i];
      map.set(d.node, new MessagePort(kAttach, {
        ctlSab: d.ctl, r0: d.r0, r1: d.r1, side: d.side, node: d.node, shapes: d.shapes,
      }));
    }
    if (t !== undefined) this[kState].receivedPorts = t.map((x) => map.get(x) || x);
    return restorePorts(v, map);
  }

  #dispatch(rec) {
    const st = this[kState];
    st.active = true;
    let value;
    let type = 'message';
    try {
      value = this.#decode(rec);
    } catch (err) {
      value = err;
      type = 'messageerror';
    }
    if (st.target !== this) {
      st.target.emit(type, value); // a Worker (an EventEmitter)
    } else {
      if (st.receivedPorts !== null) {
        this[kCurrentlyReceivingPorts] = st.receivedPorts;
        st.receivedPorts = null;
      }
      this[kHybridDispatch](value, type, undefined);
    }
  }

  [kSuspend]() { this.#suspend(); }

  [kResume]() { this.#resume(); }

  [kDetach]() { this.#detach(); }

  // Deliver everything already in the inbox now (a Worker's 'exit');
  // returns how many messages that was.
  [kDrain]() {
    const st = this[kState];
    if (st.closed || st.detached) return 0;
    let n = 0;
    for (let rec; (rec = this.#readOrFail()) != null; n++) this.#dispatch(rec);
    return n;
  }

  // Read one message now (receiveMessageOnPort): { message } or undefined.
  [kReceive]() {
    const st = this[kState];
    if (st.closed || st.detached) return undefined;
    const rec = this.#readOrFail();
    if (rec == null) return undefined;
    this.#roomMade();
    return { message: this.#decode(rec) };
  }

  postMessage(value, transferList) {
    if (arguments.length === 0) throw nativeTypeError('ERR_MISSING_ARGS', 'Not enough arguments to MessagePort.postMessage');
    const st = this[kState];
    let rec = null;
    let enc = null;
    if (transferList === undefined || transferList === null) {
      rec = encodeBytes(value, Math.min(BYTES_VIA_RING, st.outbox.maxMessage));
      if (rec === null) {
        enc = st.enc === null ? (st.enc = new Encoder()) : st.enc;
        const len = enc.encode(value, st.outbox.maxMessage);
        if (len !== -1) rec = enc;
      }
    } else if (typeof transferList === 'object' && !Array.isArray(transferList) &&
               transferList[Symbol.iterator] === undefined) {
      // postMessage(value, { transfer })
      transferList = transferList.transfer;
      if (transferList === undefined) return this.postMessage(value);
      if (transferList === null || typeof transferList !== 'object' || typeof transferList[Symbol.iterator] !== 'function') {
        throw nativeTypeError('ERR_INVALID_ARG_TYPE', 'Optional options.transfer argument must be an iterable');
      }
    }
    if (rec === null) {
      if (st.closed || st.detached) {
        // Node still validates and detaches what is transferred.
        this.#sendSide(value, transferList, true);
        return;
      }
      this.#sendSide(value, transferList, false);
      rec = 'n';
    }
    if (st.closed || st.detached || st.closePending) {
      if (enc !== null) enc.rollback();
      return;
    }
    if (!this.#send(rec)) {
      // Bytes that do not fit now: rather than copy them into the backlog
      // and from there into the ring, let Node's clone take them (one copy)
      // and keep their place in the ring with an 'n'.
      this.#sendSide(value, undefined, false);
      this.#send('n');
    }
    // In the ring or the backlog: the shapes the record defines are sent.
    if (enc !== null) enc.commit();
  }

  // Post through Node's side channel. Our ports in the transfer list leave
  // with it: they stop reading first and are detached once Node took them.
  #sendSide(value, transferList, discard) {
    const st = this[kState];
    let nodeList = transferList;
    let ours = null;
    if (transferList !== undefined && transferList !== null &&
        typeof transferList === 'object' && typeof transferList[Symbol.iterator] === 'function') {
      ({ ours, nodeList } = mapTransferList(transferList, this));
    }
    const v = substitutePorts(value, ours || new Map());
    // t: the ports of the transfer list, in order, for the receiver's
    // MessageEvent.ports (Node's as they are, ours as their side ports).
    let t;
    if (Array.isArray(nodeList)) {
      for (const item of nodeList) {
        if (item instanceof NodeMessagePort) (t || (t = [])).push(item);
      }
    }
    let msg;
    if (ours !== null && ours.size !== 0) {
      const p = [];
      for (const [port, node] of ours) p.push({ ...describePort(port), node });
      msg = { v, p, t };
      for (const port of ours.keys()) port.#suspend();
    } else {
      msg = { v, p: undefined, t };
    }
    // Closed ports post into a throwaway port, so errors and detaching
    // happen as in Node but nothing is delivered.
    const target = discard ? new nodeWT.MessageChannel().port1 : st.node;
    try {
      // Node's own postMessage: our ports in it are already mapped.
      nodePost.call(target, msg, nodeList);
    } catch (err) {
      if (ours !== null) for (const port of ours.keys()) port.#resume();
      throw err;
    } finally {
      if (discard) target.close();
    }
    if (ours !== null) for (const port of ours.keys()) port.#detach();
  }

  // Write a record to the ring, or to the backlog when the ring is full.
  // Bytes that do not go straight into the ring are left to the caller
  // (false): it sends them through Node's clone instead of copying them
  // twice on our side.
  #send(rec) {
    const st = this[kState];
    st.active = true;
    if (st.ctl[C_CLOSED + 1 - st.side] !== 0) return true; // peer gone (a hint: see close)
    if (st.backlog.length === 0) {
      let ok;
      try {
        ok = rec instanceof Encoder ? st.outbox.tryWriteEncoded(rec) : st.outbox.tryWrite(rec);
      } catch (err) {
        if (isCorrupt(err)) this.#fail(err);
        return true; // the ring was closed under us, or broken: the peer is gone
      }
      if (ok) { this.#wakePeer(); return true; }
    }
    if (typeof rec !== 'string' && !(rec instanceof Encoder)) return false;
    // The backlog keeps copies: clone takes the value as it is now.
    const q = st.backlog;
    const first = q.length === 0;
    if (rec instanceof Encoder) {
      const last = q.length === 0 ? null : q[q.length - 1];
      if (!(last instanceof Spill) || !last.add(rec)) {
        const spill = new Spill(rec.pos);
        spill.add(rec);
        q.push(spill);
      }
    } else {
      q.push(rec);
    }
    // With a backlog already waiting, WANT is set or the reader has rung
    // us: our bell will flush. Trying now and then still keeps the reader
    // fed while a long synchronous loop of posts holds our thread.
    if (first && !nodeWT.isMainThread) holdAtExit(this);
    if (first || (++st.bqPosts & 63) === 0) {
      Atomics.store(st.ctl, C_WANT + 1 - st.side, 1);
      // The reader may have drained everything before it saw WANT.
      this.#flush();
    }
    return true;
  }

  // The thread is ending (its 'exit'): hand the backlog to the ring as the
  // reader makes room, giving up only when it makes none for
  // EXIT_DRAIN_MS (it is gone, or not reading).
  [kDrainAtExit]() {
    const st = this[kState];
    let since = performance.now();
    while (st.backlog.length !== 0 && !st.closed && !st.detached && st.ctl[C_CLOSED + 1 - st.side] === 0) {
      // Progress is what went into the ring (a spill may go in part).
      const at = st.outbox.wpos;
      this.#flush();
      if (st.outbox.wpos !== at) since = performance.now();
      else if (performance.now() - since > EXIT_DRAIN_MS) return;
      if (st.backlog.length !== 0) Atomics.wait(exitNap, 0, 0, 1);
    }
  }

  #flush() {
    const st = this[kState];
    const q = st.backlog;
    const h0 = st.bqHead;
    let h = h0;
    try {
      while (h < q.length && this.#flushOne(q[h])) q[h++] = undefined;
    } catch (err) {
      if (isCorrupt(err)) {
        this.#fail(err);
        return;
      }
      h = q.length; // the ring was closed under us
    }
    if (h === q.length) {
      q.length = 0;
      h = 0;
    } else if (h > 1024 && h * 2 > q.length) {
      q.splice(0, h); // drop the written head now and then, not per flush
      h = 0;
    }
    st.bqHead = h;
    if (h !== h0 || q.length === 0) this.#wakePeer();
    if (q.length === 0) {
      heldAtExit.delete(this);
      Atomics.store(st.ctl, C_WANT + 1 - st.side, 0);
      if (st.closePending) { st.closePending = false; this.close(); }
    } else {
      Atomics.store(st.ctl, C_WANT + 1 - st.side, 1);
      // Room may have been made between our last try and WANT: look again.
      if (this.#flushOne(q[h])) {
        q[h] = undefined;
        st.bqHead = h + 1;
        if (st.bqHead === q.length) { q.length = 0; st.bqHead = 0; }
        this.#wakePeer();
        this.#flush();
      }
    }
  }

  // Hand one backlog item to the outbox; true when all of it went.
  #flushOne(item) {
    const lane = this[kState].outbox;
    return item instanceof Spill ? item.drainInto(lane) : lane.tryWrite(item);
  }

  #wakePeer() {
    const ctl = this[kState].ctl;
    const peer = 1 - this[kState].side;
    // A plain read: the publishing Atomics.store just before is the fence
    // that orders it after the record, and the exchange decides.
    if (ctl[C_ASLEEP + peer] !== 0 && Atomics.exchange(ctl, C_ASLEEP + peer, 0) !== 0) {
      binding.bellRing(Atomics.load(ctl, C_BELL + peer));
    }
  }

  // Stop reading while this port is handed to Node for transfer.
  #suspend() {
    this.#closeBell();
  }

  #resume() {
    this.#openBell();
  }

  #detach() {
    const st = this[kState];
    st.detached = true;
    // Its rings are now another thread's too: they are never recycled.
    this.#forgetPair();
    Atomics.store(st.ctl, C_MOVED + st.side, 1);
    st.backlog.length = 0;
    heldAtExit.delete(this);
    st.bqHead = 0;
    // As Node's: the object a port was transferred away from closes.
    this.#emitClose();
  }

  start() {
    const st = this[kState];
    if (st.closed || st.detached || st.started) return;
    st.started = true;
    if (st.bell !== 0) binding.bellRing(st.bell);
  }


  ref() {
    const st = this[kState];
    st.refed = true;
    if (st.bell !== 0) binding.bellRef(st.bell, true);
    return this;
  }

  unref() {
    const st = this[kState];
    st.refed = false;
    if (st.bell !== 0) binding.bellRef(st.bell, false);
    return this;
  }

  hasRef() {
    return this[kState].refed && !this[kState].closed && !this[kState].detached;
  }

  close(callback) {
    const st = this[kState];
    if (typeof callback === 'function') this.once('close', callback);
    if (st.closed || st.detached || st.closePending) return;
    // Closed from a listener: the rest of the messages being dispatched
    // still come, as from Node's ports.
    if (st.dispatching) st.finishBatch = true;
    if (st.backlog.length !== 0) this.#flush();
    if (st.backlog.length !== 0) {
      // Messages posted before close() are still delivered: stop reading,
      // keep the loop alive, and close once the backlog is in the ring.
      st.closePending = true;
      st.started = false;
      if (st.bell !== 0) binding.bellRef(st.bell, true);
      return;
    }
    st.closed = true;
    this.#leavePair();
    Atomics.store(st.ctl, C_CLOSED + st.side, 1);
    this.#closeBell();
    // The side port too: an open Node port is never collected, and with it
    // this port and its rings. What it sent stays readable on the other end
    // until read there (Node holds the other end's close behind them).
    try { st.node.close(); } catch { /* already closed */ }
    // Wake the peer so that it drains what we sent and then sees the close
    // — on a later turn of the loop, and only if it turns again, as a
    // Node port's peer hears of the close.
    const peer = 1 - st.side;
    const ringPeer = () => {
      Atomics.store(st.ctl, C_ASLEEP + peer, 0);
      binding.bellRing(Atomics.load(st.ctl, C_BELL + peer));
    };
    this.#emitClose(() => setImmediate(ringPeer).unref());
  }

  #sideClosed() {
    const st = this[kState];
    if (st.closed || st.detached) return;
    // Deliver what the peer sent, then close as if it had closed.
    Atomics.store(st.ctl, C_CLOSED + 1 - st.side, 1);
    if (st.bell !== 0) binding.bellRing(st.bell);
  }

  // The peer closed and everything it sent was delivered.
  #peerClosed() {
    const st = this[kState];
    if (st.closed) return;
    st.closed = true;
    this.#leavePair();
    Atomics.store(st.ctl, C_CLOSED + st.side, 1);
    this.#closeBell();
    try { st.node.close(); } catch { /* already closed */ }
    this.#emitClose();
  }

  // This port is closed. Once both ports of a MessageChannel are closed
  // and neither ever left this thread, no one reads or writes its rings
  // again: a later channel takes them over, after the turn of the loop in
  // which the last one closed (a listener that closed both ports still has
  // the rest of its batch delivered).
  #leavePair() {
    const st = this[kState];
    const pair = st.pair;
    if (pair === null) return;
    st.pair = null;
    if (--pair.open !== 0) return;
    setImmediate(() => recycleChannelMemory(pair.mem, pair.capacity)).unref();
  }

  // This channel's rings must not be reused (see #leavePair).
  #forgetPair() {
    const st = this[kState];
    if (st.pair !== null) st.pair.open = -1;
    st.pair = null;
  }

  // Used by a Worker when its thread has exited.
  [kCloseLocal]() {
    const st = this[kState];
    if (st.closed || st.detached) return;
    st.closed = true;
    this.#leavePair();
    Atomics.store(st.ctl, C_CLOSED + st.side, 1);
    Atomics.store(st.ctl, C_CLOSED + 1 - st.side, 1);
    st.backlog.length = 0;
    heldAtExit.delete(this);
    st.bqHead = 0;
    this.#closeBell();
    try { st.node.close(); } catch { /* already closed */ }
  }

  // Emit 'close' once, after what is being dispatched now, as Node's ports
  // do; then run `after`, if given.
  #emitClose(after) {
    const st = this[kState];
    if (st.closeEmitted || st.target !== this) {
      if (after !== undefined) after();
      return;
    }
    st.closeEmitted = true;
    setImmediate(() => {
      this.emit('close');
      if (after !== undefined) after();
    });
  }

  // onmessage / onmessageerror: EventTarget handlers, as Node's.
  get onmessage() { return this[kState].handlers.message; }

  set onmessage(fn) { this.#setHandler('message', fn); }

  get onmessageerror() { return this[kState].handlers.messageerror; }

  set onmessageerror(fn) { this.#setHandler('messageerror', fn); }

  #setHandler(type, fn) {
    const st = this[kState];
    if (st.handlerFns[type] !== null) this.removeEventListener(type, st.handlerFns[type]);
    st.handlers[type] = typeof fn === 'function' || (fn !== null && typeof fn === 'object') ? fn : null;
    st.handlerFns[type] = null;
    if (typeof fn === 'function') {
      const call = (ev) => fn.call(this, ev);
      st.handlerFns[type] = call;
      this.addEventListener(type, call);
    }
  }
}

class MessageChannel {
  constructor(capacity = CHANNEL_CAPACITY) {
    const mem = newChannelMemory(capacity);
    const { ctlSab, r0, r1 } = mem;
    const node = new nodeWT.MessageChannel();
    const pair = { mem, capacity, open: 2 };
    this.port1 = new MessagePort(kCreate, { ctlSab, r0, r1, side: 0, node: node.port1, pair });
    this.port2 = new MessagePort(kCreate, { ctlSab, r0, r1, side: 1, node: node.port2, pair });
  }
}

function receiveMessageOnPort(port) {
  if (isOurPort(port)) return port[kReceive]();
  if (port instanceof NodeMessagePort) return nodeReceive(port);
  // Node's own wording here, not its usual ERR_INVALID_ARG_TYPE form.
  throw makeNodeError(TypeError, 'ERR_INVALID_ARG_TYPE', 'The "port" argument must be a MessagePort instance');
}

module.exports = {
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
};
