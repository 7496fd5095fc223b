'use strict';

// native-workers/remote on loopback against bare NATS request/reply, in one
// run, the rows interleaved run by run; figures are medians of the runs.
// A nats-server -js is started on a free port with a temporary store (file
// storage, as the stream's default), and every host or responder is its
// own process, as the callers of a fleet would see them.
//
//   round trip   one empty task at a time (run(null)), median latency;
//                anchor: nc.request() of the same bytes as our task frame,
//                answered with the same bytes as our result frame
//   in flight    10 k small tasks (x => x + 1) submitted at once over two
//                hosts (2 threads, 64 tasks held each), tasks/s; anchor:
//                10 k requests at once over two responders in a queue group
//   host killed  two hosts run 40 tasks of 100 ms; one is SIGKILLed 300 ms
//                in: time from the kill until every task has its result,
//                against the ack wait (2 s)

const { spawn } = require('child_process');
const path = require('path');
const { performance } = require('perf_hooks');
const { median, printTable, fmt } = require('./_table');
const { startServer } = require('../test/support/nats_server');
const { startHost, stopHost } = require('../test/support/remote_hosts');
const codec = require('../lib/internal/remote/codec');

const RUNS = Number(process.env.NW_BENCH_RUNS || 3);
const PINGS = 500;
const FLIGHT = 10000;
const PEER = path.join(__dirname, '_remote_peer.js');
const ACK_WAIT = 2000;

function peer(...args) {
  const child = spawn(process.execPath, [PEER, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => { if (String(d).includes('ready')) resolve(child); });
    child.once('exit', (code) => reject(new Error(`peer exited with ${code}`)));
  });
}

async function roundTrip(run) {
  const lat = new Array(PINGS);
  for (let i = 0; i < 50; i++) await run();
  for (let i = 0; i < PINGS; i++) {
    const t0 = performance.now();
    await run();
    lat[i] = (performance.now() - t0) * 1000;
  }
  return median(lat);
}

async function inFlight(run) {
  const ps = new Array(FLIGHT);
  const t0 = performance.now();
  for (let i = 0; i < FLIGHT; i++) ps[i] = run(i);
  await Promise.all(ps);
  return FLIGHT / ((performance.now() - t0) / 1000);
}

async function hostKilled(server, round) {
  const name = `killed${round}`;
  const o = { servers: server.url, name, ackWait: ACK_WAIT, maxThreads: 2, inflight: 4 };
  const a = startHost(o);
  const b = startHost(o);
  await Promise.all([a.ready, b.ready]);
  const { RemotePool } = require('../lib/remote');
  const rp = new RemotePool({ servers: server.url, name, ackWait: ACK_WAIT, timeout: 30000 });
  const all = Promise.all(Array.from({ length: 40 }, (_, i) => rp.run({ ms: 100, v: i }, { name: 'sleep' })));
  await new Promise((r) => setTimeout(r, 300));
  const killed = performance.now();
  a.kill('SIGKILL');
  await all;
  const took = performance.now() - killed;
  await rp.close();
  await Promise.all([stopHost(a), stopHost(b)]);
  return took;
}

async function main() {
  const { connect } = require('nats');
  const { RemotePool } = require('../lib/remote');
  const server = await startServer();
  const procs = [];
  try {
    // The anchor's bytes: our frames for run(null) and its result.
    const taskBytes = codec.taskFrame('0123456789ab-1', '_INBOX.0123456789abcdefghijkl.r', '', 0, false,
      codec.encodeValue(null)).length;
    const resultBytes = codec.resultFrame(true, '0123456789ab-1', 'host:12345', 0, codec.encodeValue(null)).length;
    procs.push(await peer('host', 'bench', server.url, '64'), await peer('host', 'bench', server.url, '64'));
    procs.push(await peer('reply', 'bare', server.url, String(resultBytes)),
      await peer('reply', 'bare', server.url, String(resultBytes)));
    const rp = new RemotePool({ servers: server.url, name: 'bench', timeout: 120000, ackWait: ACK_WAIT });
    const nc = await connect({ servers: server.url });
    const req = Buffer.alloc(taskBytes, 1);
    const ours = () => rp.run(null);
    const bare = () => nc.request('bare', req, { timeout: 120000 });
    const oursInc = (i) => rp.run(i);
    const r = { ours: { rt: [], rate: [] }, bare: { rt: [], rate: [] }, killed: [] };
    for (let run = 0; run < RUNS; run++) {
      r.ours.rt.push(await roundTrip(ours));
      r.bare.rt.push(await roundTrip(bare));
      r.ours.rate.push(await inFlight(oursInc));
      r.bare.rate.push(await inFlight(bare));
    }
    for (let run = 0; run < RUNS; run++) r.killed.push(await hostKilled(server, run));
    const m = (xs) => median(xs);
    printTable([
      ['measure', 'ours', 'anchor', 'ratio', 'target'],
      ['empty task round trip, us (median)', fmt(m(r.ours.rt)), `${fmt(m(r.bare.rt))} (bare request/reply)`,
        `${fmt(m(r.ours.rt) / m(r.bare.rt))}x`, '<= 2x'],
      [`${FLIGHT / 1000} k small tasks in flight, 2 hosts, tasks/s`, fmt(m(r.ours.rate)),
        `${fmt(m(r.bare.rate))} (bare request/reply)`, `${fmt((m(r.ours.rate) / m(r.bare.rate)) * 100, 0)}%`, '>= 50%'],
      ['host killed: until its tasks complete elsewhere, ms', fmt(m(r.killed)), `ack wait ${ACK_WAIT}`,
        `${fmt(m(r.killed) - ACK_WAIT, 0)} ms over`, '<= ack wait + 1 s'],
    ]);
    console.log(`(${RUNS} runs; task frame ${taskBytes} B, result frame ${resultBytes} B; file storage; ` +
      `round trips: ours ${r.ours.rt.map((x) => fmt(x)).join('/')}, bare ${r.bare.rt.map((x) => fmt(x)).join('/')} us)`);
    await rp.close();
    await nc.close();
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
