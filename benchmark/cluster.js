'use strict';

// native-workers/cluster against node:cluster, the same program under each
// (_cluster_primary.js), 2 workers, the load from its own process
// (_loadgen.js). Each round runs both, in alternating order; figures are
// medians over the rounds.
//   fork -> online        cluster.fork() until the worker's 'online' (ms)
//   send round trip       worker.send() and the echo back (us)
//   short-lived conns/s   one request per connection, SCHED_RR
//   keep-alive req/s      persistent connections, SCHED_RR and SCHED_NONE,
//                         with the p99 latency of those runs (ms)

const path = require('path');
const { spawn, execFile } = require('child_process');
const { median, printTable, fmt } = require('./_table');

const PRIMARY = path.join(__dirname, '_cluster_primary.js');
const LOADGEN = path.join(__dirname, '_loadgen.js');
const ROUNDS = Number(process.env.NW_BENCH_RUNS || 5);
const SECONDS = Number(process.env.NW_BENCH_SECONDS || 3);
const CONNS = 32;
const IMPLS = ['ours', 'node'];

function runPrimary(impl, args, env = {}) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [PRIMARY, ...args], { env: { ...process.env, NW_CLUSTER: impl, ...env }, timeout: 120000 },
      (err, out) => (err ? reject(err) : resolve(out.trim())));
  });
}

function loadgen(port, mode) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [LOADGEN, String(port), mode, String(CONNS), String(SECONDS * 1000)], { timeout: SECONDS * 1000 + 60000 },
      (err, out) => (err ? reject(err) : resolve(JSON.parse(out))));
  });
}

// Start a serving cluster, run each load mode against it, stop it.
async function serve(impl, policy, modes) {
  const child = spawn(process.execPath, [PRIMARY, 'serve'], {
    env: { ...process.env, NW_CLUSTER: impl, NODE_CLUSTER_SCHED_POLICY: policy },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`${impl} primary exited (${code})`)));
  });
  const results = {};
  for (const mode of modes) results[mode] = await loadgen(port, mode);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
  await exited;
  clearTimeout(timer);
  return results;
}

async function main() {
  const samples = {};
  const add = (impl, key, v) => {
    samples[impl] = samples[impl] || {};
    (samples[impl][key] = samples[impl][key] || []).push(v);
  };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? IMPLS : [...IMPLS].reverse();
    for (const impl of order) {
      add(impl, 'fork', Number((await runPrimary(impl, ['fork', '5'])).split(' ')[1]));
      add(impl, 'rtt', Number((await runPrimary(impl, ['rtt', '2000'])).split(' ')[1]));
      const rr = await serve(impl, 'rr', ['close', 'keepalive']);
      add(impl, 'close', rr.close.rate);
      add(impl, 'ka-rr', rr.keepalive.rate);
      add(impl, 'p99-rr', rr.keepalive.p99);
      const none = await serve(impl, 'none', ['keepalive']);
      add(impl, 'ka-none', none.keepalive.rate);
      add(impl, 'p99-none', none.keepalive.p99);
    }
  }
  const m = (impl, key) => median(samples[impl][key]);
  // ratio: how many times better ours is (lower-is-better rows inverted).
  const row = (label, key, unit, lowerBetter) => {
    const ours = m('ours', key);
    const node = m('node', key);
    return [label, `${fmt(ours)} ${unit}`, `${fmt(node)} ${unit}`, `${fmt(lowerBetter ? node / ours : ours / node)}x`];
  };
  console.log(`cluster: 2 workers, ${CONNS} connections, ${SECONDS} s per load run, median of ${ROUNDS} rounds (ratio: times better)`);
  printTable([
    ['measure', 'native-workers', 'node:cluster', 'ratio'],
    row('fork() -> online', 'fork', 'ms', true),
    row('worker.send() round trip', 'rtt', 'us', true),
    row('short-lived connections/s, SCHED_RR', 'close', '/s', false),
    row('keep-alive requests/s, SCHED_RR', 'ka-rr', '/s', false),
    row('keep-alive p99, SCHED_RR', 'p99-rr', 'ms', true),
    row('keep-alive requests/s, SCHED_NONE', 'ka-none', '/s', false),
    row('keep-alive p99, SCHED_NONE', 'p99-none', 'ms', true),
  ]);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
