'use strict';

// The fork() channel on both sides: Node's process.send / 'message' /
// disconnect() semantics (lib/internal/child_process.js setupChannel in
// Node) over the shared-memory rings of src/core/channel.h.
//
// Each side writes one ring and reads the other with Atomics on an external
// ArrayBuffer over the shared mapping, following the single-producer
// single-consumer protocol of src/core/ring.h. The addon supplies the
// socket: a wakeup byte when this side said it sleeps, descriptors for
// handles (SCM_RIGHTS), and end-of-file when the peer is gone.
//
// Record payload: one type byte, then the body.
//   'v' plain data in the binary form of lib/internal/wire.js, which gives
//   what JSON (serialization 'json') or structured clone ('advanced') would
//   give for it; the type byte is the first byte of the wire record.
//   'J' JSON text (serialization 'json'), 'A' v8.serialize bytes
//   ('advanced'), both for what the wire form does not carry; 'H' a handle
//   message (JSON: type, msg, extra fields; the
//   descriptor travels on the socket, sent before the record).
//   A type byte with 0x80 set is a fragment: more of the same message
//   follows. Messages larger than a quarter of the ring are fragmented.

const net = require('net');
const dgram = require('dgram');
const v8 = require('v8');

const binding = require('./binding');
const { Encoder, Decoder, TAG_VALUE, SMALL_RECORD, copyWords } = require('./wire');
const {
  codes: {
    ERR_INVALID_ARG_TYPE, ERR_MISSING_ARGS, ERR_IPC_CHANNEL_CLOSED, ERR_IPC_CHANNEL_CORRUPT,
    ERR_IPC_DISCONNECTED, ERR_INVALID_HANDLE_TYPE,
  },
} = require('./errors');
const { validateObject } = require('./validators');

const HEADER_SIZE = binding.RING_HEADER_SIZE;
const W_PROD_HEAD = 16;
const W_PROD_TAIL = 17;
const W_CONS_HEAD = 32;
const W_CONS_TAIL = 33;
const W_CAPACITY = 2;
const SKIP = 0x80000000;

const T_JSON = 0x4a; // 'J'
const T_ADVANCED = 0x41; // 'A'
const T_HANDLE = 0x48; // 'H'
const T_WIRE = TAG_VALUE; // 'v'
const T_MORE = 0x80;

// Messages handled per turn of the loop before yielding to other events.
const BATCH = 4096;
// JSON records up to this size are gathered and parsed together.
const SMALL_JSON = 1024;
const GATHER_SIZE = 64 * 1024;
// After the last message seen or sent, keep looking (one check per turn of
// the event loop) this long before asking the peer for a wakeup: a reply
// that comes back within it costs no system call on either side.
const SPIN_MS = 0.05;

const { performance } = require('perf_hooks');

let dgramState;
function dgramHandle(sock) {
  if (dgramState === undefined) {
    dgramState = Object.getOwnPropertySymbols(sock).find((s) => String(s) === 'Symbol(state symbol)') || null;
  }
  const state = dgramState && sock[dgramState];
  return state && state.handle;
}

function isInternal(message) {
  return message !== null && typeof message === 'object' &&
    typeof message.cmd === 'string' && message.cmd.length > 5 &&
    message.cmd.startsWith('NODE_');
}

function recordSize(len) {
  return 4 + ((len + 3) & ~3);
}

// One side's view of one ring.
class RingView {
  constructor(buffer, offset) {
    this.i32 = new Int32Array(buffer);
    this.u8 = Buffer.from(buffer);
    this.dv = new DataView(buffer);
    this.h = offset >> 2;
    this.data = offset + HEADER_SIZE;
    this.cap = this.i32[this.h + W_CAPACITY];
    this.mask = this.cap - 1;
    this.pos = 0; // prod_head for the writer, cons_head for the reader
    this.cached = 0; // the peer's last seen position
  }
}

