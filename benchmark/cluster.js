'use strict';

// native-workers/cluster against node:cluster, the same program under each
// (_cluster_primary.js), 2 workers. The HTTP load comes from autocannon (a
// pinned devDependency), run as its own process through its CLI with --json
// against the serving cluster: 32 connections (as with the load generator
// before it; autocannon needs no other), one request outstanding on each,
// NW_BENCH_SECONDS per load run. Each round runs both clusters, in
// alternating order; figures are medians over the NW_BENCH_RUNS rounds.
//   fork -> online        cluster.fork() until the worker's 'online' (ms)
//   send round trip       worker.send() and the echo back (us)
//   short-lived conns/s   SCHED_RR; requests carry `Connection: close`, so
//                         the worker's http server ends each connection
//                         after its one response and autocannon connects
//                         again: 2xx responses/s are connections/s
//   keep-alive req/s      persistent connections, SCHED_RR and SCHED_NONE,
//                         2xx responses/s, with autocannon's latency.p99 of
//                         those runs (ms; autocannon's are whole ms)
// Below the table: autocannon's errors (timeouts among them) and non-2xx
// responses summed over the rounds, per load row and cluster; a row whose
// counts are not 0 measured failures too.
//
// Only the 2xx counts of the short-lived runs are used: autocannon 9 writes
// its next request on the connection the server is closing (the server reads
// one request per connection, counted in a manual experiment) and times the
// responses on the new connection from that stale request, so its latencies
// for that mode are not the connections'.

const path = require('path');
const { spawn, execFile } = require('child_process');
const { median, printTable, fmt } = require('./_table');

const PRIMARY = path.join(__dirname, '_cluster_primary.js');
const ROUNDS = Number(process.env.NW_BENCH_RUNS || 5);
const SECONDS = Number(process.env.NW_BENCH_SECONDS || 3);
const CONNS = 32;
const IMPLS = ['ours', 'node'];

// autocannon's CLI script, from its own package.json (no npx, no network).
function autocannonBin() {
  let manifest;
  try {
    manifest = require.resolve('autocannon/package.json');
  } catch {
    throw new Error('benchmark/cluster.js needs autocannon, a devDependency: run `npm install` in the repository');
  }
  const { bin } = require(manifest);
  return path.join(path.dirname(manifest), typeof bin === 'string' ? bin : bin.autocannon);
}
const AUTOCANNON = autocannonBin();

function runPrimary(impl, args, env = {}) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [PRIMARY, ...args], { env: { ...process.env, NW_CLUSTER: impl, ...env }, timeout: 120000 },
      (err, out) => (err ? reject(err) : resolve(out.trim())));
  });
}

// One autocannon run against the cluster on `port`: 'close' sends
// `Connection: close` requests (one per connection), 'keepalive' plain
// HTTP/1.1 ones on persistent connections.
function load(port, mode) {
  const args = [AUTOCANNON, '--json', '-c', String(CONNS), '-d', String(SECONDS)];
  if (mode === 'close') args.push('-H', 'Connection: close');
  args.push(`http://127.0.0.1:${port}/`);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { timeout: SECONDS * 1000 + 60000, maxBuffer: 16 * 1024 * 1024 }, (err, out, errOut) => {
      if (err) {
        err.message += `\n${errOut}`;
        reject(err);
        return;
      }
      const r = JSON.parse(out);
      resolve({
        rate: r['2xx'] / r.duration,
        p99: r.latency.p99,
        errors: r.errors,
        timeouts: r.timeouts,
        non2xx: r.non2xx,
      });
    });
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
  for (const mode of modes) results[mode] = await load(port, mode);
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
  // Failed requests of each load row, summed over the rounds.
  const failures = {};
  const count = (impl, key, r) => {
    const f = (failures[key] = failures[key] || {})[impl] = failures[key][impl] || { errors: 0, timeouts: 0, non2xx: 0 };
    f.errors += r.errors;
    f.timeouts += r.timeouts;
    f.non2xx += r.non2xx;
  };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? IMPLS : [...IMPLS].reverse();
    for (const impl of order) {
      add(impl, 'fork', Number((await runPrimary(impl, ['fork', '5'])).split(' ')[1]));
      add(impl, 'rtt', Number((await runPrimary(impl, ['rtt', '2000'])).split(' ')[1]));
      const rr = await serve(impl, 'rr', ['close', 'keepalive']);
      add(impl, 'close', rr.close.rate);
      count(impl, 'close', rr.close);
      add(impl, 'ka-rr', rr.keepalive.rate);
      add(impl, 'p99-rr', rr.keepalive.p99);
      count(impl, 'ka-rr', rr.keepalive);
      const none = await serve(impl, 'none', ['keepalive']);
      add(impl, 'ka-none', none.keepalive.rate);
      add(impl, 'p99-none', none.keepalive.p99);
      count(impl, 'ka-none', none.keepalive);
    }
  }
  const m = (impl, key) => median(samples[impl][key]);
  // ratio: how many times better ours is (lower-is-better rows inverted).
  const row = (label, key, unit, lowerBetter) => {
    const ours = m('ours', key);
    const node = m('node', key);
    return [label, `${fmt(ours)} ${unit}`, `${fmt(node)} ${unit}`, `${fmt(lowerBetter ? node / ours : ours / node)}x`];
  };
  const fail = (label, key) => {
    const cell = (impl) => {
      const f = failures[key][impl];
      return `${f.errors} (${f.timeouts} timeouts), ${f.non2xx} non-2xx`;
    };
    return [label, cell('ours'), cell('node')];
  };
  console.log(`cluster: 2 workers, autocannon ${require('autocannon/package.json').version}, ${CONNS} connections, ` +
              `${SECONDS} s per load run, median of ${ROUNDS} rounds (ratio: times better)`);
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
  console.log(`\nautocannon errors (timeouts among them) and non-2xx responses, all ${ROUNDS} rounds`);
  printTable([
    ['load run', 'native-workers', 'node:cluster'],
    fail('short-lived connections, SCHED_RR', 'close'),
    fail('keep-alive, SCHED_RR', 'ka-rr'),
    fail('keep-alive, SCHED_NONE', 'ka-none'),
  ]);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
