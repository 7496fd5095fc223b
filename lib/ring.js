'use strict';

// RingBuffer: a ring of variable-length messages in a SharedArrayBuffer.
//
// The ring protocol itself (src/core/ring.h, run with Atomics) is
// lib/internal/ring_view.js; this file adds what users see: validation,
// blocking and event-loop waits, and close. A call into the addon per
// message would cost more than the copy, so the hot paths stay in
// JavaScript; sleeping and waking go through the addon, on the Linux futex,
// so that JavaScript and native readers and writers in any thread wake each
// other (V8's Atomics.wait is not a futex).

const { Buffer } = require('buffer');
const { performance } = require('perf_hooks');

const binding = require('./internal/binding');
const debug = require('./internal/debug').debuglog('ring');
const {
  codes: {
    ERR_INVALID_ARG_TYPE,
    ERR_INVALID_ARG_VALUE,
    ERR_OUT_OF_RANGE,
    ERR_RING_CLOSED,
    ERR_RING_CORRUPT,
  },
  AbortError,
} = require('./internal/errors');
const {
  validateObject,
  validateOneOf,
  validateAbortSignal,
  validateTimeout,
} = require('./internal/validators');

const { RingView, roundCapacity, recordSize, EMPTY, CORRUPT, NATIVE_COPY } = require('./internal/ring_view');

const HEADER_SIZE = binding.RING_HEADER_SIZE;
const MAX_CAPACITY = binding.RING_MAX_CAPACITY;
const MIN_CAPACITY = binding.RING_MIN_CAPACITY;
const ALIGN = binding.RING_ALIGN;
const F_MULTI_PRODUCER = binding.RING_WORDS.multiProducer;
const F_MULTI_CONSUMER = binding.RING_WORDS.multiConsumer;

const KIND_READ = 0;
const KIND_WRITE = 1;
const WAIT_TIMEOUT = 1;

const kHandle = Symbol('kHandle');
const kAttach = Symbol('kAttach');

// Called by the addon between slices of a blocking wait: it throws (fails)
// only when the thread is being terminated.
function alive() {}

const TypedArrayPrototypeAt = Object.getPrototypeOf(Uint8Array.prototype).at;

// Whether a view no longer sees its memory: its buffer was detached, or it
// is a view a resizable ArrayBuffer shrank out from under. Both read as
// empty, and writing them as a 0-byte message would lose what the caller
// meant to send. (Only asked of views that read as empty.)
function lostMemory(view) {
  try {
    if (view instanceof DataView) {
      // eslint-disable-next-line no-unused-expressions
      view.byteLength; // throws for a detached or out-of-bounds DataView
    } else {
      TypedArrayPrototypeAt.call(view, 0); // throws likewise
    }
  } catch {
    return true;
  }
  return binding.isDetached(view.buffer);
}

function lostError(data) {
  return ERR_INVALID_ARG_VALUE('data', data, 'is backed by a detached or shrunk ArrayBuffer');
}

function toBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) {
    if (data instanceof DataView && lostMemory(data)) throw lostError(data);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) {
    if (data.byteLength === 0 && binding.isDetached(data)) {
      throw ERR_INVALID_ARG_VALUE('data', data, 'is a detached ArrayBuffer');
    }
    return new Uint8Array(data);
  }
  throw ERR_INVALID_ARG_TYPE('data',
    ['string', 'Buffer', 'TypedArray', 'DataView', 'ArrayBuffer'], data);
}

// `data` made `bytes` (toBytes), which is empty: refuse it if that is
// because its memory is gone.
function checkNotDetached(bytes, data = bytes) {
  if (lostMemory(ArrayBuffer.isView(data) ? data : bytes)) throw lostError(data);
}

// The caller's memory for tryReadInto/readInto, as bytes.
function toU8(buffer) {
  return buffer instanceof Uint8Array ? buffer
    : ArrayBuffer.isView(buffer) ? new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
      : new Uint8Array(buffer);
}

// Bytes of `buffer` from `offset` on; validates both.
function intoRoom(buffer, offset) {
  let size;
  if (ArrayBuffer.isView(buffer)) {
    size = buffer.byteLength;
  } else if (buffer instanceof ArrayBuffer || buffer instanceof SharedArrayBuffer) {
    size = buffer.byteLength;
  } else {
    throw ERR_INVALID_ARG_TYPE('buffer', ['Buffer', 'TypedArray', 'DataView', 'ArrayBuffer'], buffer);
  }
  if (offset !== 0) {
    if (typeof offset !== 'number') throw ERR_INVALID_ARG_TYPE('offset', 'number', offset);
    if (!Number.isInteger(offset) || offset < 0 || offset > size) {
      throw ERR_OUT_OF_RANGE('offset', `an integer >= 0 and <= ${size}`, offset);
    }
  }
  return size - offset;
}

