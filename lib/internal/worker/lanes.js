'use strict';

// The two rings of a worker_threads channel, one per direction, and what
// goes into them. Each ring is single-producer single-consumer
// (ring_view.js); a port writes its outbox and reads its inbox from one
// thread. Records:
//
//   'v' + value  plain data (objects, arrays, strings, numbers, Dates, ...)
//                in the binary form of wire.js, which gives what
//                structured clone gives for those values.
//   'b' + bytes  a TypedArray, DataView or ArrayBuffer (not shared, not
//                resizable, not transferred): a small header, then every
//                byte of its ArrayBuffer, as structured clone copies them.
//   'n'          "the next message waits on the side channel" (port.js).
//
// The rings of a channel never use the futex words (the doorbells do the
// waking), so lanes neither sleep nor wake.

const binding = require('../binding');
const { Decoder, TAG_VALUE, SMALL_RECORD } = require('../wire');
const { RingView, roundCapacity, copyBytes, copyWords, EMPTY, CORRUPT } = require('../ring_view');
const { codes: { ERR_RING_CORRUPT } } = require('../errors');

// What a lane throws when the other thread made its ring impossible; port.js
// turns it into an error event on that port (or Worker), never a crash.
const kCorrupt = Symbol('kCorrupt');
function corrupt(detail) {
  const err = ERR_RING_CORRUPT(detail);
  err[kCorrupt] = true;
  return err;
}

const TAG_BYTES = 0x62; // 'b'
const TAG_NODE = 0x6e; // 'n'

const ALIGN = binding.RING_ALIGN;
const HEADER_SIZE = binding.RING_HEADER_SIZE;

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
const T_DATAVIEW = 12;
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
    length = type === T_DATAVIEW ? value.byteLength : value.length;
  } else {
    return null;
  }
  if (ab.resizable || ab.byteLength + BYTES_HEADER > maxRecord) return null;
  if (ab.byteLength === 0 && binding.isDetached(ab)) return null;
  return { type, offset, length, ab };
}

// Write the byte record of a descriptor from encodeBytes at `at` of `out`.
function writeBytesRecord(out, at, d, shared) {
  out[at] = TAG_BYTES;
  out[at + 1] = d.type;
  out[at + 2] = 0;
  out[at + 3] = 0;
  out.writeUInt32LE(d.offset, at + 4);
  out.writeUInt32LE(d.length, at + 8);
  copyBytes(out, at + BYTES_HEADER, new Uint8Array(d.ab), 0, d.ab.byteLength, shared);
}

// The value of a byte record at buf[at, at + len): one copy, into the new
// ArrayBuffer.
function decodeBytes(buf, at, len, shared) {
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
  copyBytes(new Uint8Array(ab), 0, buf, at + BYTES_HEADER, n, shared);
  if (type === 0) return ab;
  return new VIEW_TYPES[type](ab, offset, length);
}

// ---- the memory of a channel -------------------------------------------------

// Control block: Int32Array words, indexed by side (0 or 1). The inbox of
// side s is ring s; side 1 - s writes it.
const C_BELL = 0; // + s: bell id of the port reading side s's inbox (0: none)
const C_ASLEEP = 2; // + s: 1 while that reader waits for its bell
const C_WANT = 4; // + s: 1 while the writer into s's inbox has a backlog
const C_CLOSED = 6; // + s: 1 once side s's port is closed
const C_MOVED = 8; // + s: 1 once side s's port was transferred to another thread
const CTL_BYTES = 64;

// A ring in a SharedArrayBuffer of its own: { sab, base }.
function newRing(capacity) {
  const cap = roundCapacity(capacity);
  const sab = new SharedArrayBuffer(ALIGN + HEADER_SIZE + cap);
  return { sab, base: binding.ringInit(new Uint8Array(sab), cap, 0) };
}

// The shared memory of a new channel: a new control block and two rings,
// new or given back by a channel that is over (recycleChannelMemory).
function newChannelMemory(capacity) {
  const cap = roundCapacity(capacity);
  const pool = spare.get(cap);
  if (pool !== undefined && pool.length !== 0) {
    const { r0, r1 } = pool.pop();
    binding.ringInit(new Uint8Array(r0), cap, 0);
    binding.ringInit(new Uint8Array(r1), cap, 0);
    return { ctlSab: new SharedArrayBuffer(CTL_BYTES), r0, r1 };
  }
  return { ctlSab: new SharedArrayBuffer(CTL_BYTES), r0: newRing(cap).sab, r1: newRing(cap).sab };
}

// Rings of channels that are over, by capacity, for the next channels of
// this thread. A Worker's rings are large (two of WORKER_CAPACITY): freed
// and allocated again for every Worker, they leave the allocator's heap
// growing with memory it keeps resident (+150 MiB over 1000 Workers seen
// here). Reused, they cost nothing between two Workers: their pages go
// back to the kernel (bytesDiscard) and are zero again when touched.
const spare = new Map();
const SPARE_MAX = 8; // channels' rings kept per capacity

