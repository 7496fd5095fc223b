'use strict';

// The transport of fork(): the shared-memory channel of
// src/core/fork_channel.h on both sides, under the IPC surface of target.js.
//
// Each side writes one ring and reads the other through a RingView
// (ring_view.js) on an ArrayBuffer over the shared mapping. The peer is
// another process that may write anything there at any time, so the views
// keep their own positions and bound-check everything they read. The addon
// supplies the socket beside the rings: a wakeup byte when this side said
// it sleeps, descriptors for handles (SCM_RIGHTS), and end-of-file when the
// peer is gone.
//
// Records (framing.js): plain data in the wire form (wire.js), which gives
// what JSON ('json') or structured clone ('advanced') would give for it;
// otherwise JSON text or advanced bytes; handle messages. Messages larger
// than a quarter of the ring are sent in fragments.

const { performance } = require('perf_hooks');

const binding = require('../binding');
const { Encoder, Decoder, SMALL_RECORD } = require('../wire');
const { RingView, Spill, copyWords, EMPTY, CORRUPT } = require('../ring_view');
const {
  RECORD_WIRE, RECORD_JSON, RECORD_ADVANCED, RECORD_HANDLE, RECORD_MORE,
  encodeBody, decodeBody, encodeHandleBody, decodeHandleBody, Fragments, MAX_MESSAGE,
} = require('./framing');
const { detachHandle, rebuildHandle } = require('./handles');
const { setupIpc } = require('./target');
const { codes: { ERR_IPC_CHANNEL_CLOSED, ERR_IPC_CHANNEL_CORRUPT, ERR_IPC_MESSAGE_TOO_LARGE } } = require('../errors');

// Messages handled per turn of the loop before yielding to other events.
const BATCH = 4096;
// After the last message seen or sent, keep looking (one check per turn of
// the event loop) this long before asking the peer for a wakeup: a reply
// that comes back within it costs no system call on either side.
const SPIN_MS = 0.05;
// Unless the peer runs on our CPU (the header's cpu words, fork_channel.h)
// and this thread may run on that CPU only (its affinity mask: taskset, a
// cpuset): there the looking only takes the time the peer needs to answer.
// (Where the kernel may move us, the spin is what gets the two onto
// different CPUs and keeps them there: giving the CPU up instead, measured
// unpinned on 2 CPUs, kept pairs together at 18-22 us a round trip against
// 6-9 us apart.) Once SAME_SPELLS quiet spells in a row found the peer on
// our CPU, each turn of the spell yields the CPU instead, so that the peer
// answers at once. A yield that
// returns after more than YIELD_SLOW_MS, twice in a row, handed the CPU to
// some third task that takes whole time slices; then for YIELD_PAUSE_MS we
// sleep at once instead (a wakeup preempts such a task; a yield does not).
const SAME_SPELLS = 3;
const YIELD_SLOW_MS = 0.2;
const YIELD_PAUSE_MS = 50;
const AFFINITY_MS = 1000;

class ForkChannel {
  constructor(ipc, handle, serialization) {
    const info = binding.channelInfo(handle);
    this.ipc = ipc;
    this.handle = handle;
    this.advanced = serialization === 'advanced';
    // Shapes are per direction: ours for the out ring, the peer's for in.
    this.enc = new Encoder(this.advanced ? undefined : { json: true });
    this.dec = new Decoder();
    const side = info.side;
    this.out = new RingView(info.buffer, side === 0 ? info.ring0 : info.ring1);
    this.in = new RingView(info.buffer, side === 0 ? info.ring1 : info.ring0);
    this.hdr = this.out.i32; // the channel header is at 0 of the same buffer
    this.myRd = side === 0 ? binding.CHANNEL_SLEEP0_RD : binding.CHANNEL_SLEEP1_RD;
    this.myWr = side === 0 ? binding.CHANNEL_SLEEP0_WR : binding.CHANNEL_SLEEP1_WR;
    this.peerRd = side === 0 ? binding.CHANNEL_SLEEP1_RD : binding.CHANNEL_SLEEP0_RD;
    this.peerWr = side === 0 ? binding.CHANNEL_SLEEP1_WR : binding.CHANNEL_SLEEP0_WR;
    this.maxChunk = (this.out.cap >>> 2) - 8;
    this.queue = []; // messages waiting for room: { type, str, bytes, off, cb }
    this.qhead = 0; // index of the oldest entry still waiting
    this.fragments = new Fragments();
    this.blocked = false; // a received handle is being set up
    this.scheduled = null; // pending setImmediate drain
    this.eof = false;
    this.closed = false;
    this.disconnectPending = false;
    this.asleep = false; // our rd flag is up
    this.lastActive = 0; // performance.now() of the last traffic
    this.cpuCheckedAt = -1; // the lastActive for which channelSameCpu was asked
    this.sameStreak = 0; // quiet spells in a row that found the peer on our CPU
    this.yieldAgainAt = 0; // performance.now() before which we do not yield
    this.slowYields = 0; // late yields in a row
    this.affinityAt = -Infinity; // performance.now() onlyCpu was asked
    this.onlyCpu = false; // the affinity mask allows one CPU only
    this.wantRef = false;
    this.refed = false;
    binding.channelStart(handle, (eof) => this.onWake(eof));
    this.sleep();
  }

