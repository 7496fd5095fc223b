'use strict';

// RingBuffer: a ring of variable-length messages in a SharedArrayBuffer.
//
// The layout and protocol are those of src/core/ring.h. The hot paths
// (tryWrite/tryRead) run here with Atomics, because a call into the addon
// per message would cost more than the copy; sleeping and waking go through
// the addon, on the Linux futex, so that JavaScript and native readers and
// writers in any thread wake each other (V8's Atomics.wait is not a futex).

const binding = require('./internal/binding');
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

const HEADER_SIZE = binding.RING_HEADER_SIZE;
const MAX_CAPACITY = binding.RING_MAX_CAPACITY;
const MIN_CAPACITY = binding.RING_MIN_CAPACITY;
const ALIGN = binding.RING_ALIGN;

// Word indices in the header (src/core/ring.h).
const W_CAPACITY = 2;
const W_FLAGS = 3;
const W_CLOSED = 5;
const W_PROD_HEAD = 16;
const W_PROD_TAIL = 17;
const W_CONS_HEAD = 32;
const W_CONS_TAIL = 33;
const W_RD_WAITERS = 48;
const W_WR_WAITERS = 64;

const F_MULTI_PRODUCER = 1;
const F_MULTI_CONSUMER = 2;
const SKIP = 0x80000000;

const KIND_READ = 0;
const KIND_WRITE = 1;
const WAIT_TIMEOUT = 1;

// V8 copies to and from a SharedArrayBuffer a byte at a time; above these
// sizes a call into the addon for a real memcpy is cheaper (measured).
const NATIVE_COPY_IN = 512;
const NATIVE_COPY_OUT = 8192;

const kHandle = Symbol('kHandle');
const kAttach = Symbol('kAttach');

// Called by the addon between slices of a blocking wait: it throws (fails)
// only when the thread is being terminated.
function alive() {}

function roundCapacity(n) {
  let c = MIN_CAPACITY;
  while (c < n) c *= 2;
  return c;
}

function recordSize(len) {
  return 4 + ((len + 3) & ~3);
}

function toBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) {
    if (data.byteLength === 0 && binding.isDetached(data)) {
      throw ERR_INVALID_ARG_VALUE('data', data, 'is a detached ArrayBuffer');
    }
    return new Uint8Array(data);
  }
  throw ERR_INVALID_ARG_TYPE('data',
    ['string', 'Buffer', 'TypedArray', 'DataView', 'ArrayBuffer'], data);
}

function checkNotDetached(bytes) {
  // A view over a detached buffer reads as empty; writing it as a 0-byte
  // message would silently lose what the caller meant to send.
  if (bytes.length === 0 && binding.isDetached(bytes.buffer)) {
    throw ERR_INVALID_ARG_VALUE('data', bytes, 'is backed by a detached ArrayBuffer');
  }
}

function abortError(signal) {
  return new AbortError(undefined, { cause: signal.reason });
}

function readOptions(options, name) {
  if (options === undefined) return { timeout: Infinity, signal: undefined };
  validateObject(options, name);
  const timeout = validateTimeout(options.timeout, `${name}.timeout`);
  validateAbortSignal(options.signal, `${name}.signal`);
  return { timeout, signal: options.signal };
}