class Channel {
  constructor(target, handle, serialization) {
    const info = binding.channelInfo(handle);
    this.target = target;
    this.handle = handle;
    this.advanced = serialization === 'advanced';
    // Shapes are per direction: ours for the out ring, the peer's for in.
    this.enc = new Encoder(this.advanced ? undefined : { json: true });
    this.dec = new Decoder();
    const side = info.side;
    this.out = new RingView(info.buffer, side === 0 ? info.ring0 : info.ring1);
    this.in = new RingView(info.buffer, side === 0 ? info.ring1 : info.ring0);
    this.out.pos = Atomics.load(this.out.i32, this.out.h + W_PROD_HEAD);
    this.out.cached = Atomics.load(this.out.i32, this.out.h + W_CONS_TAIL);
    this.in.pos = Atomics.load(this.in.i32, this.in.h + W_CONS_HEAD);
    this.in.cached = Atomics.load(this.in.i32, this.in.h + W_PROD_TAIL);
    this.hdr = this.out.i32; // same buffer: the channel header is at 0
    this.myRd = side === 0 ? binding.CHANNEL_SLEEP0_RD : binding.CHANNEL_SLEEP1_RD;
    this.myWr = side === 0 ? binding.CHANNEL_SLEEP0_WR : binding.CHANNEL_SLEEP1_WR;
    this.peerRd = side === 0 ? binding.CHANNEL_SLEEP1_RD : binding.CHANNEL_SLEEP0_RD;
    this.peerWr = side === 0 ? binding.CHANNEL_SLEEP1_WR : binding.CHANNEL_SLEEP0_WR;
    this.maxChunk = (this.out.cap >>> 2) - 8;
    this.queue = []; // messages waiting for room: { type, str, bytes, off, cb }
    this.qhead = 0; // index of the oldest entry still waiting
    this.fragments = null; // chunks of an incoming fragmented message
    this.fragType = 0;
    this.gathered = Buffer.allocUnsafe(GATHER_SIZE);
    this.gathered[0] = 0x5b; // '['
    this.glen = 1;
    this.parsed = null; // parsed messages not emitted yet
    this.parsedAt = 0;
    this.blocked = false; // a received handle is being set up
    this.scheduled = null; // pending setImmediate drain
    this.eof = false;
    this.closed = false;
    this.asleep = false; // our rd flag is up
    this.lastActive = 0; // performance.now() of the last traffic
    this.refs = 0; // 'message'/'disconnect' listeners, as Node counts
    this.explicitRef = true;
    this.refed = false;
    binding.channelStart(handle, (eof) => this.onWake(eof));
    this.sleep();
  }

  // ---- writing ---------------------------------------------------------

  // Reserve `need` bytes in the out ring; -1 when they do not fit now.
  reserve(need) {
    const r = this.out;
    if (((r.pos - r.cached) >>> 0) > r.cap - need) {
      r.cached = Atomics.load(r.i32, r.h + W_CONS_TAIL);
      if (((r.pos - r.cached) >>> 0) > r.cap - need) return -1;
    }
    return r.pos;
  }

  publish(start, len) {
    const r = this.out;
    r.i32[(r.data + (start & r.mask)) >> 2] = len;
    r.pos = (start + recordSize(len)) | 0;
    r.i32[r.h + W_PROD_HEAD] = r.pos;
    Atomics.store(r.i32, r.h + W_PROD_TAIL, r.pos);
    if (this.asleep) this.wakeSelf();
    if (Atomics.load(this.hdr, this.peerRd) !== 0 &&
        Atomics.compareExchange(this.hdr, this.peerRd, 1, 0) === 1) {
      binding.channelKick(this.handle);
    }
  }

  // Copy bytes[off, off+len) into the ring at byte position `pos`.
  copyIn(pos, bytes, off, len) {
    const r = this.out;
    const o = pos & r.mask;
    const first = r.cap - o;
    if (len <= first) {
      r.u8.set(len === bytes.length && off === 0 ? bytes : bytes.subarray(off, off + len), r.data + o);
    } else {
      r.u8.set(bytes.subarray(off, off + first), r.data + o);
      r.u8.set(bytes.subarray(off + first, off + len), r.data);
    }
  }