function abortError(signal) {
  return new AbortError(undefined, { cause: signal.reason });
}

// { timeout, signal, offset } from the caller's own properties.
function readOptions(options, name) {
  if (options === undefined) return { timeout: Infinity, signal: undefined, offset: undefined };
  validateObject(options, name);
  const { timeout, signal, offset } = { __proto__: null, ...options };
  validateAbortSignal(signal, `${name}.signal`);
  return { timeout: validateTimeout(timeout, `${name}.timeout`), signal, offset };
}

class RingBuffer {
  #sab;
  #view;
  #readers = []; // pending readAsync: { resolve, reject, cleanup }
  #writers = []; // pending writeAsync: { bytes, resolve, reject, cleanup }
  #armed = [false, false]; // by kind: the addon watches for a queued async call

  constructor(capacity, options = undefined) {
    if (capacity === kAttach) {
      this.#bind(options.sab, options.base);
      return;
    }
    if (typeof capacity !== 'number') throw ERR_INVALID_ARG_TYPE('capacity', 'number', capacity);
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
      throw ERR_OUT_OF_RANGE('capacity', `an integer >= 1 and <= ${MAX_CAPACITY}`, capacity);
    }
    let producers = 'single';
    let consumers = 'single';
    if (options !== undefined) {
      validateObject(options, 'options');
      const own = { __proto__: null, ...options };
      if (own.producers !== undefined) {
        validateOneOf(own.producers, 'options.producers', ['single', 'multi']);
        producers = own.producers;
      }
      if (own.consumers !== undefined) {
        validateOneOf(own.consumers, 'options.consumers', ['single', 'multi']);
        consumers = own.consumers;
      }
    }
    const cap = roundCapacity(capacity);
    const flags = (producers === 'multi' ? F_MULTI_PRODUCER : 0) |
                  (consumers === 'multi' ? F_MULTI_CONSUMER : 0);
    const sab = new SharedArrayBuffer(ALIGN + HEADER_SIZE + cap);
    const base = binding.ringInit(new Uint8Array(sab), cap, flags);
    this.#bind(sab, base);
    debug('new ring: capacity %d, producers %s, consumers %s', cap, producers, consumers);
  }

  // Attach to a ring made by this package, in this or another thread.
  static from(buffer) {
    if (!(buffer instanceof SharedArrayBuffer)) {
      throw ERR_INVALID_ARG_TYPE('buffer', 'SharedArrayBuffer', buffer);
    }
    if (buffer.byteLength < HEADER_SIZE + MIN_CAPACITY) {
      throw ERR_INVALID_ARG_VALUE('buffer', buffer,
        `is too small to hold a ring buffer (${buffer.byteLength} bytes)`);
    }
    const base = binding.ringAttach(new Uint8Array(buffer));
    debug('attach to a ring of %d bytes', buffer.byteLength);
    return new RingBuffer(kAttach, { sab: buffer, base });
  }

  #bind(sab, base) {
    this.#sab = sab;
    // Any RingBuffer of this process may take its turn as the writer or
    // the reader, so positions live in the header.
    this.#view = new RingView(sab, base, { closable: true, shared: true });
    this[kHandle] = binding.ringOpen(new Uint8Array(sab), alive, this);
  }

  get buffer() { return this.#sab; }
  get capacity() { return this.#view.cap; }
  get maxMessageSize() { return this.#view.maxMessage; }
  get producers() { return this.#view.multiProducer ? 'multi' : 'single'; }
  get consumers() { return this.#view.multiConsumer ? 'multi' : 'single'; }
  get closed() { return this.#view.closed; }

  // ---- writing ----------------------------------------------------------

  tryWrite(data) {
    if (data instanceof Uint8Array && this.#writers.length === 0) {
      // The common case in one call into the view; an empty view may have
      // lost its memory, and the too large throw, both below.
      const len = data.length;
      const v = this.#view;
      if (len !== 0 && len <= v.maxMessage) {
        const r = v.writeAll(data, len);
        if (r !== 0) return this.#full(r);
        if (v.readerAsleep()) binding.ringWake(this[kHandle], KIND_READ);
        return true;
      }
    }
    if (typeof data === 'string') return this.#writeString(data);
    const bytes = toBytes(data);
    if (bytes.length === 0) checkNotDetached(bytes, data);
    if (this.#writers.length !== 0) {
      // Queued writeAsync calls go first, so that order is kept.
      if (this.closed) throw ERR_RING_CLOSED();
      this.#flushWriters();
      if (this.#writers.length !== 0) return false;
    }
    return this.#write(bytes);
  }

  #writeString(str) {
    if (this.#writers.length !== 0) return this.tryWrite(Buffer.from(str, 'utf8'));
    const v = this.#view;
    // An upper bound first: most strings then need no second pass.
    const bound = str.length * 3;
    const len = bound <= v.maxMessage ? -1 : Buffer.byteLength(str, 'utf8');
    if (len > v.maxMessage) throw this.#tooLarge(len);
    const exact = len >= 0 ? len : Buffer.byteLength(str, 'utf8');
    const at = v.reserve(exact);
    if (at < 0) return this.#full(at);
    if (v.contiguous(at) >= exact) {
      v.u8.utf8Write(str, v.payloadOffset(at), exact);
    } else {
      const tmp = Buffer.from(str, 'utf8');
      v.copyIn(at, 0, tmp, 0, exact);
    }
    this.#publish(at, exact);
    return true;
  }

  #tooLarge(len) {
    return ERR_OUT_OF_RANGE('data.byteLength', `<= ${this.#view.maxMessage} (the largest message this ring holds)`, len);
  }

  // reserve() found no room (-1), the ring closed (-2) or its positions
  // impossible (CORRUPT).
  #full(at) {
    if (at === CORRUPT) throw ERR_RING_CORRUPT('positions out of range');
    if (at === -2 || this.#view.closed) throw ERR_RING_CLOSED();
    return false;
  }

  // Returns true when written, false when full; throws when closed.
  #write(bytes) {
    const len = bytes.length;
    const v = this.#view;
    if (len > v.maxMessage) throw this.#tooLarge(len);
    const at = v.reserve(len);
    if (at < 0) return this.#full(at);
    v.copyIn(at, 0, bytes, 0, len);
    this.#publish(at, len);
    return true;
  }

  #publish(at, len) {
    const v = this.#view;
    if (v.publish(at, len) !== 0) throw ERR_RING_CORRUPT('a writer before this one never published');
    if (v.readerAsleep()) binding.ringWake(this[kHandle], KIND_READ);
  }

  write(data, options = undefined) {
    // The common case: no options and room in the ring. tryWrite validates
    // `data` as below and keeps queued writeAsync calls first.
    if (options === undefined && this.tryWrite(data)) return true;
    const { timeout } = readOptions(options, 'options');
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : toBytes(data);
    if (bytes.length === 0 && typeof data !== 'string') checkNotDetached(bytes, data);
    if (bytes.length > this.#view.maxMessage) throw this.#tooLarge(bytes.length);
    const deadline = timeout === Infinity ? Infinity : performance.now() + timeout;
    // Writes queued by writeAsync go first.
    while (this.#writers.length !== 0) {
      this.#flushWriters();
      if (this.#writers.length === 0) break;
      const w = this.#writers[0];
      const left = deadline - performance.now();
      if (left <= 0) return false;
      binding.ringWait(this[kHandle], KIND_WRITE, recordSize(w.bytes.length), left);
    }
    for (;;) {
      if (this.#write(bytes)) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      const r = binding.ringWait(this[kHandle], KIND_WRITE, recordSize(bytes.length), left);
      if (r === WAIT_TIMEOUT) return this.#write(bytes);
    }
  }

  writeAsync(data, options = undefined) {
    let bytes;
    let opts;
    try {
      opts = readOptions(options, 'options');
      bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : toBytes(data);
      if (bytes.length === 0 && typeof data !== 'string') checkNotDetached(bytes, data);
      if (bytes.length > this.#view.maxMessage) throw this.#tooLarge(bytes.length);
      if (opts.signal !== undefined && opts.signal.aborted) throw abortError(opts.signal);
      if (this.#writers.length === 0 && this.#write(bytes)) return Promise.resolve(true);
    } catch (err) {
      return Promise.reject(err);
    }
    // The caller's bytes may change before we get room: keep a copy.
    const copy = Buffer.from(bytes);
    return new Promise((resolve, reject) => {
      const entry = { bytes: copy, resolve, reject, cleanup: null };
      entry.cleanup = this.#watch(entry, opts, this.#writers, () => resolve(false));
      this.#writers.push(entry);
      this.#arm(KIND_WRITE);
    });
  }

  // Write queued async writes while they fit.
  #flushWriters() {
    const q = this.#writers;
    while (q.length !== 0) {
      const w = q[0];
      let ok;
      try {
        ok = this.#write(w.bytes);
      } catch (err) {
        // Closed: every queued write fails the same way.
        for (const e of q.splice(0)) { e.cleanup(); e.reject(err); }
        return;
      }
      if (!ok) return;
      q.shift();
      w.cleanup();
      w.resolve(true);
    }
  }

  // Keep the addon's helper thread watching the ring for the first queued
  // async call of `kind` (or stop it when none is left).
  #arm(kind) {
    const q = kind === KIND_READ ? this.#readers : this.#writers;
    if (q.length === 0) {
      if (this.#armed[kind]) { binding.ringDisarm(this[kHandle], kind); this.#armed[kind] = false; }
      return;
    }
    this.#armed[kind] = true;
    const need = kind === KIND_READ ? 0 : recordSize(q[0].bytes.length);
    binding.ringArm(this[kHandle], kind, need, RingBuffer.#onReady);
  }

  // The addon calls this with the ring (it holds the ring only while armed,
  // so the callback must not: a ring nobody uses can be collected).
  static #onReady(ring, kind) {
    ring.#armed[kind] = false;
    if (kind === KIND_READ) ring.#flushReaders(); else ring.#flushWriters();
    ring.#arm(kind);
    if (ring.closed) ring.#stopHelpers();
  }

  // Closed and settled: nothing will wait on this ring again from here, so
  // the addon's helper threads can end.
  #stopHelpers() {
    if (this.#readers.length !== 0 || this.#writers.length !== 0) return;
    this.#armed[KIND_READ] = this.#armed[KIND_WRITE] = false;
    binding.ringStop(this[kHandle]);
  }

  // ---- reading ----------------------------------------------------------

  // The length of the next message, its position in the view's readPos;
  // -1 when there is none. Throws on a corrupt header.
  #next() {
    const v = this.#view;
    const len = v.multiConsumer ? v.claim() : v.peek();
    if (len < 0) {
      if (len === CORRUPT) throw ERR_RING_CORRUPT('positions or record length out of range');
      // Finding the ring empty handed back what this reader kept back
      // (releaseSome): a writer waiting for that room hears of it.
      if (v.writerAsleep()) binding.ringWake(this[kHandle], KIND_WRITE);
    }
    return len;
  }

  // Hand the message just read back to the writers.
  #done(at, len) {
    const v = this.#view;
    if (v.multiConsumer) {
      if (v.releaseClaim(at, len) !== 0) throw ERR_RING_CORRUPT('a reader before this one never finished');
    } else {
      v.advance(len);
      // Space goes back once per eighth of the ring; a writer asleep for
      // want of it gets it at once.
      if (!v.releaseSome()) {
        if (!v.writerMaySleep()) return;
        v.release();
      }
    }
    if (v.writerAsleep()) binding.ringWake(this[kHandle], KIND_WRITE);
  }

  // Returns a Buffer, or null when the ring is empty (or closed and drained).
  tryRead() {
    const len = this.#next();
    if (len === EMPTY) return null;
    const v = this.#view;
    const at = v.readPos;
    const out = len >= NATIVE_COPY ? Buffer.allocUnsafeSlow(len) : Buffer.allocUnsafe(len);
    v.copyOut(at, 0, out, 0, len);
    this.#done(at, len);
    return out;
  }

  // Reads the next message into `buffer` at `offset` and returns its
  // length, or -1 when the ring is empty (or closed and drained). Nothing is
  // allocated. A message longer than the room in `buffer` stays in the
  // ring, and ERR_OUT_OF_RANGE says how long it is. (With several consumers
  // a message cannot be looked at before it is taken: the room must then
  // hold maxMessageSize bytes.)
  tryReadInto(buffer, offset = 0) {
    const v = this.#view;
    const room = intoRoom(buffer, offset);
    if (v.multiConsumer && room < v.maxMessage) {
      throw ERR_OUT_OF_RANGE('buffer.byteLength - offset',
        `>= ${v.maxMessage} (maxMessageSize, with consumers: 'multi')`, room);
    }
    const len = this.#next();
    if (len === EMPTY) return -1;
    if (len > room) {
      throw ERR_OUT_OF_RANGE('buffer.byteLength - offset', `>= ${len} (the next message's length)`, room);
    }
    const at = v.readPos;
    v.copyOutKept(at, toU8(buffer), offset, len);
    this.#done(at, len);
    return len;
  }

  // Closed, nothing left and nothing being written.
  #drained() {
    return this.#view.drained();
  }

  read(options = undefined) {
    if (options === undefined) {
      const m = this.tryRead(); // the common case: no options, a message waiting
      if (m !== null) return m;
    }
    const { timeout } = readOptions(options, 'options');
    return this.#blockingRead(timeout, () => this.tryRead(), null);
  }

  // Blocks like read(); returns the message's length, or -1 (timeout, or
  // closed and drained). `options`: { offset, timeout }.
  readInto(buffer, options = undefined) {
    let offset = 0;
    let timeout = Infinity;
    if (options !== undefined) {
      const opts = readOptions(options, 'options');
      timeout = opts.timeout;
      if (opts.offset !== undefined) offset = opts.offset;
    }
    const n = this.tryReadInto(buffer, offset);
    if (n !== -1) return n;
    return this.#blockingRead(timeout, () => this.tryReadInto(buffer, offset), -1);
  }

  #blockingRead(timeout, attempt, none) {
    const deadline = timeout === Infinity ? Infinity : performance.now() + timeout;
    for (;;) {
      const m = attempt();
      if (m !== none) return m;
      if (this.#drained()) return none;
      const left = deadline - performance.now();
      if (left <= 0) return none;
      if (binding.ringWait(this[kHandle], KIND_READ, 0, left) === WAIT_TIMEOUT) return attempt();
    }
  }

  readAsync(options = undefined) {
    let opts;
    try {
      opts = readOptions(options, 'options');
      if (opts.signal !== undefined && opts.signal.aborted) throw abortError(opts.signal);
      if (this.#readers.length === 0) {
        const m = this.tryRead();
        if (m !== null) return Promise.resolve(m);
        if (this.#drained()) return Promise.resolve(null);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject, cleanup: null };
      entry.cleanup = this.#watch(entry, opts, this.#readers, () => resolve(null));
      this.#readers.push(entry);
      this.#arm(KIND_READ);
    });
  }

  // Timeout and abort for a queued async call. Returns the cleanup function.
  #watch(entry, { timeout, signal }, queue, onTimeout) {
    let timer = null;
    let onAbort = null;
    const remove = () => {
      const i = queue.indexOf(entry);
      if (i !== -1) queue.splice(i, 1);
      this.#arm(queue === this.#readers ? KIND_READ : KIND_WRITE);
    };
    if (timeout !== Infinity) {
      timer = setTimeout(() => { cleanup(); remove(); onTimeout(); }, timeout);
    }
    if (signal !== undefined) {
      onAbort = () => { cleanup(); remove(); entry.reject(abortError(signal)); };
      signal.addEventListener('abort', onAbort, { once: true });
    }
    function cleanup() {
      if (timer !== null) { clearTimeout(timer); timer = null; }
      if (onAbort !== null) { signal.removeEventListener('abort', onAbort); onAbort = null; }
    }
    return cleanup;
  }

  #flushReaders() {
    const q = this.#readers;
    while (q.length !== 0) {
      let m;
      try {
        m = this.tryRead();
      } catch (err) {
        for (const e of q.splice(0)) { e.cleanup(); e.reject(err); }
        return;
      }
      if (m === null) {
        if (!this.#drained()) return;
        for (const e of q.splice(0)) { e.cleanup(); e.resolve(null); }
        return;
      }
      const e = q.shift();
      e.cleanup();
      e.resolve(m);
    }
  }

  async* [Symbol.asyncIterator]() {
    for (;;) {
      const m = await this.readAsync();
      if (m === null) return;
      yield m;
    }
  }

  close() {
    if (this.closed) return;
    binding.ringClose(this[kHandle]);
    // Queued async writes can never complete now; readers of this thread
    // that wait on an empty ring end.
    this.#flushWriters();
    this.#flushReaders();
    this.#stopHelpers();
  }
}

module.exports = { RingBuffer, kHandle };