// Take back the rings of a channel made by newChannelMemory(capacity)
// whose ports are both closed and can no longer read or write them —
// unless one of them was transferred to another thread (C_MOVED): a port
// there may still read them.
function recycleChannelMemory(mem, capacity) {
  const ctl = new Int32Array(mem.ctlSab);
  if (Atomics.load(ctl, C_MOVED) !== 0 || Atomics.load(ctl, C_MOVED + 1) !== 0) return;
  const cap = roundCapacity(capacity);
  let pool = spare.get(cap);
  if (pool === undefined) spare.set(cap, pool = []);
  if (pool.length >= SPARE_MAX) return;
  binding.bytesDiscard(new Uint8Array(mem.r0));
  binding.bytesDiscard(new Uint8Array(mem.r1));
  pool.push({ r0: mem.r0, r1: mem.r1 });
}

// ---- a lane: one ring, seen by its writer or its reader -----------------------

class Lane extends RingView {
  // `sab`: a ring made by newRing (here or in another thread); `shapes`:
  // the wire shapes a reader knew before it moved threads.
  constructor(sab, shapes) {
    super(sab, binding.ringAttach(new Uint8Array(sab)));
    this.dec = new Decoder(shapes);
  }

  // Producer: append a string (as UTF-8) or the byte record of a
  // descriptor from encodeBytes. False when full (or larger than the ring:
  // the caller checks that first).
  tryWrite(rec) {
    const isStr = typeof rec === 'string';
    let len = isStr ? rec.length * 3 // an upper bound for strings
      : BYTES_HEADER + rec.ab.byteLength;
    if (len > this.maxMessage) {
      if (!isStr) return false;
      len = Buffer.byteLength(rec);
      if (len > this.maxMessage) return false;
    }
    const at = this.reserve(len);
    if (at < 0) {
      if (at === CORRUPT) throw corrupt('positions out of range');
      return false;
    }
    if (this.contiguous(at) >= len) {
      const p = this.payloadOffset(at);
      if (isStr) len = this.u8.utf8Write(rec, p, len);
      else writeBytesRecord(this.u8, p, rec, true);
    } else {
      const bytes = isStr ? Buffer.from(rec, 'utf8') : bytesRecord(rec);
      len = bytes.length;
      this.copyIn(at, 0, bytes, 0, len);
    }
    this.publish(at, len);
    return true;
  }

  // Producer: append the record an Encoder holds (wire.js). False when
  // full.
  tryWriteEncoded(enc) {
    return this.tryWriteFrom(enc.i32, enc.u8, 0, enc.pos);
  }

  // Producer: append the `len` bytes at `from` (4-aligned) of a buffer seen
  // as `srcI32` and `srcU8`. False when full.
  tryWriteFrom(srcI32, srcU8, from, len) {
    const at = this.reserve(len);
    if (at < 0) {
      if (at === CORRUPT) throw corrupt('positions out of range');
      return false;
    }
    if (len <= SMALL_RECORD && this.contiguous(at) >= len) {
      copyWords(this.i32, this.payloadOffset(at), srcI32, from, len);
    } else {
      this.copyIn(at, 0, srcU8, from, len);
    }
    this.publish(at, len);
    return true;
  }

  // Consumer: the next record, as a string when it is text (tag n), as
  // { value } or { error } already decoded when it is a value or bytes
  // (tags v and b), or null when the ring is empty.
  tryRead() {
    const len = this.peek();
    if (len === EMPTY) return null;
    if (len < 0) throw corrupt('positions or record length out of range');
    const at = this.readPos;
    let out;
    try {
      if (this.contiguous(at) >= len) {
        out = this.decode(this.u8, this.dv, this.payloadOffset(at), len);
      } else {
        const tmp = Buffer.allocUnsafe(len);
        this.copyOut(at, 0, tmp, 0, len);
        out = this.decode(tmp, new DataView(tmp.buffer, tmp.byteOffset, len), 0, len);
      }
    } catch (error) {
      out = { error };
    }
    this.advance(len);
    this.release();
    return out;
  }

  decode(buf, dv, at, len) {
    const tag = len === 0 ? 0 : buf[at];
    if (tag === TAG_VALUE) return { value: this.dec.decode(buf, dv, at, len) };
    if (tag === TAG_BYTES) return { value: decodeBytes(buf, at, len, true) };
    return buf.latin1Slice(at, at + len);
  }

  // Consumer: nothing published and unread.
  empty() {
    return !this.ready();
  }
}

// A standalone copy of a descriptor's record, for a record that wraps
// around the end of the ring.
function bytesRecord(d) {
  const rec = Buffer.allocUnsafe(BYTES_HEADER + d.ab.byteLength);
  writeBytesRecord(rec, 0, d, false);
  return rec;
}

module.exports = {
  Lane,
  kCorrupt,
  encodeBytes,
  newChannelMemory,
  recycleChannelMemory,
  TAG_NODE,
  BYTES_VIA_RING,
  C_BELL,
  C_ASLEEP,
  C_WANT,
  C_CLOSED,
  C_MOVED,
};
