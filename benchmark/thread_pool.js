'use strict';

// ThreadPool side by side with what Node offers for the same work:
//  1. noop tasks per second from JS: ThreadPool vs a napi_create_async_work
//     round trip (from the test-only addon, on libuv's pool);
//  2. sha256 of 64 x 1 MiB: ThreadPool with 1 and 2 threads vs
//     crypto.createHash on the main thread, with the event loop's longest
//     stall during each (perf_hooks.monitorEventLoopDelay);
//  3. gzip of 64 x 1 MiB: ThreadPool vs zlib.gzip (libuv's pool), while a
//     steady stream of fs.readFile calls measures how much each delays them.
// Every figure is the median of several rounds, the contenders interleaved
// round by round so that load from other processes hits both alike.

const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const { monitorEventLoopDelay } = require('perf_hooks');
const { promisify } = require('util');

const { ThreadPool } = require('..');
const testing = require('../test/support/testing_binding');
const { median, printTable, fmt } = require('./_table');

const ROUNDS = Number(process.env.NW_BENCH_ROUNDS) || 5;
const gzipAsync = promisify(zlib.gzip);

function now() {
  return Number(process.hrtime.bigint()) / 1e6; // ms
}

function gc() {
  if (global.gc) global.gc();
}

// Run `fn` while measuring the longest event-loop stall, in ms.
async function withStall(fn) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  // The histogram records from its second tick on: let it start first.
  await new Promise((r) => setTimeout(r, 20));
  h.reset();
  const t0 = now();
  await fn();
  const ms = now() - t0;
  await new Promise((r) => setImmediate(r));
  h.disable();
  // The histogram holds delays of a 1 ms timer: its max minus the
  // resolution is the longest time the loop could not run.
  return { ms, stall: Math.max(0, h.max / 1e6 - 1) };
}

async function noopBench() {
  const N = 100000;
  const pool = new ThreadPool({ threads: 2 });
  const ours = async () => {
    const ps = new Array(N);
    const t0 = now();
    for (let i = 0; i < N; i++) ps[i] = pool.run('noop');
    await Promise.all(ps);
    return N / ((now() - t0) / 1000);
  };
  const theirs = async () => {
    const ps = new Array(N);
    const t0 = now();
    for (let i = 0; i < N; i++) ps[i] = testing.asyncWorkNoop();
    await Promise.all(ps);
    return N / ((now() - t0) / 1000);
  };
  await ours();
  await theirs();
  const a = [], b = [];
  for (let r = 0; r < ROUNDS; r++) {
    gc();
    a.push(await ours());
    gc();
    b.push(await theirs());
  }
  // One task at a time: the round trip, wakeups included.
  const M = 2000;
  const seqOurs = async () => {
    const t0 = now();
    for (let i = 0; i < M; i++) await pool.run('noop');
    return ((now() - t0) * 1000) / M; // us
  };
  const seqTheirs = async () => {
    const t0 = now();
    for (let i = 0; i < M; i++) await testing.asyncWorkNoop();
    return ((now() - t0) * 1000) / M;
  };
  const c = [], d = [];
  for (let r = 0; r < ROUNDS; r++) {
    c.push(await seqOurs());
    d.push(await seqTheirs());
  }
  await pool.close();
  return { ours: median(a), theirs: median(b), a, b, seqOurs: median(c), seqTheirs: median(d) };
}