  // Try to write a JSON string straight into the ring; false if it might
  // not fit (the caller then encodes it and goes the general way).
  tryWriteString(str) {
    const r = this.out;
    const max = str.length * 3 + 1;
    if (max > this.maxChunk) return false;
    const start = this.reserve(recordSize(max));
    if (start < 0) return false;
    const o = (start + 4) & r.mask;
    if (o + max > r.cap) return false;
    const u8 = r.u8;
    const at = r.data + o + 1;
    u8[at - 1] = T_JSON;
    let n = str.length;
    if (n <= 64) {
      // Short ASCII text: a plain loop beats a call into the encoder.
      for (let i = 0; i < n; i++) {
        const c = str.charCodeAt(i);
        if (c >= 0x80) {
          n = u8.utf8Write(str, at);
          break;
        }
        u8[at + i] = c;
      }
    } else {
      n = u8.utf8Write(str, at);
    }
    this.publish(start, n + 1);
    return true;
  }

  // Write as much of queued entry `e` as fits; true when it is all in.
  writeEntry(e) {
    const r = this.out;
    for (;;) {
      const left = e.bytes.length - e.off;
      const chunk = left + 1 > this.maxChunk ? this.maxChunk - 1 : left;
      const more = chunk < left;
      const start = this.reserve(recordSize(chunk + 1));
      if (start < 0) return false;
      r.u8[r.data + ((start + 4) & r.mask)] = more ? (e.type | T_MORE) : e.type;
      this.copyIn(start + 5, e.bytes, e.off, chunk);
      e.off += chunk;
      this.publish(start, chunk + 1);
      if (!more) return true;
    }
  }

  // Send pending messages in order; returns true when the queue is empty.
  flush() {
    const q = this.queue;
    while (this.qhead < q.length) {
      const e = q[this.qhead];
      if (e.bytes === null) {
        // A JSON string not encoded yet: straight into the ring if it fits.
        if (!this.tryWriteString(e.str)) {
          e.bytes = Buffer.from(e.str, 'utf8');
          e.str = null;
          continue;
        }
      } else if (!this.writeEntry(e)) {
        this.waitWritable();
        return false;
      }
      q[this.qhead++] = undefined;
      if (e.cb) process.nextTick(e.cb, null);
    }
    this.queue = [];
    this.qhead = 0;
    this.updateRef();
    if (this.disconnectPending) this.doDisconnect();
    return true;
  }

  pending() {
    return this.queue.length - this.qhead;
  }

  // Ask the peer to wake us when it frees room in the out ring.
  waitWritable() {
    Atomics.store(this.hdr, this.myWr, 1);
    const r = this.out;
    r.cached = Atomics.load(r.i32, r.h + W_CONS_TAIL);
    if (((r.pos - r.cached) >>> 0) < r.cap / 2) {
      Atomics.store(this.hdr, this.myWr, 0);
      this.schedule();
    }
    this.updateRef();
  }

  // Send the record this.enc holds (wire.js). Returns false when it had to
  // be queued (backpressure).
  writeWire(cb) {
    const enc = this.enc;
    const len = enc.pos;
    if (this.queue.length === 0) {
      const r = this.out;
      const start = this.reserve(recordSize(len));
      const o = (start + 4) & r.mask;
      if (start >= 0 && o + len <= r.cap) {
        // Straight in; records are 4-aligned, so small ones go as words.
        const at = r.data + o;
        if (len <= SMALL_RECORD) {
          copyWords(r.i32, at, enc.i32, 0, len);
        } else {
          r.u8.set(enc.u8.subarray(0, len), at);
        }
        enc.commit();
        this.publish(start, len);
        if (cb) process.nextTick(cb, null);
        return true;
      }
    }
    // The general way (queue, wrap): the type byte is the record's first.
    const bytes = Buffer.from(enc.u8.subarray(1, len));
    enc.commit();
    return this.write(T_WIRE, bytes, cb);
  }

