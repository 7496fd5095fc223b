'use strict';

// The one ring protocol in JavaScript: a view of one ring of
// src/core/ring.h, run with Atomics on the shared memory. RingBuffer
// (lib/ring.js), the fork channel (ipc/fork_channel.js) and the
// worker_threads lanes (worker/lanes.js) all read and write their rings
// through this class; none of them knows a header word index.
//
// A view neither sleeps nor wakes: each owner has its own way of waking a
// peer (the futex words, the fork channel's socket, a doorbell) and does it
// after publish() or release(). The word indices come from the addon
// (binding.RING_WORDS), so they cannot drift from the C header.
//
// Positions are free-running 32-bit counters, compared modulo 2^32
// (`(a - b) >>> 0`), so a ring keeps working after 2^32 bytes.
//
// Producer:  const at = view.reserve(len)   -> position, or -1 (no room)
//            ...copy the payload to view.payloadOffset(at) (view.copyIn)
//            view.publish(at, len)
// Consumer:  const len = view.peek()        -> payload length, -1 empty
//            ...read view.readPos's payload (view.copyOut, or in place)
//            view.advance(len)              local; then, per message or
//            view.release()                 per batch, hand the space back

const { Buffer } = require('buffer');
const { performance } = require('perf_hooks');
const binding = require('./binding');
const { SMALL_RECORD } = require('./wire');

const W = binding.RING_WORDS;
const W_CAPACITY = W.capacity;
const W_FLAGS = W.flags;
const W_CLOSED = W.closed;
const W_PROD_HEAD = W.prodHead;
const W_PROD_TAIL = W.prodTail;
const W_CONS_HEAD = W.consHead;
const W_CONS_TAIL = W.consTail;
const W_RD_WAITERS = W.rdWaiters;
const W_WR_WAITERS = W.wrWaiters;
const SKIP = W.skip;
const LEN_MASK = ~SKIP;
const F_MULTI_PRODUCER = W.multiProducer;
const F_MULTI_CONSUMER = W.multiConsumer;
const HEADER_SIZE = binding.RING_HEADER_SIZE;
const MIN_CAPACITY = binding.RING_MIN_CAPACITY;

// peek() results besides a length (and reserve()'s for corruption).
const EMPTY = -1;
const CORRUPT = -3;

// V8 copies into and out of a SharedArrayBuffer with relaxed atomic moves,
// several times slower than memcpy; below this many bytes that still beats
// a call into the addon (measured with benchmark/ring.js's copy table).
// Plain ArrayBuffers (the fork channel's mapping) copy with memcpy anyway.
const NATIVE_COPY = 512;

// Bytes a record of `len` payload bytes takes: a length word, the payload
// padded to 4.
function recordSize(len) {
  return 4 + ((len + 3) & ~3);
}

// Several writers (or readers) publish (or hand back) in reservation order:
// wait until header word `idx` reaches `at`. False when it never can: the
// distance is more than a ring holds (the header was overwritten), or it
// did not get there within a second (one before us died mid-message).
const TURN_MS = 1000;
function waitTurn(i32, idx, at, cap) {
  let spins = 0;
  let since = 0;
  for (;;) {
    const cur = Atomics.load(i32, idx);
    if (cur === (at | 0)) return true;
    if (((at - cur) >>> 0) > cap) return false;
    if (++spins === 1024) {
      spins = 0;
      binding.yieldThread();
      const now = performance.now();
      if (since === 0) since = now;
      else if (now - since > TURN_MS) return false;
    }
  }
}

// The capacity a ring is made with: a power of two, at least the minimum.
function roundCapacity(n) {
  let c = MIN_CAPACITY;
  while (c < n) c *= 2;
  return c;
}

// Copy src[srcOff, srcOff + len) to dst at dstOff. Both are Uint8Arrays
// (Buffers); `shared` says whether either side is shared memory.
function copyBytes(dst, dstOff, src, srcOff, len, shared) {
  if (shared && len >= NATIVE_COPY) {
    binding.bytesCopy(dst, dstOff, src, srcOff, len);
  } else if (len <= 16) {
    for (let i = 0; i < len; i++) dst[dstOff + i] = src[srcOff + i];
  } else {
    dst.set(srcOff === 0 && len === src.length ? src : src.subarray(srcOff, srcOff + len), dstOff);
  }
}

