'use strict';

// The channel under native-workers/worker_threads: MessageChannel and
// MessagePort on the project's rings.
//
// A channel is two single-producer single-consumer rings (lib/ring.js), one
// per direction, and a small control block, all in SharedArrayBuffers, plus
// a pair of Node MessagePorts used as a side channel. Each record in a ring
// is one message:
//
//   'v' + value  plain data (objects, arrays, strings, numbers, Dates, ...)
//                in the binary form of lib/internal/wire.js, which gives
//                what structured clone gives for those values.
//   'b' + bytes  a TypedArray, DataView or ArrayBuffer (not shared, not
//                resizable, not transferred): a small header, then every byte
//                of its ArrayBuffer, as structured clone copies them.
//   'n'          "the next message waits on the side channel": everything
//                else (transferList, SharedArrayBuffers, Maps, Dates, errors,
//                host objects, and messages too large for the ring) goes
//                through Node's own postMessage on the side port, and the
//                reader takes it with receiveMessageOnPort when it reaches
//                the 'n'. Order is the ring's order either way.
//
// Wakeups: the reader of a ring publishes the id of its doorbell
// (src/napi/worker.c) and sets its ASLEEP word before it stops reading; a
// writer that finds ASLEEP set takes it (Atomics.exchange) and rings the
// bell, which is one uv_async_send to the reader's loop. A writer that finds
// the reader awake makes no system call. When a ring is full the writer
// keeps a backlog, sets WANT, and the reader rings the writer's bell once it
// has made room.

const EventEmitter = require('events');
const { performance } = require('perf_hooks');
const nodeWT = require('worker_threads');
const binding = require('./binding');
const { Encoder, Decoder, TAG_VALUE, SMALL_RECORD, copyWords } = require('./wire');
const { RingBuffer } = require('../ring');
const {
  codes: {
    ERR_INVALID_ARG_TYPE,
    ERR_MISSING_ARGS,
    ERR_MISSING_TRANSFERABLE_IN_TRANSFER_LIST,
    ERR_CONSTRUCT_CALL_INVALID,
  },
} = require('./errors');

const NodeMessagePort = nodeWT.MessagePort;
const nodeReceive = nodeWT.receiveMessageOnPort;

// Control block: Int32Array words, indexed by side (0 or 1). The inbox of
// side s is rings[s]; side 1 - s writes it.
const C_BELL = 0; // + s: bell id of the port reading side s's inbox (0: none)
const C_ASLEEP = 2; // + s: 1 while that reader waits for its bell
const C_WANT = 4; // + s: 1 while the writer into s's inbox has a backlog
const C_CLOSED = 6; // + s: 1 once side s's port is closed
const CTL_BYTES = 64;

// Ring header words (src/core/ring.h), to see whether an inbox is empty
// without consuming from it.
const W_PROD_TAIL = 17;
const W_CONS_HEAD = 32;

// Messages one call from the bell may dispatch; and what runs the nextTick
// queue and microtasks between them (Node's own, as its timers use it).
const BATCH = 64;
const runNextTicks = typeof process._tickCallback === 'function' ? process._tickCallback : undefined;

// How long a reader watches an empty inbox after traffic (#spinRead), ms.
const SPIN_MS = 0.05;

const CHANNEL_CAPACITY = 256 * 1024;
const WORKER_CAPACITY = 1024 * 1024;

const TAG_BYTES = 0x62; // 'b'
const TAG_NODE = 0x6e; // 'n'

const kCreate = Symbol('kCreate');
const kSuspend = Symbol('kSuspend');
const kResume = Symbol('kResume');
const kDetach = Symbol('kDetach');
const kDrain = Symbol('kDrain');
const kReceive = Symbol('kReceive');
const kCloseLocal = Symbol('kCloseLocal');
const kAttach = Symbol('kAttach');

// ---- byte messages -------------------------------------------------------

const getProto = Object.getPrototypeOf;