  get fd() { return undefined; }

  // ---- writing (the transport's send) -------------------------------------------

  send(message, handle, options, cb) {
    if (handle !== null) return this.sendHandle(message, handle, options, cb);
    // Plain data in the wire form when it carries the value exactly, in
    // one record; JSON text or advanced bytes otherwise.
    if (this.enc.encode(message, this.maxChunk) !== -1) return this.writeWire(cb);
    const body = encodeBody(this.advanced, message);
    if (body.length > MAX_MESSAGE) throw ERR_IPC_MESSAGE_TOO_LARGE(MAX_MESSAGE);
    return this.write(this.advanced ? RECORD_ADVANCED : RECORD_JSON, body, cb);
  }

  sendHandle(message, handle, options, cb) {
    const raw = detachHandle(handle, options, this.ipc);
    const body = encodeHandleBody(this.advanced, message, handle.type, handle.extra);
    // The descriptor is in the kernel's queue once this returns: the
    // sender's copy may close at once (no acknowledgement is needed).
    try {
      binding.channelSendFd(this.handle, handle.fd);
    } catch (err) {
      // The peer is gone (EPIPE) before we saw its end: a failed write, as
      // Node reports one; 'disconnect' follows.
      this.ipc.writeFailed(err, options, cb);
      return false;
    }
    const ok = this.write(RECORD_HANDLE, body, cb);
    if (raw !== null) raw.close();
    return ok;
  }

  // Send the record this.enc holds. Returns false when it had to be
  // queued (backpressure).
  writeWire(cb) {
    const enc = this.enc;
    const len = enc.pos;
    if (this.queue.length === 0 && this.tryWriteFrom(enc.i32, enc.u8, 0, len)) {
      enc.commit();
      if (cb) process.nextTick(cb, null);
      return true;
    }
    // Behind others, or no room. Without a callback the record joins the
    // others waiting in a spill (a sender that runs ahead of its reader
    // does that thousands of times in a row).
    if (cb == null && !this.closed) {
      this.spillRecord(enc);
      enc.commit();
      return false;
    }
    // The general way (the type byte is the record's first).
    const bytes = Buffer.from(enc.u8.subarray(1, len));
    enc.commit();
    return this.write(RECORD_WIRE, bytes, cb);
  }

  // Append the `len` bytes at `from` (4-aligned) of a buffer seen as
  // `srcI32` and `srcU8` to the out ring as one record; false when there
  // is no room (a Spill drains through this too).
  tryWriteFrom(srcI32, srcU8, from, len) {
    const out = this.out;
    const at = this.reserveOut(len);
    if (at < 0) return false;
    if (len <= SMALL_RECORD && out.contiguous(at) >= len) {
      // Records are 4-aligned, so small ones go as words.
      copyWords(out.i32, out.payloadOffset(at), srcI32, from, len);
    } else {
      out.copyIn(at, 0, srcU8, from, len);
    }
    this.publish(at, len);
    return true;
  }

  // Append the record `enc` holds to the spill at the queue's tail (a new
  // one if there is none or it is full).
  spillRecord(enc) {
    const q = this.queue;
    const last = q.length > this.qhead ? q[q.length - 1] : null;
    if (last !== null && last.spill !== undefined && last.spill.add(enc)) return;
    const spill = new Spill(enc.pos);
    spill.add(enc);
    q.push({ type: RECORD_WIRE, str: null, bytes: null, off: 0, cb: null, spill });
    if (q.length - this.qhead === 1) this.waitWritable();
  }