// Small reads out of the ring go a word at a time: for these sizes a loop
// of words is several times cheaper than TypedArray.prototype.set on
// shared memory, which also needs a subarray made first. A destination
// seen twice in a row (readInto's one buffer) gets an Int32Array view of
// its memory, kept for the next read; any other (read()'s new Buffers)
// takes each word as four byte stores, because asking a view for its
// `buffer` is a call into the runtime that costs more than the copy. The
// view is kept only of a small, fixed-length buffer, so that none is kept
// alive for long.
const WORD_COPY = 256;
const WORD_VIEW_MAX = 64 * 1024;
let outDst = null; // the last (small) destination of a small read
let outWords = null; // its Int32Array view, once it came twice; or null
let outBase = 0; // the word index in outWords of outDst's byte 0
let outTried = false; // outWords was asked for (null: it cannot have one)
// Byte stores of a word's bytes, low first, are memory order only on a
// little-endian machine (every platform this package builds for).
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function wordsOf(dst) {
  const ab = dst.buffer;
  if (ab.byteLength > WORD_VIEW_MAX || ab.resizable === true || ab.growable === true) return null;
  if ((dst.byteOffset & 3) !== 0) return null;
  return new Int32Array(ab, 0, ab.byteLength >> 2);
}

// Copy `len` bytes from word `s0` of `src` (an Int32Array of the ring) to
// dst[d, d + len), dst a Uint8Array.
function copyWordsToBytes(src, s0, dst, d, len) {
  const n = len >> 2;
  for (let i = 0; i < n; i++) {
    const w = src[s0 + i];
    const j = d + (i << 2);
    dst[j] = w;
    dst[j + 1] = w >> 8;
    dst[j + 2] = w >> 16;
    dst[j + 3] = w >> 24;
  }
  const rest = len & 3;
  if (rest !== 0) {
    const w = src[s0 + n];
    const j = d + (n << 2);
    for (let k = 0; k < rest; k++) dst[j + k] = w >> (k << 3);
  }
}

// Copy `len` bytes (a multiple of 4 after rounding up) between Int32Array
// views, byte offsets 4-aligned: for small records a loop of words is
// cheaper than making a view to copy from.
function copyWords(dst, at, src, from, len) {
  const d0 = at >> 2;
  const s0 = from >> 2;
  for (let i = 0, w = (len + 3) >> 2; i < w; i++) dst[d0 + i] = src[s0 + i];
}

class RingView {
  // `buffer`: the SharedArrayBuffer or ArrayBuffer holding the ring;
  // `base`: the byte offset of its header (from binding.ringInit,
  // ringAttach or the fork channel's layout). `closable`: writes follow
  // the close protocol of ring.h (a reservation is published before
  // `closed` is checked); rings that are never closed through their header
  // skip that fence. `shared`: other views of this process may take turns
  // in this view's role (a RingBuffer attached twice), so positions are
  // read from the header each time; otherwise (a ring shared with another
  // process, which may write anything into it at any time) this view keeps
  // its own positions and only ever reads the peer's.
  constructor(buffer, base, { closable = false, shared = false } = {}) {
    this.buffer = buffer;
    this.shared = buffer instanceof SharedArrayBuffer;
    this.i32 = new Int32Array(buffer, 0, buffer.byteLength >> 2);
    this.u8 = Buffer.from(buffer);
    // The same bytes as a plain Uint8Array, for copies: its subarray() is
    // V8's own (a Buffer's asks for its `buffer`, a call into the runtime).
    this.raw = new Uint8Array(buffer);
    this.dv = new DataView(buffer);
    this.h = base >> 2;
    this.data = base + HEADER_SIZE;
    this.cap = this.i32[this.h + W_CAPACITY];
    this.mask = this.cap - 1;
    this.maxMessage = this.cap - 4;
    const flags = this.i32[this.h + W_FLAGS];
    this.multiProducer = (flags & F_MULTI_PRODUCER) !== 0;
    this.multiConsumer = (flags & F_MULTI_CONSUMER) !== 0;
    this.closable = closable;
    this.sharedRole = shared;
    this.cachedCons = Atomics.load(this.i32, this.h + W_CONS_TAIL);
    this.cachedProd = Atomics.load(this.i32, this.h + W_PROD_TAIL);
    this.wpos = this.i32[this.h + W_PROD_HEAD]; // this producer's position
    this.rpos = this.i32[this.h + W_CONS_HEAD]; // this consumer's position
    this.released = this.rpos; // the last position handed back (cons_tail)
    // releaseSome() hands space back once this much has been consumed.
    this.releaseBatch = this.cap >>> 3;
    this.readPos = 0; // after peek(): the position of the record it saw
  }