async function shaBench() {
  const bufs = Array.from({ length: 64 }, () => crypto.randomBytes(1 << 20));
  const shared = bufs.map((b) => {
    const s = new Uint8Array(new SharedArrayBuffer(b.length));
    s.set(b);
    return s;
  });
  const want = bufs.map((b) => crypto.createHash('sha256').update(b).digest('hex'));
  const pools = { 1: new ThreadPool({ threads: 1 }), 2: new ThreadPool({ threads: 2 }) };
  const check = (out) => {
    for (let i = 0; i < out.length; i++) {
      if (out[i].toString('hex') !== want[i]) throw new Error('sha256 mismatch');
    }
  };
  const viaPool = (threads, inputs) => withStall(async () => {
    check(await Promise.all(inputs.map((b) => pools[threads].run('sha256', b))));
  });
  const mainThread = () => withStall(async () => {
    const out = [];
    for (const b of bufs) {
      out.push(crypto.createHash('sha256').update(b).digest());
      // One hash per turn of the loop: the kindest schedule for the
      // event loop that the main thread can offer.
      await new Promise((r) => setImmediate(r));
    }
    check(out);
  });
  const cases = {
    main: mainThread,
    pool1: () => viaPool(1, bufs),
    pool2: () => viaPool(2, bufs),
    pool1shared: () => viaPool(1, shared),
    pool2shared: () => viaPool(2, shared),
  };
  const res = Object.fromEntries(Object.keys(cases).map((k) => [k, { ms: [], stall: [] }]));
  for (const k of Object.keys(cases)) await cases[k]();
  for (let r = 0; r < ROUNDS; r++) {
    for (const k of Object.keys(cases)) {
      gc();
      const { ms, stall } = await cases[k]();
      res[k].ms.push(ms);
      res[k].stall.push(stall);
    }
  }
  await pools[1].close();
  await pools[2].close();
  return res;
}

// A file read over and over while the compression runs; returns the
// median and p99 latency of those reads and the compression's wall time.
async function gzipBench() {
  const text = [];
  let seed = 12345;
  const words = ['worker', 'thread', 'pool', 'kernel', 'buffer', 'ring', 'node', 'event', 'loop', 'queue'];
  for (let i = 0; i < (1 << 20) / 6; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    text.push(words[seed % words.length]);
  }
  const one = Buffer.from(text.join(' ')).subarray(0, 1 << 20);
  const bufs = Array.from({ length: 64 }, (_, i) => {
    const b = Buffer.from(one);
    b.writeUInt32LE(i, 0);
    return b;
  });
  const file = path.join(os.tmpdir(), `nw-bench-${process.pid}.txt`);
  fs.writeFileSync(file, crypto.randomBytes(4096));
  const pool = new ThreadPool({ threads: 2 });

  const withReads = async (fn) => {
    let stop = false;
    const lat = [];
    const reader = (async () => {
      while (!stop) {
        const t0 = now();
        await fs.promises.readFile(file);
        lat.push(now() - t0);
      }
    })();
    const t0 = now();
    await fn();
    const ms = now() - t0;
    stop = true;
    await reader;
    const sorted = lat.sort((x, y) => x - y);
    return {
      ms,
      readMedian: median(lat),
      readP99: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))],
      readMax: sorted[sorted.length - 1],
      readsPerSec: lat.length / (ms / 1000),
    };
  };
  const cases = {
    idle: () => withReads(() => new Promise((r) => setTimeout(r, 200))),
    pool: () => withReads(() => Promise.all(bufs.map((b) => pool.run('gzip', b)))),
    zlib: () => withReads(() => Promise.all(bufs.map((b) => gzipAsync(b)))),
  };
  // Identical output, checked once.
  const [x, y] = await Promise.all([pool.run('gzip', bufs[0]), gzipAsync(bufs[0])]);
  if (!x.equals(y)) throw new Error('gzip output differs from zlib.gzip');
  const res = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  const rounds = Math.max(3, Math.min(ROUNDS, 5));
  for (let r = 0; r < rounds; r++) {
    for (const k of Object.keys(cases)) {
      gc();
      res[k].push(await cases[k]());
    }
  }
  await pool.close();
  fs.unlinkSync(file);
  const pick = (k, f) => median(res[k].map((o) => o[f]));
  return Object.fromEntries(Object.keys(cases).map((k) => [k, {
    ms: pick(k, 'ms'), readMedian: pick(k, 'readMedian'), readP99: pick(k, 'readP99'),
    readMax: pick(k, 'readMax'), readsPerSec: pick(k, 'readsPerSec'),
  }]));
}