  // Returns false when the message had to be queued (backpressure).
  write(type, payload, cb) {
    if (this.closed) {
      if (cb) process.nextTick(cb, ERR_IPC_CHANNEL_CLOSED());
      return false;
    }
    const isStr = typeof payload === 'string';
    if (this.queue.length === 0) {
      if (isStr && this.tryWriteString(type, payload)) {
        if (cb) process.nextTick(cb, null);
        return true;
      }
      const e = { type, str: null, bytes: isStr ? Buffer.from(payload, 'utf8') : payload, off: 0, cb };
      if (this.writeEntry(e)) {
        if (cb) process.nextTick(cb, null);
        return true;
      }
      if (this.closed) {
        if (cb) process.nextTick(cb, ERR_IPC_CHANNEL_CLOSED());
        return false;
      }
      this.queue.push(e);
      this.waitWritable();
      return false;
    }
    // Behind others: keep the order; encode text only when it is sent.
    if (isStr) this.queue.push({ type, str: payload, bytes: null, off: 0, cb });
    else this.queue.push({ type, str: null, bytes: payload, off: 0, cb });
    return false;
  }

  // Room for a record of `len` payload bytes in the out ring, or -1. The
  // peer can make the positions impossible: that ends the channel.
  reserveOut(len) {
    const at = this.out.reserve(len);
    if (at !== CORRUPT) return at;
    this.fail(ERR_IPC_CHANNEL_CORRUPT());
    return -1;
  }

  publish(at, len) {
    this.out.publish(at, len);
    if (this.asleep) this.wakeSelf();
    if (Atomics.load(this.hdr, this.peerRd) !== 0 &&
        Atomics.compareExchange(this.hdr, this.peerRd, 1, 0) === 1) {
      binding.channelKick(this.handle);
    }
  }

  // Write a text record straight into the ring; false if it might not fit
  // in one contiguous piece (the caller then encodes it and goes the
  // general way).
  tryWriteString(type, str) {
    const out = this.out;
    const max = str.length * 3 + 1;
    if (max > this.maxChunk) return false;
    const at = this.reserveOut(max);
    if (at < 0 || out.contiguous(at) < max) return false;
    const u8 = out.u8;
    const p = out.payloadOffset(at);
    u8[p] = type;
    let n = str.length;
    if (n <= 64) {
      // Short ASCII text: a plain loop beats a call into the encoder.
      for (let i = 0; i < n; i++) {
        const c = str.charCodeAt(i);
        if (c >= 0x80) {
          n = u8.utf8Write(str, p + 1);
          break;
        }
        u8[p + 1 + i] = c;
      }
    } else {
      n = u8.utf8Write(str, p + 1);
    }
    this.publish(at, n + 1);
    return true;
  }

  // Write as much of queued entry `e` as fits; true when it is all in.
  writeEntry(e) {
    const out = this.out;
    for (;;) {
      const left = e.bytes.length - e.off;
      const chunk = left + 1 > this.maxChunk ? this.maxChunk - 1 : left;
      const more = chunk < left;
      const at = this.reserveOut(chunk + 1);
      if (at < 0) return false;
      out.u8[out.payloadOffset(at)] = more ? (e.type | RECORD_MORE) : e.type;
      out.copyIn(at, 1, e.bytes, e.off, chunk);
      e.off += chunk;
      this.publish(at, chunk + 1);
      if (!more) return true;
    }
  }