  // ---- producer ----------------------------------------------------------

  // Reserve room for a record of `len` payload bytes. Returns its position
  // as an unsigned number (positions past 2^31 are not negative), or -1
  // when it does not fit now, -2 when the ring is closed (closable views
  // only: the reservation is then a hole readers skip), or CORRUPT (-3)
  // when the positions are more than a ring apart.
  reserve(len) {
    const i32 = this.i32;
    const h = this.h;
    const need = recordSize(len);
    const limit = this.cap - need;
    let head;
    if (!this.multiProducer) {
      head = this.sharedRole ? i32[h + W_PROD_HEAD] : this.wpos;
      if (((head - this.cachedCons) >>> 0) > limit) {
        this.cachedCons = Atomics.load(i32, h + W_CONS_TAIL);
        const used = (head - this.cachedCons) >>> 0;
        if (used > limit) return used > this.cap ? CORRUPT : -1;
      }
      if (!this.closable) return head >>> 0;
      // Published before `closed` is read, so a close() either sees this
      // reservation (and its reader waits for it) or we see the close.
      Atomics.store(i32, h + W_PROD_HEAD, (head + need) | 0);
    } else {
      for (;;) {
        const ct = Atomics.load(i32, h + W_CONS_TAIL);
        head = Atomics.load(i32, h + W_PROD_HEAD);
        const used = (head - ct) >>> 0;
        if (used > limit) {
          if (used <= this.cap) return -1;
          // Readers racing between the two loads can make it look
          // impossible; only a distance that holds still is.
          if (Atomics.load(i32, h + W_CONS_TAIL) === ct && Atomics.load(i32, h + W_PROD_HEAD) === head) return CORRUPT;
          continue;
        }
        if (Atomics.compareExchange(i32, h + W_PROD_HEAD, head, (head + need) | 0) === head) break;
      }
    }
    if (Atomics.load(i32, h + W_CLOSED) !== 0) {
      i32[(this.data + (head & this.mask)) >> 2] = (SKIP | (need - 4)) | 0;
      return this.publishRaw(head, need) === 0 ? -2 : CORRUPT;
    }
    return head >>> 0;
  }

  // Byte offset in this.u8 where the payload of the record at `at` starts.
  payloadOffset(at) {
    return this.data + ((at + 4) & this.mask);
  }

  // Payload bytes of the record at `at` that lie before the end of the data
  // area (the rest, if any, continues at its start).
  contiguous(at) {
    return this.cap - ((at + 4) & this.mask);
  }

  // Copy src[off, off + len) into the payload of the record at `at`, from
  // payload byte `skip` on, wrapping as needed.
  copyIn(at, skip, src, off, len) {
    const o = (at + 4 + skip) & this.mask;
    const first = this.cap - o;
    if (len <= first) {
      copyBytes(this.raw, this.data + o, src, off, len, this.shared);
    } else {
      copyBytes(this.raw, this.data + o, src, off, first, this.shared);
      copyBytes(this.raw, this.data, src, off + first, len - first, this.shared);
    }
  }

  // Make the record of `len` payload bytes at `at` readable. Returns 0, or
  // CORRUPT when (several writers) the ones before it can never publish.
  publish(at, len) {
    this.i32[(this.data + (at & this.mask)) >> 2] = len;
    return this.publishRaw(at, recordSize(len));
  }