// Views clone as a copy of their whole ArrayBuffer; the header keeps what
// the receiver needs to rebuild the same view. Node's postMessage gives a
// plain Uint8Array for a Buffer, and so does this.
const VIEW_TYPES = [
  null, Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array,
  Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array,
  BigUint64Array, DataView,
];
const BYTES_HEADER = 12; // tag, type, 2 pad, u32 byteOffset, u32 length
// Byte messages larger than this go through Node's clone, which copies
// them once on each side as the ring does, but without streaming them
// through the ring's shared memory: measured faster here from ~32 KiB on.
const BYTES_VIA_RING = 32 * 1024 + BYTES_HEADER;

function viewType(v) {
  if (v instanceof Uint8Array) return getProto(v) === Uint8Array.prototype || Buffer.isBuffer(v) ? 2 : 0;
  for (let i = 1; i < VIEW_TYPES.length; i++) {
    if (getProto(v) === VIEW_TYPES[i].prototype) return i;
  }
  return 0;
}

// A record for a lone view or ArrayBuffer, or null when clone would do
// something else (shared or resizable memory, subclasses, detached).
function encodeBytes(value, maxRecord) {
  let ab;
  let type;
  let offset = 0;
  let length = 0;
  if (value instanceof ArrayBuffer) {
    if (getProto(value) !== ArrayBuffer.prototype) return null;
    ab = value;
    type = 0;
  } else if (ArrayBuffer.isView(value)) {
    type = viewType(value);
    if (type === 0) return null;
    ab = value.buffer;
    if (!(ab instanceof ArrayBuffer)) return null;
    offset = value.byteOffset;
    length = type === 12 ? value.byteLength : value.length;
  } else {
    return null;
  }
  if (ab.resizable || ab.byteLength + BYTES_HEADER > maxRecord) return null;
  if (ab.byteLength === 0 && binding.isDetached(ab)) return null;
  return { type, offset, length, ab };
}

// Copy `len` bytes between views or ArrayBuffers. V8 copies into and out
// of shared memory (the rings) with relaxed atomic moves, several times
// slower than memcpy: past a few hundred bytes the addon's memcpy wins.
const NATIVE_COPY = 256;
function copyBytes(dst, dstOffset, src, srcOffset, len) {
  if (len >= NATIVE_COPY) {
    binding.bytesCopy(dst, dstOffset, src, srcOffset, len);
  } else if (len !== 0) {
    const d = dst instanceof ArrayBuffer ? new Uint8Array(dst) : dst;
    const s = src instanceof ArrayBuffer ? new Uint8Array(src, srcOffset, len)
      : src.subarray(srcOffset, srcOffset + len);
    d.set(s, dstOffset);
  }
}

// Write the byte record of a descriptor from encodeBytes at `at` of `out`.
function writeBytesRecord(out, at, d) {
  out[at] = TAG_BYTES;
  out[at + 1] = d.type;
  out[at + 2] = 0;
  out[at + 3] = 0;
  out.writeUInt32LE(d.offset, at + 4);
  out.writeUInt32LE(d.length, at + 8);
  copyBytes(out, at + BYTES_HEADER, d.ab, 0, d.ab.byteLength);
}

// A standalone copy of a descriptor's record, for a record that wraps
// around the end of the ring.
function bytesRecord(d) {
  const rec = Buffer.allocUnsafe(BYTES_HEADER + d.ab.byteLength);
  writeBytesRecord(rec, 0, d);
  return rec;
}

