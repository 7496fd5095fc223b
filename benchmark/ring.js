'use strict';

// RingBuffer side by side with what it replaces, in one run:
//   - one way main -> worker, 64-byte and 4 KiB messages: RingBuffer vs
//     MessagePort.postMessage of the same Buffers vs ringbuf.js (fixed-size
//     records popped whole, so it carries the same bytes); for 64 B also
//     the reader's readInto() into one Buffer, and the limit of JavaScript
//     here: a minimal loop of fixed 64-byte records over a SharedArrayBuffer
//     with Atomics, the reader taking a subarray per record;
//   - the same 64 B messages in one thread: what each call costs against
//     the same side of the minimal loop (steady on a loaded machine; two
//     threads run at the pace of the slower side, so the rows above follow
//     the larger of the write and read costs);
//   - round trip main <-> worker while both sides are active;
//   - native -> native 16-byte messages vs a bare C SPSC loop of u64s.
// Every figure is the median of RUNS runs.

const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const { RingBuffer } = require('..');

const RUNS = Number(process.env.BENCH_RUNS || 5);
const LIMIT_CAP = 1 << 20;

if (!isMainThread) {
  worker();
} else {
  main().catch((err) => { console.error(err); process.exit(1); });
}

function worker() {
  const { kind, size, count } = workerData;
  if (kind === 'ring' || kind === 'ring-into') {
    const rb = RingBuffer.from(workerData.buffer);
    parentPort.postMessage('ready');
    let bytes = 0;
    if (kind === 'ring-into') {
      const into = Buffer.alloc(size);
      for (let i = 0; i < count; i++) bytes += rb.readInto(into);
    } else {
      for (let i = 0; i < count; i++) bytes += rb.read().length;
    }
    parentPort.postMessage(bytes);
  } else if (kind === 'limit') {
    const idx = new Int32Array(workerData.buffer, 0, 32);
    const data = new Uint8Array(workerData.buffer, 128, LIMIT_CAP);
    parentPort.postMessage('ready');
    let bytes = 0;
    let head = 0;
    let tail = 0;
    for (let i = 0; i < count; i++) {
      while (head === tail) head = Atomics.load(idx, 0);
      const o = tail & (LIMIT_CAP - 1);
      bytes += data.subarray(o, o + size).length;
      tail = (tail + size) | 0;
      Atomics.store(idx, 16, tail);
    }
    parentPort.postMessage(bytes);
  } else if (kind === 'post') {
    let n = 0;
    let bytes = 0;
    parentPort.on('message', (m) => {
      bytes += m.length;
      if (++n === count) parentPort.postMessage(bytes);
    });
    parentPort.postMessage('ready');
  } else if (kind === 'ringbufjs') {
    const { RingBuffer: RB } = require('ringbuf.js');
    const rb = new RB(workerData.buffer, Uint8Array);
    const rec = new Uint8Array(size);
    parentPort.postMessage('ready');
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      // ringbuf.js has no blocking read: spin until a whole record is there
      while (rb.availableRead() < size);
      rb.pop(rec);
      // hand the record on as its own Buffer, as the other two do
      bytes += Buffer.from(rec).length;
    }
    parentPort.postMessage(bytes);
  } else if (kind === 'ring-echo') {
    const req = RingBuffer.from(workerData.req);
    const res = RingBuffer.from(workerData.res);
    parentPort.postMessage('ready');
    for (;;) {
      const m = req.read();
      if (m === null) break;
      res.write(m);
    }
  } else if (kind === 'post-echo') {
    parentPort.on('message', (m) => {
      if (m === null) parentPort.close(); else parentPort.postMessage(m);
    });
    parentPort.postMessage('ready');
  }
}

function once(w) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => { w.off('error', onError); resolve(m); };
    const onError = (e) => { w.off('message', onMessage); reject(e); };
    w.once('message', onMessage);
    w.once('error', onError);
  });
}

async function oneWay(kind, size, count) {
  const payload = Buffer.alloc(size, 7);
  let buffer;
  let rb;
  if (kind === 'ring' || kind === 'ring-into') {
    rb = new RingBuffer(1 << 20);
    buffer = rb.buffer;
  } else if (kind === 'limit') {
    buffer = new SharedArrayBuffer(128 + LIMIT_CAP);
  } else if (kind === 'ringbufjs') {
    const { RingBuffer: RB } = require('ringbuf.js');
    buffer = RB.getStorageForCapacity(1 << 20, Uint8Array);
    rb = new RB(buffer, Uint8Array);
  }
  const w = new Worker(__filename, { workerData: { kind, size, count, buffer } });
  await once(w);
  const done = once(w);
  const t0 = process.hrtime.bigint();
  if (kind === 'ring' || kind === 'ring-into') {
    for (let i = 0; i < count; i++) rb.write(payload);
  } else if (kind === 'limit') {
    const idx = new Int32Array(buffer, 0, 32);
    const data = new Uint8Array(buffer, 128, LIMIT_CAP);
    let head = 0;
    let tail = 0;
    for (let i = 0; i < count; i++) {
      while (((head - tail) | 0) > LIMIT_CAP - size) tail = Atomics.load(idx, 16);
      data.set(payload, head & (LIMIT_CAP - 1));
      head = (head + size) | 0;
      Atomics.store(idx, 0, head);
    }
  } else if (kind === 'post') {
    for (let i = 0; i < count; i++) w.postMessage(payload);
  } else {
    for (let i = 0; i < count; i++) while (rb.push(payload) === 0);
  }
  const bytes = await done;
  const ns = Number(process.hrtime.bigint() - t0);
  if (bytes !== size * count) throw new Error(`${kind}: ${bytes} bytes arrived, ${size * count} sent`);
  await w.terminate();
  return count / ns * 1e9;
}