  publishRaw(at, need) {
    const i32 = this.i32;
    const h = this.h;
    const next = (at + need) | 0;
    if (this.multiProducer) {
      if (!waitTurn(i32, h + W_PROD_TAIL, at, this.cap)) return CORRUPT;
    } else if (!this.closable) {
      i32[h + W_PROD_HEAD] = next;
    }
    this.wpos = next;
    Atomics.store(i32, h + W_PROD_TAIL, next);
    return 0;
  }

  // reserve(), copyIn() and publish() of one record holding all of `src`
  // (a Uint8Array of `len` bytes, len <= maxMessage), in one call. Returns
  // 0 when it is published, else what reserve() returns: -1 (no room), -2
  // (closed) or CORRUPT. With one producer and a message that needs no
  // native copy this is the whole hot path of a write: one look at the
  // reader's position per ring's worth of room, and the two stores and one
  // load of ring.h's protocol. (Kept small enough for V8 to inline it into
  // its callers; the rare cases are calls.)
  writeAll(src, len) {
    if (this.multiProducer || (len >= NATIVE_COPY && this.shared)) return this.writeGeneral(src, len);
    const i32 = this.i32;
    const h = this.h;
    const need = recordSize(len);
    const head = this.sharedRole ? i32[h + W_PROD_HEAD] : this.wpos;
    if (((head - this.cachedCons) >>> 0) > this.cap - need) {
      const r = this.recheckRoom(head, need);
      if (r !== 0) return r;
    }
    const next = (head + need) | 0;
    if (this.closable) {
      // As in reserve(): published before `closed` is read.
      Atomics.store(i32, h + W_PROD_HEAD, next);
      if (Atomics.load(i32, h + W_CLOSED) !== 0) return this.publishHole(head, need);
    } else {
      i32[h + W_PROD_HEAD] = next;
    }
    const o = (head + 4) & this.mask;
    if (len > this.cap - o) {
      this.copyIn(head, 0, src, 0, len);
    } else if (len <= 16) {
      const raw = this.raw;
      const d = this.data + o;
      for (let i = 0; i < len; i++) raw[d + i] = src[i];
    } else {
      this.raw.set(src, this.data + o);
    }
    i32[(this.data + (head & this.mask)) >> 2] = len;
    this.wpos = next;
    Atomics.store(i32, h + W_PROD_TAIL, next);
    return 0;
  }

  writeGeneral(src, len) {
    const at = this.reserve(len);
    if (at < 0) return at;
    this.copyIn(at, 0, src, 0, len);
    return this.publish(at, len);
  }

  // One producer, no room left as last seen: look at the reader's position
  // again. 0 when `need` bytes at `head` fit now, else -1 or CORRUPT.
  recheckRoom(head, need) {
    this.cachedCons = Atomics.load(this.i32, this.h + W_CONS_TAIL);
    const used = (head - this.cachedCons) >>> 0;
    if (used <= this.cap - need) return 0;
    return used > this.cap ? CORRUPT : -1;
  }

  // One producer found the ring closed after reserving `need` bytes at
  // `head`: publish them as a hole readers skip. Returns -2.
  publishHole(head, need) {
    this.i32[(this.data + (head & this.mask)) >> 2] = (SKIP | (need - 4)) | 0;
    this.wpos = (head + need) | 0;
    Atomics.store(this.i32, this.h + W_PROD_TAIL, this.wpos);
    return -2;
  }

  // Whether a reader sleeps on the futex (RingBuffer's own waits).
  readerAsleep() {
    return Atomics.load(this.i32, this.h + W_RD_WAITERS) !== 0;
  }

  writerAsleep() {
    return Atomics.load(this.i32, this.h + W_WR_WAITERS) !== 0;
  }

  // A plain look at the writers' waiters word, for a reader that has not
  // handed space back since its last fenced look (writerAsleep() after a
  // release()): no ordering is needed, since a writer that went to sleep
  // meanwhile waits for a release that has not happened yet, and this
  // look, or the release that comes when the reader drains the ring or
  // passes releaseSome()'s mark, sees it. It only decides whether to hand
  // the space back early.
  writerMaySleep() {
    return this.i32[this.h + W_WR_WAITERS] !== 0;
  }