  // Returns false when the message had to be queued (backpressure).
  write(type, payload, cb) {
    const isStr = typeof payload === 'string';
    if (this.queue.length === 0) {
      if (isStr && type === T_JSON && this.tryWriteString(payload)) {
        if (cb) process.nextTick(cb, null);
        return true;
      }
      const e = { type, str: null, bytes: isStr ? Buffer.from(payload, 'utf8') : payload, off: 0, cb };
      if (this.writeEntry(e)) {
        if (cb) process.nextTick(cb, null);
        return true;
      }
      this.queue.push(e);
      this.waitWritable();
      return false;
    }
    // Behind others: keep the order; encode JSON text only when it is sent.
    if (isStr && type === T_JSON) this.queue.push({ type, str: payload, bytes: null, off: 0, cb });
    else this.queue.push({ type, str: null, bytes: isStr ? Buffer.from(payload, 'utf8') : payload, off: 0, cb });
    return false;
  }

  // ---- reading ---------------------------------------------------------

  readable() {
    const r = this.in;
    if (r.pos !== r.cached) return true;
    r.cached = Atomics.load(r.i32, r.h + W_PROD_TAIL);
    return r.pos !== r.cached;
  }

  // Copy `len` bytes at ring position `pos` out (a fresh Buffer).
  copyOut(pos, len) {
    const r = this.in;
    const o = pos & r.mask;
    const first = r.cap - o;
    if (len <= first) return Buffer.from(r.u8.subarray(r.data + o, r.data + o + len));
    const out = Buffer.allocUnsafe(len);
    r.u8.copy(out, 0, r.data + o, r.data + r.cap);
    r.u8.copy(out, first, r.data, r.data + (len - first));
    return out;
  }

  // Small JSON records are copied into one buffer as the elements of a JSON
  // array and parsed with one JSON.parse: per message, that costs about half
  // of decoding and parsing each text on its own.
  gather(src, start, len) {
    let g = this.gathered;
    if (this.glen + len + 2 > g.length) {
      this.flushGathered();
      g = this.gathered;
    }
    let at = this.glen;
    if (at !== 1) g[at++] = 0x2c; // ','
    if (len < 64) {
      for (let i = 0; i < len; i++) g[at + i] = src[start + i];
    } else {
      src.copy(g, at, start, start + len);
    }
    this.glen = at + len;
  }

  // Parse what was gathered and emit it, in order.
  flushGathered() {
    if (this.glen === 1) return;
    const g = this.gathered;
    g[this.glen] = 0x5d; // ']'
    const list = JSON.parse(g.utf8Slice(0, this.glen + 1));
    this.glen = 1;
    this.parsed = list;
    this.parsedAt = 0;
    this.emitParsed();
  }

  emitParsed() {
    const list = this.parsed;
    const target = this.target;
    while (this.parsedAt < list.length) {
      const message = list[this.parsedAt++];
      if (isInternal(message)) target.emit('internalMessage', message);
      else target.emit('message', message);
    }
    this.parsed = null;
  }

