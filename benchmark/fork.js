'use strict';

// fork() IPC: native-workers' shared-memory channel against
// node:child_process fork, same child script, same serialization.
//   small one way   N small objects parent -> child, until the child says done
//   64 KiB one way  Buffers through the advanced serialization, MB/s
//   round trip      one message there and back, median and p99 (us)
//   fork -> first message   fork() until the child's first message (ms)
// Each figure is the median of RUNS runs, both implementations interleaved.

const path = require('path');
const nodeCp = require('child_process');
const ours = require('../lib/child_process');
const { median, percentile, printTable, fmt } = require('./_table');

const CHILD = path.join(__dirname, '_fork_child.js');
const RUNS = Number(process.env.NW_BENCH_RUNS || 5);
const SMALL = 200000;
const BIG = 64 * 1024;
const BIG_N = 2000;
const RTT_N = 3000;

function once(emitter, name, filter = () => true) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (!filter(m)) return;
      emitter.removeListener(name, on);
      resolve(m);
    };
    emitter.on(name, on);
  });
}

async function start(impl, serialization) {
  const t0 = process.hrtime.bigint();
  const cp = impl.fork(CHILD, [], { serialization });
  await once(cp, 'message', (m) => m === 'ready');
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { cp, ms };
}

async function stop(cp) {
  const exited = once(cp, 'exit');
  cp.send('exit');
  await exited;
}

async function oneWay(cp, n, make) {
  cp.send({ cmd: 'count', n });
  await once(cp, 'message', (m) => m === 'go');
  const msg = make();
  const t0 = process.hrtime.bigint();
  const done = once(cp, 'message', (m) => m === 'done');
  for (let i = 0; i < n; i++) cp.send(msg);
  await done;
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function roundTrip(cp, n) {
  cp.send({ cmd: 'echo' });
  await once(cp, 'message', (m) => m === 'go');
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const back = once(cp, 'message');
    cp.send({ i });
    await back;
    times.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  cp.send('stop');
  return times;
}

// One run of every measure for one implementation, into `r`.
async function measureOnce(impl, r) {
  let { cp, ms } = await start(impl, 'json');
  r.startMs.push(ms);
  r.jsonRate.push(SMALL / await oneWay(cp, SMALL, () => ({ a: 1, b: 'hello' })));
  const rtt = await roundTrip(cp, RTT_N);
  r.rttMed.push(median(rtt));
  r.rttP99.push(percentile(rtt, 0.99));
  await stop(cp);
  ({ cp } = await start(impl, 'advanced'));
  r.advRate.push(SMALL / 2 / await oneWay(cp, SMALL / 2, () => ({ a: 1, b: 'hello' })));
  const buf = Buffer.alloc(BIG, 7);
  r.bigMBs.push(BIG_N * BIG / 1e6 / await oneWay(cp, BIG_N, () => buf));
  await stop(cp);
}

// Both implementations, run after run, so that load from elsewhere hits
// both alike; the medians of each.
async function measure() {
  const fresh = () => ({ startMs: [], jsonRate: [], advRate: [], bigMBs: [], rttMed: [], rttP99: [] });
  const raw = { ours: fresh(), node: fresh() };
  for (let run = 0; run < RUNS; run++) {
    await measureOnce(ours, raw.ours);
    await measureOnce(nodeCp, raw.node);
  }
  const out = {};
  for (const name of Object.keys(raw)) {
    out[name] = {};
    for (const k of Object.keys(raw[name])) out[name][k] = median(raw[name][k]);
  }
  return out;
}

async function main() {
  const { ours: a, node: b } = await measure();
  const rows = [['fork IPC', 'native-workers', 'node:child_process', 'ratio']];
  const add = (name, x, y, higherBetter, digits) => {
    rows.push([name, fmt(x, digits), fmt(y, digits), `${fmt(higherBetter ? x / y : y / x)}x`]);
  };
  add('small msgs one way, json (M msg/s)', a.jsonRate / 1e6, b.jsonRate / 1e6, true, 3);
  add('small msgs one way, advanced (M msg/s)', a.advRate / 1e6, b.advRate / 1e6, true, 3);
  add('64 KiB msgs one way, advanced (MB/s)', a.bigMBs, b.bigMBs, true);
  add('round trip, json, median (us)', a.rttMed, b.rttMed, false, 1);
  add('round trip, json, p99 (us)', a.rttP99, b.rttP99, false, 1);
  add('fork() to first message (ms)', a.startMs, b.startMs, false, 1);
  printTable(rows);
  console.log(`(medians of ${RUNS} runs; ratio > 1 means native-workers is better)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