  // ---- consumer (one at a time) --------------------------------------------

  // The payload length of the next record, or EMPTY, or CORRUPT when the
  // shared memory holds an impossible position or length. Sets readPos.
  // Holes are passed over. Single-consumer views only.
  peek() {
    const i32 = this.i32;
    const h = this.h;
    const cap = this.cap;
    for (;;) {
      let cons = this.rpos;
      if (this.sharedRole) this.rpos = cons = i32[h + W_CONS_HEAD];
      let avail = (this.cachedProd - cons) >>> 0;
      if (avail === 0 || avail > cap) {
        this.cachedProd = Atomics.load(i32, h + W_PROD_TAIL);
        avail = (this.cachedProd - cons) >>> 0;
        if (avail === 0) {
          // Drained: whatever this reader kept back goes to the writer now.
          if (cons !== this.released) this.release();
          return EMPTY;
        }
        // The writer can have published at most a ring past what this
        // reader handed back (a peer that says more wrote over records not
        // read yet, or the header was overwritten).
        if (avail > cap || (!this.sharedRole && ((this.cachedProd - this.released) >>> 0) > cap)) return CORRUPT;
      }
      const word = i32[(this.data + (cons & this.mask)) >> 2];
      const len = word & LEN_MASK;
      if (len > cap - 4 || recordSize(len) > avail) return CORRUPT;
      this.readPos = cons;
      if (word >= 0) return len;
      this.advance(len); // a hole
      this.release();
    }
  }


  // Whether a record may be waiting (one load; for spinning).
  ready() {
    return Atomics.load(this.i32, this.h + W_PROD_TAIL) !== this.rpos;
  }

  // Step over the record of `len` payload bytes at readPos. Its space is
  // handed back to the writer by the next release().
  advance(len) {
    const next = (this.readPos + recordSize(len)) | 0;
    this.rpos = next;
    this.i32[this.h + W_CONS_HEAD] = next;
  }

  release() {
    this.released = this.rpos;
    Atomics.store(this.i32, this.h + W_CONS_TAIL, this.rpos);
  }

  // release(), once an eighth of the ring has been consumed since the last
  // one: a store that is a full fence costs more than the read of a small
  // message. What is kept back goes out when the reader finds the ring
  // empty (before it could wait), or through release().
  // Returns whether it did.
  releaseSome() {
    if (((this.rpos - this.released) >>> 0) < this.releaseBatch) return false;
    this.release();
    return true;
  }

  // Copy `len` payload bytes of the record at `at`, from payload byte
  // `skip` on, into dst at dstOff.
  copyOut(at, skip, dst, dstOff, len) {
    const o = (at + 4 + skip) & this.mask;
    const first = this.cap - o;
    if (len <= WORD_COPY && len <= first && (skip & 3) === 0 && LITTLE_ENDIAN) {
      copyWordsToBytes(this.i32, (this.data + o) >> 2, dst, dstOff, len);
    } else if (len <= first) {
      copyBytes(dst, dstOff, this.raw, this.data + o, len, this.shared);
    } else {
      copyBytes(dst, dstOff, this.raw, this.data + o, first, this.shared);
      copyBytes(dst, dstOff + first, this.raw, this.data, len - first, this.shared);
    }
  }

  // copyOut() of the whole payload into a caller's buffer that is likely
  // to come again (readInto's): the second time in a row, it gets a word
  // view, kept for the reads after. (Remembering each new Buffer of read()
  // instead would cost a write barrier per message.)
  copyOutKept(at, dst, dstOff, len) {
    const o = (at + 4) & this.mask;
    if (len <= WORD_COPY && len <= this.cap - o && (dstOff & 3) === 0 && LITTLE_ENDIAN) {
      if (dst !== outDst) {
        outDst = dst.length <= WORD_VIEW_MAX ? dst : null;
        outWords = null;
        outTried = false;
      } else if (!outTried) {
        outTried = true;
        outWords = wordsOf(dst);
        if (outWords !== null) outBase = dst.byteOffset >> 2;
      }
      if (outWords !== null) {
        const s0 = (this.data + o) >> 2;
        const d0 = outBase + (dstOff >> 2);
        const n = len >> 2;
        const i32 = this.i32;
        const w = outWords;
        for (let i = 0; i < n; i++) w[d0 + i] = i32[s0 + i];
        if ((len & 3) !== 0) copyWordsToBytes(i32, s0 + n, dst, dstOff + (n << 2), len & 3);
        return;
      }
    }
    this.copyOut(at, 0, dst, dstOff, len);
  }