  // Read and dispatch up to BATCH messages; true if the ring may hold more.
  drain() {
    const r = this.in;
    let n = 0;
    let released = false;
    // Messages parsed before a listener threw go first.
    if (this.parsed !== null) this.emitParsed();
    try {
      while (!this.blocked && n < BATCH) {
        if (r.pos === r.cached) {
          r.cached = Atomics.load(r.i32, r.h + W_PROD_TAIL);
          if (r.pos === r.cached) break;
        }
        const word = r.i32[(r.data + (r.pos & r.mask)) >> 2] >>> 0;
        const len = word & ~SKIP;
        const need = recordSize(len);
        if (len > r.cap - 4 || need > ((r.cached - r.pos) >>> 0)) {
          // Impossible record: the peer corrupted the shared memory.
          this.fail(ERR_IPC_CHANNEL_CORRUPT());
          return false;
        }
        let type = 0;
        let body = null;
        let str = null;
        let wired = false;
        let value;
        if ((word & SKIP) === 0 && len > 0) {
          const o = (r.pos + 4) & r.mask;
          type = r.u8[r.data + o];
          const bo = (o + 1) & r.mask;
          if (type === T_WIRE && this.fragments === null && o + len <= r.cap) {
            // Decoded in place, before the space can be handed back.
            try {
              value = this.dec.decode(r.u8, r.dv, r.data + o, len);
            } catch {
              this.fail(ERR_IPC_CHANNEL_CORRUPT());
              return false;
            }
            wired = true;
          } else if (type === T_JSON && this.fragments === null && bo + len - 1 <= r.cap && bo !== 0) {
            if (len <= SMALL_JSON) {
              // Gather small JSON texts; they are parsed together below.
              this.gather(r.u8, r.data + bo, len - 1);
              type = -1;
            } else {
              str = r.u8.utf8Slice(r.data + bo, r.data + bo + len - 1);
            }
          } else {
            body = this.copyOut(r.pos + 5, len - 1);
          }
        }
        r.pos = (r.pos + need) | 0;
        released = true;
        // Hand the space back to the writer every so often, not per record
        // (the bytes of this record are already copied out).
        if ((++n & 63) === 0) this.release();
        if (type <= 0) continue;
        this.flushGathered();
        if (wired) {
          if (isInternal(value)) this.target.emit('internalMessage', value);
          else this.target.emit('message', value);
          continue;
        }
        if (type & T_MORE) {
          if (this.fragments === null) {
            this.fragments = [];
            this.fragType = type & ~T_MORE;
          }
          this.fragments.push(body);
          continue;
        }
        if (this.fragments !== null) {
          this.fragments.push(body);
          body = Buffer.concat(this.fragments);
          type = this.fragType;
          this.fragments = null;
        }
        this.dispatch(type, str, body);
      }
      this.flushGathered();
    } finally {
      if (released) this.release();
      if (released && Atomics.load(this.hdr, this.peerWr) !== 0 &&
          Atomics.compareExchange(this.hdr, this.peerWr, 1, 0) === 1) {
        binding.channelKick(this.handle);
      }
    }
    return n !== 0;
  }

  release() {
    const r = this.in;
    r.i32[r.h + W_CONS_HEAD] = r.pos;
    Atomics.store(r.i32, r.h + W_CONS_TAIL, r.pos);
  }

  dispatch(type, str, body) {
    const target = this.target;
    if (type === T_JSON) {
      const message = JSON.parse(str !== null ? str : body.utf8Slice(0, body.length));
      if (isInternal(message)) target.emit('internalMessage', message);
      else target.emit('message', message);
    } else if (type === T_ADVANCED) {
      const message = v8.deserialize(body);
      if (isInternal(message)) target.emit('internalMessage', message);
      else target.emit('message', message);
    } else if (type === T_WIRE) {
      // A record that wrapped around the ring's end: decode the copy.
      const rec = Buffer.allocUnsafe(body.length + 1);
      rec[0] = T_WIRE;
      body.copy(rec, 1);
      let message;
      try {
        message = this.dec.decode(rec, new DataView(rec.buffer, rec.byteOffset, rec.length), 0, rec.length);
      } catch {
        this.fail(ERR_IPC_CHANNEL_CORRUPT());
        return;
      }
      if (isInternal(message)) target.emit('internalMessage', message);
      else target.emit('message', message);
    } else if (type === T_HANDLE) {
      this.receiveHandle(JSON.parse(body.utf8Slice(0, body.length)));
    }
  }

  receiveHandle(meta) {
    const fd = binding.channelTakeFd(this.handle);
    let message = meta.msg;
    if (meta.advanced) message = v8.deserialize(Buffer.from(meta.msg, 'base64'));
    if (fd < 0) {
      // The descriptor never arrived (peer gone): deliver the message alone.
      this.target.emit('message', message);
      return;
    }
    // Keep order: later messages wait until the handle is ready.
    this.blocked = true;
    const done = (handle) => {
      this.blocked = false;
      this.schedule();
      if (isInternal(message)) this.target.emit('internalMessage', message, handle);
      else this.target.emit('message', message, handle);
    };
    if (meta.type === 'net.Server') {
      const server = net.createServer();
      server.listen({ fd }, () => done(server));
    } else if (meta.type === 'net.Socket') {
      const socket = new net.Socket({ fd, readable: true, writable: true });
      process.nextTick(done, socket);
    } else if (meta.type === 'dgram.Socket') {
      const socket = dgram.createSocket(meta.dgramType);
      socket.bind({ fd }, () => done(socket));
    } else {
      binding.closeFd(fd); // received by the addon: not an fd Node's fs tracks
      process.nextTick(done, undefined);
    }
  }