class RingBuffer {
  #sab;
  #u8;
  #buf;
  #i32;
  #h; // int32 index of the header
  #data; // byte offset of the data area
  #cap;
  #mask;
  #mp;
  #mc;
  #cachedCons = 0;
  #cachedProd = 0;
  #readers = []; // pending readAsync: { resolve, reject, cleanup }
  #writers = []; // pending writeAsync: { bytes, resolve, reject, cleanup }
  #readArmed = false;
  #writeArmed = false;

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
      if (options.producers !== undefined) {
        validateOneOf(options.producers, 'options.producers', ['single', 'multi']);
        producers = options.producers;
      }
      if (options.consumers !== undefined) {
        validateOneOf(options.consumers, 'options.consumers', ['single', 'multi']);
        consumers = options.consumers;
      }
    }
    const cap = roundCapacity(capacity);
    const flags = (producers === 'multi' ? F_MULTI_PRODUCER : 0) |
                  (consumers === 'multi' ? F_MULTI_CONSUMER : 0);
    const sab = new SharedArrayBuffer(ALIGN + HEADER_SIZE + cap);
    const base = binding.ringInit(new Uint8Array(sab), cap, flags);
    this.#bind(sab, base);
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
    return new RingBuffer(kAttach, { sab: buffer, base });
  }

  #bind(sab, base) {
    this.#sab = sab;
    this.#u8 = new Uint8Array(sab);
    this.#buf = Buffer.from(sab);
    this.#i32 = new Int32Array(sab, 0, sab.byteLength >> 2);
    this.#h = base >> 2;
    this.#data = base + HEADER_SIZE;
    this.#cap = this.#i32[this.#h + W_CAPACITY];
    this.#mask = this.#cap - 1;
    const flags = this.#i32[this.#h + W_FLAGS];
    this.#mp = (flags & F_MULTI_PRODUCER) !== 0;
    this.#mc = (flags & F_MULTI_CONSUMER) !== 0;
    this.#cachedCons = Atomics.load(this.#i32, this.#h + W_CONS_TAIL);
    this.#cachedProd = Atomics.load(this.#i32, this.#h + W_PROD_TAIL);
    this[kHandle] = binding.ringOpen(this.#u8, alive);
  }

  get buffer() { return this.#sab; }
  get capacity() { return this.#cap; }
  get maxMessageSize() { return this.#cap - 4; }
  get producers() { return this.#mp ? 'multi' : 'single'; }
  get consumers() { return this.#mc ? 'multi' : 'single'; }
  get closed() { return Atomics.load(this.#i32, this.#h + W_CLOSED) !== 0; }

  // ---- writing ----------------------------------------------------------

  tryWrite(data) {
    if (typeof data === 'string') return this.#writeString(data);
    const bytes = toBytes(data);
    if (bytes.length === 0) checkNotDetached(bytes);
    if (this.#writers.length !== 0) {
      // Queued writeAsync calls go first, so that order is kept.
      if (this.closed) throw ERR_RING_CLOSED();
      this.#flushWriters();
      if (this.#writers.length !== 0) return false;
    }
    return this.#write(bytes, null);
  }

  #writeString(str) {
    const len = Buffer.byteLength(str, 'utf8');
    if (len > this.#cap - 4) throw this.#tooLarge(len);
    if (this.#writers.length !== 0) return this.tryWrite(Buffer.from(str, 'utf8'));
    return this.#write(null, str, len);
  }

  #tooLarge(len) {
    return ERR_OUT_OF_RANGE('data.byteLength', `<= ${this.#cap - 4} (the largest message this ring holds)`, len);
  }

  // Returns true when written, false when full; throws when closed. Either
  // `bytes` or (`str`, `strLen`) is the payload.
  #write(bytes, str, strLen) {
    const len = bytes !== null ? bytes.length : strLen;
    const cap = this.#cap;
    if (len > cap - 4) throw this.#tooLarge(len);
    const i32 = this.#i32;
    const h = this.#h;
    if (Atomics.load(i32, h + W_CLOSED) !== 0) throw ERR_RING_CLOSED();
    const need = recordSize(len);
    let head;
    if (!this.#mp) {
      head = i32[h + W_PROD_HEAD];
      if (((head - this.#cachedCons) >>> 0) > cap - need) {
        this.#cachedCons = Atomics.load(i32, h + W_CONS_TAIL);
        if (((head - this.#cachedCons) >>> 0) > cap - need) return false;
      }
      Atomics.store(i32, h + W_PROD_HEAD, (head + need) | 0);
    } else {
      for (;;) {
        const ct = Atomics.load(i32, h + W_CONS_TAIL);
        head = Atomics.load(i32, h + W_PROD_HEAD);
        if (((head - ct) >>> 0) > cap - need) return false;
        if (Atomics.compareExchange(i32, h + W_PROD_HEAD, head, (head + need) | 0) === head) break;
      }
    }
    const lenIndex = (this.#data + (head & this.#mask)) >> 2;
    if (Atomics.load(i32, h + W_CLOSED) !== 0) {
      // Closed after we reserved: leave a hole readers skip.
      i32[lenIndex] = (SKIP | (need - 4)) | 0;
      this.#publish(head, need);
      throw ERR_RING_CLOSED();
    }
    i32[lenIndex] = len;
    if (len !== 0) {
      const o = ((head + 4) & this.#mask);
      const first = cap - o;
      if (bytes !== null) {
        if (len >= NATIVE_COPY_IN) {
          const n = len <= first ? len : first;
          binding.bytesCopy(this.#u8, this.#data + o, bytes, 0, n);
          if (n < len) binding.bytesCopy(this.#u8, this.#data, bytes, n, len - n);
        } else if (len <= first) {
          if (len <= 32) {
            const u8 = this.#u8;
            const d = this.#data + o;
            for (let i = 0; i < len; i++) u8[d + i] = bytes[i];
          } else {
            this.#u8.set(bytes, this.#data + o);
          }
        } else {
          this.#u8.set(bytes.subarray(0, first), this.#data + o);
          this.#u8.set(bytes.subarray(first), this.#data);
        }
      } else if (len <= first) {
        this.#buf.write(str, this.#data + o, len, 'utf8');
      } else {
        const tmp = Buffer.from(str, 'utf8');
        this.#u8.set(tmp.subarray(0, first), this.#data + o);
        this.#u8.set(tmp.subarray(first), this.#data);
      }
    }
    this.#publish(head, need);
    return true;
  }

  #publish(head, need) {
    const i32 = this.#i32;
    const h = this.#h;
    if (this.#mp) {
      let spins = 0;
      while (Atomics.load(i32, h + W_PROD_TAIL) !== head) {
        if (++spins === 1024) { binding.yieldThread(); spins = 0; }
      }
    }
    Atomics.store(i32, h + W_PROD_TAIL, (head + need) | 0);
    if (Atomics.load(i32, h + W_RD_WAITERS) !== 0) binding.ringWake(this[kHandle], KIND_READ);
  }

  write(data, options = undefined) {
    // The common case: no options and room in the ring. tryWrite validates
    // `data` as below and keeps queued writeAsync calls first.
    if (options === undefined && this.tryWrite(data)) return true;
    const { timeout } = readOptions(options, 'options');
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : toBytes(data);
    if (bytes.length === 0) checkNotDetached(bytes);
    if (bytes.length > this.#cap - 4) throw this.#tooLarge(bytes.length);
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
      if (this.#write(bytes, null)) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      const r = binding.ringWait(this[kHandle], KIND_WRITE, recordSize(bytes.length), left);
      if (r === WAIT_TIMEOUT) return this.#write(bytes, null);
    }
  }

  writeAsync(data, options = undefined) {
    let bytes;
    let opts;
    try {
      opts = readOptions(options, 'options');
      bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : toBytes(data);
      if (bytes.length === 0) checkNotDetached(bytes);
      if (bytes.length > this.#cap - 4) throw this.#tooLarge(bytes.length);
      if (opts.signal !== undefined && opts.signal.aborted) throw abortError(opts.signal);
      if (this.#writers.length === 0 && this.#write(bytes, null)) return Promise.resolve(true);
    } catch (err) {
      return Promise.reject(err);
    }
    // The caller's bytes may change before we get room: keep a copy.
    const copy = Buffer.from(bytes);
    return new Promise((resolve, reject) => {
      const entry = { bytes: copy, resolve, reject, cleanup: null };
      entry.cleanup = this.#watch(entry, opts, this.#writers, () => resolve(false));
      this.#writers.push(entry);
      this.#armWrite();
    });
  }

  // Write queued async writes while they fit.
  #flushWriters() {
    const q = this.#writers;
    while (q.length !== 0) {
      const w = q[0];
      let ok;
      try {
        ok = this.#write(w.bytes, null);
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

  #armWrite() {
    if (this.#writers.length === 0) {
      if (this.#writeArmed) { binding.ringDisarm(this[kHandle], KIND_WRITE); this.#writeArmed = false; }
      return;
    }
    this.#writeArmed = true;
    binding.ringArm(this[kHandle], KIND_WRITE, recordSize(this.#writers[0].bytes.length), () => {
      this.#writeArmed = false;
      this.#flushWriters();
      this.#armWrite();
    });
  }

  // ---- reading ----------------------------------------------------------

  // Returns a Buffer, or null when the ring is empty (or closed and drained).
  tryRead() {
    return this.#mc ? this.#readMulti() : this.#readSingle();
  }

  #copyOut(pos, len) {
    const o = pos & this.#mask;
    const first = this.#cap - o;
    const start = this.#data + o;
    if (len >= NATIVE_COPY_OUT) {
      const out = Buffer.allocUnsafeSlow(len);
      const n = len <= first ? len : first;
      binding.bytesCopy(out, 0, this.#u8, start, n);
      if (n < len) binding.bytesCopy(out, n, this.#u8, this.#data, len - n);
      return out;
    }
    const out = Buffer.allocUnsafe(len);
    if (len === 0) return out;
    if (len <= first) {
      if (len <= 32) {
        const u8 = this.#u8;
        for (let i = 0; i < len; i++) out[i] = u8[start + i];
      } else {
        out.set(this.#u8.subarray(start, start + len));
      }
    } else {
      out.set(this.#u8.subarray(start, start + first));
      out.set(this.#u8.subarray(this.#data, this.#data + (len - first)), first);
    }
    return out;
  }

  #readSingle() {
    const i32 = this.#i32;
    const h = this.#h;
    const cap = this.#cap;
    for (;;) {
      const cons = i32[h + W_CONS_HEAD];
      let avail = (this.#cachedProd - cons) >>> 0;
      if (avail === 0 || avail > cap) {
        this.#cachedProd = Atomics.load(i32, h + W_PROD_TAIL);
        avail = (this.#cachedProd - cons) >>> 0;
        if (avail === 0) return null;
        if (avail > cap) throw ERR_RING_CORRUPT('positions out of range');
      }
      const word = i32[(this.#data + (cons & this.#mask)) >> 2];
      const plen = word & 0x7fffffff;
      const need = recordSize(plen);
      if (plen > cap - 4 || need > avail) throw ERR_RING_CORRUPT('record length out of range');
      const next = (cons + need) | 0;
      if (word < 0) { // skip record
        this.#release(cons, next);
        continue;
      }
      const out = this.#copyOut(cons + 4, plen);
      this.#release(cons, next);
      return out;
    }
  }

  #readMulti() {
    const i32 = this.#i32;
    const h = this.#h;
    const cap = this.#cap;
    for (;;) {
      const head = Atomics.load(i32, h + W_CONS_HEAD);
      const pt = Atomics.load(i32, h + W_PROD_TAIL);
      const avail = (pt - head) >>> 0;
      if (avail === 0) return null;
      const word = Atomics.load(i32, (this.#data + (head & this.#mask)) >> 2);
      const plen = word & 0x7fffffff;
      const need = recordSize(plen);
      if (avail > cap || plen > cap - 4 || need > avail) {
        // A stale claim position reads garbage; only a current one is corrupt.
        if (Atomics.load(i32, h + W_CONS_HEAD) !== head) continue;
        throw ERR_RING_CORRUPT('record length out of range');
      }
      const next = (head + need) | 0;
      if (Atomics.compareExchange(i32, h + W_CONS_HEAD, head, next) !== head) continue;
      const out = word < 0 ? null : this.#copyOut(head + 4, plen);
      this.#release(head, next);
      if (out !== null) return out;
    }
  }

  #release(start, next) {
    const i32 = this.#i32;
    const h = this.#h;
    if (this.#mc) {
      let spins = 0;
      while (Atomics.load(i32, h + W_CONS_TAIL) !== start) {
        if (++spins === 1024) { binding.yieldThread(); spins = 0; }
      }
    } else {
      i32[h + W_CONS_HEAD] = next;
    }
    Atomics.store(i32, h + W_CONS_TAIL, next);
    if (Atomics.load(i32, h + W_WR_WAITERS) !== 0) binding.ringWake(this[kHandle], KIND_WRITE);
  }

  // Closed, nothing left and nothing being written.
  #drained() {
    const i32 = this.#i32;
    const h = this.#h;
    if (Atomics.load(i32, h + W_CLOSED) === 0) return false;
    const ph = Atomics.load(i32, h + W_PROD_HEAD);
    const pt = Atomics.load(i32, h + W_PROD_TAIL);
    return ph === pt && Atomics.load(i32, h + W_CONS_HEAD) === pt;
  }

  read(options = undefined) {
    if (options === undefined) {
      const m = this.tryRead(); // the common case: no options, a message waiting
      if (m !== null) return m;
    }
    const { timeout } = readOptions(options, 'options');
    const deadline = timeout === Infinity ? Infinity : performance.now() + timeout;
    for (;;) {
      const m = this.tryRead();
      if (m !== null) return m;
      if (this.#drained()) return null;
      const left = deadline - performance.now();
      if (left <= 0) return null;
      if (binding.ringWait(this[kHandle], KIND_READ, 0, left) === WAIT_TIMEOUT) {
        return this.tryRead();
      }
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
      this.#armRead();
    });
  }

  // Timeout and abort for a queued async call. Returns the cleanup function.
  #watch(entry, { timeout, signal }, queue, onTimeout) {
    let timer = null;
    let onAbort = null;
    const remove = () => {
      const i = queue.indexOf(entry);
      if (i !== -1) queue.splice(i, 1);
      if (queue === this.#readers) this.#armRead(); else this.#armWrite();
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

  #armRead() {
    if (this.#readers.length === 0) {
      if (this.#readArmed) { binding.ringDisarm(this[kHandle], KIND_READ); this.#readArmed = false; }
      return;
    }
    this.#readArmed = true;
    binding.ringArm(this[kHandle], KIND_READ, 0, () => {
      this.#readArmed = false;
      this.#flushReaders();
      this.#armRead();
    });
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
  }
}

module.exports = { RingBuffer, kHandle };