  // Multi-consumer claim: the payload length of the record claimed (its
  // position in readPos), EMPTY, or CORRUPT. The claim must be handed back
  // with releaseClaim(len) in claim order.
  claim() {
    const i32 = this.i32;
    const h = this.h;
    const cap = this.cap;
    for (;;) {
      const head = Atomics.load(i32, h + W_CONS_HEAD);
      const avail = (Atomics.load(i32, h + W_PROD_TAIL) - head) >>> 0;
      if (avail === 0) return EMPTY;
      const word = Atomics.load(i32, (this.data + (head & this.mask)) >> 2);
      const len = word & LEN_MASK;
      if (avail > cap || len > cap - 4 || recordSize(len) > avail) {
        // A stale claim position reads garbage; only a current one is corrupt.
        if (Atomics.load(i32, h + W_CONS_HEAD) !== head) continue;
        return CORRUPT;
      }
      if (Atomics.compareExchange(i32, h + W_CONS_HEAD, head, (head + recordSize(len)) | 0) !== head) continue;
      this.readPos = head;
      if (word >= 0) return len;
      if (this.releaseClaim(head, len) !== 0) return CORRUPT;
    }
  }

  // Hand back the claimed record of `len` bytes at `at`, after every claim
  // before it.
  // Returns 0, or CORRUPT when the readers before it can never hand theirs
  // back.
  releaseClaim(at, len) {
    const i32 = this.i32;
    const h = this.h;
    if (!waitTurn(i32, h + W_CONS_TAIL, at, this.cap)) return CORRUPT;
    Atomics.store(i32, h + W_CONS_TAIL, (at + recordSize(len)) | 0);
    return 0;
  }

  // ---- state ---------------------------------------------------------------

  // Bytes published and not yet consumed.
  used() {
    return (Atomics.load(this.i32, this.h + W_PROD_TAIL) - this.rpos) >>> 0;
  }

  // Producer: bytes not yet handed back by the reader.
  taken() {
    this.cachedCons = Atomics.load(this.i32, this.h + W_CONS_TAIL);
    return (this.wpos - this.cachedCons) >>> 0;
  }

  get closed() {
    return Atomics.load(this.i32, this.h + W_CLOSED) !== 0;
  }

  // Closed, nothing left and nothing being written.
  drained() {
    const i32 = this.i32;
    const h = this.h;
    if (Atomics.load(i32, h + W_CLOSED) === 0) return false;
    const pt = Atomics.load(i32, h + W_PROD_TAIL);
    return Atomics.load(i32, h + W_PROD_HEAD) === pt && Atomics.load(i32, h + W_CONS_HEAD) === pt;
  }
}

// Part of a backlog: encoded records (wire.js) copied one after another
// into one buffer (u32 length, then the bytes, padded to 4), so that a
// writer that runs ahead of its reader pays a copy of words per message,
// not an allocation. Used by the worker_threads lanes and the fork channel.
const SPILL_SIZE = 64 * 1024;

class Spill {
  // Room for SPILL_SIZE bytes of records, or for one record of `len`.
  constructor(len = 0) {
    const ab = new ArrayBuffer(Math.max(SPILL_SIZE, recordSize(len)));
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

  // Move records to `writer` (its tryWriteFrom(i32, u8, from, len)) while
  // they fit; true once all are out.
  drainInto(writer) {
    while (this.at < this.end) {
      const len = this.i32[this.at >> 2];
      if (!writer.tryWriteFrom(this.i32, this.u8, this.at + 4, len)) return false;
      this.at += recordSize(len);
    }
    return true;
  }
}

module.exports = { RingView, Spill, roundCapacity, recordSize, copyBytes, copyWords, EMPTY, CORRUPT, NATIVE_COPY };