  // ---- event loop ------------------------------------------------------

  onWake(eof) {
    if (this.closed) return;
    if (eof) this.eof = true;
    if (this.asleep) {
      this.asleep = false;
      Atomics.store(this.hdr, this.myRd, 0);
    }
    this.run();
  }

  schedule() {
    if (this.scheduled !== null || this.closed) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = null;
      this.run();
    });
    if (!this.refed) this.scheduled.unref();
  }

  run() {
    if (this.closed) return;
    if (this.pending() !== 0) this.flush();
    if (this.closed) return;
    let more;
    try {
      more = this.drain();
    } catch (err) {
      // A listener threw: keep the channel going for whoever catches it.
      this.schedule();
      throw err;
    }
    if (this.closed) return;
    if (more || this.blocked) {
      if (more) {
        this.lastActive = performance.now();
        this.schedule();
      }
      return;
    }
    if (this.eof) {
      this.peerGone();
      return;
    }
    if (performance.now() - this.lastActive < SPIN_MS) this.schedule();
    else this.sleep();
  }

  // Tell the peer to wake us, then look once more (see channel.h).
  sleep() {
    Atomics.store(this.hdr, this.myRd, 1);
    this.asleep = true;
    if (this.readable()) this.wakeSelf();
  }

  // We sent something (a reply may follow soon) or found data: stay awake.
  wakeSelf() {
    this.asleep = false;
    Atomics.store(this.hdr, this.myRd, 0);
    this.lastActive = performance.now();
    this.schedule();
  }

  // The peer process has exited. If its end of the socket is closed (the
  // kernel closes it before it reports the exit, but the loop may not have
  // seen it yet), read what is left and end the channel now, so that
  // 'disconnect' comes before 'exit', as with Node's pipe.
  settleBeforeExit() {
    if (this.closed || !binding.channelHungUp(this.handle)) return;
    this.eof = true;
    if (this.pending() !== 0) this.flush();
    while (!this.closed && !this.blocked && this.drain());
    if (!this.closed && !this.blocked) this.peerGone(true);
  }

  // `now`: emit 'disconnect' at once rather than on the next tick.
  peerGone(now = false) {
    // Everything the peer published before it went is read by now.
    if (this.closed) return;
    for (let i = this.qhead; i < this.queue.length; i++) {
      const e = this.queue[i];
      if (e.cb) process.nextTick(e.cb, ERR_IPC_CHANNEL_CLOSED());
    }
    this.queue = [];
    this.qhead = 0;
    this.finish(now);
  }

  fail(err) {
    this.finish();
    process.nextTick(() => this.target.emit('error', err));
  }

  // Close our end and emit 'disconnect' (once).
  finish(now = false) {
    if (this.closed) return;
    this.closed = true;
    if (this.scheduled !== null) clearImmediate(this.scheduled);
    this.scheduled = null;
    binding.channelClose(this.handle);
    const target = this.target;
    target.connected = false;
    target.channel = null;
    if (now) target.emit('disconnect');
    else process.nextTick(() => target.emit('disconnect'));
  }

  doDisconnect() {
    this.disconnectPending = false;
    this.finish();
  }

  updateRef() {
    const want = !this.closed && ((this.explicitRef && this.refs > 0) || this.pending() !== 0);
    if (want === this.refed) return;
    this.refed = want;
    binding.channelRef(this.handle, want);
    if (this.scheduled !== null) {
      if (want) this.scheduled.ref();
      else this.scheduled.unref();
    }
  }
}

