'use strict';

// native-workers/worker_threads against node:worker_threads, in one run:
// small objects one way, 64 KiB Buffers one way, round trip latency, and
// `new Worker` to 'online'. Each figure is the median of several runs.

const path = require('path');
const { median, printTable, fmt } = require('./_table');

const PEER = path.join(__dirname, '_worker_threads_peer.js');
const RUNS = Number(process.env.NW_BENCH_RUNS || 5);
const SMALL = 200000;
const BIG = 2000;
const PINGS = 2000;

const impls = {
  node: require('worker_threads'),
  ours: require('../lib/worker_threads'),
};

function start(name) {
  const w = new impls[name].Worker(PEER, { argv: [name] });
  return new Promise((resolve) => w.once('online', () => resolve(w)));
}

function once(w) {
  return new Promise((resolve) => w.once('message', resolve));
}

// Messages per second, one way: post n, then ask the worker how many it saw
// (the reply comes after all of them, in order).
async function oneWay(w, make, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) w.postMessage(make(i));
  const reply = once(w);
  w.postMessage({ cmd: 'count' });
  const { count } = await reply;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (count !== n) throw new Error(`worker saw ${count} of ${n} messages`);
  return n / s;
}

// Median round trip in microseconds.
async function roundTrip(w, n) {
  const lat = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const reply = once(w);
    w.postMessage({ cmd: 'ping', i });
    await reply;
    lat.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  return median(lat);
}

async function startup(name) {
  const t0 = process.hrtime.bigint();
  const w = await start(name);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await w.terminate();
  return ms;
}

async function main() {
  const results = {};
  const big = Buffer.alloc(64 * 1024, 7);
  for (const name of ['node', 'ours']) {
    const w = await start(name);
    const small = [];
    const bigRate = [];
    const rtt = [];
    const boot = [];
    for (let r = 0; r < RUNS; r++) {
      small.push(await oneWay(w, (i) => ({ id: i, type: 'update', value: 3.14, ok: true }), SMALL));
      bigRate.push(await oneWay(w, () => big, BIG));
      rtt.push(await roundTrip(w, PINGS));
    }
    await w.terminate();
    for (let r = 0; r < RUNS; r++) boot.push(await startup(name));
    results[name] = {
      small: median(small), big: median(bigRate) * 65536 / 2 ** 20, rtt: median(rtt), boot: median(boot),
      spread: { small: [Math.min(...small), Math.max(...small)], rtt: [Math.min(...rtt), Math.max(...rtt)] },
    };
  }
  const n = results.node;
  const o = results.ours;
  printTable([
    ['worker_threads', 'ours', 'node:worker_threads', 'ratio (>1: ours better)'],
    ['small objects one way (msg/s)', fmt(o.small), fmt(n.small), `${fmt(o.small / n.small)}x`],
    ['64 KiB Buffers one way (MiB/s)', fmt(o.big), fmt(n.big), `${fmt(o.big / n.big)}x`],
    ['round trip, median (us)', fmt(o.rtt), fmt(n.rtt), `${fmt(n.rtt / o.rtt)}x`],
    ['new Worker to online, median (ms)', fmt(o.boot), fmt(n.boot), `${fmt(n.boot / o.boot)}x`],
  ]);
  console.log(`(${RUNS} runs each; small msg/s range: ours ${o.spread.small.map((x) => fmt(x)).join('-')}, ` +
              `node ${n.spread.small.map((x) => fmt(x)).join('-')})`);
}

main().catch((err) => { console.error(err); process.exit(1); });