(async () => {
  console.log(`rounds: ${ROUNDS} (medians); ${os.availableParallelism()} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);

  const noop = await noopBench();
  console.log('\nnoop tasks from JS, 100k per round, Promise.all');
  printTable([
    ['what', 'ThreadPool (2 threads)', 'napi_create_async_work', 'ratio'],
    ['tasks/s', `${fmt(noop.ours / 1e6)} M`, `${fmt(noop.theirs / 1e6)} M`, `${fmt(noop.ours / noop.theirs)}x`],
    ['one at a time, us per round trip', fmt(noop.seqOurs), fmt(noop.seqTheirs), `${fmt(noop.seqTheirs / noop.seqOurs)}x`],
  ]);
  console.log(`  rounds ours: ${noop.a.map((x) => fmt(x / 1e6)).join(' ')} M/s; theirs: ${noop.b.map((x) => fmt(x / 1e6)).join(' ')} M/s`);

  const sha = await shaBench();
  const m = (k, f) => median(sha[k][f]);
  console.log('\nsha256 of 64 x 1 MiB');
  printTable([
    ['contender', 'wall ms', 'MiB/s', 'speedup vs main', 'longest loop stall ms'],
    ['crypto.createHash, main thread', fmt(m('main', 'ms')), fmt(64000 / m('main', 'ms')), '1.00x', fmt(m('main', 'stall'))],
    ['ThreadPool, 1 thread', fmt(m('pool1', 'ms')), fmt(64000 / m('pool1', 'ms')), `${fmt(m('main', 'ms') / m('pool1', 'ms'))}x`, fmt(m('pool1', 'stall'))],
    ['ThreadPool, 2 threads', fmt(m('pool2', 'ms')), fmt(64000 / m('pool2', 'ms')), `${fmt(m('main', 'ms') / m('pool2', 'ms'))}x`, fmt(m('pool2', 'stall'))],
    ['ThreadPool, 1 thread, SAB input', fmt(m('pool1shared', 'ms')), fmt(64000 / m('pool1shared', 'ms')), `${fmt(m('main', 'ms') / m('pool1shared', 'ms'))}x`, fmt(m('pool1shared', 'stall'))],
    ['ThreadPool, 2 threads, SAB input', fmt(m('pool2shared', 'ms')), fmt(64000 / m('pool2shared', 'ms')), `${fmt(m('main', 'ms') / m('pool2shared', 'ms'))}x`, fmt(m('pool2shared', 'stall'))],
  ]);
  console.log(`  2 threads vs 1 thread: ${fmt(m('pool1', 'ms') / m('pool2', 'ms'))}x with Buffer input (copied by the pool thread), ` +
              `${fmt(m('pool1shared', 'ms') / m('pool2shared', 'ms'))}x with SharedArrayBuffer input (zero copy)`);

  const gz = await gzipBench();
  console.log('\ngzip of 64 x 1 MiB while fs.readFile(4 KiB) runs in a loop');
  const row = (name, o, ms) => [name, ms, fmt(o.readsPerSec), fmt(o.readMedian, 3), fmt(o.readP99), fmt(o.readMax)];
  printTable([
    ['contender', 'gzip wall ms', 'readFile/s', 'readFile p50 ms', 'p99 ms', 'max ms'],
    row('no compression (reads alone)', gz.idle, '-'),
    row('ThreadPool gzip (2 threads)', gz.pool, fmt(gz.pool.ms)),
    row('zlib.gzip (libuv pool, 4 threads)', gz.zlib, fmt(gz.zlib.ms)),
  ]);
  console.log(`  longest readFile while compressing, zlib.gzip / ThreadPool: ${fmt(gz.zlib.readMax / gz.pool.readMax)}x; ` +
              `readFile calls per second: ThreadPool ${fmt(gz.pool.readsPerSec)} vs zlib.gzip ${fmt(gz.zlib.readsPerSec)}`);
})().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exitCode = 1;
});