// Install Node's IPC surface on `target` (a ChildProcess in the parent,
// `process` in the child).
function setupChannel(target, handle, serialization) {
  const ch = new Channel(target, handle, serialization);
  target.connected = true;
  target.channel = {
    ref() { ch.explicitRef = true; ch.updateRef(); },
    unref() { ch.explicitRef = false; ch.updateRef(); },
    get fd() { return undefined; },
  };
  target.on('newListener', (name) => {
    if (name === 'message' || name === 'disconnect') {
      ch.refs++;
      ch.updateRef();
    }
  });
  target.on('removeListener', (name) => {
    if (name === 'message' || name === 'disconnect') {
      ch.refs--;
      ch.updateRef();
    }
  });
  ch.refs = target.listenerCount('message') + target.listenerCount('disconnect');
  ch.updateRef();

  target.send = function send(message, sendHandle, options, callback) {
    if (sendHandle === undefined && options === undefined && callback === undefined &&
        this.connected) {
      // The common call, without the option handling below.
      return sendMessage(this, ch, message, undefined, undefined, null);
    }
    if (typeof sendHandle === 'function') {
      callback = sendHandle;
      sendHandle = undefined;
      options = undefined;
    } else if (typeof options === 'function') {
      callback = options;
      options = undefined;
    } else if (options !== undefined) {
      validateObject(options, 'options');
    }
    options = { swallowErrors: false, ...options };
    if (this.connected) return sendMessage(this, ch, message, sendHandle, options, callback);
    const ex = ERR_IPC_CHANNEL_CLOSED();
    if (typeof callback === 'function') process.nextTick(callback, ex);
    else process.nextTick(() => this.emit('error', ex));
    return false;
  };

  target.disconnect = function disconnect() {
    if (!this.connected) {
      this.emit('error', ERR_IPC_DISCONNECTED());
      return;
    }
    // Messages already accepted still go out before the channel closes.
    this.connected = false;
    if (ch.pending() !== 0) ch.disconnectPending = true;
    else ch.finish();
  };
  target._channel = ch;
  return ch;
}

function sendMessage(target, ch, message, handle, options, callback) {
  if (message === undefined) throw ERR_MISSING_ARGS('message');
  if (typeof message !== 'string' && typeof message !== 'object' &&
      typeof message !== 'number' && typeof message !== 'boolean') {
    throw ERR_INVALID_ARG_TYPE('message', ['string', 'object', 'number', 'boolean'], message);
  }
  const cb = typeof callback === 'function' ? callback : null;
  if (handle) return sendHandle(target, ch, message, handle, options, cb);
  // Plain data in the wire form when it carries the value exactly, in one
  // record; JSON text or V8's serializer otherwise.
  if (ch.enc.encode(message, ch.maxChunk) !== -1) return ch.writeWire(cb);
  if (ch.advanced) return ch.write(T_ADVANCED, v8.serialize(message), cb);
  return ch.write(T_JSON, JSON.stringify(message), cb);
}

function sendHandle(target, ch, message, handle, options, cb) {
  let type;
  let fd;
  const meta = {};
  if (handle instanceof net.Socket) {
    type = 'net.Socket';
    fd = handle._handle && handle._handle.fd;
  } else if (handle instanceof net.Server) {
    type = 'net.Server';
    fd = handle._handle && handle._handle.fd;
  } else if (handle instanceof dgram.Socket) {
    type = 'dgram.Socket';
    const h = dgramHandle(handle);
    fd = h && h.fd;
    meta.dgramType = handle.type;
  } else {
    throw ERR_INVALID_HANDLE_TYPE();
  }
  if (typeof fd !== 'number' || fd < 0) {
    // Node sends the bare message when the handle has nothing to pass
    // (a server not listening, a destroyed socket).
    return sendMessage(target, ch, message, undefined, options, cb);
  }
  meta.type = type;
  if (ch.advanced) {
    meta.advanced = true;
    meta.msg = v8.serialize(message).toString('base64');
  } else {
    meta.msg = message;
  }
  const body = JSON.stringify(meta);
  binding.channelSendFd(ch.handle, fd);
  const ok = ch.write(T_HANDLE, body, cb);
  if (type === 'net.Socket' && !options.keepOpen) {
    // The child owns the connection now (its descriptor is a duplicate).
    handle.destroy();
  }
  return ok;
}

module.exports = { setupChannel, Channel, isInternal, dgramHandle };