async function roundTrip(kind, count) {
  const payload = Buffer.alloc(64, 1);
  const lat = new Float64Array(count);
  if (kind === 'ring') {
    const req = new RingBuffer(1 << 16);
    const res = new RingBuffer(1 << 16);
    const w = new Worker(__filename, { workerData: { kind: 'ring-echo', req: req.buffer, res: res.buffer } });
    await once(w);
    for (let i = 0; i < count; i++) {
      const t0 = process.hrtime.bigint();
      req.write(payload);
      res.read();
      lat[i] = Number(process.hrtime.bigint() - t0);
    }
    req.close();
    await w.terminate();
  } else {
    const w = new Worker(__filename, { workerData: { kind: 'post-echo' } });
    await once(w);
    for (let i = 0; i < count; i++) {
      const t0 = process.hrtime.bigint();
      const p = once(w);
      w.postMessage(payload);
      await p;
      lat[i] = Number(process.hrtime.bigint() - t0);
    }
    await w.terminate();
  }
  return { median: median(lat) / 1000, p99: percentile(lat, 0.99) / 1000 };
}

const { median, percentile, printTable, fmt } = require('./_table');

// The same 64 B messages in one thread: a batch written, then read, the
// time of each side per message, against the same side of the minimal
// loop. Two threads measure the slower side and how the machine schedules
// them; this measures what each call costs, and holds still on a loaded
// machine (the median of the ratios of batches run back to back).
function oneThreadCosts() {
  const B = 4096;
  const ROUNDS = 300;
  const payload = Buffer.alloc(64, 7);
  const cap = 1 << 20;
  const sab = new SharedArrayBuffer(128 + cap);
  const idx = new Int32Array(sab, 0, 32);
  const data = new Uint8Array(sab, 128, cap);
  let head = 0; // the writer's, and the tail it saw last
  let seenTail = 0;
  let tail = 0; // the reader's, and the head it saw last
  let seenHead = 0;
  let sink = 0;
  const limit = () => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < B; i++) {
      while (((head - seenTail) | 0) > cap - 64) seenTail = Atomics.load(idx, 16);
      data.set(payload, head & (cap - 1));
      head = (head + 64) | 0;
      Atomics.store(idx, 0, head);
    }
    const t1 = process.hrtime.bigint();
    for (let i = 0; i < B; i++) {
      while (seenHead === tail) seenHead = Atomics.load(idx, 0);
      const o = tail & (cap - 1);
      sink += data.subarray(o, o + 64).length;
      tail = (tail + 64) | 0;
      Atomics.store(idx, 16, tail);
    }
    return [Number(t1 - t0), Number(process.hrtime.bigint() - t1)];
  };
  const ring = (into) => {
    const w = new RingBuffer(cap);
    const r = RingBuffer.from(w.buffer);
    const buf = Buffer.alloc(64);
    return () => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < B; i++) w.write(payload);
      const t1 = process.hrtime.bigint();
      if (into) for (let i = 0; i < B; i++) sink += r.readInto(buf);
      else for (let i = 0; i < B; i++) sink += r.read().length;
      return [Number(t1 - t0), Number(process.hrtime.bigint() - t1)];
    };
  };
  const plain = ring(false);
  const into = ring(true);
  const x = { write: [], read: [], readInto: [], limitWrite: [], limitRead: [] };
  for (let k = 0; k < ROUNDS; k++) {
    const [lw, lr] = limit();
    const [w1, r1] = plain();
    const [w2, r2] = into();
    x.write.push((w1 + w2) / 2 / lw);
    x.read.push(r1 / lr);
    x.readInto.push(r2 / lr);
    x.limitWrite.push(lw / B);
    x.limitRead.push(lr / B);
  }
  if (sink === 0) throw new Error('nothing read');
  printTable([
    ['64 B, one thread, cost per message', 'RingBuffer / minimal loop', 'minimal loop (ns)'],
    ['write()', `${fmt(median(x.write))}x`, fmt(median(x.limitWrite), 1)],
    ['read()', `${fmt(median(x.read))}x`, fmt(median(x.limitRead), 1)],
    ['readInto()', `${fmt(median(x.readInto))}x`, fmt(median(x.limitRead), 1)],
  ]);
  console.log(`  (median of ${ROUNDS} batches of ${B}, each side against the same side of the loop)`);
  console.log();
}