  // Send pending messages in order; returns true when the queue is empty.
  flush() {
    const q = this.queue;
    while (this.qhead < q.length) {
      if (this.closed) return false;
      const e = q[this.qhead];
      if (e.spill !== undefined) {
        if (!e.spill.drainInto(this)) {
          if (!this.closed) this.waitWritable();
          return false;
        }
      } else if (e.bytes === null) {
        // Text not encoded yet: straight into the ring if it fits.
        if (!this.tryWriteString(e.type, e.str)) {
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
    if (this.disconnectPending) this.finish(false, false);
    return true;
  }

  pending() {
    return this.queue.length - this.qhead;
  }

  // Ask the peer to wake us when it frees room in the out ring.
  waitWritable() {
    Atomics.store(this.hdr, this.myWr, 1);
    if (this.out.taken() < this.out.cap / 2) {
      Atomics.store(this.hdr, this.myWr, 0);
      this.schedule();
    }
    this.updateRef();
  }

  // ---- reading -------------------------------------------------------------------

  // Read and deliver up to BATCH messages; true if the ring may hold more.
  drain() {
    const r = this.in;
    let n = 0;
    let taken = false;
    try {
      while (!this.blocked && n < BATCH) {
        const len = r.peek();
        if (len === EMPTY) break;
        if (len < 0) {
          // Impossible position or length: the peer corrupted the memory.
          this.fail(ERR_IPC_CHANNEL_CORRUPT());
          return false;
        }
        const at = r.readPos;
        let type = 0;
        let body = null;
        let value;
        let wired = false;
        if (len !== 0) {
          const p = r.payloadOffset(at);
          type = r.u8[p];
          if (type === RECORD_WIRE && !this.fragments.open) {
            // Decoded in place (or from a copy, when it wraps), before the
            // space can be handed back.
            value = this.decodeWire(r, at, p, len);
            if (value === FAILED) return false;
            wired = true;
          } else {
            body = Buffer.allocUnsafe(len - 1);
            r.copyOut(at, 1, body, 0, len - 1);
          }
        }
        r.advance(len);
        taken = true;
        // Hand the space back to the writer every so often, not per record
        // (the bytes of this record are already copied out).
        if ((++n & 63) === 0) r.release();
        if (wired) {
          this.ipc.deliver(value, undefined);
        } else if (type !== 0 && !this.dispatch(type, body)) {
          return false;
        }
        if (this.closed) return false;
      }
    } finally {
      if (taken && !this.closed) {
        r.release();
        if (Atomics.load(this.hdr, this.peerWr) !== 0 &&
            Atomics.compareExchange(this.hdr, this.peerWr, 1, 0) === 1) {
          binding.channelKick(this.handle);
        }
      }
    }
    return n !== 0;
  }

  decodeWire(r, at, p, len) {
    try {
      if (r.contiguous(at) >= len) return this.dec.decode(r.u8, r.dv, p, len);
      const rec = Buffer.allocUnsafe(len);
      r.copyOut(at, 0, rec, 0, len);
      return this.dec.decode(rec, new DataView(rec.buffer, rec.byteOffset, len), 0, len);
    } catch {
      this.fail(ERR_IPC_CHANNEL_CORRUPT());
      return FAILED;
    }
  }

  // A non-wire record (or a fragment of one). False when the channel
  // failed on it.
  dispatch(type, body) {
    const base = type & ~RECORD_MORE;
    let message;
    try {
      if ((type & RECORD_MORE) !== 0 || this.fragments.open) {
        if (!this.fragments.add(type, body)) return true;
        body = this.fragments.take();
      }
      if (base === RECORD_HANDLE) {
        this.receiveHandle(decodeHandleBody(body));
        return true;
      }
      if (base === RECORD_WIRE) {
        // A fragmented wire record: decode the whole of it.
        const rec = Buffer.allocUnsafe(body.length + 1);
        rec[0] = RECORD_WIRE;
        body.copy(rec, 1);
        message = this.dec.decode(rec, new DataView(rec.buffer, rec.byteOffset, rec.length), 0, rec.length);
      } else if (base === RECORD_JSON || base === RECORD_ADVANCED) {
        message = decodeBody(base, body);
      } else {
        throw new TypeError('unknown record type');
      }
    } catch (err) {
      this.fail(err && err.code === 'ERR_IPC_MESSAGE_TOO_LARGE' ? err : ERR_IPC_CHANNEL_CORRUPT());
      return false;
    }
    this.ipc.deliver(message, undefined);
    return true;
  }

  receiveHandle(meta) {
    const fd = binding.channelTakeFd(this.handle);
    if (fd < 0) {
      // The descriptor never arrived (peer gone): deliver the message alone.
      this.ipc.deliver(meta.msg, undefined);
      return;
    }
    // Keep order: later messages wait until the handle is ready.
    this.blocked = true;
    rebuildHandle(meta.type, fd, meta, this.ipc, (object) => {
      this.blocked = false;
      this.schedule();
      this.ipc.deliver(meta.msg, object);
    }, () => {
      this.blocked = false;
      this.fail(ERR_IPC_CHANNEL_CORRUPT());
    });
  }

  // ---- event loop ------------------------------------------------------------

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
    const now = performance.now();
    if (now - this.lastActive >= SPIN_MS) {
      this.sleep();
    } else if (!this.peerOnOurCpu() || !this.pinned(now)) {
      this.schedule();
    } else if (now >= this.yieldAgainAt) {
      // The peer shares our CPU: let it run (see SAME_SPELLS). One late
      // yield alone may be the peer's own long turn.
      binding.channelYield();
      const back = performance.now();
      if (back - now <= YIELD_SLOW_MS) {
        this.slowYields = 0;
      } else if (++this.slowYields >= 2) {
        this.slowYields = 0;
        this.yieldAgainAt = back + YIELD_PAUSE_MS;
      }
      this.schedule();
    } else {
      this.sleep();
    }
  }

  // Whether the peer has been running on our CPU (SAME_SPELLS): asked of
  // the addon once per quiet spell (each time lastActive moves), which also
  // tells the peer where we run.
  peerOnOurCpu() {
    if (this.cpuCheckedAt !== this.lastActive) {
      this.cpuCheckedAt = this.lastActive;
      if (!binding.channelSameCpu(this.handle)) this.sameStreak = 0;
      else if (this.sameStreak < SAME_SPELLS) this.sameStreak++;
    }
    return this.sameStreak >= SAME_SPELLS;
  }

  // Whether this thread may run on one CPU only (its affinity mask, asked
  // again every AFFINITY_MS).
  pinned(now) {
    if (now - this.affinityAt >= AFFINITY_MS) {
      this.affinityAt = now;
      this.onlyCpu = binding.channelCpuCount() === 1;
    }
    return this.onlyCpu;
  }

  // Tell the peer to wake us, then look once more (see fork_channel.h).
  sleep() {
    Atomics.store(this.hdr, this.myRd, 1);
    this.asleep = true;
    if (this.in.ready()) this.wakeSelf();
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

  // Everything the peer published before it went is read by now.
  peerGone(now = false) {
    if (this.closed) return;
    this.dropQueue();
    this.finish(now);
  }

  // Messages still waiting for room will never go: their callbacks hear so.
  dropQueue() {
    for (let i = this.qhead; i < this.queue.length; i++) {
      const e = this.queue[i];
      if (e.cb) process.nextTick(e.cb, ERR_IPC_CHANNEL_CLOSED());
    }
    this.queue = [];
    this.qhead = 0;
  }

  // The peer broke the channel: report it and disconnect. The report is an
  // 'error' event where someone listens, a warning otherwise — a bad peer
  // never takes this process down.
  fail(err) {
    if (this.closed) return;
    this.dropQueue();
    const target = this.ipc.target;
    process.nextTick(() => {
      if (target.listenerCount('error') !== 0) target.emit('error', err);
      else process.emitWarning(err);
    });
    this.finish(); // 'disconnect' follows the report
  }

  disconnect() {
    if (this.pending() !== 0) this.disconnectPending = true;
    else this.finish(false, false);
  }

  // Close our end and emit 'disconnect' (once). `byPeer`: see target.js.
  finish(now = false, byPeer = true) {
    if (this.closed) return;
    this.closed = true;
    this.disconnectPending = false;
    if (this.scheduled !== null) clearImmediate(this.scheduled);
    this.scheduled = null;
    binding.channelClose(this.handle);
    this.ipc.ended(now, byPeer);
  }

  setRef(want) {
    this.wantRef = want;
    this.updateRef();
  }

  // Referenced while the surface wants it, or while writes wait for room.
  updateRef() {
    const want = !this.closed && (this.wantRef || this.pending() !== 0);
    if (want === this.refed) return;
    this.refed = want;
    binding.channelRef(this.handle, want);
    if (this.scheduled !== null) {
      if (want) this.scheduled.ref();
      else this.scheduled.unref();
    }
  }
}

const FAILED = Symbol('FAILED');

// Install Node's IPC surface on `target` (a ChildProcess in the parent,
// `process` in the child) over the channel `handle`.
function setupForkChannel(target, handle, serialization, { countListeners }) {
  const ipc = setupIpc(target, { countListeners });
  const ch = new ForkChannel(ipc, handle, serialization);
  ipc.attach(ch);
  return ch;
}

module.exports = { setupForkChannel };