// The value of a byte record at buf[at, at + len): one copy, into the new
// ArrayBuffer.
function decodeBytes(buf, at, len) {
  const type = buf[at + 1];
  const offset = buf.readUInt32LE(at + 4);
  const length = buf.readUInt32LE(at + 8);
  const n = len - BYTES_HEADER;
  // Past Buffer's pool size a Buffer has an ArrayBuffer of its own, of
  // exactly that length, and is not zero-filled first (it is overwritten
  // here at once).
  let ab;
  if (n >= (Buffer.poolSize >>> 1)) {
    const b = Buffer.allocUnsafe(n);
    ab = b.byteOffset === 0 && b.buffer.byteLength === n ? b.buffer : new ArrayBuffer(n);
  } else {
    ab = new ArrayBuffer(n);
  }
  copyBytes(ab, 0, buf, at + BYTES_HEADER, n);
  if (type === 0) return ab;
  return new VIEW_TYPES[type](ab, offset, length);
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
    if (v instanceof MessagePort) {
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
    if (item instanceof MessagePort) {
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
    ctl: st.ctlSab, r0: st.rings[0].buffer, r1: st.rings[1].buffer, side: st.side,
    shapes: st.inbox.dec.exportShapes(),
  };
}


// ---- the rings, for one port ----------------------------------------------

// A single-producer single-consumer view of a ring made by lib/ring.js,
// running the protocol of src/core/ring.h directly on the shared memory: a
// string record is encoded straight into the ring and decoded straight out
// of it, with no intermediate Buffer. The rings of a channel never use the
// futex words (the doorbells do the waking), so this view neither sleeps nor
// wakes; a port writes its outbox and reads its inbox from one thread.
const W_PROD_HEAD = 16;
const W_CONS_TAIL = 33;
const SKIP_BIT = 0x80000000;

function recordSize(len) {
  return 4 + ((len + 3) & ~3);
}

// Part of a backlog: encoded records copied one after another into one
// buffer (u32 length, then the bytes, padded to 4), so that a writer that
// runs ahead of its reader pays a copy of words per message, not an
// allocation.
const SPILL_SIZE = 64 * 1024;

class Spill {
  constructor(size) {
    const ab = new ArrayBuffer(size);
    this.u8 = new Uint8Array(ab);
    this.i32 = new Int32Array(ab);
    this.end = 0; // bytes filled
    this.at = 0; // next record to hand on
  }

  // Append the record an Encoder holds; false when it does not fit.
  add(enc) {
    const len = enc.pos;
    const room = recordSize(len);
    if (this.end + room > this.u8.length) return false;
    this.i32[this.end >> 2] = len;
    if (len <= SMALL_RECORD) {
      copyWords(this.i32, this.end + 4, enc.i32, 0, len);
    } else {
      this.u8.set(enc.u8.subarray(0, len), this.end + 4);
    }
    this.end += room;
    return true;
  }

  // Move records into the lane while they fit; true once all are out.
  drainInto(lane) {
    while (this.at < this.end) {
      const len = this.i32[this.at >> 2];
      if (!lane.tryWriteFrom(this.i32, this.u8, this.at + 4, len)) return false;
      this.at += recordSize(len);
    }
    return true;
  }
}

class Lane {
  constructor(ring, shapes) {
    const sab = ring.buffer;
    this.buffer = sab;
    this.buf = Buffer.from(sab);
    this.dv = new DataView(sab);
    this.dec = new Decoder(shapes);
    this.i32 = new Int32Array(sab, 0, sab.byteLength >> 2);
    const base = binding.ringAttach(new Uint8Array(sab));
    this.h = base >> 2;
    this.data = base + binding.RING_HEADER_SIZE;
    this.cap = ring.capacity;
    this.mask = this.cap - 1;
    this.maxMessageSize = this.cap - 4;
    this.cachedCons = Atomics.load(this.i32, this.h + W_CONS_TAIL);
    this.cachedProd = Atomics.load(this.i32, this.h + W_PROD_TAIL);
  }

  // Producer: append a string (as UTF-8) or the byte record of a
  // descriptor from encodeBytes. False when full (or larger than the ring:
  // the caller checks that first).
  tryWrite(rec) {
    const isStr = typeof rec === 'string';
    let len = isStr ? rec.length * 3 // an upper bound for strings
      : BYTES_HEADER + rec.ab.byteLength;
    if (len > this.maxMessageSize) {
      if (!isStr) return false;
      len = Buffer.byteLength(rec);
      if (len > this.maxMessageSize) return false;
    }
    const head = this.reserve(len);
    if (head === -1) return false;
    const o = (head + 4) & this.mask;
    const at = this.data + o;
    const first = this.cap - o;
    if (len <= first) {
      if (isStr) len = this.buf.utf8Write(rec, at, len);
      else writeBytesRecord(this.buf, at, rec);
    } else {
      const bytes = isStr ? Buffer.from(rec, 'utf8') : bytesRecord(rec);
      len = bytes.length;
      if (len <= first) {
        copyBytes(this.buf, at, bytes, 0, len);
      } else {
        copyBytes(this.buf, at, bytes, 0, first);
        copyBytes(this.buf, this.data, bytes, first, len - first);
      }
    }
    this.publish(head, len);
    return true;
  }

  // Producer: the position for a record of `len` bytes, or -1 when the
  // ring has no room for it now (positions are multiples of 4).
  reserve(len) {
    const i32 = this.i32;
    const head = i32[this.h + W_PROD_HEAD];
    const limit = this.cap - recordSize(len);
    if (((head - this.cachedCons) >>> 0) > limit) {
      this.cachedCons = Atomics.load(i32, this.h + W_CONS_TAIL);
      if (((head - this.cachedCons) >>> 0) > limit) return -1;
    }
    return head;
  }

  // Producer: make the record of `len` bytes written at `head` visible.
  publish(head, len) {
    const i32 = this.i32;
    i32[(this.data + (head & this.mask)) >> 2] = len;
    const next = (head + recordSize(len)) | 0;
    i32[this.h + W_PROD_HEAD] = next;
    Atomics.store(i32, this.h + W_PROD_TAIL, next);
  }

  // Producer: append the record an Encoder holds (wire.js). False when
  // full.
  tryWriteEncoded(enc) {
    return this.tryWriteFrom(enc.i32, enc.u8, 0, enc.pos);
  }

  // Producer: append the `len` bytes at `from` (4-aligned) of a buffer seen
  // as `srcI32` and `srcU8`. False when full.
  tryWriteFrom(srcI32, srcU8, from, len) {
    const head = this.reserve(len);
    if (head === -1) return false;
    const o = (head + 4) & this.mask;
    const at = this.data + o;
    const first = this.cap - o;
    if (len <= first) {
      if (len <= SMALL_RECORD) {
        copyWords(this.i32, at, srcI32, from, len);
      } else {
        copyBytes(this.buf, at, srcU8, from, len);
      }
    } else {
      copyBytes(this.buf, at, srcU8, from, first);
      copyBytes(this.buf, this.data, srcU8, from + first, len - first);
    }
    this.publish(head, len);
    return true;
  }

  // Consumer: the next record, as a string when it is text (tag n), as
  // { value } or { error } already decoded when it is a value or bytes
  // (tags v and b), or null when the ring is empty.
  tryRead() {
    const i32 = this.i32;
    const h = this.h;
    const cap = this.cap;
    for (;;) {
      const cons = i32[h + W_CONS_HEAD];
      let avail = (this.cachedProd - cons) >>> 0;
      if (avail === 0 || avail > cap) {
        this.cachedProd = Atomics.load(i32, h + W_PROD_TAIL);
        avail = (this.cachedProd - cons) >>> 0;
        if (avail === 0) return null;
        if (avail > cap) throw new Error('ring positions out of range');
      }
      const word = i32[(this.data + (cons & this.mask)) >> 2];
      const len = word & 0x7fffffff;
      if (len > cap - 4 || recordSize(len) > avail) throw new Error('ring record out of range');
      const next = (cons + recordSize(len)) | 0;
      if ((word & SKIP_BIT) !== 0) { this.release(next); continue; }
      const o = (cons + 4) & this.mask;
      const at = this.data + o;
      const first = cap - o;
      let out;
      try {
        if (len <= first) {
          out = this.decode(this.buf, this.dv, at, len);
        } else {
          const tmp = Buffer.allocUnsafe(len);
          copyBytes(tmp, 0, this.buf, at, first);
          copyBytes(tmp, first, this.buf, this.data, len - first);
          out = this.decode(tmp, new DataView(tmp.buffer, tmp.byteOffset, len), 0, len);
        }
      } catch (error) {
        out = { error };
      }
      this.release(next);
      return out;
    }
  }

  decode(buf, dv, at, len) {
    const tag = len === 0 ? 0 : buf[at];
    if (tag === TAG_VALUE) return { value: this.dec.decode(buf, dv, at, len) };
    if (tag === TAG_BYTES) return { value: decodeBytes(buf, at, len) };
    return buf.latin1Slice(at, at + len);
  }

  // Bytes published and not yet consumed.
  used() {
    return (Atomics.load(this.i32, this.h + W_PROD_TAIL) - this.i32[this.h + W_CONS_HEAD]) >>> 0;
  }

  // Whether a record may be waiting (a cheap look, for spinning).
  ready() {
    return Atomics.load(this.i32, this.h + W_PROD_TAIL) !== this.i32[this.h + W_CONS_HEAD];
  }

  release(next) {
    this.i32[this.h + W_CONS_HEAD] = next;
    Atomics.store(this.i32, this.h + W_CONS_TAIL, next);
  }
}

// ---- MessagePort ----------------------------------------------------------

const kState = Symbol('kState');

function newChannelMemory(capacity) {
  const ctlSab = new SharedArrayBuffer(CTL_BYTES);
  const r0 = new RingBuffer(capacity);
  const r1 = new RingBuffer(capacity);
  return { ctlSab, r0, r1 };
}

class MessagePort extends EventEmitter {
  constructor(token, init) {
    if (token !== kCreate && token !== kAttach) throw ERR_CONSTRUCT_CALL_INVALID();
    super();
    const rings = token === kCreate
      ? [init.r0, init.r1]
      : [RingBuffer.from(init.r0), RingBuffer.from(init.r1)];
    const st = {
      ctlSab: init.ctlSab,
      ctl: new Int32Array(init.ctlSab),
      rings,
      side: init.side,
      inbox: new Lane(rings[init.side], init.shapes),
      inWords: undefined,
      inBase: 0,
      outbox: new Lane(rings[1 - init.side]),
      active: false, // traffic since the reader last went to sleep
      enc: null, // shapes this port has defined in its outbox (wire.js)
      node: init.node, // the side-channel Node MessagePort
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
    };
    this[kState] = st;
    if (st.node !== undefined) {
      st.node.unref();
    }
    st.onBell = () => this.#onBell();
    this.#openBell();
    this.on('newListener', (name) => {
      if (name === 'message' || name === 'messageerror') {
        if (this[kState].target === this) { this.ref(); this.start(); }
      }
    });
    this.on('removeListener', (name) => {
      if ((name === 'message' || name === 'messageerror') && this[kState].target === this &&
          this.listenerCount('message') + this.listenerCount('messageerror') === 0) {
        this.#stop();
      }
    });
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
    const st = this[kState];
    if (st.closed || st.detached) return 0;
    if (st.backlog.length !== 0) this.#flush();
    const ctl = st.ctl;
    if (!st.started) {
      // Not reading yet, but a closed peer with nothing left to deliver
      // closes this end too, as in Node.
      if (Atomics.load(ctl, C_CLOSED + 1 - st.side) !== 0 && this.#inboxEmpty()) this.#peerClosed();
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
    this.#roomMade();
    this.#dispatch(rec);
    // More messages in this call, with what the last listener queued run in
    // between, exactly as between two calls from the event loop (nextTick
    // callbacks, then microtasks): the same step Node's timers take between
    // two timers in one call. A call from C costs more than the message.
    let n = 1;
    if (runNextTicks !== undefined) {
      while (n < BATCH && st.inbox.ready()) {
        runNextTicks();
        if (st.closed || st.detached || !st.started) break;
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
  #spinRead() {
    const st = this[kState];
    if (!st.active) return null;
    const lane = st.inbox;
    const t0 = performance.now();
    do {
      for (let i = 0; i < 32; i++) {
        if (lane.ready()) return lane.tryRead();
      }
    } while (performance.now() - t0 < SPIN_MS);
    st.active = false;
    return null;
  }

  #inboxEmpty() {
    const st = this[kState];
    if (st.inWords === undefined) {
      const sab = st.inbox.buffer;
      st.inWords = new Int32Array(sab, 0, sab.byteLength >> 2);
      st.inBase = binding.ringAttach(new Uint8Array(sab)) >> 2;
    }
    return Atomics.load(st.inWords, st.inBase + W_PROD_TAIL) ===
      Atomics.load(st.inWords, st.inBase + W_CONS_HEAD);
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
    const { v, p } = got.message;
    if (p === undefined) return v;
    const map = new Map();
    for (let i = 0; i < p.length; i++) {
      const d = p[i];
      map.set(d.node, new MessagePort(kAttach, {
        ctlSab: d.ctl, r0: d.r0, r1: d.r1, side: d.side, node: d.node, shapes: d.shapes,
      }));
    }
    return restorePorts(v, map);
  }

  #dispatch(rec) {
    const st = this[kState];
    st.active = true;
    let value;
    try {
      value = this.#decode(rec);
    } catch (err) {
      st.target.emit('messageerror', err);
      return;
    }
    st.target.emit('message', value);
  }

  [kSuspend]() { this.#suspend(); }

  [kResume]() { this.#resume(); }

  [kDetach]() { this.#detach(); }

  // Deliver everything already in the inbox now (a Worker's 'exit').
  [kDrain]() {
    const st = this[kState];
    if (st.closed || st.detached) return;
    for (;;) {
      const rec = st.inbox.tryRead();
      if (rec === null) return;
      this.#dispatch(rec);
    }
  }

  // Read one message now (receiveMessageOnPort): { message } or undefined.
  [kReceive]() {
    const st = this[kState];
    if (st.closed || st.detached) return undefined;
    const rec = st.inbox.tryRead();
    if (rec === null) return undefined;
    this.#roomMade();
    return { message: this.#decode(rec) };
  }

  postMessage(value, transferList) {
    if (arguments.length === 0) throw ERR_MISSING_ARGS('value');
    const st = this[kState];
    let rec = null;
    let enc = null;
    if (transferList === undefined || transferList === null) {
      rec = encodeBytes(value, Math.min(BYTES_VIA_RING, st.outbox.maxMessageSize));
      if (rec === null) {
        enc = st.enc === null ? (st.enc = new Encoder()) : st.enc;
        const len = enc.encode(value, st.outbox.maxMessageSize);
        if (len !== -1) rec = enc;
      }
    } else if (typeof transferList === 'object' && !Array.isArray(transferList) &&
               transferList[Symbol.iterator] === undefined) {
      // postMessage(value, { transfer })
      transferList = transferList.transfer;
      if (transferList === undefined || transferList === null) return this.postMessage(value);
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
    let msg;
    if (ours !== null && ours.size !== 0) {
      const p = [];
      for (const [port, node] of ours) p.push({ ...describePort(port), node });
      msg = { v, p };
      for (const port of ours.keys()) port.#suspend();
    } else {
      msg = { v, p: undefined };
    }
    // Closed ports post into a throwaway port, so errors and detaching
    // happen as in Node but nothing is delivered.
    const target = discard ? new nodeWT.MessageChannel().port1 : st.node;
    try {
      target.postMessage(msg, nodeList);
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
      } catch {
        return true; // the ring was closed under us: the peer is gone
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
        const spill = new Spill(Math.max(SPILL_SIZE, recordSize(rec.pos)));
        spill.add(rec);
        q.push(spill);
      }
    } else {
      q.push(rec);
    }
    // With a backlog already waiting, WANT is set or the reader has rung
    // us: our bell will flush. Trying now and then still keeps the reader
    // fed while a long synchronous loop of posts holds our thread.
    if (first || (++st.bqPosts & 63) === 0) {
      Atomics.store(st.ctl, C_WANT + 1 - st.side, 1);
      // The reader may have drained everything before it saw WANT.
      this.#flush();
    }
    return true;
  }

  #flush() {
    const st = this[kState];
    const q = st.backlog;
    const h0 = st.bqHead;
    let h = h0;
    try {
      while (h < q.length && this.#flushOne(q[h])) q[h++] = undefined;
    } catch {
      h = q.length;
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
    st.backlog.length = 0;
    st.bqHead = 0;
  }

  start() {
    const st = this[kState];
    if (st.closed || st.detached || st.started) return;
    st.started = true;
    if (st.bell !== 0) binding.bellRing(st.bell);
  }

  #stop() {
    const st = this[kState];
    st.started = false;
    this.unref();
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

  close() {
    const st = this[kState];
    if (st.closed || st.detached || st.closePending) return;
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
    Atomics.store(st.ctl, C_CLOSED + st.side, 1);
    this.#closeBell();
    // Wake the peer so that it drains what we sent and then sees the close.
    const peer = 1 - st.side;
    Atomics.store(st.ctl, C_ASLEEP + peer, 0);
    binding.bellRing(Atomics.load(st.ctl, C_BELL + peer));
    this.#emitClose();
  }

  // The peer closed and everything it sent was delivered.
  #peerClosed() {
    const st = this[kState];
    if (st.closed) return;
    st.closed = true;
    Atomics.store(st.ctl, C_CLOSED + st.side, 1);
    this.#closeBell();
    try { st.node.close(); } catch { /* already closed */ }
    this.#emitClose();
  }

  // Used by a Worker when its thread has exited.
  [kCloseLocal]() {
    const st = this[kState];
    if (st.closed || st.detached) return;
    st.closed = true;
    Atomics.store(st.ctl, C_CLOSED + st.side, 1);
    Atomics.store(st.ctl, C_CLOSED + 1 - st.side, 1);
    st.backlog.length = 0;
    st.bqHead = 0;
    this.#closeBell();
    try { st.node.close(); } catch { /* already closed */ }
  }

  #emitClose() {
    const st = this[kState];
    if (st.closeEmitted || st.target !== this) return;
    st.closeEmitted = true;
    process.nextTick(() => this.emit('close'));
  }

  // EventTarget-style listeners receive a MessageEvent, as with Node's ports.
  addEventListener(type, listener, options) {
    if (typeof listener !== 'function' && !(listener && typeof listener.handleEvent === 'function')) return;
    const once = options !== null && typeof options === 'object' && options.once === true;
    const call = typeof listener === 'function' ? listener : listener.handleEvent.bind(listener);
    const wrapped = (data) => {
      const ev = (type === 'message' || type === 'messageerror')
        ? new MessageEvent(type, { data }) : new Event(type);
      call.call(this, ev);
    };
    wrapped.listener = listener;
    if (once) this.once(type, wrapped); else this.on(type, wrapped);
  }

  removeEventListener(type, listener) {
    for (const fn of this.rawListeners(type)) {
      const inner = fn.listener !== undefined && fn.listener.listener !== undefined ? fn.listener : fn;
      if (inner.listener === listener) { this.removeListener(type, inner); return; }
    }
  }

  set onmessage(fn) {
    if (this._onmessage) this.removeListener('message', this._onmessage);
    this._onmessage = null;
    if (typeof fn === 'function') {
      this._onmessage = (data) => fn.call(this, new MessageEvent('message', { data }));
      this.on('message', this._onmessage);
    }
  }

  get onmessage() { return this._onmessage ? this._onmessage : null; }
}

class MessageChannel {
  constructor(capacity = CHANNEL_CAPACITY) {
    const { ctlSab, r0, r1 } = newChannelMemory(capacity);
    const node = new nodeWT.MessageChannel();
    this.port1 = new MessagePort(kCreate, { ctlSab, r0, r1, side: 0, node: node.port1 });
    this.port2 = new MessagePort(kCreate, { ctlSab, r0, r1, side: 1, node: node.port2 });
  }
}

function isOurPort(v) {
  return v instanceof MessagePort;
}

function receiveMessageOnPort(port) {
  if (port instanceof MessagePort) return port[kReceive]();
  if (port instanceof NodeMessagePort) return nodeReceive(port);
  throw ERR_INVALID_ARG_TYPE('port', 'MessagePort', port);
}

module.exports = {
  MessagePort,
  MessageChannel,
  receiveMessageOnPort,
  isOurPort,
  newChannelMemory,
  substitutePorts,
  restorePorts,
  mapTransferList,
  describePort,
  kCreate,
  kAttach,
  kState,
  kSuspend,
  kResume,
  kDetach,
  kDrain,
  kCloseLocal,
  WORKER_CAPACITY,
};