async function medianOf(fn) {
  const xs = [];
  for (let r = 0; r < RUNS; r++) xs.push(await fn());
  return median(xs);
}

async function main() {
  const rows = [['measure', 'RingBuffer', 'postMessage', 'ratio', 'ringbuf.js', 'ratio']];
  // Interleaved: every contender once per round, medians over the rounds.
  const kinds64 = ['ring', 'ring-into', 'limit', 'post', 'ringbufjs'];
  const r64 = Object.fromEntries(kinds64.map((k) => [k, []]));
  for (let r = 0; r < RUNS; r++) {
    for (const k of kinds64) r64[k].push(await oneWay(k, 64, k === 'post' ? 3e5 : 2e6));
  }
  const m64 = Object.fromEntries(kinds64.map((k) => [k, median(r64[k])]));
  rows.push(['64 B one way main->worker (M msg/s)', fmt(m64.ring / 1e6), fmt(m64.post / 1e6), `${fmt(m64.ring / m64.post, 1)}x`,
    fmt(m64.ringbufjs / 1e6), `${fmt(m64.ring / m64.ringbufjs, 1)}x`]);
  rows.push(['64 B, reader uses readInto() (M msg/s)', fmt(m64['ring-into'] / 1e6), fmt(m64.post / 1e6),
    `${fmt(m64['ring-into'] / m64.post, 1)}x`, fmt(m64.ringbufjs / 1e6), `${fmt(m64['ring-into'] / m64.ringbufjs, 1)}x`]);
  const r4k = { ring: [], post: [], ringbufjs: [] };
  for (let r = 0; r < RUNS; r++) {
    for (const k of Object.keys(r4k)) r4k[k].push(await oneWay(k, 4096, k === 'post' ? 2e5 : 2e5));
  }
  const ring = median(r4k.ring);
  const post = median(r4k.post);
  const rbjs = median(r4k.ringbufjs);
  rows.push(['4096 B one way main->worker (M msg/s)', fmt(ring / 1e6), fmt(post / 1e6), `${fmt(ring / post, 1)}x`,
    fmt(rbjs / 1e6), `${fmt(ring / rbjs, 1)}x`]);
  const rtRuns = [];
  const ptRuns = [];
  for (let r = 0; r < RUNS; r++) {
    rtRuns.push(await roundTrip('ring', 20000));
    ptRuns.push(await roundTrip('post', 5000));
  }
  const rt = median(rtRuns.map((x) => x.median));
  const pt = median(ptRuns.map((x) => x.median));
  rows.push(['64 B round trip main<->worker, median (us)', fmt(rt), fmt(pt), `${fmt(pt / rt, 1)}x`, '-', '-']);
  rows.push(['64 B round trip, p99 (us)', fmt(median(rtRuns.map((x) => x.p99))),
    fmt(median(ptRuns.map((x) => x.p99))), '', '-', '-']);
  printTable(rows);
  console.log(`  the limit of JavaScript here (minimal fixed-record loop, 64 B): ${fmt(m64.limit / 1e6)} M msg/s; ` +
    `write()/read() ${fmt(m64.ring / m64.limit * 100, 0)}% of it, with readInto() ${fmt(m64['ring-into'] / m64.limit * 100, 0)}%`);
  console.log();
  oneThreadCosts();

  // native -> native
  const t = require('../test/support/testing_binding');
  const N = 2e7;
  const nat = [];
  const natBatch = [];
  const bare = [];
  for (let r = 0; r < RUNS; r++) {
    let [ns, ok] = t.benchRingNative(1 << 16, N, 16, 1);
    if (!ok) throw new Error('native ring checksum mismatch');
    nat.push(N / ns * 1e3);
    [ns, ok] = t.benchRingNative(1 << 16, N, 16, 64);
    if (!ok) throw new Error('native ring checksum mismatch');
    natBatch.push(N / ns * 1e3);
    [ns, ok] = t.benchBareSpsc(5 * N);
    if (!ok) throw new Error('bare loop checksum mismatch');
    bare.push(5 * N / ns * 1e3);
  }
  console.log();
  printTable([
    ['native -> native, 16 B messages (M msg/s)', 'ring', 'bare C SPSC u64 loop', 'share of bare'],
    ['one message per write', fmt(median(nat)), fmt(median(bare)), `${fmt(median(nat) / median(bare) * 100, 0)}%`],
    ['64 messages per write_batch', fmt(median(natBatch)), fmt(median(bare)), `${fmt(median(natBatch) / median(bare) * 100, 0)}%`],
  ]);
}
